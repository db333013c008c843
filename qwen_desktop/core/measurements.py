"""Measured speed and memory of a model on a machine: the record that corrects the estimate.

After each real answer the chat flow records a :class:`Measurement` (built from the engine's
:class:`~qwen_desktop.core.types.Usage` with :meth:`Measurement.from_usage`) in the store
(:mod:`qwen_desktop.core.measurement_store`). The next estimate for the same model, engine,
quantization and machine passes it to :func:`~qwen_desktop.core.fit.estimate_fit`, which replaces
its bandwidth-based speed by the measured one, scaled to the context asked for (see
:func:`corrected_tokens_per_second`), and says so in its reason.

Machines are matched by :func:`machine_fingerprint`: CPU model, RAM (GiB) and GPU names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from qwen_desktop.core.fit_devices import machine_fingerprint
from qwen_desktop.core.fit_engines import check_engine, normalize_quant
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.types import Usage

__all__ = [
    "MIN_MEASURED_TOKENS",
    "Measurement",
    "corrected_tokens_per_second",
    "machine_fingerprint",
]

MIN_MEASURED_TOKENS = 16
"""Answers shorter than this (generated tokens) are not recorded: their speed is mostly noise."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Measurement:
    """One measured run of a model on a machine.

    Attributes:
        model_id: Catalog id (``qwen3-8b``).
        engine: ``ollama`` or ``transformers``.
        quant: Quantization (normalized for the engine: ``Q4_K_M``, ``bf16``; a Transformers dtype
            name such as ``bfloat16`` becomes ``bf16``).
        context_tokens: Tokens in the context while decoding (prompt + generated).
        machine_fingerprint: :func:`machine_fingerprint` of the machine it ran on.
        tokens_per_second: Measured decode speed.
        ttft_seconds: Time to first token, when known.
        peak_memory_bytes: Peak memory of the engine during the answer, when known.
        measured_at: When (timezone-aware; naive datetimes are taken as UTC).

    Raises:
        ValueError: Unknown engine or quantization, a non-positive speed or a negative context.
    """

    model_id: str
    engine: str
    quant: str
    context_tokens: int
    machine_fingerprint: str
    tokens_per_second: float
    ttft_seconds: float | None = None
    peak_memory_bytes: int | None = None
    measured_at: datetime = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        engine = check_engine(self.engine)
        object.__setattr__(self, "quant", normalize_quant(self.quant, engine))
        if not self.tokens_per_second > 0:
            raise ValueError("tokens_per_second must be positive")
        if self.context_tokens < 0:
            raise ValueError("context_tokens must be >= 0")
        if self.measured_at.tzinfo is None:
            object.__setattr__(self, "measured_at", self.measured_at.replace(tzinfo=UTC))

    @classmethod
    def from_usage(
        cls,
        *,
        model_id: str,
        engine: str,
        quant: str,
        machine: MachineReport,
        usage: Usage,
        peak_memory_bytes: int | None = None,
        measured_at: datetime | None = None,
    ) -> Measurement | None:
        """The measurement of one finished answer, or ``None`` when it is too short to tell
        (fewer than :data:`MIN_MEASURED_TOKENS` generated tokens, or no speed).

        ``context_tokens`` = ``usage.prompt_tokens + usage.generated_tokens``.
        """
        if usage.generated_tokens < MIN_MEASURED_TOKENS or usage.tokens_per_second <= 0:
            return None
        return cls(
            model_id=model_id,
            engine=engine,
            quant=quant,
            context_tokens=usage.prompt_tokens + usage.generated_tokens,
            machine_fingerprint=machine_fingerprint(machine),
            tokens_per_second=usage.tokens_per_second,
            ttft_seconds=usage.ttft_seconds,
            peak_memory_bytes=peak_memory_bytes,
            measured_at=measured_at or _utc_now(),
        )

    def matches(self, model_id: str, engine: str, quant: str) -> bool:
        """True when this measurement is of ``model_id`` under ``engine`` at ``quant``."""
        return (
            self.model_id == model_id
            and self.engine == engine
            and self.quant == normalize_quant(quant, engine)
        )

    @property
    def date_label(self) -> str:
        """The day it was measured (UTC), ``2026-11-29``."""
        return self.measured_at.astimezone(UTC).date().isoformat()

    def describe(self) -> str:
        """``measured 12.3 tokens/s on this machine on 2026-11-29``."""
        return (
            f"measured {self.tokens_per_second:.1f} tokens/s on this machine on {self.date_label}"
        )


def corrected_tokens_per_second(
    measured: float, predicted_at_measured_context: float, predicted_now: float
) -> float:
    """The measured speed carried over to another context.

    The estimate's bandwidth model is trusted for *how speed changes* with the context (more KV
    cache read per token, perhaps fewer layers on the GPU), the measurement for the level::

        corrected = measured × predicted(context now) / predicted(context measured)

    At the measured context this is the measured figure itself.
    """
    if predicted_at_measured_context <= 0:
        return measured
    return measured * predicted_now / predicted_at_measured_context
