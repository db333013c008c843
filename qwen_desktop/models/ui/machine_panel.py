"""Side panel: what this computer has, and the Qwen variants that fit it for a task."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.units import format_bytes
from qwen_desktop.models.ui.catalog_model import VERDICT_BADGES as FIT_BADGES

TASKS = (
    ("chat", "Chat"),
    ("code", "Code"),
    ("math", "Math"),
    ("vision", "Images"),
    ("reasoning", "Reasoning"),
)

THINKING_WORDS = {
    "hybrid": "thinking on/off",
    "thinking-only": "always thinks",
    "instruct-only": "answers directly",
}

VERDICT_BADGES = {verdict: (badge.text, badge.color) for verdict, badge in FIT_BADGES.items()}


def _link(text: str, name: str) -> QLabel:
    label = QLabel(f"<a href='#'>{escape(text)}</a>")
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def _row(label: str, source: str) -> QLabel:
    widget = QLabel(label)
    widget.setWordWrap(True)
    widget.setToolTip(f"Source: {source}" if source else "")
    widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return widget


RECOMMENDATION_LIST_MIN_HEIGHT = 150
"""Pixels: about three recommendation rows stay visible however the column is split."""


class MachinePanel(QWidget):
    """Hardware summary (each figure's source in its tooltip) and ranked recommendations.

    Signals:
        task_changed(str): The user picked another task.
        hardware_page_requested(): The user asked for the full hardware report.
        models_page_requested(str): The user asked to compare all models for this task.
    """

    task_changed = Signal(str)
    hardware_page_requested = Signal()
    models_page_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("machinePanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(12)

        self.hardware_box = QGroupBox("This computer")
        self.hardware_form = QFormLayout(self.hardware_box)
        self.hardware_form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.hardware_form.addRow(QLabel("Scanning…"))
        self.hardware_link = _link("All figures and their sources…", "hardwareLink")
        self.hardware_link.linkActivated.connect(lambda _: self.hardware_page_requested.emit())
        box_column = QVBoxLayout()
        box_column.setSpacing(4)
        box_column.addWidget(self.hardware_box)
        box_column.addWidget(self.hardware_link, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(box_column)

        box = QGroupBox("Recommended Qwen models")
        box_layout = QVBoxLayout(box)
        self.task_combo = QComboBox()
        for key, title in TASKS:
            self.task_combo.addItem(f"For {title.lower()}", key)
        self.task_combo.currentIndexChanged.connect(self._on_task_combo_changed)
        box_layout.addWidget(self.task_combo)
        self.recommendations = QListWidget()
        self.recommendations.setObjectName("recommendations")
        self.recommendations.setWordWrap(True)
        self.recommendations.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.recommendations.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recommendations.currentItemChanged.connect(self._on_recommendation_selected)
        self.recommendations.setMinimumHeight(RECOMMENDATION_LIST_MIN_HEIGHT)
        box_layout.addWidget(self.recommendations, 1)
        self.detail = QLabel()
        self.detail.setObjectName("recommendationDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        box_layout.addWidget(self.detail)
        self.models_link = _link("Compare all models…", "modelsLink")
        self.models_link.linkActivated.connect(
            lambda _: self.models_page_requested.emit(self.task_combo.currentData())
        )
        box_layout.addWidget(self.models_link, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(box, 1)

    def show_machine(self, machine: MachineReport) -> None:
        """Fill the hardware summary."""
        form = self.hardware_form
        while form.rowCount():
            form.removeRow(0)
        cpu = machine.cpu
        flags = " ".join(
            f.upper() for f in cpu.flags if f in ("avx2", "avx512f", "neon", "amx_bf16")
        )
        cores = f"{cpu.physical_cores} cores, {cpu.logical_cores} threads"
        form.addRow(
            "CPU",
            _row(
                f"{cpu.model}\n{cores}{'  ·  ' + flags if flags else ''}",
                cpu.sources.get("model", ""),
            ),
        )
        mem = machine.memory
        form.addRow(
            "Memory",
            _row(
                f"{format_bytes(mem.usable_total_bytes)} RAM, "
                f"{format_bytes(mem.available_bytes)} free",
                mem.sources.get("total_bytes", ""),
            ),
        )
        if machine.gpus:
            for gpu in machine.gpus:
                kind = "shared memory" if gpu.unified_memory else "VRAM"
                form.addRow(
                    "GPU",
                    _row(
                        f"{gpu.name}\n{format_bytes(gpu.vram_total_bytes)} {kind}, "
                        f"{format_bytes(gpu.vram_free_bytes)} free",
                        gpu.source,
                    ),
                )
        else:
            note = next((n for n in machine.notes if n.component == "gpu"), None)
            text = "No GPU found: models run on the CPU." if note is None else note.message
            form.addRow(
                "GPU",
                _row(
                    text,
                    "; ".join(
                        f"{n.component}: {n.message}" for n in machine.notes if n.component != "gpu"
                    ),
                ),
            )
        disk = machine.disk
        form.addRow("Disk", _row(f"{format_bytes(disk.free_bytes)} free for models", disk.path))

    def show_recommendations(self, advice: object) -> None:
        """Fill the ranked list from an ``Advice`` (see services.advisor)."""
        self.recommendations.clear()
        self.detail.clear()
        for rec in getattr(advice, "recommendations", []):
            badge, color = VERDICT_BADGES.get(rec.fit.verdict, (rec.fit.verdict, "#555"))
            item = QListWidgetItem()  # drawn by its row widget; text kept for accessibility
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{rec.variant.display_name}, {badge}")
            item.setData(Qt.ItemDataRole.UserRole, rec)
            item.setToolTip(rec.reason)
            row = RecommendationRow(rec, badge, color)
            item.setSizeHint(QSize(1, row.sizeHint().height()))
            self.recommendations.addItem(item)
            self.recommendations.setItemWidget(item, row)
        if self.recommendations.count():
            self.recommendations.setCurrentRow(0)

    def _on_task_combo_changed(self, index: int) -> None:
        self.task_changed.emit(self.task_combo.itemData(index))

    def _on_recommendation_selected(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is None:
            self.detail.clear()
            return
        rec = item.data(Qt.ItemDataRole.UserRole)
        variant = rec.variant
        where = f"Ollama: <code>{escape(variant.ollama.tag)}</code><br>" if variant.ollama else ""
        self.detail.setText(
            f"<b>{escape(variant.display_name)}</b><br>{escape(rec.reason)}<br>"
            f"<span style='color:gray'>Hugging Face: <code>{escape(variant.hf_repo)}</code><br>"
            f"{where}Not downloaded yet: once you have its folder, open it with "
            "“Open model folder…”.</span>"
        )


class RecommendationRow(QWidget):
    """One ranked variant: name and fit badge, then memory needed, speed and thinking kind."""

    def __init__(self, rec: Any, badge: str, color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        fit = rec.fit
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 5, 6, 5)
        layout.setSpacing(1)
        name = QLabel(f"<b>{escape(rec.variant.display_name)}</b>")
        layout.addWidget(name)
        second = QHBoxLayout()
        second.setSpacing(6)
        pill = QLabel(badge)
        pill.setObjectName("fitBadge")
        pill.setStyleSheet(
            f"color: white; background: {color}; border-radius: 7px; padding: 0px 6px;"
            "font-size: 11px;"
        )
        pill.setAlignment(Qt.AlignmentFlag.AlignCenter)
        speed = fit.tokens_per_second_estimate
        facts = [f"needs {format_bytes(fit.total_bytes)}"]
        if fit.verdict != "wont_fit" and speed:
            facts.append(f"~{speed:.0f} tokens/s" if speed >= 1 else f"~{speed:.1f} tokens/s")
        detail = QLabel(" · ".join(f for f in facts if f))
        detail.setObjectName("recommendationFacts")
        second.addWidget(pill)
        second.addWidget(detail, 1)
        layout.addLayout(second)
