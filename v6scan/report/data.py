"""Assemble report data from a store: counts, breakdowns, common failures, per-site detail, trend."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from v6scan import __version__
from v6scan.checks import CHECKS
from v6scan.messages import fix_hint, render
from v6scan.model import JSON, RESULT_SCHEMA, now_iso
from v6scan.scoring import VERDICTS
from v6scan.store import Store

__all__ = ["build_report", "result_records"]

ORDER = tuple(reversed(VERDICTS))  # ready first, for tables and charts


def _reasons(reasons: list[dict[str, Any]], lang: str) -> list[dict[str, str]]:
    return [{"code": r["code"], "text": render(r["code"], r.get("params", {}), lang),
             "fix": fix_hint(r["code"], r.get("params", {}), lang)} for r in reasons]


def _breakdown(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r.get(key) or "-"].append(r)
    out = []
    for name in sorted(groups):
        rs = groups[name]
        counts = Counter(r["verdict"] for r in rs)
        out.append({"name": name, "sites": len(rs), "counts": {v: counts.get(v, 0) for v in ORDER},
                    "ready_share": counts.get("ready", 0) / len(rs),
                    "average_score": sum(r["score"] for r in rs) / len(rs)})
    return out


def build_report(store: Store, sweep_id: int | None = None, policy: str | None = None, lang: str = "en",
                 *, evidence: bool = True, max_sections: int = 2000) -> dict[str, Any]:
    """Everything a report shows, as plain data (rendered by :func:`render_html` and the exports)."""
    sweep_id = sweep_id if sweep_id is not None else store.latest_sweep()
    if sweep_id is None:
        raise ValueError(f"{store.path} holds no sweep")
    sweep = store.sweep(sweep_id)
    policy = policy or sweep["policy"]
    rows = store.verdict_rows(sweep_id, policy)
    counts = Counter(r["verdict"] for r in rows)
    hist = [0] * 10
    for r in rows:
        hist[min(9, int(r["score"]) // 10)] += 1
    failures: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for r in rows:
        seen = set()
        for cid, c in r["checks"].items():
            if c["result"] in ("fail", "warn", "error"):
                for name, det in c["details"]["names"].items():
                    if name not in r["names"] or det["result"] not in ("fail", "warn", "error"):
                        continue
                    for reason in det.get("reasons", []):
                        key = (cid, reason["code"])
                        if key not in seen:
                            seen.add(key)
                            failures[key] += 1
                            examples.setdefault(key, render(reason["code"], reason.get("params", {}), lang))
    evidence_by: dict[str, dict[str, dict[str, JSON]]] = {}
    if evidence:
        wanted = {r["name"] for r in sorted(rows, key=lambda r: ORDER.index(r["verdict"]))[:max_sections]}
        for trow, obs in store.observations(sweep_id):
            if trow["tname"] in wanted:
                ev: dict[str, dict[str, JSON]] = defaultdict(dict)
                for o in obs:
                    ev[o.check][o.target] = {"status": str(o.status), "error": o.error, **dict(o.evidence)}
                evidence_by[trow["tname"]] = dict(ev)
    sites = []
    for r in sorted(rows, key=lambda r: (-ORDER.index(r["verdict"]), r["name"]))[:max_sections]:
        checks = []
        for cid in [c for c in CHECKS if c in r["checks"]] + [c for c in r["checks"] if c not in CHECKS]:
            c = r["checks"][cid]
            names = [{"name": n, "result": d["result"], "reasons": _reasons(d.get("reasons", []), lang)}
                     for n, d in c["details"]["names"].items()]
            checks.append({"id": cid, "title": CHECKS[cid].title if cid in CHECKS else cid,
                           "result": c["result"], "names": names})
        sites.append({"name": r["name"], "display": r["display"], "sector": r["sector"],
                      "region": r["region"], "organisation": r["organisation"], "verdict": r["verdict"],
                      "score": r["score"], "points": r["points"], "names": r["names"],
                      "reasons": _reasons(r["reasons"], lang), "checks": checks,
                      "evidence": evidence_by.get(r["name"], {})})
    trend = store.trend(policy)
    return {
        "lang": lang, "generated": now_iso(), "version": __version__, "policy": policy,
        "sweep": {k: sweep[k] for k in ("id", "started", "finished", "status", "targets", "version")},
        "total": len(rows), "counts": {v: counts.get(v, 0) for v in ORDER},
        "average_score": (sum(r["score"] for r in rows) / len(rows)) if rows else 0.0,
        "histogram": hist,
        "by_sector": _breakdown(rows, "sector"), "by_region": _breakdown(rows, "region"),
        "common_failures": [{"check": k[0], "code": k[1], "count": n, "example": examples[k]}
                            for k, n in failures.most_common(15)],
        "sites": sites, "sections_capped": len(rows) > max_sections, "trend": trend,
    }


def result_records(store: Store, sweep_id: int | None = None, policy: str | None = None,
                   lang: str = "en") -> Iterator[dict[str, JSON]]:
    """One record per target in the output contract (DESIGN.md section 4), raw evidence included."""
    sweep_id = sweep_id if sweep_id is not None else store.latest_sweep()
    if sweep_id is None:
        return
    policy = policy or store.sweep(sweep_id)["policy"]
    verdicts = {r["name"]: r for r in store.verdict_rows(sweep_id, policy)}
    for trow, obs in store.observations(sweep_id):
        v = verdicts.get(trow["tname"])
        if v is None:
            continue
        by: dict[tuple[str, str], dict[str, JSON]] = {(o.check, o.target): o.to_json() for o in obs}
        checks: dict[str, JSON] = {}
        for cid, c in v["checks"].items():
            names = {}
            for n, d in c["details"]["names"].items():
                o = by.get((cid, n), {})
                names[n] = {"result": d["result"], "reasons": _reasons(d.get("reasons", []), lang),
                            "status": o.get("status"), "error": o.get("error"),
                            "evidence": o.get("evidence", {})}
            first = next((x["reasons"][0]["text"] for x in names.values() if x["reasons"]), None)
            checks[cid] = {"result": c["result"], "summary": first or c["summary"],
                           "details": {"names": names}}
        yield {"schema": RESULT_SCHEMA, "target": trow["tname"], "display": trow["display"],
               "sector": trow["sector"], "region": trow["region"], "organisation": trow["organisation"],
               "verdict": v["verdict"], "score": v["score"], "policy": policy, "names": v["names"],
               "reasons": _reasons(v["reasons"], lang), "checks": checks,
               "scanned_at": trow["finished"], "sweep": sweep_id, "version": __version__}
