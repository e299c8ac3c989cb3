"""The one timing primitive of the course (introduced in lesson 00).

`time_call` runs a function a few times to warm caches and page tables, then
times each repeat with `time.perf_counter_ns` and returns every sample, so a
lesson can print the best, the median and the spread instead of one lucky number.
"""

from __future__ import annotations

import difflib
import math
import numbers
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
    """Return `value` as an int if it is an integer (numpy's too) in [minimum, maximum]."""
    allowed = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    count = int(value)
    if count < minimum or (maximum is not None and count > maximum):
        raise ValueError(f"{name} must be an integer {allowed}, got {count}")
    return count


def check_positive(name: str, value: object) -> float:
    """Return `value` as a float if it is a positive finite number (numpy's too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        number = math.inf
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def check_choice(name: str, value: object, allowed):
    """Return `value` if it is one of `allowed`, else raise ValueError naming them."""
    if value not in allowed:
        by_text = {str(item): item for item in allowed}  # match as text, show as given
        close = difflib.get_close_matches(str(value), list(by_text), n=2)
        hint = f" (did you mean {' or '.join(repr(by_text[c]) for c in close)}?)" if close else ""
        raise ValueError(
            f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}{hint}")
    return value


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
    if warn and repeats >= 3 and samples.spread > NOISY_SPREAD:
        warnings.warn(
            f"timings varied by {samples.spread:.0%} between best and median: the machine "
            "looks busy (close other programs, plug in a laptop) - the best repeat is used",
            NoisyMachineWarning,
            stacklevel=2,
        )
    return samples
