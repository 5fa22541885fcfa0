"""A sample's input channels are built from its case: coefficients at the points, distances to
the boundary and to each named region (checked against the geometry's exact distances), and the
boundary conditions as indicator and value channels."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.case import load_case, parse_case
from engine.errors import InputError
from engine.mesh.geometry import build_mesh
from engine.problem import Problem
from engine.surrogates.data.channels import input_channels, signed_distance

# The quarter plate (width 2, height 2 as a quarter: 0 <= x, y <= 1) with a hole of radius 0.05 at the origin.
RADIUS, SIDE = 0.05, 1.0


@pytest.fixture(scope="module")
def kirsch():
    case = load_case(engine.resource_path("examples/kirsch_plate_with_hole.toml"))
    problem = Problem.from_case(case)
    return problem, input_channels(problem)


def test_distances_match_the_geometry(kirsch):
    problem, channels = kirsch
    x, y = problem.mesh.points[:, 0], problem.mesh.points[:, 1]
    to_hole = np.hypot(x, y) - RADIUS
    exact = np.minimum.reduce([to_hole, SIDE - x, SIDE - y])  # the symmetry lines are boundary too
    exact = np.minimum.reduce([exact, x, y])
    # a curved edge is two straight halves: off the circle by their sagitta, (h/2)^2 / (8 R) = 1e-5 at h = 0.004
    assert np.abs(channels["sdf"] - exact).max() < 1.2e-5
    np.testing.assert_allclose(channels["distance.hole"], np.abs(to_hole), atol=1.2e-5)
    np.testing.assert_allclose(channels["distance.right"], np.abs(SIDE - x) + 0 * y, atol=1e-12)
    assert set(np.unique(channels["boundary"])) == {0.0, 1.0}
    assert channels["boundary"][channels["sdf"] < 1e-9].min() == 1.0


def test_signed_distance_is_negative_outside(kirsch):
    problem, _ = kirsch
    d = signed_distance(problem.mesh, np.array([[0.02, 0.02], [0.5, 0.5], [1.2, 0.5]]))
    np.testing.assert_allclose(d, [-(RADIUS - np.hypot(0.02, 0.02)), 0.5, -0.2], atol=1e-5)


def test_coefficient_and_condition_channels(kirsch):
    problem, channels = kirsch
    mesh = problem.mesh
    np.testing.assert_array_equal(channels["coef.E"], np.full(mesh.n_points, 210e9))
    right = mesh.region_points("right")
    assert channels["bc.traction"][right].min() == 1.0 and channels["bc.traction"].sum() == len(right)
    np.testing.assert_array_equal(channels["bc.traction.vector[0]"][right], 100e6)
    assert channels["bc.traction.vector[0]"].sum() == pytest.approx(100e6 * len(right))
    symmetry = np.union1d(mesh.region_points("symmetry_x"), mesh.region_points("symmetry_y"))
    assert channels["bc.displacement"].sum() == len(symmetry)
    assert all(len(v) == mesh.n_points and np.isfinite(v).all() for v in channels.values())


def test_a_random_permeability_is_a_channel():
    doc = {"version": 1, "geometry": {"kind": "unit_square"}, "mesh": {"size": 0.1},
           "physics": {"kind": "diffusion", "k": {"random_field": "grf", "seed": 2, "transform": "threshold"}, "f": 1.0},
           "boundary": [{"region": ["left", "right", "bottom", "top"], "type": "dirichlet", "value": 0.0}]}
    channels = input_channels(Problem.from_case(parse_case(doc)))
    assert set(np.unique(channels["coef.k"])) == {3.0, 12.0}
    assert list(channels)[:2] == ["coef.k", "coef.f"] and channels["bc.dirichlet"].sum() == channels["boundary"].sum()


def test_a_3d_mesh_is_refused_with_the_reason():
    mesh = build_mesh("box", size=0.5)
    with pytest.raises(InputError, match="2D meshes only"):
        signed_distance(mesh, np.zeros((1, 3)))
