"""A collection's own copies do not make the near-duplicate calibration read it as crowded.

`calibration.calibrate` asks whether the backbone calls *different* photos alike (random pairs far
apart in pHash, above the link cosine) and whether different photos crowd the pHash band just
beyond the candidates. Heavy crops and rotations of one photo are such pairs too (the
2026-12-04 audit, finding 5: 7 copies of each of 120 originals switched the embedding links off
and lost crop, rotation and brightness copies). Copies form small groups of images alike to each
other; a backbone that cannot tell photos apart makes images alike to many, or to scattered ones.
The real-photo half needs ../shared/realdata and EfficientNet-Lite0's weights (skipped without).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from curate.filters import calibration, verify
from curate.filters.phash import phash_pair, phash_to_uint64
from curate.groups import components_from_pairs
from tests.helpers import REALDATA

ORIGINALS = 13  # 104 images: at least calibration.MIN_CALIBRATION_IMAGES
KINDS = ("crop10", "rot3", "shift3", "crop5", "bright20", "resized50", "q60")


def _group_vectors(groups: int, size: int, rng: np.random.Generator, spread: float = 0.15) -> np.ndarray:
    """`groups` directions with `size` noisy copies each (cosine ~0.98 within a group, ~0 across)."""
    centres = rng.normal(size=(groups, 64))
    return np.repeat(centres, size, axis=0) + spread * rng.normal(size=(groups * size, 64))


def test_small_groups_of_alike_images_far_apart_in_phash_are_copies_not_crowding():
    rng = np.random.default_rng(0)
    vectors = _group_vectors(30, 8, rng).astype(np.float32)  # 30 photos with 7 copies each
    hashes = rng.integers(0, 2**63, len(vectors), dtype=np.uint64)  # every pair far apart in pHash
    crowding = calibration.calibrate(verify.Evidence(hashes, vectors=vectors), 8, 0.90)
    assert crowding.embedding_copies_share > calibration.CROWDED_SHARE  # the copies alone were above the limit
    assert not crowding.embeddings_crowded and crowding.embedding_share < calibration.CROWDED_SHARE


def test_images_alike_to_many_or_to_scattered_others_still_read_crowded():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**63, 240, dtype=np.uint64)
    # 40 different photos the backbone sees as one (each alike to 39 others), among 200 spread ones
    blob = np.concatenate([_group_vectors(1, 40, rng), rng.normal(size=(200, 64))]).astype(np.float32)
    # every image alike to its two neighbours along a path and to nothing else: no group, no shared neighbour
    # (Gaussian bumps 1.8 apart in width: cosine 0.93 to the next image, 0.73 to the one after)
    steps = np.arange(240)
    chain = np.exp(-((np.arange(260)[None, :] - 10 - steps[:, None]) ** 2) / (2 * 1.8**2)).astype(np.float32)
    for vectors in (blob, chain):
        rule, crowding = calibration.calibrated_rule(verify.Evidence(hashes, vectors=vectors), 8)
        assert crowding.embeddings_crowded and rule.cosine is None and rule.verify_cosine is None


def test_the_note_says_what_reads_crowded_and_how_to_override():
    rng = np.random.default_rng(2)
    hashes = rng.integers(0, 2**63, 200, dtype=np.uint64)
    alike = (rng.normal(size=(1, 32)) + 0.01 * rng.normal(size=(200, 32))).astype(np.float32)
    _, crowding = calibration.calibrated_rule(verify.Evidence(hashes, vectors=alike), 8)
    note = " ".join(crowding.notes(calibration.CROWDED_SHARE))
    assert "embedding links off" in note and "--near-dup-crowded-share off" in note
    assert "do not tell this collection's photos apart" not in note  # it may be copies: the note does not claim it
    crowded = calibration.Crowding(300, 1e-3, True)
    assert "--near-dup-colour-diff 8 --near-dup-tone-diff 5" in " ".join(crowded.notes(calibration.CROWDED_SHARE))


def _copies(image: Image.Image) -> dict[str, Image.Image]:
    """The audit's edits (scripts build.py / build2.py): crops, a rotation, a shift, brightness, downscale, JPEG."""
    w, h = image.size
    rotated = image.rotate(3, resample=Image.BICUBIC)
    m, s = int(w * 0.05), int(w * 0.03)
    edits = {"crop10": image.crop((int(w * .1), int(h * .1), w - int(w * .1), h - int(h * .1))),
             "rot3": rotated.crop((m, m, w - m, h - m)), "shift3": image.crop((s, 0, w, h)).resize((w, h)),
             "crop5": image.crop((int(w * .05), int(h * .05), w - int(w * .05), h - int(h * .05))),
             "bright20": ImageEnhance.Brightness(image).enhance(1.2), "resized50": image.resize((w // 2, h // 2))}
    out = {}
    for kind, edited in edits.items():
        out[kind] = _jpeg(edited, 90)
    out["q60"] = _jpeg(image, 60)
    return out


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def copy_heavy():
    """13 real ImageNet-sample photos (shrunk to 320 px), each with the 7 edits: 104 images, 8 per photo."""
    files = sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[::60][:ORIGINALS]
    if len(files) < ORIGINALS:
        pytest.skip("needs ../shared/realdata/imagenet-sample")
    torch = pytest.importorskip("torch")
    from curate.store import open_rgb
    from curate.vision.backbones import load_backbone
    from curate.vision.images import prepare

    try:
        backbone = load_backbone(verify.EMBEDDING_BACKBONE)
    except Exception as exc:  # weights package missing: nothing to embed with
        pytest.skip(f"backbone weights unavailable: {exc}")
    images, root, kinds = [], [], []
    for index, path in enumerate(files):
        original = open_rgb(path)
        original.thumbnail((320, 320))
        images.append(original), root.append(index), kinds.append("orig")
        for kind, copy in _copies(original).items():
            images.append(copy), root.append(index), kinds.append(kind)
    pairs = [phash_pair(image) for image in images]
    thumbs = np.stack([np.frombuffer(image.resize((verify.THUMB_WIDTH, verify.THUMB_HEIGHT), Image.BILINEAR)
                                     .tobytes(), np.uint8) for image in images])
    pixels = np.stack([prepare(image, backbone.preprocess) for image in images])
    with torch.inference_mode():  # batches of 16: twice as fast as one batch on two cores
        model = backbone.features.eval()
        vectors = np.concatenate([model(backbone.normalise(torch.from_numpy(pixels[start:start + 16]))).float().numpy()
                                  for start in range(0, len(pixels), 16)])
    evidence = verify.Evidence(phash_to_uint64([p[0] for p in pairs]), phash_to_uint64([p[1] for p in pairs]),
                               thumbs, np.ones(len(images), bool), vectors)
    return evidence, np.array(root), np.array(kinds)


def test_a_collection_of_copies_of_real_photos_keeps_its_embedding_links(copy_heavy):
    evidence, root, kinds = copy_heavy
    rule, crowding = calibration.calibrated_rule(evidence, 8)
    # counted as look-alikes, the copies were crowded
    assert crowding.embedding_copies_share > calibration.CROWDED_SHARE
    assert not crowding.embeddings_crowded and rule.cosine == verify.DEFAULT_NEAR_DUP_COSINE
    first, second, _ = verify.link_pairs(evidence, rule)
    labels = components_from_pairs(len(root), first, second)
    original_of = {r: labels[i] for i, (r, k) in enumerate(zip(root, kinds)) if k == "orig"}
    found = {kind: np.mean([labels[i] == original_of[root[i]] for i in np.flatnonzero(kinds == kind)])
             for kind in KINDS}
    assert min(found["crop5"], found["bright20"], found["resized50"], found["q60"], found["shift3"]) >= 0.85, found
    assert found["crop10"] >= 0.5 and found["rot3"] >= 0.5, found  # 16-30 bits from the original: only embeddings
    assert len(set(original_of.values())) == ORIGINALS  # no two different photos joined


def test_the_same_collection_reads_crowded_when_its_embeddings_do_not_separate_photos(copy_heavy):
    evidence, root, _ = copy_heavy
    rng = np.random.default_rng(3)
    # a backbone that maps half the photos (with their copies) onto one look: 48 images alike to each other
    vectors = evidence.vectors.copy()
    shared = 4 * np.linalg.norm(vectors, axis=1).mean() * rng.normal(size=vectors.shape[1]) / np.sqrt(vectors.shape[1])
    vectors[root < ORIGINALS // 2] += shared.astype(np.float32)
    blurred = verify.Evidence(evidence.hashes, evidence.mirrors, evidence.thumbs, evidence.has_thumb, vectors)
    rule, crowding = calibration.calibrated_rule(blurred, 8)
    assert crowding.embeddings_crowded and rule.cosine is None
