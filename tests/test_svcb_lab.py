"""web.svcb: the HTTPS record parser, the evidence's derived fields, the rule (pure), the probe against
a fake resolver (AliasMode followed, another target's AAAA compared), and the lab's ``svcb`` and
``svcb-stale`` scenarios (ipv6hint equal to the AAAA; naming a stale address too) beside ``healthy``
(no HTTPS record: information only).

The check is informational: weight 0 and not required in every built-in policy, so its warning never
changes a verdict or a score.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import only, scan_sites
from tests.lab import Lab
from tests.lab.scenarios import SVCB_RDATA, SVCB_STALE_HINT, by_id
from v6scan.checks import web_svcb
from v6scan.checks.base import Run
from v6scan.checks.dns import HostDNS
from v6scan.checks.web_svcb import CHECK, SvcbEvidence, SvcbLookup, SvcbRecord, SvcbTarget, parse_https
from v6scan.context import Context
from v6scan.dnsdirect import ServerReply
from v6scan.engine import TargetResult
from v6scan.model import Observation, Status
from v6scan.registry import CHECKS
from v6scan.resolver import RR, Answer
from v6scan.rules import CheckResult
from v6scan.scoring import BUILTIN_POLICIES, evaluate, load_policy, score_target
from v6scan.settings import Settings

V6A, V6B, V6C, V4A = "2001:db8::a", "2001:db8::b", "2001:db8::c", "192.0.2.1"

# --------------------------------------------------------------------------- the parser


def test_a_full_service_record_parses() -> None:
    r = parse_https("a.test", '1 . mandatory="alpn" alpn="h2,h3" no-default-alpn port="8443"'
                    ' ipv4hint="192.0.2.1" ipv6hint="2001:db8:0::a,2001:DB8::b" key667="hello"')
    assert r.problem is None and r.service and not r.alias
    assert (r.owner, r.priority, r.target, r.endpoint) == ("a.test", 1, ".", "a.test")
    assert (r.alpn, r.no_default_alpn, r.port) == (("h2", "h3"), True, 8443)
    assert r.ipv4hint == (V4A,) and r.ipv6hint == (V6A, V6B)  # canonical (RFC 5952) text
    assert r.other == {"mandatory": "alpn", "key667": "hello"}


def test_an_alias_record_and_another_target() -> None:
    alias = parse_https("a.test", "0 Pool.CDN.test.")
    assert alias.alias and not alias.service and alias.target == "pool.cdn.test" and alias.endpoint == "pool.cdn.test"
    svc = parse_https("a.test", '2 svc.a.test. alpn="h2"')
    assert svc.service and svc.endpoint == "svc.a.test" and svc.ipv6hint == ()


@pytest.mark.parametrize("text", ["", "garbage", "1", "1 . ipv6hint=192.0.2.1", "1 . alpn=", "70000 . alpn=h2",
                                  "1 . port=99999", '1 . key65535="x" key65535="y"'])
def test_what_does_not_parse_is_recorded_not_raised(text: str) -> None:
    r = parse_https("a.test", text)
    assert r.problem and r.problem.startswith("does not parse") and not r.service and not r.alias
    assert r.data == text


@given(st.text(max_size=400))
def test_the_parser_never_raises(text: str) -> None:
    r = parse_https("a.test", text)
    assert (r.problem is None) or (r.priority, r.alpn, r.ipv6hint) == (0, (), ())


_HTTPSISH = st.lists(st.sampled_from(["1", "0", " ", ".", "a.test.", "alpn=", "h2", ",", '"', "\\", "ipv6hint=",
                                      "2001:db8::1", "ipv4hint=", "192.0.2.1", "port=", "443", "mandatory=",
                                      "key7=", "ech=", "no-default-alpn", "=", "\\044", "65535"]), max_size=30)


@given(_HTTPSISH)
def test_the_parser_never_raises_on_record_like_text(parts: list[str]) -> None:
    parse_https("a.test", "".join(parts))


_ALPN = st.lists(st.text(alphabet="abcdefh123/.-,\\\"= é", min_size=1, max_size=8), max_size=3, unique=True)
_V6 = st.ip_addresses(v=6).map(str)
_V4 = st.ip_addresses(v=4).map(str)


@given(priority=st.integers(1, 65535), alpn=_ALPN, port=st.none() | st.integers(0, 65535),
       v4=st.lists(_V4, max_size=3, unique=True), v6=st.lists(_V6, max_size=3, unique=True),
       target=st.sampled_from([".", "svc.a.test.", "x-1.example."]))
def test_what_a_server_sends_reads_back(priority: int, alpn: list[str], port: int | None, v4: list[str],
                                        v6: list[str], target: str) -> None:
    """A record built by dnspython, sent in wire form and written as dnsdirect writes a reply (``to_text``),
    reads back field by field (whatever bytes the ALPN ids hold)."""
    params: list[tuple[int, bytes]] = []  # RFC 9460 wire form, keys in ascending order
    if alpn:
        params.append((1, b"".join(bytes([len(a.encode())]) + a.encode() for a in alpn)))
    if port is not None:
        params.append((3, port.to_bytes(2, "big")))
    if v4:
        params.append((4, b"".join(ipaddress.IPv4Address(a).packed for a in v4)))
    if v6:
        params.append((6, b"".join(ipaddress.IPv6Address(a).packed for a in v6)))
    wire = priority.to_bytes(2, "big") + (dns.name.from_text(target).to_wire() or b"") + b"".join(
        k.to_bytes(2, "big") + len(v).to_bytes(2, "big") + v for k, v in params)
    rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.HTTPS, wire, 0, len(wire))
    r = parse_https("a.test", rd.to_text())
    assert r.problem is None
    assert (r.priority, r.target, r.alpn, r.port) == (priority, target.rstrip(".") or ".", tuple(alpn), port)
    assert r.ipv4hint == tuple(v4) and r.ipv6hint == tuple(v6) and r.other == {}


# --------------------------------------------------------------------------- the evidence and the rule (pure)


def rec(data: str, owner: str = "a.test") -> SvcbRecord:
    return parse_https(owner, data)


def tgt(name: str, *addresses: str, status: Status = Status.OK) -> SvcbTarget:
    return SvcbTarget(name=name, status=str(status if addresses or status is not Status.OK else Status.NODATA),
                      addresses=addresses)


def ev(*records: SvcbRecord, targets: tuple[SvcbTarget, ...] = (), alias: str | None = None) -> SvcbEvidence:
    return SvcbEvidence.build([SvcbLookup(name="a.test", status="ok", server="192.0.2.53:53")], records, alias,
                              targets or (tgt("a.test", V6A),))


def judge(evidence: SvcbEvidence, status: Status = Status.OK, error: str | None = None,
          policy: str = "default") -> CheckResult:
    return evaluate(CHECK.observe("a.test", status, evidence, error), load_policy(policy))


def test_hints_equal_to_the_aaaa_pass() -> None:
    e = ev(rec(f'1 . alpn="h2,h3" ipv4hint="{V4A}" ipv6hint="{V6A}"'))
    assert (e.service, e.hints_not_in_aaaa, e.aaaa_not_in_hints, e.no_ipv6hint) == (1, (), (), ())
    assert (e.alpn, e.h2, e.h3) == (("h2", "h3"), True, True)
    r = judge(e)
    assert (r.result, r.reasons) == ("pass", ())


def test_a_hint_the_aaaa_does_not_have_warns_naming_it() -> None:
    e = ev(rec(f'1 . alpn="h2" ipv6hint="{V6A},{V6B}"'), targets=(tgt("a.test", V6A, V6C),))
    assert e.hints_not_in_aaaa == (V6B,) and e.aaaa_not_in_hints == (V6C,)
    r = judge(e)
    assert r.result == "warn" and r.severity is None
    (reason,) = r.reasons
    assert reason.code == "svcb_ipv6hint_mismatch"
    assert reason.params == {"name": "a.test", "addresses": [V6B], "aaaa": [V6A, V6C]}


def test_an_aaaa_the_hint_leaves_out_is_recorded_but_passes() -> None:
    e = ev(rec(f'1 . alpn="h2" ipv6hint="{V6A}"'), targets=(tgt("a.test", V6A, V6B),))
    assert e.aaaa_not_in_hints == (V6B,) and e.hints_not_in_aaaa == ()
    assert judge(e).result == "pass"  # a client still learns V6B from the AAAA lookup


def test_hints_on_a_name_without_aaaa_all_mismatch() -> None:
    e = ev(rec(f'1 . alpn="h2" ipv6hint="{V6A}"'), targets=(tgt("a.test"),))
    assert e.hints_not_in_aaaa == (V6A,)
    assert judge(e).reasons[0].params["aaaa"] == ["-"]


def test_ipv4_hints_without_ipv6_hints_warn_when_there_is_aaaa() -> None:
    e = ev(rec(f'1 . alpn="h2" ipv4hint="{V4A}"'))
    assert e.no_ipv6hint == ("a.test",)
    r = judge(e)
    assert r.result == "warn" and [x.code for x in r.reasons] == ["svcb_no_ipv6hint"]
    assert r.reasons[0].params == {"name": "a.test", "targets": ["a.test"]}
    # no AAAA: nothing to hint; no hints at all: nothing steers clients to IPv4
    assert judge(ev(rec(f'1 . alpn="h2" ipv4hint="{V4A}"'), targets=(tgt("a.test"),))).result == "pass"
    assert judge(ev(rec('1 . alpn="h2"'))).result == "pass"


def test_both_findings_are_given() -> None:
    e = ev(rec(f'1 . alpn="h2" ipv6hint="{V6B}"'), rec(f'2 svc.a.test. alpn="h2" ipv4hint="{V4A}"'),
           targets=(tgt("a.test", V6A), tgt("svc.a.test", V6C)))
    assert [x.code for x in judge(e).reasons] == ["svcb_ipv6hint_mismatch", "svcb_no_ipv6hint"]


def test_no_alpn_is_information() -> None:
    r = judge(ev(rec(f'1 . ipv6hint="{V6A}"')))
    assert (r.result, r.applicable, r.reasons[0].code) == ("info", True, "svcb_no_alpn")


def test_another_target_is_compared_with_its_own_aaaa() -> None:
    e = ev(rec(f'1 svc.a.test. alpn="h2" ipv6hint="{V6B}"'), targets=(tgt("a.test", V6A), tgt("svc.a.test", V6B)))
    assert e.hints_not_in_aaaa == () and judge(e).result == "pass"
    stale = ev(rec(f'1 svc.a.test. alpn="h2" ipv6hint="{V6A}"'),
               targets=(tgt("a.test", V6A), tgt("svc.a.test", V6B)))
    assert stale.hints_not_in_aaaa == (V6A,)


def test_a_target_whose_aaaa_lookup_failed_is_not_compared() -> None:
    e = ev(rec(f'1 svc.a.test. alpn="h2" ipv6hint="{V6B}"'),
           targets=(tgt("a.test", V6A), tgt("svc.a.test", status=Status.TIMEOUT)))
    assert e.hints_not_in_aaaa == () and e.uncompared == ("svc.a.test",)
    r = judge(e)
    assert r.result == "not_tested" and "svc.a.test" in r.reasons[0].params["why"]
    # a finding elsewhere still stands
    both = ev(rec(f'1 svc.a.test. alpn="h2" ipv6hint="{V6B}"'), rec(f'2 . alpn="h2" ipv6hint="{V6C}"'),
              targets=(tgt("a.test", V6A), tgt("svc.a.test", status=Status.TIMEOUT)))
    assert judge(both).result == "warn"


def test_an_alias_uses_its_targets_records_and_ignores_the_names_service_records() -> None:
    e = ev(rec("0 pool.cdn.test."), rec(f'1 . alpn="h2" ipv6hint="{V6C}"'),
           rec(f'1 . alpn="h3" ipv6hint="{V6B}"', owner="pool.cdn.test"),
           targets=(tgt("a.test", V6A), tgt("pool.cdn.test", V6B)), alias="pool.cdn.test")
    assert [r.owner for r in e.used()] == ["pool.cdn.test"] and e.service == 1
    assert e.hints_not_in_aaaa == () and e.alpn == ("h3",) and not e.h2 and e.h3
    assert judge(e).result == "pass"
    # an alias to a name without ServiceMode records: no hints to compare
    bare = ev(rec("0 pool.cdn.test."), alias="pool.cdn.test")
    assert bare.service == 0 and judge(bare).result == "pass"


def test_no_record_is_information_only() -> None:
    for e, status in ((ev(), Status.NODATA), (ev(), Status.NXDOMAIN), (ev(rec("garbage")), Status.OK)):
        r = judge(e, status)
        assert (r.result, r.applicable, r.reasons[0].code) == ("info", False, "svcb_absent")


@pytest.mark.parametrize("status", [Status.TIMEOUT, Status.SERVFAIL, Status.REFUSED, Status.UNREACHABLE])
def test_a_failed_lookup_is_not_tested(status: Status) -> None:
    r = judge(ev(), status, "HTTPS lookup of a.test: no answer")
    assert r.result == "not_tested" and "no answer" in r.reasons[0].params["why"]


def test_a_malformed_answer_is_the_checks_error_as_everywhere() -> None:
    r = judge(ev(), Status.ERROR, "HTTPS lookup of a.test: malformed answer over UDP: FormError")
    assert r.result == "error" and r.reasons[0].code == "check_error"  # scoring's, before the rule


_RECORDS = st.lists(st.builds(
    lambda p, t, a, v4, v6: rec(" ".join([str(p), t, *([f'alpn="{a}"'] if a else []),
                                          *([f"ipv4hint={v4}"] if v4 else []), *([f"ipv6hint={v6}"] if v6 else [])])),
    st.integers(0, 3), st.sampled_from([".", "svc.a.test.", "pool.cdn.test."]), st.sampled_from(["", "h2", "h3,h2"]),
    st.sampled_from(["", V4A]), st.sampled_from(["", V6A, f"{V6A},{V6B}", V6C])), max_size=4)


@given(_RECORDS, st.sampled_from(list(Status)), st.lists(st.sampled_from([V6A, V6B]), unique=True))
def test_the_rule_never_fails(records: list[SvcbRecord], status: Status, aaaa: list[str]) -> None:
    e = ev(*records, targets=(tgt("a.test", *aaaa), tgt("svc.a.test", V6B)))
    assert SvcbEvidence.from_json(e.to_json()) == e
    r = CHECK.rule(CHECK.observe("a.test", status, e, "why"), e, load_policy())  # the rule itself, any status
    assert r.result in ("pass", "warn", "info", "not_tested")
    if r.result == "warn":
        assert {x.code for x in r.reasons} <= {"svcb_ipv6hint_mismatch", "svcb_no_ipv6hint"}


def test_evidence_round_trips_and_loads_from_nothing() -> None:
    e = ev(rec(f'1 . alpn="h2" ipv6hint="{V6A}" key7="/q{{?dns}}"'), rec("nonsense"))
    data = e.to_json()
    assert SvcbEvidence.from_json(data) == e
    records = data["records"]
    assert isinstance(records, list) and "problem" not in records[0] and records[1]["problem"]
    assert SvcbEvidence.from_json({}) == SvcbEvidence()


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_the_check_weighs_nothing_in_every_builtin_policy(name: str) -> None:
    p = load_policy(name)
    assert p.weight("web.svcb") == 0 and not p.required("web.svcb")
    assert judge(ev(rec(f'1 . alpn="h2" ipv6hint="{V6B}"')), policy=name).result == "warn"


def test_the_check_is_declared_as_an_informational_dns_check() -> None:
    c = CHECKS["web.svcb"]
    assert c is CHECK and (c.weight, c.required, c.v6_dependent, c.phase.value) == (0, False, False, "dns")
    assert set(c.reasons) == {"not_tested", "svcb_absent", "svcb_ipv6hint_mismatch", "svcb_no_ipv6hint",
                              "svcb_no_alpn"}


# --------------------------------------------------------------------------- the probe, against a fake resolver


class FakeDNS:
    """HTTPS answers (by name) and AAAA answers (by name) a resolver would give."""

    def __init__(self, https: Mapping[str, list[str] | str], aaaa: Mapping[str, list[str]],
                 cname: Mapping[str, str] | None = None) -> None:
        self.https, self.aaaa, self.cname = https, aaaa, cname or {}
        self.asked: list[tuple[str, str, bool, int]] = []

    async def ask(self, server: str, qname: str, qtype: str, transport: str = "udp", *, timeout: float = 3.0,
                  port: int = 53, recursion: bool = False) -> ServerReply:
        self.asked.append((server, qname, recursion, port))
        assert qtype == "HTTPS"
        answer: list[RR] = []
        name = qname
        while name in self.cname:
            answer.append(RR(name, "CNAME", 60, self.cname[name]))
            name = self.cname[name]
        got = self.https.get(name, [])
        if isinstance(got, str):  # an rcode or a failure
            if got == "timeout":
                return ServerReply(server, transport, qname, qtype, Status.TIMEOUT, error="no answer")
            return ServerReply(server, transport, qname, qtype, Status.SERVFAIL, rcode=got)
        answer += [RR(name, "HTTPS", 60, d) for d in got]
        return ServerReply(server, transport, qname, qtype, Status.OK if answer else Status.NODATA, rcode="NOERROR",
                           answer=tuple(answer))

    async def query(self, name: str, qtype: str) -> Answer:
        addrs = self.aaaa.get(name, [])
        return Answer(name, qtype, Status.OK if addrs else Status.NODATA, tuple(RR(name, "AAAA", 60, a) for a in addrs))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    holder: dict[str, Any] = {}
    monkeypatch.setattr(web_svcb, "ask", lambda *a, **k: holder["dns"].ask(*a, **k))
    yield holder


def probe_with(fake: dict[str, Any], dns_: FakeDNS, name: str = "a.test") -> Observation:
    fake["dns"] = dns_

    async def go() -> Observation:
        settings = Settings(resolvers=("192.0.2.53:5353",), dns_retries=0, retry_backoff=0.0)
        async with Context.create(settings) as ctx:
            ctx.resolver.query = dns_.query  # type: ignore[method-assign]
            run = Run(ctx, name, name)
            aaaa = await dns_.query(name, "AAAA")
            run._values["dns.host"] = HostDNS(name, Answer(name, "A", Status.NODATA), aaaa)
            return await CHECK.probe(ctx, run)

    return asyncio.run(go())


def test_the_probe_asks_the_scanners_resolver_with_recursion(fake: dict[str, Any]) -> None:
    d = FakeDNS({"a.test": [f'1 . alpn="h2" ipv6hint="{V6A}"']}, {"a.test": [V6A]})
    o = probe_with(fake, d)
    assert d.asked == [("192.0.2.53", "a.test", True, 5353)]
    e = CHECK.read(o)
    assert o.status is Status.OK and e.lookups[0].server == "192.0.2.53:5353" and e.service == 1
    assert evaluate(o, load_policy()).result == "pass"


def test_the_probe_follows_an_alias_one_step_and_a_target_to_its_aaaa(fake: dict[str, Any]) -> None:
    d = FakeDNS({"a.test": ["0 pool.cdn.test."], "pool.cdn.test": [f'1 svc.cdn.test. alpn="h2" ipv6hint="{V6A}"'],
                 "svc.cdn.test": ["0 further.test."]},
                {"a.test": [V6A], "svc.cdn.test": [V6B]})
    o = probe_with(fake, d)
    e = CHECK.read(o)
    assert [q for _, q, _, _ in d.asked] == ["a.test", "pool.cdn.test"]  # one step, never further
    assert e.alias == "pool.cdn.test" and [t.name for t in e.targets] == ["a.test", "svc.cdn.test"]
    assert e.hints_not_in_aaaa == (V6A,)
    assert evaluate(o, load_policy()).reasons[0].params["addresses"] == [V6A]


def test_the_probe_follows_a_cname_chain(fake: dict[str, Any]) -> None:
    d = FakeDNS({"edge.test": [f'1 . alpn="h2" ipv6hint="{V6B}"']}, {"a.test": [V6A]}, cname={"a.test": "edge.test"})
    e = CHECK.read(probe_with(fake, d))
    assert [r.owner for r in e.records] == ["a.test"] and e.hints_not_in_aaaa == (V6B,)


@pytest.mark.parametrize(("https", "status", "result"), [
    ({}, Status.NODATA, "info"),
    ({"a.test": "NXDOMAIN"}, Status.NXDOMAIN, "info"),
    ({"a.test": "SERVFAIL"}, Status.SERVFAIL, "not_tested"),
    ({"a.test": "timeout"}, Status.TIMEOUT, "not_tested"),
    ({"a.test": ["0 pool.cdn.test."], "pool.cdn.test": "timeout"}, Status.TIMEOUT, "not_tested"),
])
def test_the_probe_records_absence_and_failure(fake: dict[str, Any], https: dict[str, Any], status: Status,
                                               result: str) -> None:
    o = probe_with(fake, FakeDNS(https, {"a.test": [V6A]}))
    assert o.status is status
    assert evaluate(o, load_policy()).result == result


# --------------------------------------------------------------------------- the lab

SITES = {"svcb": "svcb.gov.test", "svcb-stale": "svcb-stale.com.test", "healthy": "healthy.gov.test"}


def test_the_scenarios_publish_their_https_records() -> None:
    good, stale = by_id()["svcb"], by_id()["svcb-stale"]
    assert ("svcb.gov.test", "HTTPS", SVCB_RDATA["svcb"]) in good.records
    assert ("svcb-stale.com.test", "HTTPS", SVCB_RDATA["svcb-stale"]) in stale.records
    assert SVCB_STALE_HINT not in {e.addr for s in by_id().values() for e in s.web}  # in DNS only
    assert good.expect["verdict"] == stale.expect["verdict"] == "ready"


@pytest.fixture(scope="module")
def scanned(lab: Lab) -> dict[str, TargetResult]:
    """The three sites scanned with every check (the verdict needs every required one)."""
    return scan_sites(lab, SITES)


def svcb_obs(r: TargetResult) -> Observation:
    return only(r, "web.svcb")


def test_hints_equal_to_the_aaaa_pass_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = svcb_obs(scanned["svcb"])
    assert o.status is Status.OK
    e = SvcbEvidence.from_json(o.evidence)
    (r,) = e.records
    assert (r.owner, r.priority, r.target, r.alpn) == ("svcb.gov.test", 1, ".", ("h2",))
    assert r.ipv6hint == ("2001:db8:80::5a",) and r.ipv4hint == ("203.0.113.120",)
    assert [(t.name, t.addresses) for t in e.targets] == [("svcb.gov.test", ("2001:db8:80::5a",))]
    assert (e.hints_not_in_aaaa, e.aaaa_not_in_hints, e.h2, e.h3) == ((), (), True, False)
    assert evaluate(o, load_policy()).result == "pass"


def test_a_stale_hint_warns_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = svcb_obs(scanned["svcb-stale"])
    e = SvcbEvidence.from_json(o.evidence)
    assert e.hints_not_in_aaaa == (SVCB_STALE_HINT,) and e.alpn == ("h2", "h3")
    r = evaluate(o, load_policy())
    assert r.result == "warn"
    (reason,) = r.reasons
    assert reason.code == "svcb_ipv6hint_mismatch"
    assert reason.params == {"name": "svcb-stale.com.test", "addresses": [SVCB_STALE_HINT],
                             "aaaa": ["2001:db8:80::5b"]}


def test_no_https_record_is_information_only_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = svcb_obs(scanned["healthy"])
    assert o.status is Status.NODATA
    r = evaluate(o, load_policy())
    assert (r.result, r.applicable, r.reasons[0].code) == ("info", False, "svcb_absent")


@pytest.mark.parametrize("policy", BUILTIN_POLICIES)
@pytest.mark.parametrize("sid", list(SITES))
def test_svcb_never_changes_a_verdict_or_a_score(scanned: dict[str, TargetResult], sid: str, policy: str) -> None:
    r = scanned[sid]
    p = load_policy(policy)
    with_it = score_target(r.target.name, r.observations, p)
    without = score_target(r.target.name, [o for o in r.observations if o.check != "web.svcb"], p)
    assert (with_it.verdict, with_it.score, with_it.points) == (without.verdict, without.score, without.points)
    if policy == "default":
        assert with_it.verdict == by_id()[sid].expect["verdict"] == "ready", with_it.reasons
