"""One forward step, split into its kernels, and its time on a device (lessons 03-07).

A prefill or decode step runs two kinds of kernel with different characters:

- the **weight matmuls** (attention projections, MLP, LM head): 2 FLOPs per
  weight per token, the weights read once for the whole batch, so their
  intensity grows with the batch;
- **attention** over the KV cache: each sequence reads its own cache, so its
  intensity stays near 1 FLOP/byte in decode whatever the batch.

As the field models a step (the scaling-book's inference chapter), each kernel
takes max(its FLOPs / peak, its bytes / bandwidth) and the step takes their
**sum**: one kernel's memory traffic does not hide behind another's compute.
A step also needs its weights, the KV cache and its activations *resident*:
``held_bytes``; on a device with less memory that state cannot exist, so every
time carries ``fits`` and ``devices_needed``.

``StepCost`` is the one cost type of the library: ``models`` builds it for real
architectures, ``inference`` for the tiny numpy transformer. Sizes are exact
integer bytes, times seconds, rates per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class StepCost:
    """FLOPs and bytes of one forward step, per kernel, independent of the device."""

    phase: str  # 'prefill' or 'decode'
    batch: int  # sequences in the step
    tokens: int  # tokens the step produces or processes: batch (decode), batch x prompt
    weight_flops: int  # the weight matmuls: 2 per weight multiplied per token
    weight_bytes: int  # weights the step reads (all of a dense model; touched experts)
    attention_flops: int  # scores and weighted values over the cached keys
    kv_read_bytes: int
    kv_write_bytes: int
    held_bytes: int  # resident during the step: all weights + KV after it + activations

    @property
    def flops(self) -> int:
        """All FLOPs of the step: weight matmuls + attention."""
        return self.weight_flops + self.attention_flops

    @property
    def attention_bytes(self) -> int:
        """Bytes attention moves: KV read + KV written."""
        return self.kv_read_bytes + self.kv_write_bytes

    @property
    def bytes_moved(self) -> int:
        """All bytes moved to or from memory: weights + KV read + KV written."""
        return self.weight_bytes + self.attention_bytes

    @property
    def intensity_flops_per_byte(self) -> float:
        """Arithmetic intensity of the whole step in FLOP/byte."""
        return self.flops / self.bytes_moved

    @property
    def weight_intensity_flops_per_byte(self) -> float:
        """Intensity of the weight matmuls in FLOP/byte: grows with the batch."""
        return self.weight_flops / self.weight_bytes

    @property
    def attention_intensity_flops_per_byte(self) -> float:
        """Intensity of attention in FLOP/byte (0 if it moves no bytes): ~1 in decode."""
        return self.attention_flops / self.attention_bytes if self.attention_bytes else 0.0


def _kernel_seconds(flops: int, bytes_moved: int, peak_flops_per_s: float,
                    bandwidth_bytes_per_s: float) -> float:
    """One kernel's time in s on the roofline: max(FLOPs / peak, bytes / bandwidth)."""
    return max(flops / peak_flops_per_s, bytes_moved / bandwidth_bytes_per_s)


@dataclass(frozen=True)
class StepTime:
    """A step's cost on one device: each kernel on the roofline, summed; and whether it fits."""

    cost: StepCost
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    capacity_bytes: float | None = None  # None: the device's memory is unknown

    @property
    def seconds_weights(self) -> float:
        """Weight matmuls in s: max(weight FLOPs / peak, weight bytes / bandwidth)."""
        return _kernel_seconds(self.cost.weight_flops, self.cost.weight_bytes,
                               self.peak_flops_per_s, self.bandwidth_bytes_per_s)

    @property
    def seconds_attention(self) -> float:
        """Attention in s: max(attention FLOPs / peak, KV bytes / bandwidth)."""
        return _kernel_seconds(self.cost.attention_flops, self.cost.attention_bytes,
                               self.peak_flops_per_s, self.bandwidth_bytes_per_s)

    @property
    def seconds(self) -> float:
        """The step in s: weight matmuls + attention."""
        return self.seconds_weights + self.seconds_attention

    @property
    def tokens_per_s(self) -> float:
        """Throughput in tokens/s: tokens of the step / seconds."""
        return self.cost.tokens / self.seconds

    @property
    def weights_bound(self) -> str:
        """'compute' if the weight matmuls' FLOPs take at least as long as their bytes."""
        compute_s = self.cost.weight_flops / self.peak_flops_per_s
        return "compute" if compute_s >= self.cost.weight_bytes / self.bandwidth_bytes_per_s \
            else "memory"

    @property
    def attention_bound(self) -> str:
        """'compute' if attention's FLOPs take at least as long as its bytes (prefill)."""
        compute_s = self.cost.attention_flops / self.peak_flops_per_s
        return "compute" if compute_s >= self.cost.attention_bytes / self.bandwidth_bytes_per_s \
            else "memory"

    @property
    def bound(self) -> str:
        """'compute' if most of the step's time is spent in compute-bound kernels, else 'memory'."""
        compute_bound_s = ((self.seconds_weights if self.weights_bound == "compute" else 0.0)
                           + (self.seconds_attention if self.attention_bound == "compute"
                              else 0.0))
        return "compute" if compute_bound_s > self.seconds / 2 else "memory"

    @property
    def fits(self) -> bool | None:
        """True if weights + KV + activations fit in the device's memory; None if unknown."""
        if self.capacity_bytes is None:
            return None
        return self.cost.held_bytes <= self.capacity_bytes

    @property
    def devices_needed(self) -> int | None:
        """Fewest such devices that together hold the step (split evenly); None if unknown."""
        if self.capacity_bytes is None:
            return None
        return max(1, math.ceil(self.cost.held_bytes / self.capacity_bytes))

    @property
    def fit_note(self) -> str:
        """'fits', 'does not fit: needs N devices' or 'memory unknown', for a printed row."""
        if self.fits is None:
            return "memory unknown"
        if self.fits:
            return "fits"
        return f"does not fit: needs {self.devices_needed} devices"
