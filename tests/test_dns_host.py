"""The A/AAAA lookup of a name when the scanner's resolver fails between or during the two lookups.

A resolver that dies after answering A and before answering AAAA must not make the site "absent":
the failed lookup is checked against a canary query; a failed canary makes the target the
scanner's problem (``scanner_side: "resolver"``: inconclusive, retried by a sweep), an answered one
gets the name asked again before a failure is blamed on it.  No network: a scripted resolver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest

from v6scan.addresses import AddressPolicy
from v6scan.checks.base import Run
from v6scan.checks.dns import check_host
from v6scan.context import Context
from v6scan.model import Status
from v6scan.registry import CHECKS
from v6scan.resolver import RR, Answer
from v6scan.scoring import load_policy, score_target
from v6scan.settings import Settings
from v6scan.sweep import retryable

T = TypeVar("T")
NAME = "example.org"


class _Resolver:
    """Answers each (name, type) from a script: a list of statuses, one per time it is asked."""

    servers = ("2001:db8:53::53",)

    def __init__(self, script: dict[tuple[str, str], list[Status]]) -> None:
        self.script = script
        self.asked: list[tuple[str, str]] = []

    async def query(self, name: str, qtype: str) -> Answer:
        self.asked.append((name, qtype))
        todo = self.script[(name, qtype)]
        status = todo.pop(0) if len(todo) > 1 else todo[0]
        if status is not Status.OK:
            return Answer(name, qtype, status, error=f"{status} (scripted)")
        data = {"A": "192.0.2.1", "AAAA": "2001:db8::1", "NS": "a.root-servers.net"}[qtype]
        return Answer(name, qtype, Status.OK, (RR(name, qtype, 300, data),))


class _Ctx:
    def __init__(self, resolver: _Resolver) -> None:
        self.resolver = resolver
        self.settings = Settings()
        self.policy = AddressPolicy.from_strings()

    pins: dict[str, tuple[str, ...]] = {}  # noqa: RUF012 (nothing pinned: the resolver answers)

    def excluded(self, name: str) -> None:
        return None

    def pinned(self, name: str, qtype: str) -> None:
        return None

    async def cached(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]], ttl: float | None = None,
                     keep: Callable[[T], bool] | None = None) -> T:
        return await make()


async def _observe(script: dict[tuple[str, str], list[Status]]) -> tuple[list[Any], _Resolver]:
    resolver = _Resolver(script)
    ctx = cast(Context, _Ctx(resolver))
    run = Run(ctx, NAME, NAME)
    obs = [await CHECKS[c].probe(ctx, run) for c in ("dns.resolve", "dns.aaaa")]
    return obs, resolver


@pytest.mark.asyncio
async def test_aaaa_lost_with_the_resolver_is_the_scanners_problem() -> None:
    obs, resolver = await _observe({(NAME, "A"): [Status.OK], (NAME, "AAAA"): [Status.TIMEOUT],
                                    (".", "NS"): [Status.TIMEOUT]})
    resolve, aaaa = obs
    assert resolve.evidence["scanner_side"] == "resolver" and resolve.evidence["canary"]["status"] == "timeout"
    assert "AAAA lookup" in (resolve.error or "") and "canary" in (resolve.error or "")
    assert retryable(obs)  # a sweep measures the target again
    v = score_target(NAME, obs, load_policy())
    assert v.verdict == "inconclusive" and v.reasons[0].code == "resolver_unusable"
    assert (".", "NS") in resolver.asked
    assert aaaa.status is Status.TIMEOUT


@pytest.mark.asyncio
async def test_aaaa_lost_but_the_resolver_answers_is_asked_again() -> None:
    obs, resolver = await _observe({(NAME, "A"): [Status.OK], (NAME, "AAAA"): [Status.TIMEOUT, Status.OK],
                                    (".", "NS"): [Status.OK]})
    resolve, aaaa = obs
    assert "scanner_side" not in resolve.evidence and resolve.evidence["canary"]["asked_again"] is True
    assert resolver.asked.count((NAME, "AAAA")) == 2
    assert aaaa.status is Status.OK and aaaa.evidence["usable"] == []  # 2001:db8::1 is documentation space
    assert not retryable(obs)


@pytest.mark.asyncio
async def test_aaaa_failing_again_after_a_good_canary_is_the_names_finding() -> None:
    obs, _ = await _observe({(NAME, "A"): [Status.OK], (NAME, "AAAA"): [Status.SERVFAIL],
                             (".", "NS"): [Status.OK]})
    resolve, aaaa = obs
    assert resolve.status is Status.OK and "scanner_side" not in resolve.evidence
    assert aaaa.status is Status.SERVFAIL and not retryable(obs)
    assert score_target(NAME, obs, load_policy()).verdict == "absent"


@pytest.mark.asyncio
async def test_both_answered_asks_no_canary() -> None:
    _, resolver = await _observe({(NAME, "A"): [Status.OK], (NAME, "AAAA"): [Status.NODATA]})
    assert (".", "NS") not in resolver.asked


def test_check_host_is_the_lookup_both_checks_read() -> None:
    assert check_host.__module__ == "v6scan.checks.dns"
