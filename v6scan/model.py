"""The uniform observation record every check returns.

A check measures; it never decides pass/fail (that is :mod:`v6scan.scoring`).
``status`` describes the *measurement* with one vocabulary shared by all
checks, like zgrab2's module statuses.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["JSON", "RESULT_SCHEMA", "EncodedEvidence", "Observation", "Status", "Stopwatch", "cap_hit", "evidence_json",
           "now_iso"]

#: the versioned name of the output contract's per-target record (DESIGN.md section 4)
RESULT_SCHEMA = "v6scan.result/1"

#: evidence is plain JSON: dicts, lists, str, int, float, bool, None
JSON = Any


class Status(StrEnum):
    """What happened when a check measured something (not whether it passed)."""

    OK = "ok"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    TLS_ERROR = "tls_error"
    HTTP_ERROR = "http_error"
    BLOCKED = "blocked"
    EXCLUDED = "excluded"  # the name is on the user's exclusion list: never contacted
    SKIPPED = "skipped"
    ERROR = "error"


def cap_hit(cap: str, limit: int, found: int, **more: JSON) -> dict[str, JSON]:
    """An entry of an observation's ``caps_hit`` evidence: the named setting ``cap`` (README, Safety)
    limited the work to ``limit`` of the ``found`` items."""
    return {"cap": cap, "limit": limit, "found": found, **more}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EncodedEvidence(Mapping[str, JSON]):
    """Evidence that arrived as JSON text (from a worker process): kept as text for the store,
    decoded only if someone reads it."""

    __slots__ = ("_data", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._data: dict[str, JSON] | None = None

    def _decoded(self) -> dict[str, JSON]:
        if self._data is None:
            self._data = json.loads(self.text)
        return self._data

    def __getitem__(self, key: str) -> JSON:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def evidence_json(evidence: Mapping[str, JSON]) -> str:
    """The evidence as stored: JSON text (encoded once)."""
    if isinstance(evidence, EncodedEvidence):
        return evidence.text
    return json.dumps(dict(evidence), default=str)


@dataclass(frozen=True, slots=True)
class Observation:
    """One check's measurement of one target name.

    ``evidence`` holds everything measured, per address where addresses are
    involved, as JSON-ready data; ``error`` is a human-readable explanation
    when ``status`` is not ``ok``.
    """

    check: str
    target: str
    status: Status
    evidence: Mapping[str, JSON] = field(default_factory=dict)
    error: str | None = None
    elapsed_ms: float = 0.0
    started_at: str = field(default_factory=now_iso)
    #: the typed evidence the probe had, with the mapping made from it: (evidence, typed).  Read
    #: only while ``evidence`` is still that mapping (:meth:`typed_evidence`), so scoring in the
    #: scanning process skips reading the JSON back; never stored, never compared
    typed: tuple[Mapping[str, JSON], Any] | None = field(default=None, compare=False, repr=False)

    def typed_evidence(self) -> Any:
        """The probe's typed evidence if ``evidence`` is still what it made, else None."""
        if self.typed is not None and self.typed[0] is self.evidence:
            return self.typed[1]
        return None

    def to_json(self) -> dict[str, JSON]:
        return {
            "check": self.check,
            "target": self.target,
            "status": str(self.status),
            "evidence": dict(self.evidence),
            "error": self.error,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Observation:
        return cls(
            check=str(data["check"]),
            target=str(data["target"]),
            status=Status(data["status"]),
            evidence=dict(data.get("evidence") or {}),
            error=data.get("error"),
            elapsed_ms=float(data.get("elapsed_ms") or 0.0),
            started_at=str(data.get("started_at") or now_iso()),
        )


@dataclass
class Stopwatch:
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=now_iso)
    elapsed_ms: float = 0.0

    def stop(self) -> float:
        self.elapsed_ms = (time.perf_counter() - self.started) * 1000
        return self.elapsed_ms
