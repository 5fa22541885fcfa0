"""Atomic file writes: a crash or a cancel never leaves half a file under the final name.

One file is written beside its final name and renamed onto it (``atomic_path``); a set of files
that belong together, such as a run's output folder, is written aside and swapped in whole
(``StagedFolder``). A write that fails because the storage is full, read-only or not ours is
told apart from other failures (``storage_problem``) and reported as such (``write_error``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import InputError, RunError
from engine.inputs import parse_json, read_input_bytes

__all__ = ["atomic_path", "atomic_write_text", "process_umask", "storage_problem", "write_error", "StagedFolder", "RUN_MANIFEST"]

# mkstemp creates files readable by the owner only; give results the mode a plain open() would.
# The umask can only be read by setting it, so read it once, at import.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file keeps the final suffix, so writers that pick a format from the
    extension (meshio, h5py users) behave the same. On any exception the temporary file is
    removed and an existing file at ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    except OSError as exc:
        if exc.errno in _FULL:  # a full disk is not a bad path: the caller, who knows the context, reports it
            raise
        raise InputError(f"cannot write there ({exc.strerror or exc})", source=path, expected="a path in a folder you can write to") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if path.exists() and not path.is_file():
            raise IsADirectoryError(f"{path} exists and is not a file")
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def process_umask() -> int:
    """The process's umask, as read at import (reading it means setting it: not thread-safe)."""
    return _UMASK


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# -- storage failures -----------------------------------------------------------------------
_STORAGE_PROBLEMS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
_FULL = (errno.ENOSPC, errno.EDQUOT)
# HDF5 (through h5py) raises an OSError or a RuntimeError with no errno; the C library's message still says it.
_STORAGE_TEXT = {os.strerror(code): code for code in _STORAGE_PROBLEMS}


def storage_problem(exc: BaseException) -> str | None:
    """What a failed write says about the storage (full, over quota, read-only, not writable), or None.

    Examples
    --------
    >>> storage_problem(OSError(errno.ENOSPC, "No space left on device"))
    'no space left on the device'
    >>> storage_problem(ValueError("x")) is None
    True
    """
    if not isinstance(exc, (OSError, RuntimeError)):  # h5py reports some failed writes as RuntimeError
        return None
    code = exc.errno if getattr(exc, "errno", None) in _STORAGE_PROBLEMS else next((c for text, c in _STORAGE_TEXT.items() if text in str(exc)), None)
    return _STORAGE_PROBLEMS.get(code) if code is not None else None


def write_error(exc: Exception, folder: str | Path, *, writing: str, hint: str = "free space there or choose another output folder") -> RunError:
    """The ``RunError`` for a write into ``folder`` that failed: what the storage said, and what to do.

    A write that fails is a failed run (exit code 1), not bad input: the same command succeeds
    once there is room.

    Examples
    --------
    >>> print(write_error(OSError(errno.ENOSPC, "No space left on device"), "out", writing="result.h5"))
    out/: no space left on the device while writing result.h5; free space there or choose another output folder
    """
    problem = storage_problem(exc) or f"the write failed ({getattr(exc, 'strerror', None) or exc})"
    return RunError(f"{str(folder).rstrip(os.sep) + os.sep}: {problem} while writing {writing}; {hint}")


# -- a folder written whole -----------------------------------------------------------------
#: The file in a run's output folder that lists what the run wrote there.
RUN_MANIFEST = ".workbench-run.json"
_MANIFEST_FORMAT = "workbench-run-files"
_STAGING_PREFIX = ".workbench-staging-"


class StagedFolder:
    """The new contents of an output folder, written aside and swapped in only once complete.

    An output folder holds one run: a second run into it must neither leave the first run's
    metrics and pictures mixed with its own answer, nor, if it fails half-way, a mix of both.
    So files are written under ``root``, a hidden folder inside the target (the same file
    system even when the target is a mount point, so moving them in is a rename), and
    ``commit()`` moves them into place, then removes the files of the previous commit that this
    one did not write (as listed in ``RUN_MANIFEST``); files that no run wrote are left alone.
    Leaving the ``with`` block without committing (an error, a cancel, Ctrl-C) removes the
    staging folder and leaves the target as it was. ``writing`` names what is being written,
    for the message when a write fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with StagedFolder(out) as staged:
    ...     _ = (staged.root / "a.txt").write_text("first")
    ...     _ = staged.commit()
    >>> with StagedFolder(out) as staged:
    ...     _ = (staged.root / "b.txt").write_text("second")
    ...     staged.commit()
    ['b.txt']
    >>> sorted(p.name for p in out.iterdir())
    ['.workbench-run.json', 'b.txt']
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self.root: Path | None = None
        self.writing = "the output folder"
        self._created = False

    def __enter__(self) -> StagedFolder:
        self._created = not self.target.exists()
        self.target.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(self.target)
        self.root = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-", dir=self.target))
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        if kind is not None and self._created:
            with contextlib.suppress(OSError):
                self.target.rmdir()  # the folder this run made, if still empty

    def path(self, name: str) -> Path:
        """Where to write the file ``name`` of the new contents (and remember it for messages)."""
        self.writing = name
        return self.root / name

    def final(self, staged: Path) -> Path:
        """The path a staged file will have once committed."""
        return self.target / Path(staged).relative_to(self.root)

    def commit(self) -> list[str]:
        """Move the staged files into the target; returns their names (top level)."""
        self.writing = "the new files into place"
        names = sorted(p.name for p in self.root.iterdir())
        previous = _manifest_names(self.target / RUN_MANIFEST)
        retired = Path(tempfile.mkdtemp(prefix=".retired-", dir=self.root))
        for name in names:
            src, dest = self.root / name, self.target / name
            # a rename replaces a file, not a folder: the old folder (or what sits where a new
            # folder goes) is moved aside first, and deleted with the staging folder
            if os.path.lexists(dest) and (src.is_dir() or (dest.is_dir() and not dest.is_symlink())):
                os.rename(dest, retired / name)
            os.replace(src, dest)
        for name in sorted(previous - set(names)):
            if os.path.lexists(self.target / name):
                os.rename(self.target / name, retired / name)
        atomic_write_text(self.target / RUN_MANIFEST, json.dumps({"format": _MANIFEST_FORMAT, "format_version": 1, "files": names}, indent=2) + "\n")
        return names


def _manifest_names(path: Path) -> set[str]:
    """The plain file names a previous commit listed; nothing when there is no readable manifest.

    A manifest is only trusted to name entries of its own folder: anything else in it (a path,
    ``..``) is ignored, so a doctored manifest cannot make a run delete files elsewhere.
    """
    if not os.path.lexists(path):
        return set()
    try:
        data = parse_json(read_input_bytes(path, what="a run manifest"), source=path)
    except InputError:
        return set()
    files = data.get("files") if isinstance(data, dict) and data.get("format") == _MANIFEST_FORMAT else None
    if not isinstance(files, list):
        return set()
    return {
        name for name in files
        if isinstance(name, str) and name == os.path.basename(name) and name not in ("", ".", "..", RUN_MANIFEST) and not name.startswith(_STAGING_PREFIX)
    }


def _remove_stale_staging(target: Path) -> None:
    """Remove staging folders left in ``target`` by runs that were killed (their process is gone)."""
    for entry in target.glob(f"{_STAGING_PREFIX}*"):
        pid_text = entry.name[len(_STAGING_PREFIX):].partition("-")[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except (OSError, OverflowError):  # alive but another user's, or not a process id: leave it
            pass
