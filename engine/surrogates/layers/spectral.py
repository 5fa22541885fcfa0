"""Spectral convolutions: the integral-operator layers of FNO and F-FNO.

A spectral convolution multiplies the lowest Fourier modes of its input by learned complex
channel-mixing matrices and drops the rest. The weights act on frequencies, not on grid
points, so one trained layer applies at any resolution that resolves its modes: sampled finer
or coarser, a band-limited field gives the same output at the shared points.

The complex weights are stored as two real parameters (``*_real``, ``*_imag``) because
safetensors, our weight format, has no complex dtype; the complex tensor is formed in
``forward``.

Both layers treat the field as periodic on the sampled box (that is what the FFT assumes);
models pad non-periodic fields before calling them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["SpectralConv2d", "FactorizedSpectralConv2d"]


def _fft_dtype(x: Tensor) -> torch.dtype:
    # cuFFT handles half precision only for power-of-two sizes and loses accuracy even then, so
    # under autocast the transform runs in float32; float64 stays float64 for accuracy tests.
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _complex_weight(shape: tuple[int, ...], in_channels: int) -> tuple[nn.Parameter, nn.Parameter]:
    # Zero-mean with E|w|^2 = 1 / in_channels: each kept mode's amplitude is preserved on
    # average, so deep stacks neither blow up nor vanish at initialisation.
    std = (2.0 * in_channels) ** -0.5
    return nn.Parameter(std * torch.randn(shape)), nn.Parameter(std * torch.randn(shape))


def _kept(modes: int, n: int, *, half: bool) -> int:
    """How many of ``modes`` a grid of ``n`` points resolves, the Nyquist mode excluded.

    The Nyquist mode has no sign (+n/2 and -n/2 alias), so weighting it would make the layer
    depend on whether the grid size is even; leaving it out keeps resolutions consistent.
    """
    return min(modes, (n + 1) // 2 if half else (n - 1) // 2)


class SpectralConv2d(nn.Module):
    """Fourier layer: ``rfft2``, mix channels on the lowest modes, ``irfft2``.

    Kept modes: ``modes2`` non-negative frequencies along the last dimension (``x``; the
    real FFT stores only those) and, along ``y``, both the ``modes1`` lowest non-negative and
    the ``modes1`` lowest negative frequencies, each block with its own weights. On a grid too
    coarse for all of them, the modes it resolves are used (Nyquist excluded).

    Parameters
    ----------
    in_channels, out_channels
        Channel counts of input and output.
    modes1, modes2
        Modes kept along ``y`` (dimension -2, per sign) and along ``x`` (dimension -1).

    Examples
    --------
    >>> import torch
    >>> layer = SpectralConv2d(3, 5, 4, 4)
    >>> layer(torch.randn(2, 3, 16, 20)).shape
    torch.Size([2, 5, 16, 20])
    >>> sorted(name for name, _ in layer.named_parameters())
    ['weight_imag', 'weight_real']
    """

    def __init__(self, in_channels: int, out_channels: int, modes1: int, modes2: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes1, self.modes2 = modes1, modes2
        # Rows [0, modes1) weight frequencies 0..modes1-1 along y; rows [modes1, 2 modes1)
        # weight frequencies -modes1..-1, in the order the FFT stores them.
        self.weight_real, self.weight_imag = _complex_weight((in_channels, out_channels, 2 * modes1, modes2), in_channels)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes1={self.modes1}, modes2={self.modes2}"

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        dtype = _fft_dtype(x)
        xf = torch.fft.rfft2(x.to(dtype))
        m1 = _kept(self.modes1, height, half=False)
        m2 = _kept(self.modes2, width, half=True)
        w = torch.complex(self.weight_real.to(dtype), self.weight_imag.to(dtype))
        out = xf.new_zeros(x.shape[0], self.out_channels, height, width // 2 + 1)
        out[..., :m1, :m2] = torch.einsum("bixy,ioxy->boxy", xf[..., :m1, :m2], w[..., :m1, :m2])
        if m1 > 0:
            neg = w[..., 2 * self.modes1 - m1 :, :m2]
            out[..., height - m1 :, :m2] = torch.einsum("bixy,ioxy->boxy", xf[..., height - m1 :, :m2], neg)
        return torch.fft.irfft2(out, s=(height, width)).to(x.dtype)


class FactorizedSpectralConv2d(nn.Module):
    """F-FNO's factorised Fourier layer: a 1D spectral convolution along each axis, summed.

    ``K(u) = IFFT_x(R_x FFT_x u) + IFFT_y(R_y FFT_y u)`` (Tran et al., "Factorized Fourier
    Neural Operators", ICLR 2023). Each axis has its own complex channel-mixing weights per
    mode, so the parameter count grows with ``modes1 + modes2`` instead of ``modes1 * modes2``.

    Parameters
    ----------
    in_channels, out_channels
        Channel counts of input and output.
    modes1, modes2
        Non-negative modes kept along ``y`` (dimension -2) and ``x`` (dimension -1).

    Examples
    --------
    >>> import torch
    >>> FactorizedSpectralConv2d(3, 5, 4, 6)(torch.randn(2, 3, 16, 20)).shape
    torch.Size([2, 5, 16, 20])
    """

    def __init__(self, in_channels: int, out_channels: int, modes1: int, modes2: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes1, self.modes2 = modes1, modes2
        self.weight_y_real, self.weight_y_imag = _complex_weight((in_channels, out_channels, modes1), in_channels)
        self.weight_x_real, self.weight_x_imag = _complex_weight((in_channels, out_channels, modes2), in_channels)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes1={self.modes1}, modes2={self.modes2}"

    def _along_x(self, x: Tensor, modes: int, real: Tensor, imag: Tensor) -> Tensor:
        """The 1D spectral convolution along the last dimension."""
        n = x.shape[-1]
        dtype = _fft_dtype(x)
        m = _kept(modes, n, half=True)
        w = torch.complex(real[..., :m].to(dtype), imag[..., :m].to(dtype))
        mixed = torch.einsum("bihw,iow->bohw", torch.fft.rfft(x.to(dtype))[..., :m], w)
        # irfft zero-fills the modes above m: no full-size spectrum to allocate.
        return torch.fft.irfft(mixed, n=n)

    def forward(self, x: Tensor) -> Tensor:
        # Along y through a transpose: an FFT over the contiguous last axis is much faster on
        # CPU than one over a strided axis, and the transposes cost less than the difference.
        y_part = self._along_x(x.transpose(-1, -2), self.modes1, self.weight_y_real, self.weight_y_imag).transpose(-1, -2)
        x_part = self._along_x(x, self.modes2, self.weight_x_real, self.weight_x_imag)
        return (y_part + x_part).to(x.dtype)
