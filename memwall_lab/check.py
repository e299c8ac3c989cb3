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
never contains a measured number. Where `MEMWALL_CHECK_RECORD` names a file,
every verdict is also appended to it as one JSON line: `memwall-lab check`
grades from that record, not from text the student's kernel prints.

A measured answer must come from a measurement taken in this kernel
(`memwall_lab.provenance`): a number typed in, or a copy of the prediction,
is not yet a measurement. Expected values that would give the answer away
are sealed (`sealed("...")`): the exercise notebook never shows them.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import numbers
import os
from collections.abc import Callable

import numpy as np

from memwall_lab import provenance, timing

PASSED = "passed"
NOT_DONE = "not done yet"
NOT_YET = "not yet"
RECORD_ENV = "MEMWALL_CHECK_RECORD"  # a file that gets one JSON line per verdict


class _NotDone(Exception):
    """The student's answer does not exist yet."""


class _ReferenceFailed(Exception):
    """The library's own reference measurement failed on this machine."""


def line(label: str, status: str, hint: str = "") -> str:
    """The one line a check prints: '<label>: <status>' plus ' - <hint>' when given."""
    return f"{label}: {status}" + (f" - {hint}" if hint else "")


def _say(label: str, status: str, hint: str = "") -> None:
    """Print the verdict's line and append it to the record file, if one is named."""
    print(line(label, status, hint))
    path = os.environ.get(RECORD_ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as record:
                record.write(json.dumps({"label": label, "status": status, "hint": hint}) + "\n")
        except OSError:  # the grader will read this exercise as not run
            pass


_SEAL = b"memwall"


def _xor(data: bytes) -> bytes:
    """`data` XOR the repeated key: the same call seals and opens."""
    return bytes(b ^ _SEAL[i % len(_SEAL)] for i, b in enumerate(data))


class Sealed:
    """An expected value kept out of view in the notebook's source (encoded, not secret)."""

    def __init__(self, token: str):
        if not isinstance(token, str):
            raise TypeError(f"a sealed value is a text token, got {type(token).__name__}")
        self.token = token

    def open(self):
        """The value inside."""
        return json.loads(_xor(base64.urlsafe_b64decode(self.token.encode())))

    def __repr__(self) -> str:
        return f"sealed({self.token!r})"


def seal(value) -> str:
    """The token `sealed` opens to `value` (a str, int, float or bool); for exercise authors."""
    return base64.urlsafe_b64encode(_xor(json.dumps(value).encode())).decode()


def sealed(token: str) -> Sealed:
    """An expected value given as a token from `seal`, so the notebook does not show it."""
    return Sealed(token)


def _expected(value):
    return value.open() if isinstance(value, Sealed) else value


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
        with timing.quiet_notices():  # a busy-machine note would add a line
            problem = judge(value)
    except _NotDone:
        _say(label, NOT_DONE)
        return
    except _ReferenceFailed as error:  # the machine's problem, not the student's
        _say(label, NOT_YET, f"the library could not measure its reference on this "
                             f"machine ({error}), so your answer was not judged: close "
                             "other programs and run the cell again")
        return
    except Exception as error:  # a check must never crash the notebook
        _say(label, NOT_YET, f"your answer could not be checked ({error!r})")
        return
    _say(label, PASSED if problem is None else NOT_YET, problem or "")


def _with_hint(problem: str, hint: str) -> str:
    return f"{problem}; {hint}" if hint else problem


def _as_number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise TypeError(f"expected a finite number, got {value!r}")
    return float(value)


def exact(label: str, answer, expected: int | Sealed, hint: str = "") -> None:
    """Check an integer answer (bytes, parameters, FLOPs) for exact equality."""

    def judge(value):
        expected_value = _expected(expected)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return f"give a whole number (an int), not {type(value).__name__} {value!r}"
        if int(value) == expected_value:
            return None
        direction = "too large" if value > expected_value else "too small"
        return _with_hint(f"{value:,} is {direction}", hint)

    return _run(label, judge, answer)


def close(label: str, answer, expected: float | Sealed, rel_tol: float = 1e-3,
          hint: str = "") -> None:
    """Check a computed real number to a relative tolerance (default 0.1 %)."""

    def judge(value):
        number, expected_value = _as_number(value), _expected(expected)
        if math.isclose(number, expected_value, rel_tol=rel_tol):
            return None
        return _with_hint(f"{number:.4g} is off by {abs(number / expected_value - 1):.1%}",
                          hint)

    return _run(label, judge, answer)


def _quietly(function: Callable[[], object]) -> object:
    """Call `function` with its printed output dropped: a check prints its one line only."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function()


def _reference_reading(reference: Callable[[], float]) -> float:
    """One positive finite reading of the library's reference; _ReferenceFailed if none."""
    try:
        reading = float(_quietly(reference))
    except Exception as error:
        raise _ReferenceFailed(repr(error)) from error
    if not (math.isfinite(reading) and reading > 0):
        raise _ReferenceFailed(f"it read {reading!r}")
    return reading


MEASURED_TRIES = 3  # rounds of readings before a measured answer is judged wrong
BUSY_SPREAD = 1.5  # reference readings further apart than this: the machine is busy
NOT_MEASURED = ("this number did not come from a measurement in this notebook's kernel: a "
                "number typed in, or one computed from sizes alone, measures nothing - run "
                "your measurement and assign its result")
COPIED_PREDICTION = ("this is the prediction itself, not a measurement: measure the quantity "
                     "and compare it with the prediction")


def _optional_reading(function: Callable[[], object] | None) -> float | None:
    """The number `function` returns, or None where it is missing or fails."""
    if function is None:
        return None
    try:
        value = _quietly(function)  # a student's function may print its readings
        return _as_number(value) if value is not None else None
    except Exception:  # an unfinished or broken student function: nothing to compare
        return None


def _within(value: float, reading: float, low: float, high: float) -> bool:
    return low <= value / reading <= high


def measured(
    label: str, answer, reference: Callable[[], float], low: float = 0.5, high: float = 2.0,
    hint: str = "", *, again: Callable[[], float] | None = None,
    prediction: Callable[[], float] | None = None,
) -> None:
    """Check a measured number: answer / reference must lie in [low, high].

    The answer must come from a measurement in this kernel (`provenance`): a typed
    number, or the prediction copied (`prediction`, a function like `answer`), fails
    with a hint saying so. `reference` is measured now, in the same session, by the
    library; the bounds are ratios, so they hold on any machine, fast or slow. After
    a miss both sides are measured again in alternating rounds (MEASURED_TRIES in
    all): the reference, and the student's own measurement through `again` (their
    function, called with no arguments). A pair of readings taken side by side that
    agrees passes: a moment of load moves both; a wrong method misses every time.
    """
    if not 0 < low <= 1 <= high:
        raise ValueError(f"need 0 < low <= 1 <= high, got low={low}, high={high}")

    def judge(value):
        number = _as_number(value)
        if number <= 0:  # no reading can make this a pass: judge it without measuring
            return _with_hint(f"a measured value is above 0, got {number:g}", hint)
        if not provenance.is_measured(value):
            return _with_hint(NOT_MEASURED, hint)
        predicted = _optional_reading(prediction)
        if predicted is not None and math.isclose(number, predicted, rel_tol=1e-9):
            return _with_hint(COPIED_PREDICTION, hint)
        first = _reference_reading(reference)
        if _within(number, first, low, high):
            return None
        references, mine = [first], [number]
        for round_number in range(MEASURED_TRIES - 1):  # alternate which side reads first
            sides = ("mine", "reference") if round_number % 2 == 0 else ("reference", "mine")
            for side in sides:
                if side == "reference":
                    references.append(_reference_reading(reference))
                else:
                    reading = _optional_reading(again)  # the student's measurement again
                    mine.append(number if reading is None else reading)
            if (_within(mine[-1], references[-1], low, high)
                    or _within(number, references[-1], low, high)):
                return None
        ratios = ", ".join(f"{value / reading:.2f}x" for value, reading in zip(mine, references))
        again_note = (" (your measurement was run again beside each reading)"
                      if again is not None else "")
        problem = (f"your value is {ratios} what the library measures now{again_note} "
                   f"(allowed {low:g}x to {high:g}x)")
        if max(references) > BUSY_SPREAD * min(references):
            problem += ("; the library's own readings varied "
                        f"{max(references) / min(references):.1f}x, so this machine is busy: "
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


def choice(label: str, answer, expected: str | Sealed, allowed, hint: str = "") -> None:
    """Check a one-word answer (case-insensitive) from a list of allowed words."""
    allowed = [word.lower() for word in allowed]

    def judge(value):
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            return f"answer one of {allowed}, not {value!r}"
        matches = value.strip().lower() == str(_expected(expected)).lower()
        return None if matches else (hint or "not this one")

    return _run(label, judge, answer)
