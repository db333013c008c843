"""Qt face of stored conversations: open, send, stop, regenerate, edit and resend, the meter.

:class:`ConversationController` runs
:class:`~qwen_desktop.chat.conversations.ConversationService` actions on the asyncio
loop and turns their events into Qt signals. Every sent message and every streamed answer
(thinking apart, timings, token counts) is saved by the service as it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QObject, Signal

from qwen_desktop.chat.conversations import (
    ConversationChanged,
    ConversationEvent,
    ConversationService,
    MessageAdded,
    MessageFinished,
    MessagesRemoved,
    MessageUpdated,
    TurnOutcome,
)
from qwen_desktop.chat.service import TurnRecord
from qwen_desktop.core.context_meter import ContextReading
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.storage import (
    ChatStore,
    ConversationRecord,
    DamagedDatabaseError,
    ImageInput,
    MessageRecord,
    SearchHit,
)
from qwen_desktop.core.types import (
    AnswerDelta,
    SamplingSettings,
    StreamError,
    ThinkingDelta,
    ThinkingReclassified,
    Usage,
)
from qwen_desktop.engines.base import ChatBackend
from qwen_desktop.uikit.tasks import TaskGroup

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_MESSAGES = 50
"""Messages shown when a conversation is opened (its last page)."""
METER_EVERY_EVENTS = 8
"""While streaming, the meter is refreshed every this many stream events."""


class ConversationController(QObject):
    """Runs conversation actions and reports them as Qt signals.

    Args:
        backend: The engine (for the context window and the loaded model).
        store: The chat history; None when it could not be opened (see ``store_error``).
        store_error: Why the history could not be opened (a damaged database offers
            :meth:`start_new_history`).

    Signals:
        turn_started(str): An answer began for this prompt (its row is saved).
        thinking_received(str): New thinking text.
        thinking_reclassified(str): Text shown as answer was thinking: move it.
        answer_received(str): New answer text.
        turn_finished(Usage): The answer ended normally, with its token counts and timings.
        turn_stopped(): The user stopped the answer (the partial answer is saved).
        turn_failed(str, str): The answer failed: message, action (partial text is saved).
        send_refused(str, str): Nothing was sent or saved: message, action (text stays in the box).
        busy_changed(bool): A turn started (True) or ended (False).
        message_added(MessageRecord): A message was saved (user message or answer row).
        message_updated(MessageRecord): A saved message changed (edited user message).
        message_finished(MessageRecord): The answer's final record (any status).
        messages_removed(int, int): Messages of the current conversation from this position on
            were deleted (position, count).
        conversation_opened(ConversationRecord, list): The current conversation changed: its
            record (None: a new chat not saved yet) and its last page of ``MessageRecord``.
        conversations_changed(): The list of conversations changed (new, renamed, deleted, …).
        context_changed(ContextReading): A new reading for the meter (None: nothing to
            measure: no model or no history).
        store_failed(str, str): The chat history failed: message, action.
    """

    turn_started = Signal(str)
    thinking_received = Signal(str)
    thinking_reclassified = Signal(str)
    answer_received = Signal(str)
    turn_finished = Signal(Usage)
    turn_stopped = Signal()
    turn_failed = Signal(str, str)
    send_refused = Signal(str, str)
    busy_changed = Signal(bool)
    message_added = Signal(MessageRecord)
    message_updated = Signal(MessageRecord)
    message_finished = Signal(MessageRecord)
    messages_removed = Signal(int, int)
    conversation_opened = Signal(ConversationRecord, list)
    conversations_changed = Signal()
    context_changed = Signal(ContextReading)
    store_failed = Signal(str, str)

    def __init__(
        self,
        backend: ChatBackend,
        store: ChatStore | None,
        *,
        store_error: QwenDesktopError | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.store_error = store_error
        self.service: ConversationService | None = None
        if store is not None:
            self.service = ConversationService(store, backend)
        self.sampling: SamplingSettings | None = None
        """Decoding settings given to new conversations (None: Qwen's recommendation)."""
        self.system_prompt = ""
        """The system prompt given to new conversations ("" sends none)."""
        self.thinking_budget_tokens: int | None = None
        """Thinking budget given to new conversations (tokens; None: no budget)."""
        self.current: ConversationRecord | None = None
        self._tasks = TaskGroup(self._on_task_error)
        self._turn: asyncio.Task[None] | None = None
        self._outcome: TurnOutcome | None = None
        self._last_outcome: TurnOutcome | None = None

    # -- the history --------------------------------------------------------------------------

    @property
    def last_record(self) -> TurnRecord | None:
        """The live text of the last (or current) answer, or None before the first one."""
        outcome = self._last_outcome
        return outcome.record if outcome is not None else None

    @property
    def store(self) -> ChatStore | None:
        """The open chat history, or None."""
        return self.service.store if self.service is not None else None

    @property
    def damaged(self) -> DamagedDatabaseError | None:
        """The damaged-database error when the history could not be opened for that reason."""
        return self.store_error if isinstance(self.store_error, DamagedDatabaseError) else None

    def start_new_history(self) -> bool:
        """Replace a damaged history by a new, empty one (the damaged file's copy is kept).

        Returns True on success; failures are reported with ``store_failed``.
        """
        damaged = self.damaged
        if damaged is None:
            return False
        try:
            store = ChatStore.replace_damaged(damaged)
        except QwenDesktopError as exc:
            self.store_failed.emit(exc.message, exc.action)
            return False
        self.store_error = None
        self.service = ConversationService(store, self.backend)
        self.conversations_changed.emit()
        self.new_chat()
        return True

    def close_store(self) -> None:
        """Close the database (window closing)."""
        if self.service is not None:
            self.service.store.close()

    def _guard(self, action: Callable[[], T], default: T) -> T:
        try:
            return action()
        except QwenDesktopError as exc:
            self.store_failed.emit(exc.message, exc.action)
            return default

    # -- conversations --------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while an answer is streaming."""
        return self._turn is not None and not self._turn.done()

    def conversations(self) -> list[ConversationRecord]:
        """Every conversation, most recently active first (empty without a history)."""
        store = self.store
        if store is None:
            return []
        return self._guard(store.list_conversations, [])

    def search(self, query: str) -> list[SearchHit]:
        """Conversations matching every word of ``query`` (title, answers, thinking)."""
        store = self.store
        if store is None or not query.strip():
            return []
        return self._guard(lambda: store.search(query), [])

    def messages(self, limit: int = PAGE_MESSAGES) -> list[MessageRecord]:
        """The current conversation's last ``limit`` messages, oldest first."""
        store, current = self.store, self.current
        if store is None or current is None:
            return []
        return self._guard(lambda: store.load_messages(current.id, limit=limit), [])

    def earlier_messages(
        self, before_position: int, limit: int = PAGE_MESSAGES
    ) -> list[MessageRecord]:
        """The current conversation's ``limit`` messages before ``before_position``, oldest first
        (the page above the first one shown, when the user scrolls up)."""
        store, current = self.store, self.current
        if store is None or current is None:
            return []
        return self._guard(
            lambda: store.load_messages(current.id, limit=limit, before_position=before_position),
            [],
        )

    def new_chat(self) -> None:
        """Start a new chat (saved on its first message); ignored while answering."""
        if self.busy:
            return
        self.current = None
        self.conversation_opened.emit(None, [])
        self.refresh_context()

    def open_conversation(self, conversation_id: int) -> bool:
        """Make a conversation current and show its last page; False while answering."""
        store = self.store
        if self.busy or store is None:
            return False
        try:
            self.current = store.get_conversation(conversation_id)
        except QwenDesktopError as exc:
            self.store_failed.emit(exc.message, exc.action)
            self.conversations_changed.emit()
            return False
        self.conversation_opened.emit(self.current, self.messages())
        self.refresh_context()
        return True

    def rename(self, conversation_id: int, title: str) -> None:
        """Give a conversation a new title (blank titles are ignored)."""
        store = self.store
        title = " ".join(title.split())
        if store is None or not title:
            return
        record = self._guard(lambda: store.rename_conversation(conversation_id, title), None)
        if record is not None and self.current is not None and self.current.id == record.id:
            self.current = record
        self.conversations_changed.emit()

    def set_system_prompt(self, text: str) -> bool:
        """Use ``text`` as the system prompt of the current conversation (saved at once) and of
        new ones; False while an answer streams (the prompt of a running turn cannot change).
        """
        store, current = self.store, self.current
        if self.busy:
            return False
        self.system_prompt = text
        if store is not None and current is not None:
            record = self._guard(
                lambda: store.update_conversation(current.id, system_prompt=text), None
            )
            if record is not None:
                self.current = record
        self.refresh_context()
        return True

    def set_chat_settings(
        self, sampling: SamplingSettings | None, thinking_budget_tokens: int | None
    ) -> bool:
        """Use these decoding settings and thinking budget for the current conversation (saved
        at once) and for new ones; False while an answer streams.

        Args:
            sampling: Decoding settings; None follows Qwen's recommendation for each turn's
                thinking mode (:meth:`SamplingSettings.for_mode`).
            thinking_budget_tokens: Thinking tokens before the thinking is closed; None: no limit.
        """
        store, current = self.store, self.current
        if self.busy:
            return False
        self.sampling, self.thinking_budget_tokens = sampling, thinking_budget_tokens
        if store is not None and current is not None:
            record = self._guard(
                lambda: store.update_conversation(
                    current.id, sampling=sampling, thinking_budget_tokens=thinking_budget_tokens
                ),
                None,
            )
            if record is not None:
                self.current = record
        self.refresh_context()
        return True

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and its messages (the caller has asked the user)."""
        store = self.store
        if store is None or (self.busy and self.current and self.current.id == conversation_id):
            return
        self._guard(lambda: store.delete_conversation(conversation_id), None)
        self.conversations_changed.emit()
        if self.current is not None and self.current.id == conversation_id:
            self.new_chat()

    # -- export / import -------------------------------------------------------------------------

    def export_markdown(self, conversation_id: int) -> str | None:
        """One conversation as Markdown (thinking in collapsed blocks); None on failure
        (``store_failed`` says why)."""
        store = self.store
        if store is None:
            return None
        return self._guard(lambda: store.export_markdown(conversation_id), None)

    def export_json(self, conversation_ids: list[int]) -> str | None:
        """Conversations as a qwen-desktop JSON export (images inlined); None on failure."""
        store = self.store
        if store is None:
            return None
        return self._guard(lambda: store.export_json(conversation_ids), None)

    def import_json(self, data: bytes, source: str) -> list[ConversationRecord]:
        """Import an export file as new conversations, all or nothing; the first one is opened.

        A file that is not a valid export is reported through ``store_failed`` with what is
        wrong in it; nothing is imported.
        """
        store = self.store
        if store is None:
            return []
        none: list[ConversationRecord] = []
        imported = self._guard(lambda: store.import_json(data, source=source), none)
        if imported:
            self.conversations_changed.emit()
            self.open_conversation(imported[0].id)
        return imported

    def later_message_count(self, message_id: int) -> int:
        """Messages that editing this one would remove."""
        service = self.service
        if service is None:
            return 0
        return self._guard(lambda: service.later_message_count(message_id), 0)

    # -- the meter ------------------------------------------------------------------------------

    def context_reading(
        self,
        draft: str | None = None,
        *,
        thinking: bool | None = None,
        draft_images: Sequence[ImageInput] = (),
    ) -> ContextReading | None:
        """The meter for the current conversation (with a draft and its attached images;
        mid-answer while streaming)."""
        service, current = self.service, self.current
        if service is None or current is None or self.backend.loaded is None:
            return None
        answer_tokens = thinking_tokens = 0
        outcome = self._outcome
        if self.busy and outcome is not None:
            answer_tokens = outcome.thinking_events + outcome.answer_events
            thinking_tokens = outcome.thinking_events
            draft = None
            draft_images = ()
        try:
            return service.context_reading(
                current.id,
                draft=draft or ("" if draft_images else None),  # images alone are a draft too
                draft_images=draft_images,
                answer_tokens=answer_tokens,
                thinking_tokens=thinking_tokens,
                thinking=thinking,
            )
        except QwenDesktopError as exc:
            log.warning("context meter: %s", exc)
            return None

    def refresh_context(
        self, draft: str | None = None, draft_images: Sequence[ImageInput] = ()
    ) -> None:
        """Emit ``context_changed`` with a fresh reading."""
        self.context_changed.emit(self.context_reading(draft, draft_images=draft_images))

    # -- turns ----------------------------------------------------------------------------------

    def send(self, prompt: str, *, thinking: bool, images: Sequence[ImageInput] = ()) -> bool:
        """Send a message (text and/or prepared images) in the current conversation (a new chat
        is saved first).

        Returns False (doing nothing) when the message is empty, a turn runs or there is no
        history. Refusals by the service arrive as ``send_refused``, and so does an image sent
        to a model that cannot see (images are never dropped silently).
        """
        prompt = prompt.strip()
        images = tuple(images)
        service = self.service
        if (not prompt and not images) or self.busy or service is None:
            return False
        if self._refuse_images(bool(images), "Remove the images"):
            return False

        def start(outcome: TurnOutcome) -> AsyncGenerator[ConversationEvent, None]:
            if self.current is None:
                self.current = service.new_conversation(
                    sampling=self.sampling,
                    thinking=thinking,
                    system_prompt=self.system_prompt,
                    thinking_budget_tokens=self.thinking_budget_tokens,
                )
                self.conversations_changed.emit()
            return service.send(
                self.current.id, prompt, images=images, thinking=thinking, outcome=outcome
            )

        self._start(prompt, start)
        return True

    def regenerate(self, *, thinking: bool) -> bool:
        """Replace the current conversation's last answer with a new one."""
        service, current = self.service, self.current
        if self.busy or service is None or current is None:
            return False
        asked = [m for m in self.messages(limit=4) if m.role == "user"]
        if self._refuse_images(bool(asked and asked[-1].images), "Start a chat without them"):
            return False
        self._start(
            "", lambda outcome: service.regenerate(current.id, thinking=thinking, outcome=outcome)
        )
        return True

    def _refuse_images(self, has_images: bool, remedy: str) -> bool:
        """Refuse (``send_refused``) to send images to a model that cannot see: engines would
        leave them out, and the answer would ignore them without a word."""
        loaded = self.backend.loaded
        if not has_images or loaded is None or self.backend.capabilities.vision:
            return False
        self.send_refused.emit(
            f"{loaded.name} cannot see images.",
            f"{remedy}, or load a vision model (Qwen2.5-VL, Qwen3-VL, Qwen3.5).",
        )
        return True

    def edit_and_resend(self, message_id: int, text: str, *, thinking: bool) -> bool:
        """Replace a user message's text, delete every later message, answer it again."""
        service = self.service
        text = text.strip()
        if self.busy or service is None or self.current is None or not text:
            return False
        store = self.store
        original = self._guard(lambda: store.get_message(message_id), None) if store else None
        if self._refuse_images(bool(original and original.images), "Start a chat without them"):
            return False
        self._start(
            text,
            lambda outcome: service.edit_and_resend(
                message_id, text, thinking=thinking, outcome=outcome
            ),
        )
        return True

    def stop(self) -> None:
        """Stop the running answer (no-op when idle); the partial answer is saved."""
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()

    def _start(
        self,
        prompt: str,
        start: Callable[[TurnOutcome], AsyncGenerator[ConversationEvent, None]],
    ) -> None:
        self._turn = self._tasks.start(self._run(prompt, start))

    async def _run(
        self,
        prompt: str,
        start: Callable[[TurnOutcome], AsyncGenerator[ConversationEvent, None]],
    ) -> None:
        outcome = self._outcome = TurnOutcome()
        answering = False
        self.busy_changed.emit(True)
        try:
            turn = start(outcome)
            async with contextlib.aclosing(turn) as events:
                count = 0
                async for event in events:
                    if isinstance(event, MessageAdded) and event.message.role == "assistant":
                        answering = True
                        self._last_outcome = outcome
                        self.message_added.emit(event.message)
                        asked = outcome.user_message
                        self.turn_started.emit(asked.content if asked is not None else prompt)
                    else:
                        self._emit(event)
                    count += 1
                    if answering and count % METER_EVERY_EVENTS == 0:
                        self.refresh_context()
        except asyncio.CancelledError:
            outcome.record.cancelled = True
            if answering:
                self.turn_stopped.emit()
        except QwenDesktopError as exc:
            if answering:
                self.turn_failed.emit(exc.message, exc.action)
            else:
                self.send_refused.emit(exc.message, exc.action)
        finally:
            self._outcome = None
            if self.current is not None and self.store is not None:
                with contextlib.suppress(QwenDesktopError):
                    self.current = self.store.get_conversation(self.current.id)
            self.busy_changed.emit(False)
            self.conversations_changed.emit()
            self.refresh_context()

    def _emit(self, event: ConversationEvent) -> None:
        if isinstance(event, ThinkingDelta):
            self.thinking_received.emit(event.text)
        elif isinstance(event, AnswerDelta):
            self.answer_received.emit(event.text)
        elif isinstance(event, ThinkingReclassified):
            self.thinking_reclassified.emit(event.text)
        elif isinstance(event, Usage):
            self.turn_finished.emit(event)
        elif isinstance(event, StreamError):
            self.turn_failed.emit(event.message, event.action)
        elif isinstance(event, MessageAdded):
            self.message_added.emit(event.message)
        elif isinstance(event, MessageUpdated):
            self.message_updated.emit(event.message)
        elif isinstance(event, MessagesRemoved):
            self.messages_removed.emit(event.from_position, event.count)
        elif isinstance(event, MessageFinished):
            self.message_finished.emit(event.message)
        elif isinstance(event, ConversationChanged):
            self.current = event.conversation
            self.conversations_changed.emit()

    def _on_task_error(self, exc: BaseException) -> None:
        self.turn_failed.emit(f"Unexpected error: {exc}", "See the log for details.")
        self.busy_changed.emit(False)

    async def shutdown(self) -> None:
        """Cancel this controller's running work and wait for it to end (window closing)."""
        await self._tasks.cancel_and_wait()


def open_store(data_dir: Path) -> tuple[ChatStore | None, QwenDesktopError | None]:
    """Open the chat history in ``data_dir``: the store, or None and the error to show."""
    try:
        return ChatStore.open(data_dir), None
    except QwenDesktopError as exc:
        log.error("chat history: %s", exc.message)
        return None, exc
