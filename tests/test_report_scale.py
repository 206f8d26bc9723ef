"""The report directory of a sweep of any size (v6scan/report/pages.py), on a synthesized store.

The sweep is written through the real store API by :func:`benchmarks.report.synthesize` (the scoring
tests' world, scored with the default policy).  Sector, region, organisation, display name and a
page title are hostile text; every page kind must show them as text.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from markupsafe import escape

from benchmarks.report import KINDS, synthesize
from v6scan.cli import cli
from v6scan.report import build_report, render_html
from v6scan.report import pages as pages_mod
from v6scan.report import rows as q
from v6scan.report import rows as rows_mod
from v6scan.report.aggregate import Aggregate, failure_keys
from v6scan.report.data import page_section, site_section, stored_record
from v6scan.report.html import CSP
from v6scan.report.pages import SINGLE_FILE_MAX, group_file, site_file, write_report_dir
from v6scan.store import Store
from v6scan.targets import Target

HOSTILE = '<script>alert("x")</script>'
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'
HOSTILE_TITLE = "</pre></title><script>document.title='pwned'</script>"
PAGE = 4  # sites per page in these tests (1,000 in a real report)


def _targets() -> Iterator[tuple[Target, int]]:
    kinds = [i for i, (_, _, share) in enumerate(KINDS) if share]
    for i in range(30):
        name = f"site{i}.example.cn"
        sector = ("gov", "edu", HOSTILE)[i % 3]
        region = ("north", HOSTILE_ATTR, None)[i % 3]
        org = f"Org {i // 5} {HOSTILE}" if i % 5 == 0 else f"Org {i // 5}"
        display = f"{name} {HOSTILE_ATTR}" if i == 7 else name
        yield Target(name, display, sector, region, org), kinds[i % len(kinds)]


def _patch(text: str) -> str:
    return text.replace('"title": "Example"', '"title": ' + json.dumps(HOSTILE_TITLE))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    db = tmp_path_factory.mktemp("scale") / "s.db"
    return db, synthesize(db, 0, targets=_targets, patch=_patch)


@pytest.fixture(scope="module", params=["en", "zh-CN"])
def report(request: pytest.FixtureRequest, sweep: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, str]:
    db, sid = sweep
    out = tmp_path_factory.mktemp("report") / "r"
    with Store(db) as store:
        written = write_report_dir(store, sid, "default", request.param, out, page_size=PAGE)
    assert written.entry == out / "index.html" and written.sites == 30
    return out, request.param


def _pages(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in root.rglob("*.html")}


def _rows(db: Path, sid: int) -> list[dict[str, object]]:
    with Store(db) as store:
        return store.verdict_rows(sid)


def test_layout_every_site_group_and_index_has_its_page(report: tuple[Path, str], sweep: tuple[Path, int]) -> None:
    out, _ = report
    db, sid = sweep
    pages = _pages(out)
    assert "index.html" in pages
    for dim in ("sector", "region", "organisation"):
        assert f"{dim}/index.html" in pages
    rows = _rows(db, sid)
    with Store(db) as store:
        tids = dict(store.db.execute("SELECT name, id FROM targets WHERE sweep_id = ?", [sid]).fetchall())
    for r in rows:
        page = pages[site_file(tids[r["name"]], str(r["name"]))]
        assert f'data-site="{r["name"]}"' in page and f'data-verdict="{r["verdict"]}"' in page
    assert sum(1 for p in pages if p.startswith("sites/")) == len(rows) == 30
    for dim in ("sector", "region", "organisation"):
        for value in {r[dim] or "-" for r in rows}:
            assert group_file(dim, str(value)) in pages


def test_every_page_is_self_contained_and_its_links_resolve(report: tuple[Path, str]) -> None:
    out, lang = report
    for rel, html in _pages(out).items():
        assert f'<html lang="{lang}">' in html
        assert f'http-equiv="Content-Security-Policy" content="{escape(CSP)}"' in html, rel
        assert "<script" not in html.lower(), rel
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:[a-z]+:|//)""", html), rel
        for href in re.findall(r'href="([^"#]*)(?:#[^"]*)?"', html):
            if href:
                target = (out / rel).parent / unquote(href)
                assert target.resolve().is_file(), (rel, href)
                assert out.resolve() in target.resolve().parents, (rel, href)


def test_group_pages_are_paginated_and_list_each_site_once(report: tuple[Path, str], sweep: tuple[Path, int]) -> None:
    out, _ = report
    db, sid = sweep
    pages = _pages(out)
    rows = _rows(db, sid)
    for dim in ("sector", "region", "organisation"):
        for value, n in Counter(str(r[dim] or "-") for r in rows).items():
            listed: list[str] = []
            number = 1
            while (rel := group_file(dim, value, number)) in pages:
                found = re.findall(r'<tr data-site="([^"]+)">', pages[rel])
                assert 0 < len(found) <= PAGE
                listed += found
                number += 1
            assert number - 1 == -(-n // PAGE)
            assert sorted(listed) == sorted(str(r["name"]) for r in rows if str(r[dim] or "-") == value)
    assert max(len(p.encode()) for p in pages.values()) < 4 * 2**20


def test_hostile_site_text_is_escaped_on_every_page_kind(report: tuple[Path, str]) -> None:
    out, _ = report
    pages = _pages(out)
    kinds = Counter(rel.split("/")[0] if "/" in rel else "entry" for rel in pages)
    assert set(kinds) == {"entry", "sector", "region", "organisation", "sites", "remediation"}
    escaped = {HOSTILE: "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", HOSTILE_ATTR: "&#34;&gt;&lt;img src=x"}
    seen: Counter[str] = Counter()
    for rel, html in pages.items():
        for raw, esc in escaped.items():
            assert raw not in html, rel
            if esc in html:
                seen[rel.split("/")[0] if "/" in rel else "entry"] += 1
        assert "</title><script" not in html and "pwned</title>" not in html, rel
    assert set(seen) == {"entry", "sector", "region", "organisation", "sites", "remediation"}
    titled = [html for rel, html in pages.items() if rel.startswith("sites/") and "pwned" in html]
    assert titled and all("&lt;/pre&gt;&lt;/title&gt;&lt;script&gt;" in h for h in titled)


def test_failure_classes_group_by_check_and_code_with_counts(report: tuple[Path, str], sweep: tuple[Path, int]
                                                             ) -> None:
    out, _ = report
    db, sid = sweep
    rows = _rows(db, sid)
    expected: Counter[tuple[str, str]] = Counter()
    by_sector: dict[str, Counter[tuple[str, str]]] = {}
    for r in rows:
        keys = failure_keys(r)
        expected.update(keys.keys())
        by_sector.setdefault(str(r["sector"]), Counter()).update(keys.keys())
    assert expected, "the synthesized sweep has failures"
    entry = _pages(out)["index.html"]
    table = entry.split('id="table-failures"', 1)[1].split("</table>", 1)[0]
    got = {m[0]: int(m[1]) for m in re.findall(r'<tr data-class="([^"]+)">.*?<td class="num">(\d+)</td>', table, re.S)}
    assert got == {f"{c}/{code}": n for (c, code), n in expected.items()}
    # a code shared by several sites is one row, not one row per site (the text names the site)
    assert any(n > 1 for n in expected.values())
    shares = re.findall(r'<td class="num">([\d.]+) %</td>', table)
    assert len(shares) == len(got)
    for dim_value, counts in by_sector.items():
        page = (out / group_file("sector", dim_value)).read_text(encoding="utf-8")
        part = page.split('id="table-failures"', 1)[1].split("</table>", 1)[0]
        found = {m[0]: int(m[1]) for m in re.findall(r'<tr data-class="([^"]+)">.*?<td class="num">(\d+)</td>',
                                                      part, re.S)}
        assert found == {f"{c}/{code}": n for (c, code), n in counts.items()}
    # per sector and per region on the entry page too
    assert 'id="failures-by_sector"' in entry and 'id="failures-by_region"' in entry


def test_failure_classes_show_a_fix_hint_in_the_reports_language(report: tuple[Path, str]) -> None:
    out, lang = report
    entry = (out / "index.html").read_text(encoding="utf-8")
    row = re.search(r'<tr data-class="web.reach/[^"]+">(.*?)</tr>', entry, re.S)
    assert row is not None
    fix = re.search(r'<td class="fix">(.*?)</td>', row.group(1), re.S)
    assert fix is not None and fix.group(1).strip()
    assert bool(re.search(r"[\u4e00-\u9fff]", fix.group(1))) == (lang == "zh-CN")
    assert re.search(r'<a href="sites/\d{4}/site\d+\.example\.cn\.html">', row.group(1))


def test_the_directory_report_never_loads_every_row_at_once(sweep: tuple[Path, int], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    db, sid = sweep

    def loads_all(*a: object, **k: object) -> None:
        raise AssertionError("a method that loads every row was called")

    for method in ("verdict_rows", "target_rows", "pending_targets"):
        monkeypatch.setattr(Store, method, loads_all)
    with Store(db) as store:
        assert write_report_dir(store, sid, "default", "en", tmp_path / "r").sites == 30
    # every statement the report writes is in rows.py, and none reads evidence or fetches every row
    for mod in (pages_mod, rows_mod):
        source = Path(str(mod.__file__)).read_text()
        assert ".fetchall(" not in source and ".verdict_rows(" not in source and ".target_rows(" not in source
        assert not re.search(r"(?:FROM|JOIN)\s+(?:observations|evidence)", source, re.I)
    assert "SELECT" not in Path(str(pages_mod.__file__)).read_text()


def test_cli_picks_a_file_for_a_small_sweep_and_a_directory_on_request(sweep: tuple[Path, int], tmp_path: Path
                                                                       ) -> None:
    db, _ = sweep
    out = tmp_path / "small.html"
    r = CliRunner().invoke(cli, ["report", "--db", str(db), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and r.output.strip() == str(out)
    r = CliRunner().invoke(cli, ["report", "--db", str(db), "--layout", "dir", "--lang", "zh-CN", "-o", str(out)])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "small"  # X.html as a directory is X
    assert r.output.strip() == str(folder / "index.html")
    assert "IPv6 支持度评测报告" in (folder / "index.html").read_text(encoding="utf-8")
    r = CliRunner().invoke(cli, ["report", "--db", str(db), "--layout", "file", "-o", str(folder)])
    assert r.exit_code == 2 and "is a directory" in r.output
    r = CliRunner().invoke(cli, ["report", "--help"])
    assert f"up to {SINGLE_FILE_MAX} sites" in " ".join(r.output.split())


def test_single_file_report_has_the_same_failure_classes(sweep: tuple[Path, int]) -> None:
    db, sid = sweep
    with Store(db) as store:
        data = build_report(store, sid)
        rows = store.verdict_rows(sid)
    expected: Counter[tuple[str, str]] = Counter()
    for r in rows:
        expected.update(failure_keys(r).keys())
    got = {(f["check"], f["code"]): f["count"] for f in data["common_failures"]}
    assert got == dict(expected)
    for f in data["common_failures"]:
        assert 0 < len(f["examples"]) <= 3 and f["share"] == f["count"] / len(rows)
    by_sector: dict[str, Counter[tuple[str, str]]] = {}
    for r in rows:
        by_sector.setdefault(str(r["sector"]), Counter()).update(failure_keys(r).keys())
    shown = {g["name"]: {(f["check"], f["code"]): f["count"] for f in g["classes"]}
             for g in data["failures_by"]["by_sector"]}
    assert set(shown) == set(by_sector)
    for name, classes in shown.items():  # the 10 biggest classes of each sector, with their counts
        assert len(classes) == min(10, len(by_sector[name]))
        assert all(by_sector[name][k] == n for k, n in classes.items())
        assert min(classes.values()) >= max((n for k, n in by_sector[name].items() if k not in classes), default=0)
    html = render_html(data)
    assert 'id="failures-by_sector"' in html and 'id="failures-by_region"' in html
    assert HOSTILE not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_worker_processes_write_the_same_pages(sweep: tuple[Path, int], tmp_path: Path, lang: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    db, sid = sweep
    monkeypatch.setattr(pages_mod, "now_iso", lambda: "2026-11-30T12:00:00Z")  # the entry page's time
    monkeypatch.setattr(pages_mod, "BATCH", 7)  # several garbage collections in each process
    written = {}
    for workers in (1, 2, 3):  # each worker process its share of the sites: counts, examples merged
        with Store(db) as store:
            written[workers] = write_report_dir(store, sid, "default", lang, tmp_path / str(workers), page_size=PAGE,
                                                workers=workers)
    one, two, three = ({str(p.relative_to(tmp_path / str(n))): p.read_bytes()
                        for p in (tmp_path / str(n)).rglob("*") if p.is_file()} for n in (1, 2, 3))
    assert one == two == three and len(one) == written[1].pages
    counted = [(w.sites, w.pages, w.total_bytes, w.largest, w.largest_page, w.entry_bytes) for w in written.values()]
    assert counted[0] == counted[1] == counted[2] and written[3].sites == 30


def test_a_failure_in_a_worker_process_fails_the_report(sweep: tuple[Path, int], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db, sid = sweep
    parent, blocks = os.getpid(), pages_mod.evidence_blocks

    def broken(*a: Any) -> Any:
        if os.getpid() != parent:
            raise ValueError("broken evidence")
        return blocks(*a)

    monkeypatch.setattr(pages_mod, "evidence_blocks", broken)  # the forked worker processes inherit it
    with Store(db) as store, pytest.raises(RuntimeError, match="broken evidence"):
        write_report_dir(store, sid, "default", "en", tmp_path / "r", workers=2)


def test_merged_counts_are_the_counts_of_all_rows(sweep: tuple[Path, int]) -> None:
    db, sid = sweep
    with Store(db) as store:
        rows = list(rows_mod.iter_site_rows(store, sid, "default"))
    whole = Aggregate()
    for r in rows:
        whole.add(r)
    merged = Aggregate()
    for k in (2, 0, 1):  # in any order
        part = Aggregate()
        for r in rows[k::3]:
            part.add(r)
        merged.merge(part)

    def seen(agg: Aggregate) -> object:
        return (agg.all.summary(), agg.histogram, agg.all.failure_classes("en"),
                {d: {n: (g.summary(), g.failure_classes("en")) for n, g in groups.items()}
                 for d, groups in agg.groups.items()})

    assert seen(merged) == seen(whole)
    assert any(len(c["examples"]) == 3 for c in whole.all.failure_classes("en"))


def test_no_writer_commits_while_the_report_processes_begin_reading(sweep: tuple[Path, int]) -> None:
    db, _ = sweep
    with Store(db) as store, rows_mod.hold_writers(store):
        writer = sqlite3.connect(db, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            writer.execute("BEGIN IMMEDIATE")
        writer.close()


def test_only_the_three_dimensions_reach_sql(sweep: tuple[Path, int]) -> None:
    db, sid = sweep
    with Store(db) as store, pytest.raises(ValueError, match="not a report dimension"):
        next(rows_mod.iter_group_rows(store, sid, "default", "name; DROP TABLE targets"))


def _shown(reasons: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{"text": x["text"], "fix": x["fix"]} for x in reasons]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_site_page_shows_what_the_single_file_report_shows(sweep: tuple[Path, int], lang: str) -> None:
    """The directory's site pages are made from the packed rows (page_section), the single-file
    report from the record (site_section): for every site both give the page the same data."""
    db, sid = sweep
    with Store(db) as store:
        rows = {r["tid"]: r for r in q.iter_site_rows(store, sid, "default")}
        texts = dict((row["tid"], text) for row, text in store.observation_texts(sid))
        compared = 0
        for row, obs in store.observations(sid):
            r = rows[row["tid"]]
            whole = site_section(stored_record(r, obs, lang, sid), r["points"])
            whole.pop("points")  # (the page does not show these: the points, a reason's code and parameters)
            whole["reasons"] = _shown(whole["reasons"])
            for c in whole["checks"]:
                for n in c["names"]:
                    n["reasons"] = _shown(n["reasons"])
            assert page_section(r, json.loads(texts[row["tid"]]), lang) == whole, row["tname"]
            compared += 1
    assert compared == 30
