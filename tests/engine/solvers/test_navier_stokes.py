"""Steady incompressible flow against known answers: the DFG 2D-1 benchmark, the lid-driven
cavity of Ghia, Ghia & Shin (1982), Poiseuille flow (exact in Taylor-Hood), Kovasznay flow
(convergence rates), and the refusals and failures a user can run into."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import skfem

import engine
from engine.case import parse_case
from engine.errors import CaseError, InputError, RunError
from engine.physics.registry import default_case
from engine.problem import Problem
from engine.solvers.fem.classical import ClassicalSolver
from engine.solvers.fem.discretize import Discretization
from engine.solvers.fem.linear import LinearSolver
from engine.solvers.fem.navier_stokes import solve_navier_stokes


def _solve(case: dict, progress=None):
    problem = Problem.from_case(parse_case(case))
    return problem, ClassicalSolver().solve(problem, progress=progress)


def _cavity(mu: float, mesh: dict, probes: list[dict] | None = None) -> dict:
    """The unit square with the lid (top) moving at ux = 1: Re = 1 / mu."""
    return {
        "version": 1,
        "geometry": {"kind": "unit_square"},
        "mesh": mesh,
        "physics": {"kind": "navier_stokes", "rho": 1.0, "mu": mu},
        "boundary": [
            {"region": "top", "type": "velocity", "ux": 1.0, "uy": 0.0},
            {"region": ["left", "right", "bottom"], "type": "no_slip"},
        ],
        "probes": probes or [],
        "solver": {"classical": {"element": "P2"}},
    }


# -- DFG 2D-1 (Schafer & Turek 1996), Re = 20 -------------------------------------------------
# Reference values of the benchmark's finest computations (featflow).
DFG1_C_D, DFG1_C_L, DFG1_DELTA_P = 5.57953523384, 0.010618948146, 0.11752016697


def test_dfg_2d1_drag_lift_and_pressure_drop_within_1_percent():
    case = {
        "version": 1,
        "geometry": {"kind": "channel_with_obstacle"},
        "mesh": {"size": 0.03, "order": 2, "refine": [{"region": "obstacle", "size": 0.006, "distance": 0.1}]},
        "physics": {
            "kind": "navier_stokes", "rho": 1.0, "mu": 0.001,
            "forces": {"region": "obstacle", "velocity": 0.2, "length": 0.1},
            "pressure_difference": ["front", "back"],
        },
        "boundary": [
            {"region": "inlet", "type": "velocity", "ux": "4 * 0.3 * y * (0.41 - y) / 0.41^2", "uy": 0.0},
            {"region": ["walls", "obstacle"], "type": "no_slip"},
            {"region": "outlet", "type": "outflow"},
        ],
        "probes": [{"name": "front", "point": [0.15, 0.2]}, {"name": "back", "point": [0.25, 0.2]}],
        "solver": {"classical": {"element": "P2"}},
    }  # fmt: skip
    _, result = _solve(case)
    m = result.provenance.metrics
    assert m["c_D"] == pytest.approx(DFG1_C_D, rel=0.01)
    assert m["c_L"] == pytest.approx(DFG1_C_L, rel=0.01)
    assert m["delta_p"] == pytest.approx(DFG1_DELTA_P, rel=0.01)
    # The pressure drop is the difference of the pressure field at the two probes.
    p = {name: float(result.probes[name].values["pressure"][0]) for name in ("front", "back")}
    assert p["front"] - p["back"] == pytest.approx(m["delta_p"], rel=1e-9)


# -- lid-driven cavity: Ghia, Ghia & Shin (1982), tables I and II -----------------------------
# u along the vertical centreline x = 0.5 at GHIA_Y, v along the horizontal one y = 0.5 at GHIA_X.
GHIA_Y = [1.0000, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5000,
          0.4531, 0.2813, 0.1719, 0.1016, 0.0703, 0.0625, 0.0547, 0.0000]  # fmt: skip
GHIA_U = {
    100: [1.00000, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581,
          -0.21090, -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.00000],
    1000: [1.00000, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.06080,
           -0.10648, -0.27805, -0.38289, -0.29730, -0.22220, -0.20196, -0.18109, 0.00000],
}  # fmt: skip
GHIA_X = [1.0000, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5000,
          0.2344, 0.2266, 0.1563, 0.0938, 0.0781, 0.0703, 0.0625, 0.0000]  # fmt: skip
GHIA_V = {
    100: [0.00000, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454,
          0.17527, 0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.00000],
    1000: [0.00000, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665, -0.31966, 0.02526,
           0.32235, 0.33075, 0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.00000],
}  # fmt: skip

# These meshes are within about 1e-3 of h = 1/80 at every point. The converged P2/P1 solution
# (h = 1/80 and wall-refined meshes agree to 2e-4) is itself 0.0092 off Ghia's table at Re 100
# (v at x = 0.8594) and 0.0185 at Re 1000 (v at x = 0.9453): the 1982 grid's own error, which
# leaves little room under the tolerances whatever the mesh.
_WALLS = ("top", "left", "right", "bottom")
CAVITY = {
    100: ({"size": 0.05}, 0.01),
    1000: ({"size": 0.05, "refine": [{"region": r, "size": 0.02, "distance": 0.15} for r in _WALLS]}, 0.02),
}


@pytest.mark.parametrize("reynolds", [100, 1000])
def test_lid_driven_cavity_centrelines_match_ghia(reynolds):
    mesh, tolerance = CAVITY[reynolds]
    probes = [{"name": f"u{i}", "point": [0.5, y]} for i, y in enumerate(GHIA_Y)]
    probes += [{"name": f"v{i}", "point": [x, 0.5]} for i, x in enumerate(GHIA_X)]
    _, result = _solve(_cavity(1.0 / reynolds, mesh, probes))
    u = np.array([result.probes[f"u{i}"].values["velocity"][0] for i in range(len(GHIA_Y))])
    v = np.array([result.probes[f"v{i}"].values["velocity"][1] for i in range(len(GHIA_X))])
    np.testing.assert_allclose(u, GHIA_U[reynolds], rtol=0, atol=tolerance)
    np.testing.assert_allclose(v, GHIA_V[reynolds], rtol=0, atol=tolerance)
    assert result.provenance.metrics["pressure_level"].startswith("mean zero")


# -- Poiseuille flow: in the Taylor-Hood spaces, so exact ---------------------------------------
def test_poiseuille_flow_is_exact():
    """u = Umax 4 y (H - y) / H^2, v = 0 solves the equations with (u . grad) u = 0 and
    mu u'' = dp/dx, so dp/dx = -8 mu Umax / H^2; the do-nothing outflow at x = L (du/dx = 0)
    sets p(L) = 0. Quadratic velocity and linear pressure are P2 and P1 functions."""
    L, H, umax, mu = 2.0, 0.5, 1.5, 0.02
    case = {
        "version": 1,
        "parameters": {"H": H, "umax": umax},
        "geometry": {"kind": "rectangle", "parameters": {"width": L, "height": H}},
        "mesh": {"size": 0.12},
        "physics": {"kind": "navier_stokes", "rho": 1.0, "mu": mu},
        "boundary": [
            {"region": "left", "type": "velocity", "ux": "umax * 4 * y * (H - y) / H^2", "uy": 0.0},
            {"region": ["bottom", "top"], "type": "no_slip"},
            {"region": "right", "type": "outflow"},
        ],
        "probes": [{"name": f"p{i}", "point": [x, y]} for i, (x, y) in enumerate([(0.31, 0.07), (1.13, 0.29), (1.87, 0.44)])],
        "solver": {"classical": {"element": "P2"}},
    }
    problem, result = _solve(case)
    gradient = -8.0 * mu * umax / H**2
    x, y = result.mesh.points[:, 0], result.mesh.points[:, 1]
    velocity = result.fields["velocity"].values
    np.testing.assert_allclose(velocity[:, 0], umax * 4 * y * (H - y) / H**2, rtol=0, atol=1e-10)
    np.testing.assert_allclose(velocity[:, 1], 0.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.fields["pressure"].values, gradient * (x - L), rtol=0, atol=1e-10)
    # Off the nodes too: the probes read the finite-element functions inside cells.
    for probe in problem.case.probes:
        (px, py), reading = probe.point[:2], result.probes[probe.name].values
        np.testing.assert_allclose(reading["velocity"], [umax * 4 * py * (H - py) / H**2, 0.0], rtol=0, atol=1e-10)
        assert reading["pressure"][0] == pytest.approx(gradient * (px - L), abs=1e-10)
    assert "pressure_level" not in result.provenance.metrics  # the outflow sets it


# -- Kovasznay flow: convergence rates on the solver's own discretisation -------------------------
# Kovasznay (1948): with lam = Re/2 - sqrt(Re^2/4 + 4 pi^2),
#   u = 1 - exp(lam x) cos(2 pi y),  v = lam/(2 pi) exp(lam x) sin(2 pi y),  p = (1 - exp(2 lam x))/2
# solves the steady equations with rho = 1, mu = 1/Re and no body force.
KOVASZNAY_RE = 40.0
_LAM = KOVASZNAY_RE / 2 - math.sqrt(KOVASZNAY_RE**2 / 4 + 4 * math.pi**2)
#: Taylor-Hood P2/P1 and Q2/Q1: velocity h^3, pressure h^2 in L2.
RATE_VELOCITY_L2, RATE_PRESSURE_L2 = 3.0, 2.0


def _kovasznay_case(h: float, element: str) -> dict:
    return {
        "version": 1,
        "parameters": {"lam": _LAM},
        "geometry": {"kind": "rectangle", "parameters": {"x0": -0.5, "y0": -0.5, "width": 1.5, "height": 2.0}},
        "mesh": {"size": h, "structured": True, "cell": "quad" if element == "Q2" else "triangle"},
        "physics": {"kind": "navier_stokes", "rho": 1.0, "mu": 1.0 / KOVASZNAY_RE},
        "boundary": [
            {"region": ["left", "right", "bottom", "top"], "type": "velocity",
             "ux": "1 - exp(lam*x)*cos(2*pi*y)", "uy": "lam/(2*pi)*exp(lam*x)*sin(2*pi*y)"},
        ],
        "solver": {"classical": {"element": element}},
    }  # fmt: skip


def _kovasznay_errors(h: float, element: str) -> tuple[float, float]:
    """L2 errors of velocity and pressure, with a quadrature far above the elements'. No outflow:
    the solver reports the pressure with zero mean, so it is compared with p minus its mean."""
    problem = Problem.from_case(parse_case(_kovasznay_case(h, element)))
    disc = Discretization(problem.mesh, element, components=2)
    solution = solve_navier_stokes(problem, disc, LinearSolver(method="direct"))
    u = np.empty(disc.n_dofs)
    for c in range(2):
        u[disc.component_dofs(c)] = solution.fields["velocity"].values[:, c]
    fine = skfem.Basis(disc.skmesh, disc.element, intorder=10)
    fine_scalar = skfem.Basis(disc.skmesh, disc.scalar_element, intorder=10)
    x, y = np.asarray(fine.global_coordinates())
    E = np.exp(_LAM * x)
    exact_u = np.array([1 - E * np.cos(2 * np.pi * y), _LAM / (2 * np.pi) * E * np.sin(2 * np.pi * y)])
    exact_p = 0.5 * (1 - E**2)
    exact_p -= np.sum(exact_p * fine.dx) / np.sum(fine.dx)
    # The pressure field lives on the velocity's scalar space (the P1/Q1 pressure lifted exactly).
    p = np.asarray(fine_scalar.interpolate(solution.fields["pressure"].values))
    assert abs(np.sum(p * fine.dx)) < 1e-12  # reported with zero mean
    error_u = math.sqrt(np.sum((np.asarray(fine.interpolate(u)) - exact_u) ** 2 * fine.dx))
    error_p = math.sqrt(np.sum((p - exact_p) ** 2 * fine.dx))
    return error_u, error_p


@pytest.mark.parametrize("element", ["P2", "Q2"])
def test_kovasznay_flow_converges_at_the_taylor_hood_rates(element):
    sizes = (0.25, 0.125, 0.0625)
    errors = np.array([_kovasznay_errors(h, element) for h in sizes])
    rates = np.log2(errors[:-1] / errors[1:])  # halving h each level
    assert rates[-1, 0] > RATE_VELOCITY_L2 - 0.3, rates
    assert rates[-1, 1] > RATE_PRESSURE_L2 - 0.3, rates
    assert errors[-1, 0] < 1e-3 and errors[-1, 1] < 1e-3, errors


# -- refusals and failures -----------------------------------------------------------------------
def _default_cavity(**physics) -> dict:
    case = default_case("navier_stokes")
    case["mesh"] = {"size": 0.1}
    case["physics"].update(physics)
    return case


@pytest.mark.parametrize("element", ["P1", "Q1"])
def test_equal_order_elements_are_refused(element):
    case = _default_cavity()
    case["solver"] = {"classical": {"element": element}}
    if element == "Q1":
        case["mesh"].update(structured=True, cell="quad")
    with pytest.raises(InputError, match="Taylor-Hood") as info:
        _solve(case)
    assert info.value.field == "solver.classical.element"
    assert "P2" in str(info.value)


def test_amg_linear_solver_is_refused():
    case = _default_cavity()
    case["solver"] = {"classical": {"element": "P2", "linear_solver": "cg_amg"}}
    with pytest.raises(InputError, match="saddle-point") as info:
        _solve(case)
    assert info.value.field == "solver.classical.linear_solver"
    assert info.value.value == "cg_amg"


def test_case_without_velocity_condition_is_refused():
    case = _default_cavity()
    case["boundary"] = [{"region": ["left", "right", "bottom", "top"], "type": "outflow"}]
    with pytest.raises(CaseError, match="no condition fixes the velocity") as info:
        _solve(case)
    assert info.value.field == "boundary"


def test_cavity_pressure_has_zero_mean_and_says_so():
    case = _default_cavity(mu=0.01)
    problem = Problem.from_case(parse_case(case))
    result = ClassicalSolver().solve(problem)
    assert result.provenance.metrics["pressure_level"] == "mean zero (no outflow sets it)"
    disc = Discretization(problem.mesh, "P2", components=2)
    solution = solve_navier_stokes(problem, disc, LinearSolver(method="direct"))
    p = solution.fields["pressure"].values
    mean = float(np.sum(np.asarray(disc.scalar_basis.interpolate(p)) * disc.scalar_basis.dx))  # the area is 1
    assert abs(mean) < 1e-12 * np.abs(p).max()
    assert np.abs(p).max() > 0.1  # a real pressure field, not zero


def test_newton_that_does_not_converge_reports_its_residuals():
    case = _default_cavity(mu=0.001, newton={"max_iterations": 1, "picard_steps": 0})
    messages = []
    with pytest.raises(RunError, match="did not converge") as info:
        _solve(case, progress=lambda fraction, message: messages.append(message))
    reported = [m.rsplit("residual ", 1)[1] for m in messages if m.startswith("Newton step")]
    shown = re.search(r"last ones: ([^)]*)\)", str(info.value)).group(1).split(", ")
    assert len(shown) >= 5
    assert shown == reported[-len(shown) :]  # the history the run went through, in order
    assert "continuation" in str(info.value) and "max_iterations" in str(info.value)


def test_transient_run_with_a_huge_time_step_stops_with_the_step_and_time():
    """The DFG channel at Re = 10 000 (mean inflow 1, diameter 0.1, mu = 1e-5) with a Courant
    number u dt / h of 7.5 (the scheme's limit is about 0.5): the velocity soon reaches a
    thousand times the inflow's (measured: 4100 by step 160, 3.3e5 within 1000 steps, never
    more than 1800 times the last step's). The run stops and names the step and the time."""
    case = {
        "version": 1,
        "geometry": {"kind": "channel_with_obstacle"},
        "mesh": {"size": 0.1},
        "physics": {"kind": "navier_stokes", "rho": 1.0, "mu": 1e-5, "time": {"end": 150.0, "step": 0.5, "save_every": 300}},
        "boundary": [
            {"region": "inlet", "type": "velocity", "ux": "4 * 1.5 * y * (0.41 - y) / 0.41^2", "uy": 0.0},
            {"region": ["walls", "obstacle"], "type": "no_slip"},
            {"region": "outlet", "type": "outflow"},
        ],
        "solver": {"classical": {"element": "P2"}},
    }
    with pytest.raises(RunError, match=r"blew up at step \d+, t = [0-9.]+") as info:
        _solve(case)
    assert "physics.time.step" in str(info.value)


def test_a_transient_flow_reports_each_step_and_cancel_stops_it_leaving_earlier_files(tmp_path):
    import threading

    from engine.errors import Cancelled
    from engine.run import run_case

    case = _default_cavity(mu=0.01, time={"end": 0.2, "step": 0.01})
    run_case(parse_case(case), out=tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert before, "the first run wrote its files"
    cancel, steps = threading.Event(), []

    def stop_at_step_5(fraction, message):
        if fraction is not None:
            steps.append(fraction)
        if len(steps) == 5:
            cancel.set()

    with pytest.raises(Cancelled, match="transient flow solve"):
        run_case(parse_case(case), out=tmp_path, progress=stop_at_step_5, cancel=cancel)
    assert 5 <= len(steps) < 20  # one report a step, and it stopped at the next
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
