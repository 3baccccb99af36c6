"""The OpenAPI 3 description of the service, served at ``/api/v1/openapi.json``.

Written by hand next to the routes it describes; the test suite runs schemathesis against it,
so a route and its description cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

import dicebox

openapi = Blueprint("openapi", __name__)

JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    text = {
        400: "Invalid input (the body says what and which field)",
        401: "Missing or wrong API key",
        404: "Not found",
        409: "Conflicts with what is stored",
        410: "Gone: the order expired uncollected",
        413: "Request body or image too large",
        503: "A dependency is unavailable; try again later",
    }
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _op(summary: str, responses: dict, *, body: dict | None = None, params: list | None = None,
        secured: bool = True, compat: bool = False, tags: list[str] | None = None) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if tags:
        op["tags"] = tags
    if body is not None:
        op["requestBody"] = _body(body)
    parameters = list(params or [])
    if compat:
        parameters.append({"$ref": "#/components/parameters/ApiVersion"})
    if parameters:
        op["parameters"] = parameters
    if not secured:
        op["security"] = []
    return op


DATASET = {"name": "ident", "in": "path", "required": True, "description": "Data set id <name>_<width>x<height>",
           "schema": {"type": "string", "example": "dice_60x50"}}
IMAGE_ID = {"name": "image_id", "in": "path", "required": True, "schema": {"type": "string", "example": "0" * 32}}
CATEGORY = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}

SCHEMAS: dict[str, dict] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "CategoryCount": {
        "type": "object",
        "required": ["name", "index", "count"],
        "properties": {"name": {"type": "string"}, "index": {"type": "integer"}, "count": {"type": "integer"}},
    },
    "DatasetInfo": {
        "type": "object",
        "required": ["id", "width", "height", "channels", "count", "version", "category_map", "categories"],
        "properties": {
            "id": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "channels": {"type": "integer", "enum": [1, 3]},
            "count": {"type": "integer"},
            "version": {"type": "string"},
            "category_map": {"type": "object", "additionalProperties": {"type": "integer"}},
            "categories": {"type": "array", "items": _ref("CategoryCount")},
        },
    },
    "ImageRecord": {
        "type": "object",
        "required": ["id", "category", "created", "size"],
        "properties": {
            "id": {"type": "string"},
            "category": {"type": "string"},
            "created": {"type": "number"},
            "size": {"type": "integer"},
        },
    },
    "ImageUpload": {
        "type": "object",
        "required": ["category", "data"],
        "properties": {
            "category": {"type": "string", "example": "3"},
            "data": {"type": "string", "format": "byte", "description": "base64 PNG or JPEG"},
        },
    },
    "BatchRequest": {
        "type": "object",
        "required": ["batch_size"],
        "properties": {
            "batch_size": {"type": "integer", "minimum": 1},
            "noise": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
    "IdList": {
        "type": "object",
        "required": ["ids"],
        "properties": {"ids": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    },
}

NPZ = {
    "description": "An uncompressed .npz file: images (uint8 N,H,W,C; BGR), labels (int64 N), categories (str)",
    "headers": {"X-Dataset-Version": {"schema": {"type": "string"}}},
    "content": {"application/x-npz": {"schema": {"type": "string", "format": "binary"}}},
}


def paths() -> dict[str, dict]:
    """Every route of the service with its parameters and answers."""
    category_map = {"type": "object", "additionalProperties": {"type": "integer"}}
    return {
        "/health/plain": {"get": _op("Liveness: answers true", {"200": _json({"type": "boolean"})},
                                     secured=False, tags=["health"])},
        "/api/version": {"get": _op("The API version compatible clients must send",
                                    {"200": _json({"type": "object", "required": ["version"],
                                                   "properties": {"version": {"type": "string"}}})},
                                    secured=False, tags=["compatible"])},
        "/api/v1/health": {"get": _op("Service status", {"200": _json({"type": "object"})},
                                      secured=False, tags=["health"])},
        "/api/sensory/category": {"get": _op(
            "Category map of the configured data set (name to index)",
            {"200": _json({"type": "object", "required": ["category_map"],
                           "properties": {"category_map": category_map}}), **_errors(400, 401)},
            compat=True, tags=["compatible"])},
        "/api/sensory/store": {"post": _op(
            "Store one labelled image (original protocol)",
            {"200": _json({"type": "object", "properties": {"sensory_store": {"type": "boolean"}}}),
             **_errors(400, 401, 409, 413)},
            body={"type": "object", "required": ["name", "width", "height", "category", "data"],
                  "properties": {"name": {"type": "string"}, "width": {"type": "integer"},
                                 "height": {"type": "integer"}, "category": {"type": "string"},
                                 "data": {"type": "string", "format": "byte"}}},
            compat=True, tags=["compatible"])},
        "/api/sensory/request": {"post": _op(
            "A small training batch inline: one-hot labels and pixel lists (original protocol)",
            {"200": _json({"type": "object", "required": ["labels", "data"],
                           "properties": {"labels": {"type": "array"}, "data": {"type": "array"}}}),
             **_errors(400, 401)},
            body=_ref("BatchRequest"), compat=True, tags=["compatible"])},
        "/api/v1/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"})},
                                            secured=False, tags=["native"])},
        "/api/v1/datasets": {
            "get": _op("Data set ids and the default one",
                       {"200": _json({"type": "object", "required": ["default", "datasets"],
                                      "properties": {"default": {"type": "string"},
                                                     "datasets": {"type": "array", "items": {"type": "string"}}}}),
                        **_errors(401)}, tags=["native"]),
            "post": _op("Create a data set (or get it if it exists with the same channels)",
                        {"200": _json(_ref("DatasetInfo")), "201": _json(_ref("DatasetInfo"), "Created"),
                         **_errors(400, 401, 409)},
                        body={"type": "object", "required": ["name", "width", "height"],
                              "properties": {"name": {"type": "string"}, "width": {"type": "integer"},
                                             "height": {"type": "integer"},
                                             "channels": {"type": "integer", "enum": [1, 3]}}},
                        tags=["native"]),
        },
        "/api/v1/datasets/{ident}": {"get": _op(
            "Data set info: geometry, per-category counts, category map, content version",
            {"200": _json(_ref("DatasetInfo")), **_errors(400, 401, 404)}, params=[DATASET], tags=["native"])},
        "/api/v1/datasets/{ident}/categories": {"post": _op(
            "Add an (empty) category",
            {"200": _json({"type": "object"}, "Already there"), "201": _json({"type": "object"}, "Created"),
             **_errors(400, 401, 404)},
            body={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            params=[DATASET], tags=["native"])},
        "/api/v1/datasets/{ident}/categories/{name}": {"delete": _op(
            "Remove an empty category", {"200": _json({"type": "object"}), **_errors(400, 401, 404, 409)},
            params=[DATASET, CATEGORY], tags=["native"])},
        "/api/v1/datasets/{ident}/images": {
            "get": _op("List images (optionally of one category), oldest first",
                       {"200": _json({"type": "object", "required": ["total", "offset", "images"],
                                      "properties": {"total": {"type": "integer"}, "offset": {"type": "integer"},
                                                     "images": {"type": "array", "items": _ref("ImageRecord")}}}),
                        **_errors(400, 401, 404)},
                       params=[DATASET,
                               {"name": "category", "in": "query", "schema": {"type": "string"}},
                               {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                               {"name": "limit", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 10000}}],
                       tags=["native"]),
            "post": _op("Store many labelled images in one request (all or nothing)",
                        {"201": _json({"type": "object", "required": ["count", "stored"],
                                       "properties": {"count": {"type": "integer"},
                                                      "stored": {"type": "array", "items": {"type": "object"}}}},
                                      "Stored"),
                         **_errors(400, 401, 404, 409, 413)},
                        body={"type": "object", "required": ["images"],
                              "properties": {"images": {"type": "array", "items": _ref("ImageUpload"),
                                                        "minItems": 1, "maxItems": 10000}}},
                        params=[DATASET], tags=["native"]),
        },
        "/api/v1/datasets/{ident}/images/{image_id}": {
            "get": _op("One stored image as PNG",
                       {"200": {"description": "PNG", "content": {"image/png": {"schema": {"type": "string",
                                                                                         "format": "binary"}}}},
                        **_errors(400, 401, 404)},
                       params=[DATASET, IMAGE_ID], tags=["native"]),
            "delete": _op("Delete one image", {"200": _json({"type": "object"}), **_errors(400, 401, 404)},
                          params=[DATASET, IMAGE_ID], tags=["native"]),
        },
        "/api/v1/datasets/{ident}/images/delete": {"post": _op(
            "Delete several images (all or nothing)", {"200": _json({"type": "object"}), **_errors(400, 401, 404)},
            body=_ref("IdList"), params=[DATASET], tags=["native"])},
        "/api/v1/datasets/{ident}/images/relabel": {"post": _op(
            "Move several images to a category (all or nothing)",
            {"200": _json({"type": "object"}), **_errors(400, 401, 404)},
            body={"type": "object", "required": ["ids", "category"],
                  "properties": {"ids": {"type": "array", "items": {"type": "string"}}, "category": {"type": "string"}}},
            params=[DATASET], tags=["native"])},
        "/api/v1/datasets/{ident}/batch": {"post": _op(
            "A random training batch in binary form (npz, uint8), with the noise augmentation",
            {"200": NPZ, **_errors(400, 401, 404)},
            body={"type": "object", "required": ["batch_size"],
                  "properties": {"batch_size": {"type": "integer", "minimum": 1},
                                 "noise": {"type": "number", "minimum": 0, "maximum": 1},
                                 "seed": {"type": "integer", "minimum": 0}}},
            params=[DATASET], tags=["native"])},
        "/api/v1/datasets/{ident}/arrays": {"get": _op(
            "The whole data set in binary form (npz, uint8)", {"200": NPZ, **_errors(400, 401, 404)},
            params=[DATASET], tags=["native"])},
    }


def classify_paths() -> dict[str, dict]:
    """The classification routes (original and native)."""
    image_body = {"type": "object", "required": ["data"],
                  "properties": {"data": {"type": "string", "format": "byte", "description": "base64 PNG or JPEG"}}}
    model = {"type": "object", "required": ["loaded"], "properties": {
        "loaded": {"type": "boolean"}, "model_id": {"type": "string"},
        "categories": {"type": "array", "items": {"type": "string"}},
        "width": {"type": "integer"}, "height": {"type": "integer"}, "channels": {"type": "integer"},
        "path": {"type": "string"}}}
    return {
        "/api/classify": {"post": _op(
            "Classify one image (original protocol): the category index, -1 when no model is loaded",
            {"200": _json({"type": "object", "required": ["classification"],
                           "properties": {"classification": {"type": "integer", "minimum": -1}}}),
             **_errors(400, 401, 413)},
            body=image_body, compat=True, tags=["compatible"])},
        "/api/categories": {"get": _op(
            "Category map of the served model (index to name), or of the data set without a model",
            {"200": _json({"type": "object", "required": ["category_map"],
                           "properties": {"category_map": {"type": "object",
                                                           "additionalProperties": {"type": "string"}}}}),
             **_errors(400, 401)},
            compat=True, tags=["compatible"])},
        "/api/v1/classify": {"post": _op(
            "Classify one image: label, index, confidence, every class's probability, model id, time taken",
            {"200": _json({"type": "object", "required": ["label", "index", "confidence", "probabilities",
                                                          "model_id", "seconds"],
                           "properties": {"label": {"type": "string"}, "index": {"type": "integer"},
                                          "confidence": {"type": "number"},
                                          "probabilities": {"type": "object",
                                                            "additionalProperties": {"type": "number"}},
                                          "model_id": {"type": "string"}, "seconds": {"type": "number"}}}),
             **_errors(400, 401, 413, 503)},
            body=image_body, tags=["classification"])},
        "/api/v1/model": {
            "get": _op("The served model", {"200": _json(model), **_errors(401)}, tags=["classification"]),
            "post": _op("Load or switch the served model (a bundle folder in the weights folder); "
                        "the running model answers until the new one is ready",
                        {"200": _json(model), **_errors(400, 401, 404)},
                        body={"type": "object", "required": ["bundle"],
                              "properties": {"bundle": {"type": "string"}}},
                        tags=["classification"]),
        },
    }


def batch_order_paths() -> dict[str, dict]:
    """Batch orders: the original batch/poll routes and native orders (see dicebox.service.batch_routes)."""
    order_id = {"name": "order_id", "in": "path", "required": True, "description": "The order id (a UUID)",
                "schema": {"type": "string", "format": "uuid"}}
    order_body = {"type": "object", "required": ["batch_size"],
                  "properties": {"batch_size": {"type": "integer", "minimum": 1},
                                 "noise": {"type": "number", "minimum": 0, "maximum": 1},
                                 "seed": {"type": "integer", "minimum": 0}}}
    count = {"type": "integer", "minimum": 0}
    status = {
        "type": "object",
        "required": ["order_id", "dataset", "batch_size", "ready", "delivered", "shards_total", "shards_done",
                     "failed", "expired", "state"],
        "properties": {
            "order_id": {"type": "string"}, "dataset": {"type": "string"}, "batch_size": count,
            "ready": {**count, "description": "items that can be collected now"},
            "delivered": {**count, "description": "items handed out so far"},
            "shards_total": count, "shards_done": count, "failed": {"type": "boolean"},
            "expired": {"type": "boolean"},
            "state": {"type": "string", "enum": ["filling", "ready", "delivered", "failed", "expired"]},
            "error": {"type": "string"},
            "expires_in": {"type": "number", "description": "seconds until the order expires unless collected"},
            "links": {"type": "object"},
        },
    }
    items = {**NPZ, "description": (
        "Up to max items as an uncompressed .npz (images uint8 N,H,W,C; labels int64; categories). "
        "Zero items (still 200) when none is ready within wait. Asking with start=k acknowledges and "
        "frees the items before k, so a lost answer is fetched again with the same start."),
        "headers": {name: {"schema": {"type": kind}} for name, kind in (
            ("X-Dataset-Version", "string"), ("X-Order-State", "string"), ("X-Order-Delivered", "integer"),
            ("X-Order-Ready", "integer"), ("X-Order-Batch-Size", "integer"))}}
    return {
        "/api/sensory/batch": {"post": _op(
            "Place a batch order on the configured data set (original protocol); poll its items one by one",
            {"200": _json({"type": "object", "required": ["batch_id"],
                           "properties": {"batch_id": {"type": "string"}}}), **_errors(400, 401, 404, 503)},
            body=_ref("BatchRequest"), compat=True, tags=["compatible"])},
        "/api/sensory/poll": {"post": _op(
            "One item of a batch order (one-hot label, pixel lists), or empty lists when none is ready yet",
            {"200": _json({"type": "object", "required": ["label", "data"],
                           "properties": {"label": {"type": "array"}, "data": {"type": "array"}}}),
             **_errors(400, 401, 404, 409, 410)},
            body={"type": "object", "required": ["batch_id"], "properties": {"batch_id": {"type": "string"}}},
            compat=True, tags=["compatible"])},
        "/api/v1/datasets/{ident}/orders": {"post": _op(
            "Place a batch order: batch_size distinct images, filled in shards in the background",
            {"202": _json(status, "Accepted; the Location header names the order"),
             **_errors(400, 401, 404, 503)},
            body=order_body, params=[DATASET], tags=["batch orders"])},
        "/api/v1/orders/{order_id}": {
            "get": _op("Where an order stands",
                       {"200": _json(status), **_errors(400, 401, 404)}, params=[order_id], tags=["batch orders"]),
            "delete": _op("Cancel an order and free its items",
                          {"200": _json({"type": "object", "required": ["order_id", "cancelled"],
                                         "properties": {"order_id": {"type": "string"},
                                                        "cancelled": {"type": "boolean"}}}),
                           **_errors(400, 401, 404)},
                          params=[order_id], tags=["batch orders"]),
        },
        "/api/v1/orders/{order_id}/items": {"post": _op(
            "Collect many items of an order in binary form",
            {"200": items, **_errors(400, 401, 404, 409, 410)},
            params=[order_id,
                    {"name": "max", "in": "query", "description": "at most this many items (default 10000)",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
                    {"name": "start", "in": "query",
                     "description": "position of the first item wanted (default: after those handed out)",
                     "schema": {"type": "integer", "minimum": 0}},
                    {"name": "wait", "in": "query", "description": "seconds to wait for items (default 0)",
                     "schema": {"type": "number", "minimum": 0, "maximum": 10}}],
            tags=["batch orders"])},
    }


EXTRA_PATHS: list = [classify_paths, batch_order_paths]


def document(api_version: str) -> dict:
    """The OpenAPI document for a service answering ``api_version`` on the original routes."""
    all_paths = paths()
    for extra in EXTRA_PATHS:
        all_paths.update(extra())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "dicebox sensory service",
            "version": dicebox.__version__,
            "description": (
                "Stores labelled images and serves training data. Routes under /api/v1 are the native "
                "API; the others answer the original 2017 dicebox protocol unchanged. Every /api route "
                "but the public ones needs the API-ACCESS-KEY header (401 when missing or wrong); the "
                f"original routes also need API-VERSION: {api_version} (400 otherwise)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}],
        "paths": all_paths,
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "API-ACCESS-KEY"}},
            "parameters": {
                "ApiVersion": {"name": "API-VERSION", "in": "header", "required": True,
                               "schema": {"type": "string", "enum": [api_version]}},
            },
            "schemas": SCHEMAS,
        },
    }


@openapi.get("/api/v1/openapi.json")
def serve_document():
    return jsonify(document(current_app.config["DICEBOX"].server.api_version))
