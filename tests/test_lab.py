"""The lab itself: it comes up, behaves as its catalogue says, is isolated, and goes away cleanly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import lab_required
from tests.lab import Lab
from tests.lab.lab import REPO, _alive
from tests.lab.netns import run_in_netns


def _netns_names() -> set[str]:
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                              check=True).stdout.split())


def test_self_check_passes_again(lab: Lab) -> None:
    assert lab.verify() == []


def test_status_reports_every_server_alive(lab: Lab) -> None:
    st = lab.status()
    assert all(st["namespaces_present"].values())
    assert st["processes"] and all(st["processes"].values()), st["processes"]
    assert Path(st["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_dig_in_client_uses_the_lab_resolver(lab: Lab) -> None:
    out = lab.exec(["dig", "+short", "healthy.gov.test", "AAAA"], check=True).stdout.split()
    assert out == ["2001:db8:80::10"]
    # resolv.conf of the client namespace is the lab's: getaddrinfo works there too
    code = "import socket; print(sorted({a[4][0] for a in socket.getaddrinfo('v6only.edu.test', 443)}))"
    out = lab.python("-c", code, check=True).stdout.strip()
    assert out == "['2001:db8:80::23']"


def test_dig_shows_tcp_fallback_for_big_answer(lab: Lab) -> None:
    out = lab.exec(["dig", "bigdns.com.test", "AAAA"], check=True).stdout
    assert "Truncated, retrying in TCP mode" in out
    assert out.count("\tAAAA\t") == 50


def test_dns_iterates_from_the_lab_root_over_ipv6_only(lab: Lab) -> None:
    """dig +trace -6 walks root -> test. -> gov.test using IPv6 transport only."""
    out = lab.exec(["dig", "-6", "+trace", "+nodnssec", "@2001:db8:53::1", "healthy.gov.test",
                    "AAAA"], check=True).stdout
    assert "from 2001:db8:53::1" in out or "from 2001:db8:53::2" in out
    assert "2001:db8:80::10" in out


def test_curl_like_fetch_pinned_to_each_family(lab: Lab) -> None:
    def get(addr: str) -> str:
        import ssl

        ctx = ssl.create_default_context(cafile=str(lab.ca_file))
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with socket.create_connection((addr, 443), timeout=5) as raw:
            assert raw.family == fam
            with ctx.wrap_socket(raw, server_hostname="healthy.gov.test") as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: healthy.gov.test\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        return data.decode()

    for addr in ("2001:db8:80::10", "203.0.113.70"):
        page = run_in_netns(lab.client, get, addr)
        assert page.startswith("HTTP/1.1 200")
        assert "<title>healthy site</title>" in page


def test_client_has_no_route_out_of_the_lab(lab: Lab) -> None:
    """The machine's own networks (192.0.2.0/24, fd00::/64) are unreachable from the client."""
    def attempt(addr: str) -> str:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            try:
                s.connect((addr, 22))
            except OSError as e:
                return type(e).__name__
        return "connected"

    for addr in ("192.0.2.2", "fd00::2"):
        assert run_in_netns(lab.client, attempt, addr) != "connected"
    routes = lab.exec(["ip", "-6", "route", "show", "table", "all"], ns="router").stdout
    assert "default" not in routes.split("\n")[0]
    assert "fd00::" not in routes


def test_narrow_hop_and_ptb_filter_make_a_pmtu_blackhole(lab: Lab) -> None:
    from tests.lab.verify import probe_pmtu, probe_tls

    key = "2001:db8:1280::10 pmtu.edu.test"
    assert run_in_netns(lab.client, probe_pmtu, str(lab.ca_file), key) == "blackhole"
    # the same big handshake works over IPv4, where "fragmentation needed" is not filtered
    assert run_in_netns(lab.client, probe_tls, str(lab.ca_file), "203.0.113.200 pmtu.edu.test") == "valid"
    counters = lab.exec(["nft", "list", "ruleset"], ns="pmtu").stdout
    assert "packet-too-big" in counters and "packets 0 " not in counters


def test_smtp_peers(lab: Lab) -> None:
    from tests.lab.verify import probe_smtp

    assert run_in_netns(lab.client, probe_smtp, "2001:db8:80::20") == "greets"
    assert run_in_netns(lab.client, probe_smtp, "2001:db8:80::21") == "silent"
    assert run_in_netns(lab.client, probe_smtp, "2001:db8:80::10") == "refused"


def test_second_lab_coexists_and_down_leaves_nothing(lab: Lab) -> None:
    other = Lab.up(verify=False)
    try:
        assert other.id != lab.id
        assert set(other.ns.values()) <= _netns_names()
        pids = dict(other.pids)
        assert pids and all(_alive(p) for p in pids.values())
        # the first lab is untouched by the second one
        assert lab.exec(["dig", "+short", "v6only.edu.test", "AAAA"]).stdout.strip() == "2001:db8:80::23"
    finally:
        other.down()
    assert not set(other.ns.values()) & _netns_names()
    assert not any(_alive(p) for p in pids.values())
    assert not other.directory.exists()
    assert not any(Path("/etc/netns", n).exists() for n in other.ns.values())
    other.down()  # idempotent
    assert lab.verify() == []


def test_cli_up_exec_status_down_with_scale(tmp_path: Path, lab: Lab) -> None:
    """``python -m tests.lab up --scale N`` then exec/status/down, as a person would run them."""
    env = {**os.environ, "V6SCAN_LAB_STATE": str(tmp_path)}

    def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tests.lab", *args], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=timeout)

    up = cli("up", "--scale", "2000", "--loss", "3")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    try:
        assert info["scale"] == 2000 and info["loss"] == 3
        # under 3 % loss dig may print a timed-out try (";; communications error ...") before the answer
        dug = cli("exec", "--", "dig", "+short", "+tries=5", "s000000.gov.test", "AAAA")
        answers = [x for x in dug.stdout.splitlines() if x and not x.startswith(";")]
        assert answers == ["2001:db8:80:100::1"], dug.stdout + dug.stderr
        nx = cli("exec", "--", "dig", "+tries=5", "s000095.com.test", "AAAA")
        assert "NXDOMAIN" in nx.stdout
        assert len(Path(info["targets_file"]).read_text().splitlines()) == 1 + len(lab.scenarios) + 2000
        st = json.loads(cli("status").stdout)
        assert all(st["processes"].values()) and all(st["namespaces_present"].values())
        ver = cli("verify")  # under 3 % loss: probes that miss are tried again
        assert ver.returncode == 0, ver.stdout
        assert cli("loss", "0").returncode == 0
        assert json.loads(cli("status").stdout)["loss"] == 0
        assert cli("loss", "101").returncode != 0
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert not set(info["namespaces"].values()) & _netns_names()
    leftovers = subprocess.run(["pgrep", "-f", info["directory"]], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
    assert cli("down").returncode != 0  # nothing left to tear down: says so, no crash


def _dns_burst(server: str, n: int = 200, wait: float = 1.5) -> int:
    """Send ``n`` DNS queries to ``server`` at once; return how many were answered."""
    import time

    import dns.message

    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(0.05)
        for i in range(n):
            s.sendto(dns.message.make_query("healthy.gov.test", "AAAA", id=i).to_wire(), (server, 53))
        got: set[int] = set()
        end = time.monotonic() + wait
        while len(got) < n and time.monotonic() < end:
            try:
                got.add(dns.message.from_wire(s.recv(4096)).id)
            except TimeoutError:
                continue
    return len(got & set(range(n)))


def _tcp(addr: str, port: int, timeout: float = 1.5) -> str:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        except OSError as e:
            return type(e).__name__
    return "open"


def _udp_query(server: str, name: str = ".", rtype: str = "SOA", timeout: float = 1.5) -> str:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query

    try:
        r = dns.query.udp(dns.message.make_query(name, rtype), server, timeout=timeout)
    except dns.exception.Timeout:
        return "timeout"
    return "AA" if r.flags & dns.flags.AA else "answer"


def test_loss_mode_drops_a_share_of_packets_on_both_families(lab: Lab) -> None:
    resolvers = list(lab.resolver)
    assert {":" in a for a in resolvers} == {True, False}
    try:
        lab.set_loss(8)
        lab.set_loss(8)  # idempotent: one rule
        table = lab.exec(["nft", "list", "table", "inet", "v6lab"], ns="router", check=True).stdout
        assert table.count("numgen random mod 100 < 8") == 1
        before = lab.loss_drops()
        answered = {a: run_in_netns(lab.client, _dns_burst, a) for a in resolvers}
        drops = lab.loss_drops() - before
        # a query and its answer each cross the router: ~15 % of 200 are lost per family
        for a, n in answered.items():
            assert 140 <= n <= 196, (a, answered)
        lost = sum(200 - n for n in answered.values())
        assert drops >= lost > 0, (drops, answered)
        assert json.loads(lab.state_file.read_text())["loss"] == 8
        lab.set_loss(0)
        assert "numgen" not in lab.exec(["nft", "list", "table", "inet", "v6lab"], ns="router").stdout
        before = lab.loss_drops()
        assert {a: run_in_netns(lab.client, _dns_burst, a) for a in resolvers} == dict.fromkeys(resolvers, 200)
        assert lab.loss_drops() == before
    finally:
        lab.set_loss(0)
    with pytest.raises(ValueError):
        lab.set_loss(101)


def test_cut_client_v6_leaves_only_the_resolver(lab: Lab) -> None:
    host, port = lab.self_check.rsplit(":", 1)
    self_addr = host.strip("[]")
    v6_resolver = next(a for a in lab.resolver if ":" in a)
    assert run_in_netns(lab.client, _tcp, self_addr, int(port)) == "open"
    try:
        lab.cut_client_v6(True)
        lab.cut_client_v6(True)  # idempotent
        assert run_in_netns(lab.client, _tcp, self_addr, int(port)) == "TimeoutError"
        assert run_in_netns(lab.client, _tcp, "2001:db8:80::10", 443) == "TimeoutError"
        # the resolver still answers over IPv6, and through resolv.conf
        assert run_in_netns(lab.client, _udp_query, v6_resolver, "healthy.gov.test", "AAAA") == "answer"
        assert lab.exec(["dig", "+short", "healthy.gov.test", "AAAA"]).stdout.split() == ["2001:db8:80::10"]
        # IPv4 is untouched, and the forbidden-address counters are still there
        assert run_in_netns(lab.client, _tcp, "203.0.113.70", 443) == "open"
        assert lab.forbidden_packets()
    finally:
        lab.cut_client_v6(False)
    lab.cut_client_v6(False)
    assert run_in_netns(lab.client, _tcp, self_addr, int(port)) == "open"
    assert "v6lab_cut" not in lab.exec(["nft", "list", "tables"], check=True).stdout


def test_unreachable_root_hints_fail_over_ipv6_only(lab: Lab) -> None:
    def parse(path: Path) -> dict[tuple[str, str], str]:
        out = {}
        for line in path.read_text().splitlines():
            owner, _, rtype, data = line.split()
            if rtype in ("A", "AAAA"):
                out[(owner, rtype)] = data
        return out

    real, cut = parse(lab.root_hints), parse(lab.unreachable_root_hints)
    assert real.keys() == cut.keys() and len(real) == 4
    for (owner, rtype), addr in cut.items():
        if rtype == "A":
            assert addr == real[(owner, "A")]
            assert run_in_netns(lab.client, _udp_query, addr) == "AA"
        else:
            assert addr != real[(owner, "AAAA")]
            assert run_in_netns(lab.client, _udp_query, addr, timeout=1.0) == "timeout"
    # the real roots, and the resolver, are unaffected
    assert run_in_netns(lab.client, _udp_query, real[("a.lab-root.", "AAAA")]) == "AA"
    assert lab.exec(["dig", "+short", "healthy.gov.test", "AAAA"]).stdout.split() == ["2001:db8:80::10"]


def test_dynamic_page_differs_on_every_request_with_a_stable_title(lab: Lab) -> None:
    from tests.lab.verify import fetch, probe_dynamic

    for addr in ("2001:db8:80::28", "203.0.113.97"):
        key = f"https://dynamic.gov.test/@{addr}"
        assert run_in_netns(lab.client, probe_dynamic, str(lab.ca_file), key) == "differs"
        got = run_in_netns(lab.client, fetch, str(lab.ca_file), key)
        assert not isinstance(got, str)
        status, headers, body = got
        page = body.decode()
        assert status == "200" and any(h.lower().startswith("content-type: text/html") for h in headers)
        assert "<title>Ministry of Dynamic Affairs</title>" in page
        assert "$" not in page  # every nginx variable was filled in
        for marker in ('name="csrf-token" content="', 'name="csrfmiddlewaretoken" value="',
                       '<script nonce="', "?sid=", "generated at 20", 'id="item-'):
            assert marker in page, marker
    # the second AAAA of stale.com.test serves another site than the first AAAA and the A
    from tests.lab.verify import probe_http

    titles = {a: run_in_netns(lab.client, probe_http, str(lab.ca_file), f"https://stale.com.test/@{a}")
              for a in ("2001:db8:80::29", "2001:db8:80::2a", "203.0.113.98")}
    assert titles["2001:db8:80::29"] == titles["203.0.113.98"] != titles["2001:db8:80::2a"]


@pytest.mark.parametrize(("env", "required"), [
    ({"CI": "true"}, True), ({"V6SCAN_REQUIRE_LAB": "1"}, True), ({}, False), ({"CI": "false"}, False),
])
def test_lab_required_policy(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                             required: bool) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("V6SCAN_REQUIRE_LAB", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert lab_required() is required


def test_a_forked_child_stopped_with_sigterm_leaves_its_parents_lab(lab: Lab) -> None:
    """A forked child (the report's page workers are) inherits the lab's cleanup handlers; stopped
    with SIGTERM, as the report stops them after an error, it must not tear down the parent's lab
    (it did: two test runs lost a lab in the middle)."""
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,), daemon=True)
    child.start()
    time.sleep(0.3)
    child.terminate()
    child.join()
    assert set(lab.ns.values()) <= _netns_names()
    assert lab.directory.exists() and lab.verify() == []
