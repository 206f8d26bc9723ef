"""Storage benchmark: bytes per site of a full-check sweep database, schema 4 (before) against schema 5.

    .venv/bin/python -m benchmarks.storage [--sites 2000] [--lab STATE_FILE]
    .venv/bin/python -m benchmarks.storage --db SWEEP.db [--replicate 100]

A full-check sweep (``v6scan scan --checks all``) of ``--sites`` scale-lab sites writes a schema 5
database (what v6scan writes today).  The same rows are then written in the schema 4 layout
(:func:`to_v4`: evidence as JSON text in each observation, verdicts' checks as full JSON, the index on
observations by sweep, check and status), and both files are measured after ``VACUUM``: file bytes per
finished site, and per table and index (SQLite's ``dbstat``), so what dominates is visible.

``--db`` measures an existing sweep database instead (of any schema: it is copied and migrated);
``--replicate N`` first copies its sites N times under new names (the names rewritten inside the
evidence and verdicts too, so nothing is shared that would not be), for example the 12-scenario lab
sweep in ``tests/data/sweep-1c815f1.db.gz``.

:func:`bench_rows` (on ``make bench``'s lab) and :func:`rows` give the Markdown table rows for ``make bench``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from v6scan.model import Observation
from v6scan.scoring import load_policy, score_target
from v6scan.store import MIGRATIONS, Store
from v6scan.targets import Target

if TYPE_CHECKING:
    from tests.lab import Lab

__all__ = ["GOAL_BYTES_PER_SITE", "Measure", "bench_rows", "compare", "measure", "replicate", "rows", "to_v4"]

GOAL_BYTES_PER_SITE = 5000


@dataclass
class Measure:
    schema: int
    sites: int
    file_bytes: int
    #: bytes of each table and index (dbstat), largest first
    objects: dict[str, int] = field(default_factory=dict)

    @property
    def per_site(self) -> float:
        return self.file_bytes / max(1, self.sites)

    def share(self, *names: str) -> float:
        """Bytes per site of the named tables and indexes."""
        return sum(self.objects.get(n, 0) for n in names) / max(1, self.sites)

    def top(self, n: int = 4) -> str:
        return ", ".join(f"{k} {v / max(1, self.sites):.0f}" for k, v in list(self.objects.items())[:n])


def measure(db: Path) -> Measure:
    """Vacuum ``db`` (a copy you may change) and measure it."""
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("VACUUM")
        schema = int(con.execute("PRAGMA user_version").fetchone()[0])
        sites = int(con.execute("SELECT count(*) FROM targets WHERE status = 'done'").fetchone()[0])
        objects = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall())
    finally:
        con.close()
    return Measure(schema, sites, db.stat().st_size, {str(k): int(v) for k, v in objects.items()})


def to_v4(src: Path, dst: Path) -> None:
    """Write the sweeps, targets, observations and verdicts of ``src`` (schema 5) as v6scan wrote them
    before schema 5 (schema 4): evidence JSON text in every observation, verdicts' checks in full."""
    import sqlite_utils

    dst.unlink(missing_ok=True)
    db = sqlite_utils.Database(dst)
    for v in (1, 2, 3, 4):
        MIGRATIONS[v](db)
    db.execute("PRAGMA user_version=4")
    con = db.conn
    with Store(src) as s:
        con.execute("ATTACH DATABASE ? AS src", [str(src)])
        for table in ("sweeps", "targets", "chunks"):
            con.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table}")  # noqa: S608
        con.commit()
        con.execute("DETACH DATABASE src")
        for (sid,) in s.db.execute("SELECT id FROM sweeps").fetchall():
            vantage = dict(s.db.execute("SELECT target_id, vantage FROM observation_packs WHERE sweep_id = ?", [sid]))
            for row, obs in s.observations(sid):
                con.executemany(
                    "INSERT INTO observations (sweep_id, target_id, check_id, name, status, evidence, error,"
                    " elapsed_ms, started_at, vantage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(sid, row["tid"], o.check, o.target, str(o.status), json.dumps(dict(o.evidence), default=str),
                      o.error, round(o.elapsed_ms, 3), o.started_at, vantage.get(row["tid"])) for o in obs])
            for policy in s.policies(sid):
                con.executemany(
                    "INSERT INTO verdicts (id, sweep_id, target_id, policy, verdict, score, points, names, checks,"
                    " reasons, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(v["id"], sid, v["target_id"], policy, v["verdict"], v["score"], v["points"],
                      json.dumps(v["names"]), json.dumps(v["checks"]), json.dumps(v["reasons"]), v["scored_at"])
                     for v in s.verdict_rows(sid, policy)])
    con.commit()
    db.close()


def replicate(src: Path, dst: Path, times: int) -> None:
    """A schema 5 copy of ``src`` with its finished sites ``times`` times over (``name`` becomes
    ``r{k}-name`` in every row and inside the evidence; verdicts scored again under the sweep's policy,
    or the default policy when it is not a built-in one)."""
    dst.unlink(missing_ok=True)
    with Store(src) as old, Store(dst) as out:
        sweep = old.sweeps()[0]
        try:
            policy = load_policy(sweep["policy"])
        except Exception:  # a policy file this machine does not have
            policy = load_policy()
        sites = list(old.observations(sweep["id"]))
        targets = [Target(f"r{k}-{row['tname']}", f"r{k}-{row['display']}", sector=row["sector"],
                          region=row["region"], organisation=row["organisation"])
                   for k in range(times) for row, _ in sites]
        sid = out.start_sweep(targets, json.loads(sweep["config"]), policy.name)
        for k in range(times):
            batch = []
            for row, obs in sites:
                name, new = row["tname"], f"r{k}-{row['tname']}"
                swapped = [Observation.from_json(json.loads(json.dumps(o.to_json(), default=str).replace(name, new)))
                           for o in obs]
                batch.append((new, row["started"], row["finished"], swapped, score_target(new, swapped, policy)))
            out.record(sid, batch)
        out.finish_sweep(sid)


def compare(v5_db: Path, workdir: Path) -> tuple[Measure, Measure]:
    """(schema 4, schema 5) measures of the sweep in ``v5_db`` (copied, never changed)."""
    after = workdir / "after.db"
    shutil.copyfile(v5_db, after)
    before = workdir / "before.db"
    to_v4(after, before)
    return measure(before), measure(after)


def rows(before: Measure, after: Measure, label: str) -> list[str]:
    """Markdown table rows (``| measure | result | goal | met |``) for ``make bench``."""
    met = after.per_site <= GOAL_BYTES_PER_SITE
    ev4 = before.share("observations", "observations_sweep_check", "observations_target")
    ev5 = after.share("observation_packs", "zlib_dictionaries")
    return [
        f"| storage, {label}: bytes per site (schema 4 → 5) | {before.per_site:,.0f} → {after.per_site:,.0f}"
        f" ({after.sites} sites; {before.file_bytes / 1e6:.1f} → {after.file_bytes / 1e6:.1f} MB) |"
        f" <= {GOAL_BYTES_PER_SITE:,} | {'yes' if met else '**no**'} |",
        f"| storage: observations and evidence per site | {ev4:,.0f} → {ev5:,.0f}"
        f" (packs {after.share('observation_packs'):,.0f}, dictionaries {after.share('zlib_dictionaries'):,.0f})"
        " | | |",
        f"| storage: verdicts per site | {before.share('verdicts'):,.0f} → {after.share('verdicts'):,.0f} | | |",
        f"| storage: largest objects per site, schema 5 | {after.top()} | | |",
    ]


def lab_sweep(lab: Lab, sites: int, workdir: Path) -> Path:
    """A full-check sweep (``--checks all``, ``--workers 2``) of ``sites`` scale-lab sites into
    ``workdir``; the database's path."""
    from benchmarks.sweep import sweep

    sweep(lab, sites, concurrency=500, checks="all", extra=["--workers", "2"], workdir=workdir)
    return workdir / f"bench-{sites}.db"


def bench_rows(lab: Lab, sites: int = 2000) -> list[str]:
    """``make bench``'s storage rows: a full-check sweep of ``sites`` sites of the running scale
    ``lab`` (it needs at least ``sites``), measured in schema 4 and in schema 5."""
    with tempfile.TemporaryDirectory(prefix="v6scan-storage-") as tmp:
        before, after = compare(lab_sweep(lab, sites, Path(tmp)), Path(tmp))
    return rows(before, after, f"full-check sweep of {sites} scale-lab sites")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", type=int, default=2000)
    p.add_argument("--lab", type=Path, help="state file of a running scale lab (else one is brought up)")
    p.add_argument("--db", type=Path, help="measure this sweep database instead of sweeping")
    p.add_argument("--replicate", type=int, default=1)
    p.add_argument("--keep", type=Path, help="copy the measured schema 5 database here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="v6scan-storage-") as tmp:
        work = Path(tmp)
        if args.db:
            src = work / "src.db"
            if args.db.suffix == ".gz":
                with gzip.open(args.db, "rb") as f, src.open("wb") as g:
                    shutil.copyfileobj(f, g)
            else:
                shutil.copyfile(args.db, src)
            db = work / "sweep.db"
            replicate(src, db, args.replicate)
            label = f"{args.db.name} x{args.replicate}"
            before, after = compare(db, work)
        else:
            from tests.lab import Lab

            lab = Lab.load(args.lab) if args.lab else Lab.up(scale=args.sites)
            try:
                db = lab_sweep(lab, args.sites, work)
            finally:
                if not args.lab:
                    lab.down()
            label = f"full-check sweep of {args.sites} scale-lab sites"
            before, after = compare(db, work)
        if args.keep:
            shutil.copyfile(work / "after.db", args.keep)
    print("| measure | result | goal | met |\n|---|---|---|---|")
    print("\n".join(rows(before, after, label)))
    for m in (before, after):
        print(f"\nschema {m.schema}: {m.per_site:,.0f} bytes/site; per site: "
              + ", ".join(f"{k} {v / max(1, m.sites):,.0f}" for k, v in m.objects.items()), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
