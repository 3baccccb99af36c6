"""A recorder whose mode cannot keep anything says why (the window shows the sentence)."""

from __future__ import annotations

import numpy as np

from dicebox.session.recorder import KeepMode, Recorder, RecorderSettings


def test_a_mode_that_needs_a_model_says_why_it_keeps_nothing():
    heard = []
    recorder = Recorder(RecorderSettings(recording=True, expected="3", mode=KeepMode.MISCLASSIFIED, max_fps=0))
    recorder.subscribe(lambda settings, stats: heard.append(recorder.warning))
    recorder.set_model(False, "no model is loaded")
    assert heard and "Keeps nothing" in heard[-1] and "no model is loaded" in heard[-1]
    assert not recorder.offer(np.zeros((5, 5, 1), np.uint8), 0.0).keep
    recorder.update(mode=KeepMode.UNCERTAIN)
    assert "Keeps nothing" in recorder.warning
    recorder.update(mode=KeepMode.ALL)
    assert recorder.warning == ""
    recorder.update(mode=KeepMode.MISCLASSIFIED)
    recorder.set_model(True)
    assert recorder.warning == "" and heard[-1] == ""
