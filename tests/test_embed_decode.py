"""`curate embed` decodes each stored JPEG once, at reduced scale (libjpeg DCT scaling to at least
the resize side), and its embeddings stay equivalent to those of a full-size decode on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from curate import store
from curate.vision.backbones import load_backbone
from curate.vision.images import load_uint8, prepare
from tests.helpers import REALDATA


def _real_photos(count: int = 4) -> tuple[list, list]:
    """Real Flickr photos (about 1024 px): `count` whose short side is at least 768 px (JPEG DCT
    scaling to 1/2 keeps >= 384 px) and `count` whose short side is 512-767 px, the hard case
    (decoded at 1/2 they would keep only 256-383 px, too close to the resize side)."""
    large, hard = [], []
    for path in sorted(REALDATA.glob("flickr-ferrari/*/*.jpg")):
        with Image.open(path) as image:
            short = min(image.size)
        (large if short >= 768 else hard if short >= 512 else []).append(path)
    if len(large) < count or len(hard) < count:
        pytest.skip(f"real photos not found under {REALDATA} (../shared/realdata is absent in this checkout)")
    return large[::len(large) // count][:count], hard[::len(hard) // count][:count]


def _embed(backbone, arrays: list[np.ndarray]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        batch = torch.from_numpy(np.stack(arrays))
        return backbone.features.eval()(backbone.normalise(batch)).float().numpy()


def test_embed_loader_decodes_real_photos_at_reduced_scale_with_equivalent_embeddings(monkeypatch):
    large, hard = _real_photos()
    paths = large + hard
    backbone = load_backbone()
    decoded_sizes = []
    original_open_rgb = store.open_rgb

    def spying_open_rgb(path, min_side=None):
        image = original_open_rgb(path, min_side=min_side)
        decoded_sizes.append(image.size)
        return image

    monkeypatch.setattr(store, "open_rgb", spying_open_rgb)
    reduced = [load_uint8(path, backbone.preprocess) for path in paths]
    monkeypatch.setattr(store, "open_rgb", original_open_rgb)
    full, full_sizes = [], []
    for path in paths:
        image = original_open_rgb(path)  # every pixel decoded
        full_sizes.append(image.size)
        full.append(prepare(image, backbone.preprocess))
    # one decode per photo; the large ones at reduced scale, never under the resize side
    assert len(decoded_sizes) == len(paths)
    assert all(min(got) >= backbone.preprocess.resize for got in decoded_sizes)
    assert all(got[0] < whole[0] for got, whole in zip(decoded_sizes[:len(large)], full_sizes)), decoded_sizes
    vectors, reference = _embed(backbone, reduced), _embed(backbone, full)
    cosine = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
    assert (cosine >= 0.99).all(), cosine.round(4).tolist()


def test_a_large_png_is_box_reduced_after_decoding_never_under_the_resize_side(tmp_path):
    """A PNG has no DCT scaling: it decodes at full size, then is averaged down by a whole factor (as a
    JPEG's DCT scale does) that keeps both sides at least the model's resize side (audit AS 2: the
    full-size copies of the orientation and transparency work cost 1.3 GB for a 79 MP PNG)."""
    path = tmp_path / "big.png"
    Image.new("RGB", (1800, 1200), (40, 120, 200)).save(path)
    preprocess = load_backbone(pretrained=False).preprocess
    side = preprocess.resize
    reduced = store.open_rgb(path, min_side=side)
    assert side <= min(reduced.size) < 2 * side and reduced.size[0] * 2 == reduced.size[1] * 3
    assert reduced.getpixel((5, 5)) == (40, 120, 200)
    assert store.open_rgb(path).size == (1800, 1200)  # no min_side: every pixel
    assert load_uint8(path, preprocess).shape == (3, preprocess.size, preprocess.size)
