"""Every SQL statement the report writes itself, streamed (cursors, never ``fetchall``).

Only the ``targets``, ``verdicts``, ``attributions`` and ``indicators`` tables are read here; evidence is read through
:meth:`v6scan.store.Store.observation_texts` alone, whatever its storage.  Kept in one module so it can
move into ``v6scan/store.py`` as it is.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from v6scan.indicators import PARTS, Indicators
from v6scan.providers import Attribution
from v6scan.store import Store

__all__ = [
    "DIMENSIONS",
    "count_groups",
    "count_verdicts",
    "hold_writers",
    "indicator_summaries",
    "iter_group_rows",
    "iter_group_summaries",
    "iter_site_rows",
    "iter_verdicts_by_organisation",
    "row_attribution",
    "row_indicators",
]

#: the columns a report groups sites by (fixed names, never input)
DIMENSIONS = ("sector", "region", "organisation")

_COLUMNS = ("t.id AS tid, t.position, t.name, t.display, t.sector, t.region, t.organisation, t.finished, "
            "v.policy, v.verdict, v.score, v.points")


def _sql(template: str, dim: str = "sector") -> str:
    """``template`` with ``$COLUMNS`` and ``$DIM`` filled in (``dim`` one of :data:`DIMENSIONS`)."""
    if dim not in DIMENSIONS:
        raise ValueError(f"not a report dimension: {dim!r}")
    return template.replace("$COLUMNS", _COLUMNS).replace("$DIM", dim)


@contextlib.contextmanager
def hold_writers(store: Store) -> Iterator[None]:
    """No writer commits to the database while this lasts (a write transaction, begun on a
    connection of its own and never written to): read transactions begun meanwhile, in this
    process or others, all see the same database.  Where that lock cannot be had (a read-only
    file), nothing is held."""
    conn = sqlite3.connect(store.path, timeout=10, isolation_level=None)
    try:
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def count_verdicts(store: Store, sweep_id: int, policy: str) -> int:
    """How many targets of the sweep have a verdict under ``policy``."""
    return int(store.db.execute("SELECT count(*) FROM verdicts WHERE sweep_id = ? AND policy = ?",
                                [sweep_id, policy]).fetchone()[0])


def iter_group_rows(store: Store, sweep_id: int, policy: str, dim: str) -> Iterator[dict[str, Any]]:
    """The light columns of every verdict (no checks, no reasons), ordered by ``dim`` (``sector``,
    ``region`` or ``organisation``; a missing value is ``'-'``), then target order."""
    cur = store.db.conn.execute(_sql(
        "SELECT $COLUMNS, coalesce(t.$DIM, '-') AS grp FROM verdicts v JOIN targets t ON t.id = v.target_id"
        " WHERE v.sweep_id = ? AND v.policy = ? ORDER BY grp, t.position", dim), [sweep_id, policy])
    cols = [d[0] for d in cur.description]
    for values in cur:
        yield dict(zip(cols, values, strict=True))


def iter_site_rows(store: Store, sweep_id: int, policy: str, shard: tuple[int, int] | None = None
                   ) -> Iterator[dict[str, Any]]:
    """Every target of the sweep that is done or has a verdict under ``policy``, in target order
    (the order of :meth:`Store.observation_texts`, whose targets are a subset, for the same
    ``shard``), with its verdict's columns decoded (``verdict`` is None for a target without one
    under ``policy``) and its attribution (``attribution``: JSON text, None when it has none:
    :meth:`Store.ensure_attributions` first); ``shard=(k, n)``: only the targets whose id is ``k``
    modulo ``n``."""
    k, n = shard or (0, 1)
    cur = store.db.conn.execute(_sql(
        "SELECT $COLUMNS, v.names, v.checks, v.details, v.reasons, a.data AS attribution, i.data AS indicators"
        " FROM targets t LEFT JOIN verdicts v ON v.target_id = t.id AND v.policy = ?"
        " LEFT JOIN attributions a ON a.target_id = t.id LEFT JOIN indicators i ON i.target_id = t.id"
        " WHERE t.sweep_id = ? AND (t.status = 'done' OR v.id IS NOT NULL) AND t.id % ? = ? ORDER BY t.position"),
        [policy, sweep_id, n, k])
    cols = [d[0] for d in cur.description]
    for values in cur:
        row = dict(zip(cols, values, strict=True))
        yield store.decode_verdict(row) if row["verdict"] is not None else row


def row_attribution(row: Mapping[str, Any]) -> Attribution | None:
    """The attribution a row of :func:`iter_site_rows` (or the like) carries, decoded."""
    text = row.get("attribution")
    return Attribution.from_json(json.loads(text)) if text else None


def row_indicators(row: Mapping[str, Any]) -> Indicators | None:
    """The CN indicators a row of :func:`iter_site_rows` carries, decoded."""
    text = row.get("indicators")
    return Indicators.from_json(json.loads(text)) if text else None


def iter_verdicts_by_organisation(store: Store, sweep_id: int, policy: str, decode: bool = True
                                  ) -> Iterator[dict[str, Any]]:
    """Every verdict of the sweep under ``policy``, ordered by organisation (``grp``: ``'-'`` for
    none), then target order: decoded as :func:`iter_site_rows` gives it (``decode``), or its light
    columns alone."""
    heavy = ", v.names, v.checks, v.details, v.reasons, a.data AS attribution" if decode else ""
    cur = store.db.conn.execute(_sql(
        f"SELECT $COLUMNS{heavy}, coalesce(t.organisation, '-') AS grp"  # noqa: S608  # fixed column lists
        " FROM verdicts v JOIN targets t ON t.id = v.target_id LEFT JOIN attributions a ON a.target_id = t.id"
        " WHERE v.sweep_id = ? AND v.policy = ? ORDER BY grp, t.position"), [sweep_id, policy])
    cols = [d[0] for d in cur.description]
    for values in cur:
        row = dict(zip(cols, values, strict=True))
        yield store.decode_verdict(row) if decode else row


def indicator_summaries(store: Store, sweep_id: int, policy: str, dim: str | None) -> list[dict[str, Any]]:
    """The CN indicators (table ``indicators``) summed up per value of ``dim`` (``sector`` or
    ``region``; None: the whole sweep, one row named ``''``): ``sites`` with a verdict, ``measured``
    (those whose homepage was probed over IPv6), the mean IPv6 and IPv4 success rates, the share of
    measured sites whose every IPv6 probe succeeded, and per part of the latency breakdown the mean
    IPv6/IPv4 ratio (``ratio_<part>``, over the sites where both were measured)."""
    group = _sql("coalesce(t.$DIM, '-')", dim or "sector") if dim else "''"
    ratios = "".join(f", avg(i.ratio_{p})" for p in PARTS)
    cur = store.db.conn.execute(
        f"SELECT {group} AS grp, count(*), count(i.success_v6), avg(i.success_v6), avg(i.success_v4),"  # noqa: S608
        f" avg(CASE WHEN i.success_v6 >= 1 THEN 1.0 WHEN i.success_v6 IS NOT NULL THEN 0.0 END){ratios}"
        " FROM verdicts v JOIN targets t ON t.id = v.target_id LEFT JOIN indicators i ON i.target_id = t.id"
        " WHERE v.sweep_id = ? AND v.policy = ? GROUP BY grp ORDER BY grp", [sweep_id, policy])
    out = []
    for grp, sites, measured, s6, s4, all_ok, *parts in cur:
        out.append({"name": grp, "sites": sites, "measured": measured, "success_v6": s6, "success_v4": s4,
                    "all_ok_v6": all_ok, **{f"ratio_{p}": r for p, r in zip(PARTS, parts, strict=True)}})
    return out


def count_groups(store: Store, sweep_id: int, policy: str, dim: str) -> int:
    """How many distinct values of ``dim`` the sweep's verdicts under ``policy`` have."""
    return int(store.db.execute(_sql(
        "SELECT count(DISTINCT coalesce(t.$DIM, '-')) FROM verdicts v JOIN targets t ON t.id = v.target_id"
        " WHERE v.sweep_id = ? AND v.policy = ?", dim), [sweep_id, policy]).fetchone()[0])


def iter_group_summaries(store: Store, sweep_id: int, policy: str, dim: str, verdicts: tuple[str, ...]
                         ) -> Iterator[dict[str, Any]]:
    """Per value of ``dim``, in the order of :func:`iter_group_rows`: ``name``, ``sites``, ``counts``
    per verdict (every one of ``verdicts``), ``ready_share`` and ``average_score``."""
    cur = store.db.conn.execute(_sql(
        "SELECT coalesce(t.$DIM, '-') AS grp, v.verdict, count(*), sum(v.score)"
        " FROM verdicts v JOIN targets t ON t.id = v.target_id WHERE v.sweep_id = ? AND v.policy = ?"
        " GROUP BY grp, v.verdict ORDER BY grp", dim), [sweep_id, policy])
    current: dict[str, Any] | None = None
    for grp, verdict, n, score in cur:
        if current is None or current["name"] != grp:
            if current is not None:
                yield _summary(current)
            current = {"name": grp, "sites": 0, "score_sum": 0, "counts": dict.fromkeys(verdicts, 0)}
        current["sites"] += n
        current["score_sum"] += score
        current["counts"][verdict] = current["counts"].get(verdict, 0) + n
    if current is not None:
        yield _summary(current)


def _summary(g: dict[str, Any]) -> dict[str, Any]:
    n = g["sites"] or 1
    return {"name": g["name"], "sites": g["sites"], "counts": g["counts"],
            "ready_share": g["counts"].get("ready", 0) / n, "average_score": g.pop("score_sum") / n}
