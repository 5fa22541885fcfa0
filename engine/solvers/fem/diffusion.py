"""Scalar diffusion / Darcy flow: -div(k grad u) = f, and the steady heat equation.

Weak form: find u with u = g on Dirichlet regions such that for every test v

    (k grad u, grad v) + <h u, v>_Robin = (f, v) + <q, v>_Neumann + <h u_inf, v>_Robin

where the Neumann flux q = k du/dn is positive into the domain. Outputs u and the flux
vector -k grad u, projected onto the same finite element space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skfem import BilinearForm, FacetBasis, LinearForm, asm
from skfem.helpers import dot, grad

from engine.problem import Problem
from engine.solvers.fem.common import FemSolution, NodalField, at_quadrature, project, solve_with_dirichlet
from engine.solvers.fem.discretize import Discretization

__all__ = ["ScalarSystem", "assemble_scalar", "solve_diffusion"]


@BilinearForm
def _stiffness(u, v, w):
    return w["k"] * dot(grad(u), grad(v))


@BilinearForm
def _mass(u, v, w):
    return w["c"] * u * v


@LinearForm
def _load(v, w):
    return w["f"] * v


@dataclass
class ScalarSystem:
    """Assembled operators of a scalar problem at one time: K u = F with Dirichlet dofs fixed."""

    K: object
    F: np.ndarray
    fixed: np.ndarray
    values: np.ndarray


def assemble_scalar(problem: Problem, disc: Discretization, *, t: float = 0.0, k_name: str = "physics.k", f_name: str = "physics.f") -> ScalarSystem:
    """Stiffness (with Robin terms), load (with Neumann and Robin terms) and Dirichlet data at time ``t``."""
    coef = problem.coefficient
    if disc.element_name == "P1" and disc.cell_type in ("triangle", "tetra"):
        K, F = _volume_terms_p1(disc, coef(k_name), coef(f_name), t)
    else:
        basis = disc.basis
        xq = np.asarray(basis.global_coordinates())
        K = asm(_stiffness, basis, k=at_quadrature(coef(k_name), xq, disc, t))
        F = asm(_load, basis, f=at_quadrature(coef(f_name), xq, disc, t))
    fixed_parts, value_parts = [], []
    for i, bc in enumerate(problem.case.boundary):
        path = f"boundary[{i}]"
        if bc.type == "dirichlet":
            dofs = disc.boundary_dofs(bc.regions)
            fixed_parts.append(dofs)
            value_parts.append(coef(f"{path}.value").at_points(disc.dof_locations(dofs), t))
            continue
        facets = disc.facets_for_load(bc.regions, f"boundary[{i}].region")
        fb = FacetBasis(disc.skmesh, disc.element, facets=facets)
        fx = np.asarray(fb.global_coordinates())
        if bc.type == "neumann":
            F = F + asm(_load, fb, f=at_quadrature(coef(f"{path}.flux"), fx, disc, t, elements=fb.tind))
        elif bc.type == "robin":
            h = at_quadrature(coef(f"{path}.h"), fx, disc, t, elements=fb.tind)
            u_inf = at_quadrature(coef(f"{path}.u_inf"), fx, disc, t, elements=fb.tind)
            K = K + asm(_mass, fb, c=h)
            F = F + asm(_load, fb, f=h * u_inf)
    if fixed_parts:
        fixed = np.concatenate(fixed_parts)
        values = np.concatenate(value_parts)
        # A dof on two Dirichlet regions (a corner) takes the value of the last one listed.
        fixed, last = np.unique(fixed[::-1], return_index=True)
        values = values[::-1][last]
    else:
        fixed, values = np.empty(0, dtype=np.int64), np.empty(0)
    return ScalarSystem(K.tocsr(), F, fixed, values)


def _volume_terms_p1(disc: Discretization, k, f, t: float):
    """P1 on simplices through the vectorised closed-form assembly (``p1``): k per cell (its
    exact value for a cell field, else at the centroid: one-point quadrature, still O(h^2) in
    L2), f interpolated at the vertices (or per cell for a cell field)."""
    from engine.solvers.fem.p1 import load_p1, load_p1_cells, stiffness_p1

    points, cells = disc.skmesh.p.T, disc.skmesh.t.T
    k_cells = k.value if k.is_constant else k.at_cells(disc.mesh, t)
    K = stiffness_p1(points, cells, k_cells)
    f_cells = f.exact_cell_values(disc.mesh)
    if f_cells is not None:
        F = load_p1_cells(points, cells, f_cells)
    else:
        F = load_p1(points, cells, np.full(len(points), f.value) if f.is_constant else f.at_points(points, t))
    return K, F


def flux(problem: Problem, disc: Discretization, u: np.ndarray, *, t: float = 0.0, k_name: str = "physics.k") -> np.ndarray:
    """-k grad u projected onto the scalar space: (N, dim)."""
    basis = disc.basis
    grad_u = basis.interpolate(u).grad  # (dim, n_elements, n_qp)
    k = at_quadrature(problem.coefficient(k_name), np.asarray(basis.global_coordinates()), disc, t)
    return np.column_stack([project(disc, -k * grad_u[j]) for j in range(disc.dim)])


def solve_diffusion(problem: Problem, disc: Discretization, linear, *, progress=None, cancel=None) -> FemSolution:
    """Steady diffusion (also steady heat): u and its flux."""
    system = assemble_scalar(problem, disc)
    u, info = solve_with_dirichlet(system.K, system.F, system.fixed, system.values, linear, progress=progress, cancel=cancel)
    q = flux(problem, disc, u)
    components = ("x", "y", "z")[: disc.dim]
    return FemSolution(disc, {"u": NodalField(u), "flux": NodalField(q, components)}, linear=[info])
