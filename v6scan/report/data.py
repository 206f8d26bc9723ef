"""Assemble report data from a store: counts, breakdowns, common failures, per-site detail, trend."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from v6scan import __version__
from v6scan.indicators import PARTS, Indicators
from v6scan.messages import fix_hint, render
from v6scan.model import Observation, Status, now_iso
from v6scan.providers import Attribution
from v6scan.record import Record, build_record
from v6scan.registry import CHECKS
from v6scan.report import rows as q
from v6scan.report.aggregate import ORDER, Aggregate
from v6scan.report.causes import Causes, kind_word, served_rows
from v6scan.report.html import word
from v6scan.scoring import RESULT_RANK, CheckResult, Reason, SiteVerdict
from v6scan.store import Store
from v6scan.targets import Target

__all__ = ["ORDER", "build_report", "latency_rows", "page_section", "reason_texts", "result_records", "site_section",
           "stored_record", "stored_verdict"]


def build_report(store: Store, sweep_id: int | None = None, policy: str | None = None, lang: str = "en",
                 *, evidence: bool = True, max_sections: int = 2000,
                 max_classes: int = 30) -> dict[str, Any]:
    """Everything a report shows, as plain data (rendered by :func:`render_html` and the exports)."""
    sweep_id = sweep_id if sweep_id is not None else store.latest_sweep()
    if sweep_id is None:
        raise ValueError(f"{store.path} holds no sweep")
    sweep = store.sweep(sweep_id)
    policy = policy or sweep["policy"]
    rows = store.verdict_rows(sweep_id, policy)
    attributions, measured = store.attributions(sweep_id), store.indicators(sweep_id)
    agg, causes = Aggregate(), Causes()
    for r in rows:
        agg.add(r)
        causes.add(r, attributions.get(r["name"]))
    shown = sorted(rows, key=lambda r: (-ORDER.index(r["verdict"]), r["name"]))[:max_sections]
    keep = {r["name"] for r in shown}
    records = {row["name"]: stored_record(row, obs, lang, sweep_id, attributions.get(row["name"]))
               for row, obs in _stored(store, sweep_id, [r for r in rows if r["name"] in keep], evidence)}
    sites = [{**site_section(records[r["name"]], r["points"]),
              "served": served_rows(attributions.get(r["name"]), store.providers, lang),
              "latency": latency_rows(measured.get(r["name"]), lang)} for r in shown]
    clusters = causes.clusters(store.providers, lang)
    trend = store.trend(policy)
    return {
        "lang": lang, "generated": now_iso(), "version": __version__, "policy": policy,
        "sweep": {k: sweep[k] for k in ("id", "started", "finished", "status", "targets", "version")},
        "total": len(rows), "counts": agg.all.summary()["counts"],
        "average_score": (agg.all.score_sum / len(rows)) if rows else 0.0,
        "histogram": agg.histogram,
        "by_sector": agg.breakdown("sector"), "by_region": agg.breakdown("region"),
        "common_failures": agg.all.failure_classes(lang, limit=max_classes),
        "failures_by": {f"by_{dim}": [{"name": g.name, "sites": g.sites,
                                       "classes": g.failure_classes(lang, limit=10)}
                                      for g in (agg.groups[dim][k] for k in sorted(agg.groups[dim]))]
                        for dim in ("sector", "region")},
        "sites": sites, "sections_capped": len(rows) > max_sections, "trend": trend,
        "providers": [dataclasses.asdict(p) for p in causes.shares(store.providers, lang)],
        "clusters": [{**c.to_json(), "kind_label": kind_word(c.kind, lang)} for c in clusters],
        "indicators": {dim or "all": q.indicator_summaries(store, sweep_id, policy, dim)
                       for dim in (None, "sector", "region")},
    }


def stored_verdict(row: Mapping[str, Any]) -> SiteVerdict:
    """The verdict a row of :meth:`Store.verdict_rows` holds, as scoring made it: every check result
    per check and name (result, severity, applicability, reasons' codes and parameters), the site's
    reasons, verdict, score and names.  Texts are rendered again, in any language, from the codes."""
    def reasons(items: Iterable[Mapping[str, Any]]) -> tuple[Reason, ...]:
        return tuple(Reason(str(x["code"]), dict(x.get("params") or {})) for x in items)

    results = tuple(CheckResult(cid, name, str(d["result"]), reasons(d.get("reasons", ())), d.get("severity"),
                                bool(d.get("applicable", True)))
                    for cid, c in row["checks"].items() for name, d in c["details"]["names"].items())
    return SiteVerdict(str(row["name"]), str(row["policy"]), str(row["verdict"]), int(row["score"]),
                       tuple(row["names"]), results, reasons(row["reasons"]), row.get("points"))


def _stored(store: Store, sweep_id: int, rows: list[dict[str, Any]], observations: bool = True
            ) -> Iterator[tuple[dict[str, Any], list[Observation]]]:
    """Each of ``rows`` (verdict rows, in the sweep's order) with its target's observations as
    recorded (none when ``observations`` is false), streamed: both are read in target order."""
    if not observations:
        yield from ((r, []) for r in rows)
        return
    wanted = {r["name"] for r in rows}
    found = ((t["tname"], obs) for t, obs in store.observations(sweep_id) if t["tname"] in wanted)
    nxt = next(found, None)
    for r in rows:
        if nxt is not None and nxt[0] == r["name"]:
            yield r, nxt[1]
            nxt = next(found, None)
        else:
            yield r, []


def stored_record(row: Mapping[str, Any], observations: list[Observation], lang: str, sweep: int | None,
                  attribution: Attribution | None = None) -> Record:
    """The contract record of a stored target: the one builder, on what the store read back."""
    target = Target(row["name"], row["display"], row["sector"], row["region"], row["organisation"])
    return build_record(target, observations, stored_verdict(row), row["finished"], lang, sweep,
                        attribution=attribution)


def site_section(rec: Record, points: float | None) -> dict[str, Any]:
    """A site's section of the report, from its record."""
    order = [c for c in CHECKS if c in rec["checks"]] + [c for c in rec["checks"] if c not in CHECKS]
    checks = [{"id": cid, "title": CHECKS[cid].title if cid in CHECKS else cid, "result": rec["checks"][cid]["result"],
               "names": [{"name": n, "result": d["result"], "reasons": d["reasons"]}
                         for n, d in rec["checks"][cid]["details"]["names"].items()]} for cid in order]
    evidence = {cid: {n: {"status": d["status"], "error": d["error"], **d["evidence"]}
                      for n, d in rec["checks"][cid]["details"]["names"].items() if d["status"] is not None}
                for cid in order}
    return {"name": rec["target"], "display": rec["display"], "sector": rec["sector"], "region": rec["region"],
            "organisation": rec["organisation"], "verdict": rec["verdict"], "score": rec["score"],
            "points": points, "names": rec["names"], "reasons": rec["reasons"], "checks": checks,
            "evidence": {cid: ev for cid, ev in evidence.items() if ev}}


def latency_rows(ind: Indicators | None, lang: str) -> list[dict[str, str]]:
    """A site's CN indicators as table rows: the success rates, then each part of the latency
    breakdown with IPv6's and IPv4's values and their ratio (times in ms, the rate in kB/s)."""
    if ind is None:
        return []

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f} %"

    def value(part: str, v: float | None) -> str:
        if v is None:
            return "-"
        return f"{v / 1000:.1f} kB/s" if part == "rate_bps" else f"{v:.1f} ms"

    rows = [{"part": word("success_v6", lang), "v6": pct(ind.success_v6), "v4": pct(ind.success_v4), "ratio": ""}]
    for part in PARTS:
        r = ind.ratios.get(part)
        rows.append({"part": word(part, lang), "v6": value(part, ind.v6.get(part)), "v4": value(part, ind.v4.get(part)),
                     "ratio": "-" if r is None else f"{r:.2f}"})
    return rows


def reason_texts(reasons: Iterable[Mapping[str, Any]], lang: str) -> list[dict[str, str]]:
    """Reasons as stored (code, params), as a page shows them: text and fix hint."""
    out = []
    for x in reasons:
        code, params = str(x["code"]), dict(x.get("params") or {})
        out.append({"text": render(code, params, lang), "fix": fix_hint(code, params, lang)})
    return out


def page_section(row: Mapping[str, Any], observations: Iterable[Sequence[Any]], lang: str) -> dict[str, Any]:
    """What a site's page shows of :func:`site_section` (of :func:`stored_record`), the same, made
    straight from a verdict row (:func:`v6scan.report.rows.iter_site_rows`) and the target's
    observations as packed (``[check, name, status, evidence, error, ...]``, decoded JSON): no
    record, no verdict objects, no texts the page does not show (checks' summaries)."""
    by = {(str(o[0]), str(o[1])): o for o in observations}
    counting = set(row["names"])
    found: dict[str, dict[str, Any]] = {}
    for cid, c in row["checks"].items():
        names = c["details"]["names"]
        if names:
            found[cid] = names
    checks: list[dict[str, Any]] = []
    evidence: dict[str, dict[str, Any]] = {}
    for cid in [c for c in CHECKS if c in found] + sorted(c for c in found if c not in CHECKS):
        names = found[cid]
        results = [str(d["result"]) for n, d in names.items() if n in counting]
        results = results or [str(d["result"]) for d in names.values()]  # the worst of these, as SiteVerdict.worst
        checks.append({"id": cid, "title": CHECKS[cid].title if cid in CHECKS else cid,
                       "result": min(results, key=RESULT_RANK.__getitem__),
                       "names": [{"name": n, "result": str(d["result"]),
                                  "reasons": reason_texts(d.get("reasons", ()), lang)} for n, d in names.items()]})
        shown: dict[str, Any] = {}
        for n in names:
            o = by.get((cid, n))
            if o is not None:
                shown[n] = {"status": str(Status(o[2])), "error": o[4], **dict(o[3] or {})}
        if shown:
            evidence[cid] = shown
    return {"name": row["name"], "display": row["display"], "sector": row["sector"], "region": row["region"],
            "organisation": row["organisation"], "verdict": str(row["verdict"]), "score": int(row["score"]),
            "names": list(row["names"]), "reasons": reason_texts(row["reasons"], lang), "checks": checks,
            "evidence": evidence}


def result_records(store: Store, sweep_id: int | None = None, policy: str | None = None,
                   lang: str = "en") -> Iterator[Record]:
    """The output contract's record (:func:`v6scan.record.build_record`) of every target of the sweep
    with a verdict under ``policy`` (default: the sweep's), in the sweep's order, raw evidence
    included: what ``check --format json`` and ``scan --format jsonl`` print for the same results."""
    sweep_id = sweep_id if sweep_id is not None else store.latest_sweep()
    if sweep_id is None:
        return
    policy = policy or store.sweep(sweep_id)["policy"]
    attributions = store.attributions(sweep_id)
    for row, obs in _stored(store, sweep_id, store.verdict_rows(sweep_id, policy)):
        yield stored_record(row, obs, lang, sweep_id, attributions.get(row["name"]))
