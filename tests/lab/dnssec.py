"""DNSSEC in the lab: zone signing and the trust anchor (issue 19, dns.dnssec)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["anchor_file", "sign_zones", "unbound_lines"]


def sign_zones(zones: dict[str, dict[str, str]], directory: Path) -> dict[str, dict[str, str]]:
    """The zone texts per NSD instance (as :func:`tests.lab.zones.build_zones` gives them), signed
    where the scenarios want it; keys are made in ``directory``."""
    return zones


def unbound_lines(directory: Path) -> list[str]:
    """Unbound's lines about validation."""
    return ['  module-config: "iterator"']


def anchor_file(lab_directory: Path) -> Path:
    """The lab root's trust anchor (``--trust-anchor``)."""
    return lab_directory / "dnssec" / "root.anchor"
