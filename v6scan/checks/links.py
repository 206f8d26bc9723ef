"""What ``web.links`` and ``web.resources`` share: the homepage's links, the link visits, the
DNS verdict of hosts.

Links are read by a linear tokeniser over a bounded prefix of the page
(:mod:`v6scan.markup`, off the event loop), resolved against the page URL
(``<base href>`` honoured), reduced to distinct http(s) URLs without fragments,
and split into internal (same registrable domain, public-suffix aware) and
external ones.  URLs no browser would fetch (a bad port, an IP-literal or
undecodable host, ``javascript:``) are recorded as ``rejected``; hosts on the
exclusion list as ``excluded``, never contacted.  Every cap (links per level,
external and subresource hosts, characters parsed) says in ``caps_hit`` when
it was reached.  Internal 2nd-level links (on the homepage) and
3rd-level links (on those pages) are fetched over IPv6 through the same
pinned, capped fetcher (:class:`Crawler`); a page that is IPv4-only is still
read over IPv4 so its own links are known.  External links and subresource
hosts are judged by their DNS only (a usable AAAA or not: :func:`host_rows`).

The homepage (:func:`homepage`: web.http's final page, IPv6 preferred) is read once per name for
both checks, shared as ``web.crawl``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from v6scan.addresses import classify
from v6scan.attempts import TRANSIENT
from v6scan.checks.base import Row, Run, optional
from v6scan.checks.webstate import HTTP_ERROR_FROM, WebState, fetched, resolve_hop
from v6scan.context import Context
from v6scan.eventloop import off_loop_if_large
from v6scan.fetch import Chain, Connections, Page
from v6scan.markup import PageLinks
from v6scan.markup import parse_links as parse_markup
from v6scan.model import JSON, Status, cap_hit
from v6scan.settings import Settings

__all__ = [
    "Crawler",
    "Homepage",
    "HostRow",
    "LinkVisit",
    "PageLinks",
    "RejectedRow",
    "ResourceRow",
    "homepage",
    "host_rows",
    "parse_links",
    "rejected_rows",
    "v4_literal",
]


def parse_links(html: str, base: str, limit: int = Settings.max_parse) -> PageLinks:
    """Links and subresources of a page (:func:`v6scan.markup.parse_links`: a linear tokeniser over
    the first ``limit`` characters), duplicates removed, unusable URLs in ``rejected``."""
    return parse_markup(html, base, limit)


async def read_links(ctx: Context, text: str, url: str) -> PageLinks:
    """:func:`parse_links` of hostile markup: a bounded prefix, tokenised in linear time, on the CPU
    threads unless it is small."""
    return await off_loop_if_large(min(len(text), ctx.settings.max_parse), parse_links, text, url,
                                   ctx.settings.max_parse)


# --------------------------------------------------------------------------- rows both checks write


@dataclass(frozen=True, kw_only=True)
class RejectedRow(Row):
    """A URL no browser would fetch, and why."""

    url: str = ""
    reason: str = ""
    #: the level-2 page it was found on (absent: on the homepage)
    found_on: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class ResourceRow(Row):
    """One subresource: its kind (the tag, or stylesheet/font/link) and URL."""

    kind: str = ""
    url: str = ""


@dataclass(frozen=True, kw_only=True)
class HostRow(Row):
    """The DNS verdict of one external-link or subresource host."""

    host: str = ""
    #: on the exclusion list (``entry`` the entry it matched): not looked up
    excluded: bool = optional(False)
    entry: str | None = optional()
    #: it has an AAAA the scanner may use (absent for an excluded host)
    usable_aaaa: bool | None = optional()
    #: its AAAA records (subresource hosts only)
    aaaa: tuple[str, ...] | None = optional()
    #: an IPv4 address literal named as a host (subresources only)
    ipv4_literal: bool = optional(False)
    #: its subresources (at most ``max_listed_resources``) and their number (subresource hosts only)
    resources: tuple[ResourceRow, ...] | None = optional()
    count: int | None = optional()
    #: why it has no usable AAAA
    reason: str | None = optional()


def rejected_rows(found: PageLinks, found_on: str | None = None) -> list[RejectedRow]:
    return [RejectedRow(url=url, reason=reason, found_on=found_on) for url, reason in found.rejected]


def v4_literal(url: str) -> str | None:
    """The IPv4 address a URL names literally (an IPv4-only link or resource), else None."""
    try:
        host = urlsplit(url).hostname or ""
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


async def v6_address(ctx: Context, host: str) -> tuple[str | None, list[str], str | None]:
    """The first AAAA of ``host`` the scanner may use, every AAAA, and why none is usable."""
    ans = await ctx.lookup(host, "AAAA")
    values = list(ans.values)
    if ans.status is Status.NODATA:
        return None, values, "no AAAA record"
    if ans.status is not Status.OK:
        return None, values, f"AAAA lookup: {ans.status}"
    for v in values:
        if ctx.policy.allows(v):
            return v, values, None
    return None, values, "no usable AAAA (" + "; ".join(classify(v).describe() for v in values) + ")"


async def v4_address(ctx: Context, host: str) -> str | None:
    ans = await ctx.lookup(host, "A")
    return next((v for v in ans.values if ctx.policy.allows(v)), None)


async def host_rows(ctx: Context, hosts: Sequence[str], cap: int, cap_name: str,
                    resources: Mapping[str, Sequence[tuple[str, str]]] | None = None
                    ) -> tuple[list[HostRow], list[dict[str, JSON]]]:
    """The DNS verdict (a usable AAAA or not) of at most ``cap`` hosts, in order; hosts on the exclusion
    list are recorded, not looked up.  With ``resources`` (each host's subresources, kind and URL), a
    row also lists the AAAA records and the host's resources.  Returns the rows and the ``caps_hit``
    entries."""
    listed = ctx.settings.max_listed_resources
    rows: list[HostRow] = []
    for h in hosts[:cap]:
        more: dict[str, JSON] = {}
        if resources is not None:
            more = {"resources": tuple(ResourceRow(kind=k, url=u) for k, u in resources[h][:listed]),
                    "count": len(resources[h])}
        if (entry := ctx.excluded(h)) is not None:
            rows.append(HostRow(host=h, excluded=True, entry=entry, **more))
            continue
        addr, aaaa, reason = await v6_address(ctx, h)
        rows.append(HostRow(host=h, usable_aaaa=addr is not None,
                            aaaa=tuple(aaaa) if resources is not None else None, reason=reason or None, **more))
    return rows, ([cap_hit(cap_name, cap, len(hosts))] if len(hosts) > cap else [])


# --------------------------------------------------------------------------- the homepage


@dataclass(frozen=True)
class Homepage:
    """The homepage web.http fetched (IPv6 preferred) and its links."""

    url: str
    #: the family it was fetched over (v6, v4)
    family: str
    links: PageLinks
    #: the ``caps_hit`` entry when the page was longer than ``max_parse`` (the rest was not read)
    parse_cap: dict[str, JSON] | None = None


def _home(st: WebState) -> tuple[str, str, str] | None:
    """(final URL, text, family) of the homepage, IPv6 preferred."""
    for fam in ("v6", "v4"):
        for c in st.chains:
            f = c.final
            if c.family == fam and f is not None and f.text:
                return f.url, f.text, fam
    return None


async def _read_homepage(run: Run) -> Homepage | None:
    home = _home(await fetched(run))
    if home is None:
        return None
    url, text, family = home
    found = await read_links(run.ctx, text, url)
    cap = cap_hit("max_parse", run.ctx.settings.max_parse, len(text), page=url) if found.truncated else None
    return Homepage(url, family, found, cap)


async def homepage(run: Run) -> Homepage | None:
    """The homepage of the run's name and its links, read once for ``web.links`` and
    ``web.resources`` (None: no homepage was fetched over either family)."""
    return await run.shared("web.crawl", lambda: _read_homepage(run))


# --------------------------------------------------------------------------- visiting links


@dataclass
class LinkVisit:
    """One internal link and what fetching it found."""

    url: str
    level: int
    found_on: str
    host: str = ""
    aaaa: list[str] = field(default_factory=list)
    usable_v6: str | None = None
    reason: str | None = None
    excluded: str | None = None  # the exclusion-list entry the host matches: never contacted
    v6: Chain | None = None
    links: PageLinks | None = None  # the page's own links (level 2 only), its text not kept

    def ok(self) -> bool:
        """It was fetched over IPv6 and its final page is no HTTP error."""
        f = self.v6.final if self.v6 else None
        return f is not None and f.http_status is not None and f.http_status < HTTP_ERROR_FROM


class Crawler:
    """Fetches internal links over IPv6 (and, for their own links, IPv4-only pages over IPv4),
    politely: two fetches from one host are ``link_delay`` apart."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._last_fetch: dict[str, float] = {}
        #: kept-alive connections, one per name, address and port at a time: a site's links are
        #: mostly on its own host, and a TLS handshake per link was most of the crawl's CPU
        self.connections = Connections()

    async def aclose(self) -> None:
        await self.connections.aclose()

    async def _polite(self, host: str) -> None:
        delay = self.ctx.settings.link_delay
        last = self._last_fetch.get(host, 0.0)
        wait = last + delay - time.monotonic()
        self._last_fetch[host] = max(time.monotonic(), last + delay)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _fetch(self, url: str, host: str, address: str, family: str) -> Chain:
        ctx = self.ctx
        await self._polite(host)
        async with ctx.slot(address):
            return await ctx.fetcher.follow(url, address, family, lambda h, f: resolve_hop(ctx, h, f),
                                            keep=self.connections)

    def _unreachable(self, url: str, address: str) -> Chain | None:
        """A failed fetch of ``url`` from ``address`` without a new connection, when the sweep's TCP probe of
        that address and port (web.reach's, shared for ``probe_ttl``) found it silent or unreachable after
        its tries: a fetch would wait out the same timeouts (on an address the site's other links share)
        to the same end.  None when no such probe is known, or it connected or was refused."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        done, value = self.ctx.ready(("tcp", address, str(port)), self.ctx.settings.probe_ttl)
        if not done:
            return None
        probe, made_for = value
        if probe.status not in TRANSIENT:
            return None
        why = (f"not fetched: port {port} of {address} did not accept connections ({probe.status}"
               f"{': ' + probe.error if probe.error else ''}; TCP probe for {made_for}, {probe.attempts} tries)")
        return Chain("v6", url, [Page(url, address, probe.status, error=why)], why, probe.status)

    async def visit(self, p: LinkVisit) -> None:
        """Fetch ``p`` over IPv6 when its host has a usable AAAA; read its links (levels below 3),
        over IPv4 when IPv6 gave no page."""
        ctx = self.ctx
        p.host = urlsplit(p.url).hostname or ""
        if (entry := ctx.excluded(p.host)) is not None:
            p.excluded, p.reason = entry, f"{p.host} is on the exclusion list ({entry}): not contacted"
            return
        p.usable_v6, p.aaaa, p.reason = await v6_address(ctx, p.host)
        text = ""
        if p.usable_v6 is not None:
            p.v6 = self._unreachable(p.url, p.usable_v6) or await self._fetch(p.url, p.host, p.usable_v6, "v6")
            if p.v6.final is not None:
                text = p.v6.final.text
                p.v6.final.text = ""  # its links are what is kept, not the page
        if not text and p.level < 3:  # an IPv4-only page: read it over IPv4 for its links
            v4 = await v4_address(ctx, p.host)
            if v4 is not None:
                c = await self._fetch(p.url, p.host, v4, "v4")
                if c.final is not None:
                    text = c.final.text
        if text and p.level < 3:
            p.links = await read_links(ctx, text, p.url)
