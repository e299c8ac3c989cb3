"""Measured numbers remember that they were measured (used by the exercise checks).

Every timing and measurement in the course returns its best and median as a
`Measured` float: an ordinary float that keeps a mark saying "this came from a
measurement in this kernel". Arithmetic with a plain number keeps the mark, so
`bytes / samples.best` or `long.best / short.best` are measured too, while a
number typed in (`20e9`) or a prediction computed from sizes alone is not.
`memwall_lab.check.measured` uses the mark to refuse answers that measured nothing.

numpy drops the mark (`np.float64(2) * x` is a plain float64), so every marked
value is also kept in a short ledger: a number equal to a recent measured value,
or to the ratio of two, counts as measured too.
"""

from __future__ import annotations

import math
import numbers
from collections import deque

LEDGER_SIZE = 4096  # recent measured values kept
RATIO_LOOKBACK = 256  # the ratio of two of the last this-many values counts as measured
MATCH_REL_TOL = 1e-9  # equal up to float rounding

_ledger: deque[float] = deque(maxlen=LEDGER_SIZE)


class Measured(float):
    """A float that came from a measurement; arithmetic with plain numbers keeps the mark."""

    __slots__ = ()

    def __repr__(self) -> str:
        return float.__repr__(self)


def _binary(operation):
    def method(self, other):
        if not isinstance(other, numbers.Real) or isinstance(other, bool):
            return NotImplemented  # arrays, complex numbers: let the other side decide
        return Measured(operation(float(self), float(other)))

    return method


for _name, _operation in {
    "__add__": lambda a, b: a + b, "__radd__": lambda a, b: b + a,
    "__sub__": lambda a, b: a - b, "__rsub__": lambda a, b: b - a,
    "__mul__": lambda a, b: a * b, "__rmul__": lambda a, b: b * a,
    "__truediv__": lambda a, b: a / b, "__rtruediv__": lambda a, b: b / a,
    "__pow__": lambda a, b: a**b, "__rpow__": lambda a, b: b**a,
}.items():
    setattr(Measured, _name, _binary(_operation))
Measured.__neg__ = lambda self: Measured(-float(self))
Measured.__abs__ = lambda self: Measured(abs(float(self)))
Measured.__pos__ = lambda self: self


def mark(value: float) -> Measured:
    """Return `value` as a `Measured` float and remember it in the ledger."""
    measured = Measured(value)
    if math.isfinite(measured):
        _ledger.append(float(measured))
    return measured


def remember(value: float) -> None:
    """Add a measured number (e.g. the working set of a measured point) to the ledger."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        _ledger.append(float(value))


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=MATCH_REL_TOL, abs_tol=0.0)


def is_measured(value: object) -> bool:
    """True if `value` is marked, equals a measured value, or a ratio of two recent ones."""
    if isinstance(value, Measured):
        return True
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    number = float(value)
    if not math.isfinite(number) or number == 0:
        return False
    if any(_same(number, seen) for seen in _ledger):
        return True
    recent = [seen for seen in list(_ledger)[-RATIO_LOOKBACK:] if seen != 0]
    return any(_same(number * below, above) for above in recent for below in recent)


def forget() -> None:
    """Empty the ledger (for tests)."""
    _ledger.clear()
