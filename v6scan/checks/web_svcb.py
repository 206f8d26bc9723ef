"""``web.svcb``: the name's HTTPS records (RFC 9460) agree with its AAAA records.

An HTTPS record (type 65) tells a client where and how to connect before it has the A/AAAA
answers: a client may connect to an ``ipv6hint`` address straight away, so a hint that names an
address the AAAA records do not have (a server renumbered, a stale CDN pool) sends IPv6 users to
the wrong or a dead address.  A ServiceMode record with ``ipv4hint`` but no ``ipv6hint`` on a name
with AAAA records steers hint-using clients to IPv4.

The records are asked for through the scanner's own resolver addresses (``--resolver``, else the
system's), with dnspython's parser: c-ares (pycares 5) returns their SvcParams as raw wire bytes and
the recursive layer (:mod:`v6scan.resolver`) does not carry type HTTPS.  An AliasMode record
(priority 0) is followed one step; a ServiceMode record whose target is another name is compared
with that name's AAAA.  Informational: weight 0, never required, never a ``fail``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
from dns.rdtypes.svcbbase import ParamKey

from v6scan.attempts import Retry, retried
from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.dns import host
from v6scan.context import Context
from v6scan.dnsdirect import ServerReply, ask
from v6scan.model import Observation, Status, Stopwatch
from v6scan.resolver import RR, follow_chain, parse_server
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result
from v6scan.settings import Settings

__all__ = ["CHECK", "SvcbEvidence", "SvcbLookup", "SvcbRecord", "SvcbTarget", "lookup_https", "parse_https"]

#: lookups whose outcome says whether the records exist (anything else: the lookup failed)
_ANSWERED = (Status.OK, Status.NODATA, Status.NXDOMAIN)
#: the keys a record has fields for (every other key is kept in ``other``)
_KNOWN = (ParamKey.ALPN, ParamKey.NO_DEFAULT_ALPN, ParamKey.PORT, ParamKey.IPV4HINT, ParamKey.IPV6HINT)


def _canonical(address: str) -> str:
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address


def _name(text: str) -> str:
    return text.rstrip(".").lower() or "."


@dataclass(frozen=True, kw_only=True)
class SvcbRecord(Row):
    """One HTTPS record as published (RFC 9460 presentation form, parsed)."""

    #: the name that owns it (the scanned name, or the target of its AliasMode record)
    owner: str = ""
    #: 0: AliasMode; otherwise ServiceMode, lower is preferred
    priority: int = 0
    #: the target name as published ("." : the owner itself)
    target: str = ""
    alpn: tuple[str, ...] = ()
    no_default_alpn: bool = False
    port: int | None = None
    ipv4hint: tuple[str, ...] = ()
    ipv6hint: tuple[str, ...] = ()
    #: every other key (mandatory, ech, dohpath, keyNNNNN...): its value in presentation form, cut
    other: Mapping[str, str] = field(default_factory=dict)
    #: the record as the resolver gave it
    data: str = ""
    #: why the record does not parse (its other fields are then empty)
    problem: str | None = optional()

    @property
    def alias(self) -> bool:
        return self.priority == 0 and self.problem is None

    @property
    def service(self) -> bool:
        return self.priority > 0 and self.problem is None

    @property
    def endpoint(self) -> str:
        """The name a client connects to (the owner when the target is ".")."""
        return self.owner if self.target == "." else self.target


def parse_https(owner: str, data: str, value_max: int = Settings.max_listed_value_chars) -> SvcbRecord:
    """An HTTPS record's presentation text (as dnspython writes it) parsed into a row, each parameter
    value kept to ``value_max`` characters (an ECH config can be hundreds of bytes).  Never raises."""
    try:
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.HTTPS, data)
    except (dns.exception.DNSException, ValueError, TypeError, KeyError, UnicodeError, IndexError) as e:
        return SvcbRecord(owner=owner, data=data, problem=f"does not parse: {str(e)[:value_max]}")
    params = rd.params  # type: ignore[attr-defined]
    alpn = params.get(ParamKey.ALPN)
    port = params.get(ParamKey.PORT)
    v4 = params.get(ParamKey.IPV4HINT)
    v6 = params.get(ParamKey.IPV6HINT)
    other: dict[str, str] = {}
    for key, value in params.items():
        if key in _KNOWN:
            continue
        name = ParamKey.to_text(key).lower()
        other[name] = "" if value is None else value.to_text().strip('"')[:value_max]
    return SvcbRecord(
        owner=owner, priority=int(rd.priority), target=_name(rd.target.to_text()),  # type: ignore[attr-defined]
        alpn=tuple(i.decode("utf-8", "replace") for i in alpn.ids) if alpn is not None else (),
        no_default_alpn=ParamKey.NO_DEFAULT_ALPN in params,
        port=int(port.port) if port is not None else None,
        ipv4hint=tuple(_canonical(str(a)) for a in v4.addresses) if v4 is not None else (),
        ipv6hint=tuple(_canonical(str(a)) for a in v6.addresses) if v6 is not None else (),
        other=other, data=data)


@dataclass(frozen=True, kw_only=True)
class SvcbTarget(Row):
    """The AAAA records of a name a ServiceMode record points clients to."""

    name: str = ""
    #: the AAAA lookup's status (``ok``, ``nodata``, ``nxdomain``, ``timeout`` ...)
    status: str = ""
    addresses: tuple[str, ...] = ()
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class SvcbLookup(Row):
    """One HTTPS lookup through the scanner's resolver."""

    name: str = ""
    #: ``ok``, ``nodata``, ``nxdomain``, ``servfail``, ``timeout`` ...
    status: str = ""
    #: the resolver address that answered
    server: str | None = None
    error: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class SvcbEvidence(Evidence):
    #: the HTTPS lookups: the name's, then its AliasMode target's
    lookups: tuple[SvcbLookup, ...] = ()
    #: the HTTPS records of the name and of its AliasMode target
    records: tuple[SvcbRecord, ...] = ()
    #: the AliasMode target followed (one step), else None
    alias: str | None = None
    #: the AAAA records of every name a used ServiceMode record points to (the name itself first)
    targets: tuple[SvcbTarget, ...] = ()
    #: derived: the ServiceMode records a client uses (those of the alias target when one was followed)
    service: int = 0
    #: derived: ipv6hint addresses that are not AAAA records of their record's target
    hints_not_in_aaaa: tuple[str, ...] = ()
    #: derived: AAAA addresses that a record with an ipv6hint does not name
    aaaa_not_in_hints: tuple[str, ...] = ()
    #: derived: targets with AAAA records whose ServiceMode record hints IPv4 but not IPv6
    no_ipv6hint: tuple[str, ...] = ()
    #: derived: targets of used records whose AAAA lookup failed (or was capped): their hints not compared
    uncompared: tuple[str, ...] = ()
    #: derived: every ALPN id the used records advertise, and whether HTTP/2 and HTTP/3 are among them
    alpn: tuple[str, ...] = ()
    h2: bool = False
    h3: bool = False

    def used(self) -> list[SvcbRecord]:
        """The ServiceMode records a client uses: the alias target's when an alias was followed."""
        owner = self.alias or (self.records[0].owner if self.records else "")
        return [r for r in self.records if r.owner == owner and r.service]

    @classmethod
    def build(cls, lookups: Sequence[SvcbLookup], records: Sequence[SvcbRecord],
              alias: str | None, targets: Sequence[SvcbTarget]) -> Self:
        """The evidence of the lookups, with the comparisons derived from them."""
        base = cls(lookups=tuple(lookups), records=tuple(records), alias=alias, targets=tuple(targets))
        used = base.used()
        known = {t.name: t for t in targets if t.status in (str(Status.OK), str(Status.NODATA),
                                                            str(Status.NXDOMAIN))}
        stale: list[str] = []
        unhinted: list[str] = []
        bare: list[str] = []
        unknown: list[str] = []
        for r in used:
            t = known.get(r.endpoint)
            if t is None:
                unknown.append(r.endpoint)  # its AAAA lookup failed (or was capped): nothing to compare with
                continue
            stale += [a for a in r.ipv6hint if a not in t.addresses]
            if r.ipv6hint:
                unhinted += [a for a in t.addresses if a not in r.ipv6hint]
            elif r.ipv4hint and t.addresses:
                bare.append(r.endpoint)
        alpn = _unique(a for r in used for a in r.alpn)
        return cls(lookups=base.lookups, records=base.records, alias=alias, targets=base.targets,
                   service=len(used), hints_not_in_aaaa=_unique(stale), aaaa_not_in_hints=_unique(unhinted),
                   no_ipv6hint=_unique(bare), uncompared=_unique(unknown), alpn=alpn, h2="h2" in alpn, h3="h3" in alpn)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --------------------------------------------------------------------------- the lookups


@functools.cache
def _system_servers() -> tuple[tuple[str, int], ...]:
    """The system's resolver addresses (``/etc/resolv.conf``), as c-ares reads them."""
    try:
        return tuple((str(a), 53) for a in dns.resolver.Resolver(configure=True).nameservers)
    except (dns.exception.DNSException, OSError, ValueError):
        return ()


def _servers(ctx: Context) -> tuple[tuple[str, int], ...]:
    if ctx.resolver.servers:
        return tuple(parse_server(s) for s in ctx.resolver.servers)
    return _system_servers()


async def _ask_resolver(ctx: Context, qname: str) -> tuple[ServerReply | None, str | None]:
    """The HTTPS records of ``qname`` asked of the scanner's resolvers in turn (recursion desired,
    UDP then TCP when truncated, each tried ``dns_retries + 1`` times while silent), and the server
    that answered; (None, why) when none is configured."""
    servers = _servers(ctx)
    if not servers:
        return None, "no resolver address to ask (none given and none in /etc/resolv.conf)"
    s = ctx.settings
    retry = Retry(s.dns_retries + 1, s.retry_backoff)
    last: ServerReply | None = None
    label = None
    for addr, port in servers:

        async def once(transport: str, addr: str = addr, port: int = port) -> ServerReply:
            return await ask(addr, qname, "HTTPS", transport, timeout=s.dns_timeout, port=port, recursion=True)

        reply, _ = await retried(lambda: once("udp"), lambda r: r.status, retry, transient=lambda r: not r.answered)
        if reply.tc:
            reply, _ = await retried(lambda: once("tcp"), lambda r: r.status, retry,
                                     transient=lambda r: not r.answered)
        if last is None or reply.answered:
            last, label = reply, f"{addr}:{port}" if ":" not in addr else f"[{addr}]:{port}"
        if reply.rcode in ("NOERROR", "NXDOMAIN"):
            break
    return last, label


@dataclass
class _Lookup:
    """One HTTPS lookup's outcome."""

    name: str
    status: Status
    records: list[SvcbRecord]
    server: str | None = None
    error: str | None = None

    def row(self) -> SvcbLookup:
        return SvcbLookup(name=self.name, status=str(self.status), server=self.server, error=self.error)


async def lookup_https(ctx: Context, name: str) -> _Lookup:
    """The HTTPS records of ``name`` through the scanner's resolver (CNAME chain followed)."""
    reply, server = await _ask_resolver(ctx, name)
    if reply is None:
        return _Lookup(name, Status.ERROR, [], None, server)
    if reply.rcode == "NXDOMAIN":
        return _Lookup(name, Status.NXDOMAIN, [], server, "the name does not exist (NXDOMAIN)")
    if reply.rcode != "NOERROR":
        status = reply.status if reply.status is not Status.OK else Status.ERROR
        return _Lookup(name, status, [], server, reply.error or f"the resolver answered {reply.rcode}")
    answer: list[RR] = list(reply.answer)
    _, found, problem = follow_chain(name, "HTTPS", answer, ctx.settings.max_cname)
    if problem:
        return _Lookup(name, Status.ERROR, [], server, problem)
    records = [parse_https(name, r.data, ctx.settings.max_listed_value_chars) for r in found]
    if not records:
        return _Lookup(name, Status.NODATA, [], server, "no HTTPS record")
    return _Lookup(name, Status.OK, sorted(records, key=lambda r: (r.priority, r.target)), server)


async def _target(ctx: Context, name: str) -> SvcbTarget:
    ans = await ctx.lookup(name, "AAAA")
    return SvcbTarget(name=name, status=str(ans.status), addresses=tuple(_canonical(v) for v in ans.values),
                      error=ans.error if ans.status not in (Status.OK, Status.NODATA) else None)


async def probe(ctx: Context, run: Run) -> Observation:
    sw = Stopwatch()
    qname = _name(run.name)
    first = await lookup_https(ctx, qname)
    lookups = [first]
    records = list(first.records)
    alias: str | None = None
    aliases = [r for r in first.records if r.alias and r.target != "."]
    if aliases:
        alias = aliases[0].target
        second = await lookup_https(ctx, alias)
        lookups.append(second)
        records += second.records
    failed = next((x for x in lookups if x.status not in _ANSWERED), None)
    partial = SvcbEvidence.build([x.row() for x in lookups], records, alias, ())
    targets: list[SvcbTarget] = []
    if failed is None:
        h = await host(run)
        own = SvcbTarget(name=qname, status=str(h.aaaa.status),
                         addresses=tuple(_canonical(v) for v in h.aaaa.values),
                         error=h.aaaa.error if h.aaaa.status not in (Status.OK, Status.NODATA) else None)
        targets.append(own)
        others = _unique(r.endpoint for r in partial.used() if r.endpoint != qname)[:ctx.settings.max_svcb_targets]
        targets += await asyncio.gather(*(_target(ctx, t) for t in others))
    ev = SvcbEvidence.build([x.row() for x in lookups], records, alias, targets)
    if failed is not None:
        return CHECK.observe(run.name, failed.status, ev, f"HTTPS lookup of {failed.name}: {failed.error}",
                             sw.stop(), sw.started_at)
    status = Status.OK if first.status is Status.OK else first.status
    return CHECK.observe(run.name, status, ev, None if status is Status.OK else first.error, sw.stop(),
                         sw.started_at)


# --------------------------------------------------------------------------- the rule


def rule(o: Observation, ev: SvcbEvidence, p: Policy) -> CheckResult:
    if o.status in (Status.NODATA, Status.NXDOMAIN) or (o.status is Status.OK and not ev.service and not ev.alias):
        return result(o.check, o.target, "info", Reason("svcb_absent", {"name": o.target}), applicable=False)
    if o.status is not Status.OK:
        return not_tested(o.check, o.target, o.error or f"the HTTPS lookup failed ({o.status})")
    if not ev.service:
        return result(o.check, o.target, "pass")  # an alias to a name without ServiceMode records: no hints
    reasons: list[Reason] = []
    if ev.hints_not_in_aaaa:
        aaaa = _unique(a for t in ev.targets for a in t.addresses)
        reasons.append(Reason("svcb_ipv6hint_mismatch", {
            "name": o.target, "addresses": list(ev.hints_not_in_aaaa), "aaaa": list(aaaa) or ["-"]}))
    if ev.no_ipv6hint:
        reasons.append(Reason("svcb_no_ipv6hint", {"name": o.target, "targets": list(ev.no_ipv6hint)}))
    if reasons:
        return result(o.check, o.target, "warn", *reasons)
    if ev.uncompared:
        return not_tested(o.check, o.target, "the AAAA lookup of " + ", ".join(ev.uncompared) + " failed: the hints"
                          " were not compared")
    if not ev.alpn:
        return result(o.check, o.target, "info", Reason("svcb_no_alpn", {"name": o.target}))
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="web.svcb", title="HTTPS records agree with the AAAA records", order=230, phase=Phase.DNS,
    evidence=SvcbEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "svcb_absent", "svcb_ipv6hint_mismatch", "svcb_no_ipv6hint", "svcb_no_alpn"),
    weight=0, required=False, v6_dependent=False,
    # a query per name through dnspython, about 2 ms of CPU per site: with it the default sweep ran
    # 9 % slower (make bench); sweeps run it when asked (--checks +web.svcb)
    in_sweeps=False,
)
