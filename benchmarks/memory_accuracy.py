"""Accuracy benchmark: memwall_lab's bandwidth and latency against a small C reference.

Builds `stream_ref.c` (STREAM-style OpenMP copy and triad) and `chase_ref.c` (a
pointer chase) with the system C compiler, runs them and memwall_lab in the same
run on the same machine, and prints a table of ratios against the course's
accuracy targets:

- bandwidth, all usable CPUs: copy >= 0.95 x the C reference; the triad >= 0.95 x
  C doing numpy's same two passes per block (`triad_2pass`: a = q*c, then a += b).
  No numpy triad can fuse the multiply and the add (numpy has no fused
  multiply-add ufunc), so the ratio to C's fused loop is printed beside it, with
  what fusion is worth in C on this machine, as information, not as a target;
- latency at a 256 MiB working set within +-15 % of the C reference;
- the L2 and L3 steps: for each cache size C the OS reports, memwall_lab's latency
  at 2*C is at least 1.3x its latency at C/2.

This is a report, not a test: it exits 0 whether targets pass or miss (and when
it skips for want of a C compiler), and 1 only when the benchmark could not run.
Run from the repository root: `python benchmarks/memory_accuracy.py [--quick]`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from memwall_lab import machine, machine_state, measure  # noqa: E402
from memwall_lab.units import format_bytes  # noqa: E402

BANDWIDTH_TARGET = 0.95  # memwall_lab / C, at least
LATENCY_TOLERANCE = 0.15  # |memwall_lab / C - 1|, at most
LATENCY_TARGET_BYTES = 256 * 1024**2
STEP_TARGET = 1.3  # latency(2*C) / latency(C/2), at least
STEP_LEVELS = ("l2", "l3")
RUN_TIMEOUT_S = 600


class BenchmarkError(RuntimeError):
    """The benchmark could not run (build failed, a reference crashed, a measurement failed)."""


@dataclass(frozen=True)
class Settings:
    """How much work each side does; `--quick` picks the smaller set."""

    bandwidth_rounds: int  # C and memwall_lab alternate this many times; best of each kept
    stream_ntimes: int  # repeats inside stream_ref (the first discarded)
    chase_loads: int  # dependent loads per timed repeat in chase_ref
    chase_repeats: int
    ladder_factor: int  # latency working sets grow by this factor from 4 KiB


FULL = Settings(bandwidth_rounds=3, stream_ntimes=10, chase_loads=1 << 20, chase_repeats=5,
                ladder_factor=2)
QUICK = Settings(bandwidth_rounds=2, stream_ntimes=4, chase_loads=1 << 18, chase_repeats=3,
                 ladder_factor=4)


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    quantity: str
    ours: str
    reference: str
    ratio: str
    target: str
    result: str


# --- building and running the C reference -------------------------------------------------


def find_compiler() -> str | None:
    """Path of the C compiler: $CC if set, else the first of cc, gcc, clang on PATH."""
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def compiler_version(compiler: str) -> str:
    """First line of `compiler --version`, or '?' if it says nothing."""
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.splitlines()[0].strip() if out.strip() else "?"


def compile_c(compiler: str, source: Path, output: Path, flags: list[str]) -> str | None:
    """Compile `source` to `output`; return None on success, else the compiler's message."""
    command = [compiler, *flags, str(source), "-o", str(output)]
    print("  $ " + " ".join(command))
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    return None if result.returncode == 0 else (result.stderr.strip() or "compiler failed")


def run_reference(command: list[str], threads: int | None = None) -> list[list[str]]:
    """Run a reference binary; return its stdout split into words, line by line."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env,
                                timeout=RUN_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise BenchmarkError(f"{Path(command[0]).name} could not run: {error}") from error
    if result.returncode != 0:
        raise BenchmarkError(f"{Path(command[0]).name} exited with {result.returncode}: "
                             f"{result.stderr.strip()}")
    return [line.split() for line in result.stdout.splitlines() if line.strip()]


C_KERNELS = ("copy", "triad", "triad_2pass")


def c_stream(binary: Path, elements: int, threads: int, ntimes: int) -> dict[str, float]:
    """Best copy, triad and triad_2pass rates in bytes/s from stream_ref with `threads`
    OpenMP threads."""
    values = {words[0]: float(words[1])
              for words in run_reference([str(binary), str(elements), str(ntimes),
                                          str(measure.TRIAD_BLOCK_ELEMENTS)], threads)}
    ran = int(values.get("threads", -1))
    if ran != threads:
        raise BenchmarkError(f"stream_ref ran {ran} threads, not {threads}")
    missing = [kernel for kernel in C_KERNELS if kernel not in values]
    if missing:
        raise BenchmarkError(f"stream_ref printed no {', '.join(missing)} line")
    return {kernel: values[kernel] for kernel in C_KERNELS}


def c_latency(binary: Path, sizes: list[int], settings: Settings) -> dict[int, float]:
    """Seconds per dependent load at each working-set size, from chase_ref."""
    command = [str(binary), str(settings.chase_loads), str(settings.chase_repeats),
               *map(str, sizes)]
    return {int(size): float(ns) * 1e-9 for size, ns in run_reference(command)}


# --- memwall_lab side ---------------------------------------------------------------------


def ours_stream(array_bytes: int, threads: int, quick: bool) -> dict[str, float]:
    """Best copy and triad rates in bytes/s from memwall_lab.measure.bandwidth."""
    return {kernel: measure.bandwidth(kernel, threads=threads, array_bytes=array_bytes,
                                      quick=quick).best
            for kernel in ("copy", "triad")}


def ours_latency(sizes: list[int], quick: bool) -> dict[int, float]:
    """Seconds per load (loop overhead subtracted) at each size, from latency_curve."""
    curve = measure.latency_curve(sizes, quick=quick, progress=False)
    return {m.size_bytes: m.best for m in curve}


# --- what to measure ----------------------------------------------------------------------


def line_round(size: int) -> int:
    """`size` rounded down to whole 64-byte lines (as both chases do)."""
    return size // measure.CACHE_LINE_BYTES * measure.CACHE_LINE_BYTES


def latency_sizes(caches: dict[str, int | None], factor: int) -> list[int]:
    """The 4 KiB..256 MiB ladder plus C/2 and 2*C for each reported L2/L3 size C,
    keeping only sizes within memwall_lab's memory budget."""
    budget = measure.memory_budget_bytes()
    sizes, size = set(), measure.BASELINE_BYTES
    while size <= LATENCY_TARGET_BYTES:
        sizes.add(size)
        size *= factor
    sizes.add(LATENCY_TARGET_BYTES)
    for level in STEP_LEVELS:
        if caches.get(level):
            sizes.update((line_round(caches[level] // 2), line_round(2 * caches[level])))
    return sorted(s for s in sizes
                  if s >= measure.BASELINE_BYTES and measure.chase_peak_bytes(s) <= budget)


# --- comparing ----------------------------------------------------------------------------


def gbps(value: float) -> str:
    """Bytes/s as GB/s text."""
    return f"{value / 1e9:.1f} GB/s"


def ns(value: float) -> str:
    """Seconds as ns text."""
    return f"{value * 1e9:.1f} ns"


def times(ratio: float) -> str:
    """A ratio as '1.85x' ('inf' or 'nan' where it has no finite value)."""
    return f"{ratio:.2f}x" if math.isfinite(ratio) else str(ratio)


def step_ratio(low: float, high: float) -> float:
    """high / low, infinite when low is 0 (a latency at or below the subtracted overhead)."""
    if low > 0:
        return high / low
    return math.inf if high > 0 else math.nan


# (row label, memwall_lab kernel, C kernel, held to BANDWIDTH_TARGET?)
BANDWIDTH_COMPARISONS = (
    ("copy", "copy", "copy", True),
    ("triad vs C in two passes", "triad", "triad_2pass", True),
    ("triad vs C's fused loop", "triad", "triad", False),  # no numpy triad can fuse
)


def bandwidth_rows(ours: dict[str, float], ref: dict[str, float], threads: int) -> list[Row]:
    """Copy, and the triad against C's same two passes: each must reach BANDWIDTH_TARGET.

    The triad against C's fused loop is printed too, as information (target "-").
    """
    rows = []
    for label, kernel, reference, held in BANDWIDTH_COMPARISONS:
        ratio = ours[kernel] / ref[reference]
        result = ("PASS" if ratio >= BANDWIDTH_TARGET else "MISS") if held else "info"
        rows.append(Row(f"{label}, {threads} threads", gbps(ours[kernel]),
                        gbps(ref[reference]), f"{ratio:.2f}",
                        f">= {BANDWIDTH_TARGET:.2f}" if held else "-", result))
    return rows


def print_fusion(ref: dict[str, float]) -> None:
    """Print what fusing the triad's two passes is worth in C on this machine."""
    print(f"\nThe C triad done in two passes per block runs at "
          f"{ref['triad_2pass'] / ref['triad']:.2f}x its fused loop here: that share of"
          "\nthe fused rate is what a numpy triad (multiply, then add) can reach, because"
          "\nnumpy has no fused multiply-add. The target row, 'triad vs C in two passes',"
          "\nmeasures memwall_lab's own overhead on top; the fused-loop row is information.")


def latency_row(ours: dict[int, float], ref: dict[int, float]) -> Row:
    """Latency at 256 MiB: memwall_lab within LATENCY_TOLERANCE of the C reference."""
    label = f"latency at {format_bytes(LATENCY_TARGET_BYTES)}"
    target = f"{1 - LATENCY_TOLERANCE:.2f}-{1 + LATENCY_TOLERANCE:.2f}"
    if LATENCY_TARGET_BYTES not in ours or LATENCY_TARGET_BYTES not in ref:
        return Row(label, "-", "-", "-", target, "SKIP (over memory budget)")
    ratio = ours[LATENCY_TARGET_BYTES] / ref[LATENCY_TARGET_BYTES]
    return Row(label, ns(ours[LATENCY_TARGET_BYTES]), ns(ref[LATENCY_TARGET_BYTES]),
               f"{ratio:.2f}", target,
               "PASS" if abs(ratio - 1) <= LATENCY_TOLERANCE else "MISS")


def step_rows(ours: dict[int, float], ref: dict[int, float],
              caches: dict[str, int | None]) -> list[Row]:
    """For each reported L2/L3 size C: memwall_lab's latency(2C) / latency(C/2) >= STEP_TARGET.

    The ratio column is memwall_lab's step; the C reference's step is shown beside it
    to tell a machine without a clear step from a measurement that misses one."""
    rows = []
    for level in STEP_LEVELS:
        size = caches.get(level)
        label = f"{level.upper()} step ({format_bytes(size) if size else '?'})"
        target = f">= {STEP_TARGET:.1f}x"
        low, high = (line_round(size // 2), line_round(2 * size)) if size else (0, 0)
        if not size or low not in ours or high not in ours:
            why = "size not reported" if not size else "over memory budget"
            rows.append(Row(label, "-", "-", "-", target, f"SKIP ({why})"))
            continue
        mine, theirs = step_ratio(ours[low], ours[high]), step_ratio(ref[low], ref[high])
        result = "PASS" if mine >= STEP_TARGET else "MISS"
        if result == "MISS" and theirs < STEP_TARGET:  # no clear step on this machine
            result += " (C reference too)"
        # The rise in ns shows whether a large ratio is a real step or two tiny numbers.
        rows.append(Row(label, f"{ns(ours[low])} -> {ns(ours[high])} "
                               f"({(ours[high] - ours[low]) * 1e9:+.1f})",
                        f"{ns(ref[low])} -> {ns(ref[high])} "
                        f"({(ref[high] - ref[low]) * 1e9:+.1f}, {times(theirs)})",
                        times(mine), target, result))
    return rows


# --- printing -----------------------------------------------------------------------------


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print a plain-text table with columns padded to their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for i, line in enumerate([header, *rows]):
        cells = (str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip())
        if i == 0:
            print("  ".join("-" * width for width in widths))


def transparent_hugepages() -> str:
    """The Linux THP mode (the bracketed word), or 'n/a' where there is none."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "n/a"
    chosen = [word.strip("[]") for word in text.split() if word.startswith("[")]
    return chosen[0] if chosen else "n/a"


def print_machine(info: machine.MachineInfo, compiler: str | None, threads: int) -> None:
    """Print what was measured, so a result can be recorded with its machine."""
    caches = ", ".join(f"{level} {format_bytes(size) if size else '?'}"
                       for level, size in info.cache_bytes.items())
    print("Machine")
    print(f"  CPU:        {info.cpu_model or '?'}")
    print(f"  cores:      {info.physical_cores or '?'} physical, "
          f"{info.logical_cores or '?'} logical; {threads} threads used")
    print(f"  caches:     {caches} (as the OS reports them)")
    ram = format_bytes(info.ram_total_bytes) if info.ram_total_bytes else "?"
    print(f"  RAM:        {ram}; transparent huge pages: {transparent_hugepages()}")
    print(f"  OS:         {info.os}; Python {info.python} ({platform.python_implementation()})")
    print(f"  numpy:      {info.numpy}; BLAS {info.blas or '?'}")
    print(f"  C compiler: {compiler_version(compiler) if compiler else 'none found'}")


def print_curve(ours: dict[int, float], ref: dict[int, float]) -> None:
    """Print both latency curves side by side."""
    print("\nLatency curve. memwall_lab subtracts its loop time over a 4 KiB chain, an L1 hit"
          "\nincluded; the C chase reports the full load-to-use latency, so the ratio is taken"
          "\nagainst C minus its own 4 KiB (L1 hit) latency.")
    l1_hit = ref.get(measure.BASELINE_BYTES, 0.0)
    rows = []
    for size in sorted(set(ours) & set(ref)):
        beyond = ref[size] - l1_hit
        # Under 1 ns both numbers are timer noise around an L1 hit: no ratio.
        ratio = f"{ours[size] / beyond:.2f}" if beyond >= 1e-9 else "-"
        rows.append((format_bytes(size), ns(ours[size]), ns(ref[size]), ns(beyond), ratio))
    print_table(("working set", "memwall_lab", "C reference", "C - L1 hit", "ratio"), rows)


# --- the run ------------------------------------------------------------------------------


def build(compiler: str, build_dir: Path) -> tuple[Path | None, Path]:
    """Build both references; return (stream binary or None without OpenMP, chase binary)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    print("\nBuilding the C reference")
    chase = build_dir / "chase_ref"
    error = compile_c(compiler, HERE / "chase_ref.c", chase, ["-O2"])
    if error:
        raise BenchmarkError(f"could not build chase_ref.c:\n{error}")
    stream = build_dir / "stream_ref"
    error = compile_c(compiler, HERE / "stream_ref.c", stream, ["-O2", "-fopenmp"])
    if error:
        print(f"  stream_ref.c did not build with -fopenmp, so bandwidth is skipped:\n{error}")
        return None, chase
    return stream, chase


def compare_bandwidth(stream: Path, threads: int, settings: Settings,
                      quick: bool) -> tuple[dict[str, float], dict[str, float]]:
    """Alternate the C reference and memwall_lab (C first, then memwall_lab first, ...);
    keep the best rate of each kernel, so a busy moment hits both sides alike."""
    array_bytes = measure.fitted_array_bytes(quick=False)  # 4x the last cache, memory allowing
    measure.check_fits(3 * array_bytes, "the bandwidth comparison")
    elements = array_bytes // measure.WORD_BYTES
    print(f"\nBandwidth: 3 arrays of {format_bytes(array_bytes)}, {threads} threads, "
          f"{settings.bandwidth_rounds} round(s) alternating C and memwall_lab")
    ours = {"copy": 0.0, "triad": 0.0}
    ref = dict.fromkeys(C_KERNELS, 0.0)
    def run_c() -> None:
        for kernel, rate in c_stream(stream, elements, threads, settings.stream_ntimes).items():
            ref[kernel] = max(ref[kernel], rate)

    def run_ours() -> None:
        for kernel, rate in ours_stream(array_bytes, threads, quick).items():
            ours[kernel] = max(ours[kernel], rate)

    for number in range(settings.bandwidth_rounds):
        for side in (run_c, run_ours) if number % 2 == 0 else (run_ours, run_c):
            side()
    return ours, ref


def run(args: argparse.Namespace) -> int:
    """Build, measure both sides, print the report; return the exit status."""
    settings = QUICK if args.quick else FULL
    info = machine.describe()
    compiler = find_compiler()
    print_machine(info, compiler, args.threads)
    print(f"  {machine_state.assess().line()}")
    if compiler is None:
        print("\nSKIPPED: no C compiler found (set CC, or install cc/gcc/clang); "
              "the benchmark needs one to build its reference.")
        return 0
    stream, chase = build(compiler, args.build_dir)
    rows: list[Row] = []
    if stream is not None:
        ours_bw, ref_bw = compare_bandwidth(stream, args.threads, settings, args.quick)
        rows += bandwidth_rows(ours_bw, ref_bw, args.threads)
        print_fusion(ref_bw)
    else:
        rows.append(Row("copy/triad bandwidth", "-", "-", "-", f">= {BANDWIDTH_TARGET:.2f}",
                        "SKIP (no OpenMP)"))
    sizes = latency_sizes(info.cache_bytes, settings.ladder_factor)
    print(f"\nLatency: {len(sizes)} working sets, {format_bytes(sizes[0])} to "
          f"{format_bytes(sizes[-1])}, C reference then memwall_lab")
    ref_lat = c_latency(chase, sizes, settings)
    ours_lat = ours_latency(sizes, args.quick)
    rows.append(latency_row(ours_lat, ref_lat))
    rows += step_rows(ours_lat, ref_lat, info.cache_bytes)
    print_curve(ours_lat, ref_lat)
    print("\nAccuracy targets")
    print_table(("quantity", "memwall_lab", "C reference", "ratio", "target", "result"),
                [tuple(vars(row).values()) for row in rows])
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer sizes and repeats (about a third of the time)")
    parser.add_argument("--threads", type=int, default=machine.usable_cpus(),
                        help="threads for bandwidth, both sides (default: the CPUs this "
                             "process may use: affinity and CPU quota)")
    parser.add_argument("--build-dir", type=Path, default=HERE / "bin",
                        help="where the C reference is built (default: benchmarks/bin)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when the report was printed (or skipped), 1 when it could not run."""
    args = parse_args(argv)
    try:
        return run(args)
    except (BenchmarkError, ValueError, OSError) as error:
        print(f"\nThe benchmark could not run: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
