"""The fit estimate (ollama engine) against figures worked out by hand.

Every expected value below is written out from the formulas of shared/research/memory-fit.md and
the module docstrings (RAM reserve, partial offload, multi-GPU split, experts on CPU) and the
catalog's published figures, not copied from the implementation's output.

Reminders used throughout:
    RAM budget = available − min(2 GiB, 15 % of total RAM); tight when less than
    min(4 GiB, 30 % of total RAM) is left; CPU decode bandwidth = min(peak × 0.6, cores × 8 GB/s).
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
    max_context_label,
    speed_label,
)
from qwen_desktop.core.machine import CpuInfo, GpuInfo, MachineReport, MemoryInfo

KiB = 1024
MiB = 1024**2
GiB = 1024**3
CUDA_MIN = 457 * MiB
METAL_MIN = 512 * MiB
CPU_MIN = 256 * MiB
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
    cores: int = 8,
) -> MachineReport:
    return MachineReport(
        cpu=CpuInfo(
            physical_cores=cores, logical_cores=cores,
            memory_bandwidth_bytes_per_second=cpu_bandwidth,
        ),
        memory=MemoryInfo(
            total_bytes=ram_total or ram_available * 2,
            available_bytes=ram_available,
            limit_bytes=limit,
        ),
        gpus=gpus or [],
    )  # fmt: skip


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
    # The estimate reports the same figure.
    fit = estimate_fit(catalog.get(variant_id), profile("nvidia_24gb"), context_tokens=32_768)
    assert fit.kv_cache_bytes == int(expected)


def test_kv_cache_per_token_and_options(catalog: Catalog) -> None:
    qwen3_8b = catalog.get("qwen3-8b")
    assert kv_cache_bytes(qwen3_8b, 1) == 144 * KiB
    assert kv_cache_bytes(qwen3_8b, 4096, parallel=2) == 2 * 144 * KiB * 4096
    # q8_0 / q4_0 blocks: 32 values in 34 / 18 bytes (ggml), i.e. 1.0625 / 0.5625 bytes each.
    elements = 2 * 36 * 8 * 128 * 32_768
    assert kv_cache_bytes(qwen3_8b, 32_768, "q8_0") == elements * 34 // 32
    assert kv_cache_bytes(qwen3_8b, 32_768, "q4_0") == elements * 18 // 32
    fit = estimate_fit(qwen3_8b, profile("nvidia_8gb"), context_tokens=32_768, kv_type="q4_0")
    assert (fit.kv_cache_bytes, fit.kv_type) == (elements * 18 // 32, "q4_0")
    with pytest.raises(ValueError, match="KV cache type"):
        kv_cache_bytes(qwen3_8b, 1024, "q5_1")


def test_kv_cache_counts_only_full_attention_layers(catalog: Catalog) -> None:
    # Qwen3.5-9B (unverified): 32 layers, a KV cache on every 4th → 8 layers, 4 KV heads × 256.
    variant = catalog.get("qwen3.5-9b")
    assert kv_cache_bytes(variant, 32_768) == 2 * 8 * 4 * 256 * 32_768 * 2


# ------------------------------------------------------------------------------ graph


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


# ------------------------------------------------------------------------------ CPU only


def test_no_gpu_laptop_runs_8b_on_cpu(catalog: Catalog) -> None:
    laptop = profile("laptop_16gib_no_gpu")  # 16 GiB RAM, 12 GiB available, 4 cores, no GPU
    fit = estimate_fit(catalog.get("qwen3-8b"), laptop, context_tokens=8192)
    kv = 144 * KiB * 8192  # 2·36·8·128·2 bytes = 144 KiB per token
    graph = 2048 * (1 + 8192 + 8192 * 33)
    need = 5_200_000_000 + kv + graph + CPU_MIN
    budget = 16 * GiB - min(2 * GiB, 0.15 * 16 * GiB)  # 14 GiB: the RAM, less the reserve
    assert need <= budget
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert (fit.gpu_layers, fit.total_layers) == (0, 36)
    assert (fit.kv_cache_bytes, fit.graph_bytes, fit.overhead_bytes) == (kv, graph, CPU_MIN)
    assert fit.total_bytes == need == fit.breakdown.total_bytes
    assert fit.pool == "ram" and fit.pool_free_bytes == 12 * GiB
    assert 12 * GiB - need >= min(4 * GiB, 0.3 * 16 * GiB)  # leaves ≥ 4 GiB: comfortable
    assert fit.comfort == "comfortable"
    assert [(use.name, use.bytes) for use in fit.devices] == [("RAM", need)]
    # min(40 GB/s default × 0.6, 4 cores × 8 GB/s) / (weights + KV at half the window)
    assert fit.tokens_per_second_estimate == pytest.approx(24e9 / (5.2e9 + kv / 2))
    assert fit.reason == (
        "Runs on the CPU: needs 6.7 GiB at 8K context of 14.0 GiB usable RAM "
        "(2.0 GiB kept for the system); expect about 4 tokens/s."
    )


def test_reserve_refuses_what_a_ram_margin_allowed_and_flags_tight_fits(catalog: Catalog) -> None:
    laptop = profile("laptop_16gib_no_gpu")
    # Qwen2.5-VL-7B at 32K: the 6.0 GB download holds the 677M-parameter vision tower at F16.
    vision = 677_000_000 * 2 + 512 * MiB  # tower + one image's working memory
    kv = 56 * KiB * 32_768  # 2·28·4·128·2 bytes per token
    graph = 2048 * (1 + 2 * 3584 + 32_768 * 29)  # hidden 3584, 28 heads
    need = (6_000_000_000 - 677_000_000 * 2) + vision + kv + graph + CPU_MIN
    assert need <= 10 * GiB
    fit = estimate_fit(catalog.get("qwen2.5-vl-7b-instruct"), laptop, context_tokens=32_768)
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert (fit.weights_bytes, fit.vision_bytes) == (6_000_000_000 - 1_354_000_000, vision)
    assert fit.total_bytes == need
    assert 12 * GiB - need < 4 * GiB and fit.tight and fit.comfort == "tight"
    assert fit.reason.endswith("Tight: leaves only 2.1 GiB of RAM for other programs.")

    # Qwen3-8B at 26K needs ~10.4 GiB: within the 16 − 2 GiB the machine can give a model, so
    # it fits whatever else is open now; with 12 GiB free now it leaves 1.6 GiB: tight.
    need_26k = 5.2e9 + 144 * KiB * 26_624 + 2048 * (1 + 8192 + 26_624 * 33) + CPU_MIN
    assert 12 * GiB - 4 * GiB < need_26k <= 16 * GiB - 2 * GiB
    fit_26k = estimate_fit(catalog.get("qwen3-8b"), laptop, context_tokens=26_624)
    assert fit_26k.verdict is FitVerdict.CPU_ONLY and fit_26k.tight
    assert fit_26k.reason.endswith("Tight: leaves only 1.6 GiB of RAM for other programs.")

    # Qwen3-14B at 32K needs ~16.5 GiB: more than the RAM less the 2 GiB reserve.
    need_32k = 9.3e9 + 160 * KiB * 32_768 + 2048 * (1 + 2 * 5120 + 32_768 * 41) + CPU_MIN
    assert need_32k > 16 * GiB - 2 * GiB
    fit_32k = estimate_fit(catalog.get("qwen3-14b"), laptop, context_tokens=32_768)
    assert fit_32k.verdict is FitVerdict.WONT_FIT
    assert fit_32k.reason == (
        "Too large: needs 16.5 GiB at 32K context; this machine has 16.0 GiB RAM "
        "(2.0 GiB kept for the system, 12.0 GiB free now) and no GPU."
    )


def test_two_core_machine_runs_qwen3_30b_a3b_but_tight(catalog: Catalog) -> None:
    vm = profile("cpu_2core_24gib")  # 24 GiB, 22 GiB available, 2 cores, no GPU
    fit = estimate_fit(catalog.get("qwen3-30b-a3b"), vm, context_tokens=8192)
    kv = 96 * KiB * 8192  # 2·48·4·128·2
    graph = 2048 * (1 + 2 * 2048 + 8192 * 33)  # hidden 2048, 32 heads
    need = 19_000_000_000 + kv + graph + CPU_MIN
    assert need <= 22 * GiB - 2 * GiB  # fits the budget…
    assert 22 * GiB - need < 4 * GiB  # …leaving under 4 GiB: tight
    assert fit.verdict is FitVerdict.CPU_ONLY and fit.tight
    assert fit.total_bytes == need
    # Two cores stream at most 2 × 8 GB/s (< 40 GB/s × 0.6); a MoE token reads its active share.
    active = 19e9 * 3.3e9 / 30.53e9
    assert fit.tokens_per_second_estimate == pytest.approx(16e9 / (active + kv / 2))
    assert "Tight: leaves only 2.8 GiB of RAM for other programs." in fit.reason


def test_tiny_machine(catalog: Catalog) -> None:
    tiny = profile("tiny_2gib")  # 2 GiB total, 1.5 GiB available
    budget = 1.5 * GiB - min(2 * GiB, 0.15 * 2 * GiB)  # the reserve shrinks to 0.3 GiB
    for big in ("qwen3-8b", "qwen3-4b", "qwen2.5-7b-instruct", "qwen3-235b-a22b"):
        assert estimate_fit(catalog.get(big), tiny).verdict is FitVerdict.WONT_FIT, big
    # Qwen2.5-0.5B at 8K: 398e6 + KV 2·24·2·64·2 = 12 KiB/token × 8192
    #   + graph max(4·512·(896 + 151936), 4·512·(1 + 1792 + 8192·15)) + 256 MiB ≈ 1.0 GiB
    need = 398e6 + 12 * KiB * 8192 + 2048 * (896 + 151_936) + CPU_MIN
    assert need <= budget
    fit = estimate_fit(catalog.get("qwen2.5-0.5b-instruct"), tiny)
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert fit.total_bytes == need
    assert fit.tight  # 0.5 GiB left < min(4 GiB, 30 % of 2 GiB)


def test_container_limit_caps_available_ram(catalog: Catalog) -> None:
    boxed = machine(ram_available=12 * GiB, limit=4 * GiB)
    fit = estimate_fit(catalog.get("qwen3-8b"), boxed)
    assert fit.verdict is FitVerdict.WONT_FIT
    assert fit.pool_free_bytes == 4 * GiB


def test_measured_cpu_bandwidth_is_used(catalog: Catalog) -> None:
    fast = machine(ram_available=12 * GiB, cpu_bandwidth=100_000_000_000, cores=8)
    fit = estimate_fit(catalog.get("qwen3-4b"), fast, context_tokens=4096)
    # min(100 GB/s × 0.6, 8 cores × 8 GB/s) = 60 GB/s
    assert fit.tokens_per_second_estimate == pytest.approx(60e9 / (2.5e9 + 144 * KiB * 2048))
    one_core = machine(ram_available=12 * GiB, cpu_bandwidth=100_000_000_000, cores=1)
    slow = estimate_fit(catalog.get("qwen3-4b"), one_core, context_tokens=4096)
    assert slow.tokens_per_second_estimate == pytest.approx(8e9 / (2.5e9 + 144 * KiB * 2048))


# ------------------------------------------------------------------------------ one GPU


def test_8gb_gpu_fits_qwen3_8b_at_4k_but_not_fully_at_32k(catalog: Catalog) -> None:
    rtx = profile("nvidia_8gb")  # RTX 4060, 7.5 GiB free VRAM, 24 GiB RAM available
    variant = catalog.get("qwen3-8b")

    short = estimate_fit(variant, rtx, context_tokens=4096)
    need_4k = 5_200_000_000 + 144 * KiB * 4096 + 2048 * (4096 + 151_936) + CUDA_MIN
    assert need_4k <= 0.95 * 7.5 * GiB
    assert short.verdict is FitVerdict.FULL_GPU
    assert short.total_bytes == need_4k
    assert short.gpu_layers == short.total_layers == 36
    assert short.reason.startswith("Runs fully on NVIDIA GeForce RTX 4060 (7.5 GiB VRAM free)")
    # RTX 4060: 272 GB/s × 0.6
    assert short.tokens_per_second_estimate == pytest.approx(
        272e9 * 0.6 / (5.2e9 + 144 * KiB * 2048)
    )

    long = estimate_fit(variant, rtx, context_tokens=32_768)
    assert long.verdict is FitVerdict.PARTIAL_GPU
    # Partial offload, by hand (memory-fit.md):
    #   weights 5.2e9, KV 4.5 GiB, graph 4·512·(1 + 8192 + 32768·33), fixed 457 MiB
    #   output layer = per-layer weights = 5.2e9 / 37
    #   per_layer    = 5.2e9 / 37 + 4.5 GiB / 36
    #   gpu_layers   = floor((7.5 GiB × 0.95 − 457 MiB − graph − 5.2e9 / 37) / per_layer)
    graph = 2048 * (1 + 8192 + 32_768 * 33)
    per_layer = 5.2e9 / 37 + 4.5 * GiB / 36
    room = 7.5 * GiB * 0.95 - CUDA_MIN - graph - 5.2e9 / 37
    expected_layers = math.floor(room / per_layer)
    assert expected_layers == 17
    assert long.gpu_layers == expected_layers
    ram_part = (36 - 17) * per_layer
    assert ram_part <= 24 * GiB - 2 * GiB
    assert long.pool == "gpu+ram"
    assert [use.name for use in long.devices] == ["NVIDIA GeForce RTX 4060", "RAM"]
    assert long.devices[1].bytes == math.ceil(ram_part)
    assert long.devices[0].bytes == math.ceil(17 * per_layer + 5.2e9 / 37 + graph + CUDA_MIN)
    assert "17 of 36 layers on the GPU" in long.reason
    # Time per token = GPU share / GPU bandwidth + CPU share / CPU bandwidth (6 cores: 24 GB/s).
    per_token = 5.2e9 + 4.5 * GiB / 2
    seconds = per_token * 17 / 36 / (272e9 * 0.6) + per_token * 19 / 36 / 24e9
    assert long.tokens_per_second_estimate == pytest.approx(1 / seconds)


def test_experts_on_cpu_for_qwen3_30b_a3b_on_8gb_gpu(catalog: Catalog) -> None:
    rtx = profile("nvidia_8gb")
    fit = estimate_fit(catalog.get("qwen3-30b-a3b"), rtx, context_tokens=8192)
    # Resident parameters from the architecture: embeddings (untied) + 48 layers of attention
    # (q 2048→4096, k/v 2048→512, o 4096→2048, q/k norms), router, 128 experts × 3 × 2048 × 768,
    # two norms; final norm.
    experts = 48 * 128 * 3 * 2048 * 768
    layer = (2048 * 4096 * 2 + 2048 * 512 * 2 + 2 * 128) + 2048 * 128 + 2 * 2048
    params = 2 * 151_936 * 2048 + 48 * layer + experts + 2048
    assert params == 30_532_122_624
    expert_bytes = round(19e9 * experts / params)  # the experts' share of the 19 GB download
    kv, graph = 96 * KiB * 8192, 2048 * (1 + 2 * 2048 + 8192 * 33)
    room = 7.5 * GiB * 0.95 - CUDA_MIN - graph
    # Smallest N with 19e9 − N × experts/48 + KV ≤ room: the experts of N layers go to RAM.
    cpu_layers = math.ceil((19e9 + kv - room) / (expert_bytes / 48))
    assert cpu_layers == 36
    assert fit.verdict is FitVerdict.PARTIAL_GPU  # what Ollama does: a layer split
    (option,) = fit.options
    assert option.kind == "experts_on_cpu"
    assert (option.gpu_layers, option.cpu_expert_layers) == (48, cpu_layers)
    ram = cpu_layers * expert_bytes / 48
    assert option.devices[-1].name == "RAM" and option.devices[-1].bytes == math.ceil(ram)
    assert option.devices[0].bytes == math.ceil(19e9 + kv - ram + graph + CUDA_MIN)
    # Speed: the active experts of 36 layers are read from RAM, everything else from VRAM.
    active = 19e9 * 3.3e9 / 30.53e9
    on_cpu = expert_bytes * 8 / 128 * cpu_layers / 48
    seconds = (active - on_cpu + kv / 2) / (272e9 * 0.6) + on_cpu / 24e9
    assert option.tokens_per_second_estimate == pytest.approx(1 / seconds)
    assert option.tokens_per_second_estimate > (fit.tokens_per_second_estimate or 0)
    assert "llama.cpp --n-cpu-moe 36" in fit.reason
    # Dense models have no such option.
    assert estimate_fit(catalog.get("qwen3-32b"), rtx).options == ()


def test_24gb_gpu(catalog: Catalog) -> None:
    rtx = profile("nvidia_24gb")  # RTX 3090, 23.5 GiB free; 48 GiB RAM available, 80 GB/s
    fit_14b = estimate_fit(catalog.get("qwen3-14b"), rtx, context_tokens=8192)
    assert fit_14b.verdict is FitVerdict.FULL_GPU
    # 936 GB/s (RTX 3090) × 0.6 / (9.3e9 + KV at 4K: 160 KiB/token × 4096)
    assert fit_14b.tokens_per_second_estimate == pytest.approx(
        936e9 * 0.6 / (9.3e9 + 160 * KiB * 4096)
    )

    fit_72b = estimate_fit(catalog.get("qwen2.5-72b-instruct"), rtx, context_tokens=8192)
    assert fit_72b.verdict is FitVerdict.PARTIAL_GPU
    # weights 47e9, 80 layers, KV at 8K = 320 KiB × 8192 = 2.5 GiB,
    # graph = 4·512·(1 + 2·8192 + 8192·65) (hidden 8192, 64 heads), fixed 457 MiB
    graph = 2048 * (1 + 2 * 8192 + 8192 * 65)
    per_layer = 47e9 / 81 + 2.5 * GiB / 80
    layers_on_gpu = math.floor((23.5 * GiB * 0.95 - CUDA_MIN - graph - 47e9 / 81) / per_layer)
    assert fit_72b.gpu_layers == layers_on_gpu == 35
    # Split decode: GPU share at 936 GB/s, the rest at min(80 GB/s × 0.6, 16 × 8 GB/s).
    share = layers_on_gpu / 80
    per_token = 47e9 + 2.5 * GiB / 2
    seconds = per_token * share / (936e9 * 0.6) + per_token * (1 - share) / (80e9 * 0.6)
    assert fit_72b.tokens_per_second_estimate == pytest.approx(1 / seconds)

    fit_235b = estimate_fit(catalog.get("qwen3-235b-a22b"), rtx)  # 142 GB: more than VRAM + RAM
    assert fit_235b.verdict is FitVerdict.WONT_FIT
    assert fit_235b.pool_free_bytes == int(23.5 * GiB) + 48 * GiB
    assert "23.5 GiB free VRAM" in fit_235b.reason


def test_moe_speed_reads_only_active_experts(catalog: Catalog) -> None:
    fit = estimate_fit(catalog.get("qwen3-30b-a3b"), profile("nvidia_24gb"), context_tokens=8192)
    assert fit.verdict is FitVerdict.FULL_GPU
    assert fit.weights_bytes == 19_000_000_000  # all experts resident
    active = 19e9 * 3.3e9 / 30.53e9  # download size scaled to the 3.3B active parameters
    kv_half = 96 * KiB * 4096
    assert fit.tokens_per_second_estimate == pytest.approx(936e9 * 0.6 / (active + kv_half))


def test_partial_needs_at_least_two_gpu_layers(catalog: Catalog) -> None:
    # 1 GiB free VRAM cannot hold 457 MiB + graph + output + 2 layers of Qwen2.5-72B → CPU.
    small_gpu = machine(ram_available=60 * GiB, gpus=[nvidia("NVIDIA GeForce GT 1030", GiB)])
    fit = estimate_fit(catalog.get("qwen2.5-72b-instruct"), small_gpu)
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert fit.reason.startswith("Too large for NVIDIA GeForce GT 1030 (1.0 GiB VRAM free); runs")


# ------------------------------------------------------------------------------ two GPUs


def test_two_gpus_split_layers_in_proportion_to_free_vram(catalog: Catalog) -> None:
    rig = profile("two_gpus_3090_3060")  # 23.5 + 11.5 GiB free, 48 GiB RAM free, 50 GB/s
    u1, u2 = 23.5 * GiB * 0.95, 11.5 * GiB * 0.95
    s1, s2 = 23.5 / 35, 11.5 / 35

    # Qwen3-14B at 8K fits the 3090 alone: Ollama then uses one GPU.
    single = estimate_fit(catalog.get("qwen3-14b"), rig, context_tokens=8192)
    assert single.verdict is FitVerdict.FULL_GPU
    assert [use.name for use in single.devices] == ["NVIDIA GeForce RTX 3090"]

    # Qwen2.5-32B at 16K: 20e9 + 4 GiB KV + graph + 457 MiB > 0.95 × 23.5 GiB, so both GPUs:
    # each holds its share of weights + KV, plus its own minimum and a compute graph.
    kv, graph = 256 * KiB * 16_384, 2048 * (1 + 2 * 5120 + 16_384 * 41)
    assert 20e9 + kv + graph + CUDA_MIN > u1
    d_max = min((u1 - CUDA_MIN - graph) / s1, (u2 - CUDA_MIN - graph) / s2)
    assert 20e9 + kv <= d_max
    both = estimate_fit(catalog.get("qwen2.5-32b-instruct"), rig, context_tokens=16_384)
    assert both.verdict is FitVerdict.FULL_GPU
    assert [(use.name, use.bytes) for use in both.devices] == [
        ("NVIDIA GeForce RTX 3090", math.ceil(s1 * (20e9 + kv) + graph + CUDA_MIN)),
        ("NVIDIA GeForce RTX 3060", math.ceil(s2 * (20e9 + kv) + graph + CUDA_MIN)),
    ]
    assert both.overhead_bytes == 2 * CUDA_MIN  # each GPU pays its fixed minimum
    assert both.total_bytes == 20_000_000_000 + kv + graph + 2 * CUDA_MIN
    assert both.pool_free_bytes == 35 * GiB
    # Layers run one GPU after the other: 936 and 360 GB/s, each × 0.6.
    per_token = 20e9 + kv / 2
    seconds = s1 * per_token / (936e9 * 0.6) + s2 * per_token / (360e9 * 0.6)
    assert both.tokens_per_second_estimate == pytest.approx(1 / seconds)
    assert both.reason.startswith(
        "Runs fully on 2 GPUs, NVIDIA GeForce RTX 3090 and NVIDIA GeForce RTX 3060 "
        "(35.0 GiB VRAM free in all)"
    )

    # Qwen2.5-72B at 8K: partial offload over both GPUs.
    kv72, graph72 = 320 * KiB * 8192, 2048 * (1 + 2 * 8192 + 8192 * 65)
    room = min((u1 - CUDA_MIN - graph72) / s1, (u2 - CUDA_MIN - graph72) / s2)
    per_layer = 47e9 / 81 + kv72 / 80
    n = math.floor((room - 47e9 / 81) / per_layer)
    assert n == 49
    partial = estimate_fit(catalog.get("qwen2.5-72b-instruct"), rig, context_tokens=8192)
    assert partial.verdict is FitVerdict.PARTIAL_GPU and partial.gpu_layers == n
    assert partial.devices[-1].bytes == math.ceil((80 - n) * per_layer)
    per_token72 = 47e9 + kv72 / 2
    seconds72 = (
        s1 * n / 80 * per_token72 / (936e9 * 0.6)
        + s2 * n / 80 * per_token72 / (360e9 * 0.6)
        + (80 - n) / 80 * per_token72 / (50e9 * 0.6)
    )
    assert partial.tokens_per_second_estimate == pytest.approx(1 / seconds72)


# ------------------------------------------------------------------------------ shared memory


def test_unified_memory_is_never_added_to_ram(catalog: Catalog) -> None:
    # Apple M2, 16 GiB unified; the GPU claims all 16 GiB: the GPU pool is capped at the RAM
    # (16 GiB) and at the RAM budget (16 − 2 = 14 GiB), and never added on top of RAM (case C6).
    apple = profile("apple_unified_16gib")
    small = estimate_fit(catalog.get("qwen3-8b"), apple, context_tokens=8192)
    need = 5.2e9 + 144 * KiB * 8192 + 2048 * (1 + 8192 + 8192 * 33) + METAL_MIN
    assert need <= min(16 * GiB * 0.95, 14 * GiB)
    assert small.verdict is FitVerdict.FULL_GPU
    assert small.total_bytes == need
    assert small.pool_free_bytes == 16 * GiB
    assert small.overhead_bytes == METAL_MIN
    assert not small.tight  # leaves 12 GiB − 7.0 GiB ≥ 4 GiB
    # M2: 100 GB/s × 0.6
    assert small.tokens_per_second_estimate == pytest.approx(
        100e9 * 0.6 / (5.2e9 + 144 * KiB * 4096)
    )

    big = estimate_fit(catalog.get("qwen3-32b"), apple)  # ~21.9 GiB: fits 12 + 16 but not 12
    assert big.verdict is FitVerdict.WONT_FIT
    assert big.pool == "ram" and big.pool_free_bytes == 12 * GiB
    assert "shared with Apple M2" in big.reason


def test_shared_apu_memory_counted_once_c6(catalog: Catalog) -> None:
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
    assert 9.3e9 + kv + graph + CUDA_MIN > 0.95 * 8 * GiB  # too big for the shared window
    assert 9.3e9 + kv + graph + CPU_MIN <= 14 * GiB - 2 * GiB  # fits the RAM budget
    fit = estimate_fit(catalog.get("qwen3-14b"), apu, context_tokens=8192)
    assert fit.verdict is FitVerdict.CPU_ONLY  # not partial: there is no second pool
    assert fit.reason.startswith("Too large for AMD Radeon 780M")
    assert fit.max_context is not None and fit.max_context.partial_gpu is None

    fit_32b = estimate_fit(catalog.get("qwen2.5-32b-instruct"), apu)  # ~21.5 GiB
    assert fit_32b.verdict is FitVerdict.WONT_FIT
    assert fit_32b.pool_free_bytes == 14 * GiB


def test_intel_igpu_laptop_profile_c6(catalog: Catalog) -> None:
    laptop = profile("laptop_igpu_16gib")  # 16 GiB RAM, 11 free; Iris Xe reports 8 GiB shared
    fit = estimate_fit(catalog.get("qwen3-32b"), laptop, context_tokens=8192)
    need = 20e9 + 256 * KiB * 8192 + 2048 * (1 + 2 * 5120 + 8192 * 65) + CPU_MIN
    assert 16 * GiB - 2 * GiB < need <= 24 * GiB - 2 * GiB  # fits only if shared memory counted
    assert fit.verdict is FitVerdict.WONT_FIT
    assert fit.total_bytes == need
    assert fit.pool_free_bytes == 11 * GiB
    assert fit.reason.endswith(
        "16.0 GiB RAM (2.0 GiB kept for the system, 11.0 GiB free now) "
        "and no GPU the engine can use."
    )
    small = estimate_fit(catalog.get("qwen3-8b"), laptop, context_tokens=8192)
    assert small.verdict is FitVerdict.CPU_ONLY and small.comfort == "comfortable"
    assert small.reason.startswith("Runs on the CPU")


def test_gpu_the_engine_cannot_use_is_ignored(catalog: Catalog) -> None:
    intel = machine(
        ram_available=12 * GiB,
        gpus=[
            GpuInfo(
                vendor="intel", name="Intel Arc A770", vram_total_bytes=16 * GiB,
                vram_free_bytes=16 * GiB, source="DXGI",
            )
        ],
    )  # fmt: skip
    fit = estimate_fit(catalog.get("qwen3-4b"), intel)
    assert fit.verdict is FitVerdict.CPU_ONLY
    assert fit.reason.startswith("Runs on the CPU")
    big = estimate_fit(catalog.get("qwen2.5-72b-instruct"), intel)
    assert big.verdict is FitVerdict.WONT_FIT
    assert "no GPU the engine can use" in big.reason


# ------------------------------------------------------------------------------ misc


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


def test_context_labels() -> None:
    assert context_label(8192) == "8K"
    assert context_label(40_960) == "40K"
    assert context_label(5000) == "5,000 tokens"
    assert max_context_label(8960) == "8.8K"
    assert max_context_label(128_000) == "128K"
    assert max_context_label(40_960) == "40K"


def test_bad_options(catalog: Catalog) -> None:
    variant, rtx = catalog.get("qwen3-8b"), profile("nvidia_8gb")
    with pytest.raises(ValueError, match="unknown engine"):
        estimate_fit(variant, rtx, engine="vllm")
    with pytest.raises(ValueError, match="quantization"):
        estimate_fit(variant, rtx, quant="Q7_X")
    with pytest.raises(ValueError, match="context"):
        estimate_fit(variant, rtx, context_tokens=-1)
    with pytest.raises(ValueError, match="KV cache type"):
        estimate_fit(variant, rtx, kv_type="q5_1")


def test_verdict_is_the_machines_not_the_moments(catalog: Catalog) -> None:
    """A 16 GB Mac with only 8 GiB free right now still runs Qwen3-8B on its GPU (Metal's
    working set: 10.7 GiB); the fit is tight and says to close programs, never "won't fit"."""
    mac = machine(
        ram_available=8 * GiB,
        ram_total=16 * GiB,
        gpus=[
            GpuInfo(
                vendor="apple", name="Apple M2", vram_total_bytes=16 * GiB,
                vram_free_bytes=int(10.7 * GiB), source="Metal recommendedMaxWorkingSetSize",
                unified_memory=True,
            )
        ],
    )  # fmt: skip
    need = 5.2e9 + 144 * KiB * 8192 + 2048 * (1 + 8192 + 8192 * 33) + METAL_MIN
    assert 8 * GiB - 2 * GiB < need <= 10.7 * GiB * 0.95  # the old "free − reserve" refused it
    fit = estimate_fit(catalog.get("qwen3-8b"), mac, context_tokens=8192)
    assert fit.verdict is FitVerdict.FULL_GPU and fit.total_bytes == need
    assert fit.tight and not fit.over_free_ram  # 8 GiB − 7.0 GiB leaves under 4 GiB
    assert fit.reason.endswith("Tight: leaves only 1.0 GiB of RAM for other programs.")
    busier = machine(ram_available=6 * GiB, ram_total=16 * GiB, gpus=mac.gpus)
    busy = estimate_fit(catalog.get("qwen3-8b"), busier, context_tokens=8192)
    assert busy.verdict is FitVerdict.FULL_GPU and busy.over_free_ram
    assert busy.reason.endswith(
        "Tight: close other programs before loading it; only 6.0 GiB of RAM is free right now."
    )


def test_speed_label_counts_tokens_in_words() -> None:
    assert speed_label(12.4) == "about 12 tokens/s"
    assert speed_label(1.2) == "about 1 token/s"
    assert speed_label(0.44) == "about 0.4 tokens/s"
