"""The command line end to end in the lab: check with every format and gate, scan -> SIGKILL ->
--resume gives the same results as an uninterrupted sweep, then report, export and diff."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xmlschema
from sarif_pydantic import Sarif

from tests.lab import Lab
from tests.lab.lab import REPO
from tests.lab.scenarios import SCENARIOS
from v6scan.store import connect as store_connect

V6SCAN = str(Path(sys.executable).parent / "v6scan")
TARGETS = str(REPO / "targets" / "lab.csv")


def common(lab: Lab) -> list[str]:
    args = ["--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file), "--root-hints", str(lab.root_hints),
            "--trust-anchor", str(lab.trust_anchor),
            "--self-check", lab.self_check, "--timeout", "2"]
    for net in ("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24"):
        args += ["--allow-net", net]
    for s in ("gov.test", "edu.test", "com.test", "cdn.test"):
        args += ["--public-suffix", s]
    return args


def v6scan(lab: Lab, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return lab.exec([V6SCAN, *args], timeout=600, env=env)


def test_check_text_json_and_gates(lab: Lab) -> None:
    r = v6scan(lab, "check", "healthy.gov.test", *common(lab), "--fail-on", "partial", "--min-score", "90")
    assert r.returncode == 0, r.stderr
    assert "READY" in r.stdout and "dns.v6_path" in r.stdout
    r = v6scan(lab, "check", "twoaaaa.com.test", *common(lab), "--fail-on", "partial")
    assert r.returncode == 1 and "gate failed: twoaaaa.com.test is partial" in r.stderr
    assert "does not accept port 443" in r.stdout and "How to fix" in r.stdout
    r = v6scan(lab, "check", "twoaaaa.com.test", *common(lab), "--min-score", "95")
    assert r.returncode == 1 and "--min-score" in r.stderr
    r = v6scan(lab, "check", "nxdomain.gov.test", *common(lab), "--fail-on", "broken")
    assert r.returncode == 3 and "incomplete" in r.stderr
    r = v6scan(lab, "check", "https://cert-expired.gov.test/", *common(lab), "--format", "json", "--lang", "zh-CN")
    doc = json.loads(r.stdout)
    assert doc["target"] == "cert-expired.gov.test" and doc["verdict"] == "broken"
    assert doc["checks"]["web.tls"]["result"] == "fail" and "证书无效" in doc["checks"]["web.tls"]["summary"]


def test_check_junit_sarif_github(lab: Lab, tmp_path: Path) -> None:
    sites = ["healthy.gov.test", "redir6.com.test", "dropped.gov.test"]
    r = v6scan(lab, "check", *sites, *common(lab), "--format", "junit", "--fail-on", "broken")
    assert r.returncode == 1
    xmlschema.XMLSchema(REPO / "tests" / "schemas" / "junit.xsd").validate(r.stdout)
    assert r.stdout.count("<testsuite ") == 3 and "redirects to v4only.com.test" in r.stdout
    out = tmp_path / "v6.sarif"
    r = v6scan(lab, "check", *sites, *common(lab), "--format", "sarif", "-o", str(out))
    assert r.returncode == 0
    doc = json.loads(out.read_text())
    Sarif.model_validate(doc)
    rules = {x["ruleId"] for x in doc["runs"][0]["results"]}
    assert {"web.http", "web.reach"} <= rules
    summary = tmp_path / "summary.md"
    env = {"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)}
    r = v6scan(lab, "check", *sites, *common(lab), "--format", "github", env=env)
    assert "::error title=redir6.com.test%3A web.http::Over IPv6 the site redirects to v4only.com.test" in r.stdout
    assert "| dropped.gov.test | broken |" in summary.read_text()


def _done(db: Path) -> int:
    try:
        con = store_connect(db, timeout=5)
        try:
            return int(con.execute("SELECT count(*) FROM targets WHERE status = 'done'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _verdicts(db: Path, sweep: int) -> dict[str, str]:
    con = store_connect(db)
    try:
        return dict(con.execute("SELECT name, verdict FROM site_verdicts WHERE sweep_id = ? AND policy = 'default'",
                                [sweep]).fetchall())
    finally:
        con.close()


#: the execution modes of a sweep, by the options that choose them
MODES = {"one process": [], "--workers 2": ["--workers", "2"],
         "--cluster local:2": ["--cluster", "local:2", "--chunk-size", "5"]}
_LAB_SWEEPS: dict[tuple[str, str], Path] = {}


def lab_sweep(lab: Lab, factory: pytest.TempPathFactory, mode: str) -> Path:
    """The lab's whole target list swept once per execution mode (``MODES``) and lab, shared by every
    test that compares with it (the one-process sweep is the reference of several modules); each must
    finish: every target with a verdict, exit 0.  Sweep 1 of the database returned; tests may add
    sweeps after it."""
    key = (lab.client, mode)
    if key not in _LAB_SWEEPS:
        db = factory.mktemp("sweep") / "sweep.db"
        r = v6scan(lab, "scan", TARGETS, "--db", str(db), "--concurrency", "8", *MODES[mode], *common(lab))
        assert r.returncode == 0, f"{mode}: {r.stderr}"  # every target has a verdict
        assert "sweep 1 finished: " in r.stderr, r.stderr
        _LAB_SWEEPS[key] = db
    return _LAB_SWEEPS[key]


@pytest.fixture(scope="module")
def sweeps(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cli")
    plain, killed = lab_sweep(lab, tmp_path_factory, "one process"), d / "killed.db"
    # the same sweep, SIGKILLed part-way, then resumed
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, V6SCAN, "scan", TARGETS, "--db", str(killed),
                             "--concurrency", "2", *common(lab)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while _done(killed) < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    import os

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < _done(killed) < len(SCENARIOS), "the kill came too late to test resuming"
    return plain, killed


def test_resume_after_sigkill_gives_the_same_results(lab: Lab, sweeps: tuple[Path, Path]) -> None:
    """Resume continues with the sweep's own configuration (resolver, CA, root hints, suffixes, ...
    stored with it): an option given again that differs is refused, naming it; one that only says how
    fast the sweep runs (--concurrency) may differ.  (README's recipe as written: the Ctrl-C test.)"""
    plain, killed = sweeps
    before = _done(killed)
    r = v6scan(lab, "scan", "--db", str(killed), "--resume", "1", "--timeout", "3")
    assert r.returncode == 2, r.stderr
    assert "--timeout differs: sweep 1 was started with 2, this command says 3" in r.stderr
    r = v6scan(lab, "scan", "--db", str(killed), "--resume", "1", *common(lab)[:-2])
    assert r.returncode == 2 and "--public-suffix differs: sweep 1 was started with gov.test edu.test com.test" \
        " cdn.test, this command says gov.test edu.test com.test" in r.stderr, r.stderr
    assert _done(killed) == before  # nothing was scanned
    r = v6scan(lab, "scan", "--db", str(killed), "--resume", "1", "--concurrency", "8")
    assert r.returncode == 0, r.stderr  # every target has a verdict
    assert "resuming with --concurrency 8 (sweep 1 was started with 2)" in r.stderr
    assert f"{len(SCENARIOS) - before} targets left" in r.stderr
    assert _done(killed) == len(SCENARIOS)
    con = store_connect(killed)
    per = con.execute("SELECT name, count(*) FROM targets GROUP BY name HAVING count(*) > 1").fetchall()
    dup_obs = con.execute("SELECT count(*) FROM (SELECT target_id, check_id, name, count(*) c FROM observations"
                          " GROUP BY target_id, check_id, name HAVING c > 1)").fetchone()[0]
    con.close()
    assert per == [] and dup_obs == 0  # every target recorded exactly once
    assert _verdicts(killed, 1) == _verdicts(plain, 1)


def test_report_export_diff_from_the_command_line(lab: Lab, sweeps: tuple[Path, Path], tmp_path: Path) -> None:
    plain, _ = sweeps
    html = tmp_path / "r.html"
    r = v6scan(lab, "report", "--db", str(plain), "-o", str(html))
    assert r.returncode == 0 and html.stat().st_size > 10_000
    r = v6scan(lab, "export", "--db", str(plain), "--format", "csv")
    assert r.returncode == 0 and r.stdout.count("\n") == len(SCENARIOS) + 1
    r = v6scan(lab, "scan", TARGETS, "--db", str(plain), "--concurrency", "8", *common(lab))
    assert r.returncode == 0
    r = v6scan(lab, "diff", "1", "2", "--db", str(plain), "--format", "json")
    d = json.loads(r.stdout)
    assert d["changed"] == [] and d["only_a"] == [] and d["only_b"] == []  # the lab is deterministic


def _statuses(db: Path) -> tuple[str, str, dict[str, int], int, int]:
    """The sweep's status and note, its targets per status, its verdicts, and verdicts of targets
    that are not done (there must be none)."""
    con = store_connect(db)
    try:
        status, note = con.execute("SELECT status, note FROM sweeps WHERE id = 1").fetchone()
        per = dict(con.execute("SELECT status, count(*) FROM targets GROUP BY status").fetchall())
        verdicts = con.execute("SELECT count(*) FROM verdicts").fetchone()[0]
        stray = con.execute("SELECT count(*) FROM verdicts v JOIN targets t ON t.id = v.target_id"
                            " WHERE t.status != 'done'").fetchone()[0]
    finally:
        con.close()
    return status, note, per, verdicts, stray


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_ends_within_5s_and_resume_completes(lab: Lab, sweeps: tuple[Path, Path], tmp_path: Path,
                                                    workers: int) -> None:
    """The full check set on the lab's sites; Ctrl-C once a few targets are recorded: the sweep ends
    within 5 s (the targets in flight get 2 s, then their long probes are cancelled), exit 3,
    ``interrupted``; every target is done (with its verdict) or left pending/retry (without one);
    --resume then finishes it with every target exactly once and the verdicts of an uninterrupted
    sweep.  With --workers 2 the Ctrl-C goes to the whole process group, as a terminal sends it."""
    import os

    plain, _ = sweeps
    db = tmp_path / "sweep.db"
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, V6SCAN, "scan", TARGETS, "--db", str(db),
                             "--concurrency", "8", "--workers", str(workers), *common(lab)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while _done(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before the Ctrl-C"
    t0 = time.monotonic()
    if workers == 1:
        os.kill(proc.pid, signal.SIGINT)  # ip netns exec replaced itself with v6scan: same pid
    else:
        os.killpg(proc.pid, signal.SIGINT)  # the coordinator and its workers, as a terminal's Ctrl-C
    _, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 3, err
    assert elapsed < 5.0, f"the sweep took {elapsed:.1f} s to stop"
    assert "stopping: no new targets" in err and "continue with --resume 1" in err
    left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes left behind: {left}"
    status, note, per, verdicts, stray = _statuses(db)
    assert status == "interrupted" and note.startswith("stopped after"), note
    assert "cancelled in flight" in note, note  # long probes (tarpits, 15 s here) were cut short
    assert set(per) <= {"done", "pending", "retry"} and sum(per.values()) == len(SCENARIOS)
    assert 3 <= per["done"] < len(SCENARIOS)
    assert verdicts == per["done"] and stray == 0  # nothing half-recorded, no verdict for the unmeasured
    # README's recipe as written, in the database's directory: the sweep's own configuration (--workers too)
    r = subprocess.run(["ip", "netns", "exec", lab.client, V6SCAN, "scan", "--db", "sweep.db", "--resume", "1"],
                       cwd=db.parent, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr  # every target has its verdict now
    assert f"{len(SCENARIOS) - per['done']} targets left" in r.stderr
    status, _, per, verdicts, stray = _statuses(db)
    assert status == "finished" and per == {"done": len(SCENARIOS)} and verdicts == len(SCENARIOS)
    con = store_connect(db)
    dup_obs = con.execute("SELECT count(*) FROM (SELECT target_id, check_id, name, count(*) c FROM observations"
                          " GROUP BY target_id, check_id, name HAVING c > 1)").fetchone()[0]
    con.close()
    assert dup_obs == 0  # every target recorded exactly once
    assert _verdicts(db, 1) == _verdicts(plain, 1)


@pytest.mark.parametrize(("fault", "cause"), [
    ("resolver", "the scanner's resolver did not answer"),
    ("self-check", "measured while the scanner's own IPv6 failed (self-check)"),
])
def test_a_sweep_the_scanner_could_not_measure_is_incomplete(lab: Lab, tmp_path: Path, fault: str,
                                                             cause: str) -> None:
    """The scanner's vantage fails (its resolver answers nothing, not even the canary; or its own
    IPv6 self-check fails): the targets are kept to retry without a verdict, the sweep is
    ``incomplete`` and exits 3 naming the cause; the progress line counts them as to-retry."""
    targets = tmp_path / "t.txt"
    targets.write_text("healthy.gov.test\nv4only.com.test\n")
    args = common(lab)
    if fault == "resolver":
        args[args.index("--resolver") + 1] = "2001:db8:ffff::53"  # in the lab prefix; nothing answers
    else:
        args[args.index("--self-check") + 1] = "[2001:db8:ffff::99]:443"
    db = tmp_path / "fault.db"
    r = v6scan(lab, "scan", str(targets), "--db", str(db), "--checks", "dns.resolve,dns.aaaa,self.v6",
               "--fail-on", "absent", *args)
    assert r.returncode == 3, r.stderr
    assert f"sweep 1 incomplete: 2 targets to retry: {cause}; continue with --resume 1" in r.stderr
    assert "to-retry=2" in r.stderr and "gate failed" not in r.stderr
    status, note, per, verdicts, _ = _statuses(db)
    assert status == "incomplete" and note == f"2 targets to retry: {cause}"
    assert per == {"retry": 2} and verdicts == 0


def test_worker_processes_give_the_same_results(lab: Lab, sweeps: tuple[Path, Path],
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """--workers 2: the same verdicts as the one-process sweep, every target recorded once (per check:
    tests/test_differential_lab.py)."""
    plain, _ = sweeps
    db = lab_sweep(lab, tmp_path_factory, "--workers 2")
    assert _done(db) == len(SCENARIOS)
    assert _verdicts(db, 1) == _verdicts(plain, 1)


def test_a_killed_worker_loses_no_target(lab: Lab, sweeps: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGKILL one worker process mid-sweep: a new one takes its unfinished targets; the sweep
    finishes with every target exactly once and the verdicts of an undisturbed sweep."""
    plain, _ = sweeps
    db = tmp_path / "killed-worker.db"
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, V6SCAN, "scan", TARGETS, "--db", str(db),
                             "--concurrency", "4", "--workers", "2", *common(lab)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while _done(db) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    workers = subprocess.run(["pgrep", "-s", str(proc.pid), "-f", "v6scan.workers"], capture_output=True,
                             text=True).stdout.split()
    assert len(workers) == 2, workers
    subprocess.run(["kill", "-KILL", workers[0]], check=True)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert _done(db) == len(SCENARIOS), "the sweep did not finish every target"
    con = store_connect(db)
    dup_obs = con.execute("SELECT count(*) FROM (SELECT target_id, check_id, name, count(*) c FROM observations"
                          " GROUP BY target_id, check_id, name HAVING c > 1)").fetchone()[0]
    con.close()
    assert dup_obs == 0
    assert _verdicts(db, 1) == _verdicts(plain, 1)
