"""The bridge to gmsh: one locked session at a time, and Mesh <-> gmsh model.

gmsh keeps one global model per process, so every use goes through ``gmsh_session`` (a lock
plus a clean model). We read and write ``.msh`` files with gmsh itself rather than through
meshio: gmsh knows every version and flavour of its own format, keeps an element that sits in
several physical groups in all of them, and writes files any gmsh-based tool reopens.

gmsh is a scripting system as much as a reader: opening ``FILE`` also merges an option file
``FILE.opt`` beside it if there is one, and option files can run shell commands
(``SystemCall``); at start-up it reads ``~/.gmshrc`` and ``~/.gmsh-options``; a file name ending
in ``.gz`` is unpacked through the shell. So gmsh never sees a user's path: ``read_msh`` hands it
a link named ``mesh.msh`` in a private folder of ours (nothing beside it to merge), sessions
start without configuration files, and gmsh only ever opens ``.msh`` content (checked first).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine.errors import MeshError
from engine.mesh.mesh import CELL_TYPES, Mesh, Region, merge_cell_blocks

__all__ = ["gmsh_session", "mesh_from_gmsh_model", "mesh_with_planar_points", "private_copy_name", "read_msh", "write_msh"]

_LOCK = threading.RLock()

# gmsh element type -> (meshio name, gmsh-to-VTK node permutation or None).
# gmsh numbers nodes like VTK except for these second-order cells.
_GMSH_TYPES: dict[int, tuple[str, list[int] | None]] = {
    15: ("vertex", None),
    1: ("line", None),
    8: ("line3", None),
    2: ("triangle", None),
    9: ("triangle6", None),
    3: ("quad", None),
    16: ("quad8", None),
    10: ("quad9", None),
    4: ("tetra", None),
    11: ("tetra10", [0, 1, 2, 3, 4, 5, 6, 7, 9, 8]),
    5: ("hexahedron", None),
    17: ("hexahedron20", [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 9, 16, 18, 19, 17, 10, 12, 14, 15]),
    12: (
        "hexahedron27",
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 9, 16, 18, 19, 17, 10, 12, 14, 15, 22, 23, 21, 24, 20, 25, 26],
    ),
}
_MESHIO_TO_GMSH = {name: code for code, (name, _) in _GMSH_TYPES.items()}
_DIM_WORD = {0: "Point", 1: "Line", 2: "Surface", 3: "Volume"}
_MSH_VERSIONS = {"msh2": 2.2, "msh4": 4.1}


@contextlib.contextmanager
def gmsh_session(name: str = "workbench") -> Iterator[object]:
    """Hold the process-wide gmsh lock and give a fresh, quiet model; finalize after.

    gmsh is initialised non-interruptible so that it can run on a worker thread (its default
    installs a SIGINT handler, which only the main thread may do), and without reading the
    user's configuration files (they are option scripts, see the module doc).
    """
    import gmsh

    with _LOCK:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.option.setNumber("General.Verbosity", 2)
            gmsh.model.add(name)
            yield gmsh
        finally:
            gmsh.finalize()


def unnamed_group_name(dim: int, tag: int) -> str:
    """The name gmsh itself gives an unnamed physical group in its exports (``PhysicalLine4``)."""
    return f"Physical{_DIM_WORD[dim]}{tag}"


def mesh_from_gmsh_model(gmsh, *, source: str | Path | None = None) -> Mesh:
    """Build a Mesh from the current gmsh model: elements by type, physical groups as regions.

    Only elements in at least one physical group are kept when the model has physical groups
    (gmsh's own rule when it saves a file); all elements otherwise.
    """
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    if len(node_tags) == 0:
        raise MeshError("the mesh is empty: it has no nodes", source=source, expected="a meshed model")
    # Number points by gmsh node tag (the file's numbering), not by the entity gmsh
    # classified them on, so that a file's node order survives reading.
    order = np.argsort(node_tags, kind="stable")
    node_tags = node_tags.astype(np.int64)[order]
    points = coords.reshape(-1, 3)[order]
    if np.any(node_tags[1:] == node_tags[:-1]):
        raise MeshError("the file numbers two nodes alike", source=source, expected="unique node numbers")

    def index_of(tags: np.ndarray) -> np.ndarray:
        # A search, not a table indexed by tag: a file may number its nodes up to 2**63.
        at = np.minimum(np.searchsorted(node_tags, tags), len(node_tags) - 1)
        if not np.array_equal(node_tags[at], tags):
            raise MeshError("an element refers to a node the file does not have", source=source, expected="elements on listed nodes")
        return at

    groups = gmsh.model.getPhysicalGroups()
    if groups:
        entities = sorted({(d, e) for d, t in groups for e in gmsh.model.getEntitiesForPhysicalGroup(d, t)})
    else:
        entities = [tuple(e) for e in gmsh.model.getEntities()]

    # Collect elements entity by entity. A file in Gmsh 2.2 format repeats an element once per
    # physical group it belongs to; merging drops those repeats.
    blocks: list[tuple[str, np.ndarray]] = []
    block_entity: list[tuple[int, int]] = []
    for dim, tag in entities:
        types, _, enodes = gmsh.model.mesh.getElements(dim, tag)
        for etype, nodes in zip(types, enodes):
            if int(etype) not in _GMSH_TYPES:
                ename = gmsh.model.mesh.getElementProperties(etype)[0]
                raise MeshError(
                    "unsupported cell type",
                    source=source,
                    value=ename,
                    expected=f"one of {', '.join(CELL_TYPES)}",
                )
            name, perm = _GMSH_TYPES[int(etype)]
            conn = index_of(nodes.astype(np.int64)).reshape(-1, CELL_TYPES[name].n_nodes)
            blocks.append((name, conn[:, perm] if perm is not None else conn))
            block_entity.append((dim, tag))
    cells, where = merge_cell_blocks(blocks)

    regions = []
    for dim, tag in groups:
        name = gmsh.model.getPhysicalName(dim, tag) or unnamed_group_name(dim, tag)
        entity_set = {(dim, int(e)) for e in gmsh.model.getEntitiesForPhysicalGroup(dim, tag)}
        members: dict[str, list[np.ndarray]] = {}
        for i, (ctype, _) in enumerate(blocks):
            if block_entity[i] in entity_set:
                members.setdefault(ctype, []).append(where[i])
        regions.append(Region(name, dim, {t: np.unique(np.concatenate(v)) for t, v in members.items()}))

    # Keep only the points that cells use; files from gmsh's geometry kernel carry none unused,
    # but a partial save (physical groups on part of the model) does.
    used = np.unique(np.concatenate([c.ravel() for c in cells.values()])) if cells else np.empty(0, int)
    if len(used) and len(used) < len(points):
        renumber = np.full(len(points), -1, dtype=np.int64)
        renumber[used] = np.arange(len(used))
        points = points[used]
        cells = {t: renumber[c] for t, c in cells.items()}
    return mesh_with_planar_points(points, cells, regions, source=source)


def mesh_with_planar_points(points: np.ndarray, cells, regions, **kwargs) -> Mesh:
    """The last step of every reader: tidy what formats store differently, then build the Mesh.

    - A flat 2D mesh loses its z column, so 2D solvers get (n, 2) points.
    - Point elements (gmsh physical points, VTK vertices) become node-set regions: a region of
      points is a node set whichever format it came from, and no solver wants vertex cells.
    """
    cells = dict(cells)
    vertices = cells.pop("vertex", None)
    tidy = []
    for region in regions:
        if "vertex" in region.cells:
            rest = {t: i for t, i in region.cells.items() if t != "vertex"}
            if rest:
                region = Region(region.name, region.dim, rest, region.points)
            else:
                nodes = np.unique(vertices[region.cells["vertex"]].ravel())
                if region.points is not None:
                    nodes = np.union1d(nodes, region.points)
                region = Region(region.name, 0, {}, nodes)
        tidy.append(region)
    if "cell_data" in kwargs:
        kwargs["cell_data"] = {k: {t: v for t, v in d.items() if t != "vertex"} for k, d in kwargs["cell_data"].items()}
    dim = max((CELL_TYPES[t].dim for t in cells), default=0)
    if points.shape[1] == 3 and dim <= 2 and np.all(points[:, 2] == 0.0):
        points = points[:, :2]
    return Mesh(points, cells, tidy, **kwargs)


@contextlib.contextmanager
def private_copy_name(path: str | Path, name: str = "mesh.msh") -> Iterator[str]:
    """A name for ``path`` in a fresh private folder: gmsh finds nothing there but the file.

    The name is a symbolic link to the real file (no copy of a large mesh), or a copy where
    links are not allowed (Windows without the privilege). ``name`` has a plain suffix, so
    gmsh's handling of ``.gz`` and other suffixes never runs.
    """
    folder = tempfile.mkdtemp(prefix="workbench-gmsh-")
    target = os.path.join(folder, name)
    try:
        try:
            os.symlink(os.path.abspath(path), target)
        except (OSError, NotImplementedError):
            shutil.copyfile(path, target)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_msh(path: str | Path) -> Mesh:
    """Read a Gmsh ``.msh`` file (version 2 or 4, ASCII or binary) with gmsh itself.

    Only the file itself reaches gmsh (see the module doc). gmsh's reader can crash on a
    corrupt file: ``engine.mesh.io.read_mesh`` calls this in a child process.
    """
    from engine.mesh.sniff import check_mesh_content

    path = Path(path)
    # gmsh would try to interpret other content (even as a .geo script); refuse it first.
    check_mesh_content(path, "gmsh")
    with private_copy_name(path) as private, gmsh_session() as gmsh:
        try:
            gmsh.merge(private)
        except Exception as exc:  # gmsh raises plain Exception with its log message
            detail = str(exc).replace(private, path.name)
            raise MeshError(f"gmsh could not read the file ({detail})", source=path, expected="a complete, valid .msh file") from exc
        try:
            return mesh_from_gmsh_model(gmsh, source=path)
        except UnicodeDecodeError as exc:  # gmsh hands names back as the file's bytes
            raise MeshError(f"a name in the file is not UTF-8 text ({exc.reason})", source=path, expected="physical group names in UTF-8") from exc


def write_msh(mesh: Mesh, path: str | Path, *, version: str = "msh4", binary: bool = False) -> list[str]:
    """Write ``mesh`` as a Gmsh file through a discrete gmsh model.

    Cells are grouped into one discrete entity per (dimension, set of regions) so that a cell in
    two regions is stored once and listed in both physical groups. Node-set regions become
    point elements.

    Gmsh 4 keeps cells that are in no region too. Gmsh 2.2 cannot (with physical groups
    present it saves only grouped elements), so there such cells are dropped and a note says so.

    Returns
    -------
    list of str
        Notes on what the file could not keep.
    """
    if version not in _MSH_VERSIONS:
        raise MeshError("unknown Gmsh file version", value=version, expected=f"one of {', '.join(_MSH_VERSIONS)}")
    with gmsh_session() as gmsh:
        node_tags = np.arange(1, mesh.n_points + 1)
        membership = _membership(mesh)
        # One entity per (dim, region signature); the first also owns all the nodes.
        next_tag = {0: 1, 1: 1, 2: 1, 3: 1}
        group_entities: dict[str, list[int]] = {name: [] for name in mesh.regions}
        first = True
        for (dim, signature), parts in sorted(membership.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
            tag = next_tag[dim]
            next_tag[dim] += 1
            gmsh.model.addDiscreteEntity(dim, tag)
            if first:
                gmsh.model.mesh.addNodes(dim, tag, node_tags, mesh.points3d.ravel())
                first = False
            for ctype, conn in parts.items():
                perm = _GMSH_TYPES[_MESHIO_TO_GMSH[ctype]][1]
                if perm is not None:
                    conn = conn[:, np.argsort(perm)]
                etags = _element_tags(gmsh, len(conn))
                gmsh.model.mesh.addElementsByType(tag, _MESHIO_TO_GMSH[ctype], etags, (conn + 1).ravel())
            for name in signature:
                group_entities[name].append(tag)
        for name, tags in group_entities.items():
            region = mesh.regions[name]
            dim = 0 if region.points is not None else region.dim
            if tags:
                gmsh.model.addPhysicalGroup(dim, tags, name=name)
        gmsh.option.setNumber("Mesh.MshFileVersion", _MSH_VERSIONS[version])
        gmsh.option.setNumber("Mesh.Binary", int(binary))
        notes = []
        ungrouped = [f"{len(parts[t])} {t}" for (dim, sig), parts in membership.items() if not sig for t in parts]
        if version == "msh4":
            gmsh.option.setNumber("Mesh.SaveAll", 1)
        elif ungrouped and mesh.regions:
            notes.append(f"Gmsh 2.2 keeps only cells in a region: {', '.join(ungrouped)} cells in no region dropped")
        gmsh.write(str(path))
        return notes


def _element_tags(gmsh, n: int) -> np.ndarray:
    start = int(gmsh.model.mesh.getMaxElementTag()) + 1
    return np.arange(start, start + n)


def _membership(mesh: Mesh) -> dict[tuple[int, tuple[str, ...]], dict[str, np.ndarray]]:
    """Group every cell by the sorted tuple of regions it belongs to."""
    out: dict[tuple[int, tuple[str, ...]], dict[str, list[np.ndarray]]] = {}
    for ctype, conn in mesh.cells.items():
        names = [n for n, r in mesh.regions.items() if ctype in r.cells]
        # A bit matrix (cells x regions) gives each cell its signature in one pass.
        bits = np.zeros((len(conn), len(names)), dtype=bool)
        for j, name in enumerate(names):
            bits[mesh.regions[name].cells[ctype], j] = True
        keys, inverse = np.unique(bits, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        for k, key in enumerate(keys):
            signature = tuple(n for n, b in zip(names, key) if b)
            rows = np.flatnonzero(inverse == k)
            out.setdefault((CELL_TYPES[ctype].dim, signature), {}).setdefault(ctype, []).append(conn[rows])
    for name, region in mesh.regions.items():
        if region.points is not None:
            vertices = np.unique(region.points).reshape(-1, 1)
            out.setdefault((0, (name,)), {}).setdefault("vertex", []).append(vertices)
    return {key: {t: np.concatenate(v) for t, v in parts.items()} for key, parts in out.items()}
