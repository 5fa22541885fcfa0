"""Problem: a Case bound to a Mesh, checked and ready for any solver.

Binding is where the case meets the mesh: region names are checked against the mesh's
regions, probes against its extent, and every coefficient (number, expression or field from
a file) becomes something a solver can evaluate at points or cells.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.case.schema import Case, FileField
from engine.physics.values import RandomField
from engine.errors import CaseError, InputError, RegionError
from engine.mesh.locate import locate_points
from engine.mesh.mesh import CELL_TYPES, Mesh
from engine.physics.registry import get_physics
from engine.work import case_mesh_options, check_problem

__all__ = ["CoefficientField", "Problem", "cell_centroids"]


def cell_centroids(mesh: Mesh) -> np.ndarray:
    """Centroids of the domain cells, in ``Mesh.domain_cells`` order."""
    parts = []
    for ctype, conn in mesh.domain_cells.items():
        corners = conn[:, : _corner_count(ctype)]  # midside nodes would bias nothing, but skip them
        parts.append(mesh.points[corners].mean(axis=1))
    return np.concatenate(parts)


def _corner_count(ctype: str) -> int:
    return {"line3": 2, "triangle6": 3, "quad8": 4, "quad9": 4, "tetra10": 4, "hexahedron20": 8, "hexahedron27": 8}.get(
        ctype, CELL_TYPES[ctype].n_nodes
    )


class CoefficientField:
    """A scalar coefficient a solver can evaluate: ``at_points(points, t)`` or ``at_cells(mesh, t)``.

    Built from a number, an expression, or a field sampled from a file.
    """

    def __init__(self, *, constant: float | None = None, expression=None, sampled: _Sampled | None = None,
                 random: RandomField | None = None, text: str = "") -> None:
        self._constant = constant
        self._expression = expression
        self._sampled = sampled
        self._random = random
        self.text = text

    @property
    def is_constant(self) -> bool:
        return self._constant is not None or (self._expression is not None and self._expression.is_constant)

    @property
    def depends_on_time(self) -> bool:
        return self._expression is not None and self._expression.depends_on_time()

    @property
    def value(self) -> float:
        """The value of a constant coefficient."""
        if self._constant is not None:
            return self._constant
        if self.is_constant:
            return float(np.asarray(self._expression.evaluate(np.zeros((1, 3))))[0])
        raise ValueError(f"coefficient {self.text!r} is not constant")

    def at_points(self, points: np.ndarray, t: float = 0.0, *, finite: bool = True) -> np.ndarray:
        """Values at ``points`` and time ``t``; an expression that is not finite there (``1/(1 - t)``
        at t = 1) is an ExpressionError naming it, unless ``finite`` is False."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        if self._constant is not None:
            return np.full(len(points), self._constant)
        if self._expression is not None:
            evaluate = self._expression.evaluate_finite if finite else self._expression.evaluate
            return np.asarray(evaluate(points, t=t), dtype=float)
        if self._random is not None:
            return _random_values(self._random, points)
        return self._sampled.at_points(points)

    def exact_cell_values(self, mesh: Mesh) -> np.ndarray | None:
        """Per-cell values when this is a cell field read on ``mesh`` itself, else None."""
        if self._sampled is not None and self._sampled.association == "cell" and self._sampled.matches(mesh):
            return self._sampled.values
        return None

    def at_cells(self, mesh: Mesh, t: float = 0.0) -> np.ndarray:
        """One value per domain cell; exact for a cell field read on this very mesh."""
        exact = self.exact_cell_values(mesh)
        return exact.copy() if exact is not None else self.at_points(cell_centroids(mesh), t)

    def __repr__(self) -> str:
        return f"CoefficientField({self.text!r})"


@dataclass
class _Sampled:
    """Values of a field from a file, on the file's own points or cells."""

    mesh: Mesh
    values: np.ndarray
    association: str
    _interpolator: Any = field(default=None, repr=False)

    def matches(self, mesh: Mesh) -> bool:
        if mesh is self.mesh:
            return True
        same_points = mesh.points.shape == self.mesh.points.shape and np.allclose(mesh.points, self.mesh.points)
        return same_points and mesh.n_cells == self.mesh.n_cells

    def at_points(self, points: np.ndarray) -> np.ndarray:
        if self._interpolator is None:
            self._interpolator = self._build()
        return self._interpolator(points[:, : self.mesh.gdim])

    def _build(self):
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

        if self.association == "cell":
            # Piecewise constant: the value of the nearest cell centre.
            return NearestNDInterpolator(cell_centroids(self.mesh), self.values)
        linear = LinearNDInterpolator(self.mesh.points, self.values)
        nearest = NearestNDInterpolator(self.mesh.points, self.values)

        def interpolate(points: np.ndarray) -> np.ndarray:
            out = linear(points)
            outside = np.isnan(out)
            if outside.any():  # on a curved boundary the hull cuts corners; take the nearest node
                out[outside] = nearest(points[outside])
            return out

        return interpolate


class Problem:
    """A Case bound to a Mesh. Build it with ``Problem.from_case``.

    Attributes
    ----------
    case, mesh
        The case and the mesh it is bound to.
    coefficients
        Dotted case path (``"physics.k"``, ``"boundary[0].value"``) -> CoefficientField.
    """

    def __init__(self, case: Case, mesh: Mesh, coefficients: dict[str, CoefficientField]) -> None:
        self.case = case
        self.mesh = mesh
        self.coefficients = coefficients

    @classmethod
    def from_case(cls, case: Case, *, mesh: Mesh | None = None) -> Problem:
        """Mesh the case's geometry (or read its mesh file), then check the case against it.

        Raises
        ------
        InputError
            Unknown region names, probes outside the mesh, a physics model that does not fit the
            mesh's dimension, bad geometry parameters, or a field file that cannot be used; the
            message names the case file and the field.
        """
        source = case.source
        try:
            if mesh is None:
                mesh = build_case_mesh(case)
            _check_regions(case, mesh)
            _check_physics(case, mesh)
            _check_probes(case, mesh)
            check_problem(case, mesh)
            coefficients = {path: _coefficient(case, path, value) for path, value in case.coefficients()}
            _check_coefficient_values(case, mesh, coefficients)
        except InputError as err:
            raise err.with_source(source) if source is not None else err from None
        return cls(case, mesh, coefficients)

    def coefficient(self, path: str) -> CoefficientField:
        try:
            return self.coefficients[path]
        except KeyError:
            raise InputError("unknown coefficient", value=path, expected=f"one of {', '.join(self.coefficients)}") from None

    def __repr__(self) -> str:
        return f"Problem({self.case.physics.kind} on {self.mesh!r})"


def build_case_mesh(case: Case, *, cancel: threading.Event | None = None) -> Mesh:
    """The case's mesh: its mesh file read, or its built-in geometry meshed.

    Both run in a child process (``engine.mesh.isolation``); setting ``cancel`` stops it. A
    built-in geometry's cells are estimated first (``build_mesh`` runs
    ``engine.work.check_mesh_request``): a mesh beyond ``LIMITS["cells"]`` is refused before
    gmsh starts.
    """
    from engine.mesh.io import read_mesh

    if case.geometry.file is not None:
        try:
            return read_mesh(case.resolve(case.geometry.file), cancel=cancel)
        except InputError as err:
            raise err.replace(hint=f"The mesh file is named by geometry.file in {case.source or 'the case'}") from None
    from engine.mesh.geometry import build_mesh

    return build_mesh(case.geometry.kind, case.geometry.parameters, cancel=cancel, **case_mesh_options(case))


def _check_regions(case: Case, mesh: Mesh) -> None:
    for i, bc in enumerate(case.boundary):
        for name in bc.regions:
            if name not in mesh.regions:
                known = ", ".join(repr(n) for n in mesh.regions) or "none (the mesh has no named regions)"
                raise RegionError("unknown region name", field=f"boundary[{i}].region", value=name, expected=f"one of {known}")
            region = mesh.regions[name]
            if region.points is None and region.dim >= mesh.dim:
                raise RegionError(
                    f"region {name!r} is a {region.dim}D subdomain, not a boundary",
                    field=f"boundary[{i}].region",
                    value=name,
                    expected=f"a boundary region ({mesh.dim - 1}D) or a node set",
                )


#: The cell shapes each element family is made for: P on simplices, Q on tensor-product cells.
ELEMENT_CELLS = {"P": ("triangle", "tetra"), "Q": ("quad", "hexahedron")}


def element_for_cell(element: str, cell: str) -> str:
    """The finite element that fits ``cell``: ``element`` itself when its family fits, else the
    other family's element of the same degree where the case schema offers it (P1 <-> Q1, P2 <-> Q2).

    >>> element_for_cell("P2", "quad"), element_for_cell("Q1", "triangle"), element_for_cell("P1", "tetra")
    ('Q2', 'P1', 'P1')
    """
    import typing

    from engine.case.schema import ClassicalOptions

    family = next(f for f, cells in ELEMENT_CELLS.items() if cell in cells)
    if element.startswith(family):
        return element
    offered = typing.get_args(ClassicalOptions.model_fields["element"].annotation)
    same_degree = family + element[1:]
    return same_degree if same_degree in offered else next(e for e in offered if e.startswith(family))


def _check_physics(case: Case, mesh: Mesh) -> None:
    spec = get_physics(case.physics.kind)
    if spec.check_mesh is not None:
        spec.check_mesh(case, mesh)
    element = case.solver.classical.element
    kinds = {t.rstrip("0123456789") for t in mesh.domain_cells}
    if element.startswith("Q") and not kinds <= set(ELEMENT_CELLS["Q"]):
        raise CaseError("Q elements need quadrilaterals or hexahedra", field="solver.classical.element", value=element, expected="P1 or P2 for this mesh, or mesh.cell = 'quad' / 'hexahedron'")
    if element.startswith("P") and not kinds <= set(ELEMENT_CELLS["P"]):
        raise CaseError("P elements need triangles or tetrahedra", field="solver.classical.element", value=element, expected="Q1 or Q2 for this mesh of quadrilaterals or hexahedra")


def check_determined(case: Case) -> None:
    """Refuse a case whose conditions leave the solution undetermined (its physics says when:
    a steady scalar problem with flux conditions alone, say). A solver's check, not a Problem's:
    a case being set up may lack its conditions for a while."""
    spec = get_physics(case.physics.kind)
    if spec.check_determined is not None:
        spec.check_determined(case)


def _check_probes(case: Case, mesh: Mesh) -> None:
    """Every probe lies in the meshed domain. All are located in one search: thousands of
    probes cost one KD-tree over the cells, not one tree each."""
    if not case.probes:
        return
    lo, hi = mesh.bounding_box
    tol = 1e-9 * max(1.0, float(np.max(hi - lo)))
    for i, probe in enumerate(case.probes):
        point = np.asarray(probe.point, dtype=float)
        if len(point) > mesh.gdim and np.any(point[mesh.gdim :] != 0):
            raise CaseError("probe has more coordinates than the mesh", field=f"probes[{i}].point", value=probe.point, expected=f"{mesh.gdim} coordinates")
        point = point[: mesh.gdim]
        if len(point) < mesh.gdim or np.any(point < lo[: len(point)] - tol) or np.any(point > hi[: len(point)] + tol):
            raise CaseError(
                f"probe {probe.name!r} lies outside the mesh",
                field=f"probes[{i}].point",
                value=probe.point,
                expected=f"a point inside the bounding box {lo.tolist()} .. {hi.tolist()}",
            )
    points = np.array([p.point[: mesh.gdim] for p in case.probes], dtype=float)
    missing = np.flatnonzero(locate_points(mesh, points) < 0)
    if len(missing):
        i = int(missing[0])
        raise CaseError(
            f"probe {case.probes[i].name!r} lies outside the mesh, in a hole or a cut-out",
            field=f"probes[{i}].point",
            value=case.probes[i].point,
            expected="a point inside the meshed domain",
        )


def _check_coefficient_values(case: Case, mesh: Mesh, coefficients: dict[str, CoefficientField]) -> None:
    """Evaluate every coefficient where it acts (at t = 0) and refuse what no solver can use:
    NaN or infinite values (1/0, log(0)), and values the physics' checks refuse (a non-positive
    conductivity, a Poisson ratio out of range)."""
    checks = get_physics(case.physics.kind).checks
    for path, coef in coefficients.items():
        if path.startswith("boundary["):
            index = int(path[len("boundary[") : path.index("]")])
            bc = case.boundary[index]
            nodes = np.unique(np.concatenate([mesh.region_points(n) for n in bc.regions]))
            where = mesh.points[nodes]
            key = f"{bc.type}.{path.rsplit('.', 1)[1]}"  # as the physics names it: "robin.h"
        else:
            where = mesh.points
            key = path.removeprefix("physics.")
        with np.errstate(all="ignore"):
            values = np.asarray(coef.at_points(where, 0.0, finite=False), dtype=float)
        bad = ~np.isfinite(values)
        rule = "finite"
        if not bad.any() and key in checks:
            rule, test = checks[key]
            bad = ~test(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise CaseError(
                f"the coefficient is not {rule} everywhere: it is {values[first]:.6g} at {np.round(where[first], 6).tolist()}",
                field=path,
                value=coef.text,
                expected=f"a coefficient that is {rule} on the whole {'boundary region' if path.startswith('boundary') else 'domain'}",
            )


def _coefficient(case: Case, path: str, value: Any) -> CoefficientField:
    if isinstance(value, float):
        return CoefficientField(constant=value, text=repr(value))
    if isinstance(value, str):
        from engine.expressions import parse_expression

        expr = parse_expression(value, parameters=case.parameters, field=path)
        return CoefficientField(expression=expr, text=value)
    if isinstance(value, FileField):
        return CoefficientField(sampled=_sample_file(case, path, value), text=f"{value.field} from {value.file}")
    if isinstance(value, RandomField):
        shown = {"none": "", "threshold": f", {value.high:g} where >= 0 else {value.low:g}", "exp": f", exp({value.scale:g} z)"}[value.transform]
        return CoefficientField(random=value, text=f"{value.random_field} random field (seed {value.seed}, sample {value.sample}{shown})")
    raise CaseError("unsupported coefficient", field=path, value=value)


def _random_values(spec: RandomField, points: np.ndarray) -> np.ndarray:
    """A random-field coefficient at ``points``: the field, then its transform."""
    from engine.random_fields import grf_at_points

    if points.shape[1] < 2:
        raise CaseError("a random field needs a 2D or 3D mesh (it varies in x and y)", field="random_field", value=f"{points.shape[1]}D points")
    z = grf_at_points(points, seed=spec.seed, index=spec.sample, modes=spec.modes, alpha=spec.alpha, tau=spec.tau,
                      sigma=spec.sigma, mean=spec.mean, origin=tuple(spec.origin), length=spec.length)
    if spec.transform == "threshold":
        return np.where(z >= 0.0, spec.high, spec.low)
    if spec.transform == "exp":
        return np.exp(spec.scale * z)
    return z


def _sample_file(case: Case, path: str, spec: FileField) -> _Sampled:
    from engine.mesh.io import read_mesh

    file = case.resolve(spec.file)
    try:
        source_mesh = read_mesh(file)
    except InputError as err:
        raise CaseError(f"cannot read the field file ({err})", field=f"{path}.file", value=spec.file) from err
    if spec.field in source_mesh.point_data:
        values, association = source_mesh.point_data[spec.field], "point"
    elif spec.field in source_mesh.cell_data:
        blocks = source_mesh.cell_data[spec.field]
        values = np.concatenate([blocks[t] for t in source_mesh.domain_cells if t in blocks])
        association = "cell"
        if len(values) != source_mesh.n_cells:
            raise CaseError("cell field does not cover every cell", field=f"{path}.field", value=spec.field)
    else:
        known = sorted({*source_mesh.point_data, *source_mesh.cell_data})
        raise CaseError(
            f"no field of that name in {Path(spec.file).name}",
            field=f"{path}.field",
            value=spec.field,
            expected=f"one of {', '.join(map(repr, known)) or '(the file has no fields)'}",
        )
    values = np.asarray(values, dtype=float)
    if values.ndim > 1:
        if values.shape[1] != 1:
            raise CaseError("a coefficient field must be scalar", field=f"{path}.field", value=f"{values.shape[1]} components")
        values = values[:, 0]
    if not np.isfinite(values).all():
        raise CaseError("the field holds NaN or infinite values", field=f"{path}.field", value=spec.field, expected="finite values")
    return _Sampled(source_mesh, values, association)
