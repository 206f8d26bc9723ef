"""Hostile-content benchmark: what pathological pages cost, alone and mixed into a sweep.

    .venv/bin/python -m benchmarks.hostile [--lab STATE.json] [--repeat 3] [--limit 300]

Brings up a lab (or reuses one: ``--lab /run/v6scan-lab/<id>/state.json``) and, in its client
namespace:

1. times ``v6scan check`` of each hostile-content site of ``tests.lab.scenarios.HARDENING``
   (the four pathological pages, 64 AAAA, 20,000 subresource hosts), ``--repeat`` times each, one
   at a time: median wall time, CPU time and peak RSS (the launcher of ``benchmarks.sweep``), exit
   code and verdict;
2. sweeps the healthy lab sites (``verdict`` ready, no hostile peer) with ``v6scan scan``, once
   alone and once with the hostile-content sites mixed in, and prints each healthy site's time
   (``targets.started`` to ``targets.finished`` in the database) in both sweeps: what a
   pathological site costs its neighbours.

Both run with ``--no-self-check`` (the canary would round per-target times up to whole seconds),
``--timeout 2`` and ``--www never``.  A check or sweep still running after ``--limit`` seconds is
killed and reported as such.  Nothing is asserted: the hang detectors and caps are tested in
tests/test_hardening_lab.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.sweep import v6scan_bin
from tests.lab import Lab
from tests.lab.lab import REPO
from tests.lab.scenarios import HARDENING, SCENARIOS

LAB_NETS = ("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24")
LAB_SUFFIXES = ("gov.test", "edu.test", "com.test", "cdn.test")
#: the sites whose content (not their servers' behaviour) is hostile
CONTENT = ("patho-title", "patho-line", "patho-nest", "patho-quote", "many-aaaa", "many-res")
HEALTHY = tuple(s.target for s in SCENARIOS if s.expect.get("verdict") == "ready" and not s.hostile
                and not s.garbage_dns)


@dataclass
class Launched:
    code: int | None  # None: killed after the limit
    wall: float
    cpu: float
    rss_mib: float


def options(lab: Lab) -> list[str]:
    # no self-check: its canary runs once a second and a target waits for one after its last probe,
    # which would round every per-target time up to whole seconds
    opts = ["--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file), "--root-hints", str(lab.root_hints),
            "--no-self-check", "--timeout", "2", "--www", "never"]
    for net in LAB_NETS:
        opts += ["--allow-net", net]
    for suffix in LAB_SUFFIXES:
        opts += ["--public-suffix", suffix]
    return opts


def launch(lab: Lab, argv: list[str], limit: float) -> Launched:
    """``argv`` in the client namespace under benchmarks.sweep's launcher (wall, CPU, peak RSS of
    the process tree); killed, launcher and all, after ``limit`` seconds."""
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, sys.executable, "-m", "benchmarks.sweep",
                             "--launch", json.dumps(argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Launched(None, limit, float("nan"), float("nan"))
    rec = json.loads(out.strip().splitlines()[-1])
    return Launched(rec["code"], rec["wall"], rec["cpu"], rec["rss"])


def time_checks(lab: Lab, work: Path, repeat: int, limit: float) -> list[str]:
    rows = ["| site | wall s (median) | CPU s | peak RSS MiB | exit | verdict |", "|---|---|---|---|---|---|"]
    for s in HARDENING:
        if s.id not in CONTENT:
            continue
        runs: list[Launched] = []
        verdict = "-"
        for i in range(repeat):
            out = work / f"check-{s.id}-{i}.json"
            r = launch(lab, [v6scan_bin(), "check", s.target, "--format", "json", "-o", str(out), *options(lab)],
                       limit)
            runs.append(r)
            if r.code is None:
                break
            with contextlib.suppress(OSError, ValueError):
                verdict = str(json.loads(out.read_text())["verdict"])
        if any(r.code is None for r in runs):
            rows.append(f"| {s.target} | killed after {limit:g} s | | | | |")
            continue
        rows.append(f"| {s.target} | {statistics.median(r.wall for r in runs):.2f} |"
                    f" {statistics.median(r.cpu for r in runs):.2f} | {max(r.rss_mib for r in runs):.0f} |"
                    f" {','.join(str(r.code) for r in runs)} | {verdict} |")
    return rows


def _seconds(a: str, b: str) -> float:
    return (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds()


def sweep(lab: Lab, work: Path, tag: str, names: list[str], limit: float,
          concurrency: int) -> tuple[Launched, dict[str, float]]:
    targets, db = work / f"{tag}.txt", work / f"{tag}.db"
    targets.write_text("".join(n + "\n" for n in names))
    r = launch(lab, [v6scan_bin(), "scan", str(targets), "--db", str(db), "--concurrency", str(concurrency),
                     *options(lab)], limit)
    times: dict[str, float] = {}
    if db.exists():
        con = sqlite3.connect(db)
        try:
            for name, a, b in con.execute("SELECT name, started, finished FROM targets"
                                          " WHERE started IS NOT NULL AND finished IS NOT NULL"):
                times[str(name)] = _seconds(str(a), str(b))
        finally:
            con.close()
    return r, times


def compare_sweeps(lab: Lab, work: Path, limit: float, concurrency: int) -> list[str]:
    hostile = [s.target for s in HARDENING if s.id in CONTENT]
    alone, t_alone = sweep(lab, work, "healthy", list(HEALTHY), limit, concurrency)
    mixed, t_mixed = sweep(lab, work, "mixed", [*HEALTHY, *hostile], limit, concurrency)

    def cell(times: dict[str, float], name: str) -> str:
        return f"{times[name]:.2f}" if name in times else "-"

    def head(r: Launched) -> str:
        return "killed" if r.code is None else f"{r.wall:.1f} s wall, exit {r.code}, {r.rss_mib:.0f} MiB"

    rows = [f"healthy sweep: {head(alone)}; mixed sweep: {head(mixed)}", "",
            "| site | healthy sweep s | mixed sweep s |", "|---|---|---|"]
    rows += [f"| {n} | {cell(t_alone, n)} | {cell(t_mixed, n)} |" for n in HEALTHY]
    both = [n for n in HEALTHY if n in t_alone and n in t_mixed]
    if both:
        rows.append(f"| *median of the healthy sites* | {statistics.median(t_alone[n] for n in both):.2f} |"
                    f" {statistics.median(t_mixed[n] for n in both):.2f} |")
    rows += [f"| {n} (hostile content) | | {cell(t_mixed, n)} |" for n in hostile]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lab", help="state file of a running lab (else one is brought up and torn down)")
    p.add_argument("--repeat", type=int, default=3, help="checks of each site (median)")
    p.add_argument("--limit", type=float, default=300.0, help="seconds before a check or sweep is killed")
    p.add_argument("--concurrency", type=int, action="append",
                   help="the sweeps' --concurrency (repeatable; default 8 and 64: with 8, targets also queue for"
                        " the connection stage behind the slower hostile ones)")
    args = p.parse_args()
    lab = Lab.load(Path(args.lab)) if args.lab else Lab.up()
    try:
        with tempfile.TemporaryDirectory(prefix="v6scan-hostile-") as tmp:
            work = Path(tmp)
            print(f"## v6scan check of each hostile-content site ({args.repeat} runs, one at a time)\n")
            print("\n".join(time_checks(lab, work, args.repeat, args.limit)))
            for c in args.concurrency or [8, 64]:
                print("\n## healthy sites swept alone and with the hostile-content sites mixed in"
                      f" (--concurrency {c})\n")
                print("\n".join(compare_sweeps(lab, work, args.limit, c)))
    finally:
        if not args.lab:
            lab.down()


if __name__ == "__main__":
    main()
