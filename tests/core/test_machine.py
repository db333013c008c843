"""Hardware profiles read back from files (``--hardware PROFILE.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.machine import MachineReport

PROFILES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"


def test_a_saved_profile_round_trips(tmp_path: Path) -> None:
    original = MachineReport.from_file(next(PROFILES.glob("*.json")))
    path = tmp_path / "p.json"
    path.write_text(original.to_json(), encoding="utf-8")
    assert MachineReport.from_file(path) == original


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"a": 1}', "it has no cpu or memory section"),
        ('{"task": "chat", "recommendations": []}', "it has no cpu or memory section"),
        ('{"cpu": {}, "memory": {"total_bytes": 0}}', "it has no RAM"),
        ("[1, 2]", "is not a hardware profile"),
        ("not json", "is not a hardware profile"),
        ("", "is not a hardware profile"),
    ],
)
def test_files_that_are_not_profiles_are_refused(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "wrong.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(QwenDesktopError) as caught:
        MachineReport.from_file(path)
    assert expected in caught.value.message
    assert "scan --json" in caught.value.action


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QwenDesktopError, match="Cannot read the hardware profile"):
        MachineReport.from_file(tmp_path / "nope.json")


def test_profiles_in_fixtures_are_valid() -> None:
    for path in PROFILES.glob("*.json"):
        report = MachineReport.from_file(path)
        assert report.memory.total_bytes > 0, path
        assert json.loads(path.read_text(encoding="utf-8"))["cpu"]
