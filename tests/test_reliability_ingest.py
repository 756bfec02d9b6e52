"""Issue L (reliability), the ingest half: each test reproduces one defect the adversarial
sweep found (items 2-10, 12 for `ingest folder --metadata`, JSON booleans from 15)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate import store
from curate.cli.app import app
from curate.errors import UsageError
from curate.ingest.engine_journal import Journal
from curate.ingest.flickr import ingest_flickr
from curate.ingest.flickr.pages import MalformedPage, SearchPage, parse_search_page
from curate.ingest.flickr.plan import FLICKR_CAP, MAX_SLICES, MAX_SPLIT_PARTS, Plan, root_slice
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.ingest.folder_ids import REGISTRY_NAME
from curate.licences import canonical_licences
from curate.records import unique_photo_ids
from curate.redact import redact_url
from curate.workspace import Workspace, read_catalog
from tests.fake_flickr import FakeFlickr, make_photos
from tests.helpers import jpeg_bytes
from tests.httpfixtures import FakeServer, Response

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def photo(i: int) -> bytes:
    return jpeg_bytes(color=(i * 41 % 256, i * 13 % 256, (i * 7 + 60) % 256))


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def one_line_error(result, code: int) -> str:
    """The one `error:` line of a command that failed with `code` (progress bars aside)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def ingest(ws_root: Path, folder: Path, **options):
    ws = Workspace(ws_root)
    report = ingest_folder(ws, FolderOptions(folder=folder, workers=1, **options))
    return report, read_catalog(ws)


# -- 2. the lock on a workspace that does not exist yet ---------------------------------------

HOLD_NEW = ("import sys, time\nfrom pathlib import Path\nfrom curate.workspace import Workspace, exclusive\n"
            "with exclusive(Workspace(Path(sys.argv[1]))):\n    print('held', flush=True)\n    time.sleep(60)\n")


@pytest.mark.skipif(os.name != "posix", reason="the workspace lock is POSIX only")
def test_a_first_ingest_into_a_new_workspace_holds_the_lock_so_a_second_one_stops(tmp_path):
    folder = tmp_path / "photos"
    write(folder / "cats" / "a.jpg", photo(1))
    ws_root = tmp_path / "new" / "ws"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_NEW, str(ws_root)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert ws_root.is_dir(), "the first command did not create the workspace before working"
        with pytest.raises(UsageError, match="another curate command is changing the workspace"):
            ingest_folder(Workspace(ws_root), FolderOptions(folder=folder, workers=1))
    finally:
        holder.kill()
        holder.wait()
    assert not (ws_root / "catalog.parquet").exists()


# -- 3. a Flickr page claiming an absurd total -----------------------------------------------

def page(total: int, photos: int = 0) -> SearchPage:
    return SearchPage(page=1, pages=max(1, total // 250), per_page=250, total=total)


def new_plan() -> Plan:
    return Plan("k", {}, {}, None, per_page=250, cap=FLICKR_CAP, slices=[root_slice(None, None)])


def test_a_huge_total_splits_into_a_bounded_number_of_slices():
    plan = new_plan()
    plan.take_page(0, page(10**9))  # 250,000 x the cap: was one slice per ~8 hours since 1800
    assert 2 <= len(plan.slices) <= MAX_SPLIT_PARTS
    # every slice keeps claiming the same: the plan stops growing at its bound
    while (request := plan.next_request()) is not None and plan.pages_done < 20_000:
        index, _ = request
        plan.take_page(index, page(10**9) if plan.slices[index].total is None else page(0))
    assert plan.complete and len(plan.slices) <= MAX_SLICES
    assert plan.truncated_photos > 0


def test_an_absurd_total_is_a_malformed_page():
    payload = {"stat": "ok", "photos": {"page": 1, "pages": 4 * 10**12, "perpage": 250, "total": 10**15,
                                        "photo": []}}
    with pytest.raises(MalformedPage, match="implausible"):
        parse_search_page(payload, {})


class AbsurdFlickr(FakeFlickr):
    def _search(self, params):
        answer = super()._search(params)
        answer["photos"]["total"] = 10**15
        return answer


def test_a_flickr_answer_with_total_10_15_ends_the_listing_with_malformed_pages(tmp_path, monkeypatch):
    from tests.test_flickr import options

    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")
    with AbsurdFlickr(make_photos(300), serve_images=False) as fake:
        report = ingest_flickr(Workspace(tmp_path / "ws"), options(fake, download_images=False),
                               api_key=fake.api_key)
    assert report.malformed_pages >= 1 and report.slices == 1


# -- 4. a file name that is not UTF-8 -------------------------------------------------------

def test_a_non_utf8_file_name_is_a_row_not_a_crash(tmp_path):
    folder = tmp_path / "photos"
    write(folder / "cats" / "ok.jpg", photo(1))
    try:
        write(Path(os.fsdecode(bytes(folder) + b"/cats/caf\xe9.jpg")), photo(2))
        write(Path(os.fsdecode(bytes(folder) + b"/d\xe9/x.jpg")), photo(3))
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    report, catalog = ingest(tmp_path / "ws", folder)
    assert report.stored == 3
    by_id = catalog.set_index("source_id")
    assert set(by_id.index) == {"cats/ok.jpg", "cats/caf\\xe9.jpg", "d\\xe9/x.jpg"}
    assert by_id.loc["d\\xe9/x.jpg", "label"] == "d\\xe9"
    assert by_id["sha256"].notna().all()


# -- 5. sidecar ids that collide with the de-duplication suffix ------------------------------

def test_generated_ids_never_collide_with_given_ones():
    ids, repeat = unique_photo_ids("f", pd.Series(["a", "a", "a#2", "a", "a#3"]))
    assert ids.is_unique and repeat.tolist() == [False, True, False, True, False]


def test_sidecar_ids_a_a_a2_ingest_and_reingest(tmp_path):
    folder = tmp_path / "photos"
    for i in range(3):
        write(folder / f"{i}.jpg", photo(i))
    (folder / "metadata.csv").write_text("file,id\n0.jpg,a\n1.jpg,a\n2.jpg,a#2\n")
    for _ in range(2):
        result = cli("ingest", "folder", str(folder), "--workspace", str(tmp_path / "ws"))
        assert result.exit_code == 0, result.output
    catalog = read_catalog(Workspace(tmp_path / "ws"))
    assert catalog["photo_id"].is_unique and len(catalog) == 3
    assert catalog["drop_reason"].tolist().count("duplicate_photo_id") == 1


# -- 6 and 9. a full disk, a failed write, a local bug: never journaled as done ----------------

def fail_writes(monkeypatch, code: int, after: int = 0):
    real = store.atomic_write_bytes
    calls = {"n": 0}

    def write_or_fail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "atomic_write_bytes", write_or_fail)


def test_disk_full_is_one_line_exit_2_and_the_rerun_stores_everything(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    for i in range(4):
        write(folder / "cats" / f"{i}.jpg", photo(i))
    ws = Workspace(tmp_path / "ws")
    args = ("ingest", "folder", str(folder), "--workers", "1", "--workspace", str(ws.root))
    with monkeypatch.context() as patch:
        fail_writes(patch, errno.ENOSPC, after=1)
        line = one_line_error(cli(*args), 2)
    assert "no space left" in line
    journaled = Journal(ws, "folder").load()
    assert all(outcome.get("drop_reason") is None for outcome in journaled.values())
    assert len(journaled) <= 1
    result = cli(*args)
    assert result.exit_code == 0, result.output
    # the photo the first run finished comes from its journal, and the line says so (it did not before)
    assert len(journaled) == 1 and "resumed from an interrupted run 1" in result.output
    catalog = read_catalog(ws)
    assert len(catalog) == 4 and catalog["sha256"].notna().all() and catalog["drop_reason"].isna().all()


def test_a_failed_write_is_retried_by_the_next_run(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    write(folder / "cats" / "a.jpg", photo(1))
    with monkeypatch.context() as patch:
        fail_writes(patch, errno.EIO)
        _, first = ingest(tmp_path / "ws", folder)
    assert first["drop_reason"].tolist() == ["ingest_error"]
    _, second = ingest(tmp_path / "ws", folder)
    assert second["drop_reason"].isna().all() and second["sha256"].notna().all()


@pytest.mark.parametrize("timeout", ["inf", "1e308", "86400"])
def test_absurd_timeouts_are_refused_up_front(tmp_path, timeout):
    urls = tmp_path / "urls.csv"
    urls.write_text("id,url\n1,http://127.0.0.1:9/a.jpg\n")
    line = one_line_error(cli("ingest", "urls", str(urls), "--timeout", timeout,
                              "--workspace", str(tmp_path / "ws")), 2)
    assert "--timeout" in line
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


# -- 7. two folders whose relative paths overlap ---------------------------------------------

def two_folders(tmp_path: Path) -> tuple[Path, Path]:
    fa, fb = tmp_path / "fa", tmp_path / "fb"
    write(fa / "chicago" / "x.jpg", photo(1))
    write(fa / "chicago" / "y.jpg", photo(2))
    write(fb / "chicago" / "x.jpg", photo(3))
    return fa, fb


def test_a_second_folder_with_the_same_relative_paths_is_ingested_too(tmp_path):
    fa, fb = two_folders(tmp_path)
    ingest(tmp_path / "ws", fa)
    report, catalog = ingest(tmp_path / "ws", fb)
    assert report.already_done == 0 and report.stored == 1
    assert len(catalog) == 3 and catalog["photo_id"].is_unique and catalog["sha256"].nunique() == 3
    rerun, again = ingest(tmp_path / "ws", fa)
    assert rerun.already_done == 2 and len(again) == 3


def test_a_workspace_from_before_namespaces_finds_its_rows_by_content(tmp_path):
    fa, fb = two_folders(tmp_path)
    ws_root = tmp_path / "ws"
    ingest(ws_root, fa)
    (ws_root / REGISTRY_NAME).unlink(missing_ok=True)  # as a workspace made before the registry existed
    moved = fa.rename(tmp_path / "renamed")  # and the folder moved since
    report, catalog = ingest(ws_root, moved)
    assert report.already_done == 2 and len(catalog) == 2
    assert set(catalog["photo_id"]) == {"folder:chicago/x.jpg", "folder:chicago/y.jpg"}
    report, catalog = ingest(ws_root, fb)
    assert report.stored == 1 and len(catalog) == 3


# -- 8. credentials in URLs -----------------------------------------------------------------

SECRETS = ("hunter2", "K3Y", "T0K", "S1G")


def test_url_credentials_are_redacted_in_the_catalog_but_used_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")
    with FakeServer() as server:
        for i in range(3):
            server.route(f"/{i}.jpg", Response(photo(i)))
        host = server.base_url.removeprefix("http://")
        urls = [f"http://bob:hunter2@{host}/0.jpg", f"http://{host}/1.jpg?size=l&api_key=K3Y",
                f"http://{host}/2.jpg?token=T0K&sig=S1G"]
        listing = tmp_path / "urls.csv"
        listing.write_text("id,url\n" + "".join(f"{i},{url}\n" for i, url in enumerate(urls)))
        result = cli("ingest", "urls", str(listing), "--workspace", str(tmp_path / "ws"))
        assert result.exit_code == 0, result.output
        kept = cli("ingest", "urls", str(listing), "--keep-url-secrets", "--workspace", str(tmp_path / "ws2"))
        assert kept.exit_code == 0, kept.output
    catalog = read_catalog(Workspace(tmp_path / "ws"))
    assert catalog["sha256"].notna().all()
    stored = " ".join(catalog["url"])
    assert not any(secret in stored for secret in SECRETS), stored
    assert "size=l" in stored and "api_key=" in stored
    assert read_catalog(Workspace(tmp_path / "ws2"))["url"].tolist() == urls


def test_redact_url_keeps_the_rest_of_the_url():
    assert redact_url("https://h.example/a.jpg?w=1&Signature=abc#top") == "https://h.example/a.jpg?w=1&Signature=REDACTED#top"
    assert redact_url("https://u@h.example:8080/a.jpg") == "https://h.example:8080/a.jpg"
    assert redact_url("https://h.example/a.jpg?w=1") == "https://h.example/a.jpg?w=1"


def test_key_names_that_end_in_key_are_secrets_in_the_catalog_and_the_store_messages():
    """Azure's subscription-key, x-api-key and private_key slipped past the name list; the object
    store's messages had a list of their own (masking `design=` as a signature, missing fragments)."""
    from curate.objectstore import mask_secrets

    url = "https://h.example/a.jpg?subscription-key=s1&x-api-key=s2&private_key=s3&monkey=m&design=d#access_token=s4"
    for cleaned in (redact_url(url), mask_secrets(f"cannot read {url}")):
        assert not any(secret in cleaned for secret in ("s1", "s2", "s3", "s4")), cleaned
        assert "monkey=m" in cleaned and "design=d" in cleaned
    assert mask_secrets("s3://AKIA:pw@bucket/x?sig=abc") == "s3://***@bucket/x?sig=***"


# -- 10 and 15. JSON sidecar numbers and booleans --------------------------------------------

def test_json_sidecar_ids_and_licences_are_read_as_text_and_booleans_are_not_coordinates(tmp_path):
    folder = tmp_path / "photos"
    for i in range(3):
        write(folder / f"{i}.jpg", photo(i))
    rows = [{"file": "0.jpg", "id": 1234567890123456789, "license": 4, "lat": True, "lon": True},
            {"file": "1.jpg", "id": 1234567890123456788, "license": None, "lat": 41.9, "lon": -87.6},
            {"file": "2.jpg", "id": None}]
    (folder / "metadata.json").write_text(json.dumps(rows))
    _, catalog = ingest(tmp_path / "ws", folder)
    by_file = catalog.set_index("source_id")
    assert {"1234567890123456789", "1234567890123456788"} <= set(by_file.index)
    assert catalog["drop_reason"].isna().all(), catalog["drop_reason"].tolist()
    first = by_file.loc["1234567890123456789"]
    assert first["license"] == canonical_licences(pd.Series(["4"]))[0] != "4.0"
    assert pd.isna(first["lat"]) and first["coord_issue"] == "not_a_number"
    assert by_file.loc["1234567890123456788", "lat"] == pytest.approx(41.9)


# -- 12. special files as --metadata -----------------------------------------------------------

@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_as_metadata_is_one_line(tmp_path):
    folder = tmp_path / "photos"
    write(folder / "a.jpg", photo(1))
    line = one_line_error(cli("ingest", "folder", str(folder), "--metadata", "/dev/zero",
                              "--workspace", str(tmp_path / "ws")), 2)
    assert "not a regular file" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_fifo_as_metadata_does_not_hang(tmp_path):
    folder = tmp_path / "photos"
    write(folder / "a.jpg", photo(1))
    fifo = tmp_path / "metadata.csv"
    os.mkfifo(fifo)
    # a safety net for the old behaviour (blocking forever), not a speed check
    done = subprocess.run([sys.executable, "-c", "from curate.cli.app import main; main()", "ingest", "folder",
                           str(folder), "--metadata", str(fifo), "--workspace", str(tmp_path / "ws")],
                          cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_an_oversized_metadata_file_is_refused(tmp_path, monkeypatch):
    from curate.ingest import folder_metadata

    folder = tmp_path / "photos"
    write(folder / "a.jpg", photo(1))
    (folder / "metadata.csv").write_text("file\n" + "a.jpg\n" * 100)
    monkeypatch.setattr(folder_metadata, "MAX_METADATA_BYTES", 64)
    with pytest.raises(UsageError, match="byte limit"):
        ingest_folder(Workspace(tmp_path / "ws"), FolderOptions(folder=folder))


@pytest.mark.parametrize("kind,key,extra", [
    ("flickr", "api_read_timeout_s", 'tags = ["chicago"]'),
    ("flickr", "api_connect_timeout_s", 'tags = ["chicago"]'),
    ("commons", "api_timeout_s", 'category = "Skylines of Chicago"'),
])
@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "0"])
def test_absurd_api_timeouts_in_a_recipe_are_refused_before_any_step(tmp_path, kind, key, extra, value):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'name = "r"\n[[labels]]\nname = "chicago"\n[[sources]]\nkind = "{kind}"\n{extra}\n'
                      f"{key} = {value}\n")
    line = one_line_error(cli("run", str(recipe), "--workspace", str(tmp_path / "ws")), 2)
    assert key in line and "seconds" in line
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


def _interrupted_demo_ingest(tmp_path, monkeypatch, workers: int) -> tuple[list[str], set[str]]:
    """(photo ids fetched, photo ids journaled) of a demo ingest that a Ctrl-C stops (set up by the caller)."""
    from curate.demo.config import DemoConfig
    from curate.ingest import demo as demo_ingest

    fetched = []
    renderer = demo_ingest.PhotoRenderer

    def counting(truth, config):
        render = renderer(truth, config)
        return lambda record: (render(record), fetched.append(record["photo_id"]))[0]

    monkeypatch.setattr(demo_ingest, "PhotoRenderer", counting)
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(KeyboardInterrupt):
        demo_ingest.ingest_demo(ws, DemoConfig(photos=40, seed=2, image_width=64, image_height=48), workers=workers)
    return fetched, set(Journal(ws, "demo").load())


def test_ctrl_c_while_finished_downloads_are_journaled_loses_none_of_them(tmp_path, monkeypatch):
    """Ctrl-C can land while the engine journals a batch of finished fetches (here: in the progress
    update after the first of them). Every fetch that finished must reach the journal, or the next
    run fetches it again (`test_flickr`'s resume test saw one image downloaded twice on a loaded
    machine). The engine's wait is slowed so that several fetches finish together."""
    from contextlib import contextmanager

    import curate.ingest.engine_fetch as engine_fetch

    @contextmanager
    def interrupting_bar(description, total=None):
        def advance(n=1):
            raise KeyboardInterrupt
        yield advance

    real_wait = engine_fetch.wait

    def slow_wait(futures, *args, **kwargs):
        time.sleep(0.3)  # every fetch running by now has finished: `wait` returns them together
        return real_wait(futures, *args, **kwargs)

    monkeypatch.setattr(engine_fetch, "progress_bar", interrupting_bar)
    monkeypatch.setattr(engine_fetch, "wait", slow_wait)
    fetched, journaled = _interrupted_demo_ingest(tmp_path, monkeypatch, workers=4)
    assert len(fetched) >= 4  # the interrupt came after a batch of four finished together
    assert set(fetched) <= journaled


def test_ctrl_c_just_after_a_fetch_is_submitted_leaves_no_fetch_out_of_the_journal(tmp_path, monkeypatch):
    """Ctrl-C can land after the pool took a fetch and before the engine noted its future. That fetch
    must still be cancelled or journaled: the pool's shutdown ran it unjournaled, and the next run
    fetched it again."""
    from concurrent.futures import ThreadPoolExecutor

    import curate.ingest.engine_fetch as engine_fetch

    class InterruptedAfterSubmit(ThreadPoolExecutor):
        submitted = 0

        def submit(self, *args, **kwargs):
            future = super().submit(*args, **kwargs)
            InterruptedAfterSubmit.submitted += 1
            if InterruptedAfterSubmit.submitted == 12:  # a later window's fill, some fetches journaled
                time.sleep(0.2)  # the fetch is running or done, its future not noted yet
                raise KeyboardInterrupt
            return future

    monkeypatch.setattr(engine_fetch, "ThreadPoolExecutor", InterruptedAfterSubmit)
    fetched, journaled = _interrupted_demo_ingest(tmp_path, monkeypatch, workers=2)
    assert fetched and set(fetched) <= journaled


def test_a_first_ingest_interrupted_and_resumed_is_marked_with_the_border_rule(tmp_path, monkeypatch):
    """Review CE: a workspace's first ingest, killed and run again, was never marked with the current border rule,
    so its next `curate filter` decoded every image once more to recompute phash_trimmed."""
    from contextlib import contextmanager

    import curate.ingest.engine_fetch as engine_fetch
    from curate.demo.config import DemoConfig
    from curate.ingest import demo as demo_ingest
    from curate.vision import features

    @contextmanager
    def interrupting_bar(description, total=None):
        def advance(n=1):
            raise KeyboardInterrupt
        yield advance

    with monkeypatch.context() as patched:
        patched.setattr(engine_fetch, "progress_bar", interrupting_bar)
        _interrupted_demo_ingest(tmp_path, patched, workers=2)
    ws = Workspace(tmp_path / "ws")
    demo_ingest.ingest_demo(ws, DemoConfig(photos=40, seed=2, image_width=64, image_height=48), workers=2)
    assert read_catalog(ws)["sha256"].notna().sum() > 30
    assert features.border_rule_current(ws.root)


def test_no_border_rule_mark_while_another_ingests_journal_waits(tmp_path):
    """Review CT: an older curate's killed ingest of another folder may resume into this workspace later, with
    hashes of an older border rule; marking the workspace at this fresh ingest's start would hide them."""
    from curate.demo.config import DemoConfig
    from curate.ingest import demo as demo_ingest
    from curate.vision import features

    ws = Workspace(tmp_path / "ws")
    ws.journal_dir.mkdir(parents=True)
    (ws.journal_dir / "ingest-folder@other.jsonl").write_text(json.dumps({"photo_id": "folder@other:a.jpg"}) + "\n")
    demo_ingest.ingest_demo(ws, DemoConfig(photos=20, seed=2, image_width=64, image_height=48), workers=2)
    assert not features.border_rule_current(ws.root)
