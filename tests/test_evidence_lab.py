"""Every check's evidence, as its probe stores it on every lab scenario, is typed and round-trips.

One scan of every scenario (the hardening ones too: hostile pages, garbage DNS, huge answers) with
every check; for each observation a probe wrote, the check's evidence class must read the stored
JSON into typed fields (no top-level key left untyped) and write back exactly the same JSON.
That is what lets scoring read attributes while stored sweeps and the JSON record stay unchanged.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import pytest

from tests.conftest import lab_settings
from tests.lab import Lab
from tests.lab.netns import run_async_in_netns
from tests.lab.scenarios import HARDENING, SCENARIOS
from v6scan.checks.base import VERSION_KEY, Evidence
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.model import Observation
from v6scan.registry import CHECKS
from v6scan.targets import parse_target


@pytest.fixture(scope="module")
def observations(lab: Lab) -> list[Observation]:
    settings = lab_settings(lab, ca_bundle=lab.ca_file, self_check=lab.self_check, timeout=2.0, latency_probes=2)
    names = [s.target for s in (*SCENARIOS, *HARDENING)]

    async def go() -> list[TargetResult]:
        async with Context.create(settings) as ctx:
            return list(await asyncio.gather(*(scan_target(ctx, parse_target(n)) for n in names)))

    return [o for r in run_async_in_netns(lab.client, go) for o in r.observations]


def _untyped_rows(ev: Evidence, path: str = "") -> list[str]:
    """Keys of nested rows that no field of their row class declares."""
    out = [f"{path}.{k}" for k in ev.extra] if path else []
    for name, value in vars(ev).items():
        items = value if isinstance(value, tuple) else value.values() if isinstance(value, dict) else (value,)
        out += [x for item in items if isinstance(item, Evidence) for x in _untyped_rows(item, f"{path}.{name}")]
    return out


def test_every_stored_evidence_is_typed_and_round_trips(observations: list[Observation]) -> None:
    written = [o for o in observations if VERSION_KEY in o.evidence]
    seen = {o.check for o in written}
    assert seen == set(CHECKS), f"checks that recorded no evidence anywhere in the lab: {set(CHECKS) - seen}"
    untyped: dict[str, set[str]] = defaultdict(set)
    for o in written:
        stored: dict[str, Any] = json.loads(json.dumps(dict(o.evidence), default=str))  # as the store keeps it
        ev = CHECKS[o.check].evidence.from_json(stored)
        assert not ev.extra, f"{o.check} of {o.target}: top-level keys without a field: {sorted(ev.extra)}"
        assert ev.to_json() == stored, f"{o.check} of {o.target}: the evidence does not round-trip"
        assert CHECKS[o.check].evidence.from_json(ev.to_json()) == ev
        untyped[o.check] |= set(_untyped_rows(ev))
    assert not any(untyped.values()), f"row keys without a field: { {k: sorted(v) for k, v in untyped.items() if v} }"


def test_untagged_evidence_reads_as_version_1(observations: list[Observation]) -> None:
    for o in observations:
        if VERSION_KEY in o.evidence:
            old = {k: v for k, v in o.evidence.items() if k != VERSION_KEY}  # as a sweep stored before issue 18
            cls = CHECKS[o.check].evidence
            assert cls.from_json(old) == cls.from_json(o.evidence)
