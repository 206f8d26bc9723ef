"""``v6scan serve`` in the lab: the server runs in the lab's client namespace (its vantage point),
users reach it from the servers' namespace (``srv``): ``check --remote`` of every lab scenario
gives the verdict a local check gives; a browser logs in, checks a lab site through the form and
opens a sweep's report; a schedule sweeps again and the webhook, a small HTTP receiver in the
lab, hears of the site that got worse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cdp import find_chromium
from tests.conftest import lab_required
from tests.lab import Lab
from tests.lab.lab import REPO
from tests.lab.scenarios import SCENARIOS
from tests.test_cli_lab import V6SCAN, common

TOKEN = "lab-ci-token-0123456789abcdef"
SERVER = "2001:db8:ffff:1::2"  # the client namespace's address (tests/lab/lab.py LINKS)
USER = "2001:db8:ffff:2::2"  # the srv namespace's: where users, the browser and the webhook receiver are
URL = f"http://[{SERVER}]:8080"
HOOK_PORT = 9009
#: healthy.gov.test's IPv6 address (tests/lab/scenarios.py): dropped for a while to make it worse
HEALTHY_V6 = "2001:db8:80::10"

RECEIVER = """
import json, socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
out = sys.argv[1]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "body": json.loads(body)}) + "\\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
class S(HTTPServer):
    address_family = socket.AF_INET6
S((sys.argv[2], int(sys.argv[3])), H).serve_forever()
"""


class Server:
    def __init__(self, lab: Lab, tmp: Path, url: str = URL, listen: str = f"[{SERVER}]:8080",
                 hook_port: int = HOOK_PORT) -> None:
        self.lab, self.tmp, self.url = lab, tmp, url
        tokens = tmp / "tokens"
        tokens.write_text(f"lab-ci:{TOKEN}\n")
        self.hooks = tmp / "hooks.jsonl"
        self.hooks.touch()
        self.receiver = subprocess.Popen(["ip", "netns", "exec", lab.ns["srv"], sys.executable, "-c", RECEIVER,
                                          str(self.hooks), USER, str(hook_port)])
        self.log = (tmp / "serve.log").open("w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", lab.client, V6SCAN, "-v", "serve", "--db", str(tmp / "serve.db"),
             "--token-file", str(tokens), "--listen", listen, "--max-jobs", "2", "--min-interval", "10",
             "--webhook", f"http://[{USER}]:{hook_port}/hook", "--public-url", url, *common(lab)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 60
        while self.api("GET", "/api/v1/health", token=None)[0] != 200:
            assert self.receiver.poll() is None, "the webhook receiver did not start"
            assert self.proc.poll() is None, (tmp / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.3)

    def api(self, method: str, path: str, body: str | None = None, token: str | None = TOKEN,
            content_type: str = "application/json") -> tuple[int, Any]:
        """A request from the user's namespace (curl): (status, parsed JSON or text)."""
        argv = ["curl", "-sS", "-g", "-X", method, "-o", "-", "-w", "\n%{http_code}", "--max-time", "120"]
        if token:
            argv += ["-H", f"Authorization: Bearer {token}"]
        if body is not None:
            argv += ["-H", f"Content-Type: {content_type}", "--data-binary", "@-"]
        r = self.lab.exec([*argv, self.url + path], ns="srv", input=body, timeout=180)
        text, _, code = r.stdout.rpartition("\n")
        try:
            return int(code or 0), json.loads(text)
        except json.JSONDecodeError:
            return int(code or 0), text

    def wait(self, sid: int, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status, info = self.api("GET", f"/api/v1/sweeps/{sid}?wait=20")
            assert status == 200, info
            if info["status"] not in ("queued", "running"):
                return dict(info)
            assert time.monotonic() < deadline, info
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.receiver.kill()
        self.receiver.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(lab, tmp_path_factory.mktemp("serve"))
    try:
        yield s
    finally:
        s.stop()


def _records(stdout: str) -> dict[str, dict[str, Any]]:
    return {r["target"]: r for r in (json.loads(x) for x in stdout.splitlines() if x.strip())}


def test_a_remote_check_of_every_scenario_gives_the_local_verdict(lab: Lab, server: Server) -> None:
    names = [s.target for s in SCENARIOS]
    env = {**os.environ, "V6SCAN_TOKEN": TOKEN}
    remote: dict[str, dict[str, Any]] = {}
    for i in range(0, len(names), 40):  # two requests (a check takes at most 50 names)
        r = lab.exec([V6SCAN, "check", *names[i:i + 40], "--remote", URL, "--format", "jsonl"], ns="srv",
                     env=env, timeout=900)
        assert r.returncode in (0, 3), r.stderr
        remote.update(_records(r.stdout))
    local_run = lab.exec([V6SCAN, "check", *names, *common(lab), "--format", "jsonl"], timeout=900)
    assert local_run.returncode in (0, 3), local_run.stderr
    local = _records(local_run.stdout)
    assert sorted(remote) == sorted(local) == sorted(names)
    differ = {n: (local[n]["verdict"], remote[n]["verdict"]) for n in names
              if local[n]["verdict"] != remote[n]["verdict"]}
    assert differ == {}, differ
    timed = ("web.latency", "web.happy_eyeballs")  # measured times: two runs need not agree on a warning
    for n in names:  # the same checks with the same results
        assert {c: v["result"] for c, v in remote[n]["checks"].items() if c not in timed} == \
               {c: v["result"] for c, v in local[n]["checks"].items() if c not in timed}, n
        assert remote[n]["sweep"] is None and set(remote[n]["checks"]) == set(local[n]["checks"])


def test_remote_check_exit_codes_and_gates_in_the_lab(lab: Lab, server: Server) -> None:
    env = {**os.environ, "V6SCAN_TOKEN": TOKEN}
    r = lab.exec([V6SCAN, "check", "healthy.gov.test", "--remote", URL, "--fail-on", "partial"], ns="srv", env=env)
    assert r.returncode == 0 and "READY" in r.stdout, r.stderr
    r = lab.exec([V6SCAN, "check", "dropped.gov.test", "--remote", URL, "--fail-on", "broken", "--format", "junit"],
                 ns="srv", env=env)
    assert r.returncode == 1 and "gate failed: dropped.gov.test is broken" in r.stderr
    assert "<testsuites" in r.stdout
    r = lab.exec([V6SCAN, "check", "nxdomain.gov.test", "--remote", URL, "--fail-on", "broken"], ns="srv", env=env)
    assert r.returncode == 3
    # the server's configuration is its own: a caller's allow-list is refused
    status, body = server.api("POST", "/api/v1/checks", json.dumps({"names": ["healthy.gov.test"],
                                                                   "allow_net": ["::/0"]}))
    assert status == 400 and body["error"]["field"] == "allow_net"
    status, body = server.api("GET", "/api/v1/selfcheck")
    assert status == 200 and body["usable"] is True


def _browse(lab: Lab, tmp: Path, steps: list[dict[str, Any]]) -> dict[str, Any]:
    if find_chromium() is None:
        if lab_required():
            pytest.fail("chromium is not installed (make deps installs it)")
        pytest.skip("CHROMIUM NOT INSTALLED: the browser test of v6scan serve did not run")
    f = tmp / "steps.json"
    f.write_text(json.dumps(steps))
    r = lab.exec([sys.executable, "-m", "tests.cdp", str(f), "--user-data-dir", str(tmp / "profile"),
                  "--timeout", "60"], ns="srv", timeout=600)
    out = json.loads(r.stdout or "{}")
    assert r.returncode == 0, (out.get("error"), r.stderr[-2000:])
    return dict(out)


def test_the_web_interface_in_a_real_browser(lab: Lab, server: Server, tmp_path: Path) -> None:
    status, sub = server.api("POST", "/api/v1/sweeps?checks=dns.aaaa,web.reach,web.tls",
                             "host,sector,region,organisation\nhealthy.gov.test,gov,north,Org\n"
                             "dropped.gov.test,gov,north,<i>Org</i>\nhostile.com.test,com,south,X\n",
                             content_type="text/csv")
    assert status == 202, sub
    server.wait(sub["id"])
    out = _browse(lab, tmp_path, [
        {"open": URL + "/"},
        {"url": "login"},
        {"fill": ["#token", TOKEN]},
        {"submit": "#login"},
        {"fill": ["#names", "healthy.gov.test"]},
        {"fill": ["#lang", "zh-CN"]},
        {"submit": "#check"},
        {"url": "check"},
        {"wait_for": "document.querySelector('section.site[data-verdict]') !== null", "timeout": 300},
        {"html": "result"},
        {"open": URL + "/sweeps"},
        {"html": "sweeps"},
        {"open": f"{URL}/sweeps/{sub['id']}/report/"},
        {"html": "report"},
    ])
    assert "/login" in out["url"]["login"]
    assert "/checks/" in out["url"]["check"]
    result = out["html"]["result"]
    assert 'data-site="healthy.gov.test" data-verdict="ready"' in result
    assert "就绪" in result  # the result page in the language the form chose
    assert f'data-sweep="{sub["id"]}" data-status="finished"' in out["html"]["sweeps"]
    report = out["html"]["report"]
    assert 'data-site="dropped.gov.test"' in report and 'data-verdict="broken"' in report
    assert "<i>Org</i>" not in report  # what the list and the sites said is text
    assert not [m for m in out["console"] if "Content Security Policy" in m or "violates" in m], out["console"]


def test_a_schedule_in_the_lab_tells_the_webhook_which_site_got_worse(lab: Lab, server: Server) -> None:
    status, sched = server.api("POST", "/api/v1/schedules?every=15s&checks=dns.aaaa,web.reach",
                               "healthy.gov.test\nv6only.edu.test\n", content_type="text/plain")
    assert status == 201, sched
    try:
        deadline = time.monotonic() + 300
        while True:  # the first sweep: healthy.gov.test as it is
            _, listed = server.api("GET", "/api/v1/sweeps")
            mine = [x for x in listed["sweeps"] if x["schedule"] == sched["id"]]
            if mine and mine[0]["status"] == "finished":
                break
            assert time.monotonic() < deadline, listed
            time.sleep(1)
        first = mine[0]["id"]
        drop = (f"table inet serve_test {{\n chain input {{\n  type filter hook input priority -10; policy accept;\n"
                f"  ip6 daddr {HEALTHY_V6} tcp dport {{ 80, 443 }} drop\n }}\n}}\n")
        lab.exec(["nft", "-f", "-"], ns="srv", input=drop, check=True)
        try:
            while not server.hooks.read_text().strip():
                assert time.monotonic() < deadline, server.api("GET", "/api/v1/sweeps")
                time.sleep(1)
        finally:
            lab.exec(["nft", "delete", "table", "inet", "serve_test"], ns="srv", check=True)
        msg = json.loads(server.hooks.read_text().splitlines()[0])
        assert msg["path"] == "/hook"
        body = msg["body"]
        assert body["schema"] == "v6scan.regression/1" and body["sweep_before"] == first
        # (the default policy, with only dns.aaaa and web.reach measured: partial at best)
        assert [(r["name"], r["before"], r["after"]) for r in body["regressions"]] == [
            ("healthy.gov.test", "partial", "broken")]
        assert any(c["check"] == "web.reach" for c in body["regressions"][0]["checks"])
        assert body["links"]["diff"].startswith(URL + "/diff?a=")
        status, d = server.api("GET", f"/api/v1/diff?a={body['sweep_before']}&b={body['sweep_after']}")
        assert status == 200 and [x["name"] for x in d["changed"]] == ["healthy.gov.test"]
    finally:
        server.api("DELETE", f"/api/v1/schedules/{sched['id']}")


def _remote(lab: Lab, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.exec([V6SCAN, "check", *args, "--remote", url, "--format", "jsonl"], ns="srv",
                    env={**os.environ, "V6SCAN_TOKEN": TOKEN}, timeout=600)


def test_remote_checks_hold_under_random_packet_loss(lab: Lab, server: Server) -> None:
    """5 % of the packets the router forwards are lost, both ways: between the CLI and the server
    too (the client retries), and between the server and the sites (the engine retries).  A page
    that changes on every request (dynamic.gov.test) is still the same site over both families."""
    names = ["healthy.gov.test", "dynamic.gov.test", "dropped.gov.test"]
    lab.set_loss(5)
    try:
        r = _remote(lab, URL, *names)
    finally:
        lab.set_loss(0)
    assert r.returncode == 0, r.stderr
    got = {n: rec["verdict"] for n, rec in _records(r.stdout).items()}
    assert got == {"healthy.gov.test": "ready", "dynamic.gov.test": "ready", "dropped.gov.test": "broken"}, got


def test_when_the_servers_own_ipv6_fails_a_remote_check_is_inconclusive_as_a_local_one(
        lab: Lab, tmp_path: Path) -> None:
    """The server's vantage loses its IPv6 (the lab cuts the client namespace's IPv6 but for the
    resolver); the CLI reaches the server over IPv4.  The check is the scanner's failure:
    inconclusive, exit 3, as a local check under the same cut, never a verdict against the site."""
    v4 = Server(lab, tmp_path, url="http://198.51.100.2:8081", listen="198.51.100.2:8081", hook_port=HOOK_PORT + 1)
    try:
        lab.cut_client_v6(True)
        try:
            remote = _remote(lab, v4.url, "healthy.gov.test", "--fail-on", "broken")
            local = lab.exec([V6SCAN, "check", "healthy.gov.test", *common(lab), "--format", "jsonl",
                              "--fail-on", "broken"], timeout=600)
        finally:
            lab.cut_client_v6(False)
    finally:
        v4.stop()
    assert remote.returncode == local.returncode == 3, (remote.stderr, local.stderr)
    r, loc = _records(remote.stdout)["healthy.gov.test"], _records(local.stdout)["healthy.gov.test"]
    assert r["verdict"] == loc["verdict"] == "inconclusive"
    assert r["checks"]["self.v6"]["result"] == loc["checks"]["self.v6"]["result"] == "fail"
