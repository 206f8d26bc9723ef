"""What the web checks of one name share: :class:`WebState`, the measurements several checks read
(:func:`reached`: the TCP probes of every address; :func:`fetched`: web.http's redirect chains) and
the hop resolver.

The web checks (``web_*.py``), :mod:`v6scan.checks.path` and :mod:`v6scan.checks.links` import
from here and never from each other: a measurement two checks read is made once per name, by the
first check that needs it (:meth:`v6scan.checks.base.Run.shared`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from v6scan.addresses import classify
from v6scan.checks.base import Row, Run, optional, renamed
from v6scan.checks.dns import HostDNS
from v6scan.checks.dns import host as host_dns
from v6scan.context import Context
from v6scan.fetch import Chain
from v6scan.model import JSON, Status, cap_hit
from v6scan.net import Probe

__all__ = ["HTTP_ERROR_FROM", "PORTS", "BlockedRow", "CapHit", "WebState", "fetched", "reached", "resolve_hop",
           "start_url", "web_state"]

#: the first HTTP status that counts as a failed page (a final page below it is "ok")
HTTP_ERROR_FROM = 400
#: the web ports probed on every address (web.reach) and from which a site's fetch starts
PORTS = (80, 443)


@dataclass(frozen=True, kw_only=True)
class CapHit(Row):
    """An entry of ``caps_hit`` evidence: the setting ``cap`` limited the work to ``limit`` of
    ``found`` items (of one address ``family``)."""

    cap: str = ""
    limit: int = 0
    found: int = 0
    family: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class BlockedRow(Row):
    """An address of the name the address policy forbids contacting, and its class (JSON key
    ``class``: the kind of address, as :func:`v6scan.addresses.classify` names it)."""

    address: str = ""
    family: str = ""
    status: str = str(Status.BLOCKED)
    reason: str | None = None
    kind: str = renamed("class", "")


@dataclass
class WebState:
    """What the web checks of one name learned: its addresses, the TCP probes of every address
    (after :func:`reached`) and web.http's redirect chains (after :func:`fetched`)."""

    name: str
    v6: list[str] = field(default_factory=list)  # usable addresses, in DNS order
    v4: list[str] = field(default_factory=list)
    blocked: list[dict[str, JSON]] = field(default_factory=list)
    reach: dict[tuple[str, int], Probe] = field(default_factory=dict)
    reach_for: dict[tuple[str, int], str] = field(default_factory=dict)  # a probe shared with this name
    chains: list[Chain] = field(default_factory=list)
    #: the addresses web.http did not fetch from, and why (``not_fetched`` evidence)
    not_fetched: list[dict[str, JSON]] = field(default_factory=list)
    #: usable addresses per family before the ``max_addresses`` cap (``v6``/``v4`` hold the probed ones)
    found: dict[str, int] = field(default_factory=dict)

    def caps_hit(self, cap: int) -> list[dict[str, JSON]]:
        """``caps_hit`` evidence: the families whose usable addresses were more than ``cap``."""
        return [cap_hit("max_addresses", cap, n, family=fam) for fam, n in self.found.items() if n > cap]

    def cap_rows(self, cap: int) -> tuple[CapHit, ...]:
        """:meth:`caps_hit` as typed rows."""
        return tuple(CapHit.from_json(c) for c in self.caps_hit(cap))

    def family(self, address: str) -> str:
        return "v6" if ":" in address else "v4"

    def open(self, address: str, port: int) -> bool:
        p = self.reach.get((address, port))
        return p is not None and p.status is Status.OK

    def port_json(self, address: str, port: int) -> dict[str, JSON]:
        """The TCP probe of ``address``:``port`` as evidence (with the name it was made for when it
        served another target first)."""
        out = self.reach[(address, port)].to_json()
        if (address, port) in self.reach_for:
            out["shared_with"] = self.reach_for[(address, port)]  # the same probe served that target too
        return out


def web_state(ctx: Context, host: HostDNS) -> WebState:
    """The state the web checks of ``host`` start from: its addresses the policy allows (at most
    ``max_addresses`` per family, in DNS order), the others recorded as blocked with the reason."""
    st = WebState(host.name)
    for value in [*host.aaaa.values, *host.a.values]:
        decision = ctx.policy.decide(value)
        if decision.allowed:
            (st.v6 if ":" in value else st.v4).append(value)
        else:
            st.blocked.append({"address": value, "family": "v6" if ":" in value else "v4",
                               "status": str(Status.BLOCKED), "reason": decision.reason,
                               "class": classify(value).kind})
    cap = ctx.settings.max_addresses  # in DNS order: the first ones, as a client would try them
    st.found = {"v6": len(st.v6), "v4": len(st.v4)}
    st.v6, st.v4 = st.v6[:cap], st.v4[:cap]
    return st


def start_url(st: WebState, addr: str) -> str | None:
    """The URL a fetch from ``addr`` starts at: HTTPS when port 443 is open, else HTTP, else None."""
    if st.open(addr, 443):
        return f"https://{st.name}/"
    if st.open(addr, 80):
        return f"http://{st.name}/"
    return None


async def _probe_ports(ctx: Context, st: WebState) -> None:
    """A TCP connect to every port of :data:`PORTS` on every usable address, at once."""

    async def probe(addr: str, port: int) -> None:
        st.reach[(addr, port)], made_for = await ctx.tcp_probe(addr, port, st.name)
        if made_for != st.name:
            st.reach_for[(addr, port)] = made_for

    await asyncio.gather(*(probe(a, p) for a in [*st.v6, *st.v4] for p in PORTS))


async def reached(run: Run) -> WebState:
    """The web state of the run's name after the TCP probes of its addresses (web.reach's
    measurement; every later web and path check reads its open ports).  Made once per name."""

    async def make() -> WebState:
        st = web_state(run.ctx, await host_dns(run))
        await _probe_ports(run.ctx, st)
        return st

    return await run.shared("web.reached", make)


async def _fetch(ctx: Context, st: WebState) -> None:
    """web.http's fetches: the redirect chain from every address (at most ``max_http_addresses``
    per family) that accepts on port 443 or 80, followed within its family."""
    cap = min(ctx.settings.max_http_addresses, ctx.settings.max_addresses)
    skipped: list[dict[str, JSON]] = []

    async def one(addr: str) -> Chain | None:
        url = start_url(st, addr)
        if url is None:
            skipped.append({"address": addr, "family": st.family(addr),
                            "reason": "neither port 80 nor 443 accepts connections"})
            return None
        async with ctx.slot(addr):
            return await ctx.fetcher.follow(url, addr, st.family(addr),
                                            lambda h, f: resolve_hop(ctx, h, f))

    chains = await asyncio.gather(*(one(a) for a in [*st.v6[:cap], *st.v4[:cap]]))
    st.chains = [c for c in chains if c is not None]
    st.not_fetched = skipped


async def fetched(run: Run) -> WebState:
    """The web state of the run's name after web.http's fetches (``chains`` filled: web.tls reuses
    their handshakes, web.same_site compares their pages, the links start from their homepage).
    Made once per name, after :func:`reached`."""

    async def make() -> WebState:
        st = await reached(run)
        await _fetch(run.ctx, st)
        return st

    return await run.shared("web.fetched", make)


async def resolve_hop(ctx: Context, host: str, family: str) -> tuple[str | None, str | None]:
    """The address a redirect hop to ``host`` is fetched from over ``family`` (``v6``/``v4``), or
    None and why not (no record, no address the policy allows); the fetcher has already refused a
    host on the exclusion list."""
    ans = await ctx.lookup(host, "AAAA" if family == "v6" else "A")
    kind = "IPv6" if family == "v6" else "IPv4"
    if ans.status is Status.NODATA:
        return None, f"has no {'AAAA' if family == 'v6' else 'A'} record (no {kind})"
    if ans.status is not Status.OK:
        return None, f"does not resolve ({ans.status}: {ans.error})"
    for value in ans.values:
        if ctx.policy.allows(value):
            return value, None
    return None, f"has no usable {kind} address ({'; '.join(classify(v).describe() for v in ans.values)})"
