"""Live classification in the window, and "only keep misclassified" with a real trained bundle."""

from __future__ import annotations

import numpy as np
from helpers import API_KEY
from test_gui_operator import start_service_and_camera, window  # noqa: F401 - the fixture

from dicebox.client.http import SensoryClient
from dicebox.nets.inference import Classifier
from dicebox.session.recorder import KeepMode


def test_only_misclassified_frames_are_kept(qtbot, window, dice_bundle):  # noqa: F811
    start_service_and_camera(qtbot, window)
    window.classifier.load_bundle(dice_bundle)
    qtbot.waitUntil(lambda: window.classifier.classifier is not None, timeout=60_000)
    qtbot.waitUntil(lambda: window.classify.matches + window.classify.mismatches > 5, timeout=30_000)
    assert window.classify.bars.probabilities, "confidence bars show every class"
    window.labels.select_name("3")
    window.recorder.update(mode=KeepMode.MISCLASSIFIED, max_fps=0, duplicate_threshold=0, recording=True)
    qtbot.waitUntil(lambda: window.recorder.stats.kept >= 6 and window.recorder.stats.skipped_mode >= 1,
                    timeout=60_000)
    window.recorder.update(recording=False)
    assert window.delivery.flush(timeout=20)
    client = SensoryClient(window.link.url, API_KEY)
    listing = client.list_images(window.dataset_id, category="3", limit=1000)["images"]
    assert len(listing) == window.recorder.stats.kept
    judge = Classifier.from_bundle(dice_bundle)
    for record in listing:
        png = client.image_png(window.dataset_id, record["id"])
        assert judge.classify(png).label != "3", "a frame the network got right was kept"
    assert client.dataset_info(window.dataset_id)["count"] == len(listing)
    assert np.isfinite(window.classifier.latency_ms)
