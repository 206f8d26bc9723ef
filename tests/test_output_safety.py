"""Text that comes from scanned sites (titles, Location and link hosts, errors) in every ``check``
output format: never raw control characters on a terminal, never a broken machine format, never
an injected GitHub workflow command, never live Markdown in the step summary (issue 15, part 6)."""

from __future__ import annotations

import html
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v6scan.engine import TargetResult
from v6scan.model import Observation, Status
from v6scan.output import Outcome, github, render
from v6scan.scoring import load_policy, score_target
from v6scan.targets import parse_target

NAME = "example.org"
V6 = "2001:db8:80::10"

#: what a hostile site can put in a title, a Location header, a link or an error message
HOSTILE = [
    "\x1b[2J\x1b]0;pwned\x07",  # clear screen, set the window title, BEL
    "nul\x00byte", "del\x7f", "c1\x9b31mred\x85next",  # NUL, DEL, C1 CSI and NEL
    "line\u2028sep\u2029para", "\u202egnp.exe", "bidi\u2066iso\u2069\u200f",  # separators, bidi
    "lone\ud800surrogate\udfff", "\ufffe\uffff", "zero\u200bwidth\ufeff\U000e0041tag",
    "title\n::set-output name=x::y", "\r\n::add-mask::secret", "%0A::warning::forged", "a,b:c%",
    "[click](http://evil)", "![x](http://evil/i.png)", "<img src=x>", "<script>alert(1)</script>",
    "# heading | cell | `code` *em* _u_ ~~s~~ &amp; $x$ \\", "ok\ttab",
]

#: characters that must never reach a terminal raw (C0 but newline, DEL, C1, separators, bidi)
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                    "\ud800-\udfff]")
ANSI_STYLE = re.compile("\x1b\\[[0-9;]*m")  # what click.style adds: ours, not the site's


def hostile_outcome(s: str) -> Outcome:
    """A target whose site puts ``s`` in a redirect's Location host, page titles, a link, a
    subresource host, an MX host and error texts; each lands in a reason."""
    host = f"evil{s}.example"
    url = f"https://{host}/{s}"
    redirect: dict[str, Any] = {"url": f"https://{NAME}/", "address": V6, "status": "ok", "http_status": 302,
                                "timings": {}, "location": url, "title": s}
    broken: dict[str, Any] = {"url": f"http://{NAME}/", "address": V6, "status": "timeout", "http_status": None,
                              "timings": {}, "title": s, "error": s}
    http = {"chains": [{"family": "v6", "start": f"https://{NAME}/", "status": "unreachable", "hops": [redirect],
                        "final": None, "error": f"redirect to {host}, which has no AAAA record",
                        "dead_end": host},
                       {"family": "v6", "start": f"http://{NAME}/", "status": "timeout", "hops": [broken],
                        "final": None, "error": s}],
            "v6_ok": [], "v6_failed": [V6], "v6_dead_ends": [host], "v4_ok": [], "v4_failed": []}
    obs = [
        Observation("dns.resolve", NAME, Status.OK, {"a": {}, "aaaa": {}}),
        Observation("dns.aaaa", NAME, Status.OK, {"addresses": [{"address": V6, "public": True, "usable": True,
                                                                 "kind": "global", "name": "global"}],
                                                  "usable": [V6], "not_usable": []}),
        Observation("web.tls", NAME, Status.SKIPPED, {"title": s}, s),
        Observation("web.http", NAME, Status.OK, http),
        Observation("web.same_site", NAME, Status.OK, {"similarity": 0.0, "same_status": True,
                                                       "differences": [f"title: {s} vs Example"]}),
        Observation("web.links", NAME, Status.OK, {"level2": {"rate": 0.0, "links": 1, "v6_ok": 0},
                                                   "urls": [{"url": url, "level": 2, "v6_ok": False}]}),
        Observation("web.resources", NAME, Status.OK, {"v4_only_hosts": [host]}),
        Observation("path.icmp", NAME, Status.ERROR, {}, f"internal error: {s}"),
        Observation("mail.mx_aaaa", NAME, Status.OK, {"mx": [{"host": host, "usable_v6": []}]}),
        Observation("self.v6", NAME, Status.OK, {}),
    ]
    verdict = score_target(NAME, obs, load_policy())
    return Outcome(TargetResult(parse_target(NAME), [NAME], obs, finished_at="2026-01-01T00:00:00Z"), verdict)


def terminal_safe(out: str) -> None:
    bad = UNSAFE.search(out)
    assert bad is None, f"raw {bad.group()!r} at {bad.start()}: {out[max(0, bad.start() - 60):bad.end() + 20]!r}"
    assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in out if ch != "\n")


def machine_formats_parse(o: Outcome) -> None:
    # every format is written as UTF-8 (a file, a pipe): it must encode, and then parse strictly
    for fmt in ("json", "jsonl", "sarif", "junit", "text", "github"):
        render(fmt, [o]).encode("utf-8")
    github([o], "en")[1].encode("utf-8")
    root = ET.fromstring(render("junit", [o]).encode("utf-8"))
    assert root.tag == "testsuites" and root.find("testsuite/testcase") is not None
    json.loads(render("json", [o]).encode("utf-8"))
    for line in render("jsonl", [o]).splitlines():
        json.loads(line.encode("utf-8"))
    sarif = json.loads(render("sarif", [o]).encode("utf-8"))
    assert sarif["runs"][0]["results"]


SITE_TEXT = st.text(st.one_of(st.characters(categories=["L", "M", "N", "P", "S", "Z", "C"]),
                              st.sampled_from("\x00\x07\x1b\x7f\x85\x9b\u2028\u202e\ud800\udfff\ufffe\uffff"
                                              "\n\r%:,[]()!<>&|`#")), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SITE_TEXT)
def test_any_site_text_keeps_every_format_well_formed_and_the_terminal_clean(s: str) -> None:
    o = hostile_outcome(s)
    machine_formats_parse(o)
    terminal_safe(render("text", [o]))
    terminal_safe(render("github", [o]))
    terminal_safe(github([o], "en")[1])


@pytest.mark.parametrize("s", HOSTILE)
def test_hostile_site_text_in_every_format(s: str) -> None:
    o = hostile_outcome(s)
    machine_formats_parse(o)
    for out in (render("text", [o]), render("github", [o]), github([o], "en")[1]):
        terminal_safe(out)
    terminal_safe(ANSI_STYLE.sub("", render("text", [o], color=True)))


def test_the_hostile_text_reaches_every_format_it_is_meant_to() -> None:
    """The fixture is not vacuous: the site text is in the reasons each format shows."""
    o = hostile_outcome("MARK")
    assert render("text", [o]).count("MARK") >= 4
    assert render("github", [o]).count("MARK") >= 4
    assert "MARK" in github([o], "en")[1]
    assert render("junit", [o]).count("MARK") >= 4
    assert render("sarif", [o]).count("MARK") >= 4


def test_controls_are_shown_as_visible_escapes() -> None:
    o = hostile_outcome("\x1b[2J\x07\x9b\u202e\ud800\x00")
    for out in (render("text", [o]), render("github", [o])):
        assert "\\x1b[2J\\x07\\x9b\\u202e\\ud800\\x00" in out
    junit = ET.fromstring(render("junit", [o]).encode("utf-8"))
    messages = [el.get("message") or "" for el in junit.iter() if el.get("message")]
    assert any("\\x1b[2J\\x07" in m for m in messages)
    assert any("\\x1b[2J\\x07" in (el.text or "") for el in junit.iter("failure"))


def test_site_newlines_cannot_add_lines_to_text_output() -> None:
    plain, evil = hostile_outcome("x"), hostile_outcome("x\n\rFAKE: all ready\u2028")
    assert len(render("text", [evil]).splitlines()) == len(render("text", [plain]).splitlines())
    assert "\\nFAKE" not in render("text", [plain]) and "x\\n\\rFAKE: all ready\\u2028" in render("text", [evil])


def _gh_unescape(message: str) -> str:
    """What the runner makes of an annotation's message (GitHub's workflow-command rules)."""
    return message.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


@pytest.mark.parametrize("s", ["title\n::set-output name=x::y", "\r\n::add-mask::secret",
                               "%0A::warning::forged", "x\r::error::y", "x\u2028::debug::y", "::stop-commands::t"])
def test_a_github_annotation_cannot_end_or_start_a_workflow_command(s: str) -> None:
    o = hostile_outcome(s)
    out = render("github", [o])
    lines = out.splitlines()
    assert lines and len(lines) == out.count("\n")
    for line in lines:
        m = re.fullmatch(r"::(error|warning) title=([^:]*)::(.*)", line)
        assert m, line
        title, message = m.group(2), m.group(3)
        assert not re.search(r"[\r\n,:]", _gh_unescape(title))
        assert "\r" not in _gh_unescape(message) and "\n" not in _gh_unescape(message)
    assert "%0A::warning" not in out  # a site's own %0A stays text: escaped to %250A
    if s.startswith("%0A"):
        assert "%250A::warning::forged" in out


def _md_cell(summary: str) -> str:
    rows = summary.splitlines()[4:]  # after the heading, a blank line and the table's head
    assert len(rows) == 1 and rows[0].startswith("| example.org |"), summary
    cells = re.split(r"(?<!\\)\|", rows[0])
    assert len(cells) == 6, rows[0]  # '', site, verdict, score, first reason, '': no breakout
    return cells[4].strip()


def _md_unescape(cell: str) -> str:
    """What CommonMark shows for an escaped cell: backslash escapes and entities undone."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", cell))


@pytest.mark.parametrize("s", ["[click](http://evil)", "![x](http://evil/i.png)", "<img src=x>",
                               "<a href='http://evil'>x</a>", "# h\n## h2 | x | y", "`code` *em* _u_",
                               "&lt;img src=x&gt;", "a\\|b", "line\nbreak\r\nend"])
def test_markdown_summary_shows_site_text_as_literal_text(s: str) -> None:
    o = hostile_outcome(s)
    cell = _md_cell(github([o], "en")[1])
    # nothing from the site is live: every Markdown punctuation character is escaped ...
    bare = re.sub(r"\\[!-/:-@\[-`{-~]|&(amp|lt|gt);", "", cell)
    assert not re.search(r"[\\`*_{}\[\]()#+\-.!|<>&]", bare), cell
    assert "<" not in cell and ">" not in cell
    # ... and it shows exactly the site's text (newlines as spaces)
    shown = _md_unescape(cell)
    assert " ".join(s.replace("\r\n", "\n").split("\n")) in shown
    assert "\n" not in cell


def test_markdown_summary_of_a_link_title_is_escaped_text() -> None:
    s = "[click](http://evil) ![x](http://evil/i.png) <img src=x>"
    summary = github([hostile_outcome(s)], "en")[1]
    assert "[click](" not in summary and "![x](" not in summary and "<img" not in summary
    assert "\\[click\\]\\(" in summary and "\\!\\[x\\]\\(" in summary and "&lt;img src\\=x&gt;" in summary
    assert s in _md_unescape(_md_cell(summary))


def test_json_keeps_site_text_and_escapes_what_a_terminal_would_act_on() -> None:
    s = "\x1b]0;t\x07\x9b\u2028\u202e ok 中文"
    o = hostile_outcome(s)
    for fmt in ("json", "jsonl", "sarif"):
        out = render(fmt, [o])
        terminal_safe(out)  # safe to cat: controls as JSON \u escapes ...
        assert "中文" in out  # ... while other text stays readable
    doc = json.loads(render("json", [o]))
    hop = doc["checks"]["web.http"]["details"]["names"][NAME]["evidence"]["chains"][0]["hops"][0]
    assert hop["title"] == s  # lossless: the JSON string is the site's text


def test_json_lone_surrogates_become_visible_text_any_strict_parser_accepts() -> None:
    """A lone surrogate is no Unicode scalar value: it cannot be written as UTF-8, and its \\udXXX
    JSON escape is rejected by strict parsers, so it is written as the text ``\\udXXX``."""
    o = hostile_outcome("a\ud800b\udfffc")
    for fmt in ("json", "jsonl", "sarif"):
        out = render(fmt, [o])
        out.encode("utf-8")
        assert not re.search(r"(?<!\\)\\u[dD][89a-fA-F]", out)  # no surrogate escape for strict parsers

        def no_surrogates(x: object) -> None:
            if isinstance(x, str):
                assert not re.search("[\ud800-\udfff]", x)
            elif isinstance(x, dict):
                for k, v in x.items():
                    no_surrogates(k)
                    no_surrogates(v)
            elif isinstance(x, list):
                for v in x:
                    no_surrogates(v)

        for line in (out.splitlines() if fmt == "jsonl" else [out]):
            no_surrogates(json.loads(line))
    doc = json.loads(render("json", [o]))
    hop = doc["checks"]["web.http"]["details"]["names"][NAME]["evidence"]["chains"][0]["hops"][0]
    assert hop["title"] == "a\\ud800b\\udfffc"


def test_markdown_summary_keeps_the_targets_host_name_readable() -> None:
    summary = github([hostile_outcome("x")], "en")[1]
    assert "| example.org | " in summary  # a validated host name: dots and hyphens as they are
    o = hostile_outcome("x")
    o.result.target = parse_target("_a_.example.org")
    assert "| \\_a\\_.example.org | " in github([o], "en")[1]  # but no emphasis from underscores


@pytest.mark.parametrize("s", ["[click](http://evil)", "![x](http://evil/i.png)", "<img src=x>", "www.evil.org/x",
                               "`code` *em* __strong__ ~~del~~ $x$", "<script>alert(1)</script>", "a | b\n# h"])
def test_githubs_own_markdown_renderer_shows_no_markup_from_the_site(s: str) -> None:
    """With cmarkgfm (GitHub's cmark fork, a test dependency)."""
    import cmarkgfm
    import cmarkgfm.cmark

    unsafe = cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE  # raw HTML kept: the worst case
    page = cmarkgfm.github_flavored_markdown_to_html(github([hostile_outcome(s)], "en")[1], options=unsafe)
    body = page[page.index("<tbody>"):]
    assert body.count("<td") == 4
    for tag in ("<a ", "<img", "<script", "<code", "<em", "<strong", "<del", "<h1", "<math"):
        assert tag not in body, body
