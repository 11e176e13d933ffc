#!/usr/bin/env bash
# Build dist/Mneme-<version>.dmg from dist/Mneme.app (macOS only: uses hdiutil).
#
#   make package                    # first: builds dist/Mneme.app (PyInstaller BUNDLE)
#   packaging/macos/make_dmg.sh     # or: make dmg
#
# Signing (optional; without it Gatekeeper asks the user to allow the app in System Settings →
# Privacy & Security, or to right-click → Open the first time):
#   MNEME_CODESIGN_IDENTITY="Developer ID Application: NAME (TEAMID)" make package
#     (PyInstaller signs every binary and the .app with that identity), then this script signs the
#     .dmg with the same identity. Notarize and staple the result:
#   xcrun notarytool submit dist/Mneme-<version>.dmg --keychain-profile PROFILE --wait
#   xcrun stapler staple dist/Mneme-<version>.dmg
set -euo pipefail
cd "$(dirname "$0")/../.."

APP=dist/Mneme.app
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' assistant/_version.py)
OUTPUT=dist/Mneme-${VERSION}.dmg

if [[ $(uname -s) != Darwin ]]; then
    echo "make_dmg.sh runs on macOS only (it needs hdiutil)." >&2
    exit 1
fi
if [[ ! -d $APP ]]; then
    echo "No $APP: run 'make package' on macOS first." >&2
    exit 1
fi

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
# ditto keeps symlinks, extended attributes and signatures intact inside the .app.
ditto "$APP" "$STAGE/Mneme.app"
ln -s /Applications "$STAGE/Applications"

rm -f "$OUTPUT"
hdiutil create -volname "Mneme $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$OUTPUT"

if [[ -n ${MNEME_CODESIGN_IDENTITY:-} ]]; then
    codesign --force --sign "$MNEME_CODESIGN_IDENTITY" --timestamp "$OUTPUT"
fi
echo "Wrote $OUTPUT"
