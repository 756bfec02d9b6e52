"""Two crops of one picture, neither inside the other, are linked on their pixels (pixel_scores.overlap_score):
the all-real-photos audit found 15-Scene photos cut twice out of one original (and zooms of 1.5x and more)
across its published train/test split, where the window match (one photo inside the other, 60-100 % of
its side) saw nothing and `curate check-leakage` said "no leakage". The real-photo checks need
../shared/realdata (skipped without)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_window_match import _clusters, _folder_workspace, texture

from curate.filters import pixel_scores, verify, windows
from curate.filters.config import FilterConfig
from curate.filters.run import run_filter
from curate.settings_fields import SettingError
from tests.helpers import REALDATA

SCENES = REALDATA / "scenes15"
LUND = REALDATA / "opensfm-lund"
# The audit's crop pairs (train file, test file), each one photo cut twice (checked by eye there).
AUDIT_CROPS = [("Coast", 198, 211), ("Coast", 221, 2), ("Coast", 199, 94), ("Mountain", 323, 367)]


def stored(image: Image.Image, side: int = 256) -> Image.Image:
    """`image` at `side` px on its longer side through a JPEG of quality 85, as a scraped copy is."""
    scale = side / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def two_crops(photo: Image.Image, share: float = 0.85) -> tuple[Image.Image, Image.Image]:
    """A window of `share` of each side at the top left and one at the bottom right, each stored."""
    width, height = photo.size
    w, h = round(width * share), round(height * share)
    return stored(photo.crop((0, 0, w, h))), stored(photo.crop((width - w, height - h, width, height)))


def overlap(first: Image.Image, second: Image.Image) -> float:
    return pixel_scores.overlap_score(pixel_scores.grey_view(first), pixel_scores.grey_view(second))


def window(first: Image.Image, second: Image.Image) -> float:
    return pixel_scores.window_score(pixel_scores.grey_view(first), pixel_scores.grey_view(second))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_crops_of_one_picture_overlap_where_neither_is_a_window_of_the_other(seed):
    first, second = two_crops(texture(seed))
    assert overlap(first, second) >= verify.DEFAULT_OVERLAP_SCORE
    assert overlap(second, first) >= verify.DEFAULT_OVERLAP_SCORE  # either way round
    assert window(first, second) < verify.DEFAULT_WINDOW_SCORE  # the window match misses them


@pytest.mark.parametrize("share", [0.42, 0.5])
def test_a_zoom_beyond_the_window_match_overlaps(share):
    photo = texture(5)
    width, height = photo.size
    w, h = round(width * share), round(height * share)
    zoomed = stored(photo.crop((width // 3, height // 4, width // 3 + w, height // 4 + h)))
    assert overlap(stored(photo), zoomed) >= verify.DEFAULT_OVERLAP_SCORE
    assert window(stored(photo), zoomed) < verify.DEFAULT_WINDOW_SCORE


def test_different_pictures_parallax_and_flat_pictures_do_not_overlap():
    photo = texture(1)
    assert overlap(photo, texture(2)) < 0.5
    pixels = np.asarray(photo).copy()  # the near half shifted against the far half: the next frame of a walk
    pixels[180:] = np.roll(pixels[180:], 25, axis=1)
    assert overlap(photo, Image.fromarray(pixels)) < verify.DEFAULT_OVERLAP_SCORE
    grey = Image.new("RGB", (300, 200), (128, 128, 128))
    assert overlap(grey, photo) <= 0 and overlap(grey, grey) <= 0  # no detail, no evidence


def test_a_shared_part_under_half_the_smaller_picture_is_not_evidence():
    """Two windows of 60 % at opposite corners share 0.2 x 0.2 of the picture, a ninth of either: a
    match there could be chance, so it is not looked for."""
    first, second = two_crops(texture(3), share=0.6)
    assert overlap(first, second) < verify.DEFAULT_OVERLAP_SCORE


@pytest.mark.skipif(not SCENES.is_dir(), reason="needs ../shared/realdata/scenes15")
def test_the_audits_15_scene_crop_pairs_overlap():
    from curate.store import open_rgb

    for label, train, test in AUDIT_CROPS:
        first = open_rgb(SCENES / "train" / label / f"image_{train:04d}.jpg")
        second = open_rgb(SCENES / "test" / label / f"image_{test:04d}.jpg")
        assert overlap(first, second) >= verify.DEFAULT_OVERLAP_SCORE, (label, train, test)
        assert window(first, second) < verify.DEFAULT_WINDOW_SCORE  # what the audit saw


@pytest.mark.skipif(not LUND.is_dir(), reason="needs ../shared/realdata/opensfm-lund")
def test_neighbouring_shots_of_one_building_do_not_overlap():
    """opensfm-lund: one building shot from neighbouring viewpoints (the hardest different photos at hand)."""
    from curate.store import open_rgb

    shots = [stored(open_rgb(path)) for path in sorted(LUND.glob("*.jpg"))[:12]]
    for first, second in zip(shots, shots[1:]):
        assert overlap(first, second) < verify.DEFAULT_OVERLAP_SCORE


def _close_vectors(groups: list[int], noise: float, seed: int = 0) -> np.ndarray:
    """One embedding per image; images of one group have cosine ~1 / (1 + noise^2) to each other."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(groups) + 1, 64))
    return (centres[groups] + noise * rng.normal(size=(len(groups), 64))).astype(np.float32)


def test_window_links_make_overlap_links_only_among_close_pairs_and_count_them():
    photos = [texture(50 + k) for k in range(3)]
    images = [crop for photo in photos for crop in two_crops(photo)]
    views = [pixel_scores.grey_view(image) for image in images]
    labels = np.arange(len(images))
    close = _close_vectors([0, 0, 1, 1, 2, 2], noise=0.2)  # cosine ~0.96
    far = _close_vectors([0, 0, 1, 1, 2, 2], noise=0.6)  # cosine ~0.74: below the overlap match's cosine

    def links(vectors, **kwargs):
        found = windows.window_links(vectors, labels, views.__getitem__, cosine=0.5, min_score=0.9, max_pairs=100,
                                     **kwargs)
        return sorted(zip(found.first.tolist(), found.second.tolist())), found

    on = {"overlap_cosine": verify.DEFAULT_OVERLAP_COSINE, "overlap_min": verify.DEFAULT_OVERLAP_SCORE}
    pairs, found = links(close, **on)
    assert pairs == [(0, 1), (2, 3), (4, 5)] and found.overlaps == 3
    assert links(close)[0] == []  # no overlap match asked for: the window match alone misses them
    assert links(far, **on)[0] == []  # too far apart in the embeddings to be looked at


def _overlap_collection(tmp_path: Path) -> object:
    """Two photos cut twice each (cosine ~0.9 between the two crops: beyond the embedding links without
    close pHashes) and four other photos, embedded, in one folder workspace."""
    images, groups = {}, []
    for k in range(2):
        images[f"left{k}"], images[f"right{k}"] = two_crops(texture(60 + k))
        groups += [k, k]
    for k in range(4):
        images[f"other{k}"] = texture(70 + k)
        groups.append(2 + k)
    vectors = dict(zip(images, _close_vectors(groups, noise=0.3, seed=2)))
    return _folder_workspace(tmp_path, images, vectors)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_the_filter_links_two_crops_of_one_picture_on_both_engines(tmp_path, engine):
    ws = _overlap_collection(tmp_path)
    report = run_filter(ws, FilterConfig(), engine=engine)
    clusters = _clusters(ws)
    for k in range(2):
        assert clusters[f"left{k}"] == clusters[f"right{k}"]
    assert len({clusters[f"other{k}"] for k in range(4)} | {clusters["left0"], clusters["left1"]}) == 6
    links = next(note for note in report.notes if note.startswith("near-duplicate links:"))
    assert "2 by window match (0 a crop inside its original, 2 two crops of one picture)" in links


@pytest.mark.parametrize("setting", [{"near_dup_overlap_score": "off"}, {"near_dup_window_score": "off"}])
def test_without_the_overlap_match_the_two_crops_stay_apart(tmp_path, setting):
    ws = _overlap_collection(tmp_path)
    run_filter(ws, FilterConfig(**setting))
    clusters = _clusters(ws)
    assert all(clusters[f"left{k}"] != clusters[f"right{k}"] for k in range(2))


def test_overlap_only_pairs_have_their_own_limit_closest_first():
    """Pairs the thumbnail pre-gate stops (a partial overlap) are matched only by the overlap match, about 4x
    the cost a pair: the closest `overlap_pairs` of them, counted apart from the window candidates."""
    from test_window_match import _thumbs

    photos = [texture(80 + k) for k in range(3)]
    images = [crop for photo in photos for crop in two_crops(photo)]
    views = [pixel_scores.grey_view(image) for image in images]
    vectors = _close_vectors([0, 0, 1, 1, 2, 2], noise=0.2)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    closest = max(((0, 1), (2, 3), (4, 5)), key=lambda pair: float(unit[pair[0]] @ unit[pair[1]]))
    run = lambda limit: windows.window_links(  # noqa: E731
        vectors, np.arange(6), views.__getitem__, thumbs=_thumbs(*images), cosine=0.5, min_score=0.9,
        max_pairs=100, overlap_cosine=verify.DEFAULT_OVERLAP_COSINE, overlap_min=verify.DEFAULT_OVERLAP_SCORE,
        overlap_pairs=limit)
    everything, one = run(None), run(1)
    assert (everything.candidates, everything.overlap_candidates, everything.overlap_matched) == (0, 3, 3)
    assert everything.overlaps == 3 and one.overlaps == 1 and one.overlap_matched == 1
    assert list(zip(one.first.tolist(), one.second.tolist())) == [closest]


def test_the_overlap_pair_limit_is_a_setting_and_the_note_says_what_matches_them_all(tmp_path):
    ws = _overlap_collection(tmp_path)
    report = run_filter(ws, FilterConfig(near_dup_overlap_pairs=1))
    clusters = _clusters(ws)
    assert sum(clusters[f"left{k}"] == clusters[f"right{k}"] for k in range(2)) == 1
    note = next(note for note in report.notes if note.startswith("overlap match: the closest"))
    assert "the closest 1 of 2 other candidate pairs" in note and "--near-dup-overlap-pairs 2 matches them all" in note
    assert not any(note.startswith("overlap match:") for note in run_filter(ws, FilterConfig()).notes)


@pytest.mark.parametrize("value", [-1, 1.5, True, "many"])
def test_an_overlap_pair_limit_that_is_not_a_count_is_one_line(value):
    with pytest.raises(SettingError, match="--near-dup-overlap-pairs must be a whole number of pairs"):
        FilterConfig(near_dup_overlap_pairs=value)
