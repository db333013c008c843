"""Preparing attached images (chat/image_preparation.py): formats, EXIF orientation, the
pixel budget (case C11), and clear refusals of broken, non-image and oversized files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from qwen_desktop.chat.image_preparation import (
    MAX_FILE_BYTES,
    prepare_image,
    prepare_image_file,
)
from qwen_desktop.core.images import ImageError, PixelBudget


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` pixels (no real pixel data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_c11_a_4k_png_is_resized_to_the_budget_before_it_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "screenshot.png"
    Image.new("RGB", (3840, 2160), (30, 120, 200)).save(path)
    prepared = prepare_image_file(path)
    assert (prepared.source_width, prepared.source_height) == (3840, 2160)
    assert (prepared.width, prepared.height) == (1316, 728)  # 47 × 26 areas of 28×28
    assert prepared.tokens == 1222
    assert prepared.resized
    assert prepared.image.mime == "image/png"
    assert decoded(prepared.image.data).size == (1316, 728)  # what the engine receives
    assert prepared.describe() == ("screenshot.png: 3840×2160 → 1316×728 px, 1,222 visual tokens")


def test_jpeg_stays_jpeg_with_its_exif_orientation_applied_and_metadata_dropped() -> None:
    photo = Image.new("RGB", (560, 280), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"
    prepared = prepare_image(encode(photo, "JPEG", exif=exif.tobytes()), name="photo.jpg")
    assert (prepared.source_width, prepared.source_height) == (280, 560)  # shown upright
    assert (prepared.width, prepared.height) == (280, 560)
    assert prepared.image.mime == "image/jpeg"
    out = decoded(prepared.image.data)
    assert out.format == "JPEG" and out.size == (280, 560)
    assert not out.getexif()  # no orientation tag, no maker, no GPS left


def test_webp_and_transparent_png_become_rgb_png_over_white() -> None:
    webp = prepare_image(encode(Image.new("RGB", (100, 60), (0, 255, 0)), "WEBP"), name="a.webp")
    assert webp.source_format == "WEBP" and webp.image.mime == "image/png"
    assert (webp.width, webp.height) == (112, 56)
    clear = prepare_image(encode(Image.new("RGBA", (56, 56), (0, 0, 0, 0)), "PNG"), name="t")
    out = decoded(clear.image.data)
    assert out.mode == "RGB" and out.getpixel((10, 10)) == (255, 255, 255)


def test_an_animated_gif_sends_its_first_frame() -> None:
    frames = [Image.new("RGB", (56, 56), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    prepared = prepare_image(buffer.getvalue(), name="anim.gif")
    assert prepared.source_format == "GIF"
    red, _green, blue = decoded(prepared.image.data).getpixel((28, 28))  # type: ignore[misc]
    assert red > 200 and blue < 50


def test_a_tiny_image_is_scaled_up_to_the_minimum() -> None:
    prepared = prepare_image(encode(Image.new("RGB", (8, 8)), "PNG"), name="dot.png")
    assert (prepared.width, prepared.height) == (56, 56) and prepared.tokens == 4


def test_a_custom_budget_is_honoured() -> None:
    data = encode(Image.new("RGB", (3840, 2160)), "PNG")
    prepared = prepare_image(data, budget=PixelBudget(max_pixels=256 * 28 * 28))
    assert (prepared.width, prepared.height) == (588, 336) and prepared.tokens == 252


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"just some text, not a picture", "is not a PNG, JPEG, WebP or GIF"),
        (encode(Image.new("RGB", (64, 64)), "BMP"), "is not a PNG, JPEG, WebP or GIF"),
        (encode(Image.new("RGB", (300, 300), (9, 9, 9)), "PNG")[:200], "damaged"),
        (png_header_only(11_000, 10_000), "110 megapixels"),
        (png_header_only(20_000, 20_000), "far too many pixels"),
        (encode(Image.new("RGB", (2010, 10)), "PNG"), "201 times its short side"),
    ],
)
def test_bad_images_are_refused_with_a_reason_and_an_action(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message) as caught:
        prepare_image(data, name="upload")
    assert caught.value.action
    assert str(caught.value).startswith("upload")


def test_files_too_large_are_refused_before_they_are_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(ImageError, match="MiB"):
        prepare_image_file(path)
    with pytest.raises(ImageError, match=r"Cannot read missing\.png"):
        prepare_image_file(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is not a file"):
        prepare_image_file(tmp_path)
