"""MoE decode economics (lesson 04) against hand arithmetic from config.json and datasheets.

Mixtral-8x7B: 8 routed experts, top-2, 32 MoE layers, expert 3 x 4096 x 14336.
DeepSeek-V3: 256 routed experts, top-8, 1 shared, 58 of 61 layers MoE, expert 3 x 7168 x 2048.
H100: 3.35 TB/s, 989 TFLOP/s bf16/fp16, 80 GB. H200: 4.8 TB/s, 1979 TFLOP/s fp8, 141 GB.
"""

import itertools
import math
import re
from fractions import Fraction

import numpy as np
import pytest

from memwall_lab import hardware, models, moe, provenance

MIXTRAL_EXPERT = 3 * 4096 * 14336  # 176,160,768 parameters
DEEPSEEK_EXPERT = 3 * 7168 * 2048  # 44,040,192 parameters
MIXTRAL_ACTIVE = 12_879_925_248  # tests/test_step.py works these out from the configs
DEEPSEEK_ACTIVE, DEEPSEEK_TOTAL = 37_552_297_472, 671_026_419_200


def test_route_picks_k_distinct_experts_per_token_uniformly():
    rng = np.random.default_rng(1)
    chosen = moe.route(rng, 5000, 8, 2)
    assert chosen.shape == (5000, 2) and chosen.min() >= 0 and chosen.max() <= 7
    assert all(len(set(row)) == 2 for row in chosen)
    # every expert is chosen by 2/8 of the tokens; every pair by 1/28
    counts = np.bincount(chosen.ravel(), minlength=8) / 5000
    assert np.allclose(counts, 2 / 8, atol=0.03)
    pairs = {tuple(sorted(row)) for row in chosen}
    assert len(pairs) == math.comb(8, 2)


def test_the_simulation_agrees_with_exhaustive_enumeration():
    # E = 4, k = 2, B = 2: the second token's pair shares 2, 1 or 0 experts with the first
    # with chances 1/6, 4/6, 1/6, so the step touches 2 x 1/6 + 3 x 4/6 + 4 x 1/6 = 3
    pairs = list(itertools.combinations(range(4), 2))
    union = [len(set(a) | set(b)) for a, b in itertools.product(pairs, repeat=2)]
    assert Fraction(sum(union), len(union)) == 3
    touched = moe.simulate_experts_touched(4, 2, 2, trials=20_000, seed=3)
    assert touched.mean() == pytest.approx(3, abs=0.03)  # standard error ~0.005
    assert set(np.unique(touched)) == {2, 3, 4}


def test_the_simulation_agrees_with_the_formula_for_deepseek_v3():
    touched = moe.simulate_experts_touched(256, 8, 32, trials=2000, seed=0)
    # 256 x (1 - (31/32)^32) = 163.31; the count's spread is ~5, its mean's ~0.1
    assert touched.mean() == pytest.approx(256 * (1 - (31 / 32) ** 32), abs=0.6)
    assert touched.max() < 32 * 8  # min(E, B k) = 256 is almost never reached


def test_per_expert_batch_and_tokens_per_touched_expert_by_hand():
    assert moe.per_expert_batch("mixtral-8x7b", 4) == 1.0  # 4 x 2 / 8
    assert moe.per_expert_batch("deepseek-v3", 32) == 1.0  # 32 x 8 / 256
    assert moe.per_expert_batch("deepseek-v3", 1) == 8 / 256
    # Mixtral at batch 2: 4 choices land on 8 (1 - 9/16) = 3.5 experts
    assert moe.tokens_per_touched_expert("mixtral-8x7b", 2) == pytest.approx(4 / 3.5)
    assert moe.tokens_per_touched_expert("mixtral-8x7b", 1) == pytest.approx(1)
    assert moe.tokens_per_touched_expert("deepseek-v3", 4096) == pytest.approx(4096 * 8 / 256)
    with pytest.raises(ValueError, match="not a mixture of experts.*mixtral-8x7b"):
        moe.per_expert_batch("llama-3-8b", 4)


def test_params_per_expert_from_the_configs():
    assert moe.params_per_expert("mixtral-8x7b") == MIXTRAL_EXPERT
    assert moe.params_per_expert("deepseek-v3") == DEEPSEEK_EXPERT


def test_batch_touching_every_expert_by_exact_fractions():
    # the expected untouched experts E (1 - k/E)^B first drop below 1
    for name, n_experts, top_k, expected in (("deepseek-v3", 256, 8, 175),
                                             ("mixtral-8x7b", 8, 2, 8)):
        escape = Fraction(n_experts - top_k, n_experts)
        assert n_experts * escape ** expected < 1 <= n_experts * escape ** (expected - 1)
        assert moe.batch_touching_every_expert(name) == expected


def test_expert_critical_batch_is_e_over_k_times_the_dense_one():
    # Mixtral fp16 on an H100: 8 / 2 x 989e12 / 3.35e12 x 2 bytes / 2 = 1,180.9
    assert moe.expert_critical_batch("mixtral-8x7b", "h100-sxm") == pytest.approx(
        4 * 989e12 / 3.35e12)
    # DeepSeek-V3 fp8 on an H200: 256 / 8 x 1979e12 / 4.8e12 x 1 byte / 2 = 6,596.7
    assert moe.expert_critical_batch("deepseek-v3", "h200", "fp8") == pytest.approx(
        32 * 1979e12 / 4.8e12 / 2)
    # the whole weight kernel (attention, shared expert, dense layers too) turns earlier
    assert 302 < models.critical_batch("mixtral-8x7b", "h100-sxm") < 1181
    assert 206 < models.critical_batch("deepseek-v3", "h200", "fp8") < 6597


def test_eight_devices_as_one_divide_the_time_and_multiply_the_memory():
    h200 = hardware.get("h200")
    eight = moe.as_one_device(h200, 8)
    assert eight.capacity_bytes == 8 * 141e9 and eight.bandwidth_bytes_per_s == 8 * 4.8e12
    assert eight.peak("fp8") == 8 * 1979e12 and eight.display_name == "8 x NVIDIA H200 SXM"
    assert moe.as_one_device(h200, 1) is h200
    one = models.decode_time("deepseek-v3", h200, 4096, 175, "fp8")
    together = models.decode_time("deepseek-v3", eight, 4096, 175, "fp8")
    assert together.seconds == pytest.approx(one.seconds / 8)
    assert together.fits and not one.fits
    assert together.weights_bound == one.weights_bound == "memory"
    # the ridge is the device's own, so the critical batch does not move
    assert models.critical_batch("deepseek-v3", eight, "fp8") == models.critical_batch(
        "deepseek-v3", h200, "fp8")


def test_deepseek_v3_reading_on_eight_h200s_by_hand():
    reading = moe.moe_reading("deepseek-v3", 32, 4096, "fp8", "h200", 8)
    touched = 256 * (1 - (31 / 32) ** 32)  # 163.31 routed experts per MoE layer
    assert reading.experts_touched == pytest.approx(touched)
    assert reading.worst_case_experts == 256
    assert reading.weight_bytes_read == DEEPSEEK_ACTIVE + round(58 * (touched - 8)
                                                                * DEEPSEEK_EXPERT)
    assert reading.active_weight_bytes == DEEPSEEK_ACTIVE  # fp8: a byte per weight
    assert reading.all_weight_bytes == DEEPSEEK_TOTAL
    kv = 32 * 4096 * 61 * 576  # fp8 latents read
    seconds = (reading.weight_bytes_read + kv + 32 * 61 * 576) / (8 * 4.8e12)
    assert reading.step.seconds_weights + reading.step.seconds_attention == pytest.approx(
        reading.step.seconds)
    assert reading.step.seconds == pytest.approx(seconds, rel=0.02)  # attention near its ridge
    assert reading.step.fits and reading.step.weights_bound == "memory"
    text = moe.describe_moe(reading)
    assert "163.3 of 256 in expectation" in text and "min(E, B k) would say 256" in text
    assert "434.3 GB" in text and "671.0 GB" in text and "of 1,128.0 GB: fits" in text
    assert "8 x NVIDIA H200 SXM" in text


def test_mixtral_reading_on_one_h100_by_hand():
    reading = moe.moe_reading("mixtral-8x7b", 2, 1024, "fp16", "h100-sxm", 1)
    assert reading.experts_touched == pytest.approx(3.5)
    assert reading.weight_bytes_read == 2 * (MIXTRAL_ACTIVE + 32 * 1.5 * MIXTRAL_EXPERT)
    assert not reading.step.fits  # 93.4 GB of fp16 weights on an 80 GB H100
    assert "does NOT fit: needs 2 such devices" in moe.describe_moe(reading)


@pytest.mark.parametrize("arguments", [
    ("mixtral-8x7b", 1, 131072, "int4", "h100-sxm", 1),
    ("deepseek-v3", 4096, 131072, "fp16", "h200", 1),
    ("deepseek-v3", 1, 1024, "fp8", "h100-sxm", 16),
])
def test_the_readout_writes_human_numbers_without_e_notation(arguments):
    text = moe.describe_moe(moe.moe_reading(*arguments))
    assert not re.search(r"\de[+-]?\d", text), text
    assert re.search(r"\d,\d{3}", text)  # thousands separators


@pytest.mark.parametrize(("arguments", "named"), [
    ({"model_name": "llama-3-8b"}, "mixtral-8x7b"),
    ({"device_name": "a100"}, "h100-sxm"),
    ({"dtype": "fp12"}, "fp8"),
    ({"batch": 0}, "batch"),
    ({"devices": 0}, "devices"),
])
def test_bad_readings_name_the_allowed_values(arguments, named):
    with pytest.raises(ValueError, match=named):
        moe.moe_reading(**arguments)


def test_dashboard_builds_and_follows_its_controls():
    box = moe.moe_dashboard("deepseek-v3", batch=32, devices=8)
    (model_picker, device_picker, count_picker), (batch_slider, _), (dtype_picker, _) = (
        row.children for row in box.children[:3])
    readout = box.children[3]
    assert "163.3 of 256" in readout.value and "fits" in readout.value
    batch_slider.value = 1
    assert "8 of 256" in readout.value
    count_picker.value = 1
    assert "does NOT fit" in readout.value
    model_picker.value = "mixtral-8x7b"
    assert "Mixtral-8x7B" in readout.value
    dtype_picker.value = "int4"
    assert "int4 weights" in readout.value
    with pytest.raises(ValueError, match="batch must be one of"):
        moe.moe_dashboard(batch=3)


def test_tiny_moe_reads_each_touched_expert_once():
    layer = moe.TinyMoE(n_experts=4, experts_per_token=2, d_model=8, expert_hidden=16,
                        max_tokens=4, seed=0)
    assert layer.expert_bytes == 8 * 16 * 4 and layer.weight_bytes == 4 * 8 * 16 * 4
    chosen = np.array([[0, 1], [1, 2], [1, 0]])
    by_hand = ((layer.tokens[0] + layer.tokens[2]) @ layer.experts[0]
               + (layer.tokens[0] + layer.tokens[1] + layer.tokens[2]) @ layer.experts[1]
               + layer.tokens[1] @ layer.experts[2])
    assert np.allclose(layer.step(chosen), by_hand, rtol=1e-5)
    with pytest.raises(ValueError, match="tokens, k"):
        layer.step(np.zeros((5, 2), dtype=int))


def test_tiny_moe_timings_are_measured_numbers():
    layer = moe.TinyMoE(n_experts=8, experts_per_token=2, d_model=64, expert_hidden=256,
                        max_tokens=8)
    rng = np.random.default_rng(0)
    samples = moe.time_steps(layer, [moe.route(rng, 4, 8, 2) for _ in range(3)], repeats=2)
    assert len(samples.seconds) == 2 and samples.best > 0
    ratio = moe.measure_slowdown(layer, 1, 8, steps=3, rounds=1, repeats=2)
    assert ratio > 0 and provenance.is_measured(ratio)
    with pytest.raises(ValueError, match="routings"):
        moe.time_steps(layer, [])


def test_hardware_numbers_used_above():
    h100, h200 = hardware.get("h100-sxm"), hardware.get("h200")
    assert (h100.bandwidth_bytes_per_s, h100.peak("fp16"), h100.capacity_bytes) == (
        3.35e12, 989e12, 80e9)
    assert (h200.bandwidth_bytes_per_s, h200.peak("fp8"), h200.capacity_bytes) == (
        4.8e12, 1979e12, 141e9)
