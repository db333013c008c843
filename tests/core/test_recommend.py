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
    "laptop_igpu_16gib",
    "cpu_2core_24gib",
    "nvidia_8gb",
    "nvidia_24gb",
    "two_gpus_3090_3060",
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

    def usable(rec: Recommendation) -> bool:
        return rec.fit.fits and (rec.fit.tokens_per_second_estimate or 0) >= 7.5

    # Usable fits (≥ 7.5 tokens/s, whatever runs them) first, then slow fits by verdict tier.
    groups = [0 if usable(rec) else 1 + TIER[rec.fit.verdict] for rec in recs]
    assert groups == sorted(groups), "groups out of order"
    for before, after in itertools.pairwise(recs):
        same_group = usable(before) == usable(after) and (
            usable(before) or before.fit.verdict == after.fit.verdict
        )
        if not same_group or before.fit.verdict is FitVerdict.WONT_FIT:
            continue
        # Within a group: comfortable before tight, tight before needing other programs closed,
        # then bigger and newer first (usable) or faster first (slow).
        key_before = (before.fit.tight, before.fit.over_free_ram)
        key_after = (after.fit.tight, after.fit.over_free_ram)
        assert key_before <= key_after, f"{before.variant.id} ranked above {after.variant.id}"
        if key_before == key_after and usable(before):
            assert quality_score(before.variant) >= quality_score(after.variant)
        elif key_before == key_after:
            speed_before = before.fit.tokens_per_second_estimate or 0
            assert speed_before >= (after.fit.tokens_per_second_estimate or 0)


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


def test_two_core_machine_does_not_put_a_tight_model_first(catalog: Catalog) -> None:
    vm = profile("cpu_2core_24gib")  # 2 cores, 24 GiB, 22 GiB available, no GPU
    recs = recommend(catalog, vm, "chat")
    moe = by_id(recs, "qwen3-30b-a3b")
    # 19e9 + 96 KiB × 8192 + 4·512·(1 + 4096 + 8192·33) + 256 MiB ≈ 19.2 GiB: fits the 20 GiB
    # budget but leaves 2.8 GiB (< 4 GiB) for everything else.
    need = 19e9 + 96 * KiB * 8192 + 2048 * (1 + 4096 + 8192 * 33) + 256 * MiB
    assert 22 * GiB - 2 * GiB >= need > 22 * GiB - 4 * GiB
    assert moe.fit.verdict is FitVerdict.CPU_ONLY and moe.fit.tight
    assert "Tight: leaves only 2.8 GiB of RAM" in moe.reason
    assert not recs[0].fit.tight
    assert ids(recs).index("qwen3-30b-a3b") > max(
        ids(recs).index(rec.variant.id) for rec in recs if rec.fit.fits and not rec.fit.tight
    )
    default = first_run_default(catalog, vm)
    assert default is not None and not default.fit.tight
    # Two cores stream 16 GB/s: Qwen3-1.7B (1.4 GB) ≈ 8.6 tokens/s, the best comfortable and
    # fast pick whose licence allows commercial use (Qwen2.5-3B ranks above it: research licence).
    assert 16e9 / (1.4e9 + 112 * KiB * 4096) >= 7.5
    assert default.variant.id == "qwen3-1.7b"


def test_math_reasons_warn_about_the_4k_window(catalog: Catalog) -> None:
    for context in (8192, 2048):
        recs = recommend(catalog, profile("laptop_16gib_no_gpu"), "math", context_tokens=context)
        assert recs
        for rec in recs:
            assert "context window is only 4K tokens" in rec.reason
            assert rec.fit.context_tokens == min(context, 4096)
    recs = recommend(catalog, profile("laptop_16gib_no_gpu"), "math", context_tokens=8192)
    assert "less than the 8K asked for" in recs[0].reason
    assert all("a Qwen3 model in thinking mode also solves math" in rec.reason for rec in recs)


def test_vision_reasons_say_what_images_cost(catalog: Catalog) -> None:
    recs = recommend(catalog, profile("nvidia_24gb"), "vision")
    assert all("about one token per 28×28 pixels" in rec.reason for rec in recs)
    # Qwen2.5-VL-7B: the 677M-parameter tower at F16 plus one image's working memory.
    assert by_id(recs, "qwen2.5-vl-7b-instruct").fit.vision_bytes == 677_000_000 * 2 + 512 * MiB


def test_engine_and_measurements(catalog: Catalog) -> None:
    from datetime import UTC, datetime

    from qwen_desktop.core.measurements import Measurement, machine_fingerprint

    machine = profile("nvidia_24gb")
    tf = recommend(catalog, machine, "chat", engine="transformers", limit=5)
    assert all(rec.fit.engine == "transformers" and rec.fit.quant == "bf16" for rec in tf)
    assert all(rec.fit.verdict is not FitVerdict.PARTIAL_GPU for rec in tf)
    with pytest.raises(ValueError, match="compute dtype"):
        recommend(catalog, machine, "chat", engine="transformers", kv_type="q8_0")
    record = Measurement(
        model_id="qwen3-8b", engine="ollama", quant="Q4_K_M", context_tokens=8192,
        machine_fingerprint=machine_fingerprint(machine), tokens_per_second=1.5,
        measured_at=datetime(2026, 11, 29, tzinfo=UTC),
    )  # fmt: skip
    measured = recommend(catalog, machine, "chat", measurements={"qwen3-8b": record})
    rec = by_id(measured, "qwen3-8b")
    assert rec.fit.tokens_per_second_estimate == pytest.approx(1.5)
    assert "measured 1.5 tokens/s on this machine on 2026-11-29" in rec.reason
    # Measured slow, it now ranks below the fast models of its tier.
    assert ids(measured).index("qwen3-8b") > ids(measured).index("qwen3-4b")
    # A measurement of another quantization is ignored.
    q8 = recommend(catalog, machine, "chat", quant="Q8_0", measurements={"qwen3-8b": record})
    assert by_id(q8, "qwen3-8b").fit.measurement is None


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

    # 1.5 GiB available, minus a 0.3 GiB reserve (15 % of 2 GiB): only Qwen2.5-0.5B fits
    # (≈ 1.0 GiB at 8K); Qwen3-0.6B needs
    # 523e6 + 112 KiB × 8192 + 4·512·(1024 + 151936) + 256 MiB ≈ 1.9 GiB > 1.2 GiB.
    assert 523e6 + 112 * KiB * 8192 + 2048 * (1024 + 151_936) + 256 * MiB > 1.5 * GiB - 0.3 * GiB
    tiny = first_run_default(catalog, profile("tiny_2gib"))
    # Every fit is tight on 2 GiB: the default falls back to the best tight one.
    assert tiny is not None and tiny.variant.id == "qwen2.5-0.5b-instruct" and tiny.fit.tight

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
