"""Engines, quantizations and weights, and the Transformers estimate, worked out by hand.

Parameter counts are written out from the architecture (what transformers' ``num_parameters()``
gives for a model built from the config; the bench checks the same identity on real builds).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qwen_desktop.core.catalog import Catalog, load_catalog
from qwen_desktop.core.fit import FitVerdict, estimate_fit
from qwen_desktop.core.fit_engines import (
    architecture_parameters,
    kv_bytes_per_element,
    model_weights,
    normalize_quant,
    resident_parameters,
    routed_expert_parameters,
    weights_bytes,
)
from qwen_desktop.core.machine import MachineReport

MiB = 1024**2
GiB = 1024**3
PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"

# Qwen2.5-7B: untied embeddings 152064 × 3584; 28 layers of q/o 3584², k/v 3584 × 512 with
# q/k/v biases, MLP 3 × 3584 × 18944, two norms; the final norm.
E7 = 152_064 * 3584
P7 = 2 * E7 + 28 * (2 * 3584**2 + 2 * 3584 * 512 + 3584 + 2 * 512 + 3 * 3584 * 18_944
                    + 2 * 3584) + 3584  # fmt: skip
# Qwen3-8B: untied embeddings 151936 × 4096; 36 layers of q/o 4096², k/v 4096 × 1024, q/k norms,
# MLP 3 × 4096 × 12288, two norms; the final norm.
E8 = 151_936 * 4096
P8 = 2 * E8 + 36 * (2 * 4096**2 + 2 * 4096 * 1024 + 2 * 128 + 3 * 4096 * 12_288
                    + 2 * 4096) + 4096  # fmt: skip


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def profile(name: str) -> MachineReport:
    return MachineReport.from_file(PROFILES / f"{name}.json")


# ------------------------------------------------------------------------------ parameters


def test_resident_parameters_from_the_architecture(catalog: Catalog) -> None:
    # Qwen2.5-0.5B (tied): embeddings 151936 × 896; 24 layers of q/o 896², k/v 896 × 128 with
    # biases, MLP 3 × 896 × 4864, two norms; the final norm.
    q25 = 151_936 * 896 + 24 * (2 * 896**2 + 2 * 896 * 128 + 896 + 2 * 128 + 3 * 896 * 4864
                                + 2 * 896) + 896  # fmt: skip
    assert q25 == 494_032_768  # transformers' count for Qwen2.5-0.5B
    assert architecture_parameters(catalog.get("qwen2.5-0.5b-instruct")) == q25
    # Qwen3-0.6B (tied): q 1024 → 16 × 128, k/v 1024 → 8 × 128, o back, q/k norms.
    q3 = 151_936 * 1024 + 28 * (1024 * 2048 * 2 + 2 * 1024 * 1024 + 2 * 128 + 3 * 1024 * 3072
                                + 2 * 1024) + 1024  # fmt: skip
    assert q3 == 596_049_920
    # The published 0.75B counts the tied output layer twice.
    assert catalog.get("qwen3-0.6b").parameters == 750_000_000
    assert round((q3 + 151_936 * 1024) / 1e7) == 75
    assert resident_parameters(catalog.get("qwen3-0.6b")) == q3
    assert resident_parameters(catalog.get("qwen2.5-7b-instruct")) == P7
    assert resident_parameters(catalog.get("qwen3-8b")) == P8
    vl = catalog.get("qwen2.5-vl-7b-instruct")  # the text model of Qwen2.5-7B + the tower
    assert resident_parameters(vl) == P7 + 677_000_000
    # Without hidden size, heads and MLP width the catalog's count stands.
    assert resident_parameters(catalog.get("qwen3.5-9b")) == 9_650_000_000


def test_routed_experts(catalog: Catalog) -> None:
    moe = catalog.get("qwen3-30b-a3b")
    assert routed_expert_parameters(moe) == 48 * 128 * 3 * 2048 * 768
    # Without the expert width: P − A = R × (1 − 8/128).
    arch = moe.architecture.model_copy(update={"moe_intermediate_size": None})
    derived = moe.model_copy(update={"architecture": arch})
    assert routed_expert_parameters(derived) == round((30.53e9 - 3.3e9) / (1 - 8 / 128))
    assert routed_expert_parameters(catalog.get("qwen3-32b")) == 0


# ------------------------------------------------------------------------------ ollama weights


def test_ollama_weights(catalog: Catalog) -> None:
    qwen3_8b = catalog.get("qwen3-8b")
    assert weights_bytes(qwen3_8b) == 5_200_000_000  # "qwen3:8b = 5.2 GB" (its Q4_K_M)
    assert weights_bytes(qwen3_8b, "q8_0") == math.ceil(P8 * 1.0625)  # 8.5 bits per weight
    assert weights_bytes(qwen3_8b, "F16") == P8 * 2
    assert weights_bytes(qwen3_8b, "Q2_K") == math.ceil(P8 * 0.40)  # 2.96 GiB / 8.03B (llama.cpp)
    # No Ollama size known: resident parameters × 0.60 bytes (Q4_K_M).
    four_b = 151_936 * 2560 + 36 * (2560 * 4096 * 2 + 2 * 2560 * 1024 + 256 + 3 * 2560 * 9728
                                    + 2 * 2560) + 2560  # fmt: skip
    assert weights_bytes(catalog.get("qwen3-4b-instruct-2507")) == math.ceil(four_b * 0.60)
    # Tied output layers are stored once: Qwen3-0.6B at Q8_0 is 596M parameters, not 750M.
    assert weights_bytes(catalog.get("qwen3-0.6b"), "Q8_0") == math.ceil(596_049_920 * 1.0625)
    # MoE: every expert must be resident.
    moe = 30_532_122_624
    assert weights_bytes(catalog.get("qwen3-30b-a3b-instruct-2507"), "Q8_0") == math.ceil(
        moe * 1.0625
    )
    with pytest.raises(ValueError, match="quantization"):
        weights_bytes(qwen3_8b, "Q7_X")


def test_vision_tower_weights(catalog: Catalog) -> None:
    vl = catalog.get("qwen2.5-vl-7b-instruct")
    # The 6.0 GB download carries the 677M-parameter tower at F16: the rest is the text model.
    weights = model_weights(vl, "ollama", "Q4_K_M")
    assert (weights.text_bytes, weights.vision_bytes) == (6_000_000_000 - 1_354_000_000,
                                                         1_354_000_000)  # fmt: skip
    q8 = model_weights(vl, "ollama", "Q8_0")
    assert (q8.text_bytes, q8.vision_bytes) == (math.ceil(P7 * 1.0625), 1_354_000_000)
    bf16 = model_weights(vl, "transformers", "bf16")
    assert (bf16.text_bytes, bf16.vision_bytes) == (P7 * 2, 677_000_000 * 2)
    assert model_weights(catalog.get("qwen3-8b"), "ollama", "Q4_K_M").vision_bytes == 0


# ------------------------------------------------------------------------------ transformers


def test_transformers_dtypes(catalog: Catalog) -> None:
    qwen25_7b = catalog.get("qwen2.5-7b-instruct")
    assert weights_bytes(qwen25_7b, "bf16", "transformers") == P7 * 2
    assert weights_bytes(qwen25_7b, "fp16", "transformers") == P7 * 2
    assert weights_bytes(qwen25_7b, "fp32", "transformers") == P7 * 4
    # bitsandbytes quantizes nn.Linear only: the embeddings and lm_head stay at 16 bits.
    assert weights_bytes(qwen25_7b, "int8", "transformers") == (P7 - 2 * E7) + 2 * E7 * 2
    # NF4: 4 bits + one fp32 absmax per 64 weights = 0.5625 bytes.
    assert weights_bytes(qwen25_7b, "nf4", "transformers") == math.ceil(
        (P7 - 2 * E7) * 0.5625 + 2 * E7 * 2
    )
    # Tied embeddings are one matrix.
    tied = 494_032_768 - 151_936 * 896
    assert weights_bytes(catalog.get("qwen2.5-0.5b-instruct"), "4bit", "transformers") == (
        math.ceil(tied * 0.5625 + 151_936 * 896 * 2)
    )


def test_transformers_kv_cache_is_at_the_compute_dtype() -> None:
    assert kv_bytes_per_element("transformers", "bf16", "f16") == 2
    assert kv_bytes_per_element("transformers", "fp32", "f16") == 4
    assert kv_bytes_per_element("transformers", "nf4", "f16") == 2
    assert kv_bytes_per_element("ollama", "Q4_K_M", "q8_0") == 34 / 32
    for kv_type in ("q8_0", "q4_0"):
        with pytest.raises(ValueError, match="compute dtype"):
            kv_bytes_per_element("transformers", "bf16", kv_type)


def test_quantization_names() -> None:
    assert normalize_quant("q4_k_m") == "Q4_K_M"
    assert normalize_quant("bfloat16", "transformers") == "bf16"
    assert normalize_quant("float32", "transformers") == "fp32"
    assert normalize_quant("8-bit", "transformers") == "int8"
    assert normalize_quant("4bit", "transformers") == "nf4"
    with pytest.raises(ValueError, match="for the transformers engine"):
        normalize_quant("Q4_K_M", "transformers")
    with pytest.raises(ValueError, match="for the ollama engine"):
        normalize_quant("nf4")
    with pytest.raises(ValueError, match="unknown engine"):
        normalize_quant("bf16", "vllm")


def _activations(ctx: int, compute_bytes: int, widths: tuple[int, int, int, int, int]) -> int:
    # ctx × bytes × (2·intermediate + 2·hidden + 4·(q_width + 2·kv_width)) + 8·vocab
    intermediate, hidden, q, kv, vocab = widths
    return ctx * compute_bytes * (2 * intermediate + 2 * hidden + 4 * (q + 2 * kv)) + 8 * vocab


QWEN25_7B = (18_944, 3584, 3584, 512, 152_064)  # intermediate, hidden, q, kv widths, vocab
QWEN3_8B = (12_288, 4096, 4096, 1024, 151_936)


def test_transformers_bf16_on_a_24gb_gpu(catalog: Catalog) -> None:
    rtx = profile("nvidia_24gb")
    fit = estimate_fit(catalog.get("qwen2.5-7b-instruct"), rtx, engine="transformers",
                       quant="bf16", context_tokens=8192)  # fmt: skip
    kv = 2 * 28 * 4 * 128 * 2 * 8192  # bf16 cache
    act = _activations(8192, 2, QWEN25_7B)
    need = P7 * 2 + kv + act + 512 * MiB  # 512 MiB: CUDA context and allocator slack
    assert need <= 0.95 * 23.5 * GiB
    assert fit.verdict is FitVerdict.FULL_GPU
    assert (fit.engine, fit.quant, fit.kv_type) == ("transformers", "bf16", "bf16")
    assert (fit.weights_bytes, fit.kv_cache_bytes, fit.graph_bytes) == (P7 * 2, kv, act)
    assert fit.total_bytes == need
    # 936 GB/s × 0.6 for the weights and half the cache, plus 0.2 ms per layer of framework time.
    seconds = (P7 * 2 + kv / 2) / (936e9 * 0.6) + 0.0002 * 28
    assert fit.tokens_per_second_estimate == pytest.approx(1 / seconds)


def test_transformers_fp32_goes_to_the_cpu_never_partial(catalog: Catalog) -> None:
    rtx = profile("nvidia_24gb")  # 48 GiB RAM available → budget 46 GiB
    fit = estimate_fit(catalog.get("qwen2.5-7b-instruct"), rtx, engine="transformers",
                       quant="fp32", context_tokens=8192)  # fmt: skip
    kv = 2 * 28 * 4 * 128 * 4 * 8192  # fp32 cache: 4 bytes
    act = _activations(8192, 4, QWEN25_7B)
    need = P7 * 4 + kv + act + 384 * MiB  # 384 MiB: torch + transformers in RAM
    assert 0.95 * 23.5 * GiB < P7 * 4 and need <= 48 * GiB - 2 * GiB
    assert fit.verdict is FitVerdict.CPU_ONLY and fit.total_bytes == need
    assert fit.reason.startswith("Too large for NVIDIA GeForce RTX 3090 (23.5 GiB VRAM free); runs")
    assert fit.max_context is not None and fit.max_context.partial_gpu is None


def test_transformers_nf4_on_an_8gb_gpu(catalog: Catalog) -> None:
    rtx, variant = profile("nvidia_8gb"), catalog.get("qwen3-8b")
    weights = math.ceil((P8 - 2 * E8) * 0.5625 + 2 * E8 * 2)
    overhead = 512 * MiB
    short = estimate_fit(variant, rtx, engine="transformers", quant="nf4", context_tokens=1024)
    need = (weights + 147_456 * 1024 + _activations(1024, 2, QWEN3_8B)
            + overhead)  # fmt: skip
    assert need <= 0.95 * 7.5 * GiB
    assert short.verdict is FitVerdict.FULL_GPU and short.total_bytes == need
    long = estimate_fit(variant, rtx, engine="transformers", quant="nf4", context_tokens=4096)
    # bitsandbytes keeps the whole model in VRAM: no GPU + CPU split, no CPU way.
    assert long.verdict is FitVerdict.WONT_FIT
    assert long.reason.startswith("Too large for nf4 on the GPU: bitsandbytes keeps the whole")
    # Largest full-GPU context: the room after weights, overhead and logits over the per-token
    # cost (bf16 KV 144 KiB + activations 2 × 57,344 bytes), in steps of 256.
    room = 0.95 * 7.5 * GiB - weights - overhead - 8 * 151_936
    per_token = 147_456 + 2 * (2 * 12_288 + 2 * 4096 + 4 * (4096 + 2 * 1024))
    assert long.max_context is not None
    assert long.max_context.full_gpu == math.floor(room / per_token / 256) * 256 == 2560
    assert long.max_context.cpu_only is None and long.max_context.partial_gpu == 2560


def test_bitsandbytes_quantizations_need_an_nvidia_gpu(catalog: Catalog) -> None:
    laptop = profile("laptop_16gib_no_gpu")
    for quant in ("int8", "nf4"):
        fit = estimate_fit(catalog.get("qwen3-0.6b"), laptop, engine="transformers", quant=quant)
        assert fit.verdict is FitVerdict.WONT_FIT  # what the engine refuses on the CPU
        assert fit.reason.startswith(f"Not possible here: {quant} (bitsandbytes) needs an NVIDIA")
        assert fit.max_context_tokens == {"full_gpu": None, "partial_gpu": None, "cpu_only": None}
    bf16 = estimate_fit(catalog.get("qwen3-0.6b"), laptop, engine="transformers", quant="bf16")
    assert bf16.verdict is FitVerdict.CPU_ONLY
