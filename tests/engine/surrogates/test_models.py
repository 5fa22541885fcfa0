"""Surrogate models and their building blocks: shapes, resolutions, weights files, training,
configs and the registry. Small configs throughout, so the file runs in seconds on a CPU."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

import torch.nn.functional as F  # noqa: E402

from engine.errors import InputError  # noqa: E402
from engine.surrogates.layers import (  # noqa: E402
    FactorizedSpectralConv2d,
    MultigridVCycle,
    SpectralConv2d,
    UnitGaussianNormalizer,
)
from engine.surrogates.models import MESH_MODELS, MODELS, DeepONet, FNOConfig, build_model, count_parameters, model_names  # noqa: E402

# Small versions of each model; training runs on 16x16, shapes are checked at 32 and 48.
SMALL = {
    "fno": dict(modes1=6, modes2=6, width=16, n_layers=2, projection_width=32),
    "ffno": dict(modes1=6, modes2=6, width=16, n_layers=2),
    "mgno": dict(channels=12, n_layers=2, levels=3),
    "unet": dict(base_channels=8, levels=3),
    "deeponet": dict(grid_size=[16, 16], branch_widths=[64], trunk_widths=[64, 64], basis_size=32),
}
# Steps and learning rate that bring each one well down on the smoothing task.
TRAINING = {"fno": (30, 1e-2), "ffno": (30, 1e-2), "mgno": (30, 1e-2), "unet": (30, 1e-2), "deeponet": (150, 1e-2)}
# Models whose weights do not depend on the grid (DeepONet's branch does: it resamples).
ANY_GRID = ("fno", "ffno", "mgno", "unet")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def small(name: str, **changes):
    return build_model(name, {**SMALL[name], **changes})


def test_registry_lists_the_built_in_models():
    assert model_names()[:5] == ["fno", "ffno", "mgno", "unet", "deeponet"]
    assert set(SMALL) | set(MESH_MODELS) == set(MODELS)


def test_transolver_learns_a_field_on_scattered_points_whatever_their_number():
    """Physics attention on point clouds: a smooth field of the coordinates, learnt on clouds of
    varied sizes in one padded batch, to a fraction of its starting error."""
    model = build_model("transolver", {"in_channels": 2, "out_channels": 1, "width": 32, "layers": 2, "heads": 2, "slices": 8})
    sizes = [150, 200, 120, 180]
    n = max(sizes)
    pos = torch.rand(len(sizes), 2, n)
    mask = torch.stack([torch.arange(n) < k for k in sizes])
    target = (torch.sin(math.pi * pos[:, 0]) * torch.cos(math.pi * pos[:, 1]))[:, None]

    def loss():
        error = (model(pos, mask=mask) - target).square()[:, 0]
        return (error * mask).sum() / (target.square()[:, 0] * mask).sum()

    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(loss().detach())
    for _ in range(150):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert float(loss().detach()) < 0.1 * first


@pytest.mark.parametrize("name", list(SMALL))
def test_output_shape_at_training_and_other_resolution(name):
    channels = dict(in_channels=2, out_channels=3)
    if name == "deeponet":
        channels["grid_size"] = [32, 32]
    model = small(name, **channels)
    assert model(torch.randn(2, 2, 32, 32)).shape == (2, 3, 32, 32)
    # DeepONet resamples the input to its grid and evaluates the output on the input's grid.
    assert model(torch.randn(2, 2, 48, 48)).shape == (2, 3, 48, 48)
    if name in ANY_GRID:
        assert model(torch.randn(1, 2, 33, 20)).shape == (1, 3, 33, 20)


@pytest.mark.parametrize("name", list(SMALL))
def test_defaults_run_on_a_64_grid(name):
    model = build_model(name, {})
    assert count_parameters(model) > 0
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)


@pytest.mark.parametrize("name", list(SMALL))
def test_weights_survive_safetensors(name, tmp_path):
    model = small(name).eval()
    state = model.state_dict()
    assert state and all(not t.is_complex() for t in state.values())
    safetensors_torch.save_file(state, str(tmp_path / "model.safetensors"))
    # Rebuild as a checkpoint would: name + JSON config + weights, nothing pickled.
    config = json.loads(json.dumps(model.config.to_dict()))
    fresh = build_model(name, config).eval()
    fresh.load_state_dict(safetensors_torch.load_file(str(tmp_path / "model.safetensors")))
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


def smoothing_task(n: int = 32, size: int = 16):
    """Smooth random fields k and u = a local average of k: a linear, local operator."""
    g = torch.Generator().manual_seed(1)
    box = torch.ones(1, 1, 3, 3) / 9

    def smooth(v, times):
        for _ in range(times):
            v = F.conv2d(F.pad(v, (1, 1, 1, 1), mode="replicate"), box)
        return v

    k = smooth(torch.randn(n, 1, size, size, generator=g), 2)
    k = (k - k.mean()) / k.std()
    return k, smooth(k, 3)


@pytest.mark.parametrize("name", list(SMALL))
def test_a_few_adam_steps_learn_a_smoothing_operator(name):
    k, u = smoothing_task()
    model = small(name)
    steps, lr = TRAINING[name]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    with torch.no_grad():
        first = F.mse_loss(model.eval()(k), u).item()
    model.train()  # U-Net's batch norm: batch statistics while training, running ones after
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(model(k), u)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        last = F.mse_loss(model.eval()(k), u).item()
    assert last < first / 5


@pytest.mark.parametrize("name", list(SMALL))
def test_config_round_trip_and_unknown_key(name):
    config = small(name).config
    assert type(config).from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(InputError) as err:
        build_model(name, {**SMALL[name], "widht": 3})
    message = str(err.value)
    assert "widht" in message and "in_channels" in message and "activation" in message


def test_config_checks_types_and_values():
    assert FNOConfig.from_dict({"domain_padding": 0}).domain_padding == 0.0
    with pytest.raises(InputError, match="width"):
        FNOConfig(width=0)
    with pytest.raises(InputError, match="n_layers"):
        FNOConfig.from_dict({"n_layers": True})
    with pytest.raises(InputError, match="activation"):
        FNOConfig(activation="sigmoidish")
    with pytest.raises(InputError, match="grid_size"):
        build_model("deeponet", {"grid_size": [16, "16"]})


def test_build_model_refuses_unknown_name_and_foreign_config():
    with pytest.raises(InputError) as err:
        build_model("transformer", {})
    assert "transformer" in str(err.value) and all(name in str(err.value) for name in MODELS)
    with pytest.raises(InputError, match="MgNOConfig"):
        build_model("mgno", FNOConfig())


def test_deeponet_points_agree_with_grid():
    model = small("deeponet")
    height, width = 16, 12
    i, j = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    points = torch.stack(((j / (width - 1)).reshape(-1), (i / (height - 1)).reshape(-1)), dim=-1)
    x = torch.randn(3, 1, height, width)
    with torch.no_grad():
        on_grid = model(x)
        at_points = model.forward_points(x, points)
    assert isinstance(model, DeepONet)
    assert at_points.shape == (3, 1, height * width)
    torch.testing.assert_close(at_points.view(3, 1, height, width), on_grid, rtol=1e-5, atol=1e-6)


def test_normalizer_round_trip_and_state():
    data = torch.randn(16, 3, 8, 8) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + torch.tensor([0.0, -2.0, 7.0]).view(1, 3, 1, 1)
    norm = UnitGaussianNormalizer.fit(data)
    encoded = norm.encode(data)
    torch.testing.assert_close(encoded.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(encoded.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)  # eps shifts a small std
    torch.testing.assert_close(norm.decode(encoded), data, atol=1e-5, rtol=1e-5)
    assert set(norm.state_dict()) == {"mean", "std", "eps"} and norm.mean.shape == (1, 3, 1, 1)
    assert not list(norm.parameters())
    restored = UnitGaussianNormalizer(3)
    restored.load_state_dict(norm.state_dict())
    torch.testing.assert_close(restored.encode(data), encoded)
    assert norm.to(torch.float64).mean.dtype == torch.float64  # buffers move with the module


def band_limited(n: int) -> torch.Tensor:
    """Two channels of a periodic field with modes up to 3, on the grid x_j = j / n."""
    t = torch.arange(n, dtype=torch.float64) / n
    y, x = torch.meshgrid(t, t, indexing="ij")
    a = torch.sin(2 * math.pi * x) + 0.5 * torch.cos(2 * math.pi * (2 * x + 3 * y)) + 0.3
    b = torch.cos(2 * math.pi * 3 * y) - 0.7 * torch.sin(2 * math.pi * (x - 2 * y))
    return torch.stack((a, b)).unsqueeze(0).float()


# (coarse, fine): 10 points resolve only 4 of the 5 modes per sign along y, which checks
# that a clipped layer still weights each frequency with that frequency's weights.
@pytest.mark.parametrize("coarse_n, fine_n", [(32, 64), (10, 40)])
@pytest.mark.parametrize("layer", [SpectralConv2d(2, 3, 5, 5), FactorizedSpectralConv2d(2, 3, 5, 5)], ids=["full", "factorized"])
def test_spectral_layers_are_resolution_consistent(layer, coarse_n, fine_n):
    with torch.no_grad():
        coarse = layer(band_limited(coarse_n))
        fine = layer(band_limited(fine_n))
    step = fine_n // coarse_n
    shared = fine[..., ::step, ::step]
    assert (coarse - shared).norm() / shared.norm() < 1e-5


def test_vcycle_is_linear_and_runs_on_odd_grids():
    cycle = MultigridVCycle(2, 4, levels=3, pre_smooth=2, post_smooth=1, padding_mode="replicate")
    f, g = torch.randn(2, 2, 17, 12), torch.randn(2, 2, 17, 12)
    with torch.no_grad():
        torch.testing.assert_close(cycle(2 * f - 3 * g), 2 * cycle(f) - 3 * cycle(g), atol=1e-5, rtol=1e-5)
    assert cycle(f).shape == (2, 4, 17, 12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(SMALL))
def test_same_outputs_on_cuda(name):
    model = small(name).eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        on_cpu = model(x)
        on_gpu = model.to("cuda")(x.to("cuda")).cpu()
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-3)
