"""Field: a named array on the points or the cells of a mesh, optionally over time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.errors import InputError

__all__ = ["Field"]


@dataclass(frozen=True)
class Field:
    """A named array on a mesh.

    Attributes
    ----------
    name
        The field's name (``"u"``, ``"flux"``, ``"von_mises"``).
    values
        ``(n,)`` for a scalar or ``(n, k)`` for k components, where n is the number of points
        (``association="point"``) or of domain cells in ``Mesh.domain_cells`` order
        (``association="cell"``). A time series adds a leading axis: ``(n_times, n[, k])``.
    association
        ``"point"`` or ``"cell"``.
    times
        The time of each step for a time series; ``None`` for a steady field.
    components
        Component names (``("x", "y")``, ``("xx", "yy", "xy")``); ``None`` for a scalar.
    units
        Free text, shown in legends.

    Examples
    --------
    >>> import numpy as np
    >>> u = Field("u", np.zeros((3, 5)), times=np.array([0.0, 0.5, 1.0]))
    >>> u.is_time_series, u.n_components, u.at_step(-1).values.shape
    (True, 1, (5,))
    """

    name: str
    values: np.ndarray
    association: Literal["point", "cell"] = "point"
    times: np.ndarray | None = None
    components: tuple[str, ...] | None = None
    units: str = ""

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float)
        object.__setattr__(self, "values", values)
        if self.association not in ("point", "cell"):
            raise InputError("unknown field association", field=f"fields.{self.name}", value=self.association, expected="'point' or 'cell'")
        base = values.ndim - (1 if self.times is not None else 0)
        if base not in (1, 2):
            raise InputError("field values have the wrong shape", field=f"fields.{self.name}", value=values.shape, expected="(n,) or (n, k), with a leading time axis for a series")
        if self.times is not None:
            times = np.asarray(self.times, dtype=float)
            object.__setattr__(self, "times", times)
            if times.ndim != 1 or len(times) != values.shape[0]:
                raise InputError("field has a time axis that does not match its values", field=f"fields.{self.name}", value=(times.shape, values.shape))
        if self.components is not None and len(self.components) != self.n_components:
            raise InputError("component names do not match the values", field=f"fields.{self.name}", value=self.components, expected=f"{self.n_components} names")

    @property
    def is_time_series(self) -> bool:
        return self.times is not None

    @property
    def n_components(self) -> int:
        base = self.values.ndim - (1 if self.is_time_series else 0)
        return 1 if base == 1 else int(self.values.shape[-1])

    @property
    def n_values(self) -> int:
        """Number of points or cells the field lives on."""
        return int(self.values.shape[1 if self.is_time_series else 0])

    def at_step(self, step: int) -> Field:
        """The steady field of one time step (the field itself when steady)."""
        if not self.is_time_series:
            return self
        return Field(self.name, self.values[step], self.association, None, self.components, self.units)

    def magnitude(self) -> np.ndarray:
        """Euclidean norm over components (the values themselves for a scalar)."""
        return self.values if self.n_components == 1 else np.linalg.norm(self.values, axis=-1)
