"""The check registry: one module per check, declared the same way, and everything that derives
from it (the default policy, the messages, the policies' check ids).

No network: these read the check modules and the policies.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6scan.checks.base import VERSION_KEY, Check, Evidence, Phase, Row
from v6scan.messages import LANGS, MESSAGES
from v6scan.registry import CHECKS, load_checks
from v6scan.scoring import BUILTIN_POLICIES, default_thresholds, load_policy

CHECKS_DIR = Path(__file__).resolve().parent.parent / "v6scan" / "checks"

#: the default policy as v6scan/policies/default.json gave it before the checks declared their own
#: weights, required flags and thresholds (issue 18): moving them must not change a verdict or score
DEFAULT_BEFORE: dict[str, Any] = {
    "checks": {
        "dns.resolve": (0, True), "dns.aaaa": (20, True), "dns.ns_aaaa": (10, True), "dns.ns_reach": (10, True),
        "dns.v6_path": (5, True), "web.reach": (15, True), "web.tls": (10, True), "web.http": (12, True),
        "web.same_site": (8, True), "web.latency": (3, False), "web.links": (4, True), "web.resources": (1, True),
        "path.pmtu": (0, True), "path.icmp": (0, False), "mail.mx_aaaa": (2, False), "mail.mx_reach": (0, False),
        "self.v6": (0, False),
    },
    "thresholds": {
        "ns_v6_min": 2, "ns_v6_one": "warn", "same_site_min": 0.9, "latency_ratio_max": 1.2,
        "latency_success_min": 1.0, "latency_severity": "warn", "mx_severity": "warn",
        "latency_min_difference_ms": 20, "links_level2_min": 0.9, "links_level3_min": 0.9,
        "probe_success_warn": 1.0, "warn_credit": 0.5,
    },
}


def test_every_check_module_declares_one_check_named_after_its_id() -> None:
    modules = sorted(p.stem for p in CHECKS_DIR.glob("*.py") if p.stem != "__init__")
    declared = {c.id.replace(".", "_"): c for c in CHECKS.values()}
    for stem in modules:
        text = (CHECKS_DIR / f"{stem}.py").read_text()
        has_check = re.search(r"^CHECK\s*=\s*Check\(", text, re.M) is not None
        assert has_check == (stem in declared), f"{stem}.py: a module declares CHECK exactly when it is a check"
    for c in CHECKS.values():
        assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", c.id), c.id
        assert isinstance(c, Check) and c.title and c.family == c.id.split(".")[0]
        assert dataclasses.is_dataclass(c.evidence) and issubclass(c.evidence, Evidence)
        assert not issubclass(c.evidence, Row), f"{c.id}: top-level evidence is version-tagged, not a Row"
        assert c.evidence.__dataclass_params__.frozen, f"{c.id}: evidence must be frozen"  # type: ignore[attr-defined]
        assert c.stage == 0 or c.phase is Phase.CONNECT, f"{c.id}: only connecting checks have stages"
        assert c.evidence.from_json({}).to_json()[VERSION_KEY] == c.evidence.VERSION  # a skipped check loads


def test_catalogue_order_and_ids_are_stable() -> None:
    assert list(CHECKS)[:17] == list(DEFAULT_BEFORE["checks"]), "the catalogue order of the existing checks"
    assert list(load_checks()) == list(CHECKS)
    orders = [c.order for c in CHECKS.values()]
    assert len(set(orders)) == len(orders), "two checks at the same place in the catalogue"


def _reason_codes(path: Path) -> set[str]:
    """Every literal code a module passes to ``Reason(...)`` (its rule's findings)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Reason" and node.args:
            arg = node.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), \
                f"{path.name}: a reason code must be a literal (line {node.lineno})"
            out.add(arg.value)
    return out


#: codes the rule helpers of v6scan/rules.py give on a check's behalf
HELPER_CODES = {"not_tested", "probe_retried"}


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_a_rules_reasons_are_declared_and_have_messages_in_every_language(check_id: str) -> None:
    c = CHECKS[check_id]
    used = _reason_codes(CHECKS_DIR / f"{check_id.replace('.', '_')}.py")
    undeclared = used - set(c.reasons)
    assert not undeclared, f"{check_id} gives reason codes it does not declare: {sorted(undeclared)}"
    assert used, f"{check_id}: a rule that never names a finding"
    for code in (*c.reasons, *HELPER_CODES):
        assert code in MESSAGES, f"{check_id}: no message for {code}"
        assert set(MESSAGES[code]) == set(LANGS), code
        fixes = {bool(MESSAGES[code][lang][1].strip()) for lang in LANGS}
        assert len(fixes) == 1, f"{code}: a fix hint in some languages only"
        for lang in LANGS:
            assert MESSAGES[code][lang][0].strip(), (code, lang)


def test_default_policy_is_what_it_was() -> None:
    p = load_policy("default")
    assert {k: (v["weight"], v["required"]) for k, v in p.checks.items() if k in DEFAULT_BEFORE["checks"]} \
        == DEFAULT_BEFORE["checks"]
    assert {k: p.thresholds[k] for k in DEFAULT_BEFORE["thresholds"]} == DEFAULT_BEFORE["thresholds"]
    assert default_thresholds() == dict(p.thresholds)


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_builtin_policies_name_only_known_checks_and_thresholds(name: str) -> None:
    data = json.loads(resources.files("v6scan.policies").joinpath(f"{name}.json").read_text("utf-8"))
    assert set(data.get("checks") or {}) <= set(CHECKS)
    assert set(data.get("thresholds") or {}) <= set(default_thresholds()), "a threshold no check reads"
    load_policy(name)


def test_a_policy_naming_an_unknown_check_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"name": "p", "checks": {"web.tsl": {"weight": 1}}}))
    with pytest.raises(ValueError, match=r"web\.tsl"):
        load_policy(f)


def test_every_threshold_a_rule_reads_is_declared() -> None:
    known = set(default_thresholds())
    for c in CHECKS.values():
        text = (CHECKS_DIR / f"{c.id.replace('.', '_')}.py").read_text()
        read = set(re.findall(r"""p\.t\(\s*f?["']([a-z0-9_{}]+)["']""", text))
        read = {r for r in read if "{" not in r}
        assert read <= known, f"{c.id} reads undeclared thresholds {sorted(read - known)}"


# --------------------------------------------------------------------------- the evidence mechanism


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Port(Row):
    status: str = ""
    attempts: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Ev(Evidence):
    VERSION: typing.ClassVar[int] = 2
    name: str = ""
    ports: Mapping[str, _Port] = dataclasses.field(default_factory=dict)
    rows: tuple[_Port, ...] = ()
    best: _Port | None = None

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        if version == 1 and "host" in data:  # version 1 called it "host"
            data["name"] = data.pop("host")
        return data


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                     max_leaves=8)
_port = st.builds(lambda s, a: {"status": s, "attempts": a}, st.text(max_size=4), st.none() | st.integers(0, 9))


@given(name=st.text(max_size=6), ports=st.dictionaries(st.sampled_from(["80", "443"]), _port, max_size=2),
       rows=st.lists(_port, max_size=3), extra=st.dictionaries(st.sampled_from(["zz", "later"]), _json, max_size=2))
def test_evidence_round_trips_and_keeps_what_it_does_not_know(name: str, ports: dict[str, Any],
                                                              rows: list[Any], extra: dict[str, Any]) -> None:
    stored = {"name": name, "ports": ports, "rows": rows, "best": None, **extra, VERSION_KEY: 2}
    ev = _Ev.from_json(stored)
    assert ev.to_json() == stored
    assert all(isinstance(r, _Port) for r in ev.rows) and isinstance(ev.rows, tuple)
    assert dict(ev.extra) == extra
    assert _Ev.from_json(ev.to_json()) == ev


def test_older_evidence_is_upgraded_and_untagged_evidence_is_version_1() -> None:
    ev = _Ev.from_json({"host": "a.test", "rows": [{"status": "ok", "later": 1}]})
    assert ev.name == "a.test" and ev.rows[0].status == "ok" and ev.rows[0].extra == {"later": 1}
    assert ev.to_json()[VERSION_KEY] == 2 and "host" not in ev.to_json()


def test_nulls_and_garbage_rows_in_stored_evidence_load_as_defaults() -> None:
    """A hand-edited or damaged store: a null where the type has none takes the default, a row
    that is not an object is left out; every check's rule still gives a result."""
    ev = _Ev.from_json({"name": None, "rows": [None, 3, {"status": "ok"}], "ports": None, "best": None})
    assert ev.name == "" and ev.ports == {} and [r.status for r in ev.rows] == ["ok"] and ev.best is None
    from v6scan.model import Observation, Status
    from v6scan.scoring import evaluate

    policy = load_policy("default")
    for c in CHECKS.values():
        nulls = {f.name: None for f in dataclasses.fields(c.evidence) if f.name != "extra"}
        for status in (Status.OK, Status.SKIPPED, Status.TIMEOUT):
            r = evaluate(Observation(c.id, "example.org", status, nulls), policy)
            assert r.check == c.id and r.result in ("pass", "warn", "fail", "info", "not_tested", "error",
                                                     "inconclusive")
