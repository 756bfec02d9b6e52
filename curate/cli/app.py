"""The `curate` application: groups and commands are composed here."""

from __future__ import annotations

from curate.cli import embed, ingest, prefilter, run, score, split, status
from curate.cli import filter as filter_cli
from curate.cli import report as report_cli
from curate.cli import review as review_cli
from curate.cli.common import run_app
from curate.cli.export import export as export_command
from curate.cli.help import HelpTyper

# `curate --help` lists the commands as the pipeline runs them (review after the stages whose flags
# it decides on, before the split that goes stale with it), then the whole-pipeline and looking-at
# commands; a command missing here is listed after these.
COMMAND_ORDER = ("ingest", "embed", "filter", "prefilter", "review", "split", "check-leakage", "report",
                 "export", "run", "status", "score")

app = HelpTyper(
    name="curate",
    help="Turn noisy, user-tagged photos into a clean, leak-free training set.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    command_order=COMMAND_ORDER,
)
app.add_typer(ingest.app, name="ingest")
app.command("embed")(embed.embed)
app.command("filter")(filter_cli.filter_command)
app.command("prefilter")(prefilter.prefilter)
app.command("review")(review_cli.review)
app.command("split")(split.split)
app.command("check-leakage")(split.check_leakage)
app.command("report")(report_cli.report)
app.command("export")(export_command)
app.command("run")(run.run)
app.command("status")(status.status)
app.command("score")(score.score)


def main() -> None:
    run_app(app, "curate")


if __name__ == "__main__":
    main()
