"""``web.happy_eyeballs``: the delay a dual-stack client sees because of IPv6.

No connection of its own: it reads web.reach's TCP connects (:func:`webstate.reached`: one probe
per address and port, its status and the time of its last attempt; a probe of an address shared
with another name serves this one too) and works out, for the port a browser uses (443 when any
address accepts it, else 80), what three clients would see:

* **an RFC 8305 client** (Happy Eyeballs version 2).  It has both the AAAA and the A answers (the
  Resolution Delay of section 3 is not modelled: the lookup is web.reach's) and orders the
  addresses as section 4 says: IPv6 first, then the families interleaved (First Address Family
  Count 1), each family in its worst order (the addresses that fail first, then the slowest:
  resolvers rotate the records, so some clients meet that order, and the result does not depend on
  the order one lookup returned).  It starts the first attempt at once and each later one when
  the Connection Attempt Delay of section 5 (:data:`ATTEMPT_DELAY_MS`, the recommended 250 ms)
  has passed since the previous one started without a connection, or as soon as the previous
  attempt fails, if that is sooner (section 5 only describes the delay; moving on at a failure is
  what the common implementations do, and a client that waited would lose at most the delay).
  Attempts run side by side; the first connection wins and no attempt starts after it.  An address
  that connects does so after its measured connect time; one that refused (or was unreachable)
  fails after its measured time; a silent one (``timeout``) never answers.
* **a client without Happy Eyeballs**: the same addresses, IPv6 first (RFC 6724 order: every AAAA,
  then every A), one after the other, each waited for until it connects or fails.  A silent
  address costs it its whole connect timeout: at least the time the scanner waited for one attempt
  (``connect_attempt_timeout``), and an operating system waits much longer (Linux: about two
  minutes), so that figure is a lower bound (``sequential_at_least``).
* **an IPv4-only client**: the A addresses one after the other: the reference the seconds lost are
  counted from (the time a client without IPv6 would need).

A connect that needed another try is timed by its last attempt (web.reach reports the retries).
Happy Eyeballs races TCP connections only: an IPv6 address that accepts TCP and then stalls (a
tarpit, a PMTU black hole) costs a dual-stack client its whole request, and web.http, web.tls and
path.pmtu are the checks that see it.

The result is informational (weight 0, never required, never ``fail``): a ``warn`` when no IPv6
address connects (naming the seconds a client without Happy Eyeballs loses, and the fraction of a
second an RFC 8305 client loses) or when an RFC 8305 client ends up on IPv4 although IPv6 works
(IPv6 did not connect within the attempt delay); an IPv4-only or IPv6-only site is not tested
(dns.aaaa judges the first; the second has nothing to fall back to).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Self

from v6scan.checks.base import Check, Evidence, Phase, Row, Run, optional
from v6scan.checks.webstate import WebState, reached
from v6scan.context import Context
from v6scan.model import Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result
from v6scan.settings import Settings

__all__ = ["ATTEMPT_DELAY_MS", "CHECK", "ConnectRow", "HappyEyeballsEvidence", "connects", "interleave"]

#: RFC 8305 section 5: the recommended Connection Attempt Delay (ms) before the next address is tried
#: (the default of ``Settings.happy_eyeballs_delay_ms``, which the probe uses)
ATTEMPT_DELAY_MS = Settings.happy_eyeballs_delay_ms
#: the ports in the order a browser prefers them
_PREFERRED = (443, 80)


@dataclass(frozen=True, kw_only=True)
class ConnectRow(Row):
    """web.reach's TCP connect to one address on the judged port."""

    address: str = ""
    family: str = ""
    status: str = ""
    #: the time of the last attempt: to the connection, to the failure, or the attempt's timeout
    elapsed_ms: float = 0.0
    attempts: int = 1
    error: str | None = optional()

    @property
    def connected(self) -> bool:
        return self.status == str(Status.OK)

    @property
    def silent(self) -> bool:
        """No answer at all: a client waits for its connect timeout."""
        return self.status == str(Status.TIMEOUT)

    def describe(self) -> str:
        return f"{self.address} ({self.status})"


def interleave(rows: Sequence[ConnectRow]) -> list[ConnectRow]:
    """The RFC 8305 section 4 order: IPv6 first, the families alternating (First Address Family
    Count 1), each family in the order given."""
    v6 = [r for r in rows if r.family == "v6"]
    v4 = [r for r in rows if r.family == "v4"]
    out: list[ConnectRow] = []
    for i in range(max(len(v6), len(v4))):
        out += [*v6[i:i + 1], *v4[i:i + 1]]
    return out


def _race(order: Sequence[ConnectRow], delay: float) -> tuple[float, ConnectRow] | None:
    """When, and over which address, an RFC 8305 client connects (None: no address connects)."""
    best: tuple[float, ConnectRow] | None = None
    start = 0.0
    for r in order:
        if best is not None and start >= best[0]:
            break  # connected before this attempt would start: it is never made
        if r.connected and (best is None or start + r.elapsed_ms < best[0]):
            best = (start + r.elapsed_ms, r)
        failed_early = not r.connected and not r.silent and r.elapsed_ms < delay
        start += r.elapsed_ms if failed_early else delay
    return best


def _one_by_one(order: Sequence[ConnectRow]) -> tuple[float, ConnectRow] | None:
    """When, and over which address, a client that tries ``order`` one after the other connects."""
    t = 0.0
    for r in order:
        t += r.elapsed_ms
        if r.connected:
            return t, r
    return None


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _lost(t: float | None, reference: float | None) -> float | None:
    """The time lost against ``reference`` (never negative), when both are known."""
    return None if t is None or reference is None else round(max(0.0, t - reference), 3)


@dataclass(frozen=True, kw_only=True)
class HappyEyeballsEvidence(Evidence):
    #: the port judged: 443 when any address accepts it, else 80 (0: no address probed)
    port: int = 0
    #: the RFC 8305 Connection Attempt Delay the model used (ms)
    attempt_delay_ms: float = ATTEMPT_DELAY_MS
    #: web.reach's connects to the port, IPv6 first, each family in its worst order (failing, then slowest)
    addresses: tuple[ConnectRow, ...] = ()
    v6_addresses: int = 0
    v4_addresses: int = 0
    #: the order an RFC 8305 client tries them (section 4)
    order: tuple[str, ...] = ()
    #: the connect time of the first address of each family (in that order) that connects
    v6_connect_ms: float | None = None
    v4_connect_ms: float | None = None
    #: the IPv6 addresses that do not connect
    v6_failed: tuple[str, ...] = ()
    #: the time to a connection of an IPv4-only client (the reference of the time lost)
    v4_alone_ms: float | None = None
    #: an RFC 8305 client: the time to a connection, the family and address it ends up on, the
    #: time it loses against an IPv4-only client
    he_ms: float | None = None
    he_family: str | None = None
    he_address: str | None = None
    he_lost_ms: float | None = None
    #: a client without Happy Eyeballs (IPv6 first, one address after the other): the same
    sequential_ms: float | None = None
    sequential_family: str | None = None
    sequential_lost_ms: float | None = None
    #: it waited for a silent IPv6 address: its real loss is its connect timeout, longer than this
    sequential_at_least: bool = False

    @classmethod
    def build(cls, port: int, addresses: Sequence[ConnectRow], attempt_delay_ms: float = ATTEMPT_DELAY_MS
              ) -> Self:
        """The evidence of the connects to ``port`` (``addresses``: IPv6 first, DNS order), with the
        three clients' figures derived from them."""
        rows = sorted(addresses, key=lambda r: r.family != "v6")
        v6 = [r for r in rows if r.family == "v6"]
        v4 = [r for r in rows if r.family == "v4"]
        order = interleave(rows)
        he = _race(order, attempt_delay_ms)
        seq = _one_by_one(rows)
        alone = _one_by_one(v4)
        v4_alone = alone[0] if alone else None
        waited = v6 if seq is None else rows[:rows.index(seq[1])]
        return cls(
            port=port, attempt_delay_ms=attempt_delay_ms, addresses=tuple(rows),
            v6_addresses=len(v6), v4_addresses=len(v4), order=tuple(r.address for r in order),
            v6_connect_ms=next((_ms(r.elapsed_ms) for r in v6 if r.connected), None),
            v4_connect_ms=next((_ms(r.elapsed_ms) for r in v4 if r.connected), None),
            v6_failed=tuple(r.address for r in v6 if not r.connected),
            v4_alone_ms=_ms(v4_alone),
            he_ms=_ms(he[0]) if he else None, he_family=he[1].family if he else None,
            he_address=he[1].address if he else None, he_lost_ms=_lost(he[0] if he else None, v4_alone),
            sequential_ms=_ms(seq[0]) if seq else None, sequential_family=seq[1].family if seq else None,
            sequential_lost_ms=_lost(seq[0] if seq else None, v4_alone),
            sequential_at_least=any(r.silent and r.family == "v6" for r in waited))


def _port(st: WebState) -> int:
    """The port a browser uses: 443 when any address accepts it, else 80 (443 when none does)."""
    addrs = [*st.v6, *st.v4]
    return next((p for p in _PREFERRED if any(st.open(a, p) for a in addrs)), _PREFERRED[0])


def connects(st: WebState, port: int) -> Iterator[ConnectRow]:
    """web.reach's connects to ``port``, IPv6 first, each family in its worst order: the addresses
    that fail first, then the slowest.  Resolvers rotate the records, so some clients meet exactly
    that order; and the result does not depend on the order one lookup happened to return."""
    for family in (st.v6, st.v4):
        rows = []
        for a in family:
            p = st.reach.get((a, port))
            if p is not None:
                rows.append(ConnectRow(address=a, family=st.family(a), status=str(p.status),
                                       elapsed_ms=round(p.elapsed_ms, 3), attempts=p.attempts, error=p.error))
        yield from sorted(rows, key=lambda r: (r.status == str(Status.OK), -(r.elapsed_ms or 0.0), r.address))


async def probe(ctx: Context, run: Run) -> Observation:
    """The three clients' figures from web.reach's connects (no connection of its own)."""
    sw = Stopwatch()
    st = await reached(run)
    port = _port(st)
    ev = HappyEyeballsEvidence.build(port, list(connects(st, port)), ctx.settings.happy_eyeballs_delay_ms)
    if not ev.addresses:
        why = "no address of the name may be contacted" if st.blocked else "the name has no address"
        return CHECK.observe(run.name, Status.SKIPPED, ev, why, sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _seconds(ms: float | None) -> float:
    return round(float(ms or 0) / 1000, 3)


def rule(o: Observation, ev: HappyEyeballsEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "no address probed", applicable=False)
    if not ev.v6_addresses:
        return not_tested(o.check, o.target, "no usable IPv6 address (an IPv4-only site: dns.aaaa judges it)",
                          applicable=False)
    if not ev.v4_addresses:
        return not_tested(o.check, o.target, "no usable IPv4 address (an IPv6-only site: nothing to fall back to)",
                          applicable=False)
    if ev.he_ms is None:
        return not_tested(o.check, o.target, f"no address accepts TCP on port {ev.port}")
    common = {"name": o.target, "port": ev.port, "delay_ms": round(ev.attempt_delay_ms),
              "he_lost_ms": round(float(ev.he_lost_ms or 0), 1)}
    if ev.v6_connect_ms is None:  # IPv6 broken: every client falls back to IPv4
        params = {**common, "addresses": [r.describe() for r in ev.addresses if r.family == "v6"],
                  "lost_s": _seconds(ev.sequential_lost_ms)}
        if ev.sequential_at_least:
            return result(o.check, o.target, "warn", Reason("happy_eyeballs_v6_dropped", params))
        return result(o.check, o.target, "warn", Reason("happy_eyeballs_v6_refused", params))
    if ev.he_family == "v4":
        return result(o.check, o.target, "warn", Reason("happy_eyeballs_v4_wins", {
            **common, "v6_ms": round(float(ev.v6_connect_ms), 1), "v4_ms": round(float(ev.v4_connect_ms or 0), 1),
            "he_ms": round(float(ev.he_ms), 1), "address": ev.he_address}))
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="web.happy_eyeballs", title="a dual-stack (RFC 8305) client loses no time to IPv6", order=175,
    phase=Phase.CONNECT, stage=1, evidence=HappyEyeballsEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "happy_eyeballs_v6_dropped", "happy_eyeballs_v6_refused", "happy_eyeballs_v4_wins"),
    weight=0, required=False, v6_dependent=True,
)
