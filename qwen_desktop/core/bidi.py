"""Which way a piece of text runs: right-to-left (Hebrew, Arabic…) or left-to-right.

The Unicode Bidirectional Algorithm (UAX #9, rules P2–P3) gives a paragraph the direction of its
first strong character: bidi class ``L`` makes it left-to-right, ``R`` or ``AL`` right-to-left;
digits, punctuation and spaces are neutral. Code is always left-to-right whatever its comments.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

Direction = Literal["ltr", "rtl"]

_SKIPPED = ("`", "```", "~~~")


def text_direction(text: str, default: Direction = "ltr") -> Direction:
    """The direction of ``text``'s first strong character (UAX #9 P2–P3).

    Args:
        text: Any text; Markdown markers, digits and punctuation are neutral.
        default: The direction when ``text`` has no strong character (empty, only digits).

    Returns:
        ``"rtl"`` for a first strong character of bidi class R or AL, ``"ltr"`` for L.
    """
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return default


def is_rtl(text: str) -> bool:
    """True when ``text`` starts (in its first strong character) right-to-left."""
    return text_direction(text) == "rtl"
