"""The one timing primitive of the course (introduced in lesson 00).

`time_call` runs a function a few times to warm caches and page tables, then
times each repeat with `time.perf_counter_ns` and returns every sample, so a
lesson can print the best, the median and the spread instead of one lucky number.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from memwall_lab import provenance
from memwall_lab.validate import check_choice, check_count, check_positive  # noqa: F401

NOISY_SPREAD = 0.25  # (median - best) / best above this means the machine was busy


class NoisyMachineWarning(UserWarning):
    """The repeats of a timing disagreed more than `NOISY_SPREAD`."""


@dataclass(frozen=True)
class Samples:
    """Seconds taken by each timed repeat, in the order they ran."""

    seconds: tuple[float, ...]

    @property
    def best(self) -> float:
        """Fastest repeat in s: the least disturbed by the rest of the machine."""
        return provenance.mark(min(self.seconds))

    @property
    def median(self) -> float:
        """Median repeat in s."""
        return provenance.mark(statistics.median(self.seconds))

    @property
    def spread(self) -> float:
        """Relative gap between the median and the best repeat (0.1 = 10 %)."""
        return (self.median - self.best) / self.best if self.best > 0 else 0.0


def time_call(
    function: Callable[[], object], *, repeats: int = 5, warmup: int = 1, warn: bool = True
) -> Samples:
    """Call `function` `warmup` times untimed, then `repeats` times timed; return the samples."""
    repeats = check_count("repeats", repeats, 1, 100_000)
    warmup = check_count("warmup", warmup, 0, 100_000)
    if not callable(function):
        raise ValueError(f"function must be callable, got {type(function).__name__}")
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        start_ns = time.perf_counter_ns()
        function()
        seconds.append((time.perf_counter_ns() - start_ns) * 1e-9)
    samples = Samples(tuple(seconds))
    if warn and repeats >= 3:
        notice_spread(samples.spread)
    return samples


# Cells (IPython execution counts), or PROCESS outside a notebook, that have shown the
# busy-machine notice already.
PROCESS = -1
_noticed_cells: set[int] = set()
_quiet_depth = 0


def _running_cell() -> int | None:
    """The number of the notebook cell running now, or None outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "execution_count", None)


def notice_spread(spread: float, what: str = "timings", stacklevel: int = 3) -> None:
    """Say that repeats varied more than NOISY_SPREAD: one line per notebook cell at most.

    In a notebook the line goes to stderr once per cell however many timings a cell
    runs; outside one it is a `NoisyMachineWarning`, once per process (a script or
    `memwall-lab report` says it once, not once per measurement).
    """
    if not spread > NOISY_SPREAD or _quiet_depth:
        return
    message = (f"{what} varied by {spread:.0%} between best and median: the machine looks "
               "busy (close other programs, plug in a laptop) - the best repeat is used")
    cell = _running_cell()
    key = PROCESS if cell is None else cell
    if key in _noticed_cells:
        return
    _noticed_cells.add(key)
    if cell is None:
        warnings.warn(message + "; said once", NoisyMachineWarning, stacklevel=stacklevel)
    else:
        print(f"note: {message}; said once for this cell", file=sys.stderr)


@contextmanager
def quiet_notices():
    """Inside this block no busy-machine notice is shown (a check's line must stay one line)."""
    global _quiet_depth
    _quiet_depth += 1
    try:
        yield
    finally:
        _quiet_depth -= 1


SETTLED = 0.02  # a round that improves neither side's best by more than this: settled


@dataclass(frozen=True)
class Interleaved:
    """Readings of two quantities taken in alternating rounds, in the order they ran."""

    first: tuple[float, ...]
    second: tuple[float, ...]
    higher_is_better: bool = True

    def _best(self, readings: tuple[float, ...]) -> float:
        return provenance.mark(max(readings) if self.higher_is_better else min(readings))

    @property
    def best_first(self) -> float:
        """Best reading of the first quantity (highest rate or shortest time)."""
        return self._best(self.first)

    @property
    def best_second(self) -> float:
        """Best reading of the second quantity."""
        return self._best(self.second)

    @property
    def ratio(self) -> float:
        """best_first / best_second, no unit."""
        return self.best_first / self.best_second


def interleave(
    first: Callable[[], float], second: Callable[[], float], *, rounds: int = 3,
    max_rounds: int = 10, budget_s: float = 60.0, higher_is_better: bool = True,
) -> Interleaved:
    """Read two quantities in alternating rounds (A B, B A, ...) until both bests settle.

    Noise that lasts a moment then hits both sides alike, and the best of each
    side is compared. At least `rounds` rounds run; more follow (up to
    `max_rounds`, within `budget_s` seconds) while a round still improves either
    side's best by more than SETTLED.
    """
    rounds = check_count("rounds", rounds, 1, 1000)
    max_rounds = check_count("max_rounds", max(max_rounds, rounds), 1, 1000)
    budget_s = check_positive("budget_s", budget_s)
    better = max if higher_is_better else min
    readings: tuple[list[float], list[float]] = ([], [])
    start = time.perf_counter()
    for number in range(max_rounds):
        previous = [better(side) if side else None for side in readings]
        order = (0, 1) if number % 2 == 0 else (1, 0)
        for side in order:
            readings[side].append(float((first, second)[side]()))
        improved = any(
            before is None or abs(better(side) - before) > SETTLED * abs(before)
            for before, side in zip(previous, readings))
        spent = time.perf_counter() - start
        if number + 1 >= rounds and (not improved or spent > budget_s):
            break
    return Interleaved(tuple(readings[0]), tuple(readings[1]), higher_is_better)
