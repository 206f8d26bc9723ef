"""``self.v6``: the scanner itself has working IPv6.

A route lookup (a connected UDP socket sends nothing) tells whether the machine has an IPv6 route
and which source address it would use; with ``--self-check ADDR[:PORT]`` a TCP connect to that
address proves it.  Run as the engine's canary (once per interval, shared by the targets); a failure
is the scanner's, never a site's: the IPv6-dependent checks are inconclusive then.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass

from v6scan.addresses import classify
from v6scan.attempts import retried
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.context import Context
from v6scan.model import Observation, Status, Stopwatch
from v6scan.net import tcp_connect
from v6scan.resolver import parse_server
from v6scan.rules import CheckResult, Policy, Reason, result

__all__ = ["CHECK", "SELF_CHECK_ROUTE", "SelfEvidence", "SelfProbe"]

#: where the self-check looks up its IPv6 route without ``--self-check`` (no packet is sent)
SELF_CHECK_ROUTE = ("2001:4860:4860::8888", 443)
#: the target of the observation (the engine records it with each target)
SELF = "self"


@dataclass(frozen=True, kw_only=True)
class SelfProbe(Row):
    """The TCP connect to the ``--self-check`` address (:meth:`v6scan.net.Probe.to_json`)."""

    address: str = ""
    port: int = 0
    status: str = ""
    elapsed_ms: float = 0.0
    attempts: int | None = None
    successes: int | None = None
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class SelfEvidence(Evidence):
    #: the ``--self-check`` address, if one was given
    configured_probe: str | None = None
    #: whether the machine has an IPv6 route (absent when not looked up)
    route: bool | None = optional()
    source: str | None = optional()
    source_class: str | None = optional()
    probe: SelfProbe | None = optional()
    note: str | None = optional()
    #: ``self-check`` when it failed: the scanner's own IPv6, never a site's fault
    scanner_side: str | None = optional()


async def _route(ctx: Context, ev: SelfEvidence, addr: str, port: int) -> tuple[Status, SelfEvidence, str | None]:
    """The route lookup towards ``addr`` and, with ``--self-check``, the TCP connect to it."""
    s = ctx.settings
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
            u.connect((addr, port))  # route lookup only: no packet is sent
            source = u.getsockname()[0]
    except OSError as e:
        return Status.UNREACHABLE, dataclasses.replace(ev, route=False), \
            f"this machine has no IPv6 route ({e.strerror})"
    src_class = classify(source)
    ev = dataclasses.replace(ev, route=True, source=source, source_class=src_class.kind)
    if not (src_class.public or ctx.policy.allows(source)):
        return Status.UNREACHABLE, ev, f"the IPv6 source address is not global ({src_class.describe()})"
    if not s.self_check:
        note = "route and source address only: give --self-check ADDR[:PORT] to prove connectivity"
        return Status.OK, dataclasses.replace(ev, note=note), None
    p, n = await retried(lambda: tcp_connect(addr, port, s.connect_attempt_timeout), lambda r: r.status, s.retry)
    ev = dataclasses.replace(ev, probe=SelfProbe.from_json(
        {"address": addr, "port": port, **dataclasses.replace(p, attempts=n).to_json()}))
    if p.status is not Status.OK:
        return p.status, ev, f"the self-check probe [{addr}]:{port} failed: {p.error}"
    return Status.OK, ev, None


async def _measure(ctx: Context) -> tuple[Status, SelfEvidence, str | None]:
    s = ctx.settings
    ev = SelfEvidence(configured_probe=s.self_check)
    if not s.self_check_enabled:
        return Status.SKIPPED, ev, "the self-check was turned off"
    addr, port = (parse_server(s.self_check) if s.self_check else SELF_CHECK_ROUTE)
    if ":" not in addr:
        return Status.ERROR, ev, "the self-check address must be IPv6"
    if s.self_check and not (decision := ctx.policy.decide(addr)).allowed:
        # one policy for every connection: the CLI refuses this address; a library caller gets no packet
        return Status.BLOCKED, ev, f"the self-check address {addr} may not be contacted: {decision.reason}"
    return await _route(ctx, ev, addr, port)


async def probe(ctx: Context, run: Run) -> Observation:
    """Does the scanner have a global IPv6 source address with a route (and, with ``--self-check``,
    does a TCP connect over it work)?"""
    sw = Stopwatch()
    status, ev, why = await _measure(ctx)
    if status not in (Status.OK, Status.SKIPPED):
        ev = dataclasses.replace(ev, scanner_side="self-check")  # the scanner's own IPv6: never a site's fault
    return CHECK.observe(SELF, status, ev, why, sw.stop(), sw.started_at)


def rule(o: Observation, ev: SelfEvidence, p: Policy) -> CheckResult:
    if o.status is Status.OK:
        return result(o.check, o.target, "pass", applicable=False)
    if o.status is Status.SKIPPED:
        return result(o.check, o.target, "info", Reason("not_tested", {"why": o.error or "turned off"}),
                      applicable=False)
    return result(o.check, o.target, "fail", Reason("self_v6_unusable", {"error": o.error}), applicable=False)


CHECK = Check(
    id="self.v6", title="the scanner itself has working IPv6", order=170, phase=Phase.SCANNER,
    evidence=SelfEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "self_v6_unusable"),
    weight=0, required=False, v6_dependent=False, scanner_side=True,
)
