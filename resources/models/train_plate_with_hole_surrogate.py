"""Train the shipped plate-with-hole surrogate from our own finite-element answers; anyone can rerun it.

    python resources/models/train_plate_with_hole_surrogate.py                   # as shipped (~13 min)
    python resources/models/train_plate_with_hole_surrogate.py --n-train 64 --time-budget 60 --out /tmp/plate

Steps: generate (or resume) a data set from ``resources/examples/plate_with_hole_study.toml``
(hole radius 0.1-0.4 m and tension 50-150 MPa drawn at random, each sample meshed and solved
on its own), train a Transolver under a CPU time budget, then score it on fresh cases of the
same study (another seed: radii training never saw) against the finite elements: relative L2
of every field, and the stress concentration factor (the peak hoop stress on the hole over the
applied tension) from the predicted stress and from the stress the finite elements'
post-processing derives from the predicted displacement. The more accurate of the two becomes
the model's way of answering stress (``physics.derived`` on its card).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engine.resources import resources_dir

HERE = Path(__file__).resolve().parent
STUDY = resources_dir() / "examples" / "plate_with_hole_study.toml"
STRESS_FIELDS = ["stress", "von_mises"]


def concentration_factor(case, stress: np.ndarray, mesh) -> float:
    """Peak sigma_xx on the hole over the applied tension (the plate is pulled along x)."""
    return float(stress[mesh.region_points("hole"), 0].max() / case.parameters["sigma"])


def score(model: Path, n: int, seed: int) -> dict:
    """Errors on ``n`` fresh cases, with the stress both predicted and derived."""
    from engine.comparison import compare
    from engine.result import Result
    from engine.surrogates.adapters import derive_fields
    from engine.surrogates.scoring import score_on_fresh_cases

    def extra(case, classical, surrogate):
        import engine

        problem = engine.Problem.from_case(case)
        derived = derive_fields(problem, dict(surrogate.fields), STRESS_FIELDS)
        on_derived = compare(classical, Result(surrogate.mesh, derived, surrogate.provenance)).metrics
        reference = concentration_factor(case, classical.fields["stress"].values, classical.mesh)
        return {
            "scf_reference": reference,
            "scf_error_predicted": abs(concentration_factor(case, surrogate.fields["stress"].values, surrogate.mesh) / reference - 1),
            "scf_error_derived": abs(concentration_factor(case, derived["stress"].values, surrogate.mesh) / reference - 1),
            "relative_l2_derived": {name: on_derived[name]["relative_l2"] for name in STRESS_FIELDS},
        }

    rows = score_on_fresh_cases(model, STUDY, n_samples=n, seed=seed, extra=extra)
    fields = rows[0]["relative_l2"]
    summary = {f"test_relative_l2_{name}": float(np.mean([r["relative_l2"][name] for r in rows])) for name in fields}
    summary |= {f"test_relative_l2_{name}_derived": float(np.mean([r["relative_l2_derived"][name] for r in rows])) for name in STRESS_FIELDS}
    for way in ("predicted", "derived"):
        errors = [r[f"scf_error_{way}"] for r in rows]
        summary[f"test_scf_error_{way}_mean"], summary[f"test_scf_error_{way}_max"] = float(np.mean(errors)), float(np.max(errors))
    summary["test_relative_l2_displacement_max"] = float(np.max([r["relative_l2"]["displacement"] for r in rows]))
    summary["test_samples"] = len(rows)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "plate-with-hole-transolver", help="model folder to write")
    parser.add_argument("--data", type=Path, default=Path("out/datasets"), help="where the data set goes")
    parser.add_argument("--n-train", type=int, default=600, help="samples generated (a tenth held out for validation)")
    parser.add_argument("--n-test", type=int, default=40, help="fresh cases to score on")
    parser.add_argument("--time-budget", type=float, default=600.0, help="training seconds")
    parser.add_argument("--threads", type=int, default=2, help="torch threads while training")
    parser.add_argument("--score-only", action="store_true", help="score the model in --out again (no data, no training)")
    args = parser.parse_args(argv)

    import torch

    from engine.surrogates.fit import train_from_study
    from engine.surrogates.library import load_card, load_surrogate, save_surrogate

    folder = args.out
    if not args.score_only:
        folder, _ = train_from_study(STUDY, args.data / f"plate_with_hole_{args.n_train}.h5", args.out, n_samples=args.n_train,
                                     time_budget=args.time_budget, num_threads=args.threads, epochs=1000, batch_size=8,
                                     learning_rate=1e-3, val_fraction=0.1, seed=0, log=lambda line: print(line, flush=True))
    torch.set_num_threads(1)
    summary = score(folder, args.n_test, seed=1)
    print(json.dumps(summary, indent=1))
    # Stress as the finite elements derive it from the predicted displacement, where that is closer.
    derived = summary["test_relative_l2_stress_derived"] < summary["test_relative_l2_stress"]
    surrogate, card = load_surrogate(folder)
    card.name = folder.name  # a model trained elsewhere and copied here takes the folder's name
    card.physics["derived"] = STRESS_FIELDS if derived else []
    card.metrics |= summary | {"stress_answered_as": "derived from the predicted displacement" if derived else "predicted"}
    save_surrogate(folder, surrogate, card)
    print(f"stress {card.metrics['stress_answered_as']}; wrote {folder}")
    assert load_card(folder).metrics["test_samples"] == args.n_test
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
