"""Matching local model folders to catalog variants."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

import pytest

from qwen_desktop.core.catalog import load_catalog
from qwen_desktop.core.model_identity import repo_name_of, variant_for_path


@pytest.mark.parametrize(
    ("path", "variant_id"),
    [
        (
            PurePosixPath("/home/a/.cache/huggingface/hub/models--Qwen--Qwen3-8B/snapshots/9c4"),
            "qwen3-8b",
        ),
        (PureWindowsPath(r"D:\Modelle\Qwen3-8B"), "qwen3-8b"),
        (PurePosixPath("/m/qwen2.5-7b-instruct"), "qwen2.5-7b-instruct"),
        (
            PurePosixPath("/c/models--Qwen--Qwen3-14B-GGUF/snapshots/x/qwen3-14b-q4_k_m.gguf"),
            "qwen3-14b",
        ),
    ],
)
def test_known_folders_match_their_variant(path: PurePosixPath, variant_id: str) -> None:
    variant = variant_for_path(load_catalog(), path)
    assert variant is not None and variant.id == variant_id


@pytest.mark.parametrize("name", ["tiny-qwen3", "Qwen3-8B-finetune", "", "Llama-3-8B"])
def test_other_folders_are_not_matched(name: str) -> None:
    assert variant_for_path(load_catalog(), PurePosixPath("/x") / name) is None


def test_repo_name_from_cache_path() -> None:
    cache = PurePosixPath("/c/models--Qwen--Qwen2.5-VL-7B-Instruct/snapshots/abc")
    assert repo_name_of(cache) == "Qwen/Qwen2.5-VL-7B-Instruct"
