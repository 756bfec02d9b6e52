"""The ingest engine: resume without refetching, keep rows, record failures."""

import threading

import pandas as pd
import pytest

from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import FetchError, IngestJob
from curate.ingest.engine_journal import Journal, append_json_lines, read_json_lines
from curate.workspace import Workspace, read_catalog
from tests.helpers import jpeg_bytes


def records(n: int) -> pd.DataFrame:
    return pd.DataFrame({"source_id": [str(i) for i in range(n)], "owner_id": [f"o{i % 3}" for i in range(n)],
                         "tags": ["chicago skyline"] * n})


class CountingFetch:
    """Distinct JPEG per record; optionally raises KeyboardInterrupt (a kill) after `die_after` calls."""

    def __init__(self, die_after: int | None = None, failures: dict | None = None):
        self.calls: list[str] = []
        self.die_after = die_after
        self.failures = failures or {}
        self.lock = threading.Lock()

    def __call__(self, record: dict) -> bytes:
        with self.lock:
            self.calls.append(record["photo_id"])
            if self.die_after is not None and len(self.calls) > self.die_after:
                raise KeyboardInterrupt("killed")
        if record["source_id"] in self.failures:
            raise FetchError(self.failures[record["source_id"]], "HTTP 503")
        index = int(record["source_id"])
        return jpeg_bytes(color=(index % 256, (index * 7) % 256, 90))


def test_interrupted_run_resumes_without_refetching(tmp_path):
    ws = Workspace(tmp_path)
    first = CountingFetch(die_after=12)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(ws, IngestJob("t", records(30), first, workers=1, checkpoint_seconds=0))
    done_before = set(first.calls[:12])
    assert Journal(ws, "t").path.exists()

    second = CountingFetch()
    report = run_ingest(ws, IngestJob("t", records(30), second, workers=3))
    assert not set(second.calls) & done_before, "a finished photo was fetched again"
    catalog = read_catalog(ws)
    assert len(catalog) == 30 and catalog["photo_id"].is_unique
    assert catalog["sha256"].notna().all() and (catalog["status"] == "kept").all()
    assert report.stored == 30
    assert not Journal(ws, "t").path.exists()


def test_a_rerun_clears_the_temp_files_of_image_writes_a_kill_cut_short(tmp_path):
    ws = Workspace(tmp_path)
    run_ingest(ws, IngestJob("t", records(4), CountingFetch(), workers=1))
    stored = sorted(ws.images_dir.rglob("*.jpg"))
    torn = stored[0].parent / f".{stored[0].name}.x1y2.tmp"  # as atomic_write_bytes names them
    torn.write_bytes(b"half an image")
    run_ingest(ws, IngestJob("t", records(4), CountingFetch(), workers=1))
    assert not torn.exists() and sorted(ws.images_dir.rglob("*.jpg")) == stored


def test_second_run_fetches_nothing_and_changes_nothing(tmp_path):
    ws = Workspace(tmp_path)
    run_ingest(ws, IngestJob("t", records(8), CountingFetch(), workers=2))
    before = read_catalog(ws)
    again = CountingFetch()
    run_ingest(ws, IngestJob("t", records(8), again, workers=2))
    assert again.calls == []
    pd.testing.assert_frame_equal(read_catalog(ws), before)


def test_failures_become_rows_and_only_retryable_ones_are_retried(tmp_path):
    ws = Workspace(tmp_path)
    fetch = CountingFetch(failures={"1": "http_5xx", "2": "http_404"})
    run_ingest(ws, IngestJob("t", records(4), fetch, retry_reasons=frozenset({"http_5xx"})))
    catalog = read_catalog(ws).set_index("photo_id")
    assert catalog.loc["t:1", "drop_reason"] == "http_5xx" and catalog.loc["t:1", "status"] == "dropped"
    assert catalog.loc["t:2", "drop_stage"] == "ingest" and catalog.loc["t:2", "error_detail"] == "HTTP 503"

    healed = CountingFetch(failures={"2": "http_404"})
    run_ingest(ws, IngestJob("t", records(4), healed, retry_reasons=frozenset({"http_5xx"})))
    assert healed.calls == ["t:1"]
    catalog = read_catalog(ws).set_index("photo_id")
    assert catalog.loc["t:1", "status"] == "kept" and pd.isna(catalog.loc["t:1", "drop_reason"])
    assert catalog.loc["t:2", "drop_reason"] == "http_404"
    assert catalog.index.tolist() == ["t:0", "t:1", "t:2", "t:3"]  # the retried row kept its place


def test_bug_in_one_fetch_does_not_sink_the_run(tmp_path):
    def flaky(record):
        if record["source_id"] == "3":
            raise ValueError("boom")
        return jpeg_bytes()

    run_ingest(Workspace(tmp_path), IngestJob("t", records(5), flaky))
    catalog = read_catalog(Workspace(tmp_path)).set_index("photo_id")
    assert catalog.loc["t:3", "drop_reason"] == "ingest_error"
    assert "boom" in catalog.loc["t:3", "error_detail"]
    assert (catalog.drop(index="t:3")["status"] == "kept").all()


def test_torn_journal_line_is_ignored(tmp_path):
    ws = Workspace(tmp_path)
    journal = Journal(ws, "t")
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text('{"photo_id": "t:0", "drop_reason": "http_404"}\n{"photo_id": "t:1", '
                            '"sha2', encoding="utf-8")
    fetch = CountingFetch()
    run_ingest(ws, IngestJob("t", records(3), fetch))
    assert sorted(fetch.calls) == ["t:1", "t:2"]
    assert read_catalog(ws).set_index("photo_id").loc["t:0", "drop_reason"] == "http_404"



# -- the JSON-lines helpers behind the journal and the listing logs --------------------------

def test_json_lines_skip_a_torn_last_line_and_keep_it_apart_from_the_next_append(tmp_path):
    path = tmp_path / "journal" / "log.jsonl"
    assert read_json_lines(path) == [], "a missing log has no lines"
    append_json_lines(path, [{"id": 1}, {"id": "ü"}])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": 3, "na')  # killed mid-line
    assert read_json_lines(path) == [{"id": 1}, {"id": "ü"}]
    append_json_lines(path, [{"id": 4}])  # the next run carries on after the torn line
    assert read_json_lines(path) == [{"id": 1}, {"id": "ü"}, {"id": 4}]


def test_json_lines_resume_from_the_committed_size_after_an_interruption(tmp_path):
    path = tmp_path / "log.jsonl"
    committed = append_json_lines(path, [{"batch": 1}, {"batch": 1}])
    assert committed == path.stat().st_size
    append_json_lines(path, [{"batch": 2}])  # a batch whose commit never got saved
    with path.open("r+b") as handle:
        handle.truncate(committed)  # what a resuming reader does with the committed size
    assert read_json_lines(path) == [{"batch": 1}, {"batch": 1}]
    assert append_json_lines(path, [{"batch": 2}]) == path.stat().st_size > committed
    assert read_json_lines(path) == [{"batch": 1}, {"batch": 1}, {"batch": 2}]


def test_metadata_only_rows(tmp_path):
    report = run_ingest(Workspace(tmp_path), IngestJob("t", records(5), None))
    catalog = read_catalog(Workspace(tmp_path))
    assert len(catalog) == 5 and catalog["sha256"].isna().all() and (catalog["status"] == "kept").all()
    assert report.stored == 0


def test_later_stage_flags_survive_a_re_ingest(tmp_path):
    from curate.workspace import write_catalog

    ws = Workspace(tmp_path)
    run_ingest(ws, IngestJob("t", records(3), CountingFetch()))
    catalog = read_catalog(ws)
    catalog.loc[0, ["status", "drop_reason", "drop_stage"]] = ["dropped", "geo_outlier", "filter"]
    write_catalog(ws, catalog)
    run_ingest(ws, IngestJob("t", records(4), CountingFetch()))
    after = read_catalog(ws).set_index("photo_id")
    assert after.loc["t:0", "drop_reason"] == "geo_outlier" and len(after) == 4


# -- re-ingest: metadata of rows already in the catalog is updated, images never fetched again --

def test_a_re_ingest_updates_changed_metadata_in_place_without_fetching(tmp_path):
    from curate.workspace import write_catalog

    ws = Workspace(tmp_path)
    first = records(4).assign(lat=["1.5", "", "2.5", ""], lon=["3.5", "", "4.5", ""])
    run_ingest(ws, IngestJob("t", first, CountingFetch()))
    catalog = read_catalog(ws)
    catalog.loc[1, ["status", "drop_reason", "drop_stage", "split"]] = ["dropped", "geo_outlier", "filter", None]
    catalog.loc[2, ["split", "geo_distance_km"]] = ["train", 12.5]
    write_catalog(ws, catalog)
    before = read_catalog(ws).set_index("photo_id")
    edited = first.copy()
    edited.loc[1, "owner_id"] = "someone else"
    edited.loc[2, ["tags", "lat"]] = ["tokyo, night", "-7.25"]
    again = CountingFetch()
    report = run_ingest(ws, IngestJob("t", edited, again))
    assert again.calls == [], "a photo already in the catalog was fetched again"
    assert report.metadata_updated == 2 and report.already_done == 4
    assert report.changed_columns == {"owner_id": 1, "tags": 1, "lat": 1}
    after = read_catalog(ws).set_index("photo_id")
    assert after.loc["t:1", "owner_id"] == "someone else"
    assert list(after.loc["t:2", "tags"]) == ["tokyo", "night"] and after.loc["t:2", "lat"] == -7.25
    untouched = ["sha256", "image_path", "width", "height", "status", "drop_reason", "drop_stage", "split",
                 "geo_distance_km"]
    pd.testing.assert_frame_equal(after[untouched], before[untouched])
    unchanged_rows = ["t:0", "t:3"]
    pd.testing.assert_frame_equal(after.loc[unchanged_rows], before.loc[unchanged_rows])


def test_metadata_compare_treats_equal_values_of_every_type_as_unchanged(tmp_path):
    ws = Workspace(tmp_path)
    full = records(3).assign(lat=["1", "", "x"], lon=["2", "", "y"], taken_at=["2015-06-01 10:00", "", "soon"],
                             geo_accuracy=["16", "", "3"], title=[None, "", " t "], license=["4", None, "cc-by"])
    run_ingest(ws, IngestJob("t", full, CountingFetch()))
    report = run_ingest(ws, IngestJob("t", full, CountingFetch()))
    assert report.metadata_updated == 0 and report.changed_columns == {}
    # ... and a value that becomes empty is a change (to null), not "nothing given"
    report = run_ingest(ws, IngestJob("t", full.assign(taken_at=""), CountingFetch()))
    assert report.changed_columns == {"taken_at": 1}
    assert read_catalog(ws)["taken_at"].isna().all()


def test_a_row_dropped_before_it_had_an_image_is_fetched_again_when_its_metadata_changed(tmp_path):
    ws = Workspace(tmp_path)
    fetch = CountingFetch(failures={"1": "http_404", "2": "http_404"})
    run_ingest(ws, IngestJob("t", records(3), fetch))
    corrected = records(3)
    corrected.loc[1, "tags"] = "fixed link"
    again = CountingFetch()
    report = run_ingest(ws, IngestJob("t", corrected, again))
    assert again.calls == ["t:1"], "only the dropped photo whose metadata changed is tried again"
    catalog = read_catalog(ws).set_index("photo_id")
    assert catalog.loc["t:1", "status"] == "kept" and catalog.loc["t:1", "sha256"]
    assert catalog.loc["t:2", "drop_reason"] == "http_404"
    assert report.metadata_updated == 0  # the retried row was replaced, not updated in place


def test_an_interrupted_re_ingest_resumes_and_still_updates_metadata(tmp_path):
    ws = Workspace(tmp_path)
    run_ingest(ws, IngestJob("t", records(6), CountingFetch()))
    images = sorted(ws.images_dir.rglob("*.jpg"))
    grown = records(16).assign(tags="tokyo skyline")  # 6 old rows with new tags, 10 new rows
    first = CountingFetch(die_after=4)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(ws, IngestJob("t", grown, first, workers=1, checkpoint_seconds=0))
    second = CountingFetch()
    report = run_ingest(ws, IngestJob("t", grown, second, workers=2))
    old_ids = {f"t:{i}" for i in range(6)}
    assert not (set(first.calls) | set(second.calls)) & old_ids, "an image already stored was fetched again"
    assert not set(second.calls) & set(first.calls[:4]), "a journaled photo was fetched again"
    catalog = read_catalog(ws)
    assert len(catalog) == 16 and catalog["sha256"].notna().all()
    assert all(list(tags) == ["tokyo", "skyline"] for tags in catalog["tags"])
    assert report.already_done >= 6  # plus what the killed run's checkpoints wrote
    assert set(images) <= set(ws.images_dir.rglob("*.jpg"))
