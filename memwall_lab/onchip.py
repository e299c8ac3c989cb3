"""Keep the bytes on chip: tiled matrix multiply and tiled attention (introduced in lesson 08).

A kernel that reuses data moves fewer bytes from memory when the pieces it reuses stay in
a small memory beside the arithmetic: a CPU's caches, a GPU's shared memory and L2. This
module keeps what lesson 08 counts and measures:

- the bytes a matrix multiply moves with b x b tiles, and the largest tile a memory holds
  (Hong & Kung, STOC 1981: with M words on chip no order of the work moves fewer than
  about n^3 / sqrt(M) words);
- the FLOPs and bytes of attention, standard (the n x n scores go to memory and back) and
  tiled (FlashAttention, arXiv 2205.14135: the scores never leave the chip);
- the kernels in numpy (a tiled matmul, standard attention, tiled attention with an online
  softmax) and `peak_bytes`, the most memory a call holds at once (tracemalloc, which
  sees numpy's arrays);
- the on-chip memories of datacenter GPUs (data/onchip.csv, every row with its source).

Sizes are exact integer bytes, times seconds, rates per second, intensities FLOP/byte;
`itemsize` is the bytes of one element (8 for float64, 4 for float32, 2 for fp16/bf16).
"""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from memwall_lab import provenance
from memwall_lab.hardware import lookup, read_table
from memwall_lab.validate import check_count, check_positive

MATMUL_TILES = 3  # one tile each of A, B and C on chip while a tile product runs


# ---------------------------------------------------------------- tiled matrix multiply


def matmul_flops(n: int) -> int:
    """FLOPs of C = A B for n x n matrices: n multiply-adds (2 FLOPs) per element of C."""
    n = check_count("n", n)
    return 2 * n**3


def tiled_matmul_bytes(n: int, tile: int, itemsize: int) -> int:
    """Bytes C = A B (n x n) moves in tile x tile tiles: A, B read n/tile times, C written once."""
    n, tile = check_count("n", n), check_count("tile", tile)
    itemsize = check_count("itemsize", itemsize)
    if n % tile:
        raise ValueError(f"tile must divide n: {n} is not a multiple of {tile}")
    tiles_per_side = n // tile
    # (n/b)^2 tiles of C, each summed over n/b steps that read one tile of A and one of B
    reads = tiles_per_side**2 * tiles_per_side * 2 * tile**2  # = 2 n^3 / b elements
    return itemsize * (reads + n * n)


def tiled_matmul_intensity_flops_per_byte(n: int, tile: int, itemsize: int) -> float:
    """FLOPs per byte moved by the tiled matmul: about tile / itemsize once n is large."""
    return matmul_flops(n) / tiled_matmul_bytes(n, tile, itemsize)


def tiles_bytes(tile: int, itemsize: int, tiles: int = MATMUL_TILES) -> int:
    """Bytes `tiles` square tile x tile tiles hold: the working set of one tile product."""
    tile, itemsize = check_count("tile", tile), check_count("itemsize", itemsize)
    return check_count("tiles", tiles) * tile**2 * itemsize


def largest_tile(capacity_bytes: int, itemsize: int, tiles: int = MATMUL_TILES) -> int:
    """Largest tile b whose `tiles` b x b tiles fit in `capacity_bytes` (0 if not even 1 x 1)."""
    capacity_bytes = check_count("capacity_bytes", capacity_bytes, 0)
    per_element = check_count("tiles", tiles) * check_count("itemsize", itemsize)
    return math.isqrt(capacity_bytes // per_element)


def tiled_matmul(a: np.ndarray, b: np.ndarray, tile: int,
                 out: np.ndarray | None = None) -> np.ndarray:
    """C = A @ B computed tile by tile: C[i, j] += A[i, k] @ B[k, j] over tile x tile blocks."""
    tile = check_count("tile", tile)
    rows, inner = a.shape
    if b.shape[0] != inner:
        raise ValueError(f"shapes {a.shape} and {b.shape} cannot be multiplied")
    c = np.empty((rows, b.shape[1]), dtype=np.result_type(a, b)) if out is None else out
    product_buffer = np.empty((tile, tile), dtype=c.dtype)  # no new array per tile product
    c[...] = 0
    for i in range(0, rows, tile):
        for j in range(0, b.shape[1], tile):
            c_tile = c[i:i + tile, j:j + tile]  # a view: the sum lands in C
            for k in range(0, inner, tile):
                product = product_buffer[:c_tile.shape[0], :c_tile.shape[1]]
                np.matmul(a[i:i + tile, k:k + tile], b[k:k + tile, j:j + tile], out=product)
                c_tile += product
    return c


def tiled_rate_flops_per_s(tile: int, seconds_per_call: float, peak_flops_per_s: float) -> float:
    """FLOP/s of a tiled loop whose tile products each cost `seconds_per_call` + FLOPs / peak."""
    tile = check_count("tile", tile)
    seconds_per_call = check_positive("seconds_per_call", seconds_per_call)
    flops_per_tile = 2 * tile**3
    return flops_per_tile / (seconds_per_call + flops_per_tile / check_positive(
        "peak_flops_per_s", peak_flops_per_s))


def half_rate_tile(seconds_per_call: float, peak_flops_per_s: float) -> float:
    """Tile size whose product's fixed cost equals its arithmetic time: half the peak rate."""
    seconds_per_call = check_positive("seconds_per_call", seconds_per_call)
    return (seconds_per_call * check_positive("peak_flops_per_s", peak_flops_per_s) / 2) ** (1 / 3)


# ---------------------------------------------------------------- attention


def attention_flops(n_queries: int, n_keys: int, head_dim: int) -> int:
    """FLOPs of one head's attention: Q K^T and P V, 2 n_queries n_keys head_dim each."""
    n_queries, n_keys = check_count("n_queries", n_queries), check_count("n_keys", n_keys)
    return 4 * n_queries * n_keys * check_count("head_dim", head_dim)


def standard_attention_bytes(n_queries: int, n_keys: int, head_dim: int, itemsize: int) -> int:
    """Bytes one head's standard attention moves: Q, K, V read, O written, and the scores S
    and probabilities P (n_queries x n_keys each) written and read back (FlashAttention's
    Algorithm 0)."""
    n_queries, n_keys = check_count("n_queries", n_queries), check_count("n_keys", n_keys)
    head_dim, itemsize = check_count("head_dim", head_dim), check_count("itemsize", itemsize)
    return itemsize * (2 * n_queries * head_dim + 2 * n_keys * head_dim + 4 * n_queries * n_keys)


def tiled_attention_bytes(n_queries: int, n_keys: int, head_dim: int, itemsize: int,
                          query_block: int | None = None) -> int:
    """Bytes one head's tiled attention moves while one block's work stays on chip: Q read and
    O written once, K and V read once per block of `query_block` queries (None: one block)."""
    n_queries, n_keys = check_count("n_queries", n_queries), check_count("n_keys", n_keys)
    head_dim, itemsize = check_count("head_dim", head_dim), check_count("itemsize", itemsize)
    query_blocks = 1 if query_block is None else -(-n_queries // check_count("query_block",
                                                                              query_block))
    return itemsize * (2 * n_queries * head_dim + 2 * n_keys * head_dim * query_blocks)


def standard_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """softmax(Q K^T / sqrt(head_dim)) V, holding the whole n_queries x n_keys score matrix."""
    scores = q @ k.T
    scores *= 1 / math.sqrt(q.shape[1])
    scores -= scores.max(axis=1, keepdims=True)  # a shift leaves softmax unchanged; exp <= 1
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores @ v


def online_softmax_update(row_max: np.ndarray, row_sum: np.ndarray, out: np.ndarray,
                          scores: np.ndarray, v_block: np.ndarray) -> None:
    """Fold one block of scores (rows x keys) and its values into the running state, in place.

    The state per query row: the largest score so far (`row_max`), the sum of exp(score -
    row_max) so far (`row_sum`) and the matching weighted sum of values (`out`). A larger
    maximum in the new block rescales what was summed before by exp(old max - new max).
    `scores` is overwritten with exp(score - new max).
    """
    new_max = np.maximum(row_max, scores.max(axis=1))
    rescale = np.exp(row_max - new_max)
    np.subtract(scores, new_max[:, None], out=scores)
    np.exp(scores, out=scores)
    row_sum *= rescale
    row_sum += scores.sum(axis=1)
    out *= rescale[:, None]
    out += scores @ v_block
    row_max[...] = new_max


def tiled_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, block: int,
                    query_block: int | None = None) -> np.ndarray:
    """Attention block by block with an online softmax (FlashAttention's loops): at most
    query_block x block scores exist at once (query_block defaults to block)."""
    block = check_count("block", block)
    query_block = block if query_block is None else check_count("query_block", query_block)
    n_queries, head_dim = q.shape
    dtype = np.result_type(q, k, v)
    result = np.empty((n_queries, v.shape[1]), dtype=dtype)
    scores_buffer = np.empty((query_block, block), dtype=dtype)  # the one tile of scores
    for start in range(0, n_queries, query_block):
        q_block = q[start:start + query_block] * (1 / math.sqrt(head_dim))
        rows = len(q_block)
        row_max = np.full(rows, -np.inf, dtype=dtype)
        row_sum = np.zeros(rows, dtype=dtype)
        out = np.zeros((rows, v.shape[1]), dtype=dtype)
        for key_start in range(0, len(k), block):
            k_block = k[key_start:key_start + block]
            scores = scores_buffer[:rows, :len(k_block)]
            np.matmul(q_block, k_block.T, out=scores)
            online_softmax_update(row_max, row_sum, out, scores, v[key_start:key_start + block])
        result[start:start + rows] = out / row_sum[:, None]
    return result


def peak_bytes(function: Callable[[], object]) -> float:
    """Most bytes `function()` held at once beyond what existed before (tracemalloc)."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        before_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started_here:
            tracemalloc.stop()
    return provenance.mark(max(peak - before_bytes, 0))


# ---------------------------------------------------------------- GPUs' on-chip memories


@dataclass(frozen=True)
class OnChip:
    """A GPU's on-chip memories from data/onchip.csv; l2_bytes is None where no source states it."""

    name: str
    display_name: str
    year: int
    sm_count: int
    l2_bytes: int | None
    shared_memory_per_sm_bytes: int
    source: str
    shared_memory_source: str
    note: str

    @property
    def shared_memory_bytes(self) -> int:
        """Shared memory of all SMs together, in bytes."""
        return self.sm_count * self.shared_memory_per_sm_bytes


@cache
def _chips() -> dict[str, OnChip]:
    chips = {}
    for row in read_table("onchip.csv"):
        l2_mib = row["l2_mib"].strip()
        chips[row["name"]] = OnChip(
            name=row["name"], display_name=row["display_name"], year=int(row["year"]),
            sm_count=int(row["sm_count"]),
            l2_bytes=int(float(l2_mib) * 2**20) if l2_mib else None,  # NVIDIA's MB are MiB
            shared_memory_per_sm_bytes=int(float(row["shared_memory_per_sm_kib"]) * 2**10),
            source=row["source"], shared_memory_source=row["shared_memory_source"],
            note=row["note"])
    return chips


def chip_names() -> list[str]:
    """Names of the GPUs in data/onchip.csv, e.g. 'h100-sxm' (the same names as hardware.get)."""
    return list(_chips())


def chip(name: str) -> OnChip:
    """The on-chip memories of GPU `name`; unknown names raise ValueError listing close ones."""
    return lookup("on-chip memory of", name, _chips())
