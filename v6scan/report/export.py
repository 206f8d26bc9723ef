"""Exports: JSON (one document), JSONL (one contract record a line), CSV for spreadsheets, Markdown."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

from v6scan.messages import ui
from v6scan.output import json_chunks, json_text
from v6scan.providers import Attribution
from v6scan.record import Record
from v6scan.registry import CHECKS
from v6scan.targets import Target

__all__ = ["export_csv", "export_json", "export_jsonl", "export_markdown", "export_targets_csv", "formula_safe"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def formula_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: leading = + - @ tab CR (and full-width forms) neutralised."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA):
        return "'" + text
    return text


def export_json(records: Iterable[Record], out: IO[str], meta: dict[str, Any] | None = None) -> int:
    """One document: ``schema``, what ``meta`` says (the sweep, the policy) and the ``results``."""
    items = list(records)
    out.writelines(json_chunks({"schema": "v6scan.export/1", **(meta or {}), "results": items}, indent=1))
    out.write("\n")
    return len(items)


def export_jsonl(records: Iterable[Record], out: IO[str]) -> int:
    """One record a line, written as ``scan --format jsonl`` prints them."""
    n = 0
    for r in records:
        out.write(json_text(r) + "\n")
        n += 1
    return n


def export_csv(records: Iterable[Record], out: IO[str]) -> int:
    """One row per site: its verdict, score, reasons, each check's result and who serves it."""
    cols = ["target", "display", "sector", "region", "organisation", "verdict", "score", "reasons",
            *CHECKS.keys(), "provider_v6", "provider_v4", "dns_operator", "cname", "prefixes_v6", "prefixes_v4"]
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(cols)
    n = 0
    for r in records:
        checks = r["checks"]
        a = Attribution.from_json(r["attribution"])
        row = [r["target"], r["display"], r["sector"], r["region"], r["organisation"], r["verdict"], r["score"],
               " | ".join(x["text"] for x in r["reasons"]),
               *(checks[c]["result"] if c in checks else "" for c in CHECKS),
               a.v6.provider, a.v4.provider, a.dns_operator, a.cname, " ".join(a.v6.prefixes), " ".join(a.v4.prefixes)]
        w.writerow([formula_safe(x) for x in row])
        n += 1
    return n


def _md(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def export_markdown(report: dict[str, Any], out: IO[str]) -> None:
    lang = report["lang"]
    out.write(f"# {ui('title', lang)}\n\n")
    out.write(f"{ui('sweep', lang)} {report['sweep']['id']} · {ui('policy', lang)} `{report['policy']}` · "
              f"{report['total']} {ui('sites', lang).lower()} · {ui('average_score', lang)} "
              f"{report['average_score']:.1f}\n\n")
    out.write(f"| {ui('verdict', lang)} | {ui('count', lang)} |\n|---|---:|\n")
    for v, n in report["counts"].items():
        out.write(f"| {ui(v, lang)} | {n} |\n")
    for key in ("by_sector", "by_region"):
        out.write(f"\n## {ui(key, lang)}\n\n| | {ui('sites', lang)} | {ui('ready_share', lang)} | "
                  f"{ui('average_score', lang)} |\n|---|---:|---:|---:|\n")
        for g in report[key]:
            out.write(f"| {_md(g['name'])} | {g['sites']} | {g['ready_share']:.0%} |"
                      f" {g['average_score']:.1f} |\n")
    out.write(f"\n## {ui('common_failures', lang)}\n\n| {ui('check', lang)} | {ui('count', lang)} | "
              f"{ui('reason', lang)} |\n|---|---:|---|\n")
    for f in report["common_failures"]:
        out.write(f"| `{f['check']}` | {f['count']} | {_md(f['example'])} |\n")
    out.write(f"\n## {ui('sites', lang)}\n\n| {ui('site', lang)} | {ui('verdict', lang)} |"
              f" {ui('score', lang)} | {ui('reason', lang)} |\n|---|---|---:|---|\n")
    for s in report["sites"]:
        first = s["reasons"][0]["text"] if s["reasons"] else ""
        out.write(f"| {_md(s['display'])} | {ui(s['verdict'], lang)} | {s['score']} | {_md(first)} |\n")


def export_targets_csv(targets: Iterable[Target], out: IO[str]) -> int:
    """A target list in v6scan's own form (``host,sector,region,organisation``), formula-safe."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["host", "sector", "region", "organisation"])
    n = 0
    for t in targets:
        w.writerow([t.name, *(formula_safe(v) for v in (t.sector, t.region, t.organisation))])
        n += 1
    return n
