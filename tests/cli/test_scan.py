"""``qwen-desktop scan``: the verb's output (human and JSON), its options, and size formatting."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_desktop.cli import scan
from qwen_desktop.core.machine import (
    CpuInfo,
    DiskInfo,
    GpuInfo,
    MachineReport,
    MemoryInfo,
    OsInfo,
    ProbeNote,
)

REPO = Path(__file__).resolve().parents[2]
GIB = 1024**3


def _scan_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen-desktop")
    scan.add_parser(parser.add_subparsers(dest="verb"))
    return parser


def _run_scan(argv: list[str]) -> int:
    args = _scan_parser().parse_args(argv)
    return int(args.func(args))


def _check_json(data: dict[str, object], models_dir: Path) -> None:
    cpu, memory, disk = data["cpu"], data["memory"], data["disk"]
    assert isinstance(cpu, dict) and isinstance(memory, dict) and isinstance(disk, dict)
    assert isinstance(cpu["model"], str) and cpu["model"]
    assert cpu["logical_cores"] == os.cpu_count()
    assert isinstance(cpu["physical_cores"], int) and cpu["physical_cores"] >= 1
    assert isinstance(cpu["flags"], list)
    assert memory["total_bytes"] > 0
    assert 0 < memory["available_bytes"] <= memory["total_bytes"]
    assert isinstance(data["gpus"], list)
    for gpu in data["gpus"]:
        assert {"vendor", "name", "vram_total_bytes", "vram_free_bytes", "source"} <= set(gpu)
    assert disk["free_bytes"] > 0
    assert disk["path"] == str(models_dir)
    report = MachineReport.model_validate(data)  # the profile format other verbs read back
    if not report.gpus:
        assert any(n.component == "gpu" and n.state == "none" for n in report.notes)


def test_scan_json_through_the_verb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QWEN_DESKTOP_MODELS_DIR", str(tmp_path / "models"))
    assert _run_scan(["scan", "--json"]) == 0
    _check_json(json.loads(capsys.readouterr().out), tmp_path / "models")


def test_models_dir_option_wins_over_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere"
    assert _run_scan(["scan", "--json", "--models-dir", str(target)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["disk"]["path"] == str(target)
    assert data["disk"]["sources"]["free_bytes"] == f"shutil.disk_usage({tmp_path})"


def test_by_default_free_disk_is_measured_where_models_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwen_desktop.core.paths import AppPaths
    from qwen_desktop.core.settings import Settings, save_settings

    monkeypatch.delenv("QWEN_DESKTOP_MODELS_DIR", raising=False)
    chosen = tmp_path / "Модели ü 模型"
    save_settings(AppPaths.default().config_dir, Settings(models_dir=str(chosen)))
    assert _run_scan(["scan", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["disk"]["path"] == str(chosen)
    monkeypatch.setenv("QWEN_DESKTOP_MODELS_DIR", str(tmp_path / "env"))
    assert _run_scan(["scan", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["disk"]["path"] == str(tmp_path / "env")


def test_scan_human_output_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_scan(["scan", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    labels = [line.split("  ")[0].strip() for line in out.splitlines() if line and line[0] != " "]
    assert labels[:6] == ["System", "CPU", "Cores", "ISA flags", "RAM", "Swap"]
    assert "\033[" not in out  # captured stdout is not a terminal: no colour codes
    assert f"at {tmp_path}" in out
    if sys.platform == "linux":
        assert "(/proc/meminfo (psutil))" in out


def test_scan_json_through_cli_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qwen_desktop import cli

    assert cli.run(["scan", "--json", "--models-dir", str(tmp_path)]) == 0
    _check_json(json.loads(capsys.readouterr().out), tmp_path)


def test_python_m_qwen_desktop_scan_json(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "qwen_desktop", "scan", "--json", "--models-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    _check_json(json.loads(completed.stdout), tmp_path)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_for_the_output_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        completed = subprocess.run(
            [sys.executable, "-m", "qwen_desktop", "scan", "--json", "--models-dir", str(tmp_path)],
            cwd=REPO,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert "error: No space left on device" in completed.stderr
    assert "free some disk space" in completed.stderr


def test_importing_the_verb_stays_light() -> None:
    code = (
        "import sys, qwen_desktop.cli.scan\n"
        "heavy = {'torch', 'transformers', 'PySide6', 'pynvml', 'psutil'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def _sample_report() -> MachineReport:
    return MachineReport(
        os=OsInfo(
            system="Linux",
            release="6.8.0",
            machine="x86_64",
            description="Ubuntu 24.04 LTS",
            sources={"description": "/etc/os-release PRETTY_NAME"},
        ),
        cpu=CpuInfo(
            model="AMD Ryzen 9 7950X",
            physical_cores=16,
            logical_cores=32,
            usable_cores=32,
            flags=["avx", "avx2", "avx512f"],
            sources={"model": "/proc/cpuinfo model name", "flags": "/proc/cpuinfo flags"},
        ),
        memory=MemoryInfo(
            total_bytes=64 * GIB,
            available_bytes=int(50.5 * GIB),
            swap_total_bytes=8 * GIB,
            swap_free_bytes=8 * GIB,
            limit_bytes=32 * GIB,
            sources={
                "total_bytes": "/proc/meminfo (psutil)",
                "limit_bytes": "/sys/fs/cgroup/memory.max",
            },
        ),
        gpus=[
            GpuInfo(
                vendor="nvidia",
                name="NVIDIA GeForce RTX 4090",
                vram_total_bytes=24 * GIB,
                vram_free_bytes=int(23.5 * GIB),
                source="NVML",
                driver_version="550.54.15",
                compute_capability="8.9",
            )
        ],
        disk=DiskInfo(
            path="/data/models",
            total_bytes=2000 * GIB,
            free_bytes=500 * GIB,
            sources={"free_bytes": "shutil.disk_usage(/data)"},
        ),
        notes=[ProbeNote(component="memory", state="limited", message="Limited by a cgroup.")],
    )


def test_render_report_lines_and_sources() -> None:
    text = scan.render_report(_sample_report())
    lines = text.splitlines()
    assert lines[0].startswith("System     Ubuntu 24.04 LTS, Linux 6.8.0, x86_64")
    assert lines[0].endswith("(/etc/os-release PRETTY_NAME)")
    by_label = {line[:10].strip(): line[11:] for line in lines if line and line[0] != " "}
    assert by_label["Cores"].startswith("16 physical, 32 logical, 32 usable")
    assert by_label["RAM"].startswith("64.0 GiB total, 50.5 GiB available")
    assert by_label["RAM"].endswith("(/proc/meminfo (psutil))")
    assert by_label["RAM limit"].startswith("32.0 GiB")
    assert by_label["RAM limit"].endswith("(/sys/fs/cgroup/memory.max)")
    assert by_label["Swap"].startswith("8.0 GiB total, 8.0 GiB free")
    assert by_label["GPU 0"].startswith(
        "NVIDIA GeForce RTX 4090: 24.0 GiB VRAM, 23.5 GiB free, compute 8.9, driver 550.54.15"
    )
    assert by_label["GPU 0"].endswith("(NVML)")
    assert by_label["Disk"].startswith("500.0 GiB free of 2.0 TiB at /data/models")
    # Sources line up in one column (values longer than the cap, like the GPU's, push theirs).
    columns = {line.rindex("  (") for line in lines if line[:10].strip() in {"CPU", "RAM", "Disk"}}
    assert len(columns) == 1
    assert lines[-2:] == ["Notes", "  - Limited by a cgroup. [memory: limited]"]
    assert text.endswith("\n")


def test_render_report_without_gpu_shows_the_cpu_line_once() -> None:
    none = ProbeNote(
        component="gpu",
        state="none",
        message="No GPU found: models will run on the CPU (2 cores, 23.5 GiB RAM).",
    )
    nvml = ProbeNote(component="nvidia", state="no_library", message="No NVIDIA library.")
    report = _sample_report().model_copy(update={"gpus": [], "notes": [nvml, none]})
    text = scan.render_report(report)
    gpu_lines = [line for line in text.splitlines() if line.startswith("GPU")]
    assert gpu_lines == [
        "GPU        No GPU found: models will run on the CPU (2 cores, 23.5 GiB RAM)."
    ]
    assert text.count("No GPU found") == 1
    assert "  - No NVIDIA library. [nvidia: no_library]" in text


def test_render_report_colour_dims_sources() -> None:
    text = scan.render_report(_sample_report(), color=True)
    assert "\033[2m(NVML)\033[0m" in text
    assert "\033[1mCPU" in text
