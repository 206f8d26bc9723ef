"""``web.http``: the site answers over IPv6, redirects included.

From every address (at most ``max_http_addresses`` per family) that accepts on port 443 (else 80),
the redirect chain from ``/`` is followed by hand within the address's family: a hop to a host
without an address of that family is a dead end (IPv6 users are sent somewhere they cannot go).
The fetches are shared: web.tls reuses their handshakes, web.same_site compares their pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.webstate import HTTP_ERROR_FROM, CapHit, fetched
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result, retried_result

__all__ = ["CHECK", "ChainRow", "FinalRow", "HopRow", "HttpEvidence", "NotFetchedRow"]


@dataclass(frozen=True, kw_only=True)
class HopRow(Row):
    """One request of a chain (:meth:`v6scan.fetch.Page.to_json`)."""

    url: str = ""
    address: str = ""
    status: str = ""
    http_status: int | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    #: written only when more than one try was made
    attempts: int = optional(1)
    location: str | None = optional()
    content_type: str | None = optional()
    content_encoding: str | None = optional()
    title: str | None = optional()
    error: str | None = optional()
    #: written only when a response arrived
    size: int | None = optional()
    truncated: bool | None = optional()
    headers: int | None = optional()
    tls: Mapping[str, JSON] | None = optional()


@dataclass(frozen=True, kw_only=True)
class FinalRow(Row):
    """The page a chain ended at, when it arrived whole."""

    url: str = ""
    http_status: int | None = None
    title: str | None = None
    size: int = 0
    address: str = ""


@dataclass(frozen=True, kw_only=True)
class ChainRow(Row):
    """The redirect chain from one address (:meth:`v6scan.fetch.Chain.to_json`)."""

    family: str = ""
    start: str = ""
    status: str = ""
    hops: tuple[HopRow, ...] = ()
    final: FinalRow | None = None
    error: str | None = optional()
    #: the host the chain ended at because it has no usable address of the chain's family
    dead_end: str | None = optional()

    @property
    def address(self) -> str:
        """The address the chain started from."""
        return self.hops[0].address if self.hops else "?"

    @property
    def ok(self) -> bool:
        """It ended at a page with an HTTP status below an error's."""
        f = self.final
        return f is not None and f.http_status is not None and f.http_status < HTTP_ERROR_FROM


@dataclass(frozen=True, kw_only=True)
class NotFetchedRow(Row):
    """An address no fetch started from, and why."""

    address: str = ""
    family: str = ""
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class HttpEvidence(Evidence):
    chains: tuple[ChainRow, ...] = ()
    not_fetched: tuple[NotFetchedRow, ...] = ()
    v6_ok: tuple[str, ...] = ()
    v6_failed: tuple[str, ...] = ()
    v4_ok: tuple[str, ...] = ()
    v4_failed: tuple[str, ...] = ()
    v6_dead_ends: tuple[str, ...] = ()
    #: the addresses fetched per family when a family had more (``max_http_addresses``), else None
    addresses_capped_at: int | None = None
    v6_excluded: tuple[str, ...] = ()
    caps_hit: tuple[CapHit, ...] = optional(())
    #: the HTTP statuses of the final pages, per family
    final_status_v6: tuple[int, ...] = ()
    final_status_v4: tuple[int, ...] = ()
    status_differs: bool = False

    @classmethod
    def build(cls, chains: Sequence[ChainRow], not_fetched: Sequence[NotFetchedRow] = (),
              addresses_capped_at: int | None = None, caps_hit: Sequence[CapHit] = ()) -> Self:
        """The evidence of the ``chains`` (IPv6 first), with the per-family outcomes, dead ends and
        final statuses derived from them."""
        v6 = [c for c in chains if c.family == "v6"]
        v4 = [c for c in chains if c.family == "v4"]
        s6 = tuple(sorted({c.final.http_status for c in v6 if c.final and c.final.http_status}))
        s4 = tuple(sorted({c.final.http_status for c in v4 if c.final and c.final.http_status}))
        return cls(
            chains=tuple(chains), not_fetched=tuple(not_fetched),
            v6_ok=tuple(c.hops[0].address for c in v6 if c.ok),
            v6_failed=tuple(c.hops[0].address for c in v6 if not c.ok),
            v4_ok=tuple(c.hops[0].address for c in v4 if c.ok),
            v4_failed=tuple(c.hops[0].address for c in v4 if not c.ok),
            v6_dead_ends=tuple(sorted({c.dead_end for c in v6 if c.dead_end})),
            addresses_capped_at=addresses_capped_at,
            v6_excluded=tuple(c.hops[0].address for c in v6 if c.status == str(Status.EXCLUDED)),
            caps_hit=tuple(caps_hit), final_status_v6=s6, final_status_v4=s4,
            status_differs=bool(s6 and s4 and s6 != s4))


async def probe(ctx: Context, run: Run) -> Observation:
    """The redirect chain from every address open on 443 or 80 (the fetches are shared)."""
    sw = Stopwatch()
    st = await fetched(run)
    cap = min(ctx.settings.max_http_addresses, ctx.settings.max_addresses)
    ev = HttpEvidence.build(
        [ChainRow.from_json(c.to_json()) for c in st.chains],
        [NotFetchedRow.from_json(r) for r in st.not_fetched],
        cap if len(st.v6) > cap or len(st.v4) > cap else None,
        st.cap_rows(ctx.settings.max_addresses))
    if not st.chains:
        return CHECK.observe(run.name, Status.SKIPPED, ev, "no address serves HTTP or HTTPS",
                             sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _failures(ev: HttpEvidence, v6_chains: list[ChainRow]) -> list[Reason]:
    reasons = [Reason("http_v6_dead_end", {"host": h}) for h in ev.v6_dead_ends]
    for c in v6_chains:
        final = c.final
        if (final is None or (final.http_status or 0) >= HTTP_ERROR_FROM) and not c.dead_end:
            err = c.error or (f"HTTP {final.http_status}" if final else "no final page")
            reasons.append(Reason("http_v6_failed", {"address": c.address, "error": err}))
    return reasons


def rule(o: Observation, ev: HttpEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "nothing to fetch")
    # a chain that led to a host on the exclusion list was not followed there: not judged
    v6_chains = [c for c in ev.chains if c.family == "v6" and c.status != str(Status.EXCLUDED)]
    if not v6_chains:
        return not_tested(o.check, o.target, "no IPv6 address accepts HTTP or HTTPS")
    if reasons := _failures(ev, v6_chains):
        return result(o.check, o.target, "fail", *reasons, severity="partial" if ev.v6_ok else "broken")
    if ev.status_differs:
        return result(o.check, o.target, "warn", Reason("http_status_differs", {
            "v6": list(ev.final_status_v6), "v4": list(ev.final_status_v4)}))
    return retried_result(o.check, o.target, p, ((h.url, h.attempts, int(h.status == "ok"))
                                                 for c in v6_chains for h in c.hops))


CHECK = Check(
    id="web.http", title="the site answers over IPv6, redirects included", order=80, phase=Phase.CONNECT,
    stage=1, evidence=HttpEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "probe_retried", "http_v6_dead_end", "http_v6_failed", "http_status_differs"),
    weight=12, required=True,
)
