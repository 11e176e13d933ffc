#!/usr/bin/env bash
# Build dist/Mneme-<version>-<arch>.AppImage from the PyInstaller bundle in dist/mneme/.
#
#   make package                      # first: the one-folder bundle
#   packaging/linux/appimage.sh       # or: make appimage
#
# Needs appimagetool (not installed by `make`): download it from
#   https://github.com/AppImage/appimagetool/releases   (appimagetool-x86_64.AppImage)
# then `chmod +x` it and put it on PATH as `appimagetool`, or point APPIMAGETOOL at it:
#   APPIMAGETOOL=~/Downloads/appimagetool-x86_64.AppImage packaging/linux/appimage.sh
# Without FUSE (containers, CI), also set APPIMAGE_EXTRACT_AND_RUN=1.
#
# Without appimagetool the script still assembles build/appimage/Mneme.AppDir (runnable as
# build/appimage/Mneme.AppDir/AppRun) and says how to finish; it exits with status 2.
#
# The AppImage runs on distributions with the same or a newer glibc than the build machine's: build
# on the oldest distribution you support.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUNDLE=dist/mneme
APPDIR=build/appimage/Mneme.AppDir
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' assistant/_version.py)
ARCH=${ARCH:-$(uname -m)}
OUTPUT=dist/Mneme-${VERSION}-${ARCH}.AppImage
TOOL=${APPIMAGETOOL:-$(command -v appimagetool || true)}

if [[ ! -x $BUNDLE/mneme ]]; then
    echo "No bundle in $BUNDLE: run 'make package' first." >&2
    exit 1
fi

rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/bin" "$APPDIR/usr/share/applications"
cp -a "$BUNDLE" "$APPDIR/usr/lib/mneme"
ln -s ../lib/mneme/mneme "$APPDIR/usr/bin/mneme"

# The desktop entry and icon at the top (appimagetool requires them there) and in usr/share
# (where desktop integration tools such as appimaged look).
cp resources/mneme.desktop "$APPDIR/mneme.desktop"
cp resources/mneme.desktop "$APPDIR/usr/share/applications/mneme.desktop"
cp resources/icons/mneme-256.png "$APPDIR/mneme.png"
ln -s mneme.png "$APPDIR/.DirIcon"
for size in 16 24 32 48 64 128 256 512; do
    folder="$APPDIR/usr/share/icons/hicolor/${size}x${size}/apps"
    mkdir -p "$folder"
    cp "resources/icons/mneme-${size}.png" "$folder/mneme.png"
done
mkdir -p "$APPDIR/usr/share/icons/hicolor/scalable/apps"
cp resources/icons/mneme.svg "$APPDIR/usr/share/icons/hicolor/scalable/apps/mneme.svg"

cat > "$APPDIR/AppRun" <<'EOF'
#!/bin/sh
# Start the bundled executable; arguments pass through (none: the desktop app; any: the CLI).
HERE="$(dirname "$(readlink -f "$0")")"
exec "$HERE/usr/lib/mneme/mneme" "$@"
EOF
chmod +x "$APPDIR/AppRun"

if [[ -z $TOOL ]]; then
    cat >&2 <<EOF
Assembled $APPDIR, but appimagetool was not found.
Get it from https://github.com/AppImage/appimagetool/releases, then run:
  ARCH=$ARCH appimagetool $APPDIR $OUTPUT
(or: APPIMAGETOOL=/path/to/appimagetool $0)
EOF
    exit 2
fi

ARCH=$ARCH "$TOOL" --no-appstream "$APPDIR" "$OUTPUT"
echo "Wrote $OUTPUT"
