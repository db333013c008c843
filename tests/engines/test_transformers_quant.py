"""Transformers load options: dtypes everywhere, bitsandbytes int8/nf4 only with CUDA (this
machine has no GPU: the refusals and the ``BitsAndBytesConfig`` are checked here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_desktop.core.errors import EngineUnavailableError
from qwen_desktop.engines import transformers_quant
from qwen_desktop.engines.transformers_quant import LoadPlan, bitsandbytes_config, plan_load


@pytest.mark.parametrize(
    ("quant", "dtype"), [("bf16", "bfloat16"), ("half", "float16"), ("fp32", "float32")]
)
def test_dtypes_load_anywhere(quant: str, dtype: str) -> None:
    plan = plan_load(quant, device="cpu")
    assert (plan.dtype, plan.bitsandbytes, plan.label) == (dtype, False, dtype)


@pytest.mark.parametrize(
    ("quant", "device", "where"), [("4bit", "cpu", "the CPU"), ("int8", "mps", "MPS")]
)
def test_bitsandbytes_is_refused_without_cuda(quant: str, device: str, where: str) -> None:
    with pytest.raises(EngineUnavailableError) as caught:
        plan_load(quant, device=device)
    assert "needs an NVIDIA GPU with CUDA" in caught.value.message and where in caught.value.message
    assert "bf16" in caught.value.action and "Q4_K_M" in caught.value.action


def test_bitsandbytes_missing_on_cuda_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transformers_quant, "bitsandbytes_installed", lambda: False)
    with pytest.raises(EngineUnavailableError) as caught:
        plan_load("nf4", device="cuda:0")
    assert "qwen-desktop[cuda]" in caught.value.action


def test_plans_on_cuda_follow_the_gpus_compute_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transformers_quant, "bitsandbytes_installed", lambda: True)
    assert plan_load("nf4", device="cuda") == LoadPlan(
        "nf4", "bfloat16", True, "nf4 (bitsandbytes, bfloat16 compute)"
    )
    assert plan_load("int8", device="cuda", cuda_bf16=False).dtype == "float16"


def test_unknown_options_are_refused() -> None:
    with pytest.raises(EngineUnavailableError, match="unknown quantization"):
        plan_load("q4_k_m", device="cuda")


def test_bitsandbytes_configs_match_the_fit_estimate() -> None:
    torch = pytest.importorskip("torch")
    nf4 = bitsandbytes_config(LoadPlan("nf4", "bfloat16", True, ""))
    assert nf4.load_in_4bit and nf4.bnb_4bit_quant_type == "nf4"
    assert nf4.bnb_4bit_compute_dtype is torch.bfloat16 and not nf4.bnb_4bit_use_double_quant
    int8 = bitsandbytes_config(LoadPlan("int8", "bfloat16", True, ""))
    assert int8.load_in_8bit and not int8.load_in_4bit
    with pytest.raises(ValueError):
        bitsandbytes_config(LoadPlan("bf16", "bfloat16", False, "bfloat16"))


@pytest.mark.asyncio
async def test_the_transformers_backend_refuses_nf4_on_cpu_before_loading_weights(
    tiny_qwen3_path: Path,
) -> None:
    from qwen_desktop.engines.base import ModelSpec
    from qwen_desktop.engines.transformers_backend import TransformersBackend

    backend = TransformersBackend(device="cpu", quantization="nf4")
    with pytest.raises(EngineUnavailableError, match="CUDA"):
        await backend.load(ModelSpec("tiny", tiny_qwen3_path))
    assert backend.loaded is None
