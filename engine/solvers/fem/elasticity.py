"""Linear elasticity: plane stress, plane strain (2D) and 3D.

Weak form: find u with the prescribed displacement components on their regions such that for
every test v (zero where u is prescribed)

    t (sigma(u), eps(v)) = t (f, v) + t <T, v>_Traction - t <p n, v>_Pressure

    sigma(u) = 2 mu eps(u) + lambda tr(eps(u)) I,   eps(u) = (grad u + grad u^T) / 2

with mu = E / (2 (1 + nu)), lambda = E nu / ((1 + nu)(1 - 2 nu)); plane stress uses
lambda* = 2 lambda mu / (lambda + 2 mu) instead of lambda. The thickness t (1 in 3D) multiplies
every term, so displacements and stresses do not depend on it (tractions and pressures are
forces per unit area, the body force per unit volume). The pressure p pushes against the
outward normal n: p > 0 compresses the surface it acts on.

Outputs, projected onto the scalar finite element space: ``displacement``, ``stress``
(xx, yy, xy in 2D, plus zz = nu (sxx + syy) for plane strain; xx, yy, zz, xy, yz, xz in 3D)
and ``von_mises`` (with szz = 0 in plane stress).
"""

from __future__ import annotations

import numpy as np
from skfem import BilinearForm, FacetBasis, LinearForm, asm
from skfem.helpers import ddot, dot, sym_grad, trace

from engine.errors import InputError
from engine.problem import Problem
from engine.solvers.fem.common import FemSolution, NodalField, at_quadrature, project, solve_with_dirichlet
from engine.solvers.fem.discretize import Discretization

__all__ = ["lame", "solve_elasticity", "stresses_from_displacement", "von_mises"]

_AXES = ("x", "y", "z")


@BilinearForm
def _stiffness(u, v, w):
    eps_u, eps_v = sym_grad(u), sym_grad(v)
    return w["t"] * (2.0 * w["mu"] * ddot(eps_u, eps_v) + w["lam"] * trace(eps_u) * trace(eps_v))


@LinearForm
def _load(v, w):
    return w["t"] * dot(w["f"], v)


@LinearForm
def _pressure(v, w):
    return -w["t"] * w["p"] * dot(w.n, v)


def lame(E: np.ndarray, nu: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Lame parameters (lambda, mu) of the model; plane stress gets lambda* = 2 lambda mu / (lambda + 2 mu)."""
    mu = E / (2.0 * (1.0 + nu))
    lam = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    if model == "plane_stress":
        lam = 2.0 * lam * mu / (lam + 2.0 * mu)
    return lam, mu


def solve_elasticity(problem: Problem, disc: Discretization, linear, *, progress=None, cancel=None) -> FemSolution:
    """Static linear elasticity: displacement, stress and von Mises stress.

    ``disc`` must be a vector discretization (``components`` = the mesh's dimension).

    Raises
    ------
    InputError
        The displacement conditions leave a rigid-body motion free (none at all, or not enough
        to stop every translation and rotation).
    """
    physics = problem.case.physics
    dim = disc.dim
    if disc.components != dim:
        raise ValueError(f"elasticity needs a Discretization with components={dim}, got {disc.components}")
    model = physics.model
    t = physics.thickness if model != "3d" else 1.0
    basis = disc.basis
    xq = np.asarray(basis.global_coordinates())
    lam, mu = _lame_at(problem, disc, xq)

    K = asm(_stiffness, basis, lam=lam, mu=mu, t=t)
    if physics.body_force is None:  # no body force given: none acts
        f = np.zeros((dim,) + xq.shape[1:])
    else:
        f = np.array([at_quadrature(problem.coefficient(f"physics.body_force[{j}]"), xq, disc) for j in range(dim)])
    F = asm(_load, basis, f=f, t=t)
    fixed_parts, value_parts = [], []
    for i, bc in enumerate(problem.case.boundary):
        path = f"boundary[{i}]"
        if bc.type == "displacement":
            for c, given in enumerate((bc.ux, bc.uy, bc.uz)[:dim]):
                if given is None:
                    continue
                dofs = disc.boundary_dofs(bc.regions, component=c)
                fixed_parts.append(dofs)
                value_parts.append(problem.coefficient(f"{path}.u{_AXES[c]}").at_points(disc.dof_locations(dofs)))
            continue
        facets = disc.facets_for_load(bc.regions, f"boundary[{i}].region")
        fb = FacetBasis(disc.skmesh, disc.element, facets=facets)
        fx = np.asarray(fb.global_coordinates())
        if bc.type == "traction":
            T = np.array([at_quadrature(problem.coefficient(f"{path}.vector[{j}]"), fx, disc, elements=fb.tind) for j in range(dim)])
            F = F + asm(_load, fb, f=T, t=t)
        elif bc.type == "pressure":
            F = F + asm(_pressure, fb, p=at_quadrature(problem.coefficient(f"{path}.value"), fx, disc, elements=fb.tind), t=t)
    fixed, values = _merge_fixed(fixed_parts, value_parts)
    _check_held(disc, fixed)

    u, info = solve_with_dirichlet(K.tocsr(), F, fixed, values, linear, progress=progress, cancel=cancel)

    displacement = np.column_stack([u[disc.component_dofs(c)] for c in range(dim)])
    names, sigma = _stress_at_quadrature(basis.interpolate(u), lam, mu, model)
    stress = np.column_stack([project(disc, s) for s in sigma])
    fields = {
        "displacement": NodalField(displacement, _AXES[:dim]),
        "stress": NodalField(stress, names),
        "von_mises": NodalField(von_mises(stress, names)),
    }
    return FemSolution(disc, fields, linear=[info], extra={"model": model})


def stresses_from_displacement(problem: Problem, displacement: np.ndarray, element: str | None = None) -> dict[str, np.ndarray]:
    """``stress`` ``(n_points, k)`` and ``von_mises`` ``(n_points,)`` of a given displacement at
    the mesh's points, by the same post-processing as :func:`solve_elasticity` (the strain of the
    finite element field, projected onto the nodes): what a surrogate's predicted displacement
    implies.

    ``element`` defaults to the case's; every dof of it must sit at a mesh point (P1 on any mesh,
    P2 on a quadratic one).
    """
    mesh = problem.mesh
    dim = mesh.dim
    element = element or problem.case.solver.classical.element
    disc = Discretization(mesh, element, components=dim)
    node_dof = disc._dof_of_point  # scalar dof of each point, -1 for none
    direct = node_dof >= 0
    if direct.sum() != disc.basis.N // dim:
        raise InputError("the element has dofs between the mesh's points", field="solver.classical.element", value=element,
                         expected="an element whose dofs are the mesh's nodes (P1, or P2 on a quadratic mesh)")
    u = np.zeros(disc.basis.N)
    for c in range(dim):
        u[node_dof[direct] * dim + c] = np.asarray(displacement, dtype=float)[direct, c]
    xq = np.asarray(disc.basis.global_coordinates())
    lam, mu = _lame_at(problem, disc, xq)
    names, sigma = _stress_at_quadrature(disc.basis.interpolate(u), lam, mu, problem.case.physics.model)
    nodal = np.column_stack([project(disc, s) for s in sigma])
    stress = np.column_stack([disc._scalar_point_values(nodal[:, j]) for j in range(nodal.shape[1])])
    return {"stress": stress, "von_mises": von_mises(stress, names)}


def _lame_at(problem: Problem, disc: Discretization, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    E = at_quadrature(problem.coefficient("physics.E"), xq, disc)
    nu = at_quadrature(problem.coefficient("physics.nu"), xq, disc)
    bad = ~(E > 0)
    if bad.any():
        raise InputError("Young's modulus is not positive everywhere", field="physics.E", value=float(E[bad].flat[0]), expected="E > 0 at every point")
    bad = ~((nu >= 0) & (nu < 0.5))
    if bad.any():
        raise InputError("Poisson's ratio leaves [0, 0.5) somewhere", field="physics.nu", value=float(nu[bad].flat[0]), expected="0 <= nu < 0.5 at every point")
    return lame(E, nu, problem.case.physics.model)


def _stress_at_quadrature(field, lam, mu, model: str) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """Stress components at the quadrature points, named as in the output."""
    eps = sym_grad(field)  # (dim, dim, n_elements, n_points)
    tr = trace(eps)
    s = {}
    dim = eps.shape[0]
    for a in range(dim):
        s[_AXES[a] * 2] = 2.0 * mu * eps[a, a] + lam * tr
    s["xy"] = 2.0 * mu * eps[0, 1]
    if dim == 3:
        s["yz"] = 2.0 * mu * eps[1, 2]
        s["xz"] = 2.0 * mu * eps[0, 2]
        names = ("xx", "yy", "zz", "xy", "yz", "xz")
    elif model == "plane_strain":
        s["zz"] = lam * tr  # = nu (sxx + syy)
        names = ("xx", "yy", "xy", "zz")
    else:
        names = ("xx", "yy", "xy")
    return names, [s[n] for n in names]


def von_mises(stress: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Von Mises stress from stress components ``(n, k)`` named as ``names`` (missing ones are 0)."""
    s = {n: stress[:, j] for j, n in enumerate(names)}
    zero = np.zeros(len(stress))
    xx, yy, zz = (s.get(n, zero) for n in ("xx", "yy", "zz"))
    xy, yz, xz = (s.get(n, zero) for n in ("xy", "yz", "xz"))
    return np.sqrt(0.5 * ((xx - yy) ** 2 + (yy - zz) ** 2 + (zz - xx) ** 2) + 3.0 * (xy**2 + yz**2 + xz**2))


def _merge_fixed(fixed_parts: list[np.ndarray], value_parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One value per fixed dof; a dof on two conditions (a corner) takes the last one listed."""
    if not fixed_parts:
        return np.empty(0, dtype=np.int64), np.empty(0)
    fixed = np.concatenate(fixed_parts)
    values = np.concatenate(value_parts)
    fixed, last = np.unique(fixed[::-1], return_index=True)
    return fixed, values[::-1][last]


def _rigid_motions(points: np.ndarray, components: np.ndarray, dim: int) -> tuple[list[str], np.ndarray]:
    """Rigid-body motions sampled at dofs: names and a (n_dofs, n_motions) matrix."""
    x = [points[:, a] for a in range(dim)]
    one, zero = np.ones(len(points)), np.zeros(len(points))
    names = [f"translation along {_AXES[a]}" for a in range(dim)]
    fields = [[one if a == b else zero for a in range(dim)] for b in range(dim)]
    if dim == 2:
        names.append("rotation about z")
        fields.append([-x[1], x[0]])
    else:
        names += ["rotation about x", "rotation about y", "rotation about z"]
        fields += [[zero, -x[2], x[1]], [x[2], zero, -x[0]], [-x[1], x[0], zero]]
    R = np.column_stack([np.choose(components, motion) for motion in fields])
    return names, R


def _check_held(disc: Discretization, fixed: np.ndarray) -> None:
    """Refuse displacement conditions that leave a rigid-body motion free (a singular stiffness).

    A rigid motion survives exactly when it vanishes at every fixed dof, i.e. when the
    rigid motions sampled at the fixed dofs are linearly dependent.
    """
    dim = disc.dim
    hint = (
        "A body that is not held moves freely as a rigid body and its stiffness matrix is singular. "
        "Add [[boundary]] conditions of type 'displacement', e.g. ux = 0 and uy = 0"
        + (" and uz = 0" if dim == 3 else "")
        + " on a clamped edge, or the components normal to each symmetry plane"
    )
    if len(fixed) == 0:
        raise InputError(
            "no displacement condition: the body is free to move as a rigid body",
            field="boundary",
            expected="at least one boundary condition of type 'displacement'",
            hint=hint,
        )
    lo, hi = disc.mesh.bounding_box
    centre, scale = 0.5 * (lo + hi)[:dim], max(float(np.max(hi - lo)), 1e-300)
    points = (disc.dof_locations(fixed) - centre) / scale
    names, R = _rigid_motions(points, fixed % dim, dim)
    norms = np.linalg.norm(R, axis=0)
    R = R / norms.clip(min=1e-300)
    n_free = int(np.sum(np.linalg.eigvalsh(R.T @ R) < 1e-12))  # rigid motions zero at every fixed dof
    if n_free == 0:
        return
    loose = [name for name, norm in zip(names, norms) if norm < 1e-12]  # untouched by any condition
    if n_free > len(loose):
        loose.append("a rotation about some point" if dim == 2 else "a rotation about some axis")
    raise InputError(
        "the displacement conditions leave the body free to move as a rigid body",
        field="boundary",
        value=", ".join(loose),
        expected="displacement conditions that stop every rigid translation and rotation",
        hint=hint,
    )
