"""Scalar diffusion / Darcy flow: -div(k grad u) = f, with the scalar boundary conditions
(dirichlet, neumann, robin) that heat conduction takes too.

The finite-element assembly is ``engine.solvers.fem.diffusion``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from engine.physics.base import NON_NEGATIVE, POSITIVE, BoundaryModel, OutputField, PhysicsModel, PhysicsSpec
from engine.physics.values import Coefficient

if TYPE_CHECKING:
    from engine.case.schema import Case

__all__ = ["DIFFUSION", "DiffusionPhysics", "Dirichlet", "Neumann", "Robin", "check_fixed_somewhere"]


class DiffusionPhysics(PhysicsModel):
    """Scalar diffusion / Darcy flow: -div(k grad u) = f."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("k", "f")
    kind: Literal["diffusion"]
    k: Coefficient = Field(1.0, description="Conductivity or permeability.")
    f: Coefficient = Field(0.0, description="Source per unit volume.")


class Dirichlet(BoundaryModel):
    """Fixed value: u = value."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("value",)
    start: ClassVar = {"value": 0.0}
    type: Literal["dirichlet"]
    value: Coefficient


class Neumann(BoundaryModel):
    """Imposed normal flux: k du/dn = flux (positive into the domain)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("flux",)
    start: ClassVar = {"flux": 0.0}
    type: Literal["neumann"]
    flux: Coefficient = 0.0


class Robin(BoundaryModel):
    """Convection: -k du/dn = h (u - u_inf)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("h", "u_inf")
    start: ClassVar = {"h": 1.0, "u_inf": 0.0}
    type: Literal["robin"]
    h: Coefficient
    u_inf: Coefficient = 0.0


def check_fixed_somewhere(case: Case) -> None:
    """Refuse a steady scalar problem that no condition fixes: with flux conditions alone u is
    known only up to a constant and the finite-element matrix is singular."""
    from engine.errors import CaseError

    if getattr(case.physics, "time", None) is not None:
        return  # a transient problem starts from its initial value
    if not any(bc.type in ("dirichlet", "robin") for bc in case.boundary):
        raise CaseError(
            "no boundary condition fixes the solution of this steady problem (flux conditions alone leave it undetermined)",
            field="boundary",
            value=[bc.type for bc in case.boundary] or "none",
            expected="at least one dirichlet (fixed value) or robin (convection) condition on some region",
        )


DIFFUSION = PhysicsSpec(
    kind="diffusion",
    model=DiffusionPhysics,
    boundaries=(Dirichlet, Neumann, Robin),
    outputs=(
        OutputField("u", "-", description="the solution"),
        OutputField("flux", "-", "vector", description="-k grad u"),
    ),
    # Diffusion has no units of its own: u, k and f are in whatever consistent units the case uses.
    units={"k": "-", "f": "-", "dirichlet.value": "-", "neumann.flux": "-", "robin.h": "-", "robin.u_inf": "-"},
    default_case={
        "version": 1,
        "title": "new case",
        "geometry": {"kind": "unit_square"},
        "physics": {"kind": "diffusion", "k": 1.0, "f": 1.0},
        "boundary": [{"region": ["left", "right", "bottom", "top"], "type": "dirichlet", "value": 0.0}],
    },
    classical="engine.solvers.fem.diffusion:solve_diffusion",
    checks={"k": POSITIVE, "robin.h": NON_NEGATIVE},
    check_determined=check_fixed_somewhere,
    labels={"k": "conductivity k", "f": "source f"},
)
