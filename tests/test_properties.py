"""Bad input, closed as a class: every public function answers or raises a clear ValueError.

Hypothesis feeds arbitrary values (huge, negative and zero ints, nan and inf,
bools, numpy scalars of several dtypes, strings, None, lists, dicts) into one
argument of each public function at a time. The result must be a sound answer
(no NaN anywhere in it, every property computable) or a ValueError/TypeError
with a message; never another exception. A falsy value given for an optional
argument ("", 0, False) must never silently give the "not given" answer.
The second half pins each case the issue named, by hand.
"""

import dataclasses
import math
import numbers
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memwall_lab import (
    edge,
    hardware,
    inference,
    models,
    offload,
    roofline,
    timing,
    training,
    units,
    validate,
    widgets,
)

H100 = hardware.get("h100-sxm")
LLAMA = models.get("llama-2-7b")
TINY = inference.TransformerConfig(layers=2, d_model=16, heads=4, kv_heads=2, ffn=32, vocab=64,
                                   max_context=32)
LINK = hardware.link("pcie5-x16")
REQUESTS = offload.request_stream(4, 10.0, 64, 4)
RUN = offload.simulate_colocated(REQUESTS, "gpt2", "h100-sxm")
FUZZ = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- strategies

NUMPY_SCALARS = st.one_of(
    st.integers(0, 120).map(np.int8), st.integers(0, 250).map(np.uint8),
    st.integers(-(2**40), 2**40).map(np.int64), st.integers(0, 2**40).map(np.uint64),
    st.floats(width=16).map(np.float16), st.floats(width=32).map(np.float32),
    st.floats().map(np.float64), st.booleans().map(np.bool_),
)
ANYTHING = st.one_of(
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, 1, -1, 2, 7, 64, 1024, 2**31, 2**63, 10**18, 10**18 + 1, 10**400,
                     -(10**400), 0.0, -0.0, 0.5, 1e-300, 1e300, math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    NUMPY_SCALARS,
    st.sampled_from(["", "fp16", "int4", "h100-sxm", "llama-2-7b", "pcie5-x16", "adam", "x"]),
    st.text(max_size=6),
    st.none(),
    st.lists(st.integers(0, 4), max_size=3),
    st.lists(st.sampled_from(["fp16", "llama-2-7b", "h100-sxm"]), min_size=1, max_size=2),
    st.dictionaries(st.sampled_from(["bf16", "fp16", "x"]), st.floats(), max_size=2),
)
FALSY = ["", 0, 0.0, False, np.int64(0), np.float32(0.0), np.False_, [], ()]


def _check_sound(value, depth: int = 0) -> None:
    """No NaN anywhere in a result, and every property of a result dataclass computes."""
    if depth > 3:
        return
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        assert not math.isnan(float(value)), "a NaN came out"
    elif isinstance(value, (list, tuple)):
        for item in value[:8]:
            _check_sound(item, depth + 1)
    elif isinstance(value, dict):
        for item in list(value.values())[:8]:
            _check_sound(item, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _check_sound(getattr(value, field.name), depth + 1)
        for name, member in vars(type(value)).items():
            if isinstance(member, property):
                _check_sound(getattr(value, name), depth + 1)


def _answers_or_refuses(call) -> None:
    """`call()` gives a sound result or a ValueError/TypeError with a message; nothing else."""
    try:
        result = call()
    except (ValueError, TypeError) as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return
    _check_sound(result)


# ---------------------------------------------------------------- one argument at a time

# (label, function, valid keyword arguments); each example replaces one of them
CASES = [
    ("models.get", models.get, dict(name="llama-2-7b")),
    ("models.as_model", models.as_model, dict(model="gpt2")),
    ("models.dtype_bits", models.dtype_bits, dict(dtype="fp16")),
    ("models.bytes_for", models.bytes_for, dict(n_elements=7, dtype="int4")),
    ("models.param_count", models.param_count, dict(model="gpt2")),
    ("models.weight_bytes", models.weight_bytes, dict(model="gpt2", dtype="fp16")),
    ("models.kv_bytes_per_token", models.kv_bytes_per_token, dict(model="gpt2", dtype="fp8")),
    ("models.kv_cache_bytes", models.kv_cache_bytes,
     dict(model="mistral-7b", context_len=4096, batch=2, dtype="fp16")),
    ("models.decode_step", models.decode_step,
     dict(model="deepseek-v3", context_len=1024, batch=2, dtype="fp8", kv_dtype=None)),
    ("models.prefill", models.prefill,
     dict(model="mixtral-8x7b", prompt_len=512, batch=2, dtype="fp16", kv_dtype="int8")),
    ("models.decode_time", models.decode_time,
     dict(model="llama-2-7b", device=H100, context_len=1024, batch=4, dtype="fp16",
          kv_dtype=None, compute_dtype=None)),
    ("models.prefill_time", models.prefill_time,
     dict(model="gpt2", device="a100-80gb", prompt_len=256, batch=1, dtype="bf16",
          kv_dtype=None, compute_dtype="bf16")),
    ("models.step_time", models.step_time,
     dict(cost=models.decode_step("gpt2", 64), device=H100, compute_dtype="bf16")),
    ("models.peak_flops_for", models.peak_flops_for, dict(device=H100, dtype="int4")),
    ("models.critical_batch", models.critical_batch,
     dict(model="gpt2", device=H100, dtype="fp16", compute_dtype=None, max_batch=4096)),
    ("models.activation_bytes", models.activation_bytes,
     dict(model="llama-2-7b", tokens=8, batch=2, dtype="fp16")),
    ("models.decode_fits", models.decode_fits,
     dict(model="llama-2-7b", device=H100, context_len=4096, batch=2, dtype="fp16",
          kv_dtype=None)),
    ("models.free_bytes_beside_weights", models.free_bytes_beside_weights,
     dict(model="llama-2-7b", device=H100, dtype="fp16")),
    ("models.max_batch", models.max_batch,
     dict(model="llama-2-7b", device=H100, context_len=4096, dtype="fp16", kv_dtype=None)),
    ("models.max_context_len", models.max_context_len,
     dict(model="llama-2-7b", device=H100, batch=8, dtype="fp16", kv_dtype=None, limit=None)),
    ("models.kv_token_budget", models.kv_token_budget,
     dict(model="llama-2-7b", device=H100, dtype="fp16", kv_dtype=None)),
    ("models.Model", models.Model,
     dict(name="mine", d_model=256, n_layers=4, n_heads=8, vocab_size=1000, ffn_hidden=1024,
          n_kv_heads=None, head_dim=None, mlp="gated", tied_embeddings=False,
          sliding_window=0, sliding_layers=0, n_experts=0, experts_per_token=0)),
    ("hardware.get", hardware.get, dict(name="h100-sxm")),
    ("hardware.names", hardware.names, dict(kind=None)),
    ("hardware.link", hardware.link, dict(name="pcie5-x16")),
    ("hardware.memory_tech", hardware.memory_tech, dict(name="hbm3")),
    ("hardware.memory_tech_names", hardware.memory_tech_names, dict(family=None)),
    ("hardware.history", hardware.history, dict(series="peak_flops")),
    ("hardware.fit_growth", hardware.fit_growth,
     dict(series="dram_bandwidth", start_year=None, end_year=None)),
    ("hardware.Hardware.peak", H100.peak, dict(dtype="bf16")),
    ("hardware.Hardware.ridge_flops_per_byte", H100.ridge_flops_per_byte, dict(dtype="fp8")),
    ("hardware.Hardware", lambda **changes: dataclasses.replace(H100, **changes),
     dict(capacity_bytes=80e9, bandwidth_bytes_per_s=3.35e12, peak_flops_per_s={"bf16": 1e15},
          interconnect_bytes_per_s=None, tdp_watts=700.0, year=2022, kind="datacenter",
          name="mine")),
    ("roofline.Roof", roofline.Roof,
     dict(name="mine", peak_flops_per_s=1e12, bandwidth_bytes_per_s=1e11)),
    ("roofline.Roof.from_hardware", roofline.Roof.from_hardware, dict(hw="h100-sxm",
                                                                      dtype="bf16")),
    ("roofline.ridge_point", roofline.ridge_point,
     dict(peak_flops_per_s=1e12, bandwidth_bytes_per_s=1e11)),
    ("roofline.attainable_flops_per_s", roofline.attainable_flops_per_s,
     dict(intensity_flops_per_byte=4.0, peak_flops_per_s=1e12, bandwidth_bytes_per_s=1e11)),
    ("roofline.KernelPoint", roofline.KernelPoint,
     dict(name="k", intensity_flops_per_byte=2.0, flops_per_s=1e9)),
    ("roofline.kernel_on_roof", roofline.kernel_on_roof,
     dict(name="k", intensity_flops_per_byte=2.0,
          roof=roofline.Roof("r", 1e12, 1e11))),
    ("offload.weight_streaming", offload.weight_streaming,
     dict(weight_bytes=10**10, link_bandwidth_bytes_per_s=LINK, resident_bytes=0)),
    ("offload.kv_offload", offload.kv_offload,
     dict(model="llama-2-7b", context_len=4096, offloaded_tokens=1024,
          link_bandwidth_bytes_per_s=64e9, batch=2, kv_dtype="fp16")),
    ("offload.pipeline", offload.pipeline, dict(stage_seconds=[1.0, 2.5], items=4)),
    ("offload.offloaded_batch_step", offload.offloaded_batch_step,
     dict(model="llama-2-7b", device=H100, link=LINK, batch=8, context_len=512, dtype="fp16",
          resident_weight_bytes=0, kv_dtype=None)),
    ("offload.largest_offloaded_batch", offload.largest_offloaded_batch,
     dict(model="llama-2-7b", device=H100, context_len=512, dtype="fp16",
          resident_weight_bytes=0, kv_dtype=None)),
    ("offload.quantized_decode", offload.quantized_decode,
     dict(model="llama-2-7b", device=H100, context_len=512, batch=1, dtypes=("fp16", "int4"),
          kv_dtype="fp16", link=None)),
    ("offload.kv_transfer_seconds", offload.kv_transfer_seconds,
     dict(model="llama-2-7b", prompt_tokens=1024, link=LINK, kv_dtype="fp16")),
    ("offload.request_stream", offload.request_stream,
     dict(n_requests=8, arrival_rate_per_s=5.0, mean_prompt_tokens=128, mean_output_tokens=8,
          seed=0)),
    ("offload.Request", offload.Request,
     dict(index=0, arrival_s=0.0, prompt_tokens=16, output_tokens=4)),
    ("offload.Tier", offload.Tier, dict(name="mine", bandwidth_bytes_per_s=1e9, origin="me")),
    ("offload.sourced_tiers", offload.sourced_tiers,
     dict(device_name="h100-sxm", link_names=("pcie4-x16",))),
    ("offload.cold_read_verdict", offload.cold_read_verdict,
     dict(cold_bytes_per_s=1e9, warm_bytes_per_s=1e10)),
    ("offload.simulate_colocated", offload.simulate_colocated,
     dict(requests=REQUESTS, model="gpt2", device=H100, replicas=2, dtype="fp16")),
    ("offload.simulate_disaggregated", offload.simulate_disaggregated,
     dict(requests=REQUESTS, model="gpt2", device=H100, link=LINK, dtype="fp16")),
    ("offload.ServingRun.time_to_first_token_s", RUN.time_to_first_token_s,
     dict(percentile=90)),
    ("offload.ServingRun.time_per_output_token_s", RUN.time_per_output_token_s,
     dict(percentile=50)),
    ("training.bytes_per_param", training.bytes_per_param,
     dict(optimizer="adam", precision="mixed")),
    ("training.activation_bytes", training.activation_bytes,
     dict(model="gpt2", batch=2, seq_len=1024, mode="stored", precision="fp32")),
    ("training.training_memory", training.training_memory,
     dict(model="gpt2", batch=1, seq_len=512, optimizer="sgd", precision="fp32",
          activations="recompute")),
    ("edge.bus_bandwidth_bytes_per_s", edge.bus_bandwidth_bytes_per_s,
     dict(bus_width_bits=128, transfers_per_s=6.4e9)),
    ("edge.bytes_per_token", edge.bytes_per_token,
     dict(model="llama-3-8b", dtype="int4", context_len=1024, kv_dtype="fp16")),
    ("edge.tokens_per_s_bound", edge.tokens_per_s_bound,
     dict(model="llama-3-8b", device_or_bandwidth="m1", dtype="int4", context_len=1024,
          kv_dtype="fp16")),
    ("edge.memory_needed_bytes", edge.memory_needed_bytes,
     dict(model="llama-3-8b", dtype="int4", context_len=1024, kv_dtype="fp16")),
    ("edge.fits_in_memory", edge.fits_in_memory,
     dict(model="llama-3-8b", device_or_capacity=16e9, dtype="int4", context_len=1024,
          kv_dtype="fp16")),
    ("edge.largest_model_that_fits", edge.largest_model_that_fits,
     dict(candidates=["gpt2", "llama-3-8b"], device_or_capacity="m1", dtype="int4",
          context_len=1024, kv_dtype="fp16")),
    ("inference.numpy_dtype", inference.numpy_dtype, dict(dtype="fp32")),
    ("inference.TransformerConfig", inference.TransformerConfig,
     dict(layers=2, d_model=16, heads=4, kv_heads=2, head_dim=None, ffn=32, vocab=64,
          max_context=32, dtype="fp32", rope=True)),
    ("inference.TransformerConfig.sized_for", inference.TransformerConfig.sized_for,
     dict(weight_bytes=4e6, layers=2, head_dim=16, group_size=2, vocab=256, max_context=64)),
    ("inference.step_cost", inference.step_cost,
     dict(config=TINY, batch=2, new_tokens=3, context_len=5)),
    ("inference.prefill_cost", inference.prefill_cost, dict(config=TINY, batch=2,
                                                            prompt_len=8)),
    ("inference.decode_cost", inference.decode_cost, dict(config=TINY, batch=2,
                                                          context_len=8)),
    ("units.format_bytes", units.format_bytes, dict(size_bytes=33554432)),
    ("units.format_rate", units.format_rate, dict(value_per_s=1.2e10, unit="B/s")),
    ("units.format_seconds", units.format_seconds, dict(seconds=8.5e-8)),
    ("widgets.decode_readings", widgets.decode_readings,
     dict(model_name="gpt2", batch=4, context_len=512,
          roofs=[roofline.Roof("r", 1e12, 1e11)], dtype="fp16", capacities_bytes=None)),
    ("widgets.training_readings", widgets.training_readings,
     dict(model_name_or_params=7e9, optimizer="adam", precision="mixed", batch=1,
          seq_len=2048, activations="flash", accelerator_bytes=80e9)),
    ("widgets.kv_model_view", widgets.kv_model_view,
     dict(model_name="llama-3-8b", attention="mqa")),
    ("widgets.kv_readings", widgets.kv_readings,
     dict(model_name="llama-3-8b", context_len=8192, batch=1, kv_dtype="fp16",
          attention="published", weight_dtype="fp16")),
    ("validate.check_count", validate.check_count, dict(name="n", value=3, minimum=1,
                                                        maximum=None)),
    ("validate.check_positive", validate.check_positive, dict(name="x", value=2.5)),
    ("validate.check_number", validate.check_number, dict(name="x", value=2.5, minimum=0,
                                                          maximum=None)),
    ("validate.check_choice", validate.check_choice, dict(name="c", value="a",
                                                          allowed=("a", "b"))),
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
    _check_sound(function(**kwargs))  # the fuzzing starts from a point that works


# ---------------------------------------------------------------- falsy is not "not given"

OPTIONAL = [
    (models.decode_step, dict(model=LLAMA, context_len=100), "kv_dtype"),
    (models.prefill, dict(model=LLAMA, prompt_len=100), "kv_dtype"),
    (models.decode_time, dict(model=LLAMA, device=H100, context_len=100), "kv_dtype"),
    (models.decode_time, dict(model=LLAMA, device=H100, context_len=100), "compute_dtype"),
    (models.prefill_time, dict(model=LLAMA, device=H100, prompt_len=100), "kv_dtype"),
    (models.prefill_time, dict(model=LLAMA, device=H100, prompt_len=100), "compute_dtype"),
    (models.critical_batch, dict(model=LLAMA, device=H100), "compute_dtype"),
    (models.decode_fits, dict(model=LLAMA, device=H100, context_len=100), "kv_dtype"),
    (models.max_batch, dict(model=LLAMA, device=H100, context_len=100), "kv_dtype"),
    (models.max_context_len, dict(model=LLAMA, device=H100), "kv_dtype"),
    (models.max_context_len, dict(model=LLAMA, device=H100), "limit"),
    (models.kv_token_budget, dict(model=LLAMA, device=H100), "kv_dtype"),
    (offload.offloaded_batch_step, dict(model=LLAMA, device=H100, link=LINK, batch=4,
                                        context_len=100), "kv_dtype"),
    (offload.largest_offloaded_batch, dict(model=LLAMA, device=H100, context_len=100),
     "kv_dtype"),
    (offload.quantized_decode, dict(model=LLAMA, device=H100), "link"),
    (offload.default_file_bytes, dict(quick=True), "directory"),
    (hardware.names, {}, "kind"),
    (hardware.memory_tech_names, {}, "family"),
    (hardware.fit_growth, dict(series="dram_bandwidth"), "start_year"),
    (hardware.fit_growth, dict(series="dram_bandwidth"), "end_year"),
    (inference.TransformerConfig, dict(layers=1, d_model=16, heads=4, kv_heads=2, ffn=32,
                                       vocab=64, max_context=32), "head_dim"),
    (widgets.decode_readings, dict(model_name="gpt2", batch=1, context_len=64,
                                   roofs=[roofline.Roof("r", 1e12, 1e11)]),
     "capacities_bytes"),
]


@pytest.mark.parametrize("falsy", FALSY, ids=repr)
@pytest.mark.parametrize("function, kwargs, optional", OPTIONAL,
                         ids=[f"{f.__qualname__}-{name}" for f, _, name in OPTIONAL])
def test_a_falsy_optional_argument_is_checked_not_read_as_not_given(function, kwargs,
                                                                    optional, falsy):
    with pytest.raises((ValueError, TypeError)) as error:
        function(**kwargs, **{optional: falsy})
    assert str(error.value).strip()


def test_an_empty_dict_of_capacities_is_a_valid_empty_dict():
    roofs = [roofline.Roof("r", 1e12, 1e11)]
    assert widgets.decode_readings("gpt2", 1, 64, roofs, capacities_bytes={}) == \
        widgets.decode_readings("gpt2", 1, 64, roofs)


# ---------------------------------------------------------------- the cases by hand


@pytest.mark.parametrize("kv_dtype", ["", 0, False, np.int64(0)])
def test_a_kv_dtype_of_empty_or_zero_is_an_error_naming_the_dtypes(kv_dtype):
    with pytest.raises(ValueError, match="fp32, fp16, bf16, fp8, int8, int4"):
        models.decode_step(LLAMA, 1024, kv_dtype=kv_dtype)
    with pytest.raises(ValueError, match="fp32, fp16, bf16, fp8, int8, int4"):
        models.max_batch(LLAMA, H100, 1024, kv_dtype=kv_dtype)
    with pytest.raises(ValueError, match="fp32, fp16, bf16, fp8, int8, int4"):
        offload.largest_offloaded_batch(LLAMA, H100, 1024, kv_dtype=kv_dtype)


def test_kv_dtype_none_still_means_the_weight_dtype():
    by_hand = 2 * 32 * 32 * 128 * 1024  # K+V x layers x heads x dims x tokens, 1 byte each
    assert models.decode_step(LLAMA, 1024, dtype="int8").kv_read_bytes == by_hand


@pytest.mark.parametrize("bandwidth", [0, 0.0, -1.0, -3.35e12, math.inf, math.nan, True,
                                       np.float64(0.0)])
def test_a_hand_built_device_with_a_bad_bandwidth_is_refused(bandwidth):
    with pytest.raises(ValueError, match="bandwidth_bytes_per_s must be a positive finite"):
        dataclasses.replace(H100, bandwidth_bytes_per_s=bandwidth)
    duck = types.SimpleNamespace(name="duck", bandwidth_bytes_per_s=bandwidth,
                                 peak_flops_per_s=1e15, capacity_bytes=80e9)
    with pytest.raises(ValueError, match="duck bandwidth_bytes_per_s must be a positive finite"):
        models.decode_time(LLAMA, duck, 1024)  # not a ZeroDivisionError, not "compute-bound"


@pytest.mark.parametrize("peak", [True, np.True_, 0, -1e15, math.inf, "1e15",
                                  {"bf16": True}, {"bf16": 0}, {"tf64": 1e15}])
def test_a_peak_must_be_a_positive_number_or_a_dict_of_them(peak):
    duck = types.SimpleNamespace(name="duck", bandwidth_bytes_per_s=1e12, peak_flops_per_s=peak)
    with pytest.raises(ValueError, match="peak_flops_per_s"):
        models.decode_time(LLAMA, duck, 1024)


def test_an_infinite_or_huge_capacity_is_refused_not_an_overflow():
    for capacity in (math.inf, 10**400, np.float64("inf")):
        with pytest.raises(ValueError, match="capacity_bytes must be a positive finite"):
            dataclasses.replace(H100, capacity_bytes=capacity)
        duck = types.SimpleNamespace(name="duck", bandwidth_bytes_per_s=1e12,
                                     peak_flops_per_s=1e15, capacity_bytes=capacity)
        with pytest.raises(ValueError, match="capacity_bytes must be a positive finite"):
            models.max_batch(LLAMA, duck, 1024)
        with pytest.raises(ValueError, match="capacity_bytes must be a positive finite"):
            offload.largest_offloaded_batch(LLAMA, duck, 1024)


def test_a_hand_built_device_with_numpy_numbers_gives_the_exact_same_answer():
    duck = types.SimpleNamespace(name="duck", bandwidth_bytes_per_s=np.float64(3.35e12),
                                 peak_flops_per_s={"bf16": np.float64(H100.peak("bf16"))},
                                 capacity_bytes=np.int64(80 * 10**9))
    plain = dataclasses.replace(H100, capacity_bytes=80e9)
    assert models.decode_time(LLAMA, duck, 1024, compute_dtype="bf16") == models.decode_time(
        LLAMA, plain, 1024, compute_dtype="bf16")
    assert models.max_batch(LLAMA, duck, 1024) == models.max_batch(LLAMA, plain, 1024)
    numpy_built = dataclasses.replace(H100, bandwidth_bytes_per_s=np.float32(2**40),
                                      year=np.int16(2022))
    assert type(numpy_built.bandwidth_bytes_per_s) is float and type(numpy_built.year) is int


@pytest.mark.parametrize("call", [
    lambda size: models.kv_cache_bytes(LLAMA, size),
    lambda size: models.kv_cache_bytes(LLAMA, 1024, size),
    lambda size: models.decode_time(LLAMA, H100, size),
    lambda size: models.prefill(LLAMA, size),
    lambda size: models.max_context_len(LLAMA, H100, limit=size),
    lambda size: edge.tokens_per_s_bound(LLAMA, "m1", "int4", size),
    lambda size: offload.weight_streaming(size, LINK),
    lambda size: training.activation_bytes(LLAMA, size, 1024),
    lambda size: inference.step_cost(TINY, size, 1, 0),
    lambda size: models.Model("huge", size, 2, 2, 100, 100),
])
def test_absurd_sizes_are_a_value_error_naming_the_bound(call):
    with pytest.raises(ValueError, match=r"at most MAX_COUNT = 10\*\*18"):
        call(10**400)
    with pytest.raises(ValueError, match=r"at most MAX_COUNT = 10\*\*18"):
        call(validate.MAX_COUNT + 1)


@pytest.mark.parametrize("call", [lambda value: units.format_bytes(value),
                                  lambda value: units.format_rate(value, "B/s"),
                                  lambda value: units.format_seconds(value)])
def test_formatters_refuse_numbers_beyond_float_range_and_non_numbers(call):
    for value in (10**400, "12", [1], None, True):
        with pytest.raises(ValueError):
            call(value)
    assert call(np.float32(2.0)) == call(2.0)  # numpy numbers format like Python's


def test_pipeline_takes_numpy_numbers():
    expected = offload.pipeline([1.0, 2.0], 3)
    numpy_stages = offload.pipeline(np.array([1.0, 2.0]), np.int64(3))
    assert numpy_stages == expected
    assert offload.pipeline([np.float32(1.0), np.int64(2)], np.uint8(3)) == expected
    with pytest.raises(ValueError, match="stage_seconds must be a list of times in s, got 5"):
        offload.pipeline(5)
    with pytest.raises(ValueError, match="each stage time in s must be a finite number >= 0"):
        offload.pipeline([1.0, np.float64("nan")])


@pytest.mark.parametrize("percentile", [np.int64(90), np.float32(90.0), np.uint8(90), 90])
def test_serving_run_percentiles_take_numpy_numbers(percentile):
    assert RUN.time_to_first_token_s(percentile) == RUN.time_to_first_token_s(90.0)
    assert RUN.time_per_output_token_s(percentile) == RUN.time_per_output_token_s(90.0)


@pytest.mark.parametrize("percentile", [True, -1, 101, math.nan, "50", None])
def test_serving_run_percentiles_refuse_what_is_not_0_to_100(percentile):
    with pytest.raises(ValueError, match="percentile must be a finite number from 0 to 100"):
        RUN.time_to_first_token_s(percentile)
    with pytest.raises(ValueError, match="percentile must be a finite number from 0 to 100"):
        RUN.time_per_output_token_s(percentile)  # checked even when no request has a TPOT


@pytest.mark.parametrize("call, message", [
    (lambda: models.get(["llama-2-7b"]), r"model name must be a string, got \['llama-2-7b'\] "
                                         r"\(list; for example"),
    (lambda: models.kv_cache_bytes(["llama-2-7b"], 8),
     "model must be a models.Model or a model name such as 'llama-3-8b'"),
    (lambda: hardware.get({"h100-sxm"}), "hardware name must be a string, got {'h100-sxm'}"),
    (lambda: models.decode_time(LLAMA, ["h100-sxm"], 8), "device must be a hardware.Hardware"),
    (lambda: training.training_memory(LLAMA, optimizer=["adam"]),
     "unknown precision/optimizer 'mixed'/\\['adam'\\]; choose from"),
    (lambda: training.activation_bytes(LLAMA, 1, 8, mode=["flash"]),
     r"mode must be one of stored, flash, recompute; got \['flash'\] \(did you mean 'flash'\?\)"),
    (lambda: H100.peak(["bf16"]), r"h100-sxm has no \['bf16'\] peak"),
    (lambda: inference.numpy_dtype(["fp32"]), "dtype must be one of 'fp16', 'fp32', 'fp64'"),
    (lambda: widgets.kv_readings({"llama-3-8b": 1}, 8), "model must be one of llama-2-7b"),
    (lambda: roofline.Roof.from_hardware(["h100-sxm"]),
     "hw must be a hardware.Hardware or a name such as 'h100-sxm'"),
    (lambda: timing.check_choice("cache", ["warm"], {"warm": 1, "cold": 2}),
     "cache must be one of warm, cold"),
])
def test_a_list_where_a_name_goes_is_a_value_error_not_unhashable(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_unknown_names_keep_their_closest_match_hints():
    with pytest.raises(ValueError, match="Closest: llama-2-7b"):
        models.get("llama-2-7")
    with pytest.raises(ValueError, match="Closest: h100-sxm"):
        hardware.get("h100-sx")
    with pytest.raises(ValueError, match=r"did you mean 'adam'\?"):
        widgets.training_readings("gpt2", optimizer="adma")


@pytest.mark.parametrize("batch", [-1, 0, math.nan, 1.5, True, "2", None, 10**400])
def test_step_cost_refuses_bad_batch_sizes_instead_of_negative_or_nan_flops(batch):
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        inference.step_cost(TINY, batch, 1, 0)


def test_step_cost_refuses_tokens_beyond_the_context_it_can_hold():
    with pytest.raises(ValueError, match="new_tokens must be an integer between 1 and 32"):
        inference.step_cost(TINY, 1, 0, 0)
    with pytest.raises(ValueError, match="context_len must be an integer between 0 and 30"):
        inference.step_cost(TINY, 1, 2, 31)
    assert inference.step_cost(TINY, np.int64(2), np.int8(1), np.uint16(7)) == \
        inference.decode_cost(TINY, 2, 7)


def test_hand_built_requests_and_tiers_are_checked():
    with pytest.raises(ValueError, match="output_tokens must be an integer >= 1, got 0"):
        offload.Request(0, 0.0, 16, 0)
    with pytest.raises(ValueError, match="arrival_s must be a finite number >= 0, got nan"):
        offload.Request(0, math.nan, 16, 4)
    with pytest.raises(ValueError, match="bandwidth_bytes_per_s must be a positive finite"):
        offload.Tier("mine", 0, "me")
    assert offload.Request(np.int64(1), np.float32(0.5), np.int32(16), np.uint8(4)) == \
        offload.Request(1, 0.5, 16, 4)


def test_numpy_bools_are_flags_but_ints_are_not():
    assert dataclasses.replace(LLAMA, name="np", tied_embeddings=np.True_).tied_embeddings is True
    with pytest.raises(ValueError, match="tied_embeddings must be True or False, got 1"):
        dataclasses.replace(LLAMA, name="np", tied_embeddings=1)


def test_timing_still_re_exports_the_validators():
    assert timing.check_count is validate.check_count
    assert timing.check_positive is validate.check_positive
    assert timing.check_choice is validate.check_choice
