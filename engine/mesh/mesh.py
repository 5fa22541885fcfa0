"""The Mesh: points, cells by type and named regions.

One block of cells per cell type (meshio's names), so "the triangles" is one array, and every
region is a set of indices into those blocks. A cell may belong to several regions (gmsh lets an
element sit in several physical groups). Node-set regions (Abaqus ``*NSET``) carry points instead
of cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from engine.errors import MeshError, RegionError

__all__ = ["CellType", "CELL_TYPES", "Region", "Mesh", "merge_cell_blocks"]


class CellType(NamedTuple):
    dim: int
    n_nodes: int
    order: int


#: The cell types the engine accepts, by meshio name. Others (wedges, pyramids, polygons) are
#: refused on load because no solver of ours handles them.
CELL_TYPES: dict[str, CellType] = {
    "vertex": CellType(0, 1, 1),
    "line": CellType(1, 2, 1),
    "line3": CellType(1, 3, 2),
    "triangle": CellType(2, 3, 1),
    "triangle6": CellType(2, 6, 2),
    "quad": CellType(2, 4, 1),
    "quad8": CellType(2, 8, 2),
    "quad9": CellType(2, 9, 2),
    "tetra": CellType(3, 4, 1),
    "tetra10": CellType(3, 10, 2),
    "hexahedron": CellType(3, 8, 1),
    "hexahedron20": CellType(3, 20, 2),
    "hexahedron27": CellType(3, 27, 2),
}


def _supported_types() -> str:
    return ", ".join(CELL_TYPES)


@dataclass(frozen=True)
class Region:
    """A named part of a mesh: a boundary, a subdomain, or a set of nodes.

    Attributes
    ----------
    name
        The name a case refers to (``"inlet"``, ``"hole"``, ``"steel"``).
    dim
        Topological dimension of its cells: the mesh's dimension for a subdomain, one less for a
        boundary, 0 for points or a node set.
    cells
        Cell type -> indices into ``Mesh.cells[type]``.
    points
        Point indices for a node set (no cells); ``None`` for a cell region.
    """

    name: str
    dim: int
    cells: Mapping[str, np.ndarray] = field(default_factory=dict)
    points: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        return int(sum(len(idx) for idx in self.cells.values()))

    @property
    def kind(self) -> str:
        return "node set" if self.points is not None else f"{self.dim}D cells"


class Mesh:
    """Points, cells by type, and named regions.

    Parameters
    ----------
    points
        ``(n, 2)`` or ``(n, 3)`` coordinates, finite.
    cells
        Cell type (meshio name, see ``CELL_TYPES``) -> ``(m, nodes_per_cell)`` point indices.
    regions
        Named regions; their indices refer to ``cells``.
    point_data, cell_data
        Extra arrays carried with the mesh (e.g. a permeability field stored in the file).
        ``cell_data[name][cell_type]`` is one value (row) per cell of that block.
    source
        The file the mesh came from, for messages.

    Examples
    --------
    >>> import numpy as np
    >>> square = Mesh(np.array([[0., 0.], [1., 0.], [1., 1.], [0., 1.]]),
    ...               {"triangle": np.array([[0, 1, 2], [0, 2, 3]]), "line": np.array([[0, 1]])},
    ...               [Region("bottom", 1, {"line": np.array([0])})])
    >>> square.dim, square.n_points, square.n_cells, square.region_points("bottom").tolist()
    (2, 4, 2, [0, 1])
    """

    def __init__(
        self,
        points: np.ndarray,
        cells: Mapping[str, np.ndarray],
        regions: Iterable[Region] = (),
        *,
        point_data: Mapping[str, np.ndarray] | None = None,
        cell_data: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        source: str | Path | None = None,
    ) -> None:
        self.source = str(source) if source is not None else None
        self.points = self._check_points(points)
        self.cells = self._check_cells(cells)
        self.regions: dict[str, Region] = {}
        for region in regions:
            self._check_region(region)
            self.regions[region.name] = region
        self.point_data = {k: np.asarray(v) for k, v in (point_data or {}).items()}
        self.cell_data = {k: {t: np.asarray(a) for t, a in v.items()} for k, v in (cell_data or {}).items()}
        self._check_data()

    # -- validation -------------------------------------------------------------------------
    def _error(self, problem: str, **kwargs: Any) -> MeshError:
        return MeshError(problem, source=self.source, **kwargs)

    def _check_points(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] not in (2, 3):
            raise self._error("points have the wrong shape", value=pts.shape, expected="(n, 2) or (n, 3)")
        if len(pts) == 0:
            raise self._error("the mesh is empty: it has no points", expected="at least one cell")
        bad = ~np.isfinite(pts).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise self._error(
                f"{int(bad.sum())} point(s) have NaN or infinite coordinates, the first is point {i}",
                value=pts[i].tolist(),
                expected="finite coordinates",
            )
        return pts

    def _check_cells(self, cells: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        n = len(self.points)
        for ctype, conn in cells.items():
            if ctype not in CELL_TYPES:
                raise self._error("unsupported cell type", value=ctype, expected=f"one of {_supported_types()}")
            arr = np.asarray(conn)
            if arr.size == 0:
                continue
            if not np.issubdtype(arr.dtype, np.integer):
                raise self._error(f"{ctype} connectivity is not integer", value=str(arr.dtype), expected="integer point indices")
            arr = arr.astype(np.int64, copy=False)
            want = CELL_TYPES[ctype].n_nodes
            if arr.ndim != 2 or arr.shape[1] != want:
                raise self._error(f"{ctype} connectivity has the wrong shape", value=arr.shape, expected=f"(m, {want})")
            if arr.min() < 0 or arr.max() >= n:
                raise self._error(
                    f"{ctype} cells refer to points that do not exist",
                    value=(int(arr.min()), int(arr.max())),
                    expected=f"indices in [0, {n - 1}]",
                )
            out[ctype] = arr
        if not any(CELL_TYPES[t].dim >= 1 for t in out):
            raise self._error("the mesh is empty: it has no cells of dimension 1 or more", expected="at least one line, surface or volume cell")
        return out

    def _check_region(self, region: Region) -> None:
        for ctype, idx in region.cells.items():
            if ctype not in self.cells:
                raise self._error(f"region {region.name!r} refers to {ctype} cells the mesh does not have")
            if len(idx) and (np.min(idx) < 0 or np.max(idx) >= len(self.cells[ctype])):
                raise self._error(f"region {region.name!r} refers to {ctype} cells that do not exist")
        if region.points is not None and len(region.points):
            if np.min(region.points) < 0 or np.max(region.points) >= len(self.points):
                raise self._error(f"node set {region.name!r} refers to points that do not exist")

    def _check_data(self) -> None:
        for name, values in self.point_data.items():
            if len(values) != len(self.points):
                raise self._error(f"point data {name!r} has {len(values)} values for {len(self.points)} points")
        for name, blocks in self.cell_data.items():
            for ctype, values in blocks.items():
                if ctype not in self.cells or len(values) != len(self.cells[ctype]):
                    raise self._error(f"cell data {name!r} does not match the {ctype} cells")

    # -- shape ------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Topological dimension: that of the highest-dimensional cells."""
        return max(CELL_TYPES[t].dim for t in self.cells)

    @property
    def gdim(self) -> int:
        """Number of coordinates per point (2 or 3)."""
        return int(self.points.shape[1])

    @property
    def n_points(self) -> int:
        return int(len(self.points))

    @property
    def domain_cells(self) -> dict[str, np.ndarray]:
        """The cells that fill the domain (those of the mesh's dimension)."""
        return {t: c for t, c in self.cells.items() if CELL_TYPES[t].dim == self.dim}

    @property
    def n_cells(self) -> int:
        """Number of domain cells."""
        return int(sum(len(c) for c in self.domain_cells.values()))

    @property
    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.points.min(axis=0), self.points.max(axis=0)

    @property
    def points3d(self) -> np.ndarray:
        """Points padded to three coordinates (for VTK and file formats that want x, y, z)."""
        if self.gdim == 3:
            return self.points
        return np.column_stack([self.points, np.zeros(len(self.points))])

    # -- regions ----------------------------------------------------------------------------
    def region(self, name: str) -> Region:
        """The region called ``name``; a ``RegionError`` listing the known names otherwise."""
        try:
            return self.regions[name]
        except KeyError:
            known = ", ".join(repr(n) for n in self.regions) or "none (this mesh has no named regions)"
            raise RegionError("unknown region name", source=self.source, value=name, expected=f"one of {known}") from None

    def region_points(self, name: str) -> np.ndarray:
        """Sorted indices of the points in region ``name``."""
        region = self.region(name)
        if region.points is not None:
            return np.unique(region.points)
        parts = [self.cells[t][idx].ravel() for t, idx in region.cells.items()]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)

    def region_cells(self, name: str) -> dict[str, np.ndarray]:
        """Cell type -> connectivity of the cells in region ``name``."""
        region = self.region(name)
        return {t: self.cells[t][idx] for t, idx in region.cells.items()}

    # -- reporting --------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts, bounding box, cell types and regions, ready for JSON."""
        lo, hi = self.bounding_box
        return {
            "source": self.source,
            "dimension": self.dim,
            "coordinates": self.gdim,
            "points": self.n_points,
            "cells": {t: int(len(c)) for t, c in self.cells.items()},
            "domain_cells": self.n_cells,
            "bounding_box": {"min": lo.tolist(), "max": hi.tolist()},
            "regions": [
                {
                    "name": r.name,
                    "dim": r.dim,
                    "kind": "nodes" if r.points is not None else "cells",
                    "size": int(len(r.points)) if r.points is not None else r.n_cells,
                    "cell_types": sorted(r.cells),
                }
                for r in self.regions.values()
            ],
            "point_data": sorted(self.point_data),
            "cell_data": sorted(self.cell_data),
        }

    def __repr__(self) -> str:
        types = ", ".join(f"{len(c)} {t}" for t, c in self.cells.items())
        return f"Mesh({self.n_points} points, {types}; regions: {', '.join(self.regions) or 'none'})"


def merge_cell_blocks(blocks: list[tuple[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """One array per cell type, duplicates dropped (first occurrence kept, in order).

    Returns the merged cells and, per input block, the merged index of each of its cells.
    Duplicates appear when a format stores a cell once per group it belongs to (Gmsh 2.2).
    """
    cells: dict[str, np.ndarray] = {}
    where: list[np.ndarray] = [np.empty(0, np.int64)] * len(blocks)
    for ctype in dict.fromkeys(t for t, _ in blocks):
        ids = [i for i, (t, _) in enumerate(blocks) if t == ctype]
        stacked = np.concatenate([blocks[i][1] for i in ids]).astype(np.int64)
        _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        order = np.argsort(first)  # unique rows in order of first appearance
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        cells[ctype] = stacked[first[order]]
        offset = 0
        for i in ids:
            n = len(blocks[i][1])
            where[i] = rank[inverse[offset : offset + n]]
            offset += n
    return cells, where
