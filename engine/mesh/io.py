"""Read and write mesh files, keeping region names wherever the format can hold them.

Gmsh files go through gmsh itself (see ``gmsh_model``); every other format through meshio.
Each format keeps regions its own way:

========  =====================================================================
format    regions
========  =====================================================================
.msh      physical groups (named; unnamed ones read as ``PhysicalLine4`` etc.)
.vtu/.vtk cell arrays ``region:NAME`` (1 inside, 0 outside); node sets as point
/.xdmf    arrays of the same name. ParaView can threshold on them.
.inp      ``*ELSET`` element sets and ``*NSET`` node sets
.med      groups, through MED families
.stl/.obj none: surfaces only (triangles; quads too for .obj)
========  =====================================================================
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.errors import MeshError
from engine.inputs import check_input_file
from engine.mesh.gmsh_model import mesh_with_planar_points, read_msh, write_msh
from engine.mesh.isolation import run_isolated
from engine.mesh.sniff import check_abaqus_includes, check_mesh_content, check_xdmf_data
from engine.mesh.mesh import CELL_TYPES, Mesh, Region, merge_cell_blocks

__all__ = ["FORMATS", "read_mesh", "write_mesh", "format_for"]

#: Suffix -> format name. ``gmsh`` is written as version 4.1 unless told ``msh2``.
FORMATS: dict[str, str] = {
    ".msh": "gmsh",
    ".vtu": "vtu",
    ".vtk": "vtk",
    ".xdmf": "xdmf",
    ".xmf": "xdmf",
    ".inp": "abaqus",
    ".med": "med",
    ".stl": "stl",
    ".obj": "obj",
}
_MASK_PREFIX = "region:"
_MASK_FORMATS = {"vtu", "vtk", "xdmf"}
# Arrays that encode regions or bookkeeping in some format, never user data.
_INTERNAL_KEYS = ("gmsh:", "cell_tags", "point_tags", "medit:", "flac3d:", "abaqus:")


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The format name for ``path`` (from its suffix) or ``fmt`` if given; a MeshError if unknown."""
    if fmt is not None:
        known = set(FORMATS.values())
        if fmt not in known:
            known |= {"msh2", "msh4"}
            raise MeshError("unknown mesh format", value=fmt, expected=f"one of {', '.join(sorted(known))}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise MeshError(
            "unknown mesh file type",
            source=path,
            value=suffix or "(no suffix)",
            expected=f"one of {', '.join(FORMATS)}",
        )
    return FORMATS[suffix]


def read_mesh(path: str | Path, *, fmt: str | None = None, cancel: threading.Event | None = None) -> Mesh:
    """Read a mesh file into a Mesh with its named regions.

    Mesh files come from other people, so: the file must be a regular file within the size
    limit of its format (``mesh_text_bytes`` or ``mesh_binary_bytes``) whose first bytes are
    those of the format its suffix names; files it refers to (Abaqus ``*INCLUDE``, XDMF heavy
    data) get the same checks; and the parsing runs in a child process with time and memory
    limits (``engine.mesh.isolation``), so a reader that crashes or hangs on a hostile file is a
    ``MeshError`` naming the file, not a dead program.

    Parameters
    ----------
    path
        The file; its suffix picks the format unless ``fmt`` is given.
    fmt
        A format name from ``FORMATS`` (``"gmsh"``, ``"vtu"``, ``"abaqus"``, ...).
    cancel
        Once set, reading stops with ``Cancelled``.

    Raises
    ------
    MeshError
        The file is missing, not a regular file, of an unknown type, too large, not of its
        format, corrupt or truncated, empty, holds NaN or infinite coordinates, or holds cell
        types no solver of ours handles; its reader crashed or ran past its limits.

    Examples
    --------
    >>> from engine.resources import resource_path
    >>> mesh = read_mesh(resource_path("meshes/plate_with_hole.msh"))
    >>> sorted(mesh.regions)
    ['bottom', 'hole', 'left', 'plate', 'right', 'top']
    """
    path = check_input_file(path, what="a mesh file", error=MeshError)
    fmt = format_for(path, fmt)
    check_mesh_content(path, fmt)
    return run_isolated(
        _read_in_child,
        (path, fmt),
        seconds="read_seconds",
        doing="reading the file",
        crashed=lambda how: MeshError(
            f"the {fmt} reader crashed on this file with {how}",
            source=path,
            expected=f"a complete, valid {fmt} file",
        ),
        source=path,
        cancel=cancel,
    )


def _read_in_child(path: Path, fmt: str) -> Mesh:
    """The parsing itself (run by ``read_mesh`` in a child process)."""
    if fmt == "abaqus":
        check_abaqus_includes(path)
    elif fmt == "xdmf":
        check_xdmf_data(path)
    # Readers compute with the file's numbers (sizes, counts): overflow warnings are noise
    # here, a bad file is reported by the error that follows.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "gmsh":
            return read_msh(path)
        import meshio

        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                raw = meshio.read(path, file_format=fmt)
        # meshio raises many types (ReadError, ValueError, KeyError, OSError...) and, for some
        # formats, prints its reason and calls sys.exit.
        except (Exception, SystemExit) as exc:
            said = [line.strip() for line in (str(exc) + "\n" + chatter.getvalue()).splitlines()]
            said = [line.removeprefix("Error: ") for line in said if line and line != "1"]
            detail = said[0] if said else type(exc).__name__
            raise MeshError(
                f"could not read the file as {fmt} ({detail})", source=path, expected=f"a complete, valid {fmt} file"
            ) from exc
        return from_meshio(raw, source=path)


def from_meshio(raw, *, source: str | Path | None = None) -> Mesh:
    """Convert a ``meshio.Mesh``: merge blocks by cell type, drop duplicate cells, name regions."""
    blocks = [(b.type, np.asarray(b.data)) for b in raw.cells]
    for ctype, data in blocks:
        if ctype not in CELL_TYPES and len(data):
            raise MeshError("unsupported cell type", source=source, value=ctype, expected=f"one of {', '.join(CELL_TYPES)}")
    blocks = [(t, d) for t, d in blocks if t in CELL_TYPES]
    if not blocks:
        raise MeshError("the mesh is empty: it has no cells", source=source, expected="at least one cell")

    # Regions as (name, block index, local indices); node sets apart.
    members: list[tuple[str, int, np.ndarray]] = []
    node_sets: dict[str, np.ndarray] = {}

    for name, per_block in (raw.cell_sets or {}).items():
        if name.startswith("gmsh:"):
            continue
        for i, idx in enumerate(per_block[: len(raw.cells)]):
            if idx is not None and len(idx) and raw.cells[i].type in CELL_TYPES:
                members.append((name, _block_position(raw, blocks, i), np.asarray(idx, dtype=np.int64)))

    for key, per_block in (raw.cell_data or {}).items():
        if key.startswith(_MASK_PREFIX):
            for i, mask in enumerate(per_block):
                idx = np.flatnonzero(np.asarray(mask).ravel())
                if len(idx) and raw.cells[i].type in CELL_TYPES:
                    members.append((key[len(_MASK_PREFIX) :], _block_position(raw, blocks, i), idx))
    if "cell_tags" in (raw.cell_data or {}):  # MED families
        families = getattr(raw, "cell_tags", {}) or {}
        for i, tags in enumerate(raw.cell_data["cell_tags"]):
            if raw.cells[i].type not in CELL_TYPES:
                continue
            tags = np.asarray(tags).ravel()
            for fam, names in families.items():
                idx = np.flatnonzero(tags == fam)
                for name in names if len(idx) else ():
                    members.append((name, _block_position(raw, blocks, i), idx))

    for name, idx in (raw.point_sets or {}).items():
        node_sets[name] = np.asarray(idx, dtype=np.int64)
    for key, mask in (raw.point_data or {}).items():
        if key.startswith(_MASK_PREFIX):
            node_sets[key[len(_MASK_PREFIX) :]] = np.flatnonzero(np.asarray(mask).ravel())
    if "point_tags" in (raw.point_data or {}):
        families = getattr(raw, "point_tags", {}) or {}
        tags = np.asarray(raw.point_data["point_tags"]).ravel()
        for fam, names in families.items():
            for name in names:
                idx = np.flatnonzero(tags == fam)
                node_sets[name] = np.union1d(node_sets.get(name, np.empty(0, np.int64)), idx)

    cells, where = merge_cell_blocks(blocks)
    region_cells: dict[str, dict[str, list[np.ndarray]]] = {}
    for name, i, idx in members:
        ctype = blocks[i][0]
        region_cells.setdefault(name, {}).setdefault(ctype, []).append(where[i][idx])
    regions = []
    for name, parts in region_cells.items():
        merged = {t: np.unique(np.concatenate(v)) for t, v in parts.items()}
        regions.append(Region(name, max(CELL_TYPES[t].dim for t in merged), merged))
    by_name = {r.name: r for r in regions}
    for name, idx in node_sets.items():
        if name in region_cells:
            # Abaqus files often carry an NSET beside each ELSET of the same name; keep the
            # node set under its own name only when it says something the element set does not.
            cell_nodes = np.unique(np.concatenate([cells[t][i].ravel() for t, i in by_name[name].cells.items()]))
            if np.array_equal(np.unique(idx), cell_nodes):
                continue
            name = f"{name}_nodes"
        regions.append(Region(name, 0, {}, np.unique(idx)))

    point_data = {
        k: np.asarray(v)
        for k, v in (raw.point_data or {}).items()
        if not k.startswith(_MASK_PREFIX) and not k.startswith(_INTERNAL_KEYS)
    }
    cell_data = {}
    for key, per_block in (raw.cell_data or {}).items():
        if key.startswith(_MASK_PREFIX) or key.startswith(_INTERNAL_KEYS):
            continue
        merged: dict[str, np.ndarray] = {}
        for i, values in enumerate(per_block):
            if raw.cells[i].type not in CELL_TYPES:
                continue
            pos = _block_position(raw, blocks, i)
            ctype = blocks[pos][0]
            target = merged.setdefault(ctype, np.zeros((len(cells[ctype]),) + np.shape(values)[1:], dtype=np.asarray(values).dtype))
            target[where[pos]] = values
        cell_data[key] = merged

    points = np.asarray(raw.points, dtype=float)
    return mesh_with_planar_points(points, cells, regions, point_data=point_data, cell_data=cell_data, source=source)


def _block_position(raw, blocks, i: int) -> int:
    """Index of raw block ``i`` among the supported blocks kept in ``blocks``."""
    return sum(1 for b in raw.cells[:i] if b.type in CELL_TYPES)


def write_mesh(mesh: Mesh, path: str | Path, *, fmt: str | None = None, binary: bool = True) -> list[str]:
    """Write ``mesh`` to ``path`` atomically, keeping regions as the format allows.

    Parameters
    ----------
    fmt
        A format name; ``"msh2"`` writes Gmsh 2.2, ``"gmsh"``/``"msh4"`` Gmsh 4.1.
    binary
        Binary encoding where the format has one (Gmsh, VTU/VTK, STL).

    Returns
    -------
    list of str
        Notes on what the format could not keep (region names in STL, say); empty if nothing.
    """
    path = Path(path)
    version, asked = None, fmt
    if fmt in ("msh2", "msh4"):
        fmt, version = "gmsh", fmt
    by_suffix = FORMATS.get(path.suffix.lower())
    if fmt is not None and by_suffix is not None and by_suffix != fmt:
        raise MeshError(
            f"format {asked!r} does not match the file's suffix {path.suffix!r}",
            source=path,
            value=asked,
            expected=f"a file name ending in {', '.join(s for s, f in FORMATS.items() if f == format_for(path, fmt))} for that format, or no --format",
        )
    fmt = format_for(path, fmt)
    notes: list[str] = []
    with atomic_path(path) as tmp:
        if fmt == "gmsh":
            notes += write_msh(mesh, tmp, version=version or "msh4", binary=binary)
            if mesh.point_data or mesh.cell_data:
                notes.append(f"{fmt} keeps no data arrays: {', '.join(sorted({*mesh.point_data, *mesh.cell_data}))} dropped")
        else:
            import meshio

            raw = _to_meshio(mesh, fmt, notes)
            kwargs = {}
            if fmt in ("vtu", "vtk", "stl"):
                kwargs["binary"] = binary
            if fmt == "xdmf":
                kwargs["data_format"] = "XML"  # one self-contained file, so the write stays atomic
            try:
                meshio.write(tmp, raw, file_format=fmt, **kwargs)
            except Exception as exc:
                raise MeshError(f"could not write the mesh as {fmt} ({exc})", source=path) from exc
    return notes


# Cell types meshio's writers have names for, where not all of ours.
_WRITABLE = {
    "abaqus": {"line", "line3", "triangle", "triangle6", "quad", "quad8", "quad9", "tetra", "tetra10", "hexahedron", "hexahedron20"},
    "med": {"line", "line3", "triangle", "triangle6", "quad", "quad8", "tetra", "tetra10", "hexahedron", "hexahedron20"},
}
# Formats that keep no point or cell data arrays.
_NO_DATA = {"abaqus", "stl", "obj"}


def _to_meshio(mesh: Mesh, fmt: str, notes: list[str]):
    import meshio

    if fmt in _WRITABLE and set(mesh.cells) - _WRITABLE[fmt]:
        raise MeshError(
            f"{fmt} files (as meshio writes them) cannot hold {', '.join(sorted(set(mesh.cells) - _WRITABLE[fmt]))} cells",
            value=sorted(mesh.cells),
            expected=f"cells among {', '.join(sorted(_WRITABLE[fmt]))}; .msh and .vtu hold every cell type",
        )
    if fmt in _NO_DATA and (mesh.point_data or mesh.cell_data):
        notes.append(f"{fmt} keeps no data arrays: {', '.join(sorted({*mesh.point_data, *mesh.cell_data}))} dropped")
    cells = dict(mesh.cells)
    regions = dict(mesh.regions)
    if fmt in ("stl", "obj"):
        allowed = {"triangle"} if fmt == "stl" else {"triangle", "quad"}
        dropped = sorted(set(cells) - allowed)
        cells = {t: c for t, c in cells.items() if t in allowed}
        if not cells:
            raise MeshError(
                f"{fmt.upper()} holds surfaces only",
                value=sorted(mesh.cells),
                expected=f"a mesh with {' or '.join(sorted(allowed))} cells",
            )
        if dropped:
            notes.append(f"{fmt.upper()} holds {' and '.join(sorted(allowed))} cells only: {', '.join(dropped)} cells dropped")
        if regions:
            notes.append(f"{fmt.upper()} keeps no region names: {', '.join(regions)} dropped")
        regions = {}
    if fmt == "xdmf" and any(CELL_TYPES[t].order > 1 for t in cells) and len(cells) > 1:
        # meshio's XDMF reader cannot read mixed topologies of second-order cells back.
        lower = sorted(t for t in cells if CELL_TYPES[t].dim < mesh.dim)
        cells = {t: c for t, c in cells.items() if CELL_TYPES[t].dim == mesh.dim}
        dropped = sorted(n for n, r in regions.items() if r.points is None and r.dim < mesh.dim)
        regions = {n: r for n, r in regions.items() if n not in dropped}
        notes.append(f"XDMF keeps second-order cells of one dimension only: {', '.join(lower)} cells and regions {', '.join(dropped)} dropped; use .vtu or .msh to keep them")
    types = list(cells)
    raw = meshio.Mesh(mesh.points3d, [(t, cells[t]) for t in types])
    raw.point_data.update(mesh.point_data)
    for key, per_type in mesh.cell_data.items():
        raw.cell_data[key] = [per_type.get(t, np.zeros(len(cells[t]))) for t in types]

    cell_regions = {n: r for n, r in regions.items() if r.points is None}
    node_regions = {n: r for n, r in regions.items() if r.points is not None}
    if fmt in _MASK_FORMATS:
        for name, region in cell_regions.items():
            masks = []
            for t in types:
                mask = np.zeros(len(cells[t]), dtype=np.int32)
                mask[region.cells.get(t, [])] = 1
                masks.append(mask)
            raw.cell_data[_MASK_PREFIX + name] = masks
        for name, region in node_regions.items():
            mask = np.zeros(mesh.n_points, dtype=np.int32)
            mask[region.points] = 1
            raw.point_data[_MASK_PREFIX + name] = mask
    elif fmt == "abaqus":
        raw.cell_sets = {
            name: [np.asarray(r.cells.get(t, np.empty(0, np.int64))) for t in types] for name, r in cell_regions.items()
        }
        raw.point_sets = {name: r.points for name, r in node_regions.items()}
    elif fmt == "med":
        _encode_med_families(mesh, types, cells, cell_regions, node_regions, raw)
    return raw


def _encode_med_families(mesh, types, cells, cell_regions, node_regions, raw) -> None:
    """MED stores groups through families: one family per distinct set of groups.

    By MED's convention element families are negative and node families positive; 0 is none.
    """
    cell_tags: dict[int, list[str]] = {}
    per_block = []
    signature_tag: dict[tuple[str, ...], int] = {}
    for t in types:
        names = [n for n, r in cell_regions.items() if t in r.cells]
        bits = np.zeros((len(cells[t]), len(names)), dtype=bool)
        for j, n in enumerate(names):
            bits[cell_regions[n].cells[t], j] = True
        tags = np.zeros(len(cells[t]), dtype=np.int64)
        for row in np.unique(bits, axis=0):
            signature = tuple(n for n, b in zip(names, row) if b)
            if not signature:
                continue
            if signature not in signature_tag:
                signature_tag[signature] = -(len(signature_tag) + 1)
                cell_tags[signature_tag[signature]] = list(signature)
            tags[(bits == row).all(axis=1)] = signature_tag[signature]
        per_block.append(tags)
    if cell_tags:
        raw.cell_data["cell_tags"] = per_block
        raw.cell_tags = cell_tags
    if node_regions:
        names = list(node_regions)
        bits = np.zeros((mesh.n_points, len(names)), dtype=bool)
        for j, n in enumerate(names):
            bits[node_regions[n].points, j] = True
        tags = np.zeros(mesh.n_points, dtype=np.int64)
        point_tags: dict[int, list[str]] = {}
        for row in np.unique(bits, axis=0):
            signature = [n for n, b in zip(names, row) if b]
            if signature:
                fam = len(point_tags) + 1
                point_tags[fam] = signature
                tags[(bits == row).all(axis=1)] = fam
        raw.point_data["point_tags"] = tags
        raw.point_tags = point_tags
