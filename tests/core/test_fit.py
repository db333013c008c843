"""The fit estimate against figures worked out by hand from shared/research/memory-fit.md.

Every expected value below is written out from the formula and the catalog's published figures,
not copied from the implementation's output.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qwen_desktop.core.catalog import Catalog, load_catalog
from qwen_desktop.core.fit import (
    FitVerdict,
    context_label,
    estimate_fit,
    gpu_bandwidth_bytes_per_second,
    graph_bytes,
    kv_cache_bytes,
    weights_bytes,
)
from qwen_desktop.core.machine import CpuInfo, GpuInfo, MachineReport, MemoryInfo

KiB = 1024
MiB = 1024**2
GiB = 1024**3
PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def profile(name: str) -> MachineReport:
    return MachineReport.from_file(PROFILES / f"{name}.json")


def machine(
    *,
    ram_available: int,
    ram_total: int | None = None,
    limit: int | None = None,
    gpus: list[GpuInfo] | None = None,
    cpu_bandwidth: int | None = None,
) -> MachineReport:
    return MachineReport(
        cpu=CpuInfo(memory_bandwidth_bytes_per_second=cpu_bandwidth),
        memory=MemoryInfo(
            total_bytes=ram_total or ram_available * 2,
            available_bytes=ram_available,
            limit_bytes=limit,
        ),
        gpus=gpus or [],
    )


def nvidia(name: str, free: int, total: int | None = None) -> GpuInfo:
    return GpuInfo(
        vendor="nvidia", name=name, vram_total_bytes=total or free, vram_free_bytes=free,
        source="NVML",
    )  # fmt: skip


# ------------------------------------------------------------------------------ KV cache


@pytest.mark.parametrize(
    ("variant_id", "expected"),
    [
        # 2 × layers × kv_heads × head_dim × 32768 tokens × 2 bytes (f16)
        ("qwen3-32b", 8 * GiB),  # 2·64·8·128·2 = 256 KiB/token
        ("qwen3-8b", 4.5 * GiB),  # 2·36·8·128·2 = 144 KiB/token
        ("qwen3-30b-a3b", 3 * GiB),  # 2·48·4·128·2 = 96 KiB/token
        ("qwen2.5-7b-instruct", 1.75 * GiB),  # 2·28·4·128·2 = 56 KiB/token
        ("qwen2.5-72b-instruct", 10 * GiB),  # 2·80·8·128·2 = 320 KiB/token
    ],
)
def test_kv_cache_golden_values(catalog: Catalog, variant_id: str, expected: float) -> None:
    assert kv_cache_bytes(catalog.get(variant_id), 32_768) == int(expected)


def test_kv_cache_per_token_and_options(catalog: Catalog) -> None:
    qwen3_8b = catalog.get("qwen3-8b")
    assert kv_cache_bytes(qwen3_8b, 1) == 144 * KiB
    assert kv_cache_bytes(qwen3_8b, 4096, parallel=2) == 2 * 144 * KiB * 4096
    # q8_0 / q4_0 blocks: 32 values in 34 / 18 bytes (ggml), i.e. 1.0625 / 0.5625 bytes each.
    elements = 2 * 36 * 8 * 128 * 32_768
    assert kv_cache_bytes(qwen3_8b, 32_768, "q8_0") == elements * 34 // 32
    assert kv_cache_bytes(qwen3_8b, 32_768, "q4_0") == elements * 18 // 32
    with pytest.raises(ValueError, match="KV cache type"):
        kv_cache_bytes(qwen3_8b, 1024, "q5_1")


def test_kv_cache_counts_only_full_attention_layers(catalog: Catalog) -> None:
    # Qwen3.5-9B (unverified): 32 layers, a KV cache on every 4th → 8 layers, 4 KV heads × 256.
    variant = catalog.get("qwen3.5-9b")
    assert kv_cache_bytes(variant, 32_768) == 2 * 8 * 4 * 256 * 32_768 * 2


# ------------------------------------------------------------------------------ weights, graph


def test_weights_use_ollama_size_for_its_quant_else_parameters(catalog: Catalog) -> None:
    qwen3_8b = catalog.get("qwen3-8b")
    assert weights_bytes(qwen3_8b) == 5_200_000_000  # "qwen3:8b = 5.2 GB"
    assert weights_bytes(qwen3_8b, "q8_0") == 8_190_000_000 * 1.0625  # 8.5 bpw
    assert weights_bytes(qwen3_8b, "F16") == 8_190_000_000 * 2
    # No Ollama size known: 4.02B parameters × 0.60 bytes (Q4_K_M ≈ 4.8 bpw).
    assert weights_bytes(catalog.get("qwen3-4b-instruct-2507")) == 2_412_000_000
    # MoE: every expert must be resident.
    assert weights_bytes(catalog.get("qwen3-30b-a3b-instruct-2507"), "Q8_0") == math.ceil(
        30_530_000_000 * 1.0625
    )
    with pytest.raises(ValueError, match="quantization"):
        weights_bytes(qwen3_8b, "Q7_X")


def test_graph_estimate(catalog: Catalog) -> None:
    qwen3_8b = catalog.get("qwen3-8b")  # hidden 4096, 32 heads, vocab 151,936
    # 4·512·(1 + 2·4096 + 8192·(1 + 32)) beats 4·512·(4096 + 151936) at 8K.
    assert graph_bytes(qwen3_8b, 8192) == 2048 * (1 + 8192 + 8192 * 33)
    # At 1K the output-logits term wins: 4·512·(4096 + 151936).
    assert graph_bytes(qwen3_8b, 1024) == 2048 * (4096 + 151_936)


def test_graph_estimate_falls_back_when_architecture_is_incomplete(catalog: Catalog) -> None:
    # Qwen3.5-9B has neither hidden_size nor attention_heads: heads = 4 KV heads × 8,
    # hidden = 32 × 256, vocab 151,936.
    variant = catalog.get("qwen3.5-9b")
    assert graph_bytes(variant, 8192) == 2048 * (1 + 2 * 8192 + 8192 * 33)


# ------------------------------------------------------------------------------ verdicts


def test_no_gpu_laptop_runs_8b_on_cpu(catalog: Catalog) -> None:
    laptop = profile("laptop_16gib_no_gpu")  # 16 GiB RAM, 12 GiB available, no GPU
    fit = estimate_fit(catalog.get("qwen3-8b"), laptop, context_tokens=8192)
    kv = 144 * KiB * 8192  # 2·36·8·128·2 bytes = 144 KiB per token
    graph = 2048 * (1 + 8192 + 8192 * 33)
    need = 5_200_000_000 + kv + graph + 256 * MiB
    assert need <= 0.9 * 12 * GiB
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert (fit.gpu_layers, fit.total_layers) == (0, 36)
    assert (fit.kv_cache_bytes, fit.graph_bytes, fit.overhead_bytes) == (kv, graph, 256 * MiB)
    assert fit.total_bytes == need
    assert fit.pool == "ram" and fit.pool_free_bytes == 12 * GiB
    # 40 GB/s default × 0.6 efficiency / (weights + KV at half the window)
    assert fit.tokens_per_second_estimate == pytest.approx(24e9 / (5.2e9 + kv / 2))
    assert fit.reason.startswith("Runs on the CPU: needs 6.7 GiB of 12.0 GiB free RAM at 8K")
    assert "about 4 tokens/s" in fit.reason


def test_no_gpu_laptop_cannot_hold_32b(catalog: Catalog) -> None:
    fit = estimate_fit(catalog.get("qwen3-32b"), profile("laptop_16gib_no_gpu"))
    assert fit.verdict is FitVerdict.WONT_FIT
    assert fit.tokens_per_second_estimate is None
    assert "Too large" in fit.reason and "no GPU" in fit.reason
    assert "12.0 GiB free RAM" in fit.reason


def test_8gb_gpu_fits_qwen3_8b_at_4k_but_not_fully_at_32k(catalog: Catalog) -> None:
    rtx = profile("nvidia_8gb")  # RTX 4060, 7.5 GiB free VRAM, 24 GiB RAM available
    variant = catalog.get("qwen3-8b")

    short = estimate_fit(variant, rtx, context_tokens=4096)
    need_4k = 5_200_000_000 + 144 * KiB * 4096 + 2048 * (4096 + 151_936) + 457 * MiB
    assert need_4k <= 0.95 * 7.5 * GiB
    assert short.verdict is FitVerdict.FULL_GPU
    assert short.total_bytes == need_4k
    assert short.gpu_layers == short.total_layers == 36
    assert short.reason.startswith("Runs fully on NVIDIA GeForce RTX 4060 (7.5 GiB free VRAM)")

    long = estimate_fit(variant, rtx, context_tokens=32_768)
    assert long.verdict is FitVerdict.PARTIAL_GPU
    # Partial offload, by hand (memory-fit.md):
    #   weights 5.2e9, KV 4.5 GiB, graph 4·512·(1 + 8192 + 32768·33), fixed 457 MiB
    #   output layer = per-layer weights = 5.2e9 / 37
    #   per_layer    = 5.2e9 / 37 + 4.5 GiB / 36
    #   gpu_layers   = floor((7.5 GiB × 0.95 − 457 MiB − graph − 5.2e9 / 37) / per_layer)
    graph = 2048 * (1 + 8192 + 32_768 * 33)
    per_layer = 5.2e9 / 37 + 4.5 * GiB / 36
    room = 7.5 * GiB * 0.95 - 457 * MiB - graph - 5.2e9 / 37
    expected_layers = math.floor(room / per_layer)
    assert expected_layers == 17
    assert long.gpu_layers == expected_layers
    assert long.pool == "gpu+ram"
    assert "17 of 36 layers on the GPU" in long.reason


def test_24gb_gpu(catalog: Catalog) -> None:
    rtx = profile("nvidia_24gb")  # RTX 3090, 23.5 GiB free; 48 GiB RAM available, 80 GB/s
    fit_14b = estimate_fit(catalog.get("qwen3-14b"), rtx)
    assert fit_14b.verdict is FitVerdict.FULL_GPU
    # 936 GB/s (RTX 3090) × 0.6 / (9.3e9 + KV at 4K: 160 KiB/token × 4096)
    assert fit_14b.tokens_per_second_estimate == pytest.approx(
        936e9 * 0.6 / (9.3e9 + 160 * KiB * 4096)
    )

    fit_72b = estimate_fit(catalog.get("qwen2.5-72b-instruct"), rtx)
    assert fit_72b.verdict is FitVerdict.PARTIAL_GPU
    # weights 47e9, 80 layers, KV at 8K = 320 KiB × 8192 = 2.5 GiB,
    # graph = 4·512·(1 + 2·8192 + 8192·65) (hidden 8192, 64 heads), fixed 457 MiB
    graph = 2048 * (1 + 2 * 8192 + 8192 * 65)
    per_layer = 47e9 / 81 + 2.5 * GiB / 80
    layers_on_gpu = math.floor((23.5 * GiB * 0.95 - 457 * MiB - graph - 47e9 / 81) / per_layer)
    assert fit_72b.gpu_layers == layers_on_gpu
    assert 2 <= layers_on_gpu < 80
    # Split decode: GPU share at 936 GB/s, the rest at 80 GB/s, both × 0.6.
    share = layers_on_gpu / 80
    per_token = 47e9 + 2.5 * GiB / 2
    seconds = per_token * share / (936e9 * 0.6) + per_token * (1 - share) / (80e9 * 0.6)
    assert fit_72b.tokens_per_second_estimate == pytest.approx(1 / seconds)

    fit_235b = estimate_fit(catalog.get("qwen3-235b-a22b"), rtx)  # 142 GB: more than VRAM + RAM
    assert fit_235b.verdict is FitVerdict.WONT_FIT
    assert fit_235b.pool_free_bytes == int(23.5 * GiB) + 48 * GiB
    assert "23.5 GiB free VRAM" in fit_235b.reason


def test_moe_speed_reads_only_active_experts(catalog: Catalog) -> None:
    rtx = profile("nvidia_24gb")
    fit = estimate_fit(catalog.get("qwen3-30b-a3b"), rtx)
    assert fit.verdict is FitVerdict.FULL_GPU
    active = 19e9 * 3.3e9 / 30.53e9  # download size scaled to the 3.3B active parameters
    kv_half = 96 * KiB * 4096
    assert fit.tokens_per_second_estimate == pytest.approx(936e9 * 0.6 / (active + kv_half))


def test_unified_memory_is_never_added_to_ram(catalog: Catalog) -> None:
    # Apple M2, 16 GiB unified; the GPU claims all 16 GiB free but only 12 GiB of RAM is
    # available: the GPU pool is capped at 12 GiB and never added on top of RAM (case C6).
    apple = profile("apple_unified_16gib")
    small = estimate_fit(catalog.get("qwen3-8b"), apple)
    assert small.verdict is FitVerdict.FULL_GPU
    assert small.pool_free_bytes == 12 * GiB
    assert small.overhead_bytes == 512 * MiB  # Metal
    # M2: 100 GB/s × 0.6
    assert small.tokens_per_second_estimate == pytest.approx(
        100e9 * 0.6 / (5.2e9 + 144 * KiB * 4096)
    )

    big = estimate_fit(catalog.get("qwen3-32b"), apple)  # ~21.9 GiB: fits 12 + 16 but not 12
    assert big.verdict is FitVerdict.WONT_FIT
    assert big.pool == "ram" and big.pool_free_bytes == 12 * GiB
    assert "shared with Apple M2" in big.reason


def test_shared_igpu_memory_counted_once_c6(catalog: Catalog) -> None:
    # 16 GiB RAM (14 GiB available) and an APU reporting 8 GiB of shared memory: the usable pool
    # is at most 14 GiB, never 22.
    apu = machine(
        ram_available=14 * GiB,
        ram_total=16 * GiB,
        gpus=[
            GpuInfo(
                vendor="amd", name="AMD Radeon 780M", vram_total_bytes=8 * GiB,
                vram_free_bytes=8 * GiB, source="sysfs", unified_memory=True,
            )
        ],
    )  # fmt: skip
    # Qwen3-14B at 8K: 9.3e9 + 160 KiB × 8192 + 4·512·(1 + 2·5120 + 8192·41) + fixed
    kv = 160 * KiB * 8192
    graph = 2048 * (1 + 2 * 5120 + 8192 * 41)
    assert 9.3e9 + kv + graph + 457 * MiB > 0.95 * 8 * GiB  # too big for the shared window
    assert 9.3e9 + kv + graph + 256 * MiB <= 0.9 * 14 * GiB  # fits RAM
    fit = estimate_fit(catalog.get("qwen3-14b"), apu)
    assert fit.verdict is FitVerdict.CPU_ONLY  # not partial: there is no second pool
    assert fit.reason.startswith("Too large for AMD Radeon 780M")

    fit_32b = estimate_fit(catalog.get("qwen2.5-32b-instruct"), apu)  # ~21.5 GiB
    assert fit_32b.verdict is FitVerdict.WONT_FIT
    assert fit_32b.pool_free_bytes == 14 * GiB


def test_tiny_machine(catalog: Catalog) -> None:
    tiny = profile("tiny_2gib")  # 1.5 GiB available
    for big in ("qwen3-8b", "qwen3-4b", "qwen2.5-7b-instruct", "qwen3-235b-a22b"):
        assert estimate_fit(catalog.get(big), tiny).verdict is FitVerdict.WONT_FIT, big
    # Qwen2.5-0.5B at 8K: 398e6 + KV 2·24·2·64·2 = 12 KiB/token × 8192
    #   + graph max(4·512·(896 + 151936), 4·512·(1 + 1792 + 8192·15)) + 256 MiB ≈ 1.0 GiB
    need = 398e6 + 12 * KiB * 8192 + 2048 * (896 + 151_936) + 256 * MiB
    assert need <= 0.9 * 1.5 * GiB
    fit = estimate_fit(catalog.get("qwen2.5-0.5b-instruct"), tiny)
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert fit.total_bytes == need


def test_container_limit_caps_available_ram(catalog: Catalog) -> None:
    boxed = machine(ram_available=12 * GiB, limit=4 * GiB)
    fit = estimate_fit(catalog.get("qwen3-8b"), boxed)
    assert fit.verdict is FitVerdict.WONT_FIT
    assert fit.pool_free_bytes == 4 * GiB


def test_gpu_the_engine_cannot_use_is_ignored(catalog: Catalog) -> None:
    intel = machine(
        ram_available=12 * GiB,
        gpus=[
            GpuInfo(
                vendor="intel", name="Intel Iris Xe", vram_total_bytes=8 * GiB,
                vram_free_bytes=8 * GiB, source="wmi",
            )
        ],
    )  # fmt: skip
    fit = estimate_fit(catalog.get("qwen3-4b"), intel)
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert fit.reason.startswith("Runs on the CPU")
    assert "no GPU the engine can use" in estimate_fit(catalog.get("qwen3-32b"), intel).reason


def test_measured_cpu_bandwidth_is_used(catalog: Catalog) -> None:
    fast = machine(ram_available=12 * GiB, cpu_bandwidth=100_000_000_000)
    fit = estimate_fit(catalog.get("qwen3-4b"), fast, context_tokens=4096)
    assert fit.tokens_per_second_estimate == pytest.approx(100e9 * 0.6 / (2.5e9 + 144 * KiB * 2048))


def test_partial_needs_at_least_two_gpu_layers(catalog: Catalog) -> None:
    # 1 GiB free VRAM cannot hold 457 MiB + graph + output + 2 layers of Qwen2.5-72B → CPU.
    small_gpu = machine(ram_available=60 * GiB, gpus=[nvidia("NVIDIA GeForce GT 1030", GiB)])
    fit = estimate_fit(catalog.get("qwen2.5-72b-instruct"), small_gpu)
    assert fit.verdict is FitVerdict.CPU_ONLY


@pytest.mark.parametrize(
    ("name", "gb_per_second"),
    [
        ("NVIDIA GeForce RTX 4070 Ti", 504),
        ("NVIDIA GeForce RTX 4060 Ti", 288),
        ("NVIDIA GeForce RTX 4060", 272),
        ("NVIDIA A100-SXM4-80GB", 1555),  # not the A10
        ("NVIDIA A10", 600),
        ("NVIDIA GeForce Future 9999", 400),  # vendor default
    ],
)
def test_gpu_bandwidth_table(name: str, gb_per_second: int) -> None:
    assert gpu_bandwidth_bytes_per_second(nvidia(name, GiB)) == gb_per_second * 1e9


def test_context_label() -> None:
    assert context_label(8192) == "8K"
    assert context_label(40_960) == "40K"
    assert context_label(5000) == "5,000 tokens"
