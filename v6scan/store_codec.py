"""How the store (schema 5) packs what it keeps: a target's observations in one zlib stream, a verdict's
per-check details in another, both with a preset dictionary.

A full-check sweep observes about 45 times per site (22 checks, a site's two names); their evidence
repeats itself (the same addresses, names, name servers and key names in check after check) and
repeats the other sites' (the same name servers, certificates chains and error texts across
thousands of sites).  Packing a target's observations into one document lets zlib find the first kind;
a dictionary made from the sweep's own first targets finds the second: identical content shared by
many sites (a zone's name-server probe, a provider's certificate) is kept once, in the dictionary, and
referred to from every site.  Measured on a 2,000-site full-check lab sweep: 26 KB of JSON per site
becomes about 1.5 KB.

Every stream is plain zlib (RFC 1950) that names its dictionary by Adler-32 in its header: any zlib
reads it given the dictionary, which the database keeps (``zlib_dictionaries``).  SQL reads it through
the function ``v6scan_inflate(data, dictionary)`` (:func:`register`), which v6scan's connections and
its datasette plugin define.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from v6scan.errors import V6scanError
from v6scan.model import Observation, Status, evidence_json
from v6scan.store_zdict import ZDICT

__all__ = ["BUILTIN_ID", "DICTIONARY_SAMPLES", "CodecError", "Dictionaries", "deflate", "dictionary_from",
           "dictionary_id", "inflate", "join_checks", "pack_observations", "register", "split_checks",
           "unpack_observations"]

#: the Adler-32 of the built-in dictionary (what a sweep's first targets are packed with)
BUILTIN_ID = zlib.adler32(ZDICT)
#: how many of a sweep's first targets its own dictionary is made from
DICTIONARY_SAMPLES = 12
_WINDOW = 32768  # zlib looks back at most this far: a longer dictionary is wasted


class CodecError(V6scanError, ValueError):
    """A packed document that cannot be read (unknown dictionary, corrupt stream)."""


def deflate(data: bytes, zdict: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    return c.compress(data) + c.flush()


def dictionary_id(data: bytes) -> int | None:
    """The Adler-32 of the dictionary a zlib stream names in its header (None: it names none)."""
    if len(data) >= 6 and data[1] & 0x20:
        return int.from_bytes(data[2:6], "big")
    return None


def inflate(data: bytes, zdict: bytes | None) -> str:
    """The text of a zlib stream (``zdict``: the dictionary its header names, if it names one)."""
    try:
        if dictionary_id(data) is None:
            return zlib.decompress(data).decode()
        if zdict is None:
            raise CodecError(f"a stream compressed with an unknown dictionary (Adler-32 {dictionary_id(data)})")
        d = zlib.decompressobj(zdict=zdict)
        return (d.decompress(data) + d.flush()).decode()
    except (zlib.error, UnicodeDecodeError) as exc:
        raise CodecError(f"a corrupt packed document: {exc}") from exc


def dictionary_from(samples: Sequence[bytes]) -> bytes:
    """A preset dictionary made from a sweep's first documents of a kind: of the candidates (each
    sample's last 32 KiB, zlib's window, and the last 32 KiB of all of them one after another), the
    one that packs the samples smallest.

    Measured on a 2,000-site lab sweep: one whole site's observations as the dictionary packs the
    others to 1.6 KB (26 KB of JSON); which site matters (a site that did not resolve is a poor
    model: 3 KB), hence the choice; ranking observations by how often they recur does far worse
    (4 KB): what sites share is the shape and vocabulary of each check's evidence more than whole
    observations.  Small documents (a verdict's details) are best served by several at once."""
    if not samples:
        return ZDICT
    candidates = {s[-_WINDOW:] for s in samples} | {b"".join(samples)[-_WINDOW:]}
    return min(sorted(candidates), key=lambda d: (sum(len(deflate(s, d)) for s in samples), d))


class Dictionaries:
    """The dictionaries of a database by Adler-32 (the built-in one always known); ``load`` is asked
    for the rows of ``zlib_dictionaries`` when a stream names one not seen yet."""

    def __init__(self, load: Any) -> None:
        self._load = load
        self._known: dict[int, bytes] = {BUILTIN_ID: ZDICT}

    def get(self, ident: int) -> bytes | None:
        if ident not in self._known:
            self._known.update((int(i), bytes(d)) for i, d in self._load())
        return self._known.get(ident)

    def add(self, ident: int, data: bytes) -> None:
        self._known[ident] = data

    def text(self, data: bytes) -> str:
        ident = dictionary_id(data)
        return inflate(data, None if ident is None else self.get(ident))


# ------------------------------------------------------------------------------------------ observations
def pack_observations(observations: Iterable[Observation]) -> bytes:
    """A target's observations as one JSON array (not compressed): per observation ``[check, name,
    status, evidence, error, elapsed_ms, started_at]``; evidence already encoded is not encoded again."""
    items = [f"[{json.dumps(o.check)},{json.dumps(o.target)},{json.dumps(str(o.status))},"
             f"{evidence_json(o.evidence)},{json.dumps(o.error, default=str)},"
             f"{json.dumps(round(o.elapsed_ms, 3))},{json.dumps(o.started_at)}]" for o in observations]
    return ("[" + ",".join(items) + "]").encode()


def unpack_observations(text: str) -> list[Observation]:
    return [Observation(check=str(c), target=str(n), status=Status(s), evidence=e or {}, error=err,
                        elapsed_ms=float(ms or 0.0), started_at=str(at))
            for c, n, s, e, err, ms, at in json.loads(text)]


# ---------------------------------------------------------------------------------------- verdict checks
def split_checks(checks: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A verdict's checks as stored: per check its ``result`` (``verdicts.checks``, plain JSON that
    SQL reads) and, apart, every check with everything else (``summary``, ``details``: per name the
    reasons; ``verdicts.details``, packed)."""
    slim: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for cid, c in checks.items():
        slim[cid] = {"result": c["result"]} if "result" in c else {}
        rest[cid] = {k: v for k, v in c.items() if k != "result"}
    return slim, rest


def join_checks(slim: Mapping[str, Mapping[str, Any]], rest: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The checks :func:`split_checks` split, whole again (in ``slim``'s order, each check's keys in
    the order ``result``, then the rest's)."""
    return {cid: {**c, **rest.get(cid, {})} for cid, c in slim.items()}


# ------------------------------------------------------------------------------------------------- SQL
def _sql_inflate(data: bytes | None, zdict: bytes | None) -> str | None:
    if data is None:
        return None
    return inflate(bytes(data), None if zdict is None else bytes(zdict))


def register(conn: sqlite3.Connection) -> None:
    """Define ``v6scan_inflate(data, dictionary)`` on ``conn``: the text of a packed column given the
    dictionary its row names (the ``observations`` view uses it)."""
    conn.create_function("v6scan_inflate", 2, _sql_inflate, deterministic=True)
