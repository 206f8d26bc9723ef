"""Full-check sweep benchmark: every check (``--checks all``, link crawl on) with ``--workers 2``,
next to the standard sweep, and where the full sweep's time goes.

    .venv/bin/python -m benchmarks.full [--sites 2000] [--per-check] [--lab STATE_FILE]

Both sweeps run on the same scale-mode lab sites (``tests/lab/scale.py``: every page links three
2nd-level pages and one 3rd-level page, so ``web.links`` crawls) with ``--workers 2``, concurrency
500 and timeout 5 s, as ``benchmarks.sweep`` runs them (CPU time of the scanner and its workers,
peak RSS, per-site p50/p99 from the database, verdict counts against the lab's known answer).  For
the full sweep the table also gives each check's own time per measured name (p50/p99 of its
observations' ``elapsed_ms``: waiting included, so it says where a site's time goes, not what it
costs).  ``--per-check`` adds ``benchmarks.checks``' table: the CPU each check adds per site to the
standard sweep, one sweep per check.

The lead's ``benchmarks/__main__`` calls :func:`measure` and :func:`rows`.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import checks as checks_bench
from benchmarks.sweep import SweepRun, sweep
from tests.lab import Lab
from tests.lab import scale as scale_mod
from v6scan.checks.base import Phase
from v6scan.registry import CHECKS
from v6scan.store import connect

__all__ = ["ALL_CHECKS", "GOAL", "FullRun", "measure", "rows"]

#: every check, as ``--checks all`` selects them (named one by one so the bench policy requires them)
ALL_CHECKS = ",".join(CHECKS)
#: sites/s the full-check sweep should reach with --workers 2 (issue 16, item 4)
GOAL = 100.0


@dataclass
class FullRun:
    sites: int
    standard: SweepRun
    full: SweepRun
    #: check id -> its observations' elapsed_ms in the full sweep (skipped ones left out)
    elapsed_ms: dict[str, list[float]] = field(default_factory=dict)
    #: benchmarks.checks' per-check runs (``--per-check``), else None
    per_check: tuple[SweepRun, list[checks_bench.CheckCost], SweepRun] | None = None


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _elapsed(db: Path) -> dict[str, list[float]]:
    con = connect(db)  # the observations view needs v6scan_inflate
    try:
        out: dict[str, list[float]] = {}
        for cid, ms in con.execute("SELECT check_id, elapsed_ms FROM observations WHERE elapsed_ms IS NOT NULL"
                                   " AND status != 'skipped'"):
            out.setdefault(str(cid), []).append(float(ms))
        return {k: sorted(v) for k, v in out.items()}
    finally:
        con.close()


def measure(lab: Lab, sites: int, *, concurrency: int = 500, workers: int = 2, per_check: bool = False) -> FullRun:
    """The standard sweep and the full-check sweep of the first ``sites`` scale-mode sites, each with
    ``--workers``; with ``per_check`` also ``benchmarks.checks``' per-check cost."""
    extra = ["--workers", str(workers)]
    standard = sweep(lab, sites, concurrency=concurrency, extra=extra)
    full = sweep(lab, sites, concurrency=concurrency, checks=ALL_CHECKS, extra=extra)
    elapsed = _elapsed(lab.directory / f"bench-{sites}.db")
    costs = checks_bench.check_costs(lab, sites, concurrency) if per_check else None
    return FullRun(sites, standard, full, elapsed, costs)


def _row(label: str, r: SweepRun, goal: str = "") -> str:
    verdicts = "verdicts as expected" if r.correct else f"**verdicts differ**: {dict(r.verdicts)} (expected" \
                                                        f" {dict(r.expected)})"
    return (f"| {label} | **{r.rate:.0f} sites/s** ({r.steady_rate:.0f} sites/s between 10 % and 90 % done),"
            f" p50/p99 per site {r.quantile(0.5):.1f}/{r.quantile(0.99):.1f} s,"
            f" {1000 * r.cpu / r.sites:.1f} ms CPU per site, peak RSS {r.peak_rss_mib:.0f} MiB, exit"
            f" {r.exit_code}; {verdicts} | {goal} |")


def rows(run: FullRun) -> list[str]:
    """Markdown: the two sweeps as rows of the ``make bench`` table (measure | result | goal), then the
    full sweep's per-check times and, when measured, the per-check CPU table."""
    level2, level3 = scale_mod.LINKS
    met = "met" if run.full.rate >= GOAL and run.full.correct else "not met"
    out = [
        "| measure | result | goal |",
        "|---|---|---|",
        _row(f"standard sweep of {run.sites:,} sites, `--workers 2`", run.standard),
        _row(f"full-check sweep of {run.sites:,} sites (`--checks all`: every check, link crawl on: {level2}"
             f" 2nd-level and {level3} 3rd-level internal links per page), `--workers 2`", run.full,
             f">= {GOAL:.0f} sites/s: {met}"),
        "",
        f"Where a full-check site's time goes: each check's own time per measured name in the full sweep"
        f" ({run.sites:,} sites; waiting included, checks overlap).",
        "",
        "| check | names measured | p50 | p99 |",
        "|---|---|---|---|",
    ]
    for cid in CHECKS:
        ms = run.elapsed_ms.get(cid, [])
        if CHECKS[cid].phase is Phase.SCANNER or not ms:
            continue
        out.append(f"| {cid} | {len(ms)} | {_quantile(ms, 0.5):.0f} ms | {_quantile(ms, 0.99):.0f} ms |")
    if run.per_check is not None:
        out += ["", *checks_bench.rows(run.sites, *run.per_check)]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--per-check", action="store_true", help="also the CPU each check adds (one sweep per check)")
    p.add_argument("--lab", help="state file of a running lab in scale mode (else one is brought up)")
    args = p.parse_args()
    lab = Lab.load(Path(args.lab)) if args.lab else Lab.up(scale=args.sites)
    try:
        print("\n".join(rows(measure(lab, args.sites, concurrency=args.concurrency, workers=args.workers,
                                     per_check=args.per_check))))
    finally:
        if not args.lab:
            lab.down()


if __name__ == "__main__":
    main()
