"""Target lists as regulators have them: ``v6scan targets import`` and the readers behind it.

Workbooks and CSV files in the encodings Chinese offices use, Chinese or English headers in any
order with a title row above them, URLs for hosts, sectors and provinces in words: each becomes
v6scan's own list, with bad rows and duplicates named by file and row number, and ``scan`` and
``targets validate`` read the same files to the same targets.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
import xlwt  # type: ignore[import-untyped]
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as ILLEGAL

from v6scan.cli import cli
from v6scan.listfiles import list_lines, sniff_encoding
from v6scan.listvocab import PROVINCES, header_roles, normalise_region, normalise_sector
from v6scan.targets import read_target_file, read_targets

HEADER = ["序号", "网站名称", "网址\uff08必填\uff09", "主办单位", "地区/省份", "行业/类别"]  # full-width brackets
ROWS = [
    [1, "中国政府网", "https://www.gov.cn/", "国务院办公厅", "中央", "政府"],
    [2, "广东省人民政府", "http://www.gd.gov.cn/gkmlpt/index", "广东省人民政府办公厅", "广东省", "政府门户"],
    [3, "北京大学", "pku.edu.cn", "北京大学", "北京市海淀区", "高校"],
    [4, "坏行", "not a host!", "某单位", "湖南", "政府"],
    [5, "重复", "HTTPS://WWW.GOV.CN/index.html", "重复单位", "中央", "政府"],
    [6, "某企业", "例子.中国", "@某公司", "Guangdong Province", "企业"],
]
EXPECTED = [
    ["host", "sector", "region", "organisation"],
    ["www.gov.cn", "gov", "national", "国务院办公厅"],
    ["www.gd.gov.cn", "gov", "Guangdong", "广东省人民政府办公厅"],
    ["pku.edu.cn", "edu", "Beijing", "北京大学"],
    ["xn--fsqu00a.xn--fiqs8s", "com", "Guangdong", "'@某公司"],  # formula-safe
]


def workbook(path: Path, *, title: bool = True, other_sheet: bool = False) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    if other_sheet:  # a notes sheet first: the list is found on the second
        ws.title = "说明"
        ws.append(["本表由某省通信管理局整理"])
        ws = wb.create_sheet("名单")
    if title:
        ws.append(["2026年某省政府网站IPv6检测名单"])
        ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=6)
        ws.append([])
    ws.append(HEADER)
    for row in ROWS:
        ws.append(row)
    wb.save(path)
    return path


def old_workbook(path: Path) -> Path:
    """The same list as :func:`workbook`, in the older .xls format."""
    wb = xlwt.Workbook(encoding="utf-8")
    wb.add_sheet("说明").write(0, 0, "本表由某省通信管理局整理")
    ws = wb.add_sheet("名单")
    for r, row in enumerate([["2026年某省政府网站IPv6检测名单"], [], HEADER, *ROWS]):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    wb.save(str(path))
    return path


def gbk_csv(path: Path) -> Path:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["2026年某省政府网站IPv6检测名单", "", "", "", "", ""])
    w.writerow(HEADER)
    w.writerows(ROWS)
    path.write_bytes(out.getvalue().encode("gb18030"))
    return path


def imported(*files: Path) -> tuple[int, list[list[str]], str]:
    r = CliRunner().invoke(cli, ["targets", "import", *map(str, files)])
    body = [line for line in r.stdout.splitlines()]
    return r.exit_code, list(csv.reader(body)), r.stderr


@pytest.mark.parametrize(("make", "name"), [(workbook, "list.xlsx"), (old_workbook, "list.xls"),
                                            (gbk_csv, "list.csv"), (workbook, "saved-as.csv")],
                         ids=["xlsx", "xls", "gb18030-csv", "xlsx-named-csv"])
def test_a_regulators_list_becomes_v6scans(tmp_path: Path, make: object, name: str) -> None:
    path = make(tmp_path / name)  # type: ignore[operator]
    code, rows, err = imported(path)
    assert rows == EXPECTED
    assert code == 1  # a bad row
    first = 2 if make is gbk_csv else 3  # the header's line: the workbooks have a blank row after their title
    assert f"error: {path}:{first + 4}: " in err and "not a host!" in err
    assert f"duplicate: {path}:{first + 5}: duplicate of {path}:{first + 1}" in err
    assert f"title: {path}:1: " in err
    assert "4 valid targets, 1 bad lines, 1 duplicates" in err


def test_the_list_is_found_on_any_sheet_and_rows_keep_their_numbers(tmp_path: Path) -> None:
    path = workbook(tmp_path / "list.xlsx", title=False, other_sheet=True)
    tl = read_target_file(path)
    assert [t.source for t in tl.targets] == [f"{path}:{n}" for n in (2, 3, 4, 7)]
    assert [t.name for t in tl.targets] == [r[0] for r in EXPECTED[1:]]


def test_output_file_and_exit_zero_when_every_row_is_good(tmp_path: Path) -> None:
    src = tmp_path / "ok.csv"
    src.write_text("Site name,URL,Organization,Province,Category\n"
                   "Portal,https://www.gov.cn/,State Council,Central Government,Government\n"
                   "PKU,pku.edu.cn,Peking University,beijing,University\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(cli, ["targets", "import", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "host,sector,region,organisation", "www.gov.cn,gov,national,State Council",
        "pku.edu.cn,edu,Beijing,Peking University"]
    assert "2 targets written to" in r.stderr
    r = CliRunner().invoke(cli, ["targets", "validate", str(out)])
    assert r.exit_code == 0 and "2 valid targets, 0 bad lines, 0 duplicates" in r.output


def test_duplicates_across_files_keep_the_first(tmp_path: Path) -> None:
    a, b = workbook(tmp_path / "a.xlsx"), tmp_path / "b.csv"
    b.write_text("网址,主办单位\npku.edu.cn,另一个单位\nwww.tsinghua.edu.cn,清华大学\n", encoding="utf-8")
    code, rows, err = imported(a, b)
    assert code == 1  # the workbook's bad row
    assert [r[0] for r in rows[1:]] == [*(r[0] for r in EXPECTED[1:]), "www.tsinghua.edu.cn"]
    assert f"duplicate: {b}:2: duplicate of {a}:6" in err


def test_utf16_tab_separated_text_as_excel_saves_it(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes("网站名称\t域名\t省份\t类别\r\n教育部\twww.moe.gov.cn\t全国\t政府\r\n".encode("utf-16"))
    assert sniff_encoding(path.read_bytes()[:100]) == "utf-16"
    code, rows, _ = imported(path)
    assert code == 0
    assert rows == [["host", "sector", "region", "organisation"], ["www.moe.gov.cn", "gov", "national", ""]]


def test_v6scans_own_lists_keep_their_words_unless_imported(tmp_path: Path) -> None:
    path = tmp_path / "own.csv"
    path.write_text("host,sector,region,organisation\nexample.org,education,广东省,Ministry\n", encoding="utf-8")
    t = read_target_file(path).targets[0]
    assert (t.sector, t.region) == ("education", "广东省")
    _, rows, _ = imported(path)
    assert rows[1] == ["example.org", "edu", "Guangdong", "Ministry"]


def test_scan_and_validate_read_workbooks_directly(tmp_path: Path) -> None:
    path = workbook(tmp_path / "list.xlsx")
    r = CliRunner().invoke(cli, ["targets", "validate", str(path)])
    assert r.exit_code == 1 and "4 valid targets, 1 bad lines, 1 duplicates" in r.output
    ex = tmp_path / "exclude.txt"
    ex.write_text(".cn\n.xn--fiqs8s\n")  # everything: nothing is contacted
    r = CliRunner().invoke(cli, ["scan", str(path), "--db", str(tmp_path / "s.db"), "--exclude", str(ex)])
    excluded = [line.split()[1] for line in r.stderr.splitlines() if line.startswith("excluded:")]
    names = [row[0] for row in EXPECTED[1:]]
    assert excluded == [*names[:3], "www.gov.cn", names[3]]  # the store keeps the first of a repeated name
    assert "not a host!" in r.stderr  # the bad row is reported by scan too


@pytest.mark.parametrize(("name", "data"), [("list.xlsx", b"PK\x03\x04 not really a zip"),
                                            ("list.xls", b"not an old workbook either")])
def test_a_file_that_is_not_a_workbook_is_a_usage_error(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    r = CliRunner().invoke(cli, ["targets", "import", str(path)])
    assert r.exit_code == 2 and "not a readable Excel workbook" in r.output


def test_gb18030_is_told_from_utf8_with_a_character_cut_at_the_sample_end() -> None:
    text = "网址,主办单位\n" + "a.gov.cn,单位\n" * 10
    assert sniff_encoding(text.encode("utf-8")[:-1]) == "utf-8"  # the last character cut in two
    assert sniff_encoding(text.encode("gb18030")) == "gb18030"


def test_every_province_in_every_spelling() -> None:
    for pinyin, full, short, others in PROVINCES:
        for form in (pinyin, full, short, *others, pinyin.upper(), f" {full} "):
            assert normalise_region(form) == pinyin, form
    assert normalise_region("Guangxi Zhuang Autonomous Region") == "Guangxi"
    assert normalise_region("广东省深圳市南山区") == "Guangdong"
    assert normalise_region("north") == "north" and normalise_region("  ") is None


def test_header_roles() -> None:
    assert header_roles(HEADER) == [None, "name", "host", "organisation", "region", "sector"]
    assert header_roles(["host", "sector", "region", "organisation"]) == ["host", "sector", "region", "organisation"]
    assert header_roles(["Name", "Sector"]) == ["host", "sector"]  # v6scan's own word for the host
    assert header_roles(["Site name", "Name"]) == ["name", "host"]
    assert header_roles(["网址", "域名"]) == ["host", None]  # a role goes to its first column
    assert header_roles(["序号", "网站名称", "主办单位"]) is None  # no host column: not a header
    # full-width letters and brackets, and a note in brackets
    assert header_roles(["\uff35\uff32\uff2c", "主办单位\uff08全称\uff09"]) == ["host", "organisation"]


words = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(words)
def test_normalising_never_fails_and_is_idempotent(value: str) -> None:
    for f in (normalise_region, normalise_sector):
        once = f(value)
        assert once is None or once == once.strip()
        assert f(once) == once


@given(st.lists(words, max_size=8))
def test_header_roles_are_unique_and_name_a_host(cells: list[str]) -> None:
    roles = header_roles(cells)
    if roles is not None:
        assert len(roles) == len(cells) and "host" in roles
        named = [r for r in roles if r is not None]
        assert len(named) == len(set(named))


@given(st.lists(st.lists(st.one_of(words, st.integers(), st.none()), max_size=6), max_size=12))
def test_any_workbook_rows_give_targets_or_named_errors(tmp_path_factory: pytest.TempPathFactory,
                                                       rows: list[list[object]]) -> None:
    path = tmp_path_factory.mktemp("wb") / "x.xlsx"
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append([ILLEGAL.sub("", v) if isinstance(v, str) else v for v in row])
    wb.save(path)
    lines = list(list_lines(path))
    assert len(lines) <= max(len(rows), 1)
    tl = read_targets(lines, str(path))
    for e in (*tl.errors, *tl.duplicates, *tl.skipped):
        assert e.source is not None and e.source.startswith(f"{path}:")


def test_reports_show_sectors_and_provinces_in_chinese() -> None:
    from v6scan.listvocab import group_label

    assert [group_label("sector", s, "zh-CN") for s in ("gov", "edu", "com", "ngo")] == [
        "\u653f\u5e9c", "\u6559\u80b2", "\u5546\u4e1a", "ngo"]
    assert group_label("region", "Guangdong", "zh-CN") == "\u5e7f\u4e1c\u7701"
    assert group_label("region", "Inner Mongolia", "zh-CN") == group_label("region", "neimenggu", "zh-CN")
    assert group_label("region", "national", "zh-CN") == "\u5168\u56fd"
    assert group_label("region", "north", "zh-CN") == "north" and group_label("region", None, "zh-CN") is None
    assert group_label("sector", "gov", "en") == "gov" and group_label("region", "Guangdong", "en") == "Guangdong"
