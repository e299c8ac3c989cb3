"""Speculative decoding: tokens per pass of the big model, and when that pays (lesson 06).

Leviathan, Kalman & Matias (ICML 2023, arXiv 2211.17192): a small *draft* model
proposes k tokens one by one; the large *target* model checks all of them in one
forward pass, keeps the drafted tokens up to the first it rejects and adds one
of its own, so the output is exactly what the target alone would sample. If each
drafted token is accepted with probability alpha, one target pass yields

    expected tokens = (1 - alpha^(k+1)) / (1 - alpha)

and if a draft step costs c target steps, the time per token improves by

    speed-up = (1 - alpha^(k+1)) / ((1 - alpha) (k c + 1)).

Both assume that the target's pass over k + 1 tokens costs one decode step: true
while its weight matmuls are memory-bound. At batch B that pass multiplies every
weight by B (k + 1) rows, like a decode step of batch B (k + 1), so once that
batch reaches the ridge the "free" tokens cost compute time. ``verify_step`` and
``at_batch`` price it with lesson 03's split step model instead of assuming it.

Conventions: times in seconds, rates per second; alpha in [0, 1], k >= 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from memwall_lab import models
from memwall_lab.step import StepCost, StepTime
from memwall_lab.validate import check_count, check_number


def expected_tokens_per_pass(acceptance: float, draft_tokens: int) -> float:
    """(1 - alpha^(k+1)) / (1 - alpha): tokens one target pass yields (k + 1 when alpha = 1)."""
    alpha = check_number("acceptance", acceptance, 0.0, 1.0)
    k = check_count("draft_tokens", draft_tokens, 1, 1000)
    if alpha == 1.0:
        return float(k + 1)
    return (1 - alpha ** (k + 1)) / (1 - alpha)


def speedup(acceptance: float, draft_tokens: int, cost_ratio: float,
            verify_ratio: float = 1.0) -> float:
    """(1 - alpha^(k+1)) / ((1 - alpha) (k c + v)): time per token without / with drafting.

    ``cost_ratio`` c is a draft step's time over a target decode step's; ``verify_ratio``
    v is the target's pass over k + 1 tokens over one decode step: 1 in the paper's
    Theorem 3.8, more once that pass is no longer free (``at_batch``, or measured).
    """
    c = check_number("cost_ratio", cost_ratio, 0.0)
    v = check_number("verify_ratio", verify_ratio, 0.0)
    k = check_count("draft_tokens", draft_tokens, 1, 1000)
    if k * c + v == 0:
        raise ValueError("cost_ratio and verify_ratio cannot both be 0: a pass takes time")
    return expected_tokens_per_pass(acceptance, k) / (k * c + v)


def best_draft_tokens(acceptance: float, cost_ratio: float, max_draft_tokens: int = 16) -> int:
    """The k in 1..max_draft_tokens with the largest speed-up (the smallest such k on a tie)."""
    max_draft_tokens = check_count("max_draft_tokens", max_draft_tokens, 1, 1000)
    return max(range(1, max_draft_tokens + 1),
               key=lambda k: (speedup(acceptance, k, cost_ratio), -k))


# ---------------------------------------------------------------- on a device, at a batch


def verify_step(model, context_len: int, batch: int = 1, draft_tokens: int = 4,
                dtype: str = "fp16", kv_dtype: str | None = None) -> StepCost:
    """FLOPs and bytes of the target's pass over k + 1 new tokens for each of ``batch`` sequences.

    The weight matmuls are those of a decode step of batch x (k + 1) rows (the
    weights still read once); each sequence reads its cache once for all k + 1
    queries and writes k + 1 tokens of K and V; attention FLOPs are k + 1 times a
    decode step's (each query sees about the same context).
    """
    model = models.as_model(model)
    tokens = check_count("draft_tokens", draft_tokens, 1, 1000) + 1
    batch = check_count("batch", batch, 1)
    kv_dtype = dtype if kv_dtype is None else kv_dtype
    one = models.decode_step(model, context_len, batch, dtype, kv_dtype)
    wide = models.decode_step(model, context_len, batch * tokens, dtype, kv_dtype)
    return dataclasses.replace(
        one, tokens=batch * tokens,
        weight_flops=wide.weight_flops, weight_bytes=wide.weight_bytes,
        attention_flops=tokens * one.attention_flops,
        kv_write_bytes=tokens * one.kv_write_bytes,
        held_bytes=(models.weight_bytes(model, dtype)
                    + models.kv_cache_bytes(model, context_len + tokens, batch, kv_dtype)
                    + models.activation_bytes(model, batch * tokens, batch, dtype)))


@dataclass(frozen=True)
class SpeculativeStep:
    """One batch on one device with and without drafting: times, tokens per sequence, fit."""

    decode: StepTime  # one target decode step of the batch
    verify: StepTime  # the target's pass over k + 1 tokens per sequence
    acceptance: float
    draft_tokens: int
    cost_ratio: float  # a draft step's time / the target decode step's (at this batch)

    @property
    def verify_ratio(self) -> float:
        """The verify pass's time over one decode step's: 1 while the weights are memory-bound."""
        return self.verify.seconds / self.decode.seconds

    @property
    def seconds_per_round(self) -> float:
        """k draft steps + one verify pass, in s."""
        return self.draft_tokens * self.cost_ratio * self.decode.seconds + self.verify.seconds

    @property
    def tokens_per_s_per_sequence(self) -> float:
        """Expected tokens per round / seconds per round: one sequence's speed with drafting."""
        tokens = expected_tokens_per_pass(self.acceptance, self.draft_tokens)
        return tokens / self.seconds_per_round

    @property
    def speedup(self) -> float:
        """Time per token without drafting / with it (below 1: drafting slows the batch down)."""
        return speedup(self.acceptance, self.draft_tokens, self.cost_ratio, self.verify_ratio)

    @property
    def fits(self) -> bool | None:
        """True if the verify pass (the larger of the two) fits in the device's memory."""
        return self.verify.fits


def at_batch(model, device, context_len: int, batch: int, acceptance: float,
             draft_tokens: int = 4, cost_ratio: float = 0.05, dtype: str = "bf16",
             kv_dtype: str | None = None, compute_dtype: str | None = None) -> SpeculativeStep:
    """Speculative decoding of ``batch`` sequences on ``device``, priced by the split step model.

    The draft's k steps are taken as ``cost_ratio`` x the target's decode step at the
    same batch each (a draft model a few percent of the target's size).
    """
    acceptance = check_number("acceptance", acceptance, 0.0, 1.0)
    draft_tokens = check_count("draft_tokens", draft_tokens, 1, 1000)
    cost_ratio = check_number("cost_ratio", cost_ratio, 0.0)
    compute_dtype = dtype if compute_dtype is None else compute_dtype
    decode = models.step_time(models.decode_step(model, context_len, batch, dtype, kv_dtype),
                              device, compute_dtype)
    verify = models.step_time(verify_step(model, context_len, batch, draft_tokens, dtype,
                                          kv_dtype), device, compute_dtype)
    return SpeculativeStep(decode, verify, acceptance, draft_tokens, cost_ratio)
