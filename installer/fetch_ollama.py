"""Fetch the pinned Ollama engine for one platform, check its sha256, unpack it beside the app.

Runs on the CI runners (no network on the development machine)::

    python installer/fetch_ollama.py --dest installer/build/dist/qwen-desktop
    python installer/fetch_ollama.py --platform macos-arm64 \
        --dest "installer/build/dist/Qwen Desktop.app/Contents/Resources"
    python installer/fetch_ollama.py --record      # fill empty sha256 values in the lock

The version, the asset per platform and their sha256 are pinned in ``installer/ollama.lock.json``.
An asset whose sha256 is empty or differs is refused: nothing is unpacked. ``--record`` reads the
release's own ``sha256sum.txt`` and writes the missing values into the lock, to be reviewed and
committed (trust on first use, once per version bump).

Each archive is unpacked as is into ``<dest>/ollama/`` because the binary finds its compute
libraries relative to itself (shared/research/ollama.md, "Distribution"):

- Linux ``ollama-linux-*.tgz``: ``ollama/bin/ollama`` + ``ollama/lib/ollama/...``;
- Windows ``ollama-windows-*.zip``: ``ollama/ollama.exe`` + ``ollama/lib/ollama/...``;
- macOS ``ollama-darwin.tgz``: ``ollama/ollama`` with its helper libraries beside it.

These are where ``qwen_desktop.engines.ollama_discovery.bundled_candidates`` looks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

LOCK = Path(__file__).resolve().parent / "ollama.lock.json"
DOWNLOAD_TIMEOUT_S = 60.0
"""Socket timeout per read (s); a stalled download fails instead of hanging the CI job."""
CHUNK = 1 << 20
BINARY_IN_ARCHIVE = {"linux": "bin/ollama", "windows": "ollama.exe", "macos": "ollama"}
"""Where the ``ollama`` executable lies inside each OS's archive."""


class FetchError(Exception):
    """A download, checksum or archive problem, with what to do about it."""


def current_platform() -> str:
    """This machine's key in the lock's ``assets`` (``linux-x86_64``, ``macos-arm64``, ...)."""
    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform)
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine
    )
    if system is None or arch is None:
        raise FetchError(f"No Ollama build is pinned for {sys.platform}/{machine}.")
    return f"{system}-{arch}"


def load_lock(path: Path = LOCK) -> dict:
    """The lock file's content (version, URL template, assets)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FetchError(f"Cannot read the Ollama lock {path}: {error}") from error


def asset_url(lock: dict, asset: str) -> str:
    """The download URL of ``asset`` for the pinned version."""
    return lock["release_url"].format(version=lock["version"], asset=asset)


def download(url: str, target: Path) -> str:
    """Download ``url`` (``https:`` or ``file:``) to ``target``; returns its sha256 (hex)."""
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as error:
        raise FetchError(
            f"Download of {url} failed: {error}. Check the network and the lock."
        ) from error
    return digest.hexdigest()


def unpack(archive: Path, into: Path) -> None:
    """Unpack a .tgz, .tar.zst or .zip into ``into`` (refusing paths that leave it)."""
    into.mkdir(parents=True, exist_ok=True)
    name = archive.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            root = into.resolve()
            for member in zipped.namelist():
                if not (into / member).resolve().is_relative_to(root):
                    raise FetchError(f"{name} holds a path outside its folder: {member}")
            zipped.extractall(into)
        return
    if name.endswith(".tar.zst"):
        if shutil.which("zstd") is None:
            raise FetchError(f"{name} needs the zstd tool: install zstd and run again.")
        plain = archive.with_suffix("")  # .tar
        subprocess.run(["zstd", "-d", "-q", "-f", str(archive), "-o", str(plain)], check=True)
        archive = plain
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")  # rejects absolute paths, .. and device files
    except (tarfile.TarError, OSError) as error:
        raise FetchError(f"Cannot unpack {name}: {error}") from error


def fetch(platform_key: str, dest: Path, *, lock: dict, cache: Path | None = None) -> Path:
    """Download, verify and unpack the engine for ``platform_key`` under ``dest``.

    Returns:
        The path of the unpacked ``ollama`` executable.

    Raises:
        FetchError: Unknown platform, no pinned sha256, a mismatch, or a broken archive.
    """
    entry = lock["assets"].get(platform_key)
    if entry is None:
        known = ", ".join(sorted(lock["assets"]))
        raise FetchError(f"No Ollama asset is pinned for {platform_key!r}; known: {known}.")
    expected = entry.get("sha256", "").lower()
    if len(expected) != 64:
        raise FetchError(
            f"No sha256 is pinned for {entry['asset']} (Ollama {lock['version']}). Run "
            "`python installer/fetch_ollama.py --record`, review the values and commit the lock."
        )
    with tempfile.TemporaryDirectory() as scratch:
        folder = cache or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / entry["asset"]
        if archive.exists():
            actual = hashlib.sha256(archive.read_bytes()).hexdigest()
        else:
            actual = download(asset_url(lock, entry["asset"]), archive)
        if actual != expected:
            archive.unlink()
            raise FetchError(
                f"sha256 mismatch for {entry['asset']}: expected {expected}, got {actual}. "
                "The download is corrupt or the release changed; nothing was unpacked."
            )
        into = dest / entry.get("into", "ollama")
        if into.exists():
            shutil.rmtree(into)  # an upgrade must not mix two engine versions' libraries
        unpack(archive, into)
    binary = into / BINARY_IN_ARCHIVE[platform_key.split("-", 1)[0]]
    if not binary.is_file():
        raise FetchError(f"{entry['asset']} has no {binary.relative_to(into)}; check the lock.")
    binary.chmod(binary.stat().st_mode | 0o755)
    return binary


def record(lock_path: Path = LOCK) -> int:
    """Fill the lock's empty sha256 values from the release's checksum list; returns 0."""
    lock = load_lock(lock_path)
    with tempfile.TemporaryDirectory() as scratch:
        listing = Path(scratch) / lock["checksums_asset"]
        download(asset_url(lock, lock["checksums_asset"]), listing)
        sums = {}
        for line in listing.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2:
                sums[parts[1].lstrip("*./")] = parts[0].lower()
    for key, entry in lock["assets"].items():
        if not entry.get("sha256"):
            if entry["asset"] not in sums:
                raise FetchError(f"{entry['asset']} is not in Ollama {lock['version']}'s list.")
            entry["sha256"] = sums[entry["asset"]]
            print(f"{key}: {entry['asset']} {entry['sha256']}")
    lock_path.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", help="Lock key, e.g. linux-x86_64 (default: this machine).")
    parser.add_argument("--dest", type=Path, help="Folder that receives ollama/ (the app folder).")
    parser.add_argument("--cache", type=Path, help="Keep downloads here (CI cache).")
    parser.add_argument("--lock", type=Path, default=LOCK, help="Lock file (default: %(default)s).")
    parser.add_argument("--record", action="store_true", help="Record missing sha256 values.")
    args = parser.parse_args(argv)
    try:
        if args.record:
            return record(args.lock)
        if args.dest is None:
            parser.error("--dest is required (the app folder that receives ollama/)")
        key = args.platform or current_platform()
        binary = fetch(key, args.dest, lock=load_lock(args.lock), cache=args.cache)
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Ollama for {key} unpacked: {binary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
