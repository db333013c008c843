"""Engine-neutral generation pieces: usage arithmetic, the context-window rule, error wording."""

from __future__ import annotations

import pytest

from qwen_desktop.core.errors import ContextWindowExceededError
from qwen_desktop.engines.generation import (
    GenerationJob,
    TurnStats,
    answer_budget,
    describe_error,
    stream_error_for,
)

EOS = frozenset({9})


def test_usage_arithmetic() -> None:
    stats = TurnStats(t_request=100.0)
    stats.on_token(1, 100.5)  # first token after 0.5 s
    stats.on_thinking_token(100.5)
    stats.on_token(2, 100.6)
    stats.on_thinking_token(100.6)
    stats.on_token(3, 100.7)
    stats.on_token(9, 100.9)  # end of turn
    usage = stats.usage(
        prompt_tokens=12, t_end=101.0, eos_ids=EOS, max_new_tokens=50, thinking_incomplete=False
    )
    assert usage.generated_tokens == 4
    assert usage.thinking_tokens == 2
    assert usage.ttft_seconds == pytest.approx(0.5)
    assert usage.tokens_per_second == pytest.approx(3 / 0.4)
    assert usage.total_seconds == pytest.approx(1.0)
    assert usage.thinking_seconds == pytest.approx(0.6)  # from the request to the 2nd token
    assert usage.finish_reason == "stop"


def test_length_and_nothing_generated() -> None:
    stats = TurnStats(t_request=0.0)
    stats.on_token(1, 0.2)
    limit = stats.usage(
        prompt_tokens=3, t_end=0.3, eos_ids=EOS, max_new_tokens=1, thinking_incomplete=True
    )
    assert (limit.finish_reason, limit.tokens_per_second, limit.thinking_seconds) == (
        "length",
        0.0,
        None,
    )
    empty = TurnStats(t_request=0.0).usage(
        prompt_tokens=3, t_end=0.3, eos_ids=EOS, max_new_tokens=5, thinking_incomplete=False
    )
    assert (empty.generated_tokens, empty.ttft_seconds, empty.finish_reason) == (
        0,
        pytest.approx(0.3),
        "cancelled",
    )


def test_answer_budget_is_capped_by_the_room_left_and_never_truncates_the_prompt() -> None:
    assert answer_budget(100, 924, 1024) == 924  # exactly full is fine
    assert answer_budget(100, 925, 1024) == 924  # capped at the room left
    assert answer_budget(100, 50, 1024) == 50
    assert answer_budget(1023, 4096, 1024) == 1
    with pytest.raises(ContextWindowExceededError) as caught:
        answer_budget(1024, 1, 1024)
    assert "no room left for an answer" in caught.value.message
    assert caught.value.action == "Start a new chat or remove earlier messages."


def test_job_records_where_it_was_stopped() -> None:
    job = GenerationJob()
    assert not job.running
    job.tokens_generated = 7
    job.request_stop()
    job.tokens_generated = 9
    job.request_stop()  # a second request changes nothing
    assert (job.stop_event.is_set(), job.tokens_at_stop) == (True, 7)


def test_errors_are_one_plain_line() -> None:
    assert describe_error(RuntimeError("first line\n  Traceback noise")) == "first line"
    assert describe_error(KeyError()) == "KeyError"
    assert len(describe_error(ValueError("x" * 1000))) == 300
    error = stream_error_for(RuntimeError("boom"), out_of_memory=False)
    assert (error.message, error.action) == (
        "Generation failed: boom",
        "Try again; if it keeps failing, reload the model.",
    )
