"""``web.resources``: the homepage's subresources come from IPv6-capable hosts.

Every host the homepage loads subresources from (scripts, stylesheets, images, fonts, frames: at
most ``max_resource_hosts``) is judged by its DNS: a usable AAAA or not.  A subresource named by
an IPv4 address literal comes from an IPv4-only host.  Hosts on the exclusion list are recorded,
never looked up.  How the homepage is read: :mod:`v6scan.checks.links`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from v6scan.checks.base import Check, Evidence, Phase, Run, optional
from v6scan.checks.links import Homepage, HostRow, RejectedRow, homepage, host_rows, rejected_rows, v4_literal
from v6scan.checks.webstate import fetched
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.rules import CheckResult, Policy, Reason, not_tested, result

__all__ = ["CHECK", "ResourcesEvidence"]


@dataclass(frozen=True, kw_only=True)
class ResourcesEvidence(Evidence):
    homepage: str = ""
    #: the subresource hosts (at most ``max_resource_hosts``), then the IPv4 literals (at most
    #: ``max_listed_v4_literals``)
    hosts: tuple[HostRow, ...] = ()
    #: judged hosts without a usable AAAA
    v4_only_hosts: tuple[str, ...] = ()
    #: hosts on the exclusion list
    excluded_hosts: tuple[str, ...] = ()
    #: the number of subresources on the homepage
    resources: int = 0
    #: the homepage's URLs no browser would fetch
    rejected: tuple[RejectedRow, ...] = ()
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())

    @classmethod
    def build(cls, *, homepage: str, hosts: Sequence[HostRow], resources: int, rejected: Sequence[RejectedRow],
              caps_hit: Sequence[Mapping[str, JSON]] = ()) -> Self:
        """The evidence, ``v4_only_hosts`` and ``excluded_hosts`` read from the rows."""
        return cls(homepage=homepage, hosts=tuple(hosts),
                   v4_only_hosts=tuple(r.host for r in hosts if not r.excluded and not r.usable_aaaa),
                   excluded_hosts=tuple(r.host for r in hosts if r.excluded), resources=resources,
                   rejected=tuple(rejected), caps_hit=tuple(caps_hit))


async def _judge(ctx: Context, home: Homepage) -> ResourcesEvidence:
    s = ctx.settings
    by_host: dict[str, list[tuple[str, str]]] = {}
    for kind, u in home.links.resources:
        by_host.setdefault(urlsplit(u).hostname or "", []).append((kind, u))
    rows, caps = await host_rows(ctx, sorted(by_host), s.max_resource_hosts, "max_resource_hosts", by_host)
    # a resource from an IPv4 address literal is loaded from an IPv4-only host (not fetched: rejected)
    literals = sorted({a for url, _ in home.links.rejected if (a := v4_literal(url))})
    rows += [HostRow(host=a, usable_aaaa=False, ipv4_literal=True, reason="an IPv4 address literal")
             for a in literals[:s.max_listed_v4_literals]]
    if home.parse_cap is not None:
        caps.append(home.parse_cap)
    return ResourcesEvidence.build(homepage=home.url, hosts=rows, resources=len(home.links.resources),
                                   rejected=rejected_rows(home.links), caps_hit=caps)


async def probe(ctx: Context, run: Run) -> Observation:
    await fetched(run)
    sw = Stopwatch()
    home = await homepage(run)
    if home is None:
        return CHECK.observe(run.name, Status.SKIPPED, None, "no homepage was fetched over either family",
                             sw.stop(), sw.started_at)
    ev = await _judge(ctx, home)
    if not any(not r.excluded for r in ev.hosts):
        return CHECK.observe(run.name, Status.SKIPPED, ev,
                             "the homepage loads no subresources (that may be contacted)", sw.stop(), sw.started_at)
    return CHECK.observe(run.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def rule(o: Observation, ev: ResourcesEvidence, p: Policy) -> CheckResult:
    if o.status is Status.SKIPPED:
        return not_tested(o.check, o.target, o.error or "no subresources", applicable=False)
    if ev.v4_only_hosts:
        return result(o.check, o.target, "fail", Reason("resources_v4_only", {"hosts": list(ev.v4_only_hosts)}),
                      severity="partial")
    return result(o.check, o.target, "pass")


CHECK = Check(
    id="web.resources", title="the homepage's subresources come from IPv6-capable hosts", order=120,
    phase=Phase.CONNECT, stage=4,
    evidence=ResourcesEvidence, probe=probe, rule=rule,
    reasons=("not_tested", "resources_v4_only"),
    weight=1, required=True, v6_dependent=True,
)
