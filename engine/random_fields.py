"""Gaussian random fields: random coefficients for any case, and the inputs of neural-operator data.

The fields are the ones of the FNO Darcy benchmark (Li et al., 2021, and its MATLAB generator
``GRF.m``): a Gaussian random field

.. math::

    z \\sim \\mathcal N\\big(0,\\ \\sigma^2 (-\\Delta + \\tau^2 I)^{-\\alpha}\\big)

on the unit square (or interval) with Neumann boundary conditions, written as its
Karhunen-Loeve series over the orthonormal Neumann eigenfunctions of the Laplacian,
:math:`\\varphi_k(x) = c_{k_1} c_{k_2} \\cos(\\pi k_1 x) \\cos(\\pi k_2 y)` with
:math:`c_0 = 1`, :math:`c_{k>0} = \\sqrt 2` and eigenvalues :math:`\\pi^2 |k|^2`:

.. math::

    z(x) = \\sum_{k \\ne 0} \\sigma\\, (\\pi^2 |k|^2 + \\tau^2)^{-\\alpha/2}\\, \\xi_k\\, \\varphi_k(x),
    \\qquad \\xi_k \\sim \\mathcal N(0, 1) \\text{ independent}.

Normalisation, as in the FNO generators: the constant mode is dropped (:math:`\\xi_0 = 0`, as
``GRF.m`` does with ``L(1,1) = 0``), so every sample has zero mean over the domain, and
:math:`\\sigma = \\tau^{(2\\alpha - d)/2}` in dimension ``d``: :math:`\\tau^{\\alpha - 1}` in 2D
(``GRF.m``'s ``tau^(alpha-1)``; the Python ``GaussianRF`` of the FNO repository uses the same
``tau**(0.5*(2*alpha - dim))``, i.e. :math:`\\tau^{\\alpha - 1/2}` for 1D fields). For
``alpha = 2, tau = 3`` the 2D field is ``3 * sum xi_k phi_k / (pi^2 |k|^2 + 9)`` and its
pointwise standard deviation is about 0.3. The sign of ``z``, which is all a thresholded
permeability depends on, does not depend on ``sigma``.

Grid and synthesis: a field of ``resolution`` = ``N`` points per side is evaluated on the grid
``x_i = i / (N - 1)``, ``i = 0 .. N - 1``, boundary points included (the vertices of the
structured P1 mesh the Darcy data are solved on), from the ``N`` lowest modes per direction,
``k = 0 .. N - 1``. On that grid the cosine series is exactly a type-I discrete cosine
transform, evaluated by :func:`scipy.fft.idctn` (``type=1``) in ``O(N^2 log N)`` per sample.
``GRF.m`` evaluates the same series at cell midpoints with a type-II transform (MATLAB's
``idct2``); the law of the field is the same, only the sample points differ. Arrays are indexed
``[..., j, i]`` = value at ``(x_i, y_j)``: ``y`` along the rows (axis -2), ``x`` along the
columns (axis -1), row 0 at ``y = 0``.

Reproducibility: sample ``i`` draws its coefficients from its own generator,
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(i,)))``, which is the ``i``-th child
of ``SeedSequence(seed).spawn(...)``. So a sample is the same whether it is drawn alone, in a
chunk of 16 or in a batch of 1000, on any worker. The coefficients are drawn shell by shell
(all modes with ``max(k1, k2) = 0``, then ``= 1``, ...), so the draws of the low modes do not
depend on the resolution either: the same seed at resolutions 33 and 65 gives the same random
function up to the modes only the finer grid resolves (pointwise correlation > 0.99 for the
default ``alpha, tau``). That keeps multi-resolution data sets (zero-shot super-resolution tests)
consistent.

Off the grid: :func:`grf_at_points` sums the same series at any points (a case's mesh nodes),
with the same draws, so on the grid it gives :func:`grf_field`'s values; a case's
``{ random_field = "grf", ... }`` coefficient (:class:`engine.physics.values.RandomField`) is
evaluated this way, over a square of side ``length`` from ``origin``.
"""


from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["grf_field", "grf_at_points", "sample_rng", "grid_coordinates"]


def sample_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of sample ``index`` of a data set with master seed ``seed``.

    Parameters
    ----------
    seed : int
        Master seed (non-negative).
    index : int
        Sample index (non-negative).
    stream : int
        Independent stream of the same sample: 0 for the coefficient field (the child
        ``SeedSequence(seed).spawn(index + 1)[index]``), ``s > 0`` for other random inputs of
        that sample (a source, boundary values: that child's own ``s``-th child).

    Examples
    --------
    >>> a = sample_rng(0, 5).standard_normal(3)
    >>> b = np.random.default_rng(np.random.SeedSequence(0).spawn(6)[5]).standard_normal(3)
    >>> bool(np.array_equal(a, b))
    True
    """
    seed, index, stream = int(seed), int(index), int(stream)
    if seed < 0 or index < 0 or stream < 0:
        raise ValueError(f"seed, index and stream must be non-negative integers; got {seed}, {index}, {stream}")
    key = (index,) if stream == 0 else (index, stream)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def grid_coordinates(resolution: int) -> np.ndarray:
    """The ``resolution`` grid coordinates ``i / (resolution - 1)`` on ``[0, 1]``, ends included."""
    return np.linspace(0.0, 1.0, int(resolution))


@functools.lru_cache(maxsize=32)
def _draw_order(n: int, dim: int) -> np.ndarray:
    """Flat indices of the ``n**dim`` modes in drawing order: by shell ``max(k)``, then lexicographic.

    The first ``m**dim`` entries are the modes of shell < ``m`` for every ``n >= m``, so a sample's
    low modes get the same draws at every resolution.
    """
    k = np.indices((n,) * dim).reshape(dim, -1)
    shell = k.max(axis=0)
    # lexsort sorts by the last key first: shell, then k[0], k[1], ...
    order = np.lexsort(tuple(k[::-1]) + (shell,))
    order.setflags(write=False)
    return order


@functools.lru_cache(maxsize=32)
def _synthesis_weights(n: int, dim: int, alpha: float, tau: float, sigma: float, keep_mean: bool) -> np.ndarray:
    """Per-mode factors that turn standard normal draws into type-I DCT input (``idctn``)."""
    k = np.arange(n, dtype=float)
    # Orthonormal cosine normalisation c_k, times what undoes idct type-1's own weights:
    # idct_1(y)_p = (y_0 + (-1)^p y_{N-1} + 2 sum_{0<k<N-1} y_k cos(pi k p / (N-1))) / (2 (N-1)),
    # so the plain sum  sum_k a_k cos(pi k p / (N-1))  is idct_1 of  a_k * (2 (N-1) at the ends,
    # N - 1 inside).
    c = np.where(k == 0, 1.0, math.sqrt(2.0))
    undo = np.full(n, float(n - 1))
    undo[0] = undo[-1] = 2.0 * (n - 1)
    axis = c * undo
    lam = np.zeros((n,) * dim)
    weight = np.ones((n,) * dim)
    for d in range(dim):
        shape = [1] * dim
        shape[d] = n
        lam = lam + (np.pi * k.reshape(shape)) ** 2
        weight = weight * axis.reshape(shape)
    w = sigma * (lam + tau**2) ** (-alpha / 2.0) * weight
    if not keep_mean:
        w.flat[0] = 0.0
    w.setflags(write=False)
    return w


def grf_field(
    n_samples: int,
    resolution: int,
    *,
    seed: int,
    alpha: float = 2.0,
    tau: float = 3.0,
    sigma: float | None = None,
    mean: float = 0.0,
    dim: int = 2,
    start: int = 0,
    stream: int = 0,
    keep_mean_mode: bool = False,
) -> np.ndarray:
    """Samples of a smooth Gaussian random field ``mean + N(0, sigma^2 (-Lap + tau^2 I)^-alpha)``.

    General-purpose smooth fields (coefficients, sources, boundary data along a side); see the
    module docstring for the series, the grid, the normalisation and the seeding.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    resolution : int
        Grid points per side, boundary included (``>= 2``).
    seed : int
        Master seed; sample ``i`` (counting from ``start``) uses ``sample_rng(seed, i, stream)``.
    alpha : float
        Smoothness exponent (``> dim / 2`` for a field with finite pointwise variance).
    tau : float
        Inverse length scale (``> 0``): larger gives shorter correlation lengths.
    sigma : float, optional
        Amplitude; default ``tau ** ((2 * alpha - dim) / 2)``, the FNO generators' choice.
    mean : float
        Constant added to every sample.
    dim : {1, 2}
        Fields on the unit interval (shape ``(n, resolution)``) or square (``(n, res, res)``).
    start : int
        Index of the first sample: ``grf_field(4, ..., start=8)`` returns samples 8 to 11, the
        same arrays as rows 8 to 11 of ``grf_field(12, ...)``.
    stream : int
        Independent stream per sample (0 for the coefficient, other numbers for other inputs).
    keep_mean_mode : bool
        Keep the constant mode (then the domain average is random too); default False as FNO.

    Returns
    -------
    (n_samples, resolution[, resolution]) float64 array

    Examples
    --------
    >>> z = grf_field(4, 33, seed=0)
    >>> z.shape
    (4, 33, 33)
    >>> bool(np.array_equal(z[2:], grf_field(2, 33, seed=0, start=2)))
    True
    """
    n_samples, resolution, dim = int(n_samples), int(resolution), int(dim)
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0; got {n_samples}")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2 grid points per side; got {resolution}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2; got {dim}")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive number; got {alpha!r}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a positive number; got {tau!r}")
    if sigma is None:
        sigma = tau ** ((2.0 * alpha - dim) / 2.0)
    if not math.isfinite(sigma):
        raise ValueError(f"sigma must be finite; got {sigma!r}")
    import scipy.fft

    shape = (resolution,) * dim
    order = _draw_order(resolution, dim)
    weights = _synthesis_weights(resolution, dim, float(alpha), float(tau), float(sigma), bool(keep_mean_mode))
    coef = np.empty((n_samples, resolution**dim))
    for row, index in enumerate(range(start, start + n_samples)):
        coef[row, order] = sample_rng(seed, index, stream).standard_normal(resolution**dim)
    coef = coef.reshape((n_samples, *shape))
    coef *= weights
    axes = tuple(range(1, dim + 1))
    z = scipy.fft.idctn(coef, type=1, axes=axes, overwrite_x=True) if n_samples else coef
    if mean:
        z += mean
    return z


def grf_at_points(
    points: np.ndarray,
    *,
    seed: int,
    index: int = 0,
    modes: int = 32,
    alpha: float = 2.0,
    tau: float = 3.0,
    sigma: float | None = None,
    mean: float = 0.0,
    origin: tuple[float, ...] = (0.0, 0.0),
    length: float = 1.0,
    stream: int = 0,
    keep_mean_mode: bool = False,
) -> np.ndarray:
    """Sample ``index`` of the 2D field of :func:`grf_field` at ``points`` ((n, >= 2) array),
    from its ``modes`` lowest modes per direction, on the square ``origin + [0, length]^2``
    (outside it the cosines continue evenly: the field stays smooth and bounded).

    With ``modes = resolution`` it reproduces :func:`grf_field` at the grid's points.

    Examples
    --------
    >>> x = grid_coordinates(17)
    >>> grid = np.stack(np.meshgrid(x, x), axis=-1).reshape(-1, 2)  # (x_i, y_j), j slowest
    >>> z = grf_at_points(grid, seed=4, index=2, modes=17)
    >>> bool(np.allclose(z, grf_field(1, 17, seed=4, start=2)[0].ravel()))
    True
    >>> moved = grf_at_points(2.0 * grid + 1.0, seed=4, index=2, modes=17, origin=(1.0, 1.0), length=2.0)
    >>> bool(np.allclose(moved, z))
    True
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    modes = int(modes)
    if modes < 2:
        raise ValueError(f"modes must be at least 2; got {modes}")
    if points.shape[1] < 2:
        raise ValueError(f"a 2D random field needs points with x and y; got {points.shape[1]} coordinate(s)")
    if not (math.isfinite(alpha) and alpha > 0 and math.isfinite(tau) and tau > 0):
        raise ValueError(f"alpha and tau must be positive numbers; got {alpha!r}, {tau!r}")
    if not (math.isfinite(length) and length > 0):
        raise ValueError(f"length must be a positive number; got {length!r}")
    sigma = tau ** (alpha - 1.0) if sigma is None else float(sigma)
    k = np.arange(modes, dtype=float)
    lam = (np.pi * k[:, None]) ** 2 + (np.pi * k[None, :]) ** 2  # [k_y, k_x]
    c = np.where(k == 0, 1.0, math.sqrt(2.0))
    draws = np.empty(modes * modes)
    draws[_draw_order(modes, 2)] = sample_rng(seed, index, stream).standard_normal(modes * modes)
    a = sigma * (lam + tau**2) ** (-alpha / 2.0) * np.outer(c, c) * draws.reshape(modes, modes)
    if not keep_mean_mode:
        a[0, 0] = 0.0
    local = (points[:, :2] - np.asarray(origin, dtype=float)[:2]) / float(length)
    cos_x = np.cos(np.pi * local[:, :1] * k)  # (n, modes)
    cos_y = np.cos(np.pi * local[:, 1:2] * k)
    return mean + np.einsum("ny,yx,nx->n", cos_y, a, cos_x, optimize=True)
