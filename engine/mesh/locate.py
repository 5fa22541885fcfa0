"""Which cell holds a point: for probes, and for checking that a point lies in the mesh.

Two searches, both through KD-trees over simplex centres, so that locating P points in N cells
costs about (P + N) log N however many probes a case has:

1. the cells whose centres are nearest each point (the answer for almost every point);
2. for the points left over, the cells grouped by size (radii within a factor 2): a cell
   holds a point only if its centre lies within the cell's radius, so each group is asked for
   the centres within its largest radius. On a graded mesh (a refinement from 3e-4 to 1) the
   nearest centres of a point in a large cell are all small cells, which the first search
   alone would take for "outside the mesh".
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from engine.mesh.mesh import CELL_TYPES, Mesh

__all__ = ["locate_points", "interpolate_at_points", "cell_nodes", "weights_in_cell"]

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


def cell_nodes(mesh: Mesh, cell: int) -> tuple[str, np.ndarray]:
    """The type and the nodes of domain cell ``cell`` (in ``Mesh.domain_cells`` order)."""
    offset = 0
    for ctype, conn in mesh.domain_cells.items():
        if 0 <= cell - offset < len(conn):
            return ctype, conn[cell - offset]
        offset += len(conn)
    raise IndexError(f"no domain cell {cell} in a mesh of {mesh.n_cells} cells")


def weights_in_cell(mesh: Mesh, cell: int, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corner nodes and linear weights that :func:`interpolate_at_points` gives ``point``
    once it is known to lie in domain cell ``cell``: no search, so cheap enough for every move of
    a cursor. A point just outside the cell (picked on a curved face) gets the weights of the
    nearest point of the cell's best simplex.

    Examples
    --------
    >>> from engine.mesh.geometry import build_mesh
    >>> square = build_mesh("unit_square", size=0.25)
    >>> cell = int(locate_points(square, [[0.3, 0.4]])[0])
    >>> nodes, weights = weights_in_cell(square, cell, [0.3, 0.4])
    >>> round(float(weights @ square.points[nodes].sum(axis=1)), 12)   # x + y there
    0.7
    """
    ctype, nodes = cell_nodes(mesh, cell)
    simplices = nodes[np.asarray(_SPLIT[ctype.rstrip("0123456789")])]
    point = np.asarray(point, dtype=float)[: mesh.gdim]
    lam = _barycentric(mesh.points[simplices], np.repeat(point[None, :], len(simplices), axis=0))
    best = int(np.argmax(lam.min(axis=1)))
    weights = np.clip(lam[best], 0.0, None)
    return simplices[best], weights / weights.sum()


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

    def accept(rows: np.ndarray, idx: np.ndarray) -> None:
        """Record simplex idx[j] for point rows[j] where it holds it (the first one wins)."""
        lam = _barycentric(corners[idx], points[rows])
        inside = (lam >= -tolerance).all(axis=1)
        rows, idx, lam = rows[inside], idx[inside], lam[inside]
        rows, first = np.unique(rows, return_index=True)
        fresh = found[rows] < 0
        rows, idx, lam = rows[fresh], idx[first][fresh], lam[first][fresh]
        found[rows] = owner[idx]
        nodes[rows] = simplices[idx]
        weights[rows] = np.clip(lam, 0.0, None) / np.clip(lam, 0.0, None).sum(axis=1, keepdims=True)

    for j in range(k):
        todo = np.flatnonzero(found < 0)
        if not len(todo):
            break
        accept(todo, nearest[todo, j])
    todo = np.flatnonzero(found < 0)
    if len(todo):
        _search_by_size(corners, centres, points, todo, accept)
    return found, nodes, weights


def _search_by_size(corners: np.ndarray, centres: np.ndarray, points: np.ndarray, todo: np.ndarray, accept) -> None:
    """Offer ``accept`` every simplex whose centre lies within its own radius of a point of
    ``todo``, one group of simplices of about the same size at a time."""
    radius = np.linalg.norm(corners - centres[:, None, :], axis=2).max(axis=1)
    smallest = max(float(radius.min()), 1e-300)
    group = np.floor(np.log2(np.maximum(radius, smallest) / smallest)).astype(np.int64)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        reach = float(radius[members].max()) * (1.0 + 1e-6)  # slack for the tolerance on the faces
        hits = cKDTree(centres[members]).query_ball_point(points[todo], r=reach)
        counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
        if not counts.sum():
            continue
        rows = np.repeat(todo, counts)
        idx = members[np.concatenate([np.asarray(h, dtype=np.int64) for h in hits if h])]
        near = np.linalg.norm(points[rows] - centres[idx], axis=1) <= radius[idx] * (1.0 + 1e-6)  # within its own radius
        accept(rows[near], idx[near])


def _barycentric(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of each point in its simplex: (n, dim + 1)."""
    origin = corners[:, 0]
    T = np.transpose(corners[:, 1:] - origin[:, None, :], (0, 2, 1))  # (n, dim, dim)
    with np.errstate(all="ignore"):
        rest = np.linalg.solve(T, (points - origin)[..., None])[..., 0]
    lam = np.column_stack([1 - rest.sum(axis=1), rest])
    return np.where(np.isfinite(lam), lam, -np.inf)
