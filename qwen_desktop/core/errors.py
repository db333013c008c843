"""Errors with a message a person can act on.

Every error the app shows to a user derives from :class:`QwenDesktopError`, which carries
``message`` (what went wrong, in plain words) and ``action`` (what to do about it). The CLI prints
both and exits non-zero; the window shows both and stays up.
"""

from __future__ import annotations


class QwenDesktopError(Exception):
    """Base class for errors shown to the user.

    Args:
        message: What went wrong, in plain words.
        action: What the user can do about it (may be empty).
    """

    def __init__(self, message: str, action: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.action = action

    def __str__(self) -> str:
        return f"{self.message} {self.action}".strip()


class CheckpointError(QwenDesktopError):
    """A model folder is not a usable checkpoint (missing, partial, corrupt or unsupported)."""


class EngineUnavailableError(QwenDesktopError):
    """An inference engine cannot run here (library not installed, no device, …)."""


class NoModelLoadedError(QwenDesktopError):
    """A prompt was sent while no model is loaded."""

    def __init__(self) -> None:
        super().__init__(
            "No model is loaded.",
            "Pick a model (or open a local model folder) before sending a prompt.",
        )


class ContextWindowExceededError(QwenDesktopError):
    """The prompt plus the requested answer length does not fit the model's context window."""


class CatalogError(QwenDesktopError):
    """The bundled model catalog is missing or fails validation."""


class GenerationError(QwenDesktopError):
    """The engine failed while generating an answer."""
