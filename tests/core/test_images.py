"""The Qwen-VL pixel budget and visual-token cost (core/images.py), case C11, and the vision
model offered when a text-only model is loaded."""

from __future__ import annotations

import math

import pytest

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.images import (
    MAX_PIXELS,
    MIN_PIXELS,
    TOKEN_PIXELS,
    ImageError,
    PixelBudget,
    fit_to_budget,
    image_tokens,
    token_cost,
    vision_sibling,
)


def test_constants_are_qwen2_5_vl_processor_defaults() -> None:
    assert TOKEN_PIXELS == 28  # patch 14 × merge 2
    assert MIN_PIXELS == 3136
    assert MAX_PIXELS == 1_003_520
    assert PixelBudget().max_tokens == 1280


def test_c11_a_4k_screenshot_is_fitted_to_the_budget() -> None:
    # smart_resize: beta = sqrt(3840·2160 / 1,003,520) = 2.87494…;
    # width  = floor(3840 / beta / 28)·28 = floor(47.70)·28 = 47·28 = 1316
    # height = floor(2160 / beta / 28)·28 = floor(26.83)·28 = 26·28 = 728
    beta = math.sqrt(3840 * 2160 / MAX_PIXELS)
    assert math.floor(3840 / beta / 28) == 47 and math.floor(2160 / beta / 28) == 26
    assert fit_to_budget(3840, 2160) == (1316, 728)
    assert MAX_PIXELS >= 1316 * 728
    assert image_tokens(3840, 2160) == 47 * 26 == 1222


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1316, 728), (1316, 728)),  # already fitted: unchanged (the engine will not resize)
        ((640, 480), (644, 476)),  # sides rounded to the nearest multiple of 28: 23·28, 17·28
        ((10, 10), (56, 56)),  # below min_pixels: scaled up to 56×56 = 4 tokens
        # very thin (ratio 150 ≤ 200): below min_pixels, beta = sqrt(3136 / 150) = 4.572,
        # sides ceil(4.572 / 28)·28 = 28 and ceil(150 · 4.572 / 28)·28 = 25·28 = 700
        ((1, 150), (28, 700)),
        # a 12-megapixel photo: beta = 3.4580, floor(41.31)·28 = 1148, floor(30.98)·28 = 840
        ((4000, 3000), (1148, 840)),
    ],
)
def test_fit_to_budget_follows_smart_resize(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    width, height = fit_to_budget(*size)
    assert (width, height) == expected
    assert width % 28 == 0 and height % 28 == 0
    assert MIN_PIXELS <= width * height <= MAX_PIXELS


def test_a_smaller_budget_costs_fewer_tokens() -> None:
    budget = PixelBudget(max_pixels=256 * 28 * 28)
    width, height = fit_to_budget(3840, 2160, budget)
    assert width * height <= budget.max_pixels
    assert image_tokens(3840, 2160, budget) == token_cost(width, height) <= 256
    # beta = sqrt(3840·2160 / 200,704) = 6.4286: floor(21.33)·28 = 588, floor(12.00)·28 = 336
    assert (width, height) == (588, 336)


def test_aspect_ratio_is_kept_within_one_token() -> None:
    width, height = fit_to_budget(3000, 1000)
    assert abs(width / height - 3.0) < 28 / height + 28 / width


def test_refusals_say_why() -> None:
    with pytest.raises(ImageError, match="201 times"):
        fit_to_budget(201, 1)
    with pytest.raises(ImageError, match="no pixels"):
        fit_to_budget(0, 10)
    with pytest.raises(ValueError, match="min_pixels"):
        PixelBudget(min_pixels=100)


def test_token_cost_rounds_partial_areas_up() -> None:
    assert token_cost(28, 28) == 1
    assert token_cost(29, 28) == 2
    assert token_cost(1316, 728) == 1222


def test_vision_sibling_is_close_in_size_and_thinking_kind() -> None:
    catalog = load_catalog()
    qwen3_8b = vision_sibling(catalog, catalog.get("qwen3-8b"))
    assert qwen3_8b is not None and qwen3_8b.modality == "image+text"
    assert 5e9 < qwen3_8b.parameters < 13e9
    instruct = vision_sibling(catalog, catalog.get("qwen2.5-7b-instruct"))
    assert instruct is not None and instruct.thinking_kind.value == "instruct-only"
    assert 5e9 < instruct.parameters < 13e9
    assert vision_sibling(catalog, catalog.get("qwen2.5-vl-7b-instruct")) is None  # sees already
    smallest = vision_sibling(catalog, None)
    assert smallest is not None
    assert smallest.parameters == min(
        v.parameters for v in catalog.variants if v.modality == "image+text"
    )
