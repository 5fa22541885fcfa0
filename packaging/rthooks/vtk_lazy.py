# PyInstaller run-time hook: a lazy stand-in for the `vtk` module.
#
# `import vtk` loads every one of VTK's ~150 compiled modules (vtk.py star-imports them all),
# and bundling them all costs some 300 MB. The bundle carries the modules pyvista and the app
# use (packaging/workbench.spec), and this stand-in answers `vtk.vtkSomething` from whichever
# bundled vtkmodules.* module defines it, importing modules only as names are asked for.
# Where the real `vtk` is bundled after all, it is left alone.
import importlib
import importlib.util
import os
import sys
import types


def _install():
    if "vtk" in sys.modules or importlib.util.find_spec("vtk") is not None:
        return
    folder = os.path.join(getattr(sys, "_MEIPASS", os.path.dirname(sys.executable)), "vtkmodules")
    try:
        names = sorted({f.split(".", 1)[0] for f in os.listdir(folder) if f.startswith("vtk") and f.endswith((".so", ".pyd"))})
    except OSError:
        return
    # the common ones first: most look-ups end there
    names.sort(key=lambda n: (not n.startswith("vtkCommon"), n))
    module = types.ModuleType("vtk", "VTK, from the modules in this bundle (see packaging/rthooks/vtk_lazy.py)")

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        for vtk_module in names:
            try:
                found = importlib.import_module(f"vtkmodules.{vtk_module}")
            except ImportError:
                continue
            if hasattr(found, name):
                value = getattr(found, name)
                setattr(module, name, value)
                return value
        raise AttributeError(f"module 'vtk' has no attribute {name!r} (not among the VTK modules in this bundle)")

    module.__getattr__ = __getattr__
    sys.modules["vtk"] = module


_install()
del _install
