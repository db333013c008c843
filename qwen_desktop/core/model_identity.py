"""Which catalog variant a local model is: from its Hugging Face cache path or folder name.

A checkpoint in the Hugging Face cache lives at ``…/models--Qwen--Qwen3-8B/snapshots/<rev>``; a
folder someone downloaded by hand is usually named after the repository (``Qwen3-8B``). Either
names the repository, which the catalog knows (``hf_repo``). Anything else is not matched: a
measurement is then simply not attributed to a catalog model.
"""

from __future__ import annotations

from pathlib import PurePath

from qwen_desktop.core.catalog import Catalog, Variant

_CACHE_PREFIX = "models--"


def repo_name_of(path: PurePath) -> str | None:
    """``owner/name`` from a Hugging Face cache path, else the folder's own name; None if empty."""
    for part in reversed(path.parts):
        if part.startswith(_CACHE_PREFIX):
            owner, _, name = part[len(_CACHE_PREFIX) :].partition("--")
            return f"{owner}/{name}" if name else owner
    return path.name or None


def variant_for_path(catalog: Catalog, path: PurePath) -> Variant | None:
    """The catalog variant whose repository the path names (case-insensitive), or None.

    ``-GGUF`` repositories map to the model they quantize (``Qwen/Qwen3-14B-GGUF`` → Qwen3-14B).
    """
    repo = repo_name_of(path)
    if not repo:
        return None
    wanted = repo.lower().removesuffix("-gguf")
    short = wanted.rsplit("/", 1)[-1]
    for variant in catalog.variants:
        full = variant.hf_repo.lower()
        if full == wanted or ("/" not in wanted and full.rsplit("/", 1)[-1] == short):
            return variant
    return None
