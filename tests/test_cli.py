"""The command line with CliRunner: help, usage errors, exit codes, config and environment, the
database commands on a real SQLite file, and the check output formats validated against schemas."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xmlschema
from click.testing import CliRunner, Result
from sarif_pydantic import Sarif

import v6scan.cli as cli_module
import v6scan.engine as engine
from v6scan import __version__
from v6scan.cli import cli, main
from v6scan.context import Context
from v6scan.engine import TargetResult
from v6scan.fetch import Limits
from v6scan.model import Observation, Status
from v6scan.output import Outcome, gate, github, render
from v6scan.registry import CHECKS, sweep_checks
from v6scan.scoring import Policy, load_policy, score_target
from v6scan.settings import Settings
from v6scan.store import Store
from v6scan.sweep import stored_config
from v6scan.targets import Target, parse_target

HERE = Path(__file__).parent
REPO = HERE.parent
COMMANDS = ["check", "scan", "serve", "report", "export", "diff", "rescore", "targets", "targets validate",
            "targets import"]


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> object:
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def site_obs(name: str, v6: bool = True) -> list[Observation]:
    rows = [{"address": "2a00:1450::1", "public": True, "usable": True, "kind": "global",
             "name": "a global unicast address"}] if v6 else []
    aaaa = {"records": ["2a00:1450::1"], "cname_chain": [name, f"{name}.edge.cdn.example.net"]} if v6 else {}
    return [
        Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": aaaa}),
        Observation("dns.aaaa", name, Status.OK if v6 else Status.NODATA,
                    {"addresses": rows, "usable": [r["address"] for r in rows], "not_usable": []}),
        Observation("self.v6", name, Status.OK, {}),
    ]


#: these unit tests record DNS checks only: a policy that requires just those
DNS_ONLY = Policy("dns-only", "DNS checks only (tests)",
                  {"dns.resolve": {"weight": 0, "required": True}, "dns.aaaa": {"weight": 10, "required": True}},
                  load_policy().thresholds, {"method": "weighted"})


def outcome(name: str, v6: bool = True) -> Outcome:
    obs = site_obs(name, v6)
    return Outcome(TargetResult(parse_target(name), [name], obs, finished_at="2026-01-01T00:00:00Z"),
                   score_target(name, obs, DNS_ONLY))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with two sweeps of three sites; one site loses IPv6 in the second."""
    path = tmp_path / "s.db"
    ts = [parse_target(f"site{i}.example.org", sector="gov", region="north") for i in range(3)]
    with Store(path) as s:
        for sweep in (1, 2):
            sid = s.start_sweep(ts, {"n": sweep}, DNS_ONLY.name)
            batch = []
            for t in ts:
                v6 = not (sweep == 2 and t.name == "site1.example.org")
                obs = site_obs(t.name, v6)
                batch.append((t.name, "2026-01-01T00:00:00Z", None, obs, score_target(t.name, obs, DNS_ONLY)))
            s.record(sid, batch)
            s.finish_sweep(sid)
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command: str) -> None:
    r = run(*command.split(), "--help")
    assert r.exit_code == 0  # type: ignore[attr-defined]
    assert "Usage:" in r.output  # type: ignore[attr-defined]
    if command != "targets":
        assert "v6scan " in r.output  # type: ignore[attr-defined]  # an example


def test_version_and_top_level_help() -> None:
    r = run("--version")
    assert r.output.strip() == f"v6scan, version {__version__}"  # type: ignore[attr-defined]
    r = run("--help")
    for word in ("Exit codes", "check", "scan", "report", "export", "diff", "rescore", "targets", "V6SCAN_"):
        assert word in r.output, word  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [
    ["check"],
    ["check", "example.org", "--checks", "dns.nope"],
    ["check", "example.org", "--resolver", "resolver.example"],
    ["check", "example.org", "--allow-net", "not-a-prefix"],
    ["check", "example.org", "--policy", "no-such-policy"],
    ["check", "192.0.2.1"],
    ["check", "example.org", "--format", "xml"],
    ["check", "example.org", "--fail-on", "great"],
    ["check", "example.org", "--min-score", "101"],
    ["scan", "--db", "x.db"],
    ["scan", "no-such-file.txt", "--db", "x.db"],
    ["report", "--db", "no-such.db"],
    ["export", "--db", "no-such.db"],
    ["diff", "1", "--db", "no-such.db"],
    ["rescore", "--db", "no-such.db"],
    ["targets", "validate"],
])
def test_usage_errors_exit_2(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, (args, r.output)


def test_targets_validate_ships_clean_lists_and_reports_bad_lines(tmp_path: Path) -> None:
    lists = sorted(str(p) for p in (REPO / "targets").glob("*.csv"))
    assert lists
    r = run("targets", "validate", *lists)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    bad = tmp_path / "bad.txt"
    bad.write_text("example.org\nexample..org\n192.0.2.1\nexample.org\n")
    r = CliRunner().invoke(cli, ["targets", "validate", str(bad)])
    assert r.exit_code == 1
    assert f"{bad}:2" in r.output and f"{bad}:3" in r.output and "duplicate" in r.output
    assert "1 valid targets, 2 bad lines, 1 duplicates" in r.output


def test_report_export_diff_rescore_on_a_real_database(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = run("report", "--db", str(db), "--sweep", "1", "--lang", "zh-CN", "-o", str(out))
    assert r.exit_code == 0 and out.exists()  # type: ignore[attr-defined]
    assert "IPv6 支持度评测报告" in out.read_text()
    r = run("export", "--db", str(db), "--format", "jsonl")
    lines = [json.loads(x) for x in r.output.splitlines()]  # type: ignore[attr-defined]
    assert [x["target"] for x in lines] == [f"site{i}.example.org" for i in range(3)]
    assert lines[1]["verdict"] == "absent" and lines[1]["sweep"] == 2  # the latest sweep by default
    r = run("export", "--db", str(db), "--sweep", "1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))  # type: ignore[attr-defined]
    assert [x["verdict"] for x in rows] == ["ready"] * 3
    r = run("export", "--db", str(db), "--format", "md")
    assert "| site1.example.org | absent |" in r.output  # type: ignore[attr-defined]
    r = run("export", "--db", str(db), "--format", "json", "-o", str(tmp_path / "x.json"))
    assert len(json.loads((tmp_path / "x.json").read_text())["results"]) == 3
    r = run("diff", "1", "2", "--db", str(db))
    assert "0 gained readiness, 1 lost it" in r.output  # type: ignore[attr-defined]
    assert "site1.example.org: ready -> absent" in r.output  # type: ignore[attr-defined]
    r = run("diff", "1", "2", "--db", str(db), "--format", "json")
    assert json.loads(r.output)["lost"][0]["name"] == "site1.example.org"  # type: ignore[attr-defined]
    r = CliRunner().invoke(cli, ["export", "--db", str(db), "--policy", "internetnl"])
    assert r.exit_code == 2 and "rescore" in r.output
    r = run("rescore", "--db", str(db), "--policy", "internetnl")
    assert "3 targets scored with internetnl" in r.output  # type: ignore[attr-defined]
    r = run("export", "--db", str(db), "--policy", "internetnl", "--format", "jsonl")
    assert {json.loads(x)["policy"] for x in r.output.splitlines()} == {"internetnl"}  # type: ignore[attr-defined]
    r = CliRunner().invoke(cli, ["report", "--db", str(db), "--sweep", "9"])
    assert r.exit_code == 2 and "no sweep 9" in r.output


def test_providers_attribute_sites_in_exports_and_reports_and_xlsx_needs_a_file(db: Path, tmp_path: Path) -> None:
    mine = tmp_path / "providers.csv"
    mine.write_text("match,provider,provider_zh,kind,country,source\ncdn.example.net,Example CDN,\u793a\u4f8b,cdn,CN,"
                    "our contract\n", encoding="utf-8")
    r = run("export", "--db", str(db), "--format", "json")
    doc = json.loads(r.output)  # type: ignore[attr-defined]
    assert [p["provider"] for p in doc["providers"]] == [""] and doc["clusters"] == []  # the table knows no such CDN
    r = run("export", "--db", str(db), "--format", "json", "--providers", str(mine))
    doc = json.loads(r.output)  # type: ignore[attr-defined]
    shares = {p["provider"]: (p["sites"], p["failing"]) for p in doc["providers"]}
    assert shares == {"Example CDN": (2, 0), "": (1, 1)}  # site1 lost its AAAA in sweep 2: not served over IPv6
    site0 = next(x for x in doc["results"] if x["target"] == "site0.example.org")["attribution"]
    assert (site0["v6"]["provider"], site0["v6"]["via"]) == ("Example CDN", "site0.example.org.edge.cdn.example.net")
    r = run("export", "--db", str(db), "--format", "csv")
    rows = {x["target"]: x for x in csv.DictReader(io.StringIO(r.output))}  # type: ignore[attr-defined]
    assert (rows["site0.example.org"]["provider_v6"], rows["site1.example.org"]["provider_v6"]) == ("Example CDN", "")
    r = run("export", "--db", str(db), "--format", "jsonl")  # stored with the table given last
    assert json.loads(r.output.splitlines()[0])["attribution"]["v6"]["provider"] == "Example CDN"  # type: ignore[attr-defined]
    out = tmp_path / "r.html"
    run("report", "--db", str(db), "--lang", "zh-CN", "-o", str(out), "--providers", str(mine))
    assert 'data-provider="Example CDN"' in out.read_text() and "\u793a\u4f8b" in out.read_text()
    r = CliRunner().invoke(cli, ["export", "--db", str(db), "--format", "xlsx"])
    assert r.exit_code == 2 and "-o FILE.xlsx" in r.output
    book = tmp_path / "s.xlsx"
    run("export", "--db", str(db), "--format", "xlsx", "--lang", "zh-CN", "-o", str(book))
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames[:4] == ["\u6982\u8981", "\u884c\u4e1a", "\u5730\u533a", "\u5355\u4f4d"]
    assert [r[0] for r in wb.worksheets[6].iter_rows(min_row=2, values_only=True)] == [
        f"site{i}.example.org" for i in range(3)]
    # the table given to a sweep is kept with it: a later export without --providers names the CDN in Chinese
    assert "\u793a\u4f8b" in {r[0] for r in wb.worksheets[4].iter_rows(min_row=2, values_only=True)}
    with Store(db) as s:
        assert [r["match"] for r in s.use_providers(2).extra_json()] == ["cdn.example.net"]
        assert s.use_providers(1).extra == ()  # the other sweep keeps the shipped table
    bad = tmp_path / "bad.csv"
    bad.write_text("match,provider,kind\nx.example,P,teleport\n", encoding="utf-8")
    for command in (["check", "example.org"], ["export", "--db", str(db)], ["report", "--db", str(db)]):
        r = CliRunner().invoke(cli, [*command, "--providers", str(bad)])
        assert r.exit_code == 2 and "line 2: kind 'teleport'" in r.output, command


def test_config_file_and_environment(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v6scan.toml").write_text('[export]\nformat = "csv"\n')
    r = run("export", "--db", str(db))  # format from ./v6scan.toml, which is announced on stderr
    assert r.stdout.startswith("target,display,")  # type: ignore[attr-defined]
    assert r.stderr == "v6scan: using config file ./v6scan.toml\n"  # type: ignore[attr-defined]
    cfg = tmp_path / "other.toml"
    cfg.write_text('lang = "zh-CN"\n[export]\nformat = "md"\n')
    r = run("--config", str(cfg), "export", "--db", str(db))
    assert "IPv6 支持度评测报告" in r.output  # type: ignore[attr-defined]
    assert "using config file" not in r.stderr  # type: ignore[attr-defined]  # given, not picked up
    r = run("export", "--format", "jsonl", env={"V6SCAN_DB": str(db)})
    assert len(r.stdout.splitlines()) == 3  # type: ignore[attr-defined]
    broken = tmp_path / "broken.toml"
    broken.write_text("this is = = not toml")
    r = CliRunner().invoke(cli, ["--config", str(broken), "export", "--db", str(db)])
    assert r.exit_code == 2


def test_internal_error_exits_4(monkeypatch: pytest.MonkeyPatch, db: Path, capsys: pytest.CaptureFixture[str]
                                ) -> None:
    import v6scan.cli as cli_mod

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli_mod, "build_report", boom)
    monkeypatch.setattr(sys, "argv", ["v6scan", "report", "--db", str(db)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 4
    assert "internal error: RuntimeError: simulated bug" in capsys.readouterr().err


def test_gates_and_exit_codes() -> None:
    ready, absent = outcome("a.example.org"), outcome("b.example.org", v6=False)
    assert gate([ready], None, None)[0] == 0
    assert gate([ready], "partial", 90)[0] == 0
    assert gate([absent], None, None)[0] == 0  # no gate: a report, not a judgement
    code, msgs = gate([ready, absent], "partial", None)
    assert code == 1 and "b.example.org is absent" in msgs[0]
    assert gate([ready], None, 101)[0] == 1
    nx = [Observation("dns.resolve", "c.example.org", Status.NXDOMAIN, {}, "NXDOMAIN")]
    error = Outcome(TargetResult(parse_target("c.example.org"), ["c.example.org"], nx),
                    score_target("c.example.org", nx, DNS_ONLY))
    assert error.verdict.verdict == "error"
    assert gate([ready, error], "partial", None)[0] == 3  # incomplete: could not be assessed


JUNIT_XSD = HERE / "schemas" / "junit.xsd"


def test_junit_validates_against_the_schema() -> None:
    xml = render("junit", [outcome("a.example.org"), outcome("b.example.org", v6=False)])
    xmlschema.XMLSchema(JUNIT_XSD).validate(xml)
    root = ET.fromstring(xml)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["a.example.org", "b.example.org"]
    failing = suites[1].findall("testcase/failure")
    assert failing and "no AAAA record" in failing[0].get("message", "")
    assert int(root.get("failures", "0")) == len(root.findall(".//failure"))


def test_sarif_validates_against_the_object_model() -> None:
    text = render("sarif", [outcome("a.example.org"), outcome("b.example.org", v6=False)])
    doc = json.loads(text)
    Sarif.model_validate(doc)  # the SARIF 2.1.0 object model
    run0 = doc["runs"][0]
    assert doc["version"] == "2.1.0" and run0["tool"]["driver"]["name"] == "v6scan"
    ids = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids)) and "dns.aaaa" in ids
    (res,) = run0["results"]
    assert res["ruleId"] == "dns.aaaa" and res["level"] == "error"
    assert ids[res["ruleIndex"]] == "dns.aaaa"
    assert res["locations"][0]["logicalLocations"][0]["name"] == "b.example.org"
    again = json.loads(render("sarif", [outcome("b.example.org", v6=False)]))
    assert again["runs"][0]["results"][0]["partialFingerprints"] == res["partialFingerprints"]  # stable


def test_github_annotations_and_summary() -> None:
    cmds, md = github([outcome("a.example.org"), outcome("b.example.org", v6=False)], "en")
    assert cmds.startswith("::error title=b.example.org%3A dns.aaaa::b.example.org has no AAAA record")
    assert "| b.example.org | absent | " in md and "| a.example.org | ready | 100 |" in md


def test_json_and_text_outputs() -> None:
    one = json.loads(render("json", [outcome("a.example.org")]))
    assert {"target", "sector", "region", "verdict", "score", "checks", "scanned_at", "version"} <= set(one)
    assert one["checks"]["dns.aaaa"]["details"]["names"]["a.example.org"]["evidence"]["usable"] == ["2a00:1450::1"]
    many = json.loads(render("json", [outcome("a.example.org"), outcome("b.example.org")]))
    assert isinstance(many, list) and len(many) == 2
    text = render("text", [outcome("b.example.org", v6=False)], "zh-CN")
    assert "未支持" in text and "修复建议" in text


def test_readme_commands_and_options_exist() -> None:
    """The README's recipes only use commands and options that `--help` knows."""
    import re

    blocks = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", (REPO / "README.md").read_text(), re.S))
    found = re.findall(r"\bv6scan (\w+)([^\n#]*)", blocks)
    assert len(found) >= 8
    for cmd, rest in found:
        assert cmd in cli.commands, cmd  # type: ignore[attr-defined]
        if cmd == "targets":
            continue
        help_text = run(cmd, "--help").output  # type: ignore[attr-defined]
        for opt in re.findall(r"(--[a-z][a-z-]+)", rest):
            assert opt in help_text, (cmd, opt)


def test_exclusion_list(tmp_path: Path) -> None:
    ex = tmp_path / "exclude.txt"
    ex.write_text("# never scan these\nexample.org\n2001:db8::/32\n")
    r = CliRunner().invoke(cli, ["check", "https://example.org/", "--exclude", str(ex)])
    assert r.exit_code == 2 and "exclusion list" in r.output
    ex.write_text("not a name or prefix!\n")
    r = CliRunner().invoke(cli, ["check", "example.org", "--exclude", str(ex)])
    assert r.exit_code == 2 and f"{ex}:1" in r.output
    targets = tmp_path / "t.txt"
    targets.write_text("example.org\n")
    ex.write_text("example.org\n")
    r = CliRunner().invoke(cli, ["scan", str(targets), "--db", str(tmp_path / "x.db"), "--exclude", str(ex)])
    assert r.exit_code == 2 and "no valid target" in r.output


def test_cluster_without_dask_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask is an optional extra: without it --cluster says how to install it, and nothing is swept."""
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    targets = tmp_path / "t.txt"
    targets.write_text("example.org\n")
    r = CliRunner().invoke(cli, ["scan", str(targets), "--db", str(tmp_path / "s.db"), "--cluster", "local:2"])
    assert r.exit_code == 2 and "pip install 'v6scan[cluster]'" in r.output
    assert not (tmp_path / "s.db").exists()


# ---------------------------------------------------------------------------
# the self-check address obeys the address policy; config files are announced
# ---------------------------------------------------------------------------

FORBIDDEN_SELF_CHECKS = [
    ("::1", "Loopback"),
    ("[::1]:443", "Loopback"),
    ("fe80::1", "Link-Local"),
    ("[fe80::1%eth0]:443", "zone id"),
    ("169.254.169.254", "cloud metadata endpoint"),
    ("[fd00:ec2::254]:443", "cloud metadata endpoint"),
    ("[64:ff9b::a9fe:a9fe]:80", "cloud metadata endpoint"),
    ("self-check.example:443", "not a name"),
]


@pytest.fixture
def dry_run(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """``--dry-run`` records the settings it got instead of resolving anything (no network)."""
    seen: list[Settings] = []
    monkeypatch.setattr(cli_module, "_dry_run", lambda settings, targets: seen.append(settings))
    return seen


def refused(r: Result, addr: str, why: str) -> None:
    """A usage error naming the address (without brackets, port or zone) and why."""
    assert r.exit_code == 2, r.output
    assert "Invalid value for --self-check" in r.stderr, r.stderr
    bare = addr.split("%")[0].lstrip("[").split("]")[0]
    assert bare in r.stderr and why in r.stderr, r.stderr


@pytest.mark.parametrize(("addr", "why"), FORBIDDEN_SELF_CHECKS)
def test_self_check_must_be_an_address_the_policy_allows(addr: str, why: str, dry_run: list[Settings]) -> None:
    for command in (["check", "example.org"], ["scan", "t.txt", "--db", "s.db"]):
        r = CliRunner().invoke(cli, [*command, "--self-check", addr, "--dry-run"])
        refused(r, addr, why)
    assert dry_run == []


@pytest.mark.parametrize("addr", ["169.254.169.254", "[fd00:ec2::254]:443", "[::ffff:169.254.169.254]:80"])
def test_allow_net_does_not_unlock_a_metadata_self_check(addr: str, dry_run: list[Settings]) -> None:
    r = CliRunner().invoke(cli, ["check", "example.org", "--self-check", addr, "--allow-net", "::/0",
                                 "--allow-net", "0.0.0.0/0", "--allow-net", "fd00:ec2::/64", "--dry-run"])
    refused(r, addr, "cloud metadata endpoint: never contacted")
    assert dry_run == []


def test_allow_net_and_exclude_apply_to_the_self_check(tmp_path: Path, dry_run: list[Settings]) -> None:
    r = CliRunner().invoke(cli, ["check", "example.org", "--self-check", "[::1]:80", "--allow-net", "::1/128",
                                 "--dry-run"])
    assert r.exit_code == 0, r.output
    assert dry_run[-1].self_check == "[::1]:80"
    r = CliRunner().invoke(cli, ["check", "example.org", "--self-check", "[2a00:1450::1]:443", "--dry-run"])
    assert r.exit_code == 0, r.output  # a global address needs no allowance
    ex = tmp_path / "ex.txt"
    ex.write_text("2a00:1450::/32\n")
    r = CliRunner().invoke(cli, ["check", "example.org", "--self-check", "[2a00:1450::1]:443", "--exclude", str(ex),
                                 "--dry-run"])
    refused(r, "2a00:1450::1", "exclusion list")
    assert len(dry_run) == 2


@pytest.mark.parametrize(("addr", "why"), FORBIDDEN_SELF_CHECKS)
def test_self_check_from_a_config_file_in_the_working_directory(
    addr: str, why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: list[Settings]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("v6scan.toml").write_text(f'self-check = "{addr}"\n')
    r = CliRunner().invoke(cli, ["check", "example.org", "--dry-run"])
    assert r.stderr.startswith("v6scan: using config file ./v6scan.toml\n")
    assert r.stderr.count("using config file") == 1
    refused(r, addr, why)
    # --allow-net in the same file: the metadata endpoints stay refused, the others are allowed now
    Path("v6scan.toml").write_text(f'[check]\nself_check = "{addr}"\nallow-net = ["::/0", "0.0.0.0/0"]\n')
    r = CliRunner().invoke(cli, ["check", "example.org", "--dry-run"])
    if "metadata" in why or "%" in addr or "name" in why:
        refused(r, addr, why)
        assert dry_run == []
    else:
        assert r.exit_code == 0, r.output
        assert dry_run[-1].self_check == addr


@pytest.mark.parametrize(("addr", "why"), FORBIDDEN_SELF_CHECKS)
def test_self_check_from_the_environment(addr: str, why: str, dry_run: list[Settings]) -> None:
    r = CliRunner().invoke(cli, ["check", "example.org", "--dry-run"], env={"V6SCAN_SELF_CHECK": addr})
    refused(r, addr, why)
    assert dry_run == []


def test_config_file_announced_only_when_picked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   dry_run: list[Settings]) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["check", "example.org", "--dry-run"])
    assert r.exit_code == 0 and "using config file" not in r.stderr, r.output
    (tmp_path / "v6scan.toml").write_text('timeout = 7\n')
    r = CliRunner().invoke(cli, ["check", "example.org", "--dry-run"])
    assert r.exit_code == 0 and r.stderr.count("v6scan: using config file ./v6scan.toml\n") == 1
    assert dry_run[-1].timeout == 7
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('timeout = 8\n')
    for kw in ({"args": ["--config", str(explicit)]}, {"env": {"V6SCAN_CONFIG": str(explicit)}}):
        r = CliRunner().invoke(cli, [*kw.get("args", []), "check", "example.org", "--dry-run"], env=kw.get("env"))
        assert r.exit_code == 0 and "using config file" not in r.stderr, r.output
        assert dry_run[-1].timeout == 8


# ---------------------------------------------------------------------------
# exclusion lists: suffix entries, IDN, the settings, and --resume
# ---------------------------------------------------------------------------

def test_exclusion_suffixes_and_idn(tmp_path: Path, dry_run: list[Settings]) -> None:
    ex = tmp_path / "exclude.txt"
    ex.write_text("# suffixes and names\n.example.org\n*.Bücher.example\nxn--mnchen-3ya.example.  # a name\n"
                  "192.0.2.0/24\n")
    for host, entry in (("www.example.org", "; it matches .example.org"), ("EXAMPLE.org.", "; it matches"),
                        ("https://a.b.xn--bcher-kva.example/", ".xn--bcher-kva.example"),
                        ("münchen.example", "exclusion list")):
        r = CliRunner().invoke(cli, ["check", host, "--exclude", str(ex), "--dry-run"])
        assert r.exit_code == 2 and "is on the exclusion list" in r.output and entry in r.output, r.output
    r = CliRunner().invoke(cli, ["check", "badexample.org", "www.münchen.example", "--exclude", str(ex), "--dry-run"])
    assert r.exit_code == 0, r.output
    (settings,) = dry_run
    assert settings.exclude_names == (".example.org", ".xn--bcher-kva.example", "xn--mnchen-3ya.example")
    assert settings.exclude_nets == ("192.0.2.0/24",)
    assert Settings.from_json(json.loads(json.dumps(settings.to_json()))).exclude_names == settings.exclude_names
    for bad in ("*example.org", ".", "*.", "exa*mple.org"):
        ex.write_text(f"example.net\n{bad}\n")
        r = CliRunner().invoke(cli, ["check", "example.net", "--exclude", str(ex)])
        assert r.exit_code == 2 and f"{ex}:2" in r.output, r.output
    assert "*.example.org" in run("check", "--help").output  # type: ignore[attr-defined]


class FakeScan:
    """The per-target scan, without network: ``down`` targets find the scanner's resolver silent
    until ``up`` is set (kept to retry: the sweep stays incomplete for --resume)."""

    def __init__(self) -> None:
        self.up = False
        self.scanned: list[str] = []
        self.exclude_names: list[tuple[str, ...]] = []

    async def scan_target(self, ctx: Context, target: Target) -> TargetResult:
        name = target.name
        self.scanned.append(name)
        self.exclude_names.append(ctx.settings.exclude_names)
        obs = site_obs(name)
        if name.startswith("down") and not self.up:
            obs[0] = Observation("dns.resolve", name, Status.TIMEOUT,
                                 {"canary": {"status": "timeout"}, "scanner_side": "resolver"}, "timeout")
        return TargetResult(target, [name], obs, finished_at="2026-01-01T00:00:00Z")


@pytest.fixture
def fake_scan(monkeypatch: pytest.MonkeyPatch) -> FakeScan:
    f = FakeScan()
    monkeypatch.setattr(engine, "scan_target", f.scan_target)
    return f


def test_scan_excludes_by_suffix_and_resume_keeps_the_exclusion_list(tmp_path: Path, fake_scan: FakeScan) -> None:
    policy = tmp_path / "dns-only.json"
    policy.write_text(json.dumps({"name": "dns-only", "description": "DNS checks only (tests)",
                                  "checks": {"dns.resolve": {"weight": 0, "required": True},
                                             "dns.aaaa": {"weight": 10, "required": True}}}))
    targets = tmp_path / "t.txt"
    targets.write_text("www.example.org\nexample.org\ndown.example.net\nok.example.net\n")
    ex = tmp_path / "exclude.txt"
    ex.write_text("*.example.org\n")
    db = tmp_path / "s.db"
    base = ["scan", "--db", str(db), "--policy", str(policy), "--resolver", "127.0.0.1", "--no-self-check",
            "--www", "never"]

    def scan(*args: str) -> Result:
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    r = scan(str(targets), "--exclude", str(ex))
    assert r.exit_code == 3, r.output  # down.example.net is to retry
    assert "excluded: www.example.org (recorded, not contacted; it matches .example.org)" in r.stderr
    assert "excluded: example.org (recorded, not contacted; it matches .example.org)" in r.stderr
    assert sorted(fake_scan.scanned) == ["down.example.net", "ok.example.net"]
    assert set(fake_scan.exclude_names) == {(".example.org",)}  # the scanner gets the list too
    with Store(db) as st:
        assert stored_config(st, 1)["exclude_names"] == [".example.org"]
        assert st.target_counts(1) == {"done": 1, "retry": 1, "excluded": 2}

    # a changed exclusion list: refused, naming both lists; nothing is scanned
    ex.write_text("*.example.org\nexample.net\n")
    fake_scan.up = True
    r = scan("--resume", "1", "--exclude", str(ex))
    assert r.exit_code == 2, r.output
    assert ("--exclude differs: sweep 1 was started with .example.org, this command says .example.org"
            " example.net") in r.output
    assert "Resume it with no options" in r.output
    assert len(fake_scan.scanned) == 2
    # the same list again, written another way: the same entries, so it resumes
    ex.write_text("# the same entry\n.EXAMPLE.org.\n")
    r = scan("--resume", "1", "--exclude", str(ex))
    assert r.exit_code == 0, r.output
    assert fake_scan.scanned[2:] == ["down.example.net"]
    assert fake_scan.exclude_names[-1] == (".example.org",)  # the sweep's own list
    with Store(db) as st:
        assert st.target_counts(1) == {"done": 2, "excluded": 2}


# --------------------------------------------------------------------------- --show-settings


def _shown(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    r = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def test_show_settings_lists_every_setting_and_limit_and_scans_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    def no_scan(*a: object, **k: object) -> None:
        raise AssertionError("--show-settings must not scan")

    monkeypatch.setattr(cli_module, "scan_target", no_scan)
    db = tmp_path / "never.db"
    for args in (["check", "--show-settings"], ["check", "example.org", "--show-settings"],
                 ["scan", "--db", str(db), "--show-settings"]):
        data = _shown(*args)
        assert set(data) == {"settings", "limits", "policy"}
        # every field, so a setting added later is shown (and checked here) without editing this test
        assert set(data["settings"]) == {f.name for f in dataclasses.fields(Settings)}
        assert set(data["limits"]) == {f.name for f in dataclasses.fields(Limits)}
        for f in dataclasses.fields(Settings):
            default = Settings().to_json()[f.name]
            if f.name == "check_ids" and args[0] == "scan":  # a sweep leaves out the costly checks
                default = list(sweep_checks())
            assert data["settings"][f.name] == default, f.name
        assert data["policy"]["name"] == "default"
        assert data["policy"]["thresholds"] == dict(load_policy("default").thresholds)
    assert not db.exists()  # no sweep database is created either


def test_show_settings_reflects_options_config_and_environment(tmp_path: Path) -> None:
    data = _shown("check", "--show-settings", "--timeout", "7", "--policy", "internetnl", "--per-address", "2",
                  "--latency-probes", "6")
    assert data["settings"]["timeout"] == 7.0 and data["settings"]["latency_probes"] == 6
    assert data["settings"]["per_address_concurrency"] == 2
    assert data["limits"]["connect"] == 7.0  # the fetch limits follow --timeout as a scan derives them
    internetnl = load_policy("internetnl")
    assert data["policy"]["name"] == "internetnl"
    assert data["policy"]["thresholds"] == dict(internetnl.thresholds)
    assert data["policy"]["thresholds"]["ns_v6_one"] == "fail"  # internetnl's own, not the default's
    assert data["policy"]["checks"] == {k: dict(v) for k, v in internetnl.checks.items()}
    # the environment and a config file resolve as for a scan
    data = _shown("check", "--show-settings", env={"V6SCAN_TIMEOUT": "9", "V6SCAN_POLICY": "cn-gov"})
    assert data["settings"]["timeout"] == 9.0 and data["policy"]["name"] == "cn-gov"
    assert data["policy"]["thresholds"]["links_level2_min"] == 0.95
    conf = tmp_path / "v6scan.toml"
    conf.write_text('timeout = 3\n[scan]\nper-prefix = 5\n', encoding="utf-8")
    data = _shown("--config", str(conf), "scan", "--db", str(tmp_path / "x.db"), "--show-settings")
    assert data["settings"]["timeout"] == 3.0 and data["settings"]["per_prefix_concurrency"] == 5


def test_check_without_hosts_is_a_usage_error_unless_showing_settings() -> None:
    r = CliRunner().invoke(cli, ["check"])
    assert r.exit_code == 2 and "Missing argument 'HOSTS...'" in r.output


def test_show_settings_on_resume_is_the_sweeps_stored_configuration(tmp_path: Path, fake_scan: FakeScan) -> None:
    db, targets = tmp_path / "s.db", tmp_path / "t.txt"
    targets.write_text("ok.example.net\n")
    r = CliRunner().invoke(cli, ["scan", str(targets), "--db", str(db), "--policy", "internetnl", "--timeout", "7",
                                 "--resolver", "127.0.0.1", "--no-self-check", "--www", "never"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data = _shown("scan", "--db", str(db), "--resume", "1", "--show-settings")
    assert data["settings"]["timeout"] == 7.0 and data["settings"]["resolvers"] == ["127.0.0.1"]
    assert data["policy"]["name"] == "internetnl"
    assert fake_scan.scanned == ["ok.example.net"]  # nothing scanned again


@pytest.mark.parametrize("nonblocking", [False, True])
def test_the_document_reaches_stdout_whole_through_a_slow_pipe(monkeypatch: pytest.MonkeyPatch,
                                                               nonblocking: bool) -> None:
    """``check``'s document is written whole: a reader slower than the writer, on a pipe that another
    program sharing it may have left non-blocking (then a plain write stops at the pipe's 64 KiB with
    BlockingIOError, and a document cut there once reached a test with exit 0)."""
    import os
    import threading
    import time

    from v6scan.cli import write_stdout

    r, w = os.pipe()
    os.set_blocking(w, not nonblocking)
    got = bytearray()

    def slow_reader() -> None:
        while chunk := os.read(r, 4096):
            got.extend(chunk)
            time.sleep(0.0005)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    text = "".join(f'{{"line": {i}, "text": "{"é" * 50}"}}\n' for i in range(5000))  # about 600 KB
    try:
        with open(w, "w", encoding="utf-8", closefd=False) as out:
            monkeypatch.setattr(sys, "stdout", out)
            write_stdout(text)
    finally:
        os.close(w)
        reader.join()
        os.close(r)
    assert got.decode("utf-8") == text


def test_a_sweep_leaves_out_the_checks_too_costly_for_it_unless_named(tmp_path: Path) -> None:
    """``check`` runs every check; ``scan`` without ``--checks`` every check but those declared
    ``in_sweeps=False`` (stored with the sweep, so a resume runs the same); ``--checks`` naming one runs it."""
    costly = [i for i, c in CHECKS.items() if not c.in_sweeps]
    assert costly, "no check is out of sweeps: this test has nothing to show"
    assert set(sweep_checks()) == set(CHECKS) - set(costly)
    assert _shown("check", "example.org", "--show-settings")["settings"]["check_ids"] == []
    shown = _shown("scan", "--db", str(tmp_path / "a.db"), "--show-settings")["settings"]["check_ids"]
    assert shown == [i for i in CHECKS if i not in costly]
    named = _shown("scan", "--db", str(tmp_path / "b.db"), "--checks", f"dns.resolve,{costly[0]}",
                   "--show-settings")["settings"]["check_ids"]
    assert named == ["dns.resolve", costly[0]]
    help_text = CliRunner().invoke(cli, ["scan", "--help"]).output
    assert all(i in " ".join(help_text.split()) for i in costly)
    # +ID adds to the command's default; 'all' is every check (stored as the empty selection)
    plus = _shown("scan", "--db", str(tmp_path / "c.db"), "--checks", f"+{costly[0]}",
                  "--show-settings")["settings"]["check_ids"]
    assert plus == [i for i in CHECKS if i not in costly or i == costly[0]]
    for cmd in (["scan", "--db", str(tmp_path / "d.db")], ["check", "example.org"]):
        assert _shown(*cmd, "--checks", "all", "--show-settings")["settings"]["check_ids"] == []
    assert _shown("check", "example.org", "--checks", f"+{costly[0]}", "--show-settings")["settings"][
        "check_ids"] == []  # check's default is every check already
    for bad, says in ((f"+{costly[0]},dns.aaaa", "not both"), ("+web.nope", "unknown check")):
        r = CliRunner().invoke(cli, ["scan", "--db", str(tmp_path / "e.db"), "--checks", bad, "--show-settings"])
        assert r.exit_code == 2 and says in r.output, r.output


def test_a_trust_anchor_file_is_checked_before_anything_runs(tmp_path: Path) -> None:
    """``--trust-anchor`` holding no DS or DNSKEY record of the root is a usage error (exit 2) naming the
    file and the record, not an error on every target; a good file is taken."""
    bad = tmp_path / "bad.anchor"
    for text, says in (("example. 3600 IN DS 20326 8 2 " + "00" * 32, "only the root's"),
                       (". IN SOA a. b. 1 2 3 4 5", "DS or DNSKEY"), (". IN DS 20326 8 2 zz", "does not parse"),
                       ("; nothing\n", "no DS or DNSKEY")):
        bad.write_text(text)
        r = CliRunner().invoke(cli, ["check", "example.org", "--trust-anchor", str(bad), "--show-settings"])
        assert r.exit_code == 2 and "--trust-anchor" in r.output and says in r.output, r.output
    good = tmp_path / "root.anchor"
    good.write_text(". 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")
    shown = _shown("check", "example.org", "--trust-anchor", str(good), "--show-settings")
    assert shown["settings"]["trust_anchor"] == str(good)
