"""Regenerate the shipped example meshes: ``python resources/meshes/make_meshes.py``.

Each file is small (coarse) and carries named regions, so the examples and the tests can use
real files in several formats.
"""

from pathlib import Path

import numpy as np

from engine.mesh.geometry import build_mesh
from engine.mesh.io import write_mesh
from engine.mesh.mesh import Mesh
from engine.problem import cell_centroids

HERE = Path(__file__).resolve().parent


def main() -> None:
    # A plate with a hole, as gmsh itself writes it (Gmsh 4.1, binary off so it diffs).
    plate = build_mesh("plate_with_hole", {"width": 2.0, "height": 1.0, "radius": 0.25}, size=0.1)
    write_mesh(plate, HERE / "plate_with_hole.msh", binary=False)

    # An L-shaped bracket as an Abaqus input file: element sets and node sets.
    bracket = build_mesh("l_shape", {"size": 1.0, "cut": 0.5}, size=0.08)
    write_mesh(bracket, HERE / "l_bracket.inp")

    # The unit square with a piecewise-constant permeability stored as cell data "k", for cases
    # that read a coefficient from a file.
    square = build_mesh("unit_square", size=0.05)
    centres = cell_centroids(square)
    k = np.where((np.floor(4 * centres[:, 0]) + np.floor(4 * centres[:, 1])) % 2 == 0, 12.0, 3.0)
    with_k = Mesh(square.points, square.cells, square.regions.values(), cell_data={"k": {"triangle": k}})
    write_mesh(with_k, HERE / "darcy_checkerboard.vtu")

    # A coarse 3D box of tetrahedra.
    box = build_mesh("box", {"lx": 1.0, "ly": 0.5, "lz": 0.25}, size=0.15)
    write_mesh(box, HERE / "box_tetra.msh", binary=False)


if __name__ == "__main__":
    main()
