"""``scan`` takes a regulator's workbook directly, in the lab: Chinese headers in their own order, a
title row, URLs for hosts, sectors and provinces in words.  The sweep stores the targets as
``targets import`` writes them (normalised sector and province, the organisation) and judges each
lab site as its scenario expects."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl

from tests.lab import Lab
from tests.lab.scenarios import SCENARIOS
from tests.test_cli_lab import common, v6scan

SITES = {  # scenario id -> (how the list writes the host, sector, province)
    "healthy": ("https://healthy.gov.test/", "政府门户", "广东省"),
    "v4only": ("http://v4only.com.test/index.html", "企业", "北京市海淀区"),
    "dropped": ("dropped.gov.test", "党政机关", "中央"),
}
EXPECTED_META = {"healthy": ("gov", "Guangdong"), "v4only": ("com", "Beijing"), "dropped": ("gov", "national")}


def test_scan_reads_a_regulators_workbook_as_targets_import_writes_it(lab: Lab, tmp_path: Path) -> None:
    by_id = {s.id: s for s in SCENARIOS}
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2026年IPv6支持度检测名单"])
    ws.append(["序号", "主办单位", "地区/省份", "网址", "行业/类别", "网站名称"])
    for n, (sid, (url, sector, region)) in enumerate(SITES.items(), 1):
        ws.append([n, f"{sid}单位", region, url, sector, f"{sid}网站"])
    book = tmp_path / "名单.xlsx"
    wb.save(book)

    imported = subprocess.run([str(Path(sys.executable).parent / "v6scan"), "targets", "import", str(book)],
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    rows = list(csv.DictReader(imported.stdout.splitlines()))

    db = tmp_path / "sweep.db"
    r = v6scan(lab, "scan", str(book), "--db", str(db), "--concurrency", "8", *common(lab))
    assert r.returncode in (0, 1), r.stderr
    con = sqlite3.connect(db)
    try:
        stored = {name: (sector, region, org) for name, sector, region, org in con.execute(
            "SELECT name, sector, region, organisation FROM targets")}
        verdicts = dict(con.execute("SELECT name, verdict FROM site_verdicts"))
    finally:
        con.close()
    assert stored == {row["host"]: (row["sector"], row["region"], row["organisation"]) for row in rows}
    for sid in SITES:
        name = by_id[sid].target
        assert stored[name] == (*EXPECTED_META[sid], f"{sid}单位")
        assert verdicts[name] == by_id[sid].expect["verdict"], (name, verdicts[name])
