"""Solver reuse across a sequence of Darcy systems (issue #3).

Dataset generation for neural operators solves many systems with one mesh and one sparsity
pattern and a different coefficient field each time. This script measures what reusing work
across the sequence buys, on N samples of

    -div(k_i grad u) = 1 in the unit square,  u = 0 on its boundary,

with P1 elements on a structured triangulation of n x n squares (two triangles each; scikit-fem
assembles every A_i), k_i constant per square and sampled from a Gaussian random field
z ~ N(0, (-Lap + 9 I)^-2) (Neumann cosine series evaluated by a DCT, zero mean mode):

* ``--field threshold`` (default): k = 12 where z >= 0, else 3 (the FNO / SKR Darcy data);
* ``--field lognormal``: k = exp(z), z scaled to unit pointwise standard deviation on average.

Strategies, all to relative residual ||b - A x|| / ||b|| <= 1e-8 (verified on the result):

a. CG + a fresh pyamg smoothed-aggregation hierarchy per system (the baseline);
b. CG + the first system's hierarchy for all systems, warm-started from the previous solution;
c. as b, but the hierarchy is rebuilt (for the next systems) once a solve needs more than
   twice the iterations of the first solve after the last rebuild;
d. GCRO-DR(m, k) with recycling (engine.solvers.fem.recycling), samples ordered by
   order_by_similarity on the flattened k fields, the first (sorted) system's hierarchy as
   right preconditioner, warm-started from the previous solution;
e. GMRES(m) without recycling (the same code with k = 0), same order, preconditioner and
   warm start: the fair baseline for d;
f. sparse direct: scipy splu (SuperLU, COLAMD) per system, for scale;
g. (extra) CG + the first system's SA prolongators with the Galerkin coarse operators and the
   smoothers recomputed for each A_i (a cheap "partial rebuild"), warm-started.

Times are wall-clock seconds of setup (hierarchy, factorisation, recycle refit, ordering)
plus solve; assembly is timed separately and shared. Usage::

    python benchmarks/solver_reuse.py [--quick] [--samples N] [--n CELLS] [--field F]

Prints a per-system table, the totals and, as the last line, one JSON object.

BLAS runs single-threaded unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say otherwise: the
sparse products and the AMG cycles are single-threaded anyway, and on a small or busy machine a
threaded BLAS pays a thread hand-off on every dot product (CG's and GMRES's), which can cost
more than the arithmetic.
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
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyamg  # noqa: E402
import scipy  # noqa: E402
import scipy.fft  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
from pyamg.multilevel import MultilevelSolver  # noqa: E402
from pyamg.relaxation.smoothing import change_smoothers  # noqa: E402
from skfem import Basis, BilinearForm, ElementTriP1, LinearForm, MeshTri, asm  # noqa: E402
from skfem.helpers import dot, grad  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import cpu_model  # noqa: E402  (benchmarks/machine.py, beside this script)

from engine.solvers.fem.recycling import gcrodr, order_by_similarity  # noqa: E402

TOL = 1e-8
SMOOTHER = ("block_gauss_seidel", {"sweep": "symmetric"})  # pyamg's SA default


# --------------------------------------------------------------------------------------------
# Problem


def sample_fields(count: int, n: int, *, seed: int, field: str) -> np.ndarray:
    """``count`` coefficient fields on the n x n cell centres, shape (count, n, n).

    z = sum_{i,j} xi_ij (pi^2 (i^2 + j^2) + 9)^-1 phi_ij with orthonormal Neumann cosines phi_ij
    and xi_ij ~ N(0, 1) (mean mode dropped): a sample of N(0, (-Lap + 9 I)^-2). One inverse
    DCT-II (a DCT-III) per sample evaluates the series at the cell centres.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    lam = np.pi**2 * (i[:, None] ** 2 + i[None, :] ** 2)
    coef = 1.0 / (lam + 9.0)
    coef[0, 0] = 0.0
    xi = rng.standard_normal((count, n, n))
    # With norm="ortho", dctn(type=3) sums a_i a_j c_ij cos(pi i x_p) cos(pi j y_q) / n.
    z = n * scipy.fft.dctn(xi * coef, type=3, axes=(1, 2), norm="ortho")
    if field == "threshold":
        return np.where(z >= 0.0, 12.0, 3.0)
    if field == "lognormal":
        return np.exp(z / np.sqrt(np.sum(coef**2)))  # unit pointwise variance on average
    raise ValueError(f"unknown field {field!r}")


class Darcy:
    """The P1 discretisation on the structured mesh; ``system(k)`` assembles one sample."""

    def __init__(self, n: int):
        grid = np.linspace(0.0, 1.0, n + 1)
        self.mesh = MeshTri.init_tensor(grid, grid)
        self.basis = Basis(self.mesh, ElementTriP1(), intorder=1)
        centres = self.mesh.p[:, self.mesh.t].mean(axis=1)
        ix = np.minimum((centres[0] * n).astype(int), n - 1)
        iy = np.minimum((centres[1] * n).astype(int), n - 1)
        self.cell = ix * n + iy  # field[ix, iy]: x along the first axis
        self.interior = self.basis.complement_dofs(self.basis.get_dofs())
        self.b = asm(_load, self.basis)[self.interior]
        self.quadrature_points = self.basis.X.shape[1]

    def system(self, field: np.ndarray) -> sp.csr_matrix:
        k_elem = field.reshape(-1)[self.cell]
        A = asm(_stiffness, self.basis, k=np.repeat(k_elem[:, None], self.quadrature_points, axis=1))
        return A[self.interior][:, self.interior].tocsr()


@BilinearForm
def _stiffness(u, v, w):
    return w.k * dot(grad(u), grad(v))


@LinearForm
def _load(v, w):
    return v


# --------------------------------------------------------------------------------------------
# Strategies: each returns per-system (iterations, seconds, true relative residual) lists


def relres(A, x, b) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


MAX_ITERATIONS = 3000  # a run that needs more counts as failed (relres column shows how far)


def cg(A, b, M, x0=None) -> tuple[np.ndarray, int]:
    count = [0]

    def tick(_):
        count[0] += 1

    x, _ = spla.cg(A, b, x0=x0, rtol=TOL, atol=0.0, M=M, maxiter=MAX_ITERATIONS, callback=tick)
    return x, count[0]


def sa(A) -> pyamg.multilevel.MultilevelSolver:
    return pyamg.smoothed_aggregation_solver(A, presmoother=SMOOTHER, postsmoother=SMOOTHER)


def galerkin_refresh(template: MultilevelSolver, A) -> MultilevelSolver:
    """The template's prolongators with coarse operators R A P and smoothers for this A."""
    levels = []
    for i, old in enumerate(template.levels):
        level = MultilevelSolver.Level()
        level.A = A if i == 0 else (levels[-1].R @ levels[-1].A @ levels[-1].P).tocsr()
        if i + 1 < len(template.levels):
            level.P, level.R = old.P, old.R
        levels.append(level)
    ml = MultilevelSolver(levels, coarse_solver="pinv")
    change_smoothers(ml, SMOOTHER, SMOOTHER)
    return ml


def run_fresh_amg(systems, b):
    out = []
    for A in systems:
        t = time.perf_counter()
        x, its = cg(A, b, sa(A).aspreconditioner())
        out.append((its, time.perf_counter() - t, relres(A, x, b)))
    return out


def run_reused_amg(systems, b, *, rebuild_factor: float | None):
    out, rebuilds = [], 0
    x = None
    M = reference = None
    for A in systems:
        t = time.perf_counter()
        if M is None:
            M = sa(A).aspreconditioner()
            rebuilds += 1
        x, its = cg(A, b, M, x0=x)
        if reference is None:
            reference = its
        elif rebuild_factor is not None and its > rebuild_factor * reference:
            M, reference = None, None  # rebuild for the next system
        out.append((its, time.perf_counter() - t, relres(A, x, b)))
    return out, rebuilds


def run_galerkin_refresh(systems, b):
    out, x, template = [], None, None
    for A in systems:
        t = time.perf_counter()
        ml = sa(A) if template is None else galerkin_refresh(template, A)
        template = template or ml
        x, its = cg(A, b, ml.aspreconditioner(), x0=x)
        out.append((its, time.perf_counter() - t, relres(A, x, b)))
    return out


def run_krylov(systems, b, order, *, m: int, k: int):
    """GCRO-DR(m, k) along ``order`` (k = 0: GMRES(m)); results returned in sample order."""
    out = [None] * len(systems)
    recycle = x = M = None
    for i in order:
        A = systems[i]
        t = time.perf_counter()
        if M is None:
            M = sa(A).aspreconditioner()
        x, info = gcrodr(A, b, x0=x, M=M, recycle=recycle, m=m, k=k, tol=TOL, max_iterations=MAX_ITERATIONS)
        recycle = info.recycle
        out[i] = (info.iterations, time.perf_counter() - t, info.residual)
    return out


def run_direct(systems, b):
    out = []
    for A in systems:
        t = time.perf_counter()
        x = spla.splu(A.tocsc()).solve(b)
        out.append((0, time.perf_counter() - t, relres(A, x, b)))
    return out


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 samples instead of 40")
    parser.add_argument("--samples", type=int, default=None, help="number of systems (default 40, --quick 10)")
    parser.add_argument("--n", type=int, default=256, help="cells per side: (n-1)^2 unknowns (default 256: 65k)")
    parser.add_argument("--field", choices=("threshold", "lognormal"), default="threshold")
    parser.add_argument("--m", type=int, default=40, help="GCRO-DR / GMRES search-space size")
    parser.add_argument("--k", type=int, default=10, help="GCRO-DR recycled directions")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    count = args.samples or (10 if args.quick else 40)

    t = time.perf_counter()
    fields = sample_fields(count, args.n, seed=args.seed, field=args.field)
    t_fields = time.perf_counter() - t
    t = time.perf_counter()
    darcy = Darcy(args.n)
    systems = [darcy.system(f) for f in fields]
    t_assembly = time.perf_counter() - t
    b = darcy.b
    dofs = systems[0].shape[0]
    print(
        f"solver_reuse: {count} Darcy systems, {args.field} field, {args.n}x{args.n} cells, {dofs} unknowns, "
        f"nnz {systems[0].nnz}; fields {t_fields:.2f} s, assembly {t_assembly:.2f} s "
        f"({t_assembly / count * 1e3:.0f} ms/system)"
    )

    t = time.perf_counter()
    order = order_by_similarity(fields.reshape(count, -1))
    t_order = time.perf_counter() - t
    jumps_sorted = np.linalg.norm(np.diff(fields.reshape(count, -1)[order], axis=0), axis=1).mean()
    jumps_natural = np.linalg.norm(np.diff(fields.reshape(count, -1), axis=0), axis=1).mean()

    results: dict[str, list] = {}
    extra: dict[str, object] = {}
    results["a_cg_fresh_amg"] = run_fresh_amg(systems, b)
    results["b_cg_reused_amg"], _ = run_reused_amg(systems, b, rebuild_factor=None)
    results["c_cg_rebuild_2x"], extra["c_rebuilds"] = run_reused_amg(systems, b, rebuild_factor=2.0)
    results["d_gcrodr_recycle"] = run_krylov(systems, b, order, m=args.m, k=args.k)
    results["e_gmres_no_recycle"] = run_krylov(systems, b, order, m=args.m, k=0)
    results["f_splu"] = run_direct(systems, b)
    results["g_cg_galerkin_refresh"] = run_galerkin_refresh(systems, b)
    # Ordering is part of strategy d's cost (e shares the order, as its fair baseline).
    labels = {
        "a_cg_fresh_amg": "a CG+fresh AMG",
        "b_cg_reused_amg": "b CG+AMG(1st)+warm",
        "c_cg_rebuild_2x": "c CG+AMG rebuild>2x",
        "d_gcrodr_recycle": f"d GCRO-DR({args.m},{args.k})",
        "e_gmres_no_recycle": f"e GMRES({args.m})",
        "f_splu": "f splu",
        "g_cg_galerkin_refresh": "g CG+AMG(1st P, new RAP)",
    }

    keys = list(results)
    print()
    print("per system: iterations / milliseconds (d and e solved in similarity order; listed by sample)")
    print("sample " + " ".join(f"{labels[key].split()[0]:>10}" for key in keys))
    for i in range(count):
        cells = []
        for key in keys:
            its, sec, _ = results[key][i]
            cells.append(f"{sec * 1e3:>10.0f}" if key == "f_splu" else f"{its:>4d}/{sec * 1e3:<5.0f}")
        print(f"{i:>6} " + " ".join(f"{c:>10}" for c in cells))

    base_time = sum(r[1] for r in results["a_cg_fresh_amg"])
    print()
    print(f"{'strategy':<26} {'total s':>8} {'ms/sys':>7} {'speed-up':>8} {'its':>6} {'its/sys':>7} {'max its':>7} {'max relres':>10} {'fails':>5}")
    summary = {}
    for key in keys:
        rows = results[key]
        total = sum(r[1] for r in rows) + (t_order if key == "d_gcrodr_recycle" else 0.0)
        its = [r[0] for r in rows]
        worst = max(r[2] for r in rows)
        fails = sum(r[2] > TOL * (1 + 1e-6) for r in rows)  # CG's own test is on its recursive residual
        summary[key] = {
            "total_s": round(total, 3),
            "ms_per_system": round(total / count * 1e3, 1),
            "speedup_vs_a": round(base_time / total, 2),
            "iterations": int(sum(its)),
            "iterations_per_system": round(float(np.mean(its)), 1),
            "max_iterations": int(max(its)),
            "max_relres": float(f"{worst:.3e}"),
            "failed": int(fails),
            "per_system_iterations": its,
            "per_system_ms": [round(r[1] * 1e3, 1) for r in rows],
        }
        print(
            f"{labels[key]:<26} {total:>8.2f} {total / count * 1e3:>7.0f} {base_time / total:>7.2f}x "
            f"{sum(its):>6d} {np.mean(its):>7.1f} {max(its):>7d} {worst:>10.1e} {fails:>5d}"
        )
    print(
        f"ordering {t_order * 1e3:.0f} ms (in d); mean |k_i+1 - k_i| natural {jumps_natural:.0f}, "
        f"sorted {jumps_sorted:.0f}; c rebuilt the hierarchy {extra['c_rebuilds']} time(s)"
    )
    record = {
        "benchmark": "solver_reuse",
        "samples": count,
        "cells_per_side": args.n,
        "unknowns": int(dofs),
        "field": args.field,
        "tol": TOL,
        "m": args.m,
        "k": args.k,
        "seed": args.seed,
        "assembly_s": round(t_assembly, 3),
        "ordering_s": round(t_order, 3),
        "c_rebuilds": extra["c_rebuilds"],
        "mean_field_jump_natural": round(float(jumps_natural), 1),
        "mean_field_jump_sorted": round(float(jumps_sorted), 1),
        "strategies": summary,
        "machine": f"{cpu_model()}, {os.cpu_count()} cpu, python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, pyamg {pyamg.__version__}",
    }
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
