"""``mail.mx_reach``: every mail server greets over IPv6 (SMTP on port 25).

Each usable IPv6 address of each MX host that ``mail.mx_aaaa``'s lookup found (at most
``max_addresses`` per host) gets an SMTP dialogue: connect to port 25, read the greeting, EHLO,
QUIT (:func:`v6scan.checks.mail.smtp`).  A connection that timed out, was unreachable or broke is
tried again; a server that connected and said nothing, or something wrong, has answered.  A domain
without MX records publishes no mail service: nothing to test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

from v6scan.attempts import retried
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.mail import TRANSIENT_SMTP, mx_lookup, mx_v6_targets, not_probed, smtp
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch, cap_hit
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result, retried_result

__all__ = ["CHECK", "MxReachEvidence", "SmtpServer"]


@dataclass(frozen=True, kw_only=True)
class SmtpServer(Row):
    """One MX address and its SMTP dialogue (the last attempt's)."""

    host: str = ""
    address: str = ""
    #: the greeting's last line (at most 200 characters)
    banner: str | None = optional()
    #: the EHLO reply's lines, without their codes
    ehlo: tuple[str, ...] | None = optional()
    #: greets, bad_greeting, bad_ehlo, silent, timeout, or a connection status
    status: str = ""
    #: the step it ended at when it did not greet: connect, greeting, ehlo
    step: str | None = optional()
    error: str | None = optional()
    elapsed_ms: float = 0.0
    attempts: int | None = None
    #: 1 when it greeted, else 0
    successes: int | None = None

    @classmethod
    def build(cls, *, host: str, dialogue: Mapping[str, JSON], attempts: int) -> Self:
        """The row of ``host``'s :func:`~v6scan.checks.mail.smtp` ``dialogue`` (``successes`` read from
        its status)."""
        return cls.from_json({"host": host, **dialogue, "attempts": attempts,
                              "successes": int(dialogue.get("status") == "greets")})


@dataclass(frozen=True, kw_only=True)
class MxReachEvidence(Evidence):
    null_mx: bool = False
    servers: tuple[SmtpServer, ...] = ()
    #: MX hosts with more than ``max_addresses`` usable IPv6 addresses
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())
    #: "host address" of each server that did not greet (written when servers were probed)
    not_greeting: tuple[str, ...] | None = optional()

    @classmethod
    def build(cls, *, null_mx: bool, caps_hit: Sequence[Mapping[str, JSON]] = (),
              servers: Sequence[SmtpServer] | None = None) -> Self:
        """The evidence (``servers`` None: nothing was probed), ``not_greeting`` read from the servers."""
        if servers is None:
            return cls(null_mx=null_mx, caps_hit=tuple(caps_hit))
        return cls(null_mx=null_mx, servers=tuple(servers), caps_hit=tuple(caps_hit),
                   not_greeting=tuple(f"{s.host} {s.address}" for s in servers if s.status != "greets"))


async def _greet(ctx: Context, host: str, addr: str) -> SmtpServer:
    async def once() -> dict[str, JSON]:
        async with ctx.slot(addr):
            return await smtp(addr, ctx.settings.timeout)

    row, n = await retried(once, lambda r: Status.OK, ctx.settings.retry,
                           transient=lambda r: r.get("status") in TRANSIENT_SMTP)
    return SmtpServer.build(host=host, dialogue=row, attempts=n)


async def probe(ctx: Context, run: Run) -> Observation:
    mx = await mx_lookup(run)
    sw = Stopwatch()
    cap = ctx.settings.max_addresses
    over = [cap_hit("max_addresses", cap, n, family="v6", host=h.host) for h in mx.evidence.mx
            if (n := sum(1 for r in h.aaaa if r.usable)) > cap]
    if (why := not_probed(mx, bool(mx_v6_targets(mx.evidence)))) is not None:
        skipped = MxReachEvidence.build(null_mx=mx.evidence.null_mx, caps_hit=over)
        return CHECK.observe(run.name, Status.SKIPPED, skipped, why, sw.stop(), sw.started_at)
    servers = await asyncio.gather(*(_greet(ctx, h, a) for h, a in mx_v6_targets(mx.evidence, cap)))
    ev = MxReachEvidence.build(null_mx=mx.evidence.null_mx, caps_hit=over, servers=servers)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: MxReachEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "skipped", applicable=False)
    bad = [s for s in ev.servers if s.status != "greets"]
    if bad:
        sev = "fail" if p.t("mx_severity") == "fail" else "warn"
        return result(o.check, o.target, sev, *[Reason("mx_v6_no_greeting", {
            "host": s.host, "address": s.address, "status": s.status}) for s in bad], severity="partial")
    return retried_result(o.check, o.target, p, ((f"{s.host} {s.address}", s.attempts, s.successes)
                                                 for s in ev.servers))


CHECK = Check(
    id="mail.mx_reach", title="every mail server greets over IPv6 (SMTP on port 25)", order=160,
    phase=Phase.TARGET,
    evidence=MxReachEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "mx_v6_no_greeting", "probe_retried"),
    weight=0, required=False, thresholds={"mx_severity": "warn"}, v6_dependent=True,
)
