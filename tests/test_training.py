"""Lesson 05's many-device training memory (ZeRO, offload) against the ZeRO paper's arithmetic."""

import pytest

from memwall_lab import models, training

# ZeRO (Rajbhandari et al., arXiv 1910.02054), Figure 1 / Section 5: a 7.5B-parameter model,
# mixed-precision Adam (K = 12), on N_d = 64 data-parallel GPUs.
PSI, N_D, K = 7_500_000_000, 64, 12


def test_zero_paper_worked_example_by_hand():
    baseline = (2 + 2 + K) * PSI                  # 120 GB
    stage_1 = 2 * PSI + 2 * PSI + K * PSI // N_D  # 31.4 GB
    stage_2 = 2 * PSI + (2 + K) * PSI // N_D      # 16.6 GB
    stage_3 = (2 + 2 + K) * PSI // N_D            # 1.9 GB
    assert (baseline, stage_1, stage_2, stage_3) == (
        120_000_000_000, 31_406_250_000, 16_640_625_000, 1_875_000_000)
    got = [training.zero_bytes_per_device(PSI, stage, N_D).device_bytes for stage in range(4)]
    assert got == [baseline, stage_1, stage_2, stage_3]
    assert [round(size / 1e9, 1) for size in got] == [120.0, 31.4, 16.6, 1.9]  # as printed


def test_each_stage_shards_one_more_kind_of_state():
    one = training.zero_bytes_per_device(PSI, 0, N_D)
    assert (one.weight_bytes, one.gradient_bytes, one.optimizer_bytes) == (
        2 * PSI, 2 * PSI, 12 * PSI)
    stage_1 = training.zero_bytes_per_device(PSI, 1, N_D)
    assert (stage_1.weight_bytes, stage_1.gradient_bytes) == (2 * PSI, 2 * PSI)
    assert stage_1.optimizer_bytes == 12 * PSI // 64
    stage_2 = training.zero_bytes_per_device(PSI, 2, N_D)
    assert (stage_2.weight_bytes, stage_2.gradient_bytes) == (2 * PSI, 2 * PSI // 64)
    stage_3 = training.zero_bytes_per_device(PSI, 3, N_D)
    assert stage_3.weight_bytes == 2 * PSI // 64
    assert all(isinstance(size, int) for size in (
        stage_3.weight_bytes, stage_3.gradient_bytes, stage_3.optimizer_bytes, stage_3.host_bytes))


def test_one_device_is_the_unsharded_16_bytes_per_parameter():
    for stage in range(4):
        assert training.zero_bytes_per_device(1_000, stage, 1).device_bytes == 16_000


def test_uneven_shards_round_up_to_the_fullest_device():
    # 1,000 parameters x 12 bytes over 7 devices: 12,000 / 7 = 1714.3 -> 1,715 on the fullest
    assert training.zero_bytes_per_device(1_000, 1, 7).optimizer_bytes == 1_715
    assert training.zero_bytes_per_device(1_000, 3, 7).weight_bytes == 286  # 2,000 / 7


def test_offload_moves_gradients_and_optimizer_states_to_host():
    # ZeRO-Offload (arXiv 2101.06840): fp16 weights stay on the GPU (2 Psi), fp16 gradients and
    # the fp32 master weights + Adam moments (2 Psi + 12 Psi) live in CPU memory.
    single = training.zero_bytes_per_device(PSI, 2, 1, offload=True)
    assert single.device_bytes == 2 * PSI == 15_000_000_000
    assert single.host_bytes == 14 * PSI == 105_000_000_000
    sharded = training.zero_bytes_per_device(PSI, 2, 8, offload=True)
    assert sharded.device_bytes == 2 * PSI
    assert sharded.host_bytes == 14 * PSI // 8


def test_activations_per_device_with_and_without_checkpointing():
    llama = models.get("llama-3-8b")
    n = models.param_count(llama)
    s, h, layers = 8192, 4096, 32
    fused = training.training_memory_per_device(llama, 1, s, stage=2, devices=8)
    assert fused.activation_bytes == layers * 34 * s * h
    assert fused.device_bytes == 2 * n + -(-14 * n // 8) + layers * 34 * s * h
    recomputed = training.training_memory_per_device(llama, 1, s, 2, 8, "recompute")
    assert recomputed.activation_bytes == layers * 2 * s * h
    # a bare parameter count has no layers: states only
    assert training.training_memory_per_device(n, 1, s, 2, 8).activation_bytes == 0


def test_devices_needed_is_the_smallest_count_that_fits():
    llama = models.get("llama-3-8b")
    n = models.param_count(llama)
    act = 32 * 34 * 8192 * 4096
    # stage 1: 4n + 12n / N + act <= 80e9  ->  N >= 12n / (80e9 - 4n - act)
    needed = training.devices_needed(llama, 80e9, 1, 8192, stage=1)
    assert 4 * n + -(-12 * n // needed) + act <= 80e9 < 4 * n + -(-12 * n // (needed - 1)) + act
    assert needed == 9
    assert training.devices_needed(llama, 80e9, 1, 8192, stage=0) is None  # nothing shards
    assert training.devices_needed(llama, 80e9, 1, 8192, stage=3, activations="stored") is None
    assert training.devices_needed(1_000, 1e6, stage=3) == 1


def test_fits_compares_with_the_capacity():
    memory = training.zero_bytes_per_device(PSI, 1, N_D)
    assert memory.fits(32e9) and not memory.fits(31e9)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: training.zero_bytes_per_device(PSI, 4, 8), "stage must be one of 0, 1, 2, 3"),
    (lambda: training.zero_bytes_per_device(PSI, 1, 0), "devices"),
    (lambda: training.zero_bytes_per_device(PSI, 1, 8, offload=1), "offload"),
    (lambda: training.zero_bytes_per_device(7.5e9, 1, 8), "model"),
    (lambda: training.zero_bytes_per_device(0, 1, 8), "parameter count"),
    (lambda: training.devices_needed("gpt2", 0), "capacity_bytes"),
])
def test_bad_arguments_are_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
