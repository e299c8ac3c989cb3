"""Serving (lesson 06): operating points, chunked prefill, the simulator and KV reuse by hand."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_properties import ANYTHING, FUZZ, _answers_or_refuses

from memwall_lab import hardware, models, offload, paging, serving

H100 = hardware.get("h100-sxm")
LLAMA3 = models.get("llama-3-8b")
PCIE5 = hardware.link("pcie5-x16")
NDR = hardware.link("infiniband-ndr")
# Llama-3-8B from its config: 8,030,261,248 parameters, of which the input embedding
# (128,256 x 4,096 = 525,336,576) is a lookup; the untied LM head is a matmul.
WEIGHT_BYTES = 2 * 8_030_261_248  # fp16
MATMUL_PARAMS = 8_030_261_248 - 128_256 * 4_096
KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2  # K and V x layers x KV heads x head dim x 2 bytes
# attention FLOPs per (query, key, layer): 2 (multiply-add) x 32 heads x (128 + 128)
ATTENTION_FLOPS_PER_KEY = 2 * 32 * (128 + 128)
PEAK, BANDWIDTH = 989e12, 3.35e12  # H100 SXM bf16 dense, HBM3


def roofline(flops, bytes_moved):
    return max(flops / PEAK, bytes_moved / BANDWIDTH)


def decode_seconds_by_hand(batch, context):
    weights = roofline(2 * MATMUL_PARAMS * batch, WEIGHT_BYTES)
    attention = roofline(batch * 32 * (context + 1) * ATTENTION_FLOPS_PER_KEY,
                         batch * (context + 1) * KV_PER_TOKEN)
    return weights + attention


# ---------------------------------------------------------------- one batch size


def test_operating_point_by_hand():
    point = serving.operating_point(LLAMA3, H100, batch=4, prompt_tokens=1000, output_tokens=25)
    # the last decode step: every sequence has 1,000 + 25 - 1 = 1,024 tokens cached
    assert point.time_per_output_token_s == pytest.approx(decode_seconds_by_hand(4, 1024))
    assert point.tokens_per_s == pytest.approx(4 / decode_seconds_by_hand(4, 1024))
    # the four prompts in one pass: 4,000 tokens, far past the ridge, so the weights'
    # FLOPs set the time: 2 x matmul params x 4,000 / peak, plus causal attention
    weights_s = 2 * MATMUL_PARAMS * 4000 / PEAK
    attention_s = roofline(4 * 32 * (1000 * 1001 // 2) * ATTENTION_FLOPS_PER_KEY,
                           4 * 1000 * KV_PER_TOKEN)
    assert point.time_to_first_token_s == pytest.approx(weights_s + attention_s)
    assert point.fits and point.fit_note == "fits"


def test_a_batch_too_big_says_so():
    point = serving.operating_point(LLAMA3, H100, batch=512, prompt_tokens=8192,
                                    output_tokens=1)
    # 512 x 8,193 tokens x 131,072 B = 549.8 GB of KV + 16.1 GB of weights = 565.9 GB:
    # 7.07 H100s of 80 GB, so 8
    assert 7.06 < (512 * 8193 * KV_PER_TOKEN + WEIGHT_BYTES) / 80e9 < 7.08
    assert not point.fits and point.fit_note == "does not fit: needs 8 devices"


def test_decode_batching_is_nearly_free_and_prefill_batching_is_not():
    one, many = serving.batch_sweep(LLAMA3, H100, 2048, 512, batches=(1, 64))
    assert many.time_to_first_token_s == pytest.approx(64 * one.time_to_first_token_s, rel=0.05)
    assert many.time_per_output_token_s < 3 * one.time_per_output_token_s
    assert many.tokens_per_s > 20 * one.tokens_per_s


def test_pareto_front_keeps_the_fitting_points_nothing_beats():
    fp16 = serving.batch_sweep(LLAMA3, H100, 2048, 512)
    fp8 = serving.batch_sweep(LLAMA3, H100, 2048, 512, kv_dtype="fp8")
    # one curve: more batch, more throughput and more latency -- every fitting point stays
    assert serving.pareto_front(fp16) == [p for p in fp16 if p.fits]
    # an fp8 cache reads half the KV bytes: at each batch it is faster for the same tokens,
    # so no fp16 point survives beside the fp8 ones
    assert serving.pareto_front(fp16 + fp8) == [p for p in fp8 if p.fits]
    assert serving.batch_sweep(LLAMA3, H100, 100, 10, batches=8)[0].batch == 8


# ---------------------------------------------------------------- a hybrid step


def test_a_hybrid_step_without_chunk_is_a_decode_step_and_without_decodes_a_prefill():
    decode = serving.hybrid_step_time(LLAMA3, H100, 16, 2048, chunk_tokens=0)
    assert decode.seconds == pytest.approx(models.decode_time(LLAMA3, H100, 2048, 16).seconds)
    prefill = serving.hybrid_step_time(LLAMA3, H100, 0, 1, chunk_tokens=3000)
    assert prefill.seconds == pytest.approx(models.prefill_time(LLAMA3, H100, 3000).seconds)


def test_hybrid_step_by_hand():
    step = serving.hybrid_step_time(LLAMA3, H100, decode_batch=100, decode_context=8192,
                                    chunk_tokens=512, chunk_prefix=1024)
    # weights: 612 tokens, past the ridge: compute-bound
    assert step.seconds_weights == pytest.approx(2 * MATMUL_PARAMS * 612 / PEAK)
    assert step.seconds_decode_attention == pytest.approx(100 * 8193 * KV_PER_TOKEN / BANDWIDTH)
    # the chunk's queries 1,025..1,536 see 1,025..1,536 keys in each of 32 layers; it reads
    # the 1,024 prefix tokens' KV and writes its own 512
    keys = 512 * 1024 + 512 * 513 // 2
    assert step.seconds_chunk_attention == pytest.approx(roofline(
        32 * keys * ATTENTION_FLOPS_PER_KEY, (1024 + 512) * KV_PER_TOKEN))
    assert step.seconds == pytest.approx(step.seconds_weights + step.seconds_decode_attention
                                         + step.seconds_chunk_attention)
    assert step.tokens == 612


def test_chunks_add_up_to_the_whole_prompts_attention_flops_but_reread_the_weights():
    kernels = serving._StepKernels(LLAMA3, H100, "fp16", None)
    whole = models.prefill(LLAMA3, 2048).attention_flops
    chunked = sum(32 * (512 * p + 512 * 513 // 2) * ATTENTION_FLOPS_PER_KEY
                  for p in (0, 512, 1024, 1536))
    assert chunked == whole
    four = sum(kernels.weights_s(512) for _ in range(4))
    assert four >= kernels.weights_s(2048)  # the same FLOPs, the weights read four times


def test_largest_chunk_meets_the_step_target_and_one_more_token_does_not():
    chunk = serving.largest_chunk_tokens(LLAMA3, H100, 100, 8192, 0.050, kv_dtype="fp8")
    assert serving.hybrid_step_time(LLAMA3, H100, 100, 8192, chunk, 0,
                                    kv_dtype="fp8").seconds <= 0.050
    assert serving.hybrid_step_time(LLAMA3, H100, 100, 8192, chunk + 1, 0,
                                    kv_dtype="fp8").seconds > 0.050
    # by hand: 100 fp8 caches of 8,193 tokens take 100 x 8,193 x 65,536 B / 3.35 TB/s = 16.0 ms;
    # the weights at 100 + c tokens, compute-bound, take 2 x matmul params x (100 + c) / peak;
    # the chunk's attention adds ~1 ms, so c is a little under 34 ms x peak / (2 x params) - 100
    by_hand = (0.050 - 100 * 8193 * 65_536 / BANDWIDTH) * PEAK / (2 * MATMUL_PARAMS) - 100
    assert 0.9 * by_hand < chunk < by_hand
    # a later chunk attends to more of its prompt: it must be smaller
    assert serving.largest_chunk_tokens(LLAMA3, H100, 100, 8192, 0.050, chunk_prefix=6000,
                                        kv_dtype="fp8") < chunk
    # decodes that alone take longer than the target leave no room at all
    assert serving.largest_chunk_tokens(LLAMA3, H100, 100, 8192, 0.010) == 0


def test_hybrid_step_refuses_an_empty_step():
    with pytest.raises(ValueError, match="at least one token"):
        serving.hybrid_step_time(LLAMA3, H100, 0, 100, 0)


# ---------------------------------------------------------------- the simulator


def test_offload_re_exports_the_simulator():
    assert offload.simulate_colocated is serving.simulate_colocated
    assert offload.Request is serving.Request and offload.ServingRun is serving.ServingRun
    assert offload.kv_transfer_seconds is serving.kv_transfer_seconds


def test_a_lone_prompt_is_prefilled_in_chunks_of_the_budget():
    request = serving.Request(0, 0.0, prompt_tokens=1000, output_tokens=3)
    (served,) = serving.simulate_colocated([request], LLAMA3, H100, replicas=1,
                                           token_budget=512).served
    first = serving.hybrid_step_time(LLAMA3, H100, 0, 1, 512, 0).seconds
    second = serving.hybrid_step_time(LLAMA3, H100, 0, 1, 488, 512).seconds
    assert served.prefill_start_s == 0.0
    assert served.first_token_s == pytest.approx(first + second)
    # two decode steps at the mean context rounded up to 16 tokens: 1,008 then 1,008
    step = decode_seconds_by_hand(1, 1008)
    assert served.finish_s == pytest.approx(first + second + 2 * step)
    assert served.longest_gap_s == pytest.approx(step)


def test_chunked_prefill_removes_the_stall_that_prefill_first_causes():
    talker = serving.Request(0, 0.0, prompt_tokens=100, output_tokens=400)
    long_prompt = serving.Request(1, 0.5, prompt_tokens=8000, output_tokens=2)
    first = serving.simulate_colocated([talker, long_prompt], LLAMA3, H100, replicas=1,
                                       token_budget=None)
    chunked = serving.simulate_colocated([talker, long_prompt], LLAMA3, H100, replicas=1,
                                         token_budget=512)
    stall = models.prefill_time(LLAMA3, H100, 8000).seconds
    # prefill first: the talker waits out the whole 8,000-token prefill between two tokens
    assert first.served[0].longest_gap_s >= stall
    # chunked: no step carries more than 512 tokens, so no gap is longer than the
    # biggest such step (1 decode + 511 prompt tokens at the end of the prompt)
    worst_step = serving.hybrid_step_time(LLAMA3, H100, 1, 500, 511, 8000 - 511).seconds
    assert chunked.served[0].longest_gap_s <= worst_step * 1.0001 < stall / 5
    # the price: the long prompt's first token comes later (16 passes over the weights)
    assert chunked.served[1].time_to_first_token_s > first.served[1].time_to_first_token_s


def test_decodes_that_fill_the_budget_delay_prefill_but_never_stop():
    talkers = [serving.Request(i, 0.0, 10, 50) for i in range(4)]
    late = serving.Request(4, 0.001, 64, 2)
    run = serving.simulate_colocated([*talkers, late], LLAMA3, H100, replicas=1,
                                     token_budget=4)
    assert len(run.served) == 5
    # four decodes take the whole budget: the late prompt starts when the first talker ends
    assert run.served[4].prefill_start_s >= min(s.finish_s for s in run.served[:4]) - 1e-12


def test_more_prefill_devices_start_prompts_together():
    two = [serving.Request(0, 0.0, 4096, 8), serving.Request(1, 0.0, 4096, 8)]
    one = serving.simulate_disaggregated(two, LLAMA3, H100, NDR)
    both = serving.simulate_disaggregated(two, LLAMA3, H100, NDR, prefill_devices=2,
                                          decode_devices=2)
    prefill_s = models.prefill_time(LLAMA3, H100, 4096).seconds
    assert [s.prefill_start_s for s in one.served] == [0.0, pytest.approx(prefill_s)]
    assert [s.prefill_start_s for s in both.served] == [0.0, 0.0]
    assert one.gpus == 2 and both.gpus == 4


def test_run_summaries_by_hand():
    requests = [serving.Request(0, 0.0, 100, 11), serving.Request(1, 10.0, 100, 11)]
    run = serving.simulate_colocated(requests, LLAMA3, H100, replicas=1)
    assert run.token_budget == serving.DEFAULT_TOKEN_BUDGET
    (a, b) = run.served
    assert run.makespan_s == pytest.approx(b.finish_s)
    assert run.tokens_per_s == pytest.approx(22 / b.finish_s)
    ttft, tpot = a.time_to_first_token_s, a.time_per_output_token_s
    assert run.slo_attainment(ttft * 2, tpot * 2) == 1.0
    assert run.slo_attainment(ttft * 2, tpot / 2) == 0.0
    assert run.longest_gap_s(50) == pytest.approx(a.longest_gap_s)


@pytest.mark.parametrize("call, message", [
    (lambda: serving.simulate_colocated([serving.Request(0, 0.0, 10, 10)], LLAMA3, H100,
                                        token_budget=0), "token_budget"),
    (lambda: serving.simulate_disaggregated([serving.Request(0, 0.0, 10, 10)], LLAMA3, H100,
                                            NDR, prefill_devices=0), "prefill_devices"),
    (lambda: serving.batch_sweep(LLAMA3, H100, 100, 10, batches=()), "at least one"),
    (lambda: serving.pareto_front([1, 2]), "OperatingPoint"),
    (lambda: serving.kv_reuse(LLAMA3, H100, 1024, []), "at least one"),
    (lambda: serving.kv_reuse(LLAMA3, H100, 1024, 0.0), "path bandwidth"),
    (lambda: serving.published_result("nope"), "unknown published serving result"),
])
def test_bad_input_is_a_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------- reuse a cached prefix


def test_kv_reuse_by_hand():
    reuse = serving.kv_reuse(LLAMA3, H100, 8192, PCIE5)
    assert reuse.kv_bytes == 8192 * KV_PER_TOKEN == 1_073_741_824
    assert reuse.reload_s == pytest.approx(1_073_741_824 / 63e9)
    assert reuse.recompute_s == pytest.approx(models.prefill_time(LLAMA3, H100, 8192).seconds)
    weights_s = 2 * MATMUL_PARAMS * 8192 / PEAK  # the prefill is compute-bound
    assert reuse.recompute_s > weights_s
    assert reuse.recompute_flops == models.prefill(LLAMA3, 8192).flops
    assert reuse.flops_per_kv_byte == pytest.approx(reuse.recompute_flops / 1_073_741_824)
    assert reuse.break_even_bytes_per_s == pytest.approx(1_073_741_824 / reuse.recompute_s)
    assert reuse.speedup == pytest.approx(reuse.recompute_s / reuse.reload_s)
    assert reuse.better == "reload"
    # the slowest link of the path sets the reload: an NVMe drive behind PCIe 5
    slow = serving.kv_reuse(LLAMA3, H100, 8192, [hardware.link("nvme-gen4"), PCIE5])
    assert slow.reload_bandwidth_bytes_per_s == 7.45e9
    assert serving.kv_reuse(LLAMA3, H100, 8192, 1e9).better == "recompute"


def test_reload_wins_more_easily_for_bigger_models_with_fewer_kv_heads():
    # break-even bandwidth = KV bytes / prefill time: MHA Llama-2-7B needs ~34 GB/s,
    # GQA Llama-3-8B ~7.6 GB/s, Llama-3-70B (80 layers x 8 KV heads, 9x the FLOPs) ~2.2 GB/s
    even = {name: serving.kv_reuse(name, H100, 8192, PCIE5).break_even_bytes_per_s
            for name in ("llama-2-7b", "llama-3-8b", "llama-3-70b")}
    assert even["llama-2-7b"] > even["llama-3-8b"] > even["llama-3-70b"]
    assert 30e9 < even["llama-2-7b"] < 40e9 and 7e9 < even["llama-3-8b"] < 8e9


def test_reload_once_per_request_moves_far_fewer_bytes_than_offload_every_step():
    once = serving.kv_reuse(LLAMA3, H100, 4096, PCIE5).kv_bytes
    every_step = offload.kv_offload(LLAMA3, 4096, 4096, PCIE5).offloaded_kv_bytes
    assert once == every_step  # one step's offload is the whole reload ...
    assert 256 * every_step == 256 * once  # ... and a 256-token answer repeats it 256 times


# ---------------------------------------------------------------- what the papers measured

SOURCE = re.compile(r"^https?://\S+$")


def test_every_published_result_has_a_source_a_claim_and_a_note():
    results = serving.published_results()
    assert len({r.name for r in results}) == len(results) >= 8
    for result in results:
        assert re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", result.name), result.name
        assert SOURCE.match(result.source) and result.note and result.setting, result.name
        assert result.value > 0 and result.unit in ("x", "%"), result.name
        assert result.value_low is None or 0 < result.value_low < result.value
        # the figure is in the claim as the paper words it
        assert f"{result.value:g}" in result.claim, result.name
        assert 2023 <= result.year <= 2025
    systems = {r.system for r in results}
    assert {"DistServe", "Splitwise", "Sarathi-Serve", "vLLM"} <= systems
    assert serving.published_result("distserve-requests").value == 7.4
    assert serving.published_result("sarathi-serve-mistral-7b").value == 2.6


# ---------------------------------------------------------------- any value in any argument

REQUESTS = serving.request_stream(4, 10.0, 64, 4)
POINTS = serving.batch_sweep("gpt2", H100, 64, 8, batches=(1, 4))
TRACE = paging.request_trace(n_requests=5, mean_prompt_tokens=8, mean_output_tokens=4,
                             max_tokens=32)
CASES = [
    ("serving.operating_point", serving.operating_point,
     dict(model="gpt2", device=H100, batch=2, prompt_tokens=64, output_tokens=8, dtype="fp16",
          kv_dtype=None)),
    ("serving.batch_sweep", serving.batch_sweep,
     dict(model="gpt2", device=H100, prompt_tokens=64, output_tokens=8, batches=(1, 2),
          dtype="fp16", kv_dtype="fp8")),
    ("serving.pareto_front", serving.pareto_front, dict(points=POINTS)),
    ("serving.hybrid_step_time", serving.hybrid_step_time,
     dict(model="gpt2", device=H100, decode_batch=4, decode_context=64, chunk_tokens=32,
          chunk_prefix=16, dtype="fp16", kv_dtype=None)),
    ("serving.simulate_colocated", serving.simulate_colocated,
     dict(requests=REQUESTS, model="gpt2", device=H100, replicas=2, dtype="fp16",
          token_budget=64)),
    ("serving.simulate_disaggregated", serving.simulate_disaggregated,
     dict(requests=REQUESTS, model="gpt2", device=H100, link=PCIE5, dtype="fp16",
          prefill_devices=1, decode_devices=2)),
    ("serving.kv_reuse", serving.kv_reuse,
     dict(model="gpt2", device=H100, prefix_tokens=256, path=PCIE5, dtype="fp16",
          kv_dtype=None)),
    ("serving.published_result", serving.published_result, dict(name="vllm-throughput")),
    ("serving.largest_chunk_tokens", serving.largest_chunk_tokens,
     dict(model="gpt2", device=H100, decode_batch=4, decode_context=64, max_step_s=0.01,
          chunk_prefix=0, dtype="fp16", kv_dtype=None, limit=100_000)),
    ("paging.request_trace", paging.request_trace,
     dict(n_requests=5, mean_prompt_tokens=8, mean_output_tokens=4, max_tokens=32,
          arrivals_per_step=0.5, seed=0)),
    ("paging.replay", paging.replay,
     dict(trace=TRACE, block_tokens=4, kv_bytes_per_token=2, n_blocks=None)),
    ("paging.pool_blocks", paging.pool_blocks, dict(trace=TRACE, block_tokens=4)),
    ("paging.requests_that_fit", paging.requests_that_fit,
     dict(free_tokens=1000, block_tokens=16, tokens_per_request=100)),
]


@pytest.mark.parametrize("label, function, kwargs", CASES, ids=[case[0] for case in CASES])
@FUZZ
@given(data=st.data())
def test_any_value_in_any_argument_answers_or_raises_a_clear_error(label, function, kwargs,
                                                                    data):
    key = data.draw(st.sampled_from(sorted(kwargs)), label="argument")
    value = data.draw(ANYTHING, label="value")
    _answers_or_refuses(lambda: function(**{**kwargs, key: value}))


@pytest.mark.parametrize("label, function, kwargs", CASES, ids=[case[0] for case in CASES])
def test_the_valid_arguments_of_each_case_answer(label, function, kwargs):
    function(**kwargs)  # the fuzzing starts from a point that answers
