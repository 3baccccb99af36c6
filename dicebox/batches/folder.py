"""Orders kept in a folder every replica of the service shares, so any replica answers any order.

One folder per order under ``<datasets>/.orders``: ``plan.json`` (what was asked, written once),
``state.json`` (shards arrived, items handed out and acknowledged, error, last use), one
``shard-<i>-images.npy`` / ``-labels.npy`` pair per filled shard, and ``claim-<i>`` leases of the
replicas filling shards. Every change to an order's state happens under a POSIX lock on its
``lock`` file (``fcntl.lockf``: it works across processes, and across machines on NFSv4/EFS), and
is written crash-safe (temp file, fsync, rename), so a replica killed at any point leaves the old
state or the new one. A shard counts once, however often it is filled; a collect from position
``k`` frees everything before ``k``: the same contract as :class:`dicebox.batches.book.OrderBook`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from dicebox.batches.book import _mismatch, _relabel
from dicebox.batches.orders import (
    MAX_TAKE_BYTES,
    InvalidOrder,
    ItemsReleased,
    OrderExpired,
    OrderFailed,
    OrderNotFound,
    OrderPlan,
    OrderStatus,
    ShardOrder,
    parse_order_id,
)
from dicebox.images import LabelledImages
from dicebox.plumbing.durable import TEMP_PREFIX, create_exclusive, fsync_dir, write_atomic

try:
    import fcntl
except ImportError:  # Windows: one process per data folder, the in-process lock is enough
    fcntl = None

log = logging.getLogger(__name__)

ORDERS_FOLDER = ".orders"
# A claim on a shard not refreshed for this long belongs to a replica that died: another one fills it.
LEASE_SECONDS = 10.0
_POLL = 0.05


class FolderOrderBook:
    """The :class:`~dicebox.batches.book.OrderBook` contract, kept in a shared folder."""

    def __init__(
        self,
        root: Path,
        expiry_seconds: float,
        *,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.expiry_seconds = expiry_seconds
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._lock = threading.RLock()  # POSIX locks do not exclude threads of one process
        self._plans: dict[str, OrderPlan] = {}
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    # Orders -----------------------------------------------------------------------------------
    def add(self, plan: OrderPlan, *, claim: bool = False, selection: Sequence[str] | None = None) -> None:
        """Write the order durably: with ``claim``, this replica's claims on every shard; with
        ``selection``, the ids of the order's images (whoever fills a shard uses exactly those)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{TEMP_PREFIX}{plan.order_id}"
        staging.mkdir()
        write_atomic(staging / "plan.json", json.dumps(_plan_json(plan)).encode(), sync_dir=False)
        if selection is not None:
            write_atomic(staging / "selection.json", json.dumps(list(selection)).encode(), sync_dir=False)
        state = {"arrived": [], "handed": 0, "released": 0, "error": "", "expired": False, "last_access": self._clock()}
        write_atomic(staging / "state.json", json.dumps(state).encode(), sync_dir=False)
        (staging / "lock").touch()
        if claim:
            for shard in plan.shards:
                (staging / f"claim-{shard.index}").write_text(self.owner)
        fsync_dir(staging)
        os.replace(staging, self.root / plan.order_id)
        fsync_dir(self.root)
        with self._lock:
            self._plans[plan.order_id] = plan

    def remove(self, order_id: str) -> None:
        """Forget an order and its items; OrderNotFound if unknown."""
        folder = self._folder(order_id)
        trash = self.root / f"{TEMP_PREFIX}gone-{uuid.uuid4().hex}"
        try:
            os.replace(folder, trash)
        except FileNotFoundError:
            raise OrderNotFound(f"order {order_id} does not exist") from None
        shutil.rmtree(trash, ignore_errors=True)
        with self._lock:
            self._plans.pop(order_id, None)

    def accepting(self, order_id: str) -> bool:
        """True while the order still waits for shard results."""
        try:
            with self._locked(order_id) as state:
                plan = self._plan(order_id)
                return _accepting(plan, state)
        except OrderNotFound:
            return False

    def open_orders(self) -> list[OrderPlan]:
        """Orders still waiting for shard results."""
        found = []
        for order_id in self._ids():
            with contextlib.suppress(OrderNotFound, OSError, ValueError):
                state = self._read_state(self._folder(order_id))
                plan = self._plan(order_id)
                if _accepting(plan, state):
                    found.append(plan)
        return found

    def __len__(self) -> int:
        count = 0
        for order_id in self._ids():
            with contextlib.suppress(OrderNotFound, OSError, ValueError):
                count += not self._read_state(self._folder(order_id))["expired"]
        return count

    # Filling ----------------------------------------------------------------------------------
    def claim(self, order_id: str, shard_index: int) -> bool:
        """Take the lease on a shard: True when this replica should fill it now."""
        path = self._folder(order_id) / f"claim-{shard_index}"
        try:
            if create_exclusive(path, self.owner.encode()):
                return True
            if path.read_text() == self.owner:
                os.utime(path)
                return True
            if self._clock() - path.stat().st_mtime < self.lease_seconds:
                return False
            # The claimant stopped refreshing its lease: take over (a race here only fills twice).
            write_atomic(path, self.owner.encode(), sync=False)
            return True
        except FileNotFoundError:
            return False  # the order is gone

    def release(self, order_id: str, shard_index: int) -> None:
        """Give up a claim not filled (the replica is stopping): another replica takes it at once."""
        path = self._folder(order_id) / f"claim-{shard_index}"
        with contextlib.suppress(OSError):
            if path.read_text() == self.owner:
                path.unlink()

    def selection(self, order_id: str) -> list[str] | None:
        """The ids of the order's images, if its placer recorded them."""
        try:
            return json.loads((self._folder(order_id) / "selection.json").read_text())
        except FileNotFoundError:
            return None

    def orphans(self) -> list[ShardOrder]:
        """Shards of open orders that nobody fills: unclaimed, or their claim's lease ran out."""
        now = self._clock()
        found = []
        for plan in self.open_orders():
            folder = self._folder(plan.order_id)
            try:
                done = {entry[0] for entry in self._read_state(folder)["arrived"]}
            except (OSError, ValueError):
                continue
            for shard in plan.shards:
                if shard.index in done:
                    continue
                try:
                    stale = now - (folder / f"claim-{shard.index}").stat().st_mtime >= self.lease_seconds
                except FileNotFoundError:
                    stale = True
                if stale:
                    found.append(shard)
        return found

    def deliver(self, order_id: str, shard_index: int, items: LabelledImages) -> bool:
        """Add one shard's items. False (and nothing changes) for an unknown order or a repeat."""
        try:
            plan = self._plan(order_id)
        except OrderNotFound:
            return False
        if not 0 <= shard_index < len(plan.shards):
            return False
        problem = _mismatch(plan, shard_index, items)
        labels = None if problem else _relabel(items, plan.categories)
        if not problem and labels is None:
            problem = f"shard {shard_index} has categories {list(items.categories)}, the order {list(plan.categories)}"
        folder = self._folder(order_id)
        try:
            with self._locked(order_id) as state:
                if state["error"] or state["expired"] or shard_index in {e[0] for e in state["arrived"]}:
                    return False
                if problem:
                    state["error"] = problem
                    self._clear(folder, state)
                    self._write_state(folder, state)
                    return False
                write_atomic(folder / f"shard-{shard_index}-images.npy", _npy(items.images), sync_dir=False)
                write_atomic(folder / f"shard-{shard_index}-labels.npy", _npy(labels), sync_dir=False)
                fsync_dir(folder)
                received = sum(e[2] for e in state["arrived"])
                state["arrived"].append([shard_index, received, len(items)])
                self._write_state(folder, state)  # the commit point: the shard now counts
                return True
        except OrderNotFound:
            return False

    def fail(self, order_id: str, shard_index: int, message: str) -> bool:
        """A shard could not be filled: the order fails with ``message``."""
        try:
            with self._locked(order_id) as state:
                if state["error"] or state["expired"] or shard_index in {e[0] for e in state["arrived"]}:
                    return False
                state["error"] = f"shard {shard_index}: {message}"
                folder = self._folder(order_id)
                self._clear(folder, state)
                self._write_state(folder, state)
                return True
        except OrderNotFound:
            return False

    # Clients ----------------------------------------------------------------------------------
    def status(self, order_id: str) -> OrderStatus:
        with self._locked(order_id) as state:
            if not state["expired"]:
                state["last_access"] = self._clock()
                self._write_state(self._folder(order_id), state, sync=False)
            return self._status(self._plan(order_id), state)

    def take(self, order_id: str, max_items: int, start: int | None = None, wait: float = 0.0) -> LabelledImages:
        """See :meth:`dicebox.batches.orders.BatchOrders.take`."""
        if max_items < 1:
            raise InvalidOrder("max must be at least 1")
        deadline = time.monotonic() + max(0.0, wait)
        plan = self._plan(order_id)
        item_bytes = max(1, int(np.prod(plan.item_shape)))
        while True:
            with self._locked(order_id) as state:
                self._check_usable(order_id, state)
                position = state["handed"] if start is None else start
                if position < state["released"]:
                    raise ItemsReleased(
                        f"items before {state['released']} were acknowledged and freed; cannot start at {position}"
                    )
                if position > state["handed"]:
                    raise InvalidOrder(f"start {position} is past the {state['handed']} items handed out")
                wanted = min(max_items, max(1, MAX_TAKE_BYTES // item_bytes), plan.batch_size - position)
                received = sum(e[2] for e in state["arrived"])
                complete = len(state["arrived"]) == len(plan.shards)
                if received - position >= wanted or complete or time.monotonic() >= deadline:
                    folder = self._folder(order_id)
                    self._release(folder, state, position)
                    items = self._slice(folder, plan, state, position, min(wanted, received - position))
                    state["handed"] = max(state["handed"], position + len(items))
                    state["last_access"] = self._clock()
                    self._write_state(folder, state)  # before answering: an item is never handed out twice
                    return items
            time.sleep(_POLL)

    # Expiry -----------------------------------------------------------------------------------
    def expire(self) -> list[str]:
        """Drop the items of orders nobody touched for ``expiry_seconds``; returns their ids.

        Expired orders are remembered (without items) for another ``expiry_seconds`` so their
        status says "expired", not 404. Folders of placements that died half-way are removed.
        """
        now = self._clock()
        expired = []
        for order_id in self._ids():
            try:
                with self._locked(order_id) as state:
                    idle = now - state["last_access"]
                    if state["expired"]:
                        if idle > 2 * self.expiry_seconds:
                            self.remove(order_id)
                    elif idle > self.expiry_seconds:
                        state["expired"] = True
                        self._clear(self._folder(order_id), state)
                        self._write_state(self._folder(order_id), state)
                        expired.append(order_id)
            except (OrderNotFound, OSError, ValueError) as exc:
                log.debug("order %s skipped while expiring: %s", order_id, exc)
        self._remove_leftovers(now)
        return expired

    # Internals --------------------------------------------------------------------------------
    def _ids(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith(TEMP_PREFIX)]
        except FileNotFoundError:
            return []

    def _remove_leftovers(self, now: float) -> None:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.root):
                if entry.name.startswith(TEMP_PREFIX) and now - entry.stat().st_mtime > self.lease_seconds * 6:
                    shutil.rmtree(entry.path, ignore_errors=True)

    def _folder(self, order_id: str) -> Path:
        return self.root / parse_order_id(order_id)

    def _plan(self, order_id: str) -> OrderPlan:
        with self._lock:
            plan = self._plans.get(order_id)
        if plan is None:
            try:
                plan = _plan_from_json(json.loads((self._folder(order_id) / "plan.json").read_text()))
            except FileNotFoundError:
                raise OrderNotFound(f"order {order_id} does not exist") from None
            with self._lock:
                self._plans[order_id] = plan
        return plan

    @contextlib.contextmanager
    def _locked(self, order_id: str) -> Iterator[dict]:
        """The order's state under its lock (this process's threads and other processes wait)."""
        folder = self._folder(order_id)
        with self._lock:
            try:
                fd = os.open(folder / "lock", os.O_RDWR)
            except FileNotFoundError:
                raise OrderNotFound(f"order {order_id} does not exist") from None
            try:
                if fcntl is not None:
                    fcntl.lockf(fd, fcntl.LOCK_EX)
                if not (folder / "lock").exists():  # removed while we waited for the lock
                    raise OrderNotFound(f"order {order_id} does not exist")
                yield self._read_state(folder)
            finally:
                os.close(fd)  # releases the lock

    @staticmethod
    def _read_state(folder: Path) -> dict:
        try:
            return json.loads((folder / "state.json").read_text())
        except FileNotFoundError:
            raise OrderNotFound(f"order {folder.name} does not exist") from None

    @staticmethod
    def _write_state(folder: Path, state: dict, *, sync: bool = True) -> None:
        write_atomic(folder / "state.json", json.dumps(state).encode(), sync=sync)

    def _check_usable(self, order_id: str, state: dict) -> None:
        if state["expired"]:
            raise OrderExpired(
                f"order {order_id} expired: it was not collected for "
                f"{self.expiry_seconds:g} s and its items were dropped"
            )
        if state["error"]:
            raise OrderFailed(f"order {order_id} failed: {state['error']}")

    @staticmethod
    def _clear(folder: Path, state: dict) -> None:
        for index, _first, _count in state["arrived"]:
            _drop_shard(folder, index)

    @staticmethod
    def _release(folder: Path, state: dict, position: int) -> None:
        for index, first, count in state["arrived"]:
            if first + count <= position and first + count > state["released"]:
                _drop_shard(folder, index)
        state["released"] = position

    @staticmethod
    def _slice(folder: Path, plan: OrderPlan, state: dict, position: int, count: int) -> LabelledImages:
        if count <= 0:
            return plan.empty()
        images, labels = [], []
        end = position + count
        for index, first, size in state["arrived"]:
            lo, hi = max(position, first), min(end, first + size)
            if lo < hi:
                images.append(
                    np.array(np.load(folder / f"shard-{index}-images.npy", mmap_mode="r")[lo - first : hi - first])
                )
                labels.append(np.load(folder / f"shard-{index}-labels.npy")[lo - first : hi - first])
        return LabelledImages(
            np.concatenate(images), np.concatenate(labels).astype(np.int64), plan.categories, plan.version
        )

    def _status(self, plan: OrderPlan, state: dict) -> OrderStatus:
        received = sum(e[2] for e in state["arrived"])
        complete = len(state["arrived"]) == len(plan.shards)
        if state["expired"]:
            current = "expired"
        elif state["error"]:
            current = "failed"
        elif state["handed"] >= plan.batch_size:
            current = "delivered"
        else:
            current = "ready" if complete else "filling"
        left = 0.0 if state["expired"] else max(0.0, self.expiry_seconds - (self._clock() - state["last_access"]))
        return OrderStatus(
            order_id=plan.order_id,
            dataset=plan.dataset,
            batch_size=plan.batch_size,
            ready=0 if state["expired"] or state["error"] else received - state["handed"],
            delivered=state["handed"],
            shards_total=len(plan.shards),
            shards_done=len(state["arrived"]),
            failed=bool(state["error"]),
            expired=state["expired"],
            state=current,
            error=state["error"],
            expires_in=round(left, 3),
        )


def _accepting(plan: OrderPlan, state: dict) -> bool:
    return not state["error"] and not state["expired"] and len(state["arrived"]) < len(plan.shards)


def _drop_shard(folder: Path, index: int) -> None:
    for part in ("images", "labels"):
        (folder / f"shard-{index}-{part}.npy").unlink(missing_ok=True)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _plan_json(plan: OrderPlan) -> dict:
    data = asdict(plan)
    data["shards"] = [shard.to_dict() for shard in plan.shards]
    return data


def _plan_from_json(data: dict) -> OrderPlan:
    return OrderPlan(
        order_id=data["order_id"],
        dataset=data["dataset"],
        batch_size=data["batch_size"],
        noise=data["noise"],
        seed=data["seed"],
        version=data["version"],
        categories=tuple(data["categories"]),
        item_shape=tuple(data["item_shape"]),
        shards=tuple(ShardOrder.from_dict(s) for s in data["shards"]),
        created=data["created"],
    )
