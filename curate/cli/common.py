"""Pieces every curate command shares: the --workspace option, error mapping, tables."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import re
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from curate.console import console, err_console, install_console_output
from curate.errors import CurateError
from curate.workspace import WORKSPACE_ENV, Workspace, resolve_workspace

# Library code logs and reports progress without printing (curate.progress); every command
# shows it on the terminal. At import, because tests drive the apps without `run_app`.
install_console_output()

def path_given(text: str) -> Path:
    """A path option's value; an empty one is refused (Path("") would be the current folder: `-w ''`
    would put a catalog and an image store wherever the command runs)."""
    if not str(text).strip():
        raise typer.BadParameter("is empty; give a path")
    return Path(text)


def recipe_given(text: str) -> str:
    """A --recipe value; an empty one is refused rather than read as "no recipe" (a script's unset
    variable would otherwise run the command without the recipe's settings, silently)."""
    if not str(text).strip():
        raise typer.BadParameter("is empty; give a recipe name from datasets/ or a .toml path")
    return text


RecipeOption = Annotated[str | None, typer.Option(
    "--recipe", parser=recipe_given, help=(
        "Dataset recipe (name in datasets/ or a .toml path): its section for this command gives the settings no "
        "flag gives."))]


def recipe_section(recipe: str | None, section: str) -> tuple[dict, str]:
    """(the recipe's [section] settings, where they come from) for a command's --recipe; ({}, '') without one."""
    if not recipe:
        return {}, ""
    from curate.recipes import load_recipe

    return load_recipe(recipe).stage_defaults(section), f"recipe {recipe} [{section}]"


WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar=WORKSPACE_ENV, show_default="./workspace", parser=path_given,
                 help="Workspace folder (catalog + image store). Env: CURATE_WORKSPACE."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
CatalogEngineOption = Annotated[str | None, typer.Option(
    "--catalog-engine", metavar="ENGINE", show_default="auto",
    help="Where catalog-wide work runs: pandas (in memory), duckdb (out of core, bounded memory, the same "
         "results; docs/scale-catalog.md) or auto (duckdb above 2,000,000 rows or for a folder of Parquet parts). "
         "Env: CURATE_CATALOG_ENGINE.")]


def workspace(path: Path | None) -> Workspace:
    return resolve_workspace(path)


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into the Ctrl-C path (`terminate_as_interrupt`): exit 143, the signal's code."""


@contextlib.contextmanager
def terminate_as_interrupt():
    """Within the block, SIGTERM (`docker stop`, Slurm or Kubernetes preemption) leaves as Ctrl-C does,
    through the command's own "interrupted: resume with …" line, where it ended the process with no word
    (audit X: `classify train` and `tune`; nothing was lost, the user was not told how to go on). Off the
    main thread no handler can be set, and the block runs as it is."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_code(exc: KeyboardInterrupt) -> int:
    """The exit code of an interrupted command: 143 after SIGTERM, else 130 (Ctrl-C)."""
    return 143 if isinstance(exc, Terminated) else 130


def error_text(message: str) -> str:
    """An error message fit to print: credentials in URLs (`user:password@`, secret-looking parameters) removed,
    also in a URL given where a path was expected, which a Path has collapsed (audit AN: `--against
    s3://u:SECRET@bucket/x` came back as `--against s3:/u:SECRET@bucket/x is neither a workspace ...`). What a
    command masked itself (`***`) stays as it is.

    >>> error_text("--against s3:/u:SECRET@bucket/x is neither a workspace nor a folder")
    '--against s3://bucket/x is neither a workspace nor a folder'
    >>> error_text("out s3://AKIA:ab/c+d@bucket/x and s3://***@b, gs://b/x?token=abc&size=2, img:/x@2x.png")
    'out s3://bucket/x and s3://***@b, gs://b/x?token=REDACTED&size=2, img:/x@2x.png'
    """
    from curate.redact import mask_userinfo, redact_params

    return redact_params(mask_userinfo(message), keep="***")


def user_errors(command):
    """Turn CurateError into one red line on stderr (credentials removed: `error_text`) and the error's exit
    code; a Ctrl-C, or a SIGTERM (`terminate_as_interrupt`: `docker stop`, `timeout`, Slurm and Kubernetes
    send it to exactly the long commands; audit AR: `ingest`, `embed`, `export` and `run` ended with no word,
    `embed` lost the part under way and a killed export's journal its last files), into the "interrupted" line
    and 130 or 143."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with terminate_as_interrupt():
                return command(*args, **kwargs)
        except CurateError as exc:
            if kwargs.get("as_json") and getattr(exc, "result", None) is not None:  # what the run did, for --json
                print(json.dumps(exc.result, indent=2, default=str))
            # escaped: messages quote user text such as "[train]" that Rich would read as markup
            err_console.print(f"[red]error:[/red] {escape(error_text(str(exc)))}", markup=True, highlight=False,
                              soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            err_console.print("interrupted: run the same command again to resume", highlight=False)
            raise typer.Exit(interrupt_code(exc)) from None

    return wrapper


def _command_path(app: typer.Typer, prog_name: str, args: list[str] | None) -> str:
    """`curate filter` for `curate filter --drop-quality` (an option missing its value: the parser's error has no
    context, and the line pointed at `curate --help`; audit AL): the subcommands named at the front of `args`."""
    import sys

    command, path = typer.main.get_command(app), [prog_name]
    for word in (sys.argv[1:] if args is None else args):
        children = getattr(command, "commands", None)
        if not children or word not in children:
            break
        command = children[word]
        path.append(word)
    return " ".join(path)


def run_app(app: typer.Typer, prog_name: str, args: list[str] | None = None) -> None:
    """Run a CLI and exit with its code. A usage error the parser finds itself (an unknown or
    missing option, a value outside an option's range, a bad choice) becomes one line naming
    the command's --help, exit 2, like every other bad argument (typer would draw a framed
    panel). A bare group still prints its help."""
    import sys

    try:  # typer >= 0.25 carries its own copy of click
        from typer._click import exceptions as parser_errors
    except ImportError:
        from click import exceptions as parser_errors
    shows_help = getattr(parser_errors, "NoArgsIsHelpError", ())  # click >= 8.2

    try:
        code = typer.main.get_command(app).main(args=args, prog_name=prog_name, standalone_mode=False)
    except shows_help as exc:
        exc.show()
        code = exc.exit_code
    except parser_errors.ClickException as exc:
        where = exc.ctx.command_path if getattr(exc, "ctx", None) else _command_path(app, prog_name, args)
        err_console.print(f"[red]error:[/red] {escape(error_text(exc.format_message()))} (see `{where} --help`)",
                          markup=True, highlight=False, soft_wrap=True)
        code = exc.exit_code
    except typer.Abort:
        err_console.print("interrupted: run the same command again to resume", highlight=False)
        code = 130
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # a full disk, wherever it struck (`--json > /dev/full`, audit X): one line, not a traceback; writes are
        # atomic, so what was being written is as it was (a closed pipe, `| head`, click ends quietly itself)
        # stdout has no name, nor has a file pyarrow writes (the catalog, the embedding cache: audit R)
        where = f" writing {exc.filename}" if exc.filename else " (writing the workspace or the command's output)"
        try:
            err_console.print(f"error: {exc.strerror or exc}{where}; free some space and run the same command again",
                              highlight=False, soft_wrap=True)
        except OSError:
            pass
        code = 1
    code = code if isinstance(code, int) else 0
    if code == 130:
        leave_ray_quietly(code)
    sys.exit(code)


def leave_ray_quietly(code: int) -> None:
    """After a Ctrl-C of a command that started a local Ray (its raylet, in the terminal's process group, took the
    same signal and died), end the process at once with `code`: the interpreter's own exit tears down Ray's core
    worker, which crashed
    with a segmentation fault (or Ray's "you have likely discovered a bug" dump) after the "interrupted" line in
    3 to 4 runs of 10 (audit AR5, reproduced on 1,000 real photos; one came while `ray.init` still ran). The
    command has finished its writes (atomic, the journal flushed) and printed its line; only the streams are
    flushed here. Without Ray, nothing happens. Not after SIGTERM (exit 143): `kill` or `timeout` signal the
    command alone, and Ray's own shutdown at exit must stop the local cluster it started (review BC: skipped, its
    agents outlived the command)."""
    import os
    import sys

    from curate.engines.ray import loaded

    if not loaded():
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# C0 and C1 control characters (ESC starts terminal escape sequences) and the bidi overrides
# that reorder what a terminal shows: catalog text (labels, tags, sources) comes from strangers.
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """`text` with control characters replaced by U+FFFD, safe to print on a terminal.

    >>> printable("chicago\x1b[2J")
    'chicago\ufffd[2J'
    """
    return CONTROL_CHARS.sub("\ufffd", str(text))


def printable_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `printable` applied to its column names and text cells (vectorised)."""
    out = frame.rename(columns=printable)
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            text = out[column].astype("string")
            out[column] = text.str.replace(CONTROL_CHARS, "\ufffd", regex=True).where(out[column].notna())
    return out


MAX_CELL_CHARS = 60  # a table cell longer than this is cut (audit CG: one 300-character tag made status 190 wide)


def cell_text(value: object) -> str:
    """A table cell: `printable`, cut to MAX_CELL_CHARS with an ellipsis (`--json` gives the whole text).

    >>> cell_text("x" * 70)[-3:], len(cell_text("x" * 70)), cell_text("paris")
    ('xx…', 60, 'paris')
    """
    text = printable(value)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"


def frame_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """A rich table of a small DataFrame, its text `printable` (labels and tags come from strangers) and cut
    to a readable width (`cell_text`)."""
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(printable(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if pd.isna(v) else cell_text(v) for v in row))
    return table


def print_table(frame: pd.DataFrame, title: str | None = None) -> None:
    """The frame as a table under its title; a frame without rows is one line (`title: none`), not the
    headers of an empty table."""
    if frame.empty and title:
        console.print(f"{title}: none", highlight=False, markup=False, soft_wrap=True)
        return
    console.print(frame_table(frame, title))


def print_drop_reasons(dropped_by_reason: dict[str, int]) -> None:
    """An ingest report's "dropped by reason" table, most rows first (nothing when none dropped)."""
    if dropped_by_reason:
        reasons = pd.DataFrame(sorted(dropped_by_reason.items(), key=lambda kv: (-kv[1], kv[0])),
                               columns=["drop_reason", "rows"])
        print_table(reasons, title="dropped by reason")


def print_ingest_details(report) -> None:
    """An ingest report's warnings, columns (mapped by --map, recognised, ignored) and metadata updates."""
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    usage = report.columns
    if usage is not None:
        console.print(f"columns mapped by --map: {_arrows(usage.mapped)}", highlight=False, soft_wrap=True)
        console.print(f"columns recognised: {_arrows(usage.recognised)}", highlight=False, soft_wrap=True)
        # a sidecar of 20,000 keys printed a line of 149,063 characters (audit H), a key nested 900 deep 1,854
        shown = [name if len(name) <= 60 else name[:57] + "…" for name in usage.ignored[:20]]
        more = f", … and {len(usage.ignored) - len(shown):,} more" if len(usage.ignored) > len(shown) else ""
        ignored = (", ".join(shown) + more) or "none"
        hint = " (pass --map FIELD=COLUMN to read one)" if usage.ignored else ""
        console.print(f"columns ignored: {ignored}{hint}", highlight=False, soft_wrap=True)
    if report.metadata_updated:
        changed = ", ".join(f"{name} {rows}" for name, rows in report.changed_columns.items())
        console.print(f"metadata updated for {report.metadata_updated} rows already in the catalog "
                      f"({changed}); their images are unchanged, and the stages that read these "
                      "columns must run again", highlight=False, soft_wrap=True)
    from curate.ingest.http import transient_failures

    if failed := transient_failures(report.dropped_by_reason):
        plural = "s" if failed != 1 else ""
        console.print(f"note: {failed:,} download{plural} failed for a reason that may pass (timeout, connection "
                      "error, 5xx, 429); run the same command again to retry them", highlight=False, soft_wrap=True)


def _arrows(field_to_column: dict[str, str]) -> str:
    """{'owner_id': 'owner_nsid'} -> 'owner_nsid → owner_id' ('none' when empty)."""
    return ", ".join(f"{column} → {name}" for name, column in field_to_column.items()) or "none"
