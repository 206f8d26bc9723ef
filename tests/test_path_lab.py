"""Path and mail checks in the lab: PMTU blackhole, ICMPv6 echo and traceroute, SMTP over IPv6,
and path.icmp without CAP_NET_RAW."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import lab_settings
from tests.lab import Lab
from tests.lab.netns import run_async_in_netns
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.model import Observation, Status
from v6scan.scoring import load_policy, score_target
from v6scan.targets import parse_target

Obs = dict[tuple[str, str], Observation]
CHECKS = ("web.reach", "path.pmtu", "path.icmp", "mail.mx_aaaa", "mail.mx_reach", "self.v6")


def scan(lab: Lab, names: list[str]) -> tuple[Obs, list[TargetResult]]:
    async def go() -> list[TargetResult]:
        import asyncio

        s = lab_settings(lab, ca_bundle=lab.ca_file, self_check=lab.self_check, timeout=2.0, www="never",
                         check_ids=CHECKS)
        async with Context.create(s) as ctx:
            return list(await asyncio.gather(*(scan_target(ctx, parse_target(n)) for n in names)))

    results = run_async_in_netns(lab.client, go)
    return {(o.check, o.target): o for r in results for o in r.observations}, results


@pytest.fixture(scope="module")
def path(lab: Lab) -> Obs:
    return scan(lab, ["pmtu.edu.test", "healthy.gov.test", "dropped.gov.test", "mail.com.test",
                      "twoaaaa.com.test"])[0]


def test_pmtu_blackhole_is_detected_with_evidence(path: Obs) -> None:
    o = path["path.pmtu", "pmtu.edu.test"]
    assert o.status is Status.OK and o.evidence["blackholes"] == ["2001:db8:1280::10"]
    (row,) = o.evidence["addresses"]
    assert row["result"] == "blackhole"
    assert row["full_mss"]["status"] == "timeout" and row["full_mss"]["phase"] == "handshake"
    assert row["mss_1220"]["status"] == "ok" and row["mss_1220"]["bytes"] > 200_000  # the big page


@pytest.mark.parametrize("site", ["healthy.gov.test", "mail.com.test", "twoaaaa.com.test"])
def test_healthy_paths_are_no_blackhole(path: Obs, site: str) -> None:
    o = path["path.pmtu", site]
    assert o.evidence["blackholes"] == []
    assert all(r["result"] == "ok" for r in o.evidence["addresses"])


def test_pmtu_scores_broken(path: Obs) -> None:
    from v6scan.scoring import evaluate

    r = evaluate(path["path.pmtu", "pmtu.edu.test"], load_policy())
    assert (r.result, r.severity) == ("fail", "broken")
    assert "PMTU blackhole" in r.reasons[0].text() and "PMTU 黑洞" in r.reasons[0].text("zh-CN")


def test_icmp_echo_and_traceroute_on_a_dropped_address(path: Obs) -> None:
    o = path["path.icmp", "dropped.gov.test"]
    (row,) = o.evidence["addresses"]
    assert row["address"] == "2001:db8:80::dead" and row["answered"] is False
    assert row["echo"] == {"sent": 3, "replies": 0, "rtt_ms": []}  # one echo per attempt
    hops = row["traceroute"]
    assert hops[0] == {**hops[0], "hop": 1, "address": "2001:db8:ffff:1::1", "reply": "time-exceeded"}
    assert all(h["reply"] == "*" for h in hops[1:]) and len(hops) == 4
    assert row["last_hop"] == "2001:db8:ffff:1::1" and row["reached"] is False
    ok = path["path.icmp", "healthy.gov.test"].evidence["addresses"][0]
    assert ok["answered"] is True and ok["echo"]["replies"] == 3 and "traceroute" not in ok


def test_smtp_over_ipv6(path: Obs) -> None:
    o = path["mail.mx_reach", "mail.com.test"]
    by = {s["host"]: s for s in o.evidence["servers"]}
    assert set(by) == {"mx1.mail.com.test", "mx2.mail.com.test"}  # mx3 has no AAAA: nothing to probe
    assert by["mx1.mail.com.test"]["status"] == "greets"
    assert by["mx1.mail.com.test"]["banner"].startswith("220 mx1.mail.com.test")
    assert "8BITMIME" in by["mx1.mail.com.test"]["ehlo"]
    assert (by["mx2.mail.com.test"]["status"], by["mx2.mail.com.test"]["step"]) == ("silent", "greeting")
    assert o.evidence["not_greeting"] == ["mx2.mail.com.test 2001:db8:80::21"]
    healthy = path["mail.mx_reach", "healthy.gov.test"]  # its MX is mx1: greets
    assert [s["status"] for s in healthy.evidence["servers"]] == ["greets"]
    assert path["mail.mx_reach", "dropped.gov.test"].status is Status.SKIPPED  # no MX: no mail service


def test_site_verdicts_with_the_path_checks(lab: Lab) -> None:
    _, results = scan(lab, ["pmtu.edu.test", "mail.com.test"])
    verdicts = {r.target.name: score_target(r.target.name, r.observations, load_policy()) for r in results}
    mx = verdicts["mail.com.test"].check("mail.mx_reach")
    assert mx is not None and mx.result == "warn"  # mail is not required by the default policy
    # the PMTU blackhole (the only IPv6 address stalls on full-size packets) makes the site broken
    pmtu = verdicts["pmtu.edu.test"]
    r = pmtu.check("path.pmtu")
    assert r is not None and (r.result, r.severity) == ("fail", "broken")
    assert pmtu.verdict == "broken", [(x.check, x.result, x.severity) for x in pmtu.results]


def test_icmp_without_cap_net_raw_is_skipped(lab: Lab) -> None:
    """path.icmp in a process without CAP_NET_RAW: skipped with the reason, not an error."""
    v6scan = str(Path(sys.executable).parent / "v6scan")
    args = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", "--", v6scan, "check",
            "healthy.gov.test", "--checks", "path.icmp", "--format", "json", "--www", "never", "--timeout", "2",
            "--resolver", lab.resolver[0], "--no-self-check"]
    for net in ("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24"):
        args += ["--allow-net", net]
    r = lab.exec(args, timeout=120)
    doc: dict[str, Any] = json.loads(r.stdout)
    icmp = doc["checks"]["path.icmp"]["details"]["names"]["healthy.gov.test"]
    assert icmp["status"] == "skipped" and "CAP_NET_RAW" in icmp["error"]
    assert doc["checks"]["path.icmp"]["result"] == "not_tested"
