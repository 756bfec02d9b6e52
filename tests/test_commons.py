"""`curate ingest commons` against a fake MediaWiki API on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import _thread
import doctest
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.errors import UpstreamError, UsageError
from curate.ingest.commons import CommonsOptions, CommonsQuery, ingest_commons, pages
from curate.ingest.commons.cursor import ListingCursor
from curate.ingest.http import DownloadConfig
from curate.workspace import Workspace, read_catalog
from tests.fake_commons import FakeCommons, api_error, fixture, fixture_pages, maxlag_error
from tests.httpfixtures import Response, json_response

REPO = Path(__file__).resolve().parents[1]
CHICAGO = "Skylines of Chicago"
CHICAGO_CENTRE = (41.8827, -87.6233)
PAGES = {page["pageid"]: page for page in fixture_pages()}


def members(category: str) -> set[str]:
    """Page ids (as source ids) of the fixture files in `category`, read from the fixture itself."""
    return {str(pid) for pid, page in PAGES.items()
            if any(c["title"] == f"Category:{category}" for c in page["categories"])}


def mime_of(pageid: str) -> str | None:
    return PAGES[int(pageid)]["imageinfo"][0].get("mime")


PHOTO_MIMES = {"image/jpeg", "image/png", "image/tiff"}
CHICAGO_PHOTOS = {pid for pid in members(CHICAGO) if mime_of(pid) in PHOTO_MIMES}
CHICAGO_OTHERS = {pid for pid in members(CHICAGO) if mime_of(pid) not in PHOTO_MIMES and mime_of(pid)}
CHICAGO_BROKEN = members(CHICAGO) - CHICAGO_PHOTOS - CHICAGO_OTHERS


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")


@pytest.fixture
def fake():
    with FakeCommons(max_limit=3, thumbs_per_answer=2) as running:  # several batches, split props
        yield running


def options(fake: FakeCommons, **query) -> CommonsOptions:
    """Tiny backoffs so failure paths take fractions of a second."""
    settings = dict(api_retries=query.pop("api_retries", 3), api_timeout_s=query.pop("api_timeout_s", 5.0))
    query = {"category": CHICAGO, **query} if "near" not in query else query
    download = DownloadConfig(workers=2, per_host=2, connect_timeout_s=2.0, read_timeout_s=5.0, retries=1,
                              backoff_base_s=0.01)
    return CommonsOptions(CommonsQuery(**query), endpoint=fake.endpoint, download=download, api_backoff_s=0.01,
                          api_retry_after_cap_s=0.05, checkpoint_seconds=0.5, **settings)


def by_source_id(ws: Workspace):
    return read_catalog(ws).set_index("source_id")


# -- parsing (pure) ------------------------------------------------------------------------------

def test_doctests_of_the_parsing_module():
    assert doctest.testmod(pages).failed == 0


def test_a_file_page_becomes_a_record_with_attribution():
    page = PAGES[48213001]
    record = pages.page_record(page)
    assert record["source_id"] == "48213001" and record["title"] == "Chicago skyline at dusk"
    assert record["owner_id"] == "Skyliner" and "<" not in record["owner_name"]
    assert record["license"] == "CC BY-SA 4.0"
    assert (record["lat"], record["lon"]) == (41.8881, -87.6164)
    assert record["taken_at"] == "2015-08-09T18:41:23"
    assert record["url"] == page["imageinfo"][0]["thumburl"] and record["drop_reason"] is None
    assert "CC-BY-SA-4.0" not in record["tags"] and "Skylines of Chicago" in record["tags"]


def test_unknown_author_falls_back_to_the_uploader_and_coordinates_to_the_page():
    page = PAGES[48213002]
    assert "Unknown author" in page["imageinfo"][0]["extmetadata"]["Artist"]["value"]
    record = pages.page_record(page)
    assert record["owner_id"] == page["imageinfo"][0]["user"]
    assert (record["lat"], record["lon"]) == (page["coordinates"][0]["lat"], page["coordinates"][0]["lon"])
    assert record["taken_at"] == "2012-06-01T00:00:00"  # from <time datetime=...>


@pytest.mark.parametrize("text, expected", [
    ("2018:03:04 10:11:12", "2018-03-04T10:11:12"),  # EXIF style
    ("2021-07-04 21:30", "2021-07-04T21:30:00"),
    ("circa 1990s", None), ("2009", None), ("2015-02-30", None), ("", None), ("1200-01-01", None),
    ("{{Taken on|2015-08-09}} <b>x</b>", "2015-08-09T00:00:00"),
])
def test_junk_dates_become_null(text, expected):
    assert pages.commons_taken_at(text) == expected


def test_non_photos_and_malformed_pages_are_rows_dropped_with_a_reason():
    reasons = {pid: pages.page_record(PAGES[int(pid)])["drop_reason"] for pid in members(CHICAGO)}
    assert {pid for pid, r in reasons.items() if r is None} == CHICAGO_PHOTOS
    assert {pid for pid, r in reasons.items() if r == pages.DROP_NOT_A_PHOTO} == CHICAGO_OTHERS
    assert {pid for pid, r in reasons.items() if r == pages.DROP_MALFORMED} == CHICAGO_BROKEN != set()


def test_a_batch_merges_partial_pages_and_counts_what_it_cannot_name():
    full = PAGES[48213001]
    bare = {key: value for key, value in full.items() if key not in ("imageinfo", "categories")}
    batch = pages.merge_pages({}, [bare, "junk", {"ns": 6}])
    batch = pages.merge_pages(batch, [full, {"title": "File:Gone.jpg", "missing": True}])
    records, skipped = pages.batch_records(batch)
    assert [r["source_id"] for r in records] == ["48213001"] and records[0]["drop_reason"] is None
    assert records[0]["tags"] == pages.page_record(full)["tags"]
    assert skipped == Counter({pages.SKIP_MALFORMED: 2, pages.SKIP_MISSING: 1})


@pytest.mark.parametrize("query, says", [
    ({}, "exactly one of"),
    ({"category": CHICAGO, "near": CHICAGO_CENTRE}, "exactly one of"),
    ({"near": CHICAGO_CENTRE, "radius_m": 20_000}, "10000"),
    ({"near": (91.0, 0.0)}, "latitude"),
    ({"category": "Skylines [of] Chicago"}, "not a Commons category"),
    ({"category": CHICAGO, "max_photos": 0}, "--max-photos"),
    ({"category": CHICAGO, "thumb_width": 5}, "--thumb-width"),
])
def test_bad_queries_are_usage_errors(query, says):
    with pytest.raises(UsageError, match=says):
        CommonsQuery(**query)


# -- listing and downloading against the fake API ------------------------------------------------

def test_category_paging_follows_continue_tokens_politely(fake, tmp_path):
    ws = Workspace(tmp_path / "ws")
    report = ingest_commons(ws, options(fake, thumb_width=640, label="chicago", tags=("skyline",)))
    catalog = by_source_id(ws)
    assert set(catalog.index) == members(CHICAGO) and catalog["photo_id"].is_unique
    kept = catalog[catalog["status"] == "kept"]
    assert set(kept.index) == CHICAGO_PHOTOS and kept["sha256"].notna().all() and kept["sha256"].is_unique
    assert (catalog["label"] == "chicago").all()
    assert all("skyline" in tags and "skylines of chicago" in tags for tags in catalog["tags"])
    assert report.stored == len(CHICAGO_PHOTOS) and report.listed == len(members(CHICAGO))
    # continue tokens: several generator batches, some split by iicontinue, each file listed once
    queries = [{k: v[-1] for k, v in hit.request.query.items()} for hit in fake.api_hits()]
    assert sum("gcmcontinue" in q and "iicontinue" not in q for q in queries) >= 2
    assert any("iicontinue" in q for q in queries)
    assert report.api_requests == len(queries)
    assert all(q["maxlag"] == "5" and q["formatversion"] == "2" and q["gcmnamespace"] == "6" for q in queries)
    assert all(q["iiurlwidth"] == "640" for q in queries)
    assert fake.api_max_in_flight == 1, "API requests must be strictly serial"
    agent = fake.api_hits()[0].request.headers["User-Agent"]
    assert agent.startswith("curate-photos/") and "python-requests" in agent
    # thumbnails of photos only, each once, at the asked width
    thumbs = fake.thumb_paths()
    assert len(thumbs) == len(CHICAGO_PHOTOS) == len(set(thumbs)) and all("640px-" in p for p in thumbs)


def test_geosearch_lists_files_near_a_point(fake, tmp_path):
    ws = Workspace(tmp_path / "ws")
    ingest_commons(ws, options(fake, near=CHICAGO_CENTRE, radius_m=5_000))
    catalog = by_source_id(ws)
    near = {str(pid) for pid, page in PAGES.items() if page.get("coordinates")
            and abs(page["coordinates"][0]["lat"] - CHICAGO_CENTRE[0]) < 0.1}
    assert set(catalog.index) == near and len(near) >= 2
    assert catalog["lat"].notna().all()
    query = {k: v[-1] for k, v in fake.api_hits()[0].request.query.items()}
    assert query["generator"] == "geosearch" and query["ggsradius"] == "5000" and query["ggsnamespace"] == "6"


def test_maxlag_error_waits_and_tries_again(fake, tmp_path):
    fake.fail_next(maxlag_error(), maxlag_error())
    ws = Workspace(tmp_path / "ws")
    report = ingest_commons(ws, options(fake))
    assert set(by_source_id(ws).index) == members(CHICAGO)
    assert report.api_requests == len(fake.api_hits())
    first, second, third = fake.api_hits()[:3]
    assert first.request.query == second.request.query == third.request.query  # the same page, asked again


@pytest.mark.parametrize("fault", [
    Response(b"upstream connect error", status=500, content_type="text/plain"),
    Response(b"", status=429, headers={"Retry-After": "1"}),
    Response(b'{"batchcomplete": tr', content_type="application/json"),  # truncated page
    Response(b"<html>Wikimedia Error</html>", content_type="text/html"),
    json_response({"query": {"pages": {"1": {}}}}),  # formatversion=1 shape: not what was asked
    api_error("internal_api_error_DBQueryError", "[abc] Database query error."),
], ids=["500", "429", "truncated", "html", "wrong-shape", "db-error"])
def test_transient_failures_are_retried_until_success(fake, tmp_path, fault):
    fake.fail_next(fault)
    ws = Workspace(tmp_path / "ws")
    report = ingest_commons(ws, options(fake))
    assert set(by_source_id(ws).index) == members(CHICAGO)
    assert report.api_requests == len(fake.api_hits())


def test_a_timed_out_request_is_retried(fake, tmp_path):
    payload = json.dumps({"batchcomplete": True}).encode()
    fake.fail_next(Response(payload, content_type="application/json", delay_s=30.0))
    ws = Workspace(tmp_path / "ws")
    ingest_commons(ws, options(fake, api_timeout_s=1.5))  # good answers stay well inside it under load
    assert set(by_source_id(ws).index) == members(CHICAGO)


def test_an_api_down_for_good_is_an_upstream_error_and_keeps_finished_batches(fake, tmp_path):
    ws = Workspace(tmp_path / "ws")
    original = fake._answer
    calls = []

    def failing_after_first_batch(q):
        calls.append(q)
        # the first batch comes in two answers (3 files, 2 thumbnails an answer); then the API goes down
        return original(q) if len(calls) <= 2 else Response(b"down", status=503, content_type="text/plain")

    fake._answer = failing_after_first_batch
    with pytest.raises(UpstreamError, match="still failing after 3 attempts") as error:
        ingest_commons(ws, options(fake, api_retries=2))
    assert "\n" not in str(error.value) and "check the network or proxy (HTTPS_PROXY)" in str(error.value)
    assert not ws.catalog_path.exists()
    fake._answer = original
    fake.server.reset_log()
    report = ingest_commons(ws, options(fake, api_retries=2))
    assert report.resumed_listing and set(by_source_id(ws).index) == members(CHICAGO)
    first = {k: v[-1] for k, v in fake.api_hits()[0].request.query.items()}
    assert "gcmcontinue" in first, "the second run started the listing over"


def test_a_refused_query_is_an_upstream_error_at_once(fake, tmp_path):
    fake.fail_next(json_response(fixture("invalidcategory.json")))
    with pytest.raises(UpstreamError, match="invalidcategory"):
        ingest_commons(Workspace(tmp_path / "ws"), options(fake))
    assert len(fake.api_hits()) == 1


def test_a_continue_token_that_never_moves_stops_the_run(fake, tmp_path):
    stuck = {"batchcomplete": True, "continue": {"gcmcontinue": "file|41|1", "continue": "gcmcontinue||"},
             "query": {"pages": []}}
    fake._answer = lambda q: json_response(stuck)
    with pytest.raises(UpstreamError, match="same continue token"):
        ingest_commons(Workspace(tmp_path / "ws"), options(fake))
    assert len(fake.api_hits()) == 2


def test_max_photos_stops_the_listing_early(fake, tmp_path):
    ws = Workspace(tmp_path / "ws")
    report = ingest_commons(ws, options(fake, max_photos=2))
    catalog = read_catalog(ws)
    assert (catalog["status"] == "kept").sum() == 2 == report.stored
    full = FakeCommons(max_limit=3, thumbs_per_answer=2)
    with full:
        ingest_commons(Workspace(tmp_path / "all"), options(full))
    assert len(fake.api_hits()) < len(full.api_hits())


def test_running_again_lists_again_but_downloads_nothing(fake, tmp_path):
    ws = Workspace(tmp_path / "ws")
    ingest_commons(ws, options(fake))
    before = read_catalog(ws)
    fake.server.reset_log()
    report = ingest_commons(ws, options(fake))
    assert report.fetched == 0 and report.already_done == len(before) and not fake.thumb_paths()
    assert read_catalog(ws).equals(before)
    assert not list(ws.journal_dir.glob("commons-*")), "a finished run leaves no listing cursor"


def test_uncommitted_records_of_a_killed_run_are_ignored(tmp_path):
    ws = Workspace(tmp_path / "ws")
    cursor = ListingCursor(ws, {"category": "Category:X"})
    state = cursor.load()
    first = {"source_id": "1", "drop_reason": None}
    state.records.append(first)
    state.continue_token = {"gcmcontinue": "file|58|2", "continue": "gcmcontinue||"}
    cursor.commit(state, [first])
    with open(cursor.records_path, "a", encoding="utf-8") as handle:  # killed before the state was saved
        handle.write(json.dumps({"source_id": "2", "drop_reason": None}) + "\n" + '{"source_id": "3", "dro')
    again = ListingCursor(ws, {"category": "Category:X"}).load()
    assert again.resumed and again.records == [first] and again.continue_token == state.continue_token
    assert ListingCursor(ws, {"category": "Category:Y"}).load().records == []


def test_killed_while_listing_resumes_from_the_saved_continue_token(tmp_path):
    """SIGKILL a real `curate ingest commons` process mid-listing, then run it again."""
    with FakeCommons(max_limit=2, thumbs_per_answer=1) as fake:
        ws = Workspace(tmp_path / "ws")
        fake.server.hold_after(5)  # two whole batches and half of the third, then the API "hangs"
        command = [sys.executable, "-c", "import sys; from curate.cli.app import main; sys.argv[0] = 'curate'; main()",
                   "ingest", "commons", "--category", CHICAGO, "--endpoint", fake.endpoint,
                   "--workspace", str(ws.root)]
        env = {**os.environ, "NO_PROXY": "127.0.0.0/8,localhost"}
        with open(tmp_path / "first.log", "wb") as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 30
            while fake.server.hit_count() < 6 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            process.kill()
            process.wait(10)
        fake.server.release_held(abort=True)
        assert fake.server.hit_count() == 6, (tmp_path / "first.log").read_text()
        saved = json.loads(next(ws.journal_dir.glob("commons-*.json")).read_text())
        assert saved["continue"]["gcmcontinue"] and not saved["listing_done"]
        fake.server.reset_log()

        result = CliRunner().invoke(app, ["ingest", "commons", "--category", CHICAGO, "--endpoint", fake.endpoint,
                                          "--workspace", str(ws.root), "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["resumed_listing"]
        first = {k: v[-1] for k, v in fake.api_hits()[0].request.query.items()}
        assert first["gcmcontinue"] == saved["continue"]["gcmcontinue"] and "iicontinue" not in first
        catalog = by_source_id(ws)
        assert set(catalog.index) == members(CHICAGO) and catalog["photo_id"].is_unique
        assert len(fake.thumb_paths()) == len(set(fake.thumb_paths())) == len(CHICAGO_PHOTOS)


def test_interrupted_while_downloading_resumes_without_listing_or_downloading_again(fake, tmp_path):
    ws = Workspace(tmp_path / "ws")
    served = []

    def interrupt_on_second(request):
        served.append(request.path)
        if len(served) == 2:
            _thread.interrupt_main()  # Ctrl-C in the thread running the ingest
        time.sleep(0.1)  # it lands when the main thread next runs: keep the rest from finishing first

    fake.thumb_hook = interrupt_on_second
    with pytest.raises(KeyboardInterrupt):
        ingest_commons(ws, replace(options(fake), download=DownloadConfig(workers=1, per_host=1)))
    finished = set(fake.thumb_paths())
    assert finished and len(finished) < len(CHICAGO_PHOTOS)
    fake.thumb_hook = None
    fake.server.reset_log()
    report = ingest_commons(ws, options(fake))
    assert not fake.api_hits(), "the finished listing was asked for again"
    assert not set(fake.thumb_paths()) & finished, "a finished thumbnail was downloaded again"
    catalog = by_source_id(ws)
    assert set(catalog.index) == members(CHICAGO) and report.stored == len(CHICAGO_PHOTOS)


# -- the command line ----------------------------------------------------------------------------

def run_cli(*args: str):
    return CliRunner().invoke(app, ["ingest", "commons", *args])


def test_cli_ingests_a_category_and_prints_a_summary(fake, tmp_path):
    result = run_cli("--category", f"Category:{CHICAGO}", "--label", "chicago", "--tag", "skyline", "--tag", "city",
                     "--max-photos", "3", "--endpoint", fake.endpoint, "--workspace", str(tmp_path / "ws"),
                     "--contact", "curator@example.org")
    assert result.exit_code == 0, result.output
    assert f"Category:{CHICAGO}" in result.stdout and "3 images stored" in result.stdout
    catalog = read_catalog(Workspace(tmp_path / "ws"))
    kept = catalog[catalog["status"] == "kept"]
    assert len(kept) == 3 and (kept["label"] == "chicago").all()
    assert all({"skyline", "city"} <= set(tags) for tags in catalog["tags"])
    assert "curator@example.org" in fake.api_hits()[0].request.headers["User-Agent"]


@pytest.mark.parametrize("args, says", [
    (["--near", "41.9,-87.6", "--radius-m", "20000"], "--radius-m 20000"),
    (["--near", "chicago"], "LAT,LON"),
    (["--category", CHICAGO, "--near", "41.9,-87.6"], "exactly one of"),
    ([], "exactly one of"),
])
def test_cli_bad_arguments_are_one_line_and_exit_2(tmp_path, args, says):
    result = run_cli(*args, "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 2
    assert says in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_cli_upstream_refusal_is_one_line_and_exit_4(fake, tmp_path):
    fake.fail_next(json_response(fixture("invalidcategory.json")))
    result = run_cli("--category", CHICAGO, "--endpoint", fake.endpoint, "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 4
    assert "invalidcategory" in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
