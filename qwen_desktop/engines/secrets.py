"""API keys of remote servers, kept in the operating system's keyring, never in plain settings.

Keys are stored with the ``keyring`` library (macOS Keychain, Windows Credential Locker, the
Secret Service on Linux desktops: GNOME Keyring, KWallet) under the service name
:data:`SERVICE` and the server's normalised address as the account. Where no keyring backend
exists (a headless Linux box without a Secret Service), storing a key fails with a message that
says so and points at the :data:`API_KEY_ENV` environment variable instead; nothing is ever
written to a file by this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import fail, null

from qwen_desktop.core.errors import QwenDesktopError

SERVICE = "qwen-desktop"
"""The keyring service name every key is stored under."""
API_KEY_ENV = "QWEN_DESKTOP_API_KEY"
"""Environment variable read before the keyring (for scripts and machines without a keyring)."""

KeySource = Literal["environment", "keyring", "none"]


class SecretStoreError(QwenDesktopError):
    """The OS keyring is missing or refused the operation."""


def key_account(url: str) -> str:
    """The keyring account for a server: ``scheme://host:port/path`` lower-cased, no trailing
    slash (``HTTP://Box:8000/v1/`` → ``http://box:8000/v1``)."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class ResolvedKey:
    """An API key and where it came from (``environment``, ``keyring``, or ``none``)."""

    key: str | None
    source: KeySource


class ApiKeyStore:
    """Reads and writes API keys in the OS keyring.

    Args:
        backend: A keyring backend to use instead of the one ``keyring`` picks for this
            platform (tests pass an in-memory one).
    """

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> keyring.backend.KeyringBackend:
        """The keyring backend in use."""
        return self._backend if self._backend is not None else keyring.get_keyring()

    def available(self) -> bool:
        """True when a real keyring backend exists (not ``keyring``'s fail or null backends)."""
        backend = self.backend
        children = getattr(backend, "backends", None)  # the chainer: usable when any child is
        if children is not None:
            return any(not isinstance(b, fail.Keyring | null.Keyring) for b in children)
        return not isinstance(backend, fail.Keyring | null.Keyring)

    def describe(self) -> str:
        """The backend's name for reports (``SecretService Keyring``), or why there is none."""
        if not self.available():
            return "none (no OS keyring backend is available)"
        return type(self.backend).__module__.rsplit(".", 1)[-1] + " keyring"

    def _unavailable(self, detail: str = "") -> SecretStoreError:
        reason = f" ({detail})" if detail else ""
        return SecretStoreError(
            f"No OS keyring is available to keep the API key{reason}.",
            f"Set the {API_KEY_ENV} environment variable instead, or install a keyring service "
            "(GNOME Keyring or KWallet on Linux; macOS and Windows have one built in).",
        )

    def get(self, url: str) -> str | None:
        """The stored key for ``url``, or None (also when there is no keyring)."""
        if not self.available():
            return None
        try:
            return self.backend.get_password(SERVICE, key_account(url))
        except keyring.errors.KeyringError:
            return None

    def set(self, url: str, key: str) -> None:
        """Store ``key`` for ``url`` (replacing any earlier one).

        Raises:
            SecretStoreError: The key is empty, there is no keyring, or it refused.
        """
        if not key.strip():
            raise SecretStoreError("The API key is empty.", "Paste the key the server expects.")
        if not self.available():
            raise self._unavailable()
        try:
            self.backend.set_password(SERVICE, key_account(url), key.strip())
        except keyring.errors.KeyringError as error:
            raise self._unavailable(str(error) or type(error).__name__) from None

    def delete(self, url: str) -> bool:
        """Forget the key for ``url``; False when none was stored.

        Raises:
            SecretStoreError: There is no keyring.
        """
        if not self.available():
            raise self._unavailable()
        try:
            self.backend.delete_password(SERVICE, key_account(url))
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.KeyringError as error:
            raise self._unavailable(str(error) or type(error).__name__) from None
        return True

    def resolve(self, url: str, environ: Mapping[str, str] | None = None) -> ResolvedKey:
        """The key to send to ``url``: :data:`API_KEY_ENV` first, then the keyring."""
        env = os.environ if environ is None else environ
        if value := env.get(API_KEY_ENV, "").strip():
            return ResolvedKey(value, "environment")
        stored = self.get(url)
        return ResolvedKey(stored, "keyring") if stored else ResolvedKey(None, "none")
