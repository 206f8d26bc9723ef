"""``web.links`` and ``web.resources``: are the pages behind the homepage reachable over IPv6?

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
pinned, capped fetcher; a page that is IPv4-only is still read over IPv4 so
its own links are known.  External links and subresource hosts are judged by
their DNS only (a usable AAAA or not).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from v6scan.addresses import classify
from v6scan.checks.webstate import HTTP_ERROR_FROM, WebState, resolve_hop
from v6scan.context import Context
from v6scan.eventloop import off_loop
from v6scan.fetch import Chain
from v6scan.markup import PageLinks
from v6scan.markup import parse_links as parse_markup
from v6scan.model import JSON, Observation, Status, Stopwatch, cap_hit
from v6scan.settings import Settings
from v6scan.targets import registrable_domain

__all__ = ["PageLinks", "check_links", "parse_links"]


def parse_links(html: str, base: str, limit: int = Settings.max_parse) -> PageLinks:
    """Links and subresources of a page (:func:`v6scan.markup.parse_links`: a linear tokeniser over
    the first ``limit`` characters), duplicates removed, unusable URLs in ``rejected``."""
    return parse_markup(html, base, limit)


def _home(st: WebState) -> tuple[str, str, str] | None:
    """(final URL, text, family) of the homepage, IPv6 preferred."""
    for fam in ("v6", "v4"):
        for c in st.chains:
            f = c.final
            if c.family == fam and f is not None and f.text:
                return f.url, f.text, fam
    return None


@dataclass
class _Probe:
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
        f = self.v6.final if self.v6 else None
        return f is not None and f.http_status is not None and f.http_status < HTTP_ERROR_FROM

    def to_json(self) -> dict[str, JSON]:
        f = self.v6.final if self.v6 else None
        out: dict[str, JSON] = {"url": self.url, "level": self.level, "found_on": self.found_on, "host": self.host,
                                "usable_aaaa": self.usable_v6 is not None, "v6_ok": self.ok()}
        if self.excluded is not None:
            out.update(excluded=True, entry=self.excluded)
        if self.v6 is not None:
            out["v6_status"] = str(self.v6.status)
            out["v6_http_status"] = f.http_status if f else None
            if self.v6.error:
                out["v6_error"] = self.v6.error
        if self.reason:
            out["reason"] = self.reason
        return out


async def _v6_address(ctx: Context, host: str) -> tuple[str | None, list[str], str | None]:
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


async def _v4_address(ctx: Context, host: str) -> str | None:
    ans = await ctx.lookup(host, "A")
    return next((v for v in ans.values if ctx.policy.allows(v)), None)


def _rejected(found: PageLinks) -> list[dict[str, JSON]]:
    return [{"url": url, "reason": reason} for url, reason in found.rejected]


def _v4_literal(url: str) -> str | None:
    """The IPv4 address a URL names literally (an IPv4-only link or resource), else None."""
    try:
        host = urlsplit(url).hostname or ""
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


Rows = list[dict[str, JSON]]


async def _host_rows(ctx: Context, hosts: list[str], cap: int, cap_name: str,
                     more: dict[str, dict[str, JSON]] | None = None) -> tuple[Rows, Rows]:
    """The DNS verdict (a usable AAAA or not) of at most ``cap`` hosts, in order; hosts on the exclusion
    list are recorded, not looked up.  Returns the rows and the ``caps_hit`` entries."""
    rows: list[dict[str, JSON]] = []
    for h in hosts[:cap]:
        extra = (more or {}).get(h, {})
        if (entry := ctx.excluded(h)) is not None:
            rows.append({"host": h, "excluded": True, "entry": entry, **extra})
            continue
        addr, aaaa, reason = await _v6_address(ctx, h)
        rows.append({"host": h, "usable_aaaa": addr is not None, **({"aaaa": aaaa} if more is not None else {}),
                     **extra, **({"reason": reason} if reason else {})})
    return rows, ([cap_hit(cap_name, cap, len(hosts))] if len(hosts) > cap else [])


async def check_links(ctx: Context, st: WebState) -> list[Observation]:
    """``web.links`` and ``web.resources`` for one site name."""
    sw = Stopwatch()
    s = ctx.settings
    home = _home(st)
    if home is None:
        why = "no homepage was fetched over either family"
        return [Observation("web.links", st.name, Status.SKIPPED, {}, why, sw.stop(), sw.started_at),
                Observation("web.resources", st.name, Status.SKIPPED, {}, why, 0.0, sw.started_at)]
    home_url, home_text, home_family = home
    site = registrable_domain(st.name, s.extra_suffixes) or st.name
    last_fetch: dict[str, float] = {}

    async def polite(host: str) -> None:
        wait = last_fetch.get(host, 0.0) + s.link_delay - time.monotonic()
        last_fetch[host] = max(time.monotonic(), last_fetch.get(host, 0.0) + s.link_delay)
        if wait > 0:
            await asyncio.sleep(wait)

    def internal(url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return (registrable_domain(host, s.extra_suffixes) or host) == site

    async def read(text: str, url: str) -> PageLinks:
        # hostile markup: a bounded prefix, tokenised in linear time, on the CPU threads
        return await off_loop(parse_links, text, url, s.max_parse)

    async def probe(p: _Probe) -> None:
        p.host = urlsplit(p.url).hostname or ""
        if (entry := ctx.excluded(p.host)) is not None:
            p.excluded, p.reason = entry, f"{p.host} is on the exclusion list ({entry}): not contacted"
            return
        p.usable_v6, p.aaaa, p.reason = await _v6_address(ctx, p.host)
        text = ""
        if p.usable_v6 is not None:
            await polite(p.host)
            async with ctx.slot(p.usable_v6):
                p.v6 = await ctx.fetcher.follow(p.url, p.usable_v6, "v6",
                                                lambda h, f: resolve_hop(ctx, h, f))
            if p.v6.final is not None:
                text = p.v6.final.text
                p.v6.final.text = ""  # its links are what is kept, not the page
        if not text and p.level < 3:  # an IPv4-only page: read it over IPv4 for its links
            v4 = await _v4_address(ctx, p.host)
            if v4 is not None:
                await polite(p.host)
                async with ctx.slot(v4):
                    c = await ctx.fetcher.follow(p.url, v4, "v4", lambda h, f: resolve_hop(ctx, h, f))
                if c.final is not None:
                    text = c.final.text
        if text and p.level < 3:
            p.links = await read(text, p.url)

    home_links = await read(home_text, home_url)
    caps: list[dict[str, JSON]] = []
    if home_links.truncated:
        caps.append(cap_hit("max_parse", s.max_parse, len(home_text), page=home_url))
    seen = {home_url.rstrip("/"), f"https://{st.name}", f"http://{st.name}"}
    level2: list[_Probe] = []
    external: list[str] = []
    for u in home_links.links:
        key = u.rstrip("/")
        if key in seen:
            continue
        seen.add(key)
        if internal(u):
            level2.append(_Probe(u, 2, home_url))
        else:
            external.append(u)
    capped2 = len(level2) > s.max_links_per_level
    if capped2:
        caps.append(cap_hit("max_links_per_level", s.max_links_per_level, len(level2), level=2))
    level2 = level2[:s.max_links_per_level]
    await asyncio.gather(*(probe(p) for p in level2))
    level3: list[_Probe] = []
    rejected = _rejected(home_links)
    for p in level2:
        if p.links is None:
            continue
        rejected += [{**r, "found_on": p.url} for r in _rejected(p.links)]
        for u in p.links.links:
            key = u.rstrip("/")
            if key in seen:
                continue
            seen.add(key)
            if internal(u):
                level3.append(_Probe(u, 3, p.url))
            else:
                external.append(u)
        p.links = None
    capped3 = len(level3) > s.max_links_per_level
    if capped3:
        caps.append(cap_hit("max_links_per_level", s.max_links_per_level, len(level3), level=3))
    level3 = level3[:s.max_links_per_level]
    await asyncio.gather(*(probe(p) for p in level3))

    ext_hosts = sorted({urlsplit(u).hostname or "" for u in external})
    ext_rows, ext_caps = await _host_rows(ctx, ext_hosts, s.max_external_hosts, "max_external_hosts")
    caps += ext_caps

    def judged(ps: list[_Probe]) -> list[_Probe]:
        return [p for p in ps if p.excluded is None]  # an excluded link is not the site's failure

    def rate(ps: list[_Probe]) -> float | None:
        ps = judged(ps)
        return round(sum(p.ok() for p in ps) / len(ps), 4) if ps else None

    ev: dict[str, JSON] = {
        "homepage": home_url, "homepage_family": home_family, "registrable_domain": site,
        "level2": {"links": len(judged(level2)), "v6_ok": sum(p.ok() for p in level2), "rate": rate(level2),
                   "capped": capped2},
        "level3": {"links": len(judged(level3)), "v6_ok": sum(p.ok() for p in level3), "rate": rate(level3),
                   "capped": capped3},
        "urls": [p.to_json() for p in [*level2, *level3]],
        "v4_only": [p.url for p in judged([*level2, *level3]) if not p.ok()],
        "excluded": [p.url for p in [*level2, *level3] if p.excluded is not None],
        "external": ext_rows,
        "rejected": rejected[:s.max_listed_rejected],
        # links to an IPv4 address literal: never reachable from an IPv6-only client
        "v4_literal_links": [str(r["url"]) for r in rejected if _v4_literal(str(r["url"]))][:s.max_listed_v4_literals],
    }
    if caps:
        ev["caps_hit"] = caps
    links_obs = Observation("web.links", st.name, Status.OK if judged(level2) else Status.SKIPPED, ev,
                            None if judged(level2) else "the homepage has no internal links (that may be contacted)",
                            sw.stop(), sw.started_at)

    sw2 = Stopwatch()
    hosts: dict[str, list[tuple[str, str]]] = {}
    for kind, u in home_links.resources:
        hosts.setdefault(urlsplit(u).hostname or "", []).append((kind, u))
    names = sorted(hosts)
    more: dict[str, dict[str, JSON]] = {
        h: {"resources": [{"kind": k, "url": u} for k, u in hosts[h][:s.max_listed_resources]], "count": len(hosts[h])}
        for h in names[:s.max_resource_hosts]}
    rows, res_caps = await _host_rows(ctx, names, s.max_resource_hosts, "max_resource_hosts", more)
    # a resource from an IPv4 address literal is loaded from an IPv4-only host (not fetched: rejected)
    literals = sorted({a for url, _ in home_links.rejected if (a := _v4_literal(url))})
    rows += [{"host": a, "usable_aaaa": False, "ipv4_literal": True, "reason": "an IPv4 address literal"}
             for a in literals[:s.max_listed_v4_literals]]
    res_ev: dict[str, JSON] = {"homepage": home_url, "hosts": rows,
                               "v4_only_hosts": [r["host"] for r in rows
                                                 if not r.get("excluded") and not r["usable_aaaa"]],
                               "excluded_hosts": [r["host"] for r in rows if r.get("excluded")],
                               "resources": len(home_links.resources),
                               "rejected": _rejected(home_links)}
    if res_caps or home_links.truncated:
        res_ev["caps_hit"] = res_caps + [c for c in caps if c["cap"] == "max_parse"]
    judged_rows = [r for r in rows if not r.get("excluded")]
    res_obs = Observation("web.resources", st.name, Status.OK if judged_rows else Status.SKIPPED, res_ev,
                          None if judged_rows else "the homepage loads no subresources (that may be contacted)",
                          sw2.stop(), sw2.started_at)
    return [links_obs, res_obs]
