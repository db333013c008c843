"""Explanations fire on recorded situations, and stay quiet on a healthy machine."""

from __future__ import annotations

from qwen_desktop.core.explanations import (
    EngineFacts,
    ModelPlacement,
    explain,
)
from qwen_desktop.core.samples import GpuSample, Sample

GIB = 1024**3
MIB = 1024**2


def sample(
    t: float,
    *,
    available: int = 10 * GIB,
    swap_in: float | None = 0.0,
    swap_out: float | None = 0.0,
    gpus: tuple[GpuSample, ...] = (),
) -> Sample:
    return Sample(
        time_s=t,
        wall_time=t,
        cpu_percent=20.0,
        cpu_per_core=(20.0, 20.0),
        memory_total_bytes=16 * GIB,
        memory_used_bytes=16 * GIB - available,
        memory_available_bytes=available,
        swap_in_bytes_per_s=swap_in,
        swap_out_bytes_per_s=swap_out,
        gpus=gpus,
    )


def kinds(found: list) -> list[str]:
    return [item.kind for item in found]


def test_healthy_machine_has_nothing_to_explain() -> None:
    gpu = GpuSample(0, "RTX 4090", vram_used_bytes=8 * GIB, vram_total_bytes=24 * GIB)
    samples = [sample(float(t), gpus=(gpu,)) for t in range(20)]
    placement = ModelPlacement(
        "qwen3:8b", size_bytes=6 * GIB, size_vram_bytes=6 * GIB, layers_total=36
    )
    found = explain(
        samples,
        placement=placement,
        engine=EngineFacts("ollama", compute_library="CUDA", gpu_present=True),
        measured_tokens_per_second=90.0,
        estimated_tokens_per_second=100.0,
    )
    assert found == []
    assert explain([]) == []


def test_sustained_swap_traffic_is_swapping_but_one_burst_is_not() -> None:
    burst = [sample(float(t)) for t in range(9)] + [sample(9.0, swap_in=5 * MIB)]
    assert explain(burst) == []  # 0.5 MiB/s on average over 10 s
    swapping = [sample(float(t), swap_in=3 * MIB, swap_out=1 * MIB) for t in range(10)]
    (found,) = explain(swapping)
    assert found.kind == "swapping" and found.severity == "warning"
    assert "4.0 MiB/s" in found.message and found.action


def test_unknown_swap_rates_never_claim_swapping() -> None:
    assert explain([sample(0.0, swap_in=None, swap_out=None)]) == []


def test_ram_nearly_full() -> None:
    (found,) = explain([sample(0.0, available=512 * MIB)])
    assert found.kind == "ram_low"
    assert "512.0 MiB of 16.0 GiB" in found.message


def test_model_partly_on_cpu_from_api_ps_sizes_says_layers() -> None:
    # qwen3:14b Q4_K_M with a long context on an 8 GiB card: /api/ps size 10 GiB, size_vram 6.5.
    placement = ModelPlacement(
        "qwen3:14b", size_bytes=10 * GIB, size_vram_bytes=int(6.5 * GIB), layers_total=40
    )
    (found,) = explain([], placement=placement, engine=EngineFacts("ollama", "CUDA", True))
    assert found.kind == "model_on_cpu"
    assert found.message.startswith("14 of 40 layers of qwen3:14b run on the CPU")
    assert "6.5 GiB" in found.message and "10.0 GiB" in found.message


def test_the_log_layer_count_wins_over_the_size_share() -> None:
    placement = ModelPlacement(
        "qwen3:32b",
        size_bytes=20 * GIB,
        size_vram_bytes=15 * GIB,
        layers_total=65,
        layers_on_gpu=41,  # "offloaded 41/65 layers to GPU"
    )
    (found,) = explain([], placement=placement)
    assert "24 of 65 layers" in found.message


def test_unknown_layer_count_says_the_share() -> None:
    placement = ModelPlacement("custom", size_bytes=4 * GIB, size_vram_bytes=3 * GIB)
    (found,) = explain([], placement=placement)
    assert "25 % of custom runs on the CPU" in found.message


def test_a_sliver_on_the_cpu_is_at_least_one_layer() -> None:
    placement = ModelPlacement("m", size_bytes=1000, size_vram_bytes=999, layers_total=36)
    assert placement.cpu_layers() == (1, 36)


def test_whole_model_on_cpu_only_explained_when_a_gpu_exists() -> None:
    placement = ModelPlacement("qwen3:4b", size_bytes=3 * GIB, size_vram_bytes=0, layers_total=36)
    assert explain([], placement=placement, engine=EngineFacts("ollama", "CPU", False)) == []
    found = explain([], placement=placement, engine=EngineFacts("ollama", "CPU", True))
    assert kinds(found) == ["model_on_cpu", "cpu_library"]
    assert "36 of 36 layers" in found[0].message


def test_cpu_library_although_a_gpu_exists() -> None:
    (found,) = explain([], engine=EngineFacts("ollama", compute_library="CPU", gpu_present=True))
    assert found.kind == "cpu_library"
    assert "has a GPU" in found.message and "driver" in found.action
    assert explain([], engine=EngineFacts("ollama", compute_library="CUDA", gpu_present=True)) == []
    assert explain([], engine=EngineFacts("transformers", "cpu", gpu_present=False)) == []


def test_vram_nearly_full_names_the_gpu() -> None:
    full = GpuSample(1, "RTX 3060", vram_used_bytes=int(11.7 * GIB), vram_total_bytes=12 * GIB)
    free = GpuSample(0, "RTX 4090", vram_used_bytes=GIB, vram_total_bytes=24 * GIB)
    (found,) = explain([sample(0.0, gpus=(free, full))])
    assert found.kind == "vram_full" and "RTX 3060" in found.message
    unknown = GpuSample(0, "iGPU", vram_used_bytes=None, vram_total_bytes=None)
    assert explain([sample(0.0, gpus=(unknown,))]) == []


def test_measured_speed_far_below_the_estimate() -> None:
    (found,) = explain([], measured_tokens_per_second=8.0, estimated_tokens_per_second=40.0)
    assert found.kind == "slow_answer"
    assert "8.0 tokens/s" in found.message and "40.0 tokens/s" in found.message
    assert explain([], measured_tokens_per_second=25.0, estimated_tokens_per_second=40.0) == []


def test_most_serious_first() -> None:
    samples = [sample(float(t), available=100 * MIB, swap_out=8 * MIB) for t in range(5)]
    placement = ModelPlacement("m", size_bytes=8 * GIB, size_vram_bytes=4 * GIB, layers_total=36)
    found = explain(
        samples,
        placement=placement,
        measured_tokens_per_second=2.0,
        estimated_tokens_per_second=30.0,
    )
    assert kinds(found) == ["swapping", "ram_low", "model_on_cpu", "slow_answer"]
