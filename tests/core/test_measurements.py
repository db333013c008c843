"""Measured speed corrects the estimate: the record (core), its SQLite store (services), and the
correction arithmetic worked out by hand."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from qwen_desktop.core.catalog import Catalog, load_catalog
from qwen_desktop.core.fit import estimate_fit
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurement_store import (
    MeasurementStore,
    MeasurementStoreError,
    default_path,
)
from qwen_desktop.core.measurements import (
    Measurement,
    corrected_tokens_per_second,
    machine_fingerprint,
)
from qwen_desktop.core.types import Usage

KiB = 1024
PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"
DAY = datetime(2026, 11, 29, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def profile(name: str) -> MachineReport:
    return MachineReport.from_file(PROFILES / f"{name}.json")


def measured(
    speed: float = 12.3,
    context: int = 8192,
    *,
    machine: str = "nvidia_24gb",
    model: str = "qwen3-14b",
    quant: str = "Q4_K_M",
    engine: str = "ollama",
    when: datetime = DAY,
) -> Measurement:
    return Measurement(
        model_id=model, engine=engine, quant=quant, context_tokens=context,
        machine_fingerprint=machine_fingerprint(profile(machine)), tokens_per_second=speed,
        ttft_seconds=0.4, peak_memory_bytes=11 * 1024**3, measured_at=when,
    )  # fmt: skip


# ------------------------------------------------------------------------------ the record


def test_fingerprint_names_cpu_ram_and_gpus() -> None:
    assert machine_fingerprint(profile("nvidia_8gb")) == (
        "AMD Ryzen 5 7600 | 32 GiB RAM | NVIDIA GeForce RTX 4060"
    )
    assert machine_fingerprint(profile("laptop_16gib_no_gpu")) == (
        "Intel Core i7-1165G7 | 16 GiB RAM | no GPU"
    )
    assert machine_fingerprint(profile("two_gpus_3090_3060")).endswith(
        "NVIDIA GeForce RTX 3060 | NVIDIA GeForce RTX 3090"
    )


def test_record_normalizes_and_validates() -> None:
    record = measured(engine="transformers", quant="bfloat16", when=datetime(2026, 11, 29))
    assert record.quant == "bf16"
    assert record.measured_at.tzinfo is UTC  # naive times are UTC
    assert record.describe() == "measured 12.3 tokens/s on this machine on 2026-11-29"
    for bad in ({"speed": 0.0}, {"context": -1}, {"quant": "Q9"}, {"engine": "vllm"}):
        with pytest.raises(ValueError):
            measured(**bad)  # type: ignore[arg-type]


def test_from_usage() -> None:
    machine = profile("nvidia_8gb")
    usage = Usage(prompt_tokens=900, generated_tokens=124, ttft_seconds=0.3,
                  tokens_per_second=31.5, total_seconds=4.2)  # fmt: skip
    record = Measurement.from_usage(
        model_id="qwen3-8b", engine="ollama", quant="q4_k_m", machine=machine, usage=usage,
        peak_memory_bytes=7 * 1024**3, measured_at=DAY,
    )  # fmt: skip
    assert record is not None
    assert (record.context_tokens, record.quant, record.tokens_per_second) == (1024, "Q4_K_M", 31.5)
    assert record.machine_fingerprint == machine_fingerprint(machine)
    assert record.ttft_seconds == 0.3 and record.peak_memory_bytes == 7 * 1024**3
    short = Usage(prompt_tokens=10, generated_tokens=5, ttft_seconds=0.1,
                  tokens_per_second=30.0, total_seconds=0.3)  # fmt: skip
    assert Measurement.from_usage(model_id="qwen3-8b", engine="ollama", quant="Q4_K_M",
                                  machine=machine, usage=short) is None  # fmt: skip


# ------------------------------------------------------------------------------ correction


def test_correction_arithmetic() -> None:
    assert corrected_tokens_per_second(10.0, 20.0, 20.0) == 10.0
    assert corrected_tokens_per_second(10.0, 20.0, 15.0) == pytest.approx(7.5)
    assert corrected_tokens_per_second(10.0, 0.0, 15.0) == 10.0


def test_measurement_replaces_the_estimate_at_the_same_context(catalog: Catalog) -> None:
    rtx = profile("nvidia_24gb")
    fit = estimate_fit(catalog.get("qwen3-14b"), rtx, context_tokens=8192, measurement=measured())
    assert fit.tokens_per_second_estimate == pytest.approx(12.3)
    assert fit.measurement is not None
    assert fit.reason.endswith(
        "expect about 12 tokens/s (measured 12.3 tokens/s on this machine on 2026-11-29)."
    )


def test_measurement_is_scaled_to_another_context(catalog: Catalog) -> None:
    # Measured 12.3 tokens/s with 2,048 tokens of context; asked at 32K. Both fully on the 3090:
    # predicted speed = bandwidth / (9.3e9 + KV at half the context), 160 KiB per token, so
    # corrected = 12.3 × (9.3e9 + 160 KiB × 1024) / (9.3e9 + 160 KiB × 16384).
    rtx = profile("nvidia_24gb")
    record = measured(context=2048)
    fit = estimate_fit(catalog.get("qwen3-14b"), rtx, context_tokens=32_768, measurement=record)
    expected = 12.3 * (9.3e9 + 160 * KiB * 1024) / (9.3e9 + 160 * KiB * 16_384)
    assert fit.tokens_per_second_estimate == pytest.approx(expected)
    assert "(measured 12.3 tokens/s on this machine on 2026-11-29 with 2,048 tokens of " \
           "context, scaled to 32K)" in fit.reason  # fmt: skip


def test_measurement_from_another_machine_is_not_applied(catalog: Catalog) -> None:
    rtx = profile("nvidia_24gb")
    other = measured(machine="nvidia_8gb")
    fit = estimate_fit(catalog.get("qwen3-14b"), rtx, context_tokens=8192, measurement=other)
    assert fit.measurement is None
    assert fit.tokens_per_second_estimate == pytest.approx(936e9 * 0.6 / (9.3e9 + 160 * KiB * 4096))
    with pytest.raises(ValueError, match="measurement is of qwen3-14b"):
        estimate_fit(catalog.get("qwen3-8b"), rtx, measurement=measured())
    with pytest.raises(ValueError, match="measurement"):
        estimate_fit(catalog.get("qwen3-14b"), rtx, quant="Q8_0", measurement=measured())


# ------------------------------------------------------------------------------ the store


def test_store_records_and_returns_the_latest(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "measurements.sqlite3"
    with MeasurementStore(path) as store:
        assert store.schema_version == 1
        store.record(measured(10.0, when=DAY - timedelta(days=2)))
        store.record(measured(12.3, when=DAY))
        store.record(measured(11.0, when=DAY - timedelta(days=1)))
        store.record(measured(99.0, machine="nvidia_8gb"))
        store.record(measured(50.0, quant="Q8_0"))
        fingerprint = machine_fingerprint(profile("nvidia_24gb"))
        latest = store.latest("qwen3-14b", "ollama", "q4_k_m", fingerprint)
        assert latest is not None and latest == measured(12.3, when=DAY)
        assert store.latest("qwen3-8b", "ollama", "Q4_K_M", fingerprint) is None
        assert store.latest("qwen3-14b", "transformers", "bf16", fingerprint) is None
        by_model = store.latest_by_model("ollama", "Q4_K_M", fingerprint)
        assert by_model == {"qwen3-14b": measured(12.3, when=DAY)}
    # WAL journal, numbered migrations in user_version; the data survives a reopen.
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()
    with MeasurementStore(path) as again:
        assert again.latest("qwen3-14b", "ollama", "Q4_K_M", fingerprint) is not None


def test_store_orders_by_time_across_time_zones(tmp_path: Path) -> None:
    plus_five = timezone(timedelta(hours=5))
    with MeasurementStore(tmp_path / "m.sqlite3") as store:
        store.record(measured(1.0, when=datetime(2026, 11, 29, 12, 0, tzinfo=UTC)))
        store.record(measured(2.0, when=datetime(2026, 11, 29, 16, 0, tzinfo=plus_five)))  # 11:00
        fingerprint = machine_fingerprint(profile("nvidia_24gb"))
        latest = store.latest("qwen3-14b", "ollama", "Q4_K_M", fingerprint)
        assert latest is not None and latest.tokens_per_second == 1.0


def test_store_refuses_newer_schemas_and_garbage(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    raw = sqlite3.connect(newer)
    raw.execute("PRAGMA user_version = 7")
    raw.close()
    with pytest.raises(MeasurementStoreError, match="schema version 7"):
        MeasurementStore(newer)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(MeasurementStoreError, match="Cannot open"):
        MeasurementStore(garbage)


def test_default_store_lives_in_the_data_dir() -> None:
    # tests/conftest.py points QWEN_DESKTOP_DATA_DIR at a temporary folder.
    assert default_path().name == "measurements.sqlite3"
    with MeasurementStore.open_default() as store:
        assert store.path == default_path() and store.path.is_file()
