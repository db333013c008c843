"""The huggingface_hub cache layout and file integrity, for :mod:`.hf_download`.

Layout (source: huggingface_hub docs, "Understand caching"): ``<cache>/models--{owner}--{name}``
holds ``blobs/<etag>`` (content, named by the Hub's ETag: sha256 for LFS files, the git blob sha1
otherwise), ``snapshots/<commit>/<path>`` (relative symlinks to the blobs) and ``refs/<branch>``
(the commit). Ours, ignored by huggingface_hub: ``blobs/<etag>.part`` (an unfinished download) and
``blobs/<etag>.part.json`` (its sidecar: repository, path, commit, size, hash, URL).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from qwen_desktop.downloads.hf_plan import SIDECAR_SUFFIX, DownloadError, DownloadPlan, RemoteFile

IN_USE_S = 60.0
"""Partial files modified this recently (seconds) may be in use and are never cleaned."""


class IntegrityError(DownloadError):
    """A fetched file does not match the Hub's hash; the damaged part was deleted."""


def sidecar_path(plan: DownloadPlan, file: RemoteFile) -> Path:
    return plan.repo_folder / "blobs" / (file.etag + SIDECAR_SUFFIX)


def prepare_part(plan: DownloadPlan, file: RemoteFile) -> None:
    """Keep a part that belongs to ``file``; otherwise start a new one with a sidecar."""
    part, sidecar = plan.part_path(file), sidecar_path(plan, file)
    meta: Any = {}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        meta = {}
    belongs = meta.get("etag") == file.etag and meta.get("size_bytes") == file.size_bytes
    if part.exists() and (not belongs or part.stat().st_size > file.size_bytes):
        part.unlink()
    if not part.exists():
        part.touch()
    if belongs and meta.get("commit") == plan.commit:
        return
    # A new part, or the same content at a newer commit: the sidecar names the current one.
    sidecar.write_text(
        json.dumps(
            {
                "repo_id": plan.repo_id,
                "path": file.path,
                "commit": plan.commit,
                "etag": file.etag,
                "size_bytes": file.size_bytes,
                "sha256": file.sha256,
                "url": plan.url(file),
                "started_at": meta.get("started_at", time.time()) if belongs else time.time(),
            },
            indent=1,
        ),
        encoding="utf-8",
    )


def discard_part(plan: DownloadPlan, file: RemoteFile) -> None:
    for path in (plan.part_path(file), sidecar_path(plan, file)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def new_digest(file: RemoteFile) -> Any:
    if file.sha256:
        return hashlib.sha256()
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"blob {file.size_bytes}\0".encode())
    return digest


class FollowingHasher:
    """Hashes a growing file on a worker thread, reading behind the writer.

    The writer calls :meth:`advance` with the file's new length after each chunk; the thread reads
    the new bytes back (from the page cache) and hashes them, so hashing runs beside the network
    (hashlib releases the GIL for large blocks) and a resumed part's old bytes are hashed too,
    without holding any chunk in memory.
    """

    def __init__(self, path: Path, file: RemoteFile) -> None:
        self._path = path
        self._size = file.size_bytes
        self._digest = new_digest(file)
        self._cond = threading.Condition()
        self._available = path.stat().st_size
        self._position = 0
        self._closed = False
        self._aborted = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hf-hash", daemon=True)
        self._thread.start()

    def advance(self, available: int) -> None:
        with self._cond:
            self._available = available
            self._cond.notify()

    def _run(self) -> None:
        try:
            with self._path.open("rb") as handle:
                while True:
                    with self._cond:
                        while (
                            self._position >= self._available
                            and not self._closed
                            and not self._aborted
                        ):
                            self._cond.wait()
                        if self._aborted or (self._closed and self._position >= self._available):
                            return
                        target = self._available
                    while self._position < target:
                        block = handle.read(min(8 * 1024 * 1024, target - self._position))
                        if not block:
                            break
                        self._digest.update(block)
                        self._position += len(block)
        except OSError as exc:  # the part vanished: finish() falls back to a full read
            self._error = exc

    def finish(self) -> str | None:
        """Wait for the thread; the hex digest, or ``None`` if it could not follow the file."""
        with self._cond:
            self._closed = True
            self._available = self._path.stat().st_size
            self._cond.notify()
        self._thread.join()
        if self._error is not None or self._position != self._size:
            return None
        return str(self._digest.hexdigest())

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._cond.notify()
        self._thread.join()


def file_digest(path: Path, file: RemoteFile) -> str:
    """The digest the Hub gives for ``file``, computed over ``path``: sha256 for LFS files, the
    git blob sha1 (``sha1("blob <size>\\0" + content)``, git's object format) otherwise."""
    if file.sha256:
        digest = hashlib.sha256()
    else:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def verify_and_install(plan: DownloadPlan, file: RemoteFile, digest: str | None) -> None:
    part = plan.part_path(file)
    expected = file.sha256 or file.git_oid or ""
    actual = digest or file_digest(part, file)
    if actual != expected:
        discard_part(plan, file)
        kind = "sha256" if file.sha256 else "git sha1"
        raise IntegrityError(
            f"{file.path} of {plan.repo_id} is damaged: its {kind} is {actual[:12]}…, the Hub "
            f"says {expected[:12]}…. The damaged file was deleted and will not be loaded.",
            "Download it again; if this repeats, the server or mirror (HF_ENDPOINT) sends bad "
            "data.",
        )
    os.replace(part, plan.blob_path(file))
    with contextlib.suppress(FileNotFoundError):
        sidecar_path(plan, file).unlink()


def link_snapshot(plan: DownloadPlan, file: RemoteFile) -> None:
    """``snapshots/<commit>/<path>`` → ``../../blobs/<etag>`` (relative symlink, as
    huggingface_hub makes it); a hard link or a copy where symlinks are not allowed."""
    target = plan.snapshot_dir / file.path
    blob = plan.blob_path(file)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() and target.stat().st_size == file.size_bytes:
        return
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    relative = os.path.relpath(blob, target.parent)
    try:
        os.symlink(relative, target)
    except OSError:
        try:
            os.link(blob, target)
        except OSError:
            shutil.copyfile(blob, target)


def write_ref(plan: DownloadPlan) -> None:
    if plan.revision == plan.commit:
        return
    ref = plan.repo_folder / "refs" / plan.revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(plan.commit, encoding="utf-8")


def clean_stale_partials(cache_dir: Path, *, older_than_s: float = 14 * 86400) -> list[Path]:
    """Delete partial files nobody will resume; returns what was deleted.

    Deleted: our ``.part`` files without a sidecar (or the reverse), parts whose blob is already
    complete, and huggingface_hub's ``*.incomplete`` files untouched for ``older_than_s`` seconds
    (default 14 days; huggingface_hub never resumes them). A part with its sidecar is kept however
    old it is (it resumes; deleting the model from the library removes it). Files touched
    in the last :data:`IN_USE_S` seconds are left alone: a download may be writing them.
    """
    deleted: list[Path] = []
    now = time.time()
    for blobs in cache_dir.glob("models--*/blobs"):
        for path in sorted(blobs.iterdir()):
            name = path.name
            try:
                if now - path.stat().st_mtime < IN_USE_S:
                    continue
            except FileNotFoundError:
                continue
            stale = False
            if name.endswith(SIDECAR_SUFFIX):
                etag = name.removesuffix(SIDECAR_SUFFIX)
                stale = not (blobs / (etag + ".part")).exists() or (blobs / etag).exists()
            elif name.endswith(".part"):
                etag = name.removesuffix(".part")
                stale = not (blobs / (name + ".json")).exists() or (blobs / etag).exists()
                if stale:
                    with contextlib.suppress(FileNotFoundError):
                        (blobs / (name + ".json")).unlink()
                        deleted.append(blobs / (name + ".json"))
            elif name.endswith(".incomplete"):
                stale = now - path.stat().st_mtime > older_than_s
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    deleted.append(path)
    return deleted
