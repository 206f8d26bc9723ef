"""Retry before you blame: a probe that decides a result is tried again, with backoff, before it
counts as failed.

Real paths lose packets.  A TCP connect, a TLS handshake, an HTTP request, an authoritative DNS
query or an SMTP greeting that failed in a way a lost packet can explain (``timeout``,
``unreachable``, a reset: :data:`TRANSIENT`) is tried up to ``attempts`` times; an answer
(success, a refusal, a certificate, an HTTP status, an rcode) ends the series at once.  The number
of attempts is recorded with the probe, so the evidence shows a site that needed a second try
(scoring words that as a ``warn`` with the success rate, never as a ``fail``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from v6scan.model import Status

__all__ = ["TRANSIENT", "Retry", "cancelled_by_us", "retried"]

T = TypeVar("T")

#: the longest pause between two tries (seconds)
MAX_PAUSE = 1.0

#: outcomes a lost packet (or a busy path) can produce: worth another attempt
TRANSIENT = frozenset({Status.TIMEOUT, Status.UNREACHABLE, Status.ERROR})


@dataclass(frozen=True, slots=True)
class Retry:
    """How often a decisive probe is tried, and the pause before the second try (doubled after)."""

    attempts: int = 3
    backoff: float = 0.25

    def pause(self, done: int) -> float:
        return float(min(self.backoff * 2.0 ** (done - 1), MAX_PAUSE))


async def retried(make: Callable[[], Awaitable[T]], status: Callable[[T], Status], retry: Retry,
                  transient: Callable[[T], bool] | None = None) -> tuple[T, int]:
    """Run ``make()`` until it gives a non-transient outcome or ``retry.attempts`` are spent.

    Returns the last outcome and the number of attempts made.  ``transient`` overrides which
    outcomes are worth another try (default: ``status(outcome) in TRANSIENT``).
    """
    worth = transient or (lambda r: status(r) in TRANSIENT)
    n = 0
    while True:
        n += 1
        out = await make()
        if n >= max(1, retry.attempts) or not worth(out):
            return out, n
        await asyncio.sleep(retry.pause(n))


def cancelled_by_us() -> bool:
    """Whether the running task is being cancelled (a deadline, the runner stopping), as opposed to
    a CancelledError that reached it from a future someone else cancelled (asyncio cancels a
    stream's close-waiter when a TLS connection is aborted): only the first must propagate."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
