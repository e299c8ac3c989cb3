"""Human-readable formatting of SI quantities; numbers stay in SI everywhere else."""

import math

from memwall_lab.validate import check_real, check_string

_BINARY_PREFIXES = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
_DECIMAL_PREFIXES = ["", "k", "M", "G", "T", "P", "E"]


def format_bytes(size_bytes: float) -> str:
    """Format a byte count with binary prefixes, e.g. 33554432 -> '32 MiB'."""
    value = check_real("size_bytes", size_bytes)
    if not math.isfinite(value):
        return f"{value} B"
    for prefix in _BINARY_PREFIXES:
        text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
        # compare the rounded text, so 1048575 reads '1.0 MiB', not '1024.0 KiB'
        if abs(float(text)) < 1024 or prefix == _BINARY_PREFIXES[-1]:
            return f"{text} {prefix}"
        value /= 1024
    raise AssertionError("unreachable")


def format_rate(value_per_s: float, unit: str) -> str:
    """Format a rate with decimal prefixes, e.g. (1.2e10, 'B/s') -> '12 GB/s'."""
    value = check_real("value_per_s", value_per_s)
    check_string("unit", unit, "B/s")
    if not math.isfinite(value):
        return f"{value} {unit}"
    for prefix in _DECIMAL_PREFIXES:
        text = f"{value:.3g}"
        # compare the rounded text, so 999.6e9 reads '1 TB/s', not '1e+03 GB/s'
        if abs(float(text)) < 1000 or prefix == _DECIMAL_PREFIXES[-1]:
            return f"{text} {prefix}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_seconds(seconds: float) -> str:
    """Format a duration in s, ms, us or ns, e.g. 8.5e-8 -> '85 ns', 7000 -> '7,000 s'."""
    seconds = check_real("seconds", seconds)
    if not math.isfinite(seconds):
        return f"{seconds} s"
    if abs(seconds) >= 999.5:  # whole seconds with separators, never '7e+03 s'
        return f"{seconds:,.0f} s"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        text = f"{seconds / scale:.3g}"
        # compare the rounded text, so 0.9996 s reads '1 s', not '1e+03 ms'
        if abs(float(text)) >= 1 or unit == "ns":
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def format_number(value: float, significant: int = 3) -> str:
    """A number as people write it: separators, no e-notation, trailing zeros dropped.

    Rounded to ``significant`` digits, but whole digits are kept: 1234567 ->
    '1,234,567', 6.7384 -> '6.74', 0.012345 -> '0.0123', 10000.0 -> '10,000'.
    """
    value = check_real("value", value)
    if not math.isfinite(value) or value == 0:
        return f"{value:g}"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
