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

from v6scan.store import MIGRATIONS, Store, decode_evidence, expand_checks, unpack_time

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
    con.execute("ATTACH DATABASE ? AS src", [str(src)])
    for table in ("sweeps", "targets", "chunks"):
        con.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table}")  # noqa: S608
    dicts = {int(i): bytes(d) for i, d in con.execute("SELECT id, data FROM src.zlib_dictionaries")}
    cur = con.execute("SELECT o.id, o.sweep_id, o.target_id, o.check_id, o.name, o.status, b.data, o.error,"
                      " o.elapsed_ms, o.started_at, o.vantage FROM src.observations o"
                      " JOIN src.evidence_blobs b ON b.hash = o.evidence_hash ORDER BY o.id")
    while batch := cur.fetchmany(5000):
        con.executemany("INSERT INTO main.observations (id, sweep_id, target_id, check_id, name, status, evidence,"
                        " error, elapsed_ms, started_at, vantage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(*r[:6], decode_evidence(r[6], dicts), r[7], r[8], unpack_time(r[9]), r[10])
                         for r in batch])
    cur = con.execute("SELECT id, sweep_id, target_id, policy, verdict, score, points, names, checks, reasons,"
                      " scored_at FROM src.verdicts ORDER BY id")
    while batch := cur.fetchmany(5000):
        con.executemany("INSERT INTO main.verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(*r[:8], json.dumps(expand_checks(json.loads(r[8]), json.loads(r[7]))), *r[9:])
                         for r in batch])
    con.commit()
    con.execute("DETACH DATABASE src")
    db.close()


def replicate(src: Path, dst: Path, times: int) -> None:
    """A schema 5 copy of ``src`` with its finished sites ``times`` times over (``name`` becomes
    ``r{k}-name`` in every row and inside evidence and verdicts)."""
    work = dst.with_suffix(".src.db")
    shutil.copyfile(src, work)
    Store(work).close()  # migrated to schema 5
    old = sqlite3.connect(work)
    dst.unlink(missing_ok=True)
    with Store(dst) as out:
        sweep = old.execute("SELECT id, policy, config FROM sweeps ORDER BY id LIMIT 1").fetchone()
        sid = out.start_sweep([], json.loads(sweep[2]), sweep[1])
        dicts = {int(i): bytes(d) for i, d in old.execute("SELECT id, data FROM zlib_dictionaries")}
        from v6scan.store import _put_blobs
        targets = old.execute("SELECT id, name, display, sector, region, organisation, source, started, finished"
                              " FROM targets WHERE sweep_id = ? AND status = 'done' ORDER BY position",
                              [sweep[0]]).fetchall()
        position = 0
        with out.db.conn:
            for k in range(times):
                for tid, name, display, sector, region, org, source, started, finished in targets:
                    new = f"r{k}-{name}"

                    def swap(text: str, name: str = name, new: str = new) -> str:
                        return text.replace(name, new)

                    cur = out.db.conn.execute(
                        "INSERT INTO targets (sweep_id, position, shuffle, name, display, sector, region,"
                        " organisation, source, status, started, finished) VALUES"
                        " (?, ?, ?, ?, ?, ?, ?, ?, ?, 'done', ?, ?)",
                        [sid, position, position, new, swap(display), sector, region, org, source, started, finished])
                    position += 1
                    new_tid = cur.lastrowid
                    obs = old.execute("SELECT o.check_id, o.name, o.status, b.data, o.error, o.elapsed_ms,"
                                      " o.started_at, o.vantage FROM observations o JOIN evidence_blobs b"
                                      " ON b.hash = o.evidence_hash WHERE o.target_id = ? ORDER BY o.id",
                                      [tid]).fetchall()
                    hashes = _put_blobs(out.db.conn, [swap(decode_evidence(r[3], dicts)) for r in obs])
                    out.db.conn.executemany(
                        "INSERT INTO observations (sweep_id, target_id, check_id, name, status, evidence_hash,"
                        " error, elapsed_ms, started_at, vantage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(sid, new_tid, r[0], swap(r[1]), r[2], h, r[4] and swap(r[4]), r[5], r[6], r[7])
                         for r, h in zip(obs, hashes, strict=True)])
                    for v in old.execute("SELECT policy, verdict, score, points, names, checks, reasons, scored_at"
                                         " FROM verdicts WHERE target_id = ?", [tid]).fetchall():
                        out.db.conn.execute(
                            "INSERT INTO verdicts (sweep_id, target_id, policy, verdict, score, points, names,"
                            " checks, reasons, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [sid, new_tid, v[0], v[1], v[2], v[3], swap(v[4]), swap(v[5]), swap(v[6]), v[7]])
            out.db.conn.execute("UPDATE sweeps SET targets = ? WHERE id = ?", [position, sid])
    old.close()
    work.unlink()


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
    ev5 = after.share("observations", "observations_target", "evidence_blobs", "zlib_dictionaries")
    return [
        f"| storage, {label}: bytes per site (schema 4 → 5) | {before.per_site:,.0f} → {after.per_site:,.0f}"
        f" ({after.sites} sites; {before.file_bytes / 1e6:.1f} → {after.file_bytes / 1e6:.1f} MB) |"
        f" <= {GOAL_BYTES_PER_SITE:,} | {'yes' if met else '**no**'} |",
        f"| storage: observations and evidence per site | {ev4:,.0f} → {ev5:,.0f}"
        f" (evidence documents {after.share('evidence_blobs'):,.0f}, observation rows"
        f" {after.share('observations'):,.0f}) | | |",
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
