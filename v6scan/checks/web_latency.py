"""``web.latency``: IPv6 is about as fast and reliable as IPv4.

The first address of each family that serves the site is fetched ``latency_probes`` times, one
probe after the other, each with a single try (at the page web.http's redirects from there ended
at, when that page came from the same address; else at the start URL): the success rate over the probes and the median
time to the first byte (connect, TLS and first byte) are measured per family, with the latency
breakdown of the national monitoring platform's indicators (国家IPv6发展监测平台: DNS resolution,
TCP connect, TLS, first byte, the whole homepage's download time and rate; medians over the probes
that succeeded, the resolution time that of the family's own lookup) and, per part, the IPv6/IPv4
ratio.  The first probe is
web.http's first try from that address when web.http fetched it (the same GET of the same URL
over a new connection: its timings, or, when that try got no response and web.http tried again, a
failed probe), so a site costs one fetch less per family; the row says so (``from``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.dns import host
from v6scan.checks.webstate import WebState, reached, start_url
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "PARTS", "LatencyEvidence", "LatencyFamily", "LatencyProbe"]

#: the order of the families in the evidence
FAMILIES = ("v6", "v4")


@dataclass(frozen=True, kw_only=True)
class LatencyProbe(Row):
    """One fetch: its outcome and timings (ms, those measured)."""

    status: str = ""
    connect_ms: float | None = optional()
    tls_ms: float | None = optional()
    first_byte_ms: float | None = optional()
    body_ms: float | None = optional()
    total_ms: float | None = optional()
    #: the homepage's bytes over the wire (its body, read to the end or the body cap)
    bytes: int | None = optional()
    error: str | None = optional()
    #: the check whose fetch this probe is (web.http's first try), when not a probe of its own
    source: str | None = optional(key="from")

    @property
    def time_ms(self) -> float | None:
        """Connect, TLS and first byte, for a probe that succeeded; else None."""
        if self.status != str(Status.OK) or self.first_byte_ms is None:
            return None
        return float(self.connect_ms or 0) + float(self.tls_ms or 0) + float(self.first_byte_ms)

    @property
    def download_ms(self) -> float | None:
        """The whole homepage: connect, TLS, first byte and body, for a probe that succeeded."""
        t = self.time_ms
        return None if t is None else t + float(self.body_ms or 0)

    @property
    def rate_bps(self) -> float | None:
        """The homepage's download rate (bytes per second over :attr:`download_ms`)."""
        t = self.download_ms
        # no body (a redirect, an empty page): no rate, rather than a rate of 0
        return None if t is None or not t or not self.bytes else float(self.bytes) / (t / 1000)


#: the parts of the latency breakdown, each a median over a family's probes that succeeded
#: (``dns_ms``: the family's own lookup); ``rate_bps`` is better higher, the others lower
PARTS = ("dns_ms", "connect_ms", "tls_ms", "first_byte_ms", "download_ms", "rate_bps")


#: each part's name in English (v6scan.messages_zh has them in Chinese)
PART_NAMES = {"dns_ms": "DNS resolution time", "connect_ms": "TCP connect time", "tls_ms": "TLS handshake time",
              "first_byte_ms": "time to the first byte", "download_ms": "homepage download time",
              "rate_bps": "homepage download rate"}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _breakdown(probes: tuple[LatencyProbe, ...], dns_ms: float | None) -> dict[str, float | None]:
    ok = [p for p in probes if p.time_ms is not None]
    out: dict[str, float | None] = {"dns_ms": None if dns_ms is None else round(dns_ms, 3)}
    for part in PARTS[1:]:
        values = [float(v) for v in (getattr(p, part) for p in ok) if v is not None]
        out[part] = _median(values)
    return out


@dataclass(frozen=True, kw_only=True)
class LatencyFamily(Row):
    """The probes of one family's first serving address."""

    address: str = ""
    url: str = ""
    probes: tuple[LatencyProbe, ...] = ()
    success_rate: float = 0.0
    median_ms: float | None = None
    #: the latency breakdown (:data:`PARTS`); the lookup's time as measured (``dns_ms``) until built
    #: (None in evidence recorded before it was measured)
    breakdown: Mapping[str, float | None] | None = optional()


@dataclass(frozen=True, kw_only=True)
class LatencyEvidence(Evidence):
    families: Mapping[str, LatencyFamily] = field(default_factory=dict)
    probes_per_family: int = 0
    ipv6_only: bool = False
    #: the IPv6 median over the IPv4 median (both measured, IPv4's above 0)
    ratio_v6_v4: float | None = optional()
    #: per part of the breakdown, IPv6's over IPv4's (both measured, IPv4's above 0; None: not measured)
    ratios: Mapping[str, float] | None = optional()

    @classmethod
    def build(cls, families: Mapping[str, LatencyFamily], probes_per_family: int, ipv6_only: bool) -> Self:
        """The evidence of the families' probes: each family's success rate (over
        ``probes_per_family``) and median, and the ratio of the medians, derived from them."""
        rows: dict[str, LatencyFamily] = {}
        medians: dict[str, float] = {}
        for fam in (f for f in FAMILIES if f in families):
            row = families[fam]
            totals = [t for t in (p.time_ms for p in row.probes) if t is not None]
            rows[fam] = dataclasses.replace(
                row, success_rate=round(len(totals) / max(1, probes_per_family), 3),
                median_ms=round(statistics.median(totals), 3) if totals else None,
                breakdown=_breakdown(row.probes, (row.breakdown or {}).get("dns_ms")))
            if totals:
                medians[fam] = statistics.median(totals)
        ratio = None
        if "v6" in medians and "v4" in medians and medians["v4"] > 0:
            ratio = round(medians["v6"] / medians["v4"], 3)
        ratios: dict[str, float] = {}
        if "v6" in rows and "v4" in rows:
            for part in PARTS:
                a, b = (rows["v6"].breakdown or {}).get(part), (rows["v4"].breakdown or {}).get(part)
                if a is not None and b:
                    ratios[part] = round(float(a) / float(b), 3)
        return cls(families=rows, probes_per_family=probes_per_family, ipv6_only=ipv6_only, ratio_v6_v4=ratio,
                   ratios=ratios)


def _homepage(st: WebState, addr: str, url: str) -> str:
    """Where the homepage is, fetched from ``addr`` starting at ``url``: the page web.http's chain
    from there ended at, when that page came from the same address (a redirect's body is not the
    homepage: its download time and rate would measure nothing); else ``url``."""
    for c in st.chains:
        if c.hops and c.hops[0].address == addr and c.hops[0].url == url:
            final = c.final
            return final.url if final is not None and final.address == addr else url
    return url


def _reused(st: WebState, addr: str, url: str) -> LatencyProbe | None:
    """web.http's first try of ``url`` from ``addr`` (a hop of one of its chains) as a probe (None
    when web.http made none): its timings when that try got a response; a failed probe when it got
    none (web.http tried again)."""
    page = next((h for c in st.chains for h in c.hops if h.address == addr and h.url == url), None)
    if page is None:
        return None
    if page.attempts > 1:  # the first try got no response (what a probe of one try would have seen)
        return LatencyProbe(status=str(Status.ERROR), source="web.http",
                            error="no response to web.http's first try (it was tried again)")
    row: dict[str, JSON] = {"status": str(page.status), **{k: round(v, 3) for k, v in page.timings.items()},
                            "from": "web.http", "bytes": page.wire_size}
    if page.error:
        row["error"] = page.error
    return LatencyProbe.from_json(row)


async def _family(ctx: Context, st: WebState, addrs: list[str], n: int, dns_ms: float | None = None
                  ) -> LatencyFamily | None:
    """``n`` probes of the first of ``addrs`` that serves the site (None when none does); ``dns_ms``:
    the time of the family's lookup."""
    addr = next((a for a in addrs if start_url(st, a)), None)
    if addr is None:
        return None
    start = start_url(st, addr)
    assert start is not None
    url = _homepage(st, addr, start)
    probes: list[LatencyProbe] = []
    if (first := _reused(st, addr, url)) is not None:
        probes.append(first)
    while len(probes) < n:  # one after the other: the probes must not compete with each other
        async with ctx.slot(addr):
            # one try per probe: the success rate over repeated probes is what is measured
            page = await ctx.fetcher.get(url, addr, keep_body=False, attempts=1)
        row: dict[str, JSON] = {"status": str(page.status), **{k: round(v, 3) for k, v in page.timings.items()},
                                "bytes": page.wire_size}
        if page.error:
            row["error"] = page.error
        probes.append(LatencyProbe.from_json(row))
    return LatencyFamily(address=addr, url=url, probes=tuple(probes), breakdown={"dns_ms": dns_ms})


def _lookup_ms(answer: Any) -> float | None:
    """A lookup's time (None for one that was not made: pinned addresses)."""
    ms = getattr(answer, "elapsed_ms", None)
    return float(ms) if ms else None


async def probe(ctx: Context, run: Run) -> Observation:
    """``latency_probes`` fetches of the first serving address of each family."""
    sw = Stopwatch()
    st = await reached(run)
    n = max(1, ctx.settings.latency_probes)
    h = await host(run)
    v6, v4 = await asyncio.gather(_family(ctx, st, st.v6, n, _lookup_ms(h.aaaa)),
                                  _family(ctx, st, st.v4, n, _lookup_ms(h.a)))
    families = {fam: row for fam, row in (("v6", v6), ("v4", v4)) if row is not None}
    ev = LatencyEvidence.build(families, n, bool(st.v6) and not st.v4)
    if not families:
        return CHECK.observe(run.name, Status.SKIPPED, ev, "no address serves HTTP or HTTPS",
                             sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _slow_parts(v6: Mapping[str, float | None], v4: Mapping[str, float | None], p: Policy) -> list[Reason]:
    """The parts of the breakdown the policy judges (``latency_parts``) that are worse over IPv6 than
    ``latency_part_ratio_max`` times IPv4's: a time by at least ``latency_min_difference_ms``, the
    download rate unless both are above ``latency_rate_converged_bps`` (both fast: alike)."""
    out = []
    limit = float(p.t("latency_part_ratio_max"))
    for part in p.t("latency_parts") or ():
        a, b = v6.get(part), v4.get(part)
        if a is None or not b:
            continue
        a, b = float(a), float(b)
        if part == "rate_bps":
            slow = b / max(a, 1e-9) > limit and min(a, b) < float(p.t("latency_rate_converged_bps"))
        else:
            slow = a / b > limit and a - b >= float(p.t("latency_min_difference_ms"))
        if slow:
            rate = part == "rate_bps"
            out.append(Reason("latency_v6_part_slow", {
                "part": part, "what": PART_NAMES[part], "ratio": round(a / b, 2),
                "limit": round(1 / limit, 2) if rate else limit,
                "v6": round(a / 1000 if rate else a, 1), "v4": round(b / 1000 if rate else b, 1),
                "unit": "kB/s" if rate else "ms"}))
    return out


def rule(o: Observation, ev: LatencyEvidence, p: Policy) -> CheckResult:
    fams = ev.families
    if "v6" not in fams:
        return not_tested(o.check, o.target, "no IPv6 address serves the site")
    rate = float(fams["v6"].success_rate)
    if ev.ipv6_only and rate >= float(p.t("latency_success_min")):
        return result(o.check, o.target, "info", Reason("ipv6_only_site", {"name": o.target}), applicable=False)
    sev = "fail" if p.t("latency_severity") == "fail" else "warn"
    reasons: list[Reason] = []
    if rate < float(p.t("latency_success_min")):
        reasons.append(Reason("latency_v6_failures", {"rate": f"{rate:.0%}"}))
    ratio = ev.ratio_v6_v4
    m6 = fams["v6"].median_ms
    m4 = fams["v4"].median_ms if "v4" in fams else None
    # a ratio of sub-millisecond timings is noise: only a real difference counts
    floor = float(p.t("latency_min_difference_ms"))
    real = m6 is not None and m4 is not None and float(m6) - float(m4) >= floor
    if ratio is not None and real and float(ratio) > float(p.t("latency_ratio_max")):
        reasons.append(Reason("latency_v6_slow", {"ratio": ratio, "limit": p.t("latency_ratio_max")}))
    if "v4" in fams:
        reasons += _slow_parts(fams["v6"].breakdown or {}, fams["v4"].breakdown or {}, p)
    if reasons:
        return result(o.check, o.target, sev, *reasons, severity="partial")
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="web.latency", title="IPv6 is about as fast and reliable as IPv4", order=100, phase=Phase.CONNECT,
    stage=3, evidence=LatencyEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "ipv6_only_site", "latency_v6_failures", "latency_v6_slow", "latency_v6_part_slow"),
    weight=3, required=False,
    thresholds={"latency_success_min": 1.0, "latency_severity": "warn", "latency_ratio_max": 1.2,
                "latency_min_difference_ms": 20, "latency_parts": [], "latency_part_ratio_max": 1.2,
                "latency_rate_converged_bps": 1_000_000},
)
