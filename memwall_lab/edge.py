"""Will it run on my device? Decode bounds for phones, laptops and edge boards (lesson 07).

At batch 1 a decode step reads every weight once and the whole KV cache of the
context, so the fastest any device can generate is

    tokens/s <= bandwidth / (weight bytes + KV bytes read + KV bytes written),

the bytes of ``models.decode_step`` (an MoE reads only its active experts). The
weights and the KV cache must also fit in the device's memory. On a client
device the weights are usually quantized while the KV cache stays 16-bit, so
``kv_dtype`` defaults to "fp16" whatever the weights are. Models may be given
as ``models.Model`` or a built-in name, devices as ``hardware.Hardware`` or a name.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from memwall_lab import models
from memwall_lab.validate import check_count, check_positive, shown


def _attribute_or_number(name: str, value: object, attribute: str) -> float:
    """A device's (or device name's) ``attribute``, e.g. bandwidth_bytes_per_s, or a number > 0."""
    if isinstance(value, str):
        value = models.as_device(value, (attribute,))
    if not isinstance(value, numbers.Real) and not hasattr(value, attribute):
        raise ValueError(f"{name} must be a positive number, a device name such as 'm1', or a "
                         f"device with {attribute}; got {shown(value)}")
    return check_positive(name, getattr(value, attribute, value))


def bus_bandwidth_bytes_per_s(bus_width_bits: int, transfers_per_s: float) -> float:
    """Peak bandwidth of a memory bus in bytes/s: bus width x transfers per second / 8."""
    bus_width_bits = check_count("bus_width_bits", bus_width_bits, 1)
    return bus_width_bits * check_positive("transfers_per_s", transfers_per_s) / 8


def bytes_per_token(
    model: models.Model, dtype: str = "int4", context_len: int = 1024, kv_dtype: str = "fp16"
) -> int:
    """Bytes one batch-1 decode step moves: weights read + KV cache read + the new K/V written."""
    model = models.as_model(model)
    return models.decode_step(model, context_len, 1, dtype, kv_dtype).bytes_moved


def tokens_per_s_bound(
    model: models.Model, device_or_bandwidth, dtype: str = "int4", context_len: int = 1024,
    kv_dtype: str = "fp16",
) -> float:
    """Upper bound on batch-1 decode speed in tokens/s: bandwidth / bytes per token.

    ``device_or_bandwidth`` is a ``hardware.Hardware`` (or anything with
    ``bandwidth_bytes_per_s``) or a bandwidth in bytes/s, e.g. a measured one.
    """
    bandwidth = _attribute_or_number("bandwidth", device_or_bandwidth, "bandwidth_bytes_per_s")
    return bandwidth / bytes_per_token(model, dtype, context_len, kv_dtype)


def memory_needed_bytes(
    model: models.Model, dtype: str = "int4", context_len: int = 1024, kv_dtype: str = "fp16"
) -> int:
    """Bytes the model must hold: all weights (every expert of an MoE) + one sequence's KV cache."""
    model = models.as_model(model)
    return models.weight_bytes(model, dtype) + models.kv_cache_bytes(model, context_len, 1,
                                                                      kv_dtype)


def fits_in_memory(
    model: models.Model, device_or_capacity, dtype: str = "int4", context_len: int = 1024,
    kv_dtype: str = "fp16",
) -> bool:
    """True if the weights and one sequence's KV cache of ``context_len`` tokens fit in memory.

    It asks whether the device can *hold* a context of ``context_len`` tokens; a
    decode step at that context writes one more token's K and V (the
    ``offload`` module counts that token too).

    ``device_or_capacity`` is a ``hardware.Hardware`` (its ``capacity_bytes``) or a
    number of bytes. The operating system and other apps also need memory, so this
    is an optimistic test: False is certain, True only means "not ruled out".
    """
    capacity = _attribute_or_number("capacity", device_or_capacity, "capacity_bytes")
    return memory_needed_bytes(model, dtype, context_len, kv_dtype) <= capacity


def largest_model_that_fits(
    candidates, device_or_capacity, dtype: str = "int4", context_len: int = 1024,
    kv_dtype: str = "fp16",
) -> models.Model | None:
    """The candidate (Model or model name) with the most parameters that fits, or None."""
    if isinstance(candidates, (str, models.Model)):  # one candidate, not its letters
        candidates = (candidates,)
    if not isinstance(candidates, Iterable):
        raise ValueError("candidates must be a non-empty list of models.Model or model names, "
                         f"got {shown(candidates)}")
    candidates = [models.as_model(m) for m in candidates]
    if not candidates:
        raise ValueError("candidates must be a non-empty list of models.Model or model names")
    fitting = [m for m in candidates
               if fits_in_memory(m, device_or_capacity, dtype, context_len, kv_dtype)]
    return max(fitting, key=models.param_count, default=None)
