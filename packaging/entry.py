"""The frozen program's entry point: the same `workbench` command, plus what freezing needs.

PyInstaller runs this file as ``__main__`` inside the bundle. It prepares the frozen process
(multiprocessing children) and hands over to ``workbench.cli``,
so the frozen ``workbench`` takes exactly the arguments of the installed one:
``workbench`` alone or ``workbench gui ...`` opens the app, ``workbench run ...`` is batch mode.

``workbench --bundle-selfcheck [--screenshot FILE]`` is a diagnostic of the bundle itself
(packaging/selfcheck.py): it is not part of the user's command line.
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    # Dask's LocalCluster and torch's DataLoader start worker processes by re-running this
    # executable; freeze_support() makes such a child run its task instead of the CLI.
    multiprocessing.freeze_support()
    if sys.argv[1:2] == ["--bundle-selfcheck"]:
        import selfcheck

        return selfcheck.main(sys.argv[2:])
    from workbench.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
