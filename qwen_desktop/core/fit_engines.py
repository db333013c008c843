"""Engines and quantizations of the fit estimate, and what the weights weigh under each.

Two engines (see ``shared/research/memory-fit.md``):

* ``ollama``: llama.cpp with GGUF files (Q2_K … Q8_0, F16, BF16, F32). Weights are the Ollama
  download size when it is the asked quantization, else ``parameters × bytes-per-parameter``
  (:data:`QUANT_BYTES_PER_PARAM`); the vision projector of VL models stays at 16 bits.
* ``transformers``: the in-process Hugging Face engine, loading at bf16/fp16/fp32 or quantized by
  bitsandbytes (``int8`` = LLM.int8, ``nf4`` = 4-bit NormalFloat). bitsandbytes quantizes only the
  ``nn.Linear`` layers: the input embedding and the output layer (``lm_head`` is in transformers'
  default skip list) stay at 16 bits, and so, in this estimate, does the vision tower (an upper
  bound). The KV cache and the activations are at the compute dtype: 2 bytes for bf16/fp16 (also
  the compute dtype assumed for int8/nf4), 4 bytes for fp32.

Parameter counts: the memory a model takes is that of its *resident* parameters, computed from
the architecture when the catalog has all of it (:func:`resident_parameters`), because published
totals sometimes count a tied output layer twice (Qwen3-0.6B's "0.75B" is 0.60B in memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, get_args

from qwen_desktop.core.catalog import Variant

Engine = Literal["ollama", "transformers"]
ENGINES: tuple[str, ...] = get_args(Engine)

QUANT_BYTES_PER_PARAM: dict[str, float] = {
    "F32": 4.0,
    "F16": 2.0,
    "BF16": 2.0,
    "Q8_0": 1.0625,
    "Q6_K": 0.82,
    "Q5_K_M": 0.71,
    "Q4_K_M": 0.60,
    "Q3_K_M": 0.49,
    "Q2_K": 0.40,
}
"""Average bytes per parameter of a whole GGUF file by quantization (the ``ollama`` engine).

Source: llama.cpp's quantize table (``llama-quantize --help``), which lists file sizes for
Llama-3-8B (8.03B parameters) in GiB: Q8_0 7.96 → 1.06 bytes/parameter (34-byte blocks of 32:
8.5 bpw), Q6_K 6.14 → 0.82, Q5_K_M 5.33 → 0.71, Q4_K_M 4.58 → 0.61, Q3_K_M 3.74 → 0.50,
Q2_K 2.96 → 0.40. The "_M"/"_K" mixes keep some tensors (output, attention V) at higher
precision, so these exceed the nominal bits per weight. llmfit uses nearly the same factors.
"""

DEFAULT_QUANT = "Q4_K_M"
"""Default of the ``ollama`` engine (Ollama's default tags are Q4_K_M)."""


@dataclass(frozen=True)
class TransformersDtype:
    """How the Transformers engine stores one load option.

    Attributes:
        linear_bytes: Bytes per parameter of ``nn.Linear`` weights.
        compute_bytes: Bytes per element of the KV cache and activations (compute dtype), and of
            the parts bitsandbytes leaves unquantized (embeddings, output layer, vision tower).
        label: Torch dtype name of the compute dtype.
    """

    linear_bytes: float
    compute_bytes: int
    label: str


TRANSFORMERS_DTYPES: dict[str, TransformersDtype] = {
    "bf16": TransformersDtype(2.0, 2, "bfloat16"),
    "fp16": TransformersDtype(2.0, 2, "float16"),
    "fp32": TransformersDtype(4.0, 4, "float32"),
    "int8": TransformersDtype(1.0, 2, "bfloat16"),
    "nf4": TransformersDtype(0.5 + 4 / 64, 2, "bfloat16"),
}
"""Load options of the Transformers engine.

int8 (bitsandbytes LLM.int8): 1 byte per weight (+ one fp32 scale per output row, negligible).
nf4 (bitsandbytes 4-bit, ``BitsAndBytesConfig`` defaults: no double quantization): 4 bits per
weight plus one fp32 absmax per block of 64 = 0.5625 bytes. Both compute in 16 bits.
"""

TRANSFORMERS_DEFAULT_QUANT = "bf16"

_TRANSFORMERS_ALIASES = {
    "bf16": "bf16", "bfloat16": "bf16",
    "fp16": "fp16", "f16": "fp16", "float16": "fp16", "half": "fp16",
    "fp32": "fp32", "f32": "fp32", "float32": "fp32", "float": "fp32",
    "int8": "int8", "8bit": "int8", "8-bit": "int8", "llm.int8": "int8",
    "nf4": "nf4", "4bit": "nf4", "4-bit": "nf4", "int4": "nf4",
}  # fmt: skip

KV_BYTES_PER_ELEMENT: dict[str, Fraction] = {
    "f16": Fraction(2),
    "q8_0": Fraction(34, 32),
    "q4_0": Fraction(18, 32),
}
"""Bytes per cached key/value element by llama.cpp cache type (the ``ollama`` engine).

f16: 2 bytes. q8_0 and q4_0 store blocks of 32 values with one f16 scale: 34 and 18 bytes per
block (ggml block sizes), i.e. 1.0625 and 0.5625 bytes per element (memory-fit.md rounds them
to 1 and 0.5). llama.cpp needs flash attention for quantized V caches; Ollama turns it on.
"""

KV_TYPES: tuple[str, ...] = tuple(KV_BYTES_PER_ELEMENT)
"""llama.cpp KV cache types the ``ollama`` engine offers."""

DEFAULT_EXPERTS_PER_TOKEN = 8
"""Routed experts per token assumed when the catalog lacks ``experts_per_token`` (Qwen3 MoE)."""

VISION_GGUF_BYTES_PER_PARAM = 2.0
"""The vision projector (mmproj) of GGUF VL models is kept at F16 whatever the text quant."""


def check_engine(engine: str) -> Engine:
    """``engine`` if it is ``ollama`` or ``transformers``.

    Raises:
        ValueError: Any other name.
    """
    if engine == "ollama":
        return "ollama"
    if engine == "transformers":
        return "transformers"
    raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def default_quant(engine: str) -> str:
    """``Q4_K_M`` for ``ollama``, ``bf16`` for ``transformers``."""
    return DEFAULT_QUANT if check_engine(engine) == "ollama" else TRANSFORMERS_DEFAULT_QUANT


def quant_names(engine: str) -> tuple[str, ...]:
    """The canonical quantization names of an engine."""
    if check_engine(engine) == "ollama":
        return tuple(QUANT_BYTES_PER_PARAM)
    return tuple(TRANSFORMERS_DTYPES)


def normalize_quant(quant: str, engine: str = "ollama") -> str:
    """The canonical spelling of a quantization for an engine.

    ``q4_k_m`` → ``Q4_K_M`` (ollama); ``bfloat16`` → ``bf16``, ``4bit`` → ``nf4`` (transformers).

    Raises:
        ValueError: Unknown engine, or a quantization the engine does not offer.
    """
    engine = check_engine(engine)
    if engine == "ollama":
        name = quant.strip().upper()
        if name not in QUANT_BYTES_PER_PARAM:
            known = ", ".join(QUANT_BYTES_PER_PARAM)
            raise ValueError(
                f"unknown quantization {quant!r} for the ollama engine; expected one of {known}"
            )
        return name
    canonical = _TRANSFORMERS_ALIASES.get(quant.strip().lower())
    if canonical is None:
        known = ", ".join(TRANSFORMERS_DTYPES)
        raise ValueError(
            f"unknown quantization {quant!r} for the transformers engine; expected one of {known}"
        )
    return canonical


def kv_bytes_per_element(engine: str, quant: str, kv_type: str) -> float:
    """Bytes per cached key/value element.

    ollama: llama.cpp cache types (:data:`KV_BYTES_PER_ELEMENT`).
    transformers: the compute dtype (2 or 4 bytes); ``kv_type`` must be ``f16`` (meaning
    "unquantized": Transformers keeps its KV cache at the compute dtype).

    Raises:
        ValueError: Unknown KV type, or q8_0/q4_0 asked of the Transformers engine.
    """
    if kv_type not in KV_BYTES_PER_ELEMENT:
        raise ValueError(f"unknown KV cache type {kv_type!r}; expected one of f16, q8_0, q4_0")
    if check_engine(engine) == "ollama":
        return float(KV_BYTES_PER_ELEMENT[kv_type])
    if kv_type != "f16":
        raise ValueError(
            f"the transformers engine keeps its KV cache at the compute dtype (2 bytes for "
            f"bf16/fp16, 4 for fp32); {kv_type} is a llama.cpp cache type: use the ollama "
            "engine, or KV cache f16"
        )
    return float(TRANSFORMERS_DTYPES[normalize_quant(quant, "transformers")].compute_bytes)


# ------------------------------------------------------------------------------ parameters


def embedding_parameters(variant: Variant) -> int | None:
    """``vocab_size × hidden_size`` (one embedding matrix), or ``None`` when either is unknown."""
    arch = variant.architecture
    if arch.vocab_size is None or arch.hidden_size is None:
        return None
    return arch.vocab_size * arch.hidden_size


def routed_expert_parameters(variant: Variant) -> int:
    """Parameters of all routed experts of a MoE variant (0 for dense ones).

    ``layers × experts × 3 × hidden × moe_intermediate`` (gate, up and down projections) when the
    catalog has the widths; else from the totals: with ``P`` total, ``A`` active parameters and
    ``k`` of ``E`` experts per token, ``P − A = R × (1 − k/E)``, so ``R = (P − A) / (1 − k/E)``.
    """
    arch = variant.architecture
    if arch.experts is None or variant.active_parameters is None:
        return 0
    if arch.moe_intermediate_size is not None and arch.hidden_size is not None:
        return arch.layers * arch.experts * 3 * arch.hidden_size * arch.moe_intermediate_size
    k = arch.experts_per_token or DEFAULT_EXPERTS_PER_TOKEN
    return round((variant.parameters - variant.active_parameters) / (1 - k / arch.experts))


def architecture_parameters(variant: Variant) -> int | None:
    """Resident parameters of the language model computed from the architecture, or ``None``.

    Per layer: attention ``hidden × heads·head_dim`` (q) + ``2 × hidden × kv_heads·head_dim``
    (k, v) + ``heads·head_dim × hidden`` (o); Qwen2.5 adds q/k/v biases, Qwen3 adds q/k norms
    (``head_dim`` each); two RMSNorms (``hidden`` each); the MLP ``3 × hidden × intermediate``,
    or for MoE the router ``hidden × experts`` plus all experts. Plus the embedding, the output
    layer unless tied, and the final norm. This reproduces transformers' ``num_parameters()``
    (Qwen2.5-0.5B: 494,032,768; Qwen3-0.6B: 596,049,920; checked by the bench).

    Returns:
        ``None`` when a figure is missing (hidden, heads, vocab, MLP width or tying).
    """
    arch = variant.architecture
    hidden, heads, vocab = arch.hidden_size, arch.attention_heads, arch.vocab_size
    if hidden is None or heads is None or vocab is None or arch.tied_embeddings is None:
        return None
    q_width, kv_width = heads * arch.head_dim, arch.kv_heads * arch.head_dim
    attention = hidden * q_width + 2 * hidden * kv_width + q_width * hidden
    if variant.generation < 3:
        attention += q_width + 2 * kv_width  # Qwen2/2.5: biases on q, k, v
    else:
        attention += 2 * arch.head_dim  # Qwen3: RMSNorm on q and k
    if arch.experts is not None:
        if arch.moe_intermediate_size is None:
            return None
        mlp = hidden * arch.experts + arch.experts * 3 * hidden * arch.moe_intermediate_size
    elif arch.intermediate_size is not None:
        mlp = 3 * hidden * arch.intermediate_size
    else:
        return None
    embeddings = vocab * hidden * (1 if arch.tied_embeddings else 2)
    return embeddings + arch.layers * (attention + mlp + 2 * hidden) + hidden


def resident_parameters(variant: Variant) -> int:
    """Parameters held in memory: the language model from the architecture when complete
    (:func:`architecture_parameters`) plus the vision tower; else the catalog's ``parameters``."""
    text = architecture_parameters(variant)
    if text is None:
        return variant.parameters
    return text + (variant.vision_parameters or 0)


def vision_parameter_count(variant: Variant) -> int:
    """The vision tower's parameters (0 for text models or when unknown)."""
    return variant.vision_parameters or 0


# ------------------------------------------------------------------------------ weights


@dataclass(frozen=True)
class Weights:
    """What a variant's weights weigh under one engine and quantization (bytes).

    Attributes:
        text_bytes: The language model, every expert included.
        vision_bytes: The vision tower (0 for text models or when unknown).
        expert_bytes: The routed experts' share of ``text_bytes`` (0 for dense models).
        active_bytes: Weight bytes read per generated token: all of ``text_bytes`` for dense
            models; for MoE ``text_bytes × active / total parameters`` (catalog figures).
        active_expert_bytes: The routed experts' share of ``active_bytes`` (``expert_bytes ×
            k / E``).
    """

    text_bytes: int
    vision_bytes: int
    expert_bytes: int
    active_bytes: float
    active_expert_bytes: float

    @property
    def total_bytes(self) -> int:
        """Text plus vision weights."""
        return self.text_bytes + self.vision_bytes


def model_weights(variant: Variant, engine: str, quant: str) -> Weights:
    """The weights of ``variant`` at ``quant`` under ``engine`` (see the module docstring).

    Raises:
        ValueError: Unknown engine or quantization.
    """
    engine = check_engine(engine)
    quant = normalize_quant(quant, engine)
    resident = resident_parameters(variant)
    vision_params = vision_parameter_count(variant)
    text_params = resident - vision_params
    if engine == "ollama":
        vision_bytes = math.ceil(
            vision_params * (4.0 if quant == "F32" else VISION_GGUF_BYTES_PER_PARAM)
        )
        ollama = variant.ollama
        if ollama is not None and ollama.size_bytes is not None and ollama.quant.upper() == quant:
            text_bytes = max(0, ollama.size_bytes - vision_bytes)
        else:
            text_bytes = math.ceil(text_params * QUANT_BYTES_PER_PARAM[quant])
    else:
        dtype = TRANSFORMERS_DTYPES[quant]
        vision_bytes = vision_params * dtype.compute_bytes
        kept = 0  # parameters bitsandbytes leaves at the compute dtype
        if dtype.linear_bytes < dtype.compute_bytes:
            embedding = embedding_parameters(variant)
            tied = variant.architecture.tied_embeddings
            kept = 0 if embedding is None else embedding * (1 if tied else 2)
        text_bytes = math.ceil(
            (text_params - kept) * dtype.linear_bytes + kept * dtype.compute_bytes
        )
    experts = routed_expert_parameters(variant)
    expert_bytes = round(text_bytes * experts / text_params) if text_params else 0
    arch = variant.architecture
    if variant.active_parameters is not None and arch.experts is not None:
        active = text_bytes * variant.active_parameters / variant.parameters
        k = arch.experts_per_token or DEFAULT_EXPERTS_PER_TOKEN
        active_experts = expert_bytes * k / arch.experts
    else:
        active, active_experts = float(text_bytes), 0.0
    return Weights(
        text_bytes=text_bytes,
        vision_bytes=vision_bytes,
        expert_bytes=expert_bytes,
        active_bytes=active,
        active_expert_bytes=active_experts,
    )


def weights_bytes(variant: Variant, quant: str = DEFAULT_QUANT, engine: str = "ollama") -> int:
    """All weights (text + vision) at a quantization: see :func:`model_weights`.

    MoE variants count all experts: they must all be resident somewhere.

    Raises:
        ValueError: Unknown engine or quantization.
    """
    return model_weights(variant, engine, quant).total_bytes
