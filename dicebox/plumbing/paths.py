"""Where dicebox keeps its data when no configuration file says otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def data_home(env: Mapping[str, str] | None = None) -> Path:
    """The per-user data folder: ``$DICEBOX_HOME``, else the platform's usual place."""
    env = os.environ if env is None else env
    if env.get("DICEBOX_HOME"):
        return Path(env["DICEBOX_HOME"]).expanduser()
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "dicebox"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "dicebox"
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dicebox"

