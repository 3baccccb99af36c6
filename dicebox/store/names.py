"""Validation of the names that become folders: data set names and category names.

The original built paths straight from request fields; here every name is checked before any
path is made from it, so nothing can leave the data folder.
"""

from __future__ import annotations

import re
import unicodedata

from dicebox.store.errors import InvalidName

MAX_NAME_LENGTH = 64
MAX_SIDE = 4096
_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DATASET_ID = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,63})_(?P<width>[0-9]{1,4})x(?P<height>[0-9]{1,4})")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {
    f"lpt{i}" for i in range(1, 10)
}
_FORBIDDEN_CHARS = set('/\\:*?"<>|')


def validate_dataset_name(name: object) -> str:
    """A data set name: letters, digits, ``.``, ``_``, ``-``; starts with a letter or digit."""
    if not isinstance(name, str) or not _DATASET_NAME.fullmatch(name) or ".." in name:
        raise InvalidName(
            f"invalid data set name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def validate_side(value: object, what: str) -> int:
    """An image width or height: a whole number from 1 to 4096."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise InvalidName(f"invalid {what} {value!r}: expected a whole number from 1 to {MAX_SIDE}")
    return value


def dataset_id(name: object, width: object, height: object) -> str:
    """The folder name of a data set, as the original: ``<name>_<width>x<height>``."""
    return f"{validate_dataset_name(name)}_{validate_side(width, 'width')}x{validate_side(height, 'height')}"


def parse_dataset_id(value: object) -> tuple[str, int, int]:
    """Split ``<name>_<width>x<height>`` into its parts, validating each."""
    match = _DATASET_ID.fullmatch(value) if isinstance(value, str) else None
    if not match or ".." in match["name"]:
        raise InvalidName(f"invalid data set id {value!r}: expected <name>_<width>x<height>, e.g. dice_60x50")
    width, height = int(match["width"]), int(match["height"])
    validate_side(width, "width")
    validate_side(height, "height")
    return match["name"], width, height


def validate_category(name: object) -> str:
    """A category (class) name, safe as a folder name on Linux, macOS and Windows."""
    if not isinstance(name, str):
        raise InvalidName(f"invalid category {name!r}: expected a string")
    problem = None
    if not name or len(name) > MAX_NAME_LENGTH:
        problem = f"must be 1 to {MAX_NAME_LENGTH} characters"
    elif name.strip() != name or name.endswith("."):
        problem = "must not start or end with a space or end with '.'"
    elif name.startswith("."):
        problem = "must not start with '.'"
    elif any(ch in _FORBIDDEN_CHARS for ch in name):
        problem = "must not contain / \\ : * ? \" < > |"
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        problem = "must not contain control characters"
    elif name.split(".")[0].lower() in _WINDOWS_RESERVED:
        problem = "is a reserved device name on Windows"
    if problem:
        raise InvalidName(f"invalid category {name!r}: {problem}")
    return name
