"""`scan` exit codes, gates, the retry rule and a quick Ctrl-C, with CliRunner and no network: the
engine's per-target scan is replaced by a fake that returns canned observations (the sweep's real
streaming, concurrency, cancellation, store and scoring run as they are).

Exit codes of `scan`: 0 every target has a verdict (whatever it is); 1 the same, and a gate failed;
3 targets remain unmeasured (interrupted, or to retry because the scanner was at fault).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import v6scan.engine as engine
from v6scan.cli import cli
from v6scan.context import Context
from v6scan.engine import TargetResult
from v6scan.model import Observation, Status
from v6scan.store import Store
from v6scan.sweep import describe_causes, retryable
from v6scan.targets import Target, parse_target

#: a policy that judges the DNS checks these fakes record (the real policies want every check)
POLICY: dict[str, Any] = {
    "name": "dns-only", "description": "DNS checks only (tests)", "score": {"method": "weighted"},
    "checks": {"dns.resolve": {"weight": 0, "required": True}, "dns.aaaa": {"weight": 10, "required": True},
               "self.v6": {"weight": 0}},
}
V6 = {"addresses": [{"address": "2a00:1450::1", "public": True, "usable": True, "kind": "global",
                     "name": "a global unicast address"}], "usable": ["2a00:1450::1"], "not_usable": []}
NO_V6 = {"addresses": [], "usable": [], "not_usable": []}


class Fake:
    """The per-target scan: what each target name gives, chosen by its first label."""

    def __init__(self) -> None:
        self.resolver_up = False  # "resolverdown" targets get an answer once this is set
        self.self_check_up = False
        self.slow = 60.0  # seconds a "slow" target takes
        self.cancelled: list[str] = []
        self.scanned: list[str] = []

    def observations(self, name: str) -> list[Observation]:
        kind = name.split(".")[0].rstrip("0123456789")
        resolve = Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {}})
        aaaa = Observation("dns.aaaa", name, Status.OK, V6)
        selfv6 = Observation("self.v6", name, Status.OK, {})
        if kind == "absent":
            aaaa = Observation("dns.aaaa", name, Status.NODATA, NO_V6, "no AAAA")
        elif kind == "nx":
            resolve = Observation("dns.resolve", name, Status.NXDOMAIN, {}, "NXDOMAIN")
        elif kind == "timeout":  # the site's servers did not answer; the resolver did (a canary)
            resolve = Observation("dns.resolve", name, Status.TIMEOUT, {"canary": {"status": "ok"}}, "timeout")
        elif kind == "resolverdown" and not self.resolver_up:
            resolve = Observation("dns.resolve", name, Status.TIMEOUT,
                                  {"canary": {"status": "timeout"}, "scanner_side": "resolver"}, "timeout")
        elif kind == "selfdown" and not self.self_check_up:
            selfv6 = Observation("self.v6", name, Status.UNREACHABLE, {"scanner_side": "self-check"},
                                 "the self-check probe failed")
        elif kind == "noself":  # the scanner had no IPv6, and the check did not say it was its fault
            selfv6 = Observation("self.v6", name, Status.UNREACHABLE, {}, "this machine has no IPv6 route")
        if resolve.status is not Status.OK:
            aaaa = Observation("dns.aaaa", name, Status.SKIPPED, {}, "the name did not resolve")
        return [resolve, aaaa, selfv6]

    async def scan_target(self, ctx: Context, target: Target) -> TargetResult:
        name = target.name
        try:
            if name.startswith("slow"):
                await asyncio.sleep(self.slow)
            elif name.startswith("sigint"):  # Ctrl-C arrives while the others are in flight
                await asyncio.sleep(0.2)
                sig = getattr(signal, os.environ.get("FAKE_SIGNAL", "SIGINT"))
                for _ in range(int(os.environ.get("FAKE_SIGINTS", "1"))):
                    os.kill(os.getpid(), sig)
                    await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise
        self.scanned.append(name)
        return TargetResult(target, [name], self.observations(name), finished_at="2026-01-01T00:00:00Z")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    f = Fake()
    monkeypatch.setattr(engine, "scan_target", f.scan_target)
    yield f


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "dns-only.json"
    p.write_text(json.dumps(POLICY))
    return p


def targets(tmp_path: Path, *names: str) -> Path:
    f = tmp_path / "targets.txt"
    f.write_text("".join(f"{n}.example.org\n" for n in names))
    return f


def scan(tmp_path: Path, policy: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["scan", "--db", str(tmp_path / "s.db"), "--policy", str(policy),
                                    "--resolver", "127.0.0.1", "--no-self-check", "--www", "never", *args],
                              catch_exceptions=False)


def db_state(tmp_path: Path) -> tuple[str, str | None, dict[str, str]]:
    con = sqlite3.connect(tmp_path / "s.db")
    try:
        status, note = con.execute("SELECT status, note FROM sweeps ORDER BY id DESC LIMIT 1").fetchone()
        rows = dict(con.execute("SELECT name, status FROM targets").fetchall())
    finally:
        con.close()
    return status, note, rows


def test_a_completed_sweep_exits_0_whatever_the_verdicts(fake: Fake, tmp_path: Path, policy: Path) -> None:
    """ready, absent, NXDOMAIN, a timeout from the site's servers, an inconclusive target: every target
    has a verdict, so the sweep is finished and exits 0 (it was 3 for error/inconclusive before)."""
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "absent", "nx", "timeout", "noself")))
    assert r.exit_code == 0, r.output
    status, _, rows = db_state(tmp_path)
    assert status == "finished" and set(rows.values()) == {"done"}
    assert "finished: ready=1 absent=1 error=2 inconclusive=1 ->" in r.output


@pytest.mark.parametrize(("gate", "code", "message"), [
    (["--fail-on", "broken"], 1, "gate failed: absent.example.org is absent (--fail-on broken)"),
    (["--fail-on", "absent"], 1, "gate failed: absent.example.org is absent (--fail-on absent)"),
    (["--min-score", "50"], 1, "gate failed: absent.example.org scores 0 < 50 (--min-score)"),
    (["--fail-on", "ready"], 1, "gate failed: ready.example.org is ready (--fail-on ready)"),
])
def test_gates_fail_a_completed_sweep_with_1(fake: Fake, tmp_path: Path, policy: Path, gate: list[str], code: int,
                                             message: str) -> None:
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "absent")), *gate)
    assert r.exit_code == code, r.output
    assert message in r.output


def test_gates_pass_with_0_and_an_error_verdict_fails_any_gate(fake: Fake, tmp_path: Path, policy: Path) -> None:
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "ready2")), "--fail-on", "partial", "--min-score", "90")
    assert r.exit_code == 0, r.output
    (tmp_path / "s.db").unlink()
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "timeout")), "--fail-on", "absent")
    assert r.exit_code == 1 and "gate failed: timeout.example.org is error" in r.output


def test_an_inconclusive_target_cannot_pass_a_gate_but_does_not_fail_it(fake: Fake, tmp_path: Path,
                                                                        policy: Path) -> None:
    """The scanner's own IPv6 failed without the check saying so: not the site's fault, so not a
    gate failure; but it could not be judged against the gate either (3, as `check` does)."""
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "noself")), "--fail-on", "broken")
    assert r.exit_code == 3, r.output
    assert "1 targets are inconclusive" in r.output and "gate failed" not in r.output


def test_a_gate_from_the_policy_file(fake: Fake, tmp_path: Path, policy: Path) -> None:
    policy.write_text(json.dumps({**POLICY, "score": {"method": "weighted", "gates": {"fail_on": "absent"}}}))
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "absent")))
    assert r.exit_code == 1 and "(--fail-on absent)" in r.output
    (tmp_path / "s.db").unlink()
    policy.write_text(json.dumps({**POLICY, "score": {"method": "weighted", "gates": {"min_score": 100}}}))
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "ready2")))
    assert r.exit_code == 0, r.output
    policy.write_text(json.dumps({**POLICY, "score": {"method": "weighted", "gates": {"fail_on": "great"}}}))
    r = CliRunner().invoke(cli, ["scan", str(targets(tmp_path, "ready")), "--db", str(tmp_path / "x.db"),
                                 "--policy", str(policy)])
    assert r.exit_code == 2 and "great" in r.output


def test_the_scanners_resolver_down_means_retry_exit_3_then_resume(fake: Fake, tmp_path: Path,
                                                                   policy: Path) -> None:
    """Only a failure marked scanner_side is retried: recorded without a verdict, counted as "to
    retry" (progress line, summary, jsonl); the sweep is incomplete (3) and --resume finishes it."""
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "resolverdown", "resolverdown2", "timeout")),
             "--format", "jsonl")
    assert r.exit_code == 3, r.output
    status, note, rows = db_state(tmp_path)
    assert status == "incomplete"
    assert note == "2 targets to retry: the scanner's resolver did not answer"
    assert rows == {"ready.example.org": "done", "resolverdown.example.org": "retry",
                    "resolverdown2.example.org": "retry", "timeout.example.org": "done"}
    assert f"sweep 1 incomplete: {note}; continue with --resume 1" in r.output
    assert "ready=1 error=1 to-retry=2" in r.output  # the progress line and the summary, as in the database
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert sorted(x["target"] for x in lines) == ["ready.example.org", "timeout.example.org"]
    with Store(tmp_path / "s.db") as st:
        assert st.verdict_counts(1, "dns-only") == {"ready": 1, "error": 1}
        assert st.db.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 2  # none for a retry
    r = scan(tmp_path, policy, "--resume", "1")  # the resolver is still down
    assert r.exit_code == 3 and db_state(tmp_path)[0] == "incomplete"
    fake.resolver_up = True
    r = scan(tmp_path, policy, "--resume", "1", "--fail-on", "absent")
    status, _, rows = db_state(tmp_path)
    assert status == "finished" and set(rows.values()) == {"done"}
    assert "finished: ready=3 error=1 ->" in r.output
    # the gate judges the whole sweep, the targets of earlier runs included
    assert r.exit_code == 1 and "gate failed: timeout.example.org is error (--fail-on absent)" in r.output


def test_a_failed_self_check_means_retry_and_the_note_names_it(fake: Fake, tmp_path: Path, policy: Path) -> None:
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "selfdown", "resolverdown")))
    assert r.exit_code == 3
    status, note, _ = db_state(tmp_path)
    assert status == "incomplete" and note is not None
    assert note.startswith("2 targets to retry: ")
    assert "measured while the scanner's own IPv6 failed (self-check) (1)" in note
    assert "the scanner's resolver did not answer (1)" in note


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_first_ctrl_c_cancels_long_targets_after_a_short_grace(fake: Fake, tmp_path: Path, policy: Path,
                                                               signame: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or SIGTERM) with two 60 s targets in flight: the sweep ends within the grace (2 s)
    plus a little, the long targets are cancelled and left pending (no verdict), the sweep is
    interrupted (3), and --resume scans exactly those again."""
    monkeypatch.setenv("FAKE_SIGNAL", signame)
    names = ["ready", "ready2", "slow", "slow2", "sigint", "absent"]
    t0 = time.monotonic()
    r = scan(tmp_path, policy, str(targets(tmp_path, *names)))
    elapsed = time.monotonic() - t0
    assert r.exit_code == 3, r.output
    assert elapsed < 4.5, elapsed
    assert sorted(fake.cancelled) == ["slow.example.org", "slow2.example.org"]
    assert "stopping: no new targets; those in flight get 2 s" in r.output
    status, note, rows = db_state(tmp_path)
    assert status == "interrupted"
    assert note == "stopped after 4 of 6 targets; 2 not measured (2 of them cancelled in flight)"
    assert {n for n, s in rows.items() if s == "pending"} == {"slow.example.org", "slow2.example.org"}
    assert f"sweep 1 interrupted: {note}; continue with --resume 1" in r.output
    con = sqlite3.connect(tmp_path / "s.db")
    assert con.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 4
    con.close()
    fake.slow, fake.scanned = 0.01, []
    r = scan(tmp_path, policy, "--resume", "1")
    assert r.exit_code == 0, r.output
    assert sorted(fake.scanned) == ["slow.example.org", "slow2.example.org"]
    status, _, rows = db_state(tmp_path)
    assert status == "finished" and set(rows.values()) == {"done"}


def test_second_ctrl_c_cancels_at_once(fake: Fake, tmp_path: Path, policy: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SIGINTS", "2")
    t0 = time.monotonic()
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "slow", "sigint")))
    elapsed = time.monotonic() - t0
    assert r.exit_code == 3, r.output
    assert elapsed < 1.5, elapsed  # not the 2 s grace
    assert "aborting: cancelling the targets in flight now" in r.output
    status, _, rows = db_state(tmp_path)
    assert status == "interrupted" and rows["ready.example.org"] == "done"  # nothing finished is lost
    assert rows["slow.example.org"] == rows["sigint.example.org"] == "pending"  # cancelled in flight
    assert sorted(fake.cancelled) == ["sigint.example.org", "slow.example.org"]


def test_scan_help_documents_exit_codes_and_gates() -> None:
    out = CliRunner().invoke(cli, ["scan", "--help"]).output
    for word in ("Exit codes", "--fail-on", "--min-score", "--resume", "unmeasured", "2 s"):
        assert word in out, word
    top = CliRunner().invoke(cli, ["--help"]).output
    assert "Exit codes" in top and "unmeasured" in top


def obs(check: str, status: Status = Status.OK, **evidence: Any) -> Observation:
    return Observation(check, "a.example.org", status, evidence)


def test_retryable_only_when_the_scanner_says_it_was_at_fault() -> None:
    assert not retryable([obs("dns.resolve", Status.TIMEOUT)])  # a finding about the site now
    assert not retryable([obs("dns.resolve", Status.UNREACHABLE)])
    assert retryable([obs("dns.resolve", Status.TIMEOUT, scanner_side="resolver")])
    assert retryable([obs("dns.resolve", Status.OK), obs("self.v6", Status.UNREACHABLE, scanner_side="self-check")])
    assert not retryable([obs("dns.v6_path", Status.TIMEOUT, scanner_side="roots")])  # not a target's fault either,
    assert not retryable([obs("self.v6", Status.UNREACHABLE, scanner_side="")])  # but the site got its verdict
    assert describe_causes({"resolver": 12}, 12) == "12 targets to retry: the scanner's resolver did not answer"
    assert describe_causes({"self-check": 1}, 1) == \
        "1 target to retry: measured while the scanner's own IPv6 failed (self-check)"
    assert "earlier version" in describe_causes({"": 3}, 3)
    assert "the scanner failed (roots)" in describe_causes({"roots": 1, "resolver": 2}, 3)


def test_store_keeps_no_verdict_for_a_target_to_retry(tmp_path: Path) -> None:
    from tests.test_cli import DNS_ONLY
    from v6scan.scoring import score_target

    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target("a.example.org"), parse_target("b.example.org")], {}, DNS_ONLY.name)
        good = [obs("dns.resolve"), Observation("dns.aaaa", "a.example.org", Status.OK, V6)]
        s.record(sid, [("a.example.org", "x", None, good, score_target("a.example.org", good, DNS_ONLY))])
        # a.example.org measured again while the resolver was down: its earlier verdict goes too
        bad = [obs("dns.resolve", Status.TIMEOUT, scanner_side="resolver")]
        s.record(sid, [("a.example.org", "x", None, bad, score_target("a.example.org", bad, DNS_ONLY))],
                 retry={"a.example.org"})
        assert s.target_counts(sid) == {"retry": 1, "pending": 1}
        assert s.verdict_counts(sid, DNS_ONLY.name) == {}
        assert s.db.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 0
        assert s.retry_causes(sid) == {"resolver": 1}


def test_the_retry_budget_gives_every_target_a_verdict_in_the_end(fake: Fake, tmp_path: Path, policy: Path) -> None:
    """The resolver never comes back: the target is retried at most --max-retries times across resumes
    (stored with the sweep), then gets its verdict, ``error``, the reason naming the scanner's resolver
    and the tries; the sweep finishes (0).  A rescore gives the same verdict."""
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "resolverdown")), "--max-retries", "2")
    assert r.exit_code == 3 and db_state(tmp_path)[2]["resolverdown.example.org"] == "retry"
    r = scan(tmp_path, policy, "--resume", "1", "--max-retries", "5")  # the budget is the sweep's
    assert r.exit_code == 2
    assert "--max-retries differs: sweep 1 was started with 2, this command says 5" in r.output
    r = scan(tmp_path, policy, "--resume", "1")  # retry 1 -> to-retry again
    assert r.exit_code == 3 and "to-retry=1" in r.output
    r = scan(tmp_path, policy, "--resume", "1", "--format", "jsonl")  # retry 2 spent: its verdict now
    assert r.exit_code == 0, r.output
    assert "finished: ready=1 error=1 ->" in r.output and "to-retry" not in r.output
    assert [json.loads(x)["verdict"] for x in r.output.splitlines() if x.startswith("{")] == ["error"]
    status, note, rows = db_state(tmp_path)
    assert status == "finished" and note is None and set(rows.values()) == {"done"}
    with Store(tmp_path / "s.db") as st:
        assert st.retries_used(1, ["resolverdown.example.org"]) == {"resolverdown.example.org": 2}
        (row,) = [v for v in st.verdict_rows(1) if v["name"] == "resolverdown.example.org"]
        text = row["checks"]["dns.resolve"]["summary"]
        assert row["verdict"] == "error" and row["checks"]["dns.resolve"]["result"] == "fail"
        assert "the scanner's resolver did not answer, in 3 tries (at most 2 retries" in text, text
        (_, observations), = [x for x in st.observations(1) if x[0]["tname"] == "resolverdown.example.org"]
        resolve = next(o for o in observations if o.check == "dns.resolve")
        assert "scanner_side" not in resolve.evidence and not retryable(observations)
        assert resolve.evidence["gave_up"] == {"cause": "resolver", "tries": 3, "max_retries": 2}
        from v6scan.scoring import load_policy

        st.rescore(1, load_policy(policy))
        assert st.verdict_counts(1, "dns-only") == {"ready": 1, "error": 1}


def test_no_retry_budget_and_a_failed_self_check(fake: Fake, tmp_path: Path, policy: Path) -> None:
    """--max-retries 0: never retried.  The resolver's failure gives ``error``; a failed self-check
    gives ``inconclusive`` (DESIGN: the scanner had no working IPv6, never the site's fault), with the
    tries named: both are verdicts, so the sweep finishes."""
    r = scan(tmp_path, policy, str(targets(tmp_path, "ready", "resolverdown", "selfdown")), "--max-retries", "0")
    assert r.exit_code == 0, r.output
    assert "finished: ready=1 error=1 inconclusive=1 ->" in r.output
    with Store(tmp_path / "s.db") as st:
        (row,) = [v for v in st.verdict_rows(1) if v["name"] == "selfdown.example.org"]
        assert row["verdict"] == "inconclusive"
        assert "in 1 tries (at most 0 retries" in row["checks"]["self.v6"]["summary"]


def test_readme_resume_recipe_continues_with_the_sweeps_own_configuration(
        fake: Fake, tmp_path: Path, policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``v6scan scan --db sweep.db --resume 1``, as README writes it: no option repeated; the sweep's
    settings, policy (its file may be gone) and concurrency are reused; an option given again must say
    the same (from the command line or the environment), but how fast it runs may differ."""
    seen: list[tuple[float, tuple[str, ...], str]] = []
    scan_target = fake.scan_target

    async def spy(ctx: Context, target: Target) -> TargetResult:
        seen.append((ctx.settings.timeout, ctx.settings.resolvers, ctx.settings.www))
        return await scan_target(ctx, target)

    monkeypatch.setattr(engine, "scan_target", spy)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.txt").write_text("ready.example.org\nresolverdown.example.org\n")
    runner = CliRunner()
    r = runner.invoke(cli, ["scan", "list.txt", "--db", "sweep.db", "--policy", str(policy), "--resolver",
                            "127.0.0.1", "--no-self-check", "--www", "never", "--timeout", "2",
                            "--concurrency", "7"], catch_exceptions=False)
    assert r.exit_code == 3, r.output
    policy.unlink()  # the policy is stored with the sweep
    fake.resolver_up = True
    r = runner.invoke(cli, ["scan", "--db", "sweep.db", "--resume", "1", "--timeout", "3"])
    assert r.exit_code == 2
    assert "--timeout differs: sweep 1 was started with 2, this command says 3" in r.output
    monkeypatch.setenv("V6SCAN_RESOLVER", "127.0.0.2")
    r = runner.invoke(cli, ["scan", "--db", "sweep.db", "--resume", "1"])
    assert r.exit_code == 2
    assert "--resolver differs: sweep 1 was started with 127.0.0.1, this command says 127.0.0.2 (from" \
           " $V6SCAN_RESOLVER)" in r.output
    monkeypatch.delenv("V6SCAN_RESOLVER")
    r = runner.invoke(cli, ["scan", "--db", "sweep.db", "--resume", "1", "--www", "always"])
    assert r.exit_code == 2 and "--www differs: sweep 1 was started with never, this command says always" in r.output
    assert len(seen) == 2  # nothing scanned by a refused resume
    r = runner.invoke(cli, ["scan", "--db", "sweep.db", "--resume", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert seen[-1] == (2.0, ("127.0.0.1",), "never")  # the sweep's own settings
    assert "finished: ready=2 ->" in r.output  # scored with the sweep's (deleted) policy file
    assert "resuming with" not in r.output
    # how fast it runs may differ (and says so); what it measures may be repeated as it was
    (tmp_path / "list.txt").write_text("ready.example.org\nresolverdown2.example.org\n")
    fake.resolver_up = False
    r = runner.invoke(cli, ["scan", "list.txt", "--db", "sweep.db", "--policy", "default", "--resolver",
                            "127.0.0.1", "--www", "never", "--concurrency", "7"], catch_exceptions=False)
    assert r.exit_code == 3
    fake.resolver_up = True
    r = runner.invoke(cli, ["scan", "--db", "sweep.db", "--resume", "2", "--concurrency", "3", "--per-address", "2",
                            "--www", "never", "--policy", "default"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "resuming with --concurrency 3 (sweep 2 was started with 7)" in r.output
    assert "resuming with --per-address 2 (sweep 2 was started with 4)" in r.output


def test_the_library_resume_refuses_other_settings_but_politeness_limits(tmp_path: Path) -> None:
    from v6scan.settings import Settings
    from v6scan.sweep import config_differences, settings_config

    stored = {**settings_config(Settings(timeout=5.0, resolvers=("127.0.0.1",))), "max_retries": 3}
    assert config_differences(stored, Settings(timeout=5.0, resolvers=("127.0.0.1",))) == []
    assert config_differences(stored, Settings(timeout=2.0, resolvers=("127.0.0.1",), per_address_concurrency=1,
                                               per_prefix_concurrency=2)) == ["timeout"]
    assert config_differences({"timeout": 5.0}, Settings(timeout=5.0, attempts=9)) == []  # not recorded: not compared
