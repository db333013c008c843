"""The measurement store: measured speed and memory per model, engine, quantization and machine.

A small SQLite database (stdlib ``sqlite3``) in the app's data folder,
``AppPaths.default().data_dir / "measurements.sqlite3"``: WAL journal, schema changes as numbered
migrations tracked by ``PRAGMA user_version``. One connection per store, guarded by a lock, so the
chat flow can record from the event loop while the window reads from another thread.

Usage (the chat flow, after each finished answer)::

    store = MeasurementStore.open_default()
    measurement = Measurement.from_usage(model_id="qwen3-8b", engine="ollama", quant="Q4_K_M",
                                         machine=report, usage=usage, peak_memory_bytes=peak)
    if measurement is not None:
        store.record(measurement)

and before an estimate::

    latest = store.latest("qwen3-8b", "ollama", "Q4_K_M", machine_fingerprint(report))
    fit = estimate_fit(variant, report, quant="Q4_K_M", measurement=latest)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.fit_engines import normalize_quant
from qwen_desktop.core.measurements import Measurement
from qwen_desktop.core.paths import AppPaths

DATABASE_NAME = "measurements.sqlite3"

MIGRATIONS: tuple[str, ...] = (
    # 1: the measurements table and its lookup index.
    """
    CREATE TABLE measurements (
        id INTEGER PRIMARY KEY,
        model_id TEXT NOT NULL,
        engine TEXT NOT NULL,
        quant TEXT NOT NULL,
        context_tokens INTEGER NOT NULL CHECK (context_tokens >= 0),
        machine_fingerprint TEXT NOT NULL,
        tokens_per_second REAL NOT NULL CHECK (tokens_per_second > 0),
        ttft_seconds REAL,
        peak_memory_bytes INTEGER,
        measured_at TEXT NOT NULL
    );
    CREATE INDEX measurements_lookup
        ON measurements (model_id, engine, quant, machine_fingerprint, measured_at);
    """,
)
"""Schema migrations; ``PRAGMA user_version`` = how many have been applied. Append, never edit."""

_COLUMNS = (
    "model_id, engine, quant, context_tokens, machine_fingerprint, tokens_per_second, "
    "ttft_seconds, peak_memory_bytes, measured_at"
)


class MeasurementStoreError(QwenDesktopError):
    """The measurement database cannot be opened or is from a newer version of the app."""


def default_path() -> Path:
    """``<data dir>/measurements.sqlite3``."""
    return AppPaths.default().data_dir / DATABASE_NAME


class MeasurementStore:
    """Measured runs, newest wins.

    Args:
        path: The database file (created with its folder when missing).

    Raises:
        MeasurementStoreError: The file cannot be opened, is not a database, or was written by a
            newer schema than this version knows.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise MeasurementStoreError(
                f"Cannot open the measurement database {path}: {exc}.",
                "Delete the file to start afresh (it only holds measured speeds).",
            ) from exc
        except OSError as exc:
            raise MeasurementStoreError(
                f"Cannot create the measurement database {path}: {exc.strerror or exc}.",
                "Check that the app's data folder is writable.",
            ) from exc

    @classmethod
    def open_default(cls) -> MeasurementStore:
        """The store in the app's data folder (:func:`default_path`)."""
        return cls(default_path())

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version``: migrations applied."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise MeasurementStoreError(
                f"The measurement database {self.path} has schema version {version}; this version "
                f"of qwen-desktop knows {len(MIGRATIONS)}.",
                "Update qwen-desktop, or delete the file (it only holds measured speeds).",
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def record(self, measurement: Measurement) -> int:
        """Store one measurement; returns its row id."""
        row = (
            measurement.model_id,
            measurement.engine,
            measurement.quant,
            measurement.context_tokens,
            measurement.machine_fingerprint,
            measurement.tokens_per_second,
            measurement.ttft_seconds,
            measurement.peak_memory_bytes,
            measurement.measured_at.astimezone(UTC).isoformat(),  # sorts as text
        )
        with self._lock, self._transaction():
            cursor = self._db.execute(
                f"INSERT INTO measurements ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
            return int(cursor.lastrowid or 0)

    def latest(
        self, model_id: str, engine: str, quant: str, fingerprint: str
    ) -> Measurement | None:
        """The newest measurement of ``model_id`` under ``engine`` at ``quant`` (any spelling the
        engine accepts) on the machine with ``fingerprint``, or ``None``.

        Raises:
            ValueError: Unknown engine or quantization.
        """
        quant = normalize_quant(quant, engine)
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM measurements WHERE model_id = ? AND engine = ? "
                "AND quant = ? AND machine_fingerprint = ? ORDER BY measured_at DESC, id DESC "
                "LIMIT 1",
                (model_id, engine, quant, fingerprint),
            ).fetchone()
        return None if row is None else _measurement(row)

    def latest_by_model(self, engine: str, quant: str, fingerprint: str) -> dict[str, Measurement]:
        """The newest measurement per model id for one engine, quantization and machine (what
        :func:`~qwen_desktop.core.recommend.recommend` takes as ``measurements``)."""
        quant = normalize_quant(quant, engine)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM measurements WHERE engine = ? AND quant = ? "
                "AND machine_fingerprint = ? ORDER BY measured_at, id",
                (engine, quant, fingerprint),
            ).fetchall()
        return {row[0]: _measurement(row) for row in rows}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> MeasurementStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _measurement(row: tuple[Any, ...]) -> Measurement:
    model_id, engine, quant, context, fingerprint, speed, ttft, peak, when = row
    return Measurement(
        model_id=str(model_id),
        engine=str(engine),
        quant=str(quant),
        context_tokens=int(context),
        machine_fingerprint=str(fingerprint),
        tokens_per_second=float(speed),
        ttft_seconds=None if ttft is None else float(ttft),
        peak_memory_bytes=None if peak is None else int(peak),
        measured_at=datetime.fromisoformat(str(when)),
    )
