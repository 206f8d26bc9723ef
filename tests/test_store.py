"""The SQLite store on a real file: schema, transactions, resume, re-scoring, diff, formula-safe CSV."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6scan.model import Observation, Status
from v6scan.report import export_csv, formula_safe
from v6scan.scoring import load_policy, score_target
from v6scan.store import SCHEMA_VERSION, Store, StoreError, config_hash
from v6scan.targets import Target, parse_target


def obs(name: str, aaaa: bool = True) -> list[Observation]:
    """A minimal, realistic DNS-only observation set."""
    rows = [{"address": "2a00:1450::1", "public": True, "usable": True, "kind": "global",
             "name": "a global unicast address"}] if aaaa else []
    return [
        Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {}}),
        Observation("dns.aaaa", name, Status.OK if aaaa else Status.NODATA,
                    {"addresses": rows, "usable": [r["address"] for r in rows], "not_usable": []}),
    ]


def targets(n: int) -> list[Target]:
    return [parse_target(f"site{i}.example.org", sector=["gov", "edu"][i % 2], region="north")
            for i in range(n)]


def record(store: Store, sid: int, names: list[str], aaaa: bool = True) -> None:
    policy = load_policy()
    store.record(sid, [(n, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", obs(n, aaaa),
                        score_target(n, obs(n, aaaa), policy)) for n in names])


def test_new_database_has_the_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as s:
        assert s.schema_version == SCHEMA_VERSION
        assert {"sweeps", "targets", "observation_packs", "verdicts", "zlib_dictionaries"} <= set(s.db.table_names())
        views = {"site_verdicts", "check_results", "sector_summary", "region_summary", "observations",
                 "site_observations"}
        assert views <= set(s.db.view_names())
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        fks = {r[2] for r in s.db.execute("PRAGMA foreign_key_list(observation_packs)").fetchall()}
        assert fks == {"sweeps", "targets", "zlib_dictionaries"}
    with Store(tmp_path / "a.db") as s:  # reopening migrates nothing and keeps data
        assert s.schema_version == SCHEMA_VERSION


def test_foreign_and_future_databases_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a v6scan database"):
        Store(other)
    future = tmp_path / "future.db"
    con = sqlite3.connect(future)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="upgrade v6scan"):
        Store(future)


def test_record_is_transactional_and_idempotent(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep(targets(4), {"x": 1}, "default")
        assert [t.name for t in s.pending_targets(sid)] == [f"site{i}.example.org" for i in range(4)]
        record(s, sid, ["site1.example.org", "site3.example.org"])
        assert [t.name for t in s.pending_targets(sid)] == ["site0.example.org", "site2.example.org"]
        record(s, sid, ["site1.example.org"])  # a retried write replaces, never duplicates
        n = s.db.execute("SELECT count(*) FROM observations o JOIN targets t ON t.id = o.target_id"
                         " WHERE t.name = 'site1.example.org'").fetchone()[0]
        assert n == 2
        # a batch naming an unknown target writes nothing at all
        with pytest.raises(StoreError, match="not in sweep"):
            record(s, sid, ["site0.example.org", "nope.example.org"])
        assert [t.name for t in s.pending_targets(sid)] == ["site0.example.org", "site2.example.org"]


def test_a_failing_batch_leaves_no_half_written_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep(targets(2), {}, "default")
        real = s._write_verdict
        calls = {"n": 0}

        def boom(*a: object, **kw: object) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk full")
            real(*a, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(s, "_write_verdict", boom)
        with pytest.raises(RuntimeError):
            record(s, sid, ["site0.example.org", "site1.example.org"])
        assert s.db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
        assert s.db.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 0
        assert len(s.pending_targets(sid)) == 2


def test_a_second_connection_sees_committed_targets_during_a_sweep(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as writer:
        sid = writer.start_sweep(targets(3), {}, "default")
        record(writer, sid, ["site0.example.org"])
        with Store(path) as reader:  # e.g. a report or `datasette` while the sweep runs
            assert [r["name"] for r in reader.verdict_rows(sid)] == ["site0.example.org"]


def test_rescore_and_diff(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        a = s.start_sweep(targets(2), {}, "default")
        record(s, a, ["site0.example.org", "site1.example.org"])
        s.finish_sweep(a)
        b = s.start_sweep(targets(2), {}, "default")
        record(s, b, ["site0.example.org"], aaaa=False)
        record(s, b, ["site1.example.org"])
        s.finish_sweep(b)
        d = s.diff(a, b)
        assert [x["name"] for x in d.changed] == ["site0.example.org"]
        assert d.changed[0]["after"] == "absent"
        assert s.rescore(a, load_policy("internetnl")) == 2
        assert set(s.policies(a)) == {"default", "internetnl"}
        with pytest.raises(StoreError, match="rescore"):
            s.diff(a, b, "internetnl")
        assert [x["id"] for x in s.sweeps()] == [a, b] and s.latest_sweep() == b
        with pytest.raises(StoreError, match="no sweep 99"):
            s.sweep(99)


def test_config_hash_is_order_independent() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


@pytest.mark.parametrize(("cell", "safe"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-1+2", "'-1+2"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("\uff1d1", "'\uff1d1"),
    ("plain", "plain"), ("", ""), (None, ""), (42, "42"),
])
def test_formula_safe(cell: object, safe: str) -> None:
    assert formula_safe(cell) == safe


@given(st.text(max_size=50))
def test_csv_cells_never_start_a_formula(text: str) -> None:
    buf = io.StringIO()
    served = {"provider": text, "via": text, "addresses": [text], "prefixes": [text]}
    export_csv([{"target": text, "display": text, "sector": text, "region": text, "organisation": text,
                 "verdict": "ready", "score": 1, "reasons": [{"text": text}], "checks": {},
                 "attribution": {"v6": served, "v4": served, "cname": text, "dns_operator": text}}], buf)
    row = next(csv.DictReader(io.StringIO(buf.getvalue())))
    for key in ("target", "display", "sector", "region", "organisation", "reasons", "provider_v6", "provider_v4",
                "dns_operator", "cname", "prefixes_v6", "prefixes_v4"):
        assert not row[key].startswith(("=", "+", "-", "@", "\t", "\r"))


def test_sweep_order_is_shuffled_but_stable(tmp_path: Path) -> None:
    ts = targets(50)
    with Store(tmp_path / "s.db") as s:
        a = s.start_sweep(ts, {}, "default")
        order = [t.name for t in s.iter_pending(a, chunk=7)]  # several chunks
        assert order == [t.name for t in s.iter_pending(a)]  # stable (resume uses the same order)
        assert order != [t.name for t in ts] and sorted(order) == sorted(t.name for t in ts)
        b = s.start_sweep(ts, {}, "default")
        assert [t.name for t in s.iter_pending(b)] != order  # seeded by the sweep


def test_pending_targets_stream_while_results_are_written(tmp_path: Path) -> None:
    """A sweep writes results between two chunk reads: every target is given exactly once, and a
    finished one is never given again."""
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep(iter(targets(30)), {}, "default")  # a lazy iterable is enough
        assert s.sweep(sid)["targets"] == 30 and s.pending_count(sid) == 30
        seen = []
        for t in s.iter_pending(sid, chunk=4):
            seen.append(t.name)
            s.record(sid, [(t.name, "2026-01-01T00:00:00Z", None,
                            [Observation("dns.resolve", t.name, Status.NXDOMAIN, {}, "no such name")], None)])
        assert sorted(seen) == sorted(t.name for t in targets(30)) and len(seen) == len(set(seen))
        assert s.pending_count(sid) == 0 and list(s.iter_pending(sid)) == []


def test_duplicate_names_keep_the_first(tmp_path: Path) -> None:
    ts = targets(3)
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([*ts, Target(ts[0].name, "again", "edu")], {}, "default")
        rows = s.target_rows(sid)
        assert len(rows) == 3 and rows[0]["display"] == ts[0].display


def test_version_1_database_is_migrated(tmp_path: Path) -> None:
    """A database written by schema version 1 gains the shuffled order of its targets."""
    from v6scan.store import MIGRATIONS, shuffle_key

    path = tmp_path / "v1.db"
    import sqlite_utils

    db = sqlite_utils.Database(path)
    MIGRATIONS[1](db)
    db.execute("PRAGMA user_version=1")
    db.execute("INSERT INTO sweeps (id, started, policy, version, config, config_hash) VALUES"
               " (1, 'x', 'default', '0', '{}', 'h')")
    db.execute("INSERT INTO targets (sweep_id, position, name, display) VALUES (1, 0, 'a.org', 'a.org')")
    db.conn.commit()
    db.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.db.execute("SELECT shuffle FROM targets").fetchone()[0] == shuffle_key(1, "a.org")
        assert [t.name for t in s.iter_pending(1)] == ["a.org"]


def test_chunks_are_leased_finished_released_and_re_cut_for_retries(tmp_path: Path) -> None:
    """Cluster sweeps: chunks in the shuffled order, one lease at a time, an expired lease taken over,
    a dead coordinator's leases released, and a target to retry put in a new chunk."""
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep(targets(10), {}, "default")
        assert s.make_chunks(sid, 4) == 3  # 4 + 4 + 2
        first = s.lease_chunk(sid, 60)
        assert first is not None and first[0] == 0 and len(first[1]) == 4
        assert [t.name for t in first[1]] == [t.name for t in s.iter_pending(sid)][:4]
        second = s.lease_chunk(sid, -1)  # already expired: the next lease may take it over
        assert second is not None and second[0] == 1
        again = s.lease_chunk(sid, 60)
        assert again is not None and again[0] == 1  # the expired lease, before the pending chunk 2
        third = s.lease_chunk(sid, 60)
        assert third is not None and third[0] == 2 and s.lease_chunk(sid, 60) is None
        # chunk 0 finishes, one of its targets to retry
        names = [t.name for t in first[1]]
        s.record(sid, [(n, "x", None, [Observation("dns.resolve", n, Status.OK, {})], None) for n in names],
                 retry={names[0]}, vantage="host-a")
        s.finish_chunk(sid, 0, "host-a")
        assert s.chunk_states(sid) == {"done": 1, "leased": 2}
        assert s.release_leases(sid) == 2  # the coordinator died: --resume releases its leases
        assert s.make_chunks(sid, 4) == 3  # chunks 1, 2 again, and a new chunk for the retry
        lease = s.lease_chunk(sid, 60)
        assert lease is not None and lease[0] == 1
        assert s.db.execute("SELECT chunk FROM targets WHERE name = ?", [names[0]]).fetchone()[0] == 3
        assert {r[0] for r in s.db.execute("SELECT vantage FROM observations")} == {"host-a"}


def test_version_3_database_is_migrated_with_retry_counts(tmp_path: Path) -> None:
    """Version 4 counts each target's retries (the sweep's retry budget holds across resumes): a
    version 3 database gains the column, a target waiting for its retry having used one."""
    import sqlite_utils

    from v6scan.store import MIGRATIONS

    path = tmp_path / "v3.db"
    db = sqlite_utils.Database(path)
    for v in (1, 2, 3):
        MIGRATIONS[v](db)
    db.execute("PRAGMA user_version=3")
    db.execute("INSERT INTO sweeps (id, started, policy, version, config, config_hash) VALUES"
               " (1, 'x', 'default', '0', '{}', 'h')")
    for i, (name, status) in enumerate([("a.org", "retry"), ("b.org", "done"), ("c.org", "pending")]):
        db.execute("INSERT INTO targets (sweep_id, position, name, display, status) VALUES (1, ?, ?, ?, ?)",
                   [i, name, name, status])
    db.conn.commit()
    db.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.retries_used(1, ["a.org", "b.org", "c.org"]) == {"a.org": 1, "b.org": 0, "c.org": 0}
        # each write for retry spends one; a write with a verdict spends none
        s.record(1, [("a.org", "x", None, obs("a.org"), None)], retry={"a.org"})
        s.record(1, [("c.org", "x", None, obs("c.org"), None)])
        assert s.retries_used(1, ["a.org", "c.org"]) == {"a.org": 2, "c.org": 0}
