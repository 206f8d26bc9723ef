"""What a report counts, one verdict row at a time: verdicts, scores, groups and failure classes.

Memory grows with the number of groups and failure classes, never with the number of sites: a row
is added and dropped.  A failure class is a (check id, reason code) pair, never the rendered text
(which names the site); each keeps a count of sites, a few example sites (with the parameters of
their reason, for the fix hint) and is counted per sector and per region too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from v6scan.messages import fix_hint, render
from v6scan.registry import CHECKS
from v6scan.scoring import VERDICTS

__all__ = ["BAD_RESULTS", "EXAMPLES", "ORDER", "Aggregate", "Group", "failure_keys"]

ORDER = tuple(reversed(VERDICTS))  # ready first, for tables and charts
BAD_RESULTS = ("fail", "warn", "error")
#: example sites kept per failure class (and per class in each sector and region)
EXAMPLES = 3
#: the dimensions failure classes are counted in
CLASS_DIMS = ("sector", "region")

Key = tuple[str, str]


def failure_keys(row: Mapping[str, Any]) -> dict[Key, dict[str, Any]]:
    """The failure classes of one verdict row: (check, code) -> the parameters of its first reason,
    each class once per site, from every name of the site whose result is fail, warn or error."""
    found: dict[Key, dict[str, Any]] = {}
    names = set(row["names"])
    for cid, c in row["checks"].items():
        if c["result"] not in BAD_RESULTS:
            continue
        for name, det in c["details"]["names"].items():
            if name not in names or det["result"] not in BAD_RESULTS:
                continue
            for reason in det.get("reasons", []):
                found.setdefault((cid, str(reason["code"])), dict(reason.get("params") or {}))
    return found


@dataclass
class _Class:
    count: int = 0
    #: (position of the site in the sweep, name, display, params): the first sites counted
    examples: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, at: int, name: str, display: str, params: dict[str, Any]) -> bool:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((at, name, display, params))
            return True
        return False

    def merge(self, other: _Class) -> None:
        """Count ``other``'s sites too (the examples: the first sites of both by position)."""
        self.count += other.count
        self.examples = sorted(self.examples + other.examples, key=lambda e: e[0])[:EXAMPLES]


@dataclass
class Group:
    """Counts of one group of sites (the whole sweep, a sector, a region, an organisation)."""

    name: str
    sites: int = 0
    score_sum: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    classes: dict[Key, _Class] | None = None

    def add(self, row: Mapping[str, Any], failures: Mapping[Key, dict[str, Any]] | None = None) -> bool:
        """Count ``row``; True if it was kept as an example of one of its failure classes."""
        kept = False
        self.sites += 1
        self.score_sum += int(row["score"])
        self.counts[str(row["verdict"])] += 1
        if failures is not None:
            if self.classes is None:
                self.classes = {}
            at = int(row.get("position") or 0)
            for key, params in failures.items():
                kept |= self.classes.setdefault(key, _Class()).add(at, str(row["name"]), str(row["display"]), params)
        return kept

    def merge(self, other: Group) -> None:
        """Count the sites ``other`` counted too (rows with a ``position``: its examples are the
        first sites of both)."""
        self.sites += other.sites
        self.score_sum += other.score_sum
        self.counts.update(other.counts)
        if other.classes is not None:
            if self.classes is None:
                self.classes = {}
            for key, cls in other.classes.items():
                if key in self.classes:
                    self.classes[key].merge(cls)
                else:
                    self.classes[key] = cls

    def summary(self) -> dict[str, Any]:
        n = self.sites or 1
        return {"name": self.name, "sites": self.sites, "counts": {v: self.counts.get(v, 0) for v in ORDER},
                "ready_share": self.counts.get("ready", 0) / n, "average_score": self.score_sum / n}

    def failure_classes(self, lang: str, href: Callable[[str], str | None] | None = None,
                        limit: int | None = None) -> list[dict[str, Any]]:
        """The classes, most sites first: check, its title, code, count, share of the group's sites,
        example sites (name, display, link) and the fix hint (with the first example's parameters)."""
        items = sorted((self.classes or {}).items(), key=lambda kv: (-kv[1].count, kv[0]))
        out = []
        for (cid, code), cls in items[:limit]:
            params = cls.examples[0][3] if cls.examples else {}
            out.append({"check": cid, "title": CHECKS[cid].title if cid in CHECKS else cid, "code": code,
                        "count": cls.count, "share": cls.count / (self.sites or 1),
                        "examples": [{"name": n, "display": d, "href": href(n) if href else None}
                                     for _, n, d, _ in cls.examples],
                        "fix": fix_hint(code, params, lang), "example": render(code, params, lang)})
        return out


class Aggregate:
    """The whole sweep's counts, built by :meth:`add` from verdict rows in any order."""

    def __init__(self) -> None:
        self.all = Group("*")
        self.histogram = [0] * 10
        self.groups: dict[str, dict[str, Group]] = {d: {} for d in CLASS_DIMS}

    def add(self, row: Mapping[str, Any]) -> bool:
        """Count ``row``; True if it was kept as an example site of a failure class."""
        failures = failure_keys(row)
        kept = self.all.add(row, failures)
        self.histogram[min(9, int(row["score"]) // 10)] += 1
        for dim in CLASS_DIMS:
            name = row.get(dim) or "-"
            groups = self.groups[dim]
            if name not in groups:
                groups[name] = Group(name)
            kept |= groups[name].add(row, failures)
        return kept

    def merge(self, other: Aggregate) -> None:
        """Count what ``other`` counted too: the same as :meth:`add` of both's rows, in the order of
        their ``position``."""
        self.all.merge(other.all)
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        for dim in CLASS_DIMS:
            groups = self.groups[dim]
            for name, group in other.groups[dim].items():
                if name in groups:
                    groups[name].merge(group)
                else:
                    groups[name] = group

    def breakdown(self, dim: str) -> list[dict[str, Any]]:
        return [self.groups[dim][k].summary() for k in sorted(self.groups[dim])]
