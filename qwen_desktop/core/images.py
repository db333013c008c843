"""Image budgets for Qwen vision models (pure): the pixel budget and the visual-token cost.

Qwen2-VL, Qwen2.5-VL and Qwen3-VL cut an image into 14×14-pixel patches and merge each 2×2 group
of patches into one token, so one visual token covers a 28×28-pixel area. Before that, the image
processor resizes every image with ``smart_resize`` so that

1. both sides are multiples of 28 (``factor = patch_size · merge_size``),
2. the pixel count lies within ``[min_pixels, max_pixels]``,
3. the aspect ratio is kept as closely as possible.

Source: Hugging Face Transformers, ``models/qwen2_vl/image_processing_qwen2_vl.py``
(``smart_resize`` and ``Qwen2VLImageProcessor``: ``patch_size = 14``, ``merge_size = 2``,
``min_pixels = 56 * 56``, ``max_pixels = 28 * 28 * 1280``), which Qwen2.5-VL's processor reuses;
the same function ships in Qwen's ``qwen-vl-utils`` (``vision_process.py``). This module repeats
that rule exactly, so an image resized here passes through the engine's processor unchanged and
its token count is known before it is sent.

Which vision model to offer when a text-only model is loaded (:func:`vision_sibling`) is decided
from the catalog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qwen_desktop.core.catalog import Catalog, Variant
from qwen_desktop.core.errors import QwenDesktopError

PATCH_PIXELS = 14
"""Side of one vision patch in pixels (``patch_size``, Qwen2-VL/Qwen2.5-VL image processor)."""
MERGE_SIZE = 2
"""Patches merged per side into one token (``merge_size``: 2×2 patches → one token)."""
TOKEN_PIXELS = PATCH_PIXELS * MERGE_SIZE
"""Side in pixels of the square one visual token covers (28, ``factor`` of ``smart_resize``)."""
MIN_PIXELS = 56 * 56
"""Fewest pixels an image is sent with (3,136 = 4 tokens; processor default ``min_pixels``)."""
MAX_PIXELS = 28 * 28 * 1280
"""Most pixels an image is sent with (1,003,520 = 1,280 tokens; processor default
``max_pixels``, also the budget Qwen's model cards suggest to bound memory)."""
MAX_ASPECT_RATIO = 200
"""``smart_resize`` refuses images whose long side exceeds 200 × the short side."""


class ImageError(QwenDesktopError):
    """An image cannot be attached (not an image, broken, too large, unsupported)."""


@dataclass(frozen=True)
class PixelBudget:
    """How many pixels an image may be sent with.

    Attributes:
        min_pixels: Fewest pixels (width × height) after resizing.
        max_pixels: Most pixels after resizing.
    """

    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS

    def __post_init__(self) -> None:
        if not TOKEN_PIXELS**2 <= self.min_pixels <= self.max_pixels:
            raise ValueError(
                f"need {TOKEN_PIXELS**2} ≤ min_pixels ≤ max_pixels, got "
                f"{self.min_pixels} and {self.max_pixels}"
            )

    @property
    def max_tokens(self) -> int:
        """Most visual tokens one image costs within this budget."""
        return self.max_pixels // TOKEN_PIXELS**2


DEFAULT_BUDGET = PixelBudget()


def fit_to_budget(width: int, height: int, budget: PixelBudget = DEFAULT_BUDGET) -> tuple[int, int]:
    """The size an image is sent with: Qwen's ``smart_resize``, in (width, height) order.

    Args:
        width: Original width in pixels.
        height: Original height in pixels.
        budget: Pixel budget.

    Returns:
        (width, height) in pixels, both multiples of :data:`TOKEN_PIXELS`, with
        ``budget.min_pixels ≤ width·height ≤ budget.max_pixels`` and the aspect ratio kept as
        closely as that allows.

    Raises:
        ImageError: A side is not positive, or the aspect ratio exceeds :data:`MAX_ASPECT_RATIO`.
    """
    if width <= 0 or height <= 0:
        raise ImageError(f"The image has no pixels ({width}×{height}).", "Attach another image.")
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise ImageError(
            f"The image is {width}×{height} pixels: its long side is {ratio:.0f} times its short "
            f"side, more than Qwen vision models accept ({MAX_ASPECT_RATIO}).",
            "Crop it to a less elongated shape and attach it again.",
        )
    factor = TOKEN_PIXELS
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > budget.max_pixels:
        beta = math.sqrt((height * width) / budget.max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < budget.min_pixels:
        beta = math.sqrt(budget.min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def token_cost(width: int, height: int) -> int:
    """Visual tokens of an image of ``width`` × ``height`` pixels as sent (already resized).

    One token per 28×28 area; sides that are not multiples of 28 are rounded up, as the
    processor pads them.
    """
    return math.ceil(width / TOKEN_PIXELS) * math.ceil(height / TOKEN_PIXELS)


def image_tokens(width: int, height: int, budget: PixelBudget = DEFAULT_BUDGET) -> int:
    """Visual tokens an image of the given original size costs once fitted to ``budget``."""
    return token_cost(*fit_to_budget(width, height, budget))


def vision_sibling(catalog: Catalog, variant: Variant | None) -> Variant | None:
    """The vision model to offer when ``variant`` (a text-only model) is loaded.

    The rule: among the catalog's image+text variants, those closest in total parameters
    (the ratio on a log scale in steps of half a unit, about ×1.65, so 7B, 8B and 9B count as
    equally close), then of the same thinking kind, then of the newest generation. With no
    known variant, the smallest vision variant (the one most likely to run where a model
    already runs).

    Returns:
        The variant, or None when the catalog has no vision variant or ``variant`` already
        sees images.
    """
    vision = [v for v in catalog.variants if v.modality == "image+text"]
    if not vision or (variant is not None and variant.modality == "image+text"):
        return None
    if variant is None:
        return min(vision, key=lambda v: (v.parameters, -v.generation))
    target = variant

    def distance(candidate: Variant) -> tuple[int, bool, float, float]:
        size = abs(math.log(candidate.parameters / target.parameters))
        other_kind = candidate.thinking_kind is not target.thinking_kind
        return (round(size * 2), other_kind, -candidate.generation, size)

    return min(vision, key=distance)
