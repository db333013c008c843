"""Engine-neutral pieces of one streamed generation: the job handle, the token streamer that
crosses from the generation thread into asyncio, per-answer counts and timings, and the errors a
stream can end with. Pure Python: no torch import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from qwen_desktop.core.errors import ContextWindowExceededError
from qwen_desktop.core.thinking import ParserEvent, ThinkingParser
from qwen_desktop.core.thinking_budget import CloseThinking, ThinkingBudget
from qwen_desktop.core.types import (
    FinishReason,
    StreamError,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.engines.base import TurnClock
from qwen_desktop.engines.detokenizer import IncrementalDetokenizer


class GenerationJob:
    """One generation running on its own thread (exposed for diagnostics and tests).

    Attributes:
        stop_event: Set to stop generation (a stopping criterion checks it after every token).
        finished: Set by the generation thread once ``generate`` has returned (or raised).
        tokens_generated: Tokens the model produced so far (counted on the generation thread).
        tokens_at_stop: ``tokens_generated`` when the stop was requested; None if never.
        thread: The generation thread (None before it starts).
    """

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.finished = threading.Event()
        self.tokens_generated = 0
        self.tokens_at_stop: int | None = None
        self.thread: threading.Thread | None = None

    def request_stop(self) -> None:
        """Ask the generation to stop after the token in progress."""
        if not self.stop_event.is_set():
            self.tokens_at_stop = self.tokens_generated
            self.stop_event.set()

    @property
    def running(self) -> bool:
        """True from the start of the thread until ``generate`` has returned."""
        return self.thread is not None and not self.finished.is_set()


class TokenStreamer:
    """What transformers' ``generate`` calls with new tokens (its BaseStreamer interface).

    Runs on the generation thread and hands ``("token", id, time.perf_counter())`` items to
    ``send`` (which must be thread-safe). The first :meth:`put` carries the prompt and is skipped.
    """

    def __init__(self, send: Callable[[tuple[Any, ...]], None], job: GenerationJob) -> None:
        self._send = send
        self._job = job
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        """Receive a tensor of token ids (shape ``(1,)`` per step, ``(1, n)`` for the prompt)."""
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        now = time.perf_counter()
        for token_id in value.reshape(-1).tolist():
            self._job.tokens_generated += 1
            self._send(("token", int(token_id), now))

    def end(self) -> None:
        """Nothing to do: the thread sends the end marker itself (with any exception)."""


class TurnStats:
    """Token counts and timings of one answer, on a
    :class:`~qwen_desktop.engines.base.TurnClock`; times are ``time.perf_counter()`` seconds.

    Args:
        t_request: When the request started (the origin of time to first token).
    """

    def __init__(self, t_request: float) -> None:
        self.clock = TurnClock(t_request)
        self.generated = 0
        self.t_prev = t_request
        self.last_token: int | None = None

    def on_token(self, token_id: int, t_token: float) -> None:
        """Count a generated token (end-of-turn tokens included)."""
        self.generated += 1
        self.t_prev = self.clock.t_last
        self.clock.text(t_token)
        self.last_token = token_id

    def on_thinking_token(self, t_token: float) -> None:
        """The last counted token belongs to the thinking block (its tags included); the first
        one's generation began after the previous token."""
        self.clock.thinking(t_token, began=self.t_prev)

    def all_thinking_so_far(self, t_token: float) -> None:
        """A ``</think>`` without an opening tag: every token so far was thinking."""
        self.clock.all_thinking(t_token, self.generated)

    def usage(
        self,
        *,
        prompt_tokens: int,
        t_end: float,
        eos_ids: frozenset[int],
        max_new_tokens: int,
        thinking_incomplete: bool,
        context_window_full: bool = False,
    ) -> Usage:
        """The final :class:`Usage` event.

        ``finish_reason`` is ``stop`` when the last token ends the turn, ``length`` when
        ``max_new_tokens`` were generated, else ``cancelled``. tokens/s is
        :meth:`TurnClock.decode_rate`. ``context_window_full`` says that ``max_new_tokens`` was
        capped by the room left in the context window; it is reported only when that cap was
        actually reached.
        """
        finish: FinishReason
        if self.last_token is not None and self.last_token in eos_ids:
            finish = "stop"
        elif self.generated >= max_new_tokens:
            finish = "length"
        else:
            finish = "cancelled"
        return self.clock.usage(
            prompt_tokens=prompt_tokens,
            generated_tokens=self.generated,
            finish_reason=finish,
            thinking_incomplete=thinking_incomplete,
            context_window_full=context_window_full and finish == "length",
            t_end=t_end,
        )


class OutputDecoder:
    """Generated token ids in, stream events out: detokenizer, thinking parser, counts, budget.

    Args:
        detokenizer: Turns ids into text deltas.
        parser: The shared thinking parser (set up for the prompt).
        stats: Counts and timings of the answer.
        eos_ids: End-of-turn ids (counted, never shown).
        limiter: The thinking budget, or None.

    Attributes:
        generated: Every accepted output id, in order (a continuation after the budget's cut
            starts from prompt + these).
    """

    def __init__(
        self,
        detokenizer: IncrementalDetokenizer,
        parser: ThinkingParser,
        stats: TurnStats,
        eos_ids: frozenset[int],
        limiter: ThinkingBudget | None = None,
    ) -> None:
        self.detokenizer = detokenizer
        self.parser = parser
        self.stats = stats
        self.eos_ids = eos_ids
        self.limiter = limiter
        self.generated: list[int] = []

    def token(
        self, token_id: int, t_token: float
    ) -> tuple[list[ParserEvent], CloseThinking | None]:
        """Account for one generated token.

        Returns:
            The events it completes, and the budget's decision when this token spent it (the
            events then end with the stop-thinking text that closes the thinking block; the
            engine must stop and continue after :attr:`CloseThinking.model_text`).
        """
        stats, parser = self.stats, self.parser
        stats.on_token(token_id, t_token)
        self.generated.append(token_id)
        if token_id in self.eos_ids:
            return [], None
        was_thinking = parser.in_thinking
        text = self.detokenizer.add(token_id)
        events = parser.feed(text)
        if any(isinstance(e, ThinkingReclassified) for e in events):
            stats.all_thinking_so_far(t_token)  # "</think>" without an opening tag
        elif was_thinking or parser.in_thinking:
            stats.on_thinking_token(t_token)
        decision = self.limiter.observe(text) if self.limiter is not None else None
        if decision is not None:
            events += parser.feed(self.detokenizer.flush()) + parser.feed(decision.parser_text)
        return events, decision

    def finish(self) -> list[ParserEvent]:
        """The events of text held back at the end, and the parser's closing events."""
        return self.parser.feed(self.detokenizer.flush()) + self.parser.finish()


def answer_budget(prompt_tokens: int, max_new_tokens: int, window_tokens: int) -> int:
    """The most tokens the answer may take: ``max_new_tokens`` capped by the room left.

    The prompt is never truncated: when it alone fills the context window the request is refused.
    When the room left is smaller than ``max_new_tokens`` the answer may end early with
    ``finish_reason == "length"`` and ``Usage.context_window_full`` set, which the UI reports.

    Args:
        prompt_tokens: Tokens in the rendered prompt.
        max_new_tokens: The requested answer limit (tokens).
        window_tokens: The model's context window (tokens).

    Raises:
        ContextWindowExceededError: The prompt leaves no room for an answer.
    """
    if prompt_tokens >= window_tokens:
        raise ContextWindowExceededError(
            f"The conversation is {prompt_tokens:,} tokens long; this model's context window "
            f"holds {window_tokens:,} tokens, so there is no room left for an answer.",
            "Start a new chat or remove earlier messages.",
        )
    return min(max_new_tokens, window_tokens - prompt_tokens)


def describe_error(error: BaseException) -> str:
    """One line about an exception, for messages shown to people (at most 300 characters)."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    return first if len(first) <= 300 else first[:299] + "…"


def stream_error_for(error: BaseException, *, out_of_memory: bool) -> StreamError:
    """The :class:`StreamError` that ends a stream whose generation raised ``error``."""
    if out_of_memory:
        return StreamError(
            "The engine ran out of memory while generating; the answer stops here.",
            "Shorten the conversation, lower the maximum answer length, or pick a smaller model.",
        )
    return StreamError(
        f"Generation failed: {describe_error(error)}",
        "Try again; if it keeps failing, reload the model.",
    )
