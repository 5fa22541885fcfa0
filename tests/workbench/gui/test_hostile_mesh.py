"""The app opens meshes from other people safely: nothing beside them runs, a mesh that crashes
gmsh is an error dialog (the app lives on), and Cancel stops meshing at once."""

from __future__ import annotations

import time

import pytest
from PySide6 import QtWidgets

from engine.mesh.io import read_mesh, write_mesh
from engine.resources import resource_path
from tests.engine.mesh.test_mesh_hostile import GMSH_SEGFAULT, GMSH_VARIANTS, plant_option_scripts

from .conftest import wait_job


@pytest.mark.parametrize("version,binary", GMSH_VARIANTS)
def test_opening_a_gmsh_mesh_runs_nothing_beside_it(qtbot, window, tmp_path, version, binary):
    path = tmp_path / "shared.msh"
    write_mesh(read_mesh(resource_path("meshes/plate_with_hole.msh")), path, fmt=version, binary=binary)
    marker = tmp_path / "pwned"
    plant_option_scripts(tmp_path, path.name, marker)
    assert window.open_mesh(path)
    assert wait_job(qtbot, window) == "returned"
    assert "hole" in window.session.mesh.regions
    assert not marker.exists()


def test_a_mesh_that_crashes_gmsh_is_an_error_and_the_app_carries_on(qtbot, window, tmp_path):
    path = tmp_path / "cut.msh"
    path.write_text(GMSH_SEGFAULT)
    assert window.open_mesh(path)
    assert wait_job(qtbot, window) == "errored"
    dialog = window.error_dialog
    assert isinstance(dialog, QtWidgets.QMessageBox) and dialog.isVisible()
    assert "cut.msh" in dialog.text() and "crashed" in dialog.text()
    dialog.accept()
    assert window.open_mesh(resource_path("meshes/l_bracket.inp"))
    assert wait_job(qtbot, window) == "returned"
    assert window.session.mesh.n_cells > 0


def test_cancel_stops_meshing_at_once(qtbot, window):
    window.new_case()
    wait_job(qtbot, window)
    assert window.editor.edit("fine mesh", lambda d: d.setdefault("mesh", {}).__setitem__("size", 0.0025)) is None
    outcomes = []
    window.jobFinished.connect(lambda *args: outcomes.append(args))
    assert window.mesh_case() is not None
    qtbot.wait(1500)  # gmsh is meshing some 370 000 triangles (15 s)
    assert not outcomes
    start = time.monotonic()
    window.cancel_job()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=5000)
    assert outcomes[0][1] == "cancelled" and time.monotonic() - start < 5
