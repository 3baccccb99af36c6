"""Classification: the original ``/api/classify`` and ``/api/categories``, and native routes.

The model is a :class:`dicebox.nets.inference.Classifier` held by the service context; it is loaded
once (never per request) and can be switched while requests are being answered.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from dicebox.service.context import context
from dicebox.service.errors import ApiError, ServiceUnavailable
from dicebox.service.validation import base64_field, json_body, string_field

classify = Blueprint("classify", __name__)
_SEGMENT = r'[^/\\:*?"<>|\u0000-\u001f\u007f]+'
# A bundle folder under the weights folder: a relative path without '.' or '..' segments (the
# OpenAPI document publishes this pattern).
BUNDLE_PATTERN = rf"^(?!.*(?:^|/)\.\.?(?:/|$)){_SEGMENT}(?:/{_SEGMENT})*$"
_BUNDLE = re.compile(BUNDLE_PATTERN)
# Export formats, as in dicebox.nets.export.FORMATS (kept here so the service starts without it).
EXPORT_FORMATS = ("keras", "savedmodel", "tflite", "onnx")
_EXPORTS_KEPT = 4


def _classifier():
    return context().classifier


@classify.post("/api/classify")
def classify_compat():
    body = json_body()
    data = base64_field(body, "data")
    classifier = _classifier()
    if classifier is None:
        return jsonify({"classification": -1})
    from dicebox.nets.inference import ClassifyError

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
    from dicebox.nets.inference import ClassifyError

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
        "runtime": classifier.runtime,
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
    if not _BUNDLE.fullmatch(name):
        raise ApiError(
            400,
            "invalid_name",
            "bundle must be a relative path inside the weights folder, without '.' or '..' "
            'segments, control characters or any of \\ : * ? " < > |',
        )
    root = ctx.config.weights_dir.resolve()
    path = (root / name).resolve()
    if root not in path.parents:  # a symbolic link leading out
        raise ApiError(400, "invalid_name", "bundle must be a folder inside the service's weights folder")
    if not path.is_dir():
        raise ApiError(404, "not_found", f"no bundle {name!r} in the weights folder")
    from dicebox.nets.bundle import BundleError
    from dicebox.nets.inference import Classifier

    with ctx.switch_lock:
        try:
            if ctx.classifier is None:
                ctx.classifier = Classifier.from_bundle(path)
            else:
                ctx.classifier.swap(path)
        except BundleError as exc:
            raise ApiError(400, "invalid_bundle", str(exc)) from None
    return jsonify(model_info(ctx.classifier))


@classify.get("/api/v1/model/export")
def export_model():
    """The served model's export kit (model, labels.txt, preprocessing.json, README, example) as a zip."""
    fmt = request.args.get("format")
    if fmt not in EXPORT_FORMATS:
        raise ApiError(400, "invalid_parameter", f"query parameter 'format' must be one of {', '.join(EXPORT_FORMATS)}")
    ctx = context()
    classifier = ctx.classifier
    if classifier is None:
        raise ServiceUnavailable("no model is loaded: start the service with --model BUNDLE or POST /api/v1/model")
    bundle = classifier.bundle
    from dicebox.nets.bundle import BundleError
    from dicebox.nets.export import export_archive

    key = (bundle.model_id, fmt)
    with ctx.export_lock:
        data = ctx.exports.get(key)
        if data is None:
            try:
                data = export_archive(bundle, fmt)
            except BundleError as exc:
                raise ApiError(409, "cannot_export", str(exc)) from None
            if len(ctx.exports) >= _EXPORTS_KEPT:
                ctx.exports.pop(next(iter(ctx.exports)))
            ctx.exports[key] = data
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f"attachment; filename={bundle.model_id}-{fmt}.zip"
    return response


def load_classifier(path: str | Path, runtime: str = "auto"):
    """A classifier for ``dicebox serve --model``: a bundle (imports TensorFlow) or an export kit."""
    from dicebox.nets.inference import Classifier

    return Classifier.from_bundle(path, runtime)
