"""A mesh folder from someone else runs nothing, from every command that reads a mesh."""

from __future__ import annotations

import pytest

from engine.mesh.io import read_mesh, write_mesh
from tests.engine.mesh.test_mesh_hostile import GMSH_SEGFAULT, GMSH_VARIANTS, plant_option_scripts
from tests.workbench.test_cli import assert_clean_failure, workbench

CASE = """version = 1
[geometry]
file = "shared.msh"
[physics]
kind = "diffusion"
k = 1.0
f = 1.0
[[boundary]]
region = ["left", "right"]
type = "dirichlet"
value = 0.0
"""


@pytest.fixture
def shared_folder(tmp_path, resources, request):
    """A received folder: a gmsh mesh (in each variant), a case using it, hostile option files."""
    version, binary = request.param
    write_mesh(read_mesh(resources / "meshes" / "plate_with_hole.msh"), tmp_path / "shared.msh", fmt=version, binary=binary)
    (tmp_path / "case.toml").write_text(CASE)
    marker = tmp_path / "pwned"
    plant_option_scripts(tmp_path, "shared.msh", marker)
    return tmp_path, marker


@pytest.mark.parametrize("shared_folder", GMSH_VARIANTS, indirect=True, ids=[f"{v}-{'bin' if b else 'ascii'}" for v, b in GMSH_VARIANTS])
def test_commands_that_read_a_gmsh_mesh_run_nothing_beside_it(shared_folder):
    folder, marker = shared_folder
    done = workbench("mesh", "info", "shared.msh", cwd=folder)
    assert done.returncode == 0 and "hole" in done.stdout, done.stderr
    done = workbench("mesh", "convert", "shared.msh", "copy.vtu", cwd=folder)
    assert done.returncode == 0, done.stderr
    done = workbench("case", "check", "case.toml", cwd=folder)
    assert done.returncode == 0, done.stderr
    done = workbench("run", "case.toml", "--out", "out", "--solver", "classical", "--quiet", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "out" / "classical.vtu").is_file()
    assert not marker.exists()


def test_a_mesh_that_crashes_gmsh_is_exit_2_naming_the_file(tmp_path):
    (tmp_path / "cut.msh").write_text(GMSH_SEGFAULT)
    done = workbench("mesh", "info", "cut.msh", cwd=tmp_path)
    assert_clean_failure(done, 2, "cut.msh: the gmsh reader crashed on this file with a segmentation fault (SIGSEGV)")
