"""Relative losses for fields on uniform grids: relative Lp and relative H1 (Sobolev).

Both take batches shaped ``(B, C, *grid)`` (``(B, C, H, W)`` on the unit square) and compare
each sample as a whole, all channels and grid points together, so that a sample with small
values counts as much as one with large values. On a uniform grid every quadrature weight is
the same, so it cancels in the ratio ``||y_hat - y|| / ||y||``: the discrete sums are exact
stand-ins for the integrals and no cell size appears.

``LOSSES`` maps the names a :class:`~engine.surrogates.training.Trainer` accepts to the
functions.

Examples
--------
>>> import torch
>>> y = torch.ones(2, 1, 8, 8)
>>> float(relative_lp_loss(2 * y, y))
1.0
>>> float(relative_h1_loss(y, y))
0.0
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["relative_lp_loss", "relative_l2_loss", "quadrature_relative_l2_loss", "relative_h1_loss", "get_loss", "LOSSES"]

# Zero targets make a relative error meaningless; flooring the denominator keeps the loss
# finite (it then reads as an absolute error scaled by 1/_TINY) instead of poisoning training.
_TINY = 1e-12

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_sample: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ValueError(f"unknown reduction {reduction!r}; expected one of {', '.join(map(repr, _REDUCTIONS))}")


def _check_shapes(y_hat: Tensor, y: Tensor) -> None:
    if y_hat.shape != y.shape:
        raise ValueError(f"prediction and target shapes differ: {tuple(y_hat.shape)} vs {tuple(y.shape)}")
    if y.ndim < 2:
        raise ValueError(f"expected a batch shaped (B, C, *grid); got shape {tuple(y.shape)}")


def relative_lp_loss(y_hat: Tensor, y: Tensor, *, p: float = 2, reduction: str = "mean") -> Tensor:
    """Per-sample relative Lp error ``||y_hat - y||_p / ||y||_p``, reduced over the batch.

    Parameters
    ----------
    y_hat, y
        Prediction and target, shaped ``(B, C, *grid)`` on the same uniform grid.
    p
        The norm's order (2 for the usual relative L2 error).
    reduction
        ``"mean"`` (the default: the batch average of the per-sample errors), ``"sum"``, or
        ``"none"`` for the ``(B,)`` per-sample errors.

    Returns
    -------
    Tensor
        A scalar, or shape ``(B,)`` with ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> y = torch.arange(1.0, 9.0).reshape(2, 1, 2, 2)
    >>> relative_lp_loss(y, y, reduction="none")
    tensor([0., 0.])
    >>> float(relative_lp_loss(torch.zeros_like(y), y))
    1.0
    """
    _check_shapes(y_hat, y)
    diff = (y_hat - y).flatten(1)
    norm_diff = torch.linalg.vector_norm(diff, ord=p, dim=1)
    norm_y = torch.linalg.vector_norm(y.flatten(1), ord=p, dim=1)
    return _reduce(norm_diff / norm_y.clamp_min(_TINY), reduction)


def relative_l2_loss(y_hat: Tensor, y: Tensor, *, reduction: str = "mean") -> Tensor:
    """Per-sample relative L2 error, batch-averaged: :func:`relative_lp_loss` with ``p=2``."""
    return relative_lp_loss(y_hat, y, p=2, reduction=reduction)


def quadrature_relative_l2_loss(y_hat: Tensor, y: Tensor, weights: Tensor, *, reduction: str = "mean") -> Tensor:
    """Per-sample relative L2 error on meshes: each channel's ``sqrt(sum w e^2 / sum w y^2)``
    with the points' quadrature weights, averaged over the channels.

    Channel by channel, because the outputs of a mesh model are often fields of different units
    (a displacement in metres beside a stress in pascals), which one pooled norm would let the
    largest drown. Points of weight zero (the padding of a batch) do not count.

    Parameters
    ----------
    y_hat, y
        ``(B, C, N)``: prediction and target at the points of each sample.
    weights
        ``(B, N)``: each point's share of its domain (zero for padding).

    Examples
    --------
    >>> import torch
    >>> y = torch.ones(1, 2, 3)
    >>> w = torch.tensor([[1.0, 1.0, 0.0]])
    >>> float(quadrature_relative_l2_loss(y * torch.tensor([[[2.0], [1.0]]]), y, w))
    0.5
    """
    _check_shapes(y_hat, y)
    if weights.shape != (y.shape[0], y.shape[-1]):
        raise ValueError(f"expected weights shaped (B, N) = {(y.shape[0], y.shape[-1])}; got {tuple(weights.shape)}")
    # weights as shares of each sample's domain: the ratio is the same, the floor below scale-free
    w = (weights / weights.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny))[:, None, :]
    num = (w * (y_hat - y).square()).sum(dim=-1)
    den = (w * y.square()).sum(dim=-1)
    # A channel that is zero in one sample (no load of that kind there) is measured against the
    # channel's size in the batch instead of blowing up.
    floor = 1e-6 * den.amax(dim=0, keepdim=True) + torch.finfo(den.dtype).tiny
    return _reduce(torch.sqrt(num / torch.maximum(den, floor)).mean(dim=1), reduction)


def _squared_h1_norm(u: Tensor) -> Tensor:
    """Per-sample ``sum(u**2) + sum(|grad u|**2)`` on the unit cube's uniform grid.

    Derivatives are forward differences ``(u[i+1] - u[i]) / h`` with ``h = 1 / (n - 1)`` per
    axis: the exact gradient of the piecewise-linear interpolant. Central differences would
    map the grid-scale checkerboard to zero, exactly the wiggle this loss should punish, and
    spectral derivatives would ring at the edges of these non-periodic grids.
    """
    grid_dims = tuple(range(2, u.ndim))
    if any(u.shape[d] < 2 for d in grid_dims):
        raise ValueError(f"the H1 loss needs at least 2 grid points per axis; got grid {tuple(u.shape[2:])}")
    total = u.flatten(1).square().sum(dim=1)
    for d in grid_dims:
        derivative = torch.diff(u, dim=d) * (u.shape[d] - 1)
        total = total + derivative.flatten(1).square().sum(dim=1)
    return total


def relative_h1_loss(y_hat: Tensor, y: Tensor, *, reduction: str = "mean") -> Tensor:
    """Per-sample relative H1 (Sobolev) error: values and first derivatives together.

    ``sqrt(|e|^2 + |grad e|^2) / sqrt(|y|^2 + |grad y|^2)`` with ``e = y_hat - y``, sums over
    all channels and grid points, and derivatives by finite differences on the unit square
    (forward differences, spacing ``1/(H-1)`` by ``1/(W-1)``). A wiggle of wavenumber ``k`` costs about ``k`` times
    more than under L2, which pushes a model towards smooth, physically plausible fields.

    Parameters
    ----------
    y_hat, y
        Prediction and target, shaped ``(B, C, *grid)`` with at least 2 points per grid axis.
    reduction
        ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-sample, shape ``(B,)``).

    Returns
    -------
    Tensor
        A scalar, or shape ``(B,)`` with ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> x = torch.linspace(0, 1, 16)
    >>> y = (x[:, None] + x[None, :]).expand(1, 1, 16, 16)
    >>> wiggle = 0.01 * torch.cos(torch.pi * 15 * x)[None, :].expand(1, 1, 16, 16)
    >>> bool(relative_h1_loss(y + wiggle, y) > relative_lp_loss(y + wiggle, y))
    True
    """
    _check_shapes(y_hat, y)
    num = _squared_h1_norm(y_hat - y)
    den = _squared_h1_norm(y)
    return _reduce(torch.sqrt(num) / torch.sqrt(den).clamp_min(_TINY), reduction)


#: ``loss(y_hat, y, *, reduction="mean")`` by the name ``Trainer(loss=...)`` accepts.
LOSSES: dict[str, Callable[..., Tensor]] = {"l2": relative_l2_loss, "h1": relative_h1_loss}


def get_loss(name: str) -> Callable[..., Tensor]:
    """The loss function called ``name`` (``"l2"`` or ``"h1"``).

    Raises
    ------
    engine.errors.InputError
        For a name not in :data:`LOSSES`.
    """
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        from engine.errors import InputError

        raise InputError("unknown loss", field="loss", value=name, expected=f"one of {', '.join(map(repr, LOSSES))}") from None
