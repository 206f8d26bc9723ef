"""A stored sweep exported in one of :data:`EXPORT_FORMATS`: what ``v6scan export`` writes and the
service's ``/api/v1/sweeps/{id}/results`` sends."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from v6scan.report.causes import causes_json
from v6scan.report.data import build_report, result_records
from v6scan.report.export import export_csv, export_json, export_jsonl, export_markdown
from v6scan.report.xlsx import export_xlsx
from v6scan.store import Store

__all__ = ["EXPORT_FORMATS", "MEDIA_TYPES", "export_sweep"]

EXPORT_FORMATS = ("json", "jsonl", "csv", "md", "xlsx")
MEDIA_TYPES = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8",
               "md": "text/markdown; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export_sweep(store: Store, sweep_id: int, policy: str, lang: str, fmt: str, out: IO[str] | Path) -> None:
    """Write sweep ``sweep_id``'s verdicts under ``policy`` as ``fmt`` to ``out`` (a text stream, or a
    file path; xlsx needs a path)."""
    if fmt == "xlsx":
        if not isinstance(out, Path):
            raise ValueError("xlsx is written to a file")
        export_xlsx(store, sweep_id, policy, lang, out)
        return
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="") as f:
            export_sweep(store, sweep_id, policy, lang, fmt, f)
        return
    if fmt == "md":
        export_markdown(build_report(store, sweep_id, policy, lang, evidence=False), out)
        return
    recs = result_records(store, sweep_id, policy, lang)
    if fmt == "json":
        export_json(recs, out, {"sweep": sweep_id, "policy": policy, **causes_json(store, sweep_id, policy, lang)})
    elif fmt == "jsonl":
        export_jsonl(recs, out)
    elif fmt == "csv":
        export_csv(recs, out)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
