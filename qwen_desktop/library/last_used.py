"""When each model was last loaded, as the app saw it (not file access times).

File access times are unreliable (``noatime``/``relatime`` mounts, antivirus scans, backups
touch them), so the app keeps its own record: ``<data dir>/last_used.json`` maps a model's key
(the absolute path of its folder or file, or ``ollama:<tag>``) to the Unix time it was last
loaded. A damaged file is moved aside (``last_used.json.broken-<unix time>``) with a logged
warning; writes are atomic.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

_log = logging.getLogger(__name__)

LAST_USED_FILE_NAME = "last_used.json"


def path_key(path: Path | str) -> str:
    """The record key of a model folder or file (absolute, not resolved: HF snapshots are
    folders of symlinks, and the snapshot folder is what gets loaded)."""
    return str(Path(path).expanduser().absolute())


class LastUsedRecord:
    """Reads and updates ``last_used.json``.

    Args:
        state_file: The record file.
        clock: Unix time now (tests pass a stand-in).
    """

    def __init__(self, state_file: Path, clock: Callable[[], float] = time.time) -> None:
        self.state_file = state_file
        self._clock = clock

    def all(self) -> dict[str, float]:
        """Every key with its last-load Unix time."""
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            entries = data["models"]
            if not isinstance(entries, dict):
                raise TypeError("models is not an object")
            return {str(k): float(v) for k, v in entries.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as exc:
            aside = self.state_file.with_name(f"{self.state_file.name}.broken-{int(time.time())}")
            os.replace(self.state_file, aside)
            _log.warning(
                "last-used record %s is damaged (%s); moved to %s", self.state_file, exc, aside
            )
            return {}

    def touch(self, key: str) -> float:
        """Record that the model ``key`` was loaded now; returns the time recorded."""
        entries = self.all()
        now = float(self._clock())
        entries[key] = now
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "models": entries}, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)
        return now

    def touch_path(self, path: Path | str) -> float:
        """Record that the model folder or file at ``path`` was loaded now."""
        return self.touch(path_key(path))

    def last_used_under(
        self, folder: Path | str, entries: dict[str, float] | None = None
    ) -> float | None:
        """The latest load of ``folder`` itself or anything inside it, or ``None``."""
        base = path_key(folder)
        entries = self.all() if entries is None else entries
        times = [t for k, t in entries.items() if k == base or k.startswith(base + os.sep)]
        return max(times, default=None)
