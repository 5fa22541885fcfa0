"""Built-in parametric geometries: regions, areas, boundary placement, options and refusals."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from engine.errors import InputError
from engine.mesh.geometry import GEOMETRIES, Geometry, Parameter, Refinement, build_mesh
from engine.mesh.mesh import CELL_TYPES

# Coarse but valid sizes per geometry, so the whole file stays fast.
COARSE = {
    "unit_square": 0.25,
    "rectangle": 0.5,
    "l_shape": 0.25,
    "plate_with_hole": 0.3,
    "disk": 0.4,
    "annulus": 0.3,
    "channel_with_obstacle": 0.1,
    "elliptic_ring_sector": 0.5,
    "box": 0.5,
}


def tri_areas(mesh) -> np.ndarray:
    """Areas of the straight-sided triangles through each domain cell's corner nodes."""
    (ctype, conn), = mesh.domain_cells.items()
    p = mesh.points
    corners = conn[:, :3]
    a, b = p[corners[:, 1]] - p[corners[:, 0]], p[corners[:, 2]] - p[corners[:, 0]]
    area = 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    if ctype.startswith("quad"):  # the other half of each quad
        c = p[conn[:, 3]] - p[conn[:, 0]]
        area = area + 0.5 * np.abs(b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    return area


def boundary_length(mesh, name: str) -> float:
    conn = np.concatenate([c[:, :2] for c in mesh.region_cells(name).values()])
    seg = mesh.points[conn[:, 1]] - mesh.points[conn[:, 0]]
    return float(np.linalg.norm(seg, axis=1).sum())


def corner_points(mesh, name: str) -> np.ndarray:
    """The end points (first-order vertices) of a boundary region's line cells."""
    conn = np.concatenate([c[:, :2] for c in mesh.region_cells(name).values()])
    return mesh.points[np.unique(conn)]


def region_nodes(mesh, name: str) -> np.ndarray:
    return mesh.points[mesh.region_points(name)]


# -- catalogue -----------------------------------------------------------------------------------


def test_catalogue_metadata():
    assert set(GEOMETRIES) == set(COARSE)
    for name, geo in GEOMETRIES.items():
        assert isinstance(geo, Geometry) and geo.name == name and geo.dim in (2, 3)
        assert all(isinstance(p, Parameter) for p in geo.parameters)
        for region in geo.boundaries + geo.subdomains:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", region), region
        assert set(geo.boundary_names()) <= set(geo.boundaries)
        assert geo.characteristic_length() > 0
    assert GEOMETRIES["channel_with_obstacle"].defaults == {"length": 2.2, "height": 0.41, "cx": 0.2, "cy": 0.2, "radius": 0.05}
    le1 = GEOMETRIES["elliptic_ring_sector"].defaults
    assert (le1["a_inner"], le1["b_inner"], le1["a_outer"], le1["b_outer"]) == (2, 1, 3.25, 2.75)
    assert (le1["angle_start"], le1["angle_end"]) == (0, 90)
    assert GEOMETRIES["unit_square"].parameters == ()
    assert GEOMETRIES["plate_with_hole"].subdomains == ("plate",)
    plate = GEOMETRIES["plate_with_hole"]
    assert plate.boundary_names({"quarter": 1}) == ("symmetry_x", "symmetry_y", "right", "top", "hole")
    assert [g for g, geo in GEOMETRIES.items() if geo.supports_structured] == ["unit_square", "rectangle", "box"]


@pytest.mark.parametrize("kind", sorted(COARSE))
def test_every_geometry_builds_with_its_regions(kind):
    geo = GEOMETRIES[kind]
    mesh = build_mesh(kind, size=COARSE[kind])
    assert set(mesh.regions) == set(geo.boundary_names()) | set(geo.subdomains)
    assert mesh.dim == geo.dim and mesh.gdim == geo.dim
    for name in geo.subdomains:
        assert mesh.regions[name].dim == geo.dim
        assert mesh.regions[name].n_cells == mesh.n_cells
    for name in geo.boundary_names():
        assert mesh.regions[name].dim == geo.dim - 1 and mesh.regions[name].n_cells > 0
    assert mesh.source == f"built-in geometry {kind}"


def test_quarter_plate_regions():
    mesh = build_mesh("plate_with_hole", {"quarter": 1}, size=0.3)
    assert set(mesh.regions) == {"plate", "symmetry_x", "symmetry_y", "right", "top", "hole"}
    assert np.allclose(region_nodes(mesh, "symmetry_x")[:, 0], 0.0)
    assert np.allclose(region_nodes(mesh, "symmetry_y")[:, 1], 0.0)
    assert np.allclose(region_nodes(mesh, "right")[:, 0], 1.0)
    assert np.allclose(region_nodes(mesh, "top")[:, 1], 1.0)


def test_default_size_is_characteristic_length_over_20():
    mesh = build_mesh("unit_square", structured=True)
    assert mesh.n_cells == 2 * 20 * 20  # structured triangles: two per 1/20 x 1/20 square


def test_deterministic():
    a = build_mesh("plate_with_hole", size=0.3)
    b = build_mesh("plate_with_hole", size=0.3)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.cells["triangle"], b.cells["triangle"])


# -- areas and lengths ---------------------------------------------------------------------------


def test_plate_with_hole_area_and_hole():
    w, h, r = 2.0, 1.5, 0.3
    mesh = build_mesh("plate_with_hole", {"width": w, "height": h, "radius": r}, size=0.05)
    exact = w * h - math.pi * r**2
    assert tri_areas(mesh).sum() == pytest.approx(exact, rel=0.01)
    assert boundary_length(mesh, "hole") == pytest.approx(2 * math.pi * r, rel=0.01)
    hole = corner_points(mesh, "hole")
    assert np.abs(np.hypot(hole[:, 0], hole[:, 1]) - r).max() < 1e-9
    lo, hi = mesh.bounding_box
    assert np.allclose(lo, [-w / 2, -h / 2]) and np.allclose(hi, [w / 2, h / 2])
    assert boundary_length(mesh, "left") == pytest.approx(h, abs=1e-12)
    assert boundary_length(mesh, "bottom") == pytest.approx(w, abs=1e-12)


def test_quarter_plate_area_is_a_quarter():
    mesh = build_mesh("plate_with_hole", {"quarter": 1}, size=0.05)
    assert tri_areas(mesh).sum() == pytest.approx((4 - math.pi * 0.25**2) / 4, rel=0.01)
    assert boundary_length(mesh, "hole") == pytest.approx(math.pi * 0.25 / 2, rel=0.01)
    assert boundary_length(mesh, "symmetry_x") == pytest.approx(1 - 0.25, abs=1e-12)


@pytest.mark.parametrize("cut", [0.5, 0.3])
def test_l_shape_area_and_notch(cut):
    mesh = build_mesh("l_shape", {"size": 2.0, "cut": cut}, size=0.25)
    assert tri_areas(mesh).sum() == pytest.approx(4 * (1 - cut**2), rel=1e-12)
    c = 2 * (1 - cut)
    notch = region_nodes(mesh, "notch")
    assert np.all(np.isclose(notch[:, 0], c) | np.isclose(notch[:, 1], c))
    assert boundary_length(mesh, "notch") == pytest.approx(2 * 2 * cut, rel=1e-12)
    assert boundary_length(mesh, "right") == pytest.approx(c, rel=1e-12)


def test_rectangle_position_and_area():
    mesh = build_mesh("rectangle", {"width": 3, "height": 1, "x0": -1, "y0": 2}, size=0.25)
    assert tri_areas(mesh).sum() == pytest.approx(3.0, rel=1e-12)
    assert np.allclose(region_nodes(mesh, "left")[:, 0], -1)
    assert np.allclose(region_nodes(mesh, "top")[:, 1], 3)


def test_disk_and_annulus():
    disk = build_mesh("disk", {"radius": 2.0}, size=0.1)
    assert tri_areas(disk).sum() == pytest.approx(4 * math.pi, rel=0.01)
    outer = corner_points(disk, "outer")
    assert np.abs(np.hypot(outer[:, 0], outer[:, 1]) - 2.0).max() < 1e-9
    ring = build_mesh("annulus", {"inner_radius": 0.4, "outer_radius": 1.0}, size=0.05)
    assert tri_areas(ring).sum() == pytest.approx(math.pi * (1 - 0.16), rel=0.01)
    for name, r in (("inner", 0.4), ("outer", 1.0)):
        pts = corner_points(ring, name)
        assert np.abs(np.hypot(pts[:, 0], pts[:, 1]) - r).max() < 1e-9
        assert boundary_length(ring, name) == pytest.approx(2 * math.pi * r, rel=0.01)


def test_channel_dfg_benchmark():
    mesh = build_mesh("channel_with_obstacle", size=0.02)
    assert boundary_length(mesh, "inlet") == pytest.approx(0.41, abs=1e-12)
    assert boundary_length(mesh, "outlet") == pytest.approx(0.41, abs=1e-12)
    assert boundary_length(mesh, "walls") == pytest.approx(2 * 2.2, abs=1e-12)
    assert np.allclose(region_nodes(mesh, "inlet")[:, 0], 0.0)
    assert np.allclose(region_nodes(mesh, "outlet")[:, 0], 2.2)
    obstacle = corner_points(mesh, "obstacle")
    assert np.abs(np.hypot(obstacle[:, 0] - 0.2, obstacle[:, 1] - 0.2) - 0.05).max() < 1e-9
    assert tri_areas(mesh).sum() == pytest.approx(2.2 * 0.41 - math.pi * 0.05**2, rel=5e-4)


def test_le1_sector():
    mesh = build_mesh("elliptic_ring_sector", size=0.1)
    assert tri_areas(mesh).sum() == pytest.approx(math.pi / 4 * (3.25 * 2.75 - 2 * 1), rel=1e-3)
    for name, (a, b) in (("inner", (2, 1)), ("outer", (3.25, 2.75))):
        pts = corner_points(mesh, name)
        assert np.abs((pts[:, 0] / a) ** 2 + (pts[:, 1] / b) ** 2 - 1).max() < 1e-9
    start, end = region_nodes(mesh, "start"), region_nodes(mesh, "end")
    assert np.allclose(start[:, 1], 0) and start[:, 0].min() == pytest.approx(2) and start[:, 0].max() == pytest.approx(3.25)
    assert np.allclose(end[:, 0], 0) and end[:, 1].min() == pytest.approx(1) and end[:, 1].max() == pytest.approx(2.75)


def test_sector_with_tall_ellipses_and_wide_sweep():
    # a < b needs OpenCASCADE's ellipse turned by 90 degrees; sweep over 180 degrees.
    p = {"a_inner": 1, "b_inner": 2, "a_outer": 2, "b_outer": 3, "angle_start": 30, "angle_end": 300}
    mesh = build_mesh("elliptic_ring_sector", p, size=0.1)

    def dt(a, b):  # eccentric-anomaly sweep: the polar sector's area is a b dt / 2
        e = [math.atan2(a * math.sin(math.radians(t)), b * math.cos(math.radians(t))) for t in (30, 300)]
        return (e[1] - e[0]) % (2 * math.pi)

    assert tri_areas(mesh).sum() == pytest.approx(0.5 * (6 * dt(2, 3) - 2 * dt(1, 2)), rel=1e-3)
    for name, angle in (("start", 30), ("end", 300)):
        pts = region_nodes(mesh, name)
        assert np.allclose(np.degrees(np.arctan2(pts[:, 1], pts[:, 0])) % 360, angle)


# -- cells, order, structured --------------------------------------------------------------------


def test_structured_unit_square_quads():
    mesh = build_mesh("unit_square", size=0.25, cell="quad", structured=True)
    assert set(mesh.domain_cells) == {"quad"} and mesh.n_cells == 16
    assert tri_areas(mesh).sum() == pytest.approx(1.0)
    assert mesh.regions["left"].n_cells == 4


def test_structured_rectangle_triangles():
    mesh = build_mesh("rectangle", {"width": 2, "height": 1}, size=0.5, structured=True)
    assert set(mesh.domain_cells) == {"triangle"} and mesh.n_cells == 2 * 4 * 2


@pytest.mark.parametrize("kind, size", [("plate_with_hole", 0.2), ("channel_with_obstacle", 0.05), ("l_shape", 0.1), ("disk", 0.3)])
def test_unstructured_quads_are_all_quads(kind, size):
    # Sizes where Blossom alone leaves a couple of triangles (odd boundary segment counts).
    mesh = build_mesh(kind, size=size, cell="quad")
    assert set(mesh.domain_cells) == {"quad"}
    edges = mesh.points[mesh.cells["quad"]] - mesh.points[np.roll(mesh.cells["quad"], -1, axis=1)]
    assert np.linalg.norm(edges, axis=2).max() <= 1.5 * size  # about the asked size, not twice it
    exact = {"plate_with_hole": 4 - math.pi * 0.25**2, "channel_with_obstacle": 2.2 * 0.41 - math.pi * 0.05**2,
             "l_shape": 0.75, "disk": math.pi}[kind]
    assert tri_areas(mesh).sum() == pytest.approx(exact, rel=0.03)
    if kind == "plate_with_hole":  # subdivision puts the new boundary nodes on the circle
        hole = region_nodes(mesh, "hole")
        assert np.abs(np.hypot(hole[:, 0], hole[:, 1]) - 0.25).max() < 1e-9


def test_unstructured_quads_with_refinement_keep_the_sizes():
    mesh = build_mesh("plate_with_hole", size=0.2, cell="quad", refine=[Refinement(0.03, 0.3, region="hole")])
    assert set(mesh.domain_cells) == {"quad"}
    hole = mesh.region_cells("hole")["line"]
    seg = np.linalg.norm(mesh.points[hole[:, 1]] - mesh.points[hole[:, 0]], axis=1)
    assert seg.max() <= 1.5 * 0.03


def test_order_two():
    mesh = build_mesh("plate_with_hole", size=0.3, order=2)
    assert set(mesh.domain_cells) == {"triangle6"}
    assert set(mesh.regions["hole"].cells) == {"line3"}
    hole = region_nodes(mesh, "hole")  # mid-side nodes too: they are placed on the circle
    assert np.abs(np.hypot(hole[:, 0], hole[:, 1]) - 0.25).max() < 1e-9
    quads = build_mesh("unit_square", size=0.5, cell="quad", structured=True, order=2)
    assert set(quads.domain_cells) == {"quad9"}
    tets = build_mesh("box", size=0.5, order=2)
    assert set(tets.domain_cells) == {"tetra10"}


def test_box_tetra_and_structured_hexahedra():
    p = {"lx": 1, "ly": 2, "lz": 1}
    tets = build_mesh("box", p, size=0.5)
    assert set(tets.domain_cells) == {"tetra"}
    assert CELL_TYPES["tetra"].dim == 3
    hexes = build_mesh("box", p, size=0.5, cell="hexahedron", structured=True)
    assert set(hexes.domain_cells) == {"hexahedron"} and hexes.n_cells == 2 * 4 * 2
    assert set(hexes.regions["xmax"].cells) == {"quad"} and hexes.regions["xmax"].n_cells == 4 * 2
    assert np.allclose(region_nodes(hexes, "ymax")[:, 1], 2)
    structured_tets = build_mesh("box", p, size=0.5, cell="tetra", structured=True)
    assert set(structured_tets.domain_cells) == {"tetra"} and structured_tets.n_cells == 6 * 16
    for name, axis, value in (("xmin", 0, 0), ("zmax", 2, 1), ("ymin", 1, 0)):
        assert np.allclose(region_nodes(tets, name)[:, axis], value)


# -- refinement ----------------------------------------------------------------------------------


def _mean_size_near(mesh, centre, radius):
    p = mesh.points
    conn = mesh.cells["triangle"]
    mid = p[conn].mean(axis=1)
    near = np.hypot(mid[:, 0] - centre[0], mid[:, 1] - centre[1]) < radius
    return np.sqrt(tri_areas(mesh)[near]).mean()


def test_refinement_near_the_hole():
    plain = build_mesh("plate_with_hole", size=0.2)
    fine = build_mesh("plate_with_hole", size=0.2, refine=[Refinement(size=0.02, distance=0.3, region="hole")])
    assert fine.n_cells > 2 * plain.n_cells
    assert _mean_size_near(fine, (0, 0), 0.35) < 0.5 * _mean_size_near(plain, (0, 0), 0.35)
    # Away from the hole the size is the global one again.
    assert _mean_size_near(fine, (0.9, 0.9), 0.2) > 0.5 * _mean_size_near(plain, (0.9, 0.9), 0.2)
    assert boundary_length(fine, "hole") == pytest.approx(2 * math.pi * 0.25, rel=1e-3)


def test_refinement_at_a_point():
    plain = build_mesh("unit_square", size=0.2)
    fine = build_mesh("unit_square", size=0.2, refine=[Refinement(0.01, 0.3, point=(0.5, 0.5))])
    assert fine.n_cells > 2 * plain.n_cells
    assert _mean_size_near(fine, (0.5, 0.5), 0.1) < 0.4 * _mean_size_near(fine, (0.1, 0.1), 0.1)


def test_refinement_in_3d_on_a_face():
    plain = build_mesh("box", size=0.5)
    fine = build_mesh("box", size=0.5, refine=[Refinement(0.15, 0.3, region="zmin")])
    assert fine.n_cells > 2 * plain.n_cells


# -- refusals ------------------------------------------------------------------------------------

BAD = [
    ({"kind": "hexagon"}, "geometry.kind", "unknown geometry"),
    ({"kind": "rectangle", "parameters": {"widht": 1}}, "geometry.parameters.widht", "width, height"),
    ({"kind": "unit_square", "parameters": {"width": 1}}, "geometry.parameters.width", "no parameters"),
    ({"kind": "rectangle", "parameters": [("width", 1)]}, "geometry.parameters", "not a table"),
    ({"kind": "rectangle", "parameters": {"width": 0}}, "geometry.parameters.width", "greater than 0"),
    ({"kind": "rectangle", "parameters": {"width": "2"}}, "geometry.parameters.width", "not a number"),
    ({"kind": "rectangle", "parameters": {"width": float("nan")}}, "geometry.parameters.width", "finite"),
    ({"kind": "disk", "parameters": {"radius": -1}}, "geometry.parameters.radius", "greater than 0"),
    ({"kind": "plate_with_hole", "parameters": {"radius": 1.0}}, "geometry.parameters.radius", "less than half"),
    ({"kind": "plate_with_hole", "parameters": {"height": 0.4}}, "geometry.parameters.radius", "less than half"),
    ({"kind": "plate_with_hole", "parameters": {"quarter": 0.5}}, "geometry.parameters.quarter", "0 .* or 1"),
    ({"kind": "annulus", "parameters": {"inner_radius": 1.0}}, "geometry.parameters.inner_radius", "less than the outer"),
    ({"kind": "annulus", "parameters": {"inner_radius": 2.0}}, "geometry.parameters.inner_radius", "less than the outer"),
    ({"kind": "elliptic_ring_sector", "parameters": {"angle_end": 0}}, "geometry.parameters.angle_end", "greater than the start"),
    ({"kind": "elliptic_ring_sector", "parameters": {"angle_end": 400}}, "geometry.parameters.angle_end", "less than 360"),
    ({"kind": "elliptic_ring_sector", "parameters": {"a_inner": 4}}, "geometry.parameters.a_inner", "less than the outer"),
    ({"kind": "elliptic_ring_sector", "parameters": {"b_inner": 3}}, "geometry.parameters.b_inner", "less than the outer"),
    ({"kind": "l_shape", "parameters": {"cut": 1.0}}, "geometry.parameters.cut", r"between 0 and 1"),
    ({"kind": "l_shape", "parameters": {"cut": 0.0}}, "geometry.parameters.cut", r"greater than 0"),
    ({"kind": "channel_with_obstacle", "parameters": {"cy": 0.39}}, "geometry.parameters.cy", "inside the channel"),
    ({"kind": "channel_with_obstacle", "parameters": {"cx": 2.19}}, "geometry.parameters.cx", "inside the channel"),
    ({"kind": "channel_with_obstacle", "parameters": {"radius": 0.3}}, "geometry.parameters.cx", "inside the channel"),
    ({"kind": "unit_square", "size": 0}, "mesh.size", "greater than 0"),
    ({"kind": "unit_square", "size": -0.1}, "mesh.size", "greater than 0"),
    ({"kind": "unit_square", "size": 1e-9}, "mesh.size", "at least"),
    ({"kind": "unit_square", "order": 3}, "mesh.order", "1 .* or 2"),
    ({"kind": "unit_square", "cell": "tetra"}, "mesh.cell", "'triangle', 'quad'"),
    ({"kind": "box", "cell": "quad"}, "mesh.cell", "'tetra', 'hexahedron'"),
    ({"kind": "box", "cell": "hexahedron"}, "mesh.cell", "structured"),
    ({"kind": "disk", "structured": True}, "mesh.structured", "unit_square, rectangle, box"),
    ({"kind": "plate_with_hole", "refine": [Refinement(0.01, 0.1, region="inlet")]}, r"mesh.refine\[0\].region", "hole"),
    (
        {"kind": "plate_with_hole", "parameters": {"quarter": 1}, "refine": [Refinement(0.01, 0.1, region="left")]},
        r"mesh.refine\[0\].region",
        "symmetry_x",
    ),
    ({"kind": "disk", "refine": [Refinement(0.01, 0.1, region="outer", point=(0, 0))]}, r"mesh.refine\[0\]", "not both"),
    ({"kind": "disk", "refine": [Refinement(0.1, 0.1, region="outer"), Refinement(0.01, 0.1)]}, r"mesh.refine\[1\]", "neither"),
    ({"kind": "disk", "refine": [Refinement(0, 0.1, region="outer")]}, r"mesh.refine\[0\].size", "greater than 0"),
    ({"kind": "disk", "refine": [Refinement(0.1, -1, region="outer")]}, r"mesh.refine\[0\].distance", "greater than 0"),
    ({"kind": "disk", "refine": [Refinement(0.1, 1, point=(0,))]}, r"mesh.refine\[0\].point", "2 finite"),
    ({"kind": "box", "refine": [Refinement(0.1, 1, point=(0, 0))]}, r"mesh.refine\[0\].point", "3 finite"),
    (
        {"kind": "unit_square", "structured": True, "refine": [Refinement(0.1, 1, region="left")]},
        r"mesh.refine\[0\]",
        "structured",
    ),
]


@pytest.mark.parametrize("kwargs, field, expected", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_refused(kwargs, field, expected):
    kwargs = dict(kwargs)
    kind = kwargs.pop("kind")
    with pytest.raises(InputError, match=expected) as info:
        build_mesh(kind, kwargs.pop("parameters", None), **kwargs)
    assert re.search(field, str(info.value)), str(info.value)
    assert re.fullmatch(field, info.value.field)


def test_refusal_happens_before_gmsh(monkeypatch):
    import engine.mesh.geometry as geometry

    def no_gmsh(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("gmsh was started")

    monkeypatch.setattr(geometry, "gmsh_session", no_gmsh)
    with pytest.raises(InputError):
        build_mesh("plate_with_hole", {"radius": 5})
    with pytest.raises(InputError):
        build_mesh("box", cell="hexahedron")


def test_refinement_given_as_mapping():
    mesh = build_mesh("disk", size=0.5, refine=[{"size": 0.1, "distance": 0.3, "region": "outer"}])
    assert mesh.n_cells > build_mesh("disk", size=0.5).n_cells
    with pytest.raises(InputError, match=r"mesh.refine\[0\]: not a refinement"):
        build_mesh("disk", refine=[{"size": 0.1, "radius": 1}])
