"""What the service's request handlers share: authentication, rate limits, capped bodies, headers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v6scan.serve.auth import RateLimiter, Sessions
from v6scan.serve.config import ServerConfig
from v6scan.serve.jobs import Jobs
from v6scan.store import Store, StoreError

__all__ = ["NONE_CSP", "PAGE_CSP", "SecurityHeaders", "Service", "api_error"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the web pages' policy: nothing but the service's own stylesheet, no script at all, forms to itself
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none';"
            " frame-ancestors 'none'")
#: every other answer (JSON, exports): nothing may run or load
NONE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class Service:
    """What every request handler shares: the configuration, the jobs, rate limits and sessions."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.jobs = Jobs(config)
        self.limits = RateLimiter(config.rate_per_minute)
        self.sessions = Sessions()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.jobs.start()
        log.info("serving %s with %d tokens (%s)", self.config.db, len(self.config.tokens.names),
                 ", ".join(self.config.tokens.names))
        try:
            yield
        finally:
            await self.jobs.stop()

    async def in_store(self, fn: Callable[[Store], T]) -> T:
        """``fn(store)`` on a thread with a database connection of its own (the loop keeps serving)."""
        def run() -> T:
            with Store(self.config.db) as store:
                return fn(store)

        return await asyncio.to_thread(run)

    def public(self, e: StoreError) -> str:
        """A store error's words for a caller: the database's path is the server's business."""
        return str(e).replace(f" in {self.config.db}", "")

    def owner(self, request: Request) -> str:
        """The name of the token the request carries as ``Authorization: Bearer``; 401 without one,
        403 with a wrong one, 429 past the token's rate."""
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise HTTPException(401, "a bearer token is needed (Authorization: Bearer TOKEN)",
                                headers={"WWW-Authenticate": 'Bearer realm="v6scan"'})
        owner = self.config.tokens.identify(presented.strip())
        if owner is None:
            self.limit_failure(request)
            raise HTTPException(403, "this token is not one of the server's",
                                headers={"WWW-Authenticate": 'Bearer realm="v6scan", error="invalid_token"'})
        self.limit(owner)
        return owner

    def limit_failure(self, request: Request) -> None:
        """Wrong tokens from one client address count against a bucket of its own (guessing is slow)."""
        self.limit(f"wrong token from {request.client.host if request.client else '?'}")

    def limit(self, owner: str) -> None:
        wait = self.limits.take(owner)
        if wait:
            raise HTTPException(429, f"too many requests for this token: {self.config.rate_per_minute} a minute",
                                headers={"Retry-After": str(max(1, round(wait)))})

    async def body(self, request: Request) -> bytes:
        """The request's body, at most ``max_body`` bytes (413 beyond, before it is all read)."""
        cap = self.config.max_body
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            raise HTTPException(413, f"the body may have at most {cap} bytes")
        out = bytearray()
        async for chunk in request.stream():
            out += chunk
            if len(out) > cap:
                raise HTTPException(413, f"the body may have at most {cap} bytes")
        return bytes(out)


def api_error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
              ) -> JSONResponse:
    body: dict[str, Any] = {"error": {"status": status, "message": message}}
    if field is not None:
        body["error"]["field"] = field
    return JSONResponse(body, status, headers=headers)


class SecurityHeaders:
    """Headers on every answer: the CSP (a page's own, else :data:`NONE_CSP`), no sniffing, no
    framing, no referrer to other sites (a form posted to this one still says its Origin, which
    ``no-referrer`` would make ``null``), no caching of results."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                have = {k.lower() for k, _ in headers}
                add = {b"content-security-policy": NONE_CSP.encode(), b"x-content-type-options": b"nosniff",
                       b"x-frame-options": b"DENY", b"referrer-policy": b"same-origin",
                       b"cross-origin-opener-policy": b"same-origin", b"cache-control": b"no-store"}
                headers += [(k, v) for k, v in add.items() if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with)
