"""Help pages at 80 columns: nothing cut off, no Python types, flags without a metavar, and
`curate --help` listing the commands in pipeline order (curate/cli/help.py)."""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from classify.cli import app as classify_app
from curate.cli.app import COMMAND_ORDER
from curate.cli.app import app as curate_app
from curate.cli.help import HelpTyper, metavar

runner = CliRunner()


def _command_paths(app: typer.Typer) -> list[tuple[list[str], object]]:
    """Every (path of names, click command) under `app`, the groups included."""
    found = []

    def walk(command, path):
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _help(app: typer.Typer, args: list[str], columns: int = 80) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


ALL_COMMANDS = [(app, name, path, command) for app, name in ((curate_app, "curate"), (classify_app, "classify"))
                for path, command in _command_paths(app)]


@pytest.mark.parametrize("app, prog, path, command", ALL_COMMANDS,
                         ids=[" ".join([prog, *path]) for _, prog, path, _ in ALL_COMMANDS])
def test_every_help_page_fits_80_columns_without_python_types_or_cuts(app, prog, path, command):
    text = _help(app, path)
    assert "Usage:" in text
    for leak in ("<bool>", "<str>", "<int>", "<float>", "<path>", "list[", "{", "…"):
        assert leak not in text, (leak, text)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    words = " ".join(text.split())
    for param in command.params:
        if getattr(param, "hidden", False) or param.param_type_name != "option":
            continue
        for name in [*param.opts, *param.secondary_opts]:
            assert name in words, (name, text)  # every option name shown whole


@pytest.mark.parametrize("app, prog, path, command", ALL_COMMANDS,
                         ids=[" ".join([prog, *path]) for _, prog, path, _ in ALL_COMMANDS])
def test_flags_show_no_metavar_and_other_options_a_readable_one(app, prog, path, command):
    text = _help(app, path, columns=200)
    options = [(param, (param.secondary_opts or param.opts)[-1]) for param in command.params
               if param.param_type_name == "option" and not param.hidden]
    # an option's names column: from "│ -" to the first two spaces (the description follows them)
    names_columns = [line[2:].split("  ")[0] for line in text.splitlines() if line.startswith("│ -")]
    for param, last in [*options, (None, "--help")]:
        shown = re.compile(rf"(?:^|(?<=[ ,/])){re.escape(last)}(?= |$)")
        found = next(found for found in map(shown.search, names_columns) if found)
        names, after = found.string, found.string[found.end():]
        if param is None or getattr(param, "is_flag", False):
            assert after.strip() == "", (last, names)  # the names end with the flag's last name
        else:
            assert re.fullmatch(r" [A-Z\[][A-Za-z0-9_,.=|\[\]-]*", after), (last, names)


def test_curate_help_lists_the_commands_in_pipeline_order():
    text = _help(curate_app, [])
    commands = text[text.index("Commands"):]
    listed = re.findall(r"^│ ([a-z][a-z-]+) ", commands, flags=re.MULTILINE)
    registered = list(typer.main.get_command(curate_app).commands)
    assert sorted(listed) == sorted(registered)  # every command listed once
    expected = ["ingest", "embed", "filter", "prefilter", "review", "split", "check-leakage", "report", "export",
                "run", "status", "score"]
    assert [name for name in listed if name in expected] == expected
    assert list(COMMAND_ORDER) == expected


class Format(enum.StrEnum):
    csv = "csv"
    hf = "hf"


def _sample_app() -> HelpTyper:
    app = HelpTyper(no_args_is_help=True)

    @app.command("go")
    def go(recipe: Annotated[Path, typer.Argument(help="A recipe.")],
           images: Annotated[list[Path] | None, typer.Option("--image", help="Repeatable.")] = None,
           tags: Annotated[list[str] | None, typer.Option(help="Tags.")] = None,
           fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.csv,
           a_really_quite_long_option_name_for_80_columns: Annotated[int, typer.Option(help="word " * 40)] = 3,
           share: Annotated[float, typer.Option(help="A share.")] = 0.5,
           dry: Annotated[bool, typer.Option("--dry-run/--no-dry-run", help="Only say what would happen.")] = False,
           ) -> None:
        """Do it, with a path that is long: <workspace>/runs/<backbone>-<timestamp>/checkpoints/last.safetensors."""

    @app.command("other")
    def other() -> None:
        """Another."""

    return app


def test_metavars_are_words_not_python_types():
    group = typer.main.get_command(_sample_app())
    params = {param.name: param for param in group.commands["go"].params}
    assert metavar(params["recipe"]) == "PATH"
    assert metavar(params["images"]) == "PATH" and metavar(params["tags"]) == "TEXT"
    assert metavar(params["fmt"]) == "[csv|hf]"
    assert metavar(params["share"]) == "FLOAT" and metavar(params["dry"]) == ""
    assert metavar(params["a_really_quite_long_option_name_for_80_columns"]) == "INTEGER"


def test_long_names_and_long_words_wrap_instead_of_being_cut():
    app = _sample_app()
    text = _help(app, ["go"])
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "go [OPTIONS] RECIPE\n" in text
    assert "--a-really-quite-long-option-name-for-80-columns INTEGER" in text  # a line of its own
    assert "".join(text.split()).count("word") == 40  # the description wraps whole
    assert "last.safetensors" in "".join(text.split())
    narrow = _help(app, ["go"], columns=40)  # too narrow for two columns: descriptions go under the names
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 40
    assert "".join(narrow.split()).count("word") == 40
