"""The monitor dock (live charts, current values, thresholds, explanations, health) and the
compact status-bar summary.

Charts are QtCharts line series over the last minute or the last 5 minutes (x: seconds before
the newest sample). Thresholds are dashed lines: RAM nearly full (95 % used, the explanation
rule's 5 % left), VRAM nearly full (95 %), and the estimated tokens/s of the loaded model.
The dock only draws; the
:class:`~qwen_desktop.monitor.ui.monitor_controller.MonitorController` samples.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QEvent, QMargins, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.core.explanations import RAM_LOW_FRACTION, VRAM_FULL_FRACTION, Explanation
from qwen_desktop.core.samples import Sample
from qwen_desktop.core.units import format_bytes
from qwen_desktop.monitor.health import HealthReport
from qwen_desktop.monitor.ui.monitor_controller import MonitorController

GIB = 1024**3
MIB = 1024**2
WINDOWS = (("Last minute", 60.0), ("Last 5 minutes", 300.0))
COLORS = ("#2e90fa", "#f79009", "#12b76a", "#9e77ed", "#f04438", "#06aed4")
THRESHOLD_COLOR = "#b42318"
_MARKS = {"ok": "✓", "warning": "!", "failed": "✗", "unknown": "?"}

Series = tuple[str, Callable[[Sample], float | None]]
"""A series' name and how to read its value (in the chart's unit) from a sample."""


class TimeSeriesChart(QChartView):
    """A small line chart of recent samples with an optional dashed threshold.

    Args:
        title: The chart's name (the current value is appended to it).
        unit: The y unit, shown on the axis (``%``, ``GiB``, ``tokens/s``).
        y_max: A fixed y range top (None: follows the data).
    """

    def __init__(self, title: str, unit: str, y_max: float | None = None) -> None:
        chart = QChart()
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.legend().setFont(_small_font(chart.legend().font()))
        chart.setMargins(QMargins(2, 2, 2, 2))
        chart.setBackgroundRoundness(0)
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        super().__init__(chart)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setMinimumHeight(150)
        self.title, self.unit, self.y_max = title, unit, y_max
        self.window_s = WINDOWS[0][1]
        self.x_axis = QValueAxis()
        self.x_axis.setRange(-self.window_s, 0)
        self.x_axis.setLabelFormat("%d s")
        self.x_axis.setTickCount(4)
        self.y_axis = QValueAxis()
        self.y_axis.setRange(0, y_max or 1.0)
        self.y_axis.setLabelFormat("%.0f" if y_max else "%.1f")
        self.y_axis.setTickCount(3)
        self.y_axis.setTitleText(unit)
        for axis in (self.x_axis, self.y_axis):
            axis.setLabelsFont(_small_font(axis.labelsFont()))
            axis.setTitleFont(_small_font(axis.titleFont()))
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.series: dict[str, QLineSeries] = {}
        self.threshold = self._add_series("threshold", THRESHOLD_COLOR, dashed=True)
        self.threshold_value: float | None = None
        self.set_threshold(None, "")
        self.set_current("—")
        self._apply_palette()

    def _add_series(self, name: str, color: str, *, dashed: bool = False) -> QLineSeries:
        series = QLineSeries()
        series.setName(name)
        pen = QPen(QColor(color))
        pen.setWidthF(1.5 if not dashed else 1.0)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        series.setPen(pen)
        self.chart().addSeries(series)
        series.attachAxis(self.x_axis)
        series.attachAxis(self.y_axis)
        return series

    def line(self, name: str) -> QLineSeries:
        """The series called ``name`` (created, with the next colour, on first use)."""
        if name not in self.series:
            self.series[name] = self._add_series(name, COLORS[len(self.series) % len(COLORS)])
        return self.series[name]

    def set_current(self, text: str) -> None:
        """Show the current value beside the title."""
        self.chart().setTitle(f"<b>{self.title}</b>  {text}")

    def set_threshold(self, value: float | None, label: str) -> None:
        """A dashed horizontal line at ``value`` (None removes it)."""
        self.threshold_value = value
        self.threshold.setName(label)
        self.threshold.setVisible(value is not None)
        if value is None:
            self.threshold.clear()
        else:
            self.threshold.replace([QPointF(-self.window_s, value), QPointF(0, value)])
        self.chart().legend().markers(self.threshold)[0].setVisible(value is not None)

    def set_window(self, seconds: float) -> None:
        """Show the last ``seconds``."""
        self.window_s = seconds
        self.x_axis.setRange(-seconds, 0)
        if self.threshold_value is not None:
            self.set_threshold(self.threshold_value, self.threshold.name())

    def show_samples(self, samples: Sequence[Sample], series: Sequence[Series]) -> None:
        """Draw ``series`` over ``samples`` (oldest first; x = seconds before the newest)."""
        if not samples:
            return
        newest = samples[-1].time_s
        top = 0.0
        for name, read in series:
            points = []
            for sample in samples:
                value = read(sample)
                if value is not None:
                    points.append(QPointF(sample.time_s - newest, value))
                    top = max(top, value)
            self.line(name).replace(points)
        if self.y_max is None:
            top = max(top, self.threshold_value or 0.0)
            self.y_axis.setRange(0, _nice_top(top))

    def _apply_palette(self) -> None:
        palette = self.palette()
        text = palette.color(palette.ColorRole.WindowText)
        grid = palette.color(palette.ColorRole.Mid)
        chart = self.chart()
        chart.setBackgroundBrush(palette.color(palette.ColorRole.Base))
        chart.setTitleBrush(text)
        chart.legend().setLabelColor(text)
        for axis in (self.x_axis, self.y_axis):
            axis.setLabelsColor(text)
            axis.setTitleBrush(text)
            axis.setGridLineColor(grid)
            axis.setLinePenColor(grid)


def _small_font(font: QFont) -> QFont:
    font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
    return font


def _nice_top(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2, 5 × 10ⁿ)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value)))
    for step in (0.1, 0.2, 0.5, 1.0):
        if value <= step * magnitude:
            return step * magnitude
    return float(magnitude)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


class MonitorDock(QDockWidget):
    """Live charts of CPU, RAM, GPU/VRAM, swap and disk, and tokens/s, with explanations above.

    Args:
        controller: Supplies samples, explanations and the health check; told when the dock is
            shown (it samples at 1 Hz then, and slower when only the summary shows).
    """

    def __init__(self, controller: MonitorController, parent: QWidget | None = None) -> None:
        super().__init__("Monitor", parent)
        self.setObjectName("monitorDock")
        self.controller = controller
        self.window_s = WINDOWS[0][1]
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(self._window_buttons())
        self.explanations = QLabel()
        self.explanations.setObjectName("monitorExplanations")
        self.explanations.setWordWrap(True)
        self.explanations.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.explanations)
        self.health = QLabel("Health: no model loaded yet.")
        self.health.setObjectName("monitorHealth")
        self.health.setWordWrap(True)
        layout.addWidget(self.health)
        self.cpu_chart = TimeSeriesChart("CPU", "%", y_max=100)
        self.cores = QLabel()
        self.cores.setObjectName("monitorCores")
        self.cores.setWordWrap(True)
        self.memory_chart = TimeSeriesChart("Memory", "GiB")
        self.gpu_chart = TimeSeriesChart("GPU", "%", y_max=100)
        self.gpu_note = QLabel()
        self.gpu_note.setWordWrap(True)
        self.gpu_note.setObjectName("monitorNote")
        self.io_chart = TimeSeriesChart("Swap and disk", "MiB/s")
        self.tokens_chart = TimeSeriesChart("Answer speed", "tokens/s")
        for widget in (
            self.cpu_chart,
            self.cores,
            self.memory_chart,
            self.gpu_chart,
            self.gpu_note,
            self.tokens_chart,
            self.io_chart,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.gpu_chart.set_threshold(100 * VRAM_FULL_FRACTION, "VRAM nearly full")
        self.gpu_chart.setVisible(False)  # until a sample says whether there are GPUs
        self.gpu_note.setVisible(False)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.setMinimumWidth(280)
        body.setStyleSheet(
            "#monitorExplanations { padding: 6px; border-radius: 6px; }"
            "#monitorExplanations[warning='true'] { border: 1px solid #f79009; }"
            "#monitorNote, #monitorCores { color: gray; font-size: 11px; }"
        )
        self.show_explanations([])
        controller.sample_taken.connect(self.show_sample)
        controller.explanations_changed.connect(self.show_explanations)
        controller.health_changed.connect(self.show_health)
        self.visibilityChanged.connect(self._on_visibility_changed)

    def _window_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.window_group = QButtonGroup(self)
        for index, (label, _seconds) in enumerate(WINDOWS):
            button = QRadioButton(label)
            button.setChecked(index == 0)
            self.window_group.addButton(button, index)
            row.addWidget(button)
        row.addStretch(1)
        self.window_group.idClicked.connect(self._on_window_group_clicked)
        return row

    def _on_window_group_clicked(self, index: int) -> None:
        self.set_window(WINDOWS[index][1])

    def set_window(self, seconds: float) -> None:
        """Show the last ``seconds`` (60 or 300) in every chart."""
        self.window_s = seconds
        for chart in self.charts:
            chart.set_window(seconds)
        self._redraw()

    @property
    def charts(self) -> tuple[TimeSeriesChart, ...]:
        """Every chart, top to bottom."""
        return (self.cpu_chart, self.memory_chart, self.gpu_chart, self.tokens_chart, self.io_chart)

    def _on_visibility_changed(self, visible: bool) -> None:
        self.update_shown()
        if visible:
            self._redraw()

    def update_shown(self) -> None:
        """Tell the controller what shows the figures: this dock, only the status-bar summary,
        or nothing (the window is minimised)."""
        window = self.window()
        on_screen = window is self or not window.isMinimized()
        self.controller.set_shown(dock=on_screen and self.isVisible(), summary=on_screen)

    # -- drawing ---------------------------------------------------------------------------------

    def show_sample(self, sample: Sample) -> None:
        """Update the current values, and the charts when the dock is visible."""
        self.cpu_chart.set_current(_percent(sample.cpu_percent))
        self.cores.setText(
            "Per core: " + " · ".join(f"{value:.0f}" for value in sample.cpu_per_core) + " %"
        )
        self.memory_chart.set_current(
            f"{format_bytes(sample.memory_used_bytes)} of {format_bytes(sample.memory_total_bytes)}"
            f" · app {format_bytes(sample.app_rss_bytes or 0)}"
            + (
                f" · engine {format_bytes(sample.engine_rss_bytes)}"
                if sample.engine_rss_bytes is not None
                else ""
            )
        )
        self.memory_chart.set_threshold(
            (1 - RAM_LOW_FRACTION) * sample.memory_total_bytes / GIB, "RAM nearly full"
        )
        if sample.gpus:
            parts = []
            for gpu in sample.gpus:
                vram = gpu.vram_fraction
                extra = "".join(
                    (
                        f" {gpu.temperature_c:.0f} °C" if gpu.temperature_c is not None else "",
                        f" {gpu.power_watts:.0f} W" if gpu.power_watts is not None else "",
                    )
                )
                used = format_bytes(gpu.vram_used_bytes or 0)
                parts.append(
                    f"{_percent(gpu.util_percent)} · VRAM {used}"
                    f" ({_percent(None if vram is None else 100 * vram)}){extra}"
                )
            self.gpu_chart.set_current("; ".join(parts))
        self.gpu_chart.setVisible(bool(sample.gpus))
        note = self.controller.sampler.gpu_note
        self.gpu_note.setVisible(not sample.gpus)
        self.gpu_note.setText(f"No GPU figures: {note}" if note else "No GPU figures.")
        speed = sample.tokens_per_second
        self.tokens_chart.set_current("—" if speed is None else f"{speed:.1f} tokens/s")
        io = sample.swap_bytes_per_s
        disk = (sample.disk_read_bytes_per_s or 0.0) + (sample.disk_write_bytes_per_s or 0.0)
        self.io_chart.set_current(
            f"swap {'—' if io is None else format_bytes(io) + '/s'} · disk {format_bytes(disk)}/s"
        )
        if self.isVisible():
            self._redraw()

    def _redraw(self) -> None:
        samples = self.controller.history.window(self.window_s)
        self.cpu_chart.show_samples(samples, [("CPU", lambda s: s.cpu_percent)])
        self.memory_chart.show_samples(
            samples,
            [
                ("RAM used", lambda s: s.memory_used_bytes / GIB),
                ("app", lambda s: None if s.app_rss_bytes is None else s.app_rss_bytes / GIB),
                (
                    "engine",
                    lambda s: None if s.engine_rss_bytes is None else s.engine_rss_bytes / GIB,
                ),
            ],
        )
        gpu_series: list[Series] = []
        count = len(samples[-1].gpus) if samples else 0
        for index in range(count):
            gpu_series.append((f"GPU{index}", functools.partial(_gpu, index=index, what="util")))
            gpu_series.append((f"VRAM{index}", functools.partial(_gpu, index=index, what="vram")))
        if gpu_series:
            self.gpu_chart.show_samples(samples, gpu_series)
        estimate = self.controller.estimate_tokens_per_second
        self.tokens_chart.set_threshold(estimate, "estimate")
        self.tokens_chart.show_samples(samples, [("tokens/s", lambda s: s.tokens_per_second)])
        self.io_chart.show_samples(
            samples,
            [
                ("swap", _swap),
                ("disk", _disk),
            ],
        )

    def show_explanations(self, explanations: list[Explanation]) -> None:
        """Show what slows the machine down, or that nothing does."""
        if not explanations:
            self.explanations.setText("Nothing slows this computer down now.")
        else:
            self.explanations.setText(
                "<br><br>".join(f"<b>{item.message}</b><br>{item.action}" for item in explanations)
            )
        self.explanations.setProperty("warning", bool(explanations))
        self.explanations.style().unpolish(self.explanations)
        self.explanations.style().polish(self.explanations)

    def show_health(self, report: HealthReport) -> None:
        """Show the health check's lines."""
        self.health.setText(
            "\n".join(
                f"{_MARKS[check.state]} {check.name.capitalize()}: {check.detail}"
                for check in report.checks
            )
        )


def _gpu(sample: Sample, index: int, what: str) -> float | None:
    if index >= len(sample.gpus):
        return None
    gpu = sample.gpus[index]
    if what == "util":
        return gpu.util_percent
    fraction = gpu.vram_fraction
    return None if fraction is None else 100 * fraction


def _swap(sample: Sample) -> float | None:
    rate = sample.swap_bytes_per_s
    return None if rate is None else rate / MIB


def _disk(sample: Sample) -> float | None:
    if sample.disk_read_bytes_per_s is None and sample.disk_write_bytes_per_s is None:
        return None
    return ((sample.disk_read_bytes_per_s or 0.0) + (sample.disk_write_bytes_per_s or 0.0)) / MIB


class MonitorSummary(QLabel):
    """The status bar's one-line summary; a click opens the monitor dock.

    Signals:
        clicked(): The user clicked it.
    """

    clicked = Signal()

    def __init__(self, controller: MonitorController, parent: QWidget | None = None) -> None:
        super().__init__("CPU — · RAM —", parent)
        self.setObjectName("monitorSummary")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Open the monitor (Ctrl+M)")
        self._warning: str | None = None
        controller.sample_taken.connect(self.show_sample)
        controller.explanations_changed.connect(self.show_explanations)

    def show_sample(self, sample: Sample) -> None:
        """Update the figures."""
        parts = [
            f"CPU {sample.cpu_percent:.0f} %",
            f"RAM {sample.memory_used_bytes / GIB:.1f}/{sample.memory_total_bytes / GIB:.0f} GiB",
        ]
        for gpu in sample.gpus:
            parts.append(f"GPU{gpu.index} {_percent(gpu.util_percent)}")
            if gpu.vram_used_bytes is not None and gpu.vram_total_bytes:
                parts.append(
                    f"VRAM {gpu.vram_used_bytes / GIB:.1f}/{gpu.vram_total_bytes / GIB:.0f} GiB"
                )
        if sample.tokens_per_second is not None:
            parts.append(f"{sample.tokens_per_second:.1f} tokens/s")
        text = " · ".join(parts)
        self.setText(f"⚠ {text}" if self._warning else text)

    def show_explanations(self, explanations: list[Explanation]) -> None:
        """Mark the summary while something slows the machine down (the reason in the tooltip)."""
        self._warning = explanations[0].message if explanations else None
        self.setStyleSheet("color: #b54708;" if explanations else "")
        self.setToolTip(
            f"{self._warning}\nClick for the monitor (Ctrl+M)."
            if self._warning
            else "Open the monitor (Ctrl+M)"
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class WindowWatcher(QObject):
    """Pauses sampling while the window is minimised (nothing on screen shows the figures)."""

    def __init__(self, window: QWidget, dock: MonitorDock) -> None:
        super().__init__(window)
        self._window, self._dock = window, dock
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.WindowStateChange:
            self._dock.update_shown()
        return False
