"""What the DNS checks measure and share: the name's A/AAAA lookup (:func:`host`, read by
``dns.resolve``, ``dns.aaaa`` and every check that connects), the zone and its name servers
(:func:`name_servers`, read by ``dns.ns_aaaa`` and ``dns.ns_reach``) and the IPv6-only walk
from the root (:func:`walk_v6`, ``dns.v6_path``; the IPv6 root servers it starts from,
:func:`v6_roots`, are where ``dns.dnssec``'s chain of trust starts too).

Measurements only: the check modules (``dns_*.py``) record them, their rules decide.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import zlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from v6scan.addresses import AddressClass, classify
from v6scan.attempts import TRANSIENT
from v6scan.checks.base import Row, Run, optional
from v6scan.context import Context
from v6scan.dnsdirect import ServerReply
from v6scan.errors import V6scanError
from v6scan.model import JSON, Status, Stopwatch, cap_hit, now_iso
from v6scan.resolver import RR, Answer

T = TypeVar("T")

__all__ = ["AddressRow", "HostDNS", "NameServers", "NsProbe", "V6Roots", "V6Walk", "Zone", "address_rows", "check_host",
           "find_zone", "host", "name_servers", "ns_probe_key", "probe_ns", "spread", "v6_roots", "walk_v6"]

_FAILURE_ORDER = (Status.NXDOMAIN, Status.SERVFAIL, Status.REFUSED, Status.TIMEOUT,
                  Status.UNREACHABLE, Status.ERROR)


@dataclass(frozen=True, kw_only=True)
class AddressRow(Row):
    """One address of a lookup, classified (addresses.AddressClass.to_json) and judged usable."""

    address: str = ""
    version: int = 6
    kind: str = ""
    range: str | None = None
    name: str = ""
    public: bool = False
    metadata: bool = optional(False)
    embedded: Mapping[str, JSON] | None = optional()
    #: the scanner may use it as the site's address (public, or inside --allow-net)
    usable: bool = False
    blocked_reason: str | None = optional()


def address_rows(ctx: Context, answer: Answer) -> tuple[AddressRow, ...]:
    """The answer's addresses, classified, each usable or not under the scanner's address policy."""
    rows = []
    for value in answer.values:
        decision = ctx.policy.decide(value)
        # usable: the scanner may use it as the site's address (public, or inside --allow-net)
        rows.append(AddressRow.from_json({**classify(value).to_json(), "usable": decision.allowed,
                                          **({} if decision.allowed else {"blocked_reason": decision.reason})}))
    return tuple(rows)


@dataclass
class HostDNS:
    """The A and AAAA lookups of one name (and, when both failed, the resolver canary)."""

    name: str
    a: Answer
    aaaa: Answer
    #: the lookups' combined outcome (ok when either answered) and why not
    status: Status = Status.OK
    error: str | None = None
    #: why the name's addresses must not be contacted (an alias on the exclusion list), else None
    excluded: str | None = None
    #: the alias on the exclusion list: {"name", "entry"}
    excluded_alias: dict[str, JSON] | None = None
    #: the resolver canary asked when both lookups failed
    canary: dict[str, JSON] | None = None
    #: the canary failed too: the scanner's resolver, not the name
    scanner_side: bool = False
    #: the addresses ``--address`` gave the name (used instead of its records), else empty
    pinned: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    started_at: str = field(default_factory=now_iso)

    @property
    def v6(self) -> list[AddressClass]:
        return [classify(v) for v in self.aaaa.values]

    @property
    def v4(self) -> list[AddressClass]:
        return [classify(v) for v in self.a.values]

    @property
    def resolved(self) -> bool:
        return bool(self.a.records or self.aaaa.records)

    @property
    def cname_chain(self) -> list[str]:
        return list(self.aaaa.chain if len(self.aaaa.chain) >= len(self.a.chain) else self.a.chain)


async def host(run: Run) -> HostDNS:
    """The A/AAAA lookups of the run's name, made once for all its checks."""
    return await run.shared("dns.host", lambda: check_host(run.ctx, run.name))


def _combined_status(a: Answer, aaaa: Answer) -> tuple[Status, str | None]:
    if a.status is Status.OK or aaaa.status is Status.OK:
        return Status.OK, None
    if a.status is Status.NODATA and aaaa.status is Status.NODATA:
        return Status.NODATA, "the name exists but has neither A nor AAAA records"
    for st in _FAILURE_ORDER:
        for ans in (aaaa, a):
            if ans.status is st:
                return st, f"{ans.qtype} lookup: {ans.error}"
    return Status.ERROR, a.error or aaaa.error


#: a lookup that failed this way may be the resolver's fault rather than the name's
_RESOLVER_SUSPECT = (Status.TIMEOUT, Status.UNREACHABLE, Status.SERVFAIL, Status.REFUSED, Status.ERROR)
#: the canary's answers that prove the resolver works
_RESOLVER_ALIVE = (Status.OK, Status.NODATA, Status.NXDOMAIN)


async def resolver_canary(ctx: Context) -> Answer:
    """The root's NS asked through the scanner's own resolver: a resolver that cannot answer this
    cannot answer anything, so a failed lookup is then the scanner's problem, not the site's.

    Asked after the target's own lookups failed, and shared by concurrent callers; a failed canary
    serves every target for a few seconds (an outage re-queues them all), an answer is never reused
    (an answer from before an outage must not make the outage the sites' fault)."""
    return await ctx.cached(("resolver-canary",), lambda: ctx.resolver.query(".", "NS"),
                            ttl=min(5.0, ctx.settings.probe_ttl), keep=lambda a: a.status not in _RESOLVER_ALIVE)


async def check_host(ctx: Context, name: str) -> HostDNS:
    """The A and AAAA lookups of one name (once, in parallel), read by ``dns.resolve`` and ``dns.aaaa``.

    When a lookup got no answer about the name (a timeout, SERVFAIL, ...: either of them, since a
    resolver can die between the two), the resolver itself is tested with a canary
    (:func:`resolver_canary`); if that fails too, the evidence says ``scanner_side: "resolver"``:
    the target was not assessed, and a sweep measures it again.  If the canary answers, the name is
    asked once more before a failure is blamed on it."""
    sw = Stopwatch()

    async def lookups() -> tuple[Answer, Answer]:
        pin_a, pin_aaaa = ctx.pinned(name, "A"), ctx.pinned(name, "AAAA")
        if pin_a is not None and pin_aaaa is not None:  # --address: the given addresses, no lookup
            return pin_a, pin_aaaa
        return await asyncio.gather(ctx.resolver.query(name, "A"), ctx.resolver.query(name, "AAAA"))

    a, aaaa = await lookups()
    canary_ev: dict[str, JSON] | None = None
    scanner_side = False
    if a.status in _RESOLVER_SUSPECT or aaaa.status in _RESOLVER_SUSPECT:
        canary = await resolver_canary(ctx)
        canary_ev = {"name": ".", "type": "NS", "status": str(canary.status), "error": canary.error}
        if canary.status not in _RESOLVER_ALIVE:
            scanner_side = True
        else:
            # the resolver answers (again): ask once more before the name is blamed (it may have
            # been down while the name was asked, and up again by the time of the canary)
            first = {"a": a.to_json(), "aaaa": aaaa.to_json()}
            a, aaaa = await lookups()
            canary_ev["asked_again"] = True
            canary_ev["first"] = first
    elapsed = sw.stop()
    status, error = _combined_status(a, aaaa)
    out = HostDNS(name, a, aaaa, status, error, canary=canary_ev, scanner_side=scanner_side, elapsed_ms=elapsed,
                  started_at=sw.started_at, pinned=ctx.pins.get(name.rstrip(".").lower(), ()) if ctx.pins else ())
    for alias in out.cname_chain:
        if (entry := ctx.excluded(alias)) is not None:
            out.excluded_alias = {"name": alias, "entry": entry}
            out.excluded = f"the name is an alias of {alias}, which is on the exclusion list ({entry}): not contacted"
            break
    if scanner_side:
        failed = error or "; ".join(f"{x.qtype} lookup: {x.error}" for x in (a, aaaa) if x.status in _RESOLVER_SUSPECT)
        out.error = (f"the scanner's resolver ({', '.join(ctx.resolver.servers) or 'system'}) does not"
                     f" answer: {failed}; it did not answer a canary query either ({canary_ev and canary_ev['error']})")
    return out


# --------------------------------------------------------------------------- zones and NS


@dataclass
class Zone:
    """The zone cut above a name: its apex, NS names and how we found them."""

    name: str | None
    ns: tuple[str, ...]
    status: Status
    error: str | None
    lookups: list[dict[str, JSON]]


async def find_zone(ctx: Context, name: str) -> Zone:
    """Climb the labels of ``name`` until an NS RRset owned by that very name is found."""

    async def climb() -> Zone:
        labels = name.split(".")
        lookups: list[dict[str, JSON]] = []
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            ans = await ctx.lookup(candidate, "NS")
            lookups.append({"name": candidate, "status": str(ans.status), "records": ans.values})
            if ans.status is Status.OK and ans.records and ans.final_name == candidate:
                return Zone(candidate, tuple(sorted(ans.values)), Status.OK, None, lookups)
            if ans.status in (Status.NODATA, Status.NXDOMAIN) or ans.status is Status.OK:
                continue
            return Zone(None, (), ans.status,
                        f"the NS lookup of {candidate} failed: {ans.error}", lookups)
        return Zone(None, (), Status.NODATA, "no zone with an NS RRset above the name", lookups)

    return await ctx.cached(("zone", name), climb)


@dataclass(frozen=True, kw_only=True)
class NsHost(Row):
    """One name server of the zone: its AAAA and A addresses."""

    name: str = ""
    aaaa: tuple[AddressRow, ...] = ()
    aaaa_status: str = ""
    a: tuple[AddressRow, ...] = ()
    a_status: str = ""
    aaaa_error: str | None = optional()

    @property
    def has_usable_v6(self) -> bool:
        return any(r.usable for r in self.aaaa)


async def _ns_addresses(ctx: Context, ns: str) -> NsHost:
    aaaa, a = await asyncio.gather(ctx.lookup(ns, "AAAA"), ctx.lookup(ns, "A"))
    return NsHost(name=ns, aaaa=address_rows(ctx, aaaa), aaaa_status=str(aaaa.status), a=address_rows(ctx, a),
                  a_status=str(a.status),
                  aaaa_error=aaaa.error if aaaa.error and aaaa.status is not Status.NODATA else None)


@dataclass
class NameServers:
    """The zone above a name and its name servers' addresses (those not on the exclusion list, at
    most ``max_ns_hosts``)."""

    zone: Zone
    servers: list[NsHost]
    #: name server -> the exclusion-list entry that matched it (never looked up)
    excluded: dict[str, str]
    #: name servers that may be contacted, before the cap
    contacted: int
    cap: int
    elapsed_ms: float
    started_at: str

    @property
    def caps_hit(self) -> list[dict[str, JSON]]:
        return [cap_hit("max_ns_hosts", self.cap, self.contacted)] if self.contacted > self.cap else []


async def find_name_servers(ctx: Context, name: str) -> NameServers:
    sw = Stopwatch()
    zone = await find_zone(ctx, name)
    if zone.status is not Status.OK or zone.name is None:
        return NameServers(zone, [], {}, 0, ctx.settings.max_ns_hosts, sw.stop(), sw.started_at)
    excluded = {ns: e for ns in zone.ns if (e := ctx.excluded(ns)) is not None}
    contacted = [ns for ns in zone.ns if ns not in excluded]
    cap = ctx.settings.max_ns_hosts
    servers = await asyncio.gather(*(
        ctx.cached(("ns-addr", ns), functools.partial(_ns_addresses, ctx, ns)) for ns in contacted[:cap]))
    return NameServers(zone, list(servers), excluded, len(contacted), cap, sw.stop(), sw.started_at)


async def name_servers(run: Run) -> NameServers:
    """The zone and name servers of the run's name, found once for ``dns.ns_aaaa`` and ``dns.ns_reach``."""
    return await run.shared("dns.ns", lambda: find_name_servers(run.ctx, run.name))


@dataclass(frozen=True, kw_only=True)
class NsProbe(Row):
    """One SOA query to one name-server address over one transport (the fields of
    :meth:`v6scan.dnsdirect.ServerReply.to_json`), or why none was sent (status ``blocked``: only
    ns, address, family, transport, status, answered and error)."""

    ns: str = ""
    address: str = ""
    family: str = ""
    transport: str = ""
    status: str = ""
    rcode: str | None = None
    aa: bool | None = None
    elapsed_ms: float | None = None
    attempts: int | None = None
    successes: int | None = None
    tc: bool = optional(False)
    answer: tuple[str, ...] = optional(())
    answered: bool = False
    error: str | None = optional()
    #: a silence confirmed by a second series of tries, because the address answered over the other
    #: transport (``attempts`` counts both series)
    confirmed: bool = optional(False)

    @property
    def label(self) -> str:
        return f"{self.ns} {self.address} {self.transport}"

    def to_json(self) -> dict[str, JSON]:
        out = super().to_json()
        if self.status == str(Status.BLOCKED):
            for k in _REPLY_ONLY:
                out.pop(k, None)
        return out


#: what a row has only when a query was sent
_REPLY_ONLY = ("rcode", "aa", "elapsed_ms", "attempts", "successes")


async def probe_ns(ctx: Context, zone: str, ns: str, row: AddressRow, family: str, transport: str) -> NsProbe:
    """Ask one name-server address for the zone's SOA: reachability is a property of the zone, so
    every site of a zone shares one probe per address and transport for ``probe_ttl`` seconds
    (the servers are asked once a minute, not once per site), and its row."""
    if not row.usable:
        return NsProbe(ns=ns, address=row.address, family=family, transport=transport, status=str(Status.BLOCKED),
                       answered=False, error=row.blocked_reason)

    async def make() -> NsProbe:
        addr = row.address
        reply, confirmed = await _confirmed_ask(ctx, zone, addr, transport)
        out: dict[str, JSON] = {"ns": ns, "address": addr, "family": family, "transport": transport}
        out.update(reply.to_json())
        out.pop("server", None)
        if confirmed:
            out["confirmed"] = True
        out["answered"] = reply.answered and reply.rcode in ("NOERROR", "NXDOMAIN")
        if reply.answered and not reply.aa and reply.rcode in ("NOERROR", "NXDOMAIN"):
            out["answered"] = False
            out["error"] = "answered without the AA flag: not authoritative for the name (lame)"
        elif reply.rcode in ("REFUSED", "SERVFAIL", "NOTAUTH"):
            out["error"] = f"answered {reply.rcode}: does not serve {zone} (lame)"
        return NsProbe.from_json(out)

    return await ctx.cached(ns_probe_key(zone, ns, row, family, transport), make, ttl=ctx.settings.probe_ttl)


async def _confirmed_ask(ctx: Context, zone: str, addr: str, transport: str) -> tuple[ServerReply, bool]:
    """The zone's SOA asked of ``addr`` over ``transport`` (shared for ``probe_ttl``).  A silence
    fails every site of the zone, so it is confirmed before it counts when the address answered
    over the other transport (a lossy path, or one transport filtered): a second series of tries
    after ``ns_confirm_gap`` seconds, its tries added to the first's.  Silent over both transports,
    the address is down: one series each says so (both lost by chance: about once in 10^9).
    Returns the reply and whether it was confirmed so."""
    def ask(over: str) -> Awaitable[ServerReply]:
        return ctx.cached(("ask", addr, zone, "SOA", over), functools.partial(ctx.ask, addr, zone, "SOA", over),
                          ttl=ctx.settings.probe_ttl)

    first = await ask(transport)
    if first.answered or first.status not in TRANSIENT:
        return first, False
    if not (await ask("tcp" if transport == "udp" else "udp")).answered:
        return first, False
    await asyncio.sleep(ctx.settings.ns_confirm_gap)
    again = await ctx.ask(addr, zone, "SOA", transport)
    return dataclasses.replace(again, attempts=first.attempts + again.attempts), True


def ns_probe_key(zone: str, ns: str, row: AddressRow, family: str, transport: str) -> tuple[str, ...]:
    """The key :func:`probe_ns` shares its row under (``ctx.ready`` finds it without a task)."""
    return ("ns-probe", zone, ns, row.address, family, transport)


# --------------------------------------------------------------------------- IPv6-only path


class _Broken(V6scanError):
    """The IPv6-only walk broke at ``zone`` (caught in this module: the observation's status)."""

    def __init__(self, status: Status, zone: str, reason: str, scanner_side: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.zone, self.reason, self.scanner_side = status, zone, reason, scanner_side


def _child_of(name: str, zone: str) -> bool:
    return zone == "." or name == zone or name.endswith("." + zone)


@dataclass
class _Walk:
    ctx: Context
    steps: list[dict[str, JSON]] = field(default_factory=list)
    queries: int = 0
    max_queries: int = 60


def spread(servers: Sequence[T], qname: str) -> list[T]:
    """A zone's servers, starting at the one the query name picks (a stable hash): the walks of a
    sweep share a zone's queries among all its servers, as resolvers do, instead of all asking the
    first one (the sweep's per-server limit is then spent on each of them, not on one)."""
    if len(servers) < 2:
        return list(servers)
    k = zlib.crc32(qname.lower().encode()) % len(servers)
    return [*servers[k:], *servers[:k]]


async def _ask_servers(walk: _Walk, zone: str, servers: list[tuple[str, str]], qname: str
                       ) -> ServerReply:
    """Ask the zone's IPv6 servers in turn until one gives a usable answer."""
    ctx = walk.ctx
    tried: list[dict[str, JSON]] = []
    step: dict[str, JSON] = {"zone": zone, "qname": qname, "servers": tried}
    walk.steps.append(step)
    blocked = 0
    last: ServerReply | None = None
    allowed: list[tuple[str, str]] = []
    for ns, addr in spread(servers[:6], qname):
        decision = ctx.policy.decide(addr)
        if decision.allowed:
            allowed.append((ns, addr))
        else:
            blocked += 1
            tried.append({"ns": ns, "address": addr, "status": str(Status.BLOCKED),
                          "error": decision.reason})
    # rounds over the servers (one query each per round) rather than every try of one server
    # before the next: a lost packet costs one server's timeout, a dead server is skipped quickly
    rounds = max(1, ctx.settings.udp_attempts)
    for rnd in range(rounds if allowed else 0):
        silent = 0
        for ns, addr in allowed:
            walk.queries += 1
            if walk.queries > walk.max_queries:
                raise _Broken(Status.SERVFAIL, zone, f"gave up after {walk.max_queries} queries")
            r = await _ask_once(ctx, addr, qname, "udp")
            if r.tc:
                tried.append({"ns": ns, "address": addr, **r.to_json(), "note": "truncated: retried over TCP"})
                tried[-1].pop("server", None)
                r = await _ask_once(ctx, addr, qname, "tcp")
            row = {"ns": ns, "address": addr, **r.to_json(), **({"round": rnd + 1} if rnd else {})}
            row.pop("server", None)
            tried.append(row)
            silent += not r.answered
            if last is None or r.answered or not last.answered:
                last = r
            if r.answered and r.rcode in ("NOERROR", "NXDOMAIN"):
                step["answered_by"] = f"{ns} ({addr})"
                return r
        if not silent:
            break  # every server answered (with an error rcode): asking again changes nothing
        if rnd + 1 < rounds:
            await asyncio.sleep(ctx.settings.retry.pause(rnd + 1))
    if blocked and blocked == len(tried):
        raise _Broken(Status.BLOCKED, zone, f"every IPv6 name server address of {zone} is outside the"
                      " allowed networks")
    if last is not None and last.answered:
        st = Status.REFUSED if last.rcode == "REFUSED" else Status.SERVFAIL
        raise _Broken(st, zone, f"the name servers of {zone} answered {last.rcode} over IPv6"
                      " (lame delegation)")
    kinds = {str(t.get("status")) for t in tried}
    if kinds <= {str(Status.ERROR), str(Status.BLOCKED)} and str(Status.ERROR) in kinds:
        raise _Broken(Status.SERVFAIL, zone, f"the name servers of {zone} answered with malformed messages ("
                      + ", ".join(f"{t['ns']} {t['address']}: {t.get('error')}" for t in tried) + ")")
    st = Status.TIMEOUT if kinds <= {str(Status.TIMEOUT), str(Status.BLOCKED)} else Status.UNREACHABLE
    raise _Broken(st, zone, f"no name server of {zone} answered over IPv6 ("
                  + ", ".join(f"{t['ns']} {t['address']}: {t['status']}" for t in tried) + ")")


async def _ask_once(ctx: Context, addr: str, qname: str, transport: str) -> ServerReply:
    """One query, shared by the walks of every target while it is in flight and kept once answered
    (a lost packet is not remembered: the next round or target asks again)."""
    return await ctx.cached(("ask", addr, qname, "AAAA", transport),
                            functools.partial(ctx.ask, addr, qname, "AAAA", transport, attempts=1),
                            keep=lambda r: r.answered)


async def _roots_v6(ctx: Context) -> list[tuple[str, str]]:
    """The root servers that answer over IPv6 from here, asked all at once (each tried
    ``settings.attempts`` times), shared by every walk for ``probe_ttl`` seconds.

    No answer from any of them says nothing about a site: it is this scanner's network (or its
    root hints) that cannot reach the roots over IPv6."""
    servers = [(r.name, a) for r in ctx.roots for a in r.addresses if ":" in a]
    if not servers:
        raise _Broken(Status.UNREACHABLE, ".", "the root hints have no IPv6 address", scanner_side="roots")

    allowed = [(n, a) for n, a in servers if ctx.policy.allows(a)]
    if not allowed:
        raise _Broken(Status.BLOCKED, ".", "every IPv6 address of the root hints is outside the allowed networks")

    async def probe() -> list[tuple[str, str]]:
        replies = await asyncio.gather(*(ctx.ask(a, ".", "NS", "udp") for _, a in allowed))
        return [s for s, r in zip(allowed, replies, strict=True) if r.answered]

    answering = await ctx.cached(("roots-v6",), probe, ttl=ctx.settings.probe_ttl)
    if not answering:
        raise _Broken(Status.TIMEOUT, ".",
                      f"no root server answered over IPv6 from this scanner ({len(servers)} addresses in"
                      " the root hints, each tried"
                      f" {ctx.settings.udp_attempts} times): the scanner's network or its root hints, not the site",
                      scanner_side="roots")
    return answering


@dataclass
class V6Roots:
    """The root servers that answer over IPv6 from here (as the IPv6-only walk starts from), or why
    none does; ``scanner_side`` when that is the scanner's network or root hints, not a site."""

    servers: list[tuple[str, str]]
    status: Status = Status.OK
    reason: str | None = None
    scanner_side: str | None = None


async def v6_roots(ctx: Context) -> V6Roots:
    """The answering IPv6 root servers :func:`walk_v6` starts from (shared with it for ``probe_ttl``)."""
    try:
        return V6Roots(await _roots_v6(ctx))
    except _Broken as b:
        return V6Roots([], b.status, b.reason, b.scanner_side)


async def _servers_v6(walk: _Walk, zone: str, ns_names: list[str], glue: list[RR], depth: int,
                      resolving: frozenset[str]) -> list[tuple[str, str]]:
    servers: list[tuple[str, str]] = []
    for ns in ns_names:
        addrs = [r.data for r in glue if r.name == ns and r.type == "AAAA"]
        if not addrs and not _child_of(ns, zone) and depth < 3 and ns not in resolving:
            # out-of-bailiwick name server: find its AAAA over the IPv6-only path too
            try:
                reply = await _iterate(walk, ns, depth + 1, resolving | {ns})
                addrs = [r.data for r in reply.answer if r.type == "AAAA"]
            except _Broken as b:
                if b.scanner_side:
                    raise  # the scanner's own trouble is never the zone's missing IPv6
                addrs = []
        servers += [(ns, a) for a in addrs]
    return servers


async def _start(ctx: Context, qname: str) -> tuple[str, list[tuple[str, str]]]:
    """The closest enclosing zone whose IPv6 servers are known already, else the root."""
    labels = qname.split(".")
    for i in range(len(labels)):
        known = ctx.delegations_v6.get(".".join(labels[i:]))
        if known:
            return ".".join(labels[i:]), known
    return ".", await _roots_v6(ctx)


async def _iterate(walk: _Walk, qname: str, depth: int, resolving: frozenset[str]) -> ServerReply:
    ctx = walk.ctx
    zone, servers = await _start(ctx, qname)
    if zone != ".":
        walk.steps.append({"zone": zone, "from_cache": True,
                           "v6_servers": [f"{n} {a}" for n, a in servers]})
    cname_hops = 0
    for _ in range(40):
        reply = await _ask_servers(walk, zone, servers, qname)
        owned = [r for r in reply.answer if r.name == qname]
        if owned or reply.aa:
            cname = next((r for r in owned if r.type == "CNAME"), None)
            if cname and not any(r.type == "AAAA" for r in owned):
                cname_hops += 1
                if cname_hops > ctx.settings.max_cname:
                    raise _Broken(Status.SERVFAIL, zone, "CNAME chain too long")
                qname = cname.data
                if (entry := ctx.excluded(qname)) is not None:
                    raise _Broken(Status.EXCLUDED, zone, f"the name is an alias of {qname}, which is on the"
                                  f" exclusion list ({entry}): not contacted")
                zone, servers = await _start(ctx, qname)
                continue
            return reply
        ns_rrs = [r for r in reply.authority if r.type == "NS"]
        child = ns_rrs[0].name if ns_rrs else None
        if child is None or not _child_of(qname, child) or not _child_of(child, zone) or child == zone:
            raise _Broken(Status.SERVFAIL, zone, f"the servers of {zone} gave neither an answer nor a"
                          " referral closer to the name")
        named = sorted({r.data for r in ns_rrs if r.name == child})
        left_out = [n for n in named if ctx.excluded(n) is not None]
        allowed = [n for n in named if n not in left_out]
        ns_names = allowed[:ctx.settings.max_ns_hosts]
        known = ctx.delegations_v6.get(child)
        if known is None:
            servers = await _servers_v6(walk, child, ns_names, list(reply.additional), depth, resolving)
            if servers:
                ctx.learn_delegation(child, servers)
        else:
            servers = known
        walk.steps[-1]["referral"] = {"zone": child, "ns": ns_names,
                                      "v6_servers": [f"{n} {a}" for n, a in servers]}
        if left_out:
            walk.steps[-1]["referral"]["excluded"] = left_out
        if len(allowed) > ctx.settings.max_ns_hosts:
            walk.steps[-1]["referral"]["caps_hit"] = [cap_hit("max_ns_hosts", ctx.settings.max_ns_hosts,
                                                              len(allowed))]
        if not servers and left_out and not allowed:
            raise _Broken(Status.EXCLUDED, child, f"every name server of {child} is on the exclusion list"
                          f" ({', '.join(left_out)}): not contacted")
        if not servers:
            raise _Broken(Status.UNREACHABLE, child,
                          f"none of the name servers of {child} ({', '.join(ns_names)}) has an IPv6"
                          " address (no AAAA glue or record)")
        zone = child
    raise _Broken(Status.SERVFAIL, zone, "too many referrals")


@dataclass
class V6Walk:
    """The IPv6-only walk from the root to a name's AAAA: reached, or where and why it broke."""

    status: Status
    steps: list[dict[str, JSON]]
    queries: int
    #: for a walk that reached an answer
    rcode: str | None = None
    answer: list[str] = field(default_factory=list)
    #: for a broken walk
    broken_at: str | None = None
    reason: str | None = None
    scanner_side: str | None = None
    elapsed_ms: float = 0.0
    started_at: str = field(default_factory=now_iso)


async def walk_v6(ctx: Context, name: str) -> V6Walk:
    """Resolve ``name`` AAAA from the root using IPv6 transport only."""
    sw = Stopwatch()
    walk = _Walk(ctx)
    try:
        reply = await _iterate(walk, name, 0, frozenset())
    except _Broken as b:
        return V6Walk(b.status, walk.steps, walk.queries, broken_at=b.zone, reason=b.reason,
                      scanner_side=b.scanner_side, elapsed_ms=sw.stop(), started_at=sw.started_at)
    return V6Walk(Status.OK, walk.steps, walk.queries, rcode=reply.rcode,
                  answer=[f"{r.name} {r.type} {r.data}" for r in reply.answer], elapsed_ms=sw.stop(),
                  started_at=sw.started_at)
