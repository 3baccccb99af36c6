"""Reading request bodies and fields once, with one clear error per mistake."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, NoReturn

from flask import request

from dicebox.service.errors import ApiError


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


# The largest whole number the store and numpy take (SQLite INTEGER, int64).
MAX_WHOLE_NUMBER = 2**63 - 1
MAX_FIELD_LENGTH = 256
MAX_IDS_PER_REQUEST = 100_000
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
_DECIMAL_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def json_body() -> dict[str, Any]:
    """The request body as a JSON object (clients of the original do not always set the type).

    Parsed here, not by Flask, so that every route refuses alike what is not strict JSON in UTF-8:
    NaN and Infinity, other encodings, escaped lone surrogates (text no file name or label can
    hold), and nesting too deep for the parser (a RecursionError).
    """
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark may lead, as RFC 8259 lets parsers accept
        data = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise bad_request("request body is nested too deeply", "invalid_json") from None
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        data = None
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object in UTF-8", "invalid_json")
    if _SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(data):
        raise bad_request("request body holds a lone UTF-16 surrogate (\\ud800-\\udfff): not text", "invalid_json")
    return data


def _holds_lone_surrogate(data: object) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def string_field(body: dict, name: str, *, max_length: int = MAX_FIELD_LENGTH) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"field '{name}' is required and must be a non-empty string", "invalid_field")
    if len(value) > max_length:
        raise bad_request(f"field '{name}' is longer than {max_length} characters", "invalid_field")
    return value


def int_field(
    body: dict, name: str, *, minimum: int = 1, maximum: int | None = None, default: int | None = None
) -> int:
    value = body.get(name, default)
    if value is None:
        raise bad_request(f"field '{name}' is required", "invalid_field")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"field '{name}' must be a whole number", "invalid_field")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise bad_request(f"field '{name}' must be at least {minimum}{upper}", "invalid_field")
    return value


def fraction_field(body: dict, name: str, *, default: float = 0.0) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"field '{name}' must be a number", "invalid_field")
    if not 0.0 <= value <= 1.0:
        raise bad_request(f"field '{name}' must be between 0 and 1", "invalid_field")
    return float(value)


def base64_field(body: dict, name: str) -> bytes:
    """Base64 image data; a ``data:image/...;base64,`` prefix (browser clients) is accepted."""
    text = body.get(name)
    if not isinstance(text, str) or not text:
        raise bad_request(f"field '{name}' is required and must be a base64 string", "invalid_field")
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"field '{name}' is not valid base64", "invalid_base64") from None


def query_int(name: str, default: int, *, minimum: int = 0, maximum: int = MAX_WHOLE_NUMBER) -> int:
    """A whole number in the query string: ASCII digits only, within bounds the store can take."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise bad_request(f"query parameter '{name}' must be a whole number", "invalid_parameter")
    try:
        value = int(raw)
    except ValueError:  # more digits than int() reads: out of range anyway
        value = maximum + 1
    if not minimum <= value <= maximum:
        raise bad_request(
            f"query parameter '{name}' must be at least {minimum} and at most {maximum}", "invalid_parameter"
        )
    return value


def query_number(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """A decimal number in the query string (``0.5``, ``2``, ``1e-3``), within ``minimum..maximum``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = float(raw) if _DECIMAL_NUMBER.fullmatch(raw) else math.nan
    if not minimum <= value <= maximum:  # also false for NaN
        raise bad_request(
            f"query parameter '{name}' must be a number from {minimum:g} to {maximum:g}", "invalid_parameter"
        )
    return value


def id_list(body: dict, name: str = "ids", *, max_items: int = MAX_IDS_PER_REQUEST) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad_request(f"field '{name}' must be a non-empty list of image ids", "invalid_field")
    if len(value) > max_items:
        raise bad_request(f"field '{name}' holds more than {max_items} ids", "invalid_field")
    return value
