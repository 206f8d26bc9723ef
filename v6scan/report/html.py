"""Self-contained HTML: one file, no external requests, inline SVG charts, a strict CSP, no scripts.

jinja2 with autoescaping on; nothing that came from a scanned site is ever
marked safe.  Chart geometry is computed here so the template stays simple.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2

from v6scan.messages import ui

__all__ = ["COLORS", "CSP", "render_html"]

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
COLORS = {"ready": "#1a7f37", "partial": "#bf8700", "broken": "#cf222e", "absent": "#6e7781",
          "error": "#8250df", "inconclusive": "#0969da"}
RESULT_COLORS = {"pass": "#1a7f37", "warn": "#bf8700", "fail": "#cf222e", "error": "#8250df",
                 "inconclusive": "#0969da", "not_tested": "#6e7781", "info": "#57606a"}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("v6scan.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _stack(counts: dict[str, int], width: float) -> list[dict[str, Any]]:
    total = sum(counts.values()) or 1
    x = 0.0
    out = []
    for verdict, n in counts.items():
        if n:
            w = width * n / total
            out.append({"x": round(x, 2), "w": round(w, 2), "verdict": verdict, "n": n,
                        "color": COLORS[verdict]})
            x += w
    return out


def _evidence(data: Any, limit: int = 20_000) -> str:
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    return text if len(text) <= limit else text[:limit] + "\n…"


def render_html(report: dict[str, Any]) -> str:
    lang = report["lang"]
    hist = report["histogram"]
    hmax = max(hist) or 1
    trend = report["trend"]
    points = ""
    if len(trend) > 1:
        step = 560 / (len(trend) - 1)
        points = " ".join(f"{20 + i * step:.1f},{150 - 130 * t['ready_share']:.1f}"
                          for i, t in enumerate(trend))
    return _env.get_template("report.html.j2").render(
        r=report, lang=lang, t=lambda key: ui(key, lang), csp=CSP, colors=COLORS, result_colors=RESULT_COLORS,
        overall=_stack(report["counts"], 600),
        sector_bars=[{**g, "bars": _stack(g["counts"], 300)} for g in report["by_sector"]],
        region_bars=[{**g, "bars": _stack(g["counts"], 300)} for g in report["by_region"]],
        hist=[{"x": 20 + i * 56, "h": round(130 * n / hmax, 1), "n": n, "label": f"{i * 10}"}
              for i, n in enumerate(hist)],
        trend_points=points, evidence=_evidence,
    )
