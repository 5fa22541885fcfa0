"""Comparison: two answers to one problem, their error fields and the numbers that sum them up.

The reference is usually the classical solution and the candidate the surrogate's. Norms are
integrals over the domain, computed with lumped (row-sum) P1 weights on the mesh's points, so a
fine patch of the mesh does not count more than a coarse one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.fields import Field
from engine.mesh.mesh import Mesh
from engine.result import Result

__all__ = ["Comparison", "compare", "point_weights", "line_profile"]


def point_weights(mesh: Mesh) -> np.ndarray:
    """Each point's share of the domain's measure (a third of each triangle's area, ...)."""
    weights = np.zeros(mesh.n_points)
    p = mesh.points
    for ctype, conn in mesh.domain_cells.items():
        corners = {"triangle": 3, "quad": 4, "tetra": 4, "hexahedron": 8}[ctype.rstrip("0123456789")]
        c = conn[:, :corners]
        if corners == 3 or corners == 4 and mesh.dim == 2:
            u, v = p[c[:, 1]] - p[c[:, 0]], p[c[:, 2]] - p[c[:, 0]]
            measure = 0.5 * np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
            if corners == 4:
                w = p[c[:, 3]] - p[c[:, 0]]
                measure += 0.5 * np.abs(v[:, 0] * w[:, 1] - v[:, 1] * w[:, 0])
        elif corners == 4:
            a, b, cc, d = (p[c[:, i]] for i in range(4))
            measure = np.abs(np.einsum("ij,ij->i", np.cross(b - a, cc - a), d - a)) / 6
        else:  # hexahedron: its bounding brick's volume (exact for the bricks we build)
            measure = np.prod(p[c].max(axis=1) - p[c].min(axis=1), axis=1)
        np.add.at(weights, c.ravel(), np.repeat(measure / corners, corners))
    return weights


@dataclass
class Comparison:
    """Error fields (on the reference's mesh) and per-field metrics."""

    reference: Result
    candidate: Result
    errors: dict[str, Field] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


def compare(reference: Result, candidate: Result) -> Comparison:
    """Compare the fields two results share, on the reference's mesh.

    Metrics per field: ``relative_l2`` (||c - r|| / ||r||), ``max_abs_error`` and the point
    where it occurs, ``reference_l2``; for a vector field, on its magnitude of the difference.
    Error fields: ``<name>_error`` (candidate - reference), ``<name>_abs_error`` and
    ``<name>_rel_error`` (the absolute error over the reference's largest magnitude, so that it
    stays finite where the reference is zero, as on a Dirichlet boundary).
    """
    if candidate.mesh.n_points != reference.mesh.n_points or not np.allclose(candidate.mesh.points, reference.mesh.points):
        raise InputError("the two results live on different meshes", expected="results of the same Problem (same mesh)")
    shared = [n for n in reference.fields if n in candidate.fields]
    if not shared:
        raise InputError("the two results share no field", value=(sorted(reference.fields), sorted(candidate.fields)))
    weights = point_weights(reference.mesh)
    out = Comparison(reference, candidate)
    for name in shared:
        r = reference.fields[name].values
        c = candidate.fields[name].values
        if reference.fields[name].is_time_series or candidate.fields[name].is_time_series:
            continue  # surrogates answer steady problems; time series compare step by step elsewhere
        diff = c - r
        size = np.abs(diff) if diff.ndim == 1 else np.linalg.norm(diff, axis=1)
        ref_size = np.abs(r) if r.ndim == 1 else np.linalg.norm(r, axis=1)
        err_l2 = float(np.sqrt(np.sum(weights * size**2)))
        ref_l2 = float(np.sqrt(np.sum(weights * ref_size**2)))
        worst = int(np.argmax(size))
        out.metrics[name] = {
            "relative_l2": err_l2 / ref_l2 if ref_l2 > 0 else float("inf"),
            "max_abs_error": float(size[worst]),
            "max_abs_error_at": reference.mesh.points[worst].tolist(),
            "reference_l2": ref_l2,
        }
        out.errors[f"{name}_error"] = Field(f"{name}_error", diff, components=reference.fields[name].components)
        out.errors[f"{name}_abs_error"] = Field(f"{name}_abs_error", size)
        scale = float(ref_size.max())
        out.errors[f"{name}_rel_error"] = Field(f"{name}_rel_error", size / scale if scale > 0 else np.full_like(size, np.nan))
    return out


def line_profile(
    results: Mapping[str, Result], field: str, start: Sequence[float], end: Sequence[float], *, component: str = "", step: int = -1, samples: int = 200
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Values of ``field`` along the segment ``start`` -> ``end`` for each result.

    Returns the arc length of each sample and, per result label, the (linearly interpolated)
    values there; NaN where the segment leaves the mesh. ``component`` as in
    ``engine.visual.component_names`` (magnitude, x, y, ...); ``step``: the time step of a time
    series (default the last).

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> from engine.result import Provenance
    >>> square = build_mesh("unit_square", size=0.25)
    >>> r = Result(square, {"u": Field("u", square.points[:, 0])}, Provenance("x"))
    >>> s, values = line_profile({"x": r}, "u", [0, 0.5], [1, 0.5], samples=3)
    >>> s.tolist(), values["x"].round(12).tolist()
    ([0.0, 0.5, 1.0], [0.0, 0.5, 1.0])
    """
    from engine.mesh.locate import interpolate_at_points
    from engine.visual import scalar_values

    a, b = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError("the line's ends do not match", value=(list(start), list(end)), expected="two points with the same number of coordinates")
    if samples < 2:
        raise InputError("too few samples along the line", value=samples, expected="at least 2")
    t = np.linspace(0.0, 1.0, samples)
    points = a + t[:, None] * (b - a)
    profiles = {}
    for label, result in results.items():
        if len(a) != result.mesh.gdim:
            raise InputError("the line's ends have the wrong number of coordinates", value=len(a), expected=f"{result.mesh.gdim} (x, y{', z' if result.mesh.gdim == 3 else ''}) for this mesh")
        f = result.field(field)
        if f.association != "point":
            raise InputError("only point fields can be sampled along a line", field=field, value=f.association)
        profiles[label] = interpolate_at_points(result.mesh, scalar_values(f, component, step=step), points)
    return t * float(np.linalg.norm(b - a)), profiles
