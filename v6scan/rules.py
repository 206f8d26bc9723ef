"""The vocabulary of scoring rules: policies, reasons, per-check results and their helpers.  Pure.

Each check's module (:mod:`v6scan.checks`) declares its rule with these; :mod:`v6scan.scoring`
turns the results of all checks into a site verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from v6scan.messages import fix_hint, render
from v6scan.model import JSON

__all__ = ["INTERMITTENT", "RESULTS", "CheckResult", "Policy", "Reason", "not_tested", "result",
           "retried_result"]

RESULTS = ("pass", "warn", "fail", "info", "not_tested", "error", "inconclusive")

#: a warn whose only finding is that some probes needed another try: shown, never held against the site
INTERMITTENT = "intermittent"


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    checks: Mapping[str, Mapping[str, Any]]
    thresholds: Mapping[str, Any]
    score: Mapping[str, Any]

    def weight(self, check: str) -> float:
        return float(self.checks.get(check, {}).get("weight", 0))

    def required(self, check: str) -> bool:
        return bool(self.checks.get(check, {}).get("required", False))

    def t(self, key: str) -> Any:
        return self.thresholds[key]

    def to_json(self) -> dict[str, JSON]:
        return {"name": self.name, "description": self.description, "checks": dict(self.checks),
                "thresholds": dict(self.thresholds), "score": dict(self.score)}


@dataclass(frozen=True, eq=False)
class Reason:
    code: str
    params: Mapping[str, JSON] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        return render(self.code, self.params, lang)

    def fix(self, lang: str = "en") -> str:
        return fix_hint(self.code, self.params, lang)

    def to_json(self, lang: str = "en") -> dict[str, JSON]:
        return {"code": self.code, "params": dict(self.params), "text": self.text(lang),
                "fix": self.fix(lang)}


@dataclass(frozen=True)
class CheckResult:
    check: str
    name: str
    result: str
    reasons: tuple[Reason, ...] = ()
    #: for a fail: "broken" when IPv6 users do not get the site at all, else "partial"
    severity: str | None = None
    #: False when the check does not apply (e.g. TLS on a site that offers no HTTPS at all)
    applicable: bool = True

    def summary(self, lang: str = "en") -> str:
        if self.reasons:
            return self.reasons[0].text(lang)
        return {"pass": "passed", "not_tested": "not tested", "info": "information only"}.get(
            self.result, self.result)

    def to_json(self, lang: str = "en") -> dict[str, JSON]:
        return {"check": self.check, "name": self.name, "result": self.result,
                "severity": self.severity, "applicable": self.applicable,
                "reasons": [r.to_json(lang) for r in self.reasons]}


def result(check: str, name: str, outcome: str, *reasons: Reason, severity: str | None = None,
           applicable: bool = True) -> CheckResult:
    """A :class:`CheckResult` (``outcome`` is one of :data:`RESULTS`)."""
    return CheckResult(check, name, outcome, tuple(reasons), severity, applicable)


def not_tested(check: str, name: str, why: str, applicable: bool = True) -> CheckResult:
    return result(check, name, "not_tested", Reason("not_tested", {"why": why}), applicable=applicable)


def retried_result(check: str, name: str, p: Policy,
                   rows: Iterable[tuple[str, int | None, int | None]]) -> CheckResult:
    """``pass``, or a ``warn`` naming the success rate when probes that finally answered needed
    more than one attempt (packet loss: never a ``fail``, never a lower verdict or score).

    ``rows`` are (label, attempts, successes) per probe; attempts None means one, successes None
    means the probe answered."""
    attempts = successes = 0
    retried: list[str] = []
    for label, tries, ok_count in rows:
        n = int(tries or 1)
        ok = int(ok_count) if ok_count is not None else 1
        attempts, successes = attempts + n, successes + ok
        if n > 1 and ok:
            retried.append(f"{label} ({n} tries)")
    rate = successes / attempts if attempts else 1.0
    if retried and rate < float(p.t("probe_success_warn")):
        return result(check, name, "warn", Reason("probe_retried", {
            "attempts": attempts, "successes": successes, "rate": f"{rate:.0%}", "probes": retried[:5]}),
            severity=INTERMITTENT)
    return result(check, name, "pass")
