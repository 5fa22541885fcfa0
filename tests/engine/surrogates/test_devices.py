"""Device names from cases, training settings and the command line: one resolver, bad input is exit 2."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.case import parse_case
from engine.errors import InputError
from engine.problem import Problem
from engine.surrogates.solver import SurrogateSolver
from engine.surrogates.training import SurrogateModel, Trainer


def resolve_device(*args, **kwargs):
    from engine.surrogates.devices import resolve_device  # imported here: the behaviour tests below stand alone

    return resolve_device(*args, **kwargs)


NO_CUDA = "device 'cuda' is not available on this machine (torch.cuda.is_available() is False); expected 'cpu' or 'auto'"


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    """A machine with one CUDA device, as far as the resolver can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_and_cpu_resolve_on_a_machine_without_cuda(no_cuda):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == resolve_device("cpu:0") == resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_cuda_without_cuda_is_bad_input_naming_the_setting(no_cuda):
    with pytest.raises(InputError) as info:
        resolve_device("cuda", field="solver.surrogate.device", source="case.toml")
    err = info.value
    assert err.exit_code == 2 and (err.source, err.field) == ("case.toml", "solver.surrogate.device")
    assert str(err).startswith(f"case.toml: solver.surrogate.device: {NO_CUDA}")
    with pytest.raises(InputError, match=r"device 'cuda:1' is not available on this machine \(torch.cuda.is_available\(\) is False\)"):
        resolve_device("cuda:1")


def test_a_cuda_index_the_machine_lacks_is_bad_input(one_gpu):
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    assert resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(InputError) as info:
        resolve_device("cuda:99")
    assert str(info.value) == "device: device 'cuda:99' is not available on this machine (it has 1 CUDA device); expected 'cpu', 'auto', 'cuda' or 'cuda:0'"


@pytest.mark.parametrize(
    "device, problem",
    [("", "unknown device"), ("tpu", "unknown device"), ("cuda:-1", "unknown device"), ("CPU", "unknown device"),
     ("mps", "does not run on 'mps' devices"), ("meta", "does not run on 'meta' devices"), (3, "not int")],
)
def test_invalid_device_names_are_bad_input(device, problem):
    with pytest.raises(InputError, match=problem) as info:
        resolve_device(device, field="device")
    assert info.value.exit_code == 2 and info.value.value == device
    assert "expected 'auto', 'cpu', 'cuda' or 'cuda:N'" in str(info.value)


def test_the_trainer_refuses_a_cuda_index_the_machine_lacks(one_gpu):
    with pytest.raises(InputError, match="'cuda:99' is not available on this machine"):
        Trainer(SurrogateModel(nn.Conv2d(1, 1, 1)), device="cuda:99")


def test_a_case_asking_for_cuda_on_a_machine_without_it_is_bad_input(no_cuda, tmp_path):
    case = parse_case(
        {
            "version": 1,
            "geometry": {"kind": "unit_square"},
            "mesh": {"size": 0.25},
            "physics": {"kind": "diffusion", "k": 3.0, "f": 1.0},
            "boundary": [{"region": ["left", "right", "bottom", "top"], "type": "dirichlet", "value": 0.0}],
            "solver": {"kind": "surrogate", "surrogate": {"model": "darcy-fno", "device": "cuda"}},
        },
        source=tmp_path / "gpu_case.toml",
    )
    with pytest.raises(InputError) as info:
        SurrogateSolver().solve(Problem.from_case(case))
    assert str(info.value).startswith(f"{tmp_path / 'gpu_case.toml'}: solver.surrogate.device: {NO_CUDA}")
    with pytest.raises(InputError, match="device: unknown device: got 'tpu'"):
        SurrogateSolver(device="tpu").solve(Problem.from_case(case))
