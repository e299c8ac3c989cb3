"""The paged KV allocator and its waste (lesson 06) against hand arithmetic."""

import numpy as np
import pytest

from memwall_lab import models, paging

LLAMA3_KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2  # 131,072 bytes


def test_blocks_are_ceil_of_tokens_over_block_size():
    pool = paging.BlockAllocator(n_blocks=10, block_tokens=16)
    assert len(pool.allocate(0, 33)) == 3  # 33 tokens: 16 + 16 + 1 -> 3 blocks, 15 unused
    assert len(pool.allocate(0, 48)) == 3  # still fits the third block
    assert len(pool.allocate(0, 49)) == 4
    assert pool.blocks_in_use() == 4 and pool.n_free == 6
    pool.allocate(1, 1)
    assert pool.blocks_in_use() == 5
    pool.free(0)
    assert pool.blocks_in_use() == 1 and pool.n_free == 9


def test_tables_never_share_a_block_and_freed_blocks_are_reused():
    pool = paging.BlockAllocator(n_blocks=6, block_tokens=4)
    a = pool.allocate(0, 8).copy()
    b = pool.allocate(1, 12).copy()
    assert len(set(a) | set(b)) == 5 and set(a).isdisjoint(b)
    pool.free(0)
    c = pool.allocate(2, 12)
    assert set(c).isdisjoint(b) and set(a) <= set(c)  # the freed blocks came back first
    assert set(np.concatenate([b, c])) <= set(range(6))


def test_a_full_pool_raises_and_takes_nothing():
    pool = paging.BlockAllocator(n_blocks=2, block_tokens=16)
    pool.allocate(0, 20)
    with pytest.raises(MemoryError, match="needs 1 more blocks"):
        pool.allocate(1, 1)
    with pytest.raises(MemoryError):
        pool.allocate(0, 33)
    assert pool.blocks_in_use() == 2 and len(pool.tables[0]) == 2


def test_replay_of_a_hand_trace():
    # request 0 grows 10 -> 17 tokens, request 1 arrives with 5, request 0 ends
    trace = [(0, 10), (0, 17), (1, 5), (0, 0), (1, 6)]
    paged = paging.replay(trace, block_tokens=8, kv_bytes_per_token=100)
    # after each event allocated - used: 16-10=6, 24-17=7, 32-22=10, 8-5=3, 8-6=2
    assert paged.peak_waste_tokens == 10 and paged.peak_waste_bytes == 1000
    assert paged.peak_allocated_tokens == 32 and paged.used_at_peak_tokens == 22
    assert paged.most_requests == 2
    # contiguous: every request reserves the longest length, 32 tokens, at once
    slab = paging.replay(trace, block_tokens=32, kv_bytes_per_token=100)
    # 32-10=22, 32-17=15, 64-22=42, 32-5=27, 32-6=26
    assert slab.peak_waste_tokens == 42 and slab.peak_allocated_tokens == 64
    assert slab.used_share_at_peak == pytest.approx(22 / 64)


def test_replay_catches_an_allocator_that_hands_out_a_block_twice():
    class Careless(paging.BlockAllocator):
        def allocate(self, request, tokens):
            table = np.zeros(-(-tokens // self.block_tokens), dtype=np.int64)  # always block 0
            self.tables[request] = table
            self.n_free = self.n_blocks - sum(len(t) for t in self.tables.values())
            return table

    with pytest.raises(ValueError, match="another request holds"):
        paging.replay([(0, 4), (1, 4)], 4, allocator=Careless)


def test_replay_catches_a_table_too_short_for_its_tokens():
    class Short(paging.BlockAllocator):
        def allocate(self, request, tokens):
            return super().allocate(request, max(1, tokens - self.block_tokens))

    with pytest.raises(ValueError, match="blocks of 4 tokens for 9 tokens"):
        paging.replay([(0, 9)], 4, allocator=Short)


def test_trace_is_seeded_well_formed_and_bounded():
    trace = paging.request_trace(n_requests=50, max_tokens=512, seed=3)
    assert trace == paging.request_trace(n_requests=50, max_tokens=512, seed=3)
    assert trace != paging.request_trace(n_requests=50, max_tokens=512, seed=4)
    last = {}
    for request, tokens in trace:
        if tokens:
            assert tokens > last.get(request, 0) and tokens <= 512  # requests only grow
        else:
            assert request in last  # only a live request ends
        last[request] = tokens
    assert set(last) == set(range(50)) and not any(last.values())  # every request ended


def test_paging_wastes_under_a_block_per_request_and_slabs_waste_most():
    trace = paging.request_trace(seed=0)
    paged = paging.replay(trace, 16, LLAMA3_KV_PER_TOKEN)
    slab = paging.replay(trace, 2048, LLAMA3_KV_PER_TOKEN)
    assert paged.peak_waste_tokens < 16 * paged.most_requests
    assert paged.used_share_at_peak > 0.95 and slab.used_share_at_peak < 0.3
    assert slab.peak_waste_bytes > 50 * paged.peak_waste_bytes


def test_pool_blocks_and_requests_that_fit():
    assert paging.pool_blocks([(0, 17), (1, 3), (0, 0)], 8) == 3 + 1
    # an H100 beside Llama-3-8B's fp16 weights: 63,939,477,504 B / 131,072 B = 487,819 tokens
    free_tokens = (80_000_000_000 - models.weight_bytes("llama-3-8b")) // LLAMA3_KV_PER_TOKEN
    assert free_tokens == 487_819
    assert paging.requests_that_fit(free_tokens, 2048, 500) == 238  # one 2,048 slab each
    assert paging.requests_that_fit(free_tokens, 16, 500) == 30_488 // 32  # 32 blocks each


@pytest.mark.parametrize("call, message", [
    (lambda: paging.BlockAllocator(0, 16), "n_blocks"),
    (lambda: paging.replay([], 16), "at least one"),
    (lambda: paging.replay([(0, 1, 2)], 16), "request, tokens"),
    (lambda: paging.replay([(0, -1)], 16), "tokens"),
    (lambda: paging.request_trace(arrivals_per_step=2.0), "arrivals_per_step"),
    (lambda: paging.requests_that_fit(100, 0, 5), "block_tokens"),
])
def test_bad_input_is_a_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
