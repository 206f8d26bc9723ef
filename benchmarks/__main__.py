"""``make bench``: every benchmark against one scale-mode lab, printed as one table.

    .venv/bin/python -m benchmarks [--sites 10000] [--big 100000] [--out benchmarks/results]

1. the standard sweep (DNS + NS + TCP + TLS over IPv6 + HTTP over both families compared, no link
   crawl) of ``--sites`` lab sites with ``v6scan scan``: sites/s, p50/p99 per-site time, CPU
   seconds per site, peak RSS; once with one process and once with ``--workers 2``;
2. our resolver layer against ``dnsperf`` (same names, same warm lab Unbound);
3. HTTPS fetches over IPv6: our fetcher against a raw asyncio+ssl loop;
4. a ``dig`` + ``curl`` shell loop over a 200-site sample against the sweep;
5. DNS-only streamed sweeps of 10 % of ``--big`` and of ``--big`` targets: peak RSS, the slope per
   target, and the extrapolation to 1M targets;
6. what each check costs per site (:mod:`benchmarks.checks`): ``--check-sites`` sites swept with the
   standard checks plus each other check, and the default sweep (``scan`` without ``--checks``);
7. the full-check sweep (:mod:`benchmarks.full`: ``--checks all``, the crawl on) of ``--full-sites``
   (default ``--sites``) sites with ``--workers 2``, beside the standard sweep: the whole sweep's rate
   and its rate between 10 % and 90 % done (a sweep of about its own concurrency measures one batch's
   latency, not a rate);
8. ``v6scan report`` of synthesized sweeps of ``--report-sites`` (10,000 and 100,000) sites (:mod:`benchmarks.report`):
   time, peak RSS, pages, the largest page and the entry page;
9. storage (:mod:`benchmarks.storage`, rows in the main table): a full-check sweep of twice
   ``--check-sites`` sites, its database in schema 4 and in schema 5, bytes per site (goal 5,000).

Writes the table to ``<out>/<date>.md`` as well.  Needs root (the lab) and dnsperf.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from benchmarks import checks as checks_bench
from benchmarks import dns as dns_bench
from benchmarks import full as full_bench
from benchmarks import report as report_bench
from benchmarks import storage as storage_bench
from benchmarks import web as web_bench
from benchmarks.sweep import DNS_CHECKS, SweepRun, sweep
from tests.lab import Lab
from tests.lab import scale as scale_mod
from tests.lab.netns import run_in_netns

T = TypeVar("T")
GOALS = {"sweep": 100.0, "loop": 50.0, "dns": 0.3, "https": 0.8, "rss_1m": 300.0}

SHELL_LOOP = r"""
while read -r h; do
  dig +short +time=2 +tries=1 "$h" AAAA >/dev/null
  dig +short +time=2 +tries=1 "$h" A >/dev/null
  curl -6 -s -o /dev/null --cacert "$CA" --connect-timeout 5 -m 10 "https://$h/" || true
  curl -4 -s -o /dev/null --cacert "$CA" --connect-timeout 5 -m 10 "https://$h/" || true
done < "$LIST"
"""


def shell_loop(lab: Lab, sample: list[str]) -> float:
    """Sites/s of the loop a person would write: dig AAAA and A, curl over IPv6 and over IPv4."""
    listing = lab.directory / "loop-sample.txt"
    listing.write_text("\n".join(sample) + "\n")
    t0 = time.perf_counter()
    lab.exec(["bash", "-c", SHELL_LOOP], env={"CA": str(lab.ca_file), "LIST": str(listing),
                                              "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, timeout=3600)
    return len(sample) / (time.perf_counter() - t0)


RUNNERS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {"asyncio": asyncio.run, "uvloop": uvloop.run}


def in_client(lab: Lab, loop: str, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``factory()`` on the ``loop`` event loop inside the lab's client namespace."""
    return run_in_netns(lab.client, RUNNERS[loop], factory())  # type: ignore[no-any-return]


def https_rates(lab: Lab, scale: int, fetches: int = 3000, rounds: int = 3) -> dict[tuple[str, str], float]:
    """Median fetches/s of (raw loop | our fetcher) on (asyncio | uvloop), rounds interleaved."""
    ctx = ssl.create_default_context(cafile=str(lab.ca_file))
    ctx.set_alpn_protocols(["http/1.1"])
    work = web_bench.jobs(scale, fetches)
    in_client(lab, "asyncio", lambda: web_bench.raw(work[:200], 50, ctx))  # warm-up
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):  # interleaved: the machine's speed drifts
        for loop in RUNNERS:
            for label, fn in (("raw", web_bench.raw), ("ours", web_bench.ours)):
                rate, _ = in_client(lab, loop, lambda fn=fn: fn(work, 50, ctx))  # type: ignore[misc]
                rates.setdefault((label, loop), []).append(rate)
    return {k: statistics.median(v) for k, v in rates.items()}


def dns_rates(lab: Lab, names: list[str]) -> tuple[dict[str, float], float]:
    server = lab.resolver[0]
    in_client(lab, "asyncio", lambda: dns_bench.resolve_all(server, names, 500))  # warms Unbound
    ours = {loop: in_client(lab, loop, lambda: dns_bench.resolve_all(server, names, 500))[0] for loop in RUNNERS}
    return ours, dns_bench.dnsperf(lab, server, names, 500)


def row(what: str, value: str, goal: str = "", met: bool | None = None) -> str:
    mark = "" if met is None else ("yes" if met else "**no**")
    return f"| {what} | {value} | {goal} | {mark} |"


def sweep_rows(label: str, r: SweepRun) -> list[str]:
    return [
        row(f"{label}: sites/s", f"{r.rate:.0f} ({r.sites} sites in {r.wall:.1f} s, exit {r.exit_code},"
            f" verdicts {'as expected' if r.correct else 'NOT as expected: ' + str(dict(r.verdicts))})",
            f">= {GOALS['sweep']:.0f}", r.rate >= GOALS["sweep"]),
        row(f"{label}: per-site time p50 / p99", f"{r.quantile(0.5):.2f} s / {r.quantile(0.99):.2f} s"),
        row(f"{label}: CPU per site", f"{1000 * r.cpu / r.sites:.1f} ms"),
        row(f"{label}: peak RSS", f"{r.peak_rss_mib:.0f} MiB"),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", type=int, default=10_000)
    p.add_argument("--big", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--check-sites", type=int, default=1000, help="sites of each per-check sweep")
    p.add_argument("--full-sites", type=int, default=None,
                   help="sites of the full-check sweep (default --sites: enough for the rate to be a rate)")
    p.add_argument("--report-sites", default="10000,100000",
                   help="sites of the report benchmark's sweeps (comma-separated)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--lab", help="state file of a running lab with scale >= --big (else one is brought up)")
    args = p.parse_args()
    if shutil.which("dnsperf") is None:
        raise SystemExit("dnsperf is not installed: apt-get install dnsperf")
    scale = max(args.sites, args.big)
    lab = Lab.load(Path(args.lab)) if args.lab else Lab.up(scale=scale)
    lines: list[str] = []
    try:
        say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        say(f"standard sweep of {args.sites} sites, 1 process ...")
        one = sweep(lab, args.sites, concurrency=args.concurrency, extra=["--workers", "1"])
        say(f"standard sweep of {args.sites} sites, 2 worker processes ...")
        two = sweep(lab, args.sites, concurrency=args.concurrency, extra=["--workers", "2"])
        say(f"standard sweep of {args.sites} sites, Dask LocalCluster of 2 worker processes ...")
        dask2 = sweep(lab, args.sites, concurrency=args.concurrency, extra=["--cluster", "local:2"])
        best = max(one, two, key=lambda r: r.rate)
        say("DNS: our resolver layer vs dnsperf ...")
        names = [h for h, *_ in scale_mod.sites(20_000)]
        dns, perf = dns_rates(lab, names)
        say("HTTPS over IPv6: our fetcher vs a raw asyncio+ssl loop ...")
        https = https_rates(lab, scale)
        raw_https = https[("raw", "asyncio")]
        say("dig + curl shell loop over 200 sites ...")
        sample = [h for h, *_ in scale_mod.sites(200)]  # two whole periods: the sweep's proportions
        loop = shell_loop(lab, sample)
        small_n = max(1, args.big // 10)
        say(f"DNS-only streamed sweeps of {small_n} and {args.big} targets ...")
        small = sweep(lab, small_n, concurrency=args.concurrency, checks=DNS_CHECKS, extra=["--workers", "1"])
        big = sweep(lab, args.big, concurrency=args.concurrency, checks=DNS_CHECKS, extra=["--workers", "1"])
        say(f"per-check cost: sweeps of {args.check_sites} sites, the standard checks plus each other ...")
        costs = checks_bench.check_costs(lab, min(args.check_sites, scale), args.concurrency)
        full_sites = min(args.full_sites or args.sites, scale)
        say(f"full-check sweep of {full_sites} sites, --workers 2 ...")
        full = full_bench.measure(lab, full_sites, concurrency=args.concurrency)
        storage_sites = min(2 * args.check_sites, scale)
        say(f"storage: a full-check sweep of {storage_sites} sites in schema 4 and schema 5 ...")
        storage = storage_bench.bench_rows(lab, storage_sites)
        reports = []
        for n in (int(x) for x in str(args.report_sites).split(",") if x.strip()):
            say(f"report of a synthesized sweep of {n} sites ...")
            reports.append(report_bench.run(n))
        slope = (big.peak_rss_mib - small.peak_rss_mib) / (args.big - small_n)  # MiB per target
        at_1m = big.peak_rss_mib + slope * (1_000_000 - args.big)

        lines = [
            f"# v6scan benchmarks, {dt.date.today().isoformat()}",
            "",
            f"Machine: {platform.node()}, {platform.machine()}, {_cores()} cores, Python {platform.python_version()};"
            f" the lab servers (Unbound, NSD, nginx) share the cores.  Lab in scale mode ({scale} sites: 70 %"
            " healthy, 15 % IPv4-only, 5 % dropped IPv6, 5 % refused IPv6, 5 % NXDOMAIN).  Concurrency"
            f" {args.concurrency}, timeout 5 s, `--per-prefix 256` (the lab's IPv4 servers share one /24);"
            " sweeps on uvloop (v6scan's default event loop).",
            "",
            "| measure | result | goal | met |",
            "|---|---|---|---|",
            *sweep_rows("standard sweep, 1 process", one),
            *sweep_rows("standard sweep, --workers 2", two),
            *sweep_rows("standard sweep, --cluster local:2 (Dask)", dask2),
            *(row(f"DNS: ours ({loop}) / dnsperf", f"{rate / perf:.2f} ({rate:.0f} vs {perf:.0f} lookups/s)",
                  f">= {GOALS['dns']}", rate / perf >= GOALS["dns"]) for loop, rate in dns.items()),
            *(row(f"HTTPS over IPv6: ours ({loop}) / raw asyncio+ssl loop (asyncio)",
                  f"{https[('ours', loop)] / raw_https:.2f} ({https[('ours', loop)]:.0f} vs {raw_https:.0f}"
                  " fetches/s)", f">= {GOALS['https']}", https[("ours", loop)] / raw_https >= GOALS["https"])
              for loop in RUNNERS),
            row("HTTPS over IPv6: ours / raw loop, both on uvloop",
                f"{https[('ours', 'uvloop')] / https[('raw', 'uvloop')]:.2f} ({https[('ours', 'uvloop')]:.0f} vs"
                f" {https[('raw', 'uvloop')]:.0f} fetches/s)"),
            row("sweep / dig+curl loop", f"{best.rate / loop:.0f}x ({best.rate:.0f} vs {loop:.2f} sites/s)",
                f">= {GOALS['loop']:.0f}x", best.rate / loop >= GOALS["loop"]),
            row(f"DNS-only streamed sweep, {small_n} targets: peak RSS", f"{small.peak_rss_mib:.0f} MiB"
                f" ({small.rate:.0f} sites/s)"),
            row(f"DNS-only streamed sweep, {args.big} targets: peak RSS", f"{big.peak_rss_mib:.0f} MiB"
                f" ({big.rate:.0f} sites/s)"),
            row("RSS slope / extrapolated to 1M targets", f"{slope * 1024 * 1024:.0f} bytes/target /"
                f" {at_1m:.0f} MiB", f"<= {GOALS['rss_1m']:.0f} MiB", at_1m <= GOALS["rss_1m"]),
            *storage,
            row(f"full-check sweep (`--checks all`, crawl on) of {full.sites} sites, --workers 2: sites/s",
                f"{full.full.rate:.0f} ({full.full.steady_rate:.0f} between 10 % and 90 % done;"
                f" {1000 * full.full.cpu / full.full.sites:.1f} ms CPU per site;"
                f" {'verdicts as expected' if full.full.correct else 'verdicts differ'})",
                f">= {full_bench.GOAL:.0f}", full.full.rate >= full_bench.GOAL and full.full.correct),
            *(row(f"`v6scan report` of {r.sites:,} sites: time / peak RSS (all processes) / entry page",
                  f"{r.seconds:.1f} s / {r.tree_rss_mib:.0f} MiB / {r.entry_kib:.0f} KiB",
                  "<= 60 s per 100,000 sites, <= 300 MB, entry < 2 MB",
                  r.seconds <= 60 * r.sites / 100_000 and r.tree_rss_mib <= 300 and r.entry_kib < 2048)
              for r in reports),
            "",
            *checks_bench.rows(min(args.check_sites, scale), *costs),
            "",
            *full_bench.rows(full),
            "",
            *(line for r in reports for line in report_bench.rows(r)),
        ]
    finally:
        if not args.lab:
            lab.down()
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{dt.date.today().isoformat()}.md").write_text(text)


def _cores() -> int:
    return int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or 0)


if __name__ == "__main__":
    sys.exit(main())
