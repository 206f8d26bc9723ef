"""Run the checks for targets: per-target deadline, isolation of failures, bounded concurrency.

A check family that raises never takes the target (or the sweep) down: its
checks are recorded with status ``error`` and the reason (the exception's type,
message and last frames in the evidence), and the exception is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from v6scan.attempts import cancelled_by_us
from v6scan.checks.base import Check, Phase, Run
from v6scan.checks.dns import HostDNS
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, now_iso
from v6scan.registry import CHECKS
from v6scan.scoring import SiteVerdict
from v6scan.settings import Settings
from v6scan.targets import Target, variants

__all__ = ["TargetResult", "active_checks", "failed_result", "scan_target", "scan_targets"]

log = logging.getLogger(__name__)

TRACEBACK_FRAMES = 5  # the last frames of an unexpected exception kept in the evidence ...
TRACEBACK_CHARS = 2000  # ... and at most this much of them (the end: where it was raised)
#: set on an exception once logged (a shared measurement's error reaches every check that reads it)
LOGGED = "_v6scan_logged"


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
    if getattr(e, LOGGED, False):  # a shared measurement's error, already logged for another check
        log.debug("%s of %s failed with the same internal error: %s", ", ".join(ids), name, line)
    else:
        log.error("internal error in %s of %s: %s", ", ".join(ids), name, line, exc_info=e)
        with contextlib.suppress(AttributeError):
            setattr(e, LOGGED, True)
    return [Observation(i, name, Status.ERROR,
                        {"exception": line, "exception_type": type(e).__name__,
                         "message": str(e)[:TRACEBACK_CHARS], "traceback": tb},
                        f"internal error: {line}") for i in ids]


def failed_result(target: Target, check_ids: tuple[str, ...], e: Exception) -> TargetResult:
    """A target that could not be scanned at all (a bug, or the process scanning it died): every
    selected check is recorded as an error with the reason, so the target is never lost."""
    ids = tuple(c for c in CHECKS if not check_ids or c in check_ids or c == "dns.resolve")
    return TargetResult(target, [target.name], _failed(ids, target.name, e), finished_at=now_iso())


def active_checks(settings: Settings) -> list[Check[Any]]:
    """The checks a scan with ``settings`` runs, in catalogue order: the selected ones (all when
    none is selected; ``dns.resolve`` always: every verdict starts from it), less those their
    setting turns off."""
    sel = settings.check_ids
    return [c for c in CHECKS.values() if (not sel or c.id in sel or c.id == "dns.resolve")
            and (c.setting is None or bool(getattr(settings, c.setting)))]


async def _probe(ctx: Context, check: Check[Any], run: Run) -> list[Observation]:
    """One check's probe; an exception is that check's error, never the target's."""
    return await _guard((check.id,), run.name, lambda: _one(check.probe(ctx, run)))


async def _all(ctx: Context, checks: list[Check[Any]], run: Run) -> list[Observation]:
    """The probes of ``checks`` at once, their observations in catalogue order."""
    if len(checks) == 1:  # no task for a lone check
        return await _probe(ctx, checks[0], run)
    out: list[Observation] = []
    for part in await asyncio.gather(*(_probe(ctx, c, run) for c in checks)):
        out += part
    return out


async def _stages(ctx: Context, checks: list[Check[Any]], run: Run) -> list[Observation]:
    """The connecting checks of a name, stage after stage (each stage's checks at once): a later
    stage reads what an earlier one measured (open ports, fetched pages)."""
    out: list[Observation] = []
    for stage in sorted({c.stage for c in checks}):
        out += await _all(ctx, [c for c in checks if c.stage == stage], run)
    return out


def _not_run(checks: list[Check[Any]], name: str, status: Status, why: str) -> list[Observation]:
    return [Observation(c.id, name, status, {}, why) for c in checks]


async def _variant(ctx: Context, name: str, target: str, checks: list[Check[Any]]) -> list[Observation]:
    """The checks of one site name: its lookup first, then its other DNS checks beside the
    connecting checks (when the name resolved to addresses that may be contacted)."""
    run = Run(ctx, name, target, ctx.settings.check_ids)
    obs: list[Observation] = []
    for c in checks:  # one after the other: the first makes the lookup they all read
        if c.phase is Phase.LOOKUP:
            obs += await _probe(ctx, c, run)
    host: HostDNS | None = run.peek("dns.host")
    connect = [c for c in checks if c.phase is Phase.CONNECT]
    tasks = [_all(ctx, [c for c in checks if c.phase is Phase.DNS], run)]
    if not connect:
        pass
    elif host is not None and host.excluded:
        obs += _not_run(connect, name, Status.EXCLUDED, host.excluded)
    elif host is not None and host.resolved:
        tasks.append(_connect_phase(ctx, _stages(ctx, connect, run)))
    else:
        obs += _not_run(connect, name, Status.SKIPPED, "the name did not resolve" if host is not None
                        else "DNS failed")
    for part in await asyncio.gather(*tasks):
        obs += part
    return obs


async def _connect_phase(ctx: Context, work: Awaitable[list[Observation]]) -> list[Observation]:
    """The connection phase of a name waits for a slot of the runner's connection gate, so names
    whose DNS is done queue here while the DNS of later targets goes on (no lockstep)."""
    if ctx.connect_gate is None:
        return await work
    async with ctx.connect_gate:
        return await work


async def _one(aw: Awaitable[Observation]) -> list[Observation]:
    return [await aw]


async def _scanner(ctx: Context, check: Check[Any], run: Run, after: float) -> Observation:
    """A run of the scanner's own check (the self-check canary) that started at ``after`` or
    later, recorded with the target so each record stands alone."""
    obs = await ctx.canary(after, lambda: check.probe(ctx, run))
    return replace(obs, target=run.target)


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
    checks = active_checks(ctx.settings)
    per_name = [c for c in checks if c.per_variant]
    per_target = [c for c in checks if c.phase is Phase.TARGET]
    scanner = next((c for c in checks if c.phase is Phase.SCANNER), None)
    target_run = Run(ctx, target.name, target.name, sel)

    loop = asyncio.get_running_loop()
    begun = loop.time()

    async def work() -> None:
        parts = [_variant(ctx, n, target.name, per_name) for n in names]
        if per_target:
            parts.append(_all(ctx, per_target, target_run))
        if scanner is not None:  # the scanner's own IPv6 when the target starts (a recent canary run serves)
            s = scanner
            parts.append(_guard((s.id,), target.name, lambda: _one(_scanner(
                ctx, s, target_run, begun - ctx.settings.self_check_interval))))
        for chunk in await asyncio.gather(*parts):
            result.observations.extend(chunk)
        if scanner is not None and ctx.settings.self_check_enabled:
            # ... and once more after its last probe: a vantage that failed meanwhile is the
            # scanner's problem (self.v6 fails: inconclusive, and a sweep measures it again)
            s = scanner
            after = await _guard((s.id,), target.name, lambda: _one(_scanner(ctx, s, target_run, loop.time())))
            i = next(i for i, o in enumerate(result.observations) if o.check == s.id)
            result.observations[i] = _worse(result.observations[i], after[0])

    try:
        async with asyncio.timeout(ctx.settings.target_deadline):
            await work()
    except TimeoutError:
        log.debug("%s: the per-target deadline of %g s ran out", target.name, ctx.settings.target_deadline)
        done = {(o.check, o.target) for o in result.observations}
        for c in checks:
            for n in (names if c.per_variant else [target.name]):
                if (c.id, n) not in done:
                    result.observations.append(Observation(
                        c.id, n, Status.TIMEOUT, {},
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
