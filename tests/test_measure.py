import dataclasses
import tracemalloc

import numpy as np
import pytest
import threadpoolctl

from memwall_lab import measure
from memwall_lab.timing import Samples

MIB = 1024**2
TEN_TB_PER_S = 10e12


def _fake_time_call(monkeypatch, seconds):
    """Make measure's time_call run the function once and report `seconds` as its samples."""
    calls = []

    def time_call(function, *, repeats, warmup, warn):
        calls.append({"repeats": repeats, "warmup": warmup, "warn": warn})
        function()
        return Samples(seconds)

    monkeypatch.setattr(measure, "time_call", time_call)
    return calls


@pytest.mark.parametrize("kernel, arrays", [("copy", 2), ("scale", 2), ("add", 3), ("triad", 3)])
def test_stream_kernels_count_bytes_the_stream_way(monkeypatch, kernel, arrays):
    # Seconds that are powers of 2 make the rates exact: 2^-8 s and 2^-9 s.
    calls = _fake_time_call(monkeypatch, (2.0**-8, 2.0**-9))
    result = measure.bandwidth(kernel, threads=1, array_bytes=2 * MIB, repeats=2)
    assert calls == [{"repeats": 2, "warmup": 1, "warn": False}]
    assert result.unit == "B/s" and result.quantity == "bandwidth"
    # 8 bytes per element of every array named: 2 or 3 arrays of 2 MiB = 2^22 or 3 x 2^21.
    counted = arrays * 2 * MIB
    assert result.details["counted_bytes"] == counted
    assert result.samples == (counted * 256.0, counted * 512.0)  # bytes / 2^-8 s, / 2^-9 s
    assert result.best == counted * 512.0 and result.threads == 1


def test_a_real_stream_run_is_self_consistent():
    result = measure.bandwidth("triad", threads=1, array_bytes=16 * MIB, repeats=2)
    assert len(result.samples) == 2 and result.median <= result.best
    assert result.details["counted_bytes"] == 3 * 16 * MIB  # STREAM counting
    assert result.best == pytest.approx(
        result.details["counted_bytes"] / min(result.details["seconds"]))


# STREAM's kernels on a[i] = i, b[i] = 2i + 1, c[i] = 5, scalar 3, as closed forms in i:
# copy c = a = i; scale b = 3c = 15; add c = a + b = 3i + 1; triad a = b + 3c = 2i + 16.
STREAM_RESULTS = {"copy": ("c", lambda i: i), "scale": ("b", lambda i: np.full(i.size, 15.0)),
                  "add": ("c", lambda i: 3 * i + 1), "triad": ("a", lambda i: 2 * i + 16)}


@pytest.mark.parametrize("kernel", sorted(STREAM_RESULTS))
def test_kernels_compute_what_stream_computes(kernel):
    elements = 3 * measure.TRIAD_BLOCK_ELEMENTS + 5  # a ragged last block
    i = np.arange(elements, dtype=float)
    arrays = {"a": i.copy(), "b": 2 * i + 1, "c": np.full(elements, 5.0)}
    work = measure._stream_work(kernel, arrays["a"], arrays["b"], arrays["c"], 3.0)
    for low, high in measure._split(elements, 2):
        work(low, high)
    written, expected = STREAM_RESULTS[kernel]
    np.testing.assert_array_equal(arrays[written], expected(i))


def test_split_covers_every_element_once():
    ranges = measure._split(10 * measure.TRIAD_BLOCK_ELEMENTS + 7, 3)
    covered = [i for low, high in ranges for i in range(low, high)]
    assert covered == list(range(10 * measure.TRIAD_BLOCK_ELEMENTS + 7))


def test_threads_share_the_arrays(monkeypatch):
    ranges, stream_work = [], measure._stream_work

    def recording_work(kernel, a, b, c, scalar):
        work = stream_work(kernel, a, b, c, scalar)
        return lambda start, stop: (ranges.append((start, stop)), work(start, stop))

    monkeypatch.setattr(measure, "_stream_work", recording_work)
    _fake_time_call(monkeypatch, (2.0**-10,))
    result = measure.bandwidth("copy", threads=2, array_bytes=8 * MIB, repeats=1)
    assert result.threads == 2
    # 8 MiB of float64 = 2^20 elements = 8 triad blocks of 2^17: 4 blocks per thread.
    assert sorted(ranges) == [(0, 2**19), (2**19, 2**20)]
    # Both threads' bytes count once: 2 arrays x 8 MiB = 2^24 bytes in 2^-10 s = 2^34 B/s.
    assert result.samples == (2.0**34,)


def test_chase_array_is_one_random_cycle_over_every_line():
    size_bytes = 64 * 1024
    chain = measure.chase_array(size_bytes, seed=3)
    nodes = size_bytes // 64
    start = index = measure.CHAIN_OFFSET_WORDS
    visited = set()
    for _ in range(nodes):
        visited.add(index)
        index = int(chain[index])
    assert index == start, "the chain must close into a cycle"
    assert len(visited) == nodes, "every 64-byte line is visited exactly once"
    assert all((i - start) % 8 == 0 for i in visited)
    steps = np.diff(sorted(visited))
    assert set(steps) == {8}
    # A random order, not a sequential walk the prefetcher could follow.
    order = [start]
    for _ in range(20):
        order.append(int(chain[order[-1]]))
    assert np.mean(np.abs(np.diff(order)) == 8) < 0.5


def test_latency_grows_from_l1_to_dram():
    small = measure.latency(16 * 1024)
    large = measure.latency(256 * MIB)
    assert small.unit == "s" and large.quantity == "latency"
    # A DRAM access costs tens of nanoseconds on any machine; an L1 hit about one.
    assert large.best > small.best + 10e-9
    assert large.best < 10e-6
    assert large.details["loop_overhead_s"] > 0
    assert all(s >= 0 for s in small.samples)


def test_latency_curve_default_sizes_fit_in_memory(monkeypatch):
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: 2 * 1024**3)
    sizes = measure.default_latency_sizes(quick=False)
    assert sizes[0] == 4096 and sizes[-1] <= 2 * 1024**3 * measure.SAFE_RAM_FRACTION
    assert all(b == 2 * a for a, b in zip(sizes, sizes[1:]))


def test_mountain_shape_and_units():
    result = measure.mountain([32 * 1024, 4 * MIB], [1, 8], progress=False)
    assert result.bytes_per_s.shape == (2, 2)
    assert np.all(result.bytes_per_s > 0) and np.all(result.bytes_per_s < TEN_TB_PER_S)


def test_peak_flops_counts_two_n_cubed(monkeypatch):
    calls = _fake_time_call(monkeypatch, (0.5, 0.25))
    result = measure.peak_flops("fp32", n=64, repeats=2, threads=1)
    assert calls == [{"repeats": 2, "warmup": 1, "warn": False}]
    # 2 x 64^3 = 524288 FLOPs per product: in 0.5 s 1048576 FLOP/s, in 0.25 s 2097152.
    assert result.details["flops"] == 524_288
    assert result.samples == (1_048_576.0, 2_097_152.0)
    assert result.best == 2_097_152.0 and result.unit == "FLOP/s"
    assert result.size_bytes == 3 * 64 * 64 * 4  # a, b, out in fp32


def test_one_thread_of_real_matmul_stays_under_what_one_core_can_do():
    result = measure.peak_flops("fp32", n=256, repeats=2, threads=1)
    assert result.best > 0
    if result.threads == 1:  # the BLAS obeyed the limit
        # One core: 2 FMA units x 16 fp32 lanes x 2 FLOPs x ~5 GHz = 320 GFLOP/s at most.
        assert result.best < 1e12


def test_quick_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("MEMWALL_QUICK", "1")
    assert measure.quick_mode() is True
    monkeypatch.setenv("MEMWALL_QUICK", "0")
    assert measure.quick_mode() is False
    assert measure.quick_mode(True) is True


def test_repr_is_friendly():
    result = measure.Measurement("bandwidth", "copy", "B/s", (1.2e10, 1.0e10), 2**27, 2)
    assert repr(result).startswith("<bandwidth copy, 128 MiB, 2 threads: best 12 GB/s")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: measure.bandwidth("triads"), "did you mean 'triad'"),
        (lambda: measure.bandwidth("copy", threads=0), "threads must be an integer"),
        (lambda: measure.bandwidth("copy", threads=10**6), "between 1 and 1024"),
        (lambda: measure.bandwidth("copy", array_bytes=-5), "array_bytes"),
        (lambda: measure.bandwidth("copy", array_bytes=2.5e7), "array_bytes"),
        (lambda: measure.bandwidth("copy", array_bytes=2**50), "at most"),
        (lambda: measure.latency(0), "size_bytes"),
        (lambda: measure.latency(1024), "size_bytes"),
        (lambda: measure.latency(2**50), "choose a smaller size"),
        (lambda: measure.latency_curve([]), "at least one"),
        (lambda: measure.mountain([4096], [0]), "strides"),
        (lambda: measure.peak_flops("fp128"), "choose one of"),
        (lambda: measure.peak_flops("fp64", n=3.5), "n must be"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _fake_machine(monkeypatch, last_level_bytes, available_bytes):
    """Make measure see a last-level cache and available RAM of the given sizes in bytes."""
    info = measure.machine.describe()
    caches = {"l1d": 48 * 1024, "l2": 1024**2, "l3": last_level_bytes}
    monkeypatch.setattr(measure.machine, "describe",
                        lambda: dataclasses.replace(info, cache_bytes=caches))
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: available_bytes)


def test_default_arrays_shrink_to_fit_a_small_memory_budget(monkeypatch):
    # 32 MiB L3 asks for 128 MiB arrays; 120 MB free gives a 30 MB budget, 10 MB per array
    # for 3 arrays: 9 whole 1 MiB triad blocks.
    _fake_machine(monkeypatch, 32 * MIB, 120_000_000)
    assert measure.fitted_array_bytes() == 9 * MIB
    result = measure.bandwidth("copy", threads=1, repeats=1)
    assert result.size_bytes == 9 * MIB
    assert result.details["counted_bytes"] == 2 * 9 * MIB
    assert result.details["below_4x_last_cache"] is True
    with pytest.raises(ValueError, match="with 2 arrays needs 32 MiB"):  # explicit: no shrinking
        measure.bandwidth("copy", array_bytes=16 * MIB)


def test_default_arrays_keep_stream_rule_where_memory_allows(monkeypatch):
    _fake_machine(monkeypatch, 2 * MIB, 16 * 1024**3)  # 4x 2 MiB < 32 MiB: the floor wins
    assert measure.fitted_array_bytes() == 32 * MIB
    _fake_machine(monkeypatch, 32 * MIB, 16 * 1024**3)  # a 4 GiB budget: 4 x 32 MiB fits
    assert measure.fitted_array_bytes() == 128 * MIB


def test_below_4x_last_cache_compares_the_arrays_with_4x_the_cache(monkeypatch):
    _fake_machine(monkeypatch, 2 * MIB, 16 * 1024**3)
    at_rule = measure.bandwidth("copy", threads=1, array_bytes=8 * MIB, repeats=1)
    assert at_rule.details["below_4x_last_cache"] is False
    below = measure.bandwidth("copy", threads=1, array_bytes=7 * MIB, repeats=1)
    assert below.details["below_4x_last_cache"] is True


@pytest.mark.parametrize("kernel, arrays", [("copy", 2), ("scale", 2), ("add", 3), ("triad", 3)])
def test_bandwidth_allocates_only_the_arrays_its_kernel_names(monkeypatch, kernel, arrays):
    full = np.full
    made = []
    monkeypatch.setattr(measure.np, "full", lambda *a, **k: made.append(a) or full(*a, **k))
    checked = []
    monkeypatch.setattr(measure, "check_fits", lambda size, what: checked.append(size))
    measure.bandwidth(kernel, threads=1, array_bytes=8 * MIB, repeats=1)
    assert len(made) == arrays
    assert checked == [arrays * 8 * MIB]


@pytest.mark.parametrize("size_bytes", [0, 32, 127])
def test_chase_array_needs_two_cache_lines(size_bytes):
    with pytest.raises(ValueError, match="2 cache lines"):
        measure.chase_array(size_bytes)


def test_chase_array_of_two_lines_is_a_cycle():
    chain = measure.chase_array(128)
    start = measure.CHAIN_OFFSET_WORDS
    assert int(chain[int(chain[start])]) == start and int(chain[start]) == start + 8


def test_chase_peak_bytes_is_the_real_peak():
    size_bytes = 8 * MIB
    # 131072 lines: chain (512 + 8 x 131072) words of 8 bytes, plus one int64 per line.
    expected = (512 + 8 * 131072) * 8 + 131072 * 8
    assert measure.chase_peak_bytes(size_bytes) == expected == 9_441_280
    measure.chase_array(4096)  # first-call imports and caches stay out of the count
    tracemalloc.start()
    try:
        measure.chase_array(size_bytes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert expected <= peak <= expected + 64 * 1024


def test_latency_checks_the_chase_peak_not_just_the_size(monkeypatch):
    size_bytes = 8 * MIB
    monkeypatch.setattr(measure, "memory_budget_bytes", lambda: size_bytes + 4096)
    with pytest.raises(ValueError, match="latency needs 9"):
        measure.latency(size_bytes)
    sizes = measure.default_latency_sizes(quick=False)
    assert sizes[-1] == 4 * MIB  # 8 MiB would peak at 9 MiB


def test_peak_flops_records_the_threads_the_blas_reports(monkeypatch):
    result = measure.peak_flops("fp64", n=64, repeats=1, threads=1)
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert result.threads == (1 if blas else None)
    assert result.details["threads_requested"] == 1
    monkeypatch.setattr(measure, "_blas_threads", lambda: None)  # e.g. Apple Accelerate
    unseen = measure.peak_flops("fp64", n=64, repeats=1, threads=3)
    assert unseen.threads is None and unseen.details["threads_requested"] == 3
    assert "threads unknown" in repr(unseen)


def test_blas_threads_reads_the_blas_inside_a_limit():
    if not [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]:
        pytest.skip("threadpoolctl sees no BLAS here")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert measure._blas_threads() == 1


def test_peak_flops_names_a_bad_dtype_as_a_dtype():
    with pytest.raises(ValueError, match=r"unknown dtype 'fp16'.*\['fp32', 'fp64'\]"):
        measure.peak_flops("fp16")


def test_no_memory_left_is_a_budget_of_zero_not_an_unknown(monkeypatch):
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: 0)  # a full container
    assert measure.memory_budget_bytes() == 0
    with pytest.raises(ValueError, match="at most 0 B"):
        measure.check_fits(1, "anything")
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: None)  # OS will not say
    assert measure.memory_budget_bytes() == measure.UNKNOWN_AVAILABLE_BYTES // 4


def test_default_threads_are_the_usable_cpus_not_the_logical_cores(monkeypatch):
    # A hub pod: 64 logical cores, a quota of 2 CPUs.
    monkeypatch.setattr(measure.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(measure.machine, "usable_cpus", lambda: 2)
    _fake_time_call(monkeypatch, (2.0**-10,))
    result = measure.bandwidth("copy", array_bytes=8 * MIB, repeats=1)
    assert result.threads == 2


def test_peak_flops_holds_a_wider_blas_to_the_usable_cpus(monkeypatch):
    recorded = []

    class Recording:
        def __init__(self, *, limits: int | None, user_api: str):
            recorded.append(limits)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(measure, "threadpool_limits", Recording)
    monkeypatch.setattr(measure.machine, "usable_cpus", lambda: 1)
    _fake_time_call(monkeypatch, (1.0,))
    monkeypatch.setattr(measure, "_blas_threads", lambda: 64)  # the BLAS wants every core
    measure.peak_flops("fp64", n=64, repeats=1)
    monkeypatch.setattr(measure, "_blas_threads", lambda: 1)  # already within the share
    measure.peak_flops("fp64", n=64, repeats=1)
    monkeypatch.setattr(measure, "_blas_threads", lambda: None)  # a BLAS it cannot see
    measure.peak_flops("fp64", n=64, repeats=1)
    measure.peak_flops("fp64", n=64, repeats=1, threads=3)  # asked for: obeyed
    assert recorded == [1, None, None, 3]


def test_the_real_blas_runs_one_thread_in_a_one_cpu_share(monkeypatch):
    if not [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]:
        pytest.skip("threadpoolctl sees no BLAS here")
    monkeypatch.setattr(measure.machine, "usable_cpus", lambda: 1)
    assert measure.peak_flops("fp64", n=64, repeats=1).threads == 1


@pytest.mark.parametrize("available_bytes", [100 * MIB, 400 * MIB, 512 * MIB])
def test_peak_flops_shrinks_to_a_small_memory_budget(monkeypatch, available_bytes):
    # A 100-512 MiB pod: a quarter is the budget; 3 n x n float64 matrices must fit in it.
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: available_bytes)
    _fake_time_call(monkeypatch, (1.0,))
    monkeypatch.setattr(measure.np, "matmul", lambda a, b, out: out)  # sizes, not FLOP/s
    for quick in (True, False):
        for dtype, itemsize in (("fp64", 8), ("fp32", 4)):
            result = measure.peak_flops(dtype, repeats=1, quick=quick)
            n = result.details["n"]
            assert 3 * n * n * itemsize <= available_bytes / 4
            assert n % 64 == 0 and result.details["n_reduced_for_memory"] is (
                n < (1536 if quick else 2560))
    # 100 MiB / 4 = 25 MiB for 3 float64 matrices: sqrt(25 MiB / 24) = 1045, so 1024.
    if available_bytes == 100 * MIB:
        assert measure.default_matmul_n("fp64", quick=True) == 1024


def test_peak_flops_keeps_the_plateau_size_where_memory_allows(monkeypatch):
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: 16 * 1024**3)
    assert measure.default_matmul_n("fp64", quick=True) == 1536
    assert measure.default_matmul_n("fp32", quick=False) == 2560
    result = measure.peak_flops("fp64", n=64, repeats=1)
    assert result.details["n_reduced_for_memory"] is False  # asked for, not shrunk


def test_bandwidth_records_the_cache_it_compared_with(monkeypatch):
    _fake_machine(monkeypatch, 32 * MIB, 16 * 1024**3)
    result = measure.bandwidth("copy", threads=1, array_bytes=8 * MIB, repeats=1)
    assert result.details["last_level_cache_bytes"] == 32 * MIB


def test_the_blas_is_held_to_the_usable_cpus_for_the_session(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    blas = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not blas:
        pytest.skip("threadpoolctl sees no BLAS here")
    with threadpool_limits(limits=None):  # restores the BLAS's threads afterwards
        monkeypatch.setattr(measure.machine, "usable_cpus", lambda: 1)
        monkeypatch.setattr(measure, "_blas_threads", lambda: 64)  # a 64-core node's BLAS
        assert measure.hold_blas_to_usable_cpus() == 1
        assert [pool["num_threads"] for pool in threadpool_info()
                if pool.get("user_api") == "blas"] == [1] * len(blas)
    monkeypatch.setattr(measure, "_blas_threads", lambda: 1)
    assert measure.hold_blas_to_usable_cpus() is None  # already within the share: untouched


def test_quick_mode_caps_arrays_where_the_last_cache_is_huge(monkeypatch):
    monkeypatch.setattr(measure, "_last_level_cache_bytes", lambda: 480 * MIB)  # a big server
    assert measure.default_array_bytes(quick=False) == 1920 * MIB  # STREAM's 4x rule
    assert measure.default_array_bytes(quick=True) == measure.QUICK_MAX_ARRAY_BYTES
    monkeypatch.setattr(measure, "_last_level_cache_bytes", lambda: 8 * MIB)  # a laptop
    assert measure.default_array_bytes(quick=True) == 32 * MIB  # below the cap: unchanged
