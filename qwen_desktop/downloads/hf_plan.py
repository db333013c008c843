"""Planning a Hugging Face download: which files, how big, their hashes, and whether they fit.

:func:`plan_download` asks the Hub (``HfApi.model_info(files_metadata=True)``: one request to
``/api/models/{repo}/revision/{rev}?blobs=true``) for the commit a revision points to and, per
file, its size, git blob id and, for Git LFS files, its sha256. From that list it picks the files
a catalog variant needs in the chosen format (a safetensors checkpoint: weights, configs, tokenizer
and chat template; or the GGUF file(s) of one quantization) and returns a :class:`DownloadPlan`.
:func:`check_free_space` then refuses a download that does not fit before any byte is fetched
(case C9: ``"needs 5.0 GB, 2.0 GiB free"``: the download size in decimal units, as Hugging Face
shows sizes, and free space in binary units, as the hardware report shows it).

Files land in huggingface_hub's cache layout (source: huggingface_hub docs, "Understand caching"):
``<cache>/models--{owner}--{name}/blobs/<etag>`` holds the content, named by the Hub's ETag (the
sha256 for LFS files, the git blob sha1 otherwise), ``snapshots/<commit>/<path>`` links to the blob,
and ``refs/<branch>`` holds the commit. Unfinished downloads are ``blobs/<etag>.part`` with a JSON
sidecar ``blobs/<etag>.part.json``; huggingface_hub ignores both.

Environment: ``HF_ENDPOINT`` (a mirror), ``HF_TOKEN`` (gated repositories; also the token stored
by ``hf auth login``), ``HF_HUB_OFFLINE`` (no network: planning refuses with a clear message).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.paths import existing_ancestor
from qwen_desktop.core.units import format_bytes, format_decimal_bytes

Format = Literal["safetensors", "gguf"]
FORMATS: tuple[str, ...] = ("safetensors", "gguf")
DEFAULT_GGUF_QUANT = "Q4_K_M"
"""The quantization picked when none is asked for (Ollama's default for Qwen tags, too)."""

DEFAULT_ENDPOINT = "https://huggingface.co"
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".part.json"

SAFETENSORS_PATTERNS = (
    "*.safetensors",
    "*.json",
    "*.txt",
    "*.jinja",
    "*.model",
    "*.tiktoken",
    "LICENSE*",
    "README.md",
)
"""Top-level files a safetensors checkpoint needs (weights, configs, tokenizer, chat template,
licence). Other weight formats (``*.bin``, ``*.pth``, ``*.gguf``, ``original/``) are left out."""

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


class DownloadError(QwenDesktopError):
    """A model download cannot start or could not finish."""


class NotEnoughDiskError(DownloadError):
    """The models volume has less free space than the download needs (case C9)."""


class OfflineError(DownloadError):
    """``HF_HUB_OFFLINE`` is set, so nothing can be fetched."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository at one commit.

    Attributes:
        path: Path inside the repository (``model-00001-of-00004.safetensors``).
        size_bytes: Size in bytes (for LFS files, of the real content, not the pointer).
        etag: The Hub's ETag: the blob's name in the cache (sha256 for LFS, git sha1 otherwise).
        sha256: Hex sha256 of the content (LFS files), else ``None``.
        git_oid: The git blob id (sha1 of ``"blob <size>\\0" + content`` for non-LFS files).
    """

    path: str
    size_bytes: int
    etag: str
    sha256: str | None
    git_oid: str | None


@dataclass(frozen=True)
class DownloadPlan:
    """What one download fetches and where it goes.

    Attributes:
        model_id: What the person asked for (a catalog id or a repository).
        repo_id: The repository the files come from (``Qwen/Qwen3-8B``, ``Qwen/Qwen3-8B-GGUF``).
        revision: The branch or commit asked for (``main``).
        commit: The commit ``revision`` pointed to when planned (40 hex digits).
        format: ``safetensors`` or ``gguf``.
        quant: GGUF quantization (``Q4_K_M``); ``None`` for safetensors.
        files: The files to fetch, in repository order.
        cache_dir: The huggingface_hub cache folder (``…/huggingface/hub``).
        endpoint: The Hub (or mirror) base URL.
    """

    model_id: str
    repo_id: str
    revision: str
    commit: str
    format: str
    quant: str | None
    files: tuple[RemoteFile, ...]
    cache_dir: Path
    endpoint: str

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes (bytes)."""
        return sum(f.size_bytes for f in self.files)

    @property
    def repo_folder(self) -> Path:
        """``<cache>/models--{owner}--{name}``."""
        return self.cache_dir / repo_folder_name(self.repo_id)

    @property
    def snapshot_dir(self) -> Path:
        """``<repo folder>/snapshots/<commit>``: the model folder once installed."""
        return self.repo_folder / "snapshots" / self.commit

    def blob_path(self, file: RemoteFile) -> Path:
        """Where the verified content of ``file`` lives."""
        return self.repo_folder / "blobs" / file.etag

    def part_path(self, file: RemoteFile) -> Path:
        """Where the unfinished content of ``file`` grows."""
        return self.repo_folder / "blobs" / (file.etag + PART_SUFFIX)

    def url(self, file: RemoteFile) -> str:
        """The resolve URL of ``file`` at the planned commit."""
        from urllib.parse import quote

        return f"{self.endpoint}/{self.repo_id}/resolve/{self.commit}/{quote(file.path)}"

    def bytes_on_disk(self, file: RemoteFile) -> int:
        """Bytes of ``file`` already here: its full size when the blob exists, else the size of
        its ``.part`` (capped at the file size)."""
        blob = self.blob_path(file)
        if blob.is_file() and blob.stat().st_size == file.size_bytes:
            return file.size_bytes
        try:
            return min(self.part_path(file).stat().st_size, file.size_bytes)
        except OSError:
            return 0

    def missing_bytes(self) -> int:
        """Bytes still to fetch (total minus what is on disk)."""
        return sum(f.size_bytes - self.bytes_on_disk(f) for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the persisted download queue)."""
        data = asdict(self)
        data["cache_dir"] = str(self.cache_dir)
        data["files"] = [asdict(f) for f in self.files]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DownloadPlan:
        """The inverse of :meth:`to_json`."""
        return cls(
            model_id=str(data["model_id"]),
            repo_id=str(data["repo_id"]),
            revision=str(data["revision"]),
            commit=str(data["commit"]),
            format=str(data["format"]),
            quant=data.get("quant"),
            files=tuple(RemoteFile(**f) for f in data["files"]),
            cache_dir=Path(data["cache_dir"]),
            endpoint=str(data["endpoint"]),
        )


def repo_folder_name(repo_id: str) -> str:
    """huggingface_hub's folder name for a model repository: ``models--Qwen--Qwen3-8B``."""
    return "models--" + repo_id.replace("/", "--")


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub base URL: ``endpoint``, else ``HF_ENDPOINT``, else ``https://huggingface.co``."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_token(token: str | None = None) -> str | None:
    """The access token: ``token``, else ``HF_TOKEN``, else the one ``hf auth login`` stored."""
    if token:
        return token
    from huggingface_hub import get_token

    return get_token()


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, as huggingface_hub
    reads it."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def default_cache_dir() -> Path:
    """huggingface_hub's cache folder (``HF_HUB_CACHE``, ``HF_HOME``/hub, ``~/.cache/...``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def installed_snapshot(cache_dir: Path, repo_id: str, revision: str = "main") -> Path | None:
    """The snapshot folder ``revision`` points to in the cache, or ``None`` when absent."""
    repo = cache_dir / repo_folder_name(repo_id)
    commit = revision
    if not _COMMIT_RE.match(revision):
        try:
            commit = (repo / "refs" / revision).read_text(encoding="utf-8").strip()
        except OSError:
            return None
    snapshot = repo / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def fetch_repo_files(
    repo_id: str, revision: str = "main", *, endpoint: str | None = None, token: str | None = None
) -> tuple[str, tuple[RemoteFile, ...]]:
    """Ask the Hub for a repository's commit and files (sizes, hashes).

    Returns:
        ``(commit, files)``.

    Raises:
        OfflineError: ``HF_HUB_OFFLINE`` is set.
        DownloadError: Repository or revision not found, access refused (gated or private:
            needs ``HF_TOKEN``), or the Hub cannot be reached; the message names which.
    """
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hub_errors

    base = hub_endpoint(endpoint)
    if is_offline():
        raise OfflineError(
            f"Cannot fetch {repo_id}: offline mode is on (HF_HUB_OFFLINE is set).",
            "Unset HF_HUB_OFFLINE (or set it to 0) to download; installed models still work.",
        )
    api = HfApi(endpoint=base, token=hub_token(token) or False)
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
    except hub_errors.GatedRepoError as exc:
        raise DownloadError(
            f"{repo_id} is gated: the Hub at {base} refused access.",
            "Accept the model's licence on its Hugging Face page, then set HF_TOKEN to a token "
            "of that account (or run `hf auth login`).",
        ) from exc
    except hub_errors.RepositoryNotFoundError as exc:
        raise DownloadError(
            f"{repo_id} was not found on {base} (or it is private).",
            "Check the name; for a private repository set HF_TOKEN to a token with access.",
        ) from exc
    except hub_errors.RevisionNotFoundError as exc:
        raise DownloadError(
            f"{repo_id} has no revision {revision!r} on {base}.", "Check the branch or commit."
        ) from exc
    except hub_errors.HfHubHTTPError as exc:
        raise DownloadError(
            f"The Hub at {base} answered an error for {repo_id}: {exc}.",
            "Try again later; if it persists, check HF_ENDPOINT and your connection.",
        ) from exc
    except (OSError, hub_errors.OfflineModeIsEnabled) as exc:
        raise DownloadError(
            f"Cannot reach the Hub at {base} ({type(exc).__name__}: {exc}).",
            "Check your connection (and HF_ENDPOINT if you use a mirror), then try again.",
        ) from exc
    except Exception as exc:  # httpx transport errors are not OSErrors
        if type(exc).__module__.startswith("httpx"):
            raise DownloadError(
                f"Cannot reach the Hub at {base} ({type(exc).__name__}: {exc}).",
                "Check your connection (and HF_ENDPOINT if you use a mirror), then try again.",
            ) from exc
        raise
    commit = info.sha or ""
    if not _COMMIT_RE.match(commit):
        raise DownloadError(
            f"The Hub at {base} did not say which commit {repo_id}@{revision} is.",
            "Try again; a mirror may not support file metadata (HF_ENDPOINT).",
        )
    files: list[RemoteFile] = []
    for sibling in info.siblings or []:
        lfs = sibling.lfs
        if lfs is not None:
            files.append(RemoteFile(sibling.rfilename, int(lfs.size), lfs.sha256, lfs.sha256, None))
        elif sibling.size is not None and sibling.blob_id:
            files.append(
                RemoteFile(
                    sibling.rfilename, int(sibling.size), sibling.blob_id, None, sibling.blob_id
                )
            )
        else:
            raise DownloadError(
                f"The Hub at {base} gave no size or hash for {repo_id}/{sibling.rfilename}.",
                "Try again; a mirror may not support file metadata (HF_ENDPOINT).",
            )
    return commit, tuple(files)


def select_files(
    files: Iterable[RemoteFile], fmt: str, quant: str | None, repo_id: str
) -> tuple[RemoteFile, ...]:
    """The files one variant needs in one format.

    Args:
        files: The repository's files.
        fmt: ``safetensors`` (top-level weights, configs, tokenizer, template) or ``gguf``.
        quant: For GGUF, the quantization to match in file names (case-insensitive,
            ``Q4_K_M``); every shard of a split GGUF (``-00001-of-00002.gguf``) is included.
        repo_id: For messages.

    Raises:
        DownloadError: Nothing matches; the message lists what the repository offers.
    """
    files = tuple(files)
    if fmt == "safetensors":
        chosen = tuple(
            f
            for f in files
            if "/" not in f.path and any(fnmatch.fnmatch(f.path, p) for p in SAFETENSORS_PATTERNS)
        )
        if not any(f.path.endswith(".safetensors") for f in chosen):
            raise DownloadError(
                f"{repo_id} has no .safetensors weights.",
                "Pick another format (--format gguf) or another repository.",
            )
        return chosen
    if fmt != "gguf":
        raise DownloadError(f"Unknown format {fmt!r}.", f"Use one of: {', '.join(FORMATS)}.")
    ggufs = [f for f in files if f.path.lower().endswith(".gguf")]
    wanted = (quant or DEFAULT_GGUF_QUANT).lower()
    pattern = re.compile(rf"(^|[-_.]){re.escape(wanted)}([-_.]|$)")
    chosen = tuple(f for f in ggufs if pattern.search(Path(f.path).stem.lower()))
    if not chosen:
        offered = sorted({_gguf_quant(f.path) for f in ggufs} - {""})
        listing = ", ".join(offered) if offered else "no GGUF files at all"
        raise DownloadError(
            f"{repo_id} has no GGUF file for quantization {quant or DEFAULT_GGUF_QUANT!r} "
            f"(it offers: {listing}).",
            "Pick one of those with --quant.",
        )
    return chosen


def _gguf_quant(path: str) -> str:
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", Path(path).stem)
    match = re.search(r"(?:^|[-_.])((?:I?Q\d[\w]*|BF16|F16|F32))$", stem, re.IGNORECASE)
    return match.group(1).upper() if match else ""


def plan_download(
    model_id: str,
    repo_id: str,
    fmt: str = "safetensors",
    quant: str | None = None,
    *,
    cache_dir: Path | None = None,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
) -> DownloadPlan:
    """Plan the download of one variant (blocking: one HTTP request; call it off the UI loop).

    Args:
        model_id: What the person asked for (kept for display and the queue).
        repo_id: The repository to fetch from (for GGUF: the GGUF repository).
        fmt: ``safetensors`` or ``gguf``.
        quant: GGUF quantization; ignored for safetensors.
        cache_dir: The huggingface_hub cache; default :func:`default_cache_dir`.
        revision: Branch or commit.
        endpoint: Hub base URL; default ``HF_ENDPOINT`` or huggingface.co.
        token: Access token; default ``HF_TOKEN`` or the stored one.

    Raises:
        DownloadError: See :func:`fetch_repo_files` and :func:`select_files`.
    """
    commit, files = fetch_repo_files(repo_id, revision, endpoint=endpoint, token=token)
    chosen = select_files(files, fmt, quant, repo_id)
    return DownloadPlan(
        model_id=model_id,
        repo_id=repo_id,
        revision=revision,
        commit=commit,
        format=fmt,
        quant=(quant or DEFAULT_GGUF_QUANT).upper() if fmt == "gguf" else None,
        files=chosen,
        cache_dir=Path(cache_dir) if cache_dir is not None else default_cache_dir(),
        endpoint=hub_endpoint(endpoint),
    )


def free_bytes_at(folder: Path) -> int:
    """Free bytes on the volume that holds (or will hold) ``folder`` (``shutil.disk_usage``)."""
    return int(shutil.disk_usage(existing_ancestor(folder)).free)


def check_free_space(plan: DownloadPlan, free_bytes: Callable[[Path], int] = free_bytes_at) -> int:
    """Refuse a download that does not fit, before any byte is fetched (case C9).

    Bytes already on disk (finished blobs, ``.part`` files) are not needed again.

    Args:
        plan: The download.
        free_bytes: Measures free bytes at a folder (tests pass a stand-in).

    Returns:
        The bytes still to fetch.

    Raises:
        NotEnoughDiskError: ``"… needs 5.0 GB, 2.0 GiB free on <folder>"``.
    """
    needed = plan.missing_bytes()
    free = free_bytes(plan.cache_dir)
    if needed > free:
        raise NotEnoughDiskError(
            f"{plan.model_id} needs {format_decimal_bytes(needed)}, "
            f"{format_bytes(free)} free on {existing_ancestor(plan.cache_dir)}.",
            f"Free up {format_decimal_bytes(needed - free)} or more, or choose another models "
            "folder (QWEN_DESKTOP_MODELS_DIR), then start the download again.",
        )
    return needed
