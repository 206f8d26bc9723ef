"""Hostile peers in the lab: each gives a clear per-target result within the deadline, memory
stays bounded, and the sweep goes on."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LAB_ALLOW, LAB_SUFFIXES
from tests.lab import Lab
from tests.lab.lab import REPO
from tests.lab.scenarios import SCENARIOS
from v6scan.store import connect as store_connect

V6SCAN = str(Path(sys.executable).parent / "v6scan")
HOSTILE = [s for s in SCENARIOS if s.hostile or s.garbage_dns or s.id in ("tarpit", "cnameloop", "hostile")]
LAUNCHER = ("import resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
            "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
MAX_RSS_MB = 300
MARGIN_MB = 150


def _sweep(lab: Lab, d: Path, names: list[str], tag: str) -> tuple[Path, int]:
    targets = d / f"{tag}.txt"
    targets.write_text("".join(n + "\n" for n in names))
    db = d / f"{tag}.db"
    argv = ["ip", "netns", "exec", lab.client, V6SCAN, "scan", str(targets), "--db", str(db), "--timeout", "2",
            "--www", "never", "--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file), "--root-hints",
            str(lab.root_hints), "--self-check", lab.self_check]
    for n in LAB_ALLOW:
        argv += ["--allow-net", n]
    for s in LAB_SUFFIXES:
        argv += ["--public-suffix", s]
    # measured by a small launcher: a child forked from this (large) pytest process would inherit its
    # RSS high-water mark, so the scanner's own peak is taken where the launcher waits for it
    r = subprocess.run([*argv[:4], sys.executable, "-c", LAUNCHER, *argv[4:]], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    code, rss_kb = (int(x) for x in r.stdout.split())
    assert code in (0, 3), r.stderr[-2000:]
    return db, rss_kb // 1024


@pytest.fixture(scope="module")
def sweep(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    return _sweep(lab, tmp_path_factory.mktemp("hostile"), [s.target for s in HOSTILE], "hostile")


@pytest.fixture(scope="module")
def benign_rss(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> int:
    """The same number of well-behaved sites, for comparison."""
    benign = [s.target for s in SCENARIOS if s.expect.get("verdict") == "ready" and not s.hostile]
    names = (benign * 3)[:len(HOSTILE)]
    return _sweep(lab, tmp_path_factory.mktemp("benign"), sorted(set(names)), "benign")[1]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = store_connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def chain_error(db: Path, site: str, family: str = "v6") -> dict[str, object]:
    (ev,) = rows(db, "SELECT o.evidence FROM observations o JOIN targets t ON t.id = o.target_id"
                     f" WHERE t.name = '{site}' AND o.check_id = 'web.http'")[0]
    return next(c for c in json.loads(str(ev))["chains"] if c["family"] == family)


def test_every_hostile_site_gets_its_verdict(sweep: tuple[Path, int]) -> None:
    db, _ = sweep
    got = dict(rows(db, "SELECT name, verdict FROM site_verdicts"))
    assert got == {s.target: s.expect["verdict"] for s in HOSTILE}


@pytest.mark.parametrize(("kind", "phrase"), [
    ("stacked", "stacked content-encodings refused"),
    ("headers10k", "response headers exceed the caps"),
    ("endless", "more than 10 redirects"),
    ("loop", "redirect loop"),
    ("trickle", "body slower than"),
    ("tls-stall", "during the TLS handshake"),
    ("reset", "disconnected without sending a response"),
])
def test_each_hostile_behaviour_is_named(sweep: tuple[Path, int], kind: str, phrase: str) -> None:
    c = chain_error(sweep[0], f"hostile-{kind}.com.test")
    assert phrase in str(c["error"]), c["error"]


@pytest.mark.parametrize("kind", ["body1g", "gzipbomb"])
def test_huge_bodies_are_cut_at_the_decoded_cap(sweep: tuple[Path, int], kind: str) -> None:
    c = chain_error(sweep[0], f"hostile-{kind}.com.test")
    hop = c["hops"][-1]  # type: ignore[index]
    assert hop["truncated"] is True and hop["size"] == 1 << 20


def test_markup_in_headers_is_data(sweep: tuple[Path, int]) -> None:
    c = chain_error(sweep[0], "hostile-markup.com.test")
    first = c["hops"][0]  # type: ignore[index]
    assert "<script>" in first["location"] and first["content_type"].startswith('text/html; charset="><img')


def test_garbage_dns_is_a_clear_error(sweep: tuple[Path, int]) -> None:
    db, _ = sweep
    obs = dict(rows(db, "SELECT o.check_id, o.status || ' ' || coalesce(o.error, '') FROM observations o"
                        " JOIN targets t ON t.id = o.target_id WHERE t.name = 'garbage.com.test'"))
    assert obs["dns.resolve"].startswith("servfail")
    # garbage from a site's name servers is a finding about the site (what a resolver would answer:
    # SERVFAIL), never an internal error of the scanner
    assert obs["dns.v6_path"].startswith("servfail") and "malformed" in obs["dns.v6_path"]


def test_deadlines_and_memory(sweep: tuple[Path, int], benign_rss: int) -> None:
    db, rss_mb = sweep
    for name, started, finished in rows(db, "SELECT name, started, finished FROM targets"):
        took = dt.datetime.fromisoformat(str(finished).replace("Z", "+00:00")) - \
            dt.datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        assert took.total_seconds() < 120, (name, took)  # the per-target deadline
    # 2 GiB of hostile bodies must not show up in memory: within a margin of a benign sweep's
    print(f"peak RSS {rss_mb} MB (benign sweep: {benign_rss} MB)")
    assert rss_mb < benign_rss + MARGIN_MB and rss_mb < MAX_RSS_MB, f"peak RSS {rss_mb} MB, benign {benign_rss} MB"
    assert rows(db, "SELECT count(*) FROM targets WHERE status = 'done'")[0][0] == len(HOSTILE)
