"""The local model library: every installed model, whichever tool put it there.

Sources:

* the Hugging Face cache (``huggingface_hub.scan_cache_dir``): models this app downloaded and
  models other tools (transformers, ``hf download``) downloaded into the same cache show alike;
  a repository with an unfinished download of ours is marked incomplete;
* folders and GGUF files the person imported (kept in ``<data dir>/library.json``; the files
  stay where they are);
* the models of an Ollama server, when its URL is given (``/api/tags``).

A local GGUF file can also be copied into an Ollama server (blob upload, then create).

Deleting removes a Hugging Face repository from the cache (all its revisions and partial files),
forgets an imported entry (its files are left alone), or deletes an Ollama model on its server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.paths import AppPaths
from qwen_desktop.core.settings import load_settings
from qwen_desktop.downloads.hf_plan import PART_SUFFIX, default_cache_dir
from qwen_desktop.engines.http_clients import ollama_session
from qwen_desktop.library.last_used import LAST_USED_FILE_NAME, LastUsedRecord

IMPORT_TIMEOUT_S = 600.0
"""Seconds to wait for Ollama's answer to a GGUF upload or create (it hashes and copies a
multi-GB file before answering)."""

_log = logging.getLogger(__name__)

LIBRARY_FILE_NAME = "library.json"
_QUANT_RE = re.compile(r"(?:^|[-_.])((?:I?Q\d\w*?|BF16|F16|F32))(?:-\d{5}-of-\d{5})?$", re.I)


def hub_cache_dir(config_dir: Path | None = None) -> Path:
    """Where Hugging Face models go: ``QWEN_DESKTOP_MODELS_DIR`` when set (used as a
    huggingface_hub cache folder), else the models folder chosen in the settings
    (``models_dir`` in ``<config dir>/settings.json``, see :mod:`qwen_desktop.core.settings`),
    else huggingface_hub's own cache (``HF_HUB_CACHE``, ``HF_HOME``/hub,
    ``~/.cache/huggingface/hub``), so models other tools downloaded are reused.

    Args:
        config_dir: The app's config folder (default: :meth:`AppPaths.default`'s).
    """
    override = os.environ.get("QWEN_DESKTOP_MODELS_DIR")
    if override:
        return Path(override)
    chosen = load_settings(config_dir or AppPaths.default().config_dir).models_dir
    return Path(chosen) if chosen else default_cache_dir()


class LibraryError(QwenDesktopError):
    """A library operation cannot be done (unknown model, unreadable path)."""


@dataclass(frozen=True)
class InstalledModel:
    """One model on this computer.

    Attributes:
        id: How to name it (``Qwen/Qwen3-8B``, an imported path, an Ollama tag).
        source: ``huggingface``, ``folder``, ``gguf`` or ``ollama``.
        format: ``safetensors``, ``gguf``, ``pytorch`` or ``ollama``.
        quant: Quantization when known (``Q4_K_M``, ``bf16``), else ``None``.
        size_bytes: Bytes on disk.
        path: The folder or file (``None`` for Ollama models).
        last_used_s: Unix time the app last loaded it (see
            :mod:`qwen_desktop.library.last_used`), ``None`` when it never did.
        revision: The commit of a Hugging Face snapshot.
        complete: False while a download of it is unfinished.
    """

    id: str
    source: str
    format: str
    quant: str | None
    size_bytes: int
    path: str | None
    last_used_s: float | None
    revision: str | None = None
    complete: bool = True

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def gguf_quant(file_name: str) -> str | None:
    """The quantization in a GGUF file name (``Qwen3-8B-Q4_K_M.gguf`` → ``Q4_K_M``)."""
    match = _QUANT_RE.search(Path(file_name).stem)
    return match.group(1).upper() if match else None


def _format_of(names: list[str]) -> tuple[str, str | None]:
    ggufs = [n for n in names if n.lower().endswith(".gguf")]
    if ggufs:
        quants = sorted({q for q in map(gguf_quant, ggufs) if q})
        return "gguf", ",".join(quants) or None
    if any(n.endswith(".safetensors") for n in names):
        return "safetensors", None
    if any(n.endswith(".bin") for n in names):
        return "pytorch", None
    return "other", None


class ModelLibrary:
    """Lists and deletes installed models.

    Args:
        cache_dir: The Hugging Face cache (default :func:`hub_cache_dir`).
        state_file: Where imported folders and files are remembered.
        last_used: The app's record of loads (default: ``last_used.json`` next to
            ``state_file``).
    """

    def __init__(
        self,
        state_file: Path,
        cache_dir: Path | None = None,
        last_used: LastUsedRecord | None = None,
    ) -> None:
        self.state_file = state_file
        self.cache_dir = cache_dir if cache_dir is not None else hub_cache_dir()
        self.last_used = last_used or LastUsedRecord(state_file.with_name(LAST_USED_FILE_NAME))

    # -- Hugging Face cache ------------------------------------------------------------------

    def hf_models(self) -> list[InstalledModel]:
        """Model repositories in the Hugging Face cache (the newest revision of each)."""
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound

        if not self.cache_dir.is_dir():
            return []
        try:
            info = scan_cache_dir(self.cache_dir)
        except CacheNotFound:
            return []
        used = self.last_used.all()
        for warning in info.warnings:
            _log.warning("Hugging Face cache: %s", warning)
        models = []
        for repo in sorted(info.repos, key=lambda r: r.repo_id.lower()):
            if repo.repo_type != "model" or not repo.revisions:
                continue
            newest = max(repo.revisions, key=lambda rev: rev.last_modified)
            names = [f.file_name for f in newest.files]
            fmt, quant = _format_of(names)
            unfinished = any((repo.repo_path / "blobs").glob("*" + PART_SUFFIX))
            models.append(
                InstalledModel(
                    id=repo.repo_id,
                    source="huggingface",
                    format=fmt,
                    quant=quant,
                    size_bytes=int(repo.size_on_disk),
                    path=str(newest.snapshot_path),
                    last_used_s=self.last_used.last_used_under(repo.repo_path, used),
                    revision=newest.commit_hash,
                    complete=not unfinished,
                )
            )
        return models

    # -- imported ----------------------------------------------------------------------------

    def _imported_paths(self) -> list[str]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            return [str(p) for p in data["imported"]]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError) as exc:
            aside = self.state_file.with_name(f"{self.state_file.name}.broken-{int(time.time())}")
            os.replace(self.state_file, aside)
            _log.warning(
                "library file %s is damaged (%s); moved to %s", self.state_file, exc, aside
            )
            return []

    def _save_imported(self, paths: list[str]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "imported": paths}, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)

    def import_path(self, path: Path) -> InstalledModel:
        """Remember a model folder (``config.json`` + weights) or a ``.gguf`` file.

        Raises:
            LibraryError: The path does not exist or holds no model.
        """
        path = Path(path).expanduser().absolute()
        model = _describe_local(path)
        if model is None:
            raise LibraryError(
                f"{path} is not a model: expected a folder with config.json and weights, or a "
                ".gguf file.",
                "Pick the model folder (the one with config.json) or the .gguf file.",
            )
        paths = self._imported_paths()
        if str(path) not in paths:
            self._save_imported([*paths, str(path)])
        return replace(model, last_used_s=self.last_used.last_used_under(path))

    def imported(self) -> list[InstalledModel]:
        """Imported folders and files that still exist (missing ones are listed as size 0,
        incomplete, so they can be removed)."""
        out = []
        used = self.last_used.all()
        for raw in self._imported_paths():
            model = _describe_local(Path(raw))
            if model is None:
                model = InstalledModel(raw, "folder", "missing", None, 0, raw, None, complete=False)
            else:
                model = replace(model, last_used_s=self.last_used.last_used_under(raw, used))
            out.append(model)
        return out

    # -- Ollama ------------------------------------------------------------------------------

    async def ollama_models(self, url: str) -> list[InstalledModel]:
        """The models an Ollama server has (``/api/tags``); last used from the app's record
        (key ``ollama:<tag>``)."""
        async with ollama_session(url, doing="list its models", error=LibraryError) as client:
            listing = await client.list()
        used = self.last_used.all()
        out = []
        for entry in listing.models:
            details = entry.details
            modified = used.get(f"ollama:{entry.model}")
            out.append(
                InstalledModel(
                    id=str(entry.model),
                    source="ollama",
                    format=(details.format if details and details.format else "ollama"),
                    quant=details.quantization_level if details else None,
                    size_bytes=int(entry.size or 0),
                    path=None,
                    last_used_s=modified,
                )
            )
        return out

    @staticmethod
    async def import_gguf_into_ollama(url: str, gguf: Path, name: str) -> InstalledModel:
        """Copy a local GGUF file into an Ollama server as model ``name``: the file is uploaded
        as a blob (``POST /api/blobs/sha256:…``, by the ``ollama`` client, which hashes it
        first) and a model is created from it (``POST /api/create`` with ``files``).

        Raises:
            LibraryError: Not a GGUF file (no ``GGUF`` magic, source: the GGUF specification in
                ggml's docs/gguf.md), or Ollama refused the upload or the create.
        """
        gguf = Path(gguf).expanduser().absolute()
        try:
            with gguf.open("rb") as handle:
                magic = handle.read(4)
            size = gguf.stat().st_size
        except OSError as exc:
            raise LibraryError(
                f"Cannot read {gguf}: {exc.strerror or exc}.", "Check the path and try again."
            ) from exc
        if magic != b"GGUF":
            raise LibraryError(
                f"{gguf.name} is not a GGUF file (it does not start with the GGUF magic).",
                "Pick a .gguf model file (a truncated or renamed file does not work).",
            )
        async with ollama_session(
            url,
            doing=f"import {gguf.name} as {name}",
            error=LibraryError,
            action="Check the model name (lowercase, name:tag) and the free disk space.",
            read_timeout_s=IMPORT_TIMEOUT_S,
        ) as client:
            digest = await client.create_blob(gguf)
            await client.create(model=name, files={gguf.name: digest})
        return InstalledModel(
            name, "ollama", "gguf", gguf_quant(gguf.name), size, None, time.time()
        )

    async def list_all(self, ollama_url: str | None = None) -> list[InstalledModel]:
        """Every installed model: the Hugging Face cache, imports, and Ollama when given."""
        import asyncio

        models = await asyncio.to_thread(self.hf_models)
        models += self.imported()
        if ollama_url:
            models += await self.ollama_models(ollama_url)
        return models

    # -- delete ------------------------------------------------------------------------------

    async def delete(self, model_id: str, ollama_url: str | None = None) -> int:
        """Delete a model; returns the bytes freed (0 for a forgotten import).

        Raises:
            LibraryError: No installed model has this id.
        """
        for model in self.hf_models():
            if model.id.lower() == model_id.lower():
                return self._delete_hf_repo(model.id)
        wanted = str(Path(model_id).expanduser().absolute())
        paths = self._imported_paths()
        if wanted in paths or model_id in paths:
            self._save_imported([p for p in paths if p not in {wanted, model_id}])
            return 0
        if ollama_url:
            sizes = {m.id: m.size_bytes for m in await self.ollama_models(ollama_url)}
            if model_id in sizes:
                async with ollama_session(
                    ollama_url, doing=f"delete {model_id}", error=LibraryError
                ) as client:
                    await client.delete(model_id)
                return sizes[model_id]
        raise LibraryError(
            f"No installed model {model_id!r}.",
            "Run `qwen-desktop models list` to see the installed models and their ids.",
        )

    def _delete_hf_repo(self, repo_id: str) -> int:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(self.cache_dir)
        (repo,) = [r for r in info.repos if r.repo_id == repo_id and r.repo_type == "model"]
        freed = int(repo.size_on_disk)
        strategy = info.delete_revisions(*(rev.commit_hash for rev in repo.revisions))
        strategy.execute()
        for leftover in (
            (repo.repo_path / "blobs").glob("*.part*") if repo.repo_path.exists() else ()
        ):
            with contextlib.suppress(OSError):
                freed += leftover.stat().st_size
                leftover.unlink()
        shutil.rmtree(repo.repo_path, ignore_errors=True)
        return freed


def _describe_local(path: Path) -> InstalledModel | None:
    try:
        if path.is_file() and path.suffix.lower() == ".gguf":
            stat = path.stat()
            return InstalledModel(
                str(path),
                "gguf",
                "gguf",
                gguf_quant(path.name),
                stat.st_size,
                str(path),
                None,
            )
        if path.is_dir() and (path / "config.json").is_file():
            files = [p for p in path.iterdir() if p.is_file()]
            fmt, quant = _format_of([p.name for p in files])
            size = sum(p.stat().st_size for p in files)
            return InstalledModel(str(path), "folder", fmt, quant, size, str(path), None)
        if path.is_dir() and any(path.glob("*.gguf")):
            ggufs = sorted(path.glob("*.gguf"))
            quants = sorted({q for q in (gguf_quant(p.name) for p in ggufs) if q})
            size = sum(p.stat().st_size for p in ggufs)
            return InstalledModel(
                str(path), "folder", "gguf", ",".join(quants) or None, size, str(path), None
            )
    except OSError:
        return None
    return None
