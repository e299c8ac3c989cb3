"""The split step model (weight matmuls + attention, summed; fits?) against hand arithmetic.

Every constant below is worked out from the model's config.json and the device's
datasheet (the numbers in data/models.csv and data/accelerators.csv), not read back
from the code.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memwall_lab import hardware, inference, models, step, widgets
from memwall_lab.roofline import Roof

H100 = hardware.get("h100-sxm")  # 3.35e12 B/s, 989e12 bf16/fp16 FLOP/s, 1979e12 fp8, 80 GB
H200 = hardware.get("h200")  # 4.8e12 B/s, same compute as the H100, 141 GB
A100 = hardware.get("a100-80gb")  # 2.039e12 B/s, 312e12 bf16/fp16 FLOP/s, 80 GB


def test_one_step_cost_type_for_the_whole_library():
    assert models.StepCost is inference.StepCost is step.StepCost
    tiny = inference.TransformerConfig(layers=2, d_model=64, heads=4, kv_heads=4, ffn=128,
                                       vocab=100, max_context=64)
    cost = inference.decode_cost(tiny, 1, 10)
    real = models.decode_step("gpt2", 10)
    for one in (cost, real):
        assert one.flops == one.weight_flops + one.attention_flops
        assert one.bytes_moved == one.weight_bytes + one.kv_read_bytes + one.kv_write_bytes


def test_llama_2_7b_decode_on_an_a100_by_hand():
    # Llama-2-7B: 6,738,415,616 parameters; 131,072,000 of them the input embedding (a lookup).
    matmul_params = 6_738_415_616 - 32000 * 4096
    timing = models.decode_time("llama-2-7b", A100, context_len=2048, batch=16)
    cost = timing.cost
    assert cost.weight_flops == 16 * 2 * matmul_params == 211_434_995_712
    assert cost.weight_bytes == 2 * 6_738_415_616  # read once for the whole batch
    # attention: 16 sequences x 2 x 32 heads x (128 + 128) x 32 layers x 2049 keys
    assert cost.attention_flops == 16 * 2 * 32 * 256 * 32 * 2049 == 17_188_257_792
    kv_per_token = 2 * 32 * 32 * 128 * 2  # 524,288 B
    assert cost.kv_read_bytes == 16 * 2048 * kv_per_token
    assert cost.kv_write_bytes == 16 * kv_per_token
    weights_s = max(211_434_995_712 / 312e12, 13_476_831_232 / 2.039e12)  # memory: 6.61 ms
    attention_s = max(17_188_257_792 / 312e12, 16 * 2049 * kv_per_token / 2.039e12)  # 8.43 ms
    assert timing.seconds_weights == pytest.approx(weights_s)
    assert timing.seconds_attention == pytest.approx(attention_s)
    assert timing.seconds == pytest.approx(weights_s + attention_s)
    assert timing.tokens_per_s == pytest.approx(16 / (weights_s + attention_s))  # ~1,064
    assert (timing.weights_bound, timing.attention_bound, timing.bound) == (
        "memory", "memory", "memory")
    # held: weights + 2049 tokens of KV per sequence + one layer's activations (fp16) +
    # fp32 logits: per token 2 x 4096 + (32 + 64) x 128 + 2 x 11008 = 42,496 values.
    activations = 16 * (2 * 4096 + 96 * 128 + 2 * 11008) * 2 + 16 * 32000 * 4
    assert cost.held_bytes == 13_476_831_232 + 16 * 2049 * kv_per_token + activations
    assert timing.fits and timing.devices_needed == 1 and timing.fit_note == "fits"


def test_llama_2_7b_batching_lifts_throughput_until_memory_is_full():
    # batch 1: 239 tokens/s; the largest batch that fits at 1024 tokens: 123 (by hand below)
    one = models.decode_time("llama-2-7b", H100, 1024, 1)
    assert one.tokens_per_s == pytest.approx(3.35e12 / (13_476_831_232 + 1025 * 524_288))
    free = 80e9 - 13_476_831_232
    per_sequence = 1025 * 524_288 + (2 * 4096 + 96 * 128 + 2 * 11008) * 2 + 32000 * 4
    largest = int(free // per_sequence)
    assert largest == 123 == models.max_batch("llama-2-7b", H100, 1024)
    full = models.decode_time("llama-2-7b", H100, 1024, largest)
    assert full.fits and not models.decode_time("llama-2-7b", H100, 1024, largest + 1).fits
    assert full.tokens_per_s > 20 * one.tokens_per_s  # batching shares the weight reads
    # ... but never makes KV reads cheaper: attention's share of the step grows with batch
    assert full.seconds_attention > full.seconds_weights


def test_mixtral_decode_on_an_h100_by_hand():
    # Mixtral-8x7B per layer: attention 2 x 4096^2 + 2 x 4096 x 1024 = 41,943,040;
    # expert 3 x 4096 x 14336 = 176,160,768; router 4096 x 8; two norms 8192.
    layer_with = lambda experts: 41_943_040 + experts * 176_160_768 + 32_768 + 8192  # noqa: E731
    outer = 2 * 32000 * 4096 + 4096
    active, total = 32 * layer_with(2) + outer, 32 * layer_with(8) + outer
    assert (active, total) == (12_879_925_248, 46_702_792_704)
    one = models.decode_time("mixtral-8x7b", H100, 4096, 1)
    assert one.cost.weight_bytes == 2 * active  # one token touches its 2 experts per layer
    assert one.cost.weight_flops == 2 * (active - 32000 * 4096)
    assert one.cost.attention_flops == 2 * 32 * 256 * 32 * 4097
    kv_per_token = 2 * 32 * 8 * 128 * 2  # 131,072 B
    weights_s = 2 * active / 3.35e12
    attention_s = 4097 * kv_per_token / 3.35e12
    assert one.seconds == pytest.approx(weights_s + attention_s)  # 7.85 ms: ~127 tokens/s
    # batch 64 touches 8 (1 - (6/8)^64) experts per layer in expectation (uniform routing):
    # all but 8 x 1.0e-8 of them, so 455 of the 46.7B parameters go unread; all are held
    big = models.decode_time("mixtral-8x7b", H100, 4096, 64)
    unread_params = 32 * 8 * 0.75**64 * 176_160_768
    assert round(unread_params) == 455
    assert big.cost.weight_bytes == 2 * (total - 455)
    # batch 2: 8 (1 - 9/16) = 3.5 experts per layer, not min(8, 2 x 2) = 4
    two = models.decode_time("mixtral-8x7b", H100, 4096, 2)
    assert two.cost.weight_bytes == 2 * (active + 32 * 1.5 * 176_160_768)
    activations = 64 * (2 * 4096 + 48 * 128 + 2 * 2 * 14336) * 2 + 64 * 32000 * 4
    held = 2 * total + 64 * 4097 * kv_per_token + activations
    assert big.cost.held_bytes == held == 127_791_079_424
    assert not big.fits and big.devices_needed == 2
    assert big.fit_note == "does not fit: needs 2 devices"


def test_deepseek_v3_mla_moe_decode_on_an_h200_by_hand():
    # DeepSeek-V3 attention per layer (MLA, q_lora 1536, kv_lora 512, rope 64, nope 128,
    # v 128, 128 heads): q 7168 x 1536 + 1536 + 1536 x 128 x 192; kv 7168 x 576 + 512 +
    # 512 x 128 x 256; out 128 x 128 x 7168.
    attention = (7168 * 1536 + 1536 + 1536 * 128 * 192 + 7168 * 576 + 512
                 + 512 * 128 * 256 + 128 * 128 * 7168)
    assert attention == 187_107_328
    norms, expert, router = 2 * 7168, 3 * 7168 * 2048, 7168 * 256 + 256
    dense_layer = attention + 3 * 7168 * 18432 + norms
    moe_layer = lambda routed: attention + (routed + 1) * expert + router + norms  # noqa: E731
    outer = 2 * 129280 * 7168 + 7168
    active = 3 * dense_layer + 58 * moe_layer(8) + outer
    total = 3 * dense_layer + 58 * moe_layer(256) + outer
    assert active == 37_552_297_472 and total == 671_026_419_200
    timing = models.decode_time("deepseek-v3", H200, 4096, 1, dtype="fp8")
    cost = timing.cost
    assert cost.weight_bytes == active  # fp8: one byte per weight
    assert cost.weight_flops == 2 * (active - 129280 * 7168)
    # decode attends over the latent (absorbed): 2 x 128 x ((512 + 64) + 512) per key per layer
    assert cost.attention_flops == 2 * 128 * (576 + 512) * 61 * 4097
    assert cost.kv_read_bytes == 4096 * 61 * 576  # one byte per latent value
    weights_s = max(cost.weight_flops / 1979e12, active / 4.8e12)
    attention_s = max(cost.attention_flops / 1979e12, 4097 * 61 * 576 / 4.8e12)
    assert timing.seconds == pytest.approx(weights_s + attention_s)
    # the latent is so small that attention's FLOPs, not its bytes, take longer at 4K
    assert timing.attention_bound == "compute" and timing.weights_bound == "memory"
    assert not timing.fits and timing.devices_needed == math.ceil(cost.held_bytes / 141e9) == 5
    # batch 32 touches 256 (1 - (31/32)^32) = 163.3 routed experts per MoE layer in
    # expectation (uniform routing), not min(256, 32 x 8) = 256: 155.3 more than batch 1
    batch_32 = models.decode_step("deepseek-v3", 4096, 32, dtype="fp8")
    more = 256 * (1 - (31 / 32) ** 32) - 8
    assert 155.3 < more < 155.4
    assert batch_32.weight_bytes == active + round(58 * more * expert)
    assert batch_32.weight_bytes < 0.65 * total  # 434 of 671 GB; the worst case read all


def test_critical_batch_is_ridge_times_bytes_per_weight_over_two_at_any_context():
    # dense Llama-2-7B in fp16 on the H100: 2 b P_matmul / 989e12 >= 2 P / 3.35e12
    # b >= 989 / 3.35 x 6,738,415,616 / 6,607,343,616 = 301.08 -> 302
    bound = 989e12 / 3.35e12 * 6_738_415_616 / (6_738_415_616 - 32000 * 4096)
    assert models.critical_batch("llama-2-7b", H100) == math.ceil(bound) == 302
    for context in (128, 4096):
        assert models.decode_time("llama-2-7b", H100, context, 302).weights_bound == "compute"
        assert models.decode_time("llama-2-7b", H100, context, 301).weights_bound == "memory"
    # fp8 weights on fp8 units: half the bytes, twice the peak: the same ridge x 1/2 x 2
    assert models.critical_batch("llama-2-7b", H100, dtype="fp8") == math.ceil(
        1979e12 / 3.35e12 * 6_738_415_616 / (2 * (6_738_415_616 - 32000 * 4096)))
    # an MoE reads more experts as the batch grows: its critical batch is far larger
    assert models.critical_batch("mixtral-8x7b", H100) > 3 * 302


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["llama-2-7b", "llama-3-70b", "mistral-7b", "gemma-2-9b",
                             "mixtral-8x7b", "deepseek-v3", "phi-3-mini"]),
       device=st.sampled_from(["h100-sxm", "a100-80gb", "h200", "mi300x"]),
       context=st.integers(1, 200_000), batch=st.integers(1, 2048))
def test_no_batch_is_reported_without_saying_whether_it_fits(name, device, context, batch):
    timing = models.decode_time(name, device, context, batch)
    capacity = hardware.get(device).capacity_bytes
    held = (models.weight_bytes(name) + models.kv_cache_bytes(name, context + 1, batch)
            + models.activation_bytes(name, batch, batch))
    assert timing.cost.held_bytes == held
    assert timing.fits == (held <= capacity)
    assert ("does not fit" in timing.fit_note) == (not timing.fits)
    assert timing.devices_needed == max(1, math.ceil(held / capacity))
    roof = Roof.from_hardware(device)
    (reading,) = widgets.decode_readings(name, batch, context, [roof],
                                         capacities_bytes={roof.name: capacity})
    text = widgets.describe_decode(name, batch, context, [reading])
    assert ("DOES NOT FIT" in text) == (not timing.fits)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["llama-2-7b", "mistral-7b", "gemma-2-9b", "mixtral-8x7b",
                             "deepseek-v3"]),
       context=st.integers(1, 50_000), batch=st.integers(1, 256),
       extra=st.integers(1, 5000), more=st.integers(1, 64))
def test_step_time_grows_with_context_and_batch(name, context, batch, extra, more):
    base = models.decode_time(name, H100, context, batch)
    assert base.seconds == pytest.approx(base.seconds_weights + base.seconds_attention)
    for other in (models.decode_time(name, H100, context + extra, batch),
                  models.decode_time(name, H100, context, batch + more)):
        assert other.seconds >= base.seconds
    assert models.decode_time(name, H100, context + extra, batch).seconds_weights == (
        base.seconds_weights)  # the context changes only attention
    prefill = models.prefill_time(name, H100, context, batch)
    assert models.prefill_time(name, H100, context + extra, batch).seconds >= prefill.seconds


def test_max_batch_and_context_agree_with_fits():
    assert models.max_batch("mixtral-8x7b", H100, 1024) == 0  # 93.4 GB of weights
    assert not models.decode_fits("mixtral-8x7b", H100, 1024, 1)
    for name, context in (("llama-3-8b", 8192), ("llama-2-7b", 4096), ("mixtral-8x7b", 1024)):
        largest = models.max_batch(name, H200, context)
        assert largest >= 1 and models.decode_fits(name, H200, context, largest)
        assert not models.decode_fits(name, H200, context, largest + 1)
    longest = models.max_context_len("llama-3-8b", H100, 4, limit=10**7)
    assert models.decode_fits("llama-3-8b", H100, longest, 4)
    assert not models.decode_fits("llama-3-8b", H100, longest + 1, 4)


def test_a_roof_without_memory_says_so():
    roof = Roof("laptop", peak_flops_per_s=2e11, bandwidth_bytes_per_s=5e10)
    timing = models.step_time(models.decode_step("gpt2", 100), roof)
    assert timing.fits is None and timing.devices_needed is None
    assert timing.fit_note == "memory unknown"
    with_ram = models.step_time(models.decode_step("llama-3-70b", 100), roof,
                                capacity_bytes=16e9)
    assert with_ram.fits is False and with_ram.devices_needed == 9  # 141.1 GB / 16 GB
    with pytest.raises(ValueError, match="capacity_bytes must be a positive finite number"):
        models.step_time(models.decode_step("gpt2", 100), roof, capacity_bytes=-1)
