"""`curate report` out of core (curate.outofcore.report) gives the pandas path's report: every
section's numbers, tables and gallery rows on generated catalogs (hypothesis picks their shape,
the stage reports and the caps), on a catalog that is a folder of Parquet parts, and through the
CLI (`curate report --catalog-engine duckdb`: the same report.json, page, attribution.csv and plots)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.outofcore import report as outofcore_report
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import connect
from curate.outofcore.report import ReportQueries
from curate.report.data import build_report
from curate.report.html import render_html
from curate.report.run import write_report
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import examples
from tests.test_outofcore import QUICK, generated
from tests.test_report import report_ws  # noqa: F401  (a fixture: a workspace with images and a run)

QUALITY_CHECKS = ("blurry", "dark", "made_up")  # made_up: a check without a score column
REVIEWS = np.array([None, None, None, None, "kept", "dropped"], dtype=object)


def rich(n: int, seed: int, owners: int, nan_scores: bool) -> pd.DataFrame:
    """tests.test_outofcore.generated plus what the report reads: owner names (some owners with
    two), pages, images, coordinate issues, distances, topic tags and scores (NaN too), doubts,
    rescues, recoveries, duplicate groups, quality flags and scores with ties, label issues and
    review decisions."""
    rng = np.random.default_rng(seed)
    catalog = generated(n, seed, owners, images=max(n // 4, 2), missing=0.2, prior=True)
    pick = lambda values, p=None: np.array(values, dtype=object)[rng.choice(len(values), n, p=p)]  # noqa: E731
    located = catalog["lat"].notna().to_numpy()
    score = np.round(rng.random(n), 1)  # ties: the galleries' order must follow the rows'
    score[rng.random(n) < 0.2] = np.nan if nan_scores else 0.5
    score_blurry = np.where(rng.random(n) < 0.3, np.nan, np.round(rng.random(n), 1))
    extra = {
        "owner_name": np.where(rng.random(n) < 0.5, None, np.char.add("Name ", rng.integers(0, owners + 3, n)
                                                                       .astype(str))),
        "page_url": np.where(rng.random(n) < 0.5, None, "https://x.invalid/p"),
        "image_path": [f"images/{i:02x}/{i:064x}.jpg" for i in range(n)],
        "coord_issue": np.where(located, None, pick(["missing", "zero_island", None, "imprecise"])),
        "geo_distance_km": np.where(located, rng.exponential(20, n), np.nan),
        "tags": [list(t) for t in pick([("skyline",), ("Skyline", "x"), (), ("x", "skyline"), ("y",),
                                                  ("dc:subject=skyline",), ('x', 'dc:subject="skyline"'),
                                                  ("skyline:x",), ("dc:subject=skylines",)])],
        "topic_score": score,
        "topic_doubted": pick([None, True, False, False]),
        "topic_rescued": pick([None, None, True, False]),
        "topic_recovered": pick([None, True, False]),
        "exact_dup_group": np.where(rng.random(n) < 0.3, np.char.add("g", rng.integers(0, 6, n).astype(str)), None),
        "quality_issues": [list(q) for q in pick([(), (), ("blurry",), ("dark", "made_up"), ("blurry", "dark")])],
        "blurry_score": score_blurry,
        "dark_score": np.round(rng.random(n), 1),
        "is_label_issue": pick([None, None, True, False]),
        "label_quality": np.where(rng.random(n) < 0.2, np.nan, np.round(rng.random(n), 1)),
        # unlike their label below -3.5 (ties too), shown first: audit EG F4
        "label_fit": np.where(rng.random(n) < 0.2, np.nan, np.round(rng.normal(-2, 2, n))),
        "suggested_label": pick([None, "paris", "oslo"]),
        "review_status": pick(REVIEWS),
        "review_label": pick([None] * 9 + ["oslo"]),
    }
    for name, values in extra.items():
        catalog[name] = values
    reviewed = catalog["review_status"].notna().to_numpy()
    catalog["label_before_review"] = np.where(catalog["review_label"].notna(), pick(["paris", None]), None)
    catalog["review_overrode_stage"] = np.where(reviewed & (rng.random(n) < 0.5), "filter", None)
    catalog["review_overrode_reason"] = np.where(reviewed & (rng.random(n) < 0.5), "geo_outlier", None)
    drop = catalog["status"].eq("dropped").to_numpy()
    catalog["drop_reason"] = np.where(drop, pick(["earlier", "geo_outlier", "off_topic", "licence", "collage"]), None)
    return schema.to_pandas(schema.conform(catalog))


LABEL_ISSUES_ONLY = "(label issues only)"  # a prefilter run without a topic (`--label-issues-only`)


def stage_reports(filter_run: bool, prefilter: str | None, split_run: bool, held: bool = True) -> dict:
    if prefilter == LABEL_ISSUES_ONLY:
        no_topic = {"topic": None, "threshold": None, "threshold_method": "none", "held_reasons": [],
                    "held": False, "config": {"label_issues_only": True}}
        return {**stage_reports(filter_run, None, split_run), "prefilter": no_topic}
    return {
        "filter": {"config": {"max_km": 25.0, "center": "median"},
                   "geo": [{"label": "paris", "centre_lat": 48.85, "centre_lon": 2.35},
                           {"label": "fiji", "centre_lat": -17.8, "centre_lon": 179.95},
                           {"label": "nowhere", "centre_lat": None, "centre_lon": None}],
                   "quality": [{"check": name, "meaning": f"{name}?", "drops": name == "dark", "dropped": 2}
                               for name in QUALITY_CHECKS]} if filter_run else None,
        "prefilter": {"topic": prefilter, "threshold": 0.5, "threshold_method": "fixed",
                      "held_reasons": ["too few"] if held else [], "held": held, "doubted": 3}
        if prefilter is not None else None,
        "split": {"config": {"by": "owner", "seed": 0}} if split_run else None,
    }


def evaluation(catalog: pd.DataFrame, rng) -> dict:
    ids = catalog["photo_id"].to_numpy()[rng.choice(len(catalog), 5)]
    owners = catalog["owner_id"].dropna().unique()[:6]
    return {"run": "r", "split": "test", "photos": 5, "accuracy": 0.6,
            "top_losses": [{"photo_id": str(i), "owner_id": catalog["owner_id"].iloc[0], "loss": 1.0} for i in ids]
            + [{"photo_id": "not-there", "owner_id": "nobody"}],
            "per_owner": [{"owner_id": o, "photos": 2 + k, "accuracy": 0.5} for k, o in enumerate(owners)],
            # `--uncurated`: the worth on the photos both models know, the one left out explained beside it
            "comparisons": {"uncurated": {
                "clean_test_photos": 5, "common_test_photos": 4, "left_out_photos": 1,
                "left_out": [{"model": "uncurated", "reason": "no_class", "label": "rome", "photos": 1}],
                "curated_accuracy": 0.75, "uncurated_accuracy": 0.5, "curation_worth_pp": 25.0,
                "headline": "what curation is worth: +25.0 pp … on the same 4 of the 5 clean test photos",
                "notes": ["1 test photo of rome left out of both: the uncurated model has no rome class"]}}}


def duckdb_report(catalog_path: Path, scratch: Path, reports: dict, **options) -> dict:
    with connect(scratch) as con:
        return ReportQueries(con, Catalog(catalog_path)).build_report(reports, **options)


def assert_same(expected, got, where: str = "report") -> None:
    """Equal, floats to 1e-12 relative (sums of squares and z-scores may differ in the last bit)."""
    if isinstance(expected, float) and isinstance(got, float):
        same = math.isclose(expected, got, rel_tol=1e-12) or (math.isnan(expected) and math.isnan(got))
        assert same, f"{where}: {expected} != {got}"
    elif isinstance(expected, dict) and isinstance(got, dict):
        assert list(expected) == list(got), f"{where}: keys {list(expected)} != {list(got)}"
        for key in expected:
            assert_same(expected[key], got[key], f"{where}.{key}")
    elif isinstance(expected, list) and isinstance(got, list):
        assert len(expected) == len(got), f"{where}: {len(expected)} items != {len(got)}"
        for i, (left, right) in enumerate(zip(expected, got)):
            assert_same(left, right, f"{where}[{i}]")
    else:
        assert expected == got and type(expected) is type(got), f"{where}: {expected!r} != {got!r}"


@settings(max_examples=examples(12), **QUICK)
@given(n=st.integers(20, 400), seed=st.integers(0, 2**32 - 1), owners=st.integers(1, 40),
       nan_scores=st.booleans(), filter_run=st.booleans(), prefilter=st.sampled_from([None, "skyline", "", "SKYLINE ",
                                                                                 LABEL_ISSUES_ONLY]),
       split_run=st.booleans(), max_gallery=st.sampled_from([0, 1, 5, 12]), max_rows=st.sampled_from([0, 3, 200]),
       owner_alarm=st.sampled_from([0.01, 0.1, 1.0]), with_evaluation=st.booleans(), held=st.booleans())
def test_duckdb_report_equals_pandas(tmp_path, n, seed, owners, nan_scores, filter_run, prefilter, split_run,
                                     max_gallery, max_rows, owner_alarm, with_evaluation, held):
    catalog = rich(n, seed, owners, nan_scores)
    reports = stage_reports(filter_run, prefilter, split_run, held)
    options = {"max_gallery": max_gallery, "max_rows": max_rows, "owner_alarm": owner_alarm,
               "run_evaluation": evaluation(catalog, np.random.default_rng(seed)) if with_evaluation else None}
    ws = Workspace(Path(tempfile.mkdtemp(dir=tmp_path)))
    write_catalog(ws, catalog)
    expected = build_report(catalog, reports, **options)
    got = duckdb_report(ws.catalog_path, tmp_path, reports, **options)
    assert_same(expected, got)
    assert render_html(got) == render_html(expected)


def test_the_generated_reports_are_not_empty(tmp_path):
    """The comparison above compares something: every section has rows, galleries show photos."""
    catalog = rich(400, 3, 30, nan_scores=True)
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    sections = duckdb_report(ws.catalog_path, tmp_path, stage_reports(True, "skyline", True),
                             run_evaluation=evaluation(catalog, np.random.default_rng(0)))["sections"]
    assert not [name for name, section in sections.items() if "absent" in section]
    assert sections["photographers"]["alarms"] >= 0 and len(sections["photographers"]["labels"]) == 5
    assert sections["tags"]["ambiguous"]["shown"] > 0 and sections["tags"]["prefilter"]["doubted"]["shown"] > 0
    recovered = duckdb_report(ws.catalog_path, tmp_path, stage_reports(True, "skyline", True, held=False)
                              )["sections"]["tags"]["prefilter"]["untagged_recovered"]
    assert recovered["shown"] > 0
    assert sections["duplicates"]["exact"]["groups"] == 6 and sections["duplicates"]["exact"]["shown_groups"]
    assert sections["duplicates"]["collages"]["gallery"]["shown"] > 0  # the photos dropped as collage (audit DY F6)
    assert all(check["gallery"]["shown"] for check in sections["quality"]["checks"])
    assert sections["label_issues"]["flagged"] > 0 and sections["review"]["reviewed"] > 0
    assert sections["splits"]["leaks"] and sections["training"]["top_losses"][0]["sha256"] is not None
    assert len(sections["overview"]["licences"]) >= 4
    counts = catalog[catalog["label"] == "paris"]
    assert sections["geography"]["labels"][0]["photos"] == len(counts)


def test_gallery_reads_only_the_rows_it_shows(tmp_path, monkeypatch):
    """Out of core the galleries' rows are LIMITed in SQL: no query brings more rows into pandas
    than a gallery or table shows (here: 20 reviewed photos; galleries of 4, tables of 10 rows,
    the per-label count tables: labels x reasons, not rows)."""
    catalog = rich(3000, 5, 200, nan_scores=False)
    catalog.loc[20:, ["review_status", "review_label"]] = None  # reviews are human decisions: a few
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    sizes = []
    original = ReportQueries.frame

    def frame(self, query):
        result = original(self, query)
        sizes.append(len(result))
        return result

    monkeypatch.setattr(ReportQueries, "frame", frame)
    duckdb_report(ws.catalog_path, tmp_path, stage_reports(True, "skyline", True), max_gallery=4, max_rows=10)
    assert sizes and max(sizes) <= 100  # the largest: the funnel's label x stage x reason counts


def test_a_folder_of_parts_gives_the_same_report(tmp_path):
    catalog = rich(300, 11, 20, nan_scores=True)
    reports = stage_reports(True, "skyline", True)
    folder = tmp_path / "catalog.parquet"
    folder.mkdir()
    table = schema.conform(catalog)
    for number, start in enumerate(range(0, len(catalog), 70)):
        pq.write_table(table.slice(start, 70), folder / f"part-{number:05d}.parquet")
    expected = build_report(catalog, reports, max_gallery=6)
    assert_same(expected, duckdb_report(folder, tmp_path, reports, max_gallery=6))


def test_big_labels_plot_a_sample_and_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(outofcore_report, "PLOT_POINTS", 50)
    catalog = rich(400, 2, 20, nan_scores=False)
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    paris = int((catalog["label"] == "paris").sum())
    assert paris > 50
    with connect(tmp_path) as con:
        queries = ReportQueries(con, Catalog(ws.catalog_path))
        report = queries.build_report(stage_reports(True, None, False))
        rows = queries.geo_rows("paris")
        again = queries.geo_rows("paris")
    assert len(rows) == 50 and rows.equals(again)  # a fixed sample
    assert len(report["warnings"]) == 1 and f"paris ({paris:,} photos)" in report["warnings"][0]
    assert "warning: out of core, the geography plots of paris" in render_html(report)
    assert build_report(catalog, stage_reports(True, None, False))["warnings"] == []


def cli_report(ws: Workspace, engine: str, out: Path):
    return CliRunner().invoke(app, ["report", "--workspace", str(ws.root), "--catalog-engine", engine,
                                    "--out", str(out), "--max-gallery", "5"])


def test_cli_duckdb_report_matches_pandas(report_ws, tmp_path):  # noqa: F811 (the fixture)
    for engine in ("pandas", "duckdb"):
        result = cli_report(report_ws, engine, tmp_path / engine)
        assert result.exit_code == 0, result.output
    pandas_dir, duckdb_dir = tmp_path / "pandas", tmp_path / "duckdb"
    expected = json.loads((pandas_dir / "report.json").read_text())
    got = json.loads((duckdb_dir / "report.json").read_text())
    assert_same(expected, got)
    assert (duckdb_dir / "index.html").read_text() == (pandas_dir / "index.html").read_text()
    assert (duckdb_dir / "attribution.csv").read_bytes() == (pandas_dir / "attribution.csv").read_bytes()
    listing = sorted(str(p.relative_to(pandas_dir)) for p in pandas_dir.rglob("*") if p.is_file())
    assert listing == sorted(str(p.relative_to(duckdb_dir)) for p in duckdb_dir.rglob("*") if p.is_file())
    assert any(name.startswith("plots/geo_") for name in listing) and any(n.startswith("thumbs/") for n in listing)
    assert len(pd.read_csv(duckdb_dir / "attribution.csv")) == int((read_catalog(report_ws)["status"] == "kept").sum())


def test_cli_environment_and_bad_engine(report_ws, tmp_path, monkeypatch):  # noqa: F811 (the fixture)
    monkeypatch.setenv("CURATE_CATALOG_ENGINE", "duckdb")
    calls = []
    monkeypatch.setattr(outofcore_report.ReportQueries, "build_report",
                        lambda self, *a, **k: calls.append(1) or pytest.fail("stop here"))
    with pytest.raises(pytest.fail.Exception):
        write_report(report_ws, tmp_path / "env")
    assert calls == [1]  # the environment chose DuckDB
    result = cli_report(report_ws, "spark", tmp_path / "bad")
    assert result.exit_code == 2 and "not a catalog engine" in result.output and "Traceback" not in result.output


def test_leaks_beyond_max_rows_are_counted_not_listed(tmp_path):
    catalog = rich(300, 4, 30, nan_scores=False)  # the generated split is per row: owners leak
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    reports = stage_reports(False, None, True)
    expected = build_report(catalog, reports, max_rows=3)
    got = duckdb_report(ws.catalog_path, tmp_path, reports, max_rows=3)
    assert_same(expected, got)
    splits = got["sections"]["splits"]
    assert len(splits["leaks"]) == 3 and splits["leaks_total"] > 3 and not splits["clean"]
    assert f'{splits["leaks_total"]} leak(s) (the first 3;' in render_html(got)


def test_cli_auto_reports_a_folder_of_parts_out_of_core(report_ws, tmp_path):  # noqa: F811 (the fixture)
    """auto picks DuckDB for a catalog that is a folder of parts (pandas cannot read one): the
    same report as pandas gives for the catalog as one file."""
    assert cli_report(report_ws, "pandas", tmp_path / "file").exit_code == 0
    table = pq.read_table(report_ws.catalog_path)
    report_ws.catalog_path.unlink()
    report_ws.catalog_path.mkdir()
    for number, start in enumerate(range(0, table.num_rows, 4)):
        pq.write_table(table.slice(start, 4), report_ws.catalog_path / f"part-{number:05d}.parquet")
    result = cli_report(report_ws, "auto", tmp_path / "folder")
    assert result.exit_code == 0, result.output
    for name in ("report.json", "index.html", "attribution.csv"):
        assert (tmp_path / "folder" / name).read_bytes() == (tmp_path / "file" / name).read_bytes(), name


def test_duckdb_scratch_goes_in_the_report_folder(report_ws, tmp_path, monkeypatch):  # noqa: F811 (the fixture)
    """The report only reads the workspace: DuckDB's scratch (database and spill files) goes in
    the report folder, so a workspace the user cannot write to can be reported on; none is left."""
    parents = []
    original = outofcore_report.connect

    def connect_where(parent):
        parents.append(Path(parent))
        return original(parent)

    monkeypatch.setattr(outofcore_report, "connect", connect_where)
    assert cli_report(report_ws, "duckdb", tmp_path / "out").exit_code == 0
    assert parents == [tmp_path / "out"]
    assert not list((tmp_path / "out").glob(".duckdb-*")) and not list(report_ws.root.glob(".duckdb-*"))


def test_a_prefilter_without_a_topic_has_no_counts_on_either_engine(tmp_path):
    """`--label-issues-only` fits no topic model: both engines say so instead of counting scores."""
    from curate.report.data import NO_TOPIC

    catalog = rich(120, 5, 12, nan_scores=False)
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    reports = stage_reports(True, LABEL_ISSUES_ONLY, True)
    expected = build_report(catalog, reports)
    got = duckdb_report(ws.catalog_path, tmp_path, reports)
    assert_same(expected, got)
    assert got["sections"]["tags"]["prefilter"] == {"absent": NO_TOPIC}


def test_photos_unlike_their_label_lead_the_label_issue_gallery_without_a_suggestion_on_both_engines(tmp_path):
    """Audit EG F4: the gallery showed the lowest label quality first, so the model's confusion between two weak
    labels filled it and 18 photos of shoes (label fit -3.8 to -5.0, quality 0.24-0.35) were not shown; and F3: a
    photo unlike its label was shown with a suggested label (a lipstick -> yellow) although no label may fit it.
    Both engines: the photos under -UNLIKE_Z first, lowest fit first, without a suggestion; then the rest by
    label quality."""
    from curate.prefilter.outliers import UNLIKE_Z

    catalog = rich(60, 7, 6, nan_scores=False)
    catalog["is_label_issue"] = [True] * 8 + [False] * 52
    catalog["label_quality"] = [0.05, 0.1, 0.3, 0.35, 0.2, np.nan, 0.15, 0.25] + [0.9] * 52
    catalog["label_fit"] = [-1.0, -2.0, -UNLIKE_Z - 0.3, -UNLIKE_Z - 1.5, np.nan, -UNLIKE_Z - 1.5, -UNLIKE_Z, 0.5] \
        + [0.0] * 52
    catalog["suggested_label"] = "oslo"
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    reports = stage_reports(True, "skyline", True)
    expected = build_report(catalog, reports, max_gallery=12)
    got = duckdb_report(ws.catalog_path, tmp_path, reports, max_gallery=12)
    assert_same(expected, got)
    photos = got["sections"]["label_issues"]["gallery"]["photos"]
    ids = catalog["photo_id"].tolist()
    assert [p["photo_id"] for p in photos] == [ids[i] for i in (3, 5, 2, 0, 1, 6, 4, 7)]
    assert [p["suggested_label"] for p in photos] == [None] * 3 + ["oslo"] * 5
