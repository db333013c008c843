"""Math typeset from its untouched source; long lines and unbreakable words in the transcript."""

from __future__ import annotations

import html
import re

import pytest
from PySide6.QtWidgets import QApplication

from qwen_desktop.chat.ui import markdown_view
from qwen_desktop.chat.ui.markdown_view import (
    PIECE_CHARS,
    MarkdownView,
    TextSegment,
    parse_blocks,
)

pytestmark = pytest.mark.gui

TITLE = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" title="([^"]*)">')


def _html(text: str) -> str:
    return "".join(s.html for _o, s in parse_blocks(text) if isinstance(s, TextSegment))


def _formulas(text: str) -> list[str]:
    return [html.unescape(source) for source in TITLE.findall(_html(text))]


def test_display_brackets_keep_the_quadratic_formula_whole() -> None:
    # Report: `\[ x=\frac{-b\pm\sqrt{b^2-4ac}}{2a} \]` showed as `[ x = \frac… ]`.
    assert _formulas(r"\[ x=\frac{-b\pm\sqrt{b^2-4ac}}{2a} \]") == [
        r"x=\frac{-b\pm\sqrt{b^2-4ac}}{2a}"
    ]


def test_inline_delimiters_and_braces_survive_markdown_escapes() -> None:
    text = r"Set \(\left\{ x \mid x>0 \right\}\) and then \[y^2\] inline, and $a*b*c$."
    assert _formulas(text) == [r"\left\{ x \mid x>0 \right\}", "y^2", "a*b*c"]
    assert "<em>" not in _html(text)  # `$a*b*c$` became `$a<em>b</em>c$`


def test_double_dollar_blocks_are_typeset_centred() -> None:
    rendered = _html("Before\n\n$$\n\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}\n$$\n\nAfter")
    assert '<p align="center"><img' in rendered
    assert _formulas("$$\n\\int_0^1 x\\,dx\n$$") == [r"\int_0^1 x\,dx"]


def test_prices_are_not_formulas() -> None:
    assert _html("It costs $5 and $10 today.") == "<p>It costs $5 and $10 today.</p>\n"


def test_tex_that_cannot_be_typeset_is_shown_as_its_source() -> None:
    rendered = _html(r"$\begin{pmatrix} a & b \end{pmatrix}$")
    assert "<img" not in rendered
    assert html.escape(r"\begin{pmatrix} a & b \end{pmatrix}") in rendered


def test_an_unbreakable_url_wraps_inside_the_column(qapp: QApplication) -> None:
    # Report: a 1,200-character URL widened the transcript to 9,071 px in a 734 px view.
    url = "https://example.com/" + "a1b2c3" * 200
    view = MarkdownView()
    view.set_markdown(f"See <{url}> for details.", now=True)
    label = view.widgets()[0]
    assert label.minimumSizeHint().width() < 300
    assert label.heightForWidth(700) > label.heightForWidth(7000)  # it wraps at 700 px
    shown = label.text().split('">', 1)[1].split("</a>")[0]
    assert "\u200b" in shown and shown.replace("\u200b", "") == url  # breaks where it is shown…
    assert f'href="{url}"' in label.text()  # …never in the link itself
    assert url in view.markdown  # nor in the source (Copy gives the source)


def test_a_long_one_line_paragraph_is_shown_in_pieces_that_join_to_the_text() -> None:
    text = " ".join(f"word{i}" for i in range(20_000))  # ~130 KB on one line
    blocks = parse_blocks(text)
    assert len(blocks) > len(text) // (2 * PIECE_CHARS)
    starts = [offset for offset, _segment in blocks]
    pieces = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    assert "".join(pieces) == text and starts[0] == 0
    assert all(len(piece) <= 2 * PIECE_CHARS for piece in pieces)
    assert all(text[start].isalpha() for start in starts)


def test_chinese_without_spaces_is_cut_too() -> None:
    text = "这是一个很长的句子没有空格" * 1_000
    assert len(parse_blocks(text)) > 3


def test_streaming_a_single_line_parses_a_bounded_tail(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Report: a 216 KB answer on one line stalled the window (each render parsed it all).
    parsed: list[int] = []
    real = markdown_view.parse_blocks

    def recording(text: str, *, dark: bool = False) -> list[tuple[int, markdown_view.Segment]]:
        parsed.append(len(text))
        return real(text, dark=dark)

    monkeypatch.setattr(markdown_view, "parse_blocks", recording)
    view = MarkdownView()
    text = ""
    for i in range(3_000):
        text += f"token{i} "
        if i % 50 == 0:
            view.set_markdown(text, now=False)
            view.flush(final=False)
    view.set_markdown(text)
    view.flush(final=True)
    assert len(text) > 20_000
    assert max(parsed[10:]) < 3 * PIECE_CHARS + 1_000
    shown = [re.sub(r"<[^>]+>|\u200b|\n", "", w.text()) for w in view.widgets()]
    assert len(shown) > 3 and " ".join(shown) == text.strip()
