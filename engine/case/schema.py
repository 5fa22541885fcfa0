"""The Case document: everything needed to reproduce a run, as typed, validated data.

A case is written in TOML (see ``docs/case-format.md``); this module is its schema. Each part
is a small pydantic model that refuses unknown keys, so a typo is an error rather than a
silently ignored setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    field_validator,
    model_validator,
)

__all__ = [
    "CASE_VERSION",
    "FileField",
    "Coefficient",
    "Geometry",
    "MeshOptions",
    "Refine",
    "DiffusionPhysics",
    "HeatPhysics",
    "TimeStepping",
    "ElasticityPhysics",
    "Dirichlet",
    "Neumann",
    "Robin",
    "Displacement",
    "Traction",
    "Pressure",
    "Probe",
    "SolverChoice",
    "ClassicalOptions",
    "SurrogateOptions",
    "Output",
    "Case",
]

#: The case format version this code writes; ``engine.case.load`` reads every version listed
#: in its loaders.
CASE_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class FileField(_Strict):
    """A coefficient read from a field stored in a mesh file (point or cell data)."""

    file: str = Field(description="Mesh file holding the field, relative to the case file.")
    field: str = Field(description="Name of the point or cell array in that file.")


def _no_bool(value: Any) -> Any:
    # TOML's true/false would otherwise pass as 1.0/0.0.
    if isinstance(value, bool):
        raise ValueError("a boolean is not a coefficient; expected a number, an expression string or {file, field}")
    return value


#: A finite number. pydantic's float takes ``inf`` and ``nan`` (TOML writes them), which no mesh,
#: probe or solver can use: a thickness of inf passed and failed later as a singular matrix.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
#: A finite number greater than 0 (``PositiveFloat`` takes ``inf``).
FinitePositive = Annotated[float, Field(gt=0, allow_inf_nan=False)]

#: A number, an expression in x, y, z, t and the case's parameters (``"1 + x*y"``), or a field
#: read from a file (``{file = "k.vtu", field = "k"}``).
Coefficient = Annotated[Union[float, str, FileField], BeforeValidator(_no_bool)]


# -- geometry and mesh ----------------------------------------------------------------------
class Geometry(_Strict):
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


class Refine(_Strict):
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


class MeshOptions(_Strict):
    """How a built-in geometry is meshed (ignored for a mesh file, except ``order``)."""

    size: FinitePositive | None = Field(None, description="Global maximum element size; default: a 20th of the geometry.")
    order: Literal[1, 2] = Field(1, description="Geometric order of the elements.")
    cell: Literal["triangle", "quad", "tetra", "hexahedron"] | None = Field(None, description="Element shape; default triangle in 2D, tetra in 3D.")
    structured: bool = False
    refine: list[Refine] = Field(default_factory=list)


# -- physics --------------------------------------------------------------------------------
class DiffusionPhysics(_Strict):
    """Scalar diffusion / Darcy flow: -div(k grad u) = f."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("k", "f")
    kind: Literal["diffusion"]
    k: Coefficient = Field(1.0, description="Conductivity or permeability.")
    f: Coefficient = Field(0.0, description="Source per unit volume.")


class TimeStepping(_Strict):
    """Theta-scheme time integration."""

    end: FinitePositive = Field(description="Final time.")
    step: FinitePositive = Field(description="Time step (the first one, when adaptive).")
    scheme: Literal["backward_euler", "crank_nicolson"] = "backward_euler"
    adaptive: bool = False
    tolerance: FinitePositive = Field(1e-3, description="Local error target for adaptive steps.")
    save_every: PositiveInt = Field(1, description="Keep every n-th step in the result.")

    @model_validator(mode="after")
    def _step_fits(self) -> TimeStepping:
        if self.step > self.end:
            raise ValueError(f"step {self.step} is longer than end {self.end}; expected step <= end")
        return self


class HeatPhysics(_Strict):
    """Heat conduction: rho c du/dt - div(k grad u) = f; steady when ``time`` is absent."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("k", "rho", "c", "f", "initial")
    kind: Literal["heat"]
    k: Coefficient = Field(1.0, description="Thermal conductivity.")
    rho: Coefficient = Field(1.0, description="Density.")
    c: Coefficient = Field(1.0, description="Specific heat capacity.")
    f: Coefficient = Field(0.0, description="Heat source per unit volume.")
    initial: Coefficient = Field(0.0, description="Initial temperature (transient only).")
    time: TimeStepping | None = None


class ElasticityPhysics(_Strict):
    """Linear elasticity: plane stress, plane strain, or 3D."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("E", "nu", "body_force")
    kind: Literal["elasticity"]
    E: Coefficient = Field(description="Young's modulus.")
    nu: Coefficient = Field(description="Poisson's ratio, in [0, 0.5).")
    model: Literal["plane_stress", "plane_strain", "3d"] = "plane_stress"
    thickness: FinitePositive = Field(1.0, description="Out-of-plane thickness (plane stress/strain).")
    body_force: list[Coefficient] | None = Field(None, min_length=2, max_length=3, description="Force per unit volume; none by default.")

    @field_validator("nu")
    @classmethod
    def _nu_range(cls, value: Any) -> Any:
        if isinstance(value, float) and not 0.0 <= value < 0.5:
            raise ValueError(f"Poisson's ratio {value} is outside [0, 0.5)")
        return value

    @field_validator("E")
    @classmethod
    def _e_positive(cls, value: Any) -> Any:
        if isinstance(value, float) and value <= 0:
            raise ValueError(f"Young's modulus {value} is not positive")
        return value


Physics = Annotated[Union[DiffusionPhysics, HeatPhysics, ElasticityPhysics], Field(discriminator="kind")]


# -- boundary conditions --------------------------------------------------------------------
class _Boundary(_Strict):
    coefficient_fields: ClassVar[tuple[str, ...]] = ()
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


class Dirichlet(_Boundary):
    """Fixed value: u = value."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("value",)
    type: Literal["dirichlet"]
    value: Coefficient


class Neumann(_Boundary):
    """Imposed normal flux: k du/dn = flux (positive into the domain)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("flux",)
    type: Literal["neumann"]
    flux: Coefficient = 0.0


class Robin(_Boundary):
    """Convection: -k du/dn = h (u - u_inf)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("h", "u_inf")
    type: Literal["robin"]
    h: Coefficient
    u_inf: Coefficient = 0.0


class Displacement(_Boundary):
    """Prescribed displacement components; a component left out is free (symmetry planes)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("ux", "uy", "uz")
    type: Literal["displacement"]
    ux: Coefficient | None = None
    uy: Coefficient | None = None
    uz: Coefficient | None = None

    @model_validator(mode="after")
    def _some_component(self) -> Displacement:
        if self.ux is None and self.uy is None and self.uz is None:
            raise ValueError("give at least one of ux, uy, uz")
        return self


class Traction(_Boundary):
    """Surface traction vector (force per unit area)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("vector",)
    type: Literal["traction"]
    vector: list[Coefficient] = Field(min_length=2, max_length=3)


class Pressure(_Boundary):
    """Normal pressure, pushing against the outward normal."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("value",)
    type: Literal["pressure"]
    value: Coefficient


BoundaryCondition = Annotated[
    Union[Dirichlet, Neumann, Robin, Displacement, Traction, Pressure], Field(discriminator="type")
]
#: The boundary condition types each physics takes.
ALLOWED_BOUNDARIES = {
    "diffusion": ("dirichlet", "neumann", "robin"),
    "heat": ("dirichlet", "neumann", "robin"),
    "elasticity": ("displacement", "traction", "pressure"),
}


# -- probes, solver, output -----------------------------------------------------------------
class Probe(_Strict):
    """A named point whose interpolated field values go into the result and metrics."""

    name: str = Field(min_length=1)
    point: list[FiniteFloat] = Field(min_length=2, max_length=3)


class ClassicalOptions(_Strict):
    element: Literal["P1", "P2", "Q1", "Q2"] = "P1"
    linear_solver: Literal["auto", "direct", "cg_amg", "gmres_amg"] = "auto"
    tolerance: FinitePositive = Field(1e-8, description="Relative residual for iterative solvers.")
    max_iterations: PositiveInt = 1000


class SurrogateOptions(_Strict):
    model: str = Field(description="A model in the library (name) or a model folder.")
    device: Literal["auto", "cpu", "cuda"] = "auto"


class SolverChoice(_Strict):
    kind: Literal["classical", "surrogate", "both"] = Field("classical", description="What `workbench run` solves with by default.")
    classical: ClassicalOptions = Field(default_factory=ClassicalOptions)
    surrogate: SurrogateOptions | None = None

    @model_validator(mode="after")
    def _surrogate_named(self) -> SolverChoice:
        if self.kind in ("surrogate", "both") and self.surrogate is None:
            raise ValueError(f"kind {self.kind!r} needs a [solver.surrogate] table with the model to use")
        return self


class Output(_Strict):
    formats: list[Literal["vtu", "hdf5"]] = Field(default_factory=lambda: ["vtu", "hdf5"])
    fields: list[str] | None = Field(None, description="Fields to write; default all.")
    pictures: bool = Field(True, description="Off-screen PNG pictures in batch runs.")


# -- the case -------------------------------------------------------------------------------
class Case(_Strict):
    """A complete, validated case. Build it with ``engine.load_case`` or ``Case.model_validate``."""

    version: Literal[1] = Field(description="Case format version.")
    title: str = ""
    description: str = ""
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
        for i, bc in enumerate(self.boundary):
            if bc.type not in ALLOWED_BOUNDARIES[kind]:
                raise ValueError(
                    f"boundary[{i}] has type {bc.type!r}, which {kind} physics does not take; "
                    f"expected one of {', '.join(ALLOWED_BOUNDARIES[kind])}"
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
    """A region takes one scalar condition, and each displacement component is fixed once:
    two would silently override each other."""
    seen: dict[tuple[str, str], int] = {}
    for i, bc in enumerate(case.boundary):
        if bc.type == "displacement":
            keys = [f"u{a}" for a in "xyz" if getattr(bc, f"u{a}") is not None]
        elif bc.type in ("traction", "pressure"):
            continue  # loads add up
        else:
            keys = ["value"]
        for region in bc.regions:
            for key in keys:
                if (region, key) in seen:
                    j = seen[(region, key)]
                    what = f"fix {key}" if bc.type == "displacement" else "set a condition"
                    raise ValueError(
                        f"boundary[{j}] and boundary[{i}] both {what} on region {region!r}; expected one condition per region"
                    )
                seen[(region, key)] = i
