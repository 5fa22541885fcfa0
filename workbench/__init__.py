"""The workbench's faces: the command line (``workbench.cli``) and, later, the PySide6 app.

Importing this package imports no Qt; the app's modules do, and only they.
"""

from engine._version import __version__

__all__ = ["__version__"]
