"""Help > User guide: the docs pages and the window's own keyboard shortcuts, in the app."""

from __future__ import annotations

from engine.resources import docs_dir
from workbench.gui.help import SHORTCUTS, guide_pages


def test_every_docs_page_is_a_help_topic():
    titles = [title for title, _ in guide_pages()]
    assert titles[0] == "Case files (format version 1)"  # the case format comes first
    assert len(titles) == len(list(docs_dir().glob("*.md")))


def test_the_help_menu_shows_the_case_format_and_the_shortcuts(qtbot, window):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in help_menu.actions()] == ["User guide", "About"]
    window.act_help.trigger()
    dialog = window.help_window
    assert dialog.isVisible()
    topics = [dialog.topics.item(i).text() for i in range(dialog.topics.count())]
    assert topics[-1] == SHORTCUTS and "Case files (format version 1)" in topics
    assert "Unknown keys are errors" in dialog.page.toPlainText()  # the case format page, rendered
    dialog.show_topic(SHORTCUTS)
    text = dialog.page.toPlainText()
    for action in (window.act_run_classical, window.act_run_both, window.act_cancel, window.act_mesh):
        assert action.shortcut().toString() in text and action.text() in text
