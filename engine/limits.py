"""The limits on what the workbench accepts, in one place.

Every bound on input size and work (file sizes, nesting, cells, time steps, probes, the time and
memory a mesh reader or gmsh may take) is a ``Limit`` here, with a default chosen for a laptop
and an environment variable that changes it for a bigger machine. Input beyond a limit is
refused before the work starts, with exit code 2 and a message that names the limit, the value
that would fit and the variable that raises it. ``docs/limits.md`` lists them (a test keeps it
in step with this table).

Examples
--------
>>> LIMITS["probes"].value()
10000
>>> err = LIMITS["probes"].refuse(20000, what="probes", field="probes")
>>> print(err)
probes: too many probes: got 20000; expected at most 10000 probes (WORKBENCH_LIMIT_PROBES raises the limit)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from engine.errors import InputError

__all__ = ["Limit", "LIMITS", "limit", "limits_markdown"]

_MIB = 1 << 20
_GIB = 1 << 30


def _memory_default() -> int:
    """Half the machine's memory (at least 1 GiB): what one reader or mesher may take."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small laptop
        total = 8 * _GIB
    return max(_GIB, total // 2)


@dataclass(frozen=True)
class Limit:
    """One documented bound.

    Attributes
    ----------
    name
        The key in ``LIMITS``.
    default
        The value used unless the environment variable is set (an int, or a float for seconds).
    unit
        ``"bytes"``, ``"seconds"`` or a count noun (``"cells"``), for messages and the docs.
    description
        What it bounds and why this default.
    """

    name: str
    default: int | float
    unit: str
    description: str

    @property
    def env(self) -> str:
        """The environment variable that overrides the default (``WORKBENCH_LIMIT_<NAME>``)."""
        return f"WORKBENCH_LIMIT_{self.name.upper()}"

    def value(self) -> int | float:
        """The limit in force: the environment's value if set and valid, else the default.

        A value that is not a positive number is bad input, not something to ignore silently.
        """
        text = os.environ.get(self.env)
        if text is None or not text.strip():
            return self.default
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (value > 0 and value != float("inf")):
            raise InputError("a limit must be a positive number", field=self.env, value=text, expected=f"e.g. {self.env}={self.default}")
        return int(value) if isinstance(self.default, int) else value

    def describe(self, value: int | float | None = None) -> str:
        """The limit as text: ``2 GiB``, ``120 s``, ``500000 cells``."""
        value = self.value() if value is None else value
        if self.unit == "bytes":
            return _bytes_text(value)
        if self.unit == "seconds":
            return f"{value:g} s"
        return f"{value} {self.unit}" if self.unit else f"{value}"

    def refuse(self, got: Any, *, what: str, source: Any = None, field: str | None = None, fits: str | None = None) -> InputError:
        """The InputError for ``got`` beyond this limit.

        ``what`` names what there is too much of ("probes", "time steps"); for sizes and times it
        is the subject ("the file", "meshing"). ``fits`` names the smallest change that fits.
        """
        if self.unit in ("bytes", "seconds"):
            problem = f"{what} exceeds the limit ({self.describe(got)})"
        else:
            problem = f"too many {what}"
        return InputError(
            problem,
            source=source,
            field=field,
            value=got,
            expected=(fits + ", that is " if fits else "") + f"at most {self.describe()} ({self.env} raises the limit)",
        )

    def check(self, got: int | float, *, what: str, source: Any = None, field: str | None = None, fits: str | None = None) -> None:
        """Raise ``refuse(...)`` when ``got`` exceeds the limit."""
        if got > self.value():
            raise self.refuse(got, what=what, source=source, field=field, fits=fits)


def _bytes_text(value: float) -> str:
    for unit, size in (("GiB", _GIB), ("MiB", _MIB), ("KiB", 1024)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{int(value)} bytes"


_TABLE = (
    Limit("text_file_bytes", 8 * _MIB, "bytes", "Case, study and data set recipe files (TOML), model cards and project headers (JSON)."),
    Limit("nesting_depth", 32, "levels", "Nesting of tables and lists in TOML and JSON documents."),
    Limit("mesh_text_bytes", 256 * _MIB, "bytes",
          "Mesh files in a text format (ASCII .msh/.vtk/.stl, .inp with its *INCLUDE files, .obj, "
          "XML .vtu/.xdmf): readers hold them in memory at tens of times their size."),
    Limit("mesh_binary_bytes", 4 * _GIB, "bytes", "Mesh files in a binary format (binary .msh/.vtk/.stl, .med, an XDMF file's HDF5 or binary data)."),
    Limit("read_seconds", 600.0, "seconds", "Time one mesh file may take to read (in a child process, stopped after it)."),
    Limit("mesh_seconds", 300.0, "seconds", "Time gmsh may take to mesh a built-in geometry (in a child process, stopped after it)."),
    Limit("child_memory_bytes", _memory_default(), "bytes", "Memory a mesh reader or gmsh may take (default: half the machine's memory)."),
    Limit("cells", 500_000, "cells",
          "Cells of a mesh made from a built-in geometry, refinements included (estimated before gmsh starts: "
          "gmsh meshes some 20 000 triangles a second on two cores)."),
    Limit("time_steps", 100_000, "time steps", "Steps of a transient run (end time / step, or the smallest adaptive step)."),
    Limit("saved_values", 200_000_000, "values", "Numbers a transient result keeps (saved steps x points x components; 8 bytes each)."),
    Limit("probes", 10_000, "probes", "Probes of one case."),
    Limit("model_card_bytes", 1 * _MIB, "bytes", "A surrogate model's card.json."),
    Limit("model_weights_bytes", 4 * _GIB, "bytes", "A surrogate model's weights.safetensors."),
    Limit("model_parameters", 200_000_000, "parameters", "Parameters a model card's configuration may ask for (checked before the weights are read)."),
    Limit("project_member_bytes", 4 * _GIB, "bytes", "One member of a project file (.wbproj), after decompression."),
    Limit("array_bytes", 4 * _GIB, "bytes", "One array read from an HDF5 result or project, by its declared shape."),
)

#: Every limit, by name.
LIMITS: dict[str, Limit] = {item.name: item for item in _TABLE}


def limit(name: str) -> int | float:
    """The value in force of the limit ``name`` (a key of ``LIMITS``)."""
    return LIMITS[name].value()


def limits_markdown() -> str:
    """The table of ``docs/limits.md``: name, default, variable, what it bounds."""
    rows = ["| limit | default | environment variable | what it bounds |", "|---|---|---|---|"]
    for item in _TABLE:
        default = "half the memory" if item.name == "child_memory_bytes" else item.describe(item.default)
        rows.append(f"| `{item.name}` | {default} | `{item.env}` | {item.description} |")
    return "\n".join(rows) + "\n"
