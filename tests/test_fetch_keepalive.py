"""Kept-alive connections for one piece of work (v6scan.fetch.Connections), against an HTTP/1.1
server of ours on loopback that counts its connections and requests.

A kept connection serves only the name, address and port it was made for; a server that closed it
(its keep-alive timeout) costs a new connection, never a failed page; what a server asks to close
is closed; ``aclose`` leaves nothing open.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from v6scan.fetch import Chain, Connections, Fetcher, Limits, Page
from v6scan.model import Status
from v6scan.net import make_ssl_contexts


@dataclass
class Server:
    #: close a connection after this many requests on it (0: never)
    close_after: int = 0
    #: answer with ``Connection: close``
    say_close: bool = False
    #: close a connection, unanswered, when its second request comes (a keep-alive timeout that
    #: fires as the request arrives)
    drop_second: bool = False
    #: seconds before each response
    delay: float = 0.0
    #: paths answered with a redirect to "/"
    redirects: tuple[str, ...] = ()
    connections: int = 0
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection number, request head)
    open_now: int = 0

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        number, served = self.connections, 0
        try:
            while True:
                try:
                    head = await r.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if self.drop_second and served == 1:
                    return
                self.requests.append((number, head))
                served += 1
                path = head.split(b" ")[1].decode()
                await asyncio.sleep(self.delay)
                body = f"<html><title>{path}</title><a href='/a'>a</a></html>".encode()
                status = "302 Found\r\nLocation: /" if path in self.redirects else "200 OK"
                close = self.say_close or (self.close_after and served >= self.close_after)
                w.write(f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
                        f"{'Connection: close' + chr(13) + chr(10) if self.say_close else ''}\r\n".encode() + body)
                await w.drain()
                if close:
                    return
        finally:
            self.open_now -= 1
            w.close()


def run_with(server: Server, work: object) -> object:
    async def go() -> object:
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        f = Fetcher(make_ssl_contexts()[0], Limits(connect=2, first_byte=2, body=3))
        keep = Connections()
        try:
            out = await work(f, keep, port)  # type: ignore[operator]
            await keep.aclose()
            await asyncio.sleep(0.05)
            return out, keep
        finally:
            await f.aclose()
            srv.close()

    return asyncio.run(go())


def test_requests_for_one_name_share_one_connection() -> None:
    server = Server()

    async def work(f: Fetcher, keep: Connections, port: int) -> list[Page]:
        return [await f.get(f"http://site.test:{port}/{i}", "127.0.0.1", keep=keep) for i in range(4)]

    pages, keep = run_with(server, work)  # type: ignore[misc]
    assert [p.status for p in pages] == [Status.OK] * 4
    assert [p.title for p in pages] == ["/0", "/1", "/2", "/3"]
    assert server.connections == 1 and len(server.requests) == 4
    assert (keep.opened, keep.reused) == (1, 3)
    assert all(b"connection: close" not in h.lower() for _, h in server.requests)
    assert server.open_now == 0 and keep.idle == 0  # aclose closed it


def test_another_name_at_the_same_address_gets_its_own_connection() -> None:
    server = Server()

    async def work(f: Fetcher, keep: Connections, port: int) -> list[Page]:
        return [await f.get(f"http://{h}:{port}/", "127.0.0.1", keep=keep)
                for h in ("a.test", "b.test", "a.test", "b.test")]

    pages, keep = run_with(server, work)  # type: ignore[misc]
    assert all(p.status is Status.OK for p in pages)
    assert server.connections == 2 and (keep.opened, keep.reused) == (2, 2)
    hosts: dict[int, set[bytes]] = {}
    for n, head in server.requests:
        hosts.setdefault(n, set()).add(head.split(b"Host: ")[1].split(b":")[0])
    assert sorted(map(sorted, hosts.values())) == [[b"a.test"], [b"b.test"]]  # one name per connection


def test_at_most_one_idle_connection_is_kept_per_name_address_and_port() -> None:
    server = Server(delay=0.1)

    async def work(f: Fetcher, keep: Connections, port: int) -> tuple[list[Page], int, int]:
        pages = await asyncio.gather(*(f.get(f"http://site.test:{port}/{i}", "127.0.0.1", keep=keep)
                                       for i in range(3)))
        await asyncio.sleep(0.05)
        return list(pages), keep.idle, server.open_now

    (pages, idle, open_now), keep = run_with(server, work)  # type: ignore[misc]
    assert all(p.status is Status.OK for p in pages)
    assert keep.opened == 3 and (idle, open_now) == (1, 1)  # three at once; two closed when done
    assert server.open_now == 0


def test_a_connection_the_server_closed_costs_a_new_one_not_a_failed_page() -> None:
    server = Server(close_after=1)  # closes every connection after one response (a keep-alive timeout of 0)

    async def work(f: Fetcher, keep: Connections, port: int) -> list[Page]:
        out = []
        for i in range(3):
            out.append(await f.get(f"http://site.test:{port}/{i}", "127.0.0.1", keep=keep))
            await asyncio.sleep(0.05)  # the server's close has arrived
        return out

    pages, keep = run_with(server, work)  # type: ignore[misc]
    assert [p.status for p in pages] == [Status.OK] * 3
    assert [p.attempts for p in pages] == [1, 1, 1]
    assert server.connections == 3 and len(server.requests) == 3
    assert (keep.opened, keep.reused) == (3, 0)  # seen closed before a request was sent on it


def test_a_request_the_server_drops_on_a_kept_connection_is_sent_again_on_a_new_one() -> None:
    """The server closes a kept connection, unanswered, when the next request comes (its keep-alive
    timeout fired as it arrived): the request is sent again on a new connection, and the page is
    that answer, in one try."""
    server = Server(drop_second=True)

    async def work(f: Fetcher, keep: Connections, port: int) -> list[Page]:
        return [await f.get(f"http://site.test:{port}/{i}", "127.0.0.1", keep=keep) for i in range(4)]

    pages, keep = run_with(server, work)  # type: ignore[misc]
    assert [p.status for p in pages] == [Status.OK] * 4
    assert [p.title for p in pages] == [f"/{i}" for i in range(4)]
    assert [p.attempts for p in pages] == [1, 1, 1, 1]
    # every request after the first tried its kept connection, then a new one
    assert (keep.opened, keep.reused) == (4, 3)
    assert [n for n, _ in server.requests] == [1, 2, 3, 4] and server.connections == 4
    assert server.open_now == 0


def test_connection_close_from_the_server_is_honoured() -> None:
    server = Server(say_close=True)

    async def work(f: Fetcher, keep: Connections, port: int) -> list[Page]:
        return [await f.get(f"http://site.test:{port}/{i}", "127.0.0.1", keep=keep) for i in range(3)]

    pages, keep = run_with(server, work)  # type: ignore[misc]
    assert all(p.status is Status.OK for p in pages)
    assert server.connections == 3 and keep.reused == 0 and keep.idle == 0


def test_redirect_chains_reuse_the_connection_of_an_unread_redirect_body_never() -> None:
    server = Server(redirects=("/old",))

    async def resolve(host: str, family: str) -> tuple[str | None, str]:
        return "127.0.0.1", ""

    async def work(f: Fetcher, keep: Connections, port: int) -> Chain:
        return await f.follow(f"http://site.test:{port}/old", "127.0.0.1", "v4", resolve, keep=keep)

    chain, keep = run_with(server, work)  # type: ignore[misc]
    assert chain.status is Status.OK and chain.final is not None and chain.final.title == "/"
    # the redirect's body is not read, so its connection cannot carry the next request
    assert server.connections == 2 and keep.opened == 2


def test_without_connections_every_request_has_its_own_and_says_close() -> None:
    server = Server()

    async def work(f: Fetcher, keep: Connections, port: int) -> list[Page]:
        return [await f.get(f"http://site.test:{port}/{i}", "127.0.0.1") for i in range(3)]

    pages, keep = run_with(server, work)  # type: ignore[misc]
    assert all(p.status is Status.OK for p in pages)
    assert server.connections == 3 and keep.opened == 0
    assert all(b"connection: close" in h.lower() for _, h in server.requests)
