"""Losses, the Trainer and its checkpoints, on tiny synthetic grid data (16x16, 48 samples)."""

from __future__ import annotations

import json
import math
import pickle
import random
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from engine.errors import Cancelled, InputError  # noqa: E402
from engine.surrogates.layers.normalizers import UnitGaussianNormalizer  # noqa: E402
from engine.surrogates.losses import get_loss, relative_h1_loss, relative_l2_loss, relative_lp_loss  # noqa: E402
from engine.surrogates.training import (  # noqa: E402
    CHECKPOINT_FORMAT_VERSION,
    SurrogateModel,
    Trainer,
    evaluate,
    evaluate_at_resolution,
)

SIZE = 16
# The operator to learn: one 3x3 stencil plus an offset, so a two-layer CNN can learn it in a
# few epochs and the output normaliser has a mean to find. Edges are replicated, in the data
# as in the network: unlike zero padding, that commutes with the normalisers' shift.
KERNEL = torch.tensor([[0.0, 0.5, 0.0], [0.5, -1.0, 0.5], [0.0, 0.5, 0.0]]).reshape(1, 1, 3, 3)


class GridPairs(Dataset):
    """``{"x": (1, H, W), "y": (1, H, W)}`` pairs: smooth random inputs, y = stencil(x) + 3."""

    def __init__(self, n: int = 48, size: int = SIZE, *, seed: int = 0, sign: float = 1.0) -> None:
        g = torch.Generator().manual_seed(seed)
        t = torch.linspace(0, 1, size)
        modes = torch.stack([torch.sin(math.pi * k * t) for k in range(1, 5)])  # (4, size)
        coeffs = torch.randn(n, 4, 4, generator=g)
        self.x = (torch.einsum("nkl,ki,lj->nij", coeffs, modes, modes) + 2.0).unsqueeze(1)
        self.y = sign * (F.conv2d(F.pad(self.x, (1, 1, 1, 1), mode="replicate"), KERNEL) * 4.0 + 3.0)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "y": self.y[i]}


class TinyNet(nn.Module):
    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.inp = nn.Conv2d(1, 8, 3, padding=1, padding_mode="replicate")
        self.drop = nn.Dropout2d(dropout)
        self.out = nn.Conv2d(8, 1, 3, padding=1, padding_mode="replicate")

    def forward(self, x):
        return self.out(self.drop(F.gelu(self.inp(x))))


def tiny_model(*, seed: int = 0, dropout: float = 0.0) -> SurrogateModel:
    torch.manual_seed(seed)
    return SurrogateModel(TinyNet(dropout), UnitGaussianNormalizer(1), UnitGaussianNormalizer(1))


FAST = {"batch_size": 8, "learning_rate": 1e-2, "device": "cpu", "num_threads": 1}


def same_weights(a: nn.Module, b: nn.Module, atol: float = 1e-6) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.allclose(sa[k].float(), sb[k].float(), rtol=0, atol=atol) for k in sa)


def losses_of(report) -> list:
    return [v for r in report.history for v in (r["epoch"], r["train_loss"], r["val_loss"] or 0.0, r["lr"])]


# -- losses ----------------------------------------------------------------------------------


def test_relative_l2_is_one_for_twice_the_target_and_zero_for_equal():
    y = torch.randn(4, 2, SIZE, SIZE)
    assert relative_l2_loss(2 * y, y).item() == pytest.approx(1.0)
    assert relative_l2_loss(y, y).item() == 0.0
    per_sample = relative_lp_loss(y * torch.tensor([1.0, 2.0, 3.0, 0.5]).view(4, 1, 1, 1), y, reduction="none")
    assert per_sample.tolist() == pytest.approx([0.0, 1.0, 2.0, 0.5])
    assert relative_h1_loss(y, y).item() == 0.0


def test_h1_penalises_a_high_frequency_perturbation_more_than_l2():
    t = torch.linspace(0, 1, SIZE)
    y = (1 + t[:, None] + t[None, :] ** 2).expand(1, 1, SIZE, SIZE)
    high = torch.sin(math.pi * 12 * t)[None, :] * torch.sin(math.pi * 11 * t)[:, None]
    low = torch.sin(math.pi * t)[None, :] * torch.sin(math.pi * t)[:, None]
    high = 0.01 * high / high.norm()
    low = 0.01 * low / low.norm()  # same L2 size as the wiggle
    l2_high, l2_low = relative_l2_loss(y + high, y), relative_l2_loss(y + low, y)
    h1_high, h1_low = relative_h1_loss(y + high, y), relative_h1_loss(y + low, y)
    assert l2_high.item() == pytest.approx(l2_low.item(), rel=1e-4)
    assert h1_high > 5 * h1_low
    assert h1_high > 5 * l2_high


def test_unknown_loss_is_an_input_error():
    assert get_loss("h1") is relative_h1_loss
    with pytest.raises(InputError, match="unknown loss"):
        Trainer(tiny_model(), loss="l3")


# -- training --------------------------------------------------------------------------------


def test_short_training_lowers_the_validation_loss_and_reports_progress():
    messages, epochs, batches = [], [], []
    trainer = Trainer(tiny_model(), epochs=25, val_fraction=0.25, progress=lambda f, m: messages.append((f, m)),
                      on_epoch=epochs.append, on_batch=lambda *args: batches.append(args), **FAST)
    report = trainer.fit(GridPairs())
    first, last = report.history[0]["val_loss"], report.history[-1]["val_loss"]
    assert last < 0.2 * first, (first, last)
    assert report.stopped_reason == "completed" and report.epochs_run == 25 and len(report.history) == 25
    assert report.best_val_loss == min(r["val_loss"] for r in report.history)
    assert report.parameters == sum(p.numel() for p in trainer.model.parameters())
    assert set(report.history[0]) == {"epoch", "train_loss", "val_loss", "lr", "seconds"}
    json.dumps(report.to_dict())  # the GUI and the benchmarks store it as is
    assert len(epochs) == 25 and epochs[-1] == report.history[-1]
    assert len(batches) == 25 * 5 and batches[0][:3] == (1, 1, 5)  # 36 training samples, batches of 8
    assert messages[-1][0] == 1.0
    epoch_messages = [m for _, m in messages if m.startswith("epoch 25/25")]
    assert epoch_messages and "val" in epoch_messages[0] and "ETA" in epoch_messages[0]
    assert all(0.0 <= f <= 1.0 for f, _ in messages)


def test_normalizers_are_fitted_on_the_training_data_and_saved(tmp_path):
    data, val = GridPairs(32), GridPairs(8, seed=1)
    model = tiny_model()
    Trainer(model, epochs=1, checkpoint_dir=tmp_path, **FAST).fit(data, val)
    state = model.state_dict()
    assert bool(state["normalizers_fitted"])
    assert state["input_normalizer.mean"].flatten().item() == pytest.approx(data.x.mean().item(), rel=1e-5)
    assert state["output_normalizer.std"].flatten().item() == pytest.approx(data.y.std(unbiased=False).item(), rel=1e-5)

    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "model.safetensors"))
    rebuilt = tiny_model(seed=5)
    rebuilt.load_state_dict(saved)
    with torch.no_grad():
        assert torch.equal(rebuilt(val.x), model(val.x))

    # Already fitted (here by hand): the trainer leaves the statistics alone.
    fixed = SurrogateModel(TinyNet(), UnitGaussianNormalizer(1), UnitGaussianNormalizer(1), normalizers_fitted=True)
    fixed.output_normalizer.mean.fill_(7.0)
    Trainer(fixed, epochs=1, **FAST).fit(data, val)
    assert fixed.output_normalizer.mean.item() == 7.0


def test_a_normalizer_with_the_wrong_channel_count_is_refused():
    model = SurrogateModel(TinyNet(), UnitGaussianNormalizer(3), UnitGaussianNormalizer(1))
    with pytest.raises(InputError, match="input_normalizer"):
        Trainer(model, epochs=1, **FAST).fit(GridPairs(8))


def test_early_stopping_restores_the_best_epoch():
    # Validation targets with the opposite sign: learning the training task makes them worse.
    train, val = GridPairs(32), GridPairs(16, seed=1, sign=-1.0)
    model = tiny_model()
    trainer = Trainer(model, epochs=50, patience=3, **FAST)
    report = trainer.fit(train, val)
    assert report.stopped_reason == "early_stopping"
    assert report.epochs_run == report.best_epoch + 3 < 50
    assert report.best_val_loss == min(r["val_loss"] for r in report.history)
    # The model now holds the best epoch's weights, not the last ones.
    assert evaluate(model, val)["mean_relative_l2"] == pytest.approx(report.best_val_loss, rel=1e-5)
    assert report.history[-1]["val_loss"] > report.best_val_loss


def test_time_budget_holds_within_a_batch_and_the_cosine_follows_it(tmp_path):
    budget = 1.0
    trainer = Trainer(tiny_model(), epochs=100_000, time_budget=budget, checkpoint_dir=tmp_path, checkpoint_every=1000, **FAST)
    report = trainer.fit(GridPairs())
    assert report.stopped_reason == "time_budget"
    assert 1 <= report.epochs_run < 100_000 and len(report.history) == report.epochs_run
    # Batches take milliseconds: stopping before the one that would overrun keeps within budget.
    assert sum(r["seconds"] for r in report.history) <= budget + 0.2  # slack for a loaded CI machine
    # The schedule spans the budget, not the 100 000 epochs: the run ends annealed.
    rates = [r["lr"] for r in report.history]
    assert rates[0] == pytest.approx(FAST["learning_rate"], rel=0.05) and rates[-1] < 0.1 * FAST["learning_rate"]
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    assert manifest["stopped_reason"] == "time_budget" and manifest["epoch"] == report.epochs_run
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def cancel_at(event: threading.Event, epoch: int, batch: int):
    def on_batch(e, b, n, loss):
        if (e, b) == (epoch, min(batch, n)):
            event.set()

    return on_batch


def test_cancel_raises_cancelled_and_leaves_a_checkpoint(tmp_path):
    cancel = threading.Event()
    trainer = Trainer(tiny_model(), epochs=5, cancel=cancel, on_batch=cancel_at(cancel, 2, 2), checkpoint_dir=tmp_path, **FAST)
    with pytest.raises(Cancelled):
        trainer.fit(GridPairs())
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    assert manifest["format_version"] == CHECKPOINT_FORMAT_VERSION
    assert (manifest["epoch"], manifest["batch"], manifest["stopped_reason"]) == (1, 2, "cancelled")
    assert sorted(manifest["files"]) == ["model", "optimizer", "rng", "trainer_state"]
    assert all((tmp_path / entry["path"]).is_file() for entry in manifest["files"].values())
    assert not list(tmp_path.glob(".*part*"))  # no temporary files left behind


@pytest.mark.parametrize("batch", [2, 99], ids=["mid-epoch", "during-validation"])
def test_resume_after_an_interruption_reproduces_the_uninterrupted_run(tmp_path, batch):
    # Dropout and a warm-up + cosine schedule: the random-number and schedule states matter.
    settings = dict(epochs=4, warmup_epochs=1, scheduler="cosine", val_fraction=0.25, seed=3, **FAST)
    data = GridPairs(40)

    straight = tiny_model(dropout=0.2)
    expected = Trainer(straight, **settings).fit(data)

    cancel = threading.Event()
    interrupted = Trainer(tiny_model(dropout=0.2), cancel=cancel, on_batch=cancel_at(cancel, 3, batch),
                          checkpoint_dir=tmp_path, **settings)
    with pytest.raises(Cancelled):
        interrupted.fit(data)
    # Whatever ran in between draws random numbers; the resumed run must not notice.
    torch.rand(100), np.random.rand(10), random.random()

    resumed_model = tiny_model(seed=99, dropout=0.2)  # other initial weights: all come from the checkpoint
    report = Trainer(resumed_model, checkpoint_dir=tmp_path, **settings).resume(tmp_path).fit(data)
    assert same_weights(resumed_model, straight)
    assert losses_of(report) == pytest.approx(losses_of(expected), rel=1e-6)
    assert report.stopped_reason == "completed" and report.epochs_run == 4

    # Resuming a finished run trains no further and gives the same model back.
    again_model = tiny_model(seed=7, dropout=0.2)
    again = Trainer(again_model, **settings).resume(tmp_path).fit(data)
    assert again.epochs_run == 4 and same_weights(again_model, straight, atol=0)


def test_resume_with_early_stopping_keeps_training_from_the_last_weights(tmp_path):
    # Validation gets worse as training improves, so the best weights (put in the model at
    # the end of every fit) differ from the last ones, from which training must continue.
    train, val = GridPairs(24), GridPairs(8, seed=1, sign=-1.0)
    # (a schedule by epochs: under a budget the cosine would follow the clock instead)
    settings = dict(epochs=6, patience=50, scheduler="step", **FAST)
    straight = tiny_model()
    expected = Trainer(straight, **settings).fit(train, val)
    assert expected.best_epoch < 6

    # A budget no batch fits in: each fit runs one batch (nothing to estimate from yet), then
    # stops; three batches make an epoch.
    stopping = Trainer(tiny_model(), time_budget=1e-9, checkpoint_dir=tmp_path, **settings)
    reports = [stopping.fit(train, val) for _ in range(12)]
    assert [r.epochs_run for r in reports[2::3]] == [1, 2, 3, 4] and reports[1].epochs_run == 0
    assert reports[8].best_epoch < 3  # so the fits of epoch 4 had to put the last weights back first
    resumed = tiny_model(seed=4)
    report = Trainer(resumed, **settings).resume(tmp_path).fit(train, val)
    assert same_weights(resumed, straight)
    assert losses_of(report) == pytest.approx(losses_of(expected), rel=1e-6)


def make_checkpoint(root: Path) -> Path:
    folder = root / "checkpoint"
    Trainer(tiny_model(), epochs=1, checkpoint_dir=folder, **FAST).fit(GridPairs(16))
    return folder


class Planted:
    """Runs code when unpickled: creates the sentinel file."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


def rewrite_checksum(folder: Path, key: str) -> None:
    """What an attacker who controls the folder does: make the manifest match the planted file."""
    import hashlib

    manifest = json.loads((folder / "checkpoint.json").read_text())
    entry = manifest["files"][key]
    entry["sha256"] = hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest()
    (folder / "checkpoint.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_planted_pickle_is_refused_without_running_it(tmp_path, writer):
    folder = make_checkpoint(tmp_path)
    sentinel = tmp_path / "pwned"
    target = folder / "optimizer.pt"
    if writer == "pickle":
        target.write_bytes(pickle.dumps(Planted(sentinel), protocol=2))
    else:
        torch.save({"optimizer": Planted(sentinel)}, target)
    rewrite_checksum(folder, "optimizer")
    model = tiny_model(seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InputError, match="refused") as info:
        Trainer(model, **FAST).resume(folder)
    assert info.value.source == str(target)
    assert not sentinel.exists()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_checkpoint_files_are_checked_before_use(tmp_path):
    original = make_checkpoint(tmp_path)

    def broken(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(original, folder)
        return folder

    changed = broken("changed")
    (changed / "rng.pt").write_bytes(b"not what was written")
    with pytest.raises(InputError, match="checksum mismatch"):
        Trainer(tiny_model(), **FAST).resume(changed)

    garbage = broken("garbage-weights")
    (garbage / "model.safetensors").write_bytes(b"\x00" * 64)
    rewrite_checksum(garbage, "model")
    with pytest.raises(InputError, match="not a safetensors"):
        Trainer(tiny_model(), **FAST).resume(garbage)

    future = broken("future")
    manifest = json.loads((future / "checkpoint.json").read_text())
    (future / "checkpoint.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(InputError, match="format version"):
        Trainer(tiny_model(), **FAST).resume(future)

    escape = broken("escape")
    manifest["files"]["rng"]["path"] = "../changed/rng.pt"
    (escape / "checkpoint.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="outside its folder"):
        Trainer(tiny_model(), **FAST).resume(escape)

    foreign = broken("foreign")
    (foreign / "checkpoint.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable checkpoint manifest"):
        Trainer(tiny_model(), **FAST).resume(foreign)

    with pytest.raises(InputError, match="no checkpoint here"):
        Trainer(tiny_model(), **FAST).resume(tmp_path / "nowhere")

    other_model = SurrogateModel(nn.Conv2d(1, 1, 1), UnitGaussianNormalizer(1), UnitGaussianNormalizer(1))
    with pytest.raises(InputError, match="do not fit this model"):
        Trainer(other_model, **FAST).resume(original)


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    data = GridPairs(32)
    runs = []
    for seed in (0, 0, 1):
        model = tiny_model(dropout=0.1)
        runs.append((model, Trainer(model, epochs=3, seed=seed, **FAST).fit(data)))
    (a, ra), (b, rb), (c, rc) = runs
    assert same_weights(a, b, atol=0) and losses_of(ra) == losses_of(rb)
    assert not same_weights(a, c)


def test_learning_rate_schedules():
    def lrs(**options):
        report = Trainer(tiny_model(), epochs=4, val_fraction=0, **{**FAST, **options}).fit(GridPairs(8))
        return [r["lr"] for r in report.history]

    assert lrs(scheduler="step", step_size=2, gamma=0.5) == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3])
    assert lrs(scheduler="none", optimizer="adam") == pytest.approx([1e-2] * 4)
    cosine = lrs(scheduler="cosine", warmup_epochs=1)
    assert cosine == pytest.approx([5e-3, 1e-2, 1e-2 * 0.75, 1e-2 * 0.25])


def test_bad_settings_are_input_errors():
    with pytest.raises(InputError, match="optimizer"):
        Trainer(tiny_model(), optimizer="sgd")
    with pytest.raises(InputError, match="SurrogateModel"):
        Trainer(TinyNet())
    with pytest.raises(InputError, match="early stopping needs validation"):
        Trainer(tiny_model(), patience=2, val_fraction=0, **FAST).fit(GridPairs(8))
    with pytest.raises(InputError, match="wrong form"):
        Trainer(tiny_model(), **FAST).fit([(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4))] * 4)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            Trainer(tiny_model(), device="cuda")


def test_evaluate_returns_per_sample_errors():
    data = GridPairs(6)
    data.y = data.x * torch.arange(1.0, 7.0).view(6, 1, 1, 1)  # sample i predicted i+1 times too small
    identity = SurrogateModel(nn.Identity())
    scores = evaluate(identity, data, batch_size=4)
    expected = np.array([i / (i + 1) for i in range(6)])
    assert scores["relative_l2"].shape == (6,)
    np.testing.assert_allclose(scores["relative_l2"], expected, rtol=1e-6)
    assert scores["mean_relative_l2"] == pytest.approx(expected.mean())
    assert scores["median_relative_l2"] == pytest.approx(np.median(expected))
    assert scores["max_relative_l2"] == pytest.approx(expected.max())
    assert scores["mean_absolute_error"] == pytest.approx((data.y - data.x).abs().mean().item(), rel=1e-6)
    assert scores["inference_ms_per_sample"] >= 0 and scores["n_samples"] == 6

    fine = evaluate_at_resolution(identity, GridPairs(3, size=32))
    assert fine["grid"] == (32, 32) and fine["relative_l2"].shape == (3,)


def test_the_model_zoo_fno_trains_resumes_and_transfers_resolution(tmp_path):
    models = pytest.importorskip("engine.surrogates.models")
    config = {"width": 8, "modes1": 4, "modes2": 4, "n_layers": 2, "projection_width": 16}

    def fno() -> SurrogateModel:
        torch.manual_seed(0)
        return SurrogateModel(models.build_model("fno", config), UnitGaussianNormalizer(1), UnitGaussianNormalizer(1))

    data = GridPairs(24)
    settings = dict(epochs=3, val_fraction=0.25, **FAST)
    straight = fno()
    report = Trainer(straight, **settings).fit(data)
    assert report.history[-1]["val_loss"] < report.history[0]["val_loss"]

    cancel = threading.Event()
    with pytest.raises(Cancelled):
        Trainer(fno(), cancel=cancel, on_batch=cancel_at(cancel, 2, 1), checkpoint_dir=tmp_path, **settings).fit(data)
    resumed = fno()
    Trainer(resumed, **settings).resume(tmp_path).fit(data)
    assert same_weights(resumed, straight)

    fine = evaluate_at_resolution(straight, GridPairs(4, size=32, seed=2))
    assert fine["grid"] == (32, 32) and np.isfinite(fine["relative_l2"]).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_and_resuming_on_cuda(tmp_path):
    data = GridPairs(24)
    settings = dict(epochs=3, batch_size=8, learning_rate=1e-2, device="cuda", val_fraction=0.25)
    model = tiny_model(dropout=0.1)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        Trainer(model, cancel=cancel, on_batch=cancel_at(cancel, 2, 1), checkpoint_dir=tmp_path, **settings).fit(data)
    resumed = tiny_model(seed=1, dropout=0.1)
    report = Trainer(resumed, **settings).resume(tmp_path).fit(data)
    assert report.epochs_run == 3 and next(resumed.parameters()).is_cuda
    assert evaluate(resumed, data)["relative_l2"].shape == (24,)
