"""The sensory service's Flask application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from dicebox.batches import create_orders
from dicebox.config import Config
from dicebox.service import security
from dicebox.service.batch_routes import batch_routes
from dicebox.service.classify_routes import classify
from dicebox.service.compat import compat
from dicebox.service.context import EXTENSION, ServiceContext
from dicebox.service.docs_routes import docs
from dicebox.service.errors import register_error_handlers
from dicebox.service.evolution_routes import evolution_routes
from dicebox.service.health import health
from dicebox.service.native import native
from dicebox.service.openapi import openapi
from dicebox.service.web_routes import web
from dicebox.store import DatasetStore, DiskFull

log = logging.getLogger(__name__)


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
        store = DatasetStore.from_config(config)
    if batches is None:
        batches = create_orders(config, store)  # cheap: threads and connections start with the first order
    context = ServiceContext(config, store, batches, classifier)
    try:
        context.default_dataset()  # the configured data set always exists, even when empty
    except DiskFull as exc:
        # Start anyway: its routes answer 507 until there is room to open it, then serve it.
        log.warning("data set %s cannot be opened yet: %s", config.dataset_id, exc)
    app.extensions[EXTENSION] = context
    security.install(app)
    register_error_handlers(app)
    for blueprint in (health, compat, native, openapi, classify, batch_routes, evolution_routes, web, docs):
        app.register_blueprint(blueprint)
    return app
