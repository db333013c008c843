#!/usr/bin/env bash
# Build "Qwen Desktop.app" and its .dmg on macOS (arm64 or x86_64: the runner's architecture).
#
#   installer/macos/build_app.sh
#
# Steps: icons -> PyInstaller (.app) -> engine into Contents/Resources/ollama -> sign.sh
# (engine first, then the bundle) -> .dmg -> sign the .dmg -> notarize.sh (notarize + staple).
# Signing and notarizing need CI secrets (see sign.sh, notarize.sh); without them the app is
# ad-hoc signed (runs on the build machine, Gatekeeper warns elsewhere) and not notarized.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python}"
BUILD="$ROOT/installer/build"
ARCH="$(uname -m)"                     # arm64 on macos-14, x86_64 on the Intel runner
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/qwen_desktop/__init__.py")"
APP="$BUILD/dist/Qwen Desktop.app"
DMG="$BUILD/Qwen-Desktop-$VERSION-macos-$ARCH.dmg"

"$PYTHON" "$ROOT/installer/generate_icons.py" "$BUILD/icons"
QWEN_DESKTOP_TARGET_ARCH="$ARCH" "$PYTHON" -m PyInstaller "$ROOT/installer/qwen-desktop.spec" \
    --noconfirm --distpath "$BUILD/dist" --workpath "$BUILD/work"
if [ "${SKIP_ENGINE:-0}" != "1" ]; then
    "$PYTHON" "$ROOT/installer/fetch_ollama.py" --platform "macos-$ARCH" \
        --dest "$APP/Contents/Resources" ${OLLAMA_CACHE:+--cache "$OLLAMA_CACHE"}
fi
"$ROOT/installer/macos/sign.sh" "$APP"

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "Qwen Desktop" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
"$ROOT/installer/macos/sign.sh" "$DMG"
"$ROOT/installer/macos/notarize.sh" "$DMG"
echo "$DMG"
