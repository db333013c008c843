"""LaTeX math in answers: found by the Markdown parser, typeset to images, source never damaged.

Qwen's math and reasoning answers write formulas as ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]``.
Left to CommonMark, ``\\[`` is an escaped bracket (``\\[ x \\]`` shows as ``[ x ]``), ``\\{`` loses
its backslash and ``$a*b*c$`` turns into emphasis. :func:`use_math` teaches a markdown-it parser
the four delimiters (mdit-py-plugins' ``dollarmath`` and ``texmath`` rules, plus an inline rule for
``\\[…\\]`` written inside a sentence), so the formula's source reaches the renderer untouched.

:func:`formula_html` typesets a formula with matplotlib's mathtext (a TeX subset: fractions, roots,
sub/superscripts, Greek, big operators, ``\\left``/``\\right``; no TeX installation needed) into a
PNG shown inline as a ``data:`` image, its source as the tooltip. Measured here: 12–16 ms per
formula after the first (whose font set-up costs about 0.4 s), so each image is cached by its
source, colour and size; a formula mathtext cannot typeset is shown as its source in a code span.
matplotlib is imported on the first formula only.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import threading
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath import texmath_plugin

log = logging.getLogger(__name__)

MATH_DPI = 110
"""Resolution of typeset formulas (dots per inch): about the size of 10-pt body text on screen."""
MAX_FORMULA_CHARS = 2_000
"""Longer formulas are shown as source: typesetting cost grows with length."""


def _display_brackets(state: StateInline, silent: bool) -> bool:
    """``\\[ … \\]`` inside a line (texmath only takes it as a block of its own lines)."""
    src, pos = state.src, state.pos
    if not src.startswith("\\[", pos):
        return False
    end = src.find("\\]", pos + 2)
    if end < 0:
        return False
    if not silent:
        token = state.push("math_inline_double", "math", 0)
        token.content = src[pos + 2 : end]
        token.markup = "\\["
    state.pos = end + 2
    return True


def use_math(parser: MarkdownIt, render: Any) -> MarkdownIt:
    """Add the math delimiters to ``parser`` and render every formula with ``render``.

    Args:
        parser: A markdown-it parser.
        render: ``render(latex, display, env) -> html`` for one formula (``display`` True for
            ``$$…$$`` and ``\\[…\\]``).

    Returns:
        The same parser. ``$`` followed by a space or a digit never opens a formula, so prices
        ("costs $5 and $10") stay text.
    """
    parser.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    parser.use(texmath_plugin, delimiters="brackets")
    parser.inline.ruler.before("escape", "math_display_brackets", _display_brackets)

    def inline(_r: Any, tokens: Any, idx: int, _o: Any, env: Any) -> str:
        return render(tokens[idx].content, False, env)

    def display(_r: Any, tokens: Any, idx: int, _o: Any, env: Any) -> str:
        return render(tokens[idx].content, True, env)

    def block(_r: Any, tokens: Any, idx: int, _o: Any, env: Any) -> str:
        return f'<p align="center">{render(tokens[idx].content, True, env)}</p>'

    parser.add_render_rule("math_inline", inline)
    parser.add_render_rule("math_inline_double", display)
    for name in ("math_block", "math_block_label", "math_block_eqno", "math_double"):
        parser.add_render_rule(name, block)
    return parser


def formula_html(latex: str, *, display: bool, color: str) -> str:
    """One formula as Qt rich text: an inline PNG image, or its source when it cannot be typeset.

    Args:
        latex: The formula's TeX source, without delimiters.
        display: True for display formulas (drawn larger).
        color: The text colour, ``#rrggbb``.

    Returns:
        ``<img src="data:image/png;base64,…" title="source">``, or ``<code>source</code>``.
    """
    source = latex.strip()
    png = _typeset(source, display, color) if source else None
    if png is None:
        return f"<code>{html.escape(source)}</code>"
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" title="{html.escape(source)}">'


_lock = threading.Lock()
"""mathtext is not documented as thread-safe: the warm-up thread and the UI take turns."""
_warming = threading.Event()


def warm_math() -> None:
    """Import matplotlib and typeset one formula on a daemon thread (its first use costs about
    1 s here, a visible stall if it happened while an answer streams); later calls do nothing."""
    if _warming.is_set():
        return
    _warming.set()
    threading.Thread(
        target=lambda: _typeset("x", False, "#000000"), name="mathtext-warm-up", daemon=True
    ).start()


@lru_cache(maxsize=512)
def _typeset(source: str, display: bool, color: str) -> bytes | None:
    if len(source) > MAX_FORMULA_CHARS:
        return None
    with _lock:
        return _typeset_locked(source, display, color)


def _typeset_locked(source: str, display: bool, color: str) -> bytes | None:
    try:
        from matplotlib import mathtext
        from matplotlib.font_manager import FontProperties

        buffer = io.BytesIO()
        size = 13 if display else 11
        mathtext.math_to_image(
            f"${source}$",
            buffer,
            prop=FontProperties(size=size),
            dpi=MATH_DPI,
            format="png",
            color=color,
        )
    except Exception as error:  # mathtext raises ValueError (and others) on unsupported TeX
        log.debug("formula not typeset (%s): %s", error, source[:80])
        return None
    return buffer.getvalue()
