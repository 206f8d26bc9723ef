"""HTTP fetches pinned to one address; redirects followed by hand.

* Requests go to ``https://[ADDR]:PORT/path`` with ``Host`` and the TLS SNI set
  to the site's name and the certificate validated for that name.
* httpx's own transport layer (httpcore) is used directly, one connection per
  request: there is no pool, so a connection verified for one name can never
  serve another (httpx's pool is keyed by address), no environment proxies,
  and none of httpx's client layers, which cost ~40 % of the throughput here
  (``benchmarks/web.py``).
* httpcore runs on :class:`v6scan.net.AsyncioBackend`: plain asyncio, no
  thread-pool lookups, and no name resolution at all.
* Bodies are read raw and decoded here, with a cap on *decoded* bytes, a
  refusal of stacked content-encodings, a body deadline and a minimum
  throughput; the number and size of response headers are capped, and the
  response headers must be complete within ``Limits.first_byte`` of sending the
  request (a total, not per read: a server trickling a byte at a time is cut).
* Redirect bodies are not read (only the final page's body is kept); every URL
  (the start, each ``Location``) is checked before any connection: a bad port,
  an IP-literal or undecodable host, a non-web scheme or a port browsers refuse
  ends the chain as a finding (:func:`v6scan.markup.url_problem`), and a host on
  the exclusion list ends it as ``excluded``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

from v6scan import __version__
from v6scan.attempts import TRANSIENT, Retry, retried
from v6scan.errors import V6scanError
from v6scan.markup import title_of, url_problem
from v6scan.model import JSON, Status
from v6scan.net import AsyncioBackend, classify_error

__all__ = ["HSTS_MAX", "USER_AGENT", "Chain", "Connections", "Fetcher", "Limits", "Page", "title_of"]

USER_AGENT = f"v6scan/{__version__} (IPv6 readiness scanner; +https://pypi.org/project/v6scan/)"
REDIRECTS = {301, 302, 303, 307, 308}
#: the characters of a Strict-Transport-Security header kept (``Page.hsts``)
HSTS_MAX = 256


@dataclass(frozen=True)
class Limits:
    connect: float = 5.0  # TCP connect and TLS handshake, each
    first_byte: float = 10.0  # request sent -> response headers
    body: float = 20.0  # the whole body
    min_rate: float = 2048.0  # bytes/s the body must keep up after ``grace`` seconds
    grace: float = 3.0
    max_body: int = 1 << 20  # decoded bytes kept
    max_headers: int = 100
    max_header_bytes: int = 32 * 1024
    max_redirects: int = 10


class BodyError(V6scanError):
    """A response body refused (encoding, size, pace): the fetch ends with ``status`` and ``reason``."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Decoder:
    """Incremental gzip/deflate decoding, never producing more than ``room`` bytes a call."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.d: Any = None
        if encoding in ("gzip", "x-gzip"):
            self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.d = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            raise BodyError(Status.HTTP_ERROR, f"unsupported content-encoding {encoding!r}")
        self.first = True

    def feed(self, chunk: bytes, room: int) -> bytes:
        if self.d is None:
            return chunk[:room]
        try:
            out = self.d.decompress(chunk, max(room, 1))
        except zlib.error:
            if not (self.first and self.encoding == "deflate"):
                raise BodyError(Status.HTTP_ERROR, "corrupt compressed body") from None
            self.d = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
            try:
                out = self.d.decompress(chunk, max(room, 1))
            except zlib.error:
                raise BodyError(Status.HTTP_ERROR, "corrupt compressed body") from None
        self.first = False
        return bytes(out)


def _charset(content_type: str, head: bytes) -> str:
    m = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    if not m:
        m2 = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", head[:4096], re.I)
        cs = m2.group(1).decode("ascii", "replace") if m2 else "utf-8"
    else:
        cs = m.group(1)
    try:
        "".encode(cs)
    except LookupError:
        return "utf-8"
    return cs


@dataclass
class Page:
    """One HTTP exchange with one address."""

    url: str
    address: str
    status: Status
    http_status: int | None = None
    location: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    body: bytes = b""
    text: str = ""
    size: int = 0
    truncated: bool = False
    title: str | None = None
    headers: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    tls: dict[str, JSON] | None = None
    peer_cert: bytes | None = field(default=None, repr=False)  # DER, from a verified handshake
    error: str | None = None
    attempts: int = 1  # tries made until this outcome (see v6scan.attempts)
    #: the first Strict-Transport-Security response header, as sent (at most ``HSTS_MAX`` characters)
    hsts: str | None = None
    #: the body's bytes as they came over the wire (before decoding), read until the end or the cap
    wire_size: int = 0

    def to_json(self, with_body: bool = False) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "url": self.url, "address": self.address, "status": str(self.status),
            "http_status": self.http_status, "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self.attempts > 1:
            out["attempts"] = self.attempts
        # (``hsts`` is web.hsts_v6's, recorded in its evidence: web.http's pages stay as they were)
        for k in ("location", "content_type", "content_encoding", "title", "error"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.http_status is not None:
            out.update(size=self.size, truncated=self.truncated, headers=self.headers)
        if self.tls:
            out["tls"] = self.tls
        return out


@dataclass
class Chain:
    """A redirect chain followed by hand within one address family."""

    family: str
    start: str
    hops: list[Page] = field(default_factory=list)
    error: str | None = None
    status: Status = Status.OK
    #: the host a chain ended at because it has no usable address of this family
    dead_end: str | None = None

    @property
    def final(self) -> Page | None:
        """The last page, when it arrived whole (a body cut by an error is no final page)."""
        last = self.hops[-1] if self.hops else None
        if last is not None and last.status is Status.OK and last.http_status is not None and last.location is None:
            return last
        return None

    def to_json(self) -> dict[str, JSON]:
        fin = self.final
        return {
            "family": self.family, "start": self.start, "status": str(self.status),
            "hops": [h.to_json() for h in self.hops],
            "final": ({"url": fin.url, "http_status": fin.http_status, "title": fin.title,
                       "size": fin.size, "address": fin.address} if fin else None),
            **({"error": self.error} if self.error else {}),
            **({"dead_end": self.dead_end} if self.dead_end else {}),
        }


def _host(url: str) -> str:
    """The host name of a URL that :func:`url_problem` accepted ('' when there is none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _no_response(page: Page) -> bool:
    """No response arrived: the connection or its TLS handshake failed, broke or stalled, or the
    response headers never came (what lost packets can cause, with TCP's backoff); once the
    headers arrived, the response is final (a body that stalls is the server's)."""
    return page.http_status is None and page.status in TRANSIENT


#: resolve(host, family) -> (address or None, reason when None)
Resolve = Callable[[str, str], Awaitable[tuple[str | None, str | None]]]


ConnKey = tuple[bytes, str, str, int]  # (scheme, host name, address, port)


class Connections:
    """Kept-alive connections of one piece of work (a site's link crawl), each for one host name at
    one address and port: a connection verified for one name never serves another.  At most one
    idle connection per name, address and port waits here between requests (a second one is
    closed); :meth:`aclose` closes it when the work is done."""

    def __init__(self) -> None:
        self._idle: dict[ConnKey, httpcore.AsyncHTTPConnection] = {}
        self.opened = 0  # connections made
        self.reused = 0  # requests sent on a kept connection

    async def take(self, key: ConnKey) -> httpcore.AsyncHTTPConnection | None:
        """The idle connection for ``key`` when the server has not closed it, else None."""
        conn = self._idle.pop(key, None)
        if conn is None:
            return None
        if conn.is_available() and not conn.has_expired():  # has_expired: the server closed it
            return conn
        await conn.aclose()
        return None

    async def give(self, key: ConnKey, conn: httpcore.AsyncHTTPConnection) -> None:
        """Keep ``conn`` idle for ``key``, unless one already is (then it is closed)."""
        if key in self._idle:
            await conn.aclose()
        else:
            self._idle[key] = conn

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def aclose(self) -> None:
        conns = list(self._idle.values())
        self._idle.clear()
        for conn in conns:
            await conn.aclose()


class Fetcher:
    """GETs pinned to an address.  Create inside the event loop; ``aclose`` when done."""

    def __init__(self, verify: ssl.SSLContext, limits: Limits | None = None,
                 user_agent: str = USER_AGENT, retry: Retry | None = None,
                 excluded: Callable[[str], str | None] | None = None) -> None:
        self.limits = limits or Limits()
        self.retry = retry or Retry()
        #: host -> the exclusion-list entry it matches, or None: a matching host is never contacted
        self.excluded = excluded or (lambda host: None)
        self._verify = verify
        self._backend = AsyncioBackend()
        self._headers = [
            (b"User-Agent", user_agent.encode()),
            (b"Accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
            (b"Accept-Encoding", b"gzip, deflate"),
            (b"Accept-Language", b"en, zh-CN;q=0.8"),
        ]
        self._keep_headers = list(self._headers)  # a kept-alive connection's requests (Connections)
        self._headers.append((b"Connection", b"close"))
        lim = self.limits
        self._timeouts = {"connect": lim.connect, "read": lim.first_byte, "write": lim.connect,
                          "pool": lim.connect}

    async def aclose(self) -> None:
        """Nothing is pooled here: every fetch has closed its own connection, or left it in the
        caller's :class:`Connections`."""

    async def get(self, url: str, address: str, *, keep_body: bool = True, attempts: int | None = None,
                  keep: Connections | None = None) -> Page:
        """GET ``url`` (with its host name) from ``address``; never raises for network trouble.

        A request that got no response because the connection could not be made or broke
        (what a lost packet can cause) is tried up to ``retry.attempts`` times; a response of
        any kind, or a stall after the connection was made, is final.  ``Page.attempts`` says
        how many tries were made.  With ``keep`` the connection is kept alive there for the next
        request to the same name, address and port (one that fails before its response on a kept
        connection is sent again on a new one: the server may have closed it).
        """
        problem = url_problem(url)
        host = _host(url)
        if problem is not None:
            return Page(url, address, Status.HTTP_ERROR, error=f"not fetched: {problem}")
        if (entry := self.excluded(host)) is not None:
            return Page(url, address, Status.EXCLUDED, error=f"not fetched: {host} is on the exclusion list ({entry})")
        return await self._tries(url, address, keep_body, attempts, keep)

    async def _tries(self, url: str, address: str, keep_body: bool = True, attempts: int | None = None,
                     keep: Connections | None = None) -> Page:
        """:meth:`get` of a URL already checked (its URL and host): the tries themselves."""
        retry = self.retry if attempts is None else dataclasses.replace(self.retry, attempts=attempts)
        page, n = await retried(lambda: self._get(url, address, keep_body, keep), lambda p: p.status, retry,
                                transient=_no_response)
        page.attempts = n
        return page

    async def _get(self, url: str, address: str, keep_body: bool, keep: Connections | None = None,
                   fresh: bool = False) -> Page:
        """One GET, on a connection to ``address`` only: a new one per request (there is no pool,
        so a connection verified for one name can never serve another), or with ``keep`` one kept
        there for the same name, address and port."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        scheme = parts.scheme.encode()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        marks: dict[str, float] = {}
        page = Page(url, address, Status.OK)
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        # the response headers within ``first_byte`` of sending the request, in total: httpcore's
        # read timeout is per read, which a server trickling one byte at a time never trips
        headers_by = asyncio.timeout(None)

        async def trace(event: str, info: dict[str, Any]) -> None:
            marks[event] = (time.perf_counter() - t0) * 1000
            if event == "http11.send_request_headers.started":
                headers_by.reschedule(loop.time() + self.limits.first_byte)
            if event == "connection.start_tls.complete" and info.get("return_value") is not None:
                obj = info["return_value"].get_extra_info("ssl_object")
                if obj is not None:  # a verified handshake: web.tls reads it instead of making its own
                    page.tls = {"protocol": obj.version(), "cipher": (obj.cipher() or ("",))[0]}
                    page.peer_cert = obj.getpeercert(binary_form=True)

        ext: dict[str, Any] = {"trace": trace, "timeout": self._timeouts}
        if parts.scheme == "https":
            ext["sni_hostname"] = host
        key = (scheme, host, address, port)
        conn, reused = await self._connection(key, keep, fresh)
        try:
            request = httpcore.Request(
                b"GET", httpcore.URL(scheme=scheme, host=address.encode(), port=port,
                                     target=target.encode("ascii", "replace")),
                headers=[(b"Host", host_header.encode("ascii", "replace")),
                         *(self._headers if keep is None else self._keep_headers)],
                extensions=ext)
            async with headers_by:
                resp = await conn.handle_async_request(request)
            try:
                await self._handle(resp, page, url, keep_body, marks)
            finally:
                await resp.aclose()
        except BodyError as e:
            page.status, page.error = e.status, e.reason
        except (httpcore.TimeoutException, TimeoutError):
            page.status, page.error = Status.TIMEOUT, f"timed out ({self._phase(marks)})"
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                OSError, ssl.SSLError) as e:
            page.status, page.error = classify_error(e)
        except (ValueError, UnicodeError) as e:
            page.status, page.error = Status.HTTP_ERROR, f"unusable response: {e}"
        finally:
            if keep is not None and conn.is_available():
                await keep.give(key, conn)
            else:
                await conn.aclose()
        if reused and page.http_status is None and page.status is not Status.OK:
            # no response on a kept connection: the server may have closed it (its keep-alive
            # timeout); a new connection's answer is the page's
            return await self._get(url, address, keep_body, keep, fresh=True)
        page.timings.setdefault("total_ms", (time.perf_counter() - t0) * 1000)
        return page

    async def _connection(self, key: ConnKey, keep: Connections | None, fresh: bool
                          ) -> tuple[httpcore.AsyncHTTPConnection, bool]:
        """A connection for ``key``: one kept idle in ``keep`` (unless ``fresh``), else a new one
        (kept alive when ``keep`` is given); and whether it was kept."""
        conn = await keep.take(key) if keep is not None and not fresh else None
        if conn is not None and keep is not None:
            keep.reused += 1
            return conn, True
        scheme, _, address, port = key
        if keep is not None:
            keep.opened += 1
        return httpcore.AsyncHTTPConnection(
            httpcore.Origin(scheme, address.encode(), port), ssl_context=self._verify,
            keepalive_expiry=None if keep is not None else 0.0, http1=True, http2=False, retries=0,
            network_backend=self._backend), False

    async def _handle(self, resp: httpcore.Response, page: Page, url: str, keep_body: bool,
                      marks: dict[str, float]) -> None:
        self._timings(page, marks)
        page.http_status = resp.status
        raw = resp.headers
        page.headers = len(raw)
        size = sum(len(k) + len(v) for k, v in raw)
        if len(raw) > self.limits.max_headers or size > self.limits.max_header_bytes:
            raise BodyError(Status.HTTP_ERROR,
                            f"response headers exceed the caps ({len(raw)} headers, {size} bytes)")
        headers: dict[str, str] = {}
        for k, v in raw:
            key = k.decode("latin-1").lower()
            val = v.decode("latin-1")
            if key == "strict-transport-security" and page.hsts is None:
                page.hsts = val[:HSTS_MAX]  # only the first counts (RFC 6797 section 8.1)
            headers[key] = f"{headers[key]}, {val}" if key in headers and key != "location" else val
        page.content_type = headers.get("content-type")
        enc = [e.strip().lower() for e in headers.get("content-encoding", "").split(",")
               if e.strip() and e.strip().lower() != "identity"]
        page.content_encoding = ", ".join(enc) or None
        loc = headers.get("location")
        if resp.status in REDIRECTS and loc:
            try:
                page.location = urljoin(url, loc.strip())
            except ValueError:
                page.location = loc.strip()
        if page.location is not None:
            return  # a redirect: its body is not read (only the final page's body is kept)
        if len(enc) > 1:
            raise BodyError(Status.HTTP_ERROR, f"stacked content-encodings refused: {', '.join(enc)}")
        await self._read_body(resp, page, enc[0] if enc else "", keep_body)

    @staticmethod
    def _phase(marks: dict[str, float]) -> str:
        if "connection.connect_tcp.complete" not in marks:
            return "connecting"
        if "connection.start_tls.started" in marks and "connection.start_tls.complete" not in marks:
            return "during the TLS handshake"
        if "http11.receive_response_headers.complete" not in marks:
            return "waiting for the response"
        return "reading the body"

    @staticmethod
    def _timings(page: Page, marks: dict[str, float]) -> None:
        c0 = marks.get("connection.connect_tcp.started", 0.0)
        c1 = marks.get("connection.connect_tcp.complete")
        if c1 is not None:
            page.timings["connect_ms"] = c1 - c0
        t0, t1 = marks.get("connection.start_tls.started"), marks.get("connection.start_tls.complete")
        if t0 is not None and t1 is not None:
            page.timings["tls_ms"] = t1 - t0
        h0 = marks.get("http11.send_request_headers.started")
        h1 = marks.get("http11.receive_response_headers.complete")
        if h0 is not None and h1 is not None:
            page.timings["first_byte_ms"] = h1 - h0

    async def _read_body(self, resp: httpcore.Response, page: Page, encoding: str, keep: bool) -> None:
        lim = self.limits
        decoder = _Decoder(encoding)
        chunks: list[bytes] = []
        got = raw_bytes = 0
        start = time.perf_counter()
        it = resp.aiter_stream().__aiter__()
        try:
            async with asyncio.timeout(lim.body):
                while True:
                    try:
                        chunk = await it.__anext__()
                    except StopAsyncIteration:
                        break
                    raw_bytes += len(chunk)
                    out = decoder.feed(chunk, lim.max_body - got)
                    got += len(out)
                    if keep:
                        chunks.append(out)
                    if got >= lim.max_body:
                        page.truncated = True
                        break
                    elapsed = time.perf_counter() - start
                    if elapsed > lim.grace and raw_bytes / elapsed < lim.min_rate:
                        raise BodyError(Status.TIMEOUT, f"body slower than {lim.min_rate:g} bytes/s"
                                        f" ({raw_bytes} bytes in {elapsed:.1f} s)")
        except TimeoutError:
            raise BodyError(Status.TIMEOUT, f"body not complete within {lim.body:g} s") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError, ssl.SSLError) as e:
            status, reason = classify_error(e)
            raise BodyError(status, f"body: {reason}") from None
        page.size, page.wire_size = got, raw_bytes
        body = b"".join(chunks)
        page.body = body
        page.timings["body_ms"] = (time.perf_counter() - start) * 1000
        if keep and (page.content_type or "text/html").lower().startswith(("text/", "application/xhtml")):
            page.text = body.decode(_charset(page.content_type or "", body), "replace")
            page.title = title_of(page.text)  # from a bounded prefix (v6scan.markup)

    async def follow(self, url: str, address: str, family: str, resolve: Resolve,
                     keep: Connections | None = None) -> Chain:
        """Follow redirects from ``url`` fetched at ``address``; each new host is re-resolved
        (``resolve``) and re-checked within ``family``; loops and long chains are stopped.  With
        ``keep``, connections are kept alive there (:meth:`get`)."""
        chain = Chain(family, url)
        seen: set[str] = set()
        current_url, current_addr = url, address
        current_host = _host(url)
        for _ in range(self.limits.max_redirects + 1):
            if current_url in seen:
                chain.status, chain.error = Status.HTTP_ERROR, f"redirect loop back to {current_url}"
                return chain
            seen.add(current_url)
            # the start URL is checked by get(); each Location was checked below before it is fetched
            page = await (self._tries(current_url, current_addr, keep=keep) if chain.hops
                          else self.get(current_url, current_addr, keep=keep))
            chain.hops.append(page)
            if page.status is not Status.OK:
                chain.status, chain.error = page.status, page.error
                return chain
            if page.location is None:
                return chain
            problem = url_problem(page.location)
            if problem is not None:
                chain.status = Status.HTTP_ERROR
                chain.error = f"redirect to an unusable location {page.location[:200]!r}: {problem}"
                return chain
            host = _host(page.location)
            if (entry := self.excluded(host)) is not None:
                chain.status = Status.EXCLUDED
                chain.error = f"redirect to {host}, which is on the exclusion list ({entry}): not contacted"
                return chain
            if host != current_host:
                addr, reason = await resolve(host, family)
                if addr is None:
                    chain.status = Status.UNREACHABLE
                    chain.dead_end = host
                    chain.error = f"redirect to {host}, which {reason}"
                    return chain
                current_addr, current_host = addr, host
            current_url = page.location
        chain.status, chain.error = Status.HTTP_ERROR, f"more than {self.limits.max_redirects} redirects"
        return chain
