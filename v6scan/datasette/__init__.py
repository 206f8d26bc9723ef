"""Datasette defaults for a sweep database: titles, descriptions, facets and sort orders of the views.

``metadata.json`` (shipped with the package) describes a database named ``sweep`` (a file ``sweep.db``).
Datasette keys table metadata by the database's name (the file's stem), so for a database with
another name :func:`metadata` gives the same document under that name::

    datasette sweep.db --metadata "$(python -m v6scan.datasette)"
    python -m v6scan.datasette nationwide-2026.db > meta.json && datasette nationwide-2026.db --metadata meta.json
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["metadata", "metadata_path", "output"]


def metadata_path() -> Path:
    """The shipped ``metadata.json`` (for a database file named ``sweep.db``)."""
    return Path(str(resources.files("v6scan.datasette").joinpath("metadata.json")))


def metadata(databases: Iterable[str | Path] = ()) -> dict[str, Any]:
    """The metadata document, its database section given to each of ``databases`` (file paths or
    database names: datasette names a database by its file's stem); the shipped one without any."""
    data: dict[str, Any] = json.loads(metadata_path().read_text(encoding="utf-8"))
    names = [Path(str(d)).stem if str(d).endswith((".db", ".sqlite", ".sqlite3")) else str(d) for d in databases]
    if names:
        section = data["databases"]["sweep"]
        data["databases"] = {n: section for n in names}
    return data


def output(databases: Iterable[str | Path] = ()) -> str:
    """What ``v6scan datasette-metadata`` prints: the shipped file's path, or with ``databases`` the
    document for them (JSON)."""
    if not databases:
        return str(metadata_path())
    return json.dumps(metadata(databases), indent=2, ensure_ascii=False)
