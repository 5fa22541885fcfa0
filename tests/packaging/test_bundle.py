"""Smoke test of the installer: build the frozen program, unpack it elsewhere, run it there.

One build for the module (packaging/build.sh, some 4-5 minutes on 2 cores); then, from a copy
unpacked into a fresh folder and run with an empty environment (no Python of the user's, no
PYTHONPATH, not this checkout's resources), the batch mode solves an example with both
solvers, the bundle's self-check loads gmsh, torch, Dask worker processes and the GUI stack,
the app opens under Xvfb and saves a screenshot that is not blank, and the .deb holds what a
Debian system needs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="the recipe built here is the Linux one")]

ROOT = Path(__file__).resolve().parents[2]
NAME = "simulation-workbench"
EXAMPLE = "darcy_unit_square.toml"


def _version() -> str:
    namespace: dict = {}
    exec((ROOT / "engine" / "_version.py").read_text(), namespace)
    return namespace["__version__"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is needed to build the .deb (Debian: apt-get install dpkg)")
    out = tmp_path_factory.mktemp("dist")
    # gzip -1: three times faster than the release's -6 for a few % more bytes
    env = os.environ | {"PYTHON": sys.executable, "GZIP_LEVEL": "1"}
    proc = subprocess.run([str(ROOT / "packaging" / "build.sh"), "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, f"build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    print(proc.stdout[-1500:])
    version = _version()
    paths = {
        "folder": out / "workbench",
        "archive": out / f"{NAME}-{version}-linux-x86_64.tar.gz",
        "deb": out / f"{NAME}_{version}_amd64.deb",
    }
    for what, path in paths.items():
        assert path.exists(), f"no {what}: {path}"
    return paths


@pytest.fixture(scope="module")
def unpacked(built, tmp_path_factory) -> Path:
    """The archive unpacked into a fresh folder; the build's own folder is not used from here on."""
    where = tmp_path_factory.mktemp("fresh install")  # a space in the path, as users have
    with tarfile.open(built["archive"]) as archive:
        archive.extractall(where, filter="tar")
    (top,) = where.iterdir()
    assert (top / "workbench").is_file() and os.access(top / "workbench", os.X_OK)
    return top


def _clean_env(home: Path) -> dict[str, str]:
    """What a user's desktop session might have, and nothing of Python's or of this checkout."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def _run(args, *, home: Path, cwd: Path, timeout: float = 300, xvfb: bool = False) -> subprocess.CompletedProcess:
    command = [str(a) for a in args]
    if xvfb:
        if shutil.which("xvfb-run") is None:
            pytest.skip("xvfb-run is needed for the GUI checks (apt-get install xvfb xauth)")
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *command]
    return subprocess.run(command, cwd=cwd, env=_clean_env(home), capture_output=True, text=True, timeout=timeout)


def _not_blank(png: Path) -> None:
    from PIL import Image, ImageStat

    assert png.is_file() and png.stat().st_size > 0, f"no screenshot at {png}"
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        assert min(rgb.size) >= 200, rgb.size
        colours = rgb.getcolors(maxcolors=1 << 20)
        spread = ImageStat.Stat(rgb).stddev
    assert colours is None or len(colours) > 64, f"{png.name}: only {len(colours)} colours, a blank or flat window"
    assert max(spread) > 10, f"{png.name}: pixel spread {spread}, a blank window"


def test_sizes_and_contents(built):
    folder = built["folder"]
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]  # links: counted once, at their target
    total = sum(p.stat().st_size for p in files)
    sizes = {"folder_MiB": total >> 20, "archive_MiB": built["archive"].stat().st_size >> 20, "deb_MiB": built["deb"].stat().st_size >> 20}
    print(json.dumps(sizes))
    names = [str(p.relative_to(folder)) for p in files]
    unwanted = [n for n in names if any(bad in n.lower() for bad in ("libcudnn", "libcublas", "libnccl", "libcudart", "/nvidia/", "_pytest/", "hypothesis/", "torch/test/", "torch/include/"))]
    assert not unwanted, f"not for users: {unwanted[:10]}"
    assert (folder / "_internal" / "resources" / "models" / "darcy-fno" / "weights.safetensors").is_file()
    assert (folder / "_internal" / "libgmsh.so.4.15").is_file() or any("libgmsh" in n for n in names)
    # a guard against a dependency creeping in (CUDA torch is ~4 GB, all of VTK ~300 MB more)
    assert total < 2 << 30, sizes
    assert built["archive"].stat().st_size < 800 << 20, sizes


def test_frozen_batch_run_both(unpacked, tmp_path):
    """Batch mode of the unpacked program: FEM and the shipped surrogate on an example, compared."""
    case = unpacked / "_internal" / "resources" / "examples" / EXAMPLE
    out = tmp_path / "out"
    proc = _run([unpacked / "workbench", "run", case, "--out", out, "--solver", "both"], home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["solvers"]) == {"classical", "surrogate"}
    assert metrics["solvers"]["surrogate"]["model_id"]
    error = metrics["comparison"]["fields"]["u"]["relative_l2"]
    assert 0 < error < 0.1, error  # the shipped model is within a few % on this example
    for name in ("classical.vtu", "surrogate.vtu", "error.vtu", "result.h5"):
        assert (out / name).stat().st_size > 0, name
    # nothing of the build machine in the answer: the model came from inside the bundle
    assert "package-venv" not in (out / "metrics.json").read_text()


def test_frozen_finds_its_own_resources(unpacked, tmp_path):
    proc = _run([unpacked / "workbench", "models", "list", "--json"], home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = Path(json.loads(proc.stdout)["darcy-fno"]["folder"])
    assert folder.is_relative_to(unpacked), folder
    proc = _run([unpacked / "workbench", "--version"], home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 0 and _version() in proc.stdout


def test_frozen_mesh_reading_runs_nothing_and_survives_gmsh_crashes(unpacked, tmp_path):
    """The installed program reads a received gmsh mesh without running the option scripts
    planted beside it or in HOME, and a mesh that crashes gmsh is exit 2, not a dead program."""
    from tests.engine.mesh.test_mesh_hostile import GMSH_SEGFAULT, plant_option_scripts

    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "pwned"
    (home / ".gmshrc").write_text(f'SystemCall "touch {marker}";\n')
    shutil.copy(unpacked / "_internal" / "resources" / "meshes" / "plate_with_hole.msh", tmp_path / "shared.msh")
    plant_option_scripts(tmp_path, "shared.msh", marker)
    proc = _run([unpacked / "workbench", "mesh", "info", "shared.msh"], home=home, cwd=tmp_path)
    assert proc.returncode == 0 and "hole" in proc.stdout, proc.stdout + proc.stderr
    assert not marker.exists()
    (tmp_path / "cut.msh").write_text(GMSH_SEGFAULT)
    proc = _run([unpacked / "workbench", "mesh", "info", "cut.msh"], home=home, cwd=tmp_path)
    assert proc.returncode == 2 and "cut.msh: the gmsh reader crashed" in proc.stderr, proc.stdout + proc.stderr


def test_frozen_selfcheck(unpacked, tmp_path):
    """gmsh through ctypes, torch, Dask worker processes (freeze support) and Qt + VTK + pyqtgraph."""
    shot = tmp_path / "selfcheck.png"
    proc = _run([unpacked / "workbench", "--bundle-selfcheck", "--screenshot", shot], home=tmp_path / "home", cwd=tmp_path, xvfb=True)
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    failed = {k: v for k, v in report.items() if isinstance(v, dict) and not v.get("ok")}
    assert proc.returncode == 0 and not failed, json.dumps(failed, indent=1) + proc.stderr[-3000:]
    assert report["torch"]["cuda_built"] is False
    assert report["flow"]["newton_steps"] >= 1  # Navier-Stokes solved inside the bundle
    _not_blank(shot)


@pytest.mark.skipif(not (ROOT / "workbench" / "gui").is_dir(), reason="the desktop app (workbench/gui) has not landed yet")
def test_frozen_gui_screenshot(unpacked, tmp_path):
    """The frozen app opens on an example, runs both solvers, saves its window and quits."""
    case = unpacked / "_internal" / "resources" / "examples" / EXAMPLE
    shot = tmp_path / "gui.png"
    proc = _run([unpacked / "workbench", "gui", case, "--run", "both", "--screenshot", shot, "--exit"], home=tmp_path / "home", cwd=tmp_path, xvfb=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _not_blank(shot)


def test_deb(built, tmp_path):
    deb = built["deb"]
    info = subprocess.run(["dpkg-deb", "--info", deb], capture_output=True, text=True, check=True).stdout
    assert f"Package: {NAME}" in info and f"Version: {_version()}" in info and "Architecture: amd64" in info
    assert "Depends:" in info and "libgl1" in info
    contents = subprocess.run(["dpkg-deb", "--contents", deb], capture_output=True, text=True, check=True).stdout
    for expected in (
        f"./opt/{NAME}/workbench",
        f"./opt/{NAME}/_internal/resources/examples/{EXAMPLE}",
        f"./usr/bin/workbench -> /opt/{NAME}/workbench",
        f"./usr/share/applications/{NAME}.desktop",
        f"./usr/share/icons/hicolor/scalable/apps/{NAME}.svg",
        f"./usr/share/icons/hicolor/256x256/apps/{NAME}.png",
    ):
        assert expected in contents, expected
    assert " root/root " in contents
    # unpack it into a scratch root, as dpkg would install it, and run the program from there
    scratch = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", deb, scratch], check=True)
    desktop = (scratch / "usr" / "share" / "applications" / f"{NAME}.desktop").read_text()
    assert "Exec=workbench gui" in desktop and f"Icon={NAME}" in desktop and "Categories=Science;Engineering;" in desktop
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", scratch / "usr" / "share" / "applications" / f"{NAME}.desktop"], check=True)
    proc = _run([scratch / "opt" / NAME / "workbench", "models", "list"], home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 0 and "darcy-fno" in proc.stdout, proc.stdout + proc.stderr
