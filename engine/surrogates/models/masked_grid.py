"""A grid model on any 2D domain: the masked-grid adapter's network (in the spirit of Geo-FNO
and NUNO, without their learned deformation).

The case's mesh is covered by a uniform grid of its bounding box; the input channels are
interpolated onto the grid points inside the domain (zero outside), two channels say where the
domain is (a 0/1 mask and the signed distance to the boundary, negative outside: see
:func:`engine.surrogates.adapters.masked_grid_inputs`), the grid model (FNO, F-FNO, U-Net,
MgNO) answers on the grid, and the answer is read back at the mesh's points by bilinear
interpolation (DeepONet instead evaluates its trunk at the points: ``forward_at``).
``forward(x, mask, pos)`` takes the grid inputs ``(B, C, H, W)`` and the points'
coordinates scaled to ``[-1, 1]`` over the bounding box, ``pos`` ``(B, N, 2)``, and returns
``(B, C_out, N)``; ``mask`` (the padding of a point batch) changes nothing: padded points are
read and ignored.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaskedGrid"]


class MaskedGrid(nn.Module):
    """Wraps a grid model ``(B, C, H, W) -> (B, C_out, H, W)`` to answer at points.

    Examples
    --------
    >>> import torch
    >>> from engine.surrogates.models import build_model
    >>> model = MaskedGrid(build_model("fno", {"in_channels": 3, "out_channels": 2, "modes1": 4, "modes2": 4, "width": 8}))
    >>> model(torch.randn(2, 3, 16, 16), pos=torch.rand(2, 40, 2) * 2 - 1).shape
    torch.Size([2, 2, 40])
    """

    def __init__(self, grid_model: nn.Module) -> None:
        super().__init__()
        self.grid_model = grid_model
        self.config = grid_model.config

    def forward(self, x: Tensor, mask: Tensor | None = None, pos: Tensor | None = None) -> Tensor:
        if pos is None:
            raise ValueError("a masked-grid model answers at points: give pos (B, N, 2) in [-1, 1]")
        at_points = getattr(self.grid_model, "forward_at", None)
        if at_points is not None:  # DeepONet: its trunk answers at the points themselves
            return at_points(x, pos)
        y = self.grid_model(x)
        # the grid holds the box's edges (align_corners): -1 and 1 are its first and last points
        return F.grid_sample(y, pos[:, None].to(y.dtype), mode="bilinear", padding_mode="border", align_corners=True)[:, :, 0]
