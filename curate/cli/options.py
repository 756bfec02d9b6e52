"""A command's setting flags, built from its stage config dataclass (curate.settings_fields).

`@config_options(FilterConfig)` on a command whose signature has a `settings: dict` parameter
replaces that parameter by one typer option per field of the dataclass: the flag, its help text
and its parsing come from the field's declaration, so a field added to the dataclass is a flag
(and, through curate.pipeline.settings.build_config, a recipe key) with no other edit. The
command receives `settings`, the values given on the command line by field name, and passes
them on as `build_config(..., flags=settings)`: a flag given wins over the recipe's section,
which wins over the dataclass default.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Annotated

import typer

from curate.settings_fields import HELP, HIDDEN, METAVAR, PARSE, flag_names


def config_options(cls, *, layered: bool = True, skip: tuple[str, ...] = (), required: tuple[str, ...] = (),
                   param: str = "settings", show_defaults: bool = False):
    """Decorate a command: its `settings` parameter becomes one option per field of `cls`.

    layered: the command also reads a recipe, so an option left out is None (not given) and its
    help says the default; otherwise an option's default is the field's, shown by --help.
    skip: fields without a flag here. required: fields whose flag must be given.
    param: the parameter to replace, for a command with two configs (`engine_settings`, the
    engine's flags; curate/cli/engine_options.py).
    show_defaults: a layered command's help shows the field's default (its other source, like
    `--set NAME=VALUE`, is not a recipe that changes it).
    """
    def decorate(command):
        signature = inspect.signature(command)
        resolved = typing.get_type_hints(command, include_extras=True)  # the command's own options, as objects
        own = [param.replace(annotation=resolved.get(param.name, param.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
               for param in signature.parameters.values()]
        at = [item.name for item in own].index(param)
        hints = typing.get_type_hints(cls)
        made = [_parameter(item, hints[item.name], layered, item.name in required, show_defaults)
                for item in fields(cls) if item.name not in skip]
        clash = {item.name for item in made} & {item.name for item in own}
        if clash:
            raise TypeError(f"{command.__name__}: parameters {sorted(clash)} are also fields of {cls.__name__}")
        parsed_by_field = {item.name for item in fields(cls) if item.metadata.get(PARSE)}  # text, as given
        parsers = {item.name: (lambda value: value) if item.name in parsed_by_field else _from_flag(hints[item.name])
                   for item in made}

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            given = {name: kwargs.pop(name) for name in parsers if name in kwargs}
            settings = {name: parsers[name](value) for name, value in given.items()
                        if value is not None and not (layered and value is False and _single_flag(cls, name))}
            return command(*args, **{param: settings}, **kwargs)

        params = [*own[:at], *made, *own[at + 1:]]
        wrapper.__signature__ = signature.replace(parameters=params, return_annotation=None)
        wrapper.__annotations__ = {item.name: item.annotation for item in params}
        wrapper.__dict__.pop("__wrapped__", None)  # typer reads the signature above, not the command's
        wrapper.config_classes = (*getattr(command, "config_classes", ()), cls)
        wrapper.config_class = cls
        return wrapper

    return decorate


def _single_flag(cls, name: str) -> bool:
    item = next(item for item in fields(cls) if item.name == name)
    return len(flag_names(item)) == 1


def _parameter(item: Field, hint, layered: bool, required: bool, show_defaults: bool = False) -> inspect.Parameter:
    """The typer option of one field: its type on the command line, names, help and default."""
    cli_type = str if item.metadata.get(PARSE) else _cli_type(hint)
    names = flag_names(item)
    pair = cli_type is bool and len(names) == 2 and names[1].startswith("--")
    option_names = ["/".join(names)] if pair else list(names)
    default = item.default if item.default is not MISSING else None
    if required:
        default, show = inspect.Parameter.empty, False
    elif layered:
        shown = show_defaults and default not in (None, ()) and not (cli_type is bool and not pair)
        show = (",".join(default) if isinstance(default, tuple) else str(default)) if shown else False
        default = False if cli_type is bool and not pair else None
    else:
        show = default is not None and not isinstance(default, tuple) and not (cli_type is bool and not pair)
        if isinstance(default, Path):
            default = str(default)  # a path shown as the text its option reads
        if cli_type is str and default is not None and not isinstance(default, str):
            default = None  # a list or a number shown to a text option: its help says the default
    annotation = cli_type if required or default is not None and not (layered and pair) else cli_type | None
    option = typer.Option(*option_names, help=item.metadata.get(HELP, ""), show_default=show,
                          metavar=item.metadata.get(METAVAR), hidden=bool(item.metadata.get(HIDDEN)))
    return inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, option])


def _cli_type(hint):
    """The type a flag reads: bool, int, float or str (text for a list, a choice of types, or a
    value the field parses itself)."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)] \
        if typing.get_origin(hint) in (typing.Union, types.UnionType) else [hint]
    if len(args) == 1 and args[0] in (bool, int, float, str):
        return args[0]
    return str


def _from_flag(hint):
    """How a flag's value becomes the setting: comma-separated text for a list field."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if any(typing.get_origin(arg) is tuple for arg in args):
        return lambda text: [name.strip() for name in text.split(",") if name.strip()]
    return lambda value: value
