"""Small behaviours shared by the app's forms: checked line edits, a status line that does not
move the form, and a mouse wheel that scrolls the form rather than what lies under the pointer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from engine.errors import WorkbenchError

__all__ = ["CheckedEdit", "NumberEdit", "StatusLine", "WheelGuard", "parse_number"]

_BAD_STYLE = "QLineEdit { background: #fde2e1; }"


class CheckedEdit(QtWidgets.QLineEdit):
    """A line edit checked as it is typed and taken on Enter or on leaving the field.

    Nothing typed is dropped: text that cannot be used (it does not parse, or the case refused
    it) stays in the field, marked, with the reason as its tooltip, so it can be corrected. The
    case keeps its value in use meanwhile; showing that value again (``set_value`` with another
    value, ``show_in_use``) clears the mark.

    ``parse`` turns the text into a value (raising ``WorkbenchError`` or ``ValueError`` with the
    reason); ``show`` turns a value into text; ``label`` names the field in messages.
    """

    committed = QtCore.Signal(object)
    rejected = QtCore.Signal(str)  # why what was typed was not taken (the field keeps it, marked)

    def __init__(self, parse: Callable[[str], Any], show: Callable[[Any], str], *, label: str = "", hint: str = "",
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._parse, self._show = parse, show
        self.label = label
        self.hint = hint
        self.error = ""
        self._in_use: Any = None
        self.textEdited.connect(self._check)
        self.editingFinished.connect(self._commit)
        self._mark("")

    def set_value(self, value: Any) -> None:
        """Show ``value``, the case's value in use; a refused text for the same value is kept."""
        if value == self._in_use and (self.error or self.isModified()):
            return  # the case did not change here: leave what is typed (or was refused) for correction
        self._in_use = value
        self.blockSignals(True)
        self.setText(self._show(value))
        self.setCursorPosition(0)
        self.blockSignals(False)
        self.setModified(False)
        self._mark("")

    def show_in_use(self) -> None:
        """Drop what was typed: show the value in use, unmarked."""
        self.error = ""
        self.setModified(False)
        self.set_value(self._in_use)

    def set_hint(self, hint: str) -> None:
        """What the field takes, as its tooltip while nothing is wrong."""
        self.hint = hint
        if not self.error:
            self.setToolTip(hint)

    def in_use_text(self, limit: int = 40) -> str:
        """The value in use as a message names it (a long expression shortened: the field shows it whole)."""
        text = self._show(self._in_use) or "no value"
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def refuse(self, why: str) -> None:
        """The case refused what was typed: keep the text, marked with the reason."""
        self._mark(why)

    def value(self) -> Any:
        return self._parse(self.text())

    def _mark(self, error: str) -> None:
        self.error = error
        self.setStyleSheet(_BAD_STYLE if error else "")
        self.setToolTip(error or self.hint)

    def _check(self, *_: Any) -> bool:
        try:
            self.value()
        except (WorkbenchError, ValueError) as err:
            self._mark(str(err))
            return False
        self._mark("")
        return True

    def _commit(self) -> None:
        if self.isReadOnly() or not self.isModified():
            return
        self.setModified(False)
        if self._check():
            self.committed.emit(self.value())
        else:
            named = f"{self.label}: " if self.label else ""
            self.rejected.emit(f"{named}{self.error}; kept {self.in_use_text()}")


def parse_number(text: str, *, optional: bool = False) -> float | None:
    """A finite number from what was typed (None for nothing, where ``optional``)."""
    text = text.strip()
    if not text:
        if optional:
            return None
        raise ValueError("a number is needed")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number; expected a number such as 0.05 or 1e-3") from None
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


class NumberEdit(CheckedEdit):
    """A checked line edit for one number (empty means "default" where ``optional``).

    No validator: a validator drops the keys it does not like (a minus sign, a letter) without
    a word; here the text is kept and the case's validation says what is expected.
    """

    def __init__(self, *, label: str = "", hint: str = "", optional: bool = False, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(lambda text: parse_number(text, optional=optional),
                         lambda value: "" if value is None else f"{value:.12g}", label=label, hint=hint, parent=parent)


class StatusLine(QtWidgets.QLabel):
    """A panel's message line: its height is fixed (``lines`` lines of text), so a message
    appearing or going never moves the form; a message too long for it is whole in the tooltip."""

    def __init__(self, lines: int = 4, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop)
        self.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setContentsMargins(4, 2, 4, 2)
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 6)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
        self.show_message("")

    def show_message(self, text: str, *, error: bool = True) -> None:
        """Show ``text``: an error (red) or a note of what the app did for the user."""
        self.setText(text)
        self.setToolTip(text)
        colour = "#b3261e" if error else "#1f4e79"
        self.setStyleSheet(f"QLabel {{ color: {colour}; background: {'#fdf3f2' if error else '#eef4fb'}; }}" if text else "")

    def clear(self) -> None:
        self.show_message("")


class WheelGuard(QtCore.QObject):
    """Keeps the mouse wheel for scrolling the form: a combo box, spin box, table or text view
    under the pointer takes the wheel only once it has been clicked (has focus); until then the
    wheel scrolls the panel, so scrolling a long form never edits the case by accident or
    scrolls an inner table sideways."""

    def __init__(self, root: QtWidgets.QWidget) -> None:
        super().__init__(root)
        self.root = root
        self.guard(root)

    def guard(self, widget: QtWidgets.QWidget) -> None:
        """Guard the boxes and views under ``widget`` (call again after building new ones)."""
        for child in widget.findChildren(QtWidgets.QWidget):
            if child.property("wheel_guarded"):
                continue
            if isinstance(child, (QtWidgets.QComboBox, QtWidgets.QAbstractSpinBox)):
                child.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
                child.installEventFilter(self)
            elif isinstance(child, QtWidgets.QAbstractScrollArea):
                child.viewport().installEventFilter(self)  # a view's wheel events arrive at its viewport
            else:
                continue
            child.setProperty("wheel_guarded", True)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() != QtCore.QEvent.Type.Wheel or not isinstance(watched, QtWidgets.QWidget):
            return super().eventFilter(watched, event)
        target = watched.parentWidget() if isinstance(watched.parentWidget(), QtWidgets.QAbstractScrollArea) else watched
        if target.hasFocus():
            return super().eventFilter(watched, event)
        panel = _scroll_area_around(target)
        if panel is not None and isinstance(event, QtGui.QWheelEvent) and event.angleDelta().y() != 0:
            # Only the up-and-down part: the sideways part of a touchpad's stroke scrolls nothing.
            vertical = QtGui.QWheelEvent(event.position(), event.globalPosition(), QtCore.QPoint(0, event.pixelDelta().y()),
                                         QtCore.QPoint(0, event.angleDelta().y()), event.buttons(), event.modifiers(),
                                         event.phase(), event.inverted())
            QtWidgets.QApplication.sendEvent(panel.verticalScrollBar(), vertical)
        return True  # not for the box or view under the pointer


def _scroll_area_around(widget: QtWidgets.QWidget) -> QtWidgets.QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QtWidgets.QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent
