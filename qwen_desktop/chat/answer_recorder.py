"""Record each real answer's speed and peak memory, so the next estimate is corrected by it.

Issue "tell the truth about fit", item 3: after each answer, store measured tokens/s, time to
first token and peak memory per model + engine + quantization + machine; the fit estimate then
uses the newest measurement instead of its bandwidth guess and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from qwen_desktop.core.catalog import Catalog
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurement_store import MeasurementStore
from qwen_desktop.core.measurements import Measurement
from qwen_desktop.core.model_identity import variant_for_path
from qwen_desktop.core.types import Usage
from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.hardware.process_memory import peak_rss_bytes, reset_peak

log = logging.getLogger(__name__)

IN_PROCESS_ENGINES = frozenset({"transformers"})
"""Engines whose memory is this process's memory (peak RSS measures them)."""


class AnswerRecorder:
    """Turns finished answers into stored measurements.

    Args:
        catalog: To attribute a local model folder to a catalog variant.
        open_store: Opens the measurement store (called lazily, once).
    """

    def __init__(self, catalog: Catalog, open_store: Callable[[], MeasurementStore]) -> None:
        self._catalog = catalog
        self._open_store = open_store
        self._store: MeasurementStore | None = None
        self._peak_window = False

    def answer_started(self, loaded: LoadedModel | None) -> None:
        """Start a peak-memory window for in-process engines."""
        self._peak_window = bool(loaded and loaded.engine in IN_PROCESS_ENGINES and reset_peak())

    def answer_finished(
        self,
        usage: Usage,
        loaded: LoadedModel | None,
        model_path: Path | None,
        machine: MachineReport | None,
    ) -> Measurement | None:
        """Store the measurement of a finished answer; returns it, or None when not recorded.

        Nothing is recorded when the model is not a catalog variant, the machine is unknown,
        the answer was stopped, or it was too short to measure. Storage errors are logged, never
        raised (a measurement is never worth interrupting a chat).
        """
        if loaded is None or machine is None or model_path is None:
            return None
        if usage.finish_reason == "cancelled":
            return None
        variant = variant_for_path(self._catalog, model_path)
        if variant is None:
            return None
        peak = peak_rss_bytes() if self._peak_window else None
        try:
            measurement = Measurement.from_usage(
                model_id=variant.id,
                engine=loaded.engine,
                quant=loaded.dtype,
                machine=machine,
                usage=usage,
                peak_memory_bytes=peak,
            )
            if measurement is None:
                return None
            if self._store is None:
                self._store = self._open_store()
            self._store.record(measurement)
        except Exception:  # logged; measurements are advisory
            log.exception("could not record the measurement of %s", variant.id)
            return None
        return measurement
