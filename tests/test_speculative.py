"""Speculative decoding against hand arithmetic and a direct simulation of the acceptance rule."""

import math

import numpy as np
import pytest

from memwall_lab import hardware, models, speculative

H100 = hardware.get("h100-sxm")


def test_expected_tokens_by_hand():
    # alpha 0.8, k 4: (1 - 0.8^5) / 0.2 = (1 - 0.32768) / 0.2 = 3.3616
    assert speculative.expected_tokens_per_pass(0.8, 4) == pytest.approx(3.3616)
    assert speculative.expected_tokens_per_pass(0.5, 1) == pytest.approx(1.5)
    assert speculative.expected_tokens_per_pass(0.0, 7) == 1.0  # every draft rejected
    assert speculative.expected_tokens_per_pass(1.0, 4) == 5.0  # every draft accepted


def test_expected_tokens_is_the_sum_of_the_accepted_prefix_probabilities():
    # 1 + alpha + alpha^2 + ... + alpha^k: the target's own token, then each accepted draft
    for alpha in (0.3, 0.6, 0.9, 0.999999):
        for k in (1, 3, 8):
            series = sum(alpha**i for i in range(k + 1))
            assert speculative.expected_tokens_per_pass(alpha, k) == pytest.approx(series)


def test_expected_tokens_matches_a_simulation_of_the_acceptance_rule():
    rng = np.random.default_rng(0)
    alpha, k, rounds = 0.7, 4, 200_000
    accepted = rng.random((rounds, k)) < alpha
    prefix = np.where(accepted.all(axis=1), k, accepted.argmin(axis=1))  # first rejection
    tokens = prefix + 1  # plus the target's own token
    assert tokens.mean() == pytest.approx(speculative.expected_tokens_per_pass(alpha, k),
                                          rel=0.01)


def test_speedup_by_hand():
    # Leviathan et al. Theorem 3.8: 3.3616 / (4 x 0.1 + 1) = 2.4011
    assert speculative.speedup(0.8, 4, 0.1) == pytest.approx(3.3616 / 1.4)
    assert speculative.speedup(0.8, 4, 0.0) == pytest.approx(3.3616)  # a free draft
    assert speculative.speedup(0.8, 4, 0.1, verify_ratio=2.0) == pytest.approx(3.3616 / 2.4)
    assert speculative.speedup(0.0, 3, 0.2) == pytest.approx(1 / 1.6)  # drafting only costs


def test_best_draft_tokens_by_hand():
    # alpha 0.5, c 0.5: k=1 1.5 / 1.5 = 1.0; k=2 1.75 / 2 = 0.875: drafting one token is best
    assert speculative.best_draft_tokens(0.5, 0.5) == 1
    ks = range(1, 17)
    best = max(ks, key=lambda k: speculative.speedup(0.9, k, 0.02))
    assert speculative.best_draft_tokens(0.9, 0.02) == best


def test_verify_step_reads_the_weights_once_and_each_cache_once():
    one = models.decode_step("llama-3-8b", 1024, batch=2)
    verify = speculative.verify_step("llama-3-8b", 1024, batch=2, draft_tokens=4)
    assert verify.tokens == 10
    assert verify.weight_bytes == one.weight_bytes  # dense: every weight read once
    assert verify.weight_flops == 5 * one.weight_flops  # 5 rows per sequence
    assert verify.kv_read_bytes == one.kv_read_bytes
    assert verify.kv_write_bytes == 5 * one.kv_write_bytes
    assert verify.attention_flops == 5 * one.attention_flops
    assert verify.held_bytes > one.held_bytes


def test_at_batch_one_the_pass_is_free_and_the_paper_formula_holds():
    step = speculative.at_batch("llama-3-8b", H100, 512, 1, acceptance=0.8, draft_tokens=4,
                                cost_ratio=0.05)
    assert step.verify_ratio == pytest.approx(1.0, abs=0.001)  # memory-bound: same bytes
    assert step.speedup == pytest.approx(speculative.speedup(0.8, 4, 0.05), rel=0.001)
    assert step.fits is True


def test_past_the_ridge_the_pass_costs_compute_and_the_gain_shrinks():
    # the verify pass at batch B has B x 5 rows: compute-bound once that passes the critical batch
    critical = models.critical_batch("llama-3-8b", H100, dtype="bf16")
    below = speculative.at_batch("llama-3-8b", H100, 512, critical // 5 - 2, 0.8)
    above = speculative.at_batch("llama-3-8b", H100, 512, 4 * critical, 0.8)
    assert below.verify.weights_bound == "memory" and above.verify.weights_bound == "compute"
    assert below.speedup > 2.5 > 1.3 > above.speedup
    # compute-bound weights: the pass's weight time is 5 decode steps' weight time
    assert above.verify.seconds_weights == pytest.approx(5 * above.decode.seconds_weights,
                                                         rel=0.01)


def test_speedup_per_sequence_by_hand():
    step = speculative.at_batch("llama-3-8b", H100, 512, 8, 0.8, draft_tokens=4, cost_ratio=0.05)
    seconds = 4 * 0.05 * step.decode.seconds + step.verify.seconds
    assert step.seconds_per_round == pytest.approx(seconds)
    assert step.tokens_per_s_per_sequence == pytest.approx(3.3616 / seconds)
    assert step.speedup == pytest.approx(step.tokens_per_s_per_sequence * step.decode.seconds)


@pytest.mark.parametrize("call, message", [
    (lambda: speculative.expected_tokens_per_pass(1.5, 4), "acceptance must be a finite number"),
    (lambda: speculative.expected_tokens_per_pass(0.5, 0), "draft_tokens must be an integer"),
    (lambda: speculative.speedup(0.5, 2, -0.1), "cost_ratio must be a finite number"),
    (lambda: speculative.speedup(0.5, 2, 0.0, 0.0), "cannot both be 0"),
    (lambda: speculative.at_batch("llama-3-8b", H100, 512, 0, 0.8), "batch must be an integer"),
    (lambda: speculative.expected_tokens_per_pass(math.nan, 2), "acceptance must be a finite"),
])
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
