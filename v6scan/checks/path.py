"""Path checks below HTTP: ``path.pmtu`` (PMTU blackholes) and ``path.icmp`` (echo, traceroute).

``path.pmtu`` fetches the homepage over each IPv6 address twice: with the
normal MSS, and with the MSS clamped to 1220 (``TCP_MAXSEG``) so that no
segment needs more than the IPv6 minimum MTU.  A full-MSS transfer that
stalls while the clamped one completes is a PMTU blackhole: a narrower hop
whose ICMPv6 Packet Too Big never reaches the server.  The TLS handshake
(certificate chains are large) already counts.

``path.icmp`` sends ICMPv6 echo requests to every AAAA and, for an address
that does not answer, a TCP-SYN traceroute to port 443 (a connect with a
rising hop limit; routers' Time Exceeded messages name the hops) to find the
last hop that answered.  It needs a raw ICMPv6 socket (CAP_NET_RAW); without
it the check is ``skipped`` with the reason, never an error.  Raw sockets
driven by asyncio are used rather than scapy: scapy's ``sr1`` manages about
74 probes/s here against tens of thousands, costs 0.4 s to import, and reads
the routing table of the process's namespace rather than the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import socket
import ssl
import struct
import time
from typing import Any

from v6scan.attempts import retried
from v6scan.checks.webstate import WebState
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.net import classify_error, open_socket, sock_recvfrom, sock_sendto

__all__ = ["check_icmp", "check_pmtu", "raw_icmp6_socket"]

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


async def _transfer(addr: str, port: int, name: str, ctx: ssl.SSLContext, timeout: float,
                    mss: int | None, max_read: int) -> dict[str, JSON]:
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


async def check_pmtu(ctx: Context, st: WebState) -> Observation:
    sw = Stopwatch()
    rows: list[dict[str, JSON]] = []

    async def one(addr: str) -> None:
        port = 443 if st.open(addr, 443) else 80

        async def transfer(mss: int | None, attempts: int) -> dict[str, JSON]:
            async def once() -> dict[str, JSON]:
                async with ctx.slot(addr):
                    return await _transfer(addr, port, st.name, ctx.loose_ctx, ctx.settings.timeout, mss,
                                           ctx.settings.pmtu_max_read)

            out, n = await retried(once, lambda r: Status(str(r["status"])),
                                   dataclasses.replace(ctx.settings.retry, attempts=attempts),
                                   transient=lambda r: r["status"] != "ok")
            return {**out, "attempts": n}

        # full size first; if it fails, 1280-byte packets; only when those get through is the full
        # size tried again (a blackhole stalls every time, a lost packet does not) before the path
        # is called a blackhole.  A server that fails both ways is no PMTU finding: not retried.
        full = await transfer(None, 1)
        clamped: dict[str, JSON] = {"status": "not_needed"}
        if full["status"] != "ok" and full["phase"] != "connect":
            clamped = await transfer(CLAMPED_MSS, 1)
            if clamped["status"] == "ok" and ctx.settings.attempts > 1:
                again = await transfer(None, ctx.settings.attempts - 1)
                full = {**again, "attempts": int(again["attempts"]) + 1}
        if full["status"] == "ok":
            result = "ok"
        elif full["phase"] == "connect":
            result = "inconclusive"  # no connection at all: small packets failed too, not the path MTU
        elif clamped["status"] == "ok":
            result = "blackhole"
        else:
            result = "inconclusive"
        rows.append({"address": addr, "port": port, "result": result, "full_mss": full,
                     f"mss_{CLAMPED_MSS}": clamped})

    targets = [a for a in st.v6 if st.open(a, 443) or st.open(a, 80)]
    await asyncio.gather(*(one(a) for a in targets))
    rows.sort(key=lambda r: targets.index(str(r["address"])))
    ev: dict[str, JSON] = {"addresses": rows, "blackholes": [r["address"] for r in rows if r["result"] == "blackhole"],
                           "clamped_mss": CLAMPED_MSS}
    if caps := st.caps_hit(ctx.settings.max_addresses):
        ev["caps_hit"] = [c for c in caps if c["family"] == "v6"]
    if not targets:
        return Observation("path.pmtu", st.name, Status.SKIPPED, ev, "no IPv6 address accepts on port 80 or 443",
                           sw.stop(), sw.started_at)
    return Observation("path.pmtu", st.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def raw_icmp6_socket() -> socket.socket | None:
    """A non-blocking raw ICMPv6 socket, or None without CAP_NET_RAW."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except PermissionError:
        return None
    s.setblocking(False)
    return s


async def _icmp_messages(sock: socket.socket, deadline: float) -> list[tuple[bytes, str]]:
    """Every ICMPv6 message that arrives before ``deadline`` (monotonic seconds)."""
    out: list[tuple[bytes, str]] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(left):
                data, addr = await sock_recvfrom(sock, ICMP_RECV_BYTES)
        except TimeoutError:
            break
        out.append((data, str(addr[0]).split("%")[0]))
    return out


async def _echo(sock: socket.socket, addr: str, ident: int, count: int, timeout: float) -> dict[str, JSON]:
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


async def _trace(sock: socket.socket, addr: str, port: int, max_hops: int, timeout: float,
                 give_up_silent: int) -> list[dict[str, JSON]]:
    """TCP-SYN traceroute: connects with hop limits 1, 2, ...; Time Exceeded names each hop."""
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


async def check_icmp(ctx: Context, st: WebState) -> Observation:
    sw = Stopwatch()
    sock = raw_icmp6_socket()
    if sock is None:
        return Observation("path.icmp", st.name, Status.SKIPPED, {"reason": "no CAP_NET_RAW"},
                           "ICMPv6 needs a raw socket (CAP_NET_RAW): run as root or grant cap_net_raw",
                           sw.stop(), sw.started_at)
    rows: list[dict[str, JSON]] = []
    try:
        ident = (os.getpid() ^ id(st)) & 0xFFFF
        for i, addr in enumerate(st.v6[: ctx.settings.max_http_addresses]):
            echo = await _echo(sock, addr, (ident + i) & 0xFFFF, max(1, ctx.settings.attempts),
                               ctx.settings.timeout / ECHO_TIMEOUT_DIVISOR)
            row: dict[str, JSON] = {"address": addr, "echo": echo, "answered": bool(echo.get("replies"))}
            if not row["answered"]:
                hops = await _trace(sock, addr, TRACE_PORT, ctx.settings.trace_max_hops,
                                    min(ctx.settings.timeout, ctx.settings.trace_hop_timeout),
                                    ctx.settings.trace_silent_hops)
                answered = [x for x in hops if x.get("address")]
                row["traceroute"] = hops
                row["last_hop"] = answered[-1]["address"] if answered else None
                row["reached"] = any(x.get("destination") for x in hops)
            rows.append(row)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return Observation("path.icmp", st.name, Status.SKIPPED, {}, f"not permitted: {e.strerror}",
                               sw.stop(), sw.started_at)
        raise
    finally:
        sock.close()
    ev: dict[str, JSON] = {"addresses": rows, "silent": [r["address"] for r in rows if not r["answered"]]}
    if caps := [c for c in st.caps_hit(ctx.settings.max_addresses) if c["family"] == "v6"]:
        ev["caps_hit"] = caps
    if not rows:
        return Observation("path.icmp", st.name, Status.SKIPPED, ev, "no usable IPv6 address", sw.stop(),
                           sw.started_at)
    return Observation("path.icmp", st.name, Status.OK, ev, None, sw.stop(), sw.started_at)
