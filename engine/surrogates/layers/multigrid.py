"""The MgNO layer: one multigrid V-cycle with learned stencils as a linear operator.

MgNO (He et al., "MgNO: Efficient Parameterization of Linear Operators via Multigrid", ICLR
2024) parameterises the linear part of each layer as the map ``f -> u`` that a V-cycle for
``A u = f`` computes from ``u = 0``, with every stencil learned. On level ``l`` (0 is the
given grid, each next one half as fine):

    u_l <- u_l + S_l (f_l - A_l u_l)                     nu_pre times, from u_l = 0
    f_{l+1} = R_l (f_l - A_l u_l)                          restrict the residual
    u_l <- u_l + P_l u_{l+1}                               after the coarse cycle returns
    u_l <- u_l + S_l (f_l - A_l u_l)                     nu_post times

``A_l`` and ``S_l`` are 3x3 convolutions, one pair per level (each level learns its own
coarse operator rather than the Galerkin product ``R A P``), ``R_l`` a stride-2 3x3
convolution and ``P_l`` a stride-2 transposed convolution. The field ``f`` and the solution
``u`` may have different channel counts, so one V-cycle also changes the width: ``A`` maps
``u``-channels to ``f``-channels and ``S`` back.

Grid sizes: the stride-2 restriction maps ``n`` points to ``ceil(n / 2)``, coarse point ``j``
sitting on fine point ``2 j``, and the prolongation is told the fine size, so any ``H, W``
work with no padding of the field. Sizes ``2**k + 1`` nest exactly (both boundaries are
points of every level, as in vertex-centred multigrid); other sizes work too, the last row or
column simply not being a coarse point. Each level needs at least one point:
``min(H, W) >= 2 ** (levels - 1)`` is the sensible range.

Boundary conditions enter through the padding of the 3x3 stencils (``padding_mode``):
``"zeros"`` (the default) reads zero outside the grid, i.e. homogeneous Dirichlet ghost
values; ``"reflect"`` and ``"replicate"`` mimic zero-flux (Neumann) boundaries; ``"circular"``
makes the domain periodic. The transposed convolution always pads with zeros (torch offers
no other mode for it); it only interpolates corrections, which the next smoothing corrects.
"""

from __future__ import annotations

from torch import Tensor, nn

from engine.errors import InputError

__all__ = ["PADDING_MODES", "MultigridVCycle"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _stencil(in_channels: int, out_channels: int, padding_mode: str, *, stride: int = 1) -> nn.Conv2d:
    # No bias: the V-cycle must stay linear in f; the model adds one bias after the cycle.
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, padding_mode=padding_mode, bias=False)


class MultigridVCycle(nn.Module):
    """A learned multichannel V-cycle ``f -> u`` (linear, no bias).

    Parameters
    ----------
    in_channels
        Channels of the right-hand side ``f`` (the layer's input).
    out_channels
        Channels of the solution ``u`` (the layer's output).
    levels
        Number of grids, the given one included (1 means smoothing only).
    pre_smooth, post_smooth
        Smoothing steps on each level before restricting and after prolongating (``nu``).
    padding_mode
        How the 3x3 stencils see outside the grid: one of :data:`PADDING_MODES` (see the
        module docstring for the boundary condition each stands for).

    Examples
    --------
    >>> import torch
    >>> cycle = MultigridVCycle(1, 8, levels=3)
    >>> cycle(torch.randn(2, 1, 33, 20)).shape
    torch.Size([2, 8, 33, 20])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        levels: int = 4,
        pre_smooth: int = 1,
        post_smooth: int = 1,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        if padding_mode not in PADDING_MODES:
            raise InputError("unknown padding mode", field="padding_mode", value=padding_mode, expected=f"one of {', '.join(PADDING_MODES)}")
        if levels < 1 or pre_smooth < 0 or post_smooth < 0 or pre_smooth + post_smooth < 1:
            raise InputError(
                "a V-cycle needs at least one level and one smoothing step",
                field="levels/pre_smooth/post_smooth",
                value=(levels, pre_smooth, post_smooth),
            )
        self.levels, self.pre_smooth, self.post_smooth = levels, pre_smooth, post_smooth
        self.A = nn.ModuleList(_stencil(out_channels, in_channels, padding_mode) for _ in range(levels))
        self.S = nn.ModuleList(_stencil(in_channels, out_channels, padding_mode) for _ in range(levels))
        self.restrict = nn.ModuleList(_stencil(in_channels, in_channels, padding_mode, stride=2) for _ in range(levels - 1))
        self.prolong = nn.ModuleList(
            nn.ConvTranspose2d(out_channels, out_channels, 3, stride=2, padding=1, bias=False) for _ in range(levels - 1)
        )

    def _smooth(self, level: int, u: Tensor | None, f: Tensor, steps: int) -> Tensor | None:
        A, S = self.A[level], self.S[level]
        for _ in range(steps):
            # From u = 0 the residual is f itself: skip the product with A.
            u = S(f) if u is None else u + S(f - A(u))
        return u

    def _cycle(self, level: int, f: Tensor) -> Tensor:
        u = self._smooth(level, None, f, self.pre_smooth)
        if level + 1 < self.levels:
            residual = f if u is None else f - self.A[level](u)
            coarse = self._cycle(level + 1, self.restrict[level](residual))
            # output_size picks 2n - 1 or 2n points, whichever the fine grid has.
            correction = self.prolong[level](coarse, output_size=f.shape[-2:])
            u = correction if u is None else u + correction
        u = self._smooth(level, u, f, self.post_smooth)
        return u

    def forward(self, f: Tensor) -> Tensor:
        return self._cycle(0, f)
