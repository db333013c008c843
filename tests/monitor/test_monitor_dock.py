"""The monitor dock (offscreen): charts receive points, explanations show, sampling follows
what is on screen, the status-bar summary, and the real sampler in the window."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qwen_desktop.core.explanations import EngineFacts, ModelPlacement
from qwen_desktop.core.samples import GpuSample, Sample
from qwen_desktop.core.types import Usage
from qwen_desktop.gui import App
from qwen_desktop.hardware.live_gpu import NvmlReader
from qwen_desktop.monitor.sampler import ResourceSampler
from qwen_desktop.monitor.ui.monitor_controller import MonitorController
from qwen_desktop.monitor.ui.monitor_dock import MonitorDock, MonitorSummary
from tests.fixtures.polling import until
from tests.fixtures.recorded_resources import RTX_4090, RecordedNvml, RecordedPsutil

pytestmark = pytest.mark.gui
GIB = 1024**3
MIB = 1024**2


def recorded(
    t: float, *, swap: float = 0.0, gpu: bool = True, speed: float | None = None
) -> Sample:
    gpus = (
        (
            GpuSample(
                0,
                "NVIDIA GeForce RTX 4090",
                util_percent=80.0,
                vram_used_bytes=int(23.5 * GIB),
                vram_total_bytes=24 * GIB,
                temperature_c=66.0,
                power_watts=300.0,
            ),
        )
        if gpu
        else ()
    )
    return Sample(
        time_s=t,
        wall_time=t,
        cpu_percent=25.0,
        cpu_per_core=(20.0, 30.0),
        memory_total_bytes=16 * GIB,
        memory_used_bytes=6 * GIB,
        memory_available_bytes=10 * GIB,
        swap_in_bytes_per_s=swap,
        swap_out_bytes_per_s=0.0,
        disk_read_bytes_per_s=0.0,
        disk_write_bytes_per_s=MIB,
        app_rss_bytes=300 * MIB,
        gpus=gpus,
        tokens_per_second=speed,
    )


@pytest.fixture
def controller(qapp: QApplication) -> MonitorController:
    psutil = RecordedPsutil([[0.0, 0.0]], memory=[(16 * GIB, 10 * GIB)])
    return MonitorController(
        ResourceSampler(psutil_module=psutil, gpus=NvmlReader(RecordedNvml([RTX_4090])))
    )


@pytest.fixture
def dock(controller: MonitorController, qtbot: object) -> MonitorDock:
    widget = MonitorDock(controller)
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    widget.show()
    return widget


def test_charts_receive_points_in_the_chosen_window(
    controller: MonitorController, dock: MonitorDock
) -> None:
    for t in range(120):
        controller.add_sample(recorded(float(t), speed=20.0 if t >= 100 else None))
    cpu = dock.cpu_chart.line("CPU")
    assert cpu.count() == 61  # the last minute at 1 Hz
    assert cpu.at(cpu.count() - 1).x() == 0.0 and cpu.at(0).x() == -60.0
    assert cpu.at(0).y() == 25.0
    assert dock.memory_chart.line("RAM used").at(0).y() == pytest.approx(6.0)
    assert dock.gpu_chart.line("VRAM0").at(0).y() == pytest.approx(100 * 23.5 / 24)
    assert dock.gpu_chart.line("GPU0").count() == 61
    assert dock.tokens_chart.line("tokens/s").count() == 20  # only while an answer ran
    assert dock.io_chart.line("disk").at(0).y() == pytest.approx(1.0)
    dock.window_group.button(1).click()  # last 5 minutes
    assert cpu.count() == 120
    assert dock.cpu_chart.x_axis.min() == -300.0
    assert "25 %" in dock.cpu_chart.chart().title()
    assert dock.cores.text() == "Per core: 20 · 30 %"
    assert "80 %" in dock.gpu_chart.chart().title() and "66 °C" in dock.gpu_chart.chart().title()
    # thresholds: RAM nearly full at 95 % of 16 GiB, VRAM at 95 %
    assert dock.memory_chart.threshold_value == pytest.approx(15.2)
    assert dock.gpu_chart.threshold_value == pytest.approx(95.0)


def test_explanations_fire_on_recorded_situations(
    controller: MonitorController, dock: MonitorDock
) -> None:
    controller.add_sample(recorded(0.0, gpu=False))
    assert dock.explanations.text() == "Nothing slows this computer down now."
    assert dock.gpu_note.isVisibleTo(dock) and not dock.gpu_chart.isVisibleTo(dock)
    controller.set_model(
        "qwen3:14b",
        EngineFacts("ollama", "CUDA", gpu_present=True),
        placement=ModelPlacement("qwen3:14b", 10 * GIB, int(6.5 * GIB), layers_total=40),
        estimate_tokens_per_second=40.0,
    )
    for t in range(1, 11):
        controller.add_sample(recorded(float(t), swap=4 * MIB))  # swapping, VRAM 98 % full
    kinds = [item.kind for item in controller.explanations]
    assert kinds == ["swapping", "model_on_cpu", "vram_full"]
    text = dock.explanations.text()
    assert (
        "The system is swapping" in text and "14 of 40 layers of qwen3:14b run on the CPU" in text
    )
    assert dock.explanations.property("warning") is True
    assert dock.tokens_chart.threshold_value == 40.0  # the estimate
    controller.answer_started()
    controller.answer_finished(
        Usage(
            prompt_tokens=10,
            generated_tokens=100,
            ttft_seconds=0.8,
            tokens_per_second=9.0,
            total_seconds=12.0,
        )
    )
    assert "slow_answer" in [item.kind for item in controller.explanations]
    assert (
        "Speed: Last answer (qwen3:14b): time to first token 0.80 s, 9.0 tokens/s"
        in dock.health.text()
    )
    assert "(estimate 40.0 tokens/s)" in dock.health.text()


def test_summary_shows_the_figures_and_warns(controller: MonitorController, qtbot: object) -> None:
    summary = MonitorSummary(controller)
    qtbot.addWidget(summary)  # type: ignore[attr-defined]
    controller.add_sample(recorded(0.0, speed=31.0))
    assert (
        summary.text()
        == "⚠ CPU 25 % · RAM 6.0/16 GiB · GPU0 80 % · VRAM 23.5/24 GiB · 31.0 tokens/s"
    )
    assert "VRAM of NVIDIA GeForce RTX 4090 is nearly full" in summary.toolTip()
    clicks: list[bool] = []
    summary.clicked.connect(lambda: clicks.append(True))
    qtbot.mouseClick(summary, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    assert clicks == [True]


def test_window_has_the_dock_hidden_and_samples_slowly_until_shown(app_window: App) -> None:
    dock, sampler = app_window.monitor_dock, app_window.monitor.sampler
    assert not dock.isVisible()
    assert sampler.interval_s == 5.0 and not sampler.paused
    view = next(a for a in app_window.shell.menuBar().actions() if a.text() == "&View")
    toggle = view.menu().actions()[0]
    assert toggle.text() == "&Monitor" and toggle.shortcut().toString() == "Ctrl+M"
    toggle.trigger()
    assert dock.isVisible() and sampler.interval_s == 1.0
    toggle.trigger()
    assert not dock.isVisible() and sampler.interval_s == 5.0
    app_window.monitor_summary.clicked.emit()
    assert dock.isVisible()
    app_window.shell.showMinimized()
    QApplication.processEvents()
    if app_window.shell.isMinimized():  # some platform plugins ignore minimising
        assert sampler.paused
        app_window.shell.showNormal()
        QApplication.processEvents()
        assert not sampler.paused


@pytest.mark.asyncio
async def test_the_window_samples_this_machine_with_the_real_psutil(app_window: App) -> None:
    app_window.shell.show_dock(app_window.monitor_dock)
    app_window.monitor.start()
    await until(lambda: len(app_window.monitor.history) >= 1, timeout=10)
    sample = app_window.monitor.history.latest
    assert sample is not None and sample.memory_total_bytes > 0
    assert app_window.monitor_dock.cpu_chart.line("CPU").count() >= 1
    assert app_window.monitor_summary.text().startswith(("CPU ", "⚠ CPU "))
    await app_window.monitor.shutdown()
    assert not app_window.monitor.running


def test_the_window_feeds_the_monitor_with_the_model_and_the_answer(
    app_window: App,
) -> None:
    from qwen_desktop.core.types import BackendCapabilities
    from qwen_desktop.engines.base import LoadedModel

    chat, monitor = app_window.chat, app_window.monitor
    model = LoadedModel(
        name="Qwen3-0.6B",
        engine="transformers",
        device="cpu",
        dtype="bf16",
        parameters=600_000_000,
        weights_bytes=1_200_000_000,
        capabilities=BackendCapabilities(context_window_tokens=40960),
        load_seconds=1.0,
    )
    app_window.models.model_loaded.emit(model)
    assert monitor.model_name == "Qwen3-0.6B" and monitor.engine is not None
    assert monitor.engine.compute_library == "cpu"
    assert "Qwen3-0.6B is loaded." in app_window.monitor_dock.health.text()
    chat.turn_started.emit("hi")
    assert monitor.sampler.tokens.running
    for _ in range(3):
        chat.answer_received.emit("x")
    chat.turn_stopped.emit()
    assert not monitor.sampler.tokens.running
    chat.turn_started.emit("again")
    chat.turn_finished.emit(
        Usage(
            prompt_tokens=5,
            generated_tokens=40,
            ttft_seconds=0.3,
            tokens_per_second=12.5,
            total_seconds=3.5,
        )
    )
    assert not monitor.sampler.tokens.running
    assert monitor.last_answer is not None and monitor.last_answer.tokens_per_second == 12.5
    assert "12.5 tokens/s" in app_window.monitor_dock.health.text()


def test_the_embedded_engines_memory_is_sampled_apart(app_window: App) -> None:
    sampler = app_window.monitor.sampler
    assert sampler.sample().engine_rss_bytes is None  # Transformers runs in the app itself

    class RunningServer:
        pid = os.getpid()  # any live process stands in for `ollama serve`

    app_window.engines.server = RunningServer()  # type: ignore[assignment]
    try:
        assert (sampler.sample().engine_rss_bytes or 0) > 0
    finally:
        app_window.engines.server = None
