"""The `classify` command line (training commands arrive with issue E)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from classify.devices import describe_devices
from curate.cli.common import user_errors
from curate.console import console

app = typer.Typer(name="classify", help="Train and serve an image classifier on a curated catalog.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def _group() -> None:
    """Train and serve an image classifier on a curated catalog."""


@app.command("devices")
@user_errors
def devices(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the torch build and which device `--device auto` will use."""
    facts = describe_devices()
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    console.print(f"torch {facts['torch']}; auto device: [bold]{facts['auto']}[/bold]; "
                  f"CUDA: {', '.join(facts['cuda_devices']) or 'none'}; MPS: {facts['mps']}; "
                  f"CPU threads: {facts['cpu_threads']}")


def main() -> None:
    app()
