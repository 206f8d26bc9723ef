"""v6scan.eventloop: the collector's thresholds while a scan's loop runs, and what it gives back."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest

from v6scan import eventloop


def test_a_running_loop_collects_less_often_and_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    async def main() -> int:
        seen.append(gc.get_threshold())
        await asyncio.sleep(0)
        return 7

    assert eventloop.run(main()) == 7
    assert seen == [eventloop.GC_THRESHOLDS]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # what was frozen for the run is collectable again


def test_the_thresholds_come_back_after_a_failing_run_too() -> None:
    before = gc.get_threshold()

    async def main() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        eventloop.run(main())
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_overlapping_users_restore_once_the_last_one_ends() -> None:
    before = gc.get_threshold()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with eventloop.collector():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(10)
    with eventloop.collector():
        assert gc.get_threshold() == eventloop.GC_THRESHOLDS
    assert gc.get_threshold() == eventloop.GC_THRESHOLDS  # the other user still runs
    release.set()
    t.join(10)
    assert gc.get_threshold() == before


def test_garbage_cycles_are_still_collected_during_a_run() -> None:
    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    async def main() -> int:
        refs: list[weakref.ref[Node]] = []
        for _ in range(200_000):  # enough new container objects for several young collections
            a, b = Node(), Node()
            a.other, b.other = b, a
            if len(refs) < 10:
                refs.append(weakref.ref(a))
        return sum(r() is not None for r in refs)

    # cycles made during the run are reclaimed by the collector itself (no gc.collect() here)
    assert eventloop.run(main()) == 0


def test_small_work_runs_on_the_loop_and_large_work_on_the_threads() -> None:
    def where(_: str) -> str:
        return threading.current_thread().name

    async def main() -> tuple[str, str, str]:
        small = "x" * eventloop.INLINE_MAX
        large = small + "x"
        return (await eventloop.off_loop_if_large(len(small), where, small),
                await eventloop.off_loop_if_large(len(large), where, large),
                threading.current_thread().name)

    small_on, large_on, loop_on = eventloop.run(main())
    assert small_on == loop_on
    assert large_on != loop_on and large_on.startswith("v6scan-cpu")
