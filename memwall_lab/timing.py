"""The one timing primitive of the course (introduced in lesson 00).

`time_call` runs a function a few times to warm caches and page tables, then
times each repeat with `time.perf_counter_ns` and returns every sample, so a
lesson can print the best, the median and the spread instead of one lucky number.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

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
        return min(self.seconds)

    @property
    def median(self) -> float:
        """Median repeat in s."""
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """Relative gap between the median and the best repeat (0.1 = 10 %)."""
        return (self.median - self.best) / self.best if self.best > 0 else 0.0


def check_count(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Return `value` if it is an integer in [minimum, maximum], else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be an integer {allowed}, got {value}")
    return value


def check_positive(name: str, value: object) -> float:
    """Return `value` as a float if it is a positive finite number, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_choice(name: str, value: object, allowed):
    """Return `value` if it is one of `allowed`, else raise ValueError naming them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


def time_call(
    function: Callable[[], object], *, repeats: int = 5, warmup: int = 1, warn: bool = True
) -> Samples:
    """Call `function` `warmup` times untimed, then `repeats` times timed; return the samples."""
    check_count("repeats", repeats, 1, 100_000)
    check_count("warmup", warmup, 0, 100_000)
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
    if warn and repeats >= 3 and samples.spread > NOISY_SPREAD:
        warnings.warn(
            f"timings varied by {samples.spread:.0%} between best and median: the machine "
            "looks busy (close other programs, plug in a laptop) - the best repeat is used",
            NoisyMachineWarning,
            stacklevel=2,
        )
    return samples
