"""Compact storage (schema 5, issue 16 item 3): a target's observations packed in one zlib stream with a
preset dictionary (the sweep's own, made from its first targets), a verdict's details packed apart
from the results and summaries the views read; the migration from schema 4 keeps every observation
and every verdict; SQL still reads every observation through the view ``observations``."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6scan.model import Observation, Status
from v6scan.providers import ProviderTable, attribute
from v6scan.scoring import load_policy, score_target
from v6scan.store import PAGE_SIZE, SCHEMA_VERSION, Store, connect
from v6scan.store_codec import (
    BUILTIN_ID,
    DICTIONARY_SAMPLES,
    CodecError,
    inflate,
    join_checks,
    pack_observations,
    split_checks,
    unpack_observations,
)
from v6scan.targets import parse_target

DATA = Path(__file__).resolve().parent / "data"
OBS_COLUMNS = "sweep_id, target_id, check_id, name, status, evidence, error, elapsed_ms, started_at, vantage"


@pytest.fixture
def v4_db(tmp_path: Path) -> Path:
    """A real lab sweep of 12 scenarios written by schema version 4."""
    db = tmp_path / "old.db"
    with gzip.open(DATA / "sweep-1c815f1.db.gz", "rb") as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 4
    con.close()
    return db


def _observation_rows(con: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every observation as schema 4 stored it, evidence decoded (so JSON spacing does not matter)."""
    rows = con.execute(f"SELECT {OBS_COLUMNS} FROM observations ORDER BY target_id").fetchall()
    return [(*r[:5], json.loads(r[5]), *r[6:]) for r in rows]


def test_a_version_4_database_is_migrated_keeping_every_observation_and_verdict(v4_db: Path) -> None:
    con = sqlite3.connect(v4_db)
    obs_before = _observation_rows(con)
    verdicts_before = {r[0]: (r[1], r[2], json.loads(r[3]), r[4]) for r in con.execute(
        "SELECT id, verdict, score, checks, reasons FROM verdicts")}
    con.close()
    assert len(obs_before) > 300 and len(verdicts_before) >= 12

    with Store(v4_db) as s:
        assert s.schema_version == SCHEMA_VERSION == 7
        assert "observations" in s.db.view_names() and "observations" not in s.db.table_names()
        # SQL reads the observations as schema 4 stored them, through the view
        assert _observation_rows(s.db.conn) == obs_before
        # the store's own reader gives the same observations, in the same order per target
        from_store = [(row["tid"], o.check, o.target, str(o.status), dict(o.evidence), o.error, o.elapsed_ms,
                       o.started_at) for row, obs in s.observations(1) for o in obs]
        assert sorted(from_store, key=lambda r: r[0]) == [(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
                                                         for r in obs_before]
        # every verdict whole: the checks' results and summaries in plain JSON, their details packed
        for row in s.verdict_rows(1):
            verdict, score, checks, reasons = verdicts_before[row["id"]]
            assert (row["verdict"], row["score"], row["checks"], json.dumps(row["reasons"])) == \
                (verdict, score, checks, reasons)
        plain = dict(s.db.execute("SELECT id, checks FROM verdicts").fetchall())
        assert all(set(c) == {"result"} for v in plain.values() for c in json.loads(v).values())
        # the view check_results: each check's result and summary as before
        results = {(r[0], r[1]): (r[2], r[3]) for r in s.db.execute(
            "SELECT v.id, c.check_id, c.result, c.summary FROM check_results c JOIN targets t ON t.name = c.name"
            " JOIN verdicts v ON v.target_id = t.id AND v.policy = c.policy")}
        assert results == {(i, cid): (c["result"], c["summary"]) for i, v in verdicts_before.items()
                           for cid, c in v[2].items()}
        assert len({r for r, _ in results.values()}) > 2
    # vacuumed after the migration, into the new page size: no free page left, back in WAL mode
    con = sqlite3.connect(v4_db)
    assert con.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert con.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_the_migrated_sweep_rescores_and_exports_the_same(v4_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copyfile(v4_db, copy)
    with Store(copy) as s:
        before = {r["name"]: (r["verdict"], r["score"], r["checks"]) for r in s.verdict_rows(1)}
        assert s.rescore(1, load_policy()) == len(before)
        after = {r["name"]: (r["verdict"], r["score"], r["checks"]) for r in s.verdict_rows(1)}
    # the checks' own logic may have changed since the old sweep; what the store gives back for the
    # rescore is what scoring the stored observations gives now, whole
    with Store(copy) as s:
        policy = load_policy()
        for row, obs in s.observations(1):
            v = score_target(row["tname"], obs, policy)
            assert after[row["tname"]][:2] == (v.verdict, v.score)
            assert after[row["tname"]][2] == json.loads(json.dumps(v.checks_json("en"), default=str))
    assert before.keys() == after.keys()


def _site(name: str, k: int) -> list[Observation]:
    """Observations of a site much like a real one's: shared name servers, the site's own addresses."""
    return [
        Observation("dns.resolve", name, Status.OK, {"a": {"addresses": [f"203.0.113.{k % 250}"]},
                                                     "aaaa": {"addresses": [f"2001:db8::{k:x}"]}}, None, 3.25,
                    "2026-11-30T10:00:00.000Z"),
        Observation("dns.ns_reach", name, Status.OK, {"probes": [
            {"ns": "ns1.example.net", "address": "2001:db8:53::1", "rtt_ms": 1.5 + k, "answered": True}]},
            None, 12.0, "2026-11-30T10:00:00.003Z"),
        Observation("web.http", name, Status.TIMEOUT, {"chains": [], "note": "ünïcødé \u202e <script>"},
                    "no answer within 5 s", 5000.0, "2026-11-30T10:00:00.015Z"),
    ]


def test_a_sweep_gets_its_own_dictionary_from_its_first_targets(tmp_path: Path) -> None:
    n = DICTIONARY_SAMPLES * 3
    names = [f"site{k}.example.org" for k in range(n)]
    policy = load_policy()
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target(x) for x in names], {}, "default")
        for k, name in enumerate(names):  # one target a batch, as a sweep writes them
            s.record(sid, [(name, "x", None, _site(name, k), score_target(name, _site(name, k), policy))],
                     vantage="host-a")
        dictionaries = s.db.execute("SELECT id, sweep_id, kind FROM zlib_dictionaries ORDER BY sweep_id, kind"
                                    ).fetchall()
        # the built-in one and the sweep's own, for observations and for verdicts' details
        assert [d[1:] for d in dictionaries] == [(None, None), (sid, "details"), (sid, "observations")]
        own = dictionaries[2][0]
        assert {d for (d,) in s.db.execute("SELECT dictionary FROM verdicts")} == {BUILTIN_ID, dictionaries[1][0]}
        used = [d for (d,) in s.db.execute("SELECT dictionary FROM observation_packs ORDER BY target_id")]
        assert used[:DICTIONARY_SAMPLES] == [BUILTIN_ID] * DICTIONARY_SAMPLES
        assert set(used[DICTIONARY_SAMPLES + 1:]) == {own}
        # everything reads back exactly, whichever dictionary packed it
        for (_row, obs), k in zip(s.observations(sid), range(n), strict=True):
            assert [o.to_json() for o in obs] == [o.to_json() for o in _site(names[k], k)]
        assert s.db.execute("SELECT count(*), count(DISTINCT vantage) FROM observations").fetchone() == (3 * n, 1)
        # any zlib reads a pack given the dictionary its row names: nothing but the database is needed
        data, zdict = s.db.execute("SELECT p.data, d.data FROM observation_packs p JOIN zlib_dictionaries d"
                                   " ON d.id = p.dictionary ORDER BY p.target_id DESC LIMIT 1").fetchone()
        d = zlib.decompressobj(zdict=zdict)
        assert json.loads(d.decompress(data) + d.flush())[0][0] == "dns.resolve"
        # what the sweep's dictionary is worth: later sites pack smaller than the first ones
        sizes = [len(x) for (x,) in s.db.execute("SELECT data FROM observation_packs ORDER BY target_id")]
        assert sum(sizes[-DICTIONARY_SAMPLES:]) < sum(sizes[:DICTIONARY_SAMPLES])
    # a new connection (a resumed sweep) finds the sweep's dictionary and reads everything
    with Store(tmp_path / "s.db") as s:
        assert sum(len(obs) for _, obs in s.observations(sid)) == 3 * n
        assert all(r["checks"]["dns.resolve"]["details"]["names"] for r in s.verdict_rows(sid))


def test_a_rolled_back_batch_takes_its_dictionary_along_and_nothing_is_lost(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"site{k}.example.org" for k in range(DICTIONARY_SAMPLES + 4)]
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target(x) for x in names], {}, "default")
        first = names[:DICTIONARY_SAMPLES]
        s.record(sid, [(x, "x", None, _site(x, k), None) for k, x in enumerate(first)])
        real = s._write_verdict

        def boom(*a: object, **kw: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(s, "_write_verdict", boom)
        policy = load_policy()
        later = [(x, "x", None, _site(x, k), score_target(x, _site(x, k), policy))
                 for k, x in enumerate(names) if x not in first]
        with pytest.raises(OSError, match="disk full"):
            s.record(sid, later)  # this batch made the sweep's dictionary: rolled back with it
        assert s.db.execute("SELECT count(*) FROM zlib_dictionaries WHERE sweep_id = ?", [sid]).fetchone()[0] == 0
        monkeypatch.setattr(s, "_write_verdict", real)
        s.record(sid, later)
        assert s.db.execute("SELECT kind FROM zlib_dictionaries WHERE sweep_id = ?", [sid]).fetchall() == [
            ("observations",)]
        assert [row["tname"] for row, _ in s.observations(sid)] == names
        assert len(s.verdict_rows(sid)) == len(later)


def test_a_target_recorded_again_is_replaced_and_the_views_need_the_function(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as s:
        sid = s.start_sweep([parse_target("a.example")], {}, "default")
        s.record(sid, [("a.example", "x", None, _site("a.example", 1), None)], retry={"a.example"})
        s.record(sid, [("a.example", "x", None, _site("a.example", 2)[:1], None)])
        assert s.db.execute("SELECT count(*) FROM observation_packs").fetchone()[0] == 1
        ((_, obs),) = list(s.observations(sid))
        assert [o.check for o in obs] == ["dns.resolve"]
    con = sqlite3.connect(path)  # plain sqlite3: the tables and the verdict views read, the packed ones do not
    assert con.execute("SELECT count(*) FROM targets").fetchone()[0] == 1
    with pytest.raises(sqlite3.OperationalError, match="v6scan_inflate"):
        con.execute("SELECT count(*) FROM observations").fetchone()
    con.close()
    con = connect(path)
    assert con.execute("SELECT check_id, json_extract(evidence, '$.a.addresses[0]') FROM observations"
                       ).fetchall() == [("dns.resolve", "203.0.113.2")]
    con.close()


def test_a_corrupt_pack_is_a_clear_error() -> None:
    with pytest.raises(CodecError, match="unknown dictionary"):
        inflate(zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, b"other").compress(b"x"), None)
    with pytest.raises(CodecError, match="corrupt"):
        inflate(b"\x78\x9c not zlib", None)


_json_leaf = st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20)
_evidence = st.dictionaries(st.text(max_size=10), st.recursive(
    _json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10), max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=30), st.sampled_from(list(Status)),
                          _evidence, st.none() | st.text(max_size=40),
                          st.floats(0, 1e6, allow_nan=False), st.text(max_size=24)), max_size=6))
def test_packing_observations_gives_them_back_exactly(rows: list[tuple[Any, ...]]) -> None:
    obs = [Observation(c, n, s, e, err, ms, at) for c, n, s, e, err, ms, at in rows]
    back = unpack_observations(pack_observations(obs).decode())
    assert [o.to_json() for o in back] == [o.to_json() for o in obs]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), st.fixed_dictionaries(
    {"result": st.sampled_from(["pass", "fail", "warn"]), "summary": st.text(max_size=20)},
    optional={"details": _evidence, "extra": _json_leaf}), max_size=5))
def test_splitting_checks_and_joining_them_gives_them_back(checks: dict[str, dict[str, Any]]) -> None:
    slim, rest = split_checks(checks)
    assert all(set(c) == {"result"} for c in slim.values()) and rest.keys() == checks.keys()
    assert join_checks(json.loads(json.dumps(slim)), json.loads(json.dumps(rest))) == checks


def test_readers_can_share_a_sweep_by_shard(tmp_path: Path) -> None:
    names = [f"site{k}.example.org" for k in range(7)]
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target(x) for x in names], {}, "default")
        s.record(sid, [(x, "x", None, _site(x, k), None) for k, x in enumerate(names)])
        whole = [(row["tname"], json.loads(text)) for row, text in s.observation_texts(sid)]
        assert [n for n, _ in whole] == names and all(rows[0][0] == "dns.resolve" for _, rows in whole)
        shares = [[row["tname"] for row, _ in s.observation_texts(sid, shard=(k, 3))] for k in range(3)]
        assert sorted(n for share in shares for n in share) == sorted(names)
        assert all(share == [n for n in names if n in share] for share in shares)  # each in target order
        with pytest.raises(ValueError, match="not a shard"):
            next(s.observation_texts(sid, shard=(3, 3)))


def test_a_migrated_sweep_is_attributed_from_its_observations_when_first_read(v4_db: Path, tmp_path: Path) -> None:
    """Schema 6: an older sweep has no attributions; the first read makes them (and stores them)."""
    lab_cdn = tmp_path / "lab.csv"
    lab_cdn.write_text("match,provider,provider_zh,kind,country,source\ncdn.test,Lab CDN,,cdn,CN,the lab\n"
                       "gov.test,Lab DNS,,dns,CN,the lab\n", encoding="utf-8")
    with Store(v4_db) as s:
        assert s.db.execute("SELECT count(*) FROM attributions").fetchone()[0] == 0
        s.providers = ProviderTable.load([lab_cdn])
        got = s.attributions(1)
        done = {r["name"] for r in s.target_rows(1) if r["status"] == "done"}
        assert set(got) == done and len(done) >= 12
        assert s.db.execute("SELECT count(*) FROM attributions").fetchone()[0] == len(done)
        by_obs = {row["tname"]: attribute(row["tname"], obs, s.providers) for row, obs in s.observations(1)}
        assert got == by_obs  # exactly what the pure function makes of the stored observations
        assert any(a.v6.addresses and a.v6.prefixes for a in got.values())
        gov = [a for n, a in got.items() if n.endswith(".gov.test") and a.ns]
        assert gov and all(a.dns_operator == "Lab DNS" for a in gov)
        s.forget_attributions(1)
        s.providers = ProviderTable.default()
        assert all(a.dns_operator is None for a in s.attributions(1).values())  # made again, with the new table
