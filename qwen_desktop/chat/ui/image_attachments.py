"""Images attached to the message being written: thumbnails with a remove button, their cost.

Images arrive from the Attach button (files), from drag-and-drop and from paste onto the prompt
(files or raw image data). Each is prepared off the UI thread
(:func:`~qwen_desktop.chat.image_preparation.prepare_image`: checked, oriented, resized to the
pixel budget); a broken or oversized file is refused with a message (``failed``) and never
attached. The strip shows what each image costs in visual tokens and the total.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.image_preparation import PreparedImage, prepare_image, prepare_image_file
from qwen_desktop.core.catalog import Catalog
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.images import ImageError, vision_sibling
from qwen_desktop.core.model_identity import variant_for_path
from qwen_desktop.core.storage import ImageInput
from qwen_desktop.uikit.tasks import TaskGroup

THUMBNAIL_PIXELS = 64
"""Side of a thumbnail's square in the strip (logical pixels)."""
MAX_ATTACHED_IMAGES = 8
"""Most images attached to one message (each costs up to 1,280 visual tokens)."""

ImageSource = Path | tuple[str, bytes]
"""A file, or (name, encoded bytes) of pasted or dropped image data."""


def vision_offer(catalog: Catalog, model_name: str, model_path: Path | None) -> tuple[str, str]:
    """The notice shown when images are attached but the loaded model cannot see.

    Returns:
        (text, variant id of the offered vision model, or "" when the catalog has none).
    """
    variant = variant_for_path(catalog, model_path) if model_path is not None else None
    if variant is not None and variant.modality == "image+text":
        return (
            f"{model_name} is a vision model, but the engine it runs on here cannot pass it "
            "images yet (only the text chat works). Load it with Ollama to send images.",
            "",
        )
    sibling = vision_sibling(catalog, variant)
    text = f"{model_name} cannot see images, so images cannot be sent to it."
    if sibling is None:
        return f"{text} Load a vision model (Qwen2.5-VL, Qwen3-VL or Qwen3.5).", ""
    how = "its vision sibling" if variant is not None else "a vision model"
    return (
        f"{text} Try {how} {sibling.display_name} ({sibling.hf_repo}, "
        f"{sibling.parameters / 1e9:.1f}B parameters).",
        sibling.id,
    )


class Thumbnail(QFrame):
    """One attached image: its thumbnail, its cost in the tooltip, a remove button.

    Signals:
        remove_requested(): The × button was clicked.
    """

    remove_requested = Signal()

    def __init__(self, prepared: PreparedImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageThumbnail")
        self.prepared = prepared
        pixmap = QPixmap()
        pixmap.loadFromData(QByteArray(prepared.image.data))
        self.picture = QLabel()
        self.picture.setFixedSize(THUMBNAIL_PIXELS, THUMBNAIL_PIXELS)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setPixmap(
            pixmap.scaled(
                THUMBNAIL_PIXELS,
                THUMBNAIL_PIXELS,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.cost = QLabel(f"{prepared.tokens:,} tok")
        self.cost.setObjectName("imageCost")
        self.cost.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.remove_button = QToolButton()
        self.remove_button.setObjectName("removeImage")
        self.remove_button.setText("×")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip(f"Remove {prepared.name}")
        self.remove_button.clicked.connect(self.remove_requested)
        self.setToolTip(prepared.describe())
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.picture)
        top.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 2)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.cost)


class AttachmentStrip(QFrame):
    """The images attached to the draft (hidden while there are none).

    Signals:
        changed(): An image was attached or removed.
        failed(str, str): An image was refused: message, action.
    """

    changed = Signal()
    failed = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachmentStrip")
        self.images: list[PreparedImage] = []
        self.pending = 0
        """Images being prepared right now."""
        self._tasks = TaskGroup(self._on_task_error)
        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(6)
        self.summary = QLabel()
        self.summary.setObjectName("attachmentSummary")
        self.summary.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._row)
        layout.addWidget(self.summary, 1)
        self.attach_button = QPushButton("Attach image…")
        """Opens the file dialog; the window places it beside the prompt."""
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setToolTip(
            "Attach PNG, JPEG, WebP or GIF images (or drop or paste them onto the prompt); "
            "each is resized to the vision model's pixel budget"
        )
        self.setVisible(False)

    @property
    def tokens(self) -> int:
        """Visual tokens of every attached image together."""
        return sum(image.tokens for image in self.images)

    def inputs(self) -> tuple[ImageInput, ...]:
        """The prepared images, to send."""
        return tuple(image.image for image in self.images)

    def add(self, sources: Sequence[ImageSource]) -> None:
        """Prepare and attach images (files or (name, bytes)) off the UI thread."""
        room = MAX_ATTACHED_IMAGES - len(self.images) - self.pending
        if len(sources) > room:
            self.failed.emit(
                f"At most {MAX_ATTACHED_IMAGES} images go with one message.",
                "Send these first, or remove some.",
            )
            sources = sources[: max(0, room)]
        for source in sources:
            self.pending += 1
            self._tasks.start(self._prepare(source))

    async def _prepare(self, source: ImageSource) -> None:
        try:
            if isinstance(source, Path):
                prepared = await asyncio.to_thread(prepare_image_file, source)
            else:
                name, data = source
                prepared = await asyncio.to_thread(prepare_image, data, name=name)
        except ImageError as exc:
            self.failed.emit(exc.message, exc.action)
            return
        finally:
            self.pending -= 1
        self._attach(prepared)

    def _attach(self, prepared: PreparedImage) -> None:
        thumbnail = Thumbnail(prepared)
        thumbnail.remove_requested.connect(lambda: self.remove(thumbnail.prepared))
        self.images.append(prepared)
        self._row.addWidget(thumbnail)
        self._refresh()

    def remove(self, prepared: PreparedImage) -> None:
        """Remove one attached image."""
        for thumbnail in self.thumbnails():
            if thumbnail.prepared is prepared:
                self._row.removeWidget(thumbnail)
                thumbnail.setParent(None)
                thumbnail.deleteLater()
        self.images = [image for image in self.images if image is not prepared]
        self._refresh()

    def clear(self) -> None:
        """Remove every image (after the message was sent)."""
        for image in list(self.images):
            self.remove(image)

    def thumbnails(self) -> list[Thumbnail]:
        """The thumbnails shown, in attachment order."""
        items = (self._row.itemAt(i) for i in range(self._row.count()))
        return [w for item in items if item and isinstance(w := item.widget(), Thumbnail)]

    def _refresh(self) -> None:
        count = len(self.images)
        if count:
            noun = "image" if count == 1 else "images"
            resized = sum(image.resized for image in self.images)
            note = f" ({resized} resized to the pixel budget)" if resized else ""
            self.summary.setText(f"{count} {noun}: {self.tokens:,} visual tokens{note}")
            self.summary.setToolTip("\n".join(image.describe() for image in self.images))
        self.setVisible(bool(count))
        self.changed.emit()

    def _on_task_error(self, exc: BaseException) -> None:
        if isinstance(exc, QwenDesktopError):
            self.failed.emit(exc.message, exc.action)
        else:
            self.failed.emit(f"The image could not be prepared: {exc}", "Try another image.")
