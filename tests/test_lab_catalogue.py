"""The scenario catalogue and the zone data are consistent (no lab needed)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import dns.name
import dns.zone
import pytest

from tests.lab import scale
from tests.lab.lab import LINKS, PREFIXES, _dynamic_locations, _write_pages, nginx_string, targets_csv
from tests.lab.scenarios import SCENARIOS, SELF_CHECK, Page, by_id
from tests.lab.zones import NSDS, RESOLVER, ROOT_HINTS, UNREACHABLE_ROOT_HINTS, build_zones

LAB_NETS = [ipaddress.ip_network(n) for n in ("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24")]
FORBIDDEN = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "fd00::/64")]

#: behaviours the foundation issue asks for, each with its own site
REQUIRED = {
    "healthy", "v4only", "dropped", "refused", "tarpit", "diffcontent", "pmtu", "redir6", "links",
    "cert-expired", "cert-wrong-name", "cert-untrusted", "httponly", "twoaaaa", "cdn-v6", "cdn-v4",
    "bogus-mapped", "bogus-linklocal", "bogus-ula", "bogus-nat64", "nxdomain", "lame", "v4ns",
    "deadns", "bigdns", "mail", "v6only",
    # field truth: odd-but-valid sites
    "v6only-https", "v6only-http", "dynamic", "stale-aaaa",
}


def _in_lab(addr: str) -> bool:
    a = ipaddress.ip_address(addr)
    return any(a in n for n in LAB_NETS) and not any(a in n for n in FORBIDDEN)


def test_every_required_behaviour_has_its_own_site() -> None:
    ids = [s.id for s in SCENARIOS]
    targets = [s.target for s in SCENARIOS]
    assert len(ids) == len(set(ids))
    assert len(targets) == len(set(targets))
    assert set(ids) >= REQUIRED, REQUIRED - set(ids)
    assert {s.sector for s in SCENARIOS} == {"gov", "edu", "com"}


def test_every_scenario_expects_something_and_has_a_verdict() -> None:
    verdicts = {"ready", "partial", "broken", "absent", "error", "inconclusive"}
    for s in SCENARIOS:
        assert s.expect.get("verdict") in verdicts, s.id
        probes = set(s.expect) - {"verdict"}
        assert probes, f"{s.id} has no observation to verify"
        assert probes <= {"dns", "tcp", "tls", "http", "pmtu", "smtp", "dynamic"}, s.id


def test_only_lab_prefixes_are_used_for_real_addresses() -> None:
    addrs = [SELF_CHECK.addr, *RESOLVER]
    for _, r6, p6, r4, p4, _ in LINKS:
        addrs += [r6, p6, r4, p4]
    for nsd in NSDS.values():
        addrs += nsd.addrs
    for s in SCENARIOS:
        addrs += [e.addr for e in s.web] + [m.addr for m in s.smtp]
    addrs += [e.addr for e in scale.endpoints(5000)]
    bad = [a for a in addrs if not _in_lab(a)]
    assert not bad
    for prefixes in PREFIXES.values():
        for p in prefixes:
            net = ipaddress.ip_network(p)
            assert any(net.subnet_of(n) for n in LAB_NETS if n.version == net.version)  # type: ignore[arg-type]


def test_bogus_records_are_records_only() -> None:
    """Non-global AAAA answers exist only in DNS: the lab never serves on them."""
    served = {e.addr for s in SCENARIOS for e in s.web}
    for s in SCENARIOS:
        for _, rtype, rdata in s.records:
            if rtype in ("A", "AAAA") and not _in_lab(rdata):
                assert s.id.startswith(("bogus-", "forbidden-")), s.id
                assert rdata not in served


def test_web_endpoints_on_a_shared_address_agree() -> None:
    by_addr: dict[str, set[tuple[object, ...]]] = {}
    for s in SCENARIOS:
        for e in s.web:
            by_addr.setdefault(e.addr, set()).add((e.host, e.drop, e.http == "tarpit",
                                                   e.https == "tarpit"))
    assert all(len(v) == 1 for v in by_addr.values())


def test_zone_files_parse_and_delegate() -> None:
    zones = build_zones(SCENARIOS, scale.records(300))
    parsed = {}
    for nsd, files in zones.items():
        assert nsd in NSDS
        for name, text in files.items():
            origin = dns.name.from_text(name)
            parsed[name] = dns.zone.from_text(text, origin=origin, relativize=False,
                                              check_origin=True)
    root = parsed["."]
    assert root.get_rdataset(dns.name.from_text("test."), "NS") is not None
    gov = parsed["gov.test"]
    # child zones are delegated from their sector zone with glue
    deleg = gov.get_rdataset(dns.name.from_text("deadns.gov.test."), "NS")
    assert deleg is not None and len(deleg) == 2
    glue = gov.get_rdataset(dns.name.from_text("ns2.deadns.gov.test."), "AAAA")
    assert glue is not None and {r.address for r in glue} == {"2001:db8:53::dead"}
    # the lame zone is delegated but served by nobody
    assert parsed["edu.test"].get_rdataset(dns.name.from_text("lame.edu.test."), "NS")
    assert "lame.edu.test" not in parsed
    # the v4ns zone's servers have A glue only
    com = parsed["com.test"]
    assert com.get_rdataset(dns.name.from_text("ns1.v4ns.com.test."), "AAAA") is None
    assert com.get_rdataset(dns.name.from_text("ns1.v4ns.com.test."), "A") is not None
    # scale names land in the sector zones
    assert gov.get_rdataset(dns.name.from_text("s000000.gov.test."), "AAAA") is not None


def test_record_outside_the_lab_zones_is_rejected() -> None:
    from tests.lab.scenarios import Scenario

    bad = Scenario("x", "x.example", "com", "north", "", records=(("x.example", "A", "203.0.113.9"),),
                   expect={"verdict": "error"})
    with pytest.raises(ValueError, match="in no lab zone"):
        build_zones([bad])


def test_scale_proportions() -> None:
    n = 10_000
    verdicts = [v for *_, v in scale.sites(n)]
    counts = {v: verdicts.count(v) for v in set(verdicts)}
    assert counts == {"ready": 7000, "absent": 1500, "broken": 1000, "error": 500}
    recs = list(scale.records(n))
    assert len({r[0] for r in recs}) == 9500  # nxdomain names have no records
    eps = scale.endpoints(n)
    assert 300 <= len({e.addr for e in eps}) <= 500  # "a few hundred addresses"


def test_committed_target_list_matches_the_catalogue() -> None:
    committed = (Path(__file__).parents[1] / "targets" / "lab.csv").read_text()
    assert committed == targets_csv(0), "regenerate targets/lab.csv from tests.lab.lab.targets_csv"


def _records(sid: str, rtype: str) -> list[str]:
    return [d for _, t, d in by_id()[sid].records if t == rtype]


def test_ipv6_only_sites_serve_one_port_each() -> None:
    for sid, name, serving in (("v6only-https", "v6only443.edu.test", 443),
                               ("v6only-http", "v6only80.edu.test", 80)):
        s = by_id()[sid]
        assert s.target == name and not _records(sid, "A") and len(_records(sid, "AAAA")) == 1
        (e,) = s.web
        modes = {80: e.http, 443: e.https}
        assert modes[serving] == "page" and modes[{80: 443, 443: 80}[serving]] == "refuse"
        assert s.expect["verdict"] == "ready"


def test_dynamic_site_is_one_template_on_both_families() -> None:
    s = by_id()["dynamic"]
    assert len(_records("dynamic", "AAAA")) == 1 and len(_records("dynamic", "A")) == 1
    v6, v4 = s.web
    assert v6.pages == v4.pages and v6.http == v4.http == "redirect:https://dynamic.gov.test/"
    index = next(p for p in v6.pages if p.path == "index.html")
    assert index.dynamic
    text = index.head + index.body
    for var in ("$request_id", "$msec", "$time_iso8601"):
        assert var in text
    # only these nginx variables: any other "$" would make nginx refuse the configuration
    assert set(re.findall(r"\$(\w*)", text)) == {"request_id", "msec", "time_iso8601"}
    assert {"dynamic": {f"https://dynamic.gov.test/@{e.addr}": "differs" for e in s.web}}.items() \
        <= s.expect.items()
    assert s.expect["verdict"] == "ready"


def test_dynamic_pages_become_nginx_return_directives(tmp_path: Path) -> None:
    assert nginx_string('a "b" \\ $x\nc') == '"a \\"b\\" \\\\ $x\\nc"'
    pages = (Page("index.html", "T", "<p>$request_id</p>", head='<meta content="$msec">', dynamic=True),
             Page("about.html", "About", "static"))
    locs = _dynamic_locations(pages)
    assert [loc.split(" {")[0].strip() for loc in locs] == ["location = /index.html", "location = /"]
    assert all("default_type text/html; return 200 \"<!doctype html>" in loc for loc in locs)
    assert '<meta content=\\"$msec\\">' in locs[0] and "<p>$request_id</p>" in locs[0]
    _write_pages(tmp_path, pages)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["about.html"]


def test_stale_aaaa_serves_another_site_on_its_second_address() -> None:
    s = by_id()["stale-aaaa"]
    aaaa, a = _records("stale-aaaa", "AAAA"), _records("stale-aaaa", "A")
    assert len(aaaa) == 2 and len(a) == 1
    pages = {e.addr: e.pages for e in s.web}
    assert pages[aaaa[0]] == pages[a[0]] != pages[aaaa[1]]
    old, new = pages[aaaa[1]][0], pages[aaaa[0]][0]
    assert old.title != new.title and old.body != new.body
    http = s.expect["http"]
    assert isinstance(http, dict) and http[f"https://stale.com.test/@{aaaa[1]}"] == f"200 title={old.title}"
    assert s.expect["verdict"] == "partial"


def test_unreachable_root_hints_keep_ipv4_and_replace_ipv6() -> None:
    assert [n for n, _ in UNREACHABLE_ROOT_HINTS] == [n for n, _ in ROOT_HINTS]
    served = {a for nsd in NSDS.values() for a in nsd.addrs}
    for (_, real), (_, cut) in zip(ROOT_HINTS, UNREACHABLE_ROOT_HINTS, strict=True):
        assert [a for a in real if ":" not in a] == [a for a in cut if ":" not in a]
        for a in cut:
            assert _in_lab(a)
            if ":" in a:
                assert a not in served and a not in real
