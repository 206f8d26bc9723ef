"""The synthetic world of the scoring tests (tests/test_scoring.py): no network, no lab.

A builder makes the complete observation set a scan of one healthy dual-stack name records
(``dns.*``, ``web.reach``/``tls``/``http``/``same_site``/``latency``, ``mail.mx_aaaa``, ``self.v6``).
Every observation's evidence is the check's own evidence type, made by the check's own constructor
(``TlsEvidence.build(rows)``, ``AaaaEvidence.build(...)``, ``NsReachEvidence.build(...)``, ...) from
typed rows, and stored with ``Check.observe`` (``ev.to_json()``): the derived fields (``v6_valid``,
``parity_gaps``, ``usable``, the medians, ...) are never computed here.  The rows come from what
the measuring layer itself gives: :func:`v6scan.checks.dns.address_rows`, the ``to_json`` of
:class:`Answer`, :class:`Probe`, :class:`TlsResult`, :class:`ServerReply`, :class:`Page` and
:class:`Chain`, :func:`v6scan.checks.dns.probe_ns` (on synthetic name servers),
:func:`v6scan.checks.webstate.web_state` and :func:`~v6scan.checks.webstate.start_url`.

A scenario is a set of MUTATORS: each names one fact about the site (or the scanner) that is
worse than in the healthy set.  The builder derives every measurement from the facts the way the
checks would measure them: a closed port means no TLS handshake and no fetch on it, a failed fetch
means no final page to compare, an expired certificate on IPv6 makes the verified fetch over IPv6
fail, no IPv6 name server breaks the IPv6-only resolution path, and a scanner without IPv6 sees
every IPv6 address unreachable.  Combining mutators is therefore always a consistent scan.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from v6scan.addresses import classify
from v6scan.checks.base import Evidence
from v6scan.checks.dns import HostDNS, NameServers, NsHost, Zone, _combined_status, address_rows, probe_ns
from v6scan.checks.dns_aaaa import AaaaEvidence
from v6scan.checks.dns_ns_aaaa import NsAaaaEvidence
from v6scan.checks.dns_ns_reach import NsProbe, NsReachEvidence
from v6scan.checks.dns_resolve import ResolveEvidence
from v6scan.checks.dns_v6_path import V6PathEvidence
from v6scan.checks.mail import MxEvidence, MxHost
from v6scan.checks.self_v6 import SelfEvidence
from v6scan.checks.web_http import ChainRow, HttpEvidence, NotFetchedRow
from v6scan.checks.web_latency import LatencyEvidence, LatencyFamily, LatencyProbe
from v6scan.checks.web_reach import PortProbe, ReachEvidence, ReachRow
from v6scan.checks.web_same_site import Compared, PageSummary, SameSiteEvidence, SameSiteRow
from v6scan.checks.web_tls import NOT_ATTEMPTED, TlsEvidence, TlsRow
from v6scan.checks.webstate import PORTS, BlockedRow, WebState, start_url, web_state
from v6scan.context import Context
from v6scan.dnsdirect import ServerReply
from v6scan.fetch import Chain, Page, title_of
from v6scan.model import Observation, Status
from v6scan.net import CertInfo, Probe, TlsResult
from v6scan.registry import CHECKS
from v6scan.resolver import RR, Answer
from v6scan.rules import Policy
from v6scan.scoring import VERDICTS, SiteVerdict, load_policy, score_target
from v6scan.settings import Settings
from v6scan.similarity import compare

T = TypeVar("T")

DOMAIN = "example.org"
WWW = "www.example.org"
PROBES = 4  # latency probes per family (--latency-probes 4)
#: the scanner runs like in the lab: documentation prefixes allowed explicitly (--allow-net)
CTX = Context.create(Settings(allow_nets=("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24"),
                              latency_probes=PROBES))
WEB_V6 = ("2001:db8:80::10", "2001:db8:80::11")
WEB_V4 = ("198.51.100.10",)
LINK_LOCAL = "fe80::1"
ULA = "fd00::80"
PORTAL, PORTAL_V4 = "portal.example.net", "198.51.100.20"  # an IPv4-only host
ROOT = ("a.root-servers.net", "2001:503:ba3e::2:30")
SELF_SOURCE = "2001:db8:ffff::2"
WEB_IDS = ("web.reach", "web.tls", "web.http", "web.same_site", "web.latency")
#: the checks this world does not measure (a scan records them; the scoring tests leave them out)
NOT_MODELLED = frozenset({"web.links", "web.resources", "web.hsts_v6", "web.svcb", "web.happy_eyeballs", "path.pmtu",
                          "path.icmp", "path.mtu", "path.frag", "mail.mx_reach", "mail.starttls",
                          "dns.dnssec"})
#: the checks of the observation set the builder makes
SITE_CHECKS = frozenset(CHECKS) - NOT_MODELLED
#: the checks whose result says nothing when the scanner's own IPv6 failed
V6_DEPENDENT = frozenset(c.id for c in CHECKS.values() if c.v6_dependent)

HOME = ("<html> <head> <title>Example</title> </head> <body> <h1>Example</h1> <p>News</p> "
        "<p>Contact</p> </body> </html>")
NGINX = "<html> <title>Welcome to nginx!</title> <body> <h1>It works!</h1> <p>default</p> <hr> </html>"
PORTAL_TEXT = "<html> <head> <title>Portal</title> </head> <body> <p>Sign in</p> </body> </html>"
TLS13 = {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"}

CERT = CertInfo("CN=example.org", "CN=Example CA,O=Example", ("example.org", "www.example.org"),
                "2025-01-01T00:00:00+00:00", "2026-12-31T23:59:59+00:00", 300, "ab" * 32, False, "RSA-2048")
OTHER_CERT = CertInfo("CN=example.org", "CN=Other CA,O=Other", ("example.org", "www.example.org"),
                      "2025-03-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", 120, "ef" * 32, False,
                      "EllipticCurve-256")
EXPIRED_CERT = CertInfo("CN=example.org", "CN=Example CA,O=Example", ("example.org", "www.example.org"),
                        "2023-01-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00", -500, "cd" * 32, False,
                        "RSA-2048")

#: mutator -> the one fact it makes worse
MUTATORS: dict[str, str] = {
    "nxdomain": "dns.resolve: the name does not exist (NXDOMAIN)",
    "no_aaaa": "dns.aaaa: no AAAA record (NODATA)",
    "aaaa_unusable": "dns.aaaa: the only AAAA is fe80::1 (usable False)",
    "aaaa_some_unusable": "dns.aaaa: an extra AAAA fd00::80 next to the two good ones",
    "parity_gap": "web.reach: the second of two AAAA refuses port 443 (IPv4 accepts it)",
    "v6_closed": "web.reach: every IPv6 port times out",
    "tls_expired": "web.tls: the IPv6 certificate has expired (IPv4's is valid)",
    "tls_timeout": "web.tls: the TLS handshake over IPv6 times out",
    "cert_differs": "web.tls: IPv6 serves another valid certificate than IPv4",
    "dead_end": "web.http: the site redirects to an IPv4-only host",
    "chain_fail": "web.http: requests over IPv6 time out waiting for the response",
    "same_site_low": "web.same_site: IPv6 serves a default page (similarity 0.3)",
    "status_differs": "web.http: the final status over IPv6 is 203, over IPv4 200",
    "ns_one_v6": "dns.ns_aaaa: only one of the two name servers has an AAAA",
    "ns_no_v6": "dns.ns_aaaa: no name server has an AAAA",
    "ns_dead": "dns.ns_reach: the IPv6 address of ns1 does not answer (UDP, TCP)",
    "v6_path_broken": "dns.v6_path: the parent publishes no AAAA glue (status unreachable)",
    "latency_slow": "web.latency: IPv6 takes twice as long as IPv4 (ratio 2.0)",
    "latency_flaky": "web.latency: half of the IPv6 probes time out (success rate 0.5)",
    "mx_no_v6": "mail.mx_aaaa: the second MX host has no AAAA",
    "self_fail": "self.v6: the scanner has no IPv6 route (status unreachable)",
    "check_error": "dns.v6_path: the check crashed (status error)",
}
MUTATOR_NAMES = tuple(MUTATORS)
#: facts about the target (or the scanner), not about one name
TARGET_LEVEL = frozenset({"mx_no_v6", "self_fail"})

#: The tables of test_scoring.py were derived by hand from these weights (the default policy as it was
#: before web.links and web.resources existed); pinning them keeps the tables about the rules, not about
#: later re-weighting of the shipped data.  The shipped files are checked in test_builtin_policies_load.
PINNED_DEFAULT = {
    "checks": {"dns.aaaa": {"weight": 20}, "dns.ns_aaaa": {"weight": 10}, "dns.ns_reach": {"weight": 10},
               "dns.v6_path": {"weight": 5}, "web.reach": {"weight": 15}, "web.tls": {"weight": 10},
               "web.http": {"weight": 15}, "web.same_site": {"weight": 10}, "web.latency": {"weight": 3},
               "mail.mx_aaaa": {"weight": 2},
               "web.links": {"weight": 0, "required": False}, "web.resources": {"weight": 0, "required": False},
               "path.pmtu": {"weight": 0, "required": False}},
}


def pinned(overrides: dict[str, Any] | None = None) -> Policy:
    """The pinned default policy with further overrides (checks merged per id)."""
    o = dict(overrides or {})
    checks = {k: dict(v) for k, v in PINNED_DEFAULT["checks"].items()}
    for k, v in o.pop("checks", {}).items():
        checks[k] = {**checks.get(k, {}), **v}
    return load_policy("default", {**o, "checks": checks})


POLICIES: dict[str, Policy] = {"default": load_policy("default", PINNED_DEFAULT),
                               "internetnl": load_policy("internetnl"), "cn-gov": load_policy("cn-gov")}


# --------------------------------------------------------------------------- recording


def observe(check: str, name: str, status: Status, ev: Evidence | None, error: str | None = None,
            elapsed_ms: float = 0.0) -> Observation:
    """The observation ``check`` records: ``ev`` must be the check's own evidence type."""
    c = CHECKS[check]
    assert ev is None or type(ev) is c.evidence, (check, type(ev).__name__, c.evidence.__name__)
    return c.observe(name, status, ev, error, elapsed_ms)


def evidence(o: Observation) -> Evidence:
    """The typed evidence of ``o``, read back as scoring reads it."""
    ev: Evidence = CHECKS[o.check].evidence.from_json(o.evidence)
    return ev


def typed(obs: Iterable[Observation], name: str = DOMAIN) -> dict[str, Any]:
    """check -> the typed evidence of its observation of ``name`` (typed ``Any``: each check's own class)."""
    return {o.check: evidence(o) for o in obs if o.target == name}


# --------------------------------------------------------------------------- the measuring layer's answers


def _answer(name: str, qtype: str, values: Iterable[str], *, nx: bool = False) -> Answer:
    if nx:
        return Answer(name, qtype, Status.NXDOMAIN, (), (name,), "the name does not exist (NXDOMAIN)", 11.0)
    records = tuple(RR(name, qtype, 300, v) for v in values)
    if not records:
        return Answer(name, qtype, Status.NODATA, (), (name,),
                      "the name exists but has no record of this type", 9.0)
    return Answer(name, qtype, Status.OK, records, (name,), None, 8.0)


def _family(address: str) -> str:
    return "v6" if ":" in address else "v4"


def _timings(https: bool, slow: bool) -> dict[str, float]:
    k = 2.0 if slow else 1.0
    t = {"connect_ms": 10.0 * k}
    if https:
        t["tls_ms"] = 15.0 * k
    t["first_byte_ms"] = 15.0 * k if https else 25.0 * k
    t["body_ms"] = 2.0
    t["total_ms"] = sum(t.values())
    return t


def _html(url: str, address: str, http_status: int, text: str, timings: dict[str, float]) -> Page:
    body = text.encode()
    https = url.startswith("https:")
    return Page(url, address, Status.OK, http_status, None, "text/html; charset=utf-8", None, body, text,
                len(body), False, title_of(text), 9, timings, dict(TLS13) if https else None)


def _redirect(url: str, address: str, location: str, timings: dict[str, float]) -> Page:
    https = url.startswith("https:")
    return Page(url, address, Status.OK, 301, location, "text/html", None, b"", "", 0, False, None, 7,
                timings, dict(TLS13) if https else None)


def _port(address: str, port: int, f: frozenset[str]) -> Probe:
    """What a TCP connect to ``address``:``port`` gives."""
    if address in WEB_V6:
        if "self_fail" in f:
            return Probe(address, port, Status.UNREACHABLE, 0.1, "unreachable (Network is unreachable)")
        if "v6_closed" in f:
            return Probe(address, port, Status.TIMEOUT, 5000.0, "timed out")
        if "parity_gap" in f and address == WEB_V6[1] and port == 443:
            return Probe(address, port, Status.REFUSED, 0.6, "connection refused")
    return Probe(address, port, Status.OK, 1.2)


def _get(name: str, url: str, address: str, f: frozenset[str], probe: int | None = None) -> Page:
    """One GET of ``url`` pinned to ``address`` (``Fetcher.get``)."""
    https = url.startswith("https:")
    v6 = _family(address) == "v6"
    tcp = _port(address, 443 if https else 80, f)
    if tcp.status is not Status.OK:
        error = "timed out (connecting)" if tcp.status is Status.TIMEOUT else tcp.error
        return Page(url, address, tcp.status, error=error, timings={"total_ms": tcp.elapsed_ms})
    t = _timings(https, slow=v6 and "latency_slow" in f)
    if v6 and https and "tls_timeout" in f:
        return Page(url, address, Status.TIMEOUT, error="timed out (during the TLS handshake)",
                    timings={"connect_ms": t["connect_ms"], "total_ms": 5000.0})
    if v6 and https and "tls_expired" in f:
        return Page(url, address, Status.TLS_ERROR,
                    error="certificate not valid: certificate verify failed: certificate has expired",
                    timings={"connect_ms": t["connect_ms"], "total_ms": 30.0})
    if v6 and ("chain_fail" in f or ("latency_flaky" in f and probe is not None and probe % 2)):
        partial = {k: v for k, v in t.items() if k in ("connect_ms", "tls_ms")}
        return Page(url, address, Status.TIMEOUT, error="timed out (waiting for the response)",
                    timings={**partial, "total_ms": 10000.0})
    host = urlsplit(url).hostname
    if host == PORTAL:
        return _html(url, address, 200, PORTAL_TEXT, t)
    if not https:
        return _redirect(url, address, f"https://{name}/", t)
    if "dead_end" in f:
        return _redirect(url, address, f"https://{PORTAL}/", t)
    status = 203 if v6 and "status_differs" in f else 200
    return _html(url, address, status, NGINX if v6 and "same_site_low" in f else HOME, t)


def _follow(name: str, start: str, address: str, f: frozenset[str]) -> Chain:
    """``Fetcher.follow``: redirects followed by hand, each new host re-resolved in the family."""
    family = _family(address)
    chain = Chain(family, start)
    url, addr, host = start, address, name
    for _ in range(11):
        page = _get(name, url, addr, f)
        chain.hops.append(page)
        if page.status is not Status.OK:
            chain.status, chain.error = page.status, page.error
            return chain
        if page.location is None:
            return chain
        nxt = urlsplit(page.location).hostname or ""
        if nxt != host:
            if nxt == PORTAL and family == "v6":
                chain.status, chain.dead_end = Status.UNREACHABLE, PORTAL
                chain.error = f"redirect to {PORTAL}, which has no AAAA record (no IPv6)"
                return chain
            addr, host = (PORTAL_V4 if nxt == PORTAL else addr), nxt
        url = page.location
    raise AssertionError("redirect loop in the synthetic site")


def _tls(address: str, name: str, f: frozenset[str]) -> TlsResult:
    """The TLS handshake with ``address`` (``net.tls_handshake``)."""
    if _family(address) == "v6":
        if "tls_timeout" in f:
            return TlsResult(address, name, Status.TIMEOUT, None, None, None, None, None, None, 5000.0,
                             "timed out")
        if "tls_expired" in f:
            return TlsResult(address, name, Status.OK, False, "expired", 10, "TLSv1.3",
                             "TLS_AES_256_GCM_SHA384", EXPIRED_CERT, 30.0,
                             "certificate not valid: certificate has expired")
        if "cert_differs" in f:
            return TlsResult(address, name, Status.OK, True, None, None, "TLSv1.3", "TLS_AES_256_GCM_SHA384",
                             OTHER_CERT, 25.0, None)
    return TlsResult(address, name, Status.OK, True, None, None, "TLSv1.3", "TLS_AES_256_GCM_SHA384", CERT,
                     25.0, None)


def _zone(name: str, f: frozenset[str]) -> Zone:
    """The zone cut above ``name`` as ``dns.find_zone`` climbs to it."""
    ns = (f"ns1.{DOMAIN}", f"ns2.{DOMAIN}")
    if name == DOMAIN and "nxdomain" in f:  # the climb goes on to the parent
        return Zone("org", ("ns1.org", "ns2.org"), Status.OK, None, [
            {"name": DOMAIN, "status": "nxdomain", "records": []},
            {"name": "org", "status": "ok", "records": ["ns1.org", "ns2.org"]}])
    lookups: list[dict[str, Any]] = [] if name == DOMAIN else [
        {"name": name, "status": "nxdomain" if "nxdomain" in f else "nodata", "records": []}]
    return Zone(DOMAIN, ns, Status.OK, None, [*lookups, {"name": DOMAIN, "status": "ok", "records": list(ns)}])


def _name_servers(zone: str, f: frozenset[str]) -> list[tuple[str, list[str], str]]:
    """(name, AAAA values, A value) of the zone's name servers."""
    if zone != DOMAIN:
        return [(f"ns{i}.{zone}", [f"2001:db8:5300::{i}"], f"203.0.113.{60 + i}") for i in (1, 2)]
    out = []
    for i in (1, 2):
        no_v6 = "ns_no_v6" in f or (i == 2 and "ns_one_v6" in f)
        out.append((f"ns{i}.{DOMAIN}", [] if no_v6 else [f"2001:db8:53::{i}"], f"203.0.113.{52 + i}"))
    return out


def _ns_dead(address: str, f: frozenset[str]) -> bool:
    return "ns_dead" in f and address == "2001:db8:53::1"


def _ns_reply(address: str, transport: str, qname: str, qtype: str, f: frozenset[str]) -> ServerReply:
    """What the name server at ``address`` answers (authoritatively) to ``qname`` ``qtype``."""
    if ":" in address and "self_fail" in f:
        return ServerReply(address, transport, qname, qtype, Status.UNREACHABLE,
                           error=f"{transport.upper()}: Network is unreachable", elapsed_ms=0.1)
    if _ns_dead(address, f):
        return ServerReply(address, transport, qname, qtype, Status.TIMEOUT,
                           error=f"no answer over {transport.upper()} within 2 s", elapsed_ms=2000.0)
    if qtype == "SOA":  # the zone's own SOA (dns.ns_reach)
        soa = RR(qname, "SOA", 300, f"ns1.{qname}. hostmaster.{qname}. 1 7200 3600 1209600 300")
        return ServerReply(address, transport, qname, qtype, Status.OK, "NOERROR", True, answer=(soa,),
                           elapsed_ms=3.0)
    if "nxdomain" in f:
        return ServerReply(address, transport, qname, qtype, Status.NXDOMAIN, "NXDOMAIN", True, elapsed_ms=3.0)
    values = [] if "no_aaaa" in f else ([LINK_LOCAL] if "aaaa_unusable" in f else list(WEB_V6))
    answer = tuple(RR(qname, qtype, 300, v) for v in values)
    return ServerReply(address, transport, qname, qtype, Status.OK if answer else Status.NODATA, "NOERROR",
                       True, answer=answer, elapsed_ms=3.0)


class _NameServerNet:
    """The part of a :class:`Context` that :func:`v6scan.checks.dns.probe_ns` uses, answered by the
    synthetic name servers (nothing cached across scenarios)."""

    def __init__(self, f: frozenset[str]) -> None:
        self.f = f
        self.settings = CTX.settings

    async def cached(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]], ttl: float | None = None,
                     keep: Callable[[T], bool] | None = None) -> T:
        return await make()

    async def ask(self, server: str, qname: str, qtype: str, transport: str = "udp") -> ServerReply:
        return _ns_reply(server, transport, qname, qtype, self.f)


# --------------------------------------------------------------------------- the checks, per name


def _host(name: str, f: frozenset[str]) -> HostDNS:
    """The name's A and AAAA lookups (``dns.check_host``)."""
    nx = "nxdomain" in f
    a = _answer(name, "A", WEB_V4, nx=nx)
    v6: list[str] = []
    if not ("no_aaaa" in f or nx):
        v6 = [LINK_LOCAL] if "aaaa_unusable" in f else list(WEB_V6)
        if "aaaa_some_unusable" in f:
            v6.append(ULA)
    aaaa = _answer(name, "AAAA", v6, nx=nx)
    status, error = _combined_status(a, aaaa)
    return HostDNS(name, a, aaaa, status, error, elapsed_ms=12.0)


def _dns_host(h: HostDNS) -> list[Observation]:
    """``dns.resolve`` and ``dns.aaaa``."""
    resolve = ResolveEvidence(a=h.a.to_json(), aaaa=h.aaaa.to_json(), cname_chain=tuple(h.cname_chain))
    aaaa = AaaaEvidence.build(address_rows(CTX, h.aaaa), address_rows(CTX, h.a), tuple(h.aaaa.chain),
                              h.aaaa.to_json())
    return [observe("dns.resolve", h.name, h.status, resolve, h.error, h.elapsed_ms),
            observe("dns.aaaa", h.name, h.aaaa.status, aaaa, h.aaaa.error, h.aaaa.elapsed_ms)]


def _ns_host(ns: str, v6: list[str], v4: str) -> NsHost:
    aaaa, a = _answer(ns, "AAAA", v6), _answer(ns, "A", [v4])
    return NsHost(name=ns, aaaa=address_rows(CTX, aaaa), aaaa_status=str(aaaa.status), a=address_rows(CTX, a),
                  a_status=str(a.status))


def _dns_ns(name: str, f: frozenset[str]) -> list[Observation]:
    """``dns.ns_aaaa`` and ``dns.ns_reach``: the zone's name servers, their addresses, their SOA answers."""
    zone = _zone(name, f)
    assert zone.name is not None
    servers = [_ns_host(ns, v6, v4) for ns, v6, v4 in _name_servers(zone.name, f)]
    found = NameServers(zone, servers, {}, len(servers), CTX.settings.max_ns_hosts, 20.0, "")
    net = cast(Context, _NameServerNet(f))

    async def ask_all(zone: str) -> list[NsProbe]:  # as dns.ns_reach asks them
        return list(await asyncio.gather(*(probe_ns(net, zone, s.name, row, family, transport)
                                           for s in servers for family, rows in (("v6", s.aaaa), ("v4", s.a))
                                           for row in rows for transport in ("udp", "tcp"))))

    probes = tuple(asyncio.run(ask_all(zone.name)))
    assert probes
    return [observe("dns.ns_aaaa", name, Status.OK, NsAaaaEvidence.build(found), None, found.elapsed_ms),
            observe("dns.ns_reach", name, Status.OK, NsReachEvidence.build(zone.name, probes), None, 15.0)]


def _tried(ns: str, address: str, name: str, f: frozenset[str]) -> dict[str, Any]:
    reply = _ns_reply(address, "udp", name, "AAAA", f)
    row = {"ns": ns, "address": address, **reply.to_json()}
    row.pop("server", None)
    return row


def _dns_v6_path(name: str, f: frozenset[str]) -> Observation:
    """``dns.v6_path``: root -> org -> the zone, over IPv6 only (the walk's steps, as ``walk_v6`` records them)."""
    if "check_error" in f:  # the engine's record of a probe that raised
        return Observation("dns.v6_path", name, Status.ERROR, {"exception": "RuntimeError: boom"},
                           "internal error: RuntimeError: boom")
    zone = _zone(name, f).name
    assert zone is not None
    steps: list[dict[str, Any]] = []

    def broken(status: Status, at: str, reason: str, queries: int) -> Observation:
        ev = V6PathEvidence(qname=name, steps=tuple(steps), result="broken", broken_at=at, reason=reason,
                            queries=queries)
        return observe("dns.v6_path", name, status, ev, reason, 30.0)

    def reached(rcode: str, queries: int, answer: tuple[str, ...]) -> Observation:
        ev = V6PathEvidence(qname=name, steps=tuple(steps), result="reached", rcode=rcode, queries=queries,
                            answer=answer)
        return observe("dns.v6_path", name, Status.OK, ev, None, 30.0)

    root_row = {"ns": ROOT[0], "address": ROOT[1], "status": "ok", "rcode": "NOERROR", "aa": False,
                "elapsed_ms": 20.0}
    if "self_fail" in f:
        steps.append({"zone": ".", "qname": name, "servers": [
            {**root_row, "status": "unreachable", "rcode": None, "error": "UDP: Network is unreachable"}]})
        return broken(Status.UNREACHABLE, ".", f"no name server of . answered over IPv6 ({ROOT[0]} "
                      f"{ROOT[1]}: unreachable)", 1)
    org_v6 = [("ns1.org", "2001:db8:5300::1"), ("ns2.org", "2001:db8:5300::2")]
    steps.append({"zone": ".", "qname": name, "servers": [root_row], "answered_by": f"{ROOT[0]} ({ROOT[1]})",
                  "referral": {"zone": "org", "ns": ["ns1.org", "ns2.org"],
                               "v6_servers": [f"{n} {a}" for n, a in org_v6]}})
    org_step: dict[str, Any] = {"zone": "org", "qname": name,
                                "servers": [{"ns": "ns1.org", "address": org_v6[0][1], "status": "ok",
                                             "rcode": "NOERROR", "aa": False, "elapsed_ms": 8.0}],
                                "answered_by": f"ns1.org ({org_v6[0][1]})"}
    steps.append(org_step)
    if zone == "org":
        org_step["servers"][0].update(status="nxdomain", rcode="NXDOMAIN", aa=True)
        return reached("NXDOMAIN", 2, ())
    servers = [(ns, a) for ns, v6, _ in _name_servers(zone, f) for a in v6]
    ns_names = [ns for ns, _, _ in _name_servers(zone, f)]
    if "v6_path_broken" in f:
        servers = []  # no AAAA glue in the parent, and in-bailiwick names cannot be looked up
    org_step["referral"] = {"zone": zone, "ns": ns_names, "v6_servers": [f"{n} {a}" for n, a in servers]}
    if not servers:
        return broken(Status.UNREACHABLE, zone, f"none of the name servers of {zone} ({', '.join(ns_names)})"
                      " has an IPv6 address (no AAAA glue or record)", 2)
    tried = []
    for ns, addr in servers:
        tried.append(_tried(ns, addr, name, f))
        if not _ns_dead(addr, f):
            steps.append({"zone": zone, "qname": name, "servers": tried, "answered_by": f"{ns} ({addr})"})
            reply = _ns_reply(addr, "udp", name, "AAAA", f)
            return reached(str(reply.rcode), 2 + len(tried),
                           tuple(f"{r.name} {r.type} {r.data}" for r in reply.answer))
    steps.append({"zone": zone, "qname": name, "servers": tried})
    listed = ", ".join(f"{t['ns']} {t['address']}: {t['status']}" for t in tried)
    return broken(Status.TIMEOUT, zone, f"no name server of {zone} answered over IPv6 ({listed})",
                  2 + len(tried))


def _web_reach(st: WebState) -> Observation:
    rows = [ReachRow(address=x, family=st.family(x),
                     ports={str(p): PortProbe.from_json(st.port_json(x, p)) for p in PORTS})
            for x in [*st.v6, *st.v4]]
    assert rows  # the world's names resolve to an IPv4 address at least
    ev = ReachEvidence.build(rows, tuple(BlockedRow.from_json(b) for b in st.blocked),
                             st.cap_rows(CTX.settings.max_addresses))
    return observe("web.reach", st.name, Status.OK, ev, None, 5.0)


def _web_tls(st: WebState, f: frozenset[str]) -> Observation:
    targets = [x for x in [*st.v6, *st.v4] if st.open(x, 443)]
    rows = [TlsRow.from_json({"family": st.family(x), **_tls(x, st.name, f).to_json()}) for x in targets]
    rows += [TlsRow(family=st.family(x), address=x, status=NOT_ATTEMPTED,
                    error=f"port 443: {st.reach[(x, 443)].status}") for x in [*st.v6, *st.v4] if x not in targets]
    ev = TlsEvidence.build(rows, st.cap_rows(CTX.settings.max_addresses))
    if not targets:
        return observe("web.tls", st.name, Status.SKIPPED, ev, "no address accepts on port 443", 40.0)
    return observe("web.tls", st.name, Status.OK, ev, None, 40.0)


def _fetch(st: WebState, f: frozenset[str]) -> None:
    """web.http's fetches (``webstate.fetched``): the chain from every address open on 443 or 80."""
    for x in [*st.v6, *st.v4]:
        url = start_url(st, x)
        if url is None:
            st.not_fetched.append({"address": x, "family": st.family(x),
                                   "reason": "neither port 80 nor 443 accepts connections"})
        else:
            st.chains.append(_follow(st.name, url, x, f))


def _web_http(st: WebState) -> Observation:
    ev = HttpEvidence.build([ChainRow.from_json(c.to_json()) for c in st.chains],
                            [NotFetchedRow.from_json(r) for r in st.not_fetched], None,
                            st.cap_rows(CTX.settings.max_addresses))
    if not st.chains:
        return observe("web.http", st.name, Status.SKIPPED, ev, "no address serves HTTP or HTTPS", 80.0)
    return observe("web.http", st.name, Status.OK, ev, None, 80.0)


def _compared(c: Chain, ref: Chain) -> Compared:
    """The final page of ``c`` compared with the IPv4 page of ``ref`` (``similarity.compare``)."""
    page, rp = c.final, ref.final
    assert page is not None and rp is not None
    a, b = PageSummary.of(page), PageSummary.of(rp)
    cmp = compare(a.to_json(), b.to_json(), page.text, rp.text)
    row = SameSiteRow(address=c.hops[0].address, final_address=page.address, url=page.url,
                      http_status=page.http_status, title=page.title, size=page.size, cert=None,
                      compared_with=rp.address, similarity=cmp.similarity, quick_ratio=cmp.quick_ratio,
                      same_status=cmp.same_status, same_title=cmp.same_title, differences=tuple(cmp.differences))
    return Compared(row, a, b, cmp.same_final_path)


def _web_same_site(st: WebState) -> Observation:
    v6 = [c for c in st.chains if c.family == "v6" and c.final is not None]
    # the world has one IPv4 address: its page is the only reference every IPv6 page is compared with
    refs = [c for c in st.chains if c.family == "v4" and c.final is not None]
    assert len(refs) <= 1
    if not v6 or not refs:
        missing = " and ".join(fam for fam, have in (("IPv6", v6), ("IPv4", refs)) if not have)
        ev = SameSiteEvidence(v6=PageSummary.of(v6[0].final) if v6 and v6[0].final else None,
                              v4=PageSummary.of(refs[0].final) if refs and refs[0].final else None,
                              ipv6_only=bool(st.v6) and not st.v4)
        return observe("web.same_site", st.name, Status.SKIPPED, ev, f"no final page over {missing} to compare")
    ev = SameSiteEvidence.build([_compared(c, refs[0]) for c in v6], [refs[0].hops[0].address])
    return observe("web.same_site", st.name, Status.OK, ev)


def _latency_family(st: WebState, addrs: list[str], f: frozenset[str]) -> LatencyFamily | None:
    """``latency_probes`` GETs of the first of ``addrs`` that serves the site (one try each)."""
    addr = next((x for x in addrs if start_url(st, x)), None)
    if addr is None:
        return None
    url = start_url(st, addr)
    assert url is not None
    pages = [_get(st.name, url, addr, f, probe=i) for i in range(CTX.settings.latency_probes)]
    probes = tuple(LatencyProbe.from_json({"status": str(p.status), **{k: round(v, 3) for k, v in p.timings.items()},
                                           **({"error": p.error} if p.error else {})}) for p in pages)
    return LatencyFamily(address=addr, url=url, probes=probes)


def _web_latency(st: WebState, f: frozenset[str]) -> Observation:
    found = {"v6": _latency_family(st, st.v6, f), "v4": _latency_family(st, st.v4, f)}
    families = {fam: row for fam, row in found.items() if row is not None}
    ev = LatencyEvidence.build(families, CTX.settings.latency_probes, bool(st.v6) and not st.v4)
    if not families:
        return observe("web.latency", st.name, Status.SKIPPED, ev, "no address serves HTTP or HTTPS", 400.0)
    return observe("web.latency", st.name, Status.OK, ev, None, 400.0)


def _web(h: HostDNS, f: frozenset[str]) -> list[Observation]:
    """The web checks of a resolving name, stage after stage as the engine runs them."""
    st = web_state(CTX, h)
    st.reach = {(x, p): _port(x, p, f) for x in [*st.v6, *st.v4] for p in PORTS}
    obs = [_web_reach(st), _web_tls(st, f)]
    _fetch(st, f)
    return [*obs, _web_http(st), _web_same_site(st), _web_latency(st, f)]


def name_obs(name: str, flags: Iterable[str] = ()) -> list[Observation]:
    """Every per-name observation of ``name`` (engine order: A/AAAA, web, NS, v6 path)."""
    return list(_name_obs(name, frozenset(flags)))


@functools.cache
def _name_obs(name: str, f: frozenset[str]) -> tuple[Observation, ...]:
    h = _host(name, f)
    obs = _dns_host(h)
    if h.resolved:
        obs += _web(h, f)
    else:  # the engine's record of checks it did not run
        obs += [observe(i, name, Status.SKIPPED, None, "the name did not resolve") for i in WEB_IDS]
    obs += _dns_ns(name, f)
    obs.append(_dns_v6_path(name, f))
    return tuple(obs)


def _mx_host(preference: int, host: str, v6: list[str], v4: str) -> MxHost:
    aaaa, a = _answer(host, "AAAA", v6), _answer(host, "A", [v4])
    return MxHost.build(preference=preference, host=host, aaaa_status=str(aaaa.status), aaaa=address_rows(CTX, aaaa),
                        a_status=str(a.status), a=a.values)


def mail_obs(domain: str, f: frozenset[str]) -> Observation:
    """``mail.mx_aaaa`` of the target domain."""
    lookup = _answer(domain, "MX", ["10 mx1.example.org.", "20 mx2.example.org."], nx="nxdomain" in f)
    if lookup.status is not Status.OK:
        return observe("mail.mx_aaaa", domain, lookup.status, MxEvidence(domain=domain, lookup=lookup.to_json()),
                       f"MX lookup: {lookup.error}", 9.0)
    hosts = (_mx_host(10, "mx1.example.org", ["2001:db8:25::1"], "203.0.113.25"),
             _mx_host(20, "mx2.example.org", [] if "mx_no_v6" in f else ["2001:db8:25::2"], "203.0.113.26"))
    return observe("mail.mx_aaaa", domain, Status.OK, MxEvidence(domain=domain, lookup=lookup.to_json(), mx=hosts),
                   None, 9.0)


def self_obs(domain: str, f: frozenset[str]) -> Observation:
    """``self.v6`` (recorded with the target)."""
    if "self_fail" in f:
        return observe("self.v6", domain, Status.UNREACHABLE,
                       SelfEvidence(route=False, scanner_side="self-check"),
                       "this machine has no IPv6 route (Network is unreachable)")
    return observe("self.v6", domain, Status.OK, SelfEvidence(
        route=True, source=SELF_SOURCE, source_class=classify(SELF_SOURCE).kind,
        note="route and source address only: give --self-check ADDR[:PORT] to prove connectivity"))


def target_obs(domain: str, flags: Iterable[str] = ()) -> list[Observation]:
    """The once-per-target observations: ``mail.mx_aaaa`` and ``self.v6`` (recorded under the domain)."""
    f = frozenset(flags)
    return [mail_obs(domain, f), self_obs(domain, f)]


def site(flags: Iterable[str] = (), www: Iterable[str] | None = None) -> list[Observation]:
    """A whole target: the domain with ``flags``, optionally www. with ``www`` (+ the target facts)."""
    f = frozenset(flags)
    obs = name_obs(DOMAIN, f)
    if www is not None:
        obs += name_obs(WWW, frozenset(www) | (f & TARGET_LEVEL))
    return obs + target_obs(DOMAIN, f)


def judge(flags: Iterable[str] = (), policy: str | Policy = "default",
          www: Iterable[str] | None = None) -> SiteVerdict:
    """The verdict of the target built from ``flags`` (and ``www``) under ``policy``."""
    w = None if www is None else frozenset(www)
    if isinstance(policy, str):
        return _judge_builtin(frozenset(flags), policy, w)
    return score_target(DOMAIN, site(flags, w), policy)


@functools.cache
def _judge_builtin(flags: frozenset[str], policy: str, www: frozenset[str] | None) -> SiteVerdict:
    return score_target(DOMAIN, site(flags, www), POLICIES[policy])


def canonical(sv: SiteVerdict) -> str:
    """A SiteVerdict as text (``Reason`` compares by identity, so ``==`` cannot be used)."""
    return json.dumps({"verdict": sv.verdict, "score": sv.score, "points": sv.points, "names": sv.names,
                       "results": [r.to_json() for r in sv.results],
                       "reasons": [r.to_json() for r in sv.reasons]}, sort_keys=True, default=str)


def rank(verdict: str) -> int:
    return VERDICTS.index(verdict)
