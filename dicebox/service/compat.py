"""The original 2017 sensory routes, answered exactly as its clients expect."""

from __future__ import annotations

import numpy as np
from flask import Blueprint, jsonify

from dicebox.service.context import context
from dicebox.service.validation import base64_field, fraction_field, int_field, json_body, string_field
from dicebox.store.names import MAX_SIDE, dataset_id

compat = Blueprint("compat", __name__)


@compat.get("/api/sensory/category")
def category():
    return jsonify({"category_map": context().default_dataset().category_map()})


@compat.post("/api/sensory/store")
def store():
    body = json_body()
    ctx = context()
    name = string_field(body, "name")
    width = int_field(body, "width", maximum=MAX_SIDE)
    height = int_field(body, "height", maximum=MAX_SIDE)
    category_name = string_field(body, "category")
    data = base64_field(body, "data")
    # A new data set is created only by a store it accepts: bad input creates nothing.
    ctx.store.store_many(dataset_id(name, width, height), [(data, category_name)])
    return jsonify({"sensory_store": True})


@compat.post("/api/sensory/request")
def request_batch():
    body = json_body()
    ctx = context()
    batch_size = int_field(body, "batch_size", maximum=ctx.config.server.max_inline_batch)
    noise = fraction_field(body, "noise", default=ctx.config.global_.noise)
    batch = ctx.default_dataset().sample(batch_size, noise)
    return jsonify({"labels": one_hot(batch.labels, len(batch.categories)), "data": batch.images.tolist()})


def one_hot(labels: np.ndarray, n_classes: int) -> list[list[int]]:
    """Labels as the original sent them: one list of 0/1 per image, over the category map."""
    return np.eye(n_classes, dtype=np.int64)[labels].tolist()
