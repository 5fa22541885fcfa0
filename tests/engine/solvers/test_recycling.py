"""Tests of engine.solvers.fem.recycling: GCRO-DR with Krylov subspace recycling and the
similarity ordering of samples."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from engine.errors import Cancelled
from engine.solvers.fem.recycling import RecycleInfo, RecycleSpace, gcrodr, order_by_similarity

skfem = pytest.importorskip("skfem")
from skfem.helpers import dot, grad  # noqa: E402

TOL = 1e-8


# --------------------------------------------------------------------------------------------
# Systems: P1 on MeshTri.init_sqsymmetric().refined(4) (961 interior unknowns)


@pytest.fixture(scope="module")
def basis():
    mesh = skfem.MeshTri.init_sqsymmetric().refined(4)
    return skfem.Basis(mesh, skfem.ElementTriP1())


@skfem.BilinearForm
def _diffusion(u, v, w):
    x, y = w.x
    kappa = 1.0 + w.amp * np.sin(np.pi * w.freq * x) * np.cos(np.pi * y)
    return kappa * dot(grad(u), grad(v))


@skfem.BilinearForm
def _convection_diffusion(u, v, w):
    return dot(grad(u), grad(v)) + w.beta * (grad(u)[0] + 0.5 * grad(u)[1]) * v


@skfem.LinearForm
def _load(v, w):
    x, y = w.x
    return (1.0 + x * y) * v


def _interior(basis, A):
    inner = basis.complement_dofs(basis.get_dofs())
    return A[inner][:, inner].tocsr(), skfem.asm(_load, basis)[inner]


def poisson(basis, amp: float, freq: float):
    """-div(kappa grad u) = f, u = 0 on the boundary, kappa = 1 + amp sin(freq pi x) cos(pi y)."""
    return _interior(basis, skfem.asm(_diffusion, basis, amp=amp, freq=freq))


def convection_diffusion(basis, beta: float):
    """-Lap u + beta (1, 1/2) . grad u = f: nonsymmetric (Peclet ~ beta h / 2 < 1)."""
    return _interior(basis, skfem.asm(_convection_diffusion, basis, beta=beta))


@pytest.fixture(scope="module")
def spd(basis):
    return poisson(basis, 0.3, 1.0)


@pytest.fixture(scope="module")
def nonsym(basis):
    return convection_diffusion(basis, 20.0)


def relres(A, x, b) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


# --------------------------------------------------------------------------------------------
# Solving


@pytest.mark.parametrize("system", ["spd", "nonsym"])
def test_solves_to_tolerance_and_matches_spsolve(system, request):
    A, b = request.getfixturevalue(system)
    if system == "nonsym":
        assert abs(A - A.T).max() > 0.1  # really nonsymmetric
    x, info = gcrodr(A, b, m=40, k=10, tol=TOL)
    assert isinstance(info, RecycleInfo)
    assert info.converged
    assert relres(A, x, b) <= TOL
    assert info.residual == pytest.approx(relres(A, x, b), rel=1e-6)
    exact = spla.spsolve(A.tocsc(), b)
    assert np.linalg.norm(x - exact) <= 1e-6 * np.linalg.norm(exact)
    assert info.cycles > 1  # restarted: deflated restarting was exercised
    assert isinstance(info.recycle, RecycleSpace) and info.recycle.k == 10


def test_bookkeeping(spd):
    A, b = spd
    _, first = gcrodr(A, b, m=30, k=8)
    x0 = np.full(b.size, 0.01)
    _, info = gcrodr(A, b, x0=x0, m=30, k=8, recycle=first.recycle)
    # Arnoldi products + one true residual per cycle + the k products refitting C = A U
    # + the initial residual of the nonzero x0.
    assert info.matvecs == info.iterations + info.cycles + 8 + 1
    assert info.residuals.shape == (info.iterations + 1,)
    assert info.residuals[0] == pytest.approx(relres(A, x0, b))
    assert info.residuals[-1] <= TOL
    assert info.residuals[-1] == pytest.approx(info.residual, rel=1e-3)


def test_recycle_space_invariants(spd):
    """After a solve, A U^T has orthonormal columns (C) and the harmonic Ritz values
    approximate the smallest eigenvalues of the SPD matrix."""
    A, b = spd
    _, info = gcrodr(A, b, m=30, k=6)
    space = info.recycle
    C = (A @ space.U.T).T
    np.testing.assert_allclose(C @ C.T, np.eye(space.k), atol=1e-10)
    eigenvalues = np.linalg.eigvalsh(A.toarray())
    values = np.sort(space.values.real)
    assert np.all(np.abs(space.values.imag) < 1e-12)
    assert values[0] == pytest.approx(eigenvalues[0], rel=1e-6)
    # Harmonic Ritz values of an SPD matrix lie in its spectrum's interval; these are at its
    # low end (the second and third eigenvalues nearly coincide: one of them is found).
    assert np.all(values >= eigenvalues[0] * (1 - 1e-9))
    assert values[1] == pytest.approx(eigenvalues[1], rel=1e-3)
    assert values[-1] < eigenvalues[20]


@pytest.mark.parametrize(
    ("system", "other"),
    [
        ("spd", lambda basis: poisson(basis, 0.4, 1.5)),  # another variable coefficient
        ("nonsym", lambda basis: convection_diffusion(basis, 22.0)),  # a 10% faster flow
    ],
)
def test_recycling_needs_markedly_fewer_iterations(system, other, basis, request):
    A1, b = request.getfixturevalue(system)
    A2, _ = other(basis)
    _, first = gcrodr(A1, b, m=40, k=10)
    x2, recycled = gcrodr(A2, b, m=40, k=10, recycle=first.recycle)
    _, scratch = gcrodr(A2, b, m=40, k=0)  # GMRES(40), same code, no recycling
    assert scratch.recycle is None
    assert recycled.converged and relres(A2, x2, b) <= TOL
    # Measured: 90 vs 183 (Poisson) and 78 vs 176 (convection-diffusion) iterations.
    assert recycled.iterations <= 0.6 * scratch.iterations


def test_recycling_pays_with_a_right_preconditioner(spd, basis):
    A1, b = spd
    A2, _ = poisson(basis, 0.4, 1.5)
    inv_diag = 1.0 / A1.diagonal()  # the first system's Jacobi, kept for the second

    def jacobi(v):
        return inv_diag * v

    _, first = gcrodr(A1, b, M=jacobi, m=40, k=10)
    x2, recycled = gcrodr(A2, b, M=jacobi, m=40, k=10, recycle=first.recycle)
    _, scratch = gcrodr(A2, b, M=jacobi, m=40, k=0)
    assert recycled.converged and relres(A2, x2, b) <= TOL
    assert recycled.iterations <= 0.6 * scratch.iterations  # measured 78 vs 200


def test_gmres_baseline_without_recycling(nonsym):
    A, b = nonsym
    x, info = gcrodr(A, b, m=25, k=0)
    assert info.converged and relres(A, x, b) <= TOL
    assert info.recycle is None
    assert info.matvecs == info.iterations + info.cycles


def test_amg_preconditioned(spd, basis):
    pyamg = pytest.importorskip("pyamg")
    A1, b = spd
    A2, _ = poisson(basis, 0.4, 1.5)
    M = pyamg.smoothed_aggregation_solver(A1).aspreconditioner()
    x1, first = gcrodr(A1, b, M=M, m=20, k=5)
    assert first.converged and relres(A1, x1, b) <= TOL
    assert first.iterations < 25  # the preconditioner works
    assert first.recycle.Y is not None  # preconditioned-space copy kept
    # The first system's hierarchy and recycle space on the next system.
    x2, second = gcrodr(A2, b, M=M, m=20, k=5, recycle=first.recycle)
    assert second.converged and relres(A2, x2, b) <= TOL
    np.testing.assert_allclose(x2, spla.spsolve(A2.tocsc(), b), rtol=0, atol=1e-6 * np.abs(x2).max())


def test_callable_and_operator_inputs(nonsym):
    A, b = nonsym
    inv_diag = 1.0 / A.diagonal()
    x, info = gcrodr(spla.aslinearoperator(A), b, M=lambda v: inv_diag * v, m=30, k=5)
    assert info.converged and relres(A, x, b) <= TOL
    x_dense, _ = gcrodr(A.toarray(), b, m=30, k=5)
    assert relres(A, x_dense, b) <= TOL


def test_callback_raising_stops(spd):
    A, b = spd
    seen = []

    def callback(iteration, residual):
        seen.append((iteration, residual))
        if iteration == 3:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        gcrodr(A, b, callback=callback)
    assert [i for i, _ in seen] == [1, 2, 3]
    assert all(0 < r < 1 for _, r in seen)


def test_edge_cases(spd):
    A, b = spd
    x, info = gcrodr(A, np.zeros_like(b))
    assert not x.any() and info.converged and info.iterations == 0
    exact = spla.spsolve(A.tocsc(), b)
    _, info = gcrodr(A, b, x0=exact, tol=1e-6)
    assert info.converged and info.iterations == 0
    _, info = gcrodr(A, b, m=10, k=3, max_iterations=15)
    assert not info.converged and info.iterations == 15 and info.residual > TOL
    with pytest.raises(ValueError, match="m > k|0 <= k < m"):
        gcrodr(A, b, m=10, k=10)
    with pytest.raises(ValueError, match="shape"):
        gcrodr(A, b[:-1])
    _, info = gcrodr(A, b, m=20, k=4)
    small = sp.identity(5, format="csr")
    with pytest.raises(ValueError, match="size"):
        gcrodr(small, np.ones(5), m=4, k=2, recycle=info.recycle)


def test_recycle_with_larger_k_is_truncated(spd):
    A, b = spd
    _, big = gcrodr(A, b, m=40, k=12)
    x, info = gcrodr(A, b, m=20, k=4, recycle=big.recycle)
    assert info.converged and relres(A, x, b) <= TOL
    assert info.recycle.k == 4


# --------------------------------------------------------------------------------------------
# Ordering


def test_order_by_similarity_is_a_greedy_permutation():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((200, 50))
    order = order_by_similarity(features)
    assert sorted(order.tolist()) == list(range(200))
    assert order[0] == 0
    # Each step goes to the nearest sample not yet visited.
    for i in range(len(order) - 1):
        rest = order[i + 1 :]
        dist = np.linalg.norm(features[rest] - features[order[i]], axis=1)
        assert dist[0] == pytest.approx(dist.min())
    # Neighbours end up closer than in the given order.
    steps = lambda o: np.linalg.norm(np.diff(features[o], axis=0), axis=1).mean()  # noqa: E731
    assert steps(order) < 0.9 * steps(np.arange(200))


def test_order_by_similarity_fields_and_edges():
    fields = np.stack([np.full((4, 4), v) for v in (0.0, 5.0, 1.0, 4.0, 2.0)])
    assert order_by_similarity(fields).tolist() == [0, 2, 4, 3, 1]
    assert order_by_similarity(fields, start=1).tolist() == [1, 3, 4, 2, 0]
    assert order_by_similarity(np.zeros((0, 3))).tolist() == []
    assert order_by_similarity(np.ones((1, 3))).tolist() == [0]
    with pytest.raises(ValueError):
        order_by_similarity(fields, start=5)
