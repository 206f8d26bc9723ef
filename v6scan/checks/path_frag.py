"""``path.frag``: the IPv6 web and name-server addresses answer fragments and extension headers.

To each IPv6 address of the name that accepts on 80 or 443 (at most ``max_http_addresses``), and to
each IPv6 address of the zone's name servers that answered ``dns.ns_reach``'s query over UDP (its
probe, shared), three ICMPv6 echo requests of ``frag_echo_size`` bytes, built with scapy and sent
on a raw socket (:func:`v6scan.checks.path.send_packets`): whole (the baseline: an address that
ignores echo says nothing about fragments), split into two fragments, and with a
destination-options header (PadN only: every node must skip it).  Each is tried up to
``echo_attempts`` times until answered (a lost datagram is a lost try, and a fragmented request is
more datagrams than the whole one: on a lossy path it needs more tries before it is blamed).

Each name-server address is also asked once for the zone apex's ``frag_dns_qtype`` records with
the DO bit over UDP (each query tried up to ``echo_attempts`` times while nothing comes back), with an
EDNS buffer of 4096 bytes and of 1232 (``frag_dns_sizes``): an answer
bigger than 1232 bytes needs fragments.  When the 4096 query goes unanswered while the 1232 one
comes back truncated, the fragmented answer is being dropped.  An answer that fits 1232 bytes
tests nothing (``needs_fragments`` false).  What an address answers is a property of the address:
shared by every site for ``probe_ttl`` seconds (a name server is asked one query pair a minute,
whatever the number of sites of its zones).

It needs raw sockets (CAP_NET_RAW); without them the check is ``skipped`` with the reason.
Informational: dropped fragments and extension headers are warnings.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.dns import NsProbe, name_servers, probe_ns
from v6scan.checks.path import (
    IPV6_MIN_MTU,
    new_ident,
    raw_icmp6_socket,
    raw_ip6_socket,
    scapy_inet6,
    send_packets,
    source_address,
    wait_echo,
)
from v6scan.checks.webstate import reached
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.net import sock_recvfrom, sock_sendto
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "DnsTry", "EchoTry", "FragEvidence", "FragRow", "dissect_dns"]

#: the kinds of echo request, in the order they are sent
KINDS = ("whole", "fragmented", "dst_opts")
#: bytes of a DNS answer read over UDP
DNS_RECV_BYTES = 65535


@dataclass(frozen=True, kw_only=True)
class EchoTry(Row):
    """One kind of echo request to one address, tried up to ``echo_attempts`` times until answered."""

    answered: bool = False
    attempts: int = 0
    #: an ICMPv6 error about it instead of a reply (``parameter-problem/1 from ROUTER``)
    icmp: str | None = optional()
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class DnsTry(Row):
    """One query over UDP with one EDNS buffer size: what came back (tried again only on silence)."""

    edns: int = 0
    #: ok (a DNS message), timeout, or error
    status: str = ""
    attempts: int = 0
    #: bytes of the answer's UDP payload
    size: int | None = optional()
    tc: bool = optional(False)
    rcode: str | None = optional()
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class DnsFrag(Row):
    """The query pair to one name-server address and what it says."""

    qname: str = ""
    qtype: str = ""
    big: DnsTry = field(default_factory=DnsTry)
    small: DnsTry = field(default_factory=DnsTry)
    #: the answer is bigger than the small buffer (so the big buffer's answer needs fragments)
    needs_fragments: bool = False
    #: the fragmented answer never arrived while the small one did
    dropped: bool = False

    @classmethod
    def build(cls, *, qname: str, qtype: str, big: DnsTry, small: DnsTry) -> Self:
        needs = bool(small.tc) or (big.size or 0) > small.edns
        dropped = needs and big.status == "timeout" and small.status == "ok"
        return cls(qname=qname, qtype=qtype, big=big, small=small, needs_fragments=needs, dropped=dropped)


@dataclass(frozen=True, kw_only=True)
class FragRow(Row):
    """One address (of the web server, or of a name server): its echo requests and DNS queries."""

    address: str = ""
    #: web or ns
    role: str = ""
    #: the name server's name (role ns)
    ns: str | None = optional()
    whole: EchoTry = field(default_factory=EchoTry)
    fragmented: EchoTry = field(default_factory=EchoTry)
    dst_opts: EchoTry = field(default_factory=EchoTry)
    dns: DnsFrag | None = optional()
    #: what the address does not answer: fragments, dst_opts, dns_fragments (empty: all answered;
    #: fragments and dst_opts are judged only when the whole echo is answered, and never on a send error)
    drops: tuple[str, ...] = ()
    #: the whole echo was answered (else the echo kinds say nothing)
    tested: bool = False

    @classmethod
    def build(cls, *, address: str, role: str, whole: EchoTry, fragmented: EchoTry, dst_opts: EchoTry,
              ns: str | None = None, dns: DnsFrag | None = None) -> Self:
        drops: list[str] = []
        if whole.answered:  # a send error is the scanner's own failure, never the address's
            drops += [k for k, t in (("fragments", fragmented), ("dst_opts", dst_opts))
                      if not t.answered and t.error is None]
        if dns is not None and dns.dropped:
            drops.append("dns_fragments")
        return cls(address=address, role=role, ns=ns, whole=whole, fragmented=fragmented, dst_opts=dst_opts,
                   dns=dns, drops=tuple(drops), tested=whole.answered or dns is not None)


@dataclass(frozen=True, kw_only=True)
class FragEvidence(Evidence):
    #: every probed address: the web server's, then the name servers' (absent when nothing could
    #: be probed: see ``reason``)
    addresses: tuple[FragRow, ...] | None = optional()
    drop_fragments: tuple[str, ...] = ()
    drop_dst_opts: tuple[str, ...] = ()
    drop_dns_fragments: tuple[str, ...] = ()
    #: the zone whose name servers were probed
    zone: str | None = optional()
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())
    #: why nothing was probed ("no CAP_NET_RAW")
    reason: str | None = optional()

    @classmethod
    def build(cls, *, addresses: Sequence[FragRow], zone: str | None = None,
              caps_hit: Sequence[Mapping[str, JSON]] = ()) -> Self:
        def having(kind: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(r.address for r in addresses if kind in r.drops))

        return cls(addresses=tuple(addresses), zone=zone, caps_hit=tuple(caps_hit),
                   drop_fragments=having("fragments"), drop_dst_opts=having("dst_opts"),
                   drop_dns_fragments=having("dns_fragments"))


# ----------------------------------------------------------------------------- echo requests

def _packets(kind: str, src: str, addr: str, ident: int, seq: int, size: int) -> list[bytes]:
    """The IPv6 packets of one echo request of ``size`` bytes: whole, in two fragments, or with a
    destination-options header (scapy builds them and computes the checksum)."""
    l6 = scapy_inet6()
    pad = max(0, size - 48)
    echo = l6.ICMPv6EchoRequest(id=ident, seq=seq, data=(b"v6scan-frag" * (pad // 11 + 1))[:pad])
    if kind == "fragmented":
        pkt = l6.IPv6(src=src, dst=addr) / l6.IPv6ExtHdrFragment(id=(ident << 16) | seq) / echo
        # two fragments of about half the packet each (8-byte multiples), far below 1280 bytes
        return [bytes(f) for f in l6.fragment6(pkt, max(IPV6_MIN_MTU // 4, (size // 2 + 7) // 8 * 8 + 48))]
    if kind == "dst_opts":
        pkt = l6.IPv6(src=src, dst=addr) / l6.IPv6ExtHdrDestOpt(options=[l6.PadN(optdata=b"\0\0\0\0")]) / echo
        return [bytes(pkt)]
    return [bytes(l6.IPv6(src=src, dst=addr) / echo)]


async def _echo(ctx: Context, addr: str, kind: str) -> EchoTry:
    s = ctx.settings
    wait = min(s.timeout, s.mtu_wait)
    icmp, raw = raw_icmp6_socket(), raw_ip6_socket()
    if icmp is None or raw is None:
        for x in (icmp, raw):
            if x is not None:
                x.close()
        raise PermissionError(errno.EPERM, "no CAP_NET_RAW")
    ident = new_ident()
    tries = max(1, s.echo_attempts)
    try:
        src = source_address(addr)
        for n in range(1, tries + 1):
            t0 = time.monotonic()
            err = await send_packets(raw, addr, _packets(kind, src, addr, ident, n, s.frag_echo_size))
            if err is not None:
                return EchoTry(answered=False, attempts=n, error=err)
            got = await wait_echo(icmp, addr, ident, n, t0 + wait)
            if got is not None and got.type == 129:
                return EchoTry(answered=True, attempts=n)
            if got is not None:
                return EchoTry(answered=False, attempts=n, icmp=f"{got.name} from {got.source}")
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            raise
        return EchoTry(answered=False, attempts=1, error=e.strerror or str(e))
    finally:
        icmp.close()
        raw.close()
    return EchoTry(answered=False, attempts=tries)


async def _echoes(ctx: Context, addr: str) -> tuple[EchoTry, EchoTry, EchoTry]:
    """The three kinds, one after the other (the whole one first: without it the others say nothing)."""
    whole = await _echo(ctx, addr, "whole")
    if not whole.answered:
        return whole, EchoTry(), EchoTry()
    return whole, await _echo(ctx, addr, "fragmented"), await _echo(ctx, addr, "dst_opts")


# ----------------------------------------------------------------------------- DNS

def dissect_dns(data: bytes, qid: int) -> tuple[str, bool] | None:
    """(rcode, TC flag) of the DNS answer ``data`` to query ``qid``, or None for anything else:
    reads the 12-byte header only (linear, never raises)."""
    if len(data) < 12:
        return None
    ident, flags = struct.unpack("!HH", data[:4])
    if ident != qid or not flags & 0x8000:
        return None
    rcodes = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
    return rcodes.get(flags & 0xF, f"RCODE{flags & 0xF}"), bool(flags & 0x0200)


def _query(qname: str, qtype: str, edns: int) -> tuple[int, bytes]:
    import dns.message  # dnspython builds the query (already imported by the DNS checks)

    q = dns.message.make_query(qname, qtype, use_edns=0, payload=edns, want_dnssec=True)
    q.flags &= ~0x0100  # no recursion desired
    return q.id, q.to_wire()


async def _ask(ctx: Context, addr: str, qname: str, qtype: str, edns: int) -> DnsTry:
    """One query over UDP, tried again only while nothing comes back."""
    s = ctx.settings
    tries = max(1, s.echo_attempts)
    try:
        qid, wire = _query(qname, qtype, edns)
    except Exception as e:  # a name dnspython cannot encode
        return DnsTry(edns=edns, status="error", attempts=0, error=f"cannot build the query: {e}")
    for n in range(1, tries + 1):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            await sock_sendto(sock, wire, (addr, 53))
            async with asyncio.timeout(s.ns_timeout):
                while True:
                    data, src = await sock_recvfrom(sock, DNS_RECV_BYTES)
                    head = dissect_dns(data, qid) if str(src[0]).split("%")[0] == addr else None
                    if head is not None:
                        return DnsTry(edns=edns, status="ok", attempts=n, size=len(data), tc=head[1], rcode=head[0])
        except TimeoutError:
            continue
        except OSError as e:
            return DnsTry(edns=edns, status="error", attempts=n, error=e.strerror or str(e))
        finally:
            sock.close()
    return DnsTry(edns=edns, status="timeout", attempts=tries)


async def _dns(ctx: Context, addr: str, zone: str) -> DnsFrag:
    qtype = ctx.settings.frag_dns_qtype
    sizes = sorted(ctx.settings.frag_dns_sizes, reverse=True)
    big_edns, small_edns = sizes[0], sizes[-1]
    big = await _ask(ctx, addr, zone, qtype, big_edns)
    small = await _ask(ctx, addr, zone, qtype, small_edns)
    return DnsFrag.build(qname=zone, qtype=qtype, big=big, small=small)


# ----------------------------------------------------------------------------- the probe

async def _web_row(ctx: Context, addr: str) -> FragRow:
    async def make() -> tuple[EchoTry, EchoTry, EchoTry]:
        return await _echoes(ctx, addr)

    whole, frag, dst = await ctx.cached(("path.frag", addr), make, ttl=ctx.settings.probe_ttl)
    return FragRow.build(address=addr, role="web", whole=whole, fragmented=frag, dst_opts=dst)


async def _ns_row(ctx: Context, zone: str, ns: str, addr: str) -> FragRow:
    async def make() -> tuple[tuple[EchoTry, EchoTry, EchoTry], DnsFrag]:
        return await _echoes(ctx, addr), await _dns(ctx, addr, zone)

    (whole, frag, dst), dns_ = await ctx.cached(("path.frag-ns", addr, zone), make, ttl=ctx.settings.probe_ttl)
    return FragRow.build(address=addr, role="ns", ns=ns, whole=whole, fragmented=frag, dst_opts=dst, dns=dns_)


async def _ns_targets(ctx: Context, run: Run) -> tuple[str | None, list[tuple[str, str]]]:
    """The zone and its name servers' IPv6 addresses that answered dns.ns_reach's UDP query."""
    found = await name_servers(run)
    zone = found.zone.name
    if zone is None:
        return None, []
    want = [(s.name, row) for s in found.servers for row in s.aaaa if row.usable]
    probes: list[NsProbe] = await asyncio.gather(*(probe_ns(ctx, zone, ns, row, "v6", "udp") for ns, row in want))
    seen: dict[str, str] = {}
    for (ns, row), p in zip(want, probes, strict=True):
        if p.answered and row.address not in seen:
            seen[row.address] = ns
    return zone, [(ns, a) for a, ns in seen.items()]


async def probe(ctx: Context, run: Run) -> Observation:
    st = await reached(run)
    sw = Stopwatch()
    web = [a for a in st.v6[: ctx.settings.max_http_addresses] if st.open(a, 443) or st.open(a, 80)]
    zone, ns = await _ns_targets(ctx, run)
    if not web and not ns:
        return CHECK.observe(run.name, Status.SKIPPED, FragEvidence(),
                             "no IPv6 web or name-server address to probe", sw.stop(), sw.started_at)
    probe_raw = raw_ip6_socket()
    if probe_raw is None:
        return CHECK.observe(run.name, Status.SKIPPED, FragEvidence(reason="no CAP_NET_RAW"),
                             "raw IPv6 packets need a raw socket (CAP_NET_RAW): run as root or grant cap_net_raw",
                             sw.stop(), sw.started_at)
    probe_raw.close()
    try:
        rows = await asyncio.gather(*(_web_row(ctx, a) for a in web),
                                    *(_ns_row(ctx, zone or "", n, a) for n, a in ns))
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return CHECK.observe(run.name, Status.SKIPPED, FragEvidence(reason="not permitted"),
                                 f"not permitted: {e.strerror}", sw.stop(), sw.started_at)
        raise
    ev = FragEvidence.build(addresses=rows, zone=zone,
                            caps_hit=[c for c in st.caps_hit(ctx.settings.max_addresses) if c["family"] == "v6"])
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: FragEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "skipped", applicable=False)
    rows = list(ev.addresses or ())
    reasons: list[Reason] = []
    for r in rows:
        role = "web server" if r.role == "web" else "name server"
        if "fragments" in r.drops:
            reasons.append(Reason("frag_dropped", {"address": r.address, "role": role}))
        if "dst_opts" in r.drops:
            reasons.append(Reason("dstopt_dropped", {"address": r.address, "role": role}))
        if "dns_fragments" in r.drops and r.dns is not None:
            reasons.append(Reason("dns_frag_dropped", {"address": r.address, "ns": r.ns or "-",
                                                       "size": r.dns.small.size or "-"}))
    if reasons:
        return result(o.check, o.target, "warn", *reasons)
    if not any(r.tested for r in rows):
        return not_tested(o.check, o.target, "no IPv6 address answered ICMPv6 echo", applicable=False)
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="path.frag", title="the IPv6 web and name-server addresses answer fragments and extension headers",
    order=200, phase=Phase.CONNECT, stage=1,
    evidence=FragEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "frag_dropped", "dstopt_dropped", "dns_frag_dropped"),
    weight=0, required=False, v6_dependent=True, in_sweeps=False,
)
