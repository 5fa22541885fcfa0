"""P1 assembly against scikit-fem's, and the linear-solver layer: methods, reuse, control."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import sparse
from skfem import Basis, BilinearForm, ElementTetP1, ElementTriP1, LinearForm, MeshTet, MeshTri
from skfem.helpers import dot, grad

from engine.errors import Cancelled, RunError
from engine.solvers.fem.linear import LinearSolver, eliminate_dirichlet
from engine.solvers.fem.p1 import gradients_p1, load_p1, load_p1_cells, mass_p1, stiffness_p1, structured_unit_square


@BilinearForm
def laplace(u, v, w):
    return w.k * dot(grad(u), grad(v))


@BilinearForm
def mass(u, v, w):
    return w.k * u * v


@LinearForm
def cell_source(v, w):
    return w.k * v


def _per_cell(basis, values):
    """A per-cell coefficient at every quadrature point, as skfem forms take it."""
    return np.broadcast_to(values[:, None], (len(values), basis.X.shape[1]))


def _relative(A, B) -> float:
    return abs(A - B).max() / abs(B).max()


@pytest.fixture(scope="module")
def tri_mesh():
    """A perturbed, refined square: unstructured enough for every angle to differ."""
    rng = np.random.default_rng(1)
    base = MeshTri.init_sqsymmetric().refined(4)
    inside = np.all((base.p > 1e-12) & (base.p < 1 - 1e-12), axis=0)
    return MeshTri(base.p + 0.01 * rng.standard_normal(base.p.shape) * inside, base.t)


@pytest.fixture(scope="module")
def tet_mesh():
    rng = np.random.default_rng(2)
    base = MeshTet.init_tensor(*[np.linspace(0, 1, 6)] * 3)
    inside = np.all((base.p > 1e-12) & (base.p < 1 - 1e-12), axis=0)
    return MeshTet(base.p + 0.02 * rng.standard_normal(base.p.shape) * inside, base.t)


@pytest.mark.parametrize("dim", [2, 3])
def test_stiffness_matches_skfem_with_a_coefficient_per_cell(dim, tri_mesh, tet_mesh):
    mesh, element = (tri_mesh, ElementTriP1()) if dim == 2 else (tet_mesh, ElementTetP1())
    basis = Basis(mesh, element)
    k = np.random.default_rng(3).uniform(0.5, 5.0, mesh.t.shape[1])
    reference = laplace.assemble(basis, k=_per_cell(basis, k))
    K = stiffness_p1(mesh.p.T, mesh.t.T, k)
    assert isinstance(K, sparse.csr_matrix) and K.has_canonical_format
    assert _relative(K, reference) < 1e-12
    assert (K - K.T).nnz == 0  # exactly symmetric
    assert _relative(stiffness_p1(mesh.p.T, mesh.t.T), laplace.assemble(basis, k=1.0)) < 1e-12
    # A negative coefficient takes the other (unsymmetrised) route.
    assert _relative(stiffness_p1(mesh.p.T, mesh.t.T, -k), -reference) < 1e-12


@pytest.mark.parametrize("dim", [2, 3])
def test_mass_consistent_and_lumped_match_skfem(dim, tri_mesh, tet_mesh):
    mesh, element = (tri_mesh, ElementTriP1()) if dim == 2 else (tet_mesh, ElementTetP1())
    basis = Basis(mesh, element)
    rho = np.random.default_rng(4).uniform(1.0, 3.0, mesh.t.shape[1])
    reference = mass.assemble(basis, k=_per_cell(basis, rho))
    M = mass_p1(mesh.p.T, mesh.t.T, rho)
    assert M.has_canonical_format
    assert _relative(M, reference) < 1e-12
    lumped = mass_p1(mesh.p.T, mesh.t.T, rho, lumped=True)
    assert lumped.nnz == mesh.p.shape[1]
    np.testing.assert_allclose(lumped.diagonal(), np.asarray(reference.sum(axis=1)).ravel(), rtol=1e-12)
    assert _relative(mass_p1(mesh.p.T, mesh.t.T, 2.5), mass.assemble(basis, k=2.5)) < 1e-12


@pytest.mark.parametrize("dim", [2, 3])
def test_load_vectors_match_skfem(dim, tri_mesh, tet_mesh):
    mesh, element = (tri_mesh, ElementTriP1()) if dim == 2 else (tet_mesh, ElementTetP1())
    basis = Basis(mesh, element)
    points, cells = mesh.p.T, mesh.t.T
    f = np.cos(3 * points[:, 0]) + points[:, 1] ** 2
    expected = mass.assemble(basis, k=1.0) @ f  # consistent: M f of the P1 interpolant
    np.testing.assert_allclose(load_p1(points, cells, f), expected, rtol=1e-12, atol=1e-15)
    f_cell = np.random.default_rng(5).uniform(-1.0, 1.0, len(cells))
    expected = cell_source.assemble(basis, k=_per_cell(basis, f_cell))
    np.testing.assert_allclose(load_p1_cells(points, cells, f_cell), expected, rtol=1e-12, atol=1e-15)


def test_gradients_sum_to_zero_and_reproduce_linear_functions(tet_mesh):
    points, cells = tet_mesh.p.T, tet_mesh.t.T
    grads, volumes = gradients_p1(points, cells)
    np.testing.assert_allclose(grads.sum(axis=2), 0.0, atol=1e-10)
    assert volumes.sum() == pytest.approx(1.0)
    u = points @ np.array([1.0, -2.0, 0.5])  # a linear function: its P1 gradient is exact
    np.testing.assert_allclose(np.einsum("cdk,ck->cd", grads, u[cells]), np.tile([1.0, -2.0, 0.5], (len(cells), 1)), atol=1e-10)


def test_structured_unit_square():
    points, triangles, boundary = structured_unit_square(4)
    assert points.shape == (25, 2) and triangles.shape == (32, 3)
    assert set(boundary) == set(np.flatnonzero(np.any((points == 0) | (points == 1), axis=1)))
    _, areas = gradients_p1(points, triangles)
    np.testing.assert_allclose(areas, 1 / 32)
    p, t = points[triangles], triangles  # counter-clockwise: positive signed areas
    signed = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])
    assert np.all(signed > 0) and t.dtype == np.int32
    with pytest.raises(ValueError, match="positive"):
        structured_unit_square(0)


def test_bad_meshes_and_coefficients_are_refused():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="degenerate.*cell 0"):
        stiffness_p1(points, [[0, 1, 2]])
    with pytest.raises(ValueError, match=r"shape \(m, 3\)"):
        stiffness_p1(points, [[0, 1, 2, 3]])
    with pytest.raises(ValueError, match="one value per cell"):
        stiffness_p1(points, [[0, 1, 3]], k=[1.0, 2.0])
    with pytest.raises(ValueError, match="one value per point"):
        load_p1(points, [[0, 1, 3]], [1.0])
    with pytest.raises(ValueError, match="outside 0..3"):
        mass_p1(points, [[0, 1, 4]])


# -- the linear layer ------------------------------------------------------------------------


def poisson(n: int = 40):
    """P1 Poisson on the unit square, boundary eliminated: (A, b, exact discrete solution)."""
    points, triangles, boundary = structured_unit_square(n)
    f = 2 * np.pi**2 * np.sin(np.pi * points[:, 0]) * np.sin(np.pi * points[:, 1])
    A, b, _ = eliminate_dirichlet(stiffness_p1(points, triangles), load_p1(points, triangles, f), boundary)
    return A, b, sparse.linalg.spsolve(A.tocsc(), b)


@pytest.fixture(scope="module")
def system():
    return poisson()


def test_eliminate_dirichlet_matches_fancy_indexing():
    A = stiffness_p1(*structured_unit_square(6)[:2]) + sparse.eye(49)
    b = np.arange(49.0)
    fixed = np.array([0, 3, 7, 20, 48])
    values = np.array([1.0, -2.0, 0.5, 3.0, 4.0])
    A_free, b_free, free = eliminate_dirichlet(A, b, fixed, values)
    x = np.zeros(49)
    x[fixed] = values
    expected = A[free][:, free]
    assert A_free.has_canonical_format and abs(A_free - expected).max() == 0
    np.testing.assert_allclose(b_free, b[free] - A[free][:, fixed] @ values)
    np.testing.assert_array_equal(free, np.setdiff1d(np.arange(49), fixed))


@pytest.mark.parametrize("method,symmetric", [("direct", True), ("cg_amg", True), ("gmres_amg", False), ("direct", False)])
@pytest.mark.parametrize("amg", ["classical", "aggregation"])
def test_each_method_reaches_the_tolerance(system, method, symmetric, amg):
    A, b, exact = system
    if method == "gmres_amg":
        A = (A + sparse.diags(np.linspace(0, 1, A.shape[0] - 1), 1)).tocsr()  # nonsymmetric
        exact = sparse.linalg.spsolve(A.tocsc(), b)
    solver = LinearSolver(method=method, tolerance=1e-9, symmetric=symmetric, amg=amg)
    x, info = solver.solve(A, b)
    true = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
    assert info.method == method and info.converged
    assert info.residual == pytest.approx(true, rel=1e-6, abs=1e-15) and true <= 1e-9
    assert np.abs(x - exact).max() < 1e-6 * np.abs(exact).max()
    if method == "direct":
        assert info.iterations == 0 and info.residuals == []
    else:
        assert 0 < info.iterations < 60 and len(info.residuals) == info.iterations
        assert info.residuals[-1] <= 1e-9


def test_auto_picks_direct_for_small_and_amg_for_large(system, monkeypatch):
    A, b, _ = system
    solver = LinearSolver()
    assert solver.solve(A, b)[1].method == "direct"
    monkeypatch.setattr(solver, "direct_limit", 100)
    _, info = solver.solve(A, b)
    assert info.method == "cg_amg" and info.converged
    assert LinearSolver(symmetric=False, direct_limit=100).solve(A, b)[1].method == "gmres_amg"


def test_auto_sends_3d_sized_fill_to_amg():
    mesh = MeshTet.init_tensor(*[np.linspace(0, 1, 25)] * 3)  # 23^3 = 12k unknowns: fill like 3D
    interior = np.flatnonzero(np.all((mesh.p > 0) & (mesh.p < 1), axis=0))
    K = stiffness_p1(mesh.p.T, mesh.t.T)
    A = K[interior][:, interior]
    assert A.shape[0] < LinearSolver().direct_limit
    assert LinearSolver().choose(A) == "cg_amg"
    points, triangles, boundary = structured_unit_square(100)  # 10k unknowns in 2D: direct
    assert LinearSolver().choose(eliminate_dirichlet(stiffness_p1(points, triangles), np.zeros(len(points)), boundary)[0]) == "direct"


def test_factorisation_is_reused_for_the_same_matrix(system):
    A, b, exact = system
    solver = LinearSolver(method="direct")
    _, first = solver.solve(A, b)
    assert not first.reused and first.setup_time > 0
    x, second = solver.solve(A, 2 * b)
    assert second.reused and second.setup_time == 0.0
    np.testing.assert_allclose(x, 2 * exact, rtol=1e-10)
    assert solver.solve(A.copy(), b)[1].reused  # identical data, another object
    assert not solver.solve(2 * A, b)[1].reused  # other values: factorise again
    assert not solver.solve(2 * A, b, reuse="never")[1].reused


def test_amg_hierarchy_is_reused_for_the_same_pattern(system):
    A, b, _ = system
    solver = LinearSolver(method="cg_amg", tolerance=1e-10)
    _, first = solver.solve(A, b)
    assert not first.reused and first.setup_time > 0
    scaled = A.copy()
    scaled.data *= 3.0
    x, second = solver.solve(scaled, b)
    assert second.reused and second.setup_time == 0.0 and second.converged
    assert second.iterations <= first.iterations + 1
    assert np.linalg.norm(b - scaled @ x) / np.linalg.norm(b) <= 1e-10
    assert not solver.solve(scaled, b, reuse="never")[1].reused
    other = (A + sparse.diags(np.ones(A.shape[0] - 2), 2)).tocsr()  # new pattern: rebuild
    assert not solver.solve(other, b)[1].reused


def _checkerboard_system(n: int = 48, jump: float = 1e6):
    points, triangles, boundary = structured_unit_square(n)
    centres = points[triangles].mean(axis=1)
    k = np.where((np.floor(8 * centres[:, 0]) + np.floor(8 * centres[:, 1])) % 2 == 0, 1.0, jump)
    A, b, _ = eliminate_dirichlet(stiffness_p1(points, triangles), load_p1_cells(points, triangles, 1.0), boundary)
    B = eliminate_dirichlet(stiffness_p1(points, triangles, k), np.zeros(len(points)), boundary)[0]
    return A, B, b


def test_other_values_on_the_same_pattern_refresh_the_coarse_levels():
    A, B, b = _checkerboard_system(jump=1e3)
    solver = LinearSolver(method="cg_amg", tolerance=1e-10)
    solver.solve(A, b)
    full = LinearSolver(method="cg_amg", tolerance=1e-10).solve(B, b)[1]
    x, info = solver.solve(B, b)  # not a multiple of A: the Galerkin products are redone
    assert info.reused and info.converged and 0.0 < info.setup_time
    assert np.linalg.norm(b - B @ x) / np.linalg.norm(b) <= 1e-10
    assert info.iterations <= 2 * full.iterations


def test_a_stale_hierarchy_is_rebuilt_once_the_iterations_double(monkeypatch):
    from engine.solvers.fem import linear

    A, B, b = _checkerboard_system()
    solver = LinearSolver(method="cg_amg", tolerance=1e-10)
    _, first = solver.solve(A, b)
    # Freeze the hierarchy whatever the values: for the checkerboard it no longer fits.
    monkeypatch.setattr(linear._Hierarchy, "proportional", lambda self, A: True)
    x, info = solver.solve(B, b)
    assert not info.reused and info.setup_time > 0 and info.converged
    assert info.iterations > 2 * first.iterations
    assert np.linalg.norm(b - B @ x) / np.linalg.norm(b) <= 1e-10


def test_warm_start_from_the_solution_needs_at_most_one_iteration(system):
    A, b, exact = system
    for method in ("cg_amg", "gmres_amg"):
        solver = LinearSolver(method=method, tolerance=1e-8)
        x, _ = solver.solve(A, b)
        _, info = solver.solve(A, b, x0=x)
        assert info.iterations <= 1 and info.converged and info.reused


def test_cancel_raises_cancelled(system):
    A, b, _ = system
    cancel = threading.Event()
    cancel.set()
    for method in ("direct", "cg_amg", "gmres_amg"):
        with pytest.raises(Cancelled, match="the linear solve was cancelled"):
            LinearSolver(method=method).solve(A, b, cancel=cancel)
    # Set during the iterations, from the progress callback.
    running = threading.Event()
    with pytest.raises(Cancelled):
        LinearSolver(method="cg_amg", tolerance=1e-14).solve(A, b, cancel=running, progress=lambda f, m: running.set())


@pytest.mark.parametrize("method", ["direct", "cg_amg", "gmres_amg"])
def test_progress_reports_fractions_in_the_unit_interval(system, method):
    A, b, _ = system
    calls = []
    _, info = LinearSolver(method=method, tolerance=1e-12).solve(A, b, progress=lambda f, m: calls.append((f, m)))
    assert 1 <= len(calls) <= 21
    fractions = [f for f, _ in calls if f is not None]
    assert all(0.0 <= f <= 1.0 for f in fractions) and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(isinstance(m, str) and m for _, m in calls)


def test_progress_is_throttled_on_long_solves():
    from engine.solvers.fem.linear import _Progress

    calls = []
    reporter = _Progress(lambda f, m: calls.append(f), 1e-10, "cg_amg")
    for it in range(1, 2001):  # a slow solve: 2000 iterations down to 1e-10
        reporter(it, 10.0 ** (-10 * it / 2000))
    reporter.done(1e-10)
    assert len(calls) <= 20
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)


def test_non_convergence_is_reported_not_raised(system):
    A, b, _ = system
    for method in ("cg_amg", "gmres_amg"):
        x, info = LinearSolver(method=method, max_iterations=2, tolerance=1e-14).solve(A, b)
        assert not info.converged and info.iterations == 2
        assert info.residual == pytest.approx(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def test_bad_arguments_are_refused(system):
    A, b, _ = system
    with pytest.raises(ValueError, match=r"'multigrid'.*'auto', 'direct', 'cg_amg', 'gmres_amg'"):
        LinearSolver(method="multigrid")
    with pytest.raises(ValueError, match="reuse"):
        LinearSolver().solve(A, b, reuse="sometimes")
    with pytest.raises(ValueError, match="entries"):
        LinearSolver().solve(A, b[:-1])
    with pytest.raises(ValueError, match="square"):
        LinearSolver().solve(sparse.csr_matrix((3, 4)), np.ones(3))


def test_a_singular_matrix_is_a_run_error():
    points, triangles, _ = structured_unit_square(4)
    points = np.vstack([points, [[2.0, 2.0]]])  # a point in no cell: a zero row and column
    A = stiffness_p1(points, triangles) + mass_p1(points, triangles)
    with pytest.raises(RunError, match="singular"):
        LinearSolver(method="direct").solve(A, np.ones(A.shape[0]))
    # Numerically singular (pure Neumann, inconsistent load): reported, not raised.
    K = stiffness_p1(points[:-1], triangles)
    _, info = LinearSolver(method="direct").solve(K, np.ones(K.shape[0]))
    assert not info.converged


def test_a_zero_right_hand_side_gives_zero(system):
    A, b, _ = system
    for method in ("direct", "cg_amg", "gmres_amg"):
        x, info = LinearSolver(method=method).solve(A, np.zeros_like(b))
        assert info.converged and info.residual == 0.0 and not np.any(x)


def test_mass_with_densities_of_both_signs_keeps_its_diagonal(tri_mesh):
    basis = Basis(tri_mesh, ElementTriP1())
    rho = np.where(np.arange(tri_mesh.t.shape[1]) % 2 == 0, 1.0, -1.0)
    expected = mass.assemble(basis, k=_per_cell(basis, rho))
    assert abs(mass_p1(tri_mesh.p.T, tri_mesh.t.T, rho) - expected).max() < 1e-12 * abs(expected).max()


def test_auto_amg_is_classical_for_m_matrices_and_aggregation_otherwise(system, tet_mesh):
    A, b, _ = system
    solver = LinearSolver(method="cg_amg")
    solver.solve(A, b)
    assert solver._hierarchy.kind == "classical"  # P1 on right triangles: an M-matrix
    # Perturbed tetrahedra have positive off-diagonal entries.
    interior = np.flatnonzero(np.all((tet_mesh.p > 1e-12) & (tet_mesh.p < 1 - 1e-12), axis=0))
    B = stiffness_p1(tet_mesh.p.T, tet_mesh.t.T)[interior][:, interior]
    _, info = solver.solve(B, np.ones(B.shape[0]))
    assert solver._hierarchy.kind == "aggregation" and info.converged
    with pytest.raises(ValueError, match="'auto', 'classical', 'aggregation'"):
        LinearSolver(amg="geometric")
