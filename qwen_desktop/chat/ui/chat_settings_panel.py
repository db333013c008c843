"""The per-chat settings panel: sampling, thinking budget and system prompt, saved per conversation.

Opened from a small button beside the thinking switch (:class:`ChatSettingsButton`). The values
are stored with the conversation (``sampling_json``, ``thinking_budget_tokens`` and
``system_prompt`` in the chat database) through
:meth:`~qwen_desktop.chat.ui.conversation_controller.ConversationController.set_chat_settings`, and
the next turn's request uses them. "Qwen's recommended sampling" stores no values at all: each
turn then takes :meth:`~qwen_desktop.core.types.SamplingSettings.for_mode` for its thinking mode
(thinking 0.6 / 0.95 / 20, without thinking 0.7 / 0.8 / 20; source: Qwen3 model cards).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.ui.conversation_controller import ConversationController
from qwen_desktop.chat.ui.system_prompt_picker import SystemPromptPicker
from qwen_desktop.core.types import SamplingSettings

MAX_ANSWER_TOKENS = 262_144
"""Upper end of the answer-length box (tokens): the largest context window of a Qwen model in
the catalog (Qwen3-2507, Qwen3-VL, Qwen3.5); the engine caps an answer at the room left in the
loaded model's window anyway."""
DEFAULT_THINKING_BUDGET = 1024
"""Budget offered when the limit is switched on (tokens; Qwen3 Technical Report §4.3 plots
budgets from 1K up)."""
MIN_THINKING_BUDGET = 32
"""Smallest budget accepted (tokens): less leaves the model no room to reason at all."""


@dataclass(frozen=True)
class ChatSettings:
    """What the panel edits for one conversation.

    Attributes:
        sampling: Decoding settings; None: Qwen's recommendation for each turn's thinking mode.
        thinking_budget_tokens: Thinking tokens before the thinking is closed; None: no limit.
        system_prompt: Sent first in every prompt ("" sends none).
    """

    sampling: SamplingSettings | None = None
    thinking_budget_tokens: int | None = None
    system_prompt: str = ""


class ChatSettingsPanel(QDialog):
    """A dialog editing :class:`ChatSettings`; read :meth:`settings` after it is accepted.

    Args:
        settings: The conversation's current settings.
        thinking: Whether the next turn thinks (the recommended values shown follow it).
        parent: Parent widget.
    """

    def __init__(
        self, settings: ChatSettings, *, thinking: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chatSettingsPanel")
        self.setWindowTitle("Chat settings")
        self._thinking = thinking
        self._base = settings.sampling or SamplingSettings.for_mode(thinking)
        sampling_box = self._build_sampling()
        budget_box = self._build_budget(settings.thinking_budget_tokens)
        self.system_prompts = SystemPromptPicker()
        self.system_prompts.show_prompt(settings.system_prompt)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(sampling_box)
        layout.addWidget(budget_box)
        layout.addWidget(self.system_prompts)
        layout.addWidget(QLabel("Saved with this chat; used from its next answer on."))
        layout.addWidget(self.buttons)

        self._show_values(self._base)
        self.recommended.setChecked(settings.sampling is None)
        self._on_recommended_toggled(self.recommended.isChecked())
        self.recommended.toggled.connect(self._on_recommended_toggled)
        self.limit_thinking.toggled.connect(self.budget.setEnabled)
        self.budget.setEnabled(self.limit_thinking.isChecked())

    def _build_sampling(self) -> QGroupBox:
        self.recommended = QCheckBox("Use Qwen's recommended sampling for the thinking mode")
        self.recommended.setObjectName("recommendedSampling")
        self.recommended.setToolTip(
            "Thinking: temperature 0.6, top_p 0.95, top_k 20. Without thinking: 0.7, 0.8, 20 "
            "(Qwen3 model cards). Follows the thinking switch turn by turn."
        )
        self.temperature = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=2.0, singleStep=0.05)
        self.temperature.setObjectName("temperature")
        self.temperature.setToolTip(
            "Randomness of the next token. 0 = always the likeliest token (greedy), which Qwen "
            "warns against in thinking mode: it can repeat itself endlessly."
        )
        self.top_p = QDoubleSpinBox(decimals=2, minimum=0.01, maximum=1.0, singleStep=0.05)
        self.top_p.setObjectName("topP")
        self.top_p.setToolTip("Sample only from the likeliest tokens that together reach this.")
        self.top_k = QSpinBox(minimum=0, maximum=1000)
        self.top_k.setObjectName("topK")
        self.top_k.setSpecialValueText("off")
        self.top_k.setToolTip("Sample only from this many likeliest tokens (0 = no limit).")
        self.max_new_tokens = QSpinBox(minimum=1, maximum=MAX_ANSWER_TOKENS, singleStep=256)
        self.max_new_tokens.setObjectName("maxNewTokens")
        self.max_new_tokens.setSuffix(" tokens")
        self.max_new_tokens.setGroupSeparatorShown(True)
        self.max_new_tokens.setToolTip(
            "Longest answer, thinking included. The context meter reserves this much room; an "
            "answer also stops when the model's context window is full."
        )
        sampling_box = QGroupBox("Sampling")
        form = QFormLayout(sampling_box)
        form.addRow(self.recommended)
        form.addRow("Temperature:", self.temperature)
        form.addRow("Top p:", self.top_p)
        form.addRow("Top k:", self.top_k)
        form.addRow("Max answer length:", self.max_new_tokens)
        return sampling_box

    def _build_budget(self, budget_tokens: int | None) -> QGroupBox:
        thinking = self._thinking
        self.limit_thinking = QCheckBox("Limit thinking to")
        self.limit_thinking.setObjectName("limitThinking")
        self.budget = QSpinBox(minimum=MIN_THINKING_BUDGET, maximum=MAX_ANSWER_TOKENS)
        self.budget.setObjectName("thinkingBudget")
        self.budget.setSingleStep(256)
        self.budget.setSuffix(" tokens")
        self.budget.setGroupSeparatorShown(True)
        self.budget.setValue(budget_tokens or DEFAULT_THINKING_BUDGET)
        self.limit_thinking.setChecked(budget_tokens is not None)
        self.budget_note = QLabel(
            "After this many thinking tokens the thinking is closed and the model answers from "
            "what it has reasoned so far (Qwen3 Technical Report, §4.3); answers can be weaker. "
            "Applied by the Transformers engine; Ollama and remote servers do not support it "
            "yet and think without a limit."
            + ("" if thinking else " The next turn does not think, so it does not apply there.")
        )
        self.budget_note.setWordWrap(True)
        budget_box = QGroupBox("Thinking budget")
        budget_row = QHBoxLayout()
        budget_row.addWidget(self.limit_thinking)
        budget_row.addWidget(self.budget, 1)
        budget_layout = QVBoxLayout(budget_box)
        budget_layout.addLayout(budget_row)
        budget_layout.addWidget(self.budget_note)
        return budget_box

    def settings(self) -> ChatSettings:
        """The settings as edited (``sampling`` None when the recommendation is chosen)."""
        sampling = None
        if not self.recommended.isChecked():
            sampling = dataclasses.replace(
                self._base,
                temperature=round(self.temperature.value(), 2),
                top_p=round(self.top_p.value(), 2),
                top_k=self.top_k.value(),
                max_new_tokens=self.max_new_tokens.value(),
            )
        budget = self.budget.value() if self.limit_thinking.isChecked() else None
        return ChatSettings(sampling, budget, self.system_prompts.text)

    def _show_values(self, sampling: SamplingSettings) -> None:
        self.temperature.setValue(sampling.temperature)
        self.top_p.setValue(sampling.top_p)
        self.top_k.setValue(sampling.top_k)
        self.max_new_tokens.setValue(sampling.max_new_tokens)

    def _on_recommended_toggled(self, checked: bool) -> None:
        if checked:  # show what the next turn will use, read-only
            self._show_values(SamplingSettings.for_mode(self._thinking))
        for box in (self.temperature, self.top_p, self.top_k, self.max_new_tokens):
            box.setEnabled(not checked)


PanelFactory = Callable[[ChatSettings, bool, QWidget], ChatSettingsPanel]
"""Builds the panel from (settings, thinking, parent); replaceable in tests."""


def _make_panel(settings: ChatSettings, thinking: bool, parent: QWidget) -> ChatSettingsPanel:
    return ChatSettingsPanel(settings, thinking=thinking, parent=parent)


class ChatSettingsButton(QToolButton):
    """The small button beside the thinking switch that opens :class:`ChatSettingsPanel`.

    Args:
        chat: Saves the settings in the current conversation (and uses them for new ones).
        think_switch: The window's thinking switch (the panel's recommended values follow it).
        system_prompts: The window's system-prompt picker (shows a prompt chosen in the panel).

    Attributes:
        panel: The panel while it is open (or the last one), for tests.
        make_panel: Builds the panel (replaceable in tests).
    """

    def __init__(
        self,
        chat: ConversationController,
        think_switch: QCheckBox,
        system_prompts: SystemPromptPicker,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chatSettingsButton")
        self.setText("Chat settings…")
        self.setToolTip("Sampling, thinking budget and system prompt of this chat")
        self._chat = chat
        self._think_switch = think_switch
        self._system_prompts = system_prompts
        self.panel: ChatSettingsPanel | None = None
        self.make_panel: PanelFactory = _make_panel
        self.clicked.connect(self.open_panel)
        chat.busy_changed.connect(self._on_chat_busy_changed)

    def current_settings(self) -> ChatSettings:
        """The open conversation's settings (for a new chat: those new chats get)."""
        current, chat = self._chat.current, self._chat
        if current is not None:
            return ChatSettings(
                current.sampling, current.thinking_budget_tokens, current.system_prompt
            )
        return ChatSettings(chat.sampling, chat.thinking_budget_tokens, chat.system_prompt)

    def open_panel(self) -> ChatSettingsPanel:
        """Open the panel (window-modal, without blocking); saving applies it."""
        panel = self.make_panel(
            self.current_settings(), self._think_switch.isChecked(), self.window()
        )
        panel.accepted.connect(lambda: self._apply(panel.settings()))
        self.panel = panel
        panel.open()
        return panel

    def _apply(self, settings: ChatSettings) -> None:
        if not self._chat.set_chat_settings(settings.sampling, settings.thinking_budget_tokens):
            return  # an answer started meanwhile; the button is disabled until it ends
        if settings.system_prompt != self.current_settings().system_prompt:
            self._chat.set_system_prompt(settings.system_prompt)
        self._system_prompts.show_prompt(settings.system_prompt)

    def _on_chat_busy_changed(self, busy: bool) -> None:
        self.setEnabled(not busy)
        self.setToolTip(
            "The settings can change once the answer is finished."
            if busy
            else "Sampling, thinking budget and system prompt of this chat"
        )
