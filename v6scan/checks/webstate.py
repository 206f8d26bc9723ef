"""What the web checks of one name share: :class:`WebState` and the hop resolver.

:mod:`v6scan.checks.web`, :mod:`v6scan.checks.path` and :mod:`v6scan.checks.links`
import from here (and never from each other's private names), so the web
orchestration in :mod:`v6scan.checks.web` can import the other two at module
level without an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from v6scan.addresses import classify
from v6scan.checks.dns import HostDNS
from v6scan.context import Context
from v6scan.fetch import Chain
from v6scan.model import JSON, Status, cap_hit
from v6scan.net import Probe

__all__ = ["HTTP_ERROR_FROM", "WebState", "resolve_hop", "web_state"]

#: the first HTTP status that counts as a failed page (a final page below it is "ok")
HTTP_ERROR_FROM = 400


@dataclass
class WebState:
    """What the web checks of one name learned, passed from one check to the next."""

    name: str
    v6: list[str] = field(default_factory=list)  # usable addresses, in DNS order
    v4: list[str] = field(default_factory=list)
    blocked: list[dict[str, JSON]] = field(default_factory=list)
    reach: dict[tuple[str, int], Probe] = field(default_factory=dict)
    reach_for: dict[tuple[str, int], str] = field(default_factory=dict)  # a probe shared with this name
    chains: list[Chain] = field(default_factory=list)
    #: usable addresses per family before the ``max_addresses`` cap (``v6``/``v4`` hold the probed ones)
    found: dict[str, int] = field(default_factory=dict)

    def caps_hit(self, cap: int) -> list[dict[str, JSON]]:
        """``caps_hit`` evidence: the families whose usable addresses were more than ``cap``."""
        return [cap_hit("max_addresses", cap, n, family=fam) for fam, n in self.found.items() if n > cap]

    def family(self, address: str) -> str:
        return "v6" if ":" in address else "v4"

    def open(self, address: str, port: int) -> bool:
        p = self.reach.get((address, port))
        return p is not None and p.status is Status.OK


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
