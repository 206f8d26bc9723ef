"""Run the checks for targets: per-target deadline, isolation of failures, bounded concurrency.

A check family that raises never takes the target (or the sweep) down: its
checks are recorded with status ``error`` and the reason (the exception's type,
message and last frames in the evidence), and the exception is logged.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from v6scan.attempts import cancelled_by_us
from v6scan.checks import CHECKS, family_enabled
from v6scan.checks.dns import HostDNS, check_host, check_name_servers, check_v6_path
from v6scan.checks.mail import check_mx, check_mx_reach
from v6scan.checks.web import check_self_v6, check_web
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, now_iso
from v6scan.scoring import SiteVerdict
from v6scan.settings import Settings
from v6scan.targets import Target, variants

__all__ = ["TargetResult", "failed_result", "scan_target", "scan_targets"]

log = logging.getLogger(__name__)

TRACEBACK_FRAMES = 5  # the last frames of an unexpected exception kept in the evidence ...
TRACEBACK_CHARS = 2000  # ... and at most this much of them (the end: where it was raised)


@dataclass
class TargetResult:
    target: Target
    names: list[str]
    observations: list[Observation] = field(default_factory=list)
    started_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    verdict: SiteVerdict | None = None  # when scored where it was scanned (a worker process)

    def get(self, check: str, name: str | None = None) -> Observation | None:
        for o in self.observations:
            if o.check == check and (name is None or o.target == name):
                return o
        return None


async def _guard(ids: tuple[str, ...], name: str, make: Callable[[], Awaitable[list[Observation]]]
                 ) -> list[Observation]:
    try:
        return await make()
    except asyncio.CancelledError as c:
        if cancelled_by_us():
            raise  # the deadline or the runner: handled above
        # a cancelled future inside a library, not a cancellation of ours: these checks failed
        e = RuntimeError("a probe was cancelled unexpectedly")
        e.__cause__ = c  # where it was cancelled, in the traceback
        return _failed(ids, name, e)
    except Exception as e:  # a bug or an unexpected peer: recorded, never propagated
        return _failed(ids, name, e)


def _failed(ids: tuple[str, ...], name: str, e: Exception) -> list[Observation]:
    """The checks ``ids`` of ``name`` failed with the unexpected exception ``e``: logged, and recorded
    as errors with a short reason and the exception in the evidence."""
    line = traceback.format_exception_only(type(e), e)[-1].strip()
    tb = "".join(traceback.format_exception(e, limit=-TRACEBACK_FRAMES))
    if len(tb) > TRACEBACK_CHARS:
        tb = "..." + tb[-TRACEBACK_CHARS:]
    log.error("internal error in %s of %s: %s", ", ".join(ids), name, line, exc_info=e)
    return [Observation(i, name, Status.ERROR,
                        {"exception": line, "exception_type": type(e).__name__,
                         "message": str(e)[:TRACEBACK_CHARS], "traceback": tb},
                        f"internal error: {line}") for i in ids]


def failed_result(target: Target, check_ids: tuple[str, ...], e: Exception) -> TargetResult:
    """A target that could not be scanned at all (a bug, or the process scanning it died): every
    selected check is recorded as an error with the reason, so the target is never lost."""
    ids = tuple(c for c in CHECKS if not check_ids or c in check_ids or c == "dns.resolve")
    return TargetResult(target, [target.name], _failed(ids, target.name, e), finished_at=now_iso())


WEB_IDS = ("web.reach", "web.tls", "web.http", "web.same_site", "web.latency", "web.links", "web.resources",
           "path.pmtu", "path.icmp")


async def _variant(ctx: Context, name: str) -> list[Observation]:
    sel = ctx.settings.check_ids
    obs: list[Observation] = []
    host: HostDNS | None = None
    if family_enabled(sel, "dns.resolve", "dns.aaaa", *WEB_IDS):
        try:
            host = await check_host(ctx, name)
            obs += host.observations
        except Exception as e:  # recorded like any failing family
            obs += _failed(("dns.resolve", "dns.aaaa"), name, e)
    tasks = []
    if host is not None and host.excluded and family_enabled(sel, *WEB_IDS):
        obs += [Observation(i, name, Status.EXCLUDED, {}, host.excluded) for i in WEB_IDS]
    elif host is not None and host.resolved and family_enabled(sel, *WEB_IDS):
        h = host
        tasks.append(_guard(WEB_IDS, name, lambda: _connect_phase(ctx, check_web(ctx, h, sel))))
    elif family_enabled(sel, *WEB_IDS):
        why = "the name did not resolve" if host is not None else "DNS failed"
        obs += [Observation(i, name, Status.SKIPPED, {}, why) for i in WEB_IDS]
    if family_enabled(sel, "dns.ns_aaaa", "dns.ns_reach"):
        tasks.append(_guard(("dns.ns_aaaa", "dns.ns_reach"), name,
                            lambda: check_name_servers(ctx, name)))
    if ctx.settings.v6_path and family_enabled(sel, "dns.v6_path"):
        tasks.append(_guard(("dns.v6_path",), name, lambda: _one(check_v6_path(ctx, name))))
    for part in await asyncio.gather(*tasks):
        obs += part
    # dns.resolve is kept whatever the selection: every verdict starts from it
    return [o for o in obs if not sel or o.check in sel or o.check == "dns.resolve"]


async def _connect_phase(ctx: Context, work: Awaitable[list[Observation]]) -> list[Observation]:
    """The connection phase of a name waits for a slot of the runner's connection gate, so names
    whose DNS is done queue here while the DNS of later targets goes on (no lockstep)."""
    if ctx.connect_gate is None:
        return await work
    async with ctx.connect_gate:
        return await work


async def _one(aw: Awaitable[Observation]) -> list[Observation]:
    return [await aw]


async def _mail(ctx: Context, name: str, sel: tuple[str, ...]) -> list[Observation]:
    mx = await check_mx(ctx, name)
    out = [mx] if family_enabled(sel, "mail.mx_aaaa") else []
    if family_enabled(sel, "mail.mx_reach"):
        out.append(await check_mx_reach(ctx, mx))
    return out


async def _self_v6(ctx: Context, name: str, after: float) -> Observation:
    """A run of the self-check canary that started at ``after`` or later, recorded with the target
    so each record stands alone."""
    obs = await ctx.canary(after, lambda: check_self_v6(ctx))
    return replace(obs, target=name)


def _worse(a: Observation, b: Observation) -> Observation:
    """Of two self-checks, the failed one (the scanner's IPv6 failed during the target)."""
    return b if a.status in (Status.OK, Status.SKIPPED) else a


async def scan_target(ctx: Context, target: Target) -> TargetResult:
    """Every enabled check for one target (and its ``www.`` variant), within the deadline.

    The target starts when the event loop keeps up (:meth:`Context.pace`); its clock starts then.
    """
    await ctx.pace()
    log.debug("%s: started", target.name)
    names: list[str] = []
    left_out: list[dict[str, JSON]] = []
    for v in variants(target, ctx.settings.www, ctx.settings.extra_suffixes):
        if v.name != target.name and (entry := ctx.excluded(v.name)) is not None:
            left_out.append({"name": v.name, "entry": entry})  # recorded with dns.resolve, never contacted
        else:
            names.append(v.name)
    result = TargetResult(target, names)
    sel = ctx.settings.check_ids

    loop = asyncio.get_running_loop()
    begun = loop.time()
    canary = family_enabled(sel, "self.v6")

    async def work() -> None:
        parts = [_variant(ctx, n) for n in names]
        if family_enabled(sel, "mail.mx_aaaa", "mail.mx_reach"):
            parts.append(_guard(("mail.mx_aaaa", "mail.mx_reach"), target.name, lambda: _mail(ctx, target.name, sel)))
        if canary:  # the scanner's own IPv6 when the target starts (a recent canary run serves)
            parts.append(_guard(("self.v6",), target.name, lambda: _one(_self_v6(
                ctx, target.name, begun - ctx.settings.self_check_interval))))
        for chunk in await asyncio.gather(*parts):
            result.observations.extend(chunk)
        if canary and ctx.settings.self_check_enabled:
            # ... and once more after its last probe: a vantage that failed meanwhile is the
            # scanner's problem (self.v6 fails: inconclusive, and a sweep measures it again)
            after = await _guard(("self.v6",), target.name, lambda: _one(_self_v6(ctx, target.name, loop.time())))
            i = next(i for i, o in enumerate(result.observations) if o.check == "self.v6")
            result.observations[i] = _worse(result.observations[i], after[0])

    try:
        async with asyncio.timeout(ctx.settings.target_deadline):
            await work()
    except TimeoutError:
        log.debug("%s: the per-target deadline of %g s ran out", target.name, ctx.settings.target_deadline)
        done = {(o.check, o.target) for o in result.observations}
        for cid, info in CHECKS.items():
            if sel and cid not in sel:
                continue
            for n in (names if info.per_variant else [target.name]):
                if (cid, n) not in done:
                    result.observations.append(Observation(
                        cid, n, Status.TIMEOUT, {},
                        f"the per-target deadline of {ctx.settings.target_deadline:g} s ran out"))
    except Exception as e:  # a bug outside the guarded families: the target is answered, never raised
        return failed_result(target, sel, e)
    if left_out:
        for i, o in enumerate(result.observations):
            if o.check == "dns.resolve" and o.target == target.name:
                result.observations[i] = replace(o, evidence={**o.evidence, "excluded_variants": left_out})
    result.finished_at = now_iso()
    log.debug("%s: finished in %.2f s (%s)", target.name, loop.time() - begun, ", ".join(names))
    return result


async def scan_targets(targets: Iterable[Target], settings: Settings | None = None,
                       concurrency: int = 64, stop: asyncio.Event | None = None) -> AsyncIterator[TargetResult]:
    """Scan many targets; yield results as they finish.

    ``concurrency`` names are in their connection phase (TCP, TLS, HTTP) at once, and as many
    targets again may be resolving ahead of them: DNS and connections are two stages joined by
    a queue, not a lockstep.  When ``stop`` is set no new target is started; those in flight
    finish and are yielded.
    """
    async with Context.create(settings) as ctx:
        ctx.connect_gate = asyncio.Semaphore(concurrency)
        concurrency *= 2  # admitted targets: those connecting and those resolving ahead
        queue: asyncio.Queue[TargetResult] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()
        it = iter(targets)
        started = yielded = 0
        exhausted = False

        async def one(t: Target) -> None:
            try:
                result = await scan_target(ctx, t)
            except asyncio.CancelledError:
                if cancelled_by_us():
                    raise  # the runner is stopping
                # a cancellation nobody asked for (a cancelled future inside a library): the target
                # is answered, never lost, and the runner never waits for it forever
                result = failed_result(t, ctx.settings.check_ids, RuntimeError("a probe was cancelled unexpectedly"))
            await queue.put(result)

        try:
            while True:
                while not exhausted and started - yielded < concurrency:
                    if stop is not None and stop.is_set():
                        exhausted = True
                        break
                    t = next(it, None)
                    if t is None:
                        exhausted = True
                        break
                    task = asyncio.create_task(one(t))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    started += 1
                if exhausted and yielded == started:
                    return
                result = await queue.get()
                yielded += 1
                yield result
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
