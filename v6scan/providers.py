"""Who serves a site: its CDN or cloud provider per address family, its DNS operator, its prefixes.

A pure function of a site's stored observations (:func:`attribute`) and a table of host-name
suffixes (:class:`ProviderTable`): the provider serving a family is the first name of that
family's CNAME chain (``dns.resolve``'s A and AAAA lookups) that ends in a provider's suffix, or,
when no name does, the provider whose address prefix holds the family's first address; the DNS
operator is the provider most of the zone's name servers (``dns.ns_aaaa``) belong to.  The IPv6
addresses are summarised by their /48 and the IPv4 addresses by their /24: what a network
operator routes and fixes as one.

The table shipped with the package (``data/providers.csv``, each row with its source) is data;
``--providers FILE`` (CSV with the same columns, or a JSON list of such objects) adds rows, and a
row of a later file replaces one with the same ``match`` and ``kind``.  ``match`` is a DNS suffix
matched on label boundaries (``*`` inside a label matches within that label only) or an address
prefix (``2001:db8::/32``).  Matching is linear in the name's length: one dictionary look-up per
suffix of the name, then the few label patterns.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import importlib.resources
import io
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v6scan.errors import V6scanError
from v6scan.model import JSON, Observation

__all__ = ["KINDS", "Attribution", "Provider", "ProviderTable", "ProviderTableError", "Served", "attribute",
           "prefix_of"]

#: ``dns`` rows are matched against name-server host names, the others against CNAME chains
KINDS = ("cdn", "cloud", "hosting", "waf", "dns")
COLUMNS = ("match", "provider", "provider_zh", "kind", "country", "source")
_LABEL = re.compile(r"^[a-z0-9*_](?:[a-z0-9*_-]{0,61}[a-z0-9*_])?$")
#: the prefix lengths sites are summarised by
V6_PREFIX, V4_PREFIX = 48, 24


class ProviderTableError(V6scanError):
    """A provider table that cannot be read: the file and line say where."""


@dataclass(frozen=True)
class Provider:
    name: str
    name_zh: str
    kind: str
    country: str
    source: str

    def label(self, lang: str) -> str:
        return self.name_zh if lang == "zh-CN" and self.name_zh else self.name


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _row(raw: Mapping[str, Any], where: str) -> tuple[str, Provider]:
    values = {k: str(raw.get(k) or "").strip() for k in COLUMNS}
    match = values["match"].lower().rstrip(".").removeprefix("*.")
    if not match or not values["provider"]:
        raise ProviderTableError(f"{where}: match and provider are required")
    if values["kind"] not in KINDS:
        raise ProviderTableError(f"{where}: kind {values['kind']!r} is not one of {', '.join(KINDS)}")
    if _network(match) is None and not all(_LABEL.match(label) for label in match.split(".")):
        raise ProviderTableError(f"{where}: {match!r} is neither a host-name suffix nor an address prefix")
    return match, Provider(values["provider"], values["provider_zh"], values["kind"], values["country"],
                           values["source"])


def _read(text: str, origin: str) -> list[tuple[str, Provider]]:
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as e:
            raise ProviderTableError(f"{origin}: not JSON: {e}") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ProviderTableError(f"{origin}: a JSON table is a list of objects")
        return [_row(item, f"{origin}: item {n}") for n, item in enumerate(items, 1)]
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("match", "provider", "kind") if c not in (reader.fieldnames or ())]
    if missing:
        raise ProviderTableError(f"{origin}: the header lacks {', '.join(missing)}")
    return [_row(r, f"{origin}: line {reader.line_num}") for r in reader if any((v or "").strip() for v in r.values())]


class ProviderTable:
    """Rows ``(match, provider)``; a later row replaces an earlier one with the same match and role
    (``dns`` rows name name servers' operators, the others who serves the sites), and its names
    (``provider_zh``) are the provider's."""

    def __init__(self, rows: Iterable[tuple[str, Provider]] = (), extra: Sequence[tuple[str, Provider]] = ()
                 ) -> None:
        #: the rows a user added over the shipped table (``--providers``), as stored with a sweep
        self.extra = tuple(extra)
        self._rows: dict[tuple[str, bool], tuple[str, Provider]] = {}
        for match, p in rows:
            self._rows[(match, p.kind == "dns")] = (match, p)
        self._suffix: dict[tuple[str, bool], Provider] = {}
        self._globs: list[tuple[tuple[str, ...], bool, Provider]] = []
        self._nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, bool, Provider]] = []
        self.by_name: dict[str, Provider] = {}
        for (match, dns), (_, p) in self._rows.items():
            self.by_name[p.name] = p
            net = _network(match)
            if net is not None:
                self._nets.append((net, dns, p))
            elif "*" in match:
                self._globs.append((tuple(match.split(".")), dns, p))
            else:
                self._suffix[(match, dns)] = p
        self._nets.sort(key=lambda item: -item[0].prefixlen)  # the most specific prefix first

    def __len__(self) -> int:
        return len(self._rows)

    @classmethod
    def default(cls) -> ProviderTable:
        return _default()

    @classmethod
    def load(cls, files: Sequence[str | Path] = ()) -> ProviderTable:
        """The shipped table, then each of ``files`` over it."""
        extra: list[tuple[str, Provider]] = []
        for f in files:
            try:
                text = Path(f).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as e:
                raise ProviderTableError(f"{f}: {e}") from None
            extra.extend(_read(text, str(f)))
        return cls.with_extra(extra)

    @classmethod
    def with_extra(cls, extra: Sequence[tuple[str, Provider]]) -> ProviderTable:
        """The shipped table with ``extra`` rows over it."""
        return cls([*_default().rows(), *extra], extra) if extra else _default()

    def extra_json(self) -> list[dict[str, str]]:
        """The user's rows as JSON objects (what a sweep stores, :meth:`from_extra_json` reads)."""
        return [{"match": m, "provider": p.name, "provider_zh": p.name_zh, "kind": p.kind, "country": p.country,
                 "source": p.source} for m, p in self.extra]

    @classmethod
    def from_extra_json(cls, items: Sequence[Mapping[str, Any]]) -> ProviderTable:
        return cls.with_extra([_row(item, f"stored row {n}") for n, item in enumerate(items, 1)])

    def rows(self) -> Iterable[tuple[str, Provider]]:
        return self._rows.values()

    def match_host(self, host: str, dns: bool = False) -> tuple[str, Provider] | None:
        """(the suffix matched, its provider) for the longest row ``host`` ends in, or None."""
        labels = host.lower().rstrip(".").split(".")
        best: tuple[int, str, Provider] | None = None
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            p = self._suffix.get((suffix, dns))
            if p is not None:
                best = (len(labels) - i, suffix, p)
                break
        for pattern, is_dns, p in self._globs:  # a longer pattern wins over a shorter literal suffix
            k = len(pattern)
            if is_dns == dns and k <= len(labels) and (best is None or k > best[0]) and all(
                    fnmatch.fnmatchcase(label, pat) for label, pat in zip(labels[-k:], pattern, strict=True)):
                best = (k, ".".join(labels[-k:]), p)
        return None if best is None else (best[1], best[2])

    def match_address(self, address: str, dns: bool = False) -> Provider | None:
        """The provider of the most specific prefix holding ``address`` (of ``dns`` rows or the others)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        return next((p for net, is_dns, p in self._nets if is_dns == dns and net.version == ip.version and ip in net),
                    None)

    def label(self, name: str | None, lang: str) -> str | None:
        """The provider's name in ``lang`` (a name the table does not know, as it is)."""
        if name is None:
            return None
        p = self.by_name.get(name)
        return p.label(lang) if p else name


@functools.cache
def _default() -> ProviderTable:
    text = (importlib.resources.files("v6scan") / "data" / "providers.csv").read_text(encoding="utf-8")
    return ProviderTable(_read(text, "v6scan/data/providers.csv"))


def prefix_of(address: str) -> str | None:
    """The /48 of an IPv6 address, the /24 of an IPv4 address, or None for something else."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    length = V6_PREFIX if ip.version == 6 else V4_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


@dataclass(frozen=True)
class Served:
    """Who serves one family: the provider and the name of the chain that matched (``via``)."""

    provider: str | None = None
    kind: str | None = None
    via: str | None = None
    addresses: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attribution:
    v6: Served = field(default_factory=Served)
    v4: Served = field(default_factory=Served)
    #: the last name of the CNAME chain (the alias target), when the name is an alias
    cname: str | None = None
    dns_operator: str | None = None
    ns: tuple[str, ...] = ()
    #: the SHA-256 fingerprint and subject of the certificate served over IPv6 (else IPv4), from web.tls
    cert: str | None = None
    cert_subject: str | None = None

    @property
    def provider(self) -> str | None:
        """The provider serving the site's IPv6, or its IPv4 when it has no IPv6 (a site whose IPv6
        no provider serves is not blamed on its IPv4's provider)."""
        return self.v6.provider if self.v6.addresses else self.v4.provider

    def to_json(self) -> dict[str, JSON]:
        def fam(s: Served) -> dict[str, JSON]:
            return {"provider": s.provider, "kind": s.kind, "via": s.via, "addresses": list(s.addresses),
                    "prefixes": list(s.prefixes)}
        return {"v6": fam(self.v6), "v4": fam(self.v4), "cname": self.cname, "dns_operator": self.dns_operator,
                "ns": list(self.ns), "cert": self.cert, "cert_subject": self.cert_subject}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attribution:
        def fam(d: Any) -> Served:
            d = d if isinstance(d, Mapping) else {}
            return Served(d.get("provider"), d.get("kind"), d.get("via"), tuple(d.get("addresses") or ()),
                          tuple(d.get("prefixes") or ()))
        return cls(fam(data.get("v6")), fam(data.get("v4")), data.get("cname"), data.get("dns_operator"),
                   tuple(data.get("ns") or ()), data.get("cert"), data.get("cert_subject"))


def _lookup(ev: Mapping[str, Any], key: str) -> tuple[list[str], list[str]]:
    """(the CNAME chain, the addresses) of one of dns.resolve's lookups."""
    answer = ev.get(key)
    if not isinstance(answer, Mapping):
        return [], []
    chain = [str(n) for n in answer.get("cname_chain") or () if isinstance(n, str)]
    records = [str(r) for r in answer.get("records") or () if isinstance(r, str)]
    return chain, records


def _served(chain: Sequence[str], addresses: Sequence[str], table: ProviderTable) -> Served:
    """Who serves a family's ``addresses`` (nobody without addresses: an alias into a CDN whose
    edge has no AAAA does not make that CDN serve the site's IPv6)."""
    if not addresses:
        return Served()
    prefixes = tuple(dict.fromkeys(p for p in map(prefix_of, addresses) if p))
    for name in chain:
        hit = table.match_host(name)
        if hit is not None:
            return Served(hit[1].name, hit[1].kind, name, tuple(addresses), prefixes)
    for a in addresses:
        p = table.match_address(a)
        if p is not None:
            return Served(p.name, p.kind, a, tuple(addresses), prefixes)
    return Served(None, None, None, tuple(addresses), prefixes)


def _certificate(ev: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(fingerprint, subject) of the first certificate web.tls saw over IPv6, else over IPv4."""
    rows = [r for r in ev.get("addresses") or () if isinstance(r, Mapping) and isinstance(r.get("cert"), Mapping)]
    for fam in ("v6", "v4"):
        for r in rows:
            if r.get("family") == fam and r["cert"].get("sha256"):
                return str(r["cert"]["sha256"]), str(r["cert"].get("subject") or "") or None
    return None, None


def attribute(name: str, observations: Iterable[Observation], table: ProviderTable) -> Attribution:
    """The attribution of the site ``name`` from its observations (those of ``dns.resolve`` and
    ``web.tls`` for ``name``, and of ``dns.ns_aaaa``)."""
    resolve: Mapping[str, Any] = {}
    ns_hosts: list[str] = []
    tls: dict[str, Mapping[str, Any]] = {}
    for o in observations:
        if o.check == "dns.resolve" and (o.target == name or not resolve):
            resolve = o.evidence
        elif o.check == "web.tls":
            tls.setdefault(o.target, o.evidence)
        elif o.check == "dns.ns_aaaa" and not ns_hosts:
            ns_hosts = [str(h.get("name")) for h in o.evidence.get("ns") or () if isinstance(h, Mapping)
                        and h.get("name")]
    chain6, addr6 = _lookup(resolve, "aaaa")
    chain4, addr4 = _lookup(resolve, "a")
    longest = [str(n) for n in resolve.get("cname_chain") or ()] or max(chain6, chain4, key=len)
    operators = Counter(hit[1].name for hit in (table.match_host(h, dns=True) for h in ns_hosts) if hit)
    operator = operators.most_common(1)[0][0] if operators else None
    cert = _certificate(tls.get(name) or next(iter(tls.values()), {}))
    return Attribution(_served(chain6, addr6, table), _served(chain4, addr4, table),
                       longest[-1].rstrip(".").lower() if len(longest) > 1 else None, operator,
                       tuple(sorted({h.rstrip(".").lower() for h in ns_hosts})), *cert)
