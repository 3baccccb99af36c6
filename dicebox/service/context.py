"""What the routes work with, injected by the application factory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from dicebox.config import Config
from dicebox.store import Dataset, DatasetStore


@dataclass
class ServiceContext:
    """The store and the optional parts (batch orders, classifier) one service instance uses."""

    config: Config
    store: DatasetStore
    batches: Any = None
    classifier: Any = None
    # One model switch at a time; one export conversion at a time (seconds of TensorFlow work), the
    # last few kept by (model id, format).
    switch_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    export_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    exports: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False)

    def default_dataset(self) -> Dataset:
        return self.store.dataset(self.config.dataset_id)

    def close(self) -> None:
        """Stop what the service owns: batch orders first (they read the store), then the store."""
        if self.batches is not None:
            self.batches.close()
        self.store.close()


EXTENSION = "dicebox"


def service_context(app: Flask) -> ServiceContext:
    """The context ``app`` was built with (its store, batch orders and classifier)."""
    return app.extensions[EXTENSION]


def context() -> ServiceContext:
    """The context of the application handling the current request."""
    return service_context(current_app)
