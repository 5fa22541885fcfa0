"""Linear elasticity against exact solutions: manufactured solutions (convergence rates),
NAFEMS LE1, Kirsch's plate with a hole, a 3D bar in tension, Lame's thick ring."""

from __future__ import annotations

import math
import tomllib
from types import SimpleNamespace

import numpy as np
import pytest
import skfem

from engine.case import load_case, parse_case
from engine.errors import InputError
from engine.problem import Problem
from engine.resources import resource_path
from engine.solvers.fem.discretize import Discretization
from engine.solvers.fem.elasticity import lame, solve_elasticity


class _Direct:
    """Stand-in for engine.solvers.fem.linear.LinearSolver while that module is not there."""

    def solve(self, A, b, x0=None, progress=None, cancel=None):
        from scipy.sparse.linalg import spsolve

        x = spsolve(A.tocsc(), b)
        return x, SimpleNamespace(converged=True, iterations=1, residual=float(np.linalg.norm(A @ x - b) / max(np.linalg.norm(b), 1e-300)))


def _linear():
    try:
        from engine.solvers.fem.linear import LinearSolver
    except ImportError:
        return _Direct()
    return LinearSolver(method="direct")


def _solve(case, element: str | None = None):
    problem = Problem.from_case(case)
    disc = Discretization(problem.mesh, element or case.solver.classical.element, components=problem.mesh.dim)
    return problem, disc, solve_elasticity(problem, disc, _linear())


def _at(disc, solution, name: str, points) -> np.ndarray:
    """A solution field at points, through the discretization's probe matrix."""
    return disc.probe_matrix(np.atleast_2d(np.asarray(points, dtype=float))) @ solution.fields[name].values


def _example(name: str) -> dict:
    return tomllib.loads(resource_path(f"examples/{name}").read_text(encoding="utf-8"))


# -- manufactured solutions ---------------------------------------------------------------------
# u = (sin(2x + y), exp(x - y)) on the unit square. With S = sin(2x + y), V = exp(x - y):
# U_xx = -4S, U_yy = -S, U_xy = -2S, V_xx = V_yy = V, V_xy = -V, and f = -div sigma gives
#   f_x = -[(lam + 2mu) U_xx + mu U_yy + (lam + mu) V_xy] = (4 lam + 9 mu) S + (lam + mu) V
#   f_y = -[(lam + 2mu) V_yy + mu V_xx + (lam + mu) U_xy] = 2 (lam + mu) S - (lam + 3 mu) V
# (lam is lambda* for plane stress). Every side gets the exact displacement.
_U = ("sin(2*x + y)", "exp(x - y)")
_F = ("(4*lam + 9*mu)*sin(2*x + y) + (lam + mu)*exp(x - y)", "2*(lam + mu)*sin(2*x + y) - (lam + 3*mu)*exp(x - y)")
_E, _NU = 3.0, 0.3

#: Expected orders for a degree-k element on a smooth solution: h^(k+1) in L2, h^k in H1.
RATE_L2 = {"P1": 2.0, "Q1": 2.0, "P2": 3.0, "Q2": 3.0}
RATE_H1 = {"P1": 1.0, "Q1": 1.0, "P2": 2.0, "Q2": 2.0}
RATE_TOLERANCE = 0.2


def _manufactured_case(model: str, element: str, n: int) -> dict:
    lam, mu = lame(np.float64(_E), np.float64(_NU), model)
    return {
        "version": 1,
        "parameters": {"lam": float(lam), "mu": float(mu)},
        "geometry": {"kind": "unit_square"},
        "mesh": {"size": 1.0 / n, "structured": True, "cell": "quad" if element.startswith("Q") else "triangle"},
        "physics": {"kind": "elasticity", "E": _E, "nu": _NU, "model": model, "thickness": 0.25, "body_force": list(_F)},
        "boundary": [{"region": ["left", "right", "bottom", "top"], "type": "displacement", "ux": _U[0], "uy": _U[1]}],
        "solver": {"classical": {"element": element}},
    }


def _errors(model: str, element: str, n: int) -> tuple[float, float]:
    """L2 and H1-seminorm errors of the displacement, with a quadrature far above the element's."""
    problem, disc, solution = _solve(parse_case(_manufactured_case(model, element, n)))
    u = np.empty(disc.n_dofs)
    for c in range(2):
        u[disc.component_dofs(c)] = solution.fields["displacement"].values[:, c]
    fine = skfem.Basis(disc.skmesh, disc.element, intorder=10)
    uh = fine.interpolate(u)  # value: np.asarray(uh), gradient: uh.grad
    x, y = np.asarray(fine.global_coordinates())
    S, V = np.sin(2 * x + y), np.exp(x - y)
    exact = np.array([S, V])
    exact_grad = np.array([[2 * np.cos(2 * x + y), np.cos(2 * x + y)], [V, -V]])
    l2 = np.sqrt(np.sum((np.asarray(uh) - exact) ** 2 * fine.dx))
    h1 = np.sqrt(np.sum((uh.grad - exact_grad) ** 2 * fine.dx))
    return float(l2), float(h1)


@pytest.mark.parametrize("model", ["plane_strain", "plane_stress"])
@pytest.mark.parametrize(("element", "levels"), [("P1", (8, 16, 32)), ("P2", (4, 8, 16)), ("Q1", (8, 16, 32)), ("Q2", (4, 8, 16))])
def test_manufactured_solution_converges_at_the_expected_rates(model, element, levels):
    errors = np.array([_errors(model, element, n) for n in levels])
    rates = np.log2(errors[:-1] / errors[1:])  # halving h each level
    assert rates[-1, 0] == pytest.approx(RATE_L2[element], abs=RATE_TOLERANCE), rates
    assert rates[-1, 1] == pytest.approx(RATE_H1[element], abs=RATE_TOLERANCE), rates


# -- NAFEMS LE1 --------------------------------------------------------------------------------
LE1_SIGMA_YY_D = 92.7  # MPa, the NAFEMS target at D = (2, 0)


def test_nafems_le1_example_reaches_the_target_within_2_percent():
    problem, disc, solution = _solve(load_case(resource_path("examples/nafems_le1.toml")))
    sxx, syy, sxy = _at(disc, solution, "stress", [2.0, 0.0])[0]
    assert syy == pytest.approx(LE1_SIGMA_YY_D, rel=0.02)
    assert abs(sxx) < 0.02 * LE1_SIGMA_YY_D and abs(sxy) < 0.02 * LE1_SIGMA_YY_D  # D is on a free edge


def test_nafems_le1_converges_under_refinement_at_d():
    base = _example("nafems_le1.toml")
    errors = []
    for size in (0.08, 0.04, 0.02):
        case = {**base, "mesh": {"size": 0.2, "order": 2, "refine": [{"point": [2.0, 0.0], "size": size, "distance": 0.5}]}}
        _, disc, solution = _solve(parse_case(case))
        errors.append(abs(_at(disc, solution, "stress", [2.0, 0.0])[0, 1] - LE1_SIGMA_YY_D))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[-1] < 0.005 * LE1_SIGMA_YY_D


def test_thickness_does_not_change_displacement_or_stress():
    base = _example("nafems_le1.toml")
    fields = []
    for thickness in (0.1, 2.0):
        case = {**base, "mesh": {"size": 0.4, "order": 2}, "physics": {**base["physics"], "thickness": thickness}}
        fields.append(_solve(parse_case(case))[2].fields)
    for name in ("displacement", "stress", "von_mises"):
        np.testing.assert_allclose(fields[0][name].values, fields[1][name].values, rtol=1e-9, atol=1e-12 * np.abs(fields[0][name].values).max())


# -- Kirsch ---------------------------------------------------------------------------------
def test_kirsch_hoop_stress_at_the_top_of_the_hole_is_three_times_the_load():
    case = load_case(resource_path("examples/kirsch_plate_with_hole.toml"))
    sigma = case.parameters["sigma"]
    problem, disc, solution = _solve(case)
    # The top of the hole is a mesh node; its value is the projected stress there.
    top = int(np.argmin(np.hypot(problem.mesh.points[:, 0], problem.mesh.points[:, 1] - 0.05)))
    sxx, syy, sxy = solution.to_fields()["stress"].values[top]
    # Howland's finite-width factor for d/W = 0.05 is about 3.01; an infinite plate gives 3.
    assert sxx == pytest.approx(3.0 * sigma, rel=0.03)
    assert abs(syy) < 0.02 * sigma and abs(sxy) < 0.02 * sigma  # free, curved edge: sigma_rr = 0
    far = _at(disc, solution, "stress", [0.9, 0.9])[0]
    assert far[0] == pytest.approx(sigma, rel=0.02)


# -- 3D bar ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cell", "element"), [("tetra", "P1"), ("tetra", "P2"), ("hexahedron", "Q1")])
def test_bar_in_uniaxial_tension_is_exact(cell, element):
    """Rollers on xmin, ymin, zmin (no rigid motion, free contraction) and traction T on xmax:
    sigma_xx = T everywhere and u = T/E (x, -nu y, -nu z), which every element reproduces."""
    E, nu, T, (L, W, H) = 200.0e3, 0.3, 50.0, (2.0, 0.5, 0.4)
    case = parse_case(
        {
            "version": 1,
            "geometry": {"kind": "box", "parameters": {"lx": L, "ly": W, "lz": H}},
            "mesh": {"size": 0.25, "cell": cell, "structured": cell == "hexahedron"},
            "physics": {"kind": "elasticity", "E": E, "nu": nu, "model": "3d"},
            "solver": {"classical": {"element": element}},
            "boundary": [
                {"region": "xmin", "type": "displacement", "ux": 0.0},
                {"region": "ymin", "type": "displacement", "uy": 0.0},
                {"region": "zmin", "type": "displacement", "uz": 0.0},
                {"region": "xmax", "type": "traction", "vector": [T, 0.0, 0.0]},
            ],
        }
    )
    _, disc, solution = _solve(case, element)
    assert solution.fields["stress"].components == ("xx", "yy", "zz", "xy", "yz", "xz")
    stress = solution.fields["stress"].values
    np.testing.assert_allclose(stress[:, 0], T, rtol=1e-8)
    np.testing.assert_allclose(stress[:, 1:], 0.0, atol=1e-8 * T)
    np.testing.assert_allclose(solution.fields["von_mises"].values, T, rtol=1e-8)
    corner = _at(disc, solution, "displacement", [L, W, H])[0]
    np.testing.assert_allclose(corner, T / E * np.array([L, -nu * W, -nu * H]), rtol=1e-8)
    x = disc.scalar_basis.doflocs
    np.testing.assert_allclose(solution.fields["displacement"].values, (T / E * np.array([1.0, -nu, -nu])[:, None] * x).T, rtol=1e-8, atol=1e-8 * T / E * L)


def test_variable_youngs_modulus_is_evaluated_pointwise():
    """A plane stress strip with E = E0 (1 + x) and nu = 0 under traction T: u_x(1) = T/E0 ln 2."""
    E0, T = 1000.0, 5.0
    case = parse_case(
        {
            "version": 1,
            "geometry": {"kind": "rectangle", "parameters": {"width": 1.0, "height": 0.2}},
            "mesh": {"size": 0.05, "structured": True},
            "physics": {"kind": "elasticity", "E": f"{E0}*(1 + x)", "nu": 0.0, "model": "plane_stress"},
            "boundary": [
                {"region": "left", "type": "displacement", "ux": 0.0},
                {"region": "bottom", "type": "displacement", "uy": 0.0},
                {"region": "right", "type": "traction", "vector": [T, 0.0]},
            ],
        }
    )
    _, disc, solution = _solve(case, "P2")
    assert _at(disc, solution, "displacement", [1.0, 0.1])[0, 0] == pytest.approx(T / E0 * math.log(2.0), rel=1e-5)
    np.testing.assert_allclose(solution.fields["stress"].values[:, 0], T, rtol=1e-3)


# -- pressure on a thick ring (Lame) -------------------------------------------------------------
@pytest.mark.parametrize(("region", "p_inner", "p_outer"), [("outer", 0.0, 10.0), ("inner", 10.0, 0.0)])
@pytest.mark.parametrize("model", ["plane_stress", "plane_strain"])
def test_pressure_pushes_against_the_outward_normal(region, p_inner, p_outer, model):
    """A quarter of a ring a < r < b under pressure: Lame's solution
    sigma_rr = A - B/r^2, sigma_tt = A + B/r^2, A = (p_i a^2 - p_o b^2)/(b^2 - a^2), B = (p_i - p_o) a^2 b^2/(b^2 - a^2)."""
    E, nu, a, b = 1000.0, 0.3, 0.5, 1.0
    case = parse_case(
        {
            "version": 1,
            "geometry": {"kind": "elliptic_ring_sector", "parameters": {"a_inner": a, "b_inner": a, "a_outer": b, "b_outer": b}},
            "mesh": {"size": 0.1, "order": 2},
            "physics": {"kind": "elasticity", "E": E, "nu": nu, "model": model, "thickness": 0.1},
            "boundary": [
                {"region": "start", "type": "displacement", "uy": 0.0},
                {"region": "end", "type": "displacement", "ux": 0.0},
                {"region": region, "type": "pressure", "value": p_inner + p_outer},
            ],
        }
    )
    _, disc, solution = _solve(case, "P2")
    A = (p_inner * a**2 - p_outer * b**2) / (b**2 - a**2)
    B = (p_inner - p_outer) * a**2 * b**2 / (b**2 - a**2)
    if model == "plane_stress":
        u_r = lambda r: ((1 - nu) * A * r + (1 + nu) * B / r) / E  # noqa: E731
    else:
        u_r = lambda r: (1 + nu) * ((1 - 2 * nu) * A * r + B / r) / E  # noqa: E731
    pushed = a if region == "inner" else b
    outward = 1.0 if region == "outer" else -1.0  # the domain's outward normal along +x at (pushed, 0)
    ux = _at(disc, solution, "displacement", [pushed, 0.0])[0, 0]
    assert ux * outward < 0  # the surface moves in, against its outward normal
    for r in (a, b):
        assert _at(disc, solution, "displacement", [r, 0.0])[0, 0] == pytest.approx(u_r(r), rel=1e-3)
    # On y = 0, xx = rr and yy = tt; the projected stress on an edge is ~1% off at this size.
    stress = _at(disc, solution, "stress", [[a, 0.0], [b, 0.0]])
    assert stress[0, 1] == pytest.approx(A + B / a**2, rel=0.02)
    assert stress[:, 0] == pytest.approx([A - B / a**2, A - B / b**2], abs=0.02 * (p_inner + p_outer))
    if model == "plane_strain":
        assert solution.fields["stress"].components == ("xx", "yy", "xy", "zz")
        s = solution.fields["stress"].values
        np.testing.assert_allclose(s[:, 3], nu * (s[:, 0] + s[:, 1]), rtol=1e-10, atol=1e-12 * np.abs(s).max())
    else:
        assert solution.fields["stress"].components == ("xx", "yy", "xy")


# -- refusals ---------------------------------------------------------------------------------
def _square(boundary: list[dict]) -> Problem:
    return Problem.from_case(
        parse_case(
            {
                "version": 1,
                "geometry": {"kind": "unit_square"},
                "mesh": {"size": 0.5},
                "physics": {"kind": "elasticity", "E": 1.0, "nu": 0.3},
                "boundary": boundary,
            }
        )
    )


def test_unconstrained_problem_is_refused():
    problem = _square([{"region": "right", "type": "traction", "vector": [1.0, 0.0]}])
    with pytest.raises(InputError, match="rigid body") as info:
        solve_elasticity(problem, Discretization(problem.mesh, "P1", components=2), _linear())
    assert "displacement" in str(info.value)


@pytest.mark.parametrize(
    ("boundary", "free"),
    [
        ([{"region": "left", "type": "displacement", "ux": 0.0}], "translation along y"),
        ([{"region": "left", "type": "displacement", "uy": 0.0}], "translation along x, a rotation"),
    ],
)
def test_partly_held_problem_is_refused(boundary, free):
    problem = _square(boundary + [{"region": "right", "type": "traction", "vector": [1.0, 0.0]}])
    with pytest.raises(InputError, match=free):
        solve_elasticity(problem, Discretization(problem.mesh, "P1", components=2), _linear())


def test_symmetry_rollers_are_enough():
    problem = _square(
        [
            {"region": "left", "type": "displacement", "ux": 0.0},
            {"region": "bottom", "type": "displacement", "uy": 0.0},
            {"region": "right", "type": "traction", "vector": [1.0, 0.0]},
        ]
    )
    solution = solve_elasticity(problem, Discretization(problem.mesh, "P1", components=2), _linear())
    np.testing.assert_allclose(solution.fields["stress"].values[:, 0], 1.0, rtol=1e-8)


def test_3d_problem_on_one_roller_is_refused():
    problem = Problem.from_case(
        parse_case(
            {
                "version": 1,
                "geometry": {"kind": "box"},
                "mesh": {"size": 0.5},
                "physics": {"kind": "elasticity", "E": 1.0, "nu": 0.3, "model": "3d", "body_force": [0.0, 0.0, 0.0]},
                "boundary": [{"region": "xmin", "type": "displacement", "ux": 0.0}],
            }
        )
    )
    with pytest.raises(InputError, match="translation along y, translation along z, rotation about x"):
        solve_elasticity(problem, Discretization(problem.mesh, "P1", components=3), _linear())
