"""Which Qwen variants to suggest for a task on a machine, best first.

Ranking (see :func:`recommend`):

1. Usable first: every fit estimated comfortably fast (≥ 7.5 tokens/s), whatever runs it, so
   Qwen3-8B partly on an 8 GB GPU at ~20 tokens/s ranks with the models fully on it. Then the
   slow fits by tier: ``full_gpu`` > ``partial_gpu`` > ``cpu_only``; ``wont_fit`` last.
2. Within a group, comfortable fits before tight ones: a model that leaves the system less than
   the comfortable RAM headroom (``fit_devices.py``: 4 GiB, or 30 % of RAM on small machines)
   runs, but the machine swaps as soon as the user opens a browser. So on a 2-core machine with
   23 GiB free, Qwen3-30B-A3B (19 GB) is listed, marked tight, below the models that leave room.
   Last among the tight: fits that need more RAM than is free now (other programs must close).
3. Usable fits: bigger and newer first, by a rough quality score, ``dense-equivalent parameters
   × generation factor`` (:func:`quality_score`), so that Qwen3 beats Qwen2.5 at similar size.
   Slow fits: faster first (a 14B model at 1 token/s is no help; the 7B at 3 is some).
4. Ties: verified catalog figures first, then variants in Ollama's library, then by id.

Won't-fit variants come last, smallest need first. Each recommendation's ``reason`` is the fit
estimate's sentences plus what the user must know before picking it: how it thinks (case C5: a
thinking-only variant has no off switch; its Instruct twin is named), a short context window
(Qwen2.5-Math: 4K, with the alternative for long problems), what images cost (vision), unverified
figures or licence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qwen_desktop.core.catalog import Catalog, Variant
from qwen_desktop.core.fit import (
    FitEstimate,
    FitVerdict,
    context_label,
    default_quant,
    estimate_fit,
    normalize_quant,
)
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurements import Measurement
from qwen_desktop.core.types import ThinkingKind

DEFAULT_CONTEXT_TOKENS = 8192
"""Context length recommendations plan for unless asked otherwise (tokens)."""

COMFORTABLE_TOKENS_PER_SECOND = 7.5
"""Decode speed that feels comfortable for chat: "about 8 tokens/s" as the reasons show it."""

USABLE_TOKENS_PER_SECOND = 5.0
"""Slowest estimated decode speed :func:`first_run_default` accepts without a full GPU fit."""

SHORT_CONTEXT_TOKENS = 8192
"""Variants whose window is at most this many tokens get a warning in their reason."""

VERDICT_ORDER: tuple[FitVerdict, ...] = (
    FitVerdict.FULL_GPU,
    FitVerdict.PARTIAL_GPU,
    FitVerdict.CPU_ONLY,
    FitVerdict.WONT_FIT,
)


@dataclass(frozen=True)
class Recommendation:
    """One ranked suggestion.

    Attributes:
        variant: The catalog variant.
        fit: Its fit estimate (at ``min(requested context, the variant's window)``).
        rank: 1 for the best suggestion.
        reason: Plain-words explanation (fit, thinking behaviour, warnings).
    """

    variant: Variant
    fit: FitEstimate
    rank: int
    reason: str


def quality_score(variant: Variant) -> float:
    """A rough "bigger and newer is better" score for ordering, not a benchmark.

    ``dense-equivalent parameters × (1 + 0.5 × (generation − 2.5))``. The dense equivalent of a
    MoE is the mean of its total and active parameters: the Qwen3 report places Qwen3-30B-A3B
    between Qwen3-14B and Qwen3-32B, which the mean (16.9B) reproduces and the often-quoted
    geometric mean (10B) does not. The generation factor (Qwen2.5 1.0, Qwen3 1.25, Qwen3.5 1.5)
    reflects the Qwen3 report's claim that each Qwen3 model matches a larger Qwen2.5 one.
    """
    if variant.active_parameters is not None:
        size = (variant.parameters + variant.active_parameters) / 2
    else:
        size = float(variant.parameters)
    return size * max(0.5, 1 + 0.5 * (variant.generation - 2.5))


def thinking_sentence(variant: Variant, catalog: Catalog) -> str:
    """How the variant thinks, in words (case C5: never promise an off switch that does nothing)."""
    twin = catalog.find(variant.twin) if variant.twin else None
    if variant.thinking_kind is ThinkingKind.HYBRID:
        return "Thinks before answering; thinking can be switched off for quick replies."
    if variant.thinking_kind is ThinkingKind.THINKING_ONLY:
        if twin is not None:
            return (
                f"Always thinks (no off switch; its Instruct twin {twin.display_name} "
                "answers directly)."
            )
        return "Always thinks before answering (no off switch)."
    if twin is not None:
        return f"Never thinks: answers directly (its twin {twin.display_name} thinks)."
    return "Never thinks: answers directly."


def _context_warning(variant: Variant, requested_tokens: int) -> str:
    window = variant.context_tokens
    if window < requested_tokens:
        return (
            f"Its context window is only {context_label(window)} tokens, less than the "
            f"{context_label(requested_tokens)} asked for (estimated at {context_label(window)}): "
            "long problems and conversations will not fit."
        )
    if window <= SHORT_CONTEXT_TOKENS:
        return (
            f"Its context window is only {context_label(window)} tokens: long problems and "
            "conversations will not fit."
        )
    return ""


MATH_ALTERNATIVE = (
    "For longer problems, a Qwen3 model in thinking mode also solves math, with a 32K window."
)
VISION_COST = (
    "Images use context: about one token per 28×28 pixels (a 1280×720 screenshot ≈ 1,200 tokens)."
)


def _reason(
    variant: Variant, fit: FitEstimate, catalog: Catalog, requested: int, commercial_only: bool
) -> str:
    parts = [fit.reason, thinking_sentence(variant, catalog), _context_warning(variant, requested)]
    if "math" in variant.tasks and variant.context_tokens <= SHORT_CONTEXT_TOKENS:
        parts.append(MATH_ALTERNATIVE)
    if "vision" in variant.tasks:
        parts.append(VISION_COST)
    if variant.license == "qwen-research":
        parts.append("Research licence: no commercial use.")
    if commercial_only and not variant.license_verified:
        parts.append(
            f"Licence ({variant.license}) not confirmed by the catalog's sources: check the model "
            "card before commercial use."
        )
    if not variant.verified:
        parts.append("Catalog figures for this model are unverified estimates.")
    return " ".join(part for part in parts if part)


_SortKey = tuple[int, bool, bool, float, bool, bool, str]
"""(group, tight, over free RAM, −quality or −speed, unverified, not in Ollama, id)."""


def _sort_key(variant: Variant, fit: FitEstimate) -> _SortKey:
    tier = VERDICT_ORDER.index(fit.verdict)
    if fit.verdict is FitVerdict.WONT_FIT:
        # Closest to fitting first.
        return (1 + tier, False, False, float(fit.total_bytes), False, False, variant.id)
    speed = fit.tokens_per_second_estimate or 0.0
    usable = speed >= COMFORTABLE_TOKENS_PER_SECOND
    return (
        0 if usable else 1 + tier,
        fit.tight,
        fit.over_free_ram,
        -quality_score(variant) if usable else -speed,
        not variant.verified,
        variant.ollama is None,
        variant.id,
    )


def recommend(
    catalog: Catalog,
    machine: MachineReport,
    task: str = "chat",
    *,
    quant: str | None = None,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    commercial_only: bool = False,
    limit: int | None = None,
    engine: str = "ollama",
    kv_type: str = "f16",
    measurements: Mapping[str, Measurement] | None = None,
) -> list[Recommendation]:
    """Variants for ``task``, ranked for ``machine`` (see the module docstring).

    Args:
        catalog: The model catalog.
        machine: The hardware report.
        task: ``chat``, ``code``, ``math``, ``vision`` or ``reasoning`` (variants listing it).
        quant: Weights quantization assumed for every variant (default: the engine's).
        context_tokens: Context length to plan for; a variant with a smaller window is estimated
            at its window, and its reason says so.
        commercial_only: Keep only variants whose licence allows commercial use.
        limit: Return at most this many (``None``: all).
        engine: ``ollama`` or ``transformers``.
        kv_type: KV cache type (``f16``, ``q8_0``, ``q4_0``; Transformers: ``f16`` only).
        measurements: Latest measurement per variant id on this machine; one of the same engine
            and quantization replaces that variant's speed estimate.

    Returns:
        Recommendations, ``rank`` 1 first.

    Raises:
        ValueError: Unknown task, engine, quantization or KV type, or a non-positive context.
    """
    if context_tokens <= 0:
        raise ValueError("context_tokens must be positive")
    quant = normalize_quant(quant if quant is not None else default_quant(engine), engine)
    scored: list[tuple[_SortKey, Variant, FitEstimate]] = []
    for variant in catalog.for_task(task):
        if commercial_only and not variant.commercial_use:
            continue
        measured = (measurements or {}).get(variant.id)
        if measured is not None and not measured.matches(variant.id, engine, quant):
            measured = None
        fit = estimate_fit(
            variant,
            machine,
            quant=quant,
            context_tokens=min(context_tokens, variant.context_tokens),
            engine=engine,
            kv_type=kv_type,
            measurement=measured,
        )
        scored.append((_sort_key(variant, fit), variant, fit))
    scored.sort(key=lambda item: item[0])
    if limit is not None:
        scored = scored[: max(0, limit)]
    return [
        Recommendation(
            variant=variant,
            fit=fit,
            rank=index,
            reason=_reason(variant, fit, catalog, context_tokens, commercial_only),
        )
        for index, (_, variant, fit) in enumerate(scored, start=1)
    ]


def first_run_default(
    catalog: Catalog,
    machine: MachineReport,
    *,
    quant: str | None = None,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    engine: str = "ollama",
) -> Recommendation | None:
    """The chat variant to offer on first start: the best chat pick that runs fully on the GPU,
    or on the CPU (or partly on the GPU) at a usable speed (≥ 5 tokens/s estimated), leaving the
    system comfortable headroom; a tight fit only when nothing comfortable qualifies (a small
    board where every model is tight).

    Preferred, in this order: variants the engine can download (with ollama: those in Ollama's
    library), then those whose licence allows commercial use (a default should not surprise
    someone who uses it at work).

    Returns:
        The recommendation, or ``None`` when nothing qualifies (a very small machine).
    """
    qualified = [
        rec
        for rec in recommend(
            catalog, machine, "chat", quant=quant, context_tokens=context_tokens, engine=engine
        )
        if rec.fit.verdict is FitVerdict.FULL_GPU
        or (
            rec.fit.verdict in (FitVerdict.PARTIAL_GPU, FitVerdict.CPU_ONLY)
            and (rec.fit.tokens_per_second_estimate or 0.0) >= USABLE_TOKENS_PER_SECOND
        )
    ]
    comfortable = [rec for rec in qualified if not rec.fit.tight]
    candidates = comfortable or qualified
    downloadable = [rec for rec in candidates if engine != "ollama" or rec.variant.ollama]
    candidates = downloadable or candidates
    commercial = [rec for rec in candidates if rec.variant.commercial_use]
    candidates = commercial or candidates
    return candidates[0] if candidates else None
