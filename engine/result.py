"""Result: what a solver returns: the mesh, the fields, probe readings and provenance."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine._version import __version__
from engine.errors import InputError
from engine.fields import Field
from engine.mesh.mesh import Mesh

__all__ = ["Provenance", "ProbeReading", "Result", "software_versions"]


def software_versions() -> dict[str, str]:
    """Versions of the software that produced a result (only packages already imported)."""
    versions = {"workbench": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("numpy", "scipy", "skfem", "pyamg", "torch", "meshio", "gmsh", "h5py"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


@dataclass
class Provenance:
    """Where a result came from, enough to trust and reproduce it."""

    solver: str
    options: dict[str, Any] = field(default_factory=dict)
    wall_time: float | None = None
    iterations: int | None = None
    residual: float | None = None
    model_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    case: str | None = None
    versions: dict[str, str] = field(default_factory=software_versions)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class ProbeReading:
    """Field values interpolated at a named point (one row per time step for a series)."""

    name: str
    point: tuple[float, ...]
    values: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Result:
    """A solved problem.

    Examples
    --------
    >>> import numpy as np
    >>> from engine.mesh import Mesh
    >>> mesh = Mesh(np.array([[0., 0.], [1., 0.], [0., 1.]]), {"triangle": np.array([[0, 1, 2]])})
    >>> result = Result(mesh, {"u": Field("u", np.array([0., 1., 2.]))}, Provenance("example"))
    >>> result.field("u").values.tolist()
    [0.0, 1.0, 2.0]
    """

    mesh: Mesh
    fields: dict[str, Field]
    provenance: Provenance
    probes: dict[str, ProbeReading] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_cells = self.mesh.n_cells
        for name, f in self.fields.items():
            expected = self.mesh.n_points if f.association == "point" else n_cells
            if f.n_values != expected:
                raise InputError(
                    f"field {name!r} does not fit the mesh",
                    value=f.n_values,
                    expected=f"{expected} {f.association} values",
                )
        series = [f.times for f in self.fields.values() if f.times is not None]
        if any(len(t) != len(series[0]) or not np.allclose(t, series[0]) for t in series[1:]):
            raise InputError("the time series of a result do not share one time axis")

    @property
    def times(self) -> np.ndarray | None:
        """The shared time axis, or None for a steady result."""
        for f in self.fields.values():
            if f.times is not None:
                return f.times
        return None

    def field(self, name: str) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            raise InputError("unknown field", value=name, expected=f"one of {', '.join(self.fields) or '(none)'}") from None
