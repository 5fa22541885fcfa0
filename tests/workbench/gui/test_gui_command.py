"""`workbench gui ... --run both --screenshot FILE --exit`: the real window, driven from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.resources import resource_path


def _workbench(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_gui_runs_both_and_saves_a_screenshot(tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("no display")
    from PySide6 import QtGui, QtWidgets

    shot = tmp_path / "compare.png"
    env = dict(os.environ, WORKBENCH_MODELS=str(tmp_path / "models"), HOME=str(tmp_path))
    done = _workbench("gui", str(resource_path("examples/darcy_unit_square.toml")), "--run", "both", "--screenshot", str(shot), "--exit", env=env)
    assert done.returncode == 0, done.stderr
    assert f"wrote {shot}" in done.stdout
    _ = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    image = QtGui.QImage(str(shot))
    assert image.width() >= 1200 and image.height() >= 700
    colours = {image.pixel(x, y) for x in range(0, image.width(), 17) for y in range(0, image.height(), 17)}
    assert len(colours) > 200, "the screenshot is nearly blank"


def test_gui_without_a_display_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = _workbench("gui", "--exit", env=env, timeout=60)
    assert done.returncode == 2
    assert "no display" in done.stderr and "workbench run" in done.stderr
    assert "Traceback" not in done.stderr


def test_gui_with_a_missing_file_is_bad_input(tmp_path):
    done = _workbench("gui", str(tmp_path / "nope.toml"), "--exit", timeout=60)
    assert done.returncode == 2
    assert "nope.toml" in done.stderr and "Traceback" not in done.stderr


def test_gui_run_of_a_case_that_fails_exits_1(tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("no display")
    env = dict(os.environ, WORKBENCH_MODELS=str(tmp_path / "models"), HOME=str(tmp_path))
    # The heat example names no surrogate model: run surrogate fails, the app says so and exits 1.
    done = _workbench("gui", str(resource_path("examples/heat_plate_with_hole.toml")), "--run", "surrogate", "--exit", env=env)
    assert done.returncode == 1, done.stderr
    assert "surrogate" in done.stderr


def test_gui_with_a_broken_case_says_why_and_exits_2(tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("no display")
    broken = tmp_path / "broken.toml"
    broken.write_text('version = 1\n[geometry]\nkind = "unit_square"\n[physics]\nkind = "diffusion"\nk = "1 + sin(x"\n')
    env = dict(os.environ, WORKBENCH_MODELS=str(tmp_path / "models"), HOME=str(tmp_path))
    done = _workbench("gui", str(broken), "--run", "both", "--exit", env=env, timeout=120)
    assert done.returncode == 2
    assert "physics.k" in done.stderr and "broken.toml" in done.stderr


def test_gui_with_a_display_that_does_not_answer_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")} | {"DISPLAY": ":987"}
    done = _workbench("gui", "--exit", env=env, timeout=60)
    assert done.returncode == 2, done.stderr  # not Qt's abort (134)
    assert "cannot connect to the display ':987'" in done.stderr
