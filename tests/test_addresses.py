"""Address classification and the connection policy (pure unit tests, no network)."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6scan.addresses import (
    _V4_TABLE,
    _V6_TABLE,
    METADATA,
    RFC6052_LAYOUTS,
    AddressClass,
    AddressPolicy,
    Decision,
    classify,
    parse_address,
)

PUBLIC_KINDS = {"global", "anycast", "orchid", "drip"}
EVERYWHERE = ("0.0.0.0/0", "::/0")

# ---------------------------------------------------------------------------
# every row of the special-purpose tables: (prefix, an address inside it that no
# more specific row matches, kind, public)
# ---------------------------------------------------------------------------

V4_ROWS = [
    ("0.0.0.0/8", "0.1.2.3", "this-network", False),
    ("0.0.0.0/32", "0.0.0.0", "unspecified", False),
    ("10.0.0.0/8", "10.20.30.40", "private", False),
    ("100.64.0.0/10", "100.64.0.1", "cgnat", False),
    ("127.0.0.0/8", "127.0.0.1", "loopback", False),
    ("169.254.0.0/16", "169.254.1.1", "link-local", False),
    ("172.16.0.0/12", "172.31.255.254", "private", False),
    ("192.0.0.0/24", "192.0.0.100", "ietf-protocol", False),
    ("192.0.0.0/29", "192.0.0.1", "ietf-protocol", False),
    ("192.0.0.8/32", "192.0.0.8", "ietf-protocol", False),
    ("192.0.0.9/32", "192.0.0.9", "anycast", True),
    ("192.0.0.10/32", "192.0.0.10", "anycast", True),
    ("192.0.0.170/31", "192.0.0.171", "ietf-protocol", False),
    ("192.0.2.0/24", "192.0.2.1", "documentation", False),
    ("192.31.196.0/24", "192.31.196.1", "anycast", True),
    ("192.52.193.0/24", "192.52.193.1", "anycast", True),
    ("192.88.99.0/24", "192.88.99.1", "reserved", False),
    ("192.168.0.0/16", "192.168.1.1", "private", False),
    ("192.175.48.0/24", "192.175.48.6", "anycast", True),
    ("198.18.0.0/15", "198.19.255.1", "benchmarking", False),
    ("198.51.100.0/24", "198.51.100.7", "documentation", False),
    ("203.0.113.0/24", "203.0.113.9", "documentation", False),
    ("224.0.0.0/4", "239.255.255.250", "multicast", False),
    ("240.0.0.0/4", "250.1.2.3", "reserved", False),
    ("255.255.255.255/32", "255.255.255.255", "broadcast", False),
]

V6_ROWS = [
    ("::/128", "::", "unspecified", False),
    ("::1/128", "::1", "loopback", False),
    ("::/96", "::c000:201", "ipv4-compatible", False),
    ("::ffff:0:0/96", "::ffff:8.8.8.8", "ipv4-mapped", False),
    ("64:ff9b::/96", "64:ff9b::808:808", "nat64", False),
    ("64:ff9b:1::/48", "64:ff9b:1:808:8:800::", "nat64", False),
    ("100::/64", "100::1", "discard", False),
    ("100:0:0:1::/64", "100:0:0:1::1", "reserved", False),
    ("2001::/23", "2001:100::1", "ietf-protocol", False),
    ("2001::/32", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo", False),
    ("2001:1::1/128", "2001:1::1", "anycast", True),
    ("2001:1::2/128", "2001:1::2", "anycast", True),
    ("2001:1::3/128", "2001:1::3", "anycast", True),
    ("2001:2::/48", "2001:2::1", "benchmarking", False),
    ("2001:3::/32", "2001:3::1", "anycast", True),
    ("2001:4:112::/48", "2001:4:112::1", "anycast", True),
    ("2001:10::/28", "2001:10::1", "orchid", False),
    ("2001:20::/28", "2001:20::1", "orchid", True),
    ("2001:30::/28", "2001:30::1", "drip", True),
    ("2001:db8::/32", "2001:db8::1", "documentation", False),
    ("2002::/16", "2002:808:808::1", "6to4", False),
    ("2620:4f:8000::/48", "2620:4f:8000::1", "anycast", True),
    ("3fff::/20", "3fff::1", "documentation", False),
    ("5f00::/16", "5f00::1", "srv6", False),
    ("fc00::/7", "fd12:3456:789a::1", "ula", False),
    ("fe80::/10", "fe80::1", "link-local", False),
    ("fec0::/10", "fec0::1", "site-local", False),
    ("ff00::/8", "ff02::1", "multicast", False),
]


def _row_name(table: tuple[tuple[str, str, str, bool], ...], prefix: str) -> str:
    (name,) = [n for p, _, n, _ in table if p == prefix]
    return name


def test_representatives_cover_every_table_row() -> None:
    assert sorted(r[0] for r in V4_ROWS) == sorted(r[0] for r in _V4_TABLE)
    assert sorted(r[0] for r in V6_ROWS) == sorted(r[0] for r in _V6_TABLE)
    # and agree with the table's own kind / reachability columns
    v4 = {p: (k, g) for p, k, _, g in _V4_TABLE}
    v6 = {p: (k, g) for p, k, _, g in _V6_TABLE}
    for prefix, _, kind, public in V4_ROWS:
        assert v4[prefix] == (kind, public), prefix
    for prefix, _, kind, public in V6_ROWS:
        assert v6[prefix] == (kind, public), prefix


@pytest.mark.parametrize(("prefix", "address", "kind", "public"), V4_ROWS, ids=[r[0] for r in V4_ROWS])
def test_ipv4_table_row(prefix: str, address: str, kind: str, public: bool) -> None:
    assert ipaddress.ip_address(address) in ipaddress.ip_network(prefix)
    c = classify(address)
    assert c.version == 4
    assert c.kind == kind
    assert c.public is public
    assert c.range == prefix
    assert c.name == _row_name(_V4_TABLE, prefix)
    assert c.embedded is None


@pytest.mark.parametrize(("prefix", "address", "kind", "public"), V6_ROWS, ids=[r[0] for r in V6_ROWS])
def test_ipv6_table_row(prefix: str, address: str, kind: str, public: bool) -> None:
    assert ipaddress.ip_address(address) in ipaddress.ip_network(prefix)
    c = classify(address)
    assert c.version == 6
    assert c.kind == kind
    assert c.public is public
    assert c.range == prefix
    assert c.name == _row_name(_V6_TABLE, prefix)
    assert c.address == ipaddress.ip_address(address).compressed


@pytest.mark.parametrize(
    ("address", "kind", "public", "range_"),
    [
        # most specific match wins, and the edges of the small prefixes fall back to the bigger ones
        ("192.0.0.7", "ietf-protocol", False, "192.0.0.0/29"),
        ("192.0.0.8", "ietf-protocol", False, "192.0.0.8/32"),
        ("192.0.0.9", "anycast", True, "192.0.0.9/32"),
        ("192.0.0.10", "anycast", True, "192.0.0.10/32"),
        ("192.0.0.11", "ietf-protocol", False, "192.0.0.0/24"),
        ("192.0.0.170", "ietf-protocol", False, "192.0.0.170/31"),
        ("192.0.0.172", "ietf-protocol", False, "192.0.0.0/24"),
        ("0.0.0.0", "unspecified", False, "0.0.0.0/32"),
        ("0.0.0.1", "this-network", False, "0.0.0.0/8"),
        ("2001:1::1", "anycast", True, "2001:1::1/128"),
        ("2001:1::4", "ietf-protocol", False, "2001::/23"),
        ("2001:1::5", "ietf-protocol", False, "2001::/23"),
        ("2001::1", "teredo", False, "2001::/32"),
        ("2001:2:1::1", "ietf-protocol", False, "2001::/23"),
        ("2001:4:113::1", "ietf-protocol", False, "2001::/23"),
        ("2001:1ff:ffff::1", "ietf-protocol", False, "2001::/23"),
        ("2001:40::1", "ietf-protocol", False, "2001::/23"),
        ("::", "unspecified", False, "::/128"),
        ("::1", "loopback", False, "::1/128"),
        ("::2", "ipv4-compatible", False, "::/96"),
        ("3fff:fff:ffff::1", "documentation", False, "3fff::/20"),
        ("100::ffff:ffff:ffff:ffff", "discard", False, "100::/64"),
        # just outside the special ranges: ordinary global unicast
        ("2001:200::1", "global", True, None),
        ("3fff:1000::1", "global", True, None),
        ("2620:4f:8001::1", "global", True, None),
        ("2001:4860:4860::8888", "global", True, None),
        ("2a00:1450:4001::1", "global", True, None),
        ("172.32.0.1", "global", True, None),
        ("172.15.255.255", "global", True, None),
        ("100.128.0.1", "global", True, None),
        ("100.63.255.255", "global", True, None),
        ("198.20.0.1", "global", True, None),
        ("192.0.1.1", "global", True, None),
        ("223.255.255.255", "global", True, None),
        ("8.8.8.8", "global", True, None),
        ("1.1.1.1", "global", True, None),
    ],
)
def test_most_specific_match_and_edges(address: str, kind: str, public: bool, range_: str | None) -> None:
    c = classify(address)
    assert (c.kind, c.public, c.range) == (kind, public, range_)


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::7f00:1", "2002:7f00:1::1", "3fff::1", "3fff:abc::1", "64:ff9b:1:7f00:0:100::"],
)
def test_cases_ipaddress_is_global_gets_wrong_are_not_public(address: str) -> None:
    c = classify(address)
    assert c.public is False
    assert c.kind != "global"


# ---------------------------------------------------------------------------
# unwrapping IPv4 embedded in IPv6
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "kind", "embedded", "embedded_kind", "embedded_public"),
    [
        ("::ffff:127.0.0.1", "ipv4-mapped", "127.0.0.1", "loopback", False),
        ("::ffff:8.8.8.8", "ipv4-mapped", "8.8.8.8", "global", True),
        ("::ffff:c0a8:101", "ipv4-mapped", "192.168.1.1", "private", False),
        ("::10.1.2.3", "ipv4-compatible", "10.1.2.3", "private", False),
        ("::808:808", "ipv4-compatible", "8.8.8.8", "global", True),
        ("::2", "ipv4-compatible", "0.0.0.2", "this-network", False),
        ("64:ff9b::a00:1", "nat64", "10.0.0.1", "private", False),
        ("64:ff9b::7f00:1", "nat64", "127.0.0.1", "loopback", False),
        ("64:ff9b::192.0.2.33", "nat64", "192.0.2.33", "documentation", False),
        ("64:ff9b::808:808", "nat64", "8.8.8.8", "global", True),
        # RFC 6052 /48 layout: v4 in octets 6-7 and 9-10, octet 8 (u) skipped
        ("64:ff9b:1:c633:64:200::", "nat64", "198.51.100.2", "documentation", False),
        ("64:ff9b:1:0a00:0:0100::", "nat64", "10.0.0.1", "private", False),
        # 8.8.8.8 under every layout that fits the local-use /48 (/48, /56, /64, /96)
        ("64:ff9b:1:808:8:808:808:808", "nat64", "8.8.8.8", "global", True),
        ("2002:c000:0204::1", "6to4", "192.0.2.4", "documentation", False),
        ("2002:7f00:1::1", "6to4", "127.0.0.1", "loopback", False),
        ("2002:808:808:1::1", "6to4", "8.8.8.8", "global", True),
        ("2002:a00:1::", "6to4", "10.0.0.1", "private", False),
        # Teredo: the client's address is the last 32 bits, each bit inverted
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo", "192.0.2.45", "documentation", False),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "teredo", "8.8.8.8", "global", True),
    ],
)
def test_unwrapping(
    address: str, kind: str, embedded: str, embedded_kind: str, embedded_public: bool
) -> None:
    c = classify(address)
    assert c.kind == kind
    assert c.public is False  # a translated / tunnelled form is never native IPv6
    assert c.embedded is not None
    assert c.embedded.address == embedded
    assert c.embedded.version == 4
    assert c.embedded.kind == embedded_kind
    assert c.embedded.public is embedded_public
    assert c.embedded.embedded is None


@pytest.mark.parametrize(
    "address",
    ["2001:db8::1", "fe80::1", "fc00::1", "2001:4860::1", "::1", "::", "2001:20::1", "100::1", "4000::1"],
)
def test_no_embedded_address_for_other_forms(address: str) -> None:
    assert classify(address).embedded is None


@pytest.mark.parametrize(
    "address",
    [
        "4000::1", "1::1", "8000::1", "e000::1", "fe00::1", "fbff::1", "400::1",
        "100:0:0:2::1",  # next to the two 100::/64 blocks
        "::1:0:0:1",  # not inside ::/96
        "::ffff:0:c000:201",  # SIIT "IPv4-translated" form: no special row
        "1fff:ffff::1",
        "4000::",
    ],
)
def test_outside_global_unicast_is_reserved(address: str) -> None:
    c = classify(address)
    assert c.kind == "reserved"
    assert c.public is False
    assert c.range == "outside 2000::/3"
    assert c.version == 6
    assert c.embedded is None


# ---------------------------------------------------------------------------
# metadata endpoints
# ---------------------------------------------------------------------------

METADATA_ADDRESSES = [
    "169.254.169.254",
    "169.254.169.253",
    "169.254.170.2",
    "169.254.169.123",
    "100.100.100.200",
    "168.63.129.16",
    "fd00:ec2::254",
    "fd00:ec2::253",
    "fd00:ec2::123",
    "fd20:ce::254",
    # wrapped forms of 169.254.169.254 / 168.63.129.16
    "::ffff:169.254.169.254",
    "::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a83f:8110",
    "64:ff9b:1:a9fe:a9:fe00::",
    "2002:a9fe:a9fe::1",
    "2001:0:4136:e378:8000:63bf:5601:5601",
]


def test_metadata_constant_is_covered() -> None:
    covered = {str(ipaddress.ip_network(m).network_address) for m in METADATA}
    assert covered <= set(METADATA_ADDRESSES)


@pytest.mark.parametrize("address", METADATA_ADDRESSES)
def test_metadata_flagged_and_never_allowed(address: str) -> None:
    c = classify(address)
    assert c.metadata is True
    assert c.public is False
    assert c.to_json()["metadata"] is True
    for policy in (
        AddressPolicy(),
        AddressPolicy.from_strings(EVERYWHERE),
        AddressPolicy.from_strings([address + ("/128" if ":" in address else "/32")]),
    ):
        d = policy.decide(address)
        assert d.allowed is False
        assert "metadata" in d.reason
        assert policy.allows(address) is False


def test_metadata_global_kind_is_still_not_public() -> None:
    c = classify("168.63.129.16")  # Azure WireServer: an ordinary global prefix
    assert (c.kind, c.public, c.metadata) == ("global", False, True)


def test_wrapped_metadata_marks_outer_and_inner() -> None:
    c = classify("64:ff9b::a9fe:a9fe")
    assert c.metadata is True
    assert c.embedded is not None
    assert c.embedded.address == "169.254.169.254"
    assert c.embedded.metadata is True


@pytest.mark.parametrize("address", ["169.254.169.1", "fd00:ec2::255", "168.63.129.17", "100.100.100.201"])
def test_metadata_neighbours_are_not_metadata(address: str) -> None:
    assert classify(address).metadata is False


# ---------------------------------------------------------------------------
# AddressPolicy
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "192.0.0.9", "2001:1::1", "2001:20::1", "2001:30::1"]
)
def test_policy_allows_public(address: str) -> None:
    d = AddressPolicy().decide(address)
    assert d == Decision(True, "global address")


@pytest.mark.parametrize(
    ("address", "allow"),
    [
        ("192.0.2.1", "192.0.2.0/24"),
        ("198.51.100.20", "198.51.100.0/24"),
        ("203.0.113.5", "203.0.113.0/24"),
        ("2001:db8::1", "2001:db8::/32"),
        ("3fff::1", "3fff::/20"),
        ("10.0.0.1", "10.0.0.0/8"),
        ("fd12::1", "fc00::/7"),
    ],
)
def test_policy_documentation_and_special_need_explicit_allow(address: str, allow: str) -> None:
    denied = AddressPolicy().decide(address)
    assert denied.allowed is False
    assert "--allow-net" in denied.reason
    assert address in denied.reason or str(ipaddress.ip_address(address)) in denied.reason
    allowed = AddressPolicy.from_strings([allow]).decide(address)
    assert allowed == Decision(True, "special-purpose address allowed by --allow-net")
    # an allow of the other family does not help
    other = "::/0" if ipaddress.ip_address(address).version == 4 else "0.0.0.0/0"
    assert AddressPolicy.from_strings([other]).allows(address) is False


def test_policy_allow_is_non_strict_and_takes_objects() -> None:
    p = AddressPolicy.from_strings(["192.0.2.77/24"])
    assert p.allow == (ipaddress.ip_network("192.0.2.0/24"),)
    assert p.allows(ipaddress.ip_address("192.0.2.1"))
    assert p.allows("[2001:db8::1]") is False
    assert AddressPolicy.from_strings(["2001:db8::/32"]).allows("[2001:db8::1]")


@pytest.mark.parametrize(
    ("address", "allow", "exclude"),
    [
        ("8.8.8.8", (), ("8.8.8.0/24",)),
        ("2001:4860:4860::8888", (), ("2001:4860::/32",)),
        ("192.0.2.200", ("192.0.2.0/24",), ("192.0.2.128/25",)),
        ("192.0.2.1", EVERYWHERE, ("0.0.0.0/0",)),
        ("2001:db8::1", EVERYWHERE, ("2001:db8::1/128",)),
        ("192.0.0.9", (), ("192.0.0.9/32",)),
    ],
)
def test_policy_exclude_wins(address: str, allow: tuple[str, ...], exclude: tuple[str, ...]) -> None:
    d = AddressPolicy.from_strings(allow, exclude).decide(address)
    assert d.allowed is False
    assert "exclusion list" in d.reason


def test_policy_exclude_is_per_prefix() -> None:
    p = AddressPolicy.from_strings(["192.0.2.0/24"], ["192.0.2.128/25"])
    assert p.allows("192.0.2.1")
    assert not p.allows("192.0.2.129")
    assert AddressPolicy.from_strings((), ["8.8.8.0/24"]).allows("8.8.4.4")


@pytest.mark.parametrize(
    ("address", "allow", "exclude"),
    [
        ("64:ff9b::c000:201", EVERYWHERE, "192.0.2.0/24"),
        ("::ffff:192.0.2.1", EVERYWHERE, "192.0.2.0/24"),
        ("2002:c000:201::1", EVERYWHERE, "192.0.2.0/24"),
        # a NAT64 lab: only the NAT64 prefix is allowed; the embedded v4 is public but excluded
        ("64:ff9b::808:808", ("64:ff9b::/96",), "8.8.8.0/24"),
    ],
)
def test_policy_exclude_applies_to_the_embedded_ipv4(
    address: str, allow: tuple[str, ...], exclude: str
) -> None:
    """An excluded IPv4 network must not be reachable through its NAT64 / mapped / 6to4 form.

    The exclusion list "wins over everything"; the metadata check and the allow check
    both look at the embedded IPv4, so the exclusion check must too.
    """
    p = AddressPolicy.from_strings(allow, [exclude])
    assert p.allows(str(classify(address).embedded.address)) is False  # type: ignore[union-attr]
    d = p.decide(address)
    assert d.allowed is False, d


@pytest.mark.parametrize(
    ("address", "allow", "allowed"),
    [
        # the wrapper's prefix alone is not enough for a special-purpose embedded v4 ...
        ("64:ff9b::c000:201", ("64:ff9b::/96",), False),
        ("64:ff9b::c000:201", ("64:ff9b::/96", "192.0.2.0/24"), True),
        # ... nor is the embedded v4 alone
        ("64:ff9b::c000:201", ("192.0.2.0/24",), False),
        # a public embedded v4 needs only the wrapper allowed
        ("64:ff9b::808:808", ("64:ff9b::/96",), True),
        ("64:ff9b::808:808", (), False),
        ("::ffff:192.0.2.1", ("::ffff:0:0/96",), False),
        ("::ffff:192.0.2.1", ("::ffff:0:0/96", "192.0.2.1/32"), True),
        ("::ffff:127.0.0.1", ("::ffff:0:0/96", "192.0.2.0/24"), False),
        ("2002:c000:204::1", ("2002::/16",), False),
        ("2002:c000:204::1", ("2002::/16", "192.0.2.0/24"), True),
        ("64:ff9b:1:c633:64:200::", ("64:ff9b:1::/48",), False),
        # read with the /96 layout it embeds 0.0.0.0 (and 51.100.2.0 and 100.2.0.0 with /56 and /64)
        ("64:ff9b:1:c633:64:200::", ("64:ff9b:1::/48", "198.51.100.0/24"), False),
        ("64:ff9b:1:c633:64:200::", ("64:ff9b:1::/48", "198.51.100.0/24", "0.0.0.0/8"), True),
        ("64:ff9b:1:808:8:808:808:808", ("64:ff9b:1::/48",), True),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", ("2001::/32",), False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", ("2001::/32", "192.0.2.0/24"), True),
        ("64:ff9b::7f00:1", EVERYWHERE, True),
    ],
)
def test_policy_wrapped_forms_need_embedded_allowed(
    address: str, allow: tuple[str, ...], allowed: bool
) -> None:
    d = AddressPolicy.from_strings(allow).decide(address)
    assert d.allowed is allowed, d
    if not allowed:
        assert "embedding" in d.reason


def test_policy_denial_reason_describes_address() -> None:
    d = AddressPolicy().decide("fe80::1")
    assert d == Decision(
        False, "fe80::1 is Link-Local Unicast (RFC 4291): not contacted (use --allow-net to allow it)"
    )


@pytest.mark.parametrize("text", ["fe80::1%eth0", "[fe80::1%25eth0]", "not an address"])
def test_policy_rejects_unparsable(text: str) -> None:
    with pytest.raises(ValueError):
        AddressPolicy.from_strings(EVERYWHERE).decide(text)


# ---------------------------------------------------------------------------
# parse_address, to_json, describe
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", ipaddress.IPv4Address("192.0.2.1")),
        ("  192.0.2.1\n", ipaddress.IPv4Address("192.0.2.1")),
        ("2001:db8::1", ipaddress.IPv6Address("2001:db8::1")),
        ("[2001:db8::1]", ipaddress.IPv6Address("2001:db8::1")),
        (" [::1] ", ipaddress.IPv6Address("::1")),
        ("2001:DB8:0:0::1", ipaddress.IPv6Address("2001:db8::1")),
    ],
)
def test_parse_address(text: str, expected: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert parse_address(text) == expected
    assert type(parse_address(text)) is type(expected)


@pytest.mark.parametrize("text", ["fe80::1%eth0", "[fe80::1%eth0]", "fe80::1%25", "192.0.2.1%1"])
def test_parse_address_rejects_zone_ids(text: str) -> None:
    with pytest.raises(ValueError, match="zone id"):
        parse_address(text)


@pytest.mark.parametrize("text", ["", "example.org", "[2001:db8::1", "192.0.2.256", "[192.0.2.1]x", "::g"])
def test_parse_address_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_classify_takes_text_or_objects() -> None:
    assert classify("8.8.8.8") == classify(ipaddress.IPv4Address("8.8.8.8"))
    assert classify("[2001:db8::1]") == classify(ipaddress.IPv6Address("2001:db8::1"))
    assert classify("2001:DB8::0:1").address == "2001:db8::1"


def test_to_json_global() -> None:
    assert classify("8.8.8.8").to_json() == {
        "address": "8.8.8.8",
        "version": 4,
        "kind": "global",
        "range": None,
        "name": "a global unicast address",
        "public": True,
    }


def test_to_json_special_and_embedded() -> None:
    out = classify("64:ff9b::a00:1").to_json()
    assert out == {
        "address": "64:ff9b::a00:1",
        "version": 6,
        "kind": "nat64",
        "range": "64:ff9b::/96",
        "name": "IPv4-IPv6 Translation (RFC 6052)",
        "public": False,
        "embedded": {
            "address": "10.0.0.1",
            "version": 4,
            "kind": "private",
            "range": "10.0.0.0/8",
            "name": "Private-Use (RFC 1918)",
            "public": False,
        },
    }
    assert "metadata" not in out
    json.dumps(out)  # serialisable as is


def test_to_json_metadata_and_reserved() -> None:
    out = classify("::ffff:169.254.169.254").to_json()
    assert out["metadata"] is True
    assert out["embedded"] == {
        "address": "169.254.169.254",
        "version": 4,
        "kind": "link-local",
        "range": "169.254.0.0/16",
        "name": "Link Local (RFC 3927)",
        "public": False,
        "metadata": True,
    }
    reserved = classify("4000::1").to_json()
    assert reserved["kind"] == "reserved"
    assert reserved["range"] == "outside 2000::/3"
    assert reserved["public"] is False


@pytest.mark.parametrize(
    ("address", "text"),
    [
        ("fe80::1", "fe80::1 is Link-Local Unicast (RFC 4291)"),
        ("8.8.8.8", "8.8.8.8 is a global address"),
        ("2001:4860:4860::8888", "2001:4860:4860::8888 is a global address"),
        ("192.0.0.9", "192.0.0.9 is Port Control Protocol Anycast (RFC 7723)"),
        (
            "::ffff:127.0.0.1",
            "::ffff:7f00:1 is IPv4-mapped Address (RFC 4291), embedding 127.0.0.1 is Loopback (RFC 1122)",
        ),
        (
            "64:ff9b::808:808",
            "64:ff9b::808:808 is IPv4-IPv6 Translation (RFC 6052), embedding 8.8.8.8 is a global address",
        ),
        ("4000::1", "4000::1 is Reserved by IETF (outside the global unicast space 2000::/3)"),
    ],
)
def test_describe(address: str, text: str) -> None:
    assert classify(address).describe() == text


def test_address_class_is_frozen() -> None:
    c = classify("8.8.8.8")
    assert isinstance(c, AddressClass)
    with pytest.raises(AttributeError):
        c.public = False  # type: ignore[misc]


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

V4 = st.ip_addresses(v=4)
V6 = st.ip_addresses(v=6)
_V4_NETS = [ipaddress.ip_network(p) for p, *_ in _V4_TABLE]
_META_NETS = [ipaddress.ip_network(m) for m in METADATA]
NEVER_PUBLIC_V4 = [
    ipaddress.ip_network(p)
    for p in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
        "100.64.0.0/10", "224.0.0.0/4", "240.0.0.0/4",
    )
]


def _v4_in(net: ipaddress.IPv4Network) -> st.SearchStrategy[ipaddress.IPv4Address]:
    first = int(net.network_address)
    return st.integers(first, first + net.num_addresses - 1).map(ipaddress.IPv4Address)


@settings(max_examples=300, deadline=None, database=None)
@given(V4)
def test_prop_mapped_form_embeds_and_is_never_public(x: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + x.packed)
    c = classify(mapped)
    assert c.kind == "ipv4-mapped"
    assert c.embedded is not None
    assert c.embedded.address == str(x)
    assert c.public is False
    assert c.metadata == classify(x).metadata


@settings(max_examples=300, deadline=None, database=None)
@given(V4)
def test_prop_nat64_96_form_embeds_and_is_never_public(x: ipaddress.IPv4Address) -> None:
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(x))
    c = classify(nat64)
    assert c.kind == "nat64"
    assert c.range == "64:ff9b::/96"
    assert c.embedded is not None
    assert c.embedded.address == str(x)
    assert c.public is False


@settings(max_examples=300, deadline=None, database=None)
@given(V4, st.binary(min_size=5, max_size=5))
def test_prop_nat64_48_form_embeds(x: ipaddress.IPv4Address, suffix: bytes) -> None:
    b = x.packed
    packed = bytes.fromhex("0064ff9b0001") + b[:2] + b"\0" + b[2:] + suffix
    c = classify(ipaddress.IPv6Address(packed))
    assert c.kind == "nat64"
    assert (48, classify(x)) in c.layouts
    assert c.embedded is not None and c.embedded in [e for _, e in c.layouts]
    if not classify(x).public:
        assert not c.embedded.public
    assert c.public is False


# ---------------------------------------------------------------------------
# NAT64 local use (RFC 8215): every RFC 6052 layout that fits in 64:ff9b:1::/48
# ---------------------------------------------------------------------------

LOCAL_LAYOUTS = (48, 56, 64, 96)


def rfc6052(x: ipaddress.IPv4Address, length: int, filler: bytes = bytes(16),
            prefix: str = "64:ff9b:1::/48") -> ipaddress.IPv6Address:
    """``x`` embedded per RFC 6052 section 2.2 under a NAT64 prefix of ``length`` bits inside
    ``prefix``: the other bits from ``filler``, the "u" octet (bits 64-71) zero."""
    net = ipaddress.IPv6Network(prefix)
    b = bytearray(filler)
    b[:net.prefixlen // 8] = net.network_address.packed[:net.prefixlen // 8]
    b[8] = 0
    for i, octet in zip(RFC6052_LAYOUTS[length], x.packed, strict=True):
        b[i] = octet
    return ipaddress.IPv6Address(bytes(b))


def test_rfc6052_examples() -> None:
    """The examples of RFC 6052 section 2.4 (192.0.2.33 under 2001:db8:122:344::/length)."""
    x = ipaddress.IPv4Address("192.0.2.33")
    prefix = ipaddress.IPv6Address("2001:db8:122:344::").packed
    expected = {32: "2001:db8:c000:221::", 40: "2001:db8:1c0:2:21::", 48: "2001:db8:122:c000:2:2100::",
                56: "2001:db8:122:3c0:0:221::", 64: "2001:db8:122:344:c0:2:2100:0",
                96: "2001:db8:122:344::192.0.2.33"}
    for length, text in expected.items():
        b = bytearray(16)
        b[:length // 8] = prefix[:length // 8]
        for i, octet in zip(RFC6052_LAYOUTS[length], x.packed, strict=True):
            b[i] = octet
        assert ipaddress.IPv6Address(bytes(b)) == ipaddress.IPv6Address(text), length


@pytest.mark.parametrize("length", LOCAL_LAYOUTS)
@pytest.mark.parametrize("inner", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_nat64_local_use_forbidden_under_every_layout(length: int, inner: str) -> None:
    a = rfc6052(ipaddress.IPv4Address(inner), length)
    c = classify(a)
    assert c.kind == "nat64" and c.range == "64:ff9b:1::/48"
    assert (length, classify(inner)) in c.layouts
    assert not AddressPolicy().allows(a)
    assert not AddressPolicy.from_strings(["64:ff9b:1::/48"]).allows(a)  # the wrapper alone is not enough
    if inner == "169.254.169.254":
        assert c.metadata
        assert not AddressPolicy.from_strings(EVERYWHERE).allows(a)


@pytest.mark.parametrize("length", LOCAL_LAYOUTS)
def test_nat64_local_use_a_forbidden_reading_names_its_layout(length: int) -> None:
    """127.0.0.1 in this layout, 8 in every other octet: refused with the NAT64 prefix allowed, and
    the reason names the (first) layout that reads a forbidden address, and that address."""
    a = rfc6052(ipaddress.IPv4Address("127.0.0.1"), length, filler=bytes([8] * 16))
    n, e = next((n, e) for n, e in classify(a).layouts if not e.public)
    d = AddressPolicy.from_strings(["64:ff9b:1::/48"]).decide(a)
    assert not d.allowed and f"RFC 6052 /{n} layout" in d.reason and e.address in d.reason, d


def test_nat64_local_use_global_under_every_layout_is_nat64_as_before() -> None:
    a = rfc6052(ipaddress.IPv4Address("8.8.8.8"), 48, filler=bytes([8] * 16))
    assert str(a) == "64:ff9b:1:808:8:808:808:808"
    c = classify(a)
    assert (c.kind, c.public, c.metadata, c.range) == ("nat64", False, False, "64:ff9b:1::/48")
    assert [(n, e.address) for n, e in c.layouts] == [(n, "8.8.8.8") for n in LOCAL_LAYOUTS]
    assert c.embedded is not None and c.embedded.address == "8.8.8.8"
    assert "layouts" not in c.to_json()
    assert not AddressPolicy().allows(a)  # NAT64 is never native IPv6
    assert AddressPolicy.from_strings(["64:ff9b:1::/48"]).allows(a)


def test_nat64_well_known_prefix_keeps_its_one_layout() -> None:
    c = classify("64:ff9b::a00:1")
    assert [(n, e.address) for n, e in c.layouts] == [(96, "10.0.0.1")]
    assert AddressPolicy.from_strings(["64:ff9b::/96"]).allows("64:ff9b::808:808")


FORBIDDEN_V4 = st.one_of(
    st.sampled_from(NEVER_PUBLIC_V4).flatmap(_v4_in),
    st.sampled_from([n for n in _META_NETS if n.version == 4]).flatmap(_v4_in),
    V4,
)


@settings(max_examples=500, deadline=None, database=None)
@given(FORBIDDEN_V4, st.sampled_from(LOCAL_LAYOUTS), st.binary(min_size=16, max_size=16))
def test_prop_nat64_local_use_forbidden_v4_gives_forbidden_v6(x: ipaddress.IPv4Address, length: int,
                                                               filler: bytes) -> None:
    """Whatever the layout and the other bits: a forbidden IPv4 inside gives a forbidden IPv6, even
    with the NAT64 prefix allowed; a metadata endpoint inside, even with everything allowed."""
    a = rfc6052(x, length, filler)
    c = classify(a)
    inner = classify(x)
    assert c.kind == "nat64" and (length, inner) in c.layouts
    if inner.metadata:
        assert c.metadata and not AddressPolicy.from_strings(EVERYWHERE).allows(a)
    if not inner.public:
        assert not AddressPolicy().allows(a)
        assert not AddressPolicy.from_strings(["64:ff9b:1::/48"]).allows(a)
        assert not AddressPolicy.from_strings(["64:ff9b:1::/48", "0.0.0.0/0"], [str(x)]).allows(a)


@settings(max_examples=300, deadline=None, database=None)
@given(V4, st.binary(min_size=10, max_size=10))
def test_prop_6to4_form_embeds(x: ipaddress.IPv4Address, rest: bytes) -> None:
    c = classify(ipaddress.IPv6Address(b"\x20\x02" + x.packed + rest))
    assert c.kind == "6to4"
    assert c.embedded is not None
    assert c.embedded.address == str(x)
    assert c.public is False


@settings(max_examples=300, deadline=None, database=None)
@given(V4, st.binary(min_size=8, max_size=8))
def test_prop_teredo_form_embeds_inverted_client(x: ipaddress.IPv4Address, middle: bytes) -> None:
    client = bytes(v ^ 0xFF for v in x.packed)
    c = classify(ipaddress.IPv6Address(b"\x20\x01\x00\x00" + middle + client))
    assert c.kind == "teredo"
    assert c.embedded is not None
    assert c.embedded.address == str(x)
    assert c.public is False


@settings(max_examples=500, deadline=None, database=None)
@given(st.one_of(V4, V6))
def test_prop_classify_total_and_public_is_sane(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    c = classify(a)
    assert c.version == a.version
    assert c.address == a.compressed
    if c.public:
        assert c.kind in PUBLIC_KINDS
        assert not c.metadata
        assert c.embedded is None
        if a.version == 6:
            assert a in ipaddress.ip_network("2000::/3")
        assert AddressPolicy().allows(a)
    else:
        assert not AddressPolicy().allows(a)
    assert json.loads(json.dumps(c.to_json()))["public"] is c.public
    assert c.describe().startswith(c.address + " is ")


@settings(max_examples=500, deadline=None, database=None)
@given(V4)
def test_prop_v4_outside_table_is_public_and_agrees_with_ipaddress(x: ipaddress.IPv4Address) -> None:
    c = classify(x)
    in_table = any(x in n for n in _V4_NETS)
    if in_table:
        assert c.kind != "global"
        return
    assert c.kind == "global"
    assert c.range is None
    if any(x in m for m in _META_NETS):
        assert c.public is False
    else:
        assert c.public is True
        assert x.is_global is True


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(NEVER_PUBLIC_V4).flatmap(_v4_in))
def test_prop_never_public_v4_ranges(x: ipaddress.IPv4Address) -> None:
    c = classify(x)
    assert c.public is False
    assert c.kind != "global"
    assert not AddressPolicy().allows(x)
