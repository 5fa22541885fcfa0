"""Coordinates of the uniform grid every surrogate works on.

Fields are tensors ``(B, C, H, W)`` sampled on the unit square with the boundary included:
column ``j`` sits at ``x = j / (W - 1)`` and row ``i`` at ``y = i / (H - 1)``. Models make the
coordinates on the fly, on the input's device and in its dtype, so that they run at any
resolution and nothing resolution-bound is stored in their weights.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["grid_channels", "grid_points"]


def _axes(height: int, width: int, *, device=None, dtype=None) -> tuple[Tensor, Tensor]:
    # linspace puts both ends exactly on 0 and 1, which i / (n - 1) would only do up to rounding.
    y = torch.linspace(0.0, 1.0, height, device=device, dtype=dtype)
    x = torch.linspace(0.0, 1.0, width, device=device, dtype=dtype)
    return x, y


def grid_channels(like: Tensor) -> Tensor:
    """The ``(x, y)`` coordinates as two channels shaped like ``like``: ``(B, 2, H, W)``.

    Channel 0 is ``x`` (varies along the last dimension), channel 1 is ``y``.

    Examples
    --------
    >>> import torch
    >>> g = grid_channels(torch.zeros(1, 3, 2, 5))
    >>> g.shape, g[0, 0, 0].tolist(), g[0, 1, :, 0].tolist()
    (torch.Size([1, 2, 2, 5]), [0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 1.0])
    """
    batch, _, height, width = like.shape
    x, y = _axes(height, width, device=like.device, dtype=like.dtype)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack((xx, yy)).unsqueeze(0).expand(batch, 2, height, width)


def grid_points(height: int, width: int, *, device=None, dtype=None) -> Tensor:
    """The grid's points as rows ``(x, y)``, row-major (row ``i * W + j`` is node ``(i, j)``).

    Examples
    --------
    >>> grid_points(2, 3).tolist()
    [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 1.0], [1.0, 1.0]]
    """
    x, y = _axes(height, width, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack((xx.reshape(-1), yy.reshape(-1)), dim=-1)
