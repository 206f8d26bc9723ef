"""The crawl does not wait out again the timeouts of an address the sweep's TCP probe already found
silent: a link to it is a failed IPv6 fetch at once (the same end as a fetch), saying why."""

from __future__ import annotations

import asyncio

import pytest

from v6scan.checks import links
from v6scan.checks.links import Crawler, LinkVisit
from v6scan.context import Context
from v6scan.fetch import Chain, Page
from v6scan.model import Status
from v6scan.net import Probe
from v6scan.settings import Settings

DEAD, ALIVE, REFUSING, UNKNOWN = "2001:db8::dead", "2001:db8::1", "2001:db8::2", "2001:db8::3"


def visit(monkeypatch: pytest.MonkeyPatch, address: str, url: str = "https://a.test/page.html"
          ) -> tuple[LinkVisit, list[tuple[str, str]]]:
    fetched: list[tuple[str, str]] = []

    async def v6_address(ctx: Context, host: str) -> tuple[str | None, list[str], str | None]:
        return address, [address], None

    async def v4_address(ctx: Context, host: str) -> str | None:
        return None

    async def fetch(self: Crawler, url: str, host: str, addr: str, family: str) -> Chain:
        fetched.append((url, addr))
        return Chain(family, url, [Page(url, addr, Status.OK, 200)])

    monkeypatch.setattr(links, "v6_address", v6_address)
    monkeypatch.setattr(links, "v4_address", v4_address)
    monkeypatch.setattr(Crawler, "_fetch", fetch)

    async def go() -> LinkVisit:
        async with Context.create(Settings()) as ctx:
            for addr, status in ((DEAD, Status.TIMEOUT), (ALIVE, Status.OK), (REFUSING, Status.REFUSED)):
                async def probe(addr: str = addr, status: Status = status) -> tuple[Probe, str]:
                    error = "timed out" if status is Status.TIMEOUT else None
                    return Probe(addr, 443, status, 1.0, error, 3), "b.test"
                await ctx.cached(("tcp", addr, "443"), probe, ttl=ctx.settings.probe_ttl)
            p = LinkVisit(url, 3, "https://a.test/")
            await Crawler(ctx).visit(p)
            return p

    return asyncio.run(go()), fetched


def test_a_link_to_a_silent_address_fails_without_a_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    p, fetched = visit(monkeypatch, DEAD)
    assert fetched == [] and p.v6 is not None and not p.ok()
    assert p.v6.status is Status.TIMEOUT and p.v6.hops[0].address == DEAD
    assert "port 443 of 2001:db8::dead did not accept connections" in (p.v6.error or "")
    assert "b.test" in (p.v6.error or "")  # whose probe it was


@pytest.mark.parametrize("address", [ALIVE, REFUSING, UNKNOWN])
def test_other_addresses_are_fetched(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    p, fetched = visit(monkeypatch, address)
    assert fetched == [("https://a.test/page.html", address)] and p.ok()


def test_the_port_follows_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """Port 80 of the silent address was never probed: the link is fetched."""
    p, fetched = visit(monkeypatch, DEAD, "http://a.test/page.html")
    assert p.ok()
    assert fetched == [("http://a.test/page.html", DEAD)]
