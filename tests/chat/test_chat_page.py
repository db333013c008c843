"""The Chat page bound to its controller (offscreen): the stream goes into the answer being
written and nowhere once it ended; Quit stops a running answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_desktop.core.types import AnswerDelta, ThinkingDelta, Usage
from qwen_desktop.gui import Desktop
from tests.fixtures.polling import until
from tests.fixtures.scripted_backend import ScriptedBackend

pytestmark = [pytest.mark.gui, pytest.mark.asyncio]


async def loaded(built: tuple[Desktop, ScriptedBackend], tmp_path: Path) -> Desktop:
    desktop, _backend = built
    desktop.models.load_folder(tmp_path / "Qwen3-8B")
    await until(lambda: desktop.models.loaded is not None)
    return desktop


async def test_the_stream_fills_the_answer_being_written_and_only_while_it_runs(
    scripted_window: tuple[Desktop, ScriptedBackend], tmp_path: Path
) -> None:
    desktop = await loaded(scripted_window, tmp_path)
    backend = scripted_window[1]
    backend.script = (
        ThinkingDelta("Let me see."),
        AnswerDelta("Four"),
        AnswerDelta("."),
        Usage(10, 3, 0.01, 30.0, 0.1),
    )
    page = desktop.chat_page
    page.prompt.setPlainText("2+2?")
    page.send_prompt()
    await until(lambda: desktop.chat.last_record is not None and not desktop.chat.busy)
    first = page.chat_view.current
    assert first is not None
    assert (first.thinking.text, first.answer_text) == ("Let me see.", "Four.")
    assert "tokens/s" in first.stats.text()
    desktop.chat.answer_received.emit(" late")  # no turn runs: nothing is written anywhere
    assert first.answer_text == "Four."

    backend.script = (AnswerDelta("Six."), Usage(10, 2, 0.01, 20.0, 0.1))
    page.prompt.setPlainText("3+3?")
    page.send_prompt()
    await until(lambda: len(page.chat_view.answers()) == 2 and not desktop.chat.busy)
    second = page.chat_view.current
    assert second is not first and second is not None
    assert (first.answer_text, second.answer_text) == ("Four.", "Six.")  # the old one unbound


async def test_quit_stops_a_running_answer_and_keeps_its_text(
    scripted_window: tuple[Desktop, ScriptedBackend], tmp_path: Path
) -> None:
    desktop = await loaded(scripted_window, tmp_path)
    scripted_window[1].script = (AnswerDelta("Once upon"), None)  # then waits forever
    page = desktop.chat_page
    page.prompt.setPlainText("A long story, please.")
    page.send_prompt()
    await until(lambda: page.chat_view.current is not None and desktop.chat.busy)
    await until(lambda: page.chat_view.current.answer_text == "Once upon")  # type: ignore[union-attr]
    desktop.shell.quit_action.trigger()
    assert not desktop.shell.isVisible()
    await until(lambda: not desktop.chat.busy)
    answer = page.chat_view.current
    assert answer is not None and answer.stats.text() == "Stopped by you"
    assert desktop.chat.messages()[-1].status == "stopped"
    assert desktop.chat.messages()[-1].content == "Once upon"
