"""The resource sampler with recorded psutil/NVML readings, and once with the real psutil."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import psutil
import pytest

from qwen_desktop.core.samples import Sample
from qwen_desktop.hardware.live_gpu import AmdSysfsReader, LiveGpus, NvmlReader
from qwen_desktop.monitor.sampler import (
    ResourceSampler,
    SampleHistory,
    TokenMeter,
    check_interval,
)
from tests.fixtures.polling import until
from tests.fixtures.recorded_resources import (
    GIB,
    LAPTOP_GPU,
    MIB,
    RTX_4090,
    RecordedNvml,
    RecordedPsutil,
)


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def recorded_machine() -> RecordedPsutil:
    # The first reading of swap/disk is taken when the sampler is built (the rates' baseline).
    return RecordedPsutil(
        cores=[[0.0, 0.0, 0.0, 0.0], [10.0, 30.0, 50.0, 70.0], [100.0, 100.0, 90.0, 90.0]],
        memory=[(16 * GIB, 10 * GIB), (16 * GIB, int(0.5 * GIB))],
        swap=[
            (8 * GIB, GIB, 0, 0),
            (8 * GIB, GIB, 4 * MIB, 2 * MIB),
            (8 * GIB, 2 * GIB, 24 * MIB, 42 * MIB),
        ],
        disk=[(1000, 2000), (1000 + 50 * MIB, 2000), (1000 + 50 * MIB, 2000 + 10 * MIB)],
        rss={None: 300 * MIB, 4242: 100 * MIB, 4243: 5 * GIB},
        children={4242: [4243]},
    )


def test_sample_reads_every_figure_from_the_recorded_sources() -> None:
    clock = Clock()
    nvml = RecordedNvml([RTX_4090, LAPTOP_GPU])
    sampler = ResourceSampler(
        psutil_module=recorded_machine(),
        gpus=NvmlReader(nvml),
        engine_pid=lambda: 4242,
        clock=clock,
        wall=lambda: 1.7e9,
    )
    clock.now += 2.0
    first = sampler.sample()
    assert first.cpu_per_core == (10.0, 30.0, 50.0, 70.0)
    assert first.cpu_percent == pytest.approx(40.0)
    assert first.memory_total_bytes == 16 * GIB
    assert first.memory_available_bytes == 10 * GIB
    assert first.memory_used_bytes == 6 * GIB
    assert first.swap_in_bytes_per_s == pytest.approx(2 * MIB)  # 4 MiB over 2 s
    assert first.swap_out_bytes_per_s == pytest.approx(1 * MIB)
    assert first.disk_read_bytes_per_s == pytest.approx(25 * MIB)
    assert first.disk_write_bytes_per_s == 0.0
    assert first.app_rss_bytes == 300 * MIB
    assert first.engine_rss_bytes == 100 * MIB + 5 * GIB  # the server and its runner
    big, laptop = first.gpus
    assert big.name == "NVIDIA GeForce RTX 4090"
    assert (big.util_percent, big.vram_used_bytes, big.vram_total_bytes) == (
        4.0,
        int(3.5 * GIB),
        24 * GIB,
    )
    assert big.temperature_c == 61.0
    assert big.power_watts == pytest.approx(312.5)  # NVML milliwatts → watts
    assert laptop.power_watts is None  # NVMLError_NotSupported: unknown, not 0
    assert laptop.util_percent == 0.0
    assert first.tokens_per_second is None

    clock.now += 1.0
    second = sampler.sample()
    assert second.cpu_percent == pytest.approx(95.0)
    assert second.swap_bytes_per_s == pytest.approx(20 * MIB + 40 * MIB)
    assert second.gpus[0].util_percent == 97.0
    assert second.gpus[0].vram_fraction == pytest.approx(23.2 / 24, rel=1e-3)
    line = second.to_json()
    assert line["gpus"][0]["util_percent"] == 97.0 and line["gpus"][0]["vram_used_bytes"] > 0
    assert {"cpu_percent", "memory_used_bytes", "memory_available_bytes"} <= line.keys()
    sampler.close()
    assert not nvml.initialised


def test_no_nvidia_driver_means_no_gpu_figures_and_a_reason() -> None:
    sampler = ResourceSampler(
        psutil_module=recorded_machine(), gpus=NvmlReader(RecordedNvml(missing=True))
    )
    assert sampler.sample().gpus == ()
    assert sampler.gpu_note is not None and "NVIDIA" in sampler.gpu_note


def test_an_engine_that_exits_has_no_memory_figure() -> None:
    machine = recorded_machine()
    pid: list[int | None] = [4242]
    sampler = ResourceSampler(
        psutil_module=machine, gpus=NvmlReader(RecordedNvml()), engine_pid=lambda: pid[0]
    )
    assert sampler.sample().engine_rss_bytes == 100 * MIB + 5 * GIB
    del machine.rss[4242]
    assert sampler.sample().engine_rss_bytes is None
    pid[0] = None
    assert sampler.sample().engine_rss_bytes is None


def test_token_meter_measures_the_running_answer() -> None:
    clock = Clock(0.0)
    meter = TokenMeter(clock, window_s=2.0)
    meter.add()  # ignored: no answer runs
    meter.start()
    assert meter.rate() is None
    meter.add()
    assert meter.rate() is None  # one token: no speed yet
    for _ in range(10):
        clock.now += 0.1
        meter.add()
    assert meter.rate() == pytest.approx(10.0)  # 10 tokens after the first in 1 s
    for _ in range(30):
        clock.now += 0.1
        meter.add()
    assert meter.rate() == pytest.approx(10.0)
    clock.now += 2.5  # the stream stalls: the speed falls to zero, it does not freeze
    assert meter.rate() == 0.0
    meter.stop()
    assert meter.rate() is None


def test_sampler_reports_the_fed_tokens_per_second() -> None:
    clock = Clock()
    sampler = ResourceSampler(
        psutil_module=recorded_machine(), gpus=NvmlReader(RecordedNvml()), clock=clock
    )
    sampler.tokens.start()
    for _ in range(21):
        sampler.tokens.add()
        clock.now += 0.05
    assert sampler.sample().tokens_per_second == pytest.approx(20 / 1.05, rel=1e-6)


def test_history_keeps_the_last_five_minutes() -> None:
    history = SampleHistory(seconds=300.0)
    for second in range(400):
        history.add(Sample(float(second), 0.0, 1.0, (1.0,), 10, 5, 5))
    assert len(history) == 301
    assert [s.time_s for s in history.window(60.0)] == [float(t) for t in range(339, 400)]
    assert history.latest is not None and history.latest.time_s == 399.0


def test_interval_outside_the_range_is_refused_with_the_range() -> None:
    with pytest.raises(ValueError, match=r"between 0\.1 and 3600"):
        check_interval(0.0)
    sampler = ResourceSampler(psutil_module=recorded_machine(), gpus=NvmlReader(RecordedNvml()))
    with pytest.raises(ValueError, match="interval"):
        sampler.set_interval(-1)


@pytest.mark.asyncio
async def test_run_samples_pauses_and_resumes() -> None:
    sampler = ResourceSampler(
        psutil_module=recorded_machine(), gpus=NvmlReader(RecordedNvml()), interval_s=0.1
    )
    got: list[Sample] = []
    task = asyncio.create_task(sampler.run(got.append))
    await until(lambda: len(got) >= 3, timeout=5)
    sampler.pause()
    await asyncio.sleep(0.15)  # a reading already under way may still land
    paused_at = len(got)
    await asyncio.sleep(0.3)
    assert len(got) == paused_at  # nothing sampled while paused
    sampler.set_interval(5.0)
    sampler.resume()
    await until(lambda: len(got) == paused_at + 1, timeout=2)  # the first sample comes at once
    sampler.set_interval(0.1)  # a shorter period takes effect at once, not after 5 s
    await until(lambda: len(got) >= paused_at + 3, timeout=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_real_psutil_sample() -> None:
    sampler = ResourceSampler(gpus=NvmlReader(RecordedNvml(missing=True)), engine_pid=os.getpid)
    sampler.sample()
    sample = sampler.sample()
    assert sample.memory_total_bytes == psutil.virtual_memory().total
    assert 0 < sample.memory_available_bytes <= sample.memory_total_bytes
    assert len(sample.cpu_per_core) == psutil.cpu_count()
    assert all(0.0 <= value <= 100.0 for value in sample.cpu_per_core)
    assert sample.app_rss_bytes is not None and sample.app_rss_bytes > 10 * MIB
    assert (
        sample.engine_rss_bytes is not None and sample.engine_rss_bytes >= sample.app_rss_bytes // 2
    )
    assert sample.swap_in_bytes_per_s is not None and sample.swap_in_bytes_per_s >= 0


def _amd_card(root: Path, card: str, *, busy: str = "37", product: str | None = None) -> Path:
    device = root / "sys/class/drm" / card / "device"
    (device / "hwmon/hwmon4").mkdir(parents=True)
    files = {
        "vendor": "0x1002",
        "device": "0x744c",
        "uevent": "DRIVER=amdgpu\nPCI_SLOT_NAME=0000:03:00.0\n",
        "mem_info_vram_total": str(24 * GIB),
        "mem_info_vram_used": str(20 * GIB),
        "gpu_busy_percent": busy,
        "hwmon/hwmon4/temp1_input": "58000",  # millidegrees C
        "hwmon/hwmon4/power1_average": "241000000",  # microwatts
    }
    if product:
        files["product_name"] = product
    for name, text in files.items():
        (device / name).write_text(text + "\n")
    return device


def test_amd_gpus_from_amdgpu_sysfs_files(tmp_path: Path) -> None:
    device = _amd_card(tmp_path, "card1", product="Radeon RX 7900 XTX")
    reader = AmdSysfsReader(tmp_path)
    assert reader.available and reader.note is None
    (gpu,) = reader.read()
    assert (gpu.vendor, gpu.index, gpu.name) == ("amd", 1, "Radeon RX 7900 XTX")
    assert gpu.util_percent == 37.0
    assert (gpu.vram_used_bytes, gpu.vram_total_bytes) == (20 * GIB, 24 * GIB)
    assert gpu.temperature_c == 58.0 and gpu.power_watts == pytest.approx(241.0)
    (device / "gpu_busy_percent").write_text("99\n")
    assert reader.read()[0].util_percent == 99.0  # read live, not cached
    both = LiveGpus([NvmlReader(RecordedNvml([RTX_4090])), reader])
    assert [g.vendor for g in both.read()] == ["nvidia", "amd"]


def test_no_gpu_of_any_vendor_gives_the_nvidia_reason(tmp_path: Path) -> None:
    gpus = LiveGpus([NvmlReader(RecordedNvml(missing=True)), AmdSysfsReader(tmp_path)])
    assert not gpus.available and gpus.read() == ()
    assert gpus.note is not None and gpus.note.component == "nvidia"
