"""dns.dnssec: the trust-anchor parser, the evidence's derived outcome, the rule (pure), the probe
against a fake DNS tree signed in memory with dnspython (secure, bogus three ways, insecure, a
DNSKEY answer that needs TCP or never comes over UDP, silent and garbage servers, the sweep's shared
zones), and the lab's ``dnssec``, ``dnssec-bogus``, ``dnssec-unsigned`` and ``dnssec-bigkey``
scenarios beside ``healthy`` (gov.test, signed) and ``v4only`` (com.test, unsigned).

The check is informational: weight 0 and not required in every built-in policy, so its findings
never change a verdict or a score.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dns.dnssectypes import Algorithm
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import only, scan_sites
from tests.lab import Lab
from tests.lab.dnssec import PARENT_SIGNED
from tests.lab.scenarios import by_id
from tests.lab.scenarios_dnssec import SIGNING
from v6scan.checks import dns_dnssec
from v6scan.checks.base import Run
from v6scan.checks.dns_dnssec import (
    CHECK,
    IANA_ROOT_ANCHORS,
    DnssecEvidence,
    RecordRow,
    ZoneRow,
    parse_anchors,
)
from v6scan.context import Context
from v6scan.dnsdirect import ServerReply, SignedReply, signed_reply
from v6scan.engine import TargetResult
from v6scan.model import Observation, Status
from v6scan.registry import CHECKS
from v6scan.rules import CheckResult
from v6scan.scoring import BUILTIN_POLICIES, evaluate, load_policy, score_target
from v6scan.settings import Settings

# --------------------------------------------------------------------------- trust anchors


def test_the_built_in_anchors_are_the_iana_root_ksks() -> None:
    a = parse_anchors("\n".join(IANA_ROOT_ANCHORS), "iana")
    assert [(d.key_tag, int(d.algorithm), int(d.digest_type)) for d in a.ds] == [(20326, 8, 2), (38696, 8, 2)]
    assert a.ds[0].digest.hex().upper() == "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
    assert a.ds[1].digest.hex().upper() == "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16"
    assert a.keys == ()


def test_an_anchor_file_takes_ds_and_multi_line_dnskey_records_with_comments() -> None:
    key = dns.dnssec.make_dnskey(ec.generate_private_key(ec.SECP256R1()).public_key(),
                                 Algorithm.ECDSAP256SHA256, flags=257)
    text = key.to_text().split()
    a = parse_anchors("; root.key\n. 172800 IN DNSKEY ( " + " ".join(text[:3]) + " ; flags proto alg\n"
                      + " ".join(text[3:]) + " )\n\n.\tIN\tDS\t1 13 2 " + "AB" * 32 + "\n")
    assert a.keys == (key,) and len(a.ds) == 1 and a.ds[0].key_tag == 1


@pytest.mark.parametrize(("text", "why"), [
    ("", "no DS or DNSKEY"),
    ("; only a comment\n", "no DS or DNSKEY"),
    ("example. IN DS 1 13 2 " + "AB" * 32, "only the root"),
    (". IN A 192.0.2.1", "a DS or DNSKEY"),
    (". IN DS 1 13 2 nothex", "does not parse"),
    (". IN DS", "expected OWNER"),
    (". IN DNSKEY ( 257 3 13 AAAA", "unbalanced"),
    ("\n".join([". IN DS 1 13 2 " + "AB" * 32] * 40), "more than"),
])
def test_unusable_anchor_files_say_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_anchors(text)


@given(st.text(max_size=300))
def test_the_anchor_parser_accepts_or_says_why_never_crashes(text: str) -> None:
    try:
        a = parse_anchors(text)
    except ValueError:
        return
    assert a.ds or a.keys


@given(st.lists(st.sampled_from([". IN DS 1 13 2 " + "AB" * 32, ". 3600 DS 20326 8 2 " + "e0" * 32, "; c", "",
                                 "( ", ") ", ". IN DNSKEY 257 3 13 AAAA", "x. IN DS 1 13 2 AB"]), max_size=8))
def test_the_anchor_parser_on_near_valid_files(lines: list[str]) -> None:
    try:
        a = parse_anchors("\n".join(lines))
    except ValueError:
        return
    assert len(a.ds) + len(a.keys) <= dns_dnssec.MAX_RECORDS


# --------------------------------------------------------------------------- evidence and rule


def zrow(zone: str, state: str = "secure", parent: str | None = None, **kw: Any) -> ZoneRow:
    return ZoneRow(zone=zone, parent=parent, state=state, **kw)


CHAIN = (zrow("."), zrow("test", parent="."))


def ev(*chain: ZoneRow, records: tuple[RecordRow, ...] = (), **kw: Any) -> DnssecEvidence:
    return DnssecEvidence.build("www.a.test", (*CHAIN, *chain), records, **kw)


def judge(e: DnssecEvidence, status: Status = Status.OK, error: str | None = None,
          policy: str = "default") -> CheckResult:
    return evaluate(CHECK.observe("www.a.test", status, e, error), load_policy(policy))


SECURE_RECORDS = (RecordRow(name="a.test", type="SOA", state="secure"),
                  RecordRow(name="www.a.test", type="AAAA", state="secure"))


def test_a_secure_chain_passes() -> None:
    e = ev(zrow("a.test", parent="test", dnskey_transport="udp", dnskey_size=400), records=SECURE_RECORDS)
    assert (e.state, e.zone, e.dnskey_transport, e.dnskey_size) == ("secure", "a.test", "udp", 400)
    r = judge(e)
    assert (r.result, r.reasons) == ("pass", ())


def test_a_bogus_zone_fails_naming_where_and_why() -> None:
    e = ev(zrow("a.test", "bogus", "test", problem="the DNSKEY RRset does not validate: RRSIG 1/13: expired"))
    assert (e.state, e.bogus_at) == ("bogus", "a.test")
    r = judge(e)
    assert r.result == "fail" and r.severity is None  # never "broken": it weighs nothing in any policy
    assert r.reasons[0].code == "dnssec_bogus"
    assert r.reasons[0].params == {"name": "www.a.test", "zone": "a.test", "at": "a.test",
                                   "problem": "the DNSKEY RRset does not validate: RRSIG 1/13: expired"}


def test_a_bogus_record_in_a_secure_zone_fails() -> None:
    e = ev(zrow("a.test", parent="test"), records=(
        SECURE_RECORDS[0], RecordRow(name="www.a.test", type="AAAA", state="bogus", problem="verify failure")))
    assert (e.state, e.bogus_at, e.problem) == ("bogus", "www.a.test AAAA", "verify failure")
    assert judge(e).result == "fail"


def test_an_unsigned_zone_is_information() -> None:
    e = ev(zrow("a.test", "insecure", "test", ds_proof="nsec"))
    assert (e.state, e.insecure_at, e.signed_without_ds) == ("insecure", "a.test", False)
    r = judge(e)
    assert (r.result, r.reasons[0].code) == ("info", "dnssec_insecure")
    assert r.reasons[0].params == {"name": "www.a.test", "zone": "a.test", "at": "a.test"}


def test_an_unsigned_parent_makes_the_zone_insecure_there() -> None:
    e = DnssecEvidence.build("a.b.test", (zrow("."), zrow("test", "insecure", "."), zrow("b.test", "insecure", "test")),
                             ())
    assert (e.state, e.zone, e.insecure_at) == ("insecure", "b.test", "test")


def test_keys_without_a_ds_say_so() -> None:
    e = ev(zrow("a.test", "insecure", "test", ds_proof="nsec", dnskeys=("1/13/257",)))
    assert e.signed_without_ds
    r = judge(e)
    assert (r.result, r.reasons[0].code, r.reasons[0].params["parent"]) == ("info", "dnssec_no_ds", "test")


@pytest.mark.parametrize(("transport", "code"), [("tcp-after-tc", "dnssec_dnskey_tcp"),
                                                 ("tcp-only", "dnssec_dnskey_udp_silent")])
def test_a_dnskey_answer_that_needs_tcp_warns(transport: str, code: str) -> None:
    e = ev(zrow("a.test", parent="test", dnskey_transport=transport, dnskey_size=1800), records=SECURE_RECORDS)
    r = judge(e)
    assert (r.result, [x.code for x in r.reasons]) == ("warn", [code])
    # the root's or a parent's big DNSKEY is not the site's
    assert judge(DnssecEvidence.build("a.test", (zrow(".", dnskey_transport=transport), zrow("a.test", parent=".")),
                                      SECURE_RECORDS)).result == "pass"


def test_the_scanners_own_failures_are_never_bogus() -> None:
    roots = DnssecEvidence.build("a.test", (zrow(".", "unknown", problem="no root answered"),), (),
                                 scanner_side="roots")
    r = judge(roots, Status.TIMEOUT, "no root answered")
    assert (r.result, r.reasons[0].code) == ("inconclusive", "dnssec_scanner_side")
    silent = ev(zrow("a.test", "unknown", "test", problem="no name server of a.test answered"))
    assert silent.state == "unknown"
    assert judge(silent, Status.TIMEOUT, "no answer within 2 s").result == "not_tested"
    budget = ev(zrow("a.test", parent="test"), failure="gave up after 40 queries")
    assert budget.state == "unknown" and judge(budget, Status.UNREACHABLE, "gave up").result == "not_tested"


STATES = st.sampled_from(["secure", "insecure", "bogus", "unknown"])
ROWS = st.lists(st.builds(lambda z, s, t: zrow(z, s, dnskey_transport=t), st.sampled_from([".", "test", "a.test"]),
                          STATES, st.sampled_from([None, "udp", "tcp-after-tc", "tcp-only"])), max_size=4)
RECORDS = st.lists(st.builds(lambda s: RecordRow(name="a.test", type="AAAA", state=s),
                             st.sampled_from(["secure", "bogus", "absent", "unknown"])), max_size=2)


@given(ROWS, RECORDS, st.sampled_from(list(Status)), st.sampled_from([None, "roots"]))
def test_the_rule_never_crashes_and_bogus_needs_a_bogus_row(chain: list[ZoneRow], records: list[RecordRow],
                                                           status: Status, side: str | None) -> None:
    e = DnssecEvidence.build("a.test", chain, records, scanner_side=side)
    assert DnssecEvidence.from_json(e.to_json()) == e
    r = CHECK.rule(CHECK.observe("a.test", status, e, "why"), e, load_policy())
    assert r.result in ("pass", "warn", "fail", "info", "not_tested", "inconclusive")
    if r.result == "fail":
        assert any(z.state == "bogus" for z in chain) or any(x.state == "bogus" for x in records)
        assert not side
    if side:
        assert r.result in ("inconclusive", "not_tested")


def test_evidence_loads_from_nothing_and_round_trips() -> None:
    assert DnssecEvidence.from_json({}) == DnssecEvidence()
    e = ev(zrow("a.test", parent="test", ds=("1 13 2 AB",), dnskeys=("1/13/257",), dnskey_transport="udp",
                dnskey_size=300, servers=("ns.a.test 2001:db8::3",), queries=2), records=SECURE_RECORDS, queries=5)
    assert DnssecEvidence.from_json(e.to_json()) == e


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_the_check_weighs_nothing_in_every_builtin_policy(name: str) -> None:
    p = load_policy(name)
    assert p.weight("dns.dnssec") == 0 and not p.required("dns.dnssec")
    assert judge(ev(zrow("a.test", "bogus", "test", problem="x")), policy=name).result == "fail"


def test_the_check_is_declared_as_an_informational_dns_check() -> None:
    c = CHECKS["dns.dnssec"]
    assert c is CHECK and (c.weight, c.required, c.v6_dependent, c.phase.value, c.in_sweeps) == (
        0, False, True, "dns", False)  # not in sweeps by default: about 4 ms CPU per site (README)
    assert set(c.reasons) == {"not_tested", "dnssec_scanner_side", "dnssec_bogus", "dnssec_insecure", "dnssec_no_ds",
                              "dnssec_servers_disagree", "dnssec_dnskey_udp_silent", "dnssec_dnskey_tcp"}


# --------------------------------------------------------------------------- a fake signed tree

ROOT_V6, TEST_V6, A_V6, PLAIN_V6 = "2001:db8:53::1", "2001:db8:53::2", "2001:db8:53::3", "2001:db8:53::4"
SITE_V6 = "2001:db8:80::10"
A2_V6 = "2001:db8:53::5"
IN = dns.rdataclass.IN


def _key(flags: int, big: bool = False) -> tuple[Any, Any]:
    if big:
        priv: Any = rsa.generate_private_key(65537, 2048)
        alg = Algorithm.RSASHA256
    else:
        priv = ec.generate_private_key(ec.SECP256R1())
        alg = Algorithm.ECDSAP256SHA256
    return priv, dns.dnssec.make_dnskey(priv.public_key(), alg, flags=flags)


def _zone(origin: str, lines: list[str], keys: list[tuple[Any, Any]] | None, *, expired: bool = False) -> dns.zone.Zone:
    text = "$TTL 300\n" + "\n".join(lines) + "\n"
    z = dns.zone.from_text(text, origin, relativize=False)
    if keys:
        now = time.time()
        inception, expiration = (now - 30 * 86400, now - 2 * 86400) if expired else (now - 3600, now + 86400)
        dns.dnssec.sign_zone(z, keys=keys, inception=inception, expiration=expiration)
    return z


def _ds(zone: str, key: Any, other: bool = False, digest: str = "SHA256") -> str:
    ds = dns.dnssec.make_ds(zone, key, digest, validating=True)
    digest = ds.digest if not other else bytes(reversed(ds.digest))
    return f"{zone} IN DS {ds.key_tag} {int(ds.algorithm)} {int(ds.digest_type)} {digest.hex()}"


@dataclasses.dataclass
class World:
    """Authoritative servers by IPv6 address, each serving one zone, and how some misbehave."""

    zones: dict[str, dns.zone.Zone]
    anchor: str
    #: address -> "silent" (never answers), "udp-silent" (TCP only), "garbage" (malformed answers), "lame"
    #: (answers without authority or referral)
    behaviour: dict[str, str] = dataclasses.field(default_factory=dict)
    asked: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)


def make_world(*, a_keys: str = "ok", a_ds: str = "ok", plain_keys: bool = False, mangle_aaaa: bool = False,
               stale: int = 0) -> World:
    """``.`` -> ``test.`` -> ``a.test`` (signed unless ``a_ds`` is "none") and ``plain.test`` (unsigned);
    ``a_keys``: ok, expired, big (three RSA keys, each signing the DNSKEY RRset) or none (a DS at the
    parent, but the zone is not signed).  ``stale``: a.test has a second server (ns2.a.test, asked after
    ns.a.test) and this many of the two serve a copy signed with a key the DS does not name."""
    rk, tk = _key(257), _key(257)
    big = a_keys == "big"
    ak = [_key(257, big)] + ([_key(257, big), _key(256, big)] if big else [])
    plain = [_key(257)] if plain_keys else None
    a = _zone("a.test.", ["a.test. IN SOA ns.a.test. h.a.test. 1 2 3 4 5", "a.test. IN NS ns.a.test.",
                          f"ns.a.test. IN AAAA {A_V6}", f"a.test. IN AAAA {SITE_V6}", "www.a.test. IN CNAME a.test."],
              ak if a_ds != "unsigned" and a_keys != "none" else None, expired=a_keys == "expired")
    if big:  # every key signs the DNSKEY RRset (a rollover): a big answer
        node = a.find_node("a.test.")
        dnskeys = node.find_rdataset(IN, dns.rdatatype.DNSKEY)
        sigs = dns.rdataset.Rdataset(IN, dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY)
        for priv, key in ak:
            sigs.add(dns.dnssec.sign((dns.name.from_text("a.test."), dnskeys), priv, dns.name.from_text("a.test."),
                                     key, lifetime=86400))
        node.replace_rdataset(sigs)
    if mangle_aaaa:
        node = a.find_node("a.test.")
        sigs = node.find_rdataset(IN, dns.rdatatype.RRSIG, dns.rdatatype.AAAA)
        fixed = dns.rdataset.Rdataset(IN, dns.rdatatype.RRSIG, dns.rdatatype.AAAA)
        for sig in sigs:
            fixed.add(sig.replace(signature=bytes(len(sig.signature))), sigs.ttl)
        node.replace_rdataset(fixed)
    ds_lines = [] if a_ds in ("none", "unsigned") else [_ds("a.test.", ak[0][1], other=a_ds == "mismatch",
                                                             digest="SHA1" if a_ds == "sha1" else "SHA256")]
    if a_ds == "gost":  # a DS of an algorithm (ECC-GOST) and digest this validator cannot check
        ds_lines = ["a.test. IN DS 12345 12 3 " + "ab" * 32]
    second = ["a.test. IN NS ns2.a.test.", f"ns2.a.test. IN AAAA {A2_V6}"] if stale else []
    test = _zone("test.", ["test. IN SOA ns.test. h.test. 1 2 3 4 5", "test. IN NS ns.test.", *second,
                           f"ns.test. IN AAAA {TEST_V6}", "a.test. IN NS ns.a.test.", f"ns.a.test. IN AAAA {A_V6}",
                           "plain.test. IN NS ns.plain.test.", f"ns.plain.test. IN AAAA {PLAIN_V6}", *ds_lines],
                 [tk])
    root = _zone(".", [". IN SOA a.root. h.root. 1 2 3 4 5", ". IN NS a.root.", f"a.root. IN AAAA {ROOT_V6}",
                       "test. IN NS ns.test.", f"ns.test. IN AAAA {TEST_V6}", _ds("test.", tk[1])], [rk])
    plainz = _zone("plain.test.", ["plain.test. IN SOA ns.plain.test. h. 1 2 3 4 5", "plain.test. IN NS ns.plain.test.",
                                   f"ns.plain.test. IN AAAA {PLAIN_V6}", f"plain.test. IN AAAA {SITE_V6}"], plain)
    anchor = _ds(".", rk[1]) + "\n"
    zones = {ROOT_V6: root, TEST_V6: test, A_V6: a, PLAIN_V6: plainz}
    if stale:
        old = _zone("a.test.", ["a.test. IN SOA ns.a.test. h.a.test. 1 2 3 4 5", "a.test. IN NS ns.a.test.",
                                f"ns.a.test. IN AAAA {A_V6}", f"a.test. IN AAAA {SITE_V6}"], [_key(257)])
        zones[A2_V6] = old if stale > 1 else a
        zones[A_V6] = old
    return World(zones, anchor)


def _respond(z: dns.zone.Zone, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> dns.message.Message:
    """What an authoritative server of ``z`` answers to a DO query (referral, answer, NODATA, NXDOMAIN)."""
    q = dns.message.make_query(qname, qtype, want_dnssec=True)
    r = dns.message.make_response(q)

    origin = z.origin
    assert origin is not None

    def add(section: list[dns.rrset.RRset], owner: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> bool:
        node = z.get_node(owner)
        rds = node.get_rdataset(IN, rdtype) if node else None
        if rds is None:
            return False
        rrset = r.find_rrset(section, owner, IN, rdtype, create=True)
        rrset.update(rds)  # type: ignore[no-untyped-call]
        sigs = node.get_rdataset(IN, dns.rdatatype.RRSIG, rdtype) if node else None
        if sigs is not None:
            r.find_rrset(section, owner, IN, dns.rdatatype.RRSIG, rdtype, create=True).update(sigs)  # type: ignore[no-untyped-call]
        return True

    for i in range(len(qname.labels) - len(origin.labels), 0, -1):  # a delegation above or at the name?
        cut = dns.name.Name(qname.labels[i - 1:]) if i > 0 else qname
        node = z.get_node(cut)
        if cut != origin and node is not None and node.get_rdataset(IN, dns.rdatatype.NS) is not None:
            if qtype == dns.rdatatype.DS and cut == qname:
                r.flags |= dns.flags.AA
                if not add(r.answer, cut, dns.rdatatype.DS):
                    add(r.authority, cut, dns.rdatatype.NSEC)
                return r
            add(r.authority, cut, dns.rdatatype.NS)
            if not add(r.authority, cut, dns.rdatatype.DS):
                add(r.authority, cut, dns.rdatatype.NSEC)
            for ns in node.get_rdataset(IN, dns.rdatatype.NS) or ():
                add(r.additional, ns.target, dns.rdatatype.AAAA)
            return r
    r.flags |= dns.flags.AA
    node = z.get_node(qname)
    if node is None:
        r.set_rcode(dns.rcode.NXDOMAIN)
        add(r.authority, origin, dns.rdatatype.SOA)
    elif not add(r.answer, qname, qtype):
        if add(r.answer, qname, dns.rdatatype.CNAME):
            return r
        add(r.authority, origin, dns.rdatatype.SOA)
        add(r.authority, qname, dns.rdatatype.NSEC)
    return r


def fake_ask_dnssec(world: World) -> Callable[..., Any]:
    async def ask(server: str, qname: str, qtype: str, transport: str = "udp", *, timeout: float = 3.0,
                  port: int = 53, payload: int = 1232, mux: Any = None) -> SignedReply:
        world.asked.append((server, qname, qtype, transport))
        how = world.behaviour.get(server)
        if how == "silent" or (how == "udp-silent" and transport == "udp"):
            return SignedReply(ServerReply(server, transport, qname, qtype, Status.TIMEOUT,
                                           error=f"no answer over {transport.upper()} within {timeout:g} s"))
        if how == "garbage":
            return SignedReply(ServerReply(server, transport, qname, qtype, Status.ERROR,
                                           error=f"malformed answer over {transport.upper()}: FormError"))
        if how == "lame":  # answers, but neither with authority nor with a referral
            lame = dns.message.make_response(dns.message.make_query(qname, qtype, want_dnssec=True))
            return signed_reply(server, transport, qname, qtype, lame)
        z = world.zones[server]
        r = _respond(z, dns.name.from_text(qname), dns.rdatatype.from_text(qtype))
        wire = r.to_wire(max_size=65535)
        r = dns.message.from_wire(wire)
        if transport == "udp" and len(wire) > payload:
            r = dns.message.make_response(dns.message.make_query(qname, qtype, want_dnssec=True))
            r.flags |= dns.flags.TC | dns.flags.AA
        return signed_reply(server, transport, qname, qtype, r)

    return ask


async def fake_ask(server: str, qname: str, qtype: str, transport: str = "udp", timeout: float | None = None,
                   attempts: int | None = None) -> ServerReply:
    """The plain query of the root probe (v6_roots): every root answers."""
    return ServerReply(server, transport, qname, qtype, Status.OK, rcode="NOERROR", aa=True)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """``tree(world, *names)``: each name probed in one context (a sweep), the observations."""

    def run(world: World, *names: str, anchor: str | None = None) -> list[Observation]:
        monkeypatch.setattr(dns_dnssec, "ask_dnssec", fake_ask_dnssec(world))
        hints = tmp_path / "root.hints"
        hints.write_text(f". 3600000 NS a.root.\na.root. 3600000 AAAA {ROOT_V6}\n")
        ta = tmp_path / "anchor"
        ta.write_text(anchor if anchor is not None else world.anchor)
        settings = Settings(root_hints=hints, trust_anchor=ta, allow_nets=("2001:db8::/32",), dns_retries=0,
                            retry_backoff=0.0, ns_timeout=0.1)

        async def go() -> list[Observation]:
            async with Context.create(settings) as ctx:
                ctx.ask = fake_ask  # type: ignore[method-assign]
                return [await CHECK.probe(ctx, Run(ctx, n, n)) for n in names]

        return asyncio.run(go())

    yield run


def judged(o: Observation) -> CheckResult:
    return evaluate(o, load_policy())


def test_a_signed_chain_validates_from_the_anchor(tree: Callable[..., Any]) -> None:
    (o,) = tree(make_world(), "www.a.test")
    e = CHECK.read(o)
    assert o.status is Status.OK and e.state == "secure" and e.zone == "a.test"
    assert [(z.zone, z.state) for z in e.chain] == [(".", "secure"), ("test", "secure"), ("a.test", "secure")]
    assert [(r.name, r.type, r.state) for r in e.records] == [("a.test", "SOA", "secure"),
                                                              ("www.a.test", "CNAME", "secure")]
    assert e.chain[-1].dnskey_transport == "udp" and e.chain[-1].servers == (f"ns.a.test {A_V6}",)
    assert judged(o).result == "pass"


def test_a_sweep_validates_each_zone_once(tree: Callable[..., Any]) -> None:
    world = make_world()
    first, second, third = (CHECK.read(o) for o in tree(world, "a.test", "www.a.test", "plain.test"))
    # root DNSKEY, test NS + DNSKEY, a.test NS + DNSKEY, SOA, AAAA
    assert first.queries == 7
    assert second.queries == 2  # www.a.test NS (inside a.test), its answer
    assert third.queries == 2  # plain.test NS at test. (no DS), its DNSKEY (keys without DS?): nothing above again
    assert sum(1 for _, q, t, _ in world.asked if (q, t) == (".", "DNSKEY")) == 1


def test_expired_signatures_are_bogus(tree: Callable[..., Any]) -> None:
    (o,) = tree(make_world(a_keys="expired"), "a.test")
    e = CHECK.read(o)
    assert (e.state, e.bogus_at) == ("bogus", "a.test") and "expired" in (e.problem or "")
    r = judged(o)
    assert (r.result, r.reasons[0].code) == ("fail", "dnssec_bogus")


def test_a_ds_no_key_matches_is_bogus(tree: Callable[..., Any]) -> None:
    e = CHECK.read(tree(make_world(a_ds="mismatch"), "a.test")[0])
    assert e.state == "bogus" and "no DNSKEY matches the DS" in (e.problem or "")


def test_a_sha1_ds_still_validates(tree: Callable[..., Any]) -> None:
    e = CHECK.read(tree(make_world(a_ds="sha1"), "a.test")[0])
    assert e.state == "secure" and e.chain[-1].ds[0].split()[2] == "1"


def test_ds_records_of_algorithms_it_cannot_check_make_the_zone_insecure_not_bogus(tree: Callable[..., Any]) -> None:
    e = CHECK.read(tree(make_world(a_ds="gost"), "a.test")[0])  # RFC 4035 section 5.2
    assert (e.state, e.insecure_at, e.chain[-1].ds_proof) == ("insecure", "a.test", "unsupported-algorithm")


def test_a_ds_for_a_zone_that_is_not_signed_is_bogus(tree: Callable[..., Any]) -> None:
    e = CHECK.read(tree(make_world(a_keys="none"), "a.test")[0])
    assert (e.state, e.bogus_at, e.problem) == ("bogus", "a.test", "no DNSKEY record")


def test_a_server_with_a_stale_copy_is_named_not_blamed_on_the_zone(tree: Callable[..., Any]) -> None:
    world = make_world(stale=1)
    o = tree(world, "a.test")[0]
    e = CHECK.read(o)
    assert e.state == "secure" and e.bogus_servers == (f"ns.a.test {A_V6}",)
    assert "no DNSKEY matches the DS" in (e.chain[-1].problem or "")
    # its records too: the other server's answer validates, so they are that server's
    assert [(x.type, x.state, x.bogus_servers) for x in e.records] == [
        ("SOA", "secure", (f"ns.a.test {A_V6}",)), ("AAAA", "secure", (f"ns.a.test {A_V6}",))]
    assert e.chain[-1].dnskeys == tuple(f"{dns.dnssec.key_id(k)}/13/257" for k in world.zones[A2_V6].find_rdataset(
        "a.test.", dns.rdatatype.DNSKEY))
    r = judged(o)
    assert (r.result, r.reasons[0].code, r.reasons[0].params["servers"]) == (
        "warn", "dnssec_servers_disagree", [f"ns.a.test {A_V6}"])
    e = CHECK.read(tree(make_world(stale=2), "a.test")[0])  # every server: the zone is bogus
    assert (e.state, e.bogus_servers) == ("bogus", ()) and "no DNSKEY matches the DS" in (e.problem or "")


def test_a_mangled_signature_on_the_site_record_is_bogus(tree: Callable[..., Any]) -> None:
    e = CHECK.read(tree(make_world(mangle_aaaa=True), "a.test")[0])
    assert (e.state, e.bogus_at) == ("bogus", "a.test AAAA") and "verify failure" in (e.problem or "")
    assert [z.state for z in e.chain] == ["secure"] * 3


def test_an_unsigned_delegation_is_insecure_with_its_proof(tree: Callable[..., Any]) -> None:
    e = CHECK.read(tree(make_world(a_ds="unsigned"), "a.test")[0])
    assert (e.state, e.insecure_at, e.signed_without_ds) == ("insecure", "a.test", False)
    assert e.chain[-1].ds_proof == "nsec" and e.records == ()
    assert judged(CHECK.observe("a.test", Status.OK, e)).reasons[0].code == "dnssec_insecure"


def test_keys_without_ds_are_named(tree: Callable[..., Any]) -> None:
    e = CHECK.read(tree(make_world(plain_keys=True), "plain.test")[0])
    assert e.state == "insecure" and e.signed_without_ds and e.chain[-1].dnskeys


def test_a_big_dnskey_answer_is_fetched_over_tcp(tree: Callable[..., Any]) -> None:
    world = make_world(a_keys="big")
    o = tree(world, "a.test")[0]
    e = CHECK.read(o)
    assert e.state == "secure" and e.dnskey_transport == "tcp-after-tc" and (e.dnskey_size or 0) > 1232
    assert (A_V6, "a.test", "DNSKEY", "tcp") in world.asked
    r = judged(o)
    assert (r.result, r.reasons[0].code, r.reasons[0].params["limit"]) == ("warn", "dnssec_dnskey_tcp", 1232)


def test_a_zone_answering_only_over_tcp_is_named(tree: Callable[..., Any]) -> None:
    world = make_world()
    world.behaviour[A_V6] = "udp-silent"
    o = tree(world, "a.test")[0]
    e = CHECK.read(o)
    assert e.state == "secure" and e.dnskey_transport == "tcp-only"
    assert judged(o).reasons[0].code == "dnssec_dnskey_udp_silent"


@pytest.mark.parametrize("how", ["silent", "garbage", "lame"])
def test_silent_or_garbage_servers_are_not_tested_never_bogus(tree: Callable[..., Any], how: str) -> None:
    world = make_world()
    world.behaviour[A_V6] = how
    o = tree(world, "a.test")[0]
    e = CHECK.read(o)
    assert e.state == "unknown" and o.status is not Status.OK
    assert judged(o).result == "not_tested"
    if how == "lame":  # the parent's servers: no referral either
        world = make_world()
        world.behaviour[TEST_V6] = how
        o = tree(world, "a.test")[0]
        assert "lame" in (o.error or "") and judged(o).result == "not_tested"


def test_silent_roots_are_the_scanners_side(tree: Callable[..., Any]) -> None:
    world = make_world()
    world.behaviour[ROOT_V6] = "silent"
    o = tree(world, "a.test")[0]
    assert CHECK.read(o).scanner_side == "roots"
    assert judged(o).result == "inconclusive"


def test_a_root_the_anchor_does_not_match_is_the_scanners_side(tree: Callable[..., Any]) -> None:
    (o,) = tree(make_world(), "a.test", anchor="\n".join(IANA_ROOT_ANCHORS))
    e = CHECK.read(o)
    assert e.scanner_side == "trust_anchor" and "trust anchors" in (e.chain[0].problem or "")
    assert judged(o).result == "inconclusive"


_FUZZ_WORLD: list[World] = []


def _fuzz_wire(qname: str, qtype: str, server: str) -> bytes:
    if not _FUZZ_WORLD:
        _FUZZ_WORLD.append(make_world(a_keys="big"))
    r = _respond(_FUZZ_WORLD[0].zones[server], dns.name.from_text(qname), dns.rdatatype.from_text(qtype))
    return r.to_wire(max_size=65535)


@given(st.sampled_from([(".", "DNSKEY", ROOT_V6), ("plain.test.", "NS", TEST_V6), ("a.test.", "NS", TEST_V6),
                        ("a.test.", "DNSKEY", A_V6), ("a.test.", "AAAA", A_V6)]),
       st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_answers_never_crash_the_validator(question: tuple[str, str, str],
                                                   flips: list[tuple[int, int]]) -> None:
    """A signed answer with bytes changed: what still parses is validated (or refused), never a crash."""
    wire = bytearray(_fuzz_wire(*question))
    for pos, value in flips:
        wire[pos % len(wire)] = value
    try:
        msg = dns.message.from_wire(bytes(wire))
    except (dns.exception.DNSException, EOFError, ValueError):  # what ask_dnssec reports as a malformed answer
        return
    zone = dns.name.from_text(question[0]) if question[1] == "DNSKEY" else dns.name.from_text("test.")
    keys, _, why = dns_dnssec.validate_dnskeys(zone, msg, [])
    assert keys is None and why  # no DS: nothing is trusted
    ds = dns.dnssec.make_ds(zone, next(iter(_FUZZ_WORLD[0].zones[question[2]].find_rdataset(
        zone, dns.rdatatype.DNSKEY))), "SHA256") if question[1] == "DNSKEY" else None
    dns_dnssec.validate_dnskeys(zone, msg, [ds] if ds is not None else [])
    some_keys = _FUZZ_WORLD[0].zones[TEST_V6].find_rdataset("test.", dns.rdatatype.DNSKEY)
    assert dns_dnssec.no_ds_proof(msg, dns.name.from_text("a.test."), dns.name.from_text("test."), some_keys) in (
        "nsec", "nsec3", "nsec3-opt-out", "missing")
    for rrset in msg.answer + msg.authority:
        sigs = msg.get_rrset(msg.answer, rrset.name, IN, dns.rdatatype.RRSIG, rrset.rdtype)
        dns_dnssec.validate_rrset(rrset, sigs, zone, some_keys)  # a verdict or a reason, never an exception


def test_an_unusable_anchor_file_is_the_checks_error(tree: Callable[..., Any]) -> None:
    (o,) = tree(make_world(), "a.test", anchor="example. IN DS 1 13 2 AB")
    assert o.status is Status.ERROR and "trust anchor" in (o.error or "")
    assert judged(o).result == "error"


# --------------------------------------------------------------------------- the lab

SITES = {"dnssec": "dnssec.gov.test", "dnssec-bogus": "dnssec-bogus.gov.test",
         "dnssec-unsigned": "dnssec-unsigned.gov.test", "dnssec-bigkey": "dnssec-bigkey.gov.test",
         "healthy": "healthy.gov.test", "v4only": "v4only.com.test"}


def test_the_scenarios_sign_their_zones() -> None:
    assert set(PARENT_SIGNED) == {".", "test", "gov.test"}
    assert set(SIGNING) == {"dnssec.gov.test", "dnssec-bogus.gov.test", "dnssec-bigkey.gov.test"}
    assert SIGNING["dnssec-bogus.gov.test"].expired and SIGNING["dnssec-bigkey.gov.test"].sign_all
    for sid in ("dnssec", "dnssec-bogus", "dnssec-unsigned", "dnssec-bigkey"):
        s = by_id()[sid]
        assert s.zone is not None and s.zone.name == s.target and s.expect["verdict"] == "ready"


@pytest.fixture(scope="module")
def scanned(lab: Lab) -> dict[str, TargetResult]:
    """The sites scanned with every check (the verdict needs every required one)."""
    return scan_sites(lab, SITES)


def dnssec_ev(r: TargetResult) -> tuple[Observation, DnssecEvidence]:
    o = only(r, "dns.dnssec")
    return o, DnssecEvidence.from_json(o.evidence)


def test_a_signed_zone_validates_from_the_lab_anchor(scanned: dict[str, TargetResult], lab: Lab) -> None:
    o, e = dnssec_ev(scanned["dnssec"])
    assert o.status is Status.OK and e.anchors == str(lab.trust_anchor)
    assert [(z.zone, z.state) for z in e.chain] == [(".", "secure"), ("test", "secure"), ("gov.test", "secure"),
                                                    ("dnssec.gov.test", "secure")]
    assert all(z.dnskey_transport == "udp" for z in e.chain)
    assert e.chain[-1].servers == ("ns1.dnssec.gov.test 2001:db8:53::31", "ns2.dnssec.gov.test 2001:db8:53::32")
    assert [(r.type, r.state) for r in e.records] == [("SOA", "secure"), ("AAAA", "secure")]
    assert evaluate(o, load_policy()).result == "pass"


def test_expired_signatures_are_bogus_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o, e = dnssec_ev(scanned["dnssec-bogus"])
    assert (e.state, e.bogus_at, e.zone) == ("bogus", "dnssec-bogus.gov.test", "dnssec-bogus.gov.test")
    assert "expired" in (e.problem or "") and e.chain[-2].state == "secure"
    r = evaluate(o, load_policy())
    assert (r.result, r.reasons[0].code) == ("fail", "dnssec_bogus")


def test_an_unsigned_zone_is_insecure_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o, e = dnssec_ev(scanned["dnssec-unsigned"])
    assert (e.state, e.insecure_at, e.chain[-1].ds_proof, e.signed_without_ds) == (
        "insecure", "dnssec-unsigned.gov.test", "nsec", False)
    assert evaluate(o, load_policy()).reasons[0].code == "dnssec_insecure"
    o, e = dnssec_ev(scanned["v4only"])
    assert (e.state, e.zone, e.insecure_at) == ("insecure", "com.test", "com.test")


def test_a_big_dnskey_needs_tcp_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o, e = dnssec_ev(scanned["dnssec-bigkey"])
    assert e.state == "secure" and e.dnskey_transport == "tcp-after-tc" and (e.dnskey_size or 0) > 1232
    assert len(e.chain[-1].dnskeys) == 3 and len(e.chain[-1].ds) == 2
    r = evaluate(o, load_policy())
    assert (r.result, r.reasons[0].code) == ("warn", "dnssec_dnskey_tcp")


def test_a_site_of_a_signed_sector_zone_is_secure(scanned: dict[str, TargetResult]) -> None:
    o, e = dnssec_ev(scanned["healthy"])
    assert (e.state, e.zone) == ("secure", "gov.test") and evaluate(o, load_policy()).result == "pass"


def test_the_sweep_shares_the_zones_above_the_sites(scanned: dict[str, TargetResult]) -> None:
    """Six sites: the root, test. and gov.test validated once between them, not once each."""
    evs = [dnssec_ev(r)[1] for r in scanned.values()]
    assert sum(e.queries for e in evs) <= 6 * 5 + 6  # the shared zones (about six queries) paid once
    assert all(e.queries <= 12 for e in evs)


@pytest.mark.parametrize("policy", BUILTIN_POLICIES)
@pytest.mark.parametrize("sid", list(SITES))
def test_dnssec_never_changes_a_verdict_or_a_score(scanned: dict[str, TargetResult], sid: str, policy: str) -> None:
    r = scanned[sid]
    p = load_policy(policy)
    with_it = score_target(r.target.name, r.observations, p)
    without = score_target(r.target.name, [o for o in r.observations if o.check != "dns.dnssec"], p)
    assert (with_it.verdict, with_it.score, with_it.points) == (without.verdict, without.score, without.points)
    if policy == "default":
        assert with_it.verdict == by_id()[sid].expect["verdict"], with_it.reasons
