"""``web.same_site``: the same site over IPv6 and IPv4.

The final page of every IPv6 address (web.http's fetches) is compared with the first IPv4 final
page and, when they differ, with up to :data:`MAX_V4_REFERENCES` distinct IPv4 pages (the best
match counts: a stale IPv4 server is not an IPv6 problem).  The evidence is a per-address matrix;
the top-level fields describe the worst IPv6 address, so one stale server behind a second AAAA is
named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.webstate import fetched
from v6scan.context import Context
from v6scan.eventloop import off_loop
from v6scan.fetch import Chain, Page
from v6scan.model import Observation, Status, Stopwatch
from v6scan.net import cert_info
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result
from v6scan.similarity import Comparison, compare

__all__ = ["CHECK", "MAX_V4_REFERENCES", "Compared", "PageSummary", "SameSiteEvidence", "SameSiteRow"]

#: distinct IPv4 pages an IPv6 page is compared with (the best match counts)
MAX_V4_REFERENCES = 4


@dataclass(frozen=True, kw_only=True)
class PageSummary(Row):
    """A final page, as compared."""

    url: str = ""
    path: str = "/"
    address: str = ""
    http_status: int | None = None
    title: str | None = None
    size: int = 0
    truncated: bool = False

    @classmethod
    def of(cls, page: Page) -> Self:
        return cls(url=page.url, path=urlsplit(page.url).path or "/", address=page.address,
                   http_status=page.http_status, title=page.title, size=page.size, truncated=page.truncated)


@dataclass(frozen=True, kw_only=True)
class SameSiteRow(Row):
    """The final page of one IPv6 address, compared with its best-matching IPv4 page."""

    address: str = ""
    final_address: str = ""
    url: str = ""
    http_status: int | None = None
    title: str | None = None
    size: int = 0
    #: the SHA-256 fingerprint of the certificate of the chain's first hop (None over HTTP)
    cert: str | None = None
    #: the address of the IPv4 page it is compared with
    compared_with: str = ""
    similarity: float = 0.0
    #: None in rows stored before it was recorded (v6scan 8b3925d)
    quick_ratio: float | None = optional()
    same_status: bool = False
    same_title: bool = False
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class Compared:
    """One IPv6 address's comparison, as :meth:`SameSiteEvidence.build` takes it: its row, the two
    pages compared and whether their paths are the same."""

    row: SameSiteRow
    v6: PageSummary
    v4: PageSummary
    same_final_path: bool


@dataclass(frozen=True, kw_only=True)
class SameSiteEvidence(Evidence):
    """Compared: the worst IPv6 address's pages and comparison, and every address's row; not
    compared (skipped): the pages there were (``v6``/``v4``) and ``ipv6_only``."""

    v6: PageSummary | None = None
    v4: PageSummary | None = None
    similarity: float | None = optional()
    quick_ratio: float | None = optional()
    same_status: bool | None = optional()
    same_title: bool | None = optional()
    same_final_path: bool | None = optional()
    differences: tuple[str, ...] | None = optional()
    addresses: tuple[SameSiteRow, ...] | None = optional()
    v4_references: tuple[str, ...] | None = optional()
    #: only when nothing was compared: the name has no IPv4 address
    ipv6_only: bool | None = optional()

    @classmethod
    def build(cls, compared: Sequence[Compared], v4_references: Sequence[str]) -> Self:
        """The evidence of the comparisons (at least one), its top level the worst IPv6 address's
        (the lowest similarity, then a different status; the first of equals)."""
        worst = min(compared, key=lambda c: (c.row.similarity, c.row.same_status))
        w = worst.row
        return cls(v6=worst.v6, v4=worst.v4, similarity=w.similarity, quick_ratio=w.quick_ratio,
                   same_status=w.same_status, same_title=w.same_title, same_final_path=worst.same_final_path,
                   differences=w.differences, addresses=tuple(c.row for c in compared),
                   v4_references=tuple(v4_references))


def _cert_sha(chain: Chain) -> str | None:
    first = chain.hops[0] if chain.hops else None
    return cert_info(first.peer_cert).sha256 if first is not None and first.peer_cert else None


def _references(chains: list[Chain]) -> list[Chain]:
    """The IPv4 chains with distinct final pages (at most :data:`MAX_V4_REFERENCES`)."""
    refs: list[Chain] = []
    seen: set[bytes] = set()
    for c in chains:
        if c.family == "v4" and c.final is not None and c.final.body not in seen and len(refs) < MAX_V4_REFERENCES:
            seen.add(c.final.body)
            refs.append(c)
    return refs


async def _compare(c: Chain, refs: list[Chain]) -> Compared:
    """The final page of ``c`` compared with the IPv4 pages of ``refs``: the best match."""
    page = c.final
    assert page is not None
    a = PageSummary.of(page)
    best: tuple[Comparison, Page] | None = None
    for ref in refs:
        rp = ref.final
        assert rp is not None
        # on the CPU threads: the texts are capped, but hostile markup must not stall the loop
        cmp = await off_loop(compare, a.to_json(), PageSummary.of(rp).to_json(), page.text, rp.text)
        if best is None or (cmp.similarity, cmp.same_status) > (best[0].similarity, best[0].same_status):
            best = (cmp, rp)
        if cmp.similarity >= 1.0 and cmp.same_status:
            break
    assert best is not None
    cmp, rp = best
    row = SameSiteRow(address=c.hops[0].address, final_address=page.address, url=page.url,
                      http_status=page.http_status, title=page.title, size=page.size, cert=_cert_sha(c),
                      compared_with=rp.address, similarity=cmp.similarity, quick_ratio=cmp.quick_ratio,
                      same_status=cmp.same_status, same_title=cmp.same_title, differences=tuple(cmp.differences))
    return Compared(row, a, PageSummary.of(rp), cmp.same_final_path)


async def probe(ctx: Context, run: Run) -> Observation:
    """Every IPv6 address's final page compared with the IPv4 site (web.http's fetches)."""
    sw = Stopwatch()
    st = await fetched(run)
    v6 = [c for c in st.chains if c.family == "v6" and c.final is not None]
    refs = _references(st.chains)
    if not v6 or not refs:
        missing = " and ".join(f for f, have in (("IPv6", v6), ("IPv4", refs)) if not have)
        skipped = SameSiteEvidence(v6=PageSummary.of(v6[0].final) if v6 and v6[0].final else None,
                                   v4=PageSummary.of(refs[0].final) if refs and refs[0].final else None,
                                   ipv6_only=bool(st.v6) and not st.v4)
        return CHECK.observe(run.name, Status.SKIPPED, skipped, f"no final page over {missing} to compare",
                             sw.stop(), sw.started_at)
    compared = [await _compare(c, refs) for c in v6]
    ev = SameSiteEvidence.build(compared, [r.hops[0].address for r in refs])
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _differ(r: SameSiteRow) -> Reason:
    return Reason("same_site_address_differs", {
        "address": r.address, "differences": list(r.differences) or ["similarity below the threshold"]})


def rule(o: Observation, ev: SameSiteEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        if ev.ipv6_only:  # nothing to compare with: information, never missing points
            return result(o.check, o.target, "info", Reason("ipv6_only_site", {"name": o.target}),
                          applicable=False)
        applicable = ev.v6 is None  # no IPv4 page to compare with
        return not_tested(o.check, o.target, o.error or "no pages to compare", applicable=applicable)
    rows = list(ev.addresses or ())
    minimum = float(p.t("same_site_min"))
    bad = [r for r in rows if float(r.similarity) < minimum]
    if len(rows) > 1 and bad:  # one stale server behind a second AAAA is named
        return result(o.check, o.target, "fail", *[_differ(r) for r in bad],
                      severity="broken" if len(bad) == len(rows) else "partial")
    if float(ev.similarity or 0) >= minimum:
        if ev.same_status:
            return result(o.check, o.target, "pass")
        return result(o.check, o.target, "warn", Reason("same_site_differs", {
            "differences": list(ev.differences or ()) or ["HTTP status differs"]}))
    return result(o.check, o.target, "fail", Reason("same_site_differs", {
        "differences": list(ev.differences or ()) or ["similarity below the threshold"]}), severity="broken")


CHECK = Check(
    id="web.same_site", title="the same site over IPv6 and IPv4", order=90, phase=Phase.CONNECT, stage=2,
    evidence=SameSiteEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "ipv6_only_site", "same_site_address_differs", "same_site_differs"),
    weight=8, required=True, thresholds={"same_site_min": 0.9},
)
