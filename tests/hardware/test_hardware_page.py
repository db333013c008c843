"""The Hardware page (offscreen): every figure with its source, Rescan, Copy as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.machine import MachineReport
from qwen_desktop.gui import App
from qwen_desktop.hardware.advisor import scan_machine
from qwen_desktop.hardware.ui.hardware_page import HardwarePage
from tests.fixtures.polling import until

pytestmark = pytest.mark.gui

PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"


@pytest.fixture
def page(qapp: QApplication, qtbot: object) -> HardwarePage:
    widget = HardwarePage()
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    return widget


def sources(page: HardwarePage, section_start: str) -> dict[str, str]:
    return {
        item: source
        for section, item, _, source in page.rows()
        if section.startswith(section_start)
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/meminfo")
def test_this_machine_shows_each_figure_s_source(page: HardwarePage, tmp_path: Path) -> None:
    machine = scan_machine(tmp_path / "models")
    page.show_machine(machine)
    memory = sources(page, "Memory")
    assert "/proc/meminfo" in memory["Total RAM"] and "/proc/meminfo" in memory["Available"]
    cpu = sources(page, "CPU")
    assert "/proc/cpuinfo" in cpu["Model"]
    assert cpu["Memory bandwidth"] != "—"  # measured or a table, and says so
    sections = {section for section, *_ in page.rows()}
    assert {"Operating system", "CPU", "Memory", "Disk (models folder)"} <= sections
    assert page.copy_button.isEnabled()


def test_nvidia_profile_shows_nvml_as_the_gpu_source(page: HardwarePage) -> None:
    machine = MachineReport.from_file(PROFILES / "nvidia_8gb.json")
    page.show_machine(machine)
    gpu_rows = [row for row in page.rows() if row[0].startswith("GPU 0")]
    assert gpu_rows and gpu_rows[0][0] == "GPU 0: NVIDIA GeForce RTX 4060"
    by_item = {item: (value, source) for _, item, value, source in gpu_rows}
    assert by_item["VRAM total"] == ("8.0 GiB", "NVML")
    assert by_item["VRAM free"][1] == "NVML"
    assert by_item["Driver"] == ("560.94", "NVML")
    assert "Compute capability" in by_item


def test_two_gpus_and_unified_memory(page: HardwarePage) -> None:
    page.show_machine(MachineReport.from_file(PROFILES / "two_gpus_3090_3060.json"))
    assert len({s for s, *_ in page.rows() if s.startswith("GPU ")}) == 2
    page.show_machine(MachineReport.from_file(PROFILES / "apple_unified_16gib.json"))
    unified = [value for _, item, value, _ in page.rows() if item == "Unified memory"]
    assert unified and unified[0].startswith("yes")


def test_notes_are_listed(page: HardwarePage) -> None:
    machine = MachineReport.from_file(PROFILES / "laptop_igpu_16gib.json")
    page.show_machine(machine)
    for note in machine.notes:
        assert note.message.split(":")[0] in page.notes.text()
    assert page.notes.isVisibleTo(page) == bool(machine.notes)


def test_copy_as_json_puts_valid_json_on_the_clipboard(
    page: HardwarePage, qapp: QApplication
) -> None:
    machine = MachineReport.from_file(PROFILES / "nvidia_8gb.json")
    page.show_machine(machine)
    QApplication.clipboard().clear()
    page.copy_button.click()
    data = json.loads(QApplication.clipboard().text())
    assert data["gpus"][0]["source"] == "NVML"
    assert MachineReport.model_validate(data) == machine


def test_rescan_button_asks_for_a_scan(page: HardwarePage, qtbot: object) -> None:
    page.show_machine(MachineReport.from_file(PROFILES / "nvidia_8gb.json"))
    with qtbot.waitSignal(page.rescan_requested, timeout=1000):  # type: ignore[attr-defined]
        page.rescan_button.click()
    assert not page.rescan_button.isEnabled()  # until the scan ends


# ------------------------------------------------------------------------------ in the window


@pytest.fixture
def window(app_window: App) -> App:
    return app_window


@pytest.mark.asyncio
async def test_scan_fills_the_pages_and_rescan_refreshes(window: App) -> None:
    assert [window.shell.tabs.tabText(i) for i in range(window.shell.tabs.count())] == [
        "Chat",
        "Models",
        "Downloads",
        "Library",
        "Hardware",
    ]
    hardware_index = window.shell.tabs.indexOf(window.hardware_page)
    assert window.shell.tabs.tabToolTip(hardware_index).endswith(f"(Ctrl+{hardware_index + 1})")
    window.hardware.scan()
    await until(lambda: window.hardware_page.machine is not None)
    assert window.catalog.machine is window.hardware_page.machine
    assert window.models_page.current_variant() is not None  # the recommended one
    first = window.hardware_page.machine
    window.hardware_page.rescan_button.click()
    assert window.hardware.scanning
    await until(lambda: window.hardware_page.machine is not first)
    assert window.hardware_page.rescan_button.isEnabled()
    assert window.catalog.machine is window.hardware_page.machine


@pytest.mark.asyncio
async def test_machine_panel_links_open_the_pages(window: App) -> None:
    window.hardware.scan()
    await until(lambda: window.machine_panel.recommendations.count() > 0)
    window.machine_panel.hardware_link.linkActivated.emit("#")
    assert window.shell.tabs.currentWidget() is window.hardware_page
    window.machine_panel.task_combo.setCurrentIndex(1)  # code
    window.machine_panel.models_link.linkActivated.emit("#")
    assert window.shell.tabs.currentWidget() is window.models_page
    assert window.models_page.task_combo.currentData() == "code"
    await window.shutdown()
