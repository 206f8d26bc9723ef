"""internet.nl's IPv6 scoring, reproduced from the evidence v6scan records.  Pure: no I/O.

The rules are those of internet.nl's code (github.com/internetstandards/Internet.nl,
commit ``cec0e01d0b30``, 2026-07-14); every rule below names the file and lines it
reproduces:

* ``checks/tasks/ipv6.py``: the tests (``do_ns``, ``do_web``, ``do_mx``,
  ``get_domain_results``, ``simhash``) and the ``callback`` that sets each subtest;
* ``checks/resolver.py``: the name-server reachability probe;
* ``checks/scoring.py``: the points (10 full, 2 partial, 0; 2 for the same website);
* ``checks/categories.py``: which subtests count towards the category's maximum;
* ``checks/models.py`` and ``checks/probes.py``: the sum and the truncated percentage.

Web IPv6 category (22 points): name servers (``ns_reach``, 10: every name server
graded full 10 / partial 2 / none 0 and averaged), the web server (``web_reach``,
10: graded the same way from TCP 80-or-443 connects) and the same website
(``web_ipv46``, 2).  An IPv6-only site's ``web_ipv46`` is not tested and not counted:
its maximum is 20.  Mail IPv6 category: name servers (10) and mail servers
(``mx_reach``, 10: TCP 25, averaged), the mail servers counted only when the domain
has MX hosts (otherwise 10 points maximum).

Where v6scan's evidence cannot show what internet.nl's probe would see, the
nearest reading is used and the breakdown says so under ``differences``.

Each observation's evidence is read once, with its check's evidence class (any stored version).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from v6scan.checks.base import Evidence
from v6scan.checks.dns import AddressRow
from v6scan.checks.dns_aaaa import AaaaEvidence
from v6scan.checks.dns_ns_aaaa import NsAaaaEvidence
from v6scan.checks.dns_ns_reach import NsProbe, NsReachEvidence
from v6scan.checks.mail import MxEvidence
from v6scan.checks.mail_mx_reach import MxReachEvidence, SmtpServer
from v6scan.checks.web_http import ChainRow, HttpEvidence
from v6scan.checks.web_reach import ReachEvidence, ReachRow
from v6scan.checks.web_same_site import SameSiteEvidence
from v6scan.checks.web_tls import TlsEvidence
from v6scan.checks.webstate import BlockedRow
from v6scan.model import JSON, Observation, Status

__all__ = ["SOURCE", "InternetNLScore", "ServerResult", "score_internetnl"]

#: the code reproduced here
SOURCE = "github.com/internetstandards/Internet.nl@cec0e01d0b3012ea6f189c88607894a6ccf5fd6b"

# checks/scoring.py 50-53, 66-68, 82-88, 227-229
FULL = 10
PARTIAL = 2
NO_POINTS = 0
SIMHASH_OK = 2
#: internetnl/settings.py 494: ``SIMHASH_MAX = 10`` (distance = 100 - quick_ratio * 100)
SIMHASH_MAX = 10
#: checks/tasks/shared.py 27
MAX_MAILSERVERS = 10
WEB_PORTS = (80, 443)

Grade = Literal["full", "partial", "none"]

_R_GRADE = "checks/tasks/ipv6.py:374-379 get_domain_results (no good IPv6 address: 0; a bad IPv6 address or a port" \
           " reachable over IPv4 only: 2; else 10)"
_R_NS_PROBE = "checks/resolver.py:106-112 dns_check_ns_connectivity (NS query with CD over UDP, TCP only when" \
              " truncated, 5 s; any response, whatever its rcode, is good)"
_R_NS_AVG = "checks/tasks/ipv6.py:474-488 do_ns (sum / number of name servers)"
_R_NS_LEAVE_OUT = "checks/tasks/ipv6.py:477-482 do_ns (with at least two name servers with an AAAA, those" \
                  " without one are left out)"
_R_NS_ONE = "checks/tasks/ipv6.py:484-486 do_ns (a single name server: at most half the points)"
_R_NS_INT = "checks/tasks/ipv6.py:496 do_ns (int(): truncated)"
_R_WEB_CONNECT = "checks/tasks/ipv6.py:325-345 test_connectivity (TCP connect, 4 s; an address is good if port 80" \
                 " or 443 connects)"
_R_PERCENT = "checks/probes.py:306-311 (int(100.0 / max_score * total)); checks/models.py:156-167 (sum of the" \
             " counted score fields); checks/categories.py:48-61 (counted: worst status FAIL with a score field)"


@dataclass(frozen=True)
class ServerResult:
    """One server as ``get_domain_results`` sees it (checks/tasks/ipv6.py 352-389)."""

    name: str
    v6_good: tuple[str, ...]
    v6_bad: tuple[str, ...]
    v4_good: tuple[str, ...]
    v4_bad: tuple[str, ...]
    #: ports reachable on some IPv4 address but on no IPv6 address (``v6_conn_diff``, line 372)
    conn_diff: tuple[int, ...]
    grade: Grade
    points: int
    notes: tuple[str, ...] = ()

    @property
    def has_aaaa(self) -> bool:
        return bool(self.v6_good or self.v6_bad)

    @property
    def has_a(self) -> bool:
        return bool(self.v4_good or self.v4_bad)

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "name": self.name, "grade": self.grade, "points": self.points,
            "v6_good": list(self.v6_good), "v6_bad": list(self.v6_bad),
            "v4_good": list(self.v4_good), "v4_bad": list(self.v4_bad),
            "conn_diff": list(self.conn_diff), "rule": _R_GRADE,
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class InternetNLScore:
    """internet.nl's IPv6 categories for one name.

    ``points``/``max_points``/``percent``: the website test's IPv6 category (22 points,
    20 for an IPv6-only site); ``mail_*``: the mail test's IPv6 category (``None`` without
    mail observations, or when internet.nl would not test the domain's mail at all).
    ``testable`` is False when internet.nl would refuse the website test (the name has
    neither A nor AAAA); ``inconclusive`` when the scanner's own IPv6 failed.
    """

    name: str
    points: float
    max_points: float
    percent: int
    mail_points: float | None
    mail_max_points: float | None
    mail_percent: int | None
    breakdown: dict[str, JSON]
    testable: bool = True
    inconclusive: bool = False

    def to_json(self) -> dict[str, JSON]:
        return {
            "name": self.name, "source": SOURCE, "testable": self.testable,
            "inconclusive": self.inconclusive, "points": self.points, "max_points": self.max_points,
            "percent": self.percent, "mail_points": self.mail_points,
            "mail_max_points": self.mail_max_points, "mail_percent": self.mail_percent,
            "breakdown": self.breakdown,
        }


# --------------------------------------------------------------------------- evidence helpers


E = TypeVar("E", bound=Evidence)


@dataclass(frozen=True)
class _Read(Generic[E]):
    """An observation and its evidence, read once with its check's evidence class (any version)."""

    o: Observation
    ev: E


def _find(observations: Sequence[Observation], check: str, name: str | None = None) -> Observation | None:
    """The observation of ``check``, the one of ``name`` first."""
    found = [o for o in observations if o.check == check]
    for o in found:
        if name is None or o.target == name:
            return o
    return found[0] if found else None


def _read(observations: Sequence[Observation], check: str, evidence: type[E],
          name: str | None = None) -> _Read[E] | None:
    """The observation of ``check`` (the one of ``name`` first) with its typed ``evidence``."""
    o = _find(observations, check, name)
    return None if o is None else _Read(o, evidence.from_json(o.evidence))


def _mapped(address: str) -> bool:
    """IPv4-mapped IPv6 addresses are dropped before testing (checks/tasks/ipv6.py 296-309)."""
    try:
        return ipaddress.IPv6Address(address).ipv4_mapped is not None
    except ValueError:
        return False


def _v6_addresses(rows: Sequence[AddressRow]) -> list[str]:
    return [r.address for r in rows if r.address and not _mapped(r.address)]


def _grade(v6_good: list[str], v6_bad: list[str], conn_diff: list[int]) -> tuple[Grade, int]:
    """checks/tasks/ipv6.py 374-379."""
    if not v6_good:
        return "none", NO_POINTS
    if v6_bad or conn_diff:
        return "partial", PARTIAL
    return "full", FULL


def _percent(total: float, max_score: float) -> int:
    """checks/probes.py 307-311, the same float arithmetic."""
    if max_score == 0:
        return 0
    return int(100.0 / max_score * total)


# --------------------------------------------------------------------------- name servers


def _answered(probe: NsProbe | None) -> bool:
    """Any DNS response at all, whatever its rcode or AA flag (checks/resolver.py 109-110)."""
    if probe is None or probe.status == str(Status.BLOCKED):
        return False
    if probe.rcode is not None:
        return True
    if probe.successes is not None and probe.successes > 0:
        return True
    return bool(probe.answered)


def _ns_address_good(probes: Sequence[NsProbe], ns: str, address: str, notes: list[str]) -> bool:
    """UDP first; TCP only when the UDP answer was truncated (dnspython ``udp_with_fallback``)."""
    rows = [p for p in probes if p.ns == ns and p.address == address]
    udp = next((p for p in rows if p.transport == "udp"), None)
    tcp = next((p for p in rows if p.transport == "tcp"), None)
    if udp is None and tcp is None:
        notes.append(f"{address}: not probed (v6scan made no query to it; internet.nl would have)")
        return False
    if udp is not None and udp.status == str(Status.BLOCKED):
        notes.append(f"{address}: not contacted (outside the allowed networks); counted as not answering")
        return False
    if udp is None:
        notes.append(f"{address}: no UDP probe recorded; the TCP probe decides")
        return _answered(tcp)
    if not _answered(udp):
        if _answered(tcp):
            notes.append(f"{address}: answers over TCP only; internet.nl asks over UDP and tries TCP only"
                         " after a truncated answer")
        return False
    if udp.tc:
        return _answered(tcp)
    rcode, aa = udp.rcode, udp.aa
    if rcode not in (None, "NOERROR", "NXDOMAIN") or aa is False:
        notes.append(f"{address}: answered {rcode} (aa={aa}): any answer is good for internet.nl")
    return True


def _name_servers(ns_aaaa: _Read[NsAaaaEvidence] | None, ns_reach: _Read[NsReachEvidence] | None,
                  differences: list[str]) -> tuple[int, dict[str, JSON]]:
    """``ns_reach`` points and the ``ns_aaaa``/``ns_reach`` breakdown (checks/tasks/ipv6.py 435-496)."""
    if ns_aaaa is None or ns_aaaa.o.status is not Status.OK or not ns_aaaa.ev.ns:
        why = "no dns.ns_aaaa observation" if ns_aaaa is None else (
            ns_aaaa.o.error or f"NS lookup: {ns_aaaa.o.status}")
        part: dict[str, JSON] = {
            "ns_aaaa": {"status": "bad", "points": 0, "rule": "checks/tasks/ipv6.py:217-218 callback"},
            "ns_reach": {"status": "not_tested", "points": 0, "max": FULL, "counted": True, "servers": [],
                         "why": f"no name servers ({why})",
                         "rule": "checks/tasks/ipv6.py:444-474 do_ns (no NS: 0 points); checks/categories.py:"
                                 "486-497 (still counted)"},
        }
        return NO_POINTS, part
    probes = ns_reach.ev.probes if ns_reach is not None else ()
    if ns_reach is None or not probes:
        differences.append("dns.ns_reach has no probes: every name-server address counts as not answering")
    servers: list[ServerResult] = []
    for s in ns_aaaa.ev.ns:
        name = s.name
        notes: list[str] = []
        v6 = _v6_addresses(s.aaaa)
        v4 = [r.address for r in s.a if r.address]
        v6_good = [a for a in v6 if _ns_address_good(probes, name, a, notes)]
        v4_good = [a for a in v4 if _ns_address_good(probes, name, a, [])]
        v6_bad = [a for a in v6 if a not in v6_good]
        v4_bad = [a for a in v4 if a not in v4_good]
        conn_diff = [53] if v4_good and not v6_good else []
        grade, pts = _grade(v6_good, v6_bad, conn_diff)
        servers.append(ServerResult(name, tuple(v6_good), tuple(v6_bad), tuple(v4_good), tuple(v4_bad),
                                    tuple(conn_diff), grade, pts, tuple(notes)))
    total = sum(s.points for s in servers)
    with_aaaa = [s for s in servers if s.has_aaaa]
    counted = len(servers)
    left_out: list[str] = []
    rules = [_R_GRADE, _R_NS_PROBE, _R_NS_AVG]
    if len(with_aaaa) > 1:
        left_out = [s.name for s in servers if not s.has_aaaa]
        counted -= len(left_out)
        if left_out:
            rules.append(_R_NS_LEAVE_OUT)
    score: float = 0.0
    if counted == 1:
        score = min(FULL / 2, float(total))
        rules.append(_R_NS_ONE)
        formula = f"min(5, {total})"
    elif counted > 1:
        score = float(total) / (counted * FULL) * FULL
        formula = f"{total} / {counted}"
    else:
        formula = "no name server"
    points = int(score)
    rules.append(_R_NS_INT)
    if not with_aaaa:
        aaaa_status, aaaa_rule = "bad", "checks/tasks/ipv6.py:217-218 callback (no name server has an AAAA)"
    elif len(with_aaaa) > 1:
        aaaa_status, aaaa_rule = "good", "checks/tasks/ipv6.py:220-221 callback (two or more name servers" \
                                         " have an AAAA)"
    else:
        aaaa_status, aaaa_rule = "only_one", "checks/tasks/ipv6.py:222-223 callback (only one name server" \
                                             " has an AAAA: fail, no points of its own)"
    if not with_aaaa:
        reach_status = "not_tested"
    elif any(s.v6_bad for s in servers):
        reach_status = "bad"
    else:
        reach_status = "good"
    part = {
        "ns_aaaa": {"status": aaaa_status, "points": 0, "with_aaaa": [s.name for s in with_aaaa],
                    "rule": aaaa_rule},
        "ns_reach": {"status": reach_status, "points": points, "max": FULL, "counted": True,
                     "zone": ns_aaaa.ev.zone, "servers": [s.to_json() for s in servers],
                     "left_out": left_out, "sum": total, "divisor": counted, "formula": formula,
                     "score": round(score, 4), "rules": rules},
    }
    return points, part


# --------------------------------------------------------------------------- web server


def _open_ports(row: ReachRow | None) -> list[int]:
    if row is None:
        return []
    out = []
    for p in WEB_PORTS:
        probe = row.ports.get(str(p))
        if probe is not None and probe.status == str(Status.OK):
            out.append(p)
    return out


@dataclass(frozen=True)
class _Web:
    server: ServerResult
    v6: tuple[str, ...]
    v4: tuple[str, ...]
    ports_v6: frozenset[int]
    ports_v4: frozenset[int]


def _web_server(name: str, aaaa: _Read[AaaaEvidence] | None, reach: _Read[ReachEvidence] | None,
                differences: list[str]) -> _Web:
    """checks/tasks/ipv6.py 599-607 (get_domain_results on 80 and 443) and 325-349."""
    rows = {r.address: r for r in reach.ev.addresses} if reach is not None else {}
    blocked = reach.ev.blocked if reach is not None else ()
    # dns.aaaa's probe lists the name's addresses of both families (an observation the engine made,
    # for an internal error or a check not run, lists none; nor does a name without addresses, whose
    # web.reach has none either)
    if aaaa is not None and (aaaa.ev.addresses or aaaa.ev.v4_addresses):
        v6_all = [r.address for r in aaaa.ev.addresses if r.address]
        v4_all = [r.address for r in aaaa.ev.v4_addresses if r.address]
    else:  # no dns.aaaa: the addresses web.reach accounted for
        every: list[ReachRow | BlockedRow] = [*rows.values(), *blocked]
        v6_all = [r.address for r in every if r.family == "v6"]
        v4_all = [r.address for r in every if r.family == "v4"]
    notes: list[str] = []
    dropped = [a for a in v6_all if _mapped(a)]
    if dropped:
        notes.append("IPv4-mapped AAAA dropped, as internet.nl does (checks/tasks/ipv6.py:296-309): "
                     + ", ".join(dropped))
    v6 = [a for a in v6_all if not _mapped(a)]
    blocked_set = {b.address for b in blocked}
    not_contacted = [a for a in [*v6, *v4_all] if a not in rows]
    capped = [a for a in not_contacted if a not in blocked_set] if reach is not None and reach.ev.caps_hit else []
    if capped:  # beyond v6scan's max_addresses cap: unknown, so left out rather than counted as failing
        shown = ", ".join(capped[:8]) + (", ..." if len(capped) > 8 else "")
        notes.append(f"not probed ({len(capped)} addresses beyond the max_addresses cap), left out of the"
                     f" grade (internet.nl would try them): {shown}")
        differences.append("web.reach probed the first max_addresses addresses of each family only")
        v6 = [a for a in v6 if a not in capped]
        v4_all = [a for a in v4_all if a not in capped]
        not_contacted = [a for a in not_contacted if a not in capped]
    if not_contacted:
        why = [f"{a} ({'outside the allowed networks' if a in blocked_set else 'not probed'})" for a in not_contacted]
        notes.append("not contacted by v6scan, counted as not connecting (internet.nl would try them): "
                     + ", ".join(why))
        if any(a not in blocked_set for a in not_contacted):
            differences.append("web.reach did not probe every address of the name")
    ports = {a: _open_ports(rows.get(a)) for a in [*v6, *v4_all]}
    v6_good = [a for a in v6 if ports[a]]
    v4_good = [a for a in v4_all if ports[a]]
    ports_v6 = frozenset(p for a in v6 for p in ports[a])
    ports_v4 = frozenset(p for a in v4_all for p in ports[a])
    conn_diff = sorted(ports_v4 - ports_v6)
    grade, pts = _grade(v6_good, [a for a in v6 if a not in v6_good], conn_diff)
    server = ServerResult(name, tuple(v6_good), tuple(a for a in v6 if a not in v6_good), tuple(v4_good),
                          tuple(a for a in v4_all if a not in v4_good), tuple(conn_diff), grade, pts,
                          tuple(notes))
    return _Web(server, tuple(v6), tuple(v4_all), ports_v6, ports_v4)


# --------------------------------------------------------------------------- same website


@dataclass(frozen=True)
class _Response:
    """What internet.nl's GET over one family would have come back with: a page, a redirect to a host
    v6scan could not follow in that family, or a response v6scan did not read (``why``)."""

    kind: Literal["page", "redirect", "uncompared"]
    address: str
    status: int | None = None
    location: str | None = None
    chain: ChainRow | None = None
    why: str | None = None


def _tls_unverified(tls: _Read[TlsEvidence] | None, address: str) -> bool:
    """web.tls completed the handshake without verification where verification failed."""
    if tls is None:
        return False
    return any(r.address == address and r.status == str(Status.OK) and r.valid is False
               for r in tls.ev.addresses)


def _response(chains: Sequence[ChainRow], tls: _Read[TlsEvidence] | None) -> _Response | None:
    """The first address whose GET got a response (checks/http_client.py 119-137: addresses in DNS
    order, the first that answers; redirects followed, any status; certificates not verified)."""
    for c in chains:
        hops = c.hops
        first = hops[0].address if hops else ""
        if c.final is not None and c.final.http_status is not None:
            return _Response("page", first, status=c.final.http_status, chain=c)
        if c.dead_end and hops and hops[-1].location:
            return _Response("redirect", first, location=hops[-1].location, chain=c)
        for h in hops:
            err = h.error or ""
            if h.status == str(Status.TLS_ERROR) and ("certificate" in err.lower() or _tls_unverified(tls, h.address)):
                return _Response("uncompared", first, chain=c,
                                 why=f"its certificate did not verify ({err}); internet.nl does not verify"
                                     " certificates (checks/http_client.py:96-116)")
        last = hops[-1] if hops else None
        if last is not None and last.http_status is not None and not last.location \
                and last.status != str(Status.OK):
            return _Response("uncompared", first, status=last.http_status, chain=c,
                             why=f"v6scan did not read its body ({last.error or last.status})")
    return None


def _passes_through(chain: ChainRow | None, location: str) -> bool:
    return chain is not None and any(h.location == location or h.url == location for h in chain.hops)


def _ratio(same: _Read[SameSiteEvidence] | None, address: str, differences: list[str]) -> float | None:
    """quick_ratio of the page of ``address`` against IPv4 (web.same_site), if it was compared."""
    if same is None or same.o.status is not Status.OK:
        return None
    ev = same.ev
    rows = ev.addresses or ()
    row = next((r for r in rows if r.address == address), None)
    top_addr = ev.v6.address if ev.v6 is not None else ""
    if row is not None:
        if row.quick_ratio is not None:  # None: a row stored before quick_ratio was recorded
            return float(row.quick_ratio)
        if row.final_address == top_addr and ev.quick_ratio is not None:
            return float(ev.quick_ratio)
        if row.similarity is not None:
            differences.append("web.same_site has no quick_ratio for this address: its (stricter) normalised"
                               " similarity stands in for internet.nl's quick_ratio")
            return float(row.similarity)
        return None
    if rows:
        return None
    for value in (ev.quick_ratio, ev.similarity):
        if value is not None:
            return float(value)
    return None


def _same_website(web: _Web, http: _Read[HttpEvidence] | None, same: _Read[SameSiteEvidence] | None,
                  tls: _Read[TlsEvidence] | None, differences: list[str]) -> tuple[int, bool, dict[str, JSON]]:
    """``web_ipv46``: (points, counted, breakdown); checks/tasks/ipv6.py 615-620, 499-586, 278-289."""
    s = web.server
    base: dict[str, JSON] = {"max": SIMHASH_OK}
    if s.v6_good and not s.has_a:
        base.update(status="no_v4", points=SIMHASH_OK, counted=False,
                    why="IPv6-only: 2 points assigned (ipv6.py:615-618) but web_ipv46 is set not-tested"
                        " (callback 289, categories.py:583-584) and left out of the maximum (categories.py:"
                        "48-61): the category is out of 20",
                    rule="checks/tasks/ipv6.py:615-618, 289; checks/categories.py:583-584")
        return NO_POINTS, False, base
    if not s.v6_good:
        base.update(status="not_tested", points=0, counted=True,
                    why="no IPv6 address connects: not compared, 0 points, still counted",
                    rule="checks/tasks/ipv6.py:593, 619; callback 278 (web_ipv46 left not-tested, worst status"
                         " FAIL: counted)")
        return NO_POINTS, True, base
    if not s.v4_good or s.conn_diff:
        why = "no IPv4 address connects" if not s.v4_good else \
            f"port(s) {s.conn_diff} connect over IPv4 only"
        base.update(status="bad", points=0, counted=True, why=f"{why}: not compared",
                    rule="checks/tasks/ipv6.py:619 (compared only with good IPv6 and IPv4 and no port gap);"
                         " callback 284-285")
        return NO_POINTS, True, base
    if http is None:
        differences.append("no web.http observation: the same-website test reads web.same_site only")
    chains = http.ev.chains if http is not None else ()
    r6 = _response([c for c in chains if c.family == "v6"], tls)
    r4 = _response([c for c in chains if c.family == "v4"], tls)
    if http is None and same is not None:
        p6, p4 = same.ev.v6, same.ev.v4
        if p6 is not None and p6.http_status is not None:
            r6 = _Response("page", p6.address, status=p6.http_status)
        if p4 is not None and p4.http_status is not None:
            r4 = _Response("page", p4.address, status=p4.http_status)
    base["responses"] = {
        f: ({"kind": r.kind, "address": r.address, "status": r.status, "location": r.location, "why": r.why}
            if r is not None else None) for f, r in (("v6", r6), ("v4", r4))}
    if r6 is not None and r4 is not None and r6.kind == "redirect" and r4.kind == "redirect":
        r6 = r4 = None  # the target has no address v6scan may use in either family
    if r6 is None or r4 is None:
        missing = " and ".join(f for f, r in (("IPv6", r6), ("IPv4", r4)) if r is None)
        base.update(status="bad", points=0, counted=True, why=f"no response over {missing}",
                    rule="checks/tasks/ipv6.py:550-552 simhash")
        return NO_POINTS, True, base
    if web.ports_v6 != web.ports_v4:
        base.update(status="bad", points=0, counted=True,
                    why=f"ports answering differ: IPv4 {sorted(web.ports_v4)}, IPv6 {sorted(web.ports_v6)}",
                    rule="checks/tasks/ipv6.py:554-556 simhash")
        differences.append("the ports compared are the ports that accept TCP (web.reach); internet.nl compares"
                           " the ports whose GET answered")
        return NO_POINTS, True, base
    if "redirect" in (r6.kind, r4.kind):
        red, other = (r6, r4) if r6.kind == "redirect" else (r4, r6)
        assert red.location is not None
        if other.kind == "page" and _passes_through(other.chain, red.location):
            base.update(status="good", points=SIMHASH_OK, counted=True, distance=0.0,
                        why=f"both families end at the page {red.location} redirects to (internet.nl follows"
                            " a redirect to another host over any family, checks/http_client.py:38-51)",
                        rule="checks/tasks/ipv6.py:580-584 simhash")
            return SIMHASH_OK, True, base
        base.update(status="bad", points=0, counted=True,
                    why=f"a redirect to {red.location} that v6scan could not follow in that family",
                    rule="checks/tasks/ipv6.py:550-552 simhash")
        differences.append("web_ipv46: a redirect target v6scan could not fetch in one family was not compared")
        return NO_POINTS, True, base
    if r6.status is not None and r4.status is not None and r6.status != r4.status:
        base.update(status="bad", points=SIMHASH_OK, counted=True,
                    why=f"HTTP status differs ({r6.status} over IPv6, {r4.status} over IPv4): the callback shows"
                        " fail, but the 2 points returned are still summed",
                    rule="checks/tasks/ipv6.py:561-563 simhash, callback 284-285; checks/models.py:156-167")
        return SIMHASH_OK, True, base
    if "uncompared" in (r6.kind, r4.kind):
        un = r6 if r6.kind == "uncompared" else r4
        base.update(status="bad", points=0, counted=True,
                    why=f"the page of {un.address} was not compared: {un.why}",
                    rule="checks/tasks/ipv6.py:566-586 simhash")
        differences.append(f"web_ipv46: the page of {un.address} was not compared ({un.why}); internet.nl"
                           " would have compared it")
        return NO_POINTS, True, base
    ratio = _ratio(same, r6.address, differences)
    if ratio is None:
        base.update(status="bad", points=0, counted=True, why="the pages were not compared (no web.same_site)",
                    rule="checks/tasks/ipv6.py:566-586 simhash")
        differences.append("web_ipv46: no comparison of the pages recorded")
        return NO_POINTS, True, base
    distance = 100 - ratio * 100
    base["distance"] = round(distance, 3)
    base["quick_ratio"] = ratio
    if distance <= SIMHASH_MAX:
        ok = r6.status is not None and 200 <= r6.status <= 400
        base.update(status="good" if ok else "notice_status_code", points=SIMHASH_OK, counted=True,
                    rule="checks/tasks/ipv6.py:580-584 simhash (distance <= SIMHASH_MAX 10, settings.py:494),"
                         " callback 279-283")
        return SIMHASH_OK, True, base
    base.update(status="notice", points=0, counted=True,
                why=f"distance {distance:.1f} > {SIMHASH_MAX}",
                rule="checks/tasks/ipv6.py:580-584 simhash, callback 286-287 (notice, 0 points, still counted)")
    return NO_POINTS, True, base


# --------------------------------------------------------------------------- mail


def _smtp_connected(row: SmtpServer) -> bool:
    """internet.nl only connects to port 25 (ipv6.py 407-415 with 325-345): a greeting is not needed."""
    if row.status == "greets":
        return True
    return row.step is not None and row.step != "connect"


def _mail(mx: _Read[MxEvidence] | None, reach: _Read[MxReachEvidence] | None,
          differences: list[str]) -> tuple[int | None, bool, dict[str, JSON]]:
    """``mx_reach``: (points or None when untestable, counted, breakdown); checks/tasks/ipv6.py 392-432."""
    if mx is None:
        return None, False, {"why": "no mail observation"}
    ev = mx.ev
    if mx.o.status not in (Status.OK, Status.NODATA):
        return None, False, {
            "why": f"the MX lookup failed ({mx.o.status}): internet.nl would not start a mail test",
            "rule": "interface/views/shared.py:281-294 get_valid_domain_mail (approximated by the MX lookup)"}
    hosts = [h for h in ev.mx if h.host.rstrip(".").lower() not in ("localhost", "")]
    if mx.o.status is Status.NODATA or ev.implicit_mx or ev.null_mx or not hosts:
        kind = "null MX" if ev.null_mx else "no MX"
        return FULL, False, {
            "mx_aaaa": {"status": "not_tested", "points": 0, "why": kind},
            "mx_reach": {"status": "not_tested", "points": FULL, "max": FULL, "counted": False,
                         "why": f"{kind}: 10 points but mx_reach stays a notice and is not counted; the mail"
                                " category is the name servers only (out of 10)",
                         "rule": "checks/tasks/shared.py:149-177; checks/tasks/ipv6.py:398-399, 423-425,"
                                 " 234-245; checks/categories.py:638-649"}}
    hosts = sorted(hosts, key=lambda h: h.host.lower())[:MAX_MAILSERVERS]
    rows = reach.ev.servers if reach is not None else ()
    if reach is None:
        differences.append("no mail.mx_reach observation: every MX IPv6 address counts as not connecting")
    servers: list[ServerResult] = []
    for h in hosts:
        host = h.host
        notes: list[str] = []
        v6 = _v6_addresses(h.aaaa)
        good = []
        for a in v6:
            row = next((r for r in rows if r.address == a), None)
            if row is None:
                notes.append(f"{a}: not probed by v6scan (outside the allowed networks?): counted as not"
                             " connecting")
            elif _smtp_connected(row):
                good.append(a)
                if row.status != "greets":
                    notes.append(f"{a}: connects but does not greet ({row.status}): internet.nl only connects")
        bad = [a for a in v6 if a not in good]
        v4 = list(h.a)
        grade, pts = _grade(good, bad, [])
        servers.append(ServerResult(host, tuple(good), tuple(bad), tuple(v4), (), (), grade, pts, tuple(notes)))
    total = sum(s.points for s in servers)
    score = float(total) / (len(servers) * FULL) * FULL
    points = int(score)
    with_aaaa = [s for s in servers if s.has_aaaa]
    aaaa_status = "good" if len(with_aaaa) == len(servers) else "bad"
    if not with_aaaa:
        reach_status = "not_tested"
    elif any(s.v6_bad for s in servers):
        reach_status = "bad"
    else:
        reach_status = "good"
    return points, True, {
        "mx_aaaa": {"status": aaaa_status, "points": 0, "with_aaaa": [s.name for s in with_aaaa],
                    "rule": "checks/tasks/ipv6.py:246-254 callback"},
        "mx_reach": {"status": reach_status, "points": points, "max": FULL, "counted": True,
                     "servers": [s.to_json() for s in servers], "sum": total, "divisor": len(servers),
                     "score": round(score, 4),
                     "rules": ["checks/tasks/ipv6.py:407-415 (TCP 25, graded as get_domain_results 374-379)",
                               "checks/tasks/ipv6.py:421-422, 432 do_mx (sum / number of MX hosts, int())",
                               "checks/tasks/ipv6.py:246-248, 256-259 callback; checks/categories.py:651-655"
                               " (mx_reach counted once the domain has MX hosts)"]}}


# --------------------------------------------------------------------------- the name


def score_internetnl(observations: Sequence[Observation]) -> InternetNLScore:
    """internet.nl's web (and mail) IPv6 category for one name.

    ``observations``: the name's (``dns.resolve``, ``dns.aaaa``, ``dns.ns_aaaa``,
    ``dns.ns_reach``, ``web.reach``, ``web.http``, ``web.same_site``, ``web.tls``) and the
    target's (``mail.mx_aaaa``, ``mail.mx_reach``, ``self.v6``).
    """
    obs = list(observations)
    anchor = next((o for o in obs if o.check in ("dns.resolve", "dns.aaaa", "web.reach")), None)
    name = anchor.target if anchor is not None else (obs[0].target if obs else "")
    differences: list[str] = []

    resolve = _find(obs, "dns.resolve", name)
    testable = resolve is None or resolve.status is Status.OK
    self_v6 = _find(obs, "self.v6")
    inconclusive = self_v6 is not None and self_v6.status not in (Status.OK, Status.SKIPPED)

    ns_points, ns_part = _name_servers(_read(obs, "dns.ns_aaaa", NsAaaaEvidence, name),
                                       _read(obs, "dns.ns_reach", NsReachEvidence, name), differences)
    web = _web_server(name, _read(obs, "dns.aaaa", AaaaEvidence, name), _read(obs, "web.reach", ReachEvidence, name),
                      differences)
    s = web.server
    if s.has_aaaa:
        web_aaaa: dict[str, JSON] = {"status": "good", "points": 0, "rule": "checks/tasks/ipv6.py:270-271 callback"}
        web_reach: dict[str, JSON] = {
            "status": "bad" if s.v6_bad else "good", "points": s.points, "max": FULL, "counted": True,
            "server": s.to_json(), "rules": [_R_WEB_CONNECT, _R_GRADE, "checks/tasks/ipv6.py:273-276 callback"]}
    else:
        web_aaaa = {"status": "bad", "points": 0, "rule": "checks/tasks/ipv6.py:268-269 callback"}
        web_reach = {"status": "not_tested", "points": 0, "max": FULL, "counted": True, "server": s.to_json(),
                     "rule": "checks/tasks/ipv6.py:376-377 (no IPv6: 0); checks/categories.py:531-542 (counted)"}
    sim_points, sim_counted, sim_part = _same_website(
        web, _read(obs, "web.http", HttpEvidence, name), _read(obs, "web.same_site", SameSiteEvidence, name),
        _read(obs, "web.tls", TlsEvidence, name), differences)

    total = ns_points + s.points + (sim_points if sim_counted else 0)
    max_points = FULL + FULL + (SIMHASH_OK if sim_counted else 0)
    percent = _percent(total, max_points)

    mx = _read(obs, "mail.mx_aaaa", MxEvidence)
    domain = mx.o.target if mx is not None else None
    mail_ns_points = ns_points
    if domain is not None and domain != name:
        mail_ns = _read(obs, "dns.ns_aaaa", NsAaaaEvidence, domain)
        if mail_ns is not None and mail_ns.o.target == domain:
            mail_ns_points, _ = _name_servers(mail_ns, _read(obs, "dns.ns_reach", NsReachEvidence, domain), [])
        else:
            differences.append(f"the mail category uses the name servers of {name} (no NS observations of"
                               f" {domain})")
    mx_points, mx_counted, mail_part = _mail(mx, _read(obs, "mail.mx_reach", MxReachEvidence), differences)
    mail_points: float | None = None
    mail_max: float | None = None
    mail_percent: int | None = None
    if mx_points is not None:
        mail_points = float(mail_ns_points + (mx_points if mx_counted else 0))
        mail_max = float(FULL + (FULL if mx_counted else 0))
        mail_percent = _percent(mail_points, mail_max)
        mail_part = {"domain": domain, "ns_reach_points": mail_ns_points,
                     **mail_part, "points": mail_points, "max_points": mail_max, "percent": mail_percent,
                     "rule": _R_PERCENT}

    breakdown: dict[str, JSON] = {
        "source": SOURCE,
        "name": name,
        "testable": testable,
        **({} if testable else {"why_not_testable": "internet.nl tests only names with an A or AAAA answer"
                                                    " (interface/views/shared.py:266-278)"}),
        **({"inconclusive": "the scanner's own IPv6 failed: the IPv6 probes say nothing about the site"}
           if inconclusive else {}),
        **ns_part,
        "web_aaaa": web_aaaa,
        "web_reach": web_reach,
        "web_ipv46": sim_part,
        "web": {"points": total, "max_points": max_points, "percent": percent,
                "sum": f"{ns_points} (ns_reach) + {s.points} (web_reach)"
                       + (f" + {sim_points} (web_ipv46)" if sim_counted else " (web_ipv46 not counted)"),
                "rule": _R_PERCENT},
        "mail": mail_part if mx_points is not None else None,
        "differences": list(dict.fromkeys(differences)),
    }
    if mx_points is None and mx is not None:
        breakdown["mail_not_tested"] = mail_part.get("why")
    return InternetNLScore(name, float(total), float(max_points), percent, mail_points, mail_max, mail_percent,
                           breakdown, testable, inconclusive)
