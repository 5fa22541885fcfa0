"""The value types a case's tables are made of, shared by the Case and every physics' schema.

They live below ``engine.case`` (the Case is built from the physics registry, and a physics'
schema is built from these), so a plug-in physics can import them without importing the Case.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PositiveInt, model_validator

__all__ = ["StrictModel", "FileField", "FiniteFloat", "FinitePositive", "Coefficient", "TimeStepping"]


class StrictModel(BaseModel):
    """A table of a case: unknown keys are refused, so a typo is an error rather than a silently
    ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class FileField(StrictModel):
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


class TimeStepping(StrictModel):
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
