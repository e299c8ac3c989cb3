"""The optional GPU backend, tested on the CPU: detection and plumbing with fakes.

Nothing here needs a GPU. The fake backend below keeps its "device" arrays in
numpy and logs every call, so the tests check what the real backends rely on:
bytes counted, units, and the device synchronised around every timed region.
The last test measures a real GPU and is skipped where none is found.
"""

import json
import types

import numpy as np
import pytest

from memwall_lab import compare, gpu, hardware, measure, report
from memwall_lab.measure import Measurement
from memwall_lab.units import format_rate

SECONDS_PER_CALL = 1e-3
SMALL_SIZES = {"array_bytes": (64 * 1024, 64 * 1024), "link_bytes": (32 * 1024, 32 * 1024),
               "matmul_n": (32, 32), "gemv_d": (64, 64)}


class FakeBackend:
    """A backend whose device is numpy: logs 'sync', 'event' and 'work' calls in order."""

    name = "fake"

    def __init__(self, device_name="NVIDIA H100 80GB HBM3", free_bytes=2**30, events=True,
                 dtypes=("fp32", "bf16", "fp16"), seconds=None):
        self.device = gpu.Device("fake", device_name, 80 * 10**9, "CUDA 12.4")
        stand_in = {"fp32": np.float32, "bf16": np.float32, "fp16": np.float16}
        self.dtypes = {dtype: stand_in[dtype] for dtype in dtypes}
        self.log, self.allocated, self.pinned = [], [], []
        self._free, self._events = free_bytes, events
        self._seconds = seconds or (lambda backend: SECONDS_PER_CALL)
        self.last_batch = 1

    def synchronize(self):
        self.log.append("sync")

    def event(self):
        self.log.append("event")
        return len(self.log) if self._events else None

    def elapsed_s(self, start, stop):
        return self._seconds(self)

    def free_bytes(self):
        return self._free

    def full(self, elements, value, dtype="fp32"):
        array = np.full(elements, value, dtype=self.dtypes[dtype])
        self.allocated.append(array)
        return array

    def random(self, rows, columns, dtype):
        array = np.ones((rows, columns), dtype=self.dtypes[dtype])
        self.allocated.append(array)
        return array

    def copy(self, destination, source):
        self.log.append("work")
        np.copyto(destination, source)

    def triad(self, a, b, c, scalar):
        self.log.append("work")
        np.add(b, scalar * c, out=a)

    def matmul(self, a, b, out):
        self.log.append("work")
        self.last_batch = b.shape[1]
        np.matmul(a, b, out=out)

    def host_buffer(self, size_bytes, pinned):
        self.pinned.append(pinned)
        return np.zeros(size_bytes, dtype=np.uint8)

    def device_bytes(self, size_bytes):
        array = np.ones(size_bytes, dtype=np.uint8)
        self.allocated.append(array)
        return array

    def to_device(self, device_array, host_array):
        self.log.append("work")
        np.copyto(device_array, host_array)

    def to_host(self, host_array, device_array):
        self.log.append("work")
        np.copyto(host_array, device_array)

    def release(self):
        self.log.append("release")


@pytest.fixture
def small_sizes(monkeypatch):
    monkeypatch.setattr(gpu, "DEFAULT_SIZES", SMALL_SIZES)


def fake_importer(monkeypatch, **modules):
    """Make gpu import `modules` by name; any other name raises ImportError."""
    def importer(name):
        module = modules.get(name)
        if module is None:
            raise ImportError(f"No module named {name!r}")
        if isinstance(module, Exception):
            raise module
        return module

    monkeypatch.setattr(gpu, "_import_module", importer)


def fake_torch(available=True, hip=None):
    """Just enough of the torch API for detection."""
    cuda = types.SimpleNamespace(
        is_available=lambda: available,
        get_device_name=lambda index: "NVIDIA H100 80GB HBM3",
        get_device_properties=lambda index: types.SimpleNamespace(total_memory=85_000_000_000),
    )
    return types.SimpleNamespace(cuda=cuda, version=types.SimpleNamespace(cuda="12.4", hip=hip),
                                 float32="f32", bfloat16="bf16", float16="f16")


def fake_cupy(devices=1):
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: devices, driverGetVersion=lambda: 12040, is_hip=False,
        getDeviceProperties=lambda index: {"name": b"NVIDIA A100-SXM4-80GB",
                                           "totalGlobalMem": 85_000_000_000})
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), float32="f32",
                                 float16="f16", ElementwiseKernel=lambda *args: None)


# ---------------------------------------------------------------- detection


def test_no_backend_installed_gives_none_and_one_line(monkeypatch):
    fake_importer(monkeypatch)
    assert gpu.find_backend() is None
    reason = gpu.no_gpu_reason()
    assert reason.startswith(gpu.NO_GPU_LINE)
    assert "PyTorch is not installed" in reason and "CuPy is not installed" in reason
    assert "\n" not in reason


def test_torch_without_cuda_is_no_gpu(monkeypatch):
    fake_importer(monkeypatch, torch=fake_torch(available=False))
    assert gpu.find_backend() is None
    assert "without a usable CUDA/ROCm GPU" in gpu.no_gpu_reason()


def test_a_broken_install_is_no_gpu_not_a_crash(monkeypatch):
    fake_importer(monkeypatch, torch=OSError("libcudart.so: cannot open"),
                  cupy=fake_cupy(devices=0))
    assert gpu.find_backend() is None
    assert "sees no GPU" in gpu.no_gpu_reason()


def test_torch_with_cuda_reports_the_device(monkeypatch, tmp_path):
    driver_file = tmp_path / "version"
    driver_file.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  "
                           "Tue Mar  5 22:23:56 UTC 2024\n")
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER_FILE", driver_file)
    fake_importer(monkeypatch, torch=fake_torch())
    backend = gpu.find_backend()
    assert isinstance(backend, gpu.TorchBackend)
    assert backend.device == gpu.Device("torch", "NVIDIA H100 80GB HBM3", 85_000_000_000,
                                        "CUDA 12.4, driver 550.54.15")
    assert gpu.no_gpu_reason() == ""


def test_rocm_torch_names_rocm(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER_FILE", tmp_path / "absent")
    fake_importer(monkeypatch, torch=fake_torch(hip="6.1"))
    assert gpu.find_backend().device.driver == "ROCm 6.1"


def test_cupy_is_used_when_torch_is_absent_and_offers_no_bf16(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER_FILE", tmp_path / "absent")
    fake_importer(monkeypatch, cupy=fake_cupy())
    backend = gpu.find_backend()
    assert isinstance(backend, gpu.CupyBackend)
    assert backend.device.name == "NVIDIA A100-SXM4-80GB"
    assert backend.device.driver == "CUDA 12.4"
    with pytest.raises(ValueError, match="no bf16"):
        gpu.matmul_flops("bf16", backend=backend)


def test_unknown_backend_name_is_a_value_error():
    with pytest.raises(ValueError, match="unknown GPU backend"):
        gpu.find_backend(prefer="opencl")


def test_measurements_without_a_gpu_say_why(monkeypatch):
    fake_importer(monkeypatch)
    with pytest.raises(ValueError, match="no GPU found"):
        gpu.copy_bandwidth()
    assert gpu.report_part() is None


# ---------------------------------------------------------------- matching the dataset


@pytest.mark.parametrize("device_name, expected", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),
    ("NVIDIA H100 SXM5 80GB", "h100-sxm"),
    ("NVIDIA H100 PCIe", None),
    ("NVIDIA H100 NVL", None),
    ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
    ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
    ("NVIDIA A100 80GB PCIe", None),
    ("Tesla V100-SXM2-32GB", "v100"),
    ("NVIDIA B200", "b200"),
    ("NVIDIA GB200", "gb200"),
    ("NVIDIA GH200 480GB", None),
    ("AMD Instinct MI300X", "mi300x"),
    ("AMD Instinct MI250X", None),
    ("NVIDIA GeForce RTX 4090", None),
    ("", None),
    (None, None),
])
def test_match_hardware(device_name, expected):
    assert gpu.match_hardware(device_name) == expected


def test_every_rule_names_a_part_in_the_dataset():
    for _, _, name in gpu.DEVICE_NAME_RULES:
        assert name in hardware.names(), name
    for link in gpu.HOST_LINKS.values():
        hardware.link(link)
    assert gpu.host_link_name("h100-sxm") == "pcie5-x16"
    assert gpu.host_link_name(None) is None


# ---------------------------------------------------------------- timing and plumbing


def test_every_timed_region_is_synchronised_before_and_after():
    backend = FakeBackend()
    seconds, host = gpu.time_on_device(backend, lambda: backend.copy(np.zeros(4), np.ones(4)),
                                       repeats=3, warmup=2)
    assert seconds == (SECONDS_PER_CALL,) * 3 and len(host) == 3
    assert backend.log[0] == "sync"
    work_at = [i for i, call in enumerate(backend.log) if call == "work"]
    assert len(work_at) == 5  # warm-up + repeats
    for i in work_at:
        assert backend.log[i - 2:i] == ["sync", "event"]
        assert backend.log[i + 1:i + 3] == ["event", "sync"]


def test_without_events_the_host_clock_is_used():
    backend = FakeBackend(events=False)
    seconds, host = gpu.time_on_device(backend, lambda: None, repeats=4)
    assert seconds == host and len(seconds) == 4


def test_copy_counts_bytes_read_and_written(small_sizes):
    backend = FakeBackend()
    result = gpu.copy_bandwidth(backend, array_bytes=1 << 20, repeats=3)
    assert isinstance(result, Measurement)
    assert (result.quantity, result.unit) == ("bandwidth", "B/s")
    allocated_bytes = sum(array.nbytes for array in backend.allocated)
    assert allocated_bytes == 2 * (1 << 20)
    assert result.details["counted_bytes"] == allocated_bytes
    assert result.details["counting"] == "bytes read + written"
    assert result.samples == pytest.approx([allocated_bytes / SECONDS_PER_CALL] * 3)
    np.testing.assert_array_equal(backend.allocated[1], backend.allocated[0])  # it copied


def test_triad_counts_three_arrays_and_computes_the_triad(small_sizes):
    backend = FakeBackend()
    result = gpu.triad_bandwidth(backend, repeats=2)
    a, b, c = backend.allocated
    assert result.details["counted_bytes"] == a.nbytes + b.nbytes + c.nbytes
    np.testing.assert_array_equal(a, b + 3.0 * c)
    assert result.best == pytest.approx(3 * a.nbytes / SECONDS_PER_CALL)


@pytest.mark.parametrize("direction", ["to_device", "to_host"])
@pytest.mark.parametrize("pinned", [True, False])
def test_host_device_counts_each_byte_once(small_sizes, direction, pinned):
    backend = FakeBackend()
    result = gpu.host_device_bandwidth(direction, pinned=pinned, backend=backend, repeats=2)
    (device_array,) = backend.allocated
    assert backend.pinned == [pinned]
    assert result.details["counted_bytes"] == device_array.nbytes
    assert result.best == pytest.approx(device_array.nbytes / SECONDS_PER_CALL)
    assert result.details["direction"] == direction and result.details["pinned"] is pinned
    if direction == "to_device":  # the host's zeros reached the device's ones
        assert not device_array.any()


def test_host_device_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        gpu.host_device_bandwidth("sideways", backend=FakeBackend())


@pytest.mark.parametrize("dtype", gpu.MATMUL_DTYPES)
def test_matmul_counts_two_n_cubed(dtype):
    result = gpu.matmul_flops(dtype, n=48, backend=FakeBackend(), repeats=2)
    assert (result.quantity, result.unit) == ("flops", "FLOP/s")
    assert result.details["flops"] == 2 * 48 * 48 * 48
    assert result.best == pytest.approx(2 * 48**3 / SECONDS_PER_CALL)
    assert dtype in result.kernel


def test_too_big_for_the_device_is_a_value_error():
    with pytest.raises(ValueError, match="GPU memory"):
        gpu.matmul_flops("fp32", n=4096, backend=FakeBackend(free_bytes=10**6))


def test_gemv_sweep_walks_up_the_roofline_and_finds_the_turn():
    # The fake step costs max(1 ms, batch x 0.1 ms): memory-bound up to batch 10.
    backend = FakeBackend(seconds=lambda b: max(1e-3, b.last_batch * 1e-4))
    points = gpu.gemv_sweep((1, 2, 4, 8, 16, 32), d=64, backend=backend, repeats=2)
    for point in points:
        batch = point.details["batch"]
        flops, moved = 2 * 64 * 64 * batch, 2 * (64 * 64 + 2 * 64 * batch)  # 2-byte weights
        assert point.details["intensity_flops_per_byte"] == pytest.approx(flops / moved)
        assert point.best == pytest.approx(flops / max(1e-3, batch * 1e-4))
    intensities = [p.details["intensity_flops_per_byte"] for p in points]
    assert intensities == sorted(intensities)
    assert gpu.turning_batch(points) == 16  # 1.6 ms >= 1.5 x 1 ms
    assert gpu.turning_batch(points, slowdown=10.0) is None


# ---------------------------------------------------------------- the report's gpu part


# Rates the fake H100 SXM below runs at: its copy at 0.80 of the dataset's 3.35 TB/s,
# every matmul at 0.50 of its 989 TFLOP/s dense bf16.
RATED_COPY_BYTES_PER_S = 0.80 * 3.35e12  # = 2.68e12
RATED_MATMUL_FLOPS_PER_S = 0.50 * 989e12  # = 494.5e12


class RatedBackend(FakeBackend):
    """A FakeBackend whose copies and matmuls take the time they would at known rates."""

    def __init__(self):
        super().__init__(seconds=lambda backend: backend.work_seconds)
        self.work_seconds = SECONDS_PER_CALL

    def copy(self, destination, source):
        super().copy(destination, source)
        self.work_seconds = 2 * source.nbytes / RATED_COPY_BYTES_PER_S  # read + written

    def matmul(self, a, b, out):
        super().matmul(a, b, out)
        (rows, inner), columns = a.shape, b.shape[1]
        self.work_seconds = 2 * rows * inner * columns / RATED_MATMUL_FLOPS_PER_S

    def triad(self, a, b, c, scalar):
        super().triad(a, b, c, scalar)
        self.work_seconds = SECONDS_PER_CALL

    def to_device(self, device_array, host_array):
        super().to_device(device_array, host_array)
        self.work_seconds = SECONDS_PER_CALL

    def to_host(self, host_array, device_array):
        super().to_host(host_array, device_array)
        self.work_seconds = SECONDS_PER_CALL


def test_report_part_is_versioned_json_with_ratios_to_spec(small_sizes):
    part = gpu.report_part(quick=True, progress=False, backend=RatedBackend())
    assert part["gpu_schema_version"] == gpu.GPU_SCHEMA_VERSION == 1
    assert part["hardware_match"] == "h100-sxm"
    assert set(part["matmul"]) == set(gpu.MATMUL_DTYPES)
    assert len(part["host_device"]) == 4
    assert [g["batch"] for g in part["gemv"]] == list(gpu.GEMV_BATCHES)
    json.dumps(part)
    # Copy: 64 KiB arrays, 2 x 65536 bytes counted each run -> 2.68e12 B/s measured.
    assert part["copy"]["array_bytes"] == 64 * 1024
    assert part["copy"]["best_bytes_per_s"] == pytest.approx(2.68e12, rel=1e-12)
    # Matmul: n = max(256, min(32, what fits)) = 256, 2 x 256^3 FLOPs -> 494.5e12 FLOP/s.
    assert part["matmul"]["bf16"]["n"] == 256
    assert part["matmul"]["bf16"]["best_flops_per_s"] == pytest.approx(494.5e12, rel=1e-12)
    # Ridge = matmul peak / copy bandwidth = 494.5e12 / 2.68e12 = 184.5149... FLOP/byte.
    assert part["ridge_flops_per_byte"]["bf16"] == pytest.approx(184.51492537, rel=1e-9)
    text = "\n".join(gpu.render_lines(part))
    assert "NVIDIA H100 80GB HBM3" in text and "pageable" in text
    lines = text.splitlines()
    copy_line = next(line for line in lines if "device copy" in line)
    assert copy_line.endswith("   0.80 x spec")  # 2.68e12 / 3.35e12 (inverted it would be 1.25)
    bf16_line = next(line for line in lines if "matmul bf16" in line)
    assert bf16_line.endswith("   0.50 x spec (dense)")  # 494.5e12 / 989e12
    fp32_line = next(line for line in lines if "matmul fp32" in line)
    assert fp32_line.endswith("   7.38 x spec (dense)")  # 494.5e12 / 67e12 = 7.380...
    roofs = gpu.roofs(part, "lab-1")
    assert [r.name for r in roofs] == [f"lab-1, {d}" for d in gpu.MATMUL_DTYPES]


def test_a_failing_gpu_costs_the_part_not_the_report(small_sizes):
    backend = FakeBackend()
    backend.copy = lambda destination, source: (_ for _ in ()).throw(RuntimeError("CUDA OOM"))
    part = gpu.report_part(quick=True, progress=False, backend=backend)
    assert "CUDA OOM" in part["error"]
    assert "measurement failed" in "\n".join(gpu.render_lines(part))
    assert gpu.roofs(part) == []


def _cpu_report():
    from test_compare import make_report

    return make_report()


def test_reports_load_with_without_and_with_a_null_gpu_part(tmp_path, small_sizes):
    old = _cpu_report()  # written before the gpu part existed: no "gpu" key
    assert report.load(report.save(old, tmp_path / "old.json")) == old
    assert "GPU" not in report.render(old)
    for part in (None, gpu.report_part(quick=True, progress=False, backend=FakeBackend())):
        new = {**_cpu_report(), "gpu": part}
        assert report.load(report.save(new, tmp_path / "new.json")) == new
        assert ("GPU " in report.render(new)) == (part is not None)


def test_load_rejects_an_unknown_gpu_version(tmp_path):
    path = report.save({**_cpu_report(), "gpu": {"gpu_schema_version": 2}}, tmp_path / "r.json")
    with pytest.raises(ValueError, match="gpu part version 2"):
        report.load(path)


def test_compare_draws_gpu_rooflines_beside_cpu_ones(tmp_path, small_sizes):
    part = gpu.report_part(quick=True, progress=False, backend=FakeBackend())
    report.save({**_cpu_report(), "gpu": part}, tmp_path / "hub.json")
    report.save(_cpu_report(), tmp_path / "laptop.json")
    reports, problems = compare.collect_reports([tmp_path])
    assert not problems
    figure = compare.figure(reports)
    assert len(figure.axes) == 3
    gpu_ax = figure.axes[2]
    assert gpu_ax.get_xscale() == gpu_ax.get_yscale() == "log"
    assert "GPU" in gpu_ax.get_title() and "(FLOP/s)" in gpu_ax.get_ylabel()
    legend = [t.get_text() for t in gpu_ax.get_legend().get_texts()]
    assert legend == ["hub GPU, bf16"]
    reports_without = [(p, r) for p, r in reports if "gpu" not in r]
    assert len(compare.figure(reports_without).axes) == 2


def test_compare_table_lists_measured_gpus_below_the_cpus(tmp_path, small_sizes):
    part = gpu.report_part(quick=True, progress=False, backend=FakeBackend())
    part["gemv_turning_batch"] = 64
    report.save({**_cpu_report(), "gpu": part}, tmp_path / "hub.json")
    report.save(_cpu_report(), tmp_path / "laptop.json")
    reports, _ = compare.collect_reports([tmp_path])
    text = compare.table(reports)
    cpu_part, gpu_part = text.split("\nGPUs")
    assert "hub" in cpu_part and "laptop" in cpu_part
    rows = [line.split("  ") for line in gpu_part.splitlines() if line.startswith("hub")]
    assert len(rows) == 1 and "laptop" not in gpu_part  # only machines with a GPU
    cells = [cell.strip() for cell in rows[0] if cell.strip()]
    copy = part["copy"]["best_bytes_per_s"]
    peak = part["matmul"]["bf16"]["best_flops_per_s"]
    assert cells == ["hub", FakeBackend().device.name, format_rate(copy, "B/s"),
                     f"{format_rate(peak, 'FLOP/s')} bf16", f"{peak / copy:.0f}", "64"]
    without = [(path, r) for path, r in reports if "gpu" not in r]
    assert "GPUs" not in compare.table(without)


# ---------------------------------------------------------------- a real GPU, where there is one


@pytest.mark.skipif(gpu.find_backend() is None, reason="no GPU backend (PyTorch/CuPy with a GPU)")
def test_real_gpu_copy_and_matmul_are_plausible():
    backend = gpu.find_backend()
    # The quick default arrays (512 MiB each, less where they would not fit) lie far above
    # any GPU's last-level cache (an MI300X's 256 MB): the copy runs from HBM, not cache.
    copy = gpu.copy_bandwidth(backend, quick=True, repeats=3)
    dtype = "bf16" if "bf16" in backend.dtypes else "fp16"
    flops = gpu.matmul_flops(dtype, n=1024, backend=backend, repeats=3)
    assert copy.best > 0 and flops.best > 0
    match = gpu.match_hardware(backend.device.name)
    if match is None:
        pytest.skip(f"{backend.device.name!r} has no part in the dataset to compare with")
    spec = hardware.get(match)
    # A device copy reaches 40-100 % of the HBM spec (read + written); never 5 % above it.
    assert 0.4 <= copy.best / spec.bandwidth_bytes_per_s <= 1.05, copy
    if dtype in spec.peak_flops_per_s:
        assert flops.best / spec.peak(dtype) <= 1.05, flops  # no GPU beats its dense peak


def _gpu_check_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_without_a_gpu_says_so_and_exits_0(monkeypatch, capsys):
    fake_importer(monkeypatch)
    assert _gpu_check_script().main([]) == 0
    assert capsys.readouterr().out.startswith("no GPU backend found")


def test_gpu_check_prints_ratios_to_spec_with_a_fake_gpu(monkeypatch, capsys, small_sizes):
    script = _gpu_check_script()
    monkeypatch.setattr(script, "MATMUL_SIZES", (16, 32))
    monkeypatch.setattr(gpu, "find_backend", lambda prefer=None: FakeBackend())
    assert script.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "dataset part: NVIDIA H100 SXM (h100-sxm)" in out
    assert "x spec" in out and "pcie5-x16" in out and "dataset ridge of h100-sxm: 295" in out


def test_default_sizes_shrink_to_fit_a_small_device():
    budget_bytes = 3 * 1024**2  # half of 6 MiB free
    backend = FakeBackend(free_bytes=2 * budget_bytes)
    copy = gpu.copy_bandwidth(backend, repeats=1)
    assert 2 * copy.size_bytes <= budget_bytes
    matmul = gpu.matmul_flops("fp32", backend=backend, repeats=1)
    assert matmul.size_bytes <= budget_bytes and matmul.details["n"] % 256 == 0
    points = gpu.gemv_sweep((1, 2), backend=backend, repeats=1)
    assert points[0].details["d"] ** 2 * 2 <= budget_bytes


def test_default_link_size_shrinks_to_fit_the_host_memory_budget(monkeypatch):
    # 64 KiB available: a quarter, 16 KiB, may be used; the default link size is 32 KiB.
    monkeypatch.setattr(gpu, "DEFAULT_SIZES", {**SMALL_SIZES, "link_bytes": (32768, 32768)})
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: 65536)
    backend = FakeBackend(free_bytes=80 * 1024**3)
    result = gpu.host_device_bandwidth(backend=backend, quick=False, repeats=1)
    assert result.size_bytes == 16384
    with pytest.raises(ValueError, match="host buffer"):  # an explicit size is not shrunk
        gpu.host_device_bandwidth(backend=backend, size_bytes=32768, repeats=1)
    copy = gpu.copy_bandwidth(backend, quick=False, repeats=1)  # device arrays: no host cap
    assert copy.size_bytes == 64 * 1024


def test_measure_all_releases_the_device_memory_when_a_measurement_fails(small_sizes):
    backend = FakeBackend()
    backend.matmul = lambda a, b, out: (_ for _ in ()).throw(RuntimeError("CUDA OOM"))
    with pytest.raises(RuntimeError, match="CUDA OOM"):
        gpu.measure_all(backend, quick=True)
    assert backend.log[-1] == "release"
    fine = FakeBackend()  # and after a success, once
    gpu.measure_all(fine, quick=True)
    assert fine.log.count("release") == 1 and fine.log[-1] == "release"


def test_roofs_of_an_integer_too_big_for_a_float_are_none():
    part = {"gpu_schema_version": 1, "copy": {"best_bytes_per_s": 10**400},
            "matmul": {"bf16": {"best_flops_per_s": 1e15}}}
    assert gpu.roofs(part) == []
