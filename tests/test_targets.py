"""Target names: validation, IDNA, target lists, registrable domains, www variants (no network)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6scan.settings import Settings
from v6scan.targets import (
    MAX_LINE,
    NameExclusions,
    Target,
    TargetError,
    TargetList,
    match_form,
    normalise_name,
    parse_exclusion,
    parse_target,
    read_target_file,
    read_targets,
    registrable_domain,
    variants,
)

PROPS = settings(max_examples=300, deadline=None, database=None)

L63 = "a" * 63
NAME_253 = ".".join([L63, "b" * 63, "c" * 63, "d" * 61])  # 63*3 + 61 + 3 dots = 253

# (input, ascii name, display name)
VALID = [
    ("example.org", "example.org", "example.org"),
    ("Example.ORG", "example.org", "example.org"),
    ("EXAMPLE.ORG.", "example.org", "example.org"),
    ("  example.org \n", "example.org", "example.org"),
    ("www.example.co.uk", "www.example.co.uk", "www.example.co.uk"),
    ("http://example.org", "example.org", "example.org"),
    ("https://example.org/", "example.org", "example.org"),
    ("https://example.org/path/to/page?q=1&r=2#frag", "example.org", "example.org"),
    ("HTTPS://Example.Org:8443/x", "example.org", "example.org"),
    ("https://user:secret@example.org:443/", "example.org", "example.org"),
    ("https://user@example.org", "example.org", "example.org"),
    ("http://example.org./", "example.org", "example.org"),
    ("example.org:8080", "example.org", "example.org"),
    ("example.org:443/path", "example.org", "example.org"),
    ("example.org/path/page.html", "example.org", "example.org"),
    ("example.org:", "example.org", "example.org"),
    ("_dmarc.example.org", "_dmarc.example.org", "_dmarc.example.org"),
    ("a-b.example-1.org", "a-b.example-1.org", "a-b.example-1.org"),
    ("123.example", "123.example", "123.example"),
    ("x.y.z.example.org", "x.y.z.example.org", "x.y.z.example.org"),
    # IDNA: Unicode in, A-labels out, display kept in Unicode
    ("bücher.example", "xn--bcher-kva.example", "bücher.example"),
    ("BÜCHER.Example", "xn--bcher-kva.example", "bücher.example"),
    ("https://bücher.example/katalog", "xn--bcher-kva.example", "bücher.example"),
    ("münchen.de", "xn--mnchen-3ya.de", "münchen.de"),
    ("政府.cn", "xn--mxtq1m.cn", "政府.cn"),
    ("www.政府.cn", "www.xn--mxtq1m.cn", "www.政府.cn"),
    ("пример.рф", "xn--e1afmkfd.xn--p1ai", "пример.рф"),
    # UTS 46 maps full-width letters: full-width "example"
    ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "example.com", "example.com"),
    # valid A-labels are decoded for display
    ("xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"),
    ("XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example", "bücher.example"),
    ("xn--mxtq1m.cn", "xn--mxtq1m.cn", "政府.cn"),
    ("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai", "пример.рф"),
    # limits, just inside
    (L63 + ".example", L63 + ".example", L63 + ".example"),
    (NAME_253, NAME_253, NAME_253),
    (NAME_253 + ".", NAME_253, NAME_253),
]


@pytest.mark.parametrize(("text", "name", "display"), VALID)
def test_normalise_name_valid(text: str, name: str, display: str) -> None:
    assert normalise_name(text) == (name, display)
    # the output is a fixed point
    assert normalise_name(name) == (name, display)


# (input, substring of the reason)
INVALID = [
    ("", "empty name"),
    ("   ", "empty name"),
    ("\t\n", "empty name"),
    (".", "the root is not a site name"),
    ("a..b", "label 2 is empty"),
    (".example.org", "label 1 is empty"),
    ("example.org..", "label 3 is empty"),
    ("https://a..b.example/", "label 2 is empty"),
    ("a" * 64 + ".example", "label 1 is 64 characters long (at most 63)"),
    ("www." + "b" * 64 + ".example", "label 2 is 64 characters long (at most 63)"),
    ("www.example." + "c" * 100, "label 3 is 100 characters long"),
    ("ü" * 64 + ".example", "label 1 is 64 characters long"),
    (NAME_253 + "d", "the name is 254 octets long (at most 253)"),
    (".".join([L63] * 4) + ".com", "the name is 259 octets long (at most 253)"),
    ("localhost", "single label"),
    ("example", "single label"),
    ("localhost.", "single label"),
    ("http://intranet/", "single label"),
    ("intranet:8080", "single label"),
    ("bücher", "single label"),
    ("example.123", "the top-level label is numeric"),
    ("1.2.3", "the top-level label is numeric"),
    ("www.example.0", "the top-level label is numeric"),
    # IP literals
    ("192.0.2.1", "an IP address is not a site name"),
    ("192.0.2.1:80", "an IP address is not a site name"),
    ("192.0.2.1/path", "an IP address is not a site name"),
    ("http://192.0.2.1/", "an IP address is not a site name"),
    ("https://192.0.2.1:8443/x", "an IP address is not a site name"),
    ("2001:db8::1", "an IP address is not a site name"),
    ("::1", "an IP address is not a site name"),
    ("::ffff:192.0.2.1", "an IP address is not a site name"),
    ("[2001:db8::1]", "an IP address is not a site name"),
    ("http://[2001:db8::1]/", "an IP address is not a site name"),
    ("https://[2001:db8::1]:8443/path", "an IP address is not a site name"),
    ("fe80::1%eth0", "an IP address is not a site name"),
    ("http://[fe80::1%25eth0]/", "an IP address is not a site name"),
    ("[2001:db8::1]:443", "an IP address is not a site name"),
    # URLs
    ("ftp://example.org", "unsupported URL scheme 'ftp' (use http or https)"),
    ("ftp://example.org/pub/file.txt", "unsupported URL scheme 'ftp'"),
    ("gopher://example.org/", "unsupported URL scheme 'gopher'"),
    ("javascript://example.org/%0aalert(1)", "unsupported URL scheme 'javascript'"),
    ("http://", "URL without a host name"),
    ("https:///path", "URL without a host name"),
    ("file:///etc/passwd", "URL without a host name"),
    ("http://example.org:abc/", "not a valid URL"),
    ("http://example.org:99999/", "not a valid URL"),
    ("http://[2001:db8::1/", "not a valid URL"),
    ("example.org:abc", "not a host name (unexpected ':')"),
    ("example.org:80:90", "has characters a host name cannot have"),
    # garbage characters
    ("exa mple.org", "character ' ' is not allowed"),
    ("example.org extra", "character ' ' is not allowed"),
    ("http://exa mple.org/", "character ' ' is not allowed"),
    ('"example.org"', "character '\"' is not allowed"),
    ("'example.org'", "character \"'\" is not allowed"),
    ("<script>alert(1)</script>", "character '<' is not allowed"),
    ("example.org<script>", "character '<' is not allowed"),
    ("user@example.org", "character '@' is not allowed"),
    ("exa\tmple.org", "is not allowed in a host name"),
    ("exa\x00mple.org", "is not allowed in a host name"),
    ("example.org;rm -rf /", "character ';' is not allowed"),
    ("ex`ample.org", "character '`' is not allowed"),
    ("a|b.example", "character '|' is not allowed"),
    ("ex\\ample.org", "character '\\\\' is not allowed"),
    ("-bad.example", "label 1 ('-bad') has characters a host name cannot have"),
    ("bad-.example", "label 1 ('bad-') has characters a host name cannot have"),
    ("ex$ample.org", "label 1 ('ex$ample') has characters a host name cannot have"),
    ("*.example.org", "label 1 ('*') has characters a host name cannot have"),
    ("www.exa!mple.org", "label 2 ('exa!mple') has characters"),
    # IDNA errors
    ("xn--abc-.example", "label 1 is not valid punycode/IDNA"),
    ("xn--zz.example", "label 1 is not valid punycode/IDNA"),
    ("www.xn--.example", "label 2 is not valid punycode/IDNA"),
    ("xn--99999999999.example", "label 1 is not valid punycode/IDNA"),
    ("xn--ls8h.example", "label 1 is not valid punycode/IDNA"),  # an emoji: IDNA 2003 only
    ("☃.example", "label 1 cannot be encoded as IDNA"),
    ("\u00ad.example", "label 1 cannot be encoded as IDNA"),
    ("\uff41_b.example", "label 1 cannot be encoded as IDNA"),  # full-width a
    # too long a line: refused before anything else
    ("x" * (MAX_LINE + 1), f"longer than {MAX_LINE} characters"),
]


@pytest.mark.parametrize(
    ("text", "reason"), INVALID, ids=[f"{i}:{t[:30]!r}" for i, (t, _) in enumerate(INVALID)]
)
def test_normalise_name_invalid(text: str, reason: str) -> None:
    with pytest.raises(TargetError) as info:
        normalise_name(text)
    e = info.value
    assert type(e) is TargetError
    assert isinstance(e, ValueError)
    assert reason in e.reason
    assert e.text == text
    assert e.reason in str(e)
    assert e.source is None
    # human readable: no traceback-ish noise, bounded length
    assert "Traceback" not in e.reason
    assert len(str(e)) < 400


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100_000,
        "a." * 50_000,
        "é" * 5000,
        "a" * 4000 + ".example",
        "é" * 4000 + ".example",
        "." * 4000,
        "http://" + "a" * 5000 + ".example/",
    ],
)
def test_huge_lines_are_rejected(text: str) -> None:
    with pytest.raises(TargetError) as info:
        normalise_name(text)
    assert len(str(info.value)) < 400  # the message does not echo the whole line


@pytest.mark.parametrize(
    "text", ["a\u3002.example", "a\uff0e.example", "a\uff61.example", "a\u3002.b\u3002.example"]
)
def test_uts46_label_separators_never_produce_empty_labels(text: str) -> None:
    """U+3002 / U+FF0E / U+FF61 are dots under UTS 46: "a。.example" has an empty label."""
    try:
        name, display = normalise_name(text)
    except TargetError:
        return
    assert "" not in name.split("."), name
    assert "" not in display.split("."), display
    assert normalise_name(name) == (name, display)


def test_parse_target_carries_source_and_metadata() -> None:
    t = parse_target(
        "https://Bücher.example/", source="list.csv:4", sector=" health ", region="", organisation=None
    )
    assert t == Target(
        name="xn--bcher-kva.example",
        display="bücher.example",
        sector="health",
        region=None,
        organisation=None,
        source="list.csv:4",
    )


def test_parse_target_error_has_source() -> None:
    with pytest.raises(TargetError) as info:
        parse_target("a..b", source="list.txt:7")
    assert info.value.source == "list.txt:7"
    assert info.value.reason == "label 2 is empty"
    assert str(info.value) == "list.txt:7: label 2 is empty: 'a..b'"


# ---------------------------------------------------------------------------
# read_targets
# ---------------------------------------------------------------------------

def _names(tl: TargetList) -> list[str]:
    return [t.name for t in tl.targets]


def test_read_plain_list_with_comments_and_blank_lines() -> None:
    lines = [
        "# government sites\n",
        "\n",
        "example.org\n",
        "   # an indented comment\n",
        "WWW.Example.NET.  \r\n",
        "   \n",
        "https://bücher.example/\n",
    ]
    tl = read_targets(lines)
    assert _names(tl) == ["example.org", "www.example.net", "xn--bcher-kva.example"]
    assert [t.source for t in tl.targets] == ["<input>:3", "<input>:5", "<input>:7"]
    assert tl.targets[2].display == "bücher.example"
    assert all(t.sector is None and t.region is None and t.organisation is None for t in tl.targets)
    assert tl.errors == [] and tl.duplicates == []


def test_read_csv_with_header() -> None:
    lines = [
        "host,sector,region,organisation",
        "example.org,health,north,Ministry of Health",
        'edu.example,education,,"University, Central Campus"',
        "  https://gov.example/ , government , south , Cabinet Office ",
    ]
    tl = read_targets(lines, "sites.csv")
    assert tl.errors == []
    assert tl.targets == [
        Target("example.org", "example.org", "health", "north", "Ministry of Health", "sites.csv:2"),
        Target("edu.example", "edu.example", "education", None, "University, Central Campus", "sites.csv:3"),
        Target("gov.example", "gov.example", "government", "south", "Cabinet Office", "sites.csv:4"),
    ]


@pytest.mark.parametrize("header", ["host", "HOST", "name", "domain", "url", "site"])
def test_read_csv_header_column_names(header: str) -> None:
    tl = read_targets([f"{header},region", "example.org,east"])
    assert _names(tl) == ["example.org"]
    assert tl.targets[0].region == "east"
    assert tl.targets[0].sector is None
    assert tl.errors == []


def test_read_csv_header_other_order_and_american_spelling() -> None:
    tl = read_targets(["url,organization,sector", "https://example.org/x,Some Agency,finance"])
    assert tl.targets == [
        Target("example.org", "example.org", "finance", None, "Some Agency", "<input>:2"),
    ]


def test_read_csv_without_header() -> None:
    tl = read_targets(["example.org,health,north,Ministry", "example.net,edu", "example.com,"])
    assert tl.errors == []
    assert [(t.name, t.sector, t.region, t.organisation) for t in tl.targets] == [
        ("example.org", "health", "north", "Ministry"),
        ("example.net", "edu", None, None),
        ("example.com", None, None, None),
    ]


def test_read_tab_separated() -> None:
    tl = read_targets(["example.org\thealth\tnorth\tMinistry of Health", "example.net\tedu"])
    assert tl.errors == []
    assert [(t.name, t.sector, t.region, t.organisation) for t in tl.targets] == [
        ("example.org", "health", "north", "Ministry of Health"),
        ("example.net", "edu", None, None),
    ]


def test_read_tab_separated_with_comma_in_a_field() -> None:
    """A tab-separated row whose organisation contains a comma is still a tab-separated row."""
    tl = read_targets(["example.org\thealth\tnorth\tMinistry of Health, Central Office"])
    assert tl.errors == [], [e.reason for e in tl.errors]
    assert [(t.name, t.sector, t.region, t.organisation) for t in tl.targets] == [
        ("example.org", "health", "north", "Ministry of Health, Central Office"),
    ]


def test_read_duplicates_first_kept_with_line_numbers() -> None:
    lines = [
        "example.org", "# comment", "EXAMPLE.org.", "https://example.org/x", "other.example", "example.org",
    ]
    tl = read_targets(lines)
    assert _names(tl) == ["example.org", "other.example"]
    assert tl.targets[0].source == "<input>:1"
    assert [(d.source, d.reason, d.text) for d in tl.duplicates] == [
        ("<input>:3", "duplicate of <input>:1", "EXAMPLE.org."),
        ("<input>:4", "duplicate of <input>:1", "https://example.org/x"),
        ("<input>:6", "duplicate of <input>:1", "example.org"),
    ]
    assert all(isinstance(d, TargetError) for d in tl.duplicates)
    assert tl.errors == []


def test_read_idna_duplicates_are_detected() -> None:
    tl = read_targets(["bücher.example", "xn--bcher-kva.example"])
    assert _names(tl) == ["xn--bcher-kva.example"]
    assert [d.source for d in tl.duplicates] == ["<input>:2"]


def test_read_bad_lines_reported_and_reading_continues() -> None:
    lines = [
        "example.org",
        "bad name here",
        "",
        "localhost",
        "192.0.2.1",
        "ftp://example.net",
        "a" * 64 + ".example",
        ",health,north",
        "example.net",
    ]
    tl = read_targets(lines, "list.txt")
    assert _names(tl) == ["example.org", "example.net"]
    assert [e.source for e in tl.errors] == [
        "list.txt:2", "list.txt:4", "list.txt:5", "list.txt:6", "list.txt:7", "list.txt:8",
    ]
    assert all(type(e) is TargetError and e.reason for e in tl.errors)
    assert "single label" in tl.errors[1].reason
    assert "IP address" in tl.errors[2].reason
    assert "label 1 is 64 characters long" in tl.errors[4].reason
    assert tl.errors[5].reason == "empty name"
    assert str(tl.errors[0]).startswith("list.txt:2: ")


def test_read_huge_line_is_an_error_not_a_crash() -> None:
    tl = read_targets(["example.org", "y" * 100_000, "example.net"])
    assert _names(tl) == ["example.org", "example.net"]
    assert [e.source for e in tl.errors] == ["<input>:2"]


@pytest.mark.parametrize("line", ["example.org,gov\r,north", "a\rb,c", "exa\rmple.org\tgov"])
def test_read_line_with_embedded_carriage_return_does_not_crash(line: str) -> None:
    """A stray CR inside a line (lines handed over by a caller, not from a file) is a bad line."""
    tl = read_targets(["example.net", line])
    assert _names(tl)[:1] == ["example.net"]
    assert len(tl.targets) + len(tl.errors) + len(tl.duplicates) == 2


def test_read_target_file(tmp_path: Path) -> None:
    path = tmp_path / "targets.csv"
    path.write_bytes(
        "# list\r\nhost,sector\r\nexample.org,health\r\nbücher.example,edu\r\nbad name,x\r\n".encode()
    )
    tl = read_target_file(path)
    assert _names(tl) == ["example.org", "xn--bcher-kva.example"]
    assert [t.source for t in tl.targets] == [f"{path}:3", f"{path}:4"]
    assert [e.source for e in tl.errors] == [f"{path}:5"]
    assert tl.targets[1].sector == "edu"


# ---------------------------------------------------------------------------
# registrable_domain and variants
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("www.beijing.gov.cn", (), "beijing.gov.cn"),
        ("beijing.gov.cn", (), "beijing.gov.cn"),
        ("example.co.uk", (), "example.co.uk"),
        ("www.example.co.uk", (), "example.co.uk"),
        ("mail.example.org", (), "example.org"),
        ("Example.ORG", (), "example.org"),
        ("co.uk", (), None),
        ("gov.cn", (), None),
        ("org", (), None),
        ("healthy.gov.test", (), "gov.test"),
        ("healthy.gov.test", ("gov.test",), "healthy.gov.test"),
        ("www.healthy.gov.test", ("gov.test",), "healthy.gov.test"),
        ("www.healthy.gov.test", (".GOV.Test.",), "healthy.gov.test"),
        ("gov.test", ("gov.test",), None),
        ("xn--bcher-kva.example", (), "xn--bcher-kva.example"),
    ],
)
def test_registrable_domain(name: str, extra: tuple[str, ...], expected: str | None) -> None:
    assert registrable_domain(name, extra) == expected


def _t(name: str) -> Target:
    return parse_target(name, source="x:1", sector="gov", region="r", organisation="o")


@pytest.mark.parametrize(
    ("name", "mode", "extra", "expected"),
    [
        ("example.org", "auto", (), ["example.org", "www.example.org"]),
        ("beijing.gov.cn", "auto", (), ["beijing.gov.cn", "www.beijing.gov.cn"]),
        ("example.co.uk", "auto", (), ["example.co.uk", "www.example.co.uk"]),
        ("mail.example.org", "auto", (), ["mail.example.org"]),
        ("www.example.org", "auto", (), ["www.example.org"]),
        ("www.example.org", "always", (), ["www.example.org"]),
        ("healthy.gov.test", "auto", (), ["healthy.gov.test"]),
        ("healthy.gov.test", "auto", ("gov.test",), ["healthy.gov.test", "www.healthy.gov.test"]),
        ("mail.example.org", "always", (), ["mail.example.org", "www.mail.example.org"]),
        ("example.org", "never", (), ["example.org"]),
        ("mail.example.org", "never", (), ["mail.example.org"]),
    ],
)
def test_variants(name: str, mode: str, extra: tuple[str, ...], expected: list[str]) -> None:
    out = variants(_t(name), mode, extra)
    assert [v.name for v in out] == expected
    assert out[0] == _t(name)
    for v in out:
        assert (v.sector, v.region, v.organisation, v.source) == ("gov", "r", "o", "x:1")


def test_variants_default_is_auto_and_display_follows() -> None:
    out = variants(parse_target("bücher.example"))
    assert [(v.name, v.display) for v in out] == [
        ("xn--bcher-kva.example", "bücher.example"),
        ("www.xn--bcher-kva.example", "www.bücher.example"),
    ]


def test_variants_never_exceed_the_name_limit() -> None:
    t = parse_target(NAME_253)
    assert [v.name for v in variants(t, "always")] == [NAME_253]


@pytest.mark.parametrize("mode", ["sometimes", "", "AUTO", "yes"])
def test_variants_invalid_mode(mode: str) -> None:
    with pytest.raises(ValueError, match="www must be auto, always or never"):
        variants(_t("example.org"), mode)


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

@PROPS
@given(st.text())
def test_prop_normalise_name_only_raises_target_error(text: str) -> None:
    try:
        name, _display = normalise_name(text)
    except TargetError as e:
        assert type(e) is TargetError
        assert e.reason
        return
    assert name.isascii()
    assert name == name.lower()
    assert 3 <= len(name) <= 253
    assert "." in name


@PROPS
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80).map(lambda s: "https://" + s))
def test_prop_url_like_text_only_raises_target_error(text: str) -> None:
    with contextlib.suppress(TargetError):
        normalise_name(text)


LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)
LDH_NAME = st.lists(LABEL, min_size=2, max_size=5).filter(lambda ls: not ls[-1].isdigit()).map(".".join)


@PROPS
@given(LDH_NAME, st.data())
def test_prop_valid_ldh_names_normalise_to_themselves(name: str, data: st.DataObject) -> None:
    assert normalise_name(name) == (name, name)
    mixed = "".join(c.upper() if data.draw(st.booleans()) else c for c in name)
    out, display = normalise_name(mixed + data.draw(st.sampled_from(["", ".", ":443", "/x"])))
    assert out == name.lower() == display
    assert normalise_name(out) == (out, display)
    assert normalise_name("https://" + mixed + "/p")[0] == name


_HEADER_WORDS = ("host", "name", "domain", "url", "site")
ARBITRARY_LINE = st.text().filter(lambda s: not any(w in s.lower() for w in _HEADER_WORDS))
REALISTIC_LINE = st.sampled_from(
    [
        "example.org", "EXAMPLE.org.", "https://example.org/x", "example.net,health,north,Org",
        "bücher.example\tedu", "# comment", "", "   ", "localhost", "a..b", "192.0.2.1",
        "example.org:443", "xn--zz.example", ",,,", '"quoted, name",x', "\t", "x" * 5000,
        # a stray CR inside a line that is split by a delimiter
        "example.org,gov\r,north", "0\r\t",
    ]
)


def _counted(line: str) -> bool:
    stripped = line.rstrip("\r\n").strip()
    return bool(stripped) and not stripped.startswith("#")


@PROPS
@given(st.lists(st.one_of(ARBITRARY_LINE, REALISTIC_LINE), max_size=20), st.booleans())
def test_prop_read_targets_accounts_for_every_line(lines: list[str], with_header: bool) -> None:
    if with_header:
        lines = ["host,sector,region,organisation", *lines]
    tl = read_targets(lines)
    expected = sum(_counted(line) for line in lines) - with_header
    assert len(tl.targets) + len(tl.errors) + len(tl.duplicates) + len(tl.skipped) == expected
    names = [t.name for t in tl.targets]
    assert len(names) == len(set(names))
    for e in (*tl.errors, *tl.duplicates):
        assert type(e) is TargetError
        assert e.source is not None and e.source.startswith("<input>:")


# ---------------------------------------------------------------------------
# exclusion lists: NameExclusions
# ---------------------------------------------------------------------------

EXCLUSIONS = NameExclusions(["example.org", ".gov.test", "*.Bücher.example", "xn--mnchen-3ya.example.", "ex.ample.net"])


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("example.org", "example.org"),
        ("EXAMPLE.Org.", "example.org"),
        ("www.example.org", None),  # an exact entry: that name only
        ("gov.test", ".gov.test"),  # a suffix entry: the name itself ...
        ("www.health.GOV.test.", ".gov.test"),  # ... and every name below it
        ("agov.test", None),  # at a label boundary only
        ("gov.test.evil", None),
        ("xn--bcher-kva.example", ".xn--bcher-kva.example"),  # U-label entry, A-label name
        ("www.BÜCHER.example", ".xn--bcher-kva.example"),
        ("münchen.example", "xn--mnchen-3ya.example"),  # A-label entry, U-label name
        ("MÜNCHEN.EXAMPLE.", "xn--mnchen-3ya.example"),
        ("www.münchen.example", None),
        ("ample.net", None),
        ("ex.ample.net", "ex.ample.net"),
        ("example.net", None),
        ("", None),
        (".", None),
    ],
)
def test_name_exclusions_match(name: str, entry: str | None) -> None:
    assert EXCLUSIONS.match(name) == entry
    assert (name in EXCLUSIONS) is (entry is not None)


def test_name_exclusions_entries_and_settings() -> None:
    assert EXCLUSIONS.entries == (".gov.test", ".xn--bcher-kva.example", "ex.ample.net", "example.org",
                                  "xn--mnchen-3ya.example")
    assert list(EXCLUSIONS) == list(EXCLUSIONS.entries) and len(EXCLUSIONS) == 5 and EXCLUSIONS
    again = NameExclusions.from_settings(Settings(exclude_names=EXCLUSIONS.entries))
    assert again.entries == EXCLUSIONS.entries  # the normal form reads back as itself
    assert not NameExclusions(()) and NameExclusions(()).match("example.org") is None
    assert NameExclusions.from_settings(Settings()).entries == ()


def test_name_exclusions_most_specific_entry_wins() -> None:
    ex = NameExclusions([".org", ".example.org", "www.example.org"])
    assert ex.match("www.example.org") == "www.example.org"
    assert ex.match("a.www.example.org") == ".example.org"
    assert ex.match("example.org") == ".example.org"
    assert ex.match("other.org") == ".org"


@pytest.mark.parametrize("name", ["a\udcff.example", "\x00\x00", "a..b.", "a..b", "\u200d.example", "☃" * 300,
                                  "xn--zz.example", "-a-.example", "exa mple.org", "[2001:db8::1]"])
def test_name_exclusions_never_crash_on_names_idna_refuses(name: str) -> None:
    ex = NameExclusions([name, "." + name])
    assert ex.match(name) == match_form(name)  # compared as its lower-case text
    assert ex.match(name.upper()) in (match_form(name), None)


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("example.org", "example.org"),
        ("Example.ORG.", "example.org"),
        ("https://www.example.org/path", "www.example.org"),
        (".example.org", ".example.org"),
        ("*.Example.org", ".example.org"),
        ("*.bücher.example", ".xn--bcher-kva.example"),
        (".org", ".org"),  # a suffix may be a single label
        ("*.test.", ".test"),
    ],
)
def test_parse_exclusion(text: str, entry: str) -> None:
    assert parse_exclusion(text) == entry


@pytest.mark.parametrize("text", [".", "*.", "*", "*example.org", "..org", "*..org", "org", "a b.org",
                                  "exa*mple.org", ".192.0.2.1", "x" * 64 + ".org"])
def test_parse_exclusion_refuses(text: str) -> None:
    with pytest.raises(TargetError) as e:
        parse_exclusion(text)
    assert e.value.reason


def test_name_exclusions_match_big_lists() -> None:
    """100,000 entries (a lookup is one set lookup per label, whatever the list's size)."""
    entries = [f"site{i}.example{i % 97}.org" for i in range(50_000)] + [f".zone{i}.net" for i in range(50_000)]
    ex = NameExclusions(entries)
    names = [f"a.b.c.host{i}.zone{i * 7}.net" for i in range(20_000)] + [f"www.site{i}.org" for i in range(20_000)]
    hits = sum(ex.match(n) is not None for n in names)
    assert hits == sum(i * 7 < 50_000 for i in range(20_000))
    assert ex.match("site5.example5.org") == "site5.example5.org" and ex.match("www.site5.example5.org") is None


def _reference_match(entry: str, name: str) -> bool:
    """Brute force, on label lists: an exact entry is the same labels, a suffix entry a label tail."""
    suffix = entry.startswith(".")
    el = entry.lstrip(".").split(".")
    nl = name.lower().rstrip(".").split(".")
    return nl[len(nl) - len(el):] == el if suffix and len(nl) >= len(el) else nl == el


@PROPS
@given(st.lists(LABEL, min_size=1, max_size=4), st.lists(LABEL, max_size=3), st.integers(0, 3),
       st.sampled_from(["", ".", "*."]), st.data())
def test_prop_exact_and_suffix_entries_match_at_label_boundaries(
    entry_labels: list[str], head: list[str], cut: int, form: str, data: st.DataObject
) -> None:
    """Names built from the entry's labels: its tail after ``cut`` labels, with random labels in
    front and the first kept label perhaps lengthened (``xexample.org`` against ``example.org``),
    in any case, with or without a trailing dot."""
    tail = entry_labels[min(cut, len(entry_labels) - 1):]
    if data.draw(st.booleans()):
        tail = [data.draw(LABEL) + tail[0], *tail[1:]]
    name = ".".join(head + tail)
    name = "".join(c.upper() if data.draw(st.booleans()) else c for c in name) + data.draw(st.sampled_from(["", "."]))
    entry = form + ".".join(entry_labels)
    normal = ("." if form else "") + ".".join(entry_labels)
    ex = NameExclusions([entry])
    assert ex.entries == (normal,)
    expected = _reference_match(normal, name)
    assert ex.match(name) == (normal if expected else None)
    if not form:  # an exact entry matches only that name, in any case, with or without the dot
        assert expected is (name.lower().rstrip(".") == normal)
        assert ex.match(normal.upper() + ".") == normal


@PROPS
@given(st.lists(st.tuples(st.sampled_from(["", "."]), st.lists(LABEL, min_size=1, max_size=3)), max_size=30),
       st.lists(st.lists(LABEL, min_size=1, max_size=5), max_size=30))
def test_prop_match_agrees_with_brute_force(entries: list[tuple[str, list[str]]], names: list[list[str]]) -> None:
    normal = [f + ".".join(labels) for f, labels in entries]
    ex = NameExclusions(normal)
    # names made of the entries' labels too, so that matches happen
    pool = names + [labels for _, labels in entries] + [["www", *labels] for _, labels in entries]
    for labels in pool:
        name = ".".join(labels)
        hits = {e for e in normal if _reference_match(e, name)}
        got = ex.match(name)
        assert (got is not None) is bool(hits)
        if got is not None:
            assert got in hits


@PROPS
@given(st.text(max_size=60), st.lists(st.text(max_size=30), max_size=5))
def test_prop_match_never_raises(name: str, entries: list[str]) -> None:
    ex = NameExclusions(entries)
    got = ex.match(name)
    assert got is None or got.lstrip(".") in {e.lstrip(".") for e in ex.entries}
