#!/usr/bin/env bash
# Build an AppImage of Qwen Desktop from the PyInstaller onedir (CI only: appimagetool is not in
# any package registry reachable from the development machine).
#
#   installer/linux/build_appimage.sh [ONEDIR] [OUT_DIR]
#
# Needs APPIMAGETOOL (path to appimagetool-x86_64.AppImage; CI downloads a pinned release and
# checks its sha256 first, see .github/workflows/build.yml). Without it, the AppDir is assembled
# and the script stops with status 3, so the layout can still be inspected.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ONEDIR="${1:-$ROOT/installer/build/dist/qwen-desktop}"
OUT_DIR="${2:-$ROOT/installer/build}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
APP_ID="io.github.qwen_desktop.QwenDesktop"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/qwen_desktop/__init__.py")"
ARCH="$(uname -m)"

if [ ! -x "$ONEDIR/qwen-desktop" ]; then
    echo "error: $ONEDIR/qwen-desktop not found; build the onedir first (installer/README.md)." >&2
    exit 2
fi

APPDIR="$OUT_DIR/AppDir"
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/share/applications" "$APPDIR/usr/share/metainfo"
cp -a "$ONEDIR" "$APPDIR/usr/qwen-desktop"
"$PYTHON" "$ROOT/installer/generate_icons.py" "$OUT_DIR/appimage-icons" >/dev/null
mkdir -p "$APPDIR/usr/share/icons"
cp -r "$OUT_DIR/appimage-icons/hicolor" "$APPDIR/usr/share/icons/"
install -m 0644 "$ROOT/resources/linux/$APP_ID.desktop" "$APPDIR/$APP_ID.desktop"
install -m 0644 "$ROOT/resources/linux/$APP_ID.desktop" "$APPDIR/usr/share/applications/"
# appimagetool checks metainfo named after the desktop id (.appdata.xml is the legacy name).
install -m 0644 "$ROOT/resources/linux/$APP_ID.metainfo.xml" "$APPDIR/usr/share/metainfo/$APP_ID.appdata.xml"
cp "$OUT_DIR/appimage-icons/hicolor/256x256/apps/$APP_ID.png" "$APPDIR/$APP_ID.png"
ln -sf "$APP_ID.png" "$APPDIR/.DirIcon"
cat > "$APPDIR/AppRun" <<'APPRUN'
#!/bin/sh
# AppImage entry point: run the frozen app with the arguments given.
HERE="$(dirname "$(readlink -f "$0")")"
exec "$HERE/usr/qwen-desktop/qwen-desktop" "$@"
APPRUN
chmod +x "$APPDIR/AppRun"

if [ -z "${APPIMAGETOOL:-}" ] || [ ! -x "$APPIMAGETOOL" ]; then
    echo "AppDir assembled at $APPDIR; set APPIMAGETOOL to build the AppImage." >&2
    exit 3
fi
OUT="$OUT_DIR/Qwen_Desktop-$VERSION-$ARCH.AppImage"
ARCH="$ARCH" "$APPIMAGETOOL" "$APPDIR" "$OUT"
echo "$OUT"
