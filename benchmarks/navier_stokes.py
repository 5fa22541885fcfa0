"""DFG flow past a cylinder: our Navier-Stokes solver against a plain scikit-fem script.

Speed at the benchmark's accuracy (Schaefer & Turek 1996), wall time on this machine, for the
two shipped examples and, measured in the same run, for a plain script that a scikit-fem user
would write for the same cases on the same meshes:

* **2D-1** (``resources/examples/dfg_2d1.toml``, steady, Re = 20). Ours: ``ClassicalSolver``
  on the example (Picard steps, then Newton; SuperLU). Plain: Taylor-Hood P2/P1
  (``ElementVector(ElementTriP2())`` + ``ElementTriP1()`` on the example's second-order
  triangles as a ``MeshTri2``), blocks joined with ``bmat``, a Stokes solve as the start, then
  Newton with the exact Jacobian, ``skfem.condense`` and ``scipy.sparse.linalg.spsolve`` at
  every step, to the same relative residual (1e-9 of the residual of the start with only the
  boundary values set). Both read the drag and lift as the momentum residual summed over the
  cylinder's velocity dofs, and delta_p = p(0.15, 0.2) - p(0.25, 0.2) from the P1 pressure.
  Relative errors are against the reference values; the target is 1 % on all three. Unless
  ``--quick``, a coarser and a finer mesh (all sizes halved / doubled) show where 1 % is met.
* **2D-2** (``resources/examples/dfg_2d2.toml``, periodic, Re = 100, dt = 0.005 s). Ours: the
  whole example (660 steps of BDF2 with extrapolated convection, GMRES preconditioned by lagged
  LU factors; a starting spin of the cylinder breaks the symmetry), its total wall time, and the
  time per period of the developed flow: steps per period times the mean step time over the last
  period (the step times are read off the progress callback, one report per step). St, max c_D
  and max c_L are the solver's own (``strouhal``: over the last lift period). Plain: the same
  BDF2 step with the extrapolated velocity in the convection matrix (semi-implicit),
  ``condense`` and ``spsolve`` every step (a fresh factorisation each time), started from our
  velocity at the last saved frame (every 10 steps) before our last upward lift crossing, with
  one backward-Euler step (BDF2 needs two levels; the frame holds one), run to its own second
  upward lift crossing: one full period of its own, over which it reads the period (St = D /
  (U_mean T)), max c_D and max c_L with the same parabola through the largest sample.

Meshing (gmsh, shared) is timed apart and counted in neither. Usage::

    python benchmarks/navier_stokes.py [--quick] [--end SECONDS]

``--quick`` solves 2D-1 on the example mesh only and ends 2D-2 at t = 1.5 s instead of 3.3 s,
before the street is developed: its 2D-2 numbers are not the benchmark's. Prints tables and,
as the last line, one JSON object.

BLAS runs single-threaded (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS = 1 unless
set): SuperLU, scikit-fem's assembly and the sparse products are single-threaded anyway, and a
threaded BLAS on a small shared machine only adds hand-offs to GMRES's dot products.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import skfem  # noqa: E402
from scipy import sparse  # noqa: E402
from scipy.sparse.linalg import spsolve  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402
from skfem import Basis, BilinearForm, ElementTriP1, ElementTriP2, ElementVector, LinearForm, asm, condense  # noqa: E402
from skfem.helpers import ddot, div, dot, grad  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import cpu_model  # noqa: E402  (benchmarks/machine.py, beside this script)

import engine  # noqa: E402
from engine.solvers.fem.classical import ClassicalSolver  # noqa: E402
from engine.solvers.fem.discretize import Discretization  # noqa: E402
from engine.solvers.fem.navier_stokes import _peak  # noqa: E402  (the solver's parabola through a maximum)

REFERENCE_2D1 = {"c_D": 5.57953523384, "c_L": 0.010618948146, "delta_p": 0.11752016697}
INTERVALS_2D2 = {"strouhal": (0.295, 0.305), "c_D_max": (3.22, 3.24), "c_L_max": (0.99, 1.01)}
TARGET_2D1 = 0.01
# The 2D-1 meshes: the example's (size 0.03, 0.006 within 0.1 of the cylinder) scaled by these.
MESH_SCALES = (2.0, 1.0, 0.5)
CHANNEL, CENTRE, RADIUS = (2.2, 0.41), (0.2, 0.2), 0.05
NEWTON_TOLERANCE = 1e-9  # the engine's default physics.newton.tolerance
PROBES = np.array([[0.15, 0.25], [0.2, 0.2]])  # front and back of the cylinder, as columns


# --------------------------------------------------------------------------------------------
# Cases


def example(name: str, *, mesh_scale: float = 1.0, end: float | None = None) -> engine.Case:
    """A shipped example, its mesh sizes scaled by ``mesh_scale``, optionally ending earlier."""
    data = tomllib.loads(engine.resource_path(f"examples/{name}.toml").read_text())
    data["mesh"]["size"] *= mesh_scale
    for refine in data["mesh"].get("refine", []):
        refine["size"] *= mesh_scale
    if end is not None:
        data["physics"]["time"]["end"] = end
    return engine.parse_case(data)


def meshed(case: engine.Case) -> tuple[engine.Problem, float]:
    started = time.perf_counter()
    problem = engine.Problem.from_case(case)
    return problem, time.perf_counter() - started


def inflow(y: np.ndarray, u_max: float) -> np.ndarray:
    height = CHANNEL[1]
    return 4.0 * u_max * y * (height - y) / height**2


# --------------------------------------------------------------------------------------------
# Ours


class StepClock:
    """Progress callback that stamps the end of every time step (the solver reports each)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.last_other = time.perf_counter()

    def __call__(self, fraction, message) -> None:
        if message and message.startswith("t = "):
            self.stamps.append(time.perf_counter())
        elif not self.stamps:
            self.last_other = time.perf_counter()

    def step_times(self) -> np.ndarray:
        return np.diff(np.concatenate([[self.last_other], self.stamps]))


def ours_steady(problem: engine.Problem) -> dict:
    started = time.perf_counter()
    result = ClassicalSolver().solve(problem)
    wall = time.perf_counter() - started
    m = result.provenance.metrics
    return {"wall_s": wall, "unknowns": int(m["dofs"]), "solves": int(m["linear_solves"]),
            **{k: float(m[k]) for k in REFERENCE_2D1}}


def ours_transient(problem: engine.Problem) -> tuple[dict, engine.Result]:
    clock = StepClock()
    started = time.perf_counter()
    result = ClassicalSolver().solve(problem, progress=clock)
    wall = time.perf_counter() - started
    m = result.provenance.metrics
    history = {k: np.asarray(m["force_history"][k]) for k in ("time", "c_D", "c_L")}
    step_s = clock.step_times()
    out = {"wall_s": wall, "unknowns": int(m["dofs"]), "steps": int(m["time_steps"]),
           "factorisations": int(m["factorisations"]), "gmres_iterations": int(result.provenance.iterations),
           "mean_step_s": float(step_s.mean()), "history": history}
    for key in INTERVALS_2D2:
        out[key] = float(m[key]) if key in m else None
    crossings = upward_crossings(history["time"], history["c_L"])
    if len(crossings) >= 2:
        last = (history["time"] > crossings[-2]) & (history["time"] <= crossings[-1])
        period = crossings[-1] - crossings[-2]
        dt = float(problem.case.physics.time.step)
        out.update(period_s=float(period), steps_per_period=period / dt, last_period_step_s=float(step_s[last].mean()))
        out["per_period_s"] = out["steps_per_period"] * out["last_period_step_s"]
    return out, result


def upward_crossings(t: np.ndarray, lift: np.ndarray) -> np.ndarray:
    """Times where the lift rises through the middle of its range over the second half of the
    record (linear between steps), the lift periods' ends as ``strouhal`` reads them."""
    half = t >= t[0] + 0.5 * (t[-1] - t[0])
    t, lift = t[half], lift[half]
    if len(t) < 8:
        return np.empty(0)
    s = lift - 0.5 * (lift.max() + lift.min())
    up = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
    return t[up] - s[up] * (t[up + 1] - t[up]) / (s[up + 1] - s[up])


# --------------------------------------------------------------------------------------------
# The plain scikit-fem script


def _advect(g, w):
    """(w . grad) of a vector field with gradient g."""
    return np.einsum("ij...,j...->i...", g, w)


@BilinearForm
def viscous(u, v, w):
    return w.mu * ddot(grad(u), grad(v))


@BilinearForm
def mass(u, v, w):
    return w.rho * dot(u, v)


@BilinearForm
def divergence(u, q, w):
    return -div(u) * q


@BilinearForm
def oseen(u, v, w):
    return w.rho * dot(_advect(grad(u), w.w), v)


@BilinearForm
def newton_part(u, v, w):
    return w.rho * dot(_advect(w.w.grad, u), v)


@LinearForm
def convection(v, w):
    return w.rho * dot(_advect(w.w.grad, w.w), v)


class PlainFlow:
    """Taylor-Hood on the channel as a scikit-fem user would set it up; regions by geometry."""

    def __init__(self, mesh: skfem.MeshTri2, *, rho: float, mu: float, u_max: float, force_scale: float) -> None:
        self.rho, self.mu, self.force_scale = rho, mu, force_scale
        self.vb = Basis(mesh, ElementVector(ElementTriP2()))
        self.pb = Basis(mesh, ElementTriP1(), quadrature=self.vb.quadrature)
        self.n_u, self.N = self.vb.N, self.vb.N + self.pb.N
        self.K = asm(viscous, self.vb, mu=mu)
        self.B = asm(divergence, self.vb, self.pb)
        self.M = asm(mass, self.vb, rho=rho)
        eps = 1e-8
        inlet = mesh.facets_satisfying(lambda x: x[0] < eps, boundaries_only=True)
        walls = mesh.facets_satisfying(lambda x: (x[1] < eps) | (x[1] > CHANNEL[1] - eps), boundaries_only=True)
        cylinder = mesh.facets_satisfying(lambda x: np.hypot(x[0] - CENTRE[0], x[1] - CENTRE[1]) < 1.1 * RADIUS, boundaries_only=True)
        self.D = np.unique(np.concatenate([self.vb.get_dofs(f).all() for f in (inlet, walls, cylinder)]))
        self.x_bc = np.zeros(self.N)
        inlet_x = self.vb.get_dofs(inlet).all("u^1")
        self.x_bc[inlet_x] = inflow(self.vb.doflocs[1, inlet_x], u_max)
        self.x_bc[np.unique(np.concatenate([self.vb.get_dofs(f).all() for f in (walls, cylinder)]))] = 0.0
        on_cylinder = self.vb.get_dofs(cylinder)
        self.force_dofs = [on_cylinder.all("u^1"), on_cylinder.all("u^2")]
        self.probe_weights = pressure_probes(mesh, PROBES)

    def saddle(self, A):
        return sparse.bmat([[A, self.B.T], [self.B, None]], format="csr")

    def solve(self, A, b, x):
        """spsolve on the system with the Dirichlet dofs D set to x[D] and eliminated."""
        A_II, b_I, x, I = condense(A, b, x=x, D=self.D)
        x = x.copy()
        x[I] = spsolve(A_II, b_I)
        return x

    def steady_residual(self, x):
        u, p = x[: self.n_u], x[self.n_u :]
        w = self.vb.interpolate(u)
        return np.concatenate([self.K @ u + asm(convection, self.vb, w=w, rho=self.rho) + self.B.T @ p, self.B @ u])

    def forces(self, residual) -> tuple[float, float]:
        """(c_D, c_L): the momentum residual summed over the cylinder's dofs, per component."""
        return tuple(float(-residual[d].sum() / self.force_scale) for d in self.force_dofs)

    def delta_p(self, x) -> float:
        front, back = self.probe_weights @ x[self.n_u :]
        return float(front - back)


def pressure_probes(mesh: skfem.MeshTri2, points: np.ndarray) -> np.ndarray:
    """(len(points), vertices) weights of the P1 pressure at ``points`` (columns), each of which
    must be a mesh node: a vertex (its dof) or an edge's middle node (the mean of the edge's
    ends, where P1 is linear along the edge). scikit-fem's ``probes`` has no element finder on
    MeshTri2; the DFG probes are nodes of these meshes (the cylinder's front and back points)."""
    edge_nodes = Basis(mesh, ElementTriP2()).doflocs[:, mesh.nvertices :]  # P2: vertices, then one per edge
    distance, node = cKDTree(np.hstack([mesh.p[:, : mesh.nvertices], edge_nodes]).T).query(points.T)
    if distance.max() > 1e-9:
        raise RuntimeError(f"a pressure probe is {distance.max():.2e} from every mesh node; expected probes at nodes")
    weights = np.zeros((points.shape[1], mesh.nvertices))
    for i, k in enumerate(node):
        if k < mesh.nvertices:
            weights[i, k] = 1.0
        else:
            weights[i, mesh.facets[:, k - mesh.nvertices]] = 0.5
    return weights


def plain_mesh(problem: engine.Problem) -> skfem.MeshTri2:
    """The example's second-order triangles as scikit-fem's MeshTri2 (the same mesh as ours)."""
    return Discretization(problem.mesh, "P2", components=2).skmesh


def physics_of(case: engine.Case) -> dict:
    p = case.physics
    return {"rho": float(p.rho), "mu": float(p.mu), "u_max": float(case.parameters["U_max"]),
            "force_scale": 0.5 * float(p.rho) * p.forces.velocity**2 * p.forces.length}


def plain_steady(case: engine.Case, mesh: skfem.MeshTri2) -> dict:
    started = time.perf_counter()
    flow = PlainFlow(mesh, **physics_of(case))
    x = flow.x_bc.copy()
    free = np.setdiff1d(np.arange(flow.N), flow.D)
    scale = np.linalg.norm(flow.steady_residual(x)[free])
    x = flow.solve(flow.saddle(flow.K), np.zeros(flow.N), x)  # Stokes
    residuals = []
    for _ in range(20):
        R = flow.steady_residual(x)
        residuals.append(float(np.linalg.norm(R[free]) / scale))
        if residuals[-1] <= NEWTON_TOLERANCE:
            break
        w = flow.vb.interpolate(x[: flow.n_u])
        J = flow.saddle(flow.K + asm(oseen, flow.vb, w=w, rho=flow.rho) + asm(newton_part, flow.vb, w=w, rho=flow.rho))
        x = x + flow.solve(J, -R, np.zeros(flow.N))
    else:
        raise RuntimeError(f"plain Newton did not converge: {residuals}")
    c_D, c_L = flow.forces(R)
    delta_p = flow.delta_p(x)
    return {"wall_s": time.perf_counter() - started, "unknowns": int(flow.N), "solves": len(residuals),  # Stokes + Newton
            "c_D": c_D, "c_L": c_L, "delta_p": delta_p}


def plain_period(case: engine.Case, mesh: skfem.MeshTri2, u_start: np.ndarray, t_start: float, *, max_steps: int) -> dict:
    """From u_start, BDF2 with u* = 2 u^n - u^(n-1) in the matrix, spsolve every step, until the
    lift has risen through its mid-range twice (one full period) or ``max_steps``."""
    dt = float(case.physics.time.step)
    started = time.perf_counter()
    flow = PlainFlow(mesh, **physics_of(case))  # the spin has died out: no slip on the cylinder
    setup = time.perf_counter() - started
    x = flow.x_bc.copy()
    x[: flow.n_u] = u_start
    x[flow.D] = flow.x_bc[flow.D]
    u_prev = None
    t, c_D, c_L, step_s = [], [], [], []
    for n in range(1, max_steps + 1):
        tick = time.perf_counter()
        u = x[: flow.n_u]
        if u_prev is None:  # backward Euler from the one level we have
            A = flow.saddle(flow.M / dt + flow.K + asm(oseen, flow.vb, w=flow.vb.interpolate(u), rho=flow.rho))
            b_u = flow.M @ u / dt
        else:
            A = flow.saddle(1.5 * flow.M / dt + flow.K + asm(oseen, flow.vb, w=flow.vb.interpolate(2 * u - u_prev), rho=flow.rho))
            b_u = flow.M @ (2 * u - 0.5 * u_prev) / dt
        b = np.concatenate([b_u, np.zeros(flow.N - flow.n_u)])
        x_new = flow.solve(A, b, flow.x_bc)
        d, lift = flow.forces(A @ x_new - b)
        u_prev, x = u, x_new
        step_s.append(time.perf_counter() - tick)
        t.append(t_start + n * dt)
        c_D.append(d)
        c_L.append(lift)
        crossings = _crossings(np.array(t), np.array(c_L))
        if len(crossings) >= 2:
            break
    t, c_D, c_L, step_s = map(np.array, (t, c_D, c_L, step_s))
    out = {"setup_s": setup, "steps": len(t), "unknowns": int(flow.N), "mean_step_s": float(step_s.mean()),
           "wall_s": time.perf_counter() - started, "strouhal": None, "c_D_max": None, "c_L_max": None}
    crossings = _crossings(t, c_L)
    if len(crossings) >= 2:
        period = crossings[1] - crossings[0]
        window = (t >= crossings[0]) & (t <= crossings[1])
        p = case.physics.forces
        out.update(period_s=float(period), steps_per_period=period / dt, strouhal=p.length / (p.velocity * period),
                   c_D_max=_peak(c_D, window), c_L_max=_peak(c_L, window))
        out["per_period_s"] = out["steps_per_period"] * out["mean_step_s"]
    return out


def _crossings(t: np.ndarray, lift: np.ndarray) -> np.ndarray:
    """Upward crossings of the lift through the middle of the range seen since the second step
    (the first, backward-Euler, step is left out of the range)."""
    if len(t) < 8:
        return np.empty(0)
    s = lift[1:] - 0.5 * (lift[1:].max() + lift[1:].min())
    tt = t[1:]
    up = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
    return tt[up] - s[up] * (tt[up + 1] - tt[up]) / (s[up + 1] - s[up])


def start_velocity(result: engine.Result, frame: int, mesh: skfem.MeshTri2) -> np.ndarray:
    """Our velocity at a saved frame as the plain script's P2 vector dofs: on second-order
    triangles every P2 dof sits on a mesh point, so the point values are the whole field."""
    doflocs = Basis(mesh, ElementTriP2()).doflocs.T
    distance, point = cKDTree(result.mesh.points[:, :2]).query(doflocs)
    if distance.max() > 1e-9:
        raise RuntimeError(f"a P2 dof is {distance.max():.2e} from every mesh point")
    velocity = result.fields["velocity"].values[frame]
    u = np.empty(2 * len(point))
    u[0::2], u[1::2] = velocity[point, 0], velocity[point, 1]  # ElementVector interleaves components
    return u


# --------------------------------------------------------------------------------------------


def rel(value: float | None, reference: float) -> float | None:
    return None if value is None else abs(value - reference) / abs(reference)


def within(value: float | None, interval: tuple[float, float]) -> bool:
    return value is not None and interval[0] <= value <= interval[1]


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def run_2d1(scales: tuple[float, ...]) -> list[dict]:
    rows = []
    for scale in scales:
        case = example("dfg_2d1", mesh_scale=scale)
        problem, mesh_s = meshed(case)
        ours = ours_steady(problem)
        plain = plain_steady(case, plain_mesh(problem))
        rows.append({"mesh_scale": scale, "size": float(case.mesh.size), "cells": int(problem.mesh.n_cells), "mesh_s": mesh_s,
                     "ours": ours, "plain": plain})
    print()
    print(f"DFG 2D-1 (steady, Re 20); reference c_D {REFERENCE_2D1['c_D']}, c_L {REFERENCE_2D1['c_L']}, "
          f"delta_p {REFERENCE_2D1['delta_p']}; target: all three within {TARGET_2D1:.0%}")
    print(f"{'mesh size':>9} {'cells':>6} {'unknowns':>8} {'solver':>6} {'wall s':>7} {'LUs':>4} "
          f"{'c_D':>8} {'err':>7} {'c_L':>9} {'err':>7} {'delta_p':>8} {'err':>7} {'1%':>4}")
    for row in rows:
        for name in ("ours", "plain"):
            r = row[name]
            errors = {k: rel(r[k], REFERENCE_2D1[k]) for k in REFERENCE_2D1}
            r["errors"] = errors
            r["meets_1_percent"] = all(e <= TARGET_2D1 for e in errors.values())
            print(f"{row['size']:>9.3g} {row['cells']:>6d} {r['unknowns']:>8d} {name:>6} {r['wall_s']:>7.2f} {r['solves']:>4d} "
                  f"{r['c_D']:>8.4f} {errors['c_D']:>7.2%} {r['c_L']:>9.6f} {errors['c_L']:>7.2%} "
                  f"{r['delta_p']:>8.5f} {errors['delta_p']:>7.2%} {'yes' if r['meets_1_percent'] else 'no':>4}")
        row["speedup"] = row["plain"]["wall_s"] / row["ours"]["wall_s"]
    print("speed-up (plain / ours): " + ", ".join(f"size {r['size']:.3g}: {r['speedup']:.2f}x" for r in rows)
          + f"; meshing (gmsh, in neither): " + ", ".join(f"{r['mesh_s']:.2f} s" for r in rows))
    return rows


def run_2d2(end: float | None) -> dict:
    case = example("dfg_2d2", end=end)
    problem, mesh_s = meshed(case)
    ours, result = ours_transient(problem)
    history = ours.pop("history")
    dt = float(case.physics.time.step)
    crossings = upward_crossings(history["time"], history["c_L"])
    # The plain run starts a few steps before our last upward lift crossing, so that its own
    # first crossing comes early and its second one period later.
    if len(crossings):
        before = np.flatnonzero(result.times <= crossings[-1] - 3 * dt)
        frame = int(before[-1])
        lead_steps = (crossings[-1] - result.times[frame]) / dt
        max_steps = int(lead_steps + 1.5 * ours.get("steps_per_period", 70)) + 5
    else:  # no shedding yet (a short --end): time a fixed number of steps from the last frame
        frame, max_steps = len(result.times) - 1, 40
    mesh = plain_mesh(problem)
    plain = plain_period(case, mesh, start_velocity(result, frame, mesh), float(result.times[frame]), max_steps=max_steps)
    plain["start_time"] = float(result.times[frame])
    print()
    print(f"DFG 2D-2 (periodic, Re 100, dt {dt:g} s, {problem.mesh.n_cells} cells, {ours['unknowns']} unknowns); "
          f"intervals St {INTERVALS_2D2['strouhal']}, max c_D {INTERVALS_2D2['c_D_max']}, max c_L {INTERVALS_2D2['c_L_max']}")
    print(f"{'solver':>6} {'run':>22} {'wall s':>7} {'steps':>5} {'ms/step':>7} {'steps/period':>12} {'s/period':>8} "
          f"{'St':>6} {'max c_D':>7} {'max c_L':>7} {'in':>4}")
    for name, r, span in (("ours", ours, f"0 to {float(case.physics.time.end):g} s"),
                          ("plain", plain, f"{plain['start_time']:g} s, one period")):
        step_ms = (r.get("last_period_step_s") or r["mean_step_s"]) * 1e3
        r["meets_intervals"] = all(within(r[k], INTERVALS_2D2[k]) for k in INTERVALS_2D2)
        print(f"{name:>6} {span:>22} {r['wall_s']:>7.1f} {r['steps']:>5d} {step_ms:>7.0f} {fmt(r.get('steps_per_period'), '.1f'):>12} "
              f"{fmt(r.get('per_period_s'), '.1f'):>8} {fmt(r['strouhal'], '.4f'):>6} {fmt(r['c_D_max'], '.4f'):>7} "
              f"{fmt(r['c_L_max'], '.4f'):>7} {'yes' if r['meets_intervals'] else 'no':>4}")
    speedup = plain["per_period_s"] / ours["per_period_s"] if "per_period_s" in plain and "per_period_s" in ours else None
    print(f"ours: {ours['factorisations']} LU factorisations and {ours['gmres_iterations']} GMRES iterations in "
          f"{ours['steps']} steps, mean step {ours['mean_step_s'] * 1e3:.0f} ms over the run; ms/step is over the last period. "
          f"plain: setup {plain['setup_s']:.2f} s, every step factorised. per-period speed-up (plain / ours): "
          f"{fmt(speedup, '.2f')}x; meshing {mesh_s:.2f} s (in neither)")
    return {"end": float(case.physics.time.end), "dt": dt, "cells": int(problem.mesh.n_cells), "mesh_s": mesh_s,
            "ours": ours, "plain": plain, "per_period_speedup": speedup}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2D-1 on the example mesh only; 2D-2 ends at t = 1.5 s (not developed)")
    parser.add_argument("--end", type=float, default=None, help="2D-2 end time in seconds (default: the example's 3.3 s; --quick 1.5)")
    args = parser.parse_args(argv)
    end = args.end if args.end is not None else (1.5 if args.quick else None)
    if end is not None and not end > 0:
        parser.error(f"--end must be a positive time in seconds, got {end}")
    load_before = os.getloadavg()
    print(f"navier_stokes: DFG 2D-1 and 2D-2, ours against plain scikit-fem + spsolve; {cpu_model()}, {os.cpu_count()} cpu, "
          f"load average {load_before[0]:.2f}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    # Warm-up (imports, first-call set-ups) on the coarse 2D-1 mesh, untimed.
    warm_case = example("dfg_2d1", mesh_scale=MESH_SCALES[0])
    warm, _ = meshed(warm_case)
    ours_steady(warm)
    plain_steady(warm_case, plain_mesh(warm))

    started = time.perf_counter()
    steady = run_2d1((1.0,) if args.quick else MESH_SCALES)
    periodic = run_2d2(end)
    record = {
        "benchmark": "navier_stokes",
        "quick": args.quick,
        "date": date.today().isoformat(),
        "dfg_2d1": steady,
        "dfg_2d2": periodic,
        "total_s": round(time.perf_counter() - started, 1),
        "machine": f"{cpu_model()}, {os.cpu_count()} cpu, python {platform.python_version()}, numpy {np.__version__}, "
                   f"scipy {scipy.__version__}, scikit-fem {skfem.__version__}",
        "threads": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(record, default=_json_number))
    return record


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


if __name__ == "__main__":
    main()
