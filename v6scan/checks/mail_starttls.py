"""``mail.starttls``: every mail server's IPv6 addresses offer STARTTLS as its IPv4 addresses do.

Each MX host that ``mail.mx_aaaa``'s lookup found with a usable IPv6 address gets, on each of its
allowed IPv6 and IPv4 addresses (at most ``max_addresses`` per host and family), an SMTP dialogue
that upgrades to TLS (:func:`v6scan.checks.mail.starttls`: greeting, EHLO, STARTTLS, a handshake
with the MX host name, verified against the trust store; again without verification to record a
certificate that fails).  IPv6 mail is less protected than IPv4 mail when an IPv6 address does not
offer STARTTLS, or offers an invalid certificate, while an IPv4 address of the same host does
better; a certificate that differs between the families is shown.  Opportunistic TLS is not
required of anyone: the check never fails (weight 0); neither family offering it is information.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Self

from v6scan.attempts import retried
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.certs import CertRow
from v6scan.checks.mail import TRANSIENT_SMTP, MxEvidence, mx_lookup, not_probed, starttls
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch, cap_hit
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result, retried_result

__all__ = ["CHECK", "StarttlsEvidence", "StarttlsRow", "targets"]

#: the status of a dialogue whose TLS handshake was made
TLS_UP = "ok"


@dataclass(frozen=True, kw_only=True)
class StarttlsRow(Row):
    """One MX address and its STARTTLS dialogue (the last attempt's; :func:`~v6scan.checks.mail.starttls`)."""

    host: str = ""
    family: str = ""
    address: str = ""
    #: ok (TLS made), no_starttls, starttls_refused, bad_greeting, bad_ehlo, silent, timeout, or a
    #: connection or TLS status (tls_error)
    status: str = ""
    #: the step it ended at when the TLS handshake was not made: connect, greeting, ehlo, starttls, tls
    step: str | None = optional()
    #: the greeting's last line (at most 200 characters)
    banner: str | None = optional()
    #: the EHLO reply's lines, without their codes
    ehlo: tuple[str, ...] | None = optional()
    #: whether EHLO advertised STARTTLS (absent: EHLO was not answered)
    starttls: bool | None = optional()
    #: the reply to STARTTLS (its last line)
    starttls_reply: str | None = optional()
    #: the certificate verified (chain and the MX host name); absent when no handshake was made
    valid: bool | None = optional()
    problem: str | None = optional()
    verify_code: int | None = optional()
    protocol: str | None = optional()
    cipher: str | None = optional()
    cert: CertRow | None = optional()
    #: EHLO over TLS answered 250
    tls_ehlo: bool | None = optional()
    error: str | None = optional()
    elapsed_ms: float = 0.0
    attempts: int | None = None
    #: 1 when the server answered (any outcome but no connection), else 0
    successes: int | None = None

    @classmethod
    def build(cls, *, host: str, dialogue: Mapping[str, JSON], attempts: int) -> Self:
        """The row of ``host``'s :func:`~v6scan.checks.mail.starttls` ``dialogue`` (family and
        ``successes`` read from it)."""
        address = str(dialogue.get("address") or "")
        return cls.from_json({"host": host, "family": "v6" if ":" in address else "v4", **dialogue,
                              "attempts": attempts,
                              "successes": int(dialogue.get("status") not in TRANSIENT_SMTP)})

    @property
    def label(self) -> str:
        return f"{self.host} {self.address}"

    @property
    def answered(self) -> bool:
        """EHLO was answered: whether STARTTLS is offered is known."""
        return self.starttls is not None

    @property
    def secured(self) -> bool:
        """The TLS handshake was made."""
        return self.status == TLS_UP


@dataclass(frozen=True, kw_only=True)
class StarttlsEvidence(Evidence):
    null_mx: bool = False
    #: one row per (MX host, address), IPv6 first
    servers: tuple[StarttlsRow, ...] = ()
    #: MX hosts with more than ``max_addresses`` allowed addresses of a family
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())
    #: "host address" of the IPv6 addresses with STARTTLS and a valid certificate
    v6_valid: tuple[str, ...] = ()
    #: "host address" of the IPv6 addresses that answer EHLO but make no TLS while an IPv4 address of
    #: the same host does
    v6_missing: tuple[str, ...] = ()
    #: "host address" of the IPv6 addresses whose certificate is not valid
    v6_invalid: tuple[str, ...] = ()
    #: the hosts with a valid certificate on an IPv4 address
    v4_valid_hosts: tuple[str, ...] = ()
    #: the hosts whose IPv6 addresses serve other certificates than their IPv4 addresses
    cert_differs: tuple[str, ...] = ()

    @classmethod
    def build(cls, *, null_mx: bool, servers: Sequence[StarttlsRow] = (),
              caps_hit: Sequence[Mapping[str, JSON]] = ()) -> Self:
        """The evidence of the rows, with the per-family comparisons derived from them."""
        v6 = [s for s in servers if s.family == "v6"]
        v4 = [s for s in servers if s.family == "v4"]
        v4_tls = {s.host for s in v4 if s.secured}

        def certs(rows: list[StarttlsRow], host: str) -> set[str]:
            return {s.cert.sha256 for s in rows if s.host == host and s.cert is not None}

        hosts = list(dict.fromkeys(s.host for s in servers))
        return cls(
            null_mx=null_mx, servers=tuple(servers), caps_hit=tuple(caps_hit),
            v6_valid=tuple(s.label for s in v6 if s.secured and s.valid is True),
            v6_missing=tuple(s.label for s in v6 if s.answered and not s.secured and s.host in v4_tls),
            v6_invalid=tuple(s.label for s in v6 if s.secured and s.valid is False),
            v4_valid_hosts=tuple(dict.fromkeys(s.host for s in v4 if s.secured and s.valid is True)),
            cert_differs=tuple(h for h in hosts if (c6 := certs(v6, h)) and (c4 := certs(v4, h)) and c6 != c4))


def targets(mx: MxEvidence, allows: Callable[[str], bool] | None = None, per_host: int = 16) -> list[tuple[str, str]]:
    """(MX host, address) pairs to probe: the usable IPv6 addresses of every host that has one and the
    IPv4 addresses of those hosts that ``allows`` (the address policy's test; None: all), at most
    ``per_host`` of each family per host."""
    test = allows or (lambda a: True)
    out: list[tuple[str, str]] = []
    for host in mx.mx:
        v6 = [row.address for row in host.aaaa if row.usable][:per_host]
        if v6:
            out += [(host.host, a) for a in v6]
            out += [(host.host, a) for a in [a for a in host.a if test(a)][:per_host]]
    return out


def _caps(ctx: Context, mx: MxEvidence, cap: int) -> list[Mapping[str, JSON]]:
    over: list[Mapping[str, JSON]] = []
    for h in mx.mx:
        if (n := sum(1 for r in h.aaaa if r.usable)) > cap:
            over.append(cap_hit("max_addresses", cap, n, family="v6", host=h.host))
        if (n := sum(1 for a in h.a if ctx.policy.allows(a))) > cap:
            over.append(cap_hit("max_addresses", cap, n, family="v4", host=h.host))
    return over


async def _dialogue(ctx: Context, host: str, addr: str) -> StarttlsRow:
    async def once() -> dict[str, JSON]:
        async with ctx.slot(addr):
            return await starttls(addr, host, *ctx.mail_tls(), ctx.settings.timeout)

    row, n = await retried(once, lambda r: Status.OK, ctx.settings.retry,
                           transient=lambda r: r.get("status") in TRANSIENT_SMTP)
    return StarttlsRow.build(host=host, dialogue=row, attempts=n)


async def probe(ctx: Context, run: Run) -> Observation:
    mx = await mx_lookup(run)
    sw = Stopwatch()
    cap = ctx.settings.max_addresses
    pairs = targets(mx.evidence, ctx.policy.allows, cap)
    over = _caps(ctx, mx.evidence, cap)
    if (why := not_probed(mx, bool(pairs))) is not None:
        skipped = StarttlsEvidence.build(null_mx=mx.evidence.null_mx, caps_hit=over)
        return CHECK.observe(run.name, Status.SKIPPED, skipped, why, sw.stop(), sw.started_at)
    rows = await asyncio.gather(*(_dialogue(ctx, h, a) for h, a in pairs))
    ordered = [r for r in rows if r.family == "v6"] + [r for r in rows if r.family == "v4"]
    ev = StarttlsEvidence.build(null_mx=mx.evidence.null_mx, servers=ordered, caps_hit=over)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _warnings(ev: StarttlsEvidence) -> list[Reason]:
    reasons: list[Reason] = []
    for s in ev.servers:
        if s.family != "v6":
            continue
        if s.label in ev.v6_missing:
            reasons.append(Reason("starttls_v6_missing", {
                "host": s.host, "address": s.address, "status": s.status}))
        elif s.label in ev.v6_invalid and s.host in ev.v4_valid_hosts:
            reasons.append(Reason("starttls_v6_invalid", {
                "host": s.host, "address": s.address, "problem": s.problem or "invalid"}))
    for host in ev.cert_differs:
        def fps(fam: str, h: str = host) -> list[JSON]:
            return sorted({s.cert.sha256[:16] for s in ev.servers
                           if s.host == h and s.family == fam and s.cert is not None})
        reasons.append(Reason("starttls_cert_differs", {"host": host, "v6": fps("v6"), "v4": fps("v4")}))
    return reasons


def rule(o: Observation, ev: StarttlsEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "skipped", applicable=False)
    v6 = [s for s in ev.servers if s.family == "v6" and s.answered]
    if not v6:
        return not_tested(o.check, o.target, "no IPv6 address of a mail server answered EHLO")
    if reasons := _warnings(ev):
        return result(o.check, o.target, "warn", *reasons)
    if not any(s.secured for s in ev.servers):
        hosts = list(dict.fromkeys(s.host for s in ev.servers))
        return result(o.check, o.target, "info", Reason("starttls_absent", {"hosts": hosts}), applicable=False)
    return retried_result(o.check, o.target, p, ((s.label, s.attempts, s.successes) for s in ev.servers))


CHECK = Check(
    id="mail.starttls", title="every mail server offers STARTTLS over IPv6 as over IPv4", order=240,
    phase=Phase.TARGET,
    evidence=StarttlsEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "starttls_v6_missing", "starttls_v6_invalid", "starttls_cert_differs",
             "starttls_absent", "probe_retried"),
    weight=0, required=False, v6_dependent=True,
)
