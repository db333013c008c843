"""The tiny GGUF fixture is a real llama.cpp model: it loads, keeps its template, answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.tiny_gguf import split_gguf

llama_cpp = pytest.importorskip("llama_cpp")


def _greedy(model: object, prompt: str, limit: int = 40) -> str:
    ids = model.tokenize(prompt.encode(), add_bos=False, special=True)  # type: ignore[attr-defined]
    out: list[int] = []
    for token in model.generate(ids, temp=0.0, top_k=1):  # type: ignore[attr-defined]
        if token == model.token_eos() or len(out) >= limit:  # type: ignore[attr-defined]
            break
        out.append(token)
    return bytes(model.detokenize(out)).decode()  # type: ignore[attr-defined]


def test_tiny_gguf_loads_in_llama_cpp_and_answers_in_the_thinking_format(
    tiny_qwen3_gguf: Path,
) -> None:
    model = llama_cpp.Llama(model_path=str(tiny_qwen3_gguf), n_ctx=256, n_threads=1, verbose=False)
    assert model.metadata["general.architecture"] == "qwen3"
    assert "enable_thinking" in model.metadata["tokenizer.chat_template"]
    text = _greedy(model, "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
    assert text.startswith("<think>")
    assert "</think>" in text


def test_split_gguf_loads_from_its_first_shard(tiny_qwen3_gguf: Path, tmp_path: Path) -> None:
    shards = split_gguf(tiny_qwen3_gguf, tmp_path, 3)
    assert [p.name[-20:] for p in shards] == [
        "-00001-of-00003.gguf",
        "-00002-of-00003.gguf",
        "-00003-of-00003.gguf",
    ]
    whole = llama_cpp.Llama(model_path=str(tiny_qwen3_gguf), n_ctx=256, verbose=False)
    split = llama_cpp.Llama(model_path=str(shards[0]), n_ctx=256, verbose=False)
    prompt = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    assert _greedy(split, prompt) == _greedy(whole, prompt)
