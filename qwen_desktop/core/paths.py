"""Where the app keeps things: platform folders (platformdirs) and the bundled resources.

Environment overrides (useful for tests and portable installs): ``QWEN_DESKTOP_DATA_DIR``,
``QWEN_DESKTOP_CONFIG_DIR``, ``QWEN_DESKTOP_MODELS_DIR``, ``QWEN_DESKTOP_RESOURCES``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "qwen-desktop"


@dataclass(frozen=True)
class AppPaths:
    """The app's folders. Nothing is created until :meth:`ensure` is called."""

    data_dir: Path
    config_dir: Path
    models_dir: Path

    @classmethod
    def default(cls) -> AppPaths:
        """Folders from the environment overrides, else the platform's conventions."""
        data = Path(os.environ.get("QWEN_DESKTOP_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))
        config = Path(
            os.environ.get("QWEN_DESKTOP_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME)
        )
        models = Path(os.environ.get("QWEN_DESKTOP_MODELS_DIR") or data / "models")
        return cls(data_dir=data, config_dir=config, models_dir=models)

    def ensure(self) -> AppPaths:
        """Create the folders (parents included) and return self."""
        for folder in (self.data_dir, self.config_dir, self.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def existing_ancestor(path: Path) -> Path:
    """The nearest existing folder at or above ``path`` (to measure free disk before it exists)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def resources_dir() -> Path:
    """The folder holding ``catalog/``, icons and other bundled data files.

    Looked up in order: ``QWEN_DESKTOP_RESOURCES``; a PyInstaller bundle (``sys._MEIPASS``); the
    source checkout (``<repo>/resources``, also used by editable installs); the installed wheel
    (``qwen_desktop/_resources``).
    """
    override = os.environ.get("QWEN_DESKTOP_RESOURCES")
    candidates = [Path(override)] if override else []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    package = Path(__file__).resolve().parent.parent
    candidates += [package.parent / "resources", package / "_resources"]
    for candidate in candidates:
        if (candidate / "catalog").is_dir():
            return candidate
    return candidates[-1]
