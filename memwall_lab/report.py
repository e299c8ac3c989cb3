"""`memwall-lab report`: measure this machine, print a table, save JSON (lesson 00).

The JSON file is how a class compares machines, so its layout is a schema with
a version (`SCHEMA`, `SCHEMA_VERSION`); `load` reads a file back and checks it.

Schema, version 1 (all numbers SI: bytes, seconds, bytes/s, FLOP/s):

    {"schema": "memwall-lab-report", "version": 1, "created": ISO-8601 time,
     "quick": bool, "machine": {cpu_model, physical_cores, logical_cores,
        cache_bytes: {l1d, l2, l3}, ram_total_bytes, ram_available_bytes, os,
        python, numpy, blas, missing, usable_cpus, cpu_limit},
     "machine_state": {verdict: "quiet"|"busy"|"too busy to measure", usable_cpus,
        other_cpus_busy, load_per_cpu, steal_fraction, calibration_spread, reasons: [str]}
        (memwall_lab.machine_state, read before measuring),
     "threads": the many-thread count: usable CPUs (a CPU quota or affinity counts),
     "bandwidth": [{kernel, threads, array_bytes, best_bytes_per_s, median_bytes_per_s,
        below_4x_last_cache}],
     "latency": [{size_bytes, best_s, median_s}],
     "latency_by_level": {"l1d"|"l2"|"l3"|"dram": {size_bytes, best_s}},
     "peak_flops": {"fp64"|"fp32": {n, threads (the BLAS's, None if unseen),
        best_flops_per_s, median_flops_per_s, n_reduced_for_memory}},
     "ridge_flops_per_byte": {"fp64"|"fp32": peak / best triad bandwidth (any thread count)},
     "notes": {"threads"|"bandwidth"|"peak_flops": one sentence}, only where one applies:
        a CPU quota or affinity limits the threads; the bandwidth arrays were under 4x the
        last-level cache (the rates read cache, not DRAM alone); n shrank to fit memory,
     "gpu": None, or the GPU part with its own version (memwall_lab.gpu):
        {"gpu_schema_version": 1, "device": {backend, name, memory_bytes, driver},
         "hardware_match": dataset name or None,
         "copy"|"triad": {array_bytes, counting, best_bytes_per_s, median_bytes_per_s},
         "host_device": [{direction, pinned, size_bytes, best_bytes_per_s, median_bytes_per_s}],
         "matmul": {"fp32"|"bf16"|"fp16": {n, best_flops_per_s, median_flops_per_s}},
         "gemv": [{batch, d, dtype, intensity_flops_per_byte, best_flops_per_s, best_s}],
         "gemv_turning_batch": int or None,
         "ridge_flops_per_byte": {dtype: matmul peak / device copy bandwidth}}
        or, if the GPU failed mid-run, {gpu_schema_version, device, hardware_match, error}.
        Reports written before the GPU part existed have no "gpu" key and still load;
        so do reports without "machine_state", "threads", "notes" or the newer entry keys.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

from memwall_lab import gpu, machine, machine_state, measure
from memwall_lab.progress import Progress
from memwall_lab.units import format_bytes, format_rate, format_seconds

SCHEMA = "memwall-lab-report"
SCHEMA_VERSION = 1
MAX_REPORT_BYTES = 1024**2  # a real report is a few KiB; refuse anything huge
REQUIRED_KEYS = ("machine", "bandwidth", "latency", "peak_flops", "ridge_flops_per_byte")
# Below this, a latency beyond an L1 hit is inside the Python loop's own work (lesson 01):
# the table says "< 1 ns" rather than print timer noise as a cache's latency.
LATENCY_RESOLUTION_S = 1e-9


def _bandwidth_entry(result: measure.Measurement) -> dict:
    return {
        "kernel": result.kernel,
        "threads": result.threads,
        "array_bytes": result.size_bytes,
        "best_bytes_per_s": result.best,
        "median_bytes_per_s": result.median,
        "below_4x_last_cache": bool(result.details.get("below_4x_last_cache")),
    }


def threads_note(threads: int, logical_cores: int | None, cpu_limit: str | None) -> str | None:
    """Why the many-thread runs use fewer threads than logical CPUs, or None."""
    if not cpu_limit:
        return None
    return f"{threads} of {logical_cores or '?'} logical CPUs used: {cpu_limit}"


def bandwidth_note(results: list[measure.Measurement]) -> str | None:
    """What the bandwidth rates read where the arrays were under 4x the last-level cache."""
    small = [r for r in results if r.details.get("below_4x_last_cache")]
    if not small:
        return None
    array_bytes = min(r.size_bytes for r in small)
    cache_bytes = small[0].details.get("last_level_cache_bytes") or 0
    arrays = max(r.details.get("arrays", 1) for r in small)
    if arrays * array_bytes <= cache_bytes:
        return (f"bandwidth arrays fit in cache ({arrays} x {format_bytes(array_bytes)} "
                f"<= {format_bytes(cache_bytes)} last-level cache): these rates read cache, "
                "not DRAM")
    return (f"bandwidth arrays are under 4x the last-level cache ({format_bytes(array_bytes)} "
            f"< 4 x {format_bytes(cache_bytes)}): these rates read partly "
            "cache, not DRAM alone")


def peak_note(results: dict[str, measure.Measurement]) -> str | None:
    """What the peak reads where the matrices shrank to fit the memory budget."""
    sizes = ", ".join(f"{dtype} n={result.details['n']}" for dtype, result in results.items()
                      if result.details.get("n_reduced_for_memory"))
    if not sizes:
        return None
    return (f"matmul shrunk to fit the memory budget ({sizes}): peak FLOP/s may read below "
            "the BLAS plateau")


def latency_by_level(curve: list[dict], caches: dict) -> dict:
    """Pick one latency per memory level from the curve (sizes in bytes, times in s).

    Each cache level gets the measured working set nearest (on a log scale) to the
    middle between the previous level's size and its own - well inside it, since
    caches are shared and rarely usable to the last byte; L1 gets the largest set at
    most half its size. DRAM is the largest set, if at least 4x the largest cache.
    An empty curve gives an empty dict (nothing measured, no level to name).
    """
    if not curve:
        return {}
    by_level, previous = {}, 0
    for level in machine.CACHE_LEVELS:
        size = caches.get(level)
        if not size:
            continue
        inside = [p for p in curve if previous < p["size_bytes"] <= size // 2]
        if inside:
            middle = math.sqrt(previous * size) if previous else size / 2
            # Ties (a middle exactly between two sizes) go to the smaller set.
            point = min(inside, key=lambda p: round(abs(math.log(p["size_bytes"] / middle)), 9))
            by_level[level] = {"size_bytes": point["size_bytes"], "best_s": point["best_s"]}
        previous = size
    largest = max(curve, key=lambda p: p["size_bytes"])
    if largest["size_bytes"] >= 4 * max(previous, 1):
        by_level["dram"] = {"size_bytes": largest["size_bytes"], "best_s": largest["best_s"]}
    return by_level


def collect(quick: bool | None = None, progress: bool = True) -> dict:
    """Measure this machine and return the report as a JSON-ready dict (schema above)."""
    quick = measure.quick_mode(quick)
    info = machine.describe()
    state = machine_state.assess()
    all_threads = info.usable_cpus or 1  # a pod's CPU quota, not the host's cores
    thread_counts = sorted({1, all_threads})
    measured = []
    with Progress(len(measure.STREAM_ARRAYS) * len(thread_counts), "bandwidth",
                  enabled=progress) as bar:
        for kernel in measure.STREAM_ARRAYS:
            for threads in thread_counts:
                measured.append(measure.bandwidth(kernel, threads=threads, quick=quick))
                bar.step(f"{kernel} x{threads}")
    bandwidth = [_bandwidth_entry(result) for result in measured]
    curve = [{"size_bytes": r.size_bytes, "best_s": r.best, "median_s": r.median}
             for r in measure.latency_curve(quick=quick, progress=progress)]
    # peak_flops holds the BLAS to the usable CPUs and shrinks n to fit the memory budget.
    peaks = {dtype: measure.peak_flops(dtype, quick=quick) for dtype in measure.FLOAT_DTYPES}
    peak = {dtype: {"n": result.details["n"], "threads": result.threads,
                    "best_flops_per_s": result.best, "median_flops_per_s": result.median,
                    "n_reduced_for_memory": bool(result.details.get("n_reduced_for_memory"))}
            for dtype, result in peaks.items()}
    triad_best = max(e["best_bytes_per_s"] for e in bandwidth if e["kernel"] == "triad")
    notes = {"threads": threads_note(all_threads, info.logical_cores, info.cpu_limit),
             "bandwidth": bandwidth_note(measured), "peak_flops": peak_note(peaks)}
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": info.as_dict(),
        "machine_state": state.as_dict(),
        "threads": all_threads,
        "bandwidth": bandwidth,
        "latency": curve,
        "latency_by_level": latency_by_level(curve, info.cache_bytes),
        "peak_flops": peak,
        "ridge_flops_per_byte": {d: p["best_flops_per_s"] / triad_best for d, p in peak.items()},
        "notes": {section: note for section, note in notes.items() if note},
        "gpu": gpu.report_part(quick=quick, progress=progress),
    }


def _maybe(value, formatter) -> str:
    return "unknown" if value is None else formatter(value)


def _state_line(report: dict) -> list[str]:
    """The machine state line of a report, or none for a report without one."""
    try:
        return [machine_state.MachineState.from_dict(report.get("machine_state")).line()]
    except (ValueError, TypeError, KeyError):
        return []


def render(report: dict) -> str:
    """Format a report as a plain-text table for the terminal."""
    info = report["machine"]
    notes = report.get("notes") if isinstance(report.get("notes"), dict) else {}
    threads = report.get("threads")  # reports before CPU quotas were read have none
    caches = ", ".join(f"{level.upper()} {_maybe(size, format_bytes)}"
                       for level, size in info["cache_bytes"].items())
    lines = [
        *_state_line(report),
        f"memwall-lab report ({'quick' if report['quick'] else 'full'}), {report['created']}",
        "",
        f"  CPU        {info['cpu_model'] or 'unknown'}",
        f"  cores      {info['physical_cores'] or '?'} physical, "
        f"{info['logical_cores'] or '?'} logical",
        *([f"  threads    {notes.get('threads') or f'{threads}, one per logical CPU'}"]
          if threads else []),
        f"  caches     {caches}",
        f"  RAM        {_maybe(info['ram_total_bytes'], format_bytes)} total, "
        f"{_maybe(info['ram_available_bytes'], format_bytes)} available",
        f"  software   {info['os']}, Python {info['python']}, numpy {info['numpy']}, "
        f"BLAS {info['blas'] or 'unknown'}",
        "",
        "  bandwidth (STREAM counting)       best          median",
    ]
    for entry in report["bandwidth"]:
        label = f"{entry['kernel']}, {entry['threads']} thread(s)"
        lines.append(f"    {label:<30} {format_rate(entry['best_bytes_per_s'], 'B/s'):>12}"
                     f"  {format_rate(entry['median_bytes_per_s'], 'B/s'):>12}")
    if notes.get("bandwidth"):
        lines.append(f"    note: {notes['bandwidth']}")
    lines += ["", "  latency beyond an L1 hit, by level (the Python loop hides a few ns:",
              "  cache levels read low, DRAM reads true; see lesson 01)"]
    for level, point in report["latency_by_level"].items():
        latency = point["best_s"]
        shown = format_seconds(latency) if latency >= LATENCY_RESOLUTION_S else "< 1 ns"
        lines.append(f"    {level.upper():<5} at {format_bytes(point['size_bytes']):>9}"
                     f"   {shown:>10}")
    lines += ["", "  peak FLOP/s (matmul)"]
    for dtype, point in report["peak_flops"].items():
        rate = format_rate(point["best_flops_per_s"], "FLOP/s")
        lines.append(f"    {dtype} n={point['n']:<6} {rate:>16}")
    if notes.get("peak_flops"):
        lines.append(f"    note: {notes['peak_flops']}")
    lines += ["", "  ridge point (peak FLOP/s / best triad bandwidth, any thread count)"]
    for dtype, ridge in report["ridge_flops_per_byte"].items():
        lines.append(f"    {dtype}  {ridge:8.1f} FLOP/byte")
    if report.get("gpu"):
        lines += gpu.render_lines(report["gpu"])
    return "\n".join(lines)


def save(report: dict, path: str | Path) -> Path:
    """Write a report as JSON to `path`; return the path."""
    path = Path(path)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def load(path: str | Path) -> dict:
    """Read a report JSON file back, checking its size, schema and version."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such report file")
    if path.stat().st_size > MAX_REPORT_BYTES:
        raise ValueError(f"{path}: larger than {format_bytes(MAX_REPORT_BYTES)}, "
                         "not a memwall-lab report")
    try:
        report = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM, as Notepad writes
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to be a report") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a memwall-lab report (schema must be {SCHEMA!r})")
    if report.get("version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: report version {report.get('version')!r}; this memwall-lab "
                         f"reads version {SCHEMA_VERSION}")
    missing = [key for key in REQUIRED_KEYS if key not in report]
    if missing:
        raise ValueError(f"{path}: report is missing {', '.join(missing)}")
    try:
        gpu.check_part(report.get("gpu"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return report


def roofs(report: dict) -> list:
    """This machine's rooflines (fp64, fp32) from a report, over the best triad bandwidth."""
    from memwall_lab.roofline import Roof

    triad_best = max(e["best_bytes_per_s"] for e in report["bandwidth"] if e["kernel"] == "triad")
    return [Roof(f"this machine, {dtype}", point["best_flops_per_s"], triad_best)
            for dtype, point in report["peak_flops"].items()]


def save_roofline(report: dict, path: str | Path) -> Path:
    """Draw this machine's roofline from a report into a PNG at `path`."""
    from matplotlib.figure import Figure

    from memwall_lab import gpu, roofline

    figure = Figure()
    title = f"Roofline of {report['machine']['cpu_model'] or 'this machine'}"
    machine_roofs = roofs(report) + gpu.roofs(report.get("gpu"), label="this GPU")
    roofline.plot(machine_roofs, ax=figure.subplots(), title=title)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    return Path(path)
