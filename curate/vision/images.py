"""Batched image loading for models: stored image -> resized, centre-cropped uint8 tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.vision.backbones import Preprocess

# A JPEG decodes at reduced scale (libjpeg DCT scaling) to at least this multiple of the resize side.
# At 1.0 a ~700 px short side decodes at 1/2 to ~350 px and the mild bilinear step left gives
# embeddings only 0.979 cosine to a full decode's (14 of 400 real photos under 0.99); at 1.5 none
# is under 0.99 (min 0.9955) and the decode costs 0.77x a full one (bench/decode_once.py --cosine).
DRAFT_MARGIN = 1.5


def draft_side(preprocess: Preprocess) -> int:
    """The least short side a JPEG decodes to before `prepare` resizes it (DCT scaling, `DRAFT_MARGIN`).

    Every model input decodes this way — `curate embed`, a probe's features and its gate's fit,
    `classify evaluate`, `predict` and `serve` — so a vector computed by one is the vector the others
    compute for the same photo: a head fitted on `curate embed`'s vectors sees at prediction time
    the features it was fitted on.
    """
    return round(preprocess.resize * DRAFT_MARGIN)


def load_uint8(path: Path, preprocess: Preprocess) -> np.ndarray:
    """(3, size, size) uint8 array of a stored image, decoded once at reduced scale: see `prepare`."""
    from curate.store import open_rgb

    return prepare(open_rgb(path, min_side=draft_side(preprocess)), preprocess)


def prepare(image, preprocess: Preprocess) -> np.ndarray:
    """RGB PIL image -> (3, size, size) uint8: short side resized to `preprocess.resize`, centre crop."""
    from PIL import Image

    image = image.convert("RGB")
    width, height = image.size
    scale = preprocess.resize / min(width, height)
    new_size = (max(preprocess.size, round(width * scale)), max(preprocess.size, round(height * scale)))
    image = image.resize(new_size, Image.BILINEAR, reducing_gap=2.0)
    left = (new_size[0] - preprocess.size) // 2
    top = (new_size[1] - preprocess.size) // 2
    image = image.crop((left, top, left + preprocess.size, top + preprocess.size))
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))


def ignore_sigterm(worker_id: int) -> None:
    """A DataLoader's `worker_init_fn`: a decode worker ignores SIGTERM, which the main process turns into the
    Ctrl-C path (`curate.cli.common.terminate_as_interrupt`) and which then stops its workers itself. A SIGTERM
    sent to every process of a job (Slurm's scancel, `kill -TERM -PGID`) otherwise killed a worker first, and
    the loader's "worker killed by signal" error ended `curate embed` with a traceback and exit 1 (audit AR)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class ImageFiles:
    """A map-style dataset of image files; item = (index, uint8 tensor, ok).

    An unreadable file yields a zero image with ok=False, so one bad file never stops a
    batch; the caller records it.
    """

    def __init__(self, paths: list[Path], preprocess: Preprocess):
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        return (index, *decoded(self.paths[index], self.preprocess))


def decoded(path, preprocess: Preprocess):
    """(uint8 tensor, ok) of one image file; a zero image and ok=False when it does not decode."""
    import torch

    try:
        array, ok = load_uint8(path, preprocess), True
    except Exception:  # noqa: BLE001 - any decoder failure marks this one file bad
        size = preprocess.size
        array, ok = np.zeros((3, size, size), dtype=np.uint8), False
    return torch.from_numpy(array), ok
