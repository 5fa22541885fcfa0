"""The engine stays headless: importing all of it loads no Qt, no VTK Qt view, no workbench,
and plain ``import engine`` loads no torch."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("PySide6", "pyvistaqt", "qtpy", "pyqtgraph", "workbench")

IMPORT_ALL = """
import importlib, pkgutil, sys
import engine
for info in pkgutil.walk_packages(engine.__path__, "engine."):
    importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
print(",".join(bad))
"""


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_engine_imports_no_qt_or_workbench():
    assert run(IMPORT_ALL.format(forbidden=set(FORBIDDEN))) == ""


def test_import_engine_is_light():
    loaded = run("import sys, engine; print(','.join(sorted(m for m in ('torch', 'vtk', 'pyvista', 'gmsh', 'meshio', 'scipy') if m in sys.modules)))")
    assert loaded == ""


def test_cli_module_imports_no_qt():
    assert run("import sys, workbench.cli; print(','.join(m for m in ('PySide6', 'pyvistaqt', 'torch') if m in sys.modules))") == ""
