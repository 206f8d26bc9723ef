"""Web checks: ``web.reach``, ``web.tls``, ``web.http``, ``web.same_site``, ``web.latency``, ``self.v6``.

Every address from DNS is accounted for: probed when the address policy
allows it, recorded as ``blocked`` with the reason when it does not.  The
checks measure; :mod:`v6scan.scoring` decides.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from v6scan.addresses import classify
from v6scan.attempts import retried
from v6scan.checks.dns import HostDNS
from v6scan.checks.links import check_links
from v6scan.checks.path import check_icmp, check_pmtu
from v6scan.checks.webstate import HTTP_ERROR_FROM, WebState, resolve_hop, web_state
from v6scan.context import Context
from v6scan.eventloop import off_loop
from v6scan.fetch import Chain, Page
from v6scan.model import JSON, Observation, Status, Stopwatch
from v6scan.net import TlsResult, cert_info, tcp_connect, tls_handshake
from v6scan.resolver import parse_server
from v6scan.similarity import Comparison, compare

__all__ = ["MAX_V4_REFERENCES", "PORTS", "WEB_PHASES", "WebState", "WebStep", "check_reach", "check_self_v6",
           "check_tls", "check_web", "resolve_hop"]

# the numbers that shape these measurements (the caps a site can reach are in Settings)

#: the web ports probed on every address (web.reach) and from which a site's fetch starts
PORTS = (80, 443)
#: distinct IPv4 pages an IPv6 page is compared with (the best match counts)
MAX_V4_REFERENCES = 4
#: where the self-check looks up its IPv6 route without ``--self-check`` (no packet is sent)
SELF_CHECK_ROUTE = ("2001:4860:4860::8888", 443)


def _port_json(st: WebState, addr: str, port: int) -> dict[str, JSON]:
    out = st.reach[(addr, port)].to_json()
    if (addr, port) in st.reach_for:
        out["shared_with"] = st.reach_for[(addr, port)]  # the same probe served that target too
    return out


async def check_reach(ctx: Context, st: WebState) -> Observation:
    sw = Stopwatch()

    async def probe(addr: str, port: int) -> None:
        st.reach[(addr, port)], made_for = await ctx.tcp_probe(addr, port, st.name)
        if made_for != st.name:
            st.reach_for[(addr, port)] = made_for

    await asyncio.gather(*(probe(a, p) for a in [*st.v6, *st.v4] for p in PORTS))
    rows: list[dict[str, JSON]] = []
    for a in [*st.v6, *st.v4]:
        rows.append({"address": a, "family": st.family(a),
                     "ports": {str(p): _port_json(st, a, p) for p in PORTS}})
    open_v4 = sorted({p for a in st.v4 for p in PORTS if st.open(a, p)})
    open_v6 = sorted({p for a in st.v6 for p in PORTS if st.open(a, p)})
    # the ports the site serves: those open over IPv4; with nothing open over IPv4 (an IPv6-only
    # site, or IPv4 down too) those any IPv6 address serves; with nothing open at all, both
    served = open_v4 or open_v6 or list(PORTS)
    parity = [{"address": a, "port": p, "status": str(st.reach[(a, p)].status)}
              for a in st.v6 for p in served if not st.open(a, p)]
    ev: dict[str, JSON] = {
        "addresses": rows,
        "blocked": st.blocked,
        "open_ports_v4": open_v4,
        "open_ports_v6": open_v6,
        "served_ports": served,
        "served_ports_from": "v4" if open_v4 else "v6" if open_v6 else "none",
        "ipv6_only": bool(st.v6) and not st.v4 and not any(b["family"] == "v4" for b in st.blocked),
        "v6_addresses": len(st.v6),
        "v6_fully_open": [a for a in st.v6 if all(st.open(a, p) for p in served)] if (open_v4 or open_v6) else [],
        "parity_gaps": parity,
    }
    if caps := st.caps_hit(ctx.settings.max_addresses):
        ev["caps_hit"] = caps
    if not rows and not st.blocked:
        return Observation("web.reach", st.name, Status.SKIPPED, ev, "the name has no address",
                           sw.stop(), sw.started_at)
    if not rows:
        return Observation("web.reach", st.name, Status.BLOCKED, ev,
                           "no address of the name may be contacted", sw.stop(), sw.started_at)
    return Observation("web.reach", st.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _verified_handshakes(st: WebState, attempts: int) -> dict[str, TlsResult]:
    """The handshakes web.http already made with this name's SNI and a verifying context, by address:
    one handshake serves both checks.  A handshake that stalled in every one of web.http's
    ``attempts`` serves too (as that timeout); a failed or unverifiable one is made again by web.tls."""
    out: dict[str, TlsResult] = {}
    for c in st.chains:
        first = c.hops[0] if c.hops else None
        if first is None or first.url != f"https://{st.name}/":
            continue
        if first.peer_cert is None:
            if first.status is Status.TIMEOUT and first.attempts >= attempts and \
                    (first.error or "").endswith("(during the TLS handshake)"):
                out[first.address] = TlsResult(first.address, st.name, Status.TIMEOUT, None, None, None, None, None,
                                               None, first.timings.get("total_ms", 0.0), first.error, first.attempts)
            continue
        tls = first.tls or {}
        out[first.address] = TlsResult(
            first.address, st.name, Status.OK, True, None, None, str(tls.get("protocol") or "") or None,
            str(tls.get("cipher") or "") or None, cert_info(first.peer_cert),
            first.timings.get("connect_ms", 0.0) + first.timings.get("tls_ms", 0.0), None)
    return out


async def check_tls(ctx: Context, st: WebState) -> Observation:
    """``web.tls`` on every address open on 443; run after web.http, whose verified handshakes it reuses."""
    sw = Stopwatch()
    targets = [a for a in [*st.v6, *st.v4] if st.open(a, 443)]

    fetched = _verified_handshakes(st, ctx.settings.attempts)

    async def one(addr: str) -> dict[str, JSON]:
        done = fetched.get(addr)
        if done is not None:
            return {"family": st.family(addr), **done.to_json(), "from": "web.http"}

        async def once() -> TlsResult:
            async with ctx.slot(addr):
                return await tls_handshake(addr, st.name, ctx.verify_ctx, ctx.loose_ctx, ctx.settings.timeout)

        r, n = await retried(once, lambda x: x.status, ctx.settings.retry)
        return {"family": st.family(addr), **dataclasses.replace(r, attempts=n).to_json()}

    rows = list(await asyncio.gather(*(one(a) for a in targets)))
    for a in [*st.v6, *st.v4]:
        if a not in targets:
            p = st.reach.get((a, 443))
            rows.append({"family": st.family(a), "address": a, "status": "not_attempted",
                         "valid": None, "error": f"port 443: {p.status if p else 'not probed'}"})

    def fps(fam: str) -> list[str]:
        return sorted({r["cert"]["sha256"] for r in rows if r["family"] == fam and r.get("cert")})

    ev: dict[str, JSON] = {
        "addresses": rows,
        "v6_valid": [r["address"] for r in rows if r["family"] == "v6" and r["valid"] is True],
        "v6_invalid": [r["address"] for r in rows if r["family"] == "v6" and r["valid"] is False],
        "v6_failed": [r["address"] for r in rows if r["family"] == "v6" and r["status"] not in
                      ("ok", "not_attempted")],
        "v4_valid": [r["address"] for r in rows if r["family"] == "v4" and r["valid"] is True],
        "v4_invalid": [r["address"] for r in rows if r["family"] == "v4" and r["valid"] is False],
        "certificates_v6": fps("v6"),
        "certificates_v4": fps("v4"),
    }
    ev["cert_differs"] = bool(ev["certificates_v6"] and ev["certificates_v4"]
                              and ev["certificates_v6"] != ev["certificates_v4"])
    if caps := st.caps_hit(ctx.settings.max_addresses):
        ev["caps_hit"] = caps
    if not targets:
        return Observation("web.tls", st.name, Status.SKIPPED, ev, "no address accepts on port 443",
                           sw.stop(), sw.started_at)
    return Observation("web.tls", st.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _start_url(st: WebState, addr: str) -> str | None:
    if st.open(addr, 443):
        return f"https://{st.name}/"
    if st.open(addr, 80):
        return f"http://{st.name}/"
    return None


async def check_http(ctx: Context, st: WebState) -> Observation:
    sw = Stopwatch()
    cap = min(ctx.settings.max_http_addresses, ctx.settings.max_addresses)
    chosen = [*st.v6[:cap], *st.v4[:cap]]
    skipped: list[dict[str, JSON]] = []

    async def one(addr: str) -> Chain | None:
        url = _start_url(st, addr)
        if url is None:
            skipped.append({"address": addr, "family": st.family(addr),
                            "reason": "neither port 80 nor 443 accepts connections"})
            return None
        async with ctx.slot(addr):
            return await ctx.fetcher.follow(url, addr, st.family(addr),
                                            lambda h, f: resolve_hop(ctx, h, f))

    chains = [c for c in await asyncio.gather(*(one(a) for a in chosen)) if c is not None]
    st.chains = chains

    def ok(c: Chain) -> bool:
        f = c.final
        return f is not None and f.http_status is not None and f.http_status < HTTP_ERROR_FROM

    v6 = [c for c in chains if c.family == "v6"]
    v4 = [c for c in chains if c.family == "v4"]
    ev: dict[str, JSON] = {
        "chains": [c.to_json() for c in chains],
        "not_fetched": skipped,
        "v6_ok": [c.hops[0].address for c in v6 if ok(c)],
        "v6_failed": [c.hops[0].address for c in v6 if not ok(c)],
        "v4_ok": [c.hops[0].address for c in v4 if ok(c)],
        "v4_failed": [c.hops[0].address for c in v4 if not ok(c)],
        "v6_dead_ends": sorted({c.dead_end for c in v6 if c.dead_end}),
        "addresses_capped_at": cap if len(st.v6) > cap or len(st.v4) > cap else None,
        "v6_excluded": [c.hops[0].address for c in v6 if c.status is Status.EXCLUDED],
    }
    if caps := st.caps_hit(ctx.settings.max_addresses):
        ev["caps_hit"] = caps
    s6 = sorted({c.final.http_status for c in v6 if c.final and c.final.http_status})
    s4 = sorted({c.final.http_status for c in v4 if c.final and c.final.http_status})
    ev["final_status_v6"], ev["final_status_v4"] = s6, s4
    ev["status_differs"] = bool(s6 and s4 and s6 != s4)
    if not chains:
        return Observation("web.http", st.name, Status.SKIPPED, ev, "no address serves HTTP or HTTPS",
                           sw.stop(), sw.started_at)
    return Observation("web.http", st.name, Status.OK, ev, None, sw.stop(), sw.started_at)


def _final_summary(page: Page) -> dict[str, object]:
    return {"url": page.url, "path": urlsplit(page.url).path or "/", "address": page.address,
            "http_status": page.http_status, "title": page.title, "size": page.size,
            "truncated": page.truncated}


def _cert_sha(chain: Chain) -> str | None:
    first = chain.hops[0] if chain.hops else None
    return cert_info(first.peer_cert).sha256 if first is not None and first.peer_cert else None


async def check_same_site(st: WebState) -> Observation:
    """``web.same_site``: the final page of every IPv6 address compared with the IPv4 site.

    Each IPv6 address's page is compared with the first IPv4 final page and, when they differ,
    with up to :data:`MAX_V4_REFERENCES` distinct IPv4 pages (the best match counts: a stale
    IPv4 server is not an IPv6 problem).  The evidence is a per-address matrix; the top-level
    fields describe the worst IPv6 address, so one stale server behind a second AAAA is named.
    """
    sw = Stopwatch()
    v6 = [c for c in st.chains if c.family == "v6" and c.final is not None]
    refs: list[Chain] = []
    seen: set[bytes] = set()
    for c in st.chains:
        if c.family == "v4" and c.final is not None and c.final.body not in seen and len(refs) < MAX_V4_REFERENCES:
            seen.add(c.final.body)
            refs.append(c)
    if not v6 or not refs:
        missing = " and ".join(f for f, have in (("IPv6", v6), ("IPv4", refs)) if not have)
        ev0: dict[str, JSON] = {"v6": _final_summary(v6[0].final) if v6 and v6[0].final else None,
                                "v4": _final_summary(refs[0].final) if refs and refs[0].final else None,
                                "ipv6_only": bool(st.v6) and not st.v4}
        return Observation("web.same_site", st.name, Status.SKIPPED, ev0,
                           f"no final page over {missing} to compare", sw.stop(), sw.started_at)
    rows: list[dict[str, JSON]] = []
    worst: tuple[float, Page, Page, Comparison] | None = None
    for c in v6:
        page = c.final
        assert page is not None
        a = _final_summary(page)
        best: tuple[Comparison, Page] | None = None
        for ref in refs:
            rp = ref.final
            assert rp is not None
            # on the CPU threads: the texts are capped, but hostile markup must not stall the loop
            cmp = await off_loop(compare, a, _final_summary(rp), page.text, rp.text)
            if best is None or (cmp.similarity, cmp.same_status) > (best[0].similarity, best[0].same_status):
                best = (cmp, rp)
            if cmp.similarity >= 1.0 and cmp.same_status:
                break
        assert best is not None
        cmp, rp = best
        rows.append({"address": c.hops[0].address, "final_address": page.address, "url": page.url,
                     "http_status": page.http_status, "title": page.title, "size": page.size,
                     "cert": _cert_sha(c), "compared_with": rp.address, "similarity": cmp.similarity,
                     "quick_ratio": cmp.quick_ratio, "same_status": cmp.same_status, "same_title": cmp.same_title,
                     "differences": list(cmp.differences)})
        key = (cmp.similarity, page, rp, cmp)
        if worst is None or (cmp.similarity, cmp.same_status) < (worst[0], worst[3].same_status):
            worst = key
    assert worst is not None
    _, p6, p4, cmp = worst
    ev: dict[str, JSON] = {
        "v6": _final_summary(p6), "v4": _final_summary(p4), "similarity": cmp.similarity,
        "quick_ratio": cmp.quick_ratio, "same_status": cmp.same_status, "same_title": cmp.same_title,
        "same_final_path": cmp.same_final_path, "differences": list(cmp.differences),
        "addresses": rows, "v4_references": [r.hops[0].address for r in refs],
    }
    return Observation("web.same_site", st.name, Status.OK, ev, None, sw.stop(), sw.started_at)


async def check_latency(ctx: Context, st: WebState) -> Observation:
    sw = Stopwatch()
    n = max(1, ctx.settings.latency_probes)
    out: dict[str, JSON] = {}
    medians: dict[str, float] = {}

    async def family(fam: str, addrs: list[str]) -> None:
        addr = next((a for a in addrs if _start_url(st, a)), None)
        if addr is None:
            return
        url = _start_url(st, addr)
        assert url is not None
        probes: list[dict[str, JSON]] = []
        for _ in range(n):  # one after the other: the probes must not compete with each other
            async with ctx.slot(addr):
                # one try per probe: the success rate over repeated probes is what is measured
                page = await ctx.fetcher.get(url, addr, keep_body=False, attempts=1)
            row: dict[str, JSON] = {"status": str(page.status),
                                    **{k: round(v, 3) for k, v in page.timings.items()}}
            if page.error:
                row["error"] = page.error
            probes.append(row)
        good = [p for p in probes if p["status"] == "ok" and "first_byte_ms" in p]
        totals = [float(p.get("connect_ms", 0)) + float(p.get("tls_ms", 0)) + float(p["first_byte_ms"])
                  for p in good]
        out[fam] = {"address": addr, "url": url, "probes": probes,
                    "success_rate": round(len(good) / n, 3),
                    "median_ms": round(statistics.median(totals), 3) if totals else None}
        if totals:
            medians[fam] = statistics.median(totals)

    await asyncio.gather(family("v6", st.v6), family("v4", st.v4))
    out = {k: out[k] for k in ("v6", "v4") if k in out}
    ev: dict[str, JSON] = {"families": out, "probes_per_family": n, "ipv6_only": bool(st.v6) and not st.v4}
    if "v6" in medians and "v4" in medians and medians["v4"] > 0:
        ev["ratio_v6_v4"] = round(medians["v6"] / medians["v4"], 3)
    if not out:
        return Observation("web.latency", st.name, Status.SKIPPED, ev, "no address serves HTTP or HTTPS",
                           sw.stop(), sw.started_at)
    return Observation("web.latency", st.name, Status.OK, ev, None, sw.stop(), sw.started_at)


async def _http_then_tls(ctx: Context, st: WebState, tls: bool) -> list[Observation]:
    http = await check_http(ctx, st)
    return [await check_tls(ctx, st), http] if tls else [http]


#: whether a check id is selected (an empty selection means every check)
Selected = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class WebStep:
    """One step of the web checks of a name: it runs when one of ``wanted_by`` is selected (always
    when ``wanted_by`` is empty) and returns its observations."""

    wanted_by: tuple[str, ...]
    run: Callable[[Context, WebState, Selected], Awaitable[list[Observation]]]

    def wanted(self, on: Selected) -> bool:
        return not self.wanted_by or any(on(i) for i in self.wanted_by)


async def _reach(ctx: Context, st: WebState, on: Selected) -> list[Observation]:
    return [await check_reach(ctx, st)]


async def _http_tls(ctx: Context, st: WebState, on: Selected) -> list[Observation]:
    """web.http (and web.tls after it, reusing its handshakes) when HTTP or the comparison is
    wanted, else web.tls alone."""
    if on("web.http") or on("web.same_site"):
        return await _http_then_tls(ctx, st, on("web.tls"))
    return [await check_tls(ctx, st)]


async def _pmtu(ctx: Context, st: WebState, on: Selected) -> list[Observation]:
    return [await check_pmtu(ctx, st)]


async def _icmp(ctx: Context, st: WebState, on: Selected) -> list[Observation]:
    return [await check_icmp(ctx, st)]


async def _same_site(ctx: Context, st: WebState, on: Selected) -> list[Observation]:
    return [await check_same_site(st)]


async def _latency(ctx: Context, st: WebState, on: Selected) -> list[Observation]:
    return [await check_latency(ctx, st)]


async def _links(ctx: Context, st: WebState, on: Selected) -> list[Observation]:
    return [o for o in await check_links(ctx, st) if on(o.check)]


#: the web checks of one name, phase after phase: reach first (every later step reads its open
#: ports); then HTTP with TLS, and the path probes, at once; then the comparison (of web.http's
#: pages), latency, and the links (of web.http's homepage).  A phase of one step is awaited
#: directly; the steps of a longer phase run concurrently, their observations in this order.
WEB_PHASES: tuple[tuple[WebStep, ...], ...] = (
    (WebStep((), _reach),),
    (WebStep(("web.http", "web.same_site", "web.tls"), _http_tls),
     WebStep(("path.pmtu",), _pmtu),
     WebStep(("path.icmp",), _icmp)),
    (WebStep(("web.same_site",), _same_site),),
    (WebStep(("web.latency",), _latency),),
    (WebStep(("web.links", "web.resources"), _links),),
)


async def check_web(ctx: Context, host: HostDNS, selected: tuple[str, ...] = ()) -> list[Observation]:
    """Run the web checks of one name in the order of :data:`WEB_PHASES`: reach, then TLS and HTTP
    (and the path probes), then comparison, latency, links."""

    def on(cid: str) -> bool:
        return not selected or cid in selected

    st = web_state(ctx, host)
    obs: list[Observation] = []
    for phase in WEB_PHASES:
        if len(phase) == 1:
            if phase[0].wanted(on):
                obs += await phase[0].run(ctx, st, on)
            continue
        for part in await asyncio.gather(*(step.run(ctx, st, on) for step in phase if step.wanted(on))):
            obs += part
    return obs


async def check_self_v6(ctx: Context) -> Observation:
    """``self.v6``: does the scanner itself have usable IPv6?

    A route lookup (a connected UDP socket sends nothing) tells whether the
    machine has an IPv6 route and which source address it would use; with
    ``--self-check ADDR[:PORT]`` a TCP connect to that address proves it.
    """
    sw = Stopwatch()
    s = ctx.settings
    ev: dict[str, JSON] = {"configured_probe": s.self_check}

    def failed(status: Status, why: str) -> Observation:
        ev["scanner_side"] = "self-check"  # the scanner's own IPv6: never a site's fault
        return Observation("self.v6", "self", status, ev, why, sw.stop(), sw.started_at)

    if not s.self_check_enabled:
        return Observation("self.v6", "self", Status.SKIPPED, ev, "the self-check was turned off",
                           sw.stop(), sw.started_at)
    probe_addr, probe_port = (parse_server(s.self_check) if s.self_check else SELF_CHECK_ROUTE)
    if ":" not in probe_addr:
        return failed(Status.ERROR, "the self-check address must be IPv6")
    if s.self_check and not (decision := ctx.policy.decide(probe_addr)).allowed:
        # one policy for every connection: the CLI refuses this address; a library caller gets no packet
        return failed(Status.BLOCKED, f"the self-check address {probe_addr} may not be contacted: {decision.reason}")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
            u.connect((probe_addr, probe_port))  # route lookup only: no packet is sent
            source = u.getsockname()[0]
    except OSError as e:
        ev["route"] = False
        return failed(Status.UNREACHABLE, f"this machine has no IPv6 route ({e.strerror})")
    src_class = classify(source)
    ev.update(route=True, source=source, source_class=src_class.kind)
    source_ok = src_class.public or ctx.policy.allows(source)
    if not source_ok:
        return failed(Status.UNREACHABLE, f"the IPv6 source address is not global ({src_class.describe()})")
    if s.self_check:
        p, n = await retried(lambda: tcp_connect(probe_addr, probe_port, s.connect_attempt_timeout),
                             lambda r: r.status, s.retry)
        ev["probe"] = {"address": probe_addr, "port": probe_port, **dataclasses.replace(p, attempts=n).to_json()}
        if p.status is not Status.OK:
            return failed(p.status, f"the self-check probe [{probe_addr}]:{probe_port} failed: {p.error}")
    else:
        ev["note"] = "route and source address only: give --self-check ADDR[:PORT] to prove connectivity"
    return Observation("self.v6", "self", Status.OK, ev, None, sw.stop(), sw.started_at)
