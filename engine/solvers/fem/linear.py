"""The linear-algebra layer of the classical solvers: ``A x = b``, direct or AMG-preconditioned.

One :class:`LinearSolver` object serves a whole sequence of related systems (time steps,
parameter sweeps, Newton steps) and keeps what is expensive between them: the sparse LU
factorisation while the matrix stays the same, the algebraic-multigrid hierarchy while its
sparsity pattern does. Every answer comes with a :class:`LinearSolveInfo` holding the true
final residual and honest timings.

Choices, measured with 2D P1 Poisson on the unit square (998,001 unknowns, CG to 1e-8) on this
project's 2-core machine, in CPU seconds, best of 3 (the machine was shared):

* AMG flavour: classical Ruge-Stuben (pyamg's RS splitting, strength theta = 0.25) sets up in
  0.8-0.9 s and converges in 8 iterations, 0.60 s; smoothed aggregation tuned for speed
  (theta = 0, no candidate improvement, Jacobi prolongation smoothing with local Gershgorin
  weights, which skips the spectral-radius estimate) sets up in 1.2-1.4 s and needs 16-20
  iterations, 1.1-1.4 s. pyamg's default SA took 9-14 s, most of it in that estimate's BLAS-1
  calls, whose two threads fight for the two cores. Direct instead of classical interpolation
  would cut the RS setup by 10-50% but needs more iterations as the mesh grows (12 against 8
  at 2M unknowns, where the setup saving is 4%), so classical it is. RS relies on an
  M-matrix, though: on gmsh tetrahedra (positive off-diagonal entries weighing 13% of the
  negative ones) SA converges in 19 iterations, 0.11 s in all, RS in 23, 0.23 s; on triangles
  jittered by 10% of h, SA needs 56-77 iterations where RS needs ~200. Hence ``amg="auto"``:
  RS for (near) M-matrices, SA otherwise.
* Reuse on one sparsity pattern (160k unknowns, 5 systems, CG + RS, seconds in all): for
  another coefficient field per system, keeping the hierarchy frozen cost 7.0-7.5 s with
  lognormal and 2.7-3.0 s with two-valued fields (97-112 and 28-36 iterations, rebuilds
  included), recomputing only its Galerkin products R A P 4.5 s and 1.6 s (66 and 19
  iterations), a fresh hierarchy each time 3.8-4.1 s and 1.9-2.2 s (40 and 16). For a
  multiple of the same matrix the frozen hierarchy is best (0.61-0.70 s against 1.18-1.29 s
  fresh). Recomputing the classical interpolation on the old C/F splitting is worse than all
  of these (F-points lose their strong C-neighbours when the coefficients move).
* Coarsest level: at most 1000 unknowns, factorised with SuperLU. pyamg's default dense
  pseudo-inverse there costs 0.3-0.5 s to set up at 1000 unknowns and 4.5 s of solve at 3000.
* The V-cycle runs here rather than through ``ml.aspreconditioner()``, which computes two extra
  residual norms per application: one forward Gauss-Seidel sweep before the coarse correction
  and one backward sweep after it (a symmetric cycle, as CG needs): 0.60 s for 8 iterations;
  symmetric sweeps on both sides take 6 iterations but 0.67 s; pyamg's own cycle with scipy
  ``cg`` 0.77-0.84 s, with ``pyamg.krylov.cg`` 0.95 s.
* Krylov methods are written here too (CG; right-preconditioned restarted GMRES) so that every
  iteration can report progress, honour ``cancel`` and record its residual; CG's inner products
  use ``einsum``, which does not start BLAS threads.
* Sparse LU: SuperLU with minimum-degree ordering on A + A^T and symmetric mode for symmetric
  matrices (89k unknowns: 0.30 s against 0.38 s with the default COLAMD), the default
  otherwise.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sla

from engine.errors import RunError
from engine.solver import check_cancelled, report

__all__ = ["LinearSolveInfo", "LinearSolver", "METHODS", "AMG_KINDS", "DIRECT_LIMIT", "DIRECT_WORK_LIMIT", "eliminate_dirichlet"]

#: The methods ``LinearSolver(method=...)`` accepts.
METHODS = ("auto", "direct", "cg_amg", "gmres_amg")

#: The AMG hierarchies ``LinearSolver(amg=...)`` accepts.
AMG_KINDS = ("auto", "classical", "aggregation")

#: Unknowns up to which ``method="auto"`` factorises. Measured on 2D P1 Poisson here (CPU
#: seconds, one solve: factorisation + solve vs AMG setup + CG to 1e-8; then one more solve
#: reusing the factors vs the hierarchy):
#:
#: ========== =============== ============ ============== ==============
#: unknowns   direct (first)  AMG (first)  direct (reuse) AMG (reuse)
#: ========== =============== ============ ============== ==============
#: 9,801      0.017           0.014        0.0006         0.005
#: 22,201     0.056           0.029        0.002          0.010
#: 39,601     0.126           0.047        0.005          0.020
#: 89,401     0.31            0.11         0.010          0.048
#: ========== =============== ============ ============== ==============
#:
#: AMG wins a single solve from ~10k unknowns on, by less than 0.1 s below 50k, where the
#: factors win back the difference after a few reused solves (time stepping) and never fail to
#: converge. In 3D the factors fill in much faster (P1 tetrahedra: 24k unknowns 1.1 s direct vs
#: 0.09 s AMG), hence the second test, ``DIRECT_WORK_LIMIT``.
DIRECT_LIMIT = 50_000

#: ``auto`` also requires ``n * w**2 <= DIRECT_WORK_LIMIT``, ``w`` being the mean profile width
#: of the matrix after reverse Cuthill-McKee ordering (a band-LU operation count, computed in a
#: few milliseconds). It tells 2D from 3D problems by what matters, the fill: the limit lets 2D
#: P1 through up to ~50k unknowns (0.15 s to factorise) and 3D P1 up to ~9k (0.1-0.2 s).
DIRECT_WORK_LIMIT = 1e9

_REUSE = ("auto", "never")
_PROGRESS_CALLS = 20


@dataclass
class LinearSolveInfo:
    """What a linear solve did: method, iterations, true residual, timings, reuse.

    Attributes
    ----------
    method : str
        ``"direct"``, ``"cg_amg"`` or ``"gmres_amg"``.
    iterations : int
        Krylov iterations (0 for direct).
    residual : float
        Final relative residual ``||b - A x|| / ||b||``, computed from ``x``.
    converged : bool
        Whether ``residual <= tolerance``.
    setup_time : float
        Seconds spent factorising or building the AMG hierarchy (0 when reused).
    solve_time : float
        Seconds spent in the solve proper.
    reused : bool
        True when a previous factorisation or hierarchy served this solve.
    residuals : list of float
        Relative residual per iteration (empty for direct).
    """

    method: str
    iterations: int
    residual: float
    converged: bool
    setup_time: float
    solve_time: float
    reused: bool
    residuals: list[float] = field(default_factory=list)


class LinearSolver:
    """Solve sparse systems ``A x = b`` one after another, reusing what can be reused.

    Parameters
    ----------
    method : {"auto", "direct", "cg_amg", "gmres_amg"}
        ``"auto"`` factorises up to ``direct_limit`` unknowns (if the fill is also small, as
        in 2D; see ``DIRECT_WORK_LIMIT``) and otherwise uses CG (when ``symmetric``) or
        GMRES, preconditioned by algebraic multigrid.
    tolerance : float
        Relative residual ``||b - A x|| / ||b||`` to reach.
    max_iterations : int
        Krylov iterations before giving up (the result then says ``converged=False``).
    symmetric : bool
        Whether the matrices are symmetric positive definite (CG) or not (GMRES).
    direct_limit : int
        Largest number of unknowns ``"auto"`` solves directly.
    amg : {"auto", "classical", "aggregation"}
        The multigrid hierarchy: classical Ruge-Stuben (fastest for M-matrices: 2D Delaunay
        meshes, structured meshes), smoothed aggregation (more robust when the matrix has
        positive off-diagonal entries: 3D unstructured meshes, distorted cells, elasticity), or
        ``"auto"``: classical when the positive off-diagonal entries weigh at most 1% of the
        negative ones, aggregation otherwise.
    restart : int
        GMRES restart length.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> A = sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(100, 100), format="csr")
    >>> b = np.ones(100)
    >>> solver = LinearSolver(method="cg_amg", tolerance=1e-10)
    >>> x, info = solver.solve(A, b)
    >>> info.method, info.converged, info.residual <= 1e-10
    ('cg_amg', True, True)
    >>> x, info = solver.solve(2 * A, b)  # same pattern: the hierarchy is reused
    >>> info.reused, info.setup_time
    (True, 0.0)
    """

    def __init__(
        self,
        *,
        method: str = "auto",
        tolerance: float = 1e-8,
        max_iterations: int = 1000,
        symmetric: bool = True,
        direct_limit: int = DIRECT_LIMIT,
        amg: str = "auto",
        restart: int = 50,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown linear solver method {method!r}; expected one of {', '.join(map(repr, METHODS))}")
        if amg not in AMG_KINDS:
            raise ValueError(f"unknown AMG kind {amg!r}; expected one of {', '.join(map(repr, AMG_KINDS))}")
        if not tolerance > 0:
            raise ValueError(f"tolerance must be positive; got {tolerance!r}")
        if max_iterations < 0:
            raise ValueError(f"max_iterations must be >= 0; got {max_iterations!r}")
        self.method = method
        self.tolerance = float(tolerance)
        self.max_iterations = int(max_iterations)
        self.symmetric = bool(symmetric)
        self.direct_limit = int(direct_limit)
        self.amg = amg
        self.restart = int(restart)
        self.reset()

    def reset(self) -> None:
        """Forget the stored factorisation and hierarchy."""
        self._factor: _Factor | None = None
        self._hierarchy: _Hierarchy | None = None

    def choose(self, A) -> str:
        """The method a solve with matrix ``A`` will use.

        Examples
        --------
        >>> from scipy import sparse
        >>> A = sparse.eye(10, format="csr")
        >>> LinearSolver().choose(A), LinearSolver(direct_limit=5).choose(A)
        ('direct', 'cg_amg')
        """
        if self.method != "auto":
            return self.method
        n = A.shape[0]
        if n <= self.direct_limit and _band_work(A) <= DIRECT_WORK_LIMIT:
            return "direct"
        return "cg_amg" if self.symmetric else "gmres_amg"

    def solve(
        self,
        A,
        b,
        *,
        x0=None,
        progress: Callable[[float | None, str], None] | None = None,
        cancel: threading.Event | None = None,
        reuse: str = "auto",
    ) -> tuple[np.ndarray, LinearSolveInfo]:
        """Solve ``A x = b``.

        Parameters
        ----------
        A : sparse matrix or 2D array
            Square system matrix (converted to CSR).
        b : (n,) array
            Right-hand side.
        x0 : (n,) array, optional
            Initial guess for the Krylov methods (typically the previous solution).
        progress : callable, optional
            ``progress(fraction, message)``, called at most about 20 times; the fraction is
            estimated from ``log(residual) / log(tolerance)``, None while factorising.
        cancel : threading.Event, optional
            Checked every iteration; once set, the solve raises ``Cancelled``.
        reuse : {"auto", "never"}
            ``"auto"`` reuses the factorisation for an identical matrix (same object or same
            data), and the AMG hierarchy for a matrix with the same sparsity pattern: as it is
            when the values are (within 10%) a multiple of those it was built for, with its
            coarse operators recomputed as ``R A P`` otherwise. A reused hierarchy is rebuilt,
            and the solve goes on from where it was, once the iterations pass twice what its
            first solve's convergence rate predicts. ``"never"`` rebuilds every time.

        Returns
        -------
        x : (n,) array
        info : LinearSolveInfo

        Raises
        ------
        Cancelled
            When ``cancel`` is set.
        RunError
            When a direct solve meets a singular matrix.
        """
        if reuse not in _REUSE:
            raise ValueError(f"unknown reuse mode {reuse!r}; expected one of {', '.join(map(repr, _REUSE))}")
        A = _as_csr(A)
        n = A.shape[0]
        b = np.asarray(b, dtype=float).reshape(-1)
        if b.shape != (n,):
            raise ValueError(f"b must have {n} entries to match A of shape {A.shape}; got shape {b.shape}")
        if x0 is not None:
            x0 = np.asarray(x0, dtype=float).reshape(-1)
            if x0.shape != (n,):
                raise ValueError(f"x0 must have {n} entries to match A of shape {A.shape}; got shape {x0.shape}")
        method = self.choose(A)
        _check_cancel(cancel)
        if method == "direct":
            return self._solve_direct(A, b, progress, cancel, reuse)
        return self._solve_krylov(method, A, b, x0, progress, cancel, reuse)

    # -- direct ---------------------------------------------------------------------------

    def _solve_direct(self, A, b, progress, cancel, reuse):
        reused = reuse == "auto" and self._factor is not None and self._factor.matches(A)
        setup = 0.0
        if not reused:
            report(progress, None, f"factorising {A.shape[0]} unknowns")
            t0 = time.perf_counter()
            self._factor = _Factor(A, symmetric=self.symmetric)
            setup = time.perf_counter() - t0
            _check_cancel(cancel)
        t0 = time.perf_counter()
        lu = self._factor
        x = lu.solve(b)
        if not np.all(np.isfinite(x)):
            raise RunError(f"the {A.shape[0]}x{A.shape[1]} system matrix is singular (the direct solve gave non-finite values)")
        norm_b = _norm(b)
        residual = _relative(A, x, b, norm_b)
        # Iterative refinement with the factors when round-off left the residual too large.
        for _ in range(2):
            if residual <= self.tolerance:
                break
            x += lu.solve(b - A @ x)
            residual = _relative(A, x, b, norm_b)
        solve = time.perf_counter() - t0
        report(progress, 1.0, f"direct solve: relative residual {residual:.2e}")
        info = LinearSolveInfo("direct", 0, residual, residual <= self.tolerance, setup, solve, reused, [])
        return x, info

    # -- Krylov + AMG ---------------------------------------------------------------------

    def _solve_krylov(self, method, A, b, x0, progress, cancel, reuse):
        h = self._hierarchy
        reused = reuse == "auto" and h is not None and h.matches_pattern(A)
        t0 = time.perf_counter()
        refreshed = False
        if not reused:
            h = self._hierarchy = _Hierarchy(A, self.amg, self.symmetric)
        elif not h.proportional(A):
            # Same pattern, values that are not a multiple of the old ones (another coefficient
            # field, another time step): keep the C/F splitting or aggregates and the
            # prolongators, redo the Galerkin products R A P (a fraction of a setup).
            h.refresh(A)
            refreshed = True
        setup = time.perf_counter() - t0 if not reused or refreshed else 0.0
        _check_cancel(cancel)
        t0 = time.perf_counter()
        rebuild = 0.0
        norm_b = _norm(b)
        history: list[float] = []
        reporter = _Progress(progress, self.tolerance, method)
        x = np.zeros_like(b) if x0 is None or norm_b == 0.0 else x0.copy()
        start = 1.0 if x0 is None or norm_b == 0.0 else _relative(A, x, b, norm_b)
        iterations = 0
        # A reused hierarchy may take ~2x the iterations its first solve would have needed
        # (at that solve's convergence rate) for this one; past that it is rebuilt.
        budget = h.budget(start, self.tolerance) if reused else None
        if norm_b > 0.0:
            krylov = _cg if method == "cg_amg" else _gmres
            iterations, stalled = krylov(
                A, b, x, h.precondition, self.tolerance, norm_b, self.max_iterations, history, reporter, cancel, budget, self.restart
            )
            if stalled:
                # The frozen hierarchy no longer fits this matrix: rebuild it and go on from x.
                start_of_rebuild = _relative(A, x, b, norm_b)
                t1 = time.perf_counter()
                h = self._hierarchy = _Hierarchy(A, self.amg, self.symmetric)
                rebuild = time.perf_counter() - t1
                setup += rebuild
                reused = False
                more, _ = krylov(
                    A, b, x, h.precondition, self.tolerance, norm_b, self.max_iterations - iterations, history, reporter, cancel, None, self.restart
                )
                iterations += more
                h.learn(more, start_of_rebuild, history[-1] if history else start)
        residual = _relative(A, x, b, norm_b)
        h.learn(iterations, start, residual)
        solve = time.perf_counter() - t0 - rebuild
        reporter.done(residual)
        info = LinearSolveInfo(method, iterations, residual, residual <= self.tolerance, setup, solve, reused, history)
        return x, info


# -- helpers -------------------------------------------------------------------------------


def _as_csr(A) -> sparse.csr_matrix:
    if sparse.issparse(A):
        A = A.tocsr()
    else:
        A = np.asarray(A)
        if A.ndim != 2:
            raise ValueError(f"A must be a square matrix; got an array of shape {A.shape}")
        A = sparse.csr_matrix(A)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square; got shape {A.shape}")
    if A.dtype != np.float64:
        A = A.astype(np.float64)
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
    return A


def _band_work(A: sparse.csr_matrix) -> float:
    """``n * w**2``, ``w`` the mean lower profile width after reverse Cuthill-McKee ordering."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    n = A.shape[0]
    if n == 0 or A.nnz == 0:
        return 0.0
    pattern = A if _symmetric_pattern(A) else (abs(A) + abs(A.T)).tocsr()
    order = reverse_cuthill_mckee(pattern, symmetric_mode=True)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    lengths = np.diff(pattern.indptr)
    rows = np.flatnonzero(lengths)
    first = np.minimum.reduceat(position[pattern.indices], pattern.indptr[:-1][rows])
    width = np.maximum(position[rows] - first, 0).sum() / n
    return n * width * width


def _positive_offdiagonal_ratio(A: sparse.csr_matrix) -> float:
    """Sum of the positive off-diagonal entries over that of the negative ones (0 for an M-matrix)."""
    rows = np.repeat(np.arange(A.shape[0], dtype=A.indices.dtype), np.diff(A.indptr))
    off = A.data[A.indices != rows]
    negative = -off[off < 0].sum()
    positive = off[off > 0].sum()
    return positive / negative if negative > 0 else (0.0 if positive == 0 else math.inf)


def _symmetric_pattern(A: sparse.csr_matrix) -> bool:
    T = A.T.tocsr()
    T.sort_indices()
    return np.array_equal(A.indptr, T.indptr) and np.array_equal(A.indices, T.indices)


def _norm(v: np.ndarray) -> float:
    # einsum, unlike np.dot and np.linalg.norm, does not go through (threaded) BLAS.
    return math.sqrt(float(np.einsum("i,i", v, v)))


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.einsum("i,i", u, v))


def _relative(A, x, b, norm_b) -> float:
    return _norm(b - A @ x) / norm_b if norm_b else 0.0


def _check_cancel(cancel) -> None:
    check_cancelled(cancel, "the linear solve")


class _Progress:
    """Throttled progress: at most ``_PROGRESS_CALLS`` calls per solve, fractions in [0, 1]."""

    def __init__(self, progress, tolerance: float, method: str) -> None:
        self.progress = progress
        self.log_tol = math.log(tolerance) if tolerance < 1 else -1.0
        self.method = method
        self.calls = 0
        self.last = -1.0
        if progress is not None:
            self._call(0.0, f"{method}: starting")

    def _call(self, fraction: float, message: str) -> None:
        self.calls += 1
        self.last = fraction
        self.progress(fraction, message)

    def __call__(self, iteration: int, relative: float) -> None:
        if self.progress is None or self.calls >= _PROGRESS_CALLS - 1:
            return
        fraction = min(max(math.log(relative) / self.log_tol, 0.0), 1.0) if relative > 0 else 1.0
        if fraction >= self.last + 1.0 / _PROGRESS_CALLS:
            self._call(fraction, f"{self.method}: iteration {iteration}, relative residual {relative:.2e}")

    def done(self, residual: float) -> None:
        if self.progress is not None:
            self._call(1.0, f"{self.method}: done, relative residual {residual:.2e}")


class _Factor:
    """A sparse LU factorisation and a copy of the matrix it belongs to."""

    def __init__(self, A: sparse.csr_matrix, *, symmetric: bool) -> None:
        self.shape = A.shape
        self.indptr, self.indices, self.data = A.indptr.copy(), A.indices.copy(), A.data.copy()
        # Symmetric mode: diagonal pivots (unless one is under 1% of its column) and a
        # minimum-degree ordering of A + A^T, which keeps the fill of a symmetric matrix low.
        options = {"permc_spec": "MMD_AT_PLUS_A", "diag_pivot_thresh": 0.01, "options": {"SymmetricMode": True}} if symmetric else {}
        try:
            self.lu = sla.splu(A.tocsc(), **options)
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise RunError(
                f"the {A.shape[0]}x{A.shape[1]} system matrix is singular ({exc}); "
                "check that the boundary conditions fix the solution (a pure Neumann problem has no unique answer)"
            ) from exc

    def matches(self, A: sparse.csr_matrix) -> bool:
        return (
            A.shape == self.shape
            and np.array_equal(A.indptr, self.indptr)
            and np.array_equal(A.indices, self.indices)
            and np.array_equal(A.data, self.data)
        )

    def solve(self, b: np.ndarray) -> np.ndarray:
        return self.lu.solve(b)


class _Hierarchy:
    """An AMG hierarchy built by pyamg and the V-cycle that applies it."""

    max_coarse = 1000

    def __init__(self, A: sparse.csr_matrix, kind: str, symmetric: bool) -> None:
        import pyamg  # deferred: the engine imports fast without it

        self.shape = A.shape
        self.indptr, self.indices = A.indptr.copy(), A.indices.copy()
        self.data = A.data.copy()  # the values the coarse levels were computed from
        self.rate: float | None = None  # residual reduction per iteration on its first solve
        if kind == "auto":
            kind = "classical" if _positive_offdiagonal_ratio(A) <= 0.01 else "aggregation"
        self.kind = kind
        if kind == "classical":
            ml = pyamg.ruge_stuben_solver(A, max_coarse=self.max_coarse, keep=False)
        else:
            ml = pyamg.smoothed_aggregation_solver(
                A,
                symmetry="hermitian" if symmetric else "nonsymmetric",
                strength=("symmetric", {"theta": 0.0}),
                smooth=("jacobi", {"omega": 4.0 / 3.0, "weighting": "local"}),
                improve_candidates=None,
                max_coarse=self.max_coarse,
                keep=False,
            )
        self.levels = [(lvl.A, getattr(lvl, "P", None), getattr(lvl, "R", None)) for lvl in ml.levels]
        self._factor_coarsest()
        from pyamg import amg_core

        self._gs = amg_core.gauss_seidel

    def _factor_coarsest(self) -> None:
        coarse = sparse.csc_matrix(self.levels[-1][0])
        try:
            self.coarse = sla.factorized(coarse)
        except RuntimeError:  # singular coarsest matrix (pure Neumann): least squares instead
            pinv = np.linalg.pinv(coarse.toarray())
            self.coarse = lambda r: pinv @ r

    def proportional(self, A: sparse.csr_matrix, tolerance: float = 0.1) -> bool:
        """Whether ``A`` is within ``tolerance`` (relative) of a multiple of the fitted values."""
        old = self.data
        old_norm2 = _dot(old, old)
        if old_norm2 == 0.0:
            return not np.any(A.data)
        c = _dot(A.data, old) / old_norm2
        return _norm(A.data - c * old) <= tolerance * _norm(A.data)

    def refresh(self, A: sparse.csr_matrix) -> None:
        """Keep the prolongators, recompute the coarse operators ``R A P`` from ``A``."""
        levels = []
        for _, P, R in self.levels:
            levels.append((A, P, R))
            if P is not None:
                A = sparse.csr_matrix(R @ A @ P)
                A.sort_indices()
        self.levels = levels
        self.data = levels[0][0].data.copy()
        self._factor_coarsest()

    def learn(self, iterations: int, start: float, end: float) -> None:
        """Record the convergence rate of the first solve with this hierarchy."""
        if self.rate is None and iterations > 0 and 0.0 < end < start:
            self.rate = (end / start) ** (1.0 / iterations)

    def budget(self, start: float, tolerance: float) -> int | None:
        """Iterations allowed before rebuilding: twice those the first solve's rate predicts."""
        if self.rate is None or start <= tolerance:
            return None
        expected = math.ceil(math.log(tolerance / start) / math.log(self.rate))
        return max(2 * expected, expected + 4)

    def matches_pattern(self, A: sparse.csr_matrix) -> bool:
        return A.shape == self.shape and np.array_equal(A.indptr, self.indptr) and np.array_equal(A.indices, self.indices)

    def precondition(self, r: np.ndarray) -> np.ndarray:
        return self._cycle(0, r)

    def _cycle(self, lvl: int, b: np.ndarray) -> np.ndarray:
        A, P, R = self.levels[lvl]
        if lvl == len(self.levels) - 1:
            return self.coarse(b)
        n = A.shape[0]
        x = np.zeros_like(b)
        self._gs(A.indptr, A.indices, A.data, x, b, 0, n, 1)  # forward sweep
        x += P @ self._cycle(lvl + 1, R @ (b - A @ x))
        self._gs(A.indptr, A.indices, A.data, x, b, n - 1, -1, -1)  # backward sweep: symmetric cycle
        return x


def _cg(A, b, x, M, tol, norm_b, max_iterations, history, reporter, cancel, budget, restart):
    """Preconditioned CG from ``x`` (updated in place). Returns (iterations, stalled)."""
    r = b - A @ x
    relative = _norm(r) / norm_b
    if relative <= tol:
        return 0, False
    z = M(r)
    p = z.copy()
    rz = _dot(r, z)
    it = 0
    while it < max_iterations:
        _check_cancel(cancel)
        it += 1
        q = A @ p
        alpha = rz / _dot(p, q)
        x += alpha * p
        r -= alpha * q
        relative = _norm(r) / norm_b
        history.append(relative)
        reporter(it, relative)
        if relative <= tol:
            # The recurrence can drift from the true residual: check it, restart from it if needed.
            r = b - A @ x
            relative = _norm(r) / norm_b
            history[-1] = relative
            if relative <= tol:
                break
            z = M(r)
            p = z.copy()
            rz = _dot(r, z)
            continue
        if budget is not None and it >= budget:
            return it, True
        z = M(r)
        rz_new = _dot(r, z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return it, False


def _gmres(A, b, x, M, tol, norm_b, max_iterations, history, reporter, cancel, budget, restart):
    """Right-preconditioned restarted GMRES from ``x`` (updated in place). Returns (iterations, stalled)."""
    n = len(b)
    m = max(1, min(restart, max_iterations, n))
    V = np.empty((m + 1, n))
    Z = np.empty((m, n))
    H = np.zeros((m + 1, m))
    cs, sn = np.zeros(m), np.zeros(m)
    it = 0
    while True:
        r = b - A @ x
        beta = _norm(r)
        if beta / norm_b <= tol or it >= max_iterations:
            return it, False
        V[0] = r / beta
        g = np.zeros(m + 1)
        g[0] = beta
        j = 0
        for j in range(m):
            _check_cancel(cancel)
            it += 1
            Z[j] = M(V[j])
            w = A @ Z[j]
            # Classical Gram-Schmidt, twice ("twice is enough").
            h = V[: j + 1] @ w
            w -= h @ V[: j + 1]
            h2 = V[: j + 1] @ w
            w -= h2 @ V[: j + 1]
            h += h2
            H[: j + 1, j] = h
            H[j + 1, j] = _norm(w)
            if H[j + 1, j] != 0.0:
                V[j + 1] = w / H[j + 1, j]
            for i in range(j):  # apply the previous rotations to the new column
                H[i, j], H[i + 1, j] = cs[i] * H[i, j] + sn[i] * H[i + 1, j], -sn[i] * H[i, j] + cs[i] * H[i + 1, j]
            denom = math.hypot(H[j, j], H[j + 1, j])
            cs[j], sn[j] = (1.0, 0.0) if denom == 0.0 else (H[j, j] / denom, H[j + 1, j] / denom)
            H[j, j] = cs[j] * H[j, j] + sn[j] * H[j + 1, j]
            H[j + 1, j] = 0.0
            g[j + 1] = -sn[j] * g[j]
            g[j] = cs[j] * g[j]
            relative = abs(g[j + 1]) / norm_b
            history.append(relative)
            reporter(it, relative)
            if relative <= tol or it >= max_iterations or (budget is not None and it >= budget):
                break
        k = j + 1
        y = np.linalg.solve(np.triu(H[:k, :k]), g[:k]) if k else np.zeros(0)
        x += y @ Z[:k]
        if relative <= tol:
            true = _relative(A, x, b, norm_b)
            history[-1] = true
            if true <= tol:
                return it, False
            continue  # restart from the true residual
        if budget is not None and it >= budget:
            return it, True
        if it >= max_iterations:
            return it, False


def eliminate_dirichlet(A, b, fixed, values=0.0) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Restrict ``A x = b`` to the free unknowns, given ``x[fixed] = values``.

    Works on the CSR arrays directly (one mask over the stored entries) instead of the
    fancy indexing ``A[free][:, free]``, which is ~20x slower on large matrices.

    Parameters
    ----------
    A : sparse matrix, shape (n, n)
    b : (n,) array
    fixed : int array or (n,) bool mask
        The unknowns with prescribed values.
    values : float or array
        Their values (one number, or one per fixed unknown).

    Returns
    -------
    A_free : csr_matrix
        ``A[free][:, free]``.
    b_free : (n_free,) array
        ``b[free] - A[free][:, fixed] @ values``.
    free : int array
        Indices of the free unknowns: ``x[free] = solve(A_free, b_free)``.

    Examples
    --------
    >>> from scipy import sparse
    >>> A = sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(4, 4), format="csr")
    >>> A_free, b_free, free = eliminate_dirichlet(A, np.zeros(4), [0, 3], [1.0, 2.0])
    >>> A_free.toarray(), b_free, free
    (array([[ 2., -1.],
           [-1.,  2.]]), array([1., 2.]), array([1, 2]))
    """
    A = _as_csr(A)
    n = A.shape[0]
    b = np.asarray(b, dtype=float)
    is_fixed = np.zeros(n, dtype=bool)
    is_fixed[np.asarray(fixed)] = True
    x_fixed = np.zeros(n)
    x_fixed[is_fixed] = values
    rhs = b - A @ x_fixed if np.any(x_fixed) else b
    free = np.flatnonzero(~is_fixed)
    new_index = np.full(n, -1, dtype=A.indices.dtype)
    new_index[free] = np.arange(free.size, dtype=A.indices.dtype)
    # Keep the entries whose row and column are both free; rows keep their order, so the
    # column indices stay sorted.
    row_free = np.repeat(~is_fixed, np.diff(A.indptr))
    keep = row_free & ~is_fixed[A.indices]
    kept_before = np.zeros(A.nnz + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    counts = (kept_before[A.indptr[1:]] - kept_before[A.indptr[:-1]])[free]
    indptr = np.zeros(free.size + 1, dtype=A.indptr.dtype)
    np.cumsum(counts, out=indptr[1:])
    A_free = sparse.csr_matrix((A.data[keep], new_index[A.indices[keep]], indptr), shape=(free.size, free.size))
    return A_free, rhs[free], free
