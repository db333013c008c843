"""Why the machine is slow, in plain words: rules over recent samples and the engine's facts.

Pure functions. :func:`explain` reads the last samples (:class:`~qwen_desktop.core.samples.Sample`)
and what the engine said about the loaded model, and returns the explanations that apply, most
serious first:

- ``swapping``: RAM pages move to and from swap (answers then slow down many times over);
- ``ram_low``: almost no RAM left for programs (swapping is next);
- ``model_on_cpu``: part of the model runs on the CPU. From Ollama's ``/api/ps``:
  ``size_vram < size`` means the CPU part is ``(size - size_vram) / size`` of the model
  (shared/research/ollama.md, "GPU share"), said as "N of M layers on the CPU" (the server log's
  ``offloaded N/M layers to GPU`` wins over the size ratio when known);
- ``vram_full``: a GPU's VRAM is nearly full (the next model or a longer context spills to RAM);
- ``cpu_library``: the engine loaded its CPU library although this computer has a GPU;
- ``slow_answer``: the measured tokens/s is far below the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qwen_desktop.core.samples import Sample
from qwen_desktop.core.units import format_bytes

Severity = Literal["warning", "info"]

SWAP_WINDOW_S = 10.0
"""Seconds of samples the swap rule averages over (one burst of swap-in is not "swapping")."""
SWAP_RATE_BYTES_PER_S = 1024 * 1024
"""Average swap traffic (both directions) above which the system counts as swapping: 1 MiB/s,
i.e. 256 pages of 4 KiB each second. An idle desktop with swap in use moves far less."""
RAM_LOW_FRACTION = 0.05
"""Available RAM below this share of RAM counts as nearly full (the kernel starts reclaiming
hard and swapping around here; 5 % of 16 GiB is 0.8 GiB)."""
VRAM_FULL_FRACTION = 0.95
"""VRAM use at or above this share counts as nearly full (drivers keep a few hundred MiB, so
above ~95 % a new allocation usually fails or spills to shared memory)."""
SLOW_ANSWER_RATIO = 0.5
"""A measured speed below this share of the estimate is "far below" it: the estimate is a
memory-bandwidth bound, so ordinary overheads (sampling, kernel launches) cost a few tens of
percent; losing half or more points to a cause such as swapping or layers on the CPU."""


@dataclass(frozen=True)
class Explanation:
    """One reason the machine behaves as it does, for the user.

    Attributes:
        kind: A stable identifier (``swapping``, ``model_on_cpu``, …).
        severity: ``warning`` (it slows answers now) or ``info``.
        message: What happens, with figures.
        action: What the user can do about it.
    """

    kind: str
    severity: Severity
    message: str
    action: str

    def to_json(self) -> dict[str, Any]:
        """The explanation as a JSON object."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "action": self.action,
        }


@dataclass(frozen=True)
class ModelPlacement:
    """Where a loaded model's weights are, as the engine reports it.

    Attributes:
        name: The model (an Ollama tag).
        size_bytes: Memory the loaded model takes (``/api/ps`` ``size``).
        size_vram_bytes: The part of it in VRAM (``/api/ps`` ``size_vram``).
        layers_total: Layers of the model (``/api/show`` ``<arch>.block_count``, or M of the
            log's ``offloaded N/M layers``); None when unknown.
        layers_on_gpu: N of the log's ``offloaded N/M layers to GPU``; None when unknown.
    """

    name: str
    size_bytes: int
    size_vram_bytes: int
    layers_total: int | None = None
    layers_on_gpu: int | None = None

    @property
    def cpu_fraction(self) -> float:
        """The share of the model outside VRAM (0-1)."""
        if self.size_bytes <= 0:
            return 0.0
        return max(0.0, min(1.0, (self.size_bytes - self.size_vram_bytes) / self.size_bytes))

    def cpu_layers(self) -> tuple[int, int] | None:
        """``(layers on the CPU, layers in all)``, or None when the layer count is unknown.

        The log's count when known; else the size share times the layers, rounded, and at least
        one layer when any byte is outside VRAM.
        """
        if self.layers_on_gpu is not None and self.layers_total:
            return max(0, self.layers_total - self.layers_on_gpu), self.layers_total
        if not self.layers_total:
            return None
        fraction = self.cpu_fraction
        on_cpu = round(fraction * self.layers_total)
        if fraction > 0 and on_cpu == 0:
            on_cpu = 1
        return on_cpu, self.layers_total


@dataclass(frozen=True)
class EngineFacts:
    """What the running engine said about itself.

    Attributes:
        name: ``ollama`` or ``transformers``.
        compute_library: The library models run on (``CPU``, ``CUDA``, ``ROCm``, ``Metal``,
            ``Vulkan``; the Transformers device ``cpu``/``cuda``/``mps``); None when unknown.
        gpu_present: This computer has a GPU the engine could use.
    """

    name: str
    compute_library: str | None = None
    gpu_present: bool = False


def _recent(samples: Sequence[Sample], seconds: float) -> list[Sample]:
    if not samples:
        return []
    newest = samples[-1].time_s
    return [sample for sample in samples if newest - sample.time_s <= seconds]


def _swapping(samples: Sequence[Sample]) -> Explanation | None:
    rates = [s.swap_bytes_per_s for s in _recent(samples, SWAP_WINDOW_S)]
    known = [rate for rate in rates if rate is not None]
    if not known:
        return None
    average = sum(known) / len(known)
    if average < SWAP_RATE_BYTES_PER_S:
        return None
    return Explanation(
        kind="swapping",
        severity="warning",
        message=(
            f"The system is swapping: {format_bytes(average)}/s move between RAM and the disk. "
            "Everything, answers included, slows down many times over while it lasts."
        ),
        action="Close programs you do not need, or use a smaller model or quantization.",
    )


def _ram_low(sample: Sample) -> Explanation | None:
    if not sample.memory_total_bytes:
        return None
    if sample.memory_available_bytes >= RAM_LOW_FRACTION * sample.memory_total_bytes:
        return None
    return Explanation(
        kind="ram_low",
        severity="warning",
        message=(
            f"RAM is nearly full: {format_bytes(sample.memory_available_bytes)} of "
            f"{format_bytes(sample.memory_total_bytes)} left for programs."
        ),
        action="Close programs you do not need before loading a larger model.",
    )


def _model_on_cpu(placement: ModelPlacement, engine: EngineFacts | None) -> Explanation | None:
    fraction = placement.cpu_fraction
    if placement.size_bytes <= 0 or fraction <= 0:
        return None
    if fraction >= 1.0 and not (engine is not None and engine.gpu_present):
        return None  # a CPU-only computer: running on the CPU is expected, not a slowdown
    layers = placement.cpu_layers()
    in_vram = format_bytes(placement.size_vram_bytes)
    if layers is not None:
        on_cpu, total = layers
        what = f"{on_cpu} of {total} layers of {placement.name} run on the CPU"
    else:
        what = f"{round(100 * fraction)} % of {placement.name} runs on the CPU"
    return Explanation(
        kind="model_on_cpu",
        severity="warning",
        message=(
            f"{what}: it takes {format_bytes(placement.size_bytes)} and only {in_vram} of it "
            "is in VRAM. Those layers run at RAM speed, so tokens/s drop a lot."
        ),
        action=(
            "Use a smaller quantization or a shorter context window, or close programs that "
            "use the GPU, so that the whole model fits in VRAM."
        ),
    )


def _vram_full(sample: Sample) -> list[Explanation]:
    found = []
    for gpu in sample.gpus:
        fraction = gpu.vram_fraction
        if fraction is None or fraction < VRAM_FULL_FRACTION:
            continue
        assert gpu.vram_used_bytes is not None and gpu.vram_total_bytes is not None
        found.append(
            Explanation(
                kind="vram_full",
                severity="warning",
                message=(
                    f"VRAM of {gpu.name} is nearly full: {format_bytes(gpu.vram_used_bytes)} of "
                    f"{format_bytes(gpu.vram_total_bytes)} in use. A larger model or a longer "
                    "context will spill to RAM and run far slower."
                ),
                action="Close programs that use the GPU, or use a shorter context window.",
            )
        )
    return found


def _cpu_library(engine: EngineFacts) -> Explanation | None:
    library = (engine.compute_library or "").lower()
    if not engine.gpu_present or library != "cpu":
        return None
    return Explanation(
        kind="cpu_library",
        severity="warning",
        message=(
            f"This computer has a GPU, but the {engine.name} engine runs on its CPU library, "
            "so answers are many times slower than they could be."
        ),
        action=(
            "Update the GPU driver (NVIDIA: check `nvidia-smi`), then restart the app; for "
            "Transformers, install a PyTorch build with GPU support."
        ),
    )


def _slow_answer(measured: float, estimate: float) -> Explanation | None:
    if measured <= 0 or estimate <= 0 or measured >= SLOW_ANSWER_RATIO * estimate:
        return None
    return Explanation(
        kind="slow_answer",
        severity="warning",
        message=(
            f"Answers run at {measured:.1f} tokens/s, far below the estimated "
            f"{estimate:.1f} tokens/s for this computer."
        ),
        action=(
            "See the other notes here for the cause; if there is none, other programs may be "
            "using the CPU or GPU."
        ),
    )


def explain(
    samples: Sequence[Sample],
    *,
    placement: ModelPlacement | None = None,
    engine: EngineFacts | None = None,
    measured_tokens_per_second: float | None = None,
    estimated_tokens_per_second: float | None = None,
) -> list[Explanation]:
    """Every explanation that applies now, most serious first.

    Args:
        samples: Recent samples, oldest first (the newest decides RAM and VRAM; the last
            :data:`SWAP_WINDOW_S` seconds decide swapping). May be empty.
        placement: Where the loaded model's weights are; None when unknown or no model.
        engine: What the engine said about itself; None when unknown.
        measured_tokens_per_second: The last answer's (or the running answer's) decode speed.
        estimated_tokens_per_second: The fit estimate's decode speed for this model here.

    Returns:
        Explanations in this order: swapping, RAM low, model on the CPU, CPU library, VRAM
        nearly full, slow answer.
    """
    found: list[Explanation | None] = []
    newest = samples[-1] if samples else None
    found.append(_swapping(samples))
    if newest is not None:
        found.append(_ram_low(newest))
    if placement is not None:
        found.append(_model_on_cpu(placement, engine))
    if engine is not None:
        found.append(_cpu_library(engine))
    if newest is not None:
        found.extend(_vram_full(newest))
    if measured_tokens_per_second is not None and estimated_tokens_per_second is not None:
        found.append(_slow_answer(measured_tokens_per_second, estimated_tokens_per_second))
    return [item for item in found if item is not None]
