"""Answers rendered from Markdown (offscreen): highlighted code blocks with Copy, remote images
never loaded, links to the system browser, throttled and incremental re-rendering."""

from __future__ import annotations

import pytest
from pygments.styles import get_style_by_name
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QPalette, QTextDocument
from PySide6.QtWidgets import QApplication, QLabel

from qwen_desktop.chat.ui import markdown_view
from qwen_desktop.chat.ui.chat_view import AssistantMessage
from qwen_desktop.chat.ui.markdown_view import (
    DARK_STYLE,
    LIGHT_STYLE,
    CodeBlock,
    CodeSegment,
    MarkdownView,
    TextSegment,
    open_link,
    split_markdown,
)
from qwen_desktop.core.types import Usage
from qwen_desktop.uikit.style import apply_color_scheme

pytestmark = pytest.mark.gui

ANSWER = """Use **slicing**:

```python
def reverse(text):
    return text[::-1]
```

Then call it. See [the docs](https://docs.python.org/3/).
"""


def test_top_level_code_blocks_are_their_own_segments() -> None:
    segments = split_markdown(ANSWER)
    assert [type(s) for s in segments] == [TextSegment, CodeSegment, TextSegment]
    code = segments[1]
    assert code == CodeSegment("python", "def reverse(text):\n    return text[::-1]")
    assert "<strong>slicing</strong>" in segments[0].html  # type: ignore[union-attr]
    indented = split_markdown("Text\n\n    x = 1\n")
    assert indented[-1] == CodeSegment("", "x = 1")


def test_an_unclosed_fence_shows_as_code_while_it_streams() -> None:
    segments = split_markdown("Here:\n\n```js\nconst a = 1;\nconst b")
    assert segments[-1] == CodeSegment("js", "const a = 1;\nconst b")


def test_code_is_highlighted_and_copy_puts_the_bare_code_on_the_clipboard(
    qapp: QApplication,
) -> None:
    view = MarkdownView()
    view.set_markdown(ANSWER, now=True)
    [block] = view.code_blocks()
    assert block.language.text() == "python"
    html = block.code.text()
    assert "<span style=" in html and "color" in html  # Pygments' inline styles
    assert ">def</span>" in html  # the keyword got its own style
    block.copy_button.click()
    assert QApplication.clipboard().text() == "def reverse(text):\n    return text[::-1]"
    assert block.copy_button.text() == "Copied"


def test_unknown_languages_fall_back_to_plain_text(qapp: QApplication) -> None:
    view = MarkdownView()
    view.set_markdown("```no-such-language\n<b>x</b> & y\n```", now=True)
    [block] = view.code_blocks()
    assert block.language.text() == "no-such-language"
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in block.code.text()  # escaped, shown as typed


@pytest.mark.parametrize(
    "markdown",
    [
        "![tracking pixel](https://tracker.example/pixel.png?user=1)",
        '<img src="https://tracker.example/pixel.png">',
        "<p>raw <img src=x onerror=alert(1)></p>",
        "- a list with ![nested](http://tracker.example/a.png)",
        "![local](file:///etc/secret.png)",
    ],
)
def test_images_in_answers_are_never_loaded(qapp: QApplication, markdown: str) -> None:
    view = MarkdownView()
    view.set_markdown(markdown, now=True)
    labels = [w for w in view.widgets() if isinstance(w, QLabel)]
    assert labels
    for label in labels:
        assert "<img" not in label.text().lower()
        document = QTextDocument()
        document.setHtml(label.text())
        assert "<img" not in document.toHtml().lower()


def test_a_markdown_image_becomes_a_link_the_user_may_open(qapp: QApplication) -> None:
    [segment] = split_markdown("![chart](https://example.com/chart.png)")
    assert isinstance(segment, TextSegment)
    assert 'href="https://example.com/chart.png"' in segment.html
    assert "[image: chart]" in segment.html


def test_links_go_to_the_system_browser_for_web_schemes_only(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(
        markdown_view.QDesktopServices,
        "openUrl",
        lambda url: opened.append(QUrl(url).toString()) or True,
    )
    assert open_link("https://qwenlm.github.io/")
    assert open_link("mailto:someone@example.com")
    assert not open_link("file:///etc/passwd")
    assert not open_link("javascript:alert(1)")
    assert opened == ["https://qwenlm.github.io/", "mailto:someone@example.com"]
    assert QDesktopServices is markdown_view.QDesktopServices

    view = MarkdownView()
    clicked: list[str] = []
    view.link_opener = clicked.append
    view.set_markdown(ANSWER, now=True)
    last = view.widgets()[-1]
    assert isinstance(last, QLabel) and not last.openExternalLinks()
    last.linkActivated.emit("https://docs.python.org/3/")
    assert clicked == ["https://docs.python.org/3/"]


def test_only_changed_segments_are_rebuilt(qapp: QApplication) -> None:
    view = MarkdownView()
    view.set_markdown("First paragraph.\n\n```python\nx = 1\n```\n\nTail", now=True)
    first, block, tail = view.widgets()
    view.set_markdown("First paragraph.\n\n```python\nx = 1\n```\n\nTail grows", now=True)
    assert view.widgets()[0] is first and view.widgets()[1] is block
    assert view.widgets()[2] is tail and "Tail grows" in tail.text()  # type: ignore[attr-defined]
    view.set_markdown("First paragraph.\n\n```python\nx = 1\ny = 2\n```", now=True)
    assert len(view.widgets()) == 2 and view.widgets()[1] is block
    assert isinstance(block, CodeBlock) and block.segment.code == "x = 1\ny = 2"


def test_streaming_renders_are_throttled_and_the_end_shows_everything(
    qapp: QApplication, qtbot: object
) -> None:
    message = AssistantMessage()
    words = [f"word{i} " for i in range(400)] + ["\n\n```python\nprint('done')\n```"]
    for word in words:
        message.add_answer(word)
    assert message.answer.renders == 0  # nothing rendered per token
    qtbot.waitUntil(lambda: message.answer.renders == 1, timeout=2000)  # type: ignore[attr-defined]
    message.add_answer("\n\nThe end.")
    message.finish(Usage(10, 402, 0.1, 50.0, 8.0))  # flushes at once
    assert message.answer.renders == 2
    assert message.answer.markdown == message.answer_text
    assert message.answer.code_blocks()[0].segment.code == "print('done')"
    assert "The end." in message.answer.widgets()[-1].text()  # type: ignore[attr-defined]


def test_code_follows_a_switch_to_a_dark_palette(qapp: QApplication) -> None:
    view = MarkdownView()
    view.set_markdown(ANSWER, now=True)
    [block] = view.code_blocks()
    light = block.code.styleSheet()
    dark = QPalette()
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base):
        dark.setColor(role, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    view.setPalette(dark)  # what the system's colour scheme switching does to the app palette
    assert block.code.styleSheet() != light
    assert get_style_by_name(DARK_STYLE).background_color in block.code.styleSheet()


def test_the_app_follows_the_system_colour_scheme(qapp: QApplication, qtbot: object) -> None:
    original = qapp.palette()
    view = MarkdownView()
    view.set_markdown(ANSWER, now=True)
    [block] = view.code_blocks()
    try:
        apply_color_scheme(qapp, Qt.ColorScheme.Dark)
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 128
        dark = get_style_by_name(DARK_STYLE).background_color
        qtbot.waitUntil(lambda: dark in block.code.styleSheet(), timeout=2000)  # type: ignore[attr-defined]
        apply_color_scheme(qapp, Qt.ColorScheme.Light)
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() >= 128
        light = get_style_by_name(LIGHT_STYLE).background_color
        qtbot.waitUntil(lambda: light in block.code.styleSheet(), timeout=2000)  # type: ignore[attr-defined]
    finally:
        qapp.setPalette(original)


def test_streaming_parses_only_the_tail_and_the_end_parses_everything(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    real = markdown_view.parse_blocks

    def recording(text: str, *, dark: bool = False) -> list[tuple[int, markdown_view.Segment]]:
        parsed.append(len(text))
        return real(text, dark=dark)

    monkeypatch.setattr(markdown_view, "parse_blocks", recording)
    view = MarkdownView()
    text = "".join(f"Paragraph {i} with **bold** words.\n\n" for i in range(200))
    view.set_markdown(text, now=True)
    first = view.widgets()[0]
    assert parsed == [len(text)]
    for word in (
        "A",
        " list:",
        "\n\n- one",
        "\n- two",
        "\n\n  more of two",
        "\n\n[x]: https://x.y",
    ):
        text += word
        view.set_markdown(text)
        view.flush(final=False)  # what the render timer does
    assert max(parsed[1:]) < 100  # each streamed render parsed only the last blocks
    assert view.widgets()[0] is first  # earlier blocks were not rebuilt
    view.flush()  # the answer ended: one full parse
    assert parsed[-1] == len(text)
    assert view.segments == markdown_view.split_markdown(text)
    assert "<p>more of two</p>" in view.segments[-1].html  # type: ignore[union-attr]
