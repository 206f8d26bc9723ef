"""Reasons read in Chinese throughout: the English that reason parameters carry (errors, why a
check did not run, how pages differ, registry names) is localised by v6scan.messages_zh, names
and addresses kept; English output and stored parameters unchanged."""

from __future__ import annotations

import ast
import copy
import itertools
import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import v6scan
from v6scan import addresses
from v6scan.checks.web_latency import PARTS
from v6scan.messages import MESSAGES, TERMS, fix_hint, foreign_words, render
from v6scan.messages_zh import EXACT, MAX_DEPTH, PATTERNS, Pattern, localise
from v6scan.model import Status
from v6scan.net import VERIFY_CODES

# --------------------------------------------------------------------------- helpers

#: what a Chinese text may keep in Latin letters besides TERMS: data, not words
_KEPT = re.compile(
    r"'[^']*'|\"[^\"]*\""  # quoted: page titles, Python reprs
    r"|https?://\S+|(?:/[\w.-]+)+"  # URLs, file paths
    r"|--[a-z][\w-]*(?:\s+[A-Z][A-Z\[\]:]*)?"  # command-line options (and their argument)
    r"|[\w-]+(?:\.[\w-]+)+\.?"  # host names, check ids
    r"|\[?(?:[0-9A-Fa-f]{1,4})?(?::[0-9A-Fa-f]{0,4}){2,7}\]?(?:/\d+|:\d+)?"  # IPv6 addresses
    r"|\b\w*_\w*\b"  # identifiers: CAP_NET_RAW, WRONG_VERSION_NUMBER
    r"|\b[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+\b",  # library class names: BadPointer, RuntimeError
    re.ASCII)


def foreign(text: str) -> list[str]:
    """The untranslated English words of a Chinese ``text``: its Latin words that are neither
    technical terms (messages.TERMS) nor data (names, addresses, titles, identifiers)."""
    return foreign_words(_KEPT.sub(" ", text))


def test_the_helper_finds_english_and_keeps_data() -> None:
    assert foreign("超时\uff1athe name did not resolve") == ["the", "name", "did", "not", "resolve"]
    assert foreign("ns.a.test 2001:db8:80::6f\uff1aUDP 应答格式错误\uff1aBadPointer\uff1b'Old Title'") == []
    assert foreign("fe80::1、[2001:db8::1]:443、dns.aaaa、--allow-net、CAP_NET_RAW") == []
    assert foreign("bad answer") == ["bad", "answer"]  # a hex-looking word is still a word


# --------------------------------------------------------------------------- the tables


def test_every_exact_phrase_reads_in_chinese() -> None:
    bad = {en: zh for en, zh in EXACT.items() if localise(en) != zh or foreign(zh) or zh == en}
    assert bad == {}
    # text without ASCII letters can never be changed (see test_text_without_letters_is_kept)
    assert all(any(c in string.ascii_letters for c in en) for en in EXACT)


_KIND_SAMPLE = {"x": "timed out", "l": "ns1.example.net 2001:db8::1: timed out, ns2.example.net 2001:db8::2: refused"}


def _fill(p: Pattern) -> tuple[str, list[str]]:
    """A value of pattern ``p``'s shape, and the parts of it the Chinese must keep."""
    values: list[str] = []
    kept: list[str] = []
    for i, kind in enumerate(p.kinds):
        if kind == "t":
            v = f"n{i}.example.net"
        elif kind == "T":
            v = "AAAA"
        elif kind == "k":
            v = f"'Kept {i}'"
        else:
            v = _KIND_SAMPLE[kind]
        kept += [v] if kind in "tTk" else ["ns1.example.net", "2001:db8::1"] if kind == "l" else []
        values.append(v)
    return p.pieces[0] + "".join(v + p.pieces[i + 1] for i, v in enumerate(values)), kept


@pytest.mark.parametrize("p", PATTERNS, ids=lambda p: p.english)
def test_every_pattern_reads_in_chinese_and_keeps_names(p: Pattern) -> None:
    value, kept = _fill(p)
    assert p.match(value) is not None, value  # the pattern reads its own shape
    out = localise(value)
    assert out != value and foreign(out) == [], (value, out)
    assert all(k in out for k in kept), (kept, out)


def test_patterns_are_well_formed() -> None:
    for p in PATTERNS:
        assert " " in "".join(p.pieces), p.english  # a value without a space is only looked up in EXACT
        assert all(p.pieces[1:-1]), p.english
    with pytest.raises(ValueError, match="parts need text"):
        Pattern.parse("{t}{x}", "{0}{1}")
    with pytest.raises(ValueError, match="does not fit"):
        Pattern.parse("a {t} b", "{0} {1}")


def test_every_special_purpose_registry_name() -> None:
    names = {name for _, _, name, _ in (*addresses._V4_TABLE, *addresses._V6_TABLE)}
    assert len(names) > 40
    bad = {n: localise(n) for n in names if localise(n) == n or foreign(localise(n))}
    assert bad == {}
    for a in ("fe80::1", "64:ff9b::a00:1", "::ffff:7f00:1", "2002:a9fe:a9fe::1", "fd00:ec2::254", "3fff::1"):
        text = addresses.classify(a).describe()
        assert localise(text).startswith(a + " ") and foreign(localise(text)) == [], text
    assert localise("2001:db8:1::1 is a global address") == "2001:db8:1::1 是全球地址"
    policy = addresses.AddressPolicy.from_strings(exclude=["10.0.0.0/8"])
    for a in ("fe80::1", "64:ff9b::a00:1", "64:ff9b:1::a00:1", "169.254.169.254", "10.1.2.3"):
        why = policy.decide(a).reason
        assert localise(why) != why and foreign(localise(why)) == [], (why, localise(why))


def test_statuses_and_codes_a_parameter_carries() -> None:
    words = [*(str(s) for s in Status), *VERIFY_CODES.values(), "invalid", *PARTS,
             # latency parts, SMTP dialogues (checks.mail), TLS rows, ports (web.reach), pmtu phases, roles
             "greets", "bad_greeting", "bad_ehlo", "silent", "no_starttls", "starttls_refused", "not_attempted",
             "not probed", "connect", "handshake", "request", "response", "body", "web server", "name server"]
    bad = {w: localise(w) for w in words if localise(w) == w or foreign(localise(w))}
    assert bad == {}
    assert localise("servfail") == "SERVFAIL" and localise("nodata") == "NODATA"


# --------------------------------------------------------------------------- phrases seen in a lab sweep

LAB = {
    "AAAA lookup: the name does not exist (NXDOMAIN)": "AAAA 查询\uff1a该名称不存在\uff08NXDOMAIN\uff09",
    "AAAA lookup: the resolver could not get an answer (SERVFAIL)":
        "AAAA 查询\uff1a解析服务器未能获得应答\uff08SERVFAIL\uff09",
    "MX lookup: servfail": "MX 查询\uff1aSERVFAIL",
    "timed out (during the TLS handshake)": "超时\uff08TLS 握手阶段\uff09",
    "refused": "连接被拒绝",
    "the name did not resolve": "该名称无法解析",
    "no usable IPv6 address": "没有可用的 IPv6 地址",
    "the domain publishes no MX: no mail service to test": "该域名未发布 MX 记录\uff1a没有可测试的邮件服务",
    "no final page over IPv6 and IPv4 to compare": "没有可供比较的 IPv6 和 IPv4 最终页面",
    "no usable IPv6 address (an IPv4-only site: dns.aaaa judges it)":
        "没有可用的 IPv6 地址\uff08纯 IPv4 网站\uff1a由 dns.aaaa 评判\uff09",
    "no name servers to probe: the NS lookup of lame.edu.test failed: the resolver could not get an answer"
    " (SERVFAIL)": "没有可探测的域名服务器\uff1alame.edu.test 的 NS 查询失败\uff1a"
                   "解析服务器未能获得应答\uff08SERVFAIL\uff09",
    "title differs: 'Example Trading - old website (2019)' over IPv6, 'stale-aaaa site' over IPv4":
        "标题不同\uff1aIPv6 为 'Example Trading - old website (2019)'\uff0cIPv4 为 'stale-aaaa site'",
    "size differs: 459 characters over IPv6, 873 over IPv4": "大小不同\uff1aIPv6 为 459 个字符\uff0cIPv4 为 873 个字符",
    "normalised body similarity 0.09": "规范化后的正文相似度为 0.09",
    "title differs: None over IPv6, 'x' over IPv4": "标题不同\uff1aIPv6 为 无\uff0cIPv4 为 'x'",
    "the name servers of garbage.com.test answered with malformed messages (ns.garbage.com.test 2001:db8:80::6f:"
    " malformed answer over UDP: BadPointer, ns.garbage.com.test 2001:db8:80::6f: malformed answer over UDP:"
    " BadPointer)": "garbage.com.test 的域名服务器返回了格式错误的消息\uff08"
                    "ns.garbage.com.test 2001:db8:80::6f\uff1aUDP 应答格式错误\uff1aBadPointer\uff1b"
                    "ns.garbage.com.test 2001:db8:80::6f\uff1aUDP 应答格式错误\uff1aBadPointer\uff09",
    "IPv4-IPv6 Translation (RFC 6052)": "IPv4/IPv6 转换地址\uff08RFC 6052\uff09",
    "64:ff9b::a00:1 (IPv4-IPv6 Translation (RFC 6052))":
        "64:ff9b::a00:1\uff08IPv4/IPv6 转换地址\uff08RFC 6052\uff09\uff09",
    "2001:db8:80::dead (timeout)": "2001:db8:80::dead\uff08超时\uff09",
    "ns2.deadns.gov.test 2001:db8:53::dead udp": "ns2.deadns.gov.test 2001:db8:53::dead\uff08UDP\uff09",
    "2001:db8:80::12 port 443 (2 tries)": "2001:db8:80::12 的 443 端口\uff08尝试 2 次\uff09",
    "certificate not valid: Hostname mismatch, certificate is not valid for 'cert-wrong-name.gov.test'.":
        "证书无效\uff1a主机名不匹配\uff0c证书对 'cert-wrong-name.gov.test' 无效",
    "HTTP protocol error: Server disconnected without sending a response.":
        "HTTP 协议错误\uff1a服务器未发送响应就断开了连接",
    "body slower than 2048 bytes/s (5 bytes in 4.0 s)": "正文传输慢于每秒 2048 字节\uff084.0 秒内收到 5 字节\uff09",
    "redirect loop back to http://hostile-loop.com.test/": "重定向循环回到 http://hostile-loop.com.test/",
    "none of the name servers of v4ns.com.test (ns1.v4ns.com.test, ns2.v4ns.com.test) has an IPv6 address"
    " (no AAAA glue or record)": "v4ns.com.test 的域名服务器\uff08ns1.v4ns.com.test, ns2.v4ns.com.test\uff09"
                                 "都没有 IPv6 地址\uff08没有 AAAA 粘连记录\uff0c也没有 AAAA 记录\uff09",
    "internal error: RuntimeError: a probe was cancelled unexpectedly":
        "内部错误\uff1aRuntimeError\uff1a探测意外被取消",
    "RRSIG 12345/8: expired; RRSIG 2222/13: verify failure":
        "RRSIG 签名 12345/8\uff1a已过期\uff1bRRSIG 签名 2222/13\uff1a签名验证失败",
    "connection broken: [Errno 104] Connection reset by peer": "连接中断\uff1a错误码 104\uff1a连接被对方重置",
}


@pytest.mark.parametrize(("en", "zh"), LAB.items(), ids=list(LAB))
def test_phrases_of_a_lab_sweep(en: str, zh: str) -> None:
    assert localise(en) == zh
    assert foreign(zh) == []


def test_resolver_failures_nest() -> None:
    resolver = ("the scanner's resolver (system) does not answer: A lookup: no answer from the resolver in time;"
                " AAAA lookup: could not reach the resolver; it did not answer a canary query either (None)")
    gave_up = resolver + "; the scanner's resolver did not answer, in 4 tries (at most 3 retries across resumes):" \
                         " not retried again"
    for text in (resolver, gave_up):
        out = localise(text)
        assert foreign(out) == [], out
        assert "A 查询\uff1a解析服务器未在时限内应答\uff1bAAAA 查询\uff1a无法连接解析服务器" in out, out
    ends = "扫描器的解析服务器未应答\uff0c共尝试 4 次\uff08续扫时最多重试 3 次\uff09\uff1a不再重试"
    assert localise(gave_up).endswith(ends)


# --------------------------------------------------------------------------- reasons rendered

REASONS: list[tuple[str, dict[str, object], list[str]]] = [
    ("dns_unresolved", {"name": "nxdomain.gov.test", "error": "AAAA lookup: the name does not exist (NXDOMAIN)"},
     ["nxdomain.gov.test 无法解析\uff1aAAAA 查询\uff1a该名称不存在\uff08NXDOMAIN\uff09。"]),
    ("tls_v6_failed", {"address": "2001:db8:80::13", "error": "timed out (during the TLS handshake)"},
     ["无法与 IPv6 地址 2001:db8:80::13 完成 TLS 握手\uff1a超时\uff08TLS 握手阶段\uff09。"]),
    ("web_v6_closed", {"address": "2001:db8:80::12", "port": 80, "status": "refused"},
     ["IPv6 地址 2001:db8:80::12 的 80 端口不可连接\uff08连接被拒绝\uff09\uff0c而 IPv4 可以。"]),
    ("not_tested", {"why": "no name servers to probe: the NS lookup of lame.edu.test failed: the resolver could not"
                           " get an answer (SERVFAIL)"}, ["lame.edu.test 的 NS 查询失败"]),
    ("not_tested", {"why": "the homepage loads no subresources (that may be contacted)"}, ["子资源"]),
    ("not_tested", {"why": "skipped"}, ["未测试\uff1a已跳过。"]),
    ("same_site_address_differs", {"address": "2001:db8:80::2a", "differences": [
        "title differs: 'Example Trading - old website (2019)' over IPv6, 'stale-aaaa site' over IPv4",
        "size differs: 459 characters over IPv6, 873 over IPv4", "normalised body similarity 0.31"]},
     ["2001:db8:80::2a", "'Example Trading - old website (2019)'", "'stale-aaaa site'", "459", "873"]),
    ("v6_path_broken", {"name": "garbage.com.test", "zone": "garbage.com.test", "reason":
                        "the name servers of garbage.com.test answered with malformed messages (ns.garbage.com.test"
                        " 2001:db8:80::6f: malformed answer over UDP: BadPointer)"},
     ["BadPointer", "ns.garbage.com.test 2001:db8:80::6f"]),
    ("aaaa_not_usable", {"name": "bogus-nat64.com.test", "addresses": [
        "64:ff9b::a00:1 (IPv4-IPv6 Translation (RFC 6052))", "fd12:3456:789a::1 (Unique-Local (RFC 4193))"]},
     ["64:ff9b::a00:1\uff08IPv4/IPv6 转换地址\uff08RFC 6052\uff09\uff09",
      "fd12:3456:789a::1\uff08唯一本地地址\uff08RFC 4193\uff09\uff09"]),
    ("ns_v6_unreachable", {"failed": ["ns2.deadns.gov.test 2001:db8:53::dead udp",
                                      "ns2.deadns.gov.test 2001:db8:53::dead tcp"]},
     ["\uff08UDP\uff09", "\uff08TCP\uff09"]),
    ("happy_eyeballs_v6_refused", {"name": "refused.edu.test", "port": 443, "addresses": ["2001:db8:80::12 (refused)"],
                                   "lost_s": 0.009, "he_lost_ms": 9.0, "delay_ms": 250},
     ["2001:db8:80::12\uff08连接被拒绝\uff09"]),
    ("hsts_v6_missing", {"addresses": ["2001:db8:80::2c (none)", "2001:db8:80::2d (max-age=0)",
                                       "2001:db8:80::2e (invalid: no max-age)"], "max_age": 31536000},
     ["2001:db8:80::2c\uff08无\uff09", "2001:db8:80::2d\uff08max-age=0\uff09",
      "2001:db8:80::2e\uff08无效\uff1a没有 max-age\uff09"]),
    ("probe_retried", {"attempts": 6, "successes": 4, "rate": "67%",
                       "probes": ["2001:db8::1 port 443 (2 tries)", "mx.a.test 2001:db8::25 (3 tries)"]},
     ["2001:db8::1 的 443 端口\uff08尝试 2 次\uff09", "mx.a.test 2001:db8::25\uff08尝试 3 次\uff09"]),
    ("frag_dropped", {"address": "2001:db8::53", "role": "name server"}, ["IPv6 域名服务器 地址 2001:db8::53"]),
    ("pmtu_blackhole", {"address": "2001:db8:1280::10", "phase": "handshake", "bytes": 0},
     ["\uff08TLS 握手\uff0c已收 0 字节\uff09"]),
    ("starttls_v6_missing", {"host": "mx.a.test", "address": "2001:db8::25", "status": "no_starttls"},
     ["\uff08不提供 STARTTLS\uff09"]),
    ("tls_v6_invalid", {"address": "2001:db8:80::19", "problem": "name_mismatch"},
     ["上的证书无效\uff1a与主机名不符。"]),
    ("check_error", {"error": "internal error: RuntimeError: a probe was cancelled unexpectedly"},
     ["内部错误\uff1aRuntimeError\uff1a探测意外被取消"]),
    ("http_v6_failed", {"address": "2001:db8:80::66", "error": "more than 10 redirects"}, ["重定向超过 10 次"]),
    ("dnssec_bogus", {"name": "a.test", "zone": "a.test", "at": "a.test", "problem":
                      "the DNSKEY RRset does not validate: RRSIG 12345/8: expired"},
     ["RRSIG 签名 12345/8\uff1a已过期"]),
]


@pytest.mark.parametrize(("code", "params", "parts"), REASONS, ids=[r[0] for r in REASONS])
def test_reasons_render_in_chinese_with_english_parameters(code: str, params: dict[str, object],
                                                           parts: list[str]) -> None:
    stored = copy.deepcopy(params)
    zh = render(code, params, "zh-CN")
    assert foreign(zh) == [], zh
    assert all(p in zh for p in parts), (parts, zh)
    assert foreign(fix_hint(code, params, "zh-CN")) == []
    # English is as it was: the parameters verbatim, lists joined with commas
    plain = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in params.items()}
    assert render(code, params, "en") == MESSAGES[code]["en"][0].format(**plain)
    assert fix_hint(code, params, "en") == MESSAGES[code]["en"][1].format(**plain)
    assert params == stored  # the stored parameters are never changed


def test_a_reason_without_free_text_is_as_before() -> None:
    params = {"name": "a.test", "count": 1, "with_v6": ["ns1.a.test"], "min": 2, "zone": "a.test"}
    assert render("ns_v6_few", params, "zh-CN") == \
        "a.test 只有 1 台权威服务器具有 IPv6 地址\uff08ns1.a.test\uff09\uff0c至少需要 2 台。"
    assert render("no_such_code", {"error": "timed out"}, "zh-CN") == "no_such_code: {'error': 'timed out'}"


ADDED_TERMS = {"Web", "Strict", "Transport", "Security", "max", "age", "ipv6hint", "ipv4hint", "alpn", "h2", "h3",
               "KiB", "IDNA", "EOF", "MSS", "gzip", "deflate", "br", "NXDOMAIN", "SERVFAIL", "REFUSED", "NODATA",
               "NOERROR", "FORMERR", "NOTIMP", "NOTAUTH", "AA", "TC", "RRSIG", "KSK", "ECDSA", "RSA", "P", "bogus",
               "Flag", "Day", "EHLO", "IETF", "TEST", "NET", "AS112", "AMT", "to4", "Teredo", "TURN", "DNS64", "SD",
               "ORCHID", "ORCHIDv2", "SRv6", "SID", "CAP", "RAW"}


def test_terms_added_for_chinese_text_are_technical_terms_it_uses() -> None:
    """Each term added for this (TERMS hides a word from the untranslated-English check) is one a
    Chinese text of the scanner or a measured value keeps: a term, never an English word."""
    assert ADDED_TERMS <= TERMS
    chinese = " ".join([*(e["zh-CN"][0] + " " + e["zh-CN"][1] for e in MESSAGES.values()), *EXACT.values(),
                        *(p.chinese for p in PATTERNS)])
    measured = {"gzip", "deflate", "br", "NOERROR", "NOTAUTH", "KiB"}  # in values: content-encodings, RCODEs
    unused = {t for t in ADDED_TERMS - measured if not re.search(rf"(?<![A-Za-z]){re.escape(t)}(?![A-Za-z0-9])",
                                                                  chinese)}
    assert unused == set()
    assert localise("answered NOTAUTH: does not serve a.test (lame)") == \
        "应答 NOTAUTH\uff1a不提供 a.test 的解析服务\uff08失效授权\uff09"


# --------------------------------------------------------------------------- unknown and hostile text


@pytest.mark.parametrize("text", ["the moon is made of cheese", "Ministry of Example Affairs", "ns1.a.test",
                                  "2001:db8::1", "'A page title (2019)'", "max-age=600", "HTTP 404", "a, b; c",
                                  "x (y)", "fooBar: baz", ""])
def test_unknown_text_is_kept(text: str) -> None:
    assert localise(text) == text


@given(st.text(alphabet=st.characters(blacklist_characters=string.ascii_letters)))
def test_text_without_letters_is_kept(text: str) -> None:
    assert localise(text) == text


@given(st.text())
def test_localise_never_raises(text: str) -> None:
    assert isinstance(localise(text), str)


_FRAGMENTS = sorted({piece for p in PATTERNS for piece in p.pieces if piece}
                    | set(list(EXACT)[::7]) | {", ", "; ", " (", ")", ": ", " ", "a", "None", "2001:db8::1"})


@settings(max_examples=30)
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=40))
def test_hostile_text_of_100_kb_completes(parts: list[str]) -> None:
    unit = "".join(parts)
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    assert isinstance(localise(text), str)


def _nested(depth: int) -> str:
    return "a (" * depth + "q" + "; b, c)" * depth


@pytest.mark.parametrize("text", [
    "timed out (" * 9000 + ")" * 9000, "a: " * 33000, "timed out, " * 9000, "x; " * 33000, "a is " * 20000,
    "the NS lookup of a failed: " * 3700, "'x' over IPv6, " * 7000 + "'y' over IPv4", (_nested(12) + ", ") * 1000,
    _nested(10000)[:100_000], "AAAA lookup: " * 8000 + "timed out", "timed out (" * 20 + "timed out" + ")" * 20])
def test_deep_and_long_text_completes(text: str) -> None:
    out = localise(text)
    assert isinstance(out, str)
    if text.startswith("timed out (timed out"):  # followed MAX_DEPTH deep, the rest kept
        assert out.startswith("超时\uff08" * (MAX_DEPTH + 1)) and "timed out (" in out


# --------------------------------------------------------------------------- every free text in the code

#: a value computed at run time inside a phrase (a name, an address, a count, a nested error)
DYN = "AAAA"
#: Reason parameters that carry measured text
_FREE_KEYS = {"error", "why", "differences", "reason", "problem", "status", "failure", "role", "phase"}
#: keyword arguments that carry it into observations and rows (o.error, a page's error, a row's problem)
_FREE_KWARGS = {"error", "why", "problem", "failure", "status"}
#: callables whose argument at this position is such text
_POSITIONAL = {"not_tested": 2, "observe": 3, "_not_run": 3, "Observation": 4, "_Broken": 2, "BodyError": 1,
               "_Budget": 0, "Decision": 1, "MxLookup": 2, "_Lookup": 4}
#: functions whose returned strings are such text (statuses, problems, phases, why nothing was probed)
_RETURNS = {"describe", "_phase", "not_probed", "_status", "_problem", "validate_rrset", "validate_dnskeys",
            "_directives", "parse_hsts", "classify_error", "url_problem", "_host_problem", "_port_problem",
            "_combined_status", "_exchange", "resolve_hop", "_route", "_measure", "follow_chain", "v6_address"}
#: names assigned such text, and lists it is appended to
_NAMES = {"why", "err", "error", "problem", "failure", "role", "_CAUSES", "VERIFY_CODES"}
_LISTS = {"diffs", "retried", "problems"}
#: modules whose text never reaches a reason: internetnl.py explains its comparison with internet.nl's scores
_SKIP = {"internetnl.py", "messages.py", "messages_zh.py"}


def _fstring(node: ast.JoinedStr) -> str:
    out, after_value = "", False
    for v in node.values:
        if isinstance(v, ast.Constant):
            out, after_value = out + str(v.value), False
            continue
        assert isinstance(v, ast.FormattedValue)
        glued = after_value or out[-1:].isalnum()  # a suffix such as f"embedding{layout}": its own words
        out += "" if glued else f"'{DYN}'" if v.conversion == ord("r") else DYN
        after_value = True
    return out


def _samples(node: ast.expr) -> list[str]:
    """The texts an expression builds, each run-time value standing as DYN."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [_fstring(node)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a, b in itertools.product(_samples(node.left), _samples(node.right))]
    if isinstance(node, ast.IfExp):
        return _samples(node.body) + _samples(node.orelse)
    return [DYN]


def _texts(node: ast.expr | None) -> list[str]:
    """The free texts an argument or value may be: its string constants and built strings."""
    if node is None:
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        return [s for s in _samples(node) if s.replace(DYN, "").strip()]
    if isinstance(node, ast.BoolOp):
        return [t for v in node.values for t in _texts(v)]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [t for e in node.elts for t in _texts(e)]
    if isinstance(node, ast.Dict):
        return [t for v in node.values for t in _texts(v)]
    return []


def _name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _call_texts(node: ast.Call) -> list[str]:
    name, out = _name(node.func), []
    if name in _POSITIONAL and len(node.args) > _POSITIONAL[name]:
        out += _texts(node.args[_POSITIONAL[name]])
    if name == "Reason" and len(node.args) > 1 and isinstance(node.args[1], ast.Dict):
        out += [t for k, v in zip(node.args[1].keys, node.args[1].values, strict=True)
                if isinstance(k, ast.Constant) and k.value in _FREE_KEYS for t in _texts(v)]
    if name == "append" and isinstance(node.func, ast.Attribute) and _name(node.func.value) in _LISTS:
        out += [t for a in node.args for t in _texts(a)]
    return out + [t for kw in node.keywords if kw.arg in _FREE_KWARGS for t in _texts(kw.value)]


def free_texts(source: str) -> list[str]:
    """The texts of ``source`` that become reason parameters (why a check was not tested, an error,
    a status, a difference...), as they read with run-time values standing as DYN."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            found += _call_texts(node)
        elif isinstance(node, ast.Tuple) and len(node.elts) >= 2 and isinstance(node.elts[0], ast.Attribute) \
                and _name(node.elts[0].value) == "Status":  # (Status.X, "why"): a classifier's answer
            found += _texts(node.elts[1])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in _RETURNS:
            found += [t for sub in ast.walk(node) if isinstance(sub, ast.Return) for t in _texts(sub.value)]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_name(t) in _NAMES for t in targets):
                found += _texts(node.value)
    return found


def untranslated(texts: list[str]) -> dict[str, str]:
    """The English texts that :func:`localise` leaves untranslated, or not wholly."""
    return {t: localise(t) for t in texts if foreign(t) and (localise(t) == t or foreign(localise(t)))}


def _code_texts() -> dict[str, str]:
    root = Path(v6scan.__file__).parent
    out: dict[str, str] = {}
    for f in sorted([*root.glob("*.py"), *root.glob("checks/*.py")]):
        if f.name not in _SKIP:
            for t in free_texts(f.read_text(encoding="utf-8")):
                out.setdefault(t, f.relative_to(root.parent).as_posix())
    return out


def test_every_free_text_in_the_code_reads_in_chinese() -> None:
    """Each string the checks, the resolver, the network classifier, the fetcher... put into a reason
    parameter reads in Chinese: a new English phrase must come with its translation."""
    texts = _code_texts()
    assert len(texts) > 200  # the scan still finds them
    for known in ("the name did not resolve", "no address offers HTTPS", "the resolver could not get an answer"
                  " (SERVFAIL)", "CNAME chain too long", "timed out (AAAA)", "AAAA lookup: AAAA", "web server",
                  "title differs: 'AAAA' over IPv6, 'AAAA' over IPv4", "AAAA (AAAA tries)", "no_starttls",
                  "AAAA: not contacted (use --allow-net to allow it)", "during the TLS handshake"):
        assert known in texts, known
    bad = untranslated(list(texts))
    assert bad == {}, {texts[t]: (t, zh) for t, zh in bad.items()}


@pytest.mark.parametrize("source", [
    'def rule(o, ev, p):\n    return not_tested(o.check, o.target, o.error or "a phrase nobody translated")\n',
    'def rule(o, ev, p):\n    return result("x", o.target, "fail", Reason("x", {"error": f"{o.target} went away"}))\n',
    'async def probe(ctx, run):\n    return CHECK.observe(run.name, Status.SKIPPED, None, "nothing happened here")\n',
    'def classify(e):\n    return Status.ERROR, f"the frobnicator broke: {e}"\n',
])
def test_the_scan_finds_a_new_english_phrase(source: str) -> None:
    texts = free_texts(source)
    assert len(texts) == 1 and untranslated(texts) == {texts[0]: texts[0]}


def test_only_chinese_is_localised() -> None:
    assert render("not_tested", {"why": "skipped"}, "en") == "Not tested: skipped."
    assert render("not_tested", {"why": "skipped"}, "fr") == "Not tested: skipped."


def test_failed_name_server_probes_listed_with_their_transport() -> None:
    """dns.ns_reach's ``failed`` items and dns.v6_path's "; "-separated failures, as a lab sweep of a
    garbage-answering name server gives them (an exception class is one token: the rest is the list)."""
    from v6scan.messages import foreign_words
    from v6scan.messages_zh import localise

    one = "ns.g.test 2001:db8::1 tcp: malformed answer over TCP: BadPointer"
    assert localise(one) == ("ns.g.test 2001:db8::1\uff08TCP\uff09\uff1aTCP "
                             "\u5e94\u7b54\u683c\u5f0f\u9519\u8bef\uff1aBadPointer")
    both = ("no name server of g.test answered over IPv6 (ns.g.test 2001:db8::1 udp: malformed answer over UDP:"
            " BadPointer; ns.g.test 2001:db8::1 tcp: malformed answer over TCP: ShortHeader)")
    text = localise(both)
    assert "BadPointer" in text and "ShortHeader" in text
    for kept in ("BadPointer", "ShortHeader", "ns.g.test", "g.test", "2001:db8::1"):
        text = text.replace(kept, " ")
    assert foreign_words(text) == []
