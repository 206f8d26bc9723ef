"""Self-contained HTML: one file, no external requests, inline SVG charts, a strict CSP, no scripts.

jinja2 with autoescaping on; nothing that came from a scanned site is ever
marked safe.  Chart geometry is computed here so the template stays simple.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2

from v6scan.indicators import PARTS
from v6scan.listvocab import group_label
from v6scan.messages import ui

__all__ = [
    "COLORS",
    "CSP",
    "RESULT_COLORS",
    "Words",
    "environment",
    "evidence_blocks",
    "evidence_text",
    "render_html",
    "stack",
    "template_common",
    "word",
]

#: the pages' Content-Security-Policy, delivered in a <meta> element (the pages are files): no
#: ``frame-ancestors``, which browsers ignore there (Chromium logs a console message for it)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
COLORS = {"ready": "#1a7f37", "partial": "#bf8700", "broken": "#cf222e", "absent": "#6e7781",
          "error": "#8250df", "inconclusive": "#0969da"}
RESULT_COLORS = {"pass": "#1a7f37", "warn": "#bf8700", "fail": "#cf222e", "error": "#8250df",
                 "inconclusive": "#0969da", "not_tested": "#6e7781", "info": "#57606a"}

#: root-cause clusters a report page lists (every one: the exports), and sites shown per cluster
ENTRY_CLUSTERS, CLUSTER_SITES = 50, 12

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("v6scan.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@jinja2.pass_context
def _group_label(ctx: Any, value: str | None, dim: str) -> str | None:
    """``{{ name|grp('sector') }}``: a sector's or region's name as the page's language shows it
    (:func:`v6scan.listvocab.group_label`; ``by_sector`` is ``sector``)."""
    return group_label(dim.removeprefix("by_"), value, str(ctx.get("lang", "en")))


_env.filters["grp"] = _group_label


def environment() -> jinja2.Environment:
    """The one jinja2 environment of the report templates (autoescape on)."""
    return _env


def template_common(lang: str, sweep_id: int, policy: str) -> dict[str, Any]:
    """What every page template of a report gets."""
    def t(key: str) -> str:
        return word(key, lang)
    return {"lang": lang, "t": t, "csp": CSP, "colors": COLORS, "result_colors": RESULT_COLORS,
            "sweep": sweep_id, "policy": policy}


def stack(counts: dict[str, int], width: float) -> list[dict[str, Any]]:
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


def evidence_text(data: Any, limit: int = 20_000) -> str:
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    return text if len(text) <= limit else text[:limit] + "\n…"


#: words the report pages use beyond :data:`v6scan.messages._UI` (looked up there first)
_WORDS = {
    "failure_classes": {"en": "Failure classes (check and reason code)", "zh-CN": "问题类别（检测项与原因代码）"},
    "code": {"en": "Reason code", "zh-CN": "原因代码"},
    "share": {"en": "Share of sites", "zh-CN": "站点占比"},
    "examples": {"en": "Example sites", "zh-CN": "示例站点"},
    "organisation": {"en": "Organisation", "zh-CN": "单位"},
    "by_organisation": {"en": "Sites by organisation", "zh-CN": "按单位统计"},
    "page": {"en": "Page", "zh-CN": "页"},
    "next": {"en": "Next", "zh-CN": "下一页"},
    "previous": {"en": "Previous", "zh-CN": "上一页"},
    "all_groups": {"en": "All of them", "zh-CN": "查看全部"},
    "root_causes": {"en": "Root causes (failing sites that share a provider, network, name servers or certificate)",
                    "zh-CN": "根因分析（共用服务商、网络、域名服务器或证书的问题网站）"},
    "cause": {"en": "Shared", "zh-CN": "共同因素"},
    "remediation": {"en": "Remediation lists", "zh-CN": "整改清单"},
    "indicators": {"en": "CN indicators (national IPv6 monitoring platform)", "zh-CN": "国家 IPv6 发展监测平台指标"},
    "latency": {"en": "Homepage latency, IPv6 and IPv4", "zh-CN": "首页访问时延（IPv6 与 IPv4）"},
    "part": {"en": "Indicator", "zh-CN": "指标"},
    "ratio": {"en": "IPv6/IPv4", "zh-CN": "IPv6/IPv4 比值"},
    "measured": {"en": "Measured", "zh-CN": "已测网站"},
    "success_v6": {"en": "IPv6 success rate", "zh-CN": "IPv6 访问成功率"},
    "success_v4": {"en": "IPv4 success rate", "zh-CN": "IPv4 访问成功率"},
    "all_ok_v6": {"en": "Every IPv6 probe answered", "zh-CN": "IPv6 探测全部成功"},
    "dns_ms": {"en": "DNS resolution", "zh-CN": "域名解析时延"},
    "connect_ms": {"en": "TCP connect", "zh-CN": "TCP 时延"},
    "tls_ms": {"en": "TLS handshake", "zh-CN": "TLS 握手时延"},
    "first_byte_ms": {"en": "First byte", "zh-CN": "服务器响应首包时延"},
    "download_ms": {"en": "Homepage download", "zh-CN": "首页响应时延"},
    "rate_bps": {"en": "Download rate", "zh-CN": "下载速度"},
    "remediation_for": {"en": "What to fix: ", "zh-CN": "整改清单："},
    "problem": {"en": "What is wrong", "zh-CN": "存在的问题"},
    "todo_sites": {"en": "Sites to fix", "zh-CN": "需整改网站"},
    "nothing_to_fix": {"en": "Nothing to fix: every site is ready.", "zh-CN": "无需整改：所有网站均已就绪。"},
    "fine_sites": {"en": "Ready, nothing to fix", "zh-CN": "已就绪、无需整改的网站"},
    "nothing_to_fix_orgs": {"en": "Organisations with nothing to fix", "zh-CN": "无需整改的单位"},
    "no_organisation": {"en": "(no organisation given)", "zh-CN": "（未注明单位）"},
}


def word(key: str, lang: str) -> str:
    """A word of the report in ``lang``: the report's own, else :func:`v6scan.messages.ui`."""
    entry = _WORDS.get(key)
    return entry.get(lang, entry["en"]) if entry else ui(key, lang)


class Words(dict[str, str]):
    """The report's words in one language, looked up as ``w[key]`` (:func:`word` on first use):
    what the site pages use instead of calling ``t(key)``, a mapping jinja2 reads much faster."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def __missing__(self, key: str) -> str:
        self[key] = text = word(key, self.lang)
        return text


#: ``json.dumps(data, ensure_ascii=False, default=str)`` without making an encoder per call (and
#: without the check for cycles: evidence is read back from JSON, it has none)
_EVIDENCE_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=str).encode


def evidence_blocks(data: dict[str, dict[str, Any]], limit: int = 1_000_000) -> list[tuple[str, str, str]]:
    """A site's evidence (check -> name -> evidence) as one block per check and name: (check, name,
    compact JSON), the JSON cut at ``limit`` characters (json's C encoder: an indented dump is
    several times slower)."""
    out = []
    for cid, names in data.items():
        for name, ev in names.items():
            text = _EVIDENCE_JSON(ev)
            out.append((cid, name, text if len(text) <= limit else text[:limit] + " …"))
    return out


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
        r=report, lang=lang, t=lambda key: word(key, lang), csp=CSP, colors=COLORS, result_colors=RESULT_COLORS,
        overall=stack(report["counts"], 600),
        sector_bars=[{**g, "bars": stack(g["counts"], 300)} for g in report["by_sector"]],
        region_bars=[{**g, "bars": stack(g["counts"], 300)} for g in report["by_region"]],
        hist=[{"x": 20 + i * 56, "h": round(130 * n / hmax, 1), "n": n, "label": f"{i * 10}"}
              for i, n in enumerate(hist)],
        trend_points=points, evidence=evidence_text, parts=PARTS,
        causes=[{"c": c, "sites": [(n, None) for n in c["sites"][:CLUSTER_SITES]],
                 "more": max(0, c["size"] - CLUSTER_SITES), "kind": c["kind_label"]}
                for c in report["clusters"][:ENTRY_CLUSTERS]],
    )
