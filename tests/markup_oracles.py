"""Oracles: the title, link and comparison code that :mod:`v6scan.markup` and :mod:`v6scan.similarity`
replaced (quadratic on hostile markup), for the equivalence tests (tests/test_markup.py) and the
before/after benchmark (benchmarks/markup.py).  Never used by the scanner."""

from __future__ import annotations

import difflib
import html
import re
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

from v6scan.markup import RESOURCE_RELS, RESOURCE_TAGS

__all__ = ["old_compare", "old_normalise", "old_parse_links", "old_title_of"]

def old_title_of(text: str) -> str | None:
    m = re.search(r"<title[^>]*>(.*?)</title\s*>", text, re.I | re.S)
    if not m:
        return None
    return " ".join(html.unescape(m.group(1)).split())[:300]


class _OldParser(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.links: list[str] = []
        self.resources: list[tuple[str, str]] = []

    def _url(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            url, _ = urldefrag(urljoin(self.base, value.strip()))
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return url

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "base" and a.get("href"):
            self.base = urljoin(self.base, a["href"] or "")
        elif tag in ("a", "area"):
            if (u := self._url(a.get("href"))) is not None:
                self.links.append(u)
        elif tag == "link":
            rels = set((a.get("rel") or "").lower().split())
            if rels & RESOURCE_RELS and (u := self._url(a.get("href"))) is not None:
                kind = "font" if (a.get("as") or "") == "font" else ("stylesheet" if "stylesheet" in rels
                                                                       else "link")
                self.resources.append((kind, u))
        elif tag in RESOURCE_TAGS:
            for attr in RESOURCE_TAGS[tag]:
                if (u := self._url(a.get(attr))) is not None:
                    self.resources.append((tag, u))


def old_parse_links(text: str, base: str) -> tuple[list[str], list[tuple[str, str]]]:
    p = _OldParser(base)
    p.feed(text)
    p.close()
    return list(dict.fromkeys(p.links)), list(dict.fromkeys(p.resources))


_OLD_PATTERNS = [
    re.compile(r'\bnonce=("[^"]*"|\'[^\']*\'|\S+)', re.I),
    re.compile(r'<input[^>]+name=["\']?(__VIEWSTATE\w*|__EVENTVALIDATION|__REQUESTDIGEST|'
               r'[\w-]*(csrf|xsrf|token|authenticity)[\w-]*)["\']?[^>]*>', re.I),
    re.compile(r'<meta[^>]+name=["\']?[\w-]*(csrf|xsrf|token)[\w-]*["\']?[^>]*>', re.I),
    re.compile(r"\b[0-9a-f]{24,}\b", re.I),
    re.compile(r"\b[A-Za-z0-9+/_-]{32,}={0,2}"),
    re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"\b1[5-9]\d{8}(\d{3})?\b"),
]


def old_normalise(text: str, cap: int | None = None) -> str:
    t = text if cap is None else text[:cap]
    for p in _OLD_PATTERNS:
        t = p.sub(" ", t)
    t = re.sub(r"\d+", "0", t)
    return re.sub(r"\s+", " ", t).strip()


def old_compare(text_v6: str, text_v4: str) -> float:
    """The old word-diff ratio (with its 500,000-character cap and 40,000-word fallback)."""
    a, b = old_normalise(text_v6, 500_000), old_normalise(text_v4, 500_000)
    if a == b:
        return 1.0
    quick = difflib.SequenceMatcher(None, a, b, autojunk=False).quick_ratio()
    wa, wb = a.split(" "), b.split(" ")
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio() if len(wa) + len(wb) <= 40_000 \
        else quick
