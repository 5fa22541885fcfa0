"""The input channels of a training sample, built from its Problem (a case bound to its mesh):
nothing is chosen by hand per problem.

Every channel is one value per mesh point:

* ``coef.<name>``: each coefficient of the physics as evaluated at the points at t = 0
  (``coef.k``, ``coef.body_force[1]``);
* ``sdf``: the distance to the domain's boundary, positive inside (a grid adapter evaluates
  :func:`signed_distance` at its own nodes too: negative outside), ``distance.<region>``: the
  distance to each named boundary region, ``boundary``: 1 on boundary points, else 0;
* ``bc.<type>``: 1 on the points of the regions that carry a condition of that type, and
  ``bc.<type>.<key>``: that condition's values there (0 elsewhere).

Distances are exact to the boundary's edges (both halves of a curved second-order edge). 2D
meshes only for now: a 3D one is refused with that reason.
"""

from __future__ import annotations

import re

import numpy as np

from engine.errors import InputError
from engine.mesh.mesh import Mesh
from engine.problem import Problem

__all__ = ["input_channels", "value_channel_names", "boundary_segments", "signed_distance"]

# Edges of each 2D cell type, as chains of its nodes (corner, [mid-edge,] corner).
_EDGES = {
    "triangle": ((0, 1), (1, 2), (2, 0)),
    "triangle6": ((0, 3, 1), (1, 4, 2), (2, 5, 0)),
    "quad": ((0, 1), (1, 2), (2, 3), (3, 0)),
    "quad8": ((0, 4, 1), (1, 5, 2), (2, 6, 3), (3, 7, 0)),
    "quad9": ((0, 4, 1), (1, 5, 2), (2, 6, 3), (3, 7, 0)),
}
_LINES = {"line": (0, 1), "line3": (0, 2, 1)}  # meshio's line3: ends first, then the middle
_BLOCK = 2_000_000  # point-segment pairs per block of the distances (about 50 MB of temporaries)


def _check_2d(mesh: Mesh) -> None:
    if mesh.dim != 2:
        raise InputError("input channels are built for 2D meshes only so far", value=f"a {mesh.dim}D mesh",
                         expected="a 2D mesh (triangles or quadrilaterals)")


def _chain_segments(chains: np.ndarray) -> np.ndarray:
    """(n, k) node chains -> (n * (k - 1), 2) segments between consecutive nodes."""
    return np.stack([chains[:, :-1], chains[:, 1:]], axis=-1).reshape(-1, 2)


def boundary_segments(mesh: Mesh, region: str | None = None) -> np.ndarray:
    """Point index pairs of the straight pieces of the domain's boundary (the edges that belong
    to one cell only), or of a boundary region's line cells; a curved edge gives two pieces.

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> mesh = build_mesh("unit_square", size=0.5)
    >>> len(boundary_segments(mesh)), len(boundary_segments(mesh, "left"))
    (8, 2)
    """
    _check_2d(mesh)
    if region is not None:
        parts = [_chain_segments(cells[:, list(_LINES[t])]) for t, cells in mesh.region_cells(region).items() if t in _LINES]
        if not parts:
            raise InputError("a distance channel needs a boundary region of line cells", value=region,
                             expected=f"one of {', '.join(_boundary_regions(mesh)) or '(none)'}")
        return np.concatenate(parts)
    chains = []
    for cell_type, cells in mesh.domain_cells.items():
        for edge in _EDGES.get(cell_type, ()):
            chains.append(cells[:, list(edge)])
    if not chains:
        raise InputError("no 2D cells to find the boundary of", value=", ".join(mesh.domain_cells), expected="triangles or quadrilaterals")
    width = max(c.shape[1] for c in chains)
    chains = [c if c.shape[1] == width else np.insert(c, 1, c[:, 0], axis=1) for c in chains]  # (a mixed mesh: pad)
    chains = np.concatenate(chains)
    ends = np.sort(chains[:, [0, -1]], axis=1)
    _, first, counts = np.unique(ends, axis=0, return_index=True, return_counts=True)
    outer = chains[first[counts == 1]]
    segments = _chain_segments(outer)
    return segments[segments[:, 0] != segments[:, 1]]


def _boundary_regions(mesh: Mesh) -> list[str]:
    return [name for name, r in mesh.regions.items() if r.dim == mesh.dim - 1 and any(t in _LINES for t in r.cells)]


def _distance_to_segments(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(len(points))
    ab = b - a
    length2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-300)
    chunk = max(1, _BLOCK // max(len(a), 1))
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk, None, :]
        t = np.clip(np.einsum("pij,ij->pi", p - a, ab) / length2, 0.0, 1.0)
        nearest = a + t[..., None] * ab
        out[start : start + chunk] = np.sqrt(((p - nearest) ** 2).sum(axis=-1).min(axis=1))
    return out


def signed_distance(mesh: Mesh, points: np.ndarray, region: str | None = None) -> np.ndarray:
    """Distance from ``points`` to the domain's boundary (or to boundary ``region``): positive
    inside the meshed domain, negative outside it (in a hole, beyond the outline).

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> mesh = build_mesh("unit_square", size=0.25)
    >>> signed_distance(mesh, np.array([[0.5, 0.5], [0.1, 0.5], [1.5, 0.5]])).round(6).tolist()
    [0.5, 0.1, -0.5]
    """
    from engine.mesh.locate import locate_points

    points = np.atleast_2d(np.asarray(points, dtype=float))[:, :2]
    segments = boundary_segments(mesh, region)
    xy = mesh.points[:, :2]
    distance = _distance_to_segments(points, xy[segments[:, 0]], xy[segments[:, 1]])
    inside = locate_points(mesh, points) >= 0
    on_boundary = distance <= 1e-12 * max(1.0, float(np.ptp(xy, axis=0).max()))
    return np.where(inside | on_boundary, distance, -distance)


def _channel_name(path: str) -> str:
    return "coef." + path.removeprefix("physics.")


def value_channel_names(problem: Problem) -> list[str]:
    """The names of ``problem``'s coefficient and condition channels (``coef.*``, ``bc.*``), as
    :func:`input_channels` names them, without computing any value (cheap on any mesh)."""
    names = [_channel_name(p) for p in problem.coefficients if p.startswith("physics.")]
    for index, condition in enumerate(problem.case.boundary):
        names.append(f"bc.{condition.type}")
        prefix = f"boundary[{index}]."
        names += [f"bc.{condition.type}.{p.removeprefix(prefix)}" for p in problem.coefficients if p.startswith(prefix)]
    return list(dict.fromkeys(names))


def input_channels(problem: Problem) -> dict[str, np.ndarray]:
    """The input channels of ``problem`` at its mesh's points (see the module docstring), in a
    fixed order: coefficients, geometry, then boundary conditions by type.

    Examples
    --------
    >>> import engine
    >>> from engine.case import load_case
    >>> problem = engine.Problem.from_case(load_case(engine.resource_path("examples/kirsch_plate_with_hole.toml")))
    >>> [n for n in input_channels(problem) if not n.startswith("distance.")]  # doctest: +NORMALIZE_WHITESPACE
    ['coef.E', 'coef.nu', 'sdf', 'boundary', 'bc.displacement', 'bc.displacement.ux', 'bc.displacement.uy',
     'bc.traction', 'bc.traction.vector[0]', 'bc.traction.vector[1]']
    """
    mesh = problem.mesh
    _check_2d(mesh)
    points = mesh.points
    channels: dict[str, np.ndarray] = {}
    for path, coefficient in problem.coefficients.items():
        if path.startswith("physics."):
            channels[_channel_name(path)] = np.asarray(coefficient.at_points(points, 0.0), dtype=float)
    segments = boundary_segments(mesh)
    xy = points[:, :2]
    channels["sdf"] = _distance_to_segments(xy, xy[segments[:, 0]], xy[segments[:, 1]])
    mask = np.zeros(mesh.n_points)
    mask[np.unique(segments)] = 1.0
    channels["boundary"] = mask
    for name in _boundary_regions(mesh):
        part = boundary_segments(mesh, name)
        channels[f"distance.{name}"] = _distance_to_segments(xy, xy[part[:, 0]], xy[part[:, 1]])
    for index, condition in enumerate(problem.case.boundary):
        nodes = np.unique(np.concatenate([mesh.region_points(r) for r in condition.regions]))
        indicator = channels.setdefault(f"bc.{condition.type}", np.zeros(mesh.n_points))
        indicator[nodes] = 1.0
        prefix = f"boundary[{index}]."
        for path, coefficient in problem.coefficients.items():
            if path.startswith(prefix):
                key = re.sub(r"^boundary\[\d+\]\.", "", path)
                values = channels.setdefault(f"bc.{condition.type}.{key}", np.zeros(mesh.n_points))
                values[nodes] = coefficient.at_points(points[nodes], 0.0)
    return channels
