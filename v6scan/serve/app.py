"""The ASGI application of ``v6scan serve``: the API under ``/api/v1`` and the web pages.

Starlette on uvicorn, in the engine's event loop (uvloop): the checks and sweeps the service runs
share the loop with the requests, and :class:`~v6scan.serve.jobs.Jobs`' limit and the engine's
pacing keep the requests answered while they run.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from v6scan.serve import api, web
from v6scan.serve.config import ServerConfig
from v6scan.serve.service import SecurityHeaders, Service, api_error

__all__ = ["create_app"]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return api_error(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
    return web.error_page(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))


def create_app(config: ServerConfig) -> Starlette:
    """The application serving ``config``."""
    service = Service(config)
    app = Starlette(routes=[*api.routes(service), *web.routes(service)], lifespan=service.lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.add_middleware(SecurityHeaders)
    app.state.service = service
    return app
