"""Compact storage (schema 5, issue 16 item 3): evidence stored once per distinct document, zlib with a
preset dictionary kept in the database; verdicts' checks without what is derived on reading; the
migration from schema 4 keeps every observation and every verdict."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest

from v6scan.model import Observation, Status
from v6scan.scoring import load_policy, score_target
from v6scan.store import (
    SCHEMA_VERSION,
    Store,
    StoreError,
    compact_checks,
    decode_evidence,
    encode_evidence,
    expand_checks,
    pack_time,
    unpack_time,
)
from v6scan.targets import parse_target

DATA = Path(__file__).resolve().parent / "data"


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


def _raw_v4(db: Path) -> tuple[list[tuple[Any, ...]], dict[int, dict[str, Any]]]:
    con = sqlite3.connect(db)
    obs = con.execute("SELECT id, sweep_id, target_id, check_id, name, status, evidence, error, elapsed_ms,"
                      " started_at, vantage FROM observations ORDER BY id").fetchall()
    cols = ["id", "sweep_id", "target_id", "policy", "verdict", "score", "points", "names", "checks", "reasons",
            "scored_at"]
    verdicts = {r[0]: dict(zip(cols, r, strict=True)) for r in con.execute(f"SELECT {', '.join(cols)} FROM verdicts")}
    con.close()
    return obs, verdicts


def test_a_version_4_database_is_migrated_keeping_every_observation_and_verdict(v4_db: Path) -> None:
    obs_before, verdicts_before = _raw_v4(v4_db)
    size_before = v4_db.stat().st_size
    assert len(obs_before) > 300 and len(verdicts_before) == 12
    with Store(v4_db) as s:
        assert s.schema_version == SCHEMA_VERSION == 5
        # every observation row: same columns, its evidence the same JSON text, byte for byte
        dicts = {int(i): bytes(d) for i, d in s.db.execute("SELECT id, data FROM zlib_dictionaries")}
        after = s.db.execute("SELECT o.id, o.sweep_id, o.target_id, o.check_id, o.name, o.status, b.data, o.error,"
                             " o.elapsed_ms, o.started_at, o.vantage FROM observations o"
                             " JOIN evidence_blobs b ON b.hash = o.evidence_hash ORDER BY o.id").fetchall()
        assert [(*r[:6], decode_evidence(r[6], dicts), r[7], r[8], unpack_time(r[9]), r[10]) for r in after
                ] == obs_before
        assert {type(r[9]) for r in after} == {int}  # times in v6scan's form are stored as milliseconds
        # identical documents are stored once
        distinct = len({r[6] for r in obs_before})
        assert s.db.execute("SELECT count(*) FROM evidence_blobs").fetchone()[0] == distinct < len(obs_before)
        # Store.observations gives what a v4 store gave
        by_id = {r[0]: r for r in obs_before}
        seen = 0
        for row, observations in s.observations(1):
            mine = [r for r in obs_before if r[2] == row["tid"]]
            assert [o.to_json() for o in observations] == [
                {"check": r[3], "target": r[4], "status": r[5], "evidence": json.loads(r[6]), "error": r[7],
                 "elapsed_ms": r[8], "started_at": r[9]} for r in mine]
            seen += len(observations)
        assert seen == len(by_id)
        # every verdict: the same columns; checks read back through the store as they were
        rows = {r["id"]: r for r in s.verdict_rows(1)}
        assert rows.keys() == verdicts_before.keys()
        for vid, before in verdicts_before.items():
            got = rows[vid]
            for k in ("sweep_id", "target_id", "policy", "verdict", "score", "points", "scored_at"):
                assert got[k] == before[k], (vid, k)
            for k in ("names", "checks", "reasons"):
                assert got[k] == json.loads(before[k]), (vid, k)
        stored = sum(len(c) for (c,) in s.db.execute("SELECT checks FROM verdicts"))
        assert stored < 0.6 * sum(len(v["checks"]) for v in verdicts_before.values())
        # the views still answer from the compact rows
        results = dict(((n, c), (r, sm)) for n, c, r, sm in s.db.execute(
            "SELECT name, check_id, result, summary FROM check_results"))
        for before in verdicts_before.values():
            name = s.db.execute("SELECT name FROM targets WHERE id = ?", [before["target_id"]]).fetchone()[0]
            for cid, c in json.loads(before["checks"]).items():
                assert results[(name, cid)] == (c["result"], c["summary"])
        shown = s.db.execute("SELECT started_at FROM site_observations").fetchall()
        assert sorted(t for (t,) in shown) == sorted(r[9] for r in obs_before)  # readable in the view
    assert v4_db.stat().st_size < size_before / 2  # the old rows' pages went back to the file system


@pytest.mark.parametrize("policy", ["default", "internetnl", "cn-gov"])
def test_a_migrated_sweep_rescores_as_it_did(v4_db: Path, policy: str) -> None:
    with gzip.open(DATA / "sweep-1c815f1-verdicts.json.gz", "rt", encoding="utf-8") as f:
        want = {k.split(" ", 1)[1]: v for k, v in json.load(f).items() if k.split(" ", 1)[0] == policy}
    with Store(v4_db) as s:
        assert s.rescore(1, load_policy(policy)) == 12
        got = {r["name"]: r for r in s.verdict_rows(1, policy)}
    assert got.keys() == want.keys()
    for name, w in want.items():
        g = got[name]
        assert (g["verdict"], g["score"], g["points"], g["reasons"], g["checks"]) == (
            w["verdict"], w["score"], w["points"], w["reasons"], w["checks"]), name


def _shared_ns(name: str) -> list[Observation]:
    ns = {"zone": "gov.example", "servers": [{"name": "ns1.gov.example", "aaaa": ["2001:db8::53"]}]}
    return [Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {"addresses": ["2001:db8::1"]}}),
            Observation("dns.ns_aaaa", name, Status.OK, ns),
            Observation("dns.aaaa", name, Status.OK, {"addresses": [], "usable": [name], "not_usable": []})]


def test_identical_evidence_is_stored_once_and_read_back_for_every_site(tmp_path: Path) -> None:
    policy = load_policy()
    names = [f"site{i}.gov.example" for i in range(20)]
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target(n) for n in names], {}, "default")
        made = {n: _shared_ns(n) for n in names}
        s.record(sid, [(n, "2026-01-01T00:00:00Z", None, made[n], score_target(n, made[n], policy)) for n in names])
        # dns.ns_aaaa's document is one for all 20 sites; dns.resolve's too; dns.aaaa's differs per site
        assert s.db.execute("SELECT count(*) FROM observations").fetchone()[0] == 60
        assert s.db.execute("SELECT count(*) FROM evidence_blobs").fetchone()[0] == 2 + 20
        back = {row["tname"]: [o.to_json() for o in obs] for row, obs in s.observations(sid)}
        assert back == {n: [o.to_json() for o in made[n]] for n in names}


def test_evidence_reads_back_with_zlib_alone(tmp_path: Path) -> None:
    """What a user of the sqlite3 shell or of another language does: the zlib stream names its
    dictionary (Adler-32 in its header), which the database holds."""
    made = _shared_ns("a.example")
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target("a.example")], {}, "default")
        s.record(sid, [("a.example", "x", None, made, None)])
    con = sqlite3.connect(tmp_path / "s.db")
    zdicts = dict(con.execute("SELECT id, data FROM zlib_dictionaries").fetchall())
    docs = []
    for check_id, data in con.execute("SELECT o.check_id, b.data FROM observations o JOIN evidence_blobs b"
                                      " ON b.hash = o.evidence_hash ORDER BY o.id"):
        dict_id = int.from_bytes(data[2:6], "big")
        d = zlib.decompressobj(zdict=zdicts[dict_id])
        docs.append((check_id, json.loads(d.decompress(data) + d.flush())))
    con.close()
    assert docs == [(o.check, dict(o.evidence)) for o in made]


def test_a_target_written_again_leaves_no_evidence_behind(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target("a.example"), parse_target("b.example")], {}, "default")
        first = [Observation("dns.resolve", "a.example", Status.TIMEOUT, {"scanner_side": "resolver"}, "timeout")]
        s.record(sid, [("a.example", "x", None, first, None)], retry={"a.example"})
        assert s.retry_causes(sid) == {"resolver": 1}  # read from the compressed evidence
        s.record(sid, [("a.example", "x", None, _shared_ns("a.example"), None),
                       ("b.example", "x", None, _shared_ns("b.example"), None)])
        assert s.db.execute("SELECT count(*) FROM evidence_blobs").fetchone()[0] == 5  # the retry's is left
        s.finish_sweep(sid)
        referenced = s.db.execute("SELECT count(DISTINCT evidence_hash) FROM observations").fetchone()[0]
        assert s.db.execute("SELECT count(*) FROM evidence_blobs").fetchone()[0] == referenced == 4
        # the full pass finds the same (nothing left to delete), and a document still used is never deleted
        assert s.prune_evidence() == 0 and s.prune_evidence([bytes(16), *s.db.execute(
            "SELECT evidence_hash FROM observations").fetchall()[0]]) == 0
        s.db.execute("DELETE FROM observations WHERE target_id = 2")
        assert s.prune_evidence() == 1  # b.example's dns.aaaa document was its own; the rest are shared


def test_a_rolled_back_batch_leaves_no_dangling_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target("a.example")], {}, "default")

        def boom(*a: object, **kw: object) -> None:
            raise RuntimeError("disk full")

        real = s._write_verdict
        monkeypatch.setattr(s, "_write_verdict", boom)
        policy = load_policy()
        obs = _shared_ns("a.example")
        with pytest.raises(RuntimeError):
            s.record(sid, [("a.example", "x", None, obs, score_target("a.example", obs, policy))])
        assert s.db.execute("SELECT count(*) FROM evidence_blobs").fetchone()[0] == 0
        monkeypatch.setattr(s, "_write_verdict", real)
        s.record(sid, [("a.example", "x", None, obs, score_target("a.example", obs, policy))])
        ((_, back),) = list(s.observations(sid))
        assert [o.to_json() for o in back] == [o.to_json() for o in obs]


def test_compact_checks_keep_what_rendering_would_not_give_back() -> None:
    """A reason's text or fix that the message catalogue would not render the same (an older
    catalogue, a code it does not know) is kept as it was; everything else is derived again."""
    full = {"web.tls": {"result": "fail", "summary": "old words", "details": {"names": {"a.example": {
        "check": "web.tls", "name": "a.example", "result": "fail", "severity": "broken", "applicable": True,
        "reasons": [{"code": "no_such_code", "params": {"x": 1}, "text": "old words", "fix": "old fix"}]},
        "www.a.example": {"check": "web.tls", "name": "www.a.example", "result": "pass", "severity": None,
                          "applicable": False, "reasons": []}}}}}
    small = compact_checks(full)
    assert small["web.tls"]["details"]["names"]["www.a.example"] == {"result": "pass", "applicable": False}
    assert small["web.tls"]["details"]["names"]["a.example"]["reasons"][0]["text"] == "old words"
    assert expand_checks(small) == full
    assert expand_checks(full) == full  # a full (schema 4) row passes unchanged
    # every name with just the check's result: the names are a list, or left out when they are the verdict's
    plain = {"dns.aaaa": {"result": "pass", "summary": "passed", "details": {"names": {n: {
        "check": "dns.aaaa", "name": n, "result": "pass", "severity": None, "applicable": True, "reasons": []}
        for n in ("a.example", "www.a.example")}}}}
    assert compact_checks(plain, ["a.example", "www.a.example"]) == {"dns.aaaa": {"result": "pass",
                                                                                  "summary": "passed"}}
    assert compact_checks(plain, ["a.example"])["dns.aaaa"]["details"] == {"names": ["a.example", "www.a.example"]}
    assert expand_checks(compact_checks(plain, ["a.example"])) == plain
    assert expand_checks(compact_checks(plain, ["a.example", "www.a.example"]), ["a.example", "www.a.example"]
                         ) == plain
    with pytest.raises(StoreError, match="needs the verdict's names"):
        expand_checks(compact_checks(plain, ["a.example", "www.a.example"]))


def test_compression_is_worth_it_on_real_evidence(v4_db: Path) -> None:
    con = sqlite3.connect(v4_db)
    texts = [t for (t,) in con.execute("SELECT evidence FROM observations")]
    con.close()
    plain = sum(len(zlib.compress(t.encode(), 9)) for t in texts)
    ours = sum(len(encode_evidence(t)) for t in texts)
    assert ours < plain / 2  # the preset dictionary at least halves zlib's size on small documents
    assert all(decode_evidence(encode_evidence(t)) == t for t in texts)


@pytest.mark.parametrize("text", ["2026-11-30T14:50:52.123Z", "1999-01-01T00:00:00.000Z", "2026-11-30T14:50:52.999Z"])
def test_times_are_stored_as_milliseconds_and_read_back_exactly(text: str, tmp_path: Path) -> None:
    assert isinstance(pack_time(text), int) and unpack_time(pack_time(text)) == text
    with Store(tmp_path / "s.db") as s:
        sid = s.start_sweep([parse_target("a.example")], {}, "default")
        s.record(sid, [("a.example", "x", None, [Observation("dns.resolve", "a.example", Status.OK, {}, None, 1.5,
                                                             text)], None)])
        assert s.db.execute("SELECT started_at FROM site_observations").fetchone()[0] == text


@pytest.mark.parametrize("text", ["x", "2026-11-30T14:50:52Z", "2026-11-30T14:50:52.123+00:00", "", None,
                                  "2026-13-30T14:50:52.123Z"])
def test_other_times_are_stored_as_they_are(text: str | None) -> None:
    assert pack_time(text) == text and unpack_time(pack_time(text)) == text
