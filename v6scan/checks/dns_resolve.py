"""``dns.resolve``: the name resolves (A or AAAA).

Every verdict starts here: a name that does not resolve is not assessed further.  When a lookup
got no answer (even if the other one did: a resolver can die between the two) and the scanner's
resolver failed a canary query too, the evidence says ``scanner_side: "resolver"`` and the result
is ``inconclusive`` (the scanner's problem: a sweep measures the target again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from v6scan.checks.base import Check, Evidence, Phase, Run, optional
from v6scan.checks.dns import host
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status
from v6scan.rules import CheckResult, Policy, Reason, result

__all__ = ["CHECK", "ResolveEvidence"]


@dataclass(frozen=True, kw_only=True)
class ResolveEvidence(Evidence):
    #: the A and AAAA lookups (resolver.Answer.to_json)
    a: Mapping[str, JSON] = field(default_factory=dict)
    aaaa: Mapping[str, JSON] = field(default_factory=dict)
    #: the CNAME chain from the name to its addresses (the longer of the two lookups')
    cname_chain: tuple[str, ...] = ()
    #: the resolver canary, asked when both lookups failed
    canary: Mapping[str, JSON] | None = optional()
    #: the alias on the exclusion list ({"name", "entry"}): the name's addresses are not contacted
    excluded: Mapping[str, JSON] | None = optional()
    #: "resolver": the scanner's resolver answered nothing, not even the canary
    scanner_side: str | None = optional()
    #: www. (or other) variants left out because they are on the exclusion list ({"name", "entry"})
    excluded_variants: tuple[Mapping[str, JSON], ...] = optional(())
    #: the addresses given with --address: used instead of the name's A/AAAA records (not looked up)
    pinned: tuple[str, ...] = optional(())


async def probe(ctx: Context, run: Run) -> Observation:
    h = await host(run)
    ev = ResolveEvidence(a=h.a.to_json(), aaaa=h.aaaa.to_json(), cname_chain=tuple(h.cname_chain),
                         canary=h.canary, excluded=h.excluded_alias,
                         scanner_side="resolver" if h.scanner_side else None, pinned=h.pinned)
    return CHECK.observe(run.name, h.status, ev, h.error, h.elapsed_ms, h.started_at)


def rule(o: Observation, ev: ResolveEvidence, p: Policy) -> CheckResult:
    if ev.scanner_side:  # the scanner's resolver, not the name (one lookup may have been answered)
        return result(o.check, o.target, "inconclusive", Reason("resolver_unusable", {
            "name": o.target, "error": o.error or str(o.status)}))
    if o.status is Status.OK:
        return result(o.check, o.target, "pass")
    return result(o.check, o.target, "fail", Reason("dns_unresolved", {
        "name": o.target, "error": o.error or str(o.status)}))


CHECK = Check(
    id="dns.resolve", title="the host resolves", order=10, phase=Phase.LOOKUP,
    evidence=ResolveEvidence, probe=probe, rule=rule,
    reasons=("resolver_unusable", "dns_unresolved"),
    weight=0, required=True, v6_dependent=False, scanner_side=True,
)
