"""The Qt binding keeps Python's reference counts: a broken release (PySide6 6.12.0's Signal.emit
returned a bool it did not own) kills a long session with "deallocating None" or a segfault at a
random place, so it is caught here, where the cause is named, not later in some other test."""

from __future__ import annotations

import gc
import sys

from PySide6 import QtCore


class _Emitter(QtCore.QObject):
    bare = QtCore.Signal()
    payload = QtCore.Signal(object, str)


def _counts() -> tuple[int, int, int]:
    gc.collect()
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def test_emitting_signals_leaves_the_reference_counts_of_none_true_and_false_alone(qapp):
    emitter = _Emitter()
    got = []
    emitter.payload.connect(lambda value, text: got.append(1 if value is None else 0))  # keeps no None, True or False
    before = _counts()
    for _ in range(500):  # the broken binding took one reference per emit
        emitter.bare.emit()
        emitter.payload.emit(None, "message")
    after = _counts()
    assert got == [1] * 500
    assert [a - b for a, b in zip(after, before)] == [0, 0, 0], f"Qt binding {QtCore.__version__} miscounts references"


def test_a_closed_view_keeps_no_wrapper_of_its_gl_surface(qtbot, window):
    """A stale QSurface wrapper is handed out for the next object at its address: closing the
    window must drop the views' references to their GL context and surface."""
    window.close()
    for view in (window.mesh_view, window.result_view, window.compare_view):
        assert view.closed
        assert getattr(view.plotter, "_surface", None) is None and getattr(view.plotter, "_ctx", None) is None
