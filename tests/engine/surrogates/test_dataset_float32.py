"""Recipes whose k, f or u float32 data cannot hold are bad input (exit 2) naming the recipe field,
not a non-converged solve (exit 1) or a numpy warning on stderr."""

from __future__ import annotations

import warnings

import pytest

from engine.errors import InputError
from engine.surrogates.datasets import generate_dataset, parse_recipe

BASE = {"version": 1, "name": "bounds", "resolution": 8, "n_samples": 2, "seed": 1}


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"f": 1e308}, "f", "|f| <= 1e+30"),
        ({"coefficient": {"high": 1e308}}, "coefficient.high", "from 1e-30 to 1e+30"),
        ({"coefficient": {"low": 1e-308}}, "coefficient.low", "from 1e-30 to 1e+30"),
    ],
)
def test_recipe_values_beyond_float32_are_refused_when_parsed(change, field, words):
    with pytest.raises(InputError) as info:
        parse_recipe({**BASE, **change}, source="recipe.toml")
    assert info.value.field == field and words in str(info.value) and str(info.value).startswith(f"recipe.toml: {field}: ")


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"f": 1e30, "coefficient": {"low": 1e-30}}, "f", "the solution reaches |u| = "),
        ({"coefficient": {"kind": "lognormal", "scale": 50.0, "alpha": 1.01, "tau": 0.01}}, "coefficient.scale", "the log-normal field exp(scale*z) reaches "),
    ],
)
def test_samples_beyond_float32_are_bad_input_without_warnings(change, field, words, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError) as info:
            generate_dataset({**BASE, **change}, tmp_path / "d.h5", scheduler="synchronous")
    assert info.value.exit_code == 2 and info.value.field == field
    assert words in str(info.value) and "in sample 0, beyond what float32 data hold" in str(info.value)


def test_values_in_range_still_generate(tmp_path):
    info = generate_dataset({**BASE, "f": -1e3, "coefficient": {"low": 1e-3, "high": 1e3}}, tmp_path / "d.h5", scheduler="synchronous")
    assert info.complete and info.residual_max < 1e-6
