"""What a physics is to the workbench: a ``PhysicsSpec``, and the base models of its case tables.

A physics brings the schema of its ``[physics]`` table, the boundary-condition types it takes,
the fields a solve gives and the units of everything, the checks a case must pass before it is
solved, the case the app starts from, the classical solver's entry and the app's form hints.
The registry (``engine.physics.registry``) finds every spec; the Case schema, the app's physics
list and the case-format doc are built from it.

Examples
--------
>>> from engine.physics.registry import get_physics
>>> spec = get_physics("heat")
>>> spec.boundary_types, spec.unit("k"), spec.unit("robin.h"), [f.name for f in spec.outputs]
(('dirichlet', 'neumann', 'robin'), 'W/(m K)', 'W/(m^2 K)', ['T', 'heat_flux'])
"""

from __future__ import annotations

import copy
import importlib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

from pydantic import Field, field_validator

from engine.physics.values import StrictModel

if TYPE_CHECKING:
    import numpy as np

    from engine.case.schema import Case
    from engine.mesh.mesh import Mesh

__all__ = ["BoundaryModel", "NON_NEGATIVE", "OutputField", "POSITIVE", "PhysicsModel", "PhysicsSpec", "Quantity", "ValueCheck", "WHOLE_REGION", "tag_values"]


class PhysicsModel(StrictModel):
    """Base of a ``[physics]`` table's model; a subclass sets ``kind: Literal["its kind"]``."""

    #: The keys holding coefficients (numbers, expressions or file fields), which the Problem
    #: turns into evaluable fields and checks where they act.
    coefficient_fields: ClassVar[tuple[str, ...]] = ()


#: What ``BoundaryModel.claims`` returns for a condition that takes its regions whole.
WHOLE_REGION = "condition"


class BoundaryModel(StrictModel):
    """Base of a ``[[boundary]]`` condition's model; a subclass sets ``type: Literal["its type"]``."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ()
    #: What a new condition of this type starts with in the app's form (None: shown, left unset).
    start: ClassVar[Mapping[str, Any]] = {}
    region: str | list[str] = Field(description="Region name(s) of the mesh this condition applies to.")

    @field_validator("region")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names or any(not n.strip() for n in names):
            raise ValueError("a region name is empty; expected one name or a list of names")
        return value

    @property
    def regions(self) -> list[str]:
        return [self.region] if isinstance(self.region, str) else list(self.region)

    def claims(self) -> tuple[str, ...]:
        """What this condition fixes on its regions, which no other condition may fix there too
        (two would silently override each other): the whole region by default."""
        return (WHOLE_REGION,)


@dataclass(frozen=True)
class OutputField:
    """A field a solve of this physics gives, with its unit."""

    name: str
    unit: str
    shape: Literal["scalar", "vector", "tensor"] = "scalar"
    description: str = ""

    def components(self, dim: int) -> int:
        """Values per point in a ``dim``-dimensional space (a symmetric tensor in Voigt order)."""
        return {"scalar": 1, "vector": dim, "tensor": dim * (dim + 1) // 2}[self.shape]


@dataclass(frozen=True)
class Quantity:
    """A number a solve reports beside its fields (a drag coefficient), found under ``key`` in
    the result's metrics; the command line prints those a run has."""

    key: str
    unit: str
    description: str


class ValueCheck(NamedTuple):
    """A rule a coefficient's values must meet wherever it acts: its words and its test."""

    rule: str
    test: Callable[[np.ndarray], np.ndarray]


POSITIVE = ValueCheck("positive", lambda v: v > 0)
NON_NEGATIVE = ValueCheck("zero or positive", lambda v: v >= 0)


@dataclass(frozen=True)
class PhysicsSpec:
    """One physics, as the workbench knows it.

    Parameters
    ----------
    kind
        The ``physics.kind`` of its cases.
    model
        The schema of its ``[physics]`` table (a ``PhysicsModel`` whose ``kind`` is ``kind``).
        Its docstring's first line names it (in the docs and the app).
    boundaries
        The boundary-condition models it takes, in the order the app lists them.
    outputs
        The fields a solve gives.
    units
        The unit of each key: ``"k"`` for ``physics.k``, ``"time.step"`` for a nested table,
        ``"robin.h"`` for a boundary condition's key. SI throughout; ``"-"`` is dimensionless
        (or the user's own consistent unit).
    default_case
        The case document the app starts from with this physics (its ``physics`` table is also
        what the app puts in place when the user switches to this physics).
    classical
        ``"module:function"`` of the classical solver's entry:
        ``function(problem, discretization, linear, *, progress, cancel) -> FemSolution``.
        None when finite elements cannot answer it.
    unknown
        ``"scalar"``, ``"vector"`` (one component per space dimension), or
        ``"velocity-pressure"`` (a vector of the case's second-order element beside a scalar
        pressure one order lower: Taylor-Hood): the finite element space the classical solver
        builds.
    checks
        Rules for coefficient values, by key as in ``units`` (``"k"``, ``"robin.h"``), checked
        where each acts when a case is bound to its mesh.
    check_mesh
        ``check_mesh(case, mesh)`` raises ``CaseError`` where the case does not fit the mesh
        (a 3D model on a 2D mesh, vectors with the wrong number of components).
    check_determined
        ``check_determined(case)`` raises ``CaseError`` where no condition fixes the solution;
        run by a solver, not when binding, since a case being set up may lack its conditions.
    quantities
        The numbers a solve may report beside its fields (forces, pressure drops), in the order
        they are printed.
    labels, order
        Form hints: a label for a key (default: the key itself) and the order of the
        ``[physics]`` keys in the app's form (default: the model's field order).
    """

    kind: str
    model: type[PhysicsModel]
    boundaries: tuple[type[BoundaryModel], ...]
    outputs: tuple[OutputField, ...]
    units: Mapping[str, str]
    default_case: Mapping[str, Any]
    classical: str | None = None
    unknown: Literal["scalar", "vector", "velocity-pressure"] = "scalar"
    checks: Mapping[str, ValueCheck] = field(default_factory=dict)
    check_mesh: Callable[[Case, Mesh], None] | None = None
    check_determined: Callable[[Case], None] | None = None
    quantities: tuple[Quantity, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A spec is code: its mistakes are the plug-in author's, told at registration.
        if tag_values(self.model, "kind") != (self.kind,):
            raise ValueError(f"physics {self.kind!r}: its model {self.model.__name__} must declare kind: Literal[{self.kind!r}]")
        for bc in self.boundaries:
            if len(tag_values(bc, "type")) != 1:
                raise ValueError(f"physics {self.kind!r}: boundary model {bc.__name__} must declare type: Literal['its type']")
        if self.default_case.get("physics", {}).get("kind") != self.kind:
            raise ValueError(f"physics {self.kind!r}: its default case must have physics.kind = {self.kind!r}")

    @property
    def title(self) -> str:
        """What the physics is, in a line (its model's docstring)."""
        return (self.model.__doc__ or self.kind).strip().splitlines()[0].rstrip(".")

    @property
    def boundary_types(self) -> tuple[str, ...]:
        """The ``type`` of each boundary condition it takes."""
        return tuple(tag_values(bc, "type")[0] for bc in self.boundaries)

    def unit(self, key: str) -> str:
        """The unit of a key (``"k"``, ``"time.step"``, ``"robin.h"``) or output field; "" if none is known."""
        outputs = {f.name: f.unit for f in self.outputs}
        return self.units.get(key, outputs.get(key, ""))

    def label(self, key: str) -> str:
        """The form label of a key: its label and its unit, ``"k [W/(m K)]"``."""
        unit = self.unit(key)
        return f"{self.labels.get(key, key)} [{unit}]" if unit else self.labels.get(key, key)

    def form_order(self) -> tuple[str, ...]:
        """The ``[physics]`` keys in the order the app's form shows them (``kind`` first, apart)."""
        keys = [k for k in self.model.model_fields if k != "kind"]
        return tuple([k for k in self.order if k in keys] + [k for k in keys if k not in self.order])

    def start_physics(self) -> dict[str, Any]:
        """A fresh ``[physics]`` table for a case switched to this physics."""
        return copy.deepcopy(dict(self.default_case["physics"]))

    def values_per_point(self, dim: int) -> int:
        """Numbers a solution keeps per mesh point and saved step (the work estimate counts them)."""
        return sum(f.components(dim) for f in self.outputs)

    def classical_entry(self) -> Callable[..., Any] | None:
        """The classical solver's function for this physics (imported now: it pulls in scikit-fem)."""
        if self.classical is None:
            return None
        module, _, name = self.classical.partition(":")
        return getattr(importlib.import_module(module), name)


def tag_values(model: type, tag: str) -> tuple[str, ...]:
    """The values a model's ``Literal`` tag field (``kind`` or ``type``) takes."""
    info = model.model_fields.get(tag) if isinstance(model, type) and hasattr(model, "model_fields") else None
    if info is None or typing.get_origin(info.annotation) is not Literal:
        return ()
    return tuple(typing.get_args(info.annotation))
