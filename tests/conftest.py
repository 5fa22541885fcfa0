"""Shared fixtures: real mesh files written by gmsh itself, in every version it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.mesh.gmsh_model import gmsh_session


def gmsh_square(path: Path, *, version: float = 4.1, binary: bool = False, quads: bool = False, order: int = 1) -> Path:
    """A unit square meshed by gmsh with named, overlapping and unnamed physical groups.

    Regions: domain (2D), bottom, bottom_right (bottom + right: overlaps bottom), top,
    PhysicalLine7 (the left side, unnamed group 7), corner (a physical point).
    """
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        surface = occ.addRectangle(0, 0, 0, 1, 1)
        occ.synchronize()
        curves = {}
        for _, tag in gmsh.model.getBoundary([(2, surface)], oriented=False):
            x, y, _ = occ.getCenterOfMass(1, tag)
            side = "bottom" if y < 1e-9 else "top" if y > 1 - 1e-9 else "left" if x < 1e-9 else "right"
            curves[side] = tag
        gmsh.model.addPhysicalGroup(2, [surface], name="domain")
        gmsh.model.addPhysicalGroup(1, [curves["bottom"]], name="bottom")
        gmsh.model.addPhysicalGroup(1, [curves["bottom"], curves["right"]], name="bottom_right")
        gmsh.model.addPhysicalGroup(1, [curves["top"]], name="top")
        gmsh.model.addPhysicalGroup(1, [curves["left"]], tag=7)
        corner = [tag for _, tag in gmsh.model.getEntities(0) if max(abs(gmsh.model.getValue(0, tag, []))) < 1e-9]
        gmsh.model.addPhysicalGroup(0, corner, name="corner")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.25)
        if quads:
            gmsh.option.setNumber("Mesh.RecombineAll", 1)
            gmsh.option.setNumber("Mesh.Algorithm", 8)
        gmsh.model.mesh.generate(2)
        if order > 1:
            gmsh.model.mesh.setOrder(order)
        gmsh.option.setNumber("Mesh.MshFileVersion", version)
        gmsh.option.setNumber("Mesh.Binary", int(binary))
        gmsh.write(str(path))
    return path


def gmsh_box(path: Path, *, hexahedra: bool = False, order: int = 1) -> Path:
    """A unit cube meshed by gmsh: 'solid' (3D), 'xmin' and 'xmax' faces."""
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        volume = occ.addBox(0, 0, 0, 1, 1, 1)
        occ.synchronize()
        faces = {}
        for _, tag in gmsh.model.getBoundary([(3, volume)], oriented=False):
            x, _, _ = occ.getCenterOfMass(2, tag)
            if x < 1e-9:
                faces["xmin"] = tag
            elif x > 1 - 1e-9:
                faces["xmax"] = tag
        gmsh.model.addPhysicalGroup(3, [volume], name="solid")
        gmsh.model.addPhysicalGroup(2, [faces["xmin"]], name="xmin")
        gmsh.model.addPhysicalGroup(2, [faces["xmax"]], name="xmax")
        if hexahedra:
            for dim in (1, 2, 3):
                for _, tag in gmsh.model.getEntities(dim):
                    if dim == 1:
                        gmsh.model.mesh.setTransfiniteCurve(tag, 4)
                    elif dim == 2:
                        gmsh.model.mesh.setTransfiniteSurface(tag)
                        gmsh.model.mesh.setRecombine(2, tag)
                    else:
                        gmsh.model.mesh.setTransfiniteVolume(tag)
        else:
            gmsh.option.setNumber("Mesh.MeshSizeMax", 0.4)
        gmsh.model.mesh.generate(3)
        if order > 1:
            gmsh.model.mesh.setOrder(order)
        gmsh.write(str(path))
    return path


@pytest.fixture
def square_msh(tmp_path: Path) -> Path:
    return gmsh_square(tmp_path / "square.msh")


@pytest.fixture(scope="session")
def gmsh_files(tmp_path_factory) -> dict[str, Path]:
    """Gmsh-written files, built once per test session."""
    root = tmp_path_factory.mktemp("gmsh")
    files = {}
    for version in (2.2, 4.1):
        for binary in (False, True):
            name = f"square_v{version}_{'bin' if binary else 'ascii'}"
            files[name] = gmsh_square(root / f"{name}.msh", version=version, binary=binary)
    files["quads"] = gmsh_square(root / "quads.msh", quads=True)
    files["square_p2"] = gmsh_square(root / "square_p2.msh", order=2)
    files["tetra"] = gmsh_box(root / "tetra.msh")
    files["tetra_p2"] = gmsh_box(root / "tetra_p2.msh", order=2)
    files["hexa"] = gmsh_box(root / "hexa.msh", hexahedra=True)
    with gmsh_session() as gmsh:
        gmsh.open(str(files["square_v4.1_ascii"]))
        gmsh.option.setNumber("Mesh.SaveGroupsOfNodes", 1)
        files["abaqus"] = root / "square.inp"
        gmsh.write(str(files["abaqus"]))
    return files


@pytest.fixture(scope="session")
def resources() -> Path:
    from engine.resources import resources_dir

    return resources_dir()
