"""Change the models folder: move what is in it (safely), or point the app at another folder.

The models folder is the huggingface_hub cache the app downloads into and lists (see
:func:`qwen_desktop.library.service.hub_cache_dir`); the choice is saved as ``models_dir`` in
the settings (:mod:`qwen_desktop.core.settings`).

Moving never loses the original:

1. the destination must be empty, missing, or an unfinished move of the same folder (a marker
   file ``.qwen-desktop-move.json`` says so), and must not lie inside the source or hold it;
2. free space at the destination is checked first (the bytes not already copied);
3. on the same volume with a missing destination, the folder is renamed (atomic, instant);
4. otherwise each file is copied to ``<name>.moving`` (appending to what an interrupted move
   left, so a resumed move re-copies nothing), flushed to disk, read back and compared by
   sha256 with the source, then renamed into place; symbolic links (the cache's snapshot
   links, relative) are recreated as links;
5. only when every file is verified is the setting switched, then the source deleted.

A failure or a cancel at any point leaves the source untouched and the setting unchanged; the
partial copy stays for a resumed move.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qwen_desktop.core.errors import QwenDesktopError
from qwen_desktop.core.paths import existing_ancestor
from qwen_desktop.core.settings import load_settings, save_settings
from qwen_desktop.core.units import format_bytes, format_decimal_bytes
from qwen_desktop.downloads.hf_plan import PART_SUFFIX, SIDECAR_SUFFIX

_log = logging.getLogger(__name__)

MARKER_NAME = ".qwen-desktop-move.json"
PARTIAL_SUFFIX = ".moving"
CHUNK_BYTES = 4 * 1024 * 1024
"""Copy and hash in 4 MiB chunks (large enough for full disk throughput, small enough that a
cancel is seen within a fraction of a second)."""
PROGRESS_INTERVAL_S = 0.25
"""At most four progress reports a second (the UI's throttle, as for downloads)."""
MODEL_ENTRY_PREFIXES = ("models--", "datasets--", "spaces--")
"""Top-level folders of a huggingface_hub cache, one per repository (huggingface_hub's
``repo_folder_name``: ``<type>s--<owner>--<name>``); the app's downloads write the same ones."""
MODEL_ENTRY_NAMES = frozenset(
    {".locks", "version.txt", "CACHEDIR.TAG", MARKER_NAME, ".DS_Store", "Thumbs.db", "desktop.ini"}
)
"""Other top-level entries a models folder may hold: huggingface_hub's lock folder
(``.locks``, also used by the app's downloads), its cache version file and backup-tool tag
(``CACHEDIR.TAG``, bford.net/cachedir), this module's move marker, and the folder metadata
macOS Finder and Windows Explorer put in any folder they show."""
MODEL_ENTRY_SUFFIXES = (".gguf", PART_SUFFIX, SIDECAR_SUFFIX)
"""Top-level files that are model content too: GGUF files and download partials/sidecars."""
FOREIGN_SHOWN = 5
"""How many foreign entries a refusal names (the rest are counted)."""


class ModelsFolderError(QwenDesktopError):
    """The models folder cannot be changed as asked (the message says why)."""


class MoveCancelledError(ModelsFolderError):
    """The move was cancelled; the source is intact and the partial copy kept for a resume."""


@dataclass(frozen=True)
class MoveProgress:
    """How far a move is.

    Attributes:
        bytes_done: Bytes copied and verified so far (including those found already copied).
        total_bytes: Bytes of all files in the source.
        current: The file being copied (relative path), or ``""``.
    """

    bytes_done: int
    total_bytes: int
    current: str = ""

    @property
    def fraction(self) -> float:
        """Share done, 0…1."""
        return self.bytes_done / self.total_bytes if self.total_bytes else 1.0


@dataclass(frozen=True)
class MoveResult:
    """What a finished move did.

    Attributes:
        destination: The new models folder.
        bytes_moved: Bytes of the files in it.
        renamed: True when the folder was renamed (same volume) rather than copied.
        source_left: A problem deleting the source after the verified copy, or ``""``
            (the models are safe in the destination either way).
    """

    destination: Path
    bytes_moved: int
    renamed: bool
    source_left: str = ""


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def is_model_entry(name: str) -> bool:
    """True when ``name`` (a top-level entry of a folder) is models-folder content: see
    :data:`MODEL_ENTRY_PREFIXES`, :data:`MODEL_ENTRY_NAMES`, :data:`MODEL_ENTRY_SUFFIXES`; the
    ``.moving`` copy of one (an unfinished move) counts too."""
    name = name.removesuffix(PARTIAL_SUFFIX)
    return (
        name.startswith(MODEL_ENTRY_PREFIXES)
        or name in MODEL_ENTRY_NAMES
        or name.lower().endswith(MODEL_ENTRY_SUFFIXES)
    )


def foreign_entries(folder: Path) -> list[str]:
    """The top-level entries of ``folder`` that are not models-folder content, sorted (none
    when ``folder`` is missing or not a folder)."""
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise ModelsFolderError(
            f"Cannot read {folder}: {exc.strerror or exc}.", "Pick a folder you can read."
        ) from exc
    return sorted(name for name in names if not is_model_entry(name))


def _describe(names: list[str]) -> str:
    shown = ", ".join(names[:FOREIGN_SHOWN])
    more = len(names) - FOREIGN_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _require_path(value: Path | str, what: str) -> Path:
    """``value`` as an absolute path; refuses an empty or blank one (``Path("")`` is ``.``, so
    a bare ``.`` is refused too: pass an absolute path, as the CLI and the Library page do)."""
    if not str(value).strip() or str(value) == ".":
        raise ModelsFolderError(
            f"The {what} is empty.",
            "Give the folder's path (an absolute path, or a relative one such as ./models).",
        )
    return Path(value).expanduser().absolute()


def _check_override() -> None:
    override = os.environ.get("QWEN_DESKTOP_MODELS_DIR")
    if override:
        raise ModelsFolderError(
            f"The models folder is set by QWEN_DESKTOP_MODELS_DIR={override}, which wins over "
            "the setting.",
            "Unset QWEN_DESKTOP_MODELS_DIR (or change it) to choose the folder in the app.",
        )


def repoint_models_folder(config_dir: Path, folder: Path | str) -> Path:
    """Use ``folder`` as the models folder from now on, without moving anything.

    Models in the old folder stay there (and no longer show in the library); models already in
    ``folder`` (a huggingface_hub cache) show at once. ``folder`` must be empty, missing (its
    parent must exist: only the last level is created) or a models folder (nothing but
    :func:`is_model_entry` entries at its top).

    Returns:
        The folder, absolute.

    Raises:
        ModelsFolderError: ``QWEN_DESKTOP_MODELS_DIR`` overrides the setting, the path is
            empty, the folder is a file, holds other files (a few are named), its parent does
            not exist, or it cannot be created.
    """
    _check_override()
    folder = _require_path(folder, "models folder path")
    if folder.exists() and not folder.is_dir():
        raise ModelsFolderError(
            f"{folder} is a file, not a folder.", "Pick an empty folder or a models folder."
        )
    foreign = foreign_entries(folder)
    if foreign:
        raise ModelsFolderError(
            f"{folder} is not a models folder: it holds {_describe(foreign)}.",
            "Pick an empty (or new) folder, or an existing models folder (a Hugging Face "
            "cache, with models--* folders).",
        )
    if not folder.parent.is_dir():
        raise ModelsFolderError(
            f"Cannot use {folder} as the models folder: {folder.parent} does not exist.",
            "Pick an existing folder, or a new one whose parent exists (create the parent first).",
        )
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ModelsFolderError(
            f"Cannot use {folder} as the models folder: {exc.strerror or exc}.",
            "Pick a folder you can write to (an existing one, or one whose parent exists).",
        ) from exc
    save_settings(config_dir, load_settings(config_dir).with_changes(models_dir=str(folder)))
    return folder


def _scan(source: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Folders, regular files and symlinks of the model content in ``source`` (relative
    paths; top-level entries that are not :func:`is_model_entry` are never included)."""
    dirs: list[Path] = []
    files: list[Path] = []
    links: list[Path] = []
    for root, dirnames, filenames in os.walk(source):
        base = Path(root)
        if base == source:
            dirnames[:] = [name for name in dirnames if is_model_entry(name)]
            filenames[:] = [name for name in filenames if is_model_entry(name)]
        for name in list(dirnames):
            if (base / name).is_symlink():
                links.append((base / name).relative_to(source))
                dirnames.remove(name)
            else:
                dirs.append((base / name).relative_to(source))
        for name in filenames:
            rel = (base / name).relative_to(source)
            if rel.name == MARKER_NAME:
                continue
            (links if (base / name).is_symlink() else files).append(rel)
    return dirs, files, links


def _sha256(path: Path, cancel: threading.Event | None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if cancel is not None and cancel.is_set():
                raise MoveCancelledError("The move was cancelled.", "")
            digest.update(chunk)
    return digest.hexdigest()


def _check_destination(source: Path, dest: Path) -> bool:
    """Validate the pair; True when ``dest`` holds an unfinished move of ``source``."""
    if not source.is_dir():
        raise ModelsFolderError(
            f"The models folder {source} does not exist.",
            "Choose another folder with `qwen-desktop models folder PATH` (nothing to move).",
        )
    foreign = foreign_entries(source)
    if foreign:
        raise ModelsFolderError(
            f"The models folder {source} holds files that are not models: "
            f"{_describe(foreign)}. Nothing was moved.",
            "Move those elsewhere yourself (only models are moved), or choose another models "
            "folder with `qwen-desktop models folder PATH`.",
        )
    if dest == source or _is_inside(dest, source) or _is_inside(source, dest):
        raise ModelsFolderError(
            f"Cannot move {source} to {dest}: one is inside the other.",
            "Pick a destination outside the current models folder.",
        )
    if dest.exists() and not dest.is_dir():
        raise ModelsFolderError(f"{dest} is a file, not a folder.", "Pick a folder.")
    marker = dest / MARKER_NAME
    if marker.is_file():
        try:
            started_from = json.loads(marker.read_text(encoding="utf-8"))["source"]
        except (OSError, ValueError, KeyError, TypeError):
            started_from = None
        if started_from == str(source):
            return True
    if dest.is_dir() and any(dest.iterdir()):
        raise ModelsFolderError(
            f"{dest} is not empty.",
            "Pick an empty or new folder (to use a folder that already holds models, choose "
            "it with `qwen-desktop models folder PATH` instead of moving).",
        )
    return False


def move_models_folder(
    config_dir: Path,
    source: Path,
    dest: Path,
    *,
    on_progress: Callable[[MoveProgress], None] | None = None,
    cancel: threading.Event | None = None,
    free_bytes: Callable[[Path], int] | None = None,
    keep_source: bool = False,
    on_start: Callable[[Path, Path], None] | None = None,
) -> MoveResult:
    """Move the models folder ``source`` to ``dest`` and make ``dest`` the models folder.

    Blocking (run it in a worker thread); see the module docstring for the steps.

    Args:
        config_dir: Where the settings are saved.
        source: The current models folder.
        dest: The new one (missing, empty, or an unfinished move of ``source``).
        on_progress: Called with a :class:`MoveProgress` at most four times a second and at
            the end.
        cancel: Set it to stop between chunks (raises :class:`MoveCancelledError`).
        free_bytes: Measures free bytes at a folder (default ``shutil.disk_usage``).
        keep_source: Leave the source in place after the verified copy.
        on_start: Called with ``(source, dest)`` (absolute) once every check passed, just
            before anything is written.

    Raises:
        ModelsFolderError: The override variable is set, a path is empty, the source holds
            entries that are not models (named; only model content is ever moved or deleted),
            the destination is unsuitable, it has too little free space ("needs X, Y free"),
            or a copy failed (disk full, a file changed while copying); the source is intact.
        MoveCancelledError: Cancelled.
    """
    _check_override()
    source = _require_path(source, "current models folder path")
    dest = _require_path(dest, "destination path")
    resuming = _check_destination(source, dest)
    measure = free_bytes or (lambda folder: int(shutil.disk_usage(existing_ancestor(folder)).free))
    dirs, files, links = _scan(source)
    sizes = {rel: (source / rel).stat().st_size for rel in files}
    total = sum(sizes.values())

    def copied(rel: Path) -> int:
        for candidate in (dest / rel, dest / (str(rel) + PARTIAL_SUFFIX)):
            if candidate.is_file():
                return min(candidate.stat().st_size, sizes[rel])
        return 0

    needed = total - sum(copied(rel) for rel in files)
    free = measure(dest)
    if needed > free:
        raise ModelsFolderError(
            f"Moving the models needs {format_decimal_bytes(needed)}, {format_bytes(free)} free "
            f"on {existing_ancestor(dest)}.",
            f"Free up {format_decimal_bytes(needed - free)} or more there, or pick another "
            "destination.",
        )
    if on_start is not None:
        on_start(source, dest)
    report = _Reporter(on_progress, total)
    if not resuming and not dest.exists() and _same_volume(source, dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, dest)
        save_settings(config_dir, load_settings(config_dir).with_changes(models_dir=str(dest)))
        report(total, "", force=True)
        return MoveResult(dest, total, renamed=True)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MARKER_NAME).write_text(json.dumps({"source": str(source)}), encoding="utf-8")
    try:
        for rel in dirs:
            (dest / rel).mkdir(parents=True, exist_ok=True)
        done = 0
        for rel in files:
            _copy_verified(source / rel, dest / rel, cancel, report.file_progress(done, str(rel)))
            done += sizes[rel]
            report(done, str(rel))
        for rel in links:
            target = dest / rel
            if target.is_symlink() or target.exists():
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(source / rel), target)
    except OSError as exc:
        full = exc.errno in {errno.ENOSPC, errno.EDQUOT}
        raise ModelsFolderError(
            f"Moving the models to {dest} failed: {exc.strerror or exc}"
            f"{' (the disk is full)' if full else ''}. The models are still in {source}.",
            "Free some space or fix the destination, then start the move again: what is "
            "already copied is kept.",
        ) from exc
    save_settings(config_dir, load_settings(config_dir).with_changes(models_dir=str(dest)))
    (dest / MARKER_NAME).unlink(missing_ok=True)
    report(total, "", force=True)
    left = ""
    if not keep_source:
        errors = _remove_moved(source, dirs, files, links)
        if errors:
            left = f"Some files could not be deleted from {source}: {errors[0]}"
            _log.warning("%s (%d in all)", left, len(errors))
    return MoveResult(dest, total, renamed=False, source_left=left)


def _remove_moved(
    folder: Path, dirs: list[Path], files: list[Path], links: list[Path]
) -> list[str]:
    """Delete what was copied out of ``folder`` (files and links, then the folders deepest
    first; links are removed, never followed), then ``folder`` itself when that left it empty.
    Nothing else is deleted: a file that appeared since the scan stays. The failures."""
    errors: list[str] = []
    for rel in [*files, *links]:
        try:
            (folder / rel).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors.append(f"{folder / rel}: {exc.strerror or exc}")
    for rel in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        try:
            (folder / rel).rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors.append(f"{folder / rel}: {exc.strerror or exc}")
    marker = folder / MARKER_NAME
    marker.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError as exc:
        errors.append(f"{folder}: {exc.strerror or exc}")
    return errors


def _same_volume(source: Path, dest: Path) -> bool:
    try:
        return os.stat(source).st_dev == os.stat(existing_ancestor(dest)).st_dev
    except OSError:
        return False


class _Reporter:
    def __init__(self, callback: Callable[[MoveProgress], None] | None, total: int) -> None:
        self._callback = callback
        self._total = total
        self._last = 0.0

    def __call__(self, done: int, current: str, force: bool = False) -> None:
        now = time.monotonic()
        if self._callback is None or (not force and now - self._last < PROGRESS_INTERVAL_S):
            return
        self._last = now
        self._callback(MoveProgress(done, self._total, current))

    def file_progress(self, before: int, current: str) -> Callable[[int], None]:
        """A callback for one file's copied bytes (``before``: bytes of earlier files)."""

        def progress(copied: int) -> None:
            self(before + copied, current)

        return progress


def _copy_verified(
    src: Path, dst: Path, cancel: threading.Event | None, progress: Callable[[int], None]
) -> None:
    """Copy ``src`` to ``dst`` via ``dst.moving`` (appending to a partial copy), then compare
    sha256 digests before renaming into place. A finished ``dst`` is verified, not recopied."""
    size = src.stat().st_size
    if dst.is_file() and dst.stat().st_size == size:
        source_digest = _sha256(src, cancel)
        if _sha256(dst, cancel) == source_digest:
            progress(size)
            return
        dst.unlink()
    part = dst.with_name(dst.name + PARTIAL_SUFFIX)
    offset = part.stat().st_size if part.is_file() else 0
    if offset > size:
        part.unlink()
        offset = 0
    with src.open("rb") as reader, part.open("ab") as writer:
        reader.seek(offset)
        written = offset
        while chunk := reader.read(CHUNK_BYTES):
            if cancel is not None and cancel.is_set():
                writer.flush()
                raise MoveCancelledError(
                    "The move was cancelled; the models are still in the old folder.",
                    "Start the move again to continue where it stopped.",
                )
            writer.write(chunk)
            written += len(chunk)
            progress(written)
        writer.flush()
        os.fsync(writer.fileno())
    if _sha256(part, cancel) != _sha256(src, cancel):
        part.unlink()
        raise ModelsFolderError(
            f"The copy of {src.name} does not match the original (it changed while copying, "
            "or the destination disk returned other bytes).",
            "Start the move again (the file is copied anew); check the destination disk if it "
            "repeats.",
        )
    shutil.copystat(src, part)
    os.replace(part, dst)
