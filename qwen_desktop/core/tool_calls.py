"""The one incremental tool-call parser every engine's answer text goes through.

Qwen models call tools by writing the call into their answer, between ``<tool_call>`` and
``</tool_call>`` (after the thinking block, which :mod:`qwen_desktop.core.thinking` has already
split off). Two formats occur (shared/research/qwen-catalog.md):

- Hermes style, in the chat templates of Qwen2.5, Qwen3 and Qwen3.5::

      <tool_call>
      {"name": "get_weather", "arguments": {"city": "Paris"}}
      </tool_call>

- the XML style of Qwen3-Coder (its template and vLLM's ``qwen3_coder`` parser)::

      <tool_call>
      <function=get_weather>
      <parameter=city>
      Paris
      </parameter>
      </function>
      </tool_call>

  Parameter values are raw text; they are converted with the tool's JSON Schema (integer,
  number, boolean, object, array; anything else stays a string), as vLLM's parser does.

The parser copes with tags split across chunks of any size, several calls in one answer, text
before, between and after calls, and calls the model never closed (the stream ended, or a
server used ``</tool_call>`` as a stop sequence). A call that cannot be read (malformed JSON, no
name, arguments that are not an object, no ``<function=…>``) becomes a
:class:`~qwen_desktop.core.types.ToolCallError` that keeps the call's raw text: nothing the model
wrote is ever lost. Whitespace between the answer text and a call is not content.

:class:`ToolCallSplitter` applies the parser to a whole event stream (answer text parsed,
structured calls from servers renumbered into the same sequence, held text flushed before the
final event); engines use it when a request offers tools.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qwen_desktop.core.types import (
    AnswerDelta,
    StreamError,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    ToolCallError,
    ToolSpec,
    Usage,
)

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
FUNCTION_PREFIX = "<function="
"""How a Qwen3-Coder call body starts (``<function=NAME>``)."""

ToolCallEvent = AnswerDelta | ToolCallDelta | ToolCall | ToolCallError

_HERMES_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_CODER_FUNCTION = re.compile(r"<function=([^>\n]*)>(.*?)(?:</function>|$)", re.DOTALL)
_CODER_NAME = re.compile(r"<function=([^>\n]+)>")
_CODER_PARAMETER = re.compile(
    r"<parameter=([^>\n]+)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|$)", re.DOTALL
)


def new_call_id() -> str:
    """A fresh call id in OpenAI's shape: ``call_`` + 24 hex digits."""
    return "call_" + secrets.token_hex(12)


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


class ToolCallParser:
    """Splits streamed answer text into text and tool calls, incrementally.

    Args:
        tools: The tools offered in the request; their schemas convert Qwen3-Coder parameter
            values (without them every value stays a string). Unknown names are still parsed:
            running only offered tools is the caller's job.
        new_id: Makes the id of each parsed call (default: :func:`new_call_id`).
        first_index: The index of the first call (calls are numbered in order from it).

    Use :meth:`feed` for every answer chunk and :meth:`finish` once at the end; both return the
    events to forward: :class:`~qwen_desktop.core.types.AnswerDelta` for text outside calls,
    and per call :class:`~qwen_desktop.core.types.ToolCallDelta` while it streams, then one
    :class:`~qwen_desktop.core.types.ToolCall` or :class:`~qwen_desktop.core.types.ToolCallError`.
    """

    def __init__(
        self,
        tools: Sequence[ToolSpec] = (),
        *,
        new_id: Callable[[], str] = new_call_id,
        first_index: int = 0,
    ) -> None:
        self._schemas = {tool.name: tool.parameters for tool in tools}
        self._new_id = new_id
        self._buffer = ""  # text not yet classified (a possible partial tag)
        self._pending_ws = ""  # whitespace held until more text follows outside calls
        self._in_call = False
        self._body = ""  # the open call's text so far
        self._shown = 0  # characters of the body already sent in deltas
        self._name_sent = False
        self._after_call = False  # strip whitespace at the start of the next text
        self.next_index = first_index
        self.answer = ""
        self.calls: list[ToolCall] = []
        self.errors: list[ToolCallError] = []

    @property
    def in_call(self) -> bool:
        """True while a ``<tool_call>`` is open."""
        return self._in_call

    def feed(self, chunk: str) -> list[ToolCallEvent]:
        """Parse one chunk of answer text; returns the events it completes."""
        self._buffer += chunk
        events: list[ToolCallEvent] = []
        while self._buffer and self._step(events):
            pass
        return events

    def finish(self) -> list[ToolCallEvent]:
        """Flush what was held back at the end of the answer; returns the last events.

        A trailing partial tag is text. A call still open is read as it stands: complete JSON
        (or a complete ``<function=…>``) is a call, anything else a
        :class:`~qwen_desktop.core.types.ToolCallError` saying it was cut off.
        """
        events: list[ToolCallEvent] = []
        rest, self._buffer = self._buffer, ""
        if self._in_call:
            self._body += rest
            self._close_call(events, closed=False)
        else:
            self._emit_text(rest, events)
        self._pending_ws = ""
        return events

    # -- internals ---------------------------------------------------------------------------

    def _step(self, events: list[ToolCallEvent]) -> bool:
        """Consume as much of the buffer as is decidable; False when more input is needed."""
        buffer = self._buffer
        if not self._in_call:
            index = buffer.find(OPEN_TAG)
            if index != -1:
                self._emit_text(buffer[:index], events)
                self._pending_ws = ""  # whitespace before a call is not content
                self._buffer = buffer[index + len(OPEN_TAG) :]
                self._in_call, self._body, self._shown, self._name_sent = True, "", 0, False
                return True
            keep = _partial_tag_suffix(buffer, OPEN_TAG)
            self._emit_text(buffer[: len(buffer) - keep], events)
            self._buffer = buffer[len(buffer) - keep :]
            return False
        index = buffer.find(CLOSE_TAG)
        if index != -1:
            self._body += buffer[:index]
            self._buffer = buffer[index + len(CLOSE_TAG) :]
            self._close_call(events, closed=True)
            return True
        keep = _partial_tag_suffix(buffer, CLOSE_TAG)
        self._body += buffer[: len(buffer) - keep]
        self._buffer = buffer[len(buffer) - keep :]
        self._progress(events)
        return False

    def _progress(self, events: list[ToolCallEvent]) -> None:
        """A delta with the body's new text (and the name, once it can be read)."""
        name = ""
        if not self._name_sent:
            name = _streaming_name(self._body)
            self._name_sent = bool(name)
        text = self._body[self._shown :]
        if text or name:
            self._shown = len(self._body)
            events.append(ToolCallDelta(self.next_index, name=name, text=text))

    def _close_call(self, events: list[ToolCallEvent], *, closed: bool) -> None:
        self._progress(events)
        body, index = self._body, self.next_index
        self.next_index += 1
        self._in_call, self._body, self._after_call = False, "", True
        raw = OPEN_TAG + body + (CLOSE_TAG if closed else "")
        try:
            parsed = parse_call_body(body, self._schemas, closed=closed)
        except ToolCallSyntaxError as error:
            failure = ToolCallError(index, str(error), raw, name=error.name)
            self.errors.append(failure)
            events.append(failure)
            return
        name, arguments = parsed
        call = ToolCall(name=name, arguments=arguments, id=self._new_id(), index=index)
        self.calls.append(call)
        events.append(call)

    def _emit_text(self, text: str, events: list[ToolCallEvent]) -> None:
        """Answer text outside calls; whitespace next to a call is dropped, and text resuming
        after a call is set apart from the text before it by a blank line."""
        if not text:
            return
        text = self._pending_ws + text
        separator = ""
        if self._after_call or not self.answer:
            text = text.lstrip()
            if not text:
                self._pending_ws = ""
                return
            separator = "\n\n" if self._after_call and self.answer else ""
            self._after_call = False
        body = text.rstrip()
        self._pending_ws = text[len(body) :]
        if body:
            body = separator + body
            self.answer += body
            events.append(AnswerDelta(body))


class ToolCallSyntaxError(ValueError):
    """A call's text cannot be read; ``name`` is the tool's name when it could be read."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


def parse_call_body(
    body: str, schemas: Mapping[str, Mapping[str, Any]] | None = None, *, closed: bool = True
) -> tuple[str, dict[str, Any]]:
    """The tool name and arguments of one call's text (what sits between the tags).

    Args:
        body: The call's text: a JSON object (Hermes style) or ``<function=…>`` (Qwen3-Coder).
        schemas: JSON Schemas of the offered tools' parameters, by tool name (to convert
            Qwen3-Coder values).
        closed: False when ``</tool_call>`` never came (the messages then say it was cut off).

    Raises:
        ToolCallSyntaxError: The text is not a call in either format.
    """
    text = body.strip()
    if text.startswith(FUNCTION_PREFIX):
        return _parse_coder(text, schemas or {}, closed=closed)
    return _parse_hermes(text, closed=closed)


def _parse_hermes(text: str, *, closed: bool) -> tuple[str, dict[str, Any]]:
    name_match = _HERMES_NAME.search(text)
    name = name_match.group(1) if name_match else ""
    if not text:
        raise ToolCallSyntaxError("The model wrote an empty tool call.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        cut = "" if closed else " (it ended before </tool_call>)"
        raise ToolCallSyntaxError(
            f"The model's tool call is not valid JSON{cut}: {error.msg} at character "
            f"{error.pos + 1}.",
            name,
        ) from None
    if not isinstance(value, dict):
        raise ToolCallSyntaxError(
            f"The model's tool call is JSON {type(value).__name__}, not an object with "
            '"name" and "arguments".',
            name,
        )
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ToolCallSyntaxError('The model\'s tool call has no "name".')
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # some models encode the arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            raise ToolCallSyntaxError(
                f'The arguments of the model\'s call to "{name}" are a string that is not JSON.',
                name,
            ) from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ToolCallSyntaxError(
            f'The arguments of the model\'s call to "{name}" are not a JSON object.', name
        )
    return name.strip(), arguments


def _parse_coder(
    text: str, schemas: Mapping[str, Mapping[str, Any]], *, closed: bool
) -> tuple[str, dict[str, Any]]:
    match = _CODER_FUNCTION.match(text)
    name = match.group(1).strip() if match else ""
    if match is None or not name:
        raise ToolCallSyntaxError("The model's tool call names no function (<function=NAME>).")
    if not closed and "</function>" not in text:
        raise ToolCallSyntaxError(
            f'The model\'s call to "{name}" ended before </function> and </tool_call>.', name
        )
    properties = schemas.get(name, {}).get("properties", {})
    arguments: dict[str, Any] = {}
    for parameter in _CODER_PARAMETER.finditer(match.group(2)):
        key = parameter.group(1).strip()
        raw = parameter.group(2)
        raw = raw.removeprefix("\n").removesuffix("\n")
        schema = properties.get(key) if isinstance(properties, Mapping) else None
        arguments[key] = _convert_parameter(raw, schema)
    return name, arguments


def _convert_parameter(raw: str, schema: Any) -> Any:
    """A Qwen3-Coder parameter value converted by its JSON Schema type (vLLM's rules)."""
    if raw.strip().lower() == "null":
        return None
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, list):  # ["integer", "null"]
        kind = next((k for k in kind if k != "null"), None)
    if kind in ("integer", "number", "boolean", "object", "array"):
        value = raw.strip()
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return raw  # left as written: the tool's argument check reports the wrong type
        if kind == "integer" and isinstance(decoded, float) and decoded.is_integer():
            return int(decoded)
        return decoded
    return raw


def _streaming_name(body: str) -> str:
    """The tool's name in a call body still streaming, once it is complete (else empty)."""
    text = body.lstrip()
    if text.startswith(FUNCTION_PREFIX):
        match = _CODER_NAME.match(text)
        return match.group(1).strip() if match else ""
    match = _HERMES_NAME.search(text)
    return match.group(1) if match else ""


class ToolCallSplitter:
    """Applies :class:`ToolCallParser` to a whole event stream of one answer.

    Answer text is parsed; thinking passes through; calls a server returned already structured
    (:class:`~qwen_desktop.core.types.ToolCallDelta`, :class:`~qwen_desktop.core.types.ToolCall`,
    :class:`~qwen_desktop.core.types.ToolCallError` with the server's own numbering) are
    renumbered into the answer's one sequence of calls; before the final
    :class:`~qwen_desktop.core.types.Usage` or :class:`~qwen_desktop.core.types.StreamError` the
    parser's held text is flushed.

    Args:
        tools: The tools offered in the request (see :class:`ToolCallParser`).
        new_id: Makes the id of each call parsed from text (and of structured calls without one).
    """

    def __init__(
        self, tools: Sequence[ToolSpec] = (), *, new_id: Callable[[], str] = new_call_id
    ) -> None:
        self.parser = ToolCallParser(tools, new_id=new_id)
        self._new_id = new_id
        self._structured: dict[int, int] = {}  # the server's index -> ours
        self._finished = False

    @property
    def calls(self) -> list[ToolCall]:
        """Every complete call so far, parsed or structured, in order."""
        return self.parser.calls

    @property
    def errors(self) -> list[ToolCallError]:
        """Every call that could not be read so far."""
        return self.parser.errors

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        """The events to forward for one event of the engine's stream."""
        if isinstance(event, AnswerDelta):
            return list(self.parser.feed(event.text))
        if isinstance(event, ToolCallDelta | ToolCall | ToolCallError):
            return [self._renumber(event)]
        if isinstance(event, Usage | StreamError):
            return [*self.finish(), event]
        return [event]

    def finish(self) -> list[StreamEvent]:
        """Flush the parser (once; later calls return nothing)."""
        if self._finished:
            return []
        self._finished = True
        return list(self.parser.finish())

    def _renumber(
        self, event: ToolCallDelta | ToolCall | ToolCallError
    ) -> ToolCallDelta | ToolCall | ToolCallError:
        index = self._structured.get(event.index)
        if index is None:
            index = self._structured[event.index] = self.parser.next_index
            self.parser.next_index += 1
        if isinstance(event, ToolCallDelta):
            return ToolCallDelta(index, name=event.name, text=event.text)
        if isinstance(event, ToolCallError):
            failure = ToolCallError(index, event.message, event.text, name=event.name)
            self.parser.errors.append(failure)
            return failure
        call = ToolCall(event.name, event.arguments, id=event.id or self._new_id(), index=index)
        self.parser.calls.append(call)
        return call


class StructuredCallAssembler:
    """Assembles tool calls a server streams in OpenAI's shape (``delta.tool_calls``).

    Each piece names its call by ``index``; the first piece of a call usually carries its
    ``id`` and ``function.name``, later ones more ``function.arguments`` text (JSON, split
    anywhere). :meth:`add` turns each piece into a :class:`~qwen_desktop.core.types.ToolCallDelta`;
    :meth:`finish` decodes every call's arguments into a
    :class:`~qwen_desktop.core.types.ToolCall`, or a
    :class:`~qwen_desktop.core.types.ToolCallError` keeping the text when it is not a JSON object.
    Indexes are the server's (a :class:`ToolCallSplitter` renumbers them).
    """

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments text]
        self._finished = False

    @property
    def started(self) -> bool:
        """True once any call piece arrived."""
        return bool(self._calls)

    def add(
        self, index: int, call_id: str | None, name: str | None, arguments: str | None
    ) -> ToolCallDelta:
        """One streamed piece of call ``index``; returns its delta event."""
        entry = self._calls.setdefault(index, ["", "", ""])
        new_name = ""
        if call_id:
            entry[0] = call_id
        if name and not entry[1]:
            entry[1] = new_name = name
        elif name:  # a server that repeats or continues the name
            entry[1] = name if name.startswith(entry[1]) else entry[1] + name
        if arguments:
            entry[2] += arguments
        return ToolCallDelta(index, name=new_name, text=arguments or "")

    def finish(self) -> list[ToolCall | ToolCallError]:
        """The complete calls, in index order (once; later calls return nothing)."""
        if self._finished:
            return []
        self._finished = True
        events: list[ToolCall | ToolCallError] = []
        for index in sorted(self._calls):
            call_id, name, text = self._calls[index]
            events.append(structured_call(index, call_id, name, text))
        return events


def structured_call(
    index: int, call_id: str, name: str, arguments: str
) -> ToolCall | ToolCallError:
    """A server's call (name, arguments as JSON text) as an event; bad arguments are an error."""
    raw = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    if not name.strip():
        return ToolCallError(index, 'The model\'s tool call has no "name".', raw)
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as error:
        return ToolCallError(
            index,
            f'The arguments of the model\'s call to "{name}" are not valid JSON: {error.msg} at '
            f"character {error.pos + 1}.",
            raw,
            name=name,
        )
    if isinstance(value, str):  # arguments encoded twice
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if not isinstance(value, dict):
        return ToolCallError(
            index,
            f'The arguments of the model\'s call to "{name}" are not a JSON object.',
            raw,
            name=name,
        )
    return ToolCall(name, value, id=call_id, index=index)


def openai_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """An assistant message's calls in OpenAI's request shape (arguments as JSON text)."""
    return [
        {
            "id": call.id or f"call_{call.index}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()},
        }
        for call in calls
    ]


def template_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """An assistant message's calls for a chat template or Ollama (arguments as a dict).

    Qwen's templates read ``tool_call.function.name`` and ``.arguments`` (a mapping is printed
    with ``tojson``); Ollama's API takes the same ``{"function": {...}}`` shape.
    """
    return [
        {"type": "function", "function": {"name": call.name, "arguments": dict(call.arguments)}}
        for call in calls
    ]
