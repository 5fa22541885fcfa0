"""Vectorised assembly of first-order Lagrange (P1) elements on triangles and tetrahedra.

On a simplex the P1 basis functions are the barycentric coordinates, whose gradients are
constant per cell and known in closed form, so every element matrix is a few array operations
over all cells at once (no loop over cells, no quadrature):

.. math::

    K_{ij} = \\int_T k\\, \\nabla\\lambda_i \\cdot \\nabla\\lambda_j
           = k\\,|T|\\, \\nabla\\lambda_i \\cdot \\nabla\\lambda_j, \\qquad
    M_{ij} = \\int_T \\rho\\, \\lambda_i \\lambda_j = \\rho\\, \\frac{|T|}{(d+1)(d+2)} (1 + \\delta_{ij}).

The global matrix is built as the sparse product :math:`G^T W G`, where :math:`G` holds one
row per cell and direction (the gradients, ``d + 1`` entries each) and :math:`W` the cell
weights. scipy's sparse product sums the duplicate contributions with a per-row marker array,
in linear time; the usual COO route has to sort every row's duplicates instead. Measured on
this 2-core machine for 2M triangles (7M stored entries): COO ``tocsr`` 1.1-1.3 s, ``np.unique``
on encoded ``(row, col)`` keys 3.7 s (numpy's sort runs at ~100 ns per element here), the
product 0.2 s plus 0.04 s to sort the column indices. Entries that cancel to exactly zero (the
diagonal of a square split into two right triangles) are not stored. The cell-wise arithmetic
runs in chunks of cells, so that its temporaries stay in cache and are recycled by the
allocator instead of being faulted in afresh from the kernel.

Functions take plain arrays (``points`` of shape ``(n, d)``, ``cells`` of shape ``(m, d + 1)``)
so they serve any mesh reader; coefficients are scalars or one value per cell.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = [
    "stiffness_p1",
    "mass_p1",
    "load_p1",
    "load_p1_cells",
    "gradients_p1",
    "structured_unit_square",
]


def _check_mesh(points, cells) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(points, dtype=float)
    cells = np.asarray(cells)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must have shape (n, 2) or (n, 3); got {points.shape}")
    d = points.shape[1]
    if cells.ndim != 2 or cells.shape[1] != d + 1:
        kind = "triangles" if d == 2 else "tetrahedra"
        raise ValueError(f"cells must be {kind} of shape (m, {d + 1}) for {d}D points; got {cells.shape}")
    if not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"cells must hold integer point indices; got dtype {cells.dtype}")
    if cells.size and (cells.min() < 0 or cells.max() >= len(points)):
        raise ValueError(f"cells refer to points outside 0..{len(points) - 1}: {cells.min()}..{cells.max()}")
    # int32 halves the memory traffic of every gather and of the sparse indices.
    if cells.dtype != np.int32 and len(points) < 2**31:
        cells = cells.astype(np.int32)
    return points, cells


def _per_cell(value, m: int, name: str) -> np.ndarray | float:
    if np.ndim(value) == 0:
        return float(value)
    value = np.asarray(value, dtype=float)
    if value.shape != (m,):
        raise ValueError(f"{name} must be a number or one value per cell, shape ({m},); got shape {value.shape}")
    return value


def gradients_p1(points, cells) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the barycentric coordinates and the volume of every cell.

    Parameters
    ----------
    points : (n, d) array
        Point coordinates, ``d`` = 2 or 3.
    cells : (m, d + 1) int array
        Triangles (2D) or tetrahedra (3D), as indices into ``points``.

    Returns
    -------
    grads : (m, d, d + 1) array
        ``grads[c, :, i]`` is the (constant) gradient of the basis function of local vertex
        ``i`` in cell ``c``.
    volumes : (m,) array
        Cell areas (2D) or volumes (3D), positive whatever the orientation.

    Raises
    ------
    ValueError
        If the arrays have the wrong shapes or a cell is degenerate (zero volume).

    Examples
    --------
    >>> g, vol = gradients_p1([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]])
    >>> g[0]
    array([[-1.,  1.,  0.],
           [-1.,  0.,  1.]])
    >>> vol
    array([0.5])
    """
    points, cells = _check_mesh(points, cells)
    m, d = len(cells), points.shape[1]
    grads, volume = np.empty((m, d, d + 1)), np.empty(m)
    coords = _coordinates(points)
    for part in _chunks(m):
        det, cof = _jacobians(coords, cells, part)
        _scaled_gradients(cof, 1.0 / det, grads[part])
        volume[part] = _volume(det, d)
    return grads, volume


#: Cells per chunk: the cell-wise temporaries (~20 arrays of this length) stay in the CPU cache
#: and in the allocator's free lists. Whole-mesh temporaries cost more in page faults than in
#: arithmetic (2M triangles: 1.0 s of system time against 0.27 s of user time).
_CHUNK = 32768


def _chunks(m: int):
    for start in range(0, m, _CHUNK):
        yield slice(start, min(start + _CHUNK, m))


def _coordinates(points: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(points[:, a]) for a in range(points.shape[1])]


def _jacobians(coords: list[np.ndarray], cells: np.ndarray, part: slice) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """``det J`` of the cells ``part`` and the cofactors: ``grad l_j = cof[a][j - 1] / det``."""
    d = len(coords)
    # Gathering coordinate by coordinate into (d + 1, chunk) blocks keeps every operand contiguous.
    cells_t = np.ascontiguousarray(cells[part].T)
    xs = [c[cells_t] for c in coords]
    e = [[xs[a][j] - xs[a][0] for a in range(d)] for j in range(1, d + 1)]  # e[j-1][a]: edge j, component a
    if d == 2:
        (ax, ay), (bx, by) = e
        det = ax * by - ay * bx
        x, y = xs
        # grad l1 = (by, -bx) / det, grad l2 = (-ay, ax) / det; -bx, -ay as differences (no -0.0).
        cof = [[by, y[0] - y[1]], [x[0] - x[2], ax]]
    else:

        def cross(u, v):
            return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]

        # The rows of J^{-1} for J = [e1 e2 e3] are (e2 x e3, e3 x e1, e1 x e2) / det.
        rows = [cross(e[1], e[2]), cross(e[2], e[0]), cross(e[0], e[1])]
        det = e[0][0] * rows[0][0] + e[0][1] * rows[0][1] + e[0][2] * rows[0][2]
        cof = [[rows[j][a] for j in range(3)] for a in range(3)]
    bad = np.flatnonzero(det == 0)
    if bad.size:
        first = part.start + bad[0]
        raise ValueError(f"degenerate cell(s) with zero volume, the first is cell {first}")
    return det, cof


def _volumes(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    coords = _coordinates(points)
    volume = np.empty(len(cells))
    for part in _chunks(len(cells)):
        volume[part] = _volume(_jacobians(coords, cells, part)[0], points.shape[1])
    return volume


def _volume(det: np.ndarray, d: int) -> np.ndarray:
    return np.abs(det) * (0.5 if d == 2 else 1.0 / 6.0)


def _scaled_gradients(cof: list[list[np.ndarray]], scale: np.ndarray, out: np.ndarray) -> None:
    """Write ``scale * grad l_j`` into ``out`` (``(chunk, d, d + 1)``, the factor-matrix rows)."""
    d = len(cof)
    for a in range(d):
        for j in range(d):
            np.multiply(cof[a][j], scale, out=out[:, a, j + 1])
        # sum_j grad l_j = 0: the first gradient is minus the others.
        np.add(out[:, a, 1], out[:, a, 2], out=out[:, a, 0])
        if d == 3:
            out[:, a, 0] += out[:, a, 3]
        np.subtract(0.0, out[:, a, 0], out=out[:, a, 0])  # 0 - s rather than -s: no -0.0


def _gram(rows: np.ndarray, cells: np.ndarray, n: int, weighted_rows: np.ndarray | None = None) -> sparse.csr_matrix:
    """``sum_c F_c^T F'_c`` scattered to the global ``(n, n)`` matrix, as one sparse product.

    ``rows`` has shape ``(m, r, k)``: ``r`` factor rows ``F_c`` per cell, one entry per local
    vertex (the cell's points); ``weighted_rows`` (``F'_c``, same shape) defaults to ``rows``,
    which makes the result exactly symmetric.
    """
    m, r, k = rows.shape
    size = m * r * k
    index = np.int32 if size < 2**31 and n < 2**31 else np.int64
    indptr = np.arange(0, size + 1, k, dtype=index)
    indices = np.broadcast_to(cells[:, None, :], (m, r, k)).reshape(-1).astype(index, copy=False)
    F = sparse.csr_matrix((rows.reshape(-1), indices, indptr), shape=(m * r, n))
    Fw = F if weighted_rows is None else sparse.csr_matrix((weighted_rows.reshape(-1), indices, indptr), shape=(m * r, n))
    # F.T is F in CSC form: converting it to CSR is a linear-time counting sort. The product
    # then sums each row's duplicates with a marker array, again without sorting.
    A = sparse.csr_matrix(F.T.tocsr() @ Fw)
    A.sort_indices()
    return A


def stiffness_p1(points, cells, k=1.0) -> sparse.csr_matrix:
    """Stiffness matrix of ``-div(k grad u)``: ``K[i, j] = sum_T k_T |T| grad l_i . grad l_j``.

    Parameters
    ----------
    points : (n, d) array
        Point coordinates, ``d`` = 2 or 3.
    cells : (m, d + 1) int array
        Triangles (2D) or tetrahedra (3D).
    k : float or (m,) array
        Conductivity: one number, or one value per cell.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(n, n)``, symmetric, sorted indices, no duplicates.

    Examples
    --------
    >>> K = stiffness_p1([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]])
    >>> K.toarray()
    array([[ 1. , -0.5, -0.5],
           [-0.5,  0.5,  0. ],
           [-0.5,  0. ,  0.5]])
    """
    points, cells = _check_mesh(points, cells)
    m, d = len(cells), points.shape[1]
    k = _per_cell(k, m, "k")
    coords = _coordinates(points)
    # sqrt(w) on both factors, G^T W G = (sqrt(W) G)^T (sqrt(W) G), is exactly symmetric; a
    # negative coefficient needs plain G on the left and W G on the right.
    symmetric = bool(np.all(k >= 0))
    rows = np.empty((m, d, d + 1))
    weighted = None if symmetric else np.empty((m, d, d + 1))
    for part in _chunks(m):
        det, cof = _jacobians(coords, cells, part)
        weight = _volume(det, d) * (k if np.ndim(k) == 0 else k[part])
        if symmetric:
            _scaled_gradients(cof, np.sqrt(weight) / det, rows[part])
        else:
            inv = 1.0 / det
            _scaled_gradients(cof, inv, rows[part])
            _scaled_gradients(cof, weight * inv, weighted[part])
    return _gram(rows, cells, len(points), weighted)


def mass_p1(points, cells, rho=1.0, *, lumped: bool = False) -> sparse.csr_matrix:
    """Mass matrix ``M[i, j] = sum_T rho_T int_T l_i l_j``, consistent or row-sum lumped.

    Parameters
    ----------
    points : (n, d) array
        Point coordinates, ``d`` = 2 or 3.
    cells : (m, d + 1) int array
        Triangles (2D) or tetrahedra (3D).
    rho : float or (m,) array
        Density: one number, or one value per cell.
    lumped : bool
        Return the diagonal matrix of row sums (``rho_T |T| / (d + 1)`` to each vertex).

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(n, n)``, sorted indices, no duplicates.

    Examples
    --------
    >>> M = mass_p1([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]])
    >>> M.toarray() * 24
    array([[2., 1., 1.],
           [1., 2., 1.],
           [1., 1., 2.]])
    >>> mass_p1([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]], lumped=True).diagonal() * 6
    array([1., 1., 1.])
    """
    points, cells = _check_mesh(points, cells)
    rho = _per_cell(rho, len(cells), "rho")
    m, k = cells.shape
    n = len(points)
    volume = _volumes(points, cells) * rho
    diag = np.bincount(cells.reshape(-1), weights=np.repeat(volume / k, k), minlength=n)
    if lumped:
        index = np.arange(n + 1, dtype=np.int32 if n < 2**31 else np.int64)
        return sparse.csr_matrix((diag, index[:-1], index), shape=(n, n))
    # The element matrix is w (1 1^T + I) with w = |T| / ((d+1)(d+2)): the all-ones part is
    # the product C^T W C of the cell-point incidence C, the identity part (the row sums
    # divided by d + 2) is added on the existing diagonal.
    w = volume / (k * (k + 1))
    if np.all(w >= 0):
        M = _gram(np.repeat(np.sqrt(w), k).reshape(m, 1, k), cells, n)
    else:
        M = _gram(np.ones((m, 1, k)), cells, n, np.repeat(w, k).reshape(m, 1, k))
    identity = diag / (k + 1)
    rows = np.repeat(np.arange(n, dtype=M.indices.dtype), np.diff(M.indptr))
    on_diagonal = np.flatnonzero(M.indices == rows)
    M.data[on_diagonal] += identity[M.indices[on_diagonal]]
    identity[M.indices[on_diagonal]] = 0.0
    if np.any(identity):  # a diagonal entry cancelled to zero (densities of both signs)
        M = sparse.csr_matrix(M + sparse.diags(identity))
    return M


def load_p1(points, cells, f_at_points) -> np.ndarray:
    """Consistent load vector ``b = M f`` of a source given at the points (P1 interpolant).

    Computed cell by cell without forming ``M``:
    ``b_i += |T| / ((d+1)(d+2)) (sum_{j in T} f_j + f_i)``.

    Parameters
    ----------
    points : (n, d) array
        Point coordinates, ``d`` = 2 or 3.
    cells : (m, d + 1) int array
        Triangles (2D) or tetrahedra (3D).
    f_at_points : (n,) array
        Source values at the points.

    Returns
    -------
    (n,) array

    Examples
    --------
    >>> load_p1([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]], [1.0, 1.0, 1.0]) * 6
    array([1., 1., 1.])
    """
    points, cells = _check_mesh(points, cells)
    f = np.asarray(f_at_points, dtype=float)
    if f.shape != (len(points),):
        raise ValueError(f"f_at_points must have one value per point, shape ({len(points)},); got shape {f.shape}")
    m, k = cells.shape
    w = _volumes(points, cells) / (k * (k + 1))
    fc = f[cells]  # (m, k)
    total = fc[:, 0] + fc[:, 1]
    for j in range(2, k):
        total += fc[:, j]
    fc += total[:, None]
    fc *= w[:, None]
    return np.bincount(cells.reshape(-1), weights=fc.reshape(-1), minlength=len(points))


def load_p1_cells(points, cells, f_cell) -> np.ndarray:
    """Load vector of a source constant per cell: ``b_i += f_T |T| / (d + 1)``.

    Parameters
    ----------
    points : (n, d) array
        Point coordinates, ``d`` = 2 or 3.
    cells : (m, d + 1) int array
        Triangles (2D) or tetrahedra (3D).
    f_cell : float or (m,) array
        Source value in each cell.

    Returns
    -------
    (n,) array

    Examples
    --------
    >>> load_p1_cells([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]], [6.0])
    array([1., 1., 1.])
    """
    points, cells = _check_mesh(points, cells)
    f = _per_cell(f_cell, len(cells), "f_cell")
    k = cells.shape[1]
    w = _volumes(points, cells) * f / k
    return np.bincount(cells.reshape(-1), weights=np.repeat(w, k), minlength=len(points))


def structured_unit_square(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unit square as an ``n x n`` grid of squares, each split into two triangles.

    Parameters
    ----------
    n : int
        Squares per side (``n >= 1``): ``(n + 1)**2`` points, ``2 n**2`` triangles.

    Returns
    -------
    points : ((n + 1)**2, 2) array
        Row by row, ``x`` fastest.
    triangles : (2 n**2, 3) int32 array
        Counter-clockwise; every square is split along its diagonal from bottom-left to
        top-right.
    boundary_nodes : int array
        Sorted indices of the points on the boundary.

    Examples
    --------
    >>> points, triangles, boundary = structured_unit_square(2)
    >>> points.shape, triangles.shape, boundary.size
    ((9, 2), (8, 3), 8)
    >>> triangles[:2]
    array([[0, 1, 4],
           [0, 4, 3]], dtype=int32)
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive number of squares per side; got {n}")
    s = np.linspace(0.0, 1.0, n + 1)
    points = np.empty(((n + 1) ** 2, 2))
    points[:, 0] = np.tile(s, n + 1)
    points[:, 1] = np.repeat(s, n + 1)
    index = np.int32 if (n + 1) ** 2 < 2**31 else np.int64
    corner = (np.arange(n, dtype=index)[:, None] * (n + 1) + np.arange(n, dtype=index)).reshape(-1)
    triangles = np.empty((2 * n * n, 3), dtype=index)
    triangles[0::2, 0] = corner
    triangles[0::2, 1] = corner + 1
    triangles[0::2, 2] = corner + n + 2
    triangles[1::2, 0] = corner
    triangles[1::2, 1] = corner + n + 2
    triangles[1::2, 2] = corner + n + 1
    side = np.arange(n + 1, dtype=index)
    boundary = np.unique(np.concatenate([side, side * (n + 1), side * (n + 1) + n, n * (n + 1) + side]))
    return points, triangles, boundary
