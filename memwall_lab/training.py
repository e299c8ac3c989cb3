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
recomputation keeps only each layer's 16-bit input, 2*s*b*h bytes. It was
derived for GPT-style blocks, so for gated MLPs, GQA or MoE it is an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from memwall_lab.models import Model, param_count
from memwall_lab.timing import check_count

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
    if (precision, optimizer) not in BYTES_PER_PARAM:
        known = sorted({key for pair in BYTES_PER_PARAM for key in pair})
        raise ValueError(
            f"unknown precision/optimizer {precision!r}/{optimizer!r}; choose from {known}"
        )
    return BYTES_PER_PARAM[(precision, optimizer)]


def activation_bytes(model: Model, batch: int, seq_len: int, mode: str = "flash") -> int:
    """Activation bytes kept for the backward pass (Korthikanti et al. 2022 estimate)."""
    check_count("batch", batch, 1)
    check_count("seq_len", seq_len, 1)
    if mode not in ACTIVATION_MODES:
        raise ValueError(f"mode must be one of {ACTIVATION_MODES}, got {mode!r}")
    sbh = seq_len * batch * model.d_model
    if mode == "recompute":
        per_layer = 2 * sbh
    elif mode == "flash":
        per_layer = 34 * sbh
    else:
        per_layer = 34 * sbh + 5 * model.n_heads * seq_len * seq_len * batch
    return model.n_layers * per_layer


def training_memory(
    model: Model, batch: int = 1, seq_len: int = 2048, optimizer: str = "adam",
    precision: str = "mixed", activations: str = "flash",
) -> TrainingMemory:
    """Bytes to train ``model`` on one device (no sharding): states + activations."""
    weights, gradients, optimizer_states = bytes_per_param(optimizer, precision)
    n = param_count(model)
    return TrainingMemory(
        n_params=n,
        weight_bytes=weights * n,
        gradient_bytes=gradients * n,
        optimizer_bytes=optimizer_states * n,
        activation_bytes=activation_bytes(model, batch, seq_len, activations),
    )
