"""Qt face of the resource sampler: samples, explanations and the health check as signals.

The controller runs :meth:`ResourceSampler.run <qwen_desktop.monitor.sampler.ResourceSampler.run>`
on the qasync loop, keeps five minutes of samples, and after each sample re-evaluates the
explanation rules (:func:`~qwen_desktop.core.explanations.explain`) with what it was told about
the engine, the loaded model and the estimate. The window tells it what is shown
(:meth:`MonitorController.set_shown`): the dock samples at 1 Hz, the status-bar summary alone
every 5 s, and nothing is sampled while the window is minimised.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from qwen_desktop.core.explanations import EngineFacts, Explanation, ModelPlacement, explain
from qwen_desktop.core.samples import Sample
from qwen_desktop.core.types import Usage
from qwen_desktop.monitor.health import HealthReport, LastAnswer, build_report
from qwen_desktop.monitor.sampler import (
    DEFAULT_INTERVAL_S,
    SLOW_INTERVAL_S,
    ResourceSampler,
    SampleHistory,
)
from qwen_desktop.uikit.tasks import TaskGroup

log = logging.getLogger(__name__)

EXPLAIN_WINDOW_S = 60.0
"""Seconds of samples the explanation rules look at."""


class MonitorController(QObject):
    """Samples the machine and says what its figures mean.

    Args:
        sampler: The sampler (its sources injected by the composition root or a test).

    Signals:
        sample_taken(object): A new :class:`~qwen_desktop.core.samples.Sample`.
        explanations_changed(object): The list of :class:`Explanation` now applying (emitted
            when the set of kinds or any message changes).
        health_changed(object): A new :class:`~qwen_desktop.monitor.health.HealthReport`.
        failed(str): Sampling stopped on an unexpected error (a bug; the message says which).
    """

    sample_taken = Signal(object)
    explanations_changed = Signal(object)
    health_changed = Signal(object)
    failed = Signal(str)

    def __init__(self, sampler: ResourceSampler, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sampler = sampler
        self.history = SampleHistory()
        self.explanations: list[Explanation] = []
        self.engine: EngineFacts | None = None
        self.placement: ModelPlacement | None = None
        self.model_name: str | None = None
        self.estimate_tokens_per_second: float | None = None
        self.last_answer: LastAnswer | None = None
        self.health: HealthReport | None = None
        self._tasks = TaskGroup(self._on_task_failed)
        self._running = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start sampling on the running event loop (no-op when already running)."""
        if self._running:
            return
        self._running = True
        self._tasks.start(self.sampler.run(self.add_sample))

    @property
    def running(self) -> bool:
        """True while the sampling loop runs."""
        return self._running

    def set_shown(self, dock: bool, summary: bool = True) -> None:
        """What shows the figures: the dock (1 Hz), only the summary (every 5 s), or nothing
        (paused)."""
        if dock:
            self.sampler.set_interval(DEFAULT_INTERVAL_S)
            self.sampler.resume()
        elif summary:
            self.sampler.set_interval(SLOW_INTERVAL_S)
            self.sampler.resume()
        else:
            self.sampler.pause()

    async def shutdown(self) -> None:
        """Stop sampling and release NVML (window closing)."""
        await self._tasks.cancel_and_wait()
        self._running = False
        self.sampler.close()

    def _on_task_failed(self, exc: BaseException) -> None:
        self._running = False
        self.failed.emit(f"Resource monitoring stopped: {exc}")

    # -- what the caller feeds ---------------------------------------------------------------------

    def add_sample(self, sample: Sample) -> None:
        """Take one sample (the sampling loop calls this; tests call it with recorded ones)."""
        self.history.add(sample)
        self._reexplain()  # first, so that views drawing the sample know what applies
        self.sample_taken.emit(sample)

    def answer_started(self) -> None:
        """An answer began streaming."""
        self.sampler.tokens.start()

    def tokens_received(self, _text: str = "") -> None:
        """One more streamed token (each thinking or answer delta is one token)."""
        self.sampler.tokens.add()

    def answer_finished(self, usage: Usage) -> None:
        """The answer ended with its measured timings."""
        self.sampler.tokens.stop()
        if self.model_name is not None and usage.tokens_per_second > 0:
            self.last_answer = LastAnswer(
                self.model_name, usage.tokens_per_second, usage.ttft_seconds
            )
        self._refresh_health()
        self._reexplain()

    def answer_ended(self, *_args: object) -> None:
        """The answer was stopped or failed (no timings)."""
        self.sampler.tokens.stop()

    def set_model(
        self,
        name: str | None,
        engine: EngineFacts | None,
        *,
        placement: ModelPlacement | None = None,
        estimate_tokens_per_second: float | None = None,
    ) -> None:
        """The loaded model, its engine and where it runs, and the fit estimate for it here."""
        self.model_name = name
        self.engine = engine
        self.placement = placement
        self.estimate_tokens_per_second = estimate_tokens_per_second
        self.last_answer = None
        self._refresh_health()
        self._reexplain()

    # -- derived ---------------------------------------------------------------------------------

    def _refresh_health(self) -> None:
        engine = self.engine
        self.health = build_report(
            engine=engine.name if engine is not None else None,
            engine_alive=True if engine is not None else None,
            engine_detail=_engine_detail(engine),
            loaded_models=[self.model_name] if self.model_name else [],
            last=self.last_answer,
            estimate_tokens_per_second=self.estimate_tokens_per_second,
        )
        self.health_changed.emit(self.health)

    def _reexplain(self) -> None:
        # Only finished answers judge the speed: a running one ramps up and would flap.
        measured = self.last_answer.tokens_per_second if self.last_answer is not None else None
        found = explain(
            self.history.window(EXPLAIN_WINDOW_S),
            placement=self.placement,
            engine=self.engine,
            measured_tokens_per_second=measured,
            estimated_tokens_per_second=self.estimate_tokens_per_second,
        )
        if found != self.explanations:
            self.explanations = found
            self.explanations_changed.emit(found)


def _engine_detail(engine: EngineFacts | None) -> str:
    if engine is None:
        return "No engine has loaded a model yet."
    device = engine.compute_library or "an unknown device"
    where = "runs in this app" if engine.name == "transformers" else "runs models"
    return f"{where} on {device}."
