"""Tone curves (gamma, brightness) and the tone check of the near-duplicate rule (curate.filters.verify).

A gamma 0.5 or 2.0 copy of a real photo moves its 16x12 colours by 40-60 (the colour check's limit
is 4), but keeps the order of its tones: `tone_difference_of` maps one thumbnail onto the other's
tones by rank and finds them alike, while different real photos that the pHash proposes stay far
apart. Real photos from ../shared/realdata (skipped without them); the bench's held-out split is
checked on generated stand-ins.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curate.errors import UsageError
from curate.filters import calibration, verify
from curate.filters.phash import phash_pair, phash_to_uint64
from curate.groups import components_from_pairs

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
PHOTOS = ["scenes15/train/TallBuilding/image_0010.jpg", "imagenet-sample/n02980441_castle.jpg",
          "imagenet-sample/n03028079_church.jpg", "imagenet-sample/n03877845_palace.jpg"]
# Two different 15-Scene Highway photos whose pHashes are 8 bits apart (checked by eye): a real
# pair the hash proposes that must stay apart. And a photo 15-Scene holds twice with other tones.
DIFFERENT = ("scenes15/test/Highway/image_0087.jpg", "scenes15/test/Highway/image_0100.jpg")
TONE_TWINS = ("scenes15/test/Bedroom/image_0077.jpg", "scenes15/test/Bedroom/image_0157.jpg")
needs_realdata = pytest.mark.skipif(not all((REALDATA / p).exists() for p in [*PHOTOS, *DIFFERENT, *TONE_TWINS]),
                                    reason="needs ../shared/realdata (scenes15, imagenet-sample)")
TONE_RULE = verify.LinkRule(8, tone_diff=calibration.TONE_DIFF_FOR_REAL_PHOTOS, cosine=None, verify_cosine=None)
COLOUR_RULE = verify.LinkRule(8, tone_diff=None, cosine=None, verify_cosine=None)


def _photo(path: str) -> Image.Image:
    from curate.store import open_rgb

    found = REALDATA / path
    return open_rgb(sorted(found.glob("*.jpg"))[0] if found.is_dir() else found)


def _gamma(image: Image.Image, gamma: float) -> Image.Image:
    table = [round(255 * (value / 255) ** gamma) for value in range(256)]
    buffer = io.BytesIO()
    image.point(table * 3).save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _evidence(images: list[Image.Image]) -> verify.Evidence:
    pairs = [phash_pair(image) for image in images]
    thumbs = np.stack([np.frombuffer(image.resize((verify.THUMB_WIDTH, verify.THUMB_HEIGHT), Image.BILINEAR)
                                     .tobytes(), np.uint8) for image in images])
    return verify.Evidence(phash_to_uint64([p[0] for p in pairs]), phash_to_uint64([p[1] for p in pairs]), thumbs)


def _together(evidence: verify.Evidence, rule: verify.LinkRule) -> np.ndarray:
    first, second, _ = verify.link_pairs(evidence, rule)
    return components_from_pairs(len(evidence.hashes), first, second)


@needs_realdata
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_tone_check_links_gamma_copies_of_real_photos_the_colour_check_rejects(gamma):
    originals = [_photo(path) for path in PHOTOS]
    copies = [_gamma(image, gamma) for image in originals]
    evidence = _evidence(originals + copies)
    n = len(originals)
    colours = verify.colour_difference_of(evidence.thumbs[:n], evidence.thumbs[n:])
    assert (colours > verify.DEFAULT_COLOUR_DIFF).all(), colours  # what the colour check alone sees
    tone_labels, colour_labels = _together(evidence, TONE_RULE), _together(evidence, COLOUR_RULE)
    assert all(tone_labels[i] == tone_labels[n + i] for i in range(n))
    assert not any(colour_labels[i] == colour_labels[n + i] for i in range(n))
    assert len(set(tone_labels[:n])) == n  # the four different photos stay apart


@needs_realdata
def test_tone_check_keeps_different_real_photos_apart_and_joins_a_real_tone_twin():
    different = _evidence([_photo(path) for path in DIFFERENT])
    twins = _evidence([_photo(path) for path in TONE_TWINS])
    for evidence in (different, twins):  # both pairs are pHash candidates: the verification decides
        assert len(verify.link_pairs(verify.Evidence(evidence.hashes), COLOUR_RULE)[0]) == 1
    labels = _together(different, TONE_RULE)
    assert labels[0] != labels[1]
    assert verify.tone_difference_of(different.thumbs[:1], different.thumbs[1:])[0] > TONE_RULE.tone_diff
    labels = _together(twins, TONE_RULE)
    assert labels[0] == labels[1] and _together(twins, COLOUR_RULE)[0] != _together(twins, COLOUR_RULE)[1]


def test_tone_difference_ignores_monotonic_curves_per_channel_not_a_shuffle():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(1, verify.THUMB_BYTES)).astype(np.uint8)
    curved = (255 * (base / 255.0) ** 1.8).astype(np.uint8)
    darker = (base * 0.6 + 10).astype(np.uint8)
    pixels = base.reshape(-1, 3)
    moved = pixels[rng.permutation(len(pixels))].reshape(1, -1)  # same tones, other places
    assert verify.tone_difference_of(base, curved)[0] < 1 and verify.tone_difference_of(base, darker)[0] < 1
    assert verify.colour_difference_of(base, curved)[0] > 20
    assert verify.tone_difference_of(base, moved)[0] > 40
    assert verify.tone_difference_of(np.zeros((0, verify.THUMB_BYTES), np.uint8),
                                     np.zeros((0, verify.THUMB_BYTES), np.uint8)).shape == (0,)


def test_link_pairs_counts_tone_links_apart_and_tone_off_is_the_colour_rule():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(1, verify.THUMB_BYTES)).astype(np.uint8)
    thumbs = np.concatenate([base, (255 * (base / 255.0) ** 0.5).astype(np.uint8)])
    hashes = np.array([0x0F0F0F0F0F0F0F0F, 0x0F0F0F0F0F0F0F0E], dtype=np.uint64)  # 1 bit apart
    evidence = verify.Evidence(hashes, hashes, thumbs)
    first, _, counts = verify.link_pairs(evidence, TONE_RULE)
    assert len(first) == 1 and counts["hash_tone"] == 1 and counts["hash_colour"] == 0
    assert len(verify.link_pairs(evidence, COLOUR_RULE)[0]) == 0


def test_filter_config_takes_tone_diff_from_a_recipe_and_refuses_bad_values():
    from curate.filters.stage import FilterConfig

    assert FilterConfig(near_dup_tone_diff="off").near_dup_tone_diff is None
    assert FilterConfig(near_dup_tone_diff="5").near_dup_tone_diff == 5.0
    for bad in (300, -1, "high", True, float("nan")):
        with pytest.raises(UsageError, match="near_dup_tone_diff"):
            FilterConfig(near_dup_tone_diff=bad)


def test_filter_stage_links_a_tone_copy_only_with_the_tone_check():
    from curate.filters.stage import FilterConfig, filter_catalog
    from tests.test_neardup import _stage_catalog

    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, size=verify.THUMB_BYTES).astype(np.uint8)
    gamma = (255 * (base / 255.0) ** 2.0).astype(np.uint8)
    catalog = _stage_catalog([{"sha256": "a", "phash": "0f0f0f0f0f0f0f0f", "phash_mirror": "f0f0f0f0f0f0f0f0"},
                              {"sha256": "b", "phash": "0f0f0f0f0f0f0f0e", "phash_mirror": "f0f0f0f0f0f0f0e0"}])
    thumbnails = {"a": base.tobytes(), "b": gamma.tobytes()}
    clusters = {tone: filter_catalog(catalog, FilterConfig(near_dup_tone_diff=tone), thumbnails=thumbnails)[0]
                ["near_dup_cluster"].nunique() for tone in ("off", 5.0)}
    assert clusters == {"off": 2, 5.0: 1}


def _bench():
    spec = importlib.util.spec_from_file_location("neardup_real", ROOT / "bench" / "neardup_real.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("neardup_real", module)
    spec.loader.exec_module(module)
    return module


def test_bench_held_out_split_is_by_original_photo():
    bench = _bench()
    originals = 11
    root = np.concatenate([np.repeat(np.arange(originals), 1 + len(bench.KINDS)), [-1] * 7])
    kinds = ([None] + list(bench.KINDS)) * originals + ["lund"] * 7
    photos = bench.PhotoSet([None] * len(root), root, kinds, [str(i) for i in range(len(root))],
                            np.array([k is None for k in kinds]))
    for seed in range(4):
        fit = bench.held_out_split(photos, seed)
        for original in range(originals):
            assert len(set(fit[root == original])) == 1  # an original and all its copies on one side
        assert sum(fit[root == r][0] for r in range(originals)) == originals // 2
        assert fit[root < 0].sum() == 7 // 2  # the first Lund shots choose, the others report
    assert not (bench.held_out_split(photos, 0) == bench.held_out_split(photos, 1)).all()  # seeded
