"""v6scan: an IPv6 migration readiness scanner."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
