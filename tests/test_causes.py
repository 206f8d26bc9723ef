"""Root causes and provider shares (v6scan.report.causes): pure, over verdict rows and attributions."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from v6scan.providers import Attribution, Provider, ProviderTable, Served
from v6scan.report.causes import Causes

TABLE = ProviderTable([("edge.example", Provider("Edge CDN", "\u8fb9\u7f18", "cdn", "CN", "t"))])


def _row(name: str, verdict: str, failing: dict[str, str], position: int) -> dict[str, Any]:
    """A verdict row whose checks fail as ``failing`` says (check -> reason code)."""
    checks = {cid: {"result": "fail", "details": {"names": {name: {"result": "fail", "reasons": [
        {"code": code, "params": {"name": name}}]}}}} for cid, code in failing.items()}
    checks["dns.resolve"] = {"result": "pass", "details": {"names": {name: {"result": "pass", "reasons": []}}}}
    return {"name": name, "verdict": verdict, "names": [name], "checks": checks, "position": position,
            "tid": position + 1}


def _attr(provider: str | None, addr: str, ns: tuple[str, ...] = ("ns1.own.example",), cert: str | None = None
          ) -> Attribution:
    prefix = addr.rsplit(":", 2)[0] + "::/48" if addr else ""
    v6 = Served(provider, "cdn" if provider else None, "x.edge.example" if provider else None, (addr,), (prefix,))
    return Attribution(v6, Served(), "x.edge.example" if provider else None, None, ns, cert, "CN=shared")


WEB = {"web.reach": "v6_unreachable"}


def _world() -> tuple[list[dict[str, Any]], dict[str, Attribution]]:
    rows, attrs = [], {}
    for i in range(4):  # four sites behind the CDN: three fail over IPv6, one is ready
        name = f"cdn{i}.example"
        rows.append(_row(name, "broken" if i < 3 else "ready", WEB if i < 3 else {}, i))
        attrs[name] = _attr("Edge CDN", f"2001:db8:e::{i + 1}")
    for i in range(2):  # two self-hosted sites sharing name servers without IPv6 (and nothing else)
        name = f"own{i}.example"
        rows.append(_row(name, "partial", {"dns.ns_aaaa": "ns_no_v6"}, 10 + i))
        attrs[name] = _attr(None, f"2001:db8:{i + 1}::1", ("ns1.shared.example", "ns2.shared.example"))
    return rows, attrs


def test_sites_behind_one_broken_provider_are_one_cluster_with_its_fix() -> None:
    rows, attrs = _world()
    c = Causes()
    for r in rows:
        c.add(r, attrs[r["name"]])
    clusters = c.clusters(TABLE)
    first = clusters[0]
    assert (first.kind, first.key, first.size, first.total) == ("provider", "Edge CDN", 3, 4)
    assert first.sites == ("cdn0.example", "cdn1.example", "cdn2.example") and first.tids == (1, 2, 3)
    assert first.checks == ("web.reach",) and first.classes == (("web.reach", "v6_unreachable", 3),)
    assert "fixing IPv6 at Edge CDN" in first.fix and "repair 3 sites" in first.fix
    # the alias target and the /48 hold the same three sites: they say nothing new and are left out
    assert [(x.kind, x.size) for x in clusters] == [("provider", 3), ("ns", 2)]
    ns = clusters[1]
    assert ns.key == "ns1.shared.example ns2.shared.example" and ns.checks == ("dns.ns_aaaa",)
    zh = c.clusters(TABLE, "zh-CN")[0]
    assert zh.label == "\u8fb9\u7f18" and "\u8fb9\u7f18" in zh.fix


def test_a_cause_only_counts_the_checks_it_can_cause() -> None:
    rows, attrs = _world()
    c = Causes()
    for r in rows[:3]:  # the CDN's failing sites: their shared name servers did not make web.reach fail
        c.add(r, attrs[r["name"]])
    assert all(x.kind != "ns" for x in c.clusters(TABLE))
    tls = Causes()
    for i in range(3):
        a = _attr(None, f"2001:db8:{i + 5}::1", (f"ns.site{i}.example",), cert="ab" * 32)
        tls.add(_row(f"t{i}.example", "broken", {"web.tls": "tls_invalid_v6"}, i), a)
    (only,) = tls.clusters(TABLE)
    assert only.kind == "certificate" and only.label.startswith("CN=shared sha256 abababab")


def test_one_failing_site_is_no_cluster_and_providers_count_every_site() -> None:
    rows, attrs = _world()
    c = Causes()
    c.add(rows[0], attrs[rows[0]["name"]])
    c.add(rows[3], attrs[rows[3]["name"]])
    assert c.clusters(TABLE) == [] and len(c.clusters(TABLE, min_size=1)) == 1
    c.add(_row("lost.example", "error", {}, 20), None)  # no attribution (did not resolve)
    shares = {s.provider: s for s in c.shares(TABLE)}
    assert (shares["Edge CDN"].sites, shares["Edge CDN"].failing, shares["Edge CDN"].kind) == (2, 1, "CDN")
    assert shares[""].label == "self-hosted or unknown" and shares[""].verdicts == {"error": 1}
    assert [s.provider for s in c.shares(TABLE)][-1] == ""  # the unknown last


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 5))
def test_shares_counted_apart_and_merged_give_the_same_causes(seed: int, parts: int) -> None:
    """What report worker processes do: each counts its share of the sites, the shares are merged."""
    rnd = random.Random(seed)
    rows, attrs = [], {}
    for i in range(40):
        name = f"s{i}.example"
        bad = rnd.random() < 0.7
        failing = rnd.choice([WEB, {"dns.ns_aaaa": "ns_no_v6"}, {"web.tls": "tls_invalid_v6"}]) if bad else {}
        rows.append(_row(name, rnd.choice(["broken", "partial", "absent"]) if bad else "ready", failing, i))
        attrs[name] = _attr(rnd.choice(["Edge CDN", None]), f"2001:db8:{rnd.randrange(3)}::{rnd.randrange(3)}",
                            (f"ns{rnd.randrange(2)}.example",), cert=rnd.choice(["aa" * 32, "bb" * 32]))
    whole = Causes()
    for r in rows:
        whole.add(r, attrs[r["name"]])
    shares = [Causes() for _ in range(parts)]
    for r in rows:
        shares[r["tid"] % parts].add(r, attrs[r["name"]])
    merged = Causes()
    for s in reversed(shares):
        merged.merge(s)
    assert merged.clusters(TABLE) == whole.clusters(TABLE)
    assert merged.shares(TABLE) == whole.shares(TABLE)


def test_the_same_sites_failing_another_way_are_another_cause() -> None:
    """Three sites behind one CDN that also share name servers without IPv6: two causes, each said."""
    c = Causes()
    for i in range(3):
        name = f"both{i}.example"
        c.add(_row(name, "broken", {"web.reach": "v6_unreachable", "dns.ns_aaaa": "ns_no_v6"}, i),
              _attr("Edge CDN", f"2001:db8:e::{i + 1}", ("ns1.shared.example", "ns2.shared.example")))
    kinds = {(x.kind, x.checks) for x in c.clusters(TABLE)}
    assert ("provider", ("web.reach",)) in kinds and ("ns", ("dns.ns_aaaa",)) in kinds


def test_failures_on_other_hosts_are_not_the_providers() -> None:
    """web.resources (a third-party script over IPv4 only) and web.links fail on other hosts."""
    c = Causes()
    for i in range(3):
        c.add(_row(f"r{i}.example", "partial", {"web.resources": "resources_v4_only", "web.links": "links_v4"}, i),
              _attr("Edge CDN", f"2001:db8:e::{i + 1}"))
    assert c.clusters(TABLE) == []
