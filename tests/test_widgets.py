import re

import matplotlib.pyplot as plt
import pytest

from memwall_lab import hardware, models, widgets
from memwall_lab.roofline import Roof

LAPTOP = Roof("laptop", peak_flops_per_s=2e11, bandwidth_bytes_per_s=5e10)
H100 = Roof.from_hardware("h100-sxm")


def test_decode_at_batch_one_is_memory_bound_everywhere():
    readings = widgets.decode_readings("llama-2-7b", 1, 1024, [LAPTOP, H100])
    assert [r.bound for r in readings] == ["memory", "memory"]
    model = models.get("llama-2-7b")
    # Independent arithmetic: fp16 weights + the KV of 1024 cached tokens + 1 written,
    # 2 bytes x 2 (K and V) x 32 layers x 32 heads x 128 dims per token.
    expected_bytes = 2 * models.param_count(model) + 2 * 2 * 32 * 32 * 128 * (1024 + 1)
    assert readings[0].bytes_per_step == expected_bytes
    laptop_tokens_per_s = 5e10 / expected_bytes
    assert readings[0].tokens_per_s == pytest.approx(laptop_tokens_per_s)


def test_batch_raises_the_weights_intensity_but_not_attentions():
    readings = [widgets.decode_readings("llama-3-8b", batch, 128, [H100])[0]
                for batch in widgets.BATCH_CHOICES]
    weights = [r.weight_intensity_flops_per_byte for r in readings]
    assert weights == sorted(weights) and weights[-1] > 100 * weights[0]
    # attention reads each sequence's own cache: 2 x 32 heads x 256 FLOPs per key per layer
    # over 2 x 8 KV heads x 128 x 2 bytes per key per layer = 4 FLOP/byte (the GQA group
    # size), whatever the batch
    for r in readings:
        assert r.attention_intensity_flops_per_byte == pytest.approx(4.0)
    assert readings[0].bound == "memory" and readings[-1].bound == "compute"


def test_model_that_does_not_fit_is_flagged_not_raised():
    capacity = {H100.name: hardware.get("h100-sxm").capacity_bytes}
    (reading,) = widgets.decode_readings("llama-3.1-405b", 1024, 1024, [H100],
                                         capacities_bytes=capacity)
    assert reading.fits is False
    text = widgets.describe_decode("llama-3.1-405b", 1024, 1024, [reading])
    assert f"DOES NOT FIT: needs {reading.devices_needed} such devices" in text


def test_readout_text_names_bound_and_tokens():
    readings = widgets.decode_readings("gpt2", 1, 512, [LAPTOP])
    text = widgets.describe_decode("gpt2", 1, 512, readings)
    assert "laptop:" in text and "memory-bound" in text and "tokens/s" in text
    assert "weights" in text and "attention" in text


def test_unknown_model_raises_with_suggestion():
    with pytest.raises(ValueError, match="llama-2-7b"):
        widgets.decode_readings("llama-2-7", 1, 128, [LAPTOP])


def test_dashboard_builds_without_a_browser():
    box = widgets.decode_dashboard([LAPTOP, H100], context_len=256)
    model_picker, batch_slider = box.children[0].children
    readout = box.children[1]
    assert "llama-2-7b, batch 1," in readout.value
    batch_slider.value = 64
    assert "llama-2-7b, batch 64," in readout.value
    model_picker.value = "gpt2"
    assert "gpt2, batch 64," in readout.value


def test_no_roofs_or_no_readings_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one Roof"):
        widgets.decode_readings("gpt2", 1, 512, [])
    with pytest.raises(ValueError, match="at least one DecodeReading"):
        widgets.describe_decode("gpt2", 1, 512, [])


@pytest.mark.parametrize("accelerator_bytes", [None, "80e9", float("inf"), 0, -80e9, 1e-300])
def test_training_accelerator_bytes_must_be_a_number_of_bytes(accelerator_bytes):
    with pytest.raises(ValueError, match="accelerator_bytes must be a finite number >= 1"):
        widgets.training_readings("gpt2-xl", accelerator_bytes=accelerator_bytes)


def test_training_dashboard_names_the_models_it_offers():
    with pytest.raises(ValueError, match="gpt2-xl"):
        widgets.training_dashboard(model_name="gpt2")
    box = widgets.training_dashboard(model_name=widgets.CUSTOM_MODEL)
    assert "billion parameters" in box.children[-2].value


def test_each_roof_can_have_its_own_dtype():
    # this machine measured in fp32: 4 bytes a weight, 2 FLOPs -> about 0.5 FLOP/byte at batch 1
    fp32, fp16 = widgets.decode_readings("llama-2-7b", 1, 1024, [LAPTOP, H100],
                                         dtypes={LAPTOP.name: "fp32"})
    assert (fp32.dtype, fp16.dtype) == ("fp32", "fp16")
    # (a little under: the embedding's bytes are read but it is looked up, not multiplied)
    assert fp32.weight_intensity_flops_per_byte == pytest.approx(0.5, rel=0.05)
    assert fp16.weight_intensity_flops_per_byte == pytest.approx(1.0, rel=0.05)
    model = models.get("llama-2-7b")
    assert fp32.bytes_per_step == 4 * models.param_count(model) + 2 * 2 * 32 * 32 * 128 * 1025 * 2
    text = widgets.describe_decode("llama-2-7b", 1, 1024, [fp32, fp16])
    assert "laptop: fp32 weights and KV" in text and "weight matmuls 0.49 FLOP/byte" in text


@pytest.mark.parametrize("dtypes", [{"no such roof": "fp32"}, {"laptop": "fp12"}, ["fp32"]])
def test_roof_dtypes_name_known_roofs_and_dtypes(dtypes):
    with pytest.raises(ValueError):
        widgets.decode_readings("gpt2", 1, 64, [LAPTOP], dtypes=dtypes)


def test_decode_numbers_are_plain_and_the_caption_compares_with_each_ridge():
    readings = widgets.decode_readings("llama-3.1-405b", 1024, 1024, [LAPTOP, H100])
    text = widgets.describe_decode("llama-3.1-405b", 1024, 1024, readings)
    assert not re.search(r"\de[+-]?\d", text), text
    caption = widgets.decode_caption(readings, [LAPTOP, H100])
    assert "on laptop against a ridge of 4 (compute-bound)" in caption
    assert f"ridge of {H100.ridge_flops_per_byte:,.0f}" in caption


def test_decode_plot_moves_its_points_in_place():
    plot = widgets.DecodeRooflinePlot([LAPTOP, H100])
    first = plot.update("gpt2", 1, 512, widgets.decode_readings("gpt2", 1, 512, [LAPTOP, H100]))
    again = plot.update("gpt2", 64, 512, widgets.decode_readings("gpt2", 64, 512, [LAPTOP, H100]))
    assert first is again
    (weights, attention) = plot.points[1]
    reading = widgets.decode_readings("gpt2", 64, 512, [LAPTOP, H100])[1]
    assert weights.get_xdata()[0] == reading.weight_intensity_flops_per_byte
    assert attention.get_ydata()[0] == reading.attention_flops_per_s
    assert "batch 64" in plot.axes.get_title()
    plt.close(first)
