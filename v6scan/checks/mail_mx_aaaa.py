"""``mail.mx_aaaa``: the domain's mail servers have IPv6 addresses.

The MX records of the target domain are looked up (:func:`v6scan.checks.mail.mx_lookup`, shared
with ``mail.mx_reach``) and each MX host's AAAA and A records with them (at most ``max_mx_hosts``,
most preferred first; hosts on the exclusion list are recorded, not looked up).  Every MX host
needs a usable AAAA.  A null MX (RFC 7505) is information only: the domain accepts no mail; no MX
at all means the domain's own addresses receive its mail (RFC 5321 section 5.1).
"""

from __future__ import annotations

from v6scan.checks.base import Check, Phase, Run
from v6scan.checks.mail import MxEvidence, mx_lookup
from v6scan.context import Context
from v6scan.model import Observation, Status
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "MxEvidence"]


async def probe(ctx: Context, run: Run) -> Observation:
    mx = await mx_lookup(run)
    return CHECK.observe(run.name, mx.status, mx.evidence, mx.error, mx.elapsed_ms, mx.started_at)


def rule(o: Observation, ev: MxEvidence, p: Policy) -> CheckResult:
    if o.status is not Status.OK:
        return not_tested(o.check, o.target, o.error or str(o.status), applicable=False)
    if ev.null_mx:
        return result(o.check, o.target, "info", Reason("mx_null"), applicable=False)
    missing = [h.host for h in ev.mx if not h.usable_v6]
    if missing:
        sev = "fail" if p.t("mx_severity") == "fail" else "warn"
        return result(o.check, o.target, sev, Reason("mx_no_v6", {"hosts": missing}), severity="partial")
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="mail.mx_aaaa", title="mail servers have IPv6 addresses", order=150, phase=Phase.TARGET,
    evidence=MxEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "mx_null", "mx_no_v6"),
    weight=2, required=False, thresholds={"mx_severity": "warn"}, v6_dependent=False,
)
