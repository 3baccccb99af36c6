"""Named metadata entries inside a TensorFlow Lite file (the schema's ``Model.metadata``).

A dicebox .tflite carries its labels and preprocessing in the file itself, so the model alone says
how to feed it and how to name its outputs. Writing needs TensorFlow (the exporter has it); reading
needs only the ``flatbuffers`` package, which LiteRT and onnxruntime both depend on.
"""

from __future__ import annotations

import importlib

LABELS_ENTRY = "dicebox_labels"
PREPROCESSING_ENTRY = "dicebox_preprocessing"

# Field numbers of the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).
_MODEL_BUFFERS = 4
_MODEL_METADATA = 6
_METADATA_NAME = 0
_METADATA_BUFFER = 1
_BUFFER_DATA = 0
_BUFFER_OFFSET = 1
_BUFFER_SIZE = 2


class TfliteMetadataError(ValueError):
    """The bytes are not a TFLite model, or an entry cannot be stored."""


def embed(model: bytes, entries: dict[str, bytes]) -> bytes:
    """``model`` with ``entries`` added as named metadata (an entry of the same name is replaced)."""
    utils = importlib.import_module("tensorflow.lite.tools.flatbuffer_utils")
    schema = utils.schema_fb
    _check_identifier(model)
    tree = utils.convert_bytearray_to_object(bytearray(model))
    tree.metadata = [m for m in (tree.metadata or []) if _name(m.name) not in entries]
    tree.buffers = list(tree.buffers or [])
    for name, data in entries.items():
        buffer = schema.BufferT()
        buffer.data = list(data)
        tree.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(tree.buffers) - 1
        tree.metadata.append(entry)
    return bytes(utils.convert_object_to_bytearray(tree))


def read(model: bytes) -> dict[str, bytes]:
    """Every named metadata entry of a TFLite model, by name (TensorFlow not needed)."""
    from flatbuffers import encode, number_types, packer, table

    _check_identifier(model)
    data = bytearray(model)
    root = table.Table(data, encode.Get(packer.uoffset, data, 0))
    buffers = _tables(root, _MODEL_BUFFERS)
    found: dict[str, bytes] = {}
    for entry in _tables(root, _MODEL_METADATA):
        name_at = entry.Offset(4 + 2 * _METADATA_NAME)
        index_at = entry.Offset(4 + 2 * _METADATA_BUFFER)
        if not name_at or not index_at:
            continue
        index = entry.Get(number_types.Uint32Flags, entry.Pos + index_at)
        if index >= len(buffers):
            raise TfliteMetadataError(f"metadata entry points at buffer {index} of {len(buffers)}")
        found[entry.String(entry.Pos + name_at).decode("utf-8")] = _buffer_bytes(buffers[index], data)
    return found


def _check_identifier(model: bytes) -> None:
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise TfliteMetadataError("not a TFLite model (no TFL3 identifier)")


def _name(value: str | bytes | None) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else (value or "")


def _tables(parent, field: int) -> list:
    from flatbuffers import table

    at = parent.Offset(4 + 2 * field)
    if not at:
        return []
    start, length = parent.Vector(at), parent.VectorLen(at)
    return [table.Table(parent.Bytes, parent.Indirect(start + 4 * i)) for i in range(length)]


def _buffer_bytes(buffer, data: bytearray) -> bytes:
    from flatbuffers import number_types

    at = buffer.Offset(4 + 2 * _BUFFER_DATA)
    if at:
        start = buffer.Vector(at)
        return bytes(data[start : start + buffer.VectorLen(at)])
    # Buffers of models over 2 GB live after the flatbuffer, named by offset and size.
    offset_at, size_at = buffer.Offset(4 + 2 * _BUFFER_OFFSET), buffer.Offset(4 + 2 * _BUFFER_SIZE)
    if offset_at and size_at:
        offset = buffer.Get(number_types.Uint64Flags, buffer.Pos + offset_at)
        size = buffer.Get(number_types.Uint64Flags, buffer.Pos + size_at)
        return bytes(data[offset : offset + size])
    return b""
