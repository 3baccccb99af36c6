"""The OpenAPI document's name patterns say exactly what the store accepts as a new name.

The store checks names in Python (dicebox.store.names); the document publishes them as regular
expressions. These tests compare the two over many strings, so that neither can change alone.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dicebox.service.openapi import DATASET_ID_PATTERN, DATASET_NAME_PATTERN, category_pattern
from dicebox.store import Conflict, InvalidName
from dicebox.store.names import (
    MAX_NAME_LENGTH,
    check_new_categories,
    check_new_dataset,
    dataset_id,
    parse_dataset_id,
    validate_category,
)

CURATED = [
    "3",
    "a",
    "é",
    "Ab",
    "con",
    "CON",
    "con.txt",
    "CON .txt",
    "Aux  .x",
    "nul.tar.gz",
    "COM1",
    "COM0",
    "COM¹",
    "lpt³",
    "CONIN$",
    "conout$",
    "conın$",
    "CONINX",
    "COM10",
    "console",
    "con_1",
    "LPT",
    "nully",
    "com¹x",
    "x ",
    " x",
    ".x",
    "x.",
    "PRN.",
    "a/b",
    "a\\b",
    "a:b",
    "a*b",
    "a?b",
    'a"b',
    "a<b",
    "a>b",
    "a|b",
    "a\tb",
    "a\u200bb",
    "a\u2028b",
    "\u00a0x",
    "x\u3000",
    "x" * 64,
    "x" * 65,
    "..",
    "a..b",
    "\u0301a",
    "a\u0301",
]
FORMAT_BEYOND_BMP = {chr(c) for c in range(0x10000, 0x110000) if unicodedata.category(chr(c)) == "Cf"}


def store_takes_new_category(name: str) -> bool:
    try:
        check_new_categories([validate_category(name)], [])
    except InvalidName:
        return False
    return True


def store_takes_new_dataset(name: str) -> bool:
    try:
        check_new_dataset(dataset_id(name, 60, 50), [])
    except (InvalidName, Conflict):
        return False
    return True


def comparable(name: str) -> bool:
    """The two documented gaps: lengths count code points as sent (the store counts them in NFC),
    and format characters beyond U+FFFF are not in the pattern (no regex dialect spells them alike)."""
    return unicodedata.is_normalized("NFC", name) and not FORMAT_BEYOND_BMP & set(name)


@pytest.mark.parametrize("name", CURATED)
def test_category_pattern_on_chosen_names(name):
    assert bool(re.fullmatch(category_pattern(), name)) == store_takes_new_category(name), name


@settings(max_examples=3000, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(
    st.text(max_size=70)
    | st.from_regex(category_pattern(), fullmatch=True)
    | st.sampled_from(CURATED).flatmap(lambda name: st.text(max_size=3).map(lambda extra: name + extra))
)
def test_category_pattern_agrees_with_the_store(name):
    if comparable(name):
        assert bool(re.fullmatch(category_pattern(), name)) == store_takes_new_category(name), repr(name)


@settings(max_examples=2000, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(st.text(alphabet="aCcOoNnPpRrUuXxLlTtMm019._-/ é", max_size=70) | st.from_regex(DATASET_NAME_PATTERN))
@example("con.x")
@example("con")
@example("aux.")
@example("a..b")
@example("x" * 65)
def test_dataset_name_pattern_agrees_with_the_store(name):
    documented = len(name) <= MAX_NAME_LENGTH and re.fullmatch(DATASET_NAME_PATTERN, name)  # maxLength, pattern
    assert bool(documented) == store_takes_new_dataset(name), repr(name)


@settings(max_examples=1000, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(st.from_regex(DATASET_ID_PATTERN, fullmatch=True))
def test_every_documented_data_set_id_is_one_the_store_takes(ident):
    parse_dataset_id(ident)
    check_new_dataset(ident, [])
