"""The one door every user file comes in through: it is a regular file, of a bounded size.

Files reach the workbench from other people (a mesh folder, a model, a project), so before any
parser sees one: the path is expanded (``~``), it must exist, be a *regular* file (a named pipe
or a device would hang a reader or never end), be readable, and be no larger than its limit
(``engine.limits``). Readers of our own (TOML, JSON) read through ``open_input``, which checks
the opened file descriptor itself, so a file swapped for a pipe after the check is still
refused; third-party readers (gmsh, meshio, h5py) get a path checked by ``check_input_file``.
Parsed documents are also bounded in nesting depth.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "case.toml"
>>> _ = path.write_text("version = 1\\n")
>>> read_toml(path, what="a case file")
{'version': 1}
>>> check_input_file(path.parent, what="a case file")
Traceback (most recent call last):
...
engine.errors.InputError: ...: not a file (a folder); expected a case file
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import InputError
from engine.limits import LIMITS

__all__ = ["os_problem", "check_input_file", "open_input", "read_input_bytes", "read_input_text", "read_toml", "parse_toml", "parse_json", "check_depth"]

_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def os_problem(exc: OSError) -> str:
    """What an ``OSError`` met opening a user's file means, in words for a message."""
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long for this system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: the file cannot be read"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "file not found"
    return f"cannot read the file ({exc.strerror or exc})"


def _expand(path: str | Path) -> Path:
    return Path(os.path.expanduser(os.fspath(path)))


def _check_stat(info: os.stat_result, path: Path, *, what: str, limit: str | None, allow_empty: bool, error: type[InputError]) -> None:
    kind = stat.S_IFMT(info.st_mode)
    if kind != stat.S_IFREG:
        noun = _KINDS.get(kind, "a special file")
        raise error(f"not a file ({noun})" if kind == stat.S_IFDIR else f"not a regular file ({noun})", source=path, expected=what)
    if info.st_size == 0 and not allow_empty:
        raise error("the file is empty (0 bytes)", source=path, expected=what)
    if limit is not None and info.st_size > LIMITS[limit].value():
        raise _too_large(path, info.st_size, limit, error)


def _too_large(path: Path, size: int, limit: str, error: type[InputError]) -> InputError:
    item = LIMITS[limit]
    return error(
        f"the file is too large ({item.describe(size)})",
        source=path,
        expected=f"at most {item.describe()} ({item.env} raises the limit)",
    )


def check_input_file(
    path: str | Path,
    *,
    what: str,
    limit: str | None = None,
    allow_empty: bool = False,
    error: type[InputError] = InputError,
) -> Path:
    """``path`` expanded, once it is known to be a readable regular file within ``limit``.

    Parameters
    ----------
    what
        What was expected there, for the message ("a mesh file (.msh, .vtu, ...)").
    limit
        A key of ``engine.limits.LIMITS`` that bounds the file's size in bytes.
    allow_empty
        Accept a file of 0 bytes (refused by default: no format of ours is empty).
    error
        The InputError subclass to raise (``MeshError`` for meshes...).
    """
    path = _expand(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise error(os_problem(exc), source=path, expected=what) from None
    except ValueError:  # an embedded NUL byte
        raise error("the file name holds a NUL character", source=repr(str(path)), expected=what) from None
    _check_stat(info, path, what=what, limit=limit, allow_empty=allow_empty, error=error)
    if not os.access(path, os.R_OK):
        raise error("permission denied: the file cannot be read", source=path, expected=what)
    return path


def open_input(
    path: str | Path,
    *,
    what: str,
    limit: str | None = None,
    allow_empty: bool = False,
    error: type[InputError] = InputError,
) -> BinaryIO:
    """Open a user file for reading in binary, checking the opened descriptor (see the module doc).

    Opening is non-blocking, so a named pipe with no writer does not hang here; the check then
    refuses it.
    """
    path = _expand(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise error("not a file (a folder)", source=path, expected=what) from None
        raise error(os_problem(exc), source=path, expected=what) from None
    except ValueError:
        raise error("the file name holds a NUL character", source=repr(str(path)), expected=what) from None
    try:
        _check_stat(os.fstat(fd), path, what=what, limit=limit, allow_empty=allow_empty, error=error)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input_bytes(path: str | Path, *, what: str, limit: str = "text_file_bytes", error: type[InputError] = InputError) -> bytes:
    """The bytes of a user file; never more than ``limit`` allows, even if the file grows meanwhile."""
    with open_input(path, what=what, limit=limit, allow_empty=True, error=error) as fh:
        most = int(LIMITS[limit].value())
        data = fh.read(most + 1)
    if len(data) > most:
        raise _too_large(_expand(path), len(data), limit, error)
    return data


def read_input_text(path: str | Path, *, what: str, limit: str = "text_file_bytes", error: type[InputError] = InputError) -> str:
    """A user text file decoded as UTF-8 (a byte-order mark is dropped)."""
    data = read_input_bytes(path, what=what, limit=limit, error=error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"the file is not UTF-8 text (byte {exc.start})", source=_expand(path), expected=what) from None


def check_depth(document: Any, *, source: Any = None, what: str = "document", error: type[InputError] = InputError) -> Any:
    """``document`` if its tables and lists nest no deeper than the ``nesting_depth`` limit.

    Walks without recursion, so a hostile depth cannot overflow the stack here.
    """
    most = int(LIMITS["nesting_depth"].value())
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > most:
            raise error(
                f"the {what} nests tables or lists too deeply (more than {most} levels)",
                source=source,
                expected=f"at most {most} levels ({LIMITS['nesting_depth'].env} raises the limit)",
            )
        stack.extend((child, depth + 1) for child in children)
    return document


def parse_toml(text: str, *, source: Any = None, what: str = "a TOML document", error: type[InputError] = InputError) -> dict[str, Any]:
    """Parse TOML text; a syntax error or a hostile nesting is an ``error`` naming ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})", source=source, expected=what) from None
    except RecursionError:
        data = None
    if data is None:
        most = LIMITS["nesting_depth"].value()
        raise error(f"the document nests tables or lists too deeply (more than {most} levels)", source=source, expected=what)
    return check_depth(data, source=source, what="document", error=error)


def parse_json(text: str | bytes, *, source: Any = None, what: str = "a JSON document", error: type[InputError] = InputError) -> Any:
    """Parse JSON text with the same care as ``parse_toml`` (no NaN or Infinity either)."""

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        data = json.loads(text, parse_constant=constant)
    except RecursionError:
        data = _TOO_DEEP
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"not valid JSON ({exc})", source=source, expected=what) from None
    if data is _TOO_DEEP:
        raise error("the document nests objects or lists too deeply", source=source, expected=what)
    return check_depth(data, source=source, what="document", error=error)


_TOO_DEEP = object()


def read_toml(path: str | Path, *, what: str, error: type[InputError] = InputError) -> dict[str, Any]:
    """The parsed TOML file at ``path``; ``what`` names the kind of file in messages ("a study file")."""
    text = read_input_text(path, what=f"{what} (.toml)", error=error)
    return parse_toml(text, source=_expand(path), what=f"{what} (TOML)", error=error)
