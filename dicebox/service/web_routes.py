"""The web client: a static page (``/``) and its assets (``/web/...``), shipped inside the package.

The files are public; every ``/api`` route they call still needs the key (see
:mod:`dicebox.service.security`). The page speaks only to its own origin, and its
Content-Security-Policy says so, so a script injected through a label cannot send anything elsewhere.
"""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response

from dicebox.service.errors import ApiError

web = Blueprint("web", __name__)

WEB_PACKAGE = "dicebox.service.web"
#: The assets the page consists of, and their types (nothing else under /web is served).
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "preprocess.js": "text/javascript; charset=utf-8",
    "queue.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def asset_bytes(name: str) -> bytes:
    """One of the page's files, read from the installed package."""
    return resources.files(WEB_PACKAGE).joinpath(name).read_bytes()


def _serve(name: str) -> Response:
    response = Response(asset_bytes(name), mimetype=ASSETS[name].split(";")[0])
    response.headers["Content-Type"] = ASSETS[name]
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Permissions-Policy"] = "camera=(self), microphone=()"
    response.headers["Referrer-Policy"] = "no-referrer"
    # Revalidate every time: an upgraded service must not run a page cached from the old one.
    response.headers["Cache-Control"] = "no-cache"
    return response


@web.get("/")
def page():
    return _serve("index.html")


@web.get("/web/<name>")
def asset(name: str):
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no web client file {name!r}")
    return _serve(name)
