"""``web.links``: the site's 2nd- and 3rd-level pages work over IPv6.

The internal links of the homepage (2nd level, same registrable domain) and of those pages (3rd
level) are fetched over IPv6, at most ``max_links_per_level`` per level; each level passes when at
least ``links_level<N>_min`` of its links give a page.  External links are judged by their DNS
only (a usable AAAA or not), and a link to an IPv4 address literal fails: an IPv6-only client can
never follow it.  How links are read and fetched: :mod:`v6scan.checks.links`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.links import (
    Crawler,
    Homepage,
    HostRow,
    LinkVisit,
    RejectedRow,
    homepage,
    host_rows,
    rejected_rows,
    v4_literal,
)
from v6scan.checks.webstate import fetched
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch, cap_hit
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result
from v6scan.settings import Settings
from v6scan.targets import registrable_domain

__all__ = ["CHECK", "LevelSummary", "LinksEvidence", "UrlRow"]

#: the keys a URL row has only when the link was fetched over IPv6 (written together, the HTTP
#: status even when None)
_V6_KEYS = ("v6_status", "v6_http_status")


@dataclass(frozen=True, kw_only=True)
class UrlRow(Row):
    """One internal link and what fetching it over IPv6 gave."""

    url: str = ""
    level: int = 2
    #: the page it was found on
    found_on: str = ""
    host: str = ""
    usable_aaaa: bool = False
    #: fetched over IPv6, final page below HTTP 400
    v6_ok: bool = False
    #: its host is on the exclusion list (``entry`` the entry it matched): not contacted
    excluded: bool = optional(False)
    entry: str | None = optional()
    #: the IPv6 fetch (None: not fetched; then neither key is written)
    v6_status: str | None = None
    v6_http_status: int | None = None
    v6_error: str | None = optional()
    #: why it was not fetched over IPv6
    reason: str | None = optional()

    @classmethod
    def of(cls, p: LinkVisit) -> Self:
        f = p.v6.final if p.v6 else None
        return cls(url=p.url, level=p.level, found_on=p.found_on, host=p.host, usable_aaaa=p.usable_v6 is not None,
                   v6_ok=p.ok(), excluded=p.excluded is not None, entry=p.excluded,
                   v6_status=str(p.v6.status) if p.v6 is not None else None,
                   v6_http_status=f.http_status if f else None,
                   v6_error=(p.v6.error or None) if p.v6 is not None else None, reason=p.reason or None)

    def to_json(self) -> dict[str, JSON]:
        out = super().to_json()
        if self.v6_status is None:
            for key in _V6_KEYS:
                out.pop(key, None)
        return out


@dataclass(frozen=True, kw_only=True)
class LevelSummary(Row):
    """One level of links: those judged (not excluded), those that worked over IPv6, the rate."""

    links: int = 0
    v6_ok: int = 0
    #: v6_ok / links, rounded to 4 places (None: no link judged)
    rate: float | None = None
    #: there were more than ``max_links_per_level`` links (the first ones were fetched)
    capped: bool = False


@dataclass(frozen=True, kw_only=True)
class LinksEvidence(Evidence):
    homepage: str = ""
    homepage_family: str = ""
    registrable_domain: str = ""
    level2: LevelSummary = field(default_factory=LevelSummary)
    level3: LevelSummary = field(default_factory=LevelSummary)
    urls: tuple[UrlRow, ...] = ()
    #: judged links that did not work over IPv6
    v4_only: tuple[str, ...] = ()
    #: links whose host is on the exclusion list
    excluded: tuple[str, ...] = ()
    #: the hosts of external links, at most ``max_external_hosts``
    external: tuple[HostRow, ...] = ()
    #: at most ``max_listed_rejected``
    rejected: tuple[RejectedRow, ...] = ()
    #: links to an IPv4 address literal (never reachable from an IPv6-only client), at most
    #: ``max_listed_v4_literals``
    v4_literal_links: tuple[str, ...] = ()
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())

    @classmethod
    def build(cls, *, homepage: str, homepage_family: str, registrable_domain: str, urls: Sequence[UrlRow],
              external: Sequence[HostRow], rejected: Sequence[RejectedRow],
              caps_hit: Sequence[Mapping[str, JSON]] = (),
              listed: tuple[int, int] = (Settings.max_listed_rejected, Settings.max_listed_v4_literals)) -> Self:
        """The evidence: the level summaries (``capped`` read from ``caps_hit``), ``v4_only``,
        ``excluded`` and ``v4_literal_links`` read from the rows; ``rejected`` (all of them) listed up
        to ``listed[0]``, the IPv4-literal links up to ``listed[1]``."""

        def level(n: int) -> LevelSummary:
            rows = [u for u in urls if u.level == n]
            judged = [u for u in rows if not u.excluded]  # an excluded link is not the site's failure
            capped = any(c.get("cap") == "max_links_per_level" and c.get("level") == n for c in caps_hit)
            return LevelSummary(links=len(judged), v6_ok=sum(u.v6_ok for u in rows),
                                rate=round(sum(u.v6_ok for u in judged) / len(judged), 4) if judged else None,
                                capped=capped)

        max_rejected, max_literals = listed
        return cls(homepage=homepage, homepage_family=homepage_family, registrable_domain=registrable_domain,
                   level2=level(2), level3=level(3), urls=tuple(urls),
                   v4_only=tuple(u.url for u in urls if not u.excluded and not u.v6_ok),
                   excluded=tuple(u.url for u in urls if u.excluded), external=tuple(external),
                   rejected=tuple(rejected[:max_rejected]),
                   v4_literal_links=tuple([r.url for r in rejected if v4_literal(r.url)][:max_literals]),
                   caps_hit=tuple(caps_hit))


class _Walk:
    """The links of one crawl so far: those seen (each URL once), the external ones."""

    def __init__(self, name: str, home: Homepage, internal: Callable[[str], bool]) -> None:
        self.seen = {home.url.rstrip("/"), f"https://{name}", f"http://{name}"}
        self.internal = internal
        self.external: list[str] = []

    def new(self, urls: Sequence[str], level: int, found_on: str) -> list[LinkVisit]:
        """The internal links among ``urls`` not seen before (external ones are kept aside)."""
        out: list[LinkVisit] = []
        for u in urls:
            key = u.rstrip("/")
            if key in self.seen:
                continue
            self.seen.add(key)
            if self.internal(u):
                out.append(LinkVisit(u, level, found_on))
            else:
                self.external.append(u)
        return out


async def _level(crawler: Crawler, visits: list[LinkVisit], level: int, caps: list[dict[str, JSON]]
                 ) -> list[LinkVisit]:
    """The first ``max_links_per_level`` of ``visits``, visited at once (the cap noted in ``caps``)."""
    cap = crawler.ctx.settings.max_links_per_level
    if len(visits) > cap:
        caps.append(cap_hit("max_links_per_level", cap, len(visits), level=level))
    visits = visits[:cap]
    await asyncio.gather(*(crawler.visit(p) for p in visits))
    return visits


async def _crawl(ctx: Context, name: str, home: Homepage) -> LinksEvidence:
    s = ctx.settings
    site = registrable_domain(name, s.extra_suffixes) or name

    def internal(url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return (registrable_domain(host, s.extra_suffixes) or host) == site

    crawler, walk = Crawler(ctx), _Walk(name, home, internal)
    try:
        caps: list[dict[str, JSON]] = [home.parse_cap] if home.parse_cap is not None else []
        level2 = await _level(crawler, walk.new(home.links.links, 2, home.url), 2, caps)
        rejected = rejected_rows(home.links)
        found3: list[LinkVisit] = []
        for p in level2:
            if p.links is not None:
                rejected += rejected_rows(p.links, p.url)
                found3 += walk.new(p.links.links, 3, p.url)
                p.links = None
        level3 = await _level(crawler, found3, 3, caps)
    finally:
        await crawler.aclose()
    ext_hosts = sorted({urlsplit(u).hostname or "" for u in walk.external})
    external, ext_caps = await host_rows(ctx, ext_hosts, s.max_external_hosts, "max_external_hosts")
    return LinksEvidence.build(
        homepage=home.url, homepage_family=home.family, registrable_domain=site,
        urls=[UrlRow.of(p) for p in [*level2, *level3]], external=external, rejected=rejected,
        caps_hit=caps + ext_caps, listed=(s.max_listed_rejected, s.max_listed_v4_literals))


async def probe(ctx: Context, run: Run) -> Observation:
    await fetched(run)
    sw = Stopwatch()
    home = await homepage(run)
    if home is None:
        return CHECK.observe(run.name, Status.SKIPPED, None, "no homepage was fetched over either family",
                             sw.stop(), sw.started_at)
    ev = await _crawl(ctx, run.name, home)
    if not ev.level2.links:
        return CHECK.observe(run.name, Status.SKIPPED, ev,
                             "the homepage has no internal links (that may be contacted)", sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: LinksEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "no internal links", applicable=False)
    reasons: list[Reason] = []
    for n, lv in ((2, ev.level2), (3, ev.level3)):
        minimum = float(p.t(f"links_level{n}_min"))
        if lv.rate is not None and float(lv.rate) < minimum:
            urls = [u.url for u in ev.urls if u.level == n and not u.v6_ok]
            reasons.append(Reason("links_low", {"level": n, "rate": f"{float(lv.rate):.0%}",
                                                "min": f"{minimum:.0%}", "ok": lv.v6_ok,
                                                "total": lv.links, "urls": urls[:5]}))
    if literal := list(ev.v4_literal_links):
        reasons.append(Reason("links_v4_literal", {"urls": literal[:5], "count": len(literal)}))
    if reasons:
        return result(o.check, o.target, "fail", *reasons, severity="partial")
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="web.links", title="the site's 2nd- and 3rd-level pages work over IPv6", order=110,
    phase=Phase.CONNECT, stage=4,
    evidence=LinksEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "links_low", "links_v4_literal"),
    weight=4, required=True, thresholds={"links_level2_min": 0.9, "links_level3_min": 0.9}, v6_dependent=True,
)
