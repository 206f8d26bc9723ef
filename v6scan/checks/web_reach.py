"""``web.reach``: every address of the name accepts TCP on ports 80 and 443.

Every address from DNS is accounted for: probed when the address policy allows it, recorded as
``blocked`` with the reason when it does not.  The ports the site serves are those open over IPv4
(over IPv6 for an IPv6-only site); an IPv6 address closed on one of them is a parity gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.webstate import PORTS, BlockedRow, CapHit, WebState, reached
from v6scan.context import Context
from v6scan.model import Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result, retried_result

__all__ = ["CHECK", "ParityGap", "PortProbe", "ReachEvidence", "ReachRow"]


@dataclass(frozen=True, kw_only=True)
class PortProbe(Row):
    """The TCP connect to one port of one address (:meth:`v6scan.net.Probe.to_json`)."""

    status: str = ""
    elapsed_ms: float = 0.0
    attempts: int | None = None
    successes: int | None = None
    error: str | None = optional()
    #: the target this (shared) probe was made for, when not this name
    shared_with: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class ReachRow(Row):
    """One probed address: its probes by port (``"80"``, ``"443"``)."""

    address: str = ""
    family: str = ""
    ports: Mapping[str, PortProbe] = field(default_factory=dict)

    def open(self, port: int) -> bool:
        p = self.ports.get(str(port))
        return p is not None and p.status == str(Status.OK)


@dataclass(frozen=True, kw_only=True)
class ParityGap(Row):
    """A port the site serves that an IPv6 address does not accept."""

    address: str = ""
    port: int = 0
    status: str = ""


@dataclass(frozen=True, kw_only=True)
class ReachEvidence(Evidence):
    addresses: tuple[ReachRow, ...] = ()
    blocked: tuple[BlockedRow, ...] = ()
    open_ports_v4: tuple[int, ...] = ()
    open_ports_v6: tuple[int, ...] = ()
    #: the ports the site serves: open over IPv4; else open over IPv6; else both
    served_ports: tuple[int, ...] = ()
    served_ports_from: str = "none"
    ipv6_only: bool = False
    v6_addresses: int = 0
    v6_fully_open: tuple[str, ...] = ()
    parity_gaps: tuple[ParityGap, ...] = ()
    caps_hit: tuple[CapHit, ...] = optional(())

    @classmethod
    def build(cls, addresses: Sequence[ReachRow], blocked: Sequence[BlockedRow] = (),
              caps_hit: Sequence[CapHit] = ()) -> Self:
        """The evidence of the probed ``addresses`` (IPv6 first, in DNS order), with the open and
        served ports, the fully open IPv6 addresses and the parity gaps derived from them."""
        v6 = [r for r in addresses if r.family == "v6"]
        v4 = [r for r in addresses if r.family == "v4"]
        open_v4 = sorted({p for r in v4 for p in PORTS if r.open(p)})
        open_v6 = sorted({p for r in v6 for p in PORTS if r.open(p)})
        # the ports the site serves: those open over IPv4; with nothing open over IPv4 (an IPv6-only
        # site, or IPv4 down too) those any IPv6 address serves; with nothing open at all, both
        served = open_v4 or open_v6 or list(PORTS)
        return cls(
            addresses=tuple(addresses), blocked=tuple(blocked),
            open_ports_v4=tuple(open_v4), open_ports_v6=tuple(open_v6), served_ports=tuple(served),
            served_ports_from="v4" if open_v4 else "v6" if open_v6 else "none",
            ipv6_only=bool(v6) and not v4 and not any(b.family == "v4" for b in blocked),
            v6_addresses=len(v6),
            v6_fully_open=tuple(r.address for r in v6 if all(r.open(p) for p in served))
            if (open_v4 or open_v6) else (),
            parity_gaps=tuple(ParityGap(address=r.address, port=p, status=_status(r, p))
                              for r in v6 for p in served if not r.open(p)),
            caps_hit=tuple(caps_hit))


def _status(row: ReachRow, port: int) -> str:
    p = row.ports.get(str(port))
    return p.status if p is not None else "not probed"


def _rows(st: WebState) -> list[ReachRow]:
    return [ReachRow(address=a, family=st.family(a),
                     ports={str(p): PortProbe.from_json(st.port_json(a, p)) for p in PORTS})
            for a in [*st.v6, *st.v4]]


async def probe(ctx: Context, run: Run) -> Observation:
    """A TCP connect to ports 80 and 443 of every usable address (shared with the other checks)."""
    sw = Stopwatch()
    st = await reached(run)
    rows = _rows(st)
    ev = ReachEvidence.build(rows, tuple(BlockedRow.from_json(b) for b in st.blocked),
                             st.cap_rows(ctx.settings.max_addresses))
    if not rows and not st.blocked:
        return CHECK.observe(run.name, Status.SKIPPED, ev, "the name has no address", sw.stop(), sw.started_at)
    if not rows:
        return CHECK.observe(run.name, Status.BLOCKED, ev, "no address of the name may be contacted",
                             sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: ReachEvidence, p: Policy) -> CheckResult:
    if o.status in (Status.SKIPPED, Status.BLOCKED) or not ev.v6_addresses:
        return not_tested(o.check, o.target, "no usable IPv6 address")
    v6_rows = [r for r in ev.addresses if r.family == "v6"]
    any_open = any(v.status == "ok" for r in v6_rows for v in r.ports.values())
    if not ev.parity_gaps:
        return retried_result(o.check, o.target, p, ((f"{r.address} port {port}", v.attempts, v.successes)
                                                     for r in v6_rows for port, v in r.ports.items()))
    reasons = [Reason("web_v6_closed", {"address": g.address, "port": g.port, "status": g.status})
               for g in ev.parity_gaps]
    if not any_open:
        return result(o.check, o.target, "fail", Reason("web_no_v6_server", {"name": o.target}), *reasons,
                      severity="broken")
    return result(o.check, o.target, "fail", *reasons, severity="partial")


CHECK = Check(
    id="web.reach", title="every address accepts TCP on 80 and 443", order=60, phase=Phase.CONNECT, stage=0,
    evidence=ReachEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "probe_retried", "web_v6_closed", "web_no_v6_server"),
    weight=15, required=True,
)
