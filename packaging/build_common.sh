# Shared steps of packaging/linux/build.sh and packaging/macos/build.sh (sourced, not run).
# Windows has the same steps in PowerShell (packaging/windows/build.ps1).

# snapshot_source REPO DEST: copy exactly the files git would see (tracked and untracked, minus
# ignored) into DEST. pip builds the wheel inside the source folder (setuptools' build/lib),
# where stale files from an older build can slip into the wheel; and others may edit the tree
# during a long build. Outside a git checkout (a source tarball), everything but build output.
snapshot_source() {
  local repo=$1 dest=$2
  rm -rf "$dest"
  mkdir -p "$dest"
  if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
      | tar --null -T - -cf -) | tar -xf - -C "$dest"
  else
    tar -C "$repo" --exclude=./build --exclude=./dist --exclude=.git --exclude='__pycache__' -cf - . \
      | tar -xf - -C "$dest"
  fi
}

# make_build_venv PYTHON VENV SRC REQUIREMENTS: a clean venv with `pip install SRC` (dicebox and
# exactly its runtime dependencies, which is what the bundle will hold, at the versions pinned by
# SRC/requirements/constraints.txt) and the pinned build tools.
# With DICEBOX_REUSE_BUILD_VENV=1 an existing venv is kept and only dicebox is reinstalled.
make_build_venv() {
  local python=$1 venv=$2 src=$3 requirements=$4
  if [ "${DICEBOX_REUSE_BUILD_VENV:-0}" = 1 ] && [ -x "$venv/bin/pyinstaller" ]; then
    echo "reusing the build venv $venv (DICEBOX_REUSE_BUILD_VENV=1)"
    "$venv/bin/pip" install --quiet --no-deps --force-reinstall "$src"
  else
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet "$src" -r "$requirements" -c "$src/requirements/constraints.txt"
  fi
}

# The build must not see the developer's environment: no user site-packages, no PYTHONPATH to a
# checkout (the bundle would pick modules from there instead of the clean venv).
clean_python_environment() {
  unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
  export PYTHONNOUSERSITE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
}
