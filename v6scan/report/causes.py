"""Root causes: the failing sites of a sweep grouped by what they share, and who serves the sites.

A site fails when its verdict is ``absent``, ``broken`` or ``partial``.  Its failures are the
(check, reason) classes of :func:`v6scan.report.aggregate.failure_keys`; each kind of cause looks
only at the checks it can cause (a name-server set does not make TLS fail), and a failing site
joins the cluster of each key it has for a kind whose checks it fails:

- ``provider``: the CDN or cloud serving the site's IPv6 (else IPv4), from the attribution;
- ``cname``: the alias target the site's name points to;
- ``prefix`` and ``address``: an IPv6 /48 and an IPv6 address the site's name resolves to;
- ``ns``: the site's set of name servers;
- ``certificate``: the certificate the site serves (SHA-256).

A cluster has at least ``min_size`` failing sites; one with the same sites as a cluster of an
earlier kind (in the order above) says nothing new and is left out.  Memory grows with the number
of keys and failing sites, never with the observations: rows are read one at a time.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from v6scan.messages import ui
from v6scan.providers import Attribution, ProviderTable, Served
from v6scan.report.aggregate import failure_keys
from v6scan.report.rows import iter_site_rows, row_attribution
from v6scan.store import Store

__all__ = ["FAILING", "KINDS", "Causes", "Cluster", "ProviderShare", "causes_json", "kind_word", "provider_kind",
           "served_rows"]

FAILING = ("absent", "broken", "partial")
#: the kinds of cause, in the order a duplicate is kept, with the checks each can cause
#: the checks of the site's own web servers (not web.resources or web.links: those fail on other hosts)
_SERVED = ("web.reach", "web.tls", "web.http", "web.same_site", "web.latency", "web.happy_eyeballs",
           "web.hsts_v6", "web.svcb", "path.")
KINDS: dict[str, tuple[str, ...]] = {
    "provider": ("dns.aaaa", *_SERVED),
    "cname": ("dns.aaaa", *_SERVED),
    "prefix": _SERVED,
    "address": _SERVED,
    "ns": ("dns.ns_", "dns.dnssec", "dns.v6_path"),
    "certificate": ("web.tls",),
}

_LEAD = {
    "provider": {"en": "{n} of the {total} sites {label} serves here fail the same way: fixing IPv6 at {label}"
                       " (or turning on its IPv6 option for them) would repair {n} sites.",
                 "zh-CN": "{label}承载的 {total} 个网站中有 {n} 个存在同样的问题：修复{label}的 IPv6 支持"
                          "（或为这些网站开启 IPv6）可修复 {n} 个网站。"},
    "cname": {"en": "{n} sites are aliases of {label}: fixing IPv6 on {label} would repair {n} sites.",
              "zh-CN": "{n} 个网站都是 {label} 的别名：修复 {label} 的 IPv6 可修复 {n} 个网站。"},
    "prefix": {"en": "{n} sites have IPv6 addresses in {label}: fixing IPv6 routing and filtering in that network"
                     " would repair {n} sites.",
               "zh-CN": "{n} 个网站的 IPv6 地址位于 {label}：修复该网络的 IPv6 路由和过滤可修复 {n} 个网站。"},
    "address": {"en": "{n} sites share the IPv6 address {label}: fixing that server would repair {n} sites.",
                "zh-CN": "{n} 个网站共用 IPv6 地址 {label}：修复该服务器可修复 {n} 个网站。"},
    "ns": {"en": "{n} sites share the name servers {label}: fixing them would repair {n} sites.",
           "zh-CN": "{n} 个网站共用域名服务器 {label}：修复这些服务器可修复 {n} 个网站。"},
    "certificate": {"en": "{n} sites serve the same certificate ({label}): replacing it would repair {n} sites.",
                    "zh-CN": "{n} 个网站使用同一证书（{label}）：更换该证书可修复 {n} 个网站。"},
}
_KIND_WORDS = {"provider": ("provider", "服务商"), "cname": ("alias target", "别名目标"),
               "prefix": ("IPv6 /48", "IPv6 /48 前缀"), "address": ("IPv6 address", "IPv6 地址"),
               "ns": ("name servers", "域名服务器"), "certificate": ("certificate", "证书")}


#: a provider's kind (the provider table's ``kind``) in words
_PROVIDER_KINDS = {"cdn": ("CDN", "CDN"), "cloud": ("cloud", "云服务"), "hosting": ("hosting", "主机托管"),
                   "waf": ("WAF", "WAF"), "dns": ("DNS", "DNS")}


def provider_kind(kind: str | None, lang: str) -> str | None:
    """``cdn``, ``cloud``, ... as ``lang`` says it (None stays None)."""
    if kind is None:
        return None
    en, zh = _PROVIDER_KINDS.get(kind, (kind, kind))
    return zh if lang == "zh-CN" else en


def kind_word(kind: str, lang: str) -> str:
    en, zh = _KIND_WORDS[kind]
    return zh if lang == "zh-CN" else en


def _keys(kind: str, a: Attribution) -> list[str]:
    if kind == "provider":
        return [p] if (p := a.provider) else []
    if kind == "cname":
        return [a.cname] if a.cname else []
    if kind == "prefix":
        return list(a.v6.prefixes)
    if kind == "address":
        return list(a.v6.addresses)
    if kind == "ns":
        return [" ".join(a.ns)] if a.ns else []
    return [a.cert] if a.cert else []


@dataclass
class _Acc:
    sites: list[tuple[int, str, int]] = field(default_factory=list)  # (position in the sweep, name, target id)
    classes: Counter[tuple[str, str]] = field(default_factory=Counter)
    label: tuple[int, str] | None = None  # (position, the certificate's subject) of the first site


@dataclass(frozen=True)
class Cluster:
    kind: str
    key: str
    label: str
    size: int  # failing sites
    total: int  # sites with this key, failing or not
    sites: tuple[str, ...]
    tids: tuple[int, ...]  # the sites' target ids (links to their pages)
    checks: tuple[str, ...]  # the failing checks, the most common first
    classes: tuple[tuple[str, str, int], ...]  # (check, reason code, sites)
    fix: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "label": self.label, "size": self.size, "total": self.total,
                "sites": list(self.sites), "checks": list(self.checks),
                "classes": [list(c) for c in self.classes], "fix": self.fix}


class Causes:
    """Counts, one verdict row (and its attribution) at a time, what :meth:`clusters` and
    :meth:`shares` report; accumulators of shares of the sites merge (:meth:`merge`)."""

    def __init__(self) -> None:
        #: per (kind, key): every site with it, failing or not (a count: the sites are kept of failing ones only)
        self.totals: Counter[tuple[str, str]] = Counter()
        self.keys: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
        self.providers: dict[str | None, Counter[str]] = defaultdict(Counter)
        self.kinds: dict[str | None, str | None] = {}
        self.rows = 0

    def add(self, row: Mapping[str, Any], a: Attribution | None) -> None:
        p = a.provider if a else None
        self.providers[p][str(row["verdict"])] += 1
        at = int(row.get("position") or self.rows)
        self.rows += 1
        if a is None:
            return
        kind = a.v6.kind if a.v6.addresses else a.v4.kind
        if kind is not None:  # one provider can be matched as a CDN and as a cloud: the same word whatever the order
            self.kinds[p] = min(kind, self.kinds.get(p) or kind)
        classes = failure_keys(row) if row["verdict"] in FAILING else {}
        for kind, prefixes in KINDS.items():
            mine = [c for c in classes if c[0].startswith(prefixes)]
            for key in _keys(kind, a):
                self.totals[(kind, key)] += 1
                if mine:
                    entry = self.keys[(kind, key)]
                    entry.sites.append((at, str(row["name"]), int(row.get("tid") or row.get("target_id") or 0)))
                    entry.classes.update(mine)
                    if kind == "certificate" and a.cert_subject and (entry.label is None or at < entry.label[0]):
                        entry.label = (at, a.cert_subject)

    def merge(self, other: Causes) -> None:
        self.totals.update(other.totals)
        for k, e in other.keys.items():
            mine = self.keys[k]
            mine.sites += e.sites
            mine.classes.update(e.classes)
            if e.label is not None and (mine.label is None or e.label < mine.label):
                mine.label = e.label
        for p, c in other.providers.items():
            self.providers[p].update(c)
        for p, kind in other.kinds.items():
            if kind is not None:
                self.kinds[p] = min(kind, self.kinds.get(p) or kind)

    def clusters(self, table: ProviderTable, lang: str = "en", min_size: int = 2) -> list[Cluster]:
        """The clusters, the biggest first, each with its sites in the sweep's order."""
        out: list[Cluster] = []
        #: the failure classes said for a set of sites: a cluster of the same sites says something new
        #: only with a class not said yet (the same sites also failing their name servers' checks)
        said: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        kinds = list(KINDS)
        for (kind, key), e in sorted(self.keys.items(),
                                     key=lambda kv: (-len(kv[1].sites), kinds.index(kv[0][0]), kv[0][1])):
            if len(e.sites) < min_size:
                continue
            ordered = sorted(e.sites)
            sites = tuple(name for _, name, _ in ordered)
            if set(e.classes) <= said.get(sites, set()):
                continue
            said.setdefault(sites, set()).update(e.classes)
            label = (table.label(key, lang) if kind == "provider" else
                     f"{e.label[1] if e.label else ''} sha256 {key[:16]}…".strip() if kind == "certificate" else key)
            checks = Counter[str]()
            for (check, _), n in e.classes.items():
                checks[check] += n
            lead = _LEAD[kind]["zh-CN" if lang == "zh-CN" else "en"]
            total = self.totals[(kind, key)]
            out.append(Cluster(kind, key, str(label), len(sites), total, sites, tuple(t for *_, t in ordered),
                               tuple(sorted(checks, key=lambda c: (-checks[c], c))),
                               tuple(sorted(((c, code, n) for (c, code), n in e.classes.items()),
                                            key=lambda x: (-x[2], x[0], x[1]))),
                               lead.format(n=len(sites), total=total, label=label)))
        return out

    def shares(self, table: ProviderTable, lang: str = "en") -> list[ProviderShare]:
        """Per provider (``""``: self-hosted or unknown, labelled so), the biggest first."""
        out = [ProviderShare(p or "", table.label(p, lang) or ui("self_hosted", lang),
                             provider_kind(self.kinds.get(p), lang),
                             sum(c.values()), sum(c[v] for v in FAILING), dict(c))
               for p, c in self.providers.items()]
        out.sort(key=lambda s: (s.provider == "", -s.sites, s.provider))
        return out


@dataclass(frozen=True)
class ProviderShare:
    """``provider`` serves ``sites`` of the sweep (over IPv6 or, without IPv6, IPv4); ``failing``
    of them fail over IPv6 (verdict absent, broken or partial)."""

    provider: str
    label: str
    kind: str | None
    sites: int
    failing: int
    verdicts: dict[str, int]


def served_rows(a: Attribution | None, table: ProviderTable, lang: str) -> list[tuple[str, str]]:
    """A site's attribution as (label, value) rows for its page, in ``lang``."""
    if a is None:
        return []

    def fam(s: Served) -> str:
        if s.provider is None:
            return ui("self_hosted", lang)
        return f"{table.label(s.provider, lang)} ({ui('via', lang)} {s.via})"

    rows = [(ui("served_v6", lang), fam(a.v6))] if a.v6.addresses else []
    rows += [(ui("served_v4", lang), fam(a.v4))] if a.v4.addresses else []
    rows.append((ui("dns_operator", lang), table.label(a.dns_operator, lang) or ui("self_hosted", lang)))
    rows += [(ui("prefix_v6", lang), " ".join(a.v6.prefixes))] if a.v6.prefixes else []
    rows += [(ui("prefix_v4", lang), " ".join(a.v4.prefixes))] if a.v4.prefixes else []
    return rows


def causes_json(store: Store, sweep_id: int, policy: str, lang: str = "en") -> dict[str, Any]:
    """``providers`` (who serves how many sites, how many failing) and ``clusters`` (every root
    cause) of a stored sweep, read one verdict row at a time (:func:`v6scan.report.rows.iter_site_rows`)."""
    causes = Causes()
    store.ensure_attributions(sweep_id)
    with store.snapshot():
        for row in iter_site_rows(store, sweep_id, policy):
            if row["verdict"] is not None:
                causes.add(row, row_attribution(row))
    return {"providers": [dataclasses.asdict(p) for p in causes.shares(store.providers, lang)],
            "clusters": [c.to_json() for c in causes.clusters(store.providers, lang)]}
