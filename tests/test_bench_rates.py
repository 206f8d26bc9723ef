"""The sweep benchmark's rates: the whole sweep's, and the rate while it is full (10 % to 90 % done)."""

from __future__ import annotations

from collections import Counter

from benchmarks.sweep import SweepRun


def run(finished: list[float], wall: float) -> SweepRun:
    return SweepRun(len(finished), wall, 1.0, 100.0, 0, [], Counter(), Counter(), sorted(finished))


def test_the_steady_rate_leaves_out_the_start_and_the_tail() -> None:
    # nothing for 10 s, then 100 sites/s for 80 s... then a tail of 10 slow sites over 50 s
    finished = [10.0] * 10 + [10.0 + i / 100 for i in range(1, 8001)] + [90.0 + 5 * i for i in range(1, 11)]
    r = run(finished, wall=140.0)
    assert round(r.rate) == 57
    assert 95 <= r.steady_rate <= 101


def test_a_small_sweep_has_only_its_whole_rate() -> None:
    r = run([1.0, 2.0, 3.0], wall=3.0)
    assert r.steady_rate == r.rate == 1.0
