"""Interactive dashboards for the lessons (lesson 03 onwards).

Each dashboard is a thin ipywidgets shell over a pure function that takes the
slider values and returns numbers and text. The pure functions are what the
tests call: they need no browser and take well under 50 ms. Each figure is
drawn once by a small plot class (``DecodeRooflinePlot``, ``KVGrowthPlot``, ...)
and updated in place for every point, with a caption computed from the numbers
it shows; ``memwall_lab.dashboard`` wires controls, readout and plot together.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from memwall_lab import hardware, models, offload, training
from memwall_lab.dashboard import dashboard as _dashboard
from memwall_lab.dashboard import fix_layout, framed_figure, set_caption
from memwall_lab.roofline import Roof
from memwall_lab.units import format_bytes, format_number, format_rate, format_seconds
from memwall_lab.validate import (
    MAX_COUNT,
    check_choice,
    check_count,
    check_number,
    check_positive,
    shown,
)

DECODE_MODELS = ("gpt2", "gpt2-xl", "phi-3-mini", "llama-2-7b", "llama-3-8b", "llama-2-13b",
                 "mixtral-8x7b", "llama-3-70b", "llama-3.1-405b")
BATCH_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class DecodeReading:
    """One decode step of one model on one machine: its two kernels on the roofline."""

    device: str
    weight_intensity_flops_per_byte: float  # the weight matmuls: grows with the batch
    attention_intensity_flops_per_byte: float  # attention over the KV cache: ~1
    weight_flops_per_s: float  # what the weight matmuls attain on this roof
    attention_flops_per_s: float
    seconds_weights: float
    seconds_attention: float
    tokens_per_s: float
    bound: str  # "memory" or "compute": where most of the step's time goes
    fits: bool | None  # weights + KV + activations within the memory; None if unknown
    devices_needed: int | None
    bytes_per_step: int
    dtype: str = "fp16"  # of the weights and the KV cache on this roof

    @property
    def seconds_per_step(self) -> float:
        """The step in s: weight matmuls + attention."""
        return self.seconds_weights + self.seconds_attention


def decode_readings(
    model_name: str, batch: int, context_len: int, roofs, dtype: str = "fp16",
    capacities_bytes: dict[str, int] | None = None, dtypes: dict[str, str] | None = None,
) -> list[DecodeReading]:
    """Place the two kernels of one decode step of `model_name` on each roof, summed per step.

    Weights and KV cache are in ``dtype`` on every roof, except where ``dtypes``
    names the roof: ``{"this machine (fp32)": "fp32"}`` keeps a CPU roof measured
    in fp32 in fp32 bytes (4 per weight: half the intensity of fp16).
    """
    roofs = list(roofs) if isinstance(roofs, Iterable) and not isinstance(roofs, str) else [roofs]
    if not roofs:
        raise ValueError("roofs must hold at least one Roof (the machines to compare), got none")
    if not all(isinstance(roof, Roof) for roof in roofs):
        raise ValueError(f"roofs must be a list of roofline.Roof (see Roof.from_hardware), "
                         f"got {shown(roofs)}")
    model = models.get(model_name)
    capacities_bytes = {} if capacities_bytes is None else _check_capacities(capacities_bytes)
    dtypes = _check_roof_dtypes(dtypes, roofs)
    readings = []
    for roof in roofs:
        roof_dtype = dtypes.get(roof.name, dtype)
        cost = models.decode_step(model, context_len, batch, roof_dtype)
        timing = models.step_time(cost, roof, capacity_bytes=capacities_bytes.get(roof.name))
        readings.append(DecodeReading(
            device=roof.name,
            weight_intensity_flops_per_byte=cost.weight_intensity_flops_per_byte,
            attention_intensity_flops_per_byte=cost.attention_intensity_flops_per_byte,
            weight_flops_per_s=cost.weight_flops / timing.seconds_weights,
            attention_flops_per_s=cost.attention_flops / timing.seconds_attention,
            seconds_weights=timing.seconds_weights,
            seconds_attention=timing.seconds_attention,
            tokens_per_s=timing.tokens_per_s,
            bound=timing.bound,
            fits=timing.fits,
            devices_needed=timing.devices_needed,
            bytes_per_step=cost.bytes_moved,
            dtype=roof_dtype,
        ))
    return readings


def _check_capacities(capacities_bytes) -> dict[str, float]:
    """A dict of device name -> capacity in bytes, each a positive finite number."""
    if not isinstance(capacities_bytes, Mapping):
        raise ValueError("capacities_bytes must be a dict of device name -> bytes, got "
                         f"{capacities_bytes!r}")
    return {name: check_positive(f"capacities_bytes[{name!r}]", capacity)
            for name, capacity in capacities_bytes.items()}


def _check_roof_dtypes(dtypes, roofs) -> dict[str, str]:
    """A dict of roof name -> dtype naming only roofs in ``roofs`` and known dtypes."""
    if dtypes is None:
        return {}
    if not isinstance(dtypes, Mapping):
        raise ValueError(f"dtypes must be a dict of roof name -> dtype, got {shown(dtypes)}")
    names = [roof.name for roof in roofs]
    for name, dtype in dtypes.items():
        check_choice("a roof name in dtypes", name, names)
        check_choice(f"dtypes[{name!r}]", dtype, tuple(models.DTYPE_BITS))
    return dict(dtypes)


def _fit_note(reading: DecodeReading) -> str:
    """'' when the step fits or the memory is unknown, else how many devices it needs."""
    if reading.fits is False:
        return f"; DOES NOT FIT: needs {reading.devices_needed:,} such devices"
    return ""


def _tokens_per_s(tokens_per_s: float) -> str:
    """'4,480 tokens/s', '0.36 tokens/s': separators, never e-notation."""
    return f"{format_number(tokens_per_s, 2 if tokens_per_s < 10 else 3)} tokens/s"


def describe_decode(model_name: str, batch: int, context_len: int, readings) -> str:
    """A few lines of plain text that read out a `decode_readings` result."""
    if not readings:
        raise ValueError("readings must hold at least one DecodeReading (from decode_readings "
                         "with at least one roof), got none")
    lines = [f"{model_name}, batch {batch:,}, context {context_len:,} tokens"]
    for reading in readings:
        lines += [
            f"  {reading.device}: {reading.dtype} weights and KV, "
            f"{format_bytes(reading.bytes_per_step)} moved per step",
            f"      weight matmuls {format_number(reading.weight_intensity_flops_per_byte)} "
            f"FLOP/byte, attention {format_number(reading.attention_intensity_flops_per_byte)} "
            "FLOP/byte",
            f"      {format_seconds(reading.seconds_per_step)} per step (weights "
            f"{format_seconds(reading.seconds_weights)} + attention "
            f"{format_seconds(reading.seconds_attention)}): {reading.bound}-bound, at best "
            f"{_tokens_per_s(reading.tokens_per_s)}{_fit_note(reading)}"]
    return "\n".join(lines)


class DecodeRooflinePlot:
    """Lesson 03's roofline: the roofs drawn once, each decode step's two kernels moved on it.

    Per roof, a triangle for the weight matmuls and a circle for attention, in the
    roof's colour; no text beside the points, so nothing covers the ridge labels.
    """

    def __init__(self, roofs: list[Roof]):
        import numpy as np

        self.roofs = list(roofs)
        self.figure, (self.axes,), self.caption = framed_figure(8.0, 5.0, left=0.95, bottom=1.25)
        axes = self.axes
        ridges = [roof.ridge_flops_per_byte for roof in self.roofs]
        low, high = 0.1, max(4096.0, 8 * max(ridges))
        intensity = np.geomspace(low, high, 200)
        self.points = []
        for roof in self.roofs:
            (line,) = axes.loglog(intensity, roof.attainable(intensity), label=roof.name)
            color = line.get_color()
            axes.plot(roof.ridge_flops_per_byte, roof.peak_flops_per_s, "o", color=color, ms=4)
            # Above the slope, left of the ridge: no point on the roof can reach it.
            axes.annotate(f"ridge {format_number(roof.ridge_flops_per_byte)} FLOP/byte",
                          (roof.ridge_flops_per_byte, roof.peak_flops_per_s), ha="right",
                          textcoords="offset points", xytext=(-8, 8), fontsize=8, color=color)
            attention = axes.plot([], [], "o", color=color, ms=10, markeredgecolor="black")[0]
            weights = axes.plot([], [], "^", color=color, ms=8, markeredgecolor="black")[0]
            self.points.append((weights, attention))
        axes.plot([], [], "^", color="white", markeredgecolor="black", label="weight matmuls")
        axes.plot([], [], "o", color="white", markeredgecolor="black", label="attention")
        bottom = min(roof.attainable(low) for roof in self.roofs) / 2
        top = max(roof.peak_flops_per_s for roof in self.roofs) * 4
        axes.set_xlim(low, high)
        axes.set_ylim(bottom, top)
        axes.set_xlabel("arithmetic intensity (FLOP/byte)")
        axes.set_ylabel("attainable performance (FLOP/s)")
        axes.legend(loc="lower right")
        fix_layout(axes)

    def update(self, model_name: str, batch: int, context_len: int, readings):
        """Move the points to ``readings`` (one per roof, in order); returns the figure."""
        for (weights, attention), reading in zip(self.points, readings, strict=True):
            weights.set_data([reading.weight_intensity_flops_per_byte],
                             [reading.weight_flops_per_s])
            attention.set_data([reading.attention_intensity_flops_per_byte],
                               [reading.attention_flops_per_s])
        self.axes.title.set_text(f"Decode step of {model_name}: batch {batch:,}, context "
                                 f"{context_len:,} tokens")
        set_caption(self.caption, decode_caption(readings, self.roofs))
        return self.figure


def decode_caption(readings, roofs) -> str:
    """What the points show, from their numbers: each roof's weight intensity against its ridge."""
    parts = []
    for reading, roof in zip(readings, roofs, strict=True):
        intensity, ridge = reading.weight_intensity_flops_per_byte, roof.ridge_flops_per_byte
        bound = "compute-bound" if intensity >= ridge else "memory-bound"
        parts.append(f"{format_number(intensity)} on {reading.device} against a ridge of "
                     f"{format_number(ridge)} ({bound})")
    attention = sorted({format_number(r.attention_intensity_flops_per_byte) for r in readings},
                       key=float)
    return (f"Weight matmuls (triangles), FLOP/byte: {'; '.join(parts)}. Attention (circles) "
            f"stays at {' and '.join(attention)} FLOP/byte whatever the batch.")


def decode_dashboard(roofs: list[Roof], context_len: int = 1024, dtype: str = "fp16",
                     capacities_bytes: dict[str, int] | None = None,
                     dtypes: dict[str, str] | None = None):
    """Model and batch move a decode step's two kernels along each roof (lesson 03).

    ``dtype`` is the weights' and KV cache's dtype on every roof but those
    ``dtypes`` names (e.g. fp32 for this machine's roof, measured in fp32).
    """
    import ipywidgets as widgets

    decode_readings(DECODE_MODELS[0], 1, context_len, roofs, dtype, capacities_bytes, dtypes)
    model_picker = widgets.Dropdown(options=DECODE_MODELS, value="llama-2-7b",
                                    description="model")
    batch_slider = widgets.SelectionSlider(options=[(f"{b:,}", b) for b in BATCH_CHOICES],
                                           value=1, description="batch (sequences)")
    plot = DecodeRooflinePlot(roofs)

    def compute():
        model_name, batch = model_picker.value, batch_slider.value
        readings = decode_readings(model_name, batch, context_len, roofs, dtype,
                                   capacities_bytes, dtypes)
        return (describe_decode(model_name, batch, context_len, readings),
                lambda: plot.update(model_name, batch, context_len, readings))

    return _dashboard([[model_picker, batch_slider]], compute)


# ---- lesson 05: training memory dashboard
TRAINING_MODELS = ("gpt2-xl", "phi-3-mini", "llama-2-7b", "llama-3-8b", "llama-2-13b",
                   "mixtral-8x7b", "llama-3-70b", "gpt-3-175b", "llama-3.1-405b", "deepseek-v3")
TRAINING_OPTIMIZERS = ("adam", "sgd-momentum", "sgd")
TRAINING_PRECISIONS = ("mixed", "fp32")
TRAINING_CHECKPOINTING = {  # training.activation_bytes mode -> what the dashboard calls it
    "stored": "none, attention scores stored",
    "flash": "none, fused attention",
    "recompute": "full (each layer recomputed)",
}
TRAINING_DEVICE_CHOICES = tuple(2**power for power in range(13))  # 1 ... 4,096 devices
TRAINING_SEQ_CHOICES = tuple(2**power for power in range(9, 18))  # 512 ... 131,072 tokens
CUSTOM_MODEL = "parameter count (slider)"
ACCELERATOR_80GB_BYTES = 80e9


@dataclass(frozen=True)
class TrainingReading:
    """Memory one training step holds, by part, and how many accelerators that fills.

    ``per_device`` is what one device of a data-parallel group holds under the
    chosen ZeRO stage (``training.DeviceMemory``); ``devices_needed`` the fewest
    such devices whose share fits in ``accelerator_bytes`` (None: no number does).
    """

    label: str
    n_params: int
    optimizer: str
    precision: str
    bytes_per_param: tuple[int, int, int]  # (weights, gradients, optimizer states)
    weight_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int | None  # None: a bare parameter count has no architecture
    accelerator_bytes: float
    accelerators_needed: int
    per_device: training.DeviceMemory | None = None
    devices_needed: int | None = None
    activations: str = "flash"

    @property
    def states_bytes(self) -> int:
        """Weights + gradients + optimizer states."""
        return self.weight_bytes + self.gradient_bytes + self.optimizer_bytes

    @property
    def total_bytes(self) -> int:
        """States + activations (activations count as 0 when unknown)."""
        return self.states_bytes + (self.activation_bytes or 0)

    @property
    def fp16_weight_bytes(self) -> int:
        """The 16-bit weights the model is served with: 2 bytes per parameter."""
        return 2 * self.n_params

    @property
    def times_fp16_weights(self) -> float:
        """Total training bytes as a multiple of the fp16 weights."""
        return self.total_bytes / self.fp16_weight_bytes

    @property
    def fits(self) -> bool:
        """True if one device of the chosen group holds its share of the step."""
        held = self.per_device.device_bytes if self.per_device else self.total_bytes
        return held <= self.accelerator_bytes


def training_readings(
    model_name_or_params: str | int | float, optimizer: str = "adam", precision: str = "mixed",
    batch: int = 1, seq_len: int = 2048, activations: str = "flash",
    accelerator_bytes: float = ACCELERATOR_80GB_BYTES, zero_stage: int = 0, devices: int = 1,
    offload: bool = False,
) -> TrainingReading:
    """Training memory of a dataset model (by name) or of a bare parameter count.

    States follow ``memwall_lab.training.BYTES_PER_PARAM`` (mixed-precision Adam:
    2 + 2 + 12 = 16 bytes per parameter). A named model also gets activation
    bytes for ``batch`` x ``seq_len`` tokens (``activations``: "stored", "flash",
    or "recompute" = full checkpointing); a bare count has no layers to estimate
    them from, so its activations are left out (None). ``zero_stage``, ``devices``
    and ``offload`` shard the states over a data-parallel group as ZeRO does
    (``training.training_memory_per_device``); ``batch`` is each device's micro-batch.
    """
    optimizer = check_choice("optimizer", optimizer, TRAINING_OPTIMIZERS)
    precision = check_choice("precision", precision, TRAINING_PRECISIONS)
    activations = check_choice("activations", activations, tuple(TRAINING_CHECKPOINTING))
    accelerator_bytes = check_number("accelerator_bytes", accelerator_bytes, 1)  # a byte at least
    per_param = training.bytes_per_param(optimizer, precision)
    if isinstance(model_name_or_params, str):
        model = models.get(model_name_or_params)
        label, n_params = model_name_or_params, models.param_count(model)
        activation_bytes: int | None = training.activation_bytes(model, batch, seq_len,
                                                                 activations, precision)
    else:
        n_params = round(check_number("a parameter count (or a model name from the dataset)",
                                      model_name_or_params, 1, float(MAX_COUNT)))
        model, activation_bytes = n_params, None  # a bare count: states only
        label = f"{format_number(n_params / 1e9, 4)}B-parameter model"
    per_device = training.training_memory_per_device(
        model, batch, seq_len, zero_stage, devices, activations, offload, optimizer, precision)
    weights, gradients, optimizer_states = (n * n_params for n in per_param)
    total = weights + gradients + optimizer_states + (activation_bytes or 0)
    return TrainingReading(
        label=label, n_params=n_params, optimizer=optimizer, precision=precision,
        bytes_per_param=per_param, weight_bytes=weights, gradient_bytes=gradients,
        optimizer_bytes=optimizer_states, activation_bytes=activation_bytes,
        accelerator_bytes=accelerator_bytes,
        accelerators_needed=max(1, math.ceil(total / accelerator_bytes)),
        per_device=per_device,
        devices_needed=training.devices_needed(model, accelerator_bytes, batch, seq_len,
                                               zero_stage, activations, offload, optimizer,
                                               precision),
        activations=activations,
    )


def _gigabytes(size_bytes: float) -> str:
    """Bytes as GB (10**9) with thousands separators and one decimal, right-aligned."""
    return f"{size_bytes / 1e9:>12,.1f} GB"


def _describe_per_device(reading: TrainingReading) -> list[str]:
    """Lines for one device of the ZeRO group: its parts, whether it fits, devices needed."""
    device = reading.per_device
    capacity = f"{reading.accelerator_bytes / 1e9:,.0f} GB"
    where = (f"ZeRO stage {device.stage} over {device.devices:,} data-parallel device"
             f"{'s' if device.devices > 1 else ''}")
    checkpointing = TRAINING_CHECKPOINTING[reading.activations]
    lines = [f"  per device, {where}, checkpointing: {checkpointing}, offload to host: "
             f"{'on' if device.offload else 'off'}:"]
    for part, size_bytes in (("weights", device.weight_bytes),
                             ("gradients", device.gradient_bytes),
                             ("optimizer", device.optimizer_bytes)):
        lines.append(f"    {part:<20}{_gigabytes(size_bytes)}")
    lines.append(f"    {'activations':<20}{_gigabytes(device.activation_bytes)}"
                 if reading.activation_bytes is not None else
                 f"    {'activations':<20}   not counted")
    lines.append(f"    {'on the device':<20}{_gigabytes(device.device_bytes)}")
    if device.offload:
        lines.append(f"    {'in host memory':<20}{_gigabytes(device.host_bytes)}  "
                     "(gradients + optimizer states, updated on the CPU)")
    share = device.device_bytes / reading.accelerator_bytes
    if reading.fits:
        lines.append(f"  FITS in one {capacity} accelerator ({share:.0%} full)")
    elif reading.devices_needed is not None:
        lines.append(f"  does NOT fit in {capacity} ({share:.0%} of it); at ZeRO stage "
                     f"{device.stage} it needs at least {reading.devices_needed:,} devices")
    else:
        reason = ("every device holds every state at stage 0" if device.stage == 0 else
                  "what stage " f"{device.stage} does not shard (and the activations) "
                  "must fit on each device by itself")
        lines.append(f"  does NOT fit in {capacity} ({share:.0%} of it), and no number of "
                     f"devices is enough: {reason}; raise the stage, checkpoint or offload")
    return lines


def describe_training(reading: TrainingReading) -> str:
    """Plain-text readout of a `training_readings` result: parts, total, accelerators."""
    weights, gradients, optimizer_states = reading.bytes_per_param
    capacity = f"{reading.accelerator_bytes / 1e9:,.0f} GB"
    lines = [
        f"{reading.label}: {format_number(reading.n_params / 1e9, 4)} billion parameters, "
        f"{reading.optimizer}, {reading.precision} precision",
        f"  weights      {weights:>2} B/param {_gigabytes(reading.weight_bytes)}",
        f"  gradients    {gradients:>2} B/param {_gigabytes(reading.gradient_bytes)}",
        f"  optimizer    {optimizer_states:>2} B/param {_gigabytes(reading.optimizer_bytes)}",
        f"  states       {sum(reading.bytes_per_param):>2} B/param "
        f"{_gigabytes(reading.states_bytes)}",
    ]
    if reading.activation_bytes is None:
        lines.append("  activations  not counted (a bare parameter count has no layers)")
    else:
        lines.append(f"  activations             {_gigabytes(reading.activation_bytes)}")
    lines.append(f"  total                   {_gigabytes(reading.total_bytes)}  = "
                 f"{reading.times_fp16_weights:,.1f}x the fp16 weights "
                 f"({reading.fp16_weight_bytes / 1e9:,.1f} GB)")
    needed = reading.accelerators_needed
    if needed == 1:
        lines.append(f"  fits on one {capacity} accelerator")
    elif needed <= 8:
        lines.append(f"  needs {needed} accelerators of {capacity}: does NOT fit on one; "
                     "states must be sharded across them")
    else:
        lines.append(f"  needs {needed:,} accelerators of {capacity} just to hold it: far "
                     "beyond one device or one 8-GPU server; only sharding over many "
                     "servers (ZeRO/FSDP, tensor and pipeline parallelism) can train it")
    if reading.per_device is not None:
        lines.extend(_describe_per_device(reading))
    return "\n".join(lines)


TRAINING_PARTS = ("weights", "gradients", "optimizer states", "activations")


def _training_parts(reading: TrainingReading) -> list[tuple[str, int, int]]:
    """(part, bytes of one whole copy, bytes on one device) for each part of a step."""
    device = reading.per_device
    whole = (reading.weight_bytes, reading.gradient_bytes, reading.optimizer_bytes,
             reading.activation_bytes or 0)
    if device is None:  # a reading built by hand: one device holds everything
        return list(zip(TRAINING_PARTS, whole, whole, strict=True))
    on_device = (device.weight_bytes, device.gradient_bytes, device.optimizer_bytes,
                 device.activation_bytes)
    return list(zip(TRAINING_PARTS, whole, on_device, strict=True))


def training_caption(reading: TrainingReading) -> str:
    """What the bars show, from their numbers: the largest and smallest part, and the fit."""
    parts = [(name, on_device) for name, _, on_device in _training_parts(reading)
             if on_device > 0]
    largest, smallest = max(parts, key=lambda part: part[1]), min(parts, key=lambda part: part[1])
    held = sum(size for _, size in parts)
    capacity = f"{reading.accelerator_bytes / 1e9:,.0f} GB"
    verdict = (f"fits in one {capacity} accelerator" if reading.fits
               else f"does NOT fit in one {capacity} accelerator")
    text = (f"On one device, {largest[0]} are the largest part ({largest[1] / 1e9:,.1f} GB) and "
            f"{smallest[0]} the smallest ({smallest[1] / 1e9:,.1f} GB); the "
            f"{held / 1e9:,.1f} GB together {verdict}.")
    device = reading.per_device
    if device is not None and device.offload:
        text += (f" Gradients and optimizer states ({device.host_bytes / 1e9:,.1f} GB) wait in "
                 "host memory.")
    if reading.activation_bytes is None:
        text += " Activations are not counted: a bare parameter count has no layers."
    return text


class TrainingPlot:
    """Lesson 05's bars, drawn once and resized for each reading: bytes per parameter, and
    what one device of the group holds against one accelerator."""

    def __init__(self):
        self.figure, (self.per_param, self.device), self.caption = framed_figure(
            9.0, 4.7, 2, left=0.85, right=2.1, gap=1.1, top=0.8, bottom=1.2)
        self.title = self.figure.text(0.5, 1 - 0.1 / 4.7, "", ha="center", va="top",
                                      fontsize=12)
        colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
        self.bars = [(self.per_param.bar([0], [0], color=color, label=name)[0],
                      self.device.bar([0], [0], color=color, label=name)[0])
                     for name, color in zip(TRAINING_PARTS, colors, strict=True)]
        self.capacity = self.device.axhline(0, color="black", linestyle="--")
        self.per_param.set_ylabel("bytes per parameter (B)")
        self.device.set_ylabel("memory on one device (GB)")
        for axes in (self.per_param, self.device):
            axes.set_xlim(-1, 1)
            fix_layout(axes)
        self.legend_for = None

    def update(self, reading: TrainingReading):
        """Resize the bars to ``reading``; returns the figure."""
        tops = [0.0, 0.0]
        for (per_param_bar, device_bar), (_, whole, on_device) in zip(
                self.bars, _training_parts(reading), strict=True):
            for index, (bar, height) in enumerate(((per_param_bar, whole / reading.n_params),
                                                   (device_bar, on_device / 1e9))):
                bar.set_y(tops[index])
                bar.set_height(height)
                tops[index] += height
        capacity_gb = reading.accelerator_bytes / 1e9
        self.capacity.set_ydata([capacity_gb, capacity_gb])
        self.per_param.set_ylim(0, max(tops[0], 1) * 1.15)
        self.device.set_ylim(0, max(tops[1], capacity_gb) * 1.15)
        if self.legend_for != capacity_gb:  # the legend names the accelerator's size
            self.capacity.set_label(f"one {capacity_gb:,.0f} GB accelerator")
            self.device.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
            self.legend_for = capacity_gb
        device = reading.per_device
        group = (f"ZeRO {device.stage}, {device.devices:,} device"
                 f"{'s' if device.devices > 1 else ''}" if device else "one device")
        self.title.set_text(f"Training memory of {reading.label}: {reading.optimizer}, "
                            f"{reading.precision} precision")
        self.per_param.title.set_text("Bytes per parameter, one copy")
        self.device.title.set_text(f"Per device ({group}): "
                                   f"{'fits' if reading.fits else 'does NOT fit'}")
        self.per_param.set_xticks([0], [f"{reading.optimizer}, {reading.precision}"])
        checkpointing = TRAINING_CHECKPOINTING[reading.activations].split(",")[0].split(" (")[0]
        offload_label = ", offload" if device is not None and device.offload else ""
        self.device.set_xticks([0], [f"checkpointing: {checkpointing}{offload_label}"])
        set_caption(self.caption, training_caption(reading))
        return self.figure


def training_figure(reading: TrainingReading):
    """Stacked bars: bytes per parameter, and one device's GB against the accelerator."""
    return TrainingPlot().update(reading)


TRAINING_PARAMS_BILLIONS = (0.1, 0.2, 0.5, 1, 2, 3, 7, 8, 13, 20, 34, 70, 175, 405, 671, 1000,
                            2000, 5000, 10000)


def training_dashboard(accelerator_bytes: float = ACCELERATOR_80GB_BYTES, batch: int = 1,
                       seq_len: int = 2048, model_name: str = "llama-2-7b"):
    """Pick a model, optimizer, precision, checkpointing and a ZeRO group: see what fits."""
    import ipywidgets as widgets

    check_choice("model_name", model_name, (*TRAINING_MODELS, CUSTOM_MODEL))
    seq_len = check_count("seq_len", seq_len, 1)
    model_picker = widgets.Dropdown(options=(*TRAINING_MODELS, CUSTOM_MODEL), value=model_name,
                                    description="model")
    params_slider = widgets.SelectionSlider(
        options=[(format_number(billions), billions) for billions in TRAINING_PARAMS_BILLIONS],
        value=7, description="params (billions)")
    seq_slider = widgets.SelectionSlider(
        options=[(f"{tokens:,}", tokens) for tokens in sorted({*TRAINING_SEQ_CHOICES, seq_len})],
        value=seq_len, description="tokens per sequence")
    optimizer_picker = widgets.Dropdown(options=TRAINING_OPTIMIZERS, value="adam",
                                        description="optimizer")
    precision_picker = widgets.Dropdown(options=TRAINING_PRECISIONS, value="mixed",
                                        description="precision")
    checkpointing_picker = widgets.Dropdown(
        options=[(label, mode) for mode, label in TRAINING_CHECKPOINTING.items()],
        value="flash", description="checkpointing")
    stage_picker = widgets.Dropdown(options=[("0: copy all (plain data parallel)", 0),
                                             ("1: shard optimizer states", 1),
                                             ("2: + gradients", 2),
                                             ("3: + weights (FSDP)", 3)],
                                    value=0, description="ZeRO stage")
    devices_slider = widgets.SelectionSlider(
        options=[(f"{count:,}", count) for count in TRAINING_DEVICE_CHOICES], value=1,
        description="devices")
    offload_box = widgets.Checkbox(value=False, description="offload to host (ZeRO-Offload)")
    plot = TrainingPlot()

    def compute():
        custom = model_picker.value == CUSTOM_MODEL
        params_slider.disabled = not custom
        choice = params_slider.value * 1e9 if custom else model_picker.value
        reading = training_readings(choice, optimizer_picker.value, precision_picker.value,
                                    batch, seq_slider.value, checkpointing_picker.value,
                                    accelerator_bytes, stage_picker.value,
                                    devices_slider.value, offload_box.value)
        header = (f"activations for {batch:,} x {seq_slider.value:,} tokens per device "
                  f"(micro-batch x sequence length)\n")
        return header + describe_training(reading), lambda: plot.update(reading)

    return _dashboard([[model_picker, params_slider, seq_slider],
                       [optimizer_picker, precision_picker, checkpointing_picker],
                       [stage_picker, devices_slider, offload_box]], compute)


# ---- lesson 04: watch the KV cache grow

KV_MODELS = ("llama-2-7b", "llama-2-13b", "mistral-7b", "llama-3-8b", "qwen2.5-7b",
             "llama-2-70b", "llama-3-70b", "qwen2.5-72b", "llama-3.1-405b", "deepseek-v3")
KV_DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8", "int4")
KV_ATTENTION_VIEWS = {
    "published": "the attention the model was published with",
    "mha": "multi-head: every query head has its own K and V",
    "gqa": "grouped-query: a few KV heads (8 where the heads allow), each shared by a group",
    "mqa": "multi-query: one K and one V shared by every query head",
    "mla": "multi-head latent: one compressed latent + a rope key per layer (DeepSeek only)",
}
KV_DEVICES = ("h100-sxm", "h200", "mi300x")
KV_CONTEXT_LIMIT_TOKENS = 2**20  # 1,048,576: the dashboard's longest context
KV_BATCH_LIMIT = 1024
KV_CONTEXT_CHOICES = tuple(2**power for power in range(7, 21))  # 128 ... 1,048,576 tokens


def _kv_gqa_heads(model: models.Model) -> int:
    """KV heads of the GQA view: the model's own if it is GQA, else 8 (or a divisor <= 8)."""
    if model.attention_kind == "gqa":
        return model.n_kv_heads
    divisors = [heads for heads in range(2, 9) if model.n_heads % heads == 0]
    if not divisors:
        raise ValueError(f"{model.name} has {model.n_heads} heads: no group size fits GQA")
    return divisors[-1]


def kv_model_view(model_name: str, attention: str = "published") -> models.Model:
    """The model with its KV layout seen as ``attention`` (a hypothetical unless 'published').

    'mha', 'gqa' and 'mqa' override the KV heads with ``dataclasses.replace``
    (kv heads = heads, 8, 1) and drop any MLA latent; 'mla' exists only for
    models built with it (DeepSeek-V3): a latent cannot be invented for another.
    """
    import dataclasses

    check_choice("model", model_name, KV_MODELS)
    check_choice("attention", attention, tuple(KV_ATTENTION_VIEWS))
    model = models.get(model_name)
    if attention in ("published", model.attention_kind) and (
            attention != "gqa" or model.n_kv_heads == _kv_gqa_heads(model)):
        return model
    if attention == "mla":
        with_mla = [name for name in KV_MODELS if models.get(name).attention_kind == "mla"]
        raise ValueError(f"{model_name} has no MLA latent cache (only {', '.join(with_mla)} "
                         "has one); choose attention published, mha, gqa or mqa")
    kv_heads = {"mha": model.n_heads, "mqa": 1, "gqa": _kv_gqa_heads(model)}[attention]
    return dataclasses.replace(
        model, name=f"{model.name}-as-{attention}", n_kv_heads=kv_heads, kv_lora_rank=0,
        q_lora_rank=0, qk_rope_head_dim=0, qk_nope_head_dim=0, v_head_dim=0)


@dataclass(frozen=True)
class KVReading:
    """KV cache against weights for one model, context, batch and KV dtype (GB = 1e9 bytes)."""

    model: models.Model  # the (possibly hypothetical) model the numbers describe
    model_name: str
    attention: str  # the view asked for
    hypothetical: bool  # True when the KV layout is not the published one
    context_len: int
    batch: int
    kv_dtype: str
    weight_dtype: str
    kv_bytes_per_token: int  # one sequence, all layers
    kv_bytes: int  # batch x the cache of context_len tokens
    weight_bytes: int  # all weights held
    bytes_per_step: int  # one decode step: weights read + KV read + KV written
    kv_share_of_step: float  # KV bytes / bytes of one decode step
    crossover_context: int | None  # context where KV (at this batch) >= weights; None if > 1M
    fits: dict  # device name -> the decode step's weights + KV + activations fit (decode_fits)
    steps: dict  # device name -> models.StepTime of one decode step: weights + attention
    max_context_that_fits: dict  # device name -> longest context at this batch (0: none)
    max_batch_that_fits: dict  # device name -> largest batch at this context (0: none)
    message: str  # what is hypothetical or extreme about this point ("" if nothing)

    @property
    def held_bytes(self) -> int:
        """Bytes one decode step holds: all weights + the KV after it + one layer's activations."""
        return next(iter(self.steps.values())).cost.held_bytes

    @property
    def devices_needed(self) -> dict:
        """Device name -> fewest such devices that together hold the step (1 where it fits)."""
        return {name: step.devices_needed for name, step in self.steps.items()}


def _kv_gb(size_bytes: float) -> str:
    """Bytes as decimal GB, as device memory is sold (80 GB = 80e9 bytes); MB under 0.1 GB."""
    if size_bytes < 1e8:
        return f"{size_bytes / 1e6:,.1f} MB"
    return f"{size_bytes / 1e9:,.1f} GB"


def _kv_seconds(seconds: float) -> str:
    """A step time in s, ms or us, never in e-notation: '4.79 ms', '1,640 s'."""
    if seconds >= 1000:
        return f"{seconds:,.0f} s"
    return format_seconds(seconds)


def _kv_tokens_per_s(tokens_per_s: float) -> str:
    """Tokens/s with thousands separators: '2,489 tokens/s', '0.62 tokens/s'."""
    text = f"{tokens_per_s:,.0f}" if tokens_per_s >= 10 else f"{tokens_per_s:.2g}"
    return f"{text} tokens/s"


def _kv_times_weights(kv: int, weights: int) -> str:
    """KV against the weights in plain numbers: '4.3x the weights', '0.0045 % of the weights'."""
    ratio = kv / weights
    if ratio >= 1:
        return f"{ratio:,.0f}x the weights" if ratio >= 100 else f"{ratio:.1f}x the weights"
    percent = 100 * ratio
    if percent < 0.001:
        return "under 0.001 % of the weights"
    return f"{percent:.0f} % of the weights" if percent >= 10 else f"{percent:.2g} % of the weights"


def _kv_crossover(model: models.Model, batch: int, kv_dtype: str, weights: int) -> int | None:
    """Smallest context whose KV cache (at ``batch``) reaches the weight bytes; None if > 1M."""
    limit = KV_CONTEXT_LIMIT_TOKENS
    if models.kv_cache_bytes(model, limit, batch, kv_dtype) < weights:
        return None
    low, high = 1, limit
    while low < high:
        middle = (low + high) // 2
        if models.kv_cache_bytes(model, middle, batch, kv_dtype) >= weights:
            high = middle
        else:
            low = middle + 1
    return low


def _kv_devices_needed(steps: dict) -> str:
    """'2 NVIDIA H100 SXM, 1 NVIDIA H200 SXM, ...': how many of each device hold the step."""
    return ", ".join(f"{step.devices_needed:,} {hardware.get(name).display_name}"
                     for name, step in steps.items())


def _kv_messages(model, published, steps: dict, weights: int, kv: int,
                 context_len: int) -> list[str]:
    """Plain-language notes on what is hypothetical or extreme about this point."""
    notes = []
    if model is not published:
        built = (f"an MLA latent of {published.kv_lora_rank}+{published.qk_rope_head_dim} "
                 "values per layer" if published.attention_kind == "mla"
                 else f"{published.n_kv_heads} KV heads")
        heads = "head" if model.n_kv_heads == 1 else "heads"
        notes.append(f"hypothetical: {published.display_name or published.name} with "
                     f"{model.n_kv_heads} KV {heads} of {model.head_dim} dims; the published "
                     f"model has {built}")
    if published.sliding_layers and context_len > published.sliding_window:
        notes.append(f"{published.sliding_layers} of {published.n_layers} layers keep only the "
                     f"last {published.sliding_window:,} tokens (sliding window): past that the "
                     "cache stops growing")
    if context_len > published.max_context:
        notes.append(f"{context_len:,} tokens is beyond the {published.max_context:,} the "
                     "model was trained for: the bytes are real, the quality is not promised")
    if all(weights > step.capacity_bytes for step in steps.values()):
        notes.append(f"the weights alone ({_kv_gb(weights)}) fit on none of these single "
                     f"GPUs: the step needs {_kv_devices_needed(steps)}; shard the model "
                     "over several, or quantize it")
    elif not any(step.fits for step in steps.values()):
        held = next(iter(steps.values())).cost.held_bytes
        notes.append(f"weights + KV + activations ({_kv_gb(held)}) fit on none of these "
                     f"GPUs: the step needs {_kv_devices_needed(steps)}; shorten the context, "
                     "cut the batch, quantize the KV cache or shard")
    if kv > weights:
        notes.append(f"the KV cache is {_kv_times_weights(kv, weights)}")
    return notes


def kv_readings(model_name: str, context_len: int, batch: int = 1, kv_dtype: str = "fp16",
                attention: str = "published", weight_dtype: str = "fp16") -> KVReading:
    """KV bytes vs weights, a decode step on each device (weights + attention), fits (04).

    The step computes in ``weight_dtype`` (``models.step_time``); it fits where
    ``models.decode_fits`` says so. Pure arithmetic on ``models``: well under 50 ms.
    ValueError (naming the allowed values) for an unknown model, dtype or attention
    view, or a context outside 1..1,048,576 tokens or a batch outside 1..1024.
    """
    model = kv_model_view(model_name, attention)
    context_len = check_count("context_len (tokens)", context_len, 1, KV_CONTEXT_LIMIT_TOKENS)
    batch = check_count("batch (sequences)", batch, 1, KV_BATCH_LIMIT)
    check_choice("kv_dtype", kv_dtype, KV_DTYPES)
    check_choice("weight_dtype", weight_dtype, KV_DTYPES)
    kv = models.kv_cache_bytes(model, context_len, batch, kv_dtype)
    weights = models.weight_bytes(model, weight_dtype)
    step = models.decode_step(model, context_len, batch, weight_dtype, kv_dtype)
    fits, steps, longest, largest = {}, {}, {}, {}
    for name in KV_DEVICES:
        device = hardware.get(name)
        fits[name] = models.decode_fits(model, device, context_len, batch, weight_dtype,
                                        kv_dtype)
        steps[name] = models.step_time(step, device, weight_dtype)
        longest[name] = models.max_context_len(model, device, batch, weight_dtype, kv_dtype,
                                               limit=KV_CONTEXT_LIMIT_TOKENS)
        largest[name] = models.max_batch(model, device, context_len, weight_dtype, kv_dtype)
    published = models.get(model_name)
    notes = _kv_messages(model, published, steps, weights, kv, context_len)
    return KVReading(
        model=model, model_name=model_name, attention=attention,
        hypothetical=model is not published, context_len=context_len, batch=batch,
        kv_dtype=kv_dtype, weight_dtype=weight_dtype,
        kv_bytes_per_token=models.kv_bytes_per_token(model, kv_dtype), kv_bytes=kv,
        weight_bytes=weights, bytes_per_step=step.bytes_moved,
        kv_share_of_step=step.attention_bytes / step.bytes_moved,
        crossover_context=_kv_crossover(model, batch, kv_dtype, weights),
        fits=fits, steps=steps, max_context_that_fits=longest, max_batch_that_fits=largest,
        message="\n".join(notes),
    )


def _kv_layout(model: models.Model) -> str:
    """'GQA, 8 KV heads' or 'MLA, 512+64 latent' for the readout."""
    if model.attention_kind == "mla":
        return f"MLA, {model.kv_lora_rank}+{model.qk_rope_head_dim} latent values per layer"
    heads = "head" if model.n_kv_heads == 1 else "heads"
    return f"{model.attention_kind.upper()}, {model.n_kv_heads} KV {heads}"


def _kv_step_line(step) -> str:
    """'5.11 ms = weights 4.79 ms + attention 321 us (6 %); 196 tokens/s' for one device."""
    attention_share = step.seconds_attention / step.seconds
    return (f"{_kv_seconds(step.seconds)} = weights {_kv_seconds(step.seconds_weights)} + "
            f"attention {_kv_seconds(step.seconds_attention)} ({attention_share:.0%}); "
            f"{_kv_tokens_per_s(step.tokens_per_s)}")


def describe_kv(reading: KVReading) -> str:
    """Plain text that reads out a ``kv_readings`` result (GB = 1e9 bytes)."""
    r = reading
    label = "hypothetical " if r.hypothetical else ""
    crossover = (f"KV overtakes the weights at {r.crossover_context:,} tokens per sequence "
                 f"(batch {r.batch})" if r.crossover_context is not None
                 else f"KV stays below the weights up to {KV_CONTEXT_LIMIT_TOKENS:,} tokens "
                 f"(batch {r.batch})")
    lines = [
        f"{r.model_name} ({label}{_kv_layout(r.model)}), {r.kv_dtype} KV, "
        f"context {r.context_len:,} tokens, batch {r.batch}",
        f"  attention view '{r.attention}': {KV_ATTENTION_VIEWS[r.attention]}",
        f"  KV per token: {r.kv_bytes_per_token:,} bytes;  KV cache: {_kv_gb(r.kv_bytes)} "
        f"({r.kv_bytes:,} bytes)",
        f"  weights ({r.weight_dtype}): {_kv_gb(r.weight_bytes)};  KV cache = "
        f"{_kv_times_weights(r.kv_bytes, r.weight_bytes)}",
        f"  one decode step moves {_kv_gb(r.bytes_per_step)}, {r.kv_share_of_step:.0%} of it KV, "
        f"and holds {_kv_gb(r.held_bytes)} (weights + KV + activations)",
        f"  {crossover}",
    ]
    for name in KV_DEVICES:
        device, step = hardware.get(name), r.steps[name]
        where = f"  {device.display_name} ({_kv_gb(device.capacity_bytes)})"
        if r.fits[name]:
            lines += [f"{where}: fits", f"      decode step {_kv_step_line(step)}"]
        else:
            lines += [f"{where}: does NOT fit: needs {step.devices_needed:,} such devices",
                      f"      if one device could hold it: step {_kv_step_line(step)}"]
        lines.append(f"      longest context at this batch {r.max_context_that_fits[name]:,} "
                     f"tokens, largest batch at this context {r.max_batch_that_fits[name]:,}")
    lines += [f"note: {line}" for line in r.message.splitlines()]
    return "\n".join(lines)


KV_FIGURE_CONTEXTS = tuple(sorted({int(c) for c in
                                   [64 * 2 ** (k / 4) for k in range(57)]}))  # 64 ... 2**20


def kv_caption(reading: KVReading) -> str:
    """What the lines show, from their numbers: where KV passes the weights, what fits where."""
    r = reading
    if r.crossover_context is None:
        first = (f"At batch {r.batch:,} the KV cache (blue) stays below the weights (black) up "
                 f"to {KV_CONTEXT_LIMIT_TOKENS:,} tokens")
    else:
        first = (f"At batch {r.batch:,} the KV cache (blue) passes the weights (black) at "
                 f"{r.crossover_context:,} tokens")
    longest = {hardware.get(name).display_name: r.max_context_that_fits[name]
               for name in KV_DEVICES}
    if not any(longest.values()):
        fits = "fit in none of these GPUs at any context"
    else:
        fits = "fit in " + ", ".join(
            f"an {label} up to {tokens:,} tokens" if 0 < tokens < KV_CONTEXT_LIMIT_TOKENS else
            f"an {label} at every context shown" if tokens else f"no {label}"
            for label, tokens in longest.items())
    return (f"{first}; weights + KV (dashed) {fits} (dotted: each GPU's memory). The red dot "
            f"is {r.context_len:,} tokens.")


class KVGrowthPlot:
    """Lesson 04's lines, drawn once and moved for each reading: KV and weight bytes against
    context, with each GPU's memory."""

    def __init__(self):
        import numpy as np

        self.contexts = np.array(KV_FIGURE_CONTEXTS)
        self.figure, (self.axes,), self.caption = framed_figure(8.0, 5.0, right=2.5,
                                                                bottom=1.25)
        axes = self.axes
        for name, color in zip(KV_DEVICES, ("tab:gray", "tab:olive", "tab:brown"), strict=True):
            device = hardware.get(name)
            axes.axhline(device.capacity_bytes / 1e9, color=color, linestyle=":", linewidth=1.5,
                         label=f"{device.display_name} ({device.capacity_bytes / 1e9:,.0f} GB)")
        self.weights = axes.axhline(1, color="black", linewidth=2)
        (self.kv,) = axes.plot(self.contexts, self.contexts, color="tab:blue", linewidth=2)
        (self.total,) = axes.plot(self.contexts, self.contexts, "--", color="tab:orange",
                                  label="weights + KV")
        (self.point,) = axes.plot([1], [1], "o", color="red", label="this point")
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlim(self.contexts[0], self.contexts[-1])
        axes.set_xlabel("context length (tokens per sequence)")
        axes.set_ylabel("bytes (GB = 1e9 bytes)")
        fix_layout(axes)

    def update(self, reading: KVReading):
        """Redraw the lines for ``reading``; returns the figure."""
        import numpy as np

        r = reading
        kv_gb = np.array([models.kv_cache_bytes(r.model, int(c), r.batch, r.kv_dtype)
                          for c in self.contexts]) / 1e9
        weights_gb = r.weight_bytes / 1e9
        self.kv.set_ydata(kv_gb)
        self.total.set_ydata(kv_gb + weights_gb)
        self.weights.set_ydata([weights_gb, weights_gb])
        self.point.set_data([r.context_len], [r.kv_bytes / 1e9])
        self.weights.set_label(f"weights ({r.weight_dtype})")
        self.kv.set_label(f"KV cache, batch {r.batch:,}, {r.kv_dtype}")
        capacities = [hardware.get(name).capacity_bytes / 1e9 for name in KV_DEVICES]
        low = min(kv_gb[0], weights_gb)
        high = max(kv_gb[-1] + weights_gb, *capacities)
        self.axes.set_ylim(low / 3, high * 3)
        self.axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
        kind = "hypothetical " if r.hypothetical else ""
        self.axes.title.set_text(f"KV cache of {r.model.display_name or r.model_name} "
                                 f"({kind}{r.model.attention_kind.upper()}) vs context")
        set_caption(self.caption, kv_caption(r))
        return self.figure


def kv_growth_figure(reading: KVReading):
    """Log-log KV and weight bytes vs context at the reading's batch, with GPU memory lines."""
    return KVGrowthPlot().update(reading)


def kv_dashboard(model_name: str = "llama-3-8b", context_len: int = 8192, batch: int = 1,
                 kv_dtype: str = "fp16", attention: str = "published"):
    """Sliders for context (log), batch, model, KV dtype and attention view (lesson 04)."""
    import ipywidgets as widgets

    check_choice("model_name", model_name, KV_MODELS)
    context_len = check_count("context_len", context_len, 1, KV_CONTEXT_LIMIT_TOKENS)
    check_choice("context_len", context_len, KV_CONTEXT_CHOICES)
    batch = check_count("batch", batch, 1, KV_BATCH_LIMIT)
    check_choice("batch", batch, BATCH_CHOICES)
    check_choice("kv_dtype", kv_dtype, KV_DTYPES)
    check_choice("attention", attention, tuple(KV_ATTENTION_VIEWS))
    model_picker = widgets.Dropdown(options=KV_MODELS, value=model_name, description="model")
    context_slider = widgets.SelectionSlider(
        options=[(f"{tokens:,}", tokens) for tokens in KV_CONTEXT_CHOICES], value=context_len,
        description="context (tokens, log scale)")
    batch_slider = widgets.SelectionSlider(options=[(f"{b:,}", b) for b in BATCH_CHOICES],
                                           value=batch, description="batch (sequences)")
    dtype_picker = widgets.Dropdown(options=KV_DTYPES, value=kv_dtype, description="KV dtype")
    attention_picker = widgets.Dropdown(
        options=[("as published", "published"), ("MHA (kv heads = heads)", "mha"),
                 ("GQA (8 kv heads)", "gqa"), ("MQA (1 kv head)", "mqa"),
                 ("MLA (DeepSeek only)", "mla")],
        value=attention, description="attention")
    plot = KVGrowthPlot()

    def compute():
        reading = kv_readings(model_picker.value, context_slider.value, batch_slider.value,
                              dtype_picker.value, attention_picker.value)
        return describe_kv(reading), lambda: plot.update(reading)

    return _dashboard([[model_picker, attention_picker, dtype_picker],
                       [context_slider, batch_slider]], compute)


# ---- lesson 06: prefill-decode disaggregation dashboard

DISAGGREGATION_LINKS = ("pcie4-x16", "pcie5-x16", "infiniband-hdr", "infiniband-ndr",
                        "infiniband-xdr", "nvlink4")
PROMPT_TOKEN_CHOICES = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
OUTPUT_TOKEN_CHOICES = (1, 16, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class DisaggregationReading:
    """One request stream served co-located and disaggregated, plus one prompt's KV transfer."""

    model_name: str
    device_name: str
    link_name: str
    prompt_tokens: int
    output_tokens: int
    n_requests: int
    arrival_rate_per_s: float
    kv_bytes: int  # KV cache of one prompt of `prompt_tokens`
    kv_transfer_s: float  # that KV over the link
    link_bandwidth_bytes_per_s: float
    colocated: object  # offload.ServingRun
    disaggregated: object  # offload.ServingRun


def disaggregation_reading(
    prompt_tokens: int, output_tokens: int, link_name: str, model_name: str = "llama-3-8b",
    device_name: str = "h100-sxm", n_requests: int = 24, arrival_rate_per_s: float = 10.0,
    seed: int = 0,
) -> DisaggregationReading:
    """Simulate one seeded request stream both ways (lesson 06); numbers only, no widgets."""
    model, device, link = (models.get(model_name), hardware.get(device_name),
                           hardware.link(link_name))
    requests = offload.request_stream(n_requests, arrival_rate_per_s, prompt_tokens,
                                      output_tokens, seed)
    return DisaggregationReading(
        model_name=model.name, device_name=device.name, link_name=link.name,
        prompt_tokens=prompt_tokens, output_tokens=output_tokens, n_requests=n_requests,
        arrival_rate_per_s=float(arrival_rate_per_s),
        kv_bytes=models.kv_cache_bytes(model, prompt_tokens),
        kv_transfer_s=offload.kv_transfer_seconds(model, prompt_tokens, link),
        link_bandwidth_bytes_per_s=link.bandwidth_bytes_per_s,
        colocated=offload.simulate_colocated(requests, model, device, replicas=2),
        disaggregated=offload.simulate_disaggregated(requests, model, device, link),
    )


def describe_disaggregation(reading: DisaggregationReading) -> str:
    """A few lines of plain text that read out a `disaggregation_reading` result."""
    def cell(seconds: float) -> str:
        """One right-aligned time column."""
        return f"{format_seconds(seconds):>12}"

    lines = [
        f"{reading.model_name} on {reading.device_name}: {reading.n_requests} requests at "
        f"{reading.arrival_rate_per_s:g}/s, prompts ~{reading.prompt_tokens:,} tokens, "
        f"answers ~{reading.output_tokens:,} tokens",
        f"KV cache of a {reading.prompt_tokens:,}-token prompt: {format_bytes(reading.kv_bytes)}"
        f"; over {reading.link_name} "
        f"({format_rate(reading.link_bandwidth_bytes_per_s, 'B/s')}): "
        f"{format_seconds(reading.kv_transfer_s)}",
        "",
        f"{'':22}{'time to first token':>24}{'time per output token':>26}",
        f"{'':22}{'median':>12}{'p90':>12}{'median':>14}{'p90':>12}",
    ]
    for label, run in (("co-located (2 GPUs)", reading.colocated),
                       ("disaggregated (1 + 1)", reading.disaggregated)):
        if all(s.request.output_tokens == 1 for s in run.served):
            per_token = f"{'n/a (one-token answers)':>26}"
        else:
            per_token = "  " + cell(run.time_per_output_token_s(50)) + cell(
                run.time_per_output_token_s(90))
        lines.append(f"{label:<22}{cell(run.time_to_first_token_s(50))}"
                     f"{cell(run.time_to_first_token_s(90))}{per_token}")
    for label, run in (("co-located", reading.colocated),
                       ("disaggregated", reading.disaggregated)):
        if not run.fits:
            lines.append(
                f"{label}: weights {format_bytes(run.weight_bytes)} + peak KV cache "
                f"{format_bytes(run.peak_kv_bytes)} do NOT fit in one {reading.device_name} "
                f"({format_bytes(run.capacity_bytes)}): a real server would queue requests")
    return "\n".join(lines)


def _one_token_answers(run) -> bool:
    """True when every answer of the run is one token: no time per output token exists."""
    return all(s.request.output_tokens == 1 for s in run.served)


def disaggregation_caption(reading: DisaggregationReading) -> str:
    """What the points show, from their numbers: medians of both ways, side by side."""
    co, dis = reading.colocated, reading.disaggregated
    first = (f"Median time to first token: co-located "
             f"{format_seconds(co.time_to_first_token_s(50))}, disaggregated "
             f"{format_seconds(dis.time_to_first_token_s(50))} (its KV transfer: "
             f"{format_seconds(reading.kv_transfer_s)}).")
    if _one_token_answers(co):
        return first + " One-token answers have no time per output token (n/a)."
    return (first + f" Median time per output token: co-located "
            f"{format_seconds(co.time_per_output_token_s(50))}, disaggregated "
            f"{format_seconds(dis.time_per_output_token_s(50))}.")


class DisaggregationPlot:
    """Lesson 06's per-request points, drawn once and moved for each reading."""

    def __init__(self):
        self.figure, (self.first, self.per_token), self.caption = framed_figure(
            10.0, 4.9, 2, top=1.1, bottom=1.2)
        self.title = self.figure.text(0.5, 1 - 0.1 / 4.9, "", ha="center", va="top",
                                      fontsize=12)
        self.series = []
        for mode, style in (("co-located", {"marker": "o", "color": "tab:blue"}),
                            ("disaggregated", {"marker": "s", "color": "tab:orange",
                                               "markerfacecolor": "none", "markersize": 8})):
            self.series.append((self.first.plot([], [], linestyle="none", label=mode, **style)[0],
                                self.per_token.plot([], [], linestyle="none", **style)[0]))
        self.figure.legend(loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / 4.9), ncol=2)
        self.not_applicable = self.per_token.text(
            0.5, 0.5, "n/a: one-token answers\nhave no time per output token",
            transform=self.per_token.transAxes, ha="center", va="center", fontsize=11,
            color="gray", visible=False)
        self.first.set_title("Time to first token")
        self.per_token.set_title("Time per output token")
        for axes, label in ((self.first, "time to first token (ms)"),
                            (self.per_token, "time per output token (ms)")):
            axes.set_xlabel("request (in arrival order)")
            axes.set_ylabel(label)
            fix_layout(axes, axes.get_title())

    def update(self, reading: DisaggregationReading):
        """Move the points to ``reading``'s requests; returns the figure."""
        import math

        one_token = _one_token_answers(reading.colocated)
        for (first, per_token), run in zip(self.series, (reading.colocated,
                                                         reading.disaggregated), strict=True):
            index = [s.request.index for s in run.served]
            first.set_data(index, [s.time_to_first_token_s * 1e3 for s in run.served])
            # a one-token answer has no time per output token: no point, never a zero
            per_token.set_data(index, [s.time_per_output_token_s * 1e3
                                       if s.request.output_tokens > 1 else math.nan
                                       for s in run.served])
            per_token.set_visible(not one_token)
        self.not_applicable.set_visible(one_token)
        for index, axes in enumerate((self.first, self.per_token)):
            highest = max((value for series in self.series for value in series[index].get_ydata()
                           if series[index].get_visible() and math.isfinite(value)), default=1)
            axes.set_ylim(0, highest * 1.12)
            axes.set_xlim(-1, reading.n_requests)
        answers = "token" if reading.output_tokens == 1 else "tokens"
        self.title.set_text(f"{reading.model_name} on {reading.device_name}: prompts "
                            f"~{reading.prompt_tokens:,} tokens, answers "
                            f"~{reading.output_tokens:,} {answers}, KV over {reading.link_name}")
        set_caption(self.caption, disaggregation_caption(reading))
        return self.figure


def disaggregation_figure(reading: DisaggregationReading):
    """Per-request time to first token and time per output token, both ways, in ms."""
    return DisaggregationPlot().update(reading)


def disaggregation_dashboard(model_name: str = "llama-3-8b", device_name: str = "h100-sxm",
                             n_requests: int = 24, arrival_rate_per_s: float = 10.0,
                             seed: int = 0):
    """Controls for prompt length, answer length and link: co-located vs disaggregated (06)."""
    import ipywidgets as widgets

    prompt_slider = widgets.SelectionSlider(
        options=[(f"{tokens:,}", tokens) for tokens in PROMPT_TOKEN_CHOICES], value=8192,
        description="prompt (tokens)")
    output_slider = widgets.SelectionSlider(
        options=[(f"{tokens:,}", tokens) for tokens in OUTPUT_TOKEN_CHOICES], value=256,
        description="answer (tokens)")
    link_picker = widgets.Dropdown(options=DISAGGREGATION_LINKS, value="infiniband-ndr",
                                   description="KV link")
    plot = DisaggregationPlot()
    reading_of = functools.lru_cache(maxsize=256)(disaggregation_reading)  # revisits: free

    def compute():
        reading = reading_of(prompt_slider.value, output_slider.value, link_picker.value,
                             model_name, device_name, n_requests, arrival_rate_per_s, seed)
        return describe_disaggregation(reading), lambda: plot.update(reading)

    return _dashboard([[prompt_slider, output_slider, link_picker]], compute)
