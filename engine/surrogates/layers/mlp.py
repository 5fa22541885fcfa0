"""Multilayer perceptrons and the activations every model picks by name.

The DeepONet branch and trunk are MLPs; the other models use :func:`make_activation` so that a
config can name its nonlinearity as a plain string.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from engine.errors import InputError

__all__ = ["ACTIVATIONS", "make_activation", "MLP"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (one of :data:`ACTIVATIONS`).

    Examples
    --------
    >>> make_activation("gelu")
    GELU(approximate='none')
    """
    if name not in ACTIVATIONS:
        raise InputError("unknown activation", field="activation", value=name, expected=f"one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """Fully connected layers acting on the last dimension.

    Parameters
    ----------
    widths
        Input width, hidden widths, output width: ``(2, 128, 128, 64)`` is two hidden layers
        mapping 2 features to 64. At least two entries.
    activation
        Name of the nonlinearity between layers (see :data:`ACTIVATIONS`).
    final_activation
        Also apply it after the last layer. A DeepONet trunk does, so that its outputs are
        nonlinear basis functions rather than a linear map of the last hidden layer.

    Examples
    --------
    >>> import torch
    >>> MLP((2, 16, 3))(torch.zeros(5, 2)).shape
    torch.Size([5, 3])
    """

    def __init__(self, widths: Sequence[int], *, activation: str = "gelu", final_activation: bool = False) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2 or min(widths) < 1:
            raise InputError("an MLP needs an input and an output width, all positive", field="widths", value=widths)
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2 or final_activation:
                layers.append(make_activation(activation))
        self.widths = widths
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
