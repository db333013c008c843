"""The Models page: the whole catalog with its fit on this computer, filters, a context slider
and the details of the selected model (memory breakdown, largest context, speed and its basis)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionSlider,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.core.catalog import TASKS, Variant
from qwen_desktop.core.conversation import thinking_switch_reason
from qwen_desktop.core.fit import FitEstimate, context_label, speed_label
from qwen_desktop.core.fit_engines import KV_TYPES, quant_names
from qwen_desktop.core.units import format_bytes
from qwen_desktop.models.ui.catalog_model import (
    BADGE_COLOR_ROLE,
    BREAKDOWN_PARTS,
    BREAKDOWN_ROLE,
    CONTEXT_STEPS,
    DEFAULT_CONTEXT_TOKENS,
    ENGINE_WORDS,
    LICENCE_WORDS,
    SIZE_LIMITS,
    TASK_WORDS,
    VERDICT_BADGES,
    VERDICT_PHRASES,
    CatalogFilterProxy,
    CatalogFitModel,
    Column,
    breakdown_parts,
    max_context_phrase,
    speed_basis,
)

ModelIndex = QModelIndex | QPersistentModelIndex

_PART_COLORS = dict(BREAKDOWN_PARTS)
_PART_COLORS["activations"] = _PART_COLORS["compute graph"]

INSTALLED_TOOLTIP = (
    "Shows only models already downloaded (in the models folder: see the Library page)."
)


def slider_label(tokens: int) -> str:
    """``Context window: 8K tokens``."""
    return f"Context window: {context_label(tokens)} tokens"


# ------------------------------------------------------------------------------ delegates


class FitBadgeDelegate(QStyledItemDelegate):
    """Paints the Fit column as a coloured rounded pill with white text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        color = index.data(BADGE_COLOR_ROLE) or QColor("#6b7280")
        metrics = QFontMetrics(opt.font)
        height = metrics.height() + 4
        width = min(metrics.horizontalAdvance(text) + 16, opt.rect.width() - 8)
        rect = QRectF(opt.rect.x() + 4, opt.rect.center().y() - height / 2 + 1, width, height)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.setPen(QColor("white") if selected else Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(QColor("white"))
        painter.setFont(opt.font)
        elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(rect.width()) - 12)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, elided)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + 24, max(hint.height(), QFontMetrics(option.font).height() + 10))


class BreakdownBarDelegate(QStyledItemDelegate):
    """Paints the memory breakdown of a row as a thin stacked bar (numbers in the tooltip)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        parts = [(name, size) for name, size in (index.data(BREAKDOWN_ROLE) or []) if size > 0]
        total = sum(size for _, size in parts)
        if not total:
            return
        rect = QRectF(opt.rect.adjusted(6, 0, -6, 0))
        rect.setTop(rect.center().y() - 5)
        rect.setHeight(10)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        _paint_stack(painter, rect, parts, total)
        painter.restore()


def _paint_stack(
    painter: QPainter, rect: QRectF, parts: list[tuple[str, int]], scale_bytes: float
) -> None:
    """Stacked segments of ``parts`` from the left of ``rect``; ``rect`` holds ``scale_bytes``."""
    x = rect.left()
    painter.setPen(Qt.PenStyle.NoPen)
    clip = painter.clipRegion() if painter.hasClipping() else None
    painter.setClipRect(rect.adjusted(0, -1, 0, 1))
    for name, size in parts:
        width = rect.width() * size / scale_bytes
        painter.setBrush(QColor(_PART_COLORS.get(name, "#9ca3af")))
        painter.drawRect(QRectF(x, rect.top(), max(width, 1.0), rect.height()))
        x += width
    if clip is not None:
        painter.setClipRegion(clip)
    else:
        painter.setClipping(False)


# ------------------------------------------------------------------------------ widgets


class MemoryBar(QWidget):
    """The details pane's memory breakdown: a horizontal stacked bar with a marker at the memory
    the model is checked against (free VRAM, or free RAM)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryBar")
        self.parts: list[tuple[str, int]] = []
        self.limit_bytes = 0
        self.limit_label = ""
        self.setMinimumHeight(38)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_parts(self, parts: list[tuple[str, int]], limit_bytes: int, limit_label: str) -> None:
        """Show ``parts`` (name, bytes) against ``limit_bytes`` (0: no marker)."""
        self.parts = [(name, size) for name, size in parts if size > 0]
        self.limit_bytes, self.limit_label = limit_bytes, limit_label
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, 38)

    def paintEvent(self, event: QPaintEvent) -> None:
        total = sum(size for _, size in self.parts)
        if not total:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scale = max(total, self.limit_bytes) * 1.02
        bar = QRectF(1, 4, self.width() - 2, 14)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().color(QPalette.ColorRole.AlternateBase))
        painter.drawRoundedRect(bar, 3, 3)
        _paint_stack(painter, bar, self.parts, scale)
        if self.limit_bytes:
            x = bar.left() + bar.width() * self.limit_bytes / scale
            pen_color = self.palette().color(QPalette.ColorRole.Text)
            painter.setPen(pen_color)
            painter.drawLine(int(x), 0, int(x), int(bar.bottom()) + 4)
            metrics = painter.fontMetrics()
            text = self.limit_label
            width = metrics.horizontalAdvance(text)
            left = min(max(0.0, x - width / 2), self.width() - width - 1.0)
            painter.drawText(int(left), int(bar.bottom()) + 5 + metrics.ascent(), text)
        painter.end()


class ContextSlider(QWidget):
    """A slider over :data:`CONTEXT_STEPS` (2K … 256K, log-scaled) with its label and ticks.

    Signals:
        context_changed(int): The chosen context window (tokens).
    """

    context_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setObjectName("contextLabel")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("contextSlider")
        self.slider.setRange(0, len(CONTEXT_STEPS) - 1)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setMinimumWidth(160)
        self.slider.setToolTip(
            "How many tokens the model keeps in mind (prompt, conversation and answer). A larger "
            "window needs a larger KV cache: watch the fit badges change."
        )
        self.ticks = _TickLabels(self.slider)
        column = QVBoxLayout()
        column.setSpacing(0)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.slider)
        column.addWidget(self.ticks)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(column, 1)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.set_tokens(DEFAULT_CONTEXT_TOKENS)
        self.label.setMinimumWidth(
            QFontMetrics(self.label.font()).horizontalAdvance(slider_label(262144)) + 8
        )

    @property
    def tokens(self) -> int:
        """The chosen context window (tokens)."""
        return CONTEXT_STEPS[self.slider.value()]

    def set_tokens(self, tokens: int) -> None:
        """Move to the step nearest ``tokens``."""
        step = min(range(len(CONTEXT_STEPS)), key=lambda i: abs(CONTEXT_STEPS[i] - tokens))
        self.slider.setValue(step)
        self.label.setText(slider_label(CONTEXT_STEPS[step]))

    def _on_slider_value_changed(self, value: int) -> None:
        self.label.setText(slider_label(CONTEXT_STEPS[value]))
        self.context_changed.emit(CONTEXT_STEPS[value])


class _TickLabels(QWidget):
    """The step names under the slider's ticks."""

    def __init__(self, slider: QSlider) -> None:
        super().__init__()
        self.slider = slider
        self.setObjectName("contextTicks")
        font = self.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        self.setFont(font)
        self.setFixedHeight(QFontMetrics(font).height())

    def paintEvent(self, event: QPaintEvent) -> None:
        option = QStyleOptionSlider()
        self.slider.initStyleOption(option)
        style = self.slider.style()
        handle = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, self.slider
        )
        span = self.slider.width() - handle.width()
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        metrics = painter.fontMetrics()
        for value, tokens in enumerate(CONTEXT_STEPS):
            x = handle.width() / 2 + QStyle.sliderPositionFromValue(
                self.slider.minimum(), self.slider.maximum(), value, span
            )
            text = context_label(tokens)
            width = metrics.horizontalAdvance(text)
            left = min(max(0.0, x - width / 2), self.width() - width)
            painter.drawText(int(left), metrics.ascent(), text)
        painter.end()


def _value_label(object_name: str = "") -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
    )
    label.setOpenExternalLinks(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    if object_name:
        label.setObjectName(object_name)
    return label


class ModelDetails(QFrame):
    """What the table's selected row means: breakdown, limits, speed, reason, thinking, where."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelDetails")
        self.variant: Variant | None = None
        self.fit: FitEstimate | None = None
        self.title = QLabel()
        self.title.setObjectName("detailsTitle")
        self.badge = QLabel()
        self.badge.setObjectName("detailsBadge")
        self.needs = _value_label("detailsNeeds")
        self.bar = MemoryBar()
        self.legend = QWidget()
        self.legend_layout = QHBoxLayout(self.legend)
        self.legend_layout.setContentsMargins(0, 0, 0, 0)
        self.legend_layout.setSpacing(14)
        self.legend_labels: list[QLabel] = []
        self._legend_pool: list[QLabel] = []
        self.legend_layout.addStretch(1)
        self.limits = _value_label("detailsLimits")
        self.speed = _value_label("detailsSpeed")
        self.reason = _value_label("detailsReason")
        self.thinking = _value_label("detailsThinking")
        self.where = _value_label("detailsWhere")
        self.placeholder = QLabel("Select a model in the table to see its details.")
        self.placeholder.setObjectName("detailsPlaceholder")
        self.content = QWidget()
        self._build_layout()
        self.show_model(None, None, None, 0)

    def _build_layout(self) -> None:
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.badge)
        head.addStretch(1)
        left = QVBoxLayout()
        left.setSpacing(6)
        left.addWidget(self.needs)
        left.addWidget(self.bar)
        left.addWidget(self.legend)
        left.addWidget(self.limits)
        left.addWidget(self.speed)
        left.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(6)
        right.addWidget(self.reason)
        right.addWidget(self.thinking)
        right.addWidget(self.where)
        right.addStretch(1)
        body = QGridLayout()
        body.setHorizontalSpacing(24)
        body.addLayout(left, 0, 0)
        body.addLayout(right, 0, 1)
        body.setColumnStretch(0, 1)
        body.setColumnStretch(1, 1)
        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.addLayout(head)
        content.addLayout(body, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.content, 1)

    def show_model(
        self,
        variant: Variant | None,
        fit: FitEstimate | None,
        model: CatalogFitModel | None,
        asked_tokens: int,
    ) -> None:
        """Show ``variant`` with its ``fit`` (``None``: the placeholder)."""
        self.variant, self.fit = variant, fit
        self.placeholder.setVisible(variant is None)
        self.content.setVisible(variant is not None)
        if variant is None or model is None:
            return
        self.title.setText(variant.display_name)
        badge = VERDICT_BADGES[fit.verdict.value] if fit else None
        if badge is not None and fit is not None:
            text = badge.text + (" (tight)" if fit.tight else "")
            self.badge.setText(text)
            self.badge.setStyleSheet(f"background: {badge.color};")
        self.badge.setVisible(fit is not None)
        self.where.setText(self._where(variant))
        self.thinking.setText(self._thinking(variant, model))
        if fit is None:
            self.needs.setText("Waiting for the hardware scan…")
            self.bar.set_parts([], 0, "")
            self._set_legend([])
            for label in (self.limits, self.speed, self.reason):
                label.clear()
            return
        capped = (
            f" (its window; {context_label(asked_tokens)} asked)"
            if fit.context_tokens < asked_tokens
            else ""
        )
        self.needs.setText(
            f"<b>Memory needed: {format_bytes(fit.total_bytes)}</b> at "
            f"{context_label(fit.context_tokens)} context{capped} · {escape(fit.quant)}, "
            f"KV cache {escape(fit.kv_type)}, {escape(ENGINE_WORDS.get(fit.engine, fit.engine))}"
        )
        parts = breakdown_parts(fit)
        free_label = f"{fit.pool_name} free {format_bytes(fit.pool_free_bytes)}"
        if fit.pool == "gpu+ram":
            free_label = f"GPU + RAM free {format_bytes(fit.pool_free_bytes)}"
        self.bar.set_parts(parts, fit.pool_free_bytes, free_label)
        self._set_legend(parts)
        machine = model.machine
        self.limits.setText(
            f"<b>Largest context:</b> {escape(max_context_phrase(fit, machine))}"
            + (
                f" <span style='color:gray'>(model window {context_label(variant.context_tokens)})"
                "</span>"
            )
        )
        if fit.tokens_per_second_estimate is not None and machine is not None:
            speed = fit.tokens_per_second_estimate
            kind = "measured" if fit.measurement else "estimated"
            self.speed.setText(
                f"<b>Speed: about {speed:.1f} tokens/s</b> ({kind}). "
                f"<span style='color:gray'>{escape(speed_basis(variant, fit, machine))}</span>"
            )
        else:
            self.speed.setText("<b>Speed:</b> none: it does not fit at this context window.")
        reason = fit.reason
        if fit.context_tokens < asked_tokens:
            reason += (
                f" Estimated at its {context_label(fit.context_tokens)} window: the model cannot "
                f"use the {context_label(asked_tokens)} asked for."
            )
        self.reason.setText(f"<b>Why:</b> {escape(reason)}")

    def _set_legend(self, parts: list[tuple[str, int]]) -> None:
        """One label per non-zero part (labels are reused: no flicker while the slider moves)."""
        shown = [(name, size) for name, size in parts if size > 0]
        while len(self._legend_pool) < len(shown):
            label = QLabel()
            label.setObjectName("legendItem")
            self.legend_layout.insertWidget(len(self._legend_pool), label)
            self._legend_pool.append(label)
        self.legend_labels = self._legend_pool[: len(shown)]
        for label, (name, size) in zip(self.legend_labels, shown, strict=False):
            color = _PART_COLORS.get(name, "#9ca3af")
            label.setText(
                f"<span style='color:{color}; font-size:14px'>■</span> {escape(name)} "
                f"<b>{format_bytes(size)}</b>"
            )
            label.setProperty("part", name)
            label.setProperty("bytes", size)
            label.show()
        for label in self._legend_pool[len(shown) :]:
            label.hide()

    @staticmethod
    def _thinking(variant: Variant, model: CatalogFitModel) -> str:
        text = thinking_switch_reason(variant.thinking_kind)
        twin = model.catalog.find(variant.twin) if variant.twin else None
        if twin is not None:
            text += f" Its twin: {twin.display_name}."
        return f"<b>Thinking:</b> {escape(text)}"

    @staticmethod
    def _where(variant: Variant) -> str:
        licence, licence_tip = LICENCE_WORDS.get(variant.license, (variant.license, ""))
        repo = escape(variant.hf_repo)
        lines = [
            f"<b>Hugging Face:</b> <a href='https://huggingface.co/{repo}'>{repo}</a>",
            "<b>Ollama:</b> "
            + (
                f"<code>{escape(variant.ollama.tag)}</code>"
                if variant.ollama
                else "not in the library"
            ),
            f"<b>Licence:</b> {escape(licence_tip or licence)}",
        ]
        tasks = ", ".join(TASK_WORDS.get(t, t) for t in variant.tasks)
        lines.append(f"<b>For:</b> {escape(tasks)}")
        if not variant.verified:
            lines.append("<i>Catalog figures for this model are unverified estimates.</i>")
        return "<br>".join(lines)


# ------------------------------------------------------------------------------ the page


class ModelsPage(QWidget):
    """The Models page over a :class:`CatalogFitModel` (the page holds no fit logic)."""

    def __init__(self, model: CatalogFitModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPage")
        self.model = model
        self.proxy = CatalogFilterProxy(self)
        self.proxy.setSourceModel(model)
        self._build_filters()
        self._build_settings()
        self._build_table()
        self.details = ModelDetails()
        self._build_layout()
        self._connect()
        self._update_recommended()
        self._update_empty()

    def _build_filters(self) -> None:
        self.task_combo = QComboBox()
        self.task_combo.setObjectName("taskFilter")
        self.task_combo.addItem("All tasks", None)
        for task in TASKS:
            self.task_combo.addItem(TASK_WORDS.get(task, task).capitalize(), task)
        self.size_combo = QComboBox()
        self.size_combo.setObjectName("sizeFilter")
        self.size_combo.setToolTip("Total parameters (mixture-of-experts: all experts)")
        for label, limit in SIZE_LIMITS:
            self.size_combo.addItem(label, limit)
        self.commercial_check = QCheckBox("Commercial use")
        self.commercial_check.setToolTip("Hide models whose licence forbids commercial use")
        self.installed_check = QCheckBox("Installed")
        self.installed_check.setToolTip(INSTALLED_TOOLTIP)
        self.fits_check = QCheckBox("Fits")
        self.fits_check.setToolTip("Hide models too large for this computer at this context")
        self.search = QLineEdit()
        self.search.setObjectName("modelSearch")
        self.search.setPlaceholderText("Search models…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(120)

    def _build_settings(self) -> None:
        self.context = ContextSlider()
        self.engine_combo = QComboBox()
        self.engine_combo.setObjectName("engineCombo")
        for engine, words in ENGINE_WORDS.items():
            self.engine_combo.addItem(words, engine)
        self.quant_combo = QComboBox()
        self.quant_combo.setObjectName("quantCombo")
        self.quant_combo.setToolTip("Weights quantization")
        self.kv_combo = QComboBox()
        self.kv_combo.setObjectName("kvCombo")
        self.kv_combo.setToolTip(
            "KV cache type: q8_0 halves and q4_0 quarters the KV cache (Ollama only)"
        )
        for kv in KV_TYPES:
            self.kv_combo.addItem(kv, kv)
        self._fill_quants()

        self.recommended = QLabel()
        self.recommended.setObjectName("recommendedLine")
        self.recommended.setTextFormat(Qt.TextFormat.RichText)
        self.recommended.linkActivated.connect(self.select_variant)

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setObjectName("catalogTable")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setItemDelegateForColumn(Column.FIT, FitBadgeDelegate(self.table))
        self.table.setItemDelegateForColumn(Column.BREAKDOWN, BreakdownBarDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setHighlightSections(False)
        widths = {
            Column.MODEL: 220,
            Column.SIZE: 130,
            Column.TASKS: 108,
            Column.LICENCE: 92,
            Column.FIT: 152,
            Column.NEEDS: 78,
            Column.BREAKDOWN: 72,
            Column.SPEED: 76,
            Column.MAX_CONTEXT: 140,
            Column.THINKING: 110,
        }
        for column, width in widths.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(Column.MODEL, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        self.table.setSortingEnabled(True)
        self.empty = QLabel("No model matches these filters.")
        self.empty.setObjectName("emptyNotice")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()

    def _build_layout(self) -> None:
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(12, 0, 12, 0)
        table_layout.addWidget(self.table, 1)
        table_layout.addWidget(self.empty)
        scroll = QScrollArea()
        scroll.setObjectName("detailsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.details)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(table_box)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([420, 260])
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self._build_top())
        layout.addWidget(self.splitter, 1)

    def _build_top(self) -> QWidget:
        filters = QHBoxLayout()
        filters.setSpacing(8)
        filters.addWidget(QLabel("Task"))
        filters.addWidget(self.task_combo)
        filters.addWidget(QLabel("Size"))
        filters.addWidget(self.size_combo)
        filters.addSpacing(6)
        filters.addWidget(QLabel("Only:"))
        filters.addWidget(self.commercial_check)
        filters.addWidget(self.installed_check)
        filters.addWidget(self.fits_check)
        filters.addStretch(1)
        filters.addWidget(self.search)
        settings = QHBoxLayout()
        settings.setSpacing(8)
        settings.addWidget(self.context, 1)
        settings.addSpacing(16)
        settings.addWidget(QLabel("Engine"))
        settings.addWidget(self.engine_combo)
        settings.addWidget(QLabel("Weights"))
        settings.addWidget(self.quant_combo)
        settings.addWidget(QLabel("KV cache"))
        settings.addWidget(self.kv_combo)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(12, 10, 12, 4)
        top_layout.setSpacing(8)
        top_layout.addLayout(filters)
        top_layout.addLayout(settings)
        top_layout.addWidget(self.recommended)
        return top

    def _connect(self) -> None:
        self.task_combo.currentIndexChanged.connect(self._on_task_combo_changed)
        self.size_combo.currentIndexChanged.connect(
            lambda i: self._filtered(self.proxy.set_max_parameters, self.size_combo.itemData(i))
        )
        self.commercial_check.toggled.connect(self._on_commercial_check_toggled)
        self.installed_check.toggled.connect(
            lambda on: self._filtered(self.proxy.set_installed_only, on)
        )
        self.fits_check.toggled.connect(lambda on: self._filtered(self.proxy.set_fits_only, on))
        self.search.textChanged.connect(lambda text: self._filtered(self.proxy.set_search, text))
        self.context.context_changed.connect(self.model.set_context_tokens)
        self.engine_combo.currentIndexChanged.connect(self._on_engine_combo_changed)
        self.quant_combo.currentIndexChanged.connect(self._on_quant_combo_changed)
        self.kv_combo.currentIndexChanged.connect(self._on_kv_combo_changed)
        self.model.fits_changed.connect(self._on_model_fits_changed)
        self.proxy.rowsInserted.connect(self._update_empty)
        self.proxy.rowsRemoved.connect(self._update_empty)
        self.proxy.modelReset.connect(self._update_empty)
        self.proxy.layoutChanged.connect(self._update_empty)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_changed)

    # -- actions --------------------------------------------------------------------------------

    def select_variant(self, variant_id: str) -> bool:
        """Select the row of ``variant_id`` (clearing filters that hide it); False if unknown."""
        row = self.model.row_of(variant_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.search.clear()
            self.size_combo.setCurrentIndex(0)
            self.installed_check.setChecked(False)
            self.fits_check.setChecked(False)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.task_combo.setCurrentIndex(0)
            self.commercial_check.setChecked(False)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        return True

    def current_variant(self) -> Variant | None:
        """The selected row's variant, or ``None``."""
        index = self.table.currentIndex()
        return self.proxy.variant_at(index) if index.isValid() else None

    # -- events ---------------------------------------------------------------------------------

    def _filtered(self, setter: object, value: object) -> None:
        setter(value)  # type: ignore[operator]
        self._update_empty()
        self._refresh_details()

    def _on_task_combo_changed(self, index: int) -> None:
        self._filtered(self.proxy.set_task, self.task_combo.itemData(index))
        self._update_recommended()

    def _on_commercial_check_toggled(self, on: bool) -> None:
        self._filtered(self.proxy.set_commercial_only, on)
        self._update_recommended()

    def _fill_quants(self) -> None:
        engine = self.engine_combo.currentData() or "ollama"
        self.quant_combo.blockSignals(True)
        self.quant_combo.clear()
        for quant in quant_names(engine):
            self.quant_combo.addItem(quant, quant)
        self.quant_combo.setCurrentIndex(
            max(0, self.quant_combo.findData(self.model.settings.quant))
        )
        self.quant_combo.blockSignals(False)
        ollama = engine == "ollama"
        self.kv_combo.setEnabled(ollama)
        if not ollama:
            self.kv_combo.blockSignals(True)
            self.kv_combo.setCurrentIndex(0)
            self.kv_combo.blockSignals(False)

    def _on_engine_combo_changed(self, index: int) -> None:
        self.model.set_engine(self.engine_combo.itemData(index))
        self._fill_quants()

    def _on_quant_combo_changed(self, index: int) -> None:
        quant = self.quant_combo.itemData(index)
        if quant:
            self.model.set_quant(quant)

    def _on_kv_combo_changed(self, index: int) -> None:
        self.model.set_kv_type(self.kv_combo.itemData(index))

    def _on_model_fits_changed(self) -> None:
        self._refresh_details()
        self._update_recommended()
        self._update_empty()

    def _on_table_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._refresh_details()

    def _refresh_details(self) -> None:
        index = self.table.currentIndex()
        if not index.isValid():
            self.details.show_model(None, None, None, 0)
            return
        row = self.proxy.mapToSource(index).row()
        self.details.show_model(
            self.model.variant(row), self.model.fit(row), self.model, self.model.context_tokens
        )

    def _update_empty(self) -> None:
        self.empty.setVisible(self.proxy.rowCount() == 0)

    def _update_recommended(self) -> None:
        task = self.task_combo.currentData() or "chat"
        rec = self.model.recommendation(task, commercial_only=self.commercial_check.isChecked())
        words = TASK_WORDS.get(task, task)
        if self.model.machine is None:
            self.recommended.setText(
                f"<span style='color:gray'>Recommended for {escape(words)}: scanning this "
                "computer…</span>"
            )
            return
        if rec is None:
            self.recommended.setText(f"Nothing to recommend for {escape(words)}.")
            return
        fit = rec.fit
        badge = VERDICT_BADGES[fit.verdict.value]
        speed = (
            f", {speed_label(fit.tokens_per_second_estimate)}"
            if fit.tokens_per_second_estimate
            else ""
        )
        phrase = VERDICT_PHRASES[fit.verdict.value]
        self.recommended.setText(
            f"Recommended for {escape(words)} on this computer: "
            f"<a href='{escape(rec.variant.id)}'><b>{escape(rec.variant.display_name)}</b></a>"
            f" <span style='color:{badge.color}'>· {escape(phrase)}{escape(speed)}</span>"
        )
        self.recommended.setToolTip(rec.reason)
        if not self.table.currentIndex().isValid():
            self.select_variant(rec.variant.id)
