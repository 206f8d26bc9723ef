"""web.latency's first probe of a family is web.http's first try from that address, when web.http made
one: one fetch less per family, the same measurement (a new connection, the same GET), said in the
row (``from``); a first try that got no response is a failed probe, not left out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from v6scan.checks import web_latency
from v6scan.checks.web_latency import LatencyEvidence
from v6scan.checks.webstate import WebState
from v6scan.context import Context
from v6scan.fetch import Chain, Page
from v6scan.model import Status
from v6scan.net import Probe
from v6scan.settings import Settings

V6, V4 = "2001:db8::1", "192.0.2.1"
URL = "https://a.test/"
TIMINGS = {"connect_ms": 1.0, "tls_ms": 2.0, "first_byte_ms": 3.0, "body_ms": 1.0, "total_ms": 7.0}


class Fetcher:
    """Counts the GETs: each answers with the same timings."""

    def __init__(self) -> None:
        self.gets: list[tuple[str, str]] = []

    async def get(self, url: str, address: str, **kw: Any) -> Page:
        assert kw == {"keep_body": False, "attempts": 1}
        self.gets.append((url, address))
        return Page(url, address, Status.OK, 200, timings=dict(TIMINGS))

    async def aclose(self) -> None:
        pass


def state(first_v6: Page | None) -> WebState:
    st = WebState("a.test", v6=[V6], v4=[V4])
    for a in (V6, V4):
        st.reach[(a, 443)] = Probe(a, 443, Status.OK, 1.0)
        st.reach[(a, 80)] = Probe(a, 80, Status.OK, 1.0)
    if first_v6 is not None:
        st.chains = [Chain("v6", URL, [first_v6])]
    return st


def run(st: WebState, monkeypatch: pytest.MonkeyPatch) -> tuple[LatencyEvidence, list[tuple[str, str]]]:
    fetcher = Fetcher()

    async def go() -> LatencyEvidence:
        async with Context.create(Settings(latency_probes=3)) as ctx:
            monkeypatch.setattr(ctx, "fetcher", fetcher)
            v6, v4 = await asyncio.gather(web_latency._family(ctx, st, st.v6, 3),
                                          web_latency._family(ctx, st, st.v4, 3))
            assert v6 is not None and v4 is not None
            return LatencyEvidence.build({"v6": v6, "v4": v4}, 3, False)

    return asyncio.run(go()), fetcher.gets


def test_web_https_first_try_is_the_first_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    page = Page(URL, V6, Status.OK, 200, timings={**TIMINGS, "first_byte_ms": 30.0})
    ev, gets = run(state(page), monkeypatch)
    assert gets.count((URL, V6)) == 2 and gets.count((URL, V4)) == 3  # IPv4: web.http made no chain here
    v6 = ev.families["v6"]
    assert [p.source for p in v6.probes] == ["web.http", None, None]
    assert v6.probes[0].time_ms == 33.0 and v6.success_rate == 1.0 and v6.median_ms == 6.0
    assert v6.probes[0].to_json()["from"] == "web.http" and "from" not in v6.probes[1].to_json()


def test_a_first_try_without_a_response_is_a_failed_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    page = Page(URL, V6, Status.OK, 200, timings=dict(TIMINGS), attempts=2)  # answered on the second try
    ev, gets = run(state(page), monkeypatch)
    assert gets.count((URL, V6)) == 2
    v6 = ev.families["v6"]
    assert v6.probes[0].status == "error" and v6.probes[0].time_ms is None
    assert v6.success_rate == round(2 / 3, 3)


def test_without_web_http_every_probe_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    ev, gets = run(state(None), monkeypatch)
    assert gets.count((URL, V6)) == 3 and ev.families["v6"].success_rate == 1.0
    assert all(p.source is None for p in ev.families["v6"].probes)
