"""Lab scenarios of path.mtu and path.frag: fragments, extension headers, the path MTU (issue 19)."""

from __future__ import annotations

from tests.lab.scenarios import Scenario

__all__ = ["PATH"]

PATH: tuple[Scenario, ...] = ()
