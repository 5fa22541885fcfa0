"""U-Net building blocks: a double convolution, a way down and a way up with a skip.

Grid sizes need not be powers of two: going down halves with floor (``n -> n // 2``), and
going up is told the size of the skip it joins, so an odd row or column lost on the way down
comes back (the transposed convolution's ``output_size``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.errors import InputError
from engine.surrogates.layers.mlp import make_activation

__all__ = ["NORMS", "DOWNSAMPLING", "make_norm", "ConvBlock", "Down", "Up"]

NORMS = ("batch", "group", "instance", "none")
DOWNSAMPLING = ("maxpool", "stride")


def make_norm(name: str, channels: int) -> nn.Module:
    """A normalisation layer by name (one of :data:`NORMS`).

    ``"batch"`` is the default of the U-Net model: ``"group"`` (up to 8 groups) and
    ``"instance"`` normalise each sample by its own statistics, which divides out the
    sample's amplitude, and a field-to-field regression needs it (for a linear PDE the
    solution scales with the data). On a tiny smoothing task group norm plateaued at a loss
    several times higher than batch norm. Batch norm's price: call ``model.train()`` and
    ``model.eval()`` as usual, and train with batches of more than one sample or fields of
    more than one point per channel.

    Examples
    --------
    >>> make_norm("group", 32).num_groups, make_norm("group", 12).num_groups
    (8, 4)
    """
    if name == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if name == "none":
        return nn.Identity()
    raise InputError("unknown normalisation", field="norm", value=name, expected=f"one of {', '.join(NORMS)}")


class ConvBlock(nn.Sequential):
    """(3x3 convolution, normalisation, activation) twice.

    Examples
    --------
    >>> import torch
    >>> ConvBlock(1, 8)(torch.zeros(2, 1, 9, 7)).shape
    torch.Size([2, 8, 9, 7])
    """

    def __init__(self, in_channels: int, out_channels: int, *, norm: str = "batch", activation: str = "gelu", padding_mode: str = "zeros") -> None:
        layers: list[nn.Module] = []
        for n_in in (in_channels, out_channels):
            # A bias before a normalisation would be cancelled by its mean; skip it then.
            layers.append(nn.Conv2d(n_in, out_channels, 3, padding=1, padding_mode=padding_mode, bias=norm == "none"))
            layers.append(make_norm(norm, out_channels))
            layers.append(make_activation(activation))
        super().__init__(*layers)


class Down(nn.Module):
    """Halve the grid (max pooling or a stride-2 2x2 convolution), then a :class:`ConvBlock`.

    Examples
    --------
    >>> import torch
    >>> Down(8, 16, downsampling="stride")(torch.zeros(1, 8, 9, 8)).shape
    torch.Size([1, 16, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, *, downsampling: str = "maxpool", **block) -> None:
        super().__init__()
        if downsampling == "maxpool":
            self.down: nn.Module = nn.MaxPool2d(2)
        elif downsampling == "stride":
            self.down = nn.Conv2d(in_channels, in_channels, 2, stride=2)
        else:
            raise InputError("unknown downsampling", field="downsampling", value=downsampling, expected=f"one of {', '.join(DOWNSAMPLING)}")
        self.block = ConvBlock(in_channels, out_channels, **block)

    def forward(self, x: Tensor) -> Tensor:
        return self.block(self.down(x))


class Up(nn.Module):
    """Double the grid (2x2 transposed convolution), concatenate the skip, :class:`ConvBlock`.

    Parameters
    ----------
    in_channels
        Channels coming from the coarser level; the transposed convolution halves them.
    skip_channels
        Channels of the skip connection from the same level on the way down.
    out_channels
        Channels out of the block.

    Examples
    --------
    >>> import torch
    >>> Up(16, 8, 8)(torch.zeros(1, 16, 4, 4), torch.zeros(1, 8, 9, 8)).shape
    torch.Size([1, 8, 9, 8])
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, **block) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        self.block = ConvBlock(in_channels // 2 + skip_channels, out_channels, **block)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x, output_size=skip.shape[-2:])
        return self.block(torch.cat((skip, x), dim=1))
