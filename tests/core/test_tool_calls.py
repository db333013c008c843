"""The incremental tool-call parser: Qwen's two formats, any chunking, malformed calls."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_desktop.core.thinking import ThinkingParser
from qwen_desktop.core.tool_calls import ToolCallParser, ToolCallSplitter, parse_call_body
from qwen_desktop.core.types import (
    AnswerDelta,
    StreamError,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallError,
    ToolSpec,
    Usage,
)

WEATHER = ToolSpec(
    "get_weather",
    "Current weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "metric": {"type": "boolean"},
            "hours": {"type": "array", "items": {"type": "integer"}},
            "ratio": {"type": ["number", "null"]},
        },
        "required": ["city"],
    },
)


def counter() -> Any:
    numbers = itertools.count()
    return lambda: f"call_{next(numbers)}"


def run(chunks: list[str], tools: tuple[ToolSpec, ...] = (WEATHER,)) -> list[Any]:
    parser = ToolCallParser(tools, new_id=counter())
    events: list[Any] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.finish()
    return events


def answer(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, AnswerDelta))


def calls(events: list[Any]) -> list[ToolCall]:
    return [e for e in events if isinstance(e, ToolCall)]


def errors(events: list[Any]) -> list[ToolCallError]:
    return [e for e in events if isinstance(e, ToolCallError)]


HERMES = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>'
)
CODER = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n"
    "<parameter=days>\n3\n</parameter>\n<parameter=metric>\nFalse\n</parameter>\n"
    "<parameter=hours>\n[9, 12]\n</parameter>\n</function>\n</tool_call>"
)


def test_hermes_call_between_text_split_inside_both_tags() -> None:
    text = f"Let me look that up.\n\n{HERMES}\n\nDone."
    chunks = [text[i : i + 3] for i in range(0, len(text), 3)]
    events = run(chunks)
    assert [(c.name, dict(c.arguments), c.id, c.index) for c in calls(events)] == [
        ("get_weather", {"city": "Paris", "days": 3}, "call_0", 0)
    ]
    assert answer(events) == "Let me look that up.\n\nDone."
    assert not errors(events)
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [d.name for d in deltas if d.name] == ["get_weather"]
    assert "".join(d.text for d in deltas) == HERMES.removeprefix("<tool_call>").removesuffix(
        "</tool_call>"
    )


def test_only_a_call_leaves_no_answer_text() -> None:
    events = run([HERMES])
    assert answer(events) == ""
    assert len(calls(events)) == 1


def test_qwen3_coder_xml_values_converted_by_the_tools_schema() -> None:
    events = run([CODER])
    (call,) = calls(events)
    assert call.name == "get_weather"
    assert dict(call.arguments) == {
        "city": "New York",
        "days": 3,
        "metric": False,
        "hours": [9, 12],
    }


def test_qwen3_coder_without_schema_keeps_strings_and_multiline_values() -> None:
    body = (
        "<function=write_file>\n<parameter=path>\na.py\n</parameter>\n"
        "<parameter=content>\ndef f():\n    return 1\n\n</parameter>\n</function>"
    )
    name, arguments = parse_call_body(body)
    assert name == "write_file"
    assert arguments == {"path": "a.py", "content": "def f():\n    return 1\n"}


def test_several_calls_in_one_answer_keep_their_order() -> None:
    second = HERMES.replace("Paris", "Oslo")
    events = run([f"{HERMES}\n{second}\n{CODER}"])
    assert [(c.index, c.arguments["city"]) for c in calls(events)] == [
        (0, "Paris"),
        (1, "Oslo"),
        (2, "New York"),
    ]
    assert answer(events) == ""


def test_call_after_a_thinking_block() -> None:
    thinking = ThinkingParser()
    tools = ToolCallParser((WEATHER,), new_id=counter())
    output = (
        f"<think>\nThe user wants the weather. I should call get_weather.\n</think>\n\n{HERMES}"
    )
    found: list[Any] = []
    for i in range(0, len(output), 5):
        for event in thinking.feed(output[i : i + 5]):
            found += tools.feed(event.text) if isinstance(event, AnswerDelta) else [event]
    for event in thinking.finish():
        found += tools.feed(event.text) if isinstance(event, AnswerDelta) else [event]
    found += tools.finish()
    assert "".join(e.text for e in found if isinstance(e, ThinkingDelta)).startswith("The user")
    assert [c.name for c in calls(found)] == ["get_weather"]
    assert answer(found) == ""


def test_malformed_json_becomes_an_error_that_keeps_the_raw_text() -> None:
    bad = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"\n</tool_call>'
    events = run(["Checking.\n", bad, "\nSorry."])
    (failure,) = errors(events)
    assert failure.text == bad
    assert failure.name == "get_weather"
    assert "not valid JSON" in failure.message
    assert not calls(events)
    assert answer(events) == "Checking.\n\nSorry."


def test_call_without_a_name_and_arguments_that_are_not_an_object() -> None:
    no_name = run(['<tool_call>{"arguments": {}}</tool_call>'])
    assert 'no "name"' in errors(no_name)[0].message
    list_args = run(['<tool_call>{"name": "f", "arguments": [1, 2]}</tool_call>'])
    assert "not a JSON object" in errors(list_args)[0].message
    not_object = run(["<tool_call>[1, 2]</tool_call>"])
    assert "not an object" in errors(not_object)[0].message
    coder = run(["<tool_call><function=>\n</function></tool_call>"])
    assert "names no function" in errors(coder)[0].message


def test_arguments_given_as_a_json_string_are_decoded() -> None:
    events = run(['<tool_call>{"name": "f", "arguments": "{\\"x\\": 1}"}</tool_call>'])
    assert dict(calls(events)[0].arguments) == {"x": 1}


def test_unclosed_call_is_a_call_when_complete_and_an_error_when_cut_off() -> None:
    complete = run(['<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n'])
    assert dict(calls(complete)[0].arguments) == {"x": 1}
    cut = run(['<tool_call>\n{"name": "f", "argu'])
    (failure,) = errors(cut)
    assert "ended before </tool_call>" in failure.message
    assert failure.text == '<tool_call>\n{"name": "f", "argu'


def test_a_partial_tag_at_the_end_is_text() -> None:
    events = run(["See <tool_", "ca"])
    assert answer(events) == "See <tool_ca"
    assert not calls(events)


def test_text_that_looks_like_a_tag_but_is_not_stays_text() -> None:
    events = run(["a <tool> b </tool_call> c <tool_calls"])
    assert answer(events) == "a <tool> b </tool_call> c <tool_calls"


def test_splitter_renumbers_structured_calls_and_flushes_before_usage() -> None:
    splitter = ToolCallSplitter((WEATHER,), new_id=counter())
    usage = Usage(1, 1, 0.0, 0.0, 0.0)
    out: list[Any] = []
    for event in [
        ThinkingDelta("hmm"),
        AnswerDelta(HERMES[:20]),
        AnswerDelta(HERMES[20:]),
        ToolCallDelta(0, name="lookup", text='{"q": '),
        ToolCall("lookup", {"q": "x"}, id="srv_1", index=0),
        AnswerDelta("<tool_call>{"),
        usage,
    ]:
        out += splitter.feed(event)
    assert out[0] == ThinkingDelta("hmm")
    assert [(c.index, c.name, c.id) for c in calls(out)] == [
        (0, "get_weather", "call_0"),
        (1, "lookup", "srv_1"),
    ]
    assert [e.index for e in out if isinstance(e, ToolCallDelta) and e.name == "lookup"] == [1]
    assert isinstance(out[-2], ToolCallError) and out[-2].index == 2
    assert out[-1] is usage
    assert [c.name for c in splitter.calls] == ["get_weather", "lookup"]
    assert splitter.feed(StreamError("x")) == [StreamError("x")]  # flushed only once


# -- arbitrary chunking -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
text_pieces = st.text(alphabet='ab <>/_toolcaн\n {}"', max_size=30)


@st.composite
def hermes_calls(draw: Any) -> tuple[str, str, dict[str, Any]]:
    name = draw(names)
    arguments = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=4))
    spacing = draw(st.sampled_from(["", "\n", " \n"]))
    payload = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=draw(st.booleans()))
    return f"<tool_call>{spacing}{payload}{spacing}</tool_call>", name, arguments


@st.composite
def coder_calls(draw: Any) -> tuple[str, str, dict[str, Any]]:
    name = draw(names)
    keys = draw(st.lists(names, max_size=3, unique=True))
    values = {k: draw(st.text(alphabet="xyz 12\n<>", max_size=10).filter(_plain)) for k in keys}
    parameters = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in values.items())
    return f"<tool_call>\n<function={name}>\n{parameters}</function>\n</tool_call>", name, values


def _plain(value: str) -> bool:
    return "</" not in value and "<parameter=" not in value and value.strip().lower() != "null"


@st.composite
def broken_calls(draw: Any) -> tuple[str, str, None]:
    payload = json.dumps({"name": draw(names), "arguments": {"a": draw(json_values)}})
    cut = draw(st.integers(1, len(payload) - 1))
    return f"<tool_call>{payload[:cut]}</tool_call>", "", None


@st.composite
def answers(draw: Any) -> tuple[str, list[Any]]:
    pieces: list[str] = []
    expected: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        pieces.append(draw(text_pieces))
        call, name, arguments = draw(hermes_calls() | coder_calls() | broken_calls())
        pieces.append(call)
        expected.append(None if arguments is None else (name, arguments))
    pieces.append(draw(text_pieces))
    return "".join(pieces), expected


def normalised(events: list[Any]) -> tuple[str, list[Any], list[Any]]:
    return (
        answer(events),
        [(c.index, c.name, dict(c.arguments)) for c in calls(events)],
        [(e.index, e.message, e.text) for e in errors(events)],
    )


@settings(max_examples=120, deadline=None)
@given(answers(), st.lists(st.integers(0, 400), max_size=12))
def test_any_chunk_split_gives_the_same_events(
    drawn: tuple[str, list[Any]], cuts: list[int]
) -> None:
    text, expected = drawn
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    whole = run([text], tools=())
    split = run(chunks, tools=())
    assert normalised(split) == normalised(whole)
    if text.count("<tool_call>") == len(expected):  # no tag was completed across two pieces
        found = sorted(
            [(c.index, (c.name, dict(c.arguments))) for c in calls(whole)]
            + [(e.index, None) for e in errors(whole)],
            key=lambda item: item[0],
        )
        assert [item for _, item in found] == expected
        for failure in errors(whole):
            assert failure.text in text  # the raw call is kept, byte for byte
