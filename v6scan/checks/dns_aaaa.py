"""``dns.aaaa``: the name has AAAA records with addresses IPv6 users can reach.

Every AAAA value is classified (global unicast, documentation, ULA, mapped, NAT64, ...); an
address is usable when it is global, or inside the networks the scanner was told to allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Run, optional
from v6scan.checks.dns import AddressRow, address_rows, host
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status
from v6scan.rules import CheckResult, Policy, Reason, result

__all__ = ["CHECK", "AaaaEvidence"]


@dataclass(frozen=True, kw_only=True)
class AaaaEvidence(Evidence):
    addresses: tuple[AddressRow, ...] = ()
    usable: tuple[str, ...] = ()
    not_usable: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    #: the AAAA lookup (resolver.Answer.to_json)
    lookup: Mapping[str, JSON] = field(default_factory=dict)
    #: the A records, classified the same way (for the address counts of reports and internet.nl)
    v4_addresses: tuple[AddressRow, ...] = ()
    #: the addresses came from --address, not from the name's AAAA records (not published yet, maybe)
    pinned: bool = optional(False)

    @classmethod
    def build(cls, addresses: tuple[AddressRow, ...], v4_addresses: tuple[AddressRow, ...],
              cname_chain: tuple[str, ...], lookup: Mapping[str, JSON], pinned: bool = False) -> Self:
        return cls(addresses=addresses, usable=tuple(r.address for r in addresses if r.usable),
                   not_usable=tuple(r.address for r in addresses if not r.usable), cname_chain=cname_chain,
                   lookup=lookup, v4_addresses=v4_addresses, pinned=pinned)


async def probe(ctx: Context, run: Run) -> Observation:
    h = await host(run)
    ev = AaaaEvidence.build(address_rows(ctx, h.aaaa), address_rows(ctx, h.a),
                            tuple(h.aaaa.chain), h.aaaa.to_json(), pinned=bool(h.pinned))
    return CHECK.observe(run.name, h.aaaa.status, ev, h.aaaa.error, h.aaaa.elapsed_ms, h.started_at)


def rule(o: Observation, ev: AaaaEvidence, p: Policy) -> CheckResult:
    if o.status is Status.NODATA:
        return result(o.check, o.target, "fail", Reason("no_aaaa", {"name": o.target}), severity="absent")
    if o.status is not Status.OK:
        return result(o.check, o.target, "fail", Reason("dns_unresolved", {"name": o.target, "error": o.error}),
                      severity="absent")
    described = [f"{r.address} ({r.name})" for r in ev.addresses if not r.usable]
    if not ev.usable:
        return result(o.check, o.target, "fail", Reason("aaaa_not_usable", {
            "name": o.target, "addresses": described}), severity="absent")
    if ev.not_usable:
        return result(o.check, o.target, "warn", Reason("aaaa_some_not_usable", {
            "name": o.target, "addresses": described}))
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="dns.aaaa", title="AAAA records with global addresses", order=20, phase=Phase.LOOKUP,
    evidence=AaaaEvidence, probe=probe, rule=rule,
    reasons=("no_aaaa", "dns_unresolved", "aaaa_not_usable", "aaaa_some_not_usable"),
    weight=20, required=True, v6_dependent=False,
)
