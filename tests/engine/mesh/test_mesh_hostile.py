"""Hostile mesh files: nothing beside a mesh is read or run, readers crash or hang in a child
process only, and referred or oversized files are refused before a reader sees them."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import meshio
import numpy as np
import pytest

from engine.errors import Cancelled, InputError, MeshError
from engine.mesh.geometry import build_mesh
from engine.mesh.io import read_mesh, write_mesh
from engine.mesh.isolation import run_isolated

#: A Gmsh 2.2 file with one node line cut short (found by fuzzing): gmsh 4.15's reader
#: segfaults on it, which killed the whole program before readers ran in a child process.
GMSH_SEGFAULT = """$MeshFormat
2.2 0 8
$EndMeshFormat
$PhysicalNames
5
1 1 "left"
1 2 "right"
1 3 "bottom"
1 4 "top"
2 5 "domain"
$EndPhysicalNames
$Nodes
12
1 0 0 0
2 1 0 0
3 1 1 0
4 0 1 0
5 0.5 0 0
6 1 0.5 0
7 0.5 1 0
8 0 0.5 0
9 0.75 0.75 0
10 0.625 0.3749999999999999 0
11 0.2812499999999999 0.281249999990
12 0.345703125 0.654296875 0
$EndNodes
$Elements
22
1 1 2 3 1 1 5
2 1 2 3 1 5 2
3 1 2 1 2 4 8
4 1 2 1 2 8 1
5 1 2 2 3 2 6
6 1 2 2 3 6 3
7 1 2 4 4 3 7
8 1 2 4 4 7 4
9 2 2 5 1 2 10 5
10 2 2 5 1 6 10 2
11 2 2 5 1 4 12 7
12 2 2 5 1 8 12 4
13 2 2 5 1 5 11 1
14 2 2 5 1 1 11 8
15 2 2 5 1 3 9 6
16 2 2 5 1 7 9 3
17 2 2 5 1 9 12 10
18 2 2 5 1 7 12 9
19 2 2 5 1 9 10 6
20 2 2 5 1 10 12 11
21 2 2 5 1 11 12 8
22 2 2 5 1 10 11 5
$EndElements
"""

GMSH_VARIANTS = [("msh4", False), ("msh4", True), ("msh2", False), ("msh2", True)]


def plant_option_scripts(folder: Path, mesh_name: str, marker: Path) -> None:
    """Every file gmsh might merge beside ``mesh_name``, each running a shell command."""
    script = f'SystemCall "touch {marker}";\nSystem "touch {marker}";\n'
    for name in (f"{mesh_name}.opt", f"{Path(mesh_name).stem}.opt", f"{Path(mesh_name).stem}.geo", "mesh.msh.opt"):
        (folder / name).write_text(script)


@pytest.fixture
def hostile_home(tmp_path, monkeypatch):
    """A HOME whose gmsh configuration files run a shell command; the marker says if they ran."""
    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "ran_from_home"
    for name in (".gmshrc", ".gmsh-options", ".gmsh-tmp"):
        (home / name).write_text(f'SystemCall "touch {marker}";\n')
    monkeypatch.setenv("HOME", str(home))
    return marker


@pytest.fixture(scope="module")
def square():
    return build_mesh("unit_square", size=0.5)


@pytest.mark.parametrize("version,binary", GMSH_VARIANTS)
def test_an_option_file_beside_a_gmsh_mesh_runs_nothing(tmp_path, square, hostile_home, version, binary):
    path = tmp_path / "shared.msh"
    write_mesh(square, path, fmt=version, binary=binary)
    marker = tmp_path / "ran_from_sidecar"
    plant_option_scripts(tmp_path, path.name, marker)
    mesh = read_mesh(path)
    assert mesh.n_cells == square.n_cells and set(mesh.regions) == set(square.regions)
    assert not marker.exists() and not hostile_home.exists()


def test_gmsh_content_under_any_name_reaches_gmsh_under_a_plain_one(tmp_path, square):
    # gmsh unpacks a file named *.gz through the shell ("gunzip -c NAME > ..."): a hostile
    # name never reaches it, whatever the format asked for.
    path = tmp_path / "evil.gz"
    write_mesh(square, tmp_path / "plain.msh")
    (tmp_path / "plain.msh").rename(path)
    assert read_mesh(path, fmt="gmsh").n_cells == square.n_cells
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.gz"]


def test_built_in_meshing_reads_no_gmsh_configuration_and_writes_nothing_at_home(hostile_home):
    home = Path(os.environ["HOME"])
    before = sorted(home.rglob("*"))
    assert build_mesh("disk", size=0.5).n_cells > 0
    assert not hostile_home.exists()
    assert sorted(home.rglob("*")) == before  # gmsh's FLTK writes ~/.fltk/... when it starts


def test_a_geo_script_is_not_read_as_a_mesh_even_when_asked_for_gmsh(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text(f'System "touch {tmp_path / "pwned"}";\nPoint(1) = {{0, 0, 0}};\n')
    with pytest.raises(MeshError, match="not a Gmsh mesh file"):
        read_mesh(path, fmt="gmsh")
    assert not (tmp_path / "pwned").exists()


# -- the child process ------------------------------------------------------------------------


def _segfault() -> None:
    ctypes.string_at(0)


def _abort_with_last_words() -> None:
    os.write(2, b"reader: double free or corruption (out)\n")
    os.abort()


def _sleep(seconds: float):
    time.sleep(seconds)


def _allocate(gib: int):
    return np.ones(gib << 27)  # 8-byte numbers


def _crash_error(how: str) -> MeshError:
    return MeshError(f"the reader crashed with {how}", source="crash.msh")


def test_a_reader_that_crashes_is_bad_input_naming_the_file():
    with pytest.raises(MeshError, match=r"crash\.msh: the reader crashed with a segmentation fault \(SIGSEGV\)"):
        run_isolated(_segfault, (), seconds="read_seconds", doing="reading the file", crashed=_crash_error)
    assert read_mesh_still_works()


def test_a_reader_that_aborts_is_quoted_not_printed_over_the_terminal(capfd):
    with pytest.raises(MeshError, match=r"an abort \(SIGABRT: reader: double free or corruption \(out\)\)"):
        run_isolated(_abort_with_last_words, (), seconds="read_seconds", doing="reading the file", crashed=_crash_error)
    assert "double free" not in capfd.readouterr().err


def test_a_gmsh_file_that_crashes_gmsh_is_bad_input_naming_it(tmp_path):
    path = tmp_path / "cut.msh"
    path.write_text(GMSH_SEGFAULT)
    with pytest.raises(MeshError, match=r"cut\.msh: the gmsh reader crashed on this file with a segmentation fault \(SIGSEGV\)"):
        read_mesh(path)
    assert read_mesh_still_works()


def read_mesh_still_works() -> bool:
    return build_mesh("unit_square", size=0.5).n_cells > 0


def test_a_reader_that_hangs_is_stopped_at_the_time_limit(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LIMIT_READ_SECONDS", "0.5")
    start = time.monotonic()
    with pytest.raises(InputError, match=r"x\.msh: reading the file exceeds the limit .*at most 0\.5 s \(WORKBENCH_LIMIT_READ_SECONDS raises"):
        run_isolated(_sleep, (60,), seconds="read_seconds", doing="reading the file", crashed=_crash_error, source="x.msh")
    assert time.monotonic() - start < 5


def test_a_reader_that_wants_too_much_memory_is_refused(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LIMIT_CHILD_MEMORY_BYTES", str(3 << 30))
    with pytest.raises(MeshError, match=r"needs more memory than a reader may take.*WORKBENCH_LIMIT_CHILD_MEMORY_BYTES"):
        run_isolated(_allocate, (64,), seconds="read_seconds", doing="reading the file", crashed=_crash_error, source="big.msh")


def test_cancel_stops_the_child_at_once():
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled, match="meshing was cancelled"):
        run_isolated(_sleep, (60,), seconds="mesh_seconds", doing="meshing", crashed=_crash_error, cancel=cancel)
    assert time.monotonic() - start < 5


def test_errors_cross_back_with_their_parts():
    with pytest.raises(InputError) as info:
        build_mesh("disk", {"radius": -1})
    assert info.value.field == "geometry.parameters.radius"
    square = build_mesh("l_shape", size=0.25)
    assert square.points.shape[1] == 2 and "domain" in square.regions


def test_a_script_without_a_main_guard_meshes_once(tmp_path):
    # Children of multiprocessing re-run the main script unless told not to: a user's script
    # calling the engine at top level must not mesh again, recursively, in the child.
    script = tmp_path / "script.py"
    script.write_text("from engine.mesh.geometry import build_mesh\nprint('cells', build_mesh('unit_square', size=0.5).n_cells)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cells", "14"]


# -- files a mesh refers to; sizes and content ------------------------------------------------


def _abaqus(folder: Path, body: str) -> Path:
    path = folder / "model.inp"
    path.write_text("*HEADING\nhostile\n" + body)
    return path


def _read_in_subprocess(path: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    """read_mesh in a fresh interpreter: a reader that hangs fails the test instead of hanging it."""
    code = "import sys\nfrom engine.mesh.io import read_mesh\nfrom engine.errors import MeshError\n" \
           "try:\n    read_mesh(sys.argv[1])\nexcept MeshError as e:\n    print(e)\n    sys.exit(2)\n"
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})


def test_an_abaqus_include_of_a_named_pipe_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe.inp")
    path = _abaqus(tmp_path, "*INCLUDE, INPUT=pipe.inp\n")
    done = _read_in_subprocess(path)
    assert done.returncode == 2 and "pipe.inp: not a regular file (a named pipe)" in done.stdout


def test_abaqus_includes_in_a_loop_or_of_other_formats_are_refused(tmp_path):
    (tmp_path / "a.inp").write_text("*INCLUDE, INPUT=b.inp\n")
    (tmp_path / "b.inp").write_text("*include, input=a.inp\n")
    with pytest.raises(MeshError, match="include each other in a loop"):
        read_mesh(_abaqus(tmp_path, "*INCLUDE, INPUT=a.inp\n"))
    (tmp_path / "x.msh").write_text("$MeshFormat\n")
    with pytest.raises(MeshError, match=r"\*INCLUDE in model.inp: an \*INCLUDE names a file that is not an Abaqus input: got 'x.msh'"):
        read_mesh(_abaqus(tmp_path, "*INCLUDE, INPUT=x.msh\n"))


def test_abaqus_includes_count_towards_the_size_limit_and_still_read(tmp_path, monkeypatch, resources):
    nodes = (resources / "meshes" / "l_bracket.inp").read_text()
    (tmp_path / "part.inp").write_text(nodes)
    path = _abaqus(tmp_path, "*INCLUDE, INPUT=part.inp\n")
    reference = read_mesh(resources / "meshes" / "l_bracket.inp")
    assert read_mesh(path).n_cells == reference.n_cells
    monkeypatch.setenv("WORKBENCH_LIMIT_MESH_TEXT_BYTES", str(len(nodes) // 2))
    with pytest.raises(MeshError, match=r"model\.inp: the file and its \*INCLUDE files are too large together.*WORKBENCH_LIMIT_MESH_TEXT_BYTES"):
        read_mesh(path)


def test_xdmf_heavy_data_must_be_regular_files(tmp_path):
    os.mkfifo(tmp_path / "points.bin")
    xdmf = tmp_path / "m.xdmf"
    xdmf.write_text(
        '<?xml version="1.0"?>\n<Xdmf Version="3.0"><Domain><Grid Name="g">'
        '<Topology TopologyType="Triangle" NumberOfElements="1"><DataItem Dimensions="1 3" Format="XML">0 1 2</DataItem></Topology>'
        f'<Geometry GeometryType="XYZ"><DataItem Dimensions="3 3" Format="Binary">{tmp_path / "points.bin"}</DataItem></Geometry>'
        "</Grid></Domain></Xdmf>\n"
    )
    done = _read_in_subprocess(xdmf)
    assert done.returncode == 2 and "points.bin: not a regular file (a named pipe)" in done.stdout
    xdmf.write_text(xdmf.read_text().replace('Format="Binary">' + str(tmp_path / "points.bin"), 'Format="HDF">other.h5:/points'))
    (tmp_path / "other.h5").write_text("not hdf5")
    with pytest.raises(MeshError, match=r"other\.h5: the file an XDMF DataItem names is not HDF5"):
        read_mesh(xdmf)


def test_text_meshes_over_the_text_limit_are_refused_binary_ones_have_their_own(tmp_path, square, monkeypatch):
    write_mesh(square, tmp_path / "text.msh", binary=False)
    write_mesh(square, tmp_path / "bin.msh", binary=True)
    write_mesh(square, tmp_path / "text.vtk", binary=False)
    monkeypatch.setenv("WORKBENCH_LIMIT_MESH_TEXT_BYTES", "500")
    for name in ("text.msh", "text.vtk"):
        with pytest.raises(MeshError, match=rf"{name}: the file is too large for a text mesh .*at most 500 bytes \(WORKBENCH_LIMIT_MESH_TEXT_BYTES raises"):
            read_mesh(tmp_path / name)
    assert read_mesh(tmp_path / "bin.msh").n_cells == square.n_cells
    monkeypatch.setenv("WORKBENCH_LIMIT_MESH_BINARY_BYTES", "500")
    with pytest.raises(MeshError, match=r"bin\.msh: the file is too large for a binary mesh"):
        read_mesh(tmp_path / "bin.msh")


@pytest.mark.parametrize(
    "suffix,expected",
    [(".vtk", "not a legacy VTK file"), (".vtu", "not an XML VTU file"), (".xdmf", "not an XML XDMF file"),
     (".med", "not a MED (HDF5) file"), (".stl", "not an STL file"), (".msh", "not a Gmsh mesh file")],
)
def test_content_must_match_the_suffix(tmp_path, square, suffix, expected):
    write_mesh(square, tmp_path / "real.inp")
    path = tmp_path / f"renamed{suffix}"
    (tmp_path / "real.inp").rename(path)
    with pytest.raises(MeshError, match=rf"renamed\{suffix}: {re.escape(expected)}: got '\*HEADING'"):
        read_mesh(path)


def test_a_corrupt_stl_prints_no_numpy_warning(tmp_path, capfd):
    path = tmp_path / "junk.stl"
    path.write_bytes(b"\xff" * 84 + b"\x00" * 10)
    with pytest.raises(MeshError, match="not an STL file"):
        read_mesh(path)
    assert capfd.readouterr().err == ""


def test_meshes_keep_their_data_through_the_child(tmp_path):
    points = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    raw = meshio.Mesh(points, [("triangle", np.array([[0, 1, 2]]))], point_data={"T": np.array([1.0, 2.0, 3.0])},
                      cell_data={"k": [np.array([12.0])], "region:inside": [np.array([1])]})
    meshio.write(tmp_path / "data.vtu", raw)
    mesh = read_mesh(tmp_path / "data.vtu")
    assert mesh.point_data["T"].tolist() == [1.0, 2.0, 3.0] and mesh.cell_data["k"]["triangle"].tolist() == [12.0]
    assert mesh.regions["inside"].cells["triangle"].tolist() == [0] and mesh.source == str(tmp_path / "data.vtu")
