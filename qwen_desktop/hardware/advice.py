"""What the advisor hands the window: a machine report and its ranked recommendations.

Kept apart from :mod:`qwen_desktop.hardware.advisor` (which imports the probes, the catalog and
the fit) so that the window can name the type before any of those loads (issue 15).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qwen_desktop.core.machine import MachineReport
    from qwen_desktop.core.recommend import Recommendation


@dataclass(frozen=True)
class Advice:
    """A machine report and the ranked recommendations for one task."""

    machine: MachineReport
    task: str
    recommendations: list[Recommendation]
