"""Reports of a stored sweep: self-contained HTML (English or Simplified Chinese) as one file or, for
a big sweep, a directory of pages (:func:`write_report_dir`); JSON, JSONL, CSV, Markdown."""

from v6scan.report.data import build_report, result_records
from v6scan.report.export import export_csv, export_json, export_jsonl, export_markdown, formula_safe
from v6scan.report.html import render_html
from v6scan.report.pages import SINGLE_FILE_MAX, Written, write_report_dir

__all__ = [
    "SINGLE_FILE_MAX",
    "Written",
    "build_report",
    "export_csv",
    "export_json",
    "export_jsonl",
    "export_markdown",
    "formula_safe",
    "render_html",
    "result_records",
    "write_report_dir",
]
