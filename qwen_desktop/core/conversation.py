"""Conversation → prompt rules (pure).

Qwen's rule for multi-turn chats: earlier assistant turns go back into the prompt with their final
answer only; their thinking is never sent again (source: Qwen3 model cards, "No thinking content
in history"). Sending it back fills the context window with stale reasoning (case C4).
"""

from __future__ import annotations

from collections.abc import Iterable

from qwen_desktop.core.types import ChatMessage, ThinkingKind


def messages_for_prompt(history: Iterable[ChatMessage]) -> tuple[ChatMessage, ...]:
    """The messages to send to an engine: every message with its thinking removed."""
    return tuple(ChatMessage(role=m.role, content=m.content) if m.thinking else m for m in history)


def thinking_request(kind: ThinkingKind, switch_on: bool) -> bool | None:
    """What to ask the engine for, given the model's thinking kind and the UI switch.

    Returns:
        ``switch_on`` for hybrid models (the only kind the switch controls); ``None`` (the model's
        own behaviour) for thinking-only and instruct-only models, whose switch the UI disables.
    """
    return switch_on if kind is ThinkingKind.HYBRID else None


def thinking_switch_reason(kind: ThinkingKind) -> str:
    """Why the thinking switch is enabled or not, in plain words (shown as its tooltip)."""
    if kind is ThinkingKind.HYBRID:
        return "This model can think before answering. Switch off for faster, direct answers."
    if kind is ThinkingKind.THINKING_ONLY:
        return (
            "This model always thinks before answering: its chat template opens the thinking "
            "block, so thinking cannot be switched off. Use its Instruct twin for direct answers."
        )
    return "This model never thinks: it answers directly, so there is nothing to switch."
