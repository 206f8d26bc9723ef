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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from v6scan.internetnl import score_internetnl
from v6scan.messages import fix_hint, render
from v6scan.model import JSON, Observation, Status

__all__ = [
    "RESULTS",
    "VERDICTS",
    "CheckResult",
    "Policy",
    "Reason",
    "SiteVerdict",
    "load_policy",
    "score_target",
]

BUILTIN_POLICIES = ("default", "internetnl", "cn-gov")
VERDICTS = ("inconclusive", "error", "absent", "broken", "partial", "ready")  # worst first
RESULTS = ("pass", "warn", "fail", "info", "not_tested", "error", "inconclusive")
_RESULT_RANK = {"fail": 0, "error": 1, "inconclusive": 2, "warn": 3, "not_tested": 4, "info": 5, "pass": 6}
PER_TARGET = ("mail.mx_aaaa", "mail.mx_reach", "self.v6")
#: an HTTP status from this up (client and server errors) means the page was not delivered
HTTP_ERROR_MIN = 400
#: scores are percentages
PERCENT = 100
V6_DEPENDENT = {"dns.ns_reach", "dns.v6_path", "web.reach", "web.tls", "web.http", "web.same_site",
                "web.latency", "web.links", "web.resources", "path.pmtu", "path.icmp", "mail.mx_reach"}


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

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Policy:
        """A policy as :meth:`to_json` wrote it; a threshold added since (a sweep stored by an older
        version) takes the default policy's value, as :func:`load_policy` gives it."""
        return cls(d["name"], d["description"], d["checks"], {**_default_thresholds(), **d["thresholds"]},
                   d["score"])


def _default_thresholds() -> dict[str, Any]:
    data = json.loads(resources.files("v6scan.policies").joinpath("default.json").read_text("utf-8"))
    return dict(data["thresholds"])


def _check_ids(name: str, data: Mapping[str, Any]) -> None:
    """A policy may name only checks that have a scoring rule: a misspelt id would silently weigh nothing."""
    named = set(data.get("checks", {}))
    for g in (data.get("score") or {}).get("groups", []):
        named |= set(g.get("checks", []))
    unknown = sorted(named - set(RULES))
    if unknown:
        raise ValueError(f"policy {name!r} names unknown check id(s): {', '.join(unknown)}"
                         f" (known: {', '.join(sorted(RULES))})")


def load_policy(name_or_path: str | Path = "default", overrides: Mapping[str, Any] | None = None) -> Policy:
    """A built-in policy by name (``default``, ``internetnl``, ``cn-gov``) or a JSON file.

    ``overrides`` replaces thresholds (``{"same_site_min": 0.8}``) or check
    settings (``{"checks": {"web.latency": {"required": true}}}``).
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
    data = json.loads(text)
    if overrides:
        data["checks"] = {**data.get("checks", {}), **{
            k: {**data.get("checks", {}).get(k, {}), **v} for k, v in overrides.get("checks", {}).items()}}
        data["thresholds"] = {**data.get("thresholds", {}),
                              **{k: v for k, v in overrides.items() if k != "checks"}}
    thresholds = {**_default_thresholds(), **data.get("thresholds", {})}
    _check_ids(str(data.get("name", p.stem)), data)
    return Policy(data.get("name", p.stem), data.get("description", ""), data.get("checks", {}),
                  thresholds, data.get("score", {"method": "weighted"}))


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


def _r(check: str, name: str, result: str, *reasons: Reason, severity: str | None = None,
       applicable: bool = True) -> CheckResult:
    return CheckResult(check, name, result, tuple(reasons), severity, applicable)


#: a warn whose only finding is that some probes needed another try: shown, never held against the site
INTERMITTENT = "intermittent"


def _retried(check: str, name: str, p: Policy, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> CheckResult:
    """``pass``, or a ``warn`` naming the success rate when probes that finally answered needed
    more than one attempt (packet loss: never a ``fail``, never a lower verdict or score)."""
    attempts = successes = 0
    retried: list[str] = []
    for label, row in rows:
        n = int(row.get("attempts") or 1)
        ok = int(row["successes"]) if row.get("successes") is not None else 1
        attempts, successes = attempts + n, successes + ok
        if n > 1 and ok:
            retried.append(f"{label} ({n} tries)")
    rate = successes / attempts if attempts else 1.0
    if retried and rate < float(p.t("probe_success_warn")):
        return _r(check, name, "warn", Reason("probe_retried", {
            "attempts": attempts, "successes": successes, "rate": f"{rate:.0%}", "probes": retried[:5]}),
            severity=INTERMITTENT)
    return _r(check, name, "pass")


def _not_tested(check: str, name: str, why: str, applicable: bool = True) -> CheckResult:
    return _r(check, name, "not_tested", Reason("not_tested", {"why": why}), applicable=applicable)


def _error(check: str, o: Observation) -> CheckResult:
    return _r(check, o.target, "error", Reason("check_error", {"error": o.error or str(o.status)}))


# --------------------------------------------------------------------------- one rule per check

Rule = Callable[[Observation, Policy], CheckResult]


def _dns_resolve(o: Observation, p: Policy) -> CheckResult:
    if o.status is Status.OK:
        return _r(o.check, o.target, "pass")
    if o.evidence.get("scanner_side"):  # the scanner's resolver, not the name
        return _r(o.check, o.target, "inconclusive", Reason("resolver_unusable", {
            "name": o.target, "error": o.error or str(o.status)}))
    return _r(o.check, o.target, "fail", Reason("dns_unresolved", {"name": o.target, "error": o.error or
                                                                   str(o.status)}))


def _dns_aaaa(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status is Status.NODATA:
        return _r(o.check, o.target, "fail", Reason("no_aaaa", {"name": o.target}), severity="absent")
    if o.status is not Status.OK:
        return _r(o.check, o.target, "fail", Reason("dns_unresolved", {"name": o.target, "error": o.error}),
                  severity="absent")
    usable, bad = ev.get("usable", []), ev.get("not_usable", [])
    described = [f"{r['address']} ({r['name']})" for r in ev.get("addresses", []) if not r.get("usable")]
    if not usable:
        return _r(o.check, o.target, "fail", Reason("aaaa_not_usable", {"name": o.target,
                                                                       "addresses": described}),
                  severity="absent")
    if bad:
        return _r(o.check, o.target, "warn", Reason("aaaa_some_not_usable", {"name": o.target,
                                                                            "addresses": described}))
    return _r(o.check, o.target, "pass")


def _ns_aaaa(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status is not Status.OK:
        return _r(o.check, o.target, "fail", Reason("ns_lookup_failed", {"name": o.target, "error": o.error}))
    with_v6 = list(ev.get("ns_with_usable_aaaa", []))
    if len(with_v6) >= int(p.t("ns_v6_min")):
        return _r(o.check, o.target, "pass")
    excluded = [str(x.get("name")) for x in ev.get("excluded") or []]
    if excluded and with_v6 and len(with_v6) + len(excluded) >= int(p.t("ns_v6_min")):
        # the servers the user excluded were not looked up: whether enough have IPv6 is unknown
        return _not_tested(o.check, o.target, f"{len(with_v6)} name server(s) with IPv6; not looked up (on the"
                           f" exclusion list): {', '.join(excluded)}", applicable=False)
    reason = Reason("ns_v6_few", {"zone": ev.get("zone"), "count": len(with_v6),
                                  "with_v6": with_v6 or ["-"], "min": int(p.t("ns_v6_min"))})
    if with_v6 and p.t("ns_v6_one") == "warn":
        return _r(o.check, o.target, "warn", reason)
    return _r(o.check, o.target, "fail", reason)


def _ns_reach(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status in (Status.SKIPPED, Status.BLOCKED):
        return _not_tested(o.check, o.target, o.error or str(o.status))
    v6 = [x for x in ev.get("probes", []) if x.get("family") == "v6" and x.get("status") != "blocked"]
    if not v6:
        return _not_tested(o.check, o.target, "no name server has a usable IPv6 address")
    failed = [f"{x['ns']} {x['address']} {x['transport']}" for x in v6 if not x.get("answered")]
    if failed:
        return _r(o.check, o.target, "fail", Reason("ns_v6_unreachable", {"failed": failed}))
    return _retried(o.check, o.target, p, ((f"{x['ns']} {x['address']} {x['transport']}", x) for x in v6))


def _v6_path(o: Observation, p: Policy) -> CheckResult:
    if o.status is Status.OK:
        return _r(o.check, o.target, "pass")
    if o.status is Status.BLOCKED:
        return _not_tested(o.check, o.target, o.error or "blocked")
    ev = o.evidence
    if ev.get("scanner_side"):  # no root server answers over IPv6 from here: not the site's doing
        return _r(o.check, o.target, "inconclusive", Reason("v6_path_roots_unreachable", {
            "name": o.target, "error": ev.get("reason") or o.error}))
    return _r(o.check, o.target, "fail", Reason("v6_path_broken", {
        "name": o.target, "reason": ev.get("reason") or o.error, "zone": ev.get("broken_at")}))


def _web_reach(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status in (Status.SKIPPED, Status.BLOCKED) or not ev.get("v6_addresses"):
        return _not_tested(o.check, o.target, "no usable IPv6 address")
    v6_rows = [r for r in ev.get("addresses", []) if r.get("family") == "v6"]
    any_open = any(v.get("status") == "ok" for r in v6_rows for v in r.get("ports", {}).values())
    gaps = list(ev.get("parity_gaps", []))
    if not gaps:
        return _retried(o.check, o.target, p, ((f"{r['address']} port {port}", v) for r in v6_rows
                                               for port, v in r.get("ports", {}).items()))
    reasons = [Reason("web_v6_closed", {"address": g["address"], "port": g["port"], "status": g["status"]})
               for g in gaps]
    if not any_open:
        return _r(o.check, o.target, "fail", Reason("web_no_v6_server", {"name": o.target}), *reasons,
                  severity="broken")
    return _r(o.check, o.target, "fail", *reasons, severity="partial")


def _web_tls(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status is Status.SKIPPED:
        return _not_tested(o.check, o.target, "no address offers HTTPS", applicable=False)
    rows = [r for r in ev.get("addresses", [])
            if r.get("family") == "v6" and r.get("status") != "not_attempted"]
    if not rows:
        return _not_tested(o.check, o.target, "no IPv6 address offers HTTPS")
    reasons: list[Reason] = []
    for r in rows:
        if r.get("valid") is False:
            reasons.append(Reason("tls_v6_invalid", {"address": r["address"], "problem": r.get("problem")}))
        elif r.get("status") != "ok":
            reasons.append(Reason("tls_v6_failed", {"address": r["address"], "error": r.get("error")}))
    if reasons:
        v6_valid = bool(ev.get("v6_valid"))
        v4_valid = bool(ev.get("v4_valid"))
        if v6_valid:
            return _r(o.check, o.target, "fail", *reasons, severity="partial")
        if v4_valid or not ev.get("certificates_v4"):
            return _r(o.check, o.target, "fail", *reasons, severity="broken")
        return _r(o.check, o.target, "warn", *reasons)  # IPv4 is no better: not an IPv6 problem
    if ev.get("cert_differs"):
        return _r(o.check, o.target, "warn", Reason("tls_cert_differs", {
            "v6": [x[:16] for x in ev.get("certificates_v6", [])],
            "v4": [x[:16] for x in ev.get("certificates_v4", [])]}))
    return _retried(o.check, o.target, p, ((str(r["address"]), r) for r in rows))


def _web_http(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status is Status.SKIPPED:
        return _not_tested(o.check, o.target, o.error or "nothing to fetch")
    # a chain that led to a host on the exclusion list was not followed there: not judged
    v6_chains = [c for c in ev.get("chains", []) if c.get("family") == "v6" and c.get("status") != "excluded"]
    if not v6_chains:
        return _not_tested(o.check, o.target, "no IPv6 address accepts HTTP or HTTPS")
    reasons: list[Reason] = [Reason("http_v6_dead_end", {"host": h}) for h in ev.get("v6_dead_ends", [])]
    for c in v6_chains:
        final = c.get("final")
        if (final is None or (final.get("http_status") or 0) >= HTTP_ERROR_MIN) and not c.get("dead_end"):
            err = c.get("error") or (f"HTTP {final.get('http_status')}" if final else "no final page")
            addr = c["hops"][0]["address"] if c.get("hops") else "?"
            reasons.append(Reason("http_v6_failed", {"address": addr, "error": err}))
    ok = ev.get("v6_ok", [])
    if reasons:
        return _r(o.check, o.target, "fail", *reasons, severity="partial" if ok else "broken")
    if ev.get("status_differs"):
        return _r(o.check, o.target, "warn", Reason("http_status_differs", {
            "v6": ev.get("final_status_v6"), "v4": ev.get("final_status_v4")}))
    return _retried(o.check, o.target, p, ((str(h.get("url")), {**h, "successes": int(h.get("status") == "ok")})
                                           for c in v6_chains for h in c.get("hops", [])))


def _same_site(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status is Status.SKIPPED:
        if ev.get("ipv6_only"):  # nothing to compare with: information, never missing points
            return _r(o.check, o.target, "info", Reason("ipv6_only_site", {"name": o.target}), applicable=False)
        applicable = ev.get("v6") is None  # no IPv4 page to compare with
        return _not_tested(o.check, o.target, o.error or "no pages to compare", applicable=applicable)
    rows = list(ev.get("addresses") or [])
    minimum = float(p.t("same_site_min"))
    bad = [r for r in rows if float(r.get("similarity", 0)) < minimum]
    if len(rows) > 1 and bad:  # one stale server behind a second AAAA is named
        return _r(o.check, o.target, "fail", *[Reason("same_site_address_differs", {
            "address": r["address"], "differences": r.get("differences") or ["similarity below the threshold"]})
            for r in bad], severity="broken" if len(bad) == len(rows) else "partial")
    if float(ev.get("similarity", 0)) >= minimum:
        if ev.get("same_status"):
            return _r(o.check, o.target, "pass")
        return _r(o.check, o.target, "warn", Reason("same_site_differs", {
            "differences": ev.get("differences") or ["HTTP status differs"]}))
    return _r(o.check, o.target, "fail", Reason("same_site_differs", {
        "differences": ev.get("differences") or ["similarity below the threshold"]}), severity="broken")


def _latency(o: Observation, p: Policy) -> CheckResult:
    fams = o.evidence.get("families", {})
    if "v6" not in fams:
        return _not_tested(o.check, o.target, "no IPv6 address serves the site")
    v6_rate = float(fams["v6"].get("success_rate", 0))
    if o.evidence.get("ipv6_only") and v6_rate >= float(p.t("latency_success_min")):
        return _r(o.check, o.target, "info", Reason("ipv6_only_site", {"name": o.target}), applicable=False)
    sev = "fail" if p.t("latency_severity") == "fail" else "warn"
    reasons: list[Reason] = []
    rate = float(fams["v6"].get("success_rate", 0))
    if rate < float(p.t("latency_success_min")):
        reasons.append(Reason("latency_v6_failures", {"rate": f"{rate:.0%}"}))
    ratio = o.evidence.get("ratio_v6_v4")
    m6, m4 = fams["v6"].get("median_ms"), (fams.get("v4") or {}).get("median_ms")
    # a ratio of sub-millisecond timings is noise: only a real difference counts
    floor = float(p.t("latency_min_difference_ms"))
    real = m6 is not None and m4 is not None and float(m6) - float(m4) >= floor
    if ratio is not None and real and float(ratio) > float(p.t("latency_ratio_max")):
        reasons.append(Reason("latency_v6_slow", {"ratio": ratio, "limit": p.t("latency_ratio_max")}))
    if reasons:
        return _r(o.check, o.target, sev, *reasons, severity="partial")
    return _r(o.check, o.target, "pass")


def _links(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status is Status.SKIPPED:
        return _not_tested(o.check, o.target, o.error or "no internal links", applicable=False)
    reasons: list[Reason] = []
    for level in (2, 3):
        lv = ev.get(f"level{level}") or {}
        rate, minimum = lv.get("rate"), float(p.t(f"links_level{level}_min"))
        if rate is not None and float(rate) < minimum:
            urls = [u["url"] for u in ev.get("urls", []) if u.get("level") == level and not u.get("v6_ok")]
            reasons.append(Reason("links_low", {"level": level, "rate": f"{float(rate):.0%}",
                                                "min": f"{minimum:.0%}", "ok": lv.get("v6_ok"),
                                                "total": lv.get("links"), "urls": urls[:5]}))
    if literal := list(ev.get("v4_literal_links") or []):
        reasons.append(Reason("links_v4_literal", {"urls": literal[:5], "count": len(literal)}))
    if reasons:
        return _r(o.check, o.target, "fail", *reasons, severity="partial")
    return _r(o.check, o.target, "pass")


def _resources(o: Observation, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return _not_tested(o.check, o.target, o.error or "no subresources", applicable=False)
    hosts = list(o.evidence.get("v4_only_hosts", []))
    if hosts:
        return _r(o.check, o.target, "fail", Reason("resources_v4_only", {"hosts": hosts}), severity="partial")
    return _r(o.check, o.target, "pass")


def _pmtu(o: Observation, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return _not_tested(o.check, o.target, o.error or "nothing to probe", applicable=False)
    rows = o.evidence.get("addresses", [])
    holes = [r for r in rows if r.get("result") == "blackhole"]
    if holes:
        reasons = [Reason("pmtu_blackhole", {"address": r["address"], "phase": r["full_mss"].get("phase"),
                                             "bytes": r["full_mss"].get("bytes")}) for r in holes]
        ok = [r for r in rows if r.get("result") == "ok"]
        return _r(o.check, o.target, "fail", *reasons, severity="partial" if ok else "broken")
    return _r(o.check, o.target, "pass")


def _icmp(o: Observation, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return _not_tested(o.check, o.target, o.error or "skipped", applicable=False)
    silent = [r for r in o.evidence.get("addresses", []) if not r.get("answered")]
    if silent:
        return _r(o.check, o.target, "warn", *[Reason("icmp_silent", {
            "address": r["address"], "last_hop": r.get("last_hop") or "-"}) for r in silent])
    return _r(o.check, o.target, "pass")


def _mx_reach(o: Observation, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return _not_tested(o.check, o.target, o.error or "skipped", applicable=False)
    servers = list(o.evidence.get("servers", []))
    bad = [s for s in servers if s.get("status") != "greets"]
    if bad:
        sev = "fail" if p.t("mx_severity") == "fail" else "warn"
        return _r(o.check, o.target, sev, *[Reason("mx_v6_no_greeting", {
            "host": s.get("host"), "address": s.get("address"), "status": s.get("status")}) for s in bad],
            severity="partial")
    return _retried(o.check, o.target, p, ((f"{s.get('host')} {s.get('address')}", s) for s in servers))


def _mx(o: Observation, p: Policy) -> CheckResult:
    ev = o.evidence
    if o.status is not Status.OK:
        return _not_tested(o.check, o.target, o.error or str(o.status), applicable=False)
    if ev.get("null_mx"):
        return _r(o.check, o.target, "info", Reason("mx_null"), applicable=False)
    missing = [h["host"] for h in ev.get("mx", []) if not h.get("usable_v6")]
    if missing:
        sev = "fail" if p.t("mx_severity") == "fail" else "warn"
        return _r(o.check, o.target, sev, Reason("mx_no_v6", {"hosts": missing}), severity="partial")
    return _r(o.check, o.target, "pass")


def _self_v6(o: Observation, p: Policy) -> CheckResult:
    if o.status is Status.OK:
        return _r(o.check, o.target, "pass", applicable=False)
    if o.status is Status.SKIPPED:
        return _r(o.check, o.target, "info", Reason("not_tested", {"why": o.error or "turned off"}),
                  applicable=False)
    return _r(o.check, o.target, "fail", Reason("self_v6_unusable", {"error": o.error}), applicable=False)


RULES: dict[str, Rule] = {
    "dns.resolve": _dns_resolve, "dns.aaaa": _dns_aaaa, "dns.ns_aaaa": _ns_aaaa,
    "dns.ns_reach": _ns_reach, "dns.v6_path": _v6_path, "web.reach": _web_reach, "web.tls": _web_tls,
    "web.http": _web_http, "web.same_site": _same_site, "web.latency": _latency,
    "web.links": _links, "web.resources": _resources, "path.pmtu": _pmtu, "path.icmp": _icmp,
    "mail.mx_reach": _mx_reach,
    "mail.mx_aaaa": _mx, "self.v6": _self_v6,
}


def evaluate(o: Observation, p: Policy) -> CheckResult:
    rule = RULES.get(o.check)
    if rule is None:
        return _r(o.check, o.target, "info", Reason("not_tested", {"why": "no scoring rule yet"}),
                  applicable=False)
    if o.status is Status.EXCLUDED:  # the user asked for it not to be contacted: not measured, no points
        return _not_tested(o.check, o.target, o.error or "on the exclusion list", applicable=False)
    if o.status is Status.ERROR and o.check != "dns.resolve":
        return _error(o.check, o)
    if o.status is Status.TIMEOUT and "deadline" in (o.error or ""):
        return _error(o.check, o)
    return rule(o, p)


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
        return min(rs, key=lambda r: _RESULT_RANK[r.result]) if rs else None

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
        own = [r for r in results if r.name == n or (r.name == target and r.check in PER_TARGET)]
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
        inl = [score_internetnl([*(o for o in obs if o.target == n or o.check in PER_TARGET),
                                 *(o for o in ns_of_target if n != target)])
               for n in resolving]
        worst = min(inl, key=lambda s: (s.percent, s.points))
        return worst.percent, worst.points
    if policy.score.get("method") == "points":
        by_name = [[r for r in counted if r.name == n or r.check in PER_TARGET] for n in resolving]
        scored = [_points(rs, policy) for rs in by_name] or [(0, 0.0)]
        score, pts = min(scored)
        return score, pts
    return min(_weighted([r for r in counted if r.name == n or r.check in PER_TARGET], policy)
               for n in resolving), None


def score_target(target: str, observations: Iterable[Observation], policy: Policy) -> SiteVerdict:
    """The verdict for one target from all its observations (every name: the domain and www.)."""
    obs = list(observations)
    results = [evaluate(o, policy) for o in obs]
    self_fail = any(r.check == "self.v6" and r.result in ("fail", "error") for r in results)
    if self_fail:
        results = [_r(r.check, r.name, "inconclusive", *r.reasons) if r.check in V6_DEPENDENT else r
                   for r in results]
    names_all = list(dict.fromkeys(o.target for o in obs if o.check == "dns.resolve")) or [target]
    resolving = [n for n in names_all
                 if any(r.check == "dns.resolve" and r.name == n and r.result == "pass" for r in results)]
    reasons: list[Reason] = []
    notes = [Reason("www_missing", {"name": n}) for n in names_all
             if n not in resolving and n != target and n.startswith("www.")]
    notes += [Reason("ipv6_only_site", {"name": o.target}) for o in obs
              if o.check == "web.reach" and o.target in resolving and o.evidence.get("ipv6_only")]
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
    counted = [r for r in results if r.name in (resolving or names_all) or r.check in PER_TARGET]
    score, points = (0, None) if verdict in ("inconclusive", "error") else \
        _site_score(target, obs, counted, resolving, policy)
    if verdict not in ("inconclusive", "error"):
        reasons += notes  # informational, after the findings
    unique = {(r.code, json.dumps(r.params, sort_keys=True, default=str)): r for r in reversed(reasons)}
    ordered = tuple(reversed(list(unique.values())))
    return SiteVerdict(target, policy.name, verdict, score, tuple(resolving or names_all), tuple(results),
                       ordered, points)
