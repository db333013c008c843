"""The Models page (offscreen): live fit badges, filters, details that match the core estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.fit import FitVerdict, estimate_fit
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.units import format_bytes
from qwen_desktop.models.ui.catalog_model import (
    BREAKDOWN_PARTS,
    CONTEXT_STEPS,
    VERDICT_BADGES,
    CatalogFitModel,
    Column,
)
from qwen_desktop.models.ui.models_page import INSTALLED_TOOLTIP, ModelsPage

pytestmark = pytest.mark.gui

PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"


def profile(name: str) -> MachineReport:
    return MachineReport.from_file(PROFILES / f"{name}.json")


@pytest.fixture
def page(qapp: QApplication, qtbot: object) -> ModelsPage:
    model = CatalogFitModel(load_catalog(), profile("nvidia_8gb"))
    widget = ModelsPage(model)
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    widget.resize(1200, 760)
    widget.show()
    return widget


def table_text(page: ModelsPage, variant_id: str, column: Column) -> str:
    proxy = page.proxy
    for row in range(proxy.rowCount()):
        if proxy.variant_at(proxy.index(row, 0)).id == variant_id:
            return str(proxy.index(row, column).data())
    raise AssertionError(f"{variant_id} is not shown")


def shown_names(page: ModelsPage) -> list[str]:
    proxy = page.proxy
    return [proxy.variant_at(proxy.index(r, 0)).display_name for r in range(proxy.rowCount())]


def test_slider_steps_and_label(page: ModelsPage) -> None:
    assert CONTEXT_STEPS == (2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144)
    assert page.context.label.text() == "Context window: 8K tokens"
    page.context.slider.setValue(CONTEXT_STEPS.index(131072))
    assert page.context.label.text() == "Context window: 128K tokens"
    assert page.model.context_tokens == 131072


def test_moving_the_slider_updates_the_badges_live(page: ModelsPage, qtbot: object) -> None:
    page.context.slider.setValue(CONTEXT_STEPS.index(4096))
    assert table_text(page, "qwen3-8b", Column.FIT) == VERDICT_BADGES["full_gpu"].text
    resets: list[int] = []
    page.model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(page.model.dataChanged, timeout=1000):  # type: ignore[attr-defined]
        page.context.slider.setValue(CONTEXT_STEPS.index(131072))
    assert table_text(page, "qwen3-8b", Column.FIT).startswith("GPU ")  # N/M layers on GPU
    assert not resets


def test_task_and_licence_filters(page: ModelsPage) -> None:
    page.task_combo.setCurrentIndex(page.task_combo.findData("code"))
    names = shown_names(page)
    assert names and all("Coder" in name for name in names)
    assert "code" in page.recommended.text()
    page.task_combo.setCurrentIndex(0)
    research = [v.display_name for v in load_catalog() if v.license == "qwen-research"]
    assert set(research) <= set(shown_names(page))
    page.commercial_check.setChecked(True)
    assert not set(research) & set(shown_names(page))


def test_installed_filter_shows_the_installed_variants(page: ModelsPage) -> None:
    assert "Library page" in page.installed_check.toolTip()
    assert page.installed_check.toolTip() == INSTALLED_TOOLTIP
    page.installed_check.setChecked(True)
    assert page.proxy.rowCount() == 0  # the default predicate: nothing installed
    assert page.empty.isVisible()
    page.model.set_installed_predicate(lambda variant: variant.id == "qwen3-8b")
    page.installed_check.setChecked(False)
    page.installed_check.setChecked(True)
    assert shown_names(page) == ["Qwen3 8B"]
    page.installed_check.setChecked(False)
    assert not page.empty.isVisible()


def test_search_box(page: ModelsPage) -> None:
    page.search.setText("vl 7b")
    assert shown_names(page) == ["Qwen2.5-VL 7B Instruct"]


def test_details_pane_breakdown_matches_core_fit(page: ModelsPage) -> None:
    assert page.select_variant("qwen3-8b")
    machine = profile("nvidia_8gb")
    variant = load_catalog().get("qwen3-8b")
    core = estimate_fit(variant, machine, context_tokens=8192)
    details = page.details
    assert details.variant is not None and details.variant.id == "qwen3-8b"
    expected = [
        ("weights", core.weights_bytes),
        ("KV cache", core.kv_cache_bytes),
        ("compute graph", core.graph_bytes),
        ("fixed overhead", core.overhead_bytes),
    ]
    assert details.bar.parts == expected  # no vision tower for a text model
    legend = [
        (label.property("part"), label.property("bytes"), label.text())
        for label in details.legend_labels
    ]
    assert [(part, size) for part, size, _ in legend] == expected
    for (_, _, text), (_, core_size) in zip(legend, expected, strict=True):
        assert format_bytes(core_size) in text
    assert format_bytes(core.total_bytes) in details.needs.text()
    assert details.bar.limit_bytes == core.pool_free_bytes
    assert "GPU up to" in details.limits.text() and "CPU up to" in details.limits.text()
    assert "tokens/s" in details.speed.text() and "GB/s" in details.speed.text()
    assert "Why:" in details.reason.text()
    assert "switch" in details.thinking.text().lower()  # hybrid: can be switched off (C5)
    assert "Qwen/Qwen3-8B" in details.where.text() and "qwen3:8b" in details.where.text()
    assert [name for name, _ in BREAKDOWN_PARTS][:2] == ["weights", "KV cache"]


def test_details_follow_the_slider(page: ModelsPage) -> None:
    page.select_variant("qwen3-8b")
    page.context.slider.setValue(CONTEXT_STEPS.index(32768))
    fit = page.details.fit
    assert fit is not None and fit.context_tokens == 32768
    assert dict(page.details.bar.parts)["KV cache"] == fit.kv_cache_bytes
    page.context.slider.setValue(CONTEXT_STEPS.index(131072))
    assert page.details.fit is not None and page.details.fit.verdict is FitVerdict.PARTIAL_GPU
    assert "cannot use the 128K" in page.details.reason.text()


def test_thinking_only_variant_explains_no_switch(page: ModelsPage) -> None:
    page.select_variant("qwen3-4b-thinking-2507")
    text = page.details.thinking.text()
    assert "always thinks" in text and "Qwen3 4B Instruct 2507" in text


def test_engine_choice_changes_quantizations(page: ModelsPage) -> None:
    page.engine_combo.setCurrentIndex(page.engine_combo.findData("transformers"))
    quants = [page.quant_combo.itemData(i) for i in range(page.quant_combo.count())]
    assert quants[0] == "bf16" and "nf4" in quants
    assert page.quant_combo.currentData() == "bf16"
    assert not page.kv_combo.isEnabled()
    assert page.model.settings.engine == "transformers"
    page.quant_combo.setCurrentIndex(page.quant_combo.findData("nf4"))
    assert page.model.settings.quant == "nf4"


def test_recommended_link_selects_the_row(page: ModelsPage) -> None:
    page.table.clearSelection()
    page.task_combo.setCurrentIndex(page.task_combo.findData("math"))
    rec = page.model.recommendation("math")
    assert rec is not None
    page.recommended.linkActivated.emit(rec.variant.id)
    current = page.current_variant()
    assert current is not None and current.id == rec.variant.id


def test_sorting_by_needs_header(page: ModelsPage) -> None:
    page.table.sortByColumn(Column.NEEDS, Qt.SortOrder.AscendingOrder)
    proxy = page.proxy
    first = proxy.variant_at(proxy.index(0, 0))
    assert first.id == "qwen2.5-0.5b-instruct"
