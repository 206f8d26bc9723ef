"""The CN indicator set of a site, from its ``web.latency`` observation: what the national IPv6
monitoring platform (国家IPv6发展监测平台) reports per site, kept per target so a sweep can be
summed up per sector and region in SQL.

Per family the homepage's success rate over the repeated probes; per part of the latency breakdown
(:data:`v6scan.checks.web_latency.PARTS`: DNS resolution, TCP connect, TLS, first byte, the whole
homepage's download time and rate) IPv6's and IPv4's medians and the IPv6/IPv4 ratio.  A pure
function of the stored observations (:func:`indicators`), like :mod:`v6scan.providers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from v6scan.checks.web_latency import PARTS
from v6scan.model import JSON, Observation

__all__ = ["PARTS", "Indicators", "indicators"]


@dataclass(frozen=True)
class Indicators:
    #: the homepage's success rate over the probes, per family measured
    success_v6: float | None = None
    success_v4: float | None = None
    #: each part's median per family (``v6``, ``v4``) and its IPv6/IPv4 ratio
    v6: Mapping[str, float | None] = field(default_factory=dict)
    v4: Mapping[str, float | None] = field(default_factory=dict)
    ratios: Mapping[str, float] = field(default_factory=dict)
    probes: int = 0

    def to_json(self) -> dict[str, JSON]:
        return {"success_v6": self.success_v6, "success_v4": self.success_v4, "v6": dict(self.v6),
                "v4": dict(self.v4), "ratios": dict(self.ratios), "probes": self.probes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Indicators:
        return cls(data.get("success_v6"), data.get("success_v4"), dict(data.get("v6") or {}),
                   dict(data.get("v4") or {}), dict(data.get("ratios") or {}), int(data.get("probes") or 0))


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def indicators(name: str, observations: Iterable[Observation]) -> Indicators | None:
    """The indicators of the site ``name`` (its own web.latency observation, else the first of its
    other names'); a site with usable AAAA records whose homepage no IPv6 address served has an
    IPv6 success rate of 0; None when there is nothing to say (no IPv6, and web.latency measured
    nothing)."""
    found: Mapping[str, Any] | None = None
    has_v6 = False  # usable AAAA records (dns.aaaa): a homepage that never answered over IPv6 is a rate of 0
    for o in observations:
        measured = o.check == "web.latency" and isinstance(o.evidence.get("families"), Mapping)
        if measured and o.evidence["families"] and (o.target == name or found is None):
            found = o.evidence
        elif o.check == "dns.aaaa" and o.target == name and o.evidence.get("usable"):
            has_v6 = True
    if found is None:
        return Indicators(success_v6=0.0) if has_v6 else None
    fams = found["families"]

    def family(key: str) -> tuple[float | None, dict[str, float | None]]:
        row = fams.get(key)
        if not isinstance(row, Mapping):
            return None, {}
        parts = row.get("breakdown")
        parts = parts if isinstance(parts, Mapping) else {}
        return _number(row.get("success_rate")), {p: _number(parts.get(p)) for p in PARTS}

    s6, v6 = family("v6")
    s4, v4 = family("v4")
    if s6 is None and has_v6:  # IPv6 addresses, none of which served the homepage
        s6 = 0.0
    raw = found.get("ratios")
    raw = raw if isinstance(raw, Mapping) else {}
    ratios = {p: r for p in PARTS if (r := _number(raw.get(p))) is not None}
    return Indicators(s6, s4, v6, v4, ratios, int(_number(found.get("probes_per_family")) or 0))
