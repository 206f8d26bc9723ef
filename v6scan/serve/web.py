"""The web pages of ``v6scan serve``: a form to check a site, the sweeps with their progress, each
sweep's report (the report module's, rendered from the database), and diffs between sweeps.

No page has a script; pages that are still being measured reload themselves (``<meta refresh>``).
The service's own pages allow only its stylesheet (:data:`~v6scan.serve.service.PAGE_CSP`); a
report's pages allow exactly the inline styles they hold, by hash (:func:`report_csp`).  Everything
from a scanned site is escaped by the templates (autoescape on).  A browser logs in with an API
token once and then carries a session cookie (:class:`~v6scan.serve.auth.Sessions`); every form
carries a CSRF field, and a form posted from another origin is refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import shutil
from collections.abc import Callable, Coroutine
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from v6scan.options import OptionError, request_settings
from v6scan.report import build_report, render_html
from v6scan.report.html import word
from v6scan.report.pages import SINGLE_FILE_MAX, write_report_dir
from v6scan.scoring import BUILTIN_POLICIES, VERDICTS
from v6scan.serve.api import sweep_info
from v6scan.serve.service import PAGE_CSP, Service
from v6scan.store import Store, StoreError

__all__ = ["error_page", "report_csp", "routes"]

COOKIE = "v6scan_session"
_env = jinja2.Environment(loader=jinja2.PackageLoader("v6scan.serve", "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined)
_CSS = resources.files("v6scan.serve").joinpath("static/v6scan.css").read_bytes()

_WORDS: dict[str, tuple[str, str]] = {
    "check": ("Check a site", "检测网站"), "sweeps": ("Sweeps", "批量检测"), "logout": ("Log out", "退出"),
    "login": ("Log in", "登录"), "token": ("API token", "API 令牌"),
    "check_title": ("Check a site's IPv6 readiness", "检测网站的 IPv6 支持情况"),
    "names": ("Names or URLs (one a line)", "域名或网址（每行一个）"), "policy": ("Policy", "评测规则"),
    "language": ("Language", "语言"), "run": ("Check now", "立即检测"), "recent": ("Recent checks", "最近的检测"),
    "status": ("Status", "状态"), "started": ("Started", "开始时间"), "kind": ("Kind", "类型"),
    "owner": ("Submitted by", "提交者"), "progress": ("Progress", "进度"), "verdicts": ("Verdicts", "结论"),
    "report": ("Report", "报告"), "compare": ("Compare sweeps", "比较两次检测"), "before": ("Before", "之前"),
    "after": ("After", "之后"), "gained": ("gained readiness", "变为就绪"), "lost": ("lost readiness", "不再就绪"),
    "changed": ("changed verdict", "结论变化"), "site": ("Site", "网站"), "score": ("Score", "得分"),
    "checks": ("Checks", "检测项"), "no_change": ("No verdict changed.", "没有结论变化。"),
    "only_in": ("Only in", "仅在"), "reloads": ("This page reloads itself until the result is in.",
                                                "本页会自动刷新，直到结果出来。"),
    "queued": ("queued", "排队中"), "running": ("running", "进行中"), "finished": ("finished", "已完成"),
    "interrupted": ("interrupted", "已中断"), "incomplete": ("incomplete", "未完成"),
    "sweep": ("sweep", "批量检测"), "scheduled": ("scheduled sweep", "定期检测"), "scan": ("scan", "命令行检测"),
    "bad_token": ("That token is not one of the server's.", "该令牌无效。"),
    "bad_form": ("The form expired: send it again.", "表单已过期，请重新提交。"),
}


def _words(lang: str) -> dict[str, str]:
    i = 1 if lang == "zh-CN" else 0
    return {**{v: word(v, lang) for v in VERDICTS}, **{k: v[i] for k, v in _WORDS.items()}}


def report_csp(page: str) -> str:
    """A CSP for a report page that allows its own inline styles (``<style>`` elements and
    ``style`` attributes), each by its SHA-256, and nothing else: no script, no load from anywhere."""
    hashes: set[str] = set()
    for m in re.finditer(r"<style>([^<]*)</style>", page):
        hashes.add(m.group(1))
    for m in re.finditer(r'\sstyle="([^"]*)"', page):
        hashes.add(html.unescape(m.group(1)))
    srcs = " ".join(sorted(f"'sha256-{base64.b64encode(hashlib.sha256(h.encode()).digest()).decode()}'"
                           for h in hashes))
    return (f"default-src 'none'; style-src 'unsafe-hashes' {srcs}; img-src data:; base-uri 'none';"
            " form-action 'none'; frame-ancestors 'none'")


def _lang(request: Request) -> str:
    return "zh-CN" if request.query_params.get("lang") == "zh-CN" else "en"


def _page(name: str, request: Request, code: int = 200, headers: dict[str, str] | None = None,
          **kw: Any) -> HTMLResponse:
    lang = kw.pop("lang", None) or _lang(request)
    body = _env.get_template(name).render(lang=lang, w=_words(lang), refresh=kw.pop("refresh", None),
                                          owner=kw.pop("owner", None), csrf=kw.pop("csrf", ""), **kw)
    return HTMLResponse(body, code, headers={"Content-Security-Policy": PAGE_CSP, **(headers or {})})


def error_page(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    return _page("error.html.j2", request, status, headers, status=status, message=message)


def routes(service: Service) -> list[BaseRoute]:  # noqa: C901, PLR0915  # one handler per page, read top to bottom
    cfg = service.config

    def session(request: Request) -> tuple[str, str] | None:
        sid = request.cookies.get(COOKIE)
        owner = service.sessions.owner(sid)
        return None if owner is None or sid is None else (owner, sid)

    def page(fn: Callable[[Request, str, str], Coroutine[Any, Any, Response]]
             ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """A page for a logged-in browser (else to the login form); rate-limited per token."""
        async def handler(request: Request) -> Response:
            s = session(request)
            if s is None:
                if request.method != "GET":
                    raise HTTPException(403, "log in first")
                nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?lang={_lang(request)}&next={_quote(nxt)}", 303)
            service.limit(s[0])
            return await fn(request, *s)
        return handler

    public = urlsplit(cfg.public_url).netloc if cfg.public_url else None
    #: one lock per (sweep, language) whose directory report is being written
    building: dict[tuple[int, str], asyncio.Lock] = {}

    async def form(request: Request, sid: str | None) -> dict[str, str]:
        """A posted form's fields; refused when it comes from another origin (``Origin`` neither this
        host nor ``--public-url``'s, or ``null``) or without the session's CSRF field."""
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc not in {request.headers.get("host"), public} - {None}:
            raise HTTPException(403, "a form from another site")
        raw = await service.body(request)
        try:
            pairs = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=50)
        except ValueError:
            raise HTTPException(400, "a form with too many fields") from None
        fields = {k: v[-1] for k, v in pairs.items()}
        if sid is not None and not service.sessions.csrf_ok(sid, fields.get("csrf")):
            raise HTTPException(403, _words(_lang(request))["bad_form"])
        return fields

    async def css(request: Request) -> Response:
        return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    async def login_form(request: Request) -> Response:
        return _page("login.html.j2", request, next=_local(request.query_params.get("next")), error=None)

    async def login(request: Request) -> Response:
        fields = await form(request, None)
        owner = cfg.tokens.identify(fields.get("token", "").strip())
        if owner is None:
            service.limit_failure(request)
            return _page("login.html.j2", request, 403, next=_local(fields.get("next")),
                         error=_words(_lang(request))["bad_token"])
        service.limit(owner)
        sid = service.sessions.open(owner)
        r = RedirectResponse(_local(fields.get("next")) or f"/?lang={_lang(request)}", 303)
        secure = request.url.scheme == "https" or (cfg.public_url or "").startswith("https://")
        r.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=secure, path="/")
        return r

    async def logout(request: Request, owner: str, sid: str) -> Response:
        await form(request, sid)
        service.sessions.close(sid)
        r = RedirectResponse("/login", 303)
        r.delete_cookie(COOKIE, path="/")
        return r

    def _recent(store: Store) -> list[dict[str, Any]]:
        out = []
        for row in reversed(store.sweeps()):
            info = sweep_info(store, row, service.jobs.state(int(row["id"])))
            if info["kind"] == "check":
                req = info.get("request") or {}
                names = req.get("names") if isinstance(req, dict) else None
                out.append({**info, "names": ", ".join(names) if isinstance(names, list) else ""})
            if len(out) == 20:
                break
        return out

    async def home(request: Request, owner: str, sid: str, error: str | None = None, names: str = "",
                   policy: str = "default", lang: str | None = None, status: int = 200) -> Response:
        checks = await _store(service, _recent)
        return _page("home.html.j2", request, status, owner=owner, csrf=service.sessions.csrf(sid), checks=checks,
                     policies=BUILTIN_POLICIES, error=error, names=names, policy=policy, lang=lang or _lang(request))

    async def check(request: Request, owner: str, sid: str) -> Response:
        fields = await form(request, sid)
        names = fields.get("names", "")
        lang = fields.get("lang") or "en"
        body = {"names": names.split(), "policy": fields.get("policy") or "default", "lang": lang}
        try:
            settings, policy, targets = request_settings(cfg.settings, body, cfg.excluded, sweep=False)
        except OptionError as e:
            return await home(request, owner, sid, f"{e.option}: {e.message}", names, str(body["policy"]),
                              lang if lang in ("en", "zh-CN") else "en", 400)
        new = await service.jobs.submit("check", owner, body, settings, policy, targets)
        return RedirectResponse(f"/checks/{new}?lang={lang}", 303)

    async def check_page(request: Request, owner: str, sid: str) -> Response:
        sweep = _id(request)
        info = await _store(service, lambda st: sweep_info(st, st.sweep(sweep), service.jobs.state(sweep)))
        if info["status"] in ("queued", "running"):
            return _page("running.html.j2", request, owner=owner, csrf=service.sessions.csrf(sid), info=info,
                         refresh=2)
        return await report_page(request, sweep, "")

    async def sweeps(request: Request, owner: str, sid: str) -> Response:
        rows = await _store(service, lambda st: [sweep_info(st, r, service.jobs.state(int(r["id"])))
                                                 for r in reversed(st.sweeps())])
        busy = any(r["status"] in ("queued", "running") for r in rows)
        return _page("sweeps.html.j2", request, owner=owner, csrf=service.sessions.csrf(sid), sweeps=rows,
                     refresh=5 if busy else None)

    async def report_page(request: Request, sweep: int, rel: str) -> Response:
        lang = _lang(request)

        def make(store: Store) -> tuple[str, Path | None]:
            store.use_providers(sweep)
            row = store.sweep(sweep)
            policy = str(row["policy"])
            info = sweep_info(store, row)
            if int(info["done"]) <= SINGLE_FILE_MAX:
                return render_html(build_report(store, sweep, policy, lang)), None
            if info["status"] in ("running", "queued"):  # a big report is written once, when the sweep ends
                raise HTTPException(409, "the report of a sweep this big is written when the sweep has ended:"
                                         f" {info['done']} of {info['targets']} sites so far")
            folder = cfg.reports / f"{sweep}-{lang}-{info['done']}"
            if not (folder / "index.html").is_file():
                for old in cfg.reports.glob(f"{sweep}-{lang}-*"):
                    shutil.rmtree(old, ignore_errors=True)
                part = folder.with_name(folder.name + ".part")  # renamed into place when whole
                write_report_dir(store, sweep, policy, lang, part)
                part.rename(folder)
            return "", folder

        async with building.setdefault((sweep, lang), asyncio.Lock()):  # one writer of a report at a time
            text, folder = await _store(service, make)
        if folder is None:
            if rel not in ("", "index.html"):
                raise HTTPException(404, "no such page")
            return HTMLResponse(text, headers={"Content-Security-Policy": report_csp(text)})
        path = (folder / (rel or "index.html")).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.is_file():
            raise HTTPException(404, "no such page")
        if path.suffix == ".html":
            page_text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            return HTMLResponse(page_text, headers={"Content-Security-Policy": report_csp(page_text)})
        return FileResponse(path)

    async def sweep_report(request: Request, owner: str, sid: str) -> Response:
        return await report_page(request, _id(request), request.path_params.get("rel", ""))

    async def diff(request: Request, owner: str, sid: str) -> Response:
        try:
            a, b = int(request.query_params["a"]), int(request.query_params["b"])
        except (KeyError, ValueError):
            raise HTTPException(400, "give two sweeps: ?a=N&b=M") from None
        if not (0 < a < 1 << 63 and 0 < b < 1 << 63):
            raise HTTPException(400, "give two sweeps: ?a=N&b=M")
        d = await _store(service, lambda st: st.diff(a, b))
        checks: dict[str, list[dict[str, Any]]] = {}
        for c in d.checks:
            checks.setdefault(c["name"], []).append(c)
        return _page("diff.html.j2", request, owner=owner, csrf=service.sessions.csrf(sid), d=d, checks=checks)

    return [
        Route("/static/v6scan.css", css, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(logout), methods=["POST"]),
        Route("/", page(home), methods=["GET"]),
        Route("/check", page(check), methods=["POST"]),
        Route("/checks/{id}", page(check_page), methods=["GET"]),
        Route("/sweeps", page(sweeps), methods=["GET"]),
        Route("/sweeps/{id}/report/", page(sweep_report), methods=["GET"]),
        Route("/sweeps/{id}/report/{rel:path}", page(sweep_report), methods=["GET"]),
        Route("/diff", page(diff), methods=["GET"]),
    ]


async def _store(service: Service, fn: Callable[[Store], Any]) -> Any:
    try:
        return await service.in_store(fn)
    except StoreError as e:
        raise HTTPException(404, service.public(e)) from None


def _id(request: Request) -> int:
    try:
        n = int(request.path_params["id"])
    except ValueError:
        raise HTTPException(404, "no such sweep") from None
    if not 0 < n < 1 << 63:
        raise HTTPException(404, "no such sweep")
    return n


def _local(target: str | None) -> str:
    """A path on this server to go to after logging in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target


def _quote(path: str) -> str:
    return quote(path, safe="")
