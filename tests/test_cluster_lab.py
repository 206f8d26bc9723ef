"""Sweeps on a real multi-process Dask cluster (a scheduler and two worker processes started here,
inside the lab's client namespace): the same results as a single-machine sweep; a worker SIGKILLed
mid-sweep loses nothing; a scheduler that goes away stops the sweep cleanly and --resume on a
new scheduler finishes it; Ctrl-C stops the coordinator within 5 s, its leased chunks released."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.lab.lab import REPO
from tests.lab.scenarios import SCENARIOS
from tests.test_cli_lab import TARGETS, V6SCAN, _done, _verdicts, common, lab_sweep
from v6scan.store import connect as store_connect

pytestmark = pytest.mark.lab

DASK = str(Path(sys.executable).parent / "dask")


@dataclass
class DaskCluster:
    lab: Lab
    port: int
    log: Path
    scheduler: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _spawn(self, *argv: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(["ip", "netns", "exec", self.lab.client, *argv], cwd=REPO,
                                    stdout=log, stderr=log, start_new_session=True)

    def start(self, workers: int = 2) -> None:
        self.scheduler = self._spawn(DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                     "--no-dashboard")
        self.workers = [self._spawn(DASK, "worker", self.address, "--nthreads", "2", "--no-nanny",
                                    "--no-dashboard", "--name", f"w{i}") for i in range(workers)]
        self.wait_for_workers(workers)

    def wait_for_workers(self, n: int) -> None:
        probe = ("from distributed import Client\n"
                 f"c = Client({self.address!r}, timeout=5)\n"
                 "print(len(c.scheduler_info()['workers']))\nc.close()\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = self.lab.exec([sys.executable, "-c", probe], timeout=30)
            if r.returncode == 0 and r.stdout.strip() == str(n):
                return
            time.sleep(0.5)
        raise AssertionError(f"the Dask cluster did not come up:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        for p in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            if p.poll() is None:
                p.kill()
            p.wait()


@pytest.fixture
def dask_cluster(lab: Lab, tmp_path: Path) -> Iterator[DaskCluster]:
    c = DaskCluster(lab, random.randint(20000, 60000), tmp_path / "dask.log")
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def single(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one-process sweep of the lab's sites (shared with tests/test_cli_lab.py)."""
    return lab_sweep(lab, tmp_path_factory, "one process")


def _once(db: Path) -> None:
    con = store_connect(db)
    try:
        dup = con.execute("SELECT count(*) FROM (SELECT target_id, check_id, name, count(*) c FROM observations"
                          " GROUP BY target_id, check_id, name HAVING c > 1)").fetchone()[0]
        states = dict(con.execute("SELECT state, count(*) FROM chunks GROUP BY state").fetchall())
        vantage = {r[0] for r in con.execute("SELECT DISTINCT vantage FROM observations")}
    finally:
        con.close()
    assert dup == 0, "a target was recorded twice"
    assert set(states) == {"done"}, states
    assert vantage and None not in vantage  # every observation names the host that made it


def _scan_until_some_done(lab: Lab, cluster: DaskCluster, db: Path, stderr: int = subprocess.PIPE
                          ) -> subprocess.Popen[str]:
    """Start a cluster sweep of the lab's sites (chunks of 3) and return once 3 targets are done."""
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, V6SCAN, "scan", TARGETS, "--db", str(db),
                             "--concurrency", "4", "--cluster", cluster.address, "--chunk-size", "3",
                             *common(lab)], cwd=REPO, stdout=subprocess.DEVNULL, text=True,
                            stderr=stderr)
    deadline = time.monotonic() + 120
    while _done(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    return proc


def test_cluster_sweep_equals_the_single_machine_sweep(lab: Lab, dask_cluster: DaskCluster, single: Path,
                                                       tmp_path: Path) -> None:
    db = tmp_path / "cluster.db"
    r = lab.exec([V6SCAN, "scan", TARGETS, "--db", str(db), "--concurrency", "8", "--cluster", dask_cluster.address,
                  "--chunk-size", "5", *common(lab)], timeout=600)
    assert r.returncode == 0, r.stderr
    assert _done(db) == len(SCENARIOS)
    _once(db)
    assert _verdicts(db, 1) == _verdicts(single, 1)


def test_a_killed_dask_worker_loses_no_target(lab: Lab, dask_cluster: DaskCluster, single: Path,
                                              tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    proc = _scan_until_some_done(lab, dask_cluster, db)
    assert proc.poll() is None and _done(db) < len(SCENARIOS), "the sweep ended before the kill"
    dask_cluster.workers[0].send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert _done(db) == len(SCENARIOS), "a target was lost"
    _once(db)
    assert _verdicts(db, 1) == _verdicts(single, 1)


def test_scheduler_going_away_stops_cleanly_and_resume_finishes(lab: Lab, dask_cluster: DaskCluster, single: Path,
                                                                tmp_path: Path) -> None:
    db = tmp_path / "nosched.db"
    proc = _scan_until_some_done(lab, dask_cluster, db)
    dask_cluster.stop()  # scheduler and workers gone
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3 and "--resume 1" in err, err
    con = store_connect(db)
    status = con.execute("SELECT status FROM sweeps WHERE id = 1").fetchone()[0]
    leased = con.execute("SELECT count(*) FROM chunks WHERE state = 'leased'").fetchone()[0]
    con.close()
    assert status == "interrupted" and leased == 0
    before = _done(db)
    assert 0 < before < len(SCENARIOS)
    dask_cluster.port += 1
    dask_cluster.start()  # a new scheduler (another address): the sweep resumes on it
    r = lab.exec([V6SCAN, "scan", "--db", str(db), "--resume", "1", "--cluster", dask_cluster.address,
                  "--chunk-size", "3", *common(lab)], timeout=600)
    assert r.returncode == 0, r.stderr
    assert _done(db) == len(SCENARIOS)
    _once(db)
    assert _verdicts(db, 1) == _verdicts(single, 1)


def test_a_killed_coordinator_resumes_with_its_leases_taken_back(lab: Lab, dask_cluster: DaskCluster, single: Path,
                                                                 tmp_path: Path) -> None:
    """SIGKILL the coordinator (the scan command) mid-sweep: its chunks stay leased in SQLite;
    --resume releases and leases them again, and the sweep ends with every target exactly once."""
    db = tmp_path / "coordinator.db"
    proc = _scan_until_some_done(lab, dask_cluster, db, stderr=subprocess.DEVNULL)
    proc.kill()
    proc.wait()
    con = store_connect(db)
    leased = con.execute("SELECT count(*) FROM chunks WHERE state = 'leased'").fetchone()[0]
    con.close()
    assert leased > 0 and _done(db) < len(SCENARIOS), "the kill came too late to test taking leases back"
    r = lab.exec([V6SCAN, "scan", "--db", str(db), "--resume", "1", "--cluster", dask_cluster.address,
                  "--chunk-size", "3", *common(lab)], timeout=600)
    assert r.returncode == 0, r.stderr
    assert _done(db) == len(SCENARIOS)
    _once(db)
    assert _verdicts(db, 1) == _verdicts(single, 1)


def test_ctrl_c_stops_a_cluster_sweep_within_5s(lab: Lab, dask_cluster: DaskCluster, single: Path,
                                                tmp_path: Path) -> None:
    """Ctrl-C: no new chunk is leased, the running ones get 2 s, then their tasks are cancelled and
    their chunks released (their targets pending, never given a verdict); exit 3 within 5 s, and
    --resume finishes the sweep with every target exactly once."""
    db = tmp_path / "ctrl-c.db"
    proc = _scan_until_some_done(lab, dask_cluster, db)
    assert proc.poll() is None, "the sweep ended before the Ctrl-C"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)  # ip netns exec replaced itself with v6scan: same pid
    _, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 3, err
    assert elapsed < 5.0, f"the sweep took {elapsed:.1f} s to stop"
    assert "continue with --resume 1" in err
    con = store_connect(db)
    status = con.execute("SELECT status FROM sweeps WHERE id = 1").fetchone()[0]
    leased = con.execute("SELECT count(*) FROM chunks WHERE state = 'leased'").fetchone()[0]
    per = dict(con.execute("SELECT status, count(*) FROM targets GROUP BY status").fetchall())
    stray = con.execute("SELECT count(*) FROM verdicts v JOIN targets t ON t.id = v.target_id"
                        " WHERE t.status != 'done'").fetchone()[0]
    con.close()
    assert status == "interrupted" and leased == 0 and stray == 0
    assert set(per) <= {"done", "pending", "retry"} and 0 < per["done"] < len(SCENARIOS)
    r = lab.exec([V6SCAN, "scan", "--db", str(db), "--resume", "1", "--cluster", dask_cluster.address,
                  "--chunk-size", "3", *common(lab)], timeout=600)
    assert r.returncode == 0, r.stderr
    assert _done(db) == len(SCENARIOS)
    _once(db)
    assert _verdicts(db, 1) == _verdicts(single, 1)
