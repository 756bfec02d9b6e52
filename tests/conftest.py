"""Fixtures shared by the whole suite."""

import os
import signal
import sys
import threading

# PYTHONDONTWRITEBYTECODE (set in some shells and CI images) makes every process of a run compile
# every project module again and rewrite every test module's asserts again: ~8 s of CPU per
# xdist worker at collection, and more in each Python subprocess a test starts. Let this run
# and its subprocesses cache bytecode in the (git-ignored) __pycache__ folders.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Tests run two per core (pytest -n 2): one math thread each, or torch and BLAS threads
# fight over the cores and tiny forward passes take seconds instead of milliseconds.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# No deadline on any property test: a busy machine (CI's two cores, or a suite beside other work) made a
# 200 ms default deadline fail a correct test as "flaky" (test_eval_interval at 264 ms). Timing is the
# benches' job, never a test's.
settings.register_profile("curate", deadline=None)
settings.load_profile("curate")
from helpers import no_fsync  # noqa: E402


@pytest.fixture(autouse=True)
def _fast_writes():
    with no_fsync():
        yield


def pytest_collection_finish(session):
    """Python's cyclic garbage collector, tuned for a long test process: the modules, fixtures and test
    objects collection made are frozen (never scanned again), and a young-generation pass runs after
    50,000 new objects instead of 700. Measured on tests/test_export.py and tests/test_review.py
    run alone, one after the other: 10-14 % less CPU (89 s against 104 s, 83 s against 92 s)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def pytest_configure(config):
    # A runner that starts the suite as a background job hands it SIGINT ignored, and then
    # `_thread.interrupt_main()` (the Ctrl-C tests) does nothing. Python's own handler back:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: pytest-xdist already runs one worker per core, and more
    threads oversubscribe the cores (a 17-image forward pass took ~5 s instead of ~0.2 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
