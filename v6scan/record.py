"""The output contract's per-target record (DESIGN.md section 4), built in one place.

``check --format json``, ``scan --format jsonl``, ``export`` (json, jsonl, csv) and the HTML
report all call :func:`build_record` with a target, its observations and its verdict: a scan
with what it just measured and scored, the store's readers with what they read back (the
observations as recorded, the verdict rebuilt from its stored row).  So the same sweep gives the
same records whichever command prints them.

Schema ``v6scan.result/1`` (:class:`Record`): the section 4 fields (``target``, ``sector``,
``region``, ``verdict``, ``score``, ``checks``, ``scanned_at``, ``version``) plus ``schema``,
``display`` (the Unicode name), ``organisation``, ``policy``, ``names`` (the names that count
for the verdict) and ``reasons`` (the verdict's, each with its fix hint).  ``checks`` maps a
check id to its worst ``result`` over those names, that result's ``summary``, and per name in
``details.names`` the check result (``severity``, ``applicable``, ``reasons``) next to the
measurement it was scored from (``status``, ``error``, raw ``evidence``; ``null``, ``null``,
``{}`` when there was none).  ``attribution`` says who serves the site
(:class:`v6scan.providers.Attribution`: per family ``v6``/``v4`` the ``provider``, its ``kind``,
the name or address it was matched by ``via``, the ``addresses`` and their ``prefixes``; the
``cname`` target, the ``dns_operator`` and the ``ns`` host names).  Every key is always present.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from v6scan import __version__
from v6scan.model import JSON, RESULT_SCHEMA, Observation
from v6scan.providers import Attribution, ProviderTable, attribute
from v6scan.scoring import CheckResult, Reason, SiteVerdict
from v6scan.targets import Target

__all__ = ["CheckRecord", "NameRecord", "ReasonRecord", "Record", "build_record"]


class ReasonRecord(TypedDict):
    code: str
    params: dict[str, JSON]
    text: str
    fix: str


class NameRecord(TypedDict):
    check: str
    name: str
    result: str
    severity: str | None
    applicable: bool
    reasons: list[ReasonRecord]
    status: str | None
    error: str | None
    evidence: dict[str, JSON]


class CheckDetails(TypedDict):
    names: dict[str, NameRecord]


class CheckRecord(TypedDict):
    result: str
    summary: str
    details: CheckDetails


class Record(TypedDict):
    schema: str
    target: str
    display: str
    sector: str | None
    region: str | None
    organisation: str | None
    verdict: str
    score: int
    policy: str
    names: list[str]
    reasons: list[ReasonRecord]
    checks: dict[str, CheckRecord]
    scanned_at: str | None
    sweep: int | None  # the stored sweep it belongs to (None for ``check``)
    attribution: dict[str, JSON]
    version: str


def _reasons(reasons: Iterable[Reason], lang: str) -> list[ReasonRecord]:
    return [{"code": r.code, "params": dict(r.params), "text": r.text(lang), "fix": r.fix(lang)} for r in reasons]


def _name(r: CheckResult, o: Observation | None, lang: str) -> NameRecord:
    return {"check": r.check, "name": r.name, "result": r.result, "severity": r.severity,
            "applicable": r.applicable, "reasons": _reasons(r.reasons, lang),
            "status": None if o is None else str(o.status), "error": None if o is None else o.error,
            "evidence": {} if o is None else dict(o.evidence)}


def build_record(target: Target, observations: Iterable[Observation], verdict: SiteVerdict,
                 scanned_at: str | None, lang: str = "en", sweep: int | None = None,
                 providers: ProviderTable | None = None, attribution: Attribution | None = None) -> Record:
    """The record of ``target``, measured as ``observations`` and judged as ``verdict``; texts
    (reasons, fix hints, summaries) in ``lang``; ``attribution`` as stored, else made from the
    observations with ``providers`` (default: the shipped table)."""
    observations = list(observations)
    by = {(o.check, o.target): o for o in observations}
    checks: dict[str, CheckRecord] = {}
    for cid in sorted({r.check for r in verdict.results}):
        worst = verdict.worst(cid)
        assert worst is not None
        names = {r.name: _name(r, by.get((cid, r.name)), lang) for r in verdict.results if r.check == cid}
        checks[cid] = {"result": worst.result, "summary": worst.summary(lang), "details": {"names": names}}
    return {"schema": RESULT_SCHEMA, "target": target.name, "display": target.display, "sector": target.sector,
            "region": target.region, "organisation": target.organisation, "verdict": verdict.verdict,
            "score": verdict.score, "policy": verdict.policy, "names": list(verdict.names),
            "reasons": _reasons(verdict.reasons, lang), "checks": checks, "scanned_at": scanned_at,
            "sweep": sweep, "version": __version__,
            "attribution": (attribution or attribute(target.name, observations,
                                                     providers or ProviderTable.default())).to_json()}
