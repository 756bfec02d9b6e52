"""Crops off one side and screenshot frames vs 15-Scene's look-alikes (audit 2026-12-04, finding 2).

The default rule gates embedding links at 16 pHash bits. A 12-18 % crop off one side or a screenshot
frame is often 17-24 bits from its original, so about half of them are missed (docs/benchmarks.md,
"Crops off one side and screenshot frames"). Every wider rule measured there also joins different
15-Scene photos: frames of one highway shot seconds apart, two shots of one sunlit sea. These are
such pairs; the defaults keep them apart, and the rules that would catch more crops join them.
Real photos from ../shared/realdata; EfficientNet-Lite0 embeddings as `curate embed` computes them.
"""

from __future__ import annotations

import numpy as np
import pytest

from curate.filters import calibration, verify
from curate.filters.neardup import DEFAULT_NEAR_DUP_BITS
from curate.filters.phash import phash_to_uint64
from curate.groups import components_from_pairs
from tests.helpers import REALDATA

# Different photos (checked by eye) that the bench's wider rules joined: cosine 0.98 / 0.975 / 0.93,
# 22 / 22 / 18 pHash bits apart, 1.7 / 3.7 / 4.4 apart in colour once one thumbnail is aligned inside the other.
LOOKALIKES = [("scenes15/test/Coast/image_0093.jpg", "scenes15/test/Coast/image_0214.jpg"),
              ("scenes15/test/Highway/image_0062.jpg", "scenes15/train/Highway/image_0107.jpg"),
              ("scenes15/test/Highway/image_0044.jpg", "scenes15/test/Highway/image_0086.jpg")]
FILES = [name for pair in LOOKALIKES for name in pair]

pytestmark = pytest.mark.skipif(not all((REALDATA / name).is_file() for name in FILES),
                                reason="needs ../shared/realdata/scenes15")


@pytest.fixture(scope="module")
def evidence():
    torch = pytest.importorskip("torch")
    from curate.store import open_rgb
    from curate.vision import features
    from curate.vision.backbones import load_backbone
    from curate.vision.images import prepare

    try:
        backbone = load_backbone(verify.EMBEDDING_BACKBONE)
    except Exception as exc:  # weights package missing: the embedding half cannot be checked here
        pytest.skip(f"backbone weights unavailable: {exc}")
    found = [features.features_of_file(REALDATA / name) for name in FILES]
    pixels = np.stack([prepare(open_rgb(REALDATA / name), backbone.preprocess) for name in FILES])
    with torch.inference_mode():
        vectors = backbone.features.eval()(backbone.normalise(torch.from_numpy(pixels))).float().numpy()
    thumbs = np.stack([np.frombuffer(features.thumbnail_bytes(f), np.uint8) for f in found])
    hashes = phash_to_uint64([f["phash"] for f in found])
    trimmed = [hashes[i] if f["phash_trimmed"] is None else phash_to_uint64([f["phash_trimmed"]])[0]
               for i, f in enumerate(found)]  # the border-trimmed view, as the filter reads it
    return verify.Evidence(hashes, phash_to_uint64([f["phash_mirror"] for f in found]), thumbs, None, vectors,
                           np.array(trimmed, dtype=np.uint64))


def _joined(evidence, rule: verify.LinkRule) -> list[bool]:
    first, second, _ = verify.link_pairs(evidence, rule)
    labels = components_from_pairs(len(FILES), first, second)
    return [bool(labels[2 * k] == labels[2 * k + 1]) for k in range(len(LOOKALIKES))]


def test_the_loosest_default_limits_keep_the_lookalikes_apart(evidence):
    rule = verify.LinkRule(DEFAULT_NEAR_DUP_BITS, colour_diff=calibration.COLOUR_DIFF_FOR_REAL_PHOTOS,
                           tone_diff=calibration.TONE_DIFF_FOR_REAL_PHOTOS)
    assert _joined(evidence, rule) == [False] * len(LOOKALIKES)


def test_a_wider_phash_gate_at_a_high_cosine_joins_them(evidence):
    """The audit's suggestion (cosine >= 0.93 without the 16-bit gate) links different photos: why the
    default keeps the gate (and misses part of the one-side crops and screenshot frames)."""
    wide = verify.LinkRule(DEFAULT_NEAR_DUP_BITS, cosine=0.93, cosine_max_bits=None)
    assert _joined(evidence, wide)[:2] == [True, True]  # cosine 0.98 / 0.975: far from 0.93 (the third is 0.931)
