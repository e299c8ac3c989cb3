"""Answer checks for the exercise notebooks (lessons 01-07).

Each check prints exactly one line for one exercise, returns None (so a notebook
shows nothing else) and never raises:

    Exercise 2 [KV cache]: passed
    Exercise 2 [KV cache]: not yet - <a hint>
    Exercise 2 [KV cache]: not done yet

The student's answer is passed as a function (`lambda: my_answer`) so that an
exercise whose cell was never completed - the name is undefined, or the cell
still raises NotImplementedError - reads as "not done yet" instead of crashing
the notebook. Computed answers are checked exactly (integers) or to a tight
relative tolerance; measured answers as a ratio to a reference measured in the
same session (and measured again after a miss), with bounds wide enough for a
noisy laptop.

The "passed" line is the stored output nbval compares in `solutions/`, so it
never contains a measured number.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import numpy as np

PASSED = "passed"
NOT_DONE = "not done yet"
NOT_YET = "not yet"


class _NotDone(Exception):
    """The student's answer does not exist yet."""


class _ReferenceFailed(Exception):
    """The library's own reference measurement failed on this machine."""


def line(label: str, status: str, hint: str = "") -> str:
    """The one line a check prints: '<label>: <status>' plus ' - <hint>' when given."""
    return f"{label}: {status}" + (f" - {hint}" if hint else "")


def _answer(answer: Callable[[], object]):
    """Call the student's answer function; undefined or unfinished answers are 'not done'."""
    if not callable(answer):
        raise TypeError("pass the answer as a function, e.g. lambda: my_answer")
    try:
        value = answer()
    except (NameError, NotImplementedError):
        raise _NotDone from None
    if value is None or value is Ellipsis:
        raise _NotDone
    return value


def _run(label: str, judge: Callable[[object], str | None], answer) -> None:
    """Print the verdict of `judge` on the student's answer (one line)."""
    try:
        value = _answer(answer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a noisy-machine warning would change the line
            problem = judge(value)
    except _NotDone:
        print(line(label, NOT_DONE))
        return
    except _ReferenceFailed as error:  # the machine's problem, not the student's
        print(line(label, NOT_YET, f"the library could not measure its reference on this "
                                   f"machine ({error}), so your answer was not judged: close "
                                   "other programs and run the cell again"))
        return
    except Exception as error:  # a check must never crash the notebook
        print(line(label, NOT_YET, f"your answer could not be checked ({error!r})"))
        return
    print(line(label, PASSED if problem is None else NOT_YET, problem or ""))


def _with_hint(problem: str, hint: str) -> str:
    return f"{problem}; {hint}" if hint else problem


def _as_number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise TypeError(f"expected a finite number, got {value!r}")
    return float(value)


def exact(label: str, answer, expected: int, hint: str = "") -> None:
    """Check an integer answer (bytes, parameters, FLOPs) for exact equality."""

    def judge(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return f"give a whole number (an int), not {type(value).__name__} {value!r}"
        if int(value) == expected:
            return None
        direction = "too large" if value > expected else "too small"
        return _with_hint(f"{value:,} is {direction}", hint)

    return _run(label, judge, answer)


def close(label: str, answer, expected: float, rel_tol: float = 1e-3, hint: str = "") -> None:
    """Check a computed real number to a relative tolerance (default 0.1 %)."""

    def judge(value):
        number = _as_number(value)
        if math.isclose(number, expected, rel_tol=rel_tol):
            return None
        return _with_hint(f"{number:.4g} is off by {abs(number / expected - 1):.1%}", hint)

    return _run(label, judge, answer)


def _reference_reading(reference: Callable[[], float]) -> float:
    """One positive finite reading of the library's reference; _ReferenceFailed if none."""
    try:
        reading = float(reference())
    except Exception as error:
        raise _ReferenceFailed(repr(error)) from error
    if not (math.isfinite(reading) and reading > 0):
        raise _ReferenceFailed(f"it read {reading!r}")
    return reading


MEASURED_TRIES = 3  # reference readings before a measured answer is judged wrong
BUSY_SPREAD = 1.5  # reference readings further apart than this: the machine is busy


def measured(
    label: str, answer, reference: Callable[[], float], low: float = 0.5, high: float = 2.0,
    hint: str = "",
) -> None:
    """Check a measured number: answer / reference must lie in [low, high].

    `reference` is measured now, in the same session, by the library; the bounds
    are ratios, so they hold on any machine, fast or slow. A miss is measured
    again (up to MEASURED_TRIES readings in all), because a moment of load from
    another program can move one reading; a wrong answer misses every time.
    """
    if not 0 < low <= 1 <= high:
        raise ValueError(f"need 0 < low <= 1 <= high, got low={low}, high={high}")

    def judge(value):
        number = _as_number(value)
        if number <= 0:  # no reading can make this a pass: judge it without measuring
            return _with_hint(f"a measured value is above 0, got {number:g}", hint)
        readings = []
        for _ in range(MEASURED_TRIES):
            readings.append(_reference_reading(reference))
            if low <= number / readings[-1] <= high:
                return None
        ratios = ", ".join(f"{number / reading:.2f}x" for reading in readings)
        problem = (f"your value is {ratios} what the library measures now "
                   f"(allowed {low:g}x to {high:g}x)")
        if max(readings) > BUSY_SPREAD * min(readings):
            problem += ("; the library's own readings varied "
                        f"{max(readings) / min(readings):.1f}x, so this machine is busy: "
                        "close other programs and run both cells again")
        return _with_hint(problem, hint)

    return _run(label, judge, answer)


def true(label: str, answer, hint: str = "") -> None:
    """Check a yes/no answer (a bool, or numpy's from a comparison) that must be True."""

    def judge(value):
        if not isinstance(value, (bool, np.bool_)):
            return f"answer True or False, not {value!r}"
        return None if value else (hint or "not true as stated")

    return _run(label, judge, answer)


def choice(label: str, answer, expected: str, allowed, hint: str = "") -> None:
    """Check a one-word answer (case-insensitive) from a list of allowed words."""
    allowed = [word.lower() for word in allowed]

    def judge(value):
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            return f"answer one of {allowed}, not {value!r}"
        return None if value.strip().lower() == expected.lower() else (hint or "not this one")

    return _run(label, judge, answer)
