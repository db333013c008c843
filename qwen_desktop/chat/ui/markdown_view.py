"""Answers rendered from Markdown: highlighted code blocks with a Copy button, safe links, no
remote images, and cheap re-rendering while an answer streams.

Rendering (:func:`parse_blocks`): markdown-it-py parses the answer (CommonMark, tables,
strikethrough; raw HTML is shown as text, never interpreted). Each top-level block becomes one
segment: code blocks a :class:`CodeBlock` widget (Pygments highlighting, a Copy button), the
others a rich-text label.

Safety: images in Markdown are never loaded. ``![alt](https://…)`` is rendered as a link
labelled "image: alt" that the user may open in the browser; no ``<img>`` reaches Qt's text
engine, and raw HTML is escaped, so nothing in an answer can make the app fetch a URL (a
tracking pixel, a local file). Links open in the system browser (``QDesktopServices``), for
``http``, ``https`` and ``mailto`` only.

Streaming (:class:`MarkdownView`): new text is rendered at most every
:data:`RENDER_INTERVAL_MS`; each render parses again only the last :data:`REPARSED_BLOCKS` blocks
of the one answer that streams, and rebuilds only the segments that differ from the ones shown;
segments are grouped in containers of :data:`CHUNK_SEGMENTS`, so a growing block lays out only
its own container (Qt leaves a container whose geometry did not change alone). The cost per
token thus depends neither on the length of the answer nor on the conversation's. When the
answer ends only its last blocks are parsed again, unless it defines a reference-style link
(which can change any block): then it is parsed once in full.

Long lines: a paragraph longer than :data:`PIECE_CHARS` (a 200 KB answer on one line) is shown as
pieces cut at word boundaries, each its own segment, so a streamed render parses and lays out
only the last pieces, not the whole paragraph again; words longer than :data:`WRAP_RUN` characters
(a 1,200-character URL) get zero-width break opportunities in the rendered text (never in the
source, which Copy gives), so they wrap inside the column instead of widening it.

Math: ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]`` are typeset (see
:mod:`qwen_desktop.chat.math_markup`); their source is never touched by Markdown emphasis or
escapes.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.util import ClassNotFound
from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.chat.math_markup import formula_html, use_math, warm_math

RENDER_INTERVAL_MS = 50
"""Streamed text is rendered at most this often (20 renders/s: smooth to the eye, cheap)."""
REPARSED_BLOCKS = 2
"""While streaming, the last blocks parsed again on each render (two: appended text can turn
the block before the last one into part of it, e.g. an indented paragraph continuing a list)."""
CHUNK_SEGMENTS = 8
"""Segments per container in :class:`MarkdownView`: a growing block lays out only its own
container's segments and places the containers, never every block of a long answer; a segment
never moves between containers once shown (moving a widget makes Qt lay out its new parents
synchronously, measured at 10–30 ms per move in a long answer)."""
LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.MULTILINE)
"""A CommonMark link reference definition (``[label]: url``): it can change any earlier
block, so an answer that has one is parsed in full when it ends."""
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
"""Link schemes opened in the system browser; other links are ignored."""
LIGHT_STYLE, DARK_STYLE = "default", "monokai"
"""Pygments styles for code on a light and on a dark palette."""
PIECE_CHARS = 2_000
"""Paragraphs longer than this (characters) are shown as pieces of about this size, cut at word
boundaries: the cost of a streamed render then stays that of two pieces, whatever the length of
the paragraph (a 216 KB one-line answer stalled the window with one label per paragraph)."""
WRAP_RUN = 32
"""Runs of characters without a break opportunity longer than this get a zero-width space every
:data:`WRAP_RUN` characters in the rendered text, so Qt can wrap them."""
_ZWSP = "\u200b"
_TAG_OR_TEXT = re.compile(r"(<[^>]*>)")
_LONG_RUN = re.compile(r"(?:&[#\w]+;|[^\s&<>])" + f"{{{WRAP_RUN + 1},}}")
_ENTITY_OR_CHAR = re.compile(r"&[#\w]+;|.", re.DOTALL)


_TABLE_TAG = '<table border="1" cellspacing="0" cellpadding="4" style="border-color: gray">'
"""Qt's rich text draws no table rules unless asked to."""


@dataclass(frozen=True)
class TextSegment:
    """Rich text (Qt's HTML subset) between code blocks."""

    html: str


@dataclass(frozen=True)
class CodeSegment:
    """A top-level code block: its language (info string, may be empty) and its code."""

    language: str
    code: str


Segment = TextSegment | CodeSegment


def _render_image(
    _renderer: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any
) -> str:
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or ()) or "image"
    src = str(token.attrGet("src") or "")
    return (
        f'<a href="{html.escape(src)}" title="Not loaded: {html.escape(src)}">'
        f"[image: {html.escape(alt)}]</a>"
    )


def _render_fence(
    _renderer: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any
) -> str:
    token = tokens[idx]
    return highlight_html(token.content, token.info.strip().split(" ")[0] if token.info else "")


def _render_formula(latex: str, display: bool, env: Any) -> str:
    color = env.get("math_color", "#000000") if isinstance(env, dict) else "#000000"
    return formula_html(latex, display=display, color=color)


def _break_run(match: re.Match[str]) -> str:
    parts = _ENTITY_OR_CHAR.findall(match.group(0))
    return _ZWSP.join("".join(parts[i : i + WRAP_RUN]) for i in range(0, len(parts), WRAP_RUN))


def breakable(rendered: str) -> str:
    """``rendered`` HTML with zero-width spaces in over-long runs of text (never inside tags or
    entities), so a long URL or hash wraps inside the column."""
    pieces = _TAG_OR_TEXT.split(rendered)
    in_pre = False
    for index, piece in enumerate(pieces):
        if index % 2:  # a tag
            if piece.startswith("<pre"):
                in_pre = True
            elif piece.startswith("</pre"):
                in_pre = False
        elif not in_pre and len(piece) > WRAP_RUN:  # text between tags, code left as it is
            pieces[index] = _LONG_RUN.sub(_break_run, piece)
    return "".join(pieces)


def _cut_points(text: str, start: int, end: int) -> list[int]:
    """Where a long paragraph ``text[start:end]`` is cut into pieces: word starts about every
    :data:`PIECE_CHARS` characters, where no code span or formula is open and the next piece
    starts with a letter (so it cannot read as a list, heading or quote on its own)."""
    cuts: list[int] = []
    last = start
    position = start + PIECE_CHARS
    while position < end - PIECE_CHARS // 4:
        cut = _next_word_start(text, position, min(end, position + PIECE_CHARS // 2))
        if cut is None:
            position += PIECE_CHARS // 2
            continue
        piece = text[last:cut]
        if piece.count("`") % 2 == 0 and piece.count("$") % 2 == 0 and "\\(" not in piece:
            cuts.append(cut)
            last = cut
            position = cut + PIECE_CHARS
        else:
            position = cut + 1
    return cuts


def _next_word_start(text: str, begin: int, limit: int) -> int | None:
    for index in range(begin, limit):
        before, here = text[index - 1], text[index]
        if (before == " " or _is_cjk(before)) and (here.isalpha() or _is_cjk(here)):
            return index
    return None


def _is_cjk(char: str) -> bool:
    return (
        "\u3000" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af" or "\uf900" <= char <= "\ufaff"
    )


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    use_math(parser, _render_formula)
    parser.enable(["table", "strikethrough"])
    parser.add_render_rule("image", _render_image)
    parser.add_render_rule("fence", _render_fence)  # nested code blocks (inside lists, quotes)
    parser.add_render_rule("code_block", _render_fence)
    return parser


def parse_blocks(text: str, *, dark: bool = False) -> list[tuple[int, Segment]]:
    """Markdown → one segment per top-level block, each with its start in ``text`` (characters).

    A block is a paragraph, heading, list, quote, table, rule or code block. Code blocks become
    :class:`CodeSegment` (an unclosed fence, while an answer streams, runs to the end of the text,
    as CommonMark says, so code shows as code while it arrives); the others
    :class:`TextSegment`. A paragraph longer than :data:`PIECE_CHARS` becomes several segments
    (see :func:`_cut_points`). ``dark`` colours typeset formulas for a dark palette.
    """
    parser = _parser()
    env = {"math_color": "#e6e6e6" if dark else "#000000"}
    line_starts = [0]
    for line in text.split("\n"):
        line_starts.append(line_starts[-1] + len(line) + 1)
    blocks: list[tuple[int, Segment]] = []
    group: list[Token] = []
    for token in parser.parse(text, env):
        group.append(token)
        if token.level != 0 or token.nesting > 0:
            continue  # inside a block, or a block opening: wait for its end
        first = group[0]
        offset = line_starts[first.map[0]] if first.map else 0
        if token.type in ("fence", "code_block") and len(group) == 1:
            language = token.info.strip().split(" ")[0] if token.type == "fence" else ""
            blocks.append((offset, CodeSegment(language, token.content.removesuffix("\n"))))
        elif (pieces := _paragraph_pieces(text, group, line_starts)) is not None:
            for start, piece in pieces:
                rendered = parser.render(piece, env)
                blocks.append((start, TextSegment(breakable(rendered))))
        else:
            rendered = parser.renderer.render(group, parser.options, env)
            if rendered.strip():
                rendered = rendered.replace("<table>", _TABLE_TAG)
                blocks.append((offset, TextSegment(breakable(rendered))))
        group = []
    return blocks


def _paragraph_pieces(
    text: str, group: list[Token], line_starts: list[int]
) -> list[tuple[int, str]] | None:
    """A one-line paragraph over :data:`PIECE_CHARS` as ``(start, source)`` pieces, else None."""
    first = group[0]
    if first.type != "paragraph_open" or not first.map or first.map[1] - first.map[0] != 1:
        return None
    start = line_starts[first.map[0]]
    end = line_starts[first.map[1]] - 1
    if end - start <= PIECE_CHARS:
        return None
    starts = [start, *_cut_points(text, start, end)]
    if len(starts) == 1:
        return None
    ends = [*starts[1:], end]
    return [(a, text[a:b]) for a, b in zip(starts, ends, strict=True)]


def split_markdown(text: str) -> list[Segment]:
    """Markdown → segments, one per top-level block (see :func:`parse_blocks`)."""
    return [segment for _offset, segment in parse_blocks(text)]


WARM_LANGUAGES = ("python", "javascript", "typescript", "bash", "json", "c", "cpp", "rust", "go")
"""Lexers compiled in the background when the first answer is shown: Pygments compiles a
lexer's rules on its first use (30–90 ms for Python, measured), a visible stall if it happened
while an answer streams."""
_warmed = threading.Event()


def warm_lexers() -> None:
    """Compile the common lexers once, on a daemon thread (later calls do nothing)."""
    if _warmed.is_set():
        return
    _warmed.set()

    def compile_all() -> None:
        for language in WARM_LANGUAGES:
            _lexer(language)

    threading.Thread(target=compile_all, name="pygments-warm-up", daemon=True).start()


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer:
    # Cached: building a lexer costs about 2 ms (measured); a lexer keeps no state between texts.
    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


@lru_cache(maxsize=2)
def _formatter(dark: bool) -> HtmlFormatter[str]:
    # Cached: the formatter computes the style's rules for every token type when built.
    style = DARK_STYLE if dark else LIGHT_STYLE
    return HtmlFormatter(noclasses=True, nowrap=True, style=style)


def highlight_html(code: str, language: str, *, dark: bool = False) -> str:
    """Code as Qt rich text: Pygments' inline-styled HTML in a ``<pre>``."""
    body = highlight(code, _lexer(language), _formatter(dark)).removesuffix("\n")
    return f'<pre style="margin:0">{body}</pre>'


def _is_dark(widget: QWidget) -> bool:
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def open_link(url: str) -> bool:
    """Open ``url`` in the system browser when its scheme is allowed; True when opened."""
    link = QUrl(url)
    if link.scheme().lower() not in LINK_SCHEMES:
        return False
    return QDesktopServices.openUrl(link)


class CodeBlock(QFrame):
    """A highlighted code block: language and a Copy button above, the code (scrolls sideways).

    Signals:
        copied(str): The code was put on the clipboard.
    """

    copied = Signal(str)

    def __init__(self, segment: CodeSegment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.segment = segment
        self._dark = False
        self.language = QLabel(segment.language or "code")
        self.language.setObjectName("codeLanguage")
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("codeCopy")
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this code")
        self.copy_button.setAutoRaise(True)
        self.copy_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.copy_button.clicked.connect(self.copy_code)
        header = QHBoxLayout()
        header.setContentsMargins(8, 2, 4, 0)
        header.addWidget(self.language)
        header.addStretch(1)
        header.addWidget(self.copy_button)
        self.code = QLabel()
        self.code.setObjectName("codeText")
        self.code.setTextFormat(Qt.TextFormat.RichText)
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code.setContentsMargins(8, 4, 8, 6)
        self.scroller = QScrollArea()
        self.scroller.setObjectName("codeScroll")
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        self.scroller.setWidgetResizable(True)
        self.scroller.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroller.setWidget(self.code)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.scroller)
        self.set_segment(segment)

    def set_segment(self, segment: CodeSegment) -> None:
        """Show other code (the block grew while streaming)."""
        self.segment = segment
        self.language.setText(segment.language or "code")
        dark = self._dark = _is_dark(self)
        self.code.setText(highlight_html(segment.code, segment.language, dark=dark))
        background = get_style_by_name(DARK_STYLE if dark else LIGHT_STYLE).background_color
        sheet = f"background: {background};"
        if self.code.styleSheet() != sheet:  # a new style sheet polishes the label again
            self.code.setStyleSheet(sheet)
        bar = self.scroller.horizontalScrollBar().sizeHint().height()
        self.scroller.setFixedHeight(self.code.sizeHint().height() + bar)

    def changeEvent(self, event: QEvent) -> None:
        # The system switched between light and dark (QStyleHints.colorScheme): the palette
        # changes, and the code is highlighted again with the matching Pygments style.
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            dark = _is_dark(self)
            if dark != self._dark:
                self.set_segment(self.segment)
        super().changeEvent(event)

    def copy_code(self) -> None:
        """Put the code (without fences or highlighting) on the clipboard."""
        QGuiApplication.clipboard().setText(self.segment.code)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText("Copy"))
        self.copied.emit(self.segment.code)


SEGMENT_SPACING = 6
"""Vertical gap between an answer's blocks (logical pixels)."""


HFW_CACHE_WIDTHS = 4
"""Widths remembered by :class:`HeightCachingColumn` (Qt asks at the actual width and at the
size-hint width, alternately)."""


class HeightCachingColumn(QVBoxLayout):
    """A vertical layout that remembers its height for the last few widths until it changes.

    ``QBoxLayout`` remembers its height-for-width for one width only, and Qt asks for two in
    turn (the actual width, and the size hint's for ``sizeHint``/``minimumSize``), so each
    relayout of a transcript measured every word-wrapped label in it again (``QLabel``'s
    rich-text ``heightForWidth`` lays its document out): with a style sheet applied this was
    10–20 ms per streamed render in a long answer (measured with py-spy). Here a column that
    did not change answers from its cache; Qt calls :meth:`invalidate` when anything in it
    changes (a child's size hint, a child added or removed), which empties the cache.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._heights: dict[int, int] = {}
        self._minimum_heights: dict[int, int] = {}

    def heightForWidth(self, width: int) -> int:
        height = self._heights.get(width)
        if height is None:
            height = super().heightForWidth(width)
            _remember(self._heights, width, height)
        return height

    def minimumHeightForWidth(self, width: int) -> int:
        height = self._minimum_heights.get(width)
        if height is None:
            height = super().minimumHeightForWidth(width)
            _remember(self._minimum_heights, width, height)
        return height

    def invalidate(self) -> None:
        self._heights.clear()
        self._minimum_heights.clear()
        super().invalidate()


def _remember(cache: dict[int, int], width: int, height: int) -> None:
    if len(cache) >= HFW_CACHE_WIDTHS:
        cache.clear()
    cache[width] = height


def _column(parent: QWidget) -> QVBoxLayout:
    layout = HeightCachingColumn(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(SEGMENT_SPACING)
    return layout


def _column_widgets(layout: QVBoxLayout) -> list[QWidget]:
    # Only widgets are put in these columns (never ask a spacer item for its widget: PySide6
    # 6.12 then leaks a reference to None).
    items = (layout.itemAt(i) for i in range(layout.count()))
    return [w for item in items if item is not None and (w := item.widget()) is not None]


class MarkdownView(QWidget):
    """Markdown shown as rich text and code blocks; re-rendered incrementally, throttled.

    Attributes:
        link_opener: Opens an activated link (default: :func:`open_link`; replaceable in tests).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("answer")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self._outer = _column(self)
        self._chunks: list[tuple[QWidget, QVBoxLayout]] = []
        """One container and its column per :data:`CHUNK_SEGMENTS` segments, in order."""
        self.markdown = ""
        self.segments: list[Segment] = []
        self.renders = 0
        """How many times the text was re-parsed (for tests and benchmarks)."""
        self.link_opener: Callable[[str], object] = open_link
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(lambda: self.flush(final=False))
        self._pending: str | None = None
        self._offsets: list[int] = []
        self._partial = False
        warm_lexers()

    def set_markdown(self, text: str, *, now: bool = False) -> None:
        """Show ``text``; rendered within :data:`RENDER_INTERVAL_MS` unless ``now``."""
        self._pending = text
        if now:
            self.flush()
        elif not self._timer.isActive():
            self._timer.start()

    def flush(self, *, final: bool = True) -> None:
        """Render the latest text now.

        Args:
            final: True when the answer ended (or is shown whole). False while it streams: when
                the new text extends the old, only the last :data:`REPARSED_BLOCKS` blocks are
                parsed again (earlier blocks cannot change by appending, except through
                reference-style link definitions). The final render of a streamed answer is
                incremental too unless the text has such a definition
                (:data:`LINK_DEFINITION`), which then resolves in one full parse (a full parse
                of a long answer costs 50–100 ms, measured, a visible stall at its end).
        """
        self._timer.stop()
        text, self._pending = self._pending, None
        redo = final and self._partial  # streamed renders get one full parse at the end
        if text is None and redo:
            text = self.markdown
        if text is None or (text == self.markdown and not redo):
            return
        self.renders += 1
        if "$" in text or "\\(" in text or "\\[" in text:
            warm_math()  # matplotlib loads while the first formula is still being written
        appended = text.startswith(self.markdown) and len(self._offsets) > REPARSED_BLOCKS
        resolved = not final or (self._partial and not LINK_DEFINITION.search(text))
        if appended and resolved:
            keep = len(self._offsets) - REPARSED_BLOCKS
            base = self._offsets[keep]
            tail = parse_blocks(text[base:], dark=_is_dark(self))
            offsets = self._offsets[:keep] + [base + offset for offset, _segment in tail]
            segments = self.segments[:keep] + [segment for _offset, segment in tail]
            self._partial = not final
        else:
            blocks = parse_blocks(text, dark=_is_dark(self))
            offsets = [offset for offset, _segment in blocks]
            segments = [segment for _offset, segment in blocks]
            self._partial = False
        self.markdown = text
        self._offsets = offsets
        self._show(segments)

    def widgets(self) -> list[QWidget]:
        """One widget per segment, in order."""
        return [widget for _chunk, column in self._chunks for widget in _column_widgets(column)]

    def code_blocks(self) -> list[CodeBlock]:
        """The code blocks shown."""
        return [w for w in self.widgets() if isinstance(w, CodeBlock)]

    def _show(self, segments: list[Segment]) -> None:
        widgets = self.widgets()
        for index, segment in enumerate(segments):
            if index < len(self.segments) and self.segments[index] == segment:
                continue  # unchanged: not rendered again
            if index < len(widgets):
                widget = widgets[index]
                if isinstance(segment, CodeSegment) and isinstance(widget, CodeBlock):
                    widget.set_segment(segment)
                    continue
                if isinstance(segment, TextSegment) and isinstance(widget, QLabel):
                    widget.setText(segment.html)
                    continue
                self._replace(widget, self._build(segment))
            else:
                self._append(self._build(segment))
        for widget in self.widgets()[len(segments) :]:
            self._layout_of(widget).removeWidget(widget)
            widget.setParent(None)
            widget.deleteLater()
        while self._chunks and self._chunks[-1][1].count() == 0:
            chunk, _column_layout = self._chunks.pop()
            self._outer.removeWidget(chunk)
            chunk.setParent(None)
            chunk.deleteLater()
        self.segments = segments

    def _append(self, widget: QWidget) -> None:
        if not self._chunks or self._chunks[-1][1].count() >= CHUNK_SEGMENTS:
            chunk = QWidget()
            chunk.setObjectName("answerChunk")
            self._chunks.append((chunk, _column(chunk)))
            self._outer.addWidget(chunk)
        self._chunks[-1][1].addWidget(widget)

    def _layout_of(self, widget: QWidget) -> QVBoxLayout:
        for chunk, column in self._chunks:
            if chunk is widget.parentWidget():
                return column
        raise ValueError("not a segment of this answer")

    def _on_label_link_activated(self, url: str) -> None:
        self.link_opener(url)

    def _replace(self, old: QWidget, new: QWidget) -> None:
        layout = self._layout_of(old)
        index = layout.indexOf(old)
        layout.removeWidget(old)
        old.setParent(None)
        old.deleteLater()
        layout.insertWidget(index, new)

    def _build(self, segment: Segment) -> QWidget:
        if isinstance(segment, CodeSegment):
            return CodeBlock(segment)
        label = QLabel(segment.html)
        label.setObjectName("answerText")
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        label.setOpenExternalLinks(False)
        label.linkActivated.connect(self._on_label_link_activated)
        label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        return label
