"""CatalogFitModel and CatalogFilterProxy: one row per variant, live verdicts, filters, sorting."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.fit import FitVerdict, estimate_fit
from qwen_desktop.core.fit_devices import machine_fingerprint
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurements import Measurement
from qwen_desktop.core.units import format_bytes
from qwen_desktop.models.ui.catalog_model import (
    BADGE_COLOR_ROLE,
    BREAKDOWN_ROLE,
    FIT_COLUMNS,
    SORT_ROLE,
    VERDICT_BADGES,
    CatalogFilterProxy,
    CatalogFitModel,
    Column,
    breakdown_parts,
    max_context_phrase,
    parameters_label,
)

PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"


def profile(name: str) -> MachineReport:
    return MachineReport.from_file(PROFILES / f"{name}.json")


@pytest.fixture
def model(qapp: QApplication) -> CatalogFitModel:
    return CatalogFitModel(load_catalog(), profile("nvidia_8gb"))


class Recorder:
    """Records a model's change signals."""

    def __init__(self, model: CatalogFitModel) -> None:
        self.changed: list[tuple[int, int, int, int]] = []
        self.resets = 0
        self.layouts = 0
        model.dataChanged.connect(self._on_data_changed)
        model.modelReset.connect(self._on_reset)
        model.layoutChanged.connect(self._on_layout)

    def _on_data_changed(self, top: QModelIndex, bottom: QModelIndex, _roles: object) -> None:
        self.changed.append((top.row(), bottom.row(), top.column(), bottom.column()))

    def _on_reset(self) -> None:
        self.resets += 1

    def _on_layout(self) -> None:
        self.layouts += 1

    def touched(self, row: int, column: int) -> bool:
        return any(r0 <= row <= r1 and c0 <= column <= c1 for r0, r1, c0, c1 in self.changed)


def cell(model: CatalogFitModel, row: int, column: Column, role: int = 0) -> object:
    return model.data(model.index(row, column), role or Qt.ItemDataRole.DisplayRole)


def test_one_row_per_catalog_variant(model: CatalogFitModel) -> None:
    catalog = load_catalog()
    assert model.rowCount() == len(catalog)
    assert model.columnCount() == len(Column)
    assert [model.variant(row).id for row in range(model.rowCount())] == [
        v.id for v in catalog.variants
    ]
    assert all(model.fit(row) is not None for row in range(model.rowCount()))


def test_context_slider_changes_qwen3_8b_verdict_with_data_changed_not_reset(
    model: CatalogFitModel,
) -> None:
    row = model.row_of("qwen3-8b")
    model.set_context_tokens(4096)
    first = model.fit(row)
    assert first is not None and first.verdict is FitVerdict.FULL_GPU
    assert cell(model, row, Column.FIT) == VERDICT_BADGES["full_gpu"].text
    recorder = Recorder(model)

    model.set_context_tokens(131072)

    later = model.fit(row)
    assert later is not None and later.verdict is FitVerdict.PARTIAL_GPU
    assert later.context_tokens == 40960  # capped at the model's window
    assert str(cell(model, row, Column.FIT)).startswith("GPU ")
    assert cell(model, row, Column.FIT, BADGE_COLOR_ROLE).name() == (
        VERDICT_BADGES["partial_gpu"].color
    )
    assert recorder.resets == 0 and recorder.layouts == 0
    assert recorder.touched(row, Column.FIT)
    assert all(c0 in FIT_COLUMNS for _, _, c0, _ in recorder.changed)  # static cells never


def test_only_changed_cells_are_signalled(model: CatalogFitModel) -> None:
    model.set_context_tokens(65536)
    recorder = Recorder(model)
    model.set_context_tokens(65536)  # no change: no signal
    assert recorder.changed == []
    model.set_context_tokens(131072)
    # Qwen3-8B's window is 40K: at 64K and 128K it is estimated at 40K, nothing changes.
    row = model.row_of("qwen3-8b")
    assert not any(recorder.touched(row, column) for column in Column)
    long_window = model.row_of("qwen3-4b-instruct-2507")  # 256K window: changes
    assert recorder.touched(long_window, Column.NEEDS)


def test_cells_match_the_core_estimate(model: CatalogFitModel) -> None:
    machine = profile("nvidia_8gb")
    row = model.row_of("qwen3-30b-a3b")
    variant = model.variant(row)
    core = estimate_fit(variant, machine, context_tokens=8192)
    assert cell(model, row, Column.NEEDS) == format_bytes(core.total_bytes)
    assert cell(model, row, Column.NEEDS, SORT_ROLE) == float(core.total_bytes)
    assert cell(model, row, Column.BREAKDOWN, BREAKDOWN_ROLE) == breakdown_parts(core)
    tooltip = str(cell(model, row, Column.BREAKDOWN, Qt.ItemDataRole.ToolTipRole))
    assert f"weights: {format_bytes(core.weights_bytes)}" in tooltip
    assert f"KV cache: {format_bytes(core.kv_cache_bytes)}" in tooltip
    assert cell(model, row, Column.SIZE) == "30.5B (3.3B active)"  # MoE shows active
    assert cell(model, row, Column.SPEED, SORT_ROLE) == pytest.approx(
        core.tokens_per_second_estimate
    )
    phrase = str(cell(model, row, Column.MAX_CONTEXT, Qt.ItemDataRole.ToolTipRole))
    assert phrase == max_context_phrase(core, machine)
    assert phrase.startswith("GPU: does not fit, GPU+CPU up to ")  # 8 GB: partial offload
    assert "CPU up to" in phrase and "experts in RAM" in phrase  # MoE: experts-on-CPU too


def test_without_a_gpu_the_max_context_is_the_cpu_s(qapp: QApplication) -> None:
    model = CatalogFitModel(load_catalog(), profile("laptop_16gib_no_gpu"))
    row = model.row_of("qwen3-8b")
    assert str(cell(model, row, Column.MAX_CONTEXT)).startswith("CPU ")
    assert "no GPU" in str(cell(model, row, Column.MAX_CONTEXT, Qt.ItemDataRole.ToolTipRole))


def test_before_the_scan_rows_wait_then_fill_without_reset(qapp: QApplication) -> None:
    model = CatalogFitModel(load_catalog())
    assert model.fit(0) is None
    assert cell(model, 0, Column.FIT) == "Scanning…"
    recorder = Recorder(model)
    model.set_machine(profile("nvidia_24gb"))
    assert model.fit(0) is not None
    assert recorder.resets == 0 and recorder.changed


def test_engine_quant_and_kv_type(model: CatalogFitModel) -> None:
    row = model.row_of("qwen3-8b")
    q4 = model.fit(row)
    model.set_kv_type("q8_0")
    q8_kv = model.fit(row)
    assert q4 is not None and q8_kv is not None
    assert q8_kv.kv_cache_bytes < q4.kv_cache_bytes
    model.set_quant("q8_0")
    assert model.settings.quant == "Q8_0"
    model.set_engine("transformers")
    assert (model.settings.engine, model.settings.quant, model.settings.kv_type) == (
        "transformers",
        "bf16",
        "f16",
    )
    fit = model.fit(row)
    assert fit is not None and fit.engine == "transformers" and fit.quant == "bf16"
    with pytest.raises(ValueError, match="transformers"):
        model.set_kv_type("q4_0")
    with pytest.raises(ValueError):
        model.set_quant("Q4_K_M")  # not a Transformers option


def test_measured_speed_is_used_and_marked(qapp: QApplication) -> None:
    machine = profile("nvidia_8gb")
    measured = Measurement(
        model_id="qwen3-8b",
        engine="ollama",
        quant="Q4_K_M",
        context_tokens=8192,
        machine_fingerprint=machine_fingerprint(machine),
        tokens_per_second=42.0,
    )
    calls: list[tuple[str, str]] = []

    def lookup(_machine: MachineReport, engine: str, quant: str) -> dict[str, Measurement]:
        calls.append((engine, quant))
        return {"qwen3-8b": measured}

    model = CatalogFitModel(load_catalog(), machine, measurements=lookup)
    row = model.row_of("qwen3-8b")
    assert cell(model, row, Column.SPEED) == "42 tok/s ✓"
    assert "Measured" in str(cell(model, row, Column.SPEED, Qt.ItemDataRole.ToolTipRole))
    model.set_context_tokens(4096)
    assert calls == [("ollama", "Q4_K_M")]  # not looked up again for a context change


def test_recommendation_uses_the_current_settings(model: CatalogFitModel) -> None:
    rec = model.recommendation("code")
    assert rec is not None and "code" in rec.variant.tasks
    assert rec.fit.context_tokens == min(8192, rec.variant.context_tokens)


def test_parameters_label() -> None:
    assert parameters_label(8_190_000_000) == "8.2B"
    assert parameters_label(4_020_000_000) == "4B"
    assert parameters_label(235_100_000_000) == "235B"
    assert parameters_label(490_000_000) == "490M"


# ------------------------------------------------------------------------------ proxy


@pytest.fixture
def proxy(model: CatalogFitModel) -> CatalogFilterProxy:
    proxy = CatalogFilterProxy()
    proxy.setSourceModel(model)
    return proxy


def visible(proxy: CatalogFilterProxy) -> list[str]:
    return [proxy.variant_at(proxy.index(row, 0)).id for row in range(proxy.rowCount())]


def test_task_filter_code_shows_only_coder_rows(proxy: CatalogFilterProxy) -> None:
    proxy.set_task("code")
    names = [proxy.variant_at(proxy.index(r, 0)).display_name for r in range(proxy.rowCount())]
    assert names and all("Coder" in name for name in names)
    assert len(names) == len(load_catalog().for_task("code"))
    proxy.set_task(None)
    assert proxy.rowCount() == len(load_catalog())


def test_commercial_only_hides_research_licence_rows(proxy: CatalogFilterProxy) -> None:
    catalog = load_catalog()
    research = {v.id for v in catalog if v.license == "qwen-research"}
    assert research  # the catalog has some
    proxy.set_commercial_only(True)
    shown = set(visible(proxy))
    assert not shown & research
    assert shown == {v.id for v in catalog if v.commercial_use}


def test_installed_filter_uses_the_predicate(
    model: CatalogFitModel, proxy: CatalogFilterProxy
) -> None:
    proxy.set_installed_only(True)
    assert proxy.rowCount() == 0  # default: nothing counts as installed
    model.set_installed_predicate(lambda variant: variant.id == "qwen3-4b")
    proxy.invalidate()
    assert visible(proxy) == ["qwen3-4b"]
    assert str(cell(model, model.row_of("qwen3-4b"), Column.MODEL)).endswith("✓")


def test_size_search_and_fits_filters(model: CatalogFitModel, proxy: CatalogFilterProxy) -> None:
    proxy.set_max_parameters(5_000_000_000)
    assert all(load_catalog().get(i).parameters <= 5_000_000_000 for i in visible(proxy))
    proxy.set_max_parameters(None)
    proxy.set_search("coder 7B")
    assert visible(proxy) == ["qwen2.5-coder-7b-instruct"]
    proxy.set_search("qwen3:8b")  # Ollama tag
    assert visible(proxy) == ["qwen3-8b"]
    proxy.set_search("")
    proxy.set_fits_only(True)
    shown = visible(proxy)
    assert "qwen3-235b-a22b" not in shown and "qwen3-8b" in shown


def test_fits_filter_follows_the_context(model: CatalogFitModel, proxy: CatalogFilterProxy) -> None:
    proxy.set_fits_only(True)
    at_8k = proxy.rowCount()
    model.set_context_tokens(262144)
    assert proxy.rowCount() < at_8k


def test_sorting_uses_numbers(proxy: CatalogFilterProxy) -> None:
    proxy.sort(Column.NEEDS, Qt.SortOrder.AscendingOrder)
    needs = [proxy.index(r, Column.NEEDS).data(SORT_ROLE) for r in range(proxy.rowCount())]
    assert needs == sorted(needs)
    proxy.sort(Column.SIZE, Qt.SortOrder.DescendingOrder)
    assert proxy.variant_at(proxy.index(0, 0)).id == "qwen3-235b-a22b"
