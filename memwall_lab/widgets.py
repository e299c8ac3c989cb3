"""Interactive dashboards for the lessons (lesson 03 onwards).

Each dashboard is a thin ipywidgets shell over a pure function that takes the
slider values and returns numbers and text. The pure functions are what the
tests call: they need no browser and take well under 50 ms.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from memwall_lab import models
from memwall_lab.roofline import Roof
from memwall_lab.units import format_bytes, format_rate, format_seconds

DECODE_MODELS = ("gpt2", "gpt2-xl", "phi-3-mini", "llama-2-7b", "llama-3-8b", "llama-2-13b",
                 "mixtral-8x7b", "llama-3-70b", "llama-3.1-405b")
BATCH_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class DecodeReading:
    """One decode step of one model on one machine: where it sits on the roofline."""

    device: str
    intensity_flops_per_byte: float
    attainable_flops_per_s: float
    seconds_per_step: float
    tokens_per_s: float
    bound: str  # "memory" or "compute"
    fits: bool  # weights + KV fit in the device's memory (True when capacity is unknown)
    bytes_per_step: int


def decode_readings(
    model_name: str, batch: int, context_len: int, roofs, dtype: str = "fp16",
    capacities_bytes: dict[str, int] | None = None,
) -> list[DecodeReading]:
    """Place one decode step of `model_name` on each roof: intensity, FLOP/s, tokens/s bound."""
    model = models.get(model_name)
    cost = models.decode_step(model, context_len, batch, dtype)
    capacities_bytes = capacities_bytes or {}
    readings = []
    for roof in roofs:
        timing = models.step_time(cost, roof)
        capacity = capacities_bytes.get(roof.name)
        needed = models.weight_bytes(model, dtype) + cost.kv_read_bytes + cost.kv_write_bytes
        readings.append(DecodeReading(
            device=roof.name,
            intensity_flops_per_byte=cost.intensity_flops_per_byte,
            attainable_flops_per_s=cost.flops / timing.seconds_lower,
            seconds_per_step=timing.seconds_lower,
            tokens_per_s=timing.tokens_per_s,
            bound=timing.bound,
            fits=capacity is None or needed <= capacity,
            bytes_per_step=cost.bytes_total,
        ))
    return readings


def describe_decode(model_name: str, batch: int, context_len: int, readings) -> str:
    """A few lines of plain text that read out a `decode_readings` result."""
    first = readings[0]
    lines = [f"{model_name}, batch {batch}, context {context_len} tokens: "
             f"{format_bytes(first.bytes_per_step)} moved per step, "
             f"intensity {first.intensity_flops_per_byte:.3g} FLOP/byte"]
    for reading in readings:
        note = "" if reading.fits else "  (does NOT fit in this device's memory)"
        lines.append(
            f"  {reading.device}: {reading.bound}-bound, "
            f"{format_seconds(reading.seconds_per_step)} per step, "
            f"{reading.tokens_per_s:,.3g} tokens/s at best, "
            f"{format_rate(reading.attainable_flops_per_s, 'FLOP/s')}{note}")
    return "\n".join(lines)


def as_preformatted(text: str) -> str:
    """Wrap plain text as HTML that keeps its line breaks and columns."""
    return f"<pre style='margin:0'>{html.escape(text)}</pre>"


def decode_dashboard(roofs: list[Roof], context_len: int = 1024, dtype: str = "fp16",
                     capacities_bytes: dict[str, int] | None = None):
    """Sliders for batch and model that move a decode step along each roof (lesson 03)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from memwall_lab import roofline

    model_picker = widgets.Dropdown(options=DECODE_MODELS, value="llama-2-7b",
                                    description="model")
    batch_slider = widgets.SelectionSlider(options=BATCH_CHOICES, value=1,
                                           description="batch (seqs)")
    readout, figure_area = widgets.HTML(), widgets.Output()

    def update(*_):
        model_name, batch = model_picker.value, batch_slider.value
        try:
            readings = decode_readings(model_name, batch, context_len, roofs, dtype,
                                       capacities_bytes)
        except ValueError as error:
            readout.value = as_preformatted(f"cannot compute this point: {error}")
            return
        points = [roofline.KernelPoint(f"decode on {r.device}", r.intensity_flops_per_byte,
                                       r.attainable_flops_per_s) for r in readings]
        readout.value = as_preformatted(describe_decode(model_name, batch, context_len,
                                                        readings))
        with figure_area:
            figure_area.clear_output(wait=True)
            figure = roofline.plot(roofs, points, title=f"Decode step of {model_name}, "
                                   f"batch {batch}")
            display(figure)
            plt.close(figure)

    model_picker.observe(update, names="value")
    batch_slider.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([model_picker, batch_slider]), readout, figure_area])
    display(box)
    return box
