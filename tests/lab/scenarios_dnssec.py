"""Lab scenarios of dns.dnssec: signed, broken and unsigned zones (issue 19)."""

from __future__ import annotations

from tests.lab.scenarios import Scenario

__all__ = ["DNSSEC"]

DNSSEC: tuple[Scenario, ...] = ()
