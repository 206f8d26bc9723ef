"""Shared fixtures.  ``lab`` gives tests a running lab (see tests/lab/)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import HealthCheck, settings

from tests.lab import Lab, LabError, lab_unavailable_reason
from v6scan.engine import TargetResult
from v6scan.model import Observation
from v6scan.settings import Settings

# Property tests run a bounded number of examples, with no per-example deadline: a loaded CI
# machine must not turn a slow example into a failure.
settings.register_profile("v6scan", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("v6scan")


def lab_required() -> bool:
    """In CI (``CI=true``) or with ``V6SCAN_REQUIRE_LAB=1`` a missing lab is a failure."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("V6SCAN_REQUIRE_LAB") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    reason = lab_unavailable_reason()
    if reason:
        msg = f"LAB TESTS NOT RUN: this machine cannot build the lab: {reason}"
        if lab_required():
            pytest.fail(msg + " (CI=true or V6SCAN_REQUIRE_LAB=1: the lab is required)")
        pytest.skip(msg)
    try:
        running = Lab.up()
    except LabError as e:
        pytest.fail(f"the lab did not come up: {e}")
    try:
        yield running
    finally:
        running.down()


LAB_ALLOW = ("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24")
LAB_SUFFIXES = ("gov.test", "edu.test", "com.test", "cdn.test")


def lab_settings(lab: Lab, **overrides: object) -> Settings:
    """Scanner settings for the lab: its resolver, root hints, trust anchor, CA, prefixes and suffixes."""
    base: dict[str, object] = {
        "resolvers": (lab.resolver[0],),
        "allow_nets": LAB_ALLOW,
        "root_hints": lab.root_hints,
        "trust_anchor": lab.trust_anchor,
        "extra_suffixes": LAB_SUFFIXES,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def scan_sites(lab: Lab, sites: Mapping[str, str]) -> dict[str, TargetResult]:
    """Each of ``sites`` (scenario id -> target name) scanned at once with every check, in the lab's
    client namespace (``www`` never, 2 s steps); the results by scenario id."""
    import asyncio

    from tests.lab.netns import run_async_in_netns
    from v6scan.context import Context
    from v6scan.engine import scan_target
    from v6scan.targets import parse_target

    settings_ = lab_settings(lab, ca_bundle=lab.ca_file, self_check=lab.self_check, timeout=2.0, www="never",
                             latency_probes=2)

    async def go() -> list[TargetResult]:
        async with Context.create(settings_) as ctx:
            return list(await asyncio.gather(*(scan_target(ctx, parse_target(n)) for n in sites.values())))

    return {sid: r for r in run_async_in_netns(lab.client, go) for sid, n in sites.items() if r.target.name == n}


def only(result: TargetResult, check: str) -> Observation:
    """The one observation of ``check`` in ``result``."""
    (o,) = [o for o in result.observations if o.check == check]
    return o
