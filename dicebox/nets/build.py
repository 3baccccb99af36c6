"""Build a compiled Keras model from a :class:`~dicebox.nets.genome.Genome` (TensorFlow imported lazily).

The model takes the uint8 images produced by :func:`dicebox.images.to_geometry`
(height x width x channels, BGR) and rescales them to 0..1 itself, so every caller feeds the same
arrays the store holds, and exported models carry their own scaling. A genome's augmentation
becomes Keras' random preprocessing layers right after the scaling: they change images only when
the model is called with ``training=True`` (``fit``), never in ``predict``, ``model(x,
training=False)`` or an export. Call the model with ``training=False`` (a bare ``model(x)``
augments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicebox.nets.genome import (
    DEFAULT_LEARNING_RATES,
    Augmentation,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    Genome,
    MaxPool2DLayer,
)

if TYPE_CHECKING:
    import keras

    from dicebox.images import Geometry

LEARNING_RATES = DEFAULT_LEARNING_RATES  # the optimizer's own when a genome names none
#: Keras layers that change images only while training (a genome's augmentation).
AUGMENTATION_LAYERS = frozenset({"RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast"})


def make_optimizer(name: str, learning_rate: float | None = None) -> keras.optimizers.Optimizer:
    """A fresh Keras optimizer by genome name, with the learning rate above unless given."""
    import keras

    rate = LEARNING_RATES[name] if learning_rate is None else learning_rate
    classes = {
        "adam": keras.optimizers.Adam,
        "adamax": keras.optimizers.Adamax,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
        "adamw": keras.optimizers.AdamW,
        "adagrad": keras.optimizers.Adagrad,
        "adadelta": keras.optimizers.Adadelta,
    }
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=0.9)
    return classes[name](learning_rate=rate)


def build_model(
    genome: Genome,
    geometry: Geometry,
    n_classes: int,
    seed: int | None = None,
    *,
    learning_rate: float | None = None,
    compile: bool = True,
) -> keras.Model:
    """A Keras model for ``genome``: uint8 image -> Rescaling(1/255) -> augmentation -> layers -> softmax.

    ``seed`` makes the initial weights, dropout masks and augmentation reproducible without
    touching global random state. The genome's learning rate wins over ``learning_rate``, which
    wins over the optimizer's default. Raises GenomeError if the genome does not fit the geometry.
    """
    genome.validate(geometry, n_classes)
    import keras

    def init(i: int) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed * 1000 + i)

    inputs = keras.Input(shape=geometry.shape, dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = _augment(x, genome.augmentation, None if seed is None else seed * 1000 + 999)
    flat = False
    for i, layer in enumerate(genome.layers):
        name = f"{layer.type}_{i}"
        if isinstance(layer, DenseLayer):
            if not flat:
                x = _head(x, genome.head)
                flat = True
            x = keras.layers.Dense(
                layer.size, activation=layer.activation, kernel_initializer=init(i), name=name
            )(x)
        elif isinstance(layer, DropoutLayer):
            dropout_seed = None if seed is None else seed * 1000 + i
            x = keras.layers.Dropout(layer.rate, seed=dropout_seed, name=name)(x)
        elif isinstance(layer, Conv2DLayer):
            x = keras.layers.Conv2D(
                layer.filters,
                layer.kernel_size,
                strides=layer.strides,
                padding=layer.padding,
                activation=None if layer.batch_norm else layer.activation,
                use_bias=not layer.batch_norm,  # batch normalisation's offset does the bias's work
                kernel_initializer=init(i),
                name=name,
            )(x)
            if layer.batch_norm:
                x = keras.layers.BatchNormalization(name=f"{name}_batch_norm")(x)
                x = keras.layers.Activation(layer.activation, name=f"{name}_{layer.activation}")(x)
        elif isinstance(layer, MaxPool2DLayer):
            x = keras.layers.MaxPooling2D(layer.pool_size, name=name)(x)
    if not flat:
        x = _head(x, genome.head)
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", kernel_initializer=init(len(genome.layers)), name="probabilities"
    )(x)
    model = keras.Model(inputs, outputs, name=f"dicebox_{genome.fingerprint()}")
    if compile:
        model.compile(
            optimizer=make_optimizer(genome.optimizer, genome.learning_rate or learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model


def inference_model(model: keras.Model) -> keras.Model:
    """An uncompiled copy of ``model`` with the same weights and without its augmentation layers:
    what a bundle saves and exports.

    Keras' augmentation layers act whenever a call does not say ``training=False`` (a bare
    ``model(x)``, a SavedModel's or TFLite's traced endpoint, whose random ops TFLite cannot even
    run), and a layer called in training mode puts the layers after it (batch normalisation) in
    training mode too. A network with such layers must be a chain of layers, as every network
    :func:`build_model` makes is; it is rebuilt without them.
    """
    import keras

    if not any(type(layer).__name__ in AUGMENTATION_LAYERS for layer in model.layers):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy
    first, *rest = model.layers
    inputs = keras.Input(shape=model.input_shape[1:], dtype=model.inputs[0].dtype, name=model.inputs[0].name)
    x = inputs
    previous = first.output
    for layer in rest:
        if layer.input is not previous:
            raise ValueError(f"{model.name}: layer {layer.name} does not follow the one before it; "
                             "only a chain of layers can drop its augmentation")
        previous = layer.output
        if type(layer).__name__ in AUGMENTATION_LAYERS:
            continue
        fresh = layer.__class__.from_config(layer.get_config())
        x = fresh(x)
        fresh.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=model.name)


def _head(x, head: str):
    """The image tensor ``x`` as one vector per image."""
    import keras

    if head == "global_average":
        return keras.layers.GlobalAveragePooling2D(name="global_average")(x)
    if head == "global_max":
        return keras.layers.GlobalMaxPooling2D(name="global_max")(x)
    return keras.layers.Flatten(name="flatten")(x)


def _augment(x, augmentation: Augmentation, seed: int | None):
    """``x`` through the random preprocessing layers ``augmentation`` asks for (training only)."""
    import keras

    def seeded(n: int) -> int | None:
        return None if seed is None else seed + n

    a = augmentation
    flip = {(True, False): "horizontal", (False, True): "vertical", (True, True): "horizontal_and_vertical"}
    mode = flip.get((a.horizontal_flip, a.vertical_flip))
    if mode:
        x = keras.layers.RandomFlip(mode, seed=seeded(0), name="augment_flip")(x)
    if a.translation:
        x = keras.layers.RandomTranslation(
            a.translation, a.translation, fill_mode="nearest", seed=seeded(1), name="augment_translation"
        )(x)
    if a.rotation:
        x = keras.layers.RandomRotation(a.rotation, fill_mode="nearest", seed=seeded(2), name="augment_rotation")(x)
    if a.zoom:
        x = keras.layers.RandomZoom(a.zoom, fill_mode="nearest", seed=seeded(3), name="augment_zoom")(x)
    if a.contrast:
        x = keras.layers.RandomContrast(a.contrast, value_range=(0, 1), seed=seeded(4), name="augment_contrast")(x)
    return x
