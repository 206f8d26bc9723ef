"""One record (issue 18, item 4): ``check --format json``, ``scan --format jsonl``, ``export`` and the
report build the output contract's per-target record (DESIGN.md section 4) with one function, so
the same results give the same records whichever command prints them.

CliRunner and a real SQLite store, no network: the engine's per-target scan is replaced by a fake
that returns canned observations (the sweep's streaming, scoring, store and rendering run as they
are).  No JSON Schema document exists for the record; it is defined in code by the TypedDict
:class:`v6scan.record.Record`, and :func:`conforms` checks every record against it (every key
present, no other key, the types) plus the vocabularies (verdicts, results, statuses)."""

from __future__ import annotations

import datetime as dt
import json
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest
from click.testing import CliRunner, Result

import v6scan.cli as cli_module
import v6scan.engine as engine
from v6scan.cli import cli
from v6scan.context import Context
from v6scan.engine import TargetResult
from v6scan.model import RESULT_SCHEMA, Observation, Status
from v6scan.record import Record
from v6scan.report import build_report, result_records
from v6scan.scoring import RESULTS, VERDICTS
from v6scan.store import Store
from v6scan.targets import Target

POLICY: dict[str, Any] = {
    "name": "dns-only", "description": "DNS checks only (tests)", "score": {"method": "weighted"},
    "checks": {"dns.resolve": {"weight": 0, "required": True}, "dns.aaaa": {"weight": 10, "required": True},
               "self.v6": {"weight": 0}},
}
FINISHED = "2026-01-01T00:00:00.000Z"
#: site text that each JSON writer must escape the same way: bidi override, ESC, C1, a lone surrogate
HOSTILE = "\u202egnp.exe \x1b[2J \x9b \udc80 \u2028"

#: the target list: plain names, a name with metadata (CSV columns), an IDN, and one the scanner
#: cannot measure (its resolver is down: kept to retry, so neither scan nor export prints it)
TARGETS = ["ready.example.org", "absent.example.org", "nx.example.org",
           "hostile.example.org,gov,north,Ministry of \u202eTests (测试部)", "bücher.example",
           "www-missing.example.org", "down.example.org"]
PLAIN = ["ready.example.org", "absent.example.org", "nx.example.org", "xn--bcher-kva.example",
         "www-missing.example.org"]


def _aaaa(name: str, usable: bool, error: str | None = None) -> Observation:
    rows = [{"address": "2a00:1450::1", "public": True, "usable": True, "kind": "global",
             "name": "a global unicast address"}] if usable else []
    return Observation("dns.aaaa", name, Status.OK if usable else Status.NODATA,
                       {"addresses": rows, "usable": [r["address"] for r in rows], "not_usable": []}, error)


def observations(name: str) -> tuple[list[str], list[Observation]]:
    """The names measured and the observations the fake scanner returns for ``name``."""
    kind = name.split(".")[0]
    resolve = Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {}, "cname_chain": (name,)},
                          elapsed_ms=1.5, started_at=FINISHED)
    selfv6 = Observation("self.v6", name, Status.OK, {})
    if kind == "absent":
        return [name], [resolve, _aaaa(name, False, "no AAAA record"), selfv6]
    if kind == "nx":
        return [name], [Observation("dns.resolve", name, Status.NXDOMAIN, {}, "NXDOMAIN"),
                        Observation("dns.aaaa", name, Status.SKIPPED, {}, "the name did not resolve"), selfv6]
    if kind == "down":
        return [name], [Observation("dns.resolve", name, Status.TIMEOUT,
                                    {"canary": {"status": "timeout"}, "scanner_side": "resolver"}, "timeout"),
                        selfv6]
    if kind == "hostile":
        title = {"title": HOSTILE, "nested": [{"text": HOSTILE, "n": 1.25}], "flag": True, "none": None}
        return [name], [Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {}, **title}),
                        _aaaa(name, False, f"no AAAA \u202e\x1b[2J ({name})"), selfv6]
    if kind == "www-missing":  # two names measured; www. does not resolve, so only the domain counts
        www = f"www.{name}"
        return [name, www], [resolve, _aaaa(name, True), selfv6,
                             Observation("dns.resolve", www, Status.NXDOMAIN, {}, "NXDOMAIN"),
                             Observation("dns.aaaa", www, Status.SKIPPED, {}, "the name did not resolve")]
    return [name], [resolve, _aaaa(name, True), selfv6]


async def fake_scan_target(ctx: Context, target: Target) -> TargetResult:
    names, obs = observations(target.name)
    return TargetResult(target, names, obs, started_at=FINISHED, finished_at=FINISHED)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "scan_target", fake_scan_target)  # scan (through the engine)
    monkeypatch.setattr(cli_module, "scan_target", fake_scan_target)  # check


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "dns-only.json"
    policy.write_text(json.dumps(POLICY))
    targets = tmp_path / "targets.txt"
    targets.write_text("\n".join(TARGETS) + "\n", encoding="utf-8")
    return policy, targets


OPTIONS = ["--resolver", "127.0.0.1", "--no-self-check", "--www", "never"]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def by_target(lines: list[str]) -> dict[str, str]:
    out = {json.loads(line)["target"]: line for line in lines}
    assert len(out) == len(lines), "a target printed twice"
    return out


# --------------------------------------------------------------------------- the contract, in code

def conforms(value: Any, tp: Any, where: str = "record") -> None:
    """``value`` has the type ``tp`` (a TypedDict: exactly its keys; ``Any`` is JSON)."""
    if tp is Any:
        json.dumps(value, allow_nan=False)  # plain JSON (raises otherwise)
    elif is_typeddict(tp):
        assert isinstance(value, dict), where
        hints = get_type_hints(tp)
        assert set(value) == set(hints), (where, sorted(set(value) ^ set(hints)))
        for key, t in hints.items():
            conforms(value[key], t, f"{where}.{key}")
    elif get_origin(tp) in (Union, types.UnionType):
        errors = []
        for arm in get_args(tp):
            try:
                conforms(value, arm, where)
                return
            except AssertionError as e:
                errors.append(e)
        raise AssertionError(where, value, errors)
    elif get_origin(tp) is list:
        assert isinstance(value, list), where
        for i, v in enumerate(value):
            conforms(v, get_args(tp)[0], f"{where}[{i}]")
    elif get_origin(tp) is dict:
        assert isinstance(value, dict), where
        for k, v in value.items():
            assert isinstance(k, str), where
            conforms(v, get_args(tp)[1], f"{where}[{k!r}]")
    elif tp is type(None):
        assert value is None, where
    else:
        assert isinstance(value, tp) and not (tp is int and isinstance(value, bool)), (where, value, tp)


def valid(rec: dict[str, Any]) -> None:
    """A record of the output contract: the shape of :class:`Record` and its vocabularies."""
    conforms(rec, Record)
    assert rec["schema"] == RESULT_SCHEMA
    assert rec["verdict"] in VERDICTS and 0 <= rec["score"] <= 100
    assert set(rec["names"]) <= {n for c in rec["checks"].values() for n in c["details"]["names"]}
    dt.datetime.fromisoformat(rec["scanned_at"].replace("Z", "+00:00"))
    statuses = {str(s) for s in Status}
    for cid, c in rec["checks"].items():
        assert c["result"] in RESULTS and c["summary"], cid
        for name, d in c["details"]["names"].items():
            assert (d["check"], d["name"]) == (cid, name) and d["result"] in RESULTS
            assert d["status"] in statuses, (cid, name)  # every check result here came from a measurement


# --------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_scan_jsonl_and_export_jsonl_print_the_same_records(fake: None, files: tuple[Path, Path], tmp_path: Path,
                                                            lang: str) -> None:
    policy, targets = files
    db = tmp_path / "s.db"
    scan = invoke("scan", str(targets), "--db", str(db), "--policy", str(policy), "--format", "jsonl",
                  "--lang", lang, *OPTIONS)
    assert scan.exit_code == 3, scan.output  # down.example.org is to retry: the sweep is incomplete
    export = invoke("export", "--db", str(db), "--format", "jsonl", "--lang", lang)
    assert export.exit_code == 0, export.output
    printed, exported = scan.stdout.splitlines(), export.stdout.splitlines()
    # scan prints each target when it finishes (the sweep's shuffled order), export in list order:
    # compared by target, the lines are the same text, byte for byte
    assert by_target(printed) == by_target(exported)
    expected = ["ready.example.org", "absent.example.org", "nx.example.org", "hostile.example.org",
                "xn--bcher-kva.example", "www-missing.example.org"]
    assert [json.loads(x)["target"] for x in exported] == expected  # no record for the target to retry
    for line in exported:
        assert "\u202e" not in line and "\x1b" not in line  # site text escaped (as JSON escapes)
        valid(json.loads(line))
    recs = {r["target"]: r for r in map(json.loads, exported)}
    assert {t: r["verdict"] for t, r in recs.items()} == {
        "ready.example.org": "ready", "absent.example.org": "absent", "nx.example.org": "error",
        "hostile.example.org": "absent", "xn--bcher-kva.example": "ready", "www-missing.example.org": "ready"}
    hostile = recs["hostile.example.org"]
    assert (hostile["sector"], hostile["region"]) == ("gov", "north")
    assert hostile["checks"]["dns.resolve"]["details"]["names"]["hostile.example.org"]["evidence"]["title"] == \
        HOSTILE.replace("\udc80", "\\udc80")  # the lone surrogate as text, everything else as it came
    assert recs["xn--bcher-kva.example"]["display"] == "bücher.example"
    www = recs["www-missing.example.org"]
    assert www["names"] == ["www-missing.example.org"]
    assert www["checks"]["dns.resolve"]["details"]["names"]["www.www-missing.example.org"]["result"] == "fail"
    assert www["checks"]["dns.resolve"]["result"] == "pass"  # the worst over the names that count
    absent = recs["absent.example.org"]["checks"]["dns.aaaa"]
    assert absent["summary"] == absent["details"]["names"]["absent.example.org"]["reasons"][0]["text"]
    assert absent["details"]["names"]["absent.example.org"]["reasons"][0]["params"] == {
        "name": "absent.example.org"}
    if lang == "zh-CN":
        assert "AAAA" in absent["summary"] and any("\u4e00" <= ch <= "\u9fff" for ch in absent["summary"])

    # the one-document export holds the same records
    out = tmp_path / "x.json"
    assert invoke("export", "--db", str(db), "--format", "json", "--lang", lang, "-o", str(out)).exit_code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert (doc["schema"], doc["sweep"], doc["policy"]) == ("v6scan.export/1", 1, "dns-only")
    assert doc["results"] == [json.loads(x) for x in exported]


def test_check_json_prints_the_export_record(fake: None, files: tuple[Path, Path], tmp_path: Path) -> None:
    policy, _ = files
    plain = tmp_path / "plain.txt"  # check takes no metadata: the names alone
    plain.write_text("\n".join(PLAIN) + "\n")
    db = tmp_path / "s.db"
    assert invoke("scan", str(plain), "--db", str(db), "--policy", str(policy), *OPTIONS).exit_code == 0
    exported = by_target(invoke("export", "--db", str(db), "--format", "jsonl").stdout.splitlines())
    for name in PLAIN:
        r = invoke("check", name, "--format", "json", "--policy", str(policy), *OPTIONS)
        assert r.exit_code in (0, 3), r.output  # 3: nx.example.org could not be judged (error)
        one = json.loads(r.stdout)
        valid(one)
        stored = json.loads(exported[name])
        assert (one["sweep"], stored["sweep"]) == (None, 1)  # a check belongs to no sweep
        assert one == {**stored, "sweep": None}, name
    r = invoke("check", *PLAIN, "--format", "jsonl", "--policy", str(policy), *OPTIONS)
    assert by_target(r.stdout.splitlines()) == {  # the same text, line for line, but for the sweep
        n: line.replace('"sweep": 1,', '"sweep": null,') for n, line in exported.items()}


def test_the_report_shows_the_records(fake: None, files: tuple[Path, Path], tmp_path: Path) -> None:
    """The report's site sections come from the same records: reasons, per-name results, evidence."""
    policy, targets = files
    db = tmp_path / "s.db"
    invoke("scan", str(targets), "--db", str(db), "--policy", str(policy), *OPTIONS)
    with Store(db) as store:
        recs = {r["target"]: r for r in result_records(store, lang="zh-CN")}
        report = build_report(store, lang="zh-CN")
        bare = build_report(store, lang="zh-CN", evidence=False, max_sections=2)
    assert {s["name"] for s in report["sites"]} == set(recs)
    for site in report["sites"]:
        rec = recs[site["name"]]
        assert (site["verdict"], site["score"], site["reasons"], site["names"]) == \
            (rec["verdict"], rec["score"], rec["reasons"], rec["names"])
        for c in site["checks"]:
            names = rec["checks"][c["id"]]["details"]["names"]
            assert c["result"] == rec["checks"][c["id"]]["result"]
            assert c["names"] == [{"name": n, "result": d["result"], "reasons": d["reasons"]} for n, d in names.items()]
            assert site["evidence"][c["id"]] == {n: {"status": d["status"], "error": d["error"], **d["evidence"]}
                                                 for n, d in names.items()}
    # capped, without evidence: the worst sites first, their sections from the same records
    assert [s["name"] for s in bare["sites"]] == ["nx.example.org", "absent.example.org"]
    assert bare["sections_capped"] and all(s["evidence"] == {} for s in bare["sites"])
    assert bare["sites"][1]["reasons"] == recs["absent.example.org"]["reasons"]
