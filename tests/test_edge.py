"""edge.py against hand arithmetic from the model configs and the memory-bus formula."""

import math

import numpy as np
import pytest

from memwall_lab import edge, hardware, models

LLAMA3 = models.get("llama-3-8b")
# Llama-3-8B from its config.json, written out: embedding and LM head 128256 x 4096 each;
# per layer Q and O 4096 x 4096, K and V 4096 x 1024, MLP 3 x 4096 x 14336, two norms of 4096;
# a final norm of 4096.
LLAMA3_PARAMS = (2 * 128256 * 4096
                 + 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096)
                 + 4096)
LLAMA3_KV_PER_TOKEN_FP16 = 2 * 32 * 8 * 128 * 2  # K and V x layers x kv heads x head_dim x 2 B


def test_hand_counts_are_what_we_think():
    assert LLAMA3_PARAMS == 8_030_261_248
    assert LLAMA3_KV_PER_TOKEN_FP16 == 131_072


def test_bus_bandwidth_of_apple_m1_and_raspberry_pi_5():
    assert edge.bus_bandwidth_bytes_per_s(128, 4266e6) == pytest.approx(68.256e9)
    assert edge.bus_bandwidth_bytes_per_s(32, 4267e6) == pytest.approx(17.068e9)


def test_bytes_per_token_is_weights_plus_kv_read_plus_kv_written():
    context = 1024
    by_hand = LLAMA3_PARAMS // 2 + context * LLAMA3_KV_PER_TOKEN_FP16 + LLAMA3_KV_PER_TOKEN_FP16
    assert edge.bytes_per_token(LLAMA3, "int4", context) == by_hand == 4_149_479_424


def test_kv_dtype_follows_its_own_argument():
    int8_kv = edge.bytes_per_token(LLAMA3, "int4", 1000, kv_dtype="int8")
    assert int8_kv == LLAMA3_PARAMS // 2 + 1001 * LLAMA3_KV_PER_TOKEN_FP16 // 2


def test_tokens_per_s_bound_from_a_number_and_from_a_device():
    by_hand = 68.25e9 / 4_149_479_424
    assert edge.tokens_per_s_bound(LLAMA3, 68.25e9, "int4", 1024) == pytest.approx(by_hand)
    m1 = hardware.get("m1")
    assert edge.tokens_per_s_bound(LLAMA3, m1, "int4", 1024) == pytest.approx(by_hand)


def test_fp16_weights_cost_four_times_the_int4_weight_bytes():
    fp16 = edge.bytes_per_token(LLAMA3, "fp16", 1)
    int4 = edge.bytes_per_token(LLAMA3, "int4", 1)
    kv = 2 * LLAMA3_KV_PER_TOKEN_FP16  # one cached token read, one written
    assert fp16 - kv == 4 * (int4 - kv) == 2 * LLAMA3_PARAMS


def test_moe_reads_only_its_active_experts():
    mixtral = models.get("mixtral-8x7b")
    # per layer: attention 2 x 4096^2 + 2 x 4096 x 1024, router 4096 x 8, two active experts
    # of 3 x 4096 x 14336, two norms; embedding + LM head 2 x 32000 x 4096; final norm.
    active = (32 * (2 * 4096**2 + 2 * 4096 * 1024 + 4096 * 8 + 2 * 3 * 4096 * 14336 + 2 * 4096)
              + 2 * 32000 * 4096 + 4096)
    assert active == 12_879_925_248
    kv = 2 * 32 * 8 * 128 * 2
    assert edge.bytes_per_token(mixtral, "int4", 1) == active // 2 + 2 * kv


def test_fits_in_memory_on_a_16_gb_m1():
    m1 = hardware.get("m1")  # 16 GB = 16e9 bytes
    assert not edge.fits_in_memory(LLAMA3, m1, "fp16")  # 16.06 GB of weights alone
    assert edge.fits_in_memory(LLAMA3, m1, "int8")
    needed = LLAMA3_PARAMS // 2 + 1024 * LLAMA3_KV_PER_TOKEN_FP16
    assert edge.memory_needed_bytes(LLAMA3, "int4", 1024) == needed
    assert edge.fits_in_memory(LLAMA3, needed, "int4", 1024)
    assert not edge.fits_in_memory(LLAMA3, needed - 1, "int4", 1024)


def test_largest_model_that_fits():
    candidates = [models.get(name) for name in ("gpt2-xl", "phi-3-mini", "llama-3-8b")]
    pi5 = hardware.get("raspberry-pi-5")  # 8 GB
    assert edge.largest_model_that_fits(candidates, pi5, "int4").name == "llama-3-8b"
    # Phi-3-mini in fp16: 7.64 GB of weights + 393,216 B of KV per token (32 full heads)
    assert edge.largest_model_that_fits(candidates, pi5, "fp16", 256).name == "phi-3-mini"
    assert edge.largest_model_that_fits(candidates, pi5, "fp16", 1024).name == "gpt2-xl"
    assert edge.largest_model_that_fits(candidates, 1e9, "fp16") is None


POSITIVE = "bandwidth must be a positive finite number, got "


@pytest.mark.parametrize("bandwidth, message", [
    (0, POSITIVE + "0"),
    (-1.0, POSITIVE + "-1.0"),
    (math.nan, POSITIVE + "nan"),
    (math.inf, POSITIVE + "inf"),
    (True, POSITIVE + "True"),
    ("68 GB/s", r"unknown hardware '68 GB/s'\..* Known: v100"),  # a string is a device name
    (None, "bandwidth must be a positive number, a device name such as 'm1', or a device with "
           "bandwidth_bytes_per_s; got None"),
])
def test_bad_bandwidth_raises(bandwidth, message):
    with pytest.raises(ValueError, match=message):
        edge.tokens_per_s_bound(LLAMA3, bandwidth)


KNOWN_DTYPES = "Known: fp32, fp16, bf16, fp8, int8, int4"


@pytest.mark.parametrize("call, message", [
    (lambda: edge.bus_bandwidth_bytes_per_s(0, 4266e6),
     "bus_width_bits must be an integer >= 1, got 0"),
    (lambda: edge.bus_bandwidth_bytes_per_s(128.5, 4266e6),
     "bus_width_bits must be an integer >= 1, got 128.5"),
    (lambda: edge.bus_bandwidth_bytes_per_s(128, -1),
     "transfers_per_s must be a positive finite number, got -1"),
    (lambda: edge.bytes_per_token(LLAMA3, "int3"), "unknown dtype 'int3'.*" + KNOWN_DTYPES),
    (lambda: edge.bytes_per_token(LLAMA3, "int4", 0),
     "context_len must be an integer >= 1, got 0"),
    (lambda: edge.bytes_per_token(LLAMA3, "int4", 1024, kv_dtype="fp12"),
     "unknown dtype 'fp12'.*" + KNOWN_DTYPES),
    (lambda: edge.fits_in_memory(LLAMA3, 0), "capacity must be a positive finite number, got 0"),
    (lambda: edge.fits_in_memory(LLAMA3, -16e9),
     "capacity must be a positive finite number, got -16000000000.0"),
    (lambda: edge.largest_model_that_fits([], 16e9),
     "candidates must be a non-empty list of models.Model or model names"),
    (lambda: edge.largest_model_that_fits([7], 16e9),
     "model must be a models.Model or a model name such as 'llama-3-8b', got 7"),
    (lambda: edge.largest_model_that_fits(["llama-3-8"], 16e9),
     "unknown model 'llama-3-8'. Closest: llama-3-8b"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_models_and_devices_by_name():
    assert edge.bytes_per_token("llama-3-8b", "int4", 1024) == 4_149_479_424
    m1_bound = edge.tokens_per_s_bound("llama-3-8b", "m1", "int4", 1024)
    assert m1_bound == pytest.approx(68.25e9 / 4_149_479_424)
    assert edge.memory_needed_bytes("llama-3-8b", "int4", 1024) == (
        LLAMA3_PARAMS // 2 + 1024 * LLAMA3_KV_PER_TOKEN_FP16)
    assert not edge.fits_in_memory("llama-3-8b", "m1", "fp16")  # 16.06 GB > 16 GB
    fitting = edge.largest_model_that_fits(["gpt2-xl", "llama-3-8b"], "raspberry-pi-5", "int4")
    assert fitting.name == "llama-3-8b"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: edge.bytes_per_token(None), "model name"),
    (lambda: edge.memory_needed_bytes(8e9), "model name"),
    (lambda: edge.tokens_per_s_bound("llama-3-8", 68e9), "llama-3-8b"),
    (lambda: edge.tokens_per_s_bound(LLAMA3, "m11"), "Closest: m1"),
    (lambda: edge.tokens_per_s_bound(LLAMA3, object()), "device name"),
    (lambda: edge.fits_in_memory(LLAMA3, [16e9]), "device name"),
    (lambda: edge.largest_model_that_fits([None], 16e9), "model name"),
])
def test_bad_model_or_device_says_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_numbers_work_as_capacities_and_bandwidths():
    model = models.get("llama-3-8b")
    assert edge.fits_in_memory(model, np.int64(16 * 2**30)) == edge.fits_in_memory(
        model, 16 * 2**30)
    assert edge.tokens_per_s_bound(model, np.float32(1e11)) == pytest.approx(
        edge.tokens_per_s_bound(model, 1e11))
