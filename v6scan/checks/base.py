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
        for f in _codec(type(self)):
            value = getattr(self, f.name)
            if f.optional and value == f.default:
                continue  # written only when it says something (as the checks always did)
            out[f.key] = value if f.dump is None or value is None else f.dump(value)
        if self.extra:
            out.update(self.extra)
        if self.TAGGED:
            out[VERSION_KEY] = self.VERSION
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, JSON] | None) -> Self:
        d: Mapping[str, JSON] = data or {}
        version = int(d.get(VERSION_KEY) or 1)
        if version < cls.VERSION:
            d = cls.upgrade({k: v for k, v in d.items() if k != VERSION_KEY}, version)
        codec, keys = _codec(cls), _keys(cls)
        kwargs: dict[str, Any] = {}
        for f in codec:
            if f.key in d:
                value = d[f.key]
                if value is None:
                    if f.none_ok:  # else: a null where the type has none (a hand-edited store): the default
                        kwargs[f.name] = None
                else:
                    kwargs[f.name] = value if f.load is None else f.load(value)
        if any(k not in keys for k in d):
            kwargs["extra"] = {k: v for k, v in d.items() if k not in keys}
        return cls(**kwargs)


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


Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Field:
    """How one field of an evidence class is written and read (worked out once per class)."""

    name: str
    key: str
    optional: bool
    default: Any
    none_ok: bool
    #: stored JSON -> the field's type (None: as it is)
    load: Convert | None
    #: the field's value -> JSON (None: as it is)
    dump: Convert | None


_CODECS: dict[type, tuple[_Field, ...]] = {}
_KEYS: dict[type, frozenset[str]] = {}


def _keys(cls: type) -> frozenset[str]:
    """The JSON keys a class reads (its fields' and the version tag)."""
    keys = _KEYS.get(cls)
    if keys is None:
        keys = _KEYS[cls] = frozenset({*(f.key for f in _codec(cls)), VERSION_KEY})
    return keys


def _codec(cls: type) -> tuple[_Field, ...]:
    codec = _CODECS.get(cls)
    if codec is None:
        hints = typing.get_type_hints(cls)
        codec = tuple(
            _Field(f.name, f.metadata.get("key", f.name), bool(f.metadata.get("optional")), f.default,
                   _admits_none(hints[f.name]), _loader(hints[f.name]), _dumper(hints[f.name]))
            for f in dataclasses.fields(cls) if f.name != "extra")
        _CODECS[cls] = codec
    return codec


def _admits_none(hint: Any) -> bool:
    return hint is Any or (typing.get_origin(hint) in (typing.Union, types.UnionType)
                           and type(None) in typing.get_args(hint))


def _is_row(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Evidence)


def _loader(hint: Any) -> Convert | None:
    """How stored JSON becomes a value of type ``hint`` (rows their class, lists tuples); None when
    it is used as it is."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _loader(inner[0]) if len(inner) == 1 else None
    if _is_row(hint):
        row: type[Evidence] = hint
        return lambda v: row.from_json(v) if isinstance(v, Mapping) else v
    if origin is tuple:
        if _is_row(args[0]):  # rows: only what is a row (a damaged store may hold anything)
            item: type[Evidence] = args[0]
            return lambda v: tuple(item.from_json(x) for x in v if isinstance(x, Mapping)) \
                if isinstance(v, list | tuple) else v
        each = _loader(args[0])
        if each is None:
            return lambda v: tuple(v) if isinstance(v, list | tuple) else v
        return lambda v: tuple(None if x is None else each(x) for x in v) if isinstance(v, list | tuple) else v
    if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        value = _loader(args[1])
        if value is None:
            return lambda v: dict(v) if isinstance(v, Mapping) else v
        return lambda v: {k: None if x is None else value(x) for k, x in v.items()} if isinstance(v, Mapping) else v
    return None


def _dumper(hint: Any) -> Convert | None:
    """How a value of type ``hint`` becomes JSON; None when it is JSON already."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _dumper(inner[0]) if len(inner) == 1 else _dump
    if _is_row(hint):
        return _dump
    if origin is tuple:
        return (lambda v: [x.to_json() for x in v]) if _is_row(args[0]) else _dump
    if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        return _dump
    return None if hint in (str, int, float, bool) else _dump


def _dump(v: Any) -> JSON:
    if isinstance(v, Evidence):
        return v.to_json()
    if isinstance(v, tuple | list):
        return [_dump(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _dump(x) for k, x in v.items()}
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
    #: run by a sweep (``scan``) unless ``--checks`` says otherwise; False for a check too costly per
    #: site for a nationwide sweep: ``check`` runs it, a sweep only when ``--checks`` names it
    in_sweeps: bool = True

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def per_variant(self) -> bool:
        """Measured per site name (apex and www.) rather than once per target domain."""
        return self.phase not in (Phase.TARGET, Phase.SCANNER)

    def read(self, o: Observation) -> E:
        """The typed evidence of ``o``: the probe's own while ``o`` still carries it, else read
        from the stored JSON (any version)."""
        ev = o.typed_evidence()
        return ev if isinstance(ev, self.evidence) else self.evidence.from_json(o.evidence)

    def evaluate(self, o: Observation, p: Policy) -> CheckResult:
        """The rule applied to ``o`` and its typed evidence."""
        return self.rule(o, self.read(o), p)

    def observe(self, name: str, status: Status, evidence: E | None, error: str | None = None,
                elapsed_ms: float = 0.0, started_at: str | None = None) -> Observation:
        """The observation this check records (evidence in its stored form)."""
        ev = evidence.to_json() if evidence is not None else {}
        typed = (ev, evidence) if evidence is not None else None
        if started_at is None:
            return Observation(self.id, name, status, ev, error, elapsed_ms, typed=typed)
        return Observation(self.id, name, status, ev, error, elapsed_ms, started_at, typed)


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
        if key in self._values:  # computed: no lock to take
            value: T = self._values[key]
            return value
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
            made: T = self._values[key]
            return made

    def peek(self, key: str) -> Any:
        """A shared value if it was computed, else None."""
        return self._values.get(key)
