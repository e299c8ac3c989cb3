"""Offload, quantization and disaggregation cost models (lesson 06) against hand arithmetic."""

import dataclasses
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memwall_lab import hardware, models, offload, widgets
from memwall_lab.timing import Samples

PCIE4_BYTES_PER_S = 31.5e9  # PCIe 4.0 x16, one direction
LLAMA2 = models.get("llama-2-7b")
LLAMA3 = models.get("llama-3-8b")
H100 = hardware.get("h100-sxm")
PCIE4 = hardware.link("pcie4-x16")
# Llama-2-7B KV per token: 2 (K, V) x 32 layers x 32 heads x 128 dims x 2 bytes.
LLAMA2_KV_PER_TOKEN = 2 * 32 * 32 * 128 * 2
# Llama-3-8B KV per token: 2 x 32 layers x 8 KV heads x 128 dims x 2 bytes.
LLAMA3_KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2


# ---------------------------------------------------------------- weights over a link


def test_14_gb_over_pcie4_gives_2_25_tokens_per_s():
    streaming = offload.weight_streaming(14_000_000_000, PCIE4_BYTES_PER_S)
    assert streaming.streamed_bytes_per_token == 14_000_000_000
    assert streaming.tokens_per_s == pytest.approx(2.25)  # 31.5 / 14
    half = offload.weight_streaming(14_000_000_000, PCIE4, resident_bytes=7_000_000_000)
    assert half.tokens_per_s == pytest.approx(4.5)  # 31.5 / 7
    assert offload.weight_streaming(100, 1e9, resident_bytes=200).tokens_per_s == math.inf


def test_llama2_fp16_streamed_is_link_over_two_bytes_per_param():
    weights = models.weight_bytes(LLAMA2, "fp16")
    assert weights == 2 * models.param_count(LLAMA2)
    streaming = offload.weight_streaming(weights, PCIE4)
    assert streaming.tokens_per_s == pytest.approx(31.5e9 / (2 * models.param_count(LLAMA2)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10**12), st.integers(0, 10**12), st.floats(1e6, 1e13))
def test_more_resident_bytes_never_slow_streaming(weight_bytes, resident_bytes, bandwidth):
    less = offload.weight_streaming(weight_bytes, bandwidth, resident_bytes)
    more = offload.weight_streaming(weight_bytes, bandwidth, resident_bytes + 1)
    assert more.tokens_per_s >= less.tokens_per_s


# ---------------------------------------------------------------- KV over a link


def test_kv_offload_reads_the_offloaded_cache_every_step():
    full = offload.kv_offload(LLAMA2, 4096, 4096, PCIE4_BYTES_PER_S)
    assert LLAMA2_KV_PER_TOKEN * 4096 == 2_147_483_648  # 2 GiB
    assert full.offloaded_kv_bytes == 2_147_483_648
    assert full.seconds_per_step == pytest.approx(2_147_483_648 / 31.5e9)
    assert full.tokens_per_s == pytest.approx(31.5e9 / 2_147_483_648)  # ~14.7 tokens/s
    half = offload.kv_offload(LLAMA2, 4096, 2048, PCIE4_BYTES_PER_S)
    assert half.tokens_per_s == pytest.approx(2 * full.tokens_per_s)
    batch4 = offload.kv_offload(LLAMA2, 4096, 4096, PCIE4_BYTES_PER_S, batch=4)
    assert batch4.offloaded_kv_bytes == 4 * 2_147_483_648
    assert batch4.tokens_per_s == pytest.approx(full.tokens_per_s)  # 4 tokens per 4x bytes
    assert offload.kv_offload(LLAMA2, 4096, 0, PCIE4).tokens_per_s == math.inf


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8192), st.data())
def test_offloading_more_tokens_never_helps(context_len, data):
    offloaded = data.draw(st.integers(0, context_len - 1))
    fewer = offload.kv_offload(LLAMA3, context_len, offloaded, PCIE4)
    more = offload.kv_offload(LLAMA3, context_len, offloaded + 1, PCIE4)
    assert more.offloaded_kv_bytes - fewer.offloaded_kv_bytes == LLAMA3_KV_PER_TOKEN
    assert more.tokens_per_s < fewer.tokens_per_s


# ---------------------------------------------------------------- overlap


def test_two_stage_pipeline_max_vs_sum():
    # transfer 3 s, compute 1 s per layer, 4 layers
    pipe = offload.pipeline([3.0, 1.0], items=4)
    assert pipe.seconds_per_item_lower == 3.0  # max
    assert pipe.seconds_per_item_upper == 4.0  # sum
    assert pipe.seconds_serial == 16.0  # 4 x (3 + 1)
    assert pipe.seconds_overlapped == 13.0  # (3 + 1) + 3 x 3
    assert pipe.speedup == pytest.approx(16 / 13)
    one = offload.pipeline([3.0, 1.0])
    assert one.seconds_overlapped == one.seconds_serial == 4.0  # nothing to overlap with


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=5).filter(lambda s: sum(s) > 0),
       st.integers(1, 1000))
def test_overlap_lies_between_max_and_sum(stages, items):
    pipe = offload.pipeline(stages, items)
    assert items * max(stages) <= pipe.seconds_overlapped * (1 + 1e-12)
    assert pipe.seconds_overlapped <= pipe.seconds_serial * (1 + 1e-12)


# ---------------------------------------------------------------- throughput batching


def test_batch_amortises_one_pass_of_streamed_weights():
    weights = 2 * models.param_count(LLAMA2)
    one = offload.offloaded_batch_step(LLAMA2, H100, PCIE4, batch=1, context_len=512)
    assert one.streamed_weight_bytes == weights
    assert one.seconds_transfer == pytest.approx(weights / 31.5e9)
    assert one.limit == "link"
    assert one.tokens_per_s == pytest.approx(31.5e9 / weights)
    big = offload.offloaded_batch_step(LLAMA2, H100, PCIE4, batch=64, context_len=512)
    assert big.limit == "link"
    assert big.tokens_per_s == pytest.approx(64 * 31.5e9 / weights)
    assert big.seconds_per_step_serial > big.seconds_per_step


def test_largest_offloaded_batch_is_capacity_over_kv_per_sequence():
    # 80 GB, no resident weights, 513 cached tokens per sequence (512 + the new one)
    expected = 80_000_000_000 // (LLAMA2_KV_PER_TOKEN * 513)
    assert offload.largest_offloaded_batch(LLAMA2, H100, 512) == expected
    assert offload.offloaded_batch_step(LLAMA2, H100, PCIE4, expected, 512).fits
    assert not offload.offloaded_batch_step(LLAMA2, H100, PCIE4, expected + 1, 512).fits


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 4096))
def test_offloaded_throughput_never_falls_with_batch(batch, context_len):
    smaller = offload.offloaded_batch_step(LLAMA3, H100, PCIE4, batch, context_len)
    larger = offload.offloaded_batch_step(LLAMA3, H100, PCIE4, batch + 1, context_len)
    assert larger.tokens_per_s >= smaller.tokens_per_s * (1 - 1e-12)


# ---------------------------------------------------------------- quantization


def test_quantized_weight_bytes_and_tokens_per_s():
    params = models.param_count(LLAMA2)
    rows = {row.dtype: row for row in offload.quantized_decode(LLAMA2, H100, link=PCIE4)}
    assert rows["fp16"].weight_bytes == 2 * params
    assert rows["int8"].weight_bytes == params
    assert rows["int4"].weight_bytes == (params + 1) // 2  # half a byte each, rounded up
    assert rows["int4"].streamed_tokens_per_s == pytest.approx(31.5e9 / ((params + 1) // 2))
    # Batch-1 decode at context 1024 is memory-bound on the H100 (3.35e12 B/s), so
    # tokens/s = bandwidth / (weights + 1024 cached tokens read + 1 written), KV in fp16
    # (524,288 B a token): 1024 x 524,288 + 524,288 = 537,395,200 B of KV whatever the weights.
    # fp16: 13,476,831,232 + 537,395,200 = 14,014,226,432 B -> 239.0428 tokens/s
    # int8:  6,738,415,616 + 537,395,200 =  7,275,810,816 B -> 460.4298 tokens/s
    # int4:  3,369,207,808 + 537,395,200 =  3,906,603,008 B -> 857.5225 tokens/s
    assert params == 6_738_415_616
    kv = 1024 * LLAMA2_KV_PER_TOKEN + LLAMA2_KV_PER_TOKEN
    assert rows["fp16"].tokens_per_s == pytest.approx(3.35e12 / (2 * params + kv))
    assert rows["fp16"].tokens_per_s == pytest.approx(239.0428, rel=1e-6)
    assert rows["int8"].tokens_per_s == pytest.approx(460.4298, rel=1e-6)
    assert rows["int4"].tokens_per_s == pytest.approx(3.35e12 / ((params + 1) // 2 + kv))
    assert rows["int4"].tokens_per_s == pytest.approx(857.5225, rel=1e-6)
    # an int8 KV cache halves the KV bytes: int4 weights + 268,697,600 B -> 917.05 tokens/s
    (int8_kv,) = offload.quantized_decode(LLAMA2, H100, dtypes="int4", kv_dtype="int8")
    assert int8_kv.tokens_per_s == pytest.approx(3.35e12 / (3_369_207_808 + 268_697_600))
    assert all(row.fits for row in rows.values())
    (too_big,) = offload.quantized_decode("llama-3.1-405b", H100, dtypes=("fp16",))
    assert not too_big.fits and too_big.streamed_tokens_per_s is None


# ---------------------------------------------------------------- disaggregation


def test_kv_transfer_seconds_by_hand():
    # 2048 prompt tokens x 131,072 bytes = 256 MiB over InfiniBand HDR (25 GB/s)
    assert LLAMA3_KV_PER_TOKEN * 2048 == 268_435_456
    seconds = offload.kv_transfer_seconds(LLAMA3, 2048, hardware.link("infiniband-hdr"))
    assert seconds == pytest.approx(268_435_456 / 25e9)


def test_request_stream_is_deterministic_for_a_seed():
    first = offload.request_stream(20, 5.0, 1000, 100, seed=3)
    assert first == offload.request_stream(20, 5.0, 1000, 100, seed=3)
    assert first != offload.request_stream(20, 5.0, 1000, 100, seed=4)
    assert first[0].arrival_s == 0.0
    assert [r.index for r in first] == list(range(20))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 50), st.floats(0.1, 100), st.integers(1, 5000), st.integers(1, 500),
       st.integers(0, 100))
def test_request_stream_lengths_and_order(n, rate, prompt, output, seed):
    stream = offload.request_stream(n, rate, prompt, output, seed)
    arrivals = [r.arrival_s for r in stream]
    assert arrivals == sorted(arrivals)
    assert all(max(1, prompt // 2) <= r.prompt_tokens <= prompt + prompt // 2 for r in stream)
    assert all(max(1, output // 2) <= r.output_tokens <= output + output // 2 for r in stream)


def test_lone_request_by_hand():
    request = offload.Request(0, 0.0, prompt_tokens=1000, output_tokens=2)
    (served,) = offload.simulate_colocated([request], LLAMA3, H100).served
    prefill_s = models.prefill_time(LLAMA3, H100, 1000).seconds
    # one decode step at the context rounded up to 16 tokens: 1008
    decode_s = models.decode_time(LLAMA3, H100, 1008, 1).seconds
    assert served.time_to_first_token_s == pytest.approx(prefill_s)
    assert served.finish_s == pytest.approx(prefill_s + decode_s)
    assert served.time_per_output_token_s == pytest.approx(decode_s)


def test_every_request_finishes_and_runs_are_deterministic():
    stream = offload.request_stream(30, 20.0, 2048, 64, seed=1)
    link = hardware.link("infiniband-ndr")
    for simulate in (lambda: offload.simulate_colocated(stream, LLAMA3, H100),
                     lambda: offload.simulate_disaggregated(stream, LLAMA3, H100, link)):
        run = simulate()
        assert run == simulate()
        assert [s.request for s in run.served] == list(stream)
        for s in run.served:
            assert s.request.arrival_s <= s.prefill_start_s < s.prefill_end_s
            assert s.prefill_end_s <= s.first_token_s <= s.finish_s
            assert s.time_per_output_token_s > 0


def test_disaggregation_adds_exactly_the_kv_transfer_to_first_token():
    link = hardware.link("infiniband-hdr")
    # arrivals ~1000 s apart: no request ever waits for another
    stream = offload.request_stream(6, 0.001, 3000, 50, seed=2)
    # whole prompts, as the prefill device runs them (chunks would re-read the weights)
    colocated = offload.simulate_colocated(stream, LLAMA3, H100, replicas=1, token_budget=None)
    split = offload.simulate_disaggregated(stream, LLAMA3, H100, link)
    for alone, disaggregated in zip(colocated.served, split.served):
        by_hand = LLAMA3_KV_PER_TOKEN * alone.request.prompt_tokens / 25e9
        assert disaggregated.kv_transfer_s == pytest.approx(by_hand)
        assert disaggregated.time_to_first_token_s == pytest.approx(
            alone.time_to_first_token_s + by_hand)
    busy = offload.simulate_disaggregated(offload.request_stream(20, 50.0, 3000, 50), LLAMA3,
                                          H100, link)
    for s in busy.served:  # under load too: first token = prefill end + transfer
        assert s.first_token_s == pytest.approx(s.prefill_end_s + s.kv_transfer_s)


def test_peak_kv_flags_a_load_that_does_not_fit():
    stream = offload.request_stream(24, 10.0, 32768, 1024, seed=0)
    run = offload.simulate_disaggregated(stream, LLAMA3, H100, PCIE4)
    assert run.peak_kv_bytes > run.capacity_bytes and not run.fits


# ---------------------------------------------------------------- tiers and the file tier


def test_sourced_tiers_are_the_table_values_fastest_first():
    tiers = offload.sourced_tiers("h100-sxm", ("pcie4-x16", "nvme-gen4"))
    assert [t.bandwidth_bytes_per_s for t in tiers] == [3.35e12, 31.5e9, 7.45e9]
    assert all(t.origin.startswith("https://") for t in tiers)


@pytest.mark.parametrize("cache", offload.CACHE_STATES)
def test_file_read_on_a_small_file(tmp_path, cache):
    size = 8 * 1024**2
    result = offload.file_read_bandwidth_bytes_per_s(size, cache=cache, repeats=2,
                                                     directory=str(tmp_path))
    assert result.unit == "B/s" and len(result.samples) == 2
    assert result.size_bytes == size and result.threads == 1
    seconds = result.details["seconds"]
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert result.samples == tuple(size / s for s in seconds)  # bytes / seconds, each repeat
    assert result.details["cache"] == cache
    # the page cache is dropped only for a cold read, and only where posix_fadvise exists
    assert result.details["cache_dropped"] is (cache == "cold" and hasattr(os, "posix_fadvise"))
    assert os.listdir(tmp_path) == [], "the temporary file must be removed"


@pytest.mark.parametrize("cache, warmup", [("warm", 1), ("cold", 0)])
def test_file_read_rate_with_a_fake_clock(tmp_path, monkeypatch, cache, warmup):
    # every timed read "takes" 1/256 s (exact in binary): 8 MiB x 256 = 2,147,483,648 B/s
    size, calls, advice = 8 * 1024**2, [], []

    def fake_time_call(function, *, repeats, warmup, warn):
        calls.append((repeats, warmup, warn))
        assert function() == size  # the whole file is really read back
        return Samples((1 / 256,))

    def fake_fadvise(fd, offset, length, what):
        advice.append((offset, length, what))

    monkeypatch.setattr(offload, "time_call", fake_time_call)
    monkeypatch.setattr(os, "posix_fadvise", fake_fadvise, raising=False)
    monkeypatch.setattr(os, "POSIX_FADV_DONTNEED", 4, raising=False)
    result = offload.file_read_bandwidth_bytes_per_s(size, cache=cache, repeats=3,
                                                     directory=str(tmp_path))
    assert result.samples == (2_147_483_648.0,) * 3
    assert result.details["seconds"] == (1 / 256,) * 3
    assert calls == [(1, warmup, False)] * 3  # one timed read per repeat; warm reads once first
    if cache == "cold":  # pages dropped before every repeat, whole file (offset 0, length 0)
        assert advice == [(0, 0, os.POSIX_FADV_DONTNEED)] * 3
        assert result.details["cache_dropped"] is True
    else:
        assert advice == [] and result.details["cache_dropped"] is False
    # an OS without posix_fadvise (macOS, Windows): nothing is dropped, and it says so
    monkeypatch.delattr(os, "posix_fadvise")
    result = offload.file_read_bandwidth_bytes_per_s(size, cache=cache, repeats=1,
                                                     directory=str(tmp_path))
    assert result.details["cache_dropped"] is False
    assert os.listdir(tmp_path) == [], "the temporary file must be removed"


def test_cold_read_verdict_is_honest():
    assert "NOT dropped" in offload.cold_read_verdict(9e9, 10e9)
    assert "storage device" in offload.cold_read_verdict(1e9, 10e9)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, message", [
    (lambda: offload.weight_streaming(0, 1e9), "weight_bytes"),
    (lambda: offload.weight_streaming(10, -1.0), "link_bandwidth_bytes_per_s"),
    (lambda: offload.weight_streaming(10, float("nan")), "finite number"),
    (lambda: offload.kv_offload(LLAMA3, 100, 101, 1e9), "offloaded_tokens"),
    (lambda: offload.kv_offload("llama-3-8", 100, 1, 1e9), "llama-3-8b"),
    (lambda: offload.pipeline([]), "at least one stage"),
    (lambda: offload.pipeline([1.0, -1.0]), ">= 0"),
    (lambda: offload.pipeline([1.0], items=0), "items"),
    (lambda: offload.quantized_decode(LLAMA3, H100, dtypes=("int3",)), "int4"),
    (lambda: offload.offloaded_batch_step(LLAMA3, "h100", PCIE4, 1, 10), "h100-sxm"),
    (lambda: offload.request_stream(0, 1.0, 10, 10), "n_requests"),
    (lambda: offload.request_stream(5, 0.0, 10, 10), "arrival_rate_per_s"),
    (lambda: offload.simulate_colocated([], LLAMA3, H100), "non-empty"),
    (lambda: offload.simulate_colocated(offload.request_stream(2, 1.0, 10, 10), LLAMA3, H100,
                                        replicas=0), "replicas"),
    (lambda: offload.simulate_disaggregated(offload.request_stream(2, 1.0, 10, 10), LLAMA3,
                                            H100, 0.0), "link"),
    (lambda: offload.file_read_bandwidth_bytes_per_s(8 * 1024**2, cache="hot"), "warm, cold"),
    (lambda: offload.file_read_bandwidth_bytes_per_s(1024), "size_bytes"),
    (lambda: offload.file_read_bandwidth_bytes_per_s(9 * 1024**2), "multiple"),
    (lambda: offload.file_read_bandwidth_bytes_per_s(8 * 1024**2, directory="/no/such/dir"),
     "existing folder"),
    (lambda: offload.cold_read_verdict(0.0, 1e9), "cold_bytes_per_s"),
])
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_percentile_must_be_0_to_100():
    run = offload.simulate_colocated(offload.request_stream(3, 1.0, 100, 10), LLAMA3, H100)
    with pytest.raises(ValueError, match="percentile"):
        run.time_to_first_token_s(101)


# ---------------------------------------------------------------- the dashboard


def test_disaggregation_readout_names_both_modes():
    reading = widgets.disaggregation_reading(4096, 256, "infiniband-ndr")
    assert reading.kv_bytes == LLAMA3_KV_PER_TOKEN * 4096
    assert reading.kv_transfer_s == pytest.approx(LLAMA3_KV_PER_TOKEN * 4096 / 50e9)
    text = widgets.describe_disaggregation(reading)
    assert "co-located (2 GPUs)" in text and "disaggregated (1 + 1)" in text


def test_extreme_settings_give_a_message_not_an_exception():
    text = widgets.describe_disaggregation(widgets.disaggregation_reading(32768, 1024,
                                                                          "pcie4-x16"))
    assert "do NOT fit" in text
    text = widgets.describe_disaggregation(widgets.disaggregation_reading(128, 1, "nvlink4"))
    assert "n/a (one-token answers)" in text


def test_disaggregation_dashboard_builds_and_reacts():
    box = widgets.disaggregation_dashboard(n_requests=8)
    prompt_slider, output_slider, link_picker = box.children[0].children
    readout = box.children[1]
    before = readout.value
    assert "prompts ~8,192 tokens" in before
    prompt_slider.value = 1024
    assert "prompts ~1,024 tokens" in readout.value
    link_picker.value = "pcie4-x16"
    assert "over pcie4-x16" in readout.value
    output_slider.value = 16
    assert "answers ~16 tokens" in readout.value


# ---------------------------------------------------------------- fixes: names, numbers, limits


def test_one_dtype_or_link_name_is_not_split_into_letters():
    (row,) = offload.quantized_decode(LLAMA2, H100, dtypes="int4")
    assert row.dtype == "int4"
    assert row.weight_bytes == (models.param_count(LLAMA2) + 1) // 2  # half a byte each
    tiers = offload.sourced_tiers("h100-sxm", "pcie5-x16")
    assert [t.name for t in tiers] == ["NVIDIA H100 SXM HBM3", "pcie5-x16"]
    assert [t.bandwidth_bytes_per_s for t in tiers] == [3.35e12, 63e9]


def test_numpy_integers_give_exact_python_ints():
    # 4 sequences x 4,096 tokens x 524,288 bytes = 8,589,934,592: past the int32 range
    kv = offload.kv_offload(LLAMA2, np.int32(4096), np.int32(4096), PCIE4_BYTES_PER_S,
                            batch=np.int32(4))
    assert kv.offloaded_kv_bytes == 4 * 4096 * LLAMA2_KV_PER_TOKEN == 8_589_934_592
    assert type(kv.offloaded_kv_bytes) is int and type(kv.batch) is int
    step = offload.offloaded_batch_step(LLAMA2, H100, PCIE4, np.int64(2), np.int64(512))
    assert type(step.batch) is int and type(step.context_len) is int
    assert step.needed_device_bytes == 2 * 513 * LLAMA2_KV_PER_TOKEN


def test_a_decode_step_at_context_len_needs_room_for_context_len_plus_one_tokens():
    # the step reads 1,024 cached tokens and writes the 1,025th: weights + 1,025 tokens of KV,
    # + one layer's fp16 activations (2 x 4096 + 96 x 128 + 2 x 11008 values) + fp32 logits
    weights = models.weight_bytes(LLAMA2, "fp16")
    activations = (2 * 4096 + 96 * 128 + 2 * 11008) * 2 + 32000 * 4
    needed = weights + 1025 * LLAMA2_KV_PER_TOKEN + activations
    exact_fit = dataclasses.replace(H100, capacity_bytes=float(needed))
    one_short = dataclasses.replace(H100, capacity_bytes=float(needed - 1))
    (fits,) = offload.quantized_decode(LLAMA2, exact_fit, 1024, dtypes="fp16")
    (misses,) = offload.quantized_decode(LLAMA2, one_short, 1024, dtypes="fp16")
    assert fits.fits and not misses.fits
    with pytest.raises(ValueError, match="context_len"):
        offload.largest_offloaded_batch(LLAMA2, H100, 0)  # no step runs at context 0


def test_request_stream_token_means_have_a_maximum():
    assert offload.request_stream(1, 1.0, 1_000_000, 1_000_000)[0].output_tokens >= 500_000
    with pytest.raises(ValueError, match="mean_output_tokens must be an integer between 1 and "
                                         "1000000, got 100000000"):
        offload.request_stream(1, 1.0, 10, 10**8)
    with pytest.raises(ValueError, match="mean_prompt_tokens"):
        offload.request_stream(1, 1.0, 1_000_001, 10)


def test_a_simulation_too_long_to_finish_is_refused():
    # 20,000,001 output tokens would take a decode step each: refused before it starts
    requests = [offload.Request(0, 0.0, 10, 10_000_000), offload.Request(1, 1.0, 10, 10_000_001)]
    for simulate in (lambda: offload.simulate_colocated(requests, LLAMA3, H100),
                     lambda: offload.simulate_disaggregated(requests, LLAMA3, H100, PCIE4)):
        with pytest.raises(ValueError, match="20,000,001 output tokens"):
            simulate()
