"""``qwen-desktop monitor`` prints JSON lines of real samples; ``qwen-desktop health``."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from qwen_desktop import cli
from qwen_desktop.cli.monitor import render_sample
from qwen_desktop.core.samples import GpuSample, Sample
from qwen_desktop.engines.ollama_discovery import free_port
from qwen_desktop.monitor import health
from qwen_desktop.monitor.health import LastAnswer, build_report
from tests.fixtures.ollama_fake_server import FakeModel, running_fake_ollama

pytestmark = pytest.mark.timeout(30)
GIB = 1024**3


def test_monitor_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["monitor", "--samples", "2", "--interval", "0.1", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line in lines:
        data = json.loads(line)
        assert 0.0 <= data["cpu_percent"] <= 100.0
        assert (
            data["memory_used_bytes"] + data["memory_available_bytes"]
            == psutil.virtual_memory().total
        )
        assert isinstance(data["gpus"], list)
        assert data["swap_in_bytes_per_s"] is not None  # rates from the very first sample
        assert isinstance(data["explanations"], list)


def test_monitor_human_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["monitor", "--samples", "1", "--interval", "0.1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CPU ") and "RAM " in out and "available" in out


def test_monitor_line_shows_gpus() -> None:
    gpu = GpuSample(
        0,
        "RTX 4090",
        util_percent=97,
        vram_used_bytes=23 * GIB,
        vram_total_bytes=24 * GIB,
        temperature_c=61,
        power_watts=312.5,
    )
    line = render_sample(Sample(0, 0, 50.0, (50.0,), 16 * GIB, 6 * GIB, 10 * GIB, gpus=(gpu,)))
    assert "GPU0 97 % VRAM 23.0 GiB of 24.0 GiB 61 °C 312 W" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval", "0"], "between 0.1 and 3600"),
        (["--interval", "fast"], "could not convert"),
        (["--samples", "0"], "at least 1"),
        (["--samples", "two"], "whole number"),
    ],
)
def test_monitor_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.run(["monitor", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# -- health -----------------------------------------------------------------------------------


def test_health_report_compares_the_last_answer_with_the_estimate() -> None:
    report = build_report(
        engine="ollama",
        engine_alive=True,
        engine_detail="Ollama 0.12.6 answers at http://127.0.0.1:11434.",
        loaded_models=["qwen3:8b"],
        last=LastAnswer("qwen3:8b", tokens_per_second=6.0, ttft_seconds=0.42),
        estimate_tokens_per_second=30.0,
    )
    assert report.ok
    assert report.check("engine").state == "ok"
    speed = report.check("speed")
    assert speed.state == "warning"
    assert "time to first token 0.42 s, 6.0 tokens/s (estimate 30.0 tokens/s)" in speed.detail
    assert [item.kind for item in report.explanations] == ["slow_answer"]
    down = build_report(
        engine="ollama",
        engine_alive=False,
        engine_detail="not answering",
        loaded_models=[],
        last=None,
        estimate_tokens_per_second=None,
    )
    assert not down.ok and down.check("model").state == "warning"
    assert down.to_json()["checks"][0] == {
        "name": "engine",
        "state": "failed",
        "detail": "ollama: not answering",
    }


def test_health_verb_with_a_running_ollama_and_a_measured_answer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qwen_desktop.core.measurement_store import MeasurementStore
    from qwen_desktop.core.measurements import Measurement

    database = tmp_path / "measurements.sqlite3"
    with MeasurementStore(database) as store:
        store.record(
            Measurement(
                model_id="qwen3-8b",
                engine="ollama",
                quant="Q4_K_M",
                context_tokens=1024,
                machine_fingerprint="test",
                tokens_per_second=0.05,
                ttft_seconds=1.5,
            )
        )
    monkeypatch.setattr(
        health, "newest_measurement", lambda _path, real=health.newest_measurement: real(database)
    )
    monkeypatch.setattr(
        "qwen_desktop.hardware.live_gpu.LiveGpus.available", property(lambda self: True)
    )
    with running_fake_ollama(FakeModel("qwen3:8b")) as (fake, url):
        fake.loaded["qwen3:8b"] = 4096
        monkeypatch.setenv("OLLAMA_HOST", url.removeprefix("http://"))
        code = cli.run(["health", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] is True
    checks = {check["name"]: check for check in data["checks"]}
    assert checks["engine"]["state"] == "ok"
    assert checks["model"]["detail"] == "qwen3:8b (0 % in VRAM) is loaded."
    assert checks["speed"]["state"] == "warning"
    assert "time to first token 1.50 s, 0.1 tokens/s (estimate" in checks["speed"]["detail"]
    kinds = [item["kind"] for item in data["explanations"]]
    assert kinds == ["model_on_cpu", "slow_answer"]
    assert "36 of 36 layers of qwen3:8b run on the CPU" in data["explanations"][0]["message"]


def test_health_verb_without_any_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    assert cli.run(["health"]) == 0
    out = capsys.readouterr().out
    assert "No Ollama is running" in out and "No answer has been measured yet." in out
