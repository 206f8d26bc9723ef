"""DNS checks against the lab: every DNS scenario, asserting the recorded evidence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import lab_settings
from tests.lab import Lab
from tests.lab.netns import run_async_in_netns
from v6scan.checks.mail import mx_v6_targets
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target, scan_targets
from v6scan.model import Observation, Status
from v6scan.registry import CHECKS
from v6scan.resolver import Resolver
from v6scan.targets import parse_target

Obs = dict[tuple[str, str], Observation]


def scan(lab: Lab, *names: str, **overrides: Any) -> Obs:
    """Scan ``names`` from the client namespace; index observations by (check, name)."""

    async def go() -> list[TargetResult]:
        async with Context.create(lab_settings(lab, **overrides)) as ctx:
            return [await scan_target(ctx, parse_target(n)) for n in names]

    results = run_async_in_netns(lab.client, go)
    return {(o.check, o.target): o for r in results for o in r.observations}


@pytest.fixture(scope="module")
def lab_obs(lab: Lab) -> Obs:
    """One scan of every DNS scenario, shared by the tests of this module."""
    names = ["healthy.gov.test", "v4only.com.test", "cdnv6.gov.test", "cdnv4.edu.test",
             "nxdomain.gov.test", "lame.edu.test", "v4ns.com.test", "deadns.gov.test",
             "bigdns.com.test", "mail.com.test", "v6only.edu.test", "cnameloop.com.test",
             *(f"bogus-{k}.com.test" for k in ("mapped", "linklocal", "ula", "nat64"))]
    return scan(lab, *names)


def addrs(obs: Observation) -> list[str]:
    return [r["address"] for r in obs.evidence["addresses"]]


def test_healthy_resolves_with_classified_addresses(lab_obs: Obs) -> None:
    res = lab_obs["dns.resolve", "healthy.gov.test"]
    assert res.status is Status.OK
    assert res.evidence["a"]["records"] == ["203.0.113.70"]
    assert res.evidence["aaaa"]["records"] == ["2001:db8:80::10"]
    aaaa = lab_obs["dns.aaaa", "healthy.gov.test"]
    assert aaaa.status is Status.OK
    (row,) = aaaa.evidence["addresses"]
    assert row["address"] == "2001:db8:80::10"
    assert row["kind"] == "documentation" and row["public"] is False
    assert row["usable"] is True  # inside --allow-net 2001:db8::/32
    assert aaaa.evidence["usable"] == ["2001:db8:80::10"]


def test_www_variant_follows_its_cname(lab_obs: Obs) -> None:
    www = lab_obs["dns.aaaa", "www.healthy.gov.test"]
    assert www.status is Status.OK
    assert www.evidence["cname_chain"] == ["www.healthy.gov.test", "healthy.gov.test"]
    assert addrs(www) == ["2001:db8:80::10"]
    # a registrable domain gets a www. variant; the variant has every per-name check
    for check in ("dns.resolve", "dns.ns_aaaa", "dns.ns_reach", "dns.v6_path"):
        assert (check, "www.healthy.gov.test") in lab_obs
    # but mail is checked once, for the domain
    assert ("mail.mx_aaaa", "www.healthy.gov.test") not in lab_obs


def test_healthy_name_servers_answer_everywhere(lab_obs: Obs) -> None:
    ns = lab_obs["dns.ns_aaaa", "healthy.gov.test"]
    assert ns.status is Status.OK
    assert ns.evidence["zone"] == "gov.test"
    assert [s["name"] for s in ns.evidence["ns"]] == ["ns1.gov.test", "ns2.gov.test"]
    assert [r["address"] for r in ns.evidence["ns"][0]["aaaa"]] == ["2001:db8:53::21"]
    assert ns.evidence["ns_with_usable_aaaa"] == ["ns1.gov.test", "ns2.gov.test"]
    reach = lab_obs["dns.ns_reach", "healthy.gov.test"]
    assert reach.status is Status.OK
    probes = reach.evidence["probes"]
    assert len(probes) == 8  # 2 NS x (1 AAAA + 1 A) x (UDP, TCP)
    assert {(p["family"], p["transport"]) for p in probes} == {
        ("v6", "udp"), ("v6", "tcp"), ("v4", "udp"), ("v4", "tcp")}
    assert all(p["answered"] and p["aa"] and p["rcode"] == "NOERROR" for p in probes)
    assert reach.evidence["failed"] == []
    assert reach.evidence["v6_probes"] == reach.evidence["v6_answered"] == 4


def test_v6_path_intact_walks_from_the_lab_root(lab_obs: Obs) -> None:
    path = lab_obs["dns.v6_path", "healthy.gov.test"]
    assert path.status is Status.OK
    assert path.evidence["result"] == "reached"
    zones = [s["zone"] for s in path.evidence["steps"]]
    assert zones[:3] == [".", "test", "gov.test"]
    used = [t["address"] for s in path.evidence["steps"] for t in s.get("servers", [])]
    assert used and all(":" in a for a in used)  # IPv6 transport only
    assert "healthy.gov.test AAAA 2001:db8:80::10" in path.evidence["answer"]


def test_v4only_has_no_aaaa_and_a_null_mx(lab_obs: Obs) -> None:
    assert lab_obs["dns.resolve", "v4only.com.test"].status is Status.OK
    aaaa = lab_obs["dns.aaaa", "v4only.com.test"]
    assert aaaa.status is Status.NODATA
    assert aaaa.evidence["addresses"] == []
    mx = lab_obs["mail.mx_aaaa", "v4only.com.test"]
    assert mx.status is Status.OK
    assert mx.evidence["null_mx"] is True and mx.evidence["mx"] == []


@pytest.mark.parametrize(("kind", "address", "embedded"), [
    ("ipv4-mapped", "::ffff:7f00:1", ("127.0.0.1", "loopback")),
    ("link-local", "fe80::1", None),
    ("ula", "fd12:3456:789a::1", None),
    ("nat64", "64:ff9b::a00:1", ("10.0.0.1", "private")),
])
def test_bogus_aaaa_kinds_are_classified_and_never_usable(lab_obs: Obs, kind: str, address: str,
                                                           embedded: tuple[str, str] | None) -> None:
    short = {"ipv4-mapped": "mapped", "link-local": "linklocal", "ula": "ula", "nat64": "nat64"}[kind]
    obs = lab_obs["dns.aaaa", f"bogus-{short}.com.test"]
    assert obs.status is Status.OK
    (row,) = obs.evidence["addresses"]
    assert row["address"] == address
    assert row["kind"] == kind
    assert row["public"] is False and row["usable"] is False
    assert "not contacted" in row["blocked_reason"]
    assert obs.evidence["usable"] == []
    if embedded:
        assert (row["embedded"]["address"], row["embedded"]["kind"]) == embedded
    else:
        assert "embedded" not in row


def test_cname_into_cdn_with_and_without_aaaa(lab_obs: Obs) -> None:
    v6 = lab_obs["dns.aaaa", "cdnv6.gov.test"]
    assert v6.status is Status.OK
    assert v6.evidence["cname_chain"] == ["cdnv6.gov.test", "edge-v6.cdn.test"]
    assert addrs(v6) == ["2001:db8:80::1d"]
    v4 = lab_obs["dns.aaaa", "cdnv4.edu.test"]
    assert v4.status is Status.NODATA
    assert v4.evidence["cname_chain"] == ["cdnv4.edu.test", "edge-v4.cdn.test"]
    assert "edge-v4.cdn.test" in (v4.error or "")
    res = lab_obs["dns.resolve", "cdnv4.edu.test"]
    assert res.status is Status.OK and res.evidence["a"]["records"] == ["203.0.113.86"]


def test_nxdomain(lab_obs: Obs) -> None:
    res = lab_obs["dns.resolve", "nxdomain.gov.test"]
    assert res.status is Status.NXDOMAIN
    assert res.evidence["a"]["status"] == res.evidence["aaaa"]["status"] == "nxdomain"
    assert "NXDOMAIN" in (res.error or "")
    # the zone above a missing name is still found, and its servers answer for the zone (its SOA)
    # with authority: reachability is probed per zone, once for every site in it
    ns = lab_obs["dns.ns_aaaa", "nxdomain.gov.test"]
    assert ns.evidence["zone"] == "gov.test"
    reach = lab_obs["dns.ns_reach", "nxdomain.gov.test"].evidence
    assert reach["qname"] == "gov.test"
    assert reach["probes"] and all(p["rcode"] == "NOERROR" and p["aa"] and p["answered"] for p in reach["probes"])


def test_lame_delegation(lab_obs: Obs) -> None:
    res = lab_obs["dns.resolve", "lame.edu.test"]
    assert res.status is Status.SERVFAIL
    ns = lab_obs["dns.ns_aaaa", "lame.edu.test"]
    assert ns.status is Status.SERVFAIL
    assert ns.evidence["zone"] is None
    assert ns.evidence["zone_lookups"][0] == {"name": "lame.edu.test", "status": "servfail", "records": []}
    assert lab_obs["dns.ns_reach", "lame.edu.test"].status is Status.SKIPPED
    path = lab_obs["dns.v6_path", "lame.edu.test"]
    assert path.status is Status.REFUSED
    assert path.evidence["broken_at"] == "lame.edu.test"
    assert "lame" in path.evidence["reason"]
    last = path.evidence["steps"][-1]
    assert last["zone"] == "lame.edu.test"
    refused = {t["address"]: t["rcode"] for t in last["servers"]}  # (in the order the name picks)
    assert refused["2001:db8:53::31"] == "REFUSED"


def test_name_servers_without_aaaa(lab_obs: Obs) -> None:
    ns = lab_obs["dns.ns_aaaa", "v4ns.com.test"]
    assert ns.status is Status.OK
    assert ns.evidence["zone"] == "v4ns.com.test"
    assert ns.evidence["ns_with_aaaa"] == []
    for s in ns.evidence["ns"]:
        assert s["aaaa_status"] == "nodata" and s["aaaa"] == []
    assert sorted(r["address"] for s in ns.evidence["ns"] for r in s["a"]) == [
        "203.0.113.41", "203.0.113.42"]
    reach = lab_obs["dns.ns_reach", "v4ns.com.test"]
    assert reach.evidence["v6_probes"] == 0
    assert {p["family"] for p in reach.evidence["probes"]} == {"v4"}
    assert all(p["answered"] for p in reach.evidence["probes"])
    path = lab_obs["dns.v6_path", "v4ns.com.test"]
    assert path.status is Status.UNREACHABLE
    assert path.evidence["broken_at"] == "v4ns.com.test"
    assert "has an IPv6 address" in path.evidence["reason"]
    # the site itself is dual-stack: only its DNS is IPv4-bound
    assert addrs(lab_obs["dns.aaaa", "v4ns.com.test"]) == ["2001:db8:80::1e"]


def test_name_server_silent_on_ipv6(lab_obs: Obs) -> None:
    reach = lab_obs["dns.ns_reach", "deadns.gov.test"]
    assert reach.status is Status.OK
    by = {(p["address"], p["transport"]): p for p in reach.evidence["probes"]}
    for transport in ("udp", "tcp"):
        dead = by["2001:db8:53::dead", transport]
        assert dead["ns"] == "ns2.deadns.gov.test"
        assert dead["status"] == "timeout" and dead["answered"] is False
        assert by["203.0.113.33", transport]["answered"] is True  # its IPv4 works
        assert by["2001:db8:53::32", transport]["answered"] is True
    assert reach.evidence["v6_probes"] == 4 and reach.evidence["v6_answered"] == 2
    assert any("2001:db8:53::dead" in f for f in reach.evidence["failed"])
    # one working IPv6 server is enough for the IPv6-only path
    assert lab_obs["dns.v6_path", "deadns.gov.test"].status is Status.OK


def test_big_answer_over_tcp(lab_obs: Obs) -> None:
    aaaa = lab_obs["dns.aaaa", "bigdns.com.test"]
    assert aaaa.status is Status.OK and len(addrs(aaaa)) == 50
    # dns.ns_reach asks the zone's servers for its SOA over UDP and TCP (once per zone); the big
    # answer itself is followed from UDP (truncated) to TCP on the IPv6-only path:
    probes = lab_obs["dns.ns_reach", "bigdns.com.test"].evidence["probes"]
    assert {p["transport"] for p in probes} == {"udp", "tcp"} and all(p["answered"] for p in probes)
    path = lab_obs["dns.v6_path", "bigdns.com.test"]
    last = path.evidence["steps"][-1]["servers"]
    assert last[0]["transport"] == "udp" and last[0]["tc"] is True
    assert last[1]["transport"] == "tcp" and len(last[1]["answer"]) == 50


def test_mx_with_and_without_v6(lab_obs: Obs) -> None:
    mx = lab_obs["mail.mx_aaaa", "mail.com.test"]
    assert mx.status is Status.OK and mx.evidence["null_mx"] is False
    hosts = [(h["preference"], h["host"], h["usable_v6"], h["a"]) for h in mx.evidence["mx"]]
    assert hosts == [
        (10, "mx1.mail.com.test", ["2001:db8:80::20"], ["203.0.113.92"]),
        (20, "mx2.mail.com.test", ["2001:db8:80::21"], ["203.0.113.93"]),
        (30, "mx3.mail.com.test", [], ["203.0.113.94"]),
    ]
    assert mx.evidence["mx"][2]["aaaa_status"] == "nodata"
    assert mx_v6_targets(mx) == [("mx1.mail.com.test", "2001:db8:80::20"),
                                 ("mx2.mail.com.test", "2001:db8:80::21")]


def test_no_mx_means_implicit_mx(lab_obs: Obs) -> None:
    mx = lab_obs["mail.mx_aaaa", "v6only.edu.test"]
    assert mx.evidence["implicit_mx"] is True
    assert [h["host"] for h in mx.evidence["mx"]] == ["v6only.edu.test"]
    assert mx.evidence["mx"][0]["usable_v6"] == ["2001:db8:80::23"]


def test_v6only_site(lab_obs: Obs) -> None:
    res = lab_obs["dns.resolve", "v6only.edu.test"]
    assert res.status is Status.OK
    assert res.evidence["a"]["status"] == "nodata"
    assert addrs(lab_obs["dns.aaaa", "v6only.edu.test"]) == ["2001:db8:80::23"]


def test_cname_loop_is_a_clear_error(lab_obs: Obs) -> None:
    res = lab_obs["dns.resolve", "cnameloop.com.test"]
    assert res.status is Status.SERVFAIL  # Unbound refuses to chase the loop
    assert res.error


def test_without_allow_net_the_lab_addresses_are_not_contacted(lab: Lab) -> None:
    obs = scan(lab, "healthy.gov.test", allow_nets=(), www="never")
    aaaa = obs["dns.aaaa", "healthy.gov.test"]
    assert aaaa.evidence["usable"] == [] and aaaa.evidence["addresses"][0]["public"] is False
    reach = obs["dns.ns_reach", "healthy.gov.test"]
    assert reach.status is Status.BLOCKED
    assert all(p["status"] == "blocked" for p in reach.evidence["probes"])
    path = obs["dns.v6_path", "healthy.gov.test"]
    assert path.status is Status.BLOCKED
    assert all(t["status"] == "blocked" for s in path.evidence["steps"] for t in s.get("servers", []))


def test_resolver_statuses_are_distinct(lab: Lab) -> None:
    async def go() -> dict[str, Any]:
        good = Resolver(lab.resolver, timeout=1.0, retries=1)
        # an authoritative-only server: recursion refused for names it does not serve
        auth = Resolver(("203.0.113.41",), timeout=1.0, retries=0)
        dead = Resolver(("[2001:db8:53::dead]:53",), timeout=0.5, retries=1)
        out = {
            "nx": await good.query("nxdomain.gov.test", "A"),
            "nodata": await good.query("v4only.com.test", "AAAA"),
            "servfail": await good.query("lame.edu.test", "A"),
            "refused": await auth.query("healthy.gov.test", "A"),
            "timeout": await dead.query("healthy.gov.test", "A"),
            "cname_only": await good.query("cdnv4.edu.test", "AAAA"),
        }
        for r in (good, auth, dead):
            await r.close()
        return out

    out = run_async_in_netns(lab.client, go)
    assert out["nx"].status is Status.NXDOMAIN
    assert out["nodata"].status is Status.NODATA
    assert out["servfail"].status is Status.SERVFAIL
    assert out["refused"].status is Status.REFUSED
    assert out["timeout"].status is Status.TIMEOUT and out["timeout"].attempts >= 2
    assert out["cname_only"].status is Status.NODATA and out["cname_only"].records == ()


def test_resolver_channel_recycling_keeps_answers_right(lab: Lab) -> None:
    async def go() -> tuple[list[list[str]], int]:
        r = Resolver(lab.resolver, recycle_after=3)
        vals = [(await r.query(n, "AAAA")).values
                for n in ["healthy.gov.test", "v6only.edu.test", "twoaaaa.com.test"] * 4]
        q = r.queries
        await r.close()
        return vals, q

    vals, queries = run_async_in_netns(lab.client, go)
    assert vals[0] == vals[3] == ["2001:db8:80::10"]
    assert vals[1] == ["2001:db8:80::23"]
    assert sorted(vals[2]) == ["2001:db8:80::1c", "2001:db8:80::dead:2"]
    assert queries == 12


def _scan_with(lab: Lab, name: str, patch: Callable[[], None] | None = None, **overrides: Any
               ) -> TargetResult:
    async def go() -> TargetResult:
        async with Context.create(lab_settings(lab, **overrides)) as ctx:
            return await scan_target(ctx, parse_target(name))

    if patch:
        patch()
    return run_async_in_netns(lab.client, go)


def test_a_crashing_check_is_recorded_not_raised(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    import v6scan.checks.dns_v6_path as v6_path

    async def boom(ctx: Context, name: str) -> Observation:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(v6_path, "walk_v6", boom)  # dns.v6_path's probe measures with it
    r = _scan_with(lab, "healthy.gov.test", www="never")
    path = r.get("dns.v6_path")
    assert path is not None and path.status is Status.ERROR
    assert "simulated bug" in (path.error or "")
    assert r.get("dns.aaaa") is not None and r.get("dns.aaaa").status is Status.OK  # type: ignore[union-attr]


def test_per_target_deadline_records_every_missing_check(lab: Lab) -> None:
    # deadns: the resolver has to wait for a dead server, the v6 probes time out
    deadline = 0.3
    r = _scan_with(lab, "deadns.gov.test", target_deadline=deadline, ns_timeout=5.0, www="never")
    checks = {o.check for o in r.observations}
    assert checks == set(CHECKS)  # every check is recorded, finished or not
    timed_out = [o for o in r.observations if o.status is Status.TIMEOUT]
    # every step waits longer than the deadline, so each timeout is the deadline's (v6scan/engine.py)
    text = f"the per-target deadline of {deadline:g} s ran out"
    assert timed_out and all(o.error == text for o in timed_out), [(o.check, o.error) for o in timed_out]


def test_sweep_of_every_lab_target_loses_nothing(lab: Lab) -> None:
    targets = [parse_target(s.target) for s in lab.scenarios]

    async def go() -> list[TargetResult]:
        return [r async for r in scan_targets(targets, lab_settings(lab, www="never", timeout=2.0), concurrency=16)]

    results = run_async_in_netns(lab.client, go)
    assert sorted(r.target.name for r in results) == sorted(t.name for t in targets)
    for r in results:
        assert {o.check for o in r.observations} >= {"dns.resolve", "dns.aaaa"}


def test_system_resolver_by_default(lab: Lab) -> None:
    """Without --resolver the resolver layer reads resolv.conf (the lab's, via ip netns exec)."""
    code = ("import asyncio\nfrom v6scan.resolver import Resolver\n"
            "async def main():\n    r = Resolver()\n    a = await r.query('healthy.gov.test', 'AAAA')\n"
            "    print(a.status, a.values)\n    await r.close()\nasyncio.run(main())\n")
    out = lab.python("-c", code, check=True).stdout.strip()
    assert out == "ok ['2001:db8:80::10']"
