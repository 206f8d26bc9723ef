"""``web.hsts_v6``: HSTS is served over IPv6 as over IPv4.

Reads web.http's fetches (no request of its own): for every redirect chain that ended at an HTTPS
page, the first ``Strict-Transport-Security`` header of that final page (RFC 6797), parsed into
its max-age, includeSubDomains and preload; a header that does not parse is recorded as invalid
with the reason.  An IPv6 address whose page sends no HSTS, an invalid one, ``max-age=0`` or a
shorter max-age than every IPv4 page that sends one leaves IPv6 users without a protection IPv4
users get: a warning, informational only (weight 0, never required).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Self

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.webstate import fetched
from v6scan.context import Context
from v6scan.model import Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "Hsts", "HstsEvidence", "HstsRow", "parse_hsts"]

#: RFC 9110 tchar: the characters of a directive name or an unquoted value
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"
#: a max-age with more digits is recorded as this (any browser caps it far below)
MAX_AGE_CAP = 10**18 - 1
_MAX_AGE_DIGITS = 18


class Hsts(NamedTuple):
    """A parsed Strict-Transport-Security header: ``problem`` is None when it is valid."""

    max_age: int | None = None
    include_subdomains: bool = False
    preload: bool = False
    problem: str | None = None


def _skip_ows(s: str, i: int) -> int:
    while i < len(s) and s[i] in _OWS:
        i += 1
    return i


def _token(s: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(s) and s[j] in _TCHAR:
        j += 1
    return s[i:j], j


def _quoted(s: str, i: int) -> tuple[str | None, int]:
    """The quoted string starting at ``s[i] == '"'`` (unescaped), or None when it never ends."""
    out: list[str] = []
    j = i + 1
    while j < len(s):
        c = s[j]
        if c == '"':
            return "".join(out), j + 1
        if c == "\\" and j + 1 < len(s):
            j += 1
            c = s[j]
        out.append(c)
        j += 1
    return None, j


def _directives(s: str) -> list[tuple[str, str | None]] | str:
    """The ``name[=value]`` directives of a header value, ``;``-separated, names lower-cased (one
    pass over ``s``), or why it does not parse."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while True:
        name, i = _token(s, _skip_ows(s, i))
        i = _skip_ows(s, i)
        value: str | None = None
        if i < len(s) and s[i] == "=":
            i = _skip_ows(s, i + 1)
            if i < len(s) and s[i] == '"':
                value, i = _quoted(s, i)
                if value is None:
                    return "a quoted value that never ends"
            else:
                value, i = _token(s, i)
                if not value:
                    return f"no value after {name or '='}="
            i = _skip_ows(s, i)
        if name:
            out.append((name.lower(), value))
        elif value is not None:
            return "a value without a directive name"
        if i >= len(s):
            return out
        if s[i] != ";":
            return f"unexpected character {s[i]!r} at {i}"
        i += 1


def parse_hsts(header: str) -> Hsts:
    """A Strict-Transport-Security header value (RFC 6797 section 6.1): max-age is required (digits,
    quoted or not), no directive may appear twice, unknown directives are ignored.  Never raises;
    linear in the length of ``header``."""
    found = _directives(header)
    if isinstance(found, str):
        return Hsts(problem=found)
    seen: dict[str, str | None] = {}
    for name, value in found:
        if name in seen:
            return Hsts(problem=f"the directive {name} appears twice")
        seen[name] = value
    if "max-age" not in seen:
        return Hsts(problem="no max-age")
    age = (seen["max-age"] or "").strip()
    if not age or not all("0" <= c <= "9" for c in age):
        return Hsts(problem=f"max-age is not a number of seconds: {age[:40]!r}")
    digits = age.lstrip("0") or "0"
    max_age = int(digits) if len(digits) <= _MAX_AGE_DIGITS else MAX_AGE_CAP
    return Hsts(max_age, "includesubdomains" in seen, "preload" in seen)


@dataclass(frozen=True, kw_only=True)
class HstsRow(Row):
    """The HSTS of the HTTPS page a chain from one address ended at."""

    family: str = ""
    #: the address the chain started from (the site's address)
    address: str = ""
    #: the final page
    url: str = ""
    #: the first Strict-Transport-Security header, as sent (at most 256 characters), or None
    header: str | None = None
    #: the header is present and parses
    valid: bool = False
    max_age: int | None = None
    include_subdomains: bool = False
    preload: bool = False
    #: why the header does not parse
    problem: str | None = optional()

    @classmethod
    def parse(cls, family: str, address: str, url: str, header: str | None) -> Self:
        """The row of a final page whose Strict-Transport-Security header is ``header``."""
        if header is None:
            return cls(family=family, address=address, url=url)
        h = parse_hsts(header)
        return cls(family=family, address=address, url=url, header=header, valid=h.problem is None,
                   max_age=h.max_age, include_subdomains=h.include_subdomains, preload=h.preload,
                   problem=h.problem)

    @property
    def protects(self) -> bool:
        """The page turns HSTS on (a valid header whose max-age is not 0)."""
        return self.valid and bool(self.max_age)

    def describe(self) -> str:
        """What the page sends, in a few words (for a reason)."""
        if self.header is None:
            return "none"
        if not self.valid:
            return f"invalid: {self.problem}"
        return f"max-age={self.max_age}"


@dataclass(frozen=True, kw_only=True)
class HstsEvidence(Evidence):
    #: one row per chain that ended at an HTTPS page (IPv6 first)
    pages: tuple[HstsRow, ...] = ()
    #: the addresses whose page turns HSTS on, per family
    v6_hsts: tuple[str, ...] = ()
    v4_hsts: tuple[str, ...] = ()
    #: the shortest max-age of the IPv4 pages that turn HSTS on (None: none does)
    v4_max_age: int | None = None
    #: the IPv6 addresses whose page gives less than that: none, invalid, max-age 0 or shorter
    v6_short: tuple[str, ...] = ()

    @classmethod
    def build(cls, pages: Sequence[HstsRow]) -> Self:
        """The evidence of the rows, with what each family's pages give derived from them."""
        v4_ages = [r.max_age for r in pages if r.family == "v4" and r.protects and r.max_age]
        v4_max_age = min(v4_ages) if v4_ages else None
        short = () if v4_max_age is None else tuple(
            r.address for r in pages if r.family == "v6" and (not r.protects or (r.max_age or 0) < v4_max_age))
        return cls(pages=tuple(pages),
                   v6_hsts=tuple(r.address for r in pages if r.family == "v6" and r.protects),
                   v4_hsts=tuple(r.address for r in pages if r.family == "v4" and r.protects),
                   v4_max_age=v4_max_age, v6_short=short)


async def probe(ctx: Context, run: Run) -> Observation:
    """The HSTS header of every HTTPS final page web.http reached (its fetches, shared)."""
    sw = Stopwatch()
    st = await fetched(run)
    rows = [HstsRow.parse(c.family, c.hops[0].address, fin.url, fin.hsts)
            for c in st.chains if (fin := c.final) is not None and fin.url.startswith("https://")]
    ev = HstsEvidence.build(sorted(rows, key=lambda r: r.family != "v6"))
    if not st.chains:
        return CHECK.observe(run.name, Status.SKIPPED, ev, "no address serves HTTP or HTTPS", sw.stop(),
                             sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: HstsEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "nothing fetched", applicable=False)
    v6 = [r for r in ev.pages if r.family == "v6"]
    if not v6:
        return not_tested(o.check, o.target, "no HTTPS page reached over IPv6", applicable=False)
    if ev.v6_short:
        return result(o.check, o.target, "warn", Reason("hsts_v6_missing", {
            "addresses": [f"{r.address} ({r.describe()})" for r in v6 if r.address in ev.v6_short],
            "max_age": ev.v4_max_age}))
    if not ev.v6_hsts and not ev.v4_hsts:
        return result(o.check, o.target, "info", Reason("hsts_absent", {"name": o.target}), applicable=False)
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="web.hsts_v6", title="HSTS is served over IPv6 as over IPv4", order=180, phase=Phase.CONNECT,
    stage=2, evidence=HstsEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "hsts_v6_missing", "hsts_absent"),
    weight=0, required=False, v6_dependent=True,
)
