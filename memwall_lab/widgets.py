"""Interactive dashboards for the lessons (lesson 03 onwards).

Each dashboard is a thin ipywidgets shell over a pure function that takes the
slider values and returns numbers and text. The pure functions are what the
tests call: they need no browser and take well under 50 ms.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from memwall_lab import hardware, models, offload, training
from memwall_lab.roofline import Roof
from memwall_lab.units import format_bytes, format_rate, format_seconds
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
    roofs = list(roofs) if isinstance(roofs, Iterable) and not isinstance(roofs, str) else [roofs]
    if not roofs:
        raise ValueError("roofs must hold at least one Roof (the machines to compare), got none")
    if not all(isinstance(roof, Roof) for roof in roofs):
        raise ValueError(f"roofs must be a list of roofline.Roof (see Roof.from_hardware), "
                         f"got {shown(roofs)}")
    model = models.get(model_name)
    cost = models.decode_step(model, context_len, batch, dtype)
    capacities_bytes = {} if capacities_bytes is None else _check_capacities(capacities_bytes)
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


def _check_capacities(capacities_bytes) -> dict[str, float]:
    """A dict of device name -> capacity in bytes, each a positive finite number."""
    if not isinstance(capacities_bytes, Mapping):
        raise ValueError("capacities_bytes must be a dict of device name -> bytes, got "
                         f"{capacities_bytes!r}")
    return {name: check_positive(f"capacities_bytes[{name!r}]", capacity)
            for name, capacity in capacities_bytes.items()}


def describe_decode(model_name: str, batch: int, context_len: int, readings) -> str:
    """A few lines of plain text that read out a `decode_readings` result."""
    if not readings:
        raise ValueError("readings must hold at least one DecodeReading (from decode_readings "
                         "with at least one roof), got none")
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


def _dashboard(rows, compute):
    """Wire control rows to a readout and a figure; display and return the box.

    `rows` is a list of lists of controls; `compute()` reads the controls and
    returns (text, figure or None), or raises ValueError for a point it cannot
    compute, which the readout then shows instead of an exception.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    readout, figure_area = widgets.HTML(), widgets.Output()

    def update(*_):
        try:
            text, figure = compute()
        except ValueError as error:
            readout.value = as_preformatted(f"cannot compute this point: {error}")
            figure_area.clear_output()  # the last figure belongs to another point
            return
        readout.value = as_preformatted(text)
        if figure is not None:
            with figure_area:
                figure_area.clear_output(wait=True)
                display(figure)
                plt.close(figure)

    for row in rows:
        for control in row:
            control.observe(update, names="value")
    update()
    box = widgets.VBox([*(widgets.HBox(row) for row in rows), readout, figure_area])
    display(box)
    return box


def decode_dashboard(roofs: list[Roof], context_len: int = 1024, dtype: str = "fp16",
                     capacities_bytes: dict[str, int] | None = None):
    """Sliders for batch and model that move a decode step along each roof (lesson 03)."""
    import ipywidgets as widgets

    from memwall_lab import roofline

    model_picker = widgets.Dropdown(options=DECODE_MODELS, value="llama-2-7b",
                                    description="model")
    batch_slider = widgets.SelectionSlider(options=BATCH_CHOICES, value=1,
                                           description="batch (seqs)")

    def compute():
        model_name, batch = model_picker.value, batch_slider.value
        readings = decode_readings(model_name, batch, context_len, roofs, dtype,
                                   capacities_bytes)
        points = [roofline.KernelPoint(f"decode on {r.device}", r.intensity_flops_per_byte,
                                       r.attainable_flops_per_s) for r in readings]
        figure = roofline.plot(roofs, points, title=f"Decode step of {model_name}, "
                               f"batch {batch}")
        return describe_decode(model_name, batch, context_len, readings), figure

    return _dashboard([[model_picker, batch_slider]], compute)


# ---- lesson 05: training memory dashboard
TRAINING_MODELS = ("gpt2-xl", "phi-3-mini", "llama-2-7b", "llama-3-8b", "llama-2-13b",
                   "mixtral-8x7b", "llama-3-70b", "gpt-3-175b", "llama-3.1-405b", "deepseek-v3")
TRAINING_OPTIMIZERS = ("adam", "sgd-momentum", "sgd")
TRAINING_PRECISIONS = ("mixed", "fp32")
CUSTOM_MODEL = "parameter count (slider)"
ACCELERATOR_80GB_BYTES = 80e9


@dataclass(frozen=True)
class TrainingReading:
    """Memory one training step holds, by part, and how many accelerators that fills."""

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


def training_readings(
    model_name_or_params: str | int | float, optimizer: str = "adam", precision: str = "mixed",
    batch: int = 1, seq_len: int = 2048, activations: str = "flash",
    accelerator_bytes: float = ACCELERATOR_80GB_BYTES,
) -> TrainingReading:
    """Training memory of a dataset model (by name) or of a bare parameter count.

    States follow ``memwall_lab.training.BYTES_PER_PARAM`` (mixed-precision Adam:
    2 + 2 + 12 = 16 bytes per parameter). A named model also gets activation
    bytes for ``batch`` x ``seq_len`` tokens; a bare count has no layers to
    estimate them from, so its activations are left out (None).
    """
    optimizer = check_choice("optimizer", optimizer, TRAINING_OPTIMIZERS)
    precision = check_choice("precision", precision, TRAINING_PRECISIONS)
    accelerator_bytes = check_number("accelerator_bytes", accelerator_bytes, 1)  # a byte at least
    per_param = training.bytes_per_param(optimizer, precision)
    if isinstance(model_name_or_params, str):
        model = models.get(model_name_or_params)
        memory = training.training_memory(model, batch, seq_len, optimizer, precision,
                                          activations)
        label, n_params = model_name_or_params, memory.n_params
        activation_bytes: int | None = memory.activation_bytes
    else:
        n_params = round(check_number("a parameter count (or a model name from the dataset)",
                                      model_name_or_params, 1, float(MAX_COUNT)))
        label, activation_bytes = f"{n_params / 1e9:,.4g}B-parameter model", None
    weights, gradients, optimizer_states = (n * n_params for n in per_param)
    total = weights + gradients + optimizer_states + (activation_bytes or 0)
    return TrainingReading(
        label=label, n_params=n_params, optimizer=optimizer, precision=precision,
        bytes_per_param=per_param, weight_bytes=weights, gradient_bytes=gradients,
        optimizer_bytes=optimizer_states, activation_bytes=activation_bytes,
        accelerator_bytes=accelerator_bytes,
        accelerators_needed=max(1, math.ceil(total / accelerator_bytes)),
    )


def describe_training(reading: TrainingReading) -> str:
    """Plain-text readout of a `training_readings` result: parts, total, accelerators."""
    def gigabytes(size_bytes: float) -> str:
        return f"{size_bytes / 1e9:>12,.1f} GB"

    weights, gradients, optimizer_states = reading.bytes_per_param
    capacity = f"{reading.accelerator_bytes / 1e9:,.0f} GB"
    lines = [
        f"{reading.label}: {reading.n_params / 1e9:,.4g} billion parameters, "
        f"{reading.optimizer}, {reading.precision} precision",
        f"  weights      {weights:>2} B/param {gigabytes(reading.weight_bytes)}",
        f"  gradients    {gradients:>2} B/param {gigabytes(reading.gradient_bytes)}",
        f"  optimizer    {optimizer_states:>2} B/param {gigabytes(reading.optimizer_bytes)}",
        f"  states       {sum(reading.bytes_per_param):>2} B/param "
        f"{gigabytes(reading.states_bytes)}",
    ]
    if reading.activation_bytes is None:
        lines.append("  activations  not counted (a bare parameter count has no layers)")
    else:
        lines.append(f"  activations             {gigabytes(reading.activation_bytes)}")
    lines.append(f"  total                   {gigabytes(reading.total_bytes)}  = "
                 f"{reading.times_fp16_weights:.1f}x the fp16 weights "
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
    return "\n".join(lines)


def training_figure(reading: TrainingReading):
    """Stacked bars of one reading: bytes per parameter, and GB against the accelerator."""
    import matplotlib.pyplot as plt

    from memwall_lab.plotting import caption

    parts = [("weights", reading.weight_bytes), ("gradients", reading.gradient_bytes),
             ("optimizer states", reading.optimizer_bytes),
             ("activations", reading.activation_bytes or 0)]
    figure, (per_param_axis, total_axis) = plt.subplots(1, 2, figsize=(8.5, 3.6))
    bottom_per_param = bottom_gb = 0.0
    for name, size_bytes in parts:
        per_param = size_bytes / reading.n_params
        per_param_axis.bar([0], [per_param], bottom=bottom_per_param, label=name)
        total_axis.bar([0], [size_bytes / 1e9], bottom=bottom_gb, label=name)
        bottom_per_param += per_param
        bottom_gb += size_bytes / 1e9
    total_axis.axhline(reading.accelerator_bytes / 1e9, color="black", linestyle="--",
                       label=f"one {reading.accelerator_bytes / 1e9:,.0f} GB accelerator")
    per_param_axis.set_ylabel("bytes per parameter (B)")
    per_param_axis.set_title("Bytes per parameter")
    total_axis.set_ylabel("memory (GB)")
    total_axis.set_title(f"Total: {reading.accelerators_needed:,} accelerator(s) to hold it")
    for axis in (per_param_axis, total_axis):
        axis.set_xticks([0], [f"{reading.optimizer}, {reading.precision}"])
        axis.set_xlim(-1, 1)
    total_axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(f"Training memory of {reading.label}")
    figure.tight_layout()
    caption(figure, "Weights are the smallest part: gradients and optimizer states multiply "
            "them, and activations grow with batch x tokens.")
    return figure


def training_dashboard(accelerator_bytes: float = ACCELERATOR_80GB_BYTES, batch: int = 1,
                       seq_len: int = 2048, model_name: str = "llama-2-7b"):
    """Pick a model (or a parameter count), optimizer and precision: see training memory."""
    import ipywidgets as widgets

    check_choice("model_name", model_name, (*TRAINING_MODELS, CUSTOM_MODEL))
    model_picker = widgets.Dropdown(options=(*TRAINING_MODELS, CUSTOM_MODEL), value=model_name,
                                    description="model")
    params_slider = widgets.FloatLogSlider(value=7.0, base=10, min=-1, max=4, step=0.05,
                                           description="params (billions)",
                                           style={"description_width": "initial"})
    optimizer_picker = widgets.Dropdown(options=TRAINING_OPTIMIZERS, value="adam",
                                        description="optimizer")
    precision_picker = widgets.Dropdown(options=TRAINING_PRECISIONS, value="mixed",
                                        description="precision")

    def compute():
        custom = model_picker.value == CUSTOM_MODEL
        params_slider.disabled = not custom
        choice = params_slider.value * 1e9 if custom else model_picker.value
        reading = training_readings(choice, optimizer_picker.value, precision_picker.value,
                                    batch, seq_len, accelerator_bytes=accelerator_bytes)
        header = f"activations for batch {batch} x {seq_len} tokens (fused attention)\n"
        return header + describe_training(reading), training_figure(reading)

    return _dashboard([[model_picker, params_slider], [optimizer_picker, precision_picker]],
                      compute)


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
    fits: dict  # device name -> weights + KV fit in its memory
    max_context_that_fits: dict  # device name -> longest context at this batch (0: none)
    max_batch_that_fits: dict  # device name -> largest batch at this context (0: none)
    message: str  # what is hypothetical or extreme about this point ("" if nothing)


def _kv_gb(size_bytes: float) -> str:
    """Bytes as decimal GB, as device memory is sold (80 GB = 80e9 bytes)."""
    return f"{size_bytes / 1e9:,.1f} GB"


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


def _kv_messages(model, published, reading_fits, weights, kv, context_len) -> list[str]:
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
    capacities = {name: hardware.get(name).capacity_bytes for name in KV_DEVICES}
    if all(weights > capacity for capacity in capacities.values()):
        notes.append(f"the weights alone ({_kv_gb(weights)}) fit on none of these single "
                     "GPUs: shard them over several, or quantize them")
    elif not any(reading_fits.values()):
        notes.append(f"weights + KV ({_kv_gb(weights + kv)}) fit on none of these GPUs: "
                     "shorten the context, cut the batch, quantize the KV cache or shard")
    if kv > weights:
        notes.append(f"the KV cache is {kv / weights:,.1f}x the weights")
    return notes


def kv_readings(model_name: str, context_len: int, batch: int = 1, kv_dtype: str = "fp16",
                attention: str = "published", weight_dtype: str = "fp16") -> KVReading:
    """KV bytes vs weight bytes, KV share of a decode step, crossover and fits (lesson 04).

    Pure arithmetic on ``models``: well under 50 ms. ValueError (naming the allowed
    values) for an unknown model, dtype or attention view, or a context outside
    1..1,048,576 tokens or a batch outside 1..1024.
    """
    model = kv_model_view(model_name, attention)
    context_len = check_count("context_len (tokens)", context_len, 1, KV_CONTEXT_LIMIT_TOKENS)
    batch = check_count("batch (sequences)", batch, 1, KV_BATCH_LIMIT)
    check_choice("kv_dtype", kv_dtype, KV_DTYPES)
    check_choice("weight_dtype", weight_dtype, KV_DTYPES)
    kv = models.kv_cache_bytes(model, context_len, batch, kv_dtype)
    weights = models.weight_bytes(model, weight_dtype)
    step = models.decode_step(model, context_len, batch, weight_dtype, kv_dtype)
    fits, longest, largest = {}, {}, {}
    for name in KV_DEVICES:
        device = hardware.get(name)
        fits[name] = weights + kv <= device.capacity_bytes
        longest[name] = models.max_context_len(model, device, batch, weight_dtype, kv_dtype,
                                               limit=KV_CONTEXT_LIMIT_TOKENS)
        largest[name] = models.max_batch(model, device, context_len, weight_dtype, kv_dtype)
    published = models.get(model_name)
    notes = _kv_messages(model, published, fits, weights, kv, context_len)
    return KVReading(
        model=model, model_name=model_name, attention=attention,
        hypothetical=model is not published, context_len=context_len, batch=batch,
        kv_dtype=kv_dtype, weight_dtype=weight_dtype,
        kv_bytes_per_token=models.kv_bytes_per_token(model, kv_dtype), kv_bytes=kv,
        weight_bytes=weights, bytes_per_step=step.bytes_total,
        kv_share_of_step=(step.kv_read_bytes + step.kv_write_bytes) / step.bytes_total,
        crossover_context=_kv_crossover(model, batch, kv_dtype, weights),
        fits=fits, max_context_that_fits=longest, max_batch_that_fits=largest,
        message="\n".join(notes),
    )


def _kv_layout(model: models.Model) -> str:
    """'GQA, 8 KV heads' or 'MLA, 512+64 latent' for the readout."""
    if model.attention_kind == "mla":
        return f"MLA, {model.kv_lora_rank}+{model.qk_rope_head_dim} latent values per layer"
    heads = "head" if model.n_kv_heads == 1 else "heads"
    return f"{model.attention_kind.upper()}, {model.n_kv_heads} KV {heads}"


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
        f"  weights ({r.weight_dtype}): {_kv_gb(r.weight_bytes)};  KV / weights = "
        f"{r.kv_bytes / r.weight_bytes:,.3g}",
        f"  one decode step moves {_kv_gb(r.bytes_per_step)}, {r.kv_share_of_step:.0%} of it KV",
        f"  {crossover}",
    ]
    for name in KV_DEVICES:
        device = hardware.get(name)
        verdict = "fits" if r.fits[name] else "does NOT fit"
        lines.append(
            f"  {device.display_name} ({_kv_gb(device.capacity_bytes)}): {verdict}; "
            f"longest context {r.max_context_that_fits[name]:,} tokens at this batch, "
            f"largest batch {r.max_batch_that_fits[name]:,} at this context")
    lines += [f"note: {line}" for line in r.message.splitlines()]
    return "\n".join(lines)


def kv_growth_figure(reading: KVReading):
    """Log-log KV and weight bytes vs context at the reading's batch, with GPU memory lines."""
    import matplotlib.pyplot as plt
    import numpy as np

    from memwall_lab.plotting import caption

    r = reading
    contexts = np.unique(np.geomspace(64, KV_CONTEXT_LIMIT_TOKENS, 80).astype(int))
    kv_gb = np.array([models.kv_cache_bytes(r.model, int(c), r.batch, r.kv_dtype)
                      for c in contexts]) / 1e9
    figure, axes = plt.subplots()
    for name, color in zip(KV_DEVICES, ("tab:gray", "tab:olive", "tab:brown"), strict=True):
        device = hardware.get(name)
        axes.axhline(device.capacity_bytes / 1e9, color=color, linestyle=":", linewidth=1.5,
                     label=f"{device.display_name} ({device.capacity_bytes / 1e9:.0f} GB)")
    axes.axhline(r.weight_bytes / 1e9, color="black", linewidth=2,
                 label=f"weights ({r.weight_dtype})")
    axes.loglog(contexts, kv_gb, color="tab:blue", linewidth=2,
                label=f"KV cache, batch {r.batch}, {r.kv_dtype}")
    axes.loglog(contexts, kv_gb + r.weight_bytes / 1e9, "--", color="tab:orange",
                label="weights + KV")
    axes.plot([r.context_len], [r.kv_bytes / 1e9], "o", color="red", label="this point")
    axes.set_xlabel("context length (tokens per sequence)")
    axes.set_ylabel("bytes (GB = 1e9 bytes)")
    kind = "hypothetical " if r.hypothetical else ""
    axes.set_title(f"KV cache of {r.model.display_name or r.model_name} "
                   f"({kind}{r.model.attention_kind.upper()}) vs context")
    axes.legend(loc="lower right")
    caption(figure, "Where the blue KV line crosses the black weights line the cache outweighs "
            "the model; once the dashed total passes a GPU's dotted line it no longer fits.")
    return figure


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
    wide = {"description_width": "initial"}
    model_picker = widgets.Dropdown(options=KV_MODELS, value=model_name, description="model",
                                    style=wide)
    context_slider = widgets.SelectionSlider(
        options=[(f"{tokens:,}", tokens) for tokens in KV_CONTEXT_CHOICES], value=context_len,
        description="context (tokens, log scale)", style=wide,
        layout=widgets.Layout(width="460px"))
    batch_slider = widgets.SelectionSlider(options=BATCH_CHOICES, value=batch,
                                           description="batch (sequences)", style=wide)
    dtype_picker = widgets.Dropdown(options=KV_DTYPES, value=kv_dtype,
                                    description="KV dtype", style=wide)
    attention_picker = widgets.Dropdown(
        options=[("as published", "published"), ("MHA (kv heads = heads)", "mha"),
                 ("GQA (8 kv heads)", "gqa"), ("MQA (1 kv head)", "mqa"),
                 ("MLA (DeepSeek only)", "mla")],
        value=attention, description="attention", style=wide)

    def compute():
        reading = kv_readings(model_picker.value, context_slider.value, batch_slider.value,
                              dtype_picker.value, attention_picker.value)
        return describe_kv(reading), kv_growth_figure(reading)

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


def disaggregation_figure(reading: DisaggregationReading):
    """Per-request time to first token and time per output token, both ways, in ms."""
    import matplotlib.pyplot as plt

    from memwall_lab.plotting import caption

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run, marker in ((reading.colocated, "o"), (reading.disaggregated, "s")):
        index = [s.request.index for s in run.served]
        left.plot(index, [s.time_to_first_token_s * 1e3 for s in run.served], marker,
                  label=run.mode)
        right.plot(index, [s.time_per_output_token_s * 1e3 for s in run.served], marker,
                   label=run.mode)
    left.set_title("Time to first token")
    right.set_title("Time per output token")
    for axes, label in ((left, "time to first token (ms)"),
                        (right, "time per output token (ms)")):
        axes.set_xlabel("request (in arrival order)")
        axes.set_ylabel(label)
        axes.set_ylim(bottom=0)
        axes.legend()
    caption(fig, "Co-located decode steps wait behind other requests' prefills (uneven time "
            "per token); disaggregated, one GPU queues all prefills and each KV crosses a link.")
    fig.tight_layout()
    return fig


def disaggregation_dashboard(model_name: str = "llama-3-8b", device_name: str = "h100-sxm",
                             n_requests: int = 24, arrival_rate_per_s: float = 10.0,
                             seed: int = 0):
    """Controls for prompt length, answer length and link: co-located vs disaggregated (06)."""
    import ipywidgets as widgets

    prompt_slider = widgets.SelectionSlider(options=PROMPT_TOKEN_CHOICES, value=8192,
                                            description="prompt (tokens)")
    output_slider = widgets.SelectionSlider(options=OUTPUT_TOKEN_CHOICES, value=256,
                                            description="answer (tokens)")
    link_picker = widgets.Dropdown(options=DISAGGREGATION_LINKS, value="infiniband-ndr",
                                   description="KV link")

    def compute():
        reading = disaggregation_reading(prompt_slider.value, output_slider.value,
                                         link_picker.value, model_name, device_name,
                                         n_requests, arrival_rate_per_s, seed)
        return describe_disaggregation(reading), disaggregation_figure(reading)

    return _dashboard([[prompt_slider, output_slider, link_picker]], compute)
