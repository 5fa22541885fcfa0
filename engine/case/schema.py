"""The Case document: everything needed to reproduce a run, as typed, validated data.

A case is written in TOML (see ``docs/case-format.md``); this module is its schema. Each part
is a small pydantic model that refuses unknown keys, so a typo is an error rather than a
silently ignored setting. The ``[physics]`` table and the ``[[boundary]]`` conditions take the
models of the registered physics (``engine.physics``), built-in or plug-in alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, GetCoreSchemaHandler, PositiveInt, PrivateAttr, field_validator, model_validator

from engine.physics.base import WHOLE_REGION, BoundaryModel, PhysicsModel
from engine.physics.registry import boundary_models, get_physics, physics_models
from engine.physics.units import UnitSystem
# Coefficient, FileField and TimeStepping are parts of a case too: importable from here as well.
from engine.physics.values import Coefficient, FileField, FiniteFloat, FinitePositive, StrictModel, TimeStepping

__all__ = [
    "CASE_VERSION",
    "FileField",
    "Coefficient",
    "Geometry",
    "MeshOptions",
    "Refine",
    "Physics",
    "BoundaryCondition",
    "TimeStepping",
    "Probe",
    "SolverChoice",
    "ClassicalOptions",
    "SurrogateOptions",
    "Output",
    "Case",
    "rebuild_case_schema",
]

#: The case format version this code writes; ``engine.case.load`` reads every version listed
#: in its loaders.
CASE_VERSION = 1


# -- geometry and mesh ----------------------------------------------------------------------
class Geometry(StrictModel):
    """Either a built-in parametric geometry (``kind``) or a mesh file (``file``)."""

    kind: str | None = Field(None, description="A built-in geometry; `workbench geometry list` shows them.")
    parameters: dict[str, float] = Field(default_factory=dict, description="The built-in geometry's parameters.")
    file: str | None = Field(None, description="A mesh file, relative to the case file.")

    @model_validator(mode="after")
    def _one_source(self) -> Geometry:
        if (self.kind is None) == (self.file is None):
            raise ValueError("give exactly one of 'kind' (a built-in geometry) or 'file' (a mesh file)")
        if self.file is not None and self.parameters:
            raise ValueError("'parameters' go with a built-in 'kind', not with a mesh 'file'")
        return self


class Refine(StrictModel):
    """Local refinement near a boundary region or a point."""

    size: FinitePositive = Field(description="Element size at the target.")
    distance: FinitePositive = Field(description="Distance over which the size grows back to the global size.")
    region: str | None = None
    point: list[FiniteFloat] | None = Field(None, min_length=2, max_length=3)

    @model_validator(mode="after")
    def _one_target(self) -> Refine:
        if (self.region is None) == (self.point is None):
            raise ValueError("give exactly one of 'region' or 'point'")
        return self


class MeshOptions(StrictModel):
    """How a built-in geometry is meshed (ignored for a mesh file, except ``order``)."""

    size: FinitePositive | None = Field(None, description="Global maximum element size; default: a 20th of the geometry.")
    order: Literal[1, 2] = Field(1, description="Geometric order of the elements.")
    cell: Literal["triangle", "quad", "tetra", "hexahedron"] | None = Field(None, description="Element shape; default triangle in 2D, tetra in 3D.")
    structured: bool = False
    refine: list[Refine] = Field(default_factory=list)


# -- physics and boundary conditions ----------------------------------------------------------
@dataclass(frozen=True)
class RegistryUnion:
    """A union of models tagged by ``tag``, read from the physics registry whenever pydantic
    builds the schema (``rebuild_case_schema`` builds it again when a physics is added)."""

    tag: str
    choices: Callable[[], tuple[type, ...]]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return handler.generate_schema(Annotated[Union[self.choices()], Field(discriminator=self.tag)])


#: The [physics] table: one model per registered physics, by ``kind``.
Physics = Annotated[PhysicsModel, RegistryUnion("kind", physics_models)]
#: A [[boundary]] condition: every type some registered physics takes, by ``type``.
BoundaryCondition = Annotated[BoundaryModel, RegistryUnion("type", boundary_models)]


# -- probes, solver, output -----------------------------------------------------------------
class Probe(StrictModel):
    """A named point whose interpolated field values go into the result and metrics."""

    name: str = Field(min_length=1)
    point: list[FiniteFloat] = Field(min_length=2, max_length=3)


class ClassicalOptions(StrictModel):
    element: Literal["P1", "P2", "Q1", "Q2"] = "P1"
    linear_solver: Literal["auto", "direct", "cg_amg", "gmres_amg"] = "auto"
    tolerance: FinitePositive = Field(1e-8, description="Relative residual for iterative solvers.")
    max_iterations: PositiveInt = 1000


class SurrogateOptions(StrictModel):
    model: str = Field(description="A model in the library (name) or a model folder.")
    device: Literal["auto", "cpu", "cuda"] = "auto"


class SolverChoice(StrictModel):
    kind: Literal["classical", "surrogate", "both"] = Field("classical", description="What `workbench run` solves with by default.")
    classical: ClassicalOptions = Field(default_factory=ClassicalOptions)
    surrogate: SurrogateOptions | None = None

    @model_validator(mode="after")
    def _surrogate_named(self) -> SolverChoice:
        if self.kind in ("surrogate", "both") and self.surrogate is None:
            raise ValueError(f"kind {self.kind!r} needs a [solver.surrogate] table with the model to use")
        return self


class Output(StrictModel):
    formats: list[Literal["vtu", "hdf5"]] = Field(default_factory=lambda: ["vtu", "hdf5"])
    fields: list[str] | None = Field(None, description="Fields to write; default all.")
    pictures: bool = Field(True, description="Off-screen PNG pictures in batch runs.")


# -- the case -------------------------------------------------------------------------------
class Case(StrictModel):
    """A complete, validated case. Build it with ``engine.load_case`` or ``Case.model_validate``."""

    version: Literal[1] = Field(description="Case format version.")
    title: str = ""
    description: str = ""
    units: UnitSystem = Field("SI", description="The unit system the case's numbers are in, for the labels of the app and the "
                              "exported files (nothing is converted); see docs/case-format.md.")
    parameters: dict[str, float] = Field(default_factory=dict, description="Named constants usable in expressions.")
    geometry: Geometry
    mesh: MeshOptions = Field(default_factory=MeshOptions)
    physics: Physics
    boundary: list[BoundaryCondition] = Field(default_factory=list)
    probes: list[Probe] = Field(default_factory=list)
    solver: SolverChoice = Field(default_factory=SolverChoice)
    output: Output = Field(default_factory=Output)

    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        """The file this case was read from (relative paths inside it resolve from there)."""
        return self._source

    def with_source(self, source: str | Path | None) -> Case:
        case = self.model_copy()
        case._source = Path(source) if source is not None else None
        return case

    def resolve(self, relative: str, *, field: str | None = None) -> Path:
        """A path named in the case: ``~`` expanded, then made absolute against the case file's folder.

        ``~/mesh.msh`` is the user's home, never a folder ``~`` beside the case. A ``~name``
        that names no user (or a ``~`` with no home folder known) is refused, naming ``field``:
        ``Path.expanduser`` would raise a bare RuntimeError, and joining it to the case's
        folder would look for a file nobody meant.

        Examples
        --------
        >>> import os
        >>> case = Case.model_validate({"version": 1, "geometry": {"file": "m.msh"},
        ...     "physics": {"kind": "diffusion"}}).with_source("/cases/a.toml")
        >>> str(case.resolve("m.msh")), case.resolve("~/m.msh") == Path(os.path.expanduser("~")) / "m.msh"
        ('/cases/m.msh', True)
        """
        from engine.errors import CaseError

        text = str(relative)
        path = Path(os.path.expanduser(text))
        if path.parts and path.parts[0].startswith("~"):
            user = path.parts[0][1:]
            raise CaseError(
                f"cannot expand {path.parts[0]!r}: " + (f"there is no user {user!r} on this machine" if user else "no home folder is known"),
                source=self._source,
                field=field,
                value=text,
                expected="an absolute path, a path relative to the case file, or ~/... for your home folder",
                hint="Write ./~name for a file or folder whose name starts with '~'",
            )
        if path.is_absolute() or self._source is None:
            return path
        return self._source.parent / path

    @field_validator("probes")
    @classmethod
    def _unique_probes(cls, probes: list[Probe]) -> list[Probe]:
        names = [p.name for p in probes]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"probe names must be unique; repeated: {', '.join(duplicated)}")
        return probes

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        if self.geometry.file is not None and self.mesh.model_fields_set:
            raise ValueError(
                f"[mesh] options ({', '.join(sorted(self.mesh.model_fields_set))}) apply to built-in geometries; "
                "a mesh file is used as it is: remove them or use a built-in geometry kind"
            )
        _check_one_condition_per_region(self)
        kind = self.physics.kind
        allowed = get_physics(kind).boundary_types
        for i, bc in enumerate(self.boundary):
            if bc.type not in allowed:
                raise ValueError(
                    f"boundary[{i}] has type {bc.type!r}, which {kind} physics does not take; "
                    f"expected one of {', '.join(allowed)}"
                )
        return self

    def coefficients(self) -> list[tuple[str, Any]]:
        """Every coefficient of the case as (dotted path, value), for validation and display."""
        out: list[tuple[str, Any]] = []

        def walk(prefix: str, model: Any) -> None:
            for name in model.coefficient_fields:
                value = getattr(model, name)
                if value is None:
                    continue
                if isinstance(value, list):
                    out.extend((f"{prefix}.{name}[{j}]", v) for j, v in enumerate(value))
                else:
                    out.append((f"{prefix}.{name}", value))

        walk("physics", self.physics)
        for i, bc in enumerate(self.boundary):
            walk(f"boundary[{i}]", bc)
        return out


def _check_one_condition_per_region(case: Case) -> None:
    """What a condition claims on a region (the whole of it, or one displacement component) no
    other condition claims there: two would silently override each other."""
    seen: dict[tuple[str, str], int] = {}
    for i, bc in enumerate(case.boundary):
        for region in bc.regions:
            for key in bc.claims():
                if (region, key) in seen:
                    j = seen[(region, key)]
                    what = "set a condition" if key == WHOLE_REGION else f"fix {key}"
                    raise ValueError(
                        f"boundary[{j}] and boundary[{i}] both {what} on region {region!r}; expected one condition per region"
                    )
                seen[(region, key)] = i


def rebuild_case_schema() -> None:
    """Build the Case's pydantic schema again from the physics registry (which calls this when
    a physics is registered after the Case was built)."""
    Case.model_rebuild(force=True)
