"""Incompressible Navier-Stokes flow, steady or in time, with its boundary conditions: velocity
(numbers or expressions in x, y, t), no-slip wall and do-nothing outflow at a pressure level.

    rho (du/dt + (u . grad) u) - mu div grad u + grad p = f,   div u = 0

The finite-element assembly (Taylor-Hood P2/P1 or Q2/Q1), Newton's method and the time
stepping are ``engine.solvers.fem.navier_stokes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from engine.physics.base import BoundaryModel, OutputField, PhysicsModel, PhysicsSpec, Quantity
from engine.physics.values import Coefficient, FinitePositive, StrictModel

if TYPE_CHECKING:
    from engine.case.schema import Case
    from engine.mesh.mesh import Mesh

__all__ = ["FlowTime", "Forces", "NAVIER_STOKES", "NavierStokesPhysics", "Newton", "NoSlip", "Outflow", "Velocity"]


class Forces(StrictModel):
    """Drag and lift on a region, and their coefficients c = 2 F / (rho U^2 L)."""

    region: str | list[str] = Field(description="The region(s) the fluid pushes on (an obstacle).")
    velocity: FinitePositive = Field(1.0, description="Reference velocity U of the coefficients.")
    length: FinitePositive = Field(1.0, description="Reference length L (a diameter; times the depth in 3D).")

    @property
    def regions(self) -> list[str]:
        return [self.region] if isinstance(self.region, str) else list(self.region)


class Newton(StrictModel):
    """Steady solve: Picard steps to start, then Newton, with continuation in viscosity if needed."""

    tolerance: FinitePositive = Field(1e-9, description="Relative residual to reach.")
    max_iterations: PositiveInt = Field(25, description="Newton steps at the final viscosity.")
    picard_steps: int = Field(3, ge=0, le=100, description="Picard (Oseen) steps before Newton.")


class FlowTime(StrictModel):
    """Time stepping of a flow: BDF2 with an extrapolated convection (one prefactored matrix)."""

    end: FinitePositive = Field(description="Final time.")
    step: FinitePositive = Field(description="Time step.")
    save_every: PositiveInt = Field(1, description="Keep every n-th step in the result (forces are kept every step).")

    @model_validator(mode="after")
    def _step_fits(self) -> FlowTime:
        if self.step > self.end:
            raise ValueError(f"step {self.step} is longer than end {self.end}; expected step <= end")
        return self


class NavierStokesPhysics(PhysicsModel):
    """Incompressible flow (Navier-Stokes): rho (du/dt + u.grad u) - mu lap u + grad p = f, div u = 0."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("body_force", "initial")
    kind: Literal["navier_stokes"]
    rho: FinitePositive = Field(1.0, description="Density.")
    mu: FinitePositive = Field(1e-3, description="Dynamic viscosity.")
    body_force: list[Coefficient] | None = Field(None, min_length=2, max_length=2, description="Force per unit volume; none by default.")
    initial: list[Coefficient] | None = Field(None, min_length=2, max_length=2, description="Initial velocity (transient only); rest by default.")
    forces: Forces | None = Field(None, description="Report drag and lift on a region.")
    pressure_difference: list[str] | None = Field(
        None, min_length=2, max_length=2, description="Two probe names: report p(first) - p(second) as delta_p."
    )
    newton: Newton = Field(default_factory=Newton)
    time: FlowTime | None = None


class Velocity(BoundaryModel):
    """Prescribed velocity (an inflow, a moving lid); a component left out is free."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("ux", "uy")
    start: ClassVar = {"ux": 1.0, "uy": 0.0}
    type: Literal["velocity"]
    ux: Coefficient | None = None
    uy: Coefficient | None = None

    @model_validator(mode="after")
    def _some_component(self) -> Velocity:
        if self.ux is None and self.uy is None:
            raise ValueError("give at least one of ux, uy")
        return self

    def claims(self) -> tuple[str, ...]:
        return tuple(f"u{a}" for a in "xy" if getattr(self, f"u{a}") is not None)


class NoSlip(BoundaryModel):
    """A wall: u = 0."""

    type: Literal["no_slip"]

    def claims(self) -> tuple[str, ...]:
        return ("ux", "uy")


class Outflow(BoundaryModel):
    """Do-nothing outflow: mu du/dn - p n = -pressure n (the pressure level there)."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("pressure",)
    start: ClassVar = {"pressure": 0.0}
    type: Literal["outflow"]
    pressure: Coefficient = 0.0


def check_mesh(case: Case, mesh: Mesh) -> None:
    """A 2D mesh; the force region and the pressure-difference probes exist."""
    from engine.errors import CaseError

    if mesh.dim != 2:
        raise CaseError("Navier-Stokes flow is solved in 2D only", field="physics.kind", value=case.physics.kind, expected="a 2D mesh")
    physics = case.physics
    if physics.forces is not None:
        for name in physics.forces.regions:
            if name not in mesh.regions:
                raise CaseError(f"forces region {name!r} is not in the mesh", field="physics.forces.region", value=name,
                                expected=f"one of {', '.join(sorted(mesh.regions))}")
    if physics.pressure_difference is not None:
        names = [p.name for p in case.probes]
        for name in physics.pressure_difference:
            if name not in names:
                raise CaseError(f"pressure_difference names probe {name!r}, which the case does not have",
                                field="physics.pressure_difference", value=name, expected=f"one of {', '.join(names) or '(no probes)'}")


def check_determined(case: Case) -> None:
    """Some condition must fix the velocity somewhere (a velocity or a wall)."""
    from engine.errors import CaseError

    if not any(bc.type in ("velocity", "no_slip") for bc in case.boundary):
        raise CaseError(
            "no condition fixes the velocity anywhere",
            field="boundary",
            expected="at least one 'velocity' or 'no_slip' condition (an inflow, a wall, a lid)",
        )


NAVIER_STOKES = PhysicsSpec(
    kind="navier_stokes",
    model=NavierStokesPhysics,
    boundaries=(Velocity, NoSlip, Outflow),
    outputs=(
        OutputField("velocity", "m/s", "vector"),
        OutputField("pressure", "Pa"),
        OutputField("vorticity", "1/s", description="dv/dx - du/dy"),
    ),
    units={
        "rho": "kg/m^3", "mu": "Pa s", "body_force": "N/m^3", "initial": "m/s",
        "forces.velocity": "m/s", "forces.length": "m",
        "newton.tolerance": "-", "newton.max_iterations": "-", "newton.picard_steps": "-",
        "time.end": "s", "time.step": "s", "time.save_every": "-",
        "velocity.ux": "m/s", "velocity.uy": "m/s", "outflow.pressure": "Pa",
    },  # fmt: skip
    default_case={
        "version": 1,
        "title": "new flow case: lid-driven cavity, Re = 100",
        "geometry": {"kind": "unit_square"},
        "mesh": {"size": 0.05},
        "physics": {"kind": "navier_stokes", "rho": 1.0, "mu": 0.01},
        "boundary": [
            {"region": "top", "type": "velocity", "ux": 1.0, "uy": 0.0},
            {"region": ["left", "right", "bottom"], "type": "no_slip"},
        ],
        "solver": {"classical": {"element": "P2"}},
    },
    classical="engine.solvers.fem.navier_stokes:solve_navier_stokes",
    unknown="velocity-pressure",
    check_mesh=check_mesh,
    check_determined=check_determined,
    quantities=(
        Quantity("c_D", "-", "drag coefficient 2 F_x / (rho U^2 L)"),
        Quantity("c_L", "-", "lift coefficient 2 F_y / (rho U^2 L)"),
        Quantity("drag", "N/m", "force along x on the forces region (per unit depth)"),
        Quantity("lift", "N/m", "force along y on the forces region (per unit depth)"),
        Quantity("delta_p", "Pa", "pressure difference between the two pressure_difference probes"),
        Quantity("strouhal", "-", "Strouhal number f L / U of the lift's oscillation"),
        Quantity("c_D_max", "-", "largest drag coefficient over the last lift period"),
        Quantity("c_L_max", "-", "largest lift coefficient over the last lift period"),
    ),
    labels={"rho": "density rho", "mu": "viscosity mu", "body_force": "body force", "initial": "initial velocity"},
    order=("rho", "mu", "forces", "pressure_difference", "newton", "time"),
)
