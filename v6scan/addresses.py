"""Address classification: which addresses are public Internet addresses.

The IANA IPv4 and IPv6 special-purpose address registries are kept here as a
table (most specific prefix wins), with the registry's "globally reachable"
flag.  IPv6 forms that embed an IPv4 address are unwrapped and the embedded
address is classified too: IPv4-mapped, IPv4-compatible, NAT64 (RFC 6052
well-known prefix and the RFC 8215 local-use prefix), 6to4 and Teredo.

The well-known NAT64 prefix ``64:ff9b::/96`` has one layout.  Inside the local-use prefix
``64:ff9b:1::/48`` an operator may use a NAT64 prefix of any RFC 6052 length (/48, /56, /64 or
/96), each with its own place for the IPv4 address, and an address does not say which: it is
read under every layout that fits, and the most restrictive reading wins (metadata if any layout
gives a metadata endpoint; the policy allows it only if every layout gives an allowed address).

Python's ``ipaddress.is_global`` is not used: it calls ``64:ff9b::7f00:1``
(NAT64 of 127.0.0.1), ``2002:7f00:1::1`` (6to4 of 127.0.0.1) and ``3fff::1``
(documentation, RFC 9637) global.

``public`` means "a native, globally reachable unicast address": the only
kind that counts as IPv6 (or IPv4) connectivity of a site on the Internet.
Where the scanner may connect is :class:`AddressPolicy`'s decision (public
addresses, plus special-purpose ones inside an explicit ``--allow-net``).  NAT64, 6to4 and
Teredo forms are never counted as native IPv6, whatever they embed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "METADATA",
    "AddressClass",
    "AddressPolicy",
    "Decision",
    "classify",
    "parse_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (prefix, kind, registry name, globally reachable)
_V4_TABLE: tuple[tuple[str, str, str, bool], ...] = (
    ("0.0.0.0/8", "this-network", '"This network" (RFC 791)', False),
    ("0.0.0.0/32", "unspecified", '"This host on this network" (RFC 1122)', False),
    ("10.0.0.0/8", "private", "Private-Use (RFC 1918)", False),
    ("100.64.0.0/10", "cgnat", "Shared Address Space (RFC 6598)", False),
    ("127.0.0.0/8", "loopback", "Loopback (RFC 1122)", False),
    ("169.254.0.0/16", "link-local", "Link Local (RFC 3927)", False),
    ("172.16.0.0/12", "private", "Private-Use (RFC 1918)", False),
    ("192.0.0.0/24", "ietf-protocol", "IETF Protocol Assignments (RFC 6890)", False),
    ("192.0.0.0/29", "ietf-protocol", "IPv4 Service Continuity Prefix (RFC 7335)", False),
    ("192.0.0.8/32", "ietf-protocol", "IPv4 dummy address (RFC 7600)", False),
    ("192.0.0.9/32", "anycast", "Port Control Protocol Anycast (RFC 7723)", True),
    ("192.0.0.10/32", "anycast", "Traversal Using Relays around NAT Anycast (RFC 8155)", True),
    ("192.0.0.170/31", "ietf-protocol", "NAT64/DNS64 Discovery (RFC 7050)", False),
    ("192.0.2.0/24", "documentation", "Documentation (TEST-NET-1) (RFC 5737)", False),
    ("192.31.196.0/24", "anycast", "AS112-v4 (RFC 7535)", True),
    ("192.52.193.0/24", "anycast", "AMT (RFC 7450)", True),
    ("192.88.99.0/24", "reserved", "Deprecated (6to4 Relay Anycast) (RFC 7526)", False),
    ("192.168.0.0/16", "private", "Private-Use (RFC 1918)", False),
    ("192.175.48.0/24", "anycast", "Direct Delegation AS112 Service (RFC 7534)", True),
    ("198.18.0.0/15", "benchmarking", "Benchmarking (RFC 2544)", False),
    ("198.51.100.0/24", "documentation", "Documentation (TEST-NET-2) (RFC 5737)", False),
    ("203.0.113.0/24", "documentation", "Documentation (TEST-NET-3) (RFC 5737)", False),
    ("224.0.0.0/4", "multicast", "Multicast (RFC 5771)", False),
    ("240.0.0.0/4", "reserved", "Reserved (RFC 1112)", False),
    ("255.255.255.255/32", "broadcast", "Limited Broadcast (RFC 919)", False),
)

_V6_TABLE: tuple[tuple[str, str, str, bool], ...] = (
    ("::/128", "unspecified", "Unspecified Address (RFC 4291)", False),
    ("::1/128", "loopback", "Loopback Address (RFC 4291)", False),
    ("::/96", "ipv4-compatible", "IPv4-compatible (deprecated, RFC 4291)", False),
    ("::ffff:0:0/96", "ipv4-mapped", "IPv4-mapped Address (RFC 4291)", False),
    ("64:ff9b::/96", "nat64", "IPv4-IPv6 Translation (RFC 6052)", False),
    ("64:ff9b:1::/48", "nat64", "IPv4-IPv6 Translation, local use (RFC 8215)", False),
    ("100::/64", "discard", "Discard-Only Address Block (RFC 6666)", False),
    ("100:0:0:1::/64", "reserved", "Dummy IPv6 Prefix (RFC 9780)", False),
    ("2001::/23", "ietf-protocol", "IETF Protocol Assignments (RFC 2928)", False),
    ("2001::/32", "teredo", "TEREDO (RFC 4380)", False),
    ("2001:1::1/128", "anycast", "Port Control Protocol Anycast (RFC 7723)", True),
    ("2001:1::2/128", "anycast", "TURN Anycast (RFC 8155)", True),
    ("2001:1::3/128", "anycast", "DNS-SD Service Registration Protocol Anycast (RFC 9665)", True),
    ("2001:2::/48", "benchmarking", "Benchmarking (RFC 5180)", False),
    ("2001:3::/32", "anycast", "AMT (RFC 7450)", True),
    ("2001:4:112::/48", "anycast", "AS112-v6 (RFC 7535)", True),
    ("2001:10::/28", "orchid", "Deprecated (previously ORCHID) (RFC 4843)", False),
    ("2001:20::/28", "orchid", "ORCHIDv2 (RFC 7343)", True),
    ("2001:30::/28", "drip", "Drone Remote ID Protocol Entity Tags (RFC 9374)", True),
    ("2001:db8::/32", "documentation", "Documentation (RFC 3849)", False),
    ("2002::/16", "6to4", "6to4 (RFC 3056)", False),
    ("2620:4f:8000::/48", "anycast", "Direct Delegation AS112 Service (RFC 7534)", True),
    ("3fff::/20", "documentation", "Documentation (RFC 9637)", False),
    ("5f00::/16", "srv6", "Segment Routing (SRv6) SIDs (RFC 9602)", False),
    ("fc00::/7", "ula", "Unique-Local (RFC 4193)", False),
    ("fe80::/10", "link-local", "Link-Local Unicast (RFC 4291)", False),
    ("fec0::/10", "site-local", "Site-Local (deprecated, RFC 3879)", False),
    ("ff00::/8", "multicast", "Multicast (RFC 4291)", False),
)

#: cloud metadata and platform endpoints: never contacted, whatever --allow-net says
METADATA: tuple[str, ...] = (
    "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, Oracle IMDS
    "169.254.169.253/32",  # AWS VPC DNS
    "169.254.170.2/32",  # AWS ECS task metadata
    "169.254.169.123/32",  # AWS time sync
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "168.63.129.16/32",  # Azure WireServer
    "fd00:ec2::254/128",  # AWS IMDS over IPv6
    "fd00:ec2::253/128",  # AWS DNS over IPv6
    "fd00:ec2::123/128",  # AWS time sync over IPv6
    "fd20:ce::254/128",  # GCP metadata over IPv6
)


def _table(rows: Iterable[tuple[str, str, str, bool]]) -> list[tuple[IPNetwork, str, str, bool]]:
    nets = [(ipaddress.ip_network(p), k, n, g) for p, k, n, g in rows]
    # most specific first, so the first match wins
    return sorted(nets, key=lambda r: -r[0].prefixlen)


_V4 = _table(_V4_TABLE)
_V6 = _table(_V6_TABLE)
_META = [ipaddress.ip_network(m) for m in METADATA]
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")


@dataclass(frozen=True, slots=True)
class AddressClass:
    """How one address is classified.

    ``kind`` is ``global`` for ordinary public unicast, else the special range's
    kind (``loopback``, ``ula``, ``documentation``, ``nat64`` ...).  For forms
    that embed IPv4, ``embedded`` classifies the IPv4 address.
    """

    address: str
    version: int
    kind: str
    range: str | None
    name: str
    public: bool
    metadata: bool = False
    embedded: AddressClass | None = None
    #: NAT64 forms: (RFC 6052 prefix length, the IPv4 address read with that layout) for every
    #: layout that fits; ``embedded`` is the most restrictive of them
    layouts: tuple[tuple[int, AddressClass], ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "address": self.address,
            "version": self.version,
            "kind": self.kind,
            "range": self.range,
            "name": self.name,
            "public": self.public,
        }
        if self.metadata:
            out["metadata"] = True
        if self.embedded is not None:
            out["embedded"] = self.embedded.to_json()
        return out

    def describe(self) -> str:
        """One line for people: "fe80::1 is Link-Local Unicast (RFC 4291)"."""
        text = f"{self.address} is {'a global address' if self.kind == 'global' else self.name}"
        if self.embedded is not None:
            text += f", embedding {self.embedded.describe()}"
        return text


def parse_address(text: str) -> IPAddress:
    """Parse an address, dropping brackets and refusing zone ids (``fe80::1%eth0``)."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    if "%" in t:
        raise ValueError(f"address with a zone id is not a site address: {text!r}")
    return ipaddress.ip_address(t)


#: RFC 6052 section 2.2: per NAT64 prefix length, the octets of the IPv6 address that carry the
#: IPv4 address (octet 8, bits 64-71, is the "u" octet: always skipped)
RFC6052_LAYOUTS: dict[int, tuple[int, int, int, int]] = {
    32: (4, 5, 6, 7),
    40: (5, 6, 7, 9),
    48: (6, 7, 9, 10),
    56: (7, 9, 10, 11),
    64: (9, 10, 11, 12),
    96: (12, 13, 14, 15),
}


def _nat64_v4(a: ipaddress.IPv6Address, prefix: IPNetwork) -> tuple[tuple[int, ipaddress.IPv4Address], ...]:
    """The IPv4 address under every RFC 6052 layout that fits in ``prefix`` (a /48 holds NAT64
    prefixes of length 48, 56, 64 and 96; the well-known /96 only its own)."""
    b = a.packed
    return tuple((n, ipaddress.IPv4Address(bytes(b[i] for i in octets)))
                 for n, octets in RFC6052_LAYOUTS.items() if n >= prefix.prefixlen)


def _embedded_v4(a: ipaddress.IPv6Address, kind: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of a mapped, compatible, 6to4 or Teredo form (NAT64: :func:`_nat64_v4`)."""
    b = a.packed
    if kind in ("ipv4-mapped", "ipv4-compatible"):
        return ipaddress.IPv4Address(b[12:16])
    if kind == "6to4":
        return ipaddress.IPv4Address(b[2:6])
    if kind == "teredo":
        # the client's public IPv4 is the last 32 bits, obfuscated (XOR 0xffffffff)
        return ipaddress.IPv4Address(bytes(x ^ 0xFF for x in b[12:16]))
    return None


def _most_restrictive(classes: list[AddressClass]) -> AddressClass:
    """The first metadata endpoint, else the first non-public address, else the first."""
    return next((c for c in classes if c.metadata), None) or next((c for c in classes if not c.public), classes[0])


@lru_cache(maxsize=65536)
def _classify(a: IPAddress) -> AddressClass:
    meta = any(a in m for m in _META if m.version == a.version)
    table = _V4 if a.version == 4 else _V6
    for net, kind, name, reachable in table:
        if a in net:
            embedded = None
            layouts: tuple[tuple[int, AddressClass], ...] = ()
            if isinstance(a, ipaddress.IPv6Address) and kind == "nat64":
                layouts = tuple((n, _classify(v4)) for n, v4 in _nat64_v4(a, net))
                embedded = _most_restrictive([e for _, e in layouts])
                meta = meta or embedded.metadata
            elif isinstance(a, ipaddress.IPv6Address) and kind in (
                "ipv4-mapped", "ipv4-compatible", "6to4", "teredo"
            ):
                v4 = _embedded_v4(a, kind)
                if v4 is not None:
                    embedded = _classify(v4)
                    meta = meta or embedded.metadata
            return AddressClass(
                address=a.compressed,
                version=a.version,
                kind=kind,
                range=net.with_prefixlen,
                name=name,
                public=reachable and not meta,
                metadata=meta,
                embedded=embedded,
                layouts=layouts,
            )
    if isinstance(a, ipaddress.IPv6Address) and a not in _GLOBAL_UNICAST_V6:
        return AddressClass(a.compressed, 6, "reserved", "outside 2000::/3",
                            "Reserved by IETF (outside the global unicast space 2000::/3)",
                            public=False, metadata=meta)
    return AddressClass(a.compressed, a.version, "global", None, "a global unicast address",
                        public=not meta, metadata=meta)


def classify(address: str | IPAddress) -> AddressClass:
    """Classify an address (text or ``ipaddress`` object)."""
    a = parse_address(address) if isinstance(address, str) else address
    return _classify(a)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class AddressPolicy:
    """Where the scanner may connect.

    Usable global addresses are allowed; special-purpose ones only inside an
    explicit ``--allow-net`` prefix; metadata endpoints never.  ``exclude``
    prefixes (an exclusion list) win over everything.
    """

    allow: tuple[IPNetwork, ...] = ()
    exclude: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, allow: Iterable[str] = (), exclude: Iterable[str] = ()) -> AddressPolicy:
        return cls(
            tuple(ipaddress.ip_network(p, strict=False) for p in allow),
            tuple(ipaddress.ip_network(p, strict=False) for p in exclude),
        )

    def decide(self, address: str | IPAddress) -> Decision:
        a = parse_address(address) if isinstance(address, str) else address
        c = _classify(a)
        if c.metadata:
            return Decision(False, f"{c.address} is a cloud metadata endpoint: never contacted")
        # every IPv4 address the form may carry (NAT64 local use: one per RFC 6052 layout)
        inner: list[tuple[int | None, AddressClass]] = [*c.layouts] or (
            [(None, c.embedded)] if c.embedded is not None else [])
        if self._excluded(a):
            return Decision(False, f"{c.address} is on the exclusion list")
        for n, e in inner:
            if self._excluded(parse_address(e.address)):
                return Decision(False, f"{c.address} is on the exclusion list (it embeds {e.address}"
                                + (f" under the RFC 6052 /{n} layout)" if len(inner) > 1 else ")"))
        if c.public:
            return Decision(True, "global address")
        if not self._in_allow(a):
            return Decision(False, f"{c.describe()}: not contacted (use --allow-net to allow it)")
        for n, e in inner:
            if not (e.public or self._in_allow(parse_address(e.address))):
                layout = f" under the RFC 6052 /{n} layout" if len(inner) > 1 else ""
                return Decision(False, f"{c.address} is {c.name}, embedding{layout} {e.describe()}:"
                                " not contacted (use --allow-net to allow it)")
        return Decision(True, "special-purpose address allowed by --allow-net")

    def _excluded(self, a: IPAddress) -> bool:
        return any(a in n for n in self.exclude if n.version == a.version)

    def _in_allow(self, a: IPAddress) -> bool:
        return any(a in n for n in self.allow if n.version == a.version)

    def allows(self, address: str | IPAddress) -> bool:
        return self.decide(address).allowed
