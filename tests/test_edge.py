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


# ---------------------------------------------------------------- energy per token, by hand

LLAMA3_INT4_BYTES_1024 = 4_149_479_424  # weights + 1,024 tokens of KV read + 1 written (above)


def test_energy_per_token_is_bytes_times_8_times_joules_per_bit():
    by_hand = LLAMA3_INT4_BYTES_1024 * 8 * 3.9e-12  # HBM2's 3.9 pJ/bit: 0.129 J
    assert edge.energy_per_token_joules(LLAMA3, 3.9e-12, "int4", 1024) == pytest.approx(by_hand)
    assert by_hand == pytest.approx(0.12946, rel=1e-4)
    # a memory technology (or its name) brings its own sourced energy per bit
    assert edge.energy_per_token_joules(LLAMA3, "hbm2") == pytest.approx(by_hand)
    assert edge.energy_per_token_joules(LLAMA3, hardware.memory_tech("gddr5")) == pytest.approx(
        LLAMA3_INT4_BYTES_1024 * 8 * 14e-12)


def test_tokens_per_charge_of_a_12_7_wh_battery():
    battery_joules = 12.70 * 3600  # 45,720 J
    per_token = LLAMA3_INT4_BYTES_1024 * 8 * 20e-12  # 2014 DRAM, 20 pJ/bit: 0.664 J
    assert edge.tokens_per_charge(LLAMA3, battery_joules, 20e-12) == pytest.approx(
        battery_joules / per_token)
    assert battery_joules / per_token == pytest.approx(68_870, rel=1e-3)
    # halving the bits of the weights nearly doubles the tokens a charge pays for
    int8 = edge.tokens_per_charge(LLAMA3, battery_joules, 20e-12, "int8")
    assert 1.9 < battery_joules / per_token / int8 < 2.0


def test_memory_power_at_full_bandwidth():
    # the Snapdragon 8 Gen 3 phone streams 76.8 GB/s: x 8 bits x 3.9 pJ/bit = 2.40 W
    assert edge.memory_power_watts("snapdragon-8-gen-3", 3.9e-12) == pytest.approx(2.39616)
    assert edge.memory_power_watts(76.8e9, "hbm2") == pytest.approx(2.39616)


def test_energy_needs_a_sourced_figure():
    with pytest.raises(ValueError, match="no sourced energy per bit.*hbm2"):
        edge.energy_per_token_joules(LLAMA3, "lpddr5x-8533")
    with pytest.raises(ValueError, match="joules_per_bit must be a positive finite number"):
        edge.energy_per_token_joules(LLAMA3, 0)
    with pytest.raises(ValueError, match="battery_joules must be a positive finite number"):
        edge.tokens_per_charge(LLAMA3, -1, 3.9e-12)


def test_chips_to_hold_is_a_ceiling():
    # Llama-3-70B in fp16: 2 x 70,553,706,496 bytes over 230 MB of SRAM per chip
    weights = 2 * 70_553_706_496
    assert edge.chips_to_hold(weights, 230e6) == 614  # 613.5 -> 614
    assert edge.chips_to_hold(weights, 80e9) == 2  # two 80 GB GPUs
    assert edge.chips_to_hold(460e6, 230e6) == 2 and edge.chips_to_hold(460e6 + 1, 230e6) == 3
    with pytest.raises(ValueError, match="bytes_per_chip"):
        edge.chips_to_hold(1e9, 0)


def test_facts_carry_units_and_sources():
    battery = edge.fact("iphone-15-pro-battery")
    assert battery.value == 12.70 and battery.unit == "Wh"
    assert battery.si_value == pytest.approx(45_720.0)  # 12.70 x 3,600 J
    assert edge.fact("groq-lpu-sram").si_value == 230e6
    assert edge.fact("ufs4-sequential-read").si_value == 4.2e9
    assert edge.fact("mi300a-bandwidth").si_value == pytest.approx(5.3e12)
    for name in edge.fact_names():
        assert edge.fact(name).source.startswith("https://"), name
    with pytest.raises(ValueError, match="groq-lpu-sram"):
        edge.fact("groq-sram")


def test_lpddr6_channel_bandwidth_is_pins_times_rate():
    # JESD209-6: a 24-bit channel at 10,667 and 14,400 MT/s
    assert edge.bus_bandwidth_bytes_per_s(24, 10_667e6) == pytest.approx(32.001e9)
    assert hardware.memory_tech("lpddr6-14400").pins_times_rate_bytes_per_s == pytest.approx(
        43.2e9)
    assert hardware.memory_tech("lpddr5x-10700").bandwidth_bytes_per_s == pytest.approx(85.6e9)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: edge.energy_per_token_joules(LLAMA3, None), "joules_per_bit must be a positive"),
    (lambda: edge.energy_per_token_joules(LLAMA3, [3.9e-12]), "joules_per_bit must be a pos"),
    (lambda: edge.energy_per_token_joules(LLAMA3, "hbm9"), "unknown memory technology 'hbm9'"),
    (lambda: edge.tokens_per_charge(LLAMA3, True, 3.9e-12), "battery_joules must be a positive"),
    (lambda: edge.memory_power_watts(None, 3.9e-12), "bandwidth must be a positive number"),
    (lambda: edge.chips_to_hold(math.inf, 230e6), "bytes_needed must be a positive finite"),
    (lambda: edge.fact(["groq-lpu-sram"]), "edge fact name must be a string"),
])
def test_bad_energy_and_fact_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
