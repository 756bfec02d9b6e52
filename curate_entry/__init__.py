"""The `curate` and `classify` console scripts, before anything heavy is imported.

Importing the command line takes seconds (pandas, pyarrow, torch, matplotlib); a Ctrl-C in that
window would otherwise print a Python traceback from deep inside an import. Here it prints the
same one line as a Ctrl-C during a command, and exits 130. Nothing here imports the packages
until the script runs.
"""

from __future__ import annotations

import importlib
import sys

INTERRUPTED = "interrupted: run the same command again to resume"


def _start(module: str) -> None:
    try:
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        raise SystemExit(130) from None
    main()


def curate() -> None:
    """`curate`: curate.cli.app.main."""
    _start("curate.cli.app")


def classify() -> None:
    """`classify`: classify.cli.main."""
    _start("classify.cli")
