"""Background work in the GUI: every callback runs once, on the UI thread, and nothing outlives it."""

from __future__ import annotations

import threading

from PyQt5 import sip

from dicebox.gui.background import run_in_background


def test_callbacks_run_once_on_the_ui_thread_and_the_workers_are_freed_there(qtbot):
    ui_thread = threading.get_ident()
    calls: list[tuple[str, object, int]] = []

    def work(n: int) -> int:
        if n % 3 == 0:
            raise ValueError(f"no {n}")
        return n

    workers = [
        run_in_background(work, n, on_done=lambda r: calls.append(("done", r, threading.get_ident())),
                          on_error=lambda m: calls.append(("error", m, threading.get_ident())))
        for n in range(300)
    ]
    qtbot.waitUntil(lambda: len(calls) == 300, timeout=20_000)
    assert {thread for _, _, thread in calls} == {ui_thread}
    assert sorted(r for kind, r, _ in calls if kind == "done") == [n for n in range(300) if n % 3]
    assert sorted(m for kind, m, _ in calls if kind == "error") == sorted(f"no {n}" for n in range(0, 300, 3))
    # Their signal objects are deleted once delivered, by the UI thread's event loop.
    qtbot.waitUntil(lambda: all(sip.isdeleted(w.signals) for w in workers), timeout=5_000)
    assert not calls[300:]
