"""Targets: parse and normalise site names, read target lists, expand variants.

Name validation runs *before* IDNA encoding, so a hostile or broken line
gets a precise reason ("label 2 is 70 characters long") instead of a codec
traceback.  Names are kept in their ASCII (A-label) form, lower case,
without the trailing dot; ``display`` keeps the Unicode form for people.

Exclusion lists (``--exclude FILE``) name hosts never to contact, matched by
:class:`NameExclusions` with case, a trailing dot and the IDN form (U-label or
A-label) ignored:

- ``example.org`` matches exactly that name;
- ``.example.org`` or ``*.example.org`` matches ``example.org`` and every name
  below it (``www.example.org``, ``a.b.example.org``), at a label boundary only
  (not ``badexample.org``).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import idna
from publicsuffixlist import PublicSuffixList

from v6scan.errors import V6scanError
from v6scan.listfiles import list_lines
from v6scan.listvocab import header_roles, normalise_region, normalise_sector

__all__ = [
    "NameExclusions",
    "Target",
    "TargetError",
    "TargetList",
    "iter_targets",
    "normalise_name",
    "parse_exclusion",
    "parse_target",
    "read_targets",
    "registrable_domain",
    "variants",
]

MAX_NAME = 253
MAX_LABEL = 63
MAX_LINE = 4096
_LDH = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\"'<>\\`{}|^@,;]")
METADATA_FIELDS = ("sector", "region", "organisation")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


class TargetError(V6scanError, ValueError):
    """A target that cannot be scanned, with the reason and where it came from."""

    def __init__(self, text: str, reason: str, source: str | None = None) -> None:
        self.text = text
        self.reason = reason
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{reason}: {text[:80]!r}")


@dataclass(frozen=True, slots=True)
class Target:
    """One site to scan.  ``name`` is the ASCII form; ``display`` the Unicode one."""

    name: str
    display: str
    sector: str | None = None
    region: str | None = None
    organisation: str | None = None
    source: str | None = None


def _strip_to_host(text: str) -> str:
    t = text.strip()
    if "://" in t:
        try:
            parts = urlsplit(t)
            host = parts.hostname
            _ = parts.port  # raises on a garbage port
        except ValueError as e:
            raise TargetError(text, f"not a valid URL ({e})") from None
        if not host:
            raise TargetError(text, "URL without a host name")
        if parts.scheme.lower() not in ("http", "https"):
            raise TargetError(text, f"unsupported URL scheme {parts.scheme!r} (use http or https)")
        return host
    # host/path or host:port written without a scheme
    t = t.split("/", 1)[0]
    if t.startswith("[") and "]" in t:  # [v6]:port
        return t[: t.index("]") + 1]
    if t.count(":") == 1:
        host, _, port = t.partition(":")
        if port and not port.isdigit():
            raise TargetError(text, "not a host name (unexpected ':')")
        t = host
    return t


def normalise_name(text: str, *, single_label: bool = False) -> tuple[str, str]:
    """Return ``(ascii_name, display_name)`` for a host name, URL or ``host:port``.

    Raises :class:`TargetError` with a precise reason for anything unusable (a single label too,
    unless ``single_label``: a suffix such as ``org`` in an exclusion list).
    """
    if len(text) > MAX_LINE:
        raise TargetError(text, f"longer than {MAX_LINE} characters")
    # ideographic and full-width full stops separate labels too (UTS #46)
    host = _strip_to_host(text.translate(_DOTS))
    if not host:
        raise TargetError(text, "empty name")
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate.split("%")[0])
    except ValueError:
        pass
    else:
        raise TargetError(text, "an IP address is not a site name (give the host name)")
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise TargetError(text, "the root is not a site name")
    if m := _BAD_CHARS.search(host):
        raise TargetError(text, f"character {m.group()!r} is not allowed in a host name")
    labels = host.split(".")
    ascii_labels: list[str] = []
    unicode_labels: list[str] = []
    for i, label in enumerate(labels, 1):
        if not label:
            raise TargetError(text, f"label {i} is empty")
        if len(label) > MAX_LABEL:  # checked before encoding: no codec error for a giant label
            raise TargetError(text, f"label {i} is {len(label)} characters long (at most {MAX_LABEL})")
        if label.isascii():
            low = label.lower()
            if low.startswith("xn--"):
                try:
                    uni = idna.decode(low)
                    idna.encode(uni)
                except idna.IDNAError as e:
                    raise TargetError(text, f"label {i} is not valid punycode/IDNA ({e})") from None
                unicode_labels.append(uni)
            else:
                if not _LDH.match(low):
                    raise TargetError(text, f"label {i} ({label!r}) has characters a host name cannot have")
                unicode_labels.append(low)
            ascii_labels.append(low)
        else:
            try:
                enc = idna.encode(label, uts46=True, transitional=False).decode("ascii")
            except (idna.IDNAError, UnicodeError) as e:
                raise TargetError(text, f"label {i} cannot be encoded as IDNA ({e})") from None
            if len(enc) > MAX_LABEL:
                raise TargetError(text, f"label {i} is {len(enc)} octets once encoded (at most {MAX_LABEL})")
            ascii_labels.append(enc)
            unicode_labels.append(idna.decode(enc))
    name = ".".join(ascii_labels)
    if len(name) > MAX_NAME:
        raise TargetError(text, f"the name is {len(name)} octets long (at most {MAX_NAME})")
    if len(ascii_labels) < 2 and not single_label:
        raise TargetError(text, "a single label is not a site name (give a fully qualified name)")
    if ascii_labels[-1].isdigit():
        raise TargetError(text, "the top-level label is numeric: not a host name")
    return name, ".".join(unicode_labels)


def parse_target(text: str, *, source: str | None = None, **meta: str | None) -> Target:
    try:
        name, display = normalise_name(text)
    except TargetError as e:
        raise TargetError(text, e.reason, source) from None
    clean = {k: (v.strip() or None) if isinstance(v, str) else None for k, v in meta.items()}
    return Target(name, display, source=source, **clean)


def _lenient_label(label: str) -> str:
    if label.isascii():
        return label.lower()
    try:
        return idna.encode(label, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return label.lower()


@lru_cache(maxsize=65536)
def match_form(name: str) -> str:
    """The form names are compared in: A-labels, lower case, no trailing dot.  Never raises: a
    label that cannot be encoded is compared as its lower-case text."""
    return ".".join(_lenient_label(x) for x in name.strip().translate(_DOTS).rstrip(".").split("."))


def parse_exclusion(text: str) -> str:
    """Check one name entry of an exclusion list and return its normal form: ``example.org``
    (that name) or ``.example.org`` (``.example.org`` or ``*.example.org``: the name and every
    name below it).  Raises :class:`TargetError` with the reason."""
    t = text.strip()
    suffix = t.startswith((".", "*."))
    rest = t[2:] if t.startswith("*.") else t[1:] if suffix else t
    if suffix and not rest.strip("."):
        raise TargetError(text, "a suffix entry needs a name after the dot")
    name, _ = normalise_name(rest, single_label=suffix)
    return "." + name if suffix else name


class NameExclusions:
    """The name entries of an exclusion list, and which entry (if any) a name matches.

    ``example.org`` matches exactly that name; ``.example.org`` and ``*.example.org`` match
    example.org and every name below it.  Entries and names are compared in :func:`match_form`
    (case, trailing dot and U-label/A-label aside).  A lookup costs one set lookup per label of
    the name, whatever the number of entries.
    """

    __slots__ = ("_exact", "_suffixes")

    def __init__(self, entries: Iterable[str]) -> None:
        self._exact: set[str] = set()
        self._suffixes: set[str] = set()
        for e in entries:
            e = e.strip()
            if e.startswith(("*.", ".")):
                if body := match_form(e[2:] if e.startswith("*.") else e[1:]):
                    self._suffixes.add(body)
            elif body := match_form(e):
                self._exact.add(body)

    @classmethod
    def from_settings(cls, settings: object) -> NameExclusions:
        """From anything with an ``exclude_names`` tuple (:class:`v6scan.settings.Settings`)."""
        return cls(getattr(settings, "exclude_names", ()))

    @property
    def entries(self) -> tuple[str, ...]:
        """The entries in normal form (``name``, ``.suffix``), sorted: what a sweep stores."""
        return tuple(sorted([*self._exact, *("." + s for s in self._suffixes)]))

    def match(self, name: str) -> str | None:
        """The entry ``name`` matches (normal form: ``name`` or ``.suffix``), or None."""
        n = match_form(name)
        if n in self._exact:
            return n
        if self._suffixes:
            labels = n.split(".")
            for i in range(len(labels)):  # the longest suffix first: the most specific entry
                if (s := ".".join(labels[i:])) in self._suffixes:
                    return "." + s
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.match(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self._exact) + len(self._suffixes)

    def __bool__(self) -> bool:
        return bool(self._exact or self._suffixes)

    def __repr__(self) -> str:
        return f"NameExclusions({list(self.entries)!r})"


@dataclass
class TargetList:
    """Targets read from a list, deduplicated, and the lines that were rejected."""

    targets: list[Target] = field(default_factory=list)
    errors: list[TargetError] = field(default_factory=list)
    duplicates: list[TargetError] = field(default_factory=list)
    #: rows that are no target and no error: titles above a list's header row
    skipped: list[TargetError] = field(default_factory=list)


_OWN_HEADER = frozenset(("host", "name", "domain", "url", "site", *METADATA_FIELDS, "organization"))


def _rows(lines: Iterable[str], source: str, normalise: bool | None = None
          ) -> Iterator[tuple[str, str, dict[str, str | None]]]:
    """Yield (where, host text, metadata) for every non-blank, non-comment line.

    A row naming a host column (``host``, ``url``, 网址, 域名, ...: :func:`v6scan.listvocab.header_roles`)
    is the header, in any column order; without one the columns are ``host,sector,region,organisation``.
    Sectors and provinces are normalised (:mod:`v6scan.listvocab`: 政府 is ``gov``, 广东省 is
    ``Guangdong``) with ``normalise``, or by default when the header is not v6scan's own (a list as a
    regulator has it); v6scan's own lists keep their words.  Before the first header or data row, a
    row of several cells of which one has text, without a dot (a workbook's title), is no target."""
    header: list[str | None] | None = None
    started = False
    for no, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}:{no}"
        if "," not in line and "\t" not in line:
            started = True
            yield where, stripped, {}
            continue
        delim = "\t" if "\t" in line else ","
        try:
            cells = next(csv.reader(io.StringIO(line, newline=""), delimiter=delim), [])
        except csv.Error:  # e.g. a stray CR: split plainly, the name check reports it
            cells = line.split(delim)
        cells = [c.strip() for c in cells]
        if not started and (roles := header_roles(cells)) is not None:  # only above the data: a hot loop
            header, started = roles, True
            if normalise is None:
                normalise = not all(c.lower() in _OWN_HEADER for c in cells if c)
            continue
        if not started and sum(1 for c in cells if c) == 1 and not any("." in c for c in cells):
            yield where, "", {"title": line}  # a title above the header: no target, not an error
            continue
        started = True
        cols = header or ["host", *METADATA_FIELDS]
        row = {k: v for k, v in zip(cols, cells, strict=False) if k is not None}
        meta: dict[str, str | None] = {k: row.get(k) for k in METADATA_FIELDS}
        if normalise:
            meta["sector"] = normalise_sector(meta["sector"])
            meta["region"] = normalise_region(meta["region"])
        yield where, row.get("host") or "", meta


def iter_targets(lines: Iterable[str], source: str = "<input>", *, normalise: bool | None = None
                 ) -> Iterator[Target | TargetError]:
    """Read a target list lazily (a million lines need not fit in memory): each line gives a
    target or the error that names it.  Repeated names are not removed here (the sweep store
    keeps the first occurrence)."""
    for where, host, meta in _rows(lines, source, normalise):
        if "title" in meta:
            continue
        try:
            yield parse_target(host, source=where, **meta)
        except TargetError as e:
            yield e


def read_targets(lines: Iterable[str], source: str = "<input>", *, normalise: bool | None = None,
                 into: TargetList | None = None) -> TargetList:
    """Read a target list: one name or URL a line, or CSV ``host,sector,region,organisation``.

    Blank lines and ``#`` comments are skipped; a row naming a host column is the header (see
    :func:`_rows`), and a title above it is set aside in ``skipped``.  Bad lines are collected
    (with line numbers) and never stop the reading; a repeated name keeps its first occurrence.
    With ``into`` the list is added to that one (read from other files before): a name already
    there is a duplicate too.
    """
    out = into if into is not None else TargetList()
    seen = {t.name: t.source or source for t in out.targets}
    for where, host, meta in _rows(lines, source, normalise):
        if "title" in meta:
            out.skipped.append(TargetError(meta["title"] or "", "a title above the header row", where))
            continue
        try:
            t = parse_target(host, source=where, **meta)
        except TargetError as e:
            out.errors.append(e)
            continue
        if t.name in seen:
            out.duplicates.append(TargetError(host, f"duplicate of {seen[t.name]}", where))
            continue
        seen[t.name] = where
        out.targets.append(t)
    return out


def read_target_file(path: Path, *, normalise: bool | None = None) -> TargetList:
    """A list file in any form :func:`v6scan.listfiles.list_lines` reads (CSV, text, workbook)."""
    return read_targets(list_lines(path), str(path), normalise=normalise)


@lru_cache(maxsize=8)
def _psl(extra: tuple[str, ...]) -> PublicSuffixList:
    if not extra:
        return PublicSuffixList()
    import publicsuffixlist

    base = Path(publicsuffixlist.__file__).with_name("public_suffix_list.dat").read_text(encoding="utf-8")
    return PublicSuffixList(source=io.StringIO(base + "\n" + "\n".join(extra) + "\n"))


def registrable_domain(name: str, extra_suffixes: Iterable[str] = ()) -> str | None:
    """The registrable domain ("eTLD+1") of ``name`` per the bundled Public Suffix List.

    ``extra_suffixes`` adds public suffixes (e.g. a lab's ``gov.test``).
    ``None`` when ``name`` is itself a public suffix.
    """
    psl = _psl(tuple(sorted(s.strip(".").lower() for s in extra_suffixes)))
    result = psl.privatesuffix(name.lower())
    return str(result) if result else None


def variants(target: Target, www: str = "auto", extra_suffixes: Iterable[str] = ()) -> list[Target]:
    """The names to check for a target: the name itself, and ``www.`` + name.

    ``www``: ``auto`` adds the ``www.`` variant when the name is a registrable
    domain (``example.org``, not ``mail.example.org``); ``always``; ``never``.
    """
    if www not in ("auto", "always", "never"):
        raise ValueError(f"www must be auto, always or never, not {www!r}")
    out = [target]
    if target.name.startswith("www.") or www == "never":
        return out
    if www == "always" or registrable_domain(target.name, extra_suffixes) == target.name:
        w = "www." + target.name
        if len(w) <= MAX_NAME:
            out.append(replace(target, name=w, display="www." + target.display))
    return out
