"""``qwen-desktop chat``: streamed answer on a tiny real-format Qwen3 checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_desktop import cli
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
