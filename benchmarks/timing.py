"""Interleaved timing shared by the benchmark scripts.

Cases run in turn, round after round, so that a slow spell of this shared machine falls on all of them
alike; the scripts report best-of and median times and ratios taken within one run.
"""
from __future__ import annotations

import time
from typing import Callable


def interleaved(cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds (by ``clock``) of ``repeats`` interleaved runs of each case, after ``warmup`` untimed rounds
    (compilation, first allocations)."""
    for _ in range(warmup):
        for run in cases.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, run in cases.items():
            start = clock()
            run()
            times[name].append(clock() - start)
    return times
