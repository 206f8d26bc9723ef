"""The one module that touches SQLite (through sqlite-utils).

Tables: ``sweeps`` (one row per sweep: when, config, policy, version), ``targets`` (every target of
a sweep with its metadata and whether it is done), ``observation_packs`` (per target all its
observations, packed: :mod:`v6scan.store_codec`), ``verdicts`` (per target and policy) and
``zlib_dictionaries`` (what packed columns are compressed with).  Views ``site_verdicts``,
``check_results``, ``sector_summary``, ``region_summary``, ``observations`` and ``site_observations``
make the file pleasant in datasette or the sqlite3 shell.

Schema 5 packs what it stores (a tenth of schema 4's bytes per site).  Plain SQL reads every table
and view but the packed columns (``observation_packs.data``, ``verdicts.details``) and the views
made from them (``observations``, ``site_observations``, ``check_results``): those need the SQL function
``v6scan_inflate``, which :func:`connect`, :class:`Store` and v6scan's datasette plugin define.
``verdicts.checks`` is JSON with each check's ``result``; the rest of each check (its summary, its
details per name) is in ``verdicts.details``; :meth:`Store.verdict_rows` gives them whole.

WAL mode; one writer; a finished target's observations, its "done" mark and
its verdict are written in one transaction, so a crash loses no finished
target and never leaves half of one.  The schema version lives in
``PRAGMA user_version`` and is migrated forward on open.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import signal
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from v6scan import __version__
from v6scan.errors import V6scanError
from v6scan.indicators import PARTS, Indicators, indicators
from v6scan.model import JSON, EncodedEvidence, Observation, Status, now_iso
from v6scan.providers import Attribution, ProviderTable, attribute
from v6scan.scoring import Policy, SiteVerdict, score_target
from v6scan.store_codec import (
    BUILTIN_ID,
    DICTIONARY_SAMPLES,
    Dictionaries,
    deflate,
    dictionary_from,
    join_checks,
    pack_observations,
    register,
    split_checks,
    unpack_observations,
)
from v6scan.store_zdict import ZDICT
from v6scan.targets import Target

__all__ = ["SCHEMA_VERSION", "Store", "StoreError", "SweepDiff", "config_hash", "connect"]

SCHEMA_VERSION = 7
#: bytes per database page (SQLite's default is 4096): a packed row of 2-3 KB left most of a 4 KiB
#: page unused; measured on a 2,000-site full-check sweep, 16 KiB pages store it in 16 % fewer bytes
PAGE_SIZE = 16384


class StoreError(V6scanError, RuntimeError):
    """A database v6scan cannot use, or a sweep, target or verdict it does not hold."""


def config_hash(config: Mapping[str, JSON]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _create_v1(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            policy TEXT NOT NULL,
            version TEXT NOT NULL,
            config TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            targets INTEGER NOT NULL DEFAULT 0,
            note TEXT
        )""")
    db.execute("""
        CREATE TABLE targets (
            id INTEGER PRIMARY KEY,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            display TEXT NOT NULL,
            sector TEXT,
            region TEXT,
            organisation TEXT,
            source TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            started TEXT,
            finished TEXT,
            UNIQUE (sweep_id, name)
        )""")
    db.execute("""
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
            check_id TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            evidence TEXT NOT NULL,
            error TEXT,
            elapsed_ms REAL,
            started_at TEXT
        )""")
    db.execute("""
        CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
            policy TEXT NOT NULL,
            verdict TEXT NOT NULL,
            score INTEGER NOT NULL,
            points REAL,
            names TEXT NOT NULL,
            checks TEXT NOT NULL,
            reasons TEXT NOT NULL,
            scored_at TEXT NOT NULL,
            UNIQUE (target_id, policy)
        )""")
    for sql in (
        "CREATE INDEX targets_sweep_status ON targets (sweep_id, status)",
        "CREATE INDEX observations_target ON observations (target_id)",
        "CREATE INDEX observations_sweep_check ON observations (sweep_id, check_id, status)",
        "CREATE INDEX verdicts_sweep_policy ON verdicts (sweep_id, policy, verdict)",
    ):
        db.execute(sql)
    db.execute("""
        CREATE VIEW site_verdicts AS
        SELECT v.sweep_id, v.policy, t.name, t.display, t.sector, t.region, t.organisation,
               v.verdict, v.score, v.points, v.scored_at
        FROM verdicts v JOIN targets t ON t.id = v.target_id""")
    db.execute("""
        CREATE VIEW check_results AS
        SELECT v.sweep_id, v.policy, t.name, t.sector, t.region, c.key AS check_id,
               json_extract(c.value, '$.result') AS result,
               json_extract(c.value, '$.summary') AS summary
        FROM verdicts v JOIN targets t ON t.id = v.target_id, json_each(v.checks) c""")
    summary = """
            CREATE VIEW {dim}_summary AS
            SELECT v.sweep_id, v.policy, coalesce(t.{dim}, '-') AS {dim}, count(*) AS sites,
                   sum(v.verdict = 'ready') AS ready, sum(v.verdict = 'partial') AS partial,
                   sum(v.verdict = 'broken') AS broken, sum(v.verdict = 'absent') AS absent,
                   sum(v.verdict = 'error') AS error, sum(v.verdict = 'inconclusive') AS inconclusive,
                   round(avg(v.score), 1) AS average_score
            FROM verdicts v JOIN targets t ON t.id = v.target_id
            GROUP BY v.sweep_id, v.policy, coalesce(t.{dim}, '-')"""
    for dim in ("sector", "region"):  # a fixed pair of column names, not input
        db.execute(summary.format(dim=dim))


def _v2_shuffle(db: sqlite_utils.Database) -> None:
    """Version 2: each target carries its place in the sweep's shuffled order, so a sweep of a
    million targets streams them from the database instead of shuffling a list in memory."""
    db.execute("ALTER TABLE targets ADD COLUMN shuffle INTEGER")
    for sid, tid, name in db.execute("SELECT sweep_id, id, name FROM targets").fetchall():
        db.execute("UPDATE targets SET shuffle = ? WHERE id = ?", [shuffle_key(sid, name), tid])
    db.execute("CREATE INDEX targets_sweep_shuffle ON targets (sweep_id, shuffle, id)")


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shuffle_key(sweep_id: int, name: str) -> int:
    """A target's place in its sweep's order: neighbouring names (often one provider) are spread
    over the sweep, and the order is the same whenever the sweep is resumed."""
    return int.from_bytes(hashlib.blake2b(f"{sweep_id}:{name}".encode(), digest_size=7).digest(), "big")


def _v3_chunks(db: sqlite_utils.Database) -> None:
    """Version 3: chunks of targets leased to cluster workers, and the vantage point (host) that
    made each observation."""
    db.execute("ALTER TABLE targets ADD COLUMN chunk INTEGER")
    db.execute("ALTER TABLE observations ADD COLUMN vantage TEXT")
    db.execute("""
        CREATE TABLE chunks (
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            chunk INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            targets INTEGER NOT NULL,
            leased_at TEXT,
            lease_expires TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            vantage TEXT,
            PRIMARY KEY (sweep_id, chunk)
        )""")
    db.execute("CREATE INDEX targets_sweep_chunk ON targets (sweep_id, chunk)")


def _v4_retries(db: sqlite_utils.Database) -> None:
    """Version 4: how many times each target was recorded for retry (the scanner at fault), so a
    sweep's retry budget (``max_retries`` in its config) holds across resumes.  A target waiting for
    its retry when the database is migrated has used one."""
    db.execute("ALTER TABLE targets ADD COLUMN retries INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE targets SET retries = 1 WHERE status = 'retry'")


# ------------------------------------------------------------------ schema 5: packed observations
#: what a dictionary packs: a target's observations, or a verdict's details
KINDS = ("observations", "details")


class _Packer:
    """Compresses what the store packs (:mod:`v6scan.store_codec`): with the built-in dictionary
    until a sweep has its own for that kind of document, made from its first
    :data:`DICTIONARY_SAMPLES` documents of the kind by :meth:`ready`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.dictionaries = Dictionaries(lambda: conn.execute("SELECT id, data FROM zlib_dictionaries").fetchall())
        self._current: dict[tuple[int, str], tuple[int, bytes]] = {}
        self._samples: dict[tuple[int, str], list[bytes]] = {}

    def _dictionary(self, key: tuple[int, str]) -> tuple[int, bytes]:
        if key not in self._current:
            row = self.conn.execute("SELECT id, data FROM zlib_dictionaries WHERE sweep_id = ? AND kind = ?"
                                    " ORDER BY rowid DESC LIMIT 1", list(key)).fetchone()
            if row is None:
                return BUILTIN_ID, ZDICT
            self._current[key] = (int(row[0]), bytes(row[1]))
        return self._current[key]

    def pack(self, sweep_id: int, kind: str, text: bytes, sample: bool = True) -> tuple[int, bytes]:
        """(dictionary id, ``text`` compressed with it); ``sample``: ``text`` may go into the sweep's
        dictionary of its kind (not for a target the scanner failed, which is measured again)."""
        key = (sweep_id, kind)
        ident, zdict = self._dictionary(key)
        if ident == BUILTIN_ID and sample:
            samples = self._samples.setdefault(key, [])
            if len(samples) < DICTIONARY_SAMPLES:
                samples.append(text)
        return ident, deflate(text, zdict)

    def ready(self, sweep_id: int) -> None:
        """Make the sweep's dictionaries whose samples are all in (inside the caller's transaction,
        before anything is packed with them: rolled back together)."""
        for kind in KINDS:
            key = (sweep_id, kind)
            samples = self._samples.get(key, [])
            if len(samples) < DICTIONARY_SAMPLES or self._dictionary(key)[0] != BUILTIN_ID:
                continue
            zdict = dictionary_from(samples)
            ident = zlib.adler32(zdict)
            row = self.conn.execute("SELECT data FROM zlib_dictionaries WHERE id = ?", [ident]).fetchone()
            if row is None:
                self.conn.execute("INSERT INTO zlib_dictionaries (id, sweep_id, kind, data) VALUES (?, ?, ?, ?)",
                                  [ident, sweep_id, kind, zdict])
            elif bytes(row[0]) != zdict:  # another dictionary with this Adler-32: keep the built-in one
                del self._samples[key]
                continue
            self.dictionaries.add(ident, zdict)
            self._current[key] = (ident, zdict)

    def committed(self, sweep_id: int) -> None:
        """The transaction that may have made the sweep's dictionaries is committed: their samples go."""
        for kind in KINDS:
            if self._dictionary((sweep_id, kind))[0] != BUILTIN_ID:
                self._samples.pop((sweep_id, kind), None)

    def forget(self, sweep_id: int) -> None:
        """The transaction that may have made the sweep's dictionaries rolled back: look them up again
        (and make them again from the samples, still kept)."""
        for kind in KINDS:
            self._current.pop((sweep_id, kind), None)


def _pack_row(packer: _Packer, sweep_id: int, target_id: int, observations: Sequence[Observation],
              vantage: str | None, sample: bool) -> tuple[Any, ...]:
    ident, data = packer.pack(sweep_id, "observations", pack_observations(observations), sample)
    return target_id, sweep_id, len(observations), vantage, ident, data


def _verdict_columns(packer: _Packer, sweep_id: int, checks: Mapping[str, Any]) -> tuple[str, int, bytes]:
    """``verdicts.checks``, ``verdicts.dictionary`` and ``verdicts.details`` of a verdict's checks."""
    slim, rest = split_checks(checks)
    ident, details = packer.pack(sweep_id, "details", _json(rest).encode())
    return _json(slim), ident, details


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def _v5_packed(db: sqlite_utils.Database) -> None:
    """Version 5: a target's observations packed into one row of ``observation_packs`` (their JSON in
    one zlib stream with a preset dictionary, :mod:`v6scan.store_codec`; the view ``observations``
    shows them row by row as before, evidence included); a verdict's ``checks`` keeps each check's
    result and the rest (summary, details) goes packed into ``verdicts.details``.
    Every row is converted; nothing measured is lost."""
    conn = db.conn
    conn.execute("CREATE TABLE zlib_dictionaries (id INTEGER PRIMARY KEY,"
                 " sweep_id INTEGER REFERENCES sweeps(id) ON DELETE CASCADE, kind TEXT, data BLOB NOT NULL)")
    conn.execute("INSERT INTO zlib_dictionaries (id, sweep_id, data) VALUES (?, NULL, ?)", [BUILTIN_ID, ZDICT])
    conn.execute("""
        CREATE TABLE observation_packs (
            target_id INTEGER PRIMARY KEY REFERENCES targets(id) ON DELETE CASCADE,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            observations INTEGER NOT NULL,
            vantage TEXT,
            dictionary INTEGER NOT NULL REFERENCES zlib_dictionaries(id),
            data BLOB NOT NULL
        )""")
    conn.execute("CREATE INDEX zlib_dictionaries_sweep ON zlib_dictionaries (sweep_id)")
    conn.execute("ALTER TABLE verdicts ADD COLUMN dictionary INTEGER REFERENCES zlib_dictionaries(id)")
    conn.execute("ALTER TABLE verdicts ADD COLUMN details BLOB")
    packer = _Packer(conn)
    cur = conn.execute("SELECT sweep_id, target_id, check_id, name, status, evidence, error, elapsed_ms,"
                       " started_at, vantage FROM observations ORDER BY sweep_id, target_id, id")
    rows = itertools.chain.from_iterable(iter(lambda: cur.fetchmany(2000), []))
    out = []
    for (sid, tid), group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        items = list(group)
        obs = [Observation(check=r[2], target=r[3], status=Status(r[4]), evidence=EncodedEvidence(r[5]),
                           error=r[6], elapsed_ms=float(r[7] or 0.0), started_at=str(r[8] or ""))
               for r in items]
        packer.ready(sid)
        out.append(_pack_row(packer, sid, tid, obs, max((r[9] for r in items if r[9]), default=None), True))
        if len(out) >= 500:
            conn.executemany("INSERT INTO observation_packs VALUES (?, ?, ?, ?, ?, ?)", out)
            out = []
    conn.executemany("INSERT INTO observation_packs VALUES (?, ?, ?, ?, ?, ?)", out)
    conn.execute("DROP TABLE observations")
    conn.execute(_OBSERVATIONS)
    conn.execute(_SITE_OBSERVATIONS)
    last = 0
    while batch := conn.execute("SELECT id, sweep_id, checks FROM verdicts WHERE id > ? ORDER BY id LIMIT 2000",
                                [last]).fetchall():
        packer.ready(batch[0][1])
        conn.executemany("UPDATE verdicts SET checks = ?, dictionary = ?, details = ? WHERE id = ?",
                         [(*_verdict_columns(packer, sid, json.loads(c)), i) for i, sid, c in batch])
        last = batch[-1][0]
    conn.execute("DROP VIEW check_results")
    conn.execute(_CHECK_RESULTS)


#: every observation of every target, as schema 4 stored them (``evidence`` JSON text); needs the SQL
#: function ``v6scan_inflate`` (:func:`v6scan.store_codec.register`: v6scan's connections, its datasette plugin)
_OBSERVATIONS = """
    CREATE VIEW observations AS
    SELECT p.sweep_id, p.target_id, j.key AS seq, json_extract(j.value, '$[0]') AS check_id,
           json_extract(j.value, '$[1]') AS name, json_extract(j.value, '$[2]') AS status,
           json_extract(j.value, '$[3]') AS evidence, json_extract(j.value, '$[4]') AS error,
           json_extract(j.value, '$[5]') AS elapsed_ms, json_extract(j.value, '$[6]') AS started_at, p.vantage
    FROM observation_packs p JOIN zlib_dictionaries d ON d.id = p.dictionary,
         json_each(v6scan_inflate(p.data, d.data)) j"""

#: per verdict and check: its result (``verdicts.checks``) and its summary (packed in ``verdicts.details``)
_CHECK_RESULTS = """
    CREATE VIEW check_results AS
    SELECT v.sweep_id, v.policy, t.name, t.sector, t.region, c.key AS check_id,
           json_extract(v.checks, '$."' || c.key || '".result') AS result,
           json_extract(c.value, '$.summary') AS summary
    FROM verdicts v JOIN targets t ON t.id = v.target_id JOIN zlib_dictionaries d ON d.id = v.dictionary,
         json_each(v6scan_inflate(v.details, d.data)) c"""

_SITE_OBSERVATIONS = """
    CREATE VIEW site_observations AS
    SELECT o.sweep_id, t.name AS target, t.sector, t.region, o.check_id, o.name, o.status, o.error,
           o.elapsed_ms, o.started_at, o.vantage
    FROM observations o JOIN targets t ON t.id = o.target_id"""


def connect(path: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection (``sqlite3.connect``'s arguments) to a sweep database that can
    read the ``observations`` view."""
    conn: sqlite3.Connection = sqlite3.connect(path, **kwargs)
    register(conn)
    return conn


def _v6_attributions(db: sqlite_utils.Database) -> None:
    """Version 6: who serves each site (:mod:`v6scan.providers`) and its CN indicators
    (:mod:`v6scan.indicators`), one row each per finished target; a sweep recorded before has its
    rows made from its observations when first read."""
    db.execute("""
        CREATE TABLE attributions (
            target_id INTEGER PRIMARY KEY REFERENCES targets(id) ON DELETE CASCADE,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            provider_v6 TEXT,
            provider_v4 TEXT,
            cname TEXT,
            dns_operator TEXT,
            prefixes_v6 TEXT NOT NULL,
            prefixes_v4 TEXT NOT NULL,
            data TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX attributions_sweep ON attributions (sweep_id, provider_v6)")
    parts = "".join(f"ratio_{p} REAL, " for p in PARTS)
    db.execute(f"""
        CREATE TABLE indicators (
            target_id INTEGER PRIMARY KEY REFERENCES targets(id) ON DELETE CASCADE,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            success_v6 REAL, success_v4 REAL, {parts}
            download_v6_ms REAL, download_v4_ms REAL, rate_v6_bps REAL, rate_v4_bps REAL,
            data TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX indicators_sweep ON indicators (sweep_id)")
    db.execute("""
        CREATE TABLE sweep_providers (
            sweep_id INTEGER PRIMARY KEY REFERENCES sweeps(id) ON DELETE CASCADE,
            rows TEXT NOT NULL
        )""")


#: a row of ``indicators`` (the columns of :func:`_v6_attributions`)
_INSERT_INDICATORS = ("INSERT OR REPLACE INTO indicators VALUES (" + ", ".join("?" * (9 + len(PARTS))) + ")")  # noqa: S608  # placeholders only

def _v7_schedules(db: sqlite_utils.Database) -> None:
    """Version 7: sweeps ``v6scan serve`` runs again and again (a schedule: its request and target
    list, how often, the sweep it ran last and when it runs next)."""
    db.execute("""
        CREATE TABLE schedules (
            id INTEGER PRIMARY KEY,
            created TEXT NOT NULL,
            owner TEXT NOT NULL,
            every REAL NOT NULL,
            request TEXT NOT NULL,
            targets TEXT NOT NULL,
            next_run TEXT NOT NULL,
            last_sweep INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,
            active INTEGER NOT NULL DEFAULT 1
        )""")


MIGRATIONS = {1: _create_v1, 2: _v2_shuffle, 3: _v3_chunks, 4: _v4_retries, 5: _v5_packed, 6: _v6_attributions,
              7: _v7_schedules}

_failpoint_calls = 0


def _failpoint(name: str) -> None:
    """Crash-safety tests: ``V6SCAN_FAILPOINT=store.record:N`` SIGKILLs this process on the Nth
    pass through the named point, in the middle of a write transaction."""
    spec = os.environ.get("V6SCAN_FAILPOINT")
    if not spec or not spec.startswith(name + ":"):
        return
    global _failpoint_calls
    _failpoint_calls += 1
    if _failpoint_calls >= int(spec.rsplit(":", 1)[1]):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class SweepDiff:
    a: int
    b: int
    policy: str
    gained: list[dict[str, Any]]  # verdict improved to ready
    lost: list[dict[str, Any]]  # was ready, is not any more
    changed: list[dict[str, Any]]  # every verdict change
    checks: list[dict[str, Any]]  # per-check result changes
    only_a: list[str]
    only_b: list[str]


_RANK = {"inconclusive": 0, "error": 1, "absent": 2, "broken": 3, "partial": 4, "ready": 5}


class Store:
    """A sweep database.  ``Store(path)`` creates or migrates it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file only (packed rows of a few KB fit better)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        register(self.db.conn)
        self._migrate()
        self._packer = _Packer(self.db.conn)
        #: the table sites are attributed with (:meth:`record`, :meth:`attributions`)
        self.providers = ProviderTable.default()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- schema
    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {current}; this v6scan ({__version__}) knows"
                             f" up to {SCHEMA_VERSION}: upgrade v6scan")
        if current == 0 and self.db.table_names():
            raise StoreError(f"{self.path} is not a v6scan database (it has other tables)")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._transaction():
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version={version}")
        if 0 < current < 5:  # the old observations' pages are free now: give them back to the file system
            with contextlib.suppress(sqlite3.OperationalError):  # another connection reading: not this time
                self.db.execute("PRAGMA journal_mode=DELETE")  # (the page size changes outside WAL only)
                self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
                self.db.execute("VACUUM")
            self.db.execute("PRAGMA journal_mode=WAL")

    @contextlib.contextmanager
    def _transaction(self, write: bool = True) -> Iterator[None]:
        """One transaction, begun explicitly (sqlite-utils' ``execute`` commits a statement that opens
        a transaction of its own, which would split ours): committed at the end when ``write``, else
        rolled back (a read snapshot); nested: part of the outer one."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        if write:
            conn.commit()
        elif conn.in_transaction:
            conn.rollback()

    @contextlib.contextmanager
    def _packing(self, sweep_id: int) -> Iterator[None]:
        """A write transaction that packs for ``sweep_id``: the sweep's dictionaries made first when
        their samples are in (:meth:`_Packer.ready`), and forgotten again if it rolls back."""
        try:
            with self._transaction():
                self._packer.ready(sweep_id)
                yield
        except BaseException:
            self._packer.forget(sweep_id)  # a dictionary made in the transaction went with it
            raise
        self._packer.committed(sweep_id)

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """One read transaction: every read inside sees the same database, even while a sweep is
        still writing to it (WAL)."""
        return self._transaction(write=False)

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> sqlite3.Cursor:
        """INSERT without committing (sqlite-utils' insert helpers commit on their own, which would
        split our transactions): the caller's :meth:`_transaction` commits or rolls back."""
        if not rows:
            return self.db.conn.cursor()
        cols = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608
        if len(rows) == 1:
            return self.db.conn.execute(sql, [rows[0][c] for c in cols])
        return self.db.conn.executemany(sql, ([r[c] for c in cols] for r in rows))

    # ---------------------------------------------------------------- sweeps
    def start_sweep(self, targets: Iterable[Target], config: Mapping[str, JSON], policy: str,
                    excluded: Iterable[Target] = ()) -> int:
        """Record a new sweep and all its targets (status ``pending``; ``excluded`` ones are recorded
        with status ``excluded`` and never contacted); return its id.

        ``targets`` is consumed lazily and written in one transaction (a million targets stream
        through without being held in memory); a name seen before keeps its first occurrence.
        """
        row = {"started": now_iso(), "status": "running", "policy": policy, "version": __version__,
               "config": json.dumps(dict(config), sort_keys=True, default=str),
               "config_hash": config_hash(config), "targets": 0}
        with self._transaction():
            cur = self._insert("sweeps", [row])
            sweep_id = cur.lastrowid
            assert sweep_id is not None
            position = itertools.count()
            sql = ("INSERT OR IGNORE INTO targets (sweep_id, position, shuffle, name, display, sector, region,"
                   " organisation, source, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

            def rows(items: Iterable[Target], status: str) -> Iterator[tuple[Any, ...]]:
                for t in items:
                    yield (sweep_id, next(position), shuffle_key(sweep_id, t.name), t.name, t.display, t.sector,
                           t.region, t.organisation, t.source, status)

            self.db.conn.executemany(sql, rows(targets, "pending"))
            self.db.conn.executemany(sql, rows(excluded, "excluded"))
            self.db.execute("UPDATE sweeps SET targets = (SELECT count(*) FROM targets WHERE sweep_id = ?"
                            " AND status = 'pending') WHERE id = ?", [sweep_id, sweep_id])
        return int(sweep_id)

    def sweep(self, sweep_id: int) -> dict[str, Any]:
        try:
            return dict(self.db.table("sweeps").get(sweep_id))
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"no sweep {sweep_id} in {self.path}") from None

    def sweeps(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query("""
            SELECT s.*, (SELECT count(*) FROM targets t WHERE t.sweep_id = s.id AND t.status = 'done')
                   AS done
            FROM sweeps s ORDER BY s.id""")]

    def latest_sweep(self) -> int | None:
        row = self.db.execute("SELECT max(id) FROM sweeps").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def finish_sweep(self, sweep_id: int, status: str = "finished", note: str | None = None) -> None:
        with self._transaction():
            self.db.execute("UPDATE sweeps SET finished = ?, status = ?, note = ? WHERE id = ?",
                            [now_iso(), status, note, sweep_id])

    def _unpack(self, data: bytes) -> list[Observation]:
        return unpack_observations(self._packer.dictionaries.text(bytes(data)))

    def retry_count(self, sweep_id: int) -> int:
        return int(self.db.execute("SELECT count(*) FROM targets WHERE sweep_id = ? AND status = 'retry'",
                                   [sweep_id]).fetchone()[0])

    def retries_used(self, sweep_id: int, names: Iterable[str]) -> dict[str, int]:
        """How many times each of ``names`` was recorded for retry in this sweep (across resumes)."""
        return self._per_name(sweep_id, names, "retries")

    def target_counts(self, sweep_id: int) -> dict[str, int]:
        """How many targets of the sweep are ``done``, ``retry``, ``pending`` and ``excluded``."""
        return {str(k): int(n) for k, n in self.db.execute(
            "SELECT status, count(*) FROM targets WHERE sweep_id = ? GROUP BY status", [sweep_id]).fetchall()}

    def retry_causes(self, sweep_id: int) -> dict[str, int]:
        """Targets to retry per cause: the ``scanner_side`` evidence of their ``dns.resolve`` and
        ``self.v6`` observations ("resolver", "self-check", ...; ``""`` for a target without one,
        recorded for retry by an earlier version)."""
        per: dict[int, set[str]] = {}
        for tid, data in self.db.execute(
                "SELECT t.id, p.data FROM targets t LEFT JOIN observation_packs p ON p.target_id = t.id"
                " WHERE t.sweep_id = ? AND t.status = 'retry'", [sweep_id]):
            causes = per.setdefault(int(tid), set())
            for o in self._unpack(data) if data is not None else ():
                cause = o.evidence.get("scanner_side") if o.check in ("dns.resolve", "self.v6") else None
                if cause:
                    causes.add(str(cause))
        out: dict[str, int] = {}
        for causes in per.values():
            for c in causes or {""}:
                out[c] = out.get(c, 0) + 1
        return out

    def verdict_counts(self, sweep_id: int, policy: str) -> dict[str, int]:
        """Verdicts of the sweep's finished targets under ``policy``."""
        return {str(k): int(n) for k, n in self.db.execute(
            "SELECT v.verdict, count(*) FROM verdicts v JOIN targets t ON t.id = v.target_id"
            " WHERE v.sweep_id = ? AND v.policy = ? AND t.status = 'done' GROUP BY v.verdict",
            [sweep_id, policy]).fetchall()}

    def gate_failures(self, sweep_id: int, policy: str, verdicts: Sequence[str], min_score: int | None,
                      unjudged: Sequence[str] = (), limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """Finished targets whose verdict under ``policy`` is one of ``verdicts`` or whose score is
        below ``min_score`` (verdicts in ``unjudged`` never count): how many, and the first ``limit``
        of them (lowest score first)."""
        marks = ",".join("?" * len(verdicts)) or "NULL"
        skip = f" AND v.verdict NOT IN ({','.join('?' * len(unjudged))})" if unjudged else ""
        where = (" FROM verdicts v JOIN targets t ON t.id = v.target_id WHERE v.sweep_id = ? AND v.policy = ?"
                 f" AND t.status = 'done'{skip} AND (v.verdict IN ({marks}) OR v.score < ?)")
        args = [sweep_id, policy, *unjudged, *verdicts, -1 if min_score is None else min_score]
        n = int(self.db.execute("SELECT count(*)" + where, args).fetchone()[0])
        rows = [dict(r) for r in self.db.query(
            "SELECT t.name, v.verdict, v.score" + where + " ORDER BY v.score, t.position LIMIT ?", [*args, limit])]
        return n, rows

    def pending_count(self, sweep_id: int) -> int:
        return int(self.db.execute("SELECT count(*) FROM targets WHERE sweep_id = ? AND status IN"
                                   " ('pending', 'retry')", [sweep_id]).fetchone()[0])

    def iter_pending(self, sweep_id: int, chunk: int = 2000) -> Iterator[Target]:
        """The targets without a final result, in the sweep's shuffled order, read ``chunk`` at a
        time (results may be written between two reads; a target is never given twice)."""
        last: tuple[int, int] = (-1, -1)
        while True:
            rows = self.db.execute(
                "SELECT shuffle, id, name, display, sector, region, organisation, source FROM targets"
                " WHERE sweep_id = ? AND (shuffle, id) > (?, ?) AND status IN ('pending', 'retry')"
                " ORDER BY shuffle, id LIMIT ?", [sweep_id, *last, chunk]).fetchall()
            if not rows:
                return
            for r in rows:
                yield Target(*r[2:])
            last = (rows[-1][0], rows[-1][1])

    # ---------------------------------------------------------------- chunks (cluster sweeps)
    def make_chunks(self, sweep_id: int, size: int) -> int:
        """Put every target without a final result and without an open chunk into new chunks of
        ``size`` (in the sweep's shuffled order); return how many chunks are open (pending or leased).
        A target to retry whose chunk is done gets a new chunk."""
        with self._transaction():
            self.db.execute("""UPDATE targets SET chunk = NULL WHERE sweep_id = ? AND status IN ('pending', 'retry')
                               AND chunk IN (SELECT chunk FROM chunks WHERE sweep_id = ? AND state = 'done')""",
                            [sweep_id, sweep_id])
            nxt = int(self.db.execute("SELECT coalesce(max(chunk) + 1, 0) FROM chunks WHERE sweep_id = ?",
                                      [sweep_id]).fetchone()[0])
            while True:
                ids = [r[0] for r in self.db.execute(
                    "SELECT id FROM targets WHERE sweep_id = ? AND chunk IS NULL AND status IN ('pending', 'retry')"
                    " ORDER BY shuffle, id LIMIT ?", [sweep_id, size]).fetchall()]
                if not ids:
                    break
                self.db.conn.executemany("UPDATE targets SET chunk = ? WHERE id = ?", [(nxt, i) for i in ids])
                self.db.execute("INSERT INTO chunks (sweep_id, chunk, targets) VALUES (?, ?, ?)",
                                [sweep_id, nxt, len(ids)])
                nxt += 1
        return int(self.db.execute("SELECT count(*) FROM chunks WHERE sweep_id = ? AND state != 'done'",
                                   [sweep_id]).fetchone()[0])

    def release_leases(self, sweep_id: int) -> int:
        """Chunks leased by a coordinator that is gone go back to pending (``--resume``)."""
        with self._transaction():
            return self.db.execute("UPDATE chunks SET state = 'pending' WHERE sweep_id = ? AND state = 'leased'",
                                   [sweep_id]).rowcount

    def lease_chunk(self, sweep_id: int, seconds: float) -> tuple[int, list[Target]] | None:
        """Lease the next pending chunk (or one whose lease expired) for ``seconds``: its number and
        the targets in it still without a final result."""
        now = dt.datetime.now(dt.UTC)
        with self._transaction():
            row = self.db.execute(
                "SELECT chunk FROM chunks WHERE sweep_id = ? AND (state = 'pending' OR (state = 'leased'"
                " AND lease_expires < ?)) ORDER BY chunk LIMIT 1", [sweep_id, _iso(now)]).fetchone()
            if row is None:
                return None
            chunk = int(row[0])
            self.db.execute("UPDATE chunks SET state = 'leased', leased_at = ?, lease_expires = ?,"
                            " attempts = attempts + 1 WHERE sweep_id = ? AND chunk = ?",
                            [_iso(now), _iso(now + dt.timedelta(seconds=seconds)), sweep_id, chunk])
        targets = [Target(*r) for r in self.db.execute(
            "SELECT name, display, sector, region, organisation, source FROM targets WHERE sweep_id = ?"
            " AND chunk = ? AND status IN ('pending', 'retry') ORDER BY shuffle, id", [sweep_id, chunk])]
        return chunk, targets

    def finish_chunk(self, sweep_id: int, chunk: int, vantage: str | None) -> None:
        with self._transaction():
            self.db.execute("UPDATE chunks SET state = 'done', lease_expires = NULL, vantage = ?"
                            " WHERE sweep_id = ? AND chunk = ?", [vantage, sweep_id, chunk])

    def chunk_attempts(self, sweep_id: int, chunk: int) -> int:
        return int(self.db.execute("SELECT attempts FROM chunks WHERE sweep_id = ? AND chunk = ?",
                                   [sweep_id, chunk]).fetchone()[0])

    def release_chunk(self, sweep_id: int, chunk: int) -> None:
        with self._transaction():
            self.db.execute("UPDATE chunks SET state = 'pending', lease_expires = NULL WHERE sweep_id = ?"
                            " AND chunk = ? AND state = 'leased'", [sweep_id, chunk])

    def chunk_states(self, sweep_id: int) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, count(*) FROM chunks WHERE sweep_id = ? GROUP BY state",
                                    [sweep_id]).fetchall())

    def pending_targets(self, sweep_id: int) -> list[Target]:
        """Targets of a sweep without a final result (never scanned, or to retry), in order."""
        return [Target(r["name"], r["display"], r["sector"], r["region"], r["organisation"], r["source"])
                for r in self.db.query("SELECT * FROM targets WHERE sweep_id = ? AND status IN ('pending', 'retry')"
                                       " ORDER BY position", [sweep_id])]

    def _target_ids(self, sweep_id: int, names: Iterable[str]) -> dict[str, int]:
        return self._per_name(sweep_id, names, "id")

    def _per_name(self, sweep_id: int, names: Iterable[str], column: str) -> dict[str, int]:
        """``column`` (an integer column of ``targets``) of each of ``names``, 500 names a query."""
        names = list(names)
        out: dict[str, int] = {}
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT name, {column} FROM targets WHERE sweep_id = ? AND name IN ({marks})"  # noqa: S608
            out.update((str(n), int(v)) for n, v in self.db.execute(sql, [sweep_id, *chunk]))
        return out

    def record(self, sweep_id: int, batch: Sequence[tuple[str, str, str | None, Sequence[Observation],
                                                         SiteVerdict | None]],
               retry: Iterable[str] = (), vantage: str | None = None) -> None:
        """Write finished targets in one transaction: ``(name, started, finished, observations, verdict)``.
        ``vantage`` names the host that made the observations.

        A target already recorded is replaced, so a retried write never duplicates anything.
        Targets named in ``retry`` are written without a verdict and stay pending (status
        ``retry``): the scanner was at fault (its resolver, its own IPv6), not the site, and
        ``--resume`` scans them again; each such write counts one retry of the target
        (``targets.retries``, the sweep's retry budget is spent from it).
        """
        retry = set(retry)
        ids = self._target_ids(sweep_id, [b[0] for b in batch])
        missing = [b[0] for b in batch if b[0] not in ids]
        if missing:
            raise StoreError(f"targets not in sweep {sweep_id}: {missing[:5]}")
        with self._packing(sweep_id):
            for name, started, finished, observations, verdict in batch:
                tid = ids[name]
                self.db.execute("DELETE FROM observation_packs WHERE target_id = ?", [tid])
                if observations:
                    self.db.execute("INSERT INTO observation_packs VALUES (?, ?, ?, ?, ?, ?)", _pack_row(
                        self._packer, sweep_id, tid, observations, vantage, sample=name not in retry))
                if name in retry:  # not assessed: no verdict (nor one from an earlier attempt)
                    self.db.execute("DELETE FROM verdicts WHERE target_id = ?", [tid])
                elif verdict is not None:
                    self._write_verdict(sweep_id, tid, verdict)
                self.db.execute("DELETE FROM attributions WHERE target_id = ?", [tid])
                self.db.execute("DELETE FROM indicators WHERE target_id = ?", [tid])
                if observations and name not in retry:
                    self._write_derived(sweep_id, tid, name, observations)
                _failpoint("store.record")
                self.db.execute("UPDATE targets SET status = ?, started = ?, finished = ?,"
                                " retries = retries + ? WHERE id = ?",
                                ["retry" if name in retry else "done", started, finished or now_iso(),
                                 int(name in retry), tid])

    def _write_derived(self, sweep_id: int, target_id: int, name: str, observations: Sequence[Observation],
                       attribution: bool = True) -> None:
        """What is made of a target's observations: its attribution (with :attr:`providers`; not
        when ``attribution`` is false) and its CN indicators."""
        if attribution:
            self._write_attribution(sweep_id, target_id, attribute(name, observations, self.providers))
        ind = indicators(name, observations)
        if ind is not None:
            self.db.execute(_INSERT_INDICATORS, [
                target_id, sweep_id, ind.success_v6, ind.success_v4, *(ind.ratios.get(p) for p in PARTS),
                ind.v6.get("download_ms"), ind.v4.get("download_ms"), ind.v6.get("rate_bps"), ind.v4.get("rate_bps"),
                json.dumps(ind.to_json())])

    def _write_attribution(self, sweep_id: int, target_id: int, a: Attribution) -> None:
        self.db.execute("INSERT OR REPLACE INTO attributions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            target_id, sweep_id, a.v6.provider, a.v4.provider, a.cname, a.dns_operator,
            " ".join(a.v6.prefixes), " ".join(a.v4.prefixes), json.dumps(a.to_json())])

    def ensure_attributions(self, sweep_id: int) -> None:
        """Every finished target of the sweep attributed (:mod:`v6scan.providers`, with
        :attr:`providers`): those without a row (a sweep recorded by an older v6scan, or after
        :meth:`forget_attributions`) get one, made from their observations."""
        missing = self.db.execute(
            "SELECT count(*) FROM targets t LEFT JOIN attributions a ON a.target_id = t.id"
            " WHERE t.sweep_id = ? AND t.status = 'done' AND a.target_id IS NULL", [sweep_id]).fetchone()[0]
        if not missing:
            return
        have = {r[0] for r in self.db.execute("SELECT target_id FROM attributions WHERE sweep_id = ?", [sweep_id])}
        measured = {r[0] for r in self.db.execute("SELECT target_id FROM indicators WHERE sweep_id = ?", [sweep_id])}
        with self._transaction():
            for row, obs in self.observations(sweep_id):
                if row["tid"] not in have:
                    self._write_attribution(sweep_id, row["tid"], attribute(row["tname"], obs, self.providers))
                    if row["tid"] not in measured:  # (a sweep recorded before schema 6)
                        self._write_derived(sweep_id, row["tid"], row["tname"], obs, attribution=False)

    def attributions(self, sweep_id: int) -> dict[str, Attribution]:
        """Who serves each finished target of the sweep, by name (:meth:`ensure_attributions` first)."""
        self.ensure_attributions(sweep_id)
        return {name: Attribution.from_json(json.loads(data)) for name, data in self.db.execute(
            "SELECT t.name, a.data FROM attributions a JOIN targets t ON t.id = a.target_id"
            " WHERE a.sweep_id = ? ORDER BY t.position", [sweep_id])}

    def indicators(self, sweep_id: int) -> dict[str, Indicators]:
        """The CN indicators of each finished target whose homepage was probed, by name."""
        self.ensure_attributions(sweep_id)
        return {name: Indicators.from_json(json.loads(data)) for name, data in self.db.execute(
            "SELECT t.name, i.data FROM indicators i JOIN targets t ON t.id = i.target_id"
            " WHERE i.sweep_id = ? ORDER BY t.position", [sweep_id])}

    def use_providers(self, sweep_id: int) -> ProviderTable:
        """The provider table of the sweep (the shipped one with the rows stored with it) as
        :attr:`providers`."""
        row = self.db.execute("SELECT rows FROM sweep_providers WHERE sweep_id = ?", [sweep_id]).fetchone()
        self.providers = ProviderTable.from_extra_json(json.loads(row[0])) if row else ProviderTable.default()
        return self.providers

    def set_providers(self, sweep_id: int, table: ProviderTable) -> None:
        """Attribute the sweep's sites with ``table`` from now on (stored with the sweep: a resume
        and a report use it too); attributions made with another table are made again."""
        old = self.db.execute("SELECT rows FROM sweep_providers WHERE sweep_id = ?", [sweep_id]).fetchone()
        rows = json.dumps(table.extra_json(), ensure_ascii=False)
        self.providers = table
        if (old[0] if old else "[]") == rows:
            return
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO sweep_providers VALUES (?, ?)", [sweep_id, rows])
            self.db.execute("DELETE FROM attributions WHERE sweep_id = ?", [sweep_id])

    def forget_attributions(self, sweep_id: int) -> None:
        """Drop the sweep's attributions: the next :meth:`attributions` makes them again (with
        :attr:`providers`, a table extended since)."""
        with self._transaction():
            self.db.execute("DELETE FROM attributions WHERE sweep_id = ?", [sweep_id])

    def _write_verdict(self, sweep_id: int, target_id: int, v: SiteVerdict) -> None:
        self.db.execute("DELETE FROM verdicts WHERE target_id = ? AND policy = ?", [target_id, v.policy])
        checks, dictionary, details = _verdict_columns(self._packer, sweep_id, v.checks_json("en"))
        self._insert("verdicts", [{
            "sweep_id": sweep_id, "target_id": target_id, "policy": v.policy, "verdict": v.verdict,
            "score": v.score, "points": v.points, "names": json.dumps(list(v.names)),
            "checks": checks, "dictionary": dictionary, "details": details,
            "reasons": json.dumps([{"code": r.code, "params": dict(r.params)} for r in v.reasons],
                                  default=str),
            "scored_at": now_iso(),
        }])

    # ------------------------------------------------------------------ reads
    def target_rows(self, sweep_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query("SELECT * FROM targets WHERE sweep_id = ? ORDER BY position",
                                               [sweep_id])]

    def observations(self, sweep_id: int) -> Iterator[tuple[dict[str, Any], list[Observation]]]:
        """(target row, its observations) for every finished target, in order."""
        for row, text in self.observation_texts(sweep_id):
            yield row, unpack_observations(text)

    def observation_texts(self, sweep_id: int, shard: tuple[int, int] | None = None
                          ) -> Iterator[tuple[dict[str, Any], str]]:
        """(target row, its observations as one JSON text: a list of ``[check, name, status, evidence,
        error, elapsed_ms, started_at]``) for every finished target, in order; ``shard=(k, n)``: only
        the targets whose id is ``k`` modulo ``n`` (``n`` readers, each its own connection, share a
        sweep)."""
        where, args = "", [sweep_id]
        if shard is not None:
            k, n = shard
            if not 0 <= k < n:
                raise ValueError(f"not a shard: {shard}")
            where, args = " AND t.id % ? = ?", [sweep_id, n, k]
        for r in self.db.query(f"""
                SELECT t.id AS tid, t.name AS tname, t.display, t.sector, t.region, t.organisation,
                       t.started, t.finished, p.data
                FROM targets t JOIN observation_packs p ON p.target_id = t.id
                WHERE t.sweep_id = ? AND t.status = 'done'{where} ORDER BY t.position""", args):  # noqa: S608
            data = r.pop("data")
            yield r, self._packer.dictionaries.text(bytes(data))

    def target_observations(self, target_id: int) -> list[Observation]:
        """The observations of one target (none when it has none stored)."""
        row = self.db.execute("SELECT data FROM observation_packs WHERE target_id = ?", [target_id]).fetchone()
        return [] if row is None else unpack_observations(self._packer.dictionaries.text(bytes(row[0])))

    def verdict_rows(self, sweep_id: int, policy: str | None = None) -> list[dict[str, Any]]:
        policy = policy or self.sweep(sweep_id)["policy"]
        rows = []
        for r in self.db.query("""
                SELECT t.name, t.display, t.sector, t.region, t.organisation, t.finished, v.*
                FROM verdicts v JOIN targets t ON t.id = v.target_id
                WHERE v.sweep_id = ? AND v.policy = ? ORDER BY t.position""", [sweep_id, policy]):
            rows.append(self.decode_verdict(dict(r)))
        return rows

    def decode_verdict(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row of ``verdicts`` (``names``, ``reasons``, ``checks`` and ``details`` among its columns)
        with its JSON decoded and its checks whole again (:meth:`checks`); ``details`` and
        ``dictionary`` are gone from it."""
        row["names"] = json.loads(row["names"])
        row["reasons"] = json.loads(row["reasons"])
        row["checks"] = self.checks(json.loads(row["checks"]), row.pop("details"))
        row.pop("dictionary", None)
        return row

    def checks(self, checks: Mapping[str, Any], details: bytes | None) -> dict[str, Any]:
        """A verdict's checks whole, from its ``checks`` (decoded JSON) and ``details`` columns."""
        if details is None:
            return dict(checks)
        return join_checks(checks, json.loads(self._packer.dictionaries.text(bytes(details))))

    def policies(self, sweep_id: int) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT policy FROM verdicts WHERE sweep_id = ? ORDER BY policy", [sweep_id])]

    def trend(self, policy: str) -> list[dict[str, Any]]:
        """Per sweep with verdicts under ``policy``: sites, share of ready sites, average score."""
        return [dict(r) for r in self.db.query("""
            SELECT s.id AS sweep, s.started, count(*) AS sites,
                   avg(v.verdict = 'ready') AS ready_share, avg(v.score) AS average_score
            FROM verdicts v JOIN sweeps s ON s.id = v.sweep_id
            WHERE v.policy = ? GROUP BY s.id ORDER BY s.id""", [policy])]

    # ------------------------------------------------------------- re-scoring
    def rescore(self, sweep_id: int, policy: Policy) -> int:
        """Score every finished target of a sweep again with ``policy`` (no rescanning)."""
        n = 0
        batch: list[tuple[int, SiteVerdict]] = []
        for row, obs in self.observations(sweep_id):
            batch.append((int(row["tid"]), score_target(row["tname"], obs, policy)))
            if len(batch) >= 500:
                n += self._write_verdicts(sweep_id, batch)
                batch = []
        return n + self._write_verdicts(sweep_id, batch)

    def _write_verdicts(self, sweep_id: int, batch: list[tuple[int, SiteVerdict]]) -> int:
        with self._packing(sweep_id):
            for tid, v in batch:
                self._write_verdict(sweep_id, tid, v)
        return len(batch)

    # ------------------------------------------------------------------- diff
    # ------------------------------------------------------------- schedules
    def add_schedule(self, owner: str, every: float, request: Mapping[str, JSON], targets: str,
                     next_run: str) -> int:
        """A sweep of ``targets`` (a target list's text) with ``request`` (the API's options), run
        every ``every`` seconds from ``next_run`` (ISO time); its id."""
        with self._transaction():
            cur = self._insert("schedules", [{"created": now_iso(), "owner": owner, "every": every,
                                              "request": json.dumps(dict(request), sort_keys=True),
                                              "targets": targets, "next_run": next_run, "active": 1}])
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def schedules(self, active_only: bool = False, schedule_id: int | None = None) -> list[dict[str, Any]]:
        """Every schedule, or the one ``schedule_id`` (``request`` decoded; ``targets`` left out:
        :meth:`schedule_targets`)."""
        rows = self.db.query("SELECT id, created, owner, every, request, next_run, last_sweep, active"
                             " FROM schedules WHERE active >= ? AND (? IS NULL OR id = ?) ORDER BY id",
                             [1 if active_only else 0, schedule_id, schedule_id])
        return [{**r, "request": json.loads(r["request"]), "active": bool(r["active"])} for r in rows]

    def schedule(self, schedule_id: int) -> dict[str, Any]:
        found = self.schedules(schedule_id=schedule_id)
        if not found:
            raise StoreError(f"no schedule {schedule_id} in {self.path}")
        return found[0]

    def schedule_targets(self, schedule_id: int) -> str:
        row = self.db.execute("SELECT targets FROM schedules WHERE id = ?", [schedule_id]).fetchone()
        if row is None:
            raise StoreError(f"no schedule {schedule_id} in {self.path}")
        return str(row[0])

    def schedule_next(self, schedule_id: int, next_run: str) -> None:
        """When the schedule runs next (ISO time)."""
        with self._transaction():
            self.db.execute("UPDATE schedules SET next_run = ? WHERE id = ?", [next_run, schedule_id])

    def schedule_baseline(self, schedule_id: int, sweep_id: int) -> None:
        """The schedule's finished sweep its next one is compared with."""
        with self._transaction():
            self.db.execute("UPDATE schedules SET last_sweep = ? WHERE id = ?", [sweep_id, schedule_id])

    def stop_schedule(self, schedule_id: int) -> None:
        self.schedule(schedule_id)
        with self._transaction():
            self.db.execute("UPDATE schedules SET active = 0 WHERE id = ?", [schedule_id])

    def diff(self, a: int, b: int, policy: str | None = None) -> SweepDiff:
        """What changed from sweep ``a`` to sweep ``b`` (same policy), site by site and check by check."""
        policy = policy or self.sweep(b)["policy"]
        ra = {r["name"]: r for r in self.verdict_rows(a, policy)}
        rb = {r["name"]: r for r in self.verdict_rows(b, policy)}
        if not ra or not rb:
            raise StoreError(f"sweeps {a} and {b} need verdicts under policy {policy!r}"
                             " (run rescore first)")
        gained, lost, changed, checks = [], [], [], []
        for name in ra.keys() & rb.keys():
            va, vb = ra[name]["verdict"], rb[name]["verdict"]
            row = {"name": name, "sector": rb[name]["sector"], "region": rb[name]["region"],
                   "before": va, "after": vb, "score_before": ra[name]["score"],
                   "score_after": rb[name]["score"]}
            if va != vb:
                changed.append(row)
                if vb == "ready":
                    gained.append(row)
                elif va == "ready":
                    lost.append(row)
            ca, cb = ra[name]["checks"], rb[name]["checks"]
            for cid in sorted(ca.keys() | cb.keys()):
                xa = ca.get(cid, {}).get("result")
                xb = cb.get(cid, {}).get("result")
                if xa != xb:
                    checks.append({"name": name, "check": cid, "before": xa, "after": xb})
        order = sorted
        return SweepDiff(a, b, policy, order(gained, key=lambda r: r["name"]),
                         order(lost, key=lambda r: r["name"]),
                         order(changed, key=lambda r: (_RANK[r["after"]] - _RANK[r["before"]], r["name"])),
                         checks, sorted(ra.keys() - rb.keys()), sorted(rb.keys() - ra.keys()))
