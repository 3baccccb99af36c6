"""Reading request bodies and fields once, with one clear error per mistake."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from flask import request

from dicebox.service.errors import ApiError


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object (clients of the original do not always set the type)."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object", "invalid_json")
    return data


def string_field(body: dict, name: str, *, max_length: int = 256) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"field '{name}' is required and must be a non-empty string", "invalid_field")
    if len(value) > max_length:
        raise bad_request(f"field '{name}' is longer than {max_length} characters", "invalid_field")
    return value


def int_field(body: dict, name: str, *, minimum: int = 1, maximum: int | None = None, default: int | None = None) -> int:
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


def query_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter '{name}' must be a whole number", "invalid_parameter") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise bad_request(f"query parameter '{name}' must be at least {minimum}{upper}", "invalid_parameter")
    return value


def id_list(body: dict, name: str = "ids", *, max_items: int = 100_000) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad_request(f"field '{name}' must be a non-empty list of image ids", "invalid_field")
    if len(value) > max_items:
        raise bad_request(f"field '{name}' holds more than {max_items} ids", "invalid_field")
    return value
