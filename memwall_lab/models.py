"""LLM architectures and their memory arithmetic (lessons 03 and 04).

Lesson 03 asks how many bytes a decode step must move (weights + KV cache) and
what that means on a given device; lesson 04 follows the KV cache as context
and batch grow. The configs come from ``data/models.csv`` (each row names the
model's config.json or paper); a student can build their own ``Model``.

Conventions: sizes are exact integer bytes, times seconds, rates per second.
Every public function takes a ``Model`` or a built-in model's name, and a device
(``hardware.Hardware``, ``roofline.Roof``) or a built-in device's name.
dtypes are "fp32" "fp16" "bf16" "fp8" "int8" "int4". An int4 value is half a
byte, so every byte count is computed as ceil(elements x bits / 8): bits are
counted exactly and an odd int4 element count rounds *up* to a whole byte.
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
from dataclasses import dataclass, fields

from memwall_lab import hardware
from memwall_lab.step import StepCost, StepTime
from memwall_lab.validate import (
    check_choice,
    check_count,
    check_device,
    check_flag,
    check_positive,
    check_string,
    shown,
)

DTYPE_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "int4": 4}
_MLP_KINDS = ("gated", "plain")
_NORM_KINDS = ("rmsnorm", "layernorm")
_POSITION_KINDS = ("rope", "learned")
_PEAK_FALLBACK = ("bf16", "fp16", "fp32")
_STEP_DEVICE_ATTRIBUTES = ("bandwidth_bytes_per_s", "peak_flops_per_s")


# ---------------------------------------------------------------- dtypes


def dtype_bits(dtype: str) -> int:
    """Bits per element of ``dtype``; ValueError naming the closest dtypes if unknown."""
    if not isinstance(dtype, str):
        raise ValueError(f"dtype must be a string, one of {', '.join(DTYPE_BITS)}; got {dtype!r}")
    if dtype not in DTYPE_BITS:
        close = difflib.get_close_matches(str(dtype).lower(), DTYPE_BITS, n=3, cutoff=0.3)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise ValueError(f"unknown dtype {dtype!r}.{hint} Known: {', '.join(DTYPE_BITS)}")
    return DTYPE_BITS[dtype]


def bytes_for(n_elements: int, dtype: str) -> int:
    """Bytes to store ``n_elements`` of ``dtype``: ceil(elements x bits / 8), an exact int."""
    n_elements = check_count("n_elements", n_elements, 0)
    return (n_elements * dtype_bits(dtype) + 7) // 8


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Model:
    """A decoder-only transformer's shape: everything the byte and FLOP arithmetic needs.

    Only ``name, d_model, n_layers, n_heads, vocab_size, ffn_hidden`` are required;
    ``n_kv_heads`` defaults to ``n_heads`` (MHA) and ``head_dim`` to d_model / n_heads.
    MoE: ``n_experts > 0`` (with ``experts_per_token``, ``expert_ffn_hidden``,
    ``n_shared_experts``, ``first_dense_layers``). MLA: ``kv_lora_rank > 0`` (with the
    rope / nope / v head dims and optional ``q_lora_rank``). Sliding windows:
    ``sliding_layers`` of the layers attend to the last ``sliding_window`` tokens.
    """

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    ffn_hidden: int
    n_kv_heads: int | None = None
    head_dim: int | None = None
    max_context: int = 2048
    mlp: str = "gated"
    norm: str = "rmsnorm"
    norms_per_layer: int = 2
    tied_embeddings: bool = False
    position: str = "rope"
    qkv_bias: bool = False
    linear_bias: bool = False
    sliding_window: int = 0
    sliding_layers: int = 0
    n_experts: int = 0
    experts_per_token: int = 0
    n_shared_experts: int = 0
    expert_ffn_hidden: int = 0
    first_dense_layers: int = 0
    router_bias: bool = False
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    display_name: str = ""
    year: int = 0
    source: str = "custom"
    note: str = ""

    def __post_init__(self):
        if not check_string("model name", self.name, "my-model"):
            raise ValueError("model name must be a non-empty string, got ''")
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.head_dim is None:
            n_heads = check_count("n_heads", self.n_heads, 1)
            d_model = check_count("d_model", self.d_model, 1)
            if d_model % n_heads:
                raise ValueError(f"d_model ({d_model}) must divide by n_heads ({n_heads}), "
                                 "or give head_dim")
            object.__setattr__(self, "head_dim", d_model // n_heads)
        self._check_counts()
        self._check_choices()
        self._check_consistency()

    def _check_counts(self):
        """Every size is an int: at least 1 for the core shape, at least 0 for options."""
        core = ("d_model", "n_layers", "n_heads", "vocab_size", "ffn_hidden", "n_kv_heads",
                "head_dim", "max_context", "norms_per_layer")
        for name in core:
            object.__setattr__(self, name, check_count(name, getattr(self, name), 1))
        for f in fields(self):
            if f.name not in core and f.type == "int":
                object.__setattr__(self, f.name, check_count(f.name, getattr(self, f.name), 0))
        for name in ("tied_embeddings", "qkv_bias", "linear_bias", "router_bias"):
            object.__setattr__(self, name, check_flag(name, getattr(self, name)))

    def _check_choices(self):
        """The string options are one of the known kinds."""
        for name, allowed in (("mlp", _MLP_KINDS), ("norm", _NORM_KINDS),
                              ("position", _POSITION_KINDS)):
            check_choice(name, getattr(self, name), allowed)

    def _check_consistency(self):
        """Heads group evenly; window, MoE and MLA settings come as complete sets."""
        if self.n_heads % self.n_kv_heads:
            raise ValueError("n_heads must be a multiple of n_kv_heads (grouped-query attention)")
        if (self.sliding_window > 0) != (self.sliding_layers > 0):
            raise ValueError("give both sliding_window and sliding_layers, or neither")
        if self.sliding_layers > self.n_layers:
            raise ValueError("sliding_layers cannot exceed n_layers")
        if self.n_experts and not (1 <= self.experts_per_token <= self.n_experts
                                   and self.expert_ffn_hidden >= 1):
            raise ValueError(
                "an MoE needs 1 <= experts_per_token <= n_experts and an expert_ffn_hidden"
            )
        if self.first_dense_layers > self.n_layers:
            raise ValueError("first_dense_layers cannot exceed n_layers")
        if self.kv_lora_rank and not (self.qk_rope_head_dim and self.qk_nope_head_dim
                                      and self.v_head_dim):
            raise ValueError("MLA needs qk_rope_head_dim, qk_nope_head_dim and v_head_dim")

    @property
    def attention_kind(self) -> str:
        """'mla' (latent KV), 'mha' (kv heads = heads), 'mqa' (one kv head) or 'gqa'."""
        if self.kv_lora_rank:
            return "mla"
        if self.n_kv_heads == self.n_heads:
            return "mha"
        return "mqa" if self.n_kv_heads == 1 else "gqa"

    @property
    def is_moe(self) -> bool:
        """True for a mixture-of-experts model."""
        return self.n_experts > 0

    @property
    def moe_layers(self) -> int:
        """Number of layers whose MLP is a mixture of experts."""
        return self.n_layers - self.first_dense_layers if self.is_moe else 0

    @property
    def full_attention_layers(self) -> int:
        """Number of layers that attend to (and cache) the whole context."""
        return self.n_layers - self.sliding_layers


# ---------------------------------------------------------------- the model table


def _parse_cell(text: str, kind: str):
    """Turn one models.csv cell into the Model field's type."""
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"expected true/false, got {text!r}")
        return text == "true"
    if kind in ("int", "int | None"):
        return int(text)
    return text


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, Model]:
    """Every model in data/models.csv, keyed by canonical name."""
    types = {f.name: f.type for f in fields(Model)}
    models = {}
    for row in hardware.read_table("models.csv"):
        values = {key: _parse_cell(text, types[key]) for key, text in row.items() if key in types}
        models[row["name"]] = Model(**values)
    return models


@functools.lru_cache(maxsize=1)
def published_params() -> dict[str, tuple[int, int | None]]:
    """(total, active or None) parameter counts as the model authors publish them."""
    return {
        row["name"]: (int(row["published_params"]),
                      int(row["published_active_params"]) if row["published_active_params"]
                      else None)
        for row in hardware.read_table("models.csv")
    }


def names() -> list[str]:
    """Canonical names of the built-in models, e.g. 'llama-2-7b', 'deepseek-v3'."""
    return list(_table())


def get(name: str) -> Model:
    """The built-in model called ``name`` (case-insensitive); ValueError lists close matches."""
    return hardware.lookup("model", name, _table())


def as_model(model: Model | str) -> Model:
    """``model`` itself if it is a Model, else the built-in model of that name (see ``get``)."""
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        return get(model)
    raise ValueError(f"model must be a models.Model or a model name such as 'llama-3-8b', "
                     f"got {shown(model)}")


def as_device(device, attributes: tuple[str, ...] = _STEP_DEVICE_ATTRIBUTES):
    """``device`` itself if its ``attributes`` are sound numbers; a name gives the built-in one.

    A hand-built device is checked where it is taken in (``validate.check_device``):
    bandwidth and capacity positive finite numbers, peaks one or a dict by dtype.
    """
    if isinstance(device, str):
        return hardware.get(device)
    missing = [name for name in attributes if not hasattr(device, name)]
    if missing:
        raise ValueError(f"device must be a hardware.Hardware, a device name such as "
                         f"'h100-sxm', or an object with {', '.join(attributes)}; "
                         f"got {shown(device)}")
    check_device(device, attributes, hardware.DTYPES)
    return device


# ---------------------------------------------------------------- parameter counts


def _norm_params(model: Model, width: int) -> int:
    """Parameters of one norm over ``width``: scale (+ bias for LayerNorm)."""
    return width * (2 if model.norm == "layernorm" else 1)


def _attention_params(model: Model) -> int:
    """Parameters of one attention block (projections, biases, MLA's inner norms)."""
    d, h = model.d_model, model.n_heads
    if model.attention_kind == "mla":
        qk_dim = model.qk_nope_head_dim + model.qk_rope_head_dim
        if model.q_lora_rank:
            q = d * model.q_lora_rank + _norm_params(model, model.q_lora_rank)
            q += model.q_lora_rank * h * qk_dim
        else:
            q = d * h * qk_dim
        kv = d * (model.kv_lora_rank + model.qk_rope_head_dim)
        kv += _norm_params(model, model.kv_lora_rank)
        kv += model.kv_lora_rank * h * (model.qk_nope_head_dim + model.v_head_dim)
        out = h * model.v_head_dim * d
        return q + kv + out + (d if model.linear_bias else 0)
    q_width, kv_width = h * model.head_dim, model.n_kv_heads * model.head_dim
    weights = d * q_width + 2 * d * kv_width + q_width * d
    qkv_bias = q_width + 2 * kv_width if (model.qkv_bias or model.linear_bias) else 0
    out_bias = d if model.linear_bias else 0
    return weights + qkv_bias + out_bias


def _mlp_params(model: Model, hidden: int) -> int:
    """Parameters of one MLP of width ``hidden`` (gated: 3 matrices, plain: 2)."""
    d = model.d_model
    if model.mlp == "gated":
        return 3 * d * hidden + ((2 * hidden + d) if model.linear_bias else 0)
    return 2 * d * hidden + ((hidden + d) if model.linear_bias else 0)


def _router_params(model: Model) -> int:
    """Parameters of one MoE router (a d_model x n_experts matrix, optional bias)."""
    return model.d_model * model.n_experts + (model.n_experts if model.router_bias else 0)


def _moe_params(model: Model, routed_experts: int) -> int:
    """Parameters of one MoE block holding ``routed_experts`` routed experts + shared + router."""
    experts = routed_experts + model.n_shared_experts
    return experts * _mlp_params(model, model.expert_ffn_hidden) + _router_params(model)


def _embedding_params(model: Model) -> int:
    """Token-embedding (+ learned position) parameters, read by lookup rather than matmul."""
    learned = model.max_context * model.d_model if model.position == "learned" else 0
    return model.vocab_size * model.d_model + learned


def _count(model: Model, routed_experts: int) -> int:
    """All parameters when each MoE layer holds ``routed_experts`` routed experts."""
    d = model.d_model
    layer_norms = model.norms_per_layer * _norm_params(model, d)
    dense_layer = _attention_params(model) + _mlp_params(model, model.ffn_hidden) + layer_norms
    moe_layer = _attention_params(model) + _moe_params(model, routed_experts) + layer_norms
    lm_head = 0 if model.tied_embeddings else model.vocab_size * d
    outer = _embedding_params(model) + lm_head + _norm_params(model, d)
    return outer + (model.n_layers - model.moe_layers) * dense_layer + model.moe_layers * moe_layer


def param_count(model: Model) -> int:
    """Total parameters, embeddings included (tied embeddings counted once)."""
    model = as_model(model)
    return _count(model, model.n_experts)


def active_param_count(model: Model) -> int:
    """Parameters used for one token: an MoE counts only its ``experts_per_token`` experts.

    Embeddings are included, as in Mixtral's published 12.9B. DeepSeek-V3's
    published "37B activated" is rounded: this function gives 37.55B with
    both embedding tables and 36.6B without the input one.
    """
    model = as_model(model)
    return _count(model, model.experts_per_token)


def weight_bytes(model: Model, dtype: str = "fp16") -> int:
    """Bytes of all weights stored in ``dtype`` (int4 rounds up to a whole byte)."""
    model = as_model(model)
    return bytes_for(param_count(model), dtype)


def _matmul_params(model: Model) -> int:
    """Active parameters a token multiplies by (embedding lookups excluded; tied head kept)."""
    lookup = _embedding_params(model)
    if model.tied_embeddings:
        lookup -= model.vocab_size * model.d_model  # the same matrix is the LM head: a matmul
    return active_param_count(model) - lookup


# ---------------------------------------------------------------- KV cache


def kv_elements_per_token_per_layer(model: Model) -> int:
    """Values cached per token per layer: 2 x kv_heads x head_dim, or MLA's latent + rope key."""
    model = as_model(model)
    if model.attention_kind == "mla":
        return model.kv_lora_rank + model.qk_rope_head_dim
    return 2 * model.n_kv_heads * model.head_dim


def kv_bytes_per_token(model: Model, dtype: str = "fp16") -> int:
    """KV-cache bytes one token adds across all layers (before any sliding window caps it)."""
    model = as_model(model)
    return bytes_for(model.n_layers * kv_elements_per_token_per_layer(model), dtype)


def cached_tokens(model: Model, context_len: int) -> int:
    """Token-layers held in the cache of one sequence: window layers keep only the last window."""
    model = as_model(model)
    context_len = check_count("context_len", context_len, 1)
    window_tokens = min(context_len, model.sliding_window)
    return model.full_attention_layers * context_len + model.sliding_layers * window_tokens


def kv_cache_bytes(model: Model, context_len: int, batch: int = 1, dtype: str = "fp16") -> int:
    """Exact bytes of K and V (or MLA latents) for ``batch`` sequences of ``context_len`` tokens.

    Sliding-window layers keep a rolling buffer of the last ``sliding_window``
    tokens (Mistral-7B v0.1, Phi-3-mini, Gemma-2's local layers), so they cache
    min(context_len, window) tokens; full-attention layers cache every token.
    Each sequence's cache is rounded up to whole bytes separately (int4 only).
    ``context_len`` may exceed the model's trained ``max_context`` (lesson 04
    extrapolates on purpose).
    """
    model = as_model(model)
    batch = check_count("batch", batch, 1)
    elements = cached_tokens(model, context_len) * kv_elements_per_token_per_layer(model)
    return batch * bytes_for(elements, dtype)


# ---------------------------------------------------------------- FLOPs and bytes of a step


def activation_bytes(model: Model, tokens: int, batch: int = 1, dtype: str = "fp16") -> int:
    """Bytes of live activations while ``tokens`` tokens pass one layer, plus the logits.

    Inference frees each layer's activations before the next, so the peak is one
    layer's: per token the residual and its normed copy (2 d_model), Q, K and V,
    and the MLP's hidden (two of them when gated; the touched experts of an MoE),
    in ``dtype``; plus one row of fp32 logits per sequence. A fused attention
    kernel materialises no scores.
    """
    model = as_model(model)
    tokens, batch = check_count("tokens", tokens, 1), check_count("batch", batch, 1)
    if model.attention_kind == "mla":
        qkv = model.n_heads * (2 * (model.qk_nope_head_dim + model.qk_rope_head_dim)
                               + model.v_head_dim)
    else:
        qkv = (model.n_heads + 2 * model.n_kv_heads) * model.head_dim
    hidden = model.ffn_hidden
    if model.is_moe:
        hidden = max(hidden, (model.experts_per_token + model.n_shared_experts)
                     * model.expert_ffn_hidden)
    mlp = (2 if model.mlp == "gated" else 1) * hidden
    per_token = 2 * model.d_model + qkv + mlp
    return bytes_for(tokens * per_token, dtype) + bytes_for(batch * model.vocab_size, "fp32")


def _attention_dims(model: Model, phase: str) -> tuple[int, int]:
    """(score dim, value dim) per head per key in ``phase``, 'decode' or 'prefill'.

    MLA decodes in the absorbed form (DeepSeek-V2, arXiv 2405.04434): the
    up-projections fold into the query and output, so each head attends over the
    cached latent (kv_lora_rank + rope dims for scores, kv_lora_rank for values)
    and no K or V is rebuilt for the thousands of cached keys. Prefill runs
    up-projected: each prompt token's latent becomes per-head K and V once (those
    matmul FLOPs are in the weights' 2 per parameter, as are the absorbed ones in
    decode) and heads attend over qk_nope + qk_rope and v_head_dim, 3.4x fewer
    FLOPs per key for DeepSeek-V3 ((192 + 128) vs (576 + 512)).
    """
    if model.attention_kind != "mla":
        return model.head_dim, model.head_dim
    if phase == "prefill":
        return model.qk_nope_head_dim + model.qk_rope_head_dim, model.v_head_dim
    return model.kv_lora_rank + model.qk_rope_head_dim, model.kv_lora_rank


def _attention_flops(model: Model, key_layer_pairs: int, phase: str) -> int:
    """FLOPs of scores and weighted values for ``key_layer_pairs`` (query, key, layer) triples."""
    score_dim, value_dim = _attention_dims(model, phase)
    return 2 * model.n_heads * (score_dim + value_dim) * key_layer_pairs


def _causal_keys(length: int, window: int) -> int:
    """Sum over query positions 1..length of the keys each sees (capped at window if > 0)."""
    if window <= 0 or length <= window:
        return length * (length + 1) // 2
    return window * (window + 1) // 2 + (length - window) * window


def expected_experts_touched(n_experts: int, experts_per_token: int, tokens: int) -> float:
    """Distinct experts ``tokens`` tokens touch per MoE layer, in expectation: E(1 - (1 - k/E)^B).

    Assumes uniform, independent routing: each token picks ``experts_per_token``
    (k) distinct experts of ``n_experts`` (E), every expert equally likely, whatever
    the other tokens picked. One expert escapes one token with probability 1 - k/E
    and all B tokens with (1 - k/E)^B. Exactly k for one token, below min(E, B k)
    from two on (two tokens can share an expert), and E as B grows. Real routers
    are skewed or correlated, which touches fewer; load balancing pushes toward uniform.
    """
    n_experts = check_count("n_experts", n_experts, 1)
    experts_per_token = check_count("experts_per_token", experts_per_token, 1, n_experts)
    tokens = check_count("tokens", tokens, 1)
    if experts_per_token == n_experts:
        return float(n_experts)  # every token picks every expert
    return n_experts * -math.expm1(tokens * math.log1p(-experts_per_token / n_experts))


def _weights_read_bytes(model: Model, tokens: int, dtype: str) -> int:
    """Bytes of weights one step reads: all of a dense model; touched experts of an MoE.

    An MoE step with ``tokens`` tokens reads, per MoE layer, the routed experts
    they touch in expectation (``expected_experts_touched``: uniform, independent
    routing), rounded to whole parameters, plus the shared experts, router and
    attention. The embedding table is counted whole, a small overcount.
    """
    if not model.is_moe:
        return bytes_for(_count(model, 0), dtype)
    touched = expected_experts_touched(model.n_experts, model.experts_per_token, tokens)
    expert = _mlp_params(model, model.expert_ffn_hidden)
    return bytes_for(_count(model, 0) + round(model.moe_layers * touched * expert), dtype)


def decode_step(
    model: Model, context_len: int, batch: int = 1, dtype: str = "fp16",
    kv_dtype: str | None = None,
) -> StepCost:
    """FLOPs and bytes to generate one token for each of ``batch`` sequences.

    Each sequence has ``context_len`` tokens cached; the step reads that cache,
    attends over it plus the new token, and writes the new token's K and V.
    Weight FLOPs are 2 per weight multiplied (embedding lookups excluded), read
    once for the whole batch; attention reads each sequence's own cache. The
    step holds all weights, the cache after the write and one layer's activations.
    """
    model = as_model(model)
    context_len = check_count("context_len", context_len, 1)
    batch = check_count("batch", batch, 1)
    kv_dtype = dtype if kv_dtype is None else kv_dtype
    keys = model.full_attention_layers * (context_len + 1)
    keys += model.sliding_layers * min(context_len + 1, model.sliding_window)
    return StepCost(
        phase="decode", batch=batch, tokens=batch,
        weight_flops=batch * 2 * _matmul_params(model),
        weight_bytes=_weights_read_bytes(model, batch, dtype),
        attention_flops=batch * _attention_flops(model, keys, "decode"),
        kv_read_bytes=kv_cache_bytes(model, context_len, batch, kv_dtype),
        kv_write_bytes=kv_cache_bytes(model, 1, batch, kv_dtype),
        held_bytes=(weight_bytes(model, dtype)
                    + kv_cache_bytes(model, context_len + 1, batch, kv_dtype)
                    + activation_bytes(model, batch, batch, dtype)),
    )


def prefill(
    model: Model, prompt_len: int, batch: int = 1, dtype: str = "fp16",
    kv_dtype: str | None = None,
) -> StepCost:
    """FLOPs and bytes to process ``batch`` prompts of ``prompt_len`` tokens in one pass.

    Causal attention: token i attends to i keys (window layers to min(i, window)).
    KV read from memory is counted as 0 (a fused attention kernel keeps tiles on
    chip); KV written is the cache the prompt leaves behind. Activations count
    only toward what the step holds (``held_bytes``), not toward bytes moved.
    MLA attends with up-projected heads here, over its latent in decode (``_attention_dims``).
    """
    model = as_model(model)
    prompt_len = check_count("prompt_len", prompt_len, 1)
    batch = check_count("batch", batch, 1)
    kv_dtype = dtype if kv_dtype is None else kv_dtype
    keys = model.full_attention_layers * _causal_keys(prompt_len, 0)
    keys += model.sliding_layers * _causal_keys(prompt_len, model.sliding_window)
    tokens = batch * prompt_len
    return StepCost(
        phase="prefill", batch=batch, tokens=tokens,
        weight_flops=tokens * 2 * _matmul_params(model),
        weight_bytes=_weights_read_bytes(model, tokens, dtype),
        attention_flops=batch * _attention_flops(model, keys, "prefill"),
        kv_read_bytes=0,
        kv_write_bytes=kv_cache_bytes(model, prompt_len, batch, kv_dtype),
        held_bytes=(weight_bytes(model, dtype) + kv_cache_bytes(model, prompt_len, batch, kv_dtype)
                    + activation_bytes(model, tokens, batch, dtype)),
    )


# ---------------------------------------------------------------- on a device


def _peak_candidates(dtype: str) -> tuple[str, ...]:
    """``dtype``, then the bf16, fp16, fp32 peaks at least as wide as it (never a narrower one)."""
    bits = dtype_bits(dtype)
    return (dtype, *(wider for wider in _PEAK_FALLBACK if DTYPE_BITS[wider] >= bits))


def peak_flops_for(device, dtype: str) -> float:
    """A device's dense peak FLOP/s for ``dtype``, falling back to bf16, fp16 then fp32.

    The fallback models weight-only quantization (int4 weights, or fp8 on a part
    without fp8) that computes in 16-bit: narrower data runs at least at the
    16-bit rate. It never goes to a narrower type, so fp32 on a part that lists
    no fp32 peak (B200, TPUs, Gaudi) is a ValueError rather than the bf16 rate.
    ``device.peak_flops_per_s`` may be a dict by dtype (``hardware.Hardware``)
    or one number (``roofline.Roof``).
    """
    candidates = _peak_candidates(dtype)
    device = as_device(device, ("peak_flops_per_s",))
    peaks = device.peak_flops_per_s
    if isinstance(peaks, numbers.Real):
        return float(peaks)
    for candidate in candidates:
        if candidate in peaks:
            return float(peaks[candidate])
    raise ValueError(
        f"{getattr(device, 'name', device)} lists no peak for {dtype!r} or a wider type; "
        f"it has: {', '.join(peaks) or 'none'}. Pass one of those as the compute dtype")


def _capacity_bytes(device) -> float | None:
    """The device's memory in bytes if it has one (a ``roofline.Roof`` has none)."""
    capacity = getattr(device, "capacity_bytes", None)
    return None if capacity is None else float(as_device(device, ("capacity_bytes",))
                                                  .capacity_bytes)


def step_time(cost: StepCost, device, compute_dtype: str = "bf16",
              capacity_bytes: float | None = None) -> StepTime:
    """Put a StepCost on a device: each kernel on its roofline, summed, and whether it fits.

    ``device`` is anything with bandwidth_bytes_per_s and peak_flops_per_s; its
    ``capacity_bytes`` (or the argument, e.g. this machine's RAM for a Roof) is
    the memory the step must fit in.
    """
    device = as_device(device)
    if not isinstance(cost, StepCost):
        raise ValueError(f"cost must be a StepCost (from models.decode_step, models.prefill or "
                         f"inference.decode_cost), got {shown(cost)}")
    if capacity_bytes is None:
        capacity_bytes = _capacity_bytes(device)
    else:
        capacity_bytes = float(check_positive("capacity_bytes", capacity_bytes))
    return StepTime(cost, peak_flops_for(device, compute_dtype),
                    float(device.bandwidth_bytes_per_s), capacity_bytes)


def decode_time(
    model: Model, device, context_len: int, batch: int = 1, dtype: str = "fp16",
    kv_dtype: str | None = None, compute_dtype: str | None = None,
) -> StepTime:
    """One decode step on ``device`` (kernels summed, fit checked); computes in ``dtype``."""
    cost = decode_step(model, context_len, batch, dtype, kv_dtype)
    return step_time(cost, device, dtype if compute_dtype is None else compute_dtype)


def prefill_time(
    model: Model, device, prompt_len: int, batch: int = 1, dtype: str = "fp16",
    kv_dtype: str | None = None, compute_dtype: str | None = None,
) -> StepTime:
    """A prefill of ``batch`` prompts of ``prompt_len`` tokens on ``device``, kernels summed."""
    cost = prefill(model, prompt_len, batch, dtype, kv_dtype)
    return step_time(cost, device, dtype if compute_dtype is None else compute_dtype)


def critical_batch(
    model: Model, device, dtype: str = "fp16", compute_dtype: str | None = None,
    max_batch: int = 2**20,
) -> int | None:
    """Smallest decode batch at which the weight matmuls turn compute-bound (any context).

    2 x batch x matmul params / peak >= weight bytes / bandwidth, so for a dense
    model batch ~ ridge (peak / bandwidth) x bytes per weight / 2: about 300 for
    bf16 on an H100. Attention never turns compute-bound in decode, and whether
    that batch fits is a separate question (``max_batch``). None if not by ``max_batch``.
    """
    model, device = as_model(model), as_device(device)
    max_batch = check_count("max_batch", max_batch, 1)
    peak = peak_flops_for(device, dtype if compute_dtype is None else compute_dtype)
    bandwidth = float(device.bandwidth_bytes_per_s)

    def compute_bound(batch: int) -> bool:
        """True if the weight matmuls of a decode step of this batch are compute-bound."""
        flops = batch * 2 * _matmul_params(model)
        return flops / peak >= _weights_read_bytes(model, batch, dtype) / bandwidth

    if not compute_bound(max_batch):
        return None
    low, high = 1, max_batch
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if compute_bound(middle) else (middle + 1, high)
    return low


# ---------------------------------------------------------------- what fits


def free_bytes_beside_weights(model: Model, device, dtype: str = "fp16") -> int:
    """Bytes of device memory left after the weights (floor of capacity; may be negative)."""
    device = as_device(device, ("capacity_bytes",))
    return math.floor(device.capacity_bytes) - weight_bytes(model, dtype)


def decode_fits(
    model: Model, device, context_len: int, batch: int = 1, dtype: str = "fp16",
    kv_dtype: str | None = None,
) -> bool:
    """True if a decode step at ``context_len`` holds weights + KV + activations in memory."""
    device = as_device(device, ("capacity_bytes",))
    held = decode_step(model, context_len, batch, dtype, kv_dtype).held_bytes
    return held <= device.capacity_bytes


def max_batch(
    model: Model, device, context_len: int, dtype: str = "fp16", kv_dtype: str | None = None
) -> int:
    """Largest batch whose decode step at ``context_len`` fits on ``device`` (0 if none does).

    The step holds the weights, each sequence's cache after it writes its new
    token (context_len + 1 tokens) and one layer's activations: ``decode_fits``.
    """
    model = as_model(model)
    context_len = check_count("context_len", context_len, 1)
    free = free_bytes_beside_weights(model, device, dtype)
    per_sequence = kv_cache_bytes(model, context_len, 1, dtype if kv_dtype is None else kv_dtype)
    low, high = 0, max(free, 0) // per_sequence  # KV alone caps the batch
    while low < high:
        middle = (low + high + 1) // 2
        fits = decode_fits(model, device, context_len, middle, dtype, kv_dtype)
        low, high = (middle, high) if fits else (low, middle - 1)
    return low


def max_context_len(
    model: Model, device, batch: int = 1, dtype: str = "fp16", kv_dtype: str | None = None,
    limit: int | None = None,
) -> int:
    """Longest context (<= ``limit``, default the model's max_context) whose decode step fits.

    Returns 0 if not even a one-token context fits beside the weights.
    """
    model = as_model(model)
    batch = check_count("batch", batch, 1)
    limit = model.max_context if limit is None else check_count("limit", limit, 1)
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        fits = decode_fits(model, device, middle, batch, dtype, kv_dtype)
        low, high = (middle, high) if fits else (low, middle - 1)
    return low


def kv_token_budget(
    model: Model, device, dtype: str = "fp16", kv_dtype: str | None = None
) -> int:
    """Largest batch x context (tokens) whose KV fits beside the weights, windows ignored."""
    model = as_model(model)
    free = free_bytes_beside_weights(model, device, dtype)
    return max(free, 0) // kv_bytes_per_token(model, dtype if kv_dtype is None else kv_dtype)
