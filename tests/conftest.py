"""Shared fixtures.  ``lab`` gives tests a running lab (see tests/lab/)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.lab import Lab, LabError, lab_unavailable_reason


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
