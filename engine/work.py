"""The whole work of a case, estimated before it starts.

gmsh shows no progress while it meshes and a transient solve grows its memory with every saved
step, so what they will cost is estimated from the case alone and refused, with exit code 2,
when it exceeds a documented limit (``engine.limits``): the cells of a mesh made from a built-in
geometry (refinements included), the time steps, the values a transient result keeps and the
probes. Each refusal names the field, its value and the smallest value that fits.

The checks run where the case is checked (``workbench case check`` as much as ``run``):

* ``check_case`` when a case is parsed: time steps and probes, properties of the document
  (again in ``check_problem``, for a Case built without parsing);
* ``check_case_mesh`` before a built-in geometry is meshed: cells, and element sizes that fit
  the geometry's features;
* ``check_problem`` once the mesh is known: the values a transient result keeps.

Cell estimate
-------------
A mesh of element size h has about ``C / h**dim`` cells per unit area (volume), C being that of
equilateral triangles (regular tetrahedra): ``CELLS_PER_MEASURE``. A refinement of size h0 near a
target, growing linearly to the global size H over a distance d (h(s) = h0 + (H - h0) s / d),
adds the integral of ``C (1 / h(s)**dim - 1 / H**dim)`` over its band:

* near a boundary of length (area) L: ``L * integral_0^d (...) ds``, in 2D ``C L d (H - h0) / (h0 H**2)``;
* near a point: ``integral_0^d (...) 2 pi s ds`` in 2D, ``4 pi s**2 ds`` in 3D, which grow only
  with the logarithm of H / h0.

A band holds at most the whole domain at size h0, and the union of bands at most their sum.
In 2D the bands are counted 1.5 times (``_GRADING``: gmsh's graded triangles are smaller than
the law asks). gmsh then makes 0.7 to 1.1 times the estimate on the built-in geometries
(quadrilaterals and hexahedra: fewer), which ``tests/engine/test_work_limits.py`` keeps in
check against real meshes.

Examples
--------
>>> round(estimate_cells(2, 1.0, 0.1).total)
231
>>> from engine.mesh.geometry import Refinement
>>> near_left = Refinement(size=0.001, distance=0.2, region="left")
>>> round(estimate_cells(2, 1.0, 0.1, [near_left], {"left": 1.0}).total)
7090
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import InputError
from engine.limits import LIMITS
from engine.physics.registry import get_physics

if TYPE_CHECKING:  # engine.mesh.geometry imports this module; only the names are needed here
    from engine.case.schema import Case, TimeStepping
    from engine.mesh.geometry import Geometry, Refinement
    from engine.mesh.mesh import Mesh

__all__ = [
    "CELLS_PER_MEASURE",
    "CellEstimate",
    "estimate_cells",
    "check_cells",
    "time_steps",
    "saved_values",
    "check_case",
    "check_case_mesh",
    "case_mesh_options",
    "check_mesh_request",
    "check_problem",
]

#: Cells per unit area (2D) or volume (3D) at element size 1: equilateral triangles, regular
#: tetrahedra.
CELLS_PER_MEASURE = {2: 4.0 / math.sqrt(3.0), 3: 6.0 * math.sqrt(2.0)}
#: A feature (a ring's width, a gap) thinner than the element size times this makes cells of
#: aspect ratio beyond a thousand: no solver answer is worth having there.
_FEATURE_PER_SIZE = 1e-3
#: gmsh's graded 2D meshes hold about this many times the cells the size law gives in a
#: refinement band (its triangles come out smaller than the field asks where the size changes
#: fast: 1.3 to 1.8 measured on the built-in geometries); its 3D bands match the law.
_GRADING = {2: 1.5, 3: 1.0}
#: The smallest size ratio h0 / H a band formula evaluates (beyond it the estimate is
#: astronomically large anyway; this keeps the arithmetic finite).
_SMALLEST_RATIO = 1e-150


@dataclass(frozen=True)
class CellEstimate:
    """The cells a mesh will have, before gmsh makes it.

    Attributes
    ----------
    total
        All cells: ``base`` plus every band.
    base
        Cells of the domain at the global element size.
    bands
        Extra cells of each refinement, in the order given (0 for one not counted).
    """

    total: float
    base: float
    bands: tuple[float, ...] = ()


def _band(dim: int, size: float, distance: float, global_size: float, target: float | None) -> float:
    """Extra cells of one refinement band; ``target`` is the boundary's measure, None for a point.

    numpy's float arithmetic: a size of 1e-300 gives an infinite count, not an OverflowError.
    """
    if not size < global_size:
        return 0.0  # the Min of the size fields never goes above the global size
    c = CELLS_PER_MEASURE[dim]
    with np.errstate(all="ignore"):
        u = np.maximum(np.float64(size) / global_size, _SMALLEST_RATIO)
        e, ratio = 1.0 - u, np.float64(distance) / global_size
        if target is not None:
            if dim == 2:
                extra = c * target * ratio * e / (u * global_size)
            else:
                extra = c * target * ratio / global_size**2 * ((1.0 + u) / (2.0 * u * u) - 1.0)
        elif dim == 2:  # around a point; the closed forms vanish, as they should, as size -> global_size
            extra = c * np.pi * ratio**2 * (2.0 * (-np.log(u) - e) / (e * e) - 1.0)
        else:
            extra = c * 4.0 * np.pi * ratio**3 * ((-np.log(u) - 1.5 + 2.0 * u - u * u / 2.0) / e**3 - 1.0 / 3.0)
    return max(0.0, _GRADING[dim] * float(extra))


def _cells_at(dim: int, measure: float, size: float) -> float:
    """``C measure / size**dim``: inf for a size too small for floats, 0 for one too large."""
    with np.errstate(all="ignore"):
        return float(CELLS_PER_MEASURE[dim] * measure / np.float64(size) ** dim)


def estimate_cells(
    dim: int,
    measure: float,
    size: float,
    refinements: Sequence[Refinement] = (),
    boundaries: Mapping[str, float] | None = None,
) -> CellEstimate:
    """The cells of a mesh of a domain of area (volume) ``measure`` at element size ``size``.

    Parameters
    ----------
    dim
        2 or 3.
    measure
        The domain's area or volume.
    size
        The global element size.
    refinements
        ``Refinement`` items; those near a boundary need its measure in ``boundaries``.
    boundaries
        Boundary region name -> length (2D) or area (3D). A region refinement whose region is
        not there is not counted (its band is 0).
    """
    base = _cells_at(dim, measure, size)
    bands = []
    for item in refinements:
        if item.point is not None:
            target: float | None = None
        elif boundaries is not None and item.region in boundaries:
            target = boundaries[item.region]
        else:
            bands.append(0.0)
            continue
        whole_domain = _cells_at(dim, measure, item.size) - base  # a band holds at most the domain
        bands.append(min(_band(dim, item.size, item.distance, size, target), max(0.0, whole_domain)))
    return CellEstimate(base + sum(bands), base, tuple(bands))


def check_cells(
    dim: int,
    measure: float,
    size: float,
    refinements: Sequence[Refinement] = (),
    boundaries: Mapping[str, float] | None = None,
) -> CellEstimate:
    """``estimate_cells``, or an InputError when it exceeds ``LIMITS["cells"]``.

    The error names the field to change: ``mesh.size`` when the domain alone is too many cells
    or no single refinement is to blame, else the refinement that adds the most
    (``mesh.refine[i].size``), with the smallest size that fits.
    """
    limit = LIMITS["cells"]
    cap = limit.value()
    estimate = estimate_cells(dim, measure, size, refinements, boundaries)
    if estimate.total <= cap:
        return estimate

    def total_with(global_size: float | None = None, index: int | None = None, local: float | None = None) -> float:
        items = list(refinements)
        if index is not None:
            items[index] = _with_size(items[index], local)
        return estimate_cells(dim, measure, global_size or size, items, boundaries).total

    worst = max(range(len(estimate.bands)), key=lambda i: estimate.bands[i], default=None)
    if worst is not None and estimate.base <= cap and estimate.bands[worst] > 0 and total_with(index=worst, local=size) <= cap:
        smallest = _smallest_fitting(refinements[worst].size, size, lambda h: total_with(index=worst, local=h) <= cap)
        field, value = f"mesh.refine[{worst}].size", refinements[worst].size
        fits = f"a refinement size of at least {_round_up(smallest):g}"
    else:
        upper = size
        while total_with(global_size=upper) > cap and upper < 1e300:
            upper *= 4.0
        smallest = _smallest_fitting(size, upper, lambda h: total_with(global_size=h) <= cap)
        field, value = "mesh.size", size
        fits = f"an element size of at least {_round_up(smallest):g}" + (" with these refinements" if refinements else "")
    got = round(estimate.total) if math.isfinite(estimate.total) else estimate.total
    err = limit.refuse(got, what="cells", field=field, fits=fits)
    about = f"about {estimate.total:.3g}" if math.isfinite(estimate.total) else "more than can be counted"
    raise err.replace(problem=f"too many cells: {about} estimated, refinements included", value=value)


def _with_size(item: Refinement, size: float) -> Refinement:
    from dataclasses import replace

    return replace(item, size=size)


def _round_up(value: float, digits: int = 3) -> float:
    """``value`` to ``digits`` significant digits, rounded up: a smallest size that is shown
    must fit as shown."""
    if not (math.isfinite(value) and value > 0):
        return value
    scale = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    return math.ceil(value / scale * (1 - 1e-12)) * scale


def _smallest_fitting(low: float, high: float, fits) -> float:
    """The smallest x in [low, high] with fits(x), for fits false at low and true at high
    (bisection on a log scale, to 0.1 %), rounded up so that the value shown does fit."""
    low, high = math.log(low), math.log(high)
    while high - low > 1e-3:
        middle = 0.5 * (low + high)
        if fits(math.exp(middle)):
            high = middle
        else:
            low = middle
    return math.exp(high)


def check_mesh_request(geometry: Geometry, values: Mapping[str, float], size: float, refinements: Sequence[Refinement]) -> CellEstimate:
    """Everything a built-in geometry's mesh will cost, checked before gmsh starts.

    ``values`` are the checked parameters (``Geometry.check_parameters``) and ``refinements``
    the checked ``Refinement`` items. Refuses an element size more than a thousand times a
    feature of the geometry (a ring's width, a gap), a refinement size below what
    OpenCASCADE resolves, and more cells than ``LIMITS["cells"]``.
    """
    from engine.mesh.geometry import FEATURE_RATIO

    shape = geometry.shape(values)
    if shape.features:
        name, length, what = min(shape.features, key=lambda f: f[1])
        if length < _FEATURE_PER_SIZE * size:
            raise InputError(
                "the element size is far larger than a feature of the geometry",
                field="mesh.size",
                value=size,
                expected=f"an element size of at most {length / _FEATURE_PER_SIZE:.3g}, a thousand times {what} ({length:.3g})",
                hint=f"Or widen it (geometry.parameters.{name}).",
            )
    finest = FEATURE_RATIO * shape.extent
    for i, item in enumerate(refinements):
        if item.size < finest:
            raise InputError(
                "refinement size too small for this geometry",
                field=f"mesh.refine[{i}].size",
                value=item.size,
                expected=f"a refinement size of at least {finest:.3g} ({FEATURE_RATIO:g} of the geometry's extent {shape.extent:.3g})",
            )
    return check_cells(geometry.dim, shape.measure, size, refinements, shape.boundaries)


def check_case_mesh(case: Case) -> CellEstimate | None:
    """``check_mesh_request`` for a case's built-in geometry (None for a mesh file), with the
    checks ``build_mesh`` makes before it, without meshing."""
    if case.geometry.kind is None:
        return None
    from engine.mesh.geometry import check_mesh_options

    return check_mesh_options(case.geometry.kind, case.geometry.parameters, **case_mesh_options(case)).estimate


def case_mesh_options(case: Case) -> dict[str, Any]:
    """The case's ``[mesh]`` table as keyword arguments of ``build_mesh`` (refinements as
    ``Refinement`` items)."""
    from engine.mesh.geometry import Refinement

    opts = case.mesh
    refine = [Refinement(size=r.size, distance=r.distance, region=r.region, point=tuple(r.point) if r.point else None) for r in opts.refine]
    options: dict[str, Any] = {"size": opts.size, "order": opts.order, "structured": opts.structured, "refine": refine}
    if opts.cell is not None:
        options["cell"] = opts.cell
    return options


# -- time --------------------------------------------------------------------------------------


def time_steps(time: TimeStepping) -> float:
    """Steps a fixed-step run takes to ``time.end`` (inf when the step is too small to count);
    for an adaptive run, the steps at its first step's length."""
    with_slack = time.end / time.step * (1.0 - 1e-12)  # the solver's own stopping rule
    return float(math.ceil(with_slack)) if math.isfinite(with_slack) else math.inf


def saved_values(steps: float, save_every: int, points: int, components: int) -> float:
    """Numbers a transient result keeps: the initial state, every ``save_every``-th step and the
    last one, each ``points`` x ``components``."""
    return (math.floor(steps / save_every) + 2) * points * components


def _transient(case: Case) -> TimeStepping | None:
    return getattr(case.physics, "time", None)


def check_case(case: Case) -> None:
    """Refuse a case whose document alone asks for too much: probes, fixed time steps."""
    LIMITS["probes"].check(len(case.probes), what="probes", field="probes", fits="fewer probes")
    time = _transient(case)
    if time is not None and not getattr(time, "adaptive", False):
        steps = time_steps(time)
        limit = LIMITS["time_steps"]
        if steps > limit.value():
            smallest = time.end / limit.value()
            err = limit.refuse(steps, what="time steps", field="physics.time.step", fits=f"a step of at least {_round_up(smallest, 6):g} (end / {limit.value()})")
            raise err.replace(problem=f"too many time steps: end / step = {time.end:g} / {time.step:g}", value=time.step)


def check_problem(case: Case, mesh: Mesh) -> None:
    """``check_case`` (again: a Case may be built without parsing), and refuse a transient case
    whose result would keep more than ``LIMITS["saved_values"]`` numbers on this mesh (known
    before solving for a fixed step)."""
    check_case(case)
    time = _transient(case)
    if time is None or getattr(time, "adaptive", False):
        return  # an adaptive run counts as it goes (engine.solvers.fem.heat)
    limit = LIMITS["saved_values"]
    components = get_physics(case.physics.kind).values_per_point(mesh.dim)  # heat: temperature and heat flux
    got = saved_values(time_steps(time), time.save_every, mesh.n_points, components)
    if got > limit.value():
        per_step = mesh.n_points * components
        room = math.floor(limit.value() / per_step) - 2  # saved steps that fit besides the first and last
        if room >= 1:
            fits = f"save_every of at least {math.ceil(time_steps(time) / room)} on this mesh of {mesh.n_points} points (or a coarser mesh)"
        else:
            fits = f"a coarser mesh (this one has {mesh.n_points} points)"
        err = limit.refuse(got, what="saved values", field="physics.time.save_every", fits=fits)
        raise err.replace(
            problem=f"too many saved values: {time_steps(time):.0f} steps / save_every {time.save_every} x {mesh.n_points} points x {components} components",
            value=time.save_every,
        )
