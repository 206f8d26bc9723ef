"""Small purpose-built misbehaving peers, run inside a lab server namespace.

``python -m tests.lab.peers CONFIG.json`` serves, until killed:

* tarpits: the TCP handshake completes and nothing is ever said.  (A socket
  that listens but never accepts does the same until its accept queue is
  full; then new handshakes stall instead, so ours accept and hold the
  connections silently, and a long test session sees the same tarpit.)
* SMTP peers: ``greets`` (220 banner, EHLO, QUIT) or ``silent`` (accepts and
  never writes).

The config is ``{"tarpit": [[addr, port], ...], "smtp": [[addr, mode, name], ...]}``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

__all__ = ["main", "serve"]


def _listener(addr: str, port: int, backlog: int = 16) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    return s


async def _smtp_greets(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(f"220 {name} ESMTP v6scan-lab\r\n".encode())
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                break
            verb = line.strip().split(b" ", 1)[0].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(f"250-{name}\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n".encode())
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                break
            elif verb == b"NOOP":
                writer.write(b"250 2.0.0 ok\r\n")
            else:
                writer.write(b"502 5.5.2 not implemented in the lab\r\n")
            await writer.drain()
    except (TimeoutError, ConnectionError):
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


async def serve(config: dict[str, list[list[object]]]) -> None:
    servers: list[asyncio.Server] = []
    for addr, port in config.get("tarpit", []):
        sock = _listener(str(addr), int(str(port)), backlog=1024)
        servers.append(await asyncio.start_server(_hold, sock=sock))
    for addr, mode, name in config.get("smtp", []):
        sock = _listener(str(addr), 25)
        if mode == "greets":
            def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: str = str(name)
                        ) -> asyncio.Future[None]:
                return asyncio.ensure_future(_smtp_greets(n, r, w))
            servers.append(await asyncio.start_server(handler, sock=sock))
        else:
            servers.append(await asyncio.start_server(_smtp_silent, sock=sock))
    print(f"peers ready: {len(servers)} listeners", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
