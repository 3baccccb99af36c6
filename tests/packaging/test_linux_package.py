"""The Linux desktop package, built, installed, used and removed (slow: run with pytest -m packaging).

Runs packaging/linux/prove.sh, which builds dist/dicebox_<version>_<arch>.deb (or reuses it with
DICEBOX_PROVE_REUSE_DEB=1), installs it (as root; otherwise extracts it into a temporary root),
checks the installed app without any Python on the PATH (--version, the service storing images,
training and classifying with the bundled TensorFlow, spawned worker processes, the GUI offscreen
with its one-click local service, the window on X11 when Xvfb is installed, no writes outside the
data folder), then uninstalls it and checks nothing is left under /opt/dicebox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(3600),  # a clean build downloads and freezes TensorFlow: ~15 min on 2 cores
    pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("dpkg-deb"),
                       reason="builds a Debian package: needs Linux with dpkg-deb"),
]


def test_linux_package_installs_runs_and_uninstalls():
    env = {**os.environ, "PYTHON": os.environ.get("DICEBOX_PROVE_PYTHON", sys.executable)}
    result = subprocess.run(["bash", str(ROOT / "packaging" / "linux" / "prove.sh")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(result.stdout[-20000:])
    assert result.returncode == 0, "prove.sh failed (its output is above)"
    assert "all checks passed" in result.stdout
    assert "proof passed" in result.stdout
    if os.geteuid() == 0:
        assert "dpkg -r dicebox left nothing of the package behind" in result.stdout
        assert not Path("/opt/dicebox").exists()
