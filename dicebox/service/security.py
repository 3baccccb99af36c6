"""Authentication and CORS, checked in one place before any route runs."""

from __future__ import annotations

import fnmatch
import hmac

from flask import Flask, current_app, request

from dicebox.service.errors import ApiError

# Routes anyone may call: health checks, the version, the API description and its docs page (whose
# files live under PUBLIC_PREFIX).
PUBLIC_PATHS = {"/api/version", "/api/v1/openapi.json", "/api/v1/health", "/api/v1/docs"}
PUBLIC_PREFIX = "/api/v1/docs/"
ACCESS_KEY_HEADER = "API-ACCESS-KEY"
VERSION_HEADER = "API-VERSION"


def _presented_key() -> str:
    key = request.headers.get(ACCESS_KEY_HEADER, "")
    if not key:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    return key


def check_request() -> None:
    """Every ``/api/*`` route except the public ones needs the key; the original's need the version."""
    path = request.path
    if request.method == "OPTIONS" or not path.startswith("/api/") or path in PUBLIC_PATHS:
        return
    if path.startswith(PUBLIC_PREFIX):  # only the docs page's files live there
        return
    settings = current_app.config["DICEBOX"]
    presented, expected = _presented_key(), settings.server.api_access_key
    # An empty key on either side never matches: compare_digest(b"", b"") is true.
    if not presented or not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", f"missing or wrong {ACCESS_KEY_HEADER} header")
    if not path.startswith("/api/v1/"):
        version = request.headers.get(VERSION_HEADER, "")
        if version != settings.server.api_version:
            raise ApiError(
                400,
                "wrong_api_version",
                f"{VERSION_HEADER} header must be {settings.server.api_version!r}, got {version!r}",
            )


def origin_allowed(origin: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(origin, pattern) for pattern in patterns)


def install(app: Flask) -> None:
    app.before_request(check_request)

    @app.after_request
    def _cors(response):
        origin = request.headers.get("Origin")
        patterns = current_app.config["DICEBOX"].server.cors_origins
        if origin and origin_allowed(origin, patterns):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = (
                f"{ACCESS_KEY_HEADER}, {VERSION_HEADER}, Authorization, Content-Type"
            )
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
        return response
