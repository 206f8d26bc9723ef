"""What each check costs per site: the standard sweep alone, then with each other check added.

    .venv/bin/python -m benchmarks.checks [--sites 1000] [--lab STATE_FILE]

For every check outside the standard sweep (``benchmarks.sweep.STANDARD_CHECKS``), one ``v6scan scan``
of the same scale-mode sites runs with the standard checks plus that check, and one with the
standard checks alone; the table gives, per check, the sites/s and CPU per site of the sweep with it
against the standard sweep, and the check's own time per name it measured (median and p99 of its
observations' ``elapsed_ms``, skipped ones left out; they overlap other checks').  A last row is
what ``scan`` runs when ``--checks`` is not given (:func:`v6scan.registry.sweep_checks`): the
checks marked ``in_sweeps=False`` are the ones left out of it because of the cost this table shows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.sweep import STANDARD_CHECKS, SweepRun, sweep
from tests.lab import Lab
from v6scan.checks.base import Phase
from v6scan.registry import CHECKS, sweep_checks
from v6scan.store import connect

__all__ = ["CheckCost", "check_costs", "rows"]


@dataclass
class CheckCost:
    check: str
    run: SweepRun
    #: the check's own observations' elapsed_ms (one per site name it measured: not the skipped ones)
    elapsed_ms: list[float]

    def quantile(self, q: float) -> float:
        if len(self.elapsed_ms) < 2:
            return self.elapsed_ms[0] if self.elapsed_ms else 0.0
        return statistics.quantiles(self.elapsed_ms, n=100, method="inclusive")[round(q * 100) - 1]


def _elapsed(db: Path, check: str) -> list[float]:
    con = connect(db)  # the observations view needs v6scan_inflate
    try:
        return sorted(float(v) for (v,) in con.execute(
            "SELECT elapsed_ms FROM observations WHERE check_id = ? AND elapsed_ms IS NOT NULL"
            " AND status != 'skipped'", (check,)))
    finally:
        con.close()


def check_costs(lab: Lab, sites: int, concurrency: int) -> tuple[SweepRun, list[CheckCost], SweepRun]:
    """The standard sweep, the standard sweep plus each other check, and the default sweep."""
    standard = STANDARD_CHECKS.split(",")
    work = lab.directory
    base = sweep(lab, sites, concurrency=concurrency, extra=["--workers", "1"])
    costs: list[CheckCost] = []
    for cid, check in CHECKS.items():
        if cid in standard or check.phase is Phase.SCANNER:
            continue
        print(f"  + {cid} ...", file=sys.stderr, flush=True)
        run = sweep(lab, sites, concurrency=concurrency, checks=",".join([*standard, cid]),
                    extra=["--workers", "1"])
        costs.append(CheckCost(cid, run, _elapsed(work / f"bench-{sites}.db", cid)))
    default = sweep(lab, sites, concurrency=concurrency, checks=",".join(sweep_checks() or CHECKS),
                    extra=["--workers", "1"])
    return base, costs, default


def rows(sites: int, base: SweepRun, costs: list[CheckCost], default: SweepRun) -> list[str]:
    """The per-check table (markdown)."""
    base_cpu = 1000 * base.cpu / base.sites
    out = [
        f"Per-check cost: {sites} scale-mode sites, one process; the standard sweep"
        f" ({STANDARD_CHECKS.replace(',', ', ')}) with each other check added.",
        "",
        f"| check | in sweeps by default | sites/s (standard: {base.rate:.0f}) | CPU ms/site (standard:"
        f" {base_cpu:.1f}) | added CPU ms/site | its time per measured name p50 / p99 |",
        "|---|---|---|---|---|---|",
    ]
    for c in costs:
        cpu = 1000 * c.run.cpu / c.run.sites
        out.append(f"| {c.check} | {'yes' if CHECKS[c.check].in_sweeps else '**no**'} | {c.run.rate:.0f} |"
                   f" {cpu:.1f} | {cpu - base_cpu:+.1f} |"
                   f" {c.quantile(0.5):.0f} ms / {c.quantile(0.99):.0f} ms |")
    left_out = [i for i in CHECKS if sweep_checks() and i not in sweep_checks()]
    out += ["", f"Default sweep (`scan` without `--checks`: every check but {', '.join(left_out) or 'none'}):"
            f" {default.rate:.0f} sites/s, {1000 * default.cpu / default.sites:.1f} ms CPU/site,"
            f" p50 / p99 per site {default.quantile(0.5):.2f} s / {default.quantile(0.99):.2f} s."]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--lab", help="state file of a running lab in scale mode (else one is brought up)")
    args = p.parse_args()
    lab = Lab.load(Path(args.lab)) if args.lab else Lab.up(scale=args.sites)
    try:
        print("\n".join(rows(args.sites, *check_costs(lab, args.sites, args.concurrency))))
    finally:
        if not args.lab:
            lab.down()


if __name__ == "__main__":
    main()
