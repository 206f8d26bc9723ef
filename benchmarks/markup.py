"""Pathological markup: the linear title/link/comparison code against the code it replaced.

    .venv/bin/python -m benchmarks.markup [--timeout 60] [--old-max 1.0]

For each hostile page (an unclosed ``<title>`` before ~50,000 ``<title><a href=...`` fragments,
one line of words, nested ``<div>``s, ``<a href="`` repeated, an unterminated comment, distinct
``<img>`` hosts) at 0.25, 0.5 and 1 MB, prints the seconds taken by ``title_of``,
``parse_links`` and ``compare`` (the page against itself with one word inserted): the new ones
(:mod:`v6scan.markup`, :mod:`v6scan.similarity`) and the old ones (the backtracking title regex,
``html.parser``, the old normaliser and difflib word ratio, copied below) from 1/32 MB up.
Each measurement runs in a child process that is killed after ``--timeout`` seconds (``>T``);
an old function that timed out is not run on larger pages.
"""

from __future__ import annotations

import argparse
import difflib
import html
import multiprocessing as mp
import re
import time
from collections.abc import Callable
from html.parser import HTMLParser
from multiprocessing.connection import Connection
from urllib.parse import urldefrag, urljoin, urlsplit

from v6scan.markup import RESOURCE_RELS, RESOURCE_TAGS, parse_links, title_of
from v6scan.similarity import compare

MB = 1 << 20
BASE = "https://example.org/"
PAGE = {"http_status": 200, "title": "t", "path": "/"}


# --- the old implementations (v6scan before the linear rewrite) --------------------------------------


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
        return url if parts.scheme in ("http", "https") and parts.hostname else None

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
                self.resources.append(("link", u))
        elif tag in RESOURCE_TAGS:
            for attr in RESOURCE_TAGS[tag]:
                if (u := self._url(a.get(attr))) is not None:
                    self.resources.append((tag, u))


def old_parse_links(text: str, base: str) -> tuple[list[str], list[tuple[str, str]]]:
    p = _OldParser(base)
    try:
        p.feed(text)
        p.close()
    except (AssertionError, ValueError):
        pass
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


def _old_normalise(text: str) -> str:
    t = text[:500_000]
    for p in _OLD_PATTERNS:
        t = p.sub(" ", t)
    t = re.sub(r"\d+", "0", t)
    return re.sub(r"\s+", " ", t).strip()


def old_compare(text_v6: str, text_v4: str) -> float:
    a, b = _old_normalise(text_v6), _old_normalise(text_v4)
    if a == b:
        return 1.0
    quick = difflib.SequenceMatcher(None, a, b, autojunk=False).quick_ratio()
    wa, wb = a.split(" "), b.split(" ")
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio() if len(wa) + len(wb) <= 40_000 \
        else quick


# --- the pages -----------------------------------------------------------------------------------------


def pages(size: int) -> dict[str, str]:
    words = " ".join(f"word{i % 997}" for i in range(size // 8))
    return {
        "unclosed <title> + fragments": "<title>" + '<title><a href="/p" ' * (size // 20),
        "one line of words": words[:size],
        "nested <div>": "<div>" * (size // 5),
        '<a href=" repeated': '<a href="' * (size // 9),
        "unterminated <!--": "<!--" + "x" * size,
        "distinct <img> hosts": "".join(f'<img src="https://h{i}.example/x.png">' for i in range(size // 37)),
    }


def variant(text: str) -> str:
    return text[:1000] + " one inserted word " + text[1000:]


FUNCTIONS: dict[str, tuple[Callable[[str], object], Callable[[str], object]]] = {
    "title_of": (title_of, old_title_of),
    "parse_links": (lambda t: parse_links(t, BASE), lambda t: old_parse_links(t, BASE)),
    "compare": (lambda t: compare(PAGE, PAGE, t, variant(t)), lambda t: old_compare(t, variant(t))),
}


def _child(fn: Callable[[str], object], text: str, conn: Connection) -> None:
    start = time.perf_counter()
    fn(text)
    conn.send(time.perf_counter() - start)


def measure(fn: Callable[[str], object], text: str, timeout: float) -> float | None:
    """Seconds ``fn(text)`` takes in a forked child, ``None`` when it was killed after ``timeout``."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, text, child))
    proc.start()
    try:
        return float(parent.recv()) if parent.poll(timeout) else None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a measurement is killed")
    ap.add_argument("--old-max", type=float, default=1.0, help="largest page (MB) the old code is run on")
    args = ap.parse_args()
    new_sizes = [MB // 4, MB // 2, MB]
    old_sizes = [s for s in (MB // 32, MB // 16, MB // 8, MB // 4, MB // 2, MB) if s <= args.old_max * MB]
    by_size = {s: pages(s) for s in sorted({*new_sizes, *old_sizes})}

    def cell(t: float | None) -> str:
        return f">{args.timeout:g}" if t is None else f"{t:.3f}"

    head = " | ".join(f"{s / MB:g} MB" for s in new_sizes)
    old_head = " | ".join(f"{s / MB:g} MB" for s in old_sizes)
    print(f"| page | function | new: {head} | old: {old_head} |")
    print("|---|---|" + "---|" * (len(new_sizes) + len(old_sizes)))
    for name in by_size[MB]:
        for fname, (new, old) in FUNCTIONS.items():
            new_cells = [cell(measure(new, by_size[s][name], args.timeout)) for s in new_sizes]
            old_cells: list[str] = []
            for s in old_sizes:
                if old_cells and old_cells[-1] in ("-", f">{args.timeout:g}"):
                    old_cells.append("-")  # it timed out on a smaller page
                    continue
                old_cells.append(cell(measure(old, by_size[s][name], args.timeout)))
            print(f"| {name} | {fname} | " + " | ".join(new_cells) + " | " + " | ".join(old_cells) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
