"""Is the page served over IPv6 the same site as over IPv4?  Pure functions, linear-bounded.

Bodies are normalised before comparing: per-request values (CSP nonces,
anti-CSRF tokens, ASP.NET ``__VIEWSTATE``/``__EVENTVALIDATION``, long
random-looking tokens, timestamps) are stripped, every run of digits compares
equal (counters, clocks, request ids, rotating items), and at most
``MAX_COMPARE`` characters of each page are used.  No pattern can backtrack:
quantifiers are possessive or bounded, and ``<input>``/``<meta>`` tags are cut
out first and their names checked in Python.

The similarity is ``2 * common / (words_v6 + words_v4)`` over the normalised
words, ``common`` the length of a common subsequence: the longest one (an exact
diff, Myers' algorithm) while that fits in ``MAX_DIFF_STEPS`` steps, otherwise
an alignment on the words that occur once in each page (as ``git diff
--patience`` does), the stretches between them diffed exactly while the budget
lasts, and what is left compared as word multisets of matching ``WINDOW``-word
windows.  1.0 means identical after normalisation.  Apart from the bounded diff,
everything is linear (or n log n) in the capped text.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

__all__ = ["MAX_COMPARE", "MAX_DIFF_STEPS", "Comparison", "compare", "normalise"]

#: characters of each page compared
MAX_COMPARE = 200_000
#: steps of exact word diff per comparison (about 0.2 s of CPU at most)
MAX_DIFF_STEPS = 600_000
#: words per window where neither an exact diff nor unique words align the pages
WINDOW = 32

_TOKEN_TAG = re.compile(r"<(input|meta)[^<>]{1,2000}+>", re.I)
_NAME = re.compile(r"name=[\"']?([\w-]{1,200}+)", re.I)
_INPUT_PREFIXES = ("__viewstate", "__eventvalidation", "__requestdigest")
_TOKEN_WORDS = {"input": ("csrf", "xsrf", "token", "authenticity"), "meta": ("csrf", "xsrf", "token")}
_PATTERNS = [
    re.compile(r'\bnonce=("[^"]{0,2000}+"|\'[^\']{0,2000}+\'|\S{1,2000}+)', re.I),
    re.compile(r"\b[0-9a-f]{24,}+\b", re.I),  # hex tokens, hashes, session ids
    re.compile(r"\b[A-Za-z0-9+/_-]{32,}+={0,2}"),  # base64-ish tokens
    re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d++)?(Z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"\b1[5-9]\d{8}(\d{3})?\b"),  # unix timestamps (s or ms)
]
_WS = re.compile(r"\s+")
#: what is left of counters, clocks, ids and rotating items once the patterns above ran: every run of
#: digits compares equal (a page that differs only in its numbers is the same site)
_DIGITS = re.compile(r"\d+")


def _token_tag(m: re.Match[str]) -> str:
    """An ``<input>`` or ``<meta>`` tag named like a per-request token is dropped."""
    kind = m.group(1).lower()
    for n in _NAME.finditer(m.group()):
        name = n.group(1).lower()
        if (kind == "input" and name.startswith(_INPUT_PREFIXES)) or any(w in name for w in _TOKEN_WORDS[kind]):
            return " "
    return m.group()


def normalise(text: str) -> str:
    t = _PATTERNS[0].sub(" ", text[:MAX_COMPARE])
    t = _TOKEN_TAG.sub(_token_tag, t)
    for p in _PATTERNS[1:]:
        t = p.sub(" ", t)
    t = _DIGITS.sub("0", t)
    return _WS.sub(" ", t).strip()


@dataclass(frozen=True, slots=True)
class Comparison:
    similarity: float
    quick_ratio: float
    same_status: bool
    same_title: bool
    same_final_path: bool
    size_v6: int
    size_v4: int
    differences: tuple[str, ...]


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps


def _distance(a: list[str], b: list[str], limit: int) -> tuple[int | None, int]:
    """(insertions plus deletions turning ``a`` into ``b``, steps spent): Myers' O(ND) diff, given
    up (``None``) after ``limit`` steps."""
    n, m = len(a), len(b)
    v = {1: 0}
    spent = 0
    for d in range(n + m + 1):
        for k in range(-d, d + 1, 2):
            x = v[k + 1] if k == -d or (k != d and v[k - 1] < v[k + 1]) else v[k - 1] + 1
            y, x0 = x - k, x
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            v[k] = x
            spent += 1 + x - x0
            if x >= n and y >= m:
                return d, spent
            if spent > limit:
                return None, spent
    raise AssertionError("unreachable: the diff ends by d = len(a) + len(b)")


def _anchors(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """The longest in-order chain of (i, j), ``a[i] == b[j]`` a word occurring once in each, with
    a neighbour that matches too (a lone one is too often a coincidence)."""
    ca, cb = Counter(a), Counter(b)
    where = {w: j for j, w in enumerate(b) if cb[w] == 1 and ca[w] == 1}
    pairs = [(i, j) for i, w in enumerate(a) if (j := where.get(w, -1)) >= 0
             and ((i > 0 and j > 0 and a[i - 1] == b[j - 1])
                  or (i + 1 < len(a) and j + 1 < len(b) and a[i + 1] == b[j + 1]))]
    tails: list[int] = []  # tails[k]: smallest j ending a chain of length k + 1 (patience sorting)
    ends: list[int] = []  # index in pairs of that chain's end
    back: list[int] = []
    for idx, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        back.append(ends[k - 1] if k else -1)
        if k == len(tails):
            tails.append(j)
            ends.append(idx)
        else:
            tails[k], ends[k] = j, idx
    chain: list[tuple[int, int]] = []
    idx = ends[-1] if ends else -1
    while idx >= 0:
        chain.append(pairs[idx])
        idx = back[idx]
    return chain[::-1]


def _windowed(a: list[str], b: list[str]) -> int:
    """Words shared by matching windows of about ``WINDOW`` words (each side cut into as many)."""
    k = -(-max(len(a), len(b)) // WINDOW)
    return sum(sum((Counter(a[i * len(a) // k:(i + 1) * len(a) // k])
                    & Counter(b[i * len(b) // k:(i + 1) * len(b) // k])).values()) for i in range(k))


def _common(a: list[str], b: list[str], budget: _Budget, depth: int = 0) -> int:
    """Length of a common subsequence of ``a`` and ``b``: the longest while the budget lasts."""
    lo, hi_a, hi_b = 0, len(a), len(b)
    while lo < hi_a and lo < hi_b and a[lo] == b[lo]:
        lo += 1
    while hi_a > lo and hi_b > lo and a[hi_a - 1] == b[hi_b - 1]:
        hi_a, hi_b = hi_a - 1, hi_b - 1
    same = lo + len(a) - hi_a
    a, b = a[lo:hi_a], b[lo:hi_b]
    if not a or not b:
        return same
    n = len(a) + len(b)
    if budget.left > 0:  # an exact diff: with all it may need if the budget allows, else a cheap try
        d, spent = _distance(a, b, n * n if n * n <= budget.left else min(32 * n, budget.left // 4))
        budget.left -= spent
        if d is not None:
            return same + (n - d) // 2
    if depth < 2 and (chain := _anchors(a, b)):
        total, i0, j0 = same + len(chain), 0, 0
        for i, j in [*chain, (len(a), len(b))]:
            total += _common(a[i0:i], b[j0:j], budget, depth + 1)
            i0, j0 = i + 1, j + 1
        return total
    return same + _windowed(a, b)


def _dice(a: Counter[str], b: Counter[str], size: int) -> float:
    return 2.0 * sum((a & b).values()) / size if size else 1.0


def _ratio(a: str, b: str) -> tuple[float, float]:
    if a == b:
        return 1.0, 1.0
    quick = _dice(Counter(a), Counter(b), len(a) + len(b))  # difflib's quick_ratio: shared characters
    wa, wb = a.split(" "), b.split(" ")
    ratio = 2.0 * _common(wa, wb, _Budget(MAX_DIFF_STEPS)) / (len(wa) + len(wb))
    return min(ratio, 0.9999), quick  # 1.0 is for identical pages only


def compare(v6: dict[str, object], v4: dict[str, object], text_v6: str, text_v4: str) -> Comparison:
    """Compare two final pages (dicts with http_status, title, url path) and their texts."""
    n6, n4 = normalise(text_v6), normalise(text_v4)
    ratio, quick = _ratio(n6, n4)
    diffs: list[str] = []
    same_status = v6.get("http_status") == v4.get("http_status")
    if not same_status:
        diffs.append(f"HTTP status differs: {v6.get('http_status')} over IPv6, "
                     f"{v4.get('http_status')} over IPv4")
    same_title = (v6.get("title") or "") == (v4.get("title") or "")
    if not same_title:
        diffs.append(f"title differs: {v6.get('title')!r} over IPv6, {v4.get('title')!r} over IPv4")
    same_path = v6.get("path") == v4.get("path")
    if not same_path:
        diffs.append(f"final URL differs: {v6.get('url')} over IPv6, {v4.get('url')} over IPv4")
    s6, s4 = len(text_v6), len(text_v4)
    if max(s6, s4) and abs(s6 - s4) / max(s6, s4) > 0.2:
        diffs.append(f"size differs: {s6} characters over IPv6, {s4} over IPv4")
    if ratio < 1.0:
        diffs.append(f"normalised body similarity {ratio:.2f}")
    return Comparison(round(ratio, 4), round(quick, 4), same_status, same_title, same_path, s6, s4,
                      tuple(diffs))
