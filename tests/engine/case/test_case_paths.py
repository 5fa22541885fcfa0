"""Paths inside case files: ``~`` is the home folder (never a folder beside the case), and a ``~``
that cannot be expanded is bad input naming the case file and the path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.case import load_case
from engine.errors import CaseError
from engine.problem import Problem

ROOT = Path(__file__).resolve().parents[3]
CHECKERBOARD = ROOT / "resources" / "meshes" / "darcy_checkerboard.vtu"
NO_SUCH_USER = "~no_such_user_3f9a"

CASE = """
version = 1
[geometry]
file = "{mesh}"
[physics]
kind = "diffusion"
k = {{ file = "{field}", field = "k" }}
f = 1.0
[[boundary]]
region = ["left", "right", "bottom", "top"]
type = "dirichlet"
value = 0.0
"""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home folder holding the mesh, and a case folder elsewhere."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(CHECKERBOARD, home / "k.vtu")
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "cases").mkdir()
    return home


def _case(folder: Path, mesh: str, field: str) -> Path:
    path = folder / "cases" / "case.toml"
    path.write_text(CASE.format(mesh=mesh, field=field), encoding="utf-8")
    return path


def test_tilde_in_mesh_and_field_files_is_the_home_folder(home):
    case = load_case(_case(home.parent, "~/k.vtu", "~/k.vtu"))
    assert case.resolve("~/k.vtu") == home / "k.vtu"
    assert case.resolve("k.vtu") == home.parent / "cases" / "k.vtu"
    assert case.resolve(str(home / "k.vtu")) == home / "k.vtu"
    problem = Problem.from_case(case)
    assert problem.mesh.n_cells > 0 and "physics.k" in problem.coefficients


@pytest.mark.parametrize("which", ["mesh", "field"])
def test_a_tilde_naming_no_user_is_bad_input_naming_the_case_and_the_path(which, home):
    bad = f"{NO_SUCH_USER}/k.vtu"
    source = _case(home.parent, bad if which == "mesh" else "~/k.vtu", bad if which == "field" else "~/k.vtu")
    with pytest.raises(CaseError) as info:
        Problem.from_case(load_case(source))
    err = info.value
    assert err.exit_code == 2 and err.source == str(source) and err.value == bad
    assert f"cannot expand '{NO_SUCH_USER}': there is no user '{NO_SUCH_USER[1:]}' on this machine" in str(err)


def test_resolve_names_the_field_it_was_given(home):
    case = load_case(_case(home.parent, "~/k.vtu", "~/k.vtu"))
    with pytest.raises(CaseError, match=rf"case.toml: geometry.file: cannot expand '{NO_SUCH_USER}'"):
        case.resolve(f"{NO_SUCH_USER}/m.msh", field="geometry.file")
