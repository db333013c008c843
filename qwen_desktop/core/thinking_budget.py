"""Thinking budget (pure policy): after N thinking tokens, close the thinking, let the model answer.

Qwen's technique (Qwen3 Technical Report, arXiv 2505.09388, §4.3 "Thinking Budget"): when the
thinking reaches the user's threshold, halt generation, append the stop-thinking instruction
(:data:`STOP_THINKING_TEXT`) to the output, and continue generating; the model then answers from
the reasoning it has so far. The report notes the ability is not explicitly trained but emerges
from thinking-mode fusion, so answers after a cut can be weaker than unconstrained ones.

How an engine uses it (only this policy exists yet; engines adopt it later)::

    budget = ThinkingBudget(1024, starts_in_thinking=prompt_opens_thinking(prompt))
    for text in generated_token_texts:                 # raw model output, tags included
        cut = budget.observe(text)                     # tokens=n for a chunk of n tokens
        if cut is not None:
            # 1. stop generating; 2. continue from prompt + output so far + cut.model_text
            # 3. feed cut.parser_text to the ThinkingParser (it closes the thinking block)
            # 4. cap the rest at max_new_tokens - tokens generated so far

Thinking is tracked with the same :class:`~qwen_desktop.core.thinking.ThinkingParser` every
engine uses, so tags split across chunks and templates that open ``<think>`` themselves (C1) are
handled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwen_desktop.core.thinking import CLOSE_TAG, ThinkingParser
from qwen_desktop.core.types import ThinkingKind

STOP_THINKING_SENTENCE = (
    "Considering the limited time by the user, I have to give the solution based on the "
    "thinking directly now."
)
STOP_THINKING_TEXT = f"\n\n{STOP_THINKING_SENTENCE}\n{CLOSE_TAG}.\n\n"
"""Appended to the model's output when the budget is spent: the report's instruction verbatim
(``…directly now.\\n</think>.\\n\\n``), after a paragraph break since the thinking was cut
mid-sentence."""


def budget_applies(kind: ThinkingKind, thinking: bool | None) -> bool:
    """True when a thinking budget means anything for this request.

    Args:
        kind: The model's thinking kind.
        thinking: The request's switch (None: the model's default).

    Returns:
        False for instruct-only models and for hybrid models with thinking switched off
        (they do not think); True otherwise.
    """
    if kind is ThinkingKind.INSTRUCT_ONLY:
        return False
    return not (kind is ThinkingKind.HYBRID and thinking is False)


@dataclass(frozen=True)
class CloseThinking:
    """The budget is spent: what the engine must do.

    Attributes:
        thinking_tokens: Thinking tokens generated when the budget ran out.
        model_text: Append to the model's input (prompt + output so far) before continuing.
        parser_text: Feed to the thinking parser (and so to the display): the same text
            without the ``.`` after ``</think>``, which would otherwise open the answer.
    """

    thinking_tokens: int
    model_text: str = STOP_THINKING_TEXT
    parser_text: str = f"\n\n{STOP_THINKING_SENTENCE}\n{CLOSE_TAG}\n\n"


class ThinkingBudget:
    """Counts thinking tokens of one generation and says when to close the thinking.

    Args:
        max_thinking_tokens: Tokens the thinking may take (≥ 1).
        starts_in_thinking: True when the prompt already opened ``<think>`` (thinking-only
            variants; see :func:`~qwen_desktop.core.thinking.prompt_opens_thinking`).

    Raises:
        ValueError: ``max_thinking_tokens`` < 1.
    """

    def __init__(self, max_thinking_tokens: int, *, starts_in_thinking: bool = False) -> None:
        if max_thinking_tokens < 1:
            raise ValueError(f"thinking budget must be at least 1 token, not {max_thinking_tokens}")
        self.max_thinking_tokens = max_thinking_tokens
        self._parser = ThinkingParser(starts_in_thinking=starts_in_thinking)
        self.thinking_tokens = 0
        self.decision: CloseThinking | None = None

    @property
    def triggered(self) -> bool:
        """True once the budget was spent (the decision is given once)."""
        return self.decision is not None

    def observe(self, text: str, *, tokens: int = 1) -> CloseThinking | None:
        """Account for newly generated output.

        Args:
            text: The raw text of the new token(s), ``<think>`` tags included.
            tokens: How many tokens ``text`` is (engines that stream chunks pass the count).

        Returns:
            A :class:`CloseThinking` the first time the thinking reaches the budget while still
            open; None otherwise (also after the thinking closed by itself).
        """
        if self.decision is not None:
            return None
        self._parser.feed(text)
        if not self._parser.in_thinking:
            return None
        self.thinking_tokens += tokens
        if self.thinking_tokens < self.max_thinking_tokens:
            return None
        self.decision = CloseThinking(self.thinking_tokens)
        return self.decision
