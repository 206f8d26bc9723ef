"""Web checks against the lab: every web scenario, evidence per address, and an OpenSSL oracle."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import lab_settings
from tests.lab import Lab
from tests.lab.netns import run_async_in_netns
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.model import Observation, Status
from v6scan.targets import parse_target

Obs = dict[tuple[str, str], Observation]
WEB = ("web.reach", "web.tls", "web.http", "web.same_site", "web.latency", "web.links", "web.resources", "self.v6")
SITES = ["healthy.gov.test", "v4only.com.test", "dropped.gov.test", "refused.edu.test", "tarpit.com.test",
         "pmtu.edu.test", "diffcontent.gov.test", "redir6.com.test", "cert-expired.gov.test",
         "cert-wrong-name.gov.test", "cert-untrusted.gov.test", "httponly.edu.test", "twoaaaa.com.test",
         "v6only.edu.test", "bigdns.com.test", "links.edu.test"]


def web_settings(lab: Lab, **kw: Any) -> Any:
    base: dict[str, Any] = {"ca_bundle": lab.ca_file, "self_check": lab.self_check, "www": "never",
                            "timeout": 2.0, "latency_probes": 2, "check_ids": WEB}
    base.update(kw)
    return lab_settings(lab, **base)


def scan(lab: Lab, names: list[str], **kw: Any) -> Obs:
    async def go() -> list[TargetResult]:
        async with Context.create(web_settings(lab, **kw)) as ctx:
            import asyncio

            return list(await asyncio.gather(*(scan_target(ctx, parse_target(n)) for n in names)))

    return {(o.check, o.target): o for r in run_async_in_netns(lab.client, go) for o in r.observations}


@pytest.fixture(scope="module")
def web(lab: Lab) -> Obs:
    return scan(lab, SITES)


def port(obs: Observation, address: str, p: int) -> str:
    row = next(r for r in obs.evidence["addresses"] if r["address"] == address)
    return str(row["ports"][str(p)]["status"])


def tls_row(obs: Observation, address: str) -> dict[str, Any]:
    return next(r for r in obs.evidence["addresses"] if r["address"] == address)


def chain(obs: Observation, family: str, address: str | None = None) -> dict[str, Any]:
    return next(c for c in obs.evidence["chains"]
                if c["family"] == family and (address is None or c["hops"][0]["address"] == address))


def test_healthy(web: Obs) -> None:
    n = "healthy.gov.test"
    reach = web["web.reach", n]
    assert reach.status is Status.OK
    for a in ("2001:db8:80::10", "203.0.113.70"):
        assert port(reach, a, 80) == port(reach, a, 443) == "ok"
    assert reach.evidence["parity_gaps"] == [] and reach.evidence["v6_fully_open"] == ["2001:db8:80::10"]
    tls = web["web.tls", n]
    row = tls_row(tls, "2001:db8:80::10")
    assert row["valid"] is True and row["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert row["cert"]["names"] == ["healthy.gov.test", "www.healthy.gov.test"]
    assert row["cert"]["days_left"] >= 28 and "v6scan lab root CA" in row["cert"]["issuer"]
    assert tls.evidence["cert_differs"] is False
    http = web["web.http", n]
    c6 = chain(http, "v6")
    assert c6["start"] == "https://healthy.gov.test/" and c6["final"]["http_status"] == 200
    assert c6["final"]["title"] == "healthy site"
    assert http.evidence["v6_ok"] == ["2001:db8:80::10"] and http.evidence["v4_ok"] == ["203.0.113.70"]
    hop = c6["hops"][0]
    assert {"connect_ms", "tls_ms", "first_byte_ms"} <= set(hop["timings"])
    same = web["web.same_site", n]
    assert same.status is Status.OK and same.evidence["similarity"] == 1.0
    assert same.evidence["differences"] == []
    lat = web["web.latency", n]
    fams = lat.evidence["families"]
    assert fams["v6"]["success_rate"] == fams["v4"]["success_rate"] == 1.0
    assert lat.evidence["ratio_v6_v4"] > 0
    assert len(fams["v6"]["probes"]) == 2
    self_v6 = web["self.v6", n]
    assert self_v6.status is Status.OK and self_v6.evidence["probe"]["status"] == "ok"
    assert self_v6.evidence["source"] == "2001:db8:ffff:1::2"


def test_v4only(web: Obs) -> None:
    reach = web["web.reach", "v4only.com.test"]
    assert reach.evidence["v6_addresses"] == 0 and reach.evidence["open_ports_v4"] == [80, 443]
    assert web["web.http", "v4only.com.test"].evidence["v6_ok"] == []
    same = web["web.same_site", "v4only.com.test"]
    assert same.status is Status.SKIPPED and "IPv6" in (same.error or "")


def test_dropped_address_times_out(web: Obs) -> None:
    reach = web["web.reach", "dropped.gov.test"]
    assert port(reach, "2001:db8:80::dead", 80) == port(reach, "2001:db8:80::dead", 443) == "timeout"
    assert port(reach, "203.0.113.72", 443) == "ok"
    assert {(g["address"], g["port"]) for g in reach.evidence["parity_gaps"]} == {
        ("2001:db8:80::dead", 80), ("2001:db8:80::dead", 443)}
    tls = web["web.tls", "dropped.gov.test"]
    assert tls_row(tls, "2001:db8:80::dead")["status"] == "not_attempted"
    http = web["web.http", "dropped.gov.test"]
    assert "2001:db8:80::dead" in str(http.evidence["not_fetched"])


def test_refused_ports(web: Obs) -> None:
    reach = web["web.reach", "refused.edu.test"]
    assert port(reach, "2001:db8:80::12", 80) == port(reach, "2001:db8:80::12", 443) == "refused"
    assert reach.evidence["open_ports_v6"] == []


def test_tarpit_accepts_but_never_speaks(web: Obs) -> None:
    n = "tarpit.com.test"
    assert port(web["web.reach", n], "2001:db8:80::13", 443) == "ok"
    assert tls_row(web["web.tls", n], "2001:db8:80::13")["status"] == "timeout"
    c6 = chain(web["web.http", n], "v6")
    assert c6["status"] == "timeout" and "TLS handshake" in c6["error"]
    assert web["web.latency", n].evidence["families"]["v6"]["success_rate"] == 0.0


def test_pmtu_blackhole_shows_as_a_handshake_stall(web: Obs) -> None:
    n = "pmtu.edu.test"
    assert port(web["web.reach", n], "2001:db8:1280::10", 443) == "ok"  # small packets pass
    assert tls_row(web["web.tls", n], "2001:db8:1280::10")["status"] == "timeout"
    v4 = tls_row(web["web.tls", n], "203.0.113.200")
    assert v4["valid"] is True and v4["cert"]["key"] == "RSA-4096"
    c6 = chain(web["web.http", n], "v6")
    assert c6["status"] == "timeout" and "TLS handshake" in c6["error"]
    assert chain(web["web.http", n], "v4")["final"]["size"] > 200_000  # the big page over IPv4


def test_different_content_says_how(web: Obs) -> None:
    same = web["web.same_site", "diffcontent.gov.test"]
    assert same.status is Status.OK
    assert same.evidence["similarity"] < 0.5
    assert same.evidence["same_title"] is False
    diffs = " | ".join(same.evidence["differences"])
    assert "title differs: 'Default nginx page' over IPv6, 'diffcontent site' over IPv4" in diffs
    assert "size differs" in diffs


def test_redirect_to_an_ipv4_only_host(web: Obs) -> None:
    http = web["web.http", "redir6.com.test"]
    c6 = chain(http, "v6")
    assert c6["hops"][0]["http_status"] == 301 and c6["hops"][0]["location"] == "https://v4only.com.test/"
    assert c6["status"] == "unreachable" and c6["dead_end"] == "v4only.com.test"
    assert "no AAAA record" in c6["error"]
    assert http.evidence["v6_dead_ends"] == ["v4only.com.test"]
    c4 = chain(http, "v4")
    assert c4["final"]["url"] == "https://v4only.com.test/" and c4["final"]["http_status"] == 200
    assert [h["address"] for h in c4["hops"]] == ["203.0.113.76", "203.0.113.71"]  # re-resolved hop


@pytest.mark.parametrize(("site", "addr", "problem", "code"), [
    ("cert-expired.gov.test", "2001:db8:80::18", "expired", 10),
    ("cert-wrong-name.gov.test", "2001:db8:80::19", "name_mismatch", 62),
    ("cert-untrusted.gov.test", "2001:db8:80::1a", "self_signed", 18),
])
def test_v6_only_certificate_problems(web: Obs, site: str, addr: str, problem: str, code: int) -> None:
    tls = web["web.tls", site]
    row = tls_row(tls, addr)
    assert row["valid"] is False and row["problem"] == problem and row["verify_code"] == code
    assert row["cert"] is not None  # fetched again without validation: the evidence shows it
    assert tls.evidence["v6_invalid"] == [addr] and len(tls.evidence["v4_valid"]) == 1
    assert tls.evidence["cert_differs"] is True
    c6 = chain(web["web.http", site], "v6")
    assert c6["status"] == "tls_error" and "certificate" in c6["error"]
    if problem == "expired":
        assert row["cert"]["days_left"] < 0


def test_http_only_site(web: Obs) -> None:
    n = "httponly.edu.test"
    assert web["web.tls", n].status is Status.SKIPPED
    c6 = chain(web["web.http", n], "v6")
    assert c6["start"] == "http://httponly.edu.test/" and c6["final"]["http_status"] == 200
    assert "tls_ms" not in c6["hops"][0]["timings"]
    assert web["web.same_site", n].evidence["similarity"] == 1.0


def test_two_aaaa_one_dead(web: Obs) -> None:
    n = "twoaaaa.com.test"
    reach = web["web.reach", n]
    assert port(reach, "2001:db8:80::1c", 443) == "ok"
    assert port(reach, "2001:db8:80::dead:2", 443) == "timeout"
    assert reach.evidence["v6_fully_open"] == ["2001:db8:80::1c"]
    http = web["web.http", n]
    assert http.evidence["v6_ok"] == ["2001:db8:80::1c"]


def test_ipv6_only_site(web: Obs) -> None:
    n = "v6only.edu.test"
    assert web["web.http", n].evidence["v6_ok"] == ["2001:db8:80::23"]
    assert web["web.tls", n].evidence["v6_valid"] == ["2001:db8:80::23"]
    assert "v4" not in web["web.latency", n].evidence["families"]
    assert web["web.same_site", n].status is Status.SKIPPED


def test_the_first_max_addresses_aaaa_are_probed_and_the_cap_is_said(web: Obs) -> None:
    """50 AAAA records: the first 16 (the max_addresses cap, in DNS order) are probed by every check,
    and each check's evidence says the cap was hit and how many were found."""
    cap = {"cap": "max_addresses", "limit": 16, "found": 50, "family": "v6"}
    reach = web["web.reach", "bigdns.com.test"]
    assert reach.evidence["v6_addresses"] == 16 and cap in reach.evidence["caps_hit"]
    assert len([r for r in reach.evidence["addresses"] if r["family"] == "v6"]) == 16
    tls = web["web.tls", "bigdns.com.test"]
    assert len(tls.evidence["v6_valid"]) == 16 and cap in tls.evidence["caps_hit"]
    http = web["web.http", "bigdns.com.test"]
    assert len(http.evidence["v6_ok"]) == 16 and cap in http.evidence["caps_hit"]


def test_self_check_failure_and_no_allow_net(lab: Lab) -> None:
    obs = scan(lab, ["healthy.gov.test"], self_check="[2001:db8:80::dead]:80")
    s = obs["self.v6", "healthy.gov.test"]
    assert s.status is Status.TIMEOUT and "self-check probe" in (s.error or "")
    blocked = scan(lab, ["healthy.gov.test"], allow_nets=(), self_check=None)
    reach = blocked["web.reach", "healthy.gov.test"]
    assert reach.status is Status.BLOCKED
    assert {b["address"] for b in reach.evidence["blocked"]} == {"2001:db8:80::10", "203.0.113.70"}
    sv6 = blocked["self.v6", "healthy.gov.test"]
    assert sv6.status is Status.UNREACHABLE and "not global" in (sv6.error or "")


def _openssl_verdict(lab: Lab, addr: str, name: str) -> str:
    proc = lab.exec(["openssl", "s_client", "-connect", f"[{addr}]:443" if ":" in addr else f"{addr}:443",
                     "-servername", name, "-verify_hostname", name, "-verify_return_error",
                     "-CAfile", str(lab.ca_file)], input="", timeout=20)
    m = re.search(r"Verify return code: (\d+)", proc.stdout + proc.stderr)
    code = int(m.group(1)) if m else -1
    if proc.returncode == 0 and code == 0:
        return "valid"
    return {10: "expired", 62: "name_mismatch", 18: "self_signed", 19: "self_signed_in_chain",
            20: "unknown_issuer", 21: "unknown_issuer"}.get(code, f"code {code}")


def test_tls_verdicts_match_openssl(lab: Lab, web: Obs) -> None:
    """Oracle: on every lab TLS host our chain/name/expiry verdict equals openssl s_client's."""
    compared = 0
    for site in SITES:
        tls = web.get(("web.tls", site))
        if tls is None or tls.status is not Status.OK:
            continue
        for row in tls.evidence["addresses"]:
            if row["status"] != "ok":
                continue
            ours = "valid" if row["valid"] else row["problem"]
            assert _openssl_verdict(lab, row["address"], site) == ours, (site, row["address"])
            compared += 1
            if site == "bigdns.com.test" and compared > 40:
                break
    assert compared >= 25


def test_link_tree_rates_per_level(web: Obs) -> None:
    """The links scenario: level 2 has 3 internal links (2 over IPv6), level 3 has 4 (3 over IPv6)."""
    links = web["web.links", "links.edu.test"]
    ev = links.evidence
    assert ev["registrable_domain"] == "links.edu.test" and ev["homepage_family"] == "v6"
    assert (ev["level2"]["links"], ev["level2"]["v6_ok"], ev["level2"]["rate"]) == (3, 2, 0.6667)
    assert (ev["level3"]["links"], ev["level3"]["v6_ok"], ev["level3"]["rate"]) == (4, 3, 0.75)
    assert sorted(ev["v4_only"]) == ["https://v4sub.links.edu.test/deep2.html",
                                     "https://v4sub.links.edu.test/page3.html"]
    by = {u["url"]: u for u in ev["urls"]}
    # a 3rd-level link found on an IPv4-only 2nd-level page (read over IPv4 to find it)
    assert by["https://v6sub.links.edu.test/deep3.html"]["found_on"] == "https://v4sub.links.edu.test/page3.html"
    assert by["https://v4sub.links.edu.test/page3.html"]["reason"] == "no AAAA record"
    assert {e["host"]: e["usable_aaaa"] for e in ev["external"]} == {"healthy.gov.test": True,
                                                                   "v4only.com.test": False}
    res = web["web.resources", "links.edu.test"]
    assert res.evidence["v4_only_hosts"] == ["v4sub.links.edu.test"]
    kinds = {r["host"]: [x["kind"] for x in r["resources"]] for r in res.evidence["hosts"]}
    assert kinds == {"links.edu.test": ["script"], "v4sub.links.edu.test": ["img"],
                     "v6sub.links.edu.test": ["stylesheet"]}
    # a homepage without links or subresources: the checks do not apply
    assert web["web.links", "healthy.gov.test"].status is Status.SKIPPED
    assert web["web.resources", "healthy.gov.test"].status is Status.SKIPPED
