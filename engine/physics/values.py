"""The value types a case's tables are made of, shared by the Case and every physics' schema.

They live below ``engine.case`` (the Case is built from the physics registry, and a physics'
schema is built from these), so a plug-in physics can import them without importing the Case.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

__all__ = ["StrictModel", "FileField", "RandomField", "FiniteFloat", "FinitePositive", "Coefficient", "TimeStepping"]


class StrictModel(BaseModel):
    """A table of a case: unknown keys are refused, so a typo is an error rather than a silently
    ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class FileField(StrictModel):
    """A coefficient read from a field stored in a mesh file (point or cell data)."""

    file: str = Field(description="Mesh file holding the field, relative to the case file.")
    field: str = Field(description="Name of the point or cell array in that file.")


#: A finite number. pydantic's float takes ``inf`` and ``nan`` (TOML writes them), which no mesh,
#: probe or solver can use: a thickness of inf passed and failed later as a singular matrix.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
#: A finite number greater than 0 (``PositiveFloat`` takes ``inf``).
FinitePositive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class RandomField(StrictModel):
    """A coefficient drawn as a Gaussian random field (:mod:`engine.random_fields`, the law of
    the FNO Darcy data) on the square ``origin + [0, length]^2``, optionally made a two-valued
    or a log-normal field. The same seed and sample give the same field on any mesh."""

    random_field: Literal["grf"] = Field(description="The kind of field: 'grf', a Gaussian random field N(0, sigma^2 (-Laplace + tau^2)^-alpha).")
    alpha: FinitePositive = Field(2.0, description="Smoothness exponent (> 1 in 2D).")
    tau: FinitePositive = Field(3.0, description="Inverse correlation length, in units of 1/length.")
    sigma: FinitePositive | None = Field(None, description="Amplitude; default tau^(alpha - 1), as the FNO generators.")
    mean: FiniteFloat = Field(0.0, description="Added to the field before the transform.")
    modes: int = Field(32, ge=2, le=256, description="Cosine modes per direction.")
    origin: Annotated[list[FiniteFloat], Field(min_length=2, max_length=2)] = Field([0.0, 0.0], description="Lower corner of the field's square.")
    length: FinitePositive = Field(1.0, description="Side of the field's square.")
    seed: NonNegativeInt = Field(0, description="The random seed.")
    sample: NonNegativeInt = Field(0, description="Which draw of that seed (a study sets it per sample when seed_by_sample).")
    seed_by_sample: bool = Field(False, description="In a study, draw a new field for every sample (sample = the sample's number).")
    transform: Literal["none", "threshold", "exp"] = Field(
        "none", description="'threshold': high where the field is >= 0, low elsewhere (FNO Darcy: 12 and 3); 'exp': exp(scale * field).")
    high: FiniteFloat = Field(12.0, description="The value where the field is >= 0 ('threshold').")
    low: FiniteFloat = Field(3.0, description="The value elsewhere ('threshold').")
    scale: FiniteFloat = Field(1.0, description="The factor in exp(scale * field) ('exp').")

    @model_validator(mode="after")
    def _smooth_enough(self) -> RandomField:
        if self.alpha <= 1.0:
            raise ValueError(f"alpha = {self.alpha} gives a field of infinite pointwise variance in 2D; expected alpha > 1")
        return self


def _coefficient_input(value: Any) -> Any:
    # TOML's true/false would otherwise pass as 1.0/0.0.
    if isinstance(value, bool):
        raise ValueError("a boolean is not a coefficient; expected a number, an expression string or {file, field}")
    # A random field's own errors (a misspelt key) rather than one per branch of the union.
    if isinstance(value, dict) and "random_field" in value:
        return RandomField.model_validate(value)
    return value


#: A number, an expression in x, y, z, t and the case's parameters (``"1 + x*y"``), a field read
#: from a file (``{file = "k.vtu", field = "k"}``) or a random field (``{random_field = "grf"}``).
Coefficient = Annotated[Union[float, str, FileField, RandomField], BeforeValidator(_coefficient_input)]


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
