"""The window's health facts: the engine's device against the GPUs, the estimate for a model."""

from __future__ import annotations

from pathlib import Path

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.explanations import explain
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.types import BackendCapabilities
from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.monitor.health import engine_facts_for, estimate_for_loaded

PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"


def loaded(device: str, dtype: str = "bf16") -> LoadedModel:
    return LoadedModel(
        name="Qwen3-8B",
        engine="transformers",
        device=device,
        dtype=dtype,
        parameters=8_000_000_000,
        weights_bytes=16 * 1024**3,
        capabilities=BackendCapabilities(context_window_tokens=40960),
        load_seconds=3.0,
    )


def test_transformers_on_cpu_beside_an_nvidia_gpu_is_explained() -> None:
    machine = MachineReport.from_file(PROFILES / "nvidia_24gb.json")
    facts = engine_facts_for(loaded("cpu"), machine)
    assert facts.gpu_present and facts.compute_library == "cpu"
    assert [item.kind for item in explain([], engine=facts)] == ["cpu_library"]
    on_gpu = engine_facts_for(loaded("cuda:0"), machine)
    assert on_gpu.compute_library == "cuda" and explain([], engine=on_gpu) == []


def test_an_intel_igpu_is_no_gpu_for_transformers() -> None:
    machine = MachineReport.from_file(PROFILES / "laptop_igpu_16gib.json")
    assert machine.gpus  # the profile has one
    facts = engine_facts_for(loaded("cpu"), machine)
    assert not facts.gpu_present and explain([], engine=facts) == []
    assert not engine_facts_for(loaded("cpu"), None).gpu_present


def test_estimate_for_a_catalog_model_and_none_for_others() -> None:
    catalog = load_catalog()
    machine = MachineReport.from_file(PROFILES / "nvidia_24gb.json")
    speed = estimate_for_loaded(catalog, machine, loaded("cuda:0"), Path("/models/Qwen3-8B"))
    assert speed is not None and speed > 0
    assert estimate_for_loaded(catalog, machine, loaded("cpu"), Path("/models/my-own")) is None
    assert estimate_for_loaded(catalog, None, loaded("cpu"), Path("/models/Qwen3-8B")) is None
    assert (
        estimate_for_loaded(catalog, machine, loaded("cpu", "q3_weird"), Path("/m/Qwen3-8B"))
        is None
    )
