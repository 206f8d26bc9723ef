"""Direct DNS over shared UDP sockets (v6scan.dnsudp.UdpMux), against DNS servers of ours on loopback.

Each query must get its own answer whatever order answers come in, a server never has more than
the limit in flight (TCP slot holders included), and what a query sees of a misbehaving server
(garbage, another question, a short datagram, silence, a send error) is what it saw with a socket of
its own (``v6scan.dnsdirect.ask`` without the mux).
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rrset
import pytest

from v6scan.dnsdirect import ask
from v6scan.dnsudp import UdpMux
from v6scan.model import Status


class Server(asyncio.DatagramProtocol):
    """A loopback DNS server: how it answers depends on the first label of the question."""

    def __init__(self) -> None:
        self.received = 0
        self.outstanding = 0  # received and not answered (nor left unanswered on purpose)
        self.most_outstanding = 0
        self.ids: list[int] = []
        self.names: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.stray: socket.socket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        q = dns.message.from_wire(data)
        self.received += 1
        self.ids.append(q.id)
        name = q.question[0].name
        self.names.append(name.to_text())
        kind = name.labels[0].decode()
        assert self.transport is not None
        send = self.transport.sendto
        if kind == "silent":
            return
        if kind == "garbage":  # the id, then a header claiming records that are not there
            send(data[:2] + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\xc0\x0c\xff\xff" + b"\x07" * 40, addr)
            return
        if kind == "short":
            send(b"\x01", addr)
            return
        r = dns.message.make_response(q)
        if kind == "other":  # the query's id, another question
            r.question = [dns.rrset.RRset(dns.name.from_text("elsewhere.test."), 1, 1)]
        else:
            r.answer.append(dns.rrset.from_text(name, 60, "IN", "TXT", f'"{name}"'))
        wire = r.to_wire()
        if kind == "stray":  # first a copy from another port, then a wrong id, then the answer
            assert self.stray is not None
            self.stray.sendto(wire, addr)
            send(bytes([wire[0] ^ 0xFF]) + wire[1:], addr)
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        delay = random.uniform(0, 0.03) if kind.startswith("q") else 0.0

        def answer() -> None:
            self.outstanding -= 1
            send(wire, addr)

        asyncio.get_running_loop().call_later(delay, answer)


async def _serve(host: str, run: Callable[[Server, int], Awaitable[Any]]) -> Any:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(Server, local_addr=(host, 0))
    server.stray = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    server.stray.bind((host, 0))
    try:
        return await run(server, transport.get_extra_info("sockname")[1])
    finally:
        server.stray.close()
        transport.close()


def serving(run: Callable[[Server, int], Awaitable[Any]], host: str = "127.0.0.1") -> Any:
    return asyncio.run(_serve(host, run))


def query(name: str) -> dns.message.Message:
    return dns.message.make_query(name, "TXT")


def txt(r: dns.message.Message) -> str:
    return r.answer[0][0].to_text().strip('"')


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_each_query_gets_its_own_answer_on_one_socket_within_the_limit(host: str) -> None:
    names = [f"q{i}.test." for i in range(300)]

    async def run(server: Server, port: int) -> tuple[list[str], int, int]:
        mux = UdpMux(limit=8)
        try:
            answers = await asyncio.gather(*(mux.query(query(n), host, port, 5.0) for n in names))
            return [txt(a) for a in answers], mux.sockets, mux.servers
        finally:
            await mux.close()

    texts, sockets, servers = serving(run, host)
    assert texts == names
    assert sockets == 1 and servers == 0


def test_a_server_never_has_more_than_the_limit_in_flight() -> None:
    async def run(server: Server, port: int) -> int:
        mux = UdpMux(limit=5)
        try:
            await asyncio.gather(*(mux.query(query(f"q{i}.test."), "127.0.0.1", port, 5.0) for i in range(200)))
        finally:
            await mux.close()
        return server.most_outstanding

    assert serving(run) == 5


def test_tcp_slot_holders_count_against_the_same_limit() -> None:
    async def run(server: Server, port: int) -> tuple[int, int, str]:
        mux = UdpMux(limit=2)
        try:
            first, second = mux.slot("127.0.0.1"), mux.slot("127.0.0.1")
            await first.__aenter__()
            await second.__aenter__()
            waiting = asyncio.ensure_future(mux.query(query("a.test."), "127.0.0.1", port, 5.0))
            await asyncio.sleep(0.1)
            before = server.received  # both slots held: nothing sent
            await first.__aexit__(None, None, None)
            answer = await waiting
            after = server.received
            await second.__aexit__(None, None, None)
            return before, after, txt(answer)
        finally:
            await mux.close()

    assert serving(run) == (0, 1, "a.test.")


def test_a_slot_waiter_goes_when_a_query_ends() -> None:
    async def run(server: Server, port: int) -> tuple[bool, int]:
        mux = UdpMux(limit=1)
        try:
            q = asyncio.ensure_future(mux.query(query("q1.test."), "127.0.0.1", port, 5.0))
            await asyncio.sleep(0)
            entered = asyncio.Event()

            async def tcp() -> None:
                async with mux.slot("127.0.0.1"):
                    entered.set()

            holder = asyncio.ensure_future(tcp())
            await asyncio.sleep(0)
            was_set = entered.is_set()
            await q
            await holder
            return was_set, mux.servers
        finally:
            await mux.close()

    assert serving(run) == (False, 0)


def test_ids_in_flight_at_one_server_are_made_unique() -> None:
    async def run(server: Server, port: int) -> tuple[list[str], list[int]]:
        mux = UdpMux()
        qs = [query(f"q{i}.test.") for i in range(5)]
        for q in qs:
            q.id = 4242
        try:
            answers = await asyncio.gather(*(mux.query(q, "127.0.0.1", port, 5.0) for q in qs))
        finally:
            await mux.close()
        return [txt(a) for a in answers], server.ids

    texts, ids = serving(run)
    assert texts == [f"q{i}.test." for i in range(5)]
    assert len(set(ids)) == 5


def test_stray_copies_and_wrong_ids_are_ignored() -> None:
    async def run(server: Server, port: int) -> str:
        mux = UdpMux()
        try:
            return txt(await mux.query(query("stray.test."), "127.0.0.1", port, 5.0))
        finally:
            await mux.close()

    assert serving(run) == "stray.test."


@pytest.mark.parametrize("kind", ["garbage", "other", "short", "silent"])
def test_a_misbehaving_server_looks_the_same_as_with_a_socket_per_query(kind: str) -> None:
    """dnsdirect.ask through the mux gives the status and the reason a socket of its own gave."""
    async def run(server: Server, port: int) -> tuple[tuple[Status, str | None], tuple[Status, str | None], int]:
        mux = UdpMux()
        try:
            shared = await ask("127.0.0.1", f"{kind}.test", "TXT", timeout=0.3, port=port, mux=mux)
            own = await ask("127.0.0.1", f"{kind}.test", "TXT", timeout=0.3, port=port)
            return (shared.status, shared.error), (own.status, own.error), mux.servers
        finally:
            await mux.close()

    shared, own, servers = serving(run)
    assert shared == own
    assert shared[0] is (Status.TIMEOUT if kind == "silent" else Status.ERROR)
    assert servers == 0


def test_a_short_datagram_fails_every_query_in_flight_to_its_sender() -> None:
    async def run(server: Server, port: int) -> list[str]:
        mux = UdpMux()
        try:
            outcomes = await asyncio.gather(
                mux.query(query("silent.test."), "127.0.0.1", port, 2.0),
                mux.query(query("short.test."), "127.0.0.1", port, 2.0), return_exceptions=True)
        finally:
            await mux.close()
        return [type(o).__name__ for o in outcomes]

    assert serving(run) == ["ShortHeader", "ShortHeader"]


def test_a_send_error_is_the_querys_and_frees_its_slot() -> None:
    """Broadcast without SO_BROADCAST: sendto fails at once (EACCES), as a firewall's refusal does."""
    async def run() -> tuple[Status, str | None, int]:
        mux = UdpMux(limit=1)
        try:
            r = await ask("255.255.255.255", "a.test", "TXT", timeout=1.0, mux=mux)
            r2 = await ask("255.255.255.255", "b.test", "TXT", timeout=1.0, mux=mux)
            assert r2.status is r.status
            return r.status, r.error, mux.servers
        finally:
            await mux.close()

    status, error, servers = asyncio.run(run())
    assert status is Status.UNREACHABLE and error and "denied" in error.lower()
    assert servers == 0


def test_timeouts_and_cancellations_free_their_slots() -> None:
    async def run(server: Server, port: int) -> tuple[str, list[str], str, int]:
        mux = UdpMux(limit=1)
        try:
            silent = asyncio.ensure_future(mux.query(query("silent.test."), "127.0.0.1", port, 0.2))
            waiting = asyncio.ensure_future(mux.query(query("q1.test."), "127.0.0.1", port, 5.0))
            cancelled = asyncio.ensure_future(mux.query(query("q2.test."), "127.0.0.1", port, 5.0))
            await asyncio.sleep(0)
            cancelled.cancel()
            with pytest.raises(dns.exception.Timeout):
                await silent
            answer = txt(await waiting)
            # one in flight, cancelled: the next one is sent at once
            flying = asyncio.ensure_future(mux.query(query("silent.test."), "127.0.0.1", port, 5.0))
            await asyncio.sleep(0.05)
            flying.cancel()
            after = txt(await mux.query(query("q3.test."), "127.0.0.1", port, 5.0))
            return answer, server.names, after, mux.servers
        finally:
            await mux.close()

    # the cancelled waiter (q2) was never sent
    assert serving(run) == ("q1.test.", ["silent.test.", "q1.test.", "silent.test.", "q3.test."], "q3.test.", 0)


def test_sockets_are_replaced_and_old_ones_closed_when_drained() -> None:
    async def run(server: Server, port: int) -> tuple[list[str], int, int]:
        mux = UdpMux(rotate=5)
        try:
            answers = await asyncio.gather(*(mux.query(query(f"q{i}.test."), "127.0.0.1", port, 5.0)
                                             for i in range(23)))
            for i in range(7):
                await mux.query(query(f"q{i}.test."), "127.0.0.1", port, 5.0)
            return [txt(a) for a in answers], mux.sockets, server.received
        finally:
            await mux.close()

    texts, sockets, received = serving(run)
    assert texts == [f"q{i}.test." for i in range(23)]
    assert sockets == 1 and received == 30


def test_close_fails_what_waits_and_what_flies() -> None:
    async def run(server: Server, port: int) -> tuple[list[str], int, int]:
        mux = UdpMux(limit=1)
        flying = asyncio.ensure_future(mux.query(query("silent.test."), "127.0.0.1", port, 5.0))
        waiting = asyncio.ensure_future(mux.query(query("silent.test."), "127.0.0.1", port, 5.0))
        await asyncio.sleep(0.05)
        await mux.close()
        outcomes = await asyncio.gather(flying, waiting, return_exceptions=True)
        return [type(o).__name__ for o in outcomes], mux.sockets, mux.servers

    assert serving(run) == (["ConnectionAbortedError", "ConnectionAbortedError"], 0, 0)
