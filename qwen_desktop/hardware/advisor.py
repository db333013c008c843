"""Scan this machine and recommend Qwen variants for a task (used by the window)."""

from __future__ import annotations

import logging
from pathlib import Path

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.fit_devices import machine_fingerprint
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurement_store import (
    MeasurementStore,
    MeasurementStoreError,
    default_path,
)
from qwen_desktop.core.measurements import Measurement
from qwen_desktop.core.recommend import recommend
from qwen_desktop.hardware.advice import Advice
from qwen_desktop.hardware.probe import probe_machine

log = logging.getLogger(__name__)


def scan_machine(models_dir: Path) -> MachineReport:
    """Probe this machine (blocking: a few hundred ms; call from a worker thread)."""
    return probe_machine(models_dir)


def advise(machine: MachineReport, task: str = "chat", *, context_tokens: int = 8192) -> Advice:
    """Rank the catalog's variants for ``task`` on ``machine`` (pure computation, fast)."""
    ranked = recommend(load_catalog(), machine, task, context_tokens=context_tokens)
    return Advice(machine=machine, task=task, recommendations=ranked)


def latest_measurements(
    machine: MachineReport, engine: str, quant: str, path: Path | None = None
) -> dict[str, Measurement]:
    """The newest measured run per variant id on ``machine`` for ``engine`` at ``quant``.

    Reads the measurement database (default: :func:`~qwen_desktop.core.measurement_store.
    default_path`) only when it exists: never creates it. A few milliseconds.

    Returns:
        ``{variant id: measurement}``; empty when there is no database or it cannot be read (the
        problem is logged: estimates then stay unmeasured).
    """
    path = path or default_path()
    if not path.is_file():
        return {}
    try:
        with MeasurementStore(path) as store:
            return store.latest_by_model(engine, quant, machine_fingerprint(machine))
    except (MeasurementStoreError, ValueError) as exc:
        log.warning("measured speeds not used: %s", exc)
        return {}
