"""Run Python code inside a network namespace.

Two ways, pick what keeps a test simple:

* :func:`run_in_netns` runs a callable in a fresh thread that first joins the
  namespace with ``setns(2)``.  Sockets the thread (and threads it starts)
  creates live in that namespace, so an asyncio loop driven from it talks to
  the lab.  The mount namespace is *not* changed: ``/etc/resolv.conf`` is still
  the machine's, so pass the lab resolver explicitly.
* ``Lab.exec`` (in :mod:`tests.lab.lab`) runs a command with ``ip netns exec``,
  which also bind-mounts ``/etc/netns/<ns>/resolv.conf``.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["CLONE_NEWNET", "enter_netns", "run_async_in_netns", "run_in_netns"]

CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    """Move the *calling thread* into the network namespace ``name``."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in_netns(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` in a new thread inside namespace ``name``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            enter_netns(name)
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


def run_async_in_netns(name: str, factory: Callable[[], Awaitable[T]]) -> T:
    """Run ``asyncio.run(factory())`` on a thread inside namespace ``name``."""

    async def main() -> T:
        return await factory()

    return run_in_netns(name, asyncio.run, main())
