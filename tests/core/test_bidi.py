"""Paragraph direction from the first strong character (UAX #9 P2–P3)."""

from __future__ import annotations

import pytest

from qwen_desktop.core.bidi import text_direction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("שלום, world", "rtl"),
        ("Hello שלום", "ltr"),
        ("123 — مرحبا", "rtl"),  # digits and punctuation are neutral
        ("**`x`** مرحبا", "ltr"),  # the x is a strong L character
        ("", "ltr"),
        ("42.", "ltr"),
    ],
)
def test_text_direction(text: str, expected: str) -> None:
    assert text_direction(text) == expected


def test_no_strong_character_takes_the_default() -> None:
    assert text_direction("  12 ", "rtl") == "rtl"
