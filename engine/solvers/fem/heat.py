"""Heat conduction: rho c dT/dt - div(k grad T) = f, steady or with the theta-scheme in time.

Theta-scheme (theta = 1 backward Euler, 1/2 Crank-Nicolson):

    (M + theta dt K) T[n+1] = (M - (1 - theta) dt K) T[n] + dt (theta F[n+1] + (1 - theta) F[n])

With constant coefficients and a fixed step the matrix never changes, so the linear solver
reuses its factorisation (or AMG hierarchy) for every step. Adaptive steps use step doubling:
one step of dt against two of dt/2, the difference estimating the local error.
"""

from __future__ import annotations

import numpy as np
from skfem import asm

from engine.errors import RunError
from engine.limits import LIMITS
from engine.physics.heat import HEAT
from engine.problem import Problem
from engine.solver import check_cancelled, report
from engine.solvers.fem.common import FemSolution, NodalField, at_quadrature, solve_with_dirichlet
from engine.solvers.fem.diffusion import _mass, assemble_scalar, flux
from engine.solvers.fem.discretize import Discretization

__all__ = ["solve_heat"]

_THETA = {"backward_euler": 1.0, "crank_nicolson": 0.5}
_ORDER = {"backward_euler": 1, "crank_nicolson": 2}


def solve_heat(problem: Problem, disc: Discretization, linear, *, progress=None, cancel=None) -> FemSolution:
    physics = problem.case.physics
    components = ("x", "y", "z")[: disc.dim]
    if physics.time is None:
        system = assemble_scalar(problem, disc)
        T, info = solve_with_dirichlet(system.K, system.F, system.fixed, system.values, linear, progress=progress, cancel=cancel)
        fields = {"T": NodalField(T), "heat_flux": NodalField(flux(problem, disc, T), components)}
        return FemSolution(disc, fields, linear=[info])
    return _transient(problem, disc, linear, progress, cancel)


def _transient(problem: Problem, disc: Discretization, linear, progress, cancel) -> FemSolution:
    physics = problem.case.physics
    time = physics.time
    theta = _THETA[time.scheme]
    coef = problem.coefficient
    basis = disc.basis
    xq = np.asarray(basis.global_coordinates())
    rho_c = at_quadrature(coef("physics.rho"), xq, disc) * at_quadrature(coef("physics.c"), xq, disc)
    M = asm(_mass, basis, c=rho_c).tocsr()
    time_dependent = any(c.depends_on_time for c in problem.coefficients.values())

    cache: dict[float, object] = {}

    def system_at(t: float):
        if not time_dependent and "steady" in cache:
            return cache["steady"]
        system = assemble_scalar(problem, disc, t=t)
        if not time_dependent:
            cache["steady"] = system
        return system

    matrices: dict[float, object] = {}

    def step(T: np.ndarray, t: float, dt: float):
        now, then = system_at(t), system_at(t + dt)
        key = round(dt, 15)
        if time_dependent or key not in matrices:
            # Same object for the same dt: the linear solver sees an identical matrix and reuses.
            matrices.clear()
            matrices[key] = (M + theta * dt * then.K).tocsr()
        A = matrices[key]
        b = (M @ T) - (1 - theta) * dt * (now.K @ T) + dt * (theta * then.F + (1 - theta) * now.F)
        T_new, info = solve_with_dirichlet(A, b, then.fixed, then.values, linear, x0=T, cancel=cancel)
        if not info.converged:
            raise RunError(f"the linear solve at t = {t + dt:g} did not converge (relative residual {info.residual:.2e})")
        return T_new, info

    # A fixed-step run was counted before it started (engine.work); an adaptive one chooses its
    # steps as it goes, so it is held to the same limits here.
    max_steps = LIMITS["time_steps"].value()
    max_saved = LIMITS["saved_values"].value()
    per_step = problem.mesh.n_points * HEAT.values_per_point(disc.dim)  # temperature and heat flux, as engine.work counts them
    T = coef("physics.initial").at_points(disc.dof_locations(np.arange(basis.N)), 0.0)
    t, dt = 0.0, time.step
    saved_t, saved_T, infos = [0.0], [T.copy()], []
    n_steps = rejected = 0
    while t < time.end * (1 - 1e-12):
        check_cancelled(cancel, "the transient solve")
        dt = min(dt, time.end - t)
        if time.adaptive:
            T_big, _ = step(T, t, dt)
            T_half, info_a = step(T, t, dt / 2)
            T_two, info_b = step(T_half, t + dt / 2, dt / 2)
            scale = max(1.0, float(np.abs(T_two).max()))
            error = float(np.abs(T_two - T_big).max()) / (2 ** _ORDER[time.scheme] - 1)
            factor = 0.9 * (time.tolerance * scale / max(error, 1e-300)) ** (1.0 / (_ORDER[time.scheme] + 1))
            if error > time.tolerance * scale:
                rejected += 1
                dt *= max(0.2, factor)
                if dt < 1e-12 * time.end:
                    raise RunError(f"the adaptive time step fell below {dt:.3g} at t = {t:g}; loosen physics.time.tolerance")
                continue
            T, info = T_two, info_b
            infos += [info_a, info_b]
            t += dt
            dt *= min(2.0, factor)
        else:
            T, info = step(T, t, dt)
            infos.append(info)
            t += dt
        n_steps += 1
        if n_steps > max_steps:
            raise RunError(
                f"the run needed more than {max_steps} time steps (at t = {t:g} of {time.end:g}); "
                f"take a longer physics.time.step or a looser tolerance, or raise {LIMITS['time_steps'].env}"
            )
        if n_steps % time.save_every == 0 or t >= time.end * (1 - 1e-12):
            if time.adaptive and (len(saved_t) + 1) * per_step > max_saved:
                raise RunError(
                    f"the adaptive run would keep more than {max_saved} values (at t = {t:g} of {time.end:g}); "
                    f"raise physics.time.save_every, or {LIMITS['saved_values'].env}"
                )
            saved_t.append(t)
            saved_T.append(T.copy())
        report(progress, min(1.0, t / time.end), f"t = {t:.4g} of {time.end:g}")

    times = np.array(saved_t)
    T_series = np.array(saved_T)
    q_series = np.array([flux(problem, disc, Ts, t=ts) for Ts, ts in zip(T_series, times)])
    fields = {
        "T": NodalField(T_series),
        "heat_flux": NodalField(q_series, ("x", "y", "z")[: disc.dim]),
    }
    extra = {"time_steps": n_steps, "rejected_steps": rejected, "scheme": time.scheme, "adaptive": time.adaptive}
    return FemSolution(disc, fields, times=times, linear=infos, extra=extra)
