"""``path.pmtu``: no PMTU blackhole on the IPv6 path.

The homepage is fetched over each IPv6 address that accepts on 443 (else 80) with the normal MSS;
when that transfer stalls after connecting, again with the MSS clamped to 1220 (every packet fits
the IPv6 minimum MTU), and when the clamped one gets through, with the normal MSS once more (a
blackhole stalls every time, a lost packet does not).  Full size failing where 1280-byte packets
pass is a blackhole: a narrower hop whose ICMPv6 Packet Too Big never reaches the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from v6scan.attempts import retried
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.path import CLAMPED_MSS, transfer
from v6scan.checks.webstate import WebState, reached
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "PmtuEvidence", "PmtuRow", "Transfer"]


@dataclass(frozen=True, kw_only=True)
class Transfer(Row):
    """One transfer of the homepage (:func:`v6scan.checks.path.transfer`), or ``status:
    "not_needed"`` alone for a clamped transfer that was not made."""

    #: a :class:`~v6scan.model.Status`, or "not_needed"
    status: str = ""
    bytes: int | None = optional()
    #: how far it got: connect, handshake, request, response, body
    phase: str | None = optional()
    elapsed_ms: float | None = optional()
    error: str | None = optional()
    attempts: int | None = optional()


@dataclass(frozen=True, kw_only=True)
class PmtuRow(Row):
    """One IPv6 address: its transfers and what they say (ok, blackhole, inconclusive)."""

    address: str = ""
    port: int = 0
    result: str = ""
    full_mss: Transfer = field(default_factory=Transfer)
    mss_1220: Transfer = field(default_factory=Transfer)

    @classmethod
    def build(cls, *, address: str, port: int, full: Transfer, clamped: Transfer) -> Self:
        """The row, its ``result`` read from the two transfers."""
        if full.status == "ok":
            outcome = "ok"
        elif full.phase == "connect":
            outcome = "inconclusive"  # no connection at all: small packets failed too, not the path MTU
        elif clamped.status == "ok":
            outcome = "blackhole"
        else:
            outcome = "inconclusive"
        return cls(address=address, port=port, result=outcome, full_mss=full, mss_1220=clamped)


@dataclass(frozen=True, kw_only=True)
class PmtuEvidence(Evidence):
    #: every IPv6 address that accepts on 80 or 443, in DNS order
    addresses: tuple[PmtuRow, ...] = ()
    #: the addresses whose result is a blackhole
    blackholes: tuple[str, ...] = ()
    clamped_mss: int = CLAMPED_MSS
    #: the max_addresses cap of the IPv6 addresses (written, possibly empty, when any family hit it)
    caps_hit: tuple[Mapping[str, JSON], ...] | None = optional()

    @classmethod
    def build(cls, *, addresses: Sequence[PmtuRow],
              caps_hit: Sequence[Mapping[str, JSON]] | None = None) -> Self:
        """The evidence, ``blackholes`` read from the rows."""
        return cls(addresses=tuple(addresses),
                   blackholes=tuple(r.address for r in addresses if r.result == "blackhole"),
                   caps_hit=None if caps_hit is None else tuple(caps_hit))


async def _transfers(ctx: Context, st: WebState, addr: str, port: int, mss: int | None, attempts: int) -> Transfer:
    """A transfer from ``addr``, tried up to ``attempts`` times until it gets through."""
    async def once() -> dict[str, JSON]:
        async with ctx.slot(addr):
            return await transfer(addr, port, st.name, ctx.loose_ctx, ctx.settings.timeout, mss,
                                  ctx.settings.pmtu_max_read)

    out, n = await retried(once, lambda r: Status(str(r["status"])),
                           dataclasses.replace(ctx.settings.retry, attempts=attempts),
                           transient=lambda r: r["status"] != "ok")
    return Transfer.from_json({**out, "attempts": n})


async def _measure(ctx: Context, st: WebState, addr: str) -> PmtuRow:
    """Full size first; if it fails, 1280-byte packets; only when those get through is the full size
    tried again before the path is called a blackhole.  A server that fails both ways is no PMTU
    finding: not retried."""
    port = 443 if st.open(addr, 443) else 80
    full = await _transfers(ctx, st, addr, port, None, 1)
    clamped = Transfer(status="not_needed")
    if full.status != "ok" and full.phase != "connect":
        clamped = await _transfers(ctx, st, addr, port, CLAMPED_MSS, 1)
        if clamped.status == "ok" and ctx.settings.attempts > 1:
            again = await _transfers(ctx, st, addr, port, None, ctx.settings.attempts - 1)
            full = dataclasses.replace(again, attempts=(again.attempts or 1) + 1)
    return PmtuRow.build(address=addr, port=port, full=full, clamped=clamped)


async def probe(ctx: Context, run: Run) -> Observation:
    st = await reached(run)
    sw = Stopwatch()
    targets = [a for a in st.v6 if st.open(a, 443) or st.open(a, 80)]
    rows = await asyncio.gather(*(_measure(ctx, st, a) for a in targets))
    caps = st.caps_hit(ctx.settings.max_addresses)
    ev = PmtuEvidence.build(addresses=rows, caps_hit=[c for c in caps if c["family"] == "v6"] if caps else None)
    if not targets:
        return CHECK.observe(run.name, Status.SKIPPED, ev, "no IPv6 address accepts on port 80 or 443",
                             sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: PmtuEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "nothing to probe", applicable=False)
    holes = [r for r in ev.addresses if r.result == "blackhole"]
    if holes:
        reasons = [Reason("pmtu_blackhole", {"address": r.address, "phase": r.full_mss.phase,
                                             "bytes": r.full_mss.bytes}) for r in holes]
        ok = [r for r in ev.addresses if r.result == "ok"]
        return result(o.check, o.target, "fail", *reasons, severity="partial" if ok else "broken")
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="path.pmtu", title="no PMTU blackhole on the IPv6 path", order=130, phase=Phase.CONNECT, stage=1,
    evidence=PmtuEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "pmtu_blackhole"),
    weight=0, required=True, v6_dependent=True,
)
