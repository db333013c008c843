"""Packaging (issue 8): desktop integration files, the spec's exclusions, the engine fetcher, the
bundled-engine lookup in the frozen layouts, and the Linux/Windows installer scripts.

No PyInstaller build runs here (minutes); the checks that need one are in installer/README.md.
Tools that may be missing (desktop-file-validate, appstreamcli, dpkg-deb, makensis) skip their
test with the package to install.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from qwen_desktop.cli import is_cli_invocation
from qwen_desktop.core import paths
from qwen_desktop.engines import ollama_discovery
from qwen_desktop.engines.ollama_discovery import BINARY_ENV, find_ollama_binary

ROOT = Path(__file__).resolve().parents[1]
INSTALLER = ROOT / "installer"
LINUX = ROOT / "resources" / "linux"
APP_ID = "io.github.qwen_desktop.QwenDesktop"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"

pytestmark = pytest.mark.timeout(60)


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def excludes() -> ModuleType:
    return _load(INSTALLER / "excludes.py")


@pytest.fixture(scope="module")
def fetcher() -> ModuleType:
    return _load(INSTALLER / "fetch_ollama.py")


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {package})")
    return path


def _desktop_entry() -> dict[str, str]:
    lines = DESKTOP.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line)


# ------------------------------------------------------------------ desktop integration


def test_desktop_file_names_match_the_code() -> None:
    from qwen_desktop.gui import DESKTOP_FILE_NAME

    generator = _load(ROOT / "installer" / "generate_icons.py")
    entry = _desktop_entry()
    assert DESKTOP.stem == DESKTOP_FILE_NAME == APP_ID
    assert entry["Icon"] == generator.ICON_NAME == APP_ID
    assert entry["Exec"].split()[0] == "qwen-desktop" == entry["TryExec"]
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("icon") == APP_ID
    from qwen_desktop import __version__

    assert root.find("releases/release").get("version") == __version__  # type: ignore[union-attr]


def test_desktop_file_validates() -> None:
    tool = _tool("desktop-file-validate", "desktop-file-utils")
    done = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "error" not in done.stdout, done.stdout + done.stderr


def test_metainfo_validates() -> None:
    tool = _tool("appstreamcli", "appstream")
    done = subprocess.run(
        [tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_icons_are_generated_in_every_format(tmp_path: Path) -> None:
    from PIL import Image

    generator = _load(ROOT / "installer" / "generate_icons.py")
    generator.generate(tmp_path)
    for size in generator.PNG_SIZES:
        png = tmp_path / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        with Image.open(png) as image:
            assert image.size == (size, size)
            assert image.getpixel((size // 2, size // 2))[3] == 255  # drawn, not blank
            assert image.getpixel((0, 0))[3] == 0  # transparent corner (rounded square)
    with Image.open(tmp_path / "qwen-desktop.ico") as ico:
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
    with Image.open(tmp_path / "qwen-desktop.icns") as icns:
        assert icns.format == "ICNS" and max(icns.size) >= 512


def test_a_broken_svg_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generator = _load(ROOT / "installer" / "generate_icons.py")
    broken = tmp_path / "broken.svg"
    broken.write_text("<svg")
    assert generator.main([str(tmp_path / "out"), "--svg", str(broken)]) == 2
    assert "not a valid SVG" in capsys.readouterr().err


def test_quit_after_opens_the_window_not_the_cli() -> None:
    assert not is_cli_invocation(["--quit-after", "3"])
    assert is_cli_invocation(["--quit-afterwards"])


# ------------------------------------------------------------------ the PyInstaller spec


def test_spec_leaves_out_ml_and_other_qt_bindings(excludes: ModuleType) -> None:
    for name in ("torch", "transformers", "PyQt5", "PyQt6", "PySide2", "PySide6.QtWebEngineCore"):
        assert name in excludes.EXCLUDES
    spec = (INSTALLER / "qwen-desktop.spec").read_text(encoding="utf-8")
    compile(spec, "qwen-desktop.spec", "exec")
    assert "excludes=[*EXCLUDES, *APP_ONLY_EXCLUDED]" in spec
    assert "COLLECT(" in spec and "onefile" not in spec.split('"""', 2)[2]


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (module body, try blocks included)."""
    found: set[str] = set()
    body = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while body:
        node = body.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Try | ast.If):
            body += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            body += [stmt for handler in getattr(node, "handlers", []) for stmt in handler.body]
    return found


def test_no_bundled_module_needs_an_excluded_one_at_import(excludes: ModuleType) -> None:
    """An excluded module imported at module level would crash the frozen app at start."""
    package = ROOT / "qwen_desktop"
    offenders = []
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module in excludes.APP_ONLY_EXCLUDED:
            continue
        for name in _top_level_imports(path):
            if any(name == gone or name.startswith(gone + ".") for gone in excludes.EXCLUDES):
                offenders.append(f"{module} imports {name}")
    assert not offenders, offenders


def test_no_qt_module_the_app_uses_is_excluded(excludes: ModuleType) -> None:
    used = {
        name
        for path in (ROOT / "qwen_desktop").rglob("*.py")
        for name in _top_level_imports(path)
        if name.startswith("PySide6.")
    }
    assert used >= {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"}
    assert not used & set(excludes.EXCLUDES)


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", False),
        ("PySide6/Qt/lib/libQt6Quick.so.6", False),
        ("PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6", False),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
        ("libnvidia-ml.so.1", False),
        ("transformers-5.25.0.dist-info/METADATA", False),
        ("PySide6\\Qt6Widgets.dll", True),
    ],
)
def test_dropped_files(excludes: ModuleType, dest: str, kept: bool) -> None:
    assert excludes.keep(dest) is kept


# ------------------------------------------------------------------ the engine fetcher


def _fake_release(tmp_path: Path, members: dict[str, bytes], asset: str) -> tuple[dict, str]:
    """A release folder with one .tgz and a lock pointing at it (file: URLs)."""
    release = tmp_path / "release"
    release.mkdir()
    with tarfile.open(release / asset, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256((release / asset).read_bytes()).hexdigest()
    lock = {
        "version": "9.9.9",
        "release_url": release.as_uri() + "/{asset}",
        "checksums_asset": "sha256sum.txt",
        "assets": {"linux-x86_64": {"asset": asset, "sha256": digest, "into": "ollama"}},
    }
    (release / "sha256sum.txt").write_text(f"{digest}  ./{asset}\n")
    return lock, digest


def test_fetch_verifies_and_unpacks_the_linux_layout(tmp_path: Path, fetcher: ModuleType) -> None:
    members = {"bin/ollama": b"#!/bin/sh\n", "lib/ollama/libggml-base.so": b"x"}
    lock, _ = _fake_release(tmp_path, members, "ollama-linux-amd64.tgz")
    app = tmp_path / "qwen-desktop"
    binary = fetcher.fetch("linux-x86_64", app, lock=lock)
    assert binary == app / "ollama" / "bin" / "ollama"
    assert (app / "ollama" / "lib" / "ollama" / "libggml-base.so").read_bytes() == b"x"
    found = find_ollama_binary(base=app, path_env="")
    assert found is not None and (found.path, found.source) == (binary, "bundled")


def test_fetch_refuses_a_wrong_or_missing_checksum(tmp_path: Path, fetcher: ModuleType) -> None:
    lock, digest = _fake_release(tmp_path, {"bin/ollama": b"x"}, "ollama-linux-amd64.tgz")
    lock["assets"]["linux-x86_64"]["sha256"] = "0" * 64
    with pytest.raises(fetcher.FetchError, match=f"expected 0{{64}}, got {digest}"):
        fetcher.fetch("linux-x86_64", tmp_path / "app", lock=lock)
    assert not (tmp_path / "app" / "ollama").exists()
    lock["assets"]["linux-x86_64"]["sha256"] = ""
    with pytest.raises(fetcher.FetchError, match="--record"):
        fetcher.fetch("linux-x86_64", tmp_path / "app", lock=lock)
    with pytest.raises(fetcher.FetchError, match="known: linux-x86_64"):
        fetcher.fetch("haiku-x86_64", tmp_path / "app", lock=lock)


def test_fetch_refuses_paths_that_leave_the_folder(tmp_path: Path, fetcher: ModuleType) -> None:
    lock, _ = _fake_release(tmp_path, {"../evil": b"x"}, "ollama-linux-amd64.tgz")
    with pytest.raises(fetcher.FetchError, match="Cannot unpack"):
        fetcher.fetch("linux-x86_64", tmp_path / "app", lock=lock)
    assert not (tmp_path / "evil").exists()


def test_record_fills_missing_checksums(tmp_path: Path, fetcher: ModuleType) -> None:
    lock, digest = _fake_release(tmp_path, {"bin/ollama": b"x"}, "ollama-linux-amd64.tgz")
    lock["assets"]["linux-x86_64"]["sha256"] = ""
    path = tmp_path / "lock.json"
    path.write_text(json.dumps(lock))
    assert fetcher.record(path) == 0
    assert json.loads(path.read_text())["assets"]["linux-x86_64"]["sha256"] == digest


def test_the_lock_pins_every_installer_platform(fetcher: ModuleType) -> None:
    lock = fetcher.load_lock()
    assert lock["version"].count(".") == 2
    platforms = {"linux-x86_64", "windows-x86_64", "macos-arm64", "macos-x86_64"}
    assert platforms <= set(lock["assets"])
    for key, entry in lock["assets"].items():
        assert entry["asset"].startswith("ollama-"), key
        assert entry["sha256"] == "" or len(entry["sha256"]) == 64, key
        assert fetcher.asset_url(lock, entry["asset"]).startswith("https://github.com/ollama/")


# ------------------------------------------------------------------ frozen layouts


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Pretend to be a PyInstaller-frozen app: returns a function taking (executable, meipass)."""
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.delenv("QWEN_DESKTOP_RESOURCES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-path"))

    def freeze(executable: Path, meipass: Path) -> None:
        executable.parent.mkdir(parents=True, exist_ok=True)
        executable.write_text("")
        monkeypatch.setattr(sys, "frozen", True, raising=False)
        monkeypatch.setattr(sys, "executable", str(executable))
        monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
        (meipass / "resources" / "catalog").mkdir(parents=True)

    return freeze


def _engine(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_onedir_layout_finds_engine_and_resources(
    tmp_path: Path, frozen, fetcher: ModuleType
) -> None:
    app = tmp_path / "opt" / "qwen-desktop"
    frozen(app / "qwen-desktop", app / "_internal")
    binary = _engine(app / "ollama" / fetcher.BINARY_IN_ARCHIVE["linux"])
    found = find_ollama_binary()
    assert found is not None and (found.path, found.source) == (binary, "bundled")
    assert paths.resources_dir() == app / "_internal" / "resources"


def test_onedir_through_the_usr_bin_symlink(
    tmp_path: Path, frozen, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "opt" / "qwen-desktop"
    frozen(app / "qwen-desktop", app / "_internal")
    binary = _engine(app / "ollama" / "bin" / "ollama")
    link = tmp_path / "usr" / "bin" / "qwen-desktop"
    link.parent.mkdir(parents=True)
    link.symlink_to(app / "qwen-desktop")
    monkeypatch.setattr(sys, "executable", str(link))
    found = find_ollama_binary()
    assert found is not None and found.path == binary


def test_windows_onedir_layout(
    tmp_path: Path, frozen, fetcher: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "Programs" / "Qwen Desktop"
    frozen(app / "qwen-desktop.exe", app / "_internal")
    monkeypatch.setattr(ollama_discovery.sys, "platform", "win32")
    binary = app / "ollama" / fetcher.BINARY_IN_ARCHIVE["windows"]
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"MZ")
    found = find_ollama_binary(path_env="")
    assert found is not None and found.path == binary


def test_macos_app_layout_finds_engine_and_resources(
    tmp_path: Path, frozen, fetcher: ModuleType
) -> None:
    contents = tmp_path / "Qwen Desktop.app" / "Contents"
    frozen(contents / "MacOS" / "qwen-desktop", contents / "Frameworks")
    # fetch_ollama.py --dest Contents/Resources unpacks ollama-darwin.tgz into ollama/
    binary = _engine(contents / "Resources" / "ollama" / fetcher.BINARY_IN_ARCHIVE["macos"])
    found = find_ollama_binary()
    assert found is not None and (found.path, found.source) == (binary, "bundled")
    assert paths.resources_dir() == contents / "Frameworks" / "resources"


def test_frozen_app_without_engine_finds_none(tmp_path: Path, frozen) -> None:
    app = tmp_path / "qwen-desktop"
    frozen(app / "qwen-desktop", app / "_internal")
    (app / "ollama").mkdir()  # a folder named like the binary is not an engine
    assert find_ollama_binary() is None


# ------------------------------------------------------------------ installer scripts


def test_deb_layout_and_depends(tmp_path: Path) -> None:
    dpkg_deb = _tool("dpkg-deb", "dpkg")
    onedir = tmp_path / "qwen-desktop"
    _engine(onedir / "qwen-desktop")
    _engine(onedir / "ollama" / "bin" / "ollama")
    (onedir / "_internal").mkdir()
    done = subprocess.run(
        ["bash", str(INSTALLER / "linux" / "build_deb.sh"), str(onedir), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    deb = Path(done.stdout.strip().splitlines()[-1])
    listing = subprocess.run([dpkg_deb, "-c", str(deb)], capture_output=True, text=True).stdout
    for path in (
        "./opt/qwen-desktop/qwen-desktop",
        "./opt/qwen-desktop/ollama/bin/ollama",
        "./usr/bin/qwen-desktop -> /opt/qwen-desktop/qwen-desktop",
        f"./usr/share/applications/{APP_ID}.desktop",
        f"./usr/share/metainfo/{APP_ID}.metainfo.xml",
        f"./usr/share/icons/hicolor/256x256/apps/{APP_ID}.png",
        f"./usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
    ):
        assert path in listing, path
    assert "root/root" in listing and "DEBIAN" not in listing
    control = subprocess.run([dpkg_deb, "-f", str(deb)], capture_output=True, text=True).stdout
    assert "libc6 (>= 2.17)" in control  # the fake onedir needs no versioned glibc symbol
    system = ("libgl1", "libegl1", "libxcb1", "libwayland-client0")  # not bundled (ldd)
    for package in (*system, "libxkbcommon-x11-0", "libxcb-cursor0", "libdbus-1-3"):
        assert package in control
    assert not (tmp_path / "out" / "qwen-desktop").exists()  # staging is cleaned up


def test_deb_without_onedir_says_how_to_build_it(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(INSTALLER / "linux" / "build_deb.sh"), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "pyinstaller installer/qwen-desktop.spec" in done.stderr


def test_nsis_script_compiles(tmp_path: Path) -> None:
    makensis = _tool("makensis", "nsis")
    source = tmp_path / "onedir"
    (source / "_internal").mkdir(parents=True)
    (source / "qwen-desktop.exe").write_bytes(b"MZ")
    (source / "_internal" / "python311.dll").write_bytes(b"MZ")
    out = tmp_path / "qwen-desktop-0.1.0-setup.exe"
    done = subprocess.run(
        [
            makensis,
            "-V2",
            "-DVERSION=0.1.0",
            f"-DSOURCE_DIR={source}",
            f"-DOUT_FILE={out}",
            str(INSTALLER / "windows" / "qwen-desktop.nsi"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes()[:2] == b"MZ"
    script = (INSTALLER / "windows" / "qwen-desktop.nsi").read_text(encoding="utf-8")
    assert "RequestExecutionLevel user" in script and "HKLM" not in script
