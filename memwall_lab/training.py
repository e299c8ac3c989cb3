"""Training memory: weights, gradients, optimizer states and activations (lesson 05).

Where the "3-4x the parameters" comes from. In plain fp32 every state is a copy
of the weights: SGD with momentum keeps weights + gradients + momentum = 3x the
weight bytes, Adam keeps weights + gradients + two moments = 4x. Mixed precision
(16-bit weights and gradients, fp32 master weights and Adam moments) keeps
2 + 2 + 4 + 4 + 4 = 16 bytes per parameter: still 4x the fp32 weights, or 8x
the 16-bit weights the model is served with. Activations come on top; the
"AI and Memory Wall" blog post (Gholami et al. 2021) attributes its 3-4x to
them, and they grow with batch x sequence length while the states do not.

Activation bytes follow Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models", arXiv 2205.05198, eq. 1): per layer
s*b*h*(34 + 5*a*s/h) bytes with 16-bit activations and no recomputation; a fused
(flash) attention drops the 5*a*s/h term (the stored attention scores); full
recomputation keeps only each layer's 16-bit input, 2*s*b*h bytes. Of the 34 sbh
bytes, 32 hold 16 two-byte activations and 2 hold one-byte dropout masks; of the
5 a s^2 b, 4 hold the two-byte softmax and dropout outputs and 1 the one-byte
mask. In fp32 the activations double and the masks do not: 66 sbh + 9 a s^2 b,
66 sbh with flash attention, 4 sbh with full recomputation. It was derived for
GPT-style blocks, so for gated MLPs, GQA or MoE it is an estimate.

Many devices. ZeRO (Rajbhandari et al. 2019, arXiv 1910.02054) shards the
model states over N data-parallel devices instead of copying them to each:
stage 1 shards the optimizer states, stage 2 also the gradients, stage 3 also
the weights. Per device, with K optimizer bytes per parameter (12 for
mixed-precision Adam) and Psi parameters: (2 + 2 + K) Psi at stage 0 (plain data
parallelism), 4 Psi + K Psi / N at stage 1, 2 Psi + (2 + K) Psi / N at stage 2,
(2 + 2 + K) Psi / N at stage 3 (PyTorch's FSDP is stage 3). ZeRO-Offload
(Ren et al. 2021, arXiv 2101.06840) keeps the gradients and optimizer states in
host memory and runs the update on the CPU, leaving the 16-bit weights on the
device. Each shard is rounded up to whole bytes: the device holding the most.
Activations are not sharded: each device keeps those of its own micro-batch.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from memwall_lab.models import Model, as_model, param_count
from memwall_lab.validate import MAX_COUNT, check_choice, check_count, check_flag, check_positive

# Bytes per parameter: (weights, gradients, optimizer states) by precision and optimizer.
BYTES_PER_PARAM = {
    ("fp32", "sgd"): (4, 4, 0),
    ("fp32", "sgd-momentum"): (4, 4, 4),
    ("fp32", "adam"): (4, 4, 8),
    ("mixed", "sgd"): (2, 2, 4),
    ("mixed", "sgd-momentum"): (2, 2, 8),
    ("mixed", "adam"): (2, 2, 12),
}
ACTIVATION_MODES = ("stored", "flash", "recompute")
# Bytes per stored activation element by training precision (masks are 1 byte in both).
ACTIVATION_ELEMENT_BYTES = {"mixed": 2, "fp32": 4}
# Korthikanti et al. eq. 1 per layer, split by kind: activation elements and 1-byte mask
# entries per s*b*h, and per a*s^2*b (the stored attention scores).
_SBH_ELEMENTS, _SBH_MASK_BYTES = 16, 2
_SCORE_ELEMENTS, _SCORE_MASK_BYTES = 2, 1
ZERO_STAGES = (0, 1, 2, 3)  # 0: plain data parallelism, every device holds every state
MAX_DEVICES = 2**20  # devices_needed searches up to 1,048,576 data-parallel devices


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes a training step holds, by kind."""

    n_params: int
    weight_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int

    @property
    def states_bytes(self) -> int:
        """Weights + gradients + optimizer states: independent of batch and sequence."""
        return self.weight_bytes + self.gradient_bytes + self.optimizer_bytes

    @property
    def total_bytes(self) -> int:
        """States + activations."""
        return self.states_bytes + self.activation_bytes

    @property
    def states_bytes_per_param(self) -> float:
        """State bytes per parameter (16 for mixed-precision Adam)."""
        return self.states_bytes / self.n_params

    @property
    def states_over_fp32_weights(self) -> float:
        """State bytes over 4 bytes/param: 3 for fp32 SGD-momentum, 4 for Adam."""
        return self.states_bytes / (4 * self.n_params)


def bytes_per_param(optimizer: str = "adam", precision: str = "mixed") -> tuple[int, int, int]:
    """(weights, gradients, optimizer) bytes per parameter; ValueError on unknown names."""
    if not (isinstance(optimizer, str) and isinstance(precision, str)) or (
            precision, optimizer) not in BYTES_PER_PARAM:
        known = sorted({key for pair in BYTES_PER_PARAM for key in pair})
        raise ValueError(
            f"unknown precision/optimizer {precision!r}/{optimizer!r}; choose from {known}"
        )
    return BYTES_PER_PARAM[(precision, optimizer)]


def activation_bytes(
    model: Model, batch: int, seq_len: int, mode: str = "flash", precision: str = "mixed"
) -> int:
    """Activation bytes kept for the backward pass (Korthikanti et al. 2022 estimate).

    ``precision`` "mixed" stores 16-bit activations, "fp32" 4-byte ones.
    """
    model = as_model(model)
    batch = check_count("batch", batch, 1)
    seq_len = check_count("seq_len", seq_len, 1)
    check_choice("mode", mode, ACTIVATION_MODES)
    check_choice("precision", precision, tuple(ACTIVATION_ELEMENT_BYTES))
    width = ACTIVATION_ELEMENT_BYTES[precision]
    sbh = seq_len * batch * model.d_model
    if mode == "recompute":
        per_layer = width * sbh
    else:
        per_layer = (_SBH_ELEMENTS * width + _SBH_MASK_BYTES) * sbh
    if mode == "stored":
        scores = model.n_heads * seq_len * seq_len * batch
        per_layer += (_SCORE_ELEMENTS * width + _SCORE_MASK_BYTES) * scores
    return model.n_layers * per_layer


def training_memory(
    model: Model, batch: int = 1, seq_len: int = 2048, optimizer: str = "adam",
    precision: str = "mixed", activations: str = "flash",
) -> TrainingMemory:
    """Bytes to train ``model`` on one device (no sharding): states + activations.

    ``model`` is a Model or a built-in model's name; activations are 2-byte in
    "mixed" precision and 4-byte in "fp32" (see ``activation_bytes``).
    """
    weights, gradients, optimizer_states = bytes_per_param(optimizer, precision)
    model = as_model(model)
    n = param_count(model)
    return TrainingMemory(
        n_params=n,
        weight_bytes=weights * n,
        gradient_bytes=gradients * n,
        optimizer_bytes=optimizer_states * n,
        activation_bytes=activation_bytes(model, batch, seq_len, activations, precision),
    )


# ---------------------------------------------------------------- many devices: ZeRO and offload


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes one data-parallel device holds in a training step, by kind, and what went to host."""

    stage: int
    devices: int
    offload: bool
    weight_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    host_bytes: int  # gradients + optimizer states kept in this device's share of host memory

    @property
    def states_bytes(self) -> int:
        """Weights + gradients + optimizer states left on the device."""
        return self.weight_bytes + self.gradient_bytes + self.optimizer_bytes

    @property
    def device_bytes(self) -> int:
        """Everything the device holds: its states and its activations."""
        return self.states_bytes + self.activation_bytes

    def fits(self, capacity_bytes: float) -> bool:
        """True if ``device_bytes`` fit in ``capacity_bytes`` of accelerator memory."""
        return self.device_bytes <= check_positive("capacity_bytes", capacity_bytes)


def _parameters(model) -> int:
    """The parameter count of a Model, a built-in model's name, or a bare count."""
    if isinstance(model, numbers.Integral) and not isinstance(model, bool):
        return check_count("a parameter count", model, 1, MAX_COUNT)
    return param_count(as_model(model))


def _shard(size_bytes: int, devices: int) -> int:
    """The bytes the fullest of ``devices`` holds when ``size_bytes`` are split evenly."""
    return -(-size_bytes // devices)


def zero_bytes_per_device(
    model, stage: int, devices: int, optimizer: str = "adam", precision: str = "mixed",
    offload: bool = False,
) -> DeviceMemory:
    """Model-state bytes per device under ZeRO ``stage`` over ``devices`` (no activations).

    ``model`` is a Model, a built-in model's name or a parameter count. Stage 1
    shards the optimizer states, 2 also the gradients, 3 also the weights; with
    ``offload`` the gradients and optimizer states the device would hold live in
    host memory instead (ZeRO-Offload) and count in ``host_bytes``.
    """
    n = _parameters(model)
    stage = check_choice("stage", stage, ZERO_STAGES)
    devices = check_count("devices", devices, 1, MAX_DEVICES)
    offload = check_flag("offload", offload)
    weights, gradients, optimizer_states = (per_param * n for per_param in
                                            bytes_per_param(optimizer, precision))
    if stage >= 1:
        optimizer_states = _shard(optimizer_states, devices)
    if stage >= 2:
        gradients = _shard(gradients, devices)
    if stage >= 3:
        weights = _shard(weights, devices)
    host = gradients + optimizer_states if offload else 0
    if offload:
        gradients = optimizer_states = 0
    return DeviceMemory(stage, devices, offload, weights, gradients, optimizer_states, 0, host)


def training_memory_per_device(
    model, batch: int = 1, seq_len: int = 2048, stage: int = 0, devices: int = 1,
    activations: str = "flash", offload: bool = False, optimizer: str = "adam",
    precision: str = "mixed",
) -> DeviceMemory:
    """Bytes per device: ZeRO-sharded states plus the activations of ``batch`` x ``seq_len``.

    ``batch`` is the micro-batch of *one* device (sequences); ``activations`` is
    "stored", "flash" (fused attention, no checkpointing) or "recompute" (full
    activation checkpointing), as in ``activation_bytes``. A bare parameter count
    has no layers to estimate activations from: they count as 0.
    """
    states = zero_bytes_per_device(model, stage, devices, optimizer, precision, offload)
    if isinstance(model, numbers.Integral) and not isinstance(model, bool):
        kept = 0
    else:
        kept = activation_bytes(as_model(model), batch, seq_len, activations, precision)
    return DeviceMemory(states.stage, states.devices, states.offload, states.weight_bytes,
                        states.gradient_bytes, states.optimizer_bytes, kept, states.host_bytes)


def devices_needed(
    model, capacity_bytes: float, batch: int = 1, seq_len: int = 2048, stage: int = 3,
    activations: str = "flash", offload: bool = False, optimizer: str = "adam",
    precision: str = "mixed",
) -> int | None:
    """Fewest data-parallel devices of ``capacity_bytes`` that hold a step at ZeRO ``stage``.

    None if no number of devices (up to ``MAX_DEVICES``) is enough: at stage 0
    every device holds every state, and the unsharded parts (the 16-bit weights
    at stages 1-2, the activations at every stage) must fit on their own.
    """
    capacity_bytes = check_positive("capacity_bytes", capacity_bytes)

    def fits(count: int) -> bool:
        return training_memory_per_device(model, batch, seq_len, stage, count, activations,
                                          offload, optimizer, precision).fits(capacity_bytes)

    if not fits(MAX_DEVICES):
        return None
    low, high = 1, MAX_DEVICES  # per-device bytes never grow with more devices
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return low
