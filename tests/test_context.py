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
