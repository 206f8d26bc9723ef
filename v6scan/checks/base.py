"""What one check module declares, and what the checks of one name share while they run.

A check is one module under :mod:`v6scan.checks` with a module-level ``CHECK`` (a :class:`Check`):
its id, title, place in the catalogue, when it runs (:class:`Phase`), its typed evidence (a
frozen :class:`Evidence` subclass), its probe (measures, returns one :class:`Observation`) and
its scoring rule (pure: the observation and its typed evidence in, a :class:`CheckResult` out).
:mod:`v6scan.registry` collects them; the engine, scoring, output and the policies read the
registry.  CONTRIBUTING.md has the recipe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, Self, TypeVar

from v6scan.context import Context
from v6scan.model import JSON, Observation, Status
from v6scan.rules import CheckResult, Policy

__all__ = ["Check", "Evidence", "Phase", "Row", "Run", "optional", "renamed"]

T = TypeVar("T")
E = TypeVar("E", bound="Evidence")

#: the key of the evidence version in stored evidence (absent in sweeps stored before it existed: 1)
VERSION_KEY = "evidence_version"


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Typed evidence: a frozen keyword-only dataclass whose fields are JSON values, tuples of
    them, mappings of them, or other :class:`Evidence` (rows).

    :meth:`to_json` gives the stored form; :meth:`from_json` reads it back, and also reads what
    older versions stored (a missing field takes its default; a key this version does not know is
    kept in ``extra`` and written back unchanged, so nothing measured is ever lost).  A check whose
    evidence changes shape raises ``VERSION`` and upgrades older dicts in :meth:`upgrade`."""

    VERSION: ClassVar[int] = 1
    #: whether :meth:`to_json` writes ``evidence_version`` (top-level evidence does, rows do not)
    TAGGED: ClassVar[bool] = True

    #: keys this version does not know (stored by another version): kept, written back unchanged
    extra: Mapping[str, JSON] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def upgrade(cls, data: dict[str, JSON], version: int) -> dict[str, JSON]:
        """``data`` as stored by evidence ``version`` (older than ``VERSION``), in today's shape."""
        return data

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.metadata.get("optional") and value == f.default:
                continue  # written only when it says something (as the checks always did)
            out[f.metadata.get("key", f.name)] = _dump(value)
        out.update(self.extra)
        if self.TAGGED:
            out[VERSION_KEY] = self.VERSION
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, JSON] | None) -> Self:
        d = dict(data or {})
        version = int(d.pop(VERSION_KEY, 1) or 1)
        if version < cls.VERSION:
            d = cls.upgrade(d, version)
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = f.metadata.get("key", f.name)
            if f.name != "extra" and key in d:
                value = d.pop(key)
                if value is None and not _admits_none(hints[f.name]):
                    continue  # a null where the type has none (a hand-edited store): the default
                kwargs[f.name] = _load(hints[f.name], value)
        return cls(**kwargs, extra=d)


def optional(default: Any = None, key: str | None = None) -> Any:
    """A field written to JSON only when it differs from ``default`` (a key the evidence has only
    sometimes, such as ``caps_hit`` or ``scanner_side``); ``key`` names its JSON key when that
    cannot be a Python name (``class``, ``from``)."""
    return field(default=default, metadata={"optional": True, **({"key": key} if key else {})})


def renamed(key: str, default: Any = None) -> Any:
    """A field always written, under the JSON key ``key`` (a Python keyword such as ``class``)."""
    return field(default=default, metadata={"key": key})


@dataclass(frozen=True, kw_only=True)
class Row(Evidence):
    """A nested part of evidence (one address, one probe, one server): typed like evidence, read
    and written with it, without a version tag of its own."""

    TAGGED: ClassVar[bool] = False


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _admits_none(hint: Any) -> bool:
    return hint is Any or (typing.get_origin(hint) in (typing.Union, types.UnionType)
                           and type(None) in typing.get_args(hint))


def _dump(v: Any) -> JSON:
    if isinstance(v, Evidence):
        return v.to_json()
    if isinstance(v, tuple | list):
        return [_dump(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _dump(x) for k, x in v.items()}
    return v


def _load(hint: Any, v: JSON) -> Any:
    """``v`` (stored JSON) as the type ``hint`` says: rows become their class, lists tuples."""
    if v is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _load(inner[0], v) if len(inner) == 1 else v
    if isinstance(hint, type) and issubclass(hint, Evidence):
        return hint.from_json(v) if isinstance(v, Mapping) else v
    if origin is tuple and isinstance(v, list | tuple):
        if isinstance(args[0], type) and issubclass(args[0], Evidence):  # rows: only what is a row
            return tuple(args[0].from_json(x) for x in v if isinstance(x, Mapping))
        return tuple(_load(args[0], x) for x in v)
    mapping = origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping))
    if mapping and isinstance(v, Mapping):
        return {k: _load(args[1], x) for k, x in v.items()}
    return v


class Phase(StrEnum):
    """When a check of a name runs."""

    #: reads the name's A/AAAA lookup (first: every other check of the name starts after it)
    LOOKUP = "lookup"
    #: more DNS about the name, after the lookup, beside the connections
    DNS = "dns"
    #: connects to the name's addresses: only when the name resolved (and is not an excluded alias),
    #: inside the runner's connection gate, stage after stage (``Check.stage``)
    CONNECT = "connect"
    #: once per target domain, not per name (its mail)
    TARGET = "target"
    #: the scanner's own state, once per target (``self.v6``): run as the engine's canary
    SCANNER = "scanner"


Probe = Callable[[Context, "Run"], Awaitable[Observation]]


@dataclass(frozen=True, kw_only=True)
class Check(Generic[E]):
    """One check, as its module declares it (``CHECK = Check(...)``)."""

    #: the stable id (``family.name``; the module is ``v6scan/checks/family_name.py``)
    id: str
    #: one line, what passing means
    title: str
    #: its place in the catalogue (output order)
    order: int
    phase: Phase
    #: the order of CONNECT checks: a stage starts when the one before it has finished; checks
    #: with the same stage run at once
    stage: int = 0
    evidence: type[E]
    probe: Probe
    #: the scoring rule: pure, reads only the observation and its typed evidence
    rule: Callable[[Observation, E, Policy], CheckResult]
    #: every reason code the rule can give (each has messages in every language)
    reasons: tuple[str, ...] = ()
    #: the default policy's weight and whether it is required (other policies name their own)
    weight: float = 0
    required: bool = False
    #: thresholds the rule reads, with the default policy's values
    thresholds: Mapping[str, JSON] = field(default_factory=dict)
    #: inconclusive when the scanner's own IPv6 failed (its result says nothing about the site then)
    v6_dependent: bool = True
    #: its evidence may say ``scanner_side`` (the scanner, not the site, failed: a sweep retries)
    scanner_side: bool = False
    #: a boolean field of Settings that turns the check off when false (e.g. ``v6_path``)
    setting: str | None = None

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def per_variant(self) -> bool:
        """Measured per site name (apex and www.) rather than once per target domain."""
        return self.phase not in (Phase.TARGET, Phase.SCANNER)

    def evaluate(self, o: Observation, p: Policy) -> CheckResult:
        """The rule applied to ``o`` (evidence as stored, any version)."""
        return self.rule(o, self.evidence.from_json(o.evidence), p)

    def observe(self, name: str, status: Status, evidence: E | None, error: str | None = None,
                elapsed_ms: float = 0.0, started_at: str | None = None) -> Observation:
        """The observation this check records (evidence in its stored form)."""
        ev = evidence.to_json() if evidence is not None else {}
        if started_at is None:
            return Observation(self.id, name, status, ev, error, elapsed_ms)
        return Observation(self.id, name, status, ev, error, elapsed_ms, started_at)


class Run:
    """One name's (or target's) checks in progress: the name, what is selected, and the
    measurements they share (:meth:`shared`: computed once, by the first check that needs it)."""

    def __init__(self, ctx: Context, name: str, target: str, selected: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.name = name
        self.target = target
        self.selected = selected
        self._values: dict[str, Any] = {}
        self._errors: dict[str, BaseException] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def wants(self, check_id: str) -> bool:
        """Whether ``check_id`` is selected (an empty selection means every check)."""
        return not self.selected or check_id in self.selected

    async def shared(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """The value of ``make()`` for this run, computed once: concurrent callers wait for the
        first; an exception is raised to every caller (each records it as its own error)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._errors:
                raise self._errors[key]
            if key not in self._values:
                try:
                    self._values[key] = await make()
                except Exception as e:
                    self._errors[key] = e
                    raise
            value: T = self._values[key]
            return value

    def peek(self, key: str) -> Any:
        """A shared value if it was computed, else None."""
        return self._values.get(key)
