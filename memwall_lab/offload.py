"""Tier bandwidths and the offload / quantization / disaggregation cost models (lesson 06).

When a model does not fit in accelerator memory, or when two phases of serving
fight over one device, bytes must cross a slower link. This module measures the
one tier a laptop can (reading a file back, with and without the page cache)
and keeps the cost models lesson 06 builds on top of `models` and `hardware`:

- `weight_streaming`: weights streamed over a link every token;
- `kv_offload`: the offloaded part of the KV cache read over a link every step;
- `pipeline`: transfer and compute overlapped (max) or not (sum);
- `offloaded_batch_step`: FlexGen-style throughput batching (Sheng et al., ICML 2023,
  arXiv 2303.06865): one pass of streamed weights serves a whole batch;
- `quantized_decode`: fp16 -> int8 -> int4 weight bytes and the tokens/s they buy;
- `kv_transfer_seconds`, `request_stream`, `simulate_colocated`,
  `simulate_disaggregated`: the serving simulator, now in `memwall_lab.serving`
  (with continuous batching, chunked prefill and KV reuse) and re-exported here.

Sizes are bytes, times seconds, rates per second.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from memwall_lab import hardware, measure, models
from memwall_lab.serving import (  # noqa: F401 - the simulator's names, re-exported
    CONTEXT_BUCKET_TOKENS,
    MAX_MEAN_TOKENS,
    MAX_SIMULATED_OUTPUT_TOKENS,
    Request,
    ServedRequest,
    ServingRun,
    kv_transfer_seconds,
    request_stream,
    simulate_colocated,
    simulate_disaggregated,
)
from memwall_lab.timing import time_call
from memwall_lab.validate import (
    check_bandwidth,
    check_choice,
    check_count,
    check_number,
    check_positive,
    check_sequence,
    check_string,
    shown,
)

CACHE_STATES = ("warm", "cold")
READ_CHUNK_BYTES = 8 * 1024**2
MIN_FILE_BYTES = READ_CHUNK_BYTES
DEFAULT_FILE_BYTES = 1024**3  # full mode; quick mode uses QUICK_FILE_BYTES
QUICK_FILE_BYTES = 128 * 1024**2
DISK_FRACTION = 0.25  # never write more than this share of the free disk space
COLD_LOOKS_WARM = 0.5  # a "cold" read above this share of the warm rate was served from RAM
DEFAULT_TIER_LINKS = ("pcie4-x16", "pcie5-x16", "nvme-gen4", "nvme-gen5")
QUANT_DTYPES = ("fp16", "int8", "int4")


# ---------------------------------------------------------------- input checks


def _check_device(device) -> hardware.Hardware:
    """A device (or a built-in device's name) with bandwidth, peak FLOP/s and capacity."""
    return models.as_device(device, ("bandwidth_bytes_per_s", "peak_flops_per_s",
                                     "capacity_bytes"))


def _check_directory(directory) -> str:
    """`directory` if it names an existing folder; None means the system's temporary folder."""
    directory = tempfile.gettempdir() if directory is None else directory
    if not isinstance(directory, str) or not os.path.isdir(directory):
        raise ValueError(f"directory must be an existing folder, got {shown(directory)}")
    return directory


# ---------------------------------------------------------------- the file tier, measured


def default_file_bytes(quick: bool | None = None, directory: str | None = None) -> int:
    """Bytes of the file to read back: 1 GiB (quick: 128 MiB), capped by free RAM and disk."""
    directory = _check_directory(directory)
    wanted = QUICK_FILE_BYTES if measure.quick_mode(quick) else DEFAULT_FILE_BYTES
    free_disk_bytes = _free_disk_bytes(directory)
    size = min(wanted, measure.memory_budget_bytes(), int(free_disk_bytes * DISK_FRACTION))
    return max(size // READ_CHUNK_BYTES, 1) * READ_CHUNK_BYTES


def _free_disk_bytes(directory: str) -> int:
    """Bytes free for this user on the file system holding `directory`."""
    import shutil

    return shutil.disk_usage(directory).free


def _drop_from_page_cache(fd: int) -> bool:
    """Ask the OS to forget a file's cached pages; False where it offers no way to ask."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return False
    os.fsync(fd)  # dirty pages cannot be dropped until they are on the disk
    advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return True


def _write_file(fd: int, size_bytes: int) -> None:
    """Fill an open file with `size_bytes` of pseudo-random bytes (nothing to compress)."""
    chunk = np.random.default_rng(0).integers(0, 256, READ_CHUNK_BYTES, dtype=np.uint8)
    view = memoryview(chunk)
    for _ in range(size_bytes // READ_CHUNK_BYTES):
        os.write(fd, view)
    os.fsync(fd)


def _read_file(path: str, buffer: memoryview) -> int:
    """Read the file at `path` front to back into `buffer`, chunk by chunk; return bytes read."""
    total = 0
    with open(path, "rb", buffering=0) as file:
        while True:
            count = file.readinto(buffer)
            if not count:
                return total
            total += count


def file_read_bandwidth_bytes_per_s(
    size_bytes: int | None = None,
    *,
    cache: str = "warm",
    repeats: int | None = None,
    directory: str | None = None,
    quick: bool | None = None,
) -> measure.Measurement:
    """Measure reading a temporary file of `size_bytes` back in bytes/s; the file is removed.

    cache="warm": the file was just read, so the OS serves it from RAM (the page
    cache): this times the kernel's copy into our buffer. cache="cold": before
    every repeat the file's pages are dropped with posix_fadvise(DONTNEED) after an
    fsync (no root needed on Linux), so the disk must deliver them. Where the OS has
    no posix_fadvise (macOS, Windows) nothing is dropped: details["cache_dropped"]
    says so, and `cold_read_verdict` spots a "cold" read that ran at RAM speed.
    """
    check_choice("cache", cache, CACHE_STATES)
    quick = measure.quick_mode(quick)
    directory = _check_directory(directory)
    if size_bytes is None:
        size_bytes = default_file_bytes(quick, directory)
    size_bytes = check_count("size_bytes", size_bytes, MIN_FILE_BYTES)
    if size_bytes % READ_CHUNK_BYTES:
        raise ValueError(f"size_bytes must be a multiple of {READ_CHUNK_BYTES:,} (8 MiB), "
                         f"got {size_bytes:,}")
    measure.check_fits(size_bytes, "file_read_bandwidth_bytes_per_s (the page cache holds it)")
    if size_bytes > _free_disk_bytes(directory) * DISK_FRACTION:
        raise ValueError(f"size_bytes {size_bytes:,} is more than a quarter of the free disk "
                         f"space in {directory}: choose a smaller size")
    repeats = check_count("repeats", repeats, 1, 100) if repeats is not None else (
        2 if quick else 3)
    buffer = memoryview(bytearray(READ_CHUNK_BYTES))
    fd, path = tempfile.mkstemp(prefix="memwall_read_", suffix=".bin", dir=directory)
    seconds, dropped = [], False
    try:
        try:
            _write_file(fd, size_bytes)
        finally:
            os.close(fd)
        for _ in range(repeats):
            if cache == "cold":
                with open(path, "rb", buffering=0) as file:
                    dropped = _drop_from_page_cache(file.fileno())
            seconds += time_call(lambda: _read_file(path, buffer), repeats=1,
                                 warmup=1 if cache == "warm" else 0, warn=False).seconds
    finally:
        os.remove(path)
    return measure.Measurement(
        quantity="bandwidth",
        kernel=f"file read ({cache} page cache)",
        unit="B/s",
        samples=tuple(size_bytes / s for s in seconds),
        size_bytes=size_bytes,
        threads=1,
        details={"cache": cache, "cache_dropped": dropped, "seconds": tuple(seconds),
                 "directory": directory},
    )


def cold_read_verdict(cold_bytes_per_s: float, warm_bytes_per_s: float) -> str:
    """One honest line on whether a 'cold' file read really came from the disk."""
    cold = check_positive("cold_bytes_per_s", cold_bytes_per_s)
    warm = check_positive("warm_bytes_per_s", warm_bytes_per_s)
    share = cold / warm
    if share >= COLD_LOOKS_WARM:
        return (f"the 'cold' read ran at {share:.0%} of the warm rate: the page cache was NOT "
                "dropped (or a RAM-backed folder or a host cache served it) - read it as RAM")
    return (f"the cold read ran at {share:.0%} of the warm rate: the data came from the "
            "storage device")


# ---------------------------------------------------------------- tiers from the dataset


@dataclass(frozen=True)
class Tier:
    """One tier of the memory hierarchy: its bandwidth in bytes/s and where the number came from."""

    name: str
    bandwidth_bytes_per_s: float
    origin: str  # "measured on this machine" or a source URL

    def __post_init__(self):
        """Check a hand-built tier like a table's: a name and a positive finite bandwidth."""
        check_string("tier name", self.name, "PCIe 5.0 x16")
        check_string("tier origin", self.origin, "measured on this machine")
        object.__setattr__(self, "bandwidth_bytes_per_s", check_positive(
            f"{self.name} bandwidth_bytes_per_s", self.bandwidth_bytes_per_s))


def sourced_tiers(device_name: str = "h100-sxm", link_names=DEFAULT_TIER_LINKS) -> list[Tier]:
    """An accelerator's memory and some links (a name or names), from the tables, fastest first."""
    if isinstance(link_names, str):  # one link name, not its characters
        link_names = (link_names,)
    link_names = check_sequence("link_names", link_names, "link names such as 'pcie5-x16'")
    device = hardware.get(device_name)
    tiers = [Tier(f"{device.display_name} {device.memory_type}", device.bandwidth_bytes_per_s,
                  device.source)]
    for name in link_names:
        link = hardware.link(name)
        tiers.append(Tier(link.name, link.bandwidth_bytes_per_s, link.source))
    return sorted(tiers, key=lambda tier: -tier.bandwidth_bytes_per_s)


# ---------------------------------------------------------------- weights and KV over a link


@dataclass(frozen=True)
class WeightStreaming:
    """Weights that do not fit on the device, streamed over a link once per token."""

    weight_bytes: int
    resident_bytes: int
    link_bandwidth_bytes_per_s: float

    @property
    def streamed_bytes_per_token(self) -> int:
        """Weight bytes not resident on the device: they cross the link every token."""
        return max(self.weight_bytes - self.resident_bytes, 0)

    @property
    def seconds_per_token(self) -> float:
        """Link time per token in s: streamed bytes / link bandwidth."""
        return self.streamed_bytes_per_token / self.link_bandwidth_bytes_per_s

    @property
    def tokens_per_s(self) -> float:
        """Upper bound in tokens/s set by the link (inf when nothing streams)."""
        return math.inf if self.seconds_per_token == 0 else 1.0 / self.seconds_per_token


def weight_streaming(weight_bytes: int, link_bandwidth_bytes_per_s, resident_bytes: int = 0
                     ) -> WeightStreaming:
    """Tokens/s bound when `weight_bytes - resident_bytes` cross the link every token."""
    weight_bytes = check_count("weight_bytes", weight_bytes, 1)
    resident_bytes = check_count("resident_bytes", resident_bytes, 0)
    bandwidth = check_bandwidth("link_bandwidth_bytes_per_s", link_bandwidth_bytes_per_s)
    return WeightStreaming(weight_bytes, resident_bytes, bandwidth)


@dataclass(frozen=True)
class KvOffload:
    """Part of the KV cache kept in host memory and read over a link every decode step."""

    batch: int
    kv_bytes: int
    offloaded_kv_bytes: int
    link_bandwidth_bytes_per_s: float

    @property
    def seconds_per_step(self) -> float:
        """Link time per decode step in s: offloaded KV bytes / link bandwidth."""
        return self.offloaded_kv_bytes / self.link_bandwidth_bytes_per_s

    @property
    def tokens_per_s(self) -> float:
        """Upper bound in tokens/s (one token per sequence per step; inf if nothing offloaded)."""
        return math.inf if self.seconds_per_step == 0 else self.batch / self.seconds_per_step


def kv_offload(model, context_len: int, offloaded_tokens: int, link_bandwidth_bytes_per_s,
               batch: int = 1, kv_dtype: str = "fp16") -> KvOffload:
    """Bytes the link must carry each step when `offloaded_tokens` of each context live off-device.

    Every decode step attends over the whole context, so the offloaded KV is read
    over the link every step: batch x offloaded_tokens x KV bytes per token
    (sliding windows ignored: every layer is counted as attending to every token).
    """
    model = models.as_model(model)
    context_len = check_count("context_len", context_len, 1)
    offloaded_tokens = check_count("offloaded_tokens", offloaded_tokens, 0, context_len)
    batch = check_count("batch", batch, 1)
    per_token = models.kv_bytes_per_token(model, kv_dtype)
    bandwidth = check_bandwidth("link_bandwidth_bytes_per_s", link_bandwidth_bytes_per_s)
    return KvOffload(batch, batch * context_len * per_token, batch * offloaded_tokens * per_token,
                     bandwidth)


# ---------------------------------------------------------------- overlap


@dataclass(frozen=True)
class Pipeline:
    """Stages (e.g. transfer, then compute) applied to `items` items (e.g. layers), in s."""

    stage_seconds: tuple[float, ...]
    items: int

    @property
    def seconds_per_item_lower(self) -> float:
        """Steady-state time per item with perfect overlap: the slowest stage (max)."""
        return max(self.stage_seconds)

    @property
    def seconds_per_item_upper(self) -> float:
        """Time per item with no overlap: every stage in turn (sum)."""
        return sum(self.stage_seconds)

    @property
    def seconds_overlapped(self) -> float:
        """All items, overlapped: fill the pipe once (sum), then one slowest stage per item."""
        return self.seconds_per_item_upper + (self.items - 1) * self.seconds_per_item_lower

    @property
    def seconds_serial(self) -> float:
        """All items, no overlap: items x sum of the stages."""
        return self.items * self.seconds_per_item_upper

    @property
    def speedup(self) -> float:
        """How much faster overlap makes it: serial / overlapped."""
        return self.seconds_serial / self.seconds_overlapped


def pipeline(stage_seconds, items: int = 1) -> Pipeline:
    """A pipeline of stages of the given seconds over `items` items: max vs sum bounds."""
    stages = tuple(check_number("each stage time in s", value, 0)
                   for value in check_sequence("stage_seconds", stage_seconds, "times in s"))
    if not stages:
        raise ValueError("stage_seconds must name at least one stage time in s")
    if sum(stages) == 0:
        raise ValueError("at least one stage must take some time (all stage_seconds are 0)")
    items = check_count("items", items, 1)
    return Pipeline(stages, items)


# ---------------------------------------------------------------- throughput batching


def _kv_after_step_bytes(model: models.Model, context_len: int, batch: int, kv_dtype: str
                         ) -> int:
    """KV bytes on the device at the end of a decode step at `context_len`, in bytes.

    The step reads `context_len` cached tokens and writes the new token's K and V
    (`models.decode_step`), so the device must hold context_len + 1 tokens per sequence.
    """
    return models.kv_cache_bytes(model, context_len + 1, batch, kv_dtype)


@dataclass(frozen=True)
class OffloadedBatchStep:
    """One decode step of a batch whose weights stream over a link (FlexGen's regime)."""

    batch: int
    context_len: int
    streamed_weight_bytes: int
    needed_device_bytes: int
    capacity_bytes: float
    seconds_transfer: float
    seconds_weights: float  # the device's weight matmuls (models.decode_time)
    seconds_attention: float  # the device's attention over the KV cache

    @property
    def seconds_device(self) -> float:
        """The device's own step in s: weight matmuls + attention."""
        return self.seconds_weights + self.seconds_attention

    @property
    def seconds_per_step(self) -> float:
        """Lower bound in s: transfer overlapped with the device's own step (the max)."""
        return max(self.seconds_transfer, self.seconds_device)

    @property
    def seconds_per_step_serial(self) -> float:
        """Upper bound in s: transfer, then the device's step (the sum)."""
        return self.seconds_transfer + self.seconds_device

    @property
    def tokens_per_s(self) -> float:
        """Throughput bound in tokens/s: batch / seconds_per_step."""
        return self.batch / self.seconds_per_step

    @property
    def limit(self) -> str:
        """What sets seconds_per_step: 'link', or the device's larger kernel."""
        if self.seconds_transfer >= self.seconds_device:
            return "link"
        return "weight matmuls" if self.seconds_weights >= self.seconds_attention \
            else "attention"

    @property
    def fits(self) -> bool:
        """True if resident weights + the batch's KV cache fit in device memory."""
        return self.needed_device_bytes <= self.capacity_bytes


def offloaded_batch_step(model, device, link, batch: int, context_len: int, dtype: str = "fp16",
                         resident_weight_bytes: int = 0, kv_dtype: str | None = None
                         ) -> OffloadedBatchStep:
    """Throughput batching: one pass of streamed weights serves `batch` sequences.

    The weights not resident cross the link once per step whatever the batch, so
    tokens/s grows with the batch until the device's own compute or memory time
    (`models.decode_time`) overtakes the transfer, or the KV cache of the batch no
    longer fits beside the resident weights (FlexGen, Sheng et al., ICML 2023).
    `fits` counts context_len + 1 tokens of KV per sequence: the step at
    `context_len` writes the new token's K and V beside the cached ones.
    """
    model, device = models.as_model(model), _check_device(device)
    bandwidth = check_bandwidth("link", link)
    batch = check_count("batch", batch, 1)
    context_len = check_count("context_len", context_len, 1)
    resident_weight_bytes = check_count("resident_weight_bytes", resident_weight_bytes, 0)
    kv_dtype = dtype if kv_dtype is None else kv_dtype
    step = models.decode_time(model, device, context_len, batch, dtype, kv_dtype)
    weights = models.weight_bytes(model, dtype)
    streamed = max(weights - resident_weight_bytes, 0)
    kv = _kv_after_step_bytes(model, context_len, batch, kv_dtype)
    return OffloadedBatchStep(
        batch=batch, context_len=context_len, streamed_weight_bytes=streamed,
        needed_device_bytes=min(resident_weight_bytes, weights) + kv,
        capacity_bytes=device.capacity_bytes, seconds_transfer=streamed / bandwidth,
        seconds_weights=step.seconds_weights, seconds_attention=step.seconds_attention)


def largest_offloaded_batch(model, device, context_len: int, dtype: str = "fp16",
                            resident_weight_bytes: int = 0, kv_dtype: str | None = None) -> int:
    """Largest batch that can run a decode step at `context_len` beside the resident weights.

    Each sequence needs context_len + 1 tokens of KV (the cached ones and the one the
    step writes); the answer is >= 0.
    """
    model, device = models.as_model(model), _check_device(device)
    context_len = check_count("context_len", context_len, 1)
    resident_weight_bytes = check_count("resident_weight_bytes", resident_weight_bytes, 0)
    free = math.floor(device.capacity_bytes) - min(resident_weight_bytes,
                                                   models.weight_bytes(model, dtype))
    per_sequence = _kv_after_step_bytes(model, context_len, 1,
                                        dtype if kv_dtype is None else kv_dtype)
    return max(free, 0) // per_sequence


# ---------------------------------------------------------------- quantization


@dataclass(frozen=True)
class QuantizedDecode:
    """Decode of one model with weights stored in `dtype`, on a device and over a link."""

    dtype: str
    weight_bytes: int
    tokens_per_s: float  # on the device, weights resident (models.decode_time)
    fits: bool  # weights + KV of context_len + 1 tokens + activations fit (models.decode_fits)
    streamed_tokens_per_s: float | None  # weights streamed over the link each token, if given


def quantized_decode(model, device, context_len: int = 1024, batch: int = 1,
                     dtypes=QUANT_DTYPES, kv_dtype: str = "fp16", link=None
                     ) -> list[QuantizedDecode]:
    """Weight bytes and decode tokens/s bounds for each weight dtype (the KV stays `kv_dtype`).

    `dtypes` is one dtype name or several. `fits` is the step's own (``StepTime.fits``):
    weights, context_len + 1 tokens of KV per sequence and one layer's activations.
    """
    model, device = models.as_model(model), _check_device(device)
    context_len = check_count("context_len", context_len, 1)
    batch = check_count("batch", batch, 1)
    dtypes = (dtypes,) if isinstance(dtypes, str) else check_sequence(  # "int4", not letters
        "dtypes", dtypes, f"dtype names ({', '.join(models.DTYPE_BITS)})")
    if not dtypes:
        raise ValueError(f"dtypes must name at least one of {', '.join(models.DTYPE_BITS)}")
    bandwidth = None if link is None else check_bandwidth("link", link)
    rows = []
    for dtype in dtypes:
        weights = models.weight_bytes(model, dtype)
        step = models.decode_time(model, device, context_len, batch, dtype, kv_dtype)
        rows.append(QuantizedDecode(
            dtype=dtype, weight_bytes=weights, tokens_per_s=step.tokens_per_s, fits=step.fits,
            streamed_tokens_per_s=None if bandwidth is None else bandwidth / weights))
    return rows
