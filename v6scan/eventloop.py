"""Which event loop runs a scan: uvloop when it is installed (it is a dependency), else asyncio's.

Measured with ``make bench`` on the standard sweep: uvloop's event loop and TLS transport take
about a fifth off the CPU time per site.  ``V6SCAN_EVENT_LOOP=asyncio`` chooses the standard
loop (``uvloop`` insists on uvloop; ``auto``, the default, takes it when it can be imported).

While a loop runs, the cyclic garbage collector runs less often (:data:`GC_THRESHOLDS`): a sweep
keeps hundreds of thousands of objects alive (targets in flight, caches) and allocates millions of
short-lived ones, and with Python's default thresholds each of its frequent full collections walked
every live object.  Measured on a full-check sweep of 2,000 scale-lab sites with ``--workers 2``:
the collector took 36 % of each worker's CPU (25 full collections); with these thresholds, 4 %.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["GC_THRESHOLDS", "INLINE_MAX", "collector", "new_loop", "off_loop", "off_loop_if_large", "run"]

T = TypeVar("T")

#: CPU-bound work on what a site sent (page comparison, link extraction): on these threads, so the
#: event loop keeps serving every other target; created on first use (after any fork)
_cpu: concurrent.futures.ThreadPoolExecutor | None = None
_cpu_lock = threading.Lock()


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a small thread pool.  A caller cancelled by its deadline stops waiting at
    once; the work itself is bounded by its input caps and ends on its own."""
    global _cpu
    with _cpu_lock:
        if _cpu is None:
            _cpu = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="v6scan-cpu")
    return await asyncio.get_running_loop().run_in_executor(_cpu, functools.partial(fn, *args))


#: characters of input below which :func:`off_loop_if_large` does the work on the loop: for a linear
#: parser (link extraction) this much takes under a millisecond, less than handing it to a thread
#: costs (not for the page comparison: its bounded diff can take tens of ms on a few KB)
INLINE_MAX = 4096


async def off_loop_if_large(size: int, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` right here when its input is ``size`` characters or fewer (at most
    :data:`INLINE_MAX`), else on the thread pool (:func:`off_loop`).  Only for work linear in its
    input.  Measured on a full-check sweep, where every page is small: the thread hand-offs took
    about 5 % of a worker's CPU."""
    if size <= INLINE_MAX:
        return fn(*args)
    return await off_loop(fn, *args)


def _factory() -> Callable[[], asyncio.AbstractEventLoop]:
    choice = os.environ.get("V6SCAN_EVENT_LOOP", "auto").strip().lower()
    if choice not in ("auto", "asyncio", "uvloop"):
        raise ValueError(f"V6SCAN_EVENT_LOOP must be auto, asyncio or uvloop, not {choice!r}")
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the chosen kind (for a loop run on its own thread)."""
    return _factory()()


#: the collector's thresholds while a loop runs (Python's defaults are 700, 10, 10): a young
#: collection per 50,000 new container objects, a full one after 100 of the middle generation's
GC_THRESHOLDS = (50_000, 20, 100)
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None
_gc_lock = threading.Lock()


@contextlib.contextmanager
def collector() -> Iterator[None]:
    """:data:`GC_THRESHOLDS` while this lasts (the outermost user restores the previous ones); what
    existed before is frozen out of every collection until then (``gc.freeze``)."""
    global _gc_users, _gc_saved
    with _gc_lock:
        _gc_users += 1
        if _gc_users == 1:
            _gc_saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                gc.unfreeze()
                _gc_saved = None


def run(main: Coroutine[Any, Any, T]) -> T:
    with collector(), asyncio.Runner(loop_factory=_factory()) as runner:
        return runner.run(main)
