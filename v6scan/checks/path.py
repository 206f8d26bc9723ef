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
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from typing import Any

from v6scan.model import JSON, Status
from v6scan.net import classify_error, open_socket, sock_recvfrom, sock_sendto

__all__ = ["CLAMPED_MSS", "ECHO_TIMEOUT_DIVISOR", "TRACE_PORT", "echo", "raw_icmp6_socket", "trace", "transfer"]

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


def raw_icmp6_socket() -> socket.socket | None:
    """A non-blocking raw ICMPv6 socket, or None without CAP_NET_RAW."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except PermissionError:
        return None
    s.setblocking(False)
    return s


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
