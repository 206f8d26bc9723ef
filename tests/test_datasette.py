"""Datasette-ready (issue 16 item 5): datasette serves a sweep database with the shipped metadata:
titles, facets and sort orders of the views."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from v6scan.datasette import metadata, metadata_path
from v6scan.datasette.__main__ import main as datasette_main
from v6scan.model import Observation, Status
from v6scan.scoring import load_policy, score_target
from v6scan.store import Store
from v6scan.targets import parse_target

DATASETTE = Path(sys.executable).parent / "datasette"
VIEWS = ("site_verdicts", "check_results", "sector_summary", "region_summary", "observations", "site_observations")


def _observations(name: str, aaaa: bool) -> list[Observation]:
    rows = [{"address": "2001:db8::10", "public": True, "usable": True, "kind": "global",
             "name": "a global unicast address"}] if aaaa else []
    return [Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": {}}),
            Observation("dns.aaaa", name, Status.OK if aaaa else Status.NODATA,
                        {"addresses": rows, "usable": [r["address"] for r in rows], "not_usable": []})]


@pytest.fixture
def sweep_db(tmp_path: Path) -> Path:
    """A sweep written through the store: 6 sites in two sectors and two regions, 4 with AAAA."""
    path = tmp_path / "sweep.db"
    policy = load_policy()
    targets = [parse_target(f"site{i}.example.org", sector=["gov", "edu"][i % 2], region=["north", "south"][i // 3])
               for i in range(6)]
    with Store(path) as s:
        sid = s.start_sweep(targets, {}, "default")
        batch = []
        for i, t in enumerate(targets):
            obs = _observations(t.name, aaaa=i < 4)
            batch.append((t.name, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", obs,
                          score_target(t.name, obs, policy)))
        s.record(sid, batch)
        s.finish_sweep(sid)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(db: Path, *options: str) -> Iterator[str]:
    """datasette serving ``db`` with the shipped metadata (its plugin loaded by entry point) and
    ``options``; its URL."""
    assert DATASETTE.exists(), "datasette is a test dependency (pip install datasette)"
    port = _free_port()
    proc = subprocess.Popen([str(DATASETTE), "serve", str(db), "--metadata", str(metadata_path()),
                             "--host", "127.0.0.1", "--port", str(port), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to 30 s for the server to listen
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"datasette exited with {proc.returncode}: {out}")
            try:
                with urllib.request.urlopen(base + "/-/versions.json", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            pytest.fail("datasette did not start listening")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture
def datasette(sweep_db: Path) -> Iterator[str]:
    with serve(sweep_db) as base:
        yield base


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_a_sweep_is_browsable_in_datasette(datasette: str, sweep_db: Path) -> None:
    rows = get_json(f"{datasette}/sweep/site_verdicts.json?_shape=array")
    assert {r["name"] for r in rows} == {f"site{i}.example.org" for i in range(6)}
    assert Counter(r["verdict"] for r in rows)["absent"] == 2
    assert [r["score"] for r in rows] == sorted(r["score"] for r in rows)  # the metadata's sort: worst first
    assert {r["name"]: r["sector"] for r in rows}["site1.example.org"] == "edu"

    # the facets the metadata names, with counts
    page = get_json(f"{datasette}/sweep/site_verdicts.json")
    facets = page["facet_results"]
    facets = facets.get("results", facets)  # datasette 1.0 nests them
    assert {"verdict", "sector", "region"} <= set(facets)
    by_verdict = {f["value"]: f["count"] for f in facets["verdict"]["results"]}
    assert by_verdict["absent"] == 2 and sum(by_verdict.values()) == 6
    by_region = {f["value"]: f["count"] for f in facets["region"]["results"]}
    assert by_region == {"north": 3, "south": 3}

    checks = get_json(f"{datasette}/sweep/check_results.json?_shape=array&check_id=dns.aaaa")
    assert Counter(r["result"] for r in checks) == Counter({"pass": 4, "fail": 2})
    sectors = {r["sector"]: r for r in get_json(f"{datasette}/sweep/sector_summary.json?_shape=array")}
    assert sectors["gov"]["sites"] == 3 and sectors["gov"]["absent"] + sectors["edu"]["absent"] == 2
    observations = get_json(f"{datasette}/sweep/site_observations.json?_shape=array&_size=max")
    assert len(observations) == 12 and {o["check_id"] for o in observations} == {"dns.resolve", "dns.aaaa"}
    # the evidence itself, unpacked by v6scan's plugin as datasette reads it
    aaaa = get_json(f"{datasette}/sweep/observations.json?_shape=array&check_id=dns.aaaa&status=ok")
    assert len(aaaa) == 4 and all(json.loads(o["evidence"])["usable"] == ["2001:db8::10"] for o in aaaa)
    plugins = {p["name"] for p in get_json(f"{datasette}/-/plugins.json")}
    assert "v6scan.datasette.plugin" in plugins or "v6scan" in plugins, plugins

    # titles from the metadata; the binary evidence tables hidden from the index
    tables = {t["name"]: t for t in get_json(f"{datasette}/sweep.json")["tables"]}
    assert tables["observation_packs"]["hidden"] and not tables["targets"]["hidden"]
    meta = get_json(f"{datasette}/-/metadata.json")
    assert meta["databases"]["sweep"]["tables"]["site_verdicts"]["title"] == "Sites and verdicts"


def test_the_metadata_describes_every_view_and_follows_the_database_name(
        sweep_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = metadata()
    with Store(sweep_db) as s:
        views = set(s.db.view_names())
        columns = {v: {c.name for c in s.db[v].columns} for v in views}  # type: ignore[union-attr]
    assert set(VIEWS) == views
    tables = shipped["databases"]["sweep"]["tables"]
    for view in VIEWS:
        t = tables[view]
        assert t["title"] and t["description"]
        assert set(t["facets"]) <= columns[view], view
        assert t["sort"] in columns[view], view
    assert set(tables["site_verdicts"]["facets"]) >= {"verdict", "sector", "region"}
    assert set(tables["check_results"]["facets"]) >= {"check_id", "result"}
    # another file name: the same document under its database name
    other = metadata(["/data/nationwide-2026.db"])
    assert other["databases"] == {"nationwide-2026": shipped["databases"]["sweep"]}
    assert datasette_main([]) == 0
    assert Path(capsys.readouterr().out.strip()) == metadata_path() and metadata_path().is_file()
    assert datasette_main(["a.db", "b"]) == 0
    assert set(json.loads(capsys.readouterr().out)["databases"]) == {"a", "b"}


def test_the_cli_command_prints_what_the_module_prints(capsys: pytest.CaptureFixture[str]) -> None:
    from click.testing import CliRunner

    from v6scan.cli import cli

    for args in ([], ["a.db", "b"]):
        r = CliRunner().invoke(cli, ["datasette-metadata", *args])
        assert r.exit_code == 0, r.output
        datasette_main(args)
        assert r.output == capsys.readouterr().out
    assert set(json.loads(r.output)["databases"]) == {"a", "b"}


