"""Heat conduction: rho c dT/dt - div(k grad T) = f, steady or in time, with the scalar
boundary conditions of diffusion.

The finite-element assembly and time stepping are ``engine.solvers.fem.heat``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from engine.physics.base import NON_NEGATIVE, POSITIVE, OutputField, PhysicsModel, PhysicsSpec
from engine.physics.diffusion import Dirichlet, Neumann, Robin, check_fixed_somewhere
from engine.physics.values import Coefficient, TimeStepping

__all__ = ["HEAT", "HeatPhysics"]


class HeatPhysics(PhysicsModel):
    """Heat conduction: rho c du/dt - div(k grad u) = f; steady when ``time`` is absent."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("k", "rho", "c", "f", "initial")
    kind: Literal["heat"]
    k: Coefficient = Field(1.0, description="Thermal conductivity.")
    rho: Coefficient = Field(1.0, description="Density.")
    c: Coefficient = Field(1.0, description="Specific heat capacity.")
    f: Coefficient = Field(0.0, description="Heat source per unit volume.")
    initial: Coefficient = Field(0.0, description="Initial temperature (transient only).")
    time: TimeStepping | None = None


HEAT = PhysicsSpec(
    kind="heat",
    model=HeatPhysics,
    boundaries=(Dirichlet, Neumann, Robin),
    outputs=(
        OutputField("T", "K", description="temperature"),
        OutputField("heat_flux", "W/m^2", "vector", description="-k grad T"),
    ),
    units={
        "k": "W/(m K)", "rho": "kg/m^3", "c": "J/(kg K)", "f": "W/m^3", "initial": "K",
        "time.end": "s", "time.step": "s", "time.tolerance": "-",
        "dirichlet.value": "K", "neumann.flux": "W/m^2", "robin.h": "W/(m^2 K)", "robin.u_inf": "K",
    },  # fmt: skip
    default_case={
        "version": 1,
        "title": "new heat case",
        "geometry": {"kind": "unit_square"},
        "physics": {"kind": "heat", "k": 1.0, "f": 0.0},
        "boundary": [
            {"region": "left", "type": "dirichlet", "value": 373.15},
            {"region": "right", "type": "robin", "h": 10.0, "u_inf": 293.15},
        ],
    },
    classical="engine.solvers.fem.heat:solve_heat",
    checks={"k": POSITIVE, "rho": POSITIVE, "c": POSITIVE, "robin.h": NON_NEGATIVE},
    check_determined=check_fixed_somewhere,
    labels={"k": "conductivity k", "rho": "density rho", "c": "heat capacity c", "f": "heat source f", "initial": "initial T"},
)
