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
import multiprocessing as mp
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from tests.markup_oracles import old_compare, old_parse_links, old_title_of
from v6scan.markup import parse_links, title_of
from v6scan.similarity import compare

MB = 1 << 20
BASE = "https://example.org/"
PAGE = {"http_status": 200, "title": "t", "path": "/"}


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
