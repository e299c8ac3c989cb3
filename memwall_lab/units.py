"""Human-readable formatting of SI quantities; numbers stay in SI everywhere else."""

_BINARY_PREFIXES = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
_DECIMAL_PREFIXES = ["", "k", "M", "G", "T", "P", "E"]


def format_bytes(size_bytes: float) -> str:
    """Format a byte count with binary prefixes, e.g. 33554432 -> '32 MiB'."""
    value = float(size_bytes)
    for prefix in _BINARY_PREFIXES:
        if abs(value) < 1024 or prefix == _BINARY_PREFIXES[-1]:
            return f"{value:.0f} {prefix}" if value == int(value) else f"{value:.1f} {prefix}"
        value /= 1024
    raise AssertionError("unreachable")


def format_rate(value_per_s: float, unit: str) -> str:
    """Format a rate with decimal prefixes, e.g. (1.2e10, 'B/s') -> '12.0 GB/s'."""
    value = float(value_per_s)
    for prefix in _DECIMAL_PREFIXES:
        if abs(value) < 1000 or prefix == _DECIMAL_PREFIXES[-1]:
            return f"{value:.3g} {prefix}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_seconds(seconds: float) -> str:
    """Format a duration in s, ms, us or ns, e.g. 8.5e-8 -> '85.0 ns'."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    raise AssertionError("unreachable")
