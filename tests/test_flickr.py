"""`curate ingest flickr` against a fake Flickr API on 127.0.0.1 (tests/fake_flickr.py)."""

from __future__ import annotations

import _thread
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.errors import UpstreamError, UsageError
from curate.ingest.flickr import FlickrOptions, FlickrQuery, ingest_flickr, resolve_api_key
from curate.ingest.flickr.api import TokenBucket
from curate.ingest.flickr.pages import parse_licenses, parse_search_page
from curate.ingest.flickr.plan import PlanStore, query_key
from curate.ingest.flickr.source import _query_dict, licence_filter
from curate.ingest.http import DownloadConfig
from curate.workspace import Workspace, read_catalog
from tests.fake_flickr import API_KEY, FIXTURES, FakeFlickr, make_photos

REPO = Path(__file__).resolve().parents[1]
CC_IDS = "1,2,3,4,5,6,9,10"  # Creative Commons ids in fixtures/flickr/licenses.json
TAGS = ("chicago", "skyline")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")
    monkeypatch.delenv("FLICKR_API_KEY", raising=False)
    monkeypatch.setenv("CURATE_FLICKR_CONFIG", str(tmp_path / "no-such-config.toml"))


def options(fake: FakeFlickr, query: FlickrQuery | None = None, **overrides) -> FlickrOptions:
    """Fast settings: no rate limit to speak of, tiny backoffs, generous timeouts."""
    settings = dict(endpoint=fake.endpoint, calls_per_hour=3.6e7, cap=fake.cap, api_retries=3,
                    api_backoff_base_s=0.01, api_retry_after_cap_s=0.05, api_read_timeout_s=5.0,
                    checkpoint_seconds=0.2,
                    download=DownloadConfig(workers=4, retries=1, backoff_base_s=0.01))
    return FlickrOptions(query=query or FlickrQuery(tags=TAGS), **{**settings, **overrides})


def expected_ids(fake: FakeFlickr, **params) -> set[str]:
    params = {"tags": ",".join(TAGS), "tag_mode": "all", "license": CC_IDS, **params}
    return {photo.photo_id for photo in fake.matching(**params)}


def catalog_ids(ws: Workspace) -> list[str]:
    return read_catalog(ws)["source_id"].tolist()


# -- pure parts --------------------------------------------------------------------------------

def test_search_page_becomes_canonical_records():
    licences = parse_licenses(json.loads((FIXTURES / "licenses.json").read_text()))
    page = parse_search_page(json.loads((FIXTURES / "search_page.json").read_text()), licences)
    assert (page.page, page.pages, page.total) == (1, 2, 5)
    assert page.malformed_photos == 1 and len(page.records) == 3
    first, second, third = page.records
    assert first["url"].endswith("_b.jpg"), "url_l is the best size offered"
    assert second["url"].endswith("_z.jpg"), "url_z beats url_m when there is no url_l/url_c"
    assert first["owner_id"] == "110870569@N08" and first["license"] == "Attribution License"
    assert (first["lat"], first["lon"]) == pytest.approx((45.788369, 8.374693))
    assert first["page_url"] == "https://www.flickr.com/photos/110870569@N08/24995918722"
    assert second["lat"] is None and second["lon"] is None, "0,0 means no position on Flickr"
    assert second["taken_at"] is None, "datetakenunknown=1 is a guess, not a date"
    assert second["license"] == "Public Domain Dedication (CC0)"
    assert third["url"] is None and third["drop_reason"] == "no_image_url"
    assert "sunset" in first["tags"] and third["tags"] == []


def test_licence_filter_uses_the_creative_commons_ids_from_get_info():
    licences = parse_licenses(json.loads((FIXTURES / "licenses.json").read_text()))
    assert licence_filter("cc", licences) == CC_IDS
    assert licence_filter("any", licences) is None
    assert licence_filter("9, 4", licences) == "4,9"
    with pytest.raises(UsageError, match="unknown Flickr licence id 42"):
        licence_filter("4,42", licences)


def test_token_bucket_spaces_calls_at_the_rate():
    now = [0.0]
    sent = []

    def sleep(seconds):
        now[0] += seconds

    bucket = TokenBucket(rate_per_s=2.0, burst=1, clock=lambda: now[0], sleep=sleep)
    for _ in range(21):
        bucket.acquire()
        sent.append(now[0])
    assert sent[-1] == pytest.approx(10.0), "21 calls at 2/s take 10 s"
    gaps = [later - earlier for earlier, later in zip(sent, sent[1:])]
    assert min(gaps) == pytest.approx(0.5)


def test_api_key_from_env_then_config_file(monkeypatch, tmp_path):
    with pytest.raises(UsageError, match="FLICKR_API_KEY"):
        resolve_api_key()
    config = tmp_path / "flickr.toml"
    config.write_text('api_key = "from-file"\n')
    monkeypatch.setenv("CURATE_FLICKR_CONFIG", str(config))
    assert resolve_api_key() == "from-file"
    monkeypatch.setenv("FLICKR_API_KEY", "from-env")
    assert resolve_api_key() == "from-env"
    assert resolve_api_key("given") == "given"


def test_an_unquoted_key_in_the_config_file_says_so_without_echoing_it(monkeypatch, tmp_path):
    config = tmp_path / "flickr.toml"
    config.write_text("api_key = 1234567\n")
    monkeypatch.setenv("CURATE_FLICKR_CONFIG", str(config))
    with pytest.raises(UsageError, match="must be a quoted string") as caught:
        resolve_api_key()
    assert "1234567" not in str(caught.value)


# -- against the fake API ------------------------------------------------------------------------

def test_multi_page_search_lists_downloads_and_keeps_attribution(tmp_path):
    photos = make_photos(1100, licences=("4", "0", "9", "0", "2", "0"))  # "0" = all rights reserved: filtered out
    with FakeFlickr(photos) as fake:
        ws = Workspace(tmp_path / "ws")
        report = ingest_flickr(ws, options(fake), api_key=fake.api_key)
        calls = fake.search_calls()
    wanted = expected_ids(fake)
    assert 0 < len(wanted) < len(photos)
    assert report.photos_listed == len(wanted) and report.stored == len(wanted)
    catalog = read_catalog(ws)
    assert set(catalog["source_id"]) == wanted and catalog["photo_id"].is_unique
    assert catalog["sha256"].notna().all() and catalog["sha256"].is_unique
    assert catalog["owner_id"].str.fullmatch(r"\d+@N\d\d").all()
    assert catalog["license"].isin(["cc-by-2.0", "cc0-1.0", "cc-by-nc-2.0"]).all()  # names stored canonical
    assert catalog["url"].str.contains("/img/").all() and catalog["taken_at"].notna().all()
    assert [int(c.params["page"]) for c in calls] == list(range(1, math.ceil(len(wanted) / 500) + 1))
    first = calls[0].params
    assert first["per_page"] == "500" and first["license"] == CC_IDS and first["tag_mode"] == "all"
    assert {"license", "owner_name", "geo", "tags", "date_taken", "url_l", "url_c", "url_z",
            "url_m"} <= set(first["extras"].split(","))


def test_geo_query_pages_by_250(tmp_path):
    with FakeFlickr(make_photos(700), serve_images=False) as fake:
        query = FlickrQuery(tags=TAGS, bbox=(-87.7, 41.8, -87.55, 41.95))
        ws = Workspace(tmp_path / "ws")
        ingest_flickr(ws, options(fake, query, download_images=False), api_key=fake.api_key)
        calls = fake.search_calls()
    wanted = expected_ids(fake, bbox="-87.7,41.8,-87.55,41.95")
    assert {c.params["per_page"] for c in calls} == {"250"}
    assert len(calls) == math.ceil(len(wanted) / 250)
    catalog = read_catalog(ws)
    assert set(catalog["source_id"]) == wanted and catalog["lat"].notna().all()
    assert (catalog["geo_accuracy"] == 16).all()  # Flickr's accuracy reaches the catalog


def test_radius_over_32_km_and_other_bad_queries_are_usage_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("FLICKR_API_KEY", API_KEY)
    runner = CliRunner()
    base = ["ingest", "flickr", "--tags", "chicago", "--workspace", str(tmp_path / "ws"),
            "--endpoint", "http://127.0.0.1:9/never-called"]
    cases = [(["--lat", "41.9", "--lon", "-87.6", "--radius-km", "50"], "32 km"),
             (["--lat", "41.9", "--radius-km", "5"], "--lat, --lon and --radius-km"),
             (["--bbox", "1,2,3"], "4 comma-separated numbers"),
             (["--bbox", "10,2,3,4"], "min < max"),
             (["--min-taken", "2020-05-01", "--max-taken", "2019-01-01"], "is after"),
             (["--min-taken", "last week"], "ISO date"),
             (["--license", "cc-by"], "licence must be"),
             (["--endpoint", "ftp://api.flickr.com/services/rest"], "not an http(s) URL")]
    for extra, says in cases:
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert says in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr


def test_the_4000_cap_forces_date_slicing_and_nothing_is_lost(tmp_path):
    """At Flickr's real cap: 9,000 matches, 500 per page; pages past 4,000 repeat."""
    with FakeFlickr(make_photos(9000, licences=("4",)), serve_images=False) as fake:
        assert fake.cap == 4000
        ws = Workspace(tmp_path / "ws")
        report = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        calls = fake.search_calls()
    ids = catalog_ids(ws)
    assert len(ids) == len(set(ids)) == 9000 and report.truncated_photos == 0
    assert report.slices > 1
    assert all(int(c.params["page"]) <= 8 for c in calls), "a page past the cap was requested"
    assert any("min_taken_date" in c.params for c in calls)
    # every slice that was paged through (page 2+) held at most the cap
    for call in calls:
        if int(call.params["page"]) > 1:
            window = {k: call.params[k] for k in ("min_taken_date", "max_taken_date") if k in call.params}
            assert len(fake.matching(tags="chicago,skyline", tag_mode="all", license=CC_IDS, **window)) <= 4000


def test_recursive_slicing_with_a_small_cap_and_clustered_dates(tmp_path):
    """Most photos in one week: equal date slices are not enough, slicing recurses."""
    photos = make_photos(600, span_days=3000) + make_photos(900, seed=1, start="2018-06-01 00:00:00", span_days=7)
    for n, photo in enumerate(photos[600:]):
        photo.photo_id = str(90_000_000_000 + n)
    with FakeFlickr(photos, cap=100, serve_images=False) as fake:
        ws = Workspace(tmp_path / "ws")
        report = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
    ids = catalog_ids(ws)
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(fake)
    plan = PlanStore(ws, report.query_key).load()
    assert max(piece.depth for piece in plan.slices) >= 2


@pytest.mark.parametrize("fault", ["429", "500", "error105", "error201", "malformed", "not_json"])
def test_transient_failure_then_success(tmp_path, fault):
    with FakeFlickr(make_photos(800), serve_images=False) as fake:
        fake.inject(fault, times=2, after=1)  # page 2 fails twice, then answers
        ws = Workspace(tmp_path / "ws")
        report = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        pages = [int(c.params["page"]) for c in fake.search_calls()]
    assert pages == [1, 2, 2, 2], pages
    assert report.api_calls == 1 + len(pages), "getInfo + every attempt"
    assert set(catalog_ids(ws)) == expected_ids(fake)


def test_a_slow_answer_times_out_and_is_retried(tmp_path):
    # a read timeout that a good answer on a loaded CI machine stays well inside
    with FakeFlickr(make_photos(300), slow_s=30.0, serve_images=False) as fake:
        fake.inject("slow")
        ws = Workspace(tmp_path / "ws")
        ingest_flickr(ws, options(fake, api_read_timeout_s=1.5, download_images=False), api_key=fake.api_key)
        slow, retry = fake.search_calls()
    assert retry.params == slow.params
    assert retry.time_s - slow.time_s < 15.0, "the client waited for the slow answer instead of timing out"
    assert set(catalog_ids(ws)) == expected_ids(fake)


def test_persistent_failure_is_upstream_error_and_the_rerun_resumes(tmp_path):
    with FakeFlickr(make_photos(1200), serve_images=False) as fake:
        fake.inject("500", times=4, after=1)  # page 2: more failures than retries
        ws = Workspace(tmp_path / "ws")
        with pytest.raises(UpstreamError, match=r"failed 4 times, last: HTTP 500; check the network or proxy "
                                                r"\(HTTPS_PROXY\), or pass --endpoint"):
            ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        before = len(fake.search_calls())
        report = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        pages = [int(c.params["page"]) for c in fake.search_calls()[before:]]
    assert pages == [2, 3] and report.listing_resumed
    assert sorted(catalog_ids(ws)) == sorted(expected_ids(fake))


def test_a_page_that_stays_unreadable_stops_the_run_and_the_next_run_asks_for_it(tmp_path):
    """A body that is not JSON after every retry is not skipped (its photos would be lost for good,
    since a re-run does not list a finished page again): the run stops, exit 4, and resumes."""
    with FakeFlickr(make_photos(1200), serve_images=False) as fake:
        fake.inject("not_json", times=4, after=1)  # the first try and all 3 retries of page 2
        ws = Workspace(tmp_path / "ws")
        with pytest.raises(UpstreamError) as stopped:
            ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        assert "not JSON" in str(stopped.value) and "resumes" in str(stopped.value)
        assert fake.api_key not in str(stopped.value)
        report = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
    assert report.listing_resumed and report.malformed_pages == 0
    assert set(catalog_ids(ws)) == expected_ids(fake)


def test_a_finished_listing_is_not_called_resumed_again(tmp_path):
    with FakeFlickr(make_photos(300), serve_images=False) as fake:
        ws = Workspace(tmp_path / "ws")
        ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        again = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
    assert again.api_calls == 0 and not again.listing_resumed
    assert PlanStore(ws, again.query_key).load().complete


def test_a_run_with_downloads_after_a_listing_only_run_downloads_the_images(tmp_path):
    """Audit AM: `--no-download-images`, then the same command with downloads, said "0 images stored ... 150
    already done" and exited 0, leaving every photo kept without an image (`curate embed` then asked for an
    ingest). The photos the listing-only run left without an image are fetched now, once."""
    with FakeFlickr(make_photos(40)) as fake:
        ws = Workspace(tmp_path / "ws")
        listed = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        assert listed.stored == 0 and read_catalog(ws)["sha256"].isna().all()
        fetched = ingest_flickr(ws, options(fake), api_key=fake.api_key)
        again = ingest_flickr(ws, options(fake), api_key=fake.api_key)
    catalog = read_catalog(ws)
    assert fetched.fetched == len(catalog) == listed.photos_listed > 0
    assert catalog["sha256"].notna().all() and catalog["photo_id"].is_unique
    assert fetched.stored == len(catalog) and again.fetched == 0 and again.stored == len(catalog)


def test_downloads_after_a_listing_only_run_keep_a_reviewers_decisions(tmp_path):
    """Audit AO: the first version of the fetch above replaced the listed rows whole, so a reviewer's drop and
    relabel made between the two runs were gone (the dropped photo kept, and split into test by a `curate split`
    that status called fresh). The images are filled into the rows; the decisions stay."""
    from curate.review.session import ReviewSession

    with FakeFlickr(make_photos(20)) as fake:
        ws = Workspace(tmp_path / "ws")
        ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        first, second = read_catalog(ws)["photo_id"].iloc[:2]
        session = ReviewSession(ws, user="tester")
        session.decide([first], "drop")
        session.decide([second], "relabel", "zzz")
        session.close()
        ingest_flickr(ws, options(fake), api_key=fake.api_key)
    catalog = read_catalog(ws).set_index("photo_id")
    assert (catalog.loc[first, "status"], catalog.loc[first, "drop_reason"]) == ("dropped", "reviewed")
    assert catalog.loc[second, "label"] == "zzz" and catalog.loc[second, "status"] == "kept"
    assert catalog["sha256"].notna().all()  # every image fetched, the reviewer-dropped one's too


@pytest.mark.parametrize("kind", ["bad_structure"])
def test_malformed_page_is_recorded_and_skipped(tmp_path, kind):
    with FakeFlickr(make_photos(1200), serve_images=False) as fake:
        fake.inject(kind, after=1)
        ws = Workspace(tmp_path / "ws")
        report = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
    wanted = expected_ids(fake)
    assert report.malformed_pages == 1
    assert report.photos_listed == len(wanted) - 500, "only the skipped page's photos are missing"
    plan = PlanStore(ws, report.query_key).load()
    assert plan.malformed_pages[0]["page"] == 2


def test_max_photos_stops_the_listing(tmp_path):
    with FakeFlickr(make_photos(1500), serve_images=False) as fake:
        ws = Workspace(tmp_path / "ws")
        report = ingest_flickr(ws, options(fake, FlickrQuery(tags=TAGS, max_photos=120), download_images=False),
                               api_key=fake.api_key)
        assert len(fake.search_calls()) == 1 and fake.search_calls()[0].params["per_page"] == "120"
    assert report.photos_listed == 120 and len(read_catalog(ws)) == 120


def test_ctrl_c_mid_listing_then_resume_repeats_at_most_the_page_in_flight(tmp_path):
    with FakeFlickr(make_photos(1000, licences=("4",)), cap=200, serve_images=False) as fake:
        fake.on_search = lambda n: _thread.interrupt_main() if n == 5 else None
        ws = Workspace(tmp_path / "ws")
        with pytest.raises(KeyboardInterrupt):
            ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        first = [_page_key(c) for c in fake.search_calls()]
        assert not ws.catalog_path.exists(), "interrupted while listing: no catalog yet"
        fake.on_search = None
        report = ingest_flickr(ws, options(fake, download_images=False), api_key=fake.api_key)
        second = [_page_key(c) for c in fake.search_calls()[len(first):]]
    assert report.listing_resumed
    assert len(set(first) & set(second)) <= 1, "pages already listed were requested again"
    assert max(Counter(second).values()) == 1
    ids = catalog_ids(ws)
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(fake)


def test_ctrl_c_during_downloads_then_resume_downloads_nothing_twice(tmp_path):
    with FakeFlickr(make_photos(60)) as fake:
        served = []
        original = fake.server._answer

        def answer(hit):
            if hit.path.startswith("/img/"):
                served.append(hit.path)
                if len(served) == 20:
                    _thread.interrupt_main()
            return original(hit)

        fake.server._answer = answer
        ws = Workspace(tmp_path / "ws")
        with pytest.raises(KeyboardInterrupt):
            ingest_flickr(ws, options(fake), api_key=fake.api_key)
        done_before = {h.path for h in fake.server.log() if h.completed and h.path.startswith("/img/")}
        calls_before = len(fake.calls)
        report = ingest_flickr(ws, options(fake), api_key=fake.api_key)
        assert len(fake.calls) == calls_before, "a finished listing calls no API"
        assert report.api_calls == 0
    image_hits = Counter(hit.path for hit in fake.server.log() if hit.completed and hit.path.startswith("/img/"))
    assert max(image_hits.values()) == 1 and len(done_before) >= 15
    ids = catalog_ids(ws)
    assert len(ids) == len(set(ids)) == len(expected_ids(fake))


def test_killed_process_resumes_and_the_key_is_written_nowhere(tmp_path):
    """SIGKILL a real `curate ingest flickr` mid-listing, re-run it; then grep everything for the key."""
    with FakeFlickr(make_photos(600, licences=("4",))) as fake:
        ws = Workspace(tmp_path / "ws")
        args = ["ingest", "flickr", "--tags", "chicago,skyline", "--endpoint", fake.endpoint,
                "--workspace", str(ws.root), "--workers", "4"]
        env = {**os.environ, "FLICKR_API_KEY": fake.api_key}
        fake.server.hold_after(2)  # getInfo + 1 search page, then the API "hangs"
        command = [sys.executable, "-c", "import sys; from curate.cli.app import main; sys.argv[0] = 'curate'; main()",
                   *args]
        with open(tmp_path / "first.log", "wb") as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 30
            while fake.server.hit_count() < 3 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            process.kill()
            process.wait(10)
        fake.server.release_held(abort=True)
        first = [_page_key(c) for c in fake.search_calls()]  # answered ones; the held 2nd is not logged
        assert len(first) == 1 and fake.server.hit_count() == 3, "the kill did not land mid-listing"
        result = CliRunner(env={"FLICKR_API_KEY": fake.api_key}).invoke(app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        second = [_page_key(c) for c in fake.search_calls()[len(first):]]
    assert len(set(first) & set(second)) <= 1
    summary = json.loads(result.stdout)
    assert summary["listing_resumed"] and summary["photos_listed"] == len(expected_ids(fake))
    ids = catalog_ids(ws)
    assert len(ids) == len(set(ids)) == len(expected_ids(fake))
    key = fake.api_key.encode()
    written = [path for path in ws.root.rglob("*") if path.is_file()]
    assert any(path.suffix == ".json" for path in written), "the saved cursor should be among the files"
    leaked = [str(path) for path in written if key in path.read_bytes()]
    assert not leaked, f"API key written to {leaked}"
    assert fake.api_key not in result.output + (tmp_path / "first.log").read_text(errors="replace")


def test_invalid_key_is_one_line_and_exit_4(tmp_path):
    with FakeFlickr(make_photos(10)) as fake:
        bad_key = "0123456789abcdef0123456789abcdef"
        result = CliRunner(env={"FLICKR_API_KEY": bad_key}).invoke(app, [
            "ingest", "flickr", "--tags", "chicago", "--endpoint", fake.endpoint,
            "--workspace", str(tmp_path / "ws")])
        assert len(fake.calls) == 1, "no retry on an invalid key"
    assert result.exit_code == 4, result.output
    assert "Invalid API Key" in result.stderr and "FLICKR_API_KEY" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.output
    assert bad_key not in result.output
    for path in (tmp_path / "ws").rglob("*"):
        assert not path.is_file() or bad_key.encode() not in path.read_bytes()


def test_missing_key_is_exit_2_naming_the_variable(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "flickr", "--tags", "chicago", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2 and "FLICKR_API_KEY" in result.stderr


def test_cli_summary_and_a_finished_query_calls_no_api(tmp_path):
    with FakeFlickr(make_photos(40)) as fake:
        runner = CliRunner(env={"FLICKR_API_KEY": fake.api_key})
        args = ["ingest", "flickr", "--tags", "chicago,skyline", "--endpoint", fake.endpoint,
                "--workspace", str(tmp_path / "ws"), "--recipe", "skylines"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        calls = len(fake.calls)
        again = runner.invoke(app, [*args, "--json"])
        assert again.exit_code == 0 and len(fake.calls) == calls
    wanted = len(expected_ids(fake))
    assert f"{wanted} photos listed" in result.stdout and f"{wanted} images stored" in result.stdout
    assert json.loads(again.stdout)["already_done"] == wanted
    assert (read_catalog(Workspace(tmp_path / "ws"))["label"] == "chicago").all()


def test_query_key_does_not_depend_on_the_api_key():
    query = FlickrQuery(tags=TAGS)
    assert query_key(_query_dict(query)) == query_key(_query_dict(FlickrQuery(tags=("chicago", "skyline"))))
    assert query_key(_query_dict(query)) != query_key(_query_dict(FlickrQuery(tags=TAGS, has_geo=True)))


def _page_key(call) -> tuple:
    return call.params.get("min_taken_date"), call.params.get("max_taken_date"), call.params["page"]


def test_a_photo_without_owner_is_still_a_row_and_one_without_id_is_counted():
    licences = parse_licenses(json.loads((FIXTURES / "licenses.json").read_text()))
    payload = json.loads((FIXTURES / "search_page.json").read_text())
    del payload["photos"]["photo"][0]["owner"]
    page = parse_search_page(payload, licences)
    assert page.malformed_photos == 1 and len(page.records) == 3  # only the photo without an id is left out
    orphan = page.records[0]
    assert orphan["owner_id"] is None and orphan["page_url"] == "https://www.flickr.com/photo.gne?id=24995918722"


@pytest.mark.parametrize("client", ["flickr", "commons"])
def test_api_clients_read_the_environment_once_and_send_no_netrc(client, monkeypatch, tmp_path):
    """trust_env is off (no ~/.netrc credentials to the API), so the CA bundle and the proxy a
    corporate network needs are read explicitly, as for image downloads."""
    from curate.ingest.commons.client import CommonsClient
    from curate.ingest.flickr.api import ApiConfig, FlickrClient

    def make():
        if client == "flickr":
            return FlickrClient(API_KEY, ApiConfig(endpoint="https://api.example.org/rest"))
        return CommonsClient("https://api.example.org/w/api.php", "curate-test/1")

    bundle = tmp_path / "corporate-ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.org:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with make() as api:
        assert api.session.trust_env is False and api.session.verify == str(bundle)
        assert api._proxies.get("https") == "http://proxy.example.org:3128"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with make() as api:
        assert api.session.verify is True
