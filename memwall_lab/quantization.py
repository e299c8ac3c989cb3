"""Number formats for weights, their true bits per weight, and an int4 GEMV (lesson 06).

A 4-bit format never costs exactly 4 bits a weight: every group (or block) of
weights shares a scale, and the scale's bits are spread over the group:

    bits per weight = element bits + (scale bits + zero-point bits) / group size

int4 with a 16-bit scale per 128 weights costs 4.125 bits; OCP's MXFP4 (32
elements, an 8-bit E8M0 scale) 4.25; NVIDIA's NVFP4 (16 elements, an FP8 E4M3
scale) 4.5. The layouts, with their sources, are in ``data/number_formats.csv``;
``float_limits`` derives a float format's range from its bits, so the table's
figures from the specifications can be checked against the layout.

Lesson 06 also measures what fewer bytes cost on a CPU: ``quantize_int4`` packs a
matrix two weights per byte with an fp16 scale per group of rows, and
``int4_gemv`` unpacks, scales and multiplies it, as a student would in numpy.

Conventions: sizes are exact integer bytes (a format's scales included, bits
rounded up once to a whole byte), bits per weight a float.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from memwall_lab import models
from memwall_lab.hardware import closest_error, read_table
from memwall_lab.validate import check_choice, check_count, check_string

SPECIALS = ("ieee", "nan-only", "none")  # how a float format spends its top exponent
INT4_OFFSET = 8  # a signed code -8..7 is stored as the nibble code + 8, 0..15


# ---------------------------------------------------------------- bits per weight


def bits_per_weight(element_bits: int, group_size: int = 0, scale_bits: int = 0,
                    zero_point_bits: int = 0) -> float:
    """Element bits + (scale bits + zero-point bits) / group size; group 0: one scale per tensor.

    A scale per tensor (or per output channel) is spread over millions of weights
    and counted as 0 bits.
    """
    element_bits = check_count("element_bits", element_bits, 1, 64)
    group_size = check_count("group_size", group_size, 0)
    scale_bits = check_count("scale_bits", scale_bits, 0, 64)
    zero_point_bits = check_count("zero_point_bits", zero_point_bits, 0, 64)
    if group_size == 0:
        return float(element_bits)
    return element_bits + (scale_bits + zero_point_bits) / group_size


@dataclass(frozen=True)
class FloatLimits:
    """Range and precision of a float layout: largest value, smallest normal and subnormal."""

    max_value: float
    min_normal: float
    min_subnormal: float
    relative_step: float  # gap between 1 and the next value: 2^-mantissa bits

    @property
    def dynamic_range(self) -> float:
        """max_value / min_subnormal: how many times larger the largest value is."""
        return self.max_value / self.min_subnormal


def float_limits(exponent_bits: int, mantissa_bits: int, specials: str = "ieee") -> FloatLimits:
    """A binary float format's limits from its layout (bias = 2^(exponent bits - 1) - 1).

    ``specials`` says what the all-ones exponent holds: "ieee" reserves it for
    infinities and NaNs (bf16, FP8 E5M2); "nan-only" keeps it for numbers except
    the all-ones mantissa, the one NaN (FP8 E4M3); "none" has no specials (FP4 E2M1).
    """
    exponent_bits = check_count("exponent_bits", exponent_bits, 1, 11)
    mantissa_bits = check_count("mantissa_bits", mantissa_bits, 0, 52)
    specials = check_choice("specials", specials, SPECIALS)
    bias = 2 ** (exponent_bits - 1) - 1
    top_exponent = 2**exponent_bits - 1 - bias  # the all-ones exponent field, unbiased
    step = 2.0**-mantissa_bits
    if specials == "ieee":
        largest = (2 - step) * 2.0 ** (top_exponent - 1)
    elif specials == "nan-only":
        largest = (2 - 2 * step) * 2.0**top_exponent
    else:
        largest = (2 - step) * 2.0**top_exponent
    return FloatLimits(largest, 2.0 ** (1 - bias), 2.0 ** (1 - bias - mantissa_bits), step)


# ---------------------------------------------------------------- the formats table


def _optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _optional_float(text: str) -> float | None:
    return float(text) if text.strip() else None


@dataclass(frozen=True)
class NumberFormat:
    """One weight format of ``data/number_formats.csv``: elements, shared scale, source."""

    name: str
    display_name: str
    kind: str  # "float" or "integer"
    element_bits: int
    exponent_bits: int | None  # float formats only
    mantissa_bits: int | None
    specials: str  # float formats only: "ieee", "nan-only" or "none"
    group_size: int  # weights sharing one scale; 0: one scale per tensor or channel
    scale_format: str
    scale_bits: int
    zero_point_bits: int
    max_value: float | None  # float formats only, as the specification states them
    min_normal: float | None
    min_subnormal: float | None
    source: str
    note: str

    @property
    def bits_per_weight(self) -> float:
        """Element bits + the group's scale (and zero point) bits spread over the group."""
        return bits_per_weight(self.element_bits, self.group_size, self.scale_bits,
                               self.zero_point_bits)

    @property
    def limits(self) -> FloatLimits | None:
        """Range and precision derived from the layout (None for integer formats)."""
        if self.kind != "float":
            return None
        return float_limits(self.exponent_bits, self.mantissa_bits, self.specials)

    def bytes_for(self, n_weights: int) -> int:
        """Bytes to store ``n_weights``: elements + one scale per started group, rounded up."""
        n_weights = check_count("n_weights", n_weights, 0)
        groups = -(-n_weights // self.group_size) if self.group_size else 0
        bits = n_weights * self.element_bits + groups * (self.scale_bits + self.zero_point_bits)
        return (bits + 7) // 8


def _from_row(row: dict[str, str]) -> NumberFormat:
    return NumberFormat(
        name=row["name"], display_name=row["display_name"], kind=row["kind"],
        element_bits=int(row["element_bits"]),
        exponent_bits=_optional_int(row["exponent_bits"]),
        mantissa_bits=_optional_int(row["mantissa_bits"]), specials=row["specials"],
        group_size=int(row["group_size"]), scale_format=row["scale_format"],
        scale_bits=int(row["scale_bits"]), zero_point_bits=int(row["zero_point_bits"]),
        max_value=_optional_float(row["max_value"]), min_normal=_optional_float(row["min_normal"]),
        min_subnormal=_optional_float(row["min_subnormal"]),
        source=row["source"], note=row["note"])


@functools.cache
def _table() -> dict[str, NumberFormat]:
    return {row["name"]: _from_row(row) for row in read_table("number_formats.csv")}


def names() -> list[str]:
    """Names of the formats in the table, in its order."""
    return list(_table())


def get(name: str) -> NumberFormat:
    """The format called ``name`` (e.g. "mxfp4", "int4-g128"); ValueError naming close ones."""
    check_string("format name", name, "mxfp4")
    key = name.strip().lower().replace("_", "-")
    if key not in _table():
        raise closest_error("number format", name, _table())
    return _table()[key]


def model_weight_bytes(model, number_format: NumberFormat | str) -> int:
    """Bytes of all of a model's weights in ``number_format``, its scales included."""
    if not isinstance(number_format, NumberFormat):
        number_format = get(number_format)
    return number_format.bytes_for(models.param_count(models.as_model(model)))


# ---------------------------------------------------------------- group-wise int4 in numpy


@dataclass(frozen=True)
class QuantizedMatrix:
    """A (rows, cols) matrix as 4-bit codes, two per byte, and an fp16 scale per group of rows.

    ``packed[i, j]`` holds row 2i of column j in its low nibble and row 2i + 1 in
    its high nibble, each as code + 8 (0..15); ``scales[g, j]`` multiplies rows
    g * group_size ... (g + 1) * group_size - 1 of column j.
    """

    packed: np.ndarray  # uint8, (rows // 2, cols)
    scales: np.ndarray  # float16, (rows // group_size, cols)
    group_size: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the matrix it stands for."""
        return 2 * self.packed.shape[0], self.packed.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes a GEMV must read: the packed codes + the scales."""
        return self.packed.nbytes + self.scales.nbytes

    @property
    def bits_per_weight(self) -> float:
        """8 x bytes / weights: 4 + 16 / group size."""
        rows, cols = self.shape
        return 8 * self.nbytes / (rows * cols)


def _check_matrix(name: str, matrix) -> np.ndarray:
    array = np.asarray(matrix)
    if array.ndim != 2 or array.size == 0 or array.dtype.kind != "f":
        raise ValueError(f"{name} must be a non-empty 2-D float array, got shape "
                         f"{array.shape} of {array.dtype}")
    return array


def quantize_int4(matrix: np.ndarray, group_size: int = 128) -> QuantizedMatrix:
    """Symmetric group-wise int4 along the rows: scale = max |w| / 7 per group of each column."""
    matrix = _check_matrix("matrix", matrix)
    rows, cols = matrix.shape
    group_size = check_count("group_size", group_size, 2)
    if group_size % 2 or rows % group_size:
        raise ValueError(f"group_size must be even and divide the {rows} rows, got {group_size}")
    groups = matrix.reshape(rows // group_size, group_size, cols)
    scales = (np.abs(groups).max(axis=1) / 7).astype(np.float16)
    safe = np.where(scales == 0, np.float16(1), scales).astype(np.float32)
    codes = np.clip(np.rint(groups / safe[:, None, :]), -INT4_OFFSET, INT4_OFFSET - 1)
    nibbles = (codes.reshape(rows, cols) + INT4_OFFSET).astype(np.uint8)
    packed = nibbles[0::2] | (nibbles[1::2] << 4)
    return QuantizedMatrix(packed, scales, group_size)


def dequantize_int4(quantized: QuantizedMatrix) -> np.ndarray:
    """The float32 (rows, cols) matrix the codes and scales stand for."""
    rows, cols = quantized.shape
    weights = np.empty((rows, cols), np.float32)
    weights[0::2] = quantized.packed & 0x0F  # low nibbles: even rows
    weights[1::2] = quantized.packed >> 4  # high nibbles: odd rows
    weights -= INT4_OFFSET
    grouped = weights.reshape(rows // quantized.group_size, quantized.group_size, cols)
    grouped *= quantized.scales[:, None, :]
    return weights


def int4_gemv(x: np.ndarray, quantized: QuantizedMatrix) -> np.ndarray:
    """x @ W for W stored as int4: unpack, subtract 8, scale each group, then one fp32 GEMV."""
    return np.asarray(x, np.float32) @ dequantize_int4(quantized)


def quantization_error_bound(quantized: QuantizedMatrix) -> np.ndarray:
    """Largest error per weight that rounding allows: half a step, scale / 2, per (row, col)."""
    return np.repeat(quantized.scales.astype(np.float32) / 2, quantized.group_size, axis=0)


def gemv_bytes(rows: int, cols: int, weight_bytes: int, activation_bytes: int = 4) -> int:
    """Bytes one GEMV moves: the weights once, the input vector and the output vector."""
    rows, cols = check_count("rows", rows), check_count("cols", cols)
    weight_bytes = check_count("weight_bytes", weight_bytes)
    activation_bytes = check_count("activation_bytes", activation_bytes)
    return weight_bytes + (rows + cols) * activation_bytes


def bytes_ratio(rows: int, cols: int, group_size: int = 128) -> float:
    """fp32 GEMV bytes / int4 GEMV bytes for a (rows, cols) matrix: about 32 / 4.125."""
    fp32 = gemv_bytes(rows, cols, 4 * rows * cols)
    int4 = gemv_bytes(rows, cols, rows * cols // 2 + 2 * (rows // group_size) * cols)
    return fp32 / int4

