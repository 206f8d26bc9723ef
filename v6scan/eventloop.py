"""Which event loop runs a scan: uvloop when it is installed (it is a dependency), else asyncio's.

Measured with ``make bench`` on the standard sweep: uvloop's event loop and TLS transport take
about a fifth off the CPU time per site.  ``V6SCAN_EVENT_LOOP=asyncio`` chooses the standard
loop (``uvloop`` insists on uvloop; ``auto``, the default, takes it when it can be imported).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["new_loop", "run"]

T = TypeVar("T")


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
