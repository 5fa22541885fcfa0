"""Mesh files: every format reads, writes and reads back with its regions; bad files are refused."""

from __future__ import annotations

from pathlib import Path

import meshio
import numpy as np
import pytest

from engine.errors import MeshError, RegionError
from engine.mesh import Mesh, Region, read_mesh, write_mesh

SQUARE_REGIONS = {"domain", "bottom", "bottom_right", "top", "PhysicalLine7", "corner"}


def region_sets(mesh: Mesh) -> dict[str, set[tuple[int, ...]]]:
    """Each region as a set of sorted point tuples: comparable across files whatever the cell order."""
    out = {}
    for name, region in mesh.regions.items():
        if region.points is not None:
            out[name] = {(int(p),) for p in region.points}
        else:
            out[name] = {tuple(sorted(c)) for conn in mesh.region_cells(name).values() for c in conn.tolist()}
    return out


def assert_same_mesh(a: Mesh, b: Mesh, *, regions: bool = True) -> None:
    """Same points in the same order, and the same cells (node order within each cell kept).

    Cell order may differ: Gmsh files group cells by the regions they belong to.
    """
    assert a.points.shape == b.points.shape
    np.testing.assert_allclose(a.points, b.points, rtol=0, atol=1e-12)
    assert set(a.cells) == set(b.cells)
    for ctype in a.cells:
        assert a.cells[ctype].shape == b.cells[ctype].shape
        assert {tuple(c) for c in a.cells[ctype].tolist()} == {tuple(c) for c in b.cells[ctype].tolist()}
    if regions:
        assert region_sets(a) == region_sets(b)


@pytest.mark.parametrize("name", ["square_v2.2_ascii", "square_v2.2_bin", "square_v4.1_ascii", "square_v4.1_bin"])
def test_gmsh_versions_read_with_named_regions(gmsh_files, name):
    mesh = read_mesh(gmsh_files[name])
    assert mesh.dim == 2 and mesh.gdim == 2
    assert set(mesh.regions) == SQUARE_REGIONS
    # bottom_right holds bottom: the element shared by two groups is one cell in both regions
    assert region_sets(mesh)["bottom"] < region_sets(mesh)["bottom_right"]
    assert mesh.regions["corner"].dim == 0 and "vertex" not in mesh.cells
    np.testing.assert_array_equal(mesh.points[mesh.region_points("corner")], [[0.0, 0.0]])
    # Gmsh 2.2 repeats a shared element per group; the reader keeps one copy
    n_lines = len(mesh.cells["line"])
    assert n_lines == len(np.unique(np.sort(mesh.cells["line"], axis=1), axis=0))
    bottom = mesh.points[mesh.region_points("bottom")]
    np.testing.assert_allclose(bottom[:, 1], 0.0)
    area = _area(mesh)
    assert area == pytest.approx(1.0)


def test_all_gmsh_versions_agree(gmsh_files):
    meshes = [read_mesh(gmsh_files[n]) for n in ("square_v2.2_ascii", "square_v2.2_bin", "square_v4.1_ascii", "square_v4.1_bin")]
    for other in meshes[1:]:
        assert_same_mesh(meshes[0], other)


def _cross2(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0] if u.shape[1] == 2 else np.linalg.norm(np.cross(u, v), axis=1)


def _area(mesh: Mesh) -> float:
    total = 0.0
    for ctype, conn in mesh.domain_cells.items():
        p = mesh.points
        if ctype.startswith("triangle"):
            a, b, c = p[conn[:, 0]], p[conn[:, 1]], p[conn[:, 2]]
            total += 0.5 * np.abs(_cross2(b - a, c - a)).sum()
        elif ctype.startswith("quad"):
            a, b, c, d = (p[conn[:, i]] for i in range(4))
            total += 0.5 * np.abs(_cross2(c - a, d - b)).sum()
    return total


def _volume(mesh: Mesh) -> float:
    p = mesh.points
    total = 0.0
    for ctype, conn in mesh.domain_cells.items():
        if ctype.startswith("tetra"):
            a, b, c, d = (p[conn[:, i]] for i in range(4))
            total += np.abs(np.einsum("ij,ij->i", np.cross(b - a, c - a), d - a)).sum() / 6
        elif ctype.startswith("hexahedron"):
            lo, hi = p[conn[:, :8]].min(axis=1), p[conn[:, :8]].max(axis=1)
            total += np.prod(hi - lo, axis=1).sum()  # the test's hexahedra are axis-aligned bricks
    return total


ROUND_TRIP = [
    ("out.msh", None),
    ("out.msh", "msh2"),
    ("out.vtu", None),
    ("out.vtk", None),
    ("out.xdmf", None),
    ("out.inp", None),
    ("out.med", None),
]


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize(("filename", "fmt"), ROUND_TRIP)
def test_round_trip_keeps_points_cells_and_region_names(gmsh_files, tmp_path, filename, fmt, binary):
    original = read_mesh(gmsh_files["square_v4.1_bin"])
    notes = write_mesh(original, tmp_path / filename, fmt=fmt, binary=binary)
    again = read_mesh(tmp_path / filename)
    assert notes == []
    assert_same_mesh(original, again)
    assert set(again.regions) == SQUARE_REGIONS


@pytest.mark.parametrize("kind", ["quads", "square_p2", "tetra", "tetra_p2", "hexa"])
@pytest.mark.parametrize("suffix", [".msh", ".vtu", ".xdmf", ".inp", ".med"])
def test_cell_kinds_round_trip(gmsh_files, tmp_path, kind, suffix):
    original = read_mesh(gmsh_files[kind])
    notes = write_mesh(original, tmp_path / f"out{suffix}")
    again = read_mesh(tmp_path / f"out{suffix}")
    if suffix == ".xdmf" and kind.endswith("_p2"):
        assert notes and "second-order" in notes[0]
        assert set(again.cells) == set(original.domain_cells)
        return
    assert notes == []
    assert_same_mesh(original, again)


def test_2d_quads_and_3d_cells_load_with_their_measure(gmsh_files):
    quads = read_mesh(gmsh_files["quads"])
    assert set(quads.domain_cells) == {"quad"}
    assert _area(quads) == pytest.approx(1.0)
    tetra = read_mesh(gmsh_files["tetra"])
    assert tetra.dim == 3 and set(tetra.domain_cells) == {"tetra"}
    assert _volume(tetra) == pytest.approx(1.0)
    assert set(tetra.regions) == {"solid", "xmin", "xmax"} and tetra.regions["xmin"].dim == 2
    np.testing.assert_allclose(tetra.points[tetra.region_points("xmax"), 0], 1.0)
    hexa = read_mesh(gmsh_files["hexa"])
    assert set(hexa.domain_cells) == {"hexahedron"} and len(hexa.cells["hexahedron"]) == 27
    assert _volume(hexa) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["square_p2", "tetra_p2"])
def test_second_order_nodes_follow_vtk_ordering(gmsh_files, kind):
    """Midside nodes sit at the midpoints of the edges VTK's ordering names (gmsh differs for tetra10)."""
    mesh = read_mesh(gmsh_files[kind])
    ctype, edges = ("triangle6", [(0, 1), (1, 2), (2, 0)]) if kind == "square_p2" else ("tetra10", [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)])
    conn = mesh.cells[ctype]
    n_corners = 3 if ctype == "triangle6" else 4
    for k, (i, j) in enumerate(edges):
        mid = 0.5 * (mesh.points[conn[:, i]] + mesh.points[conn[:, j]])
        np.testing.assert_allclose(mesh.points[conn[:, n_corners + k]], mid, atol=1e-12)


def test_abaqus_element_and_node_sets_become_regions(gmsh_files):
    mesh = read_mesh(gmsh_files["abaqus"])
    # gmsh writes an ELSET and an NSET per physical group; identical node sets are not repeated
    assert {"domain", "bottom", "bottom_right", "top", "PhysicalLine7"} <= set(mesh.regions)
    assert mesh.regions["domain"].dim == 2
    assert "bottom_nodes" not in mesh.regions


def test_abaqus_node_sets_round_trip(tmp_path):
    points = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    mesh = Mesh(
        points,
        {"triangle": np.array([[0, 1, 2], [0, 2, 3]])},
        [Region("plate", 2, {"triangle": np.array([0, 1])}), Region("FIXED", 0, {}, np.array([0, 3]))],
    )
    for name in ("nodes.inp", "nodes.msh", "nodes.vtu", "nodes.med"):
        again = read_mesh(write_mesh(mesh, tmp_path / name) or tmp_path / name)
        assert set(again.regions) == {"plate", "FIXED"}
        np.testing.assert_array_equal(again.region_points("FIXED"), [0, 3])


@pytest.mark.parametrize("suffix", [".stl", ".obj"])
def test_surface_formats_load_and_say_what_they_drop(gmsh_files, tmp_path, suffix):
    original = read_mesh(gmsh_files["square_v4.1_bin"])
    notes = write_mesh(original, tmp_path / f"surface{suffix}")
    assert any("region names" in n for n in notes) and any("line" in n for n in notes)
    surface = read_mesh(tmp_path / f"surface{suffix}")
    assert set(surface.cells) == {"triangle"} and surface.regions == {}
    assert _area(surface) == pytest.approx(1.0)


def test_stl_refuses_a_volume_mesh(gmsh_files, tmp_path):
    with pytest.raises(MeshError, match="STL holds surfaces only"):
        write_mesh(read_mesh(gmsh_files["hexa"]), tmp_path / "x.stl")


def test_point_and_cell_data_survive_vtu(tmp_path):
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mesh = Mesh(points, {"triangle": np.array([[0, 1, 2]])}, point_data={"T": np.array([1.0, 2.0, 3.0])}, cell_data={"k": {"triangle": np.array([12.0])}})
    write_mesh(mesh, tmp_path / "data.vtu")
    again = read_mesh(tmp_path / "data.vtu")
    np.testing.assert_allclose(again.point_data["T"], [1, 2, 3])
    np.testing.assert_allclose(again.cell_data["k"]["triangle"], [12])


def test_failed_write_keeps_the_previous_file(gmsh_files, tmp_path):
    target = tmp_path / "keep.stl"
    target.write_text("previous content")
    with pytest.raises(MeshError):
        write_mesh(read_mesh(gmsh_files["hexa"]), target)
    assert target.read_text() == "previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.stl"]


# -- bad input -------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(MeshError, match=r"nothere\.msh: file not found"):
        read_mesh(tmp_path / "nothere.msh")


def test_folder_and_unknown_suffix(tmp_path):
    (tmp_path / "dir.msh").mkdir()
    with pytest.raises(MeshError, match="not a file"):
        read_mesh(tmp_path / "dir.msh")
    (tmp_path / "mesh.xyz").write_text("1 2 3")
    with pytest.raises(MeshError, match=r"unknown mesh file type: got '\.xyz'; expected one of \.msh"):
        read_mesh(tmp_path / "mesh.xyz")


@pytest.mark.parametrize("suffix", [".msh", ".vtu", ".vtk", ".xdmf", ".inp", ".med", ".stl", ".obj"])
def test_empty_file(tmp_path, suffix):
    (tmp_path / f"empty{suffix}").write_bytes(b"")
    with pytest.raises(MeshError, match="empty"):
        read_mesh(tmp_path / f"empty{suffix}")


@pytest.mark.parametrize("suffix", [".msh", ".vtu", ".vtk", ".xdmf", ".inp", ".med", ".stl", ".obj"])
def test_corrupt_file(tmp_path, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(b"this is not a mesh \x00\x01\x02 at all\n" * 3)
    with pytest.raises(MeshError) as info:
        read_mesh(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["square_v2.2_ascii", "square_v4.1_ascii", "square_v4.1_bin", "square_v2.2_bin"])
def test_truncated_gmsh_file(gmsh_files, tmp_path, name):
    data = gmsh_files[name].read_bytes()
    path = tmp_path / "truncated.msh"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MeshError, match="truncated.msh"):
        read_mesh(path)


@pytest.mark.parametrize("suffix", [".vtu", ".inp", ".med"])
def test_truncated_meshio_file(gmsh_files, tmp_path, suffix):
    full = tmp_path / f"full{suffix}"
    write_mesh(read_mesh(gmsh_files["square_v4.1_bin"]), full)
    data = full.read_bytes()
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MeshError, match="truncated"):
        read_mesh(path)


def test_a_geo_script_named_msh_is_not_run(tmp_path):
    path = tmp_path / "evil.msh"
    path.write_text('System "touch pwned";\nPoint(1) = {0, 0, 0};\n')
    with pytest.raises(MeshError, match="not a Gmsh mesh file"):
        read_mesh(path)
    assert not (tmp_path / "pwned").exists()


def test_nan_coordinates(tmp_path):
    points = np.array([[0.0, 0.0, 0.0], [1.0, np.nan, 0.0], [0.0, 1.0, 0.0]])
    meshio.write(tmp_path / "nan.vtu", meshio.Mesh(points, [("triangle", np.array([[0, 1, 2]]))]))
    with pytest.raises(MeshError, match=r"NaN or infinite coordinates, the first is point 1"):
        read_mesh(tmp_path / "nan.vtu")


def test_unsupported_cell_type(tmp_path):
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]], dtype=float)
    meshio.write(tmp_path / "wedge.vtu", meshio.Mesh(points, [("wedge", np.array([[0, 1, 2, 3, 4, 5]]))]))
    with pytest.raises(MeshError, match=r"unsupported cell type: got 'wedge'; expected one of vertex, line"):
        read_mesh(tmp_path / "wedge.vtu")


def test_mesh_without_cells(tmp_path):
    meshio.write(tmp_path / "points.vtu", meshio.Mesh(np.zeros((3, 3)), [("vertex", np.array([[0], [1], [2]]))]))
    with pytest.raises(MeshError, match="empty"):
        read_mesh(tmp_path / "points.vtu")


def test_mesh_constructor_checks():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(MeshError, match="refer to points that do not exist"):
        Mesh(pts, {"triangle": np.array([[0, 1, 3]])})
    with pytest.raises(MeshError, match="wrong shape"):
        Mesh(pts, {"triangle": np.array([[0, 1]])})
    with pytest.raises(MeshError, match="no points"):
        Mesh(np.zeros((0, 2)), {"triangle": np.zeros((0, 3), int)})
    with pytest.raises(MeshError, match="region 'x' refers to triangle cells that do not exist"):
        Mesh(pts, {"triangle": np.array([[0, 1, 2]])}, [Region("x", 2, {"triangle": np.array([4])})])


def test_unknown_region_lists_the_known_ones(gmsh_files):
    mesh = read_mesh(gmsh_files["square_v4.1_ascii"])
    with pytest.raises(RegionError, match=r"unknown region name: got 'bottm'; expected one of 'corner', 'bottom'"):
        mesh.region_points("bottm")


def test_summary_counts(gmsh_files):
    summary = read_mesh(gmsh_files["square_v4.1_ascii"]).summary()
    assert summary["dimension"] == 2
    assert summary["bounding_box"] == {"min": [0.0, 0.0], "max": [1.0, 1.0]}
    sizes = {r["name"]: r["size"] for r in summary["regions"]}
    assert sizes["bottom_right"] == 2 * sizes["bottom"]
    assert sizes["corner"] == 1


def test_shipped_meshes_read(resources: Path):
    for path in sorted((resources / "meshes").iterdir()):
        if path.suffix in (".msh", ".inp", ".vtu", ".med"):
            mesh = read_mesh(path)
            assert mesh.regions, f"{path.name} has no named regions"
