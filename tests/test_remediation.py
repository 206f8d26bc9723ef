"""Remediation lists (v6scan.report.remediation, ``report --by organisation``): a real SQLite
store, the pages' contents in both languages, and the printed file in headless Chromium (one
organisation per page)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import lab_required
from tests.test_cli import DNS_ONLY, site_obs
from tests.test_report_lab import CHROME_FLAGS, _chromium
from tests.zh_text import english
from v6scan.cli import cli
from v6scan.report.remediation import (
    organisation_file,
    organisations,
    site_todo,
    write_remediation_dir,
    write_remediation_file,
)
from v6scan.report.rows import iter_verdicts_by_organisation
from v6scan.scoring import score_target
from v6scan.store import Store
from v6scan.targets import parse_target

HOSTILE_ORG = "=Bureau <script>alert(1)</script>"
#: (site, organisation, has IPv6)
SITES = [("a1.example.org", "Ministry A", True), ("a2.example.org", "Ministry A", False),
         ("h1.example.org", HOSTILE_ORG, False), ("n1.example.org", None, False),
         ("a3.example.org", "Ministry A", False)]


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, int]:
    path = tmp_path / "s.db"
    ts = [parse_target(n, sector="gov", region="north", organisation=o) for n, o, _ in SITES]
    with Store(path) as s:
        sid = s.start_sweep(ts, {}, DNS_ONLY.name)
        batch = []
        for (name, _, v6), t in zip(SITES, ts, strict=True):
            obs = site_obs(name, v6)
            batch.append((t.name, "2026-01-01T00:00:00Z", None, obs, score_target(t.name, obs, DNS_ONLY)))
        s.record(sid, batch)
        s.finish_sweep(sid)
    return path, sid


def test_each_organisation_with_its_sites_to_fix_and_what_to_do(db: tuple[Path, int]) -> None:
    path, sid = db
    with Store(path) as s:
        orgs = {o["name"]: o for o in organisations(s, sid, DNS_ONLY.name, "en")}
        rows = {r["name"]: r for r in iter_verdicts_by_organisation(s, sid, DNS_ONLY.name)}
        observed = s.target_observations(rows["a2.example.org"]["tid"])
        packed = [(o.check, o.target, None, dict(o.evidence)) for o in observed]
        site = site_todo(rows["a2.example.org"], packed, s.providers, "en")
        zh = site_todo(rows["a2.example.org"], packed, s.providers, "zh-CN")
    assert list(orgs) == ["-", HOSTILE_ORG, "Ministry A"]  # every site's organisation, sorted; '-': none given
    a = orgs["Ministry A"]
    assert a["sites"] == 3 and a["counts"]["absent"] == 2 and a["counts"]["ready"] == 1
    assert a["fine"] == ["a1.example.org"]
    assert [re.search(r'data-site="([^"]+)"', part).group(1) for part in a["todo"]] == [  # type: ignore[union-attr]
        "a2.example.org", "a3.example.org"]
    (failure,) = site["failures"]
    assert (failure["check"], failure["name"], failure["result"]) == ("dns.aaaa", "a2.example.org", "fail")
    assert failure["reasons"][0]["text"] == "a2.example.org has no AAAA record: it is not reachable over IPv6."
    assert failure["reasons"][0]["fix"] == "Publish an AAAA record for the web server's IPv6 address."
    assert '"usable": []' in failure["evidence"]  # what it was judged on
    part = a["todo"][0]
    assert failure["reasons"][0]["fix"].replace("'", "&#39;") in part and "&#34;usable&#34;: []" in part
    assert re.search(r'data-site="([^"]+)"', orgs["-"]["todo"][0]).group(1) == "n1.example.org"  # type: ignore[union-attr]
    assert zh["failures"][0]["title"] == "有全球单播地址的 AAAA 记录"
    assert zh["failures"][0]["reasons"][0]["fix"] == "请为网站服务器的 IPv6 地址添加 AAAA 记录。"


def test_one_file_and_a_directory_escaped_and_in_chinese(db: tuple[Path, int], tmp_path: Path) -> None:
    path, sid = db
    with Store(path) as s:
        assert write_remediation_file(s, sid, DNS_ONLY.name, "zh-CN", tmp_path / "r.html") == 3
        entry = write_remediation_dir(s, sid, DNS_ONLY.name, "en", tmp_path / "dir")
    html = (tmp_path / "r.html").read_text()
    assert html.count('<section class="org"') == 3 and "<script>alert" not in html
    assert "无需整改的单位" not in html  # every organisation here has something to fix
    assert "=Bureau &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "整改清单" in html and "\uff08未注明单位\uff09" in html
    words = english(html, [org or "" for _, org, _ in SITES])
    assert words == [], words  # Chinese throughout, but names and technical terms
    index = entry.read_text()
    hrefs = re.findall(r'href="([^"]+)"', index)
    assert len(hrefs) == 3 and all((entry.parent / h).is_file() for h in hrefs)
    page = (tmp_path / "dir" / organisation_file("Ministry A")).read_text()
    assert page.count('<div class="todo"') == 2 and "Ready, nothing to fix: a1.example.org" in page


def test_organisations_with_nothing_to_fix_are_named_once_not_printed_a_page_each(db: tuple[Path, int],
                                                                                   tmp_path: Path) -> None:
    path, sid = db
    with Store(path) as s:
        ok = s.db.execute("SELECT id FROM targets WHERE name = 'n1.example.org'").fetchone()[0]
        s.db.execute("UPDATE verdicts SET verdict = 'ready' WHERE target_id = ?", [ok])  # its one site fixed
        s.db.conn.commit()
        assert write_remediation_file(s, sid, DNS_ONLY.name, "en", tmp_path / "r.html") == 3
    html = (tmp_path / "r.html").read_text()
    assert html.count('<section class="org" data-organisation') == 2  # a page each for those with work
    done = re.search(r'<section class="org done"><h1>Organisations with nothing to fix</h1><p>(.*?)</p>', html)
    assert done is not None and done.group(1) == "(no organisation given)"


def test_a_site_the_scanner_could_not_judge_is_not_the_organisations_to_fix(db: tuple[Path, int]) -> None:
    path, sid = db
    with Store(path) as s:
        tid = s.db.execute("SELECT id FROM targets WHERE name = 'a2.example.org'").fetchone()[0]
        s.db.execute("UPDATE verdicts SET verdict = 'inconclusive' WHERE target_id = ?", [tid])
        s.db.conn.commit()
        a = next(o for o in organisations(s, sid, DNS_ONLY.name, "en") if o["name"] == "Ministry A")
    assert [re.search(r'data-site="([^"]+)"', p).group(1) for p in a["todo"]] == ["a3.example.org"]  # type: ignore[union-attr]
    assert a["counts"]["inconclusive"] == 1


def test_report_by_organisation_on_the_command_line(db: tuple[Path, int], tmp_path: Path) -> None:
    path, _ = db
    out = tmp_path / "fix.html"
    r = CliRunner().invoke(cli, ["report", "--db", str(path), "--by", "organisation", "-o", str(out)])
    assert r.exit_code == 0 and r.output.strip() == str(out) and out.read_text().count('class="org"') == 3
    r = CliRunner().invoke(cli, ["report", "--db", str(path), "--by", "organisation", "--layout", "dir",
                                 "-o", str(tmp_path / "d")])
    assert r.exit_code == 0 and r.output.strip() == str(tmp_path / "d" / "remediation" / "index.html")


def test_printed_one_organisation_per_page(db: tuple[Path, int], tmp_path: Path) -> None:
    exe = _chromium()
    if exe is None:
        if lab_required():
            pytest.fail("chromium is not installed (make deps installs it)")
        pytest.skip("CHROMIUM NOT INSTALLED: the print test of the remediation lists did not run")
    path, sid = db
    with Store(path) as s:
        write_remediation_file(s, sid, DNS_ONLY.name, "zh-CN", tmp_path / "r.html")
    pdf = tmp_path / "r.pdf"
    subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", (tmp_path / "r.html").as_uri()], capture_output=True, timeout=120)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    assert pages == 3  # each organisation starts a page, and each is short enough for one
