"""``qwen-desktop fit MODEL_ID`` with saved hardware profiles (no probing of this machine)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop import cli
from qwen_desktop.cli import fit as fit_cli
from qwen_desktop.core.errors import CatalogError, QwenDesktopError
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.core.measurement_store import MeasurementStore
from qwen_desktop.core.measurements import Measurement, machine_fingerprint

KiB = 1024
MiB = 1024**2
GiB = 1024**3
PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"
RTX_4060 = str(PROFILES / "nvidia_8gb.json")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qwen-desktop")
    fit_cli.add_parser(parser.add_subparsers(dest="verb"))
    return parser.parse_args(["fit", *argv])


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert fit_cli.run(parse([*argv, "--json"])) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_defaults() -> None:
    args = parse(["qwen3-8b"])
    assert (args.model_id, args.quant, args.engine, args.context) == (
        "qwen3-8b",
        None,
        "ollama",
        None,
    )
    assert (args.kv_cache, args.hardware, args.json) == ("f16", None, False)
    assert args.func is fit_cli.run


def test_json_for_qwen3_8b_on_an_8gb_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(["qwen3-8b", "--hardware", RTX_4060], capsys)
    kv = 144 * KiB * 8192
    graph = 2048 * (1 + 8192 + 8192 * 33)
    total = 5_200_000_000 + kv + graph + 457 * MiB
    assert total <= 0.95 * 7.5 * GiB
    assert doc["verdict"] == "full_gpu" and doc["comfort"] == "comfortable"
    assert (doc["gpu_layers"], doc["total_layers"]) == (36, 36)
    assert (doc["weights_bytes"], doc["kv_cache_bytes"], doc["total_bytes"]) == (
        5_200_000_000, kv, total
    )  # fmt: skip
    assert doc["breakdown"] == {
        "weights_bytes": 5_200_000_000, "kv_cache_bytes": kv, "compute_graph_bytes": graph,
        "vision_bytes": 0, "overhead_bytes": 457 * MiB, "total_bytes": total,
    }  # fmt: skip
    # GPU: (7.5 GiB × 0.95 − 5.2e9 − 457 MiB − 4·512·8193) / (144 KiB + 4·512·33) → 8,960.
    room = 7.5 * GiB * 0.95 - 5.2e9 - 457 * MiB - 2048 * 8193
    assert int(room / (144 * KiB + 2048 * 33)) // 256 * 256 == 8960
    assert doc["max_context_tokens"] == {
        "full_gpu": 8960, "partial_gpu": 40_960, "cpu_only": 40_960
    }  # fmt: skip
    assert doc["tokens_per_second_estimate"] == pytest.approx(
        272e9 * 0.6 / (5.2e9 + 144 * KiB * 4096)
    )
    assert doc["speed_source"] == "estimate" and doc["measurement"] is None
    assert (doc["engine"], doc["quant"], doc["kv_type"]) == ("ollama", "Q4_K_M", "f16")
    assert doc["devices"][0]["name"] == "NVIDIA GeForce RTX 4060"
    assert doc["reason"].startswith("Runs fully on NVIDIA GeForce RTX 4060")
    assert doc["options"] == []
    assert doc["machine"]["gpus"][0]["vram_free_bytes"] == int(7.5 * GiB)


@pytest.mark.parametrize("name", ["qwen3-8b", "Qwen/Qwen3-8B", "qwen3-8B", "qwen3:8b", "Qwen3-8B"])
def test_model_id_forms(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json([name, "--hardware", RTX_4060], capsys)["model"]["id"] == "qwen3-8b"


def test_unknown_model_lists_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CatalogError, match="Did you mean qwen3-8b") as caught:
        fit_cli.run(parse(["qwen3-8", "--hardware", RTX_4060]))
    assert "Ollama tag" in caught.value.action
    assert cli.run(["fit", "qwen-9000", "--hardware", RTX_4060]) == 2
    assert "No model 'qwen-9000' in the catalog" in capsys.readouterr().err


def test_partial_offload_and_experts_option(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(["qwen3:30b", "--hardware", RTX_4060, "--context", "8192"], capsys)
    assert doc["verdict"] == "partial_gpu" and 2 <= doc["gpu_layers"] < 48
    (option,) = doc["options"]
    assert option["kind"] == "experts_on_cpu" and option["cpu_expert_layers"] == 36
    assert option["tokens_per_second_estimate"] > doc["tokens_per_second_estimate"]
    assert doc["max_context_tokens"]["full_gpu"] is None


def test_kv_cache_and_context(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(["qwen3-8b", "--hardware", RTX_4060, "--context", "32768",
                    "--kv-cache", "q8_0"], capsys)  # fmt: skip
    assert doc["kv_cache_bytes"] == 2 * 36 * 8 * 128 * 32_768 * 34 // 32
    assert doc["context_tokens"] == doc["requested_context_tokens"] == 32_768
    # A context past the window is capped at it (Qwen2.5-Math: 4K) and says so.
    math_doc = run_json(["qwen2.5-math-7b-instruct", "--hardware", RTX_4060,
                         "--context", "16384"], capsys)  # fmt: skip
    assert (math_doc["context_tokens"], math_doc["requested_context_tokens"]) == (4096, 16_384)


def test_transformers_engine(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(["qwen2.5-0.5b-instruct", "--engine", "transformers", "--quant", "float32",
                    "--hardware", RTX_4060], capsys)  # fmt: skip
    assert (doc["engine"], doc["quant"], doc["kv_type"]) == ("transformers", "fp32", "fp32")
    assert doc["weights_bytes"] == 494_032_768 * 4
    assert doc["kv_cache_bytes"] == 2 * 24 * 2 * 64 * 8192 * 4
    assert doc["max_context_tokens"]["partial_gpu"] is None  # one device only


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--engine", "transformers", "--kv-cache", "q8_0"], "compute dtype"),
        (["--engine", "transformers", "--quant", "Q4_K_M"], "for the transformers engine"),
        (["--quant", "nf4"], "for the ollama engine"),
    ],
)
def test_options_an_engine_does_not_offer(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(QwenDesktopError, match=message):
        fit_cli.run(parse(["qwen3-8b", "--hardware", RTX_4060, *argv]))
    assert cli.run(["fit", "qwen3-8b", "--hardware", RTX_4060, *argv]) == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_exit_with_usage() -> None:
    for argv in (["qwen3-8b", "--context", "0"], ["qwen3-8b", "--kv-cache", "q5_1"],
                 ["qwen3-8b", "--engine", "vllm"], []):  # fmt: skip
        with pytest.raises(SystemExit) as caught:
            parse(argv)
        assert caught.value.code == 2


def test_missing_profile_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(QwenDesktopError, match="Cannot read the hardware profile"):
        fit_cli.run(parse(["qwen3-8b", "--hardware", str(tmp_path / "nope.json")]))


def test_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert fit_cli.run(parse(["qwen3-8b", "--hardware", RTX_4060, "--context", "32768"])) == 0
    out = capsys.readouterr().out
    assert out.startswith("Qwen3 8B (qwen3-8b): Q4_K_M, 32K context, KV cache f16, engine ollama")
    assert "Verdict:  partial GPU: 17 of 36 layers on the GPU (comfortable)" in out
    assert "Largest context: GPU up to 8.8K · GPU+CPU up to 40K · CPU up to 40K" in out
    for line in ("weights", "KV cache", "compute graph", "fixed overhead", "RAM"):
        assert line in out
    assert "(estimate)" in out


def test_measured_speed_is_used_for_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    machine = MachineReport.from_file(Path(RTX_4060))
    record = Measurement(
        model_id="qwen3-8b", engine="ollama", quant="Q4_K_M", context_tokens=8192,
        machine_fingerprint=machine_fingerprint(machine), tokens_per_second=33.3,
        measured_at=datetime(2026, 11, 29, tzinfo=UTC),
    )  # fmt: skip
    with MeasurementStore.open_default() as store:
        store.record(record)
    doc = run_json(["qwen3-8b", "--hardware", RTX_4060], capsys)
    assert doc["speed_source"] == "measured"
    assert doc["tokens_per_second_estimate"] == pytest.approx(33.3)
    assert doc["measurement"]["tokens_per_second"] == 33.3
    assert "measured 33.3 tokens/s on this machine on 2026-11-29" in doc["reason"]
    # Another machine's profile does not pick it up.
    other = run_json(["qwen3-8b", "--hardware", str(PROFILES / "nvidia_24gb.json")], capsys)
    assert other["speed_source"] == "estimate"


def test_through_the_cli_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert "fit" in cli.VERB_MODULES
    assert cli.is_cli_invocation(["fit", "qwen3-8b"])
    assert cli.run(["fit", "qwen3-8b", "--hardware", RTX_4060, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "full_gpu"
