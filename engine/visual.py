"""Meshes and results as VTK grids: the one bridge from engine data to rendering.

The app's views and the batch mode's off-screen pictures both draw what this module builds, so a
field looks the same in both. pyvista (and VTK under it) is imported on first use only: the
engine and the command line start without it.

Examples
--------
>>> import numpy as np
>>> from engine.mesh import Mesh
>>> from engine.fields import Field
>>> mesh = Mesh(np.array([[0., 0.], [1., 0.], [0., 1.]]), {"triangle": np.array([[0, 1, 2]])})
>>> grid = to_grid(mesh, {"u": Field("u", np.array([0., 1., 2.]))})
>>> grid.n_points, grid.n_cells, grid.point_data["u"].tolist()
(3, 1, [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import InputError
from engine.fields import Field
from engine.mesh.locate import cell_nodes, weights_in_cell
from engine.mesh.mesh import Mesh

if TYPE_CHECKING:
    import pyvista as pv

    from engine.physics.base import PhysicsSpec
    from engine.result import Result

__all__ = [
    "VTK_CELL_TYPES", "CELL_IDS", "MESH_POINTS", "to_grid", "region_grid", "edge_grid", "MeshSurface", "mesh_surface", "scalar_values",
    "scalar_range", "component_names", "PointReading", "read_point", "picked_point", "COLOUR_MAPS", "RANGE_MODES", "ColourSettings",
    "log_refusal", "contour_levels", "CUT_MODES", "PlaneCut", "volume_grid", "cut_grid", "physics_of", "shown_fields", "primary_field",
    "warp_field", "arrow_fields", "GLYPH_COUNT", "ARROWS_ALONG", "spread_points", "arrow_points", "VectorGlyphs", "vector_glyphs",
]

#: meshio cell type -> VTK cell type id. meshio uses VTK's node order for all of these.
VTK_CELL_TYPES = {
    "vertex": 1,
    "line": 3,
    "line3": 21,
    "triangle": 5,
    "triangle6": 22,
    "quad": 9,
    "quad8": 23,
    "quad9": 28,
    "tetra": 10,
    "tetra10": 24,
    "hexahedron": 12,
    "hexahedron20": 25,
    "hexahedron27": 29,
}

#: Cell data of the grids a view draws: the domain cell (``Mesh.domain_cells`` order) behind each cell.
CELL_IDS = "cell_ids"
#: Point data of moved (warped) grids: where each point lies on the mesh itself.
MESH_POINTS = "mesh_points"

#: The edges of each face or line cell, by VTK cell type: (end, end) or (end, end, mid-edge node).
_CELL_EDGES = {
    3: [(0, 1)],
    21: [(0, 1, 2)],
    5: [(0, 1), (1, 2), (2, 0)],
    22: [(0, 1, 3), (1, 2, 4), (2, 0, 5)],
    9: [(0, 1), (1, 2), (2, 3), (3, 0)],
    23: [(0, 1, 4), (1, 2, 5), (2, 3, 6), (3, 0, 7)],
    28: [(0, 1, 4), (1, 2, 5), (2, 3, 6), (3, 0, 7)],
}


def _grid(points: np.ndarray, cells: Mapping[str, np.ndarray]) -> pv.UnstructuredGrid:
    import pyvista as pv

    blocks = {VTK_CELL_TYPES[t]: np.asarray(c, dtype=np.int64) for t, c in cells.items() if len(c)}
    if not blocks:
        return pv.UnstructuredGrid()
    return pv.UnstructuredGrid(blocks, points)


def to_grid(mesh: Mesh, fields: Mapping[str, Field] | None = None, *, step: int = -1) -> pv.UnstructuredGrid:
    """The mesh's domain cells as a pyvista grid, with ``fields`` attached.

    Time series contribute the values of ``step`` (default the last). Two-component vectors are
    padded to three so that VTK can warp by them and take their magnitude.
    """
    grid = _grid(mesh.points3d, mesh.domain_cells)
    for name, f in (fields or {}).items():
        values = f.at_step(step).values if f.is_time_series else f.values
        if values.ndim == 2 and values.shape[1] == 2:
            values = np.column_stack([values, np.zeros(len(values))])
        target = grid.point_data if f.association == "point" else grid.cell_data
        target[name] = values
    return grid


def region_grid(mesh: Mesh, name: str) -> pv.UnstructuredGrid:
    """One named region as a grid: its cells (lines, faces or volumes), or its points for a node set."""
    import pyvista as pv

    region = mesh.region(name)
    if region.points is not None:
        return pv.PolyData(mesh.points3d[region.points]).cast_to_unstructured_grid()
    cells = {t: mesh.cells[t][idx] for t, idx in region.cells.items()}
    return _grid(mesh.points3d, cells)


def _first_of_each(ends: np.ndarray, n_points: int) -> np.ndarray:
    """Where each distinct unordered pair of point numbers first occurs in ``ends``, in the
    order of the sorted pairs.

    One int64 key per pair: numpy sorts those without holding the GIL, unlike rows (``unique``
    with ``axis=0``), which on a big mesh would freeze the window for seconds while a worker
    thread builds the edges.
    """
    ends = np.sort(np.asarray(ends, dtype=np.int64), axis=1)
    _, first = np.unique(ends[:, 0] * n_points + ends[:, 1], return_index=True)
    return first


def edge_grid(mesh: Mesh) -> pv.PolyData:
    """The cells' own edges as line segments, each edge once: straight for a linear cell, through
    the mid-edge node for a quadratic one. Of a 3D mesh, the edges of its boundary faces.

    VTK draws a quadratic cell's edges on the triangles it subdivides the cell into; these are
    the edges of the mesh itself.

    Examples
    --------
    >>> import numpy as np
    >>> from engine.mesh import Mesh
    >>> points = np.array([[0., 0.], [2., 0.], [0., 2.], [1., 0.], [1., 1.], [0., 1.]])
    >>> edge_grid(Mesh(points, {"triangle6": np.array([[0, 1, 2, 3, 4, 5]])})).n_lines
    6
    """
    import pyvista as pv
    from vtkmodules.vtkFiltersGeometry import vtkUnstructuredGridGeometryFilter

    cells = {VTK_CELL_TYPES[t]: c for t, c in mesh.domain_cells.items()}
    if mesh.dim == 3:  # keeps the boundary faces quadratic (the surface filter would subdivide them)
        faces = vtkUnstructuredGridGeometryFilter()
        faces.SetInputData(_grid(mesh.points3d, mesh.domain_cells))
        faces.PassThroughPointIdsOn()  # its own points are single precision and numbered its own way
        faces.Update()
        surface = pv.wrap(faces.GetOutput())
        original = np.asarray(surface.point_data[faces.GetOriginalPointIdsName()])
        cells = {int(t): original[c] for t, c in surface.cells_dict.items()}
    edges = [conn[:, list(edge)] for ctype, conn in cells.items() for edge in _CELL_EDGES.get(ctype, [])]
    if not edges:
        return pv.PolyData(mesh.points3d)
    linear = np.concatenate([e for e in edges if e.shape[1] == 2] or [np.zeros((0, 2), int)])
    quadratic = np.concatenate([e for e in edges if e.shape[1] == 3] or [np.zeros((0, 3), int)])
    linear = np.sort(linear, axis=1)[_first_of_each(linear, mesh.n_points)]
    quadratic = quadratic[_first_of_each(quadratic[:, :2], mesh.n_points)]
    segments = np.concatenate([linear, quadratic[:, [0, 2]], quadratic[:, [2, 1]]])
    lines = np.column_stack([np.full(len(segments), 2), segments]).ravel()
    return pv.PolyData(mesh.points3d, lines=lines)


def component_names(f: Field) -> list[str]:
    """What a field can be coloured by: the value itself for a scalar; magnitude and each
    component for a vector or tensor."""
    if f.n_components == 1:
        return [""]
    names = list(f.components or (str(i) for i in range(f.n_components)))
    return ["magnitude", *names]


def scalar_values(f: Field, component: str = "", *, step: int = -1) -> np.ndarray:
    """One number per point or cell to colour by: the field, its magnitude or one component."""
    values = f.at_step(step).values if f.is_time_series else f.values
    if values.ndim == 1:
        return values
    if component in ("", "magnitude"):
        return np.linalg.norm(values, axis=1)
    names = component_names(f)[1:]
    if component not in names:
        raise InputError("unknown component", field=f.name, value=component, expected=f"one of magnitude, {', '.join(names)}")
    return values[:, names.index(component)]


def scalar_range(f: Field, component: str = "") -> tuple[float, float]:
    """The smallest and largest value :func:`scalar_values` gives over every time step: one colour
    range for a whole transient run.

    Examples
    --------
    >>> import numpy as np
    >>> from engine.fields import Field
    >>> T = Field("T", np.array([[0., 1.], [2., 5.]]), times=np.array([0., 1.]))
    >>> scalar_range(T), scalar_range(T.at_step(0))
    ((0.0, 5.0), (0.0, 1.0))
    """
    steps = range(len(f.times)) if f.is_time_series else [-1]
    values = [scalar_values(f, component, step=step) for step in steps]
    return float(min(v.min() for v in values)), float(max(v.max() for v in values))


@dataclass(frozen=True, eq=False)
class MeshSurface:
    """What VTK draws of a mesh: the outside of its domain cells (a 2D mesh: all of them), with
    the mesh point and domain cell behind each of its points and cells.

    Extracting it is the slow part of drawing a big mesh (VTK does it on every change of the data
    otherwise), so it is built once, where it cannot hold up a window, and coloured by any field
    at the cost of an index. Build it with :func:`mesh_surface`.
    """

    mesh: Mesh
    grid: pv.PolyData  # geometry only; ``coloured`` attaches data to shallow copies
    point_ids: np.ndarray
    cell_ids: np.ndarray

    def coloured(self, name: str, values: np.ndarray, association: str = "point", *, offset: np.ndarray | None = None) -> pv.PolyData:
        """A shallow copy of the surface with ``values`` (one per mesh point, or per domain cell)
        attached as ``name``, and ``CELL_IDS``; its points moved by ``offset`` (one 3-vector per
        mesh point) when given, their places on the mesh kept as ``MESH_POINTS``."""
        import pyvista as pv

        grid = self.grid.copy(deep=False)
        if association == "point":
            grid.point_data[name] = np.asarray(values)[self.point_ids]
        else:
            grid.cell_data[name] = np.asarray(values)[self.cell_ids]
        grid.cell_data[CELL_IDS] = self.cell_ids  # what a pick on the copy reads back (see picked_point)
        if offset is not None:  # new points: the copy shares the surface's own with every other copy
            grid.point_data[MESH_POINTS] = self.grid.points
            grid.SetPoints(pv.vtk_points(self.grid.points + np.asarray(offset)[self.point_ids]))
        return grid


def mesh_surface(mesh: Mesh) -> MeshSurface:
    """The surface VTK draws of ``mesh``, as its own mapper would extract it (quadratic faces
    split into linear pieces through their mid-edge nodes).

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> cube = build_mesh("box", size=0.5)
    >>> surface = mesh_surface(cube)
    >>> surface.grid.n_cells < sum(len(c) for c in cube.domain_cells.values()), bool((surface.point_ids < cube.n_points).all())
    (True, True)
    """
    grid = to_grid(mesh)
    # Index arrays ride through the filter: VTK's own id arrays are garbled for quadratic cells.
    grid.point_data["point_ids"] = np.arange(grid.n_points, dtype=float)
    grid.cell_data["cell_ids"] = np.arange(grid.n_cells, dtype=float)
    surface = grid.extract_surface(pass_pointid=False, pass_cellid=False, algorithm="dataset_surface")
    point_ids = np.rint(surface.point_data.pop("point_ids")).astype(np.int64)
    cell_ids = np.rint(surface.cell_data.pop("cell_ids")).astype(np.int64)
    return MeshSurface(mesh, surface, point_ids, cell_ids)


@dataclass(frozen=True, eq=False)
class PointReading:
    """What a mesh holds at one of its points: the domain cell around it, the corner nodes and
    linear weights that interpolate there (those of :func:`engine.mesh.locate.interpolate_at_points`)
    and the node of the cell nearest the point. Build it with :func:`read_point`."""

    point: np.ndarray  # (3,), on the mesh itself (not warped)
    cell: int
    node: int
    nodes: np.ndarray
    weights: np.ndarray

    def value(self, values: np.ndarray, association: str = "point") -> np.ndarray:
        """``values`` (one row per mesh point, or per domain cell) at the point."""
        values = np.asarray(values)
        return values[self.cell] if association == "cell" else self.weights @ values[self.nodes]


def read_point(mesh: Mesh, cell: int, point: np.ndarray) -> PointReading:
    """What ``mesh`` holds at ``point``, known to lie in (or on) domain cell ``cell``: no search.

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> from engine.mesh.locate import locate_points
    >>> square = build_mesh("unit_square", size=0.25)
    >>> reading = read_point(square, int(locate_points(square, [[0.3, 0.4]])[0]), [0.3, 0.4])
    >>> round(float(reading.value(square.points.sum(axis=1))), 12)   # x + y there
    0.7
    """
    point = np.asarray(point, dtype=float)
    point = np.pad(point, (0, 3 - len(point)))
    nodes, weights = weights_in_cell(mesh, cell, point)
    around = cell_nodes(mesh, cell)[1]
    nearest = int(around[np.argmin(np.linalg.norm(mesh.points3d[around] - point, axis=1))])
    return PointReading(point, int(cell), nearest, nodes, weights)


def picked_point(grid: pv.DataSet, cell: int, position: np.ndarray, *, cell_ids: np.ndarray | None = None) -> tuple[int, np.ndarray]:
    """The domain cell and the point of the mesh behind ``position``, picked in cell ``cell`` of
    a grid drawn from it (one of :meth:`MeshSurface.coloured`'s or of :func:`cut_grid`'s).

    ``cell_ids`` maps the grid's cells to domain cells where it carries no ``CELL_IDS``. On a
    moved grid the point is interpolated from ``MESH_POINTS`` with the picked cell's own weights.
    """
    from vtkmodules.vtkCommonCore import reference

    domain_cell = int((grid.cell_data[CELL_IDS] if cell_ids is None else cell_ids)[cell])
    position = np.asarray(position, dtype=float)
    if MESH_POINTS not in grid.point_data:
        return domain_cell, position
    picked = grid.GetCell(cell)
    n = picked.GetNumberOfPoints()
    weights = [0.0] * n
    picked.EvaluatePosition(position, [0.0] * 3, reference(0), [0.0] * 3, reference(0.0), weights)
    ids = [picked.GetPointId(i) for i in range(n)]
    return domain_cell, np.asarray(weights) @ np.asarray(grid.point_data[MESH_POINTS])[ids]


#: The colour maps a view offers (matplotlib's names).
COLOUR_MAPS = ("viridis", "plasma", "inferno", "cividis", "coolwarm", "turbo", "gray")
#: How a view picks its colour range: what each choice means, in words.
RANGE_MODES = {
    "shown": "automatic: the data shown",
    "all steps": "automatic: over all time steps",
    "fixed": "fixed: the range typed",
}


@dataclass(frozen=True)
class ColourSettings:
    """How a view colours a field: the map, the range, log scale, contour lines and edges.

    Examples
    --------
    >>> ColourSettings(range_mode="fixed", fixed=(0.0, 2.0)).clim(shown=(0.5, 1.0), whole_run=(0.0, 3.0))
    (0.0, 2.0)
    >>> ColourSettings(range_mode="fixed", fixed=(2.0, 1.0))
    Traceback (most recent call last):
    ...
    engine.errors.InputError: colours.fixed: the range is empty: got (2.0, 1.0); expected min < max, both finite
    """

    cmap: str = "viridis"
    range_mode: str = "all steps"
    fixed: tuple[float, float] | None = None  # (min, max) for range_mode "fixed"
    log: bool = False
    contours: bool = False
    levels: int = 8
    edges: bool = False

    def __post_init__(self) -> None:
        if self.cmap not in COLOUR_MAPS:
            raise InputError("unknown colour map", field="colours.cmap", value=self.cmap, expected=f"one of {', '.join(COLOUR_MAPS)}")
        if self.range_mode not in RANGE_MODES:
            raise InputError("unknown range mode", field="colours.range_mode", value=self.range_mode, expected=f"one of {', '.join(RANGE_MODES)}")
        if self.range_mode == "fixed" or self.fixed is not None:
            lo, hi = self.fixed if self.fixed is not None and len(self.fixed) == 2 else (np.nan, np.nan)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise InputError("the range is empty", field="colours.fixed", value=self.fixed, expected="min < max, both finite")
        if not 1 <= self.levels <= 50:
            raise InputError("too many or too few contour levels", field="colours.levels", value=self.levels, expected="1 to 50")

    def clim(self, *, shown: tuple[float, float], whole_run: tuple[float, float]) -> tuple[float, float]:
        """The colour range: of the values shown, of every time step, or the one typed."""
        lo, hi = {"shown": shown, "all steps": whole_run, "fixed": self.fixed}[self.range_mode]
        return float(lo), float(hi)


def log_refusal(clim: tuple[float, float], what: str) -> str | None:
    """Why a log colour scale cannot show the range ``clim`` of ``what``; None when it can."""
    if clim[0] > 0:
        return None
    return (f"Log scale refused: the colour range of {what} starts at {clim[0]:.4g}, and a log scale needs values above 0. "
            "Type a fixed range above 0, or pick another field.")


def contour_levels(clim: tuple[float, float], n: int, *, log: bool = False) -> np.ndarray:
    """``n`` contour values evenly spaced inside ``clim`` (evenly in the logarithm for a log scale).

    Examples
    --------
    >>> contour_levels((0.0, 1.0), 4).round(9).tolist()
    [0.2, 0.4, 0.6, 0.8]
    >>> contour_levels((1.0, 1000.0), 2, log=True).round(9).tolist()
    [10.0, 100.0]
    """
    lo, hi = clim
    spaced = np.geomspace if log and lo > 0 else np.linspace
    return spaced(lo, hi, n + 2)[1:-1]


#: What a plane does to a 3D result: nothing, a slice along it, or a clip at it.
CUT_MODES = ("off", "slice", "clip")


@dataclass(frozen=True)
class PlaneCut:
    """A plane through a 3D result and what it does: ``"slice"`` shows the field on the plane,
    ``"clip"`` keeps the part behind it (against the normal), or, with ``flip``, the part in
    front. The normal is kept of unit length.

    Examples
    --------
    >>> import numpy as np
    >>> cut = PlaneCut("slice", normal=(0.0, 0.0, 2.0)).at(0.25, np.zeros(3), np.ones(3))
    >>> cut.normal, cut.origin
    ((0.0, 0.0, 1.0), (0.5, 0.5, 0.25))
    """

    mode: str = "off"
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    normal: tuple[float, float, float] = (1.0, 0.0, 0.0)
    flip: bool = False

    def __post_init__(self) -> None:
        if self.mode not in CUT_MODES:
            raise InputError("unknown cut", field="cut.mode", value=self.mode, expected=f"one of {', '.join(CUT_MODES)}")
        origin, normal = (np.asarray(v, dtype=float).ravel() for v in (self.origin, self.normal))
        if origin.shape != (3,) or not np.isfinite(origin).all():
            raise InputError("the plane's origin is not a point", field="cut.origin", value=self.origin, expected="three finite numbers x, y, z")
        length = float(np.linalg.norm(normal)) if normal.shape == (3,) and np.isfinite(normal).all() else 0.0
        if length == 0.0:
            raise InputError("the plane's normal is not a direction", field="cut.normal", value=self.normal, expected="three finite numbers, not all 0")
        object.__setattr__(self, "origin", tuple(float(v) for v in origin))
        object.__setattr__(self, "normal", tuple(float(v) for v in normal / length))

    def _span(self, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float, np.ndarray]:
        """The box [lo, hi] across the plane: its first and last offset along the normal, and its centre."""
        corners = np.array(list(itertools.product(*zip(lo, hi))), dtype=float)
        along = corners @ np.asarray(self.normal)
        return float(along.min()), float(along.max()), corners.mean(axis=0)

    def at(self, fraction: float, lo: np.ndarray, hi: np.ndarray) -> PlaneCut:
        """The plane moved along its normal to ``fraction`` (0 to 1) of the box [lo, hi] across
        it, through the box's centre."""
        first, last, centre = self._span(lo, hi)
        normal = np.asarray(self.normal)
        origin = centre + (first + float(np.clip(fraction, 0.0, 1.0)) * (last - first) - centre @ normal) * normal
        return replace(self, origin=tuple(origin))

    def fraction(self, lo: np.ndarray, hi: np.ndarray) -> float:
        """Where the plane lies across the box [lo, hi], from 0 to 1 (the inverse of :meth:`at`)."""
        first, last, _ = self._span(lo, hi)
        return float(np.clip((np.asarray(self.origin) @ np.asarray(self.normal) - first) / ((last - first) or 1.0), 0.0, 1.0))


def volume_grid(mesh: Mesh, name: str, values: np.ndarray, association: str = "point", *, offset: np.ndarray | None = None) -> pv.UnstructuredGrid:
    """The domain cells with ``values`` as ``name`` and ``CELL_IDS``, moved by ``offset`` (one
    3-vector per point; their places on the mesh kept as ``MESH_POINTS``): what :func:`cut_grid` cuts."""
    grid = to_grid(mesh)
    (grid.point_data if association == "point" else grid.cell_data)[name] = np.asarray(values)
    grid.cell_data[CELL_IDS] = np.arange(grid.n_cells)
    if offset is not None:
        grid.point_data[MESH_POINTS] = mesh.points3d
        grid.points = mesh.points3d + np.asarray(offset)
    return grid


def cut_grid(volume: pv.UnstructuredGrid, cut: PlaneCut) -> pv.DataSet:
    """The slice of ``volume`` (from :func:`volume_grid`) along the plane, or the part the clip keeps."""
    if cut.mode == "slice":
        return volume.slice(normal=cut.normal, origin=cut.origin)
    if cut.mode == "clip":
        return volume.clip(normal=cut.normal, origin=cut.origin, invert=not cut.flip)
    raise InputError("nothing to cut", field="cut.mode", value=cut.mode, expected="slice or clip")


# -- what a view shows of a result, by its physics ------------------------------------------------

#: The unit of a vector output that moves the mesh (a displacement): only a length can be added to
#: the points' coordinates.
_LENGTH_UNIT = "m"


def physics_of(result: Result) -> PhysicsSpec | None:
    """The physics a result answers: that of the case it records, else the registered physics
    whose output fields it has most of (a surrogate's answer records no case); None when no
    registered physics gives any of its fields.

    Examples
    --------
    >>> import numpy as np
    >>> from engine.result import Provenance, Result
    >>> mesh = Mesh(np.array([[0., 0.], [1., 0.], [0., 1.]]), {"triangle": np.array([[0, 1, 2]])})
    >>> physics_of(Result(mesh, {"T": Field("T", np.zeros(3))}, Provenance("x"))).kind
    'heat'
    """
    import tomllib

    from engine.physics.registry import physics_specs

    specs = physics_specs()
    try:
        kind = tomllib.loads(result.provenance.case or "")["physics"]["kind"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError):
        kind = None
    if kind in specs:
        return specs[kind]
    shared = {k: sum(f.name in result.fields for f in spec.outputs) for k, spec in specs.items()}
    best = max(shared, key=shared.get, default=None)  # (the first of a tie: built-in physics come first)
    return specs[best] if best is not None and shared[best] else None


def _outputs(result: Result) -> dict[str, str]:
    """Output field name -> its shape ("scalar", "vector", "tensor"), in the physics' order."""
    spec = physics_of(result)
    return {} if spec is None else {f.name: f.shape for f in spec.outputs}


def shown_fields(result: Result) -> list[str]:
    """The fields a view can colour by: the physics' outputs in its order, then any others."""
    drawable = [n for n, f in result.fields.items() if f.association in ("point", "cell")]
    outputs = [n for n in _outputs(result) if n in drawable]
    return outputs + [n for n in drawable if n not in outputs]


def primary_field(result: Result) -> str:
    """What a view shows of a result first: its physics' first output ("" for a result without fields).

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> from engine.result import Provenance, Result
    >>> mesh = build_mesh("unit_square", size=0.5)
    >>> zeros = lambda k: np.zeros((mesh.n_points, k))
    >>> primary_field(Result(mesh, {"pressure": Field("pressure", zeros(1)[:, 0]), "velocity": Field("velocity", zeros(2))}, Provenance("x")))
    'velocity'
    """
    names = shown_fields(result)
    return names[0] if names else ""


def warp_field(result: Result) -> str | None:
    """The point field that moves the mesh when drawn deformed: its physics' vector output in
    metres (elasticity's displacement; never a velocity or a flux); None when it has none."""
    spec = physics_of(result)
    for out in spec.outputs if spec is not None else ():
        f = result.fields.get(out.name)
        if out.shape == "vector" and out.unit == _LENGTH_UNIT and f is not None and f.association == "point" and f.n_components > 1:
            return out.name
    return None


def arrow_fields(result: Result) -> list[str]:
    """The point fields shown with arrows: the physics' vector outputs (a velocity, a flux), but
    not the one the mesh is deformed by."""
    warp = warp_field(result)
    return [name for name, shape in _outputs(result).items()
            if shape == "vector" and name != warp and name in result.fields
            and result.fields[name].association == "point" and result.fields[name].n_components in (2, 3)]


#: At most this many arrows: enough to read a flow, few enough to draw each step of a big mesh at once.
GLYPH_COUNT = 1500
#: At most this many arrows along the model's longest side: more would be too small to read in a
#: view that fits that side (a long channel gets fewer arrows than a square of the same area).
ARROWS_ALONG = 36
#: The longest arrow (the largest vector over every step) as a multiple of the arrows' spacing.
_ARROW_LENGTH = 1.3
#: Half an arrow's width at its base, as a fraction of its length.
_ARROW_WIDTH = 0.18


def _spread_cells(points: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The cell of a grid over the bounding box of ``points`` that each point lies in, and the
    centre of that cell: cells near square, as small as keeps the grid to at most ``count`` of them
    and ``ARROWS_ALONG`` along the longest side."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    extent = hi - lo
    used = extent > 1e-12 * float(extent.max(initial=0.0))
    if not used.any():
        return np.zeros(len(points), dtype=np.int64), np.broadcast_to(lo, points.shape)
    size = max(float(np.prod(extent[used]) / count) ** (1.0 / used.sum()), float(extent.max()) / ARROWS_ALONG)

    def shape_for(size: float) -> np.ndarray:  # whole cells along each side (no sliver at the far edge)
        return np.where(used, np.maximum(np.round(extent / size), 1), 1).astype(np.int64)

    while np.prod(shape_for(size)) > count:
        size *= 1.01
    shape = shape_for(size)
    cell = np.where(used, extent / shape, 1.0)
    index = np.minimum(((points - lo) / cell).astype(np.int64), shape - 1)
    return np.ravel_multi_index(index.T, shape), lo + (index + 0.5) * cell


def spread_points(points: np.ndarray, count: int = GLYPH_COUNT) -> np.ndarray:
    """Indices of at most ``count`` of ``points``, spread evenly over them whatever the mesh's
    grading: the point nearest the centre of each cell of a uniform grid that holds any.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> crowded = np.concatenate([rng.random((5000, 2)) * 0.1, rng.random((50, 2))])  # a corner refined
    >>> ids = spread_points(crowded, 100)
    >>> len(ids) <= 100, bool((crowded[ids] > 0.1).any(axis=1).mean() > 0.5)
    (True, True)
    """
    points = np.asarray(points, dtype=float)
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    cells, centres = _spread_cells(points, max(int(count), 1))
    distance = np.linalg.norm(points - centres, axis=1)
    order = np.lexsort((distance, cells))
    _, first = np.unique(cells[order], return_index=True)
    return np.sort(order[first])


@dataclass(frozen=True, eq=False)
class VectorGlyphs:
    """Arrows of one vector field at a spread-out subset of the mesh's points, one length scale
    for every time step (as the colour range is one over the whole run). Build it with
    :func:`vector_glyphs`; :meth:`arrows` makes the arrows of one step."""

    mesh: Mesh
    point_ids: np.ndarray
    scale: float  # the drawn length of a vector of length 1

    def arrows(self, f: Field, *, step: int = -1, offset: np.ndarray | None = None) -> pv.PolyData:
        """The arrows of ``f`` at step ``step``, centred on their points (moved by ``offset``, one
        3-vector per mesh point, when the mesh is drawn deformed): one flat triangle each on a 2D
        mesh (its corners in the order base, base, tip), a cone on a shaft on a 3D one."""
        import pyvista as pv

        values = f.at_step(step).values if f.is_time_series else f.values
        vectors = np.nan_to_num(np.asarray(values, dtype=float)[self.point_ids])
        vectors = np.column_stack([vectors, np.zeros((len(vectors), 3 - vectors.shape[1]))]) if vectors.shape[1] < 3 else vectors
        points = self.mesh.points3d[self.point_ids] + (0.0 if offset is None else np.asarray(offset)[self.point_ids])
        if self.mesh.gdim == 2:  # made here: a tenth of the time of VTK's glyph filter, which a Play pays every step
            along = self.scale * vectors
            across = np.column_stack([-along[:, 1], along[:, 0], np.zeros(len(along))]) * _ARROW_WIDTH
            corners = np.stack([points - along / 2 - across, points - along / 2 + across, points + along / 2], axis=1).reshape(-1, 3)
            faces = np.column_stack([np.full(len(points), 3), np.arange(3 * len(points)).reshape(-1, 3)]).ravel()
            return pv.PolyData(corners, faces=faces)
        seeds = pv.PolyData(points)
        seeds.point_data["vectors"] = vectors
        geom = pv.Arrow(start=(-0.5, 0.0, 0.0), tip_resolution=8, shaft_resolution=8)
        return seeds.glyph(orient="vectors", scale="vectors", factor=self.scale, geom=geom)


def _spacing(points: np.ndarray) -> float:
    """How far apart ``points`` typically lie: the median distance to the nearest other (the
    grid's cell size when the mesh is finer than the grid, the mesh's own spacing when coarser)."""
    from scipy.spatial import cKDTree

    if len(points) < 2:
        return 1.0
    distance = cKDTree(points).query(points, k=2)[0][:, 1]
    return float(np.median(distance)) or 1.0


def arrow_points(mesh: Mesh, *, count: int = GLYPH_COUNT, candidates: np.ndarray | None = None) -> np.ndarray:
    """The mesh points arrows are drawn at: at most ``count``, spread over ``candidates`` (mesh
    point numbers; default all of them; of a 3D mesh pass its surface's, the points one sees)."""
    ids = np.arange(mesh.n_points) if candidates is None else np.unique(np.asarray(candidates, dtype=np.int64))
    return ids[spread_points(mesh.points3d[ids], count)]


def vector_glyphs(mesh: Mesh, *fields: Field, point_ids: np.ndarray | None = None, count: int = GLYPH_COUNT,
                  candidates: np.ndarray | None = None) -> VectorGlyphs:
    """Where :class:`VectorGlyphs` draws the arrows of ``fields`` (point vector fields on
    ``mesh``: one, or two answers that share one length scale) and how long: at ``point_ids``
    (default :func:`arrow_points` of ``count`` and ``candidates``), the longest arrow of any of
    them at any step a little over the arrows' spacing.

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> mesh = build_mesh("unit_square", size=0.02)
    >>> glyphs = vector_glyphs(mesh, Field("v", np.column_stack([mesh.points[:, 1], -mesh.points[:, 0]])), count=400)
    >>> len(glyphs.point_ids) <= 400 < mesh.n_points, glyphs.arrows(Field("v", np.ones((mesh.n_points, 2)))).n_cells == len(glyphs.point_ids)
    (True, True)
    """
    for f in fields:
        if f.association != "point" or f.n_components not in (2, 3) or f.n_values != mesh.n_points:
            raise InputError("arrows need a vector at each point of the mesh", field=f.name, value=f"{f.association}, {f.n_components} components",
                             expected="a point field of 2 or 3 components")
    chosen = arrow_points(mesh, count=count, candidates=candidates) if point_ids is None else np.asarray(point_ids, dtype=np.int64)
    largest = 0.0
    for f in fields:
        if len(chosen):  # (over every step of a series: values are (steps, points, components))
            largest = max(largest, float(np.nanmax(np.linalg.norm(np.asarray(f.values, dtype=float)[..., chosen, :], axis=-1), initial=0.0)))
    return VectorGlyphs(mesh, chosen, _ARROW_LENGTH * _spacing(mesh.points3d[chosen]) / largest if largest > 0 else 0.0)
