"""The pinned fetcher against small HTTP servers of ours on loopback: caps, decoding, redirects."""

from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6scan.attempts import Retry
from v6scan.fetch import Chain, Fetcher, Limits, Page, title_of
from v6scan.model import Status
from v6scan.net import make_ssl_contexts
from v6scan.similarity import compare, normalise

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def response(status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or [])]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def serve(handler: Handler, run: Callable[[int], Awaitable[object]]) -> object:
    async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await r.readuntil(b"\r\n\r\n")
            await handler(r, w)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await run(port)
    finally:
        server.close()


def fetch(handler: Handler, limits: Limits | None = None, path: str = "/") -> Page:
    async def go() -> Page:
        async def run(port: int) -> Page:
            f = Fetcher(make_ssl_contexts()[0], limits or Limits(connect=2, first_byte=2, body=3))
            try:
                return await f.get(f"http://site.test:{port}{path}", "127.0.0.1")
            finally:
                await f.aclose()

        return await serve(handler, run)  # type: ignore[return-value]

    return asyncio.run(go())


def sends(data: bytes) -> Handler:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(data)
        await w.drain()

    return h


def test_plain_page_with_title_and_host_header() -> None:
    requests: list[bytes] = []

    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(response(200, b"<html><title> Hello &amp; welcome </title></html>",
                         [("Content-Type", "text/html; charset=utf-8")]))
        await w.drain()

    async def go() -> Page:
        async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            requests.append(await r.readuntil(b"\r\n\r\n"))
            await h(r, w)
            w.close()

        server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        f = Fetcher(make_ssl_contexts()[0])
        try:
            return await f.get(f"http://site.test:{port}/path?q=1", "127.0.0.1")
        finally:
            await f.aclose()
            server.close()

    page = asyncio.run(go())
    assert page.status is Status.OK and page.http_status == 200
    assert page.title == "Hello & welcome"
    assert page.address == "127.0.0.1" and page.url.startswith("http://site.test:")
    head = requests[0].decode()
    assert head.startswith("GET /path?q=1 HTTP/1.1\r\n")
    assert "\r\nhost: site.test:" in head.lower() and "user-agent: v6scan/" in head.lower()


def test_gzip_bomb_is_capped_on_decoded_bytes() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))  # 50 MiB of zeros in ~50 KiB
    page = fetch(sends(response(200, bomb, [("Content-Encoding", "gzip"), ("Content-Type", "text/html")])),
                 Limits(connect=2, first_byte=2, body=5, max_body=1 << 20))
    assert page.status is Status.OK and page.truncated
    assert page.size == 1 << 20 and len(page.body) == 1 << 20


def test_raw_deflate_and_zlib_deflate_both_decode() -> None:
    html = b"<title>deflated</title>" + b"x" * 1000
    for data in (zlib.compress(html), zlib.compress(html)[2:-4]):
        hdrs = [("Content-Encoding", "deflate"), ("Content-Type", "text/html")]
        page = fetch(sends(response(200, data, hdrs)))
        assert page.status is Status.OK and page.title == "deflated", data[:4]


def test_stacked_content_encodings_are_refused() -> None:
    body = gzip.compress(gzip.compress(b"<title>x</title>"))
    page = fetch(sends(response(200, body, [("Content-Encoding", "gzip, gzip")])))
    assert page.status is Status.HTTP_ERROR and "stacked" in (page.error or "")


def test_corrupt_gzip_is_an_error_not_a_crash() -> None:
    page = fetch(sends(response(200, b"not gzip at all", [("Content-Encoding", "gzip")])))
    assert page.status is Status.HTTP_ERROR and "corrupt" in (page.error or "")


def test_too_many_headers() -> None:
    page = fetch(sends(response(200, b"ok", [(f"X-H{i}", "v") for i in range(10_000)])))
    assert page.status is Status.HTTP_ERROR
    assert "headers" in (page.error or "")


def test_trickle_server_is_cut_by_the_minimum_rate() -> None:
    async def trickle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100):
            w.write(b"x")
            await w.drain()
            await asyncio.sleep(0.1)

    page = fetch(trickle, Limits(connect=2, first_byte=2, body=10, min_rate=100, grace=1.0))
    assert page.status is Status.TIMEOUT and "slower than" in (page.error or "")


def test_silent_server_times_out_waiting_for_the_response() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    page = fetch(silent, Limits(connect=1, first_byte=0.5, body=1))
    assert page.status is Status.TIMEOUT and "waiting for the response" in (page.error or "")


def test_garbage_instead_of_http() -> None:
    page = fetch(sends(b"\x16\x03\x01 this is not HTTP\r\n\r\n"))
    assert page.status in (Status.HTTP_ERROR, Status.ERROR) and page.error


def test_refused_port() -> None:
    async def go() -> Page:
        f = Fetcher(make_ssl_contexts()[0], Limits(connect=1))
        try:
            with socket.socket() as s:  # a port nobody listens on (port 1 is a port browsers refuse)
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            return await f.get(f"http://site.test:{port}/", "127.0.0.1")
        finally:
            await f.aclose()

    page = asyncio.run(go())
    assert page.status is Status.REFUSED


def test_names_are_never_resolved() -> None:
    async def go() -> Page:
        f = Fetcher(make_ssl_contexts()[0], Limits(connect=1))
        try:
            return await f.get("http://site.test/", "localhost")
        finally:
            await f.aclose()

    page = asyncio.run(go())
    assert page.status is not Status.OK and "refusing to resolve" in (page.error or "")


def follow(routes: dict[str, bytes], start: str = "/", resolve_to: str | None = "127.0.0.1",
           limits: Limits | None = None, excluded: Callable[[str], str | None] | None = None,
           asked: list[str] | None = None) -> Chain:
    async def go() -> Chain:
        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            head = await r.readuntil(b"\r\n\r\n")
            line = head.split(b" ")[1].decode()
            if asked is not None:
                asked.append(line)
            w.write(routes.get(line, response(404)))
            await w.drain()
            w.close()

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def resolve(host: str, family: str) -> tuple[str | None, str | None]:
            return (resolve_to, None) if resolve_to else (None, "has no AAAA record (no IPv6)")

        f = Fetcher(make_ssl_contexts()[0], limits or Limits(connect=2, first_byte=2, body=3), excluded=excluded)
        try:
            fixed = {k: v.replace(b"PORT", str(port).encode()) for k, v in routes.items()}
            routes.clear()
            routes.update(fixed)
            return await f.follow(f"http://a.test:{port}{start}", "127.0.0.1", "v4", resolve)
        finally:
            await f.aclose()
            server.close()

    return asyncio.run(go())


def redirect(to: str) -> bytes:
    return response(301, b"", [("Location", to)])


def test_redirects_are_followed_by_hand() -> None:
    c = follow({"/": redirect("/next"), "/next": redirect("http://b.test:PORT/final"),
                "/final": response(200, b"<title>done</title>", [("Content-Type", "text/html")])})
    assert c.status is Status.OK and c.final is not None and c.final.title == "done"
    assert [h.http_status for h in c.hops] == [301, 301, 200]
    assert c.final.url.startswith("http://b.test:")


def test_redirect_loop_and_endless_chain() -> None:
    loop = follow({"/": redirect("/a"), "/a": redirect("/")})
    assert loop.status is Status.HTTP_ERROR and "loop" in (loop.error or "")
    endless = follow({f"/{i}": redirect(f"/{i + 1}") for i in range(30)}, start="/0")
    assert endless.status is Status.HTTP_ERROR and "more than 10 redirects" in (endless.error or "")
    assert len(endless.hops) == 11


def test_redirect_to_a_host_without_the_family_is_a_dead_end() -> None:
    c = follow({"/": redirect("https://v4only.test/")}, resolve_to=None)
    assert c.status is Status.UNREACHABLE and c.dead_end == "v4only.test"
    assert "no AAAA record" in (c.error or "")


def test_redirect_to_another_scheme_is_stopped() -> None:
    c = follow({"/": redirect("javascript:alert(1)")})
    assert c.status is Status.HTTP_ERROR and "unusable location" in (c.error or "")
    assert "scheme" in (c.error or "")


@pytest.mark.parametrize("location, why", [
    ("http://a.test:99999/", "port"), ("http://a.test:0/", "port"), ("http://a.test:6379/", "port"),
    ("http://a.test:25/", "port"), ("http://a.test:x/", "port"), ("http://[2001:db8::1]:PORT/", "IP"),
    ("http://bad\x07host.test/", "host"), ("http://a.test/" + "x" * 5000, "long"),
])
def test_a_bad_location_is_a_finding_and_never_contacted(location: str, why: str) -> None:
    asked: list[str] = []
    c = follow({"/": redirect(location)}, asked=asked)
    assert c.status is Status.HTTP_ERROR and "unusable location" in (c.error or "")
    assert why.lower() in (c.error or "").lower()
    assert asked == ["/"] and len(c.hops) == 1


def test_a_bad_start_url_is_a_finding_not_an_exception() -> None:
    async def go() -> list[Page]:
        f = Fetcher(make_ssl_contexts()[0], Limits(connect=1, first_byte=1, body=1))
        return [await f.get(u, "127.0.0.1") for u in ("http://a.test:99999/", "http://a.test:0/",
                                                       "https://a.test:65536/x", "http://a.test:-1/")]

    for page in asyncio.run(go()):
        assert page.status is Status.HTTP_ERROR and "not fetched" in (page.error or "") and page.http_status is None


def test_a_redirect_to_an_excluded_host_is_recorded_and_never_followed() -> None:
    asked: list[str] = []
    c = follow({"/": redirect("http://Secret.Test.:PORT/x"), "/x": response(200, b"hi")},
               excluded=lambda h: "secret.test" if h.rstrip(".").lower() == "secret.test" else None, asked=asked)
    assert c.status is Status.EXCLUDED and "secret.test" in (c.error or "") and asked == ["/"]


def test_redirect_bodies_are_not_kept() -> None:
    c = follow({"/": response(302, b"x" * 200_000, [("Location", "/final")]),
                "/final": response(200, b"<title>t</title>", [("Content-Type", "text/html")])})
    assert c.status is Status.OK and c.hops[0].body == b"" and c.hops[0].text == "" and c.hops[0].size == 0
    assert c.final is not None and c.final.title == "t"


def test_response_headers_have_one_deadline_however_slowly_they_trickle() -> None:
    """A byte every 0.2 s never trips a per-read timeout: the headers' deadline is a total."""
    async def trickle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for b in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100:  # 24 s of headers, if allowed
            w.write(bytes([b]))
            await w.drain()
            await asyncio.sleep(0.2)
        w.write(b"\r\nContent-Length: 0\r\n\r\n")
        await w.drain()

    async def go() -> Page:
        async def run(port: int) -> Page:
            f = Fetcher(make_ssl_contexts()[0], Limits(connect=2, first_byte=2, body=3), retry=Retry(1))
            return await f.get(f"http://site.test:{port}/", "127.0.0.1")

        return await serve(trickle, run)  # type: ignore[return-value]

    page = asyncio.run(go())
    assert page.status is Status.TIMEOUT and page.http_status is None
    assert page.error == "timed out (waiting for the response)"


def test_hostile_title_is_plain_text() -> None:
    assert title_of("<title></title><script>alert(1)</script>") == ""
    assert title_of("<TITLE>a &lt;b&gt;\n c</TITLE>") == "a <b> c"
    assert title_of("<p>no title</p>") is None


def test_same_site_normalises_per_request_tokens() -> None:
    a = '<html><title>t</title><input type="hidden" name="__VIEWSTATE" value="AAAA1111">' \
        '<script nonce="abc123">x()</script><p>hello world</p></html>'
    b = '<html><title>t</title><input type="hidden" name="__VIEWSTATE" value="ZZZZ9999">' \
        '<script nonce="def456">x()</script><p>hello world</p></html>'
    assert normalise(a) == normalise(b)
    page = {"http_status": 200, "title": "t", "path": "/", "url": "https://x/"}
    cmp = compare(page, page, a, b)
    assert cmp.similarity == 1.0 and cmp.differences == ()
    other = compare(page, {**page, "title": "u", "http_status": 404}, a, "<p>nothing alike at all</p>")
    assert other.similarity < 0.5
    assert any("HTTP status differs" in d for d in other.differences)
    assert any("title differs" in d for d in other.differences)


@given(st.text(max_size=2000), st.text(max_size=2000))
def test_similarity_is_bounded_and_reflexive(a: str, b: str) -> None:
    page = {"http_status": 200, "title": "t", "path": "/"}
    c = compare(page, page, a, b)
    assert 0.0 <= c.similarity <= 1.0 and 0.0 <= c.quick_ratio <= 1.0
    assert compare(page, page, a, a).similarity == 1.0


_LOCATIONS = st.one_of(
    st.text(max_size=300),
    st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
              st.sampled_from(["http", "https", "HTTP", "javascript", "data", "ftp", ""]),
              st.one_of(st.text(max_size=40), st.sampled_from(["a.test", "[2001:db8::1]", "[::1", "10.0.0.1",
                                                                "xn--a.test", "b.test."])),
              st.one_of(st.just(""), st.integers(-5, 200_000).map(lambda p: f":{p}"),
                        st.text(max_size=8).map(":{}".format)),
              st.text(max_size=60)),
)


@settings(max_examples=120, deadline=None)
@given(_LOCATIONS)
def test_any_location_gives_a_chain_never_an_exception(location: str) -> None:
    """Property: whatever a server puts in Location, following it ends in a recorded chain (a finding
    on the hop or the chain), never an exception; only a fetchable URL is ever requested."""
    header = location.replace("\r", "").replace("\n", "")
    try:
        raw = response(302, b"", [("Location", header)])
        raw.decode("latin-1")
    except UnicodeEncodeError:
        return  # not sendable as an HTTP header at all
    asked: list[str] = []
    c = follow({"/": raw}, asked=asked)
    assert isinstance(c, Chain) and c.hops and asked[0] == "/"
    assert c.status in (Status.OK, Status.HTTP_ERROR, Status.UNREACHABLE, Status.REFUSED, Status.TIMEOUT,
                        Status.TLS_ERROR, Status.EXCLUDED)
    if c.status is Status.HTTP_ERROR and len(c.hops) == 1 and c.hops[0].location:
        assert "location" in (c.error or "") or "redirect" in (c.error or "")
