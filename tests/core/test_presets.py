"""System-prompt presets (core/presets.py)."""

from __future__ import annotations

from qwen_desktop.core.presets import PRESETS, preset_for


def test_presets_have_unique_names_and_texts_and_none_sends_nothing() -> None:
    assert len({p.name for p in PRESETS}) == len({p.text for p in PRESETS}) == len(PRESETS)
    assert PRESETS[0].name == "None" and PRESETS[0].text == ""
    assert all(p.description for p in PRESETS)
    assert not any("think" in p.text.lower() for p in PRESETS)  # the switch does that


def test_preset_for_finds_exact_texts_only() -> None:
    coder = next(p for p in PRESETS if p.name == "Coding assistant")
    assert preset_for(f"  {coder.text}\n") is coder
    assert preset_for("") is PRESETS[0]
    assert preset_for(coder.text + " Also rhyme.") is None
