"""What a killed data set run leaves behind (its large ``.part.h5`` copy) is removed by the next
run of the same data set; two runs of one data set never write at once; ``~`` in the output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.surrogates.datasets import generate_dataset, open_dataset

# 24 points per side, 6 samples: a data set solved in a fraction of a second.
RECIPE = {"version": 1, "name": "leftovers", "resolution": 24, "n_samples": 6, "seed": 3, "solver": {"method": "direct"}}
ROOT = Path(__file__).parents[3]

# Generate, but die by SIGKILL at the rename that ends file creation or completion: the moment
# a killed run leaves its full-size temporary copy behind.
KILLED_AT_RENAME = """
import os, signal, sys
import engine.atomic
from engine.surrogates import datasets

def killed(*args):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[2] == "creating":
    engine.atomic.os.replace = killed
else:
    finalise = datasets._finalise
    def finalise_then_die(*args):
        engine.atomic.os.replace = killed
        return finalise(*args)
    datasets._finalise = finalise_then_die
datasets.generate_dataset({recipe!r}, sys.argv[1], scheduler="synchronous")
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    """The checksum of RECIPE's data set generated in one go."""
    return generate_dataset(RECIPE, tmp_path_factory.mktemp("reference") / "ref.h5", scheduler="synchronous").checksum


def _killed_run(out: Path, when: str) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME.format(recipe=RECIPE), str(out), when], cwd=ROOT, timeout=120, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


@pytest.mark.parametrize("when", ["creating", "completing"])
def test_the_part_file_of_a_killed_run_is_removed_by_the_next_run(when, reference, tmp_path):
    out = tmp_path / "data.h5"
    _killed_run(out, when)
    (stale,) = _parts(tmp_path)
    assert stale.startswith(".data.") and stale.endswith(".part.h5")
    assert (tmp_path / stale).stat().st_size > 6 * 2 * 24 * 24 * 4  # allocated in full: it is large
    assert out.exists() == (when == "completing")
    # Temporary files of other data sets in the same folder are theirs: never touched.
    others = [".data.v2.abcdefgh.part.h5", ".data-x.abcdefgh.part.h5", ".data.abcdefgh.part.msh"]
    for name in others:
        (tmp_path / name).write_bytes(b"not ours")

    info = generate_dataset(RECIPE, out, scheduler="synchronous")

    assert info.complete and info.checksum == reference == open_dataset(out).checksum
    assert info.n_solved == (0 if when == "completing" else 6)  # the finished samples were kept
    assert _parts(tmp_path) == sorted(others)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".lock")) == []


def test_a_second_run_of_the_same_data_set_is_refused_while_the_first_writes(reference, tmp_path):
    out = tmp_path / "busy.h5"
    writing, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def progress(fraction, message):
        if fraction is not None:
            writing.set()
            release.wait(30)

    def first_run():
        try:
            results["info"] = generate_dataset(RECIPE, out, scheduler="synchronous", chunk_size=2, progress=progress)
        except BaseException as exc:  # pragma: no cover - reported below
            results["error"] = exc

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert writing.wait(60)
        with pytest.raises(InputError) as info:
            generate_dataset(RECIPE, out, scheduler="synchronous")
    finally:
        release.set()
        thread.join(60)
    assert info.value.exit_code == 2 and info.value.source == str(out)
    assert "another run is generating this data set right now" in str(info.value)
    assert "error" not in results and results["info"].checksum == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy.h5"]  # no lock or part file left


def test_a_tilde_in_the_output_path_is_the_home_folder(reference, tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    info = generate_dataset(RECIPE, "~/sets/d.h5", scheduler="synchronous")
    assert info.path == home / "sets" / "d.h5" and info.checksum == reference
    assert list(cwd.iterdir()) == []  # no folder named '~' here
    assert os.path.samefile(generate_dataset(RECIPE, "~/sets/d.h5", scheduler="synchronous").path, home / "sets" / "d.h5")
