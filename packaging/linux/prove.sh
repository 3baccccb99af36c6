#!/usr/bin/env bash
# Prove the Linux package: build it, install it, use it, uninstall it.
#
#   bash packaging/linux/prove.sh
#
# As root: `apt-get install ./dist/dicebox_<version>_<arch>.deb` on this machine (apt resolves the
# Depends from the Debian archive, which proves every one of them exists; without network access
# it falls back to dpkg -i), then packaging/linux/prove_installed.py runs the installed app, then
# `dpkg -r dicebox` and a check that nothing of the package is left. Not root: the .deb is
# extracted with dpkg-deb -x into a temporary root and checked there (no install, no uninstall).
#
# Environment:
#   DICEBOX_PROVE_REUSE_DEB=1   use dist/dicebox_*.deb if it exists instead of building
#   DICEBOX_PROVE_QUICK=1       skip the training and evolution checks (minutes on 2 cores)
#   PYTHON=python3              the interpreter that runs the checks (not the app: the app
#                               brings its own); standard library only
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-python3}
ARCH=$(dpkg --print-architecture)
log() { printf '\n==> %s\n' "$*"; }
die() { printf 'prove.sh: FAILED: %s\n' "$*" >&2; exit 1; }

deb=$(ls -t "$REPO"/dist/dicebox_*_"$ARCH".deb 2>/dev/null | head -n1 || true)
if [ "${DICEBOX_PROVE_REUSE_DEB:-0}" = 1 ] && [ -n "$deb" ]; then
  log "reusing $deb (DICEBOX_PROVE_REUSE_DEB=1)"
else
  log "building the package"
  bash "$REPO/packaging/linux/build.sh"
  deb=$(ls -t "$REPO"/dist/dicebox_*_"$ARCH".deb | head -n1)
fi
printf 'package: %s (%s MB)\n' "$deb" "$(du -m --apparent-size "$deb" | cut -f1)"

checks=("$PYTHON" "$REPO/packaging/linux/prove_installed.py")
[ "${DICEBOX_PROVE_QUICK:-0}" = 1 ] && checks+=(--skip-slow)

# Files the package puts outside /opt/dicebox: all must come and go with it.
PACKAGE_FILES=(/usr/bin/dicebox /usr/share/applications/dicebox.desktop
  /usr/share/icons/hicolor/48x48/apps/dicebox.png /usr/share/icons/hicolor/256x256/apps/dicebox.png
  /usr/share/doc/dicebox/copyright)

if [ "$(id -u)" != 0 ]; then
  log "not root: extracting into a temporary root instead of installing"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  dpkg-deb -x "$deb" "$root"
  for f in "${PACKAGE_FILES[@]}"; do [ -e "$root$f" ] || [ -L "$root$f" ] || die "$f is not in the package"; done
  "${checks[@]}" --app "$root/opt/dicebox/dicebox" --bundle "$root/opt/dicebox"
  log "proof passed (extracted, not installed: run as root for the install/uninstall part)"
  exit 0
fi

package_status() { dpkg-query -W -f='${db:Status-Status}' dicebox 2>/dev/null || echo not-installed; }
case "$(package_status)" in
  not-installed) ;;
  config-files) dpkg --purge dicebox >/dev/null ;;  # only dpkg's record of a removed dicebox
  *) die "a dicebox package is installed already; remove it first (dpkg -r dicebox)" ;;
esac
installed=0
cleanup() {
  # Leave the machine as it was, even when a check failed.
  if [ "$installed" = 1 ] && [ "$(package_status)" != not-installed ]; then
    echo "prove.sh: removing the package after a failure" >&2
    dpkg --purge dicebox >/dev/null || true
  fi
}
trap cleanup EXIT

log "installing $deb"
installed=1
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb"; then
  echo "prove.sh: apt-get could not install it (no archive access?); trying dpkg -i" >&2
  dpkg -i "$deb"
fi
dpkg -s dicebox | grep -q '^Status: install ok installed' || die "dicebox is not fully installed"
for f in "${PACKAGE_FILES[@]}"; do [ -e "$f" ] || die "$f is missing after installation"; done
[ "$(readlink /usr/bin/dicebox)" = /opt/dicebox/dicebox ] || die "/usr/bin/dicebox does not point to /opt/dicebox/dicebox"
grep -qx 'Exec=dicebox gui' /usr/share/applications/dicebox.desktop || die "the desktop entry does not run 'dicebox gui'"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate /usr/share/applications/dicebox.desktop
fi
printf 'installed size: %s MB (/opt/dicebox)\n' "$(du -sm /opt/dicebox | cut -f1)"

log "checking the installed app"
"${checks[@]}" --app /usr/bin/dicebox --bundle /opt/dicebox

log "uninstalling"
dpkg -r dicebox
[ ! -e /opt/dicebox ] || die "/opt/dicebox is still there after dpkg -r: $(find /opt/dicebox | head)"
for f in "${PACKAGE_FILES[@]}"; do [ ! -e "$f" ] && [ ! -L "$f" ] || die "$f is still there after dpkg -r"; done
echo "ok   dpkg -r dicebox left nothing of the package behind (/opt/dicebox, /usr/bin/dicebox, desktop entry, icons)"
# dpkg keeps a "config-files" record of a removed package that has maintainer scripts; purge it.
dpkg --purge dicebox
installed=0
[ "$(package_status)" = not-installed ] || die "dpkg still lists dicebox after --purge"
echo "ok   dpkg --purge dicebox: dpkg no longer lists it"

log "proof passed"
