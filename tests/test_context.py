"""The per-sweep state of a Context stays bounded however many sites a sweep has."""

from __future__ import annotations

import asyncio

from v6scan.context import Context
from v6scan.settings import Settings


def test_learned_delegations_keep_the_most_recent_zones_only() -> None:
    async def go() -> Context:
        async with Context.create(Settings()) as ctx:
            ctx.cache_size = 3
            for i in range(10):
                ctx.learn_delegation(f"zone{i}.test", [(f"ns.zone{i}.test", f"2001:db8::{i}")])
            ctx.learn_delegation("zone8.test", [("ns.zone8.test", "2001:db8::8")])  # used again: kept
            ctx.learn_delegation("zone10.test", [("ns.zone10.test", "2001:db8::a")])
            return ctx

    ctx = asyncio.run(go())
    assert list(ctx.delegations_v6) == ["zone9.test", "zone8.test", "zone10.test"]


def test_per_server_query_limits_are_dropped_when_idle() -> None:
    """One semaphore per name-server address while it is asked, none after: a sweep over a million
    zones does not keep a million of them."""
    async def go() -> tuple[int, int, list[str]]:
        async with Context.create(Settings(ns_timeout=0.3, udp_attempts=1, retry_backoff=0.0)) as ctx:
            servers = [f"127.0.0.{i}" for i in range(9, 29)]  # nothing listens on 53 there
            asks = [asyncio.ensure_future(ctx.ask(s, "example.test", "SOA")) for s in servers]
            await asyncio.sleep(0)
            during = ctx.udp.servers
            replies = await asyncio.gather(*asks)
            return during, ctx.udp.servers, [str(r.status) for r in replies]

    during, after, statuses = asyncio.run(go())
    assert during == 20 and after == 0
    assert set(statuses) <= {"unreachable", "refused", "timeout"}



def _soa_answer(data: bytes) -> bytes:
    import dns.flags
    import dns.message
    import dns.rrset

    q = dns.message.from_wire(data)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    r.answer.append(dns.rrset.from_text("example.test.", 60, "IN", "SOA",
                                        "ns.example.test. admin.example.test. 1 60 60 60 60"))
    return bytes(r.to_wire())


class _SilentAtFirst(asyncio.DatagramProtocol):
    """An authoritative server on loopback that ignores its first ``drop`` UDP queries (a lossy
    path losing a whole series of tries) and answers every later one with the SOA, AA set."""

    def __init__(self, drop: int) -> None:
        self.drop, self.seen = drop, 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.seen += 1
        if self.seen > self.drop and self.transport is not None:
            self.transport.sendto(_soa_answer(data), addr)


async def _serve_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    size = int.from_bytes(await reader.readexactly(2), "big")
    answer = _soa_answer(await reader.readexactly(size))
    writer.write(len(answer).to_bytes(2, "big") + answer)
    await writer.drain()
    writer.close()


def test_a_name_servers_silence_is_confirmed_when_the_other_transport_answers() -> None:
    """dns.ns_reach's verdict is shared by every site of the zone: an address whose UDP series of
    tries was lost while it answered over TCP is asked again after a gap, and answered then it is
    answered (the tries of both series counted: the check warns about the retries, never fails the
    zone).  An address silent over both transports is down: it is not asked a second time."""
    from v6scan.checks.dns import AddressRow, probe_ns

    server = "127.0.0.77"

    async def go(tcp: bool) -> tuple[bool, int, bool, int]:
        loop = asyncio.get_running_loop()
        proto = _SilentAtFirst(drop=3)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=(server, 53))
        listener = await asyncio.start_server(_serve_tcp, server, 53) if tcp else None
        try:
            settings = Settings(ns_timeout=0.2, udp_attempts=3, retry_backoff=0.0, ns_confirm_gap=0.1,
                                allow_nets=("127.0.0.0/8",))
            async with Context.create(settings) as ctx:
                row = AddressRow(address=server, version=4, usable=True)
                p = await probe_ns(ctx, "example.test", "ns.example.test", row, "v4", "udp")
                return bool(p.answered), int(p.attempts or 0), p.confirmed, proto.seen
        finally:
            transport.close()
            if listener is not None:
                listener.close()
                await listener.wait_closed()

    assert asyncio.run(go(tcp=True)) == (True, 4, True, 4)
    assert asyncio.run(go(tcp=False)) == (False, 3, False, 3)
