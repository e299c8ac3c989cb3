"""A tiny numpy transformer to time prefill and decode for real (introduced in lesson 03).

The model is a Llama-shaped decoder: token embedding, then per layer RMSNorm ->
attention (grouped-query, optional rotary embeddings, a preallocated KV cache)
and RMSNorm -> gated SiLU MLP, each added to the residual stream; a final
RMSNorm and an LM head. Weights are random (seeded), nothing is downloaded:
the speed of a forward pass does not depend on what the numbers mean.

Two phases, two shapes of work:
- prefill runs the whole prompt at once: every weight matrix meets a
  (batch * prompt_len, d_model) activation matrix, a GEMM - compute-bound;
- decode runs one token per sequence: every weight matrix meets a
  (batch, d_model) activation, a GEMV - each weight byte is read from memory to
  do 2 FLOPs per sequence in the batch, so the step is memory-bound.

`prefill_cost` and `decode_cost` count the FLOPs and bytes of exactly the
matmuls the code runs; `benchmark_prefill` and `benchmark_decode` time them, so a
lesson can print measured / predicted.

Weights are stored as (in_features, out_features), C-contiguous, and applied as
`x @ W`, so a GEMV streams each matrix front to back. The activations stay 2-D
(tokens, d_model) through every matmul: a (batch, 1, d_model) array would make
numpy call one GEMV per sequence and read every matrix `batch` times.

Time fp32 (the default) or fp64: numpy has no BLAS for fp16, so an fp16 model
is limited by slow arithmetic, not by memory - it still halves the bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from memwall_lab import measure
from memwall_lab.step import StepCost
from memwall_lab.timing import Samples, time_call
from memwall_lab.validate import check_count, check_flag, check_real, shown

DTYPES = {"fp16": np.float16, "fp32": np.float32, "fp64": np.float64}
MAX_SIZED_WEIGHT_BYTES = 10**15  # 1 PB: far beyond any laptop or published model's weights
ROPE_BASE = 10_000.0  # rotary embedding base frequency, as in Llama
RMS_EPSILON = 1e-5


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype for a course dtype name ("fp16", "fp32", "fp64")."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(
            f"dtype must be one of {', '.join(map(repr, DTYPES))} (numpy has no fast "
            f"bf16/fp8/int8 matmul), got {dtype!r}"
        )
    return np.dtype(DTYPES[dtype])


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """Shape of a decoder-only transformer; sizes are counts, `dtype` names the weight type."""

    layers: int
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int | None = None  # None -> d_model // heads
    ffn: int
    vocab: int
    max_context: int
    dtype: str = "fp32"
    rope: bool = True

    def __post_init__(self):
        for name in ("layers", "d_model", "heads", "kv_heads", "ffn", "vocab", "max_context"):
            object.__setattr__(self, name, check_count(name, getattr(self, name)))
        if self.head_dim is None:
            if self.d_model % self.heads:
                raise ValueError(
                    f"d_model ({self.d_model}) must be divisible by heads ({self.heads}) "
                    "when head_dim is not given"
                )
            object.__setattr__(self, "head_dim", self.d_model // self.heads)
        object.__setattr__(self, "head_dim", check_count("head_dim", self.head_dim))
        if self.heads % self.kv_heads:
            raise ValueError(
                f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads}): "
                "kv_heads = heads is MHA, 1 is MQA, another divisor of heads is GQA"
            )
        object.__setattr__(self, "rope", check_flag("rope", self.rope))
        if self.rope and self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head_dim, got {self.head_dim}")
        numpy_dtype(self.dtype)

    @property
    def itemsize(self) -> int:
        """Bytes per weight (and per KV-cache entry)."""
        return numpy_dtype(self.dtype).itemsize

    @property
    def group_size(self) -> int:
        """Query heads sharing one KV head (1 for MHA, heads for MQA)."""
        return self.heads // self.kv_heads

    @property
    def param_count(self) -> int:
        """Number of weights the model holds, the embedding and LM head included."""
        per_layer = sum(math.prod(shape) for shape in _layer_shapes(self).values())
        outside = (self.vocab * self.d_model, self.d_model, self.d_model * self.vocab)
        return self.layers * per_layer + sum(outside)  # as weight_shapes, without a loop

    @property
    def weight_bytes(self) -> int:
        """Bytes of all weights the model holds (exactly the sum of their `.nbytes`)."""
        return self.param_count * self.itemsize

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of K and V one token adds to the cache, all layers together."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.itemsize

    @property
    def streamed_weight_bytes(self) -> int:
        """Bytes of weights every forward pass reads in full: all but the embedding table."""
        return self.weight_bytes - self.vocab * self.d_model * self.itemsize

    @classmethod
    def sized_for(
        cls,
        weight_bytes: float,
        *,
        layers: int = 4,
        head_dim: int = 64,
        group_size: int = 1,
        vocab: int = 4096,
        max_context: int = 1024,
        dtype: str = "fp32",
        rope: bool = True,
    ) -> TransformerConfig:
        """A Llama-proportioned config whose weights take about `weight_bytes` bytes.

        d_model grows in steps of head_dim * group_size, ffn is about 8/3 d_model;
        the config whose `weight_bytes` is closest to the target wins (the
        smallest one, d_model = head_dim * group_size, if the target is below it).
        Targets above MAX_SIZED_WEIGHT_BYTES (1e15 bytes) raise ValueError.
        """
        try:  # a float: numpy ints would wrap round in the differences below
            target = check_real("weight_bytes", weight_bytes)
        except ValueError:
            target = math.nan
        if not 0 < target <= MAX_SIZED_WEIGHT_BYTES:
            raise ValueError(f"weight_bytes must be a number of bytes > 0 and at most "
                             f"{MAX_SIZED_WEIGHT_BYTES:.0e}, got {shown(weight_bytes)}")
        weight_bytes = target
        head_dim, group_size = check_count("head_dim", head_dim), check_count("group_size",
                                                                              group_size)
        step = head_dim * group_size

        def config(d_model: int) -> TransformerConfig:
            heads = d_model // head_dim
            ffn = max(head_dim, round(8 * d_model / 3 / head_dim) * head_dim)
            return cls(
                layers=layers,
                d_model=d_model,
                heads=heads,
                kv_heads=heads // group_size,
                head_dim=head_dim,
                ffn=ffn,
                vocab=vocab,
                max_context=max_context,
                dtype=dtype,
                rope=rope,
            )

        # weight_bytes grows with d_model: binary-search the first multiple of step
        # that reaches the target, then keep it or the one below, whichever is closer
        low, high = 0, 1  # config(low * step) is below the target (0: no config at all)
        while config(high * step).weight_bytes < weight_bytes:
            low, high = high, 2 * high
        while high - low > 1:
            middle = (low + high) // 2
            if config(middle * step).weight_bytes < weight_bytes:
                low = middle
            else:
                high = middle
        reaching = config(high * step)
        if low == 0:
            return reaching
        below = config(low * step)
        if abs(reaching.weight_bytes - weight_bytes) > abs(below.weight_bytes - weight_bytes):
            return below
        return reaching


def weight_shapes(config: TransformerConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight array, in (in_features, out_features) order."""
    c = config
    shapes = {"embedding": (c.vocab, c.d_model)}
    for i in range(c.layers):
        shapes.update({f"layers.{i}.{name}": shape for name, shape in _layer_shapes(c).items()})
    shapes["final_norm"] = (c.d_model,)
    shapes["lm_head"] = (c.d_model, c.vocab)
    return shapes


def _layer_shapes(config: TransformerConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of one layer's weights, named as the fields of `LayerWeights`."""
    c = config
    return {
        "attention_norm": (c.d_model,),
        "query": (c.d_model, c.heads * c.head_dim),
        "key": (c.d_model, c.kv_heads * c.head_dim),
        "value": (c.d_model, c.kv_heads * c.head_dim),
        "output": (c.heads * c.head_dim, c.d_model),
        "mlp_norm": (c.d_model,),
        "gate": (c.d_model, c.ffn),
        "up": (c.d_model, c.ffn),
        "down": (c.ffn, c.d_model),
    }


# ---------------------------------------------------------------- the model


@dataclass
class LayerWeights:
    """One transformer layer's weights; matrices are (in_features, out_features)."""

    attention_norm: np.ndarray
    query: np.ndarray
    key: np.ndarray
    value: np.ndarray
    output: np.ndarray
    mlp_norm: np.ndarray
    gate: np.ndarray
    up: np.ndarray
    down: np.ndarray


def random_matrix(rng: np.random.Generator, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """Uniform random weights with variance 1 / fan_in, so activations stay near unit scale."""
    limit = math.sqrt(3.0 / shape[0])
    weights = rng.random(shape, dtype=np.float32)  # float32 draws: fast and memory-light
    weights -= 0.5
    weights *= 2 * limit
    return weights.astype(dtype, copy=False)


def rms_norm(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight."""
    mean_square = np.mean(np.square(x), axis=-1, keepdims=True)
    return x / np.sqrt(mean_square + RMS_EPSILON) * weight


def silu_(x: np.ndarray) -> np.ndarray:
    """SiLU x * sigmoid(x), computed in place in `x`."""
    denominator = np.negative(x)
    np.exp(denominator, out=denominator)
    denominator += 1
    return np.divide(x, denominator, out=x)


def softmax_(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in place in `scores`."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotary embedding of x (batch, tokens, heads, head_dim) with cos/sin (tokens, 1, half)."""
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, first * sin + second * cos], axis=-1)


def rotary_tables(config: TransformerConfig) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of position * frequency, each (max_context, head_dim // 2), model dtype."""
    half = config.head_dim // 2
    frequencies = ROPE_BASE ** (-np.arange(half) / half)
    angles = np.outer(np.arange(config.max_context), frequencies)
    dtype = numpy_dtype(config.dtype)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


class TinyTransformer:
    """A decoder-only transformer with random weights and a KV cache, in numpy."""

    def __init__(self, config: TransformerConfig, seed: int = 0):
        if not isinstance(config, TransformerConfig):
            raise ValueError(f"config must be a TransformerConfig, got {type(config).__name__}")
        seed = check_count("seed", seed, 0)
        measure.check_fits(config.weight_bytes, f"building this model (its {config.dtype} weights)")
        self.config = config
        dtype = numpy_dtype(config.dtype)
        rng = np.random.default_rng(seed)
        self.embedding = random_matrix(rng, (config.vocab, config.d_model), dtype)
        self.layers = [self._random_layer(rng) for _ in range(config.layers)]
        self.final_norm = np.ones(config.d_model, dtype)
        self.lm_head = random_matrix(rng, (config.d_model, config.vocab), dtype)
        self.rotary_cos, self.rotary_sin = rotary_tables(config) if config.rope else (None, None)
        self.key_cache: list[np.ndarray] = []  # per layer (batch, kv_heads, max_context, head_dim)
        self.value_cache: list[np.ndarray] = []
        self.context_len = 0  # tokens cached so far, per sequence

    def _random_layer(self, rng: np.random.Generator) -> LayerWeights:
        """One layer of random matrices and unit norm weights."""
        dtype = numpy_dtype(self.config.dtype)
        arrays = {
            name: np.ones(shape, dtype) if len(shape) == 1 else random_matrix(rng, shape, dtype)
            for name, shape in _layer_shapes(self.config).items()
        }
        return LayerWeights(**arrays)

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """Every weight array by name (the KV cache and rotary tables are not weights)."""
        named = {"embedding": self.embedding}
        for i, layer in enumerate(self.layers):
            for field in fields(layer):
                named[f"layers.{i}.{field.name}"] = getattr(layer, field.name)
        named["final_norm"] = self.final_norm
        named["lm_head"] = self.lm_head
        return named

    @property
    def batch(self) -> int:
        """Sequences the KV cache holds (0 before the first prefill or decode)."""
        return self.key_cache[0].shape[0] if self.key_cache else 0

    @property
    def kv_cache_bytes(self) -> int:
        """Bytes allocated for the KV cache (all max_context positions, all layers)."""
        return sum(cache.nbytes for cache in self.key_cache + self.value_cache)

    # ---- public steps

    def reset(self) -> None:
        """Forget every cached token (the cache memory is kept for reuse)."""
        self.context_len = 0

    def rewind(self, context_len: int) -> None:
        """Keep only the first `context_len` cached tokens of each sequence."""
        context_len = check_count("context_len", context_len, 0, self.context_len)
        self.context_len = context_len

    def prefill(self, tokens: np.ndarray) -> np.ndarray:
        """Start new sequences from prompts (batch, prompt_len); last logits (batch, vocab)."""
        tokens = self._check_tokens(tokens, ndim=2)
        self.reset()
        self._allocate_cache(tokens.shape[0])
        return self._forward(tokens)

    def decode_step(self, token: np.ndarray) -> np.ndarray:
        """Append one token per sequence (batch,) and return the next logits (batch, vocab)."""
        token = self._check_tokens(token, ndim=1)
        self._allocate_cache(token.shape[0])
        return self._forward(token[:, None])

    def extend(self, tokens: np.ndarray) -> np.ndarray:
        """Append several tokens per sequence (batch, new) in one pass; last logits (batch, vocab).

        The pass a speculative decoder's target model makes to check `new` drafted
        tokens (lesson 06): every weight matrix meets `new` rows per sequence, after
        the cached context. `extend` of one token is `decode_step`.
        """
        tokens = self._check_tokens(tokens, ndim=2)
        self._allocate_cache(tokens.shape[0])
        return self._forward(tokens)

    def fill_cache_randomly(self, batch: int, context_len: int, seed: int = 0) -> None:
        """Pretend `context_len` tokens were seen: random K and V written straight into the cache.

        Used to time decode at a given context length without running a prefill.
        """
        batch = check_count("batch", batch)
        context_len = check_count("context_len", context_len, 0, self.config.max_context)
        seed = check_count("seed", seed, 0)
        self.reset()
        self._allocate_cache(batch)
        rng = np.random.default_rng(seed)
        for cache in self.key_cache + self.value_cache:
            shape = cache[:, :, :context_len].shape
            cache[:, :, :context_len] = rng.random(shape, dtype=np.float32) * 2 - 1
        self.context_len = context_len

    # ---- the forward pass

    def _forward(self, tokens: np.ndarray) -> np.ndarray:
        """Run new tokens (batch, new) through the model, cache their K/V; last logits."""
        batch, new = tokens.shape
        start = self.context_len
        if start + new > self.config.max_context:
            raise ValueError(
                f"the context would grow to {start + new} tokens, more than max_context="
                f"{self.config.max_context}: call reset() or use a larger max_context"
            )
        x = self.embedding[tokens.reshape(-1)]  # (batch * new, d_model), a copy we update
        for layer, keys, values in zip(self.layers, self.key_cache, self.value_cache, strict=True):
            x += self._attention(rms_norm(x, layer.attention_norm), layer, keys, values, batch)
            x += self._mlp(rms_norm(x, layer.mlp_norm), layer)
        self.context_len = start + new
        last = x.reshape(batch, new, -1)[:, -1, :]
        return rms_norm(last, self.final_norm) @ self.lm_head

    def _attention(self, x, layer, key_cache, value_cache, batch) -> np.ndarray:
        """Causal grouped-query attention of x (batch * new, d_model) over the cache."""
        c = self.config
        new = x.shape[0] // batch
        start, end = self.context_len, self.context_len + new
        query = (x @ layer.query).reshape(batch, new, c.heads, c.head_dim)
        key = (x @ layer.key).reshape(batch, new, c.kv_heads, c.head_dim)
        value = (x @ layer.value).reshape(batch, new, c.kv_heads, c.head_dim)
        if c.rope:
            cos = self.rotary_cos[start:end, None, :]
            sin = self.rotary_sin[start:end, None, :]
            query, key = rotate(query, cos, sin), rotate(key, cos, sin)
        key_cache[:, :, start:end] = key.transpose(0, 2, 1, 3)
        value_cache[:, :, start:end] = value.transpose(0, 2, 1, 3)

        # the queries of one KV head side by side, so each cached K/V is read once per group
        rows = c.group_size * new
        query = query.reshape(batch, new, c.kv_heads, c.group_size, c.head_dim)
        query = query.transpose(0, 2, 3, 1, 4).reshape(batch, c.kv_heads, rows, c.head_dim)
        scores = query @ key_cache[:, :, :end].swapaxes(-1, -2)  # (batch, kv_heads, rows, end)
        scores *= 1 / math.sqrt(c.head_dim)
        if new > 1:
            np.copyto(scores, -np.inf, where=causal_mask(start, new, c.group_size))
        mixed = softmax_(scores) @ value_cache[:, :, :end]  # (batch, kv_heads, rows, head_dim)
        mixed = mixed.reshape(batch, c.kv_heads, c.group_size, new, c.head_dim)
        mixed = mixed.transpose(0, 3, 1, 2, 4).reshape(batch * new, c.heads * c.head_dim)
        return mixed @ layer.output

    def _mlp(self, x: np.ndarray, layer: LayerWeights) -> np.ndarray:
        """Gated SiLU MLP: down(silu(x @ gate) * (x @ up))."""
        hidden = silu_(x @ layer.gate)
        hidden *= x @ layer.up
        return hidden @ layer.down

    # ---- checks

    def _allocate_cache(self, batch: int) -> None:
        """Make sure the KV cache holds `batch` sequences (reallocating only when empty)."""
        if self.batch == batch:
            return
        if self.context_len > 0:
            raise ValueError(
                f"the cache holds {self.batch} sequences, got {batch}: call reset() first"
            )
        c = self.config
        measure.check_fits(
            batch * c.max_context * c.kv_bytes_per_token,
            f"a KV cache of {batch} sequences x max_context={c.max_context} tokens",
        )
        self.key_cache, self.value_cache = [], []  # free the old cache before the new one
        shape = (batch, c.kv_heads, c.max_context, c.head_dim)
        dtype = numpy_dtype(c.dtype)
        self.key_cache = [np.zeros(shape, dtype) for _ in range(c.layers)]
        self.value_cache = [np.zeros(shape, dtype) for _ in range(c.layers)]

    def _check_tokens(self, tokens: np.ndarray, ndim: int) -> np.ndarray:
        """Return tokens as an int array of `ndim` dims with ids in [0, vocab), else ValueError."""
        tokens = np.asarray(tokens)
        expected = "(batch, prompt_len)" if ndim == 2 else "(batch,)"
        if tokens.ndim != ndim or tokens.size == 0:
            raise ValueError(
                f"tokens must be a non-empty array of shape {expected}, got shape {tokens.shape}"
            )
        if tokens.dtype.kind not in "iu":
            raise ValueError(f"tokens must be integers, got dtype {tokens.dtype}")
        if tokens.min() < 0 or tokens.max() >= self.config.vocab:
            raise ValueError(
                f"token ids must be in [0, {self.config.vocab}), got {tokens.min()}..{tokens.max()}"
            )
        return tokens


def causal_mask(start: int, new: int, group_size: int) -> np.ndarray:
    """True where a query (group_size * new rows) must not see a key (start + new columns)."""
    query_positions = start + np.arange(new)
    key_positions = np.arange(start + new)
    mask = key_positions[None, :] > query_positions[:, None]
    return np.tile(mask, (group_size, 1))


# ---------------------------------------------------------------- cost of a step


def as_config(config_or_model: TransformerConfig | TinyTransformer) -> TransformerConfig:
    """The config itself, or the config of a model."""
    if isinstance(config_or_model, TinyTransformer):
        return config_or_model.config
    if isinstance(config_or_model, TransformerConfig):
        return config_or_model
    raise ValueError(
        f"expected a TransformerConfig or TinyTransformer, got {type(config_or_model).__name__}"
    )


def prefill_cost(
    config: TransformerConfig | TinyTransformer, batch: int, prompt_len: int
) -> StepCost:
    """FLOPs and bytes of `TinyTransformer.prefill` on a (batch, prompt_len) prompt."""
    config = as_config(config)
    batch = check_count("batch", batch)
    prompt_len = check_count("prompt_len", prompt_len, 1, config.max_context)
    return step_cost(config, batch, new_tokens=prompt_len, context_len=0)


def decode_cost(
    config: TransformerConfig | TinyTransformer, batch: int, context_len: int
) -> StepCost:
    """FLOPs and bytes of one `decode_step` with `context_len` tokens already cached (0 ok)."""
    config = as_config(config)
    batch = check_count("batch", batch)
    context_len = check_count("context_len", context_len, 0, config.max_context - 1)
    return step_cost(config, batch, new_tokens=1, context_len=context_len)


def step_cost(
    config: TransformerConfig | TinyTransformer, batch: int, new_tokens: int, context_len: int
) -> StepCost:
    """Cost of running `new_tokens` per sequence after `context_len` cached ones.

    FLOPs are 2*m*n*k for every matmul the code runs: the Q, K, V, O
    projections, attention scores and weighted sum (over the full
    new_tokens x attended matrix, masked half included, as the code computes it:
    the attention kernel), the three MLP matrices and the LM head on the last
    position only (with the projections, the weight matmuls).
    Elementwise work (norms, rotary, softmax, SiLU, residual adds) is ignored: it
    is a few FLOPs per activation, small next to the matmuls. Bytes are the
    weights (every matrix and norm read once, plus one embedding row per token,
    capped at the table) and the KV cache; activations are ignored: they are
    d_model-sized per token, small next to the weights, and count only toward
    what the step holds (``held_bytes``: all weights, the cache after the step,
    one layer's activations and the scores the code materialises).
    """
    c = as_config(config)
    batch = check_count("batch", batch)
    new_tokens = check_count("new_tokens", new_tokens, 1, c.max_context)
    context_len = check_count("context_len", context_len, 0, c.max_context - new_tokens)
    tokens = batch * new_tokens
    attended = context_len + new_tokens  # each new token sees the cache and itself
    query_width, kv_width = c.heads * c.head_dim, c.kv_heads * c.head_dim
    projections = 2 * tokens * c.d_model * (2 * query_width + 2 * kv_width)  # Q, O, K, V
    attention = 2 * (2 * batch * c.heads * new_tokens * attended * c.head_dim)  # QK^T, PV
    mlp = 3 * (2 * tokens * c.d_model * c.ffn)  # gate, up, down
    lm_head = 2 * batch * c.d_model * c.vocab
    embedding_rows = min(tokens, c.vocab) * c.d_model * c.itemsize
    activations = tokens * (3 * c.d_model + 2 * query_width + 2 * c.ffn) * c.itemsize
    scores = batch * c.heads * new_tokens * attended * c.itemsize
    return StepCost(
        phase="decode" if new_tokens == 1 else "prefill", batch=batch, tokens=tokens,
        weight_flops=c.layers * (projections + mlp) + lm_head,
        weight_bytes=c.streamed_weight_bytes + embedding_rows,
        attention_flops=c.layers * attention,
        kv_read_bytes=batch * attended * c.kv_bytes_per_token,
        kv_write_bytes=tokens * c.kv_bytes_per_token,
        held_bytes=(c.weight_bytes + batch * attended * c.kv_bytes_per_token
                    + activations + scores + batch * c.vocab * c.itemsize),
    )


# ---------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class StepBenchmark:
    """Timed repeats of one prefill or decode step, with what the step costs."""

    samples: Samples
    cost: StepCost
    tokens_per_step: int  # batch for decode, batch * prompt_len for prefill

    @property
    def seconds_per_step(self) -> float:
        """Best step time in s."""
        return self.samples.best

    @property
    def bytes_per_s(self) -> float:
        """Achieved bandwidth in bytes/s: bytes moved / best step time."""
        return self.cost.bytes_moved / self.seconds_per_step

    @property
    def flops_per_s(self) -> float:
        """Achieved FLOP/s: FLOPs / best step time."""
        return self.cost.flops / self.seconds_per_step

    @property
    def tokens_per_s(self) -> float:
        """Tokens processed per s at the best step time."""
        return self.tokens_per_step / self.seconds_per_step


def as_tiny_model(
    config_or_model: TransformerConfig | TinyTransformer, seed: int
) -> TinyTransformer:
    """The model itself, or a new random one built from a config."""
    if isinstance(config_or_model, TinyTransformer):
        return config_or_model
    if isinstance(config_or_model, TransformerConfig):
        return TinyTransformer(config_or_model, seed=seed)
    raise ValueError(
        f"expected a TransformerConfig or TinyTransformer, got {type(config_or_model).__name__}"
    )


def benchmark_prefill(
    config_or_model: TransformerConfig | TinyTransformer,
    batch: int = 1,
    prompt_len: int = 128,
    repeats: int = 5,
    seed: int = 0,
) -> StepBenchmark:
    """Time `prefill` of random (batch, prompt_len) prompts; best of `repeats`."""
    model = as_tiny_model(config_or_model, seed)
    cost = prefill_cost(model.config, batch, prompt_len)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, model.config.vocab, size=(batch, prompt_len))
    samples = time_call(lambda: model.prefill(tokens), repeats=repeats)
    return StepBenchmark(samples, cost, tokens_per_step=batch * prompt_len)


def benchmark_decode(
    config_or_model: TransformerConfig | TinyTransformer,
    batch: int = 1,
    context_len: int = 256,
    repeats: int = 20,
    seed: int = 0,
) -> StepBenchmark:
    """Time one `decode_step` with `context_len` tokens cached; best of `repeats`.

    The cache is filled with random K/V (no prefill needed) and rewound before
    every repeat, so each timed step sees the same context length.
    """
    model = as_tiny_model(config_or_model, seed)
    cost = decode_cost(model.config, batch, context_len)
    model.fill_cache_randomly(batch, context_len, seed=seed)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, model.config.vocab, size=batch)

    def step() -> None:
        model.rewind(context_len)
        model.decode_step(tokens)

    samples = time_call(step, repeats=repeats)
    return StepBenchmark(samples, cost, tokens_per_step=batch)
