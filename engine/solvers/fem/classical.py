"""The classical solver: finite elements on scikit-fem behind the engine's Solver protocol."""

from __future__ import annotations

import threading
import time

import numpy as np

from engine.errors import InputError, RunError
from engine.problem import Problem
from engine.result import Provenance, Result
from engine.solver import ProgressCallback, check_cancelled, report

__all__ = ["ClassicalSolver"]


class ClassicalSolver:
    """Solve a Problem with finite elements (P1/P2 on simplices, Q1/Q2 on quads and hexahedra).

    The case's ``[solver.classical]`` table picks the element, the linear solver, its tolerance
    and iteration limit; keyword arguments given here override it (``element="P2"``).

    Examples
    --------
    >>> import engine
    >>> case = engine.load_case(engine.resource_path("examples/darcy_unit_square.toml"))
    >>> result = ClassicalSolver().solve(engine.Problem.from_case(case))
    >>> round(float(result.probes["centre"].values["u"][0]), 4)
    0.0116
    """

    name = "classical"

    def __init__(self, **overrides) -> None:
        self.overrides = overrides

    def solve(self, problem: Problem, *, progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> Result:
        from engine.solvers.fem.discretize import Discretization
        from engine.solvers.fem.linear import LinearSolver

        from engine.physics.registry import get_physics
        from engine.problem import check_determined

        started = time.perf_counter()
        spec = get_physics(problem.case.physics.kind)
        run = spec.classical_entry()
        if run is None:
            raise InputError(f"the classical solver cannot answer {spec.kind} problems", field="physics.kind", value=spec.kind,
                             expected="a physics with a finite-element assembly, or another solver")
        check_determined(problem.case)
        options = problem.case.solver.classical.model_copy(update=self.overrides)
        check_cancelled(cancel)
        report(progress, 0.0, f"discretising with {options.element} elements")
        if spec.unknown == "velocity-pressure" and options.element in ("P1", "Q1"):
            raise InputError(
                f"{spec.kind} needs a velocity element one order above the pressure's (Taylor-Hood); {options.element} has none below it",
                field="solver.classical.element", value=options.element, expected="'P2' (P2/P1 on triangles) or 'Q2' (Q2/Q1 on quads)",
            )
        components = problem.mesh.dim if spec.unknown != "scalar" else 1
        disc = Discretization(problem.mesh, options.element, components=components)
        # Flow systems (saddle point, convection) are neither symmetric nor definite.
        symmetric = spec.unknown != "velocity-pressure"
        linear = LinearSolver(method=options.linear_solver, tolerance=options.tolerance, max_iterations=options.max_iterations, symmetric=symmetric)
        report(progress, 0.05, f"{disc.n_dofs} unknowns; assembling and solving")

        def sub_progress(fraction, message):
            report(progress, None if fraction is None else 0.05 + 0.9 * fraction, message)

        solution = run(problem, disc, linear, progress=sub_progress, cancel=cancel)
        if solution.times is None and not all(info.converged for info in solution.linear):
            worst = max(info.residual for info in solution.linear)
            raise RunError(
                f"the linear solver did not converge in {options.max_iterations} iterations "
                f"(relative residual {worst:.2e}, asked for {options.tolerance:.0e}); "
                "raise solver.classical.max_iterations or use linear_solver = 'direct'"
            )
        check_cancelled(cancel)
        fields = solution.to_fields()
        broken = [name for name, f in fields.items() if not np.isfinite(f.values).all()]
        if broken:
            raise RunError(f"the solution holds NaN or infinite values in {', '.join(broken)}; check the coefficients and boundary conditions")
        probes = solution.probe(problem)
        wall = time.perf_counter() - started
        infos = solution.linear
        metrics = {
            "dofs": disc.n_dofs,
            "element": options.element,
            "cells": problem.mesh.n_cells,
            "linear_solver": sorted({i.method for i in infos}),
            "linear_solves": len(infos),
            "linear_setup_time": float(sum(i.setup_time for i in infos)),
            "linear_solve_time": float(sum(i.solve_time for i in infos)),
            "reused_setups": int(sum(bool(i.reused) for i in infos)),
            **solution.extra,
        }
        from engine.case.load import case_to_toml

        provenance = Provenance(
            solver="classical",
            options=options.model_dump(),
            wall_time=wall,
            iterations=int(sum(i.iterations for i in infos)),
            residual=float(max(i.residual for i in infos)) if infos else None,
            metrics=metrics,
            case=case_to_toml(problem.case),
        )
        report(progress, 1.0, f"solved in {wall:.2f} s")
        return Result(problem.mesh, fields, provenance, probes)
