"""path.frag: fragmented ICMPv6 echo, a destination-options header and a DNS answer that needs
fragments, to every IPv6 web and name-server address; in the lab (fragments dropped at a web
address and on a name server's path, destination options dropped), its rule, its DNS header reader."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import lab_settings
from tests.lab import Lab
from tests.lab.netns import run_async_in_netns
from tests.lab.scenarios_path import DROP_DSTOPT, DROP_FRAGMENTS, FRAGDNS_NS, NS_DROP_FRAGMENTS, path_v6
from v6scan.checks.path_frag import CHECK, DnsFrag, DnsTry, EchoTry, FragEvidence, FragRow, _packets, dissect_dns
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.messages import MESSAGES
from v6scan.model import Observation, Status
from v6scan.scoring import load_policy, score_target
from v6scan.settings import Settings
from v6scan.targets import parse_target

Obs = dict[tuple[str, str], Observation]
CHECKS = ("web.reach", "dns.ns_reach", "path.frag", "self.v6")
SITES = ["fragdrop.com.test", "dstopt.com.test", "fragdns.com.test", "healthy.gov.test"]
#: tries of an echo request or a DNS query that gets no answer
TRIES = Settings().echo_attempts
SECTOR_NS = ["2001:db8:53::21", "2001:db8:53::22"]


def scan(lab: Lab, names: list[str]) -> list[TargetResult]:
    async def go() -> list[TargetResult]:
        s = lab_settings(lab, ca_bundle=lab.ca_file, self_check=lab.self_check, timeout=2.0, www="never",
                         check_ids=CHECKS)
        async with Context.create(s) as ctx:
            return list(await asyncio.gather(*(scan_target(ctx, parse_target(n)) for n in names)))

    return run_async_in_netns(lab.client, go)


@pytest.fixture(scope="module")
def frag(lab: Lab) -> tuple[Obs, list[TargetResult]]:
    results = scan(lab, SITES)
    return {(o.check, o.target): o for r in results for o in r.observations}, results


def _rows(obs: Obs, site: str) -> dict[str, dict[str, Any]]:
    o = obs["path.frag", site]
    assert o.status is Status.OK, (o.status, o.error)
    return {r["address"]: r for r in o.evidence["addresses"]}


def test_a_web_address_that_drops_fragments(frag: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = frag
    rows = _rows(obs, "fragdrop.com.test")
    assert (path_v6(3),) == DROP_FRAGMENTS and list(rows) == [path_v6(3), *SECTOR_NS]
    web = rows[path_v6(3)]
    assert web["role"] == "web" and web["whole"] == {"answered": True, "attempts": 1}
    assert web["fragmented"] == {"answered": False, "attempts": TRIES}  # tried again before blaming
    assert web["dst_opts"]["answered"] is True and web["drops"] == ["fragments"]
    assert all(rows[a]["drops"] == [] and rows[a]["role"] == "ns" for a in SECTOR_NS)
    assert obs["path.frag", "fragdrop.com.test"].evidence["drop_fragments"] == [path_v6(3)]
    r = CHECK.evaluate(obs["path.frag", "fragdrop.com.test"], load_policy())
    assert (r.result, [x.code for x in r.reasons]) == ("warn", ["frag_dropped"])
    assert path_v6(3) in r.reasons[0].text() and "分片" in r.reasons[0].text("zh-CN")


def test_a_web_address_that_drops_destination_options(frag: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = frag
    web = _rows(obs, "dstopt.com.test")[DROP_DSTOPT[0]]
    assert (web["whole"]["answered"], web["fragmented"]["answered"], web["dst_opts"]["answered"]) == (True, True, False)
    assert web["drops"] == ["dst_opts"]
    r = CHECK.evaluate(obs["path.frag", "dstopt.com.test"], load_policy())
    assert (r.result, [x.code for x in r.reasons]) == ("warn", ["dstopt_dropped"])


def test_a_name_server_whose_fragmented_answers_are_dropped(frag: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = frag
    o = obs["path.frag", "fragdns.com.test"]
    assert o.evidence["zone"] == "fragdns.com.test"
    rows = _rows(obs, "fragdns.com.test")
    good, bad = rows[FRAGDNS_NS[0][1]], rows[NS_DROP_FRAGMENTS[0]]
    assert (FRAGDNS_NS[1][1],) == NS_DROP_FRAGMENTS and list(rows) == [path_v6(5), *(a for _, a in FRAGDNS_NS)]
    assert (good["ns"], bad["ns"]) == ("ns1.fragdns.com.test", "ns2.fragdns.com.test")
    # ns1: the 2.4 kB answer arrives in fragments; with a 1232-byte buffer it is truncated
    assert good["dns"]["needs_fragments"] is True and good["dns"]["dropped"] is False
    assert good["dns"]["big"]["status"] == "ok" and good["dns"]["big"]["size"] > 2000
    assert good["dns"]["small"]["tc"] is True and good["drops"] == []
    # ns2: fragments dropped on its path: no big answer (after every attempt), the truncated one arrives
    assert bad["dns"]["big"] == {"edns": 4096, "status": "timeout", "attempts": TRIES}
    assert bad["dns"]["small"]["status"] == "ok" and bad["dns"]["small"]["tc"] is True
    assert bad["drops"] == ["fragments", "dns_fragments"]
    assert o.evidence["drop_dns_fragments"] == [NS_DROP_FRAGMENTS[0]]
    assert rows[path_v6(5)]["drops"] == []
    r = CHECK.evaluate(o, load_policy())
    assert [x.code for x in r.reasons] == ["frag_dropped", "dns_frag_dropped"]
    assert "ns2.fragdns.com.test" in r.reasons[1].text()


def test_healthy_addresses_answer_everything(frag: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = frag
    rows = _rows(obs, "healthy.gov.test")
    assert all(r["drops"] == [] and r["fragmented"]["answered"] and r["dst_opts"]["answered"] for r in rows.values())
    assert all(r["dns"]["needs_fragments"] is False for r in rows.values() if r["role"] == "ns")
    assert CHECK.evaluate(obs["path.frag", "healthy.gov.test"], load_policy()).result == "pass"


def test_informational_path_frag_changes_no_verdict(frag: tuple[Obs, list[TargetResult]]) -> None:
    """Its warnings too: the same verdict and score with and without path.frag's observation."""
    _, results = frag
    for r in results:
        with_it = score_target(r.target.name, r.observations, load_policy())
        without = score_target(r.target.name, [o for o in r.observations if o.check != "path.frag"], load_policy())
        assert with_it.check("path.frag") is not None and without.check("path.frag") is None
        assert (with_it.verdict, with_it.score) == (without.verdict, without.score), r.target.name


# ------------------------------------------------------------------ the rule and the packets

def _echo(ok: bool) -> EchoTry:
    return EchoTry(answered=ok, attempts=1 if ok else 3)


def _obs(*rows: FragRow) -> Observation:
    return CHECK.observe("x.test", Status.OK, FragEvidence.build(addresses=rows, zone="x.test"))


def test_rows_and_rule() -> None:
    p = load_policy()
    ok = FragRow.build(address="2001:db8::1", role="web", whole=_echo(True), fragmented=_echo(True),
                       dst_opts=_echo(True))
    assert ok.drops == () and ok.tested
    both = FragRow.build(address="2001:db8::2", role="web", whole=_echo(True), fragmented=_echo(False),
                         dst_opts=_echo(False))
    assert both.drops == ("fragments", "dst_opts")
    own = FragRow.build(address="2001:db8::2", role="web", whole=_echo(True),
                        fragmented=EchoTry(answered=False, attempts=1, error="Message too long"), dst_opts=_echo(True))
    assert own.drops == () and own.tested  # the scanner could not send it: no finding about the address
    # an address that ignores echo says nothing about fragments
    mute = FragRow.build(address="2001:db8::3", role="web", whole=_echo(False), fragmented=EchoTry(),
                         dst_opts=EchoTry())
    assert mute.drops == () and not mute.tested
    dns = DnsFrag.build(qname="x.test", qtype="TXT", big=DnsTry(edns=4096, status="timeout", attempts=3),
                        small=DnsTry(edns=1232, status="ok", attempts=1, size=45, tc=True, rcode="NOERROR"))
    assert dns.needs_fragments and dns.dropped
    small = DnsFrag.build(qname="x.test", qtype="TXT", big=DnsTry(edns=4096, status="timeout", attempts=3),
                          small=DnsTry(edns=1232, status="ok", attempts=1, size=88, rcode="NOERROR"))
    assert not small.needs_fragments and not small.dropped  # a small answer lost: not about fragments
    ns = FragRow.build(address="2001:db8::4", role="ns", ns="ns.x.test", whole=_echo(False), fragmented=EchoTry(),
                       dst_opts=EchoTry(), dns=dns)
    assert ns.drops == ("dns_fragments",) and ns.tested
    r = CHECK.evaluate(_obs(ok, both, mute, ns), p)
    assert r.result == "warn"
    assert [x.code for x in r.reasons] == ["frag_dropped", "dstopt_dropped", "dns_frag_dropped"]
    assert r.reasons[2].params == {"address": "2001:db8::4", "ns": "ns.x.test", "size": 45}
    assert CHECK.evaluate(_obs(ok), p).result == "pass"
    assert CHECK.evaluate(_obs(mute), p).result == "not_tested"
    ev = FragEvidence.build(addresses=[ok, both, mute, ns], zone="x.test")
    assert ev.drop_fragments == ("2001:db8::2",) and ev.drop_dns_fragments == ("2001:db8::4",)
    assert FragEvidence.from_json(json.loads(json.dumps(ev.to_json()))) == ev
    assert all(code in MESSAGES for code in CHECK.reasons)
    assert (CHECK.weight, CHECK.required, CHECK.in_sweeps) == (0, False, False)


def test_the_packets_scapy_builds() -> None:
    from v6scan.checks.path import scapy_inet6

    l6 = scapy_inet6()
    frags = _packets("fragmented", "2001:db8::2", "2001:db8::1", 7, 1, 1048)
    assert len(frags) == 2 and all(len(f) < 1280 for f in frags)
    heads = [l6.IPv6(f) for f in frags]
    assert all(h.nh == 44 for h in heads)  # a fragment header each
    # the fragments hold the 1008-byte echo (8-byte header + 1000 bytes) between them: 48 bytes of IPv6 and
    # fragment header each
    assert sum(len(f) - 48 for f in frags) == 1048 - 40
    assert [h[l6.IPv6ExtHdrFragment].m for h in heads] == [1, 0]
    (dst,) = _packets("dst_opts", "2001:db8::2", "2001:db8::1", 7, 2, 1048)
    d = l6.IPv6(dst)
    assert d.nh == 60 and d.haslayer(l6.ICMPv6EchoRequest) and d[l6.ICMPv6EchoRequest].seq == 2
    (plain,) = _packets("whole", "2001:db8::2", "2001:db8::1", 7, 3, 1048)
    assert len(plain) == 1048 and l6.IPv6(plain).nh == 58


def test_dns_header_reader() -> None:
    answer = struct.pack("!HHHHHH", 0x1234, 0x8000 | 0x0200 | 3, 1, 0, 0, 0) + b"rest"
    assert dissect_dns(answer, 0x1234) == ("NXDOMAIN", True)
    assert dissect_dns(answer, 0x1235) is None  # another query's
    assert dissect_dns(struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0), 0x1234) is None  # a query, not an answer
    assert dissect_dns(b"\x12\x34", 0x1234) is None


@given(st.binary(max_size=600), st.integers(0, 0xFFFF))
def test_dns_header_reader_never_raises(data: bytes, qid: int) -> None:
    got = dissect_dns(data, qid)
    assert got is None or (len(data) >= 12 and isinstance(got[0], str) and isinstance(got[1], bool))
