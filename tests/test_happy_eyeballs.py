"""web.happy_eyeballs: the three clients' figures (:meth:`HappyEyeballsEvidence.build`), the rule
(pure), a property of the model, and the lab's dual-stack scenarios (healthy, dropped, refused,
tarpit, two AAAA one dead, IPv4-only, IPv6-only).

The check is informational: weight 0 and not required in every built-in policy, so its warning never
changes a verdict or a score (asserted on the lab's sites with and without its observation).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import only, scan_sites
from tests.lab import Lab
from tests.lab.scenarios import by_id
from v6scan.checks.base import Phase
from v6scan.checks.web_happy_eyeballs import (
    ATTEMPT_DELAY_MS,
    CHECK,
    ConnectRow,
    HappyEyeballsEvidence,
    connects,
    interleave,
)
from v6scan.checks.webstate import WebState
from v6scan.engine import TargetResult
from v6scan.model import Observation, Status
from v6scan.net import Probe
from v6scan.registry import CHECKS
from v6scan.rules import CheckResult
from v6scan.scoring import BUILTIN_POLICIES, evaluate, load_policy, score_target

NAME = "example.test"
V6A, V6B, V4A, V4B = "2001:db8::a", "2001:db8::b", "192.0.2.1", "192.0.2.2"


def row(address: str, status: str = "ok", ms: float = 10.0, attempts: int = 1) -> ConnectRow:
    return ConnectRow(address=address, family="v6" if ":" in address else "v4", status=status, elapsed_ms=ms,
                      attempts=attempts)


def ev(*rows: ConnectRow, port: int = 443) -> HappyEyeballsEvidence:
    return HappyEyeballsEvidence.build(port, rows)


def judge(e: HappyEyeballsEvidence, status: Status = Status.OK, policy: str = "default") -> CheckResult:
    o = CHECK.observe(NAME, status, e, None if status is Status.OK else "the name has no address")
    return evaluate(o, load_policy(policy))


# --------------------------------------------------------------------------- the model (build)


def test_healthy_fast_ipv6_wins_and_nobody_loses() -> None:
    e = ev(row(V6A, ms=12.0), row(V4A, ms=10.0))
    assert e.order == (V6A, V4A) and (e.v6_addresses, e.v4_addresses) == (1, 1)
    assert (e.he_ms, e.he_family, e.he_address, e.he_lost_ms) == (12.0, "v6", V6A, 2.0)
    assert (e.sequential_ms, e.sequential_family, e.sequential_lost_ms) == (12.0, "v6", 2.0)
    assert (e.v6_connect_ms, e.v4_connect_ms, e.v4_alone_ms) == (12.0, 10.0, 10.0)
    assert e.v6_failed == () and not e.sequential_at_least
    assert judge(e).result == "pass"


def test_ipv6_faster_than_ipv4_loses_nothing() -> None:
    e = ev(row(V6A, ms=5.0), row(V4A, ms=40.0))
    assert (e.he_ms, e.he_lost_ms, e.sequential_lost_ms) == (5.0, 0.0, 0.0)  # never negative


def test_ipv6_slower_than_ipv4_by_more_than_the_attempt_delay_ends_on_ipv4() -> None:
    e = ev(row(V6A, ms=400.0), row(V4A, ms=20.0))
    # IPv4's attempt starts after 250 ms and connects at 270 ms, before IPv6's at 400 ms
    assert (e.he_ms, e.he_family, e.he_address, e.he_lost_ms) == (270.0, "v4", V4A, 250.0)
    assert (e.sequential_ms, e.sequential_family, e.sequential_lost_ms) == (400.0, "v6", 380.0)
    r = judge(e)
    assert r.result == "warn" and r.severity is None
    (reason,) = r.reasons
    assert reason.code == "happy_eyeballs_v4_wins"
    assert reason.params == {"name": NAME, "port": 443, "delay_ms": 250, "he_lost_ms": 250.0, "v6_ms": 400.0,
                             "v4_ms": 20.0, "he_ms": 270.0, "address": V4A}


def test_ipv6_slower_by_less_than_the_attempt_delay_stays_on_ipv6() -> None:
    e = ev(row(V6A, ms=200.0), row(V4A, ms=20.0))
    assert (e.he_ms, e.he_family, e.he_lost_ms) == (200.0, "v6", 180.0)
    assert judge(e).result == "pass"


def test_refused_ipv6_falls_back_at_once() -> None:
    e = ev(row(V6A, "refused", 0.5), row(V4A, ms=10.0))
    # the refusal ends IPv6's attempt: IPv4's starts then, not after the attempt delay
    assert (e.he_ms, e.he_family, e.he_lost_ms) == (10.5, "v4", 0.5)
    assert (e.sequential_ms, e.sequential_family, e.sequential_lost_ms) == (10.5, "v4", 0.5)
    assert e.v6_failed == (V6A,) and e.v6_connect_ms is None and not e.sequential_at_least
    r = judge(e)
    assert r.result == "warn"
    (reason,) = r.reasons
    assert reason.code == "happy_eyeballs_v6_refused"
    assert reason.params == {"name": NAME, "port": 443, "delay_ms": 250, "he_lost_ms": 0.5,
                             "addresses": [f"{V6A} (refused)"], "lost_s": 0.001}


def test_dropped_ipv6_costs_the_attempt_delay_or_the_whole_timeout() -> None:
    e = ev(row(V6A, "timeout", 1666.7, attempts=3), row(V4A, ms=10.0))
    assert (e.he_ms, e.he_family, e.he_lost_ms) == (260.0, "v4", 250.0)
    assert (e.sequential_ms, e.sequential_family, e.sequential_lost_ms) == (1676.7, "v4", 1666.7)
    assert e.sequential_at_least  # the scanner's attempt timeout: a real client waits longer
    r = judge(e)
    assert r.result == "warn"
    (reason,) = r.reasons
    assert reason.code == "happy_eyeballs_v6_dropped"
    assert reason.params == {"name": NAME, "port": 443, "delay_ms": 250, "he_lost_ms": 250.0,
                             "addresses": [f"{V6A} (timeout)"], "lost_s": 1.667}


def test_a_dead_first_aaaa_sends_an_rfc8305_client_to_ipv4() -> None:
    e = ev(row(V6A, "timeout", 1500.0), row(V6B, ms=1.0), row(V4A, ms=5.0))
    assert e.order == (V6A, V4A, V6B)  # section 4: the families interleaved
    assert (e.he_ms, e.he_family) == (255.0, "v4")  # IPv4 at 250 ms, before the second AAAA at 500 ms
    assert (e.sequential_ms, e.sequential_family, e.sequential_at_least) == (1501.0, "v6", True)
    assert e.v6_failed == (V6A,) and e.v6_connect_ms == 1.0
    r = judge(e)
    assert r.result == "warn" and r.reasons[0].code == "happy_eyeballs_v4_wins"


def test_a_dead_second_aaaa_costs_nothing() -> None:
    e = ev(row(V6B, ms=1.0), row(V6A, "timeout", 1500.0), row(V4A, ms=5.0))
    assert (e.he_ms, e.he_family, e.he_address) == (1.0, "v6", V6B)
    assert not e.sequential_at_least and e.v6_failed == (V6A,)
    assert judge(e).result == "pass"


def test_no_attempt_starts_after_the_connection() -> None:
    e = ev(row(V6A, "refused", 1.0), row(V4A, "timeout", 1500.0), row(V6B, ms=100.0), row(V4B, ms=1.0))
    assert e.order == (V6A, V4A, V6B, V4B)
    # V6A fails at 1; V4A starts at 1 and never answers; V6B starts at 251, connects at 351;
    # V4B would start at 501: never made
    assert (e.he_ms, e.he_address) == (351.0, V6B)
    assert e.v4_alone_ms == 1501.0 and e.he_lost_ms == 0.0


def test_interleave_puts_ipv6_first_and_alternates() -> None:
    rows = [row(V4A), row(V4B), row(V6A)]
    assert [r.address for r in interleave(rows)] == [V6A, V4A, V4B]
    assert interleave([]) == []


def test_ipv4_only_and_ipv6_only_sites_are_not_tested() -> None:
    r4 = judge(ev(row(V4A), row(V4B)))
    assert (r4.result, r4.applicable) == ("not_tested", False) and "IPv4-only" in str(r4.reasons[0].params)
    r6 = judge(ev(row(V6A)))
    assert (r6.result, r6.applicable) == ("not_tested", False) and "IPv6-only" in str(r6.reasons[0].params)
    e6 = ev(row(V6A))
    assert e6.he_family == "v6" and e6.he_lost_ms is None and e6.v4_alone_ms is None


def test_nothing_connecting_is_not_tested() -> None:
    e = ev(row(V6A, "timeout", 1500.0), row(V4A, "refused", 1.0))
    assert e.he_ms is None and e.sequential_ms is None and e.he_lost_ms is None
    r = judge(e)
    assert r.result == "not_tested" and "port 443" in str(r.reasons[0].params)


def test_ipv4_broken_and_ipv6_working_passes() -> None:
    e = ev(row(V6A, ms=3.0), row(V4A, "timeout", 1500.0))
    assert (e.he_family, e.he_lost_ms, e.v4_alone_ms) == ("v6", None, None)
    assert judge(e).result == "pass"


def test_a_skipped_observation_is_not_applicable() -> None:
    r = judge(ev(), Status.SKIPPED)
    assert (r.result, r.applicable) == ("not_tested", False)


def test_evidence_round_trips_and_loads_from_nothing() -> None:
    e = ev(row(V6A, "timeout", 1500.0), row(V4A, ms=10.0), port=80)
    data = e.to_json()
    assert HappyEyeballsEvidence.from_json(data) == e and not HappyEyeballsEvidence.from_json(data).extra
    assert data["port"] == 80 and data["attempt_delay_ms"] == ATTEMPT_DELAY_MS
    assert "error" not in data["addresses"][0]  # written only when there is one
    empty = HappyEyeballsEvidence.from_json({})
    assert empty.addresses == () and empty.he_ms is None


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_the_check_weighs_nothing_in_every_builtin_policy(name: str) -> None:
    p = load_policy(name)
    assert p.weight("web.happy_eyeballs") == 0 and not p.required("web.happy_eyeballs")
    r = judge(ev(row(V6A, "timeout", 1500.0), row(V4A)), policy=name)
    assert r.result == "warn"  # shown under every policy, counted under none


def test_the_check_is_declared_as_an_informational_connect_check() -> None:
    c = CHECKS["web.happy_eyeballs"]
    assert c is CHECK and (c.weight, c.required, c.v6_dependent, c.phase, c.stage) == (0, False, True,
                                                                                      Phase.CONNECT, 1)
    assert c.thresholds == {}


# --------------------------------------------------------------------------- a property of the model

_MS = st.floats(min_value=0.0, max_value=5000.0, allow_nan=False, allow_infinity=False)
_STATUS = st.sampled_from(["ok", "ok", "refused", "timeout", "unreachable"])


@st.composite
def _rows(draw: st.DrawFn) -> list[ConnectRow]:
    n6, n4 = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    return [row(f"2001:db8::{i + 1:x}", draw(_STATUS), draw(_MS)) for i in range(n6)] + \
        [row(f"192.0.2.{i + 1}", draw(_STATUS), draw(_MS)) for i in range(n4)]


@given(_rows())
def test_no_client_ever_loses_negative_time(rows: list[ConnectRow]) -> None:
    e = HappyEyeballsEvidence.build(443, rows)
    for lost in (e.he_lost_ms, e.sequential_lost_ms):
        assert lost is None or lost >= 0
    assert (e.he_ms is None) == (not any(r.connected for r in rows)) == (e.sequential_ms is None)


@given(_rows())
def test_an_rfc8305_client_loses_at_most_the_attempt_delay_when_ipv4_works(rows: list[ConnectRow]) -> None:
    e = HappyEyeballsEvidence.build(443, rows)
    v4 = [r for r in rows if r.family == "v4"]
    if v4 and v4[0].connected:  # IPv4 works: its first address connects
        assert e.he_ms is not None and e.he_lost_ms is not None
        assert e.he_ms <= ATTEMPT_DELAY_MS + v4[0].elapsed_ms + 0.001  # its attempt starts by then
        assert e.he_lost_ms <= ATTEMPT_DELAY_MS + 0.001
    # each attempt starts at most one attempt delay after the one before it
    order = list(e.order)
    first = next((i for i, a in enumerate(order) for r in rows if r.address == a and r.connected), None)
    if first is not None:
        t = next(r.elapsed_ms for r in rows if r.address == order[first])
        assert e.he_ms is not None and e.he_ms <= first * ATTEMPT_DELAY_MS + t + 0.001


@given(_MS, _MS)
def test_with_one_address_each_ipv4_wins_exactly_when_ipv6_is_later_by_more_than_the_delay(
        t6: float, t4: float) -> None:
    e = HappyEyeballsEvidence.build(443, [row(V6A, ms=t6), row(V4A, ms=t4)])
    assert (e.he_family == "v4") == (ATTEMPT_DELAY_MS + t4 < t6)
    assert judge(e).result == ("warn" if e.he_family == "v4" else "pass")


# --------------------------------------------------------------------------- the lab

SITES = {"healthy": "healthy.gov.test", "dropped": "dropped.gov.test", "refused": "refused.edu.test",
         "tarpit": "tarpit.com.test", "twoaaaa": "twoaaaa.com.test", "v4only": "v4only.com.test",
         "v6only": "v6only.edu.test"}


@pytest.fixture(scope="module")
def scanned(lab: Lab) -> dict[str, TargetResult]:
    """The sites scanned with every check (the verdict needs every required one)."""
    return scan_sites(lab, SITES)


def he_obs(r: TargetResult) -> Observation:
    return only(r, "web.happy_eyeballs")


def reach_ports(r: TargetResult, port: int) -> dict[str, dict[str, object]]:
    (reach,) = [o for o in r.observations if o.check == "web.reach"]
    return {a["address"]: a["ports"][str(port)] for a in reach.evidence["addresses"]}


def test_healthy_passes_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = he_obs(scanned["healthy"])
    e = CHECK.read(o)
    assert o.status is Status.OK and e.port == 443 and e.order == ("2001:db8:80::10", "203.0.113.70")
    assert e.he_family == "v6" and e.v6_failed == ()
    assert evaluate(o, load_policy()).result == "pass"


def test_the_rows_are_web_reachs_probes(scanned: dict[str, TargetResult]) -> None:
    for sid in ("healthy", "dropped", "refused"):
        e = CHECK.read(he_obs(scanned[sid]))
        ports = reach_ports(scanned[sid], e.port)
        for r in e.addresses:
            p = ports[r.address]
            assert (r.status, r.elapsed_ms, r.attempts) == (p["status"], p["elapsed_ms"], p["attempts"])


def test_dropped_ipv6_warns_with_the_seconds_lost_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = he_obs(scanned["dropped"])
    e = CHECK.read(o)
    assert e.port == 443 and e.v6_failed == ("2001:db8:80::dead",) and e.sequential_at_least
    assert (e.he_family, e.he_address) == ("v4", "203.0.113.72")
    assert e.he_lost_ms == ATTEMPT_DELAY_MS
    assert e.sequential_lost_ms is not None and e.sequential_lost_ms >= 1000  # a whole connect attempt
    r = evaluate(o, load_policy())
    assert r.result == "warn"
    (reason,) = r.reasons
    assert reason.code == "happy_eyeballs_v6_dropped"
    assert reason.params["addresses"] == ["2001:db8:80::dead (timeout)"]
    assert reason.params["lost_s"] == round(e.sequential_lost_ms / 1000, 3) and reason.params["he_lost_ms"] == 250.0
    assert "2001:db8:80::dead" in reason.text()


def test_refused_ipv6_warns_with_a_fast_fallback_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = he_obs(scanned["refused"])
    e = CHECK.read(o)
    assert e.v6_failed == ("2001:db8:80::12",) and not e.sequential_at_least
    assert e.he_family == "v4" and e.he_lost_ms is not None and e.he_lost_ms < ATTEMPT_DELAY_MS
    r = evaluate(o, load_policy())
    assert r.result == "warn" and r.reasons[0].code == "happy_eyeballs_v6_refused"
    assert r.reasons[0].params["addresses"] == ["2001:db8:80::12 (refused)"]


def test_a_tarpit_accepts_tcp_so_happy_eyeballs_stays_on_ipv6(scanned: dict[str, TargetResult]) -> None:
    """Happy Eyeballs races TCP only: the tarpit connects (web.tls and web.http see it stall)."""
    o = he_obs(scanned["tarpit"])
    e = CHECK.read(o)
    assert e.v6_connect_ms is not None and e.v6_failed == ()
    if e.he_family == "v6":  # connects in well under the attempt delay in the lab
        assert evaluate(o, load_policy()).result == "pass"


def test_two_aaaa_one_dead_is_judged_in_the_worst_order(scanned: dict[str, TargetResult]) -> None:
    """Resolvers rotate the AAAA records: some clients try the dead one first.  The check judges
    that order whatever order the lookup returned, so every run and every execution mode agree."""
    o = he_obs(scanned["twoaaaa"])
    e = CHECK.read(o)
    assert e.v6_failed == ("2001:db8:80::dead:2",) and e.v6_connect_ms is not None
    assert e.order[0] == "2001:db8:80::dead:2"  # the dead address first
    assert e.he_family == "v4"  # the attempt delay passes on the dead one: IPv4's attempt wins the race
    assert evaluate(o, load_policy()).result == "warn"


def test_the_worst_order_does_not_depend_on_the_dns_order() -> None:
    dead = ConnectRow(address="2001:db8::d", family="v6", status="timeout", elapsed_ms=1500.0, attempts=3)
    good = ConnectRow(address="2001:db8::1", family="v6", status="ok", elapsed_ms=2.0, attempts=1)
    v4 = ConnectRow(address="198.51.100.1", family="v4", status="ok", elapsed_ms=2.0, attempts=1)
    st = WebState("a.test", v6=["2001:db8::1", "2001:db8::d"], v4=["198.51.100.1"])
    other = WebState("a.test", v6=["2001:db8::d", "2001:db8::1"], v4=["198.51.100.1"])
    for s in (st, other):
        for r in (dead, good, v4):
            s.reach[(r.address, 443)] = Probe(r.address, 443, Status(r.status), r.elapsed_ms, None, r.attempts)
    assert [r.address for r in connects(st, 443)] == [r.address for r in connects(other, 443)] == \
        ["2001:db8::d", "2001:db8::1", "198.51.100.1"]


def test_single_family_sites_are_not_tested_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    for sid in ("v4only", "v6only"):
        r = evaluate(he_obs(scanned[sid]), load_policy())
        assert (r.result, r.applicable) == ("not_tested", False), sid


@pytest.mark.parametrize("policy", BUILTIN_POLICIES)
@pytest.mark.parametrize("sid", list(SITES))
def test_happy_eyeballs_never_changes_a_verdict_or_a_score(scanned: dict[str, TargetResult], sid: str,
                                                           policy: str) -> None:
    r = scanned[sid]
    p = load_policy(policy)
    with_it = score_target(r.target.name, r.observations, p)
    without = score_target(r.target.name, [o for o in r.observations if o.check != "web.happy_eyeballs"], p)
    assert (with_it.verdict, with_it.score, with_it.points) == (without.verdict, without.score, without.points)
    if policy == "default":
        assert with_it.verdict == by_id()[sid].expect["verdict"], with_it.reasons
