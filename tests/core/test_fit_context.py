"""The largest context that fits each way, worked out by hand.

Above 4,480 tokens the compute graph of Qwen3-8B is 4·512·(1 + 2·4096 + ctx·33), so the memory
of a full-GPU or CPU-only run grows by ``KV per token + 2048·33`` bytes per token on top of a
constant; the largest context is the budget left after the constant divided by that slope,
rounded down to a multiple of 256 tokens (and capped at the model's window).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qwen_desktop.core.catalog import Catalog, load_catalog
from qwen_desktop.core.fit import estimate_fit
from qwen_desktop.core.fit_context import largest_context, max_context
from qwen_desktop.core.fit_memory import model_costs
from qwen_desktop.core.fit_placement import MachineView, experts_on_cpu
from qwen_desktop.core.machine import MachineReport

KiB = 1024
MiB = 1024**2
GiB = 1024**3
PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"
GRAPH_SLOPE = 2048 * 33  # Qwen3-8B/-4B/-30B: 4·512·(1 + 32 heads) bytes per context token


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def profile(name: str) -> MachineReport:
    return MachineReport.from_file(PROFILES / f"{name}.json")


def floor_256(tokens: float) -> int:
    return math.floor(tokens / 256) * 256


def test_largest_context_search() -> None:
    assert largest_context(lambda c: c <= 5000, 40_960) == 4864  # 19 × 256
    assert largest_context(lambda c: c <= 50_000, 40_960) == 40_960  # the whole window
    assert largest_context(lambda c: c <= 100, 40_960) is None  # not even 512 tokens
    assert largest_context(lambda c: c <= 3000, 4096) == 2816
    assert largest_context(lambda c: True, 300) == 300  # a window under the minimum


def test_8gb_gpu_qwen3_8b(catalog: Catalog) -> None:
    # GPU: 7.5 GiB × 0.95 − 5.2e9 − 457 MiB − 4·512·(1 + 8192) left for (144 KiB + 67,584) per token
    room = 7.5 * GiB * 0.95 - 5.2e9 - 457 * MiB - 2048 * (1 + 8192)
    full = floor_256(room / (144 * KiB + GRAPH_SLOPE))
    assert full == 8960  # "GPU up to 8.8K"
    fit = estimate_fit(catalog.get("qwen3-8b"), profile("nvidia_8gb"), context_tokens=4096)
    # Partial offload still holds 13 layers on the GPU at the 40K window, and the rest fits the
    # 22 GiB RAM budget; CPU only: 5.2e9 + 256 MiB + 40960 × (144 KiB + 67,584) + 16.8 MB ≤ 22 GiB.
    assert 5.2e9 + 256 * MiB + 2048 * (1 + 8192) + 40_960 * (144 * KiB + GRAPH_SLOPE) <= 22 * GiB
    assert fit.max_context_tokens == {"full_gpu": full, "partial_gpu": 40_960, "cpu_only": 40_960}
    # One token past the answer no longer fits fully on the GPU.
    assert estimate_fit(catalog.get("qwen3-8b"), profile("nvidia_8gb"),
                        context_tokens=full).verdict.value == "full_gpu"  # fmt: skip
    assert estimate_fit(catalog.get("qwen3-8b"), profile("nvidia_8gb"),
                        context_tokens=full + 256).verdict.value == "partial_gpu"  # fmt: skip


def test_quantized_kv_cache_buys_context(catalog: Catalog) -> None:
    room = 7.5 * GiB * 0.95 - 5.2e9 - 457 * MiB - 2048 * (1 + 8192)
    elements = 2 * 36 * 8 * 128  # per token
    q8 = estimate_fit(catalog.get("qwen3-8b"), profile("nvidia_8gb"), kv_type="q8_0")
    q4 = estimate_fit(catalog.get("qwen3-8b"), profile("nvidia_8gb"), kv_type="q4_0")
    assert q8.max_context is not None and q4.max_context is not None
    assert q8.max_context.full_gpu == floor_256(room / (elements * 34 / 32 + GRAPH_SLOPE))
    assert q4.max_context.full_gpu == floor_256(room / (elements * 18 / 32 + GRAPH_SLOPE))
    assert (q8.max_context.full_gpu, q4.max_context.full_gpu) == (13_312, 17_920)


def test_cpu_only_laptop_and_apple(catalog: Catalog) -> None:
    # Laptop: 16 GiB RAM less the 2 GiB reserve = 14 GiB budget (whatever is open now).
    # Qwen3-8B: 14 GiB − 5.2e9 − 256 MiB − 4·512·(1 + 8192), per token 144 KiB + 67,584: more
    # than its 40,960-token window, so the window is the answer.
    cpu_8b = (14 * GiB - 5.2e9 - 256 * MiB - 2048 * 8193) / (144 * KiB + GRAPH_SLOPE)
    assert cpu_8b > 40_960
    laptop = estimate_fit(catalog.get("qwen3-8b"), profile("laptop_16gib_no_gpu"))
    assert laptop.max_context_tokens == {
        "full_gpu": None,
        "partial_gpu": None,
        "cpu_only": 40_960,
    }
    # Qwen3-14B: 9.3e9 of weights, 160 KiB of KV cache and 4·512·41 of graph per token.
    slope_14b = 160 * KiB + 2048 * 41
    cpu = floor_256((14 * GiB - 9.3e9 - 256 * MiB - 2048 * (1 + 2 * 5120)) / slope_14b)
    assert cpu == 21_760
    laptop_14b = estimate_fit(catalog.get("qwen3-14b"), profile("laptop_16gib_no_gpu"))
    assert laptop_14b.max_context_tokens == {
        "full_gpu": None,
        "partial_gpu": None,
        "cpu_only": cpu,
    }
    # Apple M2: the unified pool is the 14 GiB RAM budget too; Metal's minimum is 512 MiB.
    gpu = floor_256((14 * GiB - 9.3e9 - 512 * MiB - 2048 * (1 + 2 * 5120)) / slope_14b)
    assert gpu == 20_736
    apple = estimate_fit(catalog.get("qwen3-14b"), profile("apple_unified_16gib"))
    assert apple.max_context_tokens == {"full_gpu": gpu, "partial_gpu": None, "cpu_only": cpu}


def test_nothing_fits_gives_none(catalog: Catalog) -> None:
    fit = estimate_fit(catalog.get("qwen3-235b-a22b"), profile("laptop_16gib_no_gpu"))
    assert fit.max_context_tokens == {"full_gpu": None, "partial_gpu": None, "cpu_only": None}


def test_window_caps_the_answer(catalog: Catalog) -> None:
    # Qwen2.5-Math-1.5B has a 4K window: everything fits a 24 GB GPU, so 4096 each way.
    fit = estimate_fit(catalog.get("qwen2.5-math-1.5b-instruct"), profile("nvidia_24gb"),
                       context_tokens=4096)  # fmt: skip
    assert fit.max_context_tokens == {"full_gpu": 4096, "partial_gpu": 4096, "cpu_only": 4096}


def test_experts_on_cpu_context_is_the_boundary(catalog: Catalog) -> None:
    variant, rtx = catalog.get("qwen3-30b-a3b"), profile("nvidia_8gb")
    costs = model_costs(variant, "ollama", "Q4_K_M")
    view = MachineView.of(rtx)
    limits = max_context(costs, view)
    assert limits.full_gpu is None
    assert limits.experts_on_cpu is not None and limits.experts_on_cpu % 256 == 0
    assert experts_on_cpu(costs, view, limits.experts_on_cpu) is not None
    assert experts_on_cpu(costs, view, limits.experts_on_cpu + 256) is None
    fit = estimate_fit(variant, rtx, context_tokens=8192)
    assert fit.options[0].max_context_tokens == limits.experts_on_cpu
