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
