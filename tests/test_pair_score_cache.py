"""The window match's pair scores are cached by the two images' sha256 (curate.filters.pair_scores,
cache/pair_scores.parquet): a filter re-run decodes no image for pairs it scored before (audit BV F-4: every
re-run matched all 1,724 pairs again, 5-6 min on 5.5k photos), and decides them the same."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.embed import EmbeddingCache
from curate.filters import pixel_scores, verify, windows
from curate.filters.config import FilterConfig
from curate.filters.run import run_filter
from curate.objectstore import locator
from curate.workspace import read_catalog
from tests.test_window_match import _clusters, _crop_collection, _vectors, side_crop, texture

CACHE = "cache/pair_scores.parquet"


def _cached(ws) -> dict[tuple[str, str], tuple[float, float]]:
    """The cache file's pairs -> (window, overlap), None where not computed."""
    table = pq.read_table(ws.root / CACHE).to_pydict()
    return {(a, b): tuple(None if math.isnan(score) else score for score in (w, o))
            for a, b, w, o in zip(table["first"], table["second"], table["window"], table["overlap"])}


@pytest.fixture
def decodes(monkeypatch):
    """Counts of the window match's decodes (both engines' readers call windows.stored_grey_view) and scores
    (window_links calls pixel_scores' window_score and overlap_score by the names windows imports)."""
    counts = {"read": 0, "window": 0, "overlap": 0}

    def counting(name, original):
        def wrapped(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(windows, "stored_grey_view", counting("read", windows.stored_grey_view))
    monkeypatch.setattr(windows, "window_score", counting("window", windows.window_score))
    monkeypatch.setattr(windows, "overlap_score", counting("overlap", windows.overlap_score))
    return counts


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_second_run_decodes_nothing_for_the_window_match_and_links_the_same(tmp_path, engine, decodes):
    ws = _crop_collection(tmp_path)
    first = run_filter(ws, FilterConfig(), engine=engine)
    assert decodes["read"] == 4 and decodes["window"] == 2  # two photos and their crops
    before = read_catalog(ws)[["photo_id", "near_dup_cluster", "status", "drop_reason"]]
    decodes.update(read=0, window=0, overlap=0)
    second = run_filter(ws, FilterConfig(), engine=engine)
    assert decodes == {"read": 0, "window": 0, "overlap": 0}
    assert len(_cached(ws)) == 2
    after = read_catalog(ws)[["photo_id", "near_dup_cluster", "status", "drop_reason"]]
    assert before.equals(after)
    clusters = _clusters(ws)
    assert all(clusters[f"crop{k}"] == clusters[f"photo{k}"] for k in range(2))
    links = [next(note for note in report.notes if note.startswith("near-duplicate links:"))
             for report in (first, second)]
    assert links[0] == links[1] and "2 by window match" in links[0]


def test_a_new_photo_has_only_its_own_pairs_scored(tmp_path, decodes, monkeypatch):
    from typer.testing import CliRunner

    from curate.cli.app import app
    from curate.filters import run as filter_run

    ws = _crop_collection(tmp_path)
    run_filter(ws, FilterConfig())
    earlier = _cached(ws) if (ws.root / CACHE).exists() else {}
    # a third crop of photo0 (15 % off the top), embedded close to it
    side_crop(texture(20), 0.15, 2).save(tmp_path / "photos" / "street" / "crop9.jpg", quality=92)
    result = CliRunner().invoke(app, ["ingest", "folder", str(tmp_path / "photos"), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(ws)
    new = catalog.loc[catalog["source_id"].str.contains("crop9"), "sha256"].tolist()
    assert len(new) == 1
    vector = _vectors([0, 0, 1, 1, 2, 3, 4, 5, 0], seed=1)[-1:]  # _crop_collection's groups, then group 0
    EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).append(new, vector, np.ones(1, bool))
    original, reads = filter_run.grey_reader, []

    def counting(ws_, catalog_):
        read = original(ws_, catalog_)
        return lambda sha: reads.append(sha) or read(sha)

    monkeypatch.setattr(filter_run, "grey_reader", counting)
    decodes.update(read=0, window=0, overlap=0)
    run_filter(ws, FilterConfig())
    partners = set(catalog.loc[catalog["source_id"].str.contains("photo0|crop0"), "sha256"])
    assert new[0] in reads and set(reads) <= partners | set(new)  # nothing of photo1 and crop1 is decoded again
    assert decodes["window"] <= 2  # the new photo with photo0 and with crop0, at most
    now = _cached(ws)
    fresh = set(now) - set(earlier)
    assert fresh and all(new[0] in key for key in fresh)  # only pairs with the new photo were scored
    assert all(now[key] == earlier[key] for key in earlier)
    assert decodes["window"] == sum(now[key][0] is not None for key in fresh)
    assert decodes["overlap"] == sum(now[key][1] is not None for key in fresh)
    assert new[0] in reads and set(reads) <= {sha for key in fresh for sha in key}
    assert len(reads) == len(set(reads))
    clusters = _clusters(ws)
    assert clusters["crop9"] == clusters["photo0"]


def test_a_changed_threshold_decides_again_from_the_cached_scores(tmp_path, decodes):
    ws = _crop_collection(tmp_path)
    catalog, locate = read_catalog(ws), locator(ws)
    path = dict(zip(catalog["source_id"].map(lambda name: Path(name).stem), catalog["image_path"]))
    scores = sorted(pixel_scores.window_score(*(windows.stored_grey_view(locate(path[f"{kind}{k}"]))
                                                for kind in ("photo", "crop"))) for k in range(2))
    assert scores[0] < scores[1]
    run_filter(ws, FilterConfig(near_dup_overlap_score="off"))
    stricter = FilterConfig(near_dup_overlap_score="off", near_dup_window_score=round(sum(scores) / 2, 6))
    decodes.update(read=0, window=0, overlap=0)
    run_filter(ws, stricter)
    assert decodes == {"read": 0, "window": 0, "overlap": 0}
    cached = _clusters(ws)
    assert sum(cached[f"crop{k}"] == cached[f"photo{k}"] for k in range(2)) == 1  # one crop now below it
    (ws.root / CACHE).unlink()
    run_filter(ws, stricter)  # without any cache
    assert decodes["window"] == 2
    assert _clusters(ws) == cached


@pytest.mark.parametrize("content", [b"not a parquet file", b""])
def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path, decodes, content):
    ws = _crop_collection(tmp_path)
    run_filter(ws, FilterConfig())
    expected = _clusters(ws)
    path = ws.root / CACHE
    path.write_bytes(content)
    decodes.update(read=0, window=0, overlap=0)
    run_filter(ws, FilterConfig())
    assert decodes["window"] == 2  # scored again
    assert _clusters(ws) == expected
    rewritten = _cached(ws)  # replaced by a readable file, with the pairs scored again
    assert len(rewritten) == 2 and all(window is not None for window, _ in rewritten.values())


def test_a_cache_of_other_scoring_code_is_ignored(tmp_path, decodes, monkeypatch):
    ws = _crop_collection(tmp_path)
    run_filter(ws, FilterConfig())
    monkeypatch.setattr(pixel_scores, "SCORE_VERSION", pixel_scores.SCORE_VERSION + "-next")
    decodes.update(read=0, window=0, overlap=0)
    run_filter(ws, FilterConfig())
    assert decodes["window"] == 2
    assert set(pq.read_table(ws.root / CACHE)["version"].to_pylist()) == {
        pixel_scores.SCORE_VERSION}


def test_window_links_with_cached_scores_link_the_same_pairs_without_reading(monkeypatch):
    """Windows and overlaps (crops off different sides overlap), scored in worker processes into the cache, then
    decided from it at the same and at other thresholds, equal a call without it."""
    photos = [texture(40 + k) for k in range(3)]
    images = [image for photo in photos for image in (photo, side_crop(photo, 0.15, 1), side_crop(photo, 0.3, 2))]
    views = [pixel_scores.grey_view(image) for image in images]
    vectors = _vectors([k // 3 for k in range(len(images))], seed=3)
    labels = np.arange(len(images))
    shas = [f"sha{k}" for k in range(len(images))]

    def keys(positions):
        return [shas[p] for p in positions]

    def links(found):
        return sorted(zip(found.first.tolist(), found.second.tolist())), found.overlaps

    from curate.filters import pair_scores

    settings = dict(cosine=0.5, max_pairs=100, overlap_cosine=0.5, overlap_min=0.9)
    cache = pair_scores.PairScores()
    plain = windows.window_links(vectors, labels, views.__getitem__, min_score=0.9, **settings)
    monkeypatch.setattr(windows, "PARALLEL_MIN_PAIRS", 0)
    monkeypatch.setattr(windows, "_CHUNK", 4)
    first = windows.window_links(vectors, labels, views.__getitem__, min_score=0.9, scores=cache, keys=keys,
                                 workers=2, **settings)
    assert links(first) == links(plain) and first.overlaps > 0
    assert len(cache.fresh) == first.matched + first.overlap_matched

    def unread(position):
        raise AssertionError("read")

    again = windows.window_links(vectors, labels, unread, min_score=0.9, scores=cache, keys=keys, **settings)
    assert links(again) == links(first)
    lower = dict(settings, overlap_min=0.5)
    assert links(windows.window_links(vectors, labels, unread, min_score=0.5, scores=cache, keys=keys, **lower)) == \
        links(windows.window_links(vectors, labels, views.__getitem__, min_score=0.5, **lower))
