"""Field-truth rules without the network: retries (v6scan.attempts) and how scoring treats a
retried answer, the scanner's side, IPv6-only sites and a stale server behind a second AAAA."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_scoring import DOMAIN, POLICIES, site
from v6scan.attempts import MAX_PAUSE, Retry, cancelled_by_us, retried
from v6scan.model import Observation, Status
from v6scan.scoring import score_target
from v6scan.similarity import compare

# --------------------------------------------------------------------------- retried()


def run(outcomes: list[Status], retry: Retry) -> tuple[Status, int, int]:
    calls = 0

    async def make() -> Status:
        nonlocal calls
        calls += 1
        return outcomes[min(calls, len(outcomes)) - 1]

    out, n = asyncio.run(retried(make, lambda s: s, retry))
    return out, n, calls


def test_a_transient_failure_is_tried_again_until_an_answer() -> None:
    assert run([Status.TIMEOUT, Status.OK], Retry(3, 0.0)) == (Status.OK, 2, 2)
    assert run([Status.UNREACHABLE, Status.ERROR, Status.OK], Retry(3, 0.0)) == (Status.OK, 3, 3)


def test_attempts_are_bounded_and_the_last_outcome_counts() -> None:
    assert run([Status.TIMEOUT], Retry(3, 0.0)) == (Status.TIMEOUT, 3, 3)
    assert run([Status.TIMEOUT], Retry(1, 0.0)) == (Status.TIMEOUT, 1, 1)


@pytest.mark.parametrize("answer", [Status.OK, Status.REFUSED, Status.TLS_ERROR, Status.NXDOMAIN, Status.BLOCKED])
def test_an_answer_is_final(answer: Status) -> None:
    assert run([answer, Status.OK], Retry(3, 0.0)) == (answer, 1, 1)


@given(st.integers(min_value=1, max_value=30), st.floats(min_value=0, max_value=5))
def test_pauses_double_and_are_capped(done: int, backoff: float) -> None:
    r = Retry(3, backoff)
    assert r.pause(done) <= MAX_PAUSE
    assert r.pause(done) == min(backoff * 2 ** (done - 1), MAX_PAUSE)


def test_a_cancelled_future_is_not_a_cancellation_of_ours() -> None:
    async def main() -> tuple[bool, bool]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.cancel()
        try:
            await fut
        except asyncio.CancelledError:
            foreign = cancelled_by_us()
        ours = False

        async def victim() -> None:
            nonlocal ours
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                ours = cancelled_by_us()
                raise

        t = asyncio.ensure_future(victim())
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        return foreign, ours

    assert asyncio.run(main()) == (False, True)


# --------------------------------------------------------------------------- scoring


def edit(obs: list[Observation], check: str, change: Any) -> list[Observation]:
    out = []
    for o in obs:
        if o.check == check and o.target == DOMAIN:
            ev = dict(o.evidence)
            change(ev)
            o = dataclasses.replace(o, evidence=ev)
        out.append(o)
    return out


def retried_probes(ev: dict[str, Any]) -> None:
    ev["probes"] = [{**p, "attempts": 2, "successes": 1} if p.get("family") == "v6" else p
                    for p in ev["probes"]]


@pytest.mark.parametrize("policy", ["default", "cn-gov"])
def test_a_retried_answer_is_an_intermittent_warn_that_costs_nothing(policy: str) -> None:
    base = score_target(DOMAIN, site(), POLICIES[policy])
    sv = score_target(DOMAIN, edit(site(), "dns.ns_reach", retried_probes), POLICIES[policy])
    r = sv.check("dns.ns_reach", DOMAIN)
    assert r is not None and r.result == "warn" and r.severity == "intermittent"
    assert r.reasons[0].code == "probe_retried" and "50%" in r.reasons[0].text()
    assert "重试" in r.reasons[0].text("zh-CN")
    assert (sv.verdict, sv.score) == (base.verdict, base.score)


def test_a_probe_that_never_answered_is_still_a_fail() -> None:
    def dead(ev: dict[str, Any]) -> None:
        ev["probes"] = [{**p, "attempts": 5, "successes": 0, "answered": False, "status": "timeout"}
                        if p.get("family") == "v6" else p for p in ev["probes"]]

    r = score_target(DOMAIN, edit(site(), "dns.ns_reach", dead), POLICIES["default"]).check("dns.ns_reach", DOMAIN)
    assert r is not None and r.result == "fail"


def test_unreachable_roots_are_inconclusive_and_cost_nothing() -> None:
    def roots(ev: dict[str, Any]) -> None:
        ev.update(scanner_side="roots", result="broken", broken_at=".", reason="no root server answered")

    obs = [dataclasses.replace(o, status=Status.TIMEOUT) if o.check == "dns.v6_path" else o
           for o in edit(site(), "dns.v6_path", roots)]
    base = score_target(DOMAIN, site(), POLICIES["default"])
    sv = score_target(DOMAIN, obs, POLICIES["default"])
    r = sv.check("dns.v6_path", DOMAIN)
    assert r is not None and r.result == "inconclusive" and r.reasons[0].code == "v6_path_roots_unreachable"
    assert (sv.verdict, sv.score) == (base.verdict, base.score)
    assert any(x.code == "v6_path_roots_unreachable" for x in sv.reasons)


def test_a_dead_resolver_makes_the_site_inconclusive_not_an_error() -> None:
    obs = []
    for o in site():
        if o.check == "dns.resolve":
            o = dataclasses.replace(o, status=Status.TIMEOUT, error="no answer",
                                    evidence={**o.evidence, "scanner_side": "resolver"})
        obs.append(o)
    sv = score_target(DOMAIN, obs, POLICIES["default"])
    assert sv.verdict == "inconclusive" and sv.reasons[0].code == "resolver_unusable"
    assert "--resolver" in sv.reasons[0].fix()


def test_a_stale_second_aaaa_is_partial_and_named() -> None:
    def stale(ev: dict[str, Any]) -> None:
        ev["addresses"] = [
            {"address": "2001:db8::1", "similarity": 1.0, "same_status": True, "differences": []},
            {"address": "2001:db8::2", "similarity": 0.2, "same_status": True, "differences": ["title differs"]},
        ]
        ev["similarity"] = 0.2

    sv = score_target(DOMAIN, edit(site(), "web.same_site", stale), POLICIES["default"])
    r = sv.check("web.same_site", DOMAIN)
    assert r is not None and (r.result, r.severity) == ("fail", "partial")
    assert [x.params["address"] for x in r.reasons] == ["2001:db8::2"]
    assert sv.verdict == "partial"


def test_digits_do_not_make_pages_different() -> None:
    a = "<p>generated at 2026-11-30T05:00:01 (1796014581.123) item-1796014581 visitors 1234</p>"
    b = "<p>generated at 2026-11-30T05:00:02 (1796014582.456) item-1796014582 visitors 1299</p>"
    assert compare({}, {}, a, b).similarity == 1.0
