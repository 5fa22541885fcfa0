"""Paths on the command line: ``~`` means the home folder even where the shell leaves it alone."""

from __future__ import annotations

import os
import subprocess

from tests.workbench.test_cli import WORKBENCH


def test_a_tilde_the_shell_did_not_expand_is_the_home_folder(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    done = subprocess.run([str(WORKBENCH), "mesh", "generate", "unit_square", "--size", "0.5", "--out=~/square.msh"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (home / "square.msh").is_file() and not (tmp_path / "~").exists()
    done = subprocess.run([str(WORKBENCH), "mesh", "info", "~/square.msh"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0 and "triangle" in done.stdout, done.stderr
