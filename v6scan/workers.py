"""Worker processes: one sweep spread over several event loops (one per core).

The coordinator (the ``scan`` command's process) streams targets to ``N``
child processes (``python -m v6scan.workers``) as JSON lines on their stdin,
keeping at most ``concurrency / N`` targets in flight in each, and reads
results back as JSON lines (the observations' own JSON form).  Scoring and
the single SQLite writer stay in the coordinator.

A worker that dies is started again and is given its unfinished targets
again; a target that was in flight in two dying workers is recorded as an
``error`` (it is not tried a third time), so one poisonous site cannot stop a
sweep and no target is lost.

Stopping: once ``stop`` is set no target is sent (nor sent again) and a worker
that dies is not replaced; the iterator ends when the targets in flight are
back.  Closing it early (the sweep cancelled after its grace period) kills the
workers at once: their targets in flight were never yielded, so they stay
pending for ``--resume``.  Workers ignore SIGINT: a Ctrl-C in the terminal
reaches the whole process group, and the coordinator decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import astuple
from typing import Any

from v6scan import eventloop
from v6scan.context import Context
from v6scan.engine import TargetResult, failed_result, scan_target
from v6scan.errors import configure_logging, logging_config
from v6scan.model import JSON, EncodedEvidence, Observation, Status, evidence_json
from v6scan.scoring import Policy, policy_from_json, score_target, verdict_from_data, verdict_to_data
from v6scan.settings import Settings
from v6scan.targets import Target

__all__ = ["result_from_json", "result_to_json", "scan_in_processes"]

log = logging.getLogger(__name__)

LINE_LIMIT = 64 << 20  # one result line (its evidence) may be large; a hostile site's is capped far below
MAX_CRASHES = 2  # a target in flight in this many dying workers is recorded as an error


def result_to_json(r: TargetResult, policy: Policy | None = None) -> dict[str, JSON]:
    """A result as one JSON line: each observation's evidence as JSON text (the coordinator stores
    it as it is), and with ``policy`` the verdict too (scoring is spread over the workers)."""
    return {"target": list(astuple(r.target)), "names": list(r.names), "started_at": r.started_at,
            "finished_at": r.finished_at,
            "observations": [[o.check, o.target, str(o.status), evidence_json(o.evidence), o.error,
                              round(o.elapsed_ms, 3), o.started_at] for o in r.observations],
            "verdict": verdict_to_data(score_target(r.target.name, r.observations, policy)) if policy else None}


def result_from_json(data: dict[str, Any]) -> TargetResult:
    obs = [Observation(c, t, Status(st), EncodedEvidence(ev), err, float(ms), at)
           for c, t, st, ev, err, ms, at in data["observations"]]
    verdict = verdict_from_data(data["verdict"]) if data.get("verdict") else None
    return TargetResult(Target(*data["target"]), list(data["names"]), obs, str(data["started_at"]),
                        data.get("finished_at"), verdict)


class _Worker:
    def __init__(self, index: int, proc: asyncio.subprocess.Process) -> None:
        self.index = index
        self.proc = proc
        self.inflight: dict[str, Target] = {}
        self.reader: asyncio.Task[None] | None = None

    def send(self, t: Target) -> None:
        assert self.proc.stdin is not None
        self.inflight[t.name] = t
        self.proc.stdin.write(json.dumps(list(astuple(t))).encode() + b"\n")


async def _start(index: int, settings: Settings, out: asyncio.Queue[tuple[int, _Worker, dict[str, Any] | None]],
                 connect: int, policy: Policy | None) -> _Worker:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "v6scan.workers", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=LINE_LIMIT)
    w = _Worker(index, proc)
    log.debug("worker %d: started (pid %d)", index, proc.pid)
    assert proc.stdin is not None
    level, log_file = logging_config()  # the worker logs as this process does (stderr is shared)
    proc.stdin.write(json.dumps({"settings": settings.to_json(), "connect": connect,
                                 "policy": policy.to_json() if policy else None,
                                 "log": [level, log_file]}).encode() + b"\n")

    async def read() -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                await out.put((index, w, json.loads(line)))
        except (ValueError, asyncio.LimitOverrunError, ConnectionError):
            proc.kill()  # a garbled stream: treat the worker as dead
        await out.put((index, w, None))  # end of this worker's output

    w.reader = asyncio.create_task(read())
    return w


async def scan_in_processes(targets: Iterable[Target], settings: Settings | None = None, *, concurrency: int = 64,
                            stop: asyncio.Event | None = None, workers: int = 2,
                            policy: Policy | None = None) -> AsyncIterator[TargetResult]:
    """Like :func:`v6scan.engine.scan_targets`, spread over ``workers`` processes; with ``policy``
    each result comes with its verdict (``TargetResult.verdict``), scored in the worker."""
    s = settings or Settings()
    out: asyncio.Queue[tuple[int, _Worker, dict[str, Any] | None]] = asyncio.Queue()
    connect = max(1, -(-concurrency // workers))  # names in their connection phase, per worker
    cap = 2 * connect  # targets in flight per worker: those connecting and those resolving ahead
    pool = [await _start(i, s, out, connect, policy) for i in range(workers)]
    it = iter(targets)
    retry: list[Target] = []
    crashes: dict[str, int] = {}
    exhausted = False
    completed = False

    def stopping() -> bool:
        return stop is not None and stop.is_set()

    def feed() -> None:
        nonlocal exhausted
        if stopping():  # start nothing new, not even a dead worker's targets: they stay pending
            exhausted = True
            return
        for w in sorted(pool, key=lambda w: len(w.inflight)):
            while len(w.inflight) < cap and w.proc.returncode is None:
                if retry:
                    w.send(retry.pop())
                    continue
                if exhausted:
                    return
                t = next(it, None)
                if t is None:
                    exhausted = True
                    return
                w.send(t)

    try:
        feed()
        while True:
            if exhausted and (not retry or stopping()) and not any(w.inflight for w in pool):
                completed = True
                return
            index, w, data = await out.get()
            if pool[index] is not w:
                continue  # the last words of a worker already replaced
            if data is None:  # the worker died: start another and give it the unfinished targets again
                lost = list(w.inflight.values())
                w.inflight.clear()
                with contextlib.suppress(ProcessLookupError):
                    w.proc.kill()
                await w.proc.wait()
                log.warning("worker %d died (exit code %s) with %d targets in flight", index,
                            w.proc.returncode, len(lost))
                for t in lost:
                    crashes[t.name] = crashes.get(t.name, 0) + 1
                    if crashes[t.name] >= MAX_CRASHES:
                        yield failed_result(t, s.check_ids, RuntimeError(
                            f"the worker process scanning this target died {MAX_CRASHES} times"))
                    else:
                        retry.append(t)
                if not stopping():  # stopping, its targets stay pending (never yielded) for --resume
                    pool[index] = await _start(index, s, out, connect, policy)
            else:
                result = result_from_json(data)
                w.inflight.pop(result.target.name, None)
                yield result
            feed()
            for x in pool:
                if x.proc.stdin is not None and x.proc.returncode is None:
                    with contextlib.suppress(ConnectionError):
                        await x.proc.stdin.drain()
    finally:
        for w in pool:
            if not completed:  # cancelled or closed early: what the workers have in flight stays pending
                with contextlib.suppress(ProcessLookupError):
                    w.proc.kill()
            if w.proc.stdin is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    w.proc.stdin.close()
        for w in pool:
            try:
                await asyncio.wait_for(w.proc.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.kill()
                await w.proc.wait()
            if w.reader is not None:
                w.reader.cancel()


# --------------------------------------------------------------------------- the worker side


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    header = json.loads(await reader.readline())
    if header.get("log"):
        level, log_file = header["log"]
        try:
            configure_logging(int(level), log_file)
        except OSError:  # the coordinator's log file cannot be opened here: stderr, shared with it
            configure_logging(int(level))
    settings = Settings.from_json(header["settings"])
    policy = policy_from_json(header["policy"]) if header.get("policy") else None
    tasks: set[asyncio.Task[None]] = set()
    async with Context.create(settings) as ctx:
        ctx.connect_gate = asyncio.Semaphore(int(header["connect"]))

        async def one(t: Target) -> None:
            result = await scan_target(ctx, t)
            writer.write(json.dumps(result_to_json(result, policy), default=str).encode() + b"\n")
            await writer.drain()

        while line := await reader.readline():
            task = asyncio.create_task(one(Target(*json.loads(line))))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    writer.close()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator stops us (stdin closed, or a kill)
    eventloop.run(_serve())
