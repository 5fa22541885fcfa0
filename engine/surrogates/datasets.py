"""Training data for neural operators: Darcy flow samples on a grid, generated in parallel into HDF5.

A **recipe** (TOML, :func:`load_recipe`) says what to sample and how to solve it; the data set is
``n_samples`` pairs (k, u) of

    -div(k grad u) = f  in the unit square,   u = 0 on its boundary,

with k a thresholded or log-normal Gaussian random field (:mod:`engine.surrogates.sampling`) and
f a constant. Input and output live on the same grid of ``resolution`` x ``resolution`` points,
boundary included: the solve is P1 on the structured triangulation whose vertices ARE the grid
points (:func:`engine.solvers.fem.p1.structured_unit_square`, each square split along its
bottom-left to top-right diagonal). k is given at the vertices; the stiffness uses its P1
interpolant, integrated exactly: ``k_T`` = mean of the triangle's three vertex values. The load
is the consistent P1 load of f. The solve uses exactly the stored float32 k.

Arrays are indexed ``[sample, channel, j, i]`` = value at ``(x[i], y[j])``: y along the rows
(axis -2), x along the columns (axis -1), row 0 at y = 0. ``u.reshape(-1)`` is the P1 vector in
the point order of ``structured_unit_square``.

File layout (``format = "workbench-dataset"``, ``format_version = 1``)::

    /inputs          (N, 1, res, res) float32   k
    /outputs         (N, 1, res, res) float32   u
    /done            (N,) bool                  sample i is written and flushed
    /grid/x, /grid/y (res,) float64             the grid coordinates (both linspace(0, 1, res))
    /stats/residual  (N,) float64               relative residual ||b - A u|| / ||b|| of each solve
    /stats/iterations (N,) int32                CG iterations (0 for a direct solve)
    /stats/seconds   (N,) float64               worker time per sample (sampling + assembly + solve)
    attrs: format, format_version, recipe (JSON), input_names ["k"], output_names ["u"],
           axes "sample, channel, y, x", complete (bool), created;
           once complete: checksum (sha256 of the inputs' then the outputs' bytes, float32 C
           order), provenance (JSON: software versions, discretisation, solver options,
           residuals, iterations, timings), completed.

Crash safety. HDF5 writes are not atomic and a killed writer can leave a file whose *metadata*
is inconsistent (unreadable). So the file's structure is fixed when it is created (atomically:
written under a temporary name, then renamed): every data set is contiguous with its storage
allocated up front, so writing a finished chunk only overwrites raw bytes at fixed offsets and
never touches the metadata. A chunk is written in two steps: its data (inputs, outputs, stats),
flushed and fsync'ed, then its ``/done`` flags, flushed again. A kill at any moment leaves a
readable file in which every sample flagged done is complete; samples not flagged are treated
as missing and solved again on the next run. Completion (checksum, provenance, ``complete =
true``) changes metadata, so it is written into a copy of the file that then replaces it
atomically (costs one file copy; the copy is fsync'ed before the rename, so the final name never
points at unflushed data). Only the client process ever writes the file, and only one run at a
time: a run holds an exclusive lock (``.NAME.lock`` beside the file, removed at the end) from
its first look at the file to the rename. A kill while the file is created or completed leaves
its temporary copy (``.STEM.XXXXXXXX.part.h5``, as large as the data set); the next run of the
same data set, holding the lock and so knowing that no live writer owns it, removes it. That
loses nothing: the file itself holds every sample flagged done until the very rename.

Reproducibility. Sample i's field comes from its own seed (``engine.random_fields.sample_rng``), whatever the
chunking or the worker, and every solve is a deterministic function of its own matrix (see
:class:`DarcyGridSolver`), so the same recipe gives byte-identical files (and checksums) however
the work is split, interrupted and resumed, on the same software stack.

Parallelism: chunks of samples are solved by Dask tasks, on a ``distributed.LocalCluster`` of
worker processes by default or on an existing cluster given by its scheduler address (its
workers need this same ``engine`` installed); ``scheduler="synchronous"`` solves in the calling
thread (tests, debugging, tiny sets). The workers are started with the ``spawn`` method, so a
script that generates with the local cluster needs the usual ``if __name__ == "__main__":``
guard. At most two chunks per worker thread are in flight; the client writes each one as it
arrives. Cost on this project's 2-core machine: one sample takes ~7 ms of CPU at 64 x 64 and
~12 ms at 85 x 85 (sampling, assembly, solve); 1000 samples with 2 workers took 6.5 s
(64 x 64) and 10 s (85 x 85) of wall time on a quiet machine, cluster start (~0.6 s) and the
workers' imports (~1 s) included.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import difflib
import hashlib
import json
import math
import numbers
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator

from engine.atomic import atomic_path
from engine.cluster import check_scheduler, check_workers
from engine.errors import Cancelled, InputError, RunError, WorkbenchError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "RECIPE_VERSION",
    "CoefficientSpec",
    "SolverSpec",
    "Recipe",
    "load_recipe",
    "parse_recipe",
    "DarcyGridSolver",
    "solve_darcy_grid",
    "generate_dataset",
    "DatasetInfo",
    "Grid",
    "GridDataset",
    "open_dataset",
]

FORMAT = "workbench-dataset"
FORMAT_VERSION = 1
RECIPE_VERSION = 1

#: Grid points per side accepted by a recipe.
MIN_RESOLUTION, MAX_RESOLUTION = 3, 4097
#: Largest size of k, 1/k and f a recipe may ask for. The data are float32 (at most 3.4e38), and
#: the solve squares residuals in float64: 1e30 keeps both finite with room to spare, where
#: f = 1e308 used to end in a non-converged solve and k = 1e308 in an overflowing cast.
FLOAT32_SAFE = 1e30
_FLOAT32_MAX = float(np.finfo(np.float32).max)

ProgressCallback = Callable[[float | None, str], None]


# ============================================================================================
# The recipe


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("not an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise ValueError("not an integer")
    return value


Number = Annotated[float, BeforeValidator(_number)]
Integer = Annotated[int, BeforeValidator(_integer)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class CoefficientSpec(_Strict):
    """The random permeability k: a thresholded or log-normal Gaussian random field.

    ``z ~ N(0, tau^(2 alpha - 2) (-Lap + tau^2 I)^-alpha)`` (Neumann, zero mean; see
    :mod:`engine.surrogates.sampling`), then ``k = high`` where ``z >= 0`` else ``low``
    (``threshold``) or ``k = exp(scale * z)`` (``lognormal``).
    """

    kind: Literal["threshold", "lognormal"] = "threshold"
    alpha: Number = 2.0
    tau: Number = 3.0
    high: Number = 12.0
    low: Number = 3.0
    scale: Number = 1.0

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if v <= 1.0:
            raise ValueError("alpha must be > 1 (a 2D field with finite variance)")
        return v

    @field_validator("tau")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0.0:
            raise ValueError("must be > 0")
        return v

    @field_validator("high", "low")
    @classmethod
    def _permeability(cls, v: float) -> float:
        if not 1.0 / FLOAT32_SAFE <= v <= FLOAT32_SAFE:
            raise ValueError(f"must be from {1.0 / FLOAT32_SAFE:g} to {FLOAT32_SAFE:g} (k is stored as float32)")
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: float) -> float:
        if v == 0.0 or abs(v) > 50.0:
            raise ValueError("scale must be non-zero with |scale| <= 50")
        return v


class SolverSpec(_Strict):
    """How each sample is solved (see :class:`DarcyGridSolver`)."""

    method: Literal["cg_amg", "direct"] = "cg_amg"
    tolerance: Number = 1e-8
    max_iterations: Integer = 1000

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("tolerance must be between 0 and 1")
        return v

    @field_validator("max_iterations")
    @classmethod
    def _iterations(cls, v: int) -> int:
        if v < 1:
            raise ValueError("max_iterations must be >= 1")
        return v


class Recipe(_Strict):
    """A data set, fully specified: what to sample, how to solve it, how many, which seed.

    Examples
    --------
    >>> r = parse_recipe({"version": 1, "name": "tiny", "resolution": 17, "n_samples": 4, "seed": 0})
    >>> r.physics, r.coefficient.kind, r.coefficient.high, r.f, r.solver.tolerance
    ('darcy', 'threshold', 12.0, 1.0, 1e-08)
    """

    version: Literal[1]
    name: str
    description: str = ""
    physics: Literal["darcy"] = "darcy"
    resolution: Integer
    n_samples: Integer
    seed: Integer
    f: Number = 1.0
    coefficient: CoefficientSpec = CoefficientSpec()
    solver: SolverSpec = SolverSpec()

    @field_validator("f")
    @classmethod
    def _source(cls, v: float) -> float:
        if abs(v) > FLOAT32_SAFE:
            raise ValueError(f"|f| must be at most {FLOAT32_SAFE:g} (u is stored as float32)")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: int) -> int:
        if not MIN_RESOLUTION <= v <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be from {MIN_RESOLUTION} to {MAX_RESOLUTION}")
        return v

    @field_validator("n_samples")
    @classmethod
    def _n_samples(cls, v: int) -> int:
        if v < 1:
            raise ValueError("n_samples must be >= 1")
        return v

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if v < 0:
            raise ValueError("seed must be >= 0")
        return v

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, defaults included): what the data file stores and compares."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


_EXPECTED = {
    "version": "version = 1",
    "name": "a non-empty name, e.g. name = \"darcy_threshold_64\"",
    "description": "a string",
    "physics": "'darcy'",
    "resolution": f"an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION}: grid points per side, boundary included (e.g. 64)",
    "n_samples": "an integer >= 1",
    "seed": "an integer >= 0",
    "f": f"a number with |f| <= {FLOAT32_SAFE:g} (the constant source term)",
    "coefficient": "a table {kind, alpha, tau, high, low, scale}",
    "coefficient.kind": "'threshold' or 'lognormal'",
    "coefficient.alpha": "a number > 1 (2 in the FNO data)",
    "coefficient.tau": "a number > 0 (3 in the FNO data)",
    "coefficient.high": f"a number from {1 / FLOAT32_SAFE:g} to {FLOAT32_SAFE:g} (12 in the FNO data)",
    "coefficient.low": f"a number from {1 / FLOAT32_SAFE:g} to {FLOAT32_SAFE:g} (3 in the FNO data)",
    "coefficient.scale": "a non-zero number with |scale| <= 50",
    "solver": "a table {method, tolerance, max_iterations}",
    "solver.method": "'cg_amg' or 'direct'",
    "solver.tolerance": "a number between 0 and 1 (e.g. 1e-8)",
    "solver.max_iterations": "an integer >= 1",
}

_TABLES: dict[str, type[BaseModel]] = {"": Recipe, "coefficient": CoefficientSpec, "solver": SolverSpec}


def parse_recipe(data: Mapping[str, Any] | Recipe, *, source: str | Path | None = None) -> Recipe:
    """Validate a recipe given as a mapping (a parsed TOML document).

    Raises
    ------
    InputError
        A key is missing, unknown, of the wrong type or out of range; the message names the
        field, the value and what was expected.

    Examples
    --------
    >>> parse_recipe({"version": 1, "name": "x", "resolution": 2, "n_samples": 4, "seed": 0})
    Traceback (most recent call last):
    ...
    engine.errors.InputError: resolution: invalid value: got 2; expected an integer from 3 to 4097: grid points per side, boundary included (e.g. 64)
    """
    if isinstance(data, Recipe):
        return data
    if not isinstance(data, Mapping):
        raise InputError("a recipe must be a table (mapping)", source=source, value=type(data).__name__, expected="a TOML document or a dict")
    if "version" not in data:
        raise InputError("missing 'version'", source=source, field="version", expected=_EXPECTED["version"])
    version = data["version"]
    if isinstance(version, bool) or version != RECIPE_VERSION:
        raise InputError("unsupported recipe version", source=source, field="version", value=version, expected=_EXPECTED["version"])
    try:
        return Recipe.model_validate(dict(data))
    except ValidationError as exc:
        raise _recipe_error(exc, source) from None


def _recipe_error(exc: ValidationError, source: str | Path | None) -> InputError:
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    problems = [_translate(err, source) for err in errors]
    first, rest = problems[0], problems[1:]
    if rest:
        more = f"{len(rest)} more problem(s): " + "; ".join(f"{p.field}: {p.problem}" for p in rest[:5])
        first = first.replace(hint=f"{first.hint} {more}" if first.hint else more)
    return first


def _translate(err: Mapping[str, Any], source: str | Path | None) -> InputError:
    loc = [str(part) for part in err["loc"]]
    name = ".".join(loc)
    kind = err["type"]
    if kind == "missing":
        return InputError("missing required key", source=source, field=name, expected=_EXPECTED.get(name))
    if kind == "extra_forbidden":
        table = _TABLES.get(".".join(loc[:-1]))
        allowed = list(table.model_fields) if table else []
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        return InputError(
            "unknown key",
            source=source,
            field=name,
            expected=f"one of {', '.join(allowed)}" if allowed else None,
            hint=f"Did you mean {close[0]!r}?" if close else None,
        )
    value = err.get("input")
    if kind == "literal_error":
        return InputError("unsupported value", source=source, field=name, value=value, expected=_EXPECTED.get(name))
    if kind in ("model_type", "dict_type"):
        return InputError("not a table", source=source, field=name, value=value, expected=_EXPECTED.get(name))
    if kind == "string_type":
        return InputError("not a string", source=source, field=name, value=value, expected=_EXPECTED.get(name))
    message = str(err.get("msg", "invalid value"))
    expected = _EXPECTED.get(name) or message.removeprefix("Value error, ")
    return InputError("invalid value", source=source, field=name, value=value, expected=expected)


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file (TOML).

    Examples
    --------
    >>> from engine.resources import resource_path
    >>> r = load_recipe(resource_path("datasets/darcy_dataset.toml"))
    >>> r.resolution, r.n_samples, r.coefficient.kind
    (64, 1000, 'threshold')
    """
    from engine.inputs import read_toml

    return parse_recipe(read_toml(path, what="a recipe file"), source=Path(path))


def _as_recipe(recipe: Recipe | Mapping[str, Any] | str | Path) -> Recipe:
    if isinstance(recipe, (str, Path)):
        return load_recipe(recipe)
    return parse_recipe(recipe)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _recipe_differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    a, b = _flatten(stored), _flatten(wanted)
    return [f"{key}: the file has {a.get(key, '(nothing)')!r}, the recipe {b.get(key, '(nothing)')!r}" for key in sorted(a.keys() | b.keys()) if a.get(key) != b.get(key)]


# ============================================================================================
# One sample: the P1 solve on the grid


class _Grid:
    """The structured P1 discretisation of one resolution (immutable, shared between solves)."""

    def __init__(self, resolution: int) -> None:
        from engine.solvers.fem.p1 import load_p1, structured_unit_square

        self.resolution = int(resolution)
        self.points, self.cells, self.boundary = structured_unit_square(self.resolution - 1)
        self.unit_load = load_p1(self.points, self.cells, np.ones(len(self.points)))
        for array in (self.points, self.cells, self.boundary, self.unit_load):
            array.setflags(write=False)

    def cell_values(self, k: np.ndarray) -> np.ndarray:
        """k per triangle: the mean of its vertex values (the exact integral of the P1 interpolant)."""
        kc = k.reshape(-1)[self.cells]
        return (kc[:, 0] + kc[:, 1] + kc[:, 2]) / 3.0

    def load(self, f) -> np.ndarray:
        from engine.solvers.fem.p1 import load_p1

        if np.ndim(f) == 0:
            return float(f) * self.unit_load
        return load_p1(self.points, self.cells, np.asarray(f, dtype=float).reshape(-1))

    def system(self, k: np.ndarray, f=1.0):
        """The Dirichlet-reduced system ``A u_free = b`` and the free indices."""
        from engine.solvers.fem.linear import eliminate_dirichlet
        from engine.solvers.fem.p1 import stiffness_p1

        K = stiffness_p1(self.points, self.cells, self.cell_values(k))
        return eliminate_dirichlet(K, self.load(f), self.boundary)


_GRIDS: dict[int, _Grid] = {}
_GRIDS_LOCK = threading.Lock()


def _grid(resolution: int) -> _Grid:
    with _GRIDS_LOCK:
        grid = _GRIDS.get(resolution)
        if grid is None:
            if len(_GRIDS) >= 8:
                _GRIDS.pop(next(iter(_GRIDS)))
            grid = _GRIDS[resolution] = _Grid(resolution)
        return grid


def _check_grid_field(name: str, value, resolution: int | None = None, *, positive: bool = False) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < MIN_RESOLUTION or (resolution is not None and a.shape[0] != resolution):
        want = f"({resolution}, {resolution})" if resolution else f"(res, res) with res >= {MIN_RESOLUTION}"
        raise InputError("wrong shape", field=name, value=a.shape, expected=f"an array of shape {want}, indexed [y, x]")
    if not np.isfinite(a).all():
        raise InputError("holds NaN or infinite values", field=name, expected="finite values")
    if positive and not (a > 0).all():
        raise InputError("must be positive everywhere", field=name, value=float(a.min()), expected="k > 0 at every grid point")
    return a


class DarcyGridSolver:
    """Solves ``-div(k grad u) = f, u = 0 on the boundary`` for one grid sample after another.

    The workhorse of data generation (one per worker) and of timing the classical solve on the
    same inputs as a surrogate. ``method="cg_amg"`` (default) is CG preconditioned by classical
    algebraic multigrid whose prolongators are built once, on the k = 1 matrix of the grid; each
    sample recomputes only the Galerkin coarse operators ``R A P`` (``LinearSolver`` with
    ``reuse="auto"``). Should a sample need more than about twice the iterations of the
    reference solve, the ``LinearSolver`` rebuilds the hierarchy for that sample, and this
    object then goes back to the k = 1 hierarchy for the next one. So every solve depends on its
    own matrix only, never on the samples solved before it: results are reproducible bit for bit
    whatever the order or the chunking. ``method="direct"`` factorises every sample (SuperLU).

    Measured on this project's 2-core machine (threshold 12/3 fields, CPU ms per sample,
    stiffness assembly and Dirichlet elimination included, best of 3 x 59 samples):
    64 x 64 grid (3,844 unknowns) reference-AMG 6.6 ms (8 CG iterations), direct 6.5 ms;
    85 x 85 (6,889 unknowns) 11.6 and 14.5 ms; 128 x 128 (15,876 unknowns) 20.7 and 43.7 ms.
    A fresh hierarchy per sample costs ~4 ms more than the refresh at 64 x 64 (10.8 against
    6.4 ms for the solve alone). Log-normal fields (scale 1 to 6) take 7-8 iterations with the
    same hierarchy. The reference hierarchy (k = 1) works as well as one built on the first
    sample (8 against 9-10 iterations), and unlike it is the same on every worker.

    Parameters
    ----------
    resolution : int
        Grid points per side, boundary included.
    method : {"cg_amg", "direct"}
    tolerance : float
        Relative residual ``||b - A u|| / ||b||`` of the interior equations.
    max_iterations : int
        CG iterations before the sample is solved directly instead.

    Examples
    --------
    >>> solver = DarcyGridSolver(17)
    >>> u, info = solver.solve(np.full((17, 17), 1.0))
    >>> u.shape, bool(info.residual <= 1e-8), round(float(u[8, 8]), 4)
    ((17, 17), True, 0.0734)
    """

    def __init__(self, resolution: int, *, method: str = "cg_amg", tolerance: float = 1e-8, max_iterations: int = 1000) -> None:
        from engine.solvers.fem.linear import LinearSolver

        if method not in ("cg_amg", "direct"):
            raise InputError("unknown solver method", field="method", value=method, expected="'cg_amg' or 'direct'")
        self.grid = _grid(int(resolution))
        self.resolution = self.grid.resolution
        self.method = method
        self.tolerance = float(tolerance)
        self.max_iterations = int(max_iterations)
        self.linear = LinearSolver(method=method, tolerance=self.tolerance, max_iterations=self.max_iterations, symmetric=True)
        self.n_solves = 0
        self.n_fallbacks = 0
        self.n_rebuilds = 0
        self._primed = False

    def _prime(self) -> None:
        """(Re)build the hierarchy on the k = 1 matrix: the one every sample starts from."""
        if self.method != "cg_amg":
            return
        self.linear.reset()
        A, b, _ = self.grid.system(np.ones((self.resolution, self.resolution)), 1.0)
        self.linear.solve(A, b)
        self._primed = True

    def options(self) -> dict[str, Any]:
        """The solver settings, for provenance."""
        return _solver_options(self.method, self.tolerance, self.max_iterations)

    def solve(self, k, f=1.0):
        """Solve one sample: ``k`` and ``f`` (a number or an array) on the grid -> ``(u, info)``.

        Returns
        -------
        u : (res, res) float64 array
            Zero on the boundary.
        info : LinearSolveInfo
            Its ``residual`` is the true relative residual of the interior equations.
        """
        from engine.solvers.fem.linear import LinearSolver

        k = _check_grid_field("k", k, self.resolution, positive=True)
        if np.ndim(f) != 0:
            f = _check_grid_field("f", f, self.resolution)
        elif not math.isfinite(float(f)):
            raise InputError("not a finite number", field="f", value=f, expected="a finite number or a (res, res) array")
        A, b, free = self.grid.system(k, f)
        if self.method == "cg_amg" and not self._primed:
            self._prime()
        x, info = self.linear.solve(A, b, reuse="auto")
        self.n_solves += 1
        if self.method == "cg_amg" and not info.reused:
            # The LinearSolver rebuilt the hierarchy for this sample: back to the reference one.
            self.n_rebuilds += 1
            self._prime()
        if not info.converged:
            self.n_fallbacks += 1
            x, info = LinearSolver(method="direct", tolerance=self.tolerance).solve(A, b)
            if not info.converged:
                raise RunError(f"the Darcy solve did not converge (relative residual {info.residual:.2e}, asked for {self.tolerance:.0e})")
        u = np.zeros(self.resolution * self.resolution)
        u[free] = x
        return u.reshape(self.resolution, self.resolution), info


def _solver_options(method: str, tolerance: float, max_iterations: int) -> dict[str, Any]:
    out: dict[str, Any] = {"method": method, "tolerance": tolerance, "max_iterations": max_iterations}
    if method == "cg_amg":
        out["preconditioner"] = (
            "classical (Ruge-Stuben) AMG built once on the k = 1 matrix; Galerkin coarse operators R A P "
            "recomputed per sample; symmetric Gauss-Seidel V-cycle (engine.solvers.fem.linear.LinearSolver); "
            "a sample that does not converge in max_iterations is solved directly (SuperLU)"
        )
    else:
        out["preconditioner"] = "none: sparse LU (SuperLU) per sample"
    return out


_LOCAL = threading.local()


def _cached_solver(resolution: int, method: str = "cg_amg", tolerance: float = 1e-8, max_iterations: int = 1000) -> DarcyGridSolver:
    """One DarcyGridSolver per thread (a worker process's thread) and setting."""
    cache = getattr(_LOCAL, "solvers", None)
    if cache is None:
        cache = _LOCAL.solvers = {}
    key = (int(resolution), method, float(tolerance), int(max_iterations))
    solver = cache.get(key)
    if solver is None:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        solver = cache[key] = DarcyGridSolver(resolution, method=method, tolerance=tolerance, max_iterations=max_iterations)
    return solver


def solve_darcy_grid(k, f=1.0, solver: DarcyGridSolver | None = None, *, return_info: bool = False):
    """Solve ``-div(k grad u) = f`` on the unit square, ``u = 0`` on its boundary, on k's grid.

    The single-sample solve of data generation: P1 on the structured triangulation whose vertices
    are the grid points (see the module docstring). With the default solver (one per thread,
    kept between calls: CG + AMG to 1e-8, see :class:`DarcyGridSolver`) it reproduces a data
    set's outputs from its inputs bit for bit when the recipe has the default solver options.

    Parameters
    ----------
    k : (res, res) array
        Permeability at the grid points, indexed ``[j, i]`` = ``(x_i, y_j)``; positive.
    f : float or (res, res) array
        Source term (a number, or values at the grid points).
    solver : DarcyGridSolver, optional
        To choose the method or tolerance; keep one to time a sequence of solves.
    return_info : bool
        Also return the ``LinearSolveInfo`` (iterations, residual, timings).

    Returns
    -------
    u : (res, res) float64 array (and the info when ``return_info``)

    Examples
    --------
    >>> u = solve_darcy_grid(np.full((33, 33), 2.0))
    >>> u.shape, float(u[0].max()), round(float(u[16, 16]), 4)
    ((33, 33), 0.0, 0.0368)
    """
    k = _check_grid_field("k", k, positive=True)
    if solver is None:
        solver = _cached_solver(k.shape[0])
    elif not isinstance(solver, DarcyGridSolver):
        raise InputError("wrong solver type", field="solver", value=type(solver).__name__, expected="a DarcyGridSolver or None")
    u, info = solver.solve(k, f)
    return (u, info) if return_info else u


# ============================================================================================
# Work units: a range of samples, solved where Dask puts it


def _coefficient_fields(recipe: Recipe, start: int, stop: int) -> np.ndarray:
    """k of samples ``start .. stop - 1`` as float32 (the values stored and solved with)."""
    from engine.surrogates.sampling import grf_darcy, lognormal_permeability, threshold_permeability

    c = recipe.coefficient
    z = grf_darcy(stop - start, recipe.resolution, alpha=c.alpha, tau=c.tau, seed=recipe.seed, start=start)
    if c.kind == "threshold":
        return threshold_permeability(z, c.high, c.low).astype(np.float32)  # high and low are in range
    with np.errstate(all="ignore"):
        k = lognormal_permeability(z, c.scale)
    outside = ~((k >= 1.0 / FLOAT32_SAFE) & (k <= FLOAT32_SAFE))
    if outside.any():
        i = int(np.flatnonzero(outside.reshape(len(k), -1).any(axis=1))[0])
        worst = float(k[i].max() if k[i].max() > FLOAT32_SAFE else k[i].min())
        raise InputError(
            f"the log-normal field exp(scale*z) reaches {worst:.3g} in sample {start + i}, beyond what float32 data hold",
            field="coefficient.scale",
            value=c.scale,
            expected=f"a smaller |scale| (or alpha, tau giving a smaller z), so that k stays within {1 / FLOAT32_SAFE:g} to {FLOAT32_SAFE:g}",
        )
    return k.astype(np.float32)


def _solve_range(recipe_json: str, start: int, stop: int) -> dict[str, Any]:
    """Sample and solve ``start .. stop - 1`` (a Dask task; runs in a worker process)."""
    t0 = time.perf_counter()
    recipe = Recipe.model_validate_json(recipe_json)
    s = recipe.solver
    solver = _cached_solver(recipe.resolution, s.method, s.tolerance, s.max_iterations)
    fallbacks, rebuilds = solver.n_fallbacks, solver.n_rebuilds
    k = _coefficient_fields(recipe, start, stop)
    n = stop - start
    sampling = (time.perf_counter() - t0) / n
    u = np.empty_like(k)
    residual = np.empty(n)
    iterations = np.empty(n, dtype=np.int32)
    seconds = np.empty(n)
    for i in range(n):
        t1 = time.perf_counter()
        ui, info = solver.solve(k[i].astype(np.float64), recipe.f)
        _check_fits_float32(ui, recipe, start + i)
        u[i] = ui
        residual[i] = info.residual
        iterations[i] = info.iterations
        seconds[i] = time.perf_counter() - t1 + sampling
    return {
        "start": start,
        "stop": stop,
        "inputs": k,
        "outputs": u,
        "residual": residual,
        "iterations": iterations,
        "seconds": seconds,
        "fallbacks": solver.n_fallbacks - fallbacks,
        "rebuilds": solver.n_rebuilds - rebuilds,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


def _check_fits_float32(u: np.ndarray, recipe: Recipe, sample: int) -> None:
    """Refuse a solution that float32 cannot store: |u| grows as f / k, and each is in range alone."""
    largest = float(np.max(np.abs(u))) if np.isfinite(u).all() else math.inf
    if largest > _FLOAT32_MAX / 10:
        raise InputError(
            f"the solution reaches |u| = {largest:.3g} in sample {sample}, beyond what float32 data hold",
            field="f",
            value=recipe.f,
            expected="a smaller source f or a larger permeability k: |u| is about |f| / (8 min k)",
        )


def _ranges(missing: np.ndarray, chunk_size: int) -> list[tuple[int, int]]:
    """Runs of consecutive missing samples, cut at multiples of ``chunk_size``."""
    out: list[tuple[int, int]] = []
    if missing.size == 0:
        return out
    breaks = np.flatnonzero((np.diff(missing) != 1) | (missing[1:] // chunk_size != missing[:-1] // chunk_size)) + 1
    for run in np.split(missing, breaks):
        out.append((int(run[0]), int(run[-1]) + 1))
    return out


# ============================================================================================
# The file


def _create_file(out: Path, recipe: Recipe) -> None:
    """A new, empty data file with every data set allocated (atomically)."""
    import h5py

    from engine._version import __version__
    from engine.random_fields import grid_coordinates

    n, res = recipe.n_samples, recipe.resolution
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = FORMAT
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["workbench_version"] = __version__
            h5.attrs["recipe"] = recipe.to_json()
            h5.attrs["input_names"] = ["k"]
            h5.attrs["output_names"] = ["u"]
            h5.attrs["axes"] = "sample, channel, y, x"
            h5.attrs["complete"] = False
            h5.attrs["created"] = _now()

            def allocated(name: str, shape: tuple[int, ...], dtype) -> h5py.Dataset:
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # fixed storage: chunk writes touch no metadata
                dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
                return h5.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl)

            allocated("inputs", (n, 1, res, res), "<f4")
            allocated("outputs", (n, 1, res, res), "<f4")
            allocated("stats/residual", (n,), "<f8")
            allocated("stats/iterations", (n,), "<i4")
            allocated("stats/seconds", (n,), "<f8")
            done = allocated("done", (n,), "?")
            done[...] = False
            h5.create_dataset("grid/x", data=grid_coordinates(res))
            h5.create_dataset("grid/y", data=grid_coordinates(res))
        _fsync(tmp)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _open_h5(path: Path, mode: str = "r"):
    import h5py

    if not path.exists():
        raise InputError("file not found", source=path, expected="a data set file (.h5) written by generate_dataset")
    if not path.is_file():
        raise InputError("not a file", source=path, expected="a data set file (.h5)")
    if not h5py.is_hdf5(path):
        raise InputError("not an HDF5 file", source=path, expected=f"a {FORMAT} HDF5 file written by generate_dataset")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise InputError(f"cannot open the file ({exc})", source=path, hint="Is another program (or a generation run) using it?") from exc


def _check_format(h5, path: Path) -> None:
    fmt = h5.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT:
        raise InputError(
            "not a workbench data set",
            source=path,
            field="format",
            value=fmt if fmt is not None else "(no format attribute)",
            expected=repr(FORMAT),
        )
    version = h5.attrs.get("format_version")
    if version is None or int(version) > FORMAT_VERSION:
        raise InputError(
            "unsupported data set format version",
            source=path,
            field="format_version",
            value=None if version is None else int(version),
            expected=f"<= {FORMAT_VERSION}",
            hint="It was written by a newer workbench." if version is not None else None,
        )
    missing = [name for name in ("inputs", "outputs", "done", "grid/x", "grid/y") if name not in h5]
    if missing or "recipe" not in h5.attrs:
        raise InputError("the data set file is damaged", source=path, value=f"missing {', '.join(missing) or 'recipe attribute'}", expected="a complete file layout")


class _Writer:
    """Writes finished ranges into the file: data, flush + fsync, then the done flags."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.h5 = _open_h5(path, "r+")
        self.fd = os.open(path, os.O_RDONLY)

    def write(self, r: Mapping[str, Any]) -> None:
        a, b = int(r["start"]), int(r["stop"])
        h5 = self.h5
        h5["inputs"][a:b, 0] = r["inputs"]
        h5["outputs"][a:b, 0] = r["outputs"]
        h5["stats/residual"][a:b] = r["residual"]
        h5["stats/iterations"][a:b] = r["iterations"]
        h5["stats/seconds"][a:b] = r["seconds"]
        self._sync()
        h5["done"][a:b] = True
        self._sync()

    def _sync(self) -> None:
        self.h5.flush()
        os.fsync(self.fd)

    def close(self) -> None:
        try:
            self.h5.close()
        finally:
            os.close(self.fd)


def _checksum(h5) -> str:
    digest = hashlib.sha256()
    for name in ("inputs", "outputs"):
        ds = h5[name]
        step = max(1, (64 << 20) // max(1, ds[0].nbytes)) if len(ds) else 1
        for a in range(0, len(ds), step):
            digest.update(np.ascontiguousarray(ds[a : a + step], dtype="<f4").tobytes())
    return digest.hexdigest()


def _finalise(path: Path, run: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Checksum and provenance into a copy of the file, which then replaces it (atomic)."""
    import h5py

    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as h5:
            recipe = Recipe.model_validate_json(_attr_text(h5.attrs["recipe"]))
            residual = h5["stats/residual"][...]
            iterations = h5["stats/iterations"][...]
            seconds = h5["stats/seconds"][...]
            checksum = _checksum(h5)
            provenance = _provenance(recipe, residual, iterations, seconds, run)
            h5.attrs["checksum"] = checksum
            h5.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
            h5.attrs["completed"] = _now()
            h5.attrs["complete"] = True
        _fsync(tmp)
    _fsync(path.parent)  # the rename itself
    return checksum, provenance


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's) data to disk: before a rename, so the new name never points
    at data still in the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)


# ============================================================================================
# One run at a time, and what a killed run left behind


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold the lock of the data set ``out`` for the block; an InputError if another run holds it.

    The lock is ``flock`` on ``.NAME.lock`` beside ``out``: the kernel releases it when its
    holder dies, however it dies, so a lock is never stale. The file is removed on the way out;
    a run that opened it meanwhile sees that it no longer is the file at that path and retries.
    Without ``fcntl`` (not POSIX) runs are not locked and stale temporary files are kept.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX only
        yield
        return
    lock = out.parent / f".{out.name}.lock"
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise InputError(f"cannot write there ({exc.strerror or exc})", source=out, expected="a path in a folder you can write to") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(
                "another run is generating this data set right now",
                source=out,
                expected="one generation run per data set file",
                hint="Wait for it to finish (a later run resumes or returns the file), or choose another output path",
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed that file: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _remove_stale_parts(out: Path) -> list[Path]:
    """Remove the temporary copies (``atomic_path``'s ``.STEM.XXXXXXXX.part.SUFFIX``) of ``out``.

    Call it holding the lock: then no live run is writing them. The name is matched exactly, so
    the parts of another data set in the folder (``darcy.v2.h5`` beside ``darcy.h5``) are kept.
    """
    pattern = re.compile(rf"\.{re.escape(out.stem)}\.[^.]+\.part{re.escape(out.suffix)}")
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(out.parent):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _attr_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _provenance(recipe: Recipe, residual, iterations, seconds, run: dict[str, Any]) -> dict[str, Any]:
    import importlib

    from engine.result import software_versions

    for name in ("numpy", "scipy", "h5py", "pyamg", "pydantic"):
        importlib.import_module(name)
    versions = software_versions()
    for name in ("dask", "distributed"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:  # pragma: no cover - dask is a dependency
            pass
    res = recipe.resolution
    return {
        "generator": "engine.surrogates.datasets.generate_dataset",
        "software": versions,
        "discretisation": {
            "element": "P1",
            "mesh": f"structured triangulation of the unit square, {res - 1} x {res - 1} squares each split along the "
            "bottom-left to top-right diagonal; vertices = the grid points",
            "unknowns": (res - 2) ** 2,
            "k": "P1 interpolant of the grid values, integrated exactly (k per triangle = mean of its vertex values)",
            "f": "consistent P1 load",
            "boundary": "u = 0 on the whole boundary",
        },
        "solver": _solver_options(recipe.solver.method, recipe.solver.tolerance, recipe.solver.max_iterations),
        "residual_max": float(residual.max()),
        "residual_mean": float(residual.mean()),
        "iterations_mean": float(iterations.mean()),
        "iterations_max": int(iterations.max()),
        "timings": {
            "worker_seconds_per_sample": float(seconds.mean()),
            "worker_seconds_total": float(seconds.sum()),
            **run.get("timings", {}),
        },
        "last_run": {key: value for key, value in run.items() if key != "timings"},
    }


# ============================================================================================
# Generation


@dataclass
class DatasetInfo:
    """What :func:`generate_dataset` did.

    Attributes
    ----------
    path : Path
    n_samples : int
        Samples in the data set.
    n_solved : int
        Samples solved by this call (the others were in the file already).
    complete : bool
    checksum : str
        sha256 of the inputs' and outputs' bytes ("" while incomplete).
    wall_time : float
        Seconds this call took, cluster start-up included.
    seconds_per_sample : float
        ``wall_time / n_solved`` (0 when nothing was solved).
    residual_max : float
        Largest relative residual over the whole data set (NaN while incomplete).
    provenance : dict
    """

    path: Path
    n_samples: int
    n_solved: int
    complete: bool
    checksum: str
    wall_time: float
    seconds_per_sample: float
    residual_max: float
    provenance: dict[str, Any] = field(default_factory=dict)


def generate_dataset(
    recipe: Recipe | Mapping[str, Any] | str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    chunk_size: int = 16,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DatasetInfo:
    """Sample and solve a recipe's data set into ``out`` (HDF5), in parallel, resumably.

    Parameters
    ----------
    recipe : Recipe, mapping or path of a recipe file
    out : path
        The data file. If it exists, it must hold a data set of the very same recipe: its
        finished samples are kept and only the missing ones are solved (resume); a complete file
        is returned as it is.
    scheduler : str, optional
        None: a ``distributed.LocalCluster`` of ``workers`` processes (one thread each), closed at
        the end; a Dask scheduler address (``"tcp://host:8786"``): that cluster;
        ``"synchronous"``: no Dask, every sample solved in this thread.
    workers : int, optional
        Worker processes of the local cluster (default 2).
    chunk_size : int
        Samples per task (and per write): larger amortises the task overhead, smaller loses
        less work to a kill and reports progress more often.
    progress : callable, optional
        ``progress(fraction, message)`` once per finished chunk (fraction of the data set done),
        and with ``fraction=None`` for status messages (starting the cluster).
    cancel : threading.Event, optional
        Once set: nothing more is submitted, pending tasks are cancelled, finished chunks stay
        in the file, and ``Cancelled`` is raised. Run again with the same recipe to resume.

    Returns
    -------
    DatasetInfo

    Raises
    ------
    InputError
        A bad recipe or option; ``out`` exists and is not a data set, or holds another
        recipe's data set (the message names the differences); another run is generating
        ``out`` right now.
    RunError
        A sample could not be solved or a worker died; the finished chunks are kept.
    Cancelled
        ``cancel`` was set.
    """
    started = time.perf_counter()
    recipe = _as_recipe(recipe)
    out = Path(os.path.expanduser(os.fspath(out)))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise InputError("invalid chunk size", field="chunk_size", value=chunk_size, expected="an integer >= 1")
    workers = check_workers(workers)
    check_scheduler(scheduler)
    chunk_size = int(chunk_size)
    _check_cancel(cancel)
    with _exclusive(out):
        _remove_stale_parts(out)
        return _generate(recipe, out, scheduler, workers, chunk_size, progress, cancel, started)


def _generate(recipe: Recipe, out: Path, scheduler, workers, chunk_size, progress, cancel, started) -> DatasetInfo:
    """The body of :func:`generate_dataset`, run holding the data set's lock."""
    done, complete = _prepare(out, recipe)
    n = recipe.n_samples
    if complete:
        return _info_of_complete(out, recipe, time.perf_counter() - started, 0)
    missing = np.flatnonzero(~done)
    ranges = _ranges(missing, chunk_size)
    state = {"done": int(done.sum()), "solved": 0, "fallbacks": 0, "rebuilds": 0, "pids": set()}
    resumed = state["done"] > 0

    writer = _Writer(out)
    run_started = time.perf_counter()
    try:

        def on_result(r: Mapping[str, Any]) -> None:
            writer.write(r)
            count = int(r["stop"]) - int(r["start"])
            state["done"] += count
            state["solved"] += count
            state["fallbacks"] += int(r["fallbacks"])
            state["rebuilds"] += int(r["rebuilds"])
            state["pids"].add(str(r["worker"]))
            elapsed = time.perf_counter() - run_started
            rate = elapsed / state["solved"]
            _report(progress, state["done"] / n, f"{state['done']}/{n} samples ({1000 * rate:.1f} ms per sample)")

        recipe_json = recipe.to_json()
        if not ranges:  # every sample was done: an earlier run stopped while completing the file
            backend = {"scheduler": "none (every sample was already done)", "workers": 0}
        elif scheduler == "synchronous":
            backend = {"scheduler": "synchronous", "workers": 1}
            _run_synchronous(recipe_json, ranges, on_result, cancel, n, out, state)
        else:
            backend = _run_dask(recipe_json, ranges, on_result, cancel, scheduler, workers, chunk_size, progress, n, out, state)
    finally:
        writer.close()
    wall = time.perf_counter() - started
    start_seconds = backend.pop("start_seconds", 0.0)
    run = {
        **backend,
        "chunk_size": chunk_size,
        "resumed": resumed,
        "samples_solved": state["solved"],
        "direct_fallbacks": state["fallbacks"],
        "hierarchy_rebuilds": state["rebuilds"],
        "worker_processes": len(state["pids"]),
        "timings": {
            "last_run_wall_seconds": wall,
            "last_run_seconds_per_sample": wall / state["solved"] if state["solved"] else 0.0,
            "cluster_start_seconds": start_seconds,
        },
    }
    checksum, provenance = _finalise(out, run)
    wall = time.perf_counter() - started
    return DatasetInfo(
        path=out,
        n_samples=n,
        n_solved=state["solved"],
        complete=True,
        checksum=checksum,
        wall_time=wall,
        seconds_per_sample=wall / state["solved"] if state["solved"] else 0.0,
        residual_max=provenance["residual_max"],
        provenance=provenance,
    )




def _report(progress: ProgressCallback | None, fraction: float | None, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def _check_cancel(cancel: threading.Event | None, message: str = "data set generation was cancelled") -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(message)


def _cancelled_message(out: Path, state: Mapping[str, Any], n: int) -> str:
    return f"data set generation was cancelled; {state['done']} of {n} samples are saved in {out}; run it again with the same recipe to finish"


def _prepare(out: Path, recipe: Recipe) -> tuple[np.ndarray, bool]:
    """Create ``out`` or check it for a resume: the done flags and whether it is complete."""
    if not out.exists():
        _create_file(out, recipe)
        return np.zeros(recipe.n_samples, dtype=bool), False
    with _open_h5(out) as h5:
        try:
            _check_format(h5, out)
        except InputError as err:
            raise err.replace(
                problem=f"the output file exists and is not a data set to resume ({err.problem})",
                hint="Choose another output path, or delete the file.",
            ) from None
        stored = json.loads(_attr_text(h5.attrs["recipe"]))
        wanted = json.loads(recipe.to_json())
        if stored != wanted:
            differences = _recipe_differences(stored, wanted)
            raise InputError(
                "the output file holds a data set of another recipe",
                source=out,
                field=", ".join(d.split(":")[0] for d in differences),
                expected="the recipe the file was started with",
                hint=f"Differences: {'; '.join(differences)}. Choose another output path, delete the file, or use the recipe stored in it.",
            )
        shape = (recipe.n_samples, 1, recipe.resolution, recipe.resolution)
        if h5["inputs"].shape != shape or h5["outputs"].shape != shape or h5["done"].shape != (recipe.n_samples,):
            raise InputError("the data set file is damaged", source=out, value=h5["inputs"].shape, expected=f"data sets of shape {shape}")
        done = np.asarray(h5["done"][...], dtype=bool)
        complete = bool(h5.attrs.get("complete", False)) and "checksum" in h5.attrs
    return done, complete


def _info_of_complete(out: Path, recipe: Recipe, wall: float, solved: int) -> DatasetInfo:
    with _open_h5(out) as h5:
        checksum = _attr_text(h5.attrs["checksum"])
        provenance = json.loads(_attr_text(h5.attrs.get("provenance", "{}")))
    return DatasetInfo(
        path=out,
        n_samples=recipe.n_samples,
        n_solved=solved,
        complete=True,
        checksum=checksum,
        wall_time=wall,
        seconds_per_sample=0.0,
        residual_max=float(provenance.get("residual_max", math.nan)),
        provenance=provenance,
    )


def _run_synchronous(recipe_json, ranges, on_result, cancel, n, out, state) -> None:
    for a, b in ranges:
        if cancel is not None and cancel.is_set():
            raise Cancelled(_cancelled_message(out, state, n))
        try:
            result = _solve_range(recipe_json, a, b)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise RunError(f"solving samples {a} to {b - 1} failed: {exc}") from exc
        on_result(result)
    if cancel is not None and cancel.is_set() and state["done"] < n:
        raise Cancelled(_cancelled_message(out, state, n))


def _run_dask(recipe_json, ranges, on_result, cancel, scheduler, workers, chunk_size, progress, n, out, state) -> dict[str, Any]:
    """Solve ``ranges`` on a Dask cluster; results are written here, in the client, as they come."""
    from engine.cluster import cancel_futures, dask_client

    running: dict[Any, tuple[int, int]] = {}
    with dask_client(scheduler, workers, progress) as (client, backend):
        try:
            return _drive(client, recipe_json, ranges, on_result, cancel, n, out, state, running) | backend
        finally:
            cancel_futures(client, running)


def _drive(client, recipe_json, ranges, on_result, cancel, n, out, state, running) -> dict[str, Any]:
    """Keep at most two chunks per worker thread in flight, writing each one as it arrives."""
    slots = max(2, 2 * sum(client.nthreads().values()))
    queue: Iterator[tuple[int, int]] = iter(ranges)
    token = hashlib.sha1(f"{recipe_json}{out.resolve()}{time.time()}".encode()).hexdigest()[:10]

    def submit_more() -> None:
        while len(running) < slots:
            item = next(queue, None)
            if item is None:
                return
            a, b = item
            future = client.submit(_solve_range, recipe_json, a, b, key=f"darcy-samples-{token}-{a}-{b}", pure=False)
            running[future] = item

    submit_more()
    while running:
        if cancel is not None and cancel.is_set():
            raise Cancelled(_cancelled_message(out, state, n))
        finished = [f for f in running if f.done()]
        if not finished:
            time.sleep(0.02)
            continue
        for future in finished:
            a, b = running.pop(future)
            try:
                result = future.result()
            except WorkbenchError:
                raise
            except Exception as exc:
                raise RunError(f"solving samples {a} to {b - 1} failed on a Dask worker: {type(exc).__name__}: {exc}") from exc
            finally:
                future.release()
            on_result(result)
            if cancel is None or not cancel.is_set():
                submit_more()
    if cancel is not None and cancel.is_set() and state["done"] < n:
        raise Cancelled(_cancelled_message(out, state, n))
    return {}


# ============================================================================================
# Reading


class Grid(NamedTuple):
    """The grid coordinates: ``x`` along axis -1, ``y`` along axis -2 of every field."""

    x: np.ndarray
    y: np.ndarray


class GridDataset:
    """A data set in memory: ``inputs`` (N, C_in, H, W) and ``outputs`` (N, C_out, H, W), float32.

    Built by :func:`open_dataset`. With ``allow_incomplete=True`` it holds the finished samples
    only; ``sample_ids`` are their indices in the recipe.

    Attributes
    ----------
    path : Path
    inputs, outputs : float32 arrays
    input_names, output_names : list of str
        Channel names (``["k"]``, ``["u"]``).
    grid : Grid
    recipe : Recipe
    provenance : dict
        Empty for an incomplete file.
    sample_ids : int array
    complete : bool
    checksum : str
    stats : dict of arrays
        Per-sample ``residual``, ``iterations``, ``seconds``.
    """

    def __init__(self, *, path, inputs, outputs, input_names, output_names, grid, recipe, provenance, sample_ids, complete, checksum, stats) -> None:
        self.path = Path(path)
        self.inputs = inputs
        self.outputs = outputs
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.grid = grid
        self.recipe = recipe
        self.provenance = provenance
        self.sample_ids = sample_ids
        self.complete = complete
        self.checksum = checksum
        self.stats = stats

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {"x": self.inputs[index], "y": self.outputs[index]}

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.inputs.shape[2:]))
        return f"GridDataset({self.recipe.name!r}: {len(self)} samples, {shape}, {self.input_names} -> {self.output_names})"

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A random train/validation split: two sorted arrays of positions ``0 .. len - 1``.

        ``round(val_fraction * len)`` samples go to validation (at least one when
        ``val_fraction > 0`` and there are two samples or more). The same seed gives the same
        split.
        """
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0.0 <= val_fraction < 1.0:
            raise InputError("invalid validation fraction", field="val_fraction", value=val_fraction, expected="a number in [0, 1)")
        n = len(self)
        n_val = int(round(val_fraction * n))
        if val_fraction > 0 and n >= 2:
            n_val = max(1, n_val)
        n_val = min(n_val, n - 1) if n else 0
        order = np.random.default_rng(seed).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def torch_dataset(self, indices=None):
        """A ``torch.utils.data.Dataset`` of ``{"x": (C_in, H, W), "y": (C_out, H, W)}`` float32 tensors.

        ``indices`` (positions, e.g. one half of :meth:`split`) selects samples; the tensors share
        memory with ``inputs`` / ``outputs``.
        """
        cls = _torch_dataset_class()
        return cls(self.inputs, self.outputs, None if indices is None else np.asarray(indices, dtype=np.int64))

    def verify(self) -> bool:
        """Whether the arrays still match the checksum written at completion."""
        if not self.checksum:
            return False
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.inputs, dtype="<f4").tobytes())
        digest.update(np.ascontiguousarray(self.outputs, dtype="<f4").tobytes())
        return digest.hexdigest() == self.checksum


def open_dataset(path: str | Path, *, allow_incomplete: bool = False) -> GridDataset:
    """Read a data set file written by :func:`generate_dataset` into memory.

    Raises
    ------
    InputError
        Not an HDF5 file, not a workbench data set, a newer format, or an incomplete data set
        (unless ``allow_incomplete``: then the finished samples are returned).
    """
    path = Path(path)
    with _open_h5(path) as h5:
        _check_format(h5, path)
        try:
            recipe = Recipe.model_validate_json(_attr_text(h5.attrs["recipe"]))
        except ValidationError as exc:
            raise InputError("the data set's recipe does not validate", source=path, field="recipe", value=str(exc).splitlines()[0]) from None
        done = np.asarray(h5["done"][...], dtype=bool)
        complete = bool(h5.attrs.get("complete", False)) and "checksum" in h5.attrs
        if not complete and not allow_incomplete:
            raise InputError(
                "the data set is incomplete",
                source=path,
                value=f"{int(done.sum())} of {len(done)} samples done",
                expected="a complete data set",
                hint="Run generate_dataset again with the same recipe to finish it, or pass allow_incomplete=True to use the finished samples.",
            )
        ids = np.arange(len(done)) if complete else np.flatnonzero(done)
        select = slice(None) if complete else ids

        def read(name: str, dtype) -> np.ndarray:
            ds = h5[name]
            return np.asarray(ds[...] if complete else ds[select] if len(ids) else np.empty((0, *ds.shape[1:]), ds.dtype), dtype=dtype)

        inputs, outputs = read("inputs", np.float32), read("outputs", np.float32)
        stats = {key: read(f"stats/{key}", None) for key in ("residual", "iterations", "seconds") if f"stats/{key}" in h5}
        names_in = [_attr_text(v) for v in h5.attrs.get("input_names", ["k"])]
        names_out = [_attr_text(v) for v in h5.attrs.get("output_names", ["u"])]
        grid = Grid(np.asarray(h5["grid/x"][...]), np.asarray(h5["grid/y"][...]))
        provenance = json.loads(_attr_text(h5.attrs["provenance"])) if complete and "provenance" in h5.attrs else {}
        checksum = _attr_text(h5.attrs["checksum"]) if complete else ""
    return GridDataset(
        path=path,
        inputs=inputs,
        outputs=outputs,
        input_names=names_in,
        output_names=names_out,
        grid=grid,
        recipe=recipe,
        provenance=provenance,
        sample_ids=ids,
        complete=complete,
        checksum=checksum,
        stats=stats,
    )


_TORCH_DATASET: type | None = None


def _torch_dataset_class() -> type:
    """The torch Dataset class, built on first use so that this module never imports torch itself."""
    global _TORCH_DATASET
    if _TORCH_DATASET is None:
        import torch
        from torch.utils.data import Dataset

        class TorchGridDataset(Dataset):
            """``{"x": (C_in, H, W), "y": (C_out, H, W)}`` float32 tensors of a GridDataset."""

            def __init__(self, inputs: np.ndarray, outputs: np.ndarray, indices: np.ndarray | None = None) -> None:
                self.inputs = inputs
                self.outputs = outputs
                self.indices = np.arange(len(inputs)) if indices is None else indices
                if len(self.indices) and (self.indices.min() < -len(inputs) or self.indices.max() >= len(inputs)):
                    raise InputError("sample index out of range", field="indices", value=int(self.indices.max()), expected=f"positions in [0, {len(inputs) - 1}]")

            def __len__(self) -> int:
                return len(self.indices)

            def __getitem__(self, i: int) -> dict[str, Any]:
                j = int(self.indices[i])
                return {"x": torch.from_numpy(self.inputs[j]), "y": torch.from_numpy(self.outputs[j])}

        # Picklable by reference (DataLoader workers started with spawn), via __getattr__ below.
        TorchGridDataset.__module__ = __name__
        TorchGridDataset.__qualname__ = TorchGridDataset.__name__ = "TorchGridDataset"
        _TORCH_DATASET = TorchGridDataset
    return _TORCH_DATASET


def __getattr__(name: str) -> Any:
    if name == "TorchGridDataset":
        return _torch_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
