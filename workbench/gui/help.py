"""The Help window: the user guide (the Markdown pages of ``docs/``) and the keyboard shortcuts.

The pages are the same files the repository and the installer ship, so the help never drifts
from the documentation; the shortcuts page is built from the window's own actions.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from engine.resources import docs_dir

__all__ = ["HelpWindow", "guide_pages", "SHORTCUTS"]

#: The title of the page built from the window's actions.
SHORTCUTS = "Keyboard shortcuts"
#: Pages in reading order; any other page of docs/ follows in name order.
_ORDER = ("case-format.md", "study-format.md", "command-line.md", "limits.md")


def guide_pages(folder: Path | None = None) -> list[tuple[str, Path]]:
    """(title, path) of each page of the user guide: its first heading names it."""
    folder = docs_dir() if folder is None else folder
    paths = sorted(folder.glob("*.md"), key=lambda p: (_ORDER.index(p.name) if p.name in _ORDER else len(_ORDER), p.name))
    pages = []
    for path in paths:
        first = path.read_text(encoding="utf-8").lstrip().splitlines()[:1]
        title = first[0].lstrip("#").strip().replace("`", "") if first and first[0].startswith("#") else path.stem
        pages.append((title, path))
    return pages


def shortcuts_html(actions: list[QtGui.QAction]) -> str:
    """A table of every action that has a shortcut, in the platform's notation."""
    rows = []
    for action in actions:
        keys = ", ".join(k.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
        if keys:
            rows.append(f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(action.text().replace('&', ''))}</td></tr>")
    return (f"<h1>{SHORTCUTS}</h1><table cellpadding='4'>{''.join(rows)}</table>"
            "<p>In a view: drag to rotate (3D) or pan (2D), wheel to zoom, R to reset the camera.</p>")


class HelpWindow(QtWidgets.QDialog):
    """Topics on the left, the page on the right; links between pages stay in the window."""

    def __init__(self, actions: list[QtGui.QAction], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Simulation Workbench help")
        self.resize(980, 700)
        self.topics = QtWidgets.QListWidget(self)
        self.topics.setWordWrap(True)
        self.topics.setMaximumWidth(260)
        self.page = QtWidgets.QTextBrowser(self)
        self.page.setOpenExternalLinks(True)
        self.page.setSearchPaths([str(docs_dir())])  # relative links and images resolve in docs/
        layout = QtWidgets.QHBoxLayout(self)
        layout.addWidget(self.topics)
        layout.addWidget(self.page, 1)
        self._shortcuts = shortcuts_html(actions)
        self._pages = guide_pages()
        for title, _ in self._pages:
            self.topics.addItem(title)
        self.topics.addItem(SHORTCUTS)
        self.topics.currentRowChanged.connect(self._show)
        if not self._pages:
            self.page.setPlainText(f"The user guide was not found in {docs_dir()}: reinstall the workbench.")
        self.topics.setCurrentRow(0)

    def show_topic(self, title: str) -> None:
        items = self.topics.findItems(title, QtCore.Qt.MatchFlag.MatchExactly)
        if not items:
            raise KeyError(f"no help topic {title!r}; expected one of {[self.topics.item(i).text() for i in range(self.topics.count())]}")
        self.topics.setCurrentItem(items[0])

    def _show(self, row: int) -> None:
        if 0 <= row < len(self._pages):
            self.page.setSource(QtCore.QUrl.fromLocalFile(str(self._pages[row][1])), QtGui.QTextDocument.ResourceType.MarkdownResource)
        elif row == len(self._pages):
            self.page.setHtml(self._shortcuts)
