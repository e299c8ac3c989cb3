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
"""

from __future__ import annotations

from dataclasses import dataclass

from memwall_lab.models import Model, as_model, param_count
from memwall_lab.validate import check_choice, check_count

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
