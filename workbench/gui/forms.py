"""Small behaviours shared by the app's forms."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

__all__ = ["WheelGuard"]


class WheelGuard(QtCore.QObject):
    """Keeps the mouse wheel for scrolling: a combo box or spin box under the pointer changes
    with the wheel only once it has been clicked (has focus), so scrolling a long form never
    edits the case by accident."""

    def __init__(self, root: QtWidgets.QWidget) -> None:
        super().__init__(root)
        self.root = root
        self.guard(root)

    def guard(self, widget: QtWidgets.QWidget) -> None:
        """Guard the combo and spin boxes under ``widget`` (call again after building new ones)."""
        for child in widget.findChildren(QtWidgets.QWidget):
            if isinstance(child, (QtWidgets.QComboBox, QtWidgets.QAbstractSpinBox)) and not child.property("wheel_guarded"):
                child.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
                child.installEventFilter(self)
                child.setProperty("wheel_guarded", True)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.Wheel and isinstance(watched, QtWidgets.QWidget) and not watched.hasFocus():
            event.ignore()
            return True  # not for the box: the scroll area behind it gets nothing either, which is fine
        return super().eventFilter(watched, event)
