"""Reviewing a data set through the service: relabel, delete, rename or remove categories, and undo.

Qt-free: the GUI's data set panel runs these calls off the UI thread and renders what they
return. Every change returns a :class:`Change` saying what was done, and remembers how to take
it back: :meth:`DatasetReview.undo` reverses the last change. Undoing a deletion stores the
deleted images again, so their PNGs are fetched *before* they are deleted; the service identifies
an image by its pixels, so a restored image comes back under its old id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from dicebox.client.http import SensoryClient

CHUNK = 500  # ids or images per request: progress to show, and requests far below the size limits
LISTING_PAGE = 10_000

Progress = Callable[[int, int], None]  # done, total


class NothingToUndo(Exception):
    """Undo with no change to take back."""


@dataclass(frozen=True)
class Change:
    """What one review action did, in words the operator reads, and the counts behind them."""

    message: str
    images: int = 0
    categories: tuple[str, ...] = ()


@dataclass
class _Undo:
    description: str
    steps: Callable[[Progress | None], Change]


@dataclass
class DatasetReview:
    """The review actions on one data set of one service; thread-safe (one action at a time)."""

    client: SensoryClient
    dataset_id: str
    _last: _Undo | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def undo_description(self) -> str:
        """What undo would take back ("" when there is nothing)."""
        last = self._last
        return last.description if last is not None else ""

    def category_ids(self, category: str) -> list[str]:
        """Every image id of ``category``."""
        ids: list[str] = []
        while True:
            page = self.client.list_images(self.dataset_id, category=category, offset=len(ids), limit=LISTING_PAGE)
            ids += [record["id"] for record in page["images"]]
            if not page["images"] or len(ids) >= page["total"]:
                return ids

    # Images ---------------------------------------------------------------------------------
    def relabel(self, ids: list[str], source: str, target: str, progress: Progress | None = None) -> Change:
        """Move images of category ``source`` to ``target``; undo moves them back."""
        with self._lock:
            moved = self._relabel(ids, target, progress)
            self._last = _Undo(
                f"move {_images(len(ids))} back to {source}",
                lambda p: Change(f"Moved {_images(self._relabel(ids, source, p))} back to {source}", len(ids)),
            )
            return Change(f"Moved {_images(moved)} from {source} to {target}", moved, (source, target))

    def delete(self, ids: list[str], category: str, progress: Progress | None = None) -> Change:
        """Delete images of ``category``; undo stores them again."""
        with self._lock:
            kept = self._fetch(ids, progress)
            deleted = self._delete(ids)
            self._last = _Undo(
                f"restore the {_images(len(ids))} deleted from {category}",
                lambda p: self._restore(kept, category, p),
            )
            return Change(f"Deleted {_images(deleted)} from {category}", deleted, (category,))

    # Categories -----------------------------------------------------------------------------
    def rename_category(self, old: str, new: str, progress: Progress | None = None) -> Change:
        """Move every image of ``old`` to ``new`` (merging into ``new`` if it exists), then remove ``old``."""
        with self._lock:
            existed = new in self._category_names()
            ids = self.category_ids(old)
            self._relabel(ids, new, progress)
            if not ids:
                self.client.add_category(self.dataset_id, new)
            self.client.delete_category(self.dataset_id, old)

            def back(p: Progress | None) -> Change:
                self.client.add_category(self.dataset_id, old)
                self._relabel(ids, old, p)
                if not existed:
                    self.client.delete_category(self.dataset_id, new)
                return Change(f"Category {new} is {old} again ({_images(len(ids))})", len(ids), (new, old))

            self._last = _Undo(f"rename {new} back to {old}", back)
            verb = "Merged" if existed else "Renamed"
            return Change(
                f"{verb} {old} into {new} ({_images(len(ids))})"
                if existed
                else f"{verb} {old} to {new} ({_images(len(ids))})",
                len(ids),
                (old, new),
            )

    def remove_category(self, name: str, progress: Progress | None = None) -> Change:
        """Delete a category and every image in it; undo brings both back."""
        with self._lock:
            ids = self.category_ids(name)
            kept = self._fetch(ids, progress)
            if ids:
                self._delete(ids)
            self.client.delete_category(self.dataset_id, name)

            def back(p: Progress | None) -> Change:
                self.client.add_category(self.dataset_id, name)
                change = self._restore(kept, name, p)
                return Change(f"Category {name} is back with {_images(change.images)}", change.images, (name,))

            self._last = _Undo(f"bring back category {name} ({_images(len(ids))})", back)
            return Change(f"Removed category {name} and its {_images(len(ids))}", len(ids), (name,))

    def undo(self, progress: Progress | None = None) -> Change:
        """Take back the last change (once)."""
        with self._lock:
            last = self._last
            if last is None:
                raise NothingToUndo("nothing to undo")
            change = last.steps(progress)
            self._last = None
            return Change(f"Undone: {change.message}", change.images, change.categories)

    # Steps ----------------------------------------------------------------------------------
    def _category_names(self) -> list[str]:
        return [c["name"] for c in self.client.dataset_info(self.dataset_id)["categories"]]

    def _relabel(self, ids: list[str], category: str, progress: Progress | None) -> int:
        moved = 0
        for start in range(0, len(ids), CHUNK):
            moved += self.client.relabel_images(self.dataset_id, ids[start : start + CHUNK], category)
            _tell(progress, min(start + CHUNK, len(ids)), len(ids))
        return moved

    def _delete(self, ids: list[str]) -> int:
        # One request: the service deletes all or nothing, so a failure leaves every image there.
        return self.client.delete_images(self.dataset_id, ids)

    def _fetch(self, ids: list[str], progress: Progress | None) -> list[bytes]:
        kept = []
        for done, image_id in enumerate(ids, 1):
            kept.append(self.client.image_png(self.dataset_id, image_id))
            if done % 50 == 0 or done == len(ids):
                _tell(progress, done, len(ids))
        return kept

    def _restore(self, pngs: list[bytes], category: str, progress: Progress | None) -> Change:
        stored = 0
        for start in range(0, len(pngs), CHUNK):
            chunk = pngs[start : start + CHUNK]
            stored += len(self.client.store_images(self.dataset_id, [(png, category) for png in chunk]))
            _tell(progress, min(start + CHUNK, len(pngs)), len(pngs))
        return Change(f"Restored {_images(stored)} to {category}", stored, (category,))


def _tell(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"
