"""``dns.ns_aaaa``: the zone's name servers have IPv6 addresses (at least ``ns_v6_min`` of them).

The zone is the closest one above the name with an NS RRset; its name servers are looked up
(AAAA and A), except those on the exclusion list, at most ``max_ns_hosts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Run, optional
from v6scan.checks.dns import NameServers, NsHost, name_servers
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "NsAaaaEvidence"]


@dataclass(frozen=True, kw_only=True)
class NsAaaaEvidence(Evidence):
    zone: str | None = None
    ns: tuple[NsHost, ...] = ()
    #: name servers on the exclusion list ({"name", "entry"}): not looked up
    excluded: tuple[Mapping[str, JSON], ...] = optional(())
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())
    ns_with_aaaa: tuple[str, ...] = ()
    ns_with_usable_aaaa: tuple[str, ...] = ()
    ns_with_public_aaaa: tuple[str, ...] = ()
    #: the NS lookups made climbing from the name to the zone
    zone_lookups: tuple[Mapping[str, JSON], ...] = ()

    @classmethod
    def build(cls, found: NameServers) -> Self:
        servers = tuple(found.servers)
        return cls(zone=found.zone.name, ns=servers,
                   excluded=tuple({"name": ns, "entry": e} for ns, e in found.excluded.items()),
                   caps_hit=tuple(found.caps_hit),
                   ns_with_aaaa=tuple(s.name for s in servers if s.aaaa),
                   ns_with_usable_aaaa=tuple(s.name for s in servers if s.has_usable_v6),
                   ns_with_public_aaaa=tuple(s.name for s in servers if any(r.public for r in s.aaaa)),
                   zone_lookups=tuple(found.zone.lookups))


async def probe(ctx: Context, run: Run) -> Observation:
    found = await name_servers(run)
    ev = NsAaaaEvidence.build(found)
    zone = found.zone
    if zone.status is not Status.OK or zone.name is None:
        return CHECK.observe(run.name, zone.status, ev, zone.error, found.elapsed_ms, found.started_at)
    if not found.servers and found.excluded:
        why = f"every name server of {zone.name} is on the exclusion list: not contacted"
        return CHECK.observe(run.name, Status.EXCLUDED, ev, why, found.elapsed_ms, found.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, found.elapsed_ms, found.started_at)


def rule(o: Observation, ev: NsAaaaEvidence, p: Policy) -> CheckResult:
    if o.status is not Status.OK:
        return result(o.check, o.target, "fail", Reason("ns_lookup_failed", {"name": o.target, "error": o.error}))
    with_v6 = list(ev.ns_with_usable_aaaa)
    minimum = int(p.t("ns_v6_min"))
    if len(with_v6) >= minimum:
        return result(o.check, o.target, "pass")
    excluded = [str(x.get("name")) for x in ev.excluded]
    if excluded and with_v6 and len(with_v6) + len(excluded) >= minimum:
        # the servers the user excluded were not looked up: whether enough have IPv6 is unknown
        return not_tested(o.check, o.target, f"{len(with_v6)} name server(s) with IPv6; not looked up (on the"
                          f" exclusion list): {', '.join(excluded)}", applicable=False)
    reason = Reason("ns_v6_few", {"zone": ev.zone, "count": len(with_v6), "with_v6": with_v6 or ["-"],
                                  "min": minimum})
    if with_v6 and p.t("ns_v6_one") == "warn":
        return result(o.check, o.target, "warn", reason)
    return result(o.check, o.target, "fail", reason)


CHECK = Check(
    id="dns.ns_aaaa", title="name servers have IPv6 addresses", order=30, phase=Phase.DNS,
    evidence=NsAaaaEvidence, probe=probe, rule=rule,
    reasons=("ns_lookup_failed", "ns_v6_few", "not_tested"),
    weight=10, required=True, thresholds={"ns_v6_min": 2, "ns_v6_one": "warn"}, v6_dependent=False,
)
