"""Mesh surrogates on our own elasticity data in the style of Geo-FNO's benchmark: the
Transolver-type point model against the masked-grid FNO and DeepONet at equal training time.

    python benchmarks/mesh_surrogates.py                   # 1000 samples, 300 s of training each
    python benchmarks/mesh_surrogates.py --n 200 --budget 60

Data: a quarter plate with a hole under 100 MPa tension (plane stress, steel), the hole's radius
(0.1 to 0.4 m) and the plate's height (1.6 to 2.4 m, so the domain's shape changes too) drawn at
random; each sample meshed (P1, refined at the hole) and solved by our finite elements on its
own mesh: ``workbench dataset generate`` on a study of ``plate_with_hole_tension.toml`` (reused
when present). A tenth of the samples is held out: geometries no model saw. Every model trains
with the same Trainer settings (AdamW, cosine schedule over the budget, batch 8) for the same
wall time on the same threads, then is scored on the held-out samples: relative L2 of the
displacement and of the von Mises stress at the mesh points (quadrature-weighted, as
``--solver both`` reports it), and warm inference time per sample. The table is printed; the
last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engine.resources import resources_dir

MODELS = {
    "transolver": {},
    "fno": {"modes1": 16, "modes2": 16, "width": 32},
    "deeponet": {"branch_widths": [256], "trunk_widths": [128, 128], "basis_size": 64},
}
GRID = {"fno": 64, "deeponet": 32}


def make_data(path: Path, n: int) -> Path:
    from engine.case import load_case
    from engine.surrogates.data.generate import generate_mesh_dataset, study_for_case

    if path.exists():
        return path
    case_file = resources_dir() / "examples" / "plate_with_hole_tension.toml"
    document = load_case(case_file).model_dump(mode="json", exclude_none=True)
    study = study_for_case(document, case_file, {"geometry.parameters.radius": (0.1, 0.4), "geometry.parameters.height": (1.6, 2.4)}, n,
                           name="plate-geometries", seed=0)
    generate_mesh_dataset(study, path, progress=lambda f, m: print(f"  data: {m}", flush=True) if f in (None, 1.0) else None)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="samples (a tenth held out)")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("out/datasets"))
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)

    import torch

    from engine.surrogates.data.points import PointSamples
    from engine.surrogates.data.store import open_mesh_dataset
    from engine.surrogates.fit import field_errors
    from engine.surrogates.layers.normalizers import UnitGaussianNormalizer
    from engine.surrogates.models import build_model, count_parameters
    from engine.surrogates.models.masked_grid import MaskedGrid
    from engine.surrogates.training import SurrogateModel, Trainer

    from machine import cpu_model  # benchmarks/machine.py, beside this script (on sys.path when run as a script)

    args.data.mkdir(parents=True, exist_ok=True)
    data = open_mesh_dataset(make_data(args.data / f"plate_geometries_{args.n}.h5", args.n))
    order = np.random.default_rng(0).permutation(len(data)).tolist()
    n_test = max(1, len(data) // 10)
    points = [data[i].mesh.n_points for i in range(0, len(data), max(1, len(data) // 20))]
    rows = []
    for name in args.models.split(","):
        grid = GRID.get(name)
        train = PointSamples(data, order[n_test:], ["displacement", "von_mises"], grid)
        test = PointSamples(data, order[:n_test], ["displacement", "von_mises"], grid)
        options = MODELS[name] | {"in_channels": len(train.input_names), "out_channels": len(train.output_names)}
        if name == "deeponet":
            options["grid_size"] = [grid, grid]
        torch.manual_seed(0)
        network = build_model(name, options)
        model = SurrogateModel(network if grid is None else MaskedGrid(network), UnitGaussianNormalizer(len(train.input_names)),
                               UnitGaussianNormalizer(len(train.output_names)))
        started = time.perf_counter()
        report = Trainer(model, epochs=10_000, batch_size=8, learning_rate=1e-3, val_fraction=0.0, seed=0, device="cpu",
                         num_threads=args.threads, time_budget=args.budget).fit(train)
        seconds = time.perf_counter() - started
        torch.set_num_threads(1)
        scores = field_errors(model, test)
        item = test[0]
        with torch.inference_mode():
            model(item["x"][None], pos=item["pos"][None], weights=item["weights"][None])
            tic = time.perf_counter()
            for _ in range(10):
                model(item["x"][None], pos=item["pos"][None], weights=item["weights"][None])
        inference_ms = 100 * (time.perf_counter() - tic)
        row = {"model": name + (f" (masked {grid}x{grid} grid)" if grid else ""), "parameters": count_parameters(network),
               "epochs": report.epochs_run, "train_seconds": seconds, "displacement": scores["by_field"]["displacement"],
               "von_mises": scores["by_field"]["von_mises"], "inference_ms": inference_ms}
        rows.append(row)
        print(f"{name}: {row}", flush=True)
    print()
    print(f"plate with a hole of radius 0.1-0.4 m, height 1.6-2.4 m: {len(data) - n_test} training samples, {n_test} held out; "
          f"{int(np.mean(points))} points per mesh on average; {args.budget:.0f} s of training each on {args.threads} threads ({cpu_model()})")
    print(f"{'model':<34}{'params':>10}{'epochs':>8}{'train s':>9}{'displ. L2':>11}{'v.Mises L2':>12}{'infer ms':>10}")
    for r in rows:
        print(f"{r['model']:<34}{r['parameters']:>10,}{r['epochs']:>8}{r['train_seconds']:>9.0f}{r['displacement']:>11.2%}{r['von_mises']:>12.2%}{r['inference_ms']:>10.1f}")
    print(json.dumps({"n_train": len(data) - n_test, "n_test": n_test, "budget_s": args.budget, "threads": args.threads, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
