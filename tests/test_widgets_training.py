"""Lesson 05's training memory (training.py and its readout) against hand arithmetic."""

import math

import matplotlib.pyplot as plt
import pytest

from memwall_lab import models, training, widgets


def test_mixed_precision_adam_is_16_bytes_per_parameter():
    # 2 (fp16 weights) + 2 (fp16 gradients) + 4 (fp32 master) + 4 + 4 (Adam moments) = 16.
    reading = widgets.training_readings(7e9, "adam", "mixed")
    assert reading.bytes_per_param == (2, 2, 12)
    assert reading.states_bytes == 16 * 7_000_000_000 == 112_000_000_000
    assert reading.activation_bytes is None
    assert reading.total_bytes == 112_000_000_000
    assert reading.times_fp16_weights == pytest.approx(8.0)
    assert reading.accelerators_needed == 2  # 112 GB over 80 GB devices


@pytest.mark.parametrize(("optimizer", "precision", "per_param"), [
    ("sgd", "fp32", 8), ("sgd-momentum", "fp32", 12), ("adam", "fp32", 16),
    ("sgd", "mixed", 8), ("sgd-momentum", "mixed", 12), ("adam", "mixed", 16),
])
def test_state_bytes_per_parameter_by_hand(optimizer, precision, per_param):
    reading = widgets.training_readings(1_000_000, optimizer, precision)
    assert reading.states_bytes == per_param * 1_000_000
    assert sum(reading.bytes_per_param) == per_param


def test_fp32_states_are_three_to_four_times_the_fp32_weights():
    momentum = widgets.training_readings(1_000, "sgd-momentum", "fp32")
    adam = widgets.training_readings(1_000, "adam", "fp32")
    assert momentum.states_bytes == 3 * 4 * 1_000
    assert adam.states_bytes == 4 * 4 * 1_000


def test_named_model_counts_its_parameters_and_activations():
    model = models.get("llama-2-7b")
    reading = widgets.training_readings("llama-2-7b", batch=2, seq_len=1024)
    n_params = models.param_count(model)
    assert reading.n_params == n_params
    assert reading.states_bytes == 16 * n_params
    # Korthikanti et al. with fused attention: 34 bytes x tokens x d_model per layer.
    assert reading.activation_bytes == 32 * 34 * 2 * 1024 * 4096
    assert reading.total_bytes == 16 * n_params + 32 * 34 * 2 * 1024 * 4096
    expected_devices = math.ceil(reading.total_bytes / 80e9)
    assert reading.accelerators_needed == expected_devices == 2


def test_small_model_fits_on_one_accelerator():
    reading = widgets.training_readings(1e9)
    assert reading.accelerators_needed == 1
    assert "fits on one 80 GB accelerator" in widgets.describe_training(reading)


def test_trillion_parameters_shows_a_clear_message():
    reading = widgets.training_readings(1e12)
    assert reading.states_bytes == 16 * 10**12
    assert reading.accelerators_needed == 200  # 16 TB / 80 GB
    text = widgets.describe_training(reading)
    assert "needs 200 accelerators" in text and "far beyond one device" in text


@pytest.mark.parametrize(("argument", "value", "listed"), [
    ("optimizer", "adamw", "adam, sgd-momentum, sgd"),
    ("precision", "bf16", "mixed, fp32"),
])
def test_bad_choice_lists_allowed_values(argument, value, listed):
    with pytest.raises(ValueError, match=listed):
        widgets.training_readings(7e9, **{argument: value})


@pytest.mark.parametrize("count", [0, -5, 0.5, float("nan"), float("inf"), True, None])
def test_bad_parameter_count_raises(count):
    with pytest.raises(ValueError, match="parameter count"):
        widgets.training_readings(count)


def test_unknown_model_name_suggests_a_close_one():
    with pytest.raises(ValueError, match="llama-2-7b"):
        widgets.training_readings("llama-2-7")


def test_readout_names_every_part():
    text = widgets.describe_training(widgets.training_readings("gpt2-xl"))
    for word in ("weights", "gradients", "optimizer", "activations", "total",
                 "x the fp16 weights"):
        assert word in text


def test_dashboard_builds_and_its_readout_follows_the_controls():
    box = widgets.training_dashboard()
    model_picker, params_slider, seq_slider = box.children[0].children
    optimizer_picker, precision_picker, checkpointing_picker = box.children[1].children
    stage_picker, devices_slider, offload_box = box.children[2].children
    readout = box.children[-2]
    assert "llama-2-7b" in readout.value and "16 B/param" in readout.value
    before = readout.value
    optimizer_picker.value = "sgd"
    assert readout.value != before and "sgd, mixed" in readout.value
    precision_picker.value = "fp32"
    assert "sgd, fp32" in readout.value
    model_picker.value = widgets.CUSTOM_MODEL
    params_slider.value = 1000.0
    assert "1,000 billion parameters" in readout.value
    assert "far beyond one device" in readout.value
    stage_picker.value = 3
    devices_slider.value = 512
    assert "ZeRO stage 3 over 512 data-parallel devices" in readout.value
    assert "FITS in one 80 GB accelerator" in readout.value  # 16 TB / 512 = 31.2 GB
    offload_box.value = True
    assert "in host memory" in readout.value
    model_picker.value = "llama-3-8b"
    optimizer_picker.value, precision_picker.value = "adam", "mixed"
    offload_box.value, stage_picker.value, devices_slider.value = False, 1, 8
    seq_slider.value = 8192
    assert "needs at least 9 devices" in readout.value
    checkpointing_picker.value = "recompute"
    assert "FITS" in readout.value


def test_readout_says_whether_one_device_of_the_group_fits():
    # Llama-3-8B, 8 x 80 GB, 8,192 tokens per device, fused attention (34 sbh per layer)
    n = models.param_count(models.get("llama-3-8b"))
    activations = 32 * 34 * 8192 * 4096
    stage_2 = widgets.training_readings("llama-3-8b", seq_len=8192, zero_stage=2, devices=8)
    assert stage_2.per_device.device_bytes == 2 * n + -(-14 * n // 8) + activations
    assert stage_2.fits and stage_2.devices_needed == 5
    assert "FITS in one 80 GB accelerator (83% full)" in widgets.describe_training(stage_2)
    stage_1 = widgets.training_readings("llama-3-8b", seq_len=8192, zero_stage=1, devices=8)
    assert stage_1.per_device.device_bytes == 4 * n + -(-12 * n // 8) + activations
    assert not stage_1.fits
    assert "at ZeRO stage 1 it needs at least 9 devices" in widgets.describe_training(stage_1)
    stage_0 = widgets.training_readings("llama-3-8b", seq_len=8192, devices=8)
    assert stage_0.devices_needed is None
    assert "no number of devices is enough" in widgets.describe_training(stage_0)


def test_offload_readout_names_host_memory():
    reading = widgets.training_readings(7.5e9, zero_stage=2, offload=True)
    assert reading.per_device.device_bytes == 15_000_000_000  # the fp16 weights, 2 B/param
    assert reading.per_device.host_bytes == 105_000_000_000
    text = widgets.describe_training(reading)
    assert "105.0 GB" in text and "in host memory" in text and "offload to host" in text


def test_numbers_have_units_and_thousands_separators():
    text = widgets.describe_training(widgets.training_readings("llama-3.1-405b"))
    assert "6,493.7 GB" in text and "e+" not in text


@pytest.mark.parametrize(("argument", "value", "message"), [
    ("zero_stage", 4, "stage"), ("devices", 0, "devices"), ("offload", "yes", "offload"),
    ("activations", "checkpointed", "activations"),
])
def test_bad_group_settings_raise(argument, value, message):
    with pytest.raises(ValueError, match=message):
        widgets.training_readings("gpt2", **{argument: value})


# ---------------------------------------------------------------- training module

def test_fp32_activations_are_four_bytes_and_masks_stay_one():
    # Korthikanti et al. per layer: 32 sbh bytes of 2-byte tensors + 2 sbh of 1-byte masks;
    # 4 a s^2 b of 2-byte scores + 1 a s^2 b of mask. fp32 doubles only the tensors.
    llama = models.get("llama-3-8b")
    s, b, h, a, layers = 4096, 1, 4096, 32, 32
    fp32 = training.training_memory(llama, b, s, precision="fp32")
    assert fp32.activation_bytes == layers * 66 * s * b * h == 35_433_480_192
    mixed = training.training_memory(llama, b, s, precision="mixed")
    assert mixed.activation_bytes == layers * 34 * s * b * h == 18_253_611_008
    stored = training.activation_bytes(llama, b, s, "stored", "fp32")
    assert stored == layers * (66 * s * b * h + 9 * a * s * s * b)
    assert training.activation_bytes(llama, b, s, "recompute", "fp32") == layers * 4 * s * b * h


def test_mixed_activations_by_hand():
    gpt2 = models.get("gpt2")
    s, b, h, a, layers = 1024, 8, 768, 12, 12
    assert training.activation_bytes(gpt2, b, s, "stored") == layers * (
        34 * s * b * h + 5 * a * s * s * b)
    assert training.activation_bytes(gpt2, b, s, "recompute") == layers * 2 * s * b * h


def test_training_takes_a_model_name():
    by_name = training.training_memory("llama-2-7b", 1, 4096)
    assert by_name.states_bytes == 16 * 6_738_415_616
    assert by_name.activation_bytes == 32 * 34 * 4096 * 4096
    assert training.activation_bytes("gpt2", 1, 10) == 12 * 34 * 10 * 768


@pytest.mark.parametrize(("call", "message"), [
    (lambda: training.training_memory(None), "model name"),
    (lambda: training.activation_bytes(7e9, 1, 1024), "model name"),
    (lambda: training.training_memory("llama-2-7", 1, 1024), "llama-2-7b"),
    (lambda: training.activation_bytes("gpt2", 1, 1024, precision="bf16"), "mixed"),
])
def test_training_bad_model_or_precision_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("arguments", [
    dict(model_name_or_params="llama-2-7b", seq_len=4096),  # lesson 05's default view
    dict(model_name_or_params="llama-2-7b", seq_len=2048),
    dict(model_name_or_params="llama-3-70b", seq_len=32768, zero_stage=3, devices=64),
    dict(model_name_or_params=7e9, zero_stage=2, offload=True),
])
def test_the_caption_names_the_parts_the_bars_show(arguments):
    reading = widgets.training_readings(**arguments)
    caption = widgets.training_caption(reading)
    device = reading.per_device
    parts = {"weights": device.weight_bytes, "gradients": device.gradient_bytes,
             "optimizer states": device.optimizer_bytes}
    if reading.activation_bytes is not None:
        parts["activations"] = device.activation_bytes
    shown = {name: size for name, size in parts.items() if size > 0}
    largest, smallest = max(shown, key=shown.get), min(shown, key=shown.get)
    assert f"{largest} are the largest part ({shown[largest] / 1e9:,.1f} GB)" in caption
    assert f"{smallest} the smallest ({shown[smallest] / 1e9:,.1f} GB)" in caption
    assert ("does NOT fit" in caption) == (not reading.fits)


def test_the_training_plot_resizes_its_bars_in_place():
    plot = widgets.TrainingPlot()
    first = plot.update(widgets.training_readings("llama-2-7b"))
    again = plot.update(widgets.training_readings("llama-3-70b", zero_stage=3, devices=8))
    assert first is again
    on_device = sum(bar.get_height() for _, bar in plot.bars)
    reading = widgets.training_readings("llama-3-70b", zero_stage=3, devices=8)
    assert on_device == pytest.approx(reading.per_device.device_bytes / 1e9)
    plt.close(first)
