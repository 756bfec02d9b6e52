"""`classify serve` under load: bounded memory, a bounded queue (503), `/health` always answers.

Issue L item 1: 16 concurrent uploads of a 250 KB PNG of 8900 x 8900 px (under the upload
and pixel limits) took the server from 730 MB to 14.3 GB. The slow test starts the real
command in a process of its own on 127.0.0.1, sends 32 such uploads at once, and reads
the server's peak resident memory (VmHWM) from /proc; a watchdog kills the server if it
passes 4 GiB, so a regression fails the test instead of exhausting the machine.
"""

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from classify.decode import MemoryBudget, decode_for_model, model_input_size
from classify.model import Predictor
from classify.serve import ServeLimits, create_app
from curate.store import MAX_PIXELS, open_rgb
from curate.vision.images import draft_side, prepare
from tests.helpers import smooth_photo, start_server, untrained_run

CLASSES = ["harbour", "skyline", "tower"]
GOAL_RSS_BYTES = 2 * 10**9  # the goal: under 2 GB with 32 concurrent uploads
WATCHDOG_RSS_BYTES = 4 * 2**30


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return untrained_run(tmp_path_factory.mktemp("run"), CLASSES)


@pytest.fixture(scope="module")
def predictor(run_dir):
    return Predictor(run_dir, "cpu")


# ---- decoding straight to the model's size -------------------------------------------------------

@pytest.mark.parametrize("fmt, size", [("PNG", (1800, 1200)), ("JPEG", (2400, 1600)), ("PNG", (300, 200))])
def test_reduced_decode_gives_the_evaluate_probabilities(predictor, fmt, size):
    data = smooth_photo(3, *size, fmt)
    image = decode_for_model(data, predictor.preprocess)
    assert image.mode == "RGB"
    evaluated = open_rgb(io.BytesIO(data), min_side=draft_side(predictor.preprocess))  # as `classify evaluate`
    assert image.size == model_input_size(evaluated.size, predictor.preprocess)  # small, whatever the photo's size
    assert abs(image.size[0] / image.size[1] - size[0] / size[1]) < 0.02  # the photo's shape, up to rounding
    reference = predictor.probabilities([evaluated])
    assert np.abs(predictor.probabilities([image]) - reference).max() < 1e-3


def test_reduced_decode_matches_prepare_pixel_for_pixel(predictor):
    data = smooth_photo(4, 900, 700, "PNG")
    ours = prepare(decode_for_model(data, predictor.preprocess), predictor.preprocess)
    theirs = prepare(open_rgb(io.BytesIO(data), min_side=draft_side(predictor.preprocess)), predictor.preprocess)
    assert np.array_equal(ours, theirs)


def test_rotated_photo_is_upright_at_the_model_size(predictor):
    image = Image.fromarray(np.zeros((100, 400, 3), np.uint8))  # wide on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: upright it is tall
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    decoded = decode_for_model(buffer.getvalue(), predictor.preprocess)
    assert decoded.size == model_input_size((100, 400), predictor.preprocess)
    assert decoded.size[0] < decoded.size[1]


def test_memory_budget_never_lets_more_than_its_bytes_through():
    budget = MemoryBudget(100)
    state = {"held": 0, "most": 0}
    lock = threading.Lock()

    def work(nbytes: int) -> None:
        nbytes = min(nbytes, budget.total_bytes)  # a larger request holds the whole budget
        with budget.hold(nbytes):
            with lock:
                state["held"] += nbytes
                state["most"] = max(state["most"], state["held"])
            time.sleep(0.01)  # overlap the holders (not a timing assertion)
            with lock:
                state["held"] -= nbytes

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, [60, 30, 40, 60, 10, 250, 50, 50] * 3))  # 250: more than all, runs alone
    assert 60 <= state["most"] <= 100
    assert budget.held_bytes == 0


def test_budget_caps_a_single_request_at_the_whole_budget():
    budget = MemoryBudget(10)
    with budget.hold(MAX_PIXELS * 4):
        assert budget.held_bytes == 10


# ---- queue: 503 when full, /health answers meanwhile ---------------------------------------------

start_in_thread = start_server

def test_full_queue_answers_503_and_health_still_answers(predictor, monkeypatch):
    import classify.serve as serve_module

    entered, release = threading.Event(), threading.Event()

    def stuck_decode(data, preprocess, budget=None):
        entered.set()
        release.wait(30)
        return decode_for_model(data, preprocess, budget)

    monkeypatch.setattr(serve_module, "decode_for_model", stuck_decode)
    server, thread, url = start_in_thread(create_app(predictor, limits=ServeLimits(max_pending=1, decode_threads=1)))
    data = smooth_photo(0, 120, 90, "PNG")
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(requests.post, f"{url}/predict", files={"file": ("a.png", data)}, timeout=60)
            assert entered.wait(30), "the first upload never reached the decoder"
            second = requests.post(f"{url}/predict", files={"file": ("b.png", data)}, timeout=30)
            health = requests.get(f"{url}/health", timeout=30)
            release.set()
            assert first.result().status_code == 200, first.result().text
        assert second.status_code == 503, second.text
        assert "retry" in second.json()["detail"] and int(second.headers["Retry-After"]) > 0
        assert health.status_code == 200 and health.json()["classes"] == CLASSES
        after = requests.post(f"{url}/predict", files={"file": ("c.png", data)}, timeout=30)
        assert after.status_code == 200  # the slot was given back
    finally:
        release.set()
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("flag, value", [("--max-pending", "0"), ("--decode-threads", "0"),
                                         ("--decode-budget-mb", "0"), ("--decode-budget-mb", "inf")])
def test_serve_limits_are_checked_as_usage_errors(run_dir, flag, value):
    from typer.testing import CliRunner

    from classify.cli import app

    result = CliRunner().invoke(app, ["serve", str(run_dir), flag, value, "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and flag in result.output


# ---- the real server under 32 concurrent 80-megapixel uploads ------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


class Watchdog(threading.Thread):
    """Kills the server if its memory passes `limit`, so a regression cannot exhaust the machine."""

    def __init__(self, pid: int, limit: int):
        super().__init__(daemon=True)
        self.pid, self.limit, self.killed, self.done = pid, limit, False, threading.Event()

    def run(self):
        while not self.done.wait(0.02):
            try:
                if rss_bytes(self.pid) > self.limit:
                    self.killed = True
                    os.kill(self.pid, signal.SIGKILL)
                    return
            except (OSError, AssertionError):
                return


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    side = 8900  # 79.2 MP: under MAX_PIXELS; one colour, so the file is small (~250 KB)
    assert side * side <= MAX_PIXELS
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 30, 200)).save(buffer, "PNG")
    assert len(buffer.getvalue()) < 20 * 2**20  # under the default upload limit
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads memory from Linux /proc")
def test_32_concurrent_huge_uploads_stay_under_2_gb(run_dir, huge_png, tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-c", "from classify.cli import main; main()", "serve", str(run_dir),
                               "--port", str(port), "--device", "cpu"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    watchdog = Watchdog(server.pid, WATCHDOG_RSS_BYTES)
    try:
        wait_for_health(url, server)
        baseline = rss_bytes(server.pid)
        watchdog.start()
        uploads_done = threading.Event()
        with ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(requests.post, f"{url}/predict", files={"file": (f"{i}.png", huge_png)},
                                   timeout=600) for i in range(32)]
            health = poll_health(url, uploads_done, futures)
            answers = [future.result() for future in futures]
        assert not watchdog.killed, f"server passed {WATCHDOG_RSS_BYTES / 2**30:.0f} GiB and was killed"
        peak = rss_bytes(server.pid, "VmHWM")
    finally:
        watchdog.done.set()
        server.terminate()
        server.wait(30)
        log.close()
    assert [answer.status_code for answer in answers] == [200] * 32
    assert all(len(answer.json()["predictions"]) == 3 for answer in answers)
    assert health and set(health) == {200}, "/health did not answer while the uploads were in flight"
    assert peak < GOAL_RSS_BYTES, f"peak RSS {peak / 1e9:.2f} GB (idle {baseline / 1e9:.2f} GB)"


def wait_for_health(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "classify serve exited before answering"
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("classify serve did not answer /health within 120 s")


def poll_health(url: str, done: threading.Event, futures) -> list[int]:
    """Status codes of /health asked while any upload is still in flight."""
    statuses = []
    while not all(future.done() for future in futures):
        try:
            statuses.append(requests.get(f"{url}/health", timeout=30).status_code)
        except requests.RequestException as exc:
            statuses.append(type(exc).__name__)
        time.sleep(0.5)
    done.set()
    return statuses


def test_300_stalled_uploads_do_not_stop_health_or_a_real_prediction(predictor):
    """Held from the adversarial sweep: 300 clients that send headers and part of a body,
    then stall (slowloris), must not take the service down for everyone else."""
    server, thread, url = start_in_thread(create_app(predictor, top_k=3))
    host, port = url.rsplit("/", 1)[-1].split(":")
    stalled = []
    try:
        for _ in range(300):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                         b"Content-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; "
                         b"filename=\"a.png\"\r\n\r\n\x89PNG")
            stalled.append(sock)
        health = requests.get(f"{url}/health", timeout=30)
        answer = requests.post(f"{url}/predict", files={"file": ("ok.png", smooth_photo(0, 120, 90, "PNG"))},
                               timeout=60)
    finally:
        for sock in stalled:
            sock.close()
        server.should_exit = True
        thread.join(30)
    assert len(stalled) == 300
    assert health.status_code == 200
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3
