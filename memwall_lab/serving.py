"""Serving many users: first token vs later tokens, batching, disaggregation, KV reuse (lesson 06).

A server answers many requests at once. Each request waits for its **first
token** (the prefill of its prompt: compute-bound) and then for **every later
token** (one decode step of the whole batch: memory-bound). This module builds
both on the split step model of `models` (`models.prefill_time`,
`models.decode_time`: each kernel on its roofline, summed; every batch says
whether it fits):

- `operating_point`, `batch_sweep`, `pareto_front`: time to first token, time
  per output token and throughput of one batch size, and the latency-throughput
  trade-off over batch sizes;
- `hybrid_step_time`, `largest_chunk_tokens`: one step that decodes a batch *and*
  prefills a chunk of a prompt, and the largest chunk a target step time allows (the
  token budget of chunked prefill, Sarathi-Serve, arXiv 2403.02310);
- `request_stream`, `simulate_colocated`, `simulate_disaggregated`: a small
  deterministic simulation of a stream of requests served with continuous
  batching, co-located (chunked prefill by default, as vLLM runs) or with prefill
  and decode on different devices (DistServe arXiv 2401.09670, Splitwise arXiv
  2311.18677);
- `kv_reuse`: a cached prefix (a system prompt, the earlier turns of a chat)
  reloaded once per request from host memory or disk instead of recomputed;
- `published_results`: the measured results of those papers, from
  ``data/serving_results.csv``, each with its source.

`memwall_lab.offload` re-exports the simulator's names, which lived there first.
Sizes are bytes, times seconds, rates per second.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

from memwall_lab import hardware, models
from memwall_lab.step import StepTime
from memwall_lab.validate import (
    check_bandwidth,
    check_count,
    check_number,
    check_positive,
    check_sequence,
)

CONTEXT_BUCKET_TOKENS = 16  # decode steps are costed at the mean context rounded up to this
MAX_MEAN_TOKENS = 1_000_000  # request_stream's largest mean prompt or answer, in tokens
MAX_SIMULATED_OUTPUT_TOKENS = 20_000_000  # a simulation takes about 1 us per output token
DEFAULT_TOKEN_BUDGET = 512  # tokens one co-located step may carry: decodes + prefill chunks
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def _check_device(device) -> hardware.Hardware:
    """A device (or a built-in device's name) with bandwidth, peak FLOP/s and capacity."""
    return models.as_device(device, ("bandwidth_bytes_per_s", "peak_flops_per_s",
                                     "capacity_bytes"))


def _roofline_seconds(flops: float, bytes_moved: float, peak_flops_per_s: float,
                      bandwidth_bytes_per_s: float) -> float:
    """One kernel on the roofline in s: max(FLOPs / peak, bytes / bandwidth)."""
    return max(flops / peak_flops_per_s, bytes_moved / bandwidth_bytes_per_s)


# ---------------------------------------------------------------- one batch size


@dataclass(frozen=True)
class OperatingPoint:
    """One batch size of a server: what its users wait for, what it delivers, whether it fits."""

    batch: int
    prompt_tokens: int
    output_tokens: int
    prefill: StepTime  # all `batch` prompts in one pass
    decode: StepTime  # the last decode step: every sequence at its longest context

    @property
    def time_to_first_token_s(self) -> float:
        """Seconds to the first token when the batch's prompts are prefilled together."""
        return self.prefill.seconds

    @property
    def time_per_output_token_s(self) -> float:
        """Seconds between two tokens of one user: one decode step of the whole batch."""
        return self.decode.seconds

    @property
    def tokens_per_s(self) -> float:
        """Output tokens per second of the whole batch: batch / time per output token."""
        return self.decode.tokens_per_s

    @property
    def fits(self) -> bool | None:
        """True if the last decode step (weights + every sequence's full KV) fits the device."""
        return self.decode.fits

    @property
    def fit_note(self) -> str:
        """'fits', 'does not fit: needs N devices' or 'memory unknown'."""
        return self.decode.fit_note


def operating_point(model, device, batch: int, prompt_tokens: int, output_tokens: int,
                    dtype: str = "fp16", kv_dtype: str | None = None) -> OperatingPoint:
    """Time to first token, time per output token and tokens/s of a static batch.

    `batch` requests with `prompt_tokens`-token prompts arrive together: their
    prefill is one pass over batch x prompt tokens (`models.prefill_time`); each
    later token is one decode step of the batch, timed at the last one, where every
    sequence has prompt + output - 1 tokens cached (`models.decode_time`), the
    slowest step and the one that must fit.
    """
    model, device = models.as_model(model), _check_device(device)
    batch = check_count("batch", batch, 1)
    prompt_tokens = check_count("prompt_tokens", prompt_tokens, 1)
    output_tokens = check_count("output_tokens", output_tokens, 1)
    prefill = models.prefill_time(model, device, prompt_tokens, batch, dtype, kv_dtype)
    decode = models.decode_time(model, device, prompt_tokens + output_tokens - 1, batch, dtype,
                                kv_dtype)
    return OperatingPoint(batch, prompt_tokens, output_tokens, prefill, decode)


def batch_sweep(model, device, prompt_tokens: int, output_tokens: int,
                batches=DEFAULT_BATCHES, dtype: str = "fp16", kv_dtype: str | None = None
                ) -> list[OperatingPoint]:
    """`operating_point` for each batch size in `batches` (one int or several)."""
    if isinstance(batches, (int, np.integer)):
        batches = (batches,)
    batches = check_sequence("batches", batches, "batch sizes")
    if not batches:
        raise ValueError("batches must name at least one batch size")
    return [operating_point(model, device, batch, prompt_tokens, output_tokens, dtype, kv_dtype)
            for batch in batches]


def pareto_front(points) -> list[OperatingPoint]:
    """The points that fit and that no other fitting point beats on both axes.

    A point is beaten when another has a time per output token no longer *and*
    a throughput no lower, one of them strictly. Sorted by time per output token.
    """
    points = check_sequence("points", points, "OperatingPoint (see batch_sweep)")
    if not all(isinstance(point, OperatingPoint) for point in points):
        raise ValueError("points must be OperatingPoints (see batch_sweep)")
    fitting = [p for p in points if p.fits is not False]

    def beaten(point: OperatingPoint) -> bool:
        """True if another fitting point is at least as good on both axes, better on one."""
        return any(other.time_per_output_token_s <= point.time_per_output_token_s
                   and other.tokens_per_s >= point.tokens_per_s
                   and (other.time_per_output_token_s < point.time_per_output_token_s
                        or other.tokens_per_s > point.tokens_per_s)
                   for other in fitting)

    return sorted((p for p in fitting if not beaten(p)),
                  key=lambda p: (p.time_per_output_token_s, -p.tokens_per_s))


# ---------------------------------------------------------------- prefill and decode in one step


@dataclass(frozen=True)
class HybridStep:
    """One step that decodes a batch and prefills a chunk of a prompt, kernel by kernel (s)."""

    decode_batch: int
    decode_context: int
    chunk_tokens: int
    chunk_prefix: int
    seconds_weights: float  # weight matmuls over decode_batch + chunk_tokens tokens
    seconds_decode_attention: float  # each decoding sequence reads its own cache
    seconds_chunk_attention: float  # the chunk attends to its prefix (read) and itself

    @property
    def seconds(self) -> float:
        """The step in s: the three kernels summed."""
        return self.seconds_weights + self.seconds_decode_attention + self.seconds_chunk_attention

    @property
    def tokens(self) -> int:
        """Tokens the step processes: one per decoding sequence plus the chunk."""
        return self.decode_batch + self.chunk_tokens


class _StepKernels:
    """One model's kernels on one device, memoised: weights, decode and chunk attention."""

    def __init__(self, model: models.Model, device, dtype: str, kv_dtype: str | None):
        self.model, self.dtype = model, dtype
        self.kv_dtype = dtype if kv_dtype is None else kv_dtype
        self.peak = models.peak_flops_for(device, dtype)
        self.bandwidth = float(device.bandwidth_bytes_per_s)
        self._cache: dict = {}

    def _memo(self, key, compute):
        """compute() once per key."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def weights_s(self, tokens: int) -> float:
        """Weight matmuls over `tokens` tokens: 2 FLOPs per weight per token, weights read once."""
        def compute():
            cost = models.decode_step(self.model, 1, tokens, self.dtype, self.kv_dtype)
            return _roofline_seconds(cost.weight_flops, cost.weight_bytes, self.peak,
                                     self.bandwidth)
        return 0.0 if tokens == 0 else self._memo(("weights", tokens), compute)

    def decode_attention_s(self, batch: int, context_len: int) -> float:
        """Attention of `batch` sequences decoding one token at `context_len` tokens cached."""
        def compute():
            cost = models.decode_step(self.model, context_len, batch, self.dtype, self.kv_dtype)
            return _roofline_seconds(cost.attention_flops, cost.attention_bytes, self.peak,
                                     self.bandwidth)
        return 0.0 if batch == 0 else self._memo(("decode", batch, context_len), compute)

    def chunk_attention_s(self, prefix: int, tokens: int) -> float:
        """Attention of a `tokens`-token chunk after `prefix` prompt tokens already cached.

        FLOPs: the causal attention of prefix + chunk minus that of the prefix alone;
        bytes: the prefix's KV read back, the chunk's KV written.
        """
        def compute():
            whole = models.prefill(self.model, prefix + tokens, 1, self.dtype, self.kv_dtype)
            flops = whole.attention_flops
            if prefix:
                flops -= models.prefill(self.model, prefix, 1, self.dtype,
                                        self.kv_dtype).attention_flops
            kv_bytes = (models.kv_cache_bytes(self.model, tokens, 1, self.kv_dtype)
                        + (models.kv_cache_bytes(self.model, prefix, 1, self.kv_dtype)
                           if prefix else 0))
            return _roofline_seconds(flops, kv_bytes, self.peak, self.bandwidth)
        return 0.0 if tokens == 0 else self._memo(("chunk", prefix, tokens), compute)


def hybrid_step_time(model, device, decode_batch: int, decode_context: int, chunk_tokens: int,
                     chunk_prefix: int = 0, dtype: str = "fp16", kv_dtype: str | None = None
                     ) -> HybridStep:
    """One step of chunked prefill: `decode_batch` sequences decode, a prompt chunk prefills.

    The weights are read once for all decode_batch + chunk_tokens tokens (their
    matmuls are compute-bound once that passes the ridge); each decoding sequence
    reads its `decode_context` cached tokens; the chunk attends to the
    `chunk_prefix` tokens of its prompt already prefilled (read back from memory)
    and to itself. With no chunk it is `models.decode_time`; with no decodes and
    no prefix, `models.prefill_time` of a `chunk_tokens`-token prompt.
    """
    model, device = models.as_model(model), _check_device(device)
    decode_batch = check_count("decode_batch", decode_batch, 0)
    decode_context = check_count("decode_context", decode_context, 1)
    chunk_tokens = check_count("chunk_tokens", chunk_tokens, 0)
    chunk_prefix = check_count("chunk_prefix", chunk_prefix, 0)
    if decode_batch + chunk_tokens == 0:
        raise ValueError("a step needs at least one token: decode_batch or chunk_tokens > 0")
    kernels = _StepKernels(model, device, dtype, kv_dtype)
    return HybridStep(decode_batch, decode_context, chunk_tokens, chunk_prefix,
                      kernels.weights_s(decode_batch + chunk_tokens),
                      kernels.decode_attention_s(decode_batch, decode_context),
                      kernels.chunk_attention_s(chunk_prefix, chunk_tokens))


def largest_chunk_tokens(model, device, decode_batch: int, decode_context: int,
                         max_step_s: float, chunk_prefix: int = 0, dtype: str = "fp16",
                         kv_dtype: str | None = None, limit: int = 1_000_000) -> int:
    """Largest prompt chunk a step of `decode_batch` decodes can carry within `max_step_s`.

    The token budget chunked prefill sets from a target time between tokens
    (Sarathi-Serve): step time grows with the chunk, so a bisection over
    `hybrid_step_time` finds it. 0 if the decodes alone already take longer;
    at most `limit` tokens.
    """
    max_step_s = check_positive("max_step_s", max_step_s)
    limit = check_count("limit", limit, 1, MAX_MEAN_TOKENS)

    def fits(chunk: int) -> bool:
        """True if the step with a chunk of `chunk` tokens takes at most max_step_s."""
        if chunk == 0 and decode_batch == 0:
            return True
        return hybrid_step_time(model, device, decode_batch, decode_context, chunk,
                                chunk_prefix, dtype, kv_dtype).seconds <= max_step_s

    low, high = 0, limit
    if decode_batch and not fits(0):
        return 0
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


# ---------------------------------------------------------------- a stream of requests


def kv_transfer_seconds(model, prompt_tokens: int, link, kv_dtype: str = "fp16") -> float:
    """Seconds to move one request's prompt KV cache from the prefill to the decode device."""
    model = models.as_model(model)
    return models.kv_cache_bytes(model, prompt_tokens, 1, kv_dtype) / check_bandwidth("link", link)


@dataclass(frozen=True)
class Request:
    """One request of a stream: when it arrives (s) and how many tokens in and out."""

    index: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int

    def __post_init__(self):
        """Check a hand-built request: counts are integers, the arrival a time >= 0 s."""
        object.__setattr__(self, "index", check_count("index", self.index, 0))
        object.__setattr__(self, "arrival_s", check_number("arrival_s", self.arrival_s, 0))
        for name in ("prompt_tokens", "output_tokens"):
            object.__setattr__(self, name, check_count(name, getattr(self, name), 1))


def request_stream(n_requests: int, arrival_rate_per_s: float, mean_prompt_tokens: int,
                   mean_output_tokens: int, seed: int = 0) -> tuple[Request, ...]:
    """Seeded Poisson arrivals; prompt and output lengths uniform in [mean/2, 3 mean/2].

    At most 10,000 requests, and each mean is at most MAX_MEAN_TOKENS (1,000,000)
    tokens: the simulations take about a microsecond per output token.
    """
    n_requests = check_count("n_requests", n_requests, 1, 10_000)
    rate = check_positive("arrival_rate_per_s", arrival_rate_per_s)
    mean_prompt_tokens = check_count("mean_prompt_tokens", mean_prompt_tokens, 1, MAX_MEAN_TOKENS)
    mean_output_tokens = check_count("mean_output_tokens", mean_output_tokens, 1, MAX_MEAN_TOKENS)
    seed = check_count("seed", seed, 0)
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n_requests))
    arrivals -= arrivals[0]  # the first request arrives at 0 s

    def lengths(mean: int) -> np.ndarray:
        """Integers uniform in [max(1, mean // 2), mean + mean // 2]."""
        return rng.integers(max(1, mean // 2), mean + mean // 2 + 1, n_requests)

    prompts, outputs = lengths(mean_prompt_tokens), lengths(mean_output_tokens)
    return tuple(Request(i, float(arrivals[i]), int(prompts[i]), int(outputs[i]))
                 for i in range(n_requests))


@dataclass(frozen=True)
class ServedRequest:
    """What happened to one request: when its prefill ran, its first and last token came (s)."""

    request: Request
    prefill_start_s: float
    prefill_end_s: float
    kv_transfer_s: float
    first_token_s: float
    finish_s: float
    longest_gap_s: float = 0.0  # the longest wait between two of its tokens (0: one token)

    @property
    def time_to_first_token_s(self) -> float:
        """Seconds from arrival to the first output token."""
        return self.first_token_s - self.request.arrival_s

    @property
    def time_per_output_token_s(self) -> float:
        """Mean seconds between later output tokens (0 for a one-token answer)."""
        later = self.request.output_tokens - 1
        return (self.finish_s - self.first_token_s) / later if later else 0.0


def _percentile(values, percentile: float) -> float:
    """The `percentile` (0-100) of `values`, interpolated linearly (numpy's default); 0 if none."""
    percentile = check_number("percentile", percentile, 0, 100)
    return float(np.percentile(values, percentile)) if values else 0.0


@dataclass(frozen=True)
class ServingRun:
    """A request stream served one way: every request's times and the peak memory needed."""

    mode: str  # "co-located" or "disaggregated"
    gpus: int
    served: tuple[ServedRequest, ...]
    weight_bytes: int
    peak_kv_bytes: int  # largest KV cache one device held at once
    capacity_bytes: float
    token_budget: int | None = None  # co-located: tokens per step (None: whole prompts first)

    @property
    def fits(self) -> bool:
        """True if weights + the peak KV cache fit in one device's memory."""
        return self.weight_bytes + self.peak_kv_bytes <= self.capacity_bytes

    @property
    def makespan_s(self) -> float:
        """Seconds from the first arrival to the last token."""
        return max(s.finish_s for s in self.served) - min(s.request.arrival_s for s in self.served)

    @property
    def tokens_per_s(self) -> float:
        """Output tokens of every request / makespan (0 if it all took no time)."""
        span = self.makespan_s
        return sum(s.request.output_tokens for s in self.served) / span if span > 0 else 0.0

    def time_to_first_token_s(self, percentile: float = 50) -> float:
        """Time to first token in s at `percentile` (0-100) over all requests (50: median)."""
        return _percentile([s.time_to_first_token_s for s in self.served], percentile)

    def time_per_output_token_s(self, percentile: float = 50) -> float:
        """Time per output token in s at `percentile` (0-100), one-token answers left out."""
        values = [s.time_per_output_token_s for s in self.served if s.request.output_tokens > 1]
        return _percentile(values, percentile)

    def longest_gap_s(self, percentile: float = 50) -> float:
        """Each request's longest wait between two tokens, at `percentile` (0-100) over requests.

        A decode step that waits behind a whole prefill shows here as a stall, where
        the mean time per output token averages it away.
        """
        values = [s.longest_gap_s for s in self.served if s.request.output_tokens > 1]
        return _percentile(values, percentile)

    def slo_attainment(self, time_to_first_token_s: float, time_per_output_token_s: float
                       ) -> float:
        """Share of requests (0-1) that met both targets: DistServe's measure of goodput."""
        ttft = check_positive("time_to_first_token_s", time_to_first_token_s)
        tpot = check_positive("time_per_output_token_s", time_per_output_token_s)
        met = sum(s.time_to_first_token_s <= ttft and s.time_per_output_token_s <= tpot
                  for s in self.served)
        return met / len(self.served)


class _Costs:
    """Step times of one model on one device, memoised for the simulation."""

    def __init__(self, model: models.Model, device: hardware.Hardware, dtype: str):
        self.model, self.device, self.dtype = model, device, dtype
        self.kernels = _StepKernels(model, device, dtype, None)
        self.prefill = {}

    def prefill_s(self, prompt_tokens: int) -> float:
        """models.prefill_time of one whole prompt in s (kernels summed)."""
        if prompt_tokens not in self.prefill:
            self.prefill[prompt_tokens] = models.prefill_time(
                self.model, self.device, prompt_tokens, 1, self.dtype).seconds
        return self.prefill[prompt_tokens]

    def step_s(self, batch: int, context_sum: int, chunks) -> float:
        """A step: `batch` decodes at their mean context (rounded up to a bucket) + prefill chunks.

        `chunks` is a sequence of (prefix, tokens), one per prompt being prefilled.
        """
        seconds = self.kernels.weights_s(batch + sum(tokens for _, tokens in chunks))
        if batch:
            bucket = CONTEXT_BUCKET_TOKENS
            context = -(-context_sum // (batch * bucket)) * bucket
            seconds += self.kernels.decode_attention_s(batch, context)
        return seconds + sum(self.kernels.chunk_attention_s(prefix, tokens)
                             for prefix, tokens in chunks)


def _check_requests(requests) -> tuple[Request, ...]:
    """A non-empty tuple of Requests with distinct indices, in arrival order."""
    requests = check_sequence("requests", requests, "serving.Request (see request_stream)")
    if not requests or not all(isinstance(r, Request) for r in requests):
        raise ValueError("requests must be a non-empty sequence of serving.Request "
                         "(see request_stream)")
    if len({r.index for r in requests}) != len(requests):
        raise ValueError("every request needs its own index")
    output_tokens = sum(r.output_tokens for r in requests)
    if output_tokens > MAX_SIMULATED_OUTPUT_TOKENS:  # one decode step per token: it would hang
        raise ValueError(f"the requests ask for {output_tokens:,} output tokens in all; at most "
                         f"{MAX_SIMULATED_OUTPUT_TOKENS:,} can be simulated (fewer or shorter)")
    return tuple(sorted(requests, key=lambda r: (r.arrival_s, r.index)))


def _serve(costs: _Costs, arrivals, prefill_here: bool, token_budget: int | None = None):
    """One device serving requests with continuous batching (a new batch every step).

    `arrivals` is a list of (ready_s, request, prefill_start_s, prefill_end_s, transfer_s).
    Co-located (`prefill_here`), a ready request's prompt is prefilled on this device:
    with `token_budget` None as a whole, in a step of its own that every decoding
    request waits for (prefill first); with a budget, in chunks that ride along with
    the decode steps: every decoding request takes one token of the budget, prompts
    waiting in arrival order share the rest (chunked prefill, stall-free). On the
    decode side of disaggregation a request joins the batch once its KV has arrived.
    Returns ({index: ServedRequest}, peak KV tokens held at once).
    """
    pending = sorted(arrivals, key=lambda a: (a[0], a[1].index))
    served, finishing = {}, []  # finishing: heap of (finish step, index)
    state = {}  # index -> (request, prefill start, prefill end, transfer, first token, step)
    step_ends = []  # when each decode step ended: step k at step_ends[k - 1]
    waiting = deque()  # co-located prompts not fully prefilled: [request, done tokens, start]
    now, step, active, context_sum, prefilled, peak_tokens, position = 0.0, 0, 0, 0, 0, 0, 0

    def admit(request, start, end, transfer, first_token):
        """Record the first token; put the request in the decode batch if it wants more."""
        nonlocal active, context_sum, peak_tokens
        if request.output_tokens == 1:
            served[request.index] = ServedRequest(request, start, end, transfer, first_token,
                                                  first_token)
            return
        state[request.index] = (request, start, end, transfer, first_token, step)
        heapq.heappush(finishing, (step + request.output_tokens - 1, request.index))
        active += 1
        context_sum += request.prompt_tokens
        peak_tokens = max(peak_tokens, context_sum + prefilled)

    while position < len(pending) or waiting or active:
        while position < len(pending) and pending[position][0] <= now:
            ready, request, start, end, transfer = pending[position]
            position += 1
            if prefill_here:
                waiting.append([request, 0, None])
            else:
                admit(request, start, end, transfer, ready)
        if not waiting and not active:
            if position == len(pending):
                break  # the last arrivals were one-token answers, done at once
            now = pending[position][0]  # idle until the next request is ready
            continue
        if waiting and token_budget is None:  # prefill first: a whole prompt, decodes wait
            request = waiting.popleft()[0]
            start, now = now, now + costs.prefill_s(request.prompt_tokens)
            admit(request, start, now, 0.0, now)
            continue
        chunks, room = [], (token_budget - active) if waiting else 0
        for entry in waiting:
            if room <= 0:
                break
            request, done, start = entry
            take = min(request.prompt_tokens - done, room)
            chunks.append((done, take))
            entry[1], entry[2], room = done + take, now if start is None else start, room - take
        now += costs.step_s(active, context_sum, chunks)
        prefilled += sum(tokens for _, tokens in chunks)
        if active:
            step += 1
            context_sum += active
            peak_tokens = max(peak_tokens, context_sum + prefilled)
            step_ends.append(now)
            while finishing and finishing[0][0] == step:
                _, index = heapq.heappop(finishing)
                request, start, end, transfer, first_token, joined = state.pop(index)
                tokens_s = [first_token, *step_ends[joined:step]]
                gap = max(later - earlier for earlier, later in zip(tokens_s, tokens_s[1:]))
                served[index] = ServedRequest(request, start, end, transfer, first_token, now,
                                              gap)
                active -= 1
                context_sum -= request.prompt_tokens + request.output_tokens - 1
        while waiting and waiting[0][1] == waiting[0][0].prompt_tokens:  # prompts now complete
            request, done, start = waiting.popleft()
            prefilled -= done
            admit(request, start, now, 0.0, now)
    return served, peak_tokens


def _run(mode: str, gpus: int, costs: _Costs, served: dict, peak_tokens: int,
         token_budget: int | None = None) -> ServingRun:
    """Package simulation results as a ServingRun, requests in index order."""
    per_token = models.kv_bytes_per_token(costs.model, costs.dtype)
    return ServingRun(mode, gpus, tuple(served[i] for i in sorted(served)),
                      models.weight_bytes(costs.model, costs.dtype),
                      peak_tokens * per_token, costs.device.capacity_bytes, token_budget)


def simulate_colocated(requests, model, device, replicas: int = 2, dtype: str = "fp16",
                       token_budget: int | None = DEFAULT_TOKEN_BUDGET) -> ServingRun:
    """Serve `requests` on `replicas` devices that each run prefill and decode (round robin).

    Each replica batches all its decoding requests into one step (continuous
    batching). With a `token_budget` (default 512 tokens per step, chunked prefill
    as Sarathi-Serve and vLLM run it) every step carries one token per decoding
    request and fills the rest of the budget with chunks of waiting prompts, so no
    decode step ever waits for a whole prompt; each chunk re-reads the weights and
    its prompt's earlier KV. With `token_budget=None` a newly arrived prompt is
    prefilled whole as soon as the step in flight ends, and every decoding request
    waits for it. Step times are the split step model's lower bounds
    (`hybrid_step_time`), decode attention at the batch's mean context rounded up to
    16 tokens.
    """
    requests = _check_requests(requests)
    replicas = check_count("replicas", replicas, 1, 1024)
    if token_budget is not None:
        token_budget = check_count("token_budget", token_budget, 1, MAX_MEAN_TOKENS)
    costs = _Costs(models.as_model(model), _check_device(device), dtype)
    models.dtype_bits(dtype)
    served, peak = {}, 0
    for replica in range(replicas):
        mine = [(r.arrival_s, r, 0.0, 0.0, 0.0) for k, r in enumerate(requests)
                if k % replicas == replica]
        if mine:
            done, tokens = _serve(costs, mine, prefill_here=True, token_budget=token_budget)
            served.update(done)
            peak = max(peak, tokens)
    return _run("co-located", replicas, costs, served, peak, token_budget)


def simulate_disaggregated(requests, model, device, link, dtype: str = "fp16",
                           prefill_devices: int = 1, decode_devices: int = 1) -> ServingRun:
    """Serve `requests` with prefill devices and decode devices joined by `link`.

    Prompts are prefilled first come first served, each on the prefill device that
    frees up first; each prompt's KV cache then crosses the link
    (`kv_transfer_seconds`; each transfer gets the whole link) and the request joins
    a decode device's batch (round robin). The first token is counted when the
    decode device holds the KV, so disaggregation adds exactly the transfer time to
    each request's time to first token (a server that sends the first token straight
    from the prefill device delays the second one instead). DistServe and Splitwise
    choose how many devices do each phase; the default is one of each.
    """
    requests = _check_requests(requests)
    prefill_devices = check_count("prefill_devices", prefill_devices, 1, 1024)
    decode_devices = check_count("decode_devices", decode_devices, 1, 1024)
    costs = _Costs(models.as_model(model), _check_device(device), dtype)
    models.dtype_bits(dtype)
    bandwidth = check_bandwidth("link", link)
    arrivals, prefill_free_s = [], [0.0] * prefill_devices  # a heap of when each is free
    for request in requests:
        start = max(heapq.heappop(prefill_free_s), request.arrival_s)
        end = start + costs.prefill_s(request.prompt_tokens)
        heapq.heappush(prefill_free_s, end)
        transfer = models.kv_cache_bytes(costs.model, request.prompt_tokens, 1, dtype) / bandwidth
        arrivals.append((end + transfer, request, start, end, transfer))
    arrivals.sort(key=lambda a: (a[0], a[1].index))
    served, peak = {}, 0
    for decoder in range(decode_devices):
        done, tokens = _serve(costs, arrivals[decoder::decode_devices], prefill_here=False)
        served.update(done)
        peak = max(peak, tokens)
    return _run("disaggregated", prefill_devices + decode_devices, costs, served, peak)


# ---------------------------------------------------------------- reusing a cached prefix


@dataclass(frozen=True)
class KvReuse:
    """A prompt prefix whose KV cache is kept off the device: reload it, or recompute it?"""

    prefix_tokens: int
    kv_bytes: int  # the prefix's KV cache: what a reload moves, once per request
    recompute_flops: int  # the prefix's prefill: what a recompute spends
    recompute_s: float  # that prefill on the device (models.prefill_time)
    reload_bandwidth_bytes_per_s: float  # the slowest link on the way to the device

    @property
    def reload_s(self) -> float:
        """Seconds to bring the prefix's KV back: KV bytes / the slowest link's bandwidth."""
        return self.kv_bytes / self.reload_bandwidth_bytes_per_s

    @property
    def speedup(self) -> float:
        """Recompute time / reload time: above 1, reloading wins."""
        return self.recompute_s / self.reload_s

    @property
    def break_even_bytes_per_s(self) -> float:
        """The link bandwidth at which reloading takes as long as recomputing (bytes/s)."""
        return self.kv_bytes / self.recompute_s

    @property
    def flops_per_kv_byte(self) -> float:
        """Recompute FLOPs saved per KV byte reloaded (FLOP/byte)."""
        return self.recompute_flops / self.kv_bytes

    @property
    def better(self) -> str:
        """'reload' if the transfer is quicker than the prefill, else 'recompute'."""
        return "reload" if self.reload_s < self.recompute_s else "recompute"


def kv_reuse(model, device, prefix_tokens: int, path, dtype: str = "fp16",
             kv_dtype: str | None = None) -> KvReuse:
    """Reload a cached prefix's KV over `path`, or recompute it with a prefill on `device`.

    `path` is one link, tier or bandwidth in bytes/s, or several (e.g. the SSD, then
    PCIe): the slowest sets the reload. A reload moves the prefix's KV once per
    request (not once per step, as `offload.kv_offload` does for a cache that lives
    off the device); a recompute runs the prefix's prefill (`models.prefill_time`).
    Reloading wins when bandwidth > KV bytes / prefill seconds (`break_even_bytes_per_s`).
    """
    model, device = models.as_model(model), _check_device(device)
    prefix_tokens = check_count("prefix_tokens", prefix_tokens, 1)
    links = (path,) if not isinstance(path, (list, tuple)) else check_sequence(
        "path", path, "links or bandwidths in bytes/s")
    if not links:
        raise ValueError("path must name at least one link or bandwidth")
    bandwidth = min(check_bandwidth("path bandwidth", link) for link in links)
    kv_dtype = dtype if kv_dtype is None else kv_dtype
    prefill = models.prefill_time(model, device, prefix_tokens, 1, dtype, kv_dtype)
    return KvReuse(prefix_tokens, models.kv_cache_bytes(model, prefix_tokens, 1, kv_dtype),
                   prefill.cost.flops, prefill.seconds, bandwidth)


# ---------------------------------------------------------------- what the papers measured


@dataclass(frozen=True)
class PublishedResult:
    """One measured result of a serving paper, with the claim as the paper states it."""

    name: str
    system: str
    paper: str
    year: int
    metric: str
    value_low: float | None  # the low end when the paper gives a range (2-4x), else None
    value: float  # the figure, or the high end of a range
    unit: str
    baseline: str
    setting: str
    claim: str
    source: str
    note: str


def published_results() -> list[PublishedResult]:
    """Every row of data/serving_results.csv: DistServe, Splitwise, Sarathi-Serve, vLLM, ..."""
    return [PublishedResult(name=row["name"], system=row["system"], paper=row["paper"],
                            year=int(row["year"]), metric=row["metric"],
                            value_low=float(row["value_low"]) if row["value_low"] else None,
                            value=float(row["value"]), unit=row["unit"],
                            baseline=row["baseline"], setting=row["setting"],
                            claim=row["claim"], source=row["source"], note=row["note"])
            for row in hardware.read_table("serving_results.csv")]


def published_result(name: str) -> PublishedResult:
    """The published result called `name` (e.g. 'distserve-requests')."""
    return hardware.lookup("published serving result", name,
                           {result.name: result for result in published_results()})

