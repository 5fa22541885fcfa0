"""Surrogate models by name, each built from its typed config.

Every model maps ``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)`` on a uniform grid of
the unit square that includes the boundary (column ``j`` at ``x = j / (W - 1)``), keeps its
config as ``model.config`` and names its config class as ``Model.config_class``. A checkpoint
therefore needs only the registry name, ``model.config.to_dict()`` (JSON) and the weights
(``state_dict``, all real tensors, safetensors-ready) to rebuild the model:
``build_model(name, config_dict).load_state_dict(weights)``.

========  ==================================  =========================================
name      model                               resolution
========  ==================================  =========================================
fno       :class:`~.fno.FNO`                  any grid; discretisation-invariant
ffno      :class:`~.fno.FFNO` (F-FNO)         any grid; discretisation-invariant
mgno      :class:`~.mgno.MgNO`                any grid >= 2**(levels-1); stencils in grid units
unet      :class:`~.unet.UNet`                any grid >= 2**(levels-1); stencils in grid units
deeponet  :class:`~.deeponet.DeepONet`        input resampled to ``grid_size``; output anywhere
transolver :class:`~.transolver.Transolver`   points of any mesh: ``(B, C, N)`` with a mask
========  ==================================  =========================================

Plugins add models through the ``workbench.surrogates`` entry-point group, naming a model
class (``package.module:Class``) that has a ``config_class``; a plugin cannot replace a
built-in name.

Examples
--------
>>> model = build_model("fno", {"width": 8, "modes1": 4, "modes2": 4})
>>> model.config.width, count_parameters(model) > 0
(8, True)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from torch import nn

from engine.errors import InputError
from engine.surrogates.models.config import ModelConfig
from engine.surrogates.models.deeponet import DeepONet, DeepONetConfig
from engine.surrogates.models.fno import FFNO, FNO, FFNOConfig, FNOConfig
from engine.surrogates.models.mgno import MgNO, MgNOConfig
from engine.surrogates.models.transolver import Transolver, TransolverConfig
from engine.surrogates.models.unet import UNet, UNetConfig

__all__ = [
    "MODELS",
    "ModelConfig",
    "build_model",
    "count_parameters",
    "model_names",
    "FNO",
    "FNOConfig",
    "FFNO",
    "FFNOConfig",
    "MgNO",
    "MgNOConfig",
    "UNet",
    "UNetConfig",
    "DeepONet",
    "DeepONetConfig",
    "Transolver",
    "TransolverConfig",
    "MESH_MODELS",
]

_GROUP = "workbench.surrogates"

MODELS: dict[str, tuple[type[nn.Module], type[ModelConfig]]] = {
    "fno": (FNO, FNOConfig),
    "ffno": (FFNO, FFNOConfig),
    "mgno": (MgNO, MgNOConfig),
    "unet": (UNet, UNetConfig),
    "deeponet": (DeepONet, DeepONetConfig),
    "transolver": (Transolver, TransolverConfig),
}

#: Models that read the points of a mesh, ``(B, C, N)`` with a mask, rather than a grid.
MESH_MODELS = ("transolver",)


def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=_GROUP) if ep.name not in MODELS}


def model_names() -> list[str]:
    """Registered model names: the built-in ones first, then plugins.

    Examples
    --------
    >>> model_names()[:5]
    ['fno', 'ffno', 'mgno', 'unet', 'deeponet']
    """
    return [*MODELS, *_plugins()]


def _lookup(name: str) -> tuple[type[nn.Module], type[ModelConfig]]:
    if name in MODELS:
        return MODELS[name]
    plugins = _plugins()
    if name not in plugins:
        raise InputError("unknown model", field="model", value=name, expected=f"one of {', '.join(model_names())}")
    module, _, attr = plugins[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls, cls.config_class


def build_model(name: str, config: Mapping[str, Any] | ModelConfig | None = None) -> nn.Module:
    """A new model ``name`` built from ``config`` (a config object, a dict or None for defaults).

    Raises
    ------
    InputError
        For an unknown name (listing the known ones), a config of another model, or a config
        dict with unknown keys or bad values.
    """
    cls, config_class = _lookup(name)
    if config is None:
        config = config_class()
    elif isinstance(config, ModelConfig):
        if type(config) is not config_class:
            raise InputError(f"model {name!r} needs a {config_class.__name__}", field="config", value=type(config).__name__)
    else:
        try:
            config = config_class.from_dict(config)
        except InputError as err:
            raise err.replace(field=f"config.{err.field}" if err.field else "config") from None
    return cls(config)


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
