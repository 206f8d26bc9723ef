"""The one module that touches SQLite (through sqlite-utils).

Tables: ``sweeps`` (one row per sweep: when, config, policy, version),
``targets`` (every target of a sweep with its metadata and whether it is
done), ``observations`` (every measurement; its evidence by content hash,
``evidence_hash``) with ``evidence_blobs`` (each distinct evidence once: JSON
compressed by zlib with a preset dictionary, kept in ``zlib_dictionaries``) and
``verdicts`` (per target and policy).  Views ``site_verdicts``,
``check_results``, ``sector_summary``, ``region_summary`` and
``site_observations`` make the file pleasant in datasette or the sqlite3 shell.

Schema 5 stores compactly (about a third of schema 4's bytes per site).  What plain SQL reads:
every column but ``evidence_blobs.data`` (a zlib stream that names its preset dictionary by Adler-32;
the dictionary is the row of ``zlib_dictionaries`` with that id, so Python's ``zlib.decompressobj(zdict=...)``
or any zlib reads it: SQLite itself cannot, and no view shows evidence); ``verdicts.checks`` is JSON
with each check's ``result`` and ``summary`` as before, its ``details`` compacted (:func:`compact_checks`;
:meth:`Store.verdict_rows` and :func:`expand_checks` give the full form); ``observations.started_at``
is milliseconds since 1970 (the view ``site_observations`` shows it as ISO text).  Evidence in full:
:meth:`Store.observations` or ``v6scan export --format jsonl``.

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
from v6scan.messages import fix_hint, render
from v6scan.model import JSON, Observation, evidence_json, now_iso
from v6scan.scoring import Policy, SiteVerdict, score_target
from v6scan.store_zdict import ZDICT
from v6scan.targets import Target

__all__ = ["SCHEMA_VERSION", "Store", "StoreError", "SweepDiff", "compact_checks", "config_hash", "decode_evidence",
           "encode_evidence", "evidence_hash", "expand_checks", "pack_time", "unpack_time"]

SCHEMA_VERSION = 5


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


# ------------------------------------------------------------------ evidence, stored compactly (schema 5)
_ZDICT_ID = zlib.adler32(ZDICT)
_COMPRESSOR = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT)  # copied, never used


def evidence_hash(text: str) -> bytes:
    """The content address of an evidence document: 16 bytes of BLAKE2b of its JSON text."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def encode_evidence(text: str) -> bytes:
    """An evidence document's JSON text as stored in ``evidence_blobs.data``: a zlib stream (RFC 1950)
    compressed with the preset dictionary :data:`v6scan.store_zdict.ZDICT`; the stream's header names
    the dictionary by its Adler-32 (``zlib_dictionaries.id``)."""
    c = _COMPRESSOR.copy()
    return c.compress(text.encode()) + c.flush()


def decode_evidence(data: bytes | str, dictionaries: Mapping[int, bytes] | None = None) -> str:
    """The JSON text of ``evidence_blobs.data`` (``dictionaries``: Adler-32 to dictionary, as in the
    table ``zlib_dictionaries``; the built-in one is always known).  Plain JSON text passes through."""
    if isinstance(data, str):
        return data
    if len(data) >= 6 and data[1] & 0x20:  # FDICT: the dictionary's Adler-32 follows the 2-byte header
        wanted = int.from_bytes(data[2:6], "big")
        zdict = ZDICT if wanted == _ZDICT_ID else (dictionaries or {}).get(wanted)
        if zdict is None:
            raise StoreError(f"evidence compressed with an unknown dictionary (Adler-32 {wanted})")
        d = zlib.decompressobj(zdict=zdict)
        return (d.decompress(data) + d.flush()).decode()
    return zlib.decompress(data).decode()


def _put_blobs(conn: sqlite3.Connection, texts: Iterable[str]) -> list[bytes]:
    """Store each evidence text once (content-addressed), inside the caller's transaction; return
    their hashes in order.  A document already stored is neither compressed nor written again."""
    hashes = []
    docs: dict[bytes, str] = {}
    for t in texts:
        h = evidence_hash(t)
        hashes.append(h)
        docs[h] = t
    if not docs:
        return []
    stored: set[bytes] = set()
    keys = list(docs)
    for i in range(0, len(keys), 500):
        part = keys[i:i + 500]
        stored.update(r[0] for r in conn.execute(
            f"SELECT hash FROM evidence_blobs WHERE hash IN ({','.join('?' * len(part))})", part))  # noqa: S608
    new = [(h, encode_evidence(t)) for h, t in docs.items() if h not in stored]
    if new:
        conn.executemany("INSERT INTO evidence_blobs (hash, data) VALUES (?, ?)", new)
    return hashes


def _compact_names(names: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, det in names.items():
        e: dict[str, Any] = {k: v for k, v in det.items() if k not in ("check", "name", "severity", "applicable",
                                                                         "reasons")}
        if det.get("name", name) != name:
            e["name"] = det["name"]
        if det.get("severity") is not None:
            e["severity"] = det["severity"]
        if det.get("applicable", True) is not True:
            e["applicable"] = det["applicable"]
        reasons = [_compact_reason(r) for r in det.get("reasons") or ()]
        if reasons:
            e["reasons"] = reasons
        out[name] = e
    return out


def _compact_reason(r: Mapping[str, Any]) -> dict[str, Any]:
    """A reason without its English text and fix hint when they are what its code and parameters
    render to (kept otherwise: the store never changes what it was given)."""
    params = r.get("params") or {}
    out = {k: v for k, v in r.items() if k not in ("text", "fix")}
    if "text" in r and r["text"] != render(r["code"], params, "en"):
        out["text"] = r["text"]
    if "fix" in r and r["fix"] != fix_hint(r["code"], params, "en"):
        out["fix"] = r["fix"]
    return out


def compact_checks(checks: Mapping[str, Any], names: Sequence[str] | None = None) -> dict[str, Any]:
    """``verdicts.checks`` as stored from schema 5: per check its ``result`` and ``summary`` as before
    (``json_extract``/``json_each`` and the views read them as before), and its ``details`` without
    what :func:`expand_checks` derives again: each detail's ``check`` and ``name`` (the keys),
    ``severity`` when null, ``applicable`` when true, empty ``reasons``, each reason's English ``text``
    and ``fix`` when the message catalogue renders them from its code and parameters; and when every
    name has just the check's result, ``details.names`` is the list of the names, or ``details`` is
    left out when those are the verdict's ``names`` (in order)."""
    out: dict[str, Any] = {}
    for cid, c in checks.items():
        d = dict(c)
        details = dict(c.get("details") or {})
        if isinstance(details.get("names"), Mapping):
            per = _compact_names(details["names"])
            if len(details) == 1 and per and all(e == {"result": c.get("result")} for e in per.values()):
                if names is not None and list(per) == list(names):
                    del d["details"]
                    out[cid] = d
                    continue
                details["names"] = list(per)
            else:
                details["names"] = per
        d["details"] = details
        out[cid] = d
    return out


def expand_checks(checks: Mapping[str, Any], names: Sequence[str] | None = None) -> dict[str, Any]:
    """What :func:`compact_checks` left out, put back (``names``: the verdict's ``names`` column,
    needed for a check stored without ``details``; a full row passes unchanged)."""
    out: dict[str, Any] = {}
    for cid, c in checks.items():
        d = dict(c)
        if "details" not in c and names is None:
            raise StoreError(f"verdicts.checks of {cid} leaves its names out: expand_checks needs the verdict's names")
        details = dict(c["details"]) if "details" in c else {"names": list(names or ())}
        per = details.get("names")
        if isinstance(per, list):
            per = {n: {"result": c.get("result")} for n in per}
        if isinstance(per, Mapping):
            details["names"] = {
                name: {"check": det.get("check", cid), "name": det.get("name", name), "result": det.get("result"),
                       "severity": det.get("severity"), "applicable": det.get("applicable", True),
                       **{k: v for k, v in det.items() if k not in ("check", "name", "result", "severity",
                                                                     "applicable", "reasons")},
                       "reasons": [_expand_reason(r) for r in det.get("reasons") or ()]}
                for name, det in per.items()}
        d["details"] = details
        out[cid] = d
    return out


def _expand_reason(r: Mapping[str, Any]) -> dict[str, Any]:
    params = r.get("params") or {}
    out = dict(r)
    out.setdefault("params", params)
    out.setdefault("text", render(r["code"], params, "en"))
    out.setdefault("fix", fix_hint(r["code"], params, "en"))
    return out


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def pack_time(text: str | None) -> int | str | None:
    """``observations.started_at`` as stored from schema 5: milliseconds since 1970 (an integer, 6 bytes
    instead of 24) when the text is a UTC time in v6scan's form (``2026-11-30T14:50:52.123Z``) and
    :func:`unpack_time` gives it back exactly; anything else as it is."""
    if text is None or len(text) != 24 or not text.endswith("Z") or text[10] != "T":
        return text
    try:
        t = dt.datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return text
    ms = (t - _EPOCH) // dt.timedelta(milliseconds=1)
    return ms if unpack_time(ms) == text else text


def unpack_time(value: int | str | None) -> str | None:
    if isinstance(value, int):
        return _iso(_EPOCH + dt.timedelta(milliseconds=value))
    return value


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def _v5_compact(db: sqlite_utils.Database) -> None:
    """Version 5: evidence stored once per distinct document (content-addressed ``evidence_blobs``,
    zlib with a preset dictionary kept in ``zlib_dictionaries``), observations referring to it by
    ``evidence_hash``; verdicts' ``checks`` without what is derived again on reading
    (:func:`compact_checks`); no index on observations by (sweep, check, status); view
    ``site_observations``.  Every row is converted; nothing measured is lost."""
    conn = db.conn
    conn.execute("CREATE TABLE zlib_dictionaries (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    conn.execute("INSERT INTO zlib_dictionaries (id, data) VALUES (?, ?)", [_ZDICT_ID, ZDICT])
    conn.execute("CREATE TABLE evidence_blobs (hash BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID")
    conn.execute("""
        CREATE TABLE observations_v5 (
            id INTEGER PRIMARY KEY,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
            check_id TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            evidence_hash BLOB NOT NULL,
            error TEXT,
            elapsed_ms REAL,
            started_at,
            vantage TEXT
        )""")  # started_at without a type: milliseconds (integer) or text, as pack_time gives it
    cur = conn.execute("SELECT id, sweep_id, target_id, check_id, name, status, evidence, error, elapsed_ms,"
                       " started_at, vantage FROM observations ORDER BY id")
    while rows := cur.fetchmany(2000):
        hashes = _put_blobs(conn, [r[6] for r in rows])
        conn.executemany("INSERT INTO observations_v5 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(*r[:6], h, r[7], r[8], pack_time(r[9]), r[10]) for r, h in zip(rows, hashes, strict=True)])
    conn.execute("DROP TABLE observations")
    conn.execute("ALTER TABLE observations_v5 RENAME TO observations")
    conn.execute("CREATE INDEX observations_target ON observations (target_id)")
    last = 0
    while rows := conn.execute("SELECT id, checks, names FROM verdicts WHERE id > ? ORDER BY id LIMIT 2000",
                               [last]).fetchall():
        conn.executemany("UPDATE verdicts SET checks = ? WHERE id = ?",
                         [(_json(compact_checks(json.loads(c), json.loads(n))), i) for i, c, n in rows])
        last = rows[-1][0]
    conn.execute(_SITE_OBSERVATIONS)


_SITE_OBSERVATIONS = """
    CREATE VIEW site_observations AS
    SELECT o.sweep_id, t.name AS target, t.sector, t.region, o.check_id, o.name, o.status, o.error,
           o.elapsed_ms, CASE typeof(o.started_at) WHEN 'integer'
               THEN strftime('%Y-%m-%dT%H:%M:%fZ', o.started_at / 1000.0, 'unixepoch') ELSE o.started_at END
               AS started_at, o.vantage, hex(o.evidence_hash) AS evidence_hash
    FROM observations o JOIN targets t ON t.id = o.target_id"""


MIGRATIONS = {1: _create_v1, 2: _v2_shuffle, 3: _v3_chunks, 4: _v4_retries, 5: _v5_compact}

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
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self._migrate()
        self._dictionaries: dict[int, bytes] | None = None
        #: evidence of observations this connection replaced (targets recorded again): perhaps unreferenced now
        self._orphans: set[bytes] = set()

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
            with self.db.conn:
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version={version}")
        if 0 < current < 5:  # the old observations' pages are free now: give them back to the file system
            with contextlib.suppress(sqlite3.OperationalError):  # another connection reading: not this time
                self.db.execute("VACUUM")

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> sqlite3.Cursor:
        """INSERT without committing (sqlite-utils' insert helpers commit on their own, which would
        split our transactions): the caller's ``with self.db.conn`` commits or rolls back."""
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
        with self.db.conn:
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
        with self.db.conn:
            self.db.execute("UPDATE sweeps SET finished = ?, status = ?, note = ? WHERE id = ?",
                            [now_iso(), status, note, sweep_id])
        if self._orphans:  # targets written again (retries) may have left evidence nothing refers to
            self.prune_evidence(self._orphans)

    def prune_evidence(self, candidates: Iterable[bytes] | None = None) -> int:
        """Delete evidence no observation refers to any more (of ``candidates`` only, when given: one
        pass over the observations); return how many documents went."""
        with self.db.conn:
            if candidates is None:
                n = self.db.execute("DELETE FROM evidence_blobs WHERE hash NOT IN"
                                    " (SELECT evidence_hash FROM observations)").rowcount
            else:
                self.db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_candidates (hash BLOB PRIMARY KEY)")
                self.db.execute("DELETE FROM temp.prune_candidates")
                self.db.conn.executemany("INSERT OR IGNORE INTO temp.prune_candidates VALUES (?)",
                                         [(h,) for h in candidates])
                n = self.db.execute(
                    "DELETE FROM evidence_blobs WHERE hash IN (SELECT hash FROM temp.prune_candidates) AND hash NOT IN"
                    " (SELECT o.evidence_hash FROM observations o JOIN temp.prune_candidates c"
                    " ON c.hash = o.evidence_hash)").rowcount
                self.db.execute("DELETE FROM temp.prune_candidates")
        self._orphans.clear()
        return int(n)

    def _evidence(self, data: bytes | str | None) -> dict[str, Any]:
        """An observation's evidence from its ``evidence_blobs.data`` (``{}`` when missing)."""
        if data is None:
            return {}
        try:
            text = decode_evidence(data, self._dictionaries)
        except StoreError:
            if self._dictionaries is not None:
                raise
            self._dictionaries = {int(i): bytes(d) for i, d in
                                  self.db.execute("SELECT id, data FROM zlib_dictionaries").fetchall()}
            text = decode_evidence(data, self._dictionaries)
        out: dict[str, Any] = json.loads(text)
        return out

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
                "SELECT t.id, b.data FROM targets t"
                " LEFT JOIN observations o ON o.target_id = t.id AND o.check_id IN ('dns.resolve', 'self.v6')"
                " LEFT JOIN evidence_blobs b ON b.hash = o.evidence_hash"
                " WHERE t.sweep_id = ? AND t.status = 'retry'", [sweep_id]):
            causes = per.setdefault(int(tid), set())
            cause = self._evidence(data).get("scanner_side") if data is not None else None
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
        with self.db.conn:
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
        with self.db.conn:
            return self.db.execute("UPDATE chunks SET state = 'pending' WHERE sweep_id = ? AND state = 'leased'",
                                   [sweep_id]).rowcount

    def lease_chunk(self, sweep_id: int, seconds: float) -> tuple[int, list[Target]] | None:
        """Lease the next pending chunk (or one whose lease expired) for ``seconds``: its number and
        the targets in it still without a final result."""
        now = dt.datetime.now(dt.UTC)
        with self.db.conn:
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
        with self.db.conn:
            self.db.execute("UPDATE chunks SET state = 'done', lease_expires = NULL, vantage = ?"
                            " WHERE sweep_id = ? AND chunk = ?", [vantage, sweep_id, chunk])

    def chunk_attempts(self, sweep_id: int, chunk: int) -> int:
        return int(self.db.execute("SELECT attempts FROM chunks WHERE sweep_id = ? AND chunk = ?",
                                   [sweep_id, chunk]).fetchone()[0])

    def release_chunk(self, sweep_id: int, chunk: int) -> None:
        with self.db.conn:
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
        with self.db.conn:
            for name, started, finished, observations, verdict in batch:
                tid = ids[name]
                self._orphans.update(r[0] for r in self.db.execute(
                    "DELETE FROM observations WHERE target_id = ? RETURNING evidence_hash", [tid]).fetchall())
                hashes = _put_blobs(self.db.conn, [evidence_json(o.evidence) for o in observations])
                self._insert("observations", [
                    {"sweep_id": sweep_id, "target_id": tid, "check_id": o.check, "name": o.target,
                     "status": str(o.status), "evidence_hash": h,
                     "error": o.error, "elapsed_ms": round(o.elapsed_ms, 3), "started_at": pack_time(o.started_at),
                     "vantage": vantage} for o, h in zip(observations, hashes, strict=True)])
                if name in retry:  # not assessed: no verdict (nor one from an earlier attempt)
                    self.db.execute("DELETE FROM verdicts WHERE target_id = ?", [tid])
                elif verdict is not None:
                    self._write_verdict(sweep_id, tid, verdict)
                _failpoint("store.record")
                self.db.execute("UPDATE targets SET status = ?, started = ?, finished = ?, retries = retries + ?"
                                " WHERE id = ?", ["retry" if name in retry else "done", started,
                                                  finished or now_iso(), int(name in retry), tid])

    def _write_verdict(self, sweep_id: int, target_id: int, v: SiteVerdict) -> None:
        self.db.execute("DELETE FROM verdicts WHERE target_id = ? AND policy = ?", [target_id, v.policy])
        self._insert("verdicts", [{
            "sweep_id": sweep_id, "target_id": target_id, "policy": v.policy, "verdict": v.verdict,
            "score": v.score, "points": v.points, "names": json.dumps(list(v.names)),
            "checks": _json(compact_checks(json.loads(json.dumps(v.checks_json("en"), default=str)), v.names)),
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
        current: dict[str, Any] | None = None
        obs: list[Observation] = []
        for r in self.db.query("""
                SELECT t.id AS tid, t.name AS tname, t.display, t.sector, t.region, t.organisation,
                       t.started, t.finished, o.*, b.data AS evidence
                FROM targets t JOIN observations o ON o.target_id = t.id
                LEFT JOIN evidence_blobs b ON b.hash = o.evidence_hash
                WHERE t.sweep_id = ? AND t.status = 'done' ORDER BY t.position, o.id""", [sweep_id]):
            if current is None or current["tid"] != r["tid"]:
                if current is not None:
                    yield current, obs
                current = {k: r[k] for k in ("tid", "tname", "display", "sector", "region", "organisation",
                                             "started", "finished")}
                obs = []
            obs.append(Observation.from_json({
                "check": r["check_id"], "target": r["name"], "status": r["status"],
                "evidence": self._evidence(r["evidence"]), "error": r["error"], "elapsed_ms": r["elapsed_ms"],
                "started_at": unpack_time(r["started_at"])}))
        if current is not None:
            yield current, obs

    def verdict_rows(self, sweep_id: int, policy: str | None = None) -> list[dict[str, Any]]:
        policy = policy or self.sweep(sweep_id)["policy"]
        rows = []
        for r in self.db.query("""
                SELECT t.name, t.display, t.sector, t.region, t.organisation, t.finished, v.*
                FROM verdicts v JOIN targets t ON t.id = v.target_id
                WHERE v.sweep_id = ? AND v.policy = ? ORDER BY t.position""", [sweep_id, policy]):
            row = dict(r)
            for k in ("checks", "reasons", "names"):
                row[k] = json.loads(row[k])
            row["checks"] = expand_checks(row["checks"], row["names"])
            rows.append(row)
        return rows

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
        with self.db.conn:
            for tid, v in batch:
                self._write_verdict(sweep_id, tid, v)
        return len(batch)

    # ------------------------------------------------------------------- diff
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
