"""Ranking, task filters and the wording users rely on (thinking kind, case C5; math's 4K)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from qwen_desktop.core.catalog import Catalog, load_catalog
from qwen_desktop.core.fit import FitVerdict
from qwen_desktop.core.machine import MachineReport, MemoryInfo
from qwen_desktop.core.recommend import (
    Recommendation,
    first_run_default,
    quality_score,
    recommend,
)
from qwen_desktop.core.types import ThinkingKind

KiB = 1024
MiB = 1024**2
GiB = 1024**3
PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"
PROFILE_NAMES = (
    "laptop_16gib_no_gpu",
    "nvidia_8gb",
    "nvidia_24gb",
    "apple_unified_16gib",
    "tiny_2gib",
)
TIER = {
    FitVerdict.FULL_GPU: 0,
    FitVerdict.PARTIAL_GPU: 1,
    FitVerdict.CPU_ONLY: 2,
    FitVerdict.WONT_FIT: 3,
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def profile(name: str) -> MachineReport:
    return MachineReport.from_file(PROFILES / f"{name}.json")


def ids(recs: list[Recommendation]) -> list[str]:
    return [rec.variant.id for rec in recs]


def by_id(recs: list[Recommendation], variant_id: str) -> Recommendation:
    return next(rec for rec in recs if rec.variant.id == variant_id)


@pytest.mark.parametrize("name", PROFILE_NAMES)
@pytest.mark.parametrize("task", ["chat", "code", "math", "vision", "reasoning"])
def test_ranking_rules_hold_everywhere(catalog: Catalog, name: str, task: str) -> None:
    recs = recommend(catalog, profile(name), task, context_tokens=8192)
    assert [rec.rank for rec in recs] == list(range(1, len(recs) + 1))
    assert set(ids(recs)) == {variant.id for variant in catalog.for_task(task)}
    tiers = [TIER[rec.fit.verdict] for rec in recs]
    assert tiers == sorted(tiers), "verdict tiers out of order"
    for before, after in itertools.pairwise(recs):
        if before.fit.verdict != after.fit.verdict or before.fit.verdict is FitVerdict.WONT_FIT:
            continue
        fast_before = (before.fit.tokens_per_second_estimate or 0) >= 7.5
        fast_after = (after.fit.tokens_per_second_estimate or 0) >= 7.5
        assert fast_before or not fast_after, "a slow model ranked above a fast one"
        if fast_before == fast_after:
            assert quality_score(before.variant) >= quality_score(after.variant)


def test_task_filters(catalog: Catalog) -> None:
    machine = profile("nvidia_24gb")
    code = recommend(catalog, machine, "code")
    assert code and all("Coder" in rec.variant.display_name for rec in code)
    math_recs = recommend(catalog, machine, "math")
    assert math_recs and all("Math" in rec.variant.display_name for rec in math_recs)
    vision = recommend(catalog, machine, "vision")
    assert vision and all(rec.variant.modality == "image+text" for rec in vision)
    reasoning = recommend(catalog, machine, "reasoning")
    assert reasoning and all(
        rec.variant.thinking_kind in (ThinkingKind.HYBRID, ThinkingKind.THINKING_ONLY)
        for rec in reasoning
    )
    chat = recommend(catalog, machine, "chat")
    assert {"qwen3-8b", "qwen2.5-7b-instruct", "qwen3-4b-instruct-2507"} <= set(ids(chat))
    assert not any(rec.variant.thinking_kind is ThinkingKind.THINKING_ONLY for rec in chat)
    with pytest.raises(ValueError, match="unknown task"):
        recommend(catalog, machine, "poetry")
    with pytest.raises(ValueError, match="context"):
        recommend(catalog, machine, context_tokens=0)


def test_24gb_gpu_chat_prefers_the_biggest_full_fit(catalog: Catalog) -> None:
    recs = recommend(catalog, profile("nvidia_24gb"), "chat")
    # Qwen3-32B at 8K: 20e9 + 256 KiB × 8192 + 4·512·(1 + 2·5120 + 8192·65) + 457 MiB
    need = 20e9 + 256 * KiB * 8192 + 2048 * (1 + 2 * 5120 + 8192 * 65) + 457 * MiB
    assert need <= 23.5 * GiB * 0.95
    assert recs[0].variant.id == "qwen3-32b"
    assert recs[0].fit.verdict is FitVerdict.FULL_GPU
    order = ids(recs)
    # Newer generation first at similar size: Qwen3-8B over Qwen2.5-7B, Qwen3-32B over 2.5-32B.
    assert order.index("qwen3-8b") < order.index("qwen2.5-7b-instruct")
    assert order.index("qwen3-32b") < order.index("qwen2.5-32b-instruct")
    assert recs[-1].variant.id == "qwen3-235b-a22b"
    assert recs[-1].fit.verdict is FitVerdict.WONT_FIT


def test_cpu_laptop_prefers_comfortable_speed_over_size(catalog: Catalog) -> None:
    recs = recommend(catalog, profile("laptop_16gib_no_gpu"), "chat")
    order = ids(recs)
    # Qwen3-4B: 24e9 B/s effective / (2.5e9 + 144 KiB × 4096) ≈ 7.7 tokens/s: comfortable.
    assert 24e9 / (2.5e9 + 144 * KiB * 4096) >= 7.5
    assert order[0] == "qwen3-4b"
    # Qwen3-8B fits in RAM but at ≈ 4 tokens/s ranks below every comfortable model, even 0.5B.
    assert 24e9 / (5.2e9 + 144 * KiB * 4096) < 7.5
    assert by_id(recs, "qwen3-8b").fit.verdict is FitVerdict.CPU_ONLY
    assert order.index("qwen3-8b") > order.index("qwen2.5-0.5b-instruct")


def test_math_reasons_warn_about_the_4k_window(catalog: Catalog) -> None:
    for context in (8192, 2048):
        recs = recommend(catalog, profile("laptop_16gib_no_gpu"), "math", context_tokens=context)
        assert recs
        for rec in recs:
            assert "context window is only 4K tokens" in rec.reason
            assert rec.fit.context_tokens == min(context, 4096)
    recs = recommend(catalog, profile("laptop_16gib_no_gpu"), "math", context_tokens=8192)
    assert "less than the 8K asked for" in recs[0].reason


def test_thinking_kind_wording_c5(catalog: Catalog) -> None:
    machine = profile("nvidia_24gb")
    reasoning = recommend(catalog, machine, "reasoning")
    thinking_only = by_id(reasoning, "qwen3-4b-thinking-2507")
    assert (
        "Always thinks (no off switch; its Instruct twin Qwen3 4B Instruct 2507 answers directly)"
        in thinking_only.reason
    )
    assert "switched off" not in thinking_only.reason
    hybrid = by_id(reasoning, "qwen3-8b")
    assert "Thinks before answering" in hybrid.reason
    chat = recommend(catalog, machine, "chat")
    assert "Never thinks" in by_id(chat, "qwen2.5-7b-instruct").reason
    assert "Never thinks" in by_id(chat, "qwen3-4b-instruct-2507").reason
    for rec in reasoning:
        if rec.variant.thinking_kind is ThinkingKind.THINKING_ONLY:
            assert "Always thinks" in rec.reason and "no off switch" in rec.reason


def test_commercial_only(catalog: Catalog) -> None:
    recs = recommend(catalog, profile("nvidia_24gb"), "chat", commercial_only=True)
    assert "qwen2.5-3b-instruct" not in ids(recs)  # qwen-research licence
    assert "qwen2.5-7b-instruct" in ids(recs)
    assert all(rec.variant.commercial_use for rec in recs)
    # Licences the research did not confirm are flagged when commercial use matters.
    assert "check the model card" in by_id(recs, "qwen3-30b-a3b").reason
    assert "check the model card" not in by_id(recs, "qwen3-8b").reason
    everything = recommend(catalog, profile("nvidia_24gb"), "chat")
    assert "no commercial use" in by_id(everything, "qwen2.5-3b-instruct").reason


def test_limit(catalog: Catalog) -> None:
    machine = profile("nvidia_8gb")
    full = recommend(catalog, machine, "chat")
    top = recommend(catalog, machine, "chat", limit=3)
    assert [rec.rank for rec in top] == [1, 2, 3]
    assert ids(top) == ids(full)[:3]


def test_longer_context_can_change_the_verdict(catalog: Catalog) -> None:
    machine = profile("nvidia_8gb")
    short = by_id(recommend(catalog, machine, "chat", context_tokens=4096), "qwen3-8b")
    long = by_id(recommend(catalog, machine, "chat", context_tokens=32_768), "qwen3-8b")
    assert short.fit.verdict is FitVerdict.FULL_GPU
    assert long.fit.verdict is FitVerdict.PARTIAL_GPU


def test_first_run_default(catalog: Catalog) -> None:
    laptop = first_run_default(catalog, profile("laptop_16gib_no_gpu"))
    assert laptop is not None and laptop.variant.id == "qwen3-4b"
    assert laptop.fit.verdict is FitVerdict.CPU_ONLY

    big = first_run_default(catalog, profile("nvidia_24gb"))
    assert big is not None and big.variant.id == "qwen3-32b"
    assert big.fit.verdict is FitVerdict.FULL_GPU

    # 1.5 GiB available: only Qwen2.5-0.5B fits (≈ 1.0 GiB at 8K); Qwen3-0.6B needs
    # 523e6 + 112 KiB × 8192 + 4·512·(1024 + 151936) + 256 MiB ≈ 1.9 GiB > 1.35 GiB.
    assert 523e6 + 112 * KiB * 8192 + 2048 * (1024 + 151_936) + 256 * MiB > 0.9 * 1.5 * GiB
    tiny = first_run_default(catalog, profile("tiny_2gib"))
    assert tiny is not None and tiny.variant.id == "qwen2.5-0.5b-instruct"

    nothing = MachineReport(memory=MemoryInfo(total_bytes=GiB, available_bytes=GiB // 2))
    assert first_run_default(catalog, nothing) is None


def test_quality_prefers_newer_and_bigger(catalog: Catalog) -> None:
    qwen25_7b = quality_score(catalog.get("qwen2.5-7b-instruct"))
    assert quality_score(catalog.get("qwen3-8b")) > qwen25_7b
    assert quality_score(catalog.get("qwen3-32b")) > quality_score(catalog.get("qwen3-14b"))
    # MoE: between the 14B and 32B dense models ((30.53B + 3.3B) / 2 × 1.25).
    moe = quality_score(catalog.get("qwen3-30b-a3b"))
    assert moe == pytest.approx((30.53e9 + 3.3e9) / 2 * 1.25)
    assert quality_score(catalog.get("qwen3-14b")) < moe < quality_score(catalog.get("qwen3-32b"))
