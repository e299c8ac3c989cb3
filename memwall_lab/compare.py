"""`memwall-lab compare`: set a class's machines side by side (for instructors).

Each student runs `memwall-lab report --json <name>.json` (lesson 00) and hands
in the file; `memwall-lab compare reports/ --plot class.png` then prints one
table of every machine, sorted by all-core STREAM triad bandwidth, and draws
every machine's fp64 roofline beside a bandwidth-vs-latency scatter. Reports
with a GPU part (`memwall-lab report` on a GPU machine) get a second table of
their GPUs and a third panel of measured GPU rooflines.

Files are read as data only, through `report.load` (size-capped,
schema-checked). A file that cannot be compared — not JSON, cut short, another
program's JSON, too large — costs one line naming it; the others are still
compared. A value a report lacks is shown as "?".

"All-core" triad is the triad entry measured with the most threads; the
roofline uses `report.roofs` (peak fp64 FLOP/s over the best triad bandwidth).
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from memwall_lab import gpu as gpu_module
from memwall_lab import report as report_module
from memwall_lab.units import format_rate

MAX_LABELLED_MACHINES = 8  # more than this: the rest are drawn thin and grey, unlabelled
_UNKNOWN = "?"
_MAX_CELL_CHARS = 32
MAX_COUNT = 10**6  # more cores, threads or batch than any report measures: a corrupt value


@dataclasses.dataclass(frozen=True)
class _Machine:
    """The numbers of one report that the table and the figure need; None where unknown."""

    label: str
    cpu: str | None
    physical_cores: int | None
    logical_cores: int | None
    triad_all_bytes_per_s: float | None
    triad_one_bytes_per_s: float | None
    dram_latency_s: float | None
    fp64_flops_per_s: float | None
    ridge_flops_per_byte: float | None
    quick: bool
    roof: object | None  # roofline.Roof named by the label, or None
    gpu_roof: object | None = None  # the measured GPU's roof (bf16 if measured), or None
    gpu_name: str | None = None
    gpu_turning_batch: int | None = None  # GEMV batch where decode turns compute-bound


def _one_line(text) -> str:
    """Any text as one printable line (file names and JSON strings come from students)."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())


def _short_cpu(name: str) -> str:
    """'Intel(R) Core(TM) i7-1165G7 @ 2.80GHz' -> 'Intel Core i7-1165G7' (fits a table)."""
    name = re.sub(r"\((R|TM|C)\)|\bCPU\b|@ *[\d.]+ *GHz|\s(w/|with) .*$", " ", name,
                  flags=re.IGNORECASE)
    return " ".join(name.split())


def _positive(value) -> float | None:
    """`value` as a positive finite float, else None (an int too big for a float included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # JSON allows 10**400; a float does not
        return None
    return value if math.isfinite(value) and value > 0 else None


def _count(value) -> int | None:
    """`value` if a plausible count (cores, threads, a batch), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_COUNT else None


def _get(mapping, *keys):
    """mapping[k1][k2]... or None if any level is missing or not a dict."""
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _triads(report: dict) -> list[tuple[int, float]]:
    """(threads, best bytes/s) of every usable triad entry."""
    entries = report.get("bandwidth")
    if not isinstance(entries, list):
        return []
    found = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("kernel") == "triad":
            threads, rate = _count(entry.get("threads")), _positive(entry.get("best_bytes_per_s"))
            if threads and rate:
                found.append((threads, rate))
    return found


def _fp64_roof(report: dict, label: str):
    try:
        roofs = report_module.roofs(report)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None
    for roof in roofs:
        if roof.name.endswith("fp64"):
            return dataclasses.replace(roof, name=label)
    return None


def _gpu_roof(report: dict, label: str):
    """The report's measured GPU roof (bf16, else fp16, else fp32), or None."""
    roofs = {roof.name.rsplit(", ", 1)[-1]: roof
             for roof in gpu_module.roofs(report.get("gpu"), f"{label} GPU")}
    return next((roofs[dtype] for dtype in ("bf16", "fp16", "fp32") if dtype in roofs), None)


def _machine(label: str, report: dict) -> _Machine:
    triads = _triads(report)
    triad_all = max(triads)[1] if triads else None  # most threads, then fastest
    one_thread = [rate for threads, rate in triads if threads == 1]
    peak = _positive(_get(report, "peak_flops", "fp64", "best_flops_per_s"))
    if peak and triads:  # as report.collect defines it: over the best triad of any thread count
        ridge = peak / max(rate for _, rate in triads)
    else:
        ridge = _positive(_get(report, "ridge_flops_per_byte", "fp64"))
    cpu = _get(report, "machine", "cpu_model")
    gpu_name = _get(report, "gpu", "device", "name")
    return _Machine(
        label=label,
        cpu=(_short_cpu(_one_line(cpu)) or None) if isinstance(cpu, str) else None,
        physical_cores=_count(_get(report, "machine", "physical_cores")),
        logical_cores=_count(_get(report, "machine", "logical_cores")),
        triad_all_bytes_per_s=triad_all,
        triad_one_bytes_per_s=max(one_thread) if one_thread else None,
        dram_latency_s=_positive(_get(report, "latency_by_level", "dram", "best_s")),
        fp64_flops_per_s=peak,
        ridge_flops_per_byte=ridge,
        quick=report.get("quick") is True,
        roof=_fp64_roof(report, label),
        gpu_roof=_gpu_roof(report, label),
        gpu_name=(_one_line(gpu_name) or None) if isinstance(gpu_name, str) else None,
        gpu_turning_batch=_count(_get(report, "gpu", "gemv_turning_batch")),
    )


def _check_paths(paths) -> list[Path]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise ValueError("paths must be a list of files or directories, not a single "
                         f"{type(paths).__name__}: wrap it in a list, e.g. [{str(paths)!r}]")
    try:
        paths = list(paths)
    except TypeError:
        raise ValueError(f"paths must be a list of files or directories, got "
                         f"{type(paths).__name__}") from None
    if not paths:
        raise ValueError("give at least one report file or directory of *.json reports")
    for path in paths:
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise ValueError(f"each path must be a non-empty str or Path, got {path!r}")
    return [Path(path) for path in paths]


def collect_reports(paths: Iterable) -> tuple[list[tuple[Path, dict]], list[str]]:
    """Read report files (or every `*.json` in a directory) as data.

    Returns (reports, problems): reports as (path, report dict) pairs in the order
    found, each file once; problems as one line per file or directory that could
    not be compared, naming it and saying why.
    """
    reports, problems, seen = [], [], set()
    for path in _check_paths(paths):
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                problems.append(_one_line(f"{path}: directory has no *.json report files"))
        elif path.exists():
            files = [path]
        else:
            why = ("a symbolic link to nothing (or a symlink loop)" if path.is_symlink()
                   else "no such file or directory")
            problems.append(_one_line(f"{path}: {why}"))
            continue
        for file in files:
            try:
                key = file.resolve(strict=True)
            except RuntimeError:  # Python < 3.13 reports a symlink loop this way
                problems.append(_one_line(f"{file}: a symlink loop, not a report file"))
                continue
            except OSError as error:
                why = ("a symlink loop, not a report file" if error.errno == errno.ELOOP
                       else error.strerror or str(error))
                problems.append(_one_line(f"{file}: {why}"))
                continue
            if key in seen:
                continue
            seen.add(key)
            try:
                reports.append((file, report_module.load(file)))
            except (ValueError, OSError) as error:
                message = str(error)
                if not message.startswith(str(file)):
                    message = f"{file}: {message}"
                problems.append(_one_line(message))
            except RecursionError:
                problems.append(_one_line(f"{file}: JSON nested too deeply, "
                                          "not a memwall-lab report"))
    return reports, problems


def _check_reports(reports) -> list[tuple[Path, dict]]:
    if isinstance(reports, (str, bytes, dict)):
        raise ValueError("reports must be the list of (path, report) pairs that "
                         "collect_reports returns")
    try:
        reports = list(reports)
    except TypeError:
        raise ValueError("reports must be a list of (path, report) pairs, got "
                         f"{type(reports).__name__}") from None
    if not reports:
        raise ValueError("no reports to compare (collect_reports found none)")
    checked = []
    for item in reports:
        if not (isinstance(item, tuple) and len(item) == 2
                and isinstance(item[0], (str, os.PathLike)) and isinstance(item[1], dict)):
            raise ValueError(f"each report must be a (path, report dict) pair, got {item!r:.80}")
        if item[1].get("schema") != report_module.SCHEMA:
            raise ValueError(f"{item[0]}: not a memwall-lab report (read it with "
                             "collect_reports or report.load)")
        checked.append((Path(item[0]), item[1]))
    return checked


def _labels(paths: list[Path]) -> list[str]:
    """File stems; where two files share a stem, 'folder/stem' (and a number if still equal)."""
    stems = [_one_line(p.stem) or "?" for p in paths]
    labels = [f"{_one_line(p.parent.name)}/{s}" if stems.count(s) > 1 else s
              for p, s in zip(paths, stems)]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 and labels.count(label) == 1
                      else f"{label} ({seen[label]})")
    return unique


def _machines(reports) -> list[_Machine]:
    """One summary per report, sorted by all-core triad bandwidth (unknown last)."""
    reports = _check_reports(reports)
    labels = _labels([path for path, _ in reports])
    machines = [_machine(label, report) for label, (_, report) in zip(labels, reports)]
    return sorted(machines, key=lambda m: (m.triad_all_bytes_per_s is None,
                                           -(m.triad_all_bytes_per_s or 0), m.label))


def _fmt(value: float | None, scale: float, spec: str) -> str:
    return _UNKNOWN if value is None else format(value / scale, spec)


def _clip(text: str | None) -> str:
    if text is None:
        return _UNKNOWN
    return text if len(text) <= _MAX_CELL_CHARS else text[:_MAX_CELL_CHARS - 3] + "..."


def _aligned(header: tuple, units: tuple, rows: list[tuple]) -> list[str]:
    """Header, units, rule and rows: the first two columns left-aligned, numbers right."""
    widths = [max(len(row[i]) for row in (header, units, *rows)) for i in range(len(header))]

    def line(cells) -> str:
        text = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        text += [cell.rjust(width) for cell, width in zip(cells[2:], widths[2:])]
        return "  ".join(text).rstrip()

    return [line(header), line(units), "  ".join("-" * w for w in widths),
            *(line(row) for row in rows)]


def _dtype(roof) -> str:
    """'bf16' from a GPU roof named 'lab-1 GPU, bf16'."""
    return roof.name.rsplit(", ", 1)[-1]


def _gpu_rows(machines: list[_Machine]) -> list[tuple]:
    """One row per machine with a measured GPU: copy bandwidth, matmul peak, ridge, turn."""
    rows = []
    for m in machines:
        if m.gpu_roof is None:
            continue
        roof = m.gpu_roof
        rows.append((
            _clip(m.label + ("*" if m.quick else "")), _clip(m.gpu_name),
            format_rate(roof.bandwidth_bytes_per_s, "B/s"),
            f"{format_rate(roof.peak_flops_per_s, 'FLOP/s')} {_dtype(roof)}",
            _fmt(roof.ridge_flops_per_byte, 1, ".0f"),
            str(m.gpu_turning_batch) if m.gpu_turning_batch else _UNKNOWN,
        ))
    return rows


def table(reports) -> str:
    """A plain-text table of every machine, fastest all-core triad bandwidth first;
    below it a table of the GPUs, where any report measured one."""
    machines = _machines(reports)
    header = ("machine", "CPU", "cores", "triad all", "triad 1", "DRAM lat",
              "fp64 peak", "ridge fp64")
    units = ("", "", "phys/log", "GB/s", "GB/s", "ns", "GFLOP/s", "FLOP/byte")
    rows = []
    for m in machines:
        cores = (f"{m.physical_cores or _UNKNOWN}/{m.logical_cores or _UNKNOWN}"
                 if m.physical_cores or m.logical_cores else _UNKNOWN)
        rows.append((
            _clip(m.label + ("*" if m.quick else "")), _clip(m.cpu), cores,
            _fmt(m.triad_all_bytes_per_s, 1e9, ".1f"), _fmt(m.triad_one_bytes_per_s, 1e9, ".1f"),
            _fmt(m.dram_latency_s, 1e-9, ".0f"), _fmt(m.fp64_flops_per_s, 1e9, ".1f"),
            _fmt(m.ridge_flops_per_byte, 1, ".2f"),
        ))
    lines = _aligned(header, units, rows)
    gpu_rows = _gpu_rows(machines)
    if gpu_rows:
        lines += ["", "GPUs (device copy counts bytes read + written; ridge = matmul peak / copy)"]
        lines += _aligned(("machine", "GPU", "copy", "matmul peak", "ridge", "GEMV turns"),
                          ("", "", "", "", "FLOP/byte", "at batch"), gpu_rows)
        rows = rows + gpu_rows
    known = [m.triad_all_bytes_per_s for m in machines if m.triad_all_bytes_per_s]
    noun = "machine" if len(machines) == 1 else "machines"
    summary = f"{len(machines)} {noun}"
    if len(known) > 1:
        summary += (f"; all-core triad bandwidth spans {min(known) / 1e9:.1f}-"
                    f"{max(known) / 1e9:.1f} GB/s ({max(known) / min(known):.1f}x)")
    lines += ["", summary]
    if any(m.quick for m in machines):
        lines.append("* quick run (--quick / MEMWALL_QUICK=1): rough numbers, "
                     "ask for a full `memwall-lab report --json`")
    if any(value == _UNKNOWN for row in rows for value in row):
        lines.append("? not in that report (the machine hid it or the run skipped it)")
    return "\n".join(lines)


def _highlighted(machines: list[_Machine]) -> list[_Machine]:
    """All machines if few; else a spread from fastest to slowest (in table order)."""
    if len(machines) <= MAX_LABELLED_MACHINES:
        return machines
    last = len(machines) - 1
    picks = sorted({round(i * last / (MAX_LABELLED_MACHINES - 1))
                    for i in range(MAX_LABELLED_MACHINES)})
    return [machines[i] for i in picks]


def _draw_rooflines(ax, machines: list[_Machine]) -> None:
    import numpy as np

    from memwall_lab import roofline

    with_roof = [m for m in machines if m.roof is not None]
    if not with_roof:
        ax.text(0.5, 0.5, "no report has both a triad bandwidth and an fp64 peak",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_title("fp64 rooflines of the class")
        return
    shown = _highlighted(with_roof)
    ridges = [m.roof.ridge_flops_per_byte for m in with_roof]
    intensity_range = (min(0.05, min(ridges) / 4), max(ridges) * 8)
    crowded = len(shown) > 4  # ridge labels would overlap: put the ridge in the legend
    shown_ids = {id(m) for m in shown}
    others = [m for m in with_roof if id(m) not in shown_ids]
    if others:
        intensity = np.logspace(*np.log10(intensity_range), 200)
        for i, m in enumerate(others):
            ax.loglog(intensity, m.roof.attainable(intensity), color="0.75", lw=0.8, zorder=1,
                      label=f"{len(others)} other machines" if i == 0 else None)
    title = (f"fp64 rooflines of {len(with_roof)} machines" if len(with_roof) > 1
             else f"fp64 roofline of {with_roof[0].label}")
    roofs = [m.roof for m in shown]
    if crowded:
        roofs = [dataclasses.replace(r, name=f"{r.name} (ridge {r.ridge_flops_per_byte:.2g})")
                 for r in roofs]
    roofline.plot(roofs, ax=ax, title=title, intensity_range=intensity_range)
    if crowded:
        for text in list(ax.texts):
            text.remove()
    ax.set_ylabel("attainable fp64 performance (FLOP/s)")
    ax.legend(loc="lower right", fontsize=7 if crowded else 9,
              title="ridge in FLOP/byte" if crowded else None, title_fontsize=7)


def _draw_scatter(ax, machines: list[_Machine]) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    points = [m for m in machines if m.dram_latency_s and m.triad_all_bytes_per_s]
    missing = len(machines) - len(points)
    ax.set_title("Bandwidth vs DRAM latency")
    ax.set_xlabel("DRAM latency beyond an L1 hit (ns)")
    ax.set_ylabel("STREAM triad bandwidth (GB/s)")
    if not points:
        ax.text(0.5, 0.5, "no report has both a DRAM latency and a triad bandwidth",
                ha="center", va="center", transform=ax.transAxes)
        return
    labelled = {m.label for m in _highlighted(points)}
    for m in points:
        x = m.dram_latency_s * 1e9
        y_all = m.triad_all_bytes_per_s / 1e9
        if m.triad_one_bytes_per_s:
            y_one = m.triad_one_bytes_per_s / 1e9
            ax.plot([x, x], [y_one, y_all], color="0.6", lw=0.8, zorder=1)
            ax.plot(x, y_one, "o", mfc="none", color="C1", ms=6, zorder=2)
        ax.plot(x, y_all, "o", color="C0", ms=6, zorder=3)
        if m.label in labelled:
            ax.annotate(m.label, (x, y_all), textcoords="offset points", xytext=(5, 3),
                        fontsize=7 if len(points) > 4 else 8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers (20, 50, 100), not 2 x 10^1
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.plot([], [], "o", color="C0", label="all cores")
    ax.plot([], [], "o", mfc="none", color="C1", label="one thread")
    ax.legend(loc="best")
    if missing:
        ax.text(0.01, 0.01, f"{missing} machine(s) without a DRAM latency not shown",
                transform=ax.transAxes, fontsize=7, color="0.4")
    ax.margins(0.15)


def _draw_gpu_rooflines(ax, machines: list[_Machine]) -> None:
    from memwall_lab import roofline

    shown = _highlighted(machines)
    noun = "GPU" if len(machines) == 1 else "GPUs"
    roofline.plot([m.gpu_roof for m in shown], ax=ax,
                  title=f"measured rooflines of {len(machines)} {noun}")
    ax.set_ylabel("attainable GPU performance (FLOP/s)")


def figure(reports):
    """A matplotlib Figure: every machine's fp64 roofline, and bandwidth vs DRAM latency.

    Where reports carry a measured GPU, a third panel draws the GPUs' rooflines.
    """
    from matplotlib.figure import Figure

    from memwall_lab.plotting import caption, use_course_style

    machines = _machines(reports)
    use_course_style()
    gpus = [m for m in machines if m.gpu_roof is not None]
    fig = Figure(figsize=(19.5 if gpus else 13.0, 4.8))
    axes = fig.subplots(1, 3 if gpus else 2)
    _draw_rooflines(axes[0], machines)
    _draw_scatter(axes[1], machines)
    gpu_note = ""
    if gpus:
        _draw_gpu_rooflines(axes[2], gpus)
        gpu_note = (" Third: measured GPU roofs, matmul peak / device copy bandwidth "
                    "(bytes read + written).")
    fig.tight_layout()
    caption(fig, "Left: ridge = fp64 peak / triad bandwidth; a kernel left of a machine's "
                 f"ridge is memory-bound there. {'Middle' if gpus else 'Right'}: one thread "
                 "(open) vs all cores (filled): "
                 "one core cannot keep enough bytes in flight to fill the memory bus." + gpu_note)
    return fig


def run(paths, plot_path=None, out: Callable[[str], object] = print) -> int:
    """Compare report files: print problems and the table, write a PNG if asked.

    Returns 0 if at least one report was compared, else 1.
    """
    if not callable(out):
        raise ValueError(f"out must be a function that takes one line of text, got {out!r}")
    if plot_path is not None:
        if not isinstance(plot_path, (str, os.PathLike)) or not str(plot_path).strip():
            raise ValueError(f"plot_path must be a file name ending in .png, got {plot_path!r}")
        plot_path = Path(plot_path)
        if plot_path.suffix.lower() != ".png":
            raise ValueError(f"{plot_path}: the plot is a PNG, give a name ending in .png")
        if not plot_path.parent.is_dir():
            raise ValueError(f"{plot_path}: folder {plot_path.parent} does not exist")
    reports, problems = collect_reports(paths)
    for problem in problems:
        out(f"skipped {problem}")
    if not reports:
        out("no memwall-lab reports to compare: give report files or folders of them "
            "(each student runs `memwall-lab report --json <name>.json`)")
        return 1
    if problems:
        out("")
    out(table(reports))
    if plot_path is not None:
        fig = figure(reports)
        fig.savefig(plot_path, dpi=120, bbox_inches="tight")
        out(f"wrote {plot_path}")
    return 0
