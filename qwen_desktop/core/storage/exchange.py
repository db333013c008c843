"""Export conversations to JSON and Markdown; import JSON exports (validated).

JSON document (``format = "qwen-desktop.chats"``, ``version = 1``)::

    {"format": "qwen-desktop.chats", "version": 1, "exported_at": "2025-05-01T12:00:00+00:00",
     "conversations": [{"title": …, "created_at": …, "updated_at": …, "model": …, "engine": …,
        "system_prompt": …, "sampling": {…} | null, "thinking": true,
        "thinking_budget_tokens": null,
        "messages": [{"role": "user" | "assistant" | "system", "content": …, "thinking": …,
            "status": "complete" | "stopped" | "error", "error": …, "error_action": …,
            "created_at": …, "finished_at": …, "model": …, "engine": …, "thinking_mode": …,
            "sampling": …, "stats": {"prompt_tokens": …, …},
            "images": [{"mime": "image/png", "sha256": …, "width": …, "height": …,
                        "data_base64": …}]}]}]}

Times are ISO 8601 with a UTC offset (Unix seconds are accepted on import). Import validates
everything first (pydantic, unknown fields refused, image checksums verified) and reports the
first problems with their place in the file, e.g. ``conversations[0].messages[3].role``. Imported
conversations always get new ids: importing the same file twice gives two copies.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qwen_desktop.core.storage.errors import ImportFileError
from qwen_desktop.core.storage.records import (
    ConversationRecord,
    ImageInput,
    MessageRecord,
    MessageStats,
    MessageStatus,
    NewMessage,
)
from qwen_desktop.core.types import SamplingSettings

EXPORT_FORMAT = "qwen-desktop.chats"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 1 << 30
"""Largest file :func:`parse_document` reads (1 GiB: images are embedded as base64)."""
MAX_ERRORS_SHOWN = 3

NonNegative = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Sampling(_Strict):
    temperature: float = Field(ge=0, le=5)
    top_p: float = Field(gt=0, le=1)
    top_k: NonNegative
    min_p: float = Field(ge=0, le=1)
    max_new_tokens: int = Field(ge=1)
    seed: int | None = None

    def settings(self) -> SamplingSettings:
        return SamplingSettings(**self.model_dump())


class _Stats(_Strict):
    prompt_tokens: NonNegative | None = None
    generated_tokens: NonNegative | None = None
    thinking_tokens: NonNegative | None = None
    ttft_seconds: float | None = Field(default=None, ge=0)
    tokens_per_second: float | None = Field(default=None, ge=0)
    thinking_seconds: float | None = Field(default=None, ge=0)
    total_seconds: float | None = Field(default=None, ge=0)
    finish_reason: Literal["stop", "length", "cancelled"] | None = None
    thinking_incomplete: bool = False
    context_window_full: bool = False


class _Image(_Strict):
    mime: str = Field(pattern=r"^image/[a-z0-9.+-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    data_base64: str


class _Message(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str
    thinking: str = ""
    status: Literal["complete", "streaming", "stopped", "error"] = "complete"
    error: str | None = None
    error_action: str | None = None
    created_at: dt.datetime
    finished_at: dt.datetime | None = None
    model: str = ""
    engine: str = ""
    thinking_mode: bool | None = None
    sampling: _Sampling | None = None
    stats: _Stats = _Stats()
    images: list[_Image] = []


class _Conversation(_Strict):
    title: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime
    model: str = ""
    engine: str = ""
    system_prompt: str = ""
    sampling: _Sampling | None = None
    thinking: bool = True
    thinking_budget_tokens: int | None = Field(default=None, gt=0)
    messages: list[_Message]


class _Document(_Strict):
    format: Literal["qwen-desktop.chats"]
    version: int = Field(ge=1)
    exported_at: dt.datetime | None = None
    conversations: list[_Conversation]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def _seconds(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def _sampling_dict(sampling: SamplingSettings | None) -> dict[str, Any] | None:
    return None if sampling is None else dict(sampling.__dict__)


def export_document(
    items: Sequence[tuple[ConversationRecord, Sequence[MessageRecord]]],
    image_loader: Callable[[str], bytes],
    *,
    exported_at: float,
) -> str:
    """The JSON export of ``items`` (each a conversation and all its messages, oldest first).

    Args:
        items: What to export.
        image_loader: Returns an image's bytes from its SHA-256 (embedded as base64).
        exported_at: Seconds since the epoch, written into the document.
    """
    conversations = []
    for conversation, messages in items:
        conversations.append(
            {
                "title": conversation.title,
                "created_at": _iso(conversation.created_at),
                "updated_at": _iso(conversation.updated_at),
                "model": conversation.model,
                "engine": conversation.engine,
                "system_prompt": conversation.system_prompt,
                "sampling": _sampling_dict(conversation.sampling),
                "thinking": conversation.thinking,
                "thinking_budget_tokens": conversation.thinking_budget_tokens,
                "messages": [_message_dict(m, image_loader) for m in messages],
            }
        )
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(exported_at),
        "conversations": conversations,
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


def _message_dict(message: MessageRecord, image_loader: Callable[[str], bytes]) -> dict[str, Any]:
    stats = {k: v for k, v in message.stats.__dict__.items() if v not in (None, False)}
    return {
        "role": message.role,
        "content": message.content,
        "thinking": message.thinking,
        "status": message.status.value,
        "error": message.error,
        "error_action": message.error_action,
        "created_at": _iso(message.created_at),
        "finished_at": _iso(message.finished_at),
        "model": message.model,
        "engine": message.engine,
        "thinking_mode": message.thinking_mode,
        "sampling": _sampling_dict(message.sampling),
        "stats": stats,
        "images": [
            {
                "mime": image.mime,
                "sha256": image.sha256,
                "width": image.width,
                "height": image.height,
                "data_base64": base64.b64encode(image_loader(image.sha256)).decode("ascii"),
            }
            for image in message.images
        ],
    }


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_document(
    data: bytes | str, *, source: str = "The file"
) -> list[tuple[ConversationRecord, list[NewMessage]]]:
    """Validate an export document and turn it into records ready to insert (ids are 0).

    Raises:
        ImportFileError: Too large, not UTF-8, not JSON, not our format, a newer version, a
            field missing or wrong (the first few are named), or an image that does not match
            its checksum.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(source, f"it is larger than {MAX_IMPORT_BYTES >> 20} MiB.")
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ImportFileError(source, f"it is not UTF-8 text (byte {exc.start}).") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            source, f"it is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != EXPORT_FORMAT:
        raise ImportFileError(
            source, f'it is not a qwen-desktop chat export (no "format": "{EXPORT_FORMAT}").'
        )
    version = raw.get("version")
    if isinstance(version, int) and version > EXPORT_VERSION:
        raise ImportFileError(
            source,
            f"it was exported by a newer qwen-desktop (format version {version}; this version "
            f"reads up to {EXPORT_VERSION}). Update qwen-desktop to import it.",
        )
    try:
        document = _Document.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        shown = "; ".join(
            f"{_location(tuple(e['loc']))}: {e['msg']}" for e in errors[:MAX_ERRORS_SHOWN]
        )
        more = len(errors) - MAX_ERRORS_SHOWN
        suffix = f" (and {more} more)" if more > 0 else ""
        raise ImportFileError(source, f"{shown}{suffix}.") from None
    return [
        _conversation(source, index, conversation)
        for index, conversation in enumerate(document.conversations)
    ]


def _conversation(
    source: str, index: int, item: _Conversation
) -> tuple[ConversationRecord, list[NewMessage]]:
    record = ConversationRecord(
        id=0,
        title=item.title,
        created_at=_seconds(item.created_at) or 0.0,
        updated_at=_seconds(item.updated_at) or 0.0,
        model=item.model,
        engine=item.engine,
        system_prompt=item.system_prompt,
        sampling=None if item.sampling is None else item.sampling.settings(),
        thinking=item.thinking,
        thinking_budget_tokens=item.thinking_budget_tokens,
    )
    messages = []
    for number, message in enumerate(item.messages):
        where = f"conversations[{index}].messages[{number}]"
        messages.append(
            NewMessage(
                role=message.role,
                content=message.content,
                thinking=message.thinking,
                status=MessageStatus(message.status),
                images=tuple(
                    _image(source, where, i, image) for i, image in enumerate(message.images)
                ),
                model=message.model,
                engine=message.engine,
                thinking_mode=message.thinking_mode,
                sampling=None if message.sampling is None else message.sampling.settings(),
                stats=MessageStats(**message.stats.model_dump()),
                error=message.error,
                error_action=message.error_action,
                created_at=_seconds(message.created_at),
                finished_at=_seconds(message.finished_at),
            )
        )
    return record, messages


def _image(source: str, where: str, index: int, image: _Image) -> ImageInput:
    place = f"{where}.images[{index}]"
    try:
        data = base64.b64decode(image.data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ImportFileError(source, f"{place}: data_base64 is not valid base64.") from None
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise ImportFileError(source, f"{place}: the image data does not match its sha256.")
    return ImageInput(data=data, mime=image.mime, width=image.width, height=image.height)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _stats_line(message: MessageRecord) -> str:
    s = message.stats
    parts = []
    if s.generated_tokens is not None:
        thinking = f" ({s.thinking_tokens:,} thinking)" if s.thinking_tokens else ""
        parts.append(f"{s.generated_tokens:,} tokens{thinking}")
    if s.tokens_per_second:
        parts.append(f"{s.tokens_per_second:.1f} tokens/s")
    if s.ttft_seconds is not None:
        parts.append(f"first token after {s.ttft_seconds:.2f} s")
    if s.prompt_tokens is not None:
        parts.append(f"prompt {s.prompt_tokens:,} tokens")
    return " · ".join(parts)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def close_fences(text: str) -> str:
    """``text`` with a closing fence appended when it ends inside a fenced code block.

    CommonMark (spec 0.31, "Fenced code blocks"): a fence of three or more backticks or tildes,
    indented at most three spaces, is closed by a fence of the same character at least as long,
    with nothing after it but spaces; a backtick fence's info string holds no backtick. An answer
    cut off inside a code block would otherwise put every later part of an export into it.
    """
    open_fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match is None:
            continue
        fence, rest = match.group(1), match.group(2)
        if open_fence is None:
            if not (fence[0] == "`" and "`" in rest):
                open_fence = fence
        elif fence[0] == open_fence[0] and len(fence) >= len(open_fence) and not rest.strip():
            open_fence = None
    if open_fence is None:
        return text
    return f"{text.rstrip(chr(10))}\n{open_fence}"


_DETAILS_END = re.compile(r"</(details)", re.IGNORECASE)


def _in_details(text: str) -> str:
    """Thinking made safe inside ``<details>``: its fences closed and any ``</details>`` in it
    written as ``&lt;/details`` (shown the same, but it no longer ends the block)."""
    return _DETAILS_END.sub(r"&lt;/\1", close_fences(text))


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def render_markdown(conversation: ConversationRecord, messages: Sequence[MessageRecord]) -> str:
    """One conversation as Markdown: a heading per message, thinking in ``<details>`` blocks,
    stats in italics, images named by type, size and hash (their bytes are not embedded)."""
    lines = [f"# {conversation.title or 'Untitled chat'}", ""]
    facts = [f"Created {_when(conversation.created_at)}"]
    if conversation.model:
        engine = f" ({conversation.engine})" if conversation.engine else ""
        facts.insert(0, f"Model: {conversation.model}{engine}")
    lines += [f"*{' · '.join(facts)}*", ""]
    if conversation.system_prompt:
        lines += ["**System prompt:**", "", _quote(conversation.system_prompt), ""]
    for message in messages:
        who = {"user": "You", "assistant": "Qwen", "system": "System"}[message.role]
        model = f" ({message.model})" if message.role == "assistant" and message.model else ""
        lines += ["---", "", f"### {who}{model} · {_when(message.created_at)}", ""]
        for image in message.images:
            size = f"{image.size_bytes / 1024:,.1f} KiB"
            lines += [f"*[image: {image.mime}, {size}, sha256 {image.sha256[:12]}…]*", ""]
        if message.thinking:
            took = message.stats.thinking_seconds
            label = f"Thought for {took:.1f} s" if took else "Thinking"
            lines += ["<details>", f"<summary>{label}</summary>", "", _in_details(message.thinking)]
            lines += [""]
            lines += ["</details>", ""]
        if message.content:
            lines += [close_fences(message.content), ""]
        if message.status is MessageStatus.STOPPED:
            lines += ["*Stopped before the end.*", ""]
        elif message.status is MessageStatus.ERROR:
            lines += [f"*Error: {message.error or 'the answer failed'}*", ""]
        stats = _stats_line(message)
        if stats:
            lines += [f"*{stats}*", ""]
    return "\n".join(lines).rstrip() + "\n"
