"""Source steps: one ingest step per [[sources]] table of a recipe.

Each builder checks its table against the source's config dataclasses (`build_config`) and
returns a `Step` whose action ingests and answers the ingest report's `summary()` and warnings. A new
kind of source is one builder here and one entry in `SOURCE_STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from curate.errors import UsageError
from curate.pipeline.runner import Step, StepSummary, recipe_ref
from curate.pipeline.settings import build_config
from curate.recipes import Recipe, load_recipe
from curate.settings_fields import setting


def _split_keys(entry: dict, groups: dict[str, type], where: str) -> dict[str, dict]:
    """Share a [[sources]] table's keys out between dataclasses (first that has the field wins)."""
    parts: dict[str, dict] = {name: {} for name in groups}
    for key, value in entry.items():
        if key == "kind":
            continue
        owner = next((name for name, cls in groups.items() if key in {f.name for f in fields(cls)}), None)
        if owner is None:
            known = sorted({f.name for cls in groups.values() for f in fields(cls)} - {"query", "recipe", "download"})
            raise UsageError(f"{where}: unknown setting {key!r}; known settings: {', '.join(known)}")
        parts[owner][key] = value
    return parts


def no_blank_paths(entry: dict, keys: tuple[str, ...], where: str) -> None:
    """UsageError when a path key of a source is an empty string (read as the recipe's own folder otherwise)."""
    for key in keys:
        values = entry.get(key)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and not value.strip():
                raise UsageError(f"{where}: {key} is empty; give a path (a relative one is read from the recipe's "
                                 "folder)")


def recipe_relative(recipe: Recipe, path: Path) -> Path:
    """`path` as given in the recipe: `~` is the home folder; else relative to the recipe's folder (or the current
    one) (review CT: `against = "~/x"` was read as <recipe folder>/~/x by `curate run`, $HOME/x by check-leakage)."""
    path = Path(path).expanduser()
    base = recipe.path.parent if recipe.path is not None else Path.cwd()
    return path if path.is_absolute() else base / path



def demo_step(recipe: Recipe, entry: dict, where: str) -> Step:
    """The procedural demo collection (curate.ingest.demo); its recipe must have the demo's labels."""
    from curate.demo.config import DemoConfig
    from curate.ingest.demo import RECIPE as DEMO_RECIPE
    from curate.ingest.demo import ingest_demo

    @dataclass(frozen=True)
    class DemoRun:
        workers: int = setting(2, help="Render threads.")

    if recipe.label_names != load_recipe(DEMO_RECIPE).label_names:
        raise UsageError(f"{where}: the demo collection has the {DEMO_RECIPE} labels; "
                         f"use labels_from = \"{DEMO_RECIPE}\" in a recipe with a demo source")
    parts = _split_keys(entry, {"demo": DemoConfig, "run": DemoRun}, where)
    config = build_config(DemoConfig, parts["demo"], where)
    run = build_config(DemoRun, parts["run"], where)
    return Step("ingest demo", entry, lambda ws: StepSummary.of(ingest_demo(ws, config, workers=run.workers)))


def scrape_step(recipe: Recipe, entry: dict, where: str) -> Step:
    """A scrape of real labelled folders (curate.ingest.scrape); folder paths are relative to the recipe."""
    from curate.ingest.scrape import ingest_scrape
    from curate.scrape.config import ScrapeConfig

    @dataclass(frozen=True)
    class ScrapeRun:
        workers: int = setting(2, help="Image threads.")

    if not recipe.topic:
        raise UsageError(f"{where}: a scrape needs the recipe's topic = \"<tag>\"")
    no_blank_paths(entry, ("folders", "offtopic"), where)
    parts = _split_keys(entry, {"scrape": ScrapeConfig, "run": ScrapeRun}, where)
    section = parts["scrape"]
    for key in ("folders", "offtopic"):
        if isinstance(section.get(key), list):
            section[key] = [str(recipe_relative(recipe, Path(str(item))).resolve()) for item in section[key]]
    config = build_config(ScrapeConfig, section, where, topic=recipe.topic)
    run = build_config(ScrapeRun, parts["run"], where)
    return Step("ingest scrape", entry,
                lambda ws: StepSummary.of(ingest_scrape(ws, config, recipe, workers=run.workers)),
                inputs=tuple((key, Path(item)) for key in ("folders", "offtopic")
                             for item in (getattr(config, key, None) or ())))


def folder_step(recipe: Recipe, entry: dict, where: str) -> Step:
    """A local folder (curate.ingest.folder); `folder` and `metadata` are relative to the recipe."""
    from curate.ingest.folder import FolderOptions, ingest_folder

    no_blank_paths(entry, ("folder", "metadata"), where)
    options = build_config(FolderOptions, _split_keys(entry, {"folder": FolderOptions}, where)["folder"], where,
                           recipe=recipe)
    options = replace(options, folder=recipe_relative(recipe, options.folder),
                       metadata=recipe_relative(recipe, options.metadata) if options.metadata else None)
    inputs = (("folder", options.folder), *((("metadata", options.metadata),) if options.metadata else ()))
    return Step("ingest folder", entry, lambda ws: StepSummary.of(ingest_folder(ws, options)), inputs=inputs)


def urls_step(recipe: Recipe, entry: dict, where: str) -> Step:
    """A table of image URLs (curate.ingest.urls); `path` is relative to the recipe."""
    from curate.ingest.http import DownloadConfig
    from curate.ingest.urls import UrlIngestOptions, ingest_urls

    no_blank_paths(entry, ("path",), where)
    parts = _split_keys(entry, {"urls": UrlIngestOptions, "download": DownloadConfig}, where)
    download = build_config(DownloadConfig, parts["download"], where)
    options = build_config(UrlIngestOptions, parts["urls"], where, recipe=recipe_ref(recipe), download=download)
    options = replace(options, path=recipe_relative(recipe, options.path))
    return Step("ingest urls", entry, lambda ws: StepSummary.of(ingest_urls(ws, options)),
                inputs=(("path", options.path),))


def _api_source_step(recipe: Recipe, entry: dict, where: str, query_cls, options_cls, ingest,
                     name: Callable[[object], str], download_defaults: dict | None = None,
                     needs: Callable[[], object] | None = None) -> Step:
    """A Flickr or Commons source: its query, options and download settings from one table;
    `download_defaults` are the source's own download defaults (Commons': fewer workers), under the table's keys."""
    from curate.ingest.http import DownloadConfig

    parts = _split_keys(entry, {"query": query_cls, "options": options_cls, "download": DownloadConfig}, where)
    query = build_config(query_cls, parts["query"], where)
    download = build_config(DownloadConfig, {**(download_defaults or {}), **parts["download"]}, where)
    options = build_config(options_cls, parts["options"], where, query=query, recipe=recipe_ref(recipe),
                           download=download)
    return Step(name(query), entry, lambda ws: StepSummary.of(ingest(ws, options)), needs=needs)


def flickr_step(recipe: Recipe, entry: dict, where: str) -> Step:
    """A Flickr search (curate.ingest.flickr)."""
    from curate.ingest.flickr import FlickrOptions, FlickrQuery, ingest_flickr
    from curate.ingest.flickr.source import resolve_api_key

    return _api_source_step(recipe, entry, where, FlickrQuery, FlickrOptions, ingest_flickr,
                            lambda query: f"ingest flickr {','.join(query.tags)}", needs=resolve_api_key)


def commons_step(recipe: Recipe, entry: dict, where: str) -> Step:
    """A Wikimedia Commons category or place (curate.ingest.commons)."""
    from curate.ingest.commons import COMMONS_DOWNLOAD, CommonsOptions, CommonsQuery, ingest_commons

    return _api_source_step(recipe, entry, where, CommonsQuery, CommonsOptions, ingest_commons,
                            lambda query: f"ingest commons {query.category or f'near {query.near}'}",
                            download_defaults=COMMONS_DOWNLOAD)


SOURCE_STEPS = {"demo": demo_step, "scrape": scrape_step, "folder": folder_step, "urls": urls_step,
                "flickr": flickr_step, "commons": commons_step}
