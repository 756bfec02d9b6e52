"""Recipe settings: each value checked against the field of the stage config it fills.

`build_config(cls, section, where)` turns a recipe section (a TOML table) into the stage's
frozen config dataclass after checking every key is a field and every value has the field's
type, so a bad recipe fails at once with one line naming its first invalid key. A command that
also reads a recipe passes its flags too (`flags=`, curate/cli/options.py): a flag given wins
over the section, and a refused value is named as the user gave it, flag or key.
"""

from __future__ import annotations

import collections.abc
import hashlib
import json
import types
import typing
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

from curate.errors import UsageError
from curate.leakage_lookalikes import LOOKALIKE_COSINE, parse_lookalike_cosine
from curate.recipes import toml_text
from curate.schema import SPLITS
from curate.settings_fields import PARSE, SettingError, default_flag, flag_name, setting
from curate.vision.devices import DEVICE_CHOICES


@dataclass(frozen=True)
class EvaluateSettings:
    """[evaluate] in a recipe: what `classify evaluate` adds after training."""

    split: str = setting("test", help="Which split to score: test, val or train.")
    top_losses: int = setting(24, help="Photos in the top-losses gallery.")
    uncurated: bool = setting(False, flag="--uncurated", help=(
        "Also train RUN's settings without curation (into RUN/uncurated) and score both models on the same clean "
        "test split: what curation is worth."))
    compare_random_split: bool = setting(False, flag="--compare-random-split", help=(
        "Also train RUN's settings on a random split (into RUN/compare-random-split) and report the leakage "
        "inflation of its test accuracy."))
    device: str = setting("auto", help=f"One of {', '.join(DEVICE_CHOICES)}.")

    def __post_init__(self):
        if self.split not in SPLITS:
            raise SettingError(f"{{split}} must be one of {', '.join(SPLITS)}, got {self.split!r}", "split")
        if isinstance(self.top_losses, bool) or not isinstance(self.top_losses, int) or self.top_losses < 0:
            raise SettingError(f"{{top_losses}} must be a whole number, 0 or more, got {self.top_losses!r}",
                               "top_losses")


@dataclass(frozen=True)
class LeakageSettings:
    """[leakage] in a recipe: what `curate check-leakage` checks besides the split (curate.contamination)."""

    against: str | None = setting(None, metavar="WORKSPACE", help=(
        "Also list the kept photos that are exact or near copies of photos in another workspace, or a folder of "
        "photos (a benchmark's test set, say; a folder is ingested first), by the filter's near-duplicate rule "
        "(in a recipe: relative to the recipe's folder)."))
    lookalike_cosine: float | str | None = setting(LOOKALIKE_COSINE, help=(
        "Also list the val/test photos whose nearest train photo has at least this cosine (curate embed's "
        "vectors) without sharing an owner or cluster, for review (not counted as leaks), or off."))

    def __post_init__(self):
        object.__setattr__(self, "lookalike_cosine", parse_lookalike_cosine(self.lookalike_cosine))
        if self.against is not None and (not isinstance(self.against, str) or not self.against.strip()):
            raise SettingError(f"{{against}} must be a workspace folder, got {self.against!r}", "against")


@dataclass(frozen=True)
class ReportSettings:
    """[report] in a recipe: checked exactly as `curate report`'s flags are."""

    max_gallery: int = setting(12, help="Most photos per gallery (the page stays short).")
    max_rows: int = setting(200, help="Most rows per big table (full tables in CSV/JSON).")
    owner_alarm: float = setting(0.10, help=(
        "An owner alarm also needs the label's top owner to hold more than this share of its kept photos (the alarm "
        "itself: top owners unusually large for the collection; docs/report.md)."))

    def __post_init__(self):
        from curate.report.run import check_report_limits

        check_report_limits(self.max_gallery, self.max_rows, self.owner_alarm)


def build_config(cls, section: dict, where: str, *, flags: dict | None = None, command: str = "", **fixed):
    """`cls(**section, **flags, **fixed)` after checking every key is a field of the right type.

    `section` is a recipe's table, named in messages as `where: key`; `flags` holds the values
    given on the command line (they win over the section), named by their flag after `command`. A
    field's `parse` (curate.settings_fields) turns a string into its value first. Lists become
    tuples for tuple fields. Raises UsageError naming the first bad key or flag.
    """
    on_command_line, flags = flags is not None, flags or {}
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in fields(cls)}
    known = [name for name in by_name if name not in fixed]
    flag_of = lambda name: flag_name(by_name[name]) if name in by_name else default_flag(name)  # noqa: E731
    values = {}
    for key, value in section.items():
        if key not in known:
            raise UsageError(f"{where}: unknown setting {key!r}; known settings: {', '.join(known)}")
        values[key] = _checked(by_name[key], value, hints[key], f"{where}: {key}")
    for key, value in flags.items():
        values[key] = _checked(by_name[key], value, hints[key], f"{command}: {flag_of(key)}" if command
                               else flag_of(key))
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
               and f.name not in values and f.name not in fixed]
    if missing:
        raise UsageError(f"{where}: missing setting {missing[0]!r}")
    try:
        return cls(**values, **fixed)
    except SettingError as exc:
        # on the command line a value is named by its flag unless it came from the recipe's section
        from_recipe = [name for name in exc.names if name in section and name not in flags] if on_command_line \
            else list(exc.names)
        text = exc.render(lambda name: name if name in from_recipe else flag_of(name))
        prefix = where if from_recipe else command
        raise UsageError(f"{prefix}: {text}" if prefix else text) from None
    except UsageError as exc:
        prefix = (f"{command} ({where})" if section else command) if on_command_line else where
        raise UsageError(f"{prefix}: {exc}" if prefix else str(exc)) from None


def _checked(item, value, hint, where: str):
    """A recipe or flag value as the field's type, after the field's `parse` for a string."""
    parse = item.metadata.get(PARSE)
    if parse is not None and isinstance(value, str):
        try:
            value = parse(value)
        except SettingError as exc:
            raise UsageError(f"{where} {exc.render(lambda name: '').strip()}") from None
    return _check_type(value, hint, where)


def _check_type(value, hint, where: str):
    """`value` converted to `hint` (int -> float, list -> tuple, str -> Path) or a UsageError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, where)
            except UsageError:
                pass
        raise UsageError(f"{where} must be {_describe(hint)}, got {toml_text(value)}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            # a single text, as the command line takes it (`--drop-quality all`): the list that means it
            hint_text = f", e.g. {toml_text([value])}" if isinstance(value, str) else ""
            raise UsageError(f"{where} must be a list{hint_text}, got {toml_text(value)}")
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            raise UsageError(f"{where} must be a list of {len(items)} values, got {toml_text(value)}")
        return tuple(_check_type(v, t, where) for v, t in zip(value, items))
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{where} must be a table, got {toml_text(value)}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Path:
        if isinstance(value, str):
            return Path(value)
    elif hint is typing.Any:
        return value
    raise UsageError(f"{where} must be {_describe(hint)}, got {toml_text(value)}")


def _describe(hint) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Path: "a path"}
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if typing.get_origin(hint) is tuple:
        return "a list"
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def fingerprint(settings: dict) -> str:
    """A short, stable hash of a step's settings: an unchanged fingerprint means an unchanged result."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def asdict_plain(config) -> dict:
    """A config dataclass as plain JSON values (paths as strings): a step's settings to fingerprint."""
    return json.loads(json.dumps(asdict(config), default=str))
