"""Lesson 04's KV-cache dashboard: readings checked against hand arithmetic from config.json."""

import math
import re

import pytest

from memwall_lab import widgets

GB = 1e9


def llama_params(d_model, layers, heads, kv_heads, head_dim, vocab, ffn):
    """Parameters of an untied Llama-style model, counted from its config by hand."""
    attention = d_model * heads * head_dim * 2 + d_model * kv_heads * head_dim * 2  # Q, O, K, V
    per_layer = attention + 3 * d_model * ffn + 2 * d_model  # gated MLP + two RMSNorms
    return 2 * vocab * d_model + layers * per_layer + d_model  # embedding, LM head, final norm


LLAMA_3_70B_PARAMS = llama_params(8192, 80, 64, 8, 128, 128256, 28672)
LLAMA_3_8B_PARAMS = llama_params(4096, 32, 32, 8, 128, 128256, 14336)


def test_llama_3_70b_at_128k_tokens_by_hand():
    reading = widgets.kv_readings("llama-3-70b", 131072, 1, "fp16")
    # 2 (K and V) x 128 dims x 2 bytes x 8 KV heads x 80 layers x 131072 tokens
    assert reading.kv_bytes == 2 * 128 * 2 * 8 * 80 * 131072 == 42_949_672_960
    assert reading.kv_bytes_per_token == 327_680
    assert reading.weight_bytes == 2 * LLAMA_3_70B_PARAMS
    assert reading.hypothetical is False and reading.message.startswith("131,072 tokens")


def test_crossover_context_by_hand():
    reading = widgets.kv_readings("llama-3-70b", 8192, 1, "fp16")
    assert reading.crossover_context == math.ceil(2 * LLAMA_3_70B_PARAMS / 327_680)
    # batch 8 shares the weights, so the crossover comes 8x sooner (rounded up)
    batch_8 = widgets.kv_readings("llama-3-70b", 8192, 8, "fp16")
    assert batch_8.crossover_context == math.ceil(2 * LLAMA_3_70B_PARAMS / (8 * 327_680))


def test_kv_share_of_a_decode_step_by_hand():
    reading = widgets.kv_readings("llama-3-8b", 32768, 4, "fp16")
    kv_per_token = 2 * 128 * 2 * 8 * 32
    kv_read, kv_written = 4 * 32768 * kv_per_token, 4 * kv_per_token
    weights = 2 * LLAMA_3_8B_PARAMS
    assert reading.bytes_per_step == weights + kv_read + kv_written
    assert reading.kv_share_of_step == pytest.approx((kv_read + kv_written)
                                                     / (weights + kv_read + kv_written))


def test_attention_views_change_only_the_kv_heads():
    mha = widgets.kv_readings("llama-3-70b", 4096, 1, "fp16", "mha")
    mqa = widgets.kv_readings("llama-3-70b", 4096, 1, "fp16", "mqa")
    assert mha.kv_bytes_per_token == 2 * 128 * 2 * 64 * 80
    assert mqa.kv_bytes_per_token == 2 * 128 * 2 * 1 * 80
    assert mha.hypothetical and mqa.hypothetical and "hypothetical" in mha.message
    gqa = widgets.kv_readings("llama-2-7b", 4096, 1, "fp16", "gqa")
    assert gqa.kv_bytes_per_token == 2 * 128 * 2 * 8 * 32


def test_deepseek_mla_caches_a_latent_per_layer():
    mla = widgets.kv_readings("deepseek-v3", 4096, 1, "fp16", "mla")
    assert mla.kv_bytes_per_token == (512 + 64) * 61 * 2 == 70_272
    assert mla.hypothetical is False
    as_mha = widgets.kv_readings("deepseek-v3", 4096, 1, "fp16", "mha")
    assert as_mha.kv_bytes_per_token == 2 * 128 * 128 * 61 * 2


def test_kv_quantization_halves_and_quarters():
    fp16 = widgets.kv_readings("llama-3-70b", 131072, 1, "fp16").kv_bytes
    assert widgets.kv_readings("llama-3-70b", 131072, 1, "fp8").kv_bytes == fp16 // 2
    assert widgets.kv_readings("llama-3-70b", 131072, 1, "int4").kv_bytes == fp16 // 4


def test_what_fits_on_each_device_by_hand():
    reading = widgets.kv_readings("llama-3-8b", 8192, 1, "fp16")
    weights = 2 * LLAMA_3_8B_PARAMS
    # a decode step at 8,192 tokens holds 8,193 per sequence, one layer's fp16 activations
    # (2 x 4096 + 48 x 128 + 2 x 14336 values) and 128,256 fp32 logits
    per_sequence = 8193 * 131_072 + (2 * 4096 + 48 * 128 + 2 * 14336) * 2 + 128_256 * 4
    assert reading.max_batch_that_fits == {
        "h100-sxm": (80 * 10**9 - weights) // per_sequence,
        "h200": (141 * 10**9 - weights) // per_sequence,
        "mi300x": (192 * 10**9 - weights) // per_sequence,
    }
    assert all(reading.fits.values())
    # Llama-3-70B in fp16 (141.1 GB) is too big for one H100 and, narrowly, one H200
    big = widgets.kv_readings("llama-3-70b", 1024, 1, "fp16")
    assert big.fits == {"h100-sxm": False, "h200": False, "mi300x": True}
    activations = (2 * 8192 + 80 * 128 + 2 * 28672) * 2 + 128_256 * 4
    free = 192 * 10**9 - 2 * LLAMA_3_70B_PARAMS - activations
    assert big.max_context_that_fits["mi300x"] == free // 327_680 - 1  # the step writes one more


# spec-sheet bandwidths (bytes/s) and dense fp16 peaks (FLOP/s): H100 SXM, H200, MI300X
BANDWIDTH = {"h100-sxm": 3.35e12, "h200": 4.8e12, "mi300x": 5.3e12}
FP16_PEAK = {"h100-sxm": 989e12, "h200": 989e12, "mi300x": 1307.4e12}
LLAMA_3_8B_EMBEDDING = 128256 * 4096  # looked up, not multiplied: no FLOPs


def test_decode_step_on_each_device_splits_into_weights_and_attention_by_hand():
    reading = widgets.kv_readings("llama-3-8b", 8192, 1, "fp16")
    weights = 2 * LLAMA_3_8B_PARAMS  # every weight read once
    kv_moved = 8192 * 131_072 + 131_072  # read the cache, write the new token
    for name, bandwidth in BANDWIDTH.items():
        step = reading.steps[name]
        weight_flops = 2 * (LLAMA_3_8B_PARAMS - LLAMA_3_8B_EMBEDDING)
        assert weight_flops / FP16_PEAK[name] < weights / bandwidth  # memory-bound at batch 1
        assert step.seconds_weights == pytest.approx(weights / bandwidth)
        assert step.seconds_attention == pytest.approx(kv_moved / bandwidth)
        assert step.tokens_per_s == pytest.approx(1 / ((weights + kv_moved) / bandwidth))
    assert reading.steps["h100-sxm"].seconds == pytest.approx(5.11e-3, rel=1e-3)
    text = widgets.describe_kv(reading)
    assert ("decode step 5.11 ms = weights 4.79 ms + attention 321 us (6%); 196 tokens/s"
            in text)


def test_batching_shares_the_weight_reads_but_not_the_kv_reads():
    one = widgets.kv_readings("llama-3-8b", 8192, 1, "fp16").steps["h100-sxm"]
    many = widgets.kv_readings("llama-3-8b", 8192, 59, "fp16").steps["h100-sxm"]
    assert many.seconds_weights == pytest.approx(one.seconds_weights)  # read once for all 59
    assert many.seconds_attention == pytest.approx(59 * one.seconds_attention)  # one per sequence
    # 59 tokens per step of 2 x params + 59 x 8,193 x 131,072 bytes at 3.35 TB/s
    by_hand = 59 / ((2 * LLAMA_3_8B_PARAMS + 59 * 8193 * 131_072) / 3.35e12)
    assert many.tokens_per_s == pytest.approx(by_hand)
    assert round(many.tokens_per_s) == 2489 and many.fits


def test_a_step_that_does_not_fit_says_how_many_devices_it_needs():
    reading = widgets.kv_readings("llama-3-8b", 8192, 64, "fp16")
    activations = (2 * 4096 + 48 * 128 + 2 * 14336) * 2 + 128_256 * 4  # one sequence, fp16
    held = 2 * LLAMA_3_8B_PARAMS + 64 * (8193 * 131_072 + activations)
    assert reading.held_bytes == held
    assert reading.fits == {"h100-sxm": held <= 80e9, "h200": True, "mi300x": True}
    assert reading.fits["h100-sxm"] is False
    assert reading.devices_needed == {"h100-sxm": math.ceil(held / 80e9), "h200": 1, "mi300x": 1}
    assert reading.devices_needed["h100-sxm"] == 2
    text = widgets.describe_kv(reading)
    assert "NVIDIA H100 SXM (80.0 GB): does NOT fit: needs 2 such devices" in text
    assert "if one device could hold it: step 25.3 ms" in text
    assert "NVIDIA H200 SXM (141.0 GB): fits" in text


@pytest.mark.parametrize(("model_name", "context_len", "batch", "kv_dtype", "attention"), [
    ("llama-3-8b", 8192, 1, "fp16", "published"), ("llama-3-8b", 8192, 64, "fp16", "published"),
    ("llama-2-7b", 32768, 8, "fp16", "published"), ("llama-3-70b", 131072, 1, "fp16", "mha"),
    ("deepseek-v3", 4096, 16, "int4", "published"), ("llama-3.1-405b", 2**20, 1024, "fp32", "mha"),
])
def test_fits_agrees_with_the_step_on_every_device(model_name, context_len, batch, kv_dtype,
                                                   attention):
    reading = widgets.kv_readings(model_name, context_len, batch, kv_dtype, attention)
    for name, step in reading.steps.items():
        assert reading.fits[name] is step.fits
        assert (reading.devices_needed[name] == 1) is step.fits
        assert step.cost.held_bytes <= reading.devices_needed[name] * step.capacity_bytes


def test_the_readout_writes_human_numbers_without_e_notation():
    for arguments in (("llama-2-7b", 2**20, 1024, "fp32", "mha"),
                      ("llama-3.1-405b", 2**20, 1024, "fp32", "mha"),
                      ("deepseek-v3", 128, 1, "int4", "published"),
                      ("llama-3-8b", 128, 1, "int4", "mqa")):
        text = widgets.describe_kv(widgets.kv_readings(*arguments))
        assert not re.search(r"\de[+-]?\d", text), text
    huge = widgets.describe_kv(widgets.kv_readings("llama-2-7b", 2**20, 1024, "fp32"))
    # 1024 x 2^20 tokens x 1,048,576 bytes (fp32 MHA) over 3.35 TB/s: about 336 s a step
    assert "step 336 s = weights 13.7 ms + attention 336 s (100%)" in huge
    assert "needs 14,074 such devices" in huge  # ceil(1.126e15 bytes / 80e9)


def test_extremes_give_messages_not_exceptions():
    reading = widgets.kv_readings("llama-2-7b", 2**20, 1024, "fp16")
    assert reading.kv_bytes == 1024 * 2**20 * 524_288
    assert not any(reading.fits.values())
    assert "fit on none" in reading.message and "beyond the 4,096" in reading.message
    assert reading.crossover_context == math.ceil(reading.weight_bytes / (1024 * 524_288))
    text = widgets.describe_kv(reading)
    assert "does NOT fit" in text and "1,048,576 tokens" in text
    huge = widgets.kv_readings("llama-3.1-405b", 128, 1, "fp16")
    assert "weights alone" in huge.message
    assert huge.max_context_that_fits == {"h100-sxm": 0, "h200": 0, "mi300x": 0}


def test_sliding_window_caps_the_cache_and_the_crossover():
    reading = widgets.kv_readings("mistral-7b", 2**20, 1, "fp16")
    assert reading.kv_bytes == 4096 * 2 * 128 * 2 * 8 * 32  # every layer keeps 4096 tokens
    assert reading.crossover_context is None and "sliding window" in reading.message
    assert "stays below the weights" in widgets.describe_kv(reading)


@pytest.mark.parametrize(("arguments", "named"), [
    (("llama-3-7b", 1024, 1, "fp16", "published"), "llama-3-8b"),
    (("llama-3-8b", 1024, 1, "fp12", "published"), "fp8"),
    (("llama-3-8b", 1024, 1, "fp16", "sparse"), "mqa"),
    (("llama-3-8b", 1024, 1, "fp16", "mla"), "deepseek-v3"),
    (("llama-3-8b", 2**20 + 1, 1, "fp16", "published"), "1048576"),
    (("llama-3-8b", 1024, 0, "fp16", "published"), "1024"),
    (("llama-3-8b", 1024.0, 1, "fp16", "published"), "context_len"),
])
def test_bad_input_names_the_allowed_values(arguments, named):
    with pytest.raises(ValueError, match=named):
        widgets.kv_readings(*arguments)


def test_dashboard_builds_and_follows_the_context_slider():
    box = widgets.kv_dashboard("llama-3-8b", context_len=8192)
    (model_picker, attention_picker, dtype_picker), (context_slider, batch_slider) = (
        box.children[0].children, box.children[1].children)
    readout = box.children[2]
    assert "context 8,192 tokens, batch 1" in readout.value
    before = readout.value
    context_slider.value = 2**20
    assert readout.value != before and "context 1,048,576 tokens" in readout.value
    batch_slider.value = 1024
    assert "does NOT fit" in readout.value
    attention_picker.value = "mla"
    assert "cannot compute this point" in readout.value and "deepseek-v3" in readout.value
    model_picker.value = "deepseek-v3"
    assert "MLA, 512+64" in readout.value
    dtype_picker.value = "int4"
    assert "int4 KV" in readout.value


@pytest.mark.parametrize(("arguments", "named"), [
    ({"model_name": "llama-3.1-8b"}, "llama-3-8b"),
    ({"batch": 3}, "batch must be one of 1, 2, 4"),
    ({"batch": 4.0}, "batch must be an integer"),
    ({"context_len": 8000}, "context_len must be one of 128"),
    ({"kv_dtype": "fp12"}, "int4"),
    ({"attention": "sparse"}, "mqa"),
])
def test_dashboard_bad_arguments_name_the_allowed_values(arguments, named):
    with pytest.raises(ValueError, match=named):
        widgets.kv_dashboard(**arguments)


def test_readout_explains_the_attention_view():
    text = widgets.describe_kv(widgets.kv_readings("llama-3-70b", 4096, 1, "fp16", "mqa"))
    assert "attention view 'mqa': multi-query: one K and one V shared by every query head" in text


def test_dashboard_hides_the_old_plot_when_a_point_cannot_be_computed():
    box = widgets.kv_dashboard("llama-3-8b", context_len=8192)
    attention_picker, picture = box.children[0].children[1], box.children[-1]
    first_png = bytes(picture.value)
    assert first_png.startswith(b"\x89PNG") and picture.layout.display is None
    attention_picker.value = "mla"  # llama-3-8b has no MLA latent: cannot compute
    assert "cannot compute this point" in box.children[2].value
    assert picture.layout.display == "none"  # the last plot belongs to another point
    attention_picker.value = "mqa"
    assert picture.layout.display is None and bytes(picture.value) != first_png
    assert "attention MQA (1 kv head)" in picture.tooltip


def test_kv_caption_states_the_crossover_and_the_fits_it_draws():
    reading = widgets.kv_readings("llama-3-8b", 8192, 1)
    caption = widgets.kv_caption(reading)
    assert f"passes the weights (black) at {reading.crossover_context:,} tokens" in caption
    assert "an NVIDIA H100 SXM up to 487,813 tokens" in caption
    assert "The red dot is 8,192 tokens." in caption
    none_fit = widgets.kv_caption(widgets.kv_readings("llama-3.1-405b", 128, 1))
    assert "fit in none of these GPUs at any context" in none_fit
