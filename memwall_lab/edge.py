"""Will it run on my device? Decode bounds for phones, laptops and edge boards (lesson 07).

At batch 1 a decode step reads every weight once and the whole KV cache of the
context, so the fastest any device can generate is

    tokens/s <= bandwidth / (weight bytes + KV bytes read + KV bytes written),

the bytes of ``models.decode_step`` (an MoE reads only its active experts). The
weights and the KV cache must also fit in the device's memory. On a client
device the weights are usually quantized while the KV cache stays 16-bit, so
``kv_dtype`` defaults to "fp16" whatever the weights are. Models may be given
as ``models.Model`` or a built-in name, devices as ``hardware.Hardware`` or a name.

A battery pays for bytes, not for speed: the memory energy of one token is

    joules per token = bytes per token x 8 bits x joules per bit,

so a charge of ``battery_joules`` lasts ``battery_joules / joules per token``
tokens *at most* (the memory is one consumer among several), whatever the
bandwidth. ``fact`` reads the sourced figures lesson 07 needs beyond the device
tables (a phone battery, flash read speed, SRAM-only and unified-memory parts)
from ``data/edge_facts.csv``; ``si_value`` converts them to joules, bytes and
bytes/s.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

from memwall_lab import hardware, models
from memwall_lab.validate import check_count, check_positive, shown

WATT_HOUR_JOULES = 3600.0  # 1 Wh = 3,600 J
BITS_PER_BYTE = 8


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


# ---------------------------------------------------------------- energy per token


def _joules_per_bit(energy) -> float:
    """A number in J/bit, or a memory technology (or its name) with a sourced energy per bit."""
    if isinstance(energy, str):
        energy = hardware.memory_tech(energy)
    if isinstance(energy, hardware.MemoryTech):
        if energy.energy_joules_per_bit is None:
            sourced = [name for name in hardware.memory_tech_names()
                       if hardware.memory_tech(name).energy_joules_per_bit is not None]
            raise ValueError(f"memory technology {energy.name!r} has no sourced energy per bit "
                             f"in memory_tech.csv; these do: {', '.join(sourced)}")
        return energy.energy_joules_per_bit
    return check_positive("joules_per_bit", energy)


def energy_per_token_joules(
    model: models.Model, joules_per_bit, dtype: str = "int4", context_len: int = 1024,
    kv_dtype: str = "fp16",
) -> float:
    """Memory energy of one batch-1 decode step in J: bytes per token x 8 x joules per bit.

    ``joules_per_bit`` is a number (J/bit) or a memory technology (``hardware.MemoryTech``
    or its name, e.g. "hbm2") whose sourced energy per bit is used. Only the memory's
    share: compute, the rest of the chip and the screen come on top.
    """
    joules_per_bit = _joules_per_bit(joules_per_bit)
    return bytes_per_token(model, dtype, context_len, kv_dtype) * BITS_PER_BYTE * joules_per_bit


def tokens_per_charge(
    model: models.Model, battery_joules: float, joules_per_bit, dtype: str = "int4",
    context_len: int = 1024, kv_dtype: str = "fp16",
) -> float:
    """Most tokens one battery charge pays for, counting memory energy only (an upper bound).

    ``battery_joules`` is the battery's energy in J (Wh x ``WATT_HOUR_JOULES``).
    """
    battery_joules = check_positive("battery_joules", battery_joules)
    return battery_joules / energy_per_token_joules(model, joules_per_bit, dtype, context_len,
                                                    kv_dtype)


def memory_power_watts(device_or_bandwidth, joules_per_bit) -> float:
    """Power in W of a memory streaming at full bandwidth: bytes/s x 8 x joules per bit."""
    bandwidth = _attribute_or_number("bandwidth", device_or_bandwidth, "bandwidth_bytes_per_s")
    return bandwidth * BITS_PER_BYTE * _joules_per_bit(joules_per_bit)


def chips_to_hold(bytes_needed: float, bytes_per_chip: float) -> int:
    """Fewest chips (or devices) whose memories together hold ``bytes_needed``: a ceiling."""
    bytes_needed = check_positive("bytes_needed", bytes_needed)
    return math.ceil(bytes_needed / check_positive("bytes_per_chip", bytes_per_chip))


# ---------------------------------------------------------------- sourced edge figures

# The units edge_facts.csv uses, and what one of each is in SI (J, bytes, bytes/s).
FACT_UNITS = {"Wh": WATT_HOUR_JOULES, "MB": 1e6, "GB": 1e9, "TB": 1e12,
              "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12}


@dataclass(frozen=True)
class EdgeFact:
    """One sourced figure: a value in the unit its source prints, with year, source and note."""

    name: str
    value: float
    unit: str
    year: int
    source: str
    note: str

    @property
    def si_value(self) -> float:
        """The value in SI: Wh -> J, MB/GB/TB -> bytes, MB/s/GB/s/TB/s -> bytes/s."""
        return self.value * FACT_UNITS[self.unit]


@functools.lru_cache(maxsize=1)
def _facts() -> dict[str, EdgeFact]:
    """Every row of edge_facts.csv, keyed by name."""
    facts = {}
    for row in hardware.read_table("edge_facts.csv"):
        if row["unit"] not in FACT_UNITS:
            raise ValueError(f"edge_facts.csv {row['name']}: unknown unit {row['unit']!r} "
                             f"(known: {', '.join(FACT_UNITS)})")
        facts[row["name"]] = EdgeFact(row["name"], float(row["value"]), row["unit"],
                                      int(row["year"]), row["source"], row["note"])
    return facts


def fact_names() -> list[str]:
    """Names of the sourced edge figures (e.g. 'iphone-15-pro-battery', 'groq-lpu-sram')."""
    return list(_facts())


def fact(name: str) -> EdgeFact:
    """The sourced edge figure called ``name``; ValueError listing close names if unknown."""
    return hardware.lookup("edge fact", name, _facts())
