"""What the routes work with, injected by the application factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from dicebox.config import Config
from dicebox.store import Dataset, DatasetStore


@dataclass
class ServiceContext:
    """The store and the optional parts (batch orders, classifier) one service instance uses."""

    config: Config
    store: DatasetStore
    batches: Any = None
    classifier: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def default_dataset(self) -> Dataset:
        return self.store.dataset(self.config.dataset_id)


def context() -> ServiceContext:
    """The context of the application handling the current request."""
    return current_app.extensions["dicebox"]
