"""Run a sweep into a store: targets -> checks -> observations -> verdicts -> SQLite.

Finished targets are written in batches, each batch in one transaction, as
soon as ``batch_size`` targets are done or ``flush_seconds`` have passed, so
an interrupted sweep loses at most the targets still in flight; ``resume``
scans only the targets without a result.

Stopping: ``stop`` (the first Ctrl-C) starts nothing new; the targets in flight get ``grace``
seconds to finish, then they are cancelled and left pending (never given a verdict) for
``resume``.  ``abort`` (the second Ctrl-C) cancels them at once.  Whatever was finished before is
written either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, replace

from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target, scan_targets
from v6scan.model import JSON, Observation
from v6scan.registry import CHECKS
from v6scan.scoring import Policy, SiteVerdict, score_target
from v6scan.settings import Settings
from v6scan.store import Store, StoreError
from v6scan.targets import Target
from v6scan.workers import scan_in_processes

__all__ = ["DEFAULT_MAX_RETRIES", "RESUME_MAY_DIFFER", "SCANNER_SIDE_CHECKS", "check_sweep", "config_differences",
           "describe_causes", "give_up", "resume_sweep", "retryable", "run_sweep", "settings_config", "settle",
           "stored_config"]

log = logging.getLogger(__name__)


def settings_config(settings: Settings) -> dict[str, JSON]:
    """The settings as recorded with a sweep (and compared on resume)."""
    return {k: (str(v) if v is not None and not isinstance(v, bool | int | float | str | list | tuple)
                else (list(v) if isinstance(v, tuple) else v))
            for k, v in asdict(settings).items()}


#: the checks that say when a failure was the scanner's, not the site's (evidence ``scanner_side``)
SCANNER_SIDE_CHECKS = tuple(c.id for c in CHECKS.values() if c.scanner_side)


def scanner_side(o: Observation) -> str | None:
    """What of the scanner failed (``resolver``, ``self-check``) when ``o`` says so, else None."""
    if o.check not in SCANNER_SIDE_CHECKS:
        return None
    side = getattr(CHECKS[o.check].read(o), "scanner_side", None)
    return str(side) if side else None


def retryable(observations: Sequence[Observation]) -> bool:
    """The scanner was at fault (its resolver answered nothing, not even a canary name; or its own
    IPv6 self-check failed while the target was measured): the target was not assessed, so it is
    recorded with status ``retry`` and ``--resume`` measures it again.  Any other failure, a DNS
    timeout included, is a finding about the site and gets its verdict."""
    return any(scanner_side(o) for o in observations)


#: how many times a target the scanner could not measure is retried across resumes (``--max-retries``)
DEFAULT_MAX_RETRIES = 3

#: settings that may differ when a sweep is resumed: politeness limits, not what is measured
RESUME_MAY_DIFFER = frozenset({"per_address_concurrency", "per_prefix_concurrency"})


def give_up(observations: Sequence[Observation], tries: int, max_retries: int) -> list[Observation]:
    """The observations of a target the scanner failed to measure ``tries`` times, its retry budget
    spent: the scanner-side marks become ``gave_up`` evidence and the error says why and how often,
    so scoring gives the verdict that failure gives without the mark (``error``: the name was not
    resolved, the reason naming the scanner's resolver and the tries; a failed self-check stays
    ``inconclusive``), the same on any later ``rescore``."""
    out = []
    for o in observations:
        cause = scanner_side(o)
        if not cause:
            out.append(o)
            continue
        evidence = {k: v for k, v in o.evidence.items() if k != "scanner_side"}
        evidence["gave_up"] = {"cause": cause, "tries": tries, "max_retries": max_retries}
        why = _CAUSES.get(str(cause), f"the scanner failed ({cause})")
        error = (f"{o.error or o.status}; {why}, in {tries} tries (at most {max_retries} retries across"
                 " resumes): not retried again")
        out.append(replace(o, evidence=evidence, error=error))
    return out


def settle(store: Store, sweep_id: int, result: TargetResult, verdict: SiteVerdict, policy: Policy,
           max_retries: int) -> tuple[TargetResult, SiteVerdict, bool]:
    """The one rule every execution mode applies to a finished target before it is recorded:
    ``(result, verdict, retry)``.  A target the scanner was at fault for (:func:`retryable`) is
    kept for retry while it has retries left (``max_retries`` across resumes, counted in the
    store); after that it gets its verdict from :func:`give_up`'s observations."""
    if not retryable(result.observations):
        return result, verdict, False
    used = store.retries_used(sweep_id, [result.target.name]).get(result.target.name, 0)
    if used < max_retries:
        return result, verdict, True
    observations = give_up(result.observations, used + 1, max_retries)
    result = replace(result, observations=observations, verdict=None)
    return result, score_target(result.target.name, observations, policy), False


_CAUSES = {
    "resolver": "the scanner's resolver did not answer",
    "self-check": "measured while the scanner's own IPv6 failed (self-check)",
}


def describe_causes(causes: Mapping[str, int], total: int) -> str:
    """``"12 targets to retry: the scanner's resolver did not answer"``, from the number of targets
    to retry per cause (``""``: recorded without a cause, by an earlier version)."""
    def text(cause: str) -> str:
        if not cause:
            return "recorded for retry by an earlier version of v6scan"
        return _CAUSES.get(cause, f"the scanner failed ({cause})")

    parts = [text(c) + (f" ({n})" if len(causes) > 1 else "")
             for c, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"{total} target{'' if total == 1 else 's'} to retry: " + "; ".join(parts or ["cause unknown"])


class _Flight:
    """Targets handed to the scanners and results back: the difference was in flight."""

    def __init__(self) -> None:
        self.taken = self.back = 0

    def count(self, targets: Iterable[Target]) -> Iterator[Target]:
        for t in targets:
            self.taken += 1
            yield t

    @property
    def in_flight(self) -> int:
        return self.taken - self.back


async def _drain(store: Store, sweep_id: int, targets: Iterable[Target], settings: Settings, policy: Policy,
                 concurrency: int, batch_size: int, flush_seconds: float,
                 progress: Callable[[TargetResult, SiteVerdict], None] | None, stop: asyncio.Event | None,
                 workers: int = 1, flight: _Flight | None = None, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
    flight = flight or _Flight()
    targets = flight.count(targets)
    batch: list[tuple[str, str, str | None, Sequence[Observation], SiteVerdict | None]] = []
    retry: set[str] = set()
    last = time.monotonic()
    results = (scan_targets(targets, settings, concurrency=concurrency, stop=stop) if workers <= 1 else
               scan_in_processes(targets, settings, concurrency=concurrency, stop=stop, workers=workers,
                                 policy=policy))
    try:
        async for result in results:
            flight.back += 1
            verdict = result.verdict or score_target(result.target.name, result.observations, policy)
            result, verdict, again = settle(store, sweep_id, result, verdict, policy, max_retries)
            batch.append((result.target.name, result.started_at, result.finished_at,
                          result.observations, verdict))
            if again:
                retry.add(result.target.name)
            if progress:
                progress(result, verdict)
            if len(batch) >= batch_size or time.monotonic() - last >= flush_seconds:
                store.record(sweep_id, batch, retry, vantage=VANTAGE)
                log.debug("sweep %d: %d results written", sweep_id, len(batch))
                batch, last, retry = [], time.monotonic(), set()
    finally:
        # a cancelled sweep comes here out of the generator, which has cancelled its targets in
        # flight (or killed its workers) already; on any other way out, closing it does that now
        aclose = getattr(results, "aclose", None)
        if aclose is not None:
            await aclose()
        if batch:
            store.record(sweep_id, batch, retry, vantage=VANTAGE)


VANTAGE = socket.gethostname()  # where a single-machine sweep's observations were made


async def run_sweep(store: Store, targets: Iterable[Target], settings: Settings, policy: Policy,
                    *, concurrency: int = 64, batch_size: int = 50, flush_seconds: float = 2.0,
                    progress: Callable[[TargetResult, SiteVerdict], None] | None = None,
                    extra_config: Mapping[str, JSON] | None = None, stop: asyncio.Event | None = None,
                    excluded: Iterable[Target] = (), workers: int = 1,
                    loaded: Callable[[int], None] | None = None, cluster: str | None = None,
                    chunk_size: int = 200, grace: float | None = None, abort: asyncio.Event | None = None,
                    max_retries: int = DEFAULT_MAX_RETRIES) -> int:
    """Scan ``targets`` as a new sweep; return the sweep id.

    ``targets`` may be a lazy iterable: it is streamed into the store first, then the sweep
    streams the targets back in its shuffled order, so memory does not grow with the list.
    Setting ``stop`` stops the sweep: no new target starts; those in flight finish and are
    recorded, or with ``grace`` they get that many seconds and are then cancelled and left
    pending; setting ``abort`` cancels them at once.  The sweep is then marked ``interrupted``
    (``resume_sweep`` continues it).  A target the scanner was at fault for is retried at most
    ``max_retries`` times across resumes (stored with the sweep's configuration), then given
    its verdict (:func:`settle`).
    """
    config = {**settings_config(settings), "max_retries": max_retries, **(extra_config or {})}
    sweep_id = store.start_sweep(targets, config, policy.name, excluded)
    log.info("sweep %d: started (policy %s, %s)", sweep_id, policy.name, _mode(workers, cluster))
    if loaded is not None:
        loaded(sweep_id)
    await _run(store, sweep_id, settings, policy, concurrency, batch_size, flush_seconds, progress, stop, workers,
               cluster, chunk_size, grace, abort, max_retries)
    return sweep_id


def stored_config(store: Store, sweep_id: int) -> dict[str, JSON]:
    """The configuration a sweep was started with (settings, ``max_retries``, what the caller added)."""
    config = json.loads(store.sweep(sweep_id)["config"] or "{}")
    return config if isinstance(config, dict) else {}


def config_differences(stored: Mapping[str, JSON], settings: Settings) -> list[str]:
    """The settings (keys) in which ``settings`` differ from a sweep's stored configuration, those
    that may differ on resume (:data:`RESUME_MAY_DIFFER`) and those the sweep did not record aside."""
    now = settings_config(settings)
    return sorted(k for k, v in now.items() if k in stored and k not in RESUME_MAY_DIFFER
                  and _canonical(stored[k]) != _canonical(v))


def _canonical(v: JSON) -> str:
    return json.dumps(v, sort_keys=True, default=str)


async def resume_sweep(store: Store, sweep_id: int, settings: Settings, policy: Policy,
                       *, concurrency: int = 64, batch_size: int = 50, flush_seconds: float = 2.0,
                       progress: Callable[[TargetResult, SiteVerdict], None] | None = None,
                       extra_config: Mapping[str, JSON] | None = None, stop: asyncio.Event | None = None,
                       workers: int = 1, cluster: str | None = None, chunk_size: int = 200,
                       grace: float | None = None, abort: asyncio.Event | None = None) -> int:
    """Scan the targets of ``sweep_id`` that have no result, with its stored retry budget; refuse
    settings that differ from the sweep's (but for :data:`RESUME_MAY_DIFFER`).  ``extra_config``
    is not compared (the caller compares what it stored)."""
    stored = stored_config(store, sweep_id)
    differ = config_differences(stored, settings)
    if differ:
        raise StoreError(f"sweep {sweep_id} was started with another configuration ({', '.join(differ)});"
                         " resume it with the same settings (or start a new sweep)")
    budget = stored.get("max_retries", DEFAULT_MAX_RETRIES)
    max_retries = budget if isinstance(budget, int) else DEFAULT_MAX_RETRIES
    pending = store.pending_count(sweep_id)
    log.info("sweep %d: resumed, %d targets left (%s)", sweep_id, pending, _mode(workers, cluster))
    await _run(store, sweep_id, settings, policy, concurrency, batch_size, flush_seconds, progress, stop, workers,
               cluster, chunk_size, grace, abort, max_retries)
    return pending


async def check_sweep(store: Store, sweep_id: int, settings: Settings, policy: Policy) -> None:
    """Measure the targets of ``sweep_id`` as ``v6scan check`` measures them (one context, every
    target at once, each scored as it was measured, a failure of the scanner's own not retried: the
    verdict says so) and record them: what ``v6scan serve`` runs for a check, so a remote check
    prints what a local one prints."""
    targets = store.pending_targets(sweep_id)
    async with Context.create(settings) as ctx:
        results = await asyncio.gather(*(scan_target(ctx, t) for t in targets))
    store.record(sweep_id, [(r.target.name, r.started_at, r.finished_at, r.observations,
                             score_target(r.target.name, r.observations, policy)) for r in results], vantage=VANTAGE)
    _finish(store, sweep_id)


@contextlib.contextmanager
def _cancel_when(deadline: asyncio.Timeout, stop: asyncio.Event | None, grace: float | None,
                 abort: asyncio.Event | None) -> Iterator[None]:
    """Move ``deadline`` to ``grace`` seconds after ``stop`` is set, and to now when ``abort`` is."""
    loop = asyncio.get_running_loop()

    async def watch(event: asyncio.Event, delay: float) -> None:
        await event.wait()
        when = loop.time() + delay
        current = deadline.when()
        if current is None or when < current:
            deadline.reschedule(when)

    watchers = [asyncio.create_task(watch(ev, d)) for ev, d in ((stop, grace), (abort, 0.0))
                if ev is not None and d is not None]
    try:
        yield
    finally:
        for w in watchers:
            w.cancel()


async def _run(store: Store, sweep_id: int, settings: Settings, policy: Policy,
               concurrency: int, batch_size: int, flush_seconds: float,
               progress: Callable[[TargetResult, SiteVerdict], None] | None, stop: asyncio.Event | None,
               workers: int, cluster: str | None = None, chunk_size: int = 200, grace: float | None = None,
               abort: asyncio.Event | None = None, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
    flight = _Flight()
    cancelled = 0
    try:
        try:
            async with asyncio.timeout(None) as deadline:
                with _cancel_when(deadline, stop, grace, abort):
                    if cluster:
                        from v6scan.cluster import run_cluster  # Dask is an optional extra

                        await run_cluster(store, sweep_id, settings, policy, cluster, chunk_size=chunk_size,
                                          concurrency=concurrency, progress=progress, stop=stop,
                                          settle=lambda r, v: settle(store, sweep_id, r, v, policy, max_retries))
                    else:
                        await _drain(store, sweep_id, store.iter_pending(sweep_id), settings, policy, concurrency,
                                     batch_size, flush_seconds, progress, stop, workers, flight, max_retries)
        except TimeoutError:
            if not deadline.expired():
                raise
            cancelled = flight.in_flight  # they stay pending (never given a verdict): interrupted
    except BaseException as e:
        note = f"stopped: {e}" if str(e) else "aborted"
        store.finish_sweep(sweep_id, "interrupted", note)
        log.info("sweep %d: interrupted (%s)", sweep_id, note)
        raise
    _finish(store, sweep_id, cancelled)


def _finish(store: Store, sweep_id: int, cancelled: int = 0) -> None:
    """Mark the sweep by what the database holds: ``finished`` (every target has its verdict),
    ``interrupted`` (targets never measured, ``cancelled`` of them in flight) or ``incomplete``
    (only targets to retry are left: the scanner was at fault while measuring them)."""
    counts = store.target_counts(sweep_id)
    total = int(store.sweep(sweep_id)["targets"])
    retry, pending = counts.get("retry", 0), counts.get("pending", 0)
    causes = describe_causes(store.retry_causes(sweep_id), retry) if retry else ""
    note: str | None = None
    if pending:
        status = "interrupted"
        note = f"stopped after {total - pending - retry} of {total} targets; {pending} not measured"
        if cancelled:
            note += f" ({cancelled} of them cancelled in flight)"
        note += f"; {causes}" if causes else ""
    elif retry:
        status, note = "incomplete", causes
    else:
        status = "finished"
    store.finish_sweep(sweep_id, status, note)
    log.info("sweep %d: %s%s", sweep_id, status, f" ({note})" if note else f" ({total} targets)")


def _mode(workers: int, cluster: str | None) -> str:
    """How a sweep runs, for the log."""
    return f"cluster {cluster}" if cluster else f"{workers} worker processes" if workers > 1 else "one process"
