"""A real `classify serve` request decodes under the server's `MemoryBudget`, in the fast tier.

Issue L: 16 concurrent uploads of an 8900 x 8900 PNG took the server from 730 MB to 14.3 GB. The slow test
(tests/test_reliability_serve.py::test_32_concurrent_huge_uploads_stay_under_2_gb) measures the memory of
32 such uploads; this one checks the wiring that bounds it, with one upload: the app `classify serve` builds
(flags included) hands its `--decode-budget-mb` budget to the decode of every request, the full-size decode
waits while the budget is taken and runs only once it holds its bytes (known from the header), and the
answer is the model's prediction. One greyscale PNG of one colour: ~100 KB to send, 79 MB decoded.
"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import requests
import uvicorn
from PIL import Image, ImageFile
from typer.testing import CliRunner

import classify.serve
from classify.cli import app as classify_app
from classify.decode import MemoryBudget, decode_cost_bytes
from classify.model import Predictor
from curate.store import MAX_PIXELS
from tests.helpers import start_server, untrained_run

CLASSES = ["harbour", "skyline", "tower"]
SIDE, GREY = 8900, 120  # the 79.2 megapixels (under MAX_PIXELS)


class SpyBudget(MemoryBudget):
    """A MemoryBudget that records itself and every `hold` asked of it."""

    made: list = []

    def __init__(self, total_bytes: int):
        super().__init__(total_bytes)
        self.asks: list[int] = []
        self.asked = threading.Event()
        SpyBudget.made.append(self)

    @contextmanager
    def hold(self, nbytes: int):
        self.asks.append(nbytes)
        self.asked.set()
        with super().hold(nbytes):
            yield


def test_a_huge_upload_decodes_only_while_it_holds_the_serve_budget(tmp_path, monkeypatch):
    SpyBudget.made = []
    monkeypatch.setattr(classify.serve, "MemoryBudget", SpyBudget)
    # each full-size decode: (how many holds the request had asked of the server's budget, the bytes it held)
    loads, loading = [], threading.Event()
    load = ImageFile.ImageFile.load

    def watched_load(image):
        if image.size == (SIDE, SIDE) and image.tile:  # pixels still to decode (a loaded image has no tiles)
            loads.append((len(SpyBudget.made[-1].asks), SpyBudget.made[-1].held_bytes))
            loading.set()
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", watched_load)
    built = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kwargs: built.update(app=app_))
    run_dir = untrained_run(tmp_path / "run", CLASSES)
    result = CliRunner().invoke(classify_app, ["serve", str(run_dir), "--device", "cpu", "--decode-budget-mb", "1"])
    assert result.exit_code == 0, result.output
    [budget] = SpyBudget.made  # one budget per server, the flag's size
    assert budget.total_bytes == 10**6

    assert SIDE * SIDE <= MAX_PIXELS
    buffer = io.BytesIO()
    Image.new("L", (SIDE, SIDE), GREY).save(buffer, "PNG")
    upload = buffer.getvalue()
    cost = decode_cost_bytes((SIDE, SIDE), "L")  # 317 MB, over the whole budget: it may only decode alone
    server, thread, url = start_server(built["app"])
    try:
        with ThreadPoolExecutor(1) as pool:
            with MemoryBudget.hold(budget, 1):  # another decode holds a byte of the budget
                answer = pool.submit(requests.post, f"{url}/predict", files={"file": ("huge.png", upload)},
                                     timeout=120)
                deadline = time.monotonic() + 60
                while not (budget.asked.is_set() or loading.is_set() or answer.done()):
                    assert time.monotonic() < deadline, "the request neither decoded nor asked the budget in 60 s"
                    time.sleep(0.01)
                assert not loading.wait(0.5), f"the decode did not wait for the budget: (holds asked, held) {loads}"
                assert budget.asked.is_set() and not answer.done(), "the request never asked the server's budget"
            answer = answer.result()
    finally:
        server.should_exit = True
        thread.join(30)
    assert answer.status_code == 200, answer.text
    assert budget.asks == [cost]  # asked once, for the bytes the header announces
    assert loads == [(1, budget.total_bytes)]  # decoded once, after that ask, holding the whole budget (its cap)
    assert budget.held_bytes == 0  # and given back
    # the answer is the model's: one colour at any size is the same input once resized to the model's crop
    predictor = Predictor(run_dir, "cpu")
    reference = predictor.probabilities([Image.new("RGB", (96, 96), (GREY,) * 3)])[0]
    served = {p["label"]: p["probability"] for p in answer.json()["predictions"]}
    assert len(served) == 3
    assert np.allclose([served[name] for name in CLASSES], reference, atol=1e-5)
