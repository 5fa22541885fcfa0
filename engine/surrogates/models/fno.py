"""Fourier neural operators: FNO (Li et al., ICLR 2021) and F-FNO (Tran et al., ICLR 2023).

Both models share one skeleton:

1. append the grid coordinates ``(x, y)`` as two input channels (made for the input's size);
2. lift to ``width`` channels with a 1x1 convolution;
3. pad right and bottom by ``domain_padding`` times the grid size: the Fourier layers assume
   periodic fields, and the padding gives a non-periodic field room to wrap around without its
   left edge leaking into its right one;
4. ``n_layers`` Fourier blocks (they are what differs);
5. crop the padding and project to ``out_channels`` with a pointwise two-layer MLP.

Every step is either pointwise or acts on Fourier modes, and the padding is a fraction of
the grid, so a model trained at one resolution applies at another (resolution transfer).

- FNO block: ``z <- act(K z + W z)``, ``K`` a :class:`SpectralConv2d`, ``W`` a 1x1 convolution,
  no activation after the last block.
- F-FNO block: ``z <- z + W2 act(W1 K z)``, ``K`` a :class:`FactorizedSpectralConv2d` and the
  ``W`` 1x1 convolutions (a feed-forward of ``feedforward_factor * width`` channels). The
  residual form is what lets F-FNO go deeper than FNO; its spectral weights grow with
  ``modes1 + modes2`` rather than their product.

FNO and F-FNO are separate registry entries ("fno", "ffno") with their own configs, since
their blocks, defaults and options differ; :class:`FFNO` reuses the skeleton of :class:`FNO`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import InputError
from engine.surrogates.layers.grid import grid_channels
from engine.surrogates.layers.mlp import ACTIVATIONS, make_activation
from engine.surrogates.layers.spectral import FactorizedSpectralConv2d, SpectralConv2d
from engine.surrogates.models.config import ModelConfig

__all__ = ["FNOConfig", "FNO", "FFNOConfig", "FFNO"]


@dataclass(frozen=True)
class FNOConfig(ModelConfig):
    """Options of :class:`FNO`; the defaults suit Darcy flow on a 64x64 grid.

    Attributes
    ----------
    in_channels, out_channels
        Fields in and out (the grid coordinates are added internally, not counted here).
    modes1, modes2
        Fourier modes kept along ``y`` (per sign) and ``x``.
    width
        Channels of the hidden representation.
    n_layers
        Number of Fourier blocks.
    projection_width
        Hidden channels of the pointwise projection MLP.
    domain_padding
        Padding added right and bottom, as a fraction of the grid size (0 for periodic data).
    activation
        Nonlinearity by name (``gelu``, ``relu``, ``silu``, ``tanh``).
    """

    in_channels: int = 1
    out_channels: int = 1
    modes1: int = 12
    modes2: int = 12
    width: int = 32
    n_layers: int = 4
    projection_width: int = 128
    domain_padding: float = 0.125
    activation: str = "gelu"

    def _check(self) -> None:
        self._positive("in_channels", "out_channels", "modes1", "modes2", "width", "n_layers", "projection_width")
        if not 0.0 <= self.domain_padding <= 1.0:
            raise InputError("domain padding out of range", field="domain_padding", value=self.domain_padding, expected="a fraction between 0 and 1")
        self._choice("activation", ACTIVATIONS)


@dataclass(frozen=True)
class FFNOConfig(FNOConfig):
    """Options of :class:`FFNO`: those of :class:`FNOConfig` and the feed-forward factor.

    F-FNO keeps more modes and stacks more blocks than FNO for fewer parameters, since each
    block's spectral weights are two 1D sets. ``feedforward_factor`` sets the hidden width of
    each block's feed-forward, ``feedforward_factor * width``.
    """

    modes1: int = 16
    modes2: int = 16
    n_layers: int = 8
    feedforward_factor: int = 2

    def _check(self) -> None:
        super()._check()
        self._positive("feedforward_factor")


def _pointwise(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1)


class _FourierBlock(nn.Module):
    def __init__(self, config: FNOConfig, *, last: bool) -> None:
        super().__init__()
        self.spectral = SpectralConv2d(config.width, config.width, config.modes1, config.modes2)
        self.pointwise = _pointwise(config.width, config.width)
        self.act = nn.Identity() if last else make_activation(config.activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.act(self.spectral(z) + self.pointwise(z))


class _FactorizedBlock(nn.Module):
    def __init__(self, config: FFNOConfig, *, last: bool) -> None:
        super().__init__()
        hidden = config.feedforward_factor * config.width
        self.spectral = FactorizedSpectralConv2d(config.width, config.width, config.modes1, config.modes2)
        self.feedforward = nn.Sequential(_pointwise(config.width, hidden), make_activation(config.activation), _pointwise(hidden, config.width))

    def forward(self, z: Tensor) -> Tensor:
        return z + self.feedforward(self.spectral(z))


class FNO(nn.Module):
    """Fourier neural operator ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.

    Parameters
    ----------
    config
        The options; defaults when omitted.

    Examples
    --------
    >>> import torch
    >>> model = FNO(FNOConfig(modes1=4, modes2=4, width=8, n_layers=2))
    >>> model(torch.randn(2, 1, 16, 16)).shape, model(torch.randn(2, 1, 24, 20)).shape
    (torch.Size([2, 1, 16, 16]), torch.Size([2, 1, 24, 20]))
    """

    config_class: type[FNOConfig] = FNOConfig
    _block = _FourierBlock

    def __init__(self, config: FNOConfig | None = None) -> None:
        super().__init__()
        config = self.config_class() if config is None else config
        if type(config) is not self.config_class:
            raise InputError(f"{type(self).__name__} needs a {self.config_class.__name__}", value=config)
        self.config = config
        self.lift = _pointwise(config.in_channels + 2, config.width)
        self.blocks = nn.ModuleList(self._block(config, last=i == config.n_layers - 1) for i in range(config.n_layers))
        self.project = nn.Sequential(
            _pointwise(config.width, config.projection_width),
            make_activation(config.activation),
            _pointwise(config.projection_width, config.out_channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        z = self.lift(torch.cat((x, grid_channels(x)), dim=1))
        pad_y, pad_x = round(self.config.domain_padding * height), round(self.config.domain_padding * width)
        z = F.pad(z, (0, pad_x, 0, pad_y))
        for block in self.blocks:
            z = block(z)
        return self.project(z[..., :height, :width])


class FFNO(FNO):
    """Factorised Fourier neural operator: :class:`FNO` with F-FNO's residual blocks.

    Examples
    --------
    >>> import torch
    >>> model = FFNO(FFNOConfig(modes1=4, modes2=4, width=8, n_layers=2))
    >>> model(torch.randn(2, 1, 16, 16)).shape
    torch.Size([2, 1, 16, 16])
    """

    config_class = FFNOConfig
    _block = _FactorizedBlock
