"""Incompressible Navier-Stokes on Taylor-Hood elements (P2/P1 triangles, Q2/Q1 quads).

Weak form, for every velocity test v (zero where the velocity is prescribed) and pressure test q:

    rho (du/dt, v) + rho ((u . grad) u, v) + mu (grad u, grad v) - (p, div v) = (f, v) - <p_out n, v>_outflow
    -(div u, q) = 0

The gradient (not the symmetric-gradient) form makes "do nothing" the natural condition at an
outflow: mu du/dn - p n = -p_out n, which lets a Poiseuille profile leave undisturbed.

Steady flow: Picard (Oseen) steps from the Stokes-like start, then Newton with the exact
Jacobian; when Newton fails at the case's viscosity, continuation solves at 2^k times the
viscosity first and walks down, each stage starting from the last.

Transient flow: BDF2 with the convection extrapolated from the two previous steps
(u* = 2 u^n - u^(n-1); the first step is backward Euler with u* = u^0). The system matrix then
never changes, so it is factorised once (once more for the first step) and every step costs a
convection assembly and two triangular solves. Chosen by measurement: a semi-implicit scheme
(u* in the matrix) refactorises every step, 2.1 s at 42k unknowns here against 0.03 s for a
solve with stored factors; the price is a CFL limit on the step (u dt / h below about 0.5 for
P2), which accuracy at the benchmark's Strouhal number asks for anyway.

Forces on a region are the residual of the momentum equation tested with the velocity dofs of
that region (the "volume" or reaction-force evaluation): for u = 0 on the region this equals
the surface integral of the stress but converges at the order of the energy norm squared,
which line integrals of gradients do not.

Sparse direct solver: SciPy's SuperLU with its default COLAMD ordering. Measured here on
Taylor-Hood Oseen systems of the DFG channel (factorise / one solve, seconds): 42k unknowns
SuperLU 2.1 / 0.03, MKL PARDISO (pypardiso) 1.1-1.4 / 0.06-0.07; 169k unknowns SuperLU 16.7 /
0.18, PARDISO 4.5 / 0.19. SuperLU's minimum-degree ordering on A + A^T (what the symmetric
solvers use) took 916 s at 42k: never for saddle-point systems. PARDISO would halve a Newton
step of the benchmark meshes, but it brings MKL (1.2 GB in the environment) into the set-up
and the installer; the time stepping, which dominates transient runs, is faster with SuperLU's
stored factors.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from skfem import Basis, BilinearForm, FacetBasis, LinearForm, asm
from skfem.helpers import ddot, div, dot, grad

from engine.errors import InputError, RunError
from engine.problem import Problem
from engine.solver import check_cancelled, report
from engine.solvers.fem.common import FemSolution, NodalField, at_quadrature
from engine.solvers.fem.discretize import Discretization

__all__ = ["FlowSystem", "solve_navier_stokes", "strouhal"]


# -- forms -------------------------------------------------------------------------------------

def _advect(g, w):
    """(w . grad) applied to a vector with gradient ``g``: sum_j w_j d(.)_i/dx_j."""
    return np.einsum("ij...,j...->i...", g, w)


@BilinearForm
def _viscous(u, v, w):
    return w["mu"] * ddot(grad(u), grad(v))


@BilinearForm
def _mass(u, v, w):
    return w["rho"] * dot(u, v)


@BilinearForm
def _divergence(u, q, w):
    return -div(u) * q


@BilinearForm
def _oseen(u, v, w):
    """rho ((w . grad) u, v): convection by a known velocity (Picard, and half of Newton)."""
    return w["rho"] * dot(_advect(grad(u), w["w"]), v)


@BilinearForm
def _scalar_oseen(u, v, w):
    """rho (w . grad u) v for scalar u, v: one block of ``_oseen``, which is block-diagonal."""
    return w["rho"] * dot(w["w"], grad(u)) * v


@BilinearForm
def _newton_part(u, v, w):
    """rho ((u . grad) w, v): the other half of the convection's derivative."""
    return w["rho"] * dot(_advect(w["w"].grad, u), v)


@LinearForm
def _convection(v, w):
    """rho ((w . grad) w, v)."""
    return w["rho"] * dot(_advect(w["w"].grad, w["w"]), v)


@LinearForm
def _load(v, w):
    return dot(w["f"], v)


@LinearForm
def _outflow(v, w):
    return -w["p"] * dot(w.n, v)


@LinearForm
def _scalar_load(v, w):
    return w["s"] * v


@BilinearForm
def _scalar_mass(u, v, w):
    return u * v


# -- the discrete system -----------------------------------------------------------------------

_PRESSURE_ELEMENT = {"ElementTriP2": "ElementTriP1", "ElementQuad2": "ElementQuad1"}


class FlowSystem:
    """The Taylor-Hood spaces of a flow Problem, its constant matrices and its conditions.

    Unknowns are ``x = [u, p]``: the velocity dofs of ``disc.basis`` (P2 or Q2, interleaved
    components), then the pressure dofs of ``pressure_basis`` (P1 or Q1).
    """

    def __init__(self, problem: Problem, disc: Discretization) -> None:
        import skfem

        physics = problem.case.physics
        scalar_name = type(disc.scalar_element).__name__
        if disc.components != 2 or scalar_name not in _PRESSURE_ELEMENT:
            raise InputError(
                "Navier-Stokes needs a 2D second-order velocity element",
                field="solver.classical.element", value=disc.element_name, expected="'P2' on triangles or 'Q2' on quads",
            )
        self.problem, self.disc = problem, disc
        self.rho, self.mu = float(physics.rho), float(physics.mu)
        self.velocity_basis = disc.basis
        self.pressure_basis = Basis(disc.skmesh, getattr(skfem, _PRESSURE_ELEMENT[scalar_name])(), quadrature=disc.basis.quadrature)
        self.n_u, self.n_p = int(disc.basis.N), int(self.pressure_basis.N)
        self.N = self.n_u + self.n_p
        basis = self.velocity_basis
        self.K = asm(_viscous, basis, mu=self.mu).tocsr()
        self.M = asm(_mass, basis, rho=self.rho).tocsr()
        self.B = asm(_divergence, basis, self.pressure_basis).tocsr()  # (n_p, n_u)
        self._boundary(problem)
        self._xq = np.asarray(basis.global_coordinates())

    # conditions ---------------------------------------------------------------------------
    def _boundary(self, problem: Problem) -> None:
        disc = self.disc
        velocity, walls, outflows = [], [], []
        for i, bc in enumerate(problem.case.boundary):
            if bc.type == "velocity":
                for c, axis in enumerate("xy"):
                    if getattr(bc, f"u{axis}") is not None:
                        dofs = disc.boundary_dofs(bc.regions, component=c)
                        velocity.append((dofs, problem.coefficient(f"boundary[{i}].u{axis}")))
            elif bc.type == "no_slip":
                walls.append(disc.boundary_dofs(bc.regions))
            elif bc.type == "outflow":
                facets = disc.facets_for_load(bc.regions, f"boundary[{i}].region")
                outflows.append((FacetBasis(disc.skmesh, disc.element, facets=facets), problem.coefficient(f"boundary[{i}].pressure")))
        self._velocity, self._outflows = velocity, outflows
        wall = np.unique(np.concatenate(walls)) if walls else np.empty(0, dtype=np.int64)
        self._wall = wall
        fixed = [wall] + [d for d, _ in velocity]
        self.pressure_pinned = not outflows
        if self.pressure_pinned:
            # No outflow: the pressure is known up to a constant. Pin one pressure dof, report
            # the pressure with zero mean.
            fixed.append(np.array([self.n_u]))
        self.fixed = np.unique(np.concatenate(fixed)) if fixed else np.empty(0, dtype=np.int64)
        self.free = np.setdiff1d(np.arange(self.N), self.fixed)
        self.time_dependent = any(c.depends_on_time for _, c in velocity) or any(c.depends_on_time for _, c in outflows)
        body = problem.case.physics.body_force
        self._body = None if body is None else [problem.coefficient(f"physics.body_force[{j}]") for j in range(2)]
        self.time_dependent_load = self.time_dependent or (self._body is not None and any(c.depends_on_time for c in self._body))

    def dirichlet_values(self, t: float) -> np.ndarray:
        """Values of the fixed unknowns (in ``fixed`` order) at time ``t``: walls win at points
        they share with a velocity condition (a lid's corners are wall)."""
        x = np.zeros(self.N)
        for dofs, coef in self._velocity:
            x[dofs] = coef.at_points(self.disc.dof_locations(dofs), t)
        x[self._wall] = 0.0
        return x[self.fixed]

    def load(self, t: float) -> np.ndarray:
        """The momentum right-hand side: body force and outflow pressure levels."""
        F = np.zeros(self.n_u)
        if self._body is not None:
            f = np.array([at_quadrature(c, self._xq, self.disc, t) for c in self._body])
            F += asm(_load, self.velocity_basis, f=f)
        for fb, coef in self._outflows:
            if coef.is_constant and coef.value == 0.0:
                continue
            fx = np.asarray(fb.global_coordinates())
            F += asm(_outflow, fb, p=at_quadrature(coef, fx, self.disc, t, elements=fb.tind))
        return F

    # matrices and vectors -------------------------------------------------------------------
    def saddle(self, A: sparse.spmatrix) -> sparse.csr_matrix:
        """[[A, B^T], [B, 0]]."""
        return sparse.bmat([[A, self.B.T], [self.B, None]], format="csr")

    def convection(self, u: np.ndarray) -> np.ndarray:
        return asm(_convection, self.velocity_basis, w=self.velocity_basis.interpolate(u), rho=self.rho)

    def oseen(self, u: np.ndarray) -> sparse.csr_matrix:
        """rho ((u . grad) ., .): assembled once per component block on the scalar space and
        repeated for each component (vector dofs interleave: dof 2 s + c is component c of
        scalar dof s), a quarter of the vector form's work."""
        w = np.asarray(self.velocity_basis.interpolate(u))
        block = asm(_scalar_oseen, self.disc.scalar_basis, w=w, rho=self.rho)
        return sparse.kron(block, sparse.identity(2), format="csr")

    def jacobian(self, u: np.ndarray) -> sparse.csr_matrix:
        w = self.velocity_basis.interpolate(u)
        C = asm(_oseen, self.velocity_basis, w=w, rho=self.rho) + asm(_newton_part, self.velocity_basis, w=w, rho=self.rho)
        return self.saddle(self.K + C)

    def residual(self, x: np.ndarray, F: np.ndarray) -> np.ndarray:
        """The steady residual of every equation (fixed rows included)."""
        u, p = x[: self.n_u], x[self.n_u :]
        momentum = self.K @ u + self.convection(u) + self.B.T @ p - F
        return np.concatenate([momentum, self.B @ u])

    def force_rows(self, regions: list[str]) -> sparse.csr_matrix:
        """(2, N): row c sums the momentum equations of component c on the region's velocity dofs."""
        rows, cols = [], []
        for c in range(2):
            dofs = self.disc.boundary_dofs(regions, component=c)
            rows.append(np.full(len(dofs), c))
            cols.append(dofs)
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(2, self.N))

    # outputs --------------------------------------------------------------------------------
    def fields(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """velocity (N_s, 2), pressure and vorticity (N_s,) on the scalar velocity space."""
        u, p = x[: self.n_u], x[self.n_u :]
        if self.pressure_pinned:
            p = p - self._mean_pressure(p)
        g = self.velocity_basis.interpolate(u).grad
        omega = self._project(g[1, 0] - g[0, 1])
        velocity = np.column_stack([u[self.disc.component_dofs(c)] for c in range(2)])
        return {"velocity": velocity, "pressure": self._lift_pressure @ p, "vorticity": omega}

    def _mean_pressure(self, p: np.ndarray) -> float:
        if not hasattr(self, "_pressure_weights"):
            self._pressure_weights = asm(LinearForm(lambda q, w: q), self.pressure_basis)
            self._area = float(self._pressure_weights.sum())
        return float(self._pressure_weights @ p) / self._area

    def _project(self, values: np.ndarray) -> np.ndarray:
        if not hasattr(self, "_scalar_mass_lu"):
            from scipy.sparse.linalg import splu

            self._scalar_mass_lu = splu(asm(_scalar_mass, self.disc.scalar_basis).tocsc())
        return self._scalar_mass_lu.solve(asm(_scalar_load, self.disc.scalar_basis, s=values))

    @property
    def _lift_pressure(self) -> sparse.csr_matrix:
        """P1 (Q1) pressure dofs -> P2 (Q2) scalar dofs, exactly: vertex values, and the mean of
        the corners at edge midpoints (and at a quad's centre), where the lower-order field is
        linear (bilinear) in the reference coordinates."""
        if not hasattr(self, "_lift"):
            bs, bp, mesh = self.disc.scalar_basis, self.pressure_basis, self.disc.skmesh
            vertex_p = bp.nodal_dofs[0]
            rows, cols, vals = [bs.nodal_dofs[0]], [vertex_p], [np.ones(len(vertex_p))]
            ends = mesh.facets
            for k in range(2):
                rows.append(bs.facet_dofs[0])
                cols.append(vertex_p[ends[k]])
                vals.append(np.full(ends.shape[1], 0.5))
            if bs.interior_dofs.shape[0]:
                corners = mesh.t
                for k in range(corners.shape[0]):
                    rows.append(bs.interior_dofs[0])
                    cols.append(vertex_p[corners[k]])
                    vals.append(np.full(corners.shape[1], 1.0 / corners.shape[0]))
            self._lift = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(bs.N, bp.N))
        return self._lift


# -- solving -----------------------------------------------------------------------------------

class _Reduced:
    """A system matrix with the fixed unknowns eliminated once; solves reuse the factors."""

    def __init__(self, A: sparse.csr_matrix, flow: FlowSystem, linear) -> None:
        rows = A[flow.free]
        self.A_ff = rows[:, flow.free].tocsr()
        self.A_fd = rows[:, flow.fixed].tocsr()
        self.flow, self.linear = flow, linear

    def solve(self, b: np.ndarray, fixed_values: np.ndarray, cancel=None):
        flow = self.flow
        x = np.zeros(flow.N)
        x[flow.fixed] = fixed_values
        x[flow.free], info = self.linear.solve(self.A_ff, b[flow.free] - self.A_fd @ fixed_values, cancel=cancel)
        return x, info


def _direct_solver(linear):
    """The flow's linear solver: direct, unless the case asked for something else (refused:
    AMG cannot precondition a saddle-point system)."""
    from engine.solvers.fem.linear import LinearSolver

    if linear.method not in ("auto", "direct"):
        raise InputError(
            f"linear solver {linear.method!r} cannot solve a Navier-Stokes (saddle-point) system",
            field="solver.classical.linear_solver", value=linear.method, expected="'direct' or 'auto'",
        )
    return LinearSolver(method="direct", tolerance=max(linear.tolerance, 1e-12), symmetric=False)


def solve_navier_stokes(problem: Problem, disc: Discretization, linear, *, progress=None, cancel=None) -> FemSolution:
    physics = problem.case.physics
    flow = FlowSystem(problem, disc)
    report(progress, 0.0, f"Taylor-Hood: {flow.n_u} velocity and {flow.n_p} pressure unknowns")
    if physics.time is None:
        return _steady(flow, _direct_solver(linear), progress, cancel)
    return _transient(flow, linear, progress, cancel)


def _solution(flow: FlowSystem, x: np.ndarray, infos, extra, times=None, series=None) -> FemSolution:
    axes = ("x", "y")
    if series is None:
        f = flow.fields(x)
        fields = {"velocity": NodalField(f["velocity"], axes), "pressure": NodalField(f["pressure"]), "vorticity": NodalField(f["vorticity"])}
    else:
        steps = [flow.fields(s) for s in series]
        fields = {
            "velocity": NodalField(np.array([s["velocity"] for s in steps]), axes),
            "pressure": NodalField(np.array([s["pressure"] for s in steps])),
            "vorticity": NodalField(np.array([s["vorticity"] for s in steps])),
        }
    extra["dofs"] = flow.N  # velocity and pressure
    if flow.pressure_pinned:
        extra["pressure_level"] = "mean zero (no outflow sets it)"
    return FemSolution(flow.disc, fields, times=times, linear=infos, extra=extra)


def _forces(flow: FlowSystem, equations: np.ndarray) -> dict[str, float]:
    """Drag and lift from the momentum equations' residual summed over the region."""
    forces = flow.problem.case.physics.forces
    F = -(flow._force_rows @ equations)
    scale = 0.5 * flow.rho * forces.velocity**2 * forces.length
    return {"drag": float(F[0]), "lift": float(F[1]), "c_D": float(F[0] / scale), "c_L": float(F[1] / scale)}


def _pressure_difference(flow: FlowSystem, x: np.ndarray) -> float | None:
    case = flow.problem.case
    names = case.physics.pressure_difference
    if names is None:
        return None
    by_name = {p.name: p.point for p in case.probes}
    points = np.array([by_name[n][:2] for n in names], dtype=float)
    p = flow._lift_pressure @ x[flow.n_u :]
    values = flow.disc.probe_matrix(points) @ p
    return float(values[0] - values[1])


def _steady(flow: FlowSystem, direct, progress, cancel) -> FemSolution:
    physics = flow.problem.case.physics
    options = physics.newton
    F = flow.load(0.0)
    x = np.zeros(flow.N)
    x[flow.fixed] = flow.dirichlet_values(0.0)
    if physics.forces is not None:
        flow._force_rows = flow.force_rows(physics.forces.regions)
    history: list[float] = []
    infos = []
    mu = flow.mu
    scale = max(np.linalg.norm(flow.residual(x, F)[flow.free]), 1e-300)
    # Continuation: try the case's viscosity; on failure start 2^k times more viscous and walk down.
    stages = [mu]
    result = None
    for attempt in range(8):
        x_stage = x.copy()
        ok = True
        for k, mu_k in enumerate(stages):
            flow.K = asm(_viscous, flow.velocity_basis, mu=mu_k).tocsr()
            last = k == len(stages) - 1
            ok, x_stage = _newton(flow, x_stage, F, direct, options, scale, history, infos, progress, cancel,
                                  label=f"mu = {mu_k:.3g}" if len(stages) > 1 else "")
            if not ok:
                break
        if ok:
            result = x_stage
            break
        # Newton failed somewhere: more stages, from a larger viscosity.
        stages = [mu * 2.0**j for j in range(len(stages) + 2, -1, -1)]
        report(progress, None, f"Newton did not converge; continuation in viscosity over {len(stages)} stages")
    flow.K = asm(_viscous, flow.velocity_basis, mu=mu).tocsr()
    if result is None:
        shown = ", ".join(f"{r:.2e}" for r in history[-12:])
        raise RunError(
            f"Newton's method did not converge, even with continuation in viscosity (relative residuals, last ones: {shown}); "
            "refine the mesh, raise physics.newton.max_iterations, or solve in time (physics.time) towards the steady state"
        )
    x = result
    extra = {"newton_residuals": history, "newton_steps": len(history), "continuation_stages": len(stages)}
    if physics.forces is not None:
        extra.update(_forces(flow, flow.residual(x, F)))
    dp = _pressure_difference(flow, x)
    if dp is not None:
        extra["delta_p"] = dp
    return _solution(flow, x, infos, extra)


def _newton(flow, x, F, direct, options, scale, history, infos, progress, cancel, label=""):
    """Picard steps, then Newton to the tolerance; (converged, x). Never raises on divergence."""
    fixed_values = x[flow.fixed]
    zero = np.zeros(len(flow.fixed))
    for k in range(options.picard_steps):
        check_cancelled(cancel, "the steady flow solve")
        A = flow.saddle(flow.K + flow.oseen(x[: flow.n_u]))
        b = np.concatenate([F, np.zeros(flow.n_p)])
        x_new, info = _Reduced(A, flow, direct).solve(b, fixed_values, cancel)
        infos.append(info)
        if not np.isfinite(x_new).all():
            return False, x
        x = x_new
        r = float(np.linalg.norm(flow.residual(x, F)[flow.free]) / scale)
        history.append(r)
        report(progress, None, f"Picard step {k + 1}{' at ' + label if label else ''}: residual {r:.2e}")
        if r <= options.tolerance:
            return True, x
    r = float(np.linalg.norm(flow.residual(x, F)[flow.free]) / scale)
    for k in range(options.max_iterations):
        check_cancelled(cancel, "the steady flow solve")
        R = flow.residual(x, F)
        step, info = _Reduced(flow.jacobian(x[: flow.n_u]), flow, direct).solve(-R, zero, cancel)
        infos.append(info)
        x_new = x + step
        r_new = float(np.linalg.norm(flow.residual(x_new, F)[flow.free]) / scale)
        if not math.isfinite(r_new):
            history.append(float("nan"))
            return False, x
        history.append(r_new)
        report(progress, min(0.95, (k + 1) / options.max_iterations), f"Newton step {k + 1}{' at ' + label if label else ''}: residual {r_new:.2e}")
        x = x_new
        if r_new <= options.tolerance:
            return True, x
        if r_new > 1e3 * max(r, options.tolerance):
            return False, x
    return False, x


class _LaggedFactors:
    """Solves of slowly changing systems (time steps with a lagged convection): GMRES
    preconditioned by the LU factors of an earlier step's matrix, refactorised only when GMRES
    needs more than ``max_iterations`` (the convection has moved too far since), and for the
    next step once it needed more than ``refactor_after``. A factorisation costs about 35
    preconditioned iterations (DFG 2D-2, 31k unknowns: 0.50 s against 0.014 s); over its first
    300 steps, refactorising after 10 iterations took 80 s (33 factorisations), after 6 84 s
    (63), and only when GMRES(20) failed 95 s (3)."""

    def __init__(self, flow: FlowSystem, tolerance: float = 1e-9, max_iterations: int = 20, refactor_after: int = 10) -> None:
        self.flow, self.tolerance, self.max_iterations, self.refactor_after = flow, tolerance, max_iterations, refactor_after
        self.lu = None
        self.factorisations = 0

    def solve(self, A: sparse.csr_matrix, b: np.ndarray, fixed_values: np.ndarray, x0: np.ndarray):
        import time as _time

        from scipy.sparse.linalg import LinearOperator, gmres, splu

        from engine.solvers.fem.linear import LinearSolveInfo

        flow = self.flow
        rows = A[flow.free]
        A_ff, A_fd = rows[:, flow.free].tocsc(), rows[:, flow.fixed]
        rhs = b[flow.free] - A_fd @ fixed_values
        norm = max(float(np.linalg.norm(rhs)), 1e-300)
        setup = 0.0
        started = _time.perf_counter()
        iterations = 0
        y = None
        if self.lu is not None:
            counter = [0]

            def count(_):
                counter[0] += 1

            M = LinearOperator(A_ff.shape, matvec=self.lu.solve)
            y, code = gmres(A_ff, rhs, x0=x0[flow.free], M=M, rtol=self.tolerance, atol=0.0, restart=self.max_iterations,
                            maxiter=1, callback=count, callback_type="pr_norm")
            iterations = counter[0]
            if code != 0 or np.linalg.norm(rhs - A_ff @ y) > 10 * self.tolerance * norm:
                y = None
            elif iterations > self.refactor_after:  # solved, but the factors have aged: fresh ones next step
                self.lu = None
        reused = y is not None
        if y is None:
            t0 = _time.perf_counter()
            try:
                self.lu = splu(A_ff)
            except RuntimeError as exc:
                raise RunError(f"the flow's system matrix is singular ({exc}); check that the conditions fix the velocity and the pressure") from exc
            self.factorisations += 1
            setup = _time.perf_counter() - t0
            y = self.lu.solve(rhs)
        residual = float(np.linalg.norm(rhs - A_ff @ y)) / norm
        x = np.zeros(flow.N)
        x[flow.fixed], x[flow.free] = fixed_values, y
        solve = _time.perf_counter() - started - setup
        return x, LinearSolveInfo("gmres_lu" if reused else "direct", iterations, residual, residual <= 1e3 * self.tolerance, setup, solve, reused, [])


def _transient(flow: FlowSystem, linear, progress, cancel) -> FemSolution:
    from engine.limits import LIMITS

    problem, disc = flow.problem, flow.disc
    physics = problem.case.physics
    time = physics.time
    _direct_solver(linear)  # refuses iterative methods the flow cannot use
    dt, end = float(time.step), float(time.end)
    n_steps = max(1, int(round(end / dt)))
    if n_steps > LIMITS["time_steps"].value():
        raise RunError(f"the run needs {n_steps} time steps; take a longer physics.time.step or raise {LIMITS['time_steps'].env}")
    u0 = np.zeros(flow.n_u)
    if physics.initial is not None:
        locations = disc.dof_locations(np.arange(flow.n_u))
        for c in range(2):
            dofs = disc.component_dofs(c)
            u0[dofs] = problem.coefficient(f"physics.initial[{c}]").at_points(locations[dofs], 0.0)
    x = np.concatenate([u0, np.zeros(flow.n_p)])
    x[flow.fixed] = flow.dirichlet_values(0.0)
    if physics.forces is not None:
        flow._force_rows = flow.force_rows(physics.forces.regions)
    solver = _LaggedFactors(flow)
    F_const = None if flow.time_dependent_load else flow.load(0.0)
    fixed_const = None if flow.time_dependent else flow.dirichlet_values(0.0)
    saved_t, saved_x, infos = [0.0], [x.copy()], []
    history = {"time": [], "drag": [], "lift": [], "c_D": [], "c_L": []}
    dp_history = []
    u_prev = None
    reachable = _reachable_speed(flow, x, end)
    for n in range(1, n_steps + 1):
        check_cancelled(cancel, "the transient flow solve")
        t = n * dt
        u = x[: flow.n_u]
        F = F_const if F_const is not None else flow.load(t)
        fixed_values = fixed_const if fixed_const is not None else flow.dirichlet_values(t)
        if u_prev is None:  # backward Euler, convection by u^0
            A = flow.saddle(flow.M / dt + flow.K + flow.oseen(u))
            rhs_u = flow.M @ u / dt + F
        else:  # BDF2, convection by u* = 2 u^n - u^(n-1)
            A = flow.saddle(1.5 * flow.M / dt + flow.K + flow.oseen(2.0 * u - u_prev))
            rhs_u = flow.M @ (2.0 * u - 0.5 * u_prev) / dt + F
        b = np.concatenate([rhs_u, np.zeros(flow.n_p)])
        x_new, info = solver.solve(A, b, fixed_values, x)
        infos.append(info)
        # A thousand times any speed the data can drive is a blow-up, finite or not: the
        # linearised BDF2 step stays finite far past its stability limit (measured: 3e5 times the
        # inflow's speed, never more than 2e3 times the last step's).
        speed = np.abs(x_new[: flow.n_u]).max() if np.isfinite(x_new).all() else math.inf
        if speed > 1e3 * max(reachable, float(np.abs(fixed_values).max(initial=0.0))):
            raise RunError(f"the flow blew up at step {n}, t = {t:g} (non-finite or exploding velocity); take a smaller physics.time.step than {dt:g}")
        u_prev = u
        x = x_new
        if physics.forces is not None:
            forces = _forces(flow, A @ x - b)
            history["time"].append(t)
            for key in ("drag", "lift", "c_D", "c_L"):
                history[key].append(forces[key])
        if physics.pressure_difference is not None:
            dp_history.append(_pressure_difference(flow, x))
        if n % time.save_every == 0 or n == n_steps:
            saved_t.append(t)
            saved_x.append(x.copy())
        report(progress, n / n_steps, f"t = {t:.4g} of {end:g}")
    extra: dict = {"time_steps": n_steps, "scheme": "bdf2 (linearised convection)", "factorisations": solver.factorisations}
    if physics.forces is not None:
        extra["force_history"] = history
        extra.update({k: history[k][-1] for k in ("drag", "lift", "c_D", "c_L")})
        extra.update(strouhal(np.array(history["time"]), np.array(history["c_D"]), np.array(history["c_L"]),
                              physics.forces.velocity, physics.forces.length))
    if dp_history:
        extra["delta_p"] = dp_history[-1]
        extra["delta_p_history"] = dp_history
    return _solution(flow, x, infos, extra, times=np.array(saved_t), series=saved_x)


def _reachable_speed(flow: FlowSystem, x0: np.ndarray, end: float) -> float:
    """A speed the data can drive, at least 1: the initial and prescribed velocities (the step's
    own are added as it goes), Bernoulli's sqrt(2 |p| / rho) of the outflow pressure levels, and
    what the body force adds over the whole run, |f| end / rho (both read at t = 0 and at the end)."""
    speed = max(1.0, float(np.abs(x0[: flow.n_u]).max(initial=0.0)))
    for t in (0.0, end):
        for fb, coef in flow._outflows:
            p = at_quadrature(coef, np.asarray(fb.global_coordinates()), flow.disc, t, elements=fb.tind)
            speed = max(speed, math.sqrt(2.0 * float(np.abs(p).max(initial=0.0)) / flow.rho))
    if flow._body is not None:
        f = max(float(np.abs(at_quadrature(c, flow._xq, flow.disc, t)).max(initial=0.0)) for c in flow._body for t in (0.0, end))
        speed += f * end / flow.rho
    return speed


def strouhal(times: np.ndarray, c_D: np.ndarray, c_L: np.ndarray, velocity: float, length: float) -> dict[str, float]:
    """Shedding frequency, Strouhal number and the extremes over the last full lift period.

    Periods are read between upward crossings of the lift's mean over the second half of the
    run (interpolated linearly between steps); the maxima over the last period are refined by
    a parabola through the largest sample and its neighbours. Empty when the run holds fewer
    than two full periods in its second half (no shedding yet)."""
    half = times >= times[0] + 0.5 * (times[-1] - times[0]) if len(times) else times.astype(bool)
    t, d, lift = times[half], c_D[half], c_L[half]
    if len(t) < 8:
        return {}
    s = lift - 0.5 * (lift.max() + lift.min())
    up = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
    crossings = t[up] - s[up] * (t[up + 1] - t[up]) / (s[up + 1] - s[up])
    if len(crossings) < 3:
        return {}
    periods = np.diff(crossings)
    frequency = 1.0 / float(np.mean(periods[-min(5, len(periods)) :]))
    last = (t >= crossings[-2]) & (t <= crossings[-1])
    return {
        "frequency": frequency,
        "strouhal": frequency * length / velocity,
        "c_D_max": _peak(d, last),
        "c_L_max": _peak(lift, last),
        "c_L_min": -_peak(-lift, last),
        "periods_seen": int(len(periods)),
    }


def _peak(values: np.ndarray, window: np.ndarray) -> float:
    idx = np.flatnonzero(window)
    i = idx[np.argmax(values[idx])]
    if 0 < i < len(values) - 1:
        a, b, c = values[i - 1], values[i], values[i + 1]
        denominator = a - 2 * b + c
        if denominator < 0:
            return float(b - 0.125 * (a - c) ** 2 / denominator)
    return float(values[i])
