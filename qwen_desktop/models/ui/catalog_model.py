"""The catalog as a Qt table: one row per variant with its fit on a machine, and its filters.

:class:`CatalogFitModel` holds one :class:`~qwen_desktop.core.fit.FitEstimate` per catalog
variant for the current machine, context length, engine, quantization and KV cache type. Changing
one of these recomputes every row (the whole catalog takes a few milliseconds, see
``bench/bench_fit_speed.py``) and emits ``dataChanged`` for the cells whose text, sort key or
tooltip changed, never ``modelReset``: views keep their selection and scroll position while the
context slider moves.

:class:`CatalogFilterProxy` filters rows by task, size, licence, installed state, fit and a text
search, and sorts by :data:`SORT_ROLE` (numbers where the column is a number).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor

from qwen_desktop.core.catalog import Catalog, Variant
from qwen_desktop.core.fit import (
    BANDWIDTH_EFFICIENCY,
    DEFAULT_GPU_BANDWIDTH_BYTES_PER_SECOND,
    FitEstimate,
    FitVerdict,
    context_label,
    default_quant,
    estimate_fit,
    gpu_bandwidth_bytes_per_second,
    max_context_label,
    normalize_quant,
    speed_label,
)
from qwen_desktop.core.fit_devices import (
    cpu_bandwidth_bytes_per_second,
    cpu_effective_bandwidth,
    engine_gpu_pools,
)
from qwen_desktop.core.fit_engines import check_engine, kv_bytes_per_element, model_weights
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurements import Measurement
from qwen_desktop.core.recommend import Recommendation, recommend
from qwen_desktop.core.units import format_bytes

ModelIndex = QModelIndex | QPersistentModelIndex

SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 1
"""A number (or lower-case text) to sort a column by."""
VARIANT_ROLE = SORT_ROLE + 1
"""The row's :class:`~qwen_desktop.core.catalog.Variant`."""
FIT_ROLE = SORT_ROLE + 2
"""The row's :class:`~qwen_desktop.core.fit.FitEstimate`, or ``None`` before a machine is known."""
BADGE_COLOR_ROLE = SORT_ROLE + 3
"""Fit column: the badge's background :class:`QColor`."""
INSTALLED_ROLE = SORT_ROLE + 4
"""``True`` when the variant is installed (per the installed predicate)."""
BREAKDOWN_ROLE = SORT_ROLE + 5
"""Breakdown column: ``[(part name, bytes), …]`` in :data:`BREAKDOWN_PARTS` order."""

CONTEXT_STEPS: tuple[int, ...] = tuple(2**k * 1024 for k in range(1, 9))
"""Context lengths the slider offers (tokens): 2K, 4K, … 256K (powers of two)."""
DEFAULT_CONTEXT_TOKENS = 8192


class Column(enum.IntEnum):
    """The table's columns."""

    MODEL = 0
    SIZE = 1
    TASKS = 2
    LICENCE = 3
    FIT = 4
    NEEDS = 5
    BREAKDOWN = 6
    SPEED = 7
    MAX_CONTEXT = 8
    THINKING = 9


HEADERS: dict[Column, tuple[str, str]] = {
    Column.MODEL: ("Model", "The model's name (✓: installed)"),
    Column.SIZE: ("Size", "Parameters; mixture-of-experts models also show those used per token"),
    Column.TASKS: ("Tasks", "What the model is recommended for"),
    Column.LICENCE: ("Licence", "Licence of the weights"),
    Column.FIT: ("Fit", "Where it runs on this computer at the chosen context window"),
    Column.NEEDS: ("Needs", "Memory needed in all at the chosen context window"),
    Column.BREAKDOWN: ("Memory", "Weights / KV cache / compute graph / vision / fixed overhead"),
    Column.SPEED: ("Speed", "Estimated generation speed (tokens per second)"),
    Column.MAX_CONTEXT: (
        "Max context",
        "The largest context window that fits: on the GPU / on GPU and CPU together / on the CPU",
    ),
    Column.THINKING: ("Thinking", "Whether the model thinks before answering"),
}

FIT_COLUMNS = (
    Column.FIT,
    Column.NEEDS,
    Column.BREAKDOWN,
    Column.SPEED,
    Column.MAX_CONTEXT,
)
"""Columns that change with the machine, context, engine, quantization and KV type."""


@dataclass(frozen=True)
class Badge:
    """A verdict as a badge: short text and colour (a hex colour readable under white text)."""

    text: str
    color: str


VERDICT_BADGES: dict[str, Badge] = {
    FitVerdict.FULL_GPU.value: Badge("Runs on GPU", "#1b7f3b"),
    FitVerdict.PARTIAL_GPU.value: Badge("Partly on GPU", "#9a6700"),
    FitVerdict.CPU_ONLY.value: Badge("Runs on CPU", "#0b5cad"),
    FitVerdict.WONT_FIT.value: Badge("Too large", "#b42318"),
}
UNKNOWN_BADGE = Badge("Scanning…", "#6b7280")

VERDICT_RANK = {
    FitVerdict.FULL_GPU: 0,
    FitVerdict.PARTIAL_GPU: 1,
    FitVerdict.CPU_ONLY: 2,
    FitVerdict.WONT_FIT: 3,
}

BREAKDOWN_PARTS: tuple[tuple[str, str], ...] = (
    ("weights", "#3b82f6"),
    ("KV cache", "#f59e0b"),
    ("compute graph", "#8b5cf6"),
    ("vision tower", "#ec4899"),
    ("fixed overhead", "#9ca3af"),
)
"""Parts of the memory breakdown and their colours (the table's bars and the details pane)."""

TASK_WORDS = {
    "chat": "chat",
    "code": "code",
    "math": "math",
    "vision": "images",
    "reasoning": "reasoning",
}
LICENCE_WORDS = {
    "apache-2.0": ("Apache-2.0", "Apache License 2.0: commercial use allowed."),
    "qwen": (
        "Qwen",
        "Qwen licence: commercial use allowed below 100 million monthly active users.",
    ),
    "qwen-research": ("Research only", "Qwen Research licence: no commercial use."),
}
THINKING_WORDS = {
    "hybrid": "thinking on/off",
    "thinking-only": "always thinks",
    "instruct-only": "answers directly",
}
ENGINE_WORDS = {"ollama": "Ollama (GGUF)", "transformers": "Transformers"}
VERDICT_PHRASES = {
    FitVerdict.FULL_GPU.value: "runs fully on the GPU",
    FitVerdict.PARTIAL_GPU.value: "runs partly on the GPU",
    FitVerdict.CPU_ONLY.value: "runs on the CPU",
    FitVerdict.WONT_FIT.value: "too large",
}


def parameters_label(count: float) -> str:
    """``8.2B``, ``600M``: a parameter count as people say it."""
    if count >= 100e9:
        return f"{count / 1e9:.0f}B"
    if count >= 1e9:
        return f"{count / 1e9:.1f}B".replace(".0B", "B")
    return f"{count / 1e6:.0f}M"


def breakdown_parts(fit: FitEstimate) -> list[tuple[str, int]]:
    """The memory breakdown of ``fit`` as ``(part name, bytes)`` in :data:`BREAKDOWN_PARTS` order.

    The compute part is called "activations" for the Transformers engine.
    """
    parts = fit.breakdown
    compute = "compute graph" if fit.engine == "ollama" else "activations"
    return [
        ("weights", parts.weights_bytes),
        ("KV cache", parts.kv_cache_bytes),
        (compute, parts.compute_bytes),
        ("vision tower", parts.vision_bytes),
        ("fixed overhead", parts.overhead_bytes),
    ]


def _ways(fit: FitEstimate, machine: MachineReport | None) -> list[tuple[str, int | None]]:
    """The ways of running that exist on ``machine`` for the fit's engine, with their limits."""
    limits = fit.max_context
    if limits is None:
        return []
    pools = engine_gpu_pools(machine, fit.engine) if machine is not None else []
    ways: list[tuple[str, int | None]] = []
    if pools:
        ways.append(("GPU", limits.full_gpu))
    if any(not pool.unified for pool in pools) and fit.engine == "ollama":
        ways.append(("GPU+CPU", limits.partial_gpu))
    ways.append(("CPU", limits.cpu_only))
    return ways


def max_context_phrase(fit: FitEstimate, machine: MachineReport | None = None) -> str:
    """``GPU up to 8.8K, GPU+CPU up to 40K, CPU up to 40K``: the largest context each way of
    running fits (ways that never fit say so; a machine without a usable GPU says that)."""
    ways = _ways(fit, machine)
    if not ways:
        return ""
    words = [
        f"{name} up to {max_context_label(tokens)}" if tokens else f"{name}: does not fit"
        for name, tokens in ways
    ]
    limits = fit.max_context
    if limits is not None and limits.experts_on_cpu is not None:
        words.append(f"with the experts in RAM up to {max_context_label(limits.experts_on_cpu)}")
    phrase = ", ".join(words)
    if len(ways) == 1:
        phrase += " (no GPU the engine can use)"
    return phrase


def _short_context(tokens: int | None) -> str:
    if not tokens:
        return "—"
    return str(tokens) if tokens < 1024 else max_context_label(tokens)


def max_context_cell(fit: FitEstimate, machine: MachineReport | None) -> str:
    """The table's short form: ``8.8K / 40K / 40K`` (GPU / GPU+CPU / CPU), ``CPU 40K`` without
    a usable GPU, ``GPU 12K / CPU 12K`` with unified memory only."""
    ways = _ways(fit, machine)
    short = {name: _short_context(tokens) for name, tokens in ways}
    if len(ways) == 3:
        return " / ".join(short.values())
    return " / ".join(f"{name} {value}" for name, value in short.items())


def speed_basis(variant: Variant, fit: FitEstimate, machine: MachineReport) -> str:
    """How the speed figure was obtained, in plain words (measured, or the bandwidth estimate:
    bytes read per token and each device's bandwidth with its source)."""
    if fit.tokens_per_second_estimate is None:
        return "No speed: the model does not fit at this context window."
    if fit.measurement is not None:
        scaled = context_label(fit.context_tokens)
        return (
            f"Measured: {fit.measurement.describe()}, scaled to {scaled} of context by the "
            "bandwidth model."
        )
    weights = model_weights(variant, fit.engine, fit.quant)
    per_token = weights.active_bytes + fit.kv_cache_bytes / 2
    moe = " (MoE: only the experts in use)" if variant.is_moe else ""
    devices = []
    for use in fit.devices:
        if use.kind == "gpu":
            gpu = next((g for g in machine.gpus if g.name == use.name), None)
            if gpu is None:
                continue
            peak = gpu_bandwidth_bytes_per_second(gpu)
            assumed = peak == DEFAULT_GPU_BANDWIDTH_BYTES_PER_SECOND.get(gpu.vendor, 100e9)
            origin = "assumed: not in the spec table" if assumed else "spec sheet"
            devices.append(f"{use.name} {peak / 1e9:.0f} GB/s peak ({origin})")
        else:
            peak = cpu_bandwidth_bytes_per_second(machine)
            method = machine.cpu.memory_bandwidth_method
            origin = {"measured": "measured", "table": "table"}.get(method or "", "assumed")
            effective = cpu_effective_bandwidth(machine)
            devices.append(
                f"RAM {peak / 1e9:.1f} GB/s peak ({origin}), {effective / 1e9:.1f} GB/s usable "
                "by the CPU cores"
            )
    where = "; ".join(devices) if devices else "this machine's memory"
    return (
        f"Estimate from memory bandwidth: each new token reads about "
        f"{per_token / 1e9:.1f} GB (weights in use{moe} and half the KV cache). {where}. "
        f"Decoding reaches about {BANDWIDTH_EFFICIENCY:.0%} of peak bandwidth."
    )


@dataclass(frozen=True)
class _Cell:
    display: str
    sort: float | str
    tooltip: str = ""
    key: tuple[int, ...] = ()
    """Exact figures behind the cell (a bar's proportions can change while its text stays)."""


@dataclass(frozen=True)
class FitSettings:
    """What every row is estimated for.

    Attributes:
        context_tokens: Context window asked for (tokens); each variant is estimated at
            ``min(context_tokens, its window)``.
        engine: ``ollama`` or ``transformers``.
        quant: Quantization (canonical for the engine).
        kv_type: KV cache type (``f16``, ``q8_0``, ``q4_0``; Transformers: ``f16``).
    """

    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    engine: str = "ollama"
    quant: str = "Q4_K_M"
    kv_type: str = "f16"


MeasurementLookup = Callable[[MachineReport, str, str], Mapping[str, Measurement]]
"""``(machine, engine, quant) → {variant id: latest measurement}`` (services.advisor)."""


class CatalogFitModel(QAbstractTableModel):
    """One row per catalog variant, with its fit on the current machine (see the module doc).

    Args:
        catalog: The catalog (rows in its order).
        machine: The hardware report; ``None`` until the scan ends (fit cells say "Scanning…").
        installed: Predicate telling whether a variant is installed; default: none is (the
            download manager comes later).
        measurements: Looks up measured speeds for a machine, engine and quantization; called when
            one of those changes (not when the context does).

    Signals:
        fits_changed(): Every row's fit was recomputed (after the ``dataChanged`` signals).
        settings_changed(object): The new :class:`FitSettings`.
    """

    fits_changed = Signal()
    settings_changed = Signal(object)

    def __init__(
        self,
        catalog: Catalog,
        machine: MachineReport | None = None,
        *,
        installed: Callable[[Variant], bool] | None = None,
        measurements: MeasurementLookup | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self._variants: tuple[Variant, ...] = catalog.variants
        self._machine = machine
        self._settings = FitSettings()
        self._installed = installed or (lambda _variant: False)
        self._lookup = measurements
        self._measurements: Mapping[str, Measurement] = {}
        self._static = [self._static_cells(v) for v in self._variants]
        self._fits: list[FitEstimate | None] = [None] * len(self._variants)
        self._cells: list[dict[Column, _Cell]] = [self._fit_cells(v, None) for v in self._variants]
        self.last_recompute_seconds = 0.0
        if machine is not None:
            self._reload_measurements()
            self._recompute()

    # -- settings ------------------------------------------------------------------------------

    @property
    def machine(self) -> MachineReport | None:
        """The machine the fits are for."""
        return self._machine

    @property
    def settings(self) -> FitSettings:
        """The current context, engine, quantization and KV type."""
        return self._settings

    @property
    def context_tokens(self) -> int:
        """The context window asked for (tokens)."""
        return self._settings.context_tokens

    def set_machine(self, machine: MachineReport | None) -> None:
        """Estimate for another machine (a fresh scan or a saved profile)."""
        self._machine = machine
        self._reload_measurements()
        self._recompute()

    def set_context_tokens(self, tokens: int) -> None:
        """Estimate at another context window (tokens, > 0; capped per variant at its window).

        Raises:
            ValueError: ``tokens`` ≤ 0.
        """
        if tokens <= 0:
            raise ValueError("context_tokens must be positive")
        self._update(context_tokens=tokens)

    def set_quant(self, quant: str) -> None:
        """Estimate at another quantization of the current engine.

        Raises:
            ValueError: The engine does not offer ``quant``.
        """
        self._update(quant=normalize_quant(quant, self._settings.engine))

    def set_engine(self, engine: str, quant: str | None = None) -> None:
        """Estimate for another engine, at ``quant`` or the engine's default quantization.

        The Transformers engine keeps its KV cache at the compute dtype, so the KV type becomes
        ``f16`` (meaning "unquantized") there.

        Raises:
            ValueError: Unknown engine, or a quantization it does not offer.
        """
        engine = check_engine(engine)
        quant = normalize_quant(quant or default_quant(engine), engine)
        kv_type = self._settings.kv_type if engine == "ollama" else "f16"
        self._update(engine=engine, quant=quant, kv_type=kv_type)

    def set_kv_type(self, kv_type: str) -> None:
        """Estimate with another KV cache type (``f16``, ``q8_0``, ``q4_0``).

        Raises:
            ValueError: Unknown type, or a quantized cache with the Transformers engine.
        """
        kv_bytes_per_element(self._settings.engine, self._settings.quant, kv_type)  # validates
        self._update(kv_type=kv_type)

    def set_installed_predicate(self, installed: Callable[[Variant], bool]) -> None:
        """Tell installed variants by another predicate (refreshes the model column)."""
        self._installed = installed
        if self._variants:
            self.dataChanged.emit(
                self.index(0, Column.MODEL),
                self.index(len(self._variants) - 1, Column.MODEL),
                [Qt.ItemDataRole.DisplayRole, INSTALLED_ROLE],
            )

    def _update(self, **changes: Any) -> None:
        old = self._settings
        new = FitSettings(**{**old.__dict__, **changes})
        if new == old:
            return
        self._settings = new
        if (new.engine, new.quant) != (old.engine, old.quant):
            self._reload_measurements()
        self._recompute()
        self.settings_changed.emit(new)

    def _reload_measurements(self) -> None:
        self._measurements = {}
        if self._lookup is not None and self._machine is not None:
            self._measurements = self._lookup(
                self._machine, self._settings.engine, self._settings.quant
            )

    # -- lookups --------------------------------------------------------------------------------

    def variant(self, row: int) -> Variant:
        """The variant of ``row``."""
        return self._variants[row]

    def fit(self, row: int) -> FitEstimate | None:
        """The fit estimate of ``row`` (``None`` before a machine is known)."""
        return self._fits[row]

    def row_of(self, variant_id: str) -> int:
        """The row of the variant with this id, or -1."""
        return next((i for i, v in enumerate(self._variants) if v.id == variant_id), -1)

    def is_installed(self, variant: Variant) -> bool:
        """What the installed predicate says of ``variant``."""
        return bool(self._installed(variant))

    def effective_context(self, variant: Variant) -> int:
        """The context ``variant`` is estimated at: the asked one, capped at its window."""
        return min(self._settings.context_tokens, variant.context_tokens)

    def recommendation(self, task: str, *, commercial_only: bool = False) -> Recommendation | None:
        """The best variant for ``task`` on the machine at the current settings, or ``None``."""
        if self._machine is None:
            return None
        s = self._settings
        ranked = recommend(
            self.catalog,
            self._machine,
            task,
            quant=s.quant,
            context_tokens=s.context_tokens,
            commercial_only=commercial_only,
            limit=1,
            engine=s.engine,
            kv_type=s.kv_type,
            measurements=self._measurements,
        )
        return ranked[0] if ranked else None

    # -- Qt model -------------------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._variants)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        title, tip = HEADERS[Column(section)]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), Column(index.column())
        variant = self._variants[row]
        if role == VARIANT_ROLE:
            return variant
        if role == FIT_ROLE:
            return self._fits[row]
        if role == INSTALLED_ROLE:
            return self.is_installed(variant)
        cell = self._cells[row].get(column) or self._static[row][column]
        if role == Qt.ItemDataRole.DisplayRole:
            if column is Column.MODEL and self.is_installed(variant):
                return f"{cell.display}  ✓"
            return cell.display
        if role == SORT_ROLE:
            return cell.sort
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell.tooltip or None
        if role == BADGE_COLOR_ROLE and column is Column.FIT:
            return QColor(self._badge(self._fits[row]).color)
        if role == BREAKDOWN_ROLE and column is Column.BREAKDOWN:
            fit = self._fits[row]
            return breakdown_parts(fit) if fit is not None else []
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            Column.SIZE,
            Column.NEEDS,
            Column.SPEED,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # -- cells ----------------------------------------------------------------------------------

    @staticmethod
    def _static_cells(variant: Variant) -> dict[Column, _Cell]:
        size = parameters_label(variant.parameters)
        size_tip = f"{variant.parameters:,} parameters"
        if variant.active_parameters is not None:
            size = f"{size} ({parameters_label(variant.active_parameters)} active)"
            size_tip += (
                f"; mixture of experts: {variant.active_parameters:,} used per token, all held "
                "in memory"
            )
        licence, licence_tip = LICENCE_WORDS.get(variant.license, (variant.license, ""))
        if not variant.license_verified:
            licence_tip += " (not confirmed by the catalog's sources)"
        kind = variant.thinking_kind.value
        return {
            Column.MODEL: _Cell(
                variant.display_name, variant.display_name.lower(), variant.hf_repo
            ),
            Column.SIZE: _Cell(size, float(variant.parameters), size_tip),
            Column.TASKS: _Cell(
                ", ".join(TASK_WORDS.get(t, t) for t in variant.tasks),
                ",".join(variant.tasks),
            ),
            Column.LICENCE: _Cell(licence, licence.lower(), licence_tip),
            Column.THINKING: _Cell(THINKING_WORDS.get(kind, kind), kind),
        }

    @staticmethod
    def _badge(fit: FitEstimate | None) -> Badge:
        if fit is None:
            return UNKNOWN_BADGE
        return VERDICT_BADGES[fit.verdict.value]

    def _fit_cells(self, variant: Variant, fit: FitEstimate | None) -> dict[Column, _Cell]:
        if fit is None:
            waiting = _Cell("…", -1.0, "Waiting for the hardware scan")
            cells = dict.fromkeys(FIT_COLUMNS, waiting)
            cells[Column.FIT] = _Cell(UNKNOWN_BADGE.text, 99.0, waiting.tooltip)
            return cells
        badge = self._badge(fit).text
        if fit.verdict is FitVerdict.PARTIAL_GPU:
            badge = f"GPU {fit.gpu_layers}/{fit.total_layers} layers"
        if fit.tight:
            badge += " · tight"
        rank = VERDICT_RANK[fit.verdict] * 10 + (1 if fit.tight else 0)
        reason = fit.reason
        asked = self._settings.context_tokens
        if fit.context_tokens < asked:
            reason += (
                f" (Estimated at its {context_label(fit.context_tokens)} window: the model "
                "cannot use more.)"
            )
        parts = breakdown_parts(fit)
        breakdown = "\n".join(f"{name}: {format_bytes(size)}" for name, size in parts if size)
        breakdown += f"\nin all: {format_bytes(fit.total_bytes)}"
        speed = fit.tokens_per_second_estimate
        if speed is None:
            speed_cell = _Cell("—", -1.0, "Does not fit at this context window")
        else:
            shown = f"{speed:.1f}" if speed < 10 else f"{speed:.0f}"
            measured = fit.measurement is not None
            speed_cell = _Cell(
                f"{shown} tok/s" + (" ✓" if measured else ""),
                float(speed),
                ("Measured on this machine, " if measured else "Estimated: ") + speed_label(speed),
            )
        best = max((t for _, t in _ways(fit, self._machine) if t), default=0)
        return {
            Column.FIT: _Cell(badge, float(rank), reason),
            Column.NEEDS: _Cell(
                format_bytes(fit.total_bytes),
                float(fit.total_bytes),
                f"Needs {format_bytes(fit.total_bytes)} at "
                f"{context_label(fit.context_tokens)} context",
            ),
            Column.BREAKDOWN: _Cell(
                " · ".join(f"{name} {format_bytes(size)}" for name, size in parts if size),
                float(fit.total_bytes),
                breakdown,
                tuple(size for _, size in parts),
            ),
            Column.SPEED: speed_cell,
            Column.MAX_CONTEXT: _Cell(
                max_context_cell(fit, self._machine),
                float(best),
                max_context_phrase(fit, self._machine),
            ),
        }

    def _estimate(self, variant: Variant) -> FitEstimate | None:
        if self._machine is None:
            return None
        s = self._settings
        measured = self._measurements.get(variant.id)
        if measured is not None and not measured.matches(variant.id, s.engine, s.quant):
            measured = None
        return estimate_fit(
            variant,
            self._machine,
            quant=s.quant,
            context_tokens=self.effective_context(variant),
            kv_type=s.kv_type,
            engine=s.engine,
            measurement=measured,
        )

    def _recompute(self) -> None:
        started = time.perf_counter()
        fits = [self._estimate(v) for v in self._variants]
        cells = [self._fit_cells(v, f) for v, f in zip(self._variants, fits, strict=True)]
        changed: dict[Column, list[int]] = {c: [] for c in FIT_COLUMNS}
        for row, (old, new) in enumerate(zip(self._cells, cells, strict=True)):
            for column in FIT_COLUMNS:
                if old[column] != new[column]:
                    changed[column].append(row)
        self._fits, self._cells = fits, cells
        self.last_recompute_seconds = time.perf_counter() - started
        for column, rows in changed.items():
            for first, last in _runs(rows):
                self.dataChanged.emit(self.index(first, column), self.index(last, column))
        self.fits_changed.emit()


def _runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted row numbers: ``[1, 2, 3, 7]`` → ``[(1, 3), (7, 7)]``."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


SIZE_LIMITS: tuple[tuple[str, int | None], ...] = (
    ("Any size", None),
    ("Up to 3B", 3_500_000_000),
    ("Up to 5B", 5_000_000_000),
    ("Up to 10B", 10_000_000_000),
    ("Up to 15B", 15_000_000_000),
    ("Up to 35B", 35_000_000_000),
)
"""Size filter choices: label and the most total parameters allowed (MoE: all experts)."""


class CatalogFilterProxy(QSortFilterProxyModel):
    """Filters a :class:`CatalogFitModel` by task, size, licence, installed state, fit and text;
    sorts by :data:`SORT_ROLE`. Every filter is off by default."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.task: str | None = None
        self.max_parameters: int | None = None
        self.commercial_only = False
        self.installed_only = False
        self.fits_only = False
        self.search_words: tuple[str, ...] = ()
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_task(self, task: str | None) -> None:
        """Only variants recommended for ``task`` (``None``: all)."""
        self.task = task or None
        self._refilter()

    def set_max_parameters(self, limit: int | None) -> None:
        """Only variants with at most ``limit`` total parameters (``None``: any size)."""
        self.max_parameters = limit
        self._refilter()

    def set_commercial_only(self, on: bool) -> None:
        """Only variants whose licence allows commercial use."""
        self.commercial_only = on
        self._refilter()

    def set_installed_only(self, on: bool) -> None:
        """Only installed variants (per the source model's installed predicate)."""
        self.installed_only = on
        self._refilter()

    def set_fits_only(self, on: bool) -> None:
        """Hide variants that do not fit at the current context (updates as the fit changes)."""
        self.fits_only = on
        self._refilter()

    def set_search(self, text: str) -> None:
        """Only variants whose name, id, repository, Ollama tag or family contain every word."""
        self.search_words = tuple(text.lower().split())
        self._refilter()

    def _refilter(self) -> None:
        # Qt 6.10 deprecates invalidateFilter() for begin/endFilterChange().
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            self.invalidateFilter()

    def source(self) -> CatalogFitModel:
        """The source model."""
        model = self.sourceModel()
        assert isinstance(model, CatalogFitModel)
        return model

    def variant_at(self, index: QModelIndex) -> Variant:
        """The variant of a proxy index."""
        return self.source().variant(self.mapToSource(index).row())

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.source()
        variant = model.variant(source_row)
        if self.task is not None and self.task not in variant.tasks:
            return False
        if self.max_parameters is not None and variant.parameters > self.max_parameters:
            return False
        if self.commercial_only and not variant.commercial_use:
            return False
        if self.installed_only and not model.is_installed(variant):
            return False
        if self.fits_only:
            fit = model.fit(source_row)
            if fit is not None and not fit.fits:
                return False
        if self.search_words:
            haystack = " ".join(
                [
                    variant.display_name,
                    variant.id,
                    variant.hf_repo,
                    variant.family,
                    variant.ollama.tag if variant.ollama else "",
                ]
            ).lower()
            if not all(word in haystack for word in self.search_words):
                return False
        return True

    def lessThan(self, left: ModelIndex, right: ModelIndex) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if isinstance(a, str) != isinstance(b, str):
            return str(a) < str(b)
        if a == b:  # stable and meaningful: then by name
            model = self.source()
            return (
                model.variant(left.row()).display_name.lower()
                < model.variant(right.row()).display_name.lower()
            )
        return bool(a < b)
