"""Lesson 09's dashboard: a model split over devices, each step in compute, HBM and links.

Pure functions (``parallel_step``, ``describe_parallel``, ``parallel_figure``) under a
thin ipywidgets shell (``parallel_dashboard``, wired by ``widgets._dashboard``), so the
tests call them without a browser.
"""

from __future__ import annotations

from memwall_lab import comm, models
from memwall_lab.units import format_bytes, format_rate, format_seconds
from memwall_lab.widgets import _dashboard

PARALLEL_MODELS = ("llama-3-8b", "llama-3-70b", "qwen2.5-72b", "mixtral-8x7b", "llama-3.1-405b")
PARALLEL_DEVICES = ("a100-80gb", "h100-sxm", "h200", "b200", "mi300x")
PARALLEL_LINKS = ("pcie4-x16", "pcie5-x16", "nvlink3", "nvlink4", "nvlink5", "infiniband-ndr",
                  "infiniband-xdr")
DEVICE_COUNTS = (1, 2, 4, 8, 16, 32, 64)
BATCH_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
CONTEXT_CHOICES = (128, 512, 1024, 2048, 4096, 8192, 16384, 32768, 131072)
LATENCY_CHOICES_S = (1e-6, 3e-6, 10e-6)
PARTS = (("compute", "tab:green"), ("HBM", "tab:blue"), ("communication", "tab:red"))


def parallel_step(model_name: str, device_name: str, link_name: str, devices: int, batch: int,
                  context_len: int, phase: str = "decode",
                  latency_s: float = comm.GPU_ROUND_LATENCY_S) -> comm.ParallelStep:
    """One step of the dashboard's point (``comm.tensor_parallel_step``); numbers only."""
    return comm.tensor_parallel_step(model_name, device_name, link_name, devices, context_len,
                                     batch, phase=phase, latency_s=latency_s)


def _seconds(seconds: float) -> str:
    """A time for the readout: '0', '3.07 ms', or '1,470 s' (never e-notation)."""
    if seconds == 0:
        return "0"
    return f"{seconds:,.0f} s" if seconds >= 1000 else format_seconds(seconds)


def step_parts_seconds(step: comm.ParallelStep) -> dict[str, float]:
    """The step's time in s by what it waits on: compute, HBM, communication."""
    return {"compute": step.seconds_compute, "HBM": step.seconds_memory,
            "communication": step.seconds_communication}


def _fit_line(step: comm.ParallelStep) -> str:
    """'fits: each device holds X of Y' or 'does NOT fit' with the devices it would need."""
    held, capacity = step.share.cost.held_bytes, step.share.capacity_bytes
    if capacity is None:
        return "fits? unknown (no memory size for this device)"
    verdict = "fits" if step.fits else (
        f"does NOT fit: each share needs {step.share.devices_needed} devices' memory")
    return (f"fits? each device holds {held / 1e9:,.1f} GB of {capacity / 1e9:,.0f} GB: "
            f"{verdict}")


def describe_parallel(step: comm.ParallelStep, model_name: str, device_name: str) -> str:
    """A few lines of plain text reading out one ``parallel_step``: units, no e-notation."""
    cost, parts = step.share.cost, step_parts_seconds(step)
    what = (f"decode, batch {cost.batch:,}, {cost.tokens:,} tokens" if cost.phase == "decode"
            else f"prefill, batch {cost.batch:,}, {cost.tokens:,} prompt tokens")
    per_sequence = (f"; each sequence {1 / step.seconds:,.1f} tokens/s"
                    if cost.phase == "decode" else "")
    return "\n".join([
        f"{model_name} split {step.devices} ways on {device_name} over {step.link.name} "
        f"({format_rate(step.link.bandwidth_bytes_per_s, 'B/s')} per direction): {what}",
        "per device: " + " + ".join(f"{name} {_seconds(seconds)}"
                                    for name, seconds in parts.items())
        + f" = {_seconds(step.seconds)} per step: bound by {step.bound}",
        f"  {step.allreduces:,} all-reduces of {format_bytes(step.allreduce_bytes)} each "
        f"(2 per layer), alpha {_seconds(step.latency_s)} per round",
        f"throughput {step.tokens_per_s:,.0f} tokens/s{per_sequence}",
        _fit_line(step),
    ])


def parallel_figure(model_name: str, device_name: str, link_name: str, batch: int,
                    context_len: int, phase: str = "decode",
                    latency_s: float = comm.GPU_ROUND_LATENCY_S, chosen: int | None = None):
    """Stacked bars: the step per device count, split into compute, HBM and communication."""
    import matplotlib.pyplot as plt

    from memwall_lab.plotting import caption

    model = models.get(model_name)
    counts = [count for count in DEVICE_COUNTS if count <= model.n_heads]
    steps = [parallel_step(model_name, device_name, link_name, count, batch, context_len,
                           phase, latency_s) for count in counts]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    labels = [f"{count}{'*' if count == chosen else ''}" for count in counts]
    bottom = [0.0] * len(steps)
    for name, color in PARTS:
        heights = [step_parts_seconds(step)[name] * 1e3 for step in steps]
        ax.bar(labels, heights, bottom=bottom, color=color, label=name)
        bottom = [low + height for low, height in zip(bottom, heights)]
    for index, step in enumerate(steps):
        if not step.fits:
            ax.text(index, bottom[index], "does not fit", ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("devices the model is split over (* = your choice)")
    ax.set_ylabel("time per step (ms)")
    ax.set_title(f"{model_name} {phase} on {device_name} over {link_name}")
    ax.legend()
    caption(fig, "Splitting shrinks each device's HBM and compute time; the all-reduces do "
            "not shrink, so past some count they are the step.")
    fig.tight_layout()
    return fig


def parallel_dashboard(model_name: str = "llama-3-70b", device_name: str = "h100-sxm",
                       link_name: str = "nvlink4", devices: int = 8, batch: int = 16,
                       context_len: int = 4096):
    """Controls for model, device, link, devices, phase, batch, context and α (lesson 09)."""
    import ipywidgets as widgets

    model_picker = widgets.Dropdown(options=PARALLEL_MODELS, value=model_name,
                                    description="model")
    device_picker = widgets.Dropdown(options=PARALLEL_DEVICES, value=device_name,
                                     description="device")
    link_picker = widgets.Dropdown(options=PARALLEL_LINKS, value=link_name, description="link")
    count_picker = widgets.SelectionSlider(options=DEVICE_COUNTS, value=devices,
                                           description="devices")
    phase_picker = widgets.ToggleButtons(options=comm.PHASES, value="decode",
                                         description="phase")
    batch_slider = widgets.SelectionSlider(options=BATCH_CHOICES, value=batch,
                                           description="batch")
    context_slider = widgets.SelectionSlider(options=CONTEXT_CHOICES, value=context_len,
                                             description="context")
    latency_picker = widgets.Dropdown(
        options=[(format_seconds(seconds), seconds) for seconds in LATENCY_CHOICES_S],
        value=comm.GPU_ROUND_LATENCY_S, description="alpha")

    def compute():
        point = (model_picker.value, device_picker.value, link_picker.value)
        step = parallel_step(*point, count_picker.value, batch_slider.value,
                             context_slider.value, phase_picker.value, latency_picker.value)
        figure = parallel_figure(*point, batch_slider.value, context_slider.value,
                                 phase_picker.value, latency_picker.value, count_picker.value)
        return describe_parallel(step, model_picker.value, device_picker.value), figure

    return _dashboard([[model_picker, device_picker, link_picker],
                       [count_picker, phase_picker, latency_picker],
                       [batch_slider, context_slider]], compute)

