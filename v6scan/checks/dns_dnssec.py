"""``dns.dnssec``: the site's zone is signed and validates along the IPv6-only path, and its DNSKEY
answers arrive over IPv6 UDP.

The scanner validates by itself (dnspython, ``cryptography``), asking only the IPv6 addresses of the
name servers, as an IPv6-only validating resolver would: from the root servers that answer over
IPv6 (:func:`v6scan.checks.dns.v6_roots`, the IPv6-only walk's start), one label at a time towards
the name (``NAME NS`` with the DO bit finds each zone cut, with its DS records or the NSEC/NSEC3
proof that it has none), each signed zone's DNSKEY RRset checked against its DS records (the root's
against the trust anchors: the IANA root KSKs built in, or ``--trust-anchor FILE``), then the site's
zone's SOA and the name's own answer.  Queries carry EDNS with a 1232-byte UDP size and the DO bit;
a truncated answer is asked again over TCP, and a DNSKEY answer that needed TCP (or that never came
over UDP while TCP answered) is recorded.

A zone's outcome is shared by every name of the sweep (``Context.cached``): the root, ``test.`` and a
sector zone are validated once, not once per site (a name of an already validated zone costs two
queries: its own NS, then its AAAA answer).  Outcomes: ``secure``; ``insecure`` (no DS at a parent, or
DS records only of algorithms this validator cannot check (RFC 4035 section 5.2): not signed,
information); ``bogus`` (a signature that does not verify or has expired, a DS no key matches: a
validating resolver answers SERVFAIL for every name of the zone: ``fail``, though it weighs nothing);
``unknown`` (the scanner got no usable answer: never the site's fault, never ``bogus``; no root over
IPv6 or a root that does not match the trust anchors is the scanner's side: ``inconclusive``).  An
answer that does not validate is asked of the zone's other servers before it is blamed on the zone:
when another server's validates, the zone is secure and the servers that disagree are named
(``warn``).  Informational in every built-in policy (no IPv6 standard requires DNSSEC; internet.nl
scores it in a category of its own, not in its IPv6 score).

Not validated: the proof that a name or type does not exist (NSEC/NSEC3 of a NODATA or NXDOMAIN
answer: the record is only "absent"), and a signed parent's missing proof of an unsigned delegation
(recorded as ``ds_proof: missing``, treated as insecure rather than bogus).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
from dns.dnssecalgs import get_algorithm_cls

from v6scan.attempts import TRANSIENT
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.dns import v6_roots
from v6scan.context import Context
from v6scan.dnsdirect import SignedReply, ask_dnssec
from v6scan.errors import V6scanError
from v6scan.model import Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "IANA_ROOT_ANCHORS", "DnssecEvidence", "RecordRow", "ZoneRow", "parse_anchors", "validate_rrset"]

#: the IANA root zone trust anchors (https://data.iana.org/root-anchors/root-anchors.xml): KSK-2017
#: and KSK-2024, as DS records; ``--trust-anchor FILE`` replaces them
IANA_ROOT_ANCHORS = (
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
)
#: queries one name's validation may send (zones already validated in the sweep cost none)
MAX_QUERIES = 40
#: name servers of one zone asked (in turn) for one question
MAX_SERVERS = 4
#: labels below the root followed towards the name (a longer name is not walked further)
MAX_DEPTH = 12
#: records of one RRset read (DNSKEY, DS): a larger set is cut and said so
MAX_RECORDS = 32
#: the EDNS UDP payload size asked for (DNS Flag Day 2020: no fragmentation over IPv6)
PAYLOAD = 1232

_IN = dns.rdataclass.IN
_SECURE, _INSECURE, _BOGUS, _UNKNOWN = "secure", "insecure", "bogus", "unknown"


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True, kw_only=True)
class ZoneRow(Row):
    """One zone of the chain from the root to the site's zone."""

    zone: str = ""
    #: the zone that delegates it (None for the root)
    parent: str | None = None
    #: secure, insecure, bogus or unknown
    state: str = ""
    #: the DS records at the parent ("tag algorithm digest-type digest"); the trust anchors for the root
    ds: tuple[str, ...] = ()
    #: how the parent proved it has no DS: nsec, nsec3, nsec3-opt-out, missing (no proof sent), or
    #: unsupported-algorithm (DS records only of algorithms or digests this validator cannot check)
    ds_proof: str | None = optional()
    #: the zone's DNSKEY records ("tag/algorithm/flags")
    dnskeys: tuple[str, ...] = ()
    #: how the DNSKEY answer came: udp, tcp-after-tc (truncated over UDP) or tcp-only (no UDP answer)
    dnskey_transport: str | None = optional()
    #: the DNSKEY answer's size in bytes
    dnskey_size: int | None = optional()
    #: the IPv6 name-server addresses asked ("ns address")
    servers: tuple[str, ...] = ()
    #: servers whose DNSKEY answer did not validate while another server's did (the zone is then secure)
    bogus_servers: tuple[str, ...] = optional(())
    #: why it is bogus or unknown (or, secure, why some servers' answers are not)
    problem: str | None = optional()
    #: queries its validation sent (once per sweep: later names reuse the outcome)
    queries: int = 0


@dataclass(frozen=True, kw_only=True)
class RecordRow(Row):
    """One RRset of the site's zone checked with the zone's keys."""

    name: str = ""
    type: str = ""
    #: secure, bogus, or absent (the name has no such record: nothing to check)
    state: str = ""
    #: servers whose answer did not validate while another server's did (the rows are that server's)
    bogus_servers: tuple[str, ...] = optional(())
    problem: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class DnssecEvidence(Evidence):
    name: str = ""
    #: where the trust anchors came from: "iana" (built in) or the --trust-anchor file
    anchors: str = "iana"
    #: the zones from the root to the site's zone
    chain: tuple[ZoneRow, ...] = ()
    #: the site zone's SOA and the name's answer, checked with the zone's keys
    records: tuple[RecordRow, ...] = ()
    #: queries sent for this name (zones validated earlier in the sweep cost none)
    queries: int = 0
    #: why the walk stopped before an outcome (no IPv6 answer, too many queries, ...)
    failure: str | None = optional()
    #: the scanner, not the site: no root answers over IPv6, or the root does not match the trust anchors
    scanner_side: str | None = optional()
    #: derived: the site's zone (the last of the chain)
    zone: str | None = None
    #: derived: secure, insecure, bogus or unknown
    state: str = _UNKNOWN
    #: derived: the first zone of the chain without a DS record (insecure), else None
    insecure_at: str | None = optional()
    #: derived: the zone where the chain ends (insecure_at) has DNSKEY records but no DS at its parent
    signed_without_ds: bool = optional(False)
    #: derived: the zone (or record) where validation failed, and why
    bogus_at: str | None = optional()
    problem: str | None = optional()
    #: derived: the site zone's servers whose DNSKEY answer does not validate while another's does
    bogus_servers: tuple[str, ...] = optional(())
    #: derived: how the site zone's DNSKEY answer came (udp, tcp-after-tc, tcp-only) and its size
    dnskey_transport: str | None = optional()
    dnskey_size: int | None = optional()

    @classmethod
    def build(cls, name: str, chain: Sequence[ZoneRow], records: Sequence[RecordRow], *, anchors: str = "iana",
              queries: int = 0, failure: str | None = None, scanner_side: str | None = None) -> Self:
        """The evidence of one name's walk, with its outcome derived from the rows."""
        chain, records = tuple(chain), tuple(records)
        last = chain[-1] if chain else None
        bogus = next((z for z in chain if z.state == _BOGUS), None)
        bad_record = next((r for r in records if r.state == _BOGUS), None)
        insecure = next((z for z in chain if z.state == _INSECURE), None)
        state, bogus_at, problem = _UNKNOWN, None, None
        if bogus is not None:
            state, bogus_at, problem = _BOGUS, bogus.zone, bogus.problem
        elif scanner_side or failure or last is None or any(z.state == _UNKNOWN for z in chain):
            state = _UNKNOWN
        elif insecure is not None:
            state = _INSECURE
        elif bad_record is not None:
            state, bogus_at, problem = _BOGUS, f"{bad_record.name} {bad_record.type}", bad_record.problem
        elif all(z.state == _SECURE for z in chain):
            state = _SECURE
        return cls(name=name, anchors=anchors, chain=chain, records=records, queries=queries, failure=failure,
                   scanner_side=scanner_side, zone=last.zone if last else None, state=state,
                   insecure_at=insecure.zone if insecure is not None and state == _INSECURE else None,
                   signed_without_ds=bool(state == _INSECURE and insecure is not None and insecure.dnskeys),
                   bogus_at=bogus_at, problem=problem,
                   bogus_servers=_unique((*last.bogus_servers, *(x for r in records for x in r.bogus_servers)))
                   if last and state == _SECURE else (),
                   dnskey_transport=last.dnskey_transport if last and last.state == _SECURE else None,
                   dnskey_size=last.dnskey_size if last and last.state == _SECURE else None)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --------------------------------------------------------------------------- trust anchors


@dataclass(frozen=True)
class Anchors:
    """The root's trust anchors: DS records and/or DNSKEY records."""

    ds: tuple[Any, ...]
    keys: tuple[Any, ...]
    source: str


def _logical_lines(text: str) -> Iterable[str]:
    """Zone-file lines with comments removed and parenthesised continuations joined."""
    pending: list[str] = []
    depth = 0
    for raw in text.splitlines():
        line = raw.split(";", 1)[0]
        depth += line.count("(") - line.count(")")
        pending.append(line.replace("(", " ").replace(")", " "))
        if depth <= 0:
            joined = " ".join(pending).strip()
            pending, depth = [], 0
            if joined:
                yield joined
    if pending and " ".join(pending).strip():
        raise ValueError("unbalanced parentheses")


def parse_anchors(text: str, source: str = "file", max_records: int = MAX_RECORDS) -> Anchors:
    """DS and DNSKEY records of the root in zone-file syntax (``. [TTL] [IN] DS|DNSKEY rdata``; other
    types, such as a root.key's comments or a stray SOA, are refused).  ValueError says what is wrong."""
    ds: list[Any] = []
    keys: list[Any] = []
    for n, line in enumerate(_logical_lines(text), 1):
        tokens = line.split()
        owner, rest = tokens[0], tokens[1:]
        while rest and (rest[0].isdigit() or rest[0].upper() == "IN"):
            rest = rest[1:]
        if len(rest) < 2:
            raise ValueError(f"record {n}: expected OWNER [TTL] [IN] DS|DNSKEY RDATA")
        rtype = rest[0].upper()
        if owner != ".":
            raise ValueError(f"record {n}: a trust anchor of {owner!r}: only the root's (.) are used")
        if rtype not in ("DS", "DNSKEY"):
            raise ValueError(f"record {n}: type {rest[0]!r}: a trust anchor is a DS or DNSKEY record")
        try:
            rd = dns.rdata.from_text(_IN, dns.rdatatype.from_text(rtype), " ".join(rest[1:]))
        except (dns.exception.DNSException, ValueError, TypeError, KeyError, IndexError, UnicodeError) as e:
            raise ValueError(f"record {n}: {rtype} does not parse: {e}") from None
        (ds if rtype == "DS" else keys).append(rd)
        if len(ds) + len(keys) > max_records:
            raise ValueError(f"more than {max_records} trust anchors")
    if not ds and not keys:
        raise ValueError("no DS or DNSKEY record of the root")
    return Anchors(tuple(ds), tuple(keys), source)


@functools.lru_cache(maxsize=8)
def _anchors_from(path: str, mtime: float) -> Anchors:
    return parse_anchors(Path(path).read_text(encoding="utf-8", errors="replace"), path)


def load_anchors(ctx: Context) -> Anchors:
    """The trust anchors of this scan (ValueError or OSError: the file is unusable)."""
    path = ctx.settings.trust_anchor
    if path is None:
        return parse_anchors("\n".join(IANA_ROOT_ANCHORS), "iana")
    p = Path(path)
    return _anchors_from(str(p), p.stat().st_mtime)


# --------------------------------------------------------------------------- validation


def _signatures(msg: dns.message.Message, section: list[dns.rrset.RRset], owner: dns.name.Name,
                rdtype: dns.rdatatype.RdataType) -> tuple[dns.rrset.RRset | None, dns.rrset.RRset | None]:
    """The RRset (owner, type) of a message section and the RRSIGs covering it."""
    rrset = msg.get_rrset(section, owner, _IN, rdtype)
    sigs = msg.get_rrset(section, owner, _IN, dns.rdatatype.RRSIG, rdtype)
    return rrset, sigs


def validate_rrset(rrset: dns.rrset.RRset, sigs: dns.rrset.RRset | None, signer: dns.name.Name,
                   keys: dns.rdataset.Rdataset, now: float | None = None) -> str | None:
    """None when one RRSIG of ``sigs`` by ``signer`` verifies ``rrset`` with one of ``keys``, else why
    not (each signature's problem, e.g. ``expired``, ``verify failure``).  Never raises."""
    if sigs is None or not len(sigs):
        return "no RRSIG"
    problems: list[str] = []
    for sig in list(sigs)[:MAX_RECORDS]:
        try:
            dns.dnssec.validate_rrsig(rrset, sig, {signer: keys}, now=now)
            return None
        except dns.exception.ValidationFailure as e:
            problems.append(f"RRSIG {sig.key_tag}/{int(sig.algorithm)}: {e}")
        except (dns.exception.UnsupportedAlgorithm, dns.exception.DNSException, ValueError, TypeError) as e:
            problems.append(f"RRSIG {getattr(sig, 'key_tag', '?')}: {e.__class__.__name__}: {e}")
    return "; ".join(dict.fromkeys(problems)) or "no RRSIG"


#: DS digest types a DS record can be checked with (SHA-1, SHA-256, SHA-384)
_DIGESTS = (1, 2, 4)


def supported(ds: Any) -> bool:
    """Whether a DS record names an algorithm and digest this validator can check (RFC 4035 section
    5.2: a zone whose DS records all name others is treated as unsigned, not as bogus)."""
    if int(ds.digest_type) not in _DIGESTS:
        return False
    try:
        get_algorithm_cls(ds.algorithm)
    except (dns.exception.UnsupportedAlgorithm, dns.exception.DNSException, ValueError, TypeError):
        return False
    return bool(dns.dnssec.default_policy.ok_to_validate(ds))


def _key_label(k: Any) -> str:
    return f"{dns.dnssec.key_id(k)}/{int(k.algorithm)}/{int(k.flags)}"


def _ds_text(d: Any) -> str:
    return f"{d.key_tag} {int(d.algorithm)} {int(d.digest_type)} {d.digest.hex().upper()}"


def _keys_matching(zone: dns.name.Name, keys: dns.rdataset.Rdataset, ds: Iterable[Any],
                   anchor_keys: Iterable[Any] = ()) -> list[Any]:
    """The DNSKEYs of ``keys`` that one of ``ds`` (or an anchor DNSKEY) names."""
    out: list[Any] = []
    anchored = list(anchor_keys)
    wanted = list(ds)
    for k in list(keys)[:MAX_RECORDS]:
        if k in anchored:
            out.append(k)
            continue
        for d in wanted:
            if d.key_tag != dns.dnssec.key_id(k) or d.algorithm != k.algorithm:
                continue
            try:  # validating: a SHA-1 DS is still checked (dnspython only refuses to make new ones)
                if dns.dnssec.make_ds(zone, k, d.digest_type, validating=True) == d:
                    out.append(k)
                    break
            except (dns.exception.UnsupportedAlgorithm, dns.exception.DNSException, ValueError):
                continue
    return out


def validate_dnskeys(zone: dns.name.Name, msg: dns.message.Message, ds: Sequence[Any],
                     anchor_keys: Sequence[Any] = (), now: float | None = None
                     ) -> tuple[dns.rdataset.Rdataset | None, tuple[str, ...], str | None]:
    """The zone's DNSKEY RRset from ``msg`` when a key that a DS (or an anchor key) names signs it:
    (keys, key labels, None), else (None, key labels, why)."""
    rrset, sigs = _signatures(msg, msg.answer, zone, dns.rdatatype.DNSKEY)
    if rrset is None or not len(rrset):
        return None, (), "no DNSKEY record"
    labels = tuple(_key_label(k) for k in list(rrset)[:MAX_RECORDS])
    entry = _keys_matching(zone, rrset, ds, anchor_keys)
    if not entry:
        return None, labels, "no DNSKEY matches the DS records (" + ", ".join(
            f"{d.key_tag}/{int(d.algorithm)}" for d in list(ds)[:8]) + ")"
    trusted = dns.rdataset.Rdataset(_IN, dns.rdatatype.DNSKEY)
    for k in entry:
        trusted.add(k)
    why = validate_rrset(rrset, sigs, zone, trusted, now)
    if why is not None:
        return None, labels, f"the DNSKEY RRset does not validate: {why}"
    keys = dns.rdataset.Rdataset(_IN, dns.rdatatype.DNSKEY)
    for k in list(rrset)[:MAX_RECORDS]:
        keys.add(k)
    return keys, labels, None


def _types_of(rd: Any) -> set[str]:
    """The type names an NSEC or NSEC3 record's bitmap lists."""
    text = rd.to_text().split()
    return {t.upper() for t in (text[1:] if rd.rdtype == dns.rdatatype.NSEC else text[5:])}


def no_ds_proof(msg: dns.message.Message, child: dns.name.Name, parent: dns.name.Name,
                keys: dns.rdataset.Rdataset, now: float | None = None) -> str:
    """How a referral proves ``child`` has no DS: ``nsec``, ``nsec3``, ``nsec3-opt-out`` (an NSEC or
    NSEC3 record for the child, signed with the parent's keys, whose bitmap has NS but not DS), or
    ``missing``."""
    for rrset in msg.authority[:MAX_RECORDS]:
        if rrset.rdtype == dns.rdatatype.NSEC and rrset.name == child:
            kind = "nsec"
        elif rrset.rdtype == dns.rdatatype.NSEC3:
            first = next(iter(rrset))
            try:
                hashed = dns.dnssec.nsec3_hash(child, first.salt, first.iterations, first.algorithm)
            except (dns.exception.DNSException, ValueError, TypeError, KeyError):
                continue
            if rrset.name.labels[0].decode("ascii", "replace").upper() != hashed.upper():
                continue
            kind = "nsec3-opt-out" if first.flags & 1 else "nsec3"
        else:
            continue
        sigs = msg.get_rrset(msg.authority, rrset.name, _IN, dns.rdatatype.RRSIG, rrset.rdtype)
        types = _types_of(next(iter(rrset)))
        if "DS" not in types and "NS" in types and validate_rrset(rrset, sigs, parent, keys, now) is None:
            return kind
    return "missing"


# --------------------------------------------------------------------------- queries


class _Budget(V6scanError):
    """The name's query budget is spent."""


@dataclass
class _Walk:
    """One name's walk: its query count (zones validated earlier in the sweep cost nothing)."""

    ctx: Context
    queries: int = 0

    def spend(self) -> None:
        self.queries += 1
        if self.queries > MAX_QUERIES:
            raise _Budget(f"gave up after {MAX_QUERIES} queries")


@dataclass
class _Got:
    """The usable answer to one question asked of a zone's servers, and how it came."""

    reply: SignedReply | None
    server: str = ""
    transport: str = "udp"
    why: str = ""
    queries: int = 0


def _usable(r: SignedReply, need_aa: bool) -> bool:
    """An answer to use: a parsed NOERROR or NXDOMAIN, with authority where a referral will not do."""
    return r.message is not None and r.reply.rcode in ("NOERROR", "NXDOMAIN") and (r.reply.aa or not need_aa)


def _problem(ns: str, addr: str, transport: str, r: SignedReply) -> str:
    what = r.reply.error or (f"answered {r.reply.rcode}" if r.reply.rcode not in ("NOERROR", "NXDOMAIN")
                             else "answered without authority (lame)")
    return f"{ns} {addr} {transport}: {what}"


async def _once(ctx: Context, walk: _Walk, addr: str, qname: str, qtype: str, transport: str) -> SignedReply:
    walk.spend()
    # within the name server's query limit, as every direct DNS query of the sweep (ctx.udp)
    return await ask_dnssec(addr, qname, qtype, transport, timeout=ctx.settings.ns_timeout, payload=PAYLOAD,
                            mux=ctx.udp)


async def _ask_zone(ctx: Context, walk: _Walk, servers: Sequence[tuple[str, str]], qname: str,
                    qtype: str, need_aa: bool = True) -> _Got:
    """Ask the zone's IPv6 servers in turn over UDP (rounds, then TCP when truncated); when none
    answers over UDP at all, over TCP (the answer then says ``tcp-only``).  A server that answers
    without authority (``need_aa``) is lame for the question: the next one is asked.  The rounds end
    at the first answer asking again would not change: a truncated one whose TCP try got nothing (a
    lost packet) is asked again in the next round."""
    # in the zone's order, not spread (checks.dns.spread): a disagreeing first server is asked by every walk, named
    allowed = [(n, a) for n, a in servers if ctx.policy.allows(a)][:MAX_SERVERS]
    if not allowed:
        return _Got(None, why="no IPv6 name-server address the scanner may contact")
    before = walk.queries
    problems: list[str] = []
    udp_answered = False  # a server answered over UDP (truncated too): the zone is not TCP-only
    final = False  # ... an answer that asking again would not change (a truncated one is final over TCP only)
    rounds = max(1, min(ctx.settings.dns_retries + 1, 3))
    for rnd in range(rounds):
        for ns, addr in allowed:
            r = await _once(ctx, walk, addr, qname, qtype, "udp")
            udp_answered = udp_answered or r.reply.answered
            if r.reply.tc:
                t = await _once(ctx, walk, addr, qname, qtype, "tcp")
                if _usable(t, need_aa):
                    return _Got(t, f"{ns} {addr}", "tcp-after-tc", queries=walk.queries - before)
                final = final or t.reply.answered or t.reply.status not in TRANSIENT
                problems.append(_problem(ns, addr, "TCP", t))
            elif _usable(r, need_aa):
                return _Got(r, f"{ns} {addr}", "udp", queries=walk.queries - before)
            else:
                final = final or r.reply.answered
                problems.append(_problem(ns, addr, "UDP", r))
        if final:
            break
        if rnd + 1 < rounds:
            await asyncio.sleep(ctx.settings.retry.pause(rnd + 1))
    got = None if udp_answered else await _tcp_only(ctx, walk, allowed, qname, qtype, problems, need_aa)
    if got is not None:
        got.queries = walk.queries - before
        return got
    return _Got(None, why="; ".join(dict.fromkeys(problems[:8])), queries=walk.queries - before)


async def _tcp_only(ctx: Context, walk: _Walk, allowed: Sequence[tuple[str, str]], qname: str, qtype: str,
                    problems: list[str], need_aa: bool) -> _Got | None:
    """No server answered over UDP: the question over TCP (an answer says ``tcp-only``)."""
    for ns, addr in allowed:
        t = await _once(ctx, walk, addr, qname, qtype, "tcp")
        if _usable(t, need_aa):
            return _Got(t, f"{ns} {addr}", "tcp-only")
        problems.append(_problem(ns, addr, "TCP", t))
    return None


# --------------------------------------------------------------------------- the chain


@dataclass
class _Zone:
    """A zone's outcome, shared by every name of the sweep."""

    row: ZoneRow
    servers: list[tuple[str, str]]
    keys: dns.rdataset.Rdataset | None = None
    scanner_side: str | None = None

    @property
    def name(self) -> dns.name.Name:
        return dns.name.from_text(self.row.zone)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower() or "."


def _fmt(servers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(f"{n} {a}" for n, a in servers[:MAX_SERVERS])


async def _root(ctx: Context, anchors: Anchors) -> _Zone:
    walk = _Walk(ctx)
    roots = await v6_roots(ctx)
    ds_text = tuple(_ds_text(d) for d in anchors.ds) + tuple(f"DNSKEY {_key_label(k)}" for k in anchors.keys)
    if not roots.servers:
        return _Zone(ZoneRow(zone=".", state=_UNKNOWN, ds=ds_text, problem=roots.reason), [],
                     scanner_side=roots.scanner_side or "roots")
    got = await _ask_zone(ctx, walk, roots.servers, ".", "DNSKEY")
    row: dict[str, Any] = {"zone": ".", "ds": ds_text, "servers": _fmt(roots.servers)}
    if got.reply is None or got.reply.message is None:
        return _Zone(ZoneRow(**row, state=_UNKNOWN, problem=f"no root server answered the DNSKEY query over"
                             f" IPv6 ({got.why})", queries=walk.queries), roots.servers, scanner_side="roots")
    keys, labels, why = validate_dnskeys(dns.name.root, got.reply.message, anchors.ds, anchors.keys)
    transport: dict[str, Any] = {"dnskey_transport": got.transport, "dnskey_size": got.reply.size}
    if keys is None:  # the root is the scanner's choice (hints, anchors): never a site's fault
        return _Zone(ZoneRow(**row, state=_UNKNOWN, dnskeys=labels, **transport, queries=walk.queries,
                             problem=f"the root zone does not validate against the trust anchors"
                             f" ({anchors.source}): {why}"), roots.servers, scanner_side="trust_anchor")
    return _Zone(ZoneRow(**row, state=_SECURE, dnskeys=labels, **transport, queries=walk.queries),
                 roots.servers, keys)


@dataclass
class _Cut:
    """What the parent's servers said about one name below them."""

    kind: str  # referral, inside, nxdomain, failed
    child: str = ""
    servers: list[tuple[str, str]] = field(default_factory=list)
    ds: tuple[Any, ...] = ()
    ds_state: str = ""  # secure, insecure, bogus (of the DS RRset or its absence)
    ds_proof: str | None = None
    problem: str | None = None
    queries: int = 0


async def _ns_v6(ctx: Context, ns_names: Sequence[str], glue: Sequence[dns.rrset.RRset]) -> list[tuple[str, str]]:
    """The IPv6 addresses of a delegation's name servers: glue, else their AAAA records."""
    out: list[tuple[str, str]] = []
    for ns in ns_names[:ctx.settings.max_ns_hosts]:
        addrs = [rd.address for rr in glue if rr.rdtype == dns.rdatatype.AAAA and _text(rr.name) == ns
                 for rd in rr]
        if not addrs and ctx.excluded(ns) is None:
            ans = await ctx.lookup(ns, "AAAA")
            addrs = list(ans.values)
        out += [(ns, a) for a in addrs if ctx.excluded(ns) is None]
    return out


async def _cut(ctx: Context, parent: _Zone, child: dns.name.Name) -> _Cut:
    """``child NS`` asked of the parent's servers with the DO bit: a referral (the child is a zone:
    its servers, and its DS records or the proof it has none), or the name is inside the parent."""
    walk = _Walk(ctx)
    got = await _ask_zone(ctx, walk, parent.servers, child.to_text(), "NS", need_aa=False)
    msg = got.reply.message if got.reply else None
    if msg is None:
        return _Cut("failed", problem=f"no name server of {parent.row.zone} answered over IPv6 ({got.why})",
                    queries=walk.queries)
    if got.reply is not None and got.reply.reply.rcode == "NXDOMAIN":
        return _Cut("nxdomain", queries=walk.queries)
    ns_set = msg.get_rrset(msg.authority, child, _IN, dns.rdatatype.NS) or \
        msg.get_rrset(msg.answer, child, _IN, dns.rdatatype.NS)
    if ns_set is None and not msg.flags & dns.flags.AA:
        return _Cut("failed", problem=f"the name servers of {parent.row.zone} gave neither an answer nor a referral"
                    f" for {_text(child)} (lame)", queries=walk.queries)
    if ns_set is None:
        return _Cut("inside", queries=walk.queries)
    names = sorted({_text(rd.target) for rd in list(ns_set)[:MAX_RECORDS]})
    servers = await _ns_v6(ctx, names, msg.additional)
    cut = _Cut("referral", _text(child), servers, queries=walk.queries)
    if parent.keys is None:
        cut.ds_state = _INSECURE if parent.row.state == _INSECURE else _UNKNOWN
        return cut
    ds_msg = msg
    ds_set, sigs = _signatures(msg, msg.authority, child, dns.rdatatype.DS)
    if msg.get_rrset(msg.answer, child, _IN, dns.rdatatype.NS) is not None:
        # the parent's servers serve the child too (an answer, not a referral): ask the DS itself
        dsgot = await _ask_zone(ctx, walk, parent.servers, child.to_text(), "DS")
        cut.queries = walk.queries
        if dsgot.reply is None or dsgot.reply.message is None:
            cut.ds_state, cut.problem = _UNKNOWN, f"the DS query got no answer ({dsgot.why})"
            return cut
        ds_msg = dsgot.reply.message
        ds_set, sigs = _signatures(ds_msg, ds_msg.answer, child, dns.rdatatype.DS)
    if ds_set is None or not len(ds_set):
        cut.ds_state = _INSECURE
        cut.ds_proof = no_ds_proof(ds_msg, child, parent.name, parent.keys)
        return cut
    cut.ds = tuple(list(ds_set)[:MAX_RECORDS])
    why = validate_rrset(ds_set, sigs, parent.name, parent.keys)
    cut.ds_state, cut.problem = (_SECURE, None) if why is None else (_BOGUS, f"the DS RRset does not validate: {why}")
    return cut


def _decided_by_the_cut(parent: _Zone, cut: _Cut, row: dict[str, Any]) -> _Zone | None:
    """The child's outcome when the referral decides it (a bogus or unknown DS, DS records of
    algorithms this validator cannot check, no IPv6 name server), else None."""
    if cut.ds_state == _BOGUS:
        return _Zone(ZoneRow(**row, state=_BOGUS, problem=cut.problem, queries=cut.queries), cut.servers)
    if cut.ds_state == _UNKNOWN:
        return _Zone(ZoneRow(**row, state=_UNKNOWN, problem=cut.problem or parent.row.problem,
                             queries=cut.queries), cut.servers)
    if cut.ds_state == _SECURE and not any(supported(d) for d in cut.ds):
        return _Zone(ZoneRow(**{**row, "ds_proof": "unsupported-algorithm"}, state=_INSECURE, queries=cut.queries),
                     cut.servers)
    if not cut.servers:
        state = _INSECURE if cut.ds_state == _INSECURE else _UNKNOWN
        return _Zone(ZoneRow(**row, state=state, queries=cut.queries,
                             problem=None if state == _INSECURE else f"no name server of {cut.child} has an IPv6"
                             " address"), cut.servers)
    return None


async def _child(ctx: Context, parent: _Zone, cut: _Cut) -> _Zone:
    """The child zone of a referral: its DNSKEY RRset checked against its DS records."""
    walk = _Walk(ctx)
    row: dict[str, Any] = {"zone": cut.child, "parent": parent.row.zone, "ds": tuple(_ds_text(d) for d in cut.ds),
                           "servers": _fmt(cut.servers), "ds_proof": cut.ds_proof}
    early = _decided_by_the_cut(parent, cut, row)
    if early is not None:
        return early
    if cut.ds_state == _INSECURE:
        labels: tuple[str, ...] = ()
        if parent.keys is not None:  # where the chain ends: signed, but without a DS at the parent?
            got = await _ask_zone(ctx, walk, cut.servers, cut.child, "DNSKEY")
            msg = got.reply.message if got.reply else None
            rrset = msg.get_rrset(msg.answer, dns.name.from_text(cut.child), _IN, dns.rdatatype.DNSKEY) if msg else None
            labels = tuple(_key_label(k) for k in list(rrset or ())[:MAX_RECORDS])
        return _Zone(ZoneRow(**row, state=_INSECURE, dnskeys=labels, queries=cut.queries + walk.queries),
                     cut.servers)
    got = await _ask_zone(ctx, walk, cut.servers, cut.child, "DNSKEY")
    if got.reply is None or got.reply.message is None:
        return _Zone(ZoneRow(**row, state=_UNKNOWN, queries=cut.queries + walk.queries, problem=f"no name server"
                             f" of {cut.child} answered the DNSKEY query over IPv6 ({got.why})"), cut.servers)
    zone = dns.name.from_text(cut.child)
    keys, labels, why = validate_dnskeys(zone, got.reply.message, cut.ds)
    transport: dict[str, Any] = {"dnskey_transport": got.transport, "dnskey_size": got.reply.size}
    disagree: tuple[str, ...] = ()
    first_ok = keys is not None
    if keys is None:  # before blaming the zone: do its other servers answer the same?
        other, keys, disagree = await _other_servers(ctx, walk, cut.servers, got.server, cut.child,
                                                     lambda m: validate_dnskeys(zone, m, cut.ds)[0])
        if other is not None and other.reply is not None:
            transport = {"dnskey_transport": other.transport, "dnskey_size": other.reply.size}
    queries = cut.queries + walk.queries
    if keys is None:
        return _Zone(ZoneRow(**row, state=_BOGUS, dnskeys=labels, **transport, queries=queries, problem=why),
                     cut.servers)
    labels = tuple(_key_label(k) for k in keys)  # the keys of the answer that validates
    if first_ok:
        return _Zone(ZoneRow(**row, state=_SECURE, dnskeys=labels, **transport, queries=queries), cut.servers, keys)
    return _Zone(ZoneRow(**row, state=_SECURE, dnskeys=labels, **transport, queries=queries,
                         bogus_servers=(got.server, *disagree),
                         problem=f"the DNSKEY answer of {got.server} does not validate: {why}"), cut.servers, keys)


async def _other_servers(ctx: Context, walk: _Walk, servers: Sequence[tuple[str, str]], first: str, qname: str,
                         valid: Callable[[dns.message.Message], Any]) -> tuple[_Got | None, Any, tuple[str, ...]]:
    """The zone's other servers asked the question one by one after ``first``'s answer did not validate:
    the first answer that does (and what ``valid`` made of it), and the servers whose answers did not
    either; (None, None, ...) when none validates."""
    bad: list[str] = []
    for ns, addr in servers[:MAX_SERVERS]:
        if f"{ns} {addr}" == first:
            continue
        got = await _ask_zone(ctx, walk, [(ns, addr)], qname, "DNSKEY")
        if got.reply is None or got.reply.message is None:
            continue
        value = valid(got.reply.message)
        if value is not None:
            return got, value, tuple(bad)
        bad.append(got.server)
    return None, None, tuple(bad)


def _keep(z: _Zone) -> bool:
    return z.row.state != _UNKNOWN


async def _chain(ctx: Context, walk: _Walk, anchors: Anchors, name: dns.name.Name) -> tuple[list[_Zone], str | None]:
    """The zones from the root to the one ``name`` is in (each shared by the sweep), and why the walk
    stopped early (None when it reached the name)."""
    ttl = ctx.settings.probe_ttl
    zone = await ctx.cached(("dnssec-zone", ".", anchors.source), functools.partial(_root, ctx, anchors),
                            ttl=ttl, keep=_keep)
    walk.queries += zone.row.queries if _fresh(zone) else 0
    chain = [zone]
    depth = len(name.labels) - 1
    for i in range(len(zone.name.labels), min(depth, MAX_DEPTH) + 1):
        if zone.keys is None and zone.row.state != _INSECURE:
            return chain, None  # unknown or bogus above: nothing below can be secure
        candidate = dns.name.Name(name.labels[-(i + 1):])
        cut = await ctx.cached(("dnssec-cut", zone.row.zone, _text(candidate)),
                               functools.partial(_cut, ctx, zone, candidate), ttl=ttl,
                               keep=lambda c: c.kind != "failed")
        walk.queries += cut.queries if _fresh(cut) else 0
        if cut.kind == "failed":
            return chain, cut.problem
        if cut.kind == "nxdomain":
            return chain, None
        if cut.kind == "inside":
            continue
        zone = await ctx.cached(("dnssec-zone", cut.child, anchors.source),
                                functools.partial(_child, ctx, zone, cut), ttl=ttl, keep=_keep)
        walk.queries += max(0, zone.row.queries - cut.queries) if _fresh(zone) else 0
        chain.append(zone)
    return chain, None


def _fresh(obj: Any) -> bool:
    """Whether this caller made ``obj`` (its queries count for this name) rather than found it made:
    marked once, by the first caller that sees it."""
    if getattr(obj, "_counted", False):
        return False
    obj._counted = True
    return True


@dataclass
class _Soa:
    """The site zone's SOA checked once per sweep, and the queries that took."""

    rows: list[RecordRow]
    queries: int


async def _records(ctx: Context, walk: _Walk, zone: _Zone, name: dns.name.Name) -> list[RecordRow]:
    """The zone's SOA (shared by the sweep) and the name's AAAA answer, checked with the zone's keys."""
    keys = zone.keys
    if keys is None:
        return []

    async def soa() -> _Soa:
        w = _Walk(ctx)
        return _Soa(await _signed_rrsets(ctx, w, zone, zone.name, dns.rdatatype.SOA, keys), w.queries)

    got = await ctx.cached(("dnssec-soa", zone.row.zone), soa, ttl=ctx.settings.probe_ttl,
                           keep=lambda r: all(x.state != _UNKNOWN for x in r.rows))
    walk.queries += got.queries if _fresh(got) else 0
    return [*got.rows, *await _signed_rrsets(ctx, walk, zone, name, dns.rdatatype.AAAA, keys)]


def _check_answer(msg: dns.message.Message, zone: _Zone, keys: dns.rdataset.Rdataset,
                  label: dict[str, Any]) -> list[RecordRow]:
    """Each RRset of an answer inside the zone (a CNAME and its target's records too) checked with the
    zone's keys, one row each ("absent" when the answer has none)."""
    rows: list[RecordRow] = []
    for rrset in msg.answer[:MAX_RECORDS]:
        if rrset.rdtype == dns.rdatatype.RRSIG or not rrset.name.is_subdomain(zone.name):
            continue
        sigs = msg.get_rrset(msg.answer, rrset.name, _IN, dns.rdatatype.RRSIG, rrset.rdtype)
        why = validate_rrset(rrset, sigs, zone.name, keys)
        rows.append(RecordRow(name=_text(rrset.name), type=dns.rdatatype.to_text(rrset.rdtype),
                              state=_SECURE if why is None else _BOGUS, problem=why))
    return rows or [RecordRow(**label, state="absent")]


async def _signed_rrsets(ctx: Context, walk: _Walk, zone: _Zone, owner: dns.name.Name,
                         rdtype: dns.rdatatype.RdataType, keys: dns.rdataset.Rdataset) -> list[RecordRow]:
    """The answer to ``owner rdtype`` from the zone's servers, checked (:func:`_check_answer`); an
    answer that does not validate is asked of the zone's other servers before it is blamed on the
    zone: when one of theirs validates, the rows are its, with the servers whose answers did not."""
    qtype = dns.rdatatype.to_text(rdtype)
    got = await _ask_zone(ctx, walk, zone.servers, owner.to_text(), qtype)
    label: dict[str, Any] = {"name": _text(owner), "type": qtype}
    msg = got.reply.message if got.reply else None
    if msg is None:
        return [RecordRow(**label, state=_UNKNOWN, problem=got.why)]
    rows = _check_answer(msg, zone, keys, label)
    if all(r.state != _BOGUS for r in rows):
        return rows
    bad = [got.server]
    for ns, addr in zone.servers[:MAX_SERVERS]:
        if f"{ns} {addr}" == got.server:
            continue
        other = await _ask_zone(ctx, walk, [(ns, addr)], owner.to_text(), qtype)
        if other.reply is None or other.reply.message is None:
            continue
        again = _check_answer(other.reply.message, zone, keys, label)
        if all(r.state != _BOGUS for r in again):
            problem = next(r.problem for r in rows if r.state == _BOGUS)
            return [dataclasses.replace(r, bogus_servers=tuple(bad), problem=problem) for r in again]
        bad.append(other.server)
    return rows


# --------------------------------------------------------------------------- the probe


async def probe(ctx: Context, run: Run) -> Observation:
    sw = Stopwatch()
    try:
        anchors = load_anchors(ctx)
    except (OSError, ValueError) as e:
        ev = DnssecEvidence.build(run.name, (), (), anchors=str(ctx.settings.trust_anchor), failure=str(e),
                                  scanner_side="trust_anchor")
        return CHECK.observe(run.name, Status.ERROR, ev, f"the trust anchor file is unusable: {e}", sw.stop(),
                             sw.started_at)
    try:
        name = dns.name.from_text(run.name)
    except dns.exception.DNSException as e:
        return CHECK.observe(run.name, Status.ERROR, None, f"not a DNS name: {e}", sw.stop(), sw.started_at)
    walk = _Walk(ctx)
    failure: str | None = None
    records: list[RecordRow] = []
    chain: list[_Zone] = []
    try:
        chain, failure = await _chain(ctx, walk, anchors, name)
        last = chain[-1]
        if failure is None and last.keys is not None and all(z.keys is not None for z in chain):
            records = await _records(ctx, walk, last, name)
            failure = next((f"{r.name} {r.type}: {r.problem}" for r in records if r.state == _UNKNOWN), None)
    except _Budget as e:
        failure = str(e)
    scanner_side = next((z.scanner_side for z in chain if z.scanner_side), None)
    ev = DnssecEvidence.build(run.name, [z.row for z in chain], records, anchors=anchors.source,
                              queries=walk.queries, failure=failure, scanner_side=scanner_side)
    if ev.state == _UNKNOWN:
        why = failure or next((f"{z.row.zone}: {z.row.problem}" for z in chain if z.row.problem), None) \
            or "the chain of trust could not be followed"
        status = Status.TIMEOUT if "within" in why else Status.UNREACHABLE
        return CHECK.observe(run.name, status, ev, why, sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


# --------------------------------------------------------------------------- the rule


def rule(o: Observation, ev: DnssecEvidence, p: Policy) -> CheckResult:
    if o.status is Status.BLOCKED:
        return not_tested(o.check, o.target, o.error or "blocked")
    if ev.scanner_side:
        return result(o.check, o.target, "inconclusive", Reason("dnssec_scanner_side", {
            "name": o.target, "error": ev.failure or next((z.problem for z in ev.chain if z.problem), None)
            or o.error or "-"}))
    if ev.state == _BOGUS:
        return result(o.check, o.target, "fail", Reason("dnssec_bogus", {
            "name": o.target, "zone": ev.zone or "-", "at": ev.bogus_at or "-", "problem": ev.problem or "-"}))
    if o.status is not Status.OK or ev.state not in (_SECURE, _INSECURE):
        return not_tested(o.check, o.target, o.error or ev.failure or "the chain of trust could not be followed")
    return _insecure(o, ev) if ev.state == _INSECURE else _secure(o, ev)


def _insecure(o: Observation, ev: DnssecEvidence) -> CheckResult:
    """Not signed (no DS where the chain ends): information, as internet.nl's "not signed"."""
    if ev.signed_without_ds:
        parent = next((z.parent for z in ev.chain if z.zone == ev.insecure_at), None)
        return result(o.check, o.target, "info", Reason("dnssec_no_ds", {
            "name": o.target, "zone": ev.insecure_at or "-", "parent": parent or "-"}))
    return result(o.check, o.target, "info", Reason("dnssec_insecure", {
        "name": o.target, "zone": ev.zone or "-", "at": ev.insecure_at or "-"}))


def _secure(o: Observation, ev: DnssecEvidence) -> CheckResult:
    """Validates: a pass, unless some servers' answers do not, or the zone's DNSKEY answer does not
    come over IPv6 UDP."""
    if ev.bogus_servers:
        problem = next((z.problem for z in ev.chain[-1:] if z.bogus_servers), None) or \
            next((r.problem for r in ev.records if r.bogus_servers), None)
        return result(o.check, o.target, "warn", Reason("dnssec_servers_disagree", {
            "name": o.target, "zone": ev.zone or "-", "servers": list(ev.bogus_servers), "problem": problem or "-"}))
    if ev.dnskey_transport == "tcp-only":
        return result(o.check, o.target, "warn", Reason("dnssec_dnskey_udp_silent", {
            "name": o.target, "zone": ev.zone or "-"}))
    if ev.dnskey_transport == "tcp-after-tc":
        return result(o.check, o.target, "warn", Reason("dnssec_dnskey_tcp", {
            "name": o.target, "zone": ev.zone or "-", "size": ev.dnskey_size or 0, "limit": PAYLOAD}))
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="dns.dnssec", title="the zone is signed and validates over IPv6; its DNSKEY answers fit IPv6 UDP",
    order=210, phase=Phase.DNS, evidence=DnssecEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "dnssec_scanner_side", "dnssec_bogus", "dnssec_insecure", "dnssec_no_ds",
             "dnssec_servers_disagree", "dnssec_dnskey_udp_silent", "dnssec_dnskey_tcp"),
    weight=0, required=False, v6_dependent=True,
    # signature checks cost about 4 ms CPU per site, 8 % of the default sweep's rate (make bench):
    # sweeps run it when asked (--checks +dns.dnssec)
    in_sweeps=False,
)
