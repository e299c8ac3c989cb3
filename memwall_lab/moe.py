"""Mixture-of-experts decode economics (lesson 04).

An MoE layer sends each token to k of its E routed experts. One token reads k
experts, but a decode step of B tokens reads every expert *any* of them chose.
Under uniform, independent routing (each token picks k distinct experts, all
equally likely, whatever the others picked) a step touches, per layer,

    E x (1 - (1 - k/E)^B) experts in expectation   (``models.expected_experts_touched``)

-- k at B = 1, under the worst case min(E, B k) from B = 2 on, and all E as B
grows. So decode reads more than the active parameters once B > 1, and each
expert sees only B k / E tokens on average: the expert matmuls turn compute-bound
at about E / k times the batch a dense model needs. ``models.decode_step`` reads
exactly these expected bytes.

Here: the library's routing simulation (the reference for the formula), a tiny
MoE layer in this machine's memory to time, and the lesson's dashboard -- pure
functions (``moe_reading``, ``describe_moe``, ``moe_figure``) under a thin
ipywidgets shell wired by ``widgets._dashboard``. Sizes are bytes, times
seconds, rates per second; numbers are formatted only when printed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from memwall_lab import hardware, models, timing
from memwall_lab.step import StepTime
from memwall_lab.validate import check_choice, check_count
from memwall_lab.widgets import _dashboard

MOE_MODELS = ("mixtral-8x7b", "deepseek-v3")
MOE_DEVICES = ("h100-sxm", "h200")
MOE_DTYPES = ("fp16", "fp8", "int4")
DEVICE_COUNTS = (1, 2, 4, 8, 16)
BATCH_CHOICES = tuple(2**power for power in range(0, 13))  # 1 ... 4,096 sequences
CONTEXT_CHOICES = (1024, 4096, 8192, 32768, 131072)


# ---------------------------------------------------------------- routing


def route(rng: np.random.Generator, tokens: int, n_experts: int,
          experts_per_token: int) -> np.ndarray:
    """(tokens, k) expert indices: each row k distinct experts of E, uniformly at random.

    Ranks E uniform random numbers per token and keeps the k smallest: every
    k-subset is equally likely, independently for every token.
    """
    tokens = check_count("tokens", tokens, 1)
    n_experts = check_count("n_experts", n_experts, 1)
    experts_per_token = check_count("experts_per_token", experts_per_token, 1, n_experts)
    return np.argsort(rng.random((tokens, n_experts)), axis=1)[:, :experts_per_token]


def distinct_experts(chosen: np.ndarray) -> int:
    """Experts a routed step touches: the distinct indices in ``chosen`` (any shape)."""
    return int(np.unique(np.asarray(chosen)).size)


def simulate_experts_touched(n_experts: int, experts_per_token: int, tokens: int,
                             trials: int = 1000, seed: int = 0) -> np.ndarray:
    """Distinct experts touched in each of ``trials`` simulated steps of ``tokens`` tokens."""
    trials = check_count("trials", trials, 1, 10**6)
    rng = np.random.default_rng(seed)
    return np.array([distinct_experts(route(rng, tokens, n_experts, experts_per_token))
                     for _ in range(trials)])


# ---------------------------------------------------------------- per model


def params_per_expert(model: models.Model | str) -> int:
    """Parameters of one routed expert: (total - active) / (MoE layers x (E - k))."""
    model = _moe_model(model)
    unread = models.param_count(model) - models.active_param_count(model)
    return unread // (model.moe_layers * (model.n_experts - model.experts_per_token))


def per_expert_batch(model: models.Model | str, batch: int) -> float:
    """Tokens each routed expert gets on average, B k / E (below 1: most experts idle)."""
    model = _moe_model(model)
    batch = check_count("batch", batch, 1)
    return batch * model.experts_per_token / model.n_experts


def tokens_per_touched_expert(model: models.Model | str, batch: int) -> float:
    """Tokens each *touched* expert multiplies on average: B k / E(1 - (1 - k/E)^B), >= 1."""
    model = _moe_model(model)
    touched = models.expected_experts_touched(model.n_experts, model.experts_per_token, batch)
    return batch * model.experts_per_token / touched


def batch_touching_every_expert(model: models.Model | str) -> int:
    """Smallest batch whose expected untouched experts per layer, E (1 - k/E)^B, is below 1."""
    model = _moe_model(model)
    n_experts, top_k = model.n_experts, model.experts_per_token
    if top_k == n_experts:
        return 1
    batch = max(1, math.floor(math.log(n_experts) / -math.log1p(-top_k / n_experts)))
    while n_experts * (1 - top_k / n_experts) ** batch >= 1:
        batch += 1
    return batch


def expert_critical_batch(model: models.Model | str, device, dtype: str = "fp16") -> float:
    """Batch at which the expert matmuls alone turn compute-bound: E / k x ridge x bytes / 2.

    An expert multiplies B k / E tokens by its weights: 2 B k / E FLOPs per weight
    against its bytes per weight, so it turns compute-bound where B k / E reaches a
    dense model's critical batch, ridge x bytes per weight / 2 (every expert touched).
    """
    model, device = _moe_model(model), models.as_device(device)
    ridge = models.peak_flops_for(device, dtype) / device.bandwidth_bytes_per_s
    dense = ridge * models.dtype_bits(dtype) / 8 / 2
    return model.n_experts / model.experts_per_token * dense


def as_one_device(device, count: int) -> hardware.Hardware:
    """``count`` such devices as one: count x the memory, bandwidth and peaks.

    Splitting the weights and the batch evenly, each device reads 1/n of the bytes
    and does 1/n of the FLOPs, so a step takes what it would on one device n times
    larger; the ridge point stays the device's own. Communication between them is
    left out (lesson 09 costs it).
    """
    device = models.as_device(device, ("capacity_bytes", "bandwidth_bytes_per_s",
                                       "peak_flops_per_s"))
    count = check_count("count", count, 1, 4096)
    if count == 1:
        return device
    return dataclasses.replace(
        device, name=f"{count}x-{device.name}", display_name=f"{count} x {device.display_name}",
        capacity_bytes=count * device.capacity_bytes,
        bandwidth_bytes_per_s=count * device.bandwidth_bytes_per_s,
        peak_flops_per_s={dtype: count * peak for dtype, peak in device.peak_flops_per_s.items()},
        interconnect_bytes_per_s=None, tdp_watts=None)


def _moe_model(model) -> models.Model:
    """The model, which must be a mixture of experts."""
    model = models.as_model(model)
    if not model.is_moe:
        moe_names = [name for name in models.names() if models.get(name).is_moe]
        raise ValueError(f"{model.name} is not a mixture of experts; MoE models: "
                         f"{', '.join(moe_names)}")
    return model


# ---------------------------------------------------------------- the dashboard's numbers


@dataclass(frozen=True)
class MoEReading:
    """One decode step of an MoE model at one batch on n devices (even split)."""

    model: models.Model
    batch: int
    context_len: int
    dtype: str
    kv_dtype: str
    device_name: str
    devices: int
    experts_touched: float  # routed experts per MoE layer, in expectation
    worst_case_experts: int  # min(E, B k)
    per_expert_batch: float  # B k / E
    tokens_per_touched_expert: float
    weight_bytes_read: int  # one step, all devices together
    active_weight_bytes: int  # what one token reads
    all_weight_bytes: int  # what is held
    critical_batch: int | None  # the weight matmuls turn compute-bound (models.critical_batch)
    expert_critical_batch: float  # the expert matmuls alone: E / k x ridge x bytes / 2
    step: StepTime  # on all devices together

    @property
    def tokens_per_s_per_sequence(self) -> float:
        """Tokens/s each sequence sees: 1 / the step time."""
        return 1 / self.step.seconds


def moe_reading(model_name: str = "deepseek-v3", batch: int = 32, context_len: int = 4096,
                dtype: str = "fp8", device_name: str = "h200", devices: int = 8,
                kv_dtype: str | None = None) -> MoEReading:
    """The dashboard's numbers for one point; pure arithmetic on ``models``, well under 50 ms."""
    check_choice("model_name", model_name, MOE_MODELS)
    check_choice("device_name", device_name, MOE_DEVICES)
    check_choice("dtype", dtype, MOE_DTYPES)
    kv_dtype = dtype if kv_dtype is None else check_choice("kv_dtype", kv_dtype, MOE_DTYPES)
    batch = check_count("batch", batch, 1, 10**6)
    devices = check_count("devices", devices, 1, 4096)
    model, device = models.get(model_name), hardware.get(device_name)
    step = models.decode_time(model, as_one_device(device, devices), context_len, batch, dtype,
                              kv_dtype)
    cost = step.cost
    touched = models.expected_experts_touched(model.n_experts, model.experts_per_token, batch)
    return MoEReading(
        model=model, batch=batch, context_len=context_len, dtype=dtype, kv_dtype=kv_dtype,
        device_name=device_name, devices=devices, experts_touched=touched,
        worst_case_experts=min(model.n_experts, batch * model.experts_per_token),
        per_expert_batch=per_expert_batch(model, batch),
        tokens_per_touched_expert=tokens_per_touched_expert(model, batch),
        weight_bytes_read=cost.weight_bytes,
        active_weight_bytes=models.bytes_for(models.active_param_count(model), dtype),
        all_weight_bytes=models.weight_bytes(model, dtype),
        critical_batch=models.critical_batch(model, device, dtype),
        expert_critical_batch=expert_critical_batch(model, device, dtype),
        step=step,
    )


def _gigabytes(size_bytes: float) -> str:
    """Decimal GB with thousands separators, as device memory is sold: '1,128.0 GB'."""
    return f"{size_bytes / 1e9:,.1f} GB"


def _seconds(seconds: float) -> str:
    """A step time in s, ms, us or ns with thousands separators, never e-notation."""
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:,.2f} ms"
    return f"{seconds * 1e6:,.0f} us" if seconds >= 1e-6 else f"{seconds * 1e9:,.0f} ns"


def _count(value: float) -> str:
    """A count that may be fractional, without trailing zeros: '163.3', '8', '1.57', '0.031'."""
    digits = 1 if value >= 10 else 2 if value >= 0.1 else 3
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def describe_moe(reading: MoEReading) -> str:
    """Plain text that reads out a ``moe_reading``: units, separators, no e-notation."""
    r, step = reading, reading.step
    model = r.model
    device = hardware.get(r.device_name)
    where = as_one_device(device, r.devices).display_name
    critical = (f"batch {r.critical_batch:,}" if r.critical_batch is not None
                else "no batch up to 1,048,576")
    held, capacity = step.cost.held_bytes, step.capacity_bytes
    fit = "fits" if step.fits else (
        f"does NOT fit: needs {math.ceil(held / device.capacity_bytes):,} such devices")
    shared = f" + {model.n_shared_experts} shared" if model.n_shared_experts else ""
    ridge = step.peak_flops_per_s / step.bandwidth_bytes_per_s
    return "\n".join([
        f"{model.display_name}: {model.n_experts} routed experts, top-{model.experts_per_token}"
        f"{shared}; {model.moe_layers} of {model.n_layers} layers are MoE",
        f"batch {r.batch:,} (sequences), context {r.context_len:,} tokens, {r.dtype} weights, "
        f"{r.kv_dtype} KV, on {where} (split evenly, communication left out)",
        f"  experts touched per MoE layer: {_count(r.experts_touched)} of {model.n_experts} in "
        f"expectation (uniform routing); min(E, B k) would say {r.worst_case_experts:,}",
        f"  per-expert batch B k / E = {_count(r.per_expert_batch)}; tokens per touched "
        f"expert: {_count(r.tokens_per_touched_expert)} on average",
        f"  weights read per step: {_gigabytes(r.weight_bytes_read)} (one token reads "
        f"{_gigabytes(r.active_weight_bytes)}; all weights {_gigabytes(r.all_weight_bytes)})",
        f"  weight matmuls: {step.cost.weight_intensity_flops_per_byte:,.1f} FLOP/byte against "
        f"a ridge of {ridge:,.0f}: {step.weights_bound}-bound; compute-bound from {critical} "
        f"(the experts alone from about {r.expert_critical_batch:,.0f})",
        f"  step: {_seconds(step.seconds)} = weights {_seconds(step.seconds_weights)} + "
        f"attention {_seconds(step.seconds_attention)}; {step.tokens_per_s:,.0f} tokens/s, "
        f"{r.tokens_per_s_per_sequence:,.1f} tokens/s per sequence",
        f"  fits? holds {_gigabytes(held)} of {_gigabytes(capacity)}: {fit}",
    ])


def moe_figure(reading: MoEReading):
    """Weight bytes one decode step reads vs batch: expected, worst case, active and all."""
    import matplotlib.pyplot as plt

    from memwall_lab.plotting import caption

    r, model = reading, reading.model
    batches = np.array(BATCH_CHOICES)
    expected = [models.decode_step(model, 1, int(b), r.dtype).weight_bytes / 1e9
                for b in batches]
    active, expert = models.active_param_count(model), params_per_expert(model)
    worst = [models.bytes_for(active + model.moe_layers * expert * (
        min(model.n_experts, int(b) * model.experts_per_token) - model.experts_per_token),
        r.dtype) / 1e9 for b in batches]
    figure, axes = plt.subplots()
    axes.semilogx(batches, worst, "--", color="tab:gray", label="worst case: min(E, B k) experts")
    axes.semilogx(batches, expected, "-o", color="tab:blue", markersize=3,
                  label="expected: E (1 - (1 - k/E)^B) experts")
    axes.axhline(r.all_weight_bytes / 1e9, color="black", label="all weights")
    axes.axhline(r.active_weight_bytes / 1e9, color="tab:green", linestyle=":",
                 label="active weights (one token)")
    axes.plot([r.batch], [r.weight_bytes_read / 1e9], "o", color="red", label="this point")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("batch (tokens per decode step)")
    axes.set_ylabel(f"weight bytes read per step, {r.dtype} (GB)")
    axes.set_title(f"{model.display_name}: weights a decode step reads")
    axes.legend(loc="lower right")
    caption(figure, "From batch 2 on a step reads more than the active weights, and near "
            f"batch {batch_touching_every_expert(model):,} it reads nearly all of them.")
    return figure


def moe_dashboard(model_name: str = "deepseek-v3", batch: int = 32, context_len: int = 4096,
                  dtype: str = "fp8", device_name: str = "h200", devices: int = 8):
    """Controls for model, device, devices, batch, context and dtypes (lesson 04)."""
    import ipywidgets as widgets

    moe_reading(model_name, batch, context_len, dtype, device_name, devices)  # checks the start
    check_choice("batch", batch, BATCH_CHOICES)
    check_choice("context_len", context_len, CONTEXT_CHOICES)
    check_choice("devices", devices, DEVICE_COUNTS)
    wide = {"description_width": "initial"}
    model_picker = widgets.Dropdown(options=MOE_MODELS, value=model_name, description="model")
    device_picker = widgets.Dropdown(options=MOE_DEVICES, value=device_name,
                                     description="device")
    count_picker = widgets.SelectionSlider(options=DEVICE_COUNTS, value=devices,
                                           description="devices")
    batch_slider = widgets.SelectionSlider(
        options=[(f"{b:,}", b) for b in BATCH_CHOICES], value=batch,
        description="batch (sequences)", style=wide)
    context_slider = widgets.SelectionSlider(
        options=[(f"{c:,}", c) for c in CONTEXT_CHOICES], value=context_len,
        description="context (tokens)", style=wide)
    dtype_picker = widgets.Dropdown(options=MOE_DTYPES, value=dtype, description="weights")
    kv_picker = widgets.Dropdown(options=MOE_DTYPES, value=dtype, description="KV")

    def compute():
        reading = moe_reading(model_picker.value, batch_slider.value, context_slider.value,
                              dtype_picker.value, device_picker.value, count_picker.value,
                              kv_picker.value)
        return describe_moe(reading), moe_figure(reading)

    return _dashboard([[model_picker, device_picker, count_picker],
                       [batch_slider, context_slider], [dtype_picker, kv_picker]], compute)


# ---------------------------------------------------------------- a tiny MoE layer to time


class TinyMoE:
    """A stand-in for one MoE layer: random fp32 experts in this machine's memory.

    ``step(chosen)`` takes the routing of a decode step (a (tokens, k) array of
    expert indices) and reads each touched expert's d_model x expert_hidden matrix
    once, with one matrix-vector product: the sum of the inputs of the tokens that
    chose it times the expert. A step therefore reads (distinct experts) x
    ``expert_bytes``, at a cost per expert that does not depend on how many tokens
    chose it -- as on a GPU, where a handful of tokens per expert is far below the
    ridge. (numpy's small matrix-matrix products on a CPU cost more per byte than
    its matrix-vector products, so the rig multiplies one combined vector.)
    """

    def __init__(self, n_experts: int = 16, experts_per_token: int = 2, d_model: int = 512,
                 expert_hidden: int = 2048, max_tokens: int = 64, seed: int = 0):
        self.n_experts = check_count("n_experts", n_experts, 1, 4096)
        self.experts_per_token = check_count("experts_per_token", experts_per_token, 1,
                                             self.n_experts)
        d_model = check_count("d_model", d_model, 1, 65536)
        expert_hidden = check_count("expert_hidden", expert_hidden, 1, 65536)
        self.max_tokens = check_count("max_tokens", max_tokens, 1, 65536)
        rng = np.random.default_rng(seed)
        self.experts = rng.random((self.n_experts, d_model, expert_hidden), dtype=np.float32)
        self.tokens = rng.random((self.max_tokens, d_model), dtype=np.float32)

    @property
    def expert_bytes(self) -> int:
        """Bytes of one expert's weights."""
        return self.experts[0].nbytes

    @property
    def weight_bytes(self) -> int:
        """Bytes of all the experts' weights."""
        return self.experts.nbytes

    def step(self, chosen: np.ndarray) -> np.ndarray:
        """Read every touched expert once; returns the sum of their outputs (expert_hidden,)."""
        chosen = np.asarray(chosen)
        if chosen.ndim != 2 or not 1 <= len(chosen) <= self.max_tokens:
            raise ValueError(f"chosen must be a (tokens, k) array of expert indices with 1 to "
                             f"{self.max_tokens} tokens, got shape {chosen.shape}")
        out = np.zeros(self.experts.shape[2], dtype=np.float32)
        for expert in np.unique(chosen):
            rows = np.flatnonzero((chosen == expert).any(axis=1))
            out += self.tokens[rows].sum(axis=0) @ self.experts[expert]
        return out


def time_steps(layer: TinyMoE, routings, repeats: int = 5) -> timing.Samples:
    """Seconds to run ``layer.step`` on every routing in ``routings``, per repeat (1 BLAS thread).

    The same routings run in every repeat, so the best repeat filters out a busy
    moment without favouring a lucky routing that touched fewer experts.
    """
    routings = [np.asarray(chosen) for chosen in routings]
    if not routings:
        raise ValueError("routings must hold at least one (tokens, k) array, got none")

    def run_all():
        for chosen in routings:
            layer.step(chosen)

    with threadpool_limits(limits=1, user_api="blas"):
        return timing.time_call(run_all, repeats=repeats, warn=False)


def measure_slowdown(layer: TinyMoE, short_tokens: int = 1, long_tokens: int = 8,
                     steps: int = 20, rounds: int = 3, repeats: int = 5, seed: int = 0) -> float:
    """Time of ``steps`` routed steps of ``long_tokens`` / of ``short_tokens`` (measured, no unit).

    Each side draws its ``steps`` routings once (uniform, ``route``); the two sides
    are timed in alternating rounds and the best of each compared.
    """
    steps = check_count("steps", steps, 1, 10_000)
    rounds = check_count("rounds", rounds, 1, 100)
    rng = np.random.default_rng(seed)
    short, long = ([route(rng, tokens, layer.n_experts, layer.experts_per_token)
                    for _ in range(steps)] for tokens in (short_tokens, long_tokens))
    readings = timing.interleave(lambda: time_steps(layer, long, repeats).best,
                                 lambda: time_steps(layer, short, repeats).best,
                                 rounds=rounds, higher_is_better=False)
    return readings.ratio
