"""The exclusion list (``--exclude FILE``) in the lab: every name the scanner would contact is matched
against it, and a name on it is recorded as ``excluded`` and never contacted.

Which scenario proves what (tests/lab/scenarios.py):

* ``healthy.gov.test`` (``--www always``): its ``www.`` variant on the list is not scanned at all (no
  observation, not even looked up); its only MX host (``mx1.mail.com.test``) on the list makes
  ``mail.mx_aaaa`` ``excluded``.
* ``cdnv6.gov.test`` and ``cdnv4.edu.test``: CNAMEs into ``cdn.test``; the alias on the list makes every
  web.* and path.* check ``excluded``, and nothing is sent to the edge's addresses.
* ``mail.com.test``: three MX hosts, two of them on the list: neither looked up nor probed.
* ``deadns.gov.test``: a zone with two name servers with IPv6; both on the list (``excluded`` ns checks,
  the IPv6-only walk stops at the referral), then one of them (the other is probed, that one is not).
* ``v6only.edu.test``: the target itself on the list: ``check`` refuses it (exit 2), ``scan`` records it
  as ``excluded``; never contacted.

Every ``v6scan check ... --format json`` (and the ``scan``) runs in the lab's client namespace, in
three rounds of parallel runs: first the runs with exclusion lists (the name under test is excluded by
every run of the round), then the positive controls without them (and the deadns run that excludes
one server only), then the deadns control.  Counters are zeroed before each round and read after it:
packets to addresses (``Lab.watch_packets``) and, in a table of this module, UDP DNS queries whose
question is a given name (the QNAME's wire form at a fixed offset of the datagram), so "not looked
up" is measured too.  The controls show that the same counters count when nothing excludes the names.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LAB_ALLOW, LAB_SUFFIXES
from tests.lab import Lab
from tests.lab.lab import REPO
from tests.lab.scenarios import ALL_SCENARIOS
from tests.lab.zones import NSDS
from v6scan.model import Observation, Status
from v6scan.scoring import Policy, load_policy, score_target
from v6scan.store import connect as store_connect

V6SCAN = str(Path(sys.executable).parent / "v6scan")
#: seconds after which a run counts as hung (and is killed): a hang detector, not a speed goal
HANG_S = 120.0
#: the checks a CNAME into an excluded alias makes ``excluded`` (every web.* and path.* check)
WEB_PATH = ("web.reach", "web.tls", "web.http", "web.same_site", "web.latency", "web.links", "web.resources",
            "path.pmtu", "path.icmp")


def _addresses(owner: str) -> list[str]:
    """The A and AAAA records of ``owner`` in the lab's zones."""
    out = [d for s in ALL_SCENARIOS for o, t, d in s.records if o == owner and t in ("A", "AAAA")]
    assert out, f"no address of {owner} in the lab"
    return out


def _glue(ns: str) -> list[str]:
    """The addresses of a name server of a delegated lab zone (its glue)."""
    out = [a for s in ALL_SCENARIOS if s.zone for n, addrs in s.zone.ns if n == ns for a in addrs]
    assert out, f"no name server {ns} in the lab"
    return out


EDGE_V6 = _addresses("edge-v6.cdn.test")
EDGE_V4 = _addresses("edge-v4.cdn.test")
MX1 = _addresses("mx1.mail.com.test")
MX2_V6 = [a for a in _addresses("mx2.mail.com.test") if ":" in a]
NS1_DEADNS = _glue("ns1.deadns.gov.test")
NS2_DEADNS = _glue("ns2.deadns.gov.test")
V6ONLY = _addresses("v6only.edu.test")

#: packet counters (Lab.watch_packets): name -> (addresses, port)
WATCHES: dict[str, tuple[list[str], int | None]] = {
    "excl-edge-v6": (EDGE_V6, None),
    "excl-edge-v4": (EDGE_V4, None),
    "excl-mx1": (MX1, None),
    "excl-mx2-smtp": (MX2_V6, 25),
    "excl-ns1-deadns-53": (NS1_DEADNS, 53),
    "excl-ns2-deadns-53": (NS2_DEADNS, 53),
    "excl-v6only": (V6ONLY, None),
}
#: DNS questions counted (UDP to port 53, any server): counter name -> question name
QNAMES = {
    "q_www_healthy": "www.healthy.gov.test",
    "q_mx1": "mx1.mail.com.test",
    "q_mx2": "mx2.mail.com.test",
    "q_mx3": "mx3.mail.com.test",
    "q_v6only": "v6only.edu.test",
}
QNAME_TABLE = "v6lab_exclq"


# --------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class Spec:
    """One run: ``v6scan check TARGET`` (or ``scan``), with these exclusion-list lines (None: no list)."""

    label: str
    target: str
    exclude: tuple[str, ...] | None
    www: str = "never"
    command: str = "check"
    #: more targets in the ``scan``'s target file
    more: tuple[str, ...] = ()


#: round 1: the exclusion lists.  Within the round every run that could reach a counted name or
#: address has it on its list, so each counter must stay at zero.
FIRST = (
    Spec("www", "healthy.gov.test", ("WWW.Healthy.Gov.Test.", "*.mail.com.test"), www="always"),
    Spec("cname-v6", "cdnv6.gov.test", (".cdn.test",)),
    Spec("cname-v4", "cdnv4.edu.test", ("EDGE-V4.CDN.TEST.",)),
    Spec("mx-some", "mail.com.test", ("Mx1.Mail.Com.Test", "*.mx3.mail.com.test")),
    Spec("ns-all", "deadns.gov.test", ("ns1.deadns.gov.test", "NS2.DEADNS.GOV.TEST.")),
    Spec("scan", "v6only.edu.test", (".V6ONLY.edu.test",), command="scan", more=("v4only.com.test",)),
    *(Spec(f"refuse-{i}", "v6only.edu.test", (line,)) for i, line in enumerate(
        ("v6only.edu.test", "V6ONLY.EDU.TEST.", "*.edu.test", ".v6only.edu.test"))),
)
REFUSALS = tuple(s.label for s in FIRST if s.label.startswith("refuse-"))
#: round 2: the positive controls (no list), and deadns with one of its two name servers on the list
SECOND = (
    Spec("ns-some", "deadns.gov.test", ("ns2.deadns.gov.test",)),
    Spec("www/control", "healthy.gov.test", None, www="always"),
    Spec("cname-v6/control", "cdnv6.gov.test", None),
    Spec("cname-v4/control", "cdnv4.edu.test", None),
    Spec("mx-some/control", "mail.com.test", None),
    Spec("v6only/control", "v6only.edu.test", None),
)
#: round 3: deadns without a list (round 2 has a run that must not reach ns2.deadns.gov.test)
THIRD = (Spec("ns/control", "deadns.gov.test", None),)


@dataclass
class Done:
    label: str
    argv: list[str]
    hung: bool
    code: int | None
    stderr: str
    record: dict[str, Any] | None
    output: Path
    db: Path

    def why(self) -> str:
        return f"{self.label}: exit {self.code}, hung {self.hung}, stderr: {self.stderr[-3000:]}"


@dataclass
class Round:
    done: dict[str, Done]
    #: packets per watch (WATCHES) and questions per name (QNAMES) while the round ran
    packets: dict[str, int]
    questions: dict[str, int]


def _options(lab: Lab) -> list[str]:
    argv = ["--timeout", "2", "--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file),
            "--root-hints", str(lab.root_hints), "--self-check", lab.self_check]
    for n in LAB_ALLOW:
        argv += ["--allow-net", n]
    for s in LAB_SUFFIXES:
        argv += ["--public-suffix", s]
    return argv


class _Run:
    def __init__(self, lab: Lab, d: Path, spec: Spec) -> None:
        slug = spec.label.replace("/", "-")
        self.label = spec.label
        self.out, self.db = d / f"{slug}.json", d / f"{slug}.db"
        self.err, self.stdout = d / f"{slug}.err", d / f"{slug}.stdout"
        extra: list[str] = []
        if spec.exclude is not None:
            ex = d / f"{slug}.exclude"
            ex.write_text(f"# exclusion list of {spec.label}\n" + "".join(x + "\n" for x in spec.exclude))
            extra = ["--exclude", str(ex)]
        if spec.command == "scan":
            targets = d / f"{slug}.targets"
            targets.write_text("".join(t + "\n" for t in (spec.target, *spec.more)))
            self.argv = [V6SCAN, "scan", str(targets), "--db", str(self.db), "--www", spec.www,
                         *_options(lab), *extra]
        else:
            self.argv = [V6SCAN, "check", spec.target, "-o", str(self.out), "--format", "json", "--www", spec.www,
                         *_options(lab), *extra]
        with self.err.open("wb") as err, self.stdout.open("wb") as out:
            self.proc = subprocess.Popen(["ip", "netns", "exec", lab.client, *self.argv], stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True)
        self.started = time.monotonic()

    def wait(self) -> Done:
        hung = False
        try:
            self.proc.wait(timeout=max(0.1, self.started + HANG_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            hung = True
            self.kill()
            self.proc.wait()
        record = None
        if self.out.exists() and self.out.stat().st_size:
            doc = json.loads(self.out.read_text())
            record = doc if isinstance(doc, dict) else None
        return Done(self.label, self.argv, hung, None if hung else self.proc.returncode,
                    self.err.read_text(errors="replace"), record, self.out, self.db)

    def kill(self) -> None:
        if self.proc.poll() is None:  # our own session: the netns exec and the scanner under it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- DNS question counters


def _wire(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def _qname_rule(counter: str, name: str) -> str:
    """UDP to port 53 whose question is ``name``: the QNAME starts 20 bytes into the datagram (UDP
    header, DNS header), compared in chunks of at most 16 bytes (nftables' raw payload limit)."""
    wire = _wire(name)
    tests = [f"@th,{(20 + i) * 8},{len(wire[i:i + 16]) * 8} 0x{wire[i:i + 16].hex()}"
             for i in range(0, len(wire), 16)]
    return f"    meta l4proto udp udp dport 53 {' '.join(tests)} counter name \"{counter}\""


def _load_qnames(lab: Lab, on: bool = True) -> None:
    """(Re)load the question counters in the client namespace (zeroing them), or remove them."""
    script = f"table inet {QNAME_TABLE} {{ }}\ndelete table inet {QNAME_TABLE}\n"
    if on:
        script += (f"table inet {QNAME_TABLE} {{\n"
                   + "".join(f"  counter {c} {{ }}\n" for c in QNAMES)
                   + "  chain output {\n    type filter hook output priority -20; policy accept;\n"
                   + "\n".join(_qname_rule(c, n) for c, n in QNAMES.items()) + "\n  }\n}\n")
    lab.exec(["nft", "-f", "-"], input=script, check=True)


def _questions(lab: Lab) -> dict[str, int]:
    out = json.loads(lab.exec(["nft", "-j", "list", "counters", "table", "inet", QNAME_TABLE], check=True).stdout)
    counts = {str(c["name"]): int(c["packets"]) for item in out.get("nftables", [])
              if (c := item.get("counter")) is not None}
    return {c: counts[c] for c in QNAMES}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def counters(lab: Lab) -> Iterator[None]:
    for name, (addrs, port) in WATCHES.items():
        lab.watch_packets(name, addrs, port)
    _load_qnames(lab)
    try:
        yield
    finally:
        lab.unwatch_packets(*WATCHES)
        _load_qnames(lab, on=False)


def _round(lab: Lab, d: Path, specs: tuple[Spec, ...]) -> Round:
    lab.reset_counters()
    _load_qnames(lab)
    assert not any(lab.watched_packets()[w] for w in WATCHES) and not any(_questions(lab).values())
    runs = [_Run(lab, d, s) for s in specs]
    try:
        done = {r.label: r.wait() for r in runs}
    finally:
        for r in runs:
            r.kill()
    packets = lab.watched_packets()
    return Round(done, {w: packets[w] for w in WATCHES}, _questions(lab))


@pytest.fixture(scope="module")
def first(lab: Lab, counters: None, tmp_path_factory: pytest.TempPathFactory) -> Round:
    return _round(lab, tmp_path_factory.mktemp("exclusions-1"), FIRST)


@pytest.fixture(scope="module")
def second(lab: Lab, counters: None, first: Round, tmp_path_factory: pytest.TempPathFactory) -> Round:
    return _round(lab, tmp_path_factory.mktemp("exclusions-2"), SECOND)


@pytest.fixture(scope="module")
def third(lab: Lab, counters: None, second: Round, tmp_path_factory: pytest.TempPathFactory) -> Round:
    return _round(lab, tmp_path_factory.mktemp("exclusions-3"), THIRD)


def record(r: Round, label: str) -> dict[str, Any]:
    d = r.done[label]
    assert not d.hung, f"{label}: still running after {HANG_S:g} s (killed): {d.stderr[-2000:]}"
    assert d.code == 0, d.why()
    assert d.record is not None, d.why()
    return d.record


def obs(doc: dict[str, Any], check: str, name: str | None = None) -> dict[str, Any]:
    """The details of ``check`` for ``name`` (the target by default): status, error, evidence, result."""
    c = doc["checks"].get(check)
    assert c is not None, f"{doc['target']}: no {check} in the record"
    per = c["details"]["names"]
    name = name or doc["target"]
    assert name in per, f"{doc['target']}: no {check} observation of {name}: {sorted(per)}"
    return per[name]  # type: ignore[no-any-return]


def names_observed(doc: dict[str, Any]) -> set[str]:
    return {n for c in doc["checks"].values() for n in c["details"]["names"]}


# --------------------------------------------------------------------------- www variant


def test_a_www_variant_on_the_list_is_not_scanned(first: Round) -> None:
    doc = record(first, "www")
    assert doc["names"] == ["healthy.gov.test"], doc["names"]
    assert names_observed(doc) == {"healthy.gov.test"}, "an observation of the excluded variant exists"
    ev = obs(doc, "dns.resolve")["evidence"]
    assert ev.get("excluded_variants") == [{"name": "www.healthy.gov.test", "entry": "www.healthy.gov.test"}], ev
    assert first.questions["q_www_healthy"] == 0, f"www.healthy.gov.test was looked up: {first.questions}"


def test_without_the_list_the_www_variant_is_scanned(second: Round) -> None:
    doc = record(second, "www/control")
    assert doc["names"] == ["healthy.gov.test", "www.healthy.gov.test"], doc["names"]
    assert obs(doc, "web.reach", "www.healthy.gov.test")["status"] == "ok"
    assert "excluded_variants" not in obs(doc, "dns.resolve")["evidence"]
    assert second.questions["q_www_healthy"] > 0, second.questions


# --------------------------------------------------------------------------- CNAME into an excluded alias


@pytest.mark.parametrize(("label", "alias", "entry", "watch"), [
    ("cname-v6", "edge-v6.cdn.test", ".cdn.test", "excl-edge-v6"),
    ("cname-v4", "edge-v4.cdn.test", "edge-v4.cdn.test", "excl-edge-v4"),
])
def test_a_name_whose_cname_chain_has_a_listed_alias_is_not_contacted(
        first: Round, label: str, alias: str, entry: str, watch: str) -> None:
    doc = record(first, label)
    resolve = obs(doc, "dns.resolve")
    assert alias in resolve["evidence"]["cname_chain"], resolve["evidence"]["cname_chain"]
    assert resolve["evidence"].get("excluded") == {"name": alias, "entry": entry}, resolve["evidence"]
    for check in WEB_PATH:
        o = obs(doc, check)
        assert o["status"] == "excluded", (check, o["status"], o["error"])
        assert alias in str(o["error"]), (check, o["error"])
    assert first.packets[watch] == 0, f"packets to {alias}'s addresses: {first.packets}"


@pytest.mark.parametrize(("label", "watch"), [("cname-v6/control", "excl-edge-v6"),
                                              ("cname-v4/control", "excl-edge-v4")])
def test_without_the_list_the_alias_is_contacted(second: Round, label: str, watch: str) -> None:
    doc = record(second, label)
    assert "excluded" not in obs(doc, "dns.resolve")["evidence"]
    assert not [c for c in WEB_PATH if obs(doc, c)["status"] == "excluded"]
    assert obs(doc, "web.reach")["status"] == "ok", obs(doc, "web.reach")["error"]
    assert second.packets[watch] > 0, second.packets


# --------------------------------------------------------------------------- MX hosts


def test_every_mx_host_on_the_list(first: Round) -> None:
    """healthy.gov.test's only MX host (mx1.mail.com.test) matches ``*.mail.com.test``."""
    doc = record(first, "www")
    mx = obs(doc, "mail.mx_aaaa")
    assert mx["status"] == "excluded", (mx["status"], mx["error"])
    assert mx["evidence"].get("excluded") == [
        {"host": "mx1.mail.com.test", "preference": 10, "entry": ".mail.com.test"}], mx["evidence"]
    assert mx["evidence"]["mx"] == [], mx["evidence"]["mx"]
    reach = obs(doc, "mail.mx_reach")
    assert not reach["evidence"].get("servers"), reach["evidence"]
    assert reach["error"] == "every MX host is on the exclusion list", reach["error"]
    assert first.packets["excl-mx1"] == 0, f"packets to mx1.mail.com.test: {first.packets}"
    assert first.questions["q_mx1"] == 0, f"mx1.mail.com.test was looked up: {first.questions}"


def test_some_mx_hosts_on_the_list(first: Round) -> None:
    doc = record(first, "mx-some")
    mx = obs(doc, "mail.mx_aaaa")
    assert mx["status"] == "ok", (mx["status"], mx["error"])
    assert mx["evidence"].get("excluded") == [
        {"host": "mx1.mail.com.test", "preference": 10, "entry": "mx1.mail.com.test"},
        {"host": "mx3.mail.com.test", "preference": 30, "entry": ".mx3.mail.com.test"}], mx["evidence"]
    assert [h["host"] for h in mx["evidence"]["mx"]] == ["mx2.mail.com.test"], mx["evidence"]["mx"]
    reach = obs(doc, "mail.mx_reach")
    rows = reach["evidence"]["servers"]
    assert {(r["host"], r["address"]) for r in rows} == {("mx2.mail.com.test", a) for a in MX2_V6}, rows
    assert first.packets["excl-mx1"] == 0, f"packets to mx1.mail.com.test: {first.packets}"
    assert first.questions["q_mx1"] == 0 and first.questions["q_mx3"] == 0, \
        f"an excluded MX host was looked up: {first.questions}"
    # the host that is not on the list is looked up and probed, in the same run
    assert first.packets["excl-mx2-smtp"] > 0 and first.questions["q_mx2"] > 0, (first.packets, first.questions)


def test_without_the_list_every_mx_host_is_looked_up_and_probed(second: Round) -> None:
    doc = record(second, "mx-some/control")
    mx = obs(doc, "mail.mx_aaaa")
    assert "excluded" not in mx["evidence"], mx["evidence"]
    assert [h["host"] for h in mx["evidence"]["mx"]] == ["mx1.mail.com.test", "mx2.mail.com.test",
                                                         "mx3.mail.com.test"], mx["evidence"]["mx"]
    assert "mx1.mail.com.test" in {r["host"] for r in obs(doc, "mail.mx_reach")["evidence"]["servers"]}
    assert second.packets["excl-mx1"] > 0, second.packets
    assert second.questions["q_mx1"] > 0 and second.questions["q_mx3"] > 0, second.questions


# --------------------------------------------------------------------------- name servers


def _referral_to(ev: dict[str, Any], zone: str) -> dict[str, Any]:
    refs = [s["referral"] for s in ev["steps"] if (s.get("referral") or {}).get("zone") == zone]
    assert len(refs) == 1, f"referrals to {zone}: {refs} (steps: {ev['steps']})"
    return refs[0]  # type: ignore[no-any-return]


def test_every_name_server_of_the_zone_on_the_list(first: Round) -> None:
    doc = record(first, "ns-all")
    want = [{"name": "ns1.deadns.gov.test", "entry": "ns1.deadns.gov.test"},
            {"name": "ns2.deadns.gov.test", "entry": "ns2.deadns.gov.test"}]
    for check in ("dns.ns_aaaa", "dns.ns_reach"):
        o = obs(doc, check)
        assert o["status"] == "excluded", (check, o["status"], o["error"])
        ev = o["evidence"]
        assert sorted(ev.get("excluded", []), key=lambda x: x["name"]) == want, (check, ev)
        assert ev.get("ns") == [] and not ev.get("probes"), (check, ev)
    path = obs(doc, "dns.v6_path")
    ev = path["evidence"]
    ref = _referral_to(ev, "deadns.gov.test")
    assert sorted(ref.get("excluded", [])) == ["ns1.deadns.gov.test", "ns2.deadns.gov.test"], ref
    assert ref["ns"] == [] and ref["v6_servers"] == [], ref
    assert not [s for s in ev["steps"] if s.get("zone") == "deadns.gov.test"], "the walk asked a listed server"
    assert path["status"] == "excluded", (path["status"], path["error"])
    assert first.packets["excl-ns1-deadns-53"] == 0 and first.packets["excl-ns2-deadns-53"] == 0, \
        f"packets to port 53 of a listed name server: {first.packets}"


def test_one_name_server_of_the_zone_on_the_list(second: Round) -> None:
    doc = record(second, "ns-some")
    ns = obs(doc, "dns.ns_aaaa")
    assert ns["status"] == "ok", (ns["status"], ns["error"])
    assert ns["evidence"].get("excluded") == [{"name": "ns2.deadns.gov.test", "entry": "ns2.deadns.gov.test"}], \
        ns["evidence"]
    assert [s["name"] for s in ns["evidence"]["ns"]] == ["ns1.deadns.gov.test"], ns["evidence"]["ns"]
    # whether the excluded server has IPv6 is unknown: the "at least 2 with IPv6" rule is not judged
    assert ns["result"] == "not_tested" and ns["applicable"] is False, (ns["result"], ns["applicable"])
    assert "ns_v6_few" not in {r["code"] for r in doc["reasons"]}, doc["reasons"]
    reach = obs(doc, "dns.ns_reach")
    assert reach["status"] == "ok", (reach["status"], reach["error"])
    probes = reach["evidence"]["probes"]
    assert {p["ns"] for p in probes} == {"ns1.deadns.gov.test"}, probes
    assert {p["address"] for p in probes} == set(NS1_DEADNS), probes
    path = obs(doc, "dns.v6_path")
    assert path["status"] == "ok", (path["status"], path["error"])
    ref = _referral_to(path["evidence"], "deadns.gov.test")
    assert ref.get("excluded") == ["ns2.deadns.gov.test"] and ref["ns"] == ["ns1.deadns.gov.test"], ref
    assert all(s.startswith("ns1.deadns.gov.test ") for s in ref["v6_servers"]) and ref["v6_servers"], ref
    asked = {x["ns"] for s in path["evidence"]["steps"] if s.get("zone") == "deadns.gov.test"
             for x in s.get("servers", [])}
    assert asked == {"ns1.deadns.gov.test"}, asked
    assert second.packets["excl-ns2-deadns-53"] == 0, f"packets to port 53 of ns2.deadns.gov.test: {second.packets}"
    assert second.packets["excl-ns1-deadns-53"] > 0, second.packets  # the other one is probed, in the same run


def test_without_the_list_both_name_servers_are_probed(third: Round) -> None:
    doc = record(third, "ns/control")
    ns = obs(doc, "dns.ns_aaaa")
    assert "excluded" not in ns["evidence"], ns["evidence"]
    probes = obs(doc, "dns.ns_reach")["evidence"]["probes"]
    assert {p["ns"] for p in probes} == {"ns1.deadns.gov.test", "ns2.deadns.gov.test"}, probes
    ref = _referral_to(obs(doc, "dns.v6_path")["evidence"], "deadns.gov.test")
    assert "excluded" not in ref and sorted(ref["ns"]) == ["ns1.deadns.gov.test", "ns2.deadns.gov.test"], ref
    assert third.packets["excl-ns1-deadns-53"] > 0 and third.packets["excl-ns2-deadns-53"] > 0, third.packets


# --------------------------------------------------------------------------- the target itself


@pytest.mark.parametrize("label", REFUSALS)
def test_check_refuses_a_target_on_the_list(first: Round, label: str) -> None:
    d = first.done[label]
    assert not d.hung and d.code == 2, d.why()
    assert "v6only.edu.test is on the exclusion list" in d.stderr, d.why()
    assert d.record is None and not (d.output.exists() and d.output.stat().st_size), d.output


def test_scan_records_a_target_on_the_list_as_excluded(first: Round) -> None:
    d = first.done["scan"]
    assert not d.hung and d.code == 0, d.why()
    assert "excluded: v6only.edu.test" in d.stderr, d.why()
    con = store_connect(f"file:{d.db}?mode=ro", uri=True)
    try:
        status = dict(con.execute("SELECT name, status FROM targets").fetchall())
        assert status == {"v6only.edu.test": "excluded", "v4only.com.test": "done"}, status
        seen = con.execute("SELECT count(*) FROM observations o JOIN targets t ON t.id = o.target_id"
                           " WHERE t.name = 'v6only.edu.test' OR o.name LIKE '%v6only.edu.test'").fetchone()[0]
        assert seen == 0, f"{seen} observations of the excluded target"
        assert con.execute("SELECT count(*) FROM observations o JOIN targets t ON t.id = o.target_id"
                           " WHERE t.name = 'v4only.com.test'").fetchone()[0] > 0
        config = json.loads(con.execute("SELECT config FROM sweeps").fetchone()[0])
        assert ".v6only.edu.test" in config.get("exclude_names", []), config
    finally:
        con.close()


def test_a_target_on_the_list_is_never_contacted(first: Round) -> None:
    """Neither the refused checks nor the scan contact (or look up) v6only.edu.test."""
    assert first.packets["excl-v6only"] == 0, f"packets to v6only.edu.test: {first.packets}"
    assert first.questions["q_v6only"] == 0, f"v6only.edu.test was looked up: {first.questions}"


def test_without_the_list_the_target_is_contacted(second: Round) -> None:
    doc = record(second, "v6only/control")
    assert obs(doc, "web.reach")["status"] == "ok"
    assert second.packets["excl-v6only"] > 0 and second.questions["q_v6only"] > 0, (second.packets,
                                                                                     second.questions)


# --------------------------------------------------------------------------- entry forms


@pytest.mark.parametrize(("label", "line", "name", "entry"), [
    ("www", "WWW.Healthy.Gov.Test.", "www.healthy.gov.test", "www.healthy.gov.test"),  # upper case, trailing dot
    ("www", "*.mail.com.test", "mx1.mail.com.test", ".mail.com.test"),  # *. suffix, a name below it
    ("cname-v6", ".cdn.test", "edge-v6.cdn.test", ".cdn.test"),  # . suffix
    ("cname-v4", "EDGE-V4.CDN.TEST.", "edge-v4.cdn.test", "edge-v4.cdn.test"),  # upper case, trailing dot
    ("mx-some", "Mx1.Mail.Com.Test", "mx1.mail.com.test", "mx1.mail.com.test"),  # mixed case
    ("mx-some", "*.mx3.mail.com.test", "mx3.mail.com.test", ".mx3.mail.com.test"),  # *. suffix, the name itself
    ("ns-all", "ns1.deadns.gov.test", "ns1.deadns.gov.test", "ns1.deadns.gov.test"),  # as it is
    ("ns-all", "NS2.DEADNS.GOV.TEST.", "ns2.deadns.gov.test", "ns2.deadns.gov.test"),  # upper case, trailing dot
])
def test_entry_forms_match_and_are_recorded_in_normal_form(first: Round, label: str, line: str, name: str,
                                                          entry: str) -> None:
    assert line in (next(s for s in FIRST if s.label == label).exclude or ())
    found = recorded_entries(record(first, label))
    assert found.get(name) == entry, f"{line!r} should exclude {name} as {entry!r}; recorded: {found}"


def recorded_entries(doc: dict[str, Any]) -> dict[str, str]:
    """Every excluded name the record names, with the entry it matched: www variants and CNAME aliases
    (dns.resolve), MX hosts (mail.mx_aaaa), name servers (dns.ns_aaaa)."""
    found: dict[str, str] = {}
    ev = obs(doc, "dns.resolve")["evidence"]
    found.update({r["name"]: r["entry"] for r in ev.get("excluded_variants", [])})
    if ev.get("excluded") is not None:
        found[ev["excluded"]["name"]] = ev["excluded"]["entry"]
    found.update({r["host"]: r["entry"] for r in obs(doc, "mail.mx_aaaa")["evidence"].get("excluded", [])})
    found.update({r["name"]: r["entry"] for r in obs(doc, "dns.ns_aaaa")["evidence"].get("excluded", [])})
    return found


# --------------------------------------------------------------------------- scoring


def _observations(doc: dict[str, Any]) -> list[Observation]:
    return [Observation(cid, name, Status(d["status"]), d["evidence"], d["error"])
            for cid, c in doc["checks"].items() for name, d in c["details"]["names"].items()]


@pytest.mark.parametrize(("label", "checks"), [
    ("www", {"mail.mx_aaaa"}),
    ("cname-v6", {*WEB_PATH, "dns.v6_path"}),
    ("cname-v4", set(WEB_PATH)),
    ("ns-all", {"dns.ns_aaaa", "dns.ns_reach", "dns.v6_path"}),
])
def test_excluded_observations_count_for_nothing(first: Round, label: str, checks: set[str]) -> None:
    """Each ``excluded`` observation is ``not_tested`` and not applicable, and the site's verdict and
    score are exactly those of the same observations without them, under a policy without those checks."""
    doc = record(first, label)
    excluded = {(cid, name) for cid, c in doc["checks"].items() for name, d in c["details"]["names"].items()
                if d["status"] == "excluded"}
    assert {cid for cid, _ in excluded} >= checks, sorted(excluded)
    for cid, name in excluded:
        d = obs(doc, cid, name)
        assert d["result"] == "not_tested" and d["applicable"] is False, (cid, d["result"], d["applicable"])
    assert not [r for r in doc["reasons"] if any(cid in json.dumps(r) for cid, _ in excluded)], doc["reasons"]
    policy = load_policy(doc["policy"])
    every = _observations(doc)
    again = score_target(doc["target"], every, policy)
    assert (again.verdict, again.score) == (doc["verdict"], doc["score"])  # the record is read back faithfully
    ids = {cid for cid, _ in excluded}
    without = Policy(policy.name, policy.description, {k: v for k, v in policy.checks.items() if k not in ids},
                     policy.thresholds, policy.score)
    alone = score_target(doc["target"], [o for o in every if o.check not in ids], without)
    assert (alone.verdict, alone.score) == (doc["verdict"], doc["score"]), (
        f"the excluded checks changed the outcome: {doc['verdict']} {doc['score']} with them,"
        f" {alone.verdict} {alone.score} without; reasons {[r['code'] for r in doc['reasons']]}")


# --------------------------------------------------------------------------- the counters themselves


def test_the_lab_addresses_watched_are_the_scenarios() -> None:
    """The watches name the servers the scenarios say (a renamed scenario must not make them vacuous)."""
    assert set(NS1_DEADNS) | set(NS2_DEADNS) <= set(NSDS["child"].addrs)
    assert len(EDGE_V6) == 2 and len(EDGE_V4) == 1 and len(MX1) == 2 and MX2_V6 and V6ONLY
    assert not set(EDGE_V6 + EDGE_V4 + MX1 + MX2_V6 + V6ONLY) & set(NS1_DEADNS + NS2_DEADNS)
