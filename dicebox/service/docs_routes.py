"""The API's interactive documentation: Swagger UI at ``/api/v1/docs`` rendering ``/api/v1/openapi.json``.

Swagger UI's files come from the PyPI package ``swagger-ui-bundle`` (a dependency of the service),
read from the installed package and served by the service itself: the page loads nothing from
anywhere else, and its Content-Security-Policy says so. The page is public like the document it
shows; trying an operation still needs the key (the page's *Authorize* button, kept in the tab's
memory only).
"""

from __future__ import annotations

from flask import Blueprint, Response

from dicebox.service.errors import ApiError

docs = Blueprint("docs", __name__)

DOCS_PATH = "/api/v1/docs"
#: Swagger UI's files the page uses, and their types (nothing else of the package is served).
VENDOR_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
#: The page's own script: Swagger UI is started from a file because the policy allows no inline script.
START_SCRIPT = "start.js"
ASSETS = {**VENDOR_ASSETS, START_SCRIPT: "text/javascript; charset=utf-8"}

# Swagger UI draws its icons as data: SVGs; scripts, styles and requests stay on this origin (the
# browser test records any violation, with an operation tried and its answer highlighted).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# Relative URLs: the page works under a reverse proxy's path prefix too.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>dicebox API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/start.js"></script>
</body>
</html>
"""

# validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
START_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", window.location.href).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    displayOperationId: true,
    docExpansion: "list",
  });
});
"""


def asset_bytes(name: str) -> bytes:
    """One of the page's files: the start script, or one of Swagger UI's, read from its package."""
    if name == START_SCRIPT:
        return START_JS.encode("utf-8")
    import swagger_ui_bundle  # the service's dependency; imported when the page is asked for

    return swagger_ui_bundle.swagger_ui_path.joinpath(name).read_bytes()


def _response(body: bytes | str, content_type: str) -> Response:
    response = Response(body, mimetype=content_type.split(";")[0])
    response.headers["Content-Type"] = content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    return response


@docs.get(DOCS_PATH)
def page():
    return _response(PAGE, "text/html; charset=utf-8")


@docs.get(DOCS_PATH + "/<name>")
def asset(name: str):
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no API docs file {name!r}")
    return _response(asset_bytes(name), ASSETS[name])
