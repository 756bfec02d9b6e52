"""Catalogs written by other Parquet writers (Spark, pyarrow with other options): both catalog
engines read them alike, or refuse them alike with one line (audit BA, F1-F4 and M1;
docs/scale-catalog.md, "Catalogs from other Parquet writers")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import some_slow
from test_outofcore import FLAGS, assert_same_distances, assert_same_rows, generated

import curate
from curate import schema
from curate.catalog_batches import SCRATCH_LOCK, remove_stale_scratch, scratch_folder
from curate.errors import DataContractError
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import connect
from curate.status import workspace_summary
from curate.workspace import Workspace, read_catalog

ENGINES = ("pandas", "duckdb")
CHILD_ENV = {**os.environ, "PYTHONPATH": str(Path(curate.__file__).parents[1])}  # the curate under test
CONFIG = FilterConfig(max_per_owner=5)


def base_table(n: int = 240, seed: int = 5) -> pa.Table:
    """A catalog as curate writes it (every column in its declared type)."""
    return schema.conform(generated(n, seed, owners=15, images=90, missing=0.15, prior=False))


def with_column(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


def workspace(root: Path, parts: list[pa.Table]) -> Workspace:
    """A workspace whose catalog is the one table as a file, or the tables as a folder of parts."""
    ws = Workspace(root)
    root.mkdir(parents=True)
    if len(parts) == 1:
        pq.write_table(parts[0], ws.catalog_path)
        return ws
    ws.catalog_path.mkdir()
    for number, part in enumerate(parts):
        pq.write_table(part, ws.catalog_path / f"part-{number:05d}.parquet")
    return ws


def filtered_by_both(tmp_path: Path, parts: list[pa.Table]) -> dict[str, pd.DataFrame]:
    """Each engine's catalog after `curate filter` of its own copy of the catalog."""
    got = {}
    for engine in ENGINES:
        ws = workspace(tmp_path / engine, parts)
        run_filter(ws, CONFIG, engine=engine)
        got[engine] = read_catalog(ws)
    return got


def assert_engines_agree(got: dict[str, pd.DataFrame]) -> None:
    expected, duck = got["pandas"], got["duckdb"]
    assert_same_rows(expected, duck, [name for name in schema.NAMES if name != "geo_distance_km"])
    assert_same_distances(expected, duck)


def refusals(ws: Workspace) -> dict[str, str]:
    """Each engine's one-line refusal of the workspace's catalog (filter, then status)."""
    lines = {}
    for engine in ENGINES:
        with pytest.raises(DataContractError) as refused:
            run_filter(ws, CONFIG, engine=engine)
        with pytest.raises(DataContractError) as refused_status:
            workspace_summary(ws, engine=engine)
        assert str(refused_status.value) == str(refused.value)
        lines[engine] = str(refused.value)
    return lines


# F1: float NaN (Spark's and NumPy's "no position") is a missing value on both engines


def nan_for_null(table: pa.Table, names=("lat", "lon")) -> pa.Table:
    for name in names:
        values = table[name].to_numpy(zero_copy_only=False).astype(float)  # nulls -> NaN
        table = with_column(table, name, pa.array(values, pa.float64(), from_pandas=False))
    return table


@pytest.mark.parametrize("parts", some_slow([1, 3], fast=(3,)))
def test_nan_coordinates_are_missing_on_both_engines(tmp_path, parts):
    table = base_table()
    nan = nan_for_null(table)
    assert nan["lat"].null_count == 0 and np.isnan(nan["lat"].to_numpy()).sum() > 10
    pieces = [nan.slice(i * 80, 80) for i in range(3)] if parts == 3 else [nan]
    got = filtered_by_both(tmp_path / "nan", pieces)  # the DuckDB filter died in its distance UDF
    assert_engines_agree(got)
    reference = filtered_by_both(tmp_path / "null", [table])["pandas"]  # NaN reads as null does
    assert_same_rows(reference, got["duckdb"], FLAGS)
    assert_same_distances(reference, got["duckdb"])
    located = got["duckdb"]["geo_distance_km"].notna()
    assert located.any() and not (located & reference["lat"].isna()).any()
    ws = workspace(tmp_path / "status", [nan])
    counts = {engine: workspace_summary(ws, engine=engine)["geotagged"] for engine in ENGINES}
    assert counts["duckdb"] == counts["pandas"] == len(table) - table["lat"].null_count


def test_nan_in_any_float_column_is_null_in_the_duckdb_view(tmp_path):
    """The view reads NaN as NULL even where the Parquet min/max statistics (which leave NaN out)
    let DuckDB fold a plain `isnan` or `nullif` away."""
    table = nan_for_null(base_table(), names=("lat", "lon"))
    table = with_column(table, "laplacian_var", pa.array([float("nan")] * len(table), pa.float64(),
                                                         from_pandas=False))
    ws = workspace(tmp_path / "ws", [table])
    catalog = Catalog(ws.catalog_path)
    with connect(tmp_path) as con:
        nan_rows, null_lat, kept_lat = con.execute(
            f"SELECT count(*) FILTER (WHERE isnan(lat) OR isnan(laplacian_var)), count(*) FILTER (WHERE lat IS NULL), "
            f"(SELECT count(*) FROM {catalog.source} WHERE lat IS NOT NULL) FROM {catalog.source}").fetchone()
    assert nan_rows == 0
    assert null_lat == len(table) - kept_lat == np.isnan(table["lat"].to_numpy()).sum()


# F2: a tz-aware taken_at is its UTC wall clock whatever the machine's time zone

TZ_SCRIPT = """
import json, sys
from pathlib import Path
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.workspace import Workspace
for engine, root in zip(("pandas", "duckdb"), sys.argv[1:]):
    run_filter(Workspace(Path(root)), FilterConfig(max_per_owner=5), engine=engine)
"""


@pytest.mark.parametrize("layout", some_slow(["file", "aware and naive parts"], fast=("aware and naive parts",)))
def test_tz_aware_taken_at_is_the_utc_wall_clock_in_tokyo(tmp_path, layout):
    """Under TZ=Asia/Tokyo the DuckDB filter wrote every date back 9 hours later (DuckDB read the
    column as TIMESTAMPTZ and converted it to the session's zone, the machine's)."""
    table = base_table()
    aware = with_column(table, "taken_at", pc.cast(table["taken_at"], pa.timestamp("us", tz="UTC")))
    parts = [aware] if layout == "file" else [table.slice(0, 100), aware.slice(100)]
    roots = [workspace(tmp_path / engine, parts).root for engine in ENGINES]
    env = {**CHILD_ENV, "TZ": "Asia/Tokyo"}
    subprocess.run([sys.executable, "-c", TZ_SCRIPT, *map(str, roots)], check=True, env=env, timeout=120)
    wall_clock = table["taken_at"].to_pandas()
    for root in roots:
        got = read_catalog(Workspace(root))["taken_at"]
        pd.testing.assert_series_equal(got, wall_clock, check_names=False, check_dtype=False)


# F3: a folder of parts: one rule for both engines


def test_an_undeclared_column_in_one_part_is_refused_alike_and_kept(tmp_path):
    """The DuckDB engine accepted it and dropped the column when it wrote the catalog back."""
    table = base_table()
    extra = table.slice(160).append_column("spark_partition", pa.array(np.zeros(80, np.int32)))
    ws = workspace(tmp_path / "ws", [table.slice(0, 160), extra])
    before = sorted(p.name for p in ws.catalog_path.iterdir())
    lines = refusals(ws)
    assert lines["duckdb"] == lines["pandas"]
    assert "does not know (spark_partition)" in lines["duckdb"] and "\n" not in lines["duckdb"]
    assert sorted(p.name for p in ws.catalog_path.iterdir()) == before
    assert "spark_partition" in pq.read_schema(ws.catalog_path / before[-1]).names


def test_parts_that_differ_only_in_encoding_read_as_one_file_on_both_engines(tmp_path):
    """A dictionary-encoded label, a large_string owner, a wider integer and a tz-aware date in one
    part (pandas refused: "Unable to merge"), NaN for null in another: read as the one file."""
    table = base_table()
    odd = table.slice(80, 80)
    odd = with_column(odd, "label", pc.dictionary_encode(odd["label"]))
    odd = with_column(odd, "owner_id", pc.cast(odd["owner_id"], pa.large_string()))
    odd = with_column(odd, "width", pc.cast(odd["width"], pa.int64()))
    odd = with_column(odd, "taken_at", pc.cast(odd["taken_at"], pa.timestamp("us", tz="UTC")))
    parts = [table.slice(0, 80), odd, nan_for_null(table.slice(160))]
    one_file = workspace(tmp_path / "one", [table])
    folder = workspace(tmp_path / "folder", parts)
    pd.testing.assert_frame_equal(read_catalog(folder), read_catalog(one_file))
    got = filtered_by_both(tmp_path / "filtered", parts)
    assert_engines_agree(got)
    assert_same_rows(filtered_by_both(tmp_path / "reference", [table])["pandas"], got["pandas"], FLAGS)


# F4: columns in the types other writers use


def test_binary_text_and_numbers_as_text_are_read_alike(tmp_path):
    """label and owner_id as BINARY (no UTF8 annotation), lat as text, width as float64, geo_accuracy
    as int64: the DuckDB engine died with BinderException / TypeError tracebacks on the first two."""
    table = base_table()
    table = with_column(table, "label", pc.cast(table["label"], pa.binary()))
    table = with_column(table, "owner_id", pc.cast(table["owner_id"], pa.binary()))
    table = with_column(table, "lat", pc.cast(table["lat"], pa.string()))
    table = with_column(table, "width", pc.cast(table["width"], pa.float64()))
    table = with_column(table, "geo_accuracy", pc.cast(table["geo_accuracy"], pa.int64()))
    got = filtered_by_both(tmp_path, [table])
    assert_engines_agree(got)
    assert got["duckdb"]["lat"].dtype == np.float64 and got["pandas"]["lat"].dtype == np.float64
    assert_same_rows(filtered_by_both(tmp_path / "reference", [base_table()])["pandas"], got["duckdb"], FLAGS)
    ws = workspace(tmp_path / "status", [table])
    summaries = [workspace_summary(ws, engine=engine) for engine in ENGINES]
    assert json.dumps(summaries[0]["labels"], default=str) == json.dumps(summaries[1]["labels"], default=str)


@pytest.mark.parametrize("change, words", [
    ("null tags", "catalog column 'tags' must not be null"),
    ("lat n/a", "does not match the schema"),
    ("label as integer", "does not match the schema"),
    ("no source column", "catalog has no 'source' column"),
    ("taken_at text with a zone", "does not match the schema"),  # review BC: DuckDB dropped the offset
    # review BG: DuckDB dropped a zone's name or an era, read 24:00 as the next day, trimmed tabs, read 1_000.5
    ("taken_at text 2020-01-01 10:00:00 Asia/Tokyo", "does not match the schema"),
    ("taken_at text 2020-01-01 10:00:00 BC", "does not match the schema"),
    ("taken_at text 2020-01-01 24:00:00", "does not match the schema"),
    ("lat text \t5.5", "does not match the schema"),
    ("lat text 1_000.5", "does not match the schema"),
    ("width as text 640.0", "does not match the schema"),  # review BC: DuckDB read 640, pyarrow refuses
    ("is_label_issue as text yes", "does not match the schema"),  # review BC: DuckDB read True
])
def test_what_conform_refuses_both_engines_refuse_up_front(tmp_path, change, words):
    """Null tags: the DuckDB engine ran the whole filter, then died with a ConstraintException
    traceback when it wrote the catalog; now it refuses when it opens the catalog, as pandas."""
    table = base_table(60)
    if change == "null tags":
        table = with_column(table, "tags", pa.array([None if i % 7 == 0 else v for i, v in
                                                     enumerate(table["tags"].to_pylist())], pa.list_(pa.string())))
    elif change == "lat n/a":
        text = pc.cast(table["lat"], pa.string()).to_pylist()
        table = with_column(table, "lat", pa.array(["n/a" if i == 3 else v for i, v in enumerate(text)]))
    elif change.startswith("taken_at text"):
        text = [None if v is None else str(v) for v in table["taken_at"].to_pylist()]
        odd = "2020-01-01 10:00:00+09:00" if change.endswith("with a zone") else change.removeprefix("taken_at text ")
        text[next(i for i, v in enumerate(text) if v)] = odd
        table = with_column(table, "taken_at", pa.array(text, pa.string()))
    elif change.startswith("lat text"):
        text = pc.cast(table["lat"], pa.string()).to_pylist()
        text[next(i for i, v in enumerate(text) if v)] = change.removeprefix("lat text ")
        table = with_column(table, "lat", pa.array(text, pa.string()))
    elif change == "width as text 640.0":
        table = with_column(table, "width", pa.array([f"{v}.0" if v is not None else None
                                                      for v in table["width"].to_pylist()], pa.string()))
    elif change == "is_label_issue as text yes":
        table = with_column(table, "is_label_issue", pa.array(["yes" if i % 3 == 0 else "false"
                                                               for i in range(len(table))], pa.string()))
    elif change == "label as integer":
        table = with_column(table, "label", pa.array(np.arange(len(table))))
    else:
        table = table.drop(["source"])
    ws = workspace(tmp_path / "ws", [table])
    stamp = ws.catalog_path.stat().st_mtime_ns
    lines = refusals(ws)
    for line in lines.values():
        assert words in line and "\n" not in line
    if change in ("null tags", "no source column"):
        assert lines["duckdb"] == lines["pandas"]
    with pytest.raises(DataContractError):
        Catalog(ws.catalog_path, checked=True)  # before any work
    assert ws.catalog_path.stat().st_mtime_ns == stamp and not (ws.reports_dir / "filter.json").exists()


@pytest.mark.parametrize("change", ["owner_id as BIGINT", "taken_at as DATE", "lat as DECIMAL"])
def test_one_part_in_a_type_pandas_refuses_is_refused_by_both_engines(tmp_path, change):
    """Review BC: DuckDB judged the type it unified across a folder's parts, so one part's owner_id as BIGINT
    (unified to text), taken_at as DATE or lat as DECIMAL was cast and accepted; pandas, part by part, refused.
    The odd part comes after two written alike (the view describes one part of each distinct schema)."""
    table = base_table(60)
    alike, second = [table.slice(0, 15), table.slice(15, 15)], table.slice(30)
    if change == "owner_id as BIGINT":
        second = with_column(second, "owner_id", pa.array(range(len(second)), pa.int64()))
    elif change == "taken_at as DATE":
        second = with_column(second, "taken_at", pc.cast(second["taken_at"], pa.date32()))
    else:
        second = with_column(second, "lat", pc.cast(second["lat"], pa.decimal128(12, 6)))
    ws = workspace(tmp_path / "ws", [*alike, second])
    lines = refusals(ws)
    assert all("\n" not in line for line in lines.values())
    assert "part-00002.parquet" in lines["duckdb"] and change.split()[0] in lines["duckdb"]


def test_bools_written_as_floats_and_nanosecond_times_read_alike(tmp_path):
    """Review BC: a pandas writer's booleans with NaN (float 1.0/0.0/NaN) were refused by DuckDB and read by
    pandas; nanosecond times were rounded to the microsecond by DuckDB and truncated by pandas."""
    table = base_table()
    flags = [1.0 if i % 3 == 0 else 0.0 if i % 3 == 1 else None for i in range(len(table))]
    table = with_column(table, "is_label_issue", pa.array([np.nan if v is None else v for v in flags], pa.float64()))
    times = pc.cast(table["taken_at"], pa.timestamp("ns"))
    late = pc.add(times, pa.scalar(999, pa.duration("ns")))  # .xxx999: rounding would move it a microsecond on
    table = with_column(table, "taken_at", late)
    got = filtered_by_both(tmp_path, [table])
    assert_engines_agree(got)
    for engine in ENGINES:
        frame = got[engine].set_index("photo_id").sort_index()
        assert frame["taken_at"].dropna().equals(
            got["pandas"].set_index("photo_id").sort_index()["taken_at"].dropna()), engine
        assert int(frame["is_label_issue"].sum()) == sum(1 for v in flags if v == 1.0), engine
        assert int(frame["is_label_issue"].isna().sum()) == sum(1 for v in flags if v is None), engine
    original = base_table().to_pandas().set_index("photo_id").sort_index()["taken_at"].dropna()
    duck = got["duckdb"].set_index("photo_id").sort_index()["taken_at"].dropna()
    assert (duck.loc[original.index] == original).all()  # truncated back to the written microsecond


@pytest.mark.parametrize("layout", ["file", "us and ns parts"])
def test_tz_aware_nanosecond_times_read_alike(tmp_path, layout):
    """Review BG: pandas writes a tz-aware time as timestamp[ns, tz] (DuckDB's TIMESTAMPTZ_NS), which DuckDB
    refused and pandas read. Both now read its UTC wall clock truncated toward zero, as pyarrow truncates:
    a time before 1970 with nanoseconds too (flooring would move it a microsecond back)."""
    table = base_table()
    times = pc.cast(table["taken_at"], pa.timestamp("ns"))
    early = pa.array([pd.Timestamp("1960-01-01 00:00:00.000000999")] * len(table), pa.timestamp("ns"))
    mixed = pc.if_else(pa.array([i % 4 == 0 for i in range(len(table))]), early,
                       pc.add(times, pa.scalar(999, pa.duration("ns"))))
    aware = with_column(table, "taken_at", pc.assume_timezone(mixed, "Asia/Tokyo"))
    parts = [aware] if layout == "file" else [table.slice(0, 100), aware.slice(100)]
    got = filtered_by_both(tmp_path, parts)
    assert_engines_agree(got)
    duck = got["duckdb"].set_index("photo_id").sort_index()["taken_at"]
    assert (duck == pd.Timestamp("1960-01-01 00:00:00.000001") - pd.Timedelta(hours=9)).sum() > 0


@pytest.mark.parametrize("change", ["taken_at as DATE, all null", "lat as DECIMAL, all null", "no rows, DATE"])
def test_a_part_whose_refused_type_holds_no_value_is_read_by_both(tmp_path, change):
    """Review BG: a part whose DATE or DECIMAL column is all null, or that has no rows, converts as pandas converts
    it (nothing to convert); the per-part check refused it. A value in such a part is still refused (above)."""
    table = base_table(60)
    first, second = table.slice(0, 30), table.slice(30)
    if change.startswith("taken_at"):
        second = with_column(second, "taken_at", pa.nulls(len(second), pa.date32()))
    elif change.startswith("lat"):
        second = with_column(second, "lat", pa.nulls(len(second), pa.decimal128(12, 6)))
    else:
        second = with_column(second.slice(0, 0), "taken_at", pa.array([], pa.date32()))
    got = filtered_by_both(tmp_path, [first, second])
    assert_engines_agree(got)
    assert len(got["duckdb"]) == (30 if change.startswith("no rows") else 60)


def test_a_file_whose_refused_type_holds_no_value_is_read_by_both(tmp_path):
    table = base_table(60)
    table = with_column(table, "lat", pa.nulls(len(table), pa.decimal128(12, 6)))
    got = filtered_by_both(tmp_path, [table])
    assert_engines_agree(got)
    assert got["duckdb"]["lat"].isna().all()


@pytest.mark.parametrize("column", some_slow(["width", "is_label_issue", "taken_at"], fast=("taken_at",)))
def test_a_typed_part_beside_a_text_part_is_read_in_its_own_type(tmp_path, column):
    """Review BG F5: DuckDB unified a float (or tz-aware) part and a text part of one column to text, rendered the
    first part's values as '640.0', '1.0', '2020-01-01 10:00:00+00', and the text rules refused them; pandas
    converts each part in its own type. Each part is now converted in its own."""
    table = base_table(60)
    first, second = table.slice(0, 30), table.slice(30)
    if column == "width":
        first = with_column(first, "width", pc.cast(first["width"], pa.float64()))
    elif column == "is_label_issue":
        first = with_column(first, "is_label_issue", pa.array([float(i % 2) for i in range(30)], pa.float64()))
        second = with_column(second, "is_label_issue", pa.array(["true" if i % 3 else "false" for i in range(30)]))
    else:
        first = with_column(first, "taken_at", pc.assume_timezone(first["taken_at"], "UTC"))
    if column != "is_label_issue":
        second = with_column(second, column, pa.array([None if v is None else str(v) for v in
                                                       second[column].to_pylist()], pa.string()))
    got = filtered_by_both(tmp_path, [first, second])
    assert_engines_agree(got)
    reference = filtered_by_both(tmp_path / "reference", [table])["pandas"]
    if column != "is_label_issue":
        assert got["duckdb"][column].equals(reference[column])


# M1: scratch folders of a killed command are removed by the next one, never one in use

HOLD_SCRIPT = """
import sys, time
from pathlib import Path
from curate.catalog_batches import scratch_folder
with scratch_folder(Path(sys.argv[1]), ".digest-") as folder:
    print(folder, flush=True)
    time.sleep(60)
"""


def test_a_killed_commands_scratch_folder_is_removed_once_no_process_holds_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env=CHILD_ENV)
    try:
        held = Path(holder.stdout.readline().strip())
        assert held.is_dir() and (held / SCRATCH_LOCK).exists()
        assert remove_stale_scratch(tmp_path, ".digest-", grace_s=0) == []  # a live process works in it
        assert held.is_dir()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert held.is_dir()  # SIGKILL: no `finally` ran
    old = time.time() - 3600
    legacy = tmp_path / ".digest-legacy"  # left by a curate from before the lock file
    legacy.mkdir()
    os.utime(legacy, (old, old))
    young = tmp_path / ".digest-young"  # just created by a command that has not locked it yet
    young.mkdir()
    with scratch_folder(tmp_path, ".digest-") as mine:  # the next command, at once
        assert not held.exists() and not legacy.exists()
        assert young.is_dir() and mine.is_dir()
        assert remove_stale_scratch(tmp_path, ".digest-", grace_s=0) == [young]  # mine is locked
    assert not mine.exists()
    (tmp_path / ".duckdb-killed").mkdir()
    (tmp_path / ".duckdb-killed" / SCRATCH_LOCK).touch()  # its lock died with its process
    with connect(tmp_path):  # the DuckDB engine's scratch folder follows the same rule
        assert not (tmp_path / ".duckdb-killed").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".duckdb-")]
