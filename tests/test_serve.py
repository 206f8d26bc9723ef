"""``v6scan serve`` on loopback, its scanning replaced by a fake (no packet leaves the machine): the
API's tokens, rate limits, body caps and validation, the server's configuration out of a caller's
reach, ``check --remote`` against a local check in every format, sweeps, exports, diffs, schedules
and their webhook, the web pages' sessions, CSRF and CSP.  The lab runs it for real
(tests/test_serve_lab.py)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
import uvicorn
from click.testing import CliRunner
from openapi_spec_validator import validate

import v6scan.cli as cli_module
import v6scan.sweep as sweep_module
from v6scan.cli import cli
from v6scan.engine import TargetResult
from v6scan.model import Observation, Status
from v6scan.output import FORMATS
from v6scan.schedule import parse_every
from v6scan.serve.app import create_app
from v6scan.serve.auth import RateLimiter, Tokens
from v6scan.serve.config import ServerConfig
from v6scan.serve.openapi import openapi_document
from v6scan.serve.web import report_csp
from v6scan.settings import Settings
from v6scan.store import Store
from v6scan.targets import NameExclusions, Target

TOKEN = "ci-secret-0123456789abcdef"
OTHER = "ops-secret-0123456789abcdef"
STAMP = "2026-01-01T00:00:00.000Z"
POLICY = {"name": "dns-only", "description": "DNS checks only (tests)",
          "checks": {"dns.resolve": {"weight": 0, "required": True}, "dns.aaaa": {"weight": 10, "required": True}}}


def site_obs(name: str, v6: bool) -> list[Observation]:
    rows = [{"address": "2001:db8::1", "public": True, "usable": True, "kind": "global",
             "name": "a global unicast address"}] if v6 else []
    aaaa = {"records": ["2001:db8::1"], "cname_chain": [name]} if v6 else {}
    return [
        Observation("dns.resolve", name, Status.OK, {"a": {}, "aaaa": aaaa}, started_at=STAMP),
        Observation("dns.aaaa", name, Status.OK if v6 else Status.NODATA,
                    {"addresses": rows, "usable": [r["address"] for r in rows], "not_usable": [],
                     "title": "<script>alert(1)</script>"}, started_at=STAMP),
        Observation("self.v6", name, Status.OK, {}, started_at=STAMP),
    ]


class Fake:
    """The scan: names starting with ``nov6`` have no AAAA, names in ``lost`` lose it, and a name in
    ``lost_from`` loses it from its N-th scan on."""

    def __init__(self) -> None:
        self.lost: set[str] = set()
        self.lost_from: dict[str, int] = {}
        self.calls: list[str] = []

    async def scan_target(self, ctx: Any, target: Target) -> TargetResult:
        self.calls.append(target.name)
        nth = self.calls.count(target.name)
        v6 = (not target.name.startswith("nov6") and target.name not in self.lost
              and nth < self.lost_from.get(target.name, nth + 1))
        return TargetResult(target, [target.name], site_obs(target.name, v6), started_at=STAMP, finished_at=STAMP)


class Served:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.app = create_app(config)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, lifespan="on", log_config=None))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Fake:
    f = Fake()
    monkeypatch.setattr(sweep_module, "scan_target", f.scan_target)  # the server's checks
    monkeypatch.setattr(cli_module, "scan_target", f.scan_target)  # a local check
    import v6scan.engine as engine

    monkeypatch.setattr(engine, "scan_target", f.scan_target)  # the server's sweeps
    return f


@pytest.fixture
def serve(tmp_path: Path, fake: Fake) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(**kw: Any) -> Served:
        settings = Settings(resolvers=("127.0.0.1:9",), self_check_enabled=False, timeout=1.0)
        config = ServerConfig(db=tmp_path / f"serve{len(started)}.db", settings=settings,
                              excluded=NameExclusions([".excluded.example"]),
                              tokens=Tokens({"ci": TOKEN, "ops": OTHER}), tick=0.1, retry_after=0.1,
                              state_dir=tmp_path / "reports", **kw)
        s = Served(config)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _wait_done(c: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        r = c.get(path, params={"wait": 5})
        assert r.status_code in (200, 202), r.text
        if r.status_code == 200 and r.json().get("status") not in ("queued", "running"):
            return dict(r.json())
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)


# ------------------------------------------------------------------ pure parts

def test_tokens_are_compared_in_constant_time_with_every_known_token(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = Tokens({"a": "a" * 20, "b": "b" * 20, "c": "c" * 20})
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(x: Any, y: Any) -> bool:
        calls.append((x, y))
        return real(x, y)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for presented, name in (("a" * 20, "a"), ("c" * 20, "c"), ("x", None), ("a" * 19, None)):
        calls.clear()
        assert tokens.identify(presented) == name
        assert len(calls) == 3  # every token, whichever matched (no early exit)
        assert all(len(x) == len(y) == 32 for x, y in calls)  # digests: the length says nothing either


def test_token_files(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text("# CI of the web team\nci:0123456789abcdefXYZ\n\n" + "a-bare-secret-of-enough-length\n")
    t = Tokens.load(f)
    assert t.identify("0123456789abcdefXYZ") == "ci"
    assert t.identify("a-bare-secret-of-enough-length", ).startswith("token-")
    for bad, why in (("ci:short\n", "shorter than 16"), ("", "no API token"),
                     ("ci:0123456789abcdefXYZ\nci:0123456789abcdefXYW\n", "given twice")):
        f.write_text(bad)
        with pytest.raises(ValueError, match=why):
            Tokens.load(f)


def test_rate_limiter_is_a_token_bucket_per_key() -> None:
    r = RateLimiter(60)
    assert all(r.take("a", now=100.0) == 0 for _ in range(60))
    assert r.take("a", now=100.0) == pytest.approx(1.0)
    assert r.take("b", now=100.0) == 0  # another token has its own
    assert r.take("a", now=101.0) == 0  # one a second comes back


def test_intervals() -> None:
    assert parse_every("24h") == 86400 and parse_every("1h30m") == 5400 and parse_every("90s") == 90
    for bad in ("", "24", "h", "1x", "0s", "1h 2m", "-1h"):
        with pytest.raises(ValueError):
            parse_every(bad)


def test_report_csp_allows_exactly_the_pages_inline_styles() -> None:
    page = '<style>b{color:red}</style><p style="color: #fff">x</p><p title="style=&quot;x&quot;">y</p>'
    csp = report_csp(page)
    for text in ("b{color:red}", "color: #fff"):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert csp.count("sha256-") == 2
    assert "script" not in csp and "unsafe-inline" not in csp


# ------------------------------------------------------------------ the API

def test_health_and_the_openapi_document_need_no_token_and_document_every_route(serve: Callable[..., Served]
                                                                                  ) -> None:
    s = serve()
    with s.client(None) as c:
        assert c.get("/api/v1/health").json()["status"] == "ok"
        doc = c.get("/api/v1/openapi.json").json()
    assert doc == json.loads(json.dumps(openapi_document()))
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # a valid OpenAPI 3.1 document
    served = {(r.path, m) for r in s.app.routes if getattr(r, "path", "").startswith("/api/v1")
              for m in getattr(r, "methods", ()) if m != "HEAD"}
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    for path, ops in doc["paths"].items():  # every operation but health and this document needs the token
        for op in ops.values():
            assert op["security"] == ([] if path in ("/api/v1/health", "/api/v1/openapi.json")
                                      else [{"bearer": []}]), path
            assert "responses" in op


GUARDED = [("GET", "/api/v1/selfcheck"), ("POST", "/api/v1/checks"), ("GET", "/api/v1/checks/1"),
           ("GET", "/api/v1/checks/1/outcomes"), ("POST", "/api/v1/sweeps"), ("GET", "/api/v1/sweeps"),
           ("GET", "/api/v1/sweeps/1"), ("GET", "/api/v1/sweeps/1/results"), ("GET", "/api/v1/diff?a=1&b=2"),
           ("POST", "/api/v1/schedules?every=1h"), ("GET", "/api/v1/schedules"), ("DELETE", "/api/v1/schedules/1")]


def test_every_write_and_every_read_of_results_needs_the_token(serve: Callable[..., Served]) -> None:
    s = serve()
    for method, path in GUARDED:
        for headers, status in (({}, 401), ({"Authorization": "Basic eDp5"}, 401),
                                ({"Authorization": "Bearer"}, 401),
                                ({"Authorization": "Bearer " + TOKEN[:-1]}, 403),
                                ({"Authorization": "Bearer " + TOKEN + "x"}, 403)):
            with s.client(None) as c:
                r = c.request(method, path, headers=headers, content=b'{"names": ["a.example"]}')
            assert r.status_code == status, (method, path, headers, r.text)
            assert r.json()["error"]["status"] == status
            if status == 401:
                assert r.headers["www-authenticate"].startswith("Bearer")
    with Store(s.config.db) as st:
        assert st.sweeps() == []  # nothing was started


def test_rate_limit_per_token(serve: Callable[..., Served]) -> None:
    s = serve(rate_per_minute=3)
    with s.client() as c, s.client(OTHER) as o:
        assert [c.get("/api/v1/sweeps").status_code for _ in range(3)] == [200] * 3
        r = c.get("/api/v1/sweeps")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert o.get("/api/v1/sweeps").status_code == 200  # another token is not slowed


def test_request_bodies_are_capped(serve: Callable[..., Served]) -> None:
    s = serve(max_body=2048)
    big = ("a.example\n" * 400).encode()
    with s.client() as c:
        assert c.post("/api/v1/sweeps", content=big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
            for _ in range(10):
                yield b"a.example\n" * 40

        r = c.post("/api/v1/sweeps", content=chunks())
        assert r.status_code == 413, r.text
        assert c.post("/api/v1/checks", content=b"{" + b" " * 3000 + b"}").status_code == 413
    with Store(s.config.db) as st:
        assert st.sweeps() == []


SERVER_SIDE = ["resolver", "resolvers", "allow_net", "allow_nets", "exclude", "self_check", "no_self_check",
               "ca_bundle", "root_hints", "trust_anchor", "concurrency", "public_suffix", "user_agent"]


@pytest.mark.parametrize("field", SERVER_SIDE)
def test_no_caller_changes_the_servers_configuration(serve: Callable[..., Served], field: str) -> None:
    s = serve()
    with s.client() as c:
        r = c.post("/api/v1/checks", json={"names": ["a.example"], field: ["::/0"]})
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
        assert "server's configuration" in r.json()["error"]["message"]
        r = c.post(f"/api/v1/sweeps?{field}=::/0", content=b"a.example\n")
        assert r.status_code == 400 and r.json()["error"]["field"] == field
        r = c.post(f"/api/v1/schedules?every=1h&{field}=::/0", content=b"a.example\n")
        assert r.status_code == 400 and r.json()["error"]["field"] == field
    with Store(s.config.db) as st:
        assert st.sweeps() == [] and st.schedules() == []


#: (request field, value, the check option and value that mean the same) the CLI and API both refuse
REFUSED = [("names", ["bad name!"], "HOSTS", "bad name!"),
           ("names", ["x.excluded.example"], "HOSTS", "x.excluded.example"),
           ("checks", "dns.aaaa,nope", "--checks", "dns.aaaa,nope"),
           ("checks", "+dns.aaaa,web.tls", "--checks", "+dns.aaaa,web.tls"),
           ("timeout", 0, "--timeout", "0"), ("timeout", 301, "--timeout", "301"),
           ("www", "sometimes", "--www", "sometimes"),
           ("addresses", ["a.example=not-an-ip"], "--address", "a.example=not-an-ip"),
           ("policy", "nope", "--policy", "nope")]


@pytest.mark.parametrize(("field", "value", "option", "cli_value"), REFUSED)
def test_the_api_refuses_what_the_command_line_refuses(serve: Callable[..., Served], tmp_path: Path, field: str,
                                                       value: Any, option: str, cli_value: str) -> None:
    s = serve()
    body: dict[str, Any] = {"names": ["a.example"], field: value}
    with s.client() as c:
        r = c.post("/api/v1/checks", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["field"] == field
    exclude = tmp_path / "exclude"
    exclude.write_text(".excluded.example\n")
    args = (["check", cli_value] if option == "HOSTS" else ["check", "a.example", option, cli_value])
    res = CliRunner().invoke(cli, [*args, "--exclude", str(exclude)])
    assert res.exit_code == 2, res.output
    # the same words (click may wrap or quote them)
    words = re.sub(r"\s+", " ", res.output)
    key = re.sub(r"\s+", " ", err["message"]).split(":")[0][:40].strip("'\"")
    assert key in words, (err["message"], words)


def test_a_policy_is_a_name_or_a_policy_object_never_a_server_path(serve: Callable[..., Served]) -> None:
    s = serve()
    with s.client() as c:
        for bad in ("/etc/passwd", "../policies/default.json", "default.json", {"checks": 1}, 3):
            r = c.post("/api/v1/checks", json={"names": ["a.example"], "policy": bad})
            assert r.status_code == 400 and r.json()["error"]["field"] == "policy", (bad, r.text)
        assert c.post("/api/v1/checks", json={"names": ["a.example"], "policy": POLICY}).status_code == 202
        assert c.post("/api/v1/checks", json={"names": []}).status_code == 400
        assert c.post("/api/v1/checks", content=b"[1]").json()["error"]["field"] == "body"
        assert c.post("/api/v1/checks", content=b"{").json()["error"]["field"] == "body"


def test_tokens_never_reach_the_logs_the_database_or_an_answer(serve: Callable[..., Served],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = serve()
    with s.client() as c:
        r = c.post("/api/v1/checks", json={"names": ["a.example"], "policy": POLICY})
        info = _wait_done(c, f"/api/v1/sweeps/{r.json()['id']}")
        texts = [c.get(p).text for p in ("/api/v1/sweeps", f"/api/v1/checks/{info['id']}",
                                         f"/api/v1/checks/{info['id']}/outcomes")]
    with s.client(TOKEN[:-1]) as c:
        texts.append(c.get("/api/v1/sweeps").text)
    assert info["owner"] == "ci"  # the token's name is what is recorded
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "ci" in logs
    blobs = [logs, *texts, *(p.read_bytes().decode("latin-1") for p in s.config.db.parent.glob("serve0.db*"))]
    for secret in (TOKEN, TOKEN[:-1], OTHER):
        assert all(secret not in b for b in blobs)


# ------------------------------------------------------------------ checks: remote as local

def _policy_file(tmp_path: Path) -> Path:
    p = tmp_path / "dns-only.json"
    p.write_text(json.dumps(POLICY))
    return p


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_remote_check_prints_exactly_what_a_local_check_prints(serve: Callable[..., Served], tmp_path: Path,
                                                                 fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = serve()
    policy = _policy_file(tmp_path)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for gate in ([], ["--fail-on", "absent"], ["--min-score", "50"]):
        args = ["check", "a.example", "nov6.example", "--policy", str(policy), "--format", fmt, *gate]
        local = CliRunner().invoke(cli, args)
        summary_local = summary.read_text() if summary.exists() else ""
        summary.unlink(missing_ok=True)
        remote = CliRunner().invoke(cli, [*args, "--remote", s.url], env={"V6SCAN_TOKEN": TOKEN})
        summary_remote = summary.read_text() if summary.exists() else ""
        summary.unlink(missing_ok=True)
        assert remote.exit_code == local.exit_code == (1 if gate else 0), (remote.output, local.output)
        assert remote.stdout == local.stdout
        assert remote.stderr == local.stderr
        assert summary_remote == summary_local
    if fmt == "json":
        recs = json.loads(remote.stdout)
        assert [r["verdict"] for r in recs] == ["ready", "absent"]


def test_remote_check_failures_have_checks_exit_codes(serve: Callable[..., Served], tmp_path: Path) -> None:
    s = serve()
    r = CliRunner().invoke(cli, ["check", "a.example", "--remote", s.url, "--token", "wrong-token-0123456789"])
    assert r.exit_code == 2 and "refused the token" in r.stderr
    r = CliRunner().invoke(cli, ["check", "a.example", "--remote", s.url])
    assert r.exit_code == 2 and "needs a token" in r.stderr
    r = CliRunner().invoke(cli, ["check", "a.example", "--remote", s.url, "--token", TOKEN, "--checks", "nope"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["check", "a.example", "--remote", s.url, "--token", TOKEN,
                                 "--allow-net", "2001:db8::/32"])
    assert r.exit_code == 2 and "--allow-net is the server's configuration" in r.stderr
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    import v6scan.remote as remote

    r = CliRunner().invoke(cli, ["check", "a.example", "--remote", closed, "--token", TOKEN])
    assert r.exit_code == 3 and "did not answer" in r.stderr
    assert remote.ATTEMPTS >= 3
    # the token from the config file
    cfg = tmp_path / "v6scan.toml"
    cfg.write_text(f'[check]\nremote = "{s.url}"\ntoken = "{TOKEN}"\npolicy = "{_policy_file(tmp_path)}"\n')
    r = CliRunner().invoke(cli, ["--config", str(cfg), "check", "a.example", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["verdict"] == "ready"


def test_checks_read_in_every_format_through_the_api(serve: Callable[..., Served]) -> None:
    s = serve()
    with s.client() as c:
        sid = c.post("/api/v1/checks", json={"names": ["a.example"], "policy": POLICY}).json()["id"]
        _wait_done(c, f"/api/v1/sweeps/{sid}")
        rec = c.get(f"/api/v1/checks/{sid}").json()
        assert rec["schema"] == "v6scan.result/1" and rec["verdict"] == "ready" and rec["sweep"] is None
        assert "<testsuites" in c.get(f"/api/v1/checks/{sid}", params={"format": "junit"}).text
        assert c.get(f"/api/v1/checks/{sid}", params={"format": "sarif"}).json()["version"] == "2.1.0"
        zh = c.get(f"/api/v1/checks/{sid}", params={"format": "text", "lang": "zh-CN"}).text
        assert "就绪" in zh
        assert c.get(f"/api/v1/checks/{sid}", params={"format": "nope"}).status_code == 400
        assert c.get("/api/v1/checks/999").status_code == 404
        sweep = c.post("/api/v1/sweeps", content=b"b.example\n").json()["id"]
        _wait_done(c, f"/api/v1/sweeps/{sweep}")
        assert c.get(f"/api/v1/checks/{sweep}").status_code == 404  # a sweep is not a check


# ------------------------------------------------------------------ sweeps, exports, diffs

def test_sweeps_through_the_api(serve: Callable[..., Served], fake: Fake) -> None:
    s = serve()
    body = ("host,sector,region,organisation\na.example,gov,north,=HYPERLINK(\"x\")\nnov6.example,edu,south,Uni\n"
            "x.excluded.example,gov,north,Org\nbad name!,gov,north,Org\n")
    with s.client() as c:
        r = c.post("/api/v1/sweeps", params={"policy": "default", "checks": "dns.aaaa"}, content=body.encode(),
                   headers={"Content-Type": "text/csv"})
        assert r.status_code == 202, r.text
        sub = r.json()
        assert (sub["targets"], sub["excluded"], sub["rejected"]) == (2, 1, 1)
        assert "bad name!" in sub["errors"][0]
        info = _wait_done(c, f"/api/v1/sweeps/{sub['id']}")
        assert info["status"] == "finished" and info["done"] == 2 and info["excluded"] == 1
        assert info["progress"] == 1.0 and info["kind"] == "sweep" and info["owner"] == "ci"
        listed = c.get("/api/v1/sweeps").json()["sweeps"]
        assert [x["id"] for x in listed] == [sub["id"]]
        lines = c.get(f"/api/v1/sweeps/{sub['id']}/results").text.splitlines()
        assert sorted(json.loads(x)["target"] for x in lines) == ["a.example", "nov6.example"]
        csv_text = c.get(f"/api/v1/sweeps/{sub['id']}/results", params={"format": "csv"}).text
        assert "'=HYPERLINK" in csv_text  # formula-safe, as export writes it
        x = c.get(f"/api/v1/sweeps/{sub['id']}/results", params={"format": "xlsx"})
        assert x.status_code == 200 and x.content[:2] == b"PK"
        wb = openpyxl.load_workbook(__import__("io").BytesIO(x.content), read_only=True)
        assert wb.sheetnames
        doc = c.get(f"/api/v1/sweeps/{sub['id']}/results", params={"format": "json", "lang": "zh-CN"}).json()
        assert doc["sweep"] == sub["id"] and len(doc["results"]) == 2
        assert c.get(f"/api/v1/sweeps/{sub['id']}/results", params={"policy": "cn-gov"}).status_code == 400
        fake.lost.add("a.example")
        second = c.post("/api/v1/sweeps", params={"checks": "dns.aaaa"}, content=body.encode()).json()["id"]
        _wait_done(c, f"/api/v1/sweeps/{second}")
        d = c.get("/api/v1/diff", params={"a": sub["id"], "b": second}).json()
        assert [(x["name"], x["before"], x["after"]) for x in d["changed"]] == [("a.example", "partial", "absent")]
        assert c.get("/api/v1/diff", params={"a": sub["id"]}).json()["error"]["field"] == "b"
        assert c.post("/api/v1/sweeps", content=b"\n# nothing\n").json()["error"]["field"] == "body"
        assert c.post("/api/v1/sweeps", content=b"\xff\xfe\x00").status_code == 400


# ------------------------------------------------------------------ schedules and the webhook

class Receiver:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                outer.got.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def test_a_schedule_sweeps_again_and_the_webhook_hears_of_sites_that_got_worse(serve: Callable[..., Served],
                                                                               fake: Fake) -> None:
    rx = Receiver()
    try:
        s = serve(webhook=rx.url, public_url="https://v6scan.example", min_interval=1)
        with s.client() as c:
            r = c.post("/api/v1/schedules", params={"every": "1s", "checks": "dns.aaaa"},
                       content=b"a.example\nb.example\nnov6.example\n")
            assert r.status_code == 201, r.text
            sched = r.json()["id"]
            deadline = time.monotonic() + 30
            while not [x for x in c.get("/api/v1/sweeps").json()["sweeps"] if x["status"] == "finished"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            fake.lost.add("b.example")  # from the next sweep on, b.example has no IPv6
            while not rx.got:
                assert time.monotonic() < deadline, c.get("/api/v1/sweeps").json()
                time.sleep(0.05)
            msg = rx.got[0]
            assert msg["schema"] == "v6scan.regression/1" and msg["source"]["schedule"] == sched
            assert [(x["name"], x["before"], x["after"]) for x in msg["regressions"]] == [
                ("b.example", "partial", "absent")]  # the default policy, only dns.aaaa measured: partial at best
            assert msg["regressions"][0]["checks"] and msg["count"] == 1
            assert msg["links"]["diff"].startswith("https://v6scan.example/diff?a=")
            sweeps = c.get("/api/v1/sweeps").json()["sweeps"]
            assert all(x["kind"] == "scheduled" and x["schedule"] == sched for x in sweeps)
            assert c.get("/api/v1/schedules").json()["schedules"][0]["every"] == 1.0
            assert c.delete(f"/api/v1/schedules/{sched}").json()["active"] is False
            time.sleep(1.5)
            n = len(c.get("/api/v1/sweeps").json()["sweeps"])
            time.sleep(1.5)
            assert len(c.get("/api/v1/sweeps").json()["sweeps"]) == n  # stopped
            assert len(rx.got) == 1  # nothing got worse again: no more messages
            assert c.post("/api/v1/schedules", params={"every": "soon"}, content=b"a.example\n"
                          ).json()["error"]["field"] == "every"
    finally:
        rx.close()


def test_scan_every_sweeps_again_and_posts_regressions(tmp_path: Path, fake: Fake) -> None:
    rx = Receiver()
    try:
        targets = tmp_path / "t.txt"
        targets.write_text("a.example\nb.example\n")
        db = tmp_path / "every.db"
        policy = _policy_file(tmp_path)

        fake.lost_from["b.example"] = 2  # b.example has no IPv6 from its second sweep on
        r = CliRunner().invoke(cli, ["scan", str(targets), "--db", str(db), "--policy", str(policy),
                                     "--every", "1s", "--times", "2", "--webhook", rx.url, "--no-self-check"])
        assert r.exit_code == 0, r.output
        assert "got worse: b.example ready -> absent" in r.stderr
        with Store(db) as st:
            assert [x["status"] for x in st.sweeps()] == ["finished", "finished"]
        assert [(x["name"], x["after"]) for x in rx.got[0]["regressions"]] == [("b.example", "absent")]
        assert rx.got[0]["source"] == {"command": "scan --every", "db": str(db)}
    finally:
        rx.close()


# ------------------------------------------------------------------ the web pages

def _login(s: Served) -> httpx.Client:
    c = httpx.Client(base_url=s.url, timeout=30, trust_env=False)
    r = c.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = c.post("/login", data={"token": TOKEN, "next": "/sweeps"})
    assert r.status_code == 303 and r.headers["location"] == "/sweeps"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return c


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m
    return m.group(1)


def test_web_pages_log_in_check_and_show_the_report(serve: Callable[..., Served]) -> None:
    s = serve()
    with httpx.Client(base_url=s.url, timeout=30, trust_env=False) as anon:
        r = anon.post("/login", data={"token": "wrong-token-0123456789"})
        assert r.status_code == 403 and "not one of the server" in r.text
        assert "set-cookie" not in r.headers
        assert anon.post("/check", data={"names": "a.example"}).status_code == 403
        r = anon.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
        assert r.headers["location"] == "/?lang=en"  # never to another site
    c = _login(s)
    home = c.get("/")
    assert home.status_code == 200 and home.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src" not in home.headers["content-security-policy"] and "<script" not in home.text
    css = c.get("/static/v6scan.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    token = _csrf(home.text)
    assert c.post("/check", data={"names": "a.example"}).status_code == 403  # no CSRF field
    assert c.post("/check", data={"names": "a.example", "csrf": token},
                  headers={"Origin": "https://evil.example"}).status_code == 403
    bad = c.post("/check", data={"names": "bad name!", "csrf": token})
    assert bad.status_code == 400 and "names" in bad.text and "bad name!" in html.unescape(bad.text)
    r = c.post("/check", data={"names": "a.example\nnov6.example", "csrf": token, "lang": "zh-CN"})
    assert r.status_code == 303
    page_url = r.headers["location"]
    assert re.fullmatch(r"/checks/\d+\?lang=zh-CN", page_url)
    deadline = time.monotonic() + 30
    while True:
        page = c.get(page_url)
        if 'id="running"' not in page.text:
            break
        assert 'http-equiv="refresh"' in page.text
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert page.status_code == 200
    assert re.search(r'<section class="site"[^>]*data-site="nov6.example" data-verdict="absent"', page.text)
    assert "未支持" in page.text and "检测项" in page.text  # the report, in Chinese
    csp = page.headers["content-security-policy"]
    assert csp == report_csp(page.text) and "script" not in csp
    sweeps = c.get("/sweeps")
    assert re.search(r'<tr data-sweep="\d+" data-status="finished">', sweeps.text)
    logout = c.post("/logout", data={"csrf": _csrf(sweeps.text)})
    assert logout.status_code == 303
    assert c.get("/").status_code == 303  # the session is gone


def test_web_report_and_diff_of_sweeps_escape_what_sites_sent(serve: Callable[..., Served], fake: Fake) -> None:
    s = serve()
    body = "host,sector,region,organisation\na.example,gov,north,<b>Org</b><script>x()</script>\nb.example,,,\n"
    with s.client() as api:
        first = api.post("/api/v1/sweeps", params={"checks": "dns.aaaa"}, content=body.encode()).json()["id"]
        _wait_done(api, f"/api/v1/sweeps/{first}")
        fake.lost.add("b.example")
        second = api.post("/api/v1/sweeps", params={"checks": "dns.aaaa"}, content=body.encode()).json()["id"]
        _wait_done(api, f"/api/v1/sweeps/{second}")
    c = _login(s)
    report = c.get(f"/sweeps/{first}/report/")
    assert report.status_code == 200
    assert "<script>x()" not in report.text and "&lt;script&gt;x()" in report.text
    assert report.headers["content-security-policy"] == report_csp(report.text)
    assert c.get(f"/sweeps/{first}/report/../../etc/passwd").status_code == 404
    d = c.get("/diff", params={"a": first, "b": second})
    assert re.search(r'data-site="b.example" data-before="partial" data-after="absent"', d.text)
    assert c.get("/diff", params={"a": first}).status_code == 400
    assert c.get("/sweeps/999/report/").status_code == 404


def _big_sweep(serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch, names: list[str]
               ) -> tuple[Served, int]:
    """A finished sweep of ``names`` on a server for which any sweep of more than one site is big
    (its report is the directory report)."""
    import v6scan.serve.web as web

    monkeypatch.setattr(web, "SINGLE_FILE_MAX", 1)
    s = serve()
    with s.client() as api:
        sid = api.post("/api/v1/sweeps", params={"checks": "dns.aaaa"},
                       content="".join(f"{n}\n" for n in names).encode()).json()["id"]
        _wait_done(api, f"/api/v1/sweeps/{sid}")
    return s, int(sid)


def test_big_sweeps_get_the_directory_report_page_by_page(serve: Callable[..., Served],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s, sid = _big_sweep(serve, monkeypatch, ["a.example", "b.example", "nov6.example"])
    c = _login(s)
    entry = c.get(f"/sweeps/{sid}/report/")
    assert entry.status_code == 200 and entry.headers["content-security-policy"] == report_csp(entry.text)
    links = [h for h in re.findall(r'href="([^"#]+)"', entry.text) if h.endswith(".html")]
    assert links
    for href in links[:5]:  # relative links resolve under the report
        r = c.get(f"/sweeps/{sid}/report/{href}")
        assert r.status_code == 200, href


def test_the_server_stays_responsive_while_it_runs_a_big_sweep(serve: Callable[..., Served], fake: Fake,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    slow = fake.scan_target

    async def slower(ctx: Any, target: Target) -> TargetResult:
        await asyncio.sleep(0.05)
        return await slow(ctx, target)

    import v6scan.engine as engine

    monkeypatch.setattr(engine, "scan_target", slower)
    s = serve(max_jobs=1)
    names = "".join(f"s{i}.example\n" for i in range(400)).encode()
    with s.client() as c:
        sid = c.post("/api/v1/sweeps", params={"checks": "dns.aaaa"}, content=names).json()["id"]
        queued = c.post("/api/v1/checks", json={"names": ["a.example"], "policy": POLICY}).json()["id"]
        seen = []
        for _ in range(20):  # every answer comes while the sweep runs (not a timing assertion: it answers)
            info = c.get(f"/api/v1/sweeps/{sid}").json()
            seen.append(info["status"])
            assert c.get("/api/v1/health").status_code == 200
        assert "running" in seen
        assert c.get(f"/api/v1/sweeps/{queued}").json()["status"] in ("queued", "finished")
        _wait_done(c, f"/api/v1/sweeps/{sid}")
        assert _wait_done(c, f"/api/v1/sweeps/{queued}")["status"] == "finished"


def test_a_sweep_left_running_is_resumed_when_the_server_starts_again(tmp_path: Path, fake: Fake) -> None:
    settings = Settings(resolvers=("127.0.0.1:9",), self_check_enabled=False)
    db = tmp_path / "resume.db"
    config = ServerConfig(db=db, settings=settings, excluded=NameExclusions(()), tokens=Tokens({"ci": TOKEN}),
                          tick=0.1)
    with Store(db) as st:  # as a server that was killed mid-sweep leaves it
        from v6scan.options import request_settings

        s2, pol, _ = request_settings(settings, {"checks": "dns.aaaa"}, NameExclusions(()), sweep=True)
        cfg = {**sweep_module.settings_config(s2), "max_retries": 3, "policy": pol.to_json(),
               "api": {"kind": "sweep", "owner": "ci", "request": {"checks": "dns.aaaa"}, "schedule": None}}
        sid = st.start_sweep([Target("a.example", "a.example"), Target("b.example", "b.example")], cfg, pol.name)
    s = Served(config)
    try:
        with s.client() as c:
            assert _wait_done(c, f"/api/v1/sweeps/{sid}")["done"] == 2
    finally:
        s.stop()
    assert sorted(fake.calls) == ["a.example", "b.example"]


# ------------------------------------------------------------------ what a review found (each once a 500 or worse)

BAD_BODIES: list[tuple[Any, str]] = [
    ({"names": ["a.example"], "timeout": []}, "timeout"), ({"names": ["a.example"], "timeout": {}}, "timeout"),
    ({"names": ["a.example"], "timeout": "nan"}, "timeout"), ({"names": ["a.example"], "timeout": "inf"}, "timeout"),
    ({"names": ["a.example"], "timeout": True}, "timeout"),
    ({"names": ["a.example"], "policy": {"name": {"x": 1}}}, "policy"),
    ({"names": ["a.example"], "policy": {"checks": {"dns.aaaa": {"weight": "heavy"}}}}, "policy"),
    ({"names": ["a.example"], "policy": {"checks": []}}, "policy"),
    ({"names": ["a.example"], "policy": {"checks": {"dns.aaaa": 5}}}, "policy"),
    ({"names": ["a.example"], "policy": {"checks": {}, "thresholds": {"same_site_min": "abc"}}}, "policy"),
    ({"names": ["a.example"], "policy": {"checks": {}, "score": {"method": "nope"}}}, "policy"),
    ({"names": ["a.example"], "addresses": [f"a.example=2001:db8::{i:x}" for i in range(65)]}, "addresses"),
    ({"names": [f"n{i}.example" for i in range(51)]}, "names"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_requests_are_4xx_naming_the_field_never_a_500(serve: Callable[..., Served], body: Any,
                                                           field: str) -> None:
    s = serve()
    with s.client() as c:
        r = c.post("/api/v1/checks", json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
    with Store(s.config.db) as st:
        assert st.sweeps() == []


def test_bad_query_values_and_ids_are_4xx(serve: Callable[..., Served]) -> None:
    s = serve()
    huge = "99999999999999999999"
    with s.client() as c:
        assert c.post("/api/v1/checks", content=b"[" * 100_000 + b"]" * 100_000).json()["error"]["field"] == "body"
        for path, status in ((f"/api/v1/checks/{huge}", 400), ("/api/v1/checks/1?wait=abc", 400),
                             ("/api/v1/checks/1?wait=nan", 400), (f"/api/v1/diff?a={huge}&b=1", 400),
                             ("/api/v1/sweeps/0", 400), ("/api/v1/sweeps/x", 400), ("/api/v1/sweeps/7", 404)):
            r = c.get(path)
            assert r.status_code == status, (path, r.text)
        r = c.delete("/api/v1/schedules/5")
        assert r.status_code == 404 and str(s.config.db) not in r.text  # the server's paths are its own
        for every in ("3000000d", "0s", "soon"):
            r = c.post("/api/v1/schedules", params={"every": every}, content=b"a.example\n")
            assert r.status_code == 400 and r.json()["error"]["field"] == "every"
    r = CliRunner().invoke(cli, ["check", "a.example", "--timeout", "nan"])
    assert r.exit_code == 2 and "not a number of seconds" in r.output


def test_a_long_list_of_pinned_addresses_is_linear(tmp_path: Path) -> None:
    from v6scan.settings import parse_pins

    pins = tuple(f"a.example=2001:db8::{i:x}" for i in range(50_000))
    t = time.process_time()
    assert len(parse_pins(pins)["a.example"]) == 50_000
    assert time.process_time() - t < 10  # (quadratic, this took minutes; not a benchmark)


def test_one_token_cannot_fill_the_queue_or_the_schedules(serve: Callable[..., Served], fake: Fake,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    slow = fake.scan_target

    async def held(ctx: Any, target: Target) -> TargetResult:  # busy long enough for the requests below
        await asyncio.sleep(3)
        return await slow(ctx, target)

    monkeypatch.setattr(sweep_module, "scan_target", held)
    s = serve(max_queued=2, max_schedules=1, min_interval=3600, max_jobs=1)
    with s.client() as c, s.client(OTHER) as o:
        assert c.post("/api/v1/checks", json={"names": ["a.example"]}).status_code == 202
        assert c.post("/api/v1/checks", json={"names": ["b.example"]}).status_code == 202
        r = c.post("/api/v1/checks", json={"names": ["c.example"]})
        assert r.status_code == 429 and "queued or running" in r.text
        assert o.post("/api/v1/checks", json={"names": ["d.example"]}).status_code == 202  # another token may
        assert c.post("/api/v1/schedules", params={"every": "2h"}, content=b"a.example\n").status_code == 201
        r = c.post("/api/v1/schedules", params={"every": "2h"}, content=b"b.example\n")
        assert r.status_code == 429
        r = c.post("/api/v1/schedules", params={"every": "10m"}, content=b"b.example\n")
        assert r.status_code == 400 and "3600" in r.text


def test_guessing_tokens_is_rate_limited_per_client(serve: Callable[..., Served]) -> None:
    s = serve(rate_per_minute=5)
    with s.client("wrong-token-0123456789") as c:
        codes = [c.get("/api/v1/sweeps").status_code for _ in range(8)]
    assert codes[:5] == [403] * 5 and 429 in codes[5:]
    with httpx.Client(base_url=s.url, timeout=30, trust_env=False) as b:
        codes = [b.post("/login", data={"token": "wrong-token-0123456789"}).status_code for _ in range(3)]
    assert set(codes) == {429}  # the same client address, the same bucket


def test_forms_from_null_or_foreign_origins_are_refused_the_public_url_is_not(serve: Callable[..., Served]
                                                                              ) -> None:
    s = serve(public_url="https://v6scan.example")
    with httpx.Client(base_url=s.url, timeout=30, trust_env=False) as b:
        assert b.post("/login", data={"token": TOKEN}, headers={"Origin": "null"}).status_code == 403
        assert b.post("/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"}).status_code == 403
        r = b.post("/login", data={"token": TOKEN}, headers={"Origin": "https://v6scan.example"})
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()  # (behind a TLS proxy)
        assert b.post("/login", content="&".join(f"f{i}=1" for i in range(60))).status_code == 400
        cookie = {"Cookie": f"v6scan_session={r.cookies['v6scan_session']}"}  # (a Secure cookie: not over http)
        assert b.get("/", headers=cookie).status_code == 200  # logged in
        assert b.post("/check", data={"names": "a.example", "csrf": "\u00e9" * 64}, headers=cookie).status_code == 403


def test_remote_check_of_a_name_given_twice_and_the_servers_defaults(serve: Callable[..., Served],
                                                                     tmp_path: Path) -> None:
    s = serve()
    policy = str(_policy_file(tmp_path))
    args = ["check", "a.example", "a.example", "https://nov6.example/x", "nov6.example", "--policy", policy]
    local = CliRunner().invoke(cli, args)
    remote = CliRunner().invoke(cli, [*args, "--remote", s.url, "--token", TOKEN])
    assert remote.stdout == local.stdout and remote.exit_code == local.exit_code
    assert remote.stdout.count("a.example  READY") == 2
    with Store(s.config.db) as st:
        config = sweep_module.stored_config(st, st.latest_sweep() or 0)
    assert config["timeout"] == 1.0  # the server's --timeout: none given on the command line
    assert "timeout" not in config["api"]["request"] and "www" not in config["api"]["request"]  # type: ignore[index,operator]


def test_sweeps_a_restart_finds_are_resumed_or_left_with_a_note(tmp_path: Path, fake: Fake) -> None:
    settings = Settings(resolvers=("127.0.0.1:9",), self_check_enabled=False)
    db = tmp_path / "resume.db"
    from v6scan.options import request_settings

    s2, pol, _ = request_settings(settings, {"checks": "dns.aaaa"}, NameExclusions(()), sweep=True)
    cfg = {**sweep_module.settings_config(s2), "max_retries": 3, "policy": pol.to_json(),
           "api": {"kind": "sweep", "owner": "ci", "request": {"checks": "dns.aaaa"}, "schedule": None}}
    with Store(db) as st:
        waiting = st.start_sweep([Target("a.example", "a.example")], cfg, pol.name)
        st.finish_sweep(waiting, "incomplete", "a target to retry")  # left waiting to retry
        refused = st.start_sweep([Target("x.excluded.example", "x.excluded.example")],
                                 {**cfg, "api": {**cfg["api"], "request": {"names": ["x.excluded.example"]},  # type: ignore[dict-item]
                                                 "kind": "check"}}, pol.name)
    config = ServerConfig(db=db, settings=settings, excluded=NameExclusions([".excluded.example"]),
                          tokens=Tokens({"ci": TOKEN}), tick=0.1)
    s = Served(config)
    try:
        with s.client() as c:
            assert _wait_done(c, f"/api/v1/sweeps/{waiting}")["status"] == "finished"
            info = _wait_done(c, f"/api/v1/sweeps/{refused}")
            assert info["status"] == "interrupted" and "refuses" in str(info["note"])
    finally:
        s.stop()


def test_a_big_report_is_written_once_for_concurrent_readers(serve: Callable[..., Served],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures

    s, sid = _big_sweep(serve, monkeypatch, [f"s{i}.example" for i in range(60)])
    c = _login(s)
    cookies = dict(c.cookies)

    def get(_: int) -> int:
        with httpx.Client(base_url=s.url, cookies=cookies, timeout=120, trust_env=False) as b:
            return b.get(f"/sweeps/{sid}/report/").status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(get, range(8))) == [200] * 8
    assert len(list((s.config.reports).glob(f"{sid}-en-*"))) == 1
