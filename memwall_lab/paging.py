"""Paged KV cache: fixed-size blocks from one pool instead of a slab per request (lesson 06).

A server that reserves, for every request, one contiguous slab of KV cache as
long as the longest answer it might give wastes most of it: the answer is
usually short, and the slab is held from the first token. vLLM (Kwon et al.,
SOSP 2023, arXiv 2309.06180) stores the KV cache in *blocks* of a few tokens,
handed out from one pool as a request grows and given back when it ends, like
pages of virtual memory: a request wastes at most the unused end of its last
block. This module keeps the reference allocator and the replay that measures
the waste of any allocator on a trace of requests:

- `BlockAllocator`: a pool of `n_blocks` blocks of `block_tokens` tokens, a free
  stack and one block table (a numpy array of block ids) per request. A
  contiguous max-length reservation is the same allocator with one block of the
  maximum length per request.
- `request_trace`: a seeded trace of requests arriving, growing one token per
  step and finishing, as (request, tokens) events.
- `replay`: run a trace through an allocator and measure allocated - used bytes.

Sizes are tokens or bytes, as the names say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memwall_lab.validate import check_count, check_sequence


class BlockAllocator:
    """A pool of `n_blocks` KV blocks of `block_tokens` tokens each, handed out on demand."""

    def __init__(self, n_blocks: int, block_tokens: int):
        self.block_tokens = check_count("block_tokens", block_tokens, 1)
        self.n_blocks = check_count("n_blocks", n_blocks, 1, 10**9)
        self.free_blocks = np.arange(self.n_blocks - 1, -1, -1)  # a stack: the last is next
        self.n_free = self.n_blocks
        self.tables: dict[int, np.ndarray] = {}  # request -> its block ids, in token order

    def allocate(self, request: int, tokens: int) -> np.ndarray:
        """Give `request` enough blocks for `tokens` tokens (it keeps those it has); its table.

        Blocks needed = ceil(tokens / block_tokens); a request never shrinks here.
        MemoryError if the pool has too few free blocks (nothing is taken then).
        """
        table = self.tables.get(request, np.empty(0, dtype=np.int64))
        needed = -(-check_count("tokens", tokens, 0) // self.block_tokens) - len(table)
        if needed > self.n_free:
            raise MemoryError(f"request {request} needs {needed} more blocks of "
                              f"{self.block_tokens} tokens; {self.n_free} are free")
        if needed > 0:
            taken = self.free_blocks[self.n_free - needed:self.n_free][::-1]
            self.n_free -= needed
            table = np.concatenate([table, taken])
        self.tables[request] = table
        return table

    def free(self, request: int) -> None:
        """Give every block of `request` back to the pool."""
        table = self.tables.pop(request)
        self.free_blocks[self.n_free:self.n_free + len(table)] = table[::-1]
        self.n_free += len(table)

    def blocks_in_use(self) -> int:
        """Blocks held by requests now."""
        return self.n_blocks - self.n_free


def request_trace(n_requests: int = 200, mean_prompt_tokens: int = 256,
                  mean_output_tokens: int = 256, max_tokens: int = 2048,
                  arrivals_per_step: float = 0.25, seed: int = 0) -> tuple[tuple[int, int], ...]:
    """A seeded trace of (request, tokens) events: a request now holds `tokens` tokens; 0 ends it.

    Requests arrive at random steps (a chance of `arrivals_per_step` at each) with a prompt
    and an answer uniform in [mean/2, 3 mean/2] tokens, prompt + answer at most
    `max_tokens`; each holds its prompt on arrival, grows by one token per step
    while it answers, and ends (tokens 0) after its last token. Events come in
    step order; within a step, ends first, then growth, then arrivals.
    """
    n_requests = check_count("n_requests", n_requests, 1, 100_000)
    mean_prompt_tokens = check_count("mean_prompt_tokens", mean_prompt_tokens, 1, 10**6)
    mean_output_tokens = check_count("mean_output_tokens", mean_output_tokens, 1, 10**6)
    max_tokens = check_count("max_tokens", max_tokens, 2, 10**7)
    if isinstance(arrivals_per_step, bool) or not (
            isinstance(arrivals_per_step, (int, float, np.floating, np.integer))
            and 0 < arrivals_per_step <= 1):
        raise ValueError(f"arrivals_per_step must be a chance per step in (0, 1], got "
                         f"{arrivals_per_step!r}")
    seed = check_count("seed", seed, 0)
    rng = np.random.default_rng(seed)
    gaps = rng.geometric(float(arrivals_per_step), n_requests)  # steps between arrivals
    arrive = np.cumsum(gaps) - gaps[0]  # the first request arrives at step 0
    prompts = rng.integers(max(1, mean_prompt_tokens // 2),
                           mean_prompt_tokens + mean_prompt_tokens // 2 + 1, n_requests)
    prompts = np.minimum(prompts, max_tokens - 1)
    outputs = rng.integers(max(1, mean_output_tokens // 2),
                           mean_output_tokens + mean_output_tokens // 2 + 1, n_requests)
    outputs = np.minimum(outputs, max_tokens - prompts)
    events = []  # (step, order, request, tokens): order 0 end, 1 grow, 2 arrive
    for request in range(n_requests):
        start, prompt, output = int(arrive[request]), int(prompts[request]), int(outputs[request])
        events.append((start, 2, request, prompt))
        for extra in range(1, output):  # the answer's tokens after the first
            events.append((start + extra, 1, request, prompt + extra))
        events.append((start + output, 0, request, 0))
    events.sort()
    return tuple((request, tokens) for _, _, request, tokens in events)


@dataclass(frozen=True)
class Replay:
    """What a trace did to an allocator: the most waste it ever held, and when memory peaked."""

    block_tokens: int
    kv_bytes_per_token: int
    peak_waste_tokens: int  # max over the trace of allocated - used tokens
    peak_allocated_tokens: int  # max over the trace of allocated tokens
    used_at_peak_tokens: int  # tokens in use when allocation peaked
    most_requests: int  # the most requests alive at once

    @property
    def peak_waste_bytes(self) -> int:
        """The most KV bytes held but unused at any moment: (allocated - used) x bytes per token."""
        return self.peak_waste_tokens * self.kv_bytes_per_token

    @property
    def peak_allocated_bytes(self) -> int:
        """The most KV bytes allocated at once."""
        return self.peak_allocated_tokens * self.kv_bytes_per_token

    @property
    def used_share_at_peak(self) -> float:
        """Share (0-1) of the allocated KV that held real tokens when allocation peaked."""
        return self.used_at_peak_tokens / self.peak_allocated_tokens


def _check_trace(trace) -> tuple[tuple[int, int], ...]:
    """A trace as a tuple of (request, tokens) pairs of non-negative ints."""
    trace = check_sequence("trace", trace, "(request, tokens) pairs")
    if not trace:
        raise ValueError("trace must hold at least one (request, tokens) event")
    checked = []
    for event in trace:
        pair = check_sequence("each trace event", event, "two integers (request, tokens)")
        if len(pair) != 2:
            raise ValueError(f"each trace event is (request, tokens), got {event!r}")
        checked.append((check_count("request", pair[0], 0), check_count("tokens", pair[1], 0)))
    return tuple(checked)


def pool_blocks(trace, block_tokens: int) -> int:
    """Blocks enough for every request of `trace` to hold its longest length at once."""
    trace = _check_trace(trace)
    block_tokens = check_count("block_tokens", block_tokens, 1)
    longest: dict[int, int] = {}
    for request, tokens in trace:
        longest[request] = max(longest.get(request, 0), tokens)
    return max(1, sum(-(-tokens // block_tokens) for tokens in longest.values()))


def replay(trace, block_tokens: int, kv_bytes_per_token: int = 1, n_blocks: int | None = None,
           allocator=BlockAllocator) -> Replay:
    """Run `trace` through `allocator(n_blocks, block_tokens)` and measure its waste.

    For each (request, tokens) event it calls ``allocate(request, tokens)`` (tokens
    > 0) or ``free(request)`` (tokens 0), then compares the blocks in use
    (``blocks_in_use()``) x block_tokens with the tokens the live requests hold.
    It also checks that no block is ever given to two requests at once (each
    ``allocate`` returns the request's block table). `n_blocks` defaults to
    `pool_blocks`: room for the whole trace, so waste is measured, not a full pool.
    """
    trace = _check_trace(trace)
    block_tokens = check_count("block_tokens", block_tokens, 1)
    kv_bytes_per_token = check_count("kv_bytes_per_token", kv_bytes_per_token, 1)
    n_blocks = pool_blocks(trace, block_tokens) if n_blocks is None else check_count(
        "n_blocks", n_blocks, 1, 10**9)
    pool = allocator(n_blocks, block_tokens)
    owner = np.full(n_blocks, -1, dtype=np.int64)  # which request holds each block
    held = {}  # request -> its blocks, as last returned
    used, peak_waste, peak_allocated, used_at_peak, most = 0, 0, 0, 0, 0
    lengths: dict[int, int] = {}
    for request, tokens in trace:
        if tokens == 0:
            pool.free(request)
            owner[held.pop(request)] = -1
            used -= lengths.pop(request)
        else:
            table = pool.allocate(request, tokens)
            before = len(held.get(request, ()))
            if len(table) * block_tokens < tokens:
                raise ValueError(f"the allocator gave request {request} {len(table)} blocks of "
                                 f"{block_tokens} tokens for {tokens} tokens")
            if len(table) != before:  # new blocks: none may belong to another request
                new = np.asarray(table[before:], dtype=np.int64)
                if np.any(owner[new] != -1) or len(np.unique(new)) != len(new):
                    raise ValueError(f"the allocator gave request {request} a block that "
                                     "another request holds")
                owner[new] = request
                held[request] = np.asarray(table, dtype=np.int64)
            used += tokens - lengths.get(request, 0)
            lengths[request] = tokens
        allocated = int(pool.blocks_in_use()) * block_tokens
        peak_waste = max(peak_waste, allocated - used)
        if allocated > peak_allocated:
            peak_allocated, used_at_peak = allocated, used
        most = max(most, len(lengths))
    return Replay(block_tokens, kv_bytes_per_token, peak_waste, peak_allocated, used_at_peak,
                  most)


def requests_that_fit(free_tokens: int, block_tokens: int, tokens_per_request: int) -> int:
    """Requests of `tokens_per_request` tokens whose blocks fit in `free_tokens` of KV at once."""
    free_tokens = check_count("free_tokens", free_tokens, 0)
    block_tokens = check_count("block_tokens", block_tokens, 1)
    tokens_per_request = check_count("tokens_per_request", tokens_per_request, 1)
    blocks = -(-tokens_per_request // block_tokens)
    return (free_tokens // block_tokens) // blocks
