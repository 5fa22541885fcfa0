"""Train the Darcy surrogate in the mesh-sample format; anyone can rerun it.

    python resources/models/train_darcy_grf_surrogate.py                  # as shipped (~17 min)
    python resources/models/train_darcy_grf_surrogate.py --n-train 64 --time-budget 60 --out /tmp/darcy

The same law and model as ``train_darcy_surrogate.py`` (thresholded GRF permeability 12 / 3,
f = 1, u = 0 on the boundary; an FNO with 12 modes and width 20, 900 s on two cores), but the
data come from a study of the Darcy example (``resources/examples/darcy_grf_study.toml``: every
sample draws its own field and is solved by the finite elements the app uses) and the model
reads them through the masked grid, as any case's model does. Scored on fresh draws against
the finite elements: the relative L2 error of u.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engine.resources import resources_dir

HERE = Path(__file__).resolve().parent
STUDY = resources_dir() / "examples" / "darcy_grf_study.toml"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "darcy-grf-fno", help="model folder to write")
    parser.add_argument("--data", type=Path, default=Path("out/datasets"), help="where the data set goes")
    parser.add_argument("--n-train", type=int, default=660, help="samples generated (a tenth held out for validation)")
    parser.add_argument("--n-test", type=int, default=40, help="fresh draws to score on")
    parser.add_argument("--time-budget", type=float, default=900.0, help="training seconds")
    parser.add_argument("--threads", type=int, default=2, help="torch threads while training")
    parser.add_argument("--score-only", action="store_true", help="score the model in --out again (no data, no training)")
    args = parser.parse_args(argv)

    import torch

    from engine.surrogates.fit import train_from_study
    from engine.surrogates.library import load_surrogate, save_surrogate
    from engine.surrogates.scoring import score_on_fresh_cases

    folder = args.out
    if not args.score_only:
        folder, _ = train_from_study(STUDY, args.data / f"darcy_grf_{args.n_train}.h5", args.out, n_samples=args.n_train, model="fno",
                                     config={"modes1": 12, "modes2": 12, "width": 20}, grid_resolution=64, time_budget=args.time_budget,
                                     num_threads=args.threads, epochs=1000, batch_size=20, learning_rate=2e-3, val_fraction=1 / 11,
                                     seed=0, log=lambda line: print(line, flush=True))
    torch.set_num_threads(1)
    rows = score_on_fresh_cases(folder, STUDY, n_samples=args.n_test, seed=1)
    errors = [r["relative_l2"]["u"] for r in rows]
    summary = {"test_relative_l2": float(np.mean(errors)), "test_relative_l2_median": float(np.median(errors)),
               "test_relative_l2_max": float(np.max(errors)), "test_samples": len(rows)}
    print(json.dumps(summary, indent=1))
    surrogate, card = load_surrogate(folder)
    card.metrics |= summary
    save_surrogate(folder, surrogate, card)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
