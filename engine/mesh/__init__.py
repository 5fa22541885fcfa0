"""Meshes: the Mesh noun, file import/export and built-in parametric geometries."""

from engine.mesh.io import FORMATS, read_mesh, write_mesh
from engine.mesh.mesh import CELL_TYPES, Mesh, Region

__all__ = ["CELL_TYPES", "FORMATS", "Mesh", "Region", "read_mesh", "write_mesh"]
