"""`after_first_frame(widget, callback)`: run a callback once a window has painted its first frame.

The main window starts its background work (torch, the encoder) from here, so nothing competes
with building and painting the window; the start-up probe (ui/app.py) stamps the time from here.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class _FirstFrame(QObject):
    """An event filter on the widget that waits for its first paint event, then removes itself.

    The callback runs from the event loop right after that paint has been handled (a zero timer),
    on the UI thread; never if the widget is destroyed first (the filter is its child)."""

    def __init__(self, widget: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._callback = callback
        self._seen = False
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self._seen and watched is self._widget and event.type() == QEvent.Type.Paint:
            self._seen = True
            self._widget.removeEventFilter(self)
            QTimer.singleShot(0, self, self._callback)
        return False


def after_first_frame(widget: QWidget, callback: Callable[[], None]) -> None:
    """Call `callback()` once, after `widget` (a top-level window) has painted for the first time."""
    _FirstFrame(widget, callback)
