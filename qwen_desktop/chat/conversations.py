"""Message actions on stored conversations: send, stop, regenerate, edit and resend.

:class:`ConversationService` joins a :class:`~qwen_desktop.core.storage.ChatStore` and a
:class:`~qwen_desktop.chat.service.ChatSession`. Every turn rebuilds the session's history from
the stored messages (role, answer text, images; never the thinking: Qwen's rule, case C4), checks
the context meter, saves the user's message, then streams the answer into its own row.

Rules the UI can state:

- Nothing is saved when sending is refused (no model, busy, the message does not fit): the text
  stays in the input box. A message that does not fit raises
  :class:`~qwen_desktop.core.context_meter.ContextFullError` with the number of oldest messages to
  remove; nothing is ever cut silently.
- Stop = cancel the task consuming the turn's events. The partial answer is saved with status
  ``stopped``; :class:`TurnOutcome` holds its final record.
- Regenerate deletes the last answer and writes a new one in its place (alternatives are not
  kept; a later migration can add them). The question stays.
- Edit and resend replaces the text of one of the user's messages and deletes every later
  message (:meth:`ConversationService.later_message_count` tells the UI how many beforehand, for
  "this removes N later messages"), then answers the edited message.
- Engine failures never raise out of a turn once the user's message is saved: the answer row gets
  status ``error`` with the engine's message and keeps its partial text; a
  :class:`~qwen_desktop.core.types.StreamError` event says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field

from qwen_desktop.chat.service import ChatSession, TurnRecord
from qwen_desktop.core.context_meter import (
    MIN_ANSWER_TOKENS,
    WARN_FRACTION,
    ContextFullError,
    ContextReading,
    MeterMessage,
    TokenCounter,
    count_tokens,
    measure_context,
    oldest_to_remove,
    visual_tokens,
)
from qwen_desktop.core.errors import NoModelLoadedError, QwenDesktopError
from qwen_desktop.core.storage import (
    DEFAULT_FLUSH_INTERVAL_S,
    AnswerWriter,
    ChatStore,
    ChatStoreError,
    ConversationRecord,
    ImageInput,
    MessageRecord,
    MessageStatus,
)
from qwen_desktop.core.storage.messages import goes_to_prompt
from qwen_desktop.core.types import (
    AnswerDelta,
    ChatMessage,
    SamplingSettings,
    StreamError,
    StreamEvent,
    ThinkingDelta,
)
from qwen_desktop.engines.base import ChatBackend

log = logging.getLogger(__name__)

TITLE_MAX_CHARS = 60


@dataclass(frozen=True)
class MessageAdded:
    """A message was saved: the user's message, or the answer row about to stream."""

    message: MessageRecord


@dataclass(frozen=True)
class MessageUpdated:
    """A saved message changed (the user's edited message)."""

    message: MessageRecord


@dataclass(frozen=True)
class MessagesRemoved:
    """Messages at ``from_position`` and after were deleted (edit and resend, regenerate)."""

    conversation_id: int
    from_position: int
    count: int


@dataclass(frozen=True)
class MessageFinished:
    """The answer ended (complete or error) and this is its saved state.

    A stopped answer is saved too, but its turn ends with ``CancelledError``: read
    :attr:`TurnOutcome.answer` then.
    """

    message: MessageRecord


@dataclass(frozen=True)
class ConversationChanged:
    """The conversation's title or settings changed (e.g. the first message named it)."""

    conversation: ConversationRecord


ConversationEvent = (
    MessageAdded
    | MessageUpdated
    | MessagesRemoved
    | MessageFinished
    | ConversationChanged
    | StreamEvent
)


@dataclass
class TurnOutcome:
    """What a turn has saved so far; pass one in to read it after cancelling the turn.

    Attributes:
        user_message: The user's message (new, edited, or the one regenerated for).
        answer: The answer row: its first saved state, then its final one.
        removed_count: Messages deleted by this action.
        record: The live text of the answer.
        thinking_events: Thinking deltas received (a live token estimate for the meter).
        answer_events: Answer deltas received.
    """

    user_message: MessageRecord | None = None
    answer: MessageRecord | None = None
    removed_count: int = 0
    record: TurnRecord = field(default_factory=lambda: TurnRecord(""))
    thinking_events: int = 0
    answer_events: int = 0


def suggest_title(text: str) -> str:
    """A conversation title from its first message: the first line, at most 60 characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if len(line) <= TITLE_MAX_CHARS:
        return line
    cut = line[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] or line[:TITLE_MAX_CHARS]
    return cut.rstrip(" ,.;:") + "…"


@dataclass
class _MeterCache:
    key: tuple[int, int]
    entries: dict[int, tuple[tuple[object, ...], MeterMessage | None]]  # id → (version, counted)
    ordered: list[tuple[int, MeterMessage]]  # (position, counted), oldest first


@dataclass
class _Plan:
    conversation: ConversationRecord
    history: list[ChatMessage]
    thinking: bool
    reading: ContextReading


class ConversationService:
    """Send, stop, regenerate, edit and resend, on stored conversations.

    Args:
        store: Where conversations live.
        backend: The engine that answers.
        token_counter: The loaded model's tokenizer (``str → tokens``), when available; the
            meter estimates otherwise.
        flush_interval_s: Least seconds between writes of a streaming answer.
        clock: Monotonic clock, replaceable in tests.
        warn_fraction: See :func:`~qwen_desktop.core.context_meter.measure_context`.
        min_answer_tokens: Least room for an answer below which sending is refused.
    """

    def __init__(
        self,
        store: ChatStore,
        backend: ChatBackend,
        *,
        token_counter: TokenCounter | None = None,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        warn_fraction: float = WARN_FRACTION,
        min_answer_tokens: int = MIN_ANSWER_TOKENS,
    ) -> None:
        self.store = store
        self.backend = backend
        self.token_counter = token_counter
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._warn_fraction = warn_fraction
        self._min_answer_tokens = min_answer_tokens
        self._busy: set[int] = set()
        self._meter_cache: dict[int, _MeterCache] = {}

    # -- conversations ----------------------------------------------------------------------

    def new_conversation(
        self,
        *,
        title: str = "",
        system_prompt: str = "",
        sampling: SamplingSettings | None = None,
        thinking: bool = True,
        thinking_budget_tokens: int | None = None,
    ) -> ConversationRecord:
        """Create an empty conversation for the loaded model (its name and engine recorded)."""
        loaded = self.backend.loaded
        return self.store.create_conversation(
            title=title,
            model=loaded.name if loaded else "",
            engine=loaded.engine if loaded else "",
            system_prompt=system_prompt,
            sampling=sampling,
            thinking=thinking,
            thinking_budget_tokens=thinking_budget_tokens,
        )

    def is_busy(self, conversation_id: int) -> bool:
        """True while a turn of this conversation is streaming."""
        return conversation_id in self._busy

    def later_message_count(self, message_id: int) -> int:
        """Messages that editing this one would remove (for "this removes N later messages")."""
        return self.store.later_message_count(message_id)

    def remove_oldest_messages(self, conversation_id: int, count: int) -> int:
        """Delete the ``count`` oldest messages (the user chose this to make room)."""
        self._ensure_idle(conversation_id)
        return self.store.delete_oldest_messages(conversation_id, count)

    # -- the meter ------------------------------------------------------------------------------

    def _stored_meter(self, conversation: ConversationRecord) -> _MeterCache:
        """The conversation's stored messages as the meter sees them, each counted once.

        Cached per conversation; when it changes (:meth:`ChatStore.revision`), only messages
        whose version moved are read again, so the meter can follow typing and sending in a
        10,000-message conversation. Texts are dropped after counting.
        """
        key = (self.store.revision(conversation.id), conversation.message_count)
        cached = self._meter_cache.get(conversation.id)
        if cached is not None and cached.key == key:
            return cached
        known = cached.entries if cached is not None else {}
        versions = self.store.message_versions(conversation.id)
        stale = [mid for mid, _, version in versions if known.get(mid, (None,))[0] != version]
        fresh = {record.id: record for record in self.store.get_messages(stale)}
        entries: dict[int, tuple[tuple[object, ...], MeterMessage | None]] = {}
        ordered: list[tuple[int, MeterMessage]] = []
        for mid, position, version in versions:
            record = fresh.get(mid)
            message = self._meter_message(record) if record is not None else known[mid][1]
            entries[mid] = (version, message)
            if message is not None:
                ordered.append((position, message))
        cache = _MeterCache(key, entries, ordered)
        self._meter_cache[conversation.id] = cache
        return cache

    def _meter_message(self, record: MessageRecord) -> MeterMessage | None:
        """A stored message, counted (None for the answer streaming now: it is not history)."""
        if record.status is MessageStatus.STREAMING:
            return None
        answer_tokens = record.stats.answer_tokens if record.role == "assistant" else None
        thinking_tokens = 0
        if record.thinking:
            thinking_tokens = count_tokens(
                record.thinking, record.stats.thinking_tokens, self.token_counter
            )
        return MeterMessage(
            record.role,
            "",
            content_tokens=count_tokens(record.content, answer_tokens, self.token_counter),
            thinking_tokens=thinking_tokens,
            image_tokens=sum(visual_tokens(i.width, i.height) for i in record.images),
            sent=goes_to_prompt(record),
        )

    def _meter_messages(
        self,
        conversation: ConversationRecord,
        before_position: int | None,
        draft: str | None,
        draft_images: Sequence[ImageInput],
    ) -> list[MeterMessage]:
        messages: list[MeterMessage] = []
        if conversation.system_prompt:
            tokens = count_tokens(conversation.system_prompt, None, self.token_counter)
            messages.append(MeterMessage("system", "", content_tokens=tokens, removable=False))
        messages += [
            message
            for position, message in self._stored_meter(conversation).ordered
            if before_position is None or position < before_position
        ]
        if draft is not None:
            messages.append(
                MeterMessage(
                    "user",
                    "",
                    content_tokens=count_tokens(draft, None, self.token_counter),
                    image_tokens=sum(visual_tokens(i.width, i.height) for i in draft_images),
                    removable=False,
                )
            )
        return messages

    def _reserved_tokens(self, conversation: ConversationRecord, thinking: bool) -> int:
        session = ChatSession(self.backend, sampling=conversation.sampling)
        return session.build_request("", thinking=thinking).sampling.max_new_tokens

    def _measure(
        self,
        conversation: ConversationRecord,
        messages: list[MeterMessage],
        thinking: bool,
        answer_tokens: int = 0,
        thinking_tokens: int = 0,
    ) -> ContextReading:
        return measure_context(
            messages,
            window_tokens=self.backend.capabilities.context_window_tokens,
            reserved_answer_tokens=self._reserved_tokens(conversation, thinking),
            answer_tokens=answer_tokens,
            thinking_tokens=thinking_tokens,
            warn_fraction=self._warn_fraction,
            min_answer_tokens=self._min_answer_tokens,
            estimated=self.token_counter is None,
        )

    def context_reading(
        self,
        conversation_id: int,
        *,
        draft: str | None = None,
        draft_images: Sequence[ImageInput] = (),
        answer_tokens: int = 0,
        thinking_tokens: int = 0,
        thinking: bool | None = None,
    ) -> ContextReading:
        """The meter for a conversation: as it stands, with a draft message, or mid-answer.

        Cheap to call repeatedly (while typing, while streaming): the stored messages are
        counted once per change of the conversation.

        Args:
            conversation_id: The conversation.
            draft: The message being typed (None: none).
            draft_images: Images attached to the draft.
            answer_tokens: Tokens of the answer streaming now (thinking included).
            thinking_tokens: Of which thinking.
            thinking: The thinking switch (None: the conversation's).
        """
        conversation = self.store.get_conversation(conversation_id)
        mode = conversation.thinking if thinking is None else thinking
        messages = self._meter_messages(conversation, None, draft, draft_images)
        return self._measure(conversation, messages, mode, answer_tokens, thinking_tokens)

    # -- turns ------------------------------------------------------------------------------------

    def _ensure_idle(self, conversation_id: int) -> None:
        if conversation_id in self._busy:
            raise QwenDesktopError(
                "This conversation is still answering.", "Stop the answer, or wait for it to end."
            )

    def _plan(
        self,
        conversation_id: int,
        text: str,
        images: Sequence[ImageInput],
        thinking: bool | None,
        before_position: int | None = None,
    ) -> _Plan:
        """Refuse early (nothing saved) or return what the turn needs.

        The prompt's history is the stored messages before ``before_position`` (all when None).
        """
        if self.backend.loaded is None:
            raise NoModelLoadedError()
        self._ensure_idle(conversation_id)
        conversation = self.store.get_conversation(conversation_id)
        mode = conversation.thinking if thinking is None else thinking
        meter = self._meter_messages(conversation, before_position, text, images)
        reading = self._measure(conversation, meter, mode)
        if not reading.fits:
            remove = oldest_to_remove(
                meter,
                window_tokens=reading.window_tokens,
                reserved_answer_tokens=reading.reserved_answer_tokens,
                min_answer_tokens=self._min_answer_tokens,
            )
            raise ContextFullError(reading, remove)
        history = self.store.load_history(conversation_id, before_position=before_position)
        return _Plan(conversation, history, mode, reading)

    async def send(
        self,
        conversation_id: int,
        text: str,
        *,
        images: Sequence[ImageInput] = (),
        thinking: bool | None = None,
        outcome: TurnOutcome | None = None,
    ) -> AsyncGenerator[ConversationEvent, None]:
        """Save the user's message and stream the answer into the conversation.

        Yields, in order: :class:`MessageAdded` (the user's message), possibly
        :class:`ConversationChanged` (title, thinking switch), :class:`MessageAdded` (the answer
        row, status ``streaming``), the engine's events, :class:`MessageFinished`.

        Raises:
            NoModelLoadedError, ContextFullError, QwenDesktopError: Refused; nothing was saved.
            ChatStoreError: The store failed.
        """
        outcome = outcome if outcome is not None else TurnOutcome()
        if not text.strip() and not images:
            raise QwenDesktopError("The message is empty.", "Type a message or attach an image.")
        plan = self._plan(conversation_id, text, images, thinking)

        def save() -> list[ConversationEvent]:
            outcome.user_message = self.store.add_message(
                conversation_id, "user", text, images=images
            )
            return [MessageAdded(outcome.user_message)]

        turn = self._turn(plan, text, images, outcome, save, title=suggest_title(text) or "Image")
        async with contextlib.aclosing(turn) as events:
            async for event in events:
                yield event

    async def regenerate(
        self,
        conversation_id: int,
        *,
        thinking: bool | None = None,
        outcome: TurnOutcome | None = None,
    ) -> AsyncGenerator[ConversationEvent, None]:
        """Replace the last answer with a new one (the old answer is deleted, not kept).

        Works when the conversation ends with an answer (any status) after a user message, or
        with a user message that has no answer. Yields :class:`MessagesRemoved` (when an answer
        was deleted), then the same events as :meth:`send` from the answer row on.

        Raises:
            QwenDesktopError: Nothing to regenerate; or refused like :meth:`send`.
        """
        outcome = outcome if outcome is not None else TurnOutcome()
        records = self.store.load_messages(conversation_id, limit=2)
        last = records[-1] if records else None
        question = last
        if last is not None and last.role == "assistant":
            question = records[0] if len(records) == 2 else None
        if question is None or question.role != "user":
            raise QwenDesktopError(
                "There is no answer to regenerate here.", "Send a message instead."
            )
        images = self._images_of(question)
        plan = self._plan(
            conversation_id, question.content, images, thinking, before_position=question.position
        )

        def remove_old_answer() -> list[ConversationEvent]:
            outcome.user_message = question
            if last is None or last is question:
                return []
            outcome.removed_count = self.store.delete_messages(
                conversation_id, from_position=last.position
            )
            return [MessagesRemoved(conversation_id, last.position, outcome.removed_count)]

        turn = self._turn(plan, question.content, images, outcome, remove_old_answer)
        async with contextlib.aclosing(turn) as events:
            async for event in events:
                yield event

    async def edit_and_resend(
        self,
        message_id: int,
        text: str,
        *,
        thinking: bool | None = None,
        outcome: TurnOutcome | None = None,
    ) -> AsyncGenerator[ConversationEvent, None]:
        """Replace the text of a user message, delete every later message, answer it again.

        Yields :class:`MessagesRemoved` (when later messages existed; ``count`` says how
        many), :class:`MessageUpdated`, then the same events as :meth:`send` from the answer row
        on. :attr:`TurnOutcome.removed_count` holds the count too.

        Raises:
            QwenDesktopError: Not a user message, an empty text, or refused like :meth:`send`.
        """
        outcome = outcome if outcome is not None else TurnOutcome()
        original = self.store.get_message(message_id)
        if original.role != "user":
            raise QwenDesktopError("Only your own messages can be edited.", "")
        images = self._images_of(original)
        if not text.strip() and not images:
            raise QwenDesktopError("The message is empty.", "Type a message or attach an image.")
        cid = original.conversation_id
        plan = self._plan(cid, text, images, thinking, before_position=original.position)

        def edit() -> list[ConversationEvent]:
            events: list[ConversationEvent] = []
            outcome.removed_count = self.store.edit_message(message_id, text)
            if outcome.removed_count:
                events.append(MessagesRemoved(cid, original.position + 1, outcome.removed_count))
            outcome.user_message = self.store.get_message(message_id)
            return [*events, MessageUpdated(outcome.user_message)]

        turn = self._turn(plan, text, images, outcome, edit)
        async with contextlib.aclosing(turn) as events:
            async for event in events:
                yield event

    async def _turn(
        self,
        plan: _Plan,
        prompt: str,
        images: Sequence[ImageInput],
        outcome: TurnOutcome,
        prepare: Callable[[], list[ConversationEvent]],
        *,
        title: str = "",
    ) -> AsyncGenerator[ConversationEvent, None]:
        """Mark the conversation busy, make the action's changes (``prepare``), name the
        conversation and remember its thinking switch, then stream the answer."""
        conversation_id = plan.conversation.id
        self._busy.add(conversation_id)
        try:
            for event in prepare():
                yield event
            changed = self._settle_conversation(plan, title)
            if changed is not None:
                yield changed
            image_bytes = tuple(i.data for i in images)
            answer = self._answer(plan, prompt, image_bytes, outcome)
            async with contextlib.aclosing(answer) as events:
                async for event in events:
                    yield event
        finally:
            self._busy.discard(conversation_id)

    def _settle_conversation(self, plan: _Plan, title: str = "") -> ConversationChanged | None:
        """Name an untitled conversation and remember the thinking switch used; the event or
        None when nothing changed."""
        conversation = plan.conversation
        new_title = title if title and not conversation.title else None
        switch = plan.thinking if plan.thinking != conversation.thinking else None
        if new_title is None and switch is None:
            return None
        plan.conversation = self.store.update_conversation(
            conversation.id, title=new_title, thinking=switch
        )
        return ConversationChanged(plan.conversation)

    def _images_of(self, message: MessageRecord) -> list[ImageInput]:
        return [
            ImageInput(self.store.image_bytes(i.sha256), i.mime, i.width, i.height)
            for i in message.images
        ]

    async def _answer(
        self,
        plan: _Plan,
        prompt: str,
        images: tuple[bytes, ...],
        outcome: TurnOutcome,
    ) -> AsyncGenerator[ConversationEvent, None]:
        """Stream one answer into a new row after the stored messages."""
        conversation = plan.conversation
        session = ChatSession(
            self.backend,
            system_prompt=conversation.system_prompt,
            sampling=conversation.sampling,
            history=list(plan.history),
            thinking_budget_tokens=conversation.thinking_budget_tokens,
        )
        request = session.build_request(prompt, thinking=plan.thinking, images=images)
        loaded = self.backend.loaded
        row = self.store.add_message(
            conversation.id,
            "assistant",
            "",
            status=MessageStatus.STREAMING,
            model=loaded.name if loaded else "",
            engine=loaded.engine if loaded else "",
            thinking_mode=request.thinking,
            sampling=request.sampling,
        )
        outcome.answer = row
        yield MessageAdded(row)
        writer = AnswerWriter(
            self.store, row, flush_interval_s=self.flush_interval_s, clock=self._clock
        )
        record = outcome.record = TurnRecord(prompt)
        timer = _FlushTimer(writer, self.flush_interval_s)
        saw_error = False
        try:
            turn = session.run_turn(prompt, thinking=plan.thinking, record=record, images=images)
            async with contextlib.aclosing(turn) as events:
                async for event in events:
                    outcome.thinking_events += isinstance(event, ThinkingDelta)
                    outcome.answer_events += isinstance(event, AnswerDelta)
                    saw_error = saw_error or isinstance(event, StreamError)
                    writer.apply(event)
                    timer.poke()
                    yield event
        except (asyncio.CancelledError, GeneratorExit):
            outcome.answer = writer.stop()
            raise
        except ChatStoreError:
            raise  # the store failed: the row stays "streaming" and is recovered on next open
        except QwenDesktopError as exc:  # refused by the engine before it produced anything
            writer.error = StreamError(exc.message, exc.action)
        except Exception:
            outcome.answer = writer.fail("Unexpected error while answering.", "See the log.")
            raise
        finally:
            timer.cancel()
        error = writer.error or record.error
        if error is None:
            outcome.answer = writer.finish()
        else:
            outcome.answer = writer.fail(error.message, error.action)
            if not saw_error:
                yield error
        yield MessageFinished(outcome.answer)


class _FlushTimer:
    """Writes pending streamed text ``interval`` seconds after it arrived, even if no further
    token comes (so a stalled engine cannot hold unsaved text for long)."""

    def __init__(self, writer: AnswerWriter, interval: float) -> None:
        self._writer = writer
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None

    def poke(self) -> None:
        if self._writer.pending and self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._fire)

    def _fire(self) -> None:
        self._handle = None
        try:
            self._writer.flush()
        except ChatStoreError as exc:  # raised again when the answer ends
            log.error("Could not save the streaming answer: %s", exc)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
