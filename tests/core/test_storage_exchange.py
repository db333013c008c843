"""Export to Markdown and JSON; import JSON (validated, new ids, all or nothing)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from qwen_desktop.core.storage import (
    ChatStore,
    ImageInput,
    ImportFileError,
    MessageStats,
    MessageStatus,
)
from qwen_desktop.core.types import SamplingSettings

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    with ChatStore.open(tmp_path / "data", now=lambda: 1_700_000_000.0) as opened:
        yield opened  # type: ignore[misc]


def fill(store: ChatStore) -> int:
    cid = store.create_conversation(
        title="Ünïcode 量子",
        model="qwen3:8b",
        engine="ollama",
        system_prompt="Be brief.",
        sampling=SamplingSettings.for_mode(True, seed=3),
        thinking_budget_tokens=512,
    ).id
    store.add_message(
        cid, "user", "What is in this picture?", images=[ImageInput(PNG, "image/png", 4, 3)]
    )
    store.add_message(
        cid,
        "assistant",
        "A **cat**.\n\n```python\nprint('hi')\n```",
        thinking="Looks furry.",
        model="qwen3:8b",
        stats=MessageStats(
            prompt_tokens=40,
            generated_tokens=12,
            thinking_tokens=4,
            ttft_seconds=0.25,
            tokens_per_second=31.5,
            thinking_seconds=1.5,
            finish_reason="stop",
        ),
    )
    store.add_message(cid, "user", "And now?")
    store.add_message(
        cid,
        "assistant",
        "Half",
        status=MessageStatus.ERROR,
        error="Engine died.",
        error_action="Retry.",
    )
    return cid


def test_json_round_trip_gives_a_new_identical_conversation(store: ChatStore) -> None:
    cid = fill(store)
    document = store.export_json([cid])
    (imported,) = store.import_json(document.encode("utf-8"))
    original = store.get_conversation(cid)
    assert imported.id != cid
    assert imported.message_count == original.message_count == 4
    for field in ("title", "model", "engine", "system_prompt", "sampling", "thinking"):
        assert getattr(imported, field) == getattr(original, field), field
    assert imported.thinking_budget_tokens == 512
    assert abs(imported.created_at - original.created_at) < 1e-3

    def comparable(conversation_id: int) -> list[tuple[object, ...]]:
        return [
            (
                m.role,
                m.content,
                m.thinking,
                m.status,
                m.error,
                m.error_action,
                m.stats,
                m.model,
                [(i.sha256, i.mime, i.width, i.height) for i in m.images],
            )
            for m in store.load_messages(conversation_id)
        ]

    assert comparable(imported.id) == comparable(cid)
    new_ids = {m.id for m in store.load_messages(imported.id)}
    assert new_ids.isdisjoint(m.id for m in store.load_messages(cid))
    assert store.db.execute("SELECT count(*) FROM images").fetchone()[0] == 1  # deduplicated


def test_json_is_readable_utf8_with_the_format_marker(store: ChatStore) -> None:
    cid = fill(store)
    document = json.loads(store.export_json([cid]))
    assert (document["format"], document["version"]) == ("qwen-desktop.chats", 1)
    assert document["exported_at"] == "2023-11-14T22:13:20+00:00"
    message = document["conversations"][0]["messages"][1]
    assert message["thinking"] == "Looks furry." and message["stats"]["thinking_tokens"] == 4
    image = document["conversations"][0]["messages"][0]["images"][0]
    assert base64.b64decode(image["data_base64"]) == PNG
    assert "量子" in store.export_json([cid])  # not escaped


def test_markdown_export(store: ChatStore) -> None:
    text = store.export_markdown(fill(store))
    assert text.startswith("# Ünïcode 量子\n")
    assert "*Model: qwen3:8b (ollama) · Created 2023-11-14 22:13 UTC*" in text
    assert "> Be brief." in text
    assert "<details>\n<summary>Thought for 1.5 s</summary>\n\nLooks furry.\n\n</details>" in text
    assert "```python\nprint('hi')\n```" in text
    assert "*12 tokens (4 thinking) · 31.5 tokens/s · first token after 0.25 s" in text
    assert "*Error: Engine died.*" in text
    assert "*[image: image/png" in text


def valid_document() -> dict[str, object]:
    return {
        "format": "qwen-desktop.chats",
        "version": 1,
        "conversations": [
            {
                "title": "t",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": 1_704_067_200,
                "messages": [
                    {"role": "user", "content": "hi", "created_at": "2024-01-01T00:00:00"}
                ],
            }
        ],
    }


def test_a_minimal_hand_written_file_imports(store: ChatStore) -> None:
    (conversation,) = store.import_json(json.dumps(valid_document()))
    assert conversation.created_at == conversation.updated_at == 1_704_067_200.0
    assert [m.content for m in store.load_messages(conversation.id)] == ["hi"]


def broken(change: str) -> bytes:
    document = valid_document()
    conversation = document["conversations"][0]  # type: ignore[index]
    message = conversation["messages"][0]
    if change == "role":
        message["role"] = "robot"
    elif change == "missing":
        del message["content"]
    elif change == "extra":
        message["colour"] = "blue"
    elif change == "image":
        message["images"] = [
            {"mime": "image/png", "sha256": "0" * 64, "data_base64": base64.b64encode(PNG).decode()}
        ]
    elif change == "base64":
        message["images"] = [{"mime": "image/png", "sha256": "0" * 64, "data_base64": "@@@"}]
    elif change == "newer":
        document["version"] = 99
    elif change == "format":
        document["format"] = "something-else"
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"format": "qwen-desktop.chats", ', "not valid JSON (Expecting property name"),
        (b"[1, 2, 3]", "not a qwen-desktop chat export"),
        (broken("format"), "not a qwen-desktop chat export"),
        (broken("newer"), "newer qwen-desktop (format version 99"),
        (broken("role"), "conversations[0].messages[0].role: Input should be"),
        (broken("missing"), "conversations[0].messages[0].content: Field required"),
        (broken("extra"), "conversations[0].messages[0].colour: Extra inputs"),
        (broken("image"), "messages[0].images[0]: the image data does not match its sha256"),
        (broken("base64"), "messages[0].images[0]: data_base64 is not valid base64"),
    ],
)
def test_bad_files_get_a_clear_error_and_import_nothing(
    store: ChatStore, data: bytes, expected: str
) -> None:
    with pytest.raises(ImportFileError) as caught:
        store.import_json(data, source="chats.json")
    assert expected in caught.value.message
    assert caught.value.message.startswith("chats.json cannot be imported: ")
    assert "Export" in caught.value.action
    assert store.list_conversations() == []


def test_import_is_all_or_nothing_across_conversations(store: ChatStore) -> None:
    document = valid_document()
    good = document["conversations"][0]  # type: ignore[index]
    bad = json.loads(json.dumps(good))
    bad["messages"][0]["images"] = [
        {"mime": "image/png", "sha256": "1" * 64, "data_base64": base64.b64encode(PNG).decode()}
    ]
    document["conversations"] = [good, bad]
    with pytest.raises(ImportFileError):
        store.import_json(json.dumps(document))
    assert store.list_conversations() == []


def _message_headings(markdown: str) -> list[str]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    return [
        tokens[i + 1].content
        for i, token in enumerate(tokens)
        if token.type == "heading_open" and token.tag == "h3"
    ]


def test_markdown_export_closes_an_open_fence_at_the_end_of_each_message(
    store: ChatStore,
) -> None:
    # Report: an answer ending in an open fence put every later turn inside one code block.
    cid = store.create_conversation(title="Cut off").id
    store.add_message(cid, "user", "Write code")
    store.add_message(cid, "assistant", "Here:\n\n````python\nprint('```')\nx = 1")
    store.add_message(cid, "user", "Thanks")
    store.add_message(cid, "assistant", "~~~\nunclosed tilde")
    text = store.export_markdown(cid)
    headings = _message_headings(text)
    assert len(headings) == 4 and headings[2].startswith("You")
    assert "x = 1\n````\n" in text  # closed with the opening fence's length


def test_markdown_export_keeps_thinking_inside_its_block(store: ChatStore) -> None:
    # Report: thinking containing `</details>` closed its block early.
    cid = store.create_conversation(title="T").id
    store.add_message(cid, "user", "Q")
    store.add_message(cid, "assistant", "Answer.", thinking="I write </DETAILS> and\n```\ncode")
    store.add_message(cid, "user", "Next")
    text = store.export_markdown(cid)
    assert text.count("</details>") == 1 and "&lt;/DETAILS>" in text
    assert len(_message_headings(text)) == 3


def test_close_fences_leaves_closed_and_inline_backticks_alone() -> None:
    from qwen_desktop.core.storage.exchange import close_fences

    closed = "```py\nx\n```\nand ``` inline"
    assert close_fences(closed) == closed
    assert close_fences("``` `bad info` not a fence\ntext") == "``` `bad info` not a fence\ntext"
    assert close_fences("```\n  ```` \n") == "```\n  ```` \n"
