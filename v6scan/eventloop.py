"""Which event loop runs a scan: uvloop when it is installed (it is a dependency), else asyncio's.

Measured with ``make bench`` on the standard sweep: uvloop's event loop and TLS transport take
about a fifth off the CPU time per site.  ``V6SCAN_EVENT_LOOP=asyncio`` chooses the standard
loop (``uvloop`` insists on uvloop; ``auto``, the default, takes it when it can be imported).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["new_loop", "off_loop", "run"]

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


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=_factory()) as runner:
        return runner.run(main)
