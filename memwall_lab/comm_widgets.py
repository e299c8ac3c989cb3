"""Lesson 09's dashboard: a model split over devices, each step in compute, HBM and links.

Pure functions (``parallel_step``, ``describe_parallel``, ``parallel_caption``) under a
thin ipywidgets shell (``parallel_dashboard``, wired by ``dashboard.dashboard``), so the
tests call them without a browser. The bars are drawn once per model (``ParallelPlot``)
and resized for each point; ``parallel_figure`` draws them for one point.
"""

from __future__ import annotations

from memwall_lab import comm, models
from memwall_lab.dashboard import fix_layout, framed_figure, set_caption
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


def describe_parallel(step: comm.ParallelStep, model_name: str, device_name: str,
                      context_len: int | None = None) -> str:
    """A few lines of plain text reading out one ``parallel_step``: units, no e-notation."""
    cost, parts = step.share.cost, step_parts_seconds(step)
    context = "" if context_len is None else f", context {context_len:,}"
    if cost.phase == "decode":
        what = f"decode, batch {cost.batch:,}{context}, {cost.tokens:,} new tokens per step"
    else:
        what = f"prefill, batch {cost.batch:,}{context}, {cost.tokens:,} prompt tokens"
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


def parallel_caption(steps: list[comm.ParallelStep], counts: list[int], chosen: int | None) -> str:
    """What the bars show, from their numbers: the chosen split, and where links take over."""
    parts = [step_parts_seconds(step) for step in steps]
    by_link = [count for count, part in zip(counts, parts, strict=True)
               if part["communication"] >= max(part["compute"], part["HBM"])]
    text = []
    if chosen in counts:
        step, part = steps[counts.index(chosen)], parts[counts.index(chosen)]
        text.append(f"On {chosen} devices (*) the step takes {_seconds(step.seconds)}, "
                    f"{part['communication'] / step.seconds:.0%} of it communication")
    if by_link and by_link == counts[counts.index(by_link[0]):]:
        text.append(f"from {by_link[0]} devices on, the all-reduces take longer than compute "
                    "and HBM: they do not shrink with the split")
    elif by_link:
        text.append(f"the all-reduces take longer than compute and HBM at "
                    f"{', '.join(map(str, by_link))} devices")
    else:
        text.append(f"up to {counts[-1]} devices, HBM or compute stays the largest part")
    return "; ".join(text) + "."


class ParallelPlot:
    """Lesson 09's stacked bars, drawn once per model and resized for each point."""

    def __init__(self, counts: list[int]):
        self.counts = list(counts)
        self.figure, (self.axes,), self.caption = framed_figure(8.0, 4.6, right=0.3, bottom=1.2)
        labels = [str(count) for count in self.counts]
        self.bars = {name: self.axes.bar(labels, [0.0] * len(labels), color=color, label=name)
                     for name, color in PARTS}
        self.notes = [self.axes.text(index, 0, "does not fit", ha="center", va="bottom",
                                     fontsize=8, visible=False)
                      for index in range(len(self.counts))]
        self.axes.set_xlabel("devices the model is split over (* = your choice)")
        self.axes.set_ylabel("time per step (ms)")
        self.axes.legend(loc="upper right")
        fix_layout(self.axes)

    def update(self, title: str, steps: list[comm.ParallelStep], chosen: int | None = None):
        """Resize the bars to ``steps`` (one per count); returns the figure."""
        bottom = [0.0] * len(steps)
        for name, _ in PARTS:
            for index, (bar, step) in enumerate(zip(self.bars[name], steps, strict=True)):
                height = step_parts_seconds(step)[name] * 1e3
                bar.set_y(bottom[index])
                bar.set_height(height)
                bottom[index] += height
        for note, step, top in zip(self.notes, steps, bottom, strict=True):
            note.set_visible(not step.fits)
            note.set_y(top)
        self.axes.set_ylim(0, max(bottom) * 1.15)
        self.axes.set_xticks(range(len(self.counts)),
                             [f"{count}{'*' if count == chosen else ''}" for count in self.counts])
        self.axes.title.set_text(title)
        set_caption(self.caption, parallel_caption(steps, self.counts, chosen))
        return self.figure


def _counts(model_name: str) -> list[int]:
    """The device counts a model can be split over: up to its number of heads."""
    return [count for count in DEVICE_COUNTS if count <= models.get(model_name).n_heads]


def parallel_title(model_name: str, device_name: str, link_name: str, batch: int,
                   context_len: int, phase: str, latency_s: float) -> str:
    """The figure's title: every setting the bars depend on."""
    return (f"{model_name} {phase} on {device_name} over {link_name}: batch {batch:,}, "
            f"context {context_len:,}, alpha {_seconds(latency_s)}")


def parallel_figure(model_name: str, device_name: str, link_name: str, batch: int,
                    context_len: int, phase: str = "decode",
                    latency_s: float = comm.GPU_ROUND_LATENCY_S, chosen: int | None = None,
                    plot: ParallelPlot | None = None):
    """Stacked bars: the step per device count, split into compute, HBM and communication.

    ``plot``: a ParallelPlot to update in place (the dashboard's), if it has these counts.
    """
    counts = _counts(model_name)
    steps = [parallel_step(model_name, device_name, link_name, count, batch, context_len,
                           phase, latency_s) for count in counts]
    if plot is None or plot.counts != counts:
        plot = ParallelPlot(counts)
    return plot.update(parallel_title(model_name, device_name, link_name, batch, context_len,
                                      phase, latency_s), steps, chosen)


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
    batch_slider = widgets.SelectionSlider(options=[(f"{b:,}", b) for b in BATCH_CHOICES],
                                           value=batch, description="batch")
    context_slider = widgets.SelectionSlider(options=[(f"{c:,}", c) for c in CONTEXT_CHOICES],
                                             value=context_len, description="context")
    latency_picker = widgets.Dropdown(
        options=[(format_seconds(seconds), seconds) for seconds in LATENCY_CHOICES_S],
        value=comm.GPU_ROUND_LATENCY_S, description="alpha")
    plots: dict[tuple, ParallelPlot] = {}  # one per list of counts, each updated in place

    def compute():
        point = (model_picker.value, device_picker.value, link_picker.value)
        settings = (batch_slider.value, context_slider.value, phase_picker.value,
                    latency_picker.value)
        step = parallel_step(*point, count_picker.value, *settings)
        counts = tuple(_counts(model_picker.value))
        if counts not in plots:
            plots[counts] = ParallelPlot(list(counts))
        plot = plots[counts]
        text = describe_parallel(step, model_picker.value, device_picker.value,
                                 context_slider.value)
        return text, lambda: parallel_figure(*point, *settings, count_picker.value, plot)

    return _dashboard([[model_picker, device_picker, link_picker],
                       [count_picker, phase_picker, latency_picker],
                       [batch_slider, context_slider]], compute)
