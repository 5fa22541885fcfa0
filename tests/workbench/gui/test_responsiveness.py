"""A big answer does not freeze the window: what is slow to show it (grids, the comparison, line
profiles, the error histogram; of a new mesh, the panels' checks and statistics) is built on the
worker, and each view draws it once.

How long the event loop actually stalls is machine-dependent; benchmarks/app_responsiveness.py
measures it (benchmarks/RESULTS.md has the figures).
"""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np
import pytest

from engine.resources import resource_path

from .conftest import wait_job

#: (module, name) of what is slow for a big mesh, wherever the app's code looks it up.
SLOW = [
    ("engine.visual", "to_grid"),
    ("engine.visual", "mesh_surface"),
    ("engine.visual", "edge_grid"),
    ("workbench.gui.views", "to_grid"),
    ("workbench.gui.views", "mesh_surface"),
    ("workbench.gui.views", "edge_grid"),
    ("engine.comparison", "compare"),
    ("workbench.gui.session", "compare"),
    ("engine.comparison", "line_profile"),
    ("workbench.gui.plots", "line_profile"),
    ("numpy", "histogram"),
]


#: What the Case and Mesh panels work out of a new mesh: the case bound to it (its checks, the
#: probes located), whether each model can answer it, the mesh's statistics.
MESH_CHECKS = [
    ("engine.problem", "check_problem"),
    ("engine.problem", "locate_points"),
    ("engine.surrogates.solver", "check_compatible"),
    ("workbench.gui.mesh_panel", "mesh_statistics"),
]


def _record_on_gui_thread(monkeypatch, functions) -> dict[str, int]:
    """Which of ``functions`` ran on the GUI thread (name -> count) while the test runs."""
    import importlib

    seen: dict[str, int] = defaultdict(int)
    for module_name, name in functions:
        module = importlib.import_module(module_name)
        original = getattr(module, name, None)
        if original is None:
            continue

        def wrapped(*args, _original=original, _name=name, **kwargs):
            if threading.current_thread() is threading.main_thread():
                seen[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)
    return seen


@pytest.fixture
def calls_on_gui_thread(monkeypatch):
    """Which of SLOW ran on the GUI thread (name -> count) while the fixture is active."""
    return _record_on_gui_thread(monkeypatch, SLOW)


@pytest.fixture
def checks_on_gui_thread(monkeypatch):
    """Which of MESH_CHECKS ran on the GUI thread (name -> count) while the fixture is active."""
    return _record_on_gui_thread(monkeypatch, MESH_CHECKS)


def _count_renders(view) -> dict[str, int]:
    count = {"n": 0}

    def counted(*_):
        count["n"] += 1

    view.plotter.ren_win.AddObserver("EndEvent", counted)
    return count


def _answer(qtbot, window, start) -> dict[str, int]:
    """Start a job and wait until its answer is shown and drawn; renders per shown view."""
    views = {"mesh": window.mesh_view, "result": window.result_view, "compare": window.compare_view}
    qtbot.wait(200)  # what earlier changes asked to be drawn is drawn before counting
    counts = {name: _count_renders(view) for name, view in views.items()}
    assert start() is not None
    assert wait_job(qtbot, window) == "returned"
    qtbot.wait(300)  # the paints that follow the answer
    return {name: counts[name]["n"] for name, view in views.items() if view.isVisible()}


def test_a_big_answer_is_prepared_on_the_worker_and_drawn_once(qtbot, window, calls_on_gui_thread):
    assert window.open_case(resource_path("examples/darcy_unit_square.toml"), mesh=False)
    assert window.editor.edit("a finer mesh", lambda d: d["mesh"].update(size=1 / 200, structured=True)) is None
    calls_on_gui_thread.clear()

    renders = _answer(qtbot, window, window.mesh_case)
    mesh = window.session.mesh
    assert mesh.n_cells == 80_000
    assert window.mesh_view.plotter.renderer.actors["mesh"].mapper.dataset.n_cells == mesh.n_cells
    assert renders == {"mesh": 1}

    renders = _answer(qtbot, window, lambda: window.run("classical"))
    u = window.session.results["classical"].fields["u"].values
    assert window.result_view.plotter.renderer.actors["field"].mapper.scalar_range == pytest.approx((u.min(), u.max()))
    assert np.isfinite(window.line_plot.profiles["classical"]).sum() > 100
    assert renders == {"result": 1}

    renders = _answer(qtbot, window, lambda: window.run("both"))
    comparison = window.session.comparison
    assert comparison is not None and comparison.metrics["u"]["relative_l2"] < 0.1
    view = window.compare_view
    for index, label in enumerate(view.LABELS):
        assert view.plotter.renderers[index].actors[label].mapper.dataset.n_points == mesh.n_points
    assert window.histogram.counts.sum() == mesh.n_points
    assert set(window.line_plot.profiles) == {"classical", "surrogate"}
    assert renders == {"compare": 1}

    assert dict(calls_on_gui_thread) == {}, "slow steps ran on the GUI thread"


def test_a_new_mesh_is_checked_on_the_worker(qtbot, window, checks_on_gui_thread):
    """The panels' work on a new mesh (the case bound to it, each model's compatibility, the
    statistics) is done by the mesh job; what the panels show is the same."""
    assert window.open_case(resource_path("examples/darcy_unit_square.toml"), mesh=False)
    assert window.editor.edit("a small mesh", lambda d: d["mesh"].update(size=1 / 40, structured=True)) is None
    checks_on_gui_thread.clear()

    assert window.mesh_case() is not None
    assert wait_job(qtbot, window) == "returned"
    assert dict(checks_on_gui_thread) == {}, "the panels' checks of the new mesh ran on the GUI thread"
    mesh, panel = window.session.mesh, window.case_panel
    assert mesh.n_cells == 3200
    assert "This model can answer this case" in panel.compatibility.text()
    assert panel.models_status.text().startswith("Can answer this case: ") and "darcy-fno" in panel.models_status.text()
    assert panel.incompatible == [] and window.act_run_both.isEnabled()
    statistics = window.mesh_panel.statistics.text()
    assert "<b>1681</b> points, <b>3200</b> cells (3200 triangle), 2D" in statistics
    assert "edge length 0.025 .. 0.0354" in statistics

    # The case edited while it is meshed: what the job checked is of the case before, so the
    # panel checks the case it has (u = 1 on the boundary: the model assumes u = 0).
    assert window.editor.edit("coarser", lambda d: d["mesh"].update(size=1 / 20)) is None
    assert window.mesh_case() is not None
    assert window.editor.edit("u = 1", lambda d: d["boundary"][0].update(value=1.0)) is None
    assert wait_job(qtbot, window) == "returned"
    assert window.session.mesh.n_cells == 800
    assert "cannot answer" in panel.compatibility.text() and "u = 0" in panel.compatibility.text()
    assert panel.incompatible and not window.act_run_both.isEnabled()
    assert "<b>441</b> points, <b>800</b> cells" in window.mesh_panel.statistics.text()
