"""Degenerate geometry parameters are refused before gmsh, and each geometry's Shape (area,
boundary lengths) matches the mesh gmsh makes of it: the cell estimate is built on it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import InputError
from engine.mesh.geometry import GEOMETRIES, build_mesh

# (kind, parameters, the parameter the refusal must name, words of the refusal)
DEGENERATE = [
    ("plate_with_hole", {"radius": 0.9999999}, "radius", "ligament"),  # the hole all but touches the sides
    ("plate_with_hole", {"radius": 1e-9}, "radius", "hole radius"),
    ("annulus", {"inner_radius": 1e-300}, "inner_radius", "inner radius"),
    ("annulus", {"inner_radius": 0.9999999}, "inner_radius", "ring width"),
    ("elliptic_ring_sector", {"angle_end": 1e-12}, "angle_end", "sweep"),
    ("elliptic_ring_sector", {"angle_start": 1e15, "angle_end": 1e15 + 90}, "angle_start", "between -360 and 360"),
    ("elliptic_ring_sector", {"a_inner": 3.2499999}, "a_inner", "ring width along x"),
    ("elliptic_ring_sector", {"angle_start": -90, "angle_end": 270 - 1e-10}, "angle_end", "gap between the end and the start"),
    ("channel_with_obstacle", {"length": 1e15}, "length", "too large"),
    ("channel_with_obstacle", {"cy": 0.05 + 1e-12}, "cy", "lower wall"),
    ("channel_with_obstacle", {"height": 1e-13, "cy": 5e-14, "radius": 1e-14}, "height", "channel height"),
    ("rectangle", {"width": 1e300}, "width", "too large"),
    ("rectangle", {"x0": 1e8}, "width", "width"),  # a 2 x 1 rectangle 1e8 units away
    ("l_shape", {"cut": 1e-9}, "cut", "notch side"),
    ("l_shape", {"cut": 1 - 1e-9}, "cut", "arm width"),
    ("box", {"lz": 1e-7}, "lz", "side"),
    ("disk", {"radius": 1e-300}, "radius", "radius"),
]


@pytest.mark.parametrize("kind, parameters, name, words", DEGENERATE, ids=[f"{d[0]}-{d[2]}-{i}" for i, d in enumerate(DEGENERATE)])
def test_degenerate_parameters_are_refused_naming_the_parameter(kind, parameters, name, words):
    with pytest.raises(InputError, match=words) as info:
        GEOMETRIES[kind].check_parameters(parameters)
    err = info.value
    assert err.field == f"geometry.parameters.{name}"
    assert err.value == pytest.approx(float({**GEOMETRIES[kind].defaults, **parameters}[name]))
    assert "at least" in err.expected or "within" in err.expected or "between" in err.expected


def test_degenerate_parameters_never_reach_gmsh(monkeypatch):
    import engine.mesh.geometry as geometry

    def no_gmsh(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("gmsh was started")

    monkeypatch.setattr(geometry, "gmsh_session", no_gmsh)
    monkeypatch.setattr(geometry, "run_isolated", no_gmsh, raising=False)
    with pytest.raises(InputError, match="geometry.parameters.inner_radius"):
        build_mesh("annulus", {"inner_radius": 1e-300})


def test_small_features_within_the_bounds_are_accepted_and_mesh():
    GEOMETRIES["plate_with_hole"].check_parameters({"radius": 1 - 1e-5})  # a ligament of 1e-5
    mesh = build_mesh("annulus", {"inner_radius": 1e-4}, size=0.1)  # a thousand times the hole: the coarsest allowed
    assert mesh.n_cells > 0


def _areas(mesh) -> float:
    """The mesh's area (2D) or volume (3D), from its triangles or tetrahedra."""
    (ctype, conn), = mesh.domain_cells.items()
    p = mesh.points[conn]
    edges = p[:, 1:] - p[:, :1]  # (n, dim, dim)
    return float(np.abs(np.linalg.det(edges)).sum() / math.factorial(mesh.dim))


def _boundary_measure(mesh, name: str) -> float:
    total = 0.0
    for ctype, conn in mesh.region_cells(name).items():
        p = mesh.points[conn]
        if ctype.startswith("line"):
            total += float(np.linalg.norm(p[:, 1] - p[:, 0], axis=1).sum())
        else:
            total += float(np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1).sum() / 2)
    return total


SHAPES = [
    ("unit_square", {}),
    ("rectangle", {"width": 3, "height": 1, "x0": -1, "y0": 2}),
    ("l_shape", {"size": 2.0, "cut": 0.3}),
    ("plate_with_hole", {}),
    ("plate_with_hole", {"quarter": 1}),
    ("disk", {"radius": 2.0}),
    ("annulus", {}),
    ("channel_with_obstacle", {}),
    ("elliptic_ring_sector", {}),
    ("elliptic_ring_sector", {"angle_start": 30, "angle_end": 300, "a_inner": 1.0, "b_inner": 2.0, "a_outer": 2.0, "b_outer": 3.0}),
    ("box", {"lx": 1, "ly": 2, "lz": 0.5}),
]


@pytest.mark.parametrize("kind, parameters", SHAPES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SHAPES)])
def test_shape_measures_match_the_mesh(kind, parameters):
    geo = GEOMETRIES[kind]
    shape = geo.shape(parameters)
    smallest = min((length for _, length, _ in shape.features), default=math.inf)
    mesh = build_mesh(kind, parameters, size=min(geo.characteristic_length(parameters) / 10, smallest / 2))
    # Straight-sided cells cut the corners of curved boundaries: about 1 % at this size.
    assert _areas(mesh) == pytest.approx(shape.measure, rel=0.02)
    assert set(shape.boundaries) == set(geo.boundary_names(parameters))
    for name, measure in shape.boundaries.items():
        assert _boundary_measure(mesh, name) == pytest.approx(measure, rel=0.02), name
    assert math.isfinite(shape.extent) and shape.extent > 0
