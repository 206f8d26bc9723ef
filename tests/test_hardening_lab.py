"""Hardening, round two (issue 15): what a site serves never makes a check end in ``error``, never
hangs the scanner, never grows its work or memory without bound, and never makes it contact what it
must not (bad ports, IP literals, names on the user's exclusion list).

Scenarios: ``tests.lab.scenarios.HARDENING`` (pathological markup, 64 AAAA, 20,000 subresource
hosts, response headers trickling in forever, bad URLs and redirect locations, excluded hosts).
Each is checked once with ``v6scan check --format json`` in the lab's client namespace, all at once
(module fixture ``runs``; the excl-* sites with ``--exclude``), and the tests read the records.  A
check still running after ``HANG_S`` is killed and counts as hung: a hang detector, not a speed
goal (speed is measured by ``benchmarks/hostile.py``).  Packets are counted by nftables in the
client namespace (``Lab.watch_packets``); after the first round, the excl-* sites are checked again
without the exclusion list, so the same counters prove they do count (positive control).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name
import dns.zone
import pytest

from tests.conftest import LAB_ALLOW, LAB_SUFFIXES
from tests.lab import Lab
from tests.lab.lab import REPO, targets_csv
from tests.lab.scenarios import (
    ALL_SCENARIOS,
    BAD_PORT,
    BAD_URLS,
    HARDENING,
    MANY_AAAA,
    MANY_RES_HOSTS,
    SCENARIOS,
    VARIANT,
    Scenario,
    by_id,
)
from tests.lab.zones import build_zones
from tests.test_hostile_lab import MAX_RSS_MB

V6SCAN = str(Path(sys.executable).parent / "v6scan")
#: seconds after which a check that has not finished counts as hung (and is killed)
HANG_S = 120.0
#: the whole JSON record of one target
MAX_RECORD_BYTES = 2 * 1024 * 1024
#: decoded bytes the scanner keeps of a page by default (Settings.max_body): the pathological pages
#: stay below it, so they arrive whole and their own markup is what the scanner has to survive
MAX_BODY = 1 << 20
PATHO = ("patho-title", "patho-line", "patho-nest", "patho-quote")
EXCLUDED = ("excl-redir", "excl-link")
#: the exclusion file of the excl-* checks: a name, and a suffix (leading dot)
EXCLUDE_LINES = ("x.excl-redir.gov.test", ".x.excl-link.gov.test")
#: checks of the first round (the excl-* ones with the exclusion list) and the controls after it
FIRST = tuple(s.id for s in HARDENING)
CONTROLS = tuple(f"{sid}/control" for sid in EXCLUDED)
LAUNCHER = ("import resource, subprocess, sys, time\n"
            "t0 = time.monotonic()\n"
            "with open(sys.argv[1], 'wb') as err:\n"
            "    code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err).returncode\n"
            "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.monotonic() - t0)\n")


def _addresses(owner: str) -> list[str]:
    return [d for s in ALL_SCENARIOS for o, t, d in s.records if o == owner and t in ("A", "AAAA")]


#: the packet counters of this module (Lab.watch_packets): name -> (addresses, port)
WATCHES: dict[str, tuple[list[str], int | None]] = {
    "hard-x-excl-redir": (_addresses("x.excl-redir.gov.test"), None),
    "hard-x-excl-link": (_addresses("x.excl-link.gov.test"), None),
    "hard-badport-port": (_addresses("badport.gov.test"), BAD_PORT),
    "hard-badurl-port": (_addresses("badurl.gov.test"), BAD_PORT),
    "hard-badurl-literals": (["2001:db8::1", "198.51.100.1"], None),
}


# --------------------------------------------------------------------------- running checks


@dataclass
class Done:
    """A finished (or killed) ``v6scan check``."""

    label: str
    hung: bool
    code: int | None
    rss_mb: float | None
    wall_s: float
    record: dict[str, Any] | None
    record_bytes: int
    stderr: str

    def why(self) -> str:
        return f"{self.label}: exit {self.code}, hung {self.hung}, stderr: {self.stderr[-3000:]}"


@dataclass
class Run:
    label: str
    proc: subprocess.Popen[str]
    out: Path
    err: Path
    started: float
    done: Done | None = field(default=None)

    def wait(self) -> Done:
        if self.done is not None:
            return self.done
        hung = False
        try:
            stdout, _ = self.proc.communicate(timeout=max(0.1, self.started + HANG_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            hung = True
            self.kill()
            stdout, _ = self.proc.communicate()
        wall = time.monotonic() - self.started
        code: int | None = None
        rss: float | None = None
        parts = stdout.split()
        if not hung and len(parts) == 3:
            code, rss = int(parts[0]), int(parts[1]) / 1024
        record: dict[str, Any] | None = None
        size = 0
        if self.out.exists() and self.out.stat().st_size:
            size = self.out.stat().st_size
            doc = json.loads(self.out.read_text())
            record = doc if isinstance(doc, dict) else None
        err = self.err.read_text(errors="replace") if self.err.exists() else ""
        self.done = Done(self.label, hung, code, rss, wall, record, size, err)
        return self.done

    def kill(self) -> None:
        if self.proc.poll() is None:  # the launcher's session (it and the scanner), while it is ours
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def common(lab: Lab) -> list[str]:
    argv = ["--format", "json", "--timeout", "2", "--www", "never", "--resolver", lab.resolver[0],
            "--ca-bundle", str(lab.ca_file), "--root-hints", str(lab.root_hints), "--self-check", lab.self_check]
    for n in LAB_ALLOW:
        argv += ["--allow-net", n]
    for s in LAB_SUFFIXES:
        argv += ["--public-suffix", s]
    return argv


def start(lab: Lab, d: Path, label: str, target: str, *extra: str) -> Run:
    """``v6scan check TARGET`` in the client namespace, under a launcher that measures its peak RSS."""
    slug = label.replace("/", "-")
    out, err = d / f"{slug}.json", d / f"{slug}.err"
    argv = [V6SCAN, "check", target, "-o", str(out), *common(lab), *extra]
    proc = subprocess.Popen(["ip", "netns", "exec", lab.client, sys.executable, "-c", LAUNCHER, str(err), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
                            start_new_session=True)
    return Run(label, proc, out, err, time.monotonic())


@pytest.fixture(scope="module")
def runs(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every hardening site checked once, all at once; the excl-* sites with the exclusion list."""
    d = tmp_path_factory.mktemp("hardening")
    exclude = d / "exclude.txt"
    exclude.write_text("".join(line + "\n" for line in EXCLUDE_LINES))
    for name, (addrs, port) in WATCHES.items():
        lab.watch_packets(name, addrs, port)
    lab.reset_counters()
    started: dict[str, Run] = {}
    try:
        for s in HARDENING:
            extra = ("--exclude", str(exclude)) if s.id in EXCLUDED else ()
            started[s.id] = start(lab, d, s.id, s.target, *extra)
        yield started
    finally:
        for r in started.values():
            r.kill()
            r.proc.wait()
        lab.unwatch_packets(*WATCHES)


@pytest.fixture(scope="module")
def counts(lab: Lab, runs: dict[str, Run]) -> dict[str, int]:
    """The packet counters once every check of the first round has finished."""
    for r in runs.values():
        r.wait()
    return lab.watched_packets()


@pytest.fixture(scope="module")
def control(lab: Lab, counts: dict[str, int], tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[dict[str, Done], dict[str, int]]:
    """The excl-* sites again, without the exclusion list (after the first round: the counters are
    zeroed and only these checks run)."""
    d = tmp_path_factory.mktemp("hardening-control")
    lab.reset_counters()
    started = {f"{sid}/control": start(lab, d, f"{sid}/control", by_id()[sid].target) for sid in EXCLUDED}
    try:
        done = {label: r.wait() for label, r in started.items()}
    finally:
        for r in started.values():
            r.kill()
    return done, lab.watched_packets()


def result(request: pytest.FixtureRequest, label: str) -> Done:
    if label in CONTROLS:
        return request.getfixturevalue("control")[0][label]  # type: ignore[no-any-return]
    return request.getfixturevalue("runs")[label].wait()  # type: ignore[no-any-return]


def record(d: Done) -> dict[str, Any]:
    assert not d.hung, f"{d.label}: still running after {HANG_S:g} s (killed): {d.stderr[-2000:]}"
    assert d.record is not None, d.why()
    return d.record


def obs(d: Done, check: str) -> dict[str, Any]:
    """The per-name details of ``check`` for the target: status, error, evidence."""
    doc = record(d)
    c = doc["checks"].get(check)
    assert c is not None, f"{d.label}: no {check} in the record"
    return c["details"]["names"][doc["target"]]  # type: ignore[no-any-return]


def caps(ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence's ``caps_hit`` entries, each checked for the contract's shape."""
    hits = ev.get("caps_hit", [])
    assert isinstance(hits, list), hits
    for h in hits:
        assert isinstance(h.get("cap"), str) and isinstance(h.get("limit"), int) and isinstance(h.get("found"), int), h
        assert h["found"] > h["limit"], f"a cap hit finds more than the limit: {h}"
    return hits


def has_cap(ev: dict[str, Any], **want: object) -> bool:
    return any(all(h.get(k) == v for k, v in want.items()) for h in caps(ev))


# --------------------------------------------------------------------------- the scenarios (no lab)


def test_hardening_scenarios_keep_the_catalogue_rules() -> None:
    """The rules tests/test_lab_catalogue.py applies to SCENARIOS, for every scenario a lab builds."""
    nets = [ipaddress.ip_network(n) for n in LAB_ALLOW]
    ids = [s.id for s in ALL_SCENARIOS]
    targets = [s.target for s in ALL_SCENARIOS]
    assert len(ids) == len(set(ids)) and len(targets) == len(set(targets))
    assert not {s.id for s in HARDENING} & {s.id for s in SCENARIOS}
    for s in HARDENING:
        assert s.expect.get("verdict") in {"ready", "partial", "broken", "absent"}, s.id  # never "error"
        assert set(s.expect) - {"verdict"} and set(s.expect) <= {"dns", "tcp", "tls", "http", "verdict"}, s.id
        for a in [e.addr for e in s.web] + [a for a, _, _ in s.hostile] + \
                 [d for _, t, d in s.records if t in ("A", "AAAA")]:
            assert any(ipaddress.ip_address(a) in n for n in nets), (s.id, a)
    by_addr: dict[str, set[tuple[object, ...]]] = {}
    for s in ALL_SCENARIOS:
        for e in s.web:
            by_addr.setdefault(e.addr, set()).add((s.id, e.host, e.drop))
        for a, _, _ in s.hostile:
            by_addr.setdefault(a, set()).add((s.id, "peer"))
    shared = {a: v for a, v in by_addr.items() if len({x[0] for x in v}) > 1}
    assert not any(x[0] in {h.id for h in HARDENING} for v in shared.values() for x in v), shared
    zones = build_zones(ALL_SCENARIOS)
    gov = dns.zone.from_text(zones["sector"]["gov.test"], origin=dns.name.from_text("gov.test"),
                             relativize=False, check_origin=True)
    rrs = gov.get_rdataset(dns.name.from_text("many-aaaa.gov.test."), "AAAA")
    assert rrs is not None and len(rrs) == 64
    # the lab's target list (and every sweep of it) leaves them out
    assert not any(s.target in targets_csv(0) for s in HARDENING)


def _index(s: Scenario, family: str) -> str:
    e = next(e for e in s.web if (":" in e.addr) == (family == "v6"))
    return next(p.body for p in e.pages if p.path == "index.html")


@pytest.mark.parametrize("sid", PATHO)
def test_pathological_pages_are_big_pathological_and_differ_in_words(sid: str) -> None:
    s = by_id()[sid]
    v6, v4 = _index(s, "v6"), _index(s, "v4")
    for body in (v6, v4):
        assert 900_000 < len(body.encode()) < MAX_BODY, len(body.encode())
        assert '<a href="/about.html">' in body[:20_000]  # a working internal link before the pathology
    # different texts, also once every run of digits compares equal (the scanner's normalisation):
    # the comparison cannot short-circuit on equal texts
    assert re.sub(r"\d+", "0", v6) != re.sub(r"\d+", "0", v4)
    assert VARIANT["v6"] in v6.split("\n", 1)[0][:300] and VARIANT["v4"] in v4.split("\n", 1)[0][:300]
    body = v6
    if sid == "patho-title":
        start = body.index("<title>")
        assert "</title>" not in body and ">" not in body[start + 7:] and body.count("<a ") >= 50_000
    elif sid == "patho-line":
        assert "\n" not in body and body.count(" ") > 100_000
    elif sid == "patho-nest":
        assert body.count("<div>") + body.count("<span>") >= 100_000
    else:
        run = '<a href="' * 50_000
        assert run in body and "-->" not in body[body.index("<!--"):]


def test_many_aaaa_and_many_res_are_what_they_say() -> None:
    s = by_id()["many-aaaa"]
    aaaa = [d for _, t, d in s.records if t == "AAAA"]
    a = [d for _, t, d in s.records if t == "A"]
    assert len(set(aaaa)) == 64 and 1 <= len(a) <= 2
    assert {e.addr for e in s.web} == set(aaaa) | set(a)  # every address is served
    page = _index(by_id()["many-res"], "v6")
    hosts = set(re.findall(r'src="https://([^/"]+)/', page))
    assert len(hosts) == MANY_RES_HOSTS and len(page.encode()) < MAX_BODY


# --------------------------------------------------------------------------- every check, every site


@pytest.mark.parametrize("label", [*FIRST, *CONTROLS])
def test_no_site_content_ends_a_check_in_error(request: pytest.FixtureRequest, label: str) -> None:
    d = result(request, label)
    doc = record(d)
    assert d.code in (0, 3), d.why()  # 4 would be an internal error
    errors = {f"{cid} {name}": det.get("error") for cid, c in doc["checks"].items()
              for name, det in c["details"]["names"].items() if det.get("status") == "error"}
    assert not errors, f"{label}: checks ended in error: {errors}"
    assert doc["verdict"] != "error", (label, doc["reasons"])


@pytest.mark.parametrize("label", [*(s for s in FIRST if s not in EXCLUDED), *CONTROLS])
def test_verdict_is_the_catalogues(request: pytest.FixtureRequest, label: str) -> None:
    doc = record(result(request, label))
    want = by_id()[label.split("/")[0]].expect["verdict"]
    assert doc["verdict"] == want, (label, [r["text"] for r in doc["reasons"]])


@pytest.mark.parametrize("label", FIRST)
def test_memory_stays_bounded(request: pytest.FixtureRequest, label: str) -> None:
    d = result(request, label)
    record(d)
    assert d.rss_mb is not None and d.rss_mb < MAX_RSS_MB, f"{label}: peak RSS {d.rss_mb} MB"


# --------------------------------------------------------------------------- pathological markup


@pytest.mark.parametrize("sid", PATHO)
def test_pathological_pages_are_compared_and_crawled(runs: dict[str, Run], sid: str) -> None:
    d = runs[sid].wait()
    same = obs(d, "web.same_site")
    assert same["status"] == "ok", (same["status"], same["error"])
    ev = same["evidence"]
    assert all(h["cap"] == "max_parse" for h in caps(ev)), caps(ev)
    # the two texts differ (one word per family) and are still the same site
    assert 0.9 <= float(ev["similarity"]) < 1.0, (ev["similarity"], ev.get("differences"))
    links = obs(d, "web.links")
    assert links["status"] == "ok", (links["status"], links["error"])
    lev = links["evidence"]
    assert all(h["cap"] == "max_parse" for h in caps(lev)), caps(lev)
    urls = {u["url"]: u for u in lev["urls"]}
    about = f"https://{sid}.gov.test/about.html"
    assert about in urls and urls[about]["v6_ok"] is True, lev["urls"]
    assert lev["level2"]["rate"] == 1.0, lev["level2"]


# --------------------------------------------------------------------------- caps


def test_many_aaaa_probes_at_most_16_addresses_per_family(runs: dict[str, Run]) -> None:
    d = runs["many-aaaa"].wait()
    reach = obs(d, "web.reach")
    assert reach["status"] == "ok", reach["error"]
    ev = reach["evidence"]
    v6 = [r for r in ev["addresses"] if r["family"] == "v6"]
    assert 1 <= len(v6) <= 16, len(v6)
    assert {r["address"] for r in v6} <= set(MANY_AAAA)
    assert all(r["ports"]["443"]["status"] == "ok" for r in v6), v6  # the probed ones work
    assert has_cap(ev, cap="max_addresses", limit=16, found=64, family="v6"), ev.get("caps_hit")
    tls = obs(d, "web.tls")
    assert tls["status"] == "ok", tls["error"]
    tls_v6 = [r for r in tls["evidence"]["addresses"] if r["family"] == "v6"]
    assert 1 <= len(tls_v6) <= 16 and all(r["valid"] is True for r in tls_v6), tls_v6


def test_many_resource_hosts_are_capped_at_50(runs: dict[str, Run]) -> None:
    d = runs["many-res"].wait()
    res = obs(d, "web.resources")
    assert res["status"] == "ok", res["error"]
    ev = res["evidence"]
    assert 1 <= len(ev["hosts"]) <= 50, len(ev["hosts"])
    hit = [h for h in caps(ev) if h["cap"] == "max_resource_hosts"]
    assert hit and hit[0]["limit"] == 50 and hit[0]["found"] > 50, ev.get("caps_hit")
    assert d.record_bytes < MAX_RECORD_BYTES, f"the record is {d.record_bytes} bytes"


# --------------------------------------------------------------------------- trickling headers


def test_headers_trickling_in_forever_time_out(runs: dict[str, Run]) -> None:
    http = obs(runs["trickle"].wait(), "web.http")
    chains = http["evidence"]["chains"]
    assert {c["family"] for c in chains} == {"v6", "v4"}, chains
    for c in chains:
        first = c["hops"][0]
        assert first["status"] == "timeout", first
        assert "waiting for the response" in str(first.get("error")), first


# --------------------------------------------------------------------------- bad URLs and locations


@pytest.mark.parametrize("check", ["web.links", "web.resources"])
def test_bad_urls_are_rejected_with_a_reason(runs: dict[str, Run], check: str) -> None:
    o = obs(runs["badurl"].wait(), check)
    assert o["status"] == "ok", (o["status"], o["error"])
    ev = o["evidence"]
    rejected = ev.get("rejected")
    assert isinstance(rejected, list), f"{check}: no 'rejected' in the evidence: {sorted(ev)}"
    for r in rejected:
        assert isinstance(r.get("reason"), str) and r["reason"], r
        assert isinstance(r.get("url"), str) and len(r["url"]) <= 200, r
    got = {r["url"] for r in rejected}
    missing = {why: url[:200] for why, url in BAD_URLS.items() if url[:200] not in got}
    assert not missing, f"{check}: not rejected: {missing}; rejected: {rejected}"
    bad = {u[:200] for u in BAD_URLS.values()}
    if check == "web.links":
        assert [u["url"] for u in ev["urls"]] == ["https://badurl.gov.test/about.html"], ev["urls"]
        assert ev["urls"][0]["v6_ok"] is True and ev["level2"]["rate"] == 1.0, ev["urls"]
        assert not {x["host"] for x in ev.get("external", [])} & {"xn--a.gov.test", "198.51.100.1", "[2001:db8::1]",
                                                                  "2001:db8::1"}
        # a link to an IPv4 literal is an IPv4-only link: named as such (not fetched)
        assert ev["v4_literal_links"] == ["http://198.51.100.1/"], ev["v4_literal_links"]
    else:
        # the one real host, and the IPv4 literal as an IPv4-only host (never contacted)
        assert [h["host"] for h in ev["hosts"]] == ["badurl.gov.test", "198.51.100.1"], ev["hosts"]
        assert ev["hosts"][1]["ipv4_literal"] is True and ev["v4_only_hosts"] == ["198.51.100.1"]
        assert not {r["url"][:200] for h in ev["hosts"] for r in h.get("resources", [])} & bad


def test_bad_urls_contact_nothing(counts: dict[str, int]) -> None:
    assert counts["hard-badurl-port"] == 0, f"packets to port {BAD_PORT}: {counts}"
    assert counts["hard-badurl-literals"] == 0, f"packets to the IP literals: {counts}"


@pytest.mark.parametrize("sid", ["badloc", "badport"])
def test_a_redirect_to_a_bad_port_ends_the_chain(runs: dict[str, Run], sid: str) -> None:
    http = obs(runs[sid].wait(), "web.http")
    location = by_id()[sid].web[0].https.split(":", 1)[1]
    chains = http["evidence"]["chains"]
    assert {c["family"] for c in chains} == {"v6", "v4"}, chains
    for c in chains:
        assert c["status"] == "http_error", c
        assert "port" in str(c.get("error")), c
        last = c["hops"][-1]
        assert last["http_status"] == 302 and last.get("location") == location, c["hops"]


def test_a_redirect_to_a_bad_port_sends_nothing_there(runs: dict[str, Run], counts: dict[str, int]) -> None:
    runs["badport"].wait()
    assert counts["hard-badport-port"] == 0, f"packets to port {BAD_PORT}: {counts}"


# --------------------------------------------------------------------------- exclusions


def test_an_excluded_redirect_target_is_never_contacted(runs: dict[str, Run], counts: dict[str, int]) -> None:
    http = obs(runs["excl-redir"].wait(), "web.http")
    assert counts["hard-x-excl-redir"] == 0, f"packets to x.excl-redir.gov.test: {counts}"
    chains = http["evidence"]["chains"]
    assert {c["family"] for c in chains} == {"v6", "v4"}, chains
    for c in chains:
        assert c["status"] == "excluded", c
        assert "x.excl-redir.gov.test" in str(c.get("error")), c


def test_an_excluded_link_and_resource_are_never_contacted(runs: dict[str, Run], counts: dict[str, int]) -> None:
    d = runs["excl-link"].wait()
    links = obs(d, "web.links")
    res = obs(d, "web.resources")
    assert counts["hard-x-excl-link"] == 0, f"packets to x.excl-link.gov.test: {counts}"
    urls = {u["url"]: u for u in links["evidence"]["urls"]}
    row = urls.get("https://x.excl-link.gov.test/page")
    assert row is not None and row.get("excluded") is True, links["evidence"]["urls"]
    # not a failure: the site's other link works, and the rate counts that one only
    assert urls["https://excl-link.gov.test/about.html"]["v6_ok"] is True
    assert links["evidence"]["level2"]["rate"] == 1.0, links["evidence"]["level2"]
    hosts = {h["host"]: h for h in res["evidence"]["hosts"]}
    assert hosts.get("x.excl-link.gov.test", {}).get("excluded") is True, res["evidence"]["hosts"]


def test_without_the_exclusion_list_the_same_counters_count(
        control: tuple[dict[str, Done], dict[str, int]]) -> None:
    """Positive control: the hosts are contacted when nothing excludes them."""
    done, counted = control
    assert counted["hard-x-excl-redir"] > 0 and counted["hard-x-excl-link"] > 0, counted
    http = obs(done["excl-redir/control"], "web.http")
    finals = {c["family"]: (c.get("final") or {}).get("url") for c in http["evidence"]["chains"]}
    assert finals == {"v6": "https://x.excl-redir.gov.test/", "v4": "https://x.excl-redir.gov.test/"}, finals
    links = obs(done["excl-link/control"], "web.links")
    urls = {u["url"]: u for u in links["evidence"]["urls"]}
    assert urls["https://x.excl-link.gov.test/page"]["v6_ok"] is True, links["evidence"]["urls"]


def test_every_counter_of_this_module_counts(lab: Lab, control: tuple[dict[str, Done], dict[str, int]]) -> None:
    """Positive control of each watch (after every check: nothing else runs): a connect to the port,
    a datagram to the addresses, from the client namespace, is counted where it belongs."""
    lab.reset_counters()
    targets = [(a, port if port is not None else 9) for addrs, port in WATCHES.values() for a in addrs]
    code = ("import socket, sys\n"
            "for a, p in (x.rsplit(' ', 1) for x in sys.argv[1:]):\n"
            "    fam = socket.AF_INET6 if ':' in a else socket.AF_INET\n"
            "    with socket.socket(fam, socket.SOCK_STREAM) as s:\n"
            "        s.settimeout(1)\n"
            "        try:\n"
            "            s.connect((a, int(p)))\n"
            "        except OSError:\n"
            "            pass\n")
    r = lab.python("-c", code, *(f"{a} {p}" for a, p in targets))
    assert r.returncode == 0, r.stderr
    counted = lab.watched_packets()
    assert all(counted[name] > 0 for name in WATCHES), counted
    lab.reset_counters()
    assert not any(lab.watched_packets().values())
