"""``qwen-desktop chat``: streamed answer on a tiny real-format Qwen3 checkpoint."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from qwen_desktop import cli
from qwen_desktop.engines.ollama_discovery import BINARY_ENV, free_port
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama
from tests.fixtures.ollama_standin import make_standin
from tests.fixtures.tiny_models import TRAINING_CHATS

SUM = TRAINING_CHATS[0]
JSON_KEYS = {
    "thinking",
    "answer",
    "prompt_tokens",
    "generated_tokens",
    "ttft_seconds",
    "tokens_per_second",
}


def chat(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.run(["chat", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_json_result_has_thinking_answer_counts_and_timings(
    tiny_qwen3_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = chat(
        capsys, "--model", str(tiny_qwen3_path), SUM.prompt, "--json", "--temperature", "0"
    )
    assert status == 0
    result = json.loads(out)
    assert result.keys() >= JSON_KEYS
    assert (result["thinking"], result["answer"]) == (SUM.thinking, SUM.answer)
    assert result["prompt_tokens"] > 0
    assert result["generated_tokens"] > result["thinking_tokens"] > 0
    assert result["ttft_seconds"] >= 0 and result["tokens_per_second"] > 0
    assert result["finish_reason"] == "stop"


def test_human_output_prints_thinking_and_answer_apart(
    tiny_qwen3_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = chat(
        capsys, "--model", str(tiny_qwen3_path), SUM.prompt, "--temperature", "0"
    )
    assert status == 0
    assert out == f"--- thinking ---\n{SUM.thinking}\n--- answer ---\n{SUM.answer}\n"
    assert "tokens/s" in err and "TTFT" in err


def test_no_think_gives_only_the_answer(
    tiny_qwen3_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model", str(tiny_qwen3_path), SUM.prompt, "--no-think", "--temperature", "0"]
    status, out, _ = chat(capsys, *args, "--json")
    result = json.loads(out)
    assert status == 0
    assert (result["thinking"], result["answer"]) == ("", SUM.answer)


def test_c3_token_limit_inside_thinking_is_reported(
    tiny_qwen3_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model", str(tiny_qwen3_path), SUM.prompt, "--temperature", "0", "--max-tokens", "4"]
    status, out, err = chat(capsys, *args)
    assert status == 0
    assert "stopped at the token limit while still thinking" in err
    status, out, _ = chat(capsys, *args, "--json")
    result = json.loads(out)
    assert (result["finish_reason"], result["thinking_incomplete"], result["answer"]) == (
        "length",
        True,
        "",
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: tmp, "config.json"),
    ],
)
def test_bad_model_folder_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, expected: str
) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    status, out, err = chat(capsys, "--model", str(folder), "hi")
    assert status == 2
    assert out == ""
    assert err.startswith("error: ") and expected in err
    assert "→" in err  # an action follows
    assert "Traceback" not in err


# -- the Ollama engine (a local fake server; the stand-in executable as the embedded engine) ----


@pytest.fixture
def _no_real_ollama(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv(BINARY_ENV, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def _ollama_model(drop_after: int | None = None) -> FakeModel:
    return FakeModel("qwen3:8b", thinking=SUM.thinking, answer=SUM.answer, drop_after=drop_after)


@pytest.mark.usefixtures("_no_real_ollama")
@pytest.mark.timeout(30)
def test_ollama_with_url_streams_from_that_server(capsys: pytest.CaptureFixture[str]) -> None:
    with running_fake_ollama(_ollama_model()) as (fake, url):
        status, out, _ = chat(capsys, "--url", url, "--model", "qwen3:8b", SUM.prompt, "--json")
        assert status == 0
        result = json.loads(out)
        assert (result["engine"], result["thinking"], result["answer"]) == (
            "ollama",
            SUM.thinking,
            SUM.answer,
        )
        assert result["finish_reason"] == "stop" and result["tokens_per_second"] > 0
        status, out, err = chat(
            capsys, "--engine", "ollama", "--url", url, "--model", "qwen3:8b", SUM.prompt,
            "--no-think", "--context", "8192",
        )  # fmt: skip
        assert status == 0
        assert out == f"{SUM.answer}\n" and "tokens/s" in err
        body = fake.chat_requests()[-1]
        assert (body["think"], body["options"]["num_ctx"]) == (False, 8192)


@pytest.mark.usefixtures("_no_real_ollama")
@pytest.mark.timeout(30)
def test_ollama_missing_model_exits_2_with_the_pull_action(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running_fake_ollama() as (_, url):
        status, out, err = chat(capsys, "--url", url, "--model", "qwen3:999b", "hi")
    assert (status, out) == (2, "")
    assert "error: The model qwen3:999b is not downloaded." in err
    assert "→ Pull it: qwen-desktop pull qwen3:999b" in err


@pytest.mark.usefixtures("_no_real_ollama")
@pytest.mark.timeout(30)
def test_ollama_error_mid_answer_keeps_the_partial_answer_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running_fake_ollama(_ollama_model(drop_after=7)) as (_, url):
        status, out, err = chat(capsys, "--url", url, "--model", "qwen3:8b", SUM.prompt, "--json")
    assert status == 1
    result = json.loads(out)
    assert result["thinking"] == SUM.thinking and result["finish_reason"] == "error"
    assert "stopped while answering" in result["error"]["message"]
    assert "error: The Ollama engine stopped while answering" in err


@pytest.mark.usefixtures("_no_real_ollama")
@pytest.mark.timeout(30)
@pytest.mark.skipif(sys.platform == "win32", reason="stand-in launcher is a shell script")
def test_ollama_without_url_runs_the_embedded_engine_for_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    standin = make_standin(tmp_path / "ollama", models=(_ollama_model(),))
    monkeypatch.setenv(BINARY_ENV, str(standin.binary))
    status, out, err = chat(capsys, "--model", "qwen3:8b", SUM.prompt, "--json")
    assert status == 0, err
    assert json.loads(out)["answer"] == SUM.answer
    assert "note: started the Ollama engine 0.12.0 at http://127.0.0.1:" in err
    pid = standin.record()["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped at the end of the command


@pytest.mark.usefixtures("_no_real_ollama")
@pytest.mark.timeout(30)
def test_ollama_without_binary_uses_a_running_ollama_c8(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_fake_ollama(_ollama_model()) as (_, url):
        monkeypatch.setenv("OLLAMA_HOST", url.removeprefix("http://"))
        status, out, err = chat(capsys, "--model", "qwen3:8b", SUM.prompt, "--json")
    assert status == 0
    assert json.loads(out)["answer"] == SUM.answer
    assert f"note: using the Ollama 0.12.0 at {url}" in err


@pytest.mark.usefixtures("_no_real_ollama")
def test_an_ollama_tag_with_no_ollama_points_to_the_installed_transformers_engine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = chat(capsys, "--model", "qwen3:8b", "hi")
    assert status == 2
    assert "the Ollama engine was not found and no Ollama is running" in err
    assert "For the Transformers engine (installed) give a model folder" in err
    assert "models list" in err


@pytest.mark.usefixtures("_no_real_ollama")
def test_ollama_with_no_engine_anywhere_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    status, _, err = chat(capsys, "--model", "qwen3:8b", "hi")
    assert status == 2
    assert "error: The Ollama engine was not found, and no Ollama is running." in err
    assert "ollama.com/download" in err


def test_a_downloaded_hugging_face_repository_id_runs_on_transformers(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tiny_qwen3_path: Path,
) -> None:
    import shutil

    commit = "0" * 40
    repo = tmp_path / "Modèles" / "models--Qwen--Qwen3-0.6B"
    shutil.copytree(tiny_qwen3_path, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("QWEN_DESKTOP_MODELS_DIR", str(tmp_path / "Modèles"))
    status, out, err = chat(
        capsys, "--model", "Qwen/Qwen3-0.6B", SUM.prompt, "--json", "--temperature", "0"
    )
    assert status == 0, err
    assert json.loads(out)["answer"] == SUM.answer


def test_url_with_the_transformers_engine_is_refused(
    tiny_qwen3_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = chat(
        capsys, "--model", str(tiny_qwen3_path), "--url", "http://127.0.0.1:1", "hi"
    )
    assert status == 2
    assert "--url applies to the ollama and openai engines only." in err


@pytest.mark.parametrize("value", ["-1", "2.5", "nan"])
def test_a_temperature_outside_0_to_2_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.run(["chat", "--model", str(tmp_path), "hi", "--temperature", value])
    assert caught.value.code == 2
    assert f"must be between 0 and 2, not {value}" in capsys.readouterr().err
