"""Sweeps stored before the checks had typed evidence (issue 18) still load and rescore the same.

``tests/data/sweep-1c815f1.db.gz`` is a real lab sweep of 12 scenarios made by v6scan at commit
1c815f1 (the last commit with untyped evidence): its observations carry no ``evidence_version``.
``sweep-1c815f1-verdicts.json.gz`` holds what that version's ``rescore`` gave for each policy.
Today's code reads the old evidence through the checks' evidence classes and must give the same
verdicts, scores, per-check results and reasons.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from v6scan.checks.base import VERSION_KEY
from v6scan.cli import cli
from v6scan.registry import CHECKS
from v6scan.store import Store
from v6scan.store import connect as store_connect

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    with gzip.open(DATA / "sweep-1c815f1.db.gz", "rb") as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def _expected() -> dict[str, Any]:
    with gzip.open(DATA / "sweep-1c815f1-verdicts.json.gz", "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _latest(db: Path, policy: str) -> dict[str, dict[str, Any]]:
    with Store(db) as s:  # a verdict's checks whole: result and summary, and the details stored apart
        rows = s.db.execute("select t.name, v.verdict, v.score, v.points, v.checks, v.details, v.reasons"
                            " from verdicts v join targets t on t.id = v.target_id where v.policy = ? order by v.id",
                            (policy,)).fetchall()
        return {name: {"verdict": verdict, "score": score, "points": points,
                       "checks": s.checks(json.loads(checks), details), "reasons": json.loads(reasons)}
                for name, verdict, score, points, checks, details, reasons in rows}


def test_the_old_evidence_has_no_version_and_every_check_reads_it(old_db: Path) -> None:
    con = store_connect(old_db)
    rows = con.execute("select check_id, status, evidence from observations").fetchall()
    con.close()
    assert len(rows) > 300 and len({c for c, _, _ in rows}) == 17 and {c for c, _, _ in rows} <= set(CHECKS)
    for check_id, status, text in rows:
        stored = json.loads(text)
        assert VERSION_KEY not in stored
        if not stored or status == "error":
            continue  # recorded by the engine (not run, an internal error), not by the check's probe
        ev = CHECKS[check_id].evidence.from_json(stored)
        again = ev.to_json()
        assert again.pop(VERSION_KEY) == 1
        assert again == stored, check_id  # nothing lost, nothing changed


@pytest.mark.parametrize("policy", ["default", "internetnl", "cn-gov"])
def test_an_old_sweep_rescores_as_it_did(old_db: Path, policy: str) -> None:
    r = CliRunner().invoke(cli, ["rescore", "--db", str(old_db), "--policy", policy], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    got = _latest(old_db, policy)
    want = {k.split(" ", 1)[1]: v for k, v in _expected().items() if k.split(" ", 1)[0] == policy}
    assert set(got) == set(want) and len(got) == 12
    for name, w in want.items():
        g = got[name]
        assert (g["verdict"], g["score"], g["points"]) == (w["verdict"], w["score"], w["points"]), name
        assert g["reasons"] == w["reasons"], name
        assert g["checks"] == w["checks"], name
