"""Train the shipped Darcy surrogate, from data our own solver makes; anyone can rerun it.

    python resources/models/train_darcy_surrogate.py                 # as shipped
    python resources/models/train_darcy_surrogate.py --time-budget 60 --n-train 64 --out /tmp/m

Steps: generate (or reuse) the training, test and fine-grid test sets with the recipe of
``resources/datasets/darcy_dataset.toml`` (different seeds), train an FNO with the engine's
Trainer under a CPU time budget, evaluate it at the training resolution and at a finer one,
and write the model folder (weights + card) into the library.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from engine.resources import resources_dir
from engine.result import software_versions
from engine.surrogates.datasets import generate_dataset, load_recipe, open_dataset
from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
from engine.surrogates.library import Card, save_surrogate
from engine.surrogates.models import build_model, count_parameters
from engine.surrogates.training import SurrogateModel, Trainer, evaluate

HERE = Path(__file__).resolve().parent


def dataset(recipe: dict, name: str, folder: Path, **changes) -> Path:
    spec = {**recipe, **changes, "name": name}
    path = folder / f"{name}.h5"
    generate_dataset(spec, path, progress=lambda f, m: print(f"  {name}: {m}", flush=True) if f in (None, 1.0) else None)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "darcy-fno", help="model folder to write")
    parser.add_argument("--data", type=Path, default=Path("out/datasets"), help="where the data sets go")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--time-budget", type=float, default=900.0, help="training seconds")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--modes", type=int, default=12)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(2)
    recipe = load_recipe(resources_dir() / "datasets" / "darcy_dataset.toml").model_dump()
    args.data.mkdir(parents=True, exist_ok=True)
    res, fine = args.resolution, 2 * args.resolution - 1  # the fine grid holds every coarse point
    train_path = dataset(recipe, f"darcy_train_{res}", args.data, resolution=res, n_samples=args.n_train, seed=0)
    test_path = dataset(recipe, f"darcy_test_{res}", args.data, resolution=res, n_samples=args.n_test, seed=1)
    fine_path = dataset(recipe, f"darcy_test_{fine}", args.data, resolution=fine, n_samples=args.n_test // 2, seed=1)
    train, test, test_fine = open_dataset(train_path), open_dataset(test_path), open_dataset(fine_path)

    config = {"modes1": args.modes, "modes2": args.modes, "width": args.width}
    network = build_model("fno", config)
    surrogate = SurrogateModel(network, UnitGaussianNormalizer(1), UnitGaussianNormalizer(1))
    trainer = Trainer(
        surrogate,
        epochs=args.epochs,
        batch_size=20,
        learning_rate=2e-3,
        weight_decay=1e-4,
        scheduler="cosine",
        loss="l2",
        val_fraction=0.1,
        seed=0,
        time_budget=args.time_budget,
        progress=lambda f, m: print(f"  train: {m}", flush=True),
    )
    started = time.perf_counter()
    report = trainer.fit(train.torch_dataset())
    print(f"trained for {time.perf_counter() - started:.0f} s: {report.stopped_reason}, best epoch {report.best_epoch}")
    on_test = evaluate(surrogate, test.torch_dataset())
    on_fine = evaluate(surrogate, test_fine.torch_dataset())
    print(f"test relative L2: {on_test['mean_relative_l2']:.4f} at {res}, {on_fine['mean_relative_l2']:.4f} at {fine}")

    k_all = train.inputs
    card = Card(
        name=args.out.name,
        model="fno",
        config=network.config.to_dict(),
        physics={
            "kind": "diffusion",
            "equation": "-div(k grad u) = f on the unit square",
            "boundary": "dirichlet_zero",
            "constants": {"physics.f": float(recipe["f"])},
            "input_coefficients": {"k": "physics.k"},
        },
        inputs=["k"],
        outputs=["u"],
        grid={"resolution": res, "domain": [[0.0, 1.0], [0.0, 1.0]]},
        training_ranges={"k": [float(k_all.min()), float(k_all.max())]},
        dataset={
            "recipe": json.loads(train.recipe.to_json()),
            "samples": len(train),
            "sha256": hashlib.sha256(train.inputs.tobytes() + train.outputs.tobytes()).hexdigest(),
        },
        metrics={
            "test_relative_l2": float(on_test["mean_relative_l2"]),
            "test_relative_l2_median": float(on_test["median_relative_l2"]),
            "test_relative_l2_max": float(on_test["max_relative_l2"]),
            "test_relative_l2_fine": float(on_fine["mean_relative_l2"]),
            "fine_resolution": fine,
            "test_samples": len(test),
            "inference_ms_per_sample": float(on_test["inference_ms_per_sample"]),
            "parameters": count_parameters(network),
        },
        training=report.to_dict() | {"time_budget": args.time_budget},
        versions=software_versions(),
    )
    save_surrogate(args.out, surrogate, card)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 2**20
    print(f"wrote {args.out} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
