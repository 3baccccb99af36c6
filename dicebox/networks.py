"""Build a compiled Keras model from a :class:`~dicebox.genome.Genome` (TensorFlow imported lazily).

The model takes the uint8 images produced by :func:`dicebox.camera.preprocess.to_geometry`
(height x width x channels, BGR) and rescales them to 0..1 itself, so every caller feeds the same
arrays the store holds, and exported models carry their own scaling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicebox.genome import Conv2DLayer, DenseLayer, DropoutLayer, Genome, MaxPool2DLayer

if TYPE_CHECKING:
    import keras

    from dicebox.camera.preprocess import Geometry

# Keras 3 defaults except where they do not train small image models well: Adadelta's 0.001 barely
# moves (Keras 2 and the original used 1.0), SGD and Adagrad want a larger step.
LEARNING_RATES: dict[str, float] = {
    "adam": 1e-3,
    "adamax": 2e-3,
    "nadam": 1e-3,
    "rmsprop": 1e-3,
    "adamw": 1e-3,
    "sgd": 1e-2,
    "adagrad": 1e-2,
    "adadelta": 1.0,
}


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
    """A Keras model for ``genome``: uint8 image -> Rescaling(1/255) -> layers -> softmax.

    ``seed`` makes the initial weights and dropout masks reproducible without touching global
    random state. Raises GenomeError if the genome does not fit the geometry.
    """
    genome.validate(geometry, n_classes)
    import keras

    def init(i: int) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed * 1000 + i)

    inputs = keras.Input(shape=geometry.shape, dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    flat = False
    for i, layer in enumerate(genome.layers):
        name = f"{layer.type}_{i}"
        if isinstance(layer, DenseLayer):
            if not flat:
                x = keras.layers.Flatten(name="flatten")(x)
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
                activation=layer.activation,
                kernel_initializer=init(i),
                name=name,
            )(x)
        elif isinstance(layer, MaxPool2DLayer):
            x = keras.layers.MaxPooling2D(layer.pool_size, name=name)(x)
    if not flat:
        x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", kernel_initializer=init(len(genome.layers)), name="probabilities"
    )(x)
    model = keras.Model(inputs, outputs, name=f"dicebox_{genome.fingerprint()}")
    if compile:
        model.compile(
            optimizer=make_optimizer(genome.optimizer, learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model
