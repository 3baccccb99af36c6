"""The sensory service's Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from dicebox.batches import create_orders
from dicebox.config import Config
from dicebox.service import security
from dicebox.service.batch_routes import batch_routes
from dicebox.service.classify_routes import classify
from dicebox.service.compat import compat
from dicebox.service.context import ServiceContext
from dicebox.service.errors import register_error_handlers
from dicebox.service.health import health
from dicebox.service.native import native
from dicebox.service.openapi import openapi
from dicebox.store import DatasetStore


def create_app(
    config: Config,
    *,
    store: DatasetStore | None = None,
    batches: Any = None,
    classifier: Any = None,
) -> Flask:
    """Build the service for ``config``; the store, batch backend and classifier can be injected."""
    app = Flask("dicebox.service")
    app.config["DICEBOX"] = config
    app.config["MAX_CONTENT_LENGTH"] = int(config.server.max_request_mb * 1024 * 1024)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    app.json.compact = True
    if store is None:
        store = DatasetStore(
            config.datasets_dir,
            default_channels=config.dataset.channels,
            max_image_pixels=config.server.max_image_pixels,
        )
    if batches is None:
        batches = create_orders(config, store)  # cheap: threads and connections start with the first order
    context = ServiceContext(config, store, batches, classifier)
    context.default_dataset()  # the configured data set always exists, even when empty
    app.extensions["dicebox"] = context
    security.install(app)
    register_error_handlers(app)
    for blueprint in (health, compat, native, openapi, classify, batch_routes):
        app.register_blueprint(blueprint)
    return app

