"""models.py against hand arithmetic from the configs and against published counts."""

import dataclasses
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memwall_lab.hardware as hardware
import memwall_lab.models as models
import memwall_lab.training as training

# KV bytes per token in fp16, written out from each config: 2 (K and V) x layers x kv_heads
# x head_dim x 2 bytes; MLA: layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes.
KV_BYTES_PER_TOKEN_FP16 = {
    "gpt2": 2 * 12 * 12 * 64 * 2,  # 36864
    "gpt2-xl": 2 * 48 * 25 * 64 * 2,
    "gpt-3-175b": 2 * 96 * 96 * 128 * 2,
    "llama-2-7b": 2 * 32 * 32 * 128 * 2,  # 524288
    "llama-2-13b": 2 * 40 * 40 * 128 * 2,
    "llama-2-70b": 2 * 80 * 8 * 128 * 2,
    "llama-3-8b": 2 * 32 * 8 * 128 * 2,
    "llama-3-70b": 2 * 80 * 8 * 128 * 2,
    "llama-3.1-405b": 2 * 126 * 8 * 128 * 2,
    "mistral-7b": 2 * 32 * 8 * 128 * 2,
    "mixtral-8x7b": 2 * 32 * 8 * 128 * 2,
    "qwen2.5-7b": 2 * 28 * 4 * 128 * 2,
    "qwen2.5-72b": 2 * 80 * 8 * 128 * 2,
    "gemma-2-9b": 2 * 42 * 8 * 256 * 2,
    "phi-3-mini": 2 * 32 * 32 * 96 * 2,
    "deepseek-v3": 61 * (512 + 64) * 2,  # 70272
}

H100 = hardware.get("h100-sxm")


def tiny(**changes):
    """A small custom model for property tests."""
    shape = dict(name="tiny", d_model=256, n_layers=4, n_heads=8, n_kv_heads=8,
                 vocab_size=1000, ffn_hidden=1024)
    shape.update(changes)
    return models.Model(**shape)


# ---------------------------------------------------------------- lookup


def test_every_required_model_is_present():
    required = {"llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b",
                "llama-3.1-405b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-72b",
                "gemma-2-9b", "phi-3-mini", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl",
                "gpt-3-175b", "deepseek-v3"}
    assert required <= set(models.names())


def test_get_is_case_insensitive():
    assert models.get("Llama-2-7B") is models.get("llama-2-7b")
    assert models.get(" DEEPSEEK-V3 ").name == "deepseek-v3"


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match="llama-2-7b"):
        models.get("llama-2-7")
    with pytest.raises(ValueError, match="model name must be a string, got 7"):
        models.get(7)


# ---------------------------------------------------------------- parameter counts


# The published columns of models.csv come from model cards and papers; param_count comes
# from the config columns, so comparing them checks the architecture arithmetic. Each row
# says how its figure relates to an exact count: "rounded" (to the unit of its last digit,
# published_last_digit), "truncated" (Qwen's model cards), or "nominal" (a headline size,
# such as GPT-3's 175B for a 174.6B architecture, allowed one unit of its last digit).
PUBLISHED = {row["name"]: row for row in hardware.read_table("models.csv")}


def agrees_with_published(count, published, last_digit, rounding):
    """True if an exact ``count`` is what the published figure states, as the row says."""
    difference = count - published
    if rounding == "rounded":
        return abs(difference) <= last_digit / 2
    if rounding == "truncated":
        return 0 <= difference < last_digit
    assert rounding == "nominal", rounding
    return abs(difference) < last_digit


def test_published_rounding_rule_by_hand():
    assert agrees_with_published(6_738_415_616, 6_740_000_000, 1e7, "rounded")
    assert not agrees_with_published(6_738_415_616, 6_750_000_000, 1e7, "rounded")
    assert agrees_with_published(7_615_616_512, 7_610_000_000, 1e7, "truncated")
    assert not agrees_with_published(7_615_616_512, 7_610_000_000, 1e7, "rounded")
    assert agrees_with_published(174_604_259_328, 175_000_000_000, 1e9, "nominal")
    assert not agrees_with_published(174_604_259_328, 175_000_000_000, 1e8, "nominal")


@pytest.mark.parametrize("name", sorted(models.published_params()))
def test_param_count_agrees_with_the_published_figure(name):
    published_total, published_active = models.published_params()[name]
    row = PUBLISHED[name]
    last_digit, rounding = float(row["published_last_digit"]), row["published_rounding"]
    count = models.param_count(models.get(name))
    assert isinstance(count, int)
    assert agrees_with_published(count, published_total, last_digit, rounding), (
        f"{name}: counted {count:,}, published {published_total:,} ({rounding} to {last_digit:g})")
    if published_active is not None:
        active = models.active_param_count(models.get(name))
        assert agrees_with_published(active, published_active, last_digit, rounding), (
            f"{name}: counted {active:,} active, published {published_active:,} "
            f"({rounding} to {last_digit:g})")


def test_every_published_figure_says_how_it_was_rounded():
    for name, row in PUBLISHED.items():
        assert row["published_rounding"] in ("rounded", "truncated", "nominal"), name
        digit = float(row["published_last_digit"])
        assert digit >= 1 and math.log10(digit).is_integer(), name  # a power of ten
        assert int(row["published_params"]) % digit == 0, name  # the figure ends at that digit


def test_nominal_figures_say_so_in_their_note():
    nominal = {name for name, row in PUBLISHED.items() if row["published_rounding"] == "nominal"}
    assert nominal == {"gpt-3-175b", "deepseek-v3"}
    for name in nominal:
        assert "nominal" in PUBLISHED[name]["note"] or "headline" in PUBLISHED[name]["note"]
    # GPT-3: 175B in the paper, 174.6B as modelled; nominal, one unit of 1B allowed
    assert models.param_count(models.get("gpt-3-175b")) == 174_604_259_328


def test_published_params_cover_every_model():
    assert set(models.published_params()) == set(models.names())
    assert models.published_params()["llama-2-7b"] == (6_740_000_000, None)
    assert models.published_params()["mixtral-8x7b"] == (46_700_000_000, 12_900_000_000)


def test_gpt2_param_count_by_hand():
    d, layers, vocab, positions = 768, 12, 50257, 1024
    per_layer = 12 * d * d + 13 * d  # 4d^2+4d attention, 8d^2+5d MLP, two LayerNorms 4d
    expected = layers * per_layer + vocab * d + positions * d + 2 * d
    assert models.param_count(models.get("gpt2")) == expected == 124_439_808


def test_llama_2_7b_param_count_by_hand():
    d, layers, vocab, ffn = 4096, 32, 32000, 11008
    per_layer = 4 * d * d + 3 * d * ffn + 2 * d
    expected = layers * per_layer + 2 * vocab * d + d
    assert models.param_count(models.get("llama-2-7b")) == expected == 6_738_415_616


def test_moe_active_params():
    mixtral = models.get("mixtral-8x7b")
    assert models.active_param_count(mixtral) == pytest.approx(12.9e9, rel=0.01)
    # DeepSeek-V3's "37B activated" is rounded to 2 figures; we count 37.55B with both
    # embedding tables (36.6B without the input one), so allow the rounding: 2 %.
    assert models.active_param_count(models.get("deepseek-v3")) == pytest.approx(37e9, rel=0.02)
    dense = models.get("llama-3-8b")
    assert models.active_param_count(dense) == models.param_count(dense)


def test_weight_bytes_per_dtype():
    model = models.get("llama-2-7b")
    n = 6_738_415_616
    assert models.weight_bytes(model) == 2 * n
    assert models.weight_bytes(model, "fp32") == 4 * n
    assert models.weight_bytes(model, "int8") == n
    assert models.weight_bytes(model, "int4") == n // 2


def test_int4_rounds_an_odd_count_up():
    assert models.bytes_for(3, "int4") == 2
    assert models.bytes_for(4, "int4") == 2
    odd = tiny(vocab_size=1001, d_model=255, n_heads=5, n_kv_heads=5)
    assert models.param_count(odd) % 2 == 1
    assert models.weight_bytes(odd, "int4") == (models.param_count(odd) + 1) // 2


# ---------------------------------------------------------------- KV cache


@pytest.mark.parametrize("name", sorted(KV_BYTES_PER_TOKEN_FP16))
def test_kv_bytes_per_token(name):
    model = models.get(name)
    assert models.kv_bytes_per_token(model, "fp16") == KV_BYTES_PER_TOKEN_FP16[name]
    if model.sliding_layers == 0:
        assert models.kv_cache_bytes(model, 1000) == 1000 * KV_BYTES_PER_TOKEN_FP16[name]


def test_llama_3_70b_at_128k_is_exact():
    assert models.kv_cache_bytes(models.get("llama-3-70b"), 131072) == 42_949_672_960


def test_command_line_prints_exact_integer():
    code = ("import memwall_lab.models as m; "
            "print(m.kv_cache_bytes(m.get('llama-3-70b'), 131072))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "42949672960"


def test_attention_kinds():
    assert models.get("llama-2-7b").attention_kind == "mha"
    assert models.get("llama-3-8b").attention_kind == "gqa"
    assert models.get("deepseek-v3").attention_kind == "mla"
    assert tiny(n_kv_heads=1).attention_kind == "mqa"


def test_sliding_windows_cap_the_cache():
    mistral = models.get("mistral-7b")  # every layer: 4096-token rolling buffer
    per_token_layer = 2 * 8 * 128 * 2
    assert models.kv_cache_bytes(mistral, 32768) == 32 * 4096 * per_token_layer
    assert models.kv_cache_bytes(mistral, 100) == 32 * 100 * per_token_layer
    gemma = models.get("gemma-2-9b")  # 21 global layers, 21 local with a 4096 window
    per_token_layer = 2 * 8 * 256 * 2
    assert models.kv_cache_bytes(gemma, 8192) == (21 * 8192 + 21 * 4096) * per_token_layer
    phi = models.get("phi-3-mini")  # every layer: 2047 keys counting the query's own token
    per_token_layer = 2 * 32 * 96 * 2  # 12,288 bytes: 32 K and V heads of 96 values
    assert models.kv_cache_bytes(phi, 4096) == 32 * 2047 * per_token_layer == 804_913_152
    assert models.kv_cache_bytes(phi, 2047) == models.kv_cache_bytes(phi, 4096)
    assert models.kv_cache_bytes(phi, 1024) == 32 * 1024 * per_token_layer == 402_653_184


def test_int4_kv_is_a_quarter_of_fp16():
    model = models.get("llama-2-7b")
    assert models.kv_cache_bytes(model, 4096, 2, "int4") * 4 == models.kv_cache_bytes(
        model, 4096, 2, "fp16"
    )


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(KV_BYTES_PER_TOKEN_FP16)),
       context=st.integers(1, 300_000), batch=st.integers(1, 512))
def test_kv_linear_in_batch(name, context, batch):
    model = models.get(name)
    one = models.kv_cache_bytes(model, context, 1)
    assert models.kv_cache_bytes(model, context, batch) == batch * one


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(KV_BYTES_PER_TOKEN_FP16)),
       context=st.integers(1, 100_000), k=st.integers(2, 8))
def test_kv_linear_in_context_without_windows(name, context, k):
    model = models.get(name)
    if model.sliding_layers:
        assert models.kv_cache_bytes(model, k * context) <= k * models.kv_cache_bytes(
            model, context)
    else:
        assert models.kv_cache_bytes(model, k * context) == k * models.kv_cache_bytes(
            model, context)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(KV_BYTES_PER_TOKEN_FP16)),
       context=st.integers(1, 100_000), batch=st.integers(1, 64))
def test_kv_proportional_to_dtype_size(name, context, batch):
    model = models.get(name)
    fp16 = models.kv_cache_bytes(model, context, batch, "fp16")
    assert models.kv_cache_bytes(model, context, batch, "bf16") == fp16
    assert models.kv_cache_bytes(model, context, batch, "fp32") == 2 * fp16
    assert 2 * models.kv_cache_bytes(model, context, batch, "fp8") == fp16
    assert 2 * models.kv_cache_bytes(model, context, batch, "int8") == fp16
    assert 4 * models.kv_cache_bytes(model, context, batch, "int4") == fp16


@settings(max_examples=30, deadline=None)
@given(groups=st.sampled_from([1, 2, 4, 8]), kv_heads=st.sampled_from([1, 2, 4]),
       context=st.integers(1, 10_000))
def test_gqa_never_exceeds_mha_of_the_same_shape(groups, kv_heads, context):
    heads = groups * kv_heads
    mha = tiny(d_model=64 * heads, n_heads=heads, n_kv_heads=heads)
    gqa = tiny(d_model=64 * heads, n_heads=heads, n_kv_heads=kv_heads)
    assert models.kv_cache_bytes(gqa, context) * groups == models.kv_cache_bytes(mha, context)
    assert models.kv_cache_bytes(gqa, context) <= models.kv_cache_bytes(mha, context)


# ---------------------------------------------------------------- steps


def test_decode_step_by_hand():
    model = models.get("llama-2-7b")
    cost = models.decode_step(model, context_len=1000, batch=1)
    matmul_params = 6_738_415_616 - 32000 * 4096  # input embedding is a lookup
    attention = 2 * 32 * (128 + 128) * 32 * 1001  # heads x (score+value dims) x layers x keys
    assert cost.flops == 2 * matmul_params + attention
    assert cost.weight_bytes == 2 * 6_738_415_616
    assert cost.kv_read_bytes == 1000 * 524_288
    assert cost.kv_write_bytes == 524_288
    assert cost.bytes_moved == 2 * 6_738_415_616 + 1001 * 524_288
    assert cost.intensity_flops_per_byte == pytest.approx(cost.flops / cost.bytes_moved)


def test_prefill_by_hand():
    model, prompt = models.get("gpt2"), 512
    cost = models.prefill(model, prompt, batch=2)
    matmul_params = 124_439_808 - 1024 * 768  # tied: the embedding is also the LM head
    attention = 2 * 12 * (64 + 64) * 12 * prompt * (prompt + 1) // 2
    assert cost.flops == 2 * (2 * matmul_params * prompt + attention)
    assert cost.kv_read_bytes == 0
    assert cost.kv_write_bytes == 2 * prompt * 36864
    assert cost.tokens == 2 * prompt


def test_moe_batch_touches_more_experts():
    mixtral = models.get("mixtral-8x7b")
    one = models.decode_step(mixtral, 100, batch=1)
    four = models.decode_step(mixtral, 100, batch=4)
    expert_bytes = 2 * 3 * 4096 * 14336
    # uniform routing: an expert escapes one token's top-2 of 8 with chance 6/8, all four
    # tokens' with (3/4)^4 = 81/256, so 8 x 175/256 = 5.46875 experts are touched, not
    # min(8, 4 x 2) = 8: 3.46875 more than batch 1's 2, x 32 layers = 111 experts
    assert four.weight_bytes - one.weight_bytes == 111 * expert_bytes
    assert four.weight_bytes < models.weight_bytes(mixtral)


def _enumerated_experts_touched(n_experts, top_k, tokens):
    """Mean distinct experts over every way ``tokens`` tokens can each pick top_k of them."""
    choices = list(itertools.combinations(range(n_experts), top_k))
    unions = [len(set().union(*picks)) for picks in itertools.product(choices, repeat=tokens)]
    return sum(unions) / len(unions)


@pytest.mark.parametrize("n_experts, top_k, tokens",
                         [(4, 2, 1), (4, 2, 2), (4, 1, 3), (5, 2, 3), (6, 3, 2), (3, 3, 2)])
def test_expected_experts_touched_against_enumeration(n_experts, top_k, tokens):
    assert models.expected_experts_touched(n_experts, top_k, tokens) == pytest.approx(
        _enumerated_experts_touched(n_experts, top_k, tokens), rel=1e-12)


def test_expected_experts_touched_by_hand():
    assert models.expected_experts_touched(8, 2, 1) == pytest.approx(2, rel=1e-15)
    assert models.expected_experts_touched(8, 2, 2) == pytest.approx(3.5)  # 8 (1 - 9/16)
    assert models.expected_experts_touched(256, 8, 32) == pytest.approx(
        256 * (1 - (31 / 32) ** 32))  # 163.3 of 256, where min(E, B k) says all 256
    assert models.expected_experts_touched(256, 256, 1) == 256
    with pytest.raises(ValueError, match="experts_per_token"):
        models.expected_experts_touched(8, 9, 1)


def test_decode_time_on_h100_by_hand():
    # Llama-3-70B (models.csv): d 8192, 80 layers, 64 heads, 8 KV heads, head_dim 128,
    # ffn 28672, vocab 128256, untied. Per layer: Q, O 8192^2 each, K, V 8192 x 1024 each,
    # MLP 3 x 8192 x 28672, two norms of 8192 = 855,654,400; x 80 = 68,452,352,000;
    # + embedding and LM head 2 x 128256 x 8192 + final norm 8192 = 70,553,706,496.
    params = 80 * (2 * 8192**2 + 2 * 8192 * 1024 + 3 * 8192 * 28672 + 2 * 8192) + (
        2 * 128256 * 8192 + 8192)
    assert params == 70_553_706_496
    # FLOPs: 2 per weight multiplied (the input embedding is a lookup) + attention:
    # 2 x 64 heads x (128 score + 128 value dims) x 80 layers x 4097 keys (4096 + itself).
    flops = 2 * (params - 128256 * 8192) + 2 * 64 * (128 + 128) * 80 * 4097
    assert flops == 149_746_106_368
    # bytes: fp16 weights + 4096 cached tokens read + 1 written, 327,680 B of KV per token
    # (2 x 80 x 8 x 128 x 2 B) = 141,107,412,992 + 1,342,504,960 = 142,449,917,952
    bytes_moved = 2 * params + 4097 * (2 * 80 * 8 * 128 * 2)
    assert bytes_moved == 142_449_917_952
    model = models.get("llama-3-70b")
    timing = models.decode_time(model, H100, context_len=4096, batch=1)
    assert timing.cost.flops == flops
    assert timing.cost.bytes_moved == bytes_moved
    # H100 SXM: 3.35e12 B/s, 989e12 fp16 FLOP/s. Both kernels are memory-bound at batch 1:
    # weights 141.1 GB / 3.35e12 = 42.1 ms, attention 1.34 GB / 3.35e12 = 0.40 ms; summed.
    assert timing.seconds_weights == pytest.approx(2 * params / 3.35e12)
    assert timing.seconds_attention == pytest.approx(4097 * 327_680 / 3.35e12)
    assert timing.seconds == pytest.approx(142_449_917_952 / 3.35e12)  # 0.0425224 s
    assert timing.tokens_per_s == pytest.approx(23.517037, rel=1e-6)  # 3.35e12 / 142.45e9
    assert timing.bound == "memory"
    assert not timing.fits and timing.devices_needed == 2  # 141.1 GB of weights on 80 GB


def test_compute_dtype_fallback():
    a100 = hardware.get("a100-80gb")  # no fp8 units: fp8 weights compute at the bf16 rate
    assert models.peak_flops_for(a100, "fp8") == 312e12
    assert models.peak_flops_for(a100, "int4") == 312e12
    assert models.peak_flops_for(H100, "fp8") == 1979e12


def test_fp32_never_falls_back_to_a_narrower_peak():
    b200 = hardware.get("b200")  # accelerators.csv: no fp32 column; bf16 = fp16 = 2250 TFLOP/s
    with pytest.raises(ValueError, match="has: bf16, fp16, fp8, int8"):
        models.peak_flops_for(b200, "fp32")
    with pytest.raises(ValueError, match="fp32"):
        models.prefill_time(models.get("llama-3-8b"), b200, 1000, dtype="fp32")
    with pytest.raises(ValueError, match="fp32"):
        models.peak_flops_for(hardware.get("tpu-v5e"), "fp32")
    assert models.peak_flops_for(b200, "int4") == 2250e12  # narrower data: the 16-bit rate
    assert models.peak_flops_for(hardware.get("tpu-v5e"), "fp16") == 197e12  # bf16, as wide
    assert models.peak_flops_for(hardware.get("a100-80gb"), "fp32") == 19.5e12
    assert models.peak_flops_for(hardware.get("v100"), "bf16") == 125e12  # fp16 units


def test_mla_prefill_attends_up_projected_and_decode_over_the_latent():
    # DeepSeek-V3 config.json: 128 heads, 61 layers, kv_lora_rank 512, qk_rope 64,
    # qk_nope 128, v_head_dim 128.
    deepseek = models.get("deepseek-v3")
    latent_per_key = 2 * 128 * ((512 + 64) + 512)  # score + value FLOPs per key per layer
    up_projected_per_key = 2 * 128 * ((128 + 64) + 128)
    decode = models.decode_step(deepseek, context_len=1)  # two keys: the cached one and itself
    weight_flops = decode.flops - latent_per_key * 61 * 2
    prompt = 1000
    prefill = models.prefill(deepseek, prompt)
    assert prefill.flops - prompt * weight_flops == up_projected_per_key * 61 * 1000 * 1001 // 2
    llama = models.get("llama-2-7b")  # no MLA: both phases use head_dim 128
    per_key = 2 * 32 * (128 + 128)
    llama_weight_flops = models.decode_step(llama, 1).flops - per_key * 32 * 2
    assert models.prefill(llama, 10).flops - 10 * llama_weight_flops == per_key * 32 * 55


def test_sliding_window_flops_by_hand():
    # tiny(): 4 layers, 8 heads of head_dim 32 (256 / 8): attention costs
    # 2 x 8 heads x (32 score + 32 value dims) = 1024 FLOPs per (query, key) pair per layer.
    per_key_layer = 2 * 8 * (32 + 32)
    full = tiny()
    windowed = tiny(sliding_window=4, sliding_layers=4)  # every layer sees the last 4 keys
    half = tiny(sliding_window=4, sliding_layers=2)  # 2 window layers, 2 full ones
    # prefill of 6 tokens: full attention 1+2+3+4+5+6 = 21 keys; window 4: 1+2+3+4+4+4 = 18
    diff = models.prefill(full, 6).flops - models.prefill(windowed, 6).flops
    assert diff == per_key_layer * 4 * (21 - 18) == 12288
    diff = models.prefill(full, 6).flops - models.prefill(half, 6).flops
    assert diff == per_key_layer * 2 * (21 - 18) == 6144
    # decode at context 9: a full layer attends 9 + 1 = 10 keys, a window layer 4
    diff = models.decode_step(full, 9).flops - models.decode_step(windowed, 9).flops
    assert diff == per_key_layer * 4 * (10 - 4) == 24576
    diff = models.decode_step(full, 9).flops - models.decode_step(half, 9).flops
    assert diff == per_key_layer * 2 * (10 - 4) == 12288
    # the weight FLOPs are the same: the window changes only attention. At or below the
    # window nothing is capped: prefill of 4 tokens (1+2+3+4 keys), decode at context 3.
    assert models.prefill(full, 4).flops == models.prefill(windowed, 4).flops
    assert models.decode_step(full, 3).flops == models.decode_step(windowed, 3).flops
    # batch multiplies the difference: 3 sequences at context 9
    diff = models.decode_step(full, 9, 3).flops - models.decode_step(windowed, 9, 3).flops
    assert diff == 3 * 24576


# ---------------------------------------------------------------- what fits


def test_max_batch_by_hand():
    model = models.get("llama-2-7b")
    free = 80_000_000_000 - 2 * 6_738_415_616
    # each sequence holds 4097 tokens of KV after the step, and its activations (kilobytes)
    assert models.max_batch(model, H100, 4096) == free // (4097 * 524_288) == 30
    assert models.max_batch(models.get("llama-3-70b"), H100, 4096) == 0  # 141 GB of weights


def test_max_context_and_token_budget():
    model = models.get("llama-3-8b")
    free = 80_000_000_000 - 2 * 8_030_261_248
    assert models.kv_token_budget(model, H100) == free // 131_072 == 487_819
    # the step at context c holds c + 1 tokens of KV, one layer's activations and the logits:
    # 2 x 4096 + (32 + 16) x 128 + 2 x 14336 = 43,008 fp16 values + 128,256 fp32 logits
    activations = 43_008 * 2 + 128_256 * 4
    longest = models.max_context_len(model, H100, limit=10**7)
    assert longest == (free - activations) // 131_072 - 1 == 487_813
    assert models.max_context_len(model, H100) == 8192  # capped at the trained context
    assert models.max_context_len(models.get("llama-3-70b"), H100) == 0


# ---------------------------------------------------------------- training memory


def test_training_memory_states():
    model = models.get("llama-2-7b")
    n = 6_738_415_616
    mixed = training.training_memory(model, batch=1, seq_len=4096)
    assert mixed.states_bytes == 16 * n
    assert mixed.states_over_fp32_weights == 4
    assert training.training_memory(model, optimizer="sgd-momentum",
                                    precision="fp32").states_over_fp32_weights == 3
    allowed = r"choose from \['adam', 'fp32', 'mixed', 'sgd', 'sgd-momentum'\]"
    with pytest.raises(ValueError, match="unknown precision/optimizer 'mixed'/'adamw'; " + allowed):
        training.training_memory(model, optimizer="adamw")


def test_activation_bytes_by_hand():
    gpt2 = models.get("gpt2")
    s, b, h, a, layers = 1024, 8, 768, 12, 12
    stored = layers * (34 * s * b * h + 5 * a * s * s * b)
    assert training.activation_bytes(gpt2, b, s, "stored") == stored
    assert training.activation_bytes(gpt2, b, s, "flash") == layers * 34 * s * b * h
    assert training.activation_bytes(gpt2, b, s, "recompute") == layers * 2 * s * b * h


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, 4096.0, "4096", None])
def test_bad_context_or_batch(bad):
    model = models.get("llama-2-7b")
    with pytest.raises(ValueError, match="context_len must be an integer >= 1, got "):
        models.kv_cache_bytes(model, bad)
    with pytest.raises(ValueError, match="batch must be an integer >= 1, got "):
        models.kv_cache_bytes(model, 128, bad)
    with pytest.raises(ValueError, match="context_len must be an integer >= 1, got "):
        models.decode_step(model, bad)
    with pytest.raises(ValueError, match="batch must be an integer >= 1, got "):
        models.prefill(model, 128, bad)


def test_models_and_devices_by_name():
    assert models.kv_cache_bytes("llama-3-8b", 1024) == 1024 * 131_072
    assert models.param_count("Llama-2-7B") == 6_738_415_616
    by_name = models.decode_time("llama-3-70b", "h100-sxm", 4096)
    assert by_name.seconds == pytest.approx((2 * 70_553_706_496 + 4097 * 327_680) / 3.35e12)
    assert models.max_batch("llama-2-7b", "h100-sxm", 4096) == 30
    assert models.peak_flops_for("h100-sxm", "fp8") == 1979e12
    assert models.as_model(models.get("gpt2")) is models.get("gpt2")
    assert models.as_device(H100) is H100


@pytest.mark.parametrize("call", [
    lambda: models.kv_cache_bytes(None, 1024),
    lambda: models.decode_step(7, 1024),
    lambda: models.param_count({"name": "gpt2"}),
    lambda: models.decode_time(models.get("gpt2"), 3.35e12, 1024),
    lambda: models.step_time(models.decode_step("gpt2", 1), None),
    lambda: models.max_batch("gpt2", object(), 1024),
    lambda: models.critical_batch("gpt2", ["h100-sxm"]),
])
def test_bad_model_or_device_says_what_is_allowed(call):
    with pytest.raises(ValueError, match="model name|device name"):
        call()


def test_unknown_model_or_device_name_lists_close_matches():
    with pytest.raises(ValueError, match="llama-3-8b"):
        models.kv_cache_bytes("llama-3-8", 1024)
    with pytest.raises(ValueError, match="h100-sxm"):
        models.decode_time("llama-3-8b", "h100-smx", 1024)


@pytest.mark.parametrize("count", [-3, -1, 2.5, 4.0, "4", None, True])
def test_bytes_for_needs_a_whole_count(count):
    with pytest.raises(ValueError, match="n_elements"):
        models.bytes_for(count, "int4")


def test_bytes_for_zero_and_exact_counts():
    assert models.bytes_for(0, "int4") == 0
    assert models.bytes_for(5, "fp16") == 10
    assert models.bytes_for(5, "int4") == 3  # 20 bits -> 3 bytes


@pytest.mark.parametrize("dtype", [["fp16"], None, 16, b"fp16"])
def test_dtype_must_be_a_string(dtype):
    with pytest.raises(ValueError, match="fp16"):
        models.dtype_bits(dtype)


def test_unknown_dtype_names_closest():
    with pytest.raises(ValueError, match="fp16"):
        models.kv_cache_bytes(models.get("gpt2"), 10, dtype="fp61")
    with pytest.raises(ValueError, match="Known: fp32, fp16, bf16, fp8, int8, int4"):
        models.weight_bytes(models.get("gpt2"), "float16")


@pytest.mark.parametrize("changes, message", [
    (dict(n_kv_heads=3), "n_heads must be a multiple of n_kv_heads"),
    (dict(mlp="swiglu"), "mlp must be one of gated, plain; got 'swiglu'"),
    (dict(norm="batchnorm"), "norm must be one of rmsnorm, layernorm"),
    (dict(d_model=256.0), "d_model must be an integer >= 1, got 256.0"),
    (dict(n_layers=0), "n_layers must be an integer >= 1, got 0"),
    (dict(n_layers=True), "n_layers must be an integer >= 1, got True"),
    (dict(tied_embeddings="yes"), "tied_embeddings must be True or False"),
    (dict(sliding_window=128), "give both sliding_window and sliding_layers, or neither"),
    (dict(sliding_window=128, sliding_layers=5), "sliding_layers cannot exceed n_layers"),
    (dict(n_experts=8), "MoE needs 1 <= experts_per_token <= n_experts and an expert_ffn"),
    (dict(kv_lora_rank=64), "MLA needs qk_rope_head_dim, qk_nope_head_dim and v_head_dim"),
    (dict(head_dim=None, d_model=250), r"d_model \(250\) must divide by n_heads \(8\), or "
                                       "give head_dim"),
])
def test_custom_model_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


def test_custom_model_is_frozen_and_counts_by_hand():
    model = tiny()
    with pytest.raises(AttributeError):
        model.n_layers = 8
    d, ffn, vocab, layers = 256, 1024, 1000, 4
    per_layer = 4 * d * d + 3 * d * ffn + 2 * d
    assert models.param_count(model) == layers * per_layer + 2 * vocab * d + d
    assert model.head_dim == 32


def test_numpy_integers_become_exact_python_ints():
    # int32 arithmetic would wrap round silently; the library converts to Python ints first
    model = models.get("llama-2-7b")
    by_hand = 2 * 32 * 32 * 128 * 2 * 4096 * (1 << 20)  # K+V x layers x heads x dims x fp16
    got = models.kv_cache_bytes(model, np.int32(4096), np.int32(1 << 20))
    assert got == by_hand and type(got) is int
    custom = dataclasses.replace(model, name="np", d_model=np.int64(4096), head_dim=None)
    assert type(custom.d_model) is int and custom.head_dim == 128
