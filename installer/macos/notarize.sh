#!/usr/bin/env bash
# Notarize a signed .dmg with Apple's notary service and staple the ticket to it.
#
#   installer/macos/notarize.sh installer/build/Qwen-Desktop-<version>-macos-<arch>.dmg
#
# Secrets (GitHub secrets): APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD (an app-specific
# password of the Apple ID). Without them nothing is sent and the script says so (forks, pull
# requests); a rejected submission prints Apple's log and fails the build.
set -euo pipefail

DMG="${1:?usage: notarize.sh <dmg>}"
if [ -z "${APPLE_ID:-}" ] || [ -z "${APPLE_TEAM_ID:-}" ] || [ -z "${APPLE_APP_PASSWORD:-}" ]; then
    echo "notarize.sh: APPLE_ID / APPLE_TEAM_ID / APPLE_APP_PASSWORD not set; $DMG is not notarized." >&2
    exit 0
fi
AUTH=(--apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD")
RESULT="$(xcrun notarytool submit "$DMG" "${AUTH[@]}" --wait --timeout 30m --output-format json)"
echo "$RESULT"
ID="$(echo "$RESULT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
STATUS="$(echo "$RESULT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
if [ "$STATUS" != "Accepted" ]; then
    xcrun notarytool log "$ID" "${AUTH[@]}" || true
    echo "error: notarization of $DMG ended as $STATUS (log above)." >&2
    exit 1
fi
xcrun stapler staple "$DMG"
xcrun stapler validate "$DMG"
