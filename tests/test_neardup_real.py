"""Near duplicates on real photos (../shared/realdata): every edit kind of issue 18 is found,
different photos of one kind of scene or one landmark are kept apart.

The edits are the scrape's own (curate.scrape.edits) at the strongest end of the issue's
ranges (rotation excepted, see EDITS); the embeddings are EfficientNet-Lite0's, as
`curate embed` computes them. Without embeddings the colour check still rejects large
watermarks, brightness edits, crops and rotations: those need the embedding evidence.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from curate.filters import verify
from curate.filters.neardup import DEFAULT_NEAR_DUP_BITS
from curate.filters.phash import phash_pair, phash_to_uint64
from curate.groups import components_from_pairs
from tests.helpers import REALDATA

ORIGINALS = ["scenes15/train/TallBuilding/image_0010.jpg", "scenes15/train/TallBuilding/image_0012.jpg",
             "scenes15/train/Street/image_0003.jpg", "imagenet-sample/n02980441_castle.jpg",
             "imagenet-sample/n03028079_church.jpg", "imagenet-sample/n03877845_palace.jpg"]
# Shots of one cathedral square a few steps apart: different photos (adjacent shots can be
# nearly identical views, see docs/benchmarks.md).
LUND = ["opensfm-lund/01.jpg", "opensfm-lund/08.jpg", "opensfm-lund/15.jpg"]
# Rotation at 3 degrees (the scrape's largest): at 5 degrees the rule misses some copies (the
# church here; pairwise recall 0.84 in bench/neardup.py real), a shortfall docs/benchmarks.md states.
EDITS = {"jpeg": 20, "downscale": 0.3, "crop": 0.10, "brightness_contrast": 0.25, "rotation": 3.0, "flip": 1.0,
         "watermark": 0.12, "greyscale": 1.0, "burst": 1.0}

pytestmark = pytest.mark.skipif(not all((REALDATA / p).is_file() for p in ORIGINALS + LUND),
                                reason="needs ../shared/realdata (scenes15, imagenet-sample, opensfm-lund)")


def _copy(image: Image.Image, kind: str, seed: int) -> Image.Image:
    from curate.scrape.edits import EDITS as SCRAPE_EDITS
    from curate.scrape.edits import burst_frame

    rng = np.random.default_rng(seed)
    if kind == "burst":
        image = burst_frame(image, 3, rng)
    elif kind != "jpeg":
        image = SCRAPE_EDITS[kind](image, EDITS[kind], rng, "a photographer")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=EDITS["jpeg"] if kind == "jpeg" else 90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def photo_set():
    from curate.store import open_rgb

    originals = [open_rgb(REALDATA / path) for path in ORIGINALS]
    images, root, kinds = list(originals), list(range(len(originals))), [None] * len(originals)
    for index, original in enumerate(originals):
        for kind in EDITS:
            images.append(_copy(original, kind, seed=index)), root.append(index), kinds.append(kind)
    for path in LUND:
        shot = open_rgb(REALDATA / path)
        shot.thumbnail((1024, 1024))
        images.append(shot), root.append(-1), kinds.append("lund")
    pairs = [phash_pair(image) for image in images]
    thumbs = np.stack([np.frombuffer(image.resize((verify.THUMB_WIDTH, verify.THUMB_HEIGHT), Image.BILINEAR)
                                     .tobytes(), np.uint8) for image in images])
    return images, np.array(root), kinds, phash_to_uint64([p[0] for p in pairs]), \
        phash_to_uint64([p[1] for p in pairs]), thumbs


@pytest.fixture(scope="module")
def vectors(photo_set):
    torch = pytest.importorskip("torch")
    from curate.vision.backbones import load_backbone
    from curate.vision.images import prepare

    try:
        backbone = load_backbone(verify.EMBEDDING_BACKBONE)
    except Exception as exc:  # weights package missing: the embedding half cannot be checked here
        pytest.skip(f"backbone weights unavailable: {exc}")
    pixels = np.stack([prepare(image, backbone.preprocess) for image in photo_set[0]])
    with torch.inference_mode():
        return backbone.features.eval()(backbone.normalise(torch.from_numpy(pixels))).float().numpy()


def _clusters(photo_set, rule: verify.LinkRule, vectors=None, mirrors: bool = True) -> np.ndarray:
    _, _, _, hashes, mirror_hashes, thumbs = photo_set
    evidence = verify.Evidence(hashes, mirror_hashes if mirrors else None, thumbs, np.ones(len(hashes), bool), vectors)
    first, second, _ = verify.link_pairs(evidence, rule)
    return components_from_pairs(len(hashes), first, second)


def _found(photo_set, labels: np.ndarray, kind: str) -> list[bool]:
    root, kinds = photo_set[1], photo_set[2]
    return [bool(labels[i] == labels[root[i]]) for i in range(len(kinds)) if kinds[i] == kind]


@pytest.mark.parametrize("kind", ["jpeg", "downscale", "flip", "greyscale"])
def test_hash_path_finds_pixel_preserving_edits_without_embeddings(photo_set, kind):
    labels = _clusters(photo_set, verify.LinkRule(DEFAULT_NEAR_DUP_BITS, cosine=None, verify_cosine=None))
    assert all(_found(photo_set, labels, kind)), f"{kind} copies not linked to their originals by pHash + colour"


def test_flips_need_the_mirror_hash(photo_set):
    rule = verify.LinkRule(DEFAULT_NEAR_DUP_BITS, cosine=None, verify_cosine=None)
    assert not any(_found(photo_set, _clusters(photo_set, rule, mirrors=False), "flip"))


@pytest.mark.parametrize("kind", list(EDITS))
def test_default_rule_with_embeddings_finds_every_edit_kind(photo_set, vectors, kind):
    labels = _clusters(photo_set, verify.LinkRule(DEFAULT_NEAR_DUP_BITS), vectors)
    assert all(_found(photo_set, labels, kind)), f"{kind} copies not linked to their originals"


def test_default_rule_keeps_different_photos_of_one_scene_apart(photo_set, vectors):
    root = photo_set[1]
    labels = _clusters(photo_set, verify.LinkRule(DEFAULT_NEAR_DUP_BITS), vectors)
    originals = np.flatnonzero(np.array(photo_set[2], dtype=object) == None)  # noqa: E711
    lund = np.flatnonzero(root < 0)
    assert len(set(labels[originals])) == len(originals)  # two TallBuildings, castle / church / palace
    assert len(set(labels[lund])) == len(lund) and not set(labels[lund]) & set(labels[originals])
