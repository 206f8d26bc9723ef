"""Sweep benchmark: the ``v6scan scan`` command on scale-mode lab sites, as a user runs it.

    .venv/bin/python -m benchmarks.sweep [--sites 10000] [--concurrency 500] [--lab ID]

The standard sweep (DNS + NS + TCP + TLS over IPv6 + HTTP over both families
compared; no link crawl) runs in the lab's client namespace as its own process,
started by a small launcher that reads the process's CPU time and peak RSS from
``wait4`` (a child forked from a large Python process would inherit its RSS
high-water mark).  Per-site times come from the database the sweep wrote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab import Lab
from tests.lab import scale as scale_mod
from v6scan.scoring import load_policy

STANDARD_CHECKS = "dns.resolve,dns.aaaa,dns.ns_aaaa,dns.ns_reach,web.reach,web.tls,web.http,web.same_site"
DNS_CHECKS = "dns.resolve,dns.aaaa"
LAB_NETS = ("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24")
LAB_SUFFIXES = ("gov.test", "edu.test", "com.test", "cdn.test")


@dataclass
class SweepRun:
    sites: int
    wall: float
    cpu: float
    peak_rss_mib: float
    exit_code: int
    per_site: list[float]  # seconds, from the stored start and finish of each target
    verdicts: Counter[str]
    expected: Counter[str]
    #: seconds from the first target's start to each target's finish, in order
    finished: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sites / self.wall

    @property
    def steady_rate(self) -> float:
        """Sites finished per second while the sweep is full, between 10 % and 90 % of them done: the
        rate a long sweep runs at (the whole sweep's rate includes the start, with nothing finished
        yet, and the tail, with the last sites alone)."""
        n = len(self.finished)
        if n < 20:
            return self.rate
        lo, hi = self.finished[n // 10 - 1], self.finished[(9 * n) // 10 - 1]
        return 0.8 * n / (hi - lo) if hi > lo else self.rate

    def quantile(self, q: float) -> float:
        if len(self.per_site) < 2:
            return self.per_site[0] if self.per_site else 0.0
        return statistics.quantiles(self.per_site, n=100, method="inclusive")[round(q * 100) - 1]

    @property
    def correct(self) -> bool:
        return self.verdicts == self.expected


def v6scan_bin() -> str:
    return str(Path(sys.executable).parent / "v6scan")


def common_options(lab: Lab, timeout: float) -> list[str]:
    # --per-prefix: the lab's 128 IPv4 servers share one /24 (the documentation ranges are all the
    # IPv4 space there is), which on the Internet would be 128 hosters; the per-address limit stays
    # at its default, and every IPv6 server has a /64 of its own.
    opts = ["--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file), "--root-hints",
            str(lab.root_hints), "--trust-anchor", str(lab.trust_anchor), "--no-self-check", "--timeout",
            f"{timeout:g}", "--per-prefix", "256"]
    for net in LAB_NETS:
        opts += ["--allow-net", net]
    for suffix in LAB_SUFFIXES:
        opts += ["--public-suffix", suffix]
    return opts


def selection_policy(path: Path, checks: str) -> Path:
    """The default policy with only the selected checks required (a standard sweep measures no
    links, so the default policy would call every site "partial" for want of them)."""
    data = load_policy("default").to_json()  # the checks' declared weights and thresholds
    chosen = set(checks.split(","))
    data["name"] = "bench-selection"
    for cid, rule in data["checks"].items():
        if cid not in chosen:
            rule["required"] = False
    path.write_text(json.dumps(data))
    return path


def write_targets(path: Path, sites: int) -> Counter[str]:
    """A CSV of the first ``sites`` scale-mode sites; return the expected verdict counts."""
    expected: Counter[str] = Counter()
    with path.open("w") as f:
        f.write("host,sector,region,organisation\n")
        for host, sector, region, verdict in scale_mod.sites(sites):
            f.write(f"{host},{sector},{region},lab scale\n")
            expected[verdict] += 1
    return expected


def launch(lab: Lab, argv: list[str], timeout: float) -> tuple[int, float, float, float]:
    """Run ``argv`` in the client namespace; return (exit code, wall s, CPU s, peak RSS MiB)."""
    out = lab.exec([sys.executable, "-m", "benchmarks.sweep", "--launch", json.dumps(argv)], timeout=timeout)
    if out.returncode != 0 or not out.stdout.strip():
        raise SystemExit(f"launcher failed ({out.returncode}):\n{out.stderr[-3000:]}")
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    return rec["code"], rec["wall"], rec["cpu"], rec["rss"]


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (a sweep with --workers is a tree)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/status") as f:
                rss[int(d)] = next((int(x.split()[1]) for x in f if x.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(rss.get(p, 0) for p in tree)


def _launch(argv: list[str]) -> None:
    """Run ``argv``; report its wall time, CPU time (itself and its worker processes)
    and peak resident memory: the largest sum over its process tree, sampled every 50 ms, or
    the kernel's high-water mark of the largest single process if that is larger."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kib(proc.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the launcher's only child, and its workers
    print(json.dumps({"code": proc.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                      "rss": max(peak, usage.ru_maxrss) / 1024}))


def _seconds(a: str, b: str) -> float:
    return (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds()


def sweep(lab: Lab, sites: int, *, concurrency: int, checks: str = STANDARD_CHECKS, timeout: float = 5.0,
          extra: list[str] | None = None, workdir: Path | None = None) -> SweepRun:
    """One ``v6scan scan`` of the first ``sites`` scale-mode sites into a fresh database."""
    work = workdir or lab.directory
    targets, db = work / f"bench-{sites}.csv", work / f"bench-{sites}.db"
    expected = write_targets(targets, sites)
    for f in work.glob(f"bench-{sites}.db*"):
        f.unlink()
    policy = selection_policy(work / "bench-policy.json", checks)
    argv = [v6scan_bin(), "scan", str(targets), "--db", str(db), "--checks", checks, "--policy", str(policy),
            "--concurrency", str(concurrency), *common_options(lab, timeout), *(extra or [])]
    code, wall, cpu, rss = launch(lab, argv, timeout=3600)
    con = sqlite3.connect(db)
    try:
        spans = con.execute("SELECT started, finished FROM targets WHERE started IS NOT NULL AND finished IS NOT NULL"
                            ).fetchall()
        per_site = sorted(_seconds(a, b) for a, b in spans)
        first = min((a for a, _ in spans), default=None, key=dt.datetime.fromisoformat)
        finished = sorted(_seconds(first, b) for _, b in spans) if first is not None else []
        verdicts = Counter(dict(con.execute("SELECT verdict, count(*) FROM verdicts GROUP BY verdict").fetchall()))
    finally:
        con.close()
    if checks == DNS_CHECKS:
        expected = Counter()  # a DNS-only sweep has no comparable verdicts
        verdicts = Counter()
    return SweepRun(sites, wall, cpu, rss, code, per_site, verdicts, expected, finished)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--checks", default=STANDARD_CHECKS)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--lab", help="state file of a running lab (python -m tests.lab up --scale N)")
    p.add_argument("--launch", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.launch:
        _launch(json.loads(args.launch))
        return
    lab = Lab.load(Path(args.lab)) if args.lab else Lab.up(scale=args.sites)
    try:
        r = sweep(lab, args.sites, concurrency=args.concurrency, checks=args.checks, timeout=args.timeout,
                  extra=["--workers", str(args.workers)])
        print(f"sites: {r.sites}  exit: {r.exit_code}  wall: {r.wall:.1f} s  rate: {r.rate:.0f} sites/s"
              f"  p50: {r.quantile(0.5):.3f} s  p99: {r.quantile(0.99):.3f} s"
              f"  CPU: {1000 * r.cpu / r.sites:.2f} ms/site  peak RSS: {r.peak_rss_mib:.0f} MiB")
        print(f"verdicts: {dict(r.verdicts)}  expected: {dict(r.expected)}  correct: {r.correct}")
    finally:
        if not args.lab:
            lab.down()


if __name__ == "__main__":
    main()
