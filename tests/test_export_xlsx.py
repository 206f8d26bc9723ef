"""``export --format xlsx`` (v6scan/report/xlsx.py) on a synthesized store: sheets, headers, counts,
site and failure rows, hostile text kept as text, frozen headers and filters, both languages.

The sweep is written through the real store API by :func:`benchmarks.report.synthesize` (the scoring
tests' world, scored with the default policy), as in tests/test_report_scale.py.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from benchmarks.report import KINDS, synthesize
from v6scan.messages import foreign_words
from v6scan.providers import Provider, ProviderTable
from v6scan.registry import CHECKS
from v6scan.report import xlsx
from v6scan.report.xlsx import export_xlsx
from v6scan.scoring import VERDICTS
from v6scan.store import Store
from v6scan.targets import Target

ORG_HOSTILE = "=cmd|' /C calc'!A0"
DISPLAY_HOSTILE = "@SUM(1+1)"
SECTOR_HOSTILE = "+1"
REGION_HOSTILE = "-2"
LINK_HOSTILE = '=HYPERLINK("http://x","y")'
CONTROL_HOSTILE = "\x01=1+1"
BAD = "bad.example.cn"  # a site without AAAA records (KINDS[2]: no_aaaa)
N = 24
EN_SHEETS = ["Summary", "Sectors", "Regions", "Organisations", "Providers", "CN indicators", "Sites", "Failures",
             "Root causes"]
ZH_SHEETS = ["概要", "行业", "地区", "单位", "服务商", "监测指标", "网站", "问题", "根因"]
EN_VERDICTS = ["ready", "partial", "broken", "absent", "error", "inconclusive"]
#: the sweep's IPv6 web addresses are a (hostile-named) cloud's, its IPv4 ones a hosting company's
PROVIDERS = ProviderTable([
    ("2001:db8:80::/48", Provider("=Example Cloud", "\u793a\u4f8b\u4e91", "cloud", "CN", "test")),
    ("198.51.100.0/24", Provider("+V4 Hosting", "", "hosting", "US", "test"))])


def _targets() -> Iterator[tuple[Target, int]]:
    kinds = [i for i, (_, _, share) in enumerate(KINDS) if share]
    yield Target(BAD, DISPLAY_HOSTILE, SECTOR_HOSTILE, "north", ORG_HOSTILE), 2
    for i in range(1, N):
        name = f"site{i - 1}.example.cn"
        display = {3: LINK_HOSTILE, 4: CONTROL_HOSTILE}.get(i, name)
        region = ("north", REGION_HOSTILE, None)[i % 3]
        yield (Target(name, display, ("gov", "edu", SECTOR_HOSTILE)[i % 3], region, f"Org {i % 4}"),
               kinds[i % len(kinds)])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[dict[str, Any]]]:
    db = tmp_path_factory.mktemp("xlsx") / "s.db"
    sid = synthesize(db, 0, targets=_targets)
    with Store(db) as store:
        rows = store.verdict_rows(sid)
    return db, sid, rows


def _export(sweep: tuple[Path, int, list[dict[str, Any]]], out: Path | io.BytesIO, lang: str,
            providers: ProviderTable | None = None) -> int:
    db, sid, _ = sweep
    with Store(db) as store:
        if providers is not None:
            store.providers = providers
            store.forget_attributions(sid)
        try:
            return export_xlsx(store, sid, "default", lang, out)
        finally:
            if providers is not None:  # the sweep attributed as recorded again
                store.providers = ProviderTable.default()
                store.forget_attributions(sid)
                store.ensure_attributions(sid)


@pytest.fixture(scope="module")
def books(sweep: tuple[Path, int, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[tuple[str, bool], Path]:
    """The workbook in each language, with the shipped provider table (False: no provider known) and
    with :data:`PROVIDERS` (True)."""
    root = tmp_path_factory.mktemp("books")
    out = {}
    for lang in ("en", "zh-CN"):
        for full in (False, True):
            path = root / f"{lang}-{full}.xlsx"
            assert _export(sweep, path, lang, PROVIDERS if full else None) == N
            out[(lang, full)] = path
    return out


def _values(ws: Any) -> list[tuple[Any, ...]]:
    return list(ws.iter_rows(values_only=True))


def _table(ws: Any) -> list[dict[str, Any]]:
    header, *rows = _values(ws)
    return [dict(zip(header, r, strict=True)) for r in rows]


@pytest.mark.parametrize(("lang", "names"), [("en", EN_SHEETS), ("zh-CN", ZH_SHEETS)])
def test_sheet_names_in_each_language(books: dict[tuple[str, bool], Path], lang: str, names: list[str]) -> None:
    for full in (False, True):
        assert openpyxl.load_workbook(books[(lang, full)]).sheetnames == names


def test_header_rows(books: dict[tuple[str, bool], Path]) -> None:
    wb = openpyxl.load_workbook(books[("en", False)])
    groups = ["Sites", *EN_VERDICTS, "Share ready", "Mean score"]
    assert _values(wb["Summary"])[0] == ("Item", "Value", "Share")
    assert _values(wb["Sectors"])[0] == ("Sector", *groups)
    assert _values(wb["Regions"])[0] == ("Region", *groups)
    assert _values(wb["Organisations"])[0] == ("Organisation", *groups)
    assert _values(wb["Sites"])[0] == ("Site", "Display name", "Sector", "Region", "Organisation", "Verdict", "Score",
                                       "Reasons", *CHECKS, "IPv6 provider", "IPv4 provider", "DNS operator",
                                       "CNAME target", "IPv6 /48 prefixes", "IPv4 /24 prefixes", "IPv6 success rate",
                                       "IPv4 success rate", *(f"{p} IPv6/IPv4" for p in (
                                           "DNS resolution", "TCP connect", "TLS handshake", "First byte",
                                           "Homepage download", "Download rate")))
    assert _values(wb["Failures"])[0] == ("Site", "Check", "Check title", "Name", "Result", "Reason", "How to fix")
    assert _values(wb["Root causes"])[0] == ("Kind", "Key", "Sites", "Sites with this key", "Site names", "Checks",
                                             "How to fix")
    assert _values(wb["Providers"])[0] == ("Provider", "Kind", "Sites", "Failing over IPv6", *EN_VERDICTS)
    zh = openpyxl.load_workbook(books[("zh-CN", False)])
    assert _values(zh["行业"])[0] == ("行业", "网站数", "就绪", "部分支持", "故障", "未支持", "错误", "无法判定",
                                      "就绪比例", "平均得分")
    assert _values(zh["问题"])[0] == ("网站", "检查项", "检查项名称", "域名", "结果", "原因", "修复建议")


def test_zh_headers_and_sheet_names_have_no_english_word(books: dict[tuple[str, bool], Path]) -> None:
    """Chinese throughout: no English word but technical terms (IPv6, DNS, ...) and the check ids."""
    wb = openpyxl.load_workbook(books[("zh-CN", True)])
    assert len(_values(wb["网站"])[0]) == 8 + len(CHECKS) + 6 + 8  # every check, attribution and indicator column
    for ws in wb:
        assert not re.search("[A-Za-z]", ws.title)
        for cell in next(ws.iter_rows(max_row=1)):
            assert isinstance(cell.value, str) and cell.value
            assert cell.value in CHECKS or not foreign_words(cell.value), (ws.title, cell.value)
    # the English workbook does have English words there: the check above can fail
    assert foreign_words("".join(map(str, _values(openpyxl.load_workbook(books[("en", True)])["Sites"])[0])))


def test_summary_counts_match_the_stored_verdicts(books: dict[tuple[str, bool], Path],
                                                  sweep: tuple[Path, int, list[dict[str, Any]]]) -> None:
    _, sid, rows = sweep
    counts = Counter(str(r["verdict"]) for r in rows)
    assert len(counts) >= 3  # several verdicts, or the comparison below says little
    for lang in ("en", "zh-CN"):
        wb = openpyxl.load_workbook(books[(lang, False)])
        summary = {r[0]: r[1:] for r in _values(wb.worksheets[0])[1:]}
        words = EN_VERDICTS if lang == "en" else ["就绪", "部分支持", "故障", "未支持", "错误", "无法判定"]
        for verdict, label in zip(EN_VERDICTS, words, strict=True):
            assert summary[label] == (counts[verdict], pytest.approx(counts[verdict] / N))
        sites, mean, sweep_label = (("Sites", "Mean score", "Sweep") if lang == "en"
                                    else ("网站数", "平均得分", "扫描批次"))
        assert summary[sites][0] == N and summary[sweep_label][0] == sid
        assert summary[mean][0] == pytest.approx(sum(int(r["score"]) for r in rows) / N)
        assert summary["Policy" if lang == "en" else "评测规则"][0] == "default"


@pytest.mark.parametrize(("sheet", "dim"), [("Sectors", "sector"), ("Regions", "region"),
                                            ("Organisations", "organisation")])
def test_group_counts_match_the_stored_verdicts(books: dict[tuple[str, bool], Path],
                                                sweep: tuple[Path, int, list[dict[str, Any]]], sheet: str, dim: str
                                                ) -> None:
    _, _, rows = sweep
    expected: dict[str | None, Counter[str]] = {}
    scores: Counter[str | None] = Counter()
    for r in rows:
        key = r[dim] if r[dim] not in (None, "-") else None
        expected.setdefault(key, Counter())[str(r["verdict"])] += 1
        scores[key] += int(r["score"])
    found = {}
    for r in _values(openpyxl.load_workbook(books[("en", False)])[sheet])[1:]:
        name = r[0][1:] if isinstance(r[0], str) and r[0].startswith("'") else r[0]
        found[name] = r[1:]
    assert set(found) == set(expected) and len(found) >= 2
    for key, counts in expected.items():
        n = sum(counts.values())
        assert found[key] == (n, *(counts[v] for v in EN_VERDICTS), pytest.approx(counts["ready"] / n),
                              pytest.approx(scores[key] / n))


def test_a_failing_sites_row_and_its_failures(books: dict[tuple[str, bool], Path],
                                              sweep: tuple[Path, int, list[dict[str, Any]]]) -> None:
    _, _, rows = sweep
    stored = next(r for r in rows if r["name"] == BAD)
    assert stored["verdict"] == "absent"
    wb = openpyxl.load_workbook(books[("en", False)])
    site = next(r for r in _table(wb["Sites"]) if r["Site"] == BAD)
    assert site["Verdict"] == "absent" and site["Score"] == stored["score"] and isinstance(site["Score"], int)
    assert site["dns.aaaa"] == "fail" and site["dns.resolve"] == "pass"
    assert f"{BAD} has no AAAA record" in site["Reasons"]
    failures = [r for r in _table(wb["Failures"]) if r["Site"] == BAD and r["Check"] == "dns.aaaa"]
    assert {r["Name"] for r in failures} == {BAD, f"www.{BAD}"}
    for r in failures:
        assert r["Result"] == "fail" and r["Check title"] == CHECKS["dns.aaaa"].title
        assert r["Reason"] == f"{r['Name']} has no AAAA record: it is not reachable over IPv6."
        assert r["How to fix"] == "Publish an AAAA record for the web server's IPv6 address."
    zh = openpyxl.load_workbook(books[("zh-CN", False)])
    site = next(r for r in _table(zh["网站"]) if r["网站"] == BAD)
    assert site["结论"] == "未支持" and site["dns.aaaa"] == "失败"
    failures = [r for r in _table(zh["问题"]) if r["网站"] == BAD and r["检查项"] == "dns.aaaa"]
    assert len(failures) == 2
    for r in failures:
        assert r["结果"] == "失败" and r["检查项名称"] == "有全球单播地址的 AAAA 记录"
        assert r["原因"] == f"{r['域名']} 没有 AAAA 记录\uff0c无法通过 IPv6 访问。"
        assert r["修复建议"] == "请为网站服务器的 IPv6 地址添加 AAAA 记录。"


def test_failures_has_a_row_per_bad_name_of_every_site(books: dict[tuple[str, bool], Path],
                                                       sweep: tuple[Path, int, list[dict[str, Any]]]) -> None:
    _, _, rows = sweep
    expected = Counter((str(r["name"]), cid, name) for r in rows for cid, c in r["checks"].items()
                       for name, d in c["details"]["names"].items() if d["result"] in ("fail", "warn", "error"))
    wb = openpyxl.load_workbook(books[("en", False)])
    found = Counter((r["Site"], r["Check"], r["Name"]) for r in _table(wb["Failures"]))
    assert found == expected and len({k[0] for k in expected}) >= 3
    sites = _table(wb["Sites"])
    assert [r["Site"] for r in sites] == [r["name"] for r in rows]


def test_hostile_text_is_stored_as_text_never_as_a_formula(books: dict[tuple[str, bool], Path]) -> None:
    for (lang, full), path in books.items():
        wb = openpyxl.load_workbook(path)
        sites, orgs, sectors = wb.worksheets[6], wb.worksheets[3], wb.worksheets[1]
        hostile = {c.value: c for ws in (sites, orgs, sectors) for row in ws.iter_rows(min_row=2) for c in row
                   if isinstance(c.value, str)}
        for text in (ORG_HOSTILE, DISPLAY_HOSTILE, SECTOR_HOSTILE, REGION_HOSTILE, LINK_HOSTILE):
            cell = hostile["'" + text]
            assert cell.data_type == "s", (lang, text)
        assert "\ufffd=1+1" in hostile  # a control character is replaced, not dropped (a '=' would lead)
        if full and lang == "en":
            assert "'=Example Cloud" in hostile and "'+V4 Hosting" in hostile
            assert "'+V4 Hosting" in {r[0] for r in _values(wb.worksheets[4])}
        for ws in wb:
            assert all(c.data_type != "f" for row in ws.iter_rows() for c in row), (lang, ws.title)
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/"):
                    assert "<f>" not in z.read(name).decode()


def test_every_sheet_has_a_frozen_header_a_filter_and_widths(books: dict[tuple[str, bool], Path]) -> None:
    for path in books.values():
        for ws in openpyxl.load_workbook(path):
            header = _values(ws)[0]
            last = openpyxl.utils.get_column_letter(len(header))
            assert ws.freeze_panes == "A2", ws.title
            assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}", ws.title
            for i in range(1, len(header) + 1):
                width = ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width
                assert xlsx.WIDTH_MIN <= width <= xlsx.WIDTH_MAX
    ws = openpyxl.load_workbook(books[("en", False)])["Sites"]
    assert ws.column_dimensions["A"].width >= len("site10.example.cn") + 2
    assert ws.column_dimensions["H"].width == xlsx.WIDTH_MAX  # the reasons: long texts, capped
    assert ws.column_dimensions["G"].width == xlsx.WIDTH_MIN  # the score: short


def test_attribution_providers_and_root_causes(books: dict[tuple[str, bool], Path],
                                               sweep: tuple[Path, int, list[dict[str, Any]]]) -> None:
    _, _, rows = sweep
    plain, full = (openpyxl.load_workbook(books[("en", f)]) for f in (False, True))
    # no provider known: every site self-hosted, no provider cluster
    assert {r["IPv6 provider"] for r in _table(plain["Sites"])} == {None}
    assert [r["Provider"] for r in _table(plain["Providers"])] == ["self-hosted or unknown"]
    assert all(r["Kind"] != "provider" for r in _table(plain["Root causes"]))
    sites = {r["Site"]: r for r in _table(full["Sites"])}
    ok = next(r for r in rows if r["verdict"] == "partial")  # (this sweep has no ready site)
    assert sites[ok["name"]]["IPv6 provider"] == "'=Example Cloud"
    assert sites[ok["name"]]["IPv4 provider"] == "'+V4 Hosting"
    assert sites[ok["name"]]["IPv6 /48 prefixes"] == "2001:db8:80::/48"
    assert sites[BAD]["IPv6 provider"] is None and sites[BAD]["IPv4 provider"] == "'+V4 Hosting"
    failing = [r for r in rows if r["verdict"] in ("absent", "broken", "partial")]
    providers = {r["Provider"]: r for r in _table(full["Providers"])}
    cloud = providers["'=Example Cloud"]
    assert cloud["Kind"] == "cloud" and cloud["Sites"] == sum(1 for s in sites.values()
                                                              if s["IPv6 provider"] == "'=Example Cloud")
    assert sum(p["Sites"] for p in providers.values()) == N
    assert sum(p["Failing over IPv6"] for p in providers.values()) == len(failing)
    causes = _table(full["Root causes"])
    assert causes and all(c["Sites"] >= 2 for c in causes)
    assert [c["Sites"] for c in causes] == sorted((c["Sites"] for c in causes), reverse=True)
    for c in causes:
        names = c["Site names"].split()
        assert len(names) == c["Sites"] <= c["Sites with this key"]
        assert set(names) <= {str(r["name"]) for r in failing}
    zh = openpyxl.load_workbook(books[("zh-CN", True)])
    assert "\u793a\u4f8b\u4e91" in {r["服务商"] for r in _table(zh["服务商"])}  # the provider's Chinese name


def test_rows_past_the_width_sample_are_written_alike(sweep: tuple[Path, int, list[dict[str, Any]]], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows held for the widths and rows streamed after them: the same cells, the same formats."""
    _export(sweep, tmp_path / "a.xlsx", "en")
    monkeypatch.setattr(xlsx, "SAMPLE", 2)
    _export(sweep, tmp_path / "b.xlsx", "en")
    a, b = (openpyxl.load_workbook(tmp_path / n) for n in ("a.xlsx", "b.xlsx"))
    for wa, wb in zip(a, b, strict=True):
        assert _values(wa) == _values(wb)
        assert wb.freeze_panes == "A2" and wb.auto_filter.ref == wa.auto_filter.ref
    for book in (a, b):
        sectors = book["Sectors"]
        assert [sectors.cell(r, 9).number_format for r in range(2, sectors.max_row + 1)] == ["0.0%"] * 3
        summary = book["Summary"]
        partial = [summary.cell(10, c) for c in (1, 2, 3)]  # the row after "ready": "partial"
        assert partial[0].value == "partial" and partial[2].number_format == "0.0%"
        assert partial[2].value == pytest.approx(partial[1].value / N) and partial[1].value > 0


def test_a_file_object_and_no_row_loaded_at_once(sweep: tuple[Path, int, list[dict[str, Any]]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def loads_all(*a: object, **k: object) -> None:
        raise AssertionError("a method that loads every row was called")

    for method in ("verdict_rows", "target_rows", "observations"):
        monkeypatch.setattr(Store, method, loads_all)
    buf = io.BytesIO()
    assert _export(sweep, buf, "zh-CN") == N
    assert openpyxl.load_workbook(io.BytesIO(buf.getvalue())).sheetnames == ZH_SHEETS
    assert set(VERDICTS) == set(EN_VERDICTS)


def test_sector_and_region_names_in_chinese(books: dict[tuple[str, bool], Path]) -> None:
    en = {r[0] for r in _values(openpyxl.load_workbook(books[("en", False)])["Sectors"])[1:]}
    zh = {r[0] for r in _values(openpyxl.load_workbook(books[("zh-CN", False)])["\u884c\u4e1a"])[1:]}
    assert {"gov", "edu"} <= en and {"\u653f\u5e9c", "\u6559\u80b2"} <= zh and "gov" not in zh
    assert "'+1" in zh  # a sector the vocabulary does not know: kept as it is (and formula-safe)
