"""The window fits a small laptop screen and a large one: nothing overlaps, nothing needed is cut off."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PyQt5.QtCore import QRect
from PyQt5.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QPushButton, QScrollArea, QWidget
from test_gui_operator import window  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)

SIZES = [(1024, 700), (1280, 800), (1920, 1080)]


def in_window(win, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(win, widget.rect().topLeft()), widget.size())


def fully_shown(win, widget: QWidget) -> bool:
    """On screen in the window, not clipped by a scroll area or the window's edge."""
    return (
        widget.isVisible()
        and widget.visibleRegion().boundingRect().size() == widget.size()
        and (win.rect().contains(in_window(win, widget)))
    )


def overlaps(root: QWidget) -> list[str]:
    """Widgets laid out side by side that cover each other (a layout squeezed below what its parts need)."""
    found = []
    for parent in [root, *root.findChildren(QWidget)]:
        if parent.layout() is None or not parent.isVisible():
            continue
        kids = [
            k
            for k in parent.children()
            if isinstance(k, QWidget) and k.isVisible() and not k.isWindow() and parent.layout().indexOf(k) >= 0
        ]
        for i, a in enumerate(kids):
            for b in kids[i + 1 :]:
                if a.geometry().intersects(b.geometry()):
                    found.append(
                        f"{type(a).__name__}{a.objectName() and ' ' + a.objectName()} / "
                        f"{type(b).__name__}{b.objectName() and ' ' + b.objectName()} in {type(parent).__name__}"
                    )
    return found


def squeezed(root: QWidget) -> list[str]:
    """Controls shown smaller than they need (cut text, half-drawn spin boxes)."""
    return [
        f"{type(w).__name__} in {type(w.parentWidget()).__name__} {w.parentWidget().objectName()}: "
        f"{w.height()} < {w.minimumSizeHint().height()}"
        for w in root.findChildren((QAbstractButton, QAbstractSpinBox, QComboBox))
        if w.isVisible() and w.height() < w.minimumSizeHint().height()
    ]


def settle(qtbot, condition, timeout: int = 1_000) -> None:
    try:
        qtbot.waitUntil(condition, timeout=timeout)
    except qtbot.TimeoutError:
        pass  # the assertions after it say what is wrong


def show_at(qtbot, win, width: int, height: int) -> None:
    """The window as it is in use: camera open, six labels, a classification shown, a warning in the panel."""
    win.labels.set_counts({str(i): 10 * i for i in range(1, 7)})
    assert win.open_source("synthetic:dice?fps=30&seed=4")
    qtbot.waitUntil(lambda: win.camera.displayed_fps > 5, timeout=10_000)
    probabilities = {str(i): 0.8 if i == 3 else 0.04 for i in range(1, 7)}
    win.classify.show_result(SimpleNamespace(label="3", confidence=0.8, probabilities=probabilities), "3")
    win.recorder.update(mode="misclassified")
    win.recorder.set_model(False, "no model is loaded")
    win.resize(width, height)
    qtbot.waitUntil(lambda: win.width() <= width and win.height() <= height, timeout=2_000)
    qtbot.wait(50)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_window_fits_and_nothing_overlaps(qtbot, window, width, height):  # noqa: F811
    show_at(qtbot, window, width, height)
    assert (window.width(), window.height()) == (width, height), "the window needs more than the screen"
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        qtbot.wait(20)
        # On a real display the window manager resizes asynchronously: give the layout a moment to settle.
        settle(qtbot, lambda: not overlaps(window) and not squeezed(window.centralWidget()))
        assert overlaps(window) == [], f"tab {window.tabs.tabText(index)!r}"
        assert squeezed(window.centralWidget()) == [], f"tab {window.tabs.tabText(index)!r}"


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_count_bars_never_cover_a_label_or_its_count(qtbot, window, width, height):  # noqa: F811
    show_at(qtbot, window, width, height)
    window.labels.set_counts({"1": 500, "2": 12, "blank": 73, "something long": 1234})
    labels = window.labels.list
    delegate = labels.itemDelegate()
    for row in range(labels.count()):
        item = labels.item(row)
        text_width = labels.fontMetrics().horizontalAdvance(item.text())
        cell = labels.visualItemRect(item)
        bar = delegate.bar_rect(cell, text_width)
        # The text starts a few pixels in (the item's margin): the bar starts after its end.
        assert bar.left() > cell.left() + text_width, f"the bar covers {item.text()!r} at {width}x{height}"


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_recording_controls_and_live_bars_are_seen_together(qtbot, window, width, height):  # noqa: F811
    show_at(qtbot, window, width, height)
    for widget in (
        window.record.toggle,
        window.record.stats,
        window.classify.bars,
        window.classify.source,
        window.labels.list,
        window.view,
    ):
        assert fully_shown(window, widget), f"{type(widget).__name__} is cut off or scrolled away"
    assert window.classify.bars.height() >= 6 * 14, "the bars are squeezed"


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_button_of_the_train_tab_can_be_reached(qtbot, window, width, height):  # noqa: F811
    show_at(qtbot, window, width, height)
    panel = window.extra_panels[0]
    window.tabs.setCurrentWidget(panel)
    qtbot.wait(20)
    for button in panel.findChildren(QPushButton):
        if not button.isVisibleTo(panel):
            continue
        for scroll in [p for p in _ancestors(button) if isinstance(p, QScrollArea)]:  # innermost first
            scroll.ensureWidgetVisible(button)
            qtbot.wait(10)
        assert fully_shown(window, button), f"{button.text()!r} is cut off"


def _ancestors(widget: QWidget):
    parent = widget.parentWidget()
    while parent is not None:
        yield parent
        parent = parent.parentWidget()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_train_tab_needs_no_sideways_scrolling(qtbot, window, width, height):  # noqa: F811
    show_at(qtbot, window, width, height)
    panel = window.extra_panels[0]
    window.tabs.setCurrentWidget(panel)
    qtbot.wait(20)
    scroll = next(p for p in _ancestors(panel) if isinstance(p, QScrollArea))
    assert not scroll.horizontalScrollBar().isVisible(), (
        f"the Train tab needs {panel.minimumSizeHint().width()} px at a window {width} px wide"
    )
    assert panel.table.isVisible() and fully_shown(window, panel.table)
