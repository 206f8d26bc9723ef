"""The resolver layer against small DNS servers of ours on loopback (no lab needed)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import dns.flags
import dns.message
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6scan.dnsdirect import ask
from v6scan.model import Status
from v6scan.resolver import RR, Resolver, follow_chain, parse_server

Handler = Callable[[dns.message.Message], bytes | None]


class FakeDNS:
    """A UDP DNS server on 127.0.0.1 answering through ``handler`` (None: stay silent)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.queries: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            self.queries.append(f"{q.question[0].name} {dns.rdatatype.to_text(q.question[0].rdtype)}")
            out = self.handler(q)
            if out is not None:
                self.sock.sendto(out, peer)


@pytest.fixture
def fake_dns() -> Iterator[Callable[[Handler], FakeDNS]]:
    servers: list[FakeDNS] = []

    def make(handler: Handler) -> FakeDNS:
        s = FakeDNS(handler)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop.set()
        s.thread.join()
        s.sock.close()


def answer(q: dns.message.Message, *rrs: tuple[str, str, str], rcode: int = 0) -> bytes:
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    for name, rtype, data in rrs:
        r.answer.append(dns.rrset.from_text(name, 300, "IN", rtype, data))
    return r.to_wire()


def run(coro_factory: Callable[[], object]) -> object:
    return asyncio.run(coro_factory())  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "expected"), [
    ("192.0.2.53", ("192.0.2.53", 53)),
    ("192.0.2.53:5353", ("192.0.2.53", 5353)),
    ("2001:db8::53", ("2001:db8::53", 53)),
    ("[2001:db8::53]", ("2001:db8::53", 53)),
    ("[2001:db8::53]:5300", ("2001:db8::53", 5300)),
    (" 2001:DB8:0::53 ", ("2001:db8::53", 53)),
])
def test_parse_server(spec: str, expected: tuple[str, int]) -> None:
    assert parse_server(spec) == expected


@pytest.mark.parametrize("spec", ["resolver.example", "192.0.2.1:dns", "[2001:db8::1]x", "1.2.3.4:0",
                                  "[2001:db8::1]:70000", ""])
def test_parse_server_rejects(spec: str) -> None:
    with pytest.raises(ValueError, match="bad resolver"):
        parse_server(spec)


def rr(name: str, rtype: str, data: str) -> RR:
    return RR(name, rtype, 300, data)


def test_follow_chain_filters_by_type_and_detects_loops() -> None:
    recs = [rr("a.test", "CNAME", "b.test"), rr("b.test", "AAAA", "2001:db8::1"),
            rr("b.test", "A", "192.0.2.1")]
    chain, found, problem = follow_chain("a.test", "AAAA", recs, 16)
    assert chain == ("a.test", "b.test") and [r.data for r in found] == ["2001:db8::1"] and problem is None
    chain, found, problem = follow_chain("a.test", "MX", recs, 16)
    assert chain == ("a.test", "b.test") and found == () and problem is None
    loop = [rr("a.test", "CNAME", "b.test"), rr("b.test", "CNAME", "a.test")]
    chain, found, problem = follow_chain("a.test", "AAAA", loop, 16)
    assert found == () and problem is not None
    assert problem.startswith("CNAME loop: a.test -> b.test -> a.test")
    long = [rr(f"n{i}.test", "CNAME", f"n{i + 1}.test") for i in range(20)]
    _, _, problem = follow_chain("n0.test", "AAAA", long, 16)
    assert problem == "CNAME chain longer than 16"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=20))
def test_follow_chain_always_terminates(edges: list[tuple[int, int]]) -> None:
    recs = [rr(f"n{a}.test", "CNAME", f"n{b}.test") for a, b in edges]
    chain, found, problem = follow_chain("n0.test", "AAAA", recs, 16)
    assert chain[0] == "n0.test" and len(chain) <= 18 and found == ()
    if len(set(chain)) != len(chain):
        assert problem and "loop" in problem


def test_answer_cache_is_off(fake_dns: Callable[[Handler], FakeDNS]) -> None:
    srv = fake_dns(lambda q: answer(q, (str(q.question[0].name), "A", "192.0.2.7")))

    async def go() -> tuple[list[list[str]], bool]:
        r = Resolver((srv.server,), timeout=1.0)
        vals = [(await r.query("x.example.test", "A")).values for _ in range(3)]
        await r.close()
        return vals, r.cache_disabled

    vals, disabled = run(go)  # type: ignore[misc]
    assert vals == [["192.0.2.7"]] * 3
    assert disabled is True
    assert srv.queries == ["x.example.test. A"] * 3  # every lookup reached the server


def test_answers_of_another_type_are_not_records(fake_dns: Callable[[Handler], FakeDNS]) -> None:
    srv = fake_dns(lambda q: answer(q, (str(q.question[0].name), "A", "192.0.2.7")))

    async def go() -> object:
        r = Resolver((srv.server,), timeout=1.0)
        try:
            return await r.query("x.example.test", "AAAA")
        finally:
            await r.close()

    a = run(go)
    assert a.status is Status.NODATA and a.records == ()  # type: ignore[attr-defined]


def test_cname_loop_in_an_answer(fake_dns: Callable[[Handler], FakeDNS]) -> None:
    srv = fake_dns(lambda q: answer(q, ("a.example.test.", "CNAME", "b.example.test."),
                                    ("b.example.test.", "CNAME", "a.example.test.")))

    async def go() -> object:
        r = Resolver((srv.server,), timeout=1.0)
        try:
            return await r.query("a.example.test", "AAAA")
        finally:
            await r.close()

    a = run(go)
    assert a.status is Status.ERROR  # type: ignore[attr-defined]
    assert "CNAME loop" in a.error  # type: ignore[attr-defined]


def test_rcodes_map_to_statuses(fake_dns: Callable[[Handler], FakeDNS]) -> None:
    codes = {"nx": 3, "sf": 2, "rf": 5}
    srv = fake_dns(lambda q: answer(q, rcode=codes[str(q.question[0].name).split(".")[0]]))

    async def go() -> dict[str, Status]:
        r = Resolver((srv.server,), timeout=1.0, retries=0)
        try:
            return {k: (await r.query(f"{k}.example.test", "A")).status for k in codes}
        finally:
            await r.close()

    assert run(go) == {"nx": Status.NXDOMAIN, "sf": Status.SERVFAIL, "rf": Status.REFUSED}


def test_garbage_and_silence_give_clear_errors(fake_dns: Callable[[Handler], FakeDNS]) -> None:
    garbage = fake_dns(lambda q: b"\x00\x01garbage" * 7)
    silent = fake_dns(lambda q: None)

    async def go() -> tuple[object, object, object]:
        g = Resolver((garbage.server,), timeout=0.3, retries=1)
        s = Resolver((silent.server,), timeout=0.3, retries=1)
        try:
            return (await g.query("x.example.test", "A"), await s.query("x.example.test", "A"),
                    await ask("127.0.0.1", "x.example.test", "A", timeout=0.3, port=garbage.port))
        finally:
            await g.close()
            await s.close()

    g, s, direct = run(go)  # type: ignore[misc]
    assert g.status in (Status.ERROR, Status.TIMEOUT) and g.error
    assert s.status is Status.TIMEOUT and s.attempts >= 2 and s.error
    assert direct.status in (Status.ERROR, Status.TIMEOUT) and direct.error


def test_direct_query_reports_flags_and_sections(fake_dns: Callable[[Handler], FakeDNS]) -> None:
    def handler(q: dns.message.Message) -> bytes:
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "AAAA", "2001:db8::5"))
        return r.to_wire()

    srv = fake_dns(handler)
    reply = run(lambda: ask("127.0.0.1", "x.example.test", "AAAA", port=srv.port, timeout=1))
    assert reply.status is Status.OK and reply.aa and reply.rcode == "NOERROR"  # type: ignore[attr-defined]
    assert [(r.type, r.data) for r in reply.answer] == [("AAAA", "2001:db8::5")]  # type: ignore[attr-defined]
