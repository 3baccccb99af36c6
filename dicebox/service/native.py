"""The native API under ``/api/v1``: many images per request, binary batches, editing."""

from __future__ import annotations

import io

import numpy as np
from flask import Blueprint, Response, jsonify, request, send_file
from werkzeug.routing import BaseConverter

from dicebox.images import LabelledImages, write_npz
from dicebox.service.context import context
from dicebox.service.errors import ApiError
from dicebox.service.validation import (
    bad_request,
    base64_field,
    fraction_field,
    id_list,
    int_field,
    json_body,
    query_int,
    string_field,
)
from dicebox.store import Dataset, validate_category
from dicebox.store.names import MAX_SIDE, dataset_id


class ImageIdConverter(BaseConverter):
    """An image id in a path: 32 lowercase hex digits, so that ``images/delete`` is never an image."""

    regex = "[0-9a-f]{32}"


native = Blueprint("native", __name__, url_prefix="/api/v1")
native.record_once(lambda state: state.app.url_map.converters.setdefault("image_id", ImageIdConverter))

MAX_IMAGES_PER_REQUEST = 10_000
NPZ_MIMETYPE = "application/x-npz"


def _dataset(ident: str) -> Dataset:
    return context().store.dataset(ident, create=False)


def dataset_info(dataset: Dataset) -> dict:
    counts = dataset.counts()
    geometry = dataset.geometry
    return {
        "id": dataset.id,
        "width": geometry.width,
        "height": geometry.height,
        "channels": geometry.channels,
        "count": sum(counts.values()),
        "version": dataset.version(),
        "category_map": {name: i for i, name in enumerate(counts)},
        "categories": [{"name": name, "index": i, "count": n} for i, (name, n) in enumerate(counts.items())],
    }


@native.get("/datasets")
def list_datasets():
    ctx = context()
    ctx.default_dataset()
    return jsonify({"default": ctx.config.dataset_id, "datasets": ctx.store.dataset_ids()})


@native.post("/datasets")
def create_dataset():
    body = json_body()
    ctx = context()
    ident = dataset_id(
        string_field(body, "name"),
        int_field(body, "width", maximum=MAX_SIDE),
        int_field(body, "height", maximum=MAX_SIDE),
    )
    channels = body.get("channels", ctx.config.dataset.channels)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise bad_request("field 'channels' must be 1 (grayscale) or 3 (colour)", "invalid_field")
    existed = ident in ctx.store.dataset_ids()
    if existed:
        dataset = ctx.store.dataset(ident)
        if dataset.geometry.channels != channels:
            raise ApiError(409, "conflict", f"data set {ident!r} exists with {dataset.geometry.channels} channel(s)")
    else:
        dataset = ctx.store.dataset(ident, channels=channels)
    return jsonify(dataset_info(dataset)), (200 if existed else 201)


@native.get("/datasets/<ident>")
def get_dataset(ident: str):
    return jsonify(dataset_info(_dataset(ident)))


@native.post("/datasets/<ident>/categories")
def add_category(ident: str):
    body = json_body()
    name = validate_category(body.get("name"))
    created = _dataset(ident).add_category(name)
    return jsonify({"name": name, "created": created}), (201 if created else 200)


@native.delete("/datasets/<ident>/categories/<name>")
def delete_category(ident: str, name: str):
    _dataset(ident).delete_category(name)
    return jsonify({"deleted": name})


@native.post("/datasets/<ident>/images")
def store_images(ident: str):
    body = json_body()
    items = body.get("images")
    if not isinstance(items, list) or not items:
        raise bad_request("field 'images' must be a non-empty list of {category, data}", "invalid_field")
    if len(items) > MAX_IMAGES_PER_REQUEST:
        raise bad_request(f"at most {MAX_IMAGES_PER_REQUEST} images per request", "invalid_field")
    decoded = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(f"images[{position}] must be an object with 'category' and 'data'", "invalid_field")
        try:
            decoded.append((base64_field(item, "data"), string_field(item, "category")))
        except ApiError as exc:
            raise ApiError(exc.status, exc.code, f"images[{position}]: {exc.message}") from None
    stored = _dataset(ident).store_many(decoded)
    return jsonify(
        {
            "count": len(stored),
            "stored": [{"id": s.id, "category": s.category, "duplicate": s.duplicate} for s in stored],
        }
    ), 201


@native.get("/datasets/<ident>/images")
def list_images(ident: str):
    dataset = _dataset(ident)
    category = request.args.get("category")
    offset = query_int("offset", 0)
    limit = query_int("limit", 100, minimum=1, maximum=10_000)
    records = dataset.list_images(category, offset, limit)
    counts = dataset.counts()
    total = counts.get(category, 0) if category is not None else sum(counts.values())
    return jsonify(
        {
            "total": total,
            "offset": offset,
            "images": [{"id": r.id, "category": r.category, "created": r.created, "size": r.size} for r in records],
        }
    )


@native.get("/datasets/<ident>/images/<image_id:image_id>")
def get_image(ident: str, image_id: str):
    try:
        data = _dataset(ident).image_png(image_id)
    except FileNotFoundError:
        raise ApiError(404, "not_found", f"image {image_id!r} was just removed") from None
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@native.delete("/datasets/<ident>/images/<image_id:image_id>")
def delete_image(ident: str, image_id: str):
    return jsonify({"deleted": _dataset(ident).delete([image_id])})


@native.post("/datasets/<ident>/images/delete")
def delete_images(ident: str):
    body = json_body()
    return jsonify({"deleted": _dataset(ident).delete(id_list(body))})


@native.post("/datasets/<ident>/images/relabel")
def relabel_images(ident: str):
    body = json_body()
    ids = id_list(body)
    category = validate_category(body.get("category"))
    return jsonify({"relabelled": _dataset(ident).relabel(ids, category), "category": category})


@native.post("/datasets/<ident>/batch")
def sample_batch(ident: str):
    body = json_body()
    dataset = _dataset(ident)
    batch_size = int_field(body, "batch_size", maximum=context().config.server.max_inline_batch)
    noise = fraction_field(body, "noise", default=context().config.global_.noise)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise bad_request("field 'seed' must be a non-negative whole number", "invalid_field")
    return npz_response(dataset.sample(batch_size, noise, np.random.default_rng(seed)))


@native.get("/datasets/<ident>/arrays")
def all_arrays(ident: str):
    return npz_response(_dataset(ident).arrays())


def npz_response(data: LabelledImages) -> Response:
    """Images (uint8 N,H,W,C), labels, categories and, when known, ``stored_at`` (when each image was
    stored, seconds since the epoch) as one uncompressed ``.npz`` file."""
    buffer = io.BytesIO()
    write_npz(buffer, data)
    buffer.seek(0)
    response = send_file(buffer, mimetype=NPZ_MIMETYPE, download_name="batch.npz")
    response.headers["X-Dataset-Version"] = data.version
    return response
