"""MgNO (He et al., ICLR 2024): a stack of learned V-cycles with nonlinearities in between.

``u_1 = act(V_1 x + b_1), ..., y = V_n u_{n-1} + b_n`` where each ``V`` is a
:class:`~engine.surrogates.layers.multigrid.MultigridVCycle`. There are no lifting or
projection layers: the first V-cycle maps the input's channels to ``channels`` (its ``f`` is
the input) and the last maps them to the output's.

Resolution: the V-cycle runs on any ``H, W`` (see the multigrid module); keep
``min(H, W) >= 2 ** (levels - 1)`` so that the coarsest level has a few points. The stencils
are in grid units, so a model trained at one resolution runs at another but is not
discretisation-invariant the way FNO is: at twice the resolution each 3x3 stencil covers half
the physical width. The coarse levels carry the long-range coupling, which is what keeps the
transfer usable; check the error at the target resolution before relying on it.

Boundary conditions: ``padding_mode`` ("zeros" = homogeneous Dirichlet ghost values, the
default for Darcy with ``u = 0`` on the boundary; "reflect"/"replicate" for zero-flux;
"circular" for periodic domains).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.errors import InputError
from engine.surrogates.layers.mlp import ACTIVATIONS, make_activation
from engine.surrogates.layers.multigrid import PADDING_MODES, MultigridVCycle
from engine.surrogates.models.config import ModelConfig

__all__ = ["MgNOConfig", "MgNO"]


@dataclass(frozen=True)
class MgNOConfig(ModelConfig):
    """Options of :class:`MgNO`; the defaults suit Darcy flow on a 64x64 grid.

    Attributes
    ----------
    in_channels, out_channels
        Fields in and out.
    channels
        Channels between the V-cycle layers.
    n_layers
        Number of V-cycle layers (nonlinearities between them).
    levels
        Grids per V-cycle, the given one included: 5 levels take 64x64 down to 4x4.
    pre_smooth, post_smooth
        Smoothing steps per level before restriction and after prolongation.
    padding_mode
        Boundary handling of the stencils: ``zeros``, ``reflect``, ``replicate``, ``circular``.
    activation
        Nonlinearity between layers by name.
    """

    in_channels: int = 1
    out_channels: int = 1
    channels: int = 32
    n_layers: int = 5
    levels: int = 5
    pre_smooth: int = 1
    post_smooth: int = 1
    padding_mode: str = "zeros"
    activation: str = "gelu"

    def _check(self) -> None:
        self._positive("in_channels", "out_channels", "channels", "n_layers", "levels")
        self._positive("pre_smooth", "post_smooth", minimum=0)
        if self.pre_smooth + self.post_smooth < 1:
            raise InputError("a V-cycle needs at least one smoothing step", field="pre_smooth", value=self.pre_smooth, hint="Set pre_smooth or post_smooth to 1 or more.")
        self._choice("padding_mode", PADDING_MODES)
        self._choice("activation", ACTIVATIONS)


class MgNO(nn.Module):
    """Multigrid neural operator ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.

    Parameters
    ----------
    config
        The options; defaults when omitted.

    Examples
    --------
    >>> import torch
    >>> model = MgNO(MgNOConfig(channels=8, n_layers=2, levels=3))
    >>> model(torch.randn(2, 1, 16, 16)).shape, model(torch.randn(2, 1, 24, 20)).shape
    (torch.Size([2, 1, 16, 16]), torch.Size([2, 1, 24, 20]))
    """

    config_class = MgNOConfig

    def __init__(self, config: MgNOConfig | None = None) -> None:
        super().__init__()
        config = MgNOConfig() if config is None else config
        if type(config) is not MgNOConfig:
            raise InputError("MgNO needs an MgNOConfig", value=config)
        self.config = config
        widths = [config.in_channels] + [config.channels] * (config.n_layers - 1) + [config.out_channels]
        cycle = dict(levels=config.levels, pre_smooth=config.pre_smooth, post_smooth=config.post_smooth, padding_mode=config.padding_mode)
        self.cycles = nn.ModuleList(MultigridVCycle(n_in, n_out, **cycle) for n_in, n_out in zip(widths[:-1], widths[1:]))
        # The V-cycles are linear and bias-free; each layer's affine part is this bias.
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(1, n_out, 1, 1)) for n_out in widths[1:])
        self.act = make_activation(config.activation)

    def forward(self, x: Tensor) -> Tensor:
        last = len(self.cycles) - 1
        for i, (cycle, bias) in enumerate(zip(self.cycles, self.biases)):
            x = cycle(x) + bias
            if i < last:
                x = self.act(x)
        return x
