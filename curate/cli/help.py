"""Help pages that read well at 80 columns, for every `curate` and `classify` command.

Typer's own rich help puts each option in a six-column table: at 80 columns the description
column is squeezed until long words and long option names are cut off ("…"), every flag shows a
`<bool>` metavar and Python types leak through (`<list[Path]>`, `{run}`). Here each command and
group draws its own page from click's public parameter API instead:

    Usage: classify train [OPTIONS]
    ╭─ Options ──────────────────────────────────────────────────────────╮
    │ --workspace, -w PATH   Workspace folder (catalog + image store).   │
    │                        [env var: CURATE_WORKSPACE; default: ...]   │
    │ --compile              torch.compile the model. [default: False]   │

Flags show no metavar; other options show a click-style word (TEXT, INTEGER, FLOAT, PATH,
[a|b|c]); descriptions wrap (a word longer than the column folds, never cut); an option name too
long for its column gets a line of its own. `HelpTyper` is a `typer.Typer` whose commands and
groups use these classes; `command_order` lists a group's commands in the order its help shows them.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import typer
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

NAME_WIDTH = 26  # an option's names + metavar wider than this get a line of their own
_TYPE_WORDS = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "bool": "BOOLEAN", "Path": "PATH",
               "datetime": "DATETIME", "integer": "INTEGER", "text": "TEXT", "boolean": "BOOLEAN",
               "path": "PATH", "filename": "FILE", "uuid": "UUID"}


def metavar(param) -> str:
    """The readable metavar of a click/typer parameter: '' for a flag, else e.g. TEXT, PATH, [a|b]."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    explicit = getattr(param, "metavar", None)
    if explicit and "<" not in explicit:
        return explicit
    choices = _choices(param)
    if choices:
        return "[" + "|".join(str(getattr(choice, "value", choice)) for choice in choices) + "]"
    return _type_word(param)


def _choices(param) -> Sequence | None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        return descriptor.choices if descriptor.is_choice else None
    return getattr(getattr(param, "type", None), "choices", None)


def _type_word(param) -> str:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:  # typer < 0.25: a click ParamType
        name = str(getattr(getattr(param, "type", None), "name", "text")).split(" ")[0]
        return _TYPE_WORDS.get(name, name.upper())
    if descriptor.is_path:
        return "PATH"
    annotation = descriptor.annotation
    while getattr(annotation, "__args__", None) and getattr(annotation, "__origin__", None) in (list, tuple):
        args = [arg for arg in annotation.__args__ if arg is not Ellipsis]
        if getattr(annotation, "__origin__", None) is tuple and len(args) > 1:
            return " ".join(_TYPE_WORDS.get(getattr(arg, "__name__", ""), "TEXT") for arg in args)
        annotation = args[0]
    name = getattr(annotation, "__name__", "")
    return "PATH" if name.endswith("Path") else _TYPE_WORDS.get(name, "TEXT")


def _argument_name(param) -> str:
    name = param.metavar if param.metavar and "<" not in param.metavar else (param.name or "").upper()
    return name + ("..." if param.nargs != 1 and not name.endswith("...") else "")


def usage_line(command, ctx) -> str:
    """`Usage: <path> [OPTIONS] ARG [OPTIONAL]...` with upper-case argument names, no Python types."""
    pieces = [getattr(command, "options_metavar", None) or "[OPTIONS]"]
    for param in command.get_params(ctx):
        if getattr(param, "param_type_name", "") == "argument":
            name = _argument_name(param)
            pieces.append(name if param.required else f"[{name}]")
    if isinstance(command, TyperGroup):
        pieces.append(command.subcommand_metavar)
    return f"Usage: {ctx.command_path} {' '.join(pieces)}"


def _option_names(param) -> str:
    names = ", ".join(param.opts)
    if getattr(param, "secondary_opts", None):
        names += " / " + ", ".join(param.secondary_opts)
    word = metavar(param)
    return f"{names} {word}" if word else names


def _described_params(command, ctx) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    """(argument rows, option rows by panel title) as (names, description with its [default: ...])."""
    arguments, panels = [], {}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        if getattr(param, "param_type_name", "") == "argument":
            arguments.append((_argument_name(param), " ".join(record[1].split())))
        else:
            title = getattr(param, "rich_help_panel", None) or "Options"
            panels.setdefault(title, []).append((_option_names(param), " ".join(record[1].split())))
    return arguments, panels


def rows_panel(title: str, rows: list[tuple[str, str]], width: int) -> Panel:
    """A titled panel of (name, description) rows that fits `width` columns: descriptions wrap
    beside the names (or under a name too long for the name column); nothing is cut off."""
    inner = width - 4  # border and padding
    name_width = min(max(len(name) for name, _ in rows), NAME_WIDTH) + 2
    if inner - name_width < 24:
        name_width = 4
    lines: list[Text] = []
    for name, description in rows:
        wrapped = Text(description).wrap(_MEASURE, inner - name_width, overflow="fold") if description else []
        first = Text(name, style="bold cyan")
        if len(name) + 2 > name_width:  # a line of its own, the description below in its column
            lines.append(Text(name, style="bold cyan", overflow="fold"))
        elif wrapped:
            first.pad_right(name_width - len(name))
            lines.append(first + wrapped[0])
            wrapped = wrapped[1:]
        else:
            lines.append(first)
        lines.extend(Text(" " * name_width) + line for line in wrapped)
    return Panel(Group(*lines), title=title, title_align="left", border_style="dim", padding=(0, 1))


_MEASURE = Console(width=10_000, color_system=None, highlight=False)


def _paragraphs(text: str) -> list[str]:
    """Help text as paragraphs, single line breaks joined (a paragraph opening with \\b kept as written)."""
    out = []
    for paragraph in inspect.cleandoc(text or "").split("\n\n"):
        if paragraph.startswith("\b"):
            out.append(paragraph.lstrip("\b\n"))
        elif paragraph.strip():
            out.append(" ".join(paragraph.split()))
    return out


def print_help(command, ctx, commands: list[tuple[str, str]] | None = None) -> None:
    """Print `command`'s help page to stdout at the terminal's width (COLUMNS when set)."""
    console = Console(highlight=False)
    console.print(Text(" " + usage_line(command, ctx), style="bold"))
    for paragraph in _paragraphs(command.help):
        console.print()
        console.print(Padding(Text(paragraph, overflow="fold"), (0, 1)))
    console.print()
    arguments, panels = _described_params(command, ctx)
    if arguments:
        console.print(rows_panel("Arguments", arguments, console.width))
    for title, rows in panels.items():
        console.print(rows_panel(title, rows, console.width))
    if commands:
        console.print(rows_panel("Commands", commands, console.width))
    if command.epilog:
        console.print(Padding(Text(inspect.cleandoc(command.epilog), overflow="fold"), (0, 1)))


class HelpCommand(TyperCommand):
    """A typer command whose --help is `print_help`'s page."""

    def format_help(self, ctx, formatter) -> None:
        print_help(self, ctx)


class HelpGroup(TyperGroup):
    """A typer group whose --help is `print_help`'s page; subcommands listed in `command_order`
    first (in that order), then the others in the order they were added."""

    command_order: tuple[str, ...] = ()

    def list_commands(self, ctx) -> list[str]:
        names = list(self.commands)
        return [name for name in self.command_order if name in self.commands] + \
            [name for name in names if name not in self.command_order]

    def format_help(self, ctx, formatter) -> None:
        shown = [(name, self.commands[name]) for name in self.list_commands(ctx)]
        rows = [(name, (_paragraphs(command.short_help or command.help) or [""])[0])
                for name, command in shown if not command.hidden]
        print_help(self, ctx, commands=rows)


class HelpTyper(typer.Typer):
    """`typer.Typer` whose commands and groups print `print_help`'s pages; `command_order`: the
    order the group's help lists its commands in (others follow in the order they were added)."""

    def __init__(self, *, command_order: Sequence[str] = (), **options) -> None:
        group = type("OrderedHelpGroup", (HelpGroup,), {"command_order": tuple(command_order)})
        options.setdefault("cls", group)
        super().__init__(**options)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options):
        """As `typer.Typer.command`, with `HelpCommand` as the default class."""
        return super().command(name, cls=cls or HelpCommand, **options)
