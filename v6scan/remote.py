"""``v6scan check --remote URL``: the check runs on a ``v6scan serve`` server, this prints it.

The server measures with its own network (a CI runner without IPv6 still gets a verdict), its own
resolvers and address policy; this side sends the check's options (names, policy, checks, timeout,
www, pinned addresses), waits for the result, and rebuilds the outcomes a local check would have
had (:mod:`v6scan.wire`), so the output in every format, the exit code and the gates are those of a
local check.  httpx is the client; proxies from the environment apply (a CI runner may need one).

Failures map to ``check``'s exit codes: a refused request or token is a usage error (2); a server
that cannot be reached or does not finish in time leaves the sites unjudged (3); a server answering
something that cannot be read is an internal error (4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from v6scan import __version__
from v6scan.errors import V6scanError

__all__ = ["DEADLINE", "RemoteError", "remote_check"]

log = logging.getLogger(__name__)

#: seconds a remote check may take in all (the server's per-target deadline is 120 s)
DEADLINE = 900.0
#: seconds one read waits on the server for the check to finish (long poll)
WAIT = 30.0
#: tries of a request the network or the server failed
ATTEMPTS = 4


class RemoteError(V6scanError):
    """The remote check failed; ``code`` is the exit code it means (2, 3 or 4)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _message(r: httpx.Response) -> str:
    try:
        err = r.json()["error"]
        field = f"{err['field']}: " if err.get("field") else ""
        return f"{field}{err['message']}"
    except (ValueError, KeyError, TypeError):
        return r.text[:200] or r.reason_phrase


def _send(client: httpx.Client, method: str, url: str, deadline: float, **kw: Any) -> httpx.Response:
    """One request, tried again when the network or the server (5xx) failed or the rate was hit."""
    last = ""
    for n in range(1, ATTEMPTS + 1):
        try:
            r = client.request(method, url, **kw)
        except httpx.TransportError as e:
            last = f"{type(e).__name__}: {e}"
        else:
            if r.status_code == 429:
                wait = float(r.headers.get("retry-after") or 1)
                if time.monotonic() + wait > deadline:
                    raise RemoteError(3, f"the server's rate limit for this token: {_message(r)}")
                time.sleep(wait)
                continue
            if r.status_code in (401, 403):
                raise RemoteError(2, f"the server refused the token (HTTP {r.status_code}): {_message(r)}")
            if r.status_code in (400, 404, 413):
                raise RemoteError(2, f"the server refused the request (HTTP {r.status_code}): {_message(r)}")
            if r.status_code < 500:
                return r
            last = f"HTTP {r.status_code}: {_message(r)}"
        if time.monotonic() > deadline:
            break
        log.info("remote: %s %s failed (%s); try %d of %d", method, url, last, n, ATTEMPTS)
        time.sleep(min(0.5 * 2.0 ** n, 8.0))  # 1, 2, 4 s
    raise RemoteError(3, f"the server did not answer {method} {url}: {last}")


def remote_check(base_url: str, token: str, request: Mapping[str, Any], *, deadline: float = DEADLINE,
                 transport: httpx.BaseTransport | None = None) -> list[dict[str, Any]]:
    """Run a check on the server at ``base_url``; the outcomes it measured (:mod:`v6scan.wire`)."""
    if not token:
        raise RemoteError(2, "--remote needs a token: --token, $V6SCAN_TOKEN or token in the config file")
    end = time.monotonic() + deadline
    headers = {"Authorization": f"Bearer {token}", "User-Agent": f"v6scan/{__version__} (check --remote)"}
    kw: dict[str, Any] = {"transport": transport} if transport is not None else {}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=WAIT + 15.0, **kw) as client:
        r = _send(client, "POST", "/api/v1/checks", end, json=dict(request))
        if r.status_code != 202:
            raise RemoteError(4, f"the server answered HTTP {r.status_code} to a check: {_message(r)}")
        try:
            check_id = int(r.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise RemoteError(4, f"the server's answer names no check: {r.text[:200]}") from None
        log.info("remote: check %d submitted to %s", check_id, base_url)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise RemoteError(3, f"check {check_id} on {base_url} did not finish in {deadline:g} s")
            asked = time.monotonic()
            r = _send(client, "GET", f"/api/v1/checks/{check_id}/outcomes", end,
                      params={"wait": f"{min(WAIT, max(left, 0.0)):.0f}"})
            if r.status_code == 202:
                if time.monotonic() - asked < 1.0:  # a server that does not hold the poll: not a busy loop
                    time.sleep(1.0)
                continue
            try:
                body = r.json()
                outcomes = body["outcomes"]
            except (ValueError, KeyError, TypeError):
                raise RemoteError(4, f"the server's result cannot be read: {r.text[:200]}") from None
            if not isinstance(outcomes, list) or not outcomes:
                note = body.get("note") if isinstance(body, dict) else None
                raise RemoteError(3, f"check {check_id} ended without results ({note or body.get('status')})")
            return outcomes
