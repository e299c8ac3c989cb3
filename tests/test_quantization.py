"""Number formats and the int4 GEMV, against hand arithmetic and ndarray.nbytes."""

import re

import numpy as np
import pytest

from memwall_lab import models, quantization
from memwall_lab.hardware import read_table

SOURCE = re.compile(r"^(https?://\S+|[\w.-]+/[\w.-]+ \S+)$")  # as tests/test_data.py


# ---------------------------------------------------------------- bits per weight by hand


@pytest.mark.parametrize("element, group, scale, zero, expected", [
    (4, 128, 16, 0, 4.125),  # int4, an fp16 scale per 128 weights
    (4, 32, 16, 0, 4.5),  # int4, an fp16 scale per 32 (llama.cpp Q4_0)
    (4, 32, 16, 16, 5.0),  # int4, fp16 scale and fp16 minimum per 32 (Q4_1)
    (4, 32, 8, 0, 4.25),  # MXFP4: E8M0 scale per 32
    (4, 16, 8, 0, 4.5),  # NVFP4: E4M3 scale per 16
    (8, 32, 8, 0, 8.25),  # MXFP8
    (8, 0, 32, 0, 8.0),  # fp8 with one scale per tensor: not counted
])
def test_bits_per_weight_by_hand(element, group, scale, zero, expected):
    assert quantization.bits_per_weight(element, group, scale, zero) == expected


def test_the_table_gives_the_specifications_bits_per_weight():
    by_name = {name: quantization.get(name).bits_per_weight for name in quantization.names()}
    assert by_name == {"bf16": 16.0, "fp8-e4m3": 8.0, "fp8-e5m2": 8.0, "mxfp8": 8.25,
                       "mxfp4": 4.25, "nvfp4": 4.5, "int4-g128": 4.125, "q4-0": 4.5,
                       "q4-1": 5.0}


def test_llama_cpp_blocks_by_their_struct_sizes():
    # block_q4_0 = fp16 d + 16 bytes of nibbles = 18 bytes per 32; block_q4_1 adds fp16 m: 20
    assert quantization.get("q4-0").bytes_for(32) == 18
    assert quantization.get("q4-1").bytes_for(32) == 20
    assert quantization.get("mxfp4").bytes_for(32) == 17  # 16 bytes + one E8M0 byte
    assert quantization.get("nvfp4").bytes_for(32) == 18  # two blocks of 8 + 1 bytes


def test_bytes_for_counts_a_started_group_and_rounds_up_once():
    int4 = quantization.get("int4-g128")
    assert int4.bytes_for(0) == 0
    assert int4.bytes_for(1) == 3  # 4 bits + a 16-bit scale = 20 bits -> 3 bytes
    assert int4.bytes_for(129) == (129 * 4 + 2 * 16 + 7) // 8
    assert quantization.get("bf16").bytes_for(3) == 6


def test_model_weight_bytes_by_hand():
    params = models.param_count("llama-3-70b")  # 70,553,706,496
    assert quantization.model_weight_bytes("llama-3-70b", "int4-g128") == \
        params // 2 + (params // 128) * 2
    assert quantization.model_weight_bytes("llama-3-70b", "bf16") == 2 * params
    assert quantization.model_weight_bytes(models.get("llama-3-70b"), "fp8-e4m3") == params


# ---------------------------------------------------------------- float layouts


@pytest.mark.parametrize("name", ["bf16", "fp8-e4m3", "fp8-e5m2", "mxfp8", "mxfp4", "nvfp4"])
def test_float_limits_from_the_layout_agree_with_the_specification(name):
    number_format = quantization.get(name)
    limits = number_format.limits
    assert limits.max_value == number_format.max_value
    assert limits.min_normal == number_format.min_normal
    assert limits.min_subnormal == number_format.min_subnormal


def test_float_limits_by_hand():
    e4m3 = quantization.float_limits(4, 3, "nan-only")
    assert (e4m3.max_value, e4m3.min_normal, e4m3.min_subnormal) == (448, 2**-6, 2**-9)
    assert e4m3.relative_step == 0.125
    e5m2 = quantization.float_limits(5, 2, "ieee")
    assert (e5m2.max_value, e5m2.min_normal, e5m2.min_subnormal) == (57344, 2**-14, 2**-16)
    e2m1 = quantization.float_limits(2, 1, "none")
    assert (e2m1.max_value, e2m1.min_normal, e2m1.min_subnormal) == (6, 1, 0.5)
    half = quantization.float_limits(5, 10, "ieee")  # IEEE fp16, numpy's float16
    assert half.max_value == float(np.finfo(np.float16).max)
    assert half.min_normal == float(np.finfo(np.float16).tiny)
    assert quantization.float_limits(8, 23).max_value == float(np.finfo(np.float32).max)


def test_integer_formats_have_no_float_limits():
    assert quantization.get("int4-g128").limits is None


def test_every_format_row_has_a_source_and_a_note():
    rows = read_table("number_formats.csv")
    assert len({row["name"] for row in rows}) == len(rows)
    for row in rows:
        assert SOURCE.match(row["source"].strip()), row["name"]
        assert row["note"].strip(), row["name"]
        assert re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", row["name"])


def test_unknown_format_names_the_closest():
    with pytest.raises(ValueError, match="Closest: .*mxfp4"):
        quantization.get("mxfp5")
    assert quantization.get("MXFP4").name == "mxfp4"


# ---------------------------------------------------------------- int4 in numpy


def random_matrix(rows=256, cols=64, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


def test_packed_bytes_equal_the_arrays_nbytes_and_the_format():
    matrix = random_matrix(512, 96)
    quantized = quantization.quantize_int4(matrix, group_size=128)
    assert quantized.packed.dtype == np.uint8 and quantized.packed.shape == (256, 96)
    assert quantized.scales.dtype == np.float16 and quantized.scales.shape == (4, 96)
    assert quantized.nbytes == quantized.packed.nbytes + quantized.scales.nbytes
    assert quantized.nbytes == 512 * 96 // 2 + 4 * 96 * 2
    assert quantized.nbytes == quantization.get("int4-g128").bytes_for(matrix.size)
    assert quantized.bits_per_weight == 4.125


def test_dequantized_weights_are_within_half_a_step():
    matrix = random_matrix()
    quantized = quantization.quantize_int4(matrix, group_size=32)
    error = np.abs(quantization.dequantize_int4(quantized) - matrix)
    assert np.all(error <= quantization.quantization_error_bound(quantized) * 1.001 + 1e-7)


def test_one_group_by_hand():
    # a column of 4 weights in one group: scale 7 / 7 = 1, codes -7, -1, 0, 7 -> nibbles 1 8 8 15
    matrix = np.array([[-7.0], [-1.2], [0.3], [7.0]], np.float32)
    quantized = quantization.quantize_int4(matrix, group_size=4)
    assert quantized.scales.tolist() == [[1.0]]
    assert quantized.packed.tolist() == [[1 | 7 << 4], [8 | 15 << 4]]
    assert quantization.dequantize_int4(quantized).ravel().tolist() == [-7, -1, 0, 7]


def test_int4_gemv_equals_the_fp32_gemv_of_the_dequantized_matrix():
    matrix = random_matrix(256, 48)
    x = np.random.default_rng(1).standard_normal(256).astype(np.float32)
    quantized = quantization.quantize_int4(matrix)
    result = quantization.int4_gemv(x, quantized)
    np.testing.assert_allclose(result, x @ quantization.dequantize_int4(quantized), rtol=1e-5,
                               atol=1e-4)
    relative_error = np.linalg.norm(result - x @ matrix) / np.linalg.norm(x @ matrix)
    assert 0.01 < relative_error < 0.2  # int4's rounding: visible, but far from noise


def test_a_zero_group_quantizes_to_zero():
    matrix = np.zeros((4, 2), np.float32)
    assert np.all(quantization.dequantize_int4(quantization.quantize_int4(matrix, 4)) == 0)


def test_gemv_bytes_and_the_bytes_ratio_by_hand():
    assert quantization.gemv_bytes(4096, 4096, 4 * 4096 * 4096) == 4 * 4096 * 4096 + 2 * 4096 * 4
    fp32 = 4 * 4096 * 4096 + 2 * 4096 * 4
    int4 = 4096 * 4096 // 2 + 32 * 4096 * 2 + 2 * 4096 * 4
    assert quantization.bytes_ratio(4096, 4096) == pytest.approx(fp32 / int4)
    assert quantization.bytes_ratio(4096, 4096) == pytest.approx(32 / 4.125, rel=1e-2)


@pytest.mark.parametrize("call, message", [
    (lambda: quantization.quantize_int4(np.ones((6, 2), np.float32), 4), "divide the 6 rows"),
    (lambda: quantization.quantize_int4(np.ones(8, np.float32), 4), "2-D float array"),
    (lambda: quantization.quantize_int4(np.ones((8, 2), np.int8), 4), "2-D float array"),
    (lambda: quantization.bits_per_weight(0), "element_bits must be an integer between 1"),
    (lambda: quantization.float_limits(4, 3, "ocp"), "specials must be one of"),
    (lambda: quantization.get(4), "format name must be a string"),
])
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
