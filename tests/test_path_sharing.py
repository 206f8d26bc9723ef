"""The path probes of an address are made once for every name of the sweep that has it (as web.reach's
TCP probes are): path.icmp's echo and traceroute, path.mtu's sized echoes."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from v6scan.checks import path_icmp, path_mtu
from v6scan.checks.path_icmp import Echo, Hop, IcmpRow
from v6scan.checks.path_mtu import MtuProbe
from v6scan.checks.webstate import WebState
from v6scan.context import Context
from v6scan.settings import Settings

SHARED, OWN = "2001:db8::1", "2001:db8::2"


def test_an_address_is_echoed_and_traced_once_for_every_name(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()

    async def fake(ctx: Context, addr: str) -> IcmpRow:
        calls[addr] += 1
        await asyncio.sleep(0.01)  # the other name asks while this one is in flight
        return IcmpRow.build(address=addr, echo=Echo(sent=3, replies=0, rtt_ms=()),
                             traceroute=[Hop(hop=1, address="2001:db8:ffff::1", reply="time-exceeded"),
                                         Hop(hop=2, reply="*")])

    monkeypatch.setattr(path_icmp, "_address", fake)

    async def go() -> tuple[list[IcmpRow], list[IcmpRow], list[IcmpRow]]:
        async with Context.create(Settings()) as ctx:
            a = WebState("a.test", v6=[SHARED, OWN])
            b = WebState("b.test", v6=[SHARED])
            ra, rb = await asyncio.gather(path_icmp._probe_all(ctx, a), path_icmp._probe_all(ctx, b))
            later = await path_icmp._probe_all(ctx, WebState("c.test", v6=[SHARED]))  # finished: kept
            return ra, rb, later

    ra, rb, later = asyncio.run(go())
    assert calls == {SHARED: 1, OWN: 1}
    shared = [r for r in (*ra, *rb) if r.address == SHARED]
    assert sorted(str(r.shared_with) for r in shared) in (["None", "b.test"], ["None", "a.test"])
    # the same measurement in every name's row, saying whose it was
    assert len({(r.echo, r.traceroute, r.last_hop, r.reached) for r in (*shared, *later)}) == 1
    assert later[0].shared_with in ("a.test", "b.test")
    assert "shared_with" not in next(r for r in shared if r.shared_with is None).to_json()
    assert IcmpRow.from_json(later[0].to_json()) == later[0]


def test_a_failed_measurement_is_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CAP_NET_RAW (or any error) is not remembered: the next name tries again."""
    calls: Counter[str] = Counter()

    async def fails(ctx: Context, addr: str) -> IcmpRow:
        calls[addr] += 1
        raise PermissionError(1, "no CAP_NET_RAW")

    monkeypatch.setattr(path_icmp, "_address", fails)

    async def go() -> None:
        async with Context.create(Settings()) as ctx:
            for name in ("a.test", "b.test"):
                with pytest.raises(PermissionError):
                    await path_icmp._probe_all(ctx, WebState(name, v6=[SHARED]))

    asyncio.run(go())
    assert calls == {SHARED: 2}


def test_sized_echoes_of_an_address_are_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()

    async def fake(ctx: Context, addr: str) -> list[MtuProbe]:
        calls[addr] += 1
        await asyncio.sleep(0.01)
        return [MtuProbe(size=1280, reply="echo-reply", attempts=1), MtuProbe(size=1500, reply="echo-reply",
                                                                               attempts=1)]

    monkeypatch.setattr(path_mtu, "_sized_echoes", fake)

    async def go() -> list[path_mtu.MtuRow]:
        async with Context.create(Settings()) as ctx:
            states = [WebState(n, v6=[SHARED]) for n in ("a.test", "b.test", "c.test")]
            return list(await asyncio.gather(*(path_mtu._measure(ctx, st, SHARED) for st in states)))

    rows = asyncio.run(go())
    assert calls == {SHARED: 1}
    assert len({(r.result, r.probes) for r in rows}) == 1 and rows[0].result == "full"
