"""Health checks and the version: public routes."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

import dicebox
from dicebox.service.context import context

health = Blueprint("health", __name__)


@health.get("/health/plain")
def plain():
    # The original answered the bare JSON literal true; clients compare the body to it.
    return Response("true", status=200, mimetype="application/json")


@health.get("/api/version")
def version():
    return jsonify({"version": current_app.config["DICEBOX"].server.api_version})


@health.get("/api/v1/health")
def detailed():
    ctx = context()
    batches = ctx.batches.health() if ctx.batches is not None and hasattr(ctx.batches, "health") else None
    classifier = ctx.classifier.model_id if ctx.classifier is not None else None
    return jsonify(
        {
            "status": "ok",
            "dicebox_version": dicebox.__version__,
            "api_version": ctx.config.server.api_version,
            "dataset": ctx.config.dataset_id,
            "batch_orders": batches,
            "model_id": classifier,
        }
    )
