"""``chat --engine openai --url URL``, ``engine status --url URL`` and ``engine key set|delete``
against the local fake OpenAI-compatible server (and the fake Ollama for a remote Ollama)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import keyring
import pytest

from qwen_desktop import cli
from qwen_desktop.engines.ollama_discovery import free_port
from qwen_desktop.engines.secrets import API_KEY_ENV, SERVICE
from tests.fixtures.memory_keyring import MemoryKeyring
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama
from tests.fixtures.openai_fake_server import FakeServedModel, running_fake_openai

pytestmark = pytest.mark.timeout(30)
THINKING, ANSWER = "Two plus two is four.", "The answer is 4."


@pytest.fixture(autouse=True)
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_chat_streams_from_an_openai_compatible_server_with_the_stored_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = FakeServedModel("Qwen/Qwen3-8B", THINKING, ANSWER)
    with running_fake_openai(model, api_key="sk-test") as (fake, url):
        monkeypatch.setattr("sys.stdin", io.StringIO("sk-test\n"))
        code, out, _ = run(capsys, "engine", "key", "set", "--url", url)
        assert code == 0 and "Stored the API key" in out
        code, out, _ = run(
            capsys, "chat", "--engine", "openai", "--url", url, "--model", "Qwen/Qwen3-8B",
            "What is 2+2?", "--json",
        )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert (result["engine"], result["thinking"], result["answer"]) == ("openai", THINKING, ANSWER)
    assert result["generated_tokens"] == 9 and result["finish_reason"] == "stop"
    assert fake.requests[-1][2]["authorization"] == "Bearer sk-test"


def test_chat_names_the_models_a_server_serves(capsys: pytest.CaptureFixture[str]) -> None:
    with running_fake_openai(FakeServedModel("Qwen/Qwen3-8B")) as (_, url):
        code, _, err = run(
            capsys, "chat", "--engine", "openai", "--url", url, "--model", "qwen3:8b", "hi"
        )
    assert code != 0
    assert "does not serve the model 'qwen3:8b'" in err and "Qwen/Qwen3-8B" in err


def test_chat_with_a_refused_key_says_how_to_store_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "sk-wrong")
    with running_fake_openai(FakeServedModel("Qwen/Qwen3-8B"), api_key="sk-right") as (_, url):
        code, _, err = run(
            capsys, "chat", "--engine", "openai", "--url", url, "--model", "Qwen/Qwen3-8B", "hi"
        )
    assert code != 0 and "refused the API key" in err and "engine key set" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--engine", "openai", "--model", "m"], "needs the server's address"),
        (
            ["--engine", "ollama", "--model", "qwen3:8b", "--quant", "nf4"],
            "transformers engine only",
        ),
        (["--engine", "transformers", "--model", "./m", "--url", "http://x"], "ollama and openai"),
    ],
)
def test_chat_option_mistakes_are_explained(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, _, err = run(capsys, "chat", *argv, "hi")
    assert code != 0 and words in err


def test_engine_status_reports_a_remote_openai_server(capsys: pytest.CaptureFixture[str]) -> None:
    models = [FakeServedModel("Qwen/Qwen3-8B"), FakeServedModel("Qwen/Qwen3-32B", max_model_len=0)]
    with running_fake_openai(*models) as (_, url):
        code, out, _ = run(capsys, "engine", "status", "--json", "--url", url)
        remote = json.loads(out)["remote"]
        assert code == 0 and remote["kind"] == "openai" and remote["url"] == url
        assert remote["models"] == ["Qwen/Qwen3-8B", "Qwen/Qwen3-32B"]
        assert remote["context_tokens"] == {"Qwen/Qwen3-8B": 40960}
        assert remote["key_source"] == "none" and "keyring" in remote["keyring"]
        code, out, _ = run(capsys, "engine", "status", "--url", url)
    assert code == 0  # the remote server answered (and the test venv has the ml extra)
    assert "OpenAI-compatible (use --engine openai)" in out
    assert "Qwen/Qwen3-8B (40,960 tokens), Qwen/Qwen3-32B" in out


def test_engine_status_recognises_a_remote_ollama(capsys: pytest.CaptureFixture[str]) -> None:
    with running_fake_ollama(FakeModel("qwen3:8b")) as (_, url):
        _, out, _ = run(capsys, "engine", "status", "--json", "--url", url)
    remote = json.loads(out)["remote"]
    assert (remote["kind"], remote["models"]) == ("ollama", ["qwen3:8b"])


def test_engine_status_with_an_unreachable_server_fails(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, out, _ = run(capsys, "engine", "status", "--url", url)
    assert code == 1 and "unreachable: Nothing answers" in out


def test_engine_key_delete_and_the_no_keyring_refusal(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    memory_keyring.set_password(SERVICE, "http://box:8000/v1", "sk-old")
    code, out, _ = run(capsys, "engine", "key", "delete", "--url", "http://box:8000/v1/")
    assert code == 0 and "Forgot" in out and not memory_keyring.passwords
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-new\n"))
    code, _, err = run(capsys, "engine", "key", "set", "--url", "http://box:8000/v1")
    assert code != 0 and "No OS keyring" in err and API_KEY_ENV in err
