"""Print dicebox's runtime requirements minus the desktop-only ones (for the server image).

    python server_requirements.py > requirements.txt   # after `pip install --no-deps .`

The server image runs the sensory service, batch processors and evolution workers: it needs
TensorFlow (training, /api/classify) but never Qt or matplotlib, which together with their
wheels add ~250 MB. The list is read from the installed package's own metadata, so it follows
setup.py; environment markers are kept for pip to evaluate. Once setup.py has a `server` extra
(see packaging/README.md), the Dockerfile can `pip install .[server]` and drop this script.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import requires

DESKTOP_ONLY = {"pyqt5", "matplotlib"}


def main() -> int:
    for requirement in requires("dicebox") or []:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")
        if "extra ==" in requirement or name in DESKTOP_ONLY:
            continue
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
