"""Qt face of the hardware scan and the recommendations."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from qwen_desktop.core.machine import MachineReport
from qwen_desktop.hardware.advice import Advice
from qwen_desktop.uikit.tasks import TaskGroup


class HardwareController(QObject):
    """Scans the machine off the UI thread and ranks variants per task.

    The probes, the catalog and the fit are imported and computed in the scan's worker thread
    (:mod:`~qwen_desktop.hardware.advisor` loads there), so that the window paints before any of
    them loads (issue 15).

    Signals:
        scan_started(): A scan began (a rescan keeps the previous report until it ends).
        scan_finished(MachineReport): This machine's report.
        advice_ready(Advice): The recommendations for the current task.
        scan_failed(str): The scan could not run (the probe itself never raises; this is a bug).
    """

    scan_started = Signal()
    scan_finished = Signal(MachineReport)
    advice_ready = Signal(Advice)
    scan_failed = Signal(str)

    def __init__(self, models_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.models_dir = models_dir
        self.machine: MachineReport | None = None
        self.task = "chat"
        self.scanning = False
        self._tasks = TaskGroup(self._on_task_failed)

    def scan(self) -> None:
        """Start a scan (ignored while one runs); ``scan_finished`` then ``advice_ready`` follow."""
        if self.scanning:
            return
        self.scanning = True
        self.scan_started.emit()
        self._tasks.start(self._scan())

    def set_task(self, task: str) -> None:
        """Rank for another task (immediately when the machine is known)."""
        self.task = task
        if self.machine is not None:
            from qwen_desktop.hardware.advisor import advise

            self.advice_ready.emit(advise(self.machine, task))

    async def _scan(self) -> None:
        try:
            machine, advice = await asyncio.to_thread(_scan_and_advise, self.models_dir, self.task)
            self.machine = machine
        finally:
            self.scanning = False
        self.scan_finished.emit(machine)
        if advice.task == self.task:
            self.advice_ready.emit(advice)
        else:  # the task changed while the scan ran
            self.set_task(self.task)

    def _on_task_failed(self, exc: BaseException) -> None:
        self.scanning = False
        self.scan_failed.emit(str(exc))

    async def shutdown(self) -> None:
        """Cancel this controller's running work and wait for it to end (window closing)."""
        await self._tasks.cancel_and_wait()


def _scan_and_advise(models_dir: Path, task: str) -> tuple[MachineReport, Advice]:
    """Probe the machine and rank the catalog for ``task`` (a worker thread: blocking)."""
    from qwen_desktop.hardware.advisor import advise, scan_machine

    machine = scan_machine(models_dir)
    return machine, advise(machine, task)
