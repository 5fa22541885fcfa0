"""What a mesh file must look like before any reader sees it: its format's first bytes, a size
within its limit, and files it refers to checked the same way.

Readers trust their input: gmsh runs a file that is not a mesh as a script, meshio's STL reader
multiplies a header's triangle count, an Abaqus ``*INCLUDE`` opens any path (a named pipe hangs
it), an XDMF file names heavy-data files anywhere. So ``check_mesh_content`` sniffs the format
and applies the size limit of its encoding (text files are held in memory at tens of times
their size, so ``mesh_text_bytes`` is the smaller limit; binary ones get
``mesh_binary_bytes``), and ``check_abaqus_includes`` and ``check_xdmf_data`` give referred
files the same regular-file and size checks.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "fake.vtk"
>>> _ = path.write_text("solid nothing\\n")
>>> check_mesh_content(path, "vtk")
Traceback (most recent call last):
...
engine.errors.MeshError: ...fake.vtk: not a legacy VTK file: got 'solid nothing'; expected a file starting with '# vtk DataFile Version'
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from engine.errors import MeshError
from engine.inputs import check_input_file
from engine.limits import LIMITS

__all__ = ["check_mesh_content", "check_abaqus_includes", "check_xdmf_data", "HDF5_SIGNATURE"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HEAD = 4096
_TEXT = "mesh_text_bytes"
_BINARY = "mesh_binary_bytes"
# Abaqus files include files that include files; deeper than this is a loop or an attack.
_MAX_INCLUDE_DEPTH = 16


def _head(path: Path, size: int = _HEAD) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def _shown(head: bytes) -> str:
    """The start of a file as a message shows it: its first line, printable, short."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0][:40]
    return text.decode("latin-1").strip()


def _refuse(path: Path, kind: str, head: bytes, expected: str) -> MeshError:
    return MeshError(f"not {kind} file", source=path, value=_shown(head), expected=expected)


def _check_size(path: Path, limit: str, encoding: str) -> None:
    item = LIMITS[limit]
    size = path.stat().st_size
    if size > item.value():
        raise MeshError(
            f"the file is too large for a {encoding} mesh ({item.describe(size)})",
            source=path,
            expected=f"at most {item.describe()} ({item.env} raises the limit)",
        )


def _xml_root_tag(head: bytes) -> str | None:
    """The first element's name of an XML document's head (``VTKFile``, ``Xdmf``), if any."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    while text.startswith("<?") or text.startswith("<!--") or text.startswith("<!DOCTYPE"):
        close = "?>" if text.startswith("<?") else ("-->" if text.startswith("<!--") else ">")
        end = text.find(close)
        if end < 0:
            return None
        text = text[end + len(close) :].lstrip()
    if not text.startswith("<"):
        return None
    name = text[1:].split(None, 1)[0].split(">", 1)[0].split("/", 1)[0]
    return name.split(":")[-1] or None


def check_mesh_content(path: Path, fmt: str) -> None:
    """Refuse ``path`` unless it starts as a ``fmt`` file and fits the size limit of its encoding."""
    head = _head(path)
    if fmt == "gmsh":
        body = head.lstrip()
        if not body.startswith((b"$MeshFormat", b"$NOD")):
            raise _refuse(path, "a Gmsh mesh", head, "a file starting with '$MeshFormat'")
        # "$MeshFormat\n4.1 1 8": the second number is 1 for binary files.
        words = body.split(b"\n", 2)[1].split() if body.startswith(b"$MeshFormat") and body.count(b"\n") >= 2 else []
        binary = len(words) > 1 and words[1] == b"1"
        _check_size(path, _BINARY if binary else _TEXT, "binary" if binary else "text")
    elif fmt == "vtk":
        if not head.lstrip().startswith(b"# vtk DataFile Version"):
            raise _refuse(path, "a legacy VTK", head, "a file starting with '# vtk DataFile Version'")
        lines = head.lstrip().split(b"\n", 3)
        binary = len(lines) > 2 and lines[2].strip().upper() == b"BINARY"
        _check_size(path, _BINARY if binary else _TEXT, "binary" if binary else "text")
    elif fmt in ("vtu", "xdmf"):
        root = _xml_root_tag(head)
        wanted = "VTKFile" if fmt == "vtu" else "Xdmf"
        if root != wanted:
            raise _refuse(path, f"an XML {fmt.upper()}", head, f"an XML document whose root element is <{wanted}>")
        # Raw appended data makes a .vtu binary past its XML header; anything else is text.
        appended = fmt == "vtu" and b'encoding="raw"' in _head(path, 1 << 20)
        _check_size(path, _BINARY if appended else _TEXT, "binary" if appended else "text")
    elif fmt == "med":
        if not head.startswith(HDF5_SIGNATURE):
            raise _refuse(path, "a MED (HDF5)", head, "an HDF5 file (MED files are HDF5)")
        _check_size(path, _BINARY, "binary")
    elif fmt == "stl":
        size = path.stat().st_size
        count = struct.unpack("<I", head[80:84])[0] if len(head) >= 84 else -1
        if size == 84 + 50 * count:
            _check_size(path, _BINARY, "binary")
        elif head.lstrip().lower().startswith(b"solid") and b"\x00" not in head:
            _check_size(path, _TEXT, "text")
        else:
            raise _refuse(
                path, "an STL", head, "an ASCII STL ('solid ...') or a binary STL of 84 + 50 x (its triangle count) bytes"
            )
    elif fmt in ("abaqus", "obj"):
        if b"\x00" in head:
            label = "an Abaqus input (.inp)" if fmt == "abaqus" else "a Wavefront OBJ"
            raise _refuse(path, label, head, "a text file")
        _check_size(path, _TEXT, "text")


def _include_target(line: str) -> str | None:
    """The file an Abaqus ``*INCLUDE, INPUT=...`` line names, read as meshio reads it."""
    if line.startswith("**"):
        return None
    keyword = line.partition(",")[0].strip().replace("*", "").upper()
    if keyword != "INCLUDE":
        return None
    return line.split("=")[-1].strip()


def check_abaqus_includes(path: Path) -> None:
    """Give every file an Abaqus input includes (recursively) the checks of the file itself.

    Each must be a regular ``.inp`` file (meshio picks the reader of an included file by its
    suffix); all of them together stay within ``mesh_text_bytes``; no file includes itself,
    directly or not. Names resolve as meshio resolves them: from the working folder if such a
    file exists there, else from the including file's folder.
    """
    item = LIMITS[_TEXT]
    total = path.stat().st_size
    pending = [(path, 0, (path.resolve(),))]
    while pending:
        current, depth, chain = pending.pop()
        with open(current, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name = _include_target(line)
                if name is None:
                    continue
                where = f"*INCLUDE in {current.name}"
                if not name:
                    raise MeshError("an *INCLUDE names no file", source=current, field=where, expected="*INCLUDE, INPUT=file.inp")
                target = Path(name)
                if not target.exists():
                    target = current.parent / target
                if target.suffix.lower() != ".inp":
                    raise MeshError("an *INCLUDE names a file that is not an Abaqus input", source=current, field=where, value=name, expected="a .inp file")
                target = check_input_file(target, what=f"an Abaqus include file (from {current.name})", allow_empty=True, error=MeshError)
                if target.resolve() in chain:
                    raise MeshError("the *INCLUDE files include each other in a loop", source=current, field=where, value=name, expected="includes without a cycle")
                if depth + 1 > _MAX_INCLUDE_DEPTH:
                    raise MeshError("*INCLUDE files nest too deeply", source=current, field=where, value=name, expected=f"at most {_MAX_INCLUDE_DEPTH} levels")
                total += target.stat().st_size
                if total > item.value():
                    raise MeshError(
                        f"the file and its *INCLUDE files are too large together ({item.describe(total)})",
                        source=path,
                        expected=f"at most {item.describe()} ({item.env} raises the limit)",
                    )
                pending.append((target, depth + 1, chain + (target.resolve(),)))


def check_xdmf_data(path: Path) -> None:
    """Check the heavy-data files an XDMF file names (HDF5 or raw binary) as mesh files are checked.

    HDF5 names are relative to the XDMF file's folder (as meshio reads them); raw ``Binary``
    names are opened as given.
    """
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, ValueError) as exc:
        raise MeshError(f"could not read the file as xdmf (not valid XML: {exc})", source=path, expected="a complete, valid xdmf file") from None
    folder = path.resolve().parent
    for element in root.iter():
        if not str(element.tag).endswith("DataItem"):
            continue
        kind = element.get("Format", "XML")
        text = (element.text or "").strip()
        if kind == "HDF":
            name = text.split(":", 1)[0]
            target = check_input_file(folder / name, what="the HDF5 file an XDMF DataItem names", limit=_BINARY, error=MeshError)
            if not _head(target, 8).startswith(HDF5_SIGNATURE):
                raise MeshError("the file an XDMF DataItem names is not HDF5", source=target, expected="an HDF5 file")
        elif kind == "Binary":
            check_input_file(Path(text), what="the binary file an XDMF DataItem names", limit=_BINARY, error=MeshError)
