"""Scoring: observations in, per-check results and a site verdict out.  Pure: no I/O.

Policies are data (``v6scan/policies/*.json``, or any JSON file with the same
shape): per-check weights and whether a check is required, thresholds, and
the score method (``weighted`` or internet.nl-style ``points``).  The rules
below read only the evidence the checks recorded, so an old sweep can be
re-scored with another policy without rescanning.

Site verdict, first match wins (DESIGN.md section 3):
``inconclusive`` (the scanner had no IPv6) > ``error`` (no name resolves) >
``absent`` (no usable AAAA) > ``broken`` (IPv6 users do not get the site) >
``partial`` (a required check fails or warns) > ``ready``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from v6scan.checks.dns_resolve import CHECK as DNS_RESOLVE
from v6scan.checks.web_reach import CHECK as WEB_REACH
from v6scan.internetnl import score_internetnl
from v6scan.model import JSON, Observation, Status
from v6scan.registry import CHECKS
from v6scan.rules import INTERMITTENT, RESULTS, CheckResult, Policy, Reason, not_tested, result

__all__ = [
    "BUILTIN_POLICIES",
    "RESULTS",
    "RESULT_RANK",
    "VERDICTS",
    "CheckResult",
    "Policy",
    "Reason",
    "SiteVerdict",
    "default_thresholds",
    "evaluate",
    "load_policy",
    "policy_from_file_data",
    "policy_from_json",
    "score_target",
]

BUILTIN_POLICIES = ("default", "internetnl", "cn-gov")
#: how a policy turns results into a score (``score.method``)
SCORE_METHODS = ("weighted", "points", "internetnl")
VERDICTS = ("inconclusive", "error", "absent", "broken", "partial", "ready")  # worst first
#: results from worst to best (a check's result over several names is the worst of theirs)
RESULT_RANK = {"fail": 0, "error": 1, "inconclusive": 2, "warn": 3, "not_tested": 4, "info": 5, "pass": 6}
#: scores are percentages
PERCENT = 100
#: thresholds every rule may read (the others are declared by the checks that read them)
GLOBAL_THRESHOLDS: dict[str, JSON] = {"probe_success_warn": 1.0, "warn_credit": 0.5}


def _v6_dependent(check: str) -> bool:
    """Says nothing about the site when the scanner's own IPv6 failed."""
    c = CHECKS.get(check)
    return c is not None and c.v6_dependent


def _per_target(check: str) -> bool:
    """Measured once per target domain (its mail, the scanner itself), not per site name."""
    c = CHECKS.get(check)
    return c is not None and not c.per_variant


def default_thresholds() -> dict[str, JSON]:
    """Every threshold with the default policy's value: the global ones and those each check declares."""
    out = dict(GLOBAL_THRESHOLDS)
    for c in CHECKS.values():
        out.update(c.thresholds)
    return out


def default_checks() -> dict[str, dict[str, JSON]]:
    """The default policy's weight and required flag of every check, as the checks declare them."""
    return {c.id: {"weight": c.weight, "required": c.required} for c in CHECKS.values()}


def policy_from_json(d: Mapping[str, Any]) -> Policy:
    """A policy as :meth:`Policy.to_json` wrote it; a threshold added since (a sweep stored by an older
    version) takes the default policy's value, as :func:`load_policy` gives it."""
    return Policy(d["name"], d["description"], d["checks"], {**default_thresholds(), **d["thresholds"]}, d["score"])


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_shape(data: Mapping[str, Any]) -> None:
    """A policy's JSON has the types scoring reads (a wrong one would fail every site later, not here)."""
    if not isinstance(data.get("name", ""), str) or not isinstance(data.get("description", ""), str):
        raise ValueError("a policy's name and description are text")
    _check_entries(data.get("checks"))
    thresholds = data.get("thresholds", {})
    if not isinstance(thresholds, Mapping):
        raise ValueError("a policy's thresholds are an object")
    defaults = default_thresholds()
    for key, v in thresholds.items():
        if key in defaults and type(defaults[key]) in (int, float) and not _number(v):
            raise ValueError(f"thresholds.{key}: {v!r} is not a number")
        if key in defaults and isinstance(defaults[key], str | list) and type(v) is not type(defaults[key]):
            raise ValueError(f"thresholds.{key}: {v!r} is not a {type(defaults[key]).__name__}")
    score = data.get("score", {})
    if not isinstance(score, Mapping) or score.get("method", "weighted") not in SCORE_METHODS:
        raise ValueError(f"a policy's score.method is one of {', '.join(SCORE_METHODS)}")
    groups = score.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) and isinstance(g.get("checks", []), list)
                                               for g in groups):
        raise ValueError("a policy's score.groups is a list of objects with a list of checks")


def _check_entries(checks: Any) -> None:
    if not isinstance(checks, Mapping):
        raise ValueError("a policy's checks are an object of check id -> {weight, required}")
    for cid, c in checks.items():
        if not isinstance(c, Mapping) or not set(c) <= {"weight", "required"}:
            raise ValueError(f"checks.{cid}: give an object with weight (a number) and required (true or false)")
        if "weight" in c and not (_number(c["weight"]) and c["weight"] >= 0):
            raise ValueError(f"checks.{cid}.weight: {c['weight']!r} is not a number of 0 or more")
        if "required" in c and not isinstance(c["required"], bool):
            raise ValueError(f"checks.{cid}.required: {c['required']!r} is not true or false")


def _check_ids(name: str, data: Mapping[str, Any]) -> None:
    """A policy may name only checks that exist: a misspelt id would silently weigh nothing."""
    named = set(data.get("checks", {}))
    for g in (data.get("score") or {}).get("groups", []):
        named |= set(g.get("checks", []))
    unknown = sorted(named - set(CHECKS))
    if unknown:
        raise ValueError(f"policy {name!r} names unknown check id(s): {', '.join(unknown)}"
                         f" (known: {', '.join(sorted(CHECKS))})")


def load_policy(name_or_path: str | Path = "default", overrides: Mapping[str, Any] | None = None) -> Policy:
    """A built-in policy by name (``default``, ``internetnl``, ``cn-gov``) or a JSON file.

    The default policy's weights, required flags and thresholds are those the checks declare
    (``v6scan/checks/*.py``); a policy file may name its own per check id, and thresholds it does
    not name take the default values.  ``overrides`` replaces thresholds (``{"same_site_min":
    0.8}``) or check settings (``{"checks": {"web.latency": {"required": true}}}``).
    """
    text: str
    p = Path(str(name_or_path))
    builtin = isinstance(name_or_path, str) and name_or_path in BUILTIN_POLICIES
    if not builtin and (p.suffix == ".json" or "/" in str(name_or_path) or p.is_file()):
        text = p.read_text(encoding="utf-8")
    else:
        try:
            text = resources.files("v6scan.policies").joinpath(f"{name_or_path}.json").read_text("utf-8")
        except FileNotFoundError:
            raise ValueError(f"unknown policy {name_or_path!r} (built in: default, internetnl, cn-gov)"
                             ) from None
    return policy_from_file_data(json.loads(text), p.stem, overrides)


def policy_from_file_data(data: Any, stem: str = "custom", overrides: Mapping[str, Any] | None = None) -> Policy:
    """A policy from a policy file's parsed JSON (``stem`` names it when it has no ``name``): what
    :func:`load_policy` makes of a file, for a policy that came another way (an API request)."""
    if not isinstance(data, dict):
        raise ValueError("a policy is a JSON object")
    if data.get("checks") is None:  # the checks' own declarations (the default policy)
        data["checks"] = default_checks()
    if overrides:
        data["checks"] = {**data.get("checks", {}), **{
            k: {**data.get("checks", {}).get(k, {}), **v} for k, v in overrides.get("checks", {}).items()}}
        data["thresholds"] = {**data.get("thresholds", {}),
                              **{k: v for k, v in overrides.items() if k != "checks"}}
    _check_shape(data)
    thresholds = {**default_thresholds(), **data.get("thresholds", {})}
    _check_ids(str(data.get("name", stem)), data)
    return Policy(data.get("name", stem), data.get("description", ""), data.get("checks", {}),
                  thresholds, data.get("score", {"method": "weighted"}))


def _error(check: str, o: Observation) -> CheckResult:
    return result(check, o.target, "error", Reason("check_error", {"error": o.error or str(o.status)}))


def evaluate(o: Observation, p: Policy) -> CheckResult:
    """The result of one observation under ``p``: its check's rule, after what every check shares
    (not contacted, an internal error, the per-target deadline)."""
    check = CHECKS.get(o.check)
    if check is None:
        return result(o.check, o.target, "info", Reason("not_tested", {"why": "no scoring rule yet"}),
                      applicable=False)
    if o.status is Status.EXCLUDED:  # the user asked for it not to be contacted: not measured, no points
        return not_tested(o.check, o.target, o.error or "on the exclusion list", applicable=False)
    if o.status is Status.ERROR and o.check != "dns.resolve":
        return _error(o.check, o)
    if o.status is Status.TIMEOUT and "deadline" in (o.error or ""):
        return _error(o.check, o)
    return check.evaluate(o, p)


# --------------------------------------------------------------------------- the site


@dataclass(frozen=True)
class SiteVerdict:
    target: str
    policy: str
    verdict: str
    score: int
    names: tuple[str, ...]
    #: every check result, per name
    results: tuple[CheckResult, ...]
    reasons: tuple[Reason, ...]
    points: float | None = None

    def check(self, check: str, name: str | None = None) -> CheckResult | None:
        for r in self.results:
            if r.check == check and (name is None or r.name == name):
                return r
        return None

    def worst(self, check: str) -> CheckResult | None:
        """The worst result of ``check`` over the names that count for the verdict."""
        rs = [r for r in self.results if r.check == check and r.name in self.names]
        rs = rs or [r for r in self.results if r.check == check]
        return min(rs, key=lambda r: RESULT_RANK[r.result]) if rs else None

    def checks_json(self, lang: str = "en") -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        for cid in sorted({r.check for r in self.results}):
            w = self.worst(cid)
            assert w is not None
            per = {r.name: r.to_json(lang) for r in self.results if r.check == cid}
            out[cid] = {"result": w.result, "summary": w.summary(lang), "details": {"names": per}}
        return out


def verdict_to_data(v: SiteVerdict) -> dict[str, JSON]:
    """A verdict as plain data (worker processes send it to the coordinator); see :func:`verdict_from_data`."""
    def reasons(rs: Iterable[Reason]) -> list[JSON]:
        return [[r.code, dict(r.params)] for r in rs]

    return {"target": v.target, "policy": v.policy, "verdict": v.verdict, "score": v.score, "names": list(v.names),
            "points": v.points, "reasons": reasons(v.reasons),
            "results": [[r.check, r.name, r.result, reasons(r.reasons), r.severity, r.applicable]
                        for r in v.results]}


def verdict_from_data(d: Mapping[str, Any]) -> SiteVerdict:
    def reasons(rs: Iterable[Any]) -> tuple[Reason, ...]:
        return tuple(Reason(code, params) for code, params in rs)

    return SiteVerdict(d["target"], d["policy"], d["verdict"], int(d["score"]), tuple(d["names"]),
                       tuple(CheckResult(c, n, res, reasons(rs), sev, app) for c, n, res, rs, sev, app in d["results"]),
                       reasons(d["reasons"]), d.get("points"))


def _variant_verdict(results: list[CheckResult], policy: Policy) -> str:
    by = {r.check: r for r in results}
    # a required check that could not be completed leaves the site unassessed: never better
    if any(policy.required(r.check) and r.result == "error" for r in results):
        return "error"
    if by.get("dns.aaaa") and by["dns.aaaa"].result == "fail":
        return "absent"
    if any(r.result == "fail" and r.severity == "broken" for r in results):
        return "broken"
    for r in results:
        if r.severity == INTERMITTENT:
            continue  # answered after a retry: the site works
        if policy.required(r.check) and (r.result in ("fail", "warn")
                                         or (r.result == "not_tested" and r.applicable)):
            return "partial"
    for cid in policy.checks:  # required by the policy but never measured
        if policy.required(cid) and cid not in by:
            return "partial"
    return "ready"


def _percent(part: float, whole: float) -> int:
    """``part`` of ``whole`` as a whole percentage, halves rounded up (not to even); 0 of nothing."""
    return math.floor(PERCENT * part / whole + 0.5) if whole else 0


def _weighted(results: list[CheckResult], policy: Policy) -> int:
    # the share of a check's weight each result earns; a warn earns the policy's ``warn_credit``
    credit = {"pass": 1.0, "warn": float(policy.t("warn_credit"))}
    num = den = 0.0
    for r in results:
        w = policy.weight(r.check)
        if w <= 0 or not r.applicable or r.result == "inconclusive":
            continue  # not applicable, or not measurable from here: neither earned nor lost
        den += w
        num += w * (credit["pass"] if r.severity == INTERMITTENT else credit.get(r.result, 0.0))
    for cid, conf in policy.checks.items():  # required checks that were never measured count as 0
        if float(conf.get("weight", 0)) > 0 and cid not in {r.check for r in results}:
            den += float(conf["weight"])
    return _percent(num, den)


def _points(results: list[CheckResult], policy: Policy) -> tuple[int, float]:
    by = {r.check: r for r in results}
    pts = 0.0
    for g in policy.score.get("groups", []):
        if all(by.get(c) is not None and by[c].result == "pass" for c in g["checks"]):
            pts += float(g["points"])
    mx = float(policy.score.get("max") or sum(float(g["points"]) for g in policy.score.get("groups", [])))
    return _percent(pts, mx), pts


def _resolving_verdict(target: str, results: list[CheckResult], resolving: list[str],
                       policy: Policy) -> tuple[str, list[Reason]]:
    """The verdict of a site some of whose names resolve (its worst name's), and the findings behind it."""
    per: list[str] = []
    for n in resolving:
        own = [r for r in results if r.name == n or (r.name == target and _per_target(r.check))]
        per.append(_variant_verdict(own, policy))
    verdict = min(per, key=VERDICTS.index)
    reasons: list[Reason] = []
    if verdict == "error":
        reasons += [x for r in results if r.result == "error" for x in r.reasons]
    for r in results:
        if r.name in resolving and r.result in ("fail", "warn", "error", "inconclusive"):
            if verdict == "absent" and r.check != "dns.aaaa":
                continue  # for an absent site, "no AAAA" says it all
            reasons += r.reasons
    return verdict, reasons


def _site_score(target: str, obs: list[Observation], counted: list[CheckResult], resolving: list[str],
                policy: Policy) -> tuple[int, float | None]:
    """The score of a site with a verdict (and its points, for a points method): its worst name's."""
    if policy.score.get("method") == "internetnl":
        # internet.nl's own rules on each resolving name's evidence (v6scan/internetnl.py); the site
        # gets its worst name.  The mail category uses the target's name servers when there are any.
        ns_of_target = [o for o in obs if o.target == target and o.check in ("dns.ns_aaaa", "dns.ns_reach")]
        inl = [score_internetnl([*(o for o in obs if o.target == n or _per_target(o.check)),
                                 *(o for o in ns_of_target if n != target)])
               for n in resolving]
        worst = min(inl, key=lambda s: (s.percent, s.points))
        return worst.percent, worst.points
    if policy.score.get("method") == "points":
        by_name = [[r for r in counted if r.name == n or _per_target(r.check)] for n in resolving]
        scored = [_points(rs, policy) for rs in by_name] or [(0, 0.0)]
        score, pts = min(scored)
        return score, pts
    return min(_weighted([r for r in counted if r.name == n or _per_target(r.check)], policy)
               for n in resolving), None


def score_target(target: str, observations: Iterable[Observation], policy: Policy) -> SiteVerdict:
    """The verdict for one target from all its observations (every name: the domain and www.)."""
    obs = list(observations)
    results = [evaluate(o, policy) for o in obs]
    self_fail = any(r.check == "self.v6" and r.result in ("fail", "error") for r in results)
    if self_fail:
        results = [result(r.check, r.name, "inconclusive", *r.reasons) if _v6_dependent(r.check) else r
                   for r in results]
    names_all = list(dict.fromkeys(o.target for o in obs if o.check == "dns.resolve")) or [target]
    resolving = [n for n in names_all
                 if any(r.check == "dns.resolve" and r.name == n and r.result == "pass" for r in results)]
    reasons: list[Reason] = []
    notes = [Reason("www_missing", {"name": n}) for n in names_all
             if n not in resolving and n != target and n.startswith("www.")]
    notes += [Reason("ipv6_only_site", {"name": o.target}) for o in obs
              if o.check == WEB_REACH.id and o.target in resolving and WEB_REACH.read(o).ipv6_only]
    notes += [Reason("addresses_pinned", {"name": o.target, "addresses": list(pins)}) for o in obs
              if o.check == DNS_RESOLVE.id and (pins := DNS_RESOLVE.read(o).pinned)]
    if self_fail:
        verdict = "inconclusive"
        reasons = [next(x for r in results if r.check == "self.v6" for x in r.reasons)]
        reasons = [Reason("self_v6_unusable", {"error": reasons[0].params.get("error")})]
    elif not resolving and any(r.check == "dns.resolve" and r.result == "inconclusive" for r in results):
        verdict = "inconclusive"  # the scanner's resolver answered nothing: the site was not assessed
        reasons += [x for r in results if r.check == "dns.resolve" and r.result == "inconclusive"
                    for x in r.reasons]
    elif not resolving:
        verdict = "error"
        reasons += [x for r in results if r.check == "dns.resolve" and r.result in ("fail", "error")
                    for x in r.reasons]
    else:
        verdict, reasons = _resolving_verdict(target, results, resolving, policy)
    if verdict in ("partial", "ready"):
        measured = {r.check for r in results}
        for cid in policy.checks:
            if policy.required(cid) and cid not in measured:
                reasons.append(Reason("required_not_measured", {"check": cid, "policy": policy.name}))
    counted = [r for r in results if r.name in (resolving or names_all) or _per_target(r.check)]
    score, points = (0, None) if verdict in ("inconclusive", "error") else \
        _site_score(target, obs, counted, resolving, policy)
    if verdict not in ("inconclusive", "error"):
        reasons += notes  # informational, after the findings
    unique = {(r.code, json.dumps(r.params, sort_keys=True, default=str)): r for r in reversed(reasons)}
    ordered = tuple(reversed(list(unique.values())))
    return SiteVerdict(target, policy.name, verdict, score, tuple(resolving or names_all), tuple(results),
                       ordered, points)
