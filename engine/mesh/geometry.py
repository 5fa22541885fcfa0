"""Built-in parametric geometries, meshed with gmsh (OpenCASCADE kernel, no GUI).

Each geometry is a named recipe (``GEOMETRIES``) with numeric parameters; ``build_mesh`` checks
the parameters and options first (every refusal is an ``InputError`` naming the field), then
builds the shape in a locked gmsh session and returns a ``Mesh`` whose regions are the
geometry's physical groups: the domain (``"domain"``, or ``"plate"`` for the plate with a hole)
and each named boundary.

All lengths are in "length units": whatever unit the case uses (metres, millimetres...); the
geometry does not care as long as the case is consistent. Angles are in degrees.

Boundaries are found by where they lie (points sampled along each boundary curve or surface are
tested against the line, circle or ellipse they must be on), never by the tag order gmsh or
OpenCASCADE happen to give, which changes between versions and after boolean operations.

=========================  ==========================================  ==================
geometry                   boundaries                                  subdomain
=========================  ==========================================  ==================
``unit_square``            left, right, bottom, top                    domain
``rectangle``              left, right, bottom, top                    domain
``l_shape``                left, bottom, right, top, notch             domain
``plate_with_hole``        left, right, bottom, top, hole;             plate
                           quarter=1: symmetry_x, symmetry_y, right,
                           top, hole
``disk``                   outer                                       domain
``annulus``                inner, outer                                domain
``channel_with_obstacle``  inlet, outlet, walls, obstacle              domain
``elliptic_ring_sector``   inner, outer, start, end                    domain
``box`` (3D)               xmin, xmax, ymin, ymax, zmin, zmax          domain
=========================  ==========================================  ==================
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import InputError, MeshError
from engine.limits import LIMITS
from engine.mesh.gmsh_model import gmsh_session, mesh_from_gmsh_model
from engine.mesh.isolation import run_isolated
from engine.mesh.mesh import Mesh

__all__ = ["Parameter", "Geometry", "Refinement", "Shape", "GEOMETRIES", "build_mesh"]

#: Cell names accepted per dimension; the first is the default.
_CELLS = {2: ("triangle", "quad"), 3: ("tetra", "hexahedron")}
#: A guard against sizes that would keep gmsh busy for hours: (characteristic length / size)
#: to the power of the dimension may not exceed this (about that many cells or a few times it).


@dataclass(frozen=True)
class Parameter:
    """One numeric parameter of a geometry.

    Attributes
    ----------
    name
        The key in ``build_mesh(kind, parameters={name: value})``.
    default
        The value used when the parameter is not given.
    description
        One line for forms and ``--help`` texts, with the unit.
    minimum
        A strict lower bound (the value must be greater), or ``None`` for none.
    """

    name: str
    default: float
    description: str
    minimum: float | None = None


@dataclass(frozen=True)
class Refinement:
    """Local mesh refinement around a boundary region or a point.

    gmsh Distance + Threshold fields for a region, a Ball field for a point.

    The element size is ``size`` at the target and grows linearly with the distance from it,
    reaching the global size at ``distance``. Give exactly one of ``region`` and ``point``;
    ``build_mesh`` checks that (and that the region exists) before meshing.

    Attributes
    ----------
    size
        Element size at the target, in length units.
    distance
        Distance from the target over which the size grows back to the global size.
    region
        The name of a boundary region of the geometry (``"hole"``, ``"obstacle"``).
    point
        A point ``(x, y)`` or ``(x, y, z)``; it need not lie in the domain.
    """

    size: float
    distance: float
    region: str | None = None
    point: tuple[float, ...] | None = None


# -- the shape a builder leaves in the gmsh model -----------------------------------------------

# A predicate on points sampled along one boundary entity, shape (k, 3): is it this boundary?
_Rule = Callable[[np.ndarray], bool]


@dataclass(frozen=True)
class _Recipe:
    """What a geometry's builder hands back: boundary rules and the subdomain name.

    The builder has already created and synchronised the shape; ``rules`` name the boundaries
    in the order they are tried (the first rule that accepts an entity's sample points wins).
    """

    rules: tuple[tuple[str, _Rule], ...]
    subdomain: str = "domain"


#: OpenCASCADE builds to an absolute precision of 1e-7 length units and about 1e-15 relative to
#: the largest coordinate; below these bounds it fails ("command not done"), loses boundaries or
#: leaves gmsh a sliver to mesh. A feature (a side, a radius, a ring's width, a gap between a
#: hole and an edge) must be at least FEATURE_RATIO times the geometry's extent and at least
#: SMALLEST_FEATURE; the extent at most LARGEST_EXTENT. A smaller or larger model is fine in
#: another length unit.
FEATURE_RATIO = 1e-6
SMALLEST_FEATURE = 1e-6
LARGEST_EXTENT = 1e9


@dataclass(frozen=True)
class Shape:
    """What is known of a geometry from its parameters alone, before gmsh builds it.

    Used to refuse degenerate parameters and to estimate the mesh's cells (``engine.work``).

    Attributes
    ----------
    extent
        The largest coordinate or side: what OpenCASCADE's relative precision is relative to.
    measure
        The domain's area (2D) or volume (3D).
    boundaries
        Each boundary region's length (2D) or area (3D).
    features
        ``(parameter, length, what)`` for each length that must stay resolvable: the parameter
        a refusal names, the length, and words for it ("a ring width").
    """

    extent: float
    measure: float
    boundaries: Mapping[str, float]
    features: tuple[tuple[str, float, str], ...] = ()


@dataclass(frozen=True)
class Geometry:
    """A built-in parametric geometry.

    Attributes
    ----------
    name
        The key in ``GEOMETRIES`` and the ``kind`` of ``build_mesh``.
    description
        One sentence for menus and help texts.
    dim
        2 (a surface in the xy-plane) or 3 (a volume).
    parameters
        Its parameters with defaults, in the order a form shows them.
    boundaries
        Every boundary region name it can create. Some depend on the parameters (the quarter
        plate has symmetry edges instead of left and bottom): ``boundary_names(parameters)``
        gives those of one choice of parameters.
    subdomains
        The name(s) of the domain region(s).
    """

    name: str
    description: str
    dim: int
    parameters: tuple[Parameter, ...]
    boundaries: tuple[str, ...]
    subdomains: tuple[str, ...]
    # Private recipe: builder(gmsh, values) -> _Recipe; check(values) raises InputError for an
    # inconsistent combination; scale(values) the characteristic length; names(values) the
    # boundaries for those values; structured: whether a transfinite mesh is possible;
    # shape(values) the Shape the checks before gmsh use.
    _builder: Callable[[Any, dict[str, float]], _Recipe] = field(repr=False, compare=False, default=None)
    _check: Callable[[dict[str, float]], None] | None = field(repr=False, compare=False, default=None)
    _scale: Callable[[dict[str, float]], float] = field(repr=False, compare=False, default=lambda p: 1.0)
    _names: Callable[[dict[str, float]], tuple[str, ...]] | None = field(repr=False, compare=False, default=None)
    _structured: bool = field(repr=False, compare=False, default=False)
    _shape: Callable[[dict[str, float]], Shape] | None = field(repr=False, compare=False, default=None)

    @property
    def defaults(self) -> dict[str, float]:
        """Parameter name -> default value."""
        return {p.name: p.default for p in self.parameters}

    @property
    def supports_structured(self) -> bool:
        """Whether ``build_mesh(..., structured=True)`` is possible for this geometry."""
        return self._structured

    def check_parameters(self, parameters: Mapping[str, float] | None = None) -> dict[str, float]:
        """All parameter values (defaults filled in), or an ``InputError`` for a bad one.

        Checks names, that values are finite numbers, each ``minimum``, the geometry's own
        consistency rules (a hole smaller than the plate, inner radius below outer...) and that
        no feature is too small or too large for OpenCASCADE to build (``FEATURE_RATIO``): a
        degenerate shape is refused here rather than failing or spinning in gmsh. Needs no gmsh,
        so a form can call it on every edit.
        """
        values = self.defaults
        known = ", ".join(values) if values else "none (this geometry has no parameters)"
        if parameters is not None and not isinstance(parameters, Mapping):
            raise InputError(
                "parameters are not a table",
                field="geometry.parameters",
                value=parameters,
                expected=f"a mapping of names ({known}) to numbers",
            )
        for name, value in (parameters or {}).items():
            where = f"geometry.parameters.{name}"
            if name not in values:
                raise InputError(
                    f"unknown parameter for geometry {self.name!r}", field=where, value=name, expected=f"one of {known}"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise InputError("parameter is not a number", field=where, value=value, expected="a finite number")
            if not math.isfinite(float(value)):
                raise InputError("parameter is not finite", field=where, value=value, expected="a finite number")
            values[name] = float(value)
        for p in self.parameters:
            if p.minimum is not None and not values[p.name] > p.minimum:
                raise InputError(
                    "parameter is too small",
                    field=f"geometry.parameters.{p.name}",
                    value=values[p.name],
                    expected=f"a value greater than {p.minimum:g} ({p.description})",
                )
        if self._check is not None:
            self._check(values)
        if self._shape is not None:
            _check_features(self._shape(values), values)
        return values

    def shape(self, parameters: Mapping[str, float] | None = None) -> Shape:
        """The ``Shape`` (extent, area or volume, boundary measures) these parameters give.

        Examples
        --------
        >>> ring = GEOMETRIES["annulus"].shape({"inner_radius": 0.5, "outer_radius": 1.0})
        >>> round(ring.measure, 4), round(ring.boundaries["inner"], 4)
        (2.3562, 3.1416)
        """
        values = self.check_parameters(parameters)
        if self._shape is None:  # a geometry that does not say: a square of its characteristic length
            side = self._scale(values)
            return Shape(side, side**self.dim, {name: side ** (self.dim - 1) for name in self.boundary_names(values)})
        return self._shape(values)

    def boundary_names(self, parameters: Mapping[str, float] | None = None) -> tuple[str, ...]:
        """The boundary region names a mesh built with these parameters has."""
        values = self.check_parameters(parameters)
        return self._names(values) if self._names is not None else self.boundaries

    def characteristic_length(self, parameters: Mapping[str, float] | None = None) -> float:
        """The length the default element size is 1/20 of (see each geometry's description)."""
        return self._scale(self.check_parameters(parameters))


# -- small helpers -------------------------------------------------------------------------------


def _check_features(shape: Shape, values: Mapping[str, float]) -> None:
    """Refuse an extent or a feature OpenCASCADE cannot build (see ``FEATURE_RATIO``)."""
    if not shape.extent <= LARGEST_EXTENT:
        name = max(values, key=lambda n: abs(values[n]))
        raise _bad(
            name,
            values[name],
            f"a geometry within {LARGEST_EXTENT:g} length units of the origin (it reaches {shape.extent:.3g}): use a larger length unit",
            problem="geometry too large to build",
        )
    smallest = max(SMALLEST_FEATURE, FEATURE_RATIO * shape.extent)
    for name, length, what in shape.features:
        if not length >= smallest:
            raise _bad(
                name,
                values[name],
                f"{what} of at least {smallest:.3g} length units, not {length:.3g} (OpenCASCADE cannot build a feature under "
                f"{FEATURE_RATIO:g} of the geometry's extent, {shape.extent:.3g}, or under {SMALLEST_FEATURE:g})",
                problem="degenerate geometry: a feature is too small to build",
            )


def _bad(name: str, value: float, expected: str, problem: str = "inconsistent geometry parameters") -> InputError:
    return InputError(problem, field=f"geometry.parameters.{name}", value=value, expected=expected)


def _on_x(x: float, tol: float) -> _Rule:
    return lambda pts: bool(np.all(np.abs(pts[:, 0] - x) <= tol))


def _on_y(y: float, tol: float) -> _Rule:
    return lambda pts: bool(np.all(np.abs(pts[:, 1] - y) <= tol))


def _on_z(z: float, tol: float) -> _Rule:
    return lambda pts: bool(np.all(np.abs(pts[:, 2] - z) <= tol))


def _on_ellipse(cx: float, cy: float, a: float, b: float, tol: float) -> _Rule:
    # Distance-like residual: for a point near the ellipse, |sqrt(q) - 1| * min(a, b) is at most
    # its distance to the curve, so tol keeps the meaning of a length.
    def rule(pts: np.ndarray) -> bool:
        q = ((pts[:, 0] - cx) / a) ** 2 + ((pts[:, 1] - cy) / b) ** 2
        return bool(np.all(np.abs(np.sqrt(q) - 1.0) * min(a, b) <= tol))

    return rule


def _on_circle(cx: float, cy: float, r: float, tol: float) -> _Rule:
    return _on_ellipse(cx, cy, r, r, tol)


def _on_ray(angle: float, tol: float) -> _Rule:
    """Points on the half-line from the origin at ``angle`` (radians)."""
    d = np.array([math.cos(angle), math.sin(angle)])

    def rule(pts: np.ndarray) -> bool:
        xy = pts[:, :2]
        across = xy[:, 0] * d[1] - xy[:, 1] * d[0]
        along = xy @ d
        return bool(np.all(np.abs(across) <= tol) and np.all(along >= -tol))

    return rule


def _tol(scale: float) -> float:
    # OpenCASCADE builds these shapes to ~1e-12 relative; 1e-7 leaves room for boolean ops.
    return 1e-7 * scale


def _polygon(occ, points: Sequence[tuple[float, float]]) -> int:
    """A plane surface bounded by the closed polygon through ``points``."""
    tags = [occ.addPoint(x, y, 0.0) for x, y in points]
    lines = [occ.addLine(tags[i], tags[(i + 1) % len(tags)]) for i in range(len(tags))]
    return occ.addPlaneSurface([occ.addCurveLoop(lines)])


# -- the geometries ------------------------------------------------------------------------------


def _rectangle_builder(gmsh, p: dict[str, float]) -> _Recipe:
    x0, y0, w, h = p["x0"], p["y0"], p["width"], p["height"]
    gmsh.model.occ.addRectangle(x0, y0, 0.0, w, h)
    gmsh.model.occ.synchronize()
    tol = _tol(max(w, h, abs(x0), abs(y0)))
    return _Recipe(
        (
            ("left", _on_x(x0, tol)),
            ("right", _on_x(x0 + w, tol)),
            ("bottom", _on_y(y0, tol)),
            ("top", _on_y(y0 + h, tol)),
        )
    )


def _unit_square_builder(gmsh, p: dict[str, float]) -> _Recipe:
    return _rectangle_builder(gmsh, {"x0": 0.0, "y0": 0.0, "width": 1.0, "height": 1.0})


def _l_shape_check(p: dict[str, float]) -> None:
    if not 0.0 < p["cut"] < 1.0:
        raise _bad("cut", p["cut"], "a fraction strictly between 0 and 1 of the side")


def _l_shape_builder(gmsh, p: dict[str, float]) -> _Recipe:
    s, c = p["size"], p["size"] * (1.0 - p["cut"])  # c: where the notch starts
    _polygon(gmsh.model.occ, [(0, 0), (s, 0), (s, c), (c, c), (c, s), (0, s)])
    gmsh.model.occ.synchronize()
    tol = _tol(s)
    # "notch" is tried before "right"/"top" only matters if c == s, which the check excludes.
    return _Recipe(
        (
            ("left", _on_x(0.0, tol)),
            ("bottom", _on_y(0.0, tol)),
            ("right", _on_x(s, tol)),
            ("top", _on_y(s, tol)),
            ("notch", lambda pts: _on_x(c, tol)(pts) or _on_y(c, tol)(pts)),
        )
    )


def _plate_check(p: dict[str, float]) -> None:
    if p["quarter"] not in (0.0, 1.0):
        raise _bad("quarter", p["quarter"], "0 (the full plate) or 1 (the quarter x >= 0, y >= 0)")
    half = min(p["width"], p["height"]) / 2.0
    if p["radius"] >= half:
        raise _bad("radius", p["radius"], f"a hole radius less than half the plate's smaller side ({half:g})")


def _plate_names(p: dict[str, float]) -> tuple[str, ...]:
    if p["quarter"] == 1.0:
        return ("symmetry_x", "symmetry_y", "right", "top", "hole")
    return ("left", "right", "bottom", "top", "hole")


def _plate_builder(gmsh, p: dict[str, float]) -> _Recipe:
    occ = gmsh.model.occ
    w, h, r = p["width"] / 2.0, p["height"] / 2.0, p["radius"]  # half sides
    if p["quarter"] == 1.0:
        plate = occ.addRectangle(0.0, 0.0, 0.0, w, h)
    else:
        plate = occ.addRectangle(-w, -h, 0.0, 2 * w, 2 * h)
    hole = occ.addDisk(0.0, 0.0, 0.0, r, r)
    occ.cut([(2, plate)], [(2, hole)])
    occ.synchronize()
    tol = _tol(max(w, h))
    # The hole first: its quarter arc touches x=0 and y=0 only at its end points, but testing it
    # first keeps every rule simple.
    if p["quarter"] == 1.0:
        rules = (
            ("hole", _on_circle(0.0, 0.0, r, tol)),
            ("symmetry_x", _on_x(0.0, tol)),
            ("symmetry_y", _on_y(0.0, tol)),
            ("right", _on_x(w, tol)),
            ("top", _on_y(h, tol)),
        )
    else:
        rules = (
            ("hole", _on_circle(0.0, 0.0, r, tol)),
            ("left", _on_x(-w, tol)),
            ("right", _on_x(w, tol)),
            ("bottom", _on_y(-h, tol)),
            ("top", _on_y(h, tol)),
        )
    return _Recipe(rules, subdomain="plate")


def _disk_builder(gmsh, p: dict[str, float]) -> _Recipe:
    r = p["radius"]
    gmsh.model.occ.addDisk(0.0, 0.0, 0.0, r, r)
    gmsh.model.occ.synchronize()
    return _Recipe((("outer", _on_circle(0.0, 0.0, r, _tol(r))),))


def _annulus_check(p: dict[str, float]) -> None:
    if p["inner_radius"] >= p["outer_radius"]:
        raise _bad("inner_radius", p["inner_radius"], f"an inner radius less than the outer radius ({p['outer_radius']:g})")


def _annulus_builder(gmsh, p: dict[str, float]) -> _Recipe:
    occ = gmsh.model.occ
    ri, ro = p["inner_radius"], p["outer_radius"]
    outer = occ.addDisk(0.0, 0.0, 0.0, ro, ro)
    inner = occ.addDisk(0.0, 0.0, 0.0, ri, ri)
    occ.cut([(2, outer)], [(2, inner)])
    occ.synchronize()
    tol = _tol(ro)
    return _Recipe((("inner", _on_circle(0.0, 0.0, ri, tol)), ("outer", _on_circle(0.0, 0.0, ro, tol))))


def _channel_check(p: dict[str, float]) -> None:
    L, H, cx, cy, r = p["length"], p["height"], p["cx"], p["cy"], p["radius"]
    if not (cx - r > 0.0 and cx + r < L):
        raise _bad("cx", cx, f"an obstacle inside the channel: radius < cx < length - radius ({r:g} < cx < {L - r:g})")
    if not (cy - r > 0.0 and cy + r < H):
        raise _bad("cy", cy, f"an obstacle inside the channel: radius < cy < height - radius ({r:g} < cy < {H - r:g})")


def _channel_builder(gmsh, p: dict[str, float]) -> _Recipe:
    occ = gmsh.model.occ
    L, H, r = p["length"], p["height"], p["radius"]
    channel = occ.addRectangle(0.0, 0.0, 0.0, L, H)
    obstacle = occ.addDisk(p["cx"], p["cy"], 0.0, r, r)
    occ.cut([(2, channel)], [(2, obstacle)])
    occ.synchronize()
    tol = _tol(L)
    return _Recipe(
        (
            ("obstacle", _on_circle(p["cx"], p["cy"], r, tol)),
            ("inlet", _on_x(0.0, tol)),
            ("outlet", _on_x(L, tol)),
            ("walls", lambda pts: _on_y(0.0, tol)(pts) or _on_y(H, tol)(pts)),
        )
    )


def _sector_check(p: dict[str, float]) -> None:
    if not -360.0 <= p["angle_start"] <= 360.0:
        raise _bad("angle_start", p["angle_start"], "a start angle between -360 and 360 degrees")
    if p["a_inner"] >= p["a_outer"]:
        raise _bad("a_inner", p["a_inner"], f"an inner x semi-axis less than the outer one ({p['a_outer']:g})")
    if p["b_inner"] >= p["b_outer"]:
        raise _bad("b_inner", p["b_inner"], f"an inner y semi-axis less than the outer one ({p['b_outer']:g})")
    sweep = p["angle_end"] - p["angle_start"]
    if not 0.0 < sweep < 360.0:
        raise _bad(
            "angle_end",
            p["angle_end"],
            f"an end angle greater than the start angle ({p['angle_start']:g}) by less than 360 degrees",
        )


def _eccentric(a: float, b: float, theta: float) -> float:
    """The ellipse parameter t of the point (a cos t, b sin t) on the ray at polar angle theta."""
    return math.atan2(a * math.sin(theta), b * math.cos(theta))


def _ellipse_arc(occ, a: float, b: float, t0: float, t1: float) -> int:
    """The arc (a cos t, b sin t), t in [t0, t1], of an origin-centred ellipse.

    OpenCASCADE wants the major radius along the ellipse's x axis; for a < b the ellipse is set
    up with its x axis along +y, where the same point has parameter t - pi/2.
    """
    if a >= b:
        return occ.addEllipse(0.0, 0.0, 0.0, a, b, angle1=t0, angle2=t1)
    half = math.pi / 2.0
    return occ.addEllipse(0.0, 0.0, 0.0, b, a, angle1=t0 - half, angle2=t1 - half, zAxis=[0, 0, 1], xAxis=[0, 1, 0])


def _sector_builder(gmsh, p: dict[str, float]) -> _Recipe:
    occ = gmsh.model.occ
    ai, bi, ao, bo = p["a_inner"], p["b_inner"], p["a_outer"], p["b_outer"]
    th0, th1 = math.radians(p["angle_start"]), math.radians(p["angle_end"])
    ends = []
    arcs = []
    for a, b in ((ai, bi), (ao, bo)):
        t0 = _eccentric(a, b, th0)
        # Unwrap so the arc runs counter-clockwise from start to end (sweep < 360 degrees).
        t1 = t0 + (_eccentric(a, b, th1) - t0) % (2.0 * math.pi)
        arcs.append(_ellipse_arc(occ, a, b, t0, t1))
        ends.append([(a * math.cos(t), b * math.sin(t)) for t in (t0, t1)])
    # Straight radial edges between the arc ends; the curve loop joins coincident end points.
    starts = [occ.addPoint(*ends[k][0], 0.0) for k in (0, 1)]
    stops = [occ.addPoint(*ends[k][1], 0.0) for k in (0, 1)]
    start_edge = occ.addLine(starts[0], starts[1])
    end_edge = occ.addLine(stops[0], stops[1])
    loop = occ.addCurveLoop([start_edge, arcs[1], end_edge, arcs[0]])
    occ.addPlaneSurface([loop])
    occ.synchronize()
    tol = _tol(max(ao, bo))
    return _Recipe(
        (
            ("inner", _on_ellipse(0.0, 0.0, ai, bi, tol)),
            ("outer", _on_ellipse(0.0, 0.0, ao, bo, tol)),
            ("start", _on_ray(th0, tol)),
            ("end", _on_ray(th1, tol)),
        )
    )


def _box_builder(gmsh, p: dict[str, float]) -> _Recipe:
    lx, ly, lz = p["lx"], p["ly"], p["lz"]
    gmsh.model.occ.addBox(0.0, 0.0, 0.0, lx, ly, lz)
    gmsh.model.occ.synchronize()
    tol = _tol(max(lx, ly, lz))
    return _Recipe(
        (
            ("xmin", _on_x(0.0, tol)),
            ("xmax", _on_x(lx, tol)),
            ("ymin", _on_y(0.0, tol)),
            ("ymax", _on_y(ly, tol)),
            ("zmin", _on_z(0.0, tol)),
            ("zmax", _on_z(lz, tol)),
        )
    )


# -- what each geometry's parameters say before gmsh (Shape) -------------------------------------


def _rectangle_shape(p: dict[str, float]) -> Shape:
    x0, y0, w, h = p["x0"], p["y0"], p["width"], p["height"]
    return Shape(
        extent=max(w, h, abs(x0), abs(y0), abs(x0 + w), abs(y0 + h)),
        measure=w * h,
        boundaries={"left": h, "right": h, "bottom": w, "top": w},
        features=(("width", w, "a width"), ("height", h, "a height")),
    )


def _unit_square_shape(p: dict[str, float]) -> Shape:
    return _rectangle_shape({"x0": 0.0, "y0": 0.0, "width": 1.0, "height": 1.0})


def _l_shape_shape(p: dict[str, float]) -> Shape:
    s, notch = p["size"], p["size"] * p["cut"]
    arm = s - notch
    return Shape(
        extent=s,
        measure=s * s - notch * notch,
        boundaries={"left": s, "bottom": s, "right": arm, "top": arm, "notch": 2.0 * notch},
        features=(("cut", notch, "a notch side (cut x size)"), ("cut", arm, "an arm width ((1 - cut) x size)")),
    )


def _plate_shape(p: dict[str, float]) -> Shape:
    w, h, r = p["width"], p["height"], p["radius"]
    ligament = min(w, h) / 2.0 - r
    features = (("radius", r, "a hole radius"), ("radius", ligament, "a ligament between the hole and the plate's sides"))
    if p["quarter"] == 1.0:
        boundaries = {"symmetry_x": h / 2.0 - r, "symmetry_y": w / 2.0 - r, "right": h / 2.0, "top": w / 2.0, "hole": math.pi * r / 2.0}
        return Shape(max(w, h) / 2.0, (w * h - math.pi * r * r) / 4.0, boundaries, features)
    boundaries = {"left": h, "right": h, "bottom": w, "top": w, "hole": 2.0 * math.pi * r}
    return Shape(max(w, h) / 2.0, w * h - math.pi * r * r, boundaries, features)


def _disk_shape(p: dict[str, float]) -> Shape:
    r = p["radius"]
    return Shape(r, math.pi * r * r, {"outer": 2.0 * math.pi * r}, (("radius", r, "a radius"),))


def _annulus_shape(p: dict[str, float]) -> Shape:
    ri, ro = p["inner_radius"], p["outer_radius"]
    return Shape(
        extent=ro,
        measure=math.pi * (ro * ro - ri * ri),
        boundaries={"inner": 2.0 * math.pi * ri, "outer": 2.0 * math.pi * ro},
        features=(("inner_radius", ri, "an inner radius"), ("inner_radius", ro - ri, "a ring width (outer - inner radius)")),
    )


def _channel_shape(p: dict[str, float]) -> Shape:
    L, H, cx, cy, r = p["length"], p["height"], p["cx"], p["cy"], p["radius"]
    return Shape(
        extent=max(L, H),
        measure=L * H - math.pi * r * r,
        boundaries={"inlet": H, "outlet": H, "walls": 2.0 * L, "obstacle": 2.0 * math.pi * r},
        features=(
            ("length", L, "a channel length"),
            ("height", H, "a channel height"),
            ("radius", r, "an obstacle radius"),
            ("cx", cx - r, "a gap between the obstacle and the inlet"),
            ("cx", L - cx - r, "a gap between the obstacle and the outlet"),
            ("cy", cy - r, "a gap between the obstacle and the lower wall"),
            ("cy", H - cy - r, "a gap between the obstacle and the upper wall"),
        ),
    )


def _ellipse_radius(a: float, b: float, theta: float) -> float:
    """Distance from the centre to the ellipse x^2/a^2 + y^2/b^2 = 1 along polar angle theta."""
    return a * b / math.hypot(b * math.cos(theta), a * math.sin(theta))


def _sector_shape(p: dict[str, float]) -> Shape:
    ai, bi, ao, bo = p["a_inner"], p["b_inner"], p["a_outer"], p["b_outer"]
    th0, th1 = math.radians(p["angle_start"]), math.radians(p["angle_end"])
    areas, arcs = [], []
    for a, b in ((ai, bi), (ao, bo)):
        t0 = _eccentric(a, b, th0)
        t1 = t0 + (_eccentric(a, b, th1) - t0) % (2.0 * math.pi)  # as the builder unwraps it
        areas.append(a * b * (t1 - t0) / 2.0)  # the ellipse's sector, in its own parameter
        t = np.linspace(t0, t1, 513)
        speed = np.hypot(a * np.sin(t), b * np.cos(t))
        arcs.append(float(np.sum((speed[1:] + speed[:-1]) / 2.0 * np.diff(t))))
    start = _ellipse_radius(ao, bo, th0) - _ellipse_radius(ai, bi, th0)
    end = _ellipse_radius(ao, bo, th1) - _ellipse_radius(ai, bi, th1)
    sweep = th1 - th0
    return Shape(
        extent=max(ao, bo),
        measure=areas[1] - areas[0],
        boundaries={"inner": arcs[0], "outer": arcs[1], "start": start, "end": end},
        features=(
            ("a_inner", ai, "an inner x semi-axis"),
            ("b_inner", bi, "an inner y semi-axis"),
            ("a_inner", ao - ai, "a ring width along x (a_outer - a_inner)"),
            ("b_inner", bo - bi, "a ring width along y (b_outer - b_inner)"),
            ("angle_start", start, "a start edge"),
            ("angle_end", end, "an end edge"),
            ("angle_end", sweep * min(ai, bi), "a sweep (the inner arc, about (end - start angle) x the inner semi-axis)"),
            ("angle_end", (2.0 * math.pi - sweep) * min(ai, bi), "a gap between the end and the start edges"),
        ),
    )


def _box_shape(p: dict[str, float]) -> Shape:
    lx, ly, lz = p["lx"], p["ly"], p["lz"]
    faces = {"xmin": ly * lz, "xmax": ly * lz, "ymin": lx * lz, "ymax": lx * lz, "zmin": lx * ly, "zmax": lx * ly}
    return Shape(max(lx, ly, lz), lx * ly * lz, faces, (("lx", lx, "a side"), ("ly", ly, "a side"), ("lz", lz, "a side")))


_L = "length units"

GEOMETRIES: dict[str, Geometry] = {
    g.name: g
    for g in (
        Geometry(
            "unit_square",
            "The unit square [0, 1] x [0, 1]. Characteristic length 1.",
            2,
            (),
            ("left", "right", "bottom", "top"),
            ("domain",),
            _builder=_unit_square_builder,
            _shape=_unit_square_shape,
            _structured=True,
        ),
        Geometry(
            "rectangle",
            "The rectangle [x0, x0 + width] x [y0, y0 + height]. Characteristic length: the shorter side.",
            2,
            (
                Parameter("width", 2.0, f"side along x, {_L}", 0.0),
                Parameter("height", 1.0, f"side along y, {_L}", 0.0),
                Parameter("x0", 0.0, f"x of the lower left corner, {_L}"),
                Parameter("y0", 0.0, f"y of the lower left corner, {_L}"),
            ),
            ("left", "right", "bottom", "top"),
            ("domain",),
            _builder=_rectangle_builder,
            _shape=_rectangle_shape,
            _scale=lambda p: min(p["width"], p["height"]),
            _structured=True,
        ),
        Geometry(
            "l_shape",
            "The square [0, size]^2 without its top-right corner square of side cut * size; "
            "notch is the two re-entrant edges. Characteristic length: size.",
            2,
            (
                Parameter("size", 1.0, f"outer side, {_L}", 0.0),
                Parameter("cut", 0.5, "fraction of the side removed at the top-right corner, in (0, 1)", 0.0),
            ),
            ("left", "bottom", "right", "top", "notch"),
            ("domain",),
            _builder=_l_shape_builder,
            _shape=_l_shape_shape,
            _check=_l_shape_check,
            _scale=lambda p: p["size"],
        ),
        Geometry(
            "plate_with_hole",
            "A width x height plate centred at the origin with a centred circular hole; quarter=1 "
            "keeps the quarter x >= 0, y >= 0 (the Kirsch model) with symmetry edges symmetry_x "
            "(on x = 0) and symmetry_y (on y = 0) instead of left and bottom. Characteristic "
            "length: the plate's shorter side (the same for the quarter, so both get the same "
            "element size).",
            2,
            (
                Parameter("width", 2.0, f"full plate side along x, {_L}", 0.0),
                Parameter("height", 2.0, f"full plate side along y, {_L}", 0.0),
                Parameter("radius", 0.25, f"hole radius, {_L}", 0.0),
                Parameter("quarter", 0.0, "1 for the quarter model x >= 0, y >= 0, 0 for the full plate"),
            ),
            ("left", "right", "bottom", "top", "hole", "symmetry_x", "symmetry_y"),
            ("plate",),
            _builder=_plate_builder,
            _shape=_plate_shape,
            _check=_plate_check,
            _scale=lambda p: min(p["width"], p["height"]),
            _names=_plate_names,
        ),
        Geometry(
            "disk",
            "A disk centred at the origin. Characteristic length: the diameter.",
            2,
            (Parameter("radius", 1.0, f"radius, {_L}", 0.0),),
            ("outer",),
            ("domain",),
            _builder=_disk_builder,
            _shape=_disk_shape,
            _scale=lambda p: 2.0 * p["radius"],
        ),
        Geometry(
            "annulus",
            "A ring centred at the origin. Characteristic length: the outer diameter.",
            2,
            (
                Parameter("inner_radius", 0.5, f"inner radius, {_L}", 0.0),
                Parameter("outer_radius", 1.0, f"outer radius, {_L}", 0.0),
            ),
            ("inner", "outer"),
            ("domain",),
            _builder=_annulus_builder,
            _shape=_annulus_shape,
            _check=_annulus_check,
            _scale=lambda p: 2.0 * p["outer_radius"],
        ),
        Geometry(
            "channel_with_obstacle",
            "The channel [0, length] x [0, height] with a circular obstacle; defaults are the DFG "
            "2D-1 flow benchmark (Schaefer & Turek 1996). Characteristic length: the height.",
            2,
            (
                Parameter("length", 2.2, f"channel length along x, {_L}", 0.0),
                Parameter("height", 0.41, f"channel height along y, {_L}", 0.0),
                Parameter("cx", 0.2, f"obstacle centre x, {_L}"),
                Parameter("cy", 0.2, f"obstacle centre y, {_L}"),
                Parameter("radius", 0.05, f"obstacle radius, {_L}", 0.0),
            ),
            ("inlet", "outlet", "walls", "obstacle"),
            ("domain",),
            _builder=_channel_builder,
            _shape=_channel_shape,
            _check=_channel_check,
            _scale=lambda p: p["height"],
        ),
        Geometry(
            "elliptic_ring_sector",
            "The region between two origin-centred ellipses x^2/a^2 + y^2/b^2 = 1 from polar "
            "angle angle_start to angle_end; start and end are straight segments on those rays. "
            "Defaults are the NAFEMS LE1 elliptic membrane (a quarter). Characteristic length: "
            "the thinner of the ring's widths along the axes.",
            2,
            (
                Parameter("a_inner", 2.0, f"inner ellipse semi-axis along x, {_L}", 0.0),
                Parameter("b_inner", 1.0, f"inner ellipse semi-axis along y, {_L}", 0.0),
                Parameter("a_outer", 3.25, f"outer ellipse semi-axis along x, {_L}", 0.0),
                Parameter("b_outer", 2.75, f"outer ellipse semi-axis along y, {_L}", 0.0),
                Parameter("angle_start", 0.0, "polar angle of the start edge, degrees"),
                Parameter("angle_end", 90.0, "polar angle of the end edge, degrees"),
            ),
            ("inner", "outer", "start", "end"),
            ("domain",),
            _builder=_sector_builder,
            _shape=_sector_shape,
            _check=_sector_check,
            _scale=lambda p: min(p["a_outer"] - p["a_inner"], p["b_outer"] - p["b_inner"]),
        ),
        Geometry(
            "box",
            "The box [0, lx] x [0, ly] x [0, lz]. Characteristic length: the shortest side.",
            3,
            (
                Parameter("lx", 1.0, f"side along x, {_L}", 0.0),
                Parameter("ly", 1.0, f"side along y, {_L}", 0.0),
                Parameter("lz", 1.0, f"side along z, {_L}", 0.0),
            ),
            ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax"),
            ("domain",),
            _builder=_box_builder,
            _shape=_box_shape,
            _scale=lambda p: min(p["lx"], p["ly"], p["lz"]),
            _structured=True,
        ),
    )
}


# -- checks before gmsh --------------------------------------------------------------------------


def _geometry(kind: str) -> Geometry:
    if kind not in GEOMETRIES:
        raise InputError("unknown geometry", field="geometry.kind", value=kind, expected=f"one of {', '.join(GEOMETRIES)}")
    return GEOMETRIES[kind]


def _positive(value: Any, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{what} is not a number", field=where, value=value, expected="a positive number")
    if not (math.isfinite(float(value)) and value > 0):
        raise InputError(f"{what} must be positive", field=where, value=value, expected="a finite number greater than 0")
    return float(value)


def _check_options(geo: Geometry, scale: float, size: float, order: int, cell: str, structured: bool) -> None:
    # Hopeless whatever the shape: refuse before gmsh. Compared as a ratio of lengths, since
    # (scale / size) ** dim overflows floats for a size of 1e-300.
    cap = 100 * LIMITS["cells"].value()
    finest = scale / cap ** (1.0 / geo.dim)
    if not size >= finest:
        raise InputError(
            "element size is far too small for this geometry",
            field="mesh.size",
            value=size,
            expected=f"at least {finest:.3g} (the limit is {LIMITS['cells'].describe()}; {LIMITS['cells'].env} raises it)",
        )
    if isinstance(order, bool) or order not in (1, 2):
        raise InputError("unsupported element order", field="mesh.order", value=order, expected="1 (linear) or 2 (quadratic)")
    cells = _CELLS[geo.dim]
    if cell not in cells:
        raise InputError(
            f"cell type not available for a {geo.dim}D geometry",
            field="mesh.cell",
            value=cell,
            expected=f"one of {', '.join(repr(c) for c in cells)}",
        )
    if structured and not geo.supports_structured:
        able = ", ".join(n for n, g in GEOMETRIES.items() if g.supports_structured)
        raise InputError(
            f"geometry {geo.name!r} cannot be meshed structured",
            field="mesh.structured",
            value=True,
            expected=f"false, or one of the geometries {able}",
        )
    if cell == "hexahedron" and not structured:
        raise InputError(
            "hexahedra need a structured mesh",
            field="mesh.cell",
            value=cell,
            expected="'tetra', or structured=true",
        )


def _check_refinements(geo: Geometry, names: tuple[str, ...], refine: Sequence[Refinement], structured: bool) -> list[Refinement]:
    out = []
    for i, item in enumerate(refine):
        where = f"mesh.refine[{i}]"
        if isinstance(item, Mapping):
            try:
                item = Refinement(**item)
            except TypeError as exc:
                raise InputError(
                    "not a refinement", field=where, value=dict(item), expected="keys size, distance and one of region, point"
                ) from exc
        if not isinstance(item, Refinement):
            raise InputError("not a refinement", field=where, value=item, expected="a Refinement")
        if structured:
            raise InputError(
                "local refinement does not apply to a structured mesh",
                field=where,
                expected="no refinements with structured=true",
            )
        _positive(item.size, f"{where}.size", "refinement size")
        _positive(item.distance, f"{where}.distance", "refinement distance")
        if (item.region is None) == (item.point is None):
            raise InputError(
                "a refinement needs exactly one target",
                field=where,
                value={"region": item.region, "point": item.point},
                expected="either region or point, not both and not neither",
            )
        if item.region is not None and item.region not in names:
            raise InputError(
                f"unknown boundary region for geometry {geo.name!r}",
                field=f"{where}.region",
                value=item.region,
                expected=f"one of {', '.join(names)}",
            )
        if item.point is not None:
            pt = item.point
            lengths = (2, 3) if geo.dim == 2 else (3,)
            ok = isinstance(pt, (Sequence, np.ndarray)) and not isinstance(pt, str) and len(pt) in lengths
            if ok:
                try:
                    ok = all(math.isfinite(float(v)) for v in pt)
                except (TypeError, ValueError):
                    ok = False
            if not ok:
                raise InputError(
                    "refinement point is not a point",
                    field=f"{where}.point",
                    value=pt,
                    expected=" or ".join(f"{n} finite coordinates" for n in lengths),
                )
        out.append(item)
    return out


# -- meshing -------------------------------------------------------------------------------------


def _samples(gmsh, dim: int, tag: int) -> np.ndarray:
    """Points along a curve (9) or over a surface's parameter rectangle (5 x 5), shape (k, 3)."""
    lo, hi = gmsh.model.getParametrizationBounds(dim, tag)
    if dim == 1:
        params = np.linspace(lo[0], hi[0], 9)
    else:
        u, v = np.meshgrid(np.linspace(lo[0], hi[0], 5), np.linspace(lo[1], hi[1], 5))
        params = np.column_stack([u.ravel(), v.ravel()]).ravel()
    return np.asarray(gmsh.model.getValue(dim, tag, params)).reshape(-1, 3)


def _drop_loose_entities(gmsh, dim: int) -> None:
    """Remove curves and points that bound no domain entity (left over from construction)."""
    domain = gmsh.model.getEntities(dim)
    keep = set(domain)
    layer = domain
    for _ in range(dim):
        layer = [(d, abs(t)) for d, t in gmsh.model.getBoundary(layer, combined=False, oriented=False)]
        keep.update(layer)
    loose = [e for e in gmsh.model.getEntities() if e not in keep]
    if loose:
        gmsh.model.occ.remove(loose)
        gmsh.model.occ.synchronize()


def _add_groups(gmsh, geo: Geometry, recipe: _Recipe, names: tuple[str, ...]) -> dict[str, list[int]]:
    """Physical groups for the domain and each boundary; boundary name -> entity tags."""
    dim = geo.dim
    domain = gmsh.model.getEntities(dim)
    found: dict[str, list[int]] = {name: [] for name, _ in recipe.rules}
    for bdim, tag in gmsh.model.getBoundary(domain, combined=True, oriented=False):
        pts = _samples(gmsh, bdim, abs(tag))
        name = next((n for n, rule in recipe.rules if rule(pts)), None)
        if name is None:  # a builder bug, not bad input
            raise RuntimeError(f"{geo.name}: boundary entity {(bdim, tag)} matches no boundary rule")
        found[name].append(abs(tag))
    missing = [n for n in names if not found.get(n)]
    if missing or set(found) != set(names):
        raise RuntimeError(f"{geo.name}: boundaries {missing or sorted(set(found) ^ set(names))} not found")
    gmsh.model.addPhysicalGroup(dim, [t for _, t in domain], name=recipe.subdomain)
    for name in names:
        gmsh.model.addPhysicalGroup(dim - 1, sorted(found[name]), name=name)
    return found


def _make_structured(gmsh, dim: int, size: float, recombine: bool) -> None:
    """Transfinite curves (node counts from their lengths), surfaces and volume."""
    for _, c in gmsh.model.getEntities(1):
        length = gmsh.model.occ.getMass(1, c)
        # The small slack keeps 1/0.25 at 4 divisions despite rounding.
        gmsh.model.mesh.setTransfiniteCurve(c, max(1, math.ceil(length / size - 1e-9)) + 1)
    for _, s in gmsh.model.getEntities(2):
        gmsh.model.mesh.setTransfiniteSurface(s)
        if recombine:
            gmsh.model.mesh.setRecombine(2, s)
    for _, v in gmsh.model.getEntities(3):
        gmsh.model.mesh.setTransfiniteVolume(v)
        if recombine:
            gmsh.model.mesh.setRecombine(3, v)


def _add_refinements(
    gmsh, dim: int, size: float, refine: list[Refinement], found: dict[str, list[int]], scale: float = 1.0
) -> None:
    """One size field per refinement, their minimum as the background field.

    ``size`` is the global size gmsh meshes with; refinement sizes are multiplied by ``scale``
    (2 when the mesh is subdivided afterwards, which halves every size).
    """
    model_field = gmsh.model.mesh.field
    thresholds = []
    for item in refine:
        if item.region is not None:
            dist = model_field.add("Distance")
            tags = found[item.region]
            model_field.setNumbers(dist, "CurvesList" if dim == 2 else "SurfacesList", tags)
            # Enough samples that the distance is accurate at the scale of the small size.
            extent = max(gmsh.model.occ.getMass(dim - 1, t) for t in tags) ** (1.0 / (dim - 1))
            model_field.setNumber(dist, "Sampling", min(2000, max(20, math.ceil(2 * extent / item.size))))
            # Size item.size on the region, growing linearly to the global size at item.distance.
            th = model_field.add("Threshold")
            model_field.setNumber(th, "InField", dist)
            model_field.setNumber(th, "SizeMin", item.size * scale)
            model_field.setNumber(th, "SizeMax", size)
            model_field.setNumber(th, "DistMin", 0.0)
            model_field.setNumber(th, "DistMax", item.distance)
        else:
            # A Ball of radius 0 with a linear transition layer is the same law around a point,
            # without adding a vertex to the geometry (the point may even lie outside it).
            x, y, z = (list(map(float, item.point)) + [0.0])[:3]
            th = model_field.add("Ball")
            for key, value in (("XCenter", x), ("YCenter", y), ("ZCenter", z), ("Radius", 0.0)):
                model_field.setNumber(th, key, value)
            model_field.setNumber(th, "Thickness", item.distance)
            model_field.setNumber(th, "VIn", item.size * scale)
            model_field.setNumber(th, "VOut", size)
        thresholds.append(th)
    smallest = model_field.add("Min")
    model_field.setNumbers(smallest, "FieldsList", thresholds)
    model_field.setAsBackgroundMesh(smallest)
    # With a background field the sizes come from the fields alone (gmsh's advice): small
    # sizes on curves must not be spread over whole surfaces.
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)


@dataclass(frozen=True)
class MeshRequest:
    """A built-in geometry's meshing options once checked, with the cells they will make."""

    geometry: Geometry
    values: dict[str, float]
    names: tuple[str, ...]
    size: float
    cell: str
    refinements: list[Refinement]
    estimate: Any  # engine.work.CellEstimate


def check_mesh_options(
    kind: str,
    parameters: Mapping[str, float] | None = None,
    *,
    size: float | None = None,
    order: int = 1,
    cell: str = "triangle",
    structured: bool = False,
    refine: Sequence[Refinement] = (),
) -> MeshRequest:
    """Everything ``build_mesh`` checks before gmsh starts (same arguments), without meshing:
    parameters, options, refinements and the whole work (``engine.work.check_mesh_request``)."""
    from engine.work import check_mesh_request

    geo = _geometry(kind)
    values = geo.check_parameters(parameters)
    names = geo._names(values) if geo._names is not None else geo.boundaries
    scale = geo._scale(values)
    size = scale / 20.0 if size is None else _positive(size, "mesh.size", "element size")
    if geo.dim == 3 and cell == "triangle":
        cell = "tetra"  # the default cell name is a 2D one; 3D means its 3D counterpart
    _check_options(geo, scale, size, order, cell, structured)
    refinements = _check_refinements(geo, names, refine, structured)
    estimate = check_mesh_request(geo, values, size, refinements)  # cells with refinements, sizes against features
    return MeshRequest(geo, values, names, size, cell, refinements, estimate)


def build_mesh(
    kind: str,
    parameters: Mapping[str, float] | None = None,
    *,
    size: float | None = None,
    order: int = 1,
    cell: str = "triangle",
    structured: bool = False,
    refine: Sequence[Refinement] = (),
    cancel: threading.Event | None = None,
) -> Mesh:
    """Mesh a built-in geometry with gmsh.

    Parameters
    ----------
    kind
        A key of ``GEOMETRIES`` (``"unit_square"``, ``"plate_with_hole"``, ``"box"``...).
    parameters
        Geometry parameters; missing ones take their defaults.
    size
        Largest element size, in length units. Default: the geometry's characteristic length
        (``Geometry.characteristic_length``) / 20.
    order
        1 for linear elements, 2 for quadratic ones (triangle6, quad9, tetra10, hexahedron27);
        mid-side nodes of curved boundaries lie on the curve.
    cell
        ``"triangle"`` or ``"quad"`` for a 2D geometry (all quads: Blossom recombination then
        one subdivision step, or transfinite with ``structured``); ``"tetra"`` or ``"hexahedron"`` in 3D, hexahedra
        only with ``structured=True``. A 3D geometry given the default ``"triangle"`` gets
        tetrahedra.
    structured
        A transfinite (structured) mesh: every edge divided into ceil(length / size) equal
        segments. Only for geometries with ``supports_structured`` (rectangle, unit_square, box).
    refine
        Local refinements (``Refinement``) around boundary regions or points; not with
        ``structured``.
    cancel
        Once set, meshing stops (gmsh's process is stopped) with ``Cancelled``.

    Returns
    -------
    Mesh
        Regions: the domain (``Geometry.subdomains``) and each boundary of
        ``Geometry.boundary_names(parameters)``. 2D meshes have (n, 2) points.

    Raises
    ------
    InputError
        For an unknown geometry or parameter, a bad value or combination, or an option the
        geometry does not support; checked before gmsh starts.

    Examples
    --------
    >>> mesh = build_mesh("unit_square", size=0.5, cell="quad", structured=True)
    >>> mesh.cells["quad"].shape, sorted(mesh.regions)
    ((4, 4), ['bottom', 'domain', 'left', 'right', 'top'])
    >>> plate = build_mesh("plate_with_hole", {"quarter": 1}, size=0.5)
    >>> list(plate.regions)
    ['symmetry_x', 'symmetry_y', 'right', 'top', 'hole', 'plate']
    >>> try:
    ...     build_mesh("disk", {"radius": -1})
    ... except InputError as err:
    ...     print(err.field, "|", err.expected)
    geometry.parameters.radius | a value greater than 0 (radius, length units)
    """
    request = check_mesh_options(kind, parameters, size=size, order=order, cell=cell, structured=structured, refine=refine)
    values, names, size, cell, refinements = request.values, request.names, request.size, request.cell, request.refinements

    # gmsh runs in a child process with time and memory limits: its meshing time cannot be
    # predicted for every shape, and OpenCASCADE can crash on a degenerate one.
    return run_isolated(
        _mesh_in_child,
        (kind, values, names, size, order, cell, structured, refinements),
        seconds="mesh_seconds",
        doing="meshing",
        crashed=lambda how: MeshError(
            f"gmsh crashed while meshing the geometry with {how}",
            field="geometry.parameters",
            value=values,
            expected="dimensions and an element size within a few orders of magnitude of each other",
        ),
        field="mesh.size",
        fits="a larger element size or fewer refinements",
        cancel=cancel,
    )


def _mesh_in_child(kind, values, names, size, order, cell, structured, refinements) -> Mesh:
    """What ``build_mesh`` runs in its child process: one gmsh session from geometry to mesh."""
    geo = GEOMETRIES[kind]
    with gmsh_session() as gmsh:
        try:
            return _mesh_in_gmsh(gmsh, geo, kind, values, names, size, order, cell, structured, refinements)
        except InputError:
            raise
        except Exception as exc:  # gmsh and OpenCASCADE raise plain Exception with their log line
            raise MeshError(
                f"gmsh could not build or mesh the geometry ({exc})",
                field="geometry.parameters",
                value=values,
                expected="dimensions and an element size within a few orders of magnitude of each other",
            ) from exc


def _mesh_in_gmsh(gmsh, geo, kind, values, names, size, order, cell, structured, refinements) -> Mesh:
    recipe = geo._builder(gmsh, values)
    _drop_loose_entities(gmsh, geo.dim)
    found = _add_groups(gmsh, geo, recipe, names)

    # Sizes come from the options and fields only: OCC points carry no size of their own.
    quads = cell in ("quad", "hexahedron")
    # Unstructured quads: Frontal-Delaunay for quads and Blossom recombination at twice the
    # size, then one subdivision step that splits every quad in 4 and any triangle left
    # (Blossom leaves some when a surface has an odd number of boundary segments) in 3
    # quads. That is all quads, always, at about the asked size.
    factor = 2.0 if quads and not structured else 1.0
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeMax", size * factor)
    gmsh.option.setNumber("Mesh.MeshSizeMin", 0.0)
    if structured:
        _make_structured(gmsh, geo.dim, size, recombine=quads)
    elif quads:
        gmsh.option.setNumber("Mesh.Algorithm", 8)
        gmsh.option.setNumber("Mesh.RecombineAll", 1)
        gmsh.option.setNumber("Mesh.RecombinationAlgorithm", 1)
        gmsh.option.setNumber("Mesh.SubdivisionAlgorithm", 1)
    if refinements:
        _add_refinements(gmsh, geo.dim, size * factor, refinements, found, scale=factor)
    gmsh.model.mesh.generate(geo.dim)
    if order == 2:
        gmsh.model.mesh.setOrder(2)
    return mesh_from_gmsh_model(gmsh, source=f"built-in geometry {kind}")
