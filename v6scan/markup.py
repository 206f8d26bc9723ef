"""What a page's markup says, read in linear time from a bounded prefix.  Pure functions.

Sites send what they like: an unclosed ``<title>`` before 50,000 tag fragments, a 1 MB line,
100,000 nested tags, an unterminated comment or quote.  Nothing here backtracks: titles are
found by literal search, links by a small tokeniser (a manual index loop whose every step
consumes what it reads, after the HTML standard's tokeniser: comments, ``<script>``/``<style>``
raw text, quoted and unquoted attribute values, character references), over at most ``limit``
characters, collecting at most ``max_urls`` URLs.

URLs no browser would fetch are not silently dropped: :func:`url_problem` names what is wrong
(a bad or blocked port, an IP-literal or undecodable host, a non-web scheme, too long), and
:func:`parse_links` returns them in ``PageLinks.rejected``.  ``mailto:``, ``tel:``, ``sms:``,
``callto:`` and ``about:`` are not web links at all: they are skipped, not rejected.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.entities import html5 as _ENTITIES
from urllib.parse import urldefrag, urljoin, urlsplit

import idna

__all__ = [
    "BAD_PORTS",
    "MAX_PARSE",
    "MAX_REJECTED",
    "MAX_TITLE_SCAN",
    "MAX_URL",
    "MAX_URLS",
    "NOT_WEB_SCHEMES",
    "RESOURCE_RELS",
    "RESOURCE_TAGS",
    "SERVICE_PORTS",
    "PageLinks",
    "parse_links",
    "title_of",
    "url_problem",
]

#: characters of a page read for its title
MAX_TITLE_SCAN = 65536
#: characters of a page read for its links
MAX_PARSE = 512 * 1024
#: distinct URLs (links and subresources together) collected from one page
MAX_URLS = 10_000
#: distinct rejected URLs kept per page
MAX_REJECTED = 100
#: longest URL accepted (what many servers and browsers accept)
MAX_URL = 2048
#: attribute values longer than this are not decoded (a URL attribute this long is rejected)
MAX_VALUE = 4096

#: the fetch standard's bad ports (https://fetch.spec.whatwg.org/#port-blocking): browsers refuse them
BAD_PORTS: frozenset[int] = frozenset({
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103,
    104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513,
    514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720,
    1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
})

#: ports of services that speak no HTTP and that a cross-protocol request must never reach (Redis,
#: memcached, databases, message brokers, container and cluster APIs), refused in links and redirects
#: like the fetch standard's list, though browsers do not refuse them all
SERVICE_PORTS: frozenset[int] = frozenset({
    1433, 1521, 2375, 2376, 2379, 2380, 3306, 5432, 5672, 6379, 9042, 9092, 11211, 27017, 27018,
})
#: schemes that are not web links (skipped by :func:`parse_links`, never recorded as rejected)
NOT_WEB_SCHEMES = frozenset({"mailto", "tel", "sms", "callto", "about"})

RESOURCE_TAGS: dict[str, tuple[str, ...]] = {
    "img": ("src",), "script": ("src",), "iframe": ("src",), "frame": ("src",), "embed": ("src",),
    "source": ("src",), "video": ("src", "poster"), "audio": ("src",), "track": ("src",), "object": ("data",),
}
RESOURCE_RELS = frozenset({"stylesheet", "icon", "preload", "modulepreload", "prefetch", "apple-touch-icon",
                           "manifest", "shortcut"})


@dataclass
class PageLinks:
    #: links (``a``/``area`` ``href``), absolute, without fragment, in document order, distinct
    links: list[str] = field(default_factory=list)
    #: subresources: (kind, url), kind the tag name, or "stylesheet"/"font"/"link" for ``<link>``
    resources: list[tuple[str, str]] = field(default_factory=list)
    #: (value as written, cut to 200 characters; reason): URLs no browser would fetch, at most MAX_REJECTED
    rejected: list[tuple[str, str]] = field(default_factory=list)
    #: the page was longer than ``limit`` or had more than ``max_urls`` URLs: the rest was not read
    truncated: bool = False
    #: characters of the page read
    scanned: int = 0


# --- titles --------------------------------------------------------------------------------------

_TITLE_OPEN = re.compile(r"<title", re.I)
_TITLE_CLOSE = re.compile(r"</title\s*+>", re.I)
#: decimal references html.unescape cannot take (int() refuses more than 4,300 digits)
_LONG_DECIMAL = re.compile(r"&#([0-9]{9,}+);?")


def _long_decimal(m: re.Match[str]) -> str:
    digits = m.group(1).lstrip("0")
    return "\ufffd" if len(digits) > 8 else f"&#{digits or 0};"


def _unescape_text(text: str) -> str:
    return html.unescape(_LONG_DECIMAL.sub(_long_decimal, text))


def title_of(text: str, limit: int = MAX_TITLE_SCAN) -> str | None:
    """The text of the first ``<title>`` element in the first ``limit`` characters (references
    decoded, white space collapsed, at most 300 characters), ``None`` when there is none."""
    window = text[:limit]
    start = _TITLE_OPEN.search(window)
    if start is None:
        return None
    gt = window.find(">", start.end())
    if gt < 0:
        return None
    end = _TITLE_CLOSE.search(window, gt + 1)
    if end is None:
        return None
    return " ".join(_unescape_text(window[gt + 1:end.start()]).split())[:300]


# --- URLs ----------------------------------------------------------------------------------------

#: the URL standard's forbidden domain code points, with "%" (never decoded here)
_BAD_HOST_CHAR = re.compile(r"[\x00-\x20\x7f#%/:<>?@\[\\\]^|]")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


def _host_problem(host: str) -> str | None:
    if m := _BAD_HOST_CHAR.search(host):
        return f"invalid host (character {m.group()!r})"
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # the URL standard reads such a host as IPv4
        return "IP-literal host"
    if len(host) > 254 or any(not 0 < len(label) <= 63 for label in labels):
        return "invalid host (empty or overlong label)"
    try:
        if not host.isascii():
            idna.encode(host, uts46=True, transitional=False)
        for label in labels:
            if label.startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError):
        return "invalid host (not valid IDNA)"
    return None


def _port_problem(netloc: str) -> str | None:
    hostport = netloc.rpartition("@")[2]
    _, colon, port = hostport.partition(":")
    if not colon or not port:
        return None
    if not (port.isascii() and port.isdigit()) or len(port.lstrip("0")) > 5 or int(port) > 65535:
        return "invalid port"
    number = int(port)
    if number == 0:
        return "port 0"
    if number in BAD_PORTS:
        return f"blocked port {number} (fetch standard bad port)"
    if number in SERVICE_PORTS:
        return f"blocked port {number} (a non-web service port)"
    return None


def url_problem(url: str) -> str | None:
    """Why a browser would not fetch the absolute ``url``, or ``None`` for a usable http(s) URL.

    Reasons: ``URL longer than 2048 characters``, ``malformed URL``, ``not an absolute URL``,
    ``scheme X``, ``no host``, ``IP-literal host`` (``[2001:db8::1]``, ``10.0.0.1``, and hosts the
    URL standard reads as IPv4 such as ``0x7f.1``), ``invalid host (...)`` (forbidden characters,
    empty or overlong labels, not IDNA-encodable), ``invalid port`` (not a number, above 65535),
    ``port 0``, ``blocked port N (fetch standard bad port)``.
    """
    if len(url) > MAX_URL:
        return f"URL longer than {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "malformed URL"
    if not parts.scheme:
        return "not an absolute URL"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme}"
    if parts.netloc.rpartition("@")[2].startswith("["):
        return "IP-literal host"
    if not host:
        return "no host"
    return _host_problem(host) or _port_problem(parts.netloc)


# --- links ---------------------------------------------------------------------------------------

_TAG_NAME = re.compile(r"[a-zA-Z][^\t\n\f\r />]*+")
_ATTR_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*+")
_SPACE = re.compile(r"[\t\n\f\r ]*+")
_SPACE_SLASH = re.compile(r"[\t\n\f\r /]*+")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*+")
_COMMENT_END = re.compile(r"--!?>")
_RAWTEXT_END = {name: re.compile(rf"</{name}[\t\n\f\r />]", re.I) for name in ("script", "style")}
#: the attributes read; the others are skipped
_WANTED = frozenset({"href", "src", "rel", "as", "poster", "data"})
_CHARREF = re.compile(r"&(?:#[xX]([0-9a-fA-F]++);?|#([0-9]++);?|([a-zA-Z][a-zA-Z0-9]*+)(;?))")

_Attrs = dict[str, str]


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a match of ``pattern`` (possessive, no backtracking) starting at ``pos`` ends."""
    m = pattern.match(text, pos)
    return m.end() if m else pos


def _charref(m: re.Match[str]) -> str:
    ref, digits, name = m.group(0), m.group(1) or m.group(2), m.group(3)
    if digits is not None:  # numeric: beyond U+10FFFF (or absurdly long) is U+FFFD, as html.unescape says
        return "\ufffd" if len(digits.lstrip("0")) > 8 else html.unescape(ref if ref.endswith(";") else ref + ";")
    if m.group(4):
        return _ENTITIES.get(name + ";", ref)
    # in an attribute, a reference without ";" is decoded only when it is a whole legacy name not
    # followed by "=" ("?a=1&copy=2" keeps its "&copy")
    return _ENTITIES[name] if name in _ENTITIES and m.string[m.end():m.end() + 1] != "=" else ref


def _attribute_value(raw: str) -> str:
    return _CHARREF.sub(_charref, raw) if "&" in raw else raw


def _read_attributes(text: str, pos: int) -> tuple[_Attrs, int] | None:
    """The wanted attributes of the tag whose name ends at ``pos`` (first occurrence wins, values
    raw, cut to MAX_VALUE + 1) and the position after its ``>``; ``None`` when the text ends inside
    the tag (the HTML standard drops such a tag)."""
    attrs: _Attrs = {}
    n = len(text)
    while True:
        pos = _skip(_SPACE_SLASH, text, pos)
        if pos >= n:
            return None
        if text[pos] == ">":
            return attrs, pos + 1
        end = _skip(_ATTR_NAME, text, pos)  # at least one character: not white space, "/" nor ">"
        name = text[pos:end].lower() if end - pos <= 8 else ""
        pos = _skip(_SPACE, text, end)
        value = ""
        if pos < n and text[pos] == "=":
            pos = _skip(_SPACE, text, pos + 1)
            if pos >= n:
                return None
            if (quote := text[pos]) in "\"'":
                end = text.find(quote, pos + 1)
                if end < 0:
                    return None
                start, pos = pos + 1, end + 1
            else:
                start = pos
                end = pos = _skip(_UNQUOTED, text, pos)
            value = text[start:min(end, start + MAX_VALUE + 1)]
        if name in _WANTED and name not in attrs:
            attrs[name] = value


def _start_tags(text: str) -> Iterator[tuple[str, _Attrs, int]]:
    """(tag name, wanted attributes, position of its "<") of each start tag, in document order,
    skipping comments, end tags, doctypes and the content of ``<script>`` and ``<style>``."""
    pos = 0
    while (lt := text.find("<", pos)) >= 0:
        c = text[lt + 1:lt + 2]
        if c.isascii() and c.isalpha():
            end = _skip(_TAG_NAME, text, lt + 1)
            name = text[lt + 1:end].lower() if end - lt <= 16 else ""
            tag = _read_attributes(text, end)
            if tag is None:
                return
            attrs, pos = tag
            yield name, attrs, lt
            if name in _RAWTEXT_END:
                if (close := _RAWTEXT_END[name].search(text, pos)) is None:
                    return
                pos = close.start()
        elif c == "/" and text[lt + 2:lt + 3].isascii() and text[lt + 2:lt + 3].isalpha():  # end tag: skipped
            if (tag := _read_attributes(text, _skip(_TAG_NAME, text, lt + 2))) is None:
                return
            pos = tag[1]
        elif text.startswith("<!--", lt):
            if text.startswith(">", lt + 4) or text.startswith("->", lt + 4):  # <!--> and <!--->
                pos = text.index(">", lt + 4) + 1
            elif (close := _COMMENT_END.search(text, lt + 4)) is None:
                return  # an unterminated comment runs to the end
            else:
                pos = close.end()
        elif c in ("!", "?", "/"):  # doctype, bogus comment, "</>" or "</ x>": up to the next ">"
            if (gt := text.find(">", lt + 2)) < 0:
                return
            pos = gt + 1
        else:  # "<" as text
            pos = lt + 1


@dataclass
class _Collector:
    base: str
    max_urls: int
    links: dict[str, None] = field(default_factory=dict)
    resources: dict[tuple[str, str], None] = field(default_factory=dict)
    rejected: dict[tuple[str, str], None] = field(default_factory=dict)
    full: bool = False
    base_set: bool = False
    #: raw value -> its URL (or None): a page repeats its links
    known: dict[str, str | None] = field(default_factory=dict)

    def url(self, raw: str | None) -> str | None:
        """The absolute URL of an attribute value, ``None`` when there is none or it is rejected."""
        if raw is None:
            return None
        if raw not in self.known:
            self.known[raw] = self._resolve(raw)
        return self.known[raw]

    def _resolve(self, raw: str) -> str | None:
        value = _attribute_value(raw).strip()
        if not value:
            return None
        url = ""
        if len(raw) > MAX_VALUE:
            problem: str | None = f"URL longer than {MAX_URL} characters"
        else:
            try:
                url = urldefrag(urljoin(self.base, value)).url
            except ValueError:
                problem = "malformed URL"
            else:
                scheme, colon, _ = url.partition(":")
                if colon and scheme.lower() in NOT_WEB_SCHEMES:
                    return None
                problem = url_problem(url)
        if problem is None:
            return url
        if len(self.rejected) < MAX_REJECTED:
            self.rejected[(value[:200], problem)] = None
        return None

    def room(self, new: bool) -> bool:
        if new and len(self.links) + len(self.resources) >= self.max_urls:
            self.full = True
        return not self.full

    def link(self, raw: str | None) -> None:
        if (u := self.url(raw)) is not None and self.room(u not in self.links):
            self.links[u] = None

    def resource(self, kind: str, raw: str | None) -> None:
        if (u := self.url(raw)) is not None and self.room((kind, u) not in self.resources):
            self.resources[(kind, u)] = None

    def set_base(self, raw: str) -> None:
        """The first ``<base href>`` is the base of the URLs after it (unless it is no usable URL)."""
        self.base_set = True
        self.known.clear()
        try:
            url = urljoin(self.base, _attribute_value(raw).strip())
            scheme = urlsplit(url).scheme
        except ValueError:
            return
        if scheme not in ("data", "javascript"):
            self.base = url


def parse_links(html: str, base: str, limit: int = MAX_PARSE, max_urls: int = MAX_URLS) -> PageLinks:
    """Links and subresources of the first ``limit`` characters of a page, as absolute http(s) URLs
    in document order, duplicates removed, at most ``max_urls`` of them; URLs no browser would
    fetch in ``rejected`` (see :func:`url_problem`).  Linear in ``min(len(html), limit)``.

    Read as the HTML standard's tokeniser does: character references decoded in attribute values,
    the first of a repeated attribute wins, a tag the text ends inside is dropped, an unterminated
    comment or ``<script>``/``<style>`` hides the rest of the page.  ``<base href>`` counts from
    where it stands (the first one only).
    """
    text = html[:limit]
    c = _Collector(base, max_urls)
    scanned = len(text)
    for name, a, start in _start_tags(text):
        if name == "base":
            if not c.base_set and "href" in a:
                c.set_base(a["href"])
        elif name in ("a", "area"):
            c.link(a.get("href"))
        elif name == "link":
            rels = set(_attribute_value(a.get("rel", "")).lower().split())
            if rels & RESOURCE_RELS:
                kind = ("font" if _attribute_value(a.get("as", "")).strip().lower() == "font"
                        else "stylesheet" if "stylesheet" in rels else "link")
                c.resource(kind, a.get("href"))
        elif name in RESOURCE_TAGS:
            for attr in RESOURCE_TAGS[name]:
                c.resource(name, a.get(attr))
        if c.full:  # this tag's URL did not fit: the page is read up to it
            scanned = start
            break
    return PageLinks(list(c.links), list(c.resources), list(c.rejected),
                     truncated=len(html) > limit or c.full, scanned=scanned)
