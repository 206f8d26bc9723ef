"""Is the page served over IPv6 the same site as over IPv4?  Pure functions.

Bodies are normalised before comparing: per-request values (CSP nonces,
anti-CSRF tokens, ASP.NET ``__VIEWSTATE``/``__EVENTVALIDATION``, long
random-looking tokens, timestamps) are stripped, every run of digits compares
equal (counters, clocks, request ids, rotating items), and at most
``MAX_COMPARE`` characters are used.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

__all__ = ["MAX_COMPARE", "Comparison", "compare", "normalise"]

MAX_COMPARE = 500_000

_PATTERNS = [
    re.compile(r'\bnonce=("[^"]*"|\'[^\']*\'|\S+)', re.I),
    re.compile(r'<input[^>]+name=["\']?(__VIEWSTATE\w*|__EVENTVALIDATION|__REQUESTDIGEST|'
               r'[\w-]*(csrf|xsrf|token|authenticity)[\w-]*)["\']?[^>]*>', re.I),
    re.compile(r'<meta[^>]+name=["\']?[\w-]*(csrf|xsrf|token)[\w-]*["\']?[^>]*>', re.I),
    re.compile(r"\b[0-9a-f]{24,}\b", re.I),  # hex tokens, hashes, session ids
    re.compile(r"\b[A-Za-z0-9+/_-]{32,}={0,2}"),  # base64-ish tokens
    re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"\b1[5-9]\d{8}(\d{3})?\b"),  # unix timestamps (s or ms)
]
_WS = re.compile(r"\s+")
#: what is left of counters, clocks, ids and rotating items once the patterns above ran: every run of
#: digits compares equal (a page that differs only in its numbers is the same site)
_DIGITS = re.compile(r"\d+")


def normalise(text: str) -> str:
    t = text[:MAX_COMPARE]
    for p in _PATTERNS:
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


def _ratio(a: str, b: str) -> tuple[float, float]:
    if a == b:
        return 1.0, 1.0
    quick = difflib.SequenceMatcher(None, a, b, autojunk=False).quick_ratio()
    wa, wb = a.split(" "), b.split(" ")
    # above 40,000 words the exact word diff is too slow: use the character-multiset bound
    ratio = difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio() if len(wa) + len(wb) <= 40_000 \
        else quick
    return ratio, quick


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
