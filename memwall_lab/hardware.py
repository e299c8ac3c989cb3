"""Accelerators, client devices, memory technologies, links and their history (lessons 02 and 05).

Everything here is read from the sourced tables in ``memwall_lab/data/*.csv``
(every row names its source). The tables store the units vendors print
(GB, GB/s, TFLOP/s); this module converts once, on loading, to SI: bytes,
bytes/s and FLOP/s. Lesson 02 uses ``get`` and ``Hardware.ridge_flops_per_byte``
for accelerator ridge points; lesson 05 uses ``memory_tech``, ``link``,
``history`` and ``growth_per_2_years`` to re-fit the growth rates of the
"AI and Memory Wall" paper (Gholami et al., IEEE Micro 2024) from data,
``sensitivity`` to show how much each rate depends on the points behind it, and
``full_reads_per_s`` (bandwidth / capacity: the tokens/s ceiling of a model that
fills the memory, shared with lesson 07), ``packaging`` and the energy per bit of
``memory_tech`` for what limits bandwidth.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import difflib
import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType

from memwall_lab.validate import (
    check_choice,
    check_count,
    check_optional_positive,
    check_peaks,
    check_positive,
    check_string,
    shown,
)

DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8")
KINDS = ("datacenter", "laptop", "desktop", "phone", "edge")
_FLOPS_COLUMNS = {
    "fp32": "fp32_tflops",
    "bf16": "bf16_tflops",
    "fp16": "fp16_tflops",
    "fp8": "fp8_tflops",
    "int8": "int8_tops",
}

# Growth per 2 years stated by Gholami et al., "AI and Memory Wall" (arXiv 2403.14123).
PAPER_GROWTH_PER_2_YEARS = MappingProxyType({
    "peak_flops": 3.0,
    "dram_bandwidth": 1.6,
    "interconnect_bandwidth": 1.4,
    "model_params": 410.0,
    "accelerator_memory": 2.0,
})
# [start, end) years of the data behind the paper's figures, to compare like for like. For
# model_params the window holds exactly the ten models its figure labels (2017-2021).
PAPER_WINDOWS = MappingProxyType({
    "peak_flops": (None, 2023.0),
    "dram_bandwidth": (None, 2023.0),
    "interconnect_bandwidth": (None, 2023.0),
    "model_params": (None, 2022.0),
    "accelerator_memory": (None, 2023.0),
})
# The 2021 blog version of the paper (https://medium.com/riselab/ai-and-memory-wall-2cb4265cb0b8)
# stated 240x per 2 years for Transformer size; its data is the authors' README table
# (history series authors_table_params).
BLOG_2021_MODEL_PARAMS_PER_2_YEARS = 240.0


def read_table(filename: str) -> list[dict[str, str]]:
    """Rows of one CSV in ``memwall_lab/data`` as dicts of strings (no network needed)."""
    text = resources.files("memwall_lab").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def lookup(what: str, name: object, table: dict):
    """The row of ``table`` named ``name`` (case-insensitive, '_' or ' ' read as '-')."""
    check_string(f"{what} name", name, next(iter(table), ""))
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    if key not in table:
        raise closest_error(what, name, table)
    return table[key]


def closest_error(what: str, name: object, known) -> ValueError:
    """A ValueError for an unknown name that lists the closest known names."""
    known = list(known)
    by_lower = {str(item).lower(): str(item) for item in known}  # match case-insensitively
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=5, cutoff=0.4)
    hint = f" Closest: {', '.join(by_lower[item] for item in close)}." if close else ""
    return ValueError(f"unknown {what} {name!r}.{hint} Known: {', '.join(known)}")


def _optional_float(text: str, scale: float = 1.0) -> float | None:
    """Parse a CSV cell into a float times ``scale``; an empty cell is None."""
    return None if text.strip() == "" else float(text) * scale


# ---------------------------------------------------------------- accelerators and devices


@dataclass(frozen=True)
class Hardware:
    """One accelerator or client device, in SI units: bytes, bytes/s, FLOP/s, W."""

    name: str
    display_name: str
    kind: str
    vendor: str
    year: int
    memory_type: str
    capacity_bytes: float
    bandwidth_bytes_per_s: float
    peak_flops_per_s: MappingProxyType = field(compare=False)
    interconnect_bytes_per_s: float | None = None
    tdp_watts: float | None = None
    source: str = ""
    note: str = ""

    def __post_init__(self):
        """Check a hand-built device like a table's: positive finite numbers, peaks by dtype."""
        check_string("hardware name", self.name, "h100-sxm")
        check_choice("kind", self.kind, KINDS)
        object.__setattr__(self, "year", check_count("year", self.year, 0, 9999))
        for name in ("capacity_bytes", "bandwidth_bytes_per_s"):
            object.__setattr__(self, name, check_positive(f"{self.name} {name}",
                                                          getattr(self, name)))
        for name in ("interconnect_bytes_per_s", "tdp_watts"):
            object.__setattr__(self, name, check_optional_positive(f"{self.name} {name}",
                                                                   getattr(self, name)))
        if not isinstance(self.peak_flops_per_s, Mapping):
            raise ValueError(f"{self.name} peak_flops_per_s must be a dict of FLOP/s by dtype "
                             f"({', '.join(DTYPES)}), got {self.peak_flops_per_s!r}")
        object.__setattr__(self, "peak_flops_per_s", check_peaks(
            f"{self.name} peak_flops_per_s", self.peak_flops_per_s, DTYPES))

    def peak(self, dtype: str = "bf16") -> float:
        """Dense peak in FLOP/s (or OP/s for int8) for ``dtype``; ValueError if not offered."""
        if not isinstance(dtype, str) or dtype not in self.peak_flops_per_s:
            offered = ", ".join(self.peak_flops_per_s) or "none"
            raise ValueError(f"{self.name} has no {dtype!r} peak in the table (has: {offered})")
        return self.peak_flops_per_s[dtype]

    def ridge_flops_per_byte(self, dtype: str = "bf16") -> float:
        """Ridge point in FLOP/byte: dense peak for ``dtype`` / memory bandwidth."""
        return self.peak(dtype) / self.bandwidth_bytes_per_s

    def bytes_per_flop(self, dtype: str = "bf16") -> float:
        """Bytes of memory traffic the part can feed per FLOP: the inverse ridge point."""
        return 1.0 / self.ridge_flops_per_byte(dtype)


def _hardware_from_row(row: dict[str, str]) -> Hardware:
    """Build a Hardware from one CSV row, converting GB, GB/s and TFLOP/s to SI."""
    peaks = {
        dtype: float(row[column]) * 1e12
        for dtype, column in _FLOPS_COLUMNS.items()
        if row[column].strip()
    }
    return Hardware(
        name=row["name"],
        display_name=row["display_name"],
        kind=row["kind"],
        vendor=row["vendor"],
        year=int(row["year"]),
        memory_type=row["memory_type"],
        capacity_bytes=float(row["capacity_gb"]) * 1e9,
        bandwidth_bytes_per_s=float(row["bandwidth_gb_per_s"]) * 1e9,
        peak_flops_per_s=MappingProxyType(peaks),
        interconnect_bytes_per_s=_optional_float(row["interconnect_gb_per_s"], 1e9),
        tdp_watts=_optional_float(row["tdp_w"]),
        source=row["source"],
        note=row["note"],
    )


@functools.lru_cache(maxsize=1)
def _all_hardware() -> dict[str, Hardware]:
    """Every accelerator and device, keyed by canonical name."""
    rows = read_table("accelerators.csv") + read_table("devices.csv")
    return {row["name"]: _hardware_from_row(row) for row in rows}


def names(kind: str | None = None) -> list[str]:
    """Canonical hardware names, optionally only one kind (see ``KINDS``)."""
    if kind is not None and kind not in KINDS:
        raise closest_error("hardware kind", kind, KINDS)
    return [name for name, hw in _all_hardware().items() if kind is None or hw.kind == kind]


def get(name: str) -> Hardware:
    """The accelerator or device called ``name`` (case-insensitive, e.g. 'h100-sxm')."""
    return lookup("hardware", name, _all_hardware())


# ---------------------------------------------------------------- memory technologies


@dataclass(frozen=True)
class MemoryTech:
    """One memory technology: per-pin rate, interface width and the bandwidth they give."""

    name: str
    family: str
    year: int
    per_pin_bits_per_s: float
    interface_bits: int
    bandwidth_bytes_per_s: float
    capacity_bytes: float
    unit: str
    source: str
    note: str
    # Energy to move one bit (J/bit) from a published measurement or model, with its year and
    # source; None where the course has no sourced figure for this technology.
    energy_joules_per_bit: float | None = None
    energy_year: int | None = None
    energy_source: str = ""

    @property
    def pins_times_rate_bytes_per_s(self) -> float:
        """Bandwidth in bytes/s recomputed from pins x per-pin rate / 8, for the lesson."""
        return self.interface_bits * self.per_pin_bits_per_s / 8


@functools.lru_cache(maxsize=1)
def _memory_techs() -> dict[str, MemoryTech]:
    """Every memory technology row, keyed by name."""
    return {
        row["name"]: MemoryTech(
            name=row["name"],
            family=row["family"],
            year=int(row["year"]),
            per_pin_bits_per_s=float(row["per_pin_gbit_per_s"]) * 1e9,
            interface_bits=int(row["interface_bits"]),
            bandwidth_bytes_per_s=float(row["bandwidth_gb_per_s"]) * 1e9,
            capacity_bytes=float(row["capacity_gb"]) * 1e9,
            unit=row["unit"],
            source=row["source"],
            note=row["note"],
            energy_joules_per_bit=_optional_float(row["energy_pj_per_bit"], 1e-12),
            energy_year=int(row["energy_year"]) if row["energy_year"].strip() else None,
            energy_source=row["energy_source"],
        )
        for row in read_table("memory_tech.csv")
    }


def memory_tech_names(family: str | None = None) -> list[str]:
    """Names of memory technologies, optionally one family ('DDR', 'LPDDR', 'GDDR', 'HBM')."""
    techs = _memory_techs().values()
    if family is None:
        return [tech.name for tech in techs]
    families = {tech.family.lower(): tech.family for tech in techs}  # case-insensitive
    wanted = families.get(family.strip().lower()) if isinstance(family, str) else None
    if wanted is None:
        raise closest_error("memory family", family, sorted(families.values()))
    return [tech.name for tech in techs if tech.family == wanted]


def memory_tech(name: str) -> MemoryTech:
    """The memory technology called ``name`` (e.g. 'hbm3', 'ddr5-4800')."""
    return lookup("memory technology", name, _memory_techs())


def full_reads_per_s(memory) -> float:
    """Times per second the whole memory can be read: bandwidth_bytes_per_s / capacity_bytes.

    ``memory`` is a device (``Hardware``), a memory technology (``MemoryTech``, per
    stack or device) or a name of either. It is also the most tokens/s a model whose
    weights fill that memory can decode: every decode step reads every weight once.
    """
    if isinstance(memory, str):
        key = memory.strip().lower().replace("_", "-").replace(" ", "-")
        memory = memory_tech(key) if key in _memory_techs() else get(memory)
    missing = [name for name in ("bandwidth_bytes_per_s", "capacity_bytes")
               if not hasattr(memory, name)]
    if missing:
        raise ValueError("memory must be a device or memory technology (or its name) with "
                         f"bandwidth_bytes_per_s and capacity_bytes; got {shown(memory)}")
    return (check_positive("bandwidth_bytes_per_s", memory.bandwidth_bytes_per_s)
            / check_positive("capacity_bytes", memory.capacity_bytes))


# ---------------------------------------------------------------- packaging


@dataclass(frozen=True)
class PackagingFact:
    """One sourced packaging figure: a reticle or interposer area, a count of HBM stacks."""

    name: str
    year: int
    value: float
    unit: str
    source: str
    note: str


@functools.lru_cache(maxsize=1)
def _packaging() -> dict[str, PackagingFact]:
    """Every row of packaging.csv, keyed by name."""
    return {
        row["name"]: PackagingFact(name=row["name"], year=int(row["year"]),
                                   value=float(row["value"]), unit=row["unit"],
                                   source=row["source"], note=row["note"])
        for row in read_table("packaging.csv")
    }


def packaging_names() -> list[str]:
    """Names of the packaging figures (reticle limit, CoWoS interposers, HBM stacks per GPU)."""
    return list(_packaging())


def packaging(name: str) -> PackagingFact:
    """The packaging figure called ``name`` (e.g. 'reticle-limit', 'h100-sxm-hbm-stacks')."""
    return lookup("packaging figure", name, _packaging())


# ---------------------------------------------------------------- links


@dataclass(frozen=True)
class Link:
    """One link or storage tier: bandwidth per direction (and both directions) in bytes/s."""

    name: str
    family: str
    year: int
    lanes: int
    lane_rate_bits_per_s: float
    bandwidth_bytes_per_s: float
    bidirectional_bytes_per_s: float | None
    source: str
    note: str

    def __post_init__(self):
        """Check a hand-built link like a table's: positive finite bandwidths."""
        check_string("link name", self.name, "pcie5-x16")
        object.__setattr__(self, "bandwidth_bytes_per_s", check_positive(
            f"{self.name} bandwidth_bytes_per_s", self.bandwidth_bytes_per_s))
        object.__setattr__(self, "bidirectional_bytes_per_s", check_optional_positive(
            f"{self.name} bidirectional_bytes_per_s", self.bidirectional_bytes_per_s))


@functools.lru_cache(maxsize=1)
def _links() -> dict[str, Link]:
    """Every link row, keyed by name."""
    return {
        row["name"]: Link(
            name=row["name"],
            family=row["family"],
            year=int(row["year"]),
            lanes=int(row["lanes"]),
            lane_rate_bits_per_s=float(row["lane_rate_gbit_per_s"]) * 1e9,
            bandwidth_bytes_per_s=float(row["bandwidth_gb_per_s"]) * 1e9,
            bidirectional_bytes_per_s=_optional_float(row["bidirectional_gb_per_s"], 1e9),
            source=row["source"],
            note=row["note"],
        )
        for row in read_table("links.csv")
    }


def link_names() -> list[str]:
    """Names of all links (PCIe, NVLink, NVMe, InfiniBand, CXL)."""
    return list(_links())


def link(name: str) -> Link:
    """The link called ``name`` (e.g. 'pcie5-x16', 'nvlink4', 'nvme-gen4')."""
    return lookup("link", name, _links())


# ---------------------------------------------------------------- history and growth


@dataclass(frozen=True)
class HistoryPoint:
    """One dated value of a history series (SI unit named in ``unit``).

    ``active_value`` is set for mixture-of-experts models only: the parameters one token
    uses, where ``value`` counts every parameter stored. ``paper_figure`` marks the points
    the paper's model-size figure labels.
    """

    series: str
    name: str
    date: datetime.date
    value: float
    unit: str
    source: str
    note: str
    active_value: float | None = None
    paper_figure: bool = False

    @property
    def year(self) -> float:
        """The date as a decimal year, e.g. 2020-07-02 -> about 2020.5."""
        start = datetime.date(self.date.year, 1, 1)
        days_in_year = (datetime.date(self.date.year + 1, 1, 1) - start).days
        return self.date.year + (self.date - start).days / days_in_year


@functools.lru_cache(maxsize=1)
def _history() -> tuple[HistoryPoint, ...]:
    """Every row of history.csv."""
    return tuple(
        HistoryPoint(
            series=row["series"],
            name=row["name"],
            date=datetime.date.fromisoformat(row["date"]),
            value=float(row["value"]),
            unit=row["unit"],
            source=row["source"],
            note=row["note"],
            active_value=_optional_float(row["active_value"]),
            paper_figure=row["paper_figure"].strip() == "yes",
        )
        for row in read_table("history.csv")
    )


def history_series() -> list[str]:
    """Names of the history series, e.g. 'peak_flops', 'dram_bandwidth', 'model_params'."""
    return list(dict.fromkeys(point.series for point in _history()))


def history(series: str) -> list[HistoryPoint]:
    """The dated points of one history series, oldest first."""
    if series not in history_series():
        raise closest_error("history series", series, history_series())
    return sorted((p for p in _history() if p.series == series), key=lambda p: p.date)


def paper_figure_points(series: str = "model_params") -> list[HistoryPoint]:
    """The points of ``series`` that the paper's figure labels, oldest first."""
    return [point for point in history(series) if point.paper_figure]


def counted_per_token(points: list[HistoryPoint]) -> list[HistoryPoint]:
    """The same points with each mixture-of-experts model counted by its active parameters."""
    return [dataclasses.replace(point, value=point.active_value)
            if point.active_value is not None else point for point in points]


@dataclass(frozen=True)
class GrowthFit:
    """A log-linear least-squares fit: value = a * factor_per_2_years ** (year / 2)."""

    series: str
    factor_per_2_years: float
    first_year: float
    last_year: float
    n_points: int

    @property
    def factor_per_year(self) -> float:
        """Growth factor per year."""
        return math.sqrt(self.factor_per_2_years)

    @property
    def paper_factor_per_2_years(self) -> float | None:
        """The factor per 2 years the paper states for this series (None if it states none)."""
        return PAPER_GROWTH_PER_2_YEARS.get(self.series)


def fit_points(points: list[HistoryPoint]) -> GrowthFit:
    """Fit ln(value) = a + b * year by least squares through ``points``; factor = exp(2 b)."""
    if len(points) < 2:
        raise ValueError(f"need at least 2 points to fit a growth rate, got {len(points)}")
    points = sorted(points, key=lambda p: p.date)
    years = [p.year for p in points]
    logs = [math.log(p.value) for p in points]
    mean_year, mean_log = sum(years) / len(years), sum(logs) / len(logs)
    slope = sum((y - mean_year) * (v - mean_log) for y, v in zip(years, logs)) / sum(
        (y - mean_year) ** 2 for y in years
    )
    return GrowthFit(points[0].series, math.exp(2 * slope), years[0], years[-1], len(points))


def fit_growth(
    series: str, start_year: float | None = None, end_year: float | None = None
) -> GrowthFit:
    """Fit ln(value) = a + b * year by least squares over [start_year, end_year)."""
    if start_year is not None:
        start_year = check_positive("start_year", start_year)
    if end_year is not None:
        end_year = check_positive("end_year", end_year)
    points = [
        p for p in history(series)
        if (start_year is None or p.year >= start_year) and (end_year is None or p.year < end_year)
    ]
    if len(points) < 2:
        raise ValueError(f"need at least 2 points of {series!r} in that window, got {len(points)}")
    return fit_points(points)


def growth_per_2_years(
    series: str, start_year: float | None = None, end_year: float | None = None
) -> float:
    """Growth factor per 2 years of a history series (log-linear least squares).

    Over the paper's window (``PAPER_WINDOWS``: data up to 2022, as in its
    figures) our tables give peak_flops 3.0x (paper 3.0x), dram_bandwidth 1.6x
    (1.6x) and interconnect_bandwidth 1.4x per lane (1.4x): within 5 %.
    Adding the 2024 parts gives 3.1x, 1.6x and 1.5x. model_params over the ten
    models the paper's figure labels (Transformer 2017 to MT-NLG 2021, window
    ``end_year=2022``) gives about 370x (paper 410x); its seven dense models
    alone (to GPT-3) give about 550x, and every point to 2024 about 14x: the
    rate depends on which models are kept (``sensitivity``).
    accelerator_memory gives 1.7x (paper 2x), because NVIDIA's flagship capacity
    went 6 GB (2012) -> 80 GB (2022), 13x in 9.4 years. Details in
    docs/growth_fits.md.
    """
    return fit_growth(series, start_year, end_year).factor_per_2_years


def paper_comparison() -> list[tuple[str, float, float]]:
    """(series, our factor per 2 years over the paper's window, the paper's factor) per series."""
    return [
        (series, growth_per_2_years(series, *PAPER_WINDOWS[series]), paper)
        for series, paper in PAPER_GROWTH_PER_2_YEARS.items()
    ]


# ---------------------------------------------------------------- how the headline rates move


@dataclass(frozen=True)
class Sensitivity:
    """One choice behind a headline growth rate, the rate per 2 years it gives, and why."""

    series: str
    choice: str
    factor_per_2_years: float
    n_points: int
    effect: str


def _names(points: list[HistoryPoint]) -> str:
    """'A and B' or 'A, B and C' from the points' names."""
    names = [point.name for point in points]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def selection_fits(points: list[HistoryPoint], keep: int) -> list[tuple[float, list[HistoryPoint]]]:
    """(factor per 2 years, points dropped) for every way to keep ``keep`` points, lowest first."""
    check_count("keep", keep, 2, len(points))
    fits = []
    for kept in itertools.combinations(range(len(points)), keep):
        dropped = [point for index, point in enumerate(points) if index not in kept]
        fits.append((fit_points([points[index] for index in kept]).factor_per_2_years, dropped))
    return sorted(fits, key=lambda fit: fit[0])


def model_size_sensitivity(keep: int = 8) -> list[Sensitivity]:
    """How Transformer size growth per 2 years moves with which models are kept and counted."""
    figure = paper_figure_points()
    ten = fit_points(figure)
    gpt3 = next(point for point in figure if point.name == "GPT-3")
    dense = [point for point in figure if point.active_value is None and point.date <= gpt3.date]
    authors_table = history("authors_table_params")
    moe = [point for point in figure if point.active_value is not None]
    everything = history("model_params")
    (lowest, low_dropped), *_, (highest, high_dropped) = selection_fits(figure, keep)
    return [
        Sensitivity("model_params", f"the {len(figure)} models the paper's figure labels",
                    ten.factor_per_2_years, ten.n_points,
                    f"{figure[0].name} {figure[0].date.year} to {figure[-1].name} "
                    f"{figure[-1].date.year}"),
        Sensitivity("model_params", f"the figure's {len(dense)} dense models, to GPT-3",
                    fit_points(dense).factor_per_2_years, len(dense),
                    f"leaves out {_names([p for p in figure if p not in dense])}"),
        Sensitivity("model_params", f"keep {keep} of the {len(figure)}, the lowest of "
                    f"{math.comb(len(figure), keep)} ways", lowest, keep,
                    f"drops {_names(low_dropped)}"),
        Sensitivity("model_params", f"keep {keep} of the {len(figure)}, the highest",
                    highest, keep, f"drops {_names(high_dropped)}"),
        Sensitivity("model_params", "the figure's models, MoE by parameters used per token",
                    fit_points(counted_per_token(figure)).factor_per_2_years, len(figure),
                    ", ".join(f"{p.name} {p.active_value / 1e9:.1f}B of {p.value / 1e9:,.0f}B"
                              for p in moe)),
        Sensitivity("model_params", f"every point we have, to {everything[-1].date.year}",
                    fit_points(everything).factor_per_2_years, len(everything),
                    "adds the flagships after the figure; their size levelled off"),
        Sensitivity("model_params", f"every Transformer of the authors' table "
                    f"({authors_table[0].date.year}-{authors_table[-1].date.year})",
                    fit_points(authors_table).factor_per_2_years, len(authors_table),
                    f"the data of the 2021 blog version, which says "
                    f"{BLOG_2021_MODEL_PARAMS_PER_2_YEARS:.0f}x"),
    ]


def compute_sensitivity(end_year: float = 2023.0) -> list[Sensitivity]:
    """How peak FLOP/s growth per 2 years moves with the number format and the first point."""
    flops = [point for point in history("peak_flops") if point.year < end_year]
    fp32 = [point for point in history("peak_flops_fp32") if point.year < end_year]
    cpu_start, fp32_gpus = fp32[0], fp32[1:]
    return [
        Sensitivity("peak_flops", "flagship GPUs in the format deep learning runs, to 2022",
                    fit_points(flops).factor_per_2_years, len(flops),
                    "fp32 until 2014, fp16 from the P100, fp8 from the H100"),
        Sensitivity("peak_flops", "the same GPUs in fp32 only",
                    fit_points(fp32_gpus).factor_per_2_years, len(fp32_gpus),
                    "leaves out tensor cores and narrower formats"),
        Sensitivity("peak_flops", f"start at the {cpu_start.name} CPU ({cpu_start.date.year}), "
                    "then the GPUs", fit_points([cpu_start] + flops).factor_per_2_years,
                    len(flops) + 1, "the paper's figure starts from this CPU"),
        Sensitivity("peak_flops", f"the {cpu_start.name}, then the GPUs in fp32 only",
                    fit_points(fp32).factor_per_2_years, len(fp32), "both choices at once"),
        Sensitivity("peak_flops", "flagship GPUs, to 2024",
                    growth_per_2_years("peak_flops"), len(history("peak_flops")),
                    "adds the B200 (fp8)"),
    ]


def sensitivity() -> list[Sensitivity]:
    """Every choice-and-rate row: model size, then peak compute."""
    return model_size_sensitivity() + compute_sensitivity()
