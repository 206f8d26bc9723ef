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

V6SCAN = str(Path(sys.executable).parent / "v6scan")
TARGETS = str(REPO / "targets" / "lab.csv")


def common(lab: Lab) -> list[str]:
    args = ["--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file), "--root-hints", str(lab.root_hints),
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
        con = sqlite3.connect(db, timeout=5)
        try:
            return int(con.execute("SELECT count(*) FROM targets WHERE status = 'done'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _verdicts(db: Path, sweep: int) -> dict[str, str]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT name, verdict FROM site_verdicts WHERE sweep_id = ? AND policy = 'default'",
                                [sweep]).fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def sweeps(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cli")
    plain, killed = d / "plain.db", d / "killed.db"
    r = v6scan(lab, "scan", TARGETS, "--db", str(plain), "--concurrency", "8", *common(lab))
    assert r.returncode in (0, 3), r.stderr
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
    plain, killed = sweeps
    before = _done(killed)
    r = v6scan(lab, "scan", "--db", str(killed), "--resume", "1", "--timeout", "3", *common(lab)[:-2])
    assert r.returncode == 2 and "another configuration" in r.stderr  # a different config is refused
    r = v6scan(lab, "scan", "--db", str(killed), "--resume", "1", *common(lab))
    assert r.returncode in (0, 3), r.stderr
    assert f"{len(SCENARIOS) - before} targets left" in r.stderr
    assert _done(killed) == len(SCENARIOS)
    con = sqlite3.connect(killed)
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
    assert r.returncode in (0, 3)
    r = v6scan(lab, "diff", "1", "2", "--db", str(plain), "--format", "json")
    d = json.loads(r.stdout)
    assert d["changed"] == [] and d["only_a"] == [] and d["only_b"] == []  # the lab is deterministic


def test_ctrl_c_drains_in_flight_targets_and_records_where_it_stopped(lab: Lab, tmp_path: Path) -> None:
    import os

    db = tmp_path / "int.db"
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, V6SCAN, "scan", TARGETS, "--db", str(db),
                             "--concurrency", "3", *common(lab)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _done(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)  # ip netns exec replaced itself with v6scan: same pid
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "finishing the targets in flight" in err and "--resume 1" in err
    con = sqlite3.connect(db)
    status, note = con.execute("SELECT status, note FROM sweeps WHERE id = 1").fetchone()
    done = con.execute("SELECT count(*) FROM targets WHERE status = 'done'").fetchone()[0]
    verdicts = con.execute("SELECT count(*) FROM verdicts").fetchone()[0]
    con.close()
    assert status == "interrupted" and note.startswith("stopped after")
    assert 3 <= done < len(SCENARIOS) and verdicts == done  # nothing half-recorded
    r = v6scan(lab, "scan", "--db", str(db), "--resume", "1", *common(lab))
    assert r.returncode in (0, 3) and _done(db) == len(SCENARIOS)


def test_worker_processes_give_the_same_results(lab: Lab, sweeps: tuple[Path, Path], tmp_path: Path) -> None:
    """--workers 2: the same verdicts as the one-process sweep, every target recorded once."""
    plain, _ = sweeps
    db = tmp_path / "workers.db"
    r = v6scan(lab, "scan", TARGETS, "--db", str(db), "--concurrency", "8", "--workers", "2", *common(lab))
    assert r.returncode in (0, 3), r.stderr
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
    assert proc.returncode in (0, 3), err
    assert _done(db) == len(SCENARIOS), "the sweep did not finish every target"
    con = sqlite3.connect(db)
    dup_obs = con.execute("SELECT count(*) FROM (SELECT target_id, check_id, name, count(*) c FROM observations"
                          " GROUP BY target_id, check_id, name HAVING c > 1)").fetchone()[0]
    con.close()
    assert dup_obs == 0
    assert _verdicts(db, 1) == _verdicts(plain, 1)
