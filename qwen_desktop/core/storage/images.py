"""Images stored once by content hash: small ones inside the database, large ones as files.

An image is identified by the SHA-256 of its bytes, so attaching the same picture twice stores it
once. Up to :data:`INLINE_IMAGE_MAX_BYTES` it lives in the ``images`` table; larger ones are
written to ``<data dir>/images/<sha256>`` (atomically: a temporary file renamed into place).
Images no message links to any more are removed with their files when messages are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3

from qwen_desktop.core.storage.database import StoreBase, guarded
from qwen_desktop.core.storage.errors import ChatStoreError, MissingRecordError
from qwen_desktop.core.storage.records import ImageInput, ImageRef

IMAGES_DIR_NAME = "images"
INLINE_IMAGE_MAX_BYTES = 100 * 1024
"""Images up to this size live in the database, larger ones in ``images/<sha256>``.

Source: SQLite's "Internal Versus External BLOBs" measurements (sqlite.org/intern-v-extern-blob):
with default page sizes, BLOBs under about 100 KB read faster from the database than from files.
"""


class ImageStore(StoreBase):
    """Image storage, shared by the message and conversation methods."""

    def _put_image(self, db: sqlite3.Connection, image: ImageInput) -> str:
        sha = hashlib.sha256(image.data).hexdigest()
        if db.execute("SELECT 1 FROM images WHERE sha256 = ?", (sha,)).fetchone():
            return sha
        data: bytes | None = image.data
        relative: str | None = None
        if len(image.data) > INLINE_IMAGE_MAX_BYTES:
            relative = f"{IMAGES_DIR_NAME}/{sha}"
            target = self.data_dir / relative
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f"{sha}.partial-{os.getpid()}")
                partial.write_bytes(image.data)
                os.replace(partial, target)
            data = None
        db.execute(
            "INSERT INTO images (sha256, mime, size_bytes, width, height, data, path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sha, image.mime, len(image.data), image.width, image.height, data, relative),
        )
        return sha

    def _images_of(self, message_ids: list[int]) -> dict[int, tuple[ImageRef, ...]]:
        found: dict[int, list[ImageRef]] = {}
        for start in range(0, len(message_ids), 500):
            chunk = message_ids[start : start + 500]
            rows = self.db.execute(
                "SELECT mi.message_id, i.sha256, i.mime, i.size_bytes, i.width, i.height "
                "FROM message_images AS mi JOIN images AS i ON i.sha256 = mi.image_sha256 "
                f"WHERE mi.message_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY mi.message_id, mi.position",
                chunk,
            )
            for message_id, *fields in rows:
                found.setdefault(int(message_id), []).append(ImageRef(*fields))
        return {key: tuple(value) for key, value in found.items()}

    @guarded
    def image_bytes(self, sha256: str) -> bytes:
        """The encoded bytes of a stored image.

        Raises:
            MissingRecordError: Unknown hash.
            ChatStoreError: The image's file under ``images/`` is missing or unreadable.
        """
        row = self.db.execute(
            "SELECT data, path FROM images WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if row is None:
            raise MissingRecordError("image", 0)
        if row[0] is not None:
            return bytes(row[0])
        try:
            return (self.data_dir / row[1]).read_bytes()
        except OSError as exc:
            raise ChatStoreError(
                f"The image file {row[1]} is missing or unreadable: {exc.strerror or exc}.",
                "Restore the data folder from a backup, or remove the message.",
            ) from exc

    def _prune_images(self) -> int:
        """Delete images no message uses any more (and their files); returns how many."""
        db = self.db
        with self._transaction():
            rows = db.execute(
                "SELECT sha256, path FROM images WHERE NOT EXISTS "
                "(SELECT 1 FROM message_images WHERE image_sha256 = images.sha256)"
            ).fetchall()
            db.executemany("DELETE FROM images WHERE sha256 = ?", [(row[0],) for row in rows])
        for _sha, relative in rows:
            if relative:
                with contextlib.suppress(OSError):
                    (self.data_dir / relative).unlink()
        return len(rows)
