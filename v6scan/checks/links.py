"""``web.links`` and ``web.resources``: are the pages behind the homepage reachable over IPv6?

Links are read with a real HTML parser (``html.parser``), resolved against the
page URL (``<base href>`` honoured), reduced to distinct http(s) URLs without
fragments, and split into internal (same registrable domain, public-suffix
aware) and external ones.  Internal 2nd-level links (on the homepage) and
3rd-level links (on those pages) are fetched over IPv6 through the same
pinned, capped fetcher; a page that is IPv4-only is still read over IPv4 so
its own links are known.  External links and subresource hosts are judged by
their DNS only (a usable AAAA or not).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

from v6scan.addresses import classify
from v6scan.checks.web import WebState, _resolve_hop
from v6scan.context import Context
from v6scan.fetch import Chain
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.targets import registrable_domain

__all__ = ["PageLinks", "check_links", "parse_links"]

RESOURCE_TAGS = {
    "img": ("src",), "script": ("src",), "iframe": ("src",), "frame": ("src",), "embed": ("src",),
    "source": ("src",), "video": ("src", "poster"), "audio": ("src",), "track": ("src",), "object": ("data",),
}
RESOURCE_RELS = {"stylesheet", "icon", "preload", "modulepreload", "prefetch", "apple-touch-icon",
                 "manifest", "shortcut"}


@dataclass
class PageLinks:
    links: list[str] = field(default_factory=list)
    resources: list[tuple[str, str]] = field(default_factory=list)  # (kind, url)


class _Parser(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.out = PageLinks()

    def _url(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            url, _ = urldefrag(urljoin(self.base, value.strip()))
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return url

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "base" and a.get("href"):
            self.base = urljoin(self.base, a["href"] or "")
        elif tag in ("a", "area"):
            if (u := self._url(a.get("href"))) is not None:
                self.out.links.append(u)
        elif tag == "link":
            rels = set((a.get("rel") or "").lower().split())
            if rels & RESOURCE_RELS and (u := self._url(a.get("href"))) is not None:
                kind = "font" if (a.get("as") or "") == "font" else ("stylesheet" if "stylesheet" in rels
                                                                       else "link")
                self.out.resources.append((kind, u))
        elif tag in RESOURCE_TAGS:
            for attr in RESOURCE_TAGS[tag]:
                if (u := self._url(a.get(attr))) is not None:
                    self.out.resources.append((tag, u))


def parse_links(html: str, base: str) -> PageLinks:
    """Links and subresources of a page, as absolute URLs in document order, duplicates removed."""
    p = _Parser(base)
    try:
        p.feed(html)
        p.close()
    except (AssertionError, ValueError):  # html.parser on hostile input: keep what was read
        pass
    out = p.out
    out.links = list(dict.fromkeys(out.links))
    out.resources = list(dict.fromkeys(out.resources))
    return out


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
    v6: Chain | None = None
    text: str = ""

    def ok(self) -> bool:
        f = self.v6.final if self.v6 else None
        return f is not None and f.http_status is not None and f.http_status < 400

    def to_json(self) -> dict[str, JSON]:
        f = self.v6.final if self.v6 else None
        out: dict[str, JSON] = {"url": self.url, "level": self.level, "found_on": self.found_on, "host": self.host,
                                "usable_aaaa": self.usable_v6 is not None, "v6_ok": self.ok()}
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

    async def probe(p: _Probe) -> None:
        p.host = urlsplit(p.url).hostname or ""
        p.usable_v6, p.aaaa, p.reason = await _v6_address(ctx, p.host)
        if p.usable_v6 is not None:
            await polite(p.host)
            async with ctx.slot(p.usable_v6):
                p.v6 = await ctx.fetcher.follow(p.url, p.usable_v6, "v6",
                                                lambda h, f: _resolve_hop(ctx, h, f))
            if p.v6.final is not None:
                p.text = p.v6.final.text
        if not p.text and p.level < 3:  # an IPv4-only page: read it over IPv4 for its links
            v4 = await _v4_address(ctx, p.host)
            if v4 is not None:
                await polite(p.host)
                async with ctx.slot(v4):
                    c = await ctx.fetcher.follow(p.url, v4, "v4", lambda h, f: _resolve_hop(ctx, h, f))
                if c.final is not None:
                    p.text = c.final.text

    home_links = parse_links(home_text, home_url)
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
    level2 = level2[:s.max_links_per_level]
    await asyncio.gather(*(probe(p) for p in level2))
    level3: list[_Probe] = []
    for p in level2:
        if not p.text:
            continue
        for u in parse_links(p.text, p.url).links:
            key = u.rstrip("/")
            if key in seen:
                continue
            seen.add(key)
            if internal(u):
                level3.append(_Probe(u, 3, p.url))
            else:
                external.append(u)
    capped3 = len(level3) > s.max_links_per_level
    level3 = level3[:s.max_links_per_level]
    await asyncio.gather(*(probe(p) for p in level3))

    ext_hosts = sorted({urlsplit(u).hostname or "" for u in external})
    ext_rows = []
    for h in ext_hosts[:50]:
        addr, _, reason = await _v6_address(ctx, h)
        ext_rows.append({"host": h, "usable_aaaa": addr is not None, **({"reason": reason} if reason else {})})

    def rate(ps: list[_Probe]) -> float | None:
        return round(sum(p.ok() for p in ps) / len(ps), 4) if ps else None

    ev: dict[str, JSON] = {
        "homepage": home_url, "homepage_family": home_family, "registrable_domain": site,
        "level2": {"links": len(level2), "v6_ok": sum(p.ok() for p in level2), "rate": rate(level2),
                   "capped": capped2},
        "level3": {"links": len(level3), "v6_ok": sum(p.ok() for p in level3), "rate": rate(level3),
                   "capped": capped3},
        "urls": [p.to_json() for p in [*level2, *level3]],
        "v4_only": [p.url for p in [*level2, *level3] if not p.ok()],
        "external": ext_rows,
    }
    links_obs = Observation("web.links", st.name, Status.OK if level2 else Status.SKIPPED, ev,
                            None if level2 else "the homepage has no internal links", sw.stop(), sw.started_at)

    sw2 = Stopwatch()
    hosts: dict[str, list[tuple[str, str]]] = {}
    for kind, u in home_links.resources:
        hosts.setdefault(urlsplit(u).hostname or "", []).append((kind, u))
    rows = []
    for h, items in sorted(hosts.items()):
        addr, aaaa, reason = await _v6_address(ctx, h)
        rows.append({"host": h, "usable_aaaa": addr is not None, "aaaa": aaaa,
                     "resources": [{"kind": k, "url": u} for k, u in items[:20]], "count": len(items),
                     **({"reason": reason} if reason else {})})
    res_ev: dict[str, JSON] = {"homepage": home_url, "hosts": rows,
                               "v4_only_hosts": [r["host"] for r in rows if not r["usable_aaaa"]],
                               "resources": len(home_links.resources)}
    res_obs = Observation("web.resources", st.name, Status.OK if rows else Status.SKIPPED, res_ev,
                          None if rows else "the homepage loads no subresources", sw2.stop(), sw2.started_at)
    return [links_obs, res_obs]
