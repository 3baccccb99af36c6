"""Wire formats: a shard order is a small JSON message, a shard result one binary ``.npz`` message.

A result carries its order id and shard index inside the payload, so the collector can drop a
repeat without trusting message headers, and all of a shard's items travel as one message
(never one message per image).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np

from dicebox.batches.orders import InvalidOrder, ShardOrder
from dicebox.images import LabelledImages, npz_bytes, read_npz


@dataclass(frozen=True)
class ShardResult:
    """A filled shard (``items``) or a shard that could not be filled (``error``)."""

    order_id: str
    index: int
    items: LabelledImages | None = None
    error: str = ""


def encode_order(shard: ShardOrder) -> bytes:
    return json.dumps(shard.to_dict(), separators=(",", ":")).encode()


def decode_order(body: bytes) -> ShardOrder:
    """The shard a message asks for; InvalidOrder when the message is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidOrder(f"shard message is not JSON: {exc}") from None
    return ShardOrder.from_dict(data)


def encode_result(shard: ShardOrder, items: LabelledImages) -> bytes:
    return npz_bytes(items, order_id=np.array(shard.order_id), shard=np.array(shard.index, np.int64))


def encode_failure(shard: ShardOrder, message: str) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, order_id=np.array(shard.order_id), shard=np.array(shard.index, np.int64),
             error=np.array(message[:2000] or "unknown error"))
    return buffer.getvalue()


def decode_result(body: bytes) -> ShardResult:
    """Parse a result message; InvalidOrder when it is damaged or not one of ours."""
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as npz:
            order_id, index = str(npz["order_id"]), int(npz["shard"])
            if "error" in npz.files:
                return ShardResult(order_id, index, error=str(npz["error"]))
        items = read_npz(body)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidOrder(f"damaged shard result: {exc}") from None
    return ShardResult(order_id, index, items)
