"""Small builders shared by tests (plain module, imported by test files)."""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import io
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

from PIL import Image

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

# `make test` (CI) draws a quarter of each property test's examples, at least 5 (or all, if fewer);
# `make test-all` sets CURATE_TESTS_THOROUGH=1 and draws every example a test asks for.
THOROUGH = os.environ.get("CURATE_TESTS_THOROUGH") == "1"


def examples(wanted: int, thorough: bool = THOROUGH) -> int:
    """The `max_examples` of a property test that asks for `wanted`: all of them in the thorough run,
    a quarter (at least 5) in the everyday one.

    >>> [examples(n, thorough=False) for n in (400, 60, 8, 3)], examples(400, thorough=True)
    ([100, 15, 5, 3], 400)
    """
    return wanted if thorough else min(wanted, max(5, wanted // 4))


def some_slow(values, fast) -> list:
    """`values` for `pytest.mark.parametrize`, each one not in `fast` marked slow: a matrix (every export format
    on every object store, say) whose every value `make test` still runs somewhere, and `make test-all` whole."""
    import pytest

    return [value if value in fast else pytest.param(value, marks=pytest.mark.slow) for value in values]


def jpeg_folder(folder: Path, count: int) -> Path:
    """`count` small JPEGs of distinct colours (0.jpg, 1.jpg, ...) in `folder`, made with its parents."""
    folder.mkdir(parents=True)
    for number in range(count):
        (folder / f"{number}.jpg").write_bytes(jpeg_bytes(color=(60 * number, 90, 30)))
    return folder


def jpeg_bytes(width: int = 64, height: int = 48, color=(120, 30, 200), quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def smooth_photo(seed: int, width: int, height: int, fmt: str) -> bytes:
    """A smooth random picture (compresses well, differs per seed) encoded as `fmt`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    small.resize((width, height), Image.BICUBIC).save(buffer, fmt)
    return buffer.getvalue()


def png_bytes(width: int = 64, height: int = 48, color=(10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


@contextlib.contextmanager
def no_fsync():
    """fsync only adds durability across power loss, which no test checks; on a busy shared
    disk it can cost half a second per call. Atomic temp-file + rename writes still happen."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: None)
        yield


def header_only_png(width: int, height: int) -> bytes:
    """A few dozen bytes that claim to be a width x height greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def demo_workspace(root: Path, photos: int = 140, seed: int = 4, size: tuple[int, int] = (64, 48),
                   commands: tuple[tuple[str, ...], ...] = (("filter", "--recipe", "skylines"), ("split",))):
    """A small demo collection with images in `root`, then each curate command run on it
    (default: filter with the skylines recipe, split by owner); returns the Workspace."""
    from typer.testing import CliRunner

    from curate.cli.app import app
    from curate.demo.config import DemoConfig
    from curate.ingest.demo import ingest_demo
    from curate.workspace import Workspace

    ws = Workspace(root)
    config = DemoConfig(photos=photos, seed=seed, image_width=size[0], image_height=size[1])
    if root.exists() and any(root.iterdir()):  # something is there already: ingest into it for real
        ingest_demo(ws, config, images=True, workers=2)
    else:
        shutil.copytree(_ingested_demo(config), root, dirs_exist_ok=True)
    for command in commands:
        result = CliRunner().invoke(app, [*command, "--workspace", str(root)])
        assert result.exit_code == 0, result.output
    return ws


@functools.cache
def _demo_cache_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="demo-cache-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.cache
def _ingested_demo(config) -> Path:
    """A workspace holding just `ingest demo` of `config` (a frozen DemoConfig), built once per
    test process.

    Many tests ask for the same small collection (140 photos, seed 4; 120 photos, seed 6; ...):
    rendering and ingesting it costs 1-3 s each time, copying the folder ~0.05 s. Callers get a
    copy, never this folder, so what a test does to its workspace cannot reach another test."""
    from curate.ingest.demo import ingest_demo
    from curate.workspace import Workspace

    folder = _demo_cache_root() / hashlib.sha256(config.to_json().encode()).hexdigest()[:16]
    ingest_demo(Workspace(folder), config, images=True, workers=2)
    return folder


def start_server(app_):
    """A real uvicorn server for `app_` on a free loopback port, in a thread: (server, thread, base URL)."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app_, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]  # port=0: the OS picked a free one
    return server, thread, f"http://127.0.0.1:{port}"


def untrained_run(folder, classes: list[str]):
    """A loadable run in `folder`: an untrained EfficientNet-Lite0 at 64 px for `classes`.

    The library's random init leaves features near 1e-9: every image would get the same
    probabilities and a row mix-up would go unnoticed. He-initialised convs make them differ."""
    import torch

    from classify.model import RunMeta, build_classifier, save_model

    torch.manual_seed(0)
    model, preprocess = build_classifier("efficientnet_lite0", len(classes), pretrained=False, image_size=64)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight)
    save_model(folder, model, RunMeta(classes=classes, backbone="efficientnet_lite0", preprocess=preprocess.to_dict()))
    return folder


@contextlib.contextmanager
def moto_s3(secret: str, bucket: str):
    """A moto S3 server on 127.0.0.1, the environment a user sets for it (credentials with
    `secret`, the endpoint, no proxy) and an s3fs filesystem on it holding `bucket`; skips the
    test when s3fs or moto is not installed."""
    import pytest

    s3fs = pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": secret,
                                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                                "NO_PROXY": "127.0.0.1,localhost"}.items():
                patch.setenv(name, value)
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                         "https_proxy"):
                patch.delenv(name, raising=False)
            s3fs.S3FileSystem.clear_instance_cache()  # instances made under another environment
            fs = s3fs.S3FileSystem()
            fs.mkdir(bucket)
            yield fs
            s3fs.S3FileSystem.clear_instance_cache()
    finally:
        server.stop()


def export_interrupted_after(ws, out, config, photos: int) -> None:
    """`export_workspace(ws, out, config)` stopped by a KeyboardInterrupt once `photos` images are
    written (progress reported after every image), as a killed `curate export` stops."""
    import pytest

    from curate.export import export_workspace

    def stop_after_some(phase, done, total):
        if done >= photos:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("curate.export.writers.PROGRESS_EVERY", 1)
        with pytest.raises(KeyboardInterrupt):
            export_workspace(ws, out, config, progress=stop_after_some)


def ingested_with_metadata(root: Path, folder: Path, rows: list[dict], column_map: dict[str, str]):
    """`folder` ingested into root/ws with `rows` written to root/meta.csv as its metadata (`column_map`: catalog
    column -> CSV column); returns the Workspace."""
    import csv

    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace

    with (root / "meta.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ws = Workspace(root / "ws")
    ingest_folder(ws, FolderOptions(folder=folder, metadata=root / "meta.csv", workers=2, column_map=column_map))
    return ws
