"""DFG 2D-2 (Re = 100, periodic vortex shedding): the shipped example meets the benchmark's
intervals, and the Strouhal post-processing reads a known signal exactly."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.solvers.fem.classical import ClassicalSolver
from engine.solvers.fem.navier_stokes import strouhal


def test_strouhal_reads_frequency_and_extremes_of_a_known_signal():
    t = np.arange(0.0, 3.0, 0.005)
    f = 3.0
    lift = 1.0 * np.sin(2 * np.pi * f * t + 0.3) - 0.02
    drag = 3.2 + 0.03 * np.sin(4 * np.pi * f * t)
    numbers = strouhal(t, drag, lift, velocity=1.0, length=0.1)
    assert numbers["frequency"] == pytest.approx(f, rel=1e-4)
    assert numbers["strouhal"] == pytest.approx(0.3, rel=1e-4)
    assert numbers["c_L_max"] == pytest.approx(0.98, abs=2e-4)
    assert numbers["c_L_min"] == pytest.approx(-1.02, abs=2e-4)
    assert numbers["c_D_max"] == pytest.approx(3.23, abs=2e-4)


def test_strouhal_says_nothing_before_shedding():
    t = np.linspace(0.0, 1.0, 200)
    assert strouhal(t, np.full_like(t, 3.0), 1e-3 * np.exp(-t), 1.0, 0.1) == {}


@pytest.mark.slow
def test_dfg_2d2_meets_the_benchmark_intervals():
    case = engine.load_case(engine.resource_path("examples/dfg_2d2.toml"))
    result = ClassicalSolver().solve(engine.Problem.from_case(case))
    m = result.provenance.metrics
    assert m["periods_seen"] >= 3
    assert 0.295 <= m["strouhal"] <= 0.305, m["strouhal"]
    assert 3.22 <= m["c_D_max"] <= 3.24, m["c_D_max"]
    assert 0.99 <= m["c_L_max"] <= 1.01, m["c_L_max"]
    history = m["force_history"]
    assert len(history["time"]) == m["time_steps"] == 660
    assert result.times[-1] == pytest.approx(3.3)
    assert set(result.fields) == {"velocity", "pressure", "vorticity"}
    assert result.fields["velocity"].values.shape[0] == len(result.times) == 67
