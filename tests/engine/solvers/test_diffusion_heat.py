"""Diffusion and heat: manufactured solutions with their convergence orders, a transient
analytic solution with each scheme's order in time, and the NAFEMS thermal benchmarks."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from skfem import Functional
from skfem.helpers import dot

from engine.case import load_case, parse_case
from engine.expressions import parse_expression
from engine.problem import Problem
from engine.solvers.fem.classical import ClassicalSolver
from engine.solvers.fem.diffusion import solve_diffusion
from engine.solvers.fem.discretize import Discretization
from engine.solvers.fem.heat import solve_heat
from engine.solvers.fem.linear import LinearSolver

x, y, t = sp.symbols("x y t")

# Manufactured solution with variable conductivity; every boundary kind is exercised:
# Dirichlet (left, bottom), Neumann (top: flux = k du/dn, n = +y), Robin (right: n = +x).
U = sp.exp(x) * sp.sin(sp.pi * y) + x**2 * y
K = 1 + x * y
F = -(sp.diff(K * sp.diff(U, x), x) + sp.diff(K * sp.diff(U, y), y))
H = 2
NEUMANN_TOP = K * sp.diff(U, y)
U_INF_RIGHT = U + K * sp.diff(U, x) / H


def expr(e) -> str:
    return str(sp.simplify(e))


def mms_case(size: float, cell: str, element: str) -> dict:
    return {
        "version": 1,
        "solver": {"classical": {"element": element}},
        "geometry": {"kind": "unit_square"},
        "mesh": {"size": size, "structured": True, "cell": cell},
        "physics": {"kind": "diffusion", "k": expr(K), "f": expr(F)},
        "boundary": [
            {"region": ["left", "bottom"], "type": "dirichlet", "value": expr(U)},
            {"region": "top", "type": "neumann", "flux": expr(NEUMANN_TOP)},
            {"region": "right", "type": "robin", "h": H, "u_inf": expr(U_INF_RIGHT)},
        ],
    }


def errors(disc: Discretization, u: np.ndarray) -> tuple[float, float]:
    exact = parse_expression(expr(U))
    gx = parse_expression(expr(sp.diff(U, x)))
    gy = parse_expression(expr(sp.diff(U, y)))

    @Functional
    def l2(w):
        return (w["u"] - exact(x=w.x[0], y=w.x[1])) ** 2

    @Functional
    def h1(w):
        g = np.array([gx(x=w.x[0], y=w.x[1]), gy(x=w.x[0], y=w.x[1])])
        d = w["u"].grad - g
        return dot(d, d)

    uh = disc.basis.interpolate(u)
    return float(np.sqrt(l2.assemble(disc.basis, u=uh))), float(np.sqrt(h1.assemble(disc.basis, u=uh)))


def rates(element: str, cell: str, sizes: list[float]) -> tuple[float, float]:
    e_l2, e_h1 = [], []
    for size in sizes:
        problem = Problem.from_case(parse_case(mms_case(size, cell, element)))
        disc = Discretization(problem.mesh, element)
        solution = solve_diffusion(problem, disc, LinearSolver(method="direct"))
        a, b = errors(disc, solution.fields["u"].values)
        e_l2.append(a)
        e_h1.append(b)
    h = np.array(sizes)
    rate = lambda e: float(np.polyfit(np.log(h), np.log(e), 1)[0])  # noqa: E731
    return rate(e_l2), rate(e_h1)


@pytest.mark.parametrize(
    ("element", "cell", "rate_l2", "rate_h1"),
    [("P1", "triangle", 2.0, 1.0), ("P2", "triangle", 3.0, 2.0), ("Q1", "quad", 2.0, 1.0), ("Q2", "quad", 3.0, 2.0)],
)
def test_diffusion_convergence_orders(element, cell, rate_l2, rate_h1):
    measured_l2, measured_h1 = rates(element, cell, [1 / 8, 1 / 16, 1 / 32])
    assert measured_l2 == pytest.approx(rate_l2, abs=0.15)
    assert measured_h1 == pytest.approx(rate_h1, abs=0.15)


# -- transient heat against an analytic solution -----------------------------------------------
ALPHA = 0.5


def transient_case(dt: float, scheme: str, *, adaptive: bool = False, end: float = 0.2) -> dict:
    """u = exp(-pi^2 alpha t) sin(pi x) on a strip: Dirichlet 0 at x = 0, 1; insulated top/bottom."""
    return {
        "version": 1,
        "geometry": {"kind": "rectangle", "parameters": {"width": 1.0, "height": 0.05}},
        "mesh": {"size": 1 / 40, "structured": True},
        "physics": {
            "kind": "heat",
            "k": ALPHA,
            "initial": "sin(pi*x)",
            "time": {"end": end, "step": dt, "scheme": scheme, "adaptive": adaptive, "tolerance": 1e-4},
        },
        "boundary": [{"region": ["left", "right"], "type": "dirichlet", "value": 0.0}],
        "solver": {"classical": {"element": "P2"}},
    }


def final_error(case: dict) -> tuple[float, object]:
    result = ClassicalSolver().solve(Problem.from_case(parse_case(case)))
    T = result.fields["T"]
    end = T.times[-1]
    exact = np.exp(-np.pi**2 * ALPHA * end) * np.sin(np.pi * result.mesh.points[:, 0])
    return float(np.abs(T.values[-1] - exact).max()), result


@pytest.mark.parametrize(("scheme", "order"), [("backward_euler", 1.0), ("crank_nicolson", 2.0)])
def test_time_convergence_order(scheme, order):
    steps = [0.02, 0.01, 0.005]
    errs = [final_error(transient_case(dt, scheme))[0] for dt in steps]
    measured = float(np.polyfit(np.log(steps), np.log(errs), 1)[0])
    assert measured == pytest.approx(order, abs=0.15)


def test_fixed_step_reuses_the_factorisation_and_saves_a_series():
    _, result = final_error(transient_case(0.01, "crank_nicolson"))
    T = result.fields["T"]
    assert T.is_time_series and len(T.times) == 21 and T.times[-1] == pytest.approx(0.2)
    details = result.provenance.metrics
    assert details["time_steps"] == 20 and details["reused_setups"] == 19


def test_adaptive_steps_meet_the_tolerance_with_fewer_steps():
    error, result = final_error(transient_case(0.001, "crank_nicolson", adaptive=True))
    assert error < 5e-4
    assert result.provenance.metrics["time_steps"] < 200  # a fixed step of 0.001 would take 200


# -- published thermal benchmarks ----------------------------------------------------------------
def test_nafems_t4_convection(resources):
    """NAFEMS T4: 2D conduction with convection; T at E = (0.6, 0.2) is 18.25 C."""
    result = ClassicalSolver().solve(Problem.from_case(load_case(resources / "examples" / "nafems_t4.toml")))
    assert float(result.probes["E"].values["T"][0]) == pytest.approx(18.25, rel=0.01)


def test_nafems_t3_transient(resources):
    """NAFEMS T3: 1D transient conduction with a sinusoidal end temperature; T(0.08, 32 s) = 36.60 C."""
    result = ClassicalSolver().solve(Problem.from_case(load_case(resources / "examples" / "nafems_t3.toml")))
    values = result.probes["B"].values["T"]
    times = result.fields["T"].times
    assert times[-1] == pytest.approx(32.0)
    assert float(values[-1]) == pytest.approx(36.60, rel=0.02)


# -- progress and cancellation -----------------------------------------------------------------
def test_progress_reports_and_cancel_stops_a_transient_run(tmp_path):
    import threading

    from engine.errors import Cancelled
    from engine.run import run_case

    case = parse_case(transient_case(0.01, "backward_euler"))
    seen = []
    outcome = run_case(case, out=tmp_path, progress=lambda f, m: seen.append(f))
    fractions = [f for f in seen if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 10
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    cancel = threading.Event()

    def stop_halfway(fraction, message):
        if fraction is not None and fraction > 0.5:
            cancel.set()

    with pytest.raises(Cancelled, match="cancelled"):
        run_case(case, out=tmp_path, progress=stop_halfway, cancel=cancel)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # the cancelled run left the earlier files as they were
    assert {p.name for p in outcome.files if p.suffix != ".png"} == {"classical.pvd", "result.h5", "metrics.json"}
