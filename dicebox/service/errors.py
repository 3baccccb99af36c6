"""Every error the service answers: an HTTP status and a JSON body ``{"error", "message"}``."""

from __future__ import annotations

import logging
import os

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from dicebox.store import (
    BatchTooLarge,
    Conflict,
    DiskFull,
    ImageTooLarge,
    InvalidImage,
    InvalidName,
    NotFound,
    StoreError,
)
from dicebox.store.errors import is_disk_full

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered to the client as it is."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class ServiceUnavailable(ApiError):
    """A dependency (the broker, a model) is not there right now: 503, try again later."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "unavailable", message)


STORE_ERRORS: list[tuple[type[StoreError], int, str]] = [
    (ImageTooLarge, 413, "image_too_large"),
    (InvalidImage, 400, "invalid_image"),
    (InvalidName, 400, "invalid_name"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (BatchTooLarge, 409, "invalid_batch_size"),  # routes check the number first: more asked than stored
    (DiskFull, 507, "insufficient_storage"),
]


def error_response(status: int, code: str, message: str):
    response = jsonify({"error": code, "message": message})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError):
        for cls, status, code in STORE_ERRORS:
            if isinstance(exc, cls):
                return error_response(status, code, str(exc))
        return error_response(400, "bad_request", str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if exc.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"request body is over the limit of {limit} bytes"
        response = error_response(exc.code or 500, code, message)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_disk_full(exc):  # a write that the store did not turn into DiskFull itself
            log.warning("the disk is full: %s", exc)
            filename = getattr(exc, "filename", None)
            where = f": no space left in {os.path.dirname(filename)}" if filename else ""
            return error_response(
                507, "insufficient_storage", f"the disk is full{where} (free some space and try again)"
            )
        log.exception("unexpected error")
        return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")
