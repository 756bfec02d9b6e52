"""`curate ingest scrape`: a Flickr-like scrape with known mistakes, from real labelled photos.

Like the demo (`curate.ingest.demo`), the records and the ground truth are generated
first and the truth is written to `<workspace>/demo_truth.parquet` (one file, the same
columns, so one `curate score` serves both) before any image; the images are then made
on demand by the ingest engine (fetch = read the real file and apply the photo's edit),
so the scrape goes through the same validation, storage, journaling and resume path as a
real one. A workspace holds one generated collection: asking for another (other folders,
seed, size or rates) is refused.
"""

from __future__ import annotations

from curate.errors import UsageError
from curate.ingest.demo import check_same_collection, write_truth
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob, IngestReport
from curate.recipes import Label, Recipe, load_recipe
from curate.scrape.config import ScrapeConfig
from curate.scrape.edits import ScrapeRenderer
from curate.scrape.metadata import SOURCE, generate_scrape, label_table
from curate.scrape.sources import ScrapeSources, find_sources
from curate.workspace import Workspace, changes_workspace


@changes_workspace
def ingest_scrape(ws: Workspace, config: ScrapeConfig, recipe: Recipe | str | None = None,
                  workers: int = 2) -> IngestReport:
    """Generate (or resume) the scrape of `config.folders` in `ws` and ingest it.

    Args:
        ws: the workspace; created if needed.
        config: folders, topic, size, seed and noise rates.
        recipe: labels with aliases and coordinates (a Recipe or a recipe name/path); its
            labels pick the label subfolders when `config.labels` is empty. Without one (or
            with one that lists no labels), the label subfolders are the labels (synthetic
            centres, spellings from the names).
        workers: image threads.
    Returns:
        The engine's IngestReport.
    Raises:
        UsageError: a bad folder, too few photos for the settings, or a workspace that
        holds another generated collection.
    """
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if isinstance(recipe, str):
        recipe = load_recipe(recipe)
    labels = config.labels or (recipe.label_names if recipe is not None else ())
    sources = find_sources(config.folders, config.offtopic, labels)
    ws.ensure()
    check_same_collection(ws, config, True)
    records, truth = generate_scrape(config, sources, recipe)
    if not ws.truth_path.exists():
        write_truth(ws, truth, config, True)
    job = IngestJob(SOURCE, records, ScrapeRenderer(truth), scrape_recipe(sources, recipe, config.topic),
                    workers=workers)
    return run_ingest(ws, job)


def scrape_recipe(sources: ScrapeSources, recipe: Recipe | None, topic: str) -> Recipe:
    """The recipe that maps the scrape's tags to its labels: the given one, or (without one, or with one
    that lists no [[labels]]) one made from the label folders (every spelling the generator uses, and the
    centres it drew around)."""
    if recipe is not None and recipe.labels:
        return recipe
    table = label_table(sources, None, topic)
    labels = tuple(Label(name=str(name), display=str(name), aliases=tuple(w for w, _ in spellings),
                         lat=float(lat), lon=float(lon))
                   for name, spellings, lat, lon in zip(table.names, _spelling_lists(table), table.lat, table.lon))
    return Recipe(name="scrape", labels=labels, topic=topic)


def _spelling_lists(table) -> list[tuple[tuple[str, int], ...]]:
    words = table.tags.words
    offsets = list(table.tags.city_offset) + [table.tags.skyline_code]
    return [tuple((words[i], 1) for i in range(offsets[k], offsets[k + 1])) for k in range(len(table.names))]
