"""Run a sweep into a store: targets -> checks -> observations -> verdicts -> SQLite.

Finished targets are written in batches, each batch in one transaction, as
soon as ``batch_size`` targets are done or ``flush_seconds`` have passed, so
an interrupted sweep loses at most the targets still in flight; ``resume``
scans only the targets without a result.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict

from v6scan.engine import TargetResult, scan_targets
from v6scan.model import JSON, Observation, Status
from v6scan.scoring import Policy, SiteVerdict, score_target
from v6scan.settings import Settings
from v6scan.store import Store, StoreError, config_hash
from v6scan.targets import Target
from v6scan.workers import scan_in_processes

__all__ = ["resume_sweep", "retryable", "run_sweep", "settings_config"]


def settings_config(settings: Settings) -> dict[str, JSON]:
    """The settings as recorded with a sweep (and compared on resume)."""
    return {k: (str(v) if v is not None and not isinstance(v, bool | int | float | str | list | tuple)
                else (list(v) if isinstance(v, tuple) else v))
            for k, v in asdict(settings).items()}


async def _drain(store: Store, sweep_id: int, targets: Iterable[Target], settings: Settings, policy: Policy,
                 concurrency: int, batch_size: int, flush_seconds: float,
                 progress: Callable[[TargetResult, SiteVerdict], None] | None, stop: asyncio.Event | None,
                 workers: int = 1) -> None:
    batch: list[tuple[str, str, str | None, Sequence[Observation], SiteVerdict | None]] = []
    retry: set[str] = set()
    last = time.monotonic()
    try:
        results = (scan_targets(targets, settings, concurrency=concurrency, stop=stop) if workers <= 1 else
                   scan_in_processes(targets, settings, concurrency=concurrency, stop=stop, workers=workers,
                                     policy=policy))
        async for result in results:
            verdict = result.verdict or score_target(result.target.name, result.observations, policy)
            batch.append((result.target.name, result.started_at, result.finished_at,
                          result.observations, verdict))
            if retryable(result.observations):
                retry.add(result.target.name)
            if progress:
                progress(result, verdict)
            if len(batch) >= batch_size or time.monotonic() - last >= flush_seconds:
                store.record(sweep_id, batch, retry, vantage=VANTAGE)
                batch, last, retry = [], time.monotonic(), set()
    finally:
        if batch:
            store.record(sweep_id, batch, retry, vantage=VANTAGE)


VANTAGE = socket.gethostname()  # where a single-machine sweep's observations were made


def retryable(observations: Sequence[Observation]) -> bool:
    """The resolver did not answer (or we could not reach it): the site was not really assessed."""
    return any(o.check == "dns.resolve" and o.status in (Status.TIMEOUT, Status.UNREACHABLE)
               for o in observations)


async def run_sweep(store: Store, targets: Iterable[Target], settings: Settings, policy: Policy,
                    *, concurrency: int = 64, batch_size: int = 50, flush_seconds: float = 2.0,
                    progress: Callable[[TargetResult, SiteVerdict], None] | None = None,
                    extra_config: Mapping[str, JSON] | None = None, stop: asyncio.Event | None = None,
                    excluded: Iterable[Target] = (), workers: int = 1,
                    loaded: Callable[[int], None] | None = None, cluster: str | None = None,
                    chunk_size: int = 200) -> int:
    """Scan ``targets`` as a new sweep; return the sweep id.

    ``targets`` may be a lazy iterable: it is streamed into the store first, then the sweep
    streams the targets back in its shuffled order, so memory does not grow with the list.
    Setting ``stop`` drains the sweep: no new target starts, those in flight finish and are
    recorded, and the sweep is marked ``interrupted`` (``resume_sweep`` continues it).
    """
    config = {**settings_config(settings), **(extra_config or {})}
    sweep_id = store.start_sweep(targets, config, policy.name, excluded)
    if loaded is not None:
        loaded(sweep_id)
    await _run(store, sweep_id, settings, policy, concurrency, batch_size, flush_seconds, progress, stop, workers,
               cluster, chunk_size)
    return sweep_id


async def resume_sweep(store: Store, sweep_id: int, settings: Settings, policy: Policy,
                       *, concurrency: int = 64, batch_size: int = 50, flush_seconds: float = 2.0,
                       progress: Callable[[TargetResult, SiteVerdict], None] | None = None,
                       extra_config: Mapping[str, JSON] | None = None, stop: asyncio.Event | None = None,
                       workers: int = 1, cluster: str | None = None, chunk_size: int = 200) -> int:
    """Scan the targets of ``sweep_id`` that have no result; refuse a different configuration."""
    sweep = store.sweep(sweep_id)
    config = {**settings_config(settings), **(extra_config or {})}
    if config_hash(config) != sweep["config_hash"]:
        raise StoreError(f"sweep {sweep_id} was started with another configuration; resume it with the"
                         " same options (or start a new sweep)")
    pending = store.pending_count(sweep_id)
    await _run(store, sweep_id, settings, policy, concurrency, batch_size, flush_seconds, progress, stop, workers,
               cluster, chunk_size)
    return pending


async def _run(store: Store, sweep_id: int, settings: Settings, policy: Policy,
               concurrency: int, batch_size: int, flush_seconds: float,
               progress: Callable[[TargetResult, SiteVerdict], None] | None, stop: asyncio.Event | None,
               workers: int, cluster: str | None = None, chunk_size: int = 200) -> None:
    try:
        if cluster:
            from v6scan.cluster import run_cluster  # Dask is an optional extra

            await run_cluster(store, sweep_id, settings, policy, cluster, chunk_size=chunk_size,
                              concurrency=concurrency, progress=progress, stop=stop,
                              retryable=lambda r: retryable(r.observations))
        else:
            await _drain(store, sweep_id, store.iter_pending(sweep_id), settings, policy, concurrency, batch_size,
                         flush_seconds, progress, stop, workers)
    except BaseException as e:
        store.finish_sweep(sweep_id, "interrupted", f"stopped: {e}" if str(e) else "aborted")
        raise
    if stop is not None and stop.is_set() and (left := store.pending_count(sweep_id) - store.retry_count(sweep_id)):
        total = int(store.sweep(sweep_id)["targets"])
        store.finish_sweep(sweep_id, "interrupted", f"stopped after {total - left} of {total} targets")
    elif (n := store.retry_count(sweep_id)):
        store.finish_sweep(sweep_id, "incomplete", f"{n} targets to retry (the resolver did not answer)")
    else:
        store.finish_sweep(sweep_id)
