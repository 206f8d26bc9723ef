"""The link and subresource parser (a real HTML parser) on ordinary and hostile pages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from v6scan.checks.links import parse_links


def test_links_resolved_deduplicated_and_filtered() -> None:
    html = """<html><head><base href="https://example.org/news/">
    <link rel="stylesheet" href="/s.css"><link rel="preload" as="font" href="//fonts.example.net/f.woff2">
    <link rel="alternate" href="/feed.xml"></head><body>
    <a href="a.html">a</a><a href="a.html#top">a again</a><a href="https://other.example/">x</a>
    <a href="mailto:x@example.org">m</a><a href="javascript:alert(1)">j</a><a href="#frag">f</a>
    <a>no href</a><area href="/map"><img src="/i.png"><script src="https://cdn.example.com/j.js"></script>
    <iframe src="/embed"></iframe><video src="/v.mp4" poster="/p.jpg"></video><a href="http://[::1">bad</a>
    </body></html>"""
    out = parse_links(html, "https://example.org/")
    # "#frag" points at the base document (/news/), fragments dropped, duplicates kept once
    assert out.links == ["https://example.org/news/a.html", "https://other.example/", "https://example.org/news/",
                         "https://example.org/map"]
    assert out.resources == [
        ("stylesheet", "https://example.org/s.css"), ("font", "https://fonts.example.net/f.woff2"),
        ("img", "https://example.org/i.png"), ("script", "https://cdn.example.com/j.js"),
        ("iframe", "https://example.org/embed"), ("video", "https://example.org/v.mp4"),
        ("video", "https://example.org/p.jpg")]


def test_hostile_markup_does_not_break_parsing() -> None:
    html = "<a href='/ok'>ok</a><!-- <a href='/hidden'> --><script>var s = '<a href=\"/fake\">';</script>" \
           "<a href=/unquoted>u</a><a href='/x' href='/y'>dup</a><" + "<div>" * 10000
    out = parse_links(html, "https://example.org/")
    assert "https://example.org/ok" in out.links and "https://example.org/unquoted" in out.links
    assert "https://example.org/hidden" not in out.links and "https://example.org/fake" not in out.links


@given(st.text(max_size=3000))
def test_parse_links_never_raises(text: str) -> None:
    out = parse_links(text, "https://example.org/")
    assert all(u.startswith(("http://", "https://")) for u in out.links)
