"""Settings declared once: a stage config's field is its command's flag and its recipe key, with
one help text, and a refused value is named as the user gave it (curate/settings_fields.py,
curate/cli/options.py, curate.pipeline.settings.build_config)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.config import LrRange, TrainConfig
from classify.predict import PredictSettings
from classify.serve import ServeSettings
from classify.tune_space import Halving, SearchSpace
from curate.cli.app import app as curate_app
from curate.cli.options import config_options
from curate.demo.config import DemoConfig
from curate.embed import EmbedConfig
from curate.engines import EngineConfig
from curate.errors import UsageError
from curate.export.config import ExportConfig
from curate.filters.stage import FilterConfig
from curate.ingest.commons import CommonsOptions, CommonsQuery
from curate.ingest.flickr import FlickrOptions, FlickrQuery
from curate.ingest.folder import FolderOptions
from curate.ingest.http import DownloadConfig
from curate.ingest.urls import UrlIngestOptions
from curate.pipeline import EvaluateSettings, ReportSettings, build_config
from curate.pipeline.settings import LeakageSettings
from curate.prefilter.stage import PrefilterConfig
from curate.recipes import load_recipe
from curate.scrape.config import ScrapeConfig
from curate.settings_fields import HELP, SettingError, flag_names, setting
from curate.split import SplitConfig

runner = CliRunner()

# (command, its config, the recipe section, fields the recipe does not set in that section)
CONVERTED = [
    (["filter"], FilterConfig, "filter", ()),
    (["split"], SplitConfig, "split", ()),
    (["report"], ReportSettings, "report", ()),
    (["check-leakage"], LeakageSettings, "leakage", ()),
    (["export"], ExportConfig, "export", ()),
    (["prefilter"], PrefilterConfig, "prefilter", ("topic",)),  # topic: the recipe's top-level key
    (["classify", "train"], TrainConfig, "train", ()),
    (["classify", "evaluate"], EvaluateSettings, "evaluate", ()),
    (["embed"], EmbedConfig, "embed", ()),
    (["embed"], EngineConfig, "engine", ()),  # the engine flags of every command with per-image work
    (["ingest", "demo"], EngineConfig, "engine", ()),
    (["ingest", "folder"], EngineConfig, "engine", ()),
    (["ingest", "urls"], EngineConfig, "engine", ()),
    (["ingest", "flickr"], EngineConfig, "engine", ()),
    (["ingest", "commons"], EngineConfig, "engine", ()),
]
# what a command needs besides the flag tested
REQUIRED = {"export": ["-f", "imagefolder", "-o", "out"], "prefilter": ["--topic", "skyline"], "evaluate": ["out"]}
TAKES_A_RECIPE = {"filter", "prefilter"}  # commands with --recipe; the others' sections are read by `curate run`
# (command, recipe section or None, field, bad value as a flag, bad value in a recipe)
BAD_VALUES = [
    (["filter"], "filter", "max_km", "-1", -1),
    (["filter"], "filter", "near_dup_bits", "40", 40),
    (["filter"], "filter", "licences", "copyleft", ["copyleft"]),
    (["split"], "split", "seed", "-1", -1),
    (["split"], "split", "val", "0.9", 0.9),
    (["report"], "report", "max_gallery", "-1", -1),
    (["report"], "report", "owner_alarm", "2", 2),
    (["export"], "export", "resize", "3", 3),
    (["export"], "export", "shard_samples", "0", 0),
    (["prefilter"], "prefilter", "regularisation", "0", 0),
    (["prefilter"], "prefilter", "threshold", "often", "often"),
    (["prefilter"], "prefilter", "max_drop_share", "2", 2),
    (["classify", "train"], "train", "crop_scale", "0", 0),
    (["classify", "evaluate"], "evaluate", "top_losses", "-1", -1),
    (["embed"], "embed", "batch_size", "0", 0),
    (["embed"], "embed", "image_size", "2000", 2000),
    (["embed"], "embed", "workers", "-1", -1),
    (["ingest", "demo"], "engine", "shard_size", "0", 0),
    (["ingest", "demo"], "engine", "max_retries", "-1", -1),
    (["ingest", "demo"], "engine", "engine", "spark", "spark"),
]


def _app(path: list[str]) -> tuple[typer.Typer, list[str]]:
    """(the app, the command's names in it): ["classify", "train"] is classify's, ["filter"] curate's."""
    return (classify_app, path[1:]) if path[0] == "classify" else (curate_app, path)


def _command(path: list[str]):
    app, path = _app(path)
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def _options(path: list[str]) -> dict[str, object]:
    return {param.name: param for param in _command(path).params if param.param_type_name == "option"}


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("path, config, section, fixed", CONVERTED,
                         ids=[f"{' '.join(c[0])} [{c[2]}]" for c in CONVERTED])
def test_every_field_is_a_flag_and_a_recipe_key_with_one_help_text(path, config, section, fixed):
    options = _options(path)
    for item in fields(config):
        assert item.metadata.get(HELP), f"{config.__name__}.{item.name} has no help text"
        option = options.get(item.name)
        assert option is not None, f"{' '.join(path)} has no flag for {item.name}"
        assert (*option.opts, *option.secondary_opts) == flag_names(item)
        assert option.help == item.metadata[HELP]
    keys = [item.name for item in fields(config) if item.name not in fixed]
    with pytest.raises(UsageError) as unknown:
        build_config(config, {"no_such_key": 1}, f"recipe x [{section}]", **{name: "x" for name in fixed})
    assert f"known settings: {', '.join(keys)}" in str(unknown.value)


@pytest.mark.parametrize("path, section, name, flag_value, recipe_value", BAD_VALUES,
                         ids=[f"{' '.join(b[0])} {b[2]}" for b in BAD_VALUES])
def test_a_bad_value_is_named_as_the_user_gave_it(tmp_path, path, section, name, flag_value, recipe_value):
    config = next(c for p, c, s, _ in CONVERTED if p == path and s == section)
    item = next(item for item in fields(config) if item.name == name)
    flag = flag_names(item)[0]
    required = [str(tmp_path / arg) if arg == "out" else arg for arg in REQUIRED.get(path[-1], [])]
    app, names = _app(path)
    line = _one_line_error(runner.invoke(app, [*names, "-w", str(tmp_path / "ws"), *required, flag, flag_value]))
    assert _names(flag, line) and not _names(name, line)

    recipe = tmp_path / "bad.toml"
    recipe.write_text(f'name = "bad"\nlabels_from = "skylines"\ntopic = "skyline"\n[{section}]\n'
                      f'{name} = {json.dumps(recipe_value)}\n', encoding="utf-8")
    if path[0] in TAKES_A_RECIPE:
        line = _one_line_error(runner.invoke(curate_app, [*path, "-w", str(tmp_path / "ws"), "--recipe", str(recipe)]))
    else:  # what `curate run` does with the section (curate.pipeline.steps)
        with pytest.raises(UsageError) as caught:
            build_config(config, load_recipe(str(recipe)).stage_defaults(section), f"recipe {recipe} [{section}]")
        line = str(caught.value)
    assert f"[{section}]: " in line and _names(name, line) and not _names(flag, line)


def _names(name: str, line: str) -> bool:
    """Whether `line` names `name` as a whole word (max_km, not --max-km's max-km; --x, not --x-y)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", line) is not None


def test_a_flag_given_wins_over_the_recipe_key_and_is_the_one_named():
    with pytest.raises(SettingError) as caught:
        FilterConfig(max_km=-1)
    assert str(caught.value).startswith("--max-km must be")  # a library caller sees the flag
    line = _bad(FilterConfig, {"max_km": 3.0}, {"max_km": "-1"})
    assert line.startswith("curate x: --max-km must be") and "recipe" not in line
    line = _bad(FilterConfig, {"max_km": -1}, {"near_dup_bits": 4})
    assert line.startswith("recipe r.toml [filter]: max_km must be")


def _bad(config, section: dict, flags: dict) -> str:
    with pytest.raises(UsageError) as caught:
        build_config(config, section, "recipe r.toml [filter]", flags=flags, command="curate x")
    return str(caught.value)


@dataclass(frozen=True)
class Toy:
    size: int = setting(3, help="How big.")
    names: tuple[str, ...] | None = setting(None, help="Names, comma-separated.")
    loud: bool = setting(False, help="Shout.", flag="--loud/--quiet")
    limit: float | str = setting("off", help="A number, or off.", flag="--cap")

    def __post_init__(self):
        if self.size < 1:
            raise SettingError(f"{{size}} must be at least 1, got {self.size}", "size")


def _toy_app(layered: bool) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @config_options(Toy, layered=layered)
    def go(settings: dict | None = None, shout: bool = False) -> None:
        print(json.dumps(settings))

    return app


@pytest.mark.parametrize("layered", [True, False])
def test_a_field_added_to_a_dataclass_is_a_flag_with_its_help(layered):
    app = _toy_app(layered)
    result = runner.invoke(app, ["--size", "4", "--names", "a, b", "--quiet", "--cap", "7"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"size": 4, "names": ["a", "b"], "loud": False, "limit": "7"}
    given = json.loads(runner.invoke(app, []).stdout)
    assert given == ({} if layered else {"size": 3, "loud": False, "limit": "off"})  # left out: not given
    helped = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    for text in ("--size", "How big.", "--names", "--loud", "--quiet", "--cap", "A number, or off."):
        assert text in helped
    assert build_config(Toy, {"size": 5}, "recipe t [toy]", flags={"names": ["x"]}) == Toy(size=5, names=("x",))


# [[sources]] kinds: (command, its config, fields with a hand-written flag: the flag's parameter,
# (name,) for the command's argument of that name, None for a nested config whose fields are
# checked in BORROWED)
SOURCES = [
    (["ingest", "demo"], DemoConfig, {"image_width": "image_size", "image_height": "image_size"}),
    (["ingest", "scrape"], ScrapeConfig, {"folders": ("folders",), "offtopic": "offtopic"}),  # paths, resolved
    (["ingest", "folder"], FolderOptions, {"folder": ("directory",), "column_map": "map_options"}),  # --map: repeated
    (["ingest", "commons"], CommonsQuery, {"tags": "tag"}),  # --tag: repeated
    (["ingest", "commons"], CommonsOptions, {"query": None, "download": None, "api_timeout_s": "timeout"}),
    (["ingest", "flickr"], FlickrQuery, {}),
    (["ingest", "flickr"], FlickrOptions, {"query": None, "download": None}),
    (["ingest", "urls"], UrlIngestOptions, {"path": ("file",), "column_map": "column_map", "download": None}),
]
# what a command needs besides the flag tested, and what its [[sources]] table needs
SOURCE_REQUIRED = {"scrape": (["FOLDER", "--topic", "city", "--offtopic-rate", "0"],
                              'folders = ["."]\nofftopic_rate = 0\n'),
                   "folder": (["FOLDER"], 'folder = "."\n'), "urls": (["FOLDER"], 'path = "urls.csv"\n'),
                   "commons": ([], 'near = [41.9, -87.6]\n'), "flickr": (["--tags", "chicago"], 'tags = ["chicago"]\n')}
# (command, the [[sources]] kind, key, the flag and its bad value, the bad value in a recipe)
BAD_SOURCE_VALUES = [
    (["ingest", "demo"], "demo", "photos", ["--photos", "0"], 0),
    (["ingest", "demo"], "demo", "seed", ["--seed", "-1"], -1),
    (["ingest", "demo"], "demo", "image_width", ["--image-size", "20x200"], 20),
    (["ingest", "demo"], "demo", "mislabel_rate", ["--mislabel-rate", "0.99"], 0.99),
    (["ingest", "scrape"], "scrape", "photos", ["--photos", "0"], 0),
    (["ingest", "scrape"], "scrape", "near_dup_rate", ["--near-dup-rate", "2"], 2),
    (["ingest", "scrape"], "scrape", "home_label_rate", ["--home-label-rate", "2"], 2),  # checked by DemoConfig
    (["ingest", "scrape"], "scrape", "edit_kinds", ["--edit-kinds", "jpeg,foo"], ["foo"]),
    (["ingest", "folder"], "folder", "label_source", ["--label-from", "weather"], "weather"),
    (["ingest", "folder"], "folder", "workers", ["--workers", "0"], 0),
    (["ingest", "urls"], "urls", "per_host", ["--per-host", "0"], 0),
    (["ingest", "urls"], "urls", "connect_timeout_s", ["--timeout", "inf"], 1e308),
    (["ingest", "urls"], "urls", "checkpoint_seconds", ["--checkpoint-seconds", "-1"], -1),
    (["ingest", "commons"], "commons", "radius_m", ["--near", "41.9,-87.6", "--radius-m", "20000"], 20000),
    (["ingest", "commons"], "commons", "thumb_width", ["--category", "Skylines", "--thumb-width", "5"], 5),
    (["ingest", "commons"], "commons", "contact", ["--category", "Skylines", "--contact", "\u00e9"], "\u00e9"),
    (["ingest", "flickr"], "flickr", "radius_km", ["--lat", "41.9", "--lon", "-87.6", "--radius-km", "50"], 50),
    (["ingest", "flickr"], "flickr", "min_taken", ["--min-taken", "last week"], "last week"),
    (["ingest", "flickr"], "flickr", "api_read_timeout_s", ["--api-read-timeout-s", "inf"], 1e308),
    (["ingest", "flickr"], "flickr", "calls_per_hour", ["--calls-per-hour", "0"], 0),
]


@pytest.mark.parametrize("path, config, together", SOURCES, ids=[" ".join(c[0]) for c in SOURCES])
def test_every_source_field_is_a_flag_and_a_sources_key(path, config, together):
    options = _options(path)
    arguments = [param.name for param in _command(path).params if param.param_type_name == "argument"]
    for item in fields(config):
        if item.name in together and together[item.name] is None:
            continue
        assert item.metadata.get(HELP), f"{config.__name__}.{item.name} has no help text"
        if isinstance(together.get(item.name), tuple):
            assert together[item.name][0] in arguments
            continue
        option = options.get(together.get(item.name, item.name))
        assert option is not None, f"{' '.join(path)} has no flag for {item.name}"
        assert (*option.opts, *option.secondary_opts) == flag_names(item)
        if item.name not in together:
            assert option.help == item.metadata[HELP]


@pytest.mark.parametrize("path, kind, name, flag_args, recipe_value", BAD_SOURCE_VALUES,
                         ids=[f"{' '.join(b[0])} {b[2]}" for b in BAD_SOURCE_VALUES])
def test_a_bad_source_value_is_named_as_the_user_gave_it(tmp_path, path, kind, name, flag_args, recipe_value):
    config = next(c for p, c, *_ in SOURCES + BORROWED if p == path and name in {f.name for f in fields(c)})
    flag = flag_names(next(item for item in fields(config) if item.name == name))[0]
    args, table = SOURCE_REQUIRED.get(kind, ([], ""))
    args = [str(tmp_path) if arg == "FOLDER" else arg for arg in args]
    line = _one_line_error(runner.invoke(curate_app, [*path, "-w", str(tmp_path / "ws"), *args, *flag_args]))
    assert _names(flag, line) and not _names(name, line)

    recipe = tmp_path / "bad.toml"
    recipe.write_text(f'name = "bad"\nlabels_from = "skylines"\ntopic = "skyline"\n[[sources]]\nkind = "{kind}"\n'
                      f'{table}{name} = {json.dumps(recipe_value)}\n', encoding="utf-8")
    line = _one_line_error(runner.invoke(curate_app, ["run", str(recipe), "-w", str(tmp_path / "ws")]))
    assert f"[[sources]] #1 ({kind}): " in line and _names(name, line) and not _names(flag, line)


# commands that take some of another command's config: (command, config, its fields they take)
BORROWED = [
    (["prefilter"], TrainConfig, ("head_epochs", "epochs", "image_size", "batch_size", "device")),  # --mode finetune
    (["classify", "tune"], TrainConfig, ("backbone", "image_size", "cache_side", "batch_size", "device", "workers")),
    (["classify", "lr-find"], TrainConfig,
     ("backbone", "batch_size", "image_size", "cache_side", "seed", "device", "workers")),
    (["ingest", "urls"], DownloadConfig, ("workers", "per_host", "retries")),  # --timeout fills two
    (["ingest", "flickr"], DownloadConfig, ("workers", "retries")),
]
# commands without a recipe section: (command, config, a field, a bad value)
COMMAND_LINE_ONLY = [
    (["classify", "tune"], SearchSpace, "wd_min", "-1"),
    (["classify", "tune"], Halving, "min_epochs", "0"),
    (["classify", "lr-find"], LrRange, "steps", "3"),
    (["classify", "predict"], PredictSettings, "batch_size", "0"),
    (["classify", "serve"], ServeSettings, "decode_budget_mb", "inf"),
    (["classify", "serve"], ServeSettings, "port", "70000"),
]
TAKES_A_RUN = {"predict", "serve"}  # RUN first, no workspace


@pytest.mark.parametrize("path, config, name, bad", COMMAND_LINE_ONLY,
                         ids=[f"{' '.join(c[0])} {c[1].__name__}" for c in COMMAND_LINE_ONLY])
def test_a_command_line_only_setting_is_a_flag_named_when_refused(tmp_path, path, config, name, bad):
    options = _options(path)
    for item in fields(config):
        assert item.metadata.get(HELP), f"{config.__name__}.{item.name} has no help text"
        option = options[item.name]
        assert (*option.opts, *option.secondary_opts) == flag_names(item)
        assert option.help == item.metadata[HELP]
    flag = flag_names(next(item for item in fields(config) if item.name == name))[0]
    app, names = _app(path)
    where = [str(tmp_path)] if path[-1] in TAKES_A_RUN else ["-w", str(tmp_path)]
    line = _one_line_error(runner.invoke(app, [*names, *where, flag, bad]))
    assert _names(flag, line) and not _names(name, line)


@pytest.mark.parametrize("path, config, names", BORROWED, ids=[" ".join(b[0]) for b in BORROWED])
def test_a_borrowed_setting_keeps_its_declaration(path, config, names):
    options = _options(path)
    for item in (item for item in fields(config) if item.name in names):
        option = options[item.name]
        assert (*option.opts, *option.secondary_opts) == flag_names(item)
        assert option.help == item.metadata[HELP]


def test_the_finetune_prefilter_names_a_bad_training_flag(tmp_path):
    line = _one_line_error(runner.invoke(curate_app, ["prefilter", "-w", str(tmp_path), "--topic", "skyline",
                                                      "--mode", "finetune", "--image-size", "8"]))
    assert _names("--image-size", line) and not _names("image_size", line)


def test_the_recipes_page_lists_every_key_of_each_converted_section():
    page = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text(encoding="utf-8")
    block = page.split("<!-- keys:", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    listed = {}
    for item in re.split(r"\n(?=- `\[)", block):
        section, keys = re.match(r"- `\[(\w+)\]`: (.*)", item, flags=re.DOTALL).groups()
        listed[section] = [key for key in re.findall(r"`(\w+)`", keys) if key not in ("out", "topic", "export")]
    for _, config, section, fixed in CONVERTED:
        assert listed[section] == [item.name for item in fields(config) if item.name not in fixed], section


class _Captured(Exception):
    """Raised by a stand-in ingest function once it holds the options it was given."""


# (command and its required flags, the [[sources]] table's required keys, the ingest function's module and name)
DOWNLOAD_SOURCES = [
    (["ingest", "urls", "urls.csv"], 'path = "urls.csv"\n', "curate.ingest.urls", "curate.cli.ingest_urls",
     "ingest_urls"),
    (["ingest", "flickr", "--tags", "chicago"], 'tags = ["chicago"]\n', "curate.ingest.flickr",
     "curate.cli.ingest_flickr", "ingest_flickr"),
    (["ingest", "commons", "--category", "Skylines"], 'category = "Skylines"\n', "curate.ingest.commons",
     "curate.cli.ingest_commons", "ingest_commons"),
]


@pytest.mark.parametrize("args, keys, library, command, name", DOWNLOAD_SOURCES, ids=[s[4] for s in DOWNLOAD_SOURCES])
def test_a_download_source_gets_the_same_download_settings_from_a_command_and_a_recipe(
        tmp_path, monkeypatch, args, keys, library, command, name):
    """A source left to its defaults downloads alike whether it is a command or a recipe's table (the
    command's --timeout and Commons' --workers used to have defaults of their own)."""
    import importlib

    got = []

    def capture(ws, options, *rest, **named):
        got.append(options.download)
        raise _Captured

    (tmp_path / "urls.csv").write_text("url\nhttp://127.0.0.1:9/a.jpg\n", encoding="utf-8")
    monkeypatch.setenv("FLICKR_API_KEY", "k")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(importlib.import_module(command), name, capture)
    runner.invoke(curate_app, [*args, "-w", str(tmp_path / "ws1")])
    monkeypatch.setattr(importlib.import_module(library), name, capture)
    kind = args[1]
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'name = "r"\nlabels_from = "skylines"\ntopic = "skyline"\n[[sources]]\nkind = "{kind}"\n{keys}',
                      encoding="utf-8")
    runner.invoke(curate_app, ["run", str(recipe), "-w", str(tmp_path / "ws2")])
    assert len(got) == 2, "the stand-in ingest was not reached"
    assert got[0] == got[1]
    if kind == "commons":
        assert got[0].workers < DownloadConfig().workers  # Commons' politeness holds in both
