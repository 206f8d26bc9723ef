"""DNS data of the lab: which NSD instance listens where and serves which zones.

The hierarchy is real, so referrals, glue, zone cuts and the IPv6-only
resolution path behave as on the internet::

    .            root NSD   (a.lab-root / b.lab-root)
    test.        tld NSD    (a.nic.test / b.nic.test)
    gov.test edu.test com.test cdn.test      sector NSD (ns1/ns2.<zone>)
    deadns.gov.test                          child NSD (ns2's IPv6 address drops packets)
    lame.edu.test                            delegated to the child NSD, which does not serve it
    v4ns.com.test                            v4ns NSD, IPv4 addresses only
    dnssec*.gov.test, fragdns.com.test       child NSD (the dns.dnssec and path.frag scenarios)

``build_zones`` gives the zone texts unsigned; :func:`tests.lab.dnssec.sign_zones` signs ``.``,
``test.``, ``gov.test`` and the dns.dnssec scenarios' zones (with DS records at their parents) before
NSD loads them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tests.lab.scenarios import SECTOR_ZONES, Scenario

__all__ = ["DROPPED_DNS", "NSDS", "RESOLVER", "ROOT_HINTS", "UNREACHABLE_ROOT_HINTS", "Nsd", "build_zones",
           "root_hints_text"]


@dataclass(frozen=True)
class Nsd:
    name: str
    addrs: tuple[str, ...]


NSDS: dict[str, Nsd] = {
    "root": Nsd("root", ("2001:db8:53::1", "2001:db8:53::2", "203.0.113.1", "203.0.113.2")),
    "tld": Nsd("tld", ("2001:db8:53::11", "2001:db8:53::12", "203.0.113.11", "203.0.113.12")),
    "sector": Nsd("sector", ("2001:db8:53::21", "2001:db8:53::22", "203.0.113.21", "203.0.113.22")),
    "child": Nsd("child", ("2001:db8:53::31", "2001:db8:53::32", "2001:db8:53::dead",
                           "203.0.113.31", "203.0.113.32", "203.0.113.33")),
    "v4ns": Nsd("v4ns", ("203.0.113.41", "203.0.113.42")),
}

#: the recursive resolver (Unbound) the client namespace uses
RESOLVER = ("2001:db8:53::53", "203.0.113.53")

#: DNS-namespace addresses that drop every packet (nftables)
DROPPED_DNS = ("2001:db8:53::dead",)

ROOT_HINTS = (
    ("a.lab-root", ("2001:db8:53::1", "203.0.113.1")),
    ("b.lab-root", ("2001:db8:53::2", "203.0.113.2")),
)
#: the lab roots with their real IPv4 addresses but IPv6 addresses nobody answers on (the
#: router drops every packet to them): a vantage point whose network cannot reach any root
#: server over IPv6 (``Lab.unreachable_root_hints``)
UNREACHABLE_ROOT_HINTS = (
    ("a.lab-root", ("2001:db8:53::dead:1", "203.0.113.1")),
    ("b.lab-root", ("2001:db8:53::dead:2", "203.0.113.2")),
)
TLD_NS = (
    ("a.nic.test", ("2001:db8:53::11", "203.0.113.11")),
    ("b.nic.test", ("2001:db8:53::12", "203.0.113.12")),
)


def _sector_ns(zone: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (
        (f"ns1.{zone}", ("2001:db8:53::21", "203.0.113.21")),
        (f"ns2.{zone}", ("2001:db8:53::22", "203.0.113.22")),
    )


def _addr_rr(name: str, addrs: Iterable[str]) -> list[str]:
    return [f"{name}. IN {'AAAA' if ':' in a else 'A'} {a}" for a in addrs]


def _ns_block(zone: str, servers: Iterable[tuple[str, tuple[str, ...]]]) -> list[str]:
    owner = f"{zone}." if zone else "."
    lines: list[str] = []
    for ns, addrs in servers:
        lines.append(f"{owner} IN NS {ns}.")
        lines += _addr_rr(ns, addrs)
    return lines


def _soa(zone: str, primary: str) -> list[str]:
    owner = f"{zone}." if zone else "."
    return ["$TTL 300", f"{owner} IN SOA {primary}. hostmaster.{primary}. 1 3600 900 604800 60"]


def root_hints_text(hints: Iterable[tuple[str, tuple[str, ...]]] = ROOT_HINTS) -> str:
    """Root hints in the format Unbound (and a scanner's ``--root-hints``) reads."""
    hints = list(hints)
    lines = [f". 3600000 NS {name}." for name, _ in hints]
    for name, addrs in hints:
        for a in addrs:
            lines.append(f"{name}. 3600000 {'AAAA' if ':' in a else 'A'} {a}")
    return "\n".join(lines) + "\n"


def _zone_of(owner: str, zones: Iterable[str]) -> str:
    best = ""
    for z in zones:
        if (owner == z or owner.endswith("." + z)) and len(z) > len(best):
            best = z
    if not best:
        raise ValueError(f"record owner {owner!r} is in no lab zone")
    return best


def build_zones(
    scenarios: Iterable[Scenario], extra: Iterable[tuple[str, str, str]] = ()
) -> dict[str, dict[str, str]]:
    """Zone files per NSD instance: ``{nsd_name: {zone_name: text}}``.

    ``extra`` adds records (owner, type, rdata) to the sector zones, e.g. the
    generated names of the scale mode.
    """
    scenarios = list(scenarios)
    children = [s.zone for s in scenarios if s.zone is not None]
    body: dict[str, list[str]] = defaultdict(list)

    body[""] = [*_soa("", "a.lab-root"), *_ns_block("", ROOT_HINTS), *_ns_block("test", TLD_NS)]
    body["test"] = [*_soa("test", "a.nic.test"), *_ns_block("test", TLD_NS)]
    for z in SECTOR_ZONES:
        body["test"] += _ns_block(z, _sector_ns(z))
        body[z] = [*_soa(z, f"ns1.{z}"), *_ns_block(z, _sector_ns(z))]
    for c in children:
        parent = _zone_of(c.name, SECTOR_ZONES)
        body[parent] += _ns_block(c.name, c.ns)
        if c.served:
            body[c.name] = [*_soa(c.name, c.ns[0][0]), *_ns_block(c.name, c.ns)]

    all_zones = [z for z in body if z]
    for s in scenarios:
        for owner, rtype, rdata in s.records:
            z = _zone_of(owner, all_zones)
            body[z].append(f"{owner}. IN {rtype} {rdata}")
    for owner, rtype, rdata in extra:
        z = _zone_of(owner, SECTOR_ZONES)
        body[z].append(f"{owner}. IN {rtype} {rdata}")

    out: dict[str, dict[str, str]] = defaultdict(dict)
    out["root"]["."] = "\n".join(body[""]) + "\n"
    out["tld"]["test"] = "\n".join(body["test"]) + "\n"
    for z in SECTOR_ZONES:
        out["sector"][z] = "\n".join(body[z]) + "\n"
    for c in children:
        if c.served:
            out[c.nsd][c.name] = "\n".join(body[c.name]) + "\n"
    out.setdefault("child", {})
    out.setdefault("v4ns", {})
    return dict(out)
