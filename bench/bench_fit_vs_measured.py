"""Benchmark: the fit estimate of the Transformers engine against measured peak memory and speed.

Run: ``.venv/bin/python bench/bench_fit_vs_measured.py [--models ID,ID] [--dtypes fp32,bf16]
[--contexts 512,2048,4096] [--new-tokens 16]`` (minutes: one subprocess per case).

For each catalog model named (default: Qwen2.5-0.5B-Instruct, Qwen3-0.6B, Qwen2.5-1.5B-Instruct)
it builds a random-weight checkpoint with the model's real shape (``Qwen2ForCausalLM`` /
``Qwen3ForCausalLM`` from a config made of the catalog's figures: layers, widths, heads, head_dim,
vocabulary, tied embeddings), saved in the dtype it will be loaded in (so safetensors maps it
without a conversion copy), plus a small word-level tokenizer with a ChatML template. Then, per
dtype and context, a fresh Python process:

1. notes its resident memory before importing anything (``/proc/self/statm``);
2. loads the folder with the project's engine,
   ``qwen_desktop.engines.transformers_backend.TransformersBackend(device="cpu")`` (the dtype is
   forced through ``transformers_loading.CPU_FLOAT32_RAM_FRACTION``);
3. streams one answer whose prompt fills the context minus ``--new-tokens`` (greedy);
4. reports ``ru_maxrss`` (peak resident memory) and the engine's ``Usage`` (tokens/s, TTFT).

Measured = peak RSS − RSS at start (the engine's whole footprint: torch, weights, KV cache,
activations). Each case runs twice: with glibc's default malloc arenas, and as the app runs
(one arena, set at start by ``qwen_desktop.engines.native_memory.limit_malloc_arenas``): the
engine generates on its own thread, whose per-thread arena fragments and holds freed activation
memory, so the default run shows the tensors plus that slack. Predicted =
:func:`qwen_desktop.core.fit.estimate_fit` ``total_bytes`` for the same model, engine
``transformers``, dtype and context, on a report of this machine (its measured copy bandwidth).
The goal is ±10 %. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_MODELS = ("qwen2.5-0.5b-instruct", "qwen3-0.6b", "qwen2.5-1.5b-instruct")
TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
CHAT_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content "
    "+ '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
WORDS = 2000


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------ build


def build_checkpoint(model_id: str, dtype: str, dest: Path) -> int:
    """A random-weight checkpoint of ``model_id``'s shape in ``dest``; returns its parameters."""
    import torch
    from transformers import (
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    from qwen_desktop.core.catalog import load_catalog

    variant = load_catalog().get(model_id)
    arch = variant.architecture
    common: dict[str, Any] = {
        "hidden_size": arch.hidden_size,
        "intermediate_size": arch.intermediate_size,
        "num_hidden_layers": arch.layers,
        "num_attention_heads": arch.attention_heads,
        "num_key_value_heads": arch.kv_heads,
        "vocab_size": arch.vocab_size,
        "tie_word_embeddings": arch.tied_embeddings,
        "max_position_embeddings": variant.context_tokens,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }
    if variant.generation >= 3:
        model: Any = Qwen3ForCausalLM(Qwen3Config(head_dim=arch.head_dim, **common))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    model.to(getattr(torch, TORCH_DTYPES[dtype])).save_pretrained(dest)
    _tokenizer().save_pretrained(dest)
    return int(model.num_parameters())


def _words() -> list[str]:
    """:data:`WORDS` distinct lowercase words (deterministic)."""
    import random

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    found: dict[str, None] = {}
    while len(found) < WORDS:
        found["".join(rng.choice(letters) for _ in range(6))] = None
    return list(found)


def _tokenizer() -> Any:
    """A byte-level BPE with Qwen2's pre-tokenizer (transformers rebuilds a Qwen2 tokenizer from
    vocabulary and merges) trained so that each bench word is one token, plus ChatML."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    regex = (
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
        r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
    )
    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    corpus = [" ".join(_words()) + "\nuser assistant system\n"] * 20
    trainer = BpeTrainer(
        vocab_size=6 * WORDS, min_frequency=1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    tok.train_from_iterator(corpus, trainer=trainer)
    specials = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        bos_token=None, unk_token=None, clean_up_tokenization_spaces=False,
    )  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    return fast


# ------------------------------------------------------------------------------ worker


def worker(folder: str, dtype: str, context: int, new_tokens: int) -> dict[str, Any]:
    """One case in this (fresh) process: load, fill the context, generate; report memory."""
    import resource

    start_rss = _rss_bytes()
    from qwen_desktop.engines.native_memory import limit_malloc_arenas

    if not os.environ.get(GLIBC_DEFAULT_ENV):
        limit_malloc_arenas()  # what qwen_desktop.app.main does at start
    from qwen_desktop.core.types import ChatMessage, ChatRequest, SamplingSettings, Usage
    from qwen_desktop.engines import transformers_loading
    from qwen_desktop.engines.base import ModelSpec
    from qwen_desktop.engines.transformers_backend import TransformersBackend

    transformers_loading.CPU_FLOAT32_RAM_FRACTION = 1e9 if dtype == "fp32" else 0.0

    async def run() -> dict[str, Any]:
        backend = TransformersBackend(device="cpu")
        import_rss = _rss_bytes()
        loaded = await backend.load(ModelSpec(name="bench", path=Path(folder)))
        load_rss = _rss_bytes()
        target = context - new_tokens

        vocabulary = _words()

        def request(words: int) -> ChatRequest:
            text = " ".join(vocabulary[i % WORDS] for i in range(words))
            return ChatRequest(
                messages=(ChatMessage("user", text),),
                sampling=SamplingSettings(temperature=0.0, max_new_tokens=new_tokens, seed=0),
            )

        low, high = 1, target  # most words whose prompt stays within the target
        while low < high:
            middle = (low + high + 1) // 2
            if backend.count_prompt_tokens(request(middle)) <= target:
                low = middle
            else:
                high = middle - 1
        chat = request(low)
        prompt_tokens = backend.count_prompt_tokens(chat)
        usage: Usage | None = None
        started = time.perf_counter()
        async for event in backend.stream_chat(chat):
            if isinstance(event, Usage):
                usage = event
        elapsed = time.perf_counter() - started
        await backend.unload()
        return {
            "dtype_loaded": loaded.dtype,
            "start_rss": start_rss,
            "import_rss": import_rss,
            "load_rss": load_rss,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "prompt_tokens": prompt_tokens,
            "generated_tokens": usage.generated_tokens if usage else 0,
            "tokens_per_second": usage.tokens_per_second if usage else 0.0,
            "ttft_seconds": usage.ttft_seconds if usage else 0.0,
            "seconds": elapsed,
        }

    return asyncio.run(run())


# ------------------------------------------------------------------------------ driver


def this_machine(bandwidth: int | None) -> Any:
    """A report of this machine with plenty of RAM declared (the verdict is not the question)."""
    from qwen_desktop.core.machine import CpuInfo, MachineReport, MemoryInfo

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return MachineReport(
        cpu=CpuInfo(
            physical_cores=cores, logical_cores=cores,
            memory_bandwidth_bytes_per_second=bandwidth,
        ),
        memory=MemoryInfo(total_bytes=1 << 40, available_bytes=1 << 40),
    )  # fmt: skip


def measure_bandwidth() -> int | None:
    """This machine's RAM copy bandwidth (the app's own measurement), or None."""
    try:
        from qwen_desktop.hardware.bandwidth import measure_copy_bandwidth
    except ImportError:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return int(measure_copy_bandwidth(cores).bytes_per_second)


GLIBC_DEFAULT_ENV = "QWEN_BENCH_GLIBC_DEFAULT_ARENAS"
"""Set in a worker's environment: skip the app's arena limit (glibc's default arenas)."""
ALLOCATORS = (("default", {GLIBC_DEFAULT_ENV: "1"}), ("1 arena", {}))
MiB = 1024**2


def run_cases(folder: Path, dtype: str, ctx: int, new_tokens: int) -> dict[str, dict[str, Any]]:
    """One worker process per allocator setting; ``{}`` when one fails."""
    cases = {}
    for allocator, extra in ALLOCATORS:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(folder), dtype, str(ctx), str(new_tokens)],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, **extra},
        )  # fmt: skip
        if out.returncode != 0:
            print(f"{folder.name} {ctx}: worker failed\n{out.stderr[-2000:]}")
            return {}
        cases[allocator] = json.loads(out.stdout.strip().splitlines()[-1])
    return cases


def report(
    variant: Any, machine: Any, dtype: str, ctx: int, cases: dict[str, Any]
) -> tuple[float, float]:
    """Print one row; returns predicted / measured with default arenas and with one arena."""
    from qwen_desktop.core.fit import estimate_fit

    case, single = cases["default"], cases["1 arena"]
    measured = case["peak_rss"] - case["start_rss"]
    measured_single = single["peak_rss"] - single["start_rss"]
    fit = estimate_fit(
        variant, machine, quant=dtype, engine="transformers",
        context_tokens=case["prompt_tokens"] + case["generated_tokens"],
    )  # fmt: skip
    ratio, ratio_single = fit.total_bytes / measured, fit.total_bytes / measured_single
    print(
        f"{variant.id:22} {dtype:4} {ctx:>5} {fit.total_bytes / MiB:>7.0f} "
        f"{measured / MiB:>7.0f} {ratio:>5.2f} {measured_single / MiB:>7.0f} {ratio_single:>5.2f}"
        f" | {fit.weights_bytes / MiB:>5.0f} {fit.kv_cache_bytes / MiB:>4.0f} "
        f"{fit.graph_bytes / MiB:>4.0f} {fit.overhead_bytes / MiB:>4.0f} | "
        f"{fit.tokens_per_second_estimate or 0:>5.1f} {case['tokens_per_second']:>5.1f} "
        f"{single['tokens_per_second']:>5.1f} | "
        f"{(case['load_rss'] - case['start_rss']) / MiB:>4.0f} {case['ttft_seconds']:>5.1f}",
        flush=True,
    )
    return ratio, ratio_single


def build(model_id: str, dtype: str, folder: Path) -> int:
    """Build the checkpoint in a subprocess (keeps torch out of the driver); its parameters."""
    built = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.path.insert(0, sys.argv[1]);"
         "from bench.bench_fit_vs_measured import build_checkpoint;"
         "print(build_checkpoint(sys.argv[2], sys.argv[3], __import__('pathlib')"
         ".Path(sys.argv[4])))", str(ROOT), model_id, dtype, str(folder)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return int(built.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--contexts", default="512,2048,4096")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--worker", nargs=4, metavar=("FOLDER", "DTYPE", "CTX", "NEW"))
    args = parser.parse_args()
    if args.worker:
        folder, dtype, ctx, new = args.worker
        print(json.dumps(worker(folder, dtype, int(ctx), int(new))))
        return 0

    from qwen_desktop.core.catalog import load_catalog
    from qwen_desktop.core.fit_engines import architecture_parameters

    catalog = load_catalog()
    bandwidth = measure_bandwidth()
    machine = this_machine(bandwidth)
    shown = f"{bandwidth / 1e9:.1f} GB/s" if bandwidth else "unknown"
    print(f"CPU copy bandwidth: {shown}; {machine.cpu.physical_cores} cores")
    print("MiB; meas = peak RSS growth with glibc's default arenas, meas1 = as the app runs")
    print("(one malloc arena, engines/native_memory.py);")
    print("ratio = predicted / measured; tok/s: predicted, measured (default, 1 arena);")
    print("rt = RSS after import + load (weights not read yet), ttft in seconds")
    print(
        f"{'model':22} {'dtype':4} {'ctx':>5} {'pred':>7} {'meas':>7} {'ratio':>5} "
        f"{'meas1':>7} {'ratio':>5} | {'wts':>5} {'kv':>4} {'act':>4} {'fix':>4} | "
        f"{'tok/s':>5} {'meas':>5} {'meas1':>5} | {'rt':>4} {'ttft':>5}"
    )
    ratios: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="fit-bench-") as tmp:
        for model_id in args.models.split(","):
            variant = catalog.get(model_id)
            for dtype in args.dtypes.split(","):
                folder = Path(tmp) / f"{model_id}-{dtype}"
                real = build(model_id, dtype, folder)
                computed = architecture_parameters(variant)
                print(f"# {model_id}: built {real:,} parameters; catalog figures give {computed:,}")
                for ctx in (int(c) for c in args.contexts.split(",")):
                    if ctx <= variant.context_tokens:
                        cases = run_cases(folder, dtype, ctx, args.new_tokens)
                        if cases:
                            ratios.append(report(variant, machine, dtype, ctx, cases))
    for index, name in enumerate(("glibc default arenas", "the app: one arena")):
        values = [pair[index] for pair in ratios]
        if values:
            worst = max(values, key=lambda r: abs(r - 1))
            within = sum(abs(r - 1) <= 0.10 for r in values)
            print(
                f"predicted/measured ({name}): mean {sum(values) / len(values):.3f}, "
                f"worst {worst:.3f}, within ±10 %: {within}/{len(values)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
