"""``dns.v6_path``: the name resolves from the root using IPv6 transport only.

An iterative walk (root, TLD, ..., the zone) asking only IPv6 addresses of name servers, as an
IPv6-only resolver would.  ``ok`` when it reached an authoritative answer, else the status of the
step where it broke.  No root answering over IPv6 from here is the scanner's network
(``scanner_side: "roots"``: inconclusive).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from v6scan.checks.base import Check, Evidence, Phase, Run, optional
from v6scan.checks.dns import walk_v6
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "V6PathEvidence"]


@dataclass(frozen=True, kw_only=True)
class V6PathEvidence(Evidence):
    qname: str = ""
    #: every query of the walk (server, zone, question, reply)
    steps: tuple[Mapping[str, JSON], ...] = ()
    #: "reached" or "broken"
    result: str | None = None
    rcode: str | None = optional()
    answer: tuple[str, ...] | None = optional()
    broken_at: str | None = optional()
    reason: str | None = optional()
    scanner_side: str | None = optional()
    queries: int = 0


async def probe(ctx: Context, run: Run) -> Observation:
    w = await walk_v6(ctx, run.name)
    if w.status is Status.OK:
        ev = V6PathEvidence(qname=run.name, steps=tuple(w.steps), result="reached", rcode=w.rcode,
                            queries=w.queries, answer=tuple(w.answer))
        return CHECK.observe(run.name, Status.OK, ev, None, w.elapsed_ms, w.started_at)
    ev = V6PathEvidence(qname=run.name, steps=tuple(w.steps), result="broken", broken_at=w.broken_at,
                        reason=w.reason, queries=w.queries, scanner_side=w.scanner_side)
    return CHECK.observe(run.name, w.status, ev, w.reason, w.elapsed_ms, w.started_at)


def rule(o: Observation, ev: V6PathEvidence, p: Policy) -> CheckResult:
    if o.status is Status.OK:
        return result(o.check, o.target, "pass")
    if o.status is Status.BLOCKED:
        return not_tested(o.check, o.target, o.error or "blocked")
    if ev.scanner_side:  # no root server answers over IPv6 from here: not the site's doing
        return result(o.check, o.target, "inconclusive", Reason("v6_path_roots_unreachable", {
            "name": o.target, "error": ev.reason or o.error}))
    return result(o.check, o.target, "fail", Reason("v6_path_broken", {
        "name": o.target, "reason": ev.reason or o.error, "zone": ev.broken_at}))


CHECK = Check(
    id="dns.v6_path", title="the name resolves from the root over IPv6 only", order=50, phase=Phase.DNS,
    evidence=V6PathEvidence, probe=probe, rule=rule,
    reasons=("v6_path_roots_unreachable", "v6_path_broken", "not_tested"),
    weight=5, required=True, setting="v6_path",
)
