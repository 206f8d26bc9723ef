"""Reports of a stored sweep: self-contained HTML (English or Simplified Chinese), JSON, JSONL, CSV,
Markdown."""

from v6scan.report.data import build_report, result_records
from v6scan.report.export import export_csv, export_json, export_jsonl, export_markdown, formula_safe
from v6scan.report.html import render_html

__all__ = [
    "build_report",
    "export_csv",
    "export_json",
    "export_jsonl",
    "export_markdown",
    "formula_safe",
    "render_html",
    "result_records",
]
