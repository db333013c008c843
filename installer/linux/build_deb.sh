#!/usr/bin/env bash
# Build the Debian/Ubuntu package of Qwen Desktop from the PyInstaller onedir.
#
#   installer/linux/build_deb.sh [ONEDIR] [OUT_DIR]
#
# ONEDIR   the PyInstaller output (default installer/build/dist/qwen-desktop); put the engine in
#          ONEDIR/ollama first (installer/fetch_ollama.py --dest ONEDIR) to ship it.
# OUT_DIR  where the .deb goes (default installer/build).
#
# Layout: the app under /opt/qwen-desktop, the launcher /usr/bin/qwen-desktop (a symlink: the
# frozen app resolves it to find its files), the desktop file, AppStream metainfo and hicolor
# icons under /usr/share. No maintainer scripts: dpkg's triggers of hicolor-icon-theme and
# desktop-file-utils refresh the icon cache and the menu, and the app writes nothing under /opt,
# so `apt-get purge` leaves nothing behind. Depends: what Qt's xcb platform plugin loads from the
# system (PyInstaller bundles no libGL/libEGL; see shared/research/this-machine.md, Packaging).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ONEDIR="${1:-$ROOT/installer/build/dist/qwen-desktop}"
OUT_DIR="${2:-$ROOT/installer/build}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
APP_ID="io.github.qwen_desktop.QwenDesktop"
PACKAGE="qwen-desktop"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/qwen_desktop/__init__.py")"
ARCH="$(dpkg --print-architecture)"
DEPENDS="libgl1, libegl1, libfontconfig1, libfreetype6, libdbus-1-3, \
libglib2.0-0, libx11-6, libx11-xcb1, libxkbcommon0, libxkbcommon-x11-0, libxcb1, \
libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, \
libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1, libxcb-xfixes0, libxcb-xkb1, \
libwayland-client0"
# libc6: the newest GLIBC_x.y symbol version any bundled ELF file needs (CI builds on ubuntu-22.04,
# glibc 2.35, the oldest supported target), measured below with objdump.
# Measured on the onedir (ldd of every bundled .so, libraries not bundled, dpkg -S): libc6, libgl1,
# libegl1 (GLVND), libxcb1 and libwayland-client0 come from the system; the rest of the list is
# what Qt's xcb plugin loads, bundled by PyInstaller too, kept so a stripped copy still works.

if [ ! -x "$ONEDIR/$PACKAGE" ]; then
    echo "error: $ONEDIR/$PACKAGE not found. Build it first:" >&2
    echo "  pyinstaller installer/qwen-desktop.spec --noconfirm --distpath installer/build/dist --workpath installer/build/work" >&2
    exit 2
fi
if ! command -v objdump >/dev/null; then
    echo "error: objdump is needed to find the glibc the bundle requires (apt-get install binutils)." >&2
    exit 2
fi
GLIBC_MIN="$(find "$ONEDIR" -type f \( -name '*.so*' -o -perm -u+x \) -exec objdump -T {} + 2>/dev/null |
    grep -o 'GLIBC_[0-9.]*' | cut -d_ -f2 | sort -V -u | tail -1)" || true  # objdump fails on scripts
GLIBC_MIN="${GLIBC_MIN:-2.17}"  # no versioned symbol at all: any glibc PyInstaller supports
if [ ! -x "$ONEDIR/ollama/bin/ollama" ]; then
    echo "warning: no engine in $ONEDIR/ollama (installer/fetch_ollama.py); the package will use an Ollama on PATH or the ml extra." >&2
fi

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/qwen-desktop-deb.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/$PACKAGE"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
    "$PKG/usr/share/metainfo" "$PKG/usr/share/doc/$PACKAGE"

cp -a "$ONEDIR" "$PKG/opt/$PACKAGE"
ln -s "/opt/$PACKAGE/$PACKAGE" "$PKG/usr/bin/$PACKAGE"
install -m 0644 "$ROOT/resources/linux/$APP_ID.desktop" "$PKG/usr/share/applications/"
install -m 0644 "$ROOT/resources/linux/$APP_ID.metainfo.xml" "$PKG/usr/share/metainfo/"
"$PYTHON" "$ROOT/installer/generate_icons.py" "$STAGE/icons" >/dev/null
mkdir -p "$PKG/usr/share/icons"
cp -r "$STAGE/icons/hicolor" "$PKG/usr/share/icons/"
cat > "$PKG/usr/share/doc/$PACKAGE/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: qwen-desktop
Source: https://github.com/qwen-desktop/qwen-desktop

Files: *
Copyright: qwen-desktop developers
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
 The bundled Ollama engine (opt/$PACKAGE/ollama) is MIT-licensed; Qt (PySide6) is LGPL-3.0.
COPYRIGHT

find "$PKG" -type d -exec chmod 0755 {} +
find "$PKG/usr/share" -type f -exec chmod 0644 {} +
INSTALLED_KB="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: $PACKAGE
Version: $VERSION
Architecture: $ARCH
Maintainer: qwen-desktop developers <qwen-desktop@users.noreply.github.com>
Installed-Size: $INSTALLED_KB
Depends: libc6 (>= $GLIBC_MIN), $DEPENDS
Suggests: nvidia-driver | nvidia-utils
Section: utils
Priority: optional
Homepage: https://github.com/qwen-desktop/qwen-desktop
Description: Run Qwen models on your own computer, offline
 Scans the hardware (memory, GPU and VRAM, free disk), recommends the Qwen models
 that fit, and chats with them locally through the bundled Ollama engine, with
 streamed answers and visible thinking.
CONTROL

mkdir -p "$OUT_DIR"
DEB="$OUT_DIR/${PACKAGE}_${VERSION}_${ARCH}.deb"
# xz, not zstd: Debian's dpkg reads zstd only from 1.21.18 (bookworm); Ubuntu defaults to zstd.
# DEB_COMPRESSION=gzip|none builds faster for local checks (xz of ~240 MB takes minutes).
dpkg-deb --root-owner-group "-Z${DEB_COMPRESSION:-xz}" --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
