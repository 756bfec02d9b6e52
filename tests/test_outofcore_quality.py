"""The DuckDB filter scores the image-quality checks as the pandas filter does: the same
`<check>_score` columns, `quality_issues`, `quality:<check>` drops (first reason wins, after the
exact duplicates and before the owner cap) and report, on generated catalogs with image
statistics (hypothesis picks the collection's colour share, which checks drop, and the batch
size the DuckDB path scores in), in a catalog file and in a folder of Parquet parts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import schema
from curate.filters import quality
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.outofcore import filter as outofcore_filter
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import examples
from tests.test_outofcore import FLAGS, QUICK, assert_same_report, assert_same_rows, filter_both, generated

SCORED = list(quality.SCORE_COLUMNS) + ["quality_issues"]


def with_statistics(catalog: pd.DataFrame, seed: int, measured: float, grey: float) -> pd.DataFrame:
    """`catalog` with image statistics on a `measured` share of its rows (the rest unmeasured),
    spread around every check's threshold; `grey`: the share of measured photos without colour.
    Some measured rows lack one statistic (their check cannot judge them), some are tiny or long."""
    rng = np.random.default_rng(seed)
    n = len(catalog)
    out = catalog.copy()
    stats = {
        "laplacian_var": rng.lognormal(np.log(35), 1.0, n),  # blurry under ~35
        "brightness_p05": rng.uniform(0, 60, n),
        "brightness_p50": rng.uniform(20, 200, n),  # dark: mean of p50 and p95 under 90
        "brightness_p95": rng.uniform(60, 255, n),
        "white_clipped_share": rng.uniform(0, 0.4, n),
        "centre_clipped_share": rng.choice([0.0, 0.05, 0.2, 0.6], n),
        "entropy_bits": rng.uniform(2.5, 8.0, n),  # low information under 3.75
        "chroma_mean": np.where(rng.random(n) < grey, rng.uniform(0, 1.6, n), rng.uniform(1.6, 60, n)),
    }
    stats["chroma_mean"][rng.random(n) < 0.05] = 1.6  # exactly at the threshold fails
    for name, values in stats.items():
        values[rng.random(n) < 0.03] = np.nan  # measured, but this statistic is missing
        out[name] = values
    unmeasured = rng.random(n) >= measured
    out.loc[unmeasured, list(stats)] = np.nan
    out["width"] = pd.array(rng.choice([50, 72, 100, 200, 640, 1600], n), dtype="Int32")
    out["height"] = pd.array(rng.choice([60, 100, 300, 480, 640], n), dtype="Int32")
    out.loc[rng.random(n) < 0.03, "width"] = pd.NA
    return schema.to_pandas(schema.conform(out))


def assert_same_quality(report, got_report) -> None:
    assert got_report.quality == report.quality
    assert_same_report(report, got_report)


checks = st.lists(st.sampled_from([c.name for c in quality.CHECKS]), max_size=3, unique=True)
configs = st.builds(FilterConfig, drop_quality=checks, colour_collection_share=st.sampled_from([0.0, 0.5, 0.9]),
                    max_km=st.sampled_from([5.0, "off"]), licences=st.sampled_from([None, ("cc-by", "cc0")]),
                    max_per_owner=st.sampled_from([None, 2]))


@settings(max_examples=examples(10), **QUICK)
@given(n=st.integers(40, 400), seed=st.integers(0, 2**32 - 1), measured=st.sampled_from([1.0, 0.7, 0.05]),
       grey=st.sampled_from([0.0, 0.3, 0.5, 0.9]), prior=st.booleans(), batch=st.sampled_from([7, 64, 65_536]),
       config=configs)
def test_quality_scores_drops_and_report_equal_pandas(tmp_path_factory, n, seed, measured, grey, prior, batch,
                                                      config):
    catalog = with_statistics(generated(n, seed, owners=30, images=max(n // 2, 2), missing=0.1, prior=prior),
                              seed, measured, grey)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outofcore_filter, "BATCH_ROWS", batch)  # the collection is judged across batches
        expected, report, got, got_report = filter_both(catalog, config, tmp_path_factory.mktemp("q"))
    assert_same_rows(expected, got, FLAGS + SCORED)
    assert_same_quality(report, got_report)


def test_greyscale_is_judged_on_the_whole_collection_not_a_batch(tmp_path, monkeypatch):
    """Rows 0-59 without colour, 60-99 with: 40% colour, so with a share of 0.5 the collection is
    greyscale and nobody is flagged greyscale, although the last batches hold only colour rows and
    the first ones only grey (a batch judged alone would flag its grey rows)."""
    catalog = with_statistics(generated(100, 5, owners=10, images=50, missing=0.0, prior=False), 5, 1.0, 0.0)
    catalog["chroma_mean"], catalog["laplacian_var"] = [0.5] * 60 + [30.0] * 40, 50.0  # all measured
    monkeypatch.setattr(outofcore_filter, "BATCH_ROWS", 25)
    config = FilterConfig(drop_quality=("greyscale",), colour_collection_share=0.5, max_km="off")
    expected, report, got, got_report = filter_both(catalog, config, tmp_path)
    greyscale = next(row for row in got_report.quality if row["check"] == "greyscale")
    assert greyscale["flagged"] == 0 and greyscale["dropped"] == 0
    assert got["greyscale_score"].eq(0.0).all()
    assert "mostly greyscale collection (60% of photos): the greyscale check flags nothing" in got_report.notes
    assert_same_rows(expected, got, FLAGS + SCORED)
    assert_same_quality(report, got_report)


def test_first_failed_dropping_check_names_the_reason(tmp_path):
    """A photo failing blurry, dark and tiny with --drop-quality dark,tiny is dropped as quality:dark
    (CHECKS order), counted under dark only; one already dropped as exact_duplicate keeps that
    reason, but its failures are still flagged."""
    catalog = with_statistics(generated(6, 1, owners=6, images=6, missing=0.0, prior=False), 1, 1.0, 0.0)
    stats = {"laplacian_var": 1.0, "brightness_p05": 0.0, "brightness_p50": 10.0, "brightness_p95": 20.0,
             "white_clipped_share": 0.0, "centre_clipped_share": 0.0, "entropy_bits": 6.0, "chroma_mean": 30.0}
    for name, value in stats.items():
        catalog[name] = value
    catalog["width"] = pd.array([50, 50, 500, 500, 500, 500], dtype="Int32")
    catalog["height"] = pd.array([60, 60, 400, 400, 400, 400], dtype="Int32")
    catalog["label"], catalog["tag_labels"] = "paris", [["paris"]] * 6
    catalog["lat"], catalog["lon"] = 48.85, 2.35
    catalog["sha256"] = ["a", "a", "b", "c", "d", "e"]
    catalog["taken_at"] = pd.Series(pd.date_range("2020-01-01", periods=6, freq="D")).astype("datetime64[us]")
    catalog = schema.to_pandas(schema.conform(catalog))
    config = FilterConfig(drop_quality=("dark", "tiny"), max_km="off", force_quality=True)  # all of paris
    expected, report, got, got_report = filter_both(catalog, config, tmp_path)
    assert got["drop_reason"].tolist() == ["quality:dark", "exact_duplicate"] + ["quality:dark"] * 4
    assert got.loc[0, "quality_issues"].tolist() == ["blurry", "dark", "tiny"]
    assert got.loc[1, "quality_issues"].tolist() == ["blurry", "dark", "tiny"]
    by_check = {row["check"]: (row["flagged"], row["dropped"]) for row in got_report.quality}
    assert by_check["dark"] == (6, 5) and by_check["tiny"] == (2, 0) and by_check["blurry"] == (6, 0)
    assert got_report.dropped_by_reason == {"quality:dark": 5, "exact_duplicate": 1}
    assert_same_rows(expected, got, FLAGS + SCORED)
    assert_same_quality(report, got_report)


def test_metadata_only_catalog_skips_the_checks_as_pandas_does(tmp_path):
    catalog = generated(80, 2, owners=8, images=40, missing=0.0, prior=True)
    expected, report, got, got_report = filter_both(catalog, FilterConfig(drop_quality=("all",)), tmp_path)
    assert "no image statistics (metadata-only catalog): quality checks skipped" in got_report.notes
    assert got["blurry_score"].isna().all() and all(len(found) == 0 for found in got["quality_issues"])
    assert_same_rows(expected, got, FLAGS + SCORED)
    assert_same_quality(report, got_report)


@pytest.mark.parametrize("folder", [False, True])
def test_run_filter_writes_the_same_catalog_and_report(tmp_path, monkeypatch, folder):
    """Through the I/O edge: run_filter with engine=duckdb on a catalog file, and on a folder of
    Parquet parts, writes the catalog and reports/filter.json the pandas engine writes."""
    catalog = with_statistics(generated(300, 9, owners=25, images=200, missing=0.1, prior=True), 9, 0.8, 0.2)
    monkeypatch.setattr(outofcore_filter, "BATCH_ROWS", 50)
    config = FilterConfig(drop_quality=("blurry", "tiny"), max_per_owner=4)
    results = {}
    for engine in ("pandas", "duckdb"):
        ws = Workspace(tmp_path / engine)
        if engine == "duckdb" and folder:
            ws.catalog_path.mkdir(parents=True)
            table = schema.conform(catalog)
            for number, start in enumerate(range(0, len(catalog), 128)):
                pq.write_table(table.slice(start, 128), ws.catalog_path / f"part-{number:05d}.parquet")
        else:
            write_catalog(ws, catalog)
        run_filter(ws, config, engine=engine)
        if engine == "duckdb" and folder:
            frame = pq.read_table(ws.catalog_path).to_pandas(types_mapper=schema.pandas_type)
            written = schema.to_pandas(schema.conform(frame))
        else:
            written = read_catalog(ws)
        results[engine] = (written, json.loads((ws.root / "reports" / "filter.json").read_text()))
    (expected, report), (got, got_report) = results["pandas"], results["duckdb"]
    assert_same_rows(expected, got, [name for name in schema.NAMES if name != "geo_distance_km"])
    assert got_report["quality"] == report["quality"]
    assert got_report["dropped_by_reason"] == report["dropped_by_reason"]
    assert (got_report["notes"], got_report["warnings"]) == (report["notes"], report["warnings"])
    assert {"quality:blurry", "quality:tiny", "owner_cap"} <= set(report["dropped_by_reason"])


def test_the_command_line_gives_the_same_result_in_both_engines(tmp_path, monkeypatch):
    """`curate filter --drop-quality ... --catalog-engine duckdb` prints and writes what the
    pandas engine does, and no longer warns that the quality checks were not computed."""
    from typer.testing import CliRunner

    from curate.cli.app import app

    monkeypatch.delenv("CURATE_CATALOG_ENGINE", raising=False)
    catalog = with_statistics(generated(200, 4, owners=15, images=150, missing=0.1, prior=False), 4, 0.9, 0.1)
    seen = {}
    for engine in ("pandas", "duckdb"):
        root = tmp_path / engine
        write_catalog(Workspace(root), catalog)
        common = ["--workspace", str(root), "--catalog-engine", engine, "--drop-quality", "blurry,tiny"]
        result = CliRunner().invoke(app, ["filter", *common, "--json"])
        assert result.exit_code == 0, result.output
        seen[engine] = (read_catalog(Workspace(root)), json.loads(result.output))
    (expected, printed), (got, got_printed) = seen["pandas"], seen["duckdb"]
    assert_same_rows(expected, got, FLAGS + SCORED)
    assert got_printed["quality"] == printed["quality"]
    assert got_printed["dropped_by_reason"] == printed["dropped_by_reason"]
    assert {"quality:blurry", "quality:tiny"} <= set(printed["dropped_by_reason"])
    assert got_printed["warnings"] == printed["warnings"]
    assert not any("quality checks" in line for line in got_printed["warnings"])


def two_labels(coast: int, grey: int, distinct: bool = False) -> pd.DataFrame:
    """100 measured, good photos: `coast` labelled Coast, the rest Kitchen; the first `grey` are black and white
    in a colour collection; `distinct`: every photo its own image (no exact duplicates)."""
    catalog = with_statistics(generated(100, 3, owners=10, images=100, missing=0.0, prior=False), 3, 1.0, 0.0)
    catalog["laplacian_var"], catalog["brightness_p50"], catalog["brightness_p95"] = 80.0, 120.0, 200.0
    catalog["entropy_bits"], catalog["white_clipped_share"], catalog["centre_clipped_share"] = 7.0, 0.0, 0.0
    catalog["width"], catalog["height"] = pd.array([640] * 100, dtype="Int32"), pd.array([480] * 100, dtype="Int32")
    catalog["label"] = ["Coast"] * coast + ["Kitchen"] * (100 - coast)
    catalog["tag_labels"] = [[label] for label in catalog["label"]]
    if distinct:
        catalog["sha256"] = [f"{i:064x}" for i in range(100)]
    catalog["chroma_mean"] = [0.5] * grey + [30.0] * (100 - grey)
    return schema.to_pandas(schema.conform(catalog))


def test_quality_drops_that_would_empty_a_label_are_held_and_forced_applied_in_both_engines(tmp_path):
    """An acceptance audit: `--drop-quality all` on real 15-Scene photos emptied Coast, OpenCountry and
    Store, whose photos are black and white, in a mostly colour collection, with no word. Audit AA: with a
    warning only, a night collection still lost 94 %. Drops taking more than half of a label are held (kept,
    flagged, one `held:` line naming the label and the check); --force-quality applies them, with the
    warning that names the labels and the check that took them."""
    catalog = two_labels(30, 30)  # Coast's photos are black and white, 70 % colour
    (tmp_path / "held").mkdir()
    held, held_report, got, got_report = filter_both(catalog, FilterConfig(drop_quality=("greyscale",), max_km="off"),
                                                     tmp_path / "held")
    assert_same_rows(held, got, FLAGS + SCORED)
    assert got_report.warnings == held_report.warnings and got_report.notes == held_report.notes
    assert not got["drop_reason"].astype(str).str.startswith("quality:").any()
    assert all("greyscale" in list(issues) for issues in got.loc[got["label"] == "Coast", "quality_issues"])
    line = next(w for w in got_report.warnings if w.startswith("held: the quality drops"))
    coast = int(((got["label"] == "Coast") & (got["status"] == "kept")).sum())  # some are exact copies
    assert f"Coast {coast} of {coast} (greyscale {coast})" in line
    assert "--force-quality" in line and "Kitchen" not in line
    config = FilterConfig(drop_quality=("greyscale",), max_km="off", force_quality=True)
    expected, report, got, got_report = filter_both(catalog, config, tmp_path)
    coast = got["label"] == "Coast"
    assert (got.loc[coast, "status"] == "dropped").all()  # greyscale, or an exact duplicate first
    greyscale = int((got["drop_reason"] == "quality:greyscale").sum())
    warning = next(w for w in got_report.warnings if w.startswith("the quality drops take"))
    assert f"{greyscale} of the" in warning and "Coast 100% (greyscale)" in warning
    assert "Kitchen" not in warning and "applied (as --force-quality asked)" in warning
    (tmp_path / "small").mkdir()  # a label under 10 photos is never held: applied, and the line says why
    small = two_labels(8, 8, distinct=True)
    _, small_report, _, small_got = filter_both(small, FilterConfig(drop_quality=("greyscale",), max_km="off"),
                                                tmp_path / "small")
    line = next(w for w in small_got.warnings if w.startswith("the quality drops take"))
    assert "more than half of Coast 100% (greyscale): applied (labels under 10 photos are not held)" in line
    assert "--force-quality" not in line and small_got.warnings == small_report.warnings
    assert_same_rows(expected, got, FLAGS + SCORED)
    assert_same_quality(report, got_report)
    (tmp_path / "flags").mkdir()
    _, quiet = filter_both(catalog, FilterConfig(max_km="off"), tmp_path / "flags")[:2]  # flagged, not dropped
    assert not any(w.startswith("the quality drops take") for w in quiet.warnings)


def test_applied_quality_drops_get_a_note_and_a_check_flagging_most_photos_is_named(tmp_path):
    """Audit AA: 42 % of a collection lost to --drop-quality without a word, and `dark` flagging 93 % of a
    night collection by default without one. Both engines say the same."""
    catalog = two_labels(50, 20, distinct=True)  # 20 of Coast's 50 are black and white
    expected, report, got, got_report = filter_both(catalog, FilterConfig(drop_quality=("greyscale",), max_km="off"),
                                                    tmp_path)
    assert_same_rows(expected, got, FLAGS + SCORED)
    assert int((got["drop_reason"] == "quality:greyscale").sum()) == 20 and not got_report.warnings
    assert got_report.notes == report.notes
    assert "--drop-quality dropped 20 of 100 photos (20%): greyscale 20; labels losing over 10%: Coast 40%" \
        in got_report.notes
    night = catalog.assign(brightness_p50=[10.0] * 60 + [120.0] * 40, brightness_p95=[30.0] * 60 + [200.0] * 40)
    (tmp_path / "night").mkdir()
    _, night_report, _, got_night = filter_both(night, FilterConfig(max_km="off"), tmp_path / "night")
    crowded = [note for note in got_night.notes if note.startswith("the dark check flags 60 of the 100")]
    assert len(crowded) == 1 and "collection's own look" in crowded[0] and got_night.notes == night_report.notes


def test_a_force_flag_without_its_drop_says_so_and_held_lines_name_the_recipe_keys(tmp_path):
    """Audit AF 4 and 5: `--force-quality --force-caps` given alone, as the held lines read, forced nothing and
    undid the earlier drops without a word; and under `curate run` the held lines named flags it does not
    take. Both engines now say so."""
    catalog = two_labels(30, 30)
    (tmp_path / "alone").mkdir()
    _, report, _, got = filter_both(catalog, FilterConfig(max_km="off", force_quality=True, force_caps=True),
                                    tmp_path / "alone")
    assert got.notes == report.notes
    assert any(n.startswith("--force-quality forces nothing without --drop-quality (recipe drop_quality)")
               for n in report.notes)
    assert any(n.startswith("--force-caps forces nothing without --max-per-owner or --max-owner-share")
               for n in report.notes)
    _, held, _, got = filter_both(catalog, FilterConfig(drop_quality=("greyscale",), max_km="off"), tmp_path)
    assert any(w.startswith("held: the quality drops") for w in held.warnings) and got.notes == held.notes
    assert any("is a recipe key as well" in n and "force_quality = true" in n for n in held.notes)
    assert not any("forces nothing" in n for n in held.notes)


def test_the_quality_hold_names_every_check_that_alone_takes_most_of_the_label(tmp_path):
    """Audit AF 6: the held line named the first check each photo failed (`blurry` for 25 night photos) while
    another (`dark`) flagged all 28, so leaving out the named check was held again. It now names each dropping
    check that alone would take more than half of the label, with counts; both engines."""
    catalog = two_labels(30, 30, distinct=True)  # Coast: 30 black-and-white photos, 20 of them dark too
    catalog.loc[:19, ["brightness_p50", "brightness_p95"]] = [10.0, 30.0]
    config = FilterConfig(drop_quality=("greyscale", "dark"), max_km="off")
    _, report, _, got = filter_both(catalog, config, tmp_path)
    line = next(w for w in got.warnings if w.startswith("held: the quality drops"))
    assert "(Coast 30 of 30 (greyscale 30, dark 20))" in line and got.warnings == report.warnings
