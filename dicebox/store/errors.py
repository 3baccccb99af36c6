"""What can go wrong with the data set store, as exceptions the service maps to HTTP answers."""


class StoreError(Exception):
    """Base class: the request cannot be done and nothing was changed."""


class InvalidName(StoreError):
    """A data set or category name that is not allowed (it could leave the data folder, ...)."""


class InvalidImage(StoreError):
    """Bytes that are not a usable image."""


class ImageTooLarge(InvalidImage):
    """An image whose pixel count is over the limit (decompression bombs included)."""


class NotFound(StoreError):
    """An image, category or data set that does not exist."""


class Conflict(StoreError):
    """The request contradicts what is stored (the same image under another category, ...)."""


class BatchTooLarge(StoreError):
    """A batch larger than the data set (or than allowed)."""
