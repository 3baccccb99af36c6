"""Batch orders over HTTP: the original ``/api/sensory/batch`` and ``poll``, and native ``/api/v1`` orders.

The backend (embedded or RabbitMQ) is :attr:`ServiceContext.batches`; these routes only read
requests, call it, and shape its answers.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from dicebox.batches import (
    BatchOrders,
    BrokerUnavailable,
    InvalidOrder,
    ItemsReleased,
    OrderError,
    OrderExpired,
    OrderFailed,
)
from dicebox.batches.orders import parse_order_id
from dicebox.service.compat import one_hot
from dicebox.service.context import context
from dicebox.service.errors import ApiError, ServiceUnavailable, error_response
from dicebox.service.native import npz_response
from dicebox.service.validation import (
    bad_request,
    fraction_field,
    int_field,
    json_body,
    query_int,
    query_number,
    string_field,
)

batch_routes = Blueprint("batches", __name__)

DEFAULT_COLLECT = 10_000
MAX_COLLECT = 100_000
MAX_WAIT_SECONDS = 10.0

ORDER_ERRORS: list[tuple[type[OrderError], int, str]] = [
    (BrokerUnavailable, 503, "unavailable"),
    (OrderExpired, 410, "expired"),
    (OrderFailed, 409, "order_failed"),
    (ItemsReleased, 409, "items_released"),
    (InvalidOrder, 400, "invalid_field"),
]


@batch_routes.errorhandler(OrderError)
def _order_error(exc: OrderError):
    for cls, status, code in ORDER_ERRORS:
        if isinstance(exc, cls):
            return error_response(status, code, str(exc))
    return error_response(400, "bad_request", str(exc))


def _orders() -> BatchOrders:
    orders = context().batches
    if orders is None:
        raise ServiceUnavailable("batch orders are not enabled on this service")
    return orders


def _order_id(value: object) -> str:
    try:
        return parse_order_id(str(value))
    except InvalidOrder as exc:
        raise bad_request(str(exc), "invalid_order_id") from None


def _place(ident: str, body: dict) -> str:
    ctx = context()
    ctx.store.dataset(ident, create=False)  # unknown data set: 404 before looking at the body
    batch_size = int_field(body, "batch_size")
    noise = fraction_field(body, "noise", default=ctx.config.global_.noise)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise bad_request("field 'seed' must be a whole number from 0 to 2**63-1", "invalid_field")
    return _orders().place(ident, batch_size, noise, seed)


# The original protocol ----------------------------------------------------------------------------
@batch_routes.post("/api/sensory/batch")
def compat_batch():
    order_id = _place(context().config.dataset_id, json_body())
    return jsonify({"batch_id": order_id})


@batch_routes.post("/api/sensory/poll")
def compat_poll():
    order_id = _order_id(string_field(json_body(), "batch_id"))
    items = _orders().take(order_id, 1)
    if not len(items):
        return jsonify({"label": [], "data": []})
    return jsonify({"label": one_hot(items.labels, len(items.categories))[0], "data": items.images[0].tolist()})


# The native API ------------------------------------------------------------------------------------
@batch_routes.post("/api/v1/datasets/<ident>/orders")
def place_order(ident: str):
    order_id = _place(ident, json_body())
    answer = _orders().status(order_id).to_dict()
    answer["links"] = {"status": f"/api/v1/orders/{order_id}", "items": f"/api/v1/orders/{order_id}/items"}
    response = jsonify(answer)
    response.status_code = 202
    response.headers["Location"] = answer["links"]["status"]
    return response


@batch_routes.get("/api/v1/orders/<order_id>")
def order_status(order_id: str):
    return jsonify(_orders().status(_order_id(order_id)).to_dict())


@batch_routes.post("/api/v1/orders/<order_id>/items")
def collect_items(order_id: str):
    order_id = _order_id(order_id)
    max_items = query_int("max", DEFAULT_COLLECT, minimum=1, maximum=MAX_COLLECT)
    start = query_int("start", 0, minimum=0) if "start" in request.args else None
    wait = query_number("wait", 0.0, minimum=0.0, maximum=MAX_WAIT_SECONDS)
    orders = _orders()
    try:
        items = orders.take(order_id, max_items, start, wait)
    except InvalidOrder as exc:  # max and start are well formed: start is past the items handed out so far
        raise ApiError(409, "not_handed_out", str(exc)) from None
    status = orders.status(order_id)
    response = npz_response(items)
    response.headers["X-Order-State"] = status.state
    response.headers["X-Order-Delivered"] = str(status.delivered)
    response.headers["X-Order-Ready"] = str(status.ready)
    response.headers["X-Order-Batch-Size"] = str(status.batch_size)
    return response


@batch_routes.delete("/api/v1/orders/<order_id>")
def cancel_order(order_id: str):
    order_id = _order_id(order_id)
    _orders().cancel(order_id)
    return jsonify({"order_id": order_id, "cancelled": True})
