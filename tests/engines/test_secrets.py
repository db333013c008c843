"""API keys in the OS keyring (an in-memory keyring backend stands in for the OS one), and the
clear refusal where no keyring exists."""

from __future__ import annotations

import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail, null

from qwen_desktop.engines.secrets import (
    API_KEY_ENV,
    SERVICE,
    ApiKeyStore,
    SecretStoreError,
    key_account,
)
from tests.fixtures.memory_keyring import MemoryKeyring


def test_accounts_are_normalised_server_addresses() -> None:
    assert key_account("HTTP://Box:8000/v1/") == "http://box:8000/v1"
    assert key_account("box:8000/v1") == "http://box:8000/v1"
    assert key_account("https://api.example.com/v1") != key_account("http://api.example.com/v1")


def test_keys_round_trip_through_the_keyring_under_the_apps_service() -> None:
    memory = MemoryKeyring()
    store = ApiKeyStore(memory)
    assert store.available() and store.get("http://box:8000/v1") is None
    store.set("http://box:8000/v1/", "  sk-secret \n")
    assert memory.passwords == {(SERVICE, "http://box:8000/v1"): "sk-secret"}
    assert store.get("HTTP://BOX:8000/v1") == "sk-secret"
    assert store.resolve("http://box:8000/v1", environ={}).source == "keyring"
    assert store.delete("http://box:8000/v1") is True
    assert store.delete("http://box:8000/v1") is False
    assert store.get("http://box:8000/v1") is None


def test_the_environment_variable_comes_before_the_keyring() -> None:
    store = ApiKeyStore(MemoryKeyring())
    store.set("http://box/v1", "from-keyring")
    resolved = store.resolve("http://box/v1", environ={API_KEY_ENV: "from-env"})
    assert (resolved.key, resolved.source) == ("from-env", "environment")
    assert store.resolve("http://other/v1", environ={}).source == "none"


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_without_a_keyring_storing_is_refused_with_the_alternative(
    backend: keyring.backend.KeyringBackend,
) -> None:
    store = ApiKeyStore(backend)
    assert not store.available()
    assert store.get("http://box/v1") is None
    assert "no OS keyring" in store.describe()
    with pytest.raises(SecretStoreError) as caught:
        store.set("http://box/v1", "sk-secret")
    assert "No OS keyring" in caught.value.message and API_KEY_ENV in caught.value.action
    with pytest.raises(SecretStoreError):
        store.delete("http://box/v1")


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(SecretStoreError, match="empty"):
        ApiKeyStore(MemoryKeyring()).set("http://box/v1", "   ")
