"""The one place a device name (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``) becomes a torch device.

Device names come from case files (``solver.surrogate.device``), training settings and the
command line, and are often written on one machine and used on another: ``"cuda"`` in a case
made on a GPU workstation is bad input on a laptop, to be refused with a message that says so
before any model is loaded, never a failure deep inside torch ("Torch not compiled with CUDA
enabled"). Torch is imported only when a device is resolved.

Examples
--------
>>> resolve_device("cpu")
device(type='cpu')
>>> resolve_device("tpu")
Traceback (most recent call last):
  ...
engine.errors.InputError: device: unknown device: got 'tpu'; expected 'auto', 'cpu', 'cuda' or 'cuda:N'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "DEVICE_NAMES"]

#: What a device setting may say, for messages and docs.
DEVICE_NAMES = "'auto', 'cpu', 'cuda' or 'cuda:N'"


def resolve_device(device: Any = "auto", *, field: str = "device", source: str | Path | None = None) -> torch.device:
    """The torch device ``device`` names, once it is known to exist on this machine.

    Parameters
    ----------
    device
        ``"auto"`` (the first CUDA device when there is one, else the CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"``, or a ``torch.device``.
    field, source
        Where the setting came from, for the message (``solver.surrogate.device`` of a case).

    Raises
    ------
    InputError
        The name is not a device (``""``, ``"tpu"``), a kind of device the workbench does not
        run on (``"mps"``, ``"meta"``), or a CUDA device this machine does not have
        (``"cuda"`` without CUDA, ``"cuda:99"`` with one GPU).
    """
    import torch

    def refuse(problem: str, expected: str = DEVICE_NAMES, *, value: Any = device, hint: str | None = None) -> InputError:
        return InputError(problem, source=source, field=field, value=value, expected=expected, hint=hint)

    if isinstance(device, torch.device):
        text = str(device)
    elif isinstance(device, str):
        text = device
    else:
        raise refuse(f"a device is named by text, not {type(device).__name__}")
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise refuse("unknown device") from None
    if resolved.type == "cpu":
        return torch.device("cpu")  # an index means nothing on the CPU
    if resolved.type != "cuda":
        raise refuse(f"the workbench does not run on {resolved.type!r} devices")
    if not torch.cuda.is_available():
        raise InputError(
            f"device {text!r} is not available on this machine (torch.cuda.is_available() is False)",
            source=source,
            field=field,
            expected="'cpu' or 'auto'",
            hint="CUDA needs an NVIDIA GPU and a CUDA build of torch",
        )
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        indices = "'cuda:0'" if count == 1 else f"'cuda:0' to 'cuda:{count - 1}'"
        raise InputError(
            f"device {text!r} is not available on this machine (it has {count} CUDA device{'s' * (count != 1)})",
            source=source,
            field=field,
            expected=f"'cpu', 'auto', 'cuda' or {indices}",
        )
    return resolved
