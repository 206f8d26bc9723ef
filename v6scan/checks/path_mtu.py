"""``path.mtu``: the path MTU towards each IPv6 address, and whether Packet Too Big comes back.

For each IPv6 address that accepts on 80 or 443 (at most ``max_http_addresses``): an ICMPv6 echo
request of 1280 bytes (the IPv6 minimum: every path carries it), then of each of ``mtu_sizes``
(1500, 1400: largest first) until one is answered.  Requests leave whole and at their size
whatever the kernel has cached (:func:`v6scan.checks.path.probe_socket_options`).  A router on the
way that cannot forward a size answers with Packet Too Big, dissected with scapy: the router and
the MTU it reports are recorded, and the next request has that size (at most ``mtu_max_probes``
sizes above 1280, whatever routers report).  So an address ends:

* ``full``: the largest size is answered (the reply may come back in fragments: the server
  honoured a Packet Too Big on the way back), or the largest the scanner's own link sends;
* ``ptb_honoured``: a router reported a smaller MTU and requests of that size are answered;
* ``path_1280``: ... and that MTU is 1280, the IPv6 minimum (a tunnel, a narrow link);
* ``blackhole``: 1280 bytes are answered but a bigger size vanishes (silence, or an ICMPv6 error
  other than Packet Too Big), without a Packet Too Big or despite one (PTB filtered: on the way
  there, or to the server on the way back);
* ``inconclusive``: even 1280 bytes go unanswered (echo filtered).  Then TCP says what it can:
  the homepage over the normal MSS, and when that stalls after connecting, with the MSS clamped to
  1220 (as ``path.pmtu`` does): full size failing where 1280-byte packets pass is a blackhole.

Retry before blaming: each size (1280 too: the baseline) is tried up to ``echo_attempts`` times
until something comes back (a lost datagram is a lost try, and a big request's answer often comes
back in fragments: more datagrams to lose), and each TCP transfer up to ``attempts`` times while it
fails as a lost packet explains (:mod:`v6scan.attempts`).

It needs raw sockets (CAP_NET_RAW); without them the check is ``skipped`` with the reason.
Informational: ``path.pmtu`` is the check whose blackhole verdict counts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

from v6scan.attempts import retried
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.path import (
    CLAMPED_MSS,
    ICMP6_ECHO_REPLY,
    IPV6_MIN_MTU,
    new_ident,
    probe_socket_options,
    raw_icmp6_socket,
    sized_echo,
    transfer,
)
from v6scan.checks.webstate import WebState, reached
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "MtuEvidence", "MtuProbe", "MtuRow", "TcpProbe"]

#: the outcomes of one address
RESULTS = ("full", "ptb_honoured", "path_1280", "blackhole", "inconclusive")


@dataclass(frozen=True, kw_only=True)
class MtuProbe(Row):
    """Echo requests of one size to one address (tried up to ``attempts`` times until something
    came back): what came back."""

    #: bytes of the IPv6 packet
    size: int = 0
    #: echo-reply, packet-too-big, another ICMPv6 error (``unreachable/3``...), silent, or send-error
    reply: str = ""
    attempts: int = 1
    #: who sent the ICMPv6 error (a router on the way)
    router: str | None = optional()
    #: the MTU a Packet Too Big reported
    mtu: int | None = optional()
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class TcpProbe(Row):
    """A TCP transfer of the homepage (:func:`v6scan.checks.path.transfer`) with the MSS ``mss``
    (None: the normal one), for an address that ignores echo: the last of ``attempts`` tries."""

    mss: int | None = None
    status: str = ""
    attempts: int = optional(1)
    phase: str | None = optional()
    bytes: int | None = optional()
    elapsed_ms: float | None = optional()
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class MtuRow(Row):
    """One IPv6 address: its echo requests (and TCP transfers), what came back, its outcome."""

    address: str = ""
    #: echo, or tcp (echo went unanswered)
    method: str = "echo"
    probes: tuple[MtuProbe, ...] = ()
    tcp: tuple[TcpProbe, ...] = optional(())
    #: every Packet Too Big received: {"router": ..., "mtu": ...}
    ptb: tuple[Mapping[str, JSON], ...] = ()
    #: the largest size answered (None: none, or only TCP spoke)
    path_mtu: int | None = None
    #: one of :data:`RESULTS`
    result: str = ""

    @classmethod
    def build(cls, *, address: str, probes: Sequence[MtuProbe], tcp: Sequence[TcpProbe] = ()) -> Self:
        """The row, its Packet Too Big list, path MTU and result read from the probes."""
        ptb = tuple({"router": p.router, "mtu": p.mtu} for p in probes if p.reply == "packet-too-big")
        answered = [p.size for p in probes if p.reply == "echo-reply"]
        if not answered:
            return cls(address=address, method="tcp" if tcp else "echo", probes=tuple(probes), tcp=tuple(tcp),
                       ptb=ptb, path_mtu=None, result=_tcp_result(tcp))
        largest = max(answered)
        if any(_vanished(p) and p.size > largest for p in probes):
            outcome = "blackhole"
        elif ptb:
            outcome = "path_1280" if largest <= IPV6_MIN_MTU else "ptb_honoured"
        else:
            outcome = "full"
        return cls(address=address, probes=tuple(probes), ptb=ptb, path_mtu=largest, result=outcome)


def _vanished(p: MtuProbe) -> bool:
    """Nothing usable came back for ``p``: silence, or an ICMPv6 error other than Packet Too Big (a
    filter).  A send error is the scanner's own limit (its link's MTU), not the path's."""
    return p.reply not in ("echo-reply", "packet-too-big", "send-error")


def _tcp_result(tcp: Sequence[TcpProbe]) -> str:
    full = next((t for t in tcp if t.mss is None), None)
    clamped = next((t for t in tcp if t.mss is not None), None)
    if full is not None and full.status == "ok":
        return "full"
    if full is not None and full.phase != "connect" and clamped is not None and clamped.status == "ok":
        return "blackhole"
    return "inconclusive"


@dataclass(frozen=True, kw_only=True)
class MtuEvidence(Evidence):
    #: every probed address, in DNS order (absent when nothing could be probed: see ``reason``)
    addresses: tuple[MtuRow, ...] | None = optional()
    #: the addresses whose result is a blackhole
    blackholes: tuple[str, ...] = ()
    #: the addresses whose path MTU is below the largest size tried (a router said so)
    narrow: tuple[str, ...] = ()
    #: the sizes tried above 1280 (``mtu_sizes``)
    sizes: tuple[int, ...] = ()
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())
    #: why nothing was probed ("no CAP_NET_RAW")
    reason: str | None = optional()

    @classmethod
    def build(cls, *, addresses: Sequence[MtuRow], sizes: Sequence[int],
              caps_hit: Sequence[Mapping[str, JSON]] = ()) -> Self:
        """The evidence, ``blackholes`` and ``narrow`` read from the rows."""
        return cls(addresses=tuple(addresses), sizes=tuple(sizes), caps_hit=tuple(caps_hit),
                   blackholes=tuple(r.address for r in addresses if r.result == "blackhole"),
                   narrow=tuple(r.address for r in addresses if r.result in ("ptb_honoured", "path_1280")))


async def _size(ctx: Context, sock: socket.socket, addr: str, size: int) -> MtuProbe:
    """Echo requests of ``size`` bytes to ``addr``, up to ``echo_attempts`` of them, until one is
    answered or reported on."""
    s = ctx.settings
    wait = min(s.timeout, s.mtu_wait)
    ident = new_ident()
    tries = max(1, s.echo_attempts)
    for n in range(1, tries + 1):
        got, err = await sized_echo(sock, addr, ident, n, size, wait)
        if err is not None:
            return MtuProbe(size=size, reply="send-error", attempts=n, error=err)
        if got is not None:
            return MtuProbe(size=size, reply=got.name, attempts=n,
                            router=None if got.type == ICMP6_ECHO_REPLY else got.source, mtu=got.mtu)
    return MtuProbe(size=size, reply="silent", attempts=tries)


async def _echoes(ctx: Context, sock: socket.socket, addr: str) -> list[MtuProbe]:
    """1280 bytes, then the bigger sizes, largest first; a Packet Too Big's MTU is the next size."""
    first = await _size(ctx, sock, addr, IPV6_MIN_MTU)
    probes = [first]
    if first.reply != "echo-reply":
        return probes
    sizes = sorted({x for x in ctx.settings.mtu_sizes if x > IPV6_MIN_MTU}, reverse=True)
    tried = {IPV6_MIN_MTU}
    while sizes and len(probes) < 1 + ctx.settings.mtu_max_probes:  # routers' MTUs cannot make it go on
        size = sizes.pop(0)
        if size in tried:
            continue
        tried.add(size)
        p = await _size(ctx, sock, addr, size)
        probes.append(p)
        if p.reply == "echo-reply":
            break
        if p.reply == "packet-too-big" and p.mtu is not None:
            # the router's word: try exactly its MTU next (1280 at least, below this size)
            sizes = [max(IPV6_MIN_MTU, min(p.mtu, size - 1))] + [x for x in sizes if x < p.mtu]
    return probes


async def _tcp(ctx: Context, st: WebState, addr: str) -> list[TcpProbe]:
    """The homepage with the normal MSS and, when that stalls after connecting, with 1220 (each
    tried again while it fails as a lost packet explains: a lost SYN or a stalled handshake on a
    lossy path is no blackhole)."""
    port = 443 if st.open(addr, 443) else 80

    async def once(mss: int | None) -> TcpProbe:
        async with ctx.slot(addr):
            out = await transfer(addr, port, st.name, ctx.loose_ctx, ctx.settings.timeout, mss,
                                 ctx.settings.mtu_tcp_read)
        return TcpProbe.from_json({**out, "mss": mss})

    async def one(mss: int | None) -> TcpProbe:
        last, n = await retried(functools.partial(once, mss), lambda t: Status(t.status), ctx.settings.retry)
        return dataclasses.replace(last, attempts=n)

    full = await one(None)
    if full.status == "ok" or full.phase == "connect":
        return [full]
    return [full, await one(CLAMPED_MSS)]


async def _sized_echoes(ctx: Context, addr: str) -> list[MtuProbe]:
    """The echo requests of one address, on a raw ICMPv6 socket of its own (every raw ICMPv6 socket
    receives a copy of every message; two probes reading one socket would take each other's)."""
    sock = raw_icmp6_socket()
    if sock is None:
        raise PermissionError(errno.EPERM, "no CAP_NET_RAW")
    try:
        probe_socket_options(sock)
        return await _echoes(ctx, sock, addr)
    finally:
        sock.close()


async def _measure(ctx: Context, st: WebState, addr: str) -> MtuRow:
    """One address: its echo requests (shared by every name of the sweep that has the address for
    ``probe_ttl`` seconds, as path.frag's are: the path to an address is the same whichever site it
    serves), then, when no echo was answered, the name's homepage over TCP."""
    probes = await ctx.cached(("path.mtu", addr), functools.partial(_sized_echoes, ctx, addr),
                              ttl=ctx.settings.probe_ttl)
    tcp = await _tcp(ctx, st, addr) if not any(p.reply == "echo-reply" for p in probes) else []
    return MtuRow.build(address=addr, probes=probes, tcp=tcp)


async def probe(ctx: Context, run: Run) -> Observation:
    st = await reached(run)
    sw = Stopwatch()
    targets = [a for a in st.v6[: ctx.settings.max_http_addresses] if st.open(a, 443) or st.open(a, 80)]
    if not targets:
        return CHECK.observe(run.name, Status.SKIPPED, MtuEvidence(), "no IPv6 address accepts on port 80 or 443",
                             sw.stop(), sw.started_at)
    sock = raw_icmp6_socket()
    if sock is None:
        return CHECK.observe(run.name, Status.SKIPPED, MtuEvidence(reason="no CAP_NET_RAW"),
                             "ICMPv6 needs a raw socket (CAP_NET_RAW): run as root or grant cap_net_raw",
                             sw.stop(), sw.started_at)
    sock.close()
    try:
        rows = await asyncio.gather(*(_measure(ctx, st, a) for a in targets))
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return CHECK.observe(run.name, Status.SKIPPED, MtuEvidence(reason="not permitted"),
                                 f"not permitted: {e.strerror}", sw.stop(), sw.started_at)
        raise
    ev = MtuEvidence.build(addresses=rows, sizes=ctx.settings.mtu_sizes,
                           caps_hit=[c for c in st.caps_hit(ctx.settings.max_addresses) if c["family"] == "v6"])
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _hop(r: MtuRow) -> tuple[str, int | str]:
    """The router and MTU of the last Packet Too Big of ``r`` ("-" when none came)."""
    if not r.ptb:
        return "-", "-"
    last = r.ptb[-1]
    mtu = last.get("mtu")
    return str(last.get("router") or "-"), mtu if isinstance(mtu, int) else "-"


def rule(o: Observation, ev: MtuEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "skipped", applicable=False)
    rows = list(ev.addresses or ())
    holes = [r for r in rows if r.result == "blackhole"]
    if holes:
        reasons = []
        for r in holes:
            router, mtu = _hop(r)
            # the smallest size that vanished
            lost = min((x.size for x in r.probes if _vanished(x) and x.size > (r.path_mtu or 0)), default=0)
            reasons.append(Reason("mtu_blackhole", {"address": r.address, "largest": r.path_mtu or IPV6_MIN_MTU,
                                                    "size": lost or "-", "router": router, "mtu": mtu}))
        return result(o.check, o.target, "warn", *reasons)
    notes = []
    for r in rows:
        router, mtu = _hop(r)
        if r.result == "path_1280":
            notes.append(Reason("mtu_1280", {"address": r.address, "router": router}))
        elif r.result == "ptb_honoured":
            notes.append(Reason("mtu_ptb", {"address": r.address, "router": router, "mtu": mtu}))
    if rows and all(r.result == "inconclusive" for r in rows):
        return not_tested(o.check, o.target, "no IPv6 address answered ICMPv6 echo or a TCP transfer",
                          applicable=False)
    return result(o.check, o.target, "pass", *notes)


CHECK = Check(
    id="path.mtu", title="the path MTU towards each IPv6 address; Packet Too Big honoured, not filtered",
    order=190, phase=Phase.CONNECT, stage=1,
    evidence=MtuEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "mtu_blackhole", "mtu_1280", "mtu_ptb"),
    weight=0, required=False, v6_dependent=True, in_sweeps=False,
)
