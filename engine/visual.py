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

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import InputError
from engine.fields import Field
from engine.mesh.mesh import Mesh

if TYPE_CHECKING:
    import pyvista as pv

__all__ = ["VTK_CELL_TYPES", "to_grid", "region_grid", "scalar_values", "component_names"]

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
