"""Finding the ollama binary, its version, free ports and an Ollama already running (C8)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qwen_desktop.engines import ollama_discovery
from qwen_desktop.engines.ollama_discovery import (
    BINARY_ENV,
    binary_version,
    default_address,
    find_ollama_binary,
    find_running_ollama,
    free_port,
    parse_version_output,
    port_is_open,
)
from tests.fixtures.ollama_fake_server import plain_listener, running_fake_ollama
from tests.fixtures.ollama_standin import make_standin

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(sys.platform == "win32", reason="stand-in launcher is a shell script"),
]


@pytest.fixture(autouse=True)
def _no_real_ollama(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never see a real Ollama: the "default port" is a free one, PATH has no ollama."""
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv(BINARY_ENV, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_nothing_found(tmp_path: Path) -> None:
    assert find_ollama_binary(base=tmp_path) is None


@pytest.mark.parametrize(
    "layout",
    ["ollama/bin/ollama", "ollama/ollama", "ollama"],
)
def test_bundled_layouts_beside_the_app(tmp_path: Path, layout: str) -> None:
    binary = executable(tmp_path / layout)
    found = find_ollama_binary(base=tmp_path)
    assert found is not None and (found.path, found.source) == (binary, "bundled")


def test_macos_app_bundle_resources(tmp_path: Path) -> None:
    contents = tmp_path / "Qwen Desktop.app" / "Contents"
    binary = executable(contents / "Resources" / "ollama")
    found = find_ollama_binary(base=contents / "MacOS")
    assert found is not None and found.path == binary


def test_order_configured_then_environment_then_bundled_then_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = executable(tmp_path / "path" / "ollama")
    bundled = executable(tmp_path / "app" / "ollama" / "bin" / "ollama")
    from_env = executable(tmp_path / "env" / "ollama")
    configured = executable(tmp_path / "configured" / "ollama")
    base = tmp_path / "app"
    path_env = str(on_path.parent)
    monkeypatch.setenv(BINARY_ENV, str(from_env))

    def source() -> tuple[Path, str] | None:
        found = find_ollama_binary(configured, base=base, path_env=path_env)
        return (found.path, found.source) if found else None

    assert source() == (configured, "configured")
    configured.unlink()  # a configured path that is gone is skipped
    assert source() == (from_env, "environment")
    monkeypatch.delenv(BINARY_ENV)
    assert source() == (bundled, "bundled")
    bundled.unlink()
    assert source() == (on_path, "PATH")


def test_a_file_that_is_not_executable_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "ollama").write_text("not a program")
    assert find_ollama_binary(base=tmp_path) is None


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("ollama version is 0.12.0\n", "0.12.0"),
        (
            "Warning: could not connect to a running Ollama instance\n"
            "Warning: client version is 0.12.3\n",
            "0.12.3",
        ),
        ("ollama version is 0.11.4\nWarning: client version is 0.12.0\n", "0.12.0"),
        ("garbage", None),
    ],
)
def test_parse_version_output(output: str, version: str | None) -> None:
    assert parse_version_output(output) == version


def test_binary_version_runs_ollama_version(tmp_path: Path) -> None:
    standin = make_standin(tmp_path, version="0.12.7")
    assert binary_version(standin.binary) == "0.12.7"
    assert binary_version(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("", ("127.0.0.1", 11434)),
        ("127.0.0.1:5555", ("127.0.0.1", 5555)),
        ("0.0.0.0", ("127.0.0.1", 11434)),
        ("0.0.0.0:8080", ("127.0.0.1", 8080)),
        ("http://example.lan:9999", ("example.lan", 9999)),
        ("localhost", ("localhost", 11434)),
    ],
)
def test_default_address_follows_ollama_host(
    monkeypatch: pytest.MonkeyPatch, value: str, address: tuple[str, int]
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", value)
    assert default_address() == address


def test_free_port_is_free() -> None:
    port = free_port()
    assert not port_is_open("127.0.0.1", port)


@pytest.mark.asyncio
async def test_nothing_on_the_default_port() -> None:
    running = await find_running_ollama()
    assert running.state == "free"
    assert "No Ollama is running" in running.offer


@pytest.mark.asyncio
async def test_c8_an_ollama_on_the_default_port_is_offered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_fake_ollama() as (_, url):
        monkeypatch.setenv("OLLAMA_HOST", url.removeprefix("http://"))
        running = await find_running_ollama()
    assert (running.state, running.url, running.version) == ("ollama", url, "0.12.0")
    assert "already running" in running.offer and "instead" in running.offer


@pytest.mark.asyncio
async def test_c8_something_else_on_the_default_port_is_not_ollama() -> None:
    with plain_listener() as port:
        running = await find_running_ollama("127.0.0.1", port)
    assert running.state == "other"
    assert "another port" in running.offer


def test_app_dir_of_a_source_checkout_is_the_repository() -> None:
    assert (ollama_discovery.app_dir() / "qwen_desktop").is_dir()
