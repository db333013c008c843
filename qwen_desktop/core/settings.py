"""The app's settings: a small typed JSON file in the platform config dir.

``<config dir>/settings.json`` holds :class:`Settings`. A value of the wrong type falls back to
its default with a logged warning; a file that is not valid JSON (or not an object) is moved
aside (``settings.json.broken-<unix time>``) and defaults are used, so it is never overwritten
silently. Writes are atomic (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "settings.json"
SETTINGS_VERSION = 1


@dataclass(frozen=True)
class Settings:
    """Everything the person chose that outlives the window.

    Attributes:
        models_dir: The folder Hugging Face models are kept in (a huggingface_hub cache
            layout), or ``None`` for the default (``QWEN_DESKTOP_MODELS_DIR``, else the user's
            Hugging Face cache).
        engine: The engine last chosen in the window: ``embedded`` (the app's own Ollama),
            ``transformers``, ``ollama`` (an Ollama at ``engine_url``) or ``server`` (an
            OpenAI-compatible server at ``engine_url``); ``None``: the default choice.
        engine_url: The address for ``ollama`` and ``server`` (never an API key: those live in
            the OS keyring).
    """

    models_dir: str | None = None
    engine: str | None = None
    engine_url: str | None = None

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


_TYPES: dict[str, tuple[type, ...]] = {
    "models_dir": (str, type(None)),
    "engine": (str, type(None)),
    "engine_url": (str, type(None)),
}
ENGINE_CHOICES = ("embedded", "transformers", "ollama", "server")
"""Values of :attr:`Settings.engine`."""


def settings_path(config_dir: Path) -> Path:
    """Where the settings live in ``config_dir``."""
    return Path(config_dir) / SETTINGS_FILE_NAME


def load_settings(config_dir: Path) -> Settings:
    """Read the settings (defaults when the file is missing, damaged or partly wrong)."""
    path = settings_path(config_dir)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        _log.warning("cannot read settings %s (%s); using defaults", path, exc)
        return Settings()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        aside = path.with_name(f"{path.name}.broken-{int(time.time())}")
        os.replace(path, aside)
        _log.warning("settings file %s is damaged (%s); moved to %s", path, exc, aside)
        return Settings()
    values: dict[str, Any] = {}
    for field in fields(Settings):
        if field.name not in data:
            continue
        value = data[field.name]
        if isinstance(value, _TYPES[field.name]):
            values[field.name] = value
        else:
            _log.warning(
                "setting %s in %s has a wrong value %r; using the default", field.name, path, value
            )
    return Settings(**values)


def save_settings(config_dir: Path, settings: Settings) -> Path:
    """Write the settings atomically; returns the file."""
    path = settings_path(config_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    payload = {"version": SETTINGS_VERSION, **asdict(settings)}
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
