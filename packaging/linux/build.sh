#!/usr/bin/env bash
# Build the Linux desktop package of dicebox: dist/dicebox_<version>_<arch>.deb
#
#   bash packaging/linux/build.sh
#
# Steps: snapshot the source tree, create a clean build venv, `pip install .` plus PyInstaller into
# it, freeze the app with packaging/dicebox.spec (onedir), check the frozen executable runs, check
# which system libraries the bundle needs, then lay out /opt/dicebox, /usr/bin/dicebox, the desktop
# entry and the icons and build the .deb with dpkg-deb under fakeroot.
#
# Environment:
#   PYTHON=python3.11             interpreter of the build venv (needs a shared libpython)
#   DICEBOX_REUSE_BUILD_VENV=1    keep build/packaging/venv from a previous build and only
#                                 reinstall dicebox itself (faster iterations; releases: unset)
#   DICEBOX_NO_STRIP=1            do not strip the bundle's binaries (debugging a crash)
#   DICEBOX_DEB_COMPRESSION=xz    xz (default: smallest, ~6 min here), zstd (~0.5 min, +20% size;
#                                 dpkg >= 1.21.18: Debian 12, Ubuntu 21.10 and later) or none
# Needs: a CPython 3.10+ built with --enable-shared, binutils (objdump, strip, readelf), dpkg-deb,
# fakeroot, and access to PyPI (or a mirror pip is configured for). Nothing else is downloaded.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$REPO/build/packaging   # every intermediate lives here (ignored by git); dist/ gets the .deb
PYTHON=${PYTHON:-python3}
started=$(date +%s)

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb fakeroot objdump readelf strip dpkg; do
  command -v "$tool" >/dev/null || die "missing tool: $tool (apt-get install dpkg-dev fakeroot binutils)"
done
"$PYTHON" - <<'EOF' || die "$PYTHON must be CPython >= 3.10 built with --enable-shared (PyInstaller bundles libpython)"
import sys, sysconfig
sys.exit(0 if sys.version_info >= (3, 10) and sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)
EOF

# shellcheck source=../build_common.sh
. "$REPO/packaging/build_common.sh"
clean_python_environment
# Reproducible archive timestamps: dpkg-deb clamps file times to SOURCE_DATE_EPOCH.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
  SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
fi
umask 022
mkdir -p "$WORK" "$REPO/dist"

log "snapshot of the source tree"
snapshot_source "$REPO" "$WORK/src"

VENV=$WORK/venv
log "build venv $VENV: pip install . and PyInstaller"
make_build_venv "$PYTHON" "$VENV" "$WORK/src" "$REPO/packaging/requirements-build.txt"
VERSION=$("$VENV/bin/python" -c 'import dicebox; print(dicebox.__version__)')
ARCH=$(dpkg --print-architecture)
log "dicebox $VERSION for $ARCH"

log "PyInstaller (packaging/dicebox.spec)"
# Run from the work folder, not the repository: the checkout's dicebox/ must not shadow the
# installed package (the installed one has gui/ and camera/ mapped into dicebox.*).
rm -rf "$WORK/dist"
(cd "$WORK" && "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$WORK/dist" --workpath "$WORK/pyinstaller" "$REPO/packaging/dicebox.spec")
BUNDLE=$WORK/dist/dicebox
[ -x "$BUNDLE/dicebox" ] || die "PyInstaller did not produce $BUNDLE/dicebox"

log "frozen executable check"
# A frozen app that cannot even print its version would otherwise only fail after installation.
env -i PATH=/usr/bin:/bin HOME="$WORK" "$BUNDLE/dicebox" --version

log "system libraries the bundle needs (Depends)"
# The bundle carries Python, Qt, TensorFlow, OpenCV and most of their libraries; what it still
# loads from the system (libc, libGL/libEGL, libxcb, the C++ runtime...) must be in Depends.
# needed_packages.py reads every bundled ELF file's DT_NEEDED and maps the sonames no bundled file
# provides to their packages, so Depends follows the bundle instead of a list that goes stale.
needed=$("$VENV/bin/python" "$REPO/packaging/linux/needed_packages.py" "$BUNDLE")
glibc=$("$VENV/bin/python" "$REPO/packaging/linux/needed_packages.py" --glibc "$BUNDLE")
# Bundled, but their data comes from the system: fonts and fonts.conf (fontconfig), keyboard
# layouts (xkb-data, via libxkbcommon0), the D-Bus configuration.
DATA_DEPENDS="libfontconfig1 libxkbcommon0 libdbus-1-3"
depends=""
for pkg in $(printf '%s\n' $needed $DATA_DEPENDS | sort -u); do
  [ "$pkg" = libc6 ] && pkg="libc6 (>= $glibc)"
  depends="${depends:+$depends, }$pkg"
done
echo "Depends: $depends"

if [ "${DICEBOX_NO_STRIP:-0}" != 1 ]; then
  log "strip"
  # Symbol tables are a third of the bundle (TensorFlow's mostly); strip_bundle.py strips only
  # what pays off and checks every stripped library still loads before keeping it.
  "$VENV/bin/python" "$REPO/packaging/linux/strip_bundle.py" "$BUNDLE"
  env -i PATH=/usr/bin:/bin HOME="$WORK" "$BUNDLE/dicebox" --version >/dev/null
fi

log "Debian package layout"
ROOT=$WORK/deb/root
rm -rf "$WORK/deb"
mkdir -p "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" "$ROOT/usr/share/doc/dicebox" \
  "$ROOT/usr/share/icons/hicolor/48x48/apps" "$ROOT/usr/share/icons/hicolor/256x256/apps" "$ROOT/DEBIAN"
cp -a "$BUNDLE" "$ROOT/opt/dicebox"
ln -s /opt/dicebox/dicebox "$ROOT/usr/bin/dicebox"
install -m 644 "$REPO/packaging/linux/dicebox.desktop" "$ROOT/usr/share/applications/dicebox.desktop"
install -m 644 "$REPO/assets/dicebox-48.png" "$ROOT/usr/share/icons/hicolor/48x48/apps/dicebox.png"
install -m 644 "$REPO/assets/dicebox.png" "$ROOT/usr/share/icons/hicolor/256x256/apps/dicebox.png"
install -m 644 "$REPO/packaging/linux/copyright" "$ROOT/usr/share/doc/dicebox/copyright"
# The licences of everything frozen into the bundle, as each distribution ships them.
"$VENV/bin/python" "$REPO/packaging/third_party_licenses.py" "$ROOT/usr/share/doc/dicebox/third-party"
# Owner root and plain modes: everything readable, only executables and folders executable.
find "$ROOT" -type d -exec chmod 755 {} +
find "$ROOT" -type f -exec chmod go-w,a+r {} +

installed_kb=$(du -sk --apparent-size --exclude=DEBIAN "$ROOT" | cut -f1)
cat >"$ROOT/DEBIAN/control" <<EOF
Package: dicebox
Version: $VERSION
Architecture: $ARCH
Maintainer: dicebox developers <dicebox@localhost>
Installed-Size: $installed_kb
Depends: $depends
Recommends: hicolor-icon-theme
Section: science
Priority: optional
Description: teach a computer to recognise what a camera sees
 dicebox is a desktop supervised trainer (camera, labels, recording), a sensory
 service that stores labelled images, a trainer that trains or evolves Keras
 networks, and a classification endpoint. This package is self-contained: it
 carries its own Python, Qt and TensorFlow under /opt/dicebox.
EOF
# No postinst: the icon cache and the desktop menu are refreshed by dpkg triggers that
# hicolor-icon-theme/gtk-update-icon-cache and desktop-file-utils declare on their folders.
install -m 755 "$REPO/packaging/linux/postrm" "$ROOT/DEBIAN/postrm"

DEB=$REPO/dist/dicebox_${VERSION}_${ARCH}.deb
log "dpkg-deb -> $DEB"
rm -f "$DEB"
case "${DICEBOX_DEB_COMPRESSION:-xz}" in
  xz) compression=(-Zxz -z6) ;;
  zstd) compression=(-Zzstd -z9) ;;
  none) compression=(-Znone) ;;
  *) die "DICEBOX_DEB_COMPRESSION must be xz, zstd or none" ;;
esac
# fakeroot: files owned by root in the archive without building as root.
fakeroot dpkg-deb --build "${compression[@]}" "$ROOT" "$DEB"
rm -rf "$WORK/deb"  # a second 1 GB copy of the bundle; the .deb has it all

elapsed=$(( $(date +%s) - started ))
deb_mb=$(du -m --apparent-size "$DEB" | cut -f1)
printf '\nbuilt %s\n  package: %s MB   installed: %s MB   build time: %dm%02ds\n' \
  "$DEB" "$deb_mb" "$((installed_kb / 1024))" $((elapsed / 60)) $((elapsed % 60))
