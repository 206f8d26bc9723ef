"""``web.tls``: a valid certificate on every IPv6 address.

A TLS handshake with the name's SNI on every address open on port 443.  When web.http fetches
(web.http or web.same_site is selected), its verified handshakes serve here too (one handshake per
address): a handshake it could not verify is made again, with a verifying and a loose context, to
name the problem.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from v6scan.attempts import retried
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.certs import CertRow
from v6scan.checks.webstate import CapHit, WebState, fetched, reached
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.net import TlsResult, cert_info, tls_handshake
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result, retried_result

__all__ = ["CHECK", "CertRow", "TlsEvidence", "TlsRow"]

#: the status of an address not open on port 443 (no handshake attempted)
NOT_ATTEMPTED = "not_attempted"


#: the keys of a handshake a row of an address without one (status ``not_attempted``) does not have
_HANDSHAKE_ONLY = ("problem", "verify_code", "protocol", "cipher", "cert")


@dataclass(frozen=True, kw_only=True)
class TlsRow(Row):
    """The handshake with one address (:meth:`v6scan.net.TlsResult.to_json`; ``from: web.http``
    when it was web.http's), or why none was made (status ``not_attempted``: only
    family, address, status, valid and error)."""

    family: str = ""
    address: str = ""
    status: str = ""
    valid: bool | None = None
    problem: str | None = None
    verify_code: int | None = None
    protocol: str | None = None
    cipher: str | None = None
    cert: CertRow | None = None
    elapsed_ms: float | None = optional()
    attempts: int | None = optional()
    successes: int | None = optional()
    error: str | None = optional()
    #: "web.http" when the handshake was web.http's (JSON key ``from``)
    made_by: str | None = optional(key="from")

    def to_json(self) -> dict[str, JSON]:
        out = super().to_json()
        if self.status == NOT_ATTEMPTED:
            for k in _HANDSHAKE_ONLY:
                out.pop(k, None)
        return out


@dataclass(frozen=True, kw_only=True)
class TlsEvidence(Evidence):
    addresses: tuple[TlsRow, ...] = ()
    v6_valid: tuple[str, ...] = ()
    v6_invalid: tuple[str, ...] = ()
    v6_failed: tuple[str, ...] = ()
    v4_valid: tuple[str, ...] = ()
    v4_invalid: tuple[str, ...] = ()
    #: the SHA-256 fingerprints of the certificates served over each family
    certificates_v6: tuple[str, ...] = ()
    certificates_v4: tuple[str, ...] = ()
    cert_differs: bool = False
    caps_hit: tuple[CapHit, ...] = optional(())

    @classmethod
    def build(cls, addresses: Sequence[TlsRow], caps_hit: Sequence[CapHit] = ()) -> Self:
        """The evidence of the rows (one per address), with the valid, invalid and failed addresses
        per family and the certificates derived from them."""

        def where(fam: str, valid: bool) -> tuple[str, ...]:
            return tuple(r.address for r in addresses if r.family == fam and r.valid is valid)

        def fps(fam: str) -> tuple[str, ...]:
            return tuple(sorted({r.cert.sha256 for r in addresses if r.family == fam and r.cert}))

        v6_certs, v4_certs = fps("v6"), fps("v4")
        return cls(
            addresses=tuple(addresses), v6_valid=where("v6", True), v6_invalid=where("v6", False),
            v6_failed=tuple(r.address for r in addresses
                            if r.family == "v6" and r.status not in (str(Status.OK), NOT_ATTEMPTED)),
            v4_valid=where("v4", True), v4_invalid=where("v4", False),
            certificates_v6=v6_certs, certificates_v4=v4_certs,
            cert_differs=bool(v6_certs and v4_certs and v6_certs != v4_certs), caps_hit=tuple(caps_hit))


def _verified_handshakes(st: WebState, attempts: int) -> dict[str, TlsResult]:
    """The handshakes web.http already made with this name's SNI and a verifying context, by address:
    one handshake serves both checks.  A handshake that stalled in every one of web.http's
    ``attempts`` serves too (as that timeout); a failed or unverifiable one is made again by web.tls."""
    out: dict[str, TlsResult] = {}
    for c in st.chains:
        first = c.hops[0] if c.hops else None
        if first is None or first.url != f"https://{st.name}/":
            continue
        if first.peer_cert is None:
            if first.status is Status.TIMEOUT and first.attempts >= attempts and \
                    (first.error or "").endswith("(during the TLS handshake)"):
                out[first.address] = TlsResult(first.address, st.name, Status.TIMEOUT, None, None, None, None, None,
                                               None, first.timings.get("total_ms", 0.0), first.error, first.attempts)
            continue
        tls = first.tls or {}
        out[first.address] = TlsResult(
            first.address, st.name, Status.OK, True, None, None, str(tls.get("protocol") or "") or None,
            str(tls.get("cipher") or "") or None, cert_info(first.peer_cert),
            first.timings.get("connect_ms", 0.0) + first.timings.get("tls_ms", 0.0), None)
    return out


async def _rows(ctx: Context, st: WebState, targets: list[str]) -> list[TlsRow]:
    """A row per address: the handshake on each of ``targets`` (web.http's when it made one), and
    why none was made with the others."""
    reused = _verified_handshakes(st, ctx.settings.attempts)

    async def one(addr: str) -> dict[str, JSON]:
        done = reused.get(addr)
        if done is not None:
            return {"family": st.family(addr), **done.to_json(), "from": "web.http"}

        async def once() -> TlsResult:
            async with ctx.slot(addr):
                return await tls_handshake(addr, st.name, ctx.verify_ctx, ctx.loose_ctx, ctx.settings.timeout)

        r, n = await retried(once, lambda x: x.status, ctx.settings.retry)
        return {"family": st.family(addr), **dataclasses.replace(r, attempts=n).to_json()}

    rows = list(await asyncio.gather(*(one(a) for a in targets)))
    for a in [*st.v6, *st.v4]:
        if a not in targets:
            p = st.reach.get((a, 443))
            rows.append({"family": st.family(a), "address": a, "status": NOT_ATTEMPTED,
                         "valid": None, "error": f"port 443: {p.status if p else 'not probed'}"})
    return [TlsRow.from_json(r) for r in rows]


async def probe(ctx: Context, run: Run) -> Observation:
    """A handshake on every address open on 443 (after web.http's fetches when they are made,
    whose verified handshakes it reuses)."""
    uses_fetches = run.wants("web.http") or run.wants("web.same_site")
    st = await (fetched(run) if uses_fetches else reached(run))
    sw = Stopwatch()
    targets = [a for a in [*st.v6, *st.v4] if st.open(a, 443)]
    ev = TlsEvidence.build(await _rows(ctx, st, targets), st.cap_rows(ctx.settings.max_addresses))
    if not targets:
        return CHECK.observe(run.name, Status.SKIPPED, ev, "no address accepts on port 443",
                             sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _problems(rows: list[TlsRow]) -> list[Reason]:
    reasons: list[Reason] = []
    for r in rows:
        if r.valid is False:
            reasons.append(Reason("tls_v6_invalid", {"address": r.address, "problem": r.problem}))
        elif r.status != "ok":
            reasons.append(Reason("tls_v6_failed", {"address": r.address, "error": r.error}))
    return reasons


def rule(o: Observation, ev: TlsEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, "no address offers HTTPS", applicable=False)
    rows = [r for r in ev.addresses if r.family == "v6" and r.status != NOT_ATTEMPTED]
    if not rows:
        return not_tested(o.check, o.target, "no IPv6 address offers HTTPS")
    if reasons := _problems(rows):
        if ev.v6_valid:
            return result(o.check, o.target, "fail", *reasons, severity="partial")
        if ev.v4_valid or not ev.certificates_v4:
            return result(o.check, o.target, "fail", *reasons, severity="broken")
        return result(o.check, o.target, "warn", *reasons)  # IPv4 is no better: not an IPv6 problem
    if ev.cert_differs:
        return result(o.check, o.target, "warn", Reason("tls_cert_differs", {
            "v6": [x[:16] for x in ev.certificates_v6], "v4": [x[:16] for x in ev.certificates_v4]}))
    return retried_result(o.check, o.target, p, ((r.address, r.attempts, r.successes) for r in rows))


CHECK = Check(
    id="web.tls", title="a valid certificate on every IPv6 address", order=70, phase=Phase.CONNECT, stage=1,
    evidence=TlsEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "probe_retried", "tls_v6_invalid", "tls_v6_failed", "tls_cert_differs"),
    weight=10, required=True,
)
