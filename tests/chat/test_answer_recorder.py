"""Measured answers are stored per model, engine, quantization and machine."""

from __future__ import annotations

from pathlib import Path

from qwen_desktop.chat.answer_recorder import AnswerRecorder
from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.fit_devices import machine_fingerprint
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurement_store import MeasurementStore
from qwen_desktop.core.types import BackendCapabilities, Usage
from qwen_desktop.engines.base import LoadedModel

PROFILES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
USAGE = Usage(
    prompt_tokens=100,
    generated_tokens=200,
    ttft_seconds=0.5,
    tokens_per_second=12.5,
    total_seconds=17.0,
)
LOADED = LoadedModel(
    name="Qwen3-8B",
    engine="transformers",
    device="cpu",
    dtype="bfloat16",
    parameters=8_190_000_000,
    weights_bytes=16_380_000_000,
    capabilities=BackendCapabilities(),
    load_seconds=3.0,
)


def machine() -> MachineReport:
    return MachineReport.from_file(next(PROFILES.glob("*.json")))


def test_a_finished_answer_of_a_catalog_model_is_stored_with_its_peak(tmp_path: Path) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite3")
    recorder = AnswerRecorder(load_catalog(), lambda: store)
    folder = tmp_path / "models--Qwen--Qwen3-8B" / "snapshots" / "abc"
    recorder.answer_started(LOADED)
    stored = recorder.answer_finished(USAGE, LOADED, folder, machine())
    assert stored is not None
    again = store.latest("qwen3-8b", "transformers", "bf16", machine_fingerprint(machine()))
    assert again is not None
    assert (again.tokens_per_second, again.context_tokens, again.ttft_seconds) == (12.5, 300, 0.5)
    assert again.peak_memory_bytes is not None and again.peak_memory_bytes > 0


def test_nothing_is_stored_for_unknown_models_stopped_answers_or_unknown_machines(
    tmp_path: Path,
) -> None:
    store = MeasurementStore(tmp_path / "m.sqlite3")
    recorder = AnswerRecorder(load_catalog(), lambda: store)
    known = tmp_path / "Qwen3-8B"
    stopped = Usage(**{**USAGE.__dict__, "finish_reason": "cancelled"})
    assert recorder.answer_finished(USAGE, LOADED, tmp_path / "tiny-qwen3", machine()) is None
    assert recorder.answer_finished(stopped, LOADED, known, machine()) is None
    assert recorder.answer_finished(USAGE, LOADED, known, None) is None
    assert store.latest("qwen3-8b", "transformers", "bf16", machine_fingerprint(machine())) is None
