"""Freshness and leakage judged from the catalog file in batches (curate.catalog_batches) give
exactly what the in-memory versions give: the fingerprints byte for byte (the freshness of
existing workspaces must not change), the stage states, and the leaks.

The oracle for the fingerprints is the in-memory code as it stood before batches existed,
copied verbatim below, so a change to the shared code that moved a fingerprint fails here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate import schema
from curate.catalog_batches import CatalogFile
from curate.errors import DataContractError
from curate.fingerprints import _OWN_COLUMNS, INPUTS, PIPELINE, input_fingerprint, kept_before, output_fingerprint
from curate.leakage import find_leakage
from curate.records import undo_prefilter_repairs
from curate.review.apply import before_review
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import examples


# --- the in-memory fingerprints as they were (oracle) ---------------------------------------------
def legacy_fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256(str(len(frame)).encode())
    for name in frame.columns:
        values = frame[name]
        column = schema.COLUMN_BY_NAME.get(name)
        if column is not None and pa.types.is_list(column.type):
            values = values.map(lambda cell: "\x00" if cell is None else "\x1f".join(map(str, cell)))
        digest.update(name.encode() + b"\x00")
        digest.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def legacy_input_fingerprint(catalog: pd.DataFrame, stage: str, extra: tuple[str, ...] = ()) -> str:
    if stage != "split":
        catalog = before_review(catalog)
    if stage != "split":
        catalog = undo_prefilter_repairs(catalog)
    rows = kept_before(catalog, stage)
    if stage == "embed":
        rows &= catalog["image_path"].notna()
    columns = [schema.PHOTO_ID, *dict.fromkeys(c for c in (*INPUTS[stage], *extra) if c != schema.PHOTO_ID)]
    return legacy_fingerprint(catalog.loc[rows, columns].sort_values(schema.PHOTO_ID, kind="stable"))


def legacy_output_fingerprint(catalog: pd.DataFrame, stage: str, cache_key: str | None = None) -> str:
    if stage == "embed":
        return hashlib.sha256(f"{cache_key}:{legacy_input_fingerprint(catalog, stage)}".encode()).hexdigest()[:16]
    catalog = before_review(catalog)
    if stage in ("ingest", "filter"):
        catalog = undo_prefilter_repairs(catalog)
    frame = catalog[[schema.PHOTO_ID, *(c for c in _OWN_COLUMNS[stage] if c != schema.PHOTO_ID)]].copy()
    frame["own_drop"] = catalog["drop_reason"].where(catalog["drop_stage"] == stage)
    return legacy_fingerprint(frame.sort_values(schema.PHOTO_ID, kind="stable"))


# --- generated catalogs --------------------------------------------------------------------------
WORDS = ["a", "b", "Zed", "été", "a b", "x|y", "=1+1"]
maybe = st.one_of(st.none(), st.sampled_from(WORDS))


@st.composite
def catalogs(draw) -> pd.DataFrame:
    """Catalogs with every column the stages' fingerprints and the leakage check read, in any
    combination of drops, repairs, reviews and splits (unicode ids, nulls, empty lists)."""
    ids = draw(st.lists(st.text(alphabet="ab:é1Z_", min_size=1, max_size=6), unique=True, min_size=1, max_size=14))
    n = len(ids)
    col = lambda strategy: draw(st.lists(strategy, min_size=n, max_size=n))  # noqa: E731
    stage = col(st.sampled_from([None, None, "ingest", "filter", "prefilter", "review"]))
    return pd.DataFrame({
        "photo_id": ids, "source": "folder", "source_id": ids,
        "owner_id": col(st.sampled_from([None, "o1", "o2", "o3"])), "owner_name": col(maybe), "title": col(maybe),
        "tags": col(st.lists(st.sampled_from(WORDS), max_size=3)), "label": col(maybe),
        "tag_labels": col(st.lists(st.sampled_from(WORDS), max_size=2)),
        "lat": col(st.one_of(st.none(), st.floats(-90, 90))), "lon": col(st.one_of(st.none(), st.floats(-180, 180))),
        "width": pd.array(col(st.one_of(st.none(), st.integers(1, 5000))), dtype="Int32"),
        "sha256": col(st.sampled_from([None, "h1", "h2", "h3", "h4"])),
        "image_path": col(st.sampled_from([None, "images/ab/1.jpg", "images/cd/2.png"])),
        "status": ["kept" if s is None else "dropped" for s in stage], "drop_stage": stage,
        "drop_reason": [None if s is None else f"{s}_reason" for s in stage],
        "near_dup_cluster": col(st.sampled_from([None, "c1", "c2"])), "exact_dup_group": col(maybe),
        "quality_issues": col(st.one_of(st.none(), st.lists(st.sampled_from(WORDS), max_size=2))),
        "topic_score": col(st.one_of(st.none(), st.floats(0, 1))),
        "geo_rescued": col(st.sampled_from([None, True, False])), "original_label": col(maybe),
        "split": col(st.sampled_from([None, "train", "val", "test"])),
        "review_status": col(st.sampled_from([None, None, None, "kept", "dropped"])), "review_label": col(maybe),
        "label_before_review": col(maybe), "review_overrode_stage": col(st.sampled_from([None, None, "filter"])),
        "review_overrode_reason": col(st.sampled_from([None, "near_duplicate"])),
    })


def written(catalog: pd.DataFrame, root: Path) -> Workspace:
    ws = Workspace(root)
    ws.root.mkdir(parents=True, exist_ok=True)
    write_catalog(ws, catalog)
    return ws


@settings(max_examples=examples(6), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalog=catalogs(), batch_rows=st.integers(2, 6))
def test_streamed_fingerprints_equal_the_in_memory_ones(catalog, batch_rows, tmp_path_factory):
    ws = written(catalog, tmp_path_factory.mktemp("fp"))
    whole = read_catalog(ws)
    batches = CatalogFile(ws.catalog_path, batch_rows=batch_rows)
    for stage in PIPELINE[1:]:
        extra = ("lat",) if stage == "split" else ()
        assert input_fingerprint(batches, stage, extra) == legacy_input_fingerprint(whole, stage, extra), stage
        assert input_fingerprint(whole, stage, extra) == legacy_input_fingerprint(whole, stage, extra), stage
    for stage in PIPELINE:
        want = legacy_output_fingerprint(whole, stage, "key")
        assert output_fingerprint(batches, stage, "key") == want == output_fingerprint(whole, stage, "key"), stage


@settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalog=catalogs(), batch_rows=st.integers(2, 6), by=st.sampled_from([None, "label", "width"]))
def test_streamed_leakage_equals_the_in_memory_check(catalog, batch_rows, by, tmp_path_factory):
    ws = written(catalog, tmp_path_factory.mktemp("leak"))
    whole = read_catalog(ws)
    streamed = find_leakage(CatalogFile(ws.catalog_path, batch_rows=batch_rows), by)
    pd.testing.assert_frame_equal(streamed.reset_index(drop=True), find_leakage(whole, by).reset_index(drop=True))


def test_a_leak_is_found_across_batches(tmp_path):
    """Two photos of one owner in different splits, in different batches, with clean rows between."""
    n = 50
    catalog = pd.DataFrame({"photo_id": [f"p{i:03d}" for i in range(n)], "source": "folder",
                            "source_id": [str(i) for i in range(n)], "owner_id": [f"o{i}" for i in range(n)],
                            "sha256": [f"h{i}" for i in range(n)], "status": "kept", "split": "train"})
    catalog.loc[49, ["owner_id", "split"]] = ["o0", "test"]
    ws = written(catalog, tmp_path / "ws")
    leaks = find_leakage(CatalogFile(ws.catalog_path, batch_rows=8))
    assert leaks[["kind", "key", "splits", "photos"]].values.tolist() == [["owner", "o0", "test,train", 2]]


def test_batches_give_read_catalog_dtypes_and_fill_missing_columns(tmp_path):
    """An older catalog file without some columns reads as read_catalog reads it."""
    ws = written(pd.DataFrame({"photo_id": ["b", "a"], "source": "s", "source_id": ["1", "2"], "status": "kept",
                               "width": pd.array([3, None], dtype="Int32")}), tmp_path / "ws")
    table = pa.parquet.read_table(ws.catalog_path).drop_columns(["quality_issues", "split"])
    pa.parquet.write_table(table, ws.catalog_path)
    whole = read_catalog(ws)
    names = ["photo_id", "width", "quality_issues", "split", "tags"]
    got = CatalogFile(ws.catalog_path, batch_rows=1).read(names)
    pd.testing.assert_frame_equal(got, whole[names])
    assert [list(cell) for cell in got["quality_issues"]] == [[], []]


def test_an_empty_catalog_gives_one_empty_batch_and_the_empty_fingerprint(tmp_path):
    ws = written(schema.empty_catalog(), tmp_path / "ws")
    batches = CatalogFile(ws.catalog_path)
    assert batches.empty and [len(frame) for frame in batches.batches(["photo_id"])] == [0]
    assert output_fingerprint(batches, "ingest") == legacy_output_fingerprint(read_catalog(ws), "ingest")


def test_an_unreadable_catalog_file_is_a_data_contract_error(tmp_path):
    from curate.errors import DataContractError

    path = tmp_path / "catalog.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(DataContractError, match="unreadable"):
        CatalogFile(path)


@pytest.mark.slow
def test_workspace_states_are_the_same_from_batches(tmp_path):
    """A real pipeline workspace (ingest, filter, split; then a hand edit makes the split stale)."""
    from helpers import demo_workspace

    from curate.freshness_workspace import workspace_states

    ws = demo_workspace(tmp_path / "ws", photos=60, seed=3)
    states = []
    for _ in range(2):
        whole = {k: v.to_dict() for k, v in workspace_states(ws).items()}
        streamed = {k: v.to_dict() for k, v in workspace_states(ws, CatalogFile(ws.catalog_path, 7)).items()}
        assert streamed == whole
        states.append(whole["split"]["state"])
        catalog = read_catalog(ws)
        catalog.loc[catalog["status"] == "kept", "owner_id"] = np.where(
            np.arange(int((catalog["status"] == "kept").sum())) % 2, "someone", "else")
        write_catalog(ws, catalog)
    assert states == ["fresh", "stale"]


def test_read_with_arrow_lists_holds_the_same_tags_in_an_arrow_column(tmp_path):
    ws = written(pd.DataFrame({"photo_id": ["a", "b", "c"], "source": "s", "source_id": ["1", "2", "3"],
                               "status": "kept", "tags": [["x", "été"], [], ["y"]]}), tmp_path / "ws")
    got = CatalogFile(ws.catalog_path, batch_rows=2).read(["photo_id", "tags"], arrow_lists=True)
    assert isinstance(got["tags"].dtype, pd.ArrowDtype)
    assert got["tags"].tolist() == [list(cell) for cell in read_catalog(ws)["tags"]] == [["x", "été"], [], ["y"]]


def test_export_refuses_a_catalog_with_repeated_photo_ids(tmp_path):
    """read_catalog refused it; judged in batches the export must refuse it too (exit 3)."""
    from curate.errors import DataContractError
    from curate.export import ExportConfig, export_workspace

    ws = written(pd.DataFrame({"photo_id": ["a", "b"], "source": "s", "source_id": ["1", "2"], "status": "kept",
                               "split": ["train", "test"], "label": "x"}), tmp_path / "ws")
    table = pa.parquet.read_table(ws.catalog_path)
    pa.parquet.write_table(table.set_column(0, "photo_id", pa.array(["a", "a"])), ws.catalog_path)
    with pytest.raises(DataContractError, match="repeated photo_id"):
        CatalogFile(ws.catalog_path).validate_keys()
    with pytest.raises(DataContractError, match="repeated photo_id"):
        export_workspace(ws, tmp_path / "out", ExportConfig("imagefolder"))


def test_ids_whose_hashes_meet_are_compared_exactly(tmp_path, monkeypatch):
    """A 64-bit hash collision between two different ids is not a repeat; a real repeat is."""
    ws = written(pd.DataFrame({"photo_id": ["a", "b", "c"], "source": "s", "source_id": ["1", "2", "3"],
                               "status": "kept", "split": ["train", "test", "val"], "label": "x"}), tmp_path / "ws")
    monkeypatch.setattr("curate.catalog_batches.pd.util.hash_array", lambda values: np.zeros(len(values), np.uint64))
    CatalogFile(ws.catalog_path, batch_rows=2).validate_keys()  # every hash meets; the ids differ
    table = pa.parquet.read_table(ws.catalog_path)
    pa.parquet.write_table(table.set_column(0, "photo_id", pa.array(["a", "b", "a"])), ws.catalog_path)
    with pytest.raises(DataContractError, match="repeated photo_id"):
        CatalogFile(ws.catalog_path, batch_rows=2).validate_keys()


@settings(max_examples=examples(5), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalog=catalogs(), batch_rows=st.integers(2, 6))
def test_fingerprints_sorted_on_disk_equal_the_in_memory_ones(catalog, batch_rows, tmp_path_factory):
    """`sorted_digest_bounded` past its threshold (a DuckDB sort of a spill file) gives the same bytes."""
    ws = written(catalog, tmp_path_factory.mktemp("fp-disk"))
    whole = read_catalog(ws)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("curate.catalog_batches.EXTERNAL_DIGEST_ROWS", 0)
        batches = CatalogFile(ws.catalog_path, batch_rows=batch_rows)
        for stage in ("filter", "split"):
            extra = ("lat",) if stage == "split" else ()
            assert input_fingerprint(batches, stage, extra) == legacy_input_fingerprint(whole, stage, extra), stage
        for stage in ("ingest", "split", "embed"):
            assert output_fingerprint(batches, stage, "key") == legacy_output_fingerprint(whole, stage, "key"), stage
    assert not [p for p in ws.root.iterdir() if p.name.startswith(".digest-")]  # the spill folder is gone


def test_an_empty_catalog_sorted_on_disk_gives_the_empty_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setattr("curate.catalog_batches.EXTERNAL_DIGEST_ROWS", 0)
    ws = written(schema.empty_catalog(), tmp_path / "ws")
    assert output_fingerprint(CatalogFile(ws.catalog_path), "ingest") == \
        legacy_output_fingerprint(read_catalog(ws), "ingest")
