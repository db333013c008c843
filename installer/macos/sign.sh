#!/usr/bin/env bash
# Code-sign the .app (inside out: the Ollama engine first, then every other library, then the
# bundle) or a .dmg, with the hardened runtime and a secure timestamp (notarization needs both).
#
#   installer/macos/sign.sh "installer/build/dist/Qwen Desktop.app" | file.dmg
#
# Secrets (GitHub secrets, set as environment variables by the workflow):
#   MACOS_CERT_P12_BASE64  "Developer ID Application" certificate + key (.p12), base64
#   MACOS_CERT_PASSWORD    its password
#   MACOS_SIGN_IDENTITY    e.g. "Developer ID Application: Name (TEAMID)"
# Without MACOS_SIGN_IDENTITY the app is signed ad hoc ("-"): arm64 requires a signature to run
# at all; Gatekeeper will still warn on other machines. A .dmg is then left unsigned.
set -euo pipefail

TARGET="${1:?usage: sign.sh <app or dmg>}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IDENTITY="${MACOS_SIGN_IDENTITY:--}"
FLAGS=(--force --options runtime)
[ "$IDENTITY" != "-" ] && FLAGS+=(--timestamp)

if [ "$IDENTITY" != "-" ] && [ -n "${MACOS_CERT_P12_BASE64:-}" ]; then
    # A throw-away keychain holding the certificate, searched first, deleted when the job ends.
    KEYCHAIN="${RUNNER_TEMP:-/tmp}/qwen-desktop-signing.keychain-db"
    KEYCHAIN_PASSWORD="$(uuidgen)"
    if [ ! -f "$KEYCHAIN" ]; then
        security create-keychain -p "$KEYCHAIN_PASSWORD" "$KEYCHAIN"
        security set-keychain-settings -lut 21600 "$KEYCHAIN"
        security unlock-keychain -p "$KEYCHAIN_PASSWORD" "$KEYCHAIN"
        P12="${RUNNER_TEMP:-/tmp}/qwen-desktop-signing.p12"
        echo "$MACOS_CERT_P12_BASE64" | base64 --decode > "$P12"
        security import "$P12" -k "$KEYCHAIN" -P "${MACOS_CERT_PASSWORD:?MACOS_CERT_PASSWORD is not set}" \
            -T /usr/bin/codesign
        rm -f "$P12"
        security set-key-partition-list -S apple-tool:,apple: -s -k "$KEYCHAIN_PASSWORD" "$KEYCHAIN"
        security list-keychains -d user -s "$KEYCHAIN" $(security list-keychains -d user | tr -d '"')
    fi
fi

case "$TARGET" in
    *.dmg)
        if [ "$IDENTITY" = "-" ]; then
            echo "sign.sh: MACOS_SIGN_IDENTITY is not set; $TARGET stays unsigned." >&2
            exit 0
        fi
        codesign --force --timestamp --sign "$IDENTITY" "$TARGET"
        exit 0
        ;;
esac

[ -d "$TARGET/Contents" ] || { echo "error: $TARGET is not an .app bundle" >&2; exit 2; }
macho() {  # every Mach-O file (executables, dylibs, extension modules) under $1, except $2
    find "$1" -type f -print0 | while IFS= read -r -d '' f; do
        case "$f" in "${2:-//none}"/* | *.framework/*) continue ;; esac
        if file -b "$f" | grep -q 'Mach-O'; then printf '%s\0' "$f"; fi
    done
}
ENGINE="$TARGET/Contents/Resources/ollama"
if [ -d "$ENGINE" ]; then
    # 1. The engine first: its helper libraries and the ollama executable.
    macho "$ENGINE" | xargs -0 -r -n 1 codesign "${FLAGS[@]}" --sign "$IDENTITY"
fi
# 2. Everything else nested in the bundle (Qt frameworks, Python, extension modules).
find "$TARGET/Contents/Frameworks" -type d -name '*.framework' -prune -print0 2>/dev/null |
    xargs -0 -r -n 1 codesign "${FLAGS[@]}" --sign "$IDENTITY"
for part in Frameworks Resources MacOS; do
    [ -d "$TARGET/Contents/$part" ] || continue
    macho "$TARGET/Contents/$part" "$ENGINE" |
        xargs -0 -r -n 1 codesign "${FLAGS[@]}" --sign "$IDENTITY"
done
# 3. The bundle itself, with the entitlements of the main executable.
codesign "${FLAGS[@]}" --entitlements "$HERE/entitlements.plist" --sign "$IDENTITY" "$TARGET"
codesign --verify --strict --verbose=2 "$TARGET"
