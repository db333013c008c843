"""Reading what ``ollama serve`` prints: versions, compute libraries, "too large", the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_desktop.engines.ollama_logs import (
    GPU_UNUSED_WARNING,
    LogFindings,
    OllamaLog,
    log_fields,
)

LISTENING = (
    'time=2025-09-20T10:00:00.000Z level=INFO source=routes.go:1384 '
    'msg="Listening on 127.0.0.1:41234 (version 0.12.0)"'
)  # fmt: skip
CPU_ONLY = (
    'time=2025-09-20T10:00:00.100Z level=INFO source=types.go:131 msg="inference compute" '
    'id=0 library=cpu variant="" compute="" driver=0.0 name="" total="31.2 GiB" '
    'available="28.1 GiB"'
)
CUDA = (
    'time=2025-09-20T10:00:00.100Z level=INFO source=types.go:131 msg="inference compute" '
    "id=GPU-5c1b library=cuda variant=v12 compute=8.6 driver=12.4 "
    'name="NVIDIA GeForce RTX 3080" total="10.0 GiB" available="9.2 GiB"'
)
TOO_LARGE = (
    'time=2025-09-20T10:01:00Z level=WARN source=sched.go:440 msg="model request too large for '
    'system" requested="45.0 GiB" available="20.1 GiB" total="31.2 GiB" free="20.1 GiB" '
    'swap="0 B"'
)


@pytest.mark.parametrize(
    ("line", "library"),
    [
        (CPU_ONLY, "CPU"),
        (CUDA, "CUDA"),
        (CUDA.replace("library=cuda", "library=rocm"), "ROCm"),
        (CUDA.replace("library=cuda", "library=Vulkan"), "Vulkan"),
        (CUDA.replace("library=cuda", "library=metal"), "Metal"),
        (CUDA.replace("library=cuda", 'library="oneapi"'), "oneAPI"),
        ("load_backend: loaded CUDA backend from /opt/ollama/lib/ollama/libggml-cuda.so", "CUDA"),
        ("load_backend: loaded CPU backend from /usr/lib/ollama/libggml-cpu-haswell.so", "CPU"),
    ],
)
def test_compute_library_is_read_from_log_lines(line: str, library: str) -> None:
    findings = LogFindings()
    assert findings.compute_library is None
    assert findings.feed(line) == "compute"
    assert findings.compute_library == library


def test_gpu_library_wins_over_cpu_but_zero_offloaded_layers_mean_cpu() -> None:
    findings = LogFindings()
    findings.feed(CPU_ONLY)
    findings.feed(CUDA)
    assert (findings.compute_library, findings.libraries) == ("CUDA", ("CPU", "CUDA"))
    findings.feed("llama_model_load: offloaded 0/37 layers to GPU")
    assert findings.compute_library == "CPU"
    assert findings.gpu_warning(gpu_present=True) == GPU_UNUSED_WARNING
    findings.feed("llama_model_load: offloaded 37/37 layers to GPU")
    assert findings.compute_library == "CUDA"
    assert findings.gpu_warning(gpu_present=True) is None


def test_gpu_warning_only_when_the_caller_knows_of_a_gpu() -> None:
    findings = LogFindings()
    findings.feed(CPU_ONLY)
    assert findings.gpu_warning(gpu_present=False) is None
    assert findings.gpu_warning(gpu_present=True) == GPU_UNUSED_WARNING


def test_listening_line_gives_address_and_version_and_reset_forgets() -> None:
    findings = LogFindings()
    assert findings.feed(LISTENING) == "listening"
    assert (findings.listening, findings.version) == ("127.0.0.1:41234", "0.12.0")
    findings.feed(CUDA)
    findings.reset()
    assert (findings.version, findings.compute_library) == (None, None)


def test_model_too_large_is_recognised_with_its_sizes() -> None:
    findings = LogFindings()
    assert findings.feed(TOO_LARGE) == "too_large"
    report = findings.too_large
    assert report is not None
    assert (report.requested, report.available) == ("45.0 GiB", "20.1 GiB")
    assert report.message == (
        "The model is too large for this computer's memory (it needs 45.0 GiB; 20.1 GiB is "
        "available)."
    )
    assert findings.feed('level=INFO msg="something else"') is None


def test_log_fields_unquote_values() -> None:
    assert log_fields('a=1 b="two words" c=x') == {"a": "1", "b": "two words", "c": "x"}


def test_log_keeps_a_ring_in_memory_and_a_rotating_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "ollama.log"
    log = OllamaLog(log_file, ring_lines=3)
    for index in range(5):
        log.write(f"line {index} 100%")
    log.note("stopped")
    assert log.lines() == ["line 3 100%", "line 4 100%", "[qwen-desktop] stopped"]
    assert log.lines(1) == ["[qwen-desktop] stopped"] and log.lines(0) == []
    log.close()
    assert log_file.read_text().splitlines()[0] == "line 0 100%"
    log.write("after close")  # reopens the file
    log.close()
    assert log_file.read_text().splitlines()[-1] == "after close"


def test_log_without_a_file_keeps_lines_in_memory() -> None:
    log = OllamaLog(None)
    log.write("hello")
    assert log.lines() == ["hello"]
    log.close()
