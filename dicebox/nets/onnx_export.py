"""Write a dicebox Keras network as an ONNX model, without TensorFlow's converter.

Keras 3's ``model.export(format="onnx")`` needs ``tf2onnx`` on the TensorFlow backend, and no
``tf2onnx`` release installs beside this TensorFlow/numpy. dicebox networks are a short chain of
known layers (uint8 input, Rescaling, Conv2D, BatchNormalization, Activation, MaxPooling2D,
Flatten or global pooling, Dense, Dropout, see :func:`dicebox.nets.build.build_model`), so each
layer is written as ONNX operators directly with the ``onnx`` package. The ONNX model takes the
same uint8 NHWC batch and returns the same softmax. Convolutions run in ONNX's NCHW layout; the
tensor is turned back to NHWC before Flatten so the Dense weights keep Keras' element order.
Augmentation layers (Keras' ``Random*``) change images only while training and are left out, as
Dropout is.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

OPSET = 17  # what ONNX Runtime Web and every current onnxruntime run
# Identity when classifying: dropout and the in-model augmentation (not in a saved bundle).
TRAINING_ONLY = frozenset(
    {"Dropout", "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast"}
)


class OnnxExportError(ValueError):
    """A network with a layer or setting that has no ONNX translation here."""


class _Graph:
    """Nodes and weights being collected, with unique tensor names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.weights: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.weights.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.name(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _activation(g: _Graph, x: str, name: str, channel_axis: int) -> str:
    """Keras 3's activation ``name`` applied to ``x`` (channels on ``channel_axis`` for softmax)."""
    f32 = np.float32
    if name == "linear":
        return x
    simple = {
        "relu": "Relu",
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "softplus": "Softplus",
        "softsign": "Softsign",
    }
    if name in simple:
        return g.op(simple[name], [x], name)
    if name == "elu":
        return g.op("Elu", [x], name, alpha=1.0)
    if name == "selu":
        return g.op("Selu", [x], name, alpha=1.6732632423543772, gamma=1.0507009873554805)
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return g.op("HardSigmoid", [x], name, alpha=1.0 / 6.0, beta=0.5)
    if name == "leaky_relu":  # Keras 3's default negative slope
        return g.op("LeakyRelu", [x], name, alpha=0.2)
    if name == "relu6":
        return g.op("Clip", [x, g.const(f32(0.0), "zero"), g.const(f32(6.0), "six")], name)
    if name == "softmax":
        return g.op("Softmax", [x], name, axis=channel_axis)
    if name in ("swish", "silu"):
        return g.op("Mul", [x, g.op("Sigmoid", [x], "sigmoid")], name)
    if name == "gelu":  # Keras' default is the exact form: x * (1 + erf(x / sqrt 2)) / 2
        erf = g.op("Erf", [g.op("Mul", [x, g.const(f32(1 / math.sqrt(2)), "rsqrt2")], "scaled")], "erf")
        half = g.op("Mul", [x, g.const(f32(0.5), "half")], "half_x")
        return g.op("Mul", [half, g.op("Add", [erf, g.const(f32(1.0), "one")], "one_plus")], name)
    raise OnnxExportError(f"activation {name!r} has no ONNX translation")


def _pads(padding: str) -> str:
    if padding == "same":
        return "SAME_UPPER"  # TensorFlow puts the odd padding pixel at the end, as SAME_UPPER does
    if padding == "valid":
        return "VALID"
    raise OnnxExportError(f"padding {padding!r} has no ONNX translation")


def _batch_norm(g: _Graph, x: str, layer: Any, nchw: bool) -> tuple[str, bool]:
    """Keras BatchNormalization at inference: (x - mean) / sqrt(var + eps) * gamma + beta."""
    config = layer.get_config()
    axis = config["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, 3) and not (axis == 1 and len(layer.input.shape) == 2):
        raise OnnxExportError(f"layer {layer.name}: only batch normalisation over channels is supported")
    weights = iter(layer.get_weights())
    size = int(layer.input.shape[-1])
    gamma = next(weights) if config.get("scale", True) else np.ones(size)
    beta = next(weights) if config.get("center", True) else np.zeros(size)
    mean, variance = next(weights), next(weights)
    inputs = [x] + [
        g.const(np.asarray(v, np.float32), f"{layer.name}_{n}")
        for v, n in ((gamma, "scale"), (beta, "bias"), (mean, "mean"), (variance, "var"))
    ]
    if len(layer.input.shape) == 4 and not nchw:
        inputs[0] = g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])
        nchw = True
    # ONNX normalises axis 1: NCHW images, or (N, C) vectors.
    return g.op("BatchNormalization", inputs, layer.name, epsilon=float(config["epsilon"])), nchw


def to_onnx(model: keras.Model, metadata: dict[str, Any] | None = None) -> bytes:
    """The serialized ONNX model for a dicebox network; ``metadata`` values are stored as JSON props."""
    import onnx
    from onnx import TensorProto, helper

    g = _Graph()
    shape = tuple(model.input_shape)
    if len(shape) != 4:
        raise OnnxExportError(f"expected an image input (batch, height, width, channels), got {shape}")
    x = g.op("Cast", ["image"], "float", to=TensorProto.FLOAT)
    nchw = False
    for layer in model.layers:
        kind = type(layer).__name__
        config = layer.get_config()
        if kind == "InputLayer" or kind in TRAINING_ONLY:
            continue
        if kind == "Rescaling":
            x = g.op("Mul", [x, g.const(np.float32(config["scale"]), "scale")], "rescale")
            if config.get("offset"):
                x = g.op("Add", [x, g.const(np.float32(config["offset"]), "offset")], "offset")
        elif kind in ("Conv2D", "MaxPooling2D"):
            if config.get("data_format", "channels_last") != "channels_last":
                raise OnnxExportError(f"layer {layer.name}: only channels_last is supported")
            if not nchw:
                x = g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])
                nchw = True
            if kind == "Conv2D":
                if tuple(config.get("dilation_rate", (1, 1))) != (1, 1) or config.get("groups", 1) != 1:
                    raise OnnxExportError(f"layer {layer.name}: dilated or grouped convolutions are not supported")
                kernel, *rest = layer.get_weights()
                inputs = [x, g.const(np.transpose(kernel, (3, 2, 0, 1)).astype(np.float32), f"{layer.name}_w")]
                if rest:
                    inputs.append(g.const(rest[0].astype(np.float32), f"{layer.name}_b"))
                x = g.op(
                    "Conv",
                    inputs,
                    layer.name,
                    kernel_shape=list(kernel.shape[:2]),
                    strides=list(config["strides"]),
                    auto_pad=_pads(config["padding"]),
                )
                x = _activation(g, x, config["activation"], channel_axis=1)
            else:
                pool = list(config["pool_size"])
                x = g.op(
                    "MaxPool",
                    [x],
                    layer.name,
                    kernel_shape=pool,
                    strides=list(config.get("strides") or pool),
                    auto_pad=_pads(config["padding"]),
                )
        elif kind == "BatchNormalization":
            x, nchw = _batch_norm(g, x, layer, nchw)
        elif kind == "Activation":
            x = _activation(g, x, config["activation"], channel_axis=1 if nchw else -1)
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            if config.get("keepdims"):
                raise OnnxExportError(f"layer {layer.name}: keepdims is not supported")
            if not nchw:
                x = g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])
            op = "GlobalAveragePool" if kind == "GlobalAveragePooling2D" else "GlobalMaxPool"
            x = g.op("Flatten", [g.op(op, [x], layer.name)], f"{layer.name}_flat", axis=1)
            nchw = False
        elif kind == "Flatten":
            if nchw:
                x = g.op("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])
                nchw = False
            x = g.op("Flatten", [x], "flatten", axis=1)
        elif kind == "Dense":
            kernel, *rest = layer.get_weights()
            x = g.op("MatMul", [x, g.const(kernel.astype(np.float32), f"{layer.name}_w")], f"{layer.name}_matmul")
            if rest:
                x = g.op("Add", [x, g.const(rest[0].astype(np.float32), f"{layer.name}_b")], layer.name)
            x = _activation(g, x, config["activation"], channel_axis=-1)
        else:
            raise OnnxExportError(f"layer {layer.name} ({kind}) has no ONNX translation")
    if nchw:
        raise OnnxExportError("the network must end in Flatten (or global pooling) and Dense layers")
    g.nodes.append(helper.make_node("Identity", [x], ["probabilities"], name="probabilities"))
    n_classes = int(model.output_shape[-1])
    graph = helper.make_graph(
        g.nodes,
        model.name,
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", *shape[1:]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes])],
        initializer=g.weights,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dicebox", ir_version=8
    )
    for key, value in (metadata or {}).items():
        onnx_model.metadata_props.add(key=key, value=json.dumps(value))
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()
