"""v6scan: an IPv6 migration readiness scanner."""

from __future__ import annotations

from v6scan.errors import V6scanError

__all__ = ["V6scanError", "__version__"]

__version__ = "0.1.0"
