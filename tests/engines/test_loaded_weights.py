"""A checkpoint missing some of its model's tensors is refused, never loaded as random noise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qwen_desktop.engines.checkpoint import CheckpointError
from qwen_desktop.engines.transformers_runtime import check_loaded_weights


def test_missing_and_mismatched_weights_are_named() -> None:
    check_loaded_weights({"missing_keys": set(), "mismatched_keys": set()}, tied=False)
    check_loaded_weights({"missing_keys": {"lm_head.weight"}}, tied=True)  # tied: not missing
    with pytest.raises(ValueError, match=r"1 of the model's weights are missing .*lm_head"):
        check_loaded_weights({"missing_keys": {"lm_head.weight"}}, tied=False)
    keys = {f"model.layers.{i}.mlp.up_proj.weight" for i in range(5)}
    with pytest.raises(ValueError, match=r"5 of the model's weights are of another shape.*2 more"):
        check_loaded_weights({"mismatched_keys": [(k, (1,), (2,)) for k in keys]}, tied=False)


@pytest.mark.asyncio
async def test_a_checkpoint_without_one_tensor_is_refused(
    tiny_qwen3_random_path: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file, save_file

    from qwen_desktop.engines.base import ModelSpec
    from qwen_desktop.engines.transformers_backend import TransformersBackend

    folder = tmp_path / "partial"
    shutil.copytree(tiny_qwen3_random_path, folder)
    weights = load_file(folder / "model.safetensors")
    dropped = next(name for name in weights if name.endswith("mlp.down_proj.weight"))
    del weights[dropped]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    backend = TransformersBackend(device="cpu")
    with pytest.raises(CheckpointError) as caught:
        await backend.load(ModelSpec(name="partial", path=folder))
    assert "missing from the checkpoint" in caught.value.message
    assert dropped in caught.value.message
    assert backend.loaded is None
