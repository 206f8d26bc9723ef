"""What a reader of a zh-CN page sees that is not Chinese: the test of issue 20's "Chinese
throughout". Names (sites, organisations, providers, regions a list gives in another script),
addresses, URLs, times, check ids, library class names, what a site sent (quoted) and raw data (``<code>``, ``<pre>``,
``<small>``) are exempt; what is left must be Chinese or a technical term
(:data:`v6scan.messages.TERMS`)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from v6scan.messages import foreign_words

_RAW = re.compile(r"<(pre|code|small|style|title|script)\b[^>]*>.*?</\1>", re.S)
_TAG = re.compile(r"<[^>]+>")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ][\d:.]+Z?")
_HOST = re.compile(r"\b[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\.?")
_V6 = re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:/\d+)?")
_CHECK_ID = re.compile(r"\b(?:dns|web|path|mail|self)\.[a-z0-9_]+\b")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*")
#: a library's exception class named in an error (dnspython's BadPointer)
_CLASS = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z0-9]+)+\b")
#: what a site sent, quoted by v6scan ('its page title')
_QUOTED = re.compile(r"'[^'\n]{0,300}'")


def visible(page: str, names: Iterable[str] = ()) -> str:
    """The text of an HTML page as a reader sees it, without what is exempt."""
    text = html.unescape(_TAG.sub(" ", _RAW.sub(" ", page)))
    for pattern in (_URL, _QUOTED, _TIME, _HOST, _CHECK_ID):
        text = pattern.sub(" ", text)
    for name in sorted((n for n in names if n), key=len, reverse=True):
        text = text.replace(name, " ")
    for pattern in (_V6, _CLASS):
        text = pattern.sub(" ", text)
    return text


def english(page: str, names: Iterable[str] = ()) -> list[str]:
    """The words of ``page`` a zh-CN reader would find untranslated."""
    return foreign_words(visible(page, names))


def leaks(page: str, names: Iterable[str] = (), width: int = 60) -> list[str]:
    """Each untranslated word of ``page`` in its context (for a test's message)."""
    text = visible(page, names)
    out = []
    for word in dict.fromkeys(foreign_words(text)):
        at = re.search(rf"\b{re.escape(word)}\b", text)
        if at is not None:
            out.append(" ".join(text[max(0, at.start() - width):at.end() + width].split()))
    return out
