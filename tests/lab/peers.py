"""Small purpose-built misbehaving peers, run inside a lab server namespace.

``python -m tests.lab.peers CONFIG.json`` serves, until killed:

* tarpits: the TCP handshake completes and nothing is ever said.  (A socket
  that listens but never accepts does the same until its accept queue is
  full; then new handshakes stall instead, so ours accept and hold the
  connections silently, and a long test session sees the same tarpit.)
* SMTP peers: ``greets`` (220 banner, EHLO, QUIT), ``starttls`` (the same, and EHLO advertises
  STARTTLS, which upgrades the connection with a lab CA certificate for the peer's name) or ``silent``
  (accepts and never writes).

* hostile web servers (``hostile``: ``[[addr, port, kind, tls_cert, tls_key], ...]``): a 1 GiB
  body, a gzip bomb, stacked content-encodings, 10,000 headers, an endless redirect chain, a
  redirect loop, a 1 byte/s trickle, TLS that stalls mid-handshake, a reset after the handshake,
  markup in headers; response headers that trickle in one byte every 0.5 s and never end
  (``trickle-headers``: each byte resets a per-read timeout, and the blank line never comes);
* a DNS server that answers garbage (``garbage_dns``: ``[[addr], ...]``, UDP and TCP 53);
* an authoritative name server whose EDNS buffer is 4096 bytes (``big_edns``: ``[[addr, zone,
  zone_text], ...]``, UDP and TCP 53): its big answers over UDP need fragments (NSD caps its own
  at 1232 bytes, so they never do); bigger than the asker's buffer: truncated (TC), as NSD does.

The config is ``{"tarpit": [[addr, port], ...], "smtp": [[addr, mode, name(, cert, key)], ...], ...}``.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import itertools
import json
import socket
import ssl
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["main", "serve"]


def _listener(addr: str, port: int, backlog: int = 16) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    return s


async def _smtp_greets(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       tls: ssl.SSLContext | None = None) -> None:
    """Banner, EHLO, QUIT; with ``tls`` (``starttls`` mode) EHLO advertises STARTTLS, which upgrades the
    connection (RFC 3207: the client says EHLO again over TLS)."""
    secured = False
    try:
        writer.write(f"220 {name} ESMTP v6scan-lab\r\n".encode())
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                break
            verb = line.strip().split(b" ", 1)[0].upper()
            if verb in (b"EHLO", b"HELO"):
                offer = "250-STARTTLS\r\n" if tls is not None and not secured else ""
                writer.write(f"250-{name}\r\n{offer}250-SIZE 10240000\r\n250 8BITMIME\r\n".encode())
            elif verb == b"STARTTLS" and tls is not None and not secured:
                writer.write(b"220 2.0.0 ready to start TLS\r\n")
                await writer.drain()
                await asyncio.wait_for(writer.start_tls(tls), 30)
                secured = True
                continue
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                break
            elif verb == b"NOOP":
                writer.write(b"250 2.0.0 ok\r\n")
            else:
                writer.write(b"502 5.5.2 not implemented in the lab\r\n")
            await writer.drain()
    except (TimeoutError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, say nothing, hang up after a while (or when the client does)."""
    try:
        await asyncio.wait_for(reader.read(), 300)
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def _smtp_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.read(), 120)
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


_ZEROS = b"\0" * 65536
#: ``trickle-headers``: seconds between two bytes, and when the peer gives up on a connection
TRICKLE_INTERVAL = 0.5
TRICKLE_MAX = 3600.0


def _endless_head() -> Iterator[bytes]:
    """A status line, then header lines without end (never the blank line that ends them)."""
    yield from (bytes([b]) for b in b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
    for n in itertools.count():
        yield from (bytes([b]) for b in f"X-Trickle-{n}: still coming\r\n".encode())


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    """1 GiB of zeros gzipped (about 4.5 MiB at level 1), made once when the peers start: serving
    it must not load the lab (compressing it per request would)."""
    if not _BOMB:
        comp = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = b"\0" * (1 << 20)
        _BOMB.append(b"".join(comp.compress(block) for _ in range(1024)) + comp.flush())
    return _BOMB[0]


def _head(status: str, headers: list[tuple[str, str]]) -> bytes:
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


async def _hostile(kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        path = request.split(b" ", 2)[1].decode("latin-1") if b" " in request else "/"
        if kind == "body1g":
            writer.write(_head("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(1 << 30))]))
            for _ in range((1 << 30) // len(_ZEROS)):
                writer.write(_ZEROS)
                await writer.drain()
        elif kind == "gzipbomb":
            bomb = _bomb()
            writer.write(_head("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                                          ("Content-Length", str(len(bomb)))]))
            for i in range(0, len(bomb), 65536):
                writer.write(bomb[i:i + 65536])
                await writer.drain()
        elif kind == "stacked":
            body = gzip.compress(gzip.compress(b"<title>stacked</title>"))
            writer.write(_head("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip, gzip"),
                                          ("Content-Length", str(len(body)))]) + body)
        elif kind == "headers10k":
            writer.write(_head("200 OK", [(f"X-Hostile-{i}", "v") for i in range(10_000)]
                               + [("Content-Length", "0")]))
        elif kind == "endless":
            n = int(path.strip("/") or 0) if path.strip("/").isdigit() else 0
            writer.write(_head("302 Found", [("Location", f"/{n + 1}"), ("Content-Length", "0")]))
        elif kind == "loop":
            writer.write(_head("302 Found", [("Location", "/b" if path == "/" else "/"), ("Content-Length", "0")]))
        elif kind == "trickle":
            writer.write(_head("200 OK", [("Content-Type", "text/html"), ("Content-Length", "100000")]))
            for _ in range(100_000):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(1.0)
        elif kind == "trickle-headers":
            loop = asyncio.get_running_loop()
            give_up = loop.time() + TRICKLE_MAX
            for byte in _endless_head():
                if loop.time() > give_up:
                    break
                writer.write(byte)
                await writer.drain()  # raises once the client has gone
                await asyncio.sleep(TRICKLE_INTERVAL)
        elif kind == "markup":
            writer.write(_head("301 Moved", [
                ("Location", 'https://hostile.com.test/"><script>document.body.dataset.pwned=1</script>'),
                ("Content-Type", 'text/html; charset="><img src=x onerror=alert(1)>'),
                ("Server", "<script>alert('server')</script>"), ("Content-Length", "0")]))
        elif kind == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _tls_stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the ClientHello, send the first bytes of a TLS record, then say nothing more."""
    try:
        await asyncio.wait_for(reader.read(1), 30)
        writer.write(b"\x16\x03\x03\x00\x7a\x02\x00")  # a handshake record header and 2 bytes of 122
        await writer.drain()
        await asyncio.wait_for(reader.read(), 300)
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


class _GarbageDNS(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # the query id, then noise: a header claiming records that are not there
        self.transport.sendto(data[:2] + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\xc0\x0c\xff\xff" + b"\x07" * 40,
                              addr)  # type: ignore[attr-defined]


async def _garbage_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.read(512), 10)
        writer.write(b"\x00\x20" + b"\xff" * 32)
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


def _authoritative(zone: object, wire: bytes, udp: bool) -> bytes | None:
    """The answer of the zone ``zone`` (a dnspython zone) to the query ``wire``; None for garbage."""
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype

    z: Any = zone
    try:
        q = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    r = dns.message.make_response(q, our_payload=4096)
    r.flags |= 0x0400  # AA
    if q.question:
        qname, qtype = q.question[0].name, q.question[0].rdtype
        if not qname.is_subdomain(z.origin):
            r.set_rcode(dns.rcode.REFUSED)
        else:
            node = z.get_node(qname)
            rrset = z.get_rrset(qname, qtype) if node is not None else None
            if rrset is not None:
                r.answer.append(rrset)
            else:
                r.authority.append(z.get_rrset(z.origin, dns.rdatatype.SOA))
                if node is None:
                    r.set_rcode(dns.rcode.NXDOMAIN)
    limit = 65535 if not udp else min(max(q.payload, 512), 4096) if q.edns >= 0 else 512
    try:
        return r.to_wire(max_size=limit)
    except dns.exception.TooBig:
        r.answer, r.authority = [], []
        r.flags |= 0x0200  # TC
        return r.to_wire()


class _BigEdnsDNS(asyncio.DatagramProtocol):
    def __init__(self, zone: object) -> None:
        self.zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = _authoritative(self.zone, data, udp=True)
        if out is not None:
            self.transport.sendto(out, addr)  # type: ignore[attr-defined]


async def _big_edns_tcp(zone: object, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
            out = _authoritative(zone, await asyncio.wait_for(reader.readexactly(size), 10), udp=False)
            if out is None:
                break
            writer.write(struct.pack("!H", len(out)) + out)
            await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(config: dict[str, list[list[object]]]) -> None:
    if any(h[2] == "gzipbomb" for h in config.get("hostile", [])):
        _bomb()  # before listening: the lab waits for the listeners
    servers: list[asyncio.Server] = []
    for addr, port in config.get("tarpit", []):
        sock = _listener(str(addr), int(str(port)), backlog=1024)
        servers.append(await asyncio.start_server(_hold, sock=sock))
    for addr, mode, name, *pem in config.get("smtp", []):
        sock = _listener(str(addr), 25)
        if mode in ("greets", "starttls"):
            tls = None
            if mode == "starttls":
                tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                tls.load_cert_chain(str(pem[0]), str(pem[1]))

            def smtp_handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: str = str(name),
                             t: ssl.SSLContext | None = tls) -> asyncio.Future[None]:
                return asyncio.ensure_future(_smtp_greets(n, r, w, t))
            servers.append(await asyncio.start_server(smtp_handler, sock=sock))
        else:
            servers.append(await asyncio.start_server(_smtp_silent, sock=sock))
    for addr, port, kind, cert, key in config.get("hostile", []):
        sock = _listener(str(addr), int(str(port)), backlog=256)
        if kind == "tls-stall":
            servers.append(await asyncio.start_server(_tls_stall, sock=sock))
            continue
        ctx = None
        if cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(cert), str(key))

        def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, k: str = str(kind)
                    ) -> asyncio.Future[None]:
            return asyncio.ensure_future(_hostile(k, r, w))

        servers.append(await asyncio.start_server(handler, sock=sock, ssl=ctx))
    loop = asyncio.get_running_loop()
    for (addr,) in config.get("garbage_dns", []):
        fam = socket.AF_INET6 if ":" in str(addr) else socket.AF_INET
        await loop.create_datagram_endpoint(_GarbageDNS, local_addr=(str(addr), 53), family=fam)
        servers.append(await asyncio.start_server(_garbage_tcp, sock=_listener(str(addr), 53)))
    for addr, origin, text in config.get("big_edns", []):
        import dns.zone

        zone = dns.zone.from_text(str(text), origin=str(origin), relativize=False)
        fam = socket.AF_INET6 if ":" in str(addr) else socket.AF_INET
        await loop.create_datagram_endpoint(functools.partial(_BigEdnsDNS, zone), local_addr=(str(addr), 53),
                                            family=fam)

        def dns_handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, z: object = zone) -> asyncio.Future[None]:
            return asyncio.ensure_future(_big_edns_tcp(z, r, w))

        servers.append(await asyncio.start_server(dns_handler, sock=_listener(str(addr), 53)))
    print(f"peers ready: {len(servers)} listeners", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
