"""``export --format xlsx``: a stored sweep as an Excel workbook, in English or Simplified Chinese.

Sheets, in order: summary, sectors, regions, organisations, sites, failures, clusters.  The workbook
is written as a stream (openpyxl's write-only mode): one pass over the verdict rows
(:func:`v6scan.report.rows.iter_site_rows`) writes the sites and failures sheets and counts into an
:class:`~v6scan.report.aggregate.Aggregate` (sectors, regions) and a
:class:`~v6scan.report.aggregate.Group` per organisation, which fill the other sheets.  Memory grows
with the number of groups (and openpyxl's table of distinct strings), never with rows held.

Every text cell goes through :func:`~v6scan.report.export.formula_safe`; numbers stay numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import openpyxl  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from v6scan.indicators import PARTS, Indicators
from v6scan.listvocab import group_label
from v6scan.messages import check_title, ui
from v6scan.providers import Attribution, ProviderTable
from v6scan.registry import CHECKS
from v6scan.report.aggregate import BAD_RESULTS, ORDER, Aggregate, Group
from v6scan.report.causes import Causes, Cluster, ProviderShare, kind_word
from v6scan.report.data import reason_texts
from v6scan.report.export import formula_safe
from v6scan.report.html import word
from v6scan.report.rows import indicator_summaries, iter_site_rows, row_attribution, row_indicators
from v6scan.store import Store

__all__ = ["ATTRIBUTION", "SHEETS", "export_xlsx"]

#: the sheets, in order (their names: :func:`_word`)
SHEETS = ("summary", "sectors", "regions", "organisations", "providers", "indicators", "sites", "failures", "clusters")
#: the attribution columns of the sites sheet (:class:`v6scan.providers.Attribution`)
ATTRIBUTION = ("provider_v6", "provider_v4", "dns_operator", "cname", "prefixes_v6", "prefixes_v4")
#: rows of a sheet its column widths are measured on (with the header)
SAMPLE = 200
WIDTH_MIN, WIDTH_MAX = 8, 60
#: the most characters a cell holds (Excel's limit)
CELL_MAX = 32767
#: what an XML 1.0 document (the workbook) cannot hold: controls, lone surrogates, U+FFFE/U+FFFF
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SHARE, SCORE = "0.0%", "0.0"

#: words of the workbook beyond v6scan.messages and the report's own (v6scan.report.html.word)
_WORDS: dict[str, dict[str, str]] = {k: {"en": en, "zh-CN": zh} for k, en, zh in (
    ("summary", "Summary", "概要"), ("sectors", "Sectors", "行业"), ("regions", "Regions", "地区"),
    ("organisations", "Organisations", "单位"), ("sites", "Sites", "网站"), ("failures", "Failures", "问题"),
    ("clusters", "Root causes", "根因"), ("providers", "Providers", "服务商"),
    ("status_finished", "finished", "已完成"), ("status_running", "running", "进行中"),
    ("status_interrupted", "interrupted", "已中断"), ("dimension", "Grouped by", "统计维度"),
    ("group", "Group", "分组"),
    ("indicators", "CN indicators", "监测指标"),
    ("failing", "Failing over IPv6", "IPv6 不达标网站数"), ("total_sites", "Sites with this key", "涉及网站总数"),
    ("item", "Item", "项目"), ("value", "Value", "数值"), ("share", "Share", "占比"),
    ("status", "Status", "状态"), ("started", "Started", "开始时间"), ("finished", "Finished", "结束时间"),
    ("version", "v6scan version", "扫描程序版本"), ("n_sites", "Sites", "网站数"),
    ("ready_share", "Share ready", "就绪比例"), ("average_score", "Mean score", "平均得分"),
    ("display", "Display name", "显示名称"), ("reasons", "Reasons", "原因"), ("title", "Check title", "检查项名称"),
    ("name", "Name", "域名"), ("kind", "Kind", "类型"), ("key", "Key", "归因"),
    ("site_names", "Site names", "网站名单"), ("checks", "Checks", "检查项"),
    ("provider_v6", "IPv6 provider", "IPv6 服务商"),
    ("provider_v4", "IPv4 provider", "IPv4 服务商"), ("dns_operator", "DNS operator", "DNS 服务商"),
    ("cname", "CNAME target", "CNAME 别名目标"), ("prefixes_v6", "IPv6 /48 prefixes", "IPv6 /48 前缀"),
    ("prefixes_v4", "IPv4 /24 prefixes", "IPv4 /24 前缀"))}

def _word(key: str, lang: str) -> str:
    entry = _WORDS.get(key)
    return entry.get(lang, entry["en"]) if entry else word(key, lang)


def _check_name(cid: str, lang: str) -> str:
    """A check's title in ``lang``."""
    return check_title(cid, CHECKS[cid].title, lang) if cid in CHECKS else cid


def _cell(value: Any) -> Any:
    """A value as a cell holds it: a number as it is, text formula-safe and fit for the XML (what it
    cannot hold is replaced, never dropped: a dropped control could bring a ``=`` to the front)."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    return _NOT_XML.sub("\ufffd", formula_safe(value))[:CELL_MAX]


def _joined(value: Any) -> Any:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else value


def _width(values: Iterable[Any]) -> float:
    """A column width for ``values``: their longest text (wide characters count twice), capped."""
    longest = max((sum(1 + (unicodedata.east_asian_width(ch) in "WF") for ch in str(v))
                   for v in values if v is not None), default=0)
    return float(min(WIDTH_MAX, max(WIDTH_MIN, longest + 2)))


class _Sheet:
    """A write-only sheet: its header row, then rows; the column widths come from the header and the
    first :data:`SAMPLE` rows (held until then: openpyxl writes widths before the first row)."""

    def __init__(self, wb: Any, title: str, header: Sequence[str], formats: Mapping[int, str] | None = None) -> None:
        self.ws = wb.create_sheet(title)
        self.header = list(header)
        self.formats = dict(formats or {})
        self.pending: list[list[Any]] | None = []
        self.rows = 1

    def add(self, values: Iterable[Any]) -> None:
        row = [_cell(v) for v in values]
        self.rows += 1
        if self.pending is None:
            self._append(row)
            return
        self.pending.append(row)
        if len(self.pending) >= SAMPLE:
            self._flush()

    def _append(self, row: list[Any]) -> None:
        for i, fmt in self.formats.items():
            if i < len(row) and isinstance(row[i], int | float):
                row[i] = WriteOnlyCell(self.ws, value=row[i])
                row[i].number_format = fmt
        self.ws.append(row)

    def _flush(self) -> None:
        pending, self.pending = self.pending or [], None
        for i in range(len(self.header)):
            values = [self.header[i], *(r[i] for r in pending if i < len(r))]
            self.ws.column_dimensions[get_column_letter(i + 1)].width = _width(values)
        self.ws.freeze_panes = "A2"
        self.ws.append(self.header)
        for row in pending:
            self._append(row)

    def close(self) -> None:
        if self.pending is not None:
            self._flush()
        self.ws.auto_filter.ref = f"A1:{get_column_letter(len(self.header))}{self.rows}"


def _sheets(wb: Any, lang: str) -> dict[str, _Sheet]:
    """Every sheet, in order, with its header row and the number formats of its columns."""
    def w(key: str) -> str:
        return _word(key, lang)

    groups = {len(ORDER) + 2: SHARE, len(ORDER) + 3: SCORE}
    heads: dict[str, tuple[list[str], dict[int, str]]] = {
        "summary": ([w("item"), w("value"), w("share")], {2: SHARE}),
        "sites": ([w("site"), w("display"), w("sector"), w("region"), w("organisation"), w("verdict"), w("score"),
                   w("reasons"), *CHECKS, *(w(k) for k in ATTRIBUTION), w("success_v6"), w("success_v4"),
                   *(f"{w(p)} {w('ratio')}" for p in PARTS)],
                  dict.fromkeys((8 + len(CHECKS) + len(ATTRIBUTION) + i for i in (0, 1)), SHARE)),
        "indicators": ([w("dimension"), w("group"), w("n_sites"), w("measured"), w("success_v6"), w("success_v4"),
                        w("all_ok_v6"), *(f"{w(p)} {w('ratio')}" for p in PARTS)], dict.fromkeys((4, 5, 6), SHARE)),
        "failures": ([w("site"), w("check"), w("title"), w("name"), w("result"), w("reason"), w("fix")], {}),
        "clusters": ([w("kind"), w("key"), w("n_sites"), w("total_sites"), w("site_names"), w("checks"), w("fix")],
                     {}),
        "providers": ([w("provider"), w("kind"), w("n_sites"), w("failing"), *(ui(v, lang) for v in ORDER)], {}),
    }
    for key, dim in (("sectors", "sector"), ("regions", "region"), ("organisations", "organisation")):
        heads[key] = ([w(dim), w("n_sites"), *(ui(v, lang) for v in ORDER), w("ready_share"), w("average_score")],
                      groups)
    return {key: _Sheet(wb, w(key), *heads[key]) for key in SHEETS}


def _reasons(reasons: Iterable[Mapping[str, Any]], lang: str) -> tuple[str, str]:
    """Reasons as stored: their texts and their (distinct) fix hints in ``lang``, each joined."""
    texts = reason_texts(reasons, lang)
    return " | ".join(t["text"] for t in texts), " | ".join(dict.fromkeys(t["fix"] for t in texts if t["fix"]))


def _site_row(row: Mapping[str, Any], lang: str, a: Attribution | None, table: ProviderTable) -> list[Any]:
    checks = row["checks"]
    cells = [row["name"], row["display"], group_label("sector", row["sector"], lang),
             group_label("region", row["region"], lang), row["organisation"],
             ui(str(row["verdict"]), lang), int(row["score"]), _reasons(row["reasons"], lang)[0],
             *(ui(str(checks[c]["result"]), lang) if c in checks else None for c in CHECKS)]
    cells += ([None] * len(ATTRIBUTION) if a is None else [
        table.label(a.v6.provider, lang), table.label(a.v4.provider, lang), table.label(a.dns_operator, lang),
        a.cname, _joined(a.v6.prefixes), _joined(a.v4.prefixes)])
    ind = row_indicators(row) or Indicators()
    return [*cells, ind.success_v6, ind.success_v4, *(ind.ratios.get(p) for p in PARTS)]


def _indicator_rows(store: Store, sweep_id: int, policy: str, lang: str) -> Iterator[list[Any]]:
    """The CN indicators of the whole sweep, then per sector and per region."""
    for dim in (None, "sector", "region"):
        for g in indicator_summaries(store, sweep_id, policy, dim):
            name = _word("total", lang) if dim is None else None if g["name"] == "-" else group_label(
                dim, g["name"], lang)
            yield [_word(dim or "total", lang), name, g["sites"], g["measured"], g["success_v6"], g["success_v4"],
                   g["all_ok_v6"], *(g[f"ratio_{p}"] for p in PARTS)]


def _failure_rows(row: Mapping[str, Any], lang: str) -> Iterator[list[Any]]:
    """A row per name of a check of the site whose result is fail, warn or error."""
    for cid, check in row["checks"].items():
        for name, det in check["details"]["names"].items():
            if det["result"] in BAD_RESULTS:
                yield [row["name"], cid, _check_name(cid, lang), name, ui(str(det["result"]), lang),
                       *_reasons(det.get("reasons", ()), lang)]


def _summary_rows(sweep: Mapping[str, Any], policy: str, total: Group, lang: str) -> Iterator[list[Any]]:
    s = total.summary()
    status = _word(f"status_{sweep['status']}", lang) if f"status_{sweep['status']}" in _WORDS else sweep["status"]
    for key, value in (("sweep", sweep["id"]), ("status", status), ("started", sweep["started"]),
                       ("finished", sweep["finished"]), ("policy", policy), ("version", sweep["version"]),
                       ("n_sites", total.sites)):
        yield [_word(key, lang), value]
    for v in ORDER:
        yield [ui(v, lang), s["counts"][v], s["counts"][v] / (total.sites or 1)]
    yield [_word("average_score", lang), s["average_score"]]


def _group_rows(summaries: Iterable[Mapping[str, Any]], dim: str, lang: str) -> Iterator[list[Any]]:
    """A row per group (no sector, region or organisation: a blank name), named as ``lang`` shows it."""
    for s in summaries:
        yield [None if s["name"] == "-" else group_label(dim, s["name"], lang), s["sites"],
               *(s["counts"][v] for v in ORDER), s["ready_share"], s["average_score"]]


def _cluster_row(c: Cluster, lang: str) -> list[Any]:
    return [kind_word(c.kind, lang), c.label, c.size, c.total, _joined(c.sites), _joined(c.checks), c.fix]


def _provider_row(p: ProviderShare) -> list[Any]:
    return [p.label, p.kind, p.sites, p.failing, *(p.verdicts.get(v, 0) for v in ORDER)]


def export_xlsx(store: Store, sweep_id: int, policy: str, lang: str, out: Path | IO[bytes]) -> int:
    """Write the workbook of ``sweep_id`` under ``policy`` in ``lang`` to ``out``; the number of sites.
    Sites are attributed, and their root causes found, with ``store.providers``."""
    wb = openpyxl.Workbook(write_only=True)
    sheets = _sheets(wb, lang)
    agg, orgs, causes = Aggregate(), dict[str, Group](), Causes()
    table = store.providers
    store.ensure_attributions(sweep_id)
    with store.snapshot():
        sweep = store.sweep(sweep_id)
        for row in iter_site_rows(store, sweep_id, policy):
            if row["verdict"] is None:
                continue
            agg.add(row)
            org = row.get("organisation") or "-"
            orgs.setdefault(org, Group(org)).add(row)
            a = row_attribution(row)
            causes.add(row, a)
            sheets["sites"].add(_site_row(row, lang, a, table))
            for failure in _failure_rows(row, lang):
                sheets["failures"].add(failure)
    for values in _summary_rows(sweep, policy, agg.all, lang):
        sheets["summary"].add(values)
    by_org = (orgs[k].summary() for k in sorted(orgs))
    for key, dim, summaries in (("sectors", "sector", agg.breakdown("sector")), ("regions", "region",
                                agg.breakdown("region")), ("organisations", "organisation", by_org)):
        for values in _group_rows(summaries, dim, lang):
            sheets[key].add(values)
    for share in causes.shares(table, lang):
        sheets["providers"].add(_provider_row(share))
    for values in _indicator_rows(store, sweep_id, policy, lang):
        sheets["indicators"].add(values)
    for cluster in causes.clusters(table, lang):
        sheets["clusters"].add(_cluster_row(cluster, lang))
    for sheet in sheets.values():
        sheet.close()
    wb.save(out)
    return agg.all.sites
