"""System-prompt presets offered for a chat (pure data).

A chat's system prompt is stored with the conversation and sent first in every prompt. "None"
sends no system message at all: the chat template then applies its own default (Qwen2.5's
template inserts "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
Qwen3's inserts nothing). Qwen3's model cards advise against putting thinking instructions in
the system prompt (use the thinking switch), so no preset does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemPromptPreset:
    """A named system prompt.

    Attributes:
        name: Shown in the picker.
        text: The system prompt ("" sends none).
        description: One line for the tooltip.
    """

    name: str
    text: str
    description: str


PRESETS: tuple[SystemPromptPreset, ...] = (
    SystemPromptPreset("None", "", "No system prompt: the model's own default behaviour."),
    SystemPromptPreset(
        "Concise",
        "Answer briefly and directly. Use short paragraphs or lists, and no filler.",
        "Short, direct answers.",
    ),
    SystemPromptPreset(
        "Coding assistant",
        "You are an expert programmer. Give correct, idiomatic code in fenced code blocks "
        "that name their language, then explain it briefly. Say when something is uncertain.",
        "Code in fenced blocks, brief explanations.",
    ),
    SystemPromptPreset(
        "Teacher",
        "Explain step by step in simple words, with a small example, and end with one "
        "question that checks understanding.",
        "Step-by-step explanations with an example.",
    ),
    SystemPromptPreset(
        "Translator",
        "Translate the user's text. If it is in English, translate it into Simplified "
        "Chinese; otherwise into English. Output only the translation.",
        "English ↔ Chinese translation, nothing else.",
    ),
    SystemPromptPreset(
        "Editor",
        "Improve the clarity, grammar and style of the user's text while keeping its meaning "
        "and voice. Return the edited text, then list the main changes.",
        "Edits your text and lists the changes.",
    ),
)


def preset_for(text: str) -> SystemPromptPreset | None:
    """The preset with exactly this system prompt (surrounding whitespace ignored), or None
    for a custom one."""
    wanted = text.strip()
    return next((preset for preset in PRESETS if preset.text == wanted), None)
