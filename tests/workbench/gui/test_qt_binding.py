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
