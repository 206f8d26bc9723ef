"""v6scan's datasette plugin (entry point ``datasette``: loaded by datasette when both are installed):
defines the SQL function ``v6scan_inflate`` on datasette's connections, so the views ``observations``
and ``site_observations`` (made from packed columns) read as any other view."""

from __future__ import annotations

import sqlite3

from datasette import hookimpl  # type: ignore[import-untyped,unused-ignore]

from v6scan.store_codec import register

__all__ = ["prepare_connection"]


@hookimpl  # type: ignore[untyped-decorator,misc,unused-ignore]
def prepare_connection(conn: sqlite3.Connection) -> None:
    register(conn)
