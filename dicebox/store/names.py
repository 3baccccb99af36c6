"""Validation of the names that become folders: data set names and category names.

The original built paths straight from request fields; here every name is checked before any
path is made from it, so nothing can leave the data folder.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from dicebox.store.errors import Conflict, InvalidName

MAX_NAME_LENGTH = 64
MAX_SIDE = 4096
_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DATASET_ID = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,63})_(?P<width>[0-9]{1,4})x(?P<height>[0-9]{1,4})")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
# Every name Windows takes for a device, in any case, with any extension and with spaces before it
# ("CON .txt"). Refused for new names only (a data set made before may hold one, and still loads);
# _WINDOWS_RESERVED, refused everywhere from the start, is a subset.
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"
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
    """A category (class) name, safe as a folder name; returned in its composed Unicode form (NFC),
    so that the two ways of writing an accent (NFC, NFD) name the same category."""
    if not isinstance(name, str):
        raise InvalidName(f"invalid category {name!r}: expected a string")
    name = unicodedata.normalize("NFC", name)
    problem = None
    if not name or len(name) > MAX_NAME_LENGTH:
        problem = f"must be 1 to {MAX_NAME_LENGTH} characters"
    elif name.strip() != name or name.endswith("."):
        problem = "must not start or end with a space or end with '.'"
    elif name.startswith("."):
        problem = "must not start with '.'"
    elif any(ch in _FORBIDDEN_CHARS for ch in name):
        problem = 'must not contain / \\ : * ? " < > |'
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        problem = "must not contain control characters"
    elif name.split(".")[0].lower() in _WINDOWS_RESERVED:
        problem = "is a reserved device name on Windows"
    if problem:
        raise InvalidName(f"invalid category {name!r}: {problem}")
    return name


def windows_device(name: str) -> bool:
    """Whether Windows takes this file name for a device (``CON``, ``COM1``, ``nul.txt``, ``CON .log``, ...)."""
    return name.partition(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES


def folder_key(name: str) -> str:
    """Names with equal keys are one folder on a case-insensitive, normalising file system (Windows,
    macOS): Unicode's canonical caseless form."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def resolve_category(name: str, existing: Iterable[str]) -> str:
    """``name`` (as :func:`validate_category` returns it) as the index spells that category: a
    folder named in another Unicode form (by an older version, or copied from macOS) is the same
    category."""
    existing = list(existing)
    if name in existing:
        return name
    return next((other for other in existing if unicodedata.normalize("NFC", other) == name), name)


def check_new_categories(names: Iterable[str], existing: Iterable[str]) -> None:
    """Categories about to be created: not a Windows device name, and not another spelling (case,
    Unicode form) of an existing category or of one another, which Windows and macOS would make
    one folder."""
    taken = {folder_key(name): name for name in existing}
    for name in names:
        if windows_device(name):
            raise InvalidName(f"invalid category {name!r}: is a reserved device name on Windows")
        other = taken.setdefault(folder_key(name), name)
        if other != name:
            raise Conflict(
                f"category {name!r} differs from the existing category {other!r} only in letter case or "
                f"in how its accents are encoded, and Windows and macOS would store both in one folder; "
                f"use {other!r} or another name"
            )


def check_new_dataset(ident: str, existing: Iterable[str]) -> None:
    """A data set folder about to be created: not a Windows device name (``con.x_60x50``), and not
    another spelling of an existing data set's folder (``Dice_60x50`` beside ``dice_60x50``)."""
    if windows_device(ident):
        raise InvalidName(
            f"invalid data set name {ident!r}: Windows reserves {ident.partition('.')[0]!r} "
            "(the part before the first '.') as a device name"
        )
    key = folder_key(ident)
    for other in existing:
        if other != ident and folder_key(other) == key:
            raise Conflict(
                f"data set {ident!r} differs from the existing data set {other!r} only in letter case, "
                f"and Windows and macOS would store both in one folder; use {other!r} or another name"
            )
