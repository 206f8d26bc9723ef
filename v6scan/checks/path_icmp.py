"""``path.icmp``: the IPv6 addresses answer ICMPv6 echo (else: where the path ends).

Echo requests go to every usable IPv6 address of the name (at most ``max_http_addresses``); an
address that does not answer gets a TCP-SYN traceroute to port 443, whose last answering hop says
where the path ends.  It needs a raw ICMPv6 socket (CAP_NET_RAW); without it the check is
``skipped`` with the reason, never an error.  Silence is a warning, never a failure: many sites
filter ICMPv6 echo and still work.  An address's echo and traceroute are shared by every name of
the sweep that has it for ``probe_ttl`` seconds (as web.reach's TCP probes are): sites behind one
address cost one echo, and a silent address one traceroute.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.path import ECHO_TIMEOUT_DIVISOR, TRACE_PORT, echo, new_ident, raw_icmp6_socket, trace
from v6scan.checks.webstate import WebState, reached
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "Echo", "Hop", "IcmpEvidence", "IcmpRow"]

#: the keys a row has only when its address was traced (written together, ``last_hop`` even when None)
_TRACE_KEYS = ("traceroute", "last_hop", "reached")


@dataclass(frozen=True, kw_only=True)
class Echo(Row):
    """The echo requests to one address (:func:`v6scan.checks.path.echo`)."""

    sent: int = 0
    replies: int = 0
    rtt_ms: tuple[float, ...] | None = optional()
    #: why sending failed (then ``rtt_ms`` is absent)
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class Hop(Row):
    """One hop of a traceroute (:func:`v6scan.checks.path.trace`)."""

    hop: int = 0
    #: who answered (a router, or the destination itself)
    address: str | None = optional()
    #: syn-ack, rst, time-exceeded, unreachable/<code>, error, or "*" (nothing)
    reply: str = ""
    destination: bool = optional(False)
    rtt_ms: float | None = optional()
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class IcmpRow(Row):
    """One IPv6 address: its echo and, when it did not answer, its traceroute."""

    address: str = ""
    echo: Echo = field(default_factory=Echo)
    answered: bool = False
    #: the traceroute of an address that did not answer (None: not traced; then ``last_hop`` and
    #: ``reached`` are not written either)
    traceroute: tuple[Hop, ...] | None = None
    #: the last hop that answered the traceroute (None: none did)
    last_hop: str | None = None
    #: the traceroute reached the address itself
    reached: bool | None = None
    #: the name this (shared) row was measured for, when not this one (an address's echo and
    #: traceroute serve every name that has it for ``probe_ttl`` seconds)
    shared_with: str | None = optional()

    @classmethod
    def build(cls, *, address: str, echo: Echo, traceroute: Sequence[Hop] | None = None) -> Self:
        """The row, ``answered`` read from the echo, ``last_hop`` and ``reached`` from the traceroute."""
        if traceroute is None:
            return cls(address=address, echo=echo, answered=bool(echo.replies))
        answered = [h.address for h in traceroute if h.address]
        return cls(address=address, echo=echo, answered=bool(echo.replies), traceroute=tuple(traceroute),
                   last_hop=answered[-1] if answered else None, reached=any(h.destination for h in traceroute))

    def to_json(self) -> dict[str, JSON]:
        out = super().to_json()
        if self.traceroute is None:
            for key in _TRACE_KEYS:
                out.pop(key, None)
        return out


@dataclass(frozen=True, kw_only=True)
class IcmpEvidence(Evidence):
    #: every probed address, in DNS order (absent when nothing could be probed: see ``reason``)
    addresses: tuple[IcmpRow, ...] | None = optional()
    #: the addresses that did not answer echo
    silent: tuple[str, ...] | None = optional()
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())
    #: why nothing was probed ("no CAP_NET_RAW")
    reason: str | None = optional()

    @classmethod
    def build(cls, *, addresses: Sequence[IcmpRow], caps_hit: Sequence[Mapping[str, JSON]] = ()) -> Self:
        """The evidence, ``silent`` read from the rows."""
        return cls(addresses=tuple(addresses), silent=tuple(r.address for r in addresses if not r.answered),
                   caps_hit=tuple(caps_hit))


async def _address(ctx: Context, addr: str) -> IcmpRow:
    """Echo, then (when silent) a traceroute, of one address, on a raw ICMPv6 socket of its own
    (every raw ICMPv6 socket receives a copy of every message: an echo identifier of its own tells
    its replies from the others')."""
    s = ctx.settings
    sock = raw_icmp6_socket()
    if sock is None:
        raise PermissionError(errno.EPERM, "no CAP_NET_RAW")
    try:
        got = Echo.from_json(await echo(sock, addr, new_ident(), max(1, s.attempts), s.timeout / ECHO_TIMEOUT_DIVISOR))
        hops: list[Hop] | None = None
        if not got.replies:
            hops = [Hop.from_json(h) for h in await trace(sock, addr, TRACE_PORT, s.trace_max_hops,
                                                          min(s.timeout, s.trace_hop_timeout), s.trace_silent_hops)]
    finally:
        sock.close()
    return IcmpRow.build(address=addr, echo=got, traceroute=hops)


async def _probe_all(ctx: Context, st: WebState) -> list[IcmpRow]:
    """Each address's echo (and traceroute), one address after the other.  An address's row is
    shared by every name of the sweep that has it, for ``probe_ttl`` seconds (as web.reach's TCP
    probes are): sites behind one address cost one echo, and a silent address one traceroute, not
    one each; the row then says which name it was measured for (``shared_with``)."""
    rows: list[IcmpRow] = []
    for addr in st.v6[: ctx.settings.max_http_addresses]:
        row, made_for = await ctx.cached(("path.icmp", addr), functools.partial(_made_for, ctx, addr, st.name),
                                         ttl=ctx.settings.probe_ttl)
        rows.append(row if made_for == st.name else dataclasses.replace(row, shared_with=made_for))
    return rows


async def _made_for(ctx: Context, addr: str, name: str) -> tuple[IcmpRow, str]:
    return await _address(ctx, addr), name


async def probe(ctx: Context, run: Run) -> Observation:
    st = await reached(run)
    sw = Stopwatch()
    sock = raw_icmp6_socket()
    if sock is None:
        return CHECK.observe(run.name, Status.SKIPPED, IcmpEvidence(reason="no CAP_NET_RAW"),
                             "ICMPv6 needs a raw socket (CAP_NET_RAW): run as root or grant cap_net_raw",
                             sw.stop(), sw.started_at)
    sock.close()
    try:
        rows = await _probe_all(ctx, st)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return CHECK.observe(run.name, Status.SKIPPED, None, f"not permitted: {e.strerror}",
                                 sw.stop(), sw.started_at)
        raise
    ev = IcmpEvidence.build(addresses=rows, caps_hit=[c for c in st.caps_hit(ctx.settings.max_addresses)
                                                      if c["family"] == "v6"])
    if not rows:
        return CHECK.observe(run.name, Status.SKIPPED, ev, "no usable IPv6 address", sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: IcmpEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "skipped", applicable=False)
    silent = [r for r in ev.addresses or () if not r.answered]
    if silent:
        return result(o.check, o.target, "warn", *[Reason("icmp_silent", {
            "address": r.address, "last_hop": r.last_hop or "-"}) for r in silent])
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="path.icmp", title="the IPv6 addresses answer ICMPv6 echo (else: where the path ends)", order=140,
    phase=Phase.CONNECT, stage=1,
    evidence=IcmpEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "icmp_silent"),
    weight=0, required=False, v6_dependent=True,
)
