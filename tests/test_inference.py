"""Tests of the tiny numpy transformer: sizes, KV cache, step costs and benchmarks."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memwall_lab import measure
from memwall_lab.inference import (
    MAX_SIZED_WEIGHT_BYTES,
    StepBenchmark,
    StepCost,
    TinyTransformer,
    TransformerConfig,
    benchmark_decode,
    benchmark_prefill,
    decode_cost,
    prefill_cost,
    rotary_tables,
    rotate,
)
from memwall_lab.timing import Samples

# 2 layers, d_model 8, 2 query heads sharing 1 KV head (MQA), head_dim 4
TINY = TransformerConfig(
    layers=2, d_model=8, heads=2, kv_heads=1, head_dim=4, ffn=12, vocab=16, max_context=8
)


def tiny(**changes) -> TransformerConfig:
    return dataclasses.replace(TINY, **changes)


def random_tokens(shape, vocab=16, seed=1):
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


# ---------------------------------------------------------------- sizes


def test_param_count_by_hand():
    embedding = 16 * 8
    per_layer = (
        8  # attention norm
        + 8 * 8  # query: d_model x heads*head_dim
        + 8 * 4  # key: d_model x kv_heads*head_dim
        + 8 * 4  # value
        + 8 * 8  # output
        + 8  # mlp norm
        + 3 * 8 * 12  # gate, up, down
    )
    final_norm, lm_head = 8, 8 * 16
    assert TINY.param_count == embedding + 2 * per_layer + final_norm + lm_head == 1256


@pytest.mark.parametrize("dtype, itemsize", [("fp16", 2), ("fp32", 4), ("fp64", 8)])
def test_weight_bytes_equal_the_arrays_nbytes(dtype, itemsize):
    config = tiny(dtype=dtype, kv_heads=2)
    model = TinyTransformer(config)
    arrays = list(model.weights.values())
    assert sum(array.nbytes for array in arrays) == config.weight_bytes
    assert config.weight_bytes == config.param_count * itemsize
    assert all(array.dtype.itemsize == itemsize for array in arrays)
    assert len(arrays) == 1 + 9 * config.layers + 2  # embedding, 9 per layer, norm, head


def test_head_dim_defaults_to_d_model_over_heads():
    config = TransformerConfig(
        layers=1, d_model=12, heads=3, kv_heads=3, ffn=8, vocab=4, max_context=4
    )
    assert config.head_dim == 4


def test_kv_bytes_per_token_and_cache_allocation():
    assert TINY.kv_bytes_per_token == 2 * 2 * 1 * 4 * 4  # K and V, layers, kv_heads, hd, fp32
    model = TinyTransformer(TINY)
    model.prefill(random_tokens((3, 2)))
    cache_nbytes = sum(a.nbytes for a in model.key_cache + model.value_cache)
    assert model.kv_cache_bytes == cache_nbytes == 3 * 8 * TINY.kv_bytes_per_token
    assert model.key_cache[0].shape == (3, 1, 8, 4)  # (batch, kv_heads, max_context, head_dim)


@pytest.mark.parametrize("target_bytes", [2e7, 1.2e8, 2e9])
def test_sized_for_lands_near_the_target(target_bytes):
    config = TransformerConfig.sized_for(target_bytes, group_size=2, dtype="fp16")
    assert 0.8 < config.weight_bytes / target_bytes < 1.25
    assert config.heads == 2 * config.kv_heads
    assert config.dtype == "fp16"


def test_sized_for_never_goes_below_the_smallest_shape():
    config = TransformerConfig.sized_for(1, layers=1, head_dim=8, vocab=4)
    assert config.d_model == 8


def llama_shaped_bytes(d_model, layers=4, head_dim=64, vocab=4096):
    """fp32 weight bytes of sized_for's shape at d_model (MHA, ffn ~ 8/3 d_model), by hand."""
    ffn = max(head_dim, round(8 * d_model / 3 / head_dim) * head_dim)
    per_layer = 4 * d_model * d_model + 3 * d_model * ffn + 2 * d_model
    return 4 * (layers * per_layer + 2 * vocab * d_model + d_model)


@pytest.mark.parametrize("target_bytes", [3e6, 5e7, 7.7e8, 1e13, MAX_SIZED_WEIGHT_BYTES])
def test_sized_for_picks_the_closest_d_model_even_for_huge_targets(target_bytes):
    config = TransformerConfig.sized_for(target_bytes)
    assert config.weight_bytes == llama_shaped_bytes(config.d_model)
    distance = abs(config.weight_bytes - target_bytes)
    assert abs(llama_shaped_bytes(config.d_model + 64) - target_bytes) > distance
    assert abs(llama_shaped_bytes(config.d_model - 64) - target_bytes) >= distance


@pytest.mark.parametrize("target_bytes", [True, 2 * MAX_SIZED_WEIGHT_BYTES, 1e30, "1e9"])
def test_sized_for_rejects_bools_and_targets_beyond_the_maximum(target_bytes):
    with pytest.raises(ValueError, match="at most 1e\\+15"):
        TransformerConfig.sized_for(target_bytes)


# ---------------------------------------------------------------- the memory budget


def fake_budget(monkeypatch, budget_bytes):
    monkeypatch.setattr(measure, "memory_budget_bytes", lambda: budget_bytes)


def test_weights_beyond_the_memory_budget_are_refused(monkeypatch):
    fake_budget(monkeypatch, 1256 * 4 - 1)  # one byte short of TINY's 1256 fp32 weights
    with pytest.raises(ValueError, match="building this model"):
        TinyTransformer(TINY)
    fake_budget(monkeypatch, 1256 * 4)
    assert TinyTransformer(TINY).config is TINY


def test_kv_cache_beyond_the_memory_budget_is_refused(monkeypatch):
    model = TinyTransformer(TINY)
    # K and V x 2 layers x 1 KV head x 8 positions x 4 dims x 4 bytes = 512 bytes a sequence
    fake_budget(monkeypatch, 3 * 512 - 1)
    with pytest.raises(ValueError, match="KV cache of 3 sequences"):
        model.prefill(random_tokens((3, 2)))
    assert model.kv_cache_bytes == 0
    with pytest.raises(ValueError, match="KV cache"):
        model.fill_cache_randomly(3, 4)
    model.prefill(random_tokens((2, 2)))
    assert model.kv_cache_bytes == 2 * 512


# ---------------------------------------------------------------- the forward pass


@settings(max_examples=15, deadline=None)
@given(
    kv_heads=st.sampled_from([1, 2, 4]),
    rope=st.booleans(),
    prompt_len=st.integers(1, 4),
    decoded=st.integers(1, 3),
    batch=st.integers(1, 2),
)
def test_decode_after_prefill_equals_prefill_of_the_longer_sequence(
    kv_heads, rope, prompt_len, decoded, batch
):
    config = tiny(heads=4, kv_heads=kv_heads, head_dim=2, rope=rope, dtype="fp64")
    model = TinyTransformer(config, seed=3)
    tokens = random_tokens((batch, prompt_len + decoded))
    model.prefill(tokens[:, :prompt_len])
    for position in range(prompt_len, prompt_len + decoded):
        incremental = model.decode_step(tokens[:, position])
    assert model.context_len == prompt_len + decoded
    whole = TinyTransformer(config, seed=3).prefill(tokens)
    np.testing.assert_allclose(incremental, whole, rtol=1e-9, atol=1e-12)


def plain_prefill_logits(model, tokens, position_code=lambda vectors: vectors):
    """Last position's logits, written the obvious way: 2 heads of dim 4, head by head, a
    causal mask over 5 tokens, `position_code` applied to each head's queries and keys."""
    x = model.embedding[tokens[0]]
    for layer in model.layers:
        h = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-5) * layer.attention_norm
        q, k, v = h @ layer.query, h @ layer.key, h @ layer.value
        heads = []
        for head in range(2):
            cols = slice(4 * head, 4 * head + 4)
            scores = position_code(q[:, cols]) @ position_code(k[:, cols]).T / 2.0  # sqrt(4)
            scores[np.triu_indices(5, 1)] = -np.inf
            weights = np.exp(scores - scores.max(axis=1, keepdims=True))
            heads.append(weights / weights.sum(axis=1, keepdims=True) @ v[:, cols])
        x = x + np.concatenate(heads, axis=1) @ layer.output
        h = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-5) * layer.mlp_norm
        gate = h @ layer.gate
        x = x + (gate / (1 + np.exp(-gate)) * (h @ layer.up)) @ layer.down
    last = x[-1] / np.sqrt(np.mean(x[-1] ** 2) + 1e-5) * model.final_norm
    return last @ model.lm_head


def test_prefill_matches_a_plain_loop_without_cache_tricks():
    """Reference: causal attention written the obvious way, head by head (MHA, no rope)."""
    config = tiny(kv_heads=2, rope=False, dtype="fp64")
    model = TinyTransformer(config)
    tokens = random_tokens((1, 5))
    expected = plain_prefill_logits(model, tokens)
    np.testing.assert_allclose(model.prefill(tokens)[0], expected, rtol=1e-10)


# ---------------------------------------------------------------- rotary embeddings
# Standard RoPE rotates each pair (x0, x1) by the angle position x theta_i:
#   x0' = x0 cos - x1 sin,  x1' = x0 sin + x1 cos,  theta_i = 10000^(-2i / head_dim).
# The code pairs dimension i with i + head_dim/2 (the "rotate half" layout of Llama in
# Hugging Face transformers / GPT-NeoX), not adjacent dimensions 2i, 2i+1.


def test_rotate_one_pair_at_position_1():
    # head_dim 2, position 1, theta_0 = 1: (1, 0) -> (cos 1, sin 1), (0, 1) -> (-sin 1, cos 1)
    cos, sin = np.array([[[0.5403023058681398]]]), np.array([[[0.8414709848078965]]])
    x = np.array([1.0, 0.0]).reshape(1, 1, 1, 2)  # (batch, tokens, heads, head_dim)
    np.testing.assert_allclose(rotate(x, cos, sin).ravel(), [0.5403023, 0.8414710], atol=1e-7)
    y = np.array([0.0, 1.0]).reshape(1, 1, 1, 2)
    np.testing.assert_allclose(rotate(y, cos, sin).ravel(), [-0.8414710, 0.5403023], atol=1e-7)


def test_rotate_pairs_dimension_i_with_i_plus_half():
    # head_dim 4: pairs (x0, x2) at angle a and (x1, x3) at angle b; a = 90 deg, b = 180 deg
    cos, sin = np.array([[[0.0, -1.0]]]), np.array([[[1.0, 0.0]]])
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4)
    # pair (1, 3) by 90 deg -> (1*0 - 3*1, 1*1 + 3*0) = (-3, 1); pair (2, 4) by 180 deg -> (-2, -4)
    np.testing.assert_allclose(rotate(x, cos, sin).ravel(), [-3.0, -2.0, 1.0, -4.0], atol=1e-15)


def test_rotary_tables_by_hand_for_head_dim_4():
    config = tiny(heads=2, kv_heads=2, head_dim=4, dtype="fp64")
    cos, sin = rotary_tables(config)
    assert cos.shape == sin.shape == (8, 2) and cos.dtype == np.float64  # (max_context, half)
    # theta_0 = 10000^(-0/4) = 1, theta_1 = 10000^(-2/4) = 0.01
    for position in range(8):
        np.testing.assert_allclose(cos[position], [np.cos(position * 1.0),
                                                   np.cos(position * 0.01)], rtol=1e-14)
        np.testing.assert_allclose(sin[position], [np.sin(position * 1.0),
                                                   np.sin(position * 0.01)], rtol=1e-14)
    np.testing.assert_allclose(cos[0], [1.0, 1.0])
    np.testing.assert_allclose(sin[0], [0.0, 0.0])
    np.testing.assert_allclose(sin[3], [0.1411200080598672, 0.0299955002024957], rtol=1e-12)
    np.testing.assert_allclose(cos[3], [-0.9899924966004454, 0.9995500337489875], rtol=1e-12)
    assert rotary_tables(tiny(dtype="fp32"))[0].dtype == np.float32  # the model dtype


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(0, 63), n=st.integers(0, 63), shift=st.integers(0, 64),
    seed=st.integers(0, 1000),
)
def test_rotated_dot_product_depends_only_on_the_position_difference(m, n, shift, seed):
    config = tiny(heads=1, kv_heads=1, head_dim=8, max_context=128, dtype="fp64")
    cos, sin = rotary_tables(config)
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, 1, 1, 1, 8))

    def dot(query_position, key_position):
        rotated_q = rotate(q, cos[query_position, None, :], sin[query_position, None, :])
        rotated_k = rotate(k, cos[key_position, None, :], sin[key_position, None, :])
        return float((rotated_q * rotated_k).sum())

    assert dot(m + shift, n + shift) == pytest.approx(dot(m, n), rel=1e-9, abs=1e-12)
    if m == n:  # a rotation keeps the dot product of vectors at the same position
        assert dot(m, n) == pytest.approx(float((q * k).sum()), rel=1e-9, abs=1e-12)


def test_prefill_with_rope_matches_a_plain_loop():
    """Reference with rotary embeddings written from the formula, position by position."""
    config = tiny(kv_heads=2, rope=True, dtype="fp64")  # MHA, head_dim 4: pairs (0, 2), (1, 3)
    model = TinyTransformer(config)
    tokens = random_tokens((1, 5))

    def rope(vectors):  # (positions, 4), rotated as in the comment above the rotary tests
        out = np.empty_like(vectors)
        for p, v in enumerate(vectors):
            for i, theta in enumerate([1.0, 0.01]):  # 10000^(-2i/4)
                angle = p * theta
                out[p, i] = v[i] * np.cos(angle) - v[i + 2] * np.sin(angle)
                out[p, i + 2] = v[i] * np.sin(angle) + v[i + 2] * np.cos(angle)
        return out

    expected = plain_prefill_logits(model, tokens, rope)
    np.testing.assert_allclose(model.prefill(tokens)[0], expected, rtol=1e-10)
    no_rope = TinyTransformer(dataclasses.replace(config, rope=False)).prefill(tokens)[0]
    assert not np.allclose(no_rope, expected, rtol=1e-6)  # the rotation matters here


def test_batch_rows_are_independent():
    tokens = random_tokens((2, 4))
    pair = TinyTransformer(TINY)
    single = TinyTransformer(TINY)
    np.testing.assert_allclose(pair.prefill(tokens)[0], single.prefill(tokens[:1])[0], rtol=1e-5)
    np.testing.assert_allclose(
        pair.decode_step(np.array([3, 7]))[0], single.decode_step(np.array([3]))[0], rtol=1e-5
    )


def test_outputs_have_the_config_dtype_and_shape():
    for dtype in ("fp16", "fp32", "fp64"):
        logits = TinyTransformer(tiny(dtype=dtype)).prefill(random_tokens((2, 3)))
        assert logits.shape == (2, 16)
        assert logits.dtype == np.dtype({"fp16": "f2", "fp32": "f4", "fp64": "f8"}[dtype])
        assert np.isfinite(logits).all()


def test_same_seed_same_weights_different_seed_different_weights():
    a, b, c = TinyTransformer(TINY, 5), TinyTransformer(TINY, 5), TinyTransformer(TINY, 6)
    np.testing.assert_array_equal(a.lm_head, b.lm_head)
    assert not np.array_equal(a.lm_head, c.lm_head)


def test_context_len_reset_and_rewind():
    model = TinyTransformer(TINY)
    model.prefill(random_tokens((1, 3)))
    model.decode_step(np.array([1]))
    assert model.context_len == 4
    model.rewind(2)
    assert model.context_len == 2
    model.reset()
    assert model.context_len == 0


def test_context_beyond_max_context_raises():
    model = TinyTransformer(TINY)
    with pytest.raises(ValueError, match="max_context"):
        model.prefill(random_tokens((1, 9)))
    model.prefill(random_tokens((1, 8)))
    with pytest.raises(ValueError, match="max_context"):
        model.decode_step(np.array([0]))


def test_fill_cache_randomly_sets_the_context():
    model = TinyTransformer(TINY)
    model.fill_cache_randomly(batch=2, context_len=5, seed=1)
    assert model.context_len == 5 and model.batch == 2
    assert np.abs(model.key_cache[0][:, :, :5]).max() > 0
    assert model.decode_step(np.array([1, 2])).shape == (2, 16)


# ---------------------------------------------------------------- costs


def test_prefill_cost_by_hand():
    cost = prefill_cost(TINY, batch=1, prompt_len=3)
    tokens = 3
    per_layer = (
        2 * tokens * 8 * 8  # query
        + 2 * 2 * tokens * 8 * 4  # key and value (1 KV head of 4)
        + 2 * tokens * 8 * 8  # output
        + 2 * (2 * 2 * 3 * 3 * 4)  # scores and weighted sum: 2 heads, 3 x 3, head_dim 4
        + 3 * 2 * tokens * 8 * 12  # gate, up, down
    )
    lm_head = 2 * 1 * 8 * 16  # last position only
    assert cost.flops == 2 * per_layer + lm_head == 6592
    assert cost.weight_bytes == (1256 - 16 * 8) * 4 + 3 * 8 * 4  # all but embedding + 3 rows
    assert cost.kv_write_bytes == cost.kv_read_bytes == 3 * 64
    assert cost.bytes_moved == cost.weight_bytes + 2 * 3 * 64
    assert cost.intensity_flops_per_byte == pytest.approx(6592 / cost.bytes_moved)


def test_decode_cost_by_hand():
    cost = decode_cost(TINY, batch=2, context_len=4)
    per_layer = (
        2 * 2 * 8 * 8  # query: 2 tokens
        + 2 * 2 * 2 * 8 * 4  # key and value
        + 2 * 2 * 8 * 8  # output
        + 2 * (2 * 2 * 2 * 1 * 5 * 4)  # batch 2, 2 heads, 1 query x 5 keys, head_dim 4
        + 3 * 2 * 2 * 8 * 12
    )
    assert cost.flops == 2 * per_layer + 2 * 2 * 8 * 16 == 4992
    assert cost.kv_read_bytes == 2 * 5 * 64  # 2 sequences, 4 cached + the new token
    assert cost.kv_write_bytes == 2 * 64


def test_decode_cost_at_an_empty_cache_by_hand():
    cost = decode_cost(TINY, batch=1, context_len=0)
    per_layer = (
        2 * 8 * 8  # query: 1 token
        + 2 * 2 * 8 * 4  # key and value
        + 2 * 8 * 8  # output
        + 2 * (2 * 2 * 1 * 1 * 4)  # 2 heads, 1 query x 1 key (itself), head_dim 4
        + 3 * 2 * 8 * 12
    )
    assert per_layer == 992
    assert cost.flops == 2 * per_layer + 2 * 8 * 16 == 2240
    assert cost.kv_read_bytes == cost.kv_write_bytes == 64  # the new token's own K and V
    assert cost.weight_bytes == (1256 - 16 * 8) * 4 + 8 * 4  # all but embedding + 1 row


def test_costs_take_a_model_as_well_as_a_config():
    model = TinyTransformer(TINY)
    assert decode_cost(model, batch=2, context_len=4) == decode_cost(TINY, 2, 4)
    assert decode_cost(model, batch=2, context_len=4).flops == 4992
    assert prefill_cost(model, batch=1, prompt_len=3).flops == 6592
    with pytest.raises(ValueError, match="TransformerConfig or TinyTransformer"):
        decode_cost("llama", batch=1, context_len=1)


def test_decode_bytes_grow_linearly_with_context():
    costs = [decode_cost(TINY, batch=3, context_len=n) for n in range(1, 8)]
    steps = np.diff([cost.bytes_moved for cost in costs])
    assert (steps == 3 * TINY.kv_bytes_per_token).all()
    assert len({cost.weight_bytes for cost in costs}) == 1


def test_batch_raises_decode_intensity():
    config = TransformerConfig.sized_for(4e6, layers=1, head_dim=16, vocab=64)
    one = decode_cost(config, batch=1, context_len=16)
    eight = decode_cost(config, batch=8, context_len=16)
    assert eight.intensity_flops_per_byte > 4 * one.intensity_flops_per_byte


# ---------------------------------------------------------------- benchmarks


def check_benchmark(result, expected_cost, tokens_per_step):
    assert isinstance(result, StepBenchmark) and isinstance(result.samples, Samples)
    assert result.cost == expected_cost and isinstance(result.cost, StepCost)
    best = min(result.samples.seconds)
    assert result.seconds_per_step == best > 0
    assert result.bytes_per_s == pytest.approx(expected_cost.bytes_moved / best)
    assert result.flops_per_s == pytest.approx(expected_cost.flops / best)
    assert result.tokens_per_s == pytest.approx(tokens_per_step / best)


@pytest.mark.filterwarnings("ignore::memwall_lab.timing.NoisyMachineWarning")
def test_benchmark_prefill_fields_are_consistent():
    result = benchmark_prefill(TINY, batch=2, prompt_len=5, repeats=3)
    assert len(result.samples.seconds) == 3
    check_benchmark(result, prefill_cost(TINY, 2, 5), tokens_per_step=10)


@pytest.mark.filterwarnings("ignore::memwall_lab.timing.NoisyMachineWarning")
def test_benchmark_decode_keeps_the_context_fixed():
    model = TinyTransformer(TINY)
    result = benchmark_decode(model, batch=2, context_len=6, repeats=4)
    check_benchmark(result, decode_cost(TINY, 2, 6), tokens_per_step=2)
    assert model.context_len == 7  # rewound to 6 before each step, one token added


@pytest.mark.filterwarnings("ignore::memwall_lab.timing.NoisyMachineWarning")
def test_benchmark_decode_from_an_empty_cache():
    model = TinyTransformer(TINY)
    result = benchmark_decode(model, batch=1, context_len=0, repeats=2)
    check_benchmark(result, decode_cost(TINY, 1, 0), tokens_per_step=1)
    assert result.cost.flops == 2240 and model.context_len == 1


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"heads": 3, "kv_heads": 2}, "multiple of kv_heads"),
        ({"layers": 0}, "layers"),
        ({"d_model": 8.0}, "d_model"),
        ({"vocab": -1}, "vocab"),
        ({"dtype": "bf16"}, "fp16"),
        ({"head_dim": 3}, "even head_dim"),
        ({"head_dim": None, "heads": 3, "kv_heads": 1}, "divisible by heads"),
        ({"rope": "yes"}, "rope"),
    ],
)
def test_bad_configs_raise(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


@pytest.mark.parametrize(
    "tokens, message",
    [
        (np.array([1, 2]), r"non-empty array of shape \(batch, prompt_len\), got shape \(2,\)"),
        (np.zeros((1, 0), dtype=int), r"non-empty array of shape \(batch, prompt_len\)"),
        (np.array([[1.0, 2.0]]), "tokens must be integers, got dtype float64"),
        (np.array([[1, 16]]), r"token ids must be in \[0, 16\), got 1\.\.16"),
        (np.array([[-1, 2]]), r"token ids must be in \[0, 16\), got -1\.\.2"),
    ],
)
def test_bad_prompts_raise(tokens, message):
    with pytest.raises(ValueError, match=message):
        TinyTransformer(TINY).prefill(tokens)


def test_bad_decode_inputs_raise():
    model = TinyTransformer(TINY)
    with pytest.raises(ValueError, match="shape"):
        model.decode_step(np.array([[1]]))
    model.prefill(random_tokens((2, 2)))
    with pytest.raises(ValueError, match="reset"):
        model.decode_step(np.array([1]))  # batch 1 into a batch-2 cache
    with pytest.raises(ValueError, match="context_len must be an integer between 0 and 2, got 5"):
        model.rewind(5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: prefill_cost(TINY, batch=0, prompt_len=2), "batch must be an integer >= 1, got 0"),
        (lambda: prefill_cost(TINY, batch=1, prompt_len=9),
         "prompt_len must be an integer between 1 and 8, got 9"),
        (lambda: decode_cost(TINY, batch=1.5, context_len=2),
         "batch must be an integer >= 1, got 1.5"),
        (lambda: decode_cost(TINY, batch=1, context_len=-1),
         "context_len must be an integer between 0 and 7, got -1"),
        (lambda: decode_cost(TINY, batch=1, context_len=8),  # no room for the new token
         "context_len must be an integer between 0 and 7, got 8"),
        (lambda: benchmark_decode("llama", repeats=1),
         "expected a TransformerConfig or TinyTransformer, got str"),
        (lambda: benchmark_prefill(TINY, prompt_len=2, repeats=0),
         "repeats must be an integer between 1 and 100000, got 0"),
        (lambda: TransformerConfig.sized_for(0),
         r"weight_bytes must be a number of bytes > 0 and at most 1e\+15, got 0"),
        (lambda: TransformerConfig.sized_for(1e6, dtype="int4"),
         "dtype must be one of 'fp16', 'fp32', 'fp64'"),
        (lambda: TinyTransformer(TINY, seed=-1), "seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_sized_for_takes_a_numpy_byte_count():
    assert TransformerConfig.sized_for(np.int64(10**6)) == TransformerConfig.sized_for(10**6)


@settings(max_examples=10, deadline=None)
@given(prompt_len=st.integers(1, 4), new=st.integers(1, 4), batch=st.integers(1, 2),
       rope=st.booleans())
def test_extend_after_prefill_equals_prefill_of_the_longer_sequence(prompt_len, new, batch,
                                                                     rope):
    # the speculative verifier's pass (lesson 06): several new tokens after a cached context
    config = tiny(heads=4, kv_heads=2, head_dim=2, rope=rope, dtype="fp64")
    tokens = random_tokens((batch, prompt_len + new))
    model = TinyTransformer(config, seed=3)
    model.prefill(tokens[:, :prompt_len])
    extended = model.extend(tokens[:, prompt_len:])
    assert model.context_len == prompt_len + new
    whole = TinyTransformer(config, seed=3).prefill(tokens)
    np.testing.assert_allclose(extended, whole, rtol=1e-9, atol=1e-12)


def test_extend_by_one_token_is_a_decode_step():
    config = tiny(dtype="fp64")
    tokens = random_tokens((2, 4))
    stepped, extended = TinyTransformer(config, seed=5), TinyTransformer(config, seed=5)
    stepped.prefill(tokens[:, :3])
    extended.prefill(tokens[:, :3])
    np.testing.assert_array_equal(stepped.decode_step(tokens[:, 3]),
                                  extended.extend(tokens[:, 3:]))
    with pytest.raises(ValueError, match="shape"):
        extended.extend(tokens[:, 0])  # one token per sequence must still be (batch, 1)
