"""Locating points: right on graded meshes, and in time that does not grow with points x cells."""

from __future__ import annotations

import numpy as np

from engine.mesh.geometry import Refinement, build_mesh
from engine.mesh.locate import interpolate_at_points, locate_points


def test_points_in_large_cells_beside_a_fine_refinement_are_found():
    # Cells from 3e-4 at the hole to 1 at the sides: a point in a large cell has only small
    # cells among its nearest centres.
    mesh = build_mesh("plate_with_hole", size=1.0, refine=[Refinement(0.0003, 0.3, region="hole")])
    points = np.random.default_rng(0).uniform(-1, 1, size=(5000, 2))
    r = np.hypot(points[:, 0], points[:, 1])
    clear = np.abs(r - 0.25) > 0.01  # away from the polygonal hole's edge
    found = locate_points(mesh, points) >= 0
    assert np.array_equal(found[clear], r[clear] > 0.25)
    # Interpolation uses the same search: x is reproduced exactly wherever it is defined.
    x = interpolate_at_points(mesh, mesh.points[:, 0], points[clear])
    inside = r[clear] > 0.25
    assert np.allclose(x[inside], points[clear][inside, 0]) and np.isnan(x[~inside]).all()


def test_points_outside_and_no_points():
    mesh = build_mesh("unit_square", size=0.25)
    assert locate_points(mesh, [[2.0, 2.0], [-0.1, 0.5], [0.5, 0.5]]).tolist()[:2] == [-1, -1]
    assert locate_points(mesh, np.zeros((0, 2))).shape == (0,)
