"""web.hsts_v6: the Strict-Transport-Security header parser, the rule (pure), the fetcher recording the
header, and the lab's ``hsts`` and ``hsts-v4-only`` scenarios (HSTS on both families; on IPv4's only).

The check is informational: weight 0 and not required in every built-in policy, so its warning never
changes a verdict or a score (asserted on the lab's sites with and without its observation).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import only, scan_sites
from tests.lab import Lab
from tests.lab.lab import add_headers
from tests.lab.scenarios import HSTS, by_id
from tests.test_fetch import fetch, response, sends
from v6scan.checks.web_hsts_v6 import CHECK, MAX_AGE_CAP, Hsts, HstsEvidence, HstsRow, parse_hsts
from v6scan.engine import TargetResult
from v6scan.fetch import HSTS_MAX, Page
from v6scan.model import Observation, Status
from v6scan.registry import CHECKS
from v6scan.scoring import BUILTIN_POLICIES, evaluate, load_policy, score_target

ONE_YEAR = 31536000

# --------------------------------------------------------------------------- the header parser


@pytest.mark.parametrize(("header", "want"), [
    ("max-age=31536000; includeSubDomains; preload", Hsts(ONE_YEAR, True, True)),
    ("max-age=31536000", Hsts(ONE_YEAR)),
    ('max-age="600"', Hsts(600)),  # a quoted-string value is allowed
    ("  MAX-AGE = 10 ;; IncludeSubdomains ; ", Hsts(10, True)),  # names are case-insensitive; empty directives
    ('max-age=5; foo="a;b"; bar', Hsts(5)),  # unknown directives ignored, a ";" inside quotes kept
    ("max-age=0", Hsts(0)),
    ("max-age=000120", Hsts(120)),
    ("max-age=" + "9" * 40, Hsts(MAX_AGE_CAP)),  # saturates, never int()'s digit limit
])
def test_valid_headers_parse(header: str, want: Hsts) -> None:
    assert parse_hsts(header) == want


@pytest.mark.parametrize(("header", "problem"), [
    ("", "no max-age"),
    ("includeSubDomains; preload", "no max-age"),
    ("max-age=5; max-age=6", "appears twice"),
    ("max-age=5; includeSubDomains; includesubdomains", "appears twice"),
    ("max-age=abc", "not a number"),
    ("max-age=-1", "not a number"),
    ('max-age=""', "not a number"),
    ("max-age=", "no value"),
    ("max-age=1, max-age=2", "unexpected character ','"),  # two headers joined: not one directive list
    ("max age=5", "unexpected character"),
    ("=5", "without a directive name"),
    ('max-age=5; foo="bar', "never ends"),
])
def test_invalid_headers_say_why(header: str, problem: str) -> None:
    h = parse_hsts(header)
    assert h.max_age is None and h.problem is not None and problem in h.problem


_HEADERISH = st.text(alphabet=' \t;=",\\aAeEgmx-0123456789sSpPrlodiIncubDMt', max_size=300)


def _consistent(h: Hsts) -> None:
    assert (h.problem is None) == (h.max_age is not None)
    assert h.max_age is None or 0 <= h.max_age <= MAX_AGE_CAP
    if h.problem is not None:
        assert not h.include_subdomains and not h.preload


@given(st.text(max_size=2000))
def test_parser_never_raises_on_any_text(text: str) -> None:
    _consistent(parse_hsts(text))


@given(_HEADERISH)
def test_parser_never_raises_on_header_like_text(text: str) -> None:
    _consistent(parse_hsts(text))


@given(max_age=st.integers(0, 10**12), sub=st.booleans(), preload=st.booleans(), quoted=st.booleans(),
       ows=st.sampled_from(["", " ", "\t", "  "]), data=st.data())
def test_parser_reads_what_a_server_sends(max_age: int, sub: bool, preload: bool, quoted: bool, ows: str,
                                         data: st.DataObject) -> None:
    age = f'"{max_age}"' if quoted else str(max_age)
    parts = [f"{data.draw(st.sampled_from(['max-age', 'Max-Age', 'MAX-AGE']))}{ows}={ows}{age}"]
    parts += ["includeSubDomains"] * sub + ["preload"] * preload + data.draw(st.lists(
        st.sampled_from(["report-uri=x", 'foo="a;b"', "ext"]), max_size=2, unique=True))
    order = data.draw(st.permutations(parts))
    assert parse_hsts(f"{ows};{ows}".join(order)) == Hsts(max_age, sub, preload)


@settings(max_examples=40)
@given(st.text(alphabet=' \t;=",\\am-x0', min_size=1, max_size=8))
def test_parser_is_linear_in_the_header_length(unit: str) -> None:
    """Any repeated pattern, 64 kB of it, parses at once (a quadratic parser takes minutes)."""
    text = unit * (65536 // len(unit) + 1)
    t0 = time.perf_counter()
    _consistent(parse_hsts(text))
    assert time.perf_counter() - t0 < 2.0


def test_parser_time_grows_linearly() -> None:
    def took(n: int) -> float:
        shapes = ('a="' + "\\" * n, ";" * n, "a=b;" * (n // 4), "max-age=" + "1" * n, " " * n, '"' * n)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for text in shapes:
                parse_hsts(text)
            best = min(best, time.perf_counter() - t0)
        return best

    small, big = took(20_000), took(160_000)
    assert big < 30 * small + 0.05, (small, big)  # 8 times the input: about 8 times the time, never 64


# --------------------------------------------------------------------------- the fetcher records it


def test_page_records_the_first_hsts_header_only_when_sent() -> None:
    page = fetch(sends(response(200, b"<title>x</title>", [("Strict-Transport-Security", "max-age=60"),
                                                           ("strict-transport-security", "max-age=0")])))
    assert page.hsts == "max-age=60"  # RFC 6797 section 8.1: the first one counts
    assert "hsts" not in page.to_json()  # web.hsts_v6 records it: web.http's pages do not change
    plain = fetch(sends(response(200, b"<title>x</title>")))
    assert plain.hsts is None


def test_a_long_hsts_header_is_cut() -> None:
    long = "max-age=60; " + "x" * 1000
    page = fetch(sends(response(200, b"", [("Strict-Transport-Security", long)])))
    assert page.hsts == long[:HSTS_MAX] and len(page.hsts) == HSTS_MAX


def test_page_json_without_hsts_is_unchanged() -> None:
    p = Page("https://a.test/", "2001:db8::1", Status.OK, http_status=200)
    assert set(p.to_json()) == {"url", "address", "status", "http_status", "timings", "size", "truncated",
                                "headers"}


# --------------------------------------------------------------------------- the rule (pure)

V6A, V6B, V4A, V4B = "2001:db8::a", "2001:db8::b", "192.0.2.1", "192.0.2.2"


def row(address: str, header: str | None) -> HstsRow:
    return HstsRow.parse("v6" if ":" in address else "v4", address, "https://a.test/", header)


def judge(*rows: HstsRow, status: Status = Status.OK, policy: str = "default") -> Any:
    o = CHECK.observe("a.test", status, HstsEvidence.build(rows), None if status is Status.OK else "why")
    return evaluate(o, load_policy(policy))


def test_hsts_on_both_families_passes() -> None:
    r = judge(row(V6A, "max-age=31536000; includeSubDomains"), row(V4A, "max-age=31536000; includeSubDomains"))
    assert (r.result, r.applicable, r.reasons) == ("pass", True, ())


def test_hsts_on_ipv4_only_warns_naming_the_ipv6_address() -> None:
    r = judge(row(V6A, None), row(V4A, f"max-age={ONE_YEAR}"))
    assert r.result == "warn" and r.severity is None
    (reason,) = r.reasons
    assert reason.code == "hsts_v6_missing"
    assert reason.params == {"addresses": [f"{V6A} (none)"], "max_age": ONE_YEAR}
    assert V6A in reason.text() and V6A in reason.text("zh-CN") and "Strict-Transport-Security" in reason.fix()


@pytest.mark.parametrize(("v6", "described"), [
    ("max-age=0", "max-age=0"),  # IPv6 tells browsers to forget HSTS
    ("max-age=300", "max-age=300"),  # shorter than IPv4's
    ("includeSubDomains", "invalid: no max-age"),
    ("max-age=1; max-age=1", "invalid: the directive max-age appears twice"),
])
def test_less_hsts_over_ipv6_warns(v6: str, described: str) -> None:
    r = judge(row(V6A, v6), row(V4A, "max-age=600"))
    assert r.result == "warn" and r.reasons[0].params["addresses"] == [f"{V6A} ({described})"]


def test_only_the_ipv6_addresses_that_fall_short_are_named() -> None:
    r = judge(row(V6A, "max-age=600"), row(V6B, None), row(V4A, "max-age=600"))
    assert r.reasons[0].params["addresses"] == [f"{V6B} (none)"]


def test_the_shortest_ipv4_max_age_is_the_yardstick() -> None:
    ev = HstsEvidence.build([row(V6A, "max-age=600"), row(V4A, "max-age=600"), row(V4B, f"max-age={ONE_YEAR}")])
    assert (ev.v4_max_age, ev.v6_short, ev.v6_hsts, ev.v4_hsts) == (600, (), (V6A,), (V4A, V4B))
    assert judge(*ev.pages).result == "pass"


@pytest.mark.parametrize("rows", [
    (row(V6A, "max-age=600"), row(V4A, None)),  # IPv6 gets more than IPv4
    (row(V6A, f"max-age={ONE_YEAR}"), row(V4A, "max-age=600")),
    (row(V6A, "max-age=600"),),  # IPv6-only
    (row(V6A, "max-age=600"), row(V6B, None)),  # IPv4 sends none either: nothing is lost over IPv6
])
def test_ipv6_with_at_least_ipv4s_hsts_passes(rows: tuple[HstsRow, ...]) -> None:
    assert judge(*rows).result == "pass"


@pytest.mark.parametrize("rows", [
    (row(V6A, None), row(V4A, None)),
    (row(V6A, None),),
    (row(V6A, "max-age=0"), row(V4A, "max-age=0")),  # max-age 0 turns HSTS off
    (row(V6A, "nonsense"), row(V4A, "max-age=x")),
])
def test_hsts_on_neither_family_is_information_only(rows: tuple[HstsRow, ...]) -> None:
    r = judge(*rows)
    assert (r.result, r.applicable) == ("info", False)
    assert r.reasons[0].code == "hsts_absent" and "a.test" in r.reasons[0].text("zh-CN")


def test_no_https_page_over_ipv6_is_not_tested() -> None:
    for r in (judge(row(V4A, "max-age=600")), judge(), judge(status=Status.SKIPPED)):
        assert (r.result, r.applicable) == ("not_tested", False)


def test_evidence_round_trips_and_omits_a_problem_it_does_not_have() -> None:
    ev = HstsEvidence.build([row(V6A, "preload"), row(V4A, "max-age=60; preload")])
    data = ev.to_json()
    assert HstsEvidence.from_json(data) == ev
    pages = data["pages"]
    assert isinstance(pages, list)
    v6, v4 = pages
    assert v6 == {"family": "v6", "address": V6A, "url": "https://a.test/", "header": "preload", "valid": False,
                  "max_age": None, "include_subdomains": False, "preload": False, "problem": "no max-age"}
    assert isinstance(v4, dict) and "problem" not in v4 and v4["preload"] is True
    assert set(HstsEvidence.from_json({}).to_json()) == {"pages", "v6_hsts", "v4_hsts", "v4_max_age", "v6_short",
                                                         "evidence_version"}


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_the_check_weighs_nothing_in_every_builtin_policy(name: str) -> None:
    p = load_policy(name)
    assert p.weight("web.hsts_v6") == 0 and not p.required("web.hsts_v6")
    r = judge(row(V6A, None), row(V4A, "max-age=600"), policy=name)
    assert r.result == "warn"  # shown under every policy, counted under none


def test_the_check_is_declared_as_an_informational_connect_check() -> None:
    c = CHECKS["web.hsts_v6"]
    assert c is CHECK and (c.weight, c.required, c.v6_dependent, c.stage) == (0, False, True, 2)
    assert list(CHECKS).index("web.hsts_v6") >= 17  # after the existing checks in the catalogue


# --------------------------------------------------------------------------- the lab


def test_the_lab_sends_hsts_from_the_scenarios_https_only() -> None:
    assert add_headers([HSTS]) == [f'    add_header {HSTS[0]} "{HSTS[1]}" always;']
    with pytest.raises(ValueError):
        add_headers([("Bad Name", "x")])
    both, v4_only = by_id()["hsts"], by_id()["hsts-v4-only"]
    assert all(e.headers == (HSTS,) for e in both.web)
    assert {(":" in e.addr, e.headers) for e in v4_only.web} == {(True, ()), (False, (HSTS,))}
    assert both.expect["verdict"] == v4_only.expect["verdict"] == "ready"


SITES = {"hsts": "hsts.gov.test", "hsts-v4-only": "hsts-v4.edu.test", "healthy": "healthy.gov.test"}


@pytest.fixture(scope="module")
def scanned(lab: Lab) -> dict[str, TargetResult]:
    """The three sites scanned with every check (the verdict needs every required one)."""
    return scan_sites(lab, SITES)


def hsts_obs(r: TargetResult) -> Observation:
    return only(r, "web.hsts_v6")


def test_hsts_on_both_families_passes_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    o = hsts_obs(scanned["hsts"])
    assert o.status is Status.OK
    ev = HstsEvidence.from_json(o.evidence)
    assert [(p.family, p.address) for p in ev.pages] == [("v6", "2001:db8:80::2b"), ("v4", "203.0.113.99")]
    for p in ev.pages:
        assert (p.header, p.valid, p.max_age, p.include_subdomains, p.preload) == (HSTS[1], True, ONE_YEAR, True,
                                                                                   False)
        assert p.url == "https://hsts.gov.test/"
    assert ev.v6_short == () and ev.v4_max_age == ONE_YEAR
    assert evaluate(o, load_policy()).result == "pass"
    http = next(x for x in scanned["hsts"].observations if x.check == "web.http")
    assert all("hsts" not in h for c in http.evidence["chains"] for h in c["hops"])  # web.http's pages unchanged


def test_hsts_on_ipv4_only_warns_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    r = evaluate(hsts_obs(scanned["hsts-v4-only"]), load_policy())
    assert r.result == "warn"
    (reason,) = r.reasons
    assert reason.code == "hsts_v6_missing"
    assert reason.params == {"addresses": ["2001:db8:80::2c (none)"], "max_age": ONE_YEAR}
    assert "2001:db8:80::2c" in reason.text()


def test_a_site_without_hsts_is_information_only_in_the_lab(scanned: dict[str, TargetResult]) -> None:
    r = evaluate(hsts_obs(scanned["healthy"]), load_policy())
    assert (r.result, r.applicable, r.reasons[0].code) == ("info", False, "hsts_absent")
    http = next(x for x in scanned["healthy"].observations if x.check == "web.http")
    assert all("hsts" not in h for c in http.evidence["chains"] for h in c["hops"])


@pytest.mark.parametrize("policy", BUILTIN_POLICIES)
@pytest.mark.parametrize("sid", list(SITES))
def test_hsts_never_changes_a_verdict_or_a_score(scanned: dict[str, TargetResult], sid: str, policy: str) -> None:
    r = scanned[sid]
    p = load_policy(policy)
    with_it = score_target(r.target.name, r.observations, p)
    without = score_target(r.target.name, [o for o in r.observations if o.check != "web.hsts_v6"], p)
    assert (with_it.verdict, with_it.score, with_it.points) == (without.verdict, without.score, without.points)
    if policy == "default":
        assert with_it.verdict == by_id()[sid].expect["verdict"] == "ready", with_it.reasons
