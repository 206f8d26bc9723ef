"""The HTTP API, version 1: ``/api/v1/...`` (documented by :mod:`v6scan.serve.openapi`).

Every write and every read of results needs a bearer token (401 without, 403 with a wrong one, 429
past its rate); ``/api/v1/health`` and the OpenAPI document do not.  Errors are JSON
``{"error": {"status", "message", "field"}}``.  A request's options are validated by
:mod:`v6scan.options`, as the command line validates them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from v6scan import __version__
from v6scan.model import JSON, now_iso
from v6scan.options import OptionError, request_settings
from v6scan.output import FORMATS, json_text, render
from v6scan.report.sweep_export import EXPORT_FORMATS, MEDIA_TYPES, export_sweep
from v6scan.schedule import parse_every
from v6scan.scoring import BUILTIN_POLICIES, load_policy, policy_from_json, score_target
from v6scan.serve.jobs import TargetListError, parse_list
from v6scan.serve.openapi import openapi_document
from v6scan.serve.service import Service, api_error
from v6scan.store import Store, StoreError
from v6scan.sweep import stored_config
from v6scan.wire import outcome_from_json, stored_outcome

__all__ = ["check_outcomes", "routes", "sweep_info"]

#: seconds a read may wait for a check to finish (``?wait=``)
WAIT_MAX = 60.0
_TEXT_TYPES = {"json": "application/json", "jsonl": "application/x-ndjson", "junit": "application/xml",
               "sarif": "application/sarif+json", "text": "text/plain; charset=utf-8",
               "github": "text/plain; charset=utf-8"}


def _int(value: str | None, name: str) -> int:
    """A sweep's or schedule's id (1 to 2**63 - 1, SQLite's integers)."""
    if value is None:
        raise OptionError(name, "is needed")
    try:
        n = int(value)
    except ValueError:
        raise OptionError(name, f"{value!r} is not a whole number") from None
    if not 0 < n < 1 << 63:
        raise OptionError(name, f"{value!r} is not an id")
    return n


def _wait(request: Request) -> float:
    raw = request.query_params.get("wait") or "0"
    try:
        wait = float(raw)
    except ValueError:
        raise OptionError("wait", f"{raw!r} is not a number of seconds") from None
    if not math.isfinite(wait) or wait < 0:
        raise OptionError("wait", f"{raw!r} is not a number of seconds")
    return min(WAIT_MAX, wait)


def _choice(value: str | None, name: str, choices: Iterable[str], default: str) -> str:
    v = value or default
    if v not in choices:
        raise OptionError(name, f"{v!r} is not one of {', '.join(choices)}")
    return v


def sweep_info(store: Store, row: dict[str, Any], state: str | None = None) -> dict[str, JSON]:
    """A sweep as the API lists it: who asked for what, its status and progress, its verdicts."""
    sid = int(row["id"])
    try:
        config = json.loads(row.get("config") or "{}")
    except json.JSONDecodeError:
        config = {}
    api = config.get("api") if isinstance(config.get("api"), dict) else {}
    counts = store.target_counts(sid)
    total = int(row["targets"])
    done = int(counts.get("done", 0))
    status = str(row["status"])
    if status == "running" and state == "queued":
        status = "queued"
    return {"id": sid, "kind": api.get("kind", "scan"), "owner": api.get("owner"), "status": status,
            "policy": row["policy"], "started": row["started"], "finished": row["finished"], "note": row["note"],
            "targets": total, "done": done, "pending": int(counts.get("pending", 0)),
            "retry": int(counts.get("retry", 0)), "excluded": int(counts.get("excluded", 0)),
            "progress": round(done / total, 4) if total else 1.0,
            "verdicts": store.verdict_counts(sid, str(row["policy"])), "schedule": api.get("schedule"),
            "request": api.get("request")}


def check_outcomes(store: Store, sweep_id: int) -> list[dict[str, JSON]]:
    """Every measured target of a sweep as :func:`v6scan.wire.stored_outcome`, in its order, scored
    from its stored observations with the sweep's policy as a local check scores them (scoring is
    pure: the verdict stored with it, but every result in the order scoring gives)."""
    policy = policy_from_json(stored_config(store, sweep_id)["policy"])
    return [stored_outcome(row, obs, score_target(str(row["tname"]), obs, policy))
            for row, obs in store.observations(sweep_id)]


def routes(service: Service) -> list[BaseRoute]:  # noqa: C901, PLR0915  # one handler per endpoint, read top to bottom
    cfg = service.config

    def guarded(fn: Callable[[Request, str], Coroutine[Any, Any, Response]]
                ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def handler(request: Request) -> Response:
            owner = service.owner(request)
            try:
                return await fn(request, owner)
            except OptionError as e:
                return api_error(400, e.message, e.option)
            except (TargetListError, UnicodeDecodeError) as e:
                return api_error(400, str(e), "body")
            except StoreError as e:  # (the database's path is the server's business)
                return api_error(404, service.public(e))
        return handler

    def room(owner: str) -> None:
        if service.jobs.active(owner) >= cfg.max_queued:
            raise HTTPException(429, f"this token has {cfg.max_queued} checks and sweeps queued or running: wait"
                                " for them", headers={"Retry-After": "30"})

    async def json_body(request: Request) -> dict[str, Any]:
        raw = await service.body(request)
        try:
            data = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise OptionError("body", f"not JSON: {e}") from None
        except RecursionError:
            raise OptionError("body", "JSON nested too deep") from None
        if not isinstance(data, dict):
            raise OptionError("body", "give a JSON object")
        return data

    def query_request(request: Request) -> dict[str, Any]:
        """A sweep's options from the query string (the body is its target list)."""
        q = request.query_params
        out: dict[str, Any] = {}
        for key in q:
            if key == "every":
                continue
            if key == "names":
                raise OptionError("names", "a sweep's targets are its body's list, not names in the query")
            values = q.getlist(key)
            out[key] = values if key == "addresses" else values[-1]
        return out

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def selfcheck(request: Request, owner: str) -> Response:
        from v6scan.checks.base import Run
        from v6scan.checks.self_v6 import probe
        from v6scan.context import Context

        async with Context.create(cfg.settings) as ctx:
            o = await probe(ctx, Run(ctx, "self", "self"))
        return JSONResponse({"usable": o.status == "ok", "observation": o.to_json()})

    async def submit_check(request: Request, owner: str) -> Response:
        body = await json_body(request)
        room(owner)
        settings, policy, targets = request_settings(cfg.settings, body, cfg.excluded, sweep=False)
        sid = await service.jobs.submit("check", owner, body, settings, policy, targets)
        return JSONResponse({"id": sid, "status": "queued", "links": _links("checks", sid)}, 202,
                            headers={"Location": f"/api/v1/checks/{sid}"})

    async def finished(request: Request, sid: int, kind: str | None) -> tuple[dict[str, JSON], bool]:
        wait = _wait(request)
        info: dict[str, JSON] = await service.in_store(lambda st: _info(st, sid, kind))
        if info["status"] in ("running", "queued") and wait:
            await service.jobs.wait(sid, wait)
            info = await service.in_store(lambda st: _info(st, sid, kind))
        return info, info["status"] not in ("running", "queued")

    def _info(store: Store, sid: int, kind: str | None) -> dict[str, JSON]:
        info = sweep_info(store, store.sweep(sid), service.jobs.state(sid))
        if kind is not None and (info["kind"] == "check") != (kind == "check"):
            raise StoreError(f"{sid} is a {info['kind']}, not a {kind}")
        return info

    async def read_check(request: Request, owner: str) -> Response:
        sid = _int(request.path_params["id"], "id")
        fmt = _choice(request.query_params.get("format"), "format", FORMATS, "json")
        lang = _choice(request.query_params.get("lang"), "lang", ("en", "zh-CN"), "en")
        info, done = await finished(request, sid, "check")
        if not done:
            return JSONResponse(info, 202)
        outcomes = await service.in_store(lambda st: check_outcomes(st, sid))
        text = render(fmt, [outcome_from_json(o) for o in outcomes], lang)
        return Response(text, 200, media_type=_TEXT_TYPES[fmt])

    async def check_outcomes_route(request: Request, owner: str) -> Response:
        sid = _int(request.path_params["id"], "id")
        info, done = await finished(request, sid, "check")
        if not done:
            return JSONResponse(info, 202)
        outcomes = await service.in_store(lambda st: check_outcomes(st, sid))
        return Response(json_text({**info, "outcomes": outcomes}), 200, media_type="application/json")

    async def targets_of(request: Request) -> tuple[Any, Any, list[str]]:
        raw = await service.body(request)
        text = raw.decode("utf-8-sig")
        return await asyncio.to_thread(parse_list, text, cfg.excluded)

    async def submit_sweep(request: Request, owner: str) -> Response:
        req = query_request(request)
        room(owner)
        settings, policy, _ = request_settings(cfg.settings, req, cfg.excluded, sweep=True)
        targets, skipped, bad = await targets_of(request)
        sid = await service.jobs.submit("sweep", owner, req, settings, policy, targets, skipped)
        return JSONResponse({"id": sid, "status": "queued", "targets": len(targets), "excluded": len(skipped),
                             "rejected": len(bad), "errors": bad[:100], "links": _links("sweeps", sid)}, 202,
                            headers={"Location": f"/api/v1/sweeps/{sid}"})

    async def list_sweeps(request: Request, owner: str) -> Response:
        def rows(store: Store) -> list[dict[str, JSON]]:
            return [sweep_info(store, r, service.jobs.state(int(r["id"]))) for r in store.sweeps()]

        return JSONResponse({"sweeps": await service.in_store(rows)})

    async def read_sweep(request: Request, owner: str) -> Response:
        sid = _int(request.path_params["id"], "id")
        info, _ = await finished(request, sid, None)
        return JSONResponse(info)

    async def results(request: Request, owner: str) -> Response:
        sid = _int(request.path_params["id"], "id")
        fmt = _choice(request.query_params.get("format"), "format", EXPORT_FORMATS, "jsonl")
        lang = _choice(request.query_params.get("lang"), "lang", ("en", "zh-CN"), "en")
        policy_arg = request.query_params.get("policy")

        def write(store: Store) -> Path:
            pol = _policy_of(store, sid, policy_arg)
            store.use_providers(sid)
            fd, name = tempfile.mkstemp(prefix="v6scan-export-", suffix="." + fmt)
            os.close(fd)
            try:
                export_sweep(store, sid, pol, lang, fmt, Path(name))
            except BaseException:
                os.unlink(name)
                raise
            return Path(name)

        path = await service.in_store(write)
        return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=f"v6scan-sweep-{sid}.{fmt}",
                            background=BackgroundTask(_unlink, path))

    async def diff(request: Request, owner: str) -> Response:
        a = _int(request.query_params.get("a"), "a")
        b = _int(request.query_params.get("b"), "b")
        policy_arg = request.query_params.get("policy")

        def run(store: Store) -> dict[str, Any]:
            name = _policy_name(policy_arg) if policy_arg else None
            return dataclasses.asdict(store.diff(a, b, name))

        return JSONResponse(await service.in_store(run))

    async def submit_schedule(request: Request, owner: str) -> Response:
        every_text = request.query_params.get("every")
        if not every_text:
            raise OptionError("every", "give the interval (e.g. every=24h)")
        try:
            every = parse_every(every_text)
        except ValueError as e:
            raise OptionError("every", str(e)) from None
        if every < cfg.min_interval:
            raise OptionError("every", f"this server sweeps a list at most every {cfg.min_interval:g} s")
        mine = await service.in_store(lambda st: sum(1 for x in st.schedules(active_only=True)
                                                         if x["owner"] == owner))
        if mine >= cfg.max_schedules:
            raise HTTPException(429, f"this token keeps {cfg.max_schedules} schedules already: stop one first")
        req = query_request(request)
        request_settings(cfg.settings, req, cfg.excluded, sweep=True)  # refused now, not at its first run
        raw = await service.body(request)
        text = raw.decode("utf-8-sig")
        targets, skipped, bad = await asyncio.to_thread(parse_list, text, cfg.excluded)
        first = now_iso()
        sched = await service.in_store(lambda st: st.add_schedule(owner, every, req, text, first))
        service.jobs.wake()
        return JSONResponse({"id": sched, "every": every, "next_run": first, "targets": len(targets),
                             "excluded": len(skipped), "rejected": len(bad), "errors": bad[:100]}, 201,
                            headers={"Location": f"/api/v1/schedules/{sched}"})

    async def list_schedules(request: Request, owner: str) -> Response:
        return JSONResponse({"schedules": await service.in_store(lambda st: st.schedules())})

    async def delete_schedule(request: Request, owner: str) -> Response:
        sched = _int(request.path_params["id"], "id")
        await service.in_store(lambda st: st.stop_schedule(sched))
        return JSONResponse({"id": sched, "active": False})

    open_ = {"health": health, "openapi.json": openapi}  # no token: that it answers, and its document
    table: list[tuple[str, str, Callable[[Request, str], Coroutine[Any, Any, Response]]]] = [
        ("GET", "selfcheck", selfcheck), ("POST", "checks", submit_check), ("GET", "checks/{id}", read_check),
        ("GET", "checks/{id}/outcomes", check_outcomes_route), ("POST", "sweeps", submit_sweep),
        ("GET", "sweeps", list_sweeps), ("GET", "sweeps/{id}", read_sweep), ("GET", "sweeps/{id}/results", results),
        ("GET", "diff", diff), ("POST", "schedules", submit_schedule), ("GET", "schedules", list_schedules),
        ("DELETE", "schedules/{id}", delete_schedule)]
    return [*(Route(f"/api/v1/{path}", fn, methods=["GET"]) for path, fn in open_.items()),
            *(Route(f"/api/v1/{path}", guarded(fn), methods=[method]) for method, path, fn in table)]


def _links(kind: str, sid: int) -> dict[str, str]:
    base = f"/api/v1/{kind}/{sid}"
    if kind == "checks":
        return {"self": base, "outcomes": f"{base}/outcomes", "page": f"/checks/{sid}"}
    return {"self": base, "results": f"{base}/results", "report": f"/sweeps/{sid}/report/"}


def _policy_name(value: str) -> str:
    if value not in BUILTIN_POLICIES:
        raise OptionError("policy", f"give one of {', '.join(BUILTIN_POLICIES)}")
    return load_policy(value).name


def _policy_of(store: Store, sid: int, value: str | None) -> str:
    if value is None:
        return str(store.sweep(sid)["policy"])
    name = _policy_name(value)
    if name not in store.policies(sid):
        raise OptionError("policy", f"sweep {sid} has no verdicts under {name!r}")
    return name


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
