"""Sweeps run again and again, and the message a webhook gets when a site got worse.

``v6scan scan --every 24h --webhook URL`` and the schedules of ``v6scan serve`` both sweep a list
at an interval (:func:`parse_every`), compare each sweep with the one before (:meth:`Store.diff`)
and, when a site's verdict got worse (:func:`regressions`), post :func:`webhook_message` as JSON
to the configured URL (:func:`post_webhook`).

A verdict gets worse when it moves down ``ready > partial > broken > absent > error``.  A site that
became ``inconclusive`` did not get worse: the scanner could not judge it (its own IPv6 or resolver
failed), and a site that was inconclusive has nothing to get worse from.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from v6scan import __version__
from v6scan.model import JSON, now_iso
from v6scan.store import SweepDiff

__all__ = ["EVERY_MAX", "EVERY_MIN", "WEBHOOK_SCHEMA", "parse_every", "post_webhook", "regressions", "webhook_message"]

log = logging.getLogger(__name__)

WEBHOOK_SCHEMA = "v6scan.regression/1"
#: judged verdicts from worst to best (inconclusive is no judgement)
_ORDER = ("error", "absent", "broken", "partial", "ready")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
#: the shortest interval (seconds): a sweep is not a busy loop
EVERY_MIN = 1.0
#: the longest (a year and a day)
EVERY_MAX = 366 * 86400.0


def parse_every(text: str) -> float:
    """Seconds in an interval written ``90s``, ``15m``, ``24h``, ``7d`` or a sum (``1h30m``)."""
    t = text.strip().lower()
    parts = list(_EVERY.finditer(t))
    if not t or not parts or "".join(m.group(0) for m in parts) != t:
        raise ValueError(f"{text!r} is not an interval (give e.g. 30m, 24h, 7d, 1h30m)")
    seconds = sum(float(m.group(1)) * _UNITS[m.group(2)] for m in parts)
    if seconds < EVERY_MIN:
        raise ValueError(f"{text!r} is shorter than {EVERY_MIN:g} s")
    if seconds > EVERY_MAX:
        raise ValueError(f"{text!r} is longer than 366 days")
    return seconds


def regressions(d: SweepDiff) -> list[dict[str, Any]]:
    """The sites of ``d`` whose verdict got worse from sweep ``a`` to sweep ``b``, worst first."""
    out = [r for r in d.changed
           if r["before"] in _ORDER and r["after"] in _ORDER and _ORDER.index(r["after"]) < _ORDER.index(r["before"])]
    checks: dict[str, list[dict[str, Any]]] = {}
    for c in d.checks:
        checks.setdefault(c["name"], []).append({"check": c["check"], "before": c["before"], "after": c["after"]})
    return sorted(({**r, "checks": checks.get(r["name"], [])} for r in out),
                  key=lambda r: (_ORDER.index(r["after"]), r["name"]))


def webhook_message(d: SweepDiff, worse: list[dict[str, Any]], source: Mapping[str, JSON],
                    links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON a webhook receives: which sweeps were compared, under which policy, and every site
    whose verdict got worse, with the checks that changed (the ``diff`` data)."""
    return {"schema": WEBHOOK_SCHEMA, "event": "regression", "sent_at": now_iso(), "version": __version__,
            "source": dict(source), "policy": d.policy, "sweep_before": d.a, "sweep_after": d.b,
            "regressions": worse, "count": len(worse), "gained": len(d.gained), "links": dict(links or {})}


async def post_webhook(url: str, message: Mapping[str, Any], *, timeout: float = 10.0, attempts: int = 3,
                       backoff: float = 1.0) -> bool:
    """POST ``message`` as JSON to ``url``; tried ``attempts`` times (a 2xx answer ends it); False
    when every try failed (logged, never raised: a receiver that is down must not stop a sweep)."""
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        for n in range(1, attempts + 1):
            try:
                r = await client.post(url, json=message, headers={"User-Agent": f"v6scan/{__version__} webhook"})
                if 200 <= r.status_code < 300:
                    log.info("webhook: %d regressions sent (HTTP %d)", message.get("count", 0), r.status_code)
                    return True
                why = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                why = f"{type(e).__name__}: {e}"
            log.warning("webhook: try %d of %d failed: %s", n, attempts, why)
            if n < attempts:
                await asyncio.sleep(backoff * 2 ** (n - 1))
    return False
