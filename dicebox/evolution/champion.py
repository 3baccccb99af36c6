"""Export the best network of a run as a model bundle (TensorFlow imported only here, lazily)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dicebox.evolution.dataset import DataSpec
from dicebox.evolution.training_orders import Evaluation
from dicebox.nets.genome import Genome


def export_champion(model: bytes, path: Path, genome: Genome, evaluation: Evaluation, data: DataSpec) -> Path:
    """Write the trained ``.keras`` file ``model`` as a bundle at ``path``, atomically replacing the old one.

    The GUI follows the champion by re-reading ``bundle.json`` (its ``model_id`` changes).
    """
    import keras

    from dicebox.nets.bundle import save_bundle
    from dicebox.nets.training import Metrics

    with tempfile.TemporaryDirectory(prefix="dicebox-champion-") as folder:
        file = Path(folder) / "model.keras"
        file.write_bytes(model)
        network = keras.models.load_model(file, compile=False)
    metrics = Metrics.from_dict(evaluation.metrics) if evaluation.metrics else None
    bundle = save_bundle(
        network,
        path,
        categories=data.categories,
        genome=genome,
        metrics=metrics,
        dataset_id=data.dataset_id,
        dataset_version=data.version,
        training=evaluation.training,
    )
    return bundle.path
