"""Titles, links and the page comparison on ordinary, arbitrary and pathological markup.

The old implementations (a backtracking title regex, ``html.parser``, the old normaliser) are
copied here as oracles: on well-formed pages the linear ones must give the same answers.  Speed
is measured in ``benchmarks/markup.py``, never here: the pathological inputs must simply be
answered (right) within the test timeout.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.markup_oracles import old_normalise, old_parse_links, old_title_of
from v6scan import similarity
from v6scan.markup import (
    BAD_PORTS,
    MAX_PARSE,
    MAX_REJECTED,
    RESOURCE_TAGS,
    PageLinks,
    parse_links,
    title_of,
    url_problem,
)
from v6scan.similarity import MAX_COMPARE, Comparison, compare, normalise

BASE = "https://example.org/"
MB = 1 << 20
PAGE = {"http_status": 200, "title": "t", "path": "/", "url": BASE}



def lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


# --- strategies ------------------------------------------------------------------------------------

MARKUP = st.text(alphabet=st.sampled_from(list("<>/!-=\"' ?&#;:abtiltehrfscp\n\x00é")), max_size=400)
ANY = st.one_of(st.text(max_size=2000), MARKUP)
WORDS = st.text(alphabet="abc xyz\n", max_size=12)
PATH = st.one_of(st.just(""), st.from_regex(r"[abcxyz019._%-]{1,4}(/[abcxyz019._%-]{1,4}){0,2}/?", fullmatch=True))
HOSTS = st.sampled_from(["example.org", "cdn.example.net", "other.example", "sub.example.org:8080", "EXAMPLE.ORG"])
URL = st.one_of(
    st.builds(lambda h, p: f"https://{h}/{p}", HOSTS, PATH),
    st.builds(lambda h, p: f"//{h}/{p}", HOSTS, PATH),
    PATH.map(lambda p: "/" + p),
    PATH,
    PATH.map(lambda p: p + "#frag"),
    PATH.map(lambda p: p + "?a=1&amp;b=2"),
    st.sampled_from(["#top", "mailto:x@example.org", "javascript:void(0)", "tel:+1555", "data:,x"]),
)


def _attr(name: str, value: str, quote: str) -> str:
    if quote == "" and (not value or re.search(r"[\s>\"'=`<]", value)):
        quote = '"'
    return f"{name}={quote}{value}{quote}"


@st.composite
def elements(draw: st.DrawFn) -> str:
    q = draw(st.sampled_from(['"', "'", ""]))
    u = draw(URL)
    kind = draw(st.integers(0, 13))
    up = draw(st.booleans())

    def tag(t: str) -> str:
        return t.upper() if up else t

    return [
        draw(WORDS),
        f"<{tag('a')} {_attr('href', u, q)} class=x>{draw(WORDS)}</a>",
        f"<area {_attr(tag('href'), u, q)}>",
        f"<{tag('img')} alt='' {_attr('src', u, q)}>",
        f"<link rel=stylesheet {_attr('href', u, q)}>",
        f"<link rel=\"preload icon\" as=font {_attr('href', u, q)}/>",
        f"<link rel=alternate {_attr('href', u, q)}>",
        f"<script {_attr('src', u, q)}></script>",
        "<script>var s = \"<a href='/fake'>\"; if (a < b) {}</script>",
        "<style>a { color: red } /* <img src=/no.png> */</style>",
        f"<!-- <a href='/hidden'> {draw(WORDS)} -->",
        f"<video {_attr('src', u, q)} {_attr('poster', u + 'p', q)}></video>",
        f"<div class=\"c\" data-x='{draw(WORDS)}'><p>{draw(WORDS)}</p><br/></div>",
        f"<object {_attr('data', u, q)}></object>",
    ][kind]


@st.composite
def pages(draw: st.DrawFn) -> str:
    head = "<!DOCTYPE html><html><head>"
    if draw(st.booleans()):
        head += f'<base href="{draw(st.sampled_from(["https://example.org/news/", "/sub/", "http://other.example/x/y"]))}">'
    if draw(st.booleans()):
        head += f"<title>{draw(WORDS)}</title>"
    return head + "</head><body>" + "".join(draw(st.lists(elements(), max_size=25))) + "</body></html>"


TOKEN = st.text(alphabet="0123456789abcdefABCDEF", min_size=1, max_size=40)
FRAGMENTS = st.one_of(
    st.sampled_from(["hello", "world", "Welcome", "<p>", "</p>", '<div class="x">', "</div>", "<br>"]),
    st.integers(0, 10**13).map(str),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC).isoformat()),
    TOKEN.map(lambda t: f'<script nonce="{t}">x()</script>'),
    st.tuples(st.sampled_from(["__VIEWSTATE", "__EVENTVALIDATION", "csrfmiddlewaretoken", "authenticity_token",
                               "q", "email", "_token", "X-CSRF"]), TOKEN).map(
        lambda nt: f'<input type="hidden" name="{nt[0]}" value="{nt[1]}">'),
    st.tuples(st.sampled_from(["csrf-token", "description", "generator"]), TOKEN).map(
        lambda nt: f'<meta name="{nt[0]}" content="{nt[1]}">'),
    st.text(alphabet="0123456789abcdef", min_size=20, max_size=40),
    st.text(alphabet="ABCxyz0189+/_-", min_size=28, max_size=40).map(lambda t: t + "="),
)
NORMAL_TEXT = st.lists(st.tuples(FRAGMENTS, st.sampled_from([" ", "", "\n"])), max_size=30).map(
    lambda xs: "".join(f + s for f, s in xs))


# --- titles ----------------------------------------------------------------------------------------


def test_titles() -> None:
    assert title_of("<title></title><script>alert(1)</script>") == ""
    assert title_of("<TITLE>a &lt;b&gt;\n c</TITLE>") == "a <b> c"
    assert title_of('<title lang="en">  x  </title >') == "x"
    assert title_of("<p>no title</p>") is None
    assert title_of("<title>never closed") is None
    assert title_of("<title>" + "x" * 400 + "</title>") == "x" * 300
    assert title_of("<title>&#" + "1" * 5000 + ";&#00000000065;&#x" + "1" * 5000 + "</title>") == "\ufffdA\ufffd"
    late = "<p>" + " " * 70_000 + "<title>late</title>"
    assert title_of(late) is None and title_of(late, limit=80_000) == "late"


@given(ANY)
def test_title_matches_the_old_regex_on_any_text(text: str) -> None:
    assert title_of(text) == old_title_of(text)


@given(st.lists(st.one_of(WORDS, st.sampled_from(["<title>", "<TITLE lang=en>", "</title>", "</title >", "<title",
                                                    ">", "&amp;", "<p>", "</TiTlE\n>", "&lt;b&gt;"])), max_size=30))
def test_title_matches_the_old_regex_on_title_markup(parts: list[str]) -> None:
    text = "".join(parts)
    assert title_of(text) == old_title_of(text)


# --- links -----------------------------------------------------------------------------------------


def test_links_resolved_deduplicated_filtered_and_rejected() -> None:
    page = """<html><head><base href="https://example.org/news/"><base href="https://ignored.example/">
    <link rel="stylesheet" href="/s.css"><link rel="preload" as="font" href="//fonts.example.net/f.woff2">
    <link rel="alternate" href="/feed.xml"></head><body>
    <a href="a.html">a</a><a href="a.html#top">a again</a><a href="https://other.example/">x</a>
    <a href="mailto:x@example.org">m</a><a href="javascript:alert(1)">j</a><a href="#frag">f</a>
    <a>no href</a><area href="/map"><img src="/i.png"><script src="https://cdn.example.com/j.js"></script>
    <iframe src="/embed"></iframe><video src="/v.mp4" poster="/p.jpg"></video><a href="http://[::1">bad</a>
    <a href="http://10.0.0.1/">ip</a><a href="http://a.example:25/">smtp</a><a href="http://a.example:0/">0</a>
    <img src="data:image/png;base64,AAAA"><a href="tel:+1">t</a><a href="http://a.example:99999/">p</a>
    </body></html>"""
    out = parse_links(page, BASE)
    assert out.links == ["https://example.org/news/a.html", "https://other.example/", "https://example.org/news/",
                         "https://example.org/map"]
    assert out.resources == [
        ("stylesheet", "https://example.org/s.css"), ("font", "https://fonts.example.net/f.woff2"),
        ("img", "https://example.org/i.png"), ("script", "https://cdn.example.com/j.js"),
        ("iframe", "https://example.org/embed"), ("video", "https://example.org/v.mp4"),
        ("video", "https://example.org/p.jpg")]
    assert out.rejected == [
        ("javascript:alert(1)", "scheme javascript"), ("http://[::1", "malformed URL"),
        ("http://10.0.0.1/", "IP-literal host"), ("http://a.example:25/", "blocked port 25 (fetch standard bad port)"),
        ("http://a.example:0/", "port 0"), ("data:image/png;base64,AAAA", "scheme data"),
        ("http://a.example:99999/", "invalid port")]
    assert out.truncated is False and out.scanned == len(page)


def test_the_tokeniser_follows_the_html_standard() -> None:
    page = ("<a href='/ok'>ok</a><!-- <a href='/hidden'> --><script>var s = '<a href=\"/fake\">';</script>"
            "<STYLE>x{}</style ><a href=/unquoted>u</a><a href='/first' href='/second'>dup</a>"
            "<!--><a href=/after-empty-comment><!---><a href=/after-empty-comment-2>"
            "<a href='/q?a=1&copy=2&amp;b=&lt;'><a href=/x&#x41;&#66><a href=/y&#1234567890123;&#x10FFFF1>"
            "<img\nsrc\n=\n'/spaced.png'/><a title='>' href=/gt-in-quotes></a><? bogus <a href=/no> ?>"
            "</a title='<a href=/no2>'><a href=/end")  # the text ends inside this tag: it is dropped
    out = parse_links(page, BASE)
    assert out.links == ["https://example.org/ok", "https://example.org/unquoted", "https://example.org/first",
                         "https://example.org/after-empty-comment", "https://example.org/after-empty-comment-2",
                         "https://example.org/q?a=1&copy=2&b=<", "https://example.org/xAB",
                         "https://example.org/y\ufffd\ufffd",
                         "https://example.org/gt-in-quotes"]
    assert out.resources == [("img", "https://example.org/spaced.png")]
    unclosed = parse_links("<a href=/a><!-- <a href=/b>" + "x" * 1000 + "<a href=/c>", BASE)
    assert unclosed.links == ["https://example.org/a"] and not unclosed.truncated
    script = parse_links("<script src=/s.js><a href=/in-script>", BASE)
    assert script.links == [] and script.resources == [("script", "https://example.org/s.js")]


@pytest.mark.parametrize("url, reason", [
    ("https://example.org/x?y#z", None), ("http://example.org:8080/", None), ("http://bücher.example/", None),
    ("http://a.test:/", None), ("https://xn--bcher-kva.example/", None),
    ("http://a.test:99999/", "invalid port"), ("http://a.test:x/", "invalid port"),
    ("http://a.test:-1/", "invalid port"),
    ("http://a.test:٣/", "invalid port"), ("http://a.test:0/", "port 0"), ("http://a.test:00/", "port 0"),
    ("http://a.test:25/", "blocked port 25 (fetch standard bad port)"),
    ("http://a.test:6697/", "blocked port 6697 (fetch standard bad port)"),
    ("http://[2001:db8::1]/", "IP-literal host"), ("http://10.0.0.1/", "IP-literal host"),
    ("http://0x7f.1/", "IP-literal host"), ("http://2130706433/", "IP-literal host"),
    ("javascript:alert(1)", "scheme javascript"), ("DATA:,x", "scheme data"), ("vbscript:x", "scheme vbscript"),
    ("mailto:x@example.org", "scheme mailto"), ("ftp://example.org/", "scheme ftp"),
    ("//example.org/", "not an absolute URL"), ("http:///x", "no host"), ("http://[::1/", "malformed URL"),
    ("http://a.test/" + "x" * 3000, "URL longer than 2048 characters"),
    ("http://bad\x07host.test/", "invalid host (character '\\x07')"),
    ("http://a b.test/", "invalid host (character ' ')"), ("http://ex%61mple.org/", "invalid host (character '%')"),
    ("http://a..b/", "invalid host (empty or overlong label)"),
    ("http://" + "a" * 64 + ".test/", "invalid host (empty or overlong label)"),
    ("http://xn--zz.test/", "invalid host (not valid IDNA)"),
    ("http://a\u3000b.test/", "invalid host (not valid IDNA)"),
])
def test_url_problem(url: str, reason: str | None) -> None:
    assert url_problem(url) == reason


def test_bad_ports_are_the_fetch_standards() -> None:
    assert {0, 1, 21, 22, 25, 110, 143, 465, 587, 993, 995, 4190, 6679, 10080} <= BAD_PORTS
    assert not {80, 443, 8080, 8443, 3000, 6379} & BAD_PORTS and len(BAD_PORTS) == 83


def test_caps_and_counts() -> None:
    imgs = "".join(f'<img src="https://h{i}.example/x.png">' for i in range(30))
    out = parse_links(imgs, BASE, max_urls=10)
    assert len(out.resources) == 10 and out.truncated and out.scanned == imgs.index("<img", 10 * 34)
    assert out.resources[-1] == ("img", "https://h9.example/x.png")
    out = parse_links(imgs + "<a href=/x>" * 5, BASE, max_urls=31)
    assert len(out.resources) == 30 and out.links == ["https://example.org/x"] and not out.truncated
    out = parse_links(imgs, BASE, limit=100)
    assert out.truncated and out.scanned == 100 and len(out.resources) == 2
    bad = "".join(f'<a href="javascript:f({i})">' for i in range(500))
    assert len(parse_links(bad, BASE).rejected) == MAX_REJECTED
    long = parse_links(f'<a href="/{"x" * 5000}">', BASE)
    assert long.links == [] and long.rejected == [("/" + "x" * 199, "URL longer than 2048 characters")]


@settings(max_examples=200)
@given(pages())
def test_links_match_html_parser_on_well_formed_pages(page: str) -> None:
    links, resources = old_parse_links(page, BASE)
    out = parse_links(page, BASE)
    assert (out.links, out.resources) == (links, resources)
    assert {reason for _, reason in out.rejected} <= {"scheme javascript", "scheme data"}
    assert not out.truncated and out.scanned == len(page)


@given(ANY)
def test_parse_links_never_raises(text: str) -> None:
    out = parse_links(text, BASE)
    assert isinstance(out, PageLinks)
    assert all(u.startswith(("http://", "https://")) and url_problem(u) is None for u in out.links)
    assert all(k in {*RESOURCE_TAGS, "font", "stylesheet", "link"} and url_problem(u) is None
               for k, u in out.resources)
    assert all(len(v) <= 200 and isinstance(r, str) for v, r in out.rejected) and len(out.rejected) <= MAX_REJECTED
    assert len(set(out.links)) == len(out.links) and out.scanned <= len(text) and not out.truncated


@given(st.text(max_size=300))
def test_url_problem_never_raises(text: str) -> None:
    for u in (text, "http://" + text, "https://example.org:" + text, urljoin(BASE, text)):
        assert url_problem(u) is None or isinstance(url_problem(u), str)


# --- comparison ------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(NORMAL_TEXT)
def test_normalise_matches_the_old_one_on_normal_pages(text: str) -> None:
    assert normalise(text) == old_normalise(text)


def test_per_request_values_compare_equal() -> None:
    a = ('<meta name="csrf-token" content="abc"><input type=hidden name=authenticity_token value="x1">'
         '<p>Generated 2026-05-09T07:35:25.123Z (1778312125) for 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c'
         ' <span nonce=\'q1\'>3 visitors</span></p>')
    b = ('<meta name="csrf-token" content="def"><input type=hidden name=authenticity_token value="y22">'
         '<p>Generated 2026-05-10T08:00:00Z (1778400000) for 60303ae22b998861bce3b28f33eec1be758a213c86c93c07'
         ' <span nonce=\'zz9\'>41 visitors</span></p>')
    assert normalise(a) == normalise(b)
    assert compare(PAGE, PAGE, a, b).similarity == 1.0


@given(st.lists(st.sampled_from("abcde"), max_size=40), st.lists(st.sampled_from("abcde"), max_size=40))
def test_similarity_is_the_exact_word_lcs_on_small_pages(a: list[str], b: list[str]) -> None:
    ta, tb = " ".join(a), " ".join(b)
    wa, wb = normalise(ta).split(" "), normalise(tb).split(" ")
    want = 1.0 if wa == wb else min(0.9999, round(2 * lcs(wa, wb) / (len(wa) + len(wb)), 4))
    assert compare(PAGE, PAGE, ta, tb).similarity == want


@given(ANY, ANY)
def test_compare_never_raises_and_is_bounded(a: str, b: str) -> None:
    c = compare(PAGE, {**PAGE, "title": "u"}, a, b)
    assert isinstance(c, Comparison) and 0.0 <= c.similarity <= 1.0 and 0.0 <= c.quick_ratio <= 1.0
    assert (c.similarity == 1.0) == (normalise(a) == normalise(b))
    assert compare(PAGE, PAGE, a, a).similarity == 1.0 and c.size_v6 == len(a) and not c.same_title


def test_different_pages_score_low_and_say_why() -> None:
    home = "<html><head><title>Example</title></head><body><h1>Example</h1>" + "<p>News of the day.</p>" * 30
    nginx = "<html><title>Welcome to nginx!</title><body><h1>It works!</h1><p>default</p><hr></html>"
    c = compare(PAGE, {**PAGE, "http_status": 404, "title": "x"}, nginx, home)
    assert c.similarity < 0.2 and any("size differs" in d for d in c.differences)
    assert any("HTTP status differs" in d for d in c.differences)


def test_the_word_diff_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """However hostile the pages, the exact diff never takes more than its step budget."""
    spent: list[int] = []
    real = similarity._distance

    def counting(a: list[str], b: list[str], limit: int) -> tuple[int | None, int]:
        d, s = real(a, b, limit)
        spent.append(s)
        return d, s

    monkeypatch.setattr(similarity, "_distance", counting)
    words = [f"w{i}" for i in range(30_000)]
    for a, b in [(["x", "y"] * 15_000, ["x"] * 30_000), (words, words[::-1]), (words, words[1::2] + words[::2]),
                 (words, [w if i % 7 else "z" for i, w in enumerate(words)])]:
        spent.clear()
        r = similarity._ratio(" ".join(a), " ".join(b))[0]
        assert 0.0 <= r < 1.0
        # the last diff may overrun the budget by one snake (at most both pages' lengths); none follows
        assert sum(spent) <= similarity.MAX_DIFF_STEPS + len(a) + len(b)


# --- pathological pages ----------------------------------------------------------------------------


def _compare_with_itself_and_a_variant(text: str) -> None:
    assert compare(PAGE, PAGE, text, text).similarity == 1.0
    variant = text[:1000] + " an extra word " + text[1000:]
    c = compare(PAGE, PAGE, text, variant)
    assert 0.0 <= c.similarity < 1.0 and c.size_v4 == len(variant)


def test_unclosed_title_and_50000_tag_fragments() -> None:
    text = "<title>" + '<title><a href="/p" ' * 50_000  # 1 MB
    assert len(text) > MB - 50_000
    assert title_of(text) is None
    out = parse_links(text, BASE)
    assert out.links == ["https://example.org/p"] and out.truncated and out.scanned == MAX_PARSE
    _compare_with_itself_and_a_variant(text)


def test_one_megabyte_line_of_words() -> None:
    text = " ".join(f"word{i % 997}" for i in range(MB // 8))
    assert title_of(text) is None
    out = parse_links(text, BASE)
    assert out.links == [] and out.truncated and out.scanned == MAX_PARSE
    assert normalise(text) == normalise(text[:MAX_COMPARE])
    _compare_with_itself_and_a_variant(text)


def test_100000_nested_tags() -> None:
    text = "<title>deep</title>" + "<div>" * 100_000 + '<a href="/deep">x</a>' + "</div>" * 100_000
    assert title_of(text) == "deep"
    out = parse_links(text, BASE, limit=len(text))
    assert out.links == ["https://example.org/deep"] and not out.truncated
    _compare_with_itself_and_a_variant(text)


def test_50000_unterminated_attribute_quotes() -> None:
    text = '<a href="' * 50_000
    assert title_of(text) is None
    out = parse_links(text, BASE)  # the text ends inside the first tag: no tag at all
    assert out == PageLinks(scanned=len(text))
    _compare_with_itself_and_a_variant(text)


def test_unterminated_comment() -> None:
    text = "<a href=/before><!--" + "<a href=/x>" * (MB // 11) + "<title>t</title>"
    assert title_of(text) is None and title_of(text, limit=len(text)) == "t"  # not the tokeniser's business
    out = parse_links(text, BASE, limit=len(text))
    assert out.links == ["https://example.org/before"] and not out.truncated and out.scanned == len(text)
    _compare_with_itself_and_a_variant(text)


def test_20000_distinct_image_hosts() -> None:
    text = "".join(f'<img src="https://h{i}.example/x.png">' for i in range(20_000))
    out = parse_links(text, BASE, limit=len(text), max_urls=50_000)
    assert out.resources == [("img", f"https://h{i}.example/x.png") for i in range(20_000)]
    assert not out.truncated
    capped = parse_links(text, BASE)
    assert len(capped.resources) == 10_000 and capped.truncated and capped.scanned < MAX_PARSE
    _compare_with_itself_and_a_variant(text)


@pytest.mark.parametrize("text", [
    '<input name="csrf' * 60_000, 'nonce="' * 150_000, "a" * MB + "g", "<meta " * 170_000,
    "x " * (MB // 2), "-" * MB, "<" * MB, "&" * MB, "<a " + "&#" + "1" * MB,
])
def test_other_pathological_pages(text: str) -> None:
    assert title_of(text) is None
    out = parse_links(text, BASE)
    assert out.links == [] and out.truncated
    _compare_with_itself_and_a_variant(text)
