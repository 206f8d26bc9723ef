"""The provider table and the attribution of a site (v6scan.providers): pure, no network."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6scan.model import Observation, Status
from v6scan.providers import KINDS, Attribution, Provider, ProviderTable, ProviderTableError, attribute, prefix_of

CDN = Provider("Edge CDN", "\u8fb9\u7f18\u4e91", "cdn", "CN", "test")
DNSOP = Provider("Name Co", "", "dns", "US", "test")
ROWS = [("edgecdn.example", CDN), ("nameco.example", DNSOP), ("awsdns-*.example", DNSOP),
        ("2001:db8:e000::/36", Provider("Prefix Cloud", "", "cloud", "US", "test"))]


def _resolve(name: str, aaaa: list[str], a: list[str], chain6: list[str] = (), chain4: list[str] = ()) -> Observation:
    ev = {"aaaa": {"qname": name, "records": aaaa, **({"cname_chain": list(chain6)} if chain6 else {})},
          "a": {"qname": name, "records": a, **({"cname_chain": list(chain4)} if chain4 else {})},
          "cname_chain": list(max(chain6, chain4, key=len))}
    return Observation("dns.resolve", name, Status.OK, ev)


def _ns(name: str, hosts: list[str]) -> Observation:
    return Observation("dns.ns_aaaa", name, Status.OK, {"zone": name, "ns": [{"name": h} for h in hosts]})


def test_the_longest_suffix_on_a_label_boundary_wins() -> None:
    t = ProviderTable([*ROWS, ("v6.edgecdn.example", Provider("Edge v6", "", "cdn", "CN", "t"))])
    assert t.match_host("a.b.edgecdn.example.") == ("edgecdn.example", CDN)
    assert t.match_host("x.V6.EdgeCDN.example")[1].name == "Edge v6"
    assert t.match_host("notedgecdn.example") is None  # not on a label boundary
    assert t.match_host("edgecdn.example.org") is None
    assert t.match_host("edgecdn.example", dns=True) is None  # a CDN row is not a DNS operator


def test_a_star_matches_within_one_label_only() -> None:
    t = ProviderTable(ROWS)
    assert t.match_host("ns-12.awsdns-45.example", dns=True) == ("awsdns-45.example", DNSOP)
    assert t.match_host("ns-12.awsdns-45.example") is None  # dns rows match name servers only
    assert t.match_host("awsdns-4.x.example", dns=True) is None  # never across a dot


def test_address_prefixes_most_specific_first() -> None:
    t = ProviderTable([*ROWS, ("2001:db8:e100::/40", Provider("Narrow", "", "cloud", "US", "t"))])
    assert t.match_address("2001:db8:e100::1").name == "Narrow"
    assert t.match_address("2001:db8:e200::1").name == "Prefix Cloud"
    assert t.match_address("2001:db8:1::1") is None and t.match_address("garbage") is None


def test_prefixes_summarise_v6_by_48_and_v4_by_24() -> None:
    assert prefix_of("2001:db8:1:2:3::4") == "2001:db8:1::/48"
    assert prefix_of("198.51.100.77") == "198.51.100.0/24"
    assert prefix_of("not an address") is None


def test_a_site_behind_a_cdn_over_v6_only_and_its_dns_operator() -> None:
    obs = [_resolve("www.gov.example", ["2001:db8:7::1", "2001:db8:7:1::2"], ["203.0.113.9"],
                    chain6=["www.gov.example", "www.gov.example.edgecdn.example", "v6.edgecdn.example"]),
           _ns("www.gov.example", ["ns1.nameco.example", "ns2.nameco.example", "ns.gov.example"])]
    a = attribute("www.gov.example", obs, ProviderTable(ROWS))
    assert (a.v6.provider, a.v6.kind, a.v6.via) == ("Edge CDN", "cdn", "www.gov.example.edgecdn.example")
    assert a.v4.provider is None  # IPv4 served by the site itself
    assert a.provider == "Edge CDN" and a.dns_operator == "Name Co"
    assert a.v6.prefixes == ("2001:db8:7::/48",) and a.v4.prefixes == ("203.0.113.0/24",)
    assert a.cname == "v6.edgecdn.example"
    assert a.ns == ("ns.gov.example", "ns1.nameco.example", "ns2.nameco.example")
    assert Attribution.from_json(json.loads(json.dumps(a.to_json()))) == a


def test_a_self_hosted_site_has_no_provider_and_an_address_prefix_can_name_one() -> None:
    t = ProviderTable(ROWS)
    self_hosted = attribute("a.example", [_resolve("a.example", ["2001:db8:1::1"], ["198.51.100.1"])], t)
    assert self_hosted.provider is None and self_hosted.cname is None and self_hosted.dns_operator is None
    cloud = attribute("b.example", [_resolve("b.example", ["2001:db8:e000::5"], [])], t)
    assert (cloud.v6.provider, cloud.v6.via) == ("Prefix Cloud", "2001:db8:e000::5")


def test_a_site_without_observations_or_with_garbage_evidence_is_unattributed() -> None:
    t = ProviderTable(ROWS)
    assert attribute("x.example", [], t) == Attribution()
    junk = Observation("dns.resolve", "x.example", Status.ERROR, {"aaaa": "nonsense", "a": {"records": [1, None]}})
    assert attribute("x.example", [junk, Observation("dns.ns_aaaa", "x.example", Status.OK, {"ns": [3, {}]})],
                     t).provider is None


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["match", "provider", "provider_zh", "kind", "country", "source"])
        w.writeheader()
        w.writerows(rows)
    return path


def test_a_users_file_adds_rows_and_replaces_a_shipped_one(tmp_path: Path) -> None:
    shipped = ProviderTable.default()
    assert len(shipped) >= 100
    some_match, some = next(iter(shipped.rows()))
    extra = _write_csv(tmp_path / "mine.csv", [
        {"match": "cdn.province.example", "provider": "Province Cloud", "provider_zh": "\u7701\u653f\u52a1\u4e91",
         "kind": "cloud", "country": "CN", "source": "our contract"},
        {"match": some_match, "provider": "Renamed", "kind": some.kind, "source": "mine"}])
    t = ProviderTable.load([extra])
    assert t.match_host("www.cdn.province.example")[1].label("zh-CN") == "\u7701\u653f\u52a1\u4e91"
    assert t.match_host(some_match.replace("*", "x"), dns=some.kind == "dns")[1].name == "Renamed"
    assert len(t) == len(shipped) + 1
    js = tmp_path / "mine.json"
    js.write_text(json.dumps([{"match": "2001:db8:f::/48", "provider": "J", "kind": "hosting"}]))
    assert ProviderTable.load([js]).match_address("2001:db8:f::1").name == "J"


@pytest.mark.parametrize(("rows", "message"), [
    ([{"match": "x.example", "provider": "P", "kind": "teleport"}], "line 2: kind 'teleport'"),
    ([{"match": "bad name!.example", "provider": "P", "kind": "cdn"}], "line 2: 'bad name!.example'"),
    ([{"match": "ok.example", "provider": "P", "kind": "cdn"}, {"match": "", "provider": "P", "kind": "cdn"}],
     "line 3: match and provider are required"),
])
def test_a_bad_row_is_named_by_its_line(tmp_path: Path, rows: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ProviderTableError, match=message):
        ProviderTable.load([_write_csv(tmp_path / "bad.csv", rows)])


def test_the_shipped_table_is_well_formed() -> None:
    rows = list(ProviderTable.default().rows())
    assert {p.kind for _, p in rows} <= set(KINDS) and {"cdn", "dns"} <= {p.kind for _, p in rows}
    assert all(p.source and p.country for _, p in rows)
    names = {p.name for _, p in rows}
    for major in ("Alibaba Cloud", "Tencent Cloud", "Cloudflare", "Akamai"):
        assert major in names, major
    # Chinese providers have Chinese names for zh-CN pages
    assert all(p.name_zh for _, p in rows if p.country == "CN")


@given(st.lists(st.text(alphabet="abc-.*9", max_size=30), max_size=400).map(".".join))
def test_matching_any_host_name_never_fails(host: str) -> None:
    t = ProviderTable(ROWS)
    hit = t.match_host(host)
    assert hit is None or host.lower().rstrip(".").endswith(hit[0].split("*")[-1])
    t.match_host(host, dns=True)


def test_ipv6_no_provider_serves_is_not_blamed_on_the_ipv4_provider() -> None:
    t = ProviderTable([*ROWS, ("198.51.100.0/24", Provider("V4 Cloud", "", "cloud", "US", "t"))])
    own_v6 = attribute("x.example", [_resolve("x.example", ["2001:db8:77::1"], ["198.51.100.5"])], t)
    assert own_v6.v4.provider == "V4 Cloud" and own_v6.provider is None
    v4_only = attribute("y.example", [_resolve("y.example", [], ["198.51.100.6"])], t)
    assert v4_only.provider == "V4 Cloud"  # no IPv6 at all: its IPv4's provider is who would serve it


def test_a_longer_pattern_beats_a_shorter_suffix_and_roles_stay_apart() -> None:
    parent, edge = Provider("Parent", "", "cloud", "US", "t"), Provider("EdgeCo", "", "cdn", "US", "t")
    dns = Provider("DNS Co", "", "dns", "US", "t")
    t = ProviderTable([("example.com", parent), ("edge*.example.com", edge), ("2001:db8:d::/48", dns)])
    assert t.match_host("x.edge1.example.com")[1].name == "EdgeCo"
    assert t.match_host("x.other.example.com")[1].name == "Parent"
    assert t.match_address("2001:db8:d::1") is None and t.match_address("2001:db8:d::1", dns=True).name == "DNS Co"
    renamed = ProviderTable([("a.example", Provider("P", "", "cdn", "CN", "t")),
                             ("b.example", Provider("P", "\u4e59", "cdn", "CN", "mine"))])
    assert renamed.label("P", "zh-CN") == "\u4e59"  # the later row names the provider
