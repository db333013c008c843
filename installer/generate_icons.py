"""Render the app icon (``icons/qwen-desktop.svg``) to PNG sizes, a Windows .ico and a macOS .icns.

The SVG is the only source kept in git; installers generate the rest at build time::

    python resources/generate_icons.py installer/build/icons

writes ``hicolor/<N>x<N>/apps/<icon>.png`` for :data:`PNG_SIZES` (the freedesktop icon theme
layout, copied as is under ``/usr/share/icons``), ``qwen-desktop.ico`` and ``qwen-desktop.icns``.
Rendering uses Qt's SVG renderer (PySide6, already a dependency); Pillow writes .ico and .icns.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ICON_NAME = "io.github.qwen_desktop.QwenDesktop"
"""Icon name in the icon theme: the desktop file's ``Icon=`` and the AppStream ``<icon>``."""
SOURCE = Path(__file__).resolve().parent.parent / "resources" / "icons" / "qwen-desktop.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
"""hicolor sizes in px (freedesktop icon theme spec; AppStream wants at least 64 and 128)."""
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
"""Windows .ico frames in px (256 is the largest the format holds)."""
ICNS_SIZE = 1024
"""Largest macOS .icns frame in px (Pillow derives 16-512 and @2x from it)."""


def render_png(svg: Path, size: int) -> bytes:
    """Render ``svg`` to a square PNG of ``size`` px (transparent background).

    Raises:
        ValueError: The SVG cannot be parsed.
    """
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(
        ["generate_icons", "-platform", "offscreen"]
    )
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG file; fix it or restore it from git.")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # stubs say bytes, runtime wants str
    buffer.close()
    return bytes(data.data())


def generate(out: Path, svg: Path = SOURCE) -> list[Path]:
    """Write every icon file under ``out``; returns the files written."""
    from PIL import Image

    written: list[Path] = []
    for size in PNG_SIZES:
        target = out / "hicolor" / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(render_png(svg, size))
        written.append(target)
    scalable = out / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_bytes(svg.read_bytes())
    written.append(scalable)

    largest = Image.open(io.BytesIO(render_png(svg, 256)))
    ico = out / "qwen-desktop.ico"
    largest.save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES])
    written.append(ico)
    icns = out / "qwen-desktop.icns"
    Image.open(io.BytesIO(render_png(svg, ICNS_SIZE))).save(icns, format="ICNS")
    written.append(icns)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``generate_icons.py OUT_DIR [--svg PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="Folder to write the icons into (created).")
    parser.add_argument(
        "--svg", type=Path, default=SOURCE, help="Icon source (default: %(default)s)."
    )
    args = parser.parse_args(argv)
    if not args.svg.is_file():
        print(f"error: icon source {args.svg} does not exist.", file=sys.stderr)
        return 2
    try:
        files = generate(args.out, args.svg)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} icon files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
