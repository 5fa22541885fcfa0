"""Linear elasticity (plane stress, plane strain, 3D), with its boundary conditions:
displacement, traction and pressure.

The finite-element assembly is ``engine.solvers.fem.elasticity``; whether the displacement
conditions hold the body (no rigid motion left free) is checked there, against the
discretised degrees of freedom, which the case alone does not know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from engine.physics.base import POSITIVE, BoundaryModel, OutputField, PhysicsModel, PhysicsSpec, ValueCheck
from engine.physics.values import Coefficient, FinitePositive

if TYPE_CHECKING:
    from engine.case.schema import Case
    from engine.mesh.mesh import Mesh

__all__ = ["ELASTICITY", "Displacement", "ElasticityPhysics", "Pressure", "Traction"]


class ElasticityPhysics(PhysicsModel):
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


class Displacement(BoundaryModel):
    """Prescribed displacement components; a component left out is free (symmetry planes)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("ux", "uy", "uz")
    start: ClassVar = {"ux": 0.0, "uy": 0.0, "uz": None}
    type: Literal["displacement"]
    ux: Coefficient | None = None
    uy: Coefficient | None = None
    uz: Coefficient | None = None

    @model_validator(mode="after")
    def _some_component(self) -> Displacement:
        if self.ux is None and self.uy is None and self.uz is None:
            raise ValueError("give at least one of ux, uy, uz")
        return self

    def claims(self) -> tuple[str, ...]:
        # Each component is fixed once: rollers on two symmetry planes may share a corner.
        return tuple(f"u{a}" for a in "xyz" if getattr(self, f"u{a}") is not None)


class Traction(BoundaryModel):
    """Surface traction vector (force per unit area)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("vector",)
    start: ClassVar = {"vector": [0.0, 0.0]}
    type: Literal["traction"]
    vector: list[Coefficient] = Field(min_length=2, max_length=3)

    def claims(self) -> tuple[str, ...]:
        return ()  # loads add up


class Pressure(BoundaryModel):
    """Normal pressure, pushing against the outward normal (a negative one pulls)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("value",)
    start: ClassVar = {"value": 0.0}
    type: Literal["pressure"]
    value: Coefficient

    def claims(self) -> tuple[str, ...]:
        return ()  # loads add up


def check_mesh(case: Case, mesh: Mesh) -> None:
    """The model fits the mesh's dimension, and every vector has one component per dimension."""
    from engine.errors import CaseError

    physics = case.physics
    if physics.model == "3d" and mesh.dim != 3:
        raise CaseError("3D elasticity needs a 3D mesh", field="physics.model", value=physics.model, expected=f"'plane_stress' or 'plane_strain' for this {mesh.dim}D mesh")
    if physics.model != "3d" and mesh.dim != 2:
        raise CaseError(f"{physics.model} needs a 2D mesh", field="physics.model", value=physics.model, expected=f"'3d' for this {mesh.dim}D mesh")
    want = 3 if physics.model == "3d" else 2
    if physics.body_force is not None and len(physics.body_force) != want:
        raise CaseError("body force has the wrong number of components", field="physics.body_force", value=len(physics.body_force), expected=str(want))
    for i, bc in enumerate(case.boundary):
        if bc.type == "traction" and len(bc.vector) != want:
            raise CaseError("traction has the wrong number of components", field=f"boundary[{i}].vector", value=len(bc.vector), expected=str(want))
        if bc.type == "displacement" and want == 2 and bc.uz is not None:
            raise CaseError("uz given for a 2D model", field=f"boundary[{i}].uz", expected="only ux and uy in 2D")


ELASTICITY = PhysicsSpec(
    kind="elasticity",
    model=ElasticityPhysics,
    boundaries=(Displacement, Traction, Pressure),
    outputs=(
        OutputField("displacement", "m", "vector"),
        OutputField("stress", "Pa", "tensor", description="xx, yy, xy (plus zz in plane strain), or xx, yy, zz, xy, yz, xz in 3D"),
        OutputField("von_mises", "Pa", description="von Mises stress"),
    ),
    units={
        "E": "Pa", "nu": "-", "thickness": "m", "body_force": "N/m^3",
        "displacement.ux": "m", "displacement.uy": "m", "displacement.uz": "m", "traction.vector": "Pa", "pressure.value": "Pa",
    },  # fmt: skip
    default_case={
        "version": 1,
        "title": "new elasticity case",
        "geometry": {"kind": "unit_square"},
        "physics": {"kind": "elasticity", "E": 210e9, "nu": 0.3, "model": "plane_stress"},
        "boundary": [
            {"region": "left", "type": "displacement", "ux": 0.0, "uy": 0.0},
            {"region": "right", "type": "traction", "vector": [1e6, 0.0]},
        ],
    },
    classical="engine.solvers.fem.elasticity:solve_elasticity",
    unknown="vector",
    checks={"E": POSITIVE, "nu": ValueCheck("in [0, 0.5)", lambda v: (v >= 0) & (v < 0.5))},
    check_mesh=check_mesh,
    labels={"E": "Young's modulus E", "nu": "Poisson's ratio nu", "body_force": "body force"},
)
