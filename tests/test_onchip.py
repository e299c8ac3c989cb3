"""memwall_lab.onchip: every count against a hand-worked value, every kernel against numpy."""

import math
import re

import numpy as np
import pytest

from memwall_lab import hardware, onchip, provenance
from memwall_lab.hardware import read_table

SOURCE = re.compile(r"^(https?://\S+|[\w.-]+/[\w.-]+ \S+)$")  # as tests/test_data.py


# ---------------------------------------------------------------- counts, by hand


def test_matmul_flops_by_hand():
    assert onchip.matmul_flops(4) == 2 * 4 * 4 * 4 == 128


def test_tiled_matmul_bytes_by_hand():
    # n = 4, b = 2: 2 x 2 tiles of C, each summed over 2 steps reading one A and one B tile
    # of 4 elements: 4 x 2 x 2 x 4 = 64 = 2 n^3 / b elements read, 16 written, 8 bytes each
    assert onchip.tiled_matmul_bytes(4, 2, 8) == (64 + 16) * 8 == 640
    # b = n: every element read once, C written once - lesson 02's 3 n^2 words
    assert onchip.tiled_matmul_bytes(6, 6, 8) == 3 * 36 * 8
    # b = 1: the untiled triple loop, 2 n^3 reads + n^2 writes
    assert onchip.tiled_matmul_bytes(3, 1, 4) == (2 * 27 + 9) * 4 == 252


def test_tiled_matmul_intensity_by_hand():
    assert onchip.tiled_matmul_intensity_flops_per_byte(4096, 4096, 8) == pytest.approx(4096 / 12)
    # n = 4, b = 2, float64: 128 FLOPs / 640 bytes
    assert onchip.tiled_matmul_intensity_flops_per_byte(4, 2, 8) == pytest.approx(0.2)
    # large n: about tile / itemsize
    large = onchip.tiled_matmul_intensity_flops_per_byte(2**20, 256, 2)
    assert large == pytest.approx(128, rel=1e-3)


def test_tile_sizes_by_hand():
    assert onchip.tiles_bytes(128, 2) == 3 * 128 * 128 * 2 == 98_304
    assert onchip.tiles_bytes(10, 4, tiles=2) == 800
    # 228 KiB = 233,472 bytes: 197^2 x 6 = 232,854 fits, 198^2 x 6 = 235,224 does not
    assert onchip.largest_tile(233_472, 2) == 197
    # 2 MiB of float64: 2,097,152 / 24 = 87,381.3; 295^2 = 87,025, 296^2 = 87,616
    assert onchip.largest_tile(2 * 1024**2, 8) == 295
    assert onchip.largest_tile(24, 8) == 1 and onchip.largest_tile(23, 8) == 0


def test_overhead_model_by_hand():
    # tile 10: 2,000 FLOPs; 1 us fixed + 2,000 / 2e9 = 1 us of arithmetic: half of 2e9
    assert onchip.tiled_rate_flops_per_s(10, 1e-6, 2e9) == pytest.approx(1e9)
    assert onchip.half_rate_tile(1e-6, 2e9) == pytest.approx(10)  # (1e-6 x 2e9 / 2)^(1/3)
    assert onchip.tiled_rate_flops_per_s(10_000, 1e-6, 2e9) == pytest.approx(2e9, rel=1e-6)


def test_attention_counts_by_hand():
    assert onchip.attention_flops(2, 3, 4) == 4 * 2 * 3 * 4 == 96
    # Q 2x4 and O 2x4, K and V 3x4, S and P 2x3 written and read: 16 + 24 + 24 elements
    assert onchip.standard_attention_bytes(2, 3, 4, 2) == (16 + 24 + 24) * 2 == 128
    assert onchip.tiled_attention_bytes(2, 3, 4, 2) == (16 + 24) * 2 == 80
    # one query per block: K and V read twice
    assert onchip.tiled_attention_bytes(2, 3, 4, 2, query_block=1) == (16 + 2 * 24) * 2
    assert onchip.tiled_attention_bytes(5, 3, 4, 2, query_block=2) == (40 + 3 * 24) * 2
    # decode (one query): no n^2 term left to save, about 1 FLOP per byte in fp16
    flops, moved = onchip.attention_flops(1, 4096, 128), onchip.tiled_attention_bytes(
        1, 4096, 128, 2)
    assert flops / moved == pytest.approx(1.0, rel=1e-3)


def test_counts_refuse_bad_sizes():
    with pytest.raises(ValueError, match="divide"):
        onchip.tiled_matmul_bytes(10, 3, 8)
    with pytest.raises(ValueError):
        onchip.tiled_matmul_bytes(0, 1, 8)
    with pytest.raises(ValueError):
        onchip.half_rate_tile(0.0, 1e9)
    with pytest.raises(ValueError):
        onchip.largest_tile(-1, 2)


# ---------------------------------------------------------------- kernels against numpy


def plain_attention(q, k, v):
    """Row by row in float64: softmax(q k^T / sqrt(d)) v, written out (independent reference)."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    rows = []
    for query in q:
        scores = k @ query / math.sqrt(q.shape[1])
        weights = np.exp(scores - scores.max())
        rows.append(weights @ v / weights.sum())
    return np.array(rows)


@pytest.mark.parametrize("shape, tile", [((64, 64, 64), 16), ((100, 70, 90), 16),
                                         ((33, 17, 5), 7), ((8, 8, 8), 64)])
def test_tiled_matmul_equals_numpy(shape, tile):
    rows, inner, cols = shape
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((rows, inner)), rng.standard_normal((inner, cols))
    np.testing.assert_allclose(onchip.tiled_matmul(a, b, tile), a @ b, rtol=1e-12, atol=1e-12)
    out = np.full((rows, cols), 7.0)  # stale contents must not leak into the sum
    assert onchip.tiled_matmul(a, b, tile, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)


def test_tiled_matmul_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="cannot be multiplied"):
        onchip.tiled_matmul(np.ones((3, 4)), np.ones((5, 3)), 2)


def test_standard_attention_equals_a_plain_softmax():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal(shape) for shape in ((40, 16), (50, 16), (50, 8)))
    np.testing.assert_allclose(onchip.standard_attention(q, k, v), plain_attention(q, k, v),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_queries, n_keys, block, query_block",
                         [(256, 256, 64, None), (300, 257, 64, None), (100, 300, 128, 32),
                          (5, 7, 1, 1), (64, 64, 256, 512)])
def test_tiled_attention_equals_a_plain_softmax(n_queries, n_keys, block, query_block):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((n_queries, 32)) * 3  # large scores: the running max matters
    k, v = rng.standard_normal((n_keys, 32)) * 3, rng.standard_normal((n_keys, 16))
    np.testing.assert_allclose(onchip.tiled_attention(q, k, v, block, query_block),
                               plain_attention(q, k, v), rtol=1e-9, atol=1e-12)


def test_tiled_attention_keeps_float32_and_its_accuracy():
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((512, 64)).astype(np.float32) for _ in range(3))
    result = onchip.tiled_attention(q, k, v, 128)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, plain_attention(q, k, v), atol=1e-5)


def test_one_update_from_the_empty_state_is_the_softmax_of_that_block():
    rng = np.random.default_rng(5)
    scores, values = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    row_max, row_sum, out = np.full(3, -np.inf), np.zeros(3), np.zeros((3, 2))
    onchip.online_softmax_update(row_max, row_sum, out, scores.copy(), values)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out / row_sum[:, None], weights @ values / weights.sum(
        axis=1, keepdims=True))
    np.testing.assert_allclose(row_max, scores.max(axis=1))


def test_two_updates_equal_one_over_both_blocks():
    rng = np.random.default_rng(6)
    scores, values = rng.standard_normal((3, 6)) * 5, rng.standard_normal((6, 2))
    state = np.full(3, -np.inf), np.zeros(3), np.zeros((3, 2))
    onchip.online_softmax_update(*state, scores[:, :2].copy(), values[:2])
    onchip.online_softmax_update(*state, scores[:, 2:].copy(), values[2:])
    whole = np.full(3, -np.inf), np.zeros(3), np.zeros((3, 2))
    onchip.online_softmax_update(*whole, scores.copy(), values)
    for folded, at_once in zip(state, whole):
        np.testing.assert_allclose(folded, at_once)


# ---------------------------------------------------------------- peak memory


def test_peak_bytes_sees_a_numpy_array_and_is_measured():
    peak = onchip.peak_bytes(lambda: np.ones(1_000_000).sum())
    assert 8_000_000 <= peak <= 8_100_000  # ndarray.nbytes plus a little bookkeeping
    assert provenance.is_measured(peak)
    assert onchip.peak_bytes(lambda: None) < 10_000


def test_peak_bytes_leaves_tracing_as_it_found_it():
    import tracemalloc

    assert not tracemalloc.is_tracing()
    onchip.peak_bytes(lambda: np.zeros(10))
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        kept = np.ones(500_000)  # allocated before: not part of the call's peak
        assert onchip.peak_bytes(lambda: np.ones(1000).sum()) < 100_000
        assert tracemalloc.is_tracing()
        del kept
    finally:
        tracemalloc.stop()


def test_standard_attention_holds_the_scores_and_tiled_attention_does_not():
    n, d = 1024, 32
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    scores_bytes = np.empty((n, n), dtype=np.float32).nbytes
    assert onchip.peak_bytes(lambda: onchip.standard_attention(q, k, v)) >= scores_bytes
    tiled = onchip.peak_bytes(lambda: onchip.tiled_attention(q, k, v, 64))
    assert tiled < scores_bytes / 8
    assert tiled >= np.empty((n, d), dtype=np.float32).nbytes  # the result itself


# ---------------------------------------------------------------- data/onchip.csv


def test_onchip_rows_have_sources_and_known_accelerator_names():
    for row in read_table("onchip.csv"):
        assert SOURCE.match(row["source"]) and SOURCE.match(row["shared_memory_source"])
        assert row["note"].strip()
        hardware.get(row["name"])  # the same names as accelerators.csv
    assert {"a100-40gb", "h100-sxm", "b200"} <= set(onchip.chip_names())


def test_h100_on_chip_memories_as_the_sources_state_them():
    h100 = onchip.chip("h100-sxm")
    assert h100.sm_count == 132
    assert h100.l2_bytes == 50 * 1024**2
    assert h100.shared_memory_per_sm_bytes == 228 * 1024
    assert h100.shared_memory_bytes == 132 * 233_472
    a100 = onchip.chip("a100-40gb")
    assert (a100.sm_count, a100.l2_bytes, a100.shared_memory_per_sm_bytes) == (
        108, 41_943_040, 167_936)  # what CUDA's deviceQuery reports for an A100
    assert onchip.chip("b200").l2_bytes is None  # no source found: left out


def test_unknown_chip_lists_close_names():
    with pytest.raises(ValueError, match="h100-sxm"):
        onchip.chip("h100")
