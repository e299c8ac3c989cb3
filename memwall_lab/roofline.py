"""Roofline arithmetic and the one roofline plot (introduced in lesson 02).

Attainable FLOP/s = min(peak FLOP/s, intensity x bandwidth); the ridge point is
the intensity (FLOP/byte) where the two limits meet: peak / bandwidth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from memwall_lab import hardware
from memwall_lab.validate import check_positive, shown


@dataclass(frozen=True)
class Roof:
    """One machine's two limits: compute roof in FLOP/s and memory slope in bytes/s."""

    name: str
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float

    def __post_init__(self):
        _check_name("Roof", self.name)
        for field in ("peak_flops_per_s", "bandwidth_bytes_per_s"):
            object.__setattr__(self, field, check_positive(field, getattr(self, field)))

    @property
    def ridge_flops_per_byte(self) -> float:
        """Intensity in FLOP/byte above which this machine is compute-bound."""
        return ridge_point(self.peak_flops_per_s, self.bandwidth_bytes_per_s)

    def attainable(self, intensity_flops_per_byte):
        """Roofline bound in FLOP/s at the given intensity (FLOP/byte); arrays work too."""
        return attainable_flops_per_s(
            intensity_flops_per_byte, self.peak_flops_per_s, self.bandwidth_bytes_per_s
        )

    @classmethod
    def from_hardware(cls, hw, dtype: str = "bf16") -> Roof:
        """The roof of a ``hardware.Hardware`` (or its name) for one dtype's dense peak."""
        if isinstance(hw, str):
            hw = hardware.get(hw)
        if not isinstance(hw, hardware.Hardware):
            raise ValueError(f"hw must be a hardware.Hardware or a name such as 'h100-sxm', "
                             f"got {shown(hw)}")
        return cls(f"{hw.display_name} ({dtype})", hw.peak(dtype), hw.bandwidth_bytes_per_s)


@dataclass(frozen=True)
class KernelPoint:
    """A measured or predicted kernel: its intensity (FLOP/byte) and achieved FLOP/s."""

    name: str
    intensity_flops_per_byte: float
    flops_per_s: float

    def __post_init__(self):
        _check_name("KernelPoint", self.name)
        for field in ("intensity_flops_per_byte", "flops_per_s"):
            object.__setattr__(self, field, check_positive(field, getattr(self, field)))


def _check_name(what: str, name: object) -> None:
    """Raise ValueError unless a roof's or kernel's label is a string."""
    if not isinstance(name, str):
        raise ValueError(f"{what} name must be a string (the plot label), got {name!r}")


def kernel_on_roof(name: str, intensity_flops_per_byte: float, roof: Roof) -> KernelPoint:
    """A predicted kernel: placed at the roofline bound of ``roof`` for its intensity."""
    if not isinstance(roof, Roof):
        raise ValueError(f"roof must be a roofline.Roof, got {shown(roof)}")
    return KernelPoint(name, intensity_flops_per_byte, roof.attainable(intensity_flops_per_byte))


def ridge_point(peak_flops_per_s: float, bandwidth_bytes_per_s: float) -> float:
    """Ridge point in FLOP/byte: peak FLOP/s divided by bandwidth in bytes/s."""
    peak = check_positive("peak_flops_per_s", peak_flops_per_s)
    return peak / check_positive("bandwidth_bytes_per_s", bandwidth_bytes_per_s)


def _check_intensities(intensity_flops_per_byte) -> np.ndarray:
    """The intensities (FLOP/byte) as a float array, if all are positive finite numbers."""
    intensity = np.asarray(intensity_flops_per_byte)
    numeric = intensity.dtype.kind in "iuf"  # not None, strings, bools or Python objects
    if not numeric or not np.all(np.isfinite(intensity) & (intensity > 0)):
        raise ValueError("arithmetic intensity must be positive finite numbers (FLOP per "
                         f"byte), got {intensity_flops_per_byte!r}")
    return intensity.astype(float)


def attainable_flops_per_s(intensity_flops_per_byte, peak_flops_per_s, bandwidth_bytes_per_s):
    """Roofline bound in FLOP/s: min(peak, intensity x bandwidth); works on arrays too."""
    intensity = _check_intensities(intensity_flops_per_byte)
    peak = check_positive("peak_flops_per_s", peak_flops_per_s)
    bandwidth = check_positive("bandwidth_bytes_per_s", bandwidth_bytes_per_s)
    with np.errstate(over="ignore"):  # intensity x bandwidth beyond float range is inf: peak
        bound = np.minimum(peak, intensity * bandwidth)
    return float(bound) if bound.ndim == 0 else bound


def _check_intensity_range(intensity_range) -> tuple[float, float]:
    """(low, high) intensities in FLOP/byte for the x axis: positive, finite, low < high."""
    try:
        low, high = intensity_range
    except (TypeError, ValueError):
        raise ValueError(f"intensity_range must be (low, high) in FLOP/byte, got "
                         f"{intensity_range!r}") from None
    low = check_positive("intensity_range low", low)
    high = check_positive("intensity_range high", high)
    if low >= high:
        raise ValueError(f"intensity_range must be (low, high) with low < high, got "
                         f"{intensity_range!r}")
    return low, high


def plot(
    roofs: Iterable[Roof],
    kernels: Iterable[KernelPoint] = (),
    *,
    ax=None,
    title: str = "Roofline",
    intensity_range: tuple[float, float] | None = None,
):
    """Draw rooflines (log-log) with ridge points marked and kernels as labelled points."""
    import matplotlib.pyplot as plt

    from memwall_lab.plotting import use_course_style

    use_course_style()
    roofs, kernels = list(roofs), list(kernels)
    if not roofs or not all(isinstance(roof, Roof) for roof in roofs):
        raise ValueError("plot needs a non-empty list of Roof")
    if not all(isinstance(kernel, KernelPoint) for kernel in kernels):
        raise ValueError("kernels must be KernelPoint (see kernel_on_roof)")
    if intensity_range is None:
        ridges = [roof.ridge_flops_per_byte for roof in roofs]
        points = [k.intensity_flops_per_byte for k in kernels]
        low = min([0.05, *points]) / 2
        high = max([*ridges, *points]) * 8
        intensity_range = (low, high)
    intensity_range = _check_intensity_range(intensity_range)
    if ax is None:
        _, ax = plt.subplots()
    intensity = np.logspace(np.log10(intensity_range[0]), np.log10(intensity_range[1]), 200)
    for roof in roofs:
        bound = attainable_flops_per_s(
            intensity, roof.peak_flops_per_s, roof.bandwidth_bytes_per_s
        )
        (line,) = ax.loglog(intensity, bound, label=f"{roof.name}")
        ax.plot(
            roof.ridge_flops_per_byte, roof.peak_flops_per_s, "o", color=line.get_color(), ms=5
        )
        ax.annotate(
            f"ridge {roof.ridge_flops_per_byte:.3g} FLOP/B",
            (roof.ridge_flops_per_byte, roof.peak_flops_per_s),
            textcoords="offset points", xytext=(4, -12), fontsize=8, color=line.get_color(),
        )
    for kernel in kernels:
        ax.plot(kernel.intensity_flops_per_byte, kernel.flops_per_s, "k^", ms=6)
        ax.annotate(
            kernel.name, (kernel.intensity_flops_per_byte, kernel.flops_per_s),
            textcoords="offset points", xytext=(4, 4), fontsize=8,
        )
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("attainable performance (FLOP/s)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax.figure
