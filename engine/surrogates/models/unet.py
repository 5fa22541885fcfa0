"""U-Net (Ronneberger et al., 2015) as a field-to-field surrogate.

``levels`` resolutions, channels doubling on each way down from ``base_channels``; skip
connections join each level's way down to its way up; a final 1x1 convolution gives the
output channels. Any ``H, W`` work (odd sizes included, see the U-Net blocks), with
``min(H, W) >= 2 ** (levels - 1)``. Like every CNN it runs at other resolutions, but its
stencils are in grid units, so accuracy away from the training resolution is not assured.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from engine.errors import InputError
from engine.surrogates.layers.mlp import ACTIVATIONS
from engine.surrogates.layers.unet import DOWNSAMPLING, NORMS, ConvBlock, Down, Up
from engine.surrogates.models.config import ModelConfig

__all__ = ["UNetConfig", "UNet"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


@dataclass(frozen=True)
class UNetConfig(ModelConfig):
    """Options of :class:`UNet`; the defaults suit a 64x64 grid (64 -> 32 -> 16 -> 8).

    Attributes
    ----------
    in_channels, out_channels
        Fields in and out.
    base_channels
        Channels on the finest level; doubled on each coarser one.
    levels
        Number of resolutions, the given one included.
    norm
        ``batch`` (default), ``group``, ``instance`` or ``none``. Group and instance norm
        divide out each sample's amplitude, which field regression needs; see
        :func:`~engine.surrogates.layers.unet.make_norm`.
    downsampling
        ``maxpool`` or ``stride`` (a stride-2 2x2 convolution).
    padding_mode
        How the 3x3 convolutions see outside the grid (see the MgNO notes on boundaries).
    activation
        Nonlinearity by name.
    """

    in_channels: int = 1
    out_channels: int = 1
    base_channels: int = 32
    levels: int = 4
    norm: str = "batch"
    downsampling: str = "maxpool"
    padding_mode: str = "zeros"
    activation: str = "gelu"

    def _check(self) -> None:
        self._positive("in_channels", "out_channels", "base_channels", "levels")
        self._choice("norm", NORMS)
        self._choice("downsampling", DOWNSAMPLING)
        self._choice("padding_mode", _PADDING_MODES)
        self._choice("activation", ACTIVATIONS)


class UNet(nn.Module):
    """U-Net ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.

    Parameters
    ----------
    config
        The options; defaults when omitted.

    Examples
    --------
    >>> import torch
    >>> model = UNet(UNetConfig(base_channels=4, levels=3))
    >>> model(torch.randn(2, 1, 16, 16)).shape, model(torch.randn(2, 1, 21, 18)).shape
    (torch.Size([2, 1, 16, 16]), torch.Size([2, 1, 21, 18]))
    """

    config_class = UNetConfig

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        config = UNetConfig() if config is None else config
        if type(config) is not UNetConfig:
            raise InputError("UNet needs a UNetConfig", value=config)
        self.config = config
        block = dict(norm=config.norm, activation=config.activation, padding_mode=config.padding_mode)
        widths = [config.base_channels * 2**i for i in range(config.levels)]
        self.inc = ConvBlock(config.in_channels, widths[0], **block)
        self.downs = nn.ModuleList(Down(a, b, downsampling=config.downsampling, **block) for a, b in zip(widths[:-1], widths[1:]))
        self.ups = nn.ModuleList(Up(b, a, a, **block) for a, b in reversed(list(zip(widths[:-1], widths[1:]))))
        self.out = nn.Conv2d(widths[0], config.out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.inc(x)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.out(x)
