"""Argument checks shared by every module: one function per rule (lesson 00 onwards).

A lesson's formula comes first in its function; the checks in front of it are
one line each, calls to this module. Every check returns the value in the type
the arithmetic wants (an exact ``int``, a ``float``, a ``bool``) or raises
ValueError saying what is allowed. Numpy scalars are accepted like Python's
numbers; ``True`` and ``False`` are not numbers here. Optional arguments are
tested with ``is None`` by the callers: a falsy value ("", 0, False) that was
given is checked like any other, never read as "not given".

Counts and sizes (tokens, batches, bytes, parameters) stop at ``MAX_COUNT`` =
10**18, an exabyte: more than any memory, model or context holds, and small
enough that products of a few of them stay far inside float range.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Hashable, Iterable, Mapping
from types import MappingProxyType

import numpy as np

MAX_COUNT = 10**18  # largest count or size in bytes: one exabyte
_MAX_SHOWN_CHARACTERS = 80


def shown(value: object) -> str:
    """``repr(value)`` for an error message, kept short (a 400-digit int reads as its size)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and abs(
            int(value)) > 10**30:
        digits = int(abs(int(value)).bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
    text = repr(value)
    if len(text) > _MAX_SHOWN_CHARACTERS:
        text = text[:_MAX_SHOWN_CHARACTERS - 3] + "..."
    return text


def check_count(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Return `value` as an int if it is an integer (numpy's too) in [minimum, maximum].

    Without a `maximum` the bound is MAX_COUNT (10**18), so 10**400 is a clear
    ValueError rather than an OverflowError deep inside the arithmetic.
    """
    allowed = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer {allowed}, got {shown(value)}")
    count = int(value)
    if count < minimum or (maximum is not None and count > maximum):
        raise ValueError(f"{name} must be an integer {allowed}, got {shown(count)}")
    if count > MAX_COUNT:
        raise ValueError(f"{name} must be an integer {allowed} and at most MAX_COUNT = 10**18 "
                         f"(an exabyte: more than any memory, model or context), got "
                         f"{shown(count)}")
    return count


def _as_float(value: object) -> float | None:
    """`value` as a float if it is a real number within float range (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        return None


def check_real(name: str, value: object) -> float:
    """Return `value` as a float if it is a real number (numpy's too; inf and nan pass)."""
    number = _as_float(value)
    if number is None:
        raise ValueError(f"{name} must be a real number within float range (about 1.8e308), "
                         f"got {shown(value)}")
    return number


def check_number(name: str, value: object, minimum: float, maximum: float | None = None
                 ) -> float:
    """Return `value` as a float if it is a finite number in [minimum, maximum]."""
    number = _as_float(value)
    if number is None or not (math.isfinite(number) and number >= minimum
                              and (maximum is None or number <= maximum)):
        allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{name} must be a finite number {allowed}, got {shown(value)}")
    return number


def check_positive(name: str, value: object) -> float:
    """Return `value` as a float if it is a positive finite number (numpy's too)."""
    number = _as_float(value)
    if number is None or not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive finite number, got {shown(value)}")
    return number


def check_optional_positive(name: str, value: object) -> float | None:
    """None stays None (not given); anything else must be a positive finite number."""
    return None if value is None else check_positive(name, value)


def check_flag(name: str, value: object) -> bool:
    """Return `value` as a bool if it is True or False (numpy's bool too); 0 and 1 are not."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {shown(value)}")
    return bool(value)


def check_choice(name: str, value: object, allowed):
    """Return `value` if it is one of `allowed`, else raise ValueError naming them.

    A list or other unhashable value is simply not allowed (no "unhashable type").
    """
    if not isinstance(value, Hashable) or value not in allowed:
        by_text = {str(item): item for item in allowed}  # match as text, show as given
        close = difflib.get_close_matches(str(value), list(by_text), n=2)
        hint = f" (did you mean {' or '.join(repr(by_text[c]) for c in close)}?)" if close else ""
        raise ValueError(
            f"{name} must be one of {', '.join(map(str, allowed))}; got {shown(value)}{hint}")
    return value


def check_string(name: str, value: object, example: str) -> str:
    """Return `value` if it is a string (a name to look up, a label), else ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {shown(value)} "
                         f"({type(value).__name__}; for example {example!r})")
    return value


def check_peaks(name: str, value: object, dtypes) -> float | MappingProxyType:
    """A peak in FLOP/s: one positive number, or a mapping of `dtypes` names to positive numbers.

    Returns the number as a float, or a read-only mapping of floats.
    """
    if not isinstance(value, Mapping):
        if not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a positive number of FLOP/s or a dict of them by "
                             f"dtype ({', '.join(dtypes)}), got {shown(value)}")
        return check_positive(name, value)
    return MappingProxyType({
        check_choice(f"a {name} key", dtype, dtypes): check_positive(f"{name}[{dtype!r}]", peak)
        for dtype, peak in value.items()
    })


def check_device(device, attributes: tuple[str, ...], dtypes) -> None:
    """Raise ValueError unless each of the device's `attributes` is a sound positive number.

    ``peak_flops_per_s`` may be one number or a dict by dtype (`check_peaks`);
    ``bandwidth_bytes_per_s`` and ``capacity_bytes`` are positive finite numbers.
    Called wherever a device is taken in, so a hand-built one is checked like a table's.
    """
    label = getattr(device, "name", type(device).__name__)
    for attribute in attributes:
        value = getattr(device, attribute)
        if attribute == "peak_flops_per_s":
            check_peaks(f"{label} {attribute}", value, dtypes)
        else:
            check_positive(f"{label} {attribute}", value)


def check_sequence(name: str, values: object, what: str) -> tuple:
    """Return `values` as a tuple if it is a list or other iterable (not one string or number)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a list of {what}, got {shown(values)}")
    return tuple(values)


def check_bandwidth(name: str, link_or_bytes_per_s: object) -> float:
    """Bytes/s of a link, tier or device (its ``bandwidth_bytes_per_s``) or of a plain number."""
    value = getattr(link_or_bytes_per_s, "bandwidth_bytes_per_s", link_or_bytes_per_s)
    return check_positive(name, value)
