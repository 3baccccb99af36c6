"""Classification: the original ``/api/classify`` and ``/api/categories``, and native routes.

The model is a :class:`dicebox.inference.Classifier` held by the service context; it is loaded
once (never per request) and can be switched while requests are being answered.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Blueprint, jsonify

from dicebox.service.context import context
from dicebox.service.errors import ApiError, ServiceUnavailable
from dicebox.service.validation import base64_field, json_body, string_field

classify = Blueprint("classify", __name__)
_switch_lock = threading.Lock()


def _classifier():
    return context().classifier


@classify.post("/api/classify")
def classify_compat():
    body = json_body()
    data = base64_field(body, "data")
    classifier = _classifier()
    if classifier is None:
        return jsonify({"classification": -1})
    from dicebox.inference import ClassifyError

    try:
        result = classifier.classify(data)
    except ClassifyError as exc:
        raise ApiError(400, "invalid_image", str(exc)) from None
    return jsonify({"classification": result.index})


@classify.get("/api/categories")
def categories_compat():
    classifier = _classifier()
    names = classifier.categories if classifier is not None else context().default_dataset().categories()
    return jsonify({"category_map": {str(i): name for i, name in enumerate(names)}})


@classify.post("/api/v1/classify")
def classify_native():
    body = json_body()
    data = base64_field(body, "data")
    classifier = _classifier()
    if classifier is None:
        raise ServiceUnavailable("no model is loaded: start the service with --model BUNDLE or POST /api/v1/model")
    from dicebox.inference import ClassifyError

    try:
        result = classifier.classify(data)
    except ClassifyError as exc:
        raise ApiError(400, "invalid_image", str(exc)) from None
    return jsonify(result.to_dict())


def model_info(classifier) -> dict:
    if classifier is None:
        return {"loaded": False}
    bundle = classifier.bundle
    geometry = bundle.geometry
    return {
        "loaded": True,
        "model_id": bundle.model_id,
        "categories": list(bundle.categories),
        "width": geometry.width,
        "height": geometry.height,
        "channels": geometry.channels,
        "path": bundle.path.name,
    }


@classify.get("/api/v1/model")
def get_model():
    return jsonify(model_info(_classifier()))


@classify.post("/api/v1/model")
def load_model():
    """Load or switch the served model: a bundle folder inside the configured weights folder."""
    body = json_body()
    name = string_field(body, "bundle")
    ctx = context()
    root = ctx.config.weights_dir.resolve()
    path = (root / name).resolve()
    if root not in path.parents and path != root:
        raise ApiError(400, "invalid_name", "bundle must be a folder inside the service's weights folder")
    if not path.is_dir():
        raise ApiError(404, "not_found", f"no bundle {name!r} in the weights folder")
    from dicebox.bundle import BundleError
    from dicebox.inference import Classifier

    with _switch_lock:
        try:
            if ctx.classifier is None:
                ctx.classifier = Classifier.from_bundle(path)
            else:
                ctx.classifier.swap(path)
        except BundleError as exc:
            raise ApiError(400, "invalid_bundle", str(exc)) from None
    return jsonify(model_info(ctx.classifier))


def load_classifier(path: str | Path):
    """A classifier for ``dicebox serve --model`` (imports TensorFlow)."""
    from dicebox.inference import Classifier

    return Classifier.from_bundle(path)
