"""Which cell holds a point: for probes, and for checking that a point lies in the mesh."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from engine.mesh.mesh import CELL_TYPES, Mesh

__all__ = ["locate_points", "interpolate_at_points"]

# Corner-node simplices that tile each cell (second-order cells use their corners: a point
# near a curved edge is judged against the straight one).
_SPLIT = {
    "triangle": [[0, 1, 2]],
    "quad": [[0, 1, 2], [0, 2, 3]],
    "tetra": [[0, 1, 2, 3]],
    "hexahedron": [[0, 1, 3, 4], [1, 2, 3, 6], [1, 4, 5, 6], [3, 4, 6, 7], [1, 3, 4, 6]],
}


def locate_points(mesh: Mesh, points: np.ndarray, *, tolerance: float = 1e-9, candidates: int = 24) -> np.ndarray:
    """Index (in ``Mesh.domain_cells`` order) of a cell holding each point, or -1 for none.

    A point on a cell's boundary, or within ``tolerance`` (relative to the cell) of it, counts
    as inside.

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> plate = build_mesh("plate_with_hole", size=0.2)
    >>> (locate_points(plate, [[0.9, 0.9], [0.0, 0.0]]) >= 0).tolist()   # the origin is in the hole
    [True, False]
    """
    return _locate(mesh, points, tolerance=tolerance, candidates=candidates)[0]


def interpolate_at_points(mesh: Mesh, values: np.ndarray, points: np.ndarray, *, tolerance: float = 1e-9) -> np.ndarray:
    """Point values interpolated linearly (from the corner nodes) at ``points``; NaN outside.

    ``values`` is ``(n_points,)`` or ``(n_points, k)``; so is the answer, one row per point.

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> square = build_mesh("unit_square", size=0.25)
    >>> x_plus_y = square.points[:, 0] + square.points[:, 1]
    >>> interpolate_at_points(square, x_plus_y, [[0.3, 0.4], [2.0, 0.0]]).round(12).tolist()
    [0.7, nan]
    """
    values = np.asarray(values, dtype=float)
    cells, corners, lam = _locate(mesh, points, tolerance=tolerance)
    out = np.full((len(cells), *values.shape[1:]), np.nan)
    inside = cells >= 0
    out[inside] = np.einsum("ij,ij...->i...", lam[inside], values[corners[inside]])
    return out


def _locate(mesh: Mesh, points: np.ndarray, *, tolerance: float = 1e-9, candidates: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: the owning cell (-1 for none), the corner nodes of the simplex that holds it
    and its barycentric coordinates there."""
    points = np.atleast_2d(np.asarray(points, dtype=float))[:, : mesh.gdim]
    simplices, owner = [], []
    offset = 0
    for ctype, conn in mesh.domain_cells.items():
        base = ctype.rstrip("0123456789")
        for split in _SPLIT[base]:
            simplices.append(conn[:, split])
            owner.append(offset + np.arange(len(conn)))
        offset += len(conn)
    simplices = np.concatenate(simplices)
    owner = np.concatenate(owner)
    corners = mesh.points[simplices]  # (n_simplices, dim + 1, dim)
    centres = corners.mean(axis=1)
    k = min(candidates, len(simplices))
    _, nearest = cKDTree(centres).query(points, k=k)
    nearest = np.atleast_2d(nearest.reshape(len(points), k))
    found = np.full(len(points), -1, dtype=np.int64)
    nodes = np.zeros((len(points), simplices.shape[1]), dtype=np.int64)
    weights = np.zeros((len(points), simplices.shape[1]))
    for j in range(k):
        todo = found < 0
        if not todo.any():
            break
        idx = nearest[todo, j]
        lam = _barycentric(corners[idx], points[todo])
        inside = (lam >= -tolerance).all(axis=1)
        rows = np.flatnonzero(todo)[inside]
        found[rows] = owner[idx[inside]]
        nodes[rows] = simplices[idx[inside]]
        weights[rows] = np.clip(lam[inside], 0.0, None) / np.clip(lam[inside], 0.0, None).sum(axis=1, keepdims=True)
    return found, nodes, weights


def _barycentric(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of each point in its simplex: (n, dim + 1)."""
    origin = corners[:, 0]
    T = np.transpose(corners[:, 1:] - origin[:, None, :], (0, 2, 1))  # (n, dim, dim)
    with np.errstate(all="ignore"):
        rest = np.linalg.solve(T, (points - origin)[..., None])[..., 0]
    lam = np.column_stack([1 - rest.sum(axis=1), rest])
    return np.where(np.isfinite(lam), lam, -np.inf)
