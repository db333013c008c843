"""The bundled catalog loads and agrees with the research table; broken catalogs are refused."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from qwen_desktop.core.catalog import Catalog, default_catalog_path, load_catalog
from qwen_desktop.core.errors import CatalogError
from qwen_desktop.core.types import ThinkingKind

# Every row the research table (shared/research/qwen-catalog.md) asks for.
REQUIRED_IDS = {
    *(f"qwen3-{size}" for size in ("0.6b", "1.7b", "4b", "8b", "14b", "32b")),
    "qwen3-30b-a3b",
    "qwen3-235b-a22b",
    "qwen3-4b-instruct-2507",
    "qwen3-4b-thinking-2507",
    "qwen3-30b-a3b-instruct-2507",
    "qwen3-30b-a3b-thinking-2507",
    "qwen3-coder-30b-a3b-instruct",
    *(f"qwen2.5-{size}-instruct" for size in ("0.5b", "1.5b", "3b", "7b", "14b", "32b", "72b")),
    *(f"qwen2.5-coder-{size}-instruct" for size in ("1.5b", "7b", "14b", "32b")),
    *(f"qwen2.5-math-{size}-instruct" for size in ("1.5b", "7b", "72b")),
    *(f"qwen2.5-vl-{size}-instruct" for size in ("3b", "7b", "32b", "72b")),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _bundled_data() -> dict[str, Any]:
    with default_catalog_path().open("rb") as handle:
        return tomllib.load(handle)


def _row(data: dict[str, Any], variant_id: str) -> dict[str, Any]:
    return next(row for row in data["variants"] if row["id"] == variant_id)


def test_bundled_catalog_has_every_research_row(catalog: Catalog) -> None:
    ids = {variant.id for variant in catalog.variants}
    assert ids >= REQUIRED_IDS, sorted(REQUIRED_IDS - ids)
    assert len(ids) == len(catalog) == len(catalog.variants)


def test_load_catalog_is_cached_for_the_default_path() -> None:
    assert load_catalog() is load_catalog()


def test_figures_match_the_research_table(catalog: Catalog) -> None:
    qwen3_8b = catalog.get("qwen3-8b")
    assert qwen3_8b.hf_repo == "Qwen/Qwen3-8B"
    assert qwen3_8b.parameters == 8_190_000_000
    assert qwen3_8b.context_tokens == 40_960
    assert (qwen3_8b.architecture.layers, qwen3_8b.architecture.kv_heads) == (36, 8)
    assert qwen3_8b.architecture.head_dim == 128
    assert qwen3_8b.ollama is not None
    assert (qwen3_8b.ollama.tag, qwen3_8b.ollama.size_bytes) == ("qwen3:8b", 5_200_000_000)
    assert qwen3_8b.thinking_kind is ThinkingKind.HYBRID

    moe = catalog.get("qwen3-30b-a3b")
    assert (moe.parameters, moe.active_parameters) == (30_530_000_000, 3_300_000_000)
    assert (moe.architecture.layers, moe.architecture.kv_heads) == (48, 4)
    assert moe.is_moe and moe.active_parameter_count == 3_300_000_000

    assert catalog.get("qwen2.5-0.5b-instruct").architecture.head_dim == 64
    assert catalog.get("qwen2.5-72b-instruct").ollama.size_bytes == 47_000_000_000  # type: ignore[union-attr]
    for math_id in ("qwen2.5-math-1.5b-instruct", "qwen2.5-math-7b-instruct"):
        assert catalog.get(math_id).context_tokens == 4_096
        assert catalog.get(math_id).ollama is None  # qwen2-math is a different model
    assert catalog.get("qwen2.5-vl-7b-instruct").modality == "image+text"
    assert catalog.get("qwen2.5-vl-7b-instruct").context_tokens == 128_000


def test_licences(catalog: Catalog) -> None:
    assert catalog.get("qwen2.5-3b-instruct").license == "qwen-research"
    assert not catalog.get("qwen2.5-3b-instruct").commercial_use
    assert catalog.get("qwen2.5-72b-instruct").license == "qwen"
    assert catalog.get("qwen2.5-vl-3b-instruct").license == "qwen-research"
    assert catalog.get("qwen2.5-vl-72b-instruct").license == "qwen"
    assert catalog.get("qwen2.5-vl-7b-instruct").license == "apache-2.0"
    assert catalog.get("qwen3-8b").commercial_use


def test_gguf_repos_only_where_confirmed(catalog: Catalog) -> None:
    with_gguf = {variant.id: variant.gguf_repo for variant in catalog if variant.gguf_repo}
    assert with_gguf == {
        "qwen3-14b": "Qwen/Qwen3-14B-GGUF",
        "qwen3-32b": "Qwen/Qwen3-32B-GGUF",
        "qwen2.5-1.5b-instruct": "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        "qwen2.5-3b-instruct": "Qwen/Qwen2.5-3B-Instruct-GGUF",
    }


def test_unverified_rows_are_marked(catalog: Catalog) -> None:
    assert not catalog.get("qwen2.5-math-72b-instruct").verified
    assert not catalog.get("qwen3-coder-30b-a3b-instruct").verified
    assert catalog.get("qwen3-8b").verified
    # The research gives no size for the 2507 4B tags: none is invented.
    ollama = catalog.get("qwen3-4b-instruct-2507").ollama
    assert ollama is not None and ollama.size_bytes is None


def test_twins_point_back_with_the_other_thinking_kind(catalog: Catalog) -> None:
    instruct = catalog.get("qwen3-4b-instruct-2507")
    thinking = catalog.get("qwen3-4b-thinking-2507")
    assert instruct.twin == thinking.id and thinking.twin == instruct.id
    assert instruct.thinking_kind is ThinkingKind.INSTRUCT_ONLY
    assert thinking.thinking_kind is ThinkingKind.THINKING_ONLY
    for variant in catalog:
        if variant.twin:
            assert catalog.get(variant.twin).twin == variant.id


def test_for_task(catalog: Catalog) -> None:
    code = {variant.id for variant in catalog.for_task("code")}
    assert code == {
        "qwen3-coder-30b-a3b-instruct",
        "qwen2.5-coder-1.5b-instruct",
        "qwen2.5-coder-7b-instruct",
        "qwen2.5-coder-14b-instruct",
        "qwen2.5-coder-32b-instruct",
    }
    math = {variant.id for variant in catalog.for_task("math")}
    assert math == {f"qwen2.5-math-{s}-instruct" for s in ("1.5b", "7b", "72b")}
    vision = catalog.for_task("vision")
    assert vision and all(variant.modality == "image+text" for variant in vision)
    assert all(variant.thinks for variant in catalog.for_task("reasoning"))
    chat = catalog.for_task("chat")
    assert "qwen3-8b" in {v.id for v in chat} and "qwen2.5-7b-instruct" in {v.id for v in chat}
    assert all(v.thinking_kind is not ThinkingKind.THINKING_ONLY for v in chat)
    with pytest.raises(ValueError, match="unknown task"):
        catalog.for_task("poetry")


def test_get_unknown_id_raises_catalog_error(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="qwen9-1b"):
        catalog.get("qwen9-1b")
    assert catalog.find("qwen9-1b") is None
    assert "qwen3-8b" in catalog


# ------------------------------------------------------------------------------ broken catalogs


def _broken(mutate: Any) -> dict[str, Any]:
    data = copy.deepcopy(_bundled_data())
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "row_id", "field"),
    [
        pytest.param(
            lambda d: d["variants"].append(copy.deepcopy(_row(d, "qwen3-8b"))),
            "qwen3-8b",
            "id",
            id="duplicate-id",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-4b-instruct-2507").update(twin="qwen3-4b-nope"),
            "qwen3-4b-instruct-2507",
            "twin",
            id="dangling-twin",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-4b-thinking-2507").update(twin="qwen3-8b"),
            "qwen3-4b-thinking-2507",
            "twin",
            id="twin-not-pointing-back",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-8b").update(parameters="8.2B"),
            "qwen3-8b",
            "parameters",
            id="bad-type",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-8b").update(context_tokens=40960.0),
            "qwen3-8b",
            "context_tokens",
            id="float-for-int-strict",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-14b").update(size_gb=9.3),
            "qwen3-14b",
            "size_gb",
            id="unknown-field",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-14b")["architecture"].update(kv_head=8),
            "qwen3-14b",
            "architecture.kv_head",
            id="unknown-nested-field",
        ),
        pytest.param(
            lambda d: _row(d, "qwen2.5-7b-instruct").update(tasks=["chat", "poetry"]),
            "qwen2.5-7b-instruct",
            "tasks.1",
            id="unknown-task",
        ),
        pytest.param(
            lambda d: _row(d, "qwen2.5-7b-instruct").update(tasks=["chat", "reasoning"]),
            "qwen2.5-7b-instruct",
            "thinking_kind",
            id="reasoning-without-thinking",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-8b").update(thinking_kind="sometimes"),
            "qwen3-8b",
            "thinking_kind",
            id="unknown-thinking-kind",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-30b-a3b").update(active_parameters=30_530_000_000),
            "qwen3-30b-a3b",
            "active_parameters",
            id="moe-active-not-below-total",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-8b")["architecture"].update(kv_heads=64),
            "qwen3-8b",
            "architecture.kv_heads",
            id="kv-heads-above-attention-heads",
        ),
        pytest.param(
            lambda d: _row(d, "qwen2.5-3b-instruct").update(commercial_use=True),
            "qwen2.5-3b-instruct",
            "commercial_use",
            id="research-licence-commercial",
        ),
        pytest.param(
            lambda d: _row(d, "qwen3-8b").pop("hf_repo"),
            "qwen3-8b",
            "hf_repo",
            id="missing-field",
        ),
    ],
)
def test_broken_catalog_names_row_and_field(mutate: Any, row_id: str, field: str) -> None:
    with pytest.raises(CatalogError) as caught:
        Catalog.from_data(_broken(mutate), "test.toml")
    message = caught.value.message
    assert f"row {row_id!r}" in message
    assert f"field {field!r}" in message


def test_row_without_id_is_named_by_position() -> None:
    def drop_id(data: dict[str, Any]) -> None:
        del data["variants"][2]["id"]

    with pytest.raises(CatalogError, match=r"row '#3', field 'id'"):
        Catalog.from_data(_broken(drop_id), "test.toml")


def test_schema_version_is_checked() -> None:
    with pytest.raises(CatalogError, match="schema_version"):
        Catalog.from_data(_broken(lambda d: d.update(schema_version=99)), "test.toml")


def test_broken_file_on_disk(tmp_path: Path) -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    duplicate = text.replace('id = "qwen3-1.7b"', 'id = "qwen3-8b"')
    assert duplicate != text
    path = tmp_path / "qwen.toml"
    path.write_text(duplicate, encoding="utf-8")
    with pytest.raises(CatalogError, match=r"row 'qwen3-8b', field 'id': duplicate id"):
        load_catalog(path)

    path.write_text("variants = [[[", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(path)

    with pytest.raises(CatalogError, match="Cannot read"):
        load_catalog(tmp_path / "missing.toml")


def test_valid_copy_on_disk_loads(tmp_path: Path) -> None:
    path = tmp_path / "qwen.toml"
    path.write_text(default_catalog_path().read_text(encoding="utf-8"), encoding="utf-8")
    assert len(load_catalog(path)) == len(load_catalog())
