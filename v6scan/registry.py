"""The check catalogue, built from the check modules: every module under :mod:`v6scan.checks`
that declares a ``CHECK`` (a :class:`~v6scan.checks.base.Check`) is a check, listed by its
``order``.  Adding a check is adding such a module (CONTRIBUTING.md)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

import v6scan.checks
from v6scan.checks.base import Check

__all__ = ["CHECKS", "family_enabled", "load_checks", "sweep_checks"]


def load_checks() -> dict[str, Check[Any]]:
    """Every check module's ``CHECK``, in catalogue order; a module must be named after its id."""
    found: list[Check[Any]] = []
    for info in pkgutil.iter_modules(v6scan.checks.__path__):
        module = importlib.import_module(f"v6scan.checks.{info.name}")
        check = getattr(module, "CHECK", None)
        if isinstance(check, Check):
            if info.name != check.id.replace(".", "_"):
                raise RuntimeError(f"check {check.id!r} is declared in {info.name}.py, not in"
                                   f" {check.id.replace('.', '_')}.py")
            found.append(check)
    found.sort(key=lambda c: (c.order, c.id))
    ids = [c.id for c in found]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"check ids declared twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    return {c.id: c for c in found}


#: every check, by id, in catalogue order
CHECKS: Mapping[str, Check[Any]] = load_checks()


def family_enabled(selected: tuple[str, ...], *ids: str) -> bool:
    """Whether any of ``ids`` is selected (an empty selection means every check)."""
    return not selected or any(i in selected for i in ids)


def sweep_checks() -> tuple[str, ...]:
    """What a sweep runs when ``--checks`` does not say: every check but those too costly per site for
    a nationwide sweep (``in_sweeps=False``), or ``()`` (all) when every check is in sweeps."""
    if all(c.in_sweeps for c in CHECKS.values()):
        return ()
    return tuple(i for i, c in CHECKS.items() if c.in_sweeps)
