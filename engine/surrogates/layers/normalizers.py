"""Normalisers that live inside the model, so that a saved model carries its own scaling.

Statistics are per channel (shape ``(1, C, 1, 1)``), not per grid point: per-point statistics
would tie the model to its training grid and break resolution transfer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.errors import InputError

__all__ = ["UnitGaussianNormalizer"]


class UnitGaussianNormalizer(nn.Module):
    """Scale each channel to zero mean and unit standard deviation, and back.

    ``encode(x) = (x - mean) / (std + eps)`` and ``decode`` is its inverse. ``mean``, ``std``
    and ``eps`` are buffers: they follow ``.to(device)`` and are saved in ``state_dict``, but
    an optimiser never sees them.

    Parameters
    ----------
    channels
        Number of channels. A new normaliser is the identity (mean 0, std 1) until fitted or
        loaded from a ``state_dict``, which is how a saved model is rebuilt.
    eps
        Added to ``std`` so that a constant channel does not divide by zero.

    Examples
    --------
    >>> import torch
    >>> data = torch.randn(8, 2, 5, 5) * torch.tensor([1.0, 10.0]).view(1, 2, 1, 1) + 3.0
    >>> norm = UnitGaussianNormalizer.fit(data)
    >>> norm.mean.shape
    torch.Size([1, 2, 1, 1])
    >>> bool(torch.allclose(norm.decode(norm.encode(data)), data, atol=1e-5))
    True
    """

    mean: Tensor
    std: Tensor
    eps: Tensor

    def __init__(self, channels: int = 1, *, eps: float = 1e-5) -> None:
        super().__init__()
        if channels < 1:
            raise InputError("a normaliser needs at least one channel", field="channels", value=channels)
        self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("std", torch.ones(1, channels, 1, 1))
        self.register_buffer("eps", torch.tensor(float(eps)))

    @classmethod
    def fit(cls, data: Tensor, *, eps: float = 1e-5) -> UnitGaussianNormalizer:
        """A normaliser with the per-channel mean and standard deviation of ``data`` ``(N, C, H, W)``."""
        if data.ndim != 4:
            raise InputError("fit needs a batch of fields shaped (N, C, H, W)", field="data", value=tuple(data.shape))
        out = cls(data.shape[1], eps=eps)
        # Statistics in float64: large data sets in float32 lose digits in the sum.
        values = data.detach().to(torch.float64)
        out.mean.copy_(values.mean(dim=(0, 2, 3), keepdim=True))
        out.std.copy_(values.std(dim=(0, 2, 3), keepdim=True, unbiased=False))
        return out.to(data.device)

    def extra_repr(self) -> str:
        return f"channels={self.mean.shape[1]}"

    def encode(self, x: Tensor) -> Tensor:
        """Normalised ``x``."""
        return (x - self.mean) / (self.std + self.eps)

    def decode(self, x: Tensor) -> Tensor:
        """Physical values from normalised ``x``."""
        return x * (self.std + self.eps) + self.mean

    def forward(self, x: Tensor) -> Tensor:
        return self.encode(x)
