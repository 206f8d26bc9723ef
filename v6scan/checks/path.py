"""What the path checks (``path.pmtu``, ``path.icmp``) measure with, below HTTP.

``path.pmtu`` (:mod:`v6scan.checks.path_pmtu`) fetches the homepage over each
IPv6 address twice (:func:`transfer`): with the normal MSS, and with the MSS
clamped to 1220 (``TCP_MAXSEG``) so that no segment needs more than the IPv6
minimum MTU.  A full-MSS transfer that stalls while the clamped one completes
is a PMTU blackhole: a narrower hop whose ICMPv6 Packet Too Big never reaches
the server.  The TLS handshake (certificate chains are large) already counts.

``path.icmp`` (:mod:`v6scan.checks.path_icmp`) sends ICMPv6 echo requests
(:func:`echo`) to every AAAA and, for an address that does not answer, a
TCP-SYN traceroute to port 443 (:func:`trace`: a connect with a rising hop
limit; routers' Time Exceeded messages name the hops) to find the last hop
that answered.  It needs a raw ICMPv6 socket (CAP_NET_RAW,
:func:`raw_icmp6_socket`); without it the check is ``skipped`` with the
reason, never an error.  Raw sockets driven by asyncio are used rather than
scapy: scapy's ``sr1`` manages about 74 probes/s here against tens of
thousands, costs 0.4 s to import, and reads the routing table of the
process's namespace rather than the caller's.

``path.mtu`` (:mod:`v6scan.checks.path_mtu`) sends ICMPv6 echo requests of a
given size (:func:`sized_echo`) with the don't-fragment option and
``IPV6_PMTUDISC_PROBE``: the kernel neither fragments them nor refuses them
because of the path MTU it has cached for the destination (a cached Packet
Too Big from an earlier probe or connection would otherwise make ``sendto``
fail with EMSGSIZE, or make the kernel fragment: the probe measures the path,
not the cache).  Packet Too Big and other ICMPv6 errors quoting the probe are
dissected with scapy (:func:`dissect_icmp6`).  The Packet Too Big messages the
client's kernel receives still update its own cache, as for any client: a later
TCP connection to that address uses the smaller MTU.

``path.frag`` (:mod:`v6scan.checks.path_frag`) builds packets the kernel
would not send by itself (an echo request split into fragments, one with a
destination-options header) with scapy and sends them on a raw socket with
``IPPROTO_RAW`` (the IPv6 header included, :func:`raw_ip6_socket`); the
replies come back on a raw ICMPv6 socket.  scapy only builds and dissects:
it never sends (``sr1`` and friends are too slow and read the routing table
of the wrong namespace) and is imported lazily (:func:`scapy_inet6`), since
importing it costs a few hundred milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from v6scan.model import JSON, Status
from v6scan.net import classify_error, open_socket, sock_recvfrom, sock_sendto

__all__ = ["CLAMPED_MSS", "ECHO_TIMEOUT_DIVISOR", "IPV6_MIN_MTU", "TRACE_PORT", "Icmp6", "dissect_icmp6", "echo",
           "echo_request", "new_ident", "raw_icmp6_socket", "raw_ip6_socket", "scapy_inet6", "send_packets",
           "sized_echo", "source_address", "trace", "transfer", "wait_echo"]

# protocol numbers and buffer sizes (the probes' counts, sizes and waits are in Settings)

#: the MSS of the clamped path.pmtu transfer: 1280 (the IPv6 minimum MTU) - 40 (IPv6) - 20 (TCP)
CLAMPED_MSS = 1220
#: bytes asked of the stream per read of a path.pmtu transfer
READ_CHUNK = 65536
#: bytes of one ICMPv6 message read from the raw socket
ICMP_RECV_BYTES = 2048
#: ICMPv6 types: echo request and reply; Destination Unreachable and Time Exceeded (a traceroute hop)
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
ICMP6_UNREACHABLE, ICMP6_TIME_EXCEEDED = 1, 3
#: each echo request waits ``--timeout`` divided by this for its reply
ECHO_TIMEOUT_DIVISOR = 2
#: the port a traceroute's SYNs go to
TRACE_PORT = 443
#: more ICMPv6 error types: Packet Too Big, Parameter Problem
ICMP6_PACKET_TOO_BIG, ICMP6_PARAM_PROBLEM = 2, 4
ICMP6_ERRORS = (ICMP6_UNREACHABLE, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED, ICMP6_PARAM_PROBLEM)
#: the IPv6 minimum MTU (RFC 8200): every link carries packets of this size
IPV6_MIN_MTU = 1280
#: bytes of the IPv6 header and of the ICMPv6 echo header
IPV6_HEADER, ECHO_HEADER = 40, 8
#: Linux socket options (not all in Python's socket module): path MTU discovery mode, and its
#: "probe" value (ignore the cached path MTU, never fragment); the don't-fragment option
IPV6_MTU_DISCOVER = getattr(socket, "IPV6_MTU_DISCOVER", 23)
IPV6_PMTUDISC_PROBE = 3
IPV6_DONTFRAG = getattr(socket, "IPV6_DONTFRAG", 62)
#: the ICMPv6 error names of the evidence
ICMP6_NAMES = {ICMP6_UNREACHABLE: "unreachable", ICMP6_PACKET_TOO_BIG: "packet-too-big",
               ICMP6_TIME_EXCEEDED: "time-exceeded", ICMP6_PARAM_PROBLEM: "parameter-problem"}

_idents = itertools.count((os.getpid() * 7919) & 0xFFFF)


def new_ident() -> int:
    """An ICMPv6 echo identifier no other probe of this process uses at the moment (every raw
    ICMPv6 socket sees every reply: the identifier tells a probe's own from the others')."""
    return next(_idents) & 0xFFFF


async def transfer(addr: str, port: int, name: str, ctx: ssl.SSLContext, timeout: float,
                   mss: int | None, max_read: int) -> dict[str, JSON]:
    """One ``GET /`` of ``name`` from ``addr`` (TLS on 443) with the MSS clamped to ``mss`` (None:
    the normal one), reading at most ``max_read`` bytes: its status, bytes read, the phase it reached
    (connect, handshake, request, response, body), time taken and error."""
    t0 = time.perf_counter()
    phase = "connect"
    got = 0
    writer: asyncio.StreamWriter | None = None
    try:
        sock = await open_socket(addr, port, timeout, mss=mss)
        phase = "handshake" if port == 443 else "request"
        async with asyncio.timeout(timeout):
            if port == 443:
                reader, writer = await asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=name,
                                                               ssl_handshake_timeout=timeout)
            else:
                reader, writer = await asyncio.open_connection(sock=sock)
        phase = "response"
        writer.write(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n"
                     "User-Agent: v6scan (path.pmtu)\r\n\r\n".encode())
        async with asyncio.timeout(timeout):
            while got < max_read:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    break
                got += len(chunk)
                phase = "body"
        status, error = Status.OK, None
    except (OSError, TimeoutError, ssl.SSLError) as e:
        status, error = classify_error(e)
    finally:
        if writer is not None:
            writer.close()
    out: dict[str, JSON] = {"status": str(status), "bytes": got, "phase": phase,
                            "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)}
    if error:
        out["error"] = error
    return out


def _raw_socket(proto: int) -> socket.socket | None:
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, proto)
    except PermissionError:
        return None
    s.setblocking(False)
    return s


def raw_icmp6_socket() -> socket.socket | None:
    """A non-blocking raw ICMPv6 socket, or None without CAP_NET_RAW."""
    return _raw_socket(socket.IPPROTO_ICMPV6)


async def echo(sock: socket.socket, addr: str, ident: int, count: int, timeout: float) -> dict[str, JSON]:
    """``count`` ICMPv6 echo requests to ``addr``, one after the other, each waiting ``timeout`` for
    its reply: requests sent, replies and their round-trip times (or the send error)."""
    replies = 0
    rtts: list[float] = []
    for seq in range(1, count + 1):
        t0 = time.monotonic()
        pkt = struct.pack("!BBHHH", ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + b"v6scan-echo"
        try:
            await sock_sendto(sock, pkt, (addr, 0))
        except OSError as e:
            return {"sent": seq, "replies": replies, "error": e.strerror or str(e)}
        def reply(d: bytes, src: str, seq: int = seq) -> bool:
            return (src == addr and len(d) >= 8 and d[0] == ICMP6_ECHO_REPLY
                    and struct.unpack("!HH", d[4:8]) == (ident, seq))

        if await _first(sock, t0 + timeout, reply):
            replies += 1
            rtts.append(round((time.monotonic() - t0) * 1000, 3))
    return {"sent": count, "replies": replies, "rtt_ms": rtts}


async def _first(sock: socket.socket, deadline: float, match: Any) -> tuple[bytes, str] | None:
    while (left := deadline - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(left):
                data, a = await sock_recvfrom(sock, ICMP_RECV_BYTES)
        except TimeoutError:
            return None
        src = str(a[0]).split("%")[0]
        if match(data, src):
            return data, src
    return None


async def trace(sock: socket.socket, addr: str, port: int, max_hops: int, timeout: float,
                give_up_silent: int) -> list[dict[str, JSON]]:
    """TCP-SYN traceroute: connects with hop limits 1, 2, ...; Time Exceeded names each hop.  Stops at
    the destination (SYN-ACK or RST), an unreachable, or ``give_up_silent`` silent hops in a row."""
    loop = asyncio.get_running_loop()
    hops: list[dict[str, JSON]] = []
    silent = 0
    target = socket.inet_pton(socket.AF_INET6, addr)
    for h in range(1, max_hops + 1):
        t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t.setblocking(False)
        t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, h)
        t0 = time.monotonic()
        try:
            t.bind(("::", 0))
            sport = t.getsockname()[1]

            def match(d: bytes, src: str, sport: int = sport) -> bool:
                # Time Exceeded (3) / Destination Unreachable (1) quoting our SYN: IPv6 dst and TCP sport
                return (len(d) >= 8 + 40 + 2 and d[0] in (ICMP6_UNREACHABLE, ICMP6_TIME_EXCEEDED)
                        and d[8 + 24:8 + 40] == target and struct.unpack("!H", d[48:50])[0] == sport)

            connect = asyncio.ensure_future(loop.sock_connect(t, (addr, port)))
            icmp = asyncio.ensure_future(_first(sock, t0 + timeout, match))
            done, _ = await asyncio.wait({connect, icmp}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            row: dict[str, JSON] = {"hop": h}
            if connect in done:
                exc = connect.exception()
                if exc is None or isinstance(exc, ConnectionRefusedError):
                    row.update(address=addr, reply="syn-ack" if exc is None else "rst", destination=True)
                else:
                    row.update(reply="error", error=str(exc))
            elif icmp in done and icmp.result() is not None:
                data, src = icmp.result()  # type: ignore[misc]
                row.update(address=src,
                           reply="time-exceeded" if data[0] == ICMP6_TIME_EXCEEDED else f"unreachable/{data[1]}",
                           rtt_ms=round((time.monotonic() - t0) * 1000, 3))
            else:
                row.update(reply="*")
            for fut in (connect, icmp):
                fut.cancel()
                with contextlib.suppress(BaseException):
                    await fut
        finally:
            t.close()
        hops.append(row)
        if row.get("destination") or str(row.get("reply", "")).startswith("unreachable"):
            break
        silent = silent + 1 if row["reply"] == "*" else 0
        if silent >= give_up_silent:
            break
    return hops


def scapy_inet6() -> ModuleType:
    """``scapy.layers.inet6``, imported on first use with scapy's logging silenced (importing it
    costs a few hundred milliseconds; ``v6scan --help`` never pays it)."""
    for name in ("scapy", "scapy.runtime", "scapy.loading", "scapy.interactive"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import scapy.layers.inet6 as inet6  # here, not at module level: see above

    return inet6


@dataclass(frozen=True, slots=True)
class Icmp6:
    """An ICMPv6 message as :func:`dissect_icmp6` reads it: who sent it, its type, and for an
    error the packet it quotes (destination, and the echo identifier and sequence when that was an
    echo request)."""

    source: str
    type: int
    code: int
    #: the MTU a Packet Too Big reports
    mtu: int | None = None
    #: Parameter Problem: the offset of the offending byte
    pointer: int | None = None
    #: an error's quoted packet: its destination and, for an echo request, identifier and sequence
    quoted_dst: str | None = None
    ident: int | None = None
    seq: int | None = None

    @property
    def name(self) -> str:
        """``echo-reply``, ``packet-too-big``, ... or the type number; with the code of an error."""
        if self.type == ICMP6_ECHO_REPLY:
            return "echo-reply"
        base = ICMP6_NAMES.get(self.type, f"type-{self.type}")
        return f"{base}/{self.code}" if self.type in ICMP6_ERRORS and self.type != ICMP6_PACKET_TOO_BIG else base


def dissect_icmp6(data: bytes, source: str) -> Icmp6 | None:
    """The ICMPv6 message ``data`` (as a raw ICMPv6 socket reads it, from ``source``), dissected
    with scapy: an echo reply, or an error and what it quotes; None for anything else or garbage.
    Reads at most :data:`ICMP_RECV_BYTES`; never raises."""
    data = bytes(data[:ICMP_RECV_BYTES])
    if len(data) < ECHO_HEADER:
        return None
    try:
        return _dissect(scapy_inet6(), data, source)
    except Exception:  # scapy raises on truncated or odd fields: garbage is no message
        return None


def _dissect(inet6: ModuleType, data: bytes, source: str) -> Icmp6 | None:
    kind, code = data[0], data[1]
    if kind == ICMP6_ECHO_REPLY:
        r = inet6.ICMPv6EchoReply(data)
        return Icmp6(source, kind, code, ident=int(r.id), seq=int(r.seq))
    cls = {ICMP6_UNREACHABLE: inet6.ICMPv6DestUnreach, ICMP6_PACKET_TOO_BIG: inet6.ICMPv6PacketTooBig,
           ICMP6_TIME_EXCEEDED: inet6.ICMPv6TimeExceeded, ICMP6_PARAM_PROBLEM: inet6.ICMPv6ParamProblem}.get(kind)
    if cls is None:
        return None
    msg = cls(data)
    quoted = msg.getlayer(inet6.IPerror6)
    dst = ident = seq = None
    if quoted is not None:
        dst = str(quoted.dst)
        inner = quoted.getlayer(inet6.ICMPv6EchoRequest)
        if inner is not None:
            ident, seq = int(inner.id), int(inner.seq)
    return Icmp6(source, kind, code,
                 mtu=int(msg.mtu) if kind == ICMP6_PACKET_TOO_BIG else None,
                 pointer=int(msg.ptr) if kind == ICMP6_PARAM_PROBLEM else None,
                 quoted_dst=dst, ident=ident, seq=seq)


def echo_request(ident: int, seq: int, size: int) -> bytes:
    """An ICMPv6 echo request making an IPv6 packet of ``size`` bytes (the kernel fills in the
    checksum of what a raw ICMPv6 socket sends)."""
    pad = max(0, size - IPV6_HEADER - ECHO_HEADER)
    return struct.pack("!BBHHH", ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + (b"v6scan-mtu" * (pad // 10 + 1))[:pad]


def _mine(m: Icmp6, addr: str, ident: int, seq: int) -> bool:
    """``m`` answers (or reports on) the echo request ``ident``/``seq`` to ``addr``."""
    if m.type == ICMP6_ECHO_REPLY:
        return m.source == addr and (m.ident, m.seq) == (ident, seq)
    return m.quoted_dst == addr and (m.ident, m.seq) == (ident, seq)


async def wait_echo(sock: socket.socket, addr: str, ident: int, seq: int, deadline: float) -> Icmp6 | None:
    """The echo reply from ``addr``, or the ICMPv6 error about echo request ``ident``/``seq`` to it
    (a router's Packet Too Big), that ``sock`` receives before ``deadline`` (monotonic); None."""
    mine = struct.pack("!HH", ident, seq)
    target = socket.inet_pton(socket.AF_INET6, addr)

    def match(d: bytes, src: str) -> bool:
        # every raw ICMPv6 socket sees every message: a byte comparison first, scapy for ours only
        if len(d) < ECHO_HEADER:
            return False
        if d[0] == ICMP6_ECHO_REPLY:
            if src != addr or d[4:8] != mine:
                return False
        elif d[0] not in ICMP6_ERRORS or d[ECHO_HEADER + 24:ECHO_HEADER + 40] != target:
            return False
        m = dissect_icmp6(d, src)
        return m is not None and _mine(m, addr, ident, seq)

    got = await _first(sock, deadline, match)
    return None if got is None else dissect_icmp6(*got)


def probe_socket_options(sock: socket.socket) -> None:
    """Echo requests of ``sock`` leave whole and at their size, whatever the kernel has cached
    about the path (see the module documentation)."""
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_DONTFRAG, 1)


async def sized_echo(sock: socket.socket, addr: str, ident: int, seq: int, size: int,
                     wait: float) -> tuple[Icmp6 | None, str | None]:
    """One echo request of ``size`` bytes to ``addr`` on ``sock`` (set up with
    :func:`probe_socket_options`): its reply or the ICMPv6 error about it, or (None, None) after
    ``wait`` seconds, or (None, the send error)."""
    t0 = time.monotonic()
    try:
        await sock_sendto(sock, echo_request(ident, seq, size), (addr, 0))
    except OSError as e:
        return None, e.strerror or str(e)
    return await wait_echo(sock, addr, ident, seq, t0 + wait), None


def raw_ip6_socket() -> socket.socket | None:
    """A non-blocking raw IPv6 socket whose packets carry their own IPv6 header (``IPPROTO_RAW``:
    ``IPV6_HDRINCL``), or None without CAP_NET_RAW."""
    return _raw_socket(socket.IPPROTO_RAW)


def source_address(addr: str) -> str:
    """The address the kernel sends from towards ``addr`` (a connected UDP socket: no packet sent)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
        u.connect((addr, 9))
        return str(u.getsockname()[0])


async def send_packets(sock: socket.socket, addr: str, packets: list[bytes]) -> str | None:
    """Send whole IPv6 packets (built with scapy) to ``addr`` on a :func:`raw_ip6_socket`; the send
    error, or None."""
    try:
        for pkt in packets:
            await sock_sendto(sock, pkt, (addr, 0))
    except OSError as e:
        return e.strerror or str(e)
    return None
