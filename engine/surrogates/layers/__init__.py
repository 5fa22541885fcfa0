"""Building blocks of the surrogate models, one concept per module.

- ``spectral``: Fourier layers (FNO's ``SpectralConv2d``, F-FNO's ``FactorizedSpectralConv2d``)
- ``multigrid``: MgNO's learned V-cycle (``MultigridVCycle``)
- ``unet``: U-Net's ``ConvBlock``, ``Down`` and ``Up``
- ``mlp``: ``MLP`` and activations by name
- ``normalizers``: ``UnitGaussianNormalizer``
- ``grid``: the coordinates of the unit-square grid the models work on
"""

from __future__ import annotations

from engine.surrogates.layers.grid import grid_channels, grid_points
from engine.surrogates.layers.mlp import ACTIVATIONS, MLP, make_activation
from engine.surrogates.layers.multigrid import PADDING_MODES, MultigridVCycle
from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
from engine.surrogates.layers.spectral import FactorizedSpectralConv2d, SpectralConv2d
from engine.surrogates.layers.unet import DOWNSAMPLING, NORMS, ConvBlock, Down, Up, make_norm

__all__ = [
    "ACTIVATIONS",
    "DOWNSAMPLING",
    "MLP",
    "NORMS",
    "PADDING_MODES",
    "ConvBlock",
    "Down",
    "FactorizedSpectralConv2d",
    "MultigridVCycle",
    "SpectralConv2d",
    "UnitGaussianNormalizer",
    "Up",
    "grid_channels",
    "grid_points",
    "make_activation",
    "make_norm",
]
