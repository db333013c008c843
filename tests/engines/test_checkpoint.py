"""Checkpoint validation: every broken folder is refused with a message a person can act on."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from qwen_desktop.core.errors import CheckpointError
from qwen_desktop.engines.checkpoint import (
    inspect_checkpoint,
    read_safetensors_header,
    transformers_supports_model_type,
)

TINY_PARAMETERS = 121_216  # embed 368×64 + lm_head 368×64 + 2 layers + norm (float32)


@pytest.fixture
def model_dir(tiny_qwen3_path: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny trained checkpoint that a test may break."""
    return Path(shutil.copytree(tiny_qwen3_path, tmp_path / "tiny-qwen3"))


def refused(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as caught:
        inspect_checkpoint(path)
    error = caught.value
    assert error.message and error.action, "every refusal says what is wrong and what to do"
    return error


def test_a_good_checkpoint_is_described(tiny_qwen3_path: Path) -> None:
    info = inspect_checkpoint(tiny_qwen3_path)
    assert info.architecture == "Qwen3ForCausalLM"
    assert info.model_type == "qwen3"
    assert info.parameters == TINY_PARAMETERS
    assert info.dtype == "float32"
    assert info.weights_bytes == (tiny_qwen3_path / "model.safetensors").stat().st_size
    assert info.context_window_tokens == 8192
    assert (info.layers, info.kv_heads, info.head_dim) == (2, 2, 16)
    assert info.has_vision is False
    assert info.weight_files == (tiny_qwen3_path / "model.safetensors",)


def test_inspection_does_not_import_torch(tiny_qwen3_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from qwen_desktop.engines.checkpoint import inspect_checkpoint\n"
        f"inspect_checkpoint(Path({str(tiny_qwen3_path)!r}))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_folder(tmp_path: Path) -> None:
    error = refused(tmp_path / "nowhere")
    assert "does not exist" in error.message


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("hello")
    error = refused(file)
    assert "is a file, not a model folder" in error.message


def test_a_gguf_file_is_sent_to_ollama(tmp_path: Path) -> None:
    file = tmp_path / "qwen3-0.6b-q4_k_m.gguf"
    file.write_bytes(b"GGUF" + bytes(64))
    error = refused(file)
    assert "GGUF file" in error.message
    assert "Ollama" in error.action


def test_a_gguf_only_folder_is_sent_to_ollama(tmp_path: Path) -> None:
    (tmp_path / "Qwen3-0.6B-Q4_K_M.gguf").write_bytes(b"GGUF" + bytes(64))
    error = refused(tmp_path)
    assert "looks like a GGUF model folder" in error.message
    assert "Qwen3-0.6B-Q4_K_M.gguf" in error.message
    assert "Ollama" in error.action


def test_no_config(model_dir: Path) -> None:
    (model_dir / "config.json").unlink()
    error = refused(model_dir)
    assert "has no config.json" in error.message


def test_config_not_json(model_dir: Path) -> None:
    (model_dir / "config.json").write_text('{"model_type": "qwen3",', encoding="utf-8")
    error = refused(model_dir)
    assert "config.json in tiny-qwen3 is not valid JSON" in error.message
    assert "download the model again" in error.action.lower()


def test_unknown_architecture_names_the_installed_transformers(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    config.update(model_type="qwen99_future", architectures=["Qwen99ForCausalLM"])
    (model_dir / "config.json").write_text(json.dumps(config))
    error = refused(model_dir)
    version = metadata.version("transformers")
    assert error.message == (
        "This model's architecture (Qwen99ForCausalLM, model_type 'qwen99_future') is not "
        f"supported by the installed transformers {version}."
    )
    assert "pip install -U transformers" in error.action


def test_model_type_support_fast_path_and_authoritative_fallback() -> None:
    version = metadata.version("transformers")
    assert transformers_supports_model_type("qwen3") == (True, version)
    assert transformers_supports_model_type("qwen2_5_vl") == (True, version)
    assert transformers_supports_model_type("gpt-sw3") == (True, version)  # no folder of its own
    assert transformers_supports_model_type("qwen99_future") == (False, version)


def test_missing_weights(model_dir: Path) -> None:
    (model_dir / "model.safetensors").unlink()
    error = refused(model_dir)
    assert "no model weights" in error.message


def test_c10_truncated_safetensors_is_incomplete_and_never_loaded(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    full = weights.stat().st_size
    with weights.open("r+b") as handle:
        handle.truncate(int(full * 0.6))
    error = refused(model_dir)
    assert error.message == (
        f"model.safetensors is incomplete: {int(full * 0.6):,} of {full:,} bytes (60 %). "
        "It will not be loaded."
    )
    assert "resume" in error.action


def test_truncated_inside_the_header(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.truncate(20)
    assert "is incomplete" in refused(model_dir).message


def test_corrupt_header(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:12] = b"\xff\xfe{!"  # garbage where the JSON header starts
    weights.write_bytes(bytes(data))
    error = refused(model_dir)
    assert error.message == (
        "model.safetensors is corrupt: its header is not valid JSON. It will not be loaded."
    )


def test_absurd_header_length(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[:8] = struct.pack("<Q", 10**12)
    weights.write_bytes(bytes(data))
    assert "header claims" in refused(model_dir).message


def test_extra_bytes_are_corrupt(model_dir: Path) -> None:
    with (model_dir / "model.safetensors").open("ab") as handle:
        handle.write(b"\0" * 10)
    assert "where its header describes" in refused(model_dir).message


def _shard(model_dir: Path) -> None:
    """Turn the single weights file into a two-shard checkpoint with an index."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(model_dir / "model.safetensors")
    names = sorted(tensors)
    half = len(names) // 2
    files = {"model-00001-of-00002.safetensors": names[:half]}
    files["model-00002-of-00002.safetensors"] = names[half:]
    weight_map = {}
    for file, members in files.items():
        save_file({n: tensors[n] for n in members}, model_dir / file, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(members, file))
    (model_dir / "model.safetensors").unlink()
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index))


def test_sharded_checkpoint_counts_all_shards(model_dir: Path) -> None:
    _shard(model_dir)
    info = inspect_checkpoint(model_dir)
    assert info.parameters == TINY_PARAMETERS
    assert [f.name for f in info.weight_files] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]


def test_missing_shard(model_dir: Path) -> None:
    _shard(model_dir)
    (model_dir / "model-00002-of-00002.safetensors").unlink()
    error = refused(model_dir)
    assert error.message == (
        "1 of 2 weight shards of this model is missing (model-00002-of-00002.safetensors)."
    )
    assert "incomplete" in error.action


def test_missing_tokenizer(model_dir: Path) -> None:
    (model_dir / "tokenizer.json").unlink()
    error = refused(model_dir)
    assert "There is no tokenizer in tiny-qwen3" in error.message


def test_vocab_and_merges_count_as_a_tokenizer(model_dir: Path) -> None:
    (model_dir / "tokenizer.json").unlink()
    (model_dir / "vocab.json").write_text("{}")
    (model_dir / "merges.txt").write_text("#version: 0.2\n")
    assert inspect_checkpoint(model_dir).model_type == "qwen3"


def test_missing_chat_template(model_dir: Path) -> None:
    tokenizer_config = model_dir / "tokenizer_config.json"
    config = json.loads(tokenizer_config.read_text(encoding="utf-8"))
    template = config.pop("chat_template")
    tokenizer_config.write_text(json.dumps(config), encoding="utf-8")
    error = refused(model_dir)
    assert "has no chat template" in error.message
    assert "Instruct" in error.action
    (model_dir / "chat_template.jinja").write_text(template, encoding="utf-8")
    assert inspect_checkpoint(model_dir).model_type == "qwen3"


def test_header_reader_reports_sizes(tiny_qwen3_path: Path) -> None:
    info = read_safetensors_header(tiny_qwen3_path / "model.safetensors")
    assert info.size_bytes == info.expected_bytes
    assert info.parameters == TINY_PARAMETERS
    assert info.bytes_by_dtype == {"float32": TINY_PARAMETERS * 4}


def test_non_ascii_folder(model_dir: Path, tmp_path: Path) -> None:
    moved = model_dir.rename(tmp_path / "模型 Ünïcode")
    assert inspect_checkpoint(moved).path == moved
    (moved / "model.safetensors").write_bytes(b"\x01")
    assert refused(moved).message.startswith("model.safetensors is incomplete")
