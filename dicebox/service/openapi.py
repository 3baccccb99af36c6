"""The OpenAPI 3 description of the service, served at ``/api/v1/openapi.json``.

Written by hand next to the routes it describes, and exact: what the document allows, the service
accepts, and what it forbids, the service refuses. The test suite runs schemathesis with all its
checks against it, and compares the name patterns below with the store's own rules.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

from flask import Blueprint, current_app, jsonify

import dicebox
from dicebox.config import Config
from dicebox.service.batch_routes import MAX_COLLECT, MAX_WAIT_SECONDS
from dicebox.service.classify_routes import BUNDLE_PATTERN, EXPORT_FORMATS
from dicebox.service.native import MAX_IMAGES_PER_REQUEST
from dicebox.service.validation import MAX_FIELD_LENGTH, MAX_IDS_PER_REQUEST, MAX_WHOLE_NUMBER
from dicebox.store.names import MAX_NAME_LENGTH, MAX_SIDE

openapi = Blueprint("openapi", __name__)

JSON = "application/json"
IMAGE_FORMAT = "image-base64"

# Names Windows takes for devices (dicebox.store.names refuses them for new folders). Each letter
# also matches what str.upper() turns into it: the dotless ı becomes I.
_DEVICE_CATEGORY = (
    r"(?:[Cc][Oo][Nn]|[Pp][Rr][Nn]|[Aa][Uu][Xx]|[Nn][Uu][Ll]|[Cc][Oo][Nn][Iiı][Nn]\$|[Cc][Oo][Nn][Oo][Uu][Tt]\$"
    r"|[Cc][Oo][Mm][0-9¹²³]|[Ll][Pp][Tt][0-9¹²³]) *(?:\.|$)"
)
_DEVICE_DATASET = r"(?:[Cc][Oo][Nn]|[Pp][Rr][Nn]|[Aa][Uu][Xx]|[Nn][Uu][Ll]|[Cc][Oo][Mm][0-9]|[Ll][Pp][Tt][0-9])\."
# A data set name: letters, digits, '.', '_', '-', starting with a letter or digit, no '..'.
_DATASET_NAME = r"[A-Za-z0-9](?:\.?[A-Za-z0-9_-])*\.?"
_SIDE = r"(?:[1-9][0-9]{0,2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-6])"
_FORBIDDEN = '/\\:*?"<>|'


def _escape(ch: str) -> str:
    """``ch`` as ECMA-262, Python and Rust regular expressions all read it inside a class."""
    return ch if ch.isascii() and ch.isalnum() else f"\\u{ord(ch):04x}"


def _class_without(excluded: set[str]) -> str:
    """A regex character class of every character but ``excluded``, written as ranges."""
    ranges: list[str] = []
    codes = sorted(ord(ch) for ch in excluded)
    start = prev = codes[0]
    for code in [*codes[1:], None]:
        if code is not None and code == prev + 1:
            prev = code
            continue
        low, high = _escape(chr(start)), _escape(chr(prev))
        ranges.append(low if start == prev else f"{low}-{high}")
        if code is not None:
            start = prev = code
    return f"[^{''.join(ranges)}]"


@functools.cache
def category_pattern() -> str:
    """dicebox.store.names' rules for a new category as one regular expression (built once).

    Exact but for two corners: its length counts characters as sent (the store counts them after
    composing accents, NFC), and it lets through the few format characters beyond U+FFFF that the
    store refuses (no escape for them reads the same in ECMA-262, Python and Rust, and schemathesis
    rewrites literal ones). tests/test_openapi_names.py compares it with the store.
    """
    controls = {chr(code) for code in range(0x10000) if unicodedata.category(chr(code)) in ("Cc", "Cf", "Zl", "Zp")}
    inner = controls | set(_FORBIDDEN)
    edge = inner | {chr(code) for code in range(0x10000) if chr(code).isspace()} | {"."}
    middle = f"{{0,{MAX_NAME_LENGTH - 2}}}"
    return f"^(?!{_DEVICE_CATEGORY}){_class_without(edge)}(?:{_class_without(inner)}{middle}{_class_without(edge)})?$"


DATASET_NAME_PATTERN = f"^(?!{_DEVICE_DATASET}){_DATASET_NAME}$"
DATASET_ID_PATTERN = f"^(?!{_DEVICE_DATASET}){_DATASET_NAME}_{_SIDE}x{_SIDE}$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK", **extra: Any) -> dict:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _object(properties: dict, required: list[str] | None = None, *, closed: bool = True) -> dict:
    """An object with these properties; ``closed``: no others (the service's own answers)."""
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


ERROR_TEXT = {
    400: "Invalid input (the message says what and which field)",
    401: "Missing or wrong API key",
    404: "Not found",
    409: "Conflicts with what is stored (a category spelt like another, more images asked than stored, ...)",
    410: "Gone: the order expired uncollected",
    413: "Request body over the size limit, or an image with too many pixels",
    503: "A dependency is unavailable (broker, model); try again later",
    507: "The disk is full: nothing was stored; try again when there is room",
}


def _errors(*statuses: int) -> dict:
    return {str(s): _json(_ref("Error"), ERROR_TEXT[s]) for s in statuses}


def _op(
    operation_id: str,
    summary: str,
    responses: dict,
    *,
    body: dict | None = None,
    params: list | None = None,
    secured: bool = True,
    compat: bool = False,
    tags: list[str] | None = None,
) -> dict:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "responses": dict(responses)}
    if tags:
        op["tags"] = tags
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
        op["responses"].update(_errors(413))
    parameters = list(params or [])
    if compat:
        parameters.append({"$ref": "#/components/parameters/ApiVersion"})
    if parameters:
        op["parameters"] = parameters
    if secured:
        op["responses"].update(_errors(401))
        if compat:
            op["responses"].setdefault("400", _json(_ref("Error"), ERROR_TEXT[400]))
    else:
        op["security"] = []
    op["responses"] = dict(sorted(op["responses"].items()))
    return op


def _string(pattern: str | None = None, *, min_length: int = 1, max_length: int | None = None, **extra) -> dict:
    schema: dict[str, Any] = {"type": "string", "minLength": min_length}
    if max_length is not None:
        schema["maxLength"] = max_length
    if pattern is not None:
        schema["pattern"] = pattern
    return {**schema, **extra}


def _integer(minimum: int, maximum: int | None = None, **extra) -> dict:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return {**schema, **extra}


def _schemas(config: Config) -> dict[str, dict]:
    category = _string(
        category_pattern(),
        max_length=MAX_NAME_LENGTH,
        example="3",
        description='1-64 characters, no / \\ : * ? " < > | or control characters, no space '
        "or '.' at either end (nor '.' first), not a Windows device name (CON, "
        "COM1, nul.txt, ...); another spelling (letter case, Unicode form) of an "
        "existing category answers 409",
    )
    image_id = _string(r"^[0-9a-f]{32}$", max_length=32, example="0" * 32)
    # Only type and format: JSON Schema cannot say "a PNG file", and a generator that knows the format
    # (tests/schemathesis_hooks.py) then makes real images rather than strings the pattern allows.
    image = {
        "type": "string",
        "format": IMAGE_FORMAT,
        "description": "A PNG or JPEG file in base64 (a 'data:...,' URL prefix is accepted), at most "
        f"{config.server.max_image_pixels} pixels: anything else answers 400 (413 when "
        "too large)",
    }
    noise = {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": f"augmentation noise (default {config.global_.noise:g})",
    }
    seed = {
        "type": "integer",
        "minimum": 0,
        "nullable": True,
        "description": "a seed makes the batch reproducible; null or absent: random",
    }
    count = _integer(0)
    pixels = {"type": "array", "items": {"type": "array", "items": {"type": "array", "items": _integer(0, 255)}}}
    order_state = {"type": "string", "enum": ["filling", "ready", "delivered", "failed", "expired"]}
    return {
        "Error": _object({"error": {"type": "string"}, "message": {"type": "string"}}),
        "CategoryName": category,
        "DatasetName": _string(
            DATASET_NAME_PATTERN,
            max_length=MAX_NAME_LENGTH,
            example="dice",
            description="1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit, no '..', not a Windows device name followed by '.'",
        ),
        "Side": _integer(1, MAX_SIDE),
        "ImageId": image_id,
        "ImageData": image,
        "Noise": noise,
        "CategoryCount": _object({"name": {"type": "string"}, "index": count, "count": count}),
        "DatasetInfo": _object(
            {
                "id": {"type": "string"},
                "width": _ref("Side"),
                "height": _ref("Side"),
                "channels": {"type": "integer", "enum": [1, 3]},
                "count": count,
                "version": {"type": "string"},
                "category_map": {"type": "object", "additionalProperties": count},
                "categories": {"type": "array", "items": _ref("CategoryCount")},
            }
        ),
        "ImageRecord": _object(
            {"id": image_id, "category": {"type": "string"}, "created": {"type": "number"}, "size": count}
        ),
        "ImageUpload": _object({"category": _ref("CategoryName"), "data": _ref("ImageData")}, closed=False),
        "InlineBatchRequest": _object(
            {"batch_size": _integer(1, config.server.max_inline_batch), "noise": noise}, ["batch_size"], closed=False
        ),
        "OrderRequest": _object(
            {"batch_size": _integer(1), "noise": noise, "seed": {**seed, "maximum": 2**63 - 1}},
            ["batch_size"],
            closed=False,
        ),
        "IdList": _object(
            {"ids": {"type": "array", "items": image_id, "minItems": 1, "maxItems": MAX_IDS_PER_REQUEST}}, closed=False
        ),
        "Pixels": pixels,
        "OrderStatus": _object(
            {
                "order_id": {"type": "string", "format": "uuid"},
                "dataset": {"type": "string"},
                "batch_size": _integer(1),
                "ready": {**count, "description": "items that can be collected now"},
                "delivered": {**count, "description": "items handed out so far"},
                "shards_total": count,
                "shards_done": count,
                "failed": {"type": "boolean"},
                "expired": {"type": "boolean"},
                "state": order_state,
                "error": {"type": "string"},
                "expires_in": {
                    "type": "number",
                    "minimum": 0,
                    "description": "seconds until the order expires unless collected",
                },
                "links": _object({"status": {"type": "string"}, "items": {"type": "string"}}),
            },
            [
                "order_id",
                "dataset",
                "batch_size",
                "ready",
                "delivered",
                "shards_total",
                "shards_done",
                "failed",
                "expired",
                "state",
                "error",
                "expires_in",
            ],
        ),
        "Model": _object(
            {
                "loaded": {"type": "boolean"},
                "model_id": {"type": "string"},
                "categories": {"type": "array", "items": {"type": "string"}},
                "width": _integer(1),
                "height": _integer(1),
                "channels": {"type": "integer", "enum": [1, 3]},
                "path": {"type": "string"},
                "runtime": {"type": "string", "enum": ["keras", "onnx", "tflite"]},
            },
            ["loaded"],
        ),
    }


def _npz(description: str, headers: tuple[tuple[str, str], ...] = ()) -> dict:
    return {
        "description": description,
        "headers": {
            name: {"required": True, "schema": {"type": kind}}
            for name, kind in (("X-Dataset-Version", "string"), *headers)
        },
        "content": {"application/x-npz": {"schema": {"type": "string", "format": "binary"}}},
    }


NPZ_TEXT = "An uncompressed .npz file: images (uint8 N,H,W,C; BGR), labels (int64 N), categories (str)"
DATASET = {
    "name": "ident",
    "in": "path",
    "required": True,
    "description": "Data set id <name>_<width>x<height>",
    "schema": _string(DATASET_ID_PATTERN, max_length=MAX_NAME_LENGTH + 3, example="dice_60x50"),
}
IMAGE_ID = {"name": "image_id", "in": "path", "required": True, "schema": _ref("ImageId")}
CATEGORY = {"name": "name", "in": "path", "required": True, "schema": _ref("CategoryName")}
ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "description": "The order id (a UUID)",
    "schema": {"type": "string", "format": "uuid"},
}


def paths(config: Config) -> dict[str, dict]:
    """The health, original sensory and native data set routes with their parameters and answers."""
    count = _integer(0)
    category_map = {"type": "object", "additionalProperties": count}
    get_dataset = {"operationId": "getDataset", "parameters": {"ident": "$response.body#/id"}}
    stored_image = {"ident": "$request.path.ident", "image_id": "$response.body#/stored/0/id"}
    return {
        "/health/plain": {
            "get": _op(
                "healthPlain",
                "Liveness: answers true",
                {"200": _json({"type": "boolean", "enum": [True]})},
                secured=False,
                tags=["health"],
            )
        },
        "/api/version": {
            "get": _op(
                "getApiVersion",
                "The API version compatible clients must send",
                {"200": _json(_object({"version": {"type": "string"}}))},
                secured=False,
                tags=["compatible"],
            )
        },
        "/api/v1/health": {
            "get": _op(
                "getHealth",
                "Service status",
                {
                    "200": _json(
                        _object(
                            {
                                "status": {"type": "string", "enum": ["ok"]},
                                "dicebox_version": {"type": "string"},
                                "api_version": {"type": "string"},
                                "dataset": {"type": "string"},
                                "batch_orders": {
                                    "type": "object",
                                    "nullable": True,
                                    "properties": {
                                        "backend": {"type": "string", "enum": ["embedded", "rabbitmq"]},
                                        "orders": count,
                                    },
                                    "required": ["backend", "orders"],
                                },
                                "model_id": {"type": "string", "nullable": True},
                            }
                        )
                    )
                },
                secured=False,
                tags=["health"],
            )
        },
        "/api/sensory/category": {
            "get": _op(
                "getCategoryMapCompat",
                "Category map of the configured data set (name to index)",
                {"200": _json(_object({"category_map": category_map}))},
                compat=True,
                tags=["compatible"],
            )
        },
        "/api/sensory/store": {
            "post": _op(
                "storeImageCompat",
                "Store one labelled image (original protocol); creates the data set if new",
                {
                    "200": _json(_object({"sensory_store": {"type": "boolean", "enum": [True]}})),
                    **_errors(400, 409, 507),
                },
                body=_object(
                    {
                        "name": _ref("DatasetName"),
                        "width": _ref("Side"),
                        "height": _ref("Side"),
                        "category": _ref("CategoryName"),
                        "data": _ref("ImageData"),
                    },
                    closed=False,
                ),
                compat=True,
                tags=["compatible"],
            )
        },
        "/api/sensory/request": {
            "post": _op(
                "requestBatchCompat",
                "A small training batch inline: one-hot labels and pixel lists (original protocol)",
                {
                    "200": _json(
                        _object(
                            {
                                "labels": {"type": "array", "items": {"type": "array", "items": _integer(0, 1)}},
                                "data": {"type": "array", "items": _ref("Pixels")},
                            }
                        )
                    ),
                    **_errors(400, 409),
                },
                body=_ref("InlineBatchRequest"),
                compat=True,
                tags=["compatible"],
            )
        },
        "/api/v1/openapi.json": {
            "get": _op(
                "getOpenApi", "This document", {"200": _json({"type": "object"})}, secured=False, tags=["native"]
            )
        },
        "/api/v1/datasets": {
            "get": _op(
                "listDatasets",
                "Data set ids and the default one",
                {
                    "200": _json(
                        _object(
                            {"default": {"type": "string"}, "datasets": {"type": "array", "items": {"type": "string"}}}
                        )
                    )
                },
                tags=["native"],
            ),
            "post": _op(
                "createDataset",
                "Create a data set (or get it if it exists with the same channels)",
                {
                    "200": _json(_ref("DatasetInfo"), links={"GetDataset": get_dataset}),
                    "201": _json(_ref("DatasetInfo"), "Created", links={"GetDataset": get_dataset}),
                    **_errors(400, 409, 507),
                },
                body=_object(
                    {
                        "name": _ref("DatasetName"),
                        "width": _ref("Side"),
                        "height": _ref("Side"),
                        "channels": {"type": "integer", "enum": [1, 3]},
                    },
                    ["name", "width", "height"],
                    closed=False,
                ),
                tags=["native"],
            ),
        },
        "/api/v1/datasets/{ident}": {
            "get": _op(
                "getDataset",
                "Data set info: geometry, per-category counts, category map, content version",
                {"200": _json(_ref("DatasetInfo")), **_errors(400, 404)},
                params=[DATASET],
                tags=["native"],
            )
        },
        "/api/v1/datasets/{ident}/categories": {
            "post": _op(
                "addCategory",
                "Add an (empty) category",
                {
                    "200": _json(
                        _object({"name": {"type": "string"}, "created": {"type": "boolean", "enum": [False]}}),
                        "Already there",
                    ),
                    "201": _json(
                        _object({"name": {"type": "string"}, "created": {"type": "boolean", "enum": [True]}}), "Created"
                    ),
                    **_errors(400, 404, 409, 507),
                },
                body=_object({"name": _ref("CategoryName")}, closed=False),
                params=[DATASET],
                tags=["native"],
            )
        },
        "/api/v1/datasets/{ident}/categories/{name}": {
            "delete": _op(
                "deleteCategory",
                "Remove an empty category",
                {"200": _json(_object({"deleted": {"type": "string"}})), **_errors(400, 404, 409, 507)},
                params=[DATASET, CATEGORY],
                tags=["native"],
            )
        },
        "/api/v1/datasets/{ident}/images": {
            "get": _op(
                "listImages",
                "List images (optionally of one category), oldest first",
                {
                    "200": _json(
                        _object(
                            {"total": count, "offset": count, "images": {"type": "array", "items": _ref("ImageRecord")}}
                        )
                    ),
                    **_errors(400, 404),
                },
                params=[
                    DATASET,
                    {"name": "category", "in": "query", "schema": _ref("CategoryName")},
                    {"name": "offset", "in": "query", "schema": _integer(0, MAX_WHOLE_NUMBER)},
                    {"name": "limit", "in": "query", "schema": _integer(1, 10_000)},
                ],
                tags=["native"],
            ),
            "post": _op(
                "storeImages",
                "Store many labelled images in one request (all or nothing)",
                {
                    "201": _json(
                        _object(
                            {
                                "count": count,
                                "stored": {
                                    "type": "array",
                                    "items": _object(
                                        {
                                            "id": _ref("ImageId"),
                                            "category": {"type": "string"},
                                            "duplicate": {"type": "boolean"},
                                        }
                                    ),
                                },
                            }
                        ),
                        "Stored",
                        links={
                            "GetImage": {"operationId": "getImage", "parameters": stored_image},
                            "DeleteImage": {"operationId": "deleteImage", "parameters": stored_image},
                        },
                    ),
                    **_errors(400, 404, 409, 507),
                },
                body=_object(
                    {
                        "images": {
                            "type": "array",
                            "items": _ref("ImageUpload"),
                            "minItems": 1,
                            "maxItems": MAX_IMAGES_PER_REQUEST,
                        }
                    },
                    closed=False,
                ),
                params=[DATASET],
                tags=["native"],
            ),
        },
        "/api/v1/datasets/{ident}/images/{image_id}": {
            "get": _op(
                "getImage",
                "One stored image as PNG",
                {
                    "200": {
                        "description": "PNG",
                        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors(400, 404),
                },
                params=[DATASET, IMAGE_ID],
                tags=["native"],
            ),
            "delete": _op(
                "deleteImage",
                "Delete one image",
                {"200": _json(_object({"deleted": _integer(1, 1)})), **_errors(400, 404, 507)},
                params=[DATASET, IMAGE_ID],
                tags=["native"],
            ),
        },
        "/api/v1/datasets/{ident}/images/delete": {
            "post": _op(
                "deleteImages",
                "Delete several images (all or nothing)",
                {"200": _json(_object({"deleted": count})), **_errors(400, 404, 507)},
                body=_ref("IdList"),
                params=[DATASET],
                tags=["native"],
            )
        },
        "/api/v1/datasets/{ident}/images/relabel": {
            "post": _op(
                "relabelImages",
                "Move several images to a category (all or nothing)",
                {
                    "200": _json(_object({"relabelled": count, "category": {"type": "string"}})),
                    **_errors(400, 404, 409, 507),
                },
                body=_object(
                    {
                        "ids": {
                            "type": "array",
                            "items": _ref("ImageId"),
                            "minItems": 1,
                            "maxItems": MAX_IDS_PER_REQUEST,
                        },
                        "category": _ref("CategoryName"),
                    },
                    closed=False,
                ),
                params=[DATASET],
                tags=["native"],
            )
        },
        "/api/v1/datasets/{ident}/batch": {
            "post": _op(
                "sampleBatch",
                "A random training batch in binary form (npz, uint8), with the noise augmentation",
                {"200": _npz(NPZ_TEXT), **_errors(400, 404, 409)},
                body=_object(
                    {
                        "batch_size": _integer(1, config.server.max_inline_batch),
                        "noise": _ref("Noise"),
                        "seed": {"type": "integer", "minimum": 0, "nullable": True},
                    },
                    ["batch_size"],
                    closed=False,
                ),
                params=[DATASET],
                tags=["native"],
            )
        },
        "/api/v1/datasets/{ident}/arrays": {
            "get": _op(
                "getArrays",
                "The whole data set in binary form (npz, uint8)",
                {"200": _npz(NPZ_TEXT), **_errors(400, 404)},
                params=[DATASET],
                tags=["native"],
            )
        },
    }


def classify_paths(config: Config) -> dict[str, dict]:
    """The classification routes (original and native)."""
    image_body = _object({"data": _ref("ImageData")}, closed=False)
    return {
        "/api/classify": {
            "post": _op(
                "classifyCompat",
                "Classify one image (original protocol): the category index, -1 when no model is loaded",
                {"200": _json(_object({"classification": _integer(-1)})), **_errors(400)},
                body=image_body,
                compat=True,
                tags=["compatible"],
            )
        },
        "/api/categories": {
            "get": _op(
                "getCategoriesCompat",
                "Category map of the served model (index to name), or of the data set without a model",
                {
                    "200": _json(
                        _object({"category_map": {"type": "object", "additionalProperties": {"type": "string"}}})
                    )
                },
                compat=True,
                tags=["compatible"],
            )
        },
        "/api/v1/classify": {
            "post": _op(
                "classify",
                "Classify one image: label, index, confidence, every class's probability, model id, time taken",
                {
                    "200": _json(
                        _object(
                            {
                                "label": {"type": "string"},
                                "index": _integer(0),
                                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                                "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
                                "model_id": {"type": "string"},
                                "seconds": {"type": "number", "minimum": 0},
                            }
                        )
                    ),
                    **_errors(400, 503),
                },
                body=image_body,
                tags=["classification"],
            )
        },
        "/api/v1/model": {
            "get": _op("getModel", "The served model", {"200": _json(_ref("Model"))}, tags=["classification"]),
            "post": _op(
                "loadModel",
                "Load or switch the served model (a bundle folder in the weights folder); "
                "the running model answers until the new one is ready",
                {"200": _json(_ref("Model")), **_errors(400, 404)},
                body=_object(
                    {
                        "bundle": _string(
                            BUNDLE_PATTERN,
                            max_length=MAX_FIELD_LENGTH,
                            description="a folder under the weights folder: a relative "
                            "path without '.' or '..' segments",
                        )
                    },
                    closed=False,
                ),
                tags=["classification"],
            ),
        },
        "/api/v1/model/export": {
            "get": _op(
                "exportModel",
                "The served model for other tools: a zip of one folder <model_id>-<format>/ holding the model "
                "(model.keras, saved_model/, model.tflite or model.onnx: uint8 NHWC in, softmax out), labels.txt, "
                "preprocessing.json, README.md and example.py",
                {
                    "200": {
                        "description": "The export kit as a zip",
                        "headers": {
                            "Content-Disposition": {
                                "required": True,
                                "schema": {"type": "string", "example": "attachment; filename=0123abcd-onnx.zip"},
                            }
                        },
                        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors(400, 409, 503),
                },
                params=[
                    {
                        "name": "format",
                        "in": "query",
                        "required": True,
                        "description": "keras (Keras 3), savedmodel (TensorFlow), tflite (LiteRT), onnx (opset 17)",
                        "schema": {"type": "string", "enum": list(EXPORT_FORMATS)},
                    }
                ],
                tags=["classification"],
            )
        },
    }


def batch_order_paths(config: Config) -> dict[str, dict]:
    """Batch orders: the original batch/poll routes and native orders (see dicebox.service.batch_routes)."""
    order_link = {"parameters": {"order_id": "$response.body#/order_id"}}
    items = _npz(
        "Up to max items as an uncompressed .npz (images uint8 N,H,W,C; labels int64; categories). "
        "Zero items (still 200) when none is ready within wait. Asking with start=k acknowledges and "
        "frees the items before k, so a lost answer is fetched again with the same start.",
        (
            ("X-Order-State", "string"),
            ("X-Order-Delivered", "integer"),
            ("X-Order-Ready", "integer"),
            ("X-Order-Batch-Size", "integer"),
        ),
    )
    return {
        "/api/sensory/batch": {
            "post": _op(
                "placeBatchCompat",
                "Place a batch order on the configured data set (original protocol); poll its items one by one",
                {
                    "200": _json(_object({"batch_id": {"type": "string", "format": "uuid"}})),
                    **_errors(400, 404, 409, 503),
                },
                body=_ref("OrderRequest"),
                compat=True,
                tags=["compatible"],
            )
        },
        "/api/sensory/poll": {
            "post": _op(
                "pollBatchCompat",
                "One item of a batch order (one-hot label, pixel lists), or empty lists when none is ready yet",
                {
                    "200": _json(
                        _object(
                            {
                                "label": {"type": "array", "items": _integer(0, 1)},
                                "data": {
                                    "type": "array",
                                    "items": {"type": "array", "items": {"type": "array", "items": _integer(0, 255)}},
                                },
                            }
                        )
                    ),
                    **_errors(400, 404, 409, 410),
                },
                body=_object({"batch_id": {"type": "string", "format": "uuid"}}, closed=False),
                compat=True,
                tags=["compatible"],
            )
        },
        "/api/v1/datasets/{ident}/orders": {
            "post": _op(
                "placeOrder",
                "Place a batch order: batch_size distinct images, filled in shards in the background",
                {
                    "202": _json(
                        _ref("OrderStatus"),
                        "Accepted; the Location header names the order",
                        headers={"Location": {"required": True, "schema": {"type": "string"}}},
                        links={
                            name: {"operationId": op, **order_link}
                            for name, op in (
                                ("GetOrder", "getOrder"),
                                ("CollectItems", "collectItems"),
                                ("CancelOrder", "cancelOrder"),
                            )
                        },
                    ),
                    **_errors(400, 404, 409, 503),
                },
                body=_ref("OrderRequest"),
                params=[DATASET],
                tags=["batch orders"],
            )
        },
        "/api/v1/orders/{order_id}": {
            "get": _op(
                "getOrder",
                "Where an order stands",
                {"200": _json(_ref("OrderStatus")), **_errors(400, 404)},
                params=[ORDER_ID],
                tags=["batch orders"],
            ),
            "delete": _op(
                "cancelOrder",
                "Cancel an order and free its items",
                {
                    "200": _json(
                        _object(
                            {
                                "order_id": {"type": "string", "format": "uuid"},
                                "cancelled": {"type": "boolean", "enum": [True]},
                            }
                        )
                    ),
                    **_errors(400, 404),
                },
                params=[ORDER_ID],
                tags=["batch orders"],
            ),
        },
        "/api/v1/orders/{order_id}/items": {
            "post": _op(
                "collectItems",
                "Collect many items of an order in binary form",
                {"200": items, **_errors(400, 404, 409, 410)},
                params=[
                    ORDER_ID,
                    {
                        "name": "max",
                        "in": "query",
                        "description": "at most this many items (default 10000)",
                        "schema": _integer(1, MAX_COLLECT),
                    },
                    {
                        "name": "start",
                        "in": "query",
                        "description": "position of the first item wanted (default: after those handed out); "
                        "past the items handed out: 409",
                        "schema": _integer(0, MAX_WHOLE_NUMBER),
                    },
                    {
                        "name": "wait",
                        "in": "query",
                        "description": "seconds to wait for items (default 0)",
                        "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                    },
                ],
                tags=["batch orders"],
            )
        },
    }


def evolution_paths(config: Config) -> dict[str, dict]:
    """The latest evolution run's progress (read-only; for the web client)."""
    fraction = {"type": "number", "minimum": 0, "maximum": 1, "nullable": True}
    generation = _object({"generation": _integer(0), "best": fraction, "average": fraction, "failed": _integer(0)})
    progress = _object(
        {
            "run_id": {"type": "string"},
            "generation": _integer(0),
            "generations": _integer(0),
            "finished": {"type": "boolean"},
            "best": fraction,
            "history": {"type": "array", "items": generation},
        }
    )
    return {
        "/api/v1/evolution/latest": {
            "get": _op(
                "getLatestEvolution",
                "Progress of the evolution run under the population folder whose state was written last: "
                "generation, the champion's accuracy, best and average accuracy per generation (404: no run)",
                {"200": _json(progress), **_errors(404)},
                tags=["evolution"],
            )
        }
    }


def web_paths(config: Config) -> dict[str, dict]:
    """The web client's page and files: public (the page asks for the key itself)."""
    from dicebox.service.web_routes import ASSETS

    text = {"schema": {"type": "string"}}
    return {
        "/": {
            "get": _op(
                "getWebClient",
                "The web client's page",
                {"200": {"description": "The page", "content": {"text/html": text}}},
                secured=False,
                tags=["web"],
            )
        },
        "/web/{name}": {
            "get": _op(
                "getWebClientFile",
                "One of the web client's files",
                {
                    "200": {
                        "description": "The file",
                        "content": {media.split(";")[0]: text for media in sorted(set(ASSETS.values()))},
                    },
                    **_errors(404),
                },
                params=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": list(ASSETS)}}
                ],
                secured=False,
                tags=["web"],
            )
        },
    }


def docs_paths(config: Config) -> dict[str, dict]:
    """The interactive page for this document (Swagger UI) and its files: public, like the document."""
    from dicebox.service.docs_routes import ASSETS, DOCS_PATH

    text = {"schema": {"type": "string"}}
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        DOCS_PATH: {
            "get": _op(
                "getApiDocs",
                "An interactive page for this document (Swagger UI, served by the service itself)",
                {"200": {"description": "The page", "content": {"text/html": text}}},
                secured=False,
                tags=["native"],
            )
        },
        DOCS_PATH + "/{name}": {
            "get": _op(
                "getApiDocsFile",
                "One of the API docs page's files",
                {
                    "200": {
                        "description": "The file",
                        "content": {
                            media.split(";")[0]: (binary if media.startswith("image/") else text)
                            for media in sorted(set(ASSETS.values()))
                        },
                    },
                    **_errors(404),
                },
                params=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": list(ASSETS)}}
                ],
                secured=False,
                tags=["native"],
            )
        },
    }


EXTRA_PATHS: list = [classify_paths, batch_order_paths, evolution_paths, web_paths, docs_paths]


def document(config: Config) -> dict:
    """The OpenAPI document for a service with this configuration."""
    api_version = config.server.api_version
    all_paths = paths(config)
    for extra in EXTRA_PATHS:
        all_paths.update(extra(config))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "dicebox sensory service",
            "version": dicebox.__version__,
            "description": (
                "Stores labelled images and serves training data. Routes under /api/v1 are the native "
                "API; the others answer the original 2017 dicebox protocol unchanged. Every /api route "
                "but the public ones needs the API key, in the API-ACCESS-KEY header or as "
                "'Authorization: Bearer <key>' (401 when missing or wrong); the original routes also "
                f"need API-VERSION: {api_version} (400 otherwise). Fields a body does not name are ignored. "
                f"Image data ({IMAGE_FORMAT}) must decode as a PNG or JPEG: other base64 answers 400."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": all_paths,
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "API-ACCESS-KEY"},
                "Bearer": {"type": "http", "scheme": "bearer", "description": "the same key as API-ACCESS-KEY"},
            },
            "parameters": {
                "ApiVersion": {
                    "name": "API-VERSION",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "enum": [api_version]},
                },
            },
            "schemas": _schemas(config),
        },
    }


@openapi.get("/api/v1/openapi.json")
def serve_document():
    return jsonify(document(current_app.config["DICEBOX"]))
