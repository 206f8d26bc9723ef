"""Logging: module loggers under ``v6scan``, -v/-vv and --log-file on the command line, records on
stderr or in the file and never on stdout; a crashing check is logged with its traceback.  No
network: the DNS family is replaced by one that raises, or the whole per-target scan by a fake."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from v6scan import engine
from v6scan.checks import dns
from v6scan.cli import cli
from v6scan.context import Context
from v6scan.engine import TargetResult
from v6scan.errors import configure_logging, logging_config
from v6scan.model import Observation, Status
from v6scan.settings import Settings
from v6scan.targets import Target, parse_target

PACKAGE = Path(__file__).parent.parent / "v6scan"


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No config file picked up; and every test leaves the ``v6scan`` logger as it found it."""
    monkeypatch.chdir(tmp_path)
    for var in ("V6SCAN_VERBOSE", "V6SCAN_LOG_FILE", "V6SCAN_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    logger = logging.getLogger("v6scan")
    before = (logger.level, list(logger.handlers))
    yield
    assert (logger.level, logger.handlers) == before, "the command left its log handler behind"


async def _broken_host_lookup(ctx: Context, name: str) -> object:
    raise ValueError(f"simulated bug resolving {name}")


@pytest.fixture
def broken_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DNS family raises (a bug): the target is answered with errors, nothing is sent."""
    monkeypatch.setattr(dns, "check_host", _broken_host_lookup)


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _records(text: str, level: str) -> list[str]:
    return [line for line in text.splitlines() if f" {level} v6scan." in line]


# --------------------------------------------------------------------------- the library


def test_a_crashing_check_is_logged_with_target_and_check_ids(broken_dns: None, caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    caplog.set_level(logging.DEBUG, logger="v6scan")

    async def go() -> TargetResult:
        async with Context.create(Settings(check_ids=("dns.aaaa",), www="never")) as ctx:
            return await engine.scan_target(ctx, parse_target("example.org"))

    result = asyncio.run(go())
    assert [(o.check, o.status) for o in result.observations] == [("dns.resolve", Status.ERROR),
                                                                    ("dns.aaaa", Status.ERROR)]
    ev = result.observations[1].evidence
    assert ev["exception_type"] == "ValueError" and ev["message"] == "simulated bug resolving example.org"
    assert "_broken_host_lookup" in str(ev["traceback"])

    # the lookup both checks share raised: each check records it, the log has it once
    (err,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert err.name == "v6scan.engine" and err.exc_info is not None and err.exc_info[0] is ValueError
    assert err.getMessage() == ("internal error in dns.resolve of example.org:"
                                " ValueError: simulated bug resolving example.org")
    assert any(r.levelno == logging.DEBUG and r.getMessage().startswith("dns.aaaa of example.org failed with the same")
               for r in caplog.records)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and r.name == "v6scan.engine"]
    assert debug[0] == "example.org: started" and debug[-1].startswith("example.org: finished in ")


def test_configure_logging_is_undone_and_tells_workers_where_to_log(tmp_path: Path) -> None:
    logger = logging.getLogger("v6scan")
    undo = configure_logging(logging.DEBUG, tmp_path / "v6.log")
    try:
        assert logging_config() == (logging.DEBUG, str(tmp_path / "v6.log"))
        logging.getLogger("v6scan.sweep").debug("hello %s", "file")
    finally:
        undo()
    assert logger.handlers == [] and logger.level == logging.NOTSET
    assert logging_config()[1] is None
    text = (tmp_path / "v6.log").read_text(encoding="utf-8")
    assert "DEBUG v6scan.sweep[" in text and "hello file" in text


def test_library_code_never_prints() -> None:
    calls = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in PACKAGE.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]
    assert calls == []


# --------------------------------------------------------------------------- the command line


def test_vv_logs_debug_on_stderr_and_stdout_stays_json(broken_dns: None) -> None:
    r = _run("-vv", "check", "example.org", "--checks", "dns.aaaa", "--www", "never", "--format", "json")
    assert r.exit_code == 3, r.output  # the site could not be judged (error)
    doc = json.loads(r.stdout)  # nothing but the JSON document on stdout
    assert doc["target"] == "example.org" and doc["verdict"] == "error"
    assert not any(" v6scan." in line for line in r.stdout.splitlines())
    debug = _records(r.stderr, "DEBUG")
    assert any("v6scan.engine" in line and "example.org: started" in line for line in debug), r.stderr
    assert any("example.org: finished in" in line for line in debug), r.stderr
    (err,) = _records(r.stderr, "ERROR")
    assert "internal error in dns.resolve of example.org: ValueError" in err
    assert "Traceback (most recent call last):" in r.stderr and "_broken_host_lookup" in r.stderr


def test_errors_are_logged_by_default_debug_only_with_vv(broken_dns: None) -> None:
    r = _run("check", "example.org", "--checks", "dns.aaaa", "--www", "never", "--format", "json")
    assert r.exit_code == 3 and json.loads(r.stdout)["verdict"] == "error"
    assert len(_records(r.stderr, "ERROR")) == 1 and _records(r.stderr, "DEBUG") == []


def test_log_file_takes_the_log_off_stderr(broken_dns: None, tmp_path: Path) -> None:
    log = tmp_path / "v6scan.log"
    r = _run("-vv", "--log-file", str(log), "check", "example.org", "--checks", "dns.aaaa", "--www", "never",
             "--format", "json")
    assert r.exit_code == 3 and json.loads(r.stdout)["verdict"] == "error"
    assert " v6scan." not in r.stderr
    text = log.read_text(encoding="utf-8")
    assert _records(text, "DEBUG") and len(_records(text, "ERROR")) == 1 and "_broken_host_lookup" in text


def test_an_unwritable_log_file_is_a_usage_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["--log-file", str(tmp_path / "no-such-dir" / "x.log"), "targets", "--help"])
    assert r.exit_code == 2 and "--log-file" in r.output


async def _fake_scan(ctx: Context, target: Target) -> TargetResult:
    name = target.name
    obs = [Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {}}),
           Observation("dns.aaaa", name, Status.NODATA, {"addresses": [], "usable": [], "not_usable": []})]
    return TargetResult(target, [name], obs, finished_at="2026-01-01T00:00:00Z")


def test_v_logs_the_sweep_at_info_and_jsonl_stays_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "scan_target", _fake_scan)
    targets = tmp_path / "t.txt"
    targets.write_text("a.example.org\nb.example.org\n")
    r = _run("-v", "scan", str(targets), "--db", str(tmp_path / "s.db"), "--checks", "dns.aaaa", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(isinstance(json.loads(line), dict) for line in lines)
    info = _records(r.stderr, "INFO")
    assert any("v6scan.sweep" in line and "sweep 1: started (policy default, one process)" in line
               for line in info), r.stderr
    assert any("sweep 1: finished (2 targets)" in line for line in info), r.stderr
    assert _records(r.stderr, "DEBUG") == []
    r = _run("-v", "scan", "--db", str(tmp_path / "s.db"), "--resume", "1")
    assert any("sweep 1: resumed, 0 targets left" in line for line in _records(r.stderr, "INFO")), r.stderr


def test_without_v_a_sweep_logs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "scan_target", _fake_scan)
    targets = tmp_path / "t.txt"
    targets.write_text("a.example.org\n")
    r = _run("scan", str(targets), "--db", str(tmp_path / "s.db"), "--checks", "dns.aaaa")
    assert r.exit_code == 0 and " v6scan." not in r.stderr, r.stderr


def test_verbosity_from_the_environment(broken_dns: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V6SCAN_VERBOSE", "2")
    r = _run("check", "example.org", "--checks", "dns.aaaa", "--www", "never", "--format", "json")
    assert _records(r.stderr, "DEBUG") and json.loads(r.stdout)["verdict"] == "error"
