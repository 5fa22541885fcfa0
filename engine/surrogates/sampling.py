"""The inputs of the FNO Darcy data: its Gaussian random field and the permeabilities made from it.

The random fields themselves live in :mod:`engine.random_fields` (a case's coefficients use them
too); this module holds what is particular to the Darcy benchmark (Li et al., 2021).
"""

from __future__ import annotations

import numpy as np

from engine.random_fields import grf_field

__all__ = ["grf_darcy", "threshold_permeability", "lognormal_permeability"]


def grf_darcy(n_samples: int, resolution: int, *, alpha: float = 2.0, tau: float = 3.0, seed: int, start: int = 0) -> np.ndarray:
    """The FNO Darcy field: ``z ~ N(0, tau^(2 alpha - 2) (-Lap + tau^2 I)^-alpha)``, Neumann, zero mean.

    Threshold it with :func:`threshold_permeability` (k = 12 or 3) or exponentiate it with
    :func:`lognormal_permeability`.

    Returns
    -------
    (n_samples, resolution, resolution) float64 array, indexed ``[sample, j, i]`` = ``(x_i, y_j)``.

    Examples
    --------
    >>> z = grf_darcy(2, 17, seed=0)
    >>> z.shape, bool(abs(z.mean()) < 0.1)
    ((2, 17, 17), True)
    """
    return grf_field(n_samples, resolution, seed=seed, alpha=alpha, tau=tau, start=start)


def threshold_permeability(z, high: float = 12.0, low: float = 3.0) -> np.ndarray:
    """``high`` where ``z >= 0``, ``low`` elsewhere (the FNO Darcy coefficient).

    Examples
    --------
    >>> threshold_permeability(np.array([-1.0, 0.0, 2.0]))
    array([ 3., 12., 12.])
    """
    return np.where(np.asarray(z) >= 0.0, float(high), float(low))


def lognormal_permeability(z, scale: float = 1.0) -> np.ndarray:
    """``exp(scale * z)``.

    Examples
    --------
    >>> lognormal_permeability(np.array([0.0, 1.0]), scale=2.0).round(3)
    array([1.   , 7.389])
    """
    return np.exp(float(scale) * np.asarray(z, dtype=float))
