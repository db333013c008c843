"""The health check: is the engine alive, is a model loaded, and are answers as fast as estimated.

:func:`build_report` composes a :class:`HealthReport` from facts the caller has (the window
knows its engine and last answer; the CLI probes for them). :func:`probe_health` is the CLI's
probe: an Ollama on the default address (``GET /api/version``), its loaded models (``GET
/api/ps``: ``size``, ``size_vram``; layers from ``/api/show``), the newest measured answer in the
measurement database and the fit estimate for that model on this machine.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qwen_desktop.core.catalog import Catalog
from qwen_desktop.core.explanations import (
    SLOW_ANSWER_RATIO,
    EngineFacts,
    Explanation,
    ModelPlacement,
    explain,
)
from qwen_desktop.core.machine import MachineReport
from qwen_desktop.engines.base import LoadedModel

CheckState = Literal["ok", "warning", "failed", "unknown"]

PS_TIMEOUT_S = 5.0
"""Timeout (seconds) of the ``/api/ps`` and ``/api/show`` calls of the CLI probe."""


@dataclass(frozen=True)
class HealthCheck:
    """One line of the health check.

    Attributes:
        name: ``engine``, ``model`` or ``speed``.
        state: ``ok``, ``warning`` (works, but slower or less than it should), ``failed`` or
            ``unknown`` (cannot be checked from here).
        detail: The figures, in words.
    """

    name: str
    state: CheckState
    detail: str

    def to_json(self) -> dict[str, Any]:
        """The check as a JSON object."""
        return {"name": self.name, "state": self.state, "detail": self.detail}


@dataclass(frozen=True)
class LastAnswer:
    """The last finished answer's timings.

    Attributes:
        model: Which model answered.
        tokens_per_second: Decode speed.
        ttft_seconds: Time to first token (seconds), when known.
    """

    model: str
    tokens_per_second: float
    ttft_seconds: float | None = None


@dataclass(frozen=True)
class HealthReport:
    """Every check and the explanations that apply."""

    checks: tuple[HealthCheck, ...]
    explanations: tuple[Explanation, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return all(check.state != "failed" for check in self.checks)

    def check(self, name: str) -> HealthCheck:
        """The check called ``name``.

        Raises:
            KeyError: No such check.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object (``qwen-desktop health --json``)."""
        return {
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
            "explanations": [item.to_json() for item in self.explanations],
        }


def build_report(
    *,
    engine: str | None,
    engine_alive: bool | None,
    engine_detail: str,
    loaded_models: Sequence[str],
    last: LastAnswer | None,
    estimate_tokens_per_second: float | None,
    explanations: Sequence[Explanation] = (),
) -> HealthReport:
    """The health report from known facts.

    Args:
        engine: The engine's name (``ollama``, ``transformers``), or None when none is set up.
        engine_alive: True when it answers, False when it does not, None when unknown here.
        engine_detail: Where it runs, its version, or why it is down, in words.
        loaded_models: Models the engine holds in memory now.
        last: The last answer's timings, or None when no answer was measured.
        estimate_tokens_per_second: The fit estimate's speed for ``last.model`` here.
        explanations: Explanations already found (the slow-answer one is added here).
    """
    if engine is None:
        engine_check = HealthCheck("engine", "failed", engine_detail or "No engine is set up.")
    else:
        states: dict[bool | None, CheckState] = {True: "ok", False: "failed", None: "unknown"}
        state = states[engine_alive]
        engine_check = HealthCheck("engine", state, f"{engine}: {engine_detail}".rstrip(": "))
    if loaded_models:
        verb = "is" if len(loaded_models) == 1 else "are"
        model_check = HealthCheck("model", "ok", f"{', '.join(loaded_models)} {verb} loaded.")
    elif engine_alive is None:
        model_check = HealthCheck("model", "unknown", "Cannot be seen from here.")
    else:
        model_check = HealthCheck("model", "warning", "No model is loaded.")
    found = list(explanations)
    if last is None:
        speed_check = HealthCheck("speed", "unknown", "No answer has been measured yet.")
    else:
        ttft = (
            "" if last.ttft_seconds is None else f"time to first token {last.ttft_seconds:.2f} s, "
        )
        detail = f"Last answer ({last.model}): {ttft}{last.tokens_per_second:.1f} tokens/s"
        speed_state: CheckState = "ok"
        if estimate_tokens_per_second:
            detail += f" (estimate {estimate_tokens_per_second:.1f} tokens/s)"
            if last.tokens_per_second < SLOW_ANSWER_RATIO * estimate_tokens_per_second:
                speed_state = "warning"
                found += explain(
                    [],
                    measured_tokens_per_second=last.tokens_per_second,
                    estimated_tokens_per_second=estimate_tokens_per_second,
                )
        speed_check = HealthCheck("speed", speed_state, detail + ".")
    return HealthReport((engine_check, model_check, speed_check), tuple(found))


# -- the CLI's probe ---------------------------------------------------------------------------


def newest_measurement(path: Path) -> dict[str, Any] | None:
    """The newest row of the measurement database (read-only; never creates it), or None.

    Returns:
        ``{"model_id", "engine", "quant", "context_tokens", "tokens_per_second",
        "ttft_seconds"}`` (see :mod:`qwen_desktop.core.measurement_store` for the schema).
    """
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = db.execute(
            "SELECT model_id, engine, quant, context_tokens, tokens_per_second, ttft_seconds "
            "FROM measurements ORDER BY measured_at DESC, id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    if row is None:
        return None
    keys = ("model_id", "engine", "quant", "context_tokens", "tokens_per_second", "ttft_seconds")
    return dict(zip(keys, row, strict=True))


def estimate_for(measured: dict[str, Any], models_dir: Path) -> float | None:
    """The fit estimate's tokens/s for a measured model on this machine (a scan: ~0.5 s), without
    the measurement's correction; None when the model is not in the catalog."""
    from qwen_desktop.core.catalog import load_catalog
    from qwen_desktop.core.fit import estimate_fit
    from qwen_desktop.hardware.probe import probe_machine

    variant = load_catalog().find(str(measured["model_id"]))
    if variant is None:
        return None
    try:
        fit = estimate_fit(
            variant,
            probe_machine(models_dir),
            quant=str(measured["quant"]),
            engine=str(measured["engine"]),
            context_tokens=int(measured["context_tokens"]),
        )
    except ValueError:
        return None
    return fit.tokens_per_second_estimate


async def _ollama_placements(url: str) -> list[ModelPlacement]:
    from qwen_desktop.engines.http_clients import ollama_client

    async with ollama_client(url, read_timeout_s=PS_TIMEOUT_S) as client:
        return await _placements_from(client)


async def _placements_from(client: Any) -> list[ModelPlacement]:
    running = await client.ps()
    placements = []
    for entry in running.models:
        name = str(entry.model or entry.name or "?")
        layers = None
        with contextlib.suppress(Exception):  # the layer count only refines the wording
            show = await client.show(name)
            info = show.modelinfo or {}
            arch = str(info.get("general.architecture", ""))
            layers = int(info.get(f"{arch}.block_count", 0)) or None
        placements.append(
            ModelPlacement(
                name=name,
                size_bytes=int(entry.size or 0),
                size_vram_bytes=int(entry.size_vram or 0),
                layers_total=layers,
            )
        )
    return placements


async def probe_health(
    measurements_path: Path,
    models_dir: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    gpu_present: bool = False,
) -> HealthReport:
    """Check the engine a user runs beside the app (Ollama on its default address), its loaded
    models and the newest measured answer.

    Args:
        measurements_path: The measurement database (read only when it exists).
        models_dir: The models folder (for the scan behind the estimate).
        host, port: The Ollama address (default: ``OLLAMA_HOST`` or 127.0.0.1:11434).
        gpu_present: This computer has a GPU (a model entirely on the CPU is then explained).
    """
    from qwen_desktop.engines.ollama_discovery import find_running_ollama

    running = await find_running_ollama(host, port)
    placements: list[ModelPlacement] = []
    found: list[Explanation] = []
    if running.state == "ollama":
        alive: bool | None = True
        detail = f"Ollama {running.version} answers at {running.url}."
        try:
            placements = await _ollama_placements(running.url)
        except Exception as exc:
            alive, detail = False, f"Ollama at {running.url} did not list its models: {exc}"
        facts = EngineFacts(name="Ollama", gpu_present=gpu_present)
        for placement in placements:
            found += explain([], placement=placement, engine=facts)
    else:
        alive = None
        detail = (
            f"{running.offer} The Transformers engine runs inside the app's window and is "
            "checked there (View → Monitor)."
        )
    measured = newest_measurement(measurements_path)
    last = estimate = None
    if measured is not None:
        last = LastAnswer(
            model=str(measured["model_id"]),
            tokens_per_second=float(measured["tokens_per_second"]),
            ttft_seconds=None
            if measured["ttft_seconds"] is None
            else float(measured["ttft_seconds"]),
        )
        estimate = estimate_for(measured, models_dir)
    return build_report(
        engine="ollama" if running.state == "ollama" else "none running",
        engine_alive=alive,
        engine_detail=detail,
        loaded_models=[
            f"{p.name} ({round(100 * (1 - p.cpu_fraction))} % in VRAM)" for p in placements
        ],
        last=last,
        estimate_tokens_per_second=estimate,
        explanations=found,
    )


# -- the window's facts ------------------------------------------------------------------------

ENGINE_GPU_VENDORS = {
    "transformers": frozenset({"nvidia", "amd", "apple"}),  # CUDA, ROCm, MPS builds of PyTorch
    "ollama": frozenset({"nvidia", "amd", "apple", "intel"}),  # CUDA, ROCm, Metal, Vulkan
}
"""GPU vendors each engine can run on (a GPU of another vendor does not count as "present")."""

ESTIMATE_CONTEXT_TOKENS = 8192
"""Context (tokens) the window's estimate plans for, as the recommendations do."""


def engine_facts_for(loaded: LoadedModel, machine: MachineReport | None) -> EngineFacts:
    """What the loaded model's engine runs on, and whether this computer has a GPU it could use.

    The device of an in-process engine (``cpu``, ``cuda:0``, ``mps``) is its compute library.
    """
    vendors = ENGINE_GPU_VENDORS.get(loaded.engine, frozenset())
    gpus = machine.gpus if machine is not None else []
    device = loaded.device.split(":", 1)[0].split(" ", 1)[0]
    return EngineFacts(
        name=loaded.engine,
        compute_library=device or None,
        gpu_present=any(gpu.vendor in vendors for gpu in gpus),
    )


def estimate_for_loaded(
    catalog: Catalog, machine: MachineReport | None, loaded: LoadedModel, path: Path | None
) -> float | None:
    """The fit estimate's tokens/s for the loaded model on ``machine`` (None when the model is
    not a catalog variant, the machine is not scanned yet or the engine/quantization is not one
    the estimate knows)."""
    from qwen_desktop.core.fit import estimate_fit
    from qwen_desktop.core.model_identity import variant_for_path

    if machine is None or path is None:
        return None
    variant = variant_for_path(catalog, path)
    if variant is None:
        return None
    window = loaded.capabilities.context_window_tokens or ESTIMATE_CONTEXT_TOKENS
    try:
        fit = estimate_fit(
            variant,
            machine,
            quant=loaded.dtype,
            engine=loaded.engine,
            context_tokens=min(window, ESTIMATE_CONTEXT_TOKENS),
        )
    except ValueError:
        return None
    return fit.tokens_per_second_estimate
