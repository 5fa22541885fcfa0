"""Training surrogates: a model with its normalisers, a Trainer, checkpoints, evaluation.

The pieces are separate steps, as in neuraloperator:

* :class:`SurrogateModel` wraps any grid model ``(B, C_in, H, W) -> (B, C_out, H, W)`` with an
  input and an output normaliser. It is what gets saved, so the normalisation statistics travel
  with the weights and a loaded model takes and returns physical values.
* :class:`Trainer` fits it (``fit``), writes and reads checkpoints (``save_checkpoint``,
  ``resume``) and reports on it (``evaluate``). Options are keyword arguments.
* :func:`evaluate` scores any model on any dataset; on a finer grid that is a resolution-transfer
  test (:func:`evaluate_at_resolution`).

Datasets yield ``{"x": (C_in, H, W), "y": (C_out, H, W)}``; batches are the same dict with a
leading batch dimension, from dataset to loss.

Checkpoints never use pickle for anything that could run code: weights are safetensors files,
the optimizer and random-number states are read back with ``torch.load(weights_only=True)``
(plain tensors, numbers and containers only), the rest is JSON. A manifest, ``checkpoint.json``,
carries a format version and the SHA-256 of every file it names.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from torch.utils.data import Dataset
>>> class Pairs(Dataset):
...     def __init__(self, n=8):
...         self.x = torch.randn(n, 1, 8, 8)
...     def __len__(self):
...         return len(self.x)
...     def __getitem__(self, i):
...         return {"x": self.x[i], "y": 3 * self.x[i]}
>>> from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
>>> _ = torch.manual_seed(0)
>>> model = SurrogateModel(nn.Conv2d(1, 1, 1), UnitGaussianNormalizer(1), UnitGaussianNormalizer(1))
>>> result = Trainer(model, epochs=2, batch_size=4, val_fraction=0.25).fit(Pairs())
>>> result.epochs_run, result.stopped_reason, bool(model.normalizers_fitted)
(2, 'completed', True)
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from engine._version import __version__
from engine.atomic import atomic_path, atomic_write_text
from engine.errors import InputError, RunError
from engine.solver import ProgressCallback, check_cancelled, report
from engine.surrogates.devices import resolve_device
from engine.surrogates.data.points import collate_points
from engine.surrogates.losses import LOSSES, get_loss, quadrature_relative_l2_loss, relative_lp_loss

__all__ = [
    "SurrogateModel",
    "Trainer",
    "TrainingReport",
    "evaluate",
    "evaluate_at_resolution",
    "CHECKPOINT_FORMAT_VERSION",
]

CHECKPOINT_FORMAT_VERSION = 1
_CHECKPOINT_FORMAT = "workbench-surrogate-checkpoint"
_MANIFEST = "checkpoint.json"
_FILES = {
    "model": "model.safetensors",
    "best_model": "best_model.safetensors",
    "optimizer": "optimizer.pt",
    "rng": "rng.pt",
    "trainer_state": "trainer_state.json",
}

#: ``on_epoch(record)`` with the record also appended to the history.
EpochCallback = Callable[[dict[str, Any]], None]
#: ``on_batch(epoch, batch, n_batches, loss)``; epoch and batch count from 1.
BatchCallback = Callable[[int, int, int, float], None]


class Dataset(Protocol):
    """What the trainer needs of a dataset: a length and ``{"x", "y"}`` items by index."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, Any]: ...


# -- model and normalisers -------------------------------------------------------------------


def _assign_stats(normalizer: nn.Module, mean: Tensor, std: Tensor, *, name: str = "normalizer") -> None:
    """Write per-channel statistics into a normaliser's ``mean`` / ``std`` buffers.

    Buffers that hold one value per channel keep their shape (whatever layout the normaliser
    chose); a scalar or missing buffer becomes ``(1, C, 1, 1)``, which broadcasts over a batch.

    Examples
    --------
    >>> import torch
    >>> from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
    >>> norm = UnitGaussianNormalizer(2, eps=0.0)
    >>> _assign_stats(norm, torch.tensor([1.0, 10.0]), torch.tensor([2.0, 5.0]))
    >>> norm.encode(torch.tensor([3.0, 20.0]).reshape(1, 2, 1, 1)).flatten().tolist()
    [1.0, 2.0]
    """
    channels = mean.numel()
    for key, value in (("mean", mean), ("std", std)):
        current = getattr(normalizer, key, None)
        if isinstance(current, Tensor) and current.ndim > 0:
            if current.numel() != channels:
                # Broadcasting one channel's statistics over several would run, and be wrong.
                raise InputError("the normaliser was made for another number of channels", field=name,
                                 value=current.numel(), expected=f"{channels}, the channels of the data")
            with torch.no_grad():
                current.copy_(value.reshape(current.shape))
            continue
        device = current.device if isinstance(current, Tensor) else None
        dtype = current.dtype if isinstance(current, Tensor) and current.is_floating_point() else torch.float32
        shaped = value.reshape(1, -1, 1, 1).to(device=device, dtype=dtype)
        if key in normalizer._buffers:
            setattr(normalizer, key, shaped)
        else:
            normalizer.register_buffer(key, shaped)


class SurrogateModel(nn.Module):
    """A grid model between an input and an output normaliser; the unit that gets saved.

    ``forward(x) = output_normalizer.decode(model(input_normalizer.encode(x)))``, so callers
    pass and get physical values. The normalisers' statistics and the flag saying they were
    fitted are buffers: they are in ``state_dict()`` and move with ``.to(device)``.

    Parameters
    ----------
    model
        Maps ``(B, C_in, H, W)`` to ``(B, C_out, H, W)``.
    input_normalizer, output_normalizer
        Modules with ``encode`` / ``decode`` and per-channel ``mean`` / ``std`` buffers (such
        as :class:`~engine.surrogates.layers.normalizers.UnitGaussianNormalizer`), or None to
        pass values through unchanged.
    normalizers_fitted
        True when the normalisers already hold statistics, so that :meth:`Trainer.fit` leaves
        them alone.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
    >>> model = SurrogateModel(nn.Identity(), None, UnitGaussianNormalizer(1))
    >>> _assign_stats(model.output_normalizer, torch.tensor([5.0]), torch.tensor([2.0]))
    >>> model(torch.zeros(1, 1, 2, 2)).flatten().tolist()
    [5.0, 5.0, 5.0, 5.0]
    >>> sorted(model.state_dict())
    ['normalizers_fitted', 'output_normalizer.eps', 'output_normalizer.mean', 'output_normalizer.std']
    """

    def __init__(
        self,
        model: nn.Module,
        input_normalizer: nn.Module | None = None,
        output_normalizer: nn.Module | None = None,
        *,
        normalizers_fitted: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.input_normalizer = input_normalizer
        self.output_normalizer = output_normalizer
        self.register_buffer("normalizers_fitted", torch.tensor(bool(normalizers_fitted)))

    def forward(self, x: Tensor, pos: Tensor | None = None, weights: Tensor | None = None) -> Tensor:
        """Grid batches: ``model(x)``. Point batches (see :mod:`engine.surrogates.data.points`):
        ``model(x, mask=weights > 0, pos=pos)`` with ``x`` at the points ``(B, C, N)`` or, for the
        masked-grid adapter, on a grid ``(B, C, H, W)``; the answer is at the points either way."""
        points = weights is not None
        if self.input_normalizer is not None:
            # the normalisers hold (1, C, 1, 1) statistics: a point batch (B, C, N) is a grid of N x 1
            x = self.input_normalizer.encode(x[..., None])[..., 0] if x.ndim == 3 else self.input_normalizer.encode(x)
        y = self.model(x, mask=weights > 0, pos=pos) if points else self.model(x)
        if self.output_normalizer is not None:
            y = self.output_normalizer.decode(y[..., None])[..., 0] if y.ndim == 3 else self.output_normalizer.decode(y)
        return y

    def fit_normalizers(self, dataset: Dataset, *, batch_size: int = 64, cancel: threading.Event | None = None) -> None:
        """Set both normalisers to the per-channel mean and std of ``dataset``'s x and y.

        Statistics pool every sample and grid point of a channel, so they do not depend on the
        grid and the model can be evaluated at other resolutions. The data are streamed, never
        held in memory at once.
        """
        loader = _loader(dataset, batch_size=batch_size)
        stats = {"x": _RunningStats(), "y": _RunningStats()}
        for batch in loader:
            check_cancelled(cancel, "fitting the normalisers")
            for key, running in stats.items():
                values = _as_tensor(batch[key])
                if "weights" in batch and values.ndim == 3:  # points: the padding is no data; (C, points) as a (1, C, points) batch
                    values = values.transpose(0, 1)[:, _as_tensor(batch["weights"]) > 0][None]
                running.update(values)
        for key, normalizer in (("x", self.input_normalizer), ("y", self.output_normalizer)):
            if normalizer is not None:
                mean, std = stats[key].result()
                _assign_stats(normalizer, mean, std, name="input_normalizer" if key == "x" else "output_normalizer")
        self.normalizers_fitted.fill_(True)


class _RunningStats:
    """Per-channel mean and variance merged batch by batch (Chan et al.), in float64.

    Merging centred sums avoids the cancellation of ``E[x^2] - E[x]^2`` on fields with a large
    offset and a small spread (temperatures in kelvin, pressures in pascal).
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None

    def update(self, batch: Tensor) -> None:
        t = batch.detach().to("cpu", torch.float64).transpose(0, 1).reshape(batch.shape[1], -1)
        n = t.shape[1]
        mean = t.mean(dim=1)
        m2 = (t - mean[:, None]).square().sum(dim=1)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta.square() * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[Tensor, Tensor]:
        if self.mean is None:
            raise InputError("cannot fit normalisers on an empty dataset", expected="at least one sample")
        std = torch.sqrt(self.m2 / self.count)
        # A constant channel (a uniform coefficient, a flag) has no spread to divide by; a
        # std of 1 just shifts it, where a tiny one would blow up any later deviation.
        constant = std <= 1e-12 * torch.clamp(self.mean.abs(), min=1.0)
        std = torch.where(constant, torch.ones_like(std), std)
        return self.mean.float(), std.float()


# -- report ----------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainingReport:
    """What a :meth:`Trainer.fit` call did.

    Attributes
    ----------
    epochs_run
        Epochs completed in total, counting those before a resume.
    best_epoch
        The epoch (from 1) with the lowest validation loss, or None without validation.
    history
        One record per completed epoch: ``{"epoch", "train_loss", "val_loss", "lr", "seconds"}``
        (``val_loss`` None without validation; ``lr`` the learning rate used in that epoch).
    best_val_loss
        The lowest validation loss, or None without validation.
    stopped_reason
        ``"completed"``, ``"early_stopping"``, ``"time_budget"`` (or ``"cancelled"`` in a
        checkpoint written on cancel; ``fit`` itself raises ``Cancelled``).
    wall_time
        Seconds this ``fit`` call took.
    parameters
        Trainable real-valued parameters (a complex weight counts twice).
    """

    epochs_run: int
    best_epoch: int | None
    history: list[dict[str, Any]]
    best_val_loss: float | None
    stopped_reason: str
    wall_time: float
    parameters: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _State:
    """Everything about a run's progress that is not a tensor; saved as JSON."""

    n_samples: int
    n_val: int
    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done in the current epoch
    train_loss_sum: float = 0.0
    train_count: int = 0
    epoch_seconds: float = 0.0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_val_loss: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_reason: str | None = None


# -- trainer ---------------------------------------------------------------------------------

_OPTIMIZERS = ("adamw", "adam")
_SCHEDULERS = ("cosine", "step", "none")


class Trainer:
    """Fits a :class:`SurrogateModel`; writes and resumes checkpoints; evaluates.

    Parameters
    ----------
    model
        The model to train, in place.
    epochs
        Passes over the training set (the schedule spans this many, whatever stops the run).
    batch_size
        Samples per optimizer step.
    learning_rate, weight_decay
        For the optimizer.
    optimizer
        ``"adamw"`` (decoupled weight decay) or ``"adam"`` (weight decay as an L2 term).
    scheduler
        Learning-rate schedule, stepped once per epoch: ``"cosine"`` (from ``learning_rate``
        towards 0 at ``epochs``; with a ``time_budget``, towards 0 at the end of the budget,
        updated before every batch from the time spent), ``"step"`` (times ``gamma`` every
        ``step_size`` epochs) or ``"none"``.
    warmup_epochs
        Epochs of linear warm-up before any schedule: ``learning_rate * (e + 1) / (warmup + 1)``.
    step_size, gamma
        For ``scheduler="step"``; ``step_size`` defaults to a quarter of ``epochs``.
    loss
        ``"l2"`` (relative L2) or ``"h1"`` (relative H1), see :mod:`engine.surrogates.losses`;
        or a function ``loss(y_hat, y, *, reduction)`` like those. Validation uses the same loss.
    val_fraction
        Share of the training dataset held out (a seeded random split) when no validation
        dataset is given to :meth:`fit`; 0 for no validation.
    patience
        Stop after this many epochs without a validation loss lower than the best by more than
        ``min_delta``. With early stopping on, ``fit`` ends by putting back the best epoch's
        weights, whatever stopped it; without, the model keeps the last weights.
    min_delta
        How much lower a validation loss must be to count as better.
    seed
        Seeds Python's, numpy's and torch's generators when a fresh run starts; the validation
        split and each epoch's shuffling have their own generators derived from it, so they do
        not depend on anything else drawing random numbers.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    num_threads
        Torch CPU threads while fitting (restored afterwards); None leaves torch's setting.
    grad_clip
        Clip the gradients' global norm to this; None for no clipping.
    time_budget
        Seconds of training (batches, validation and checkpoints; not the setup) this ``fit``
        call may spend: before each batch after the first, stop if the last batch (and, before
        an epoch's last batch, the last validation) would take it past the budget, so a run
        ends within one batch of it. A run stopped mid-epoch has that epoch's batches so far in
        its weights but not in its history; a later ``fit`` or a resume continues the epoch.
    progress
        ``progress(fraction, message)``, now and then and after every epoch; the message gives
        the epoch, the losses and the time left.
    on_epoch
        ``on_epoch(record)`` after every epoch with the history record (for live loss curves).
    on_batch
        ``on_batch(epoch, batch, n_batches, loss)`` after every optimizer step.
    cancel
        Checked before every batch; once set, ``fit`` writes a checkpoint (with
        ``checkpoint_dir``) and raises :class:`engine.errors.Cancelled`.
    checkpoint_dir
        Folder for checkpoints: written every ``checkpoint_every`` epochs, at the end of
        ``fit`` and on cancel. Each write replaces the last.
    checkpoint_every
        Epochs between checkpoints.

    Notes
    -----
    On the CPU a run resumed from a checkpoint ends with the same weights as an uninterrupted
    one with the same settings. On CUDA some kernels are not deterministic, so runs agree only
    statistically unless torch's deterministic algorithms are switched on.

    Examples
    --------
    >>> from torch import nn
    >>> trainer = Trainer(SurrogateModel(nn.Conv2d(1, 1, 1)), epochs=5, scheduler="step", step_size=2, gamma=0.5)
    >>> [round(trainer.learning_rate_at(e) / trainer.learning_rate, 3) for e in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self,
        model: SurrogateModel,
        *,
        epochs: int = 100,
        batch_size: int = 16,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        optimizer: str = "adamw",
        scheduler: str = "cosine",
        warmup_epochs: int = 0,
        step_size: int | None = None,
        gamma: float = 0.5,
        loss: str | Callable[..., Tensor] = "l2",
        val_fraction: float = 0.1,
        patience: int | None = None,
        min_delta: float = 0.0,
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        grad_clip: float | None = None,
        time_budget: float | None = None,
        progress: ProgressCallback | None = None,
        on_epoch: EpochCallback | None = None,
        on_batch: BatchCallback | None = None,
        cancel: threading.Event | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1,
    ) -> None:
        if not isinstance(model, SurrogateModel):
            raise InputError(
                "the trainer needs a SurrogateModel", field="model", value=type(model).__name__,
                expected="SurrogateModel(model, input_normalizer, output_normalizer)",
            )
        _check_int("epochs", epochs, minimum=1)
        _check_int("batch_size", batch_size, minimum=1)
        _check_int("warmup_epochs", warmup_epochs, minimum=0)
        _check_int("checkpoint_every", checkpoint_every, minimum=1)
        _check_choice("optimizer", optimizer, _OPTIMIZERS)
        _check_choice("scheduler", scheduler, _SCHEDULERS)
        if step_size is not None:
            _check_int("step_size", step_size, minimum=1)
        if patience is not None:
            _check_int("patience", patience, minimum=1)
        if num_threads is not None:
            _check_int("num_threads", num_threads, minimum=1)
        _check_number("learning_rate", learning_rate, positive=True)
        _check_number("weight_decay", weight_decay)
        _check_number("gamma", gamma, positive=True)
        _check_number("min_delta", min_delta)
        if not 0.0 <= val_fraction < 1.0:
            raise InputError("validation share out of range", field="val_fraction", value=val_fraction, expected="0 <= val_fraction < 1")
        if grad_clip is not None:
            _check_number("grad_clip", grad_clip, positive=True)
        if time_budget is not None:
            _check_number("time_budget", time_budget, positive=True)
        self.loss_fn = get_loss(loss) if isinstance(loss, str) else loss
        if not callable(self.loss_fn):
            raise InputError("loss is neither a name nor a function", field="loss", value=loss, expected=f"one of {', '.join(map(repr, LOSSES))}")

        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.optimizer_name = optimizer
        self.scheduler_name = scheduler
        self.warmup_epochs = warmup_epochs
        self.step_size = step_size if step_size is not None else max(1, epochs // 4)
        self.gamma = float(gamma)
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")
        self.val_fraction = float(val_fraction)
        self.patience = patience
        self.min_delta = float(min_delta)
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.num_threads = num_threads
        self.grad_clip = grad_clip
        self.time_budget = time_budget
        self.progress = progress
        self.on_epoch = on_epoch
        self.on_batch = on_batch
        self.cancel = cancel
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_every = checkpoint_every

        self._optimizer: torch.optim.Optimizer | None = None
        self._scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self._state: _State | None = None
        self._best_weights: dict[str, Tensor] | None = None
        # The weights training left off with, kept while the best ones are in the model, so
        # that fitting again continues from where training was, not from the best epoch.
        self._last_weights: dict[str, Tensor] | None = None
        self._pending_rng: dict[str, Any] | None = None

    # -- configuration --

    def config(self) -> dict[str, Any]:
        """The settings that shape the run, as JSON-ready values (saved in checkpoints)."""
        return {
            "epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay, "optimizer": self.optimizer_name, "scheduler": self.scheduler_name,
            "warmup_epochs": self.warmup_epochs, "step_size": self.step_size, "gamma": self.gamma,
            "loss": self.loss_name, "val_fraction": self.val_fraction, "patience": self.patience,
            "min_delta": self.min_delta, "seed": self.seed, "grad_clip": self.grad_clip,
        }

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (counted from 0) under this schedule."""
        return self.learning_rate * _lr_factor(epoch, self.epochs, self.scheduler_name, self.warmup_epochs, self.step_size, self.gamma)

    # -- fitting --

    def fit(self, train_dataset: Dataset, val_dataset: Dataset | None = None) -> TrainingReport:
        """Train the model on ``train_dataset``; validate on ``val_dataset`` or a held-out share.

        Fits the normalisers on the training samples first unless the model says they are
        fitted. After :meth:`resume`, or after an earlier ``fit`` that stopped early on time
        or was cancelled, training continues where it stopped; give the same datasets.

        Returns
        -------
        TrainingReport

        Raises
        ------
        engine.errors.Cancelled
            Once ``cancel`` is set (after writing a checkpoint when ``checkpoint_dir`` is set).
        engine.errors.InputError
            For items that are not ``{"x", "y"}`` tensors, outputs shaped unlike the targets,
            or datasets other than those of the run being resumed.
        engine.errors.RunError
            When the loss stops being finite.
        """
        started = time.perf_counter()
        previous_threads = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            train, val = self._split(train_dataset, val_dataset)
            if self.patience is not None and val is None:
                raise InputError("early stopping needs validation data", field="patience", value=self.patience,
                                 expected="a validation dataset or val_fraction > 0")
            if not bool(self.model.normalizers_fitted):
                report(self.progress, 0.0, "fitting the normalisers")
                self.model.fit_normalizers(train, batch_size=max(64, self.batch_size), cancel=self.cancel)
            self._prepare()
            state = self._state_for(len(train_dataset), len(val) if val is not None else 0)
            self._restore_random_state()
            if state.stopped_reason != "early_stopping":
                if self._last_weights is not None:
                    self.model.load_state_dict(self._last_weights)
                    self._last_weights = None
                state.stopped_reason = self._train(train, val)
            if self.patience is not None and self._best_weights is not None:
                self._last_weights = _clone_state(self.model)
                self.model.load_state_dict(self._best_weights)
            if self.checkpoint_dir is not None:
                self.save_checkpoint()
            report(self.progress, 1.0, f"training stopped: {state.stopped_reason.replace('_', ' ')} after {state.epoch} epochs")
            return self._report(time.perf_counter() - started)
        finally:
            if self.num_threads is not None:
                torch.set_num_threads(previous_threads)

    def _split(self, dataset: Dataset, val_dataset: Dataset | None) -> tuple[Dataset, Dataset | None]:
        _check_item(dataset, "train_dataset")
        if val_dataset is not None:
            _check_item(val_dataset, "val_dataset")
            return dataset, val_dataset
        if self.val_fraction == 0.0:
            return dataset, None
        n = len(dataset)
        n_val = max(1, round(n * self.val_fraction))
        if n - n_val < 1:
            raise InputError("too few samples to hold some out for validation", field="train_dataset", value=n,
                             expected="at least 2 samples, or val_fraction=0, or a validation dataset")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        return Subset(dataset, order[n_val:]), Subset(dataset, order[:n_val])

    def _prepare(self) -> None:
        """Move the model to the device and build the optimizer and schedule, once."""
        if self._optimizer is not None:
            return
        self.model.to(self.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise InputError("the model has nothing to train", field="model", expected="a model with trainable parameters")
        optimizer_class = torch.optim.AdamW if self.optimizer_name == "adamw" else torch.optim.Adam
        self._optimizer = optimizer_class(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        epochs, name, warmup, step, gamma = self.epochs, self.scheduler_name, self.warmup_epochs, self.step_size, self.gamma

        # A plain function (not a bound method or a lambda on self) so that the scheduler's
        # state_dict holds numbers only.
        def factor(epoch: int) -> float:
            return _lr_factor(epoch, epochs, name, warmup, step, gamma)

        self._scheduler = torch.optim.lr_scheduler.LambdaLR(self._optimizer, factor)

    def _state_for(self, n_samples: int, n_val: int) -> _State:
        if self._state is None:
            # A fresh run: everything random from here on follows from the seed.
            _seed_everything(self.seed)
            self._state = _State(n_samples=n_samples, n_val=n_val)
        elif (self._state.n_samples, self._state.n_val) != (n_samples, n_val):
            raise InputError(
                "these datasets are not the ones of the run being continued", field="train_dataset",
                value=f"{n_samples} samples ({n_val} for validation)",
                expected=f"{self._state.n_samples} samples ({self._state.n_val} for validation)",
            )
        return self._state

    def _train(self, train: Dataset, val: Dataset | None) -> str:
        state, model, optimizer = self._state, self.model, self._optimizer
        assert state is not None and optimizer is not None and self._scheduler is not None
        n_train = len(train)
        n_batches = math.ceil(n_train / self.batch_size)
        total = self.epochs * n_batches
        clock = _Eta(done=state.epoch * n_batches + state.batch, total=total)
        # The budget counts epochs only: setup (fitting the normalisers, torch's one-off imports
        # when the first optimizer is built) would otherwise penalise whichever model runs first.
        started = time.perf_counter()
        last_batch_seconds: float | None = None
        validation_seconds = 0.0  # the last validation's: an epoch's last batch leaves room for it
        while state.epoch < self.epochs:
            epoch_started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            order = torch.randperm(n_train, generator=_epoch_generator(self.seed, state.epoch)).tolist()
            batches = [order[i : i + self.batch_size] for i in range(0, n_train, self.batch_size)]
            model.train()
            loader = iter(_loader(train, batch_sampler=batches[state.batch :], device=self.device))
            for index in range(state.batch, n_batches):
                self._check_cancel(epoch_started)
                if self.time_budget is not None:
                    spent = time.perf_counter() - started
                    room = last_batch_seconds + (validation_seconds if index == n_batches - 1 else 0.0) if last_batch_seconds is not None else 0.0
                    if last_batch_seconds is not None and spent + room > self.time_budget:
                        # Stopped between batches: a later fit (or a resume) continues this epoch.
                        state.epoch_seconds += time.perf_counter() - epoch_started
                        return "time_budget"
                    if self.scheduler_name == "cosine" and state.epoch >= self.warmup_epochs:
                        # whichever ends first, the budget or the epochs, ends the schedule
                        share = max(spent / self.time_budget, (state.epoch * n_batches + index) / (self.epochs * n_batches))
                        for group in optimizer.param_groups:
                            group["lr"] = self.learning_rate * _budget_cosine(share)
                    if index == state.batch:
                        lr = optimizer.param_groups[0]["lr"]
                batch_started = time.perf_counter()
                batch = next(loader)
                x, y, points = _to_device(batch, self.device)
                optimizer.zero_grad(set_to_none=True)
                prediction = model(x, **points)
                _check_output(prediction, y)
                loss = _loss(self.loss_fn, prediction, y, points)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise RunError(
                        f"the training loss became {value} in epoch {state.epoch + 1}, batch {index + 1}; "
                        "try a lower learning_rate or set grad_clip"
                    )
                loss.backward()
                if self.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                optimizer.step()
                state.train_loss_sum += value * len(x)
                state.train_count += len(x)
                state.batch = index + 1
                last_batch_seconds = time.perf_counter() - batch_started
                clock.step()
                if self.on_batch is not None:
                    self.on_batch(state.epoch + 1, index + 1, n_batches, value)
                if clock.due():
                    report(self.progress, clock.fraction, f"epoch {state.epoch + 1}/{self.epochs}: batch {index + 1}/{n_batches}, "
                           f"loss {value:.4g}, {clock.eta_text(self._budget_left(started))}")
            validation_started = time.perf_counter()
            val_loss = self._validate(val, epoch_started) if val is not None else None
            validation_seconds = time.perf_counter() - validation_started
            self._scheduler.step()
            state.epoch_seconds += time.perf_counter() - epoch_started
            record = {
                "epoch": state.epoch + 1,
                "train_loss": state.train_loss_sum / max(state.train_count, 1),
                "val_loss": val_loss,
                "lr": lr,
                "seconds": state.epoch_seconds,
            }
            state.history.append(record)
            state.epoch += 1
            state.batch, state.train_loss_sum, state.train_count, state.epoch_seconds = 0, 0.0, 0, 0.0
            stop = self._track_best(val_loss)
            if self.checkpoint_dir is not None and state.epoch % self.checkpoint_every == 0 and state.epoch < self.epochs and not stop:
                self.save_checkpoint()  # the final one is written by fit, with the stop reason
            if self.on_epoch is not None:
                self.on_epoch(dict(record))
            val_text = f", val {val_loss:.4g}" if val_loss is not None else ""
            report(self.progress, clock.fraction, f"epoch {state.epoch}/{self.epochs}: loss {record['train_loss']:.4g}{val_text}, "
                   f"{clock.eta_text(self._budget_left(started))}")
            if stop:
                return "early_stopping"
        return "completed"

    def _track_best(self, val_loss: float | None) -> bool:
        """Note a better validation loss; True when early stopping says stop."""
        state = self._state
        assert state is not None
        if val_loss is None:
            return False
        if state.best_val_loss is None or val_loss < state.best_val_loss - self.min_delta:
            state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, state.epoch, 0
            if self.patience is not None:
                self._best_weights = _clone_state(self.model)
            return False
        state.bad_epochs += 1
        return self.patience is not None and state.bad_epochs >= self.patience

    def _validate(self, val: Dataset, epoch_started: float) -> float:
        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in _loader(val, batch_size=self.batch_size, device=self.device):
                self._check_cancel(epoch_started)
                x, y, points = _to_device(batch, self.device)
                prediction = self.model(x, **points)
                _check_output(prediction, y)
                total += float(_loss(self.loss_fn, prediction, y, points, reduction="sum"))
                count += len(x)
        self.model.train()
        return total / count

    def _check_cancel(self, epoch_started: float) -> None:
        if self.cancel is None or not self.cancel.is_set():
            return
        state = self._state
        assert state is not None
        state.epoch_seconds += time.perf_counter() - epoch_started
        state.stopped_reason = "cancelled"
        if self.checkpoint_dir is not None:
            self.save_checkpoint()
        check_cancelled(self.cancel, "training")

    def _budget_left(self, started: float) -> float | None:
        return None if self.time_budget is None else max(0.0, self.time_budget - (time.perf_counter() - started))

    def _report(self, wall_time: float) -> TrainingReport:
        state = self._state
        assert state is not None
        parameters = sum(p.numel() * (2 if p.is_complex() else 1) for p in self.model.parameters() if p.requires_grad)
        return TrainingReport(
            epochs_run=state.epoch,
            best_epoch=state.best_epoch,
            history=[dict(r) for r in state.history],
            best_val_loss=state.best_val_loss,
            stopped_reason=state.stopped_reason or "completed",
            wall_time=wall_time,
            parameters=parameters,
        )

    # -- evaluation --

    def evaluate(self, dataset: Dataset) -> dict[str, Any]:
        """:func:`evaluate` the trained model on ``dataset`` with this trainer's batch size."""
        return evaluate(self.model, dataset, batch_size=self.batch_size)

    # -- checkpoints --

    def save_checkpoint(self, directory: str | Path | None = None) -> Path:
        """Write the run's full state to ``directory`` (default ``checkpoint_dir``); return it.

        Layout: ``model.safetensors`` (the weights training is at, normalisers included),
        ``best_model.safetensors`` (the best epoch's, with early stopping), ``optimizer.pt``
        (optimizer and schedule), ``rng.pt`` (random-number states), ``trainer_state.json``
        (progress and history) and, written last, the manifest ``checkpoint.json`` with the
        format version and every file's SHA-256. Each file is written atomically; a crash
        between them leaves a manifest whose checksums no longer match, which :meth:`resume`
        refuses rather than mixing two checkpoints.
        """
        if self._state is None or self._optimizer is None or self._scheduler is None:
            raise RunError("nothing to checkpoint yet: call fit or resume first")
        directory = Path(directory) if directory is not None else self.checkpoint_dir
        if directory is None:
            raise InputError("no checkpoint folder given", field="checkpoint_dir", expected="a folder path")
        weights = self._last_weights if self._last_weights is not None else self.model.state_dict()
        files = {"model": _save_tensors(weights, directory / _FILES["model"])}
        if self._best_weights is not None:
            files["best_model"] = _save_tensors(self._best_weights, directory / _FILES["best_model"])
        files["optimizer"] = _save_plain(
            {"optimizer": self._optimizer.state_dict(), "scheduler": self._scheduler.state_dict()}, directory / _FILES["optimizer"]
        )
        files["rng"] = _save_plain(_random_state(self.device), directory / _FILES["rng"])
        state_path = directory / _FILES["trainer_state"]
        atomic_write_text(state_path, json.dumps(_json_ready(dataclasses.asdict(self._state)), indent=1))
        files["trainer_state"] = _file_entry(state_path)
        manifest = {
            "format": _CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "workbench_version": __version__,
            "torch_version": torch.__version__,
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "epoch": self._state.epoch,
            "batch": self._state.batch,
            "stopped_reason": self._state.stopped_reason,
            "config": self.config(),
            "files": files,
        }
        atomic_write_text(directory / _MANIFEST, json.dumps(manifest, indent=1))
        return directory

    def resume(self, checkpoint_dir: str | Path) -> Trainer:
        """Load a checkpoint written by :meth:`save_checkpoint`; the next :meth:`fit` continues it.

        Restores the weights (normalisers included), the best weights, the optimizer, the
        schedule, the random-number states and the history. Build the trainer with the same
        settings as the interrupted one; the settings given here apply from now on.

        Returns
        -------
        Trainer
            This trainer.

        Raises
        ------
        engine.errors.InputError
            For a folder without a checkpoint, an unknown format version, files that changed
            since they were written, or files that are not what the workbench writes (nothing
            in them is ever executed).
        """
        directory = Path(checkpoint_dir)
        manifest = _read_manifest(directory)
        loader = _CHECKPOINT_LOADERS[manifest["format_version"]]
        loader(self, directory, manifest)
        return self

    def _load_v1(self, directory: Path, manifest: dict[str, Any]) -> None:
        files = manifest["files"]
        paths = {key: _verified_path(directory, files, key) for key in ("model", "optimizer", "rng", "trainer_state")}
        try:
            raw_state = json.loads(paths["trainer_state"].read_text(encoding="utf-8"))
            state = _State(**raw_state)
        except (ValueError, TypeError) as exc:
            raise InputError("unreadable trainer state", source=paths["trainer_state"], expected="the JSON a Trainer writes") from exc
        saved_batch_size = manifest.get("config", {}).get("batch_size")
        if state.batch > 0 and saved_batch_size != self.batch_size:
            raise InputError("the checkpoint stopped mid-epoch with another batch size", field="batch_size",
                             value=self.batch_size, expected=f"{saved_batch_size}, as when it was written")
        # Read and check every file before touching the model, so a refused checkpoint
        # leaves the trainer and the model as they were.
        weights = _load_tensors(paths["model"])
        # Best weights matter only to early stopping; without it they would go stale here.
        has_best = "best_model" in files and self.patience is not None
        best = _load_tensors(_verified_path(directory, files, "best_model")) if has_best else None
        plain = _load_plain(paths["optimizer"])
        rng = _load_plain(paths["rng"])
        if not isinstance(plain, dict) or not isinstance(rng, dict):
            raise InputError("unexpected training state", source=paths["optimizer"], expected="the dictionaries a Trainer writes")
        _load_weights(self.model, weights, source=paths["model"])
        self._optimizer = self._scheduler = None
        self._prepare()
        assert self._optimizer is not None and self._scheduler is not None
        try:
            self._optimizer.load_state_dict(plain["optimizer"])
            self._scheduler.load_state_dict(plain["scheduler"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputError("optimizer state does not fit this model or optimizer", source=paths["optimizer"],
                             expected=f"a checkpoint of this model trained with {self.optimizer_name!r}") from exc
        self._pending_rng = rng
        self._best_weights = {k: v.to(self.device) for k, v in best.items()} if best is not None else None
        self._last_weights = None
        self._state = state

    def _restore_random_state(self) -> None:
        if self._pending_rng is not None:
            _set_random_state(self._pending_rng, self.device)
            self._pending_rng = None


_CHECKPOINT_LOADERS: dict[int, Callable[[Trainer, Path, dict[str, Any]], None]] = {1: Trainer._load_v1}


# -- evaluation ------------------------------------------------------------------------------


def evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = 16) -> dict[str, Any]:
    """Score ``model`` on ``dataset``: relative L2 error per sample and summaries.

    The model runs in eval mode on the device its parameters are on (CPU for a model without
    any), without gradients; its mode is restored afterwards.

    Parameters
    ----------
    model
        Maps ``(B, C_in, H, W)`` to ``(B, C_out, H, W)`` physical values (a
        :class:`SurrogateModel`, normally).
    dataset
        Yields ``{"x", "y"}`` items.
    batch_size
        Samples per forward pass.

    Returns
    -------
    dict
        ``relative_l2`` (numpy array, one error per sample, in dataset order),
        ``mean_relative_l2``, ``median_relative_l2``, ``max_relative_l2``,
        ``mean_absolute_error`` (over every value of every sample), ``inference_ms_per_sample``
        (forward passes only, data loading excluded) and ``n_samples``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> data = [{"x": torch.ones(1, 4, 4), "y": 2 * torch.ones(1, 4, 4)}] * 3
    >>> scores = evaluate(nn.Identity(), data)
    >>> scores["relative_l2"].tolist(), scores["mean_absolute_error"]
    ([0.5, 0.5, 0.5], 1.0)
    """
    _check_int("batch_size", batch_size, minimum=1)
    _check_item(dataset, "dataset")
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    errors: list[np.ndarray] = []
    abs_sum, abs_count, seconds = 0.0, 0, 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in _loader(dataset, batch_size=batch_size, device=device):
                x, y, points = _to_device(batch, device)
                _synchronize(device)
                tic = time.perf_counter()
                prediction = model(x, **points)
                _synchronize(device)
                seconds += time.perf_counter() - tic
                _check_output(prediction, y)
                if points:
                    errors.append(quadrature_relative_l2_loss(prediction, y, points["weights"], reduction="none").double().cpu().numpy())
                    real = (points["weights"] > 0)[:, None, :].expand_as(y)
                    abs_sum += float((prediction - y).abs()[real].double().sum())
                    abs_count += int(real.sum())
                else:
                    errors.append(relative_lp_loss(prediction, y, reduction="none").double().cpu().numpy())
                    abs_sum += float((prediction - y).abs().double().sum())
                    abs_count += y.numel()
    finally:
        model.train(was_training)
    per_sample = np.concatenate(errors)
    return {
        "relative_l2": per_sample,
        "mean_relative_l2": float(per_sample.mean()),
        "median_relative_l2": float(np.median(per_sample)),
        "max_relative_l2": float(per_sample.max()),
        "mean_absolute_error": abs_sum / abs_count,
        "inference_ms_per_sample": 1000.0 * seconds / len(per_sample),
        "n_samples": len(per_sample),
    }


def evaluate_at_resolution(model: nn.Module, dataset_fine: Dataset, *, batch_size: int = 16) -> dict[str, Any]:
    """:func:`evaluate` on a dataset at another resolution than training's (resolution transfer).

    Nothing special happens: the model is simply run on the other grid. Neural operators with
    grid-independent weights (FNO and friends) accept any ``H, W``; the normalisers hold
    per-channel statistics, which do not depend on the grid either. A plain CNN also runs, but
    its kernels span fewer physical lengths on a finer grid, which is the point of comparing.
    The result adds ``grid`` (the targets' ``(H, W)``).
    """
    scores = evaluate(model, dataset_fine, batch_size=batch_size)
    scores["grid"] = tuple(int(n) for n in _as_tensor(dataset_fine[0]["y"]).shape[1:])
    return scores


# -- helpers: data ---------------------------------------------------------------------------


def _loader(dataset: Dataset, *, batch_size: int | None = None, batch_sampler: Sequence[Sequence[int]] | None = None,
            device: torch.device | None = None) -> DataLoader:
    # The loader's own generator keeps it from drawing its worker seed from torch's global
    # generator, which would make a resumed run's dropout masks differ from an uninterrupted
    # one. No worker processes: HDF5 handles do not survive forking, and the data are small.
    pin = device is not None and device.type == "cuda"
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, generator=torch.Generator(), pin_memory=pin, collate_fn=collate_points)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator(), pin_memory=pin, collate_fn=collate_points)


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))


def _check_item(dataset: Dataset, name: str) -> None:
    expected = 'items {"x": tensor (C_in, H, W), "y": tensor (C_out, H, W)}'
    try:
        n = len(dataset)
    except TypeError:
        raise InputError("not a dataset", field=name, value=type(dataset).__name__, expected=f"a sized dataset of {expected}") from None
    if n == 0:
        raise InputError("the dataset is empty", field=name, expected="at least one sample")
    item = dataset[0]
    if not isinstance(item, Mapping) or "x" not in item or "y" not in item:
        raise InputError("dataset items have the wrong form", field=f"{name}[0]", value=type(item).__name__, expected=expected)
    for key in ("x", "y"):
        if not isinstance(item[key], (Tensor, np.ndarray)) or np.ndim(item[key]) < 2:
            raise InputError("dataset items have the wrong form", field=f"{name}[0][{key!r}]",
                             value=tuple(np.shape(item[key])) if hasattr(item[key], "shape") else item[key], expected=expected)


def _to_device(batch: Mapping[str, Any], device: torch.device) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """``x``, ``y`` and, for a point batch, ``{"pos", "weights"}`` (empty for a grid batch)."""
    non_blocking = device.type == "cuda"
    moved = {}
    for key in ("x", "y", "pos", "weights"):
        if key in batch:
            value = _as_tensor(batch[key]).to(device, non_blocking=non_blocking)
            # Data stored as float64 (HDF5 defaults) would silently upcast the model's float32 math.
            moved[key] = value.float() if value.is_floating_point() and value.dtype != torch.float32 else value
    x, y = moved.pop("x"), moved.pop("y")
    return x, y, moved


def _loss(loss_fn: Callable[..., Tensor], prediction: Tensor, y: Tensor, points: Mapping[str, Tensor], **kw: Any) -> Tensor:
    """The loss of a batch: on points, weighted by the points' quadrature weights."""
    if not points:
        return loss_fn(prediction, y, **kw)
    if loss_fn is LOSSES["l2"]:
        return quadrature_relative_l2_loss(prediction, y, points["weights"], **kw)
    if loss_fn in LOSSES.values():
        raise InputError("this loss works on grids only", field="loss", value=loss_fn.__name__, expected="'l2' for data on meshes")
    return loss_fn(prediction, y, weights=points["weights"], **kw)


def _check_output(prediction: Tensor, y: Tensor) -> None:
    if prediction.shape != y.shape:
        raise InputError("the model's output is shaped unlike the targets", field="model",
                         value=tuple(prediction.shape), expected=f"{tuple(y.shape)} (B, C_out, H, W)")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- helpers: options ------------------------------------------------------------------------


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError("invalid setting", field=name, value=value, expected=f"an integer >= {minimum}")


def _check_number(name: str, value: Any, *, positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise InputError("invalid setting", field=name, value=value, expected="a number > 0" if positive else "a number >= 0")


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InputError("invalid setting", field=name, value=value, expected=f"one of {', '.join(map(repr, choices))}")


def _budget_cosine(spent: float) -> float:
    """The cosine schedule over a time budget: from 1 at the start to 0 when ``spent`` (a share
    of the budget, or of the epochs when they end first) reaches 1, so that a run cut by its
    budget ends annealed, not at full rate."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(spent, 0.0), 1.0)))


def _lr_factor(epoch: int, epochs: int, scheduler: str, warmup: int, step_size: int, gamma: float) -> float:
    if epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    if scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup) / max(1, epochs - warmup)))
    if scheduler == "step":
        return gamma ** ((epoch - warmup) // step_size)
    return 1.0


# -- helpers: randomness ---------------------------------------------------------------------


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for one epoch's shuffle, fixed by (seed, epoch) alone.

    A resumed run then shuffles its remaining epochs exactly as an uninterrupted one would,
    without replaying or saving the loader's state.
    """
    mixed = int(np.random.SeedSequence([seed % 2**32, epoch]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(mixed)


def _random_state(device: torch.device) -> dict[str, Any]:
    """Python's, numpy's and torch's generator states as tensors, numbers and lists only."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss_next": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_random_state(state: Mapping[str, Any], device: torch.device) -> None:
    try:
        torch.set_rng_state(state["torch"])
        python = state["python"]
        random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss_next"]))
        numpy = state["numpy"]
        np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"]))
        if device.type == "cuda" and "cuda" in state and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise InputError("unreadable random-number state in the checkpoint", field="rng", expected="the state a Trainer writes") from exc


# -- helpers: files --------------------------------------------------------------------------


def _clone_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _file_entry(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"path": path.name, "sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def _save_tensors(tensors: Mapping[str, Any], path: Path) -> dict[str, Any]:
    from safetensors.torch import save_file

    plain = {}
    for key, value in tensors.items():
        if not isinstance(value, Tensor):
            raise RunError(f"cannot save {key!r}: safetensors holds tensors only, got {type(value).__name__}")
        # Clones: safetensors refuses tensors that share memory (tied weights) or are views.
        plain[key] = value.detach().to("cpu").contiguous().clone()
    with atomic_path(path) as tmp:
        save_file(plain, str(tmp), metadata={"format": "pt", "workbench_format_version": str(CHECKPOINT_FORMAT_VERSION)})
    return _file_entry(path)


def _load_tensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError("not a safetensors weights file", source=path, expected="weights written by the workbench") from exc


def _load_weights(model: nn.Module, tensors: Mapping[str, Tensor], *, source: Path) -> None:
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise InputError("these weights do not fit this model", source=source,
                         expected="a checkpoint of the same model, built with the same settings",
                         hint=str(exc).splitlines()[0] if str(exc) else None) from exc


def _save_plain(obj: Any, path: Path) -> dict[str, Any]:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return _file_entry(path)


def _load_plain(path: Path) -> Any:
    # weights_only=True unpickles tensors, numbers, strings and containers and refuses any
    # other global, so a planted file cannot run code; never relax it to weights_only=False.
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling raises many types; all mean "not ours"
        raise InputError("refused to load a file that is not plain training state", source=path,
                         expected="tensors and numbers written by the workbench's Trainer",
                         hint="the file was replaced or corrupted; nothing in it was run") from exc


def _json_ready(value: Any) -> Any:
    # JSON has no NaN or infinity; None reads better in the history than a non-standard token.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / _MANIFEST
    expected = f"a folder holding the {_MANIFEST} a Trainer writes"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no checkpoint here", source=directory, expected=expected) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError("unreadable checkpoint manifest", source=path, expected=expected) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != _CHECKPOINT_FORMAT:
        raise InputError("not a surrogate checkpoint", source=path, value=manifest.get("format") if isinstance(manifest, dict) else manifest,
                         expected=repr(_CHECKPOINT_FORMAT))
    version = manifest.get("format_version")
    if version not in _CHECKPOINT_LOADERS:
        raise InputError("unsupported checkpoint format version", source=path, field="format_version", value=version,
                         expected=f"one of {sorted(_CHECKPOINT_LOADERS)}", hint="it may come from a newer workbench")
    if not isinstance(manifest.get("files"), dict):
        raise InputError("the checkpoint manifest lists no files", source=path, field="files", expected="a table of files")
    return manifest


def _verified_path(directory: Path, files: Mapping[str, Any], key: str) -> Path:
    """The path of the manifest's file ``key``, once its size and SHA-256 match."""
    entry = files.get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not isinstance(entry.get("sha256"), str):
        raise InputError("the checkpoint manifest lacks a file", source=directory / _MANIFEST, field=f"files.{key}",
                         expected="an entry with path and sha256")
    name = entry["path"]
    # Only plain names inside the folder: a manifest must not point the loader elsewhere.
    if Path(name).name != name or name in ("", ".", ".."):
        raise InputError("checkpoint file outside its folder", source=directory / _MANIFEST, field=f"files.{key}.path",
                         value=name, expected="a file name inside the checkpoint folder")
    path = directory / name
    if not path.is_file():
        raise InputError("checkpoint file missing", source=path, expected=f"the {key} file named in {_MANIFEST}")
    if _file_entry(path)["sha256"] != entry["sha256"]:
        raise InputError("checkpoint file changed since it was written (checksum mismatch)", source=path,
                         expected=f"the file {_MANIFEST} describes",
                         hint="the checkpoint is incomplete or was tampered with; resume from another one or start over")
    return path


class _Eta:
    """Counts batches and estimates the time left from this session's pace."""

    def __init__(self, *, done: int, total: int) -> None:
        self.start_done, self.done, self.total = done, done, total
        self.started = self.last_report = time.perf_counter()

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def step(self) -> None:
        self.done += 1

    def due(self, every: float = 0.5) -> bool:
        """True at most every ``every`` seconds: progress between epochs without flooding a GUI."""
        now = time.perf_counter()
        if now - self.last_report >= every:
            self.last_report = now
            return True
        return False

    def eta_text(self, budget_left: float | None) -> str:
        self.last_report = time.perf_counter()
        steps = self.done - self.start_done
        if steps == 0:
            return "ETA unknown"
        eta = (time.perf_counter() - self.started) / steps * (self.total - self.done)
        if budget_left is not None:
            eta = min(eta, budget_left)
        return f"ETA {_duration(eta)}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"
