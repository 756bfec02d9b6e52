"""`curate ingest urls` against a real HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import _thread
import doctest
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.ingest import http
from curate.ingest.engine_job import FetchError
from curate.ingest.engine_journal import Journal
from curate.ingest.http import DownloadConfig, Downloader, TransientError, redact, retry_call
from curate.ingest.urls import SOURCE, UrlIngestOptions, ingest_urls, url_records
from curate.workspace import Workspace, read_catalog
from tests.helpers import jpeg_bytes, png_bytes
from tests.httpfixtures import FakeServer, Response

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 100_000


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # A developer's HTTP(S)_PROXY must not capture loopback traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")


@pytest.fixture
def server():
    with FakeServer() as running:
        yield running


def image(i: int) -> bytes:
    """A distinct small JPEG per i."""
    return jpeg_bytes(color=(i * 37 % 256, i * 11 % 256, (i * 5 + 90) % 256))


def fast(**overrides) -> DownloadConfig:
    """Tiny backoffs so failure paths take fractions of a second. Timeouts stay generous
    (a loaded 2-core CI box can stall a loopback request for a few hundred ms) except in
    the tests about timeouts."""
    settings = dict(workers=4, per_host=4, connect_timeout_s=2.0, read_timeout_s=5.0, attempt_deadline_s=10.0,
                    retries=2, backoff_base_s=0.01, retry_after_cap_s=0.2, max_bytes=MAX_BYTES)
    return DownloadConfig(**{**settings, **overrides})


def refused_url() -> str:
    """A loopback port with nobody listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.jpg"


def yfcc_csv(path: Path, rows: list[dict]) -> Path:
    columns = ["photoid", "usernsid", "usernickname", "datetaken", "usertags", "longitude", "latitude",
               "downloadurl", "licensename"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def ingest(ws: Workspace, file: Path, **config):
    return ingest_urls(ws, UrlIngestOptions(path=file, download=fast(**config)))


# -- the downloader ----------------------------------------------------------------------------

def test_server_errors_are_retried_until_success(server):
    server.route("/flaky.jpg", Response(status=500), Response(status=503), Response(image(1)))
    with Downloader(fast()) as downloader:
        assert downloader.download(server.url("/flaky.jpg")) == image(1)
    assert server.hit_count("/flaky.jpg") == 3


def test_permanent_failures_are_not_retried(server):
    server.route("/forbidden.jpg", Response(status=403))
    with Downloader(fast()) as downloader:
        for path, reason in (("/nothing.jpg", "http_404"), ("/forbidden.jpg", "http_4xx")):
            with pytest.raises(FetchError) as failure:
                downloader.download(server.url(path))
            assert failure.value.reason == reason
            assert server.hit_count(path) == 1
    assert "403" in str(failure.value.detail)


def test_retry_after_is_honoured_and_capped(server):
    server.route("/busy.jpg", Response(status=429, headers={"Retry-After": "1"}), Response(image(2)))
    server.route("/greedy.jpg", Response(status=429, headers={"Retry-After": "3600"}), Response(image(3)))
    with Downloader(fast(retry_after_cap_s=5.0)) as downloader:
        started = time.monotonic()
        assert downloader.download(server.url("/busy.jpg")) == image(2)
        assert time.monotonic() - started >= 0.9, "Retry-After: 1 was not waited for (backoff alone is 10 ms)"
    with Downloader(fast(retry_after_cap_s=0.2)) as downloader:
        started = time.monotonic()
        assert downloader.download(server.url("/greedy.jpg")) == image(3)
        assert time.monotonic() - started < 3, "Retry-After: 3600 must be capped"


def test_trickling_body_hits_the_attempt_deadline(server):
    # Every read is well inside the read timeout; only the whole-attempt deadline can stop it.
    server.route("/trickle.jpg", Response(b"x" * 40_000, chunk_size=1_000, chunk_delay_s=0.05))
    with Downloader(fast(read_timeout_s=1.0, attempt_deadline_s=0.4, retries=0)) as downloader:
        with pytest.raises(FetchError) as failure:
            downloader.download(server.url("/trickle.jpg"))
    assert failure.value.reason == "timeout"


def test_size_cap_applies_with_and_without_content_length(server):
    server.route("/declared.jpg", Response(b"x" * (MAX_BYTES + 1)))
    server.route("/streamed.jpg", Response(b"x" * (3 * MAX_BYTES), send_length=False))
    with Downloader(fast()) as downloader:
        for path in ("/declared.jpg", "/streamed.jpg"):
            with pytest.raises(FetchError) as failure:
                downloader.download(server.url(path))
            assert failure.value.reason == "too_large", path
    assert server.hit_count("/declared.jpg") == 1, "an over-size body is not worth a retry"


def test_per_host_limit_holds_while_hosts_run_in_parallel():
    with FakeServer("127.0.0.1", latency_s=0.1) as first, FakeServer("127.0.0.2", latency_s=0.1) as second:
        urls = []
        for host in (first, second):
            for i in range(8):
                host.route(f"/{i}.jpg", Response(image(i)))
                urls.append(host.url(f"/{i}.jpg"))
        with Downloader(fast(workers=8, per_host=2)) as downloader, ThreadPoolExecutor(8) as pool:
            bodies = list(pool.map(downloader.download, urls))
    assert bodies == [image(i) for i in range(8)] * 2
    assert first.max_in_flight == 2 and second.max_in_flight == 2


def test_user_agent_is_descriptive(server):
    server.route("/a.jpg", Response(image(1)))
    with Downloader(fast()) as downloader:
        downloader.download(server.url("/a.jpg"))
    assert server.log()[0].request.headers["User-Agent"].startswith("curate-photos/")


def test_environment_proxy_and_no_proxy_are_honoured(monkeypatch):
    with FakeServer("127.0.0.1") as proxy, FakeServer("127.0.0.2") as direct:
        proxy.route("/via-proxy.jpg", Response(image(1)))
        direct.route("/direct.jpg", Response(image(2)))
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.2")
        with Downloader(fast()) as downloader:
            # 10.255.255.1 is never contacted: the proxy answers for it.
            assert downloader.download("http://10.255.255.1/via-proxy.jpg") == image(1)
            assert downloader.download(direct.url("/direct.jpg")) == image(2)
        assert proxy.hit_count("/via-proxy.jpg") == 1 and proxy.hit_count("/direct.jpg") == 0
        assert direct.hit_count("/direct.jpg") == 1


def test_secrets_in_query_strings_are_redacted():
    text = "GET http://h/p.jpg?size=b&api_key=s3cr3t and http://h/q.jpg?Token=abc&x=1 and http://h/ok.jpg?size=b"
    cleaned = redact(text)
    assert "s3cr3t" not in cleaned and "abc" not in cleaned
    assert "http://h/ok.jpg?size=b" in cleaned


def test_passwords_and_fragment_tokens_in_messages_are_redacted():
    """The download messages' redaction kept `user:password@` and an OAuth `#access_token=` whole
    (the catalog's URL redaction already removed both)."""
    text = ("GET https://bob:hunter2@h/p.jpg?size=b failed; then http://h/cb#access_token=t0k3n&state=1, "
            "ftp://anon@h/x and http://h/plain.jpg#frag")
    cleaned = redact(text)
    assert "hunter2" not in cleaned and "bob" not in cleaned and "t0k3n" not in cleaned
    assert "https://h/p.jpg?size=b failed" in cleaned and "state=1" in cleaned
    assert "http://h/plain.jpg#frag" in cleaned and "ftp://h/x" in cleaned


# -- the retry loop every HTTP client shares -------------------------------------------------

def scripted(*outcomes):
    """A call that raises or returns each outcome in turn, counting its calls."""
    queue = list(outcomes)

    def call():
        call.count += 1
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    call.count = 0
    return call


def retry(call, attempts, **options):
    """retry_call with a fake sleep; returns (result, the waits it asked for)."""
    waits = []
    backoff = dict(backoff_base_s=1.0, backoff_max_s=8.0, retry_after_cap_s=30.0)
    return retry_call(call, attempts, sleep=waits.append, **{**backoff, **options}), waits


def test_retry_call_retries_transient_failures_with_growing_backoff():
    call = scripted(TransientError("HTTP 503"), TransientError("timed out"), "answer")
    result, waits = retry(call, 3)
    assert result == "answer" and call.count == 3
    assert len(waits) == 2 and 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # base * 2**n, jittered


def test_retry_call_lets_a_non_retryable_failure_through_at_once():
    call = scripted(ValueError("refused for good"), "never reached")
    with pytest.raises(ValueError, match="refused for good"):
        retry(call, 5)
    assert call.count == 1
    # With its own rule, the downloader retries only transient fetch failures.
    call = scripted(FetchError("http_5xx"), FetchError("http_404"), "never reached")
    with pytest.raises(FetchError) as failure:
        retry(call, 5, retry_if=lambda exc: exc.reason == "http_5xx")
    assert failure.value.reason == "http_404" and call.count == 2


def test_retry_call_honours_retry_after_up_to_the_cap():
    call = scripted(TransientError("HTTP 429", retry_after_s=7.0), TransientError("busy", retry_after_s=600.0), "ok")
    told = []
    result, waits = retry(call, 3, on_retry=lambda exc, attempt, wait_s: told.append((exc.detail, attempt, wait_s)))
    assert result == "ok" and waits == [7.0, 30.0]
    assert told == [("HTTP 429", 1, 7.0), ("busy", 2, 30.0)]


def test_retry_call_gives_up_after_the_last_attempt_with_its_failure():
    call = scripted(*(TransientError(f"HTTP 50{n}") for n in range(4)))
    waits = []
    with pytest.raises(TransientError, match="HTTP 502"):
        retry_call(call, 3, backoff_base_s=0.1, backoff_max_s=1.0, retry_after_cap_s=1.0, sleep=waits.append)
    assert call.count == 3 and len(waits) == 2, "no wait after the last attempt"
    with pytest.raises(ValueError, match="at least 1"):
        retry(scripted("ok"), 0)


def test_doctests_of_the_http_module():
    assert doctest.testmod(http).failed == 0


# -- mapping the file --------------------------------------------------------------------------

def test_ids_come_from_the_id_column_else_a_stable_url_hash():
    table = pd.DataFrame({"photoid": ["7", None, None, None, "8"],
                          "downloadurl": ["http://h/a.jpg", "http://h/b.jpg", "", "ftp://h/c", "not a url"]})
    records = url_records(table, {})
    again = url_records(table.copy(), {})
    assert records["source_id"].tolist()[0] == "7" and records["source_id"].tolist()[4] == "8"
    assert records.loc[1, "source_id"] == hashlib.sha256(b"http://h/b.jpg").hexdigest()[:16]
    assert records.loc[2, "source_id"] == "row-3"
    assert records["source_id"].tolist() == again["source_id"].tolist()
    assert records["drop_reason"].tolist() == [None, None, "bad_url", "bad_url", "bad_url"]


# -- ingest end to end ---------------------------------------------------------------------------

def test_every_failure_kind_becomes_a_row_and_only_transient_ones_are_retried(server, tmp_path):
    refused = refused_url()
    answers = {
        "/good.jpg": Response(image(1)), "/good.png": Response(png_bytes()),
        "/flaky.jpg": (Response(status=500), Response(image(4))),
        "/down.jpg": Response(status=503), "/limited.jpg": Response(status=429, headers={"Retry-After": "0"}),
        "/slow.jpg": Response(image(7), delay_s=60), "/garbage.jpg": Response(b"<html>not an image</html>"),
        "/huge.jpg": Response(b"\xff" * (MAX_BYTES + 10)),
    }
    for path, answer in answers.items():
        server.route(path, *(answer if isinstance(answer, tuple) else (answer,)))
    urls = [server.url(p) for p in answers] + [server.url("/missing.jpg?api_key=SECRETKEY"), refused, "", "ftp://x/y"]
    expected = [None, None, None, "http_5xx", "http_429", "timeout", "not_an_image", "too_large", "http_404",
                "connection_error", "bad_url", "bad_url"]
    rows = [{"photoid": str(100 + i), "downloadurl": url} for i, url in enumerate(urls)]
    rows[0].update(usernsid="12@N01", usernickname="ann", datetaken="2009-07-04 18:30:00.0",
                   usertags="chicago,skyline,sears+tower", longitude="-87.62", latitude="41.88",
                   licensename="Attribution License")
    file = yfcc_csv(tmp_path / "yfcc.csv", rows)
    ws = Workspace(tmp_path / "ws")

    # /slow.jpg never answers within the read timeout (the server's stop wakes it). The timeout
    # is long enough that a good answer on a loaded 2-core CI machine never runs into it.
    report = ingest(ws, file, read_timeout_s=2.0, retries=2)
    catalog = read_catalog(ws).set_index("source_id").loc[[r["photoid"] for r in rows]]
    assert [None if pd.isna(reason) else reason for reason in catalog["drop_reason"]] == expected
    assert report.stored == 3 and report.records == len(rows)
    kept = catalog[catalog["status"] == "kept"]
    for _, row in kept.iterrows():
        stored = (ws.root / row["image_path"]).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == row["sha256"]
    assert (catalog.loc[catalog["status"] == "dropped", "drop_stage"] == "ingest").all()
    assert not catalog["error_detail"].fillna("").str.contains("SECRETKEY").any()
    first = catalog.loc["100"]
    assert (first["owner_id"], first["owner_name"], first["license"]) == ("12@N01", "ann", "cc-by-2.0")  # canonical
    assert first["tags"].tolist() == ["chicago", "skyline", "sears+tower"]
    assert (first["lat"], first["lon"]) == (41.88, -87.62)
    assert first["taken_at"] == pd.Timestamp("2009-07-04 18:30:00")

    # The server heals; a re-run retries transient failures (5xx, 429, timeout, refused) only.
    server.route("/down.jpg", Response(image(5)))
    server.route("/limited.jpg", Response(image(6)))
    server.route("/slow.jpg", Response(image(7)))
    server.route("/garbage.jpg", Response(image(8)))
    server.route("/missing.jpg", Response(image(9)))
    server.reset_log()
    ingest(ws, file, read_timeout_s=2.0, retries=2)
    assert sorted(set(server.completed_paths())) == ["/down.jpg", "/limited.jpg", "/slow.jpg"]
    again = read_catalog(ws).set_index("source_id")
    assert len(again) == len(rows) and again.index.is_unique
    assert (again.loc[["103", "104", "105"], "status"] == "kept").all()
    assert again.loc["109", "drop_reason"] == "connection_error"
    assert again.loc[["106", "107", "108"], "drop_reason"].tolist() == ["not_an_image", "too_large", "http_404"]


def test_ingest_twice_gives_the_same_catalog_without_requests(server, tmp_path):
    server.latency_s = 0.1
    rows = []
    for i in range(16):
        server.route(f"/{i}.jpg", Response(image(i)))
        rows.append({"photoid": str(i), "downloadurl": server.url(f"/{i}.jpg"), "usertags": "tokyo"})
    file = yfcc_csv(tmp_path / "list.csv", rows)
    ws = Workspace(tmp_path / "ws")
    ingest(ws, file, workers=8, per_host=8)
    assert server.max_in_flight >= 4, "downloads did not run concurrently"
    assert server.hit_count() == 16
    before = read_catalog(ws)
    report = ingest(ws, file, workers=8, per_host=8)
    assert server.hit_count() == 16, "the second run requested images again"
    assert report.already_done == 16 and report.fetched == 0
    pd.testing.assert_frame_equal(read_catalog(ws), before)


def test_parquet_input_with_a_mapped_url_column(server, tmp_path):
    server.route("/p1.jpg", Response(image(1)))
    server.route("/p2.jpg", Response(image(2)))
    table = pd.DataFrame({"photoid": [5001, 5002, 5003], "link": [server.url("/p1.jpg"), server.url("/p2.jpg"), None],
                          "latitude": [35.68, None, None], "longitude": [139.69, None, None]})
    table.to_parquet(tmp_path / "list.parquet")
    result = CliRunner().invoke(app, ["ingest", "urls", str(tmp_path / "list.parquet"), "--map", "url=link",
                                      "--workspace", str(tmp_path / "ws"), "--workers", "2"])
    assert result.exit_code == 0, result.stderr
    summary = " ".join(result.stdout.split())
    assert "3 rows" in summary and "2 images stored, 1 dropped" in summary and "bad_url" in summary
    catalog = read_catalog(Workspace(tmp_path / "ws")).set_index("photo_id")
    assert sorted(catalog.index) == ["urls:5001", "urls:5002", "urls:5003"]
    assert catalog.loc["urls:5001", "lat"] == 35.68 and catalog.loc["urls:5002", "coord_issue"] == "missing"


@pytest.mark.parametrize("content, name, extra, says", [
    (None, "absent.csv", [], "does not exist"),
    (b"PAR1 this is not parquet", "list.parquet", [], "cannot read"),
    (b'photoid,downloadurl\n"1,http://x/a.jpg\n', "list.csv", [], "cannot read"),
    (b"photoid,downloadurl\n1,http://x/a.jpg\n", "list.csv", ["--map", "url=link"], "link"),
    (b"photoid,link\n1,http://x/a.jpg\n", "list.csv", [], "no URL column"),
    (b"photoid,downloadurl\n1,http://x/a.jpg\n", "list.csv", ["--map", "colour=x"], "unknown"),
])
def test_bad_input_file_is_one_line_and_exit_2(tmp_path, content, name, extra, says):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["ingest", "urls", str(path), *extra, "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert says in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_queued_downloads_and_keeps_finished_ones(server, tmp_path):
    """An interrupt drops queued work at once; whatever was running is journaled, not lost."""
    served = []

    def interrupting(request):
        served.append(request.path)
        if len(served) == 6:
            _thread.interrupt_main()  # Ctrl-C, delivered to the thread running the ingest
        return Response(image(int(request.path.strip("/").split(".")[0])), delay_s=0.05)

    rows = []
    for i in range(20):
        server.route(f"/{i}.jpg", interrupting)
        rows.append({"photoid": str(i), "downloadurl": server.url(f"/{i}.jpg")})
    file = yfcc_csv(tmp_path / "list.csv", rows)
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(KeyboardInterrupt):
        ingest(ws, file, workers=2)
    # 2 workers keep 8 fetches queued; only the ones already running may finish after the interrupt.
    server.wait_idle()  # a download running at the interrupt may still finish (and be journaled): wait for it
    assert server.hit_count() <= 6 + 2 + 1, f"{server.hit_count()} requests: queued downloads ran on"
    served_before = set(server.completed_paths())

    server.reset_log()
    report = ingest(ws, file, workers=2)
    assert report.resumed_from_journal == len(served_before)
    assert not set(server.completed_paths()) & served_before
    catalog = read_catalog(ws)
    assert len(catalog) == 20 and (catalog["status"] == "kept").all()


def test_an_unfinished_ingest_makes_ingest_stale_and_the_split_on_it_is_refused(server, tmp_path):
    """Audit AR 2: after a killed `ingest urls` (117 of 402 photos in the catalog) status said "ingest fresh",
    and split and export ran on it, three labels missing, without a word. While the ingest's journal is
    there, ingest is stale, a split says it works on part of the collection, and export and train refuse."""
    from curate.freshness import STALE
    from curate.freshness_workspace import workspace_states

    served = []

    def interrupting(request):
        served.append(request.path)
        if len(served) == 16:  # the second ingest's sixth download
            _thread.interrupt_main()
        return Response(image(int(request.path.strip("/").split(".")[0])), delay_s=0.05)

    rows = []
    for i in range(30):
        server.route(f"/{i}.jpg", interrupting)
        rows.append({"photoid": str(i), "usernsid": f"owner{i % 5}", "usertags": "cat" if i % 2 else "dog",
                     "downloadurl": server.url(f"/{i}.jpg")})
    ws = Workspace(tmp_path / "ws")
    ingest(ws, yfcc_csv(tmp_path / "first.csv", rows[:10]), workers=2)  # a first list, finished
    file = yfcc_csv(tmp_path / "list.csv", rows)  # the whole list: cut short
    with pytest.raises(KeyboardInterrupt):
        ingest(ws, file, workers=2)
    server.wait_idle()
    assert len(read_catalog(ws)) < 30
    ingest_state = workspace_states(ws)["ingest"]
    assert ingest_state.state == STALE and "interrupted `curate ingest urls`" in ingest_state.reasons[0]
    runner = CliRunner()
    split = runner.invoke(app, ["split", "--workspace", str(ws.root), "--by", "none"])
    assert split.exit_code == 0 and "works on those photos only" in split.output, split.output
    export = runner.invoke(app, ["export", "-f", "csv", "-o", str(tmp_path / "out"), "--workspace", str(ws.root)])
    assert export.exit_code == 3 and "curate ingest urls ... (the same command again)" in export.output, export.output
    ingest(ws, file, workers=2)  # finished: the journal goes
    states = workspace_states(ws)
    assert states["ingest"].state != STALE and states["split"].state == STALE  # split on part of it: stale


def test_killed_download_resumes_without_refetching(server, tmp_path):
    """SIGKILL a real `curate ingest urls` process mid-way, then run it again."""
    rows = []
    for i in range(12):
        server.route(f"/{i}.jpg", Response(image(i)))
        rows.append({"photoid": str(i), "downloadurl": server.url(f"/{i}.jpg")})
    file = yfcc_csv(tmp_path / "list.csv", rows)
    ws = Workspace(tmp_path / "ws")
    server.hold_after(5)  # the server "slows down" for good after five images
    command = [sys.executable, "-c", "import sys; from curate.cli.app import main; sys.argv[0] = 'curate'; main()",
               "ingest", "urls", str(file), "--workspace", str(ws.root), "--workers", "3", "--timeout", "20"]
    env = {**os.environ, "NO_PROXY": "127.0.0.0/8,localhost"}
    with open(tmp_path / "first.log", "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        journal = Journal(ws, SOURCE)
        deadline = time.monotonic() + 90  # a loaded machine took over 20 s to start curate and journal five
        while len(journal.load()) < 5 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()
        process.wait(10)
    assert len(journal.load()) == 5, (tmp_path / "first.log").read_text()
    served_first = set(server.completed_paths())
    assert len(served_first) == 5 and server.hit_count() > 5, "the kill did not land mid-download"
    server.release_held(abort=True)  # requests in flight at the kill never get an answer
    server_log_at_kill = len(server.log())

    result = CliRunner().invoke(app, ["ingest", "urls", str(file), "--workspace", str(ws.root), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["resumed_from_journal"] == 5
    catalog = read_catalog(ws)
    assert len(catalog) == 12 and catalog["photo_id"].is_unique
    assert (catalog["status"] == "kept").all() and catalog["sha256"].is_unique
    requested_again = {hit.path for hit in server.log()[server_log_at_kill:]}
    assert not requested_again & served_first, "a finished image was downloaded again"
    assert max(Counter(server.completed_paths()).values()) == 1


def test_every_download_failing_for_a_passing_reason_is_exit_4_and_retried_later(server, tmp_path):
    """Offline (or a dead proxy): no image at all could be fetched. That is one line and exit 4
    ("upstream failed"), not a 0/N success; the rows are recorded, and the next run fetches them."""
    refused = refused_url()
    rows = [{"photoid": str(i), "downloadurl": refused.replace("gone", f"gone{i}")} for i in range(5)]
    file = yfcc_csv(tmp_path / "offline.csv", rows)
    root = tmp_path / "ws"
    result = CliRunner().invoke(app, ["ingest", "urls", str(file), "--timeout", "2", "--retries", "0", "-w", str(root)])
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    assert "no image could be downloaded" in result.output and "run the same command again" in result.output
    catalog = read_catalog(Workspace(root))
    assert sorted(catalog["source_id"]) == [str(i) for i in range(5)]
    assert set(catalog["drop_reason"]) == {"connection_error"}
    # the network is back: the same file, rows pointing at a live server, all stored
    for i in range(5):
        server.route(f"/{i}.jpg", Response(image(i)))
    file = yfcc_csv(tmp_path / "offline.csv", [{"photoid": str(i), "downloadurl": server.url(f"/{i}.jpg")}
                                               for i in range(5)])
    result = CliRunner().invoke(app, ["ingest", "urls", str(file), "-w", str(root)])
    assert result.exit_code == 0, result.output
    assert (read_catalog(Workspace(root))["status"] == "kept").all()


def test_rows_without_a_url_do_not_hide_that_every_download_failed(tmp_path):
    """The Flickr audit's offline run: rows without a URL (bad_url) and repeated ids are dropped
    before any download, so they must not turn "every download failed" into a success."""
    refused = refused_url()
    rows = [{"photoid": str(i), "downloadurl": refused.replace("gone", f"gone{i}")} for i in range(3)]
    rows += [{"photoid": "9", "downloadurl": ""}, {"photoid": "0", "downloadurl": refused}]
    file = yfcc_csv(tmp_path / "offline.csv", rows)
    result = CliRunner().invoke(app, ["ingest", "urls", str(file), "--timeout", "2", "--retries", "0",
                                      "-w", str(tmp_path / "ws")])
    assert result.exit_code == 4, result.output
    assert "all 3 downloads this run failed (3 connection_error)" in " ".join(result.output.split())
    catalog = read_catalog(Workspace(tmp_path / "ws"))
    reasons = catalog["drop_reason"].value_counts().to_dict()
    assert reasons == {"connection_error": 3, "bad_url": 1, "duplicate_photo_id": 1}
    detail = dict(zip(catalog["drop_reason"], catalog["error_detail"]))  # an audit found these two without one
    assert detail["bad_url"] == "no URL in the row"
    # `--json` says what the run did on exit 4 too (audit C: it printed nothing), the error still on stderr
    again = CliRunner().invoke(app, ["ingest", "urls", str(file), "--timeout", "2", "--retries", "0",
                                     "-w", str(tmp_path / "ws"), "--json"])
    assert again.exit_code == 4 and "no image could be downloaded" in again.stderr
    facts = json.loads(again.stdout)
    assert facts["stored"] == 0 and facts["dropped_by_reason"]["connection_error"] == 3
    assert detail["duplicate_photo_id"] == "repeats an earlier row's photo id"


def test_some_downloads_failing_for_a_passing_reason_is_a_note(server, tmp_path):
    server.route("/ok.jpg", Response(image(1)))
    server.route("/busy.jpg", Response(status=503))
    file = yfcc_csv(tmp_path / "mixed.csv", [{"photoid": "1", "downloadurl": server.url("/ok.jpg")},
                                             {"photoid": "2", "downloadurl": server.url("/busy.jpg")},
                                             {"photoid": "3", "downloadurl": server.url("/absent.jpg")}])
    result = CliRunner().invoke(app, ["ingest", "urls", str(file), "--retries", "0", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "note: 1 download failed for a reason that may pass" in result.output


def test_a_photo_listed_twice_keeps_the_row_with_its_url(server, tmp_path):
    """The Flickr recordings audit (8a): 6 photos appear once from getInfo (no URL) and once from a
    list call (with it); the first row won, so the photo was dropped as bad_url and its URL row as
    duplicate_photo_id. The row with a URL is the one kept now; the other is the repeat."""
    server.route("/5536044022.jpg", Response(image(7)))
    file = yfcc_csv(tmp_path / "twice.csv", [{"photoid": "5536044022", "downloadurl": ""},
                                             {"photoid": "5536044022", "downloadurl": server.url("/5536044022.jpg")},
                                             {"photoid": "9", "downloadurl": server.url("/5536044022.jpg")}])
    ws = Workspace(tmp_path / "ws")
    ingest(ws, file)
    catalog = read_catalog(ws).set_index("photo_id")
    assert catalog.loc["urls:5536044022", "status"] == "kept"
    assert catalog.loc["urls:5536044022", "url"].endswith("/5536044022.jpg")
    assert catalog.loc["urls:5536044022#2", "drop_reason"] == "duplicate_photo_id"


def test_a_re_run_whose_few_retries_fail_again_is_a_note_not_an_outage(server, tmp_path):
    """An audit's third run retried only its 4 failing rows (a 503 that never clears); they failed again, and
    the command exited 4 pointing at the network or a proxy, beside 37 images stored earlier. With images of
    the table stored, failing retries are a note (retried next time), not exit 4."""
    server.route("/ok.jpg", Response(image(1)))
    server.route("/busy.jpg", Response(status=503))
    file = yfcc_csv(tmp_path / "mixed.csv", [{"photoid": "1", "downloadurl": server.url("/ok.jpg")},
                                             {"photoid": "2", "downloadurl": server.url("/busy.jpg")}])
    root = str(tmp_path / "ws")
    first = CliRunner().invoke(app, ["ingest", "urls", str(file), "--retries", "0", "-w", root])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["ingest", "urls", str(file), "--retries", "0", "-w", root])
    assert again.exit_code == 0, again.output  # only the 503 was tried, and failed again
    assert "no image could be downloaded" not in again.output
    assert "note: 1 download failed for a reason that may pass" in again.output


def test_a_list_label_column_with_several_labels_warns_as_the_folder_ingest_does(server, tmp_path):
    """Audit B: `curate ingest urls` gave a photo whose label column lists several labels no label, without the
    warning `curate ingest folder` prints for the same column."""
    for i in range(3):
        server.route(f"/{i}.jpg", Response(image(i)))
    table = pd.DataFrame({"photoid": ["1", "2", "3"], "url": [server.url(f"/{i}.jpg") for i in range(3)],
                          "label": [["red"], ["red", "black"], ["black", "white"]]})
    table.to_parquet(tmp_path / "list.parquet")
    ws = Workspace(tmp_path / "ws")
    report = ingest(ws, tmp_path / "list.parquet")
    [warning] = [w for w in report.warnings if "several labels" in w]
    assert warning.startswith("2 rows name several labels") and "row 2: red, black" in warning
    labels = read_catalog(ws).set_index("source_id")["label"]
    assert labels["1"] == "red" and labels[["2", "3"]].isna().all()
    single = tmp_path / "single.parquet"
    table.assign(label=[["red"], ["black"], ["white"]]).to_parquet(single)
    assert not [w for w in ingest(Workspace(tmp_path / "ws2"), single).warnings if "several labels" in w]
