#!/usr/bin/env bash
# Build the dicebox macOS app and disk image: dist/dicebox.app and dist/dicebox-<version>-<arch>.dmg
#
#   bash packaging/macos/build.sh
#
# Same steps as the Linux build (clean venv, `pip install .` + PyInstaller, packaging/dicebox.spec),
# then the .app from the spec's BUNDLE (Info.plist values, assets/dicebox.icns) and a compressed,
# read-only .dmg with an Applications link to drag the app onto (hdiutil).
#
# Needs: macOS 11+, Apple Silicon for current TensorFlow releases (TensorFlow no longer publishes
# x86-64 macOS wheels), CPython 3.10-3.12 from python.org or Homebrew (a framework/shared build),
# the Xcode command line tools (codesign), and access to PyPI.
#
# Environment:
#   PYTHON=python3.11                    interpreter of the build venv
#   DICEBOX_REUSE_BUILD_VENV=1           keep build/packaging/venv, reinstall only dicebox
#   CODESIGN_IDENTITY="Developer ID Application: Name (TEAMID)"
#                                        sign with a real identity and the hardened runtime;
#                                        unset: ad-hoc signature (runs on this Mac; other Macs
#                                        need right-click > Open the first time)
#   NOTARY_PROFILE=name                  with CODESIGN_IDENTITY: notarize the .dmg with
#                                        `xcrun notarytool` (a profile made by
#                                        `xcrun notarytool store-credentials`) and staple it
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$REPO/build/packaging
PYTHON=${PYTHON:-python3}
started=$(date +%s)

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Darwin ] || die "this builds the macOS app: run it on a Mac (Linux: packaging/linux/build.sh)"
for tool in hdiutil codesign ditto; do
  command -v "$tool" >/dev/null || die "missing tool: $tool (xcode-select --install)"
done

# shellcheck source=../build_common.sh
. "$REPO/packaging/build_common.sh"
clean_python_environment
mkdir -p "$WORK" "$REPO/dist"

log "snapshot of the source tree"
snapshot_source "$REPO" "$WORK/src"

VENV=$WORK/venv
log "build venv $VENV: pip install . and PyInstaller"
make_build_venv "$PYTHON" "$VENV" "$WORK/src" "$REPO/packaging/requirements-build.txt"
VERSION=$("$VENV/bin/python" -c 'import dicebox; print(dicebox.__version__)')
ARCH=$(uname -m)

log "PyInstaller (packaging/dicebox.spec): dicebox.app"
rm -rf "$WORK/dist"
(cd "$WORK" && "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$WORK/dist" --workpath "$WORK/pyinstaller" "$REPO/packaging/dicebox.spec")
APP=$WORK/dist/dicebox.app
[ -x "$APP/Contents/MacOS/dicebox" ] || die "PyInstaller did not produce $APP"
/usr/libexec/PlistBuddy -c 'Print :CFBundleShortVersionString' "$APP/Contents/Info.plist"

log "frozen executable check"
env -i PATH=/usr/bin:/bin HOME="$WORK" "$APP/Contents/MacOS/dicebox" --version

log "code signature"
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  # Hardened runtime (required for notarization): every Mach-O file inside first (Python, Qt
  # frameworks, extension modules, TensorFlow), then the app with its entitlements.
  find "$APP/Contents" -type f -print0 | while IFS= read -r -d '' f; do
    if file -b "$f" | grep -q 'Mach-O'; then
      codesign --force --timestamp --options runtime --sign "$CODESIGN_IDENTITY" "$f"
    fi
  done
  codesign --force --timestamp --options runtime --entitlements "$REPO/packaging/macos/entitlements.plist" \
    --sign "$CODESIGN_IDENTITY" "$APP"
else
  # PyInstaller signs ad hoc already (arm64 requires a signature); re-seal the whole bundle.
  codesign --force --deep --sign - "$APP"
fi
codesign --verify --deep --strict "$APP"

log "disk image"
DMG=$REPO/dist/dicebox-$VERSION-$ARCH.dmg
STAGE=$WORK/dmg
rm -rf "$STAGE" "$DMG"
mkdir -p "$STAGE"
ditto "$APP" "$STAGE/dicebox.app"  # ditto keeps the bundle's symlinks, attributes and signature
ln -s /Applications "$STAGE/Applications"
# UDZO: zlib-compressed and read-only, opens on every macOS version the app supports.
hdiutil create -volname "dicebox $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
rm -rf "$REPO/dist/dicebox.app"
ditto "$APP" "$REPO/dist/dicebox.app"

if [ -n "${CODESIGN_IDENTITY:-}" ] && [ -n "${NOTARY_PROFILE:-}" ]; then
  log "notarization"
  codesign --force --timestamp --sign "$CODESIGN_IDENTITY" "$DMG"
  xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi

elapsed=$(( $(date +%s) - started ))
printf '\nbuilt %s\n  disk image: %s MB   app: %s MB   build time: %dm%02ds\n' "$DMG" \
  "$(du -m "$DMG" | cut -f1)" "$(du -sm "$APP" | cut -f1)" $((elapsed / 60)) $((elapsed % 60))
