"""A photo cropped out of another is linked on its pixels (curate.filters.windows): the 2026-12-04 audit's
crops of 12-18 % off one side sit 17-24 pHash bits from their original, beyond every other link, and
were found 44 % of the time. The real-photo checks need ../shared/realdata (skipped without)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from curate.embed import EmbeddingCache
from curate.filters import pixel_scores, verify, windows
from curate.filters.config import FilterConfig
from curate.filters.run import run_filter
from curate.settings_fields import SettingError
from curate.workspace import Workspace, read_catalog
from tests.helpers import REALDATA

SCENES = REALDATA / "scenes15" / "test"


def texture(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A photo-like picture: smooth random colour blobs with finer detail on top."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    fine = Image.fromarray(rng.integers(0, 256, (size[1] // 6, size[0] // 6, 3), dtype=np.uint8)).resize(
        size, Image.BICUBIC)
    return Image.blend(coarse, fine, 0.35)


def side_crop(image: Image.Image, share: float, side: int) -> Image.Image:
    """`share` of one side (0 left, 1 right, 2 top, 3 bottom) cut off, saved as JPEG 90 and decoded."""
    width, height = image.size
    dx, dy = round(share * width), round(share * height)
    box = [(dx, 0, width, height), (0, 0, width - dx, height), (0, dy, width, height), (0, 0, width, height - dy)][side]
    buffer = io.BytesIO()
    image.crop(box).save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def score(first: Image.Image, second: Image.Image) -> float:
    return pixel_scores.window_score(pixel_scores.grey_view(first), pixel_scores.grey_view(second))


@pytest.mark.parametrize("side", [0, 1, 2, 3])
@pytest.mark.parametrize("share", [0.12, 0.18, 0.30])
def test_a_crop_off_one_side_matches_its_original(side, share):
    photo = texture(side)
    assert score(photo, side_crop(photo, share, side)) >= verify.DEFAULT_WINDOW_SCORE
    assert score(side_crop(photo, share, side), photo) >= verify.DEFAULT_WINDOW_SCORE  # either way round


def test_a_crop_that_was_also_resized_and_brightened_matches():
    photo = texture(7)
    crop = side_crop(photo, 0.15, 1).resize((200, 178), Image.LANCZOS)
    crop = ImageEnhance.Brightness(ImageEnhance.Contrast(crop).enhance(1.3)).enhance(0.8)
    assert score(photo, crop) >= verify.DEFAULT_WINDOW_SCORE


def test_different_pictures_and_a_picture_moved_by_parallax_do_not_match():
    photo, other = texture(1), texture(2)
    assert score(photo, other) < 0.5
    # the same scene with its near half shifted against its far half (the next frame of a walk)
    pixels = np.asarray(photo).copy()
    pixels[180:] = np.roll(pixels[180:], 25, axis=1)
    assert score(photo, Image.fromarray(pixels)) < verify.DEFAULT_WINDOW_SCORE


def test_flat_pictures_do_not_match_everything():
    grey = Image.new("RGB", (300, 200), (128, 128, 128))
    assert score(grey, texture(3)) < 0.5 and score(texture(3), grey) < 0.5
    assert score(grey, grey) <= 0  # no detail, no evidence


def _thumbs(*images: Image.Image) -> np.ndarray:
    return np.stack([np.frombuffer(image.resize((verify.THUMB_WIDTH, verify.THUMB_HEIGHT), Image.BILINEAR)
                                   .tobytes(), np.uint8) for image in images])


def test_the_thumbnail_pre_gate_passes_crops_and_stops_different_pictures():
    photo, other = texture(4), texture(5)
    crops = [side_crop(photo, 0.15, side) for side in range(4)]
    thumbs = _thumbs(photo, other, *crops)
    gate = windows.aligned_difference(np.repeat(thumbs[:1], 5, axis=0), thumbs[1:])
    assert gate[0] > windows.PRE_GATE  # the different picture
    assert (gate[1:] <= windows.PRE_GATE).all()  # every crop


def _vectors(groups: list[int], seed: int = 0) -> np.ndarray:
    """One embedding per image; images of one group have cosine ~0.8 to each other (below the embedding
    links' 0.85 and 0.90, above the window match's 0.75), ~0 across."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(groups) + 1, 64))
    return (centres[groups] + 0.5 * rng.normal(size=(len(groups), 64))).astype(np.float32)


def test_window_links_match_the_closest_pairs_up_to_the_limit_and_count_unreadable_images():
    photo, other = texture(10), texture(11)
    images = [photo, side_crop(photo, 0.15, 0), other, side_crop(other, 0.15, 2), None]
    views = [None if image is None else pixel_scores.grey_view(image) for image in images]
    thumbs = _thumbs(*(image or other for image in images))  # the unreadable one passes the pre-gate
    vectors = _vectors([0, 0, 1, 1, 1])
    reads = []

    def read(position):
        reads.append(position)
        return views[position]

    labels = np.arange(len(images))
    found = windows.window_links(vectors, labels, read, thumbs=thumbs, cosine=0.5, min_score=0.8, max_pairs=10)
    assert sorted(zip(found.first.tolist(), found.second.tolist())) == [(0, 1), (2, 3)]
    assert found.unreadable == 1 and found.candidates == found.matched
    assert len(reads) == len(set(reads))  # each image read once
    limited = windows.window_links(vectors, labels, read, thumbs=thumbs, cosine=0.5, min_score=0.8, max_pairs=1)
    assert limited.matched == 1 and limited.candidates == found.candidates
    together = windows.window_links(vectors, np.array([0, 0, 1, 1, 1]), read, thumbs=thumbs, cosine=0.5,
                                    min_score=0.8, max_pairs=10)
    assert together.candidates == 0  # pairs already in one cluster are not matched


def _folder_workspace(tmp_path: Path, images: dict[str, Image.Image], vectors: dict[str, np.ndarray]) -> Workspace:
    from typer.testing import CliRunner

    from curate.cli.app import app

    folder = tmp_path / "photos" / "street"
    folder.mkdir(parents=True)
    for name, image in images.items():
        image.save(folder / f"{name}.jpg", quality=92)
    ws = Workspace(tmp_path / "ws")
    result = CliRunner().invoke(app, ["ingest", "folder", str(tmp_path / "photos"), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(ws)
    names = catalog["source_id"].map(lambda path: Path(path).stem)
    EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).append(
        catalog["sha256"].tolist(), np.stack([vectors[name] for name in names]), np.ones(len(catalog), bool))
    return ws


def _crop_collection(tmp_path: Path, close: bool = True) -> Workspace:
    """Two photos, each with a crop of 15 % off one side, and four other photos, embedded: each crop's
    vector close to its photo's (cosine ~0.8), the others apart (`close` False: every vector apart)."""
    images, groups = {}, []
    for k in range(2):
        photo = texture(20 + k)
        images[f"photo{k}"], images[f"crop{k}"] = photo, side_crop(photo, 0.15, k)
        groups += [k, k] if close else [10 + 2 * k, 11 + 2 * k]
    for k in range(4):
        images[f"other{k}"] = texture(30 + k)
        groups.append(2 + k)
    vectors = dict(zip(images, _vectors(groups, seed=1)))
    return _folder_workspace(tmp_path, images, vectors)


def _clusters(ws: Workspace) -> dict[str, str]:
    catalog = read_catalog(ws)
    by_id = dict(zip(catalog["photo_id"], catalog["source_id"].map(lambda path: Path(path).stem)))
    return {by_id[pid]: by_id.get(cluster) for pid, cluster in zip(catalog["photo_id"], catalog["near_dup_cluster"])}


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_the_filter_links_a_crop_to_its_original_on_both_engines(tmp_path, engine):
    ws = _crop_collection(tmp_path)
    report = run_filter(ws, FilterConfig(), engine=engine)
    clusters = _clusters(ws)
    for k in range(2):
        assert clusters[f"crop{k}"] == clusters[f"photo{k}"]
    assert len({clusters[f"other{k}"] for k in range(4)} | {clusters["photo0"], clusters["photo1"]}) == 6
    links = next(note for note in report.notes if note.startswith("near-duplicate links:"))
    assert "2 by window match" in links


def test_without_the_window_match_the_crops_stay_apart(tmp_path):
    """The collection's crops are beyond every other link (so the test above tests the window match):
    with --near-dup-window-score off they stay in their own clusters."""
    ws = _crop_collection(tmp_path)
    run_filter(ws, FilterConfig(near_dup_window_score="off"))
    clusters = _clusters(ws)
    assert all(clusters[f"crop{k}"] != clusters[f"photo{k}"] for k in range(2))


SCORE_SETTINGS = ["near_dup_window_score", "near_dup_overlap_score"]  # the window match's and its overlap match's


@pytest.mark.parametrize("name", SCORE_SETTINGS)
@pytest.mark.parametrize("value", ["1.5", "0", "high", True])
def test_a_window_score_outside_0_1_is_one_line(value, name):
    flag = "--" + name.replace("_", "-")
    with pytest.raises(SettingError, match=f"{flag} must be a correlation in"):
        FilterConfig(**{name: value})


@pytest.mark.parametrize("name", SCORE_SETTINGS)
def test_window_score_off_and_numbers_parse(name):
    assert getattr(FilterConfig(**{name: "OFF"}), name) is None
    assert getattr(FilterConfig(**{name: "0.9"}), name) == 0.9


@pytest.mark.skipif(not SCENES.is_dir(), reason="needs ../shared/realdata/scenes15")
def test_real_crops_match_and_real_look_alikes_do_not():
    from curate.store import open_rgb

    rng = np.random.default_rng(0)
    files = sorted(SCENES.glob("*/*.jpg"))
    for index in rng.choice(len(files), 12, replace=False):
        photo = open_rgb(files[index])
        share, side = float(rng.uniform(0.12, 0.18)), int(rng.integers(0, 4))
        assert score(photo, side_crop(photo, share, side)) >= verify.DEFAULT_WINDOW_SCORE, files[index]
    # different photos the backbone finds alike (docs/benchmarks.md: the highway frames, the two sunlit seas)
    for first, second in [("Highway/image_0087.jpg", "Highway/image_0100.jpg"),
                          ("Street/image_0162.jpg", "Street/image_0165.jpg"),
                          ("Coast/image_0093.jpg", "Coast/image_0214.jpg")]:
        assert score(open_rgb(SCENES / first), open_rgb(SCENES / second)) < verify.DEFAULT_WINDOW_SCORE


def test_images_are_decoded_only_for_candidate_pairs(tmp_path, monkeypatch):
    """The window match decodes only the images of candidate pairs: a collection whose embeddings are all
    far apart reads none; one with two close pairs reads those four images, each once."""
    from curate.filters import run as filter_run

    original, reads = filter_run.grey_reader, []

    def counting(ws_, catalog_):
        read = original(ws_, catalog_)
        return lambda sha: reads.append(sha) or read(sha)

    monkeypatch.setattr(filter_run, "grey_reader", counting)
    run_filter(_crop_collection(tmp_path / "far", close=False), FilterConfig())
    assert reads == []
    ws = _crop_collection(tmp_path / "close")
    run_filter(ws, FilterConfig())
    catalog = read_catalog(ws)
    pairs = catalog.loc[catalog["source_id"].str.contains("photo|crop"), "sha256"]
    assert sorted(reads) == sorted(pairs)


def test_the_pair_limit_is_a_setting_and_the_note_says_what_matches_them_all(tmp_path):
    ws = _crop_collection(tmp_path)
    report = run_filter(ws, FilterConfig(near_dup_window_pairs=1))
    clusters = _clusters(ws)
    assert sum(clusters[f"crop{k}"] == clusters[f"photo{k}"] for k in range(2)) == 1  # the closest pair only
    note = next(note for note in report.notes if note.startswith("window match: the closest"))
    assert "the closest 1 of 2 candidate pairs" in note and "--near-dup-window-pairs 2 matches them all" in note
    assert not any(note.startswith("window match: the closest") for note in run_filter(ws, FilterConfig()).notes)


@pytest.mark.parametrize("value", [-1, 1.5, True, "many"])
def test_a_pair_limit_that_is_not_a_count_is_one_line(value):
    with pytest.raises(SettingError, match="--near-dup-window-pairs must be a whole number of pairs"):
        FilterConfig(near_dup_window_pairs=value)


def test_worker_processes_give_the_same_links(monkeypatch):
    """With workers > 1 the scores come from worker processes (the match holds the GIL); the links, counts and
    reads are those of one process."""
    photos = [texture(40 + k) for k in range(6)]
    images = [image for photo in photos for image in (photo, side_crop(photo, 0.15, 1), side_crop(photo, 0.3, 2))]
    views = [pixel_scores.grey_view(image) for image in images]
    vectors = _vectors([k // 3 for k in range(len(images))], seed=3)
    labels = np.arange(len(images))
    monkeypatch.setattr(windows, "PARALLEL_MIN_PAIRS", 0)
    monkeypatch.setattr(windows, "_CHUNK", 4)
    results = {}
    for workers in (1, 2):
        reads: list[int] = []
        read = (lambda log: lambda i: log.append(i) or views[i])(reads)
        results[workers] = (windows.window_links(vectors, labels, read, cosine=0.5, min_score=0.9, max_pairs=100,
                                                 workers=workers), sorted(reads))
    one, two = results[1][0], results[2][0]
    assert sorted(zip(one.first.tolist(), one.second.tolist())) == sorted(zip(two.first.tolist(), two.second.tolist()))
    # every photo with both its crops; two crops off different sides overlap but neither holds the other
    assert sorted(zip(one.first.tolist(), one.second.tolist())) == sorted(
        (3 * k, 3 * k + j) for k in range(6) for j in (1, 2))
    assert (one.candidates, one.matched) == (two.candidates, two.matched) and results[1][1] == results[2][1]
