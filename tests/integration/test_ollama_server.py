"""The embedded server manager against a stand-in ``ollama`` executable (real processes).

The stand-in (tests/fixtures/ollama_standin.py) prints Ollama's log lines and serves its protocol;
it can start slowly, crash, exit mid-answer, ignore SIGTERM, or find its port taken.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from qwen_desktop.chat.service import ChatSession, TurnRecord
from qwen_desktop.core.errors import EngineUnavailableError
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    ChatRequest,
    StreamError,
    StreamEvent,
    ThinkingDelta,
    Usage,
)
from qwen_desktop.engines.base import ModelSpec
from qwen_desktop.engines.ollama_backend import OllamaBackend
from qwen_desktop.engines.ollama_discovery import BINARY_ENV, free_port
from qwen_desktop.engines.ollama_logs import GPU_UNUSED_WARNING
from qwen_desktop.engines.ollama_server import OllamaServer, OllamaServerConfig, ServerEvent
from tests.fixtures.ollama_fake_server import FakeModel, plain_listener
from tests.fixtures.ollama_standin import Standin, make_standin

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(sys.platform == "win32", reason="stand-in launcher is a shell script"),
]

QWEN = FakeModel("qwen3:8b", thinking="Two plus two makes four.", answer="2+2 = 4.")
DIES = FakeModel("qwen3:dies", thinking="Two plus two makes four.", answer="4.", exit_after=4)


@pytest.fixture(autouse=True)
def _no_real_ollama(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Harness:
    """A stand-in plus a server configured for fast tests; collects the server's events."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.events: list[ServerEvent] = []
        self.lines: list[str] = []
        self.servers: list[OllamaServer] = []

    def server(self, standin: Standin | None = None, **config: object) -> OllamaServer:
        settings: dict[str, object] = {
            "binary": standin.binary if standin else None,
            "models_dir": self.tmp_path / "models",
            "log_file": self.tmp_path / "logs" / "ollama.log",
            "ready_timeout_s": 10.0,
            "stop_grace_s": 2.0,
            "restart_backoff_s": 0.05,
            **config,
        }
        server = OllamaServer(
            OllamaServerConfig(**settings),  # type: ignore[arg-type]
            on_event=self.events.append,
            on_log_line=self.lines.append,
        )
        self.servers.append(server)
        return server

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    made = Harness(tmp_path)
    yield made
    for server in made.servers:
        await server.stop()


def ask(text: str = "What is 2+2?") -> ChatRequest:
    return ChatRequest((ChatMessage("user", text),))


async def collect(backend: OllamaBackend, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in backend.stream_chat(request)]


@pytest.mark.asyncio
async def test_starts_privately_on_localhost_with_its_settings_and_stops(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(QWEN,))
    server = harness.server(standin, keep_alive="-1", context_tokens=8192, gpu_present=True)
    started = time.perf_counter()
    await server.start()
    assert time.perf_counter() - started < 5
    assert server.state == "ready" and server.version == "0.12.0"
    record = standin.record()
    assert record["pid"] == server.pid
    assert record["pgid"] == record["pid"] != os.getpgid(0)  # its own process group
    env = record["env"]
    assert env["OLLAMA_HOST"] == f"127.0.0.1:{server.port}"
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert env["OLLAMA_MODELS"] == str(tmp_path / "models")
    assert (env["OLLAMA_NOPRUNE"], env["OLLAMA_KEEP_ALIVE"]) == ("1", "-1")
    assert env["OLLAMA_CONTEXT_LENGTH"] == "8192"
    # what it printed: log file, ring buffer, callback, findings (Ollama prints the compute
    # line after "Listening", so it may be read just after the server answered)
    await until(lambda: "compute" in harness.kinds())
    assert server.compute_library == "CPU"
    assert server.gpu_warning == GPU_UNUSED_WARNING
    assert harness.kinds()[:1] == ["starting"] and "ready" in harness.kinds()
    assert GPU_UNUSED_WARNING in next(e.message for e in harness.events if e.kind == "compute")
    assert any("Listening on 127.0.0.1" in line for line in server.log_lines())
    assert any("inference compute" in line for line in harness.lines)
    pid = server.pid
    assert pid is not None
    await server.stop()
    assert not alive(pid)
    assert server.state == "stopped" and harness.kinds()[-1] == "stopped"
    log_text = (tmp_path / "logs" / "ollama.log").read_text()
    assert "Listening on" in log_text and 'msg="shutting down"' in log_text
    assert "[qwen-desktop] stopped" in log_text


@pytest.mark.asyncio
async def test_the_users_own_models_folder_by_choice(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "users-models"))
    standin = make_standin(tmp_path / "ollama")
    server = harness.server(standin, models_dir=None, use_user_models=True)
    await server.start()
    assert standin.record()["env"]["OLLAMA_MODELS"] == str(tmp_path / "users-models")


@pytest.mark.asyncio
async def test_slow_start_is_waited_for_before_any_request(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(QWEN,), start_delay_s=0.6)
    server = harness.server(standin)
    backend = OllamaBackend(server=server)
    started = time.perf_counter()
    start = asyncio.create_task(server.start())
    await until(lambda: server.state == "starting")
    loaded = await backend.load(ModelSpec("qwen3:8b"))  # waits for readiness, then asks
    await start
    assert time.perf_counter() - started >= 0.6
    assert loaded.name == "qwen3:8b"
    await backend.aclose()


@pytest.mark.asyncio
async def test_deadline_passes_with_a_clear_error_and_the_last_log_lines(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", start_delay_s=20)
    server = harness.server(standin, ready_timeout_s=0.5)
    with pytest.raises(EngineUnavailableError) as caught:
        await server.start()
    assert "did not answer within 0.5 s" in caught.value.message
    assert 'msg="server config"' in caught.value.action
    assert str(tmp_path / "logs" / "ollama.log") in caught.value.action
    assert server.state == "failed"
    await until(lambda: not alive(standin.record()["pid"]))


@pytest.mark.asyncio
async def test_missing_binary_is_a_clear_error(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    server = harness.server(None, binary=tmp_path / "nowhere" / "ollama")
    with pytest.raises(EngineUnavailableError) as caught:
        await server.start()
    assert "was not found" in caught.value.message and "does not exist" in caught.value.message
    assert "ollama.com/download" in caught.value.action


@pytest.mark.asyncio
async def test_crash_after_start_restarts_on_the_same_port_and_tells(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", crash_after_s=0.3, crash_starts=1, runner=True)
    server = harness.server(standin)
    await server.start()
    port, first_pid = server.port, server.pid
    await until(lambda: "restarted" in harness.kinds())
    assert not alive(standin.record(1)["runner_pid"])  # the crashed server's runner is ended
    crashed = next(e for e in harness.events if e.kind == "crashed")
    assert "exit status 2" in crashed.message and "try 1 of 3" in crashed.message
    assert "panic: runtime error" in crashed.detail
    assert (server.state, server.port, server.restarts, standin.starts()) == ("ready", port, 1, 2)
    assert server.pid != first_pid
    await server.wait_ready(1)


@pytest.mark.asyncio
async def test_restarts_are_bounded_then_it_gives_up(harness: Harness, tmp_path: Path) -> None:
    standin = make_standin(tmp_path / "ollama", crash_after_s=0.15)
    server = harness.server(standin, max_restarts=2)
    await server.start()
    await until(lambda: "gave_up" in harness.kinds(), timeout_s=10)
    assert harness.kinds().count("crashed") == 2
    assert standin.starts() == 3
    assert server.state == "failed"
    with pytest.raises(EngineUnavailableError, match="crashed 3 times in a row"):
        await server.wait_ready(0.1)


@pytest.mark.asyncio
async def test_ignoring_sigterm_gets_sigkill_after_the_grace_period(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", ignore_sigterm=True, runner=True)
    server = harness.server(standin, stop_grace_s=0.4)
    await server.start()
    pid = server.pid
    assert pid is not None
    started = time.perf_counter()
    await server.stop()
    assert 0.4 <= time.perf_counter() - started < 3
    assert not alive(pid)
    assert not alive(standin.record()["runner_pid"])
    assert any("ignoring signal" in line for line in server.log_lines())
    assert "[qwen-desktop] stopped (killed after 0.4 s)" in server.log_lines()
    assert "crashed" not in harness.kinds()


@pytest.mark.asyncio
async def test_c8_a_taken_port_makes_the_server_use_another(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama")
    with plain_listener() as taken:
        server = harness.server(standin, port=taken)
        await server.start()
        assert server.port not in (None, taken)
        assert any(f"port {taken} is in use" in line for line in server.log_lines())


@pytest.mark.asyncio
async def test_a_port_grabbed_after_the_check_is_retried_elsewhere(
    harness: Harness, tmp_path: Path
) -> None:
    """Bound but not listening: the pre-check sees it free, the server's bind fails."""
    standin = make_standin(tmp_path / "ollama")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        taken = holder.getsockname()[1]
        server = harness.server(standin, port=taken)
        await server.start()
    assert server.port != taken and standin.starts() == 2
    assert any("address already in use" in line for line in server.log_lines())


@pytest.mark.asyncio
async def test_c12_engine_dies_mid_answer_partial_kept_error_shown_engine_restarts(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(DIES,), crash_starts=1)
    server = harness.server(standin)
    await server.start()
    backend = OllamaBackend(server=server)
    await backend.load(ModelSpec("qwen3:dies"))
    session = ChatSession(
        backend, history=[ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello!")]
    )
    record = TurnRecord("What is 2+2?")
    events = [e async for e in session.run_turn("What is 2+2?", record=record)]
    error = events[-1]
    assert isinstance(error, StreamError)
    assert "stopped while answering" in error.message and "restarts by itself" in error.action
    assert record.thinking == "Two plus two makes" and record.error == error
    assert [m.content for m in session.history] == ["Hi", "Hello!", "What is 2+2?", ""]
    assert session.history[-1].thinking == "Two plus two makes"
    await until(lambda: "restarted" in harness.kinds())
    events = await collect(backend, ask())  # the next answer works on the restarted engine
    assert isinstance(events[-1], Usage)
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == DIES.thinking
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == DIES.answer
    await backend.aclose()


@pytest.mark.asyncio
async def test_model_too_large_is_read_from_the_log_and_the_load_error_says_what_to_do(
    harness: Harness, tmp_path: Path
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(FakeModel("qwen3:235b", too_large=True),))
    server = harness.server(standin)
    await server.start()
    backend = OllamaBackend(server=server)
    with pytest.raises(EngineUnavailableError) as caught:
        await backend.load(ModelSpec("qwen3:235b"))
    assert "does not fit in memory" in caught.value.message
    assert "smaller quantization" in caught.value.action
    await until(lambda: "too_large" in harness.kinds())
    event = next(e for e in harness.events if e.kind == "too_large")
    assert event.message == (
        "The model is too large for this computer's memory (it needs 45.0 GiB; 20.1 GiB is "
        "available)."
    )
    assert server.too_large is not None and server.too_large.requested == "45.0 GiB"
    await backend.aclose()


@pytest.mark.asyncio
async def test_stop_sync_for_atexit(harness: Harness, tmp_path: Path) -> None:
    standin = make_standin(tmp_path / "ollama")
    server = harness.server(standin)
    await server.start()
    pid = server.pid
    assert pid is not None
    server.stop_sync()
    assert not alive(pid) and server.state == "stopped"


_APP = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from qwen_desktop.engines.ollama_server import OllamaServer, OllamaServerConfig

    async def main():
        tmp = Path(sys.argv[2])
        server = OllamaServer(OllamaServerConfig(
            binary=Path(sys.argv[1]), models_dir=tmp / "models", log_file=tmp / "app.log"))
        await server.start()
        print(server.pid, flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_no_orphan_when_the_app_is_killed(tmp_path: Path) -> None:
    standin = make_standin(tmp_path / "ollama")
    app = subprocess.Popen(
        [sys.executable, "-c", _APP, str(standin.binary), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert app.stdout is not None
        server_pid = int(app.stdout.readline())
        assert alive(server_pid)
        app.kill()  # SIGKILL: no atexit, no cleanup in the app
        app.wait(5)
        deadline = time.monotonic() + 5
        while alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(server_pid)
    finally:
        app.kill()
        app.wait(5)
