"""Measure a GPU the way `measure` measures the CPU, when one is there (lessons 03, 05, 06).

An optional backend: nothing here is a required dependency. `find_backend` looks
for PyTorch with CUDA or ROCm, then CuPy, and returns None when neither can
reach a GPU (`no_gpu_reason` says why in one line); then the lessons use the
course dataset (`memwall_lab.hardware`) instead.

Every measurement returns a `measure.Measurement` in SI units (bytes/s, FLOP/s)
and is timed with `timing.time_call`. The device is synchronised before and
after every timed region (kernels launch asynchronously: without that the host
clock would time the launch, not the work); where the backend has CUDA/HIP
events, the samples are the event times and the host times are kept in `details`.

- `copy_bandwidth`, `triad_bandwidth`: device memory, STREAM counting
  (copy counts bytes read + written: 2 per element byte; triad 3);
- `host_device_bandwidth`: host -> device or device -> host, pinned or pageable;
- `matmul_flops`: n x n matrix multiply, 2 n^3 FLOPs, fp32 / bf16 / fp16;
- `gemv_sweep` / `turning_batch`: a decode-like weight matrix times a batch of
  vectors, walking up the GPU's roofline from batch 1.

`match_hardware` maps the name a driver reports ('NVIDIA H100 80GB HBM3') to the
dataset's name ('h100-sxm'), so measured figures can be set beside spec figures.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memwall_lab.measure import Measurement, check_fits, memory_budget_bytes, quick_mode
from memwall_lab.timing import time_call
from memwall_lab.units import format_bytes, format_rate
from memwall_lab.validate import check_count, check_flag

GPU_SCHEMA_VERSION = 1
NO_GPU_LINE = "no GPU found (PyTorch with CUDA/ROCm or CuPy)"
MATMUL_DTYPES = ("fp32", "bf16", "fp16")
DEVICE_MEMORY_FRACTION = 0.5  # never allocate more than this share of free device memory
GEMV_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TURNING_SLOWDOWN = 1.5  # a step this much slower than at batch 1 has turned compute-bound
NVIDIA_DRIVER_FILE = Path("/proc/driver/nvidia/version")
MIB = 1024**2
# Default sizes as (quick, full): arrays far above any GPU's last-level cache (an MI300X has
# 256 MB of Infinity Cache, an H100 50 MB of L2); matmuls on the cuBLAS/rocBLAS plateau.
DEFAULT_SIZES = {
    "array_bytes": (512 * MIB, 2048 * MIB),  # each array of copy and triad
    "link_bytes": (256 * MIB, 1024 * MIB),  # one host <-> device transfer
    "matmul_n": (4096, 8192),  # n x n x n
    "gemv_d": (8192, 16384),  # d x d weights: 128 MiB / 512 MiB in bf16
}


@dataclass(frozen=True)
class Device:
    """The GPU a backend reaches: its name, memory in bytes and driver/runtime versions."""

    backend: str  # "torch" or "cupy"
    name: str
    memory_bytes: int
    driver: str  # e.g. "CUDA 12.4, driver 550.54.15" or "ROCm 6.1"

    def as_dict(self) -> dict:
        """The device as a JSON-ready dict."""
        return {"backend": self.backend, "name": self.name, "memory_bytes": self.memory_bytes,
                "driver": self.driver}


# ---------------------------------------------------------------- detection


def _import_module(name: str):
    """Import a module by name (tests replace this to simulate what is installed)."""
    return importlib.import_module(name)


def _nvidia_driver_version() -> str | None:
    """The NVIDIA kernel driver version from /proc on Linux, or None."""
    try:
        text = NVIDIA_DRIVER_FILE.read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", text)
    return found.group(1) if found else None


def _driver_text(runtime: str) -> str:
    """'CUDA 12.4' plus the kernel driver version where /proc tells it."""
    driver = _nvidia_driver_version()
    return f"{runtime}, driver {driver}" if driver and runtime.startswith("CUDA") else runtime


class TorchBackend:
    """PyTorch on a CUDA or ROCm device (ROCm builds answer to the `torch.cuda` API too)."""

    name = "torch"

    def __init__(self, torch):
        self.torch = torch
        self.dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
        properties = torch.cuda.get_device_properties(0)
        hip = getattr(torch.version, "hip", None)
        runtime = f"ROCm {hip}" if hip else f"CUDA {torch.version.cuda}"
        self.device = Device("torch", torch.cuda.get_device_name(0),
                             int(properties.total_memory), _driver_text(runtime))

    def synchronize(self) -> None:
        """Wait until every queued kernel and copy has finished."""
        self.torch.cuda.synchronize()

    def event(self):
        """Record a timing event on the current stream."""
        event = self.torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def elapsed_s(self, start, stop) -> float:
        """Seconds between two recorded (and completed) events."""
        return start.elapsed_time(stop) * 1e-3

    def free_bytes(self) -> int:
        """Device memory free now, in bytes."""
        return int(self.torch.cuda.mem_get_info()[0])

    def full(self, elements: int, value: float, dtype: str = "fp32"):
        """A 1-D device array filled with `value`."""
        return self.torch.full((elements,), value, dtype=self.dtypes[dtype], device="cuda")

    def random(self, rows: int, columns: int, dtype: str):
        """A rows x columns device matrix of standard normal numbers."""
        return self.torch.randn(rows, columns, dtype=self.dtypes[dtype], device="cuda")

    def copy(self, destination, source) -> None:
        """destination = source, on the device."""
        destination.copy_(source)

    def triad(self, a, b, c, scalar: float) -> None:
        """a = b + scalar * c in one kernel."""
        self.torch.add(b, c, alpha=scalar, out=a)

    def matmul(self, a, b, out) -> None:
        """out = a @ b."""
        self.torch.matmul(a, b, out=out)

    def host_buffer(self, size_bytes: int, pinned: bool):
        """A host byte buffer, page-locked (pinned) or ordinary (pageable)."""
        return self.torch.empty(size_bytes, dtype=self.torch.uint8, pin_memory=pinned)

    def device_bytes(self, size_bytes: int):
        """A device byte buffer."""
        return self.torch.empty(size_bytes, dtype=self.torch.uint8, device="cuda")

    def to_device(self, device_array, host_array) -> None:
        """Copy host -> device (asynchronous from pinned memory)."""
        device_array.copy_(host_array, non_blocking=True)

    def to_host(self, host_array, device_array) -> None:
        """Copy device -> host (asynchronous into pinned memory)."""
        host_array.copy_(device_array, non_blocking=True)

    def release(self) -> None:
        """Hand cached device memory back (after `measure_all`)."""
        self.torch.cuda.empty_cache()


class CupyBackend:
    """CuPy on a CUDA or ROCm device (CuPy has no bf16 arrays: bf16 is not offered)."""

    name = "cupy"

    def __init__(self, cupy):
        self.cupy = cupy
        self.dtypes = {"fp32": cupy.float32, "fp16": cupy.float16}
        runtime = cupy.cuda.runtime
        properties = runtime.getDeviceProperties(0)
        name = properties["name"]
        version = runtime.driverGetVersion()
        label = "ROCm" if getattr(runtime, "is_hip", False) else "CUDA"
        self.device = Device("cupy", name.decode() if isinstance(name, bytes) else str(name),
                             int(properties["totalGlobalMem"]),
                             _driver_text(f"{label} {version // 1000}.{version % 1000 // 10}"))
        self._triad = cupy.ElementwiseKernel("T b, T c, T scalar", "T a", "a = b + scalar * c",
                                             "memwall_triad")

    def synchronize(self) -> None:
        """Wait until every queued kernel and copy has finished."""
        self.cupy.cuda.Device().synchronize()

    def event(self):
        """Record a timing event on the current stream."""
        event = self.cupy.cuda.Event()
        event.record()
        return event

    def elapsed_s(self, start, stop) -> float:
        """Seconds between two recorded (and completed) events."""
        return self.cupy.cuda.get_elapsed_time(start, stop) * 1e-3

    def free_bytes(self) -> int:
        """Device memory free now, in bytes."""
        return int(self.cupy.cuda.runtime.memGetInfo()[0])

    def full(self, elements: int, value: float, dtype: str = "fp32"):
        """A 1-D device array filled with `value`."""
        return self.cupy.full(elements, value, dtype=self.dtypes[dtype])

    def random(self, rows: int, columns: int, dtype: str):
        """A rows x columns device matrix of standard normal numbers."""
        matrix = self.cupy.random.standard_normal((rows, columns), dtype=self.cupy.float32)
        return matrix.astype(self.dtypes[dtype])

    def copy(self, destination, source) -> None:
        """destination = source, on the device."""
        self.cupy.copyto(destination, source)

    def triad(self, a, b, c, scalar: float) -> None:
        """a = b + scalar * c in one kernel."""
        self._triad(b, c, b.dtype.type(scalar), a)

    def matmul(self, a, b, out) -> None:
        """out = a @ b."""
        self.cupy.matmul(a, b, out=out)

    def host_buffer(self, size_bytes: int, pinned: bool):
        """A host byte buffer, page-locked (pinned) or ordinary (pageable)."""
        if pinned:
            import cupyx

            return cupyx.empty_pinned((size_bytes,), dtype=np.uint8)
        return np.empty(size_bytes, dtype=np.uint8)

    def device_bytes(self, size_bytes: int):
        """A device byte buffer."""
        return self.cupy.empty(size_bytes, dtype=self.cupy.uint8)

    def to_device(self, device_array, host_array) -> None:
        """Copy host -> device."""
        device_array.set(host_array)

    def to_host(self, host_array, device_array) -> None:
        """Copy device -> host."""
        device_array.get(out=host_array)

    def release(self) -> None:
        """Hand cached device memory back (after `measure_all`)."""
        self.cupy.get_default_memory_pool().free_all_blocks()


def _probe_torch():
    """(TorchBackend, '') if PyTorch reaches a GPU, else (None, why not)."""
    try:
        torch = _import_module("torch")
    except Exception:  # ImportError, or a broken install failing to load its libraries
        return None, "PyTorch is not installed"
    try:
        if not torch.cuda.is_available():
            return None, "PyTorch is installed without a usable CUDA/ROCm GPU"
        return TorchBackend(torch), ""
    except Exception as error:  # a driver or runtime that fails to answer
        return None, f"PyTorch could not open the GPU ({error})"


def _probe_cupy():
    """(CupyBackend, '') if CuPy reaches a GPU, else (None, why not)."""
    try:
        cupy = _import_module("cupy")
    except Exception:
        return None, "CuPy is not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy is installed but sees no GPU"
        return CupyBackend(cupy), ""
    except Exception as error:
        return None, f"CuPy could not open the GPU ({error})"


PROBES = {"torch": _probe_torch, "cupy": _probe_cupy}


def _probe(prefer: str | None):
    """(backend or None, reasons) trying `prefer` first, then the other backends."""
    if prefer is not None and prefer not in PROBES:
        raise ValueError(f"unknown GPU backend {prefer!r}; choose one of {sorted(PROBES)}")
    order = [prefer] if prefer else []
    order += [name for name in PROBES if name not in order]
    reasons = []
    for name in order:
        backend, reason = PROBES[name]()
        if backend is not None:
            return backend, []
        reasons.append(reason)
    return None, reasons


def find_backend(prefer: str | None = None):
    """The first GPU backend that reaches a device ('torch', then 'cupy'), or None."""
    return _probe(prefer)[0]


def no_gpu_reason() -> str:
    """One line saying why no GPU backend was found ('' if one was)."""
    backend, reasons = _probe(None)
    return "" if backend is not None else f"{NO_GPU_LINE}: {'; '.join(reasons)}"


# ---------------------------------------------------------------- matching the dataset

# (name prefixes that must all appear, prefixes that must not, dataset name); first match wins.
# PCIe and NVL cards are other parts (less bandwidth or power), so they get no match;
# an MI250X shows up as two devices of half the part each, so it gets none either.
DEVICE_NAME_RULES = (
    (("gb200",), (), "gb200"),
    (("b200",), (), "b200"),
    (("h200",), ("nvl", "pcie"), "h200"),
    (("h100", "hbm3"), ("nvl", "pcie"), "h100-sxm"),
    (("h100", "sxm"), ("nvl", "pcie"), "h100-sxm"),
    (("a100", "sxm", "80gb"), (), "a100-80gb"),
    (("a100", "sxm", "40gb"), (), "a100-40gb"),
    (("v100", "sxm2", "32gb"), (), "v100"),
    (("mi300x",), (), "mi300x"),
    (("mi325x",), (), "mi325x"),
)


def match_hardware(device_name: str) -> str | None:
    """The `hardware` name of a GPU from the name its driver reports, or None when unknown.

    'NVIDIA H100 80GB HBM3' -> 'h100-sxm', 'NVIDIA A100-SXM4-80GB' -> 'a100-80gb',
    'AMD Instinct MI300X' -> 'mi300x', 'NVIDIA H100 PCIe' -> None (not in the dataset).
    The name is split into lower-case words of letters and digits; a rule's word
    matches any word it begins ('sxm' matches 'sxm4').
    """
    if not isinstance(device_name, str):
        return None
    words = re.findall(r"[a-z0-9]+", device_name.lower())

    def has(prefix: str) -> bool:
        return any(word.startswith(prefix) for word in words)

    for required, forbidden, name in DEVICE_NAME_RULES:
        if all(map(has, required)) and not any(map(has, forbidden)):
            return name
    return None


HOST_LINKS = {"v100": "pcie3-x16", "a100-40gb": "pcie4-x16", "a100-80gb": "pcie4-x16",
              "mi250x": "pcie4-x16"}


def host_link_name(hardware_name: str | None) -> str | None:
    """The `hardware.link` name of the host link of a dataset part (PCIe 5 x16 from 2022 on)."""
    if hardware_name is None:
        return None
    return HOST_LINKS.get(hardware_name, "pcie5-x16")


# ---------------------------------------------------------------- timing and sizes


def device_budget_bytes(backend) -> int:
    """Most device bytes one measurement may allocate: half the free device memory."""
    return int(backend.free_bytes() * DEVICE_MEMORY_FRACTION)


def check_device_fits(backend, size_bytes: int, what: str) -> None:
    """Raise ValueError if `size_bytes` would exceed the device memory budget."""
    budget = device_budget_bytes(backend)
    if size_bytes > budget:
        raise ValueError(f"{what} needs {format_bytes(size_bytes)} of GPU memory, but at most "
                         f"{format_bytes(budget)} (half the free memory) may be used")


def time_on_device(backend, work: Callable[[], object], *, repeats: int, warmup: int = 1):
    """Time `work` with `time_call`, synchronising the device before and after each repeat.

    Returns (device seconds, host seconds) per timed repeat; device seconds come from
    events recorded around `work` where the backend has them, else they are the host's.
    """
    event_seconds = []

    def region() -> None:
        backend.synchronize()
        start = backend.event()
        work()
        stop = backend.event()
        backend.synchronize()
        if start is not None and stop is not None:
            event_seconds.append(backend.elapsed_s(start, stop))

    backend.synchronize()
    host = time_call(region, repeats=repeats, warmup=warmup, warn=False).seconds
    device = tuple(event_seconds[-repeats:]) if len(event_seconds) >= repeats else host
    return device, host


def _backend(backend):
    """`backend`, or the detected one; ValueError naming why when there is none."""
    backend = backend if backend is not None else find_backend()
    if backend is None:
        raise ValueError(no_gpu_reason())
    return backend


def _repeats(repeats: int | None, quick: bool) -> int:
    return check_count("repeats", repeats, 1, 1000) if repeats is not None else (
        5 if quick else 20)


def _rate(quantity: str, kernel: str, unit: str, amount: float, seconds, host_seconds,
          size_bytes: int, backend, **details) -> Measurement:
    """A Measurement of `amount` (bytes or FLOPs) per second for each timed repeat."""
    return Measurement(
        quantity=quantity, kernel=kernel, unit=unit,
        samples=tuple(amount / s for s in seconds), size_bytes=size_bytes, threads=1,
        details={"device": backend.device.name, "backend": backend.name, "seconds": seconds,
                 "host_seconds": host_seconds, **details})


# ---------------------------------------------------------------- measurements


def default_size(name: str, quick: bool | None = None) -> int:
    """The default size `name` of `DEFAULT_SIZES` for quick or full mode."""
    return DEFAULT_SIZES[name][0 if quick_mode(quick) else 1]


def _fitted_bytes(backend, name: str, quick: bool, arrays: int, host: bool = False) -> int:
    """Default bytes per array, shrunk so `arrays` of them fit the device budget (a MIG slice)
    and, for `host` buffers, the host memory budget too."""
    budget = device_budget_bytes(backend)
    if host:
        budget = min(budget, memory_budget_bytes())
    return max(4096, min(default_size(name, quick), budget // arrays))


def _fitted_side(backend, name: str, quick: bool, itemsize_bytes: int) -> int:
    """Default matrix side, shrunk (to a multiple of 256) so 3 such matrices fit the budget."""
    largest = int((device_budget_bytes(backend) / (3 * itemsize_bytes)) ** 0.5) // 256 * 256
    return max(256, min(default_size(name, quick), largest))


def copy_bandwidth(backend=None, *, array_bytes: int | None = None, repeats: int | None = None,
                   quick: bool | None = None) -> Measurement:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read + written (2 per byte).

    The spec figure of HBM (e.g. 3.35 TB/s for an H100 SXM) is read and write
    together, so this is the count to set beside it.
    """
    backend, quick = _backend(backend), quick_mode(quick)
    array_bytes = check_count("array_bytes", array_bytes, 4096) if array_bytes is not None \
        else _fitted_bytes(backend, "array_bytes", quick, 2)
    elements = array_bytes // 4
    check_device_fits(backend, 2 * elements * 4, "copy_bandwidth")
    source, destination = backend.full(elements, 1.0), backend.full(elements, 0.0)
    seconds, host = time_on_device(backend, lambda: backend.copy(destination, source),
                                   repeats=_repeats(repeats, quick))
    counted_bytes = 2 * elements * 4
    return _rate("bandwidth", "device copy", "B/s", counted_bytes, seconds, host, elements * 4,
                 backend, counted_bytes=counted_bytes, counting="bytes read + written")


def triad_bandwidth(backend=None, *, array_bytes: int | None = None, repeats: int | None = None,
                    quick: bool | None = None) -> Measurement:
    """Device triad a = b + s * c in bytes/s, counting 3 arrays (2 read + 1 written), fp32."""
    backend, quick = _backend(backend), quick_mode(quick)
    array_bytes = check_count("array_bytes", array_bytes, 4096) if array_bytes is not None \
        else _fitted_bytes(backend, "array_bytes", quick, 3)
    elements = array_bytes // 4
    check_device_fits(backend, 3 * elements * 4, "triad_bandwidth")
    a, b, c = (backend.full(elements, value) for value in (0.0, 1.0, 2.0))
    seconds, host = time_on_device(backend, lambda: backend.triad(a, b, c, 3.0),
                                   repeats=_repeats(repeats, quick))
    counted_bytes = 3 * elements * 4
    return _rate("bandwidth", "device triad", "B/s", counted_bytes, seconds, host, elements * 4,
                 backend, counted_bytes=counted_bytes, counting="2 arrays read + 1 written")


def host_device_bandwidth(direction: str = "to_device", *, pinned: bool = True, backend=None,
                          size_bytes: int | None = None, repeats: int | None = None,
                          quick: bool | None = None) -> Measurement:
    """Bytes/s across the host link, 'to_device' or 'to_host', from pinned or pageable memory.

    Each byte is counted once (it crosses the link once). Pinned (page-locked)
    memory lets the GPU's copy engine read it directly; pageable memory is
    first staged through a pinned buffer by the driver, which costs bandwidth.
    """
    if direction not in ("to_device", "to_host"):
        raise ValueError(f"direction must be 'to_device' or 'to_host', got {direction!r}")
    pinned = check_flag("pinned", pinned)
    backend, quick = _backend(backend), quick_mode(quick)
    size_bytes = check_count("size_bytes", size_bytes, 4096) if size_bytes is not None \
        else _fitted_bytes(backend, "link_bytes", quick, 1, host=True)
    check_fits(size_bytes, "host_device_bandwidth (host buffer)")
    check_device_fits(backend, size_bytes, "host_device_bandwidth")
    host, device = backend.host_buffer(size_bytes, pinned), backend.device_bytes(size_bytes)
    if direction == "to_device":
        work = lambda: backend.to_device(device, host)  # noqa: E731
    else:
        work = lambda: backend.to_host(host, device)  # noqa: E731
    seconds, host_seconds = time_on_device(backend, work, repeats=_repeats(repeats, quick))
    memory = "pinned" if pinned else "pageable"
    return _rate("bandwidth", f"{direction.replace('_', ' ')}, {memory}", "B/s", size_bytes,
                 seconds, host_seconds, size_bytes, backend, counted_bytes=size_bytes,
                 counting="bytes that cross the link", direction=direction, pinned=pinned)


def _check_dtype(backend, dtype: str) -> str:
    if dtype not in MATMUL_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {list(MATMUL_DTYPES)}")
    if dtype not in backend.dtypes:
        raise ValueError(f"the {backend.name} backend has no {dtype} arrays "
                         f"(it offers {', '.join(backend.dtypes)})")
    return dtype


ITEMSIZE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


def matmul_flops(dtype: str = "bf16", *, n: int | None = None, backend=None,
                 repeats: int | None = None, quick: bool | None = None) -> Measurement:
    """GPU matrix-multiply throughput in FLOP/s (2 n^3 FLOPs per n x n product).

    `n` defaults to 8192 (4096 in quick mode), on the plateau of current GPUs, or less
    where three matrices would not fit half the free device memory (a small MIG slice).
    fp32 is plain fp32 unless the backend was told to use TF32.
    """
    backend, quick = _backend(backend), quick_mode(quick)
    _check_dtype(backend, dtype)
    n = check_count("n", n, 16, 65536) if n is not None else _fitted_side(
        backend, "matmul_n", quick, ITEMSIZE_BYTES[dtype])
    size_bytes = 3 * n * n * ITEMSIZE_BYTES[dtype]
    check_device_fits(backend, size_bytes, "matmul_flops")
    a, b, out = (backend.random(n, n, dtype) for _ in range(3))
    seconds, host = time_on_device(backend, lambda: backend.matmul(a, b, out),
                                   repeats=_repeats(repeats, quick))
    flops = 2 * n**3
    return _rate("flops", f"GPU matmul {dtype} n={n}", "FLOP/s", flops, seconds, host,
                 size_bytes, backend, flops=flops, n=n, dtype=dtype)


def gemv_cost(d: int, batch: int, dtype: str) -> tuple[int, int]:
    """(FLOPs, bytes) of d x d weights times `batch` vectors: 2 d^2 b and (d^2 + 2 d b) x size."""
    return 2 * d * d * batch, (d * d + 2 * d * batch) * ITEMSIZE_BYTES[dtype]


def gemv_sweep(batches=GEMV_BATCHES, *, dtype: str = "bf16", d: int | None = None, backend=None,
               repeats: int | None = None, quick: bool | None = None) -> list[Measurement]:
    """FLOP/s of a decode-like step, a d x d weight matrix times `batch` vectors, per batch.

    At batch 1 the weights are read once per 2 FLOPs per weight (memory-bound);
    each extra vector reuses them, so intensity grows with batch until the GPU
    turns compute-bound. `d` defaults to 16384 (512 MiB of bf16 weights; 8192 in
    quick mode), well above a GPU's last-level cache; less where it would not fit.
    """
    backend, quick = _backend(backend), quick_mode(quick)
    _check_dtype(backend, dtype)
    batches = [check_count("each batch", batch, 1, 65536) for batch in batches]
    if not batches:
        raise ValueError("batches must name at least one batch size")
    d = check_count("d", d, 16, 65536) if d is not None else _fitted_side(
        backend, "gemv_d", quick, ITEMSIZE_BYTES[dtype])
    check_device_fits(backend, gemv_cost(d, max(batches), dtype)[1], "gemv_sweep")
    weights = backend.random(d, d, dtype)
    results = []
    for batch in batches:
        vectors, out = backend.random(d, batch, dtype), backend.random(d, batch, dtype)
        step = lambda v=vectors, o=out: backend.matmul(weights, v, o)  # noqa: E731
        seconds, host = time_on_device(backend, step, repeats=_repeats(repeats, quick))
        flops, moved_bytes = gemv_cost(d, batch, dtype)
        results.append(_rate("flops", f"GPU gemv {dtype} d={d} batch={batch}", "FLOP/s", flops,
                             seconds, host, moved_bytes, backend, flops=flops,
                             bytes_moved=moved_bytes, batch=batch, d=d, dtype=dtype,
                             intensity_flops_per_byte=flops / moved_bytes))
    return results


def turning_batch(points: list[Measurement], slowdown: float = TURNING_SLOWDOWN) -> int | None:
    """The first batch whose step takes `slowdown` x the smallest batch's step, or None.

    While memory-bound, a step costs the time to read the weights whatever the
    batch; once compute-bound it grows with the batch. The ridge of the roofline
    predicts the turn at intensity = peak / bandwidth (about batch = ridge for
    2-byte weights); this is where the measured steps turn.
    """
    if not points:
        raise ValueError("turning_batch needs the measurements of gemv_sweep")
    ordered = sorted(points, key=lambda point: point.details["batch"])
    first_s = min(ordered[0].details["seconds"])
    for point in ordered[1:]:
        if min(point.details["seconds"]) >= slowdown * first_s:
            return point.details["batch"]
    return None


# ---------------------------------------------------------------- the report's gpu part


def _rate_entry(result: Measurement, unit_key: str) -> dict:
    return {f"best_{unit_key}": result.best, f"median_{unit_key}": result.median}


def measure_all(backend=None, quick: bool | None = None) -> dict:
    """Measure the GPU for `memwall-lab report`: the report's `gpu` part (see report.py)."""
    backend, quick = _backend(backend), quick_mode(quick)
    try:
        return _measured_part(backend, quick)
    finally:
        backend.release()  # also after a failure: the cached device memory is not needed


def _measured_part(backend, quick: bool) -> dict:
    """Every GPU measurement of the report's `gpu` part, on `backend`."""
    copy = copy_bandwidth(backend, quick=quick)
    triad = triad_bandwidth(backend, quick=quick)
    links = [host_device_bandwidth(direction, pinned=pinned, backend=backend, quick=quick)
             for direction in ("to_device", "to_host") for pinned in (True, False)]
    matmul = {dtype: matmul_flops(dtype, backend=backend, quick=quick)
              for dtype in MATMUL_DTYPES if dtype in backend.dtypes}
    gemv_dtype = "bf16" if "bf16" in backend.dtypes else "fp16"
    gemv = gemv_sweep(dtype=gemv_dtype, backend=backend, quick=quick)
    return {
        "gpu_schema_version": GPU_SCHEMA_VERSION,
        "device": backend.device.as_dict(),
        "hardware_match": match_hardware(backend.device.name),
        "copy": {"array_bytes": copy.size_bytes, "counting": "bytes read + written",
                 **_rate_entry(copy, "bytes_per_s")},
        "triad": {"array_bytes": triad.size_bytes, "counting": "2 arrays read + 1 written",
                  **_rate_entry(triad, "bytes_per_s")},
        "host_device": [{"direction": r.details["direction"], "pinned": r.details["pinned"],
                         "size_bytes": r.size_bytes, **_rate_entry(r, "bytes_per_s")}
                        for r in links],
        "matmul": {dtype: {"n": r.details["n"], **_rate_entry(r, "flops_per_s")}
                   for dtype, r in matmul.items()},
        "gemv": [{"batch": r.details["batch"], "d": r.details["d"], "dtype": r.details["dtype"],
                  "intensity_flops_per_byte": r.details["intensity_flops_per_byte"],
                  "best_flops_per_s": r.best, "best_s": min(r.details["seconds"])}
                 for r in gemv],
        "gemv_turning_batch": turning_batch(gemv),
        "ridge_flops_per_byte": {dtype: r.best / copy.best for dtype, r in matmul.items()},
    }


def report_part(quick: bool | None = None, progress: bool = True, backend=None) -> dict | None:
    """The report's `gpu` part: None without a GPU; with one, its measurements.

    A GPU that fails mid-measurement (out of memory, a driver error) must not cost
    the student the CPU report: the part then holds the device and the error.
    """
    backend = backend if backend is not None else find_backend()
    if backend is None:
        return None
    if progress:
        print(f"measuring the GPU: {backend.device.name} ...", flush=True)
    try:
        return measure_all(backend, quick)
    except Exception as error:  # noqa: BLE001 - the optional GPU must not break the report
        return {"gpu_schema_version": GPU_SCHEMA_VERSION, "device": backend.device.as_dict(),
                "hardware_match": match_hardware(backend.device.name),
                "error": f"{type(error).__name__}: {error}"}


def check_part(part) -> None:
    """Raise ValueError unless `part` is None or a dict of this gpu schema version."""
    if part is None:
        return
    if not isinstance(part, dict) or part.get("gpu_schema_version") != GPU_SCHEMA_VERSION:
        version = part.get("gpu_schema_version") if isinstance(part, dict) else None
        raise ValueError(f"gpu part version {version!r}; this memwall-lab reads gpu version "
                         f"{GPU_SCHEMA_VERSION}")


def render_lines(part: dict) -> list[str]:
    """The GPU section of `memwall-lab report` as lines of text."""
    device = part.get("device", {})
    match = part.get("hardware_match")
    lines = ["", f"  GPU        {device.get('name', 'unknown')}, "
             f"{format_bytes(device.get('memory_bytes', 0))}, {device.get('driver', '')} "
             f"({device.get('backend', '?')}; dataset part: {match or 'none'})"]
    if part.get("error"):
        return [*lines, f"    measurement failed: {part['error']}"]
    spec = _spec(match)
    copy = part["copy"]["best_bytes_per_s"]
    lines.append(f"    device copy (read + written) {format_rate(copy, 'B/s'):>12}"
                 + (f"   {copy / spec.bandwidth_bytes_per_s:.2f} x spec" if spec else ""))
    lines.append(f"    device triad                 "
                 f"{format_rate(part['triad']['best_bytes_per_s'], 'B/s'):>12}")
    for entry in part["host_device"]:
        memory = "pinned" if entry["pinned"] else "pageable"
        label = f"{entry['direction'].replace('_', ' ')}, {memory}"
        lines.append(f"    {label:<28} {format_rate(entry['best_bytes_per_s'], 'B/s'):>12}")
    for dtype, point in part["matmul"].items():
        rate = point["best_flops_per_s"]
        ratio = (f"   {rate / spec.peak(dtype):.2f} x spec (dense)"
                 if spec and dtype in spec.peak_flops_per_s else "")
        lines.append(f"    matmul {dtype} n={point['n']:<6}       "
                     f"{format_rate(rate, 'FLOP/s'):>14}{ratio}")
    turn = part.get("gemv_turning_batch")
    lines.append(f"    decode-like GEMV turns compute-bound at batch "
                 f"{turn if turn else 'beyond ' + str(max(g['batch'] for g in part['gemv']))}")
    return lines


def _spec(hardware_name: str | None):
    """The dataset's Hardware for a matched name, or None."""
    if hardware_name is None:
        return None
    from memwall_lab import hardware

    return hardware.get(hardware_name)


def roofs(part, label: str = "GPU") -> list:
    """Measured GPU rooflines (one per matmul dtype, over device copy bandwidth) of a gpu part."""
    from memwall_lab.roofline import Roof

    if not isinstance(part, dict) or part.get("gpu_schema_version") != GPU_SCHEMA_VERSION:
        return []
    try:
        bandwidth = float(part["copy"]["best_bytes_per_s"])
        return [Roof(f"{label}, {dtype}", float(point["best_flops_per_s"]), bandwidth)
                for dtype, point in part["matmul"].items()]
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return []  # OverflowError: an integer too big for a float (10**400) in a student's file
