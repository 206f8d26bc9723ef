"""Sweeps on Dask distributed (``pip install v6scan[cluster]``): SQLite at the coordinator stays
the single source of truth.

The coordinator cuts the sweep's unfinished targets into chunks (table ``chunks``: pending,
leased with an expiry, done), leases a few chunks per worker thread, and submits each as one Dask
task running :func:`scan_chunk`: the same engine as a single-machine sweep, scoring included.  A
task gets plain JSON data in (targets, settings, policy) and gives plain JSON data back (results
with the worker's host name, the vantage point); no code travels but Dask's own reference to
this module's function.  Results are written chunk by chunk, each in one transaction, as the
tasks complete.

Failures: Dask reruns the task of a worker that died on another worker, and only a finished
task's result is written, so each target is recorded once; a coordinator that dies leaves chunks
leased, and ``--resume`` releases and leases them again; a scheduler that goes away stops the
sweep cleanly (its leased chunks released, the sweep ``interrupted``), to be resumed later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import astuple
from typing import Any

from v6scan import eventloop
from v6scan.context import Context
from v6scan.engine import TargetResult, failed_result, scan_target
from v6scan.errors import V6scanError
from v6scan.model import JSON
from v6scan.scoring import Policy, SiteVerdict, policy_from_json, score_target
from v6scan.settings import Settings
from v6scan.store import Store
from v6scan.targets import Target
from v6scan.workers import result_from_json, result_to_json

__all__ = ["ClusterError", "run_cluster", "scan_chunk"]

log = logging.getLogger(__name__)

LEASE_SECONDS = 3600.0
MAX_ATTEMPTS = 3  # a chunk whose task failed this often is recorded as errors


class ClusterError(V6scanError, RuntimeError):
    """The scheduler is unreachable or went away; the sweep can be resumed."""


class _ProcessLoop:
    """One event loop per worker process, on its own thread, shared by every chunk the process runs
    (Dask runs tasks on several threads): one Context (caches, pacing, politeness limits) and no
    event loops competing for the interpreter lock."""

    _lock = threading.Lock()
    _instance: _ProcessLoop | None = None

    def __init__(self) -> None:
        self.loop = eventloop.new_loop()
        self.contexts: dict[str, Context] = {}
        threading.Thread(target=self.loop.run_forever, name="v6scan-loop", daemon=True).start()

    @classmethod
    def get(cls) -> _ProcessLoop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def context(self, settings: Settings, connect: int) -> Context:
        """Runs on the loop: the process's context for these settings."""
        key = json.dumps(settings.to_json(), sort_keys=True)
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self.contexts[key] = Context.create(settings)
            ctx.connect_gate = asyncio.Semaphore(connect)
        return ctx


def _threads_here() -> int:
    try:
        from distributed import get_worker

        w = get_worker()
        return int(getattr(w, "nthreads", None) or w.state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1


def scan_chunk(targets: list[list[Any]], settings: dict[str, Any], policy: dict[str, Any],
               concurrency: int) -> dict[str, JSON]:
    """Run on a Dask worker: scan one chunk with the single-machine engine and return plain data.
    ``concurrency`` names of this chunk connect at once (the process's gate is that times its threads)."""
    s = Settings.from_json(settings)
    p = policy_from_json(policy)
    pl = _ProcessLoop.get()
    connect = concurrency * _threads_here()

    async def go() -> list[JSON]:
        ctx = pl.context(s, connect)
        admitted = asyncio.Semaphore(2 * concurrency)  # those connecting and those resolving ahead

        async def one(t: Target) -> JSON:
            async with admitted:
                return result_to_json(await scan_target(ctx, t), p)

        return list(await asyncio.gather(*(one(Target(*t)) for t in targets)))

    results = asyncio.run_coroutine_threadsafe(go(), pl.loop).result()
    return {"vantage": socket.gethostname(), "results": results}


def _connect(address: str) -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:
        raise ClusterError("--cluster needs Dask distributed: pip install 'v6scan[cluster]'") from e
    cluster = None
    if address.startswith("local:"):
        try:
            n = int(address.split(":", 1)[1])
        except ValueError:
            raise ClusterError(f"--cluster local:N needs a number of workers, not {address!r}") from None
        cluster = LocalCluster(n_workers=n, threads_per_worker=2, processes=True,  # type: ignore[no-untyped-call]
                               dashboard_address=None)
        address = cluster.scheduler_address
    try:
        client = Client(address, timeout="20s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {e}") from e
    return client, cluster


async def run_cluster(store: Store, sweep_id: int, settings: Settings, policy: Policy, address: str, *,
                      chunk_size: int = 200, concurrency: int = 64,
                      progress: Callable[[TargetResult, SiteVerdict], None] | None = None,
                      stop: asyncio.Event | None = None,
                      settle: Callable[[TargetResult, SiteVerdict], tuple[TargetResult, SiteVerdict, bool]]) -> None:
    """Scan the unfinished targets of ``sweep_id`` on the Dask cluster at ``address``
    (``tcp://HOST:8786``, or ``local:N`` for a LocalCluster of N worker processes).  ``settle`` is
    the sweep's rule for a finished target (:func:`v6scan.sweep.settle`: retry, or its verdict)."""
    from distributed import wait

    client, cluster = await asyncio.to_thread(_connect, address)
    running: dict[Any, tuple[int, list[Target]]] = {}  # future -> (chunk, its targets)
    try:
        store.release_leases(sweep_id)
        store.make_chunks(sweep_id, chunk_size)
        threads = sum((await asyncio.to_thread(client.nthreads)).values()) or 1
        log.info("sweep %d: on the Dask scheduler at %s, %d worker threads", sweep_id, address, threads)
        limit = 2 * threads  # chunks in flight: every worker thread busy, and one more waiting each
        per_task = max(8, -(-concurrency // threads))  # the cluster as a whole keeps ~concurrency in flight
        settings_json, policy_json = settings.to_json(), policy.to_json()

        def submit_more() -> None:
            while len(running) < limit and not (stop is not None and stop.is_set()):
                leased = store.lease_chunk(sweep_id, LEASE_SECONDS)
                if leased is None:
                    return
                chunk, targets = leased
                if not targets:
                    store.finish_chunk(sweep_id, chunk, None)
                    continue
                fut = client.submit(scan_chunk, [list(astuple(t)) for t in targets], settings_json, policy_json,
                                    per_task, key=f"v6scan-{sweep_id}-{chunk}-{uuid.uuid4().hex[:8]}",
                                    pure=False)
                running[fut] = (chunk, targets)

        submit_more()
        while running:
            try:
                done, _ = await asyncio.to_thread(wait, list(running), timeout=1, return_when="FIRST_COMPLETED")
            except TimeoutError:  # nothing finished in 1 s: look at the scheduler, wait again (a short
                done = set()  # wait: a cancelled sweep does not wait for this thread for long)
            except Exception as e:  # distributed cancels every future when the scheduler is lost
                raise ClusterError(f"lost the Dask scheduler ({type(e).__name__})") from e
            if client.status not in ("running", "connecting"):
                raise ClusterError("the Dask scheduler went away")
            for fut in done:
                chunk, targets = running[fut]  # still released by the finally below if this goes wrong
                if fut.status == "finished":
                    try:
                        data = fut.result()
                    except Exception as e:  # the scheduler went away between the task's end and the gather
                        raise ClusterError(f"lost the Dask scheduler fetching a result ({type(e).__name__})") from e
                    _write(store, sweep_id, policy, [result_from_json(r) for r in data["results"]],
                           str(data["vantage"]), progress, settle)
                    store.finish_chunk(sweep_id, chunk, str(data["vantage"]))
                elif fut.status == "cancelled":
                    raise ClusterError("the Dask scheduler went away (tasks cancelled)")
                elif (attempts := store.chunk_attempts(sweep_id, chunk)) < MAX_ATTEMPTS:
                    store.release_chunk(sweep_id, chunk)  # the task failed (a bug, or its workers kept dying)
                    log.warning("sweep %d: the task of chunk %d failed (try %d of %d); it runs again",
                                sweep_id, chunk, attempts, MAX_ATTEMPTS)
                else:  # ... too often: its targets are recorded as errors with the reason, never lost
                    error = RuntimeError(f"the chunk's task failed {attempts} times: {fut.exception()!r}")
                    _write(store, sweep_id, policy, [failed_result(t, settings.check_ids, error) for t in targets],
                           None, progress, settle)
                    store.finish_chunk(sweep_id, chunk, None)
                del running[fut]
            submit_more()
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"lost the Dask scheduler: {e}") from e
    except asyncio.CancelledError:  # the sweep was stopped (its grace ran out) or aborted
        if running:  # the chunks' targets stay pending; the workers may drop the tasks
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(client.cancel, list(running)), 2.0)
        raise
    finally:
        for chunk, _ in running.values():
            store.release_chunk(sweep_id, chunk)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(client.close)
        if cluster is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(cluster.close)


def _write(store: Store, sweep_id: int, policy: Policy, results: list[TargetResult], vantage: str | None,
           progress: Callable[[TargetResult, SiteVerdict], None] | None,
           settle: Callable[[TargetResult, SiteVerdict], tuple[TargetResult, SiteVerdict, bool]]) -> None:
    """One chunk's results in one transaction (scored by the worker; else here), each settled by the
    sweep's rule (retry, or its verdict) first."""
    batch = []
    settled: list[tuple[TargetResult, SiteVerdict]] = []
    retry = set()
    for r in results:
        r, verdict, again = settle(r, r.verdict or score_target(r.target.name, r.observations, policy))
        batch.append((r.target.name, r.started_at, r.finished_at, r.observations, verdict))
        settled.append((r, verdict))
        if again:
            retry.add(r.target.name)
    store.record(sweep_id, batch, retry, vantage=vantage)
    if progress is not None:
        for r, verdict in settled:
            progress(r, verdict)

