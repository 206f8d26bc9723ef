"""mail.starttls: the evidence (``build``), the rule (pure), the SMTP reply reader on hostile bytes, and the
lab's ``starttls`` and ``starttls-v4-only`` scenarios (STARTTLS on both families of the MX; on IPv4's only).

The check is informational: weight 0 and not required in every built-in policy, so its warning never
changes a verdict or a score (asserted on the lab's sites with and without its observation).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import only, scan_sites
from tests.lab import Lab
from tests.lab.scenarios import by_id
from v6scan.checks.mail import MAX_REPLY_LINE, MAX_REPLY_LINES, OVERLONG, _offers_starttls, _reply
from v6scan.checks.mail_starttls import CHECK, StarttlsEvidence, StarttlsRow
from v6scan.engine import TargetResult
from v6scan.model import JSON, Observation, Status
from v6scan.registry import CHECKS
from v6scan.scoring import BUILTIN_POLICIES, evaluate, load_policy, score_target

MX = "mx.a.test"
V6A, V6B, V4A = "2001:db8::a", "2001:db8::b", "192.0.2.1"


def cert(fp: str) -> dict[str, JSON]:
    return {"subject": f"CN={MX}", "issuer": "CN=ca", "names": [MX], "not_before": "2026-01-01T00:00:00+00:00",
            "not_after": "2027-01-01T00:00:00+00:00", "days_left": 30, "sha256": fp * 64, "self_signed": False,
            "key": "EC-256"}


def row(address: str, kind: str, fp: str = "a", host: str = MX, attempts: int = 1) -> StarttlsRow:
    """A row as the probe builds it from a dialogue of ``kind``: valid, invalid, plain (no STARTTLS),
    silent."""
    d: dict[str, JSON] = {"address": address, "banner": f"220 {host}", "ehlo": [host], "elapsed_ms": 1.0}
    if kind == "plain":
        d.update(starttls=False, status="no_starttls")
    elif kind == "silent":
        d = {"address": address, "status": "silent", "step": "greeting", "elapsed_ms": 1.0}
    else:
        d.update(starttls=True, starttls_reply="220 go", status="ok", protocol="TLSv1.3",
                 cipher="TLS_AES_256_GCM_SHA384",
                 cert=cert(fp), tls_ehlo=True, valid=kind == "valid")
        if kind == "invalid":
            d.update(problem="name_mismatch", verify_code=62, error="certificate not valid: mismatch")
    return StarttlsRow.build(host=host, dialogue=d, attempts=attempts)


def judge(*rows: StarttlsRow, status: Status = Status.OK, policy: str = "default") -> Any:
    ev = StarttlsEvidence.build(null_mx=False, servers=rows)
    o = CHECK.observe("a.test", status, ev, None if status is Status.OK else "the domain publishes no MX")
    return evaluate(o, load_policy(policy))


# --------------------------------------------------------------------------- the evidence


def test_build_derives_the_comparisons_from_the_rows() -> None:
    rows = [row(V6A, "valid"), row(V6B, "plain"), row(V4A, "valid")]
    ev = StarttlsEvidence.build(null_mx=False, servers=rows)
    assert ev.v6_valid == (f"{MX} {V6A}",)
    assert ev.v6_missing == (f"{MX} {V6B}",)
    assert ev.v6_invalid == () and ev.v4_valid_hosts == (MX,) and ev.cert_differs == ()
    assert [(r.family, r.successes, r.attempts) for r in rows] == [("v6", 1, 1)] * 2 + [("v4", 1, 1)]
    assert StarttlsEvidence.from_json(ev.to_json()) == ev


def test_build_compares_certificates_per_host() -> None:
    ev = StarttlsEvidence.build(null_mx=False, servers=[
        row(V6A, "invalid", "b"), row(V4A, "valid", "a"),
        row("2001:db8::c", "valid", "c", host="mx2.a.test"), row("192.0.2.2", "valid", "c", host="mx2.a.test")])
    assert ev.v6_invalid == (f"{MX} {V6A}",) and ev.cert_differs == (MX,)
    assert ev.v4_valid_hosts == (MX, "mx2.a.test")


def test_a_row_keeps_only_what_the_dialogue_said() -> None:
    data = row(V6A, "plain").to_json()
    assert set(data) == {"host", "family", "address", "status", "banner", "ehlo", "starttls", "elapsed_ms",
                         "attempts", "successes"}
    assert row(V6A, "silent").successes == 1  # it connected: an answer (mail.mx_reach reports the silence)
    assert StarttlsRow.build(host=MX, dialogue={"address": V6A, "status": "timeout"}, attempts=2).successes == 0
    assert set(StarttlsEvidence.from_json({}).to_json()) == {
        "null_mx", "servers", "v6_valid", "v6_missing", "v6_invalid", "v4_valid_hosts", "cert_differs",
        "evidence_version"}


# --------------------------------------------------------------------------- the rule (pure)


def test_starttls_with_valid_certificates_on_both_families_passes() -> None:
    r = judge(row(V6A, "valid"), row(V4A, "valid"))
    assert (r.result, r.applicable, r.reasons) == ("pass", True, ())


def test_starttls_on_ipv4_only_warns_naming_the_ipv6_address() -> None:
    r = judge(row(V6A, "plain"), row(V4A, "valid"))
    assert r.result == "warn" and r.severity is None
    (reason,) = r.reasons
    assert reason.code == "starttls_v6_missing"
    assert reason.params == {"host": MX, "address": V6A, "status": "no_starttls"}
    assert V6A in reason.text() and V6A in reason.text("zh-CN")


def test_an_invalid_ipv6_certificate_warns_when_ipv4s_is_valid() -> None:
    r = judge(row(V6A, "invalid"), row(V4A, "valid"))
    assert r.result == "warn"
    assert [(x.code, x.params) for x in r.reasons] == [
        ("starttls_v6_invalid", {"host": MX, "address": V6A, "problem": "name_mismatch"})]


def test_invalid_on_both_families_is_not_an_ipv6_problem() -> None:
    assert judge(row(V6A, "invalid"), row(V4A, "invalid")).result == "pass"


def test_a_certificate_that_differs_between_the_families_warns() -> None:
    r = judge(row(V6A, "valid", "b"), row(V4A, "valid", "a"))
    assert r.result == "warn"
    (reason,) = r.reasons
    assert (reason.code, reason.params) == ("starttls_cert_differs", {"host": MX, "v6": ["b" * 16], "v4": ["a" * 16]})


@pytest.mark.parametrize("rows", [
    (row(V6A, "plain"), row(V4A, "plain")),
    (row(V6A, "plain"),),
    (row(V6A, "plain"), row(V4A, "silent")),
])
def test_starttls_on_neither_family_is_information_only(rows: tuple[StarttlsRow, ...]) -> None:
    r = judge(*rows)
    assert (r.result, r.applicable) == ("info", False)
    assert r.reasons[0].code == "starttls_absent" and r.reasons[0].params == {"hosts": [MX]}


def test_ipv6_better_than_ipv4_passes() -> None:
    assert judge(row(V6A, "valid"), row(V4A, "plain")).result == "pass"
    assert judge(row(V6A, "valid")).result == "pass"


def test_nothing_to_test_is_not_applicable() -> None:
    skipped = judge(status=Status.SKIPPED)
    assert (skipped.result, skipped.applicable) == ("not_tested", False)
    silent = judge(row(V6A, "silent"), row(V4A, "valid"))  # mail.mx_reach reports the silence
    assert silent.result == "not_tested"


def test_retried_probes_give_the_common_retried_result() -> None:
    r = judge(row(V6A, "valid", attempts=3), row(V4A, "valid"))
    assert r.result in ("pass", "warn") and all(x.code == "probe_retried" for x in r.reasons)


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_the_check_weighs_nothing_in_every_builtin_policy(name: str) -> None:
    p = load_policy(name)
    assert p.weight("mail.starttls") == 0 and not p.required("mail.starttls")
    assert judge(row(V6A, "plain"), row(V4A, "valid"), policy=name).result == "warn"


def test_the_check_is_declared_as_an_informational_target_check() -> None:
    c = CHECKS["mail.starttls"]
    assert c is CHECK and (c.weight, c.required, c.v6_dependent, c.order, str(c.phase)) == (0, False, True, 240,
                                                                                             "target")


# --------------------------------------------------------------------------- the reply reader (hostile input)


def read_reply(data: bytes, limit: int = 16384) -> list[str]:
    async def go() -> list[str]:
        reader = asyncio.StreamReader(limit=limit)
        reader.feed_data(data)
        reader.feed_eof()
        return await _reply(reader)

    return asyncio.run(go())


@given(st.binary(max_size=5000), st.sampled_from([64, 16384]))
def test_the_reply_reader_never_raises_and_stays_bounded(data: bytes, limit: int) -> None:
    lines = read_reply(data, limit)
    assert len(lines) <= MAX_REPLY_LINES
    assert all(len(x) <= MAX_REPLY_LINE for x in lines)


@given(st.lists(st.text(alphabet="0123456789- ESMTPLabcx\r", max_size=40), max_size=80))
def test_the_reply_reader_reads_smtp_shaped_lines(parts: list[str]) -> None:
    lines = read_reply("".join(p + "\r\n" for p in parts).encode())
    assert len(lines) <= MAX_REPLY_LINES


def test_the_reply_reader_stops_at_the_last_line_and_at_its_caps() -> None:
    assert read_reply(b"250-a\r\n250-STARTTLS\r\n250 b\r\n250 next\r\n") == ["250-a", "250-STARTTLS", "250 b"]
    assert len(read_reply(b"250-x\r\n" * 10_000)) == MAX_REPLY_LINES
    assert read_reply(b"220 " + b"x" * 100_000 + b"\r\n", limit=16384) == [OVERLONG]
    assert read_reply(b"220 " + b"x" * 5000 + b"\r\n") == ["220 " + "x" * (MAX_REPLY_LINE - 4)]


@pytest.mark.parametrize(("ehlo", "offered"), [
    (["250-mx", "250-STARTTLS", "250 8BITMIME"], True),
    (["250-mx", "250 starttls"], True),
    (["250-STARTTLS"], False),  # the first line is the greeting, not an extension
    (["250-mx", "250-XSTARTTLS", "250 SIZE"], False),
    (["250-mx", "250 "], False),
])
def test_starttls_is_read_from_the_ehlo_keywords(ehlo: list[str], offered: bool) -> None:
    assert _offers_starttls(ehlo) is offered


# --------------------------------------------------------------------------- the lab


def test_the_scenarios_peers_offer_starttls_as_described() -> None:
    both, v4_only = by_id()["starttls"], by_id()["starttls-v4-only"]
    assert {m.mode for m in both.smtp} == {"starttls"}
    assert {(":" in m.addr, m.mode) for m in v4_only.smtp} == {(True, "greets"), (False, "starttls")}
    assert both.expect["verdict"] == v4_only.expect["verdict"] == "ready"


SITES = {"starttls": "starttls.gov.test", "starttls-v4-only": "starttls-v4.edu.test", "healthy": "healthy.gov.test",
         "mail": "mail.com.test"}


@pytest.fixture(scope="module")
def scanned(lab: Lab) -> dict[str, TargetResult]:
    """The sites scanned with every check (the verdict needs every required one)."""
    return scan_sites(lab, SITES)


def obs(r: TargetResult) -> Observation:
    return only(r, "mail.starttls")


def test_starttls_on_both_families_passes_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = obs(scanned["starttls"])
    assert o.status is Status.OK
    ev = StarttlsEvidence.from_json(o.evidence)
    host = "mx.starttls.gov.test"
    assert [(s.host, s.family, s.address) for s in ev.servers] == [(host, "v6", "2001:db8:80::2e"),
                                                                   (host, "v4", "203.0.113.113")]
    for s in ev.servers:
        assert (s.status, s.starttls, s.valid, s.tls_ehlo) == ("ok", True, True, True)
        assert s.protocol in ("TLSv1.2", "TLSv1.3") and s.cipher
        assert s.cert is not None and s.cert.names == (host,) and "v6scan lab" in s.cert.issuer
        assert s.cert.days_left > 0 and len(s.cert.sha256) == 64 and s.cert.not_after
    assert ev.v6_valid == (f"{host} 2001:db8:80::2e",) and ev.cert_differs == () and ev.v6_missing == ()
    assert evaluate(o, load_policy()).result == "pass"


def test_starttls_on_ipv4_only_warns_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = obs(scanned["starttls-v4-only"])
    ev = StarttlsEvidence.from_json(o.evidence)
    v6, v4 = ev.servers
    assert (v6.address, v6.status, v6.starttls, v6.cert) == ("2001:db8:80::30", "no_starttls", False, None)
    assert (v4.address, v4.status, v4.valid) == ("203.0.113.115", "ok", True)
    r = evaluate(o, load_policy())
    assert r.result == "warn"
    (reason,) = r.reasons
    assert reason.code == "starttls_v6_missing"
    assert reason.params == {"host": "mx.starttls-v4.edu.test", "address": "2001:db8:80::30",
                             "status": "no_starttls"}
    assert "2001:db8:80::30" in reason.text()


@pytest.mark.parametrize("sid", ["healthy", "mail"])
def test_mail_servers_without_starttls_are_information_only_in_the_lab(scanned: dict[str, TargetResult],
                                                                      sid: str) -> None:
    o = obs(scanned[sid])
    r = evaluate(o, load_policy())
    assert (r.result, r.applicable, r.reasons[0].code) == ("info", False, "starttls_absent")
    ev = StarttlsEvidence.from_json(o.evidence)
    assert ev.servers and all(s.status in ("no_starttls", "silent") for s in ev.servers)
    if sid == "mail":  # mx3 has no AAAA: not compared; mx2 is silent over IPv6
        assert {s.host for s in ev.servers} == {"mx1.mail.com.test", "mx2.mail.com.test"}


@pytest.mark.parametrize("policy", BUILTIN_POLICIES)
@pytest.mark.parametrize("sid", list(SITES))
def test_starttls_never_changes_a_verdict_or_a_score(scanned: dict[str, TargetResult], sid: str, policy: str) -> None:
    r = scanned[sid]
    p = load_policy(policy)
    with_it = score_target(r.target.name, r.observations, p)
    without = score_target(r.target.name, [o for o in r.observations if o.check != "mail.starttls"], p)
    assert (with_it.verdict, with_it.score, with_it.points) == (without.verdict, without.score, without.points)
    if policy == "default":
        assert with_it.verdict == by_id()[sid].expect["verdict"], with_it.reasons


def test_the_mail_dialogue_offers_no_http_alpn(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """STARTTLS over loopback against a small SMTP server that would select ``http/1.1`` if offered: the
    scanner's mail contexts offer no ALPN (http/1.1 means nothing to a mail server; RFC 7301 lets a
    server refuse a handshake whose protocols it does not speak), so none is selected; the web contexts
    still offer it."""
    import ssl

    import v6scan.checks.mail as mail
    from tests.lab.pki import make_ca
    from v6scan.checks.mail import starttls
    from v6scan.context import Context
    from v6scan.settings import Settings

    ca = make_ca(tmp_path / "pki")
    crt, key = ca.issue("mx", (MX,), "valid")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)
    server_ctx.set_alpn_protocols(["http/1.1"])
    selected: list[str | None] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"220 {MX} ESMTP\r\n".encode())
        while line := await reader.readline():
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                tls = writer.get_extra_info("ssl_object") is not None
                writer.write(f"250-{MX}\r\n250 {'PIPELINING' if tls else 'STARTTLS'}\r\n".encode())
            elif cmd == b"STARTTLS":
                writer.write(b"220 go ahead\r\n")
                await writer.drain()
                await writer.start_tls(server_ctx)
                obj = writer.get_extra_info("ssl_object")
                selected.append(obj.selected_alpn_protocol() if obj else "no TLS")
            else:
                writer.write(b"221 bye\r\n")
                break
        writer.close()

    async def go() -> tuple[dict[str, JSON], dict[str, JSON]]:
        server = await asyncio.start_server(session, "::1", 0)
        port = server.sockets[0].getsockname()[1]
        ctx = Context.create(Settings(ca_bundle=tmp_path / "pki" / "ca.pem"))
        real = mail.open_socket
        monkeypatch.setattr(mail, "open_socket", lambda address, _port, timeout: real(address, port, timeout))
        async with server:
            mail_row = await starttls("::1", MX, *ctx.mail_tls(), 5.0)
            web_row = await starttls("::1", MX, ctx.verify_ctx, ctx.loose_ctx, 5.0)
        return mail_row, web_row

    mail_row, web_row = asyncio.run(go())
    assert mail_row["status"] == "ok" and mail_row["valid"] is True and mail_row["tls_ehlo"] is True, mail_row
    assert web_row["status"] == "ok", web_row
    assert selected == [None, "http/1.1"]  # the control: the server does select it when offered
