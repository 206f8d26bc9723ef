"""``dns.ns_reach``: every name-server address answers the zone's SOA over UDP and TCP.

One probe per (name server, address, transport), over IPv6 and IPv4; an answer without the AA
flag, or REFUSED/SERVFAIL/NOTAUTH, is a lame server (not answered).  Probes of a zone are shared
by every site in it for ``probe_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Run, optional
from v6scan.checks.dns import NsHost, NsProbe, name_servers, ns_probe_key, probe_ns
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result, retried_result

__all__ = ["CHECK", "NsProbe", "NsReachEvidence"]


@dataclass(frozen=True, kw_only=True)
class NsReachEvidence(Evidence):
    zone: str | None = None
    qname: str | None = optional()
    probes: tuple[NsProbe, ...] = optional(())
    v6_probes: int | None = optional()
    v6_answered: int | None = optional()
    failed: tuple[str, ...] | None = optional()
    #: when the zone was not found: what dns.ns_aaaa records (no servers, the NS lookups made)
    ns: tuple[NsHost, ...] | None = optional()
    zone_lookups: tuple[Mapping[str, JSON], ...] | None = optional()
    #: when every name server is on the exclusion list: which, and the entry that matched ({"name", "entry"})
    excluded: tuple[Mapping[str, JSON], ...] = optional(())

    @classmethod
    def build(cls, zone: str, probes: tuple[NsProbe, ...]) -> Self:
        v6 = [p for p in probes if p.family == "v6" and p.status != str(Status.BLOCKED)]
        failed = [p for p in probes if not p.answered and p.status != str(Status.BLOCKED)]
        return cls(zone=zone, qname=zone, probes=probes, v6_probes=len(v6),
                   v6_answered=sum(1 for p in v6 if p.answered),
                   failed=tuple(f"{p.label}: {p.error or p.status}" for p in failed))


async def probe(ctx: Context, run: Run) -> Observation:
    found = await name_servers(run)
    zone = found.zone
    if zone.status is not Status.OK or zone.name is None:
        # the zone's lookups, as dns.ns_aaaa records them
        ev = NsReachEvidence(zone=zone.name, ns=(), zone_lookups=tuple(zone.lookups))
        return CHECK.observe(run.name, Status.SKIPPED, ev, f"no name servers to probe: {zone.error}", 0.0,
                             found.started_at)
    if not found.servers and found.excluded:
        why = f"every name server of {zone.name} is on the exclusion list: not contacted"
        ev = NsReachEvidence(zone=zone.name, ns=(), zone_lookups=tuple(zone.lookups),
                             excluded=tuple({"name": ns, "entry": e} for ns, e in found.excluded.items()))
        return CHECK.observe(run.name, Status.EXCLUDED, ev, why, 0.0, found.started_at)
    sw = Stopwatch()
    # every site of a zone shares these rows: most are ready, and are read without a task each
    want = [(s.name, row, family, transport) for s in found.servers for family, rows in (("v6", s.aaaa), ("v4", s.a))
            for row in rows for transport in ("udp", "tcp")]
    rows: list[NsProbe | None] = []
    for ns, row, family, transport in want:
        done, value = (False, None) if not row.usable else \
            ctx.ready(ns_probe_key(zone.name, ns, row, family, transport), ctx.settings.probe_ttl)
        rows.append(value if done else None)
    missing = [i for i, r in enumerate(rows) if r is None]
    for i, r in zip(missing, await asyncio.gather(*(probe_ns(ctx, zone.name, *want[i]) for i in missing)), strict=True):
        rows[i] = r
    probes = tuple(r for r in rows if r is not None)
    ev = NsReachEvidence.build(zone.name, probes)
    if not probes:
        status, err = Status.SKIPPED, "the name servers have no addresses"
    elif all(p.status == str(Status.BLOCKED) for p in probes):
        status, err = Status.BLOCKED, "every name server address is outside the allowed networks"
    else:
        status, err = Status.OK, None
    return CHECK.observe(run.name, status, ev, err, sw.stop(), sw.started_at)


def rule(o: Observation, ev: NsReachEvidence, p: Policy) -> CheckResult:
    if o.status in (Status.SKIPPED, Status.BLOCKED):
        return not_tested(o.check, o.target, o.error or str(o.status))
    v6 = [x for x in ev.probes if x.family == "v6" and x.status != "blocked"]
    if not v6:
        return not_tested(o.check, o.target, "no name server has a usable IPv6 address")
    failed = [x.label for x in v6 if not x.answered]
    if failed:
        return result(o.check, o.target, "fail", Reason("ns_v6_unreachable", {"failed": failed}))
    return retried_result(o.check, o.target, p, ((x.label, x.attempts, x.successes) for x in v6))


CHECK = Check(
    id="dns.ns_reach", title="every name server address answers over UDP and TCP", order=40, phase=Phase.DNS,
    evidence=NsReachEvidence, probe=probe, rule=rule,
    reasons=("ns_v6_unreachable", "probe_retried", "not_tested"),
    weight=10, required=True,
)
