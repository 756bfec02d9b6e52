"""The `curate` application: groups and commands are composed here."""

from __future__ import annotations

import typer

from curate.cli import filter as filter_cli
from curate.cli import ingest, prefilter, run, score, split, status
from curate.cli import report as report_cli
from curate.cli import review as review_cli
from curate.cli.export import export as export_command
from curate.cli.common import run_app

app = typer.Typer(
    name="curate",
    help="Turn noisy, user-tagged photos into a clean, leak-free training set.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(ingest.app, name="ingest")
app.command("status")(status.status)
app.command("embed")(prefilter.embed)  # pipeline order: ingest, embed, filter, prefilter, split
app.command("filter")(filter_cli.filter_command)
app.command("prefilter")(prefilter.prefilter)
app.command("score")(score.score)
app.command("split")(split.split)
app.command("check-leakage")(split.check_leakage)
app.command("report")(report_cli.report)
app.command("export")(export_command)
app.command("run")(run.run)
app.command("review")(review_cli.review)


def main() -> None:
    run_app(app, "curate")


if __name__ == "__main__":
    main()
