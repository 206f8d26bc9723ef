"""path.mtu: the path MTU towards each IPv6 address, Packet Too Big dissected (router, MTU); in the
lab (a 1400-byte hop, a 1280-byte hop, the PMTU blackhole, healthy paths), its rule, its dissector."""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import lab_settings
from tests.lab import Lab
from tests.lab.netns import run_async_in_netns
from tests.lab.scenarios_path import DROP_ECHO, NARROW_HOPS, path_v6
from v6scan.checks.path import IPV6_MIN_MTU, dissect_icmp6, echo_request, scapy_inet6
from v6scan.checks.path_mtu import CHECK, MtuEvidence, MtuProbe, MtuRow, TcpProbe
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.messages import MESSAGES
from v6scan.model import Observation, Status
from v6scan.scoring import load_policy, score_target
from v6scan.settings import Settings
from v6scan.targets import parse_target

Obs = dict[tuple[str, str], Observation]
CHECKS = ("web.reach", "path.mtu", "self.v6")
ROUTER = "2001:db8:ffff:1::1"  # the lab router, on the client's side
#: tries of an echo request that gets no answer
TRIES = Settings().echo_attempts
SITES = ["mtu-ptb.com.test", "mtu1280.com.test", "pmtu.edu.test", "healthy.gov.test", "mtu-noecho.com.test"]


def scan(lab: Lab, names: list[str]) -> tuple[Obs, list[TargetResult]]:
    async def go() -> list[TargetResult]:
        s = lab_settings(lab, ca_bundle=lab.ca_file, self_check=lab.self_check, timeout=2.0, www="never",
                         check_ids=CHECKS)
        async with Context.create(s) as ctx:
            return list(await asyncio.gather(*(scan_target(ctx, parse_target(n)) for n in names)))

    results = run_async_in_netns(lab.client, go)
    return {(o.check, o.target): o for r in results for o in r.observations}, results


@pytest.fixture(scope="module")
def mtu(lab: Lab) -> tuple[Obs, list[TargetResult]]:
    return scan(lab, SITES)


def _row(obs: Obs, site: str) -> dict[str, Any]:
    o = obs["path.mtu", site]
    assert o.status is Status.OK, (o.status, o.error)
    (row,) = o.evidence["addresses"]
    assert isinstance(row, dict)
    return row


def test_a_1400_byte_hop_sends_packet_too_big_and_it_is_honoured(mtu: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = mtu
    row = _row(obs, "mtu-ptb.com.test")
    assert NARROW_HOPS[path_v6(1)] == 1400
    assert (row["address"], row["method"], row["result"], row["path_mtu"]) == (path_v6(1), "echo", "ptb_honoured", 1400)
    assert row["ptb"] == [{"router": ROUTER, "mtu": 1400}]
    sizes = [(p["size"], p["reply"]) for p in row["probes"]]
    assert sizes == [(1280, "echo-reply"), (1500, "packet-too-big"), (1400, "echo-reply")]
    assert obs["path.mtu", "mtu-ptb.com.test"].evidence["narrow"] == [path_v6(1)]
    r = CHECK.evaluate(obs["path.mtu", "mtu-ptb.com.test"], load_policy())
    assert r.result == "pass" and [x.code for x in r.reasons] == ["mtu_ptb"]
    assert "1400" in r.reasons[0].text() and ROUTER in r.reasons[0].text("zh-CN")


def test_a_1280_byte_path(mtu: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = mtu
    row = _row(obs, "mtu1280.com.test")
    assert (row["result"], row["path_mtu"], row["ptb"]) == ("path_1280", 1280, [{"router": ROUTER, "mtu": 1280}])
    r = CHECK.evaluate(obs["path.mtu", "mtu1280.com.test"], load_policy())
    assert r.result == "pass" and [x.code for x in r.reasons] == ["mtu_1280"]


def test_ptb_filtered_is_a_blackhole(mtu: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = mtu
    row = _row(obs, "pmtu.edu.test")
    assert (row["address"], row["result"], row["path_mtu"], row["ptb"]) == ("2001:db8:1280::10", "blackhole", 1280, [])
    assert [(p["size"], p["reply"], p["attempts"]) for p in row["probes"]] == [
        (1280, "echo-reply", 1), (1500, "silent", TRIES), (1400, "silent", TRIES)]
    assert obs["path.mtu", "pmtu.edu.test"].evidence["blackholes"] == ["2001:db8:1280::10"]
    r = CHECK.evaluate(obs["path.mtu", "pmtu.edu.test"], load_policy())
    assert (r.result, [x.code for x in r.reasons]) == ("warn", ["mtu_blackhole"])
    assert r.reasons[0].params["size"] == 1400 and "2001:db8:1280::10" in r.reasons[0].text()


def test_a_healthy_path_carries_1500_bytes(mtu: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = mtu
    row = _row(obs, "healthy.gov.test")
    assert (row["result"], row["path_mtu"], row["ptb"]) == ("full", 1500, [])
    assert CHECK.evaluate(obs["path.mtu", "healthy.gov.test"], load_policy()).result == "pass"


def test_an_address_that_ignores_echo_is_measured_over_tcp(mtu: tuple[Obs, list[TargetResult]]) -> None:
    obs, _ = mtu
    row = _row(obs, "mtu-noecho.com.test")
    assert (row["address"], row["method"], row["result"], row["path_mtu"]) == (DROP_ECHO[0], "tcp", "full", None)
    assert row["probes"] == [{"size": 1280, "reply": "silent", "attempts": TRIES}]
    (t,) = row["tcp"]  # the normal MSS got through (the TLS handshake's certificate flight is big): no clamped one
    assert (t["mss"], t["status"], t["phase"]) == (None, "ok", "body")
    assert CHECK.evaluate(obs["path.mtu", "mtu-noecho.com.test"], load_policy()).result == "pass"


def test_informational_path_mtu_changes_no_verdict(mtu: tuple[Obs, list[TargetResult]]) -> None:
    """The blackhole warning too: the same verdict and score with and without path.mtu's observation."""
    _, results = mtu
    for r in results:
        with_it = score_target(r.target.name, r.observations, load_policy())
        without = score_target(r.target.name, [o for o in r.observations if o.check != "path.mtu"], load_policy())
        assert with_it.check("path.mtu") is not None and without.check("path.mtu") is None
        assert (with_it.verdict, with_it.score) == (without.verdict, without.score), r.target.name


def test_without_cap_net_raw_path_mtu_and_path_frag_are_skipped(lab: Lab) -> None:
    v6scan = str(Path(sys.executable).parent / "v6scan")
    args = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", "--", v6scan, "check",
            "healthy.gov.test", "--checks", "path.mtu,path.frag", "--format", "json", "--www", "never", "--timeout",
            "2", "--resolver", lab.resolver[0], "--no-self-check"]
    for net in ("2001:db8::/32", "198.51.100.0/24", "203.0.113.0/24"):
        args += ["--allow-net", net]
    r = lab.exec(args, timeout=120)
    doc: dict[str, Any] = json.loads(r.stdout)
    for check in ("path.mtu", "path.frag"):
        o = doc["checks"][check]["details"]["names"]["healthy.gov.test"]
        assert o["status"] == "skipped" and "CAP_NET_RAW" in o["error"], o
        assert doc["checks"][check]["result"] == "not_tested"


# ------------------------------------------------------------------ the rule, on evidence built as the probe does

def _p(size: int, reply: str, **kw: Any) -> MtuProbe:
    return MtuProbe(size=size, reply=reply, **kw)


def _obs(*rows: MtuRow, status: Status = Status.OK) -> Observation:
    return CHECK.observe("x.test", status, MtuEvidence.build(addresses=rows, sizes=(1500, 1400)))


def test_row_outcomes() -> None:
    full = MtuRow.build(address="2001:db8::1", probes=[_p(1280, "echo-reply"), _p(1500, "echo-reply")])
    assert (full.result, full.path_mtu) == ("full", 1500)
    honoured = MtuRow.build(address="2001:db8::2", probes=[
        _p(1280, "echo-reply"), _p(1500, "packet-too-big", router="2001:db8::ff", mtu=1480), _p(1480, "echo-reply")])
    assert (honoured.result, honoured.path_mtu, honoured.ptb) == ("ptb_honoured", 1480,
                                                                  ({"router": "2001:db8::ff", "mtu": 1480},))
    # a Packet Too Big that comes back, but the size it names still vanishes: a blackhole on the way back
    ignored = MtuRow.build(address="2001:db8::3", probes=[
        _p(1280, "echo-reply"), _p(1500, "packet-too-big", router="2001:db8::ff", mtu=1400), _p(1400, "silent")])
    assert (ignored.result, ignored.path_mtu) == ("blackhole", 1280)
    silent = MtuRow.build(address="2001:db8::4", probes=[_p(1280, "silent")])
    assert (silent.result, silent.method, silent.path_mtu) == ("inconclusive", "echo", None)
    # echo filtered: TCP speaks
    tcp_hole = MtuRow.build(address="2001:db8::5", probes=[_p(1280, "silent")], tcp=[
        TcpProbe(mss=None, status="timeout", phase="handshake"), TcpProbe(mss=1220, status="ok", phase="body")])
    assert (tcp_hole.result, tcp_hole.method) == ("blackhole", "tcp")
    tcp_ok = MtuRow.build(address="2001:db8::6", probes=[_p(1280, "silent")],
                          tcp=[TcpProbe(mss=None, status="ok", phase="body")])
    assert tcp_ok.result == "full"
    tcp_down = MtuRow.build(address="2001:db8::7", probes=[_p(1280, "silent")],
                            tcp=[TcpProbe(mss=None, status="timeout", phase="connect")])
    assert tcp_down.result == "inconclusive"
    ev = MtuEvidence.build(addresses=[full, honoured, ignored, silent], sizes=(1500, 1400))
    assert ev.blackholes == ("2001:db8::3",) and ev.narrow == ("2001:db8::2",)
    assert MtuEvidence.from_json(json.loads(json.dumps(ev.to_json()))) == ev


def test_what_vanishes() -> None:
    # the scanner's own link cannot send 1500 bytes: its limit, not the path's
    own = MtuRow.build(address="2001:db8::1", probes=[_p(1280, "echo-reply"), _p(1500, "send-error", error="too long"),
                                                      _p(1400, "echo-reply")])
    assert (own.result, own.path_mtu) == ("full", 1400)
    # a filter answering big packets with another error is no Packet Too Big
    filtered = MtuRow.build(address="2001:db8::2", probes=[
        _p(1280, "echo-reply"), _p(1500, "unreachable/1", router="2001:db8::ff"), _p(1400, "silent")])
    assert (filtered.result, filtered.path_mtu, filtered.ptb) == ("blackhole", 1280, ())


def test_routers_cannot_make_the_probe_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile hop answering every size with Packet Too Big for one byte less: the sizes tried are
    bounded (mtu_max_probes), each one once."""
    from v6scan.checks import path_mtu
    from v6scan.checks.path import Icmp6
    from v6scan.settings import Settings

    sent: list[int] = []

    async def fake(sock: object, addr: str, ident: int, seq: int, size: int, wait: float) -> tuple[Icmp6, None]:
        sent.append(size)
        if size == IPV6_MIN_MTU:
            return Icmp6(addr, 129, 0, ident=ident, seq=seq), None
        return Icmp6("2001:db8::ff", 2, 0, mtu=size - 1, quoted_dst=addr, ident=ident, seq=seq), None

    monkeypatch.setattr(path_mtu, "sized_echo", fake)
    ctx: Any = type("Ctx", (), {"settings": Settings()})()
    probes = asyncio.run(path_mtu._echoes(ctx, None, "2001:db8::1"))  # type: ignore[arg-type]
    assert sent == [1280, 1500, 1499, 1498, 1497] and len(probes) == 1 + Settings().mtu_max_probes
    row = MtuRow.build(address="2001:db8::1", probes=probes)
    assert row.result == "path_1280" and len(row.ptb) == 4


def test_rule() -> None:
    p = load_policy()
    full = MtuRow.build(address="2001:db8::1", probes=[_p(1280, "echo-reply"), _p(1500, "echo-reply")])
    hole = MtuRow.build(address="2001:db8::3", probes=[
        _p(1280, "echo-reply"), _p(1500, "packet-too-big", router="2001:db8::ff", mtu=1400), _p(1400, "silent")])
    r = CHECK.evaluate(_obs(full, hole), p)
    assert (r.result, [x.code for x in r.reasons]) == ("warn", ["mtu_blackhole"])
    assert r.reasons[0].params == {"address": "2001:db8::3", "largest": 1280, "size": 1400,
                                   "router": "2001:db8::ff", "mtu": 1400}
    assert CHECK.evaluate(_obs(full), p).result == "pass"
    silent = MtuRow.build(address="2001:db8::4", probes=[_p(1280, "silent")])
    assert CHECK.evaluate(_obs(silent), p).result == "not_tested"
    skipped = CHECK.observe("x.test", Status.SKIPPED, MtuEvidence(reason="no CAP_NET_RAW"), "no CAP_NET_RAW")
    assert CHECK.evaluate(skipped, p).result == "not_tested"
    assert all(code in MESSAGES for code in CHECK.reasons)
    assert (CHECK.weight, CHECK.required, CHECK.in_sweeps) == (0, False, False)


# ------------------------------------------------------------------ the dissector

SRC = "2001:db8:ffff:1::1"


def _ptb(mtu: int, dst: str, ident: int, seq: int, size: int = 1500) -> bytes:
    l6 = scapy_inet6()
    head = bytes(l6.IPv6(src="2001:db8:ffff:1::2", dst=dst, nh=58, plen=size - 40))
    inner = head + echo_request(ident, seq, size)[:size - 40]
    return struct.pack("!BBHI", 2, 0, 0, mtu) + inner[:IPV6_MIN_MTU - 48]


def test_dissect_packet_too_big() -> None:
    m = dissect_icmp6(_ptb(1400, "2001:db8:80::19:1", 0x1234, 7), SRC)
    assert m is not None and (m.type, m.mtu, m.source, m.quoted_dst, m.ident, m.seq, m.name) == (
        2, 1400, SRC, "2001:db8:80::19:1", 0x1234, 7, "packet-too-big")
    reply = dissect_icmp6(struct.pack("!BBHHH", 129, 0, 0, 5, 6) + b"x" * 20, "2001:db8::1")
    assert reply is not None and (reply.name, reply.ident, reply.seq) == ("echo-reply", 5, 6)
    assert dissect_icmp6(b"\x80\x00\x00\x00\x00\x01\x00\x01", SRC) is None  # an echo request: not for us
    assert dissect_icmp6(b"\x02\x00", SRC) is None  # truncated


@given(st.binary(max_size=3000))
def test_dissector_never_raises_on_garbage(data: bytes) -> None:
    m = dissect_icmp6(data, SRC)
    assert m is None or m.type in (1, 2, 3, 4, 129)


@given(st.sampled_from([1, 2, 3, 4, 129]), st.binary(max_size=1500))
def test_dissector_never_raises_on_garbage_of_each_type(kind: int, rest: bytes) -> None:
    m = dissect_icmp6(bytes([kind]) + rest, SRC)
    assert m is None or m.type == kind


@given(st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 1300))
def test_dissector_reads_every_ptb(mtu: int, ident: int, seq: int, cut: int) -> None:
    data = _ptb(mtu, "2001:db8::1", ident, seq)[: 8 + cut] if cut else _ptb(mtu, "2001:db8::1", ident, seq)
    m = dissect_icmp6(data, SRC)
    assert m is not None and m.mtu == mtu
    if not cut or cut >= 48:
        assert (m.quoted_dst, m.ident, m.seq) == ("2001:db8::1", ident, seq)
