"""The Qwen model catalog: ``resources/catalog/qwen.toml`` loaded and validated.

The catalog is a data file, not code. Each ``[[variants]]`` table describes one model variant
(one Hugging Face repository) with units in its field names (``parameters`` is a count of weights,
``context_tokens`` is ``max_position_embeddings``, ``size_bytes`` is a download size in bytes).
Figures come from ``shared/research/qwen-catalog.md``; rows whose figures the research marks as
estimates carry ``verified = false``.

Validation goes beyond types (pydantic, strict, unknown fields refused): ids are unique, twins
exist and point back, the thinking kind agrees with the tasks (a ``reasoning`` variant thinks),
MoE rows have fewer active than total parameters, ``kv_heads`` does not exceed ``attention_heads``.
Every failure raises :class:`~qwen_desktop.core.errors.CatalogError` naming the row and the field.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qwen_desktop.core.errors import CatalogError
from qwen_desktop.core.paths import resources_dir
from qwen_desktop.core.types import ThinkingKind

Task = Literal["chat", "code", "math", "vision", "reasoning"]
TASKS: tuple[str, ...] = get_args(Task)
"""Every task a variant can be recommended for."""

Modality = Literal["text", "image+text"]
License = Literal["apache-2.0", "qwen-research", "qwen"]

SCHEMA_VERSION = 1
CATALOG_FILE_NAME = "qwen.toml"

_ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]*$"
_REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_FIX_ACTION = "The bundled catalog is damaged: reinstall qwen-desktop or fix resources/catalog."


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Architecture(_Strict):
    """What the memory estimate needs from a variant's ``config.json``.

    Attributes:
        layers: ``num_hidden_layers`` (transformer blocks).
        kv_heads: ``num_key_value_heads``.
        head_dim: Size of one attention head (read from config, never hidden/heads: Qwen3's
            head_dim is 128 although hidden/heads differs).
        hidden_size: ``hidden_size`` when known.
        attention_heads: ``num_attention_heads`` when known.
        vocab_size: ``vocab_size`` when known.
        kv_layers: Layers that keep a KV cache, for hybrid-attention models (only every Nth layer
            is full attention); ``None`` means every layer.
        experts: Routed experts per MoE layer (MoE only).
        intermediate_size: ``intermediate_size`` of the dense MLP when known (activations of the
            Transformers engine, exact parameter counts).
        moe_intermediate_size: ``moe_intermediate_size``: the MLP width of one routed expert (MoE).
        experts_per_token: ``num_experts_per_tok``: routed experts each token uses (MoE).
        tied_embeddings: ``tie_word_embeddings``: the output layer shares the input embedding
            matrix (one copy in memory); ``None`` when unknown.
    """

    layers: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    hidden_size: int | None = Field(default=None, gt=0)
    attention_heads: int | None = Field(default=None, gt=0)
    vocab_size: int | None = Field(default=None, gt=0)
    kv_layers: int | None = Field(default=None, gt=0)
    experts: int | None = Field(default=None, gt=1)
    intermediate_size: int | None = Field(default=None, gt=0)
    moe_intermediate_size: int | None = Field(default=None, gt=0)
    experts_per_token: int | None = Field(default=None, gt=0)
    tied_embeddings: bool | None = None

    @property
    def kv_layer_count(self) -> int:
        """Layers that hold a KV cache: ``kv_layers`` for hybrid attention, else ``layers``."""
        return self.kv_layers if self.kv_layers is not None else self.layers


class OllamaInfo(_Strict):
    """A variant's entry in Ollama's library.

    Attributes:
        tag: The model tag to pull (``qwen3:8b``).
        size_bytes: Download size as listed (decimal: "5.2 GB" = 5_200_000_000); ``None`` when
            the research did not confirm it.
        quant: Quantization of that tag (Ollama's defaults are Q4_K_M).
    """

    tag: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._\-]*:[a-z0-9][a-z0-9._\-]*$")
    size_bytes: int | None = Field(default=None, gt=0)
    quant: str = "Q4_K_M"


class Variant(_Strict):
    """One model variant of the catalog (one Hugging Face repository).

    Attributes:
        id: Stable identifier (``qwen3-8b``), lowercase.
        hf_repo: Hugging Face repository (``Qwen/Qwen3-8B``).
        family: Release family (``qwen3``, ``qwen3-2507``, ``qwen2.5-coder``, …).
        generation: Qwen generation number (2.5, 3.0, 3.5); newer ranks higher at similar size.
        display_name: Name shown to people.
        parameters: Total parameter count (all experts for MoE).
        active_parameters: Parameters used per token (MoE only).
        context_tokens: Context window in tokens (``max_position_embeddings``).
        modality: ``text`` or ``image+text``.
        tasks: What the variant is recommended for.
        thinking_kind: Whether it thinks, always, or never (case C5).
        twin: Id of the variant with the other thinking kind (Instruct ↔ Thinking), if any.
        architecture: Figures for the memory estimate.
        ollama: Ollama library entry, when there is one.
        gguf_repo: Official GGUF repository, only where the research confirms one.
        license: ``apache-2.0``, ``qwen-research`` (non-commercial) or ``qwen`` (commercial use
            allowed below 100 million monthly active users).
        license_verified: False when the research did not confirm the licence.
        commercial_use: Whether the licence allows commercial use.
        verified: False when the research marks the figures as estimates or unverified.
        vision_parameters: Parameters of the vision tower (ViT + merger) of image+text variants,
            included in ``parameters``; ``None`` when unknown.
        vision_parameters_verified: False when ``vision_parameters`` is derived from remembered
            config values rather than a checked source.
        notes: Free text for people.
    """

    id: str = Field(pattern=_ID_PATTERN)
    hf_repo: str = Field(pattern=_REPO_PATTERN)
    family: str = Field(min_length=1)
    generation: float = Field(gt=0)
    display_name: str = Field(min_length=1)
    parameters: int = Field(gt=0)
    active_parameters: int | None = Field(default=None, gt=0)
    context_tokens: int = Field(gt=0)
    modality: Modality
    tasks: list[Task] = Field(min_length=1)
    thinking_kind: Annotated[ThinkingKind, Field(strict=False)]
    twin: str | None = None
    architecture: Architecture
    ollama: OllamaInfo | None = None
    gguf_repo: str | None = Field(default=None, pattern=_REPO_PATTERN)
    license: License
    license_verified: bool = True
    commercial_use: bool
    verified: bool = True
    vision_parameters: int | None = Field(default=None, gt=0)
    vision_parameters_verified: bool = True
    notes: str = ""

    @property
    def is_moe(self) -> bool:
        """True for mixture-of-experts variants."""
        return self.active_parameters is not None

    @property
    def thinks(self) -> bool:
        """True when the variant can think (hybrid or thinking-only)."""
        return self.thinking_kind is not ThinkingKind.INSTRUCT_ONLY

    @property
    def active_parameter_count(self) -> int:
        """Parameters read per generated token: ``active_parameters`` for MoE, else all."""
        return self.active_parameters if self.active_parameters is not None else self.parameters


class Catalog:
    """The validated catalog: variants in file order, looked up by id or task.

    Build it with :func:`load_catalog` (or :meth:`from_data` for data already parsed).
    """

    def __init__(self, variants: tuple[Variant, ...], source: str = "") -> None:
        self._variants = variants
        self._by_id = {variant.id: variant for variant in variants}
        self.source = source

    @classmethod
    def from_data(cls, data: Mapping[str, Any], source: str = "<data>") -> Catalog:
        """Validate parsed catalog data (the TOML document as a dict).

        Raises:
            CatalogError: Wrong schema version, a row that fails validation (the message names
                the row id and the field), or a broken reference between rows.
        """
        unknown = sorted(set(data) - {"schema_version", "variants"})
        if unknown:
            raise CatalogError(
                f"Catalog {source}: unknown top-level field {unknown[0]!r}.", _FIX_ACTION
            )
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise CatalogError(
                f"Catalog {source}: field 'schema_version' is {version!r}, "
                f"expected {SCHEMA_VERSION}.",
                _FIX_ACTION,
            )
        rows = data.get("variants")
        if not isinstance(rows, list) or not rows:
            raise CatalogError(f"Catalog {source}: field 'variants' has no rows.", _FIX_ACTION)
        variants = tuple(_parse_row(index, row, source) for index, row in enumerate(rows))
        for variant in variants:
            _check_variant(variant, source)
        _check_references(variants, source)
        return cls(variants, source)

    @property
    def variants(self) -> tuple[Variant, ...]:
        """All variants, in file order."""
        return self._variants

    def __iter__(self) -> Iterator[Variant]:
        return iter(self._variants)

    def __len__(self) -> int:
        return len(self._variants)

    def __contains__(self, variant_id: object) -> bool:
        return variant_id in self._by_id

    def find(self, variant_id: str) -> Variant | None:
        """The variant with this id, or ``None``."""
        return self._by_id.get(variant_id)

    def get(self, variant_id: str) -> Variant:
        """The variant with this id.

        Raises:
            CatalogError: No variant has this id.
        """
        variant = self._by_id.get(variant_id)
        if variant is None:
            raise CatalogError(
                f"No model {variant_id!r} in the catalog.",
                "Run `qwen-desktop recommend` to see the catalog's model ids.",
            )
        return variant

    def resolve(self, name: str) -> Variant:
        """The variant a person means by ``name``: a catalog id (``qwen3-8b``), a Hugging Face
        repository (``Qwen/Qwen3-8B``, or without the ``Qwen/`` owner), or an Ollama tag
        (``qwen3:8b``). Case-insensitive.

        Raises:
            CatalogError: Nothing matches; the message lists close matches (difflib).
        """
        key = name.strip().lower()
        for variant in self._variants:
            names = {variant.id, variant.hf_repo.lower(), variant.hf_repo.split("/")[-1].lower()}
            if variant.ollama is not None:
                names.add(variant.ollama.tag.lower())
            if key in names:
                return variant
        close = self.close_matches(name)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise CatalogError(
            f"No model {name!r} in the catalog.{hint}",
            "Give a catalog id, a Hugging Face repository or an Ollama tag; "
            "`qwen-desktop recommend` lists the catalog's models.",
        )

    def close_matches(self, name: str, limit: int = 3) -> list[str]:
        """Up to ``limit`` catalog ids, repositories or Ollama tags that look like ``name``."""
        key = name.strip().lower()
        spelled: dict[str, str] = {}
        for variant in self._variants:
            candidates = [variant.id, variant.hf_repo, variant.hf_repo.split("/")[-1]]
            if variant.ollama is not None:
                candidates.append(variant.ollama.tag)
            for candidate in candidates:
                spelled.setdefault(candidate.lower(), candidate)
        found = difflib.get_close_matches(key, list(spelled), n=limit, cutoff=0.6)
        return [spelled[match] for match in found]

    def for_task(self, task: str) -> tuple[Variant, ...]:
        """Variants recommended for ``task`` (one of :data:`TASKS`), in file order.

        Raises:
            ValueError: ``task`` is not a known task.
        """
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        return tuple(variant for variant in self._variants if task in variant.tasks)


def default_catalog_path() -> Path:
    """``<resources>/catalog/qwen.toml`` (see :func:`~qwen_desktop.core.paths.resources_dir`)."""
    return resources_dir() / "catalog" / CATALOG_FILE_NAME


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file.

    Args:
        path: A catalog TOML file; ``None`` reads the bundled one (cached: parsed once per path).

    Raises:
        CatalogError: The file is missing, not TOML, or fails validation (the message names the
            row id and the field).
    """
    if path is None:
        return _load_cached(default_catalog_path())
    return _load(path)


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path) -> Catalog:
    return _load(path)


def _load(path: Path) -> Catalog:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise CatalogError(
            f"Cannot read the model catalog {path}: {exc.strerror or exc}.", _FIX_ACTION
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"The model catalog {path} is not valid TOML: {exc}.", _FIX_ACTION
        ) from exc
    return Catalog.from_data(data, str(path))


def _row_error(source: str, row_id: str, field: str, problem: str) -> CatalogError:
    return CatalogError(
        f"Catalog {source}: row {row_id!r}, field {field!r}: {problem}", _FIX_ACTION
    )


def _parse_row(index: int, row: object, source: str) -> Variant:
    if not isinstance(row, dict):
        raise _row_error(source, f"#{index + 1}", "variants", "not a table.")
    raw_id = row.get("id")
    row_id = raw_id if isinstance(raw_id, str) and raw_id else f"#{index + 1}"
    try:
        return Variant.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(row)"
        problem = first["msg"]
        if first["type"] == "extra_forbidden":
            problem = "unknown field"
        raise _row_error(source, row_id, field, f"{problem}.") from exc


def _check_variant(variant: Variant, source: str) -> None:
    """Rules across the fields of one row."""

    def fail(field: str, problem: str) -> CatalogError:
        return _row_error(source, variant.id, field, problem)

    arch = variant.architecture
    if len(set(variant.tasks)) != len(variant.tasks):
        raise fail("tasks", "a task is listed twice.")
    if "reasoning" in variant.tasks and not variant.thinks:
        raise fail("thinking_kind", "a 'reasoning' variant must think (hybrid or thinking-only).")
    if ("vision" in variant.tasks) != (variant.modality == "image+text"):
        raise fail("tasks", "the 'vision' task goes with modality 'image+text', and only with it.")
    if variant.active_parameters is not None and variant.active_parameters >= variant.parameters:
        raise fail("active_parameters", "must be less than 'parameters' for a MoE variant.")
    if (variant.active_parameters is None) != (arch.experts is None):
        raise fail(
            "active_parameters",
            "MoE variants need both 'active_parameters' and 'architecture.experts'.",
        )
    if arch.attention_heads is not None:
        if arch.kv_heads > arch.attention_heads:
            raise fail("architecture.kv_heads", "exceeds 'architecture.attention_heads'.")
        if arch.attention_heads % arch.kv_heads:
            raise fail("architecture.kv_heads", "does not divide 'architecture.attention_heads'.")
    if arch.kv_layers is not None and arch.kv_layers > arch.layers:
        raise fail("architecture.kv_layers", "exceeds 'architecture.layers'.")
    moe_only = (arch.moe_intermediate_size, arch.experts_per_token)
    if arch.experts is None and any(value is not None for value in moe_only):
        raise fail("architecture.experts", "MoE fields need 'architecture.experts'.")
    if arch.experts is not None and (arch.experts_per_token or 0) > arch.experts:
        raise fail("architecture.experts_per_token", "exceeds 'architecture.experts'.")
    if variant.vision_parameters is not None:
        if variant.modality != "image+text":
            raise fail("vision_parameters", "only image+text variants have a vision tower.")
        if variant.vision_parameters >= variant.parameters:
            raise fail("vision_parameters", "must be less than 'parameters'.")
    if variant.twin == variant.id:
        raise fail("twin", "a variant cannot be its own twin.")
    if variant.license == "qwen-research" and variant.commercial_use:
        raise fail("commercial_use", "the qwen-research licence forbids commercial use.")
    if variant.license == "apache-2.0" and not variant.commercial_use:
        raise fail("commercial_use", "Apache-2.0 allows commercial use.")


def _check_references(variants: tuple[Variant, ...], source: str) -> None:
    """Rules across rows: unique ids and repositories, twins that exist and point back."""
    by_id: dict[str, Variant] = {}
    repos: dict[str, str] = {}
    for variant in variants:
        if variant.id in by_id:
            raise _row_error(source, variant.id, "id", "duplicate id.")
        by_id[variant.id] = variant
        if variant.hf_repo in repos:
            raise _row_error(
                source, variant.id, "hf_repo", f"same repository as row {repos[variant.hf_repo]!r}."
            )
        repos[variant.hf_repo] = variant.id
    for variant in variants:
        if variant.twin is None:
            continue
        twin = by_id.get(variant.twin)
        if twin is None:
            raise _row_error(source, variant.id, "twin", f"no row has id {variant.twin!r}.")
        if twin.twin != variant.id:
            raise _row_error(
                source, variant.id, "twin", f"row {twin.id!r} does not name this row as its twin."
            )
        if twin.thinking_kind is variant.thinking_kind:
            raise _row_error(
                source, variant.id, "twin", f"row {twin.id!r} has the same thinking kind."
            )
