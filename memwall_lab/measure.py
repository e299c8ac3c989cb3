"""Real measurements of this machine's memory and compute (lessons 00-02).

- `bandwidth`: the four STREAM kernels (copy, scale, add, triad) over arrays at
  least 4x the last-level cache where memory allows, one thread or many (numpy
  releases the GIL, so threads working on slices run in parallel);
- `latency` / `latency_curve`: a dependent-load pointer chase over a random cycle;
- `mountain`: read bandwidth over working-set size x stride (the CS:APP mountain);
- `peak_flops`: matrix-multiply throughput at sizes that reach the BLAS plateau.

Threads default to the CPUs this process may use (`machine.usable_cpus`: a hub
pod's CPU quota or a CPU affinity mask, not the host's cores), and the BLAS is
held to that many while measuring.

Every result is a `Measurement` in SI units (bytes/s, seconds, FLOP/s) that keeps
its raw samples. Sizes adapt to the machine: no measurement uses more than a
quarter of the memory the OS reports available (the matmul size shrinks to fit
too). Quick mode (`MEMWALL_QUICK=1` or
`quick=True`) keeps each measurement to a few seconds.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import threadpool_info, threadpool_limits

from memwall_lab import machine, provenance
from memwall_lab.progress import Progress
from memwall_lab.timing import check_count, notice_spread, time_call
from memwall_lab.units import format_bytes, format_rate, format_seconds

QUICK_ENV = "MEMWALL_QUICK"
SAFE_RAM_FRACTION = 0.25  # never allocate more than this share of available memory
UNKNOWN_AVAILABLE_BYTES = 2 * 1024**3  # assumed when the OS will not say
CACHE_LINE_BYTES = 64
WORD_BYTES = 8  # float64 / int64
# 1 MiB blocks: a triad's intermediate stays in L2/L3, and each block is big enough that
# numpy's per-call cost (and threads queueing for the GIL between calls) stays small.
TRIAD_BLOCK_ELEMENTS = 128 * 1024
MAX_THREADS = 1024

# Arrays each STREAM kernel touches once per element; STREAM counts 8 bytes per array.
STREAM_ARRAYS = {"copy": 2, "scale": 2, "add": 3, "triad": 3}
# Which of STREAM's arrays a, b, c each kernel names (c = a, b = s c, c = a + b, a = b + s c).
STREAM_OPERANDS = {"copy": "ac", "scale": "bc", "add": "abc", "triad": "abc"}
STREAM_FILL = {"a": 1.0, "b": 2.0, "c": 0.0}
FLOAT_DTYPES = {"fp64": np.float64, "fp32": np.float32}


@dataclass(frozen=True)
class Measurement:
    """One measured quantity on this machine: raw samples in SI units plus what was run."""

    quantity: str  # "bandwidth", "latency" or "flops"
    kernel: str
    unit: str  # "B/s", "s" or "FLOP/s"
    samples: tuple[float, ...]
    size_bytes: int
    threads: int | None  # None: the BLAS would not say (peak_flops)
    details: dict = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        """True for rates (bandwidth, FLOP/s), False for times (latency)."""
        return self.unit != "s"

    def __post_init__(self) -> None:
        # A measurement never hides its spread: a busy machine is said (once per cell).
        if len(self.samples) >= 3:
            notice_spread(self.spread, f"{self.kernel} {self.quantity} readings",
                          stacklevel=5)  # past the dataclass __init__ to the caller
        if self.quantity == "latency":  # a working set read off a measured curve is measured
            provenance.remember(self.size_bytes)

    @property
    def best(self) -> float:
        """Best sample: the highest rate or the shortest time, in `unit`."""
        return provenance.mark(max(self.samples) if self.higher_is_better
                               else min(self.samples))

    @property
    def median(self) -> float:
        """Median sample in `unit`."""
        return provenance.mark(float(np.median(self.samples)))

    @property
    def spread(self) -> float:
        """Relative gap between best and median (0.1 = 10 %)."""
        return abs(self.best - self.median) / abs(self.best) if self.best else 0.0

    def _format(self, value: float) -> str:
        return format_seconds(value) if self.unit == "s" else format_rate(value, self.unit)

    def __repr__(self) -> str:
        threads = ("threads unknown" if self.threads is None
                   else f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        return (
            f"<{self.quantity} {self.kernel}, {format_bytes(self.size_bytes)}, {threads}: "
            f"best {self._format(self.best)}, median {self._format(self.median)}, "
            f"{len(self.samples)} samples>"
        )


def quick_mode(quick: bool | None = None) -> bool:
    """Return `quick` if given, else whether MEMWALL_QUICK is set to a true value."""
    if quick is not None:
        return bool(quick)
    return os.environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def memory_budget_bytes() -> int:
    """Most bytes one measurement may allocate: a quarter of available RAM."""
    available = machine.ram_available_bytes()
    if available is None:  # 0 is a real answer (a full container), not an unknown one
        available = UNKNOWN_AVAILABLE_BYTES
    return int(available * SAFE_RAM_FRACTION)


def check_fits(size_bytes: int, what: str) -> None:
    """Raise ValueError if allocating `size_bytes` would exceed the memory budget."""
    budget = memory_budget_bytes()
    if size_bytes > budget:
        raise ValueError(
            f"{what} needs {format_bytes(size_bytes)}, but at most {format_bytes(budget)} "
            f"(a quarter of the memory available now) may be used: choose a smaller size"
        )


ASSUMED_LAST_LEVEL_CACHE_BYTES = 8 * 1024**2  # where the OS does not report the cache sizes
STREAM_CACHE_MULTIPLE = 4  # STREAM's rule: each array at least 4x the last-level cache
MIN_STREAM_ARRAY_BYTES = STREAM_CACHE_MULTIPLE * ASSUMED_LAST_LEVEL_CACHE_BYTES  # 32 MiB


def _last_level_cache_bytes() -> int:
    """Bytes of the last-level cache, ASSUMED_LAST_LEVEL_CACHE_BYTES where the OS does not say."""
    return machine.describe().last_level_cache_bytes or ASSUMED_LAST_LEVEL_CACHE_BYTES


# Quick mode (tests, a first look) caps each array here: seconds, not minutes, on a server
# whose last cache is hundreds of MiB. Such arrays may read cache, not DRAM, and
# `bandwidth`'s details["below_4x_last_cache"] says so.
QUICK_MAX_ARRAY_BYTES = 128 * 1024**2


def default_array_bytes(quick: bool | None = None) -> int:
    """STREAM's rule: each array at least 4x the last-level cache (32 MiB if unknown), in
    bytes; at most QUICK_MAX_ARRAY_BYTES in quick mode."""
    stream_bytes = max(STREAM_CACHE_MULTIPLE * _last_level_cache_bytes(), MIN_STREAM_ARRAY_BYTES)
    return min(stream_bytes, QUICK_MAX_ARRAY_BYTES) if quick_mode(quick) else stream_bytes


def fitted_array_bytes(arrays: int = 3, quick: bool | None = None) -> int:
    """`default_array_bytes`, shrunk so `arrays` arrays fit the memory budget, in bytes.

    Rounded down to whole triad blocks (1 MiB); at least one block, so a machine
    too short of memory for even that gets check_fits's clear error.
    """
    block_bytes = TRIAD_BLOCK_ELEMENTS * WORD_BYTES
    arrays = check_count("arrays", arrays, 1, 3)
    fitting = min(default_array_bytes(quick), memory_budget_bytes() // arrays)
    return max(block_bytes, fitting // block_bytes * block_bytes)


def _check_threads(threads: int | None) -> int:
    if threads is None:
        return machine.usable_cpus()
    return check_count("threads", threads, 1, MAX_THREADS)


def _check_kernel(kernel: str, allowed, what: str = "kernel") -> str:
    if kernel not in allowed:
        import difflib

        close = difflib.get_close_matches(str(kernel), list(allowed), n=2)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise ValueError(f"unknown {what} {kernel!r}{hint}; choose one of {sorted(allowed)}")
    return kernel


def _stream_work(kernel: str, a, b, c, scalar: float):
    """Return work(start, stop) running one STREAM kernel on elements [start, stop)."""
    if kernel == "copy":
        return lambda start, stop: np.copyto(c[start:stop], a[start:stop])
    if kernel == "scale":
        return lambda start, stop: np.multiply(c[start:stop], scalar, out=b[start:stop])
    if kernel == "add":
        return lambda start, stop: np.add(a[start:stop], b[start:stop], out=c[start:stop])

    def triad(start: int, stop: int) -> None:
        # a = b + scalar * c in cache-sized blocks: the product lands in a's block while it
        # is still in cache, so memory sees the same 3 streams as STREAM's C loop.
        for low in range(start, stop, TRIAD_BLOCK_ELEMENTS):
            high = min(low + TRIAD_BLOCK_ELEMENTS, stop)
            np.multiply(c[low:high], scalar, out=a[low:high])
            np.add(a[low:high], b[low:high], out=a[low:high])

    return triad


def _split(elements: int, parts: int) -> list[tuple[int, int]]:
    """Split [0, elements) into `parts` contiguous ranges aligned to triad blocks."""
    blocks = -(-elements // TRIAD_BLOCK_ELEMENTS)
    edges = [min(elements, (blocks * i // parts) * TRIAD_BLOCK_ELEMENTS) for i in range(parts)]
    return [(low, high) for low, high in zip(edges, [*edges[1:], elements]) if high > low]


def bandwidth(
    kernel: str = "triad",
    *,
    threads: int | None = None,
    array_bytes: int | None = None,
    repeats: int | None = None,
    quick: bool | None = None,
) -> Measurement:
    """Measure a STREAM kernel's bandwidth in bytes/s on arrays of `array_bytes` each.

    Bytes are counted the STREAM way: 8 bytes per element for every array the
    kernel names (2 arrays for copy and scale, 3 for add and triad). Real traffic
    is higher where stores first read the line (write-allocate): 1.5x for copy,
    1.33x for triad. Arrays are filled before timing; the first run is discarded.
    Only the arrays the kernel names are allocated. By default each array is 4x
    the last-level cache (`default_array_bytes`), or less where 3 such arrays would
    not fit the memory budget; `details["below_4x_last_cache"]` then says so.
    """
    _check_kernel(kernel, STREAM_ARRAYS)
    threads = _check_threads(threads)
    if array_bytes is None:
        # Every kernel gets the size 3 arrays fit, so the four kernels run on equal arrays.
        array_bytes = fitted_array_bytes(max(STREAM_ARRAYS.values()), quick)
    array_bytes = check_count("array_bytes", array_bytes, TRIAD_BLOCK_ELEMENTS * WORD_BYTES)
    repeats = check_count("repeats", repeats, 1, 1000) if repeats is not None else (
        3 if quick_mode(quick) else 10)
    arrays = STREAM_ARRAYS[kernel]
    check_fits(arrays * array_bytes, f"bandwidth({kernel!r}) with {arrays} arrays")
    elements = array_bytes // WORD_BYTES
    named = {name: np.full(elements, STREAM_FILL[name]) for name in STREAM_OPERANDS[kernel]}
    work = _stream_work(kernel, named.get("a"), named.get("b"), named.get("c"), 3.0)
    ranges = _split(elements, threads)
    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        if len(ranges) == 1:
            run = lambda: work(*ranges[0])  # noqa: E731
        else:
            run = lambda: list(pool.map(lambda r: work(*r), ranges))  # noqa: E731
        samples = time_call(run, repeats=repeats, warmup=1, warn=False)
    counted_bytes = arrays * elements * WORD_BYTES
    last_level_bytes = _last_level_cache_bytes()
    return Measurement(
        quantity="bandwidth",
        kernel=kernel,
        unit="B/s",
        samples=tuple(counted_bytes / s for s in samples.seconds),
        size_bytes=array_bytes,
        threads=len(ranges),
        details={"counted_bytes": counted_bytes, "arrays": arrays, "seconds": samples.seconds,
                 "last_level_cache_bytes": last_level_bytes,
                 "below_4x_last_cache": array_bytes < 4 * last_level_bytes},
    )


CHAIN_OFFSET_WORDS = 512  # keeps every index above 256, past CPython's cached small ints


def chase_peak_bytes(size_bytes: int) -> int:
    """Most bytes `chase_array(size_bytes)` holds at once: the chain plus one int64 per line."""
    nodes = size_bytes // CACHE_LINE_BYTES
    chain_bytes = (CHAIN_OFFSET_WORDS + nodes * (CACHE_LINE_BYTES // WORD_BYTES)) * WORD_BYTES
    return chain_bytes + nodes * WORD_BYTES


def chase_array(size_bytes: int, seed: int = 0) -> np.ndarray:
    """Build a random cyclic pointer chain, one node per 64-byte line, over `size_bytes`.

    Node p sits at word CHAIN_OFFSET_WORDS + 8p and holds the word index of the
    next node: following the chain from word CHAIN_OFFSET_WORDS visits every line
    once in random order (a random cyclic permutation), so the hardware
    prefetcher cannot guess the next address. The offset keeps every index a
    freshly made Python int, so a small chain costs the loop what a big one does.
    A cycle needs 2 lines at least (128 bytes); memory peaks at `chase_peak_bytes`.
    """
    size_bytes = check_count("size_bytes (2 cache lines of 64 bytes at least)", size_bytes,
                2 * CACHE_LINE_BYTES)
    words_per_line = CACHE_LINE_BYTES // WORD_BYTES
    nodes = size_bytes // CACHE_LINE_BYTES
    order = np.random.default_rng(seed).permutation(nodes)
    following = np.empty(nodes, dtype=np.int64)
    following[order[:-1]] = order[1:]
    following[order[-1]] = order[0]
    del order  # freed before the chain exists, and word indices made in place: no temporaries
    following *= words_per_line
    following += CHAIN_OFFSET_WORDS
    chain = np.zeros(CHAIN_OFFSET_WORDS + nodes * words_per_line, dtype=np.int64)
    chain[CHAIN_OFFSET_WORDS::words_per_line] = following
    return chain


def _chase(chain, loads: int, index: int = CHAIN_OFFSET_WORDS) -> int:
    """Follow `chain` from `index` for `loads` dependent loads; return where it ended."""
    for _ in itertools.repeat(None, loads // 8):
        index = chain[index]
        index = chain[index]
        index = chain[index]
        index = chain[index]
        index = chain[index]
        index = chain[index]
        index = chain[index]
        index = chain[index]
    return index


BASELINE_BYTES = 4096  # an L1-resident chase: same loop, (almost) no memory latency


def _seconds_per_load(chain: memoryview, loads: int, repeats: int) -> tuple[float, ...]:
    """Seconds for `loads` dependent loads, once per repeat, each repeat going on down the
    cycle from where the last stopped (restarting at 0 would replay lines now cached)."""
    nodes = (len(chain) - CHAIN_OFFSET_WORDS) * WORD_BYTES // CACHE_LINE_BYTES
    position = [_chase(chain, min(2 * nodes, 1 << 20) // 8 * 8 + 8)]  # warm caches and TLB

    def run() -> None:
        position[0] = _chase(chain, loads, position[0])

    return time_call(run, repeats=repeats, warmup=0, warn=False).seconds


def _memoryview(array: np.ndarray) -> memoryview:
    return memoryview(array).cast("B").cast("q")


def latency(
    size_bytes: int,
    *,
    loads: int | None = None,
    repeats: int | None = None,
    quick: bool | None = None,
) -> Measurement:
    """Measure the time in s of one dependent load over a working set of `size_bytes`.

    Python runs the chase loop, and the interpreter costs ~10-30 ns per load by
    itself. That cost is removed honestly: the same loop is timed over a 4 KiB
    chain that sits in L1, and its best time per load is subtracted (lmbench and
    tinymembench subtract their loop time the same way). What remains is the
    latency beyond an L1 hit: the L1 hit itself (~1 ns) is subtracted with the loop.
    The size is rounded down to whole 64-byte lines.
    """
    size_bytes = check_count("size_bytes", size_bytes, BASELINE_BYTES)
    check_fits(chase_peak_bytes(size_bytes), "latency")
    quick = quick_mode(quick)
    loads = check_count("loads", loads, 8) if loads is not None else (
        1 << 15 if quick else 1 << 17)
    repeats = check_count("repeats", repeats, 1, 1000) if repeats is not None else (
        3 if quick else 5)
    loads = loads // 8 * 8
    baseline = _memoryview(chase_array(BASELINE_BYTES))
    chain = _memoryview(chase_array(size_bytes, seed=size_bytes))
    overhead = min(_seconds_per_load(baseline, loads, repeats)) / loads
    raw = [s / loads for s in _seconds_per_load(chain, loads, repeats)]
    return Measurement(
        quantity="latency",
        kernel="pointer chase",
        unit="s",
        samples=tuple(max(r - overhead, 0.0) for r in raw),
        size_bytes=size_bytes // CACHE_LINE_BYTES * CACHE_LINE_BYTES,
        threads=1,
        details={"loop_overhead_s": overhead, "raw_s": tuple(raw), "loads": loads},
    )


def default_latency_sizes(quick: bool | None = None) -> list[int]:
    """Working sets in bytes for the latency curve: 4 KiB to 256 MiB, capped by RAM."""
    factor = 4 if quick_mode(quick) else 2
    sizes, size = [], BASELINE_BYTES
    while size <= 256 * 1024**2 and chase_peak_bytes(size) <= memory_budget_bytes():
        sizes.append(size)
        size *= factor
    return sizes


def latency_curve(
    sizes_bytes=None, *, quick: bool | None = None, progress: bool = True
) -> list[Measurement]:
    """Measure `latency` at every working-set size (default 4 KiB to 256 MiB)."""
    sizes = list(default_latency_sizes(quick) if sizes_bytes is None else sizes_bytes)
    if not sizes:
        raise ValueError("sizes_bytes must name at least one working-set size in bytes")
    sizes = [check_count("each size in sizes_bytes", size, BASELINE_BYTES) for size in sizes]
    results = []
    with Progress(len(sizes), "latency", enabled=progress) as bar:
        for size in sizes:
            results.append(latency(size, quick=quick))
            bar.step(format_bytes(size))
    return results


@dataclass(frozen=True)
class Mountain:
    """Read bandwidth in bytes/s for each working-set size (rows) and stride (columns)."""

    sizes_bytes: tuple[int, ...]
    strides_words: tuple[int, ...]
    bytes_per_s: np.ndarray

    def __repr__(self) -> str:
        peak = format_rate(float(self.bytes_per_s.max()), "B/s")
        return (f"<memory mountain: {len(self.sizes_bytes)} sizes x "
                f"{len(self.strides_words)} strides, peak {peak}>")


def _read_rate(array: np.ndarray, stride: int, repeats: int, target_bytes: int) -> float:
    """Bytes/s of reading every `stride`-th word of `array`, best of `repeats`."""
    view = array[::stride]
    # Repeat the whole working set `rounds` times inside one numpy call (a zero
    # stride on the outer axis), so small sets are timed without per-call overhead.
    rounds = max(1, target_bytes // view.nbytes)
    repeated = as_strided(view, shape=(rounds, view.size), strides=(0, view.strides[0]))
    samples = time_call(
        lambda: np.maximum.reduce(repeated, axis=1), repeats=repeats, warmup=1, warn=False
    )
    return rounds * view.nbytes / samples.best


def mountain(
    sizes_bytes=None, strides_words=None, *, quick: bool | None = None, progress: bool = True
) -> Mountain:
    """Measure the memory mountain: read bandwidth in bytes/s over size x stride.

    Bytes are counted as CS:APP does: only the 8-byte words actually read. At
    small sizes with large strides numpy's strided loop, not the cache, can be
    the limit: read the ridges (where bandwidth falls with size), not the peaks.
    """
    quick = quick_mode(quick)
    if sizes_bytes is None:
        factor, sizes_bytes, size = (4 if quick else 2), [], 16 * 1024
        while size <= 128 * 1024**2 and 2 * size <= memory_budget_bytes():
            sizes_bytes.append(size)
            size *= factor
    if strides_words is None:
        strides_words = (1, 2, 4, 8, 16) if quick else (1, 2, 3, 4, 6, 8, 12, 16)
    sizes, strides = list(sizes_bytes), list(strides_words)
    if not sizes or not strides:
        raise ValueError("mountain needs at least one size (bytes) and one stride (words)")
    sizes = [check_count("each size in sizes_bytes", size, CACHE_LINE_BYTES) for size in sizes]
    for size in sizes:
        check_fits(size, "mountain")
    strides = [check_count("each stride in strides_words", stride, 1, 1024) for stride in strides]
    target_bytes = (8 if quick else 32) * 1024**2
    rates = np.zeros((len(sizes), len(strides)))
    with Progress(len(sizes), "memory mountain", enabled=progress) as bar:
        for row, size in enumerate(sizes):
            array = np.ones(size // WORD_BYTES)
            for column, stride in enumerate(strides):
                rates[row, column] = _read_rate(array, stride, 3, target_bytes)
            bar.step(format_bytes(size))
    return Mountain(tuple(sizes), tuple(strides), rates)


def _blas_threads() -> int | None:
    """Threads numpy's BLAS says it uses now, or None where threadpoolctl finds no BLAS."""
    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return max(counts) if counts else None


def blas_thread_limit() -> int | None:
    """The usable CPUs where numpy's BLAS would run more threads than that, else None (no
    limit: a BLAS already held lower, e.g. by OPENBLAS_NUM_THREADS, is left as it is).
    For `threadpool_limits(limits=blas_thread_limit(), user_api="blas")` around any timed
    numpy code that calls the BLAS."""
    usable, blas_threads = machine.usable_cpus(), _blas_threads()
    return usable if blas_threads is not None and blas_threads > usable else None


PLATEAU_N = {"quick": 1536, "full": 2560}  # matmul sizes on numpy's BLAS plateau
MATMUL_N_STEP = 64  # a shrunk size stays a multiple of 64, as BLAS kernels block them


def default_matmul_n(dtype: str = "fp64", quick: bool | None = None) -> int:
    """`peak_flops`'s default n: a size on the BLAS plateau, shrunk (to a multiple of 64,
    16 at least) so its three n x n matrices fit the memory budget."""
    itemsize = np.dtype(FLOAT_DTYPES[_check_kernel(dtype, FLOAT_DTYPES, "dtype")]).itemsize
    plateau = PLATEAU_N["quick" if quick_mode(quick) else "full"]
    fitting = math.isqrt(max(memory_budget_bytes(), 0) // (3 * itemsize))
    if fitting >= plateau:
        return plateau
    return max(16, fitting // MATMUL_N_STEP * MATMUL_N_STEP or fitting)


def peak_flops(
    dtype: str = "fp64",
    *,
    n: int | None = None,
    threads: int | None = None,
    repeats: int | None = None,
    quick: bool | None = None,
) -> Measurement:
    """Measure matrix-multiply throughput in FLOP/s (2 n^3 FLOPs per n x n product).

    `n` defaults to a size on numpy's BLAS plateau, shrunk where memory is short
    (`default_matmul_n`; `details["n_reduced_for_memory"]` then says so: a small
    product can read below the plateau). `threads` limits the BLAS threads
    (default: the BLAS default, usually every core, held to `machine.usable_cpus`).
    The result's `threads` is what the BLAS reports it used, or None where
    threadpoolctl cannot see or steer it (Apple Accelerate);
    `details["threads_requested"]` keeps what was asked for.
    """
    _check_kernel(dtype, FLOAT_DTYPES, "dtype")
    quick = quick_mode(quick)
    if n is None:
        n = default_matmul_n(dtype, quick)
        reduced = n < PLATEAU_N["quick" if quick else "full"]
    else:
        n, reduced = check_count("n", n, 16, 32768), False
    repeats = check_count("repeats", repeats, 1, 1000) if repeats is not None else (
        3 if quick else 5)
    if threads is not None:
        threads = check_count("threads", threads, 1, MAX_THREADS)
    itemsize = np.dtype(FLOAT_DTYPES[dtype]).itemsize
    check_fits(3 * n * n * itemsize, "peak_flops")
    rng = np.random.default_rng(0)
    # Drawn in the dtype itself: no float64 temporary beyond the budget checked above.
    a, b = (rng.standard_normal((n, n), dtype=FLOAT_DTYPES[dtype]) for _ in range(2))
    out = np.empty_like(a)
    limit = threads if threads is not None else blas_thread_limit()
    with threadpool_limits(limits=limit, user_api="blas"):
        used_threads = _blas_threads()
        samples = time_call(lambda: np.matmul(a, b, out=out), repeats=repeats, warmup=1,
                            warn=False)
    flops = 2 * n**3
    return Measurement(
        quantity="flops",
        kernel=f"matmul {dtype} n={n}",
        unit="FLOP/s",
        samples=tuple(flops / s for s in samples.seconds),
        size_bytes=3 * n * n * itemsize,
        threads=used_threads,
        details={"flops": flops, "n": n, "dtype": dtype, "threads_requested": threads,
                 "n_reduced_for_memory": reduced},
    )


def hold_blas_to_usable_cpus() -> int | None:
    """Limit numpy's BLAS to the usable CPUs for the rest of the session, where it would
    run more threads (a pod's CPU quota is invisible to it); return the limit or None."""
    limit = blas_thread_limit()
    if limit is not None:
        threadpool_limits(limits=limit, user_api="blas")  # applies now, until the end
    return limit


# A BLAS that starts a thread per CPU it sees, in a container allowed fewer, measures its
# own throttling: every lesson imports this module, so the limit is set here, once.
hold_blas_to_usable_cpus()
