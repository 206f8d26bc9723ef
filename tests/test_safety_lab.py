"""The address policy, proven by nftables counters in the client namespace: no packet ever goes to
an address a scanner must not contact, whatever sites publish or redirect to; metadata endpoints
stay forbidden under a broad --allow-net."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import LAB_ALLOW, LAB_SUFFIXES
from tests.lab import Lab
from tests.lab.scenarios import FORBIDDEN
from v6scan.store import connect as store_connect

V6SCAN = str(Path(sys.executable).parent / "v6scan")
SITES = [f"forbidden-{k}.com.test" for k in FORBIDDEN] + ["redir-meta.com.test", "bogus-mapped.com.test",
                                                         "bogus-nat64.com.test"]
METADATA = ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1")


def scan(lab: Lab, allow: tuple[str, ...]) -> dict[str, dict[str, object]]:
    argv = [V6SCAN, "check", *SITES, "--format", "jsonl", "--timeout", "1", "--www", "never",
            "--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file), "--self-check", lab.self_check]
    for n in allow:
        argv += ["--allow-net", n]
    for s in LAB_SUFFIXES:
        argv += ["--public-suffix", s]
    r = lab.exec(argv, timeout=300)
    assert r.returncode in (0, 3), r.stderr[-2000:]
    return {d["target"]: d for d in map(json.loads, r.stdout.splitlines())}


def evidence(doc: dict[str, object], check: str) -> dict[str, object]:
    checks = doc["checks"]
    assert isinstance(checks, dict)
    return checks[check]["details"]["names"][doc["target"]]["evidence"]  # type: ignore[no-any-return]


def test_counters_count(lab: Lab) -> None:
    """Positive control: the counters do see packets (loopback, inside the client namespace)."""
    lab.reset_counters()
    code = ("import socket\nfor fam, a in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):\n"
            "    s = socket.socket(fam, socket.SOCK_DGRAM); s.sendto(b'x', (a, 9)); s.close()\n")
    lab.python("-c", code, check=True)
    counts = lab.forbidden_packets()
    assert counts["127.0.0.1"] >= 1 and counts["::1"] >= 1
    lab.reset_counters()
    assert not any(lab.forbidden_packets().values())


def test_no_packet_to_forbidden_addresses(lab: Lab) -> None:
    lab.reset_counters()
    docs = scan(lab, LAB_ALLOW)
    counts = lab.forbidden_packets()
    assert counts and not any(counts.values()), {a: n for a, n in counts.items() if n}
    # and every such answer is a finding, with the reason
    meta = evidence(docs["forbidden-meta.com.test"], "dns.aaaa")
    (row,) = meta["addresses"]  # type: ignore[misc]
    assert row["usable"] is False and "metadata" in row["blocked_reason"]
    reach = evidence(docs["forbidden-private.com.test"], "web.reach")
    blocked = {b["address"] for b in reach["blocked"]}  # type: ignore[union-attr]
    assert blocked == set(FORBIDDEN["private"])
    assert docs["forbidden-loop.com.test"]["verdict"] == "absent"
    chains = evidence(docs["redir-meta.com.test"], "web.http")["chains"]
    dead = {c["family"]: c.get("dead_end") for c in chains}  # type: ignore[union-attr]
    assert dead == {"v6": "forbidden-meta.com.test", "v4": "forbidden-meta.com.test"}
    assert docs["redir-meta.com.test"]["verdict"] == "broken"


def test_metadata_stays_forbidden_under_a_broad_allow_net(lab: Lab) -> None:
    lab.reset_counters()
    broad = (*LAB_ALLOW, "169.254.0.0/16", "100.64.0.0/10", "fd00::/8", "64:ff9b::/96", "2002::/16",
             "::ffff:0:0/96", "127.0.0.0/8", "::1/128")
    docs = scan(lab, broad)
    counts = lab.forbidden_packets()
    assert {a: counts[a] for a in METADATA} == dict.fromkeys(METADATA, 0)
    meta = evidence(docs["forbidden-meta.com.test"], "web.reach")
    assert {b["address"] for b in meta["blocked"]} == set(FORBIDDEN["meta"])  # type: ignore[union-attr]
    # what the broad allowance does permit is contacted: the loopback site is reachable now
    assert counts["127.0.0.1"] > 0 or counts["::1"] > 0


@pytest.mark.parametrize("addr", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254",
                                  "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"])
def test_policy_never_allows_metadata(addr: str) -> None:
    from v6scan.addresses import AddressPolicy

    p = AddressPolicy.from_strings(["0.0.0.0/0", "::/0"])
    assert not p.allows(addr)


def test_dry_run_contacts_nothing_but_lists_everything(lab: Lab) -> None:
    lab.reset_counters()
    argv = [V6SCAN, "check", "forbidden-private.com.test", "twoaaaa.com.test", "--dry-run", "--www", "never",
            "--resolver", lab.resolver[0]]
    for n in LAB_ALLOW:
        argv += ["--allow-net", n]
    r = lab.exec(argv, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [x.split("\t") for x in r.stdout.splitlines()]
    by = {(name, addr): what for name, addr, what in lines}
    assert by["twoaaaa.com.test", "2001:db8:80::1c"].startswith("would contact (TCP 80/443, TLS, HTTP, ICMPv6")
    assert by["twoaaaa.com.test", "203.0.113.84"].startswith("would contact (TCP 80/443, TLS, HTTP)")
    assert by["forbidden-private.com.test", "10.0.0.1"].startswith("never contacted")
    assert "only the resolver was contacted" in r.stderr
    assert not any(lab.forbidden_packets().values())


def test_user_agent_identifies_the_scanner(lab: Lab) -> None:
    log = lab.directory / "nginx" / "srv" / "access.log"
    base = ["check", "v6only.edu.test", "--checks", "web.http", "--www", "never", "--no-self-check",
            "--resolver", lab.resolver[0], "--ca-bundle", str(lab.ca_file), "--allow-net", "2001:db8::/32"]
    lab.exec([V6SCAN, *base], timeout=120, check=True)
    assert "v6scan/" in log.read_text() and "+https://" in log.read_text()
    lab.exec([V6SCAN, *base, "--user-agent", "ministry-sweep/2 (+mailto:noc@example.org)"], timeout=120,
             check=True)
    assert "ministry-sweep/2 (+mailto:noc@example.org)" in log.read_text()


def test_excluded_targets_are_recorded_and_never_contacted(lab: Lab, tmp_path: Path) -> None:

    targets = tmp_path / "t.txt"
    targets.write_text("healthy.gov.test\ntwoaaaa.com.test\n")
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("twoaaaa.com.test\n203.0.113.70/32\n")  # a name, and one of healthy's addresses
    db = tmp_path / "x.db"
    argv = [V6SCAN, "scan", str(targets), "--db", str(db), "--exclude", str(exclude), "--www", "never",
            "--checks", "dns.resolve,dns.aaaa,web.reach", "--no-self-check", "--resolver", lab.resolver[0]]
    for n in LAB_ALLOW:
        argv += ["--allow-net", n]
    r = lab.exec(argv, timeout=120)
    assert r.returncode in (0, 3), r.stderr
    assert "excluded: twoaaaa.com.test (recorded, not contacted)" in r.stderr
    con = store_connect(db)
    status = dict(con.execute("SELECT name, status FROM targets").fetchall())
    n_obs = con.execute("SELECT count(*) FROM observations o JOIN targets t ON t.id = o.target_id"
                        " WHERE t.name = 'twoaaaa.com.test'").fetchone()[0]
    (reach,) = con.execute("SELECT o.evidence FROM observations o JOIN targets t ON t.id = o.target_id"
                           " WHERE t.name = 'healthy.gov.test' AND o.check_id = 'web.reach'").fetchone()
    con.close()
    assert status == {"healthy.gov.test": "done", "twoaaaa.com.test": "excluded"} and n_obs == 0
    blocked = {b["address"]: b["reason"] for b in json.loads(reach)["blocked"]}
    assert "exclusion list" in blocked["203.0.113.70"]  # excluded after resolution too


@pytest.mark.parametrize(("self_check", "allow", "why"), [
    ("[fd00:ec2::254]:443", ("::/0", "0.0.0.0/0"), "cloud metadata endpoint: never contacted"),
    ("169.254.169.254:80", ("::/0", "0.0.0.0/0"), "cloud metadata endpoint: never contacted"),
    ("[::1]:80", (), "Loopback"),
    ("[fe80::2]:80", (), "Link-Local"),
])
def test_a_forbidden_self_check_is_a_usage_error_and_sends_nothing(
    lab: Lab, tmp_path: Path, self_check: str, allow: tuple[str, ...], why: str
) -> None:
    """The self-check obeys the address policy like every other connection: refused before any
    packet, from the command line, the environment or a v6scan.toml in the working directory."""
    addr = self_check.rsplit(":", 1)[0].strip("[]")
    base = [V6SCAN, "check", "healthy.gov.test", "--www", "never", "--timeout", "1", "--resolver", lab.resolver[0],
            "--ca-bundle", str(lab.ca_file)]
    for n in (*LAB_ALLOW, *allow):
        base += ["--allow-net", n]
    (tmp_path / "v6scan.toml").write_text(f'self-check = "{self_check}"\n')
    runs = [
        ([*base, "--self-check", self_check], None),
        (base, {**os.environ, "V6SCAN_SELF_CHECK": self_check}),
        (["sh", "-c", f'cd "{tmp_path}" && exec "$@"', "sh", *base], None),  # ./v6scan.toml
    ]
    lab.reset_counters()
    for argv, env in runs:
        r = lab.exec(argv, timeout=60, env=env)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert "Invalid value for --self-check" in r.stderr and addr in r.stderr and why in r.stderr, r.stderr
        assert r.stdout == ""
    assert "v6scan: using config file ./v6scan.toml" in r.stderr
    counts = lab.forbidden_packets()
    assert addr in counts, sorted(counts)
    assert counts and not any(counts.values()), {a: n for a, n in counts.items() if n}
