"""The VTK views render on demand: nothing is drawn while the app is idle (no render timer)."""

from __future__ import annotations

from engine.resources import resource_path

from .conftest import wait_job


def _count_renders(view) -> dict[str, int]:
    count = {"n": 0}

    def counted(*_):
        count["n"] += 1

    view.plotter.ren_win.AddObserver("EndEvent", counted)
    return count


def test_idle_views_do_not_render(qtbot, window):
    assert window.open_case(resource_path("examples/darcy_unit_square.toml"))
    assert wait_job(qtbot, window) == "returned"
    window.run("classical")
    assert wait_job(qtbot, window) == "returned"
    qtbot.wait(500)  # let the result's own draws and paint events settle
    views = [window.mesh_view, window.result_view, window.compare_view]
    counts = [_count_renders(view) for view in views]
    qtbot.wait(1500)  # pyvistaqt's default timer would have drawn each visible view 7 times
    assert [c["n"] for c in counts] == [0, 0, 0]
    # An explicit change still draws at once.
    window.result_view.reset_camera()
    assert counts[1]["n"] >= 1
