"""Preparing an attached image for a Qwen vision model (Pillow): check, orient, resize, encode.

What happens to a file the user attaches:

1. Files over :data:`MAX_FILE_BYTES` are refused before they are read.
2. Pillow reads only the header first; anything that is not PNG, JPEG, WebP or GIF is refused,
   and so is an image over :data:`MAX_SOURCE_PIXELS` (a decompression bomb: a small file that
   would unpack to gigabytes), before any pixel is decoded.
3. The pixels are decoded (first frame of an animated GIF or WebP); a truncated or corrupt file
   is refused with the decoder's reason.
4. The EXIF orientation is applied (phone photos are stored sideways with a rotation tag).
5. The image is resized to the pixel budget with Qwen's ``smart_resize`` rule
   (:func:`qwen_desktop.core.images.fit_to_budget`: both sides multiples of 28, aspect kept),
   so the engine's processor does not resize it again and the visual-token cost shown is the
   one paid.
6. It is encoded again without metadata (EXIF, GPS position and comments are dropped): JPEG
   (quality :data:`JPEG_QUALITY`) for JPEG sources, PNG for the others; transparency is laid
   over white, as the vision models take RGB.

The result is an :class:`~qwen_desktop.core.storage.ImageInput` the chat store keeps (by content
hash) and the engines receive (Ollama as base64, Transformers as a decoded image).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_desktop.core.images import DEFAULT_BUDGET, ImageError, PixelBudget, fit_to_budget
from qwen_desktop.core.images import token_cost as _token_cost
from qwen_desktop.core.storage import ImageInput

if TYPE_CHECKING:  # Pillow loads with the first image: the window paints first
    from PIL import Image

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest file accepted (50 MiB): larger than any photo a phone takes (about 10–25 MB for a
200-megapixel JPEG), small enough to read at once."""
MAX_SOURCE_PIXELS = 100_000_000
"""Largest image accepted before resizing (100 megapixels, e.g. 10,000 × 10,000): decoding it
takes about 300 MB of RGB memory. Pillow's own bomb guard (``Image.MAX_IMAGE_PIXELS``, about
89 megapixels) only warns below twice that; this limit refuses clearly instead."""
JPEG_QUALITY = 90
"""Quality of re-encoded JPEG images (Pillow's scale 1–95)."""
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
"""Formats accepted (Pillow's names) and their media types."""
FILE_DIALOG_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif)"
"""The name filter of an "Attach image" file dialog."""


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send.

    Attributes:
        image: The encoded, resized image (what is stored and sent).
        name: Where it came from, for messages (file name, "pasted image").
        source_width: Width in pixels before resizing (after EXIF orientation).
        source_height: Height in pixels before resizing.
        source_format: Pillow's format name of the original (``PNG``, ``JPEG``, …).
    """

    image: ImageInput
    name: str
    source_width: int
    source_height: int
    source_format: str

    @property
    def width(self) -> int:
        """Width in pixels as sent."""
        return self.image.width or 0

    @property
    def height(self) -> int:
        """Height in pixels as sent."""
        return self.image.height or 0

    @property
    def tokens(self) -> int:
        """Visual tokens this image costs (one per 28×28 area as sent)."""
        return _token_cost(self.width, self.height)

    @property
    def resized(self) -> bool:
        """True when the image is sent at another size than the original."""
        return (self.width, self.height) != (self.source_width, self.source_height)

    def describe(self) -> str:
        """``"photo.png: 3840×2160 → 1316×728 px, 1,222 visual tokens"``."""
        size = f"{self.source_width}×{self.source_height}"
        if self.resized:
            size += f" → {self.width}×{self.height}"
        return f"{self.name}: {size} px, {self.tokens:,} visual tokens"


def prepare_image_file(path: Path, budget: PixelBudget = DEFAULT_BUDGET) -> PreparedImage:
    """Read and prepare an image file.

    Raises:
        ImageError: Unreadable, not an image, too large, broken or of an unsupported format.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(
            f"Cannot read {path.name}: {exc.strerror or exc}.", "Check the file and try again."
        ) from exc
    if not path.is_file():
        raise ImageError(f"{path.name} is not a file.", "Attach an image file.")
    _check_file_size(path.name, size)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(
            f"Cannot read {path.name}: {exc.strerror or exc}.", "Check the file and try again."
        ) from exc
    return prepare_image(data, name=path.name, budget=budget)


def prepare_image(
    data: bytes, *, name: str = "image", budget: PixelBudget = DEFAULT_BUDGET
) -> PreparedImage:
    """Check, orient, resize and encode an image held in memory.

    Args:
        data: The file's bytes.
        name: Shown in messages (a file name, "pasted image").
        budget: The pixel budget (default: Qwen2.5-VL's processor defaults).

    Raises:
        ImageError: Not an image, too large, broken or of an unsupported format.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    _check_file_size(name, len(data))
    if not data:
        raise ImageError(f"{name} is empty.", "Attach an image file (PNG, JPEG, WebP or GIF).")
    try:
        with warnings.catch_warnings():
            # Sizes are checked below against MAX_SOURCE_PIXELS, with a clear message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{name} has far too many pixels to open safely ({exc}).", _TOO_LARGE_ACTION
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not a PNG, JPEG, WebP or GIF image (or it is damaged).",
            "Attach an image in one of these formats; convert other formats first.",
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name} cannot be read as an image: {exc}.", _BROKEN_ACTION) from exc
    with source:
        fmt = source.format or "?"
        width, height = source.size
        if width * height > MAX_SOURCE_PIXELS:
            raise ImageError(
                f"{name} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), "
                f"more than the {MAX_SOURCE_PIXELS / 1e6:.0f} megapixels accepted.",
                _TOO_LARGE_ACTION,
            )
        try:
            source.seek(0)  # the first frame of an animation
            source.load()
            oriented = ImageOps.exif_transpose(source)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageError(f"{name} is damaged: {exc}.", _BROKEN_ACTION) from exc
    rgb = _to_rgb(oriented)
    src_w, src_h = rgb.size
    try:
        target = fit_to_budget(src_w, src_h, budget)
    except ImageError as exc:
        raise ImageError(exc.message.replace("The image", name, 1), exc.action) from None
    if target != rgb.size:
        rgb = rgb.resize(target, Image.Resampling.BICUBIC)
    out_format = "JPEG" if fmt == "JPEG" else "PNG"
    buffer = io.BytesIO()
    if out_format == "JPEG":
        rgb.save(buffer, "JPEG", quality=JPEG_QUALITY)
    else:
        rgb.save(buffer, "PNG", optimize=False)
    image = ImageInput(
        buffer.getvalue(), "image/jpeg" if out_format == "JPEG" else "image/png", *target
    )
    return PreparedImage(image, name, src_w, src_h, fmt)


_TOO_LARGE_ACTION = "Scale it down in an image editor, then attach it again."
_BROKEN_ACTION = "Open it in an image viewer to check it, or attach another copy."


def _check_file_size(name: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ImageError(
            f"{name} is {size / 2**20:.0f} MiB, more than the {MAX_FILE_BYTES // 2**20} MiB "
            "accepted for an image.",
            "Scale it down or save it as JPEG, then attach it again.",
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency is laid over white (vision models take RGB)."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
