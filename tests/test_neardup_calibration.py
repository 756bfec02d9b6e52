"""The near-duplicate rule calibrates on the collection (curate.filters.calibration.calibrate).

Real photos' pHashes tell different photos apart (almost no random pair within 12 bits), so the
filter's `auto` limits take the values chosen on real photos (colour 8, tone 5) and link gamma and
brightness copies without embeddings. The procedural demo's pictures share pHashes, so there the
same defaults fall back to the strict limits; and embeddings that see every photo as alike are not
trusted at all. Real photos from ../shared/realdata (skipped without them).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curate.errors import UsageError
from curate.filters import calibration, verify
from curate.filters.phash import phash_pair, phash_to_uint64, uint64_to_phash
from tests.helpers import REALDATA

needs_realdata = pytest.mark.skipif(not (REALDATA / "scenes15").is_dir() or not (REALDATA / "imagenet-sample").is_dir(),
                                    reason="needs ../shared/realdata (scenes15, imagenet-sample)")
# Two different 15-Scene Highway photos 8 pHash bits apart, colours 9.4 and tones 5.9 apart: the pair
# that bounds the real-photo limits; they must stay apart under them.
DIFFERENT = ("scenes15/test/Highway/image_0087.jpg", "scenes15/test/Highway/image_0100.jpg")


def _real_paths(count: int = 140) -> list[Path]:
    """Real photos of several kinds: 15-Scene classes in turn, then ImageNet sample photos."""
    classes = sorted((REALDATA / "scenes15" / "train").iterdir())
    scenes = [sorted(folder.glob("*.jpg"))[index] for index in range(8) for folder in classes]
    imagenet = sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[:40]
    return (scenes + imagenet)[:count]


def _edited(image: Image.Image, kind: str) -> Image.Image:
    if kind == "gamma":
        image = image.point([round(255 * (value / 255) ** 2.0) for value in range(256)] * 3)
    else:  # brightness and contrast +25 %
        image = image.point([min(255, round(1.25 * (value - 128) + 128 + 0.25 * 64)) for value in range(256)] * 3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _rows_and_thumbnails(images: list[Image.Image]):
    rows, thumbnails = [], {}
    for index, image in enumerate(images):
        plain, mirror = phash_pair(image)
        sha = f"{index:064x}"
        rows.append({"sha256": sha, "phash": plain, "phash_mirror": mirror})
        thumbnails[sha] = image.resize((verify.THUMB_WIDTH, verify.THUMB_HEIGHT), Image.BILINEAR).tobytes()
    return rows, thumbnails


@pytest.fixture(scope="module")
def real_collection():
    """140 real photos, gamma 2 and brightness copies of four of them, and the Highway pair."""
    from curate.store import open_rgb

    originals = [open_rgb(path) for path in _real_paths()]
    copies = [_edited(originals[index], kind) for index in (3, 50, 100, 130) for kind in ("gamma", "brightness")]
    pair = [open_rgb(REALDATA / path) for path in DIFFERENT]
    rows, thumbnails = _rows_and_thumbnails(originals + copies + pair)
    return rows, thumbnails, len(originals), len(copies)


def _clusters(rows, thumbnails, **settings):
    from curate.filters.stage import FilterConfig, filter_catalog
    from tests.test_neardup import _stage_catalog

    filtered, report = filter_catalog(_stage_catalog(rows), FilterConfig(**settings), thumbnails=thumbnails)
    return filtered["near_dup_cluster"].tolist(), " ".join(report.notes)


@needs_realdata
def test_real_photos_are_not_crowded_and_the_defaults_link_tone_copies_without_embeddings(real_collection):
    rows, thumbnails, n_originals, n_copies = real_collection
    clusters, notes = _clusters(rows, thumbnails)
    assert "hashes distinct" in notes and "colour <= 8" in notes
    copies = range(n_originals, n_originals + n_copies)
    sources = [3, 3, 50, 50, 100, 100, 130, 130]
    assert [clusters[copy] == clusters[source] for copy, source in zip(copies, sources)] == [True] * n_copies
    highway = len(rows) - 2
    assert clusters[highway] != clusters[highway + 1]  # different photos 8 bits apart stay apart
    # no two of the 140 originals are joined
    assert len({clusters[index] for index in range(n_originals)}) == n_originals


@needs_realdata
def test_the_strict_limits_apply_when_calibration_is_off_or_the_collection_is_small(real_collection):
    rows, thumbnails, n_originals, n_copies = real_collection
    gamma_copy = n_originals  # the gamma 2 copy of original 3: 40+ apart in colour
    clusters, notes = _clusters(rows, thumbnails, near_dup_crowded_share="off")
    assert clusters[gamma_copy] != clusters[3] and "near-duplicate hashes" not in notes
    small = [rows[3], rows[gamma_copy]] + rows[:20]
    clusters, notes = _clusters(small, {row["sha256"]: thumbnails[row["sha256"]] for row in small})
    assert clusters[0] != clusters[1] and "too few to calibrate" in notes
    explicit, _ = _clusters(small, {row["sha256"]: thumbnails[row["sha256"]] for row in small},
                            near_dup_tone_diff=5.0)  # a value given is used as given
    assert explicit[0] == explicit[1]


def test_the_demo_collection_is_crowded(tmp_path):
    from curate.workspace import read_catalog
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path / "ws", photos=300, seed=7, size=(160, 120), commands=())
    images = read_catalog(ws).dropna(subset=["phash"]).drop_duplicates("sha256")
    evidence = verify.Evidence(phash_to_uint64(images["phash"]), phash_to_uint64(images["phash_mirror"]))
    crowding = calibration.calibrate(evidence, 8, None)
    assert crowding.hashes_crowded and crowding.hash_share > 5 * calibration.CROWDED_SHARE


@needs_realdata
def test_real_hashes_are_far_below_the_crowding_limit():
    from curate.store import open_rgb

    hashes = [phash_pair(open_rgb(path)) for path in _real_paths(140)]
    evidence = verify.Evidence(phash_to_uint64([h[0] for h in hashes]), phash_to_uint64([h[1] for h in hashes]))
    crowding = calibration.calibrate(evidence, 8, None)
    assert not crowding.hashes_crowded and crowding.hash_share < calibration.CROWDED_SHARE / 10


def test_embeddings_that_see_every_photo_alike_are_turned_off_and_spread_ones_kept():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, 200, dtype=np.uint64)
    alike = (rng.normal(size=(1, 32)) + 0.01 * rng.normal(size=(200, 32))).astype(np.float32)
    spread = rng.normal(size=(200, 32)).astype(np.float32)
    rule, crowding = calibration.calibrated_rule(verify.Evidence(hashes, vectors=alike), 8)
    assert crowding.embeddings_crowded and rule.cosine is None and rule.verify_cosine is None
    assert any("embedding links off" in line for line in crowding.notes(calibration.CROWDED_SHARE))
    rule, crowding = calibration.calibrated_rule(verify.Evidence(hashes, vectors=spread), 8)
    assert not crowding.embeddings_crowded and rule.cosine == verify.DEFAULT_NEAR_DUP_COSINE
    rule, _ = calibration.calibrated_rule(verify.Evidence(hashes, vectors=alike), 8, crowded_share=None)
    assert rule.cosine == verify.DEFAULT_NEAR_DUP_COSINE  # calibration off: as configured


def test_auto_limits_follow_the_hashes():
    rng = np.random.default_rng(1)
    distinct = rng.integers(0, 2**63, 200, dtype=np.uint64)
    crowded = distinct % np.uint64(4096)  # every pair within 12 bits, many 9-12 apart
    assert calibration.calibrated_rule(verify.Evidence(distinct), 8, cosine=None)[0].colour_diff == 8.0
    rule = calibration.calibrated_rule(verify.Evidence(crowded), 8, cosine=None)[0]
    assert (rule.colour_diff, rule.tone_diff) == (calibration.COLOUR_DIFF_CROWDED, None)
    assert uint64_to_phash(crowded[:1])[0].startswith("0")  # the crowded hashes differ only in low bits


def test_filter_config_reads_auto_and_the_crowding_share_and_refuses_bad_values():
    from curate.filters.stage import FilterConfig

    config = FilterConfig()
    assert (config.near_dup_colour_diff, config.near_dup_tone_diff) == (calibration.AUTO, calibration.AUTO)
    assert FilterConfig(near_dup_colour_diff="8").near_dup_colour_diff == 8.0
    assert FilterConfig(near_dup_crowded_share="off").near_dup_crowded_share is None
    assert FilterConfig(near_dup_crowded_share="0.01").near_dup_crowded_share == 0.01
    for name, bad in (("near_dup_colour_diff", 300), ("near_dup_colour_diff", "high"),
                      ("near_dup_crowded_share", 0), ("near_dup_crowded_share", 1.5), ("near_dup_crowded_share", "x"),
                      ("near_dup_tone_diff", "sometimes")):
        with pytest.raises(UsageError, match=name.replace("_", "[_-]")):
            FilterConfig(**{name: bad})
