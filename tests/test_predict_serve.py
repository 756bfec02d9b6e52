"""`classify predict` and `classify serve` on a tiny untrained run.

The oracle is `Predictor.probabilities` on the same image decoded the documented way
(`open_rgb` with the run's resize): the CSV and the HTTP answers must carry exactly those
labels and probabilities, in rank order. The server runs for real on 127.0.0.1.
"""

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
import uvicorn
from typer.testing import CliRunner

from classify.cli import app
from classify.model import Predictor
from classify.serve import create_app
from curate.store import open_rgb
from tests.helpers import header_only_png, start_server, untrained_run
from tests.helpers import smooth_photo as photo

CLASSES = ["harbour", "skyline", "tower"]
MAX_UPLOAD_BYTES = 50_000
runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return untrained_run(tmp_path_factory.mktemp("run"), CLASSES)


@pytest.fixture(scope="module")
def predictor(run_dir):
    return Predictor(run_dir, "cpu")


def expected(predictor, images: list[bytes]) -> np.ndarray:
    """(N, classes) probabilities straight from the Predictor (one forward pass)."""
    from curate.vision.images import draft_side  # the decode `classify evaluate` and `curate embed` use

    return predictor.probabilities([open_rgb(io.BytesIO(data), min_side=draft_side(predictor.preprocess))
                                    for data in images])


def assert_ranked_like(ranked: list[tuple[str, float]], probabilities: np.ndarray, k: int) -> None:
    """`ranked` holds the k most probable labels with their probabilities, most probable first."""
    assert len(ranked) == k
    by_label = dict(zip(CLASSES, probabilities))
    for (label, probability), best in zip(ranked, np.sort(probabilities)[::-1]):
        assert probability == pytest.approx(by_label[label], abs=1e-5)
        assert probability == pytest.approx(best, abs=1e-5)
    top = np.sort(probabilities)[::-1]
    if top[0] - top[1] > 1e-4:
        assert ranked[0][0] == CLASSES[int(np.argmax(probabilities))]


# ---- classify predict ---------------------------------------------------------------------------

def test_predict_writes_one_row_per_file_matching_the_predictor(tmp_path, run_dir, predictor):
    photos = tmp_path / "photos"
    (photos / "sub" / "deeper").mkdir(parents=True)
    good = {
        photos / "a.jpg": photo(1, 300, 200, "JPEG"),  # large enough for JPEG draft decoding
        photos / "sub" / "b.png": photo(2, 120, 90, "PNG"),
        photos / "sub" / "deeper" / "c.JPEG": photo(3, 64, 80, "JPEG"),
        tmp_path / "loose.webp": photo(4, 100, 100, "WEBP"),
    }
    bad = {photos / "sub" / "text.jpg": (b"<html>404 not found</html>\n" * 5, "not_an_image"),
           photos / "empty.jpg": (b"", "empty_file")}
    for path, data in [*good.items(), *((p, d) for p, (d, _) in bad.items())]:
        path.write_bytes(data)
    (photos / "notes.txt").write_text("not an image extension: skipped when scanning a folder")
    out = tmp_path / "out" / "preds.csv"

    result = runner.invoke(app, ["predict", str(run_dir), str(photos), str(tmp_path / "loose.webp"),
                                 "--out", str(out), "--top-k", "2", "--batch-size", "2", "--device", "cpu"])

    assert result.exit_code == 0, result.output
    assert "4 predicted, 2 unreadable" in result.output and str(out) in result.output
    assert [p.name for p in out.parent.iterdir()] == ["preds.csv"]  # atomic write: no temp file left
    with out.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = {row["path"]: row for row in reader}
    assert reader.fieldnames == ["path", "label_1", "probability_1", "label_2", "probability_2", "error"]
    assert set(rows) == {str(p) for p in [*good, *bad]}  # recursive, extension-filtered, nothing else
    references = dict(zip(good, expected(predictor, list(good.values()))))
    spread = np.ptp(np.stack(list(references.values())), axis=0).max()
    assert spread > 1e-3, "the test model gives every image the same answer; it could not catch a row mix-up"
    for path in good:
        row = rows[str(path)]
        assert row["error"] == ""
        ranked = [(row[f"label_{i}"], float(row[f"probability_{i}"])) for i in (1, 2)]
        assert_ranked_like(ranked, references[path], k=2)
    for path, (_, reason) in bad.items():
        row = rows[str(path)]
        assert row["error"].split(":")[0] == reason
        assert row["label_1"] == row["probability_1"] == ""
    # what the bytes are, not a Python class name (audit E: "not_an_image: UnidentifiedImageError")
    assert rows[str(photos / "sub" / "text.jpg")]["error"] == "not_an_image: an HTML page"


def test_predict_names_the_files_and_linked_folders_it_passed_over(tmp_path, run_dir):
    photos, elsewhere = tmp_path / "phone", tmp_path / "elsewhere"
    photos.mkdir()
    elsewhere.mkdir()
    (photos / "IMG_1.jpg").write_bytes(photo(7, 80, 60, "JPEG"))
    (elsewhere / "IMG_2.jpg").write_bytes(photo(8, 80, 60, "JPEG"))
    (photos / "trip").symlink_to(elsewhere, target_is_directory=True)
    for name in ("IMG_3.dng", "IMG_4.DNG", "clip.mov", "00000.tar", "metadata.csv", "notes.txt"):
        (photos / name).write_bytes(b"not read")
    out = tmp_path / "preds.csv"
    result = runner.invoke(app, ["predict", str(run_dir), str(photos), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "warning: 3 files in the folder are not in a format predict reads" in output
    assert "(.dng 2, .mov 1);" in output  # 3 files: the sidecar and the notes are not counted
    assert "warning: 1 tar shard could not be read in full: 00000.tar" in output  # a tar is read, this one is junk
    assert "1 linked folder was not followed" in output and "phone/trip" in output
    with out.open(newline="") as handle:
        assert [row["path"] for row in csv.DictReader(handle)] == [str(photos / "IMG_1.jpg")]

    only_raw = tmp_path / "raw"
    only_raw.mkdir()
    (only_raw / "IMG_5.dng").write_bytes(b"not read")
    result = runner.invoke(app, ["predict", str(run_dir), str(only_raw), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 2 and "passed over: .dng 1" in " ".join(result.output.split()), result.output


def test_predict_reads_photos_inside_tar_shards_and_parquet_files(tmp_path, run_dir, predictor):
    """A folder of img2dataset output (WebDataset tars or Parquet): each photo is predicted from its bytes in
    place, as the same bytes given as a file would be; a member or row that is no photo is a row with a reason."""
    import tarfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "scrape"
    folder.mkdir()
    shots = [photo(20 + i, 120, 90, "JPEG") for i in range(4)]
    with tarfile.open(folder / "00000.tar", "w") as archive:
        for name, data in (("a.jpg", shots[0]), ("a.json", b"{}"), ("b.jpg", shots[1]), ("c.jpg", b"<html>")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    pq.write_table(pa.table({"key": ["k0", "k1", "k2"], "jpg": [shots[2], None, shots[3]]}), folder / "00001.parquet")
    out = tmp_path / "preds.csv"
    result = runner.invoke(app, ["predict", str(run_dir), str(folder), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    tar, table = folder / "00000.tar", folder / "00001.parquet"
    assert list(rows) == [f"{tar}/a.jpg", f"{tar}/b.jpg", f"{tar}/c.jpg", f"{table}/k0.jpg", f"{table}/k1.jpg",
                          f"{table}/k2.jpg"]
    assert rows[f"{tar}/c.jpg"]["error"].startswith("not_an_image")
    assert rows[f"{table}/k1.jpg"]["error"].startswith("missing_file")
    good = [f"{tar}/a.jpg", f"{tar}/b.jpg", f"{table}/k0.jpg", f"{table}/k2.jpg"]
    for path, probabilities in zip(good, expected(predictor, shots)):
        ranked = [(rows[path][f"label_{i}"], float(rows[path][f"probability_{i}"])) for i in (1, 2, 3)]
        assert_ranked_like(ranked, probabilities, k=3)


def test_predict_top_k_is_capped_at_the_number_of_classes(tmp_path, run_dir, monkeypatch):
    (tmp_path / "a.png").write_bytes(photo(5, 80, 80, "PNG"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["predict", str(run_dir), "a.png", "--top-k", "10", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "predictions.csv").open(newline="") as handle:  # the default --out
        (row,) = csv.DictReader(handle)
    assert sorted(row[f"label_{i}"] for i in (1, 2, 3)) == CLASSES
    assert "label_4" not in row


def test_predict_when_no_file_is_an_image_writes_the_reasons_and_exits_3(tmp_path, run_dir):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"<html>gone</html>")
    out = tmp_path / "preds.csv"
    result = runner.invoke(app, ["predict", str(run_dir), str(tmp_path / "a.jpg"), str(tmp_path / "b.png"),
                                 "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 3, result.output
    assert "none of the 2 files" in result.output and "Traceback" not in result.output
    with out.open(newline="") as handle:
        errors = sorted(row["error"].split(":")[0] for row in csv.DictReader(handle))
    assert errors == ["empty_file", "not_an_image"]


@pytest.mark.parametrize("args, needle", [
    (["{run}", "{tmp}/missing.jpg"], "does not exist"),
    (["{run}"], "at least one image or folder"),
    (["{tmp}/not-a-run", "{tmp}/a.png"], "not a trained run"),
    (["{run}", "{tmp}/a.png", "--top-k", "0"], "at least 1"),
    (["{run}", "{tmp}/a.png", "--out", "{tmp}"], "is a folder"),
])
def test_predict_usage_errors_are_one_line_exit_2(tmp_path, run_dir, args, needle):
    (tmp_path / "a.png").write_bytes(photo(6, 64, 64, "PNG"))
    (tmp_path / "not-a-run").mkdir()
    args = [a.format(run=run_dir, tmp=tmp_path) for a in args]
    result = runner.invoke(app, ["predict", *args, "--device", "cpu"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.output


def test_predict_replaces_only_an_earlier_predictions_csv(tmp_path, run_dir):
    """Audit X: `-o ws/catalog.parquet`, `-o RUN/model.json` and `predict photo.jpg -o photo.jpg` each
    replaced the file with the CSV, exit 0. Any existing file that is not a predictions CSV is refused
    now, untouched; an earlier predictions CSV is still replaced."""
    photo_path = tmp_path / "a.png"
    photo_path.write_bytes(photo(6, 64, 64, "PNG"))
    catalog = tmp_path / "catalog.parquet"
    catalog.write_bytes(b"PAR1 a catalog PAR1")
    model = tmp_path / "model.json"
    model.write_text('{"classes": ["a", "b"]}')
    for victim in (catalog, model, photo_path):
        before = victim.read_bytes()
        result = runner.invoke(app, ["predict", str(run_dir), str(photo_path), "--out", str(victim), "--device", "cpu"])
        assert result.exit_code == 2, result.output
        assert "exists and is not a predictions CSV" in result.output and "Traceback" not in result.output
        assert victim.read_bytes() == before
    out = tmp_path / "preds.csv"
    for _ in range(2):  # written, then replaced
        result = runner.invoke(app, ["predict", str(run_dir), str(photo_path), "--out", str(out), "--device", "cpu"])
        assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        assert [row["path"] for row in csv.DictReader(handle)] == [str(photo_path)]
    # audit O: its own CSV with a header past 4 KB (200 classes at --top-k 200), a spreadsheet's re-save
    # (BOM, ";") and an empty file were refused
    from classify.predict import is_predictions_csv

    wide = ",".join(["path", *(f"label_{k},probability_{k}" for k in range(1, 201)), "error"])
    for text in (wide, "\ufeffpath;label_1;probability_1;error", '"path","label_1","probability_1","error"', ""):
        (tmp_path / "again.csv").write_text(text + ("\n/x.jpg" if text else ""), encoding="utf-8")
        assert is_predictions_csv(tmp_path / "again.csv"), text[:40]
    (tmp_path / "again.csv").write_text("path,label,note\n/x.jpg,cat,mine\n")
    assert not is_predictions_csv(tmp_path / "again.csv")


# ---- classify serve -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_url(predictor):
    app_ = create_app(predictor, max_upload_bytes=MAX_UPLOAD_BYTES, top_k=3)
    server, thread, url = start_server(app_)
    yield url
    server.should_exit = True
    thread.join(10)


def post_image(base_url: str, data: bytes, name: str = "x.jpg", **params) -> requests.Response:
    return requests.post(f"{base_url}/predict", files={"file": (name, data, "image/jpeg")}, params=params, timeout=30)


def test_health(base_url):
    answer = requests.get(f"{base_url}/health", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "classes": CLASSES, "backbone": "efficientnet_lite0"}


@pytest.mark.parametrize("fmt, size", [("PNG", (120, 90)), ("JPEG", (300, 200))])
def test_predict_answers_equal_the_predictor(base_url, predictor, fmt, size):
    data = photo(7, *size, fmt)
    answer = post_image(base_url, data, name=f"x.{fmt.lower()}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == {"backbone": "efficientnet_lite0", "classes": 3}
    ranked = [(p["label"], p["probability"]) for p in body["predictions"]]
    assert_ranked_like(ranked, expected(predictor, [data])[0], k=3)


def test_top_k_query(base_url):
    data = photo(8, 80, 80, "PNG")
    assert len(post_image(base_url, data, top_k=1).json()["predictions"]) == 1
    assert len(post_image(base_url, data, top_k=99).json()["predictions"]) == 3
    assert post_image(base_url, data, top_k=0).status_code == 422


@pytest.mark.parametrize("data, status, needle", [
    (b"<html><body>404 not found</body></html>\n" * 3, 415, "HEIC, AVIF"),  # what it reads (an audit: unnamed)
    (header_only_png(20_000, 20_000), 413, "decompression bomb"),
    (b"", 422, "empty_file"),
    (photo(9, 300, 200, "JPEG")[:2000], 422, "truncated_image"),
    (photo(10, 20, 20, "PNG"), 422, "too_small"),
])
def test_bad_uploads(base_url, data, status, needle):
    answer = post_image(base_url, data)
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["detail"]


def test_bomb_upload_is_tiny():
    assert len(header_only_png(20_000, 20_000)) < 200  # refused for its header, not its size


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_upload_is_413(base_url, chunked):
    data = np.random.default_rng(0).integers(0, 256, 2 * MAX_UPLOAD_BYTES, dtype=np.uint8).tobytes()
    if chunked:  # no Content-Length: the server must count the bytes it reads
        boundary = "b0undary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        pieces = (body[i:i + 8192] for i in range(0, len(body), 8192))
        answer = requests.post(f"{base_url}/predict", data=pieces, timeout=30,
                               headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    else:
        answer = post_image(base_url, data)
    assert answer.status_code == 413, answer.text
    assert f"{MAX_UPLOAD_BYTES:,}-byte limit" in answer.json()["detail"]


def test_missing_file_field_is_422(base_url):
    assert requests.post(f"{base_url}/predict", data={"other": "x"}, timeout=10).status_code == 422


def test_docs_and_openapi(base_url):
    assert requests.get(f"{base_url}/docs", timeout=10).status_code == 200
    paths = requests.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]
    assert "post" in paths["/predict"] and "get" in paths["/health"]


def test_concurrent_requests_all_succeed_consistently(base_url, predictor):
    images = [photo(11, 120, 90, "PNG"), photo(12, 300, 200, "JPEG")]
    references = expected(predictor, images)
    assert np.abs(references[0] - references[1]).max() > 1e-3  # answers that could be told apart
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: (i % 2, post_image(base_url, images[i % 2])), range(8)))
    for which, answer in answers:
        assert answer.status_code == 200, answer.text
        ranked = [(p["label"], p["probability"]) for p in answer.json()["predictions"]]
        assert_ranked_like(ranked, references[which], k=3)


def test_serve_command_starts_uvicorn_with_the_app(run_dir, monkeypatch):
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, host, port, **_: started.update(app=app_, host=host, port=port))
    result = runner.invoke(app, ["serve", str(run_dir), "--port", "8123", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123" in result.output
    assert (started["host"], started["port"]) == ("127.0.0.1", 8123)
    assert {route.path for route in started["app"].routes} >= {"/predict", "/health", "/docs"}


def test_serve_without_a_run_is_exit_2(tmp_path):
    result = runner.invoke(app, ["serve", str(tmp_path / "nope"), "--device", "cpu"])
    assert result.exit_code == 2 and "not a trained run" in result.output
