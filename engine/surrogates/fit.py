"""Train a surrogate on a data set file and save it, with its card, as a library model: the job
behind ``workbench train``.

The steps of ``resources/models/train_darcy_surrogate.py`` in one call: open the data set, build
the model from the registry, train it with :class:`~engine.surrogates.training.Trainer` (a
validation split held out), score it on that split, and write weights + card.

Examples
--------
>>> import tempfile, pathlib
>>> from engine.surrogates.datasets import generate_dataset
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = generate_dataset({"version": 1, "name": "tiny", "resolution": 17, "n_samples": 12, "seed": 0}, tmp / "d.h5", scheduler="synchronous")
>>> folder, card = train_surrogate(tmp / "d.h5", model="fno", config={"modes1": 4, "modes2": 4, "width": 8}, out=tmp / "m", epochs=2)
>>> card.model, card.grid["resolution"], sorted(p.name for p in folder.iterdir())
('fno', 17, ['card.json', 'weights.safetensors'])
"""

from __future__ import annotations

import hashlib
import json
import threading
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.solver import ProgressCallback

__all__ = ["train_surrogate", "train_from_study", "read_config"]


def read_config(config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """A model config given as a mapping, a JSON or TOML file, or a JSON string (``'{"width": 8}'``)."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    text = str(config)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"the config is not valid JSON ({exc})", field="config", value=text, expected='a JSON object such as {"width": 8}') from None
    else:
        path = Path(text)
        if not path.is_file():
            raise InputError("file not found", source=path, field="config", expected="a model config file (.json or .toml) or a JSON object")
        try:
            raw = path.read_text(encoding="utf-8")
            data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"cannot read the config ({exc})", source=path, expected="a JSON or TOML table of model options") from None
    if not isinstance(data, dict):
        raise InputError("the config is not a table", field="config", value=data, expected="a JSON object or TOML table of model options")
    return data


def train_surrogate(
    dataset: str | Path,
    *,
    model: str = "fno",
    config: Mapping[str, Any] | str | Path | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    epochs: int = 50,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    val_fraction: float = 0.1,
    time_budget: float | None = None,
    seed: int = 0,
    outputs: list[str] | None = None,
    grid_resolution: int = 64,
    num_threads: int | None = None,
    progress: ProgressCallback | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    cancel: threading.Event | None = None,
):
    """Train ``model`` on a data set file and save it as a model folder (weights + card).

    Parameters
    ----------
    dataset
        A complete data set written by :func:`~engine.surrogates.datasets.generate_dataset`.
    model, config
        Registry name (``fno``, ``ffno``, ``mgno``, ``unet``, ``deeponet``) and its options
        (a mapping, a JSON/TOML file or a JSON string; channels are set from the data).
    out, name
        Where to save: a folder, or a name in the user's model library
        (:func:`~engine.surrogates.library.user_library`); exactly one of them.
    epochs, batch_size, learning_rate, val_fraction, time_budget, seed
        Passed to the :class:`~engine.surrogates.training.Trainer`; the validation split is
        also what the card's ``validation_relative_l2`` is measured on.
    outputs
        Mesh data sets: the output fields to learn (default all the data set holds).
    grid_resolution
        Mesh data sets and a grid model: the masked grid's points per side over each sample's
        bounding box (:mod:`engine.surrogates.models.masked_grid`).
    num_threads
        Torch CPU threads while training (the Trainer's; restored afterwards); None leaves
        torch's setting.
    progress, cancel
        As everywhere in the engine; a cancelled training saves nothing.
    on_epoch
        ``on_epoch(record)`` after every epoch with its losses (``epoch``, ``train_loss``,
        ``val_loss``, ``lr``, ``seconds``): what live loss curves draw.

    Returns
    -------
    (Path, Card)
        The model folder and its card.
    """
    from engine.result import software_versions
    from engine.surrogates.datasets import open_dataset
    from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
    from engine.surrogates.library import Card, check_library_name, save_surrogate, user_library
    from engine.surrogates.models import build_model, count_parameters
    from engine.surrogates.training import SurrogateModel, Trainer, evaluate

    if (out is None) == (name is None):
        raise InputError("say where to save the model", field="out/name", value={"out": out, "name": name}, expected="either an output folder or a library name, not both")
    if name is not None:
        check_library_name(name)
    folder = Path(out) if out is not None else user_library() / str(name)
    from engine.surrogates.models import MESH_MODELS

    trainer_options = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, num_threads=num_threads,
                           time_budget=time_budget, progress=progress, on_epoch=on_epoch, cancel=cancel)
    if model in MESH_MODELS or _is_mesh_dataset(dataset):
        resolution = None if model in MESH_MODELS else grid_resolution
        options = read_config(config)
        if model == "deeponet":  # its branch reads the masked grid
            options.setdefault("grid_size", [grid_resolution, grid_resolution])
        return _train_on_points(dataset, folder, model, options, outputs, val_fraction, trainer_options, resolution)
    data = open_dataset(dataset)
    options = read_config(config) | {"in_channels": len(data.input_names), "out_channels": len(data.output_names)}
    if model == "deeponet":
        options.setdefault("grid_size", list(data.inputs.shape[2:]))
    network = build_model(model, options)
    surrogate = SurrogateModel(network, UnitGaussianNormalizer(len(data.input_names)), UnitGaussianNormalizer(len(data.output_names)))
    train_ids, val_ids = data.split(val_fraction, seed=seed)
    trainer = Trainer(
        surrogate,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        val_fraction=0.0,
        seed=seed,
        num_threads=num_threads,
        time_budget=time_budget,
        progress=progress,
        on_epoch=on_epoch,
        cancel=cancel,
    )
    val = data.torch_dataset(val_ids) if len(val_ids) else None
    report = trainer.fit(data.torch_dataset(train_ids), val)
    scores = evaluate(surrogate, val) if val is not None else {}
    recipe = data.recipe
    card = Card(
        name=folder.name,
        model=model,
        config=network.config.to_dict(),
        physics={
            "kind": "diffusion",
            "equation": "-div(k grad u) = f on the unit square",
            "boundary": "dirichlet_zero",
            "constants": {"physics.f": float(recipe.f)},
            "input_coefficients": {"k": "physics.k"},
        },
        inputs=list(data.input_names),
        outputs=list(data.output_names),
        grid={"resolution": int(data.inputs.shape[-1]), "domain": [[0.0, 1.0], [0.0, 1.0]]},
        training_ranges={n: [float(data.inputs[:, i].min()), float(data.inputs[:, i].max())] for i, n in enumerate(data.input_names)},
        dataset={
            "recipe": json.loads(recipe.to_json()),
            "path": str(Path(dataset)),
            "samples": len(train_ids),
            "checksum": data.checksum,
            "sha256": hashlib.sha256(data.inputs[train_ids].tobytes() + data.outputs[train_ids].tobytes()).hexdigest(),
        },
        metrics={
            **({"validation_relative_l2": float(scores["mean_relative_l2"]), "validation_samples": len(val_ids)} if scores else {}),
            "parameters": count_parameters(network),
        },
        training=report.to_dict() | {"time_budget": time_budget, "batch_size": batch_size, "learning_rate": learning_rate},
        versions=software_versions(),
    )
    return save_surrogate(folder, surrogate, card), card


def _is_mesh_dataset(path: str | Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            from engine.surrogates.data.store import MESH_FORMAT

            return h5.attrs.get("format") == MESH_FORMAT
    except OSError:
        return False  # open_dataset says what is wrong with it


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _train_on_points(dataset, folder: Path, model: str, options: dict[str, Any], outputs, val_fraction: float, trainer_options: dict[str, Any],
                     grid_resolution: int | None = None):
    """Train a mesh model, or a grid model through the masked grid (``grid_resolution``), on the
    samples of a mesh data set (or a grid data set as mesh samples)."""
    import numpy as np
    import torch

    from engine.result import software_versions
    from engine.surrogates.adapters import case_fingerprint
    from engine.surrogates.data.points import PointSamples
    from engine.surrogates.data.store import open_mesh_dataset
    from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
    from engine.surrogates.library import Card, save_surrogate
    from engine.surrogates.models import build_model, count_parameters
    from engine.surrogates.models.masked_grid import MaskedGrid
    from engine.surrogates.training import SurrogateModel, Trainer

    if not 0.0 <= val_fraction < 1.0:
        raise InputError("validation share out of range", field="val_fraction", value=val_fraction, expected="0 <= val_fraction < 1")
    from engine.surrogates.library import MAX_RESOLUTION, MIN_RESOLUTION

    if grid_resolution is not None and not (isinstance(grid_resolution, int) and MIN_RESOLUTION <= grid_resolution <= MAX_RESOLUTION):
        raise InputError("the masked grid's resolution is out of range", field="grid_resolution", value=grid_resolution,
                         expected=f"an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION}: grid points per side")
    if outputs is not None and (not outputs or len(set(outputs)) != len(outputs)):
        raise InputError("the output fields must be distinct and at least one", field="outputs", value=list(outputs), expected="field names such as displacement,von_mises")
    data = open_mesh_dataset(dataset)
    n = len(data)
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0  # as the Trainer's own split
    if n - n_val < 1 or (val_fraction > 0 and n_val < 1):
        raise InputError("too few samples to train and validate on", field="dataset", value=n, expected="at least 2 samples, or val_fraction = 0")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(trainer_options["seed"]))).tolist()
    train = PointSamples(data, order[n_val:], outputs, grid_resolution)
    val = PointSamples(data, order[:n_val], train.output_fields, grid_resolution) if n_val else None
    options = options | {"in_channels": len(train.input_names), "out_channels": len(train.output_names)}
    network = build_model(model, options)
    wrapped = network if grid_resolution is None else MaskedGrid(network)
    surrogate = SurrogateModel(wrapped, UnitGaussianNormalizer(len(train.input_names)), UnitGaussianNormalizer(len(train.output_names)))
    report = Trainer(surrogate, val_fraction=0.0, **trainer_options).fit(train, val)
    scores = field_errors(surrogate, val) if val is not None else {}

    first = train.sample(0)
    parameters: dict[str, list[float]] = {}
    ranges: dict[str, list[float]] = {}
    for i in range(len(train)):
        sample = train.sample(i)
        for key, value in sample.parameters.items():
            low, high = parameters.get(key, [value, value])
            parameters[key] = [min(low, value), max(high, value)]
        # value channels only: geometry channels change with the geometry, which the parameters cover
        for key, values in sample.inputs.items():
            if key.startswith("coef.") or (key.startswith("bc.") and key.count(".") >= 2):
                low, high = ranges.get(key, [float(values.min()), float(values.max())])
                ranges[key] = [min(low, float(values.min())), max(high, float(values.max()))]
    description = data.description
    case_document = description.get("case") or {}
    card = Card(
        name=folder.name,
        model=model,
        config=network.config.to_dict(),
        physics={"kind": data.physics},
        inputs=list(train.input_names),
        outputs=list(train.output_names),
        adapter="points" if grid_resolution is None else "masked_grid",
        grid=None if grid_resolution is None else {"resolution": int(grid_resolution)},
        fingerprint=case_fingerprint(case_document, list(first.mesh.regions)),
        parameters=parameters,
        training_ranges=ranges,
        dataset={
            "path": str(Path(dataset)),
            "sha256": _file_sha256(Path(dataset)),
            "samples": len(train),
            "study": (description.get("study") or {}).get("name"),
            "fields": list(train.output_fields),
        },
        metrics={
            **({"validation_relative_l2": float(np.mean(scores["relative_l2"])), "validation_samples": len(val),
                "validation_relative_l2_by_field": scores["by_field"]} if scores else {}),
            "parameters": count_parameters(network),
        },
        training=report.to_dict() | {k: trainer_options[k] for k in ("time_budget", "batch_size", "learning_rate")},
        versions=software_versions(),
    )
    return save_surrogate(folder, surrogate, card), card


def field_errors(surrogate, samples) -> dict[str, Any]:
    """Relative L2 errors of a point model on ``samples`` (PointSamples): per sample (its
    channels' mean, as the training loss weighs them) and per field (vector fields as one, with the mesh's
    quadrature: ``|| u_hat - u || / || u ||``), averaged over the samples."""
    import numpy as np
    import torch

    from engine.surrogates.data.points import fields_from_channels, training_weights
    from engine.surrogates.losses import quadrature_relative_l2_loss

    per_sample, by_field = [], {}
    surrogate.eval()
    first = next(iter(surrogate.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    with torch.inference_mode():
        for i in range(len(samples)):
            item = samples[i]
            weights = item["weights"][None].to(device)
            prediction = surrogate(item["x"][None].to(device), pos=item["pos"][None].to(device), weights=weights)
            per_sample.append(float(quadrature_relative_l2_loss(prediction, item["y"][None].to(device), weights)))
            predicted = fields_from_channels(prediction[0].cpu().numpy(), samples.output_names)
            truth = fields_from_channels(item["y"].numpy(), samples.output_names)
            w = training_weights(samples.sample(i).mesh)  # the quadrature, not the loss's weights
            for name in predicted:
                e = np.asarray(predicted[name].values - truth[name].values).reshape(len(w), -1)
                t = np.asarray(truth[name].values).reshape(len(w), -1)
                by_field.setdefault(name, []).append(float(np.sqrt((w[:, None] * e**2).sum() / max((w[:, None] * t**2).sum(), 1e-300))))
    return {"relative_l2": per_sample, "by_field": {k: float(np.mean(v)) for k, v in by_field.items()}}


def train_from_study(study, data: str | Path, out: str | Path, *, n_samples: int | None = None, model: str = "transolver",
                     time_budget: float | None = None, num_threads: int | None = None, log: Callable[[str], None] = print, **options):
    """A study in, a model out: generate (or resume, or reuse) the study's data set at ``data``
    (``n_samples`` of its random sampling, default the study's), then :func:`train_surrogate`
    into the folder ``out`` with ``options`` (epochs, batch_size, learning_rate, ...). Returns
    ``(folder, card)``; ``log`` gets a line per stage."""
    import dataclasses
    import time

    from engine.study import Study, load_study
    from engine.surrogates.data.generate import generate_mesh_dataset

    if not isinstance(study, Study):
        study = load_study(study)
    if n_samples is not None:
        study = dataclasses.replace(study, n_samples=n_samples)
    data = Path(data)
    started = time.perf_counter()
    if data.exists():
        from engine.surrogates.data.store import open_mesh_dataset

        kept = open_mesh_dataset(data)
        if kept.description.get("study") != study.document or len(kept) + len(kept.failed) != len(study.samples()):
            raise InputError("this data set was made from another study (or another number of samples)", source=data,
                             expected="the study's own data set: remove the file, or give another path")
    else:
        data.parent.mkdir(parents=True, exist_ok=True)
        generate_mesh_dataset(study, data, progress=lambda f, m: log(f"  data: {m}") if f in (None, 1.0) else None)
    log(f"data set: {data} ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    folder, card = train_surrogate(data, model=model, out=out, time_budget=time_budget, num_threads=num_threads,
                                   progress=lambda f, m: log(f"  train: {m}") if "batch" not in m else None, **options)
    log(f"trained for {time.perf_counter() - started:.0f} s: {card.training['stopped_reason']} after {card.training['epochs_run']} epochs; "
        f"validation {json.dumps(card.metrics.get('validation_relative_l2_by_field', {}))}")
    return folder, card
