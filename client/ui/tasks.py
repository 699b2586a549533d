"""Network calls off the GUI thread: `run(fn, done, failed)` runs `fn` on Qt's thread pool and
delivers its result (or the exception) to `done` / `failed` on the GUI thread, so no window ever
blocks on the appliance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

T = TypeVar("T")

# Running jobs keep their signal carrier alive until it has fired (a QObject without a parent
# would otherwise be collected while its queued signal is still on the way).
_live: set[_Carrier] = set()


class _Carrier(QObject):
    finished = Signal(object)
    errored = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], carrier: _Carrier) -> None:
        super().__init__()
        self._fn, self._carrier = fn, carrier

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # every failure goes back to the window that asked
            self._carrier.errored.emit(exc)
        else:
            self._carrier.finished.emit(result)


def run(fn: Callable[[], T], done: Callable[[T], None], failed: Callable[[Exception], None]) -> None:
    """Run `fn()` in the background; call `done(result)` or `failed(exception)` on the GUI thread."""
    carrier = _Carrier()
    _live.add(carrier)

    def finish(result: Any) -> None:
        _live.discard(carrier)
        done(result)

    def fail(exc: Any) -> None:
        _live.discard(carrier)
        failed(exc)

    carrier.finished.connect(finish)
    carrier.errored.connect(fail)
    QThreadPool.globalInstance().start(_Job(fn, carrier))


def pending() -> int:
    """How many background calls have not answered yet (the tests wait for none)."""
    return len(_live)
