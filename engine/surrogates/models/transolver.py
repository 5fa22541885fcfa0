"""A point-cloud neural operator of the Transolver family (Wu et al., ICML 2024).

Transolver works on the points of any mesh. Each layer learns to sort the points softly into a
few "slices" (regions of similar physical state: the stressed ring around a hole, a boundary
layer), summarises every slice in one token, lets the tokens attend to each other, and hands
the result back to the points by the same soft assignment ("physics attention"). The cost is
linear in the number of points, where attention among all points would be quadratic, and no
grid is needed: the points' coordinates are input channels like any other.

Shapes: ``forward(x, mask)`` maps ``(B, in_channels, N)`` to ``(B, out_channels, N)``; ``mask``
``(B, N)`` is False for the padding of a batch of samples with different numbers of points,
which then takes no part in any slice. A sample's answer does not depend on the padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.surrogates.layers.mlp import ACTIVATIONS, make_activation
from engine.surrogates.models.config import ModelConfig

__all__ = ["TransolverConfig", "Transolver", "PhysicsAttention"]


@dataclass(frozen=True)
class TransolverConfig(ModelConfig):
    """Options of :class:`Transolver`; the defaults train in minutes on two CPU cores.

    Attributes
    ----------
    in_channels, out_channels
        Channels per point in and out (coordinates included in the inputs).
    width
        Features per point.
    layers
        Physics-attention blocks.
    heads
        Attention heads; ``width`` must be a multiple.
    slices
        Learned slices per head.
    mlp_ratio
        Hidden width of each block's point-wise MLP, as a multiple of ``width``.
    activation
        Nonlinearity by name.
    """

    in_channels: int = 1
    out_channels: int = 1
    width: int = 64
    layers: int = 4
    heads: int = 4
    slices: int = 32
    mlp_ratio: int = 2
    activation: str = "gelu"

    def _check(self) -> None:
        from engine.errors import InputError

        self._positive("in_channels", "out_channels", "width", "layers", "heads", "slices", "mlp_ratio")
        self._choice("activation", ACTIVATIONS)
        if self.width % self.heads:
            raise InputError("the width is not a multiple of the heads", field="width", value=self.width, expected=f"a multiple of heads = {self.heads}")


class PhysicsAttention(nn.Module):
    """Attention among learned slices of the points, per head (see the module docstring)."""

    def __init__(self, width: int, heads: int, slices: int) -> None:
        super().__init__()
        self.heads, self.head_width = heads, width // heads
        self.to_features = nn.Linear(width, width)
        self.to_slice_input = nn.Linear(width, width)
        self.to_slices = nn.Linear(self.head_width, slices)
        # Orthogonal rows start the slices out as different directions of feature space.
        nn.init.orthogonal_(self.to_slices.weight)
        self.temperature = nn.Parameter(torch.full((1, heads, 1, 1), 0.5))
        self.q = nn.Linear(self.head_width, self.head_width, bias=False)
        self.k = nn.Linear(self.head_width, self.head_width, bias=False)
        self.v = nn.Linear(self.head_width, self.head_width, bias=False)
        self.out = nn.Linear(width, width)

    def _split(self, x: Tensor) -> Tensor:  # (B, N, width) -> (B, heads, N, head_width)
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, self.head_width).transpose(1, 2)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        features = self._split(self.to_features(x))
        logits = self.to_slices(self._split(self.to_slice_input(x)))
        weights = torch.softmax(logits / self.temperature.clamp_min(0.01), dim=-1)  # (B, H, N, G)
        if mask is not None:
            weights = weights * mask[:, None, :, None].to(weights.dtype)
        mass = weights.sum(dim=2)  # (B, H, G)
        tokens = torch.einsum("bhnc,bhng->bhgc", features, weights) / (mass[..., None] + 1e-5)
        attended = nn.functional.scaled_dot_product_attention(self.q(tokens), self.k(tokens), self.v(tokens))
        back = torch.einsum("bhgc,bhng->bhnc", attended, weights)
        b, _, n, _ = back.shape
        return self.out(back.transpose(1, 2).reshape(b, n, -1))


class _Block(nn.Module):
    def __init__(self, config: TransolverConfig) -> None:
        super().__init__()
        width = config.width
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = PhysicsAttention(width, config.heads, config.slices)
        hidden = width * config.mlp_ratio
        self.mlp = nn.Sequential(nn.Linear(width, hidden), make_activation(config.activation), nn.Linear(hidden, width))

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        x = x + self.attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class Transolver(nn.Module):
    """``(B, in_channels, N)`` point inputs -> ``(B, out_channels, N)`` point outputs.

    Examples
    --------
    >>> model = Transolver(TransolverConfig(in_channels=3, out_channels=2, width=16, heads=2, slices=4, layers=1))
    >>> x = torch.randn(2, 3, 50)
    >>> mask = torch.ones(2, 50, dtype=torch.bool)
    >>> mask[1, 40:] = False
    >>> y = model(x, mask=mask)
    >>> y.shape
    torch.Size([2, 2, 50])
    >>> bool(torch.allclose(model(x[1:, :, :40])[0], y[1, :, :40], atol=1e-5))  # padding changes nothing
    True
    """

    config_class = TransolverConfig

    def __init__(self, config: TransolverConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or TransolverConfig()
        width = config.width
        self.lift = nn.Sequential(nn.Linear(config.in_channels, 2 * width), make_activation(config.activation), nn.Linear(2 * width, width))
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(width)
        self.project = nn.Linear(width, config.out_channels)

    def forward(self, x: Tensor, mask: Tensor | None = None, pos: Tensor | None = None) -> Tensor:
        """``pos`` is not read: the coordinates are among the input channels."""
        h = self.lift(x.transpose(1, 2))
        for block in self.blocks:
            h = block(h, mask)
        return self.project(self.norm(h)).transpose(1, 2)
