"""Scan this machine and recommend Qwen variants for a task (used by the window)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.recommend import Recommendation, recommend
from qwen_desktop.hardware.probe import probe_machine


@dataclass(frozen=True)
class Advice:
    """A machine report and the ranked recommendations for one task."""

    machine: MachineReport
    task: str
    recommendations: list[Recommendation]


def scan_machine(models_dir: Path) -> MachineReport:
    """Probe this machine (blocking: a few hundred ms; call from a worker thread)."""
    return probe_machine(models_dir)


def advise(machine: MachineReport, task: str = "chat", *, context_tokens: int = 8192) -> Advice:
    """Rank the catalog's variants for ``task`` on ``machine`` (pure computation, fast)."""
    ranked = recommend(load_catalog(), machine, task, context_tokens=context_tokens)
    return Advice(machine=machine, task=task, recommendations=ranked)
