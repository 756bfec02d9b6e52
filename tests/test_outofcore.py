"""The DuckDB engine (curate.outofcore) gives what the pandas path gives: the filter's flags and
report, the split, the leakage rows and the status counts, on generated catalogs (hypothesis
picks their shape and the stage settings), on a 50,000-row catalog, and through the I/O edges
(review decisions, a catalog folder of Parquet parts, the engine switch)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from curate import outofcore, schema
from curate.errors import UsageError
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig, filter_catalog
from curate.leakage import find_leakage, workspace_leakage
from curate.outofcore import queries
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import arrow_query, connect, quote
from curate.outofcore.filter import filter_duckdb
from curate.outofcore.split import split_duckdb
from curate.review.journal import append_decisions
from curate.split import SplitConfig, run_split, split_catalog
from curate.status import summary, workspace_summary
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import examples

FLAGS = ["status", "drop_reason", "drop_stage", "label", "exact_dup_group", "near_dup_cluster", "geo_rescued",
         "original_label"]
CITIES = {"paris": (48.85, 2.35), "fiji": (-17.8, 179.95), "oslo": (59.9, 10.75), "red": None, "tiny": (1.0, 1.0)}
# no shrinking: a failing catalog of hundreds of rows takes minutes to shrink and stays unreadable
QUICK = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture],
         "phases": [Phase.explicit, Phase.reuse, Phase.generate]}
LICENCES = np.array(["cc-by-2.0", "cc-by-sa-4.0", "cc0-1.0", "all-rights-reserved", None, "my own licence"],
                    dtype=object)


def generated(n: int, seed: int, owners: int, images: int, missing: float, prior: bool) -> pd.DataFrame:
    """A catalog of `n` rows: labelled city photos (some far away or without coordinates, 'red'
    all over the world, 'fiji' across the antimeridian, 'tiny' with a handful), unlabelled and
    ambiguous ones, `owners` owners (and some without), `images` distinct sha256 (duplicates),
    mixed licences, dates with gaps; `prior`: drops and repairs of earlier runs."""
    rng = np.random.default_rng(seed)
    names = np.array(list(CITIES) + [None], dtype=object)
    label = names[rng.choice(len(names), n, p=[0.3, 0.2, 0.2, 0.15, 0.03, 0.12])]
    lat, lon = rng.uniform(-60, 70, n), rng.uniform(-180, 180, n)
    for city, centre in CITIES.items():
        here = (label == city) & (rng.random(n) < 0.85)
        if centre is not None:
            lat[here] = centre[0] + rng.normal(0, 0.02, here.sum())
            lon[here] = ((centre[1] + rng.normal(0, 0.05, here.sum()) + 180) % 360) - 180
    gone = rng.random(n) < missing
    lat[gone], lon[gone] = np.nan, np.nan
    ambiguous = (label == None) & (rng.random(n) < 0.5)  # noqa: E711
    owner = np.where(rng.random(n) < 0.1, None, np.char.add("o", rng.zipf(1.5, n).clip(1, owners).astype(str)))
    sha = np.where(rng.random(n) < 0.6, np.char.add("h", rng.integers(0, images, n).astype(str)), None)
    taken = pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 50, n), unit="D"))
    frame = pd.DataFrame({
        "photo_id": [f"s:{i:05d}" if i % 3 else f"s:é{i}" for i in rng.permutation(n)], "source": "s",
        "source_id": [str(i) for i in range(n)], "owner_id": owner,
        "tags": [["x", "y"]] * n, "label": label,
        "tag_labels": [["paris", "oslo"] if a else ([] if lab is None else [lab]) for a, lab in zip(ambiguous, label)],
        "lat": lat, "lon": lon, "geo_accuracy": pd.array(rng.integers(1, 17, n), dtype="Int8"),
        "taken_at": taken.where(rng.random(n) < 0.8).astype("datetime64[us]"),
        "license": LICENCES[rng.integers(0, len(LICENCES), n)], "sha256": sha,
        "width": pd.array(rng.choice([100, 200, 200], n), dtype="Int32"),
        "height": pd.array(rng.choice([100, 100, 300], n), dtype="Int32"),
        "status": "kept", "drop_reason": None, "drop_stage": None,
        "split": rng.choice(np.array(["train", "val", "test", None], dtype=object), n),
    })
    if prior:
        stage = rng.choice(np.array([None, "ingest", "filter", "prefilter"], dtype=object), n, p=[0.8, .05, .1, .05])
        frame["status"] = np.where(stage == None, "kept", "dropped")  # noqa: E711
        frame["drop_stage"], frame["drop_reason"] = stage, np.where(stage == None, None, "earlier")  # noqa: E711
        frame["original_label"] = np.where(rng.random(n) < 0.05, "oslo", None)
        frame["geo_rescued"] = np.where(rng.random(n) < 0.05, True, None)
        frame["near_dup_cluster"] = np.where(rng.random(n) < 0.2, np.char.add("c", rng.integers(0, 9, n).astype(str)),
                                             None)
    return schema.to_pandas(schema.conform(frame))


def on_disk(catalog: pd.DataFrame, folder: Path) -> Catalog:
    ws = Workspace(Path(tempfile.mkdtemp(dir=folder)))
    write_catalog(ws, catalog)
    return Catalog(ws.catalog_path)


def run_query(con, query: str) -> pd.DataFrame:
    """The rows of a stage's output query as read_catalog would give them."""
    table = arrow_query(con, f"SELECT {', '.join(map(quote, schema.NAMES))} FROM ({query}) ORDER BY rid")
    return schema.to_pandas(schema.conform(table.to_pandas(types_mapper=schema.pandas_type)))


def assert_same_rows(expected: pd.DataFrame, got: pd.DataFrame, columns: list[str]) -> None:
    def cells(values: pd.Series) -> list:
        return [None if v is None or (not hasattr(v, "__len__") and pd.isna(v))
                else list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v
                for v in values.astype(object).tolist()]

    for name in columns:
        assert cells(expected[name]) == cells(got[name]), f"{name} differs"


def assert_same_distances(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    left, right = expected["geo_distance_km"].to_numpy(float), got["geo_distance_km"].to_numpy(float)
    assert np.array_equal(np.isnan(left), np.isnan(right))
    np.testing.assert_allclose(left[~np.isnan(left)], right[~np.isnan(right)], rtol=1e-12)


def filter_both(catalog: pd.DataFrame, config: FilterConfig, folder: Path, centres=None):
    """(pandas rows, pandas report, DuckDB rows, DuckDB report) of one filter run; `centres`: the recipe's."""
    expected, report = filter_catalog(catalog, config, centres)
    with connect(folder) as con:
        query, got_report = filter_duckdb(con, on_disk(catalog, folder), config, centres)
        got = run_query(con, query)
    return expected, report, got, got_report


def assert_same_report(report, got) -> None:
    assert got.dropped_by_reason == report.dropped_by_reason
    assert got.notes == report.notes
    assert got.warnings == report.warnings
    assert got.exact_duplicate_groups == report.exact_duplicate_groups
    pd.testing.assert_frame_equal(got.funnel, report.funnel)
    pd.testing.assert_frame_equal(got.caps.reset_index(drop=True), report.caps.reset_index(drop=True),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(got.geo, report.geo, check_dtype=False, check_exact=True)  # audit CN: to the bit
    pd.testing.assert_frame_equal(got.concentration, report.concentration, check_dtype=False, rtol=1e-9)


configs = st.builds(
    FilterConfig, max_km=st.sampled_from([5.0, 40.0, "off"]), missing_geo=st.sampled_from(["keep", "drop"]),
    min_geo_accuracy=st.sampled_from([0, 0, 11]), force_geo=st.booleans(), min_geotagged=st.sampled_from([1, 5]),
    licences=st.sampled_from([None, ("cc-by", "cc0")]), max_per_owner=st.sampled_from([None, 1, 3]),
    max_owner_share=st.sampled_from([None, 0.3, 0.05]))


@settings(max_examples=examples(8), **QUICK)
@given(n=st.integers(50, 500), seed=st.integers(0, 2**32 - 1), owners=st.integers(1, 60),
       images=st.integers(5, 400), missing=st.sampled_from([0.0, 0.2, 1.0]), prior=st.booleans(), config=configs)
def test_filter_flags_and_report_equal_pandas(tmp_path, n, seed, owners, images, missing, prior, config):
    catalog = generated(n, seed, owners, images, missing, prior)
    expected, report, got, got_report = filter_both(catalog, config, tmp_path)
    assert_same_rows(expected, got, FLAGS + ["quality_issues", "blurry_score"])
    assert_same_distances(expected, got)
    assert_same_report(report, got_report)


@settings(max_examples=examples(8), **QUICK)
@given(n=st.integers(50, 500), seed=st.integers(0, 2**32 - 1), owners=st.integers(1, 80),
       by=st.sampled_from(["owner", "owner", "none", "license"]), val=st.sampled_from([0.1, 0.0, 0.3]),
       split_seed=st.integers(0, 5))
def test_split_equals_pandas(tmp_path, n, seed, owners, by, val, split_seed):
    catalog = generated(n, seed, owners, images=max(n // 3, 2), missing=0.1, prior=True)
    catalog["exact_dup_group"] = catalog["sha256"]  # groups joined by exact images and near-dup clusters too
    config = SplitConfig(val=val, test=0.2, by=by, seed=split_seed)
    try:
        expected, report = split_catalog(catalog, config)
    except UsageError as refused:  # a --by column that joins every photo into one group: both engines refuse it
        with connect(tmp_path) as con, pytest.raises(UsageError) as also:
            split_duckdb(con, on_disk(catalog, tmp_path), config)
        assert str(also.value) == str(refused)
        return
    with connect(tmp_path) as con:
        query, got_report = split_duckdb(con, on_disk(catalog, tmp_path), config)
        got = run_query(con, query)
    assert_same_rows(expected, got, ["split", "status", "photo_id"])
    assert (got_report.groups, got_report.photos_without_owner) == (report.groups, report.photos_without_owner)
    assert (got_report.notes, got_report.warnings) == (report.notes, report.warnings)
    assert got_report.empty_splits == report.empty_splits
    pd.testing.assert_frame_equal(got_report.per_label, report.per_label, check_dtype=False)


@settings(max_examples=examples(6), **QUICK)
@given(n=st.integers(50, 300), seed=st.integers(0, 2**32 - 1), owners=st.integers(1, 40),
       by=st.sampled_from([None, "label", "width"]))
def test_leakage_and_status_counts_equal_pandas(tmp_path, n, seed, owners, by):
    catalog = generated(n, seed, owners, images=max(n // 4, 2), missing=0.2, prior=True)
    catalog["tags"] = [["a", "b"][: i % 3] + ["c"] * (i % 2) for i in range(n)]
    catalog_file = on_disk(catalog, tmp_path)
    with connect(tmp_path) as con:
        leaks = queries.find_leakage(con, catalog_file, by)
        counts = queries.summary_counts(con, catalog_file)
    expected = find_leakage(catalog, by)
    assert len(expected) > 0 or by is not None  # the generated splits leak owners: the comparison is not empty
    pd.testing.assert_frame_equal(leaks, expected)
    facts = summary(catalog)
    assert counts == {name: facts[name] for name in counts}


@pytest.mark.slow  # a scale check: `make test-all`; the property tests above compare the engines on small catalogs
def test_50k_rows_filter_and_split_equal_pandas(tmp_path):
    catalog = generated(50_000, 7, owners=3_000, images=40_000, missing=0.1, prior=True)
    # the generated tags name two labels on many photos, which holds them; forced, the drops are compared too
    config = FilterConfig(licences=("cc-by", "cc-by-sa", "cc0"), max_per_owner=20, force_ambiguous=True)
    expected, report, got, got_report = filter_both(catalog, config, tmp_path)
    assert_same_rows(expected, got, FLAGS)
    assert_same_distances(expected, got)
    assert_same_report(report, got_report)
    assert {"licence", "geo_outlier", "exact_duplicate", "owner_cap", "ambiguous_label"} \
        <= set(report.dropped_by_reason)
    split_expected, _ = split_catalog(expected, SplitConfig(seed=3))
    with connect(tmp_path) as con:
        query, _ = split_duckdb(con, on_disk(expected, tmp_path), SplitConfig(seed=3))
        split_got = run_query(con, query)
    assert_same_rows(split_expected, split_got, ["split"])


def test_a_label_without_geotags_reads_no_geotags_on_both_engines(tmp_path):
    """A label with no geotag at all is `skipped: no geotags` (an audit's 16 such labels read `skipped: too few
    geotagged`, while the docs said `skipped: no centre`); a label with a few keeps `too few`, and with
    --center recipe a label the recipe has no coordinates for keeps `no centre`."""
    rows = ([{"label": "paris", "lat": 48.85 + i * 1e-3, "lon": 2.35} for i in range(6)]
            + [{"label": "few", "lat": 59.9, "lon": 10.75}] * 2 + [{"label": "nogeo"}] * 3)
    frame = pd.DataFrame([{"photo_id": f"p{i}", "source": "s", "source_id": str(i), "status": "kept", **row}
                          for i, row in enumerate(rows)])
    catalog = schema.to_pandas(schema.conform(frame))
    for config in (FilterConfig(), FilterConfig(force_geo=True)):
        expected, report, got, got_report = filter_both(catalog, config, tmp_path)
        assert_same_report(report, got_report)
        verdicts = report.geo.set_index("label")["geo_filter"]
        assert verdicts["nogeo"] == "skipped: no geotags"
        assert verdicts["few"] == ("forced" if config.force_geo else "skipped: too few geotagged")
    recipe = {"paris": (48.85, 2.35), "nogeo": (40.0, 3.0)}  # no coordinates for `few`
    config = FilterConfig(center="recipe")
    _, report = filter_catalog(catalog, config, recipe_centres=recipe)
    with connect(tmp_path) as con:
        _, got_report = filter_duckdb(con, on_disk(catalog, tmp_path), config, recipe_centres=recipe)
    for table in (report.geo, got_report.geo):
        verdicts = table.set_index("label")["geo_filter"]
        assert (verdicts["nogeo"], verdicts["few"]) == ("skipped: no geotags", "skipped: no centre")


def test_io_edges_give_the_same_workspace(tmp_path, monkeypatch):
    """run_filter, run_split, check-leakage and status with engine=duckdb (the environment's
    default here) write and report what the pandas engine does, review decisions included."""
    catalog = generated(200, 3, owners=20, images=80, missing=0.1, prior=False)
    numbered = int(catalog.index[catalog["photo_id"].str.fullmatch(r"s:\d+") & (catalog.index > 12)][0])
    decisions = [{"id": "d1", "photo_id": catalog.loc[5, "photo_id"], "action": "drop"},
                 {"id": "d2", "photo_id": catalog.loc[9, "photo_id"], "action": "relabel", "label": "oslo"},
                 # review DB: recorded under pandas' float form of the id, applied by pandas only
                 {"id": "d3", "photo_id": catalog.loc[numbered, "photo_id"] + ".0", "action": "drop"}]
    results, plain = {}, {}
    for engine in ("pandas", "duckdb"):
        monkeypatch.setenv(outofcore.ENGINE_ENV, engine)
        ws = Workspace(tmp_path / engine)
        write_catalog(ws, catalog)
        append_decisions(ws, decisions)
        run_filter(ws, FilterConfig(max_per_owner=5))
        run_split(ws, SplitConfig(seed=1))
        facts = workspace_summary(ws)
        results[engine] = (read_catalog(ws), workspace_leakage(ws), facts, pq.read_schema(ws.catalog_path))
        plain[engine] = pd.read_parquet(ws.catalog_path)  # a user's own script, not curate's reader
    (expected, leaks, facts, arrow), (got, got_leaks, got_facts, got_arrow) = results["pandas"], results["duckdb"]
    assert plain["duckdb"].dtypes.to_dict() == plain["pandas"].dtypes.to_dict()
    assert str(plain["duckdb"]["width"].dtype) == "Int32"  # a nullable integer, not float64 with NaN
    assert_same_rows(expected, got, [name for name in schema.NAMES if name != "geo_distance_km"])
    assert got.loc[5, "review_status"] == "dropped" and got.loc[9, "review_label"] == "oslo"
    assert got.loc[numbered, "review_status"] == expected.loc[numbered, "review_status"] == "dropped"
    pd.testing.assert_frame_equal(got_leaks, leaks)
    assert {k: v for k, v in got_facts.items() if k != "disk"} | {"stages": None} == \
        {k: v for k, v in facts.items() if k != "disk"} | {"stages": None}
    assert {name: s["state"] for name, s in got_facts["stages"].items()} == \
        {name: s["state"] for name, s in facts["stages"].items()}
    assert got_arrow.names == arrow.names and got_arrow.types == arrow.types


def test_catalog_folder_of_parts(tmp_path):
    """A catalog that is a folder of part-*.parquet files is read in part order and rewritten as one."""
    catalog = generated(300, 11, owners=20, images=100, missing=0.1, prior=False)
    ws = Workspace(tmp_path / "ws")
    ws.catalog_path.mkdir(parents=True)
    table = schema.conform(catalog)
    for number, start in enumerate(range(0, 300, 128)):
        pq.write_table(table.slice(start, 128), ws.catalog_path / f"part-{number:05d}.parquet")
    expected, _ = filter_catalog(catalog, FilterConfig())
    run_filter(ws, FilterConfig(), engine="duckdb")
    got = read_catalog(ws)
    assert_same_rows(expected, got, FLAGS)


def test_engine_choice(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    write_catalog(ws, generated(60, 1, owners=5, images=10, missing=0.0, prior=False))
    monkeypatch.delenv(outofcore.ENGINE_ENV, raising=False)
    assert outofcore.choose_engine(None, ws.catalog_path) == "pandas"
    monkeypatch.setattr(outofcore, "AUTO_ROWS", 59)
    assert outofcore.choose_engine("auto", ws.catalog_path) == "duckdb"
    assert outofcore.choose_engine("PANDAS", ws.catalog_path) == "pandas"
    monkeypatch.setenv(outofcore.ENGINE_ENV, "spark")
    with pytest.raises(UsageError, match="CURATE_CATALOG_ENGINE=spark is not a catalog engine"):
        outofcore.choose_engine(None, ws.catalog_path)
