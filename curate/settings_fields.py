"""Settings declared once: a stage config's field carries its help text and how the command
line spells it.

A stage config dataclass declares each setting with `setting(default, help=...)`; from that one
declaration curate/cli/options.py builds the command's flag and curate.pipeline.settings checks
the recipe key of the same name. A check that refuses a value raises `SettingError` naming the
field as `{field}`, and whoever knows where the value came from renders the name: the command
line as the flag (`--max-km must be ...`), a recipe as its key (`[filter]: max_km must be ...`).

>>> from dataclasses import dataclass, fields
>>> @dataclass(frozen=True)
... class Example:
...     max_km: float = setting(5.0, help="Geo outlier threshold in km.")
...     dedupe_near: bool = setting(False, help="Keep one photo per cluster.", flag="--dedupe-near/--keep-near")
>>> [flag_names(f) for f in fields(Example)]
[('--max-km',), ('--dedupe-near', '--keep-near')]
>>> str(SettingError("{max_km} must be positive, got -1", "max_km"))
'--max-km must be positive, got -1'
>>> SettingError("{max_km} must be positive, got -1", "max_km").render(lambda name: name)
'max_km must be positive, got -1'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field, field
from typing import Any

from curate.errors import UsageError

HELP, FLAG, PARSE, METAVAR, HIDDEN = "help", "flag", "parse", "metavar", "hidden"


def setting(default: Any = MISSING, *, help: str, flag: str | None = None,
            parse: Callable[[str], Any] | None = None, default_factory: Any = MISSING,
            metavar: str | None = None, hidden: bool = False) -> Any:
    """A config field declared once: its default, the help text its flag shows, and optionally
    the flag's spelling ("--C"; "--dedupe-near/--keep-near" for a true/false pair; "--force" for
    a flag that can only switch on; extra names after a comma: "--format,-f") and `parse`, which
    turns text (a flag's value, or a recipe's string) into the field's value, e.g. "auto" -> None.
    Without `flag`, the flag is the field name with dashes (--max-km; --x/--no-x for true/false).
    `metavar` names the flag's value in --help (ADDR); `hidden` keeps the flag out of --help
    (a test's endpoint)."""
    metadata = {HELP: help, FLAG: flag, PARSE: parse, METAVAR: metavar, HIDDEN: hidden}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def is_setting(item: Field) -> bool:
    """Whether a dataclass field was declared with `setting` (it has help text)."""
    return HELP in item.metadata


def default_flag(name: str) -> str:
    """A field name as a flag: max_km -> --max-km."""
    return "--" + name.replace("_", "-")


def flag_names(item: Field) -> tuple[str, ...]:
    """Every name the field's flag answers to, the main one first (a true/false pair: on, then off)."""
    spelled = item.metadata.get(FLAG)
    if spelled:
        return tuple(name.strip() for part in spelled.split(",") for name in part.split("/") if name.strip())
    if _is_bool(item.type):
        return default_flag(item.name), "--no-" + item.name.replace("_", "-")
    return (default_flag(item.name),)


def _is_bool(hint) -> bool:
    """bool or bool | None, as a type or as the text `from __future__ import annotations` leaves."""
    if isinstance(hint, str):
        return hint.replace(" ", "") in ("bool", "bool|None", "None|bool", "Optional[bool]")
    return hint is bool or hint == (bool | None)


def flag_name(item: Field) -> str:
    """The flag a message names for this field: --max-km, --dedupe-near, --C."""
    return flag_names(item)[0]


def changed_flags(config_class, values: dict) -> list[str]:
    """The command-line flags that give a config the `values` it ran with (a stage report's `config`), for
    each setting whose value differs from its default: what `curate status` suggests re-running a stage with
    (audit AF: it suggested the bare command, which would undo a recipe's or a flag's settings). A None where
    the default is a value is how a setting's "off" is stored, and is spelt back so (audit DA: status suggested
    `curate filter` for a run with `--near-dup-cosine off`, which turned the link back on); a None where the
    default is None too is the default.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Example:
    ...     max_km: float | None = setting(5.0, help="km, or off.")
    ...     drop: tuple = setting((), help="checks.")
    ...     near: bool = setting(False, help="near.", flag="--dedupe-near/--keep-near")
    ...     force: bool = setting(False, help="force.", flag="--force")
    >>> changed_flags(Example, {"max_km": 5.0, "drop": ["dark", "tiny"], "near": True, "force": False})
    ['--drop dark,tiny', '--dedupe-near']
    >>> changed_flags(Example, {"max_km": None, "near": None})
    ['--max-km off']
    """
    import shlex
    from dataclasses import fields

    flags = []
    for item in fields(config_class):
        if not is_setting(item) or item.name not in values or item.metadata.get(HIDDEN):
            continue
        default = item.default_factory() if item.default_factory is not MISSING else item.default
        value = values[item.name]
        names = flag_names(item)
        if value is None and default not in (None, MISSING) and "None" in str(item.type):  # (a setting "off" takes)
            flags.append(f"{names[0]} off")
            continue
        if value is None or _same(value, default):
            continue
        if isinstance(value, bool):
            if value:
                flags.append(names[0])
            elif len(names) > 1:
                flags.append(names[1])
        elif isinstance(value, (list, tuple)):
            flags.append(f"{names[0]} {shlex.quote(','.join(map(str, value)))}")
        else:
            flags.append(f"{names[0]} {shlex.quote(str(value))}")
    return flags


def _same(value, default) -> bool:
    if isinstance(value, (list, tuple)) or isinstance(default, (list, tuple)):
        return list(value or ()) == list(default or ())
    return value == default


class SettingError(UsageError):
    """A setting's value is refused. The message names fields as `{field}` placeholders: the
    command line renders them as flags, a recipe as keys (`render`); str() shows flags, or keys
    with `as_key` (a setting long known by its key)."""

    def __init__(self, template: str, *names: str, as_key: bool = False):
        self.template, self.names, self.as_key = template, names, as_key
        super().__init__(self.render((lambda name: name) if as_key else default_flag))

    def render(self, name_of: Callable[[str], str]) -> str:
        """The message with each `{field}` replaced by `name_of(field)`."""
        text = self.template
        for name in self.names:
            text = text.replace("{" + name + "}", name_of(name))
        return text
