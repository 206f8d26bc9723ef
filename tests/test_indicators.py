"""The CN indicator set: web.latency's breakdown and ratios, its rule under cn-gov, the pure
per-site indicators and their sums per sector and region in a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from v6scan.checks.web_latency import PARTS, LatencyEvidence, LatencyFamily, LatencyProbe, _slow_parts
from v6scan.indicators import Indicators, indicators
from v6scan.model import Observation, Status
from v6scan.report.rows import indicator_summaries
from v6scan.scoring import load_policy, score_target
from v6scan.store import Store
from v6scan.targets import parse_target


def _probe(connect: float, tls: float, first: float, body: float, size: int = 100_000, ok: bool = True
           ) -> LatencyProbe:
    if not ok:
        return LatencyProbe(status="timeout", error="timed out")
    return LatencyProbe(status="ok", connect_ms=connect, tls_ms=tls, first_byte_ms=first, body_ms=body,
                        total_ms=connect + tls + first + body, bytes=size)


def _evidence(v6_scale: float = 1.0, v6_fail: int = 0, dns6: float = 12.0) -> LatencyEvidence:
    v4 = [_probe(10, 20, 30, 40), _probe(12, 22, 32, 42), _probe(11, 21, 31, 41)]
    v6 = [_probe(10 * v6_scale, 20 * v6_scale, 30 * v6_scale, 40 * v6_scale, ok=i >= v6_fail) for i in range(3)]
    return LatencyEvidence.build({
        "v6": LatencyFamily(address="2001:db8::1", url="https://x/", probes=tuple(v6), breakdown={"dns_ms": dns6}),
        "v4": LatencyFamily(address="198.51.100.1", url="https://x/", probes=tuple(v4), breakdown={"dns_ms": 10.0}),
    }, 3, False)


def test_the_breakdown_is_the_median_of_the_probes_that_succeeded_and_each_part_has_its_ratio() -> None:
    ev = _evidence(v6_scale=2.0, v6_fail=1)
    v6, v4 = ev.families["v6"].breakdown, ev.families["v4"].breakdown
    assert v4 == {"dns_ms": 10.0, "connect_ms": 11.0, "tls_ms": 21.0, "first_byte_ms": 31.0, "download_ms": 104.0,
                  "rate_bps": pytest.approx(100_000 / 0.104, rel=1e-3)}
    assert v6["connect_ms"] == 20.0 and v6["download_ms"] == 200.0 and ev.families["v6"].success_rate == 0.667
    assert ev.ratios["download_ms"] == pytest.approx(200 / 104, abs=1e-3)
    assert ev.ratios["rate_bps"] == pytest.approx(104 / 200, abs=1e-3) and ev.ratios["dns_ms"] == 1.2
    assert set(ev.ratios) == set(PARTS)
    again = LatencyEvidence.from_json(ev.to_json())  # stored and read back
    assert again.ratios == ev.ratios and again.families["v6"].breakdown == v6


def test_cn_gov_judges_each_part_and_the_default_policy_none() -> None:
    cn, default = load_policy("cn-gov"), load_policy("default")
    slow = _evidence(v6_scale=2.0)
    parts = {r.params["part"] for r in _slow_parts(slow.families["v6"].breakdown, slow.families["v4"].breakdown, cn)}
    # twice as slow: every part whose difference is above 20 ms; the connect (10 ms more) is noise; the rate halves
    assert parts == {"first_byte_ms", "download_ms", "rate_bps"}
    assert _slow_parts(slow.families["v6"].breakdown, slow.families["v4"].breakdown, default) == []
    same = _evidence(v6_scale=1.05)
    assert _slow_parts(same.families["v6"].breakdown, same.families["v4"].breakdown, cn) == []
    fast = {"rate_bps": 2_000_000.0}, {"rate_bps": 5_000_000.0}  # both above 1 MB/s: alike
    assert _slow_parts(*fast, cn) == []


def _observations(name: str, ev: LatencyEvidence) -> list[Observation]:
    return [Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {}}),
            Observation("web.latency", name, Status.OK, ev.to_json())]


def test_a_sites_indicators_come_from_its_own_latency_observation() -> None:
    ind = indicators("a.example", [*_observations("www.a.example", _evidence(2.0)),
                                   *_observations("a.example", _evidence(1.0, v6_fail=3))])
    assert ind is not None and ind.success_v6 == 0.0 and ind.success_v4 == 1.0 and ind.probes == 3
    assert ind.v6["download_ms"] is None and ind.v4["download_ms"] == 104.0 and "download_ms" not in ind.ratios
    assert Indicators.from_json(ind.to_json()) == ind
    assert indicators("b.example", [Observation("web.latency", "b.example", Status.SKIPPED, {"families": {}})]) is None
    junk = Observation("web.latency", "c.example", Status.OK, {"families": {"v6": 3, "v4": {"breakdown": "x"}}})
    assert indicators("c.example", [junk]) == Indicators(None, None, {}, {p: None for p in PARTS}, {}, 0)


def test_indicators_are_stored_and_summed_up_per_sector(tmp_path: Path) -> None:
    policy = load_policy("cn-gov")
    sites = [("g1.example", "gov", 1.0, 0), ("g2.example", "gov", 2.0, 1), ("e1.example", "edu", 1.0, 0),
             ("n1.example", "edu", None, 0)]
    with Store(tmp_path / "s.db") as s:
        ts = [parse_target(n, sector=sec) for n, sec, _, _ in sites]
        sid = s.start_sweep(ts, {}, policy.name)
        batch = []
        for name, _, scale, fail in sites:
            obs = _observations(name, _evidence(scale, fail)) if scale else _observations(name, _evidence())[:1]
            batch.append((name, "2026-01-01T00:00:00Z", None, obs, score_target(name, obs, policy)))
        s.record(sid, batch)
        stored = s.indicators(sid)
        assert set(stored) == {"g1.example", "g2.example", "e1.example"}  # n1 was not probed
        rows = {g["name"]: g for g in indicator_summaries(s, sid, policy.name, "sector")}
        (whole,) = indicator_summaries(s, sid, policy.name, None)
    gov = rows["gov"]
    assert (gov["sites"], gov["measured"]) == (2, 2)
    assert gov["success_v6"] == pytest.approx((1.0 + 0.667) / 2) and gov["all_ok_v6"] == 0.5
    assert gov["ratio_download_ms"] == pytest.approx((stored["g1.example"].ratios["download_ms"]
                                                      + stored["g2.example"].ratios["download_ms"]) / 2)
    assert (rows["edu"]["sites"], rows["edu"]["measured"]) == (2, 1)
    assert (whole["sites"], whole["measured"], whole["name"]) == (4, 3, "")


def test_a_homepage_that_never_answered_over_ipv6_is_a_success_rate_of_0() -> None:
    aaaa = Observation("dns.aaaa", "d.example", Status.OK, {"usable": ["2001:db8::1"]})
    skipped = Observation("web.latency", "d.example", Status.SKIPPED, {"families": {}})
    assert indicators("d.example", [aaaa, skipped]) == Indicators(success_v6=0.0)
    v4_only = LatencyEvidence.build({"v4": LatencyFamily(address="198.51.100.1", url="https://x/",
                                                         probes=(_probe(10, 20, 30, 40),))}, 1, False)
    ind = indicators("d.example", [aaaa, Observation("web.latency", "d.example", Status.OK, v4_only.to_json())])
    assert ind is not None and ind.success_v6 == 0.0 and ind.success_v4 == 1.0


def test_a_probe_without_a_body_has_no_download_rate() -> None:
    redirect = _probe(10, 20, 30, 1, size=0)
    assert redirect.download_ms == 61 and redirect.rate_bps is None


def test_the_homepage_is_probed_where_web_https_redirects_ended_at_the_same_address() -> None:
    from v6scan.checks.web_latency import _homepage, _reused
    from v6scan.checks.webstate import WebState
    from v6scan.fetch import Chain, Page

    def hop(url: str, addr: str, location: str | None = None) -> Page:
        return Page(url, addr, Status.OK, 301 if location else 200, location, timings={"total_ms": 5.0},
                    wire_size=0 if location else 5000)

    st = WebState("x.example", v6=["2001:db8::1"])
    st.chains = [Chain("v6", "https://x.example/", [hop("https://x.example/", "2001:db8::1", "/home/"),
                                                     hop("https://x.example/home/", "2001:db8::1")]),
                 Chain("v6", "https://x.example/", [hop("https://x.example/", "2001:db8::2", "https://y.example/"),
                                                     hop("https://y.example/", "2001:db8::9")])]
    assert _homepage(st, "2001:db8::1", "https://x.example/") == "https://x.example/home/"
    assert _homepage(st, "2001:db8::2", "https://x.example/") == "https://x.example/"  # ended elsewhere
    assert _homepage(st, "2001:db8::3", "https://x.example/") == "https://x.example/"  # not fetched
    first = _reused(st, "2001:db8::1", "https://x.example/home/")
    assert first is not None and first.bytes == 5000 and first.source == "web.http"
