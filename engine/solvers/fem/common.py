"""What every finite-element physics shares: coefficients at quadrature points, Dirichlet
elimination, projection of derived quantities, and the way a solution becomes a Result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.fields import Field
from engine.problem import CoefficientField, Problem
from engine.result import ProbeReading
from engine.solvers.fem.discretize import Discretization

__all__ = ["at_quadrature", "solve_with_dirichlet", "project", "FemSolution", "NodalField"]


def at_quadrature(coef: CoefficientField, x: np.ndarray, disc: Discretization, t: float = 0.0, elements: np.ndarray | None = None) -> np.ndarray:
    """A coefficient's values at quadrature points ``x`` of shape (dim, n_elements, n_points).

    A cell field read on this very mesh is used cell by cell, exactly; anything else is
    evaluated at the points. ``elements`` maps rows of ``x`` to cells (a facet basis' ``tind``).
    """
    x = np.asarray(x)
    if coef.is_constant:
        return np.full(x.shape[1:], coef.value)
    cells = coef.exact_cell_values(disc.mesh)
    if cells is not None:
        rows = cells if elements is None else cells[elements]
        return np.broadcast_to(rows[:, None], x.shape[1:]).copy()
    flat = x.reshape(x.shape[0], -1).T
    return coef.at_points(flat, t).reshape(x.shape[1:])


def solve_with_dirichlet(A, b: np.ndarray, fixed: np.ndarray, values: np.ndarray, linear, *, x0=None, progress=None, cancel=None):
    """Solve ``A x = b`` with ``x[fixed] = values`` by eliminating the fixed dofs.

    Returns the full solution and the linear solver's info.
    """
    from engine.solvers.fem.linear import eliminate_dirichlet

    fixed = np.asarray(fixed, dtype=np.int64)
    order = np.argsort(fixed)  # eliminate_dirichlet takes values in increasing dof order
    fixed, values = fixed[order], np.broadcast_to(np.asarray(values, dtype=float), fixed.shape)[order]
    A_free, rhs, free = eliminate_dirichlet(A, b, fixed, values)
    x = np.zeros(A.shape[0])
    x[fixed] = values
    guess = None if x0 is None else x0[free]
    x[free], info = linear.solve(A_free, rhs, x0=guess, progress=progress, cancel=cancel)
    return x, info


def project(disc: Discretization, values_at_qp: np.ndarray) -> np.ndarray:
    """L2 projection of values at the quadrature points onto the scalar finite element space."""
    return disc.scalar_basis.project(values_at_qp)


@dataclass
class NodalField:
    """A field as scalar-basis dof values: ``(N,)``, ``(N, k)``, or with a leading time axis."""

    values: np.ndarray
    components: tuple[str, ...] | None = None
    units: str = ""


@dataclass
class FemSolution:
    """What a physics module returns; ``to_fields`` and ``probe`` turn it into Result parts."""

    disc: Discretization
    fields: dict[str, NodalField]
    times: np.ndarray | None = None
    linear: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_fields(self) -> dict[str, Field]:
        out = {}
        for name, nf in self.fields.items():
            out[name] = Field(name, self._on_points(nf.values), "point", self.times, nf.components, nf.units)
        return out

    def _on_points(self, values: np.ndarray) -> np.ndarray:
        series = self.times is not None
        steps = values if series else values[None]
        mapped = []
        for step in steps:
            if step.ndim == 1:
                mapped.append(self.disc._scalar_point_values(step))
            else:
                mapped.append(np.column_stack([self.disc._scalar_point_values(step[:, j]) for j in range(step.shape[1])]))
        out = np.array(mapped)
        return out if series else out[0]

    def probe(self, problem: Problem) -> dict[str, ProbeReading]:
        if not problem.case.probes:
            return {}
        points = np.array([p.point[: problem.mesh.gdim] for p in problem.case.probes], dtype=float)
        P = self.disc.probe_matrix(points)
        readings = {p.name: ProbeReading(p.name, tuple(p.point), {}) for p in problem.case.probes}
        for name, nf in self.fields.items():
            values = nf.values
            if self.times is None:
                sampled = P @ values  # (n_probes,) or (n_probes, k)
            else:
                sampled = np.stack([P @ v for v in values], axis=1)  # (n_probes, n_times[, k])
            for i, probe in enumerate(problem.case.probes):
                readings[probe.name].values[name] = np.atleast_1d(np.asarray(sampled[i]))
        return readings
