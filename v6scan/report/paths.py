"""Where each page of a report directory lives (relative paths): one place for the site, group
and list pages, which the remediation pages link to as well."""

from __future__ import annotations

import hashlib
import re

__all__ = ["BUCKET", "group_file", "list_file", "site_file"]

#: site pages per directory under sites/
BUCKET = 1000

_SAFE = re.compile(r"[a-z0-9][a-z0-9.-]{0,200}")


def _slug(name: str) -> str:
    """A file name for any group name: its ASCII letters and digits, then a hash of the whole name
    (two names never share a file, whatever they contain)."""
    plain = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{plain}-{digest}" if plain else digest


def site_file(tid: int, name: str) -> str:
    """The site page of target ``tid`` (its id in the store), relative to the report directory."""
    base = name if _SAFE.fullmatch(name) and ".." not in name else f"t{tid}"
    return f"sites/{tid // BUCKET:04d}/{base}.html"


def group_file(dim: str, name: str, page: int = 1) -> str:
    return f"{dim}/{_slug(name)}{'' if page == 1 else f'-{page}'}.html"


def list_file(dim: str, page: int = 1) -> str:
    return f"{dim}/index{'' if page == 1 else f'-{page}'}.html"
