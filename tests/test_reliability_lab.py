"""Crash safety on a 2,000-site lab sweep: SIGKILL at random moments (one inside a write
transaction) and resume each time; the resolver killed and restarted mid-sweep (its targets
retried, not failed). The end result equals an uninterrupted sweep's, with every target recorded
exactly once, and a completed sweep exits 0."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LAB_ALLOW, LAB_SUFFIXES
from tests.lab import Lab
from tests.lab import scale as scale_mod
from tests.lab.lab import REPO
from v6scan.store import connect as store_connect

pytestmark = pytest.mark.slow
N = 2000
V6SCAN = str(Path(sys.executable).parent / "v6scan")


@pytest.fixture(scope="module")
def big_lab() -> Iterator[Lab]:
    from tests.conftest import lab_required
    from tests.lab import lab_unavailable_reason

    if (reason := lab_unavailable_reason()) is not None:
        if lab_required():
            pytest.fail(reason)
        pytest.skip(f"LAB TESTS NOT RUN: {reason}")
    lab = Lab.up(scale=N)
    try:
        yield lab
    finally:
        lab.down()


def args(lab: Lab, db: Path, *extra: str) -> list[str]:
    a = [V6SCAN, "scan", "--db", str(db), "--checks", "dns.resolve,dns.aaaa,web.reach", "--timeout", "1",
         "--concurrency", "100", "--www", "never", "--no-self-check", "--resolver", lab.resolver[0], *extra]
    for n in LAB_ALLOW:
        a += ["--allow-net", n]
    for s in LAB_SUFFIXES:
        a += ["--public-suffix", s]
    return a


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("big") / "scale.csv"
    f.write_text("host,sector,region,organisation\n" + "".join(
        f"{h},{s},{r},lab scale\n" for h, s, r, _ in scale_mod.sites(N)))
    return f


def state(db: Path) -> dict[str, object]:
    con = store_connect(db, timeout=10)
    try:
        return {
            "done": con.execute("SELECT count(*) FROM targets WHERE status = 'done'").fetchone()[0],
            "targets": con.execute("SELECT count(*) FROM targets").fetchone()[0],
            "dup_targets": con.execute("SELECT count(*) FROM (SELECT name FROM targets GROUP BY sweep_id, name"
                                       " HAVING count(*) > 1)").fetchone()[0],
            "dup_obs": con.execute("SELECT count(*) FROM (SELECT target_id, check_id, name FROM observations"
                                   " GROUP BY 1, 2, 3 HAVING count(*) > 1)").fetchone()[0],
            "orphans": con.execute("SELECT count(*) FROM targets t WHERE t.status = 'done' AND NOT EXISTS"
                                   " (SELECT 1 FROM verdicts v WHERE v.target_id = t.id)").fetchone()[0],
            "verdicts": dict(con.execute("SELECT name, verdict || ' ' || score FROM site_verdicts"
                                         " WHERE sweep_id = 1").fetchall()),
        }
    except sqlite3.OperationalError:
        return {"done": 0}
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(big_lab: Lab, targets: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    db = tmp_path_factory.mktemp("ref") / "plain.db"
    r = big_lab.exec(args(big_lab, db, str(targets)), timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]  # every target has a verdict (NXDOMAIN ones: error)
    s = state(db)
    assert s["done"] == N
    return s


def test_reference_sweep_matches_the_scale_proportions(reference: dict[str, object]) -> None:
    verdicts = reference["verdicts"]
    assert isinstance(verdicts, dict) and len(verdicts) == N
    kinds = {scale_mod.behaviour(i): verdicts[h].split()[0] for i, (h, *_) in enumerate(scale_mod.sites(N))}
    assert kinds["nxdomain"] == "error" and kinds["v4only"] == "absent"


def _run_until(lab: Lab, argv: list[str], db: Path, done_at_least: int, env: dict[str, str] | None = None
               ) -> int:
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, *argv], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if done_at_least and int(state(db)["done"]) >= done_at_least:  # type: ignore[call-overload]
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    return proc.wait()


def test_sigkill_at_random_moments_then_resume(big_lab: Lab, targets: Path, reference: dict[str, object],
                                               tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    rng = random.Random(20261129)
    points = sorted(rng.sample(range(100, N - 100), 4))
    # 1: killed part-way by the clock of the sweep itself
    code = _run_until(big_lab, args(big_lab, db, str(targets)), db, points[0])
    assert code == -signal.SIGKILL
    kills = 1
    # 2: killed inside a write transaction (a failpoint SIGKILLs on the 3rd batch write)
    env = {**os.environ, "V6SCAN_FAILPOINT": "store.record:3"}
    before = state(db)["done"]
    code = _run_until(big_lab, args(big_lab, db, "--resume", "1"), db, 0, env=env)
    assert code == -signal.SIGKILL
    kills += 1
    after = state(db)
    assert after["dup_obs"] == 0 and after["orphans"] == 0  # the torn batch left nothing behind
    assert int(after["done"]) >= int(before)  # type: ignore[call-overload]
    # 3-5: more kills at random points, each followed by a resume
    for p in points[1:]:
        if int(state(db)["done"]) >= p:  # type: ignore[call-overload]
            continue
        code = _run_until(big_lab, args(big_lab, db, "--resume", "1"), db, p)
        assert code == -signal.SIGKILL
        kills += 1
    assert kills >= 5
    r = big_lab.exec(args(big_lab, db, "--resume", "1"), timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    final = state(db)
    assert final["done"] == final["targets"] == N
    assert final["dup_targets"] == 0 and final["dup_obs"] == 0 and final["orphans"] == 0
    assert final["verdicts"] == reference["verdicts"]


def test_resolver_killed_and_restarted_mid_sweep(big_lab: Lab, targets: Path, reference: dict[str, object],
                                                  tmp_path: Path) -> None:
    db = tmp_path / "resolver.db"
    proc = subprocess.Popen(["ip", "netns", "exec", big_lab.client, *args(big_lab, db, str(targets))], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while int(state(db)["done"]) < N // 4 and time.monotonic() < deadline:  # type: ignore[call-overload]
        time.sleep(0.02)
    # longer than a lookup's retry budget (6 s) plus the canary's (6 s): targets whose canary also
    # failed are the scanner's; those whose canary saw the resolver back are asked again
    big_lab.restart("unbound", down_for=20.0)
    _, err = proc.communicate(timeout=900)
    con = store_connect(db)
    retry = con.execute("SELECT count(*) FROM targets WHERE status = 'retry'").fetchone()[0]
    status = con.execute("SELECT status FROM sweeps WHERE id = 1").fetchone()[0]
    con.close()
    # dns.resolve marks a lookup the resolver did not answer, when a canary query through it failed
    # too, as the scanner's fault (evidence scanner_side: "resolver"): those targets are retried
    assert retry > 0, "no target saw the resolver down"
    assert status == "incomplete" and proc.returncode == 3, err[-2000:]
    assert f"incomplete: {retry} targets to retry: the scanner's resolver did not answer" in err
    assert "continue with --resume 1" in err
    r = big_lab.exec(args(big_lab, db, "--resume", "1"), timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    final = state(db)
    assert final["done"] == N and final["dup_obs"] == 0
    assert final["verdicts"] == reference["verdicts"]
