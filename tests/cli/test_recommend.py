"""``qwen-desktop recommend`` with saved hardware profiles (no probing of this machine)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop.cli import recommend as recommend_cli
from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.machine import MachineReport

GiB = 1024**3
PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse with a parser that has only the ``recommend`` verb registered."""
    parser = argparse.ArgumentParser(prog="qwen-desktop")
    recommend_cli.add_parser(parser.add_subparsers(dest="verb"))
    return parser.parse_args(["recommend", *argv])


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert recommend_cli.run(parse([*argv, "--json"])) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_defaults() -> None:
    args = parse([])
    assert (args.task, args.context, args.quant, args.commercial) == ("chat", 8192, None, False)
    assert (args.engine, args.kv_cache) == ("ollama", "f16")
    assert args.limit is None and args.hardware is None and not args.json
    assert args.func is recommend_cli.run


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(["--hardware", str(PROFILES / "nvidia_8gb.json"), "--limit", "3"], capsys)
    assert (doc["task"], doc["context_tokens"]) == ("chat", 8192)
    assert doc["machine"]["ram_available_bytes"] == 24 * GiB
    assert doc["machine"]["gpus"][0]["name"] == "NVIDIA GeForce RTX 4060"
    recs = doc["recommendations"]
    assert [rec["rank"] for rec in recs] == [1, 2, 3]
    first = recs[0]
    expected_keys = {
        "rank", "id", "display_name", "hf_repo", "ollama_tag", "verdict", "reason",
        "weights_bytes", "kv_cache_bytes", "total_bytes", "gpu_layers", "total_layers",
        "tokens_per_second_estimate", "thinking_kind", "license", "commercial_use", "comfort",
        "max_context_tokens", "speed_source",
    }  # fmt: skip
    assert expected_keys <= set(first)
    # Best chat pick on an 8 GB card with 24 GiB of RAM free: Qwen3-30B-A3B partly on the GPU,
    # still comfortably fast (≥ 7.5 tokens/s), ahead of smaller models fully on it.
    assert (first["id"], first["verdict"]) == ("qwen3-30b-a3b", "partial_gpu")
    assert first["tokens_per_second_estimate"] >= 7.5 and first["comfort"] == "comfortable"
    # The best that runs fully on the card at 8K: Qwen3-8B:
    # 5.2e9 + 144 KiB × 8192 + 4·512·(1 + 8192 + 8192·33) + 457 MiB ≈ 6.9 GiB ≤ 7.5 GiB × 0.95
    need = 5.2e9 + 144 * 1024 * 8192 + 2048 * (1 + 8192 + 8192 * 33) + 457 * 1024**2
    assert need <= 7.5 * GiB * 0.95
    full = next(rec for rec in recs if rec["verdict"] == "full_gpu")
    assert full["id"] == "qwen3-8b"
    assert full["ollama_tag"] == "qwen3:8b"
    assert full["total_bytes"] == need
    assert full["gpu_layers"] == full["total_layers"] == 36
    assert full["thinking_kind"] == "hybrid"
    assert full["license"] == "apache-2.0" and full["commercial_use"] is True


def test_json_task_context_and_filters(capsys: pytest.CaptureFixture[str]) -> None:
    hardware = ["--hardware", str(PROFILES / "laptop_16gib_no_gpu.json")]
    doc = run_json([*hardware, "--task", "math", "--context", "16384"], capsys)
    assert doc["task"] == "math" and doc["context_tokens"] == 16384
    assert all("4K" in rec["reason"] for rec in doc["recommendations"])
    assert all(rec["ollama_tag"] is None for rec in doc["recommendations"])

    doc = run_json([*hardware, "--commercial"], capsys)
    assert all(rec["commercial_use"] for rec in doc["recommendations"])
    assert "qwen2.5-3b-instruct" not in {rec["id"] for rec in doc["recommendations"]}

    q8 = run_json([*hardware, "--quant", "q8_0", "--limit", "50"], capsys)
    assert q8["quant"] == "Q8_0"
    by_id = {rec["id"]: rec for rec in q8["recommendations"]}
    # Qwen3-8B's resident parameters: untied embeddings 2 × 151936 × 4096 and 36 layers of
    # attention (q/o 4096², k/v 4096 × 1024, q/k norms 2 × 128), MLP 3 × 4096 × 12288 and two
    # norms, plus the final norm: 8,190,735,360 at 8.5 bits each.
    params = (
        2 * 151_936 * 4096
        + 36 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 256 + 3 * 4096 * 12_288 + 2 * 4096)
        + 4096
    )
    assert by_id["qwen3-8b"]["weights_bytes"] == math.ceil(params * 1.0625)

    tf = run_json([*hardware, "--engine", "transformers", "--limit", "3"], capsys)
    assert (tf["engine"], tf["quant"], tf["kv_type"]) == ("transformers", "bf16", "f16")
    assert all(rec["verdict"] != "partial_gpu" for rec in tf["recommendations"])


def test_human_table(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["--hardware", str(PROFILES / "tiny_2gib.json"), "--limit", "3"])
    assert recommend_cli.run(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Qwen models for chat (8K context, Q4_K_M) on:")
    assert "1.5 GiB free" in lines[0] and "no GPU" in lines[0]
    header = next(line for line in lines if line.startswith("#"))
    for column in ("Model", "Size", "Fit", "Needs", "Speed"):
        assert column in header
    rows = [line for line in lines if line[:1].isdigit()]
    assert len(rows) == 3
    # Only Qwen2.5-0.5B fits in the 1.5 GiB free now (see tests/core/test_recommend.py): first.
    assert "Qwen2.5 0.5B Instruct" in rows[0] and "CPU" in rows[0] and "tok/s" in rows[0]
    # Qwen2.5-1.5B fits the 2 GiB less the reserve, but only with other programs closed.
    assert "Qwen2.5 1.5B Instruct" in rows[1] and "tight" in rows[1]
    assert "close other programs before loading it" in " ".join(out.split())
    assert "won't fit" in rows[2]
    assert "Runs on the CPU" in out and "Never thinks" in out


def test_human_table_unified_memory(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["--hardware", str(PROFILES / "apple_unified_16gib.json"), "--limit", "1"])
    recommend_cli.run(args)
    out = capsys.readouterr().out
    assert "Apple M2 (shares RAM)" in out
    assert "Runs fully on Apple M2 (16.0 GiB of shared memory free)" in " ".join(out.split())


def test_bad_arguments_exit_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--quant", "Q9"], ["--context", "0"], ["--limit", "-1"], ["--task", "poetry"],
                 ["--engine", "vllm"], ["--kv-cache", "q5_1"]):  # fmt: skip
        with pytest.raises(SystemExit) as caught:
            parse(argv)
        assert caught.value.code == 2
    assert "unknown quantization" in capsys.readouterr().err


def test_quantization_of_another_engine_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    from qwen_desktop import cli

    hardware = ["--hardware", str(PROFILES / "nvidia_8gb.json")]
    assert cli.run(["recommend", *hardware, "--engine", "transformers", "--quant", "Q4_K_M"]) == 2
    assert "for the transformers engine" in capsys.readouterr().err
    assert cli.run(["recommend", *hardware, "--engine", "transformers", "--kv-cache", "q4_0"]) == 2
    assert "compute dtype" in capsys.readouterr().err


def test_missing_profile_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(QwenDesktopError, match="Cannot read the hardware profile"):
        recommend_cli.run(parse(["--hardware", str(tmp_path / "nope.json")]))


def test_without_hardware_probes_this_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[Path] = []
    report = MachineReport.from_file(PROFILES / "nvidia_24gb.json")

    def probe_machine(models_dir: Path) -> MachineReport:
        seen.append(models_dir)
        return report

    fake = types.ModuleType("qwen_desktop.hardware.probe")
    fake.probe_machine = probe_machine  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "qwen_desktop.hardware.probe", fake)
    monkeypatch.setenv("QWEN_DESKTOP_MODELS_DIR", str(tmp_path / "models"))
    doc = run_json(["--limit", "1"], capsys)
    assert seen == [tmp_path / "models"]
    assert doc["machine"]["gpus"][0]["name"] == "NVIDIA GeForce RTX 3090"


def test_through_the_cli_entry_point(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from qwen_desktop import cli

    code = cli.run(
        ["recommend", "--hardware", str(PROFILES / "nvidia_24gb.json"), "--task", "code", "--json"]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["task"] == "code"
    assert all("coder" in rec["id"] for rec in doc["recommendations"])

    assert cli.run(["recommend", "--hardware", str(tmp_path / "nope.json")]) == 2
    assert "Cannot read the hardware profile" in capsys.readouterr().err
