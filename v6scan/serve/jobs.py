"""The checks and sweeps the service runs: the engine and store of ``check`` and ``scan``.

Every check and every sweep is a sweep in the database (its configuration records who asked and
what they asked for, under ``api``), so results, reports, exports and diffs come from one place.
At most ``max_jobs`` run at once; the others wait their turn, so the API keeps answering while a
big sweep runs.  A sweep left running or interrupted when the server stopped is resumed when it
starts again, with the server's current configuration (a sweep whose configuration differs from
it is left as it is, with a note).  Schedules sweep their list at their interval; when a scheduled
sweep finishes, it is compared with the schedule's sweep before, and the configured webhook gets
the sites whose verdict got worse (:mod:`v6scan.schedule`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from v6scan.errors import V6scanError
from v6scan.model import JSON
from v6scan.options import OptionError, request_settings
from v6scan.schedule import EVERY_MAX, post_webhook, regressions, webhook_message
from v6scan.scoring import Policy
from v6scan.serve.config import ServerConfig
from v6scan.settings import Settings
from v6scan.store import Store, StoreError
from v6scan.sweep import DEFAULT_MAX_RETRIES, check_sweep, resume_sweep, settings_config, stored_config
from v6scan.targets import Target, TargetList, read_targets

__all__ = ["Job", "Jobs", "TargetListError", "parse_list"]

log = logging.getLogger(__name__)

class TargetListError(V6scanError, ValueError):
    """A target list that holds no target."""


def parse_list(text: str, excluded: Any, source: str = "<request>") -> tuple[list[Target], list[Target],
                                                                               list[str]]:
    """A target list's text (plain or CSV): the targets, those on the exclusion list, the bad lines."""
    tl = read_targets(text.splitlines(), source, into=TargetList())
    targets = [t for t in tl.targets if excluded.match(t.name) is None]
    skipped = [t for t in tl.targets if excluded.match(t.name) is not None]
    if not tl.targets:
        raise TargetListError("the list holds no valid target"
                              + (f" ({tl.errors[0]})" if tl.errors else ""))
    return targets, skipped, [str(e) for e in tl.errors]


@dataclass
class Job:
    sweep_id: int
    kind: str
    owner: str
    state: str = "queued"  # queued | running | done
    done: asyncio.Event = field(default_factory=asyncio.Event)
    schedule: int | None = None
    #: a scheduled sweep that finished, being compared with the one before (the next waits for it)
    comparing: bool = False


class Jobs:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._sem = asyncio.Semaphore(config.max_jobs)
        self._jobs: dict[int, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Resume the service's sweeps left unfinished, and start the schedules."""
        for sid, config in await asyncio.to_thread(self._unfinished):
            api = config.get("api") or {}
            try:
                settings, policy, _ = request_settings(self.config.settings, api.get("request") or {},
                                                       self.config.excluded, sweep=api.get("kind") != "check")
            except OptionError as e:  # the server's configuration refuses it now
                log.warning("sweep %d: not resumed: %s", sid, e)
                await asyncio.to_thread(self._give_up, sid, f"not resumed: the server's configuration refuses it"
                                                            f" ({e})")
                continue
            log.info("sweep %d: resumed (left unfinished when the server stopped)", sid)
            self._launch(Job(sid, str(api.get("kind") or "sweep"), str(api.get("owner") or "?"),
                             schedule=api.get("schedule")), settings, policy)
        self._scheduler = asyncio.create_task(self._schedules())

    async def stop(self) -> None:
        """Start nothing new; the sweeps running get 2 s, then are left for the next start."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.cancel()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()

    def _give_up(self, sweep_id: int, note: str) -> None:
        with Store(self.config.db) as store:
            store.finish_sweep(sweep_id, "interrupted", note)

    def _unfinished(self) -> list[tuple[int, dict[str, Any]]]:
        """The service's sweeps left running, interrupted, or waiting to retry targets."""
        with Store(self.config.db) as store:
            out = []
            for s in store.sweeps():
                if s["status"] in ("running", "interrupted", "incomplete"):
                    config = stored_config(store, int(s["id"]))
                    if isinstance(config.get("api"), dict):
                        out.append((int(s["id"]), config))
            return out

    # ------------------------------------------------------------- submitting
    async def submit(self, kind: str, owner: str, request: Mapping[str, JSON], settings: Settings, policy: Policy,
                     targets: list[Target], skipped: Sequence[Target] = (), schedule: int | None = None) -> int:
        """Record a new sweep of ``targets`` and queue it; its id (it runs when a slot is free)."""
        if self._stop.is_set():
            raise RuntimeError("the server is stopping")
        retries = 0 if kind == "check" else DEFAULT_MAX_RETRIES
        config = {**settings_config(settings), "max_retries": retries,
                  "exclude_names": sorted(settings.exclude_names), "policy": policy.to_json(),
                  "api": {"kind": kind, "owner": owner, "request": dict(request), "schedule": schedule}}

        def start() -> int:
            with Store(self.config.db) as store:
                return store.start_sweep(targets, config, policy.name, skipped)

        sid = await asyncio.to_thread(start)
        log.info("sweep %d: %s of %d targets submitted by %s", sid, kind, len(targets), owner)
        self._launch(Job(sid, kind, owner, schedule=schedule), settings, policy)
        return sid

    def _launch(self, job: Job, settings: Settings, policy: Policy) -> None:
        self._jobs[job.sweep_id] = job
        task = asyncio.create_task(self._run(job, settings, policy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def active(self, owner: str) -> int:
        """The checks and sweeps of ``owner`` queued or running."""
        return sum(1 for j in self._jobs.values() if j.owner == owner and not j.done.is_set())

    def state(self, sweep_id: int) -> str | None:
        j = self._jobs.get(sweep_id)
        return None if j is None else j.state

    async def wait(self, sweep_id: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the sweep to end; whether it has (or is not running here)."""
        j = self._jobs.get(sweep_id)
        if j is None or j.done.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(j.done.wait(), timeout)
        return j.done.is_set()

    # ------------------------------------------------------------- running
    async def _run(self, job: Job, settings: Settings, policy: Policy) -> None:
        try:
            async with self._sem:
                if self._stop.is_set():
                    return
                job.state = "running"
                status = await self._sweep(job, settings, policy)
                while status == "incomplete" and not self._stop.is_set() and job.kind != "check":
                    await asyncio.sleep(self.config.retry_after)  # the scanner was at fault: later, again
                    if await asyncio.to_thread(self._pending, job.sweep_id) == 0:
                        break
                    status = await self._sweep(job, settings, policy)
        finally:
            job.state = "done"
            job.comparing = job.schedule is not None and not self._stop.is_set()
            job.done.set()
        try:
            if job.comparing:
                await self._compare(job)
        finally:
            job.comparing = False
            self._jobs.pop(job.sweep_id, None)  # the database says the rest

    def _pending(self, sweep_id: int) -> int:
        with Store(self.config.db) as store:
            counts = store.target_counts(sweep_id)
            return int(counts.get("pending", 0) + counts.get("retry", 0))

    async def _sweep(self, job: Job, settings: Settings, policy: Policy) -> str:
        store = Store(self.config.db)
        try:
            if job.kind == "check":  # measured and scored as a local check is
                await check_sweep(store, job.sweep_id, settings, policy)
            else:
                await resume_sweep(store, job.sweep_id, settings, policy, concurrency=self.config.concurrency,
                                   stop=self._stop, grace=2.0)
            return str(store.sweep(job.sweep_id)["status"])
        except StoreError as e:  # its configuration is not the server's any more
            log.warning("sweep %d: %s", job.sweep_id, e)
            store.finish_sweep(job.sweep_id, "interrupted", str(e))
            return "interrupted"
        except Exception:
            log.exception("sweep %d failed", job.sweep_id)
            store.finish_sweep(job.sweep_id, "interrupted", "internal error (the server's log says more)")
            return "interrupted"
        finally:
            store.close()

    # ------------------------------------------------------------- schedules
    async def _schedules(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("schedules: a round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.tick)
            self._wake.clear()

    def wake(self) -> None:
        """Look at the schedules now (one was added)."""
        self._wake.set()

    async def run_due(self, now: dt.datetime | None = None) -> list[int]:
        """Start the sweep of every active schedule that is due (and not still running); the ids."""
        now = now or dt.datetime.now(dt.UTC)
        due = await asyncio.to_thread(self._due, now)
        started = []
        for s, text in due:  # each on its own: one that fails does not hold up the others
            later = _iso(now + dt.timedelta(seconds=min(float(s["every"]), EVERY_MAX)))
            try:
                started += await self._run_schedule(s, text, later)
            except Exception:
                log.exception("schedule %d: not run", s["id"])
            await asyncio.to_thread(self._ran, int(s["id"]), later)
        return started

    async def _run_schedule(self, s: dict[str, Any], text: str, later: str) -> list[int]:
        if any(j.schedule == s["id"] and (not j.done.is_set() or j.comparing) for j in self._jobs.values()):
            log.info("schedule %d: its last sweep still runs; next try at %s", s["id"], later)
            return []
        try:
            settings, policy, _ = request_settings(self.config.settings, s["request"], self.config.excluded,
                                                   sweep=True)
            targets, skipped, _bad = parse_list(text, self.config.excluded, f"schedule {s['id']}")
        except (OptionError, ValueError) as e:  # the server's configuration changed under it
            log.warning("schedule %d: not run: %s", s["id"], e)
            return []
        return [await self.submit("scheduled", s["owner"], s["request"], settings, policy, targets, skipped,
                                  schedule=int(s["id"]))]

    def _due(self, now: dt.datetime) -> list[tuple[dict[str, Any], str]]:
        with Store(self.config.db) as store:
            return [(s, store.schedule_targets(int(s["id"]))) for s in store.schedules(active_only=True)
                    if s["next_run"] <= _iso(now)]

    def _ran(self, schedule_id: int, next_run: str) -> None:
        with Store(self.config.db) as store:
            store.schedule_next(schedule_id, next_run)

    async def _compare(self, job: Job) -> None:
        """The schedule's sweep before this one against this one: the webhook hears of regressions."""
        assert job.schedule is not None
        message = await asyncio.to_thread(self._regression_message, job.schedule, job.sweep_id)
        if message is not None and self.config.webhook:
            await post_webhook(self.config.webhook, message)

    def _regression_message(self, schedule_id: int, sweep_id: int) -> dict[str, Any] | None:
        with Store(self.config.db) as store:
            if store.sweep(sweep_id)["status"] != "finished":  # not a measurement to compare with
                return None
            before = store.schedule(schedule_id)["last_sweep"]
            store.schedule_baseline(schedule_id, sweep_id)
            if before is None:
                return None
            try:
                d = store.diff(int(before), sweep_id)
            except StoreError as e:
                log.warning("schedule %d: sweeps %s and %d not compared: %s", schedule_id, before, sweep_id, e)
                return None
        worse = regressions(d)
        log.info("schedule %d: sweep %s -> %d: %d sites got worse", schedule_id, before, sweep_id, len(worse))
        if not worse:
            return None
        base = (self.config.public_url or "").rstrip("/")
        links = {"diff": f"{base}/diff?a={d.a}&b={d.b}", "api": f"{base}/api/v1/diff?a={d.a}&b={d.b}"} if base else {}
        return webhook_message(d, worse, {"schedule": schedule_id, "server": base or None}, links)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
